//! HRESULT values and the one error type of the core.
//!
//! Values are those of the Windows headers (reference §1.5, §1.10, §5.7); `C-API.md` gives the
//! names the C header uses (standard ones with a `QMGR_` prefix).

use std::fmt;

/// An HRESULT: `>= 0` success, `< 0` failure.
pub type HResult = i32;

/// `S_OK`.
pub const S_OK: HResult = 0;
/// `S_FALSE`: success with a reservation (enumerators: fewer items than asked; wait: timed out).
pub const S_FALSE: HResult = 1;
/// `E_NOTIMPL`.
pub const E_NOTIMPL: HResult = 0x8000_4001_u32 as i32;
/// `E_NOINTERFACE`.
pub const E_NOINTERFACE: HResult = 0x8000_4002_u32 as i32;
/// `E_POINTER`: a required pointer was NULL.
pub const E_POINTER: HResult = 0x8000_4003_u32 as i32;
/// `E_ABORT`.
pub const E_ABORT: HResult = 0x8000_4004_u32 as i32;
/// `E_FAIL`.
pub const E_FAIL: HResult = 0x8000_4005_u32 as i32;
/// `E_UNEXPECTED`: an internal failure (e.g. a caught panic).
pub const E_UNEXPECTED: HResult = 0x8000_FFFF_u32 as i32;
/// `E_ACCESSDENIED` = `HRESULT_FROM_WIN32(ERROR_ACCESS_DENIED)`.
pub const E_ACCESSDENIED: HResult = 0x8007_0005_u32 as i32;
/// `E_HANDLE`: a released, foreign or wrong-type handle (DECISIONS D8).
pub const E_HANDLE: HResult = 0x8007_0006_u32 as i32;
/// `E_OUTOFMEMORY`.
pub const E_OUTOFMEMORY: HResult = 0x8007_000E_u32 as i32;
/// `E_INVALIDARG`.
pub const E_INVALIDARG: HResult = 0x8007_0057_u32 as i32;

/// `QM_E_INVALID_STATE`: the method is not allowed in the object's state (DECISIONS D3).
pub const QM_E_INVALID_STATE: HResult = 0x8100_1001_u32 as i32;
/// `QM_E_SERVICE_UNAVAILABLE`: the queue cannot be reached (database unusable).
pub const QM_E_SERVICE_UNAVAILABLE: HResult = 0x8100_1002_u32 as i32;
/// `QM_E_DOWNLOADER_UNAVAILABLE`: no transport for the requested protocol (FTP).
pub const QM_E_DOWNLOADER_UNAVAILABLE: HResult = 0x8100_1003_u32 as i32;
/// `QM_E_ITEM_NOT_FOUND`: no such group, job or file.
pub const QM_E_ITEM_NOT_FOUND: HResult = 0x8100_1004_u32 as i32;

/// `BG_E_EMPTY`: `ResumeGroup` with nothing to download.
pub const BG_E_EMPTY: HResult = 0x8020_0003_u32 as i32;
/// `BG_E_NETWORK_DISCONNECTED`.
pub const BG_E_NETWORK_DISCONNECTED: HResult = 0x8020_0010_u32 as i32;
/// `BG_E_INVALID_SERVER_RESPONSE`: the server answered something that cannot be used.
pub const BG_E_INVALID_SERVER_RESPONSE: HResult = 0x8020_001B_u32 as i32;
/// `BG_E_NO_PROGRESS`: a transient error made no progress for the no-progress timeout.
pub const BG_E_NO_PROGRESS: HResult = 0x8020_0024_u32 as i32;
/// `BG_E_CONNECT_FAILURE`.
pub const BG_E_CONNECT_FAILURE: HResult = 0x8020_002D_u32 as i32;
/// `BG_E_CONNECTION_CLOSED`.
pub const BG_E_CONNECTION_CLOSED: HResult = 0x8020_002E_u32 as i32;
/// `BG_E_REMOTE_FILE_CHANGED`.
pub const BG_E_REMOTE_FILE_CHANGED: HResult = 0x8020_0073_u32 as i32;
/// `QMGR_E_BAD_DIGEST` (Windows' `TRUST_E_BAD_DIGEST`): a file's bytes do not match its
/// checksum or the server's digest; the `dwWin32Result` of that fatal job error (DECISIONS D15).
pub const QMGR_E_BAD_DIGEST: HResult = 0x8009_6010_u32 as i32;
/// Base of `BG_E_HTTP_ERROR_nnn` = `0x80190000 | nnn` (reference §5.7).
pub const BG_E_HTTP_ERROR_BASE: u32 = 0x8019_0000;

