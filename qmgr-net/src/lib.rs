//! # qmgr-net — the transports of the qmgr queue
//!
//! [`NetTransport`] implements [`qmgr_core::transport::Transport`]: it moves one remote file
//! into its temporary file, from an offset, and commits it. It speaks
//!
//! * HTTP/1.1 and HTTPS (`QM_PROTOCOL_HTTP`), with one keep-alive [`ureq::Agent`] per
//!   manager: resume with `Range` / `If-Range`, validators compared on every answer,
//!   redirects followed by this crate (at most [`MAX_REDIRECTS`], never https→http),
//!   Basic and Digest (RFC 7616) credentials only in answer to a 401 challenge, every
//!   timeout set, and every failure reported as a typed cause (HTTP status, network kind, TLS, local errno…) that
//!   `qmgr_core::rules::classify` turns into transient or fatal with a Win32 code
//!   (DECISIONS D1, D5, D11);
//! * `file://` (`QM_PROTOCOL_SMB`): a resumable copy from a local path or a mounted share.
//!
//! Both hash the file as they write it when a digest is expected — the file's checksum, or a
//! server's `Repr-Digest` / `Content-Digest` (RFC 9530) — and end with
//! `Cause::DigestMismatch` instead of completing when it differs (DECISIONS D15).
//!
//! The queue's rules (when to retry, what a state means) are not here: they live in
//! `qmgr-core`, which only sees the [`Transport`] trait.
//!
//! ```no_run
//! use qmgr_core::model::Options;
//! use qmgr_net::NetTransport;
//!
//! let transport = NetTransport::new(&Options::default())?;
//! # let _ = transport;
//! # Ok::<(), qmgr_core::Error>(())
//! ```
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod auth;
mod cause;
mod check;
mod config;
mod digest;
mod disposition;
mod exchange;
mod file;
mod http;
mod idle;
mod local;
mod proof;
mod proxy;
mod segments;
mod sockinfo;
mod url;

use exchange::Helpers;
use idle::IdleSockets;
use qmgr_core::model::Options;
use qmgr_core::transport::{
    Cause, CommitRequest, Failure, FetchObserver, FetchOutcome, FetchRequest, IdleSample, Probe, Traffic, Transport,
    UrlProblem,
};
use qmgr_core::Result;
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};

/// `User-Agent` sent when the option `user_agent` is empty: `qmgr/<crate version>`.
pub const DEFAULT_USER_AGENT: &str = concat!("qmgr/", env!("CARGO_PKG_VERSION"));

/// Redirects followed for one file; an 11th is fatal with `ERROR_WINHTTP_REDIRECT_FAILED`
/// (DECISIONS D5, D11).
pub const MAX_REDIRECTS: usize = 10;

pub use qmgr_core::model::MAX_URL_LEN;

/// The most bytes read from the network or a source file in one step (1 MiB): also the input
/// buffer of each HTTP connection (but idle-mode ones), so that one read of the socket can fill
/// a step. Each step is written to the temporary file with one `write`, then reported through
/// [`FetchObserver::on_progress`]. A step holds what has arrived, so on a slow link steps are
/// small; a rate-limited transfer reads at most [`read_step`] at a time.
///
/// Measured (bench scenario 1, 1 GiB from nginx on loopback, 2 cores): 256 KiB steps with
/// ureq's 128 KiB input buffer took 1.09 s, 1 MiB steps and buffer 0.89 s (`curl -o` 1.18 s):
/// per step the reading and the writing thread each wake once, and the socket is read once.
pub const CHUNK_SIZE: usize = 1024 * 1024;

/// Bytes of a body a transfer may hold between the thread reading the network and the thread
/// writing the temporary file (2 steps of [`CHUNK_SIZE`]): read from the socket, not yet
/// written, and so lost with the process (never claimed by a checkpoint, DECISIONS D6).
pub const READ_AHEAD: usize = 2 * CHUNK_SIZE;

/// The most bytes a transfer reads in one step when it may receive at most `rate` bytes/s
/// (`None`: no limit): an eighth of a second of the rate, at least 16 KiB and at most
/// [`CHUNK_SIZE`], so that a limited transfer writes and reports progress in small steps
/// instead of waiting for the limiter with a whole step in hand.
pub fn read_step(rate: Option<u64>) -> usize {
    const LEAST: u64 = 16 * 1024;
    match rate {
        None => CHUNK_SIZE,
        Some(r) => (r / 8).clamp(LEAST, CHUNK_SIZE as u64) as usize,
    }
}

