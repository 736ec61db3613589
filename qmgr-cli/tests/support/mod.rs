//! Test support: a tiny HTTP/1.1 server on 127.0.0.1 and a runner for the `qmgr` binary.
//!
//! Routes (NAME is a key of the bodies given to [`TestServer::start`]):
//!
//! * `/files/NAME`: the body; `Range: bytes=N-` answers 206 (416 past the end).
//! * `/slow/NAME`: as `/files/NAME`, but a request without `Range` trickles the body
//!   (64 KiB every 50 ms), so that a download can be interrupted half-way.
//! * `/flaky/NAME`: 503 on the first request, then as `/files/NAME`.
//! * `/disposition/NAME`: as `/files/NAME`, with `Content-Disposition: attachment;
//!   filename*=UTF-8''..%2Fsaved-NAME; filename="fallback"` (saved as `saved-NAME`).
//! * `/plain/NAME`: as `/files/NAME`, without `ETag` and `Last-Modified`.
//! * anything else: 404.
//!
//! Every answer has `Connection: close` and `Content-Length`; the files' answers have a strong
//! `ETag`, a `Last-Modified` (but `/plain/`) and `Accept-Ranges: bytes`. `HEAD` gets the
//! head of the `GET` answer.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long any single command or wait may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// One request the server received.
#[derive(Clone, Debug)]
pub struct Logged {
    /// Request method.
    pub method: String,
    /// Request path.
    pub path: String,
    /// Start offset of a `Range: bytes=N-` header.
    pub range_start: Option<u64>,
    /// The `If-Range` header.
    pub if_range: Option<String>,
}

struct Shared {
    bodies: HashMap<String, Vec<u8>>,
    log: Mutex<Vec<Logged>>,
    slow_sent: AtomicU64,
    flaky_hits: AtomicU32,
}

/// The server; it runs until the test process ends.
pub struct TestServer {
    port: u16,
    shared: Arc<Shared>,
}

/// `len` bytes of deterministic pseudo-random data.
pub fn body(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (x >> 33) as u8
        })
        .collect()
}

impl TestServer {
    /// Starts serving `bodies` on an ephemeral port of 127.0.0.1.
    pub fn start(bodies: &[(&str, Vec<u8>)]) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            bodies: bodies.iter().map(|(n, b)| (n.to_string(), b.clone())).collect(),
            log: Mutex::new(Vec::new()),
            slow_sent: AtomicU64::new(0),
            flaky_hits: AtomicU32::new(0),
        });
        let s = shared.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let s = s.clone();
                std::thread::spawn(move || {
                    let _ = handle(stream, &s);
                });
            }
        });
        TestServer { port, shared }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<Logged> {
        self.shared.log.lock().unwrap().clone()
    }

    /// Bytes of `/slow/` bodies written to sockets so far.
    pub fn slow_sent(&self) -> u64 {
        self.shared.slow_sent.load(Ordering::SeqCst)
    }
}

fn handle(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut range_start = None;
    let mut if_range = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = h.split_once(':') {
            if name.trim().eq_ignore_ascii_case("if-range") {
                if_range = Some(value.trim().to_string());
            }
            if name.trim().eq_ignore_ascii_case("range") {
                range_start = value
                    .trim()
                    .strip_prefix("bytes=")
                    .and_then(|r| r.strip_suffix('-'))
                    .and_then(|n| n.parse::<u64>().ok());
            }
        }
    }
    shared.log.lock().unwrap().push(Logged { method: method.clone(), path: path.clone(), range_start, if_range });
    let mut out = stream;
    let head = method == "HEAD";
    let (route, name) = match path.trim_start_matches('/').split_once('/') {
        Some((r, n)) => (r.to_string(), n.to_string()),
        None => (String::new(), String::new()),
    };
    let body = shared.bodies.get(&name);
    let body = match (route.as_str(), body) {
        ("files" | "slow" | "disposition" | "plain", Some(b)) => b,
        ("flaky", Some(b)) => {
            if shared.flaky_hits.fetch_add(1, Ordering::SeqCst) == 0 {
                return simple(&mut out, "503 Service Unavailable", b"try again");
            }
            b
        }
        _ => return simple(&mut out, "404 Not Found", b"not found"),
    };
    let len = body.len() as u64;
    let mut common = String::from("Connection: close\r\nAccept-Ranges: bytes\r\n");
    if route != "plain" {
        common.push_str("ETag: \"v1\"\r\nLast-Modified: Mon, 01 Jan 2024 00:00:00 GMT\r\n");
    }
    if route == "disposition" {
        common.push_str(&format!(
            "Content-Disposition: attachment; filename*=UTF-8''..%2Fsaved-{name}; filename=\"fallback\"\r\n"
        ));
    }
    match range_start {
        Some(start) if start >= len => {
            let h = format!(
                "HTTP/1.1 416 Range Not Satisfiable\r\n{common}Content-Range: bytes */{len}\r\nContent-Length: 0\r\n\r\n"
            );
            out.write_all(h.as_bytes())
        }
        Some(start) => {
            let h = format!(
                "HTTP/1.1 206 Partial Content\r\n{common}Content-Range: bytes {start}-{}/{len}\r\nContent-Length: {}\r\n\r\n",
                len - 1,
                len - start
            );
            out.write_all(h.as_bytes())?;
            if !head {
                out.write_all(&body[start as usize..])?;
            }
            Ok(())
        }
        None => {
            let h = format!("HTTP/1.1 200 OK\r\n{common}Content-Length: {len}\r\n\r\n");
            out.write_all(h.as_bytes())?;
            if head {
                return Ok(());
            }
            if route == "slow" {
                for chunk in body.chunks(64 * 1024) {
                    out.write_all(chunk)?;
                    out.flush()?;
                    shared.slow_sent.fetch_add(chunk.len() as u64, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(50));
                }
                Ok(())
            } else {
                out.write_all(body)
            }
        }
    }
}

