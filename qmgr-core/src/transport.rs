//! The transfer boundary: what the engine needs to move one remote file into a temporary
//! file and to commit it.
//!
//! `qmgr-net` implements [`Transport`] for HTTP(S) and `file://`. Tests use a fake.

use crate::hresult::{hresult_from_http, Result};
use crate::model::{ErrorClass, JobError, Options, Validators};
use crate::rate::RateLimiter;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// HTTP credentials of a group (`GROUPPROP_REMOTEUSERID` / `REMOTEUSERPWD`).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub user: String,
    /// Password (never logged; `Debug` hides it).
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("user", &self.user).field("password", &"***").finish()
    }
}

/// A flag the engine raises to stop a transfer (suspend, cancel, pre-emption, shutdown).
/// Transports check it at least every 100 ms (DESIGN "Engine").
#[derive(Debug, Default)]
pub struct CancelFlag(AtomicBool);

impl CancelFlag {
    /// A lowered flag.
    pub fn new() -> Self {
        Self::default()
    }
    /// Raises the flag.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst)
    }
    /// True once raised.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// One transfer to perform: fetch `url` into `temp_path`, continuing from `offset` bytes
/// already held when the validators still match (DECISIONS D5).
pub struct FetchRequest<'a> {
    /// Source URL, exactly as given to `AddFiles`.
    pub url: &'a str,
    /// The temporary file (DECISIONS D4); created if missing.
    pub temp_path: &'a Path,
    /// Bytes of `temp_path` that hold valid data (the last checkpoint); the transport
    /// truncates the file to this length before appending.
    pub offset: u64,
    /// Validators of the response the held bytes came from.
    pub validators: &'a Validators,
    /// Credentials to answer a 401 challenge with, if any.
    pub credentials: Option<&'a Credentials>,
    /// Foreground transfers bypass the rate limiter.
    pub foreground: bool,
    /// Shared limiter of background transfers.
    pub rate_limiter: &'a RateLimiter,
    /// Raised to stop the transfer; the transport then returns [`FetchOutcome::Cancelled`].
    pub cancel: &'a CancelFlag,
}

/// Receives a transfer's progress. Called on the transfer's thread.
pub trait FetchObserver {
    /// The server's answer was accepted: data is appended from `start` (the request's offset,
    /// or 0 when the file restarts from zero), and `validators` describe the response.
    fn on_start(&mut self, start: u64, validators: &Validators);
    /// `bytes_done` bytes of the file are now written to the temporary file (handed to the
    /// kernel, so a checkpoint of this many bytes is truthful). While the body stalls, HTTP
    /// transports also call it without new bytes at least every 100 ms (a heartbeat), so that
    /// time-based rules — active time, `GROUPPROP_PROGRESSTIME` — are evaluated during stalls.
    fn on_progress(&mut self, bytes_done: u64);
}

/// A classified transfer failure (DECISIONS D5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferError {
    /// Transient (retried) or fatal (group → ERROR).
    pub class: ErrorClass,
    /// Win32 code (reference §5.8) or `BG_E_HTTP_ERROR_nnn` for an HTTP status.
    pub win32: u32,
    /// The HTTP status when the failure was an HTTP status, else 0.
    pub http_status: u32,
    /// Human-readable cause, naming the URL or file.
    pub message: String,
    /// `Retry-After` of the answer, when the server sent one.
    pub retry_after: Option<Duration>,
}

impl TransferError {
    /// A failure caused by an HTTP status: `win32` = `BG_E_HTTP_ERROR_nnn`, transport = status.
    pub fn http(class: ErrorClass, status: u16, message: impl Into<String>) -> Self {
        TransferError {
            class,
            win32: hresult_from_http(status) as u32,
            http_status: status as u32,
            message: message.into(),
            retry_after: None,
        }
    }
    /// A failure with a Win32 code and no HTTP status.
    pub fn win32(class: ErrorClass, win32: u32, message: impl Into<String>) -> Self {
        TransferError { class, win32, http_status: 0, message: message.into(), retry_after: None }
    }
    /// The job error this failure records, for file `file_index`.
    pub fn to_job_error(&self, file_index: Option<u32>) -> JobError {
        JobError {
            class: self.class,
            win32: self.win32,
            transport: self.http_status,
            file_index,
            message: self.message.clone(),
        }
    }
}

