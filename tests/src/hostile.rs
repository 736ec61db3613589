//! A misbehaving HTTP/1.1 test server, and a queue to point at it.
//!
//! [`HostileServer`] listens on `127.0.0.1` on an ephemeral port (plain HTTP, or HTTPS with the
//! `qmgr-net` test certificate for `localhost` / `127.0.0.1`), runs one thread per connection,
//! keeps connections alive between answers, and records every request it reads ([`Request`]:
//! method, target, headers, connection, arrival time, and what was answered).
//!
//! Each path has a script: a sequence of [`Step`]s, the Nth request to the path getting the Nth
//! step (the last one repeats), or a closure choosing the step from the request. A step serves a
//! [`Resource`] the way a correct server does (`Content-Length`, `ETag`, `Last-Modified`,
//! `Accept-Ranges`, `Range` and `If-Range` honoured, `416` past the end) or answers a status or
//! a redirect, and can then misbehave: close or reset the connection after N body bytes, claim
//! another `Content-Length`, ignore `Range` or `If-Range`, answer a range with a wrong
//! `Content-Range` (another start, or a total before its end), send the body chunked (and lie in
//! a chunk size line), send it delimited by the connection's close, trickle it, pause before the
//! head or in the body, stall (silent, connection open, until the client hangs up or the server
//! is dropped), hang up without answering, send a given `Repr-Digest` or RFC 9530 digests it
//! computes, right or wrong (`Repr-Digest` of the whole resource, `Content-Digest` of the bytes
//! of this answer), or demand Basic or Digest
//! credentials first (Digest: [`crate::digest::DigestAuthority`], RFC 7616). Positions count
//! from the answer's first body byte, or from the resource's first byte
//! ([`Step::positions_in_file`]). A `416` has no body: it is never cut, reset or stalled.
//!
//! [`HostileQueue`] opens a real queue with `qmgr_rs::open` (the engine of `qmgr-core` on the
//! SQLite store and the HTTP(S) transport, the composition the C library and the `qmgr` command
//! use) in a temporary directory, with options suited to tests (no proxy, short retry delay),
//! and creates one-job groups.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::prelude::{Engine as _, BASE64_STANDARD};
use rustix::event::{PollFd, PollFlags, Timespec};

use qmgr_rs::model::GroupState;
use qmgr_rs::{FileSpec, Group, Guid, Job, Manager};

use crate::digest::DigestAuthority;

/// Longest a stalled answer holds its connection while the client keeps it open and the server
/// is not dropped.
const STALL_LIMIT: Duration = Duration::from_secs(120);

/// Body bytes written per `write` call when not trickling.
const WRITE_PIECE: usize = 64 * 1024;

/// Realm of the Basic challenge.
pub const REALM: &str = "hostile";

/// Locks `m`, also after a panic of another holder.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One request as the server read it, and what it answered.
#[derive(Clone, Debug)]
pub struct Request {
    /// `GET`, `HEAD`, …
    pub method: String,
    /// The request target as sent (path and query).
    pub target: String,
    /// Header lines in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// Which connection it came on (0, 1, … in accept order).
    pub connection: u64,
    /// When its head had been read.
    pub at: Instant,
    /// Status of the answer (0 when none was sent: hang-up, stall before the head, or not yet).
    pub status: u16,
    /// Body bytes written for it.
    pub body_sent: u64,
}

impl Request {
    /// The value of header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The path without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// The first byte of its `Range: bytes=N-…` header, if any.
    pub fn range_start(&self) -> Option<u64> {
        parse_range(self.header("range")?).map(|(s, _)| s)
    }
}

/// A remote file: body and validators. Cloning shares the body.
#[derive(Clone, Debug)]
pub struct Resource {
    /// The bytes.
    pub body: Arc<Vec<u8>>,
    /// `ETag`, sent exactly as given (quotes and `W/` included).
    pub etag: Option<String>,
    /// `Last-Modified`, an HTTP date.
    pub last_modified: Option<String>,
    /// Whether `Accept-Ranges: bytes` is sent (ranges are honoured either way unless a step
    /// ignores them).
    pub accept_ranges: bool,
}

impl Resource {
    /// A resource without validators, advertising range support.
    pub fn new(body: Vec<u8>) -> Resource {
        Resource { body: Arc::new(body), etag: None, last_modified: None, accept_ranges: true }
    }

    /// With this `ETag` (give the quotes: `"\"v1\""`, or `"W/\"v1\""` for a weak one).
    pub fn etag(mut self, etag: &str) -> Resource {
        self.etag = Some(etag.to_string());
        self
    }

    /// With this `Last-Modified` date.
    pub fn last_modified(mut self, date: &str) -> Resource {
        self.last_modified = Some(date.to_string());
        self
    }

    /// Without `Accept-Ranges`.
    pub fn no_accept_ranges(mut self) -> Resource {
        self.accept_ranges = false;
        self
    }

    /// Length of the body in bytes.
    pub fn len(&self) -> usize {
        self.body.len()
    }

    /// True for an empty body.
    pub fn is_empty(&self) -> bool {
        self.body.is_empty()
    }
}

#[derive(Clone, Debug)]
enum Answer {
    Serve(Resource),
    Status { status: u16, body: Vec<u8> },
    Redirect { status: u16, location: String },
}

/// An RFC 9530 digest header a step sends: which one, the algorithm (`sha-256` or `sha-512`),
/// and whether it is right.
#[derive(Clone, Copy, Debug)]
struct DigestHeader {
    /// `Repr-Digest` (the whole resource) when true, `Content-Digest` (this answer's bytes)
    /// when false.
    repr: bool,
    algorithm: &'static str,
    right: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cut {
    /// Orderly close (FIN) after N body bytes.
    Close(usize),
    /// Abortive close (RST) after N body bytes.
    Reset(usize),
    /// N body bytes, then silence with the connection open until the client closes it or the
    /// server is dropped.
    Stall(usize),
    /// N body bytes in honest chunks, then one chunk whose size line lies by `delta` bytes
    /// about the piece that follows it, that piece, and an orderly close.
    ChunkLie { at: usize, delta: i64 },
}

/// What one request gets: an answer, and the ways it misbehaves.
#[derive(Clone, Debug)]
pub struct Step {
    answer: Answer,
    headers: Vec<(String, String)>,
    ignore_range: bool,
    ignore_if_range: bool,
    range_shift: i64,
    range_limit: Option<usize>,
    chunked: bool,
    close_delimited: bool,
    declared_length: Option<u64>,
    cut: Option<Cut>,
    hang_up: bool,
    stall_before_head: bool,
    head_delay: Option<Duration>,
    pause: Option<(usize, Duration)>,
    positions_in_file: bool,
    bad_content_range: bool,
    full_digest: Option<String>,
    trickle: Option<(usize, Duration)>,
    basic: Option<(String, String)>,
    digest_headers: Vec<DigestHeader>,
    digest: Option<Arc<DigestAuthority>>,
}

impl Step {
    fn with(answer: Answer) -> Step {
        Step {
            answer,
            headers: Vec::new(),
            ignore_range: false,
            ignore_if_range: false,
            range_shift: 0,
            range_limit: None,
            chunked: false,
            close_delimited: false,
            declared_length: None,
            cut: None,
            hang_up: false,
            stall_before_head: false,
            head_delay: None,
            pause: None,
            positions_in_file: false,
            bad_content_range: false,
            full_digest: None,
            trickle: None,
            basic: None,
            digest_headers: Vec::new(),
            digest: None,
        }
    }