/// The HTTP(S) and `file://` transport of a manager.
///
/// Holds one [`ureq::Agent`] (connection pool, TLS roots, proxy, timeouts), rebuilt by
/// [`Transport::configure`]. Free-threaded: any number of [`Transport::fetch`] calls may run
/// at once on different threads; each takes a snapshot of the agent when it starts.
///
/// Timeouts (options `connect_timeout_ms`, `read_timeout_ms`; see README "Timeouts"):
/// name resolution and connecting (TCP, proxy, TLS handshake) are bounded by
/// `connect_timeout_ms`; sending the request and waiting for the answer's head by
/// `read_timeout_ms`; the body has no total limit, but every single read is cut after
/// `read_timeout_ms` without data, so a stalled server fails with the transient
/// `ERROR_WINHTTP_TIMEOUT` (12002) while a slow but moving 1 GiB download never times out.
pub struct NetTransport {
    state: RwLock<State>,
    /// The connections of idle-mode transfers, measured and clamped (DECISIONS D14); kept
    /// across [`Transport::configure`] so that its byte counts never go back.
    idle: Arc<IdleSockets>,
    /// The helper threads of HTTP exchanges (`exchange.rs`): kept between exchanges, joined
    /// at [`Transport::shutdown`] or when the transport drops.
    helpers: Helpers,
}

/// What `configure` decides and `fetch` reads.
struct State {
    agent: ureq::Agent,
    /// The agent of idle-mode transfers ([`config::build_agents`]).
    idle_agent: ureq::Agent,
    allow_credentials_over_http: bool,
}

impl NetTransport {
    /// A transport configured from `options` (see [`Transport::configure`]).
    ///
    /// Errors: `E_INVALIDARG` when `ca_file` is unreadable or holds no PEM certificate, or
    /// when `proxy` is not a usable proxy URL; the message names the option and the problem.
    pub fn new(options: &Options) -> Result<NetTransport> {
        let idle = Arc::new(IdleSockets::default());
        Ok(NetTransport { state: RwLock::new(State::new(options, &idle)?), idle, helpers: Helpers::new() })
    }

    /// The agent for `traffic` and `allow_credentials_over_http`.
    fn snapshot(&self, traffic: Traffic) -> (ureq::Agent, bool) {
        let s = self.state.read().unwrap_or_else(PoisonError::into_inner);
        let agent = if traffic == Traffic::Idle { &s.idle_agent } else { &s.agent };
        (agent.clone(), s.allow_credentials_over_http)
    }
}

impl State {
    fn new(options: &Options, idle: &Arc<IdleSockets>) -> Result<State> {
        let (agent, idle_agent) = config::build_agents(options, idle)?;
        Ok(State { agent, idle_agent, allow_credentials_over_http: options.allow_credentials_over_http })
    }
}

impl std::fmt::Debug for NetTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetTransport").finish_non_exhaustive()
    }
}

impl Transport for NetTransport {
    /// Rebuilds the agent from `options`: timeouts, user agent, proxy (`None` = from the
    /// environment: `ALL_PROXY`, `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY`, either case;
    /// `Some("")` = none; else that URL), TLS roots (system roots plus `ca_file`), and
    /// `allow_credentials_over_http`. Transfers already running keep the agent they started
    /// with. Idle pooled connections of the old agent are dropped with it.
    ///
    /// Errors: `E_INVALIDARG` as for [`NetTransport::new`]; the old configuration then stays.
    fn configure(&self, options: &Options) -> Result<()> {
        let new = State::new(options, &self.idle)?;
        *self.state.write().unwrap_or_else(PoisonError::into_inner) = new;
        Ok(())
    }

    /// `ca_file`: `""`, or a readable file with at least one PEM certificate; `proxy`: `""`
    /// or a URL ureq accepts as a proxy. Every other name: accepted here (the core checks
    /// the value's syntax). DECISIONS D12.
    ///
    /// Errors: `E_INVALIDARG` naming the option, the path or URL, and the problem.
    fn check_option(&self, name: &str, value: &str) -> Result<()> {
        check::check_option(name, value)
    }