/// `HRESULT_FROM_WIN32(code)` (reference §1.10).
pub const fn hresult_from_win32(code: u32) -> HResult {
    if code as i32 <= 0 {
        code as i32
    } else {
        ((code & 0xFFFF) | (7 << 16) | 0x8000_0000) as i32
    }
}

/// A job's `dwWin32Result` (or a classified failure's Win32 code) as an HRESULT: itself when
/// it already is one (`BG_E_HTTP_ERROR_nnn`, `QMGR_E_BAD_DIGEST`), else `HRESULT_FROM_WIN32`.
pub const fn win32_as_hresult(win32: u32) -> HResult {
    if win32 & 0x8000_0000 != 0 {
        win32 as i32
    } else {
        hresult_from_win32(win32)
    }
}

/// `BG_E_HTTP_ERROR_nnn` for an HTTP status.
pub const fn hresult_from_http(status: u16) -> HResult {
    (BG_E_HTTP_ERROR_BASE | status as u32) as i32
}

/// Win32 codes used for `dwWin32Result` (reference §5.8).
pub mod win32 {
    /// `ERROR_FILE_NOT_FOUND`.
    pub const ERROR_FILE_NOT_FOUND: u32 = 2;
    /// `ERROR_PATH_NOT_FOUND`.
    pub const ERROR_PATH_NOT_FOUND: u32 = 3;
    /// `ERROR_ACCESS_DENIED`.
    pub const ERROR_ACCESS_DENIED: u32 = 5;
    /// `ERROR_NOT_ENOUGH_MEMORY`.
    pub const ERROR_NOT_ENOUGH_MEMORY: u32 = 8;
    /// `ERROR_WRITE_PROTECT` (read-only file system).
    pub const ERROR_WRITE_PROTECT: u32 = 19;
    /// `ERROR_WRITE_FAULT`.
    pub const ERROR_WRITE_FAULT: u32 = 29;
    /// `ERROR_READ_FAULT`.
    pub const ERROR_READ_FAULT: u32 = 30;
    /// `ERROR_SHARING_VIOLATION`.
    pub const ERROR_SHARING_VIOLATION: u32 = 32;
    /// `ERROR_NOT_SUPPORTED`.
    pub const ERROR_NOT_SUPPORTED: u32 = 50;
    /// `ERROR_FILE_EXISTS`.
    pub const ERROR_FILE_EXISTS: u32 = 80;
    /// `ERROR_INVALID_PARAMETER`.
    pub const ERROR_INVALID_PARAMETER: u32 = 87;
    /// `ERROR_DISK_FULL`.
    pub const ERROR_DISK_FULL: u32 = 112;
    /// `ERROR_INVALID_NAME`.
    pub const ERROR_INVALID_NAME: u32 = 123;
    /// `ERROR_FILENAME_EXCED_RANGE`.
    pub const ERROR_FILENAME_EXCED_RANGE: u32 = 206;
    /// `ERROR_OPERATION_ABORTED`.
    pub const ERROR_OPERATION_ABORTED: u32 = 995;
    /// `ERROR_TIMEOUT`.
    pub const ERROR_TIMEOUT: u32 = 1460;
    /// `ERROR_WINHTTP_TIMEOUT`.
    pub const ERROR_WINHTTP_TIMEOUT: u32 = 12002;
    /// `ERROR_WINHTTP_INVALID_URL`.
    pub const ERROR_WINHTTP_INVALID_URL: u32 = 12005;
    /// `ERROR_WINHTTP_UNRECOGNIZED_SCHEME`.
    pub const ERROR_WINHTTP_UNRECOGNIZED_SCHEME: u32 = 12006;
    /// `ERROR_WINHTTP_NAME_NOT_RESOLVED`.
    pub const ERROR_WINHTTP_NAME_NOT_RESOLVED: u32 = 12007;
    /// `ERROR_WINHTTP_CANNOT_CONNECT`.
    pub const ERROR_WINHTTP_CANNOT_CONNECT: u32 = 12029;
    /// `ERROR_WINHTTP_CONNECTION_ERROR`.
    pub const ERROR_WINHTTP_CONNECTION_ERROR: u32 = 12030;
    /// `ERROR_WINHTTP_INVALID_SERVER_RESPONSE`.
    pub const ERROR_WINHTTP_INVALID_SERVER_RESPONSE: u32 = 12152;
    /// `ERROR_WINHTTP_REDIRECT_FAILED`.
    pub const ERROR_WINHTTP_REDIRECT_FAILED: u32 = 12156;
    /// `ERROR_WINHTTP_SECURE_FAILURE`.
    pub const ERROR_WINHTTP_SECURE_FAILURE: u32 = 12175;