    /// Serves `resource` correctly: `200` with the whole body, or `206` for `Range: bytes=N-`
    /// (when `If-Range`, if sent, equals the strong `ETag` or the `Last-Modified` date), or
    /// `416` with `Content-Range: bytes */LEN` for a range starting at or past the end.
    pub fn serve(resource: &Resource) -> Step {
        Step::with(Answer::Serve(resource.clone()))
    }

    /// Answers `status` with an empty body (see [`Step::body`]).
    pub fn status(status: u16) -> Step {
        Step::with(Answer::Status { status, body: Vec::new() })
    }

    /// Answers `status` (a 3xx) with `Location: location` (absolute or relative, sent as given).
    pub fn redirect(status: u16, location: impl Into<String>) -> Step {
        Step::with(Answer::Redirect { status, location: location.into() })
    }

    /// The body of a [`Step::status`] answer.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Step {
        if let Answer::Status { body: b, .. } = &mut self.answer {
            *b = body.into();
        }
        self
    }

    /// An extra header line.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Step {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// `Retry-After: value` (delta-seconds or an HTTP date).
    pub fn retry_after(self, value: impl Into<String>) -> Step {
        self.header("Retry-After", value)
    }

    /// Answers `200` with the whole body even to a ranged request.
    pub fn ignore_range(mut self) -> Step {
        self.ignore_range = true;
        self
    }

    /// Honours `Range` whatever `If-Range` says (a broken server: it may send bytes of another
    /// version of the file).
    pub fn ignore_if_range(mut self) -> Step {
        self.ignore_if_range = true;
        self
    }

    /// Answers `Range: bytes=N-` with a `206` whose `Content-Range` (and body) start at
    /// `N + delta` (clamped to the body) instead of N.
    pub fn shift_range(mut self, delta: i64) -> Step {
        self.range_shift = delta;
        self
    }

    /// Answers a range with at most `n` bytes (a correct `206` for a shorter range than asked).
    pub fn range_limit(mut self, n: usize) -> Step {
        self.range_limit = Some(n.max(1));
        self
    }

    /// `Transfer-Encoding: chunked`, no `Content-Length`.
    pub fn chunked(mut self) -> Step {
        self.chunked = true;
        self
    }

    /// Neither `Content-Length` nor chunked framing: the body ends when the connection closes
    /// (as from an HTTP/1.0 server).
    pub fn close_delimited(mut self) -> Step {
        self.close_delimited = true;
        self
    }

    /// Claims `Content-Length: n` whatever the body is, and closes the connection after the
    /// body (a body shorter than claimed then ends early).
    pub fn declare_length(mut self, n: u64) -> Step {
        self.declared_length = Some(n);
        self
    }

    /// Sends the head and `n` body bytes, then closes the connection (FIN).
    pub fn close_after(mut self, n: usize) -> Step {
        self.cut = Some(Cut::Close(n));
        self
    }

    /// Sends the head and `n` body bytes, then resets the connection (RST).
    pub fn reset_after(mut self, n: usize) -> Step {
        self.cut = Some(Cut::Reset(n));
        self
    }

    /// Sends the head and `n` body bytes, then nothing, keeping the connection open until the
    /// client closes it (or sends anything) or the server is dropped.
    pub fn stall_after(mut self, n: usize) -> Step {
        self.cut = Some(Cut::Stall(n));
        self
    }

    /// Sends nothing at all, keeping the connection open until the client closes it (or sends
    /// anything) or the server is dropped.
    pub fn stall_before_head(mut self) -> Step {
        self.stall_before_head = true;
        self
    }

    /// With chunked framing (implied): sends `n` body bytes in honest chunks, then a chunk size
    /// line claiming `delta` bytes more (`delta > 0`) or fewer (`delta < 0`, at least one byte
    /// claimed) than the piece that follows it (the next body bytes, at most 64 KiB), that
    /// piece, and closes the connection (FIN). Claiming fewer, the two bytes after the claimed
    /// ones are never CR LF, so a decoder cannot take the rest for a new chunk.
    pub fn chunk_size_lie(mut self, n: usize, delta: i64) -> Step {
        self.chunked = true;
        self.cut = Some(Cut::ChunkLie { at: n, delta });
        self
    }

    /// Waits `delay` after reading the request before answering (the connection stays open).
    pub fn delay_head(mut self, delay: Duration) -> Step {
        self.head_delay = Some(delay);
        self
    }

    /// After `n` body bytes, waits `delay` with the connection open, then goes on (a pause
    /// never reached because the body ends or is cut first does not happen).
    pub fn pause_after(mut self, n: usize, delay: Duration) -> Step {
        self.pause = Some((n, delay));
        self
    }

    /// Byte positions of [`Step::close_after`], [`Step::reset_after`], [`Step::stall_after`],
    /// [`Step::chunk_size_lie`] and [`Step::pause_after`] count from the first byte of the
    /// resource instead of the first byte of this answer's body: for a `206` from N, position P
    /// is body byte P − N, and a position below N is right after the head.
    pub fn positions_in_file(mut self) -> Step {
        self.positions_in_file = true;
        self
    }

    /// A `206`'s `Content-Range` states a total equal to the range's first byte, so that the
    /// range ends past the total (`bytes 500-999/500`): unusable. Body and `Content-Length`
    /// are those of the range.
    pub fn bad_content_range(mut self) -> Step {
        self.bad_content_range = true;
        self
    }

    /// `Repr-Digest: value` (RFC 9530, e.g. `sha-256=:BASE64:`), sent with a `200` answer of
    /// [`Step::serve`] only: the digest of the whole representation, with the whole of it.
    pub fn repr_digest(mut self, value: impl Into<String>) -> Step {
        self.full_digest = Some(value.into());
        self
    }

    /// Closes the connection after reading the request, without answering.
    pub fn hang_up(mut self) -> Step {
        self.hang_up = true;
        self
    }

    /// Sends the body `bytes` at a time, sleeping `every` between pieces.
    pub fn trickle(mut self, bytes: usize, every: Duration) -> Step {
        self.trickle = Some((bytes.max(1), every));
        self
    }

    /// `Repr-Digest: ALGORITHM=:BASE64:` (RFC 9530) computed from the whole resource, in every
    /// answer (a `206` too; [`Step::repr_digest`] sends a given value with whole answers only),
    /// right when `right`, the digest of other bytes when not. `algorithm`: `sha-256` or
    /// `sha-512`.
    pub fn repr_digest_of(mut self, algorithm: &'static str, right: bool) -> Step {
        self.digest_headers.push(DigestHeader { repr: true, algorithm, right });
        self
    }

