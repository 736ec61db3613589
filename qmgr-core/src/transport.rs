//! The transfer boundary: what the engine needs to move one remote file into a temporary
//! file and to commit it.
//!
//! `qmgr-net` implements [`Transport`] for HTTP(S) and `file://`. Tests use a fake.

use crate::hresult::{win32_as_hresult, Error, Result};
use crate::model::{Checksum, ErrorClass, HeldRanges, JobError, Options, Validators};
use crate::rate::Throttle;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
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
/// Transports check it at least every 100 ms (DESIGN "Engine"). A flag made with
/// [`CancelFlag::child`] is also raised by its parent's: the worker of a group raises one flag
/// to stop all its transfers, or a transfer's own to stop only that one (DECISIONS D16).
#[derive(Debug, Default)]
pub struct CancelFlag {
    raised: AtomicBool,
    parent: Option<Arc<CancelFlag>>,
}

impl CancelFlag {
    /// A lowered flag.
    pub fn new() -> Self {
        Self::default()
    }
    /// A lowered flag that reads raised once `parent` is raised too.
    pub fn child(parent: &Arc<CancelFlag>) -> Self {
        CancelFlag { raised: AtomicBool::new(false), parent: Some(parent.clone()) }
    }
    /// Raises the flag (not its parent).
    pub fn cancel(&self) {
        self.raised.store(true, Ordering::SeqCst)
    }
    /// True once raised, or once its parent is.
    pub fn is_cancelled(&self) -> bool {
        self.raised.load(Ordering::SeqCst) || self.parent.as_ref().is_some_and(|p| p.is_cancelled())
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
    /// truncates the file to this length before appending. For a file fetched in segments,
    /// the total of `held_ranges`.
    pub offset: u64,
    /// For a file fetched in segments (DECISIONS D16): the byte ranges of `temp_path` that
    /// hold valid data (the last checkpoint); the transport fetches only the rest, in ranges,
    /// and keeps every held range (bytes past the last one are not trusted and may be cut).
    /// `None` (or one range from 0): the file holds the first `offset` bytes.
    pub held_ranges: Option<&'a HeldRanges>,
    /// Connections the transfer may use at once (≥ 1; [`crate::rules::segments::connections`]):
    /// more than one lets an HTTP(S) transport fetch a large file in ranges
    /// ([`crate::rules::segments`]), reporting the ranges it holds with
    /// [`FetchObserver::on_ranges`].
    pub connections: usize,
    /// Validators of the response the held bytes came from.
    pub validators: &'a Validators,
    /// The file's checksum, if one is set (DECISIONS D15): the transport computes the digest
    /// of the whole file while it writes it (re-reading the `offset` bytes kept, once, before
    /// it appends), and ends with [`Cause::DigestMismatch`] instead of
    /// [`FetchOutcome::Complete`] when it differs. Server digests (`Repr-Digest`,
    /// `Content-Digest`) are checked the same way, with or without a checksum.
    pub checksum: Option<&'a Checksum>,
    /// Credentials to answer a 401 challenge with, if any.
    pub credentials: Option<&'a Credentials>,
    /// How the transfer may use the network (DECISIONS D14).
    pub traffic: Traffic,
    /// The rate limits of the transfer: the transport takes every chunk it receives from it
    /// before writing it ([`Throttle::acquire`]; the group's limit, and for background
    /// traffic the shared background limit).
    pub throttle: Throttle<'a>,
    /// Raised to stop the transfer; the transport then returns [`FetchOutcome::Cancelled`].
    pub cancel: &'a CancelFlag,
}

/// How a transfer may use the network (DECISIONS D1, D14).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Traffic {
    /// A foreground group or job: never held back by background limits (only by its
    /// group's own rate limit, if set).
    Foreground,
    /// A background group with `background_mode` `normal`: competes like any TCP flow, bound
    /// only by `background_rate_limit` (and its group's own rate limit).
    Background,
    /// A background group with `background_mode` `idle`: bound by the rate limiter, which the
    /// idle-bandwidth controller sets, and on a connection set up for it (small receive
    /// buffer, window clamped by [`Transport::set_idle_window`], measured by
    /// [`Transport::idle_sample`]).
    Idle,
}