fn simple(out: &mut TcpStream, status: &str, body: &[u8]) -> std::io::Result<()> {
    let h = format!("HTTP/1.1 {status}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n", body.len());
    out.write_all(h.as_bytes())?;
    out.write_all(body)
}

/// A `qmgr` command with a clean environment: no proxies, `QMGR_HOME` pointing into
/// `scratch` (so that a test that forgets `--queue` never touches the real queue), no
/// `RUST_LOG`, no `COLUMNS` (tables are 80 columns wide unless a test says otherwise).
pub fn qmgr(scratch: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_qmgr"));
    c.args(args);
    for v in [
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
        "no_proxy",
        "NO_PROXY",
        "RUST_LOG",
        "COLUMNS",
    ] {
        c.env_remove(v);
    }
    c.env("QMGR_HOME", scratch.join("default-queue"));
    c.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    c
}

/// Output of a finished command, as text.
#[derive(Debug)]
pub struct Ran {
    /// Exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl From<Output> for Ran {
    fn from(o: Output) -> Ran {
        Ran {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// A started command whose output is collected by threads (no pipe can fill up).
pub struct Running {
    child: std::process::Child,
    out: std::thread::JoinHandle<Vec<u8>>,
    err: std::thread::JoinHandle<Vec<u8>>,
}

fn drain(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = r.read_to_end(&mut v);
        v
    })
}

impl Running {
    /// Starts `cmd` (made by [`qmgr`]).
    pub fn start(mut cmd: Command) -> Running {
        let mut child = cmd.spawn().expect("start qmgr");
        let out = drain(child.stdout.take().unwrap());
        let err = drain(child.stderr.take().unwrap());
        Running { child, out, err }
    }

    /// Starts `cmd` (made by [`qmgr`]) with `input` on its standard input, then end of file.
    pub fn start_with_input(mut cmd: Command, input: &[u8]) -> Running {
        cmd.stdin(Stdio::piped());
        let mut running = Running::start(cmd);
        let mut stdin = running.child.stdin.take().unwrap();
        let input = input.to_vec();
        std::thread::spawn(move || stdin.write_all(&input));
        running
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the end, killing the process and failing the test after [`DEADLINE`].
    pub fn finish(mut self) -> Ran {
        let deadline = Instant::now() + DEADLINE;
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                break s;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let err = self.err.join().unwrap_or_default();
                panic!("qmgr did not finish within {DEADLINE:?}; stderr:\n{}", String::from_utf8_lossy(&err));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Ran {
            code: status.code(),
            stdout: String::from_utf8_lossy(&self.out.join().unwrap_or_default()).into_owned(),
            stderr: String::from_utf8_lossy(&self.err.join().unwrap_or_default()).into_owned(),
        }
    }
}

/// Runs `qmgr args...` to its end (with [`DEADLINE`]).
pub fn run(scratch: &Path, args: &[&str]) -> Ran {
    Running::start(qmgr(scratch, args)).finish()
}

/// Polls `cond` every 20 ms until it holds, failing the test after [`DEADLINE`].
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The first `{xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}` in `text`.
pub fn find_guid(text: &str) -> Option<String> {
    let b = text.as_bytes();
    (0..b.len().saturating_sub(37)).find_map(|i| {
        let cand = text.get(i..i + 38)?;
        let ok = cand.starts_with('{')
            && cand.ends_with('}')
            && cand[1..37].chars().enumerate().all(|(j, c)| {
                if [8, 13, 18, 23].contains(&j) {
                    c == '-'
                } else {
                    c.is_ascii_hexdigit()
                }
            });
        ok.then(|| cand.to_string())
    })
}