    /// `Content-Digest: ALGORITHM=:BASE64:` (RFC 9530) with the digest of the bytes this answer
    /// carries (the range of a `206`, before any cut) when `right`, of other bytes when not.
    pub fn content_digest_of(mut self, algorithm: &'static str, right: bool) -> Step {
        self.digest_headers.push(DigestHeader { repr: false, algorithm, right });
        self
    }

    /// Answers `401` with `WWW-Authenticate: Basic realm="hostile"` (and a body) unless the
    /// request carries `Authorization: Basic` with exactly `user:password`; with them, the step.
    pub fn require_basic(mut self, user: &str, password: &str) -> Step {
        self.basic = Some((user.to_string(), password.to_string()));
        self
    }

    /// Answers `401` with the challenges of `authority` unless it accepts the request's
    /// `Authorization: Digest` answer (RFC 7616); accepted, the step.
    pub fn require_digest(mut self, authority: &Arc<DigestAuthority>) -> Step {
        self.digest = Some(authority.clone());
        self
    }
}

type Chooser = dyn Fn(&Request, usize) -> Step + Send + Sync;

struct Route {
    choose: Box<Chooser>,
    count: AtomicUsize,
}

struct Shared {
    routes: Mutex<HashMap<String, Arc<Route>>>,
    log: Mutex<Vec<Request>>,
    /// Clones of the open connections' sockets, to shut them down when the server stops.
    conns: Mutex<HashMap<u64, TcpStream>>,
    stop: AtomicBool,
    next_conn: AtomicU64,
}

impl Shared {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Sleeps `d` in small steps; false when the server stopped meanwhile.
    fn sleep(&self, d: Duration) -> bool {
        let end = Instant::now() + d;
        while Instant::now() < end {
            if self.stopped() {
                return false;
            }
            std::thread::sleep((end - Instant::now()).min(Duration::from_millis(10)));
        }
        !self.stopped()
    }

    /// Silence until the client closes `tcp` (or sends anything), the server stops, or
    /// [`STALL_LIMIT`] passes.
    fn stall(&self, tcp: &TcpStream) {
        let end = Instant::now() + STALL_LIMIT;
        let step = Timespec { tv_sec: 0, tv_nsec: 10_000_000 };
        while !self.stopped() && Instant::now() < end {
            match rustix::event::poll(&mut [PollFd::new(tcp, PollFlags::IN | PollFlags::RDHUP)], Some(&step)) {
                Ok(0) | Err(rustix::io::Errno::INTR) => {}
                _ => return,
            }
        }
    }

    fn route(&self, req: &Request) -> Option<Arc<Route>> {
        let routes = lock(&self.routes);
        routes.get(&req.target).or_else(|| routes.get(req.path())).cloned()
    }

    fn answered(&self, index: usize, status: u16, body_sent: u64) {
        if let Some(r) = lock(&self.log).get_mut(index) {
            r.status = status;
            r.body_sent = body_sent;
        }
    }
}

/// The misbehaving server. Dropping it stops it: stalled answers end and every connection is
/// shut down.
pub struct HostileServer {
    addr: SocketAddr,
    tls: bool,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for HostileServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostileServer").field("addr", &self.addr).field("tls", &self.tls).finish()
    }
}

impl HostileServer {
    /// A plain HTTP server on `127.0.0.1:<ephemeral>`.
    pub fn start() -> HostileServer {
        Self::start_with(None)
    }

    /// An HTTPS server with the certificate of `qmgr-net/tests/fixtures/localhost.pem`
    /// (trusted through [`ca_file`]).
    pub fn start_tls() -> HostileServer {
        Self::start_with(Some(tls_config()))
    }

    fn start_with(tls: Option<Arc<rustls::ServerConfig>>) -> HostileServer {
        let tls_used = tls.is_some();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let shared = Arc::new(Shared {
            routes: Mutex::new(HashMap::new()),
            log: Mutex::new(Vec::new()),
            conns: Mutex::new(HashMap::new()),
            stop: AtomicBool::new(false),
            next_conn: AtomicU64::new(0),
        });
        let s = shared.clone();
        let acceptor = std::thread::Builder::new()
            .name("hostile-accept".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if s.stopped() {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let Ok(tcp) = stream.try_clone() else { continue };
                    let id = s.next_conn.fetch_add(1, Ordering::SeqCst);
                    if let Ok(c) = stream.try_clone() {
                        lock(&s.conns).insert(id, c);
                    }
                    let (s, tls) = (s.clone(), tls.clone());
                    let _ = std::thread::Builder::new().name(format!("hostile-conn-{id}")).spawn(move || match tls {
                        None => serve_connection(stream, &tcp, id, &s),
                        Some(config) => {
                            if let Ok(conn) = rustls::ServerConnection::new(config) {
                                serve_connection(rustls::StreamOwned::new(conn, stream), &tcp, id, &s);
                            }
                        }
                    });
                }
            })
            .expect("spawn the accept thread");
        HostileServer { addr, tls: tls_used, shared, acceptor: Some(acceptor) }
    }

    /// Scripts `path` (matched against the whole target first, then the path without the
    /// query): the Nth request to it gets `steps[N]`, the last step repeating. Replaces an
    /// earlier script of the path and restarts its count.
    pub fn script(&self, path: &str, steps: Vec<Step>) {
        assert!(!steps.is_empty(), "a script needs at least one step");
        self.route(path, move |_, n| steps[n.min(steps.len() - 1)].clone());
    }

    /// Scripts `path` with a closure choosing the step from the request and its index among
    /// the requests to that path (0, 1, …).
    pub fn route(&self, path: &str, choose: impl Fn(&Request, usize) -> Step + Send + Sync + 'static) {
        let route = Arc::new(Route { choose: Box::new(choose), count: AtomicUsize::new(0) });
        lock(&self.shared.routes).insert(path.to_string(), route);
    }

    /// `http://127.0.0.1:PORT{path}` (or `https://`).
    pub fn url(&self, path: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}{path}", self.addr)
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        lock(&self.shared.log).clone()
    }

    /// The requests whose path (without query) is `path`, in arrival order.
    pub fn requests_to(&self, path: &str) -> Vec<Request> {
        lock(&self.shared.log).iter().filter(|r| r.path() == path).cloned().collect()
    }

    /// How many requests `path` got.
    pub fn hits(&self, path: &str) -> usize {
        self.requests_to(path).len()
    }

    /// A readable summary of the requests so far, for assertion messages.
    pub fn describe(&self) -> String {
        let log = lock(&self.shared.log);
        let Some(first) = log.first().map(|r| r.at) else { return "no requests".into() };
        log.iter()
            .map(|r| {
                format!(
                    "  +{:>5} ms conn {} {} {} range={:?} if-range={:?} auth={} → {} ({} body bytes)\n",
                    r.at.duration_since(first).as_millis(),
                    r.connection,
                    r.method,
                    r.target,
                    r.header("range"),
                    r.header("if-range"),
                    r.header("authorization").is_some(),
                    r.status,
                    r.body_sent
                )
            })
            .collect()
    }
}