    /// The name and meaning of a Win32 code the library reports (`dwWin32Result`), `None` for
    /// another code.
    pub fn describe(code: u32) -> Option<(&'static str, &'static str)> {
        Some(match code {
            ERROR_FILE_NOT_FOUND => ("ERROR_FILE_NOT_FOUND", "the file was not found"),
            ERROR_PATH_NOT_FOUND => ("ERROR_PATH_NOT_FOUND", "the path was not found"),
            ERROR_ACCESS_DENIED => ("ERROR_ACCESS_DENIED", "access is denied"),
            ERROR_NOT_ENOUGH_MEMORY => ("ERROR_NOT_ENOUGH_MEMORY", "not enough memory"),
            ERROR_WRITE_PROTECT => ("ERROR_WRITE_PROTECT", "the file system is read-only"),
            ERROR_WRITE_FAULT => ("ERROR_WRITE_FAULT", "the data could not be written"),
            ERROR_READ_FAULT => ("ERROR_READ_FAULT", "the data could not be read"),
            ERROR_SHARING_VIOLATION => ("ERROR_SHARING_VIOLATION", "the file is in use"),
            ERROR_NOT_SUPPORTED => ("ERROR_NOT_SUPPORTED", "the operation is not supported"),
            ERROR_FILE_EXISTS => ("ERROR_FILE_EXISTS", "the file exists"),
            ERROR_INVALID_PARAMETER => ("ERROR_INVALID_PARAMETER", "a parameter is invalid"),
            ERROR_DISK_FULL => ("ERROR_DISK_FULL", "the disk is full"),
            ERROR_INVALID_NAME => ("ERROR_INVALID_NAME", "the file name is invalid"),
            ERROR_FILENAME_EXCED_RANGE => ("ERROR_FILENAME_EXCED_RANGE", "the file name is too long"),
            ERROR_OPERATION_ABORTED => ("ERROR_OPERATION_ABORTED", "the operation was aborted"),
            ERROR_TIMEOUT => ("ERROR_TIMEOUT", "the operation timed out"),
            ERROR_WINHTTP_TIMEOUT => ("ERROR_WINHTTP_TIMEOUT", "the server did not answer in time"),
            ERROR_WINHTTP_INVALID_URL => ("ERROR_WINHTTP_INVALID_URL", "the URL is invalid"),
            ERROR_WINHTTP_UNRECOGNIZED_SCHEME => {
                ("ERROR_WINHTTP_UNRECOGNIZED_SCHEME", "the URL scheme is not supported")
            }
            ERROR_WINHTTP_NAME_NOT_RESOLVED => {
                ("ERROR_WINHTTP_NAME_NOT_RESOLVED", "the server name could not be resolved")
            }
            ERROR_WINHTTP_CANNOT_CONNECT => ("ERROR_WINHTTP_CANNOT_CONNECT", "the connection to the server failed"),
            ERROR_WINHTTP_CONNECTION_ERROR => ("ERROR_WINHTTP_CONNECTION_ERROR", "the connection was reset or closed"),
            ERROR_WINHTTP_INVALID_SERVER_RESPONSE => {
                ("ERROR_WINHTTP_INVALID_SERVER_RESPONSE", "the server's response was invalid")
            }
            ERROR_WINHTTP_REDIRECT_FAILED => {
                ("ERROR_WINHTTP_REDIRECT_FAILED", "too many redirects, a loop, or a redirect from https to http")
            }
            ERROR_WINHTTP_SECURE_FAILURE => ("ERROR_WINHTTP_SECURE_FAILURE", "the TLS certificate was not accepted"),
            _ => return None,
        })
    }

