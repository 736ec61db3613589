//! Test helpers: a tiny scripted HTTP/1.1 server on 127.0.0.1 (thread per connection,
//! ephemeral port), a recording observer, and fetch shortcuts.
#![allow(dead_code)]

use qmgr_core::model::{Checksum, HeldRanges, Options, Validators};
use qmgr_core::rate::{RateLimiter, Throttle};
use qmgr_core::transport::{CancelFlag, Credentials, FetchObserver, FetchOutcome, FetchRequest, Traffic, Transport};
use qmgr_net::NetTransport;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// The value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// How the body is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `Content-Length` (unless the reply sets one) and the whole body; keep-alive.
    Full,
    /// `Transfer-Encoding: chunked`; keep-alive.
    Chunked,
    /// `Content-Length` of the whole body, but only the first N bytes, then close.
    Short(usize),
    /// `Content-Length` of the whole body, the first N bytes, then silence until the
    /// server is dropped (at most 20 s).
    Stall(usize),
    /// `Content-Length` of the whole body, the first N bytes, then a reset (TCP RST:
    /// `SO_LINGER` {on, 0} and close).
    Reset(usize),
    /// No `Content-Length`, not chunked (a body delimited by the connection's close): the
    /// first N bytes, then a clean close (FIN).
    Unframed(usize),
    /// Like `Unframed`, but over TLS the connection closes without `close_notify` (over
    /// plain TCP the same as `Unframed`).
    UnframedNoNotify(usize),
    /// No `Content-Length`, not chunked: the first N bytes, then a reset (TCP RST).
    UnframedReset(usize),
    /// No `Content-Length`, not chunked: the first N bytes, then silence as in `Stall`.
    UnframedStall(usize),
    /// Chunked, cut after N bytes of the body (inside a chunk when N is not a multiple of
    /// 4096), then a clean close: no terminating `0` chunk.
    ChunkedCut(usize),
    /// `Content-Length` and the whole body, sent at most this many bytes a second (in 64 KiB
    /// writes, each when due); keep-alive. A connection slower than
    /// `rules::segments::FAST_CONNECTION`, as from a server capping each connection.
    Paced(u64),
}

/// How a connection ends after a reply.
enum After {
    /// Kept for the next request.
    Keep,
    /// Closed cleanly (FIN; over TLS after `close_notify`).
    Close,
    /// Closed by dropping the stream (FIN; over TLS without `close_notify`).
    Drop,
    /// Reset (RST).
    Reset,
}

/// A scripted answer.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub mode: Mode,
}

impl Reply {
    pub fn new(status: u16) -> Reply {
        Reply { status, headers: Vec::new(), body: Vec::new(), mode: Mode::Full }
    }
    pub fn header(mut self, k: &str, v: impl Into<String>) -> Reply {
        self.headers.push((k.to_string(), v.into()));
        self
    }
    pub fn body(mut self, b: impl Into<Vec<u8>>) -> Reply {
        self.body = b.into();
        self
    }
    pub fn mode(mut self, m: Mode) -> Reply {
        self.mode = m;
        self
    }
}

type Handler = dyn Fn(&Request, usize) -> Reply + Send + Sync;

/// The server; stops accepting and releases stalled connections when dropped.
pub struct Server {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    tls: bool,
}

impl Server {
    /// Starts a server answering each request with `handler(request, index)`, where index
    /// counts requests from 0 over all connections.
    pub fn start(handler: impl Fn(&Request, usize) -> Reply + Send + Sync + 'static) -> Server {
        Self::start_with(None, handler)
    }

    /// Like [`Server::start`], but speaking TLS with `tls` (URLs from [`Server::url`] then
    /// start with `https://`).
    pub fn start_with(
        tls: Option<Arc<rustls::ServerConfig>>,
        handler: impl Fn(&Request, usize) -> Reply + Send + Sync + 'static,
    ) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let tls_used = tls.is_some();
        let (l2, s2) = (log.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if s2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (h, l, s, tls) = (handler.clone(), l2.clone(), s2.clone(), tls.clone());
                let Ok(raw) = stream.try_clone() else { continue };
                std::thread::spawn(move || match tls {
                    None => serve(stream, raw, &*h, &l, &s),
                    Some(config) => {
                        let Ok(conn) = rustls::ServerConnection::new(config) else {
                            return;
                        };
                        serve(rustls::StreamOwned::new(conn, stream), raw, &*h, &l, &s)
                    }
                });
            }
        });
        Server { addr, log, stop, tls: tls_used }
    }

    pub fn url(&self, path: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}{path}", self.addr)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

/// A server stream that can end cleanly: TLS sends `close_notify` first.
trait Closing {
    fn close_cleanly(&mut self) {}
}

impl Closing for TcpStream {}

impl Closing for rustls::StreamOwned<rustls::ServerConnection, TcpStream> {
    fn close_cleanly(&mut self) {
        self.conn.send_close_notify();
        let _ = self.flush();
    }
}