impl Drop for HostileServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        for (_, c) in lock(&self.shared.conns).drain() {
            let _ = c.shutdown(Shutdown::Both);
        }
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(h) = self.acceptor.take() {
            let _ = h.join();
        }
    }
}

/// Reads requests from one connection and answers them until the connection ends or an answer
/// ends it. `tcp` is the raw socket under `stream` (for shutdown and reset).
fn serve_connection<S: Read + Write>(stream: S, tcp: &TcpStream, connection: u64, shared: &Shared) {
    let mut reader = BufReader::new(stream);
    let end = loop {
        let Some(req) = read_request(&mut reader, connection) else { break After::Close };
        if shared.stopped() {
            break After::Close;
        }
        let index = {
            let mut log = lock(&shared.log);
            log.push(req.clone());
            log.len() - 1
        };
        let step = match shared.route(&req) {
            Some(route) => {
                let n = route.count.fetch_add(1, Ordering::SeqCst);
                (route.choose)(&req, n)
            }
            None => Step::status(404).body(format!("no script for {}\n", req.target)),
        };
        match answer(reader.get_mut(), tcp, &req, &step, shared, index) {
            After::Keep => {}
            other => break other,
        }
    };
    if let After::Close = end {
        let _ = reader.get_mut().flush();
        let _ = tcp.shutdown(Shutdown::Both);
    }
    // A reset goes out when the last descriptor of the socket is closed: this clone, then
    // `stream` and `tcp` when the connection thread returns.
    lock(&shared.conns).remove(&connection);
}

/// What happens to a connection after an answer.
enum After {
    /// Read the next request.
    Keep,
    /// Close it (FIN).
    Close,
    /// Reset it (RST).
    Reset,
}

/// Reads one request head; `None` at the end of the connection or on garbage. A request body
/// (announced by `Content-Length`) is read and dropped.
pub(crate) fn read_request<R: BufRead>(reader: &mut R, connection: u64) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end_matches(['\r', '\n']);
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let req = Request { method, target, headers, connection, at: Instant::now(), status: 0, body_sent: 0 };
    if let Some(n) = req.header("content-length").and_then(|v| v.parse::<u64>().ok()) {
        std::io::copy(&mut reader.take(n), &mut std::io::sink()).ok()?;
    }
    Some(req)
}

/// `bytes=START-` or `bytes=START-END` (one range only).
fn parse_range(value: &str) -> Option<(u64, Option<u64>)> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (start, end) = spec.split_once('-')?;
    let start = start.trim().parse().ok()?;
    let end = if end.trim().is_empty() { None } else { Some(end.trim().parse().ok()?) };
    Some((start, end))
}

/// Whether an `If-Range` value lets a range through for `res` (RFC 9110 §13.1.5: a strong
/// ETag compared strongly, or the exact Last-Modified date).
pub(crate) fn if_range_matches(value: &str, res: &Resource) -> bool {
    let value = value.trim();
    if value.starts_with('"') || value.starts_with("W/") {
        !value.starts_with("W/") && res.etag.as_deref().is_some_and(|e| e == value && !e.starts_with("W/"))
    } else {
        res.last_modified.as_deref() == Some(value)
    }
}

/// An answer before faults: status, headers, and the part of `body` to send.
struct Composed {
    status: u16,
    headers: Vec<(String, String)>,
    body: Arc<Vec<u8>>,
    range: std::ops::Range<usize>,
}

/// The answer `step` gives to `req` (before faults).
fn compose(req: &Request, step: &Step) -> Composed {
    let answer = |status, headers, body, range| Composed { status, headers, body, range };
    let empty = || Arc::new(Vec::new());
    match &step.answer {
        Answer::Status { status, body } => answer(*status, Vec::new(), Arc::new(body.clone()), 0..body.len()),
        Answer::Redirect { status, location } => {
            let body = format!("moved to {location}\n").into_bytes();
            let len = body.len();
            answer(*status, vec![("Location".into(), location.clone())], Arc::new(body), 0..len)
        }
        Answer::Serve(res) => {
            let len = res.len();
            let mut headers = Vec::new();
            if let Some(e) = &res.etag {
                headers.push(("ETag".to_string(), e.clone()));
            }
            if let Some(d) = &res.last_modified {
                headers.push(("Last-Modified".to_string(), d.clone()));
            }
            if res.accept_ranges {
                headers.push(("Accept-Ranges".to_string(), "bytes".to_string()));
            }
            let range = req.header("range").and_then(parse_range).filter(|_| !step.ignore_range);
            let if_range_ok = step.ignore_if_range || req.header("if-range").is_none_or(|v| if_range_matches(v, res));
            match range {
                Some((start, end)) if if_range_ok => {
                    let start = start as usize;
                    if start >= len {
                        headers.push(("Content-Range".into(), format!("bytes */{len}")));
                        return answer(416, headers, empty(), 0..0);
                    }
                    let mut end = end.map_or(len - 1, |e| (e as usize).min(len - 1));
                    let shifted = (start as i64 + step.range_shift).clamp(0, end as i64) as usize;
                    if let Some(n) = step.range_limit {
                        end = end.min(shifted + n - 1);
                    }
                    let total = if step.bad_content_range { shifted } else { len };
                    headers.push(("Content-Range".into(), format!("bytes {shifted}-{end}/{total}")));
                    answer(206, headers, res.body.clone(), shifted..end + 1)
                }
                _ => {
                    headers.extend(step.full_digest.iter().map(|d| ("Repr-Digest".to_string(), d.clone())));
                    answer(200, headers, res.body.clone(), 0..len)
                }
            }
        }
    }
}

