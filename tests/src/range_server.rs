//! A small, well-behaved HTTP/1.1 server on `127.0.0.1` that counts what it sends.
//!
//! [`RangeServer`] serves fixed [`Resource`]s the way a correct origin does (`Content-Length`,
//! a strong `ETag`, `Last-Modified`, `Accept-Ranges: bytes`, `Range: bytes=N-` and
//! `Range: bytes=N-M` answered with `206`, `If-Range` honoured, `416` with
//! `Content-Range: bytes */LEN` past the end, keep-alive), optionally paced at a fixed rate per
//! answer — so per connection, like a server that caps each connection (issue #17) — so that a
//! transfer lasts long enough to be interrupted. It never misbehaves: every failure a test sees
//! comes from the client side. A resource may be told to serve no ranges or no validators
//! ([`Resource::no_ranges`], [`Resource::no_validators`]), and may be replaced while answers
//! run ([`RangeServer::add`]): those go on with the bytes they started with.
//!
//! Every body byte written to a socket is counted by its offset in the resource: the server
//! keeps, per path, the ranges of offsets sent so far and counts bytes sent again inside them
//! as *re-sent*, attributed to the current *epoch* — a number the test raises after each thing
//! it does to the client (e.g. each kill), so that re-sent bytes can be told per kill
//! ([`RangeServer::set_epoch`], [`PathStats::resent_by_epoch`]).

use qmgr_rs::model::HeldRanges;
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// `Last-Modified` of every resource.
pub const LAST_MODIFIED: &str = "Mon, 01 Jan 2024 00:00:00 GMT";

/// Largest single `write` of body bytes.
const MAX_PIECE: usize = 64 * 1024;

/// An idle keep-alive connection is closed after this long without a request.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One resource: its bytes, strong ETag, pacing, and whether it serves ranges and validators.
#[derive(Clone, Debug)]
pub struct Resource {
    body: Arc<[u8]>,
    etag: String,
    rate: Option<u64>,
    ranges: bool,
    validators: bool,
}

impl Resource {
    /// `body` served as fast as the client reads, with a strong ETag of its own (unique in the
    /// process, so two resources never share one).
    pub fn new(body: Vec<u8>) -> Resource {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let etag = format!("\"r{}-{}\"", NEXT.fetch_add(1, Ordering::Relaxed), body.len());
        Resource { body: body.into(), etag, rate: None, ranges: true, validators: true }
    }

    /// Serves no ranges: no `Accept-Ranges`, and a `Range` request gets the whole body (`200`).
    pub fn no_ranges(mut self) -> Resource {
        self.ranges = false;
        self
    }

    /// Sends no `ETag` and no `Last-Modified`; an `If-Range` then never matches (the whole
    /// body, `200`).
    pub fn no_validators(mut self) -> Resource {
        self.validators = false;
        self
    }

    /// Paces every answer of this resource at `bytes_per_second` (each answer on its own).
    pub fn rate(mut self, bytes_per_second: u64) -> Resource {
        self.rate = Some(bytes_per_second.max(1));
        self
    }

    /// The bytes served.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The strong ETag, quotes included.
    pub fn etag(&self) -> &str {
        &self.etag
    }
}

/// What the server sent for one path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PathStats {
    /// Body bytes written to sockets, all answers together.
    pub sent: u64,
    /// Highest offset (exclusive) of the resource sent so far.
    pub high_water: u64,
    /// The offsets sent so far (half-open ranges, merged).
    pub sent_ranges: HeldRanges,
    /// Body bytes sent again inside [`PathStats::sent_ranges`], by the epoch they were sent in.
    pub resent_by_epoch: BTreeMap<u64, u64>,
}

impl PathStats {
    /// All re-sent bytes: `sent - sent_ranges.total()`.
    pub fn resent(&self) -> u64 {
        self.resent_by_epoch.values().sum()
    }
}

/// One answer, as logged when its head was sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Served {
    /// The request path (query removed).
    pub path: String,
    /// The epoch when the request arrived.
    pub epoch: u64,
    /// The status answered.
    pub status: u16,
    /// `N` of a `Range: bytes=N-` or `bytes=N-M` request header, if any.
    pub range_start: Option<u64>,
    /// `M` of a `Range: bytes=N-M` request header (the last byte asked for, inclusive), if any.
    pub range_end: Option<u64>,
    /// The `If-Range` request header, if any.
    pub if_range: Option<String>,
    /// Which connection it came on (0, 1, … in accept order).
    pub connection: u64,
    /// When its head had been read.
    pub at: Instant,
}

struct Shared {
    resources: Mutex<HashMap<String, Resource>>,
    /// Requests for each path so far.
    asked: Mutex<HashMap<String, u64>>,
    /// Replacements ([`RangeServer::replace_after`]): the resource, and the number of requests
    /// for the path after which it is served.
    pending: Mutex<HashMap<String, (u64, Resource)>>,
    stats: Mutex<HashMap<String, PathStats>>,
    served: Mutex<Vec<Served>>,
    epoch: AtomicU64,
    connections: AtomicU64,
    stop: AtomicBool,
}