/// Makes the close of `socket` a reset (TCP RST) instead of a FIN: `SO_LINGER` {on, 0}.
/// std has no stable setter (`TcpStream::set_linger` is unstable).
fn linger_zero(socket: &TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: the descriptor is open (borrowed from `socket`) and `linger` is a valid
    // `struct linger` whose size is passed.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_LINGER: {}", std::io::Error::last_os_error());
}

fn serve<S: Read + Write + Closing>(
    stream: S,
    raw: TcpStream,
    handler: &Handler,
    log: &Mutex<Vec<Request>>,
    stop: &AtomicBool,
) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, target) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        let req = Request { method, target, headers };
        let index = {
            let mut l = log.lock().unwrap();
            l.push(req.clone());
            l.len() - 1
        };
        let reply = handler(&req, index);
        match write_reply(reader.get_mut(), &reply, stop) {
            After::Keep => {}
            // Dropping the stream closes the connection.
            After::Drop => return,
            After::Close => {
                reader.get_mut().close_cleanly();
                return;
            }
            After::Reset => {
                // Let the client read what was sent, so that the reset ends the body and
                // does not discard unsent bytes.
                std::thread::sleep(Duration::from_millis(200));
                linger_zero(&raw);
                return;
            }
        }
    }
}

/// Writes `reply`; returns how the connection ends.
fn write_reply(out: &mut impl Write, r: &Reply, stop: &AtomicBool) -> After {
    let mut head = format!("HTTP/1.1 {} Scripted\r\n", r.status);
    for (k, v) in &r.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    let has_length = r.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-length"));
    match r.mode {
        Mode::Chunked | Mode::ChunkedCut(_) => head.push_str("Transfer-Encoding: chunked\r\n"),
        Mode::Unframed(_) | Mode::UnframedNoNotify(_) | Mode::UnframedReset(_) | Mode::UnframedStall(_) => {}
        _ if !has_length => head.push_str(&format!("Content-Length: {}\r\n", r.body.len())),
        _ => {}
    }
    head.push_str("\r\n");
    if out.write_all(head.as_bytes()).is_err() {
        return After::Close;
    }
    let partial = |out: &mut dyn Write, n: usize| {
        let _ = out.write_all(&r.body[..n.min(r.body.len())]);
        let _ = out.flush();
    };
    let ok = match r.mode {
        Mode::Full => out.write_all(&r.body).is_ok(),
        Mode::Paced(rate) => {
            let began = Instant::now();
            let mut sent = 0u64;
            for c in r.body.chunks(64 << 10) {
                let due = began + Duration::from_secs_f64(sent as f64 / rate as f64);
                while !stop.load(Ordering::SeqCst) && Instant::now() < due {
                    std::thread::sleep((due - Instant::now()).min(Duration::from_millis(20)));
                }
                if out.write_all(c).is_err() {
                    return After::Close;
                }
                sent += c.len() as u64;
            }
            true
        }
        Mode::Chunked | Mode::ChunkedCut(_) => {
            let cut = if let Mode::ChunkedCut(n) = r.mode { n } else { usize::MAX };
            let mut sent = 0;
            for c in r.body.chunks(4096) {
                if out.write_all(format!("{:x}\r\n", c.len()).as_bytes()).is_err() {
                    return After::Close;
                }
                if sent + c.len() > cut {
                    let _ = out.write_all(&c[..cut - sent]);
                    let _ = out.flush();
                    return After::Close;
                }
                if out.write_all(c).is_err() || out.write_all(b"\r\n").is_err() {
                    return After::Close;
                }
                sent += c.len();
            }
            if sent >= cut {
                let _ = out.flush();
                return After::Close;
            }
            out.write_all(b"0\r\n\r\n").is_ok()
        }
        Mode::Unframed(n) => {
            partial(out, n);
            return After::Close;
        }
        Mode::Short(n) | Mode::UnframedNoNotify(n) => {
            partial(out, n);
            return After::Drop;
        }
        Mode::Reset(n) | Mode::UnframedReset(n) => {
            partial(out, n);
            return After::Reset;
        }
        Mode::Stall(n) | Mode::UnframedStall(n) => {
            partial(out, n);
            let deadline = Instant::now() + Duration::from_secs(20);
            // The server simulates a stalled peer: it holds the connection, silent.
            while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            return After::Close;
        }
    };
    if ok && out.flush().is_ok() {
        After::Keep
    } else {
        After::Close
    }
}