/// Answers one request as `step` says; returns what becomes of the connection.
fn answer<W: Write>(out: &mut W, tcp: &TcpStream, req: &Request, step: &Step, shared: &Shared, index: usize) -> After {
    if let Some((user, password)) = &step.basic {
        let expected = format!("Basic {}", BASE64_STANDARD.encode(format!("{user}:{password}")));
        if req.header("authorization") != Some(expected.as_str()) {
            return unauthorized(out, &[format!("Basic realm=\"{REALM}\"")], shared, index);
        }
    }
    if let Some(authority) = &step.digest {
        if let Err(challenges) = authority.check(&req.method, &req.target, req.header("authorization")) {
            return unauthorized(out, &challenges, shared, index);
        }
    }
    if step.hang_up {
        return After::Close;
    }
    if step.stall_before_head {
        shared.stall(tcp);
        return After::Close;
    }
    if let Some(delay) = step.head_delay {
        if !shared.sleep(delay) {
            return After::Close;
        }
    }
    let Composed { status, mut headers, body, range } = compose(req, step);
    headers.extend(step.headers.iter().cloned());
    for d in &step.digest_headers {
        let covered = if d.repr { &body[..] } else { &body[range.clone()] };
        let name = if d.repr { "Repr-Digest" } else { "Content-Digest" };
        headers.push((
            name.into(),
            format!("{}=:{}:", d.algorithm, BASE64_STANDARD.encode(digest_bytes(d.algorithm, covered, d.right))),
        ));
    }
    if step.chunked {
        headers.push(("Transfer-Encoding".into(), "chunked".into()));
    } else if !step.close_delimited {
        let length = step.declared_length.unwrap_or(range.len() as u64);
        headers.push(("Content-Length".into(), length.to_string()));
    }
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (k, v) in &headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    if out.write_all(head.as_bytes()).is_err() {
        return After::Close;
    }
    // A 416 has no body to cut: it is answered whole, and the connection kept.
    let cut = step.cut.filter(|_| status != 416);
    // Positions of cuts and pauses, as offsets into this answer's body.
    let base = if step.positions_in_file { range.start } else { 0 };
    let at = |n: usize| n.saturating_sub(base);
    let limit = match cut {
        Some(Cut::Close(n) | Cut::Reset(n) | Cut::Stall(n) | Cut::ChunkLie { at: n, .. }) => at(n),
        None => usize::MAX,
    };
    let send = &body[range.start..range.start + range.len().min(limit)];
    let (before, after, pause) = match step.pause {
        Some((n, delay)) if at(n) <= send.len() => (&send[..at(n)], &send[at(n)..], Some(delay)),
        _ => (send, &send[send.len()..], None),
    };
    let mut sent = 0usize;
    let mut ok = write_body(out, step, shared, before, &mut sent);
    if let (true, Some(delay)) = (ok, pause) {
        ok = out.flush().is_ok() && shared.sleep(delay) && write_body(out, step, shared, after, &mut sent);
    }
    if !ok {
        shared.answered(index, status, sent as u64);
        return After::Close;
    }
    if let Some(Cut::ChunkLie { delta, .. }) = cut {
        let rest = &body[range.start + send.len()..range.end];
        let piece = &rest[..rest.len().min(WRITE_PIECE)];
        let _ =
            out.write_all(format!("{:x}\r\n", lie_claim(piece, delta)).as_bytes()).and_then(|()| out.write_all(piece));
        sent += piece.len();
    }
    let _ = out.flush();
    shared.answered(index, status, sent as u64);
    match cut {
        Some(Cut::Close(_) | Cut::ChunkLie { .. }) => return After::Close,
        Some(Cut::Reset(_)) => {
            reset_on_close(tcp);
            return After::Reset;
        }
        Some(Cut::Stall(_)) => {
            shared.stall(tcp);
            return After::Close;
        }
        None => {}
    }
    if step.chunked && out.write_all(b"0\r\n\r\n").and_then(|()| out.flush()).is_err() {
        return After::Close;
    }
    let client_closes = req.header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
    if step.declared_length.is_some() || step.close_delimited || client_closes {
        After::Close
    } else {
        After::Keep
    }
}

/// The `algorithm` (`sha-256` or `sha-512`) digest of `bytes` when `right`, else of `bytes`
/// followed by one more byte.
fn digest_bytes(algorithm: &str, bytes: &[u8], right: bool) -> Vec<u8> {
    use sha2::Digest;
    let extra: &[u8] = if right { b"" } else { b"!" };
    match algorithm {
        "sha-256" => sha2::Sha256::new().chain_update(bytes).chain_update(extra).finalize().to_vec(),
        "sha-512" => sha2::Sha512::new().chain_update(bytes).chain_update(extra).finalize().to_vec(),
        other => panic!("digest algorithm {other:?} is not sha-256 or sha-512"),
    }
}

/// Answers `401` with one `WWW-Authenticate` header per challenge (and a short body).
fn unauthorized<W: Write>(out: &mut W, challenges: &[String], shared: &Shared, index: usize) -> After {
    let body = b"authorization required\n";
    let mut head = "HTTP/1.1 401 Unauthorized\r\n".to_string();
    for c in challenges {
        head.push_str(&format!("WWW-Authenticate: {c}\r\n"));
    }
    head.push_str(&format!("Content-Type: text/plain\r\nContent-Length: {}\r\n\r\n", body.len()));
    let ok = out.write_all(head.as_bytes()).is_ok() && out.write_all(body).is_ok() && out.flush().is_ok();
    shared.answered(index, 401, body.len() as u64);
    if ok {
        After::Keep
    } else {
        After::Close
    }
}

/// Writes `data` as body bytes (as chunks with chunked framing, trickled when the step says
/// so), counting them in `sent`; false when the connection failed or the server stopped.
fn write_body<W: Write>(out: &mut W, step: &Step, shared: &Shared, data: &[u8], sent: &mut usize) -> bool {
    let piece = step.trickle.map_or(WRITE_PIECE, |(n, _)| n);
    for (i, chunk) in data.chunks(piece).enumerate() {
        if i > 0 {
            if let Some((_, every)) = step.trickle {
                if out.flush().is_err() || !shared.sleep(every) {
                    return false;
                }
            }
        }
        let ok = if step.chunked {
            out.write_all(format!("{:x}\r\n", chunk.len()).as_bytes()).is_ok()
                && out.write_all(chunk).is_ok()
                && out.write_all(b"\r\n").is_ok()
        } else {
            out.write_all(chunk).is_ok()
        };
        if !ok {
            return false;
        }
        *sent += chunk.len();
    }
    true
}

/// The chunk size claimed for `piece` by [`Step::chunk_size_lie`]: `piece.len() + delta`, at
/// least 1; claiming fewer, moved so that the two bytes after the claimed ones are not CR LF.
fn lie_claim(piece: &[u8], delta: i64) -> usize {
    let claim = (piece.len() as i64 + delta).max(1) as usize;
    if delta < 0 && piece.get(claim..claim + 2) == Some(b"\r\n") {
        // piece[claim - 1..claim + 1] ends with '\r', so it is not CR LF; nor is
        // piece[claim + 1..claim + 3], which starts with '\n'.
        if claim > 1 {
            claim - 1
        } else {
            claim + 1
        }
    } else {
        claim
    }
}

/// Makes the next close of `tcp` send RST instead of FIN (`SO_LINGER` with a zero timeout).
fn reset_on_close(tcp: &TcpStream) {
    // l_onoff = 1, l_linger = 0.
    rustix::net::sockopt::set_socket_linger(tcp, Some(Duration::ZERO))
        .unwrap_or_else(|e| panic!("setsockopt(SO_LINGER): {e}"));
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        401 => "Unauthorized",
        404 => "Not Found",
        416 => "Range Not Satisfiable",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Hostile",
    }
}

/// The TLS configuration of [`HostileServer::start_tls`]: the fixture certificate for
/// `localhost` and `127.0.0.1`, issued by the CA of [`ca_file`].
pub fn tls_config() -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_slice_iter(include_bytes!("../../qmgr-net/tests/fixtures/localhost.pem"))
        .collect::<Result<Vec<_>, _>>()
        .expect("fixture certificate");
    let key = PrivateKeyDer::from_pem_slice(include_bytes!("../../qmgr-net/tests/fixtures/localhost.key"))
        .expect("fixture key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server certificate");
    Arc::new(config)
}