/// What the transport measured for the idle-bandwidth controller
/// ([`crate::rules::idle::Controller::update`]; DECISIONS D14).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdleSample {
    /// Connections of [`Traffic::Idle`] transfers open now.
    pub connections: u32,
    /// RTT measurements taken since the previous sample, at most one per connection (the
    /// kernel's receiver-side estimate, Linux `tcpi_rcv_rtt`), only from connections whose
    /// estimate changed since then (an unchanged estimate is an old measurement).
    pub rtt_samples: Vec<Duration>,
    /// Payload bytes received by [`Traffic::Idle`] connections since the transport started
    /// (cumulative, closed connections included).
    pub received: u64,
    /// The local interface those connections use and its received bytes (cumulative, every
    /// packet, headers included), when known.
    pub interface: Option<(String, u64)>,
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
    /// For a transfer in segments (DECISIONS D16): the byte ranges now written to the
    /// temporary file and flushed to disk (its length proves nothing for ranges), which
    /// [`FetchObserver::on_progress`] then reports as their total. Ranges that are one range
    /// from 0 are a prefix like any other (the engine keeps only `bytes_done` for them). A
    /// transfer that falls back to one stream (a restart from zero) reports
    /// [`FetchObserver::on_start`] from 0 and then only progress.
    fn on_ranges(&mut self, held: &HeldRanges);
}

/// What went wrong in a transfer or commit, as the transport saw it: a typed cause, with no
/// judgement attached. Whether it is transient or fatal, its Win32 code, `dwTransportResult`
/// and the message people read are decided once, by
/// [`rules::classify::classify`](crate::rules::classify::classify) (DECISIONS D5, D11).
///
/// Transports report every failure as one of these; the engine classifies it where it enters
/// (the worker's error path). Units: bytes for sizes, [`Duration`] for `Retry-After`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cause {
    /// The server answered with an HTTP status the transport does not handle itself (neither
    /// success, nor a redirect it follows, nor a 401 it answers with credentials).
    HttpStatus {
        /// The status code, e.g. 404 or 503.
        status: u16,
        /// The answer's `Retry-After`, parsed (delta-seconds or an HTTP date; a past date is
        /// zero), when it had a usable one. Honoured only when the status is transient.
        retry_after: Option<Duration>,
    },
    /// A redirect that is not followed (DECISIONS D5, D11).
    Redirect {
        /// The 3xx status of the last answer; 0 when unknown (the HTTP library's own
        /// redirect handling failed).
        status: u16,
        /// What was wrong with it.
        problem: RedirectProblem,
    },
    /// The network exchange failed below HTTP (no TLS involved).
    Network(NetworkKind),
    /// TLS failed.
    Tls(TlsKind),
    /// The server's answer cannot be used.
    InvalidResponse(ResponseProblem),
    /// The body ended before the length the server announced (`Content-Length` or the
    /// `Content-Range` of a 206).
    BodyEndedEarly {
        /// Bytes of the body that arrived.
        received: u64,
        /// Bytes the server announced.
        expected: u64,
    },
    /// The URL cannot be used by the transport.
    InvalidUrl(UrlProblem),
    /// A local file operation on the temporary file or the final name failed (DECISIONS D4).
    Local {
        /// The operation.
        op: LocalOp,
        /// The OS error number (`errno`), when the OS gave one (or the error kind implies it,
        /// e.g. `ENOENT` for "not found").
        errno: Option<i32>,
    },
    /// Reading the source of a `file://` URL failed (`QM_PROTOCOL_SMB`).
    Source(SourceProblem),
    /// The whole file's digest is not the one expected (DECISIONS D15): the file's bytes are
    /// wrong, and are not kept.
    DigestMismatch {
        /// Where the expected digest came from.
        source: DigestSource,
        /// The expected digest.
        expected: Checksum,
        /// The digest of the bytes received, in the same algorithm.
        actual: Vec<u8>,
    },
    /// The transport could not start the thread a transfer needs.
    NoThread,
    /// The queue's store could not record the outcome (e.g. committed files): the engine's
    /// own failure, reported through the same table.
    Store {
        /// The Win32 code of the OS failure behind the store error, when known
        /// ([`crate::Error::win32`]).
        win32: Option<u32>,
    },
}