/// A handler serving `body` like a static file with `etag`: honours `Range: bytes=N-` and
/// `bytes=N-M` and `If-Range` (206 / 416), else 200.
pub fn static_file(body: Vec<u8>, etag: &'static str) -> impl Fn(&Request, usize) -> Reply + Send + Sync + 'static {
    move |req, _| {
        let len = body.len();
        let base = |r: Reply| r.header("ETag", etag).header("Accept-Ranges", "bytes");
        let range_ok = req.header("if-range").is_none_or(|v| v == etag);
        if let (Some(range), true) = (req.header("range"), range_ok) {
            let (start, end) = range.trim_start_matches("bytes=").split_once('-').unwrap();
            let start: usize = start.parse().unwrap();
            let end = if end.is_empty() { len } else { (end.parse::<usize>().unwrap() + 1).min(len) };
            if start >= len {
                return base(Reply::new(416)).header("Content-Range", format!("bytes */{len}"));
            }
            return base(Reply::new(206))
                .header("Content-Range", format!("bytes {start}-{}/{len}", end - 1))
                .body(body[start..end].to_vec());
        }
        base(Reply::new(200)).body(body.clone())
    }
}

/// `handler` with every full body paced at `rate` bytes a second ([`Mode::Paced`]).
pub fn paced(
    rate: u64,
    handler: impl Fn(&Request, usize) -> Reply + Send + Sync + 'static,
) -> impl Fn(&Request, usize) -> Reply + Send + Sync + 'static {
    move |req, i| {
        let reply = handler(req, i);
        match reply.mode {
            Mode::Full => reply.mode(Mode::Paced(rate)),
            _ => reply,
        }
    }
}

/// A TLS server configuration with the fixture certificate for `localhost` / `127.0.0.1`,
/// issued by `tests/fixtures/ca.pem`.
pub fn tls_config() -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_slice_iter(include_bytes!("../fixtures/localhost.pem"))
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(include_bytes!("../fixtures/localhost.key")).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    Arc::new(config)
}

/// Path of the fixture CA that issued the TLS server's certificate.
pub fn fixture_ca() -> String {
    format!("{}/tests/fixtures/ca.pem", env!("CARGO_MANIFEST_DIR"))
}

/// Deterministic test content of `n` bytes.
pub fn content(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 251) as u8).collect()
}

/// Options for tests: no proxy, short timeouts.
pub fn options() -> Options {
    Options { proxy: Some(String::new()), connect_timeout_ms: 2_000, read_timeout_ms: 10_000, ..Options::default() }
}

/// Records what a fetch reports; optionally raises `cancel` once `cancel_after` bytes are
/// done.
#[derive(Default)]
pub struct Recorder {
    pub starts: Vec<(u64, Validators)>,
    pub progress: Vec<u64>,
    /// Every set of ranges reported (a fetch in segments).
    pub ranges: Vec<HeldRanges>,
    /// The last progress since the last start (progress goes back only with a restart).
    since_start: Option<u64>,
    pub cancel_after: Option<(u64, Arc<CancelFlag>)>,
}

impl FetchObserver for Recorder {
    fn on_start(&mut self, start: u64, validators: &Validators) {
        self.starts.push((start, validators.clone()));
        self.since_start = None;
    }
    fn on_progress(&mut self, bytes_done: u64) {
        if let Some(last) = self.since_start {
            assert!(bytes_done >= last, "progress went back from {last} to {bytes_done} without a restart");
        }
        self.since_start = Some(bytes_done);
        self.progress.push(bytes_done);
        if let Some((n, flag)) = &self.cancel_after {
            if bytes_done >= *n {
                flag.cancel();
            }
        }
    }
    fn on_ranges(&mut self, held: &HeldRanges) {
        self.ranges.push(held.clone());
    }
}

/// Everything a fetch needs except the URL and the temporary file.
pub struct Fetch {
    pub offset: u64,
    /// The ranges held of a file fetched in segments.
    pub held_ranges: Option<HeldRanges>,
    /// Connections the fetch may use (1 unless a test says).
    pub connections: usize,
    pub validators: Validators,
    /// The file's checksum (DECISIONS D15).
    pub checksum: Option<Checksum>,
    pub credentials: Option<Credentials>,
    pub traffic: Traffic,
    /// The manager's shared background bucket.
    pub limiter: RateLimiter,
    /// The group's own bucket (its rate limit).
    pub group_limiter: RateLimiter,
    pub cancel: Arc<CancelFlag>,
    pub recorder: Recorder,
}

impl Default for Fetch {
    fn default() -> Self {
        Fetch {
            offset: 0,
            held_ranges: None,
            connections: 1,
            validators: Validators::default(),
            checksum: None,
            credentials: None,
            traffic: Traffic::Foreground,
            limiter: RateLimiter::new(0),
            group_limiter: RateLimiter::new(0),
            cancel: Arc::new(CancelFlag::new()),
            recorder: Recorder::default(),
        }
    }
}

impl Fetch {
    pub fn run(&mut self, t: &NetTransport, url: &str, temp: &Path) -> FetchOutcome {
        let request = FetchRequest {
            url,
            temp_path: temp,
            offset: self.offset,
            held_ranges: self.held_ranges.as_ref(),
            connections: self.connections,
            validators: &self.validators,
            checksum: self.checksum.as_ref(),
            credentials: self.credentials.as_ref(),
            traffic: self.traffic,
            throttle: Throttle::new(self.traffic, &self.group_limiter, &self.limiter),
            cancel: &self.cancel,
        };
        t.fetch(&request, &mut self.recorder)
    }
}

/// Fetches `url` from zero into `temp` with default settings.
pub fn fetch_simple(t: &NetTransport, url: &str, temp: &Path) -> FetchOutcome {
    Fetch::default().run(t, url, temp)
}