/// The server; dropping it stops accepting (open connections end with their client).
pub struct RangeServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl RangeServer {
    /// Listens on `127.0.0.1` on an ephemeral port, with no resources yet.
    pub fn start() -> RangeServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let shared = Arc::new(Shared {
            resources: Mutex::new(HashMap::new()),
            asked: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
            stats: Mutex::new(HashMap::new()),
            served: Mutex::new(Vec::new()),
            epoch: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        });
        let s = shared.clone();
        let accept = std::thread::Builder::new()
            .name("range-server".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if s.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let id = s.connections.fetch_add(1, Ordering::SeqCst);
                    let s = s.clone();
                    let _ = std::thread::Builder::new()
                        .name(format!("range-conn-{id}"))
                        .spawn(move || serve_connection(&s, stream, id));
                }
            })
            .expect("spawn the accept thread");
        RangeServer { addr, shared, accept: Some(accept) }
    }

    /// Serves `resource` at `path` (e.g. `/big.bin`), replacing what was there: requests
    /// arriving from now on get it; answers being sent go on with the resource they started
    /// with (as a server holding the old file open), counted by offset like any other.
    pub fn add(&self, path: &str, resource: Resource) {
        lock(&self.shared.resources).insert(path.to_string(), resource);
    }

    /// Serves `resource` at `path` from the request after the next `requests` ones for it on
    /// (counted as they arrive): e.g. `1` lets the next request get the current resource and
    /// the ones after it the new one — a change at a precise point of a transfer made of
    /// several requests. Replaces a replacement not yet due.
    pub fn replace_after(&self, path: &str, requests: u64, resource: Resource) {
        let resources = lock(&self.shared.resources);
        let asked = lock(&self.shared.asked).get(path).copied().unwrap_or(0);
        lock(&self.shared.pending).insert(path.to_string(), (asked + requests, resource));
        drop(resources);
    }

    /// The resource served at `path`, if any (a clone: change it and [`RangeServer::add`] it
    /// again, e.g. with another rate).
    pub fn resource(&self, path: &str) -> Option<Resource> {
        lock(&self.shared.resources).get(path).cloned()
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The address listened on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sets the epoch that bytes sent from now on (and requests arriving from now on) count in.
    pub fn set_epoch(&self, epoch: u64) {
        self.shared.epoch.store(epoch, Ordering::SeqCst);
    }

    /// What was sent for `path` (all zero when nothing was).
    pub fn stats(&self, path: &str) -> PathStats {
        lock(&self.shared.stats).get(path).cloned().unwrap_or_default()
    }

    /// What was sent, for every path that was asked for.
    pub fn all_stats(&self) -> HashMap<String, PathStats> {
        lock(&self.shared.stats).clone()
    }

    /// Re-sent bytes of all paths together, by epoch.
    pub fn resent_by_epoch(&self) -> BTreeMap<u64, u64> {
        let mut total = BTreeMap::new();
        for s in lock(&self.shared.stats).values() {
            for (&e, &n) in &s.resent_by_epoch {
                *total.entry(e).or_insert(0) += n;
            }
        }
        total
    }

    /// Every answer so far, in the order their heads were sent.
    pub fn served(&self) -> Vec<Served> {
        lock(&self.shared.served).clone()
    }
}

impl Drop for RangeServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

/// A parsed request head.
struct Head {
    method: String,
    path: String,
    range_start: Option<u64>,
    range_end: Option<u64>,
    if_range: Option<String>,
    close: bool,
}

/// Reads one request head; `None` at the end of the connection or on garbage.
fn read_head(reader: &mut BufReader<TcpStream>) -> Option<Head> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?;
    let path = target.split('?').next().unwrap_or(target).to_string();
    let (mut range_start, mut range_end, mut if_range, mut close) = (None, None, None, false);
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let Some((name, value)) = h.split_once(':') else { continue };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "range" => {
                let range = value.strip_prefix("bytes=").and_then(|r| r.split_once('-'));
                range_start = range.and_then(|(start, _)| start.trim().parse().ok());
                range_end = range.filter(|_| range_start.is_some()).and_then(|(_, end)| end.trim().parse().ok());
            }
            "if-range" => if_range = Some(value.to_string()),
            "connection" => close = value.eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    Some(Head { method, path, range_start, range_end, if_range, close })
}

/// The resource a request for `path` gets, counting the request (and carrying out a
/// replacement that is due).
fn resource_for(shared: &Shared, path: &str) -> Option<Resource> {
    let mut resources = lock(&shared.resources);
    let mut asked = lock(&shared.asked);
    let n = asked.entry(path.to_string()).or_insert(0);
    *n += 1;
    let mut pending = lock(&shared.pending);
    if pending.get(path).is_some_and(|(after, _)| *n > *after) {
        let (_, resource) = pending.remove(path).expect("checked above");
        resources.insert(path.to_string(), resource);
    }
    resources.get(path).cloned()
}