/// Path of the test CA that issued the HTTPS server's certificate (for the option `ca_file`).
pub fn ca_file() -> String {
    crate::workspace_root().join("qmgr-net/tests/fixtures/ca.pem").to_string_lossy().into_owned()
}

/// `n` pseudo-random bytes (xorshift64*, from `seed`): no period a misplaced range could hide.
pub fn pattern(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(n);
    out
}

/// A port on 127.0.0.1 where nothing listens (bound, then released).
pub fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local address").port()
}

/// A queue in a temporary directory, driven through the Rust API, and a download directory.
pub struct HostileQueue {
    /// The queue's manager.
    pub manager: Manager,
    /// Where files are downloaded to.
    pub out: PathBuf,
    _queue_dir: tempfile::TempDir,
    _out_dir: tempfile::TempDir,
}

impl std::fmt::Debug for HostileQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostileQueue").field("out", &self.out).finish()
    }
}

impl HostileQueue {
    /// Opens a fresh queue with the test defaults (`proxy` "" so that no environment proxy
    /// applies, `min_retry_delay_ms` 100, `connect_timeout_ms` 2000, `read_timeout_ms` 5000,
    /// `max_active_groups` 16), then `options` in order.
    pub fn open(options: &[(&str, &str)]) -> HostileQueue {
        let queue_dir = tempfile::tempdir().expect("queue directory");
        let out_dir = tempfile::tempdir().expect("download directory");
        let manager = open_manager(queue_dir.path());
        let defaults = [
            ("proxy", ""),
            ("min_retry_delay_ms", "100"),
            ("connect_timeout_ms", "2000"),
            ("read_timeout_ms", "5000"),
            ("max_active_groups", "16"),
        ];
        for (name, value) in defaults.iter().chain(options) {
            manager.set_option(name, value).unwrap_or_else(|e| panic!("set_option({name}, {value}): {e}"));
        }
        let out = std::fs::canonicalize(out_dir.path()).expect("download directory path");
        HostileQueue { manager, out, _queue_dir: queue_dir, _out_dir: out_dir }
    }

    /// Closes the manager and opens the queue again, as a new process would (DECISIONS D6:
    /// RUNNING groups continue by themselves from their temporary files). Every `Group` and
    /// `Job` handle of the old manager must be dropped first: they keep it alive.
    pub fn reopen(self) -> HostileQueue {
        let HostileQueue { manager, out, _queue_dir, _out_dir } = self;
        drop(manager);
        let manager = open_manager(_queue_dir.path());
        assert!(manager.is_transferring_process(), "the old manager still holds the queue (handles left?)");
        HostileQueue { manager, out, _queue_dir, _out_dir }
    }

    /// The queue directory (for other processes opening the queue, e.g. `qmgr --queue DIR`).
    pub fn dir(&self) -> &Path {
        self._queue_dir.path()
    }

    /// The download path of `name`.
    pub fn path(&self, name: &str) -> PathBuf {
        self.out.join(name)
    }

    /// A new SUSPENDED group with one job holding `files` (URL, destination name in
    /// [`HostileQueue::out`]).
    pub fn group(&self, files: &[(&str, &str)]) -> (Group, Job) {
        let group = self.manager.create_group(Guid::generate()).expect("CreateGroup");
        let job = group.create_job(Guid::generate()).expect("CreateJob");
        let specs: Vec<FileSpec> = files
            .iter()
            .map(|(url, name)| FileSpec {
                url: url.to_string(),
                local_path: self.path(name).to_string_lossy().into_owned(),
                size_hint: 0,
            })
            .collect();
        job.add_files(&specs).expect("AddFiles");
        (group, job)
    }

    /// [`HostileQueue::group`], resumed (RUNNING).
    pub fn start(&self, files: &[(&str, &str)]) -> (Group, Job) {
        let (group, job) = self.group(files);
        group.resume().expect("ResumeGroup");
        (group, job)
    }

    /// Names in the download directory, sorted (temporary files included).
    pub fn listing(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.out)
            .expect("read the download directory")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

/// The manager of the queue in `dir`, opened with `qmgr_rs::open` (the SQLite store and the
/// HTTP(S) transport, as the C library and the `qmgr` command compose them); options come from
/// the queue.
fn open_manager(dir: &Path) -> Manager {
    qmgr_rs::open(Some(dir)).unwrap_or_else(|e| panic!("open the queue in {}: {e}", dir.display()))
}

/// Waits (at most `deadline`) until `group` leaves RUNNING; returns its state and status word.
/// Panics with `context` (e.g. the server's [`HostileServer::describe`]) on time-out.
pub fn wait_settled(group: &Group, deadline: Duration, context: impl FnOnce() -> String) -> (GroupState, u32) {
    let (settled, word) = group.wait(Some(deadline)).expect("Group::wait");
    assert!(settled, "group still running after {deadline:?} (status {word:#x})\n{}", context());
    (group.state().expect("state"), word)
}

/// The temporary file of file `index` of `job` downloading to `local` (DECISIONS D4).
pub fn temp_path(local: &Path, job: &Job, index: u32) -> PathBuf {
    qmgr_rs::model::temp_path_for(&local.to_string_lossy(), job.id(), index)
}

/// A TCP listener on 127.0.0.1 that accepts connections and never sends or reads a byte (a
/// peer stalled before TLS or HTTP starts). Dropping it closes the connections.
pub struct MuteListener {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    held: Arc<Mutex<Vec<TcpStream>>>,
}

impl MuteListener {
    /// Starts listening on an ephemeral port.
    pub fn start() -> MuteListener {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let (stop, held) = (Arc::new(AtomicBool::new(false)), Arc::new(Mutex::new(Vec::new())));
        let (s, h) = (stop.clone(), held.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    lock(&h).push(stream);
                }
            }
        });
        MuteListener { addr, stop, held }
    }

    /// `{scheme}://127.0.0.1:PORT{path}`.
    pub fn url(&self, scheme: &str, path: &str) -> String {
        format!("{scheme}://{}{path}", self.addr)
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        lock(&self.held).len()
    }
}

impl Drop for MuteListener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        for c in lock(&self.held).drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }
}

/// `BG_E_HTTP_ERROR_nnn` (`0x80190000 | nnn`), the `dwWin32Result` of an HTTP status failure
/// (DECISIONS D5).
pub fn bg_e_http(status: u16) -> u32 {
    0x8019_0000 | u32::from(status)
}