/// How a fetch ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FetchOutcome {
    /// The temporary file holds the whole remote file (`bytes` long), written to the kernel
    /// but not necessarily flushed to disk: [`Transport::commit_batch`] flushes it.
    Complete {
        /// Size of the file in bytes.
        bytes: u64,
        /// Validators of the final response.
        validators: Validators,
    },
    /// The cancel flag was raised; the temporary file keeps what was written.
    Cancelled,
    /// The transfer failed.
    Failed(TransferError),
}

/// Moves bytes and files: everything the engine does not do itself (no I/O lives in the core).
pub trait Transport: Send + Sync {
    /// Applies queue options (timeouts, proxy, user agent, CA file). Called at start and
    /// whenever an option changes.
    ///
    /// Errors: `E_INVALIDARG` when an option cannot be used (e.g. an unreadable `ca_file`).
    fn configure(&self, options: &Options) -> Result<()>;

    /// Checks an option value that needs I/O to validate (`ca_file`), before it is stored.
    ///
    /// Errors: `E_INVALIDARG` naming the option and the problem.
    fn check_option(&self, name: &str, value: &str) -> Result<()>;

    /// Checks at `AddFiles` time that `url` is usable with `protocol` (`QM_PROTOCOL_*`).
    ///
    /// Errors: `E_INVALIDARG` for a malformed URL or a scheme of another protocol.
    fn check_url(&self, url: &str, protocol: u32) -> Result<()>;

    /// Checks at `AddFiles` time that `local_path` can become a destination: its directory
    /// exists and is writable.
    ///
    /// Errors: `E_INVALIDARG` (missing directory), `E_ACCESSDENIED` (not writable).
    fn check_destination(&self, local_path: &str) -> Result<()>;

    /// Fetches one file (see [`FetchRequest`]), reporting progress to `observer`.
    fn fetch(&self, request: &FetchRequest<'_>, observer: &mut dyn FetchObserver) -> FetchOutcome;

    /// Commits a complete temporary file: `fsync`, rename onto `final_path` (replacing an
    /// existing file), `fsync` the directory, set the modification time from `last_modified`
    /// (an HTTP date) when given (DECISIONS D4).
    fn commit(
        &self,
        temp_path: &Path,
        final_path: &Path,
        last_modified: Option<&str>,
    ) -> std::result::Result<(), TransferError>;

    /// Commits several complete temporary files at once, with the guarantees of
    /// [`Transport::commit`] for each: no final name ever shows a file that is not entirely on
    /// disk (DECISIONS D4). Returns one result per request, in order; a failure of one does not
    /// stop the others. Implementations flush the files together (one `fsync` per file is a
    /// disk round trip; many at once share one), then rename them in order, then flush each
    /// directory once. The default commits them one by one.
    fn commit_batch(&self, requests: &[CommitRequest<'_>]) -> Vec<std::result::Result<(), TransferError>> {
        requests.iter().map(|r| self.commit(r.temp_path, r.final_path, r.last_modified)).collect()
    }

    /// Deletes a temporary file (cancel); a missing file is not an error.
    fn discard(&self, temp_path: &Path);
}

/// One complete temporary file to commit ([`Transport::commit_batch`]).
#[derive(Clone, Copy, Debug)]
pub struct CommitRequest<'a> {
    /// The temporary file, complete.
    pub temp_path: &'a Path,
    /// Its final name.
    pub final_path: &'a Path,
    /// The HTTP date to give the file as modification time, if any.
    pub last_modified: Option<&'a str>,
}