/// Where an expected digest of a whole file came from ([`Cause::DigestMismatch`]; DECISIONS
/// D15).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DigestSource {
    /// The file's checksum (`qmgr_job_set_file_checksum`).
    Checksum,
    /// The server's `Repr-Digest` header (RFC 9530): the digest of the whole representation.
    ReprDigest,
    /// The server's `Content-Digest` header (RFC 9530) of a `200` answer: the digest of its
    /// whole content.
    ContentDigest,
}

/// The kinds of network failure below HTTP ([`Cause::Network`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NetworkKind {
    /// The host name could not be resolved (DNS).
    Resolve,
    /// No connection: refused, host or network unreachable, proxy connection failed.
    Connect,
    /// The connection was reset, aborted or closed early.
    Reset,
    /// A connect, send or read timeout expired.
    Timeout,
    /// Any other failure of the exchange.
    Other,
}

/// The kinds of TLS failure ([`Cause::Tls`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TlsKind {
    /// The server's certificate was not accepted here (untrusted issuer, expired, wrong
    /// name, no certificate, bad revocation list).
    CertificateRejected,
    /// The server ended the handshake with a certificate alert (bad, unsupported, revoked,
    /// expired, unknown certificate or unknown CA).
    CertificateRefused,
    /// TLS cannot be used for this URL with this configuration.
    Unusable,
    /// Any other TLS failure (handshake or record I/O).
    Other,
}

/// Why a redirect is not followed ([`Cause::Redirect`]). URLs are shown with credentials
/// redacted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RedirectProblem {
    /// The answer has no `Location` header.
    NoLocation,
    /// `Location` does not resolve to an http(s) URL.
    UnusableLocation {
        /// The `Location` header's value.
        location: String,
    },
    /// The redirect would be one more than the limit.
    TooMany {
        /// Redirects followed at most (10; DECISIONS D11).
        limit: usize,
        /// Where it pointed.
        to: String,
    },
    /// From https to plain http (refused; DECISIONS D5).
    ToPlainHttp {
        /// Where it pointed.
        to: String,
    },
    /// Back to a URL seen before in this fetch.
    Loop {
        /// Where it pointed.
        to: String,
    },
    /// The HTTP library's own redirect handling failed.
    Failed,
}

/// Why the server's answer cannot be used ([`Cause::InvalidResponse`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResponseProblem {
    /// It is not valid HTTP (may clear up on a new connection).
    Malformed,
    /// Its head is larger than the HTTP library accepts.
    HeadTooLarge,
    /// It is valid HTTP but does not fit the request: a 206 to a request without `Range`, a
    /// size that contradicts the bytes received, restarts from zero exhausted…
    Unusable,
}

/// Why the URL cannot be used ([`Cause::InvalidUrl`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UrlProblem {
    /// The HTTP library cannot build a request for it.
    Invalid,
    /// The proxy configured for it is not a usable URL.
    InvalidProxy,
    /// It has a known scheme but names nothing the transport can fetch (e.g. a `file://`
    /// URL on another host).
    Unusable,
    /// Its scheme is none of http, https, file.
    UnknownScheme,
}