    /// Maps an OS error number (`errno`) to the Win32 code of reference §5.8.
    pub fn from_errno(errno: i32) -> u32 {
        // Linux errno values (asm-generic): ENOENT 2, EIO 5, ENOMEM 12, EACCES 13, EBUSY 16,
        // EEXIST 17, ENOTDIR 20, EINVAL 22, ETXTBSY 26, ENOSPC 28, EROFS 30, ENAMETOOLONG 36,
        // EDQUOT 122, EOPNOTSUPP 95, EPERM 1.
        match errno {
            2 => ERROR_PATH_NOT_FOUND,
            20 => ERROR_PATH_NOT_FOUND,
            1 | 13 => ERROR_ACCESS_DENIED,
            12 => ERROR_NOT_ENOUGH_MEMORY,
            30 => ERROR_WRITE_PROTECT,
            5 => ERROR_WRITE_FAULT,
            16 | 26 => ERROR_SHARING_VIOLATION,
            95 => ERROR_NOT_SUPPORTED,
            17 => ERROR_FILE_EXISTS,
            22 => ERROR_INVALID_PARAMETER,
            28 | 122 => ERROR_DISK_FULL,
            36 => ERROR_FILENAME_EXCED_RANGE,
            _ => ERROR_WRITE_FAULT,
        }
    }
}

/// The core's error: an HRESULT plus a message for people that names the argument or object
/// and the problem (DECISIONS D8), e.g. `AddFiles: file 2: local path "out.bin" is not absolute`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// The HRESULT the C API returns for this error.
    pub hr: HResult,
    /// Human-readable description; never contains a password.
    pub message: String,
    /// The Win32 code (reference §5.8) of the operating-system failure behind the error, when
    /// known: e.g. `ERROR_DISK_FULL` for a queue database on a full disk, which a transfer it
    /// stops then reports as its job's error.
    pub win32: Option<u32>,
}

impl Error {
    /// An error with the given HRESULT and message.
    pub fn new(hr: HResult, message: impl Into<String>) -> Self {
        Error { hr, message: message.into(), win32: None }
    }
    /// The same error, caused by the Win32 failure `code` (see [`Error::win32`]).
    pub fn with_win32(mut self, code: u32) -> Self {
        self.win32 = Some(code);
        self
    }
    /// `E_INVALIDARG` with a message.
    pub fn invalid_arg(message: impl Into<String>) -> Self {
        Self::new(E_INVALIDARG, message)
    }
    /// `QM_E_INVALID_STATE` with a message.
    pub fn invalid_state(message: impl Into<String>) -> Self {
        Self::new(QM_E_INVALID_STATE, message)
    }
    /// `QM_E_ITEM_NOT_FOUND` with a message.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(QM_E_ITEM_NOT_FOUND, message)
    }
    /// `E_NOTIMPL` with a message.
    pub fn not_impl(message: impl Into<String>) -> Self {
        Self::new(E_NOTIMPL, message)
    }
    /// Prefixes the message with context (`"{context}: {message}"`), keeping the HRESULT.
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (0x{:08X})", self.message, self.hr as u32)
    }
}

impl std::error::Error for Error {}

