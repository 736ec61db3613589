//! Test helpers: a tiny scripted HTTP/1.1 server on 127.0.0.1 (thread per connection,
//! ephemeral port), a recording observer, and fetch shortcuts.
#![allow(dead_code)]

use qmgr_core::model::{Options, Validators};
use qmgr_core::rate::RateLimiter;
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
                std::thread::spawn(move || match tls {
                    None => serve(stream, &*h, &l, &s),
                    Some(config) => {
                        let Ok(conn) = rustls::ServerConnection::new(config) else {
                            return;
                        };
                        serve(rustls::StreamOwned::new(conn, stream), &*h, &l, &s)
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

fn serve<S: Read + Write>(stream: S, handler: &Handler, log: &Mutex<Vec<Request>>, stop: &AtomicBool) {
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
        if !write_reply(reader.get_mut(), &reply, stop) {
            // Dropping the stream closes the connection.
            return;
        }
    }
}

/// Writes `reply`; returns whether the connection may be kept.
fn write_reply(out: &mut impl Write, r: &Reply, stop: &AtomicBool) -> bool {
    let mut head = format!("HTTP/1.1 {} Scripted\r\n", r.status);
    for (k, v) in &r.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    let has_length = r.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-length"));
    match r.mode {
        Mode::Chunked => head.push_str("Transfer-Encoding: chunked\r\n"),
        _ if !has_length => head.push_str(&format!("Content-Length: {}\r\n", r.body.len())),
        _ => {}
    }
    head.push_str("\r\n");
    if out.write_all(head.as_bytes()).is_err() {
        return false;
    }
    let ok = match r.mode {
        Mode::Full => out.write_all(&r.body).is_ok(),
        Mode::Chunked => {
            for c in r.body.chunks(4096) {
                if out.write_all(format!("{:x}\r\n", c.len()).as_bytes()).is_err()
                    || out.write_all(c).is_err()
                    || out.write_all(b"\r\n").is_err()
                {
                    return false;
                }
            }
            out.write_all(b"0\r\n\r\n").is_ok()
        }
        Mode::Short(n) => {
            let _ = out.write_all(&r.body[..n.min(r.body.len())]);
            let _ = out.flush();
            return false;
        }
        Mode::Stall(n) => {
            let _ = out.write_all(&r.body[..n.min(r.body.len())]);
            let _ = out.flush();
            let deadline = Instant::now() + Duration::from_secs(20);
            // The server simulates a stalled peer: it holds the connection, silent.
            while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            return false;
        }
    };
    ok && out.flush().is_ok()
}

/// A handler serving `body` like a static file with `etag`: honours `Range: bytes=N-` and
/// `If-Range` (206 / 416), else 200.
pub fn static_file(body: Vec<u8>, etag: &'static str) -> impl Fn(&Request, usize) -> Reply + Send + Sync + 'static {
    move |req, _| {
        let len = body.len();
        let base = |r: Reply| r.header("ETag", etag).header("Accept-Ranges", "bytes");
        let range_ok = req.header("if-range").is_none_or(|v| v == etag);
        if let (Some(range), true) = (req.header("range"), range_ok) {
            let start: usize = range.trim_start_matches("bytes=").trim_end_matches('-').parse().unwrap();
            if start >= len {
                return base(Reply::new(416)).header("Content-Range", format!("bytes */{len}"));
            }
            return base(Reply::new(206))
                .header("Content-Range", format!("bytes {start}-{}/{len}", len - 1))
                .body(body[start..].to_vec());
        }
        base(Reply::new(200)).body(body.clone())
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
    pub cancel_after: Option<(u64, Arc<CancelFlag>)>,
}

impl FetchObserver for Recorder {
    fn on_start(&mut self, start: u64, validators: &Validators) {
        self.starts.push((start, validators.clone()));
    }
    fn on_progress(&mut self, bytes_done: u64) {
        if let Some(last) = self.progress.last() {
            assert!(bytes_done >= *last, "progress went back from {last} to {bytes_done}");
        }
        self.progress.push(bytes_done);
        if let Some((n, flag)) = &self.cancel_after {
            if bytes_done >= *n {
                flag.cancel();
            }
        }
    }
}

/// Everything a fetch needs except the URL and the temporary file.
pub struct Fetch {
    pub offset: u64,
    pub validators: Validators,
    pub credentials: Option<Credentials>,
    pub traffic: Traffic,
    pub limiter: RateLimiter,
    pub cancel: Arc<CancelFlag>,
    pub recorder: Recorder,
}

impl Default for Fetch {
    fn default() -> Self {
        Fetch {
            offset: 0,
            validators: Validators::default(),
            credentials: None,
            traffic: Traffic::Foreground,
            limiter: RateLimiter::new(0),
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
            validators: &self.validators,
            credentials: self.credentials.as_ref(),
            traffic: self.traffic,
            rate_limiter: &self.limiter,
            cancel: &self.cancel,
        };
        t.fetch(&request, &mut self.recorder)
    }
}

/// Fetches `url` from zero into `temp` with default settings.
pub fn fetch_simple(t: &NetTransport, url: &str, temp: &Path) -> FetchOutcome {
    Fetch::default().run(t, url, temp)
}