fn serve_connection(shared: &Shared, stream: TcpStream, connection: u64) {
    let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
    let _ = stream.set_nodelay(true);
    let Ok(read_half) = stream.try_clone() else { return };
    let mut reader = BufReader::new(read_half);
    let mut out = stream;
    while let Some(head) = read_head(&mut reader) {
        let (epoch, at) = (shared.epoch.load(Ordering::SeqCst), Instant::now());
        let resource = resource_for(shared, &head.path);
        let log = |status: u16| {
            lock(&shared.served).push(Served {
                path: head.path.clone(),
                epoch,
                status,
                range_start: head.range_start,
                range_end: head.range_end,
                if_range: head.if_range.clone(),
                connection,
                at,
            })
        };
        let Some(res) = resource else {
            log(404);
            let msg = "not found\n";
            let answer = format!("HTTP/1.1 404 Not Found\r\nContent-Length: {}\r\n\r\n{msg}", msg.len());
            if out.write_all(answer.as_bytes()).is_err() {
                return;
            }
            continue;
        };
        let len = res.body.len() as u64;
        // RFC 9110 §13.1.5: a range is served when If-Range names the current version (by its
        // ETag; without validators nothing does). A range whose last byte comes before its first is invalid:
        // the header is ignored (§14.2).
        let range_ok = res.ranges
            && head.if_range.as_deref().is_none_or(|v| res.validators && v == res.etag)
            && head.range_start.zip(head.range_end).is_none_or(|(n, m)| n <= m);
        let mut common = String::new();
        if res.validators {
            common += &format!("ETag: {}\r\nLast-Modified: {LAST_MODIFIED}\r\n", res.etag);
        }
        if res.ranges {
            common += "Accept-Ranges: bytes\r\n";
        }
        common += "Content-Type: application/octet-stream\r\n";
        let (status, start, end) = match head.range_start {
            Some(n) if range_ok && n >= len => {
                log(416);
                let answer = format!(
                    "HTTP/1.1 416 Range Not Satisfiable\r\n{common}Content-Range: bytes */{len}\r\nContent-Length: 0\r\n\r\n"
                );
                if out.write_all(answer.as_bytes()).is_err() {
                    return;
                }
                continue;
            }
            // A last byte past the end means the end (RFC 9110 §14.1.2).
            Some(n) if range_ok => (206, n, head.range_end.map_or(len, |m| m.saturating_add(1).min(len))),
            _ => (200, 0, len),
        };
        log(status);
        let head_text = if status == 206 {
            format!(
                "HTTP/1.1 206 Partial Content\r\n{common}Content-Range: bytes {start}-{}/{len}\r\nContent-Length: {}\r\n\r\n",
                end - 1,
                end - start
            )
        } else {
            format!("HTTP/1.1 200 OK\r\n{common}Content-Length: {len}\r\n\r\n")
        };
        if out.write_all(head_text.as_bytes()).is_err() {
            return;
        }
        if head.method != "HEAD" && !send_body(shared, &mut out, &head.path, &res, start, end) {
            return;
        }
        if head.close {
            return;
        }
    }
}

/// Writes `res.body[start..end]`, paced when the resource has a rate, counting every byte
/// written; false when the client went away.
fn send_body(shared: &Shared, out: &mut TcpStream, path: &str, res: &Resource, start: u64, end: u64) -> bool {
    let body = &res.body[start as usize..end as usize];
    let piece = match res.rate {
        // About 200 writes per second, at least 4 KiB each.
        Some(rate) => ((rate / 200) as usize).clamp(4096, MAX_PIECE),
        None => MAX_PIECE,
    };
    let began = Instant::now();
    let mut done = 0usize;
    while done < body.len() {
        if let Some(rate) = res.rate {
            let due = began + Duration::from_secs_f64(done as f64 / rate as f64);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
        let end = (done + piece).min(body.len());
        match out.write(&body[done..end]) {
            Ok(0) | Err(_) => return false,
            Ok(n) => {
                count(shared, path, start + done as u64, n as u64);
                done += n;
            }
        }
    }
    true
}

fn count(shared: &Shared, path: &str, offset: u64, n: u64) {
    let epoch = shared.epoch.load(Ordering::SeqCst);
    let mut stats = lock(&shared.stats);
    let s = stats.entry(path.to_string()).or_default();
    s.sent += n;
    let before = s.sent_ranges.total();
    s.sent_ranges.add(offset, offset + n);
    let again = n - (s.sent_ranges.total() - before);
    if again > 0 {
        *s.resent_by_epoch.entry(epoch).or_insert(0) += again;
    }
    s.high_water = s.high_water.max(offset + n);
}