/// A local file operation ([`Cause::Local`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LocalOp {
    /// Opening (or creating) the temporary file.
    OpenTemp,
    /// Reading the size of the temporary file.
    SizeTemp,
    /// Reading the temporary file back (the kept bytes of a resumed file, hashed for its
    /// digest; DECISIONS D15).
    ReadTemp,
    /// Truncating the temporary file.
    TruncateTemp,
    /// Seeking in the temporary file.
    SeekTemp,
    /// Writing the temporary file.
    WriteTemp,
    /// Flushing the temporary file to disk.
    FlushTemp,
    /// Renaming the temporary file onto the final name (the failure's subject).
    Rename {
        /// The temporary file, as shown in messages.
        from: String,
    },
    /// Flushing a directory to disk.
    FlushDirectory,
    /// Checking, while the temporary file is written, that the destination directory (the
    /// failure's subject) still holds it and is still writable (issue #14 item 5;
    /// [`crate::rules::checkpoint::destination_check_due`]).
    CheckDestination,
    /// The same check found another file under the temporary file's name (the failure's
    /// subject): what it holds is not what was written, so it and the checkpoint are
    /// discarded (`TransferError::discards_data`) and the file starts from zero next time.
    ReplacedTemp,
}

/// Why the source of a `file://` URL cannot be read ([`Cause::Source`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SourceProblem {
    /// Opening or reading it failed.
    Unreadable {
        /// The OS error number (`errno`), when known.
        errno: Option<i32>,
    },
    /// It is a directory.
    IsDirectory,
    /// Its size or modification time changed while it was copied.
    Changed {
        /// Bytes copied when the change was noticed.
        copied: u64,
    },
}

/// A failure as a transport (or the engine's store) reports it: the [`Cause`] plus what the
/// message names. Turned into a [`TransferError`] by
/// [`rules::classify::classify`](crate::rules::classify::classify) (DECISIONS D5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// What happened.
    pub cause: Cause,
    /// What failed, as messages show it: the URL with any `user:password@` redacted, or a
    /// local path. Empty when there is nothing to name.
    pub subject: String,
    /// Further words for the message: the OS, TLS or HTTP library's own description, or
    /// what exactly was wrong. Empty when the cause says everything.
    pub detail: String,
}

impl Failure {
    /// A failure with `cause`, naming `subject`, with `detail`.
    pub fn new(cause: Cause, subject: impl Into<String>, detail: impl Into<String>) -> Self {
        Failure { cause, subject: subject.into(), detail: detail.into() }
    }
}

/// A classified transfer failure (DECISIONS D5): what
/// [`rules::classify::classify`](crate::rules::classify::classify) makes of a [`Failure`].
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
    /// The temporary file's bytes are wrong and go (a digest mismatch, DECISIONS D15): the
    /// engine deletes the file and the next attempt starts from zero.
    pub discards_data: bool,
}