/// Waits for `group` to complete and checks that `name` holds exactly `expected` and that no
/// temporary file is left (DECISIONS D4). Panics with the server's log otherwise.
pub fn assert_downloaded(
    queue: &HostileQueue,
    group: &Group,
    job: &Job,
    name: &str,
    expected: &[u8],
    server: &HostileServer,
) {
    let (state, word) = wait_settled(group, Duration::from_secs(30), || server.describe());
    let error = job.error_message().ok().flatten();
    assert_eq!(state, GroupState::Complete, "status {word:#x}, job error {error:?}\n{}", server.describe());
    let got = std::fs::read(queue.path(name)).unwrap_or_else(|e| panic!("read {name}: {e}"));
    assert!(
        got == expected,
        "{name}: {} bytes, expected {} bytes; first difference at {:?}\n{}",
        got.len(),
        expected.len(),
        got.iter().zip(expected).position(|(a, b)| a != b),
        server.describe()
    );
    let prefix = format!(".{name}.");
    let leftovers: Vec<String> =
        queue.listing().into_iter().filter(|n| n.starts_with(&prefix) && n.ends_with(".qmgr-part")).collect();
    assert!(leftovers.is_empty(), "temporary files left after completion: {leftovers:?}");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends `request` on `conn` and reads one answer: (status, headers, body). A body without
    /// `Content-Length` is read to the end of the connection.
    fn exchange(conn: &mut BufReader<TcpStream>, request: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
        conn.get_mut().write_all(request.as_bytes()).unwrap();
        let mut line = String::new();
        conn.read_line(&mut line).unwrap();
        let status = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            conn.read_line(&mut h).unwrap();
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (k, v) = h.split_once(':').unwrap();
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
        let mut body = Vec::new();
        match headers.iter().find(|(k, _)| k == "content-length") {
            Some((_, n)) => {
                let _ = conn.take(n.parse().unwrap()).read_to_end(&mut body);
            }
            None => {
                let _ = conn.read_to_end(&mut body);
            }
        }
        (status, headers, body)
    }

    fn get(h: &[(String, String)], name: &str) -> Option<String> {
        h.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    fn connect(server: &HostileServer) -> BufReader<TcpStream> {
        let s = TcpStream::connect(server.addr()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        BufReader::new(s)
    }

    #[test]
    fn serves_ranges_if_range_and_416_on_one_connection() {
        let res = Resource::new(pattern(1000, 1)).etag("\"e\"").last_modified("Sun, 06 Nov 1994 08:49:37 GMT");
        let server = HostileServer::start();
        server.script("/f", vec![Step::serve(&res)]);
        let mut c = connect(&server);
        let (s, h, b) = exchange(&mut c, "GET /f HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!((s, b.as_slice()), (200, res.body.as_slice()));
        assert_eq!((get(&h, "etag").unwrap(), get(&h, "accept-ranges").unwrap()), ("\"e\"".into(), "bytes".into()));
        let (s, h, b) = exchange(&mut c, "GET /f HTTP/1.1\r\nRange: bytes=990-\r\nIf-Range: \"e\"\r\n\r\n");
        assert_eq!(
            (s, get(&h, "content-range").unwrap(), b.as_slice()),
            (206, "bytes 990-999/1000".into(), &res.body[990..])
        );
        let (s, _, b) = exchange(&mut c, "GET /f HTTP/1.1\r\nRange: bytes=990-\r\nIf-Range: \"other\"\r\n\r\n");
        assert_eq!((s, b.len()), (200, 1000), "If-Range mismatch: the whole body");
        let (s, _, _) =
            exchange(&mut c, "GET /f HTTP/1.1\r\nRange: bytes=5-\r\nIf-Range: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n");
        assert_eq!(s, 206, "If-Range with the date");
        let (s, h, b) = exchange(&mut c, "GET /f HTTP/1.1\r\nRange: bytes=1000-\r\n\r\n");
        assert_eq!((s, get(&h, "content-range").unwrap(), b.len()), (416, "bytes */1000".into(), 0));
        let reqs = server.requests_to("/f");
        assert_eq!(reqs.len(), 5);
        assert!(reqs.iter().all(|r| r.connection == reqs[0].connection), "keep-alive");
        assert_eq!((reqs[1].range_start(), reqs[1].status, reqs[1].body_sent), (Some(990), 206, 10));
    }

    #[test]
    fn misbehaviours_do_what_they_say() {
        let res = Resource::new(pattern(1000, 2)).etag("\"e\"");
        let server = HostileServer::start();
        server.script(
            "/f",
            vec![
                Step::serve(&res).close_after(100),
                Step::serve(&res).shift_range(-10),
                Step::serve(&res).ignore_range(),
                Step::serve(&res).range_limit(7),
                Step::serve(&res).chunked(),
            ],
        );
        let (s, h, b) = exchange(&mut connect(&server), "GET /f HTTP/1.1\r\n\r\n");
        assert_eq!((s, get(&h, "content-length").unwrap(), b.len()), (200, "1000".into(), 100));
        let (s, h, b) = exchange(&mut connect(&server), "GET /f HTTP/1.1\r\nRange: bytes=100-\r\n\r\n");
        assert_eq!((s, get(&h, "content-range").unwrap(), &b[..]), (206, "bytes 90-999/1000".into(), &res.body[90..]));
        let (s, _, b) = exchange(&mut connect(&server), "GET /f HTTP/1.1\r\nRange: bytes=100-\r\n\r\n");
        assert_eq!((s, b.len()), (200, 1000));
        let (s, h, b) = exchange(&mut connect(&server), "GET /f HTTP/1.1\r\nRange: bytes=100-\r\n\r\n");
        assert_eq!(
            (s, get(&h, "content-range").unwrap(), &b[..]),
            (206, "bytes 100-106/1000".into(), &res.body[100..107])
        );
        let (s, h, b) = exchange(&mut connect(&server), "GET /f HTTP/1.1\r\nConnection: close\r\n\r\n");
        assert_eq!(
            (s, get(&h, "transfer-encoding").unwrap(), get(&h, "content-length")),
            (200, "chunked".into(), None)
        );
        assert!(b.ends_with(b"0\r\n\r\n") && b.len() > 1000, "chunked framing");
    }

    /// RFC 9530 headers: `Repr-Digest` of the whole resource in a `200` and a `206`,
    /// `Content-Digest` of the bytes sent, right or wrong.
    #[test]
    fn digest_headers_are_right_or_wrong_as_asked() {
        use sha2::{Digest, Sha256, Sha512};
        let res = Resource::new(pattern(1000, 5));
        let field = |alg: &str, d: &[u8]| format!("{alg}=:{}:", BASE64_STANDARD.encode(d));
        let server = HostileServer::start();
        server.script(
            "/f",
            vec![Step::serve(&res)
                .repr_digest_of("sha-256", true)
                .content_digest_of("sha-512", true)
                .repr_digest_of("sha-512", false)],
        );
        let mut c = connect(&server);
        for (request, content) in [
            ("GET /f HTTP/1.1\r\n\r\n", &res.body[..]),
            ("GET /f HTTP/1.1\r\nRange: bytes=600-\r\n\r\n", &res.body[600..]),
        ] {
            let (_, h, b) = exchange(&mut c, request);
            assert_eq!(b, content);
            let repr: Vec<&String> = h.iter().filter(|(k, _)| k == "repr-digest").map(|(_, v)| v).collect();
            assert_eq!(repr[0], &field("sha-256", &Sha256::digest(&res.body[..])), "the whole resource");
            assert_ne!(repr[1], &field("sha-512", &Sha512::digest(&res.body[..])), "a wrong one");
            assert!(repr[1].starts_with("sha-512=:"));
            assert_eq!(
                get(&h, "content-digest").unwrap(),
                field("sha-512", &Sha512::digest(content)),
                "the bytes sent"
            );
        }
    }

    #[test]
    fn basic_challenge_then_the_step() {
        let res = Resource::new(pattern(10, 3));
        let server = HostileServer::start();
        server.script("/s", vec![Step::serve(&res).require_basic("u", "p")]);
        let mut c = connect(&server);
        let (s, h, b) = exchange(&mut c, "GET /s HTTP/1.1\r\n\r\n");
        assert_eq!((s, get(&h, "www-authenticate").unwrap()), (401, format!("Basic realm=\"{REALM}\"")));
        assert!(!b.is_empty(), "a 401 with a body");
        let (s, _, b) = exchange(&mut c, "GET /s HTTP/1.1\r\nAuthorization: Basic dTpw\r\n\r\n");
        assert_eq!((s, b.as_slice()), (200, res.body.as_slice()));
    }

    #[test]
    fn stalls_end_when_the_server_is_dropped() {
        let res = Resource::new(pattern(1000, 4));
        let server = HostileServer::start();
        server.script("/f", vec![Step::serve(&res).stall_after(10)]);
        let mut c = connect(&server);
        c.get_mut().write_all(b"GET /f HTTP/1.1\r\n\r\n").unwrap();
        let mut head = String::new();
        c.read_line(&mut head).unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let started = Instant::now();
        drop(server);
        let mut rest = Vec::new();
        let _ = c.read_to_end(&mut rest);
        assert!(started.elapsed() < Duration::from_secs(5), "the stalled connection outlived the server");
    }

    /// Splits a chunked body into (size claimed, bytes) pairs, up to the end of `raw` or the
    /// first size line that does not parse.
    fn chunks(raw: &[u8]) -> Vec<(usize, Vec<u8>)> {
        let mut out = Vec::new();
        let mut rest = raw;
        while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
            let Some(size) = std::str::from_utf8(&rest[..eol]).ok().and_then(|t| usize::from_str_radix(t, 16).ok())
            else {
                break;
            };
            let data = &rest[eol + 2..];
            let take = size.min(data.len());
            out.push((size, data[..take].to_vec()));
            rest = data.get(take + 2..).unwrap_or(&[]);
            if size == 0 || take < size {
                break;
            }
        }
        out
    }

    #[test]
    fn chunk_size_lies_claim_more_or_fewer_then_close() {
        let res = Resource::new(pattern(5000, 5));
        let server = HostileServer::start();
        server
            .script("/f", vec![Step::serve(&res).chunk_size_lie(1000, 7), Step::serve(&res).chunk_size_lie(1000, -10)]);
        let (s, h, b) = exchange(&mut connect(&server), "GET /f HTTP/1.1\r\n\r\n");
        assert_eq!(
            (s, get(&h, "transfer-encoding").unwrap(), get(&h, "content-length")),
            (200, "chunked".into(), None)
        );
        let c = chunks(&b);
        assert_eq!(c.iter().map(|(n, d)| (*n, d.len())).collect::<Vec<_>>(), [(1000, 1000), (4007, 4000)], "then FIN");
        assert_eq!([c[0].1.as_slice(), &c[1].1].concat(), *res.body);
        let (_, _, b) = exchange(&mut connect(&server), "GET /f HTTP/1.1\r\n\r\n");
        let claimed = chunks(&b)[1].0;
        assert!((3988..=3991).contains(&claimed), "about 10 fewer than 4000: {claimed}");
        assert_eq!(&b[b.len() - 4000..], &res.body[1000..], "the whole piece follows the lying size line");
        let after = &b[b.len() - 4000 + claimed..][..2];
        assert_ne!(after, b"\r\n", "never CR LF where the decoder expects it");
        assert_eq!(lie_claim(b"ab\r\ncd", -4), 1, "moved off a CR LF");
        assert_eq!(lie_claim(b"a\r\nbcd", -5), 2, "moved up when 1 byte is claimed");
    }

    #[test]
    fn positions_in_file_pauses_delays_and_bad_content_ranges() {
        let res = Resource::new(pattern(1000, 6)).etag("\"e\"");
        let server = HostileServer::start();
        server.script(
            "/f",
            vec![
                Step::serve(&res).close_after(600).positions_in_file(),
                Step::serve(&res).close_after(300).positions_in_file(),
                Step::serve(&res).pause_after(500, Duration::from_millis(200)).delay_head(Duration::from_millis(100)),
                Step::serve(&res).bad_content_range(),
            ],
        );
        let (s, _, b) = exchange(&mut connect(&server), "GET /f HTTP/1.1\r\nRange: bytes=400-\r\n\r\n");
        assert_eq!((s, &b[..]), (206, &res.body[400..600]), "cut at byte 600 of the file");
        let (s, _, b) = exchange(&mut connect(&server), "GET /f HTTP/1.1\r\nRange: bytes=400-\r\n\r\n");
        assert_eq!((s, b.len()), (206, 0), "a position before the range: right after the head");
        let started = Instant::now();
        let (s, _, b) = exchange(&mut connect(&server), "GET /f HTTP/1.1\r\n\r\n");
        assert_eq!((s, &b[..]), (200, &res.body[..]), "a pause, then the rest");
        assert!(started.elapsed() >= Duration::from_millis(300), "{:?}", started.elapsed());
        let (s, h, b) = exchange(&mut connect(&server), "GET /f HTTP/1.1\r\nRange: bytes=900-\r\n\r\n");
        assert_eq!((s, get(&h, "content-range").unwrap(), &b[..]), (206, "bytes 900-999/900".into(), &res.body[900..]));
    }

    #[test]
    fn a_416_is_never_cut() {
        let res = Resource::new(pattern(100, 8));
        let server = HostileServer::start();
        server.script("/f", vec![Step::serve(&res).stall_after(0), Step::serve(&res)]);
        let mut c = connect(&server);
        let (s, h, _) = exchange(&mut c, "GET /f HTTP/1.1\r\nRange: bytes=100-\r\n\r\n");
        assert_eq!((s, get(&h, "content-range")), (416, Some("bytes */100".into())));
        let (s, _, b) = exchange(&mut c, "GET /f HTTP/1.1\r\n\r\n");
        assert_eq!((s, b.len()), (200, 100), "the connection was kept, not stalled");
    }

    #[test]
    fn repr_digest_goes_with_full_answers_only() {
        let res = Resource::new(pattern(100, 7)).etag("\"e\"");
        let server = HostileServer::start();
        server.script("/f", vec![Step::serve(&res).repr_digest("sha-256=:x:")]);
        let mut c = connect(&server);
        let (s, h, _) = exchange(&mut c, "GET /f HTTP/1.1\r\n\r\n");
        assert_eq!((s, get(&h, "repr-digest")), (200, Some("sha-256=:x:".into())));
        let (s, h, _) = exchange(&mut c, "GET /f HTTP/1.1\r\nRange: bytes=10-\r\n\r\n");
        assert_eq!((s, get(&h, "repr-digest")), (206, None));
    }
}