    /// The URL is ASCII, at most [`MAX_URL_LEN`] characters, without spaces or control
    /// characters (`qmgr_core::model::check_url`), and parses as a WHATWG URL (the `url`
    /// crate); `QM_PROTOCOL_HTTP` (1) takes `http://host…` and `https://host…` (with `//` and a
    /// host, as RFC 3986 writes them), `QM_PROTOCOL_SMB` (3) takes `file:///absolute/path` (or
    /// `file://localhost/…`). The URL is stored as given; requests use its parsed form
    /// (README "URLs"). DECISIONS D1, D2.
    ///
    /// Errors: `E_INVALIDARG` naming the URL and the problem; `QM_E_DOWNLOADER_UNAVAILABLE`
    /// for `QM_PROTOCOL_FTP`; `E_NOTIMPL` for `QM_PROTOCOL_CUSTOM`.
    fn check_url(&self, url: &str, protocol: u32) -> Result<()> {
        check::check_url(url, protocol)
    }

    /// `local_path` is absolute, does not name a directory, and its directory exists and is
    /// writable (checked by creating and removing a hidden probe file there, which is right
    /// for root, read-only mounts and ACLs alike).
    ///
    /// Errors: `E_INVALIDARG` ("directory … does not exist", not absolute, a directory);
    /// `E_ACCESSDENIED` when the directory is not writable (EACCES, EPERM, EROFS).
    fn check_destination(&self, local_path: &str) -> Result<()> {
        check::check_destination(local_path)
    }

    /// Fetches `request.url` into `request.temp_path`, resuming from `request.offset`:
    /// HTTP(S) as described in the README ("HTTP"), `file://` as a copy. Checks the cancel
    /// flag at least every 50 ms, also while the network stalls, and then returns
    /// [`FetchOutcome::Cancelled`] at once; nothing is written to the temporary file after
    /// `fetch` returns.
    ///
    /// [`FetchObserver::on_start`] may be called more than once when the file restarts from
    /// zero or continues after a partial `206`; each call says where data is appended next.
    ///
    /// With `request.checksum` set, or a server digest in an answer (`Repr-Digest` of a `200`
    /// or `206`, `Content-Digest` of a `200`), the whole file is hashed (the bytes kept
    /// before `offset` read back once) and checked before `Complete`; a difference ends the
    /// fetch with [`Cause::DigestMismatch`] (DECISIONS D15; README "Digests").
    fn fetch(&self, request: &FetchRequest<'_>, observer: &mut dyn FetchObserver) -> FetchOutcome {
        if request.cancel.is_cancelled() {
            return FetchOutcome::Cancelled;
        }
        let parsed = match parse_url(request.url) {
            Ok(parsed) => parsed,
            Err(failure) => return FetchOutcome::Failed(failure),
        };
        match parsed.scheme() {
            "http" | "https" => {
                let (agent, allow_http) = self.snapshot(request.traffic);
                http::fetch(&self.helpers, &agent, allow_http, request, parsed, observer)
            }
            "file" => file::fetch(request, observer),
            _ => FetchOutcome::Failed(Failure::new(
                Cause::InvalidUrl(UrlProblem::UnknownScheme),
                url::redact(request.url),
                "",
            )),
        }
    }

    /// `HEAD` for `http://` and `https://` (the foreground agent: same proxy, TLS roots and
    /// timeouts as a fetch; redirects followed and a `401` answered with the URL's user-info
    /// under the same rules, DECISIONS D5, D11): `Content-Length` of a `200` as `total`,
    /// `ETag`, `Last-Modified`, `Accept-Ranges: bytes`, and the `Content-Disposition` file
    /// name, sanitised (README "Probe"). `file://`: the source's size and modification time.
    ///
    /// Errors: as [`Transport::fetch`] reports them; an unknown scheme is
    /// [`UrlProblem::UnknownScheme`].
    fn probe(&self, url: &str) -> std::result::Result<Probe, Failure> {
        let parsed = parse_url(url)?;
        match parsed.scheme() {
            "http" | "https" => {
                let (agent, allow_http) = self.snapshot(Traffic::Foreground);
                http::probe(&agent, allow_http, url, parsed)
            }
            "file" => file::probe(url),
            _ => Err(Failure::new(Cause::InvalidUrl(UrlProblem::UnknownScheme), url::redact(url), "")),
        }
    }