/// Result with the core's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// A short text for an HRESULT the library can return (BITS `GetErrorDescription`
/// counterpart; `qmgr_get_error_description`). `None` for a code the library never returns.
pub fn describe(hr: HResult) -> Option<String> {
    let text = match hr {
        S_OK => "The operation completed successfully.",
        S_FALSE => "The operation succeeded but returned fewer items than requested or timed out.",
        E_NOTIMPL => "The requested feature is not implemented.",
        E_NOINTERFACE => "The requested interface is not supported.",
        E_POINTER => "A required pointer argument was NULL.",
        E_ABORT => "The operation was aborted.",
        E_FAIL => "Unspecified failure.",
        E_UNEXPECTED => "An unexpected internal failure occurred.",
        E_ACCESSDENIED => "Access is denied.",
        E_HANDLE => "The handle is invalid: released, foreign, or of the wrong type.",
        E_OUTOFMEMORY => "Not enough memory to complete the operation.",
        E_INVALIDARG => "One or more arguments are invalid.",
        QM_E_INVALID_STATE => "The operation is not allowed in the current state of the group or job.",
        QM_E_SERVICE_UNAVAILABLE => "The queue manager is unavailable: the queue database cannot be used.",
        QM_E_DOWNLOADER_UNAVAILABLE => "No downloader is available for the requested protocol.",
        QM_E_ITEM_NOT_FOUND => "The requested group, job or file was not found.",
        BG_E_EMPTY => "There are no files to download.",
        BG_E_NETWORK_DISCONNECTED => "The network is disconnected.",
        BG_E_INVALID_SERVER_RESPONSE => "The server returned an invalid response.",
        BG_E_NO_PROGRESS => "The transfer made no progress within the no-progress timeout.",
        BG_E_CONNECT_FAILURE => "The connection to the server could not be established.",
        BG_E_CONNECTION_CLOSED => "The connection was closed before the transfer completed.",
        BG_E_REMOTE_FILE_CHANGED => "The remote file changed during the transfer.",
        QMGR_E_BAD_DIGEST => "The downloaded file does not match its checksum or the server's digest.",
        _ => {
            let u = hr as u32;
            if u & 0xFFFF_0000 == BG_E_HTTP_ERROR_BASE && (100..=599).contains(&(u & 0xFFFF)) {
                return Some(format!("The server returned HTTP status {}.", u & 0xFFFF));
            }
            if u & 0xFFFF_0000 == 0x8007_0000 {
                let code = u & 0xFFFF;
                return Some(match win32::describe(code) {
                    Some((name, meaning)) => format!("Win32 error {code} ({name}): {meaning}."),
                    None => format!("Win32 error {code}."),
                });
            }
            return None;
        }
    };
    Some(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn win32_hresults_are_described_by_name() {
        let text = describe(hresult_from_win32(win32::ERROR_WINHTTP_CANNOT_CONNECT)).unwrap();
        assert_eq!(text, "Win32 error 12029 (ERROR_WINHTTP_CANNOT_CONNECT): the connection to the server failed.");
        assert_eq!(describe(hresult_from_win32(4321)).unwrap(), "Win32 error 4321.");
        assert!(describe(hresult_from_win32(win32::ERROR_DISK_FULL)).unwrap().contains("disk is full"));
    }

    #[test]
    fn win32_and_http_hresults_follow_reference_formulas() {
        assert_eq!(hresult_from_win32(5), E_ACCESSDENIED);
        assert_eq!(hresult_from_win32(87), E_INVALIDARG);
        assert_eq!(hresult_from_win32(0), 0);
        assert_eq!(hresult_from_http(404) as u32, 0x8019_0194);
        assert_eq!(hresult_from_http(503) as u32, 0x8019_01F7);
    }

    #[test]
    fn every_named_code_has_a_description() {
        for hr in [
            S_OK,
            S_FALSE,
            E_NOTIMPL,
            E_NOINTERFACE,
            E_POINTER,
            E_ABORT,
            E_FAIL,
            E_UNEXPECTED,
            E_ACCESSDENIED,
            E_HANDLE,
            E_OUTOFMEMORY,
            E_INVALIDARG,
            QM_E_INVALID_STATE,
            QM_E_SERVICE_UNAVAILABLE,
            QM_E_DOWNLOADER_UNAVAILABLE,
            QM_E_ITEM_NOT_FOUND,
            BG_E_EMPTY,
            QMGR_E_BAD_DIGEST,
            hresult_from_http(404),
            hresult_from_win32(112),
        ] {
            assert!(describe(hr).is_some(), "{hr:#x}");
        }
        assert_eq!(describe(0x1234), None);
    }
}
