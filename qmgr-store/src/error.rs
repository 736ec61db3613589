//! Mapping SQLite and file-system failures to the core's error (`QM_E_SERVICE_UNAVAILABLE`).

use qmgr_core::hresult::{Error, QM_E_SERVICE_UNAVAILABLE};
use rusqlite::ErrorCode;
use std::path::Path;

/// `queue database <db>: <what>: <cause>` with `QM_E_SERVICE_UNAVAILABLE`.
///
/// The cause names the conditions a person can act on (disk full, read-only, locked, not a
/// database) in words, followed by SQLite's own text.
pub(crate) fn db_error(db: &Path, what: &str, e: rusqlite::Error) -> Error {
    use qmgr_core::hresult::win32::{ERROR_ACCESS_DENIED, ERROR_DISK_FULL, ERROR_WRITE_FAULT, ERROR_WRITE_PROTECT};
    let (cause, code) = match &e {
        rusqlite::Error::SqliteFailure(f, _) => match f.code {
            ErrorCode::DiskFull => (Some("the disk is full"), Some(ERROR_DISK_FULL)),
            ErrorCode::ReadOnly => (Some("the database is read-only"), Some(ERROR_WRITE_PROTECT)),
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                (Some("the database stayed locked by another connection for longer than the busy timeout"), None)
            }
            ErrorCode::NotADatabase => (Some("the file is not an SQLite database"), None),
            ErrorCode::DatabaseCorrupt => (Some("the database file is corrupt"), None),
            ErrorCode::CannotOpen => (Some("the database file cannot be opened"), None),
            ErrorCode::PermissionDenied => (Some("permission denied"), Some(ERROR_ACCESS_DENIED)),
            ErrorCode::SystemIoFailure => (Some("I/O error"), Some(ERROR_WRITE_FAULT)),
            _ => (None, None),
        },
        _ => (None, None),
    };
    let message = match cause {
        Some(cause) => format!("queue database {}: {what}: {cause} ({e})", db.display()),
        None => format!("queue database {}: {what}: {e}", db.display()),
    };
    let error = Error::new(QM_E_SERVICE_UNAVAILABLE, message);
    match code {
        Some(code) => error.with_win32(code),
        None => error,
    }
}

/// `<what> <path>: <io error>` with `QM_E_SERVICE_UNAVAILABLE`; a full disk or read-only file
/// system is said in words.
pub(crate) fn io_error(what: &str, path: &Path, e: std::io::Error) -> Error {
    let words = match e.raw_os_error() {
        Some(28) | Some(122) => "the disk is full: ",
        Some(30) => "the file system is read-only: ",
        _ => "",
    };
    let error = Error::new(QM_E_SERVICE_UNAVAILABLE, format!("{what} {}: {words}{e}", path.display()));
    match e.raw_os_error() {
        Some(errno) => error.with_win32(qmgr_core::hresult::win32::from_errno(errno)),
        None => error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::ffi;

    fn failure(code: i32) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(ffi::Error::new(code), None)
    }

    #[test]
    fn sqlite_failures_say_what_and_why() {
        let db = Path::new("/q/queue.sqlite");
        let e = db_error(db, "applying 2 changes", failure(ffi::SQLITE_FULL));
        assert_eq!(e.hr, QM_E_SERVICE_UNAVAILABLE);
        assert_eq!(e.win32, Some(qmgr_core::hresult::win32::ERROR_DISK_FULL));
        assert!(
            e.message.starts_with("queue database /q/queue.sqlite: applying 2 changes: the disk is full"),
            "{}",
            e.message
        );
        let e = db_error(db, "x", failure(ffi::SQLITE_READONLY));
        assert!(e.message.contains("read-only"), "{}", e.message);
        let e = db_error(db, "x", failure(ffi::SQLITE_BUSY));
        assert!(e.message.contains("locked"), "{}", e.message);
        let e = db_error(db, "x", rusqlite::Error::QueryReturnedNoRows);
        assert_eq!(e.hr, QM_E_SERVICE_UNAVAILABLE);
        assert!(e.message.starts_with("queue database /q/queue.sqlite: x: "), "{}", e.message);
    }

    #[test]
    fn io_failures_say_disk_full_and_read_only() {
        let p = Path::new("/q");
        let e = io_error("creating queue directory", p, std::io::Error::from_raw_os_error(28));
        assert_eq!(e.hr, QM_E_SERVICE_UNAVAILABLE);
        assert!(e.message.starts_with("creating queue directory /q: the disk is full: "));
        let e = io_error("creating queue directory", p, std::io::Error::from_raw_os_error(30));
        assert!(e.message.contains("read-only"), "{}", e.message);
    }
}