    /// `fsync`s the temporary file, sets its modification time from `last_modified` (an HTTP
    /// date; ignored when absent or unparsable), renames it onto `final_path` (replacing an
    /// existing file atomically) and `fsync`s the directory. DECISIONS D4.
    ///
    /// The time is set before the rename, so the final name never shows another time.
    ///
    /// Errors: a [`Cause::Local`] failure with the OS error number (`errno`) and the
    /// operation, naming both paths (classified fatal, with the Win32 code of the errno:
    /// reference §5.8).
    fn commit(
        &self,
        temp_path: &Path,
        final_path: &Path,
        last_modified: Option<&str>,
    ) -> std::result::Result<(), Failure> {
        let request = CommitRequest { temp_path, final_path, last_modified };
        local::commit_batch(&[request]).pop().expect("one result per request")
    }

    /// [`Transport::commit`] for many files at once: the temporary files are flushed together
    /// (up to 16 `fsync`s at a time, which the file system folds into few journal commits),
    /// then renamed in order, then each directory is flushed once. This is what makes many
    /// small files as fast as without `fsync` (DECISIONS D4; bench/RESULTS.md).
    ///
    /// Errors: per request, as [`Transport::commit`]; a failed directory flush fails every
    /// file renamed into that directory.
    fn commit_batch(&self, requests: &[CommitRequest<'_>]) -> Vec<std::result::Result<(), Failure>> {
        local::commit_batch(requests)
    }

    /// Removes the temporary file; a missing file is fine, other errors are logged.
    fn discard(&self, temp_path: &Path) {
        local::discard(temp_path)
    }

    /// `TCP_INFO` of every idle-mode connection (the receiver's RTT estimate when it changed,
    /// bytes received) and the received bytes of the interface most of them use
    /// (`/proc/net/dev`). DECISIONS D14; see the README ("Idle bandwidth").
    fn idle_sample(&self) -> Option<IdleSample> {
        Some(self.idle.sample())
    }

    /// `TCP_WINDOW_CLAMP` on every idle-mode connection, now and as each opens.
    fn set_idle_window(&self, bytes: u32) {
        self.idle.set_window(bytes)
    }

    /// Stops every thread this transport started and closes its connections (issue #14,
    /// item 7): new fetches fail (`Cause::NoThread`, "the transport is shut down"); the
    /// agents are shut down (`ureq::Agent::shutdown`: pooled connections close, a helper
    /// blocked reading or writing a socket gets an error at once); idle helpers are woken
    /// and every helper thread is joined. Returns when they have ended:
    /// within milliseconds, unless a helper is resolving a name or opening a TCP connection,
    /// which ureq cannot interrupt (then up to the resolver's limits or `connect_timeout_ms`).
    /// Called by the engine at the manager's last release; also run when the transport drops.
    fn shutdown(&self) {
        let agents = {
            let s = self.state.read().unwrap_or_else(PoisonError::into_inner);
            [s.agent.clone(), s.idle_agent.clone()]
        };
        let joined = self.helpers.shutdown(&agents);
        log::debug!("transport shut down; {joined} threads joined");
    }
}

impl Drop for NetTransport {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// `url` parsed (WHATWG, the `url` crate). Errors: [`UrlProblem::Invalid`] naming the URL
/// (redacted), with the parser's reason.
fn parse_url(url: &str) -> std::result::Result<url::Url, Failure> {
    url::Url::parse(url)
        .map_err(|e| Failure::new(Cause::InvalidUrl(UrlProblem::Invalid), url::redact(url), e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limited_transfer_reads_an_eighth_of_a_second_within_bounds() {
        assert_eq!(read_step(None), CHUNK_SIZE);
        assert_eq!(read_step(Some(800_000)), 100_000);
        assert_eq!(read_step(Some(1)), 16 * 1024);
        assert_eq!(read_step(Some(0)), 16 * 1024);
        assert_eq!(read_step(Some(u64::MAX)), CHUNK_SIZE);
    }
}