impl TransferError {
    /// This failure as an API error of `method`: the HRESULT of its Win32 code
    /// ([`win32_as_hresult`]: `BG_E_HTTP_ERROR_nnn` for an HTTP status), the Win32 code in
    /// [`Error::win32`], and the message prefixed with `method`.
    pub fn to_error(&self, method: &str) -> Error {
        Error::new(win32_as_hresult(self.win32), format!("{method}: {}", self.message)).with_win32(self.win32)
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
    /// The transfer failed; the engine classifies the failure (DECISIONS D5).
    Failed(Failure),
}

/// What a remote file looks like before it is fetched ([`Transport::probe`]): for HTTP(S) the
/// answer to a `HEAD` request, for `file://` the source's metadata. Used by `qmgr get`
/// (`--content-disposition`, `--continue`; issue #15), not by the engine.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Probe {
    /// `ETag` and `Last-Modified` exactly as received, and `total` = the file's length in
    /// bytes (`Content-Length` of a `200`), `None` when the server did not say. For `file://`
    /// as [`FetchOutcome::Complete`] reports them: no ETag, the modification time as an HTTP
    /// date, the size.
    pub validators: Validators,
    /// The server says it serves byte ranges (`Accept-Ranges: bytes`); always true for
    /// `file://`. (D11: a resume sends `Range` whatever this says; `--continue` asks for it.)
    pub accepts_ranges: bool,
    /// The file name of the answer's `Content-Disposition` (`filename*` per RFC 8187
    /// preferred over `filename`), already made a safe single file name; `None` when the
    /// header is missing or gives no usable name.
    pub file_name: Option<String>,
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
    ///
    /// While it writes, at least every [`crate::rules::checkpoint::DESTINATION_CHECK`] it checks
    /// that the destination directory still holds the temporary file and is writable; when
    /// not, it returns [`FetchOutcome::Failed`] with [`LocalOp::CheckDestination`] and the OS
    /// error (`ENOENT`, `EACCES`, `EROFS`…), keeping what it wrote (DECISIONS D4, D5).
    fn fetch(&self, request: &FetchRequest<'_>, observer: &mut dyn FetchObserver) -> FetchOutcome;

    /// Commits a complete temporary file: `fsync`, rename onto `final_path` (replacing an
    /// existing file), `fsync` the directory, set the modification time from `last_modified`
    /// (an HTTP date) when given (DECISIONS D4).
    ///
    /// Errors: a [`Failure`], typically [`Cause::Local`] with the operation and `errno`; the
    /// engine classifies it (fatal, the Win32 code of the errno; DECISIONS D5).
    fn commit(
        &self,
        temp_path: &Path,
        final_path: &Path,
        last_modified: Option<&str>,
    ) -> std::result::Result<(), Failure>;

    /// Commits several complete temporary files at once, with the guarantees of
    /// [`Transport::commit`] for each: no final name ever shows a file that is not entirely on
    /// disk (DECISIONS D4). Returns one result per request, in order; a failure of one does not
    /// stop the others. Implementations flush the files together (one `fsync` per file is a
    /// disk round trip; many at once share one), then rename them in order, then flush each
    /// directory once. The default commits them one by one.
    fn commit_batch(&self, requests: &[CommitRequest<'_>]) -> Vec<std::result::Result<(), Failure>> {
        requests.iter().map(|r| self.commit(r.temp_path, r.final_path, r.last_modified)).collect()
    }

    /// Deletes a temporary file (cancel); a missing file is not an error.
    fn discard(&self, temp_path: &Path);

    /// Looks at `url` without fetching it ([`Probe`]): an HTTP(S) `HEAD` request through the
    /// same connections, proxy, TLS roots and timeouts as [`Transport::fetch`], following
    /// redirects and answering a `401` with credentials given in the URL's user-info under the
    /// same rules (DECISIONS D5, D11); for `file://`, the source's metadata. Blocks the
    /// calling thread, bounded by the options `connect_timeout_ms` and `read_timeout_ms`.
    ///
    /// Errors: a [`Failure`] as [`Transport::fetch`] reports it (an HTTP status other than
    /// 2xx, a network or TLS failure, a redirect problem, an unreadable source…); the caller
    /// classifies it. The default (a transport that cannot look): [`Cause::InvalidUrl`] with
    /// [`UrlProblem::Unusable`].
    fn probe(&self, url: &str) -> std::result::Result<Probe, Failure> {
        let _ = url;
        Err(Failure::new(Cause::InvalidUrl(UrlProblem::Unusable), "", "this transport cannot probe a URL"))
    }

    /// Measurements of the [`Traffic::Idle`] connections for the idle-bandwidth controller
    /// (DECISIONS D14), taken now. `None` when this transport measures nothing (then the
    /// controller sees no delay and no other traffic, and only rises).
    fn idle_sample(&self) -> Option<IdleSample> {
        None
    }

    /// Clamps the receive window of every [`Traffic::Idle`] connection, open now or later, to
    /// `bytes` (Linux `TCP_WINDOW_CLAMP`; rLEDBAT's enforcement, RFC 9840). Default: nothing.
    fn set_idle_window(&self, bytes: u32) {
        let _ = bytes;
    }

    /// Ends every thread the transport started and closes its connections; returns once they
    /// have ended. Called once by the engine when the manager shuts down (its last reference
    /// is released), after the transfer threads were joined: no fetch runs any more, and none
    /// follows. After the call, the process holds no thread of the library (issue #14).
    /// Default: nothing (a transport without threads of its own).
    fn shutdown(&self) {}
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
