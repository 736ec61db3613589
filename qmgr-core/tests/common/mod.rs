//! Shared support for the engine tests: a scriptable fake [`Transport`] carrying the tests'
//! [`ManualClock`], a recording [`Callback`], a [`Store`] that outlives its manager, fences that
//! prove what the engine did (and did not do), and small helpers.
//!
//! The fake keeps no data: a temporary file is only its length (the bytes of a remote file are
//! implied by its URL), so transfers of any size are instant unless a test gates them. A gated
//! URL delivers bytes only as the test allows them (`allow`), which keeps a transfer in
//! TRANSFERRING for as long as a test needs and makes progress exact.
//!
//! Time: every manager opened here runs on the [`ManualClock`] of its fake ([`Fake::clock`]).
//! Retry delays, Retry-After, the no-progress timeout, `OnStatus` re-delivery back-off, the
//! checkpoint interval and active transfer time move only when a test advances that clock (or
//! when a script's [`Script::tick`] makes each chunk take time), so every time-based rule is
//! checked at the exact millisecond, without sleeping. What did *not* happen before a deadline
//! is proved with fences: [`fence`] (the notifier has delivered everything deliverable),
//! [`sched_pass`] (the scheduler has made a whole pass) and [`idle_fence`] (no transfer runs or
//! is due). Only real-time limits that are not rules of the queue (a transport stopping,
//! `Group::wait` time-outs, the rate limiter) use the system clock.
#![allow(dead_code)]

use qmgr_core::clock::{Clock, ManualClock};
use qmgr_core::hresult::{E_ACCESSDENIED, E_FAIL, E_INVALIDARG, QM_E_SERVICE_UNAVAILABLE, S_OK};
use qmgr_core::model::{Checksum, HeldRanges, Options, PropId, PropValue, QueueImage, Validators};
use qmgr_core::store::{Loaded, MemStore, Op, Store};
use qmgr_core::transport::{
    CancelFlag, Cause, DigestSource, Failure, FetchObserver, FetchOutcome, FetchRequest, LocalOp, NetworkKind, Traffic,
    Transport,
};
use qmgr_core::{Callback, Error, FileSpec, Group, Guid, HResult, Job, Manager, Result};
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

/// Deadline of every condition wait (real time): generous, so that a loaded machine never
/// fails a test.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// The `min_retry_delay_ms` that [`open`] and [`open_on`] set (its floor).
pub const MIN_RETRY: Duration = Duration::from_millis(100);

/// `n` milliseconds.
pub const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Polls `cond` every 2 ms until it holds; panics with `what` after [`DEADLINE`]. (Waiting for
/// something to happen, never for time to pass: the engine's time is the manual clock.)
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + DEADLINE;
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The error of a failed call, or a panic naming `what` when it succeeded.
pub fn err<T: std::fmt::Debug>(what: &str, r: Result<T>) -> Error {
    match r {
        Ok(v) => panic!("{what}: expected an error, got Ok({v:?})"),
        Err(e) => e,
    }
}

/// The HRESULT of a failed call.
pub fn hr<T: std::fmt::Debug>(r: Result<T>) -> HResult {
    err("call", r).hr
}

pub fn guid() -> Guid {
    Guid::generate()
}

/// An `http://` URL of the fake server.
pub fn url(name: &str) -> String {
    format!("http://fake.test/{name}")
}

/// A destination path (the fake never touches the file system).
pub fn dest(name: &str) -> String {
    format!("/dl/{name}")
}

pub fn spec(name: &str) -> FileSpec {
    FileSpec { url: url(name), local_path: dest(name), size_hint: 0 }
}

/// The server answered HTTP `status`: a cause, which core's table classifies (404 fatal, 503
/// transient…; DECISIONS D5). The message is "HTTP {status}" (no URL named).
pub fn http(status: u16) -> Failure {
    Failure::new(Cause::HttpStatus { status, retry_after: None }, "", "")
}

/// HTTP `status` with a `Retry-After` of `after`.
pub fn http_retry_after(status: u16, after: Duration) -> Failure {
    Failure::new(Cause::HttpStatus { status, retry_after: Some(after) }, "", "")
}

/// The connection was refused (transient, `ERROR_WINHTTP_CANNOT_CONNECT`).
pub fn refused() -> Failure {
    Failure::new(Cause::Network(NetworkKind::Connect), "http://fake.test/", "Connection refused")
}

/// A local file operation failed with `errno` (fatal, its Win32 code).
pub fn local(op: LocalOp, errno: i32, detail: &str) -> Failure {
    Failure::new(Cause::Local { op, errno: Some(errno) }, "/dl/.part", detail)
}

// ---------------------------------------------------------------------------------------------
// Fake transport
// ---------------------------------------------------------------------------------------------

/// What one remote URL does.
#[derive(Clone, Debug)]
pub struct Script {
    /// Size of the remote file in bytes.
    pub size: u64,
    /// Bytes per `on_progress` step.
    pub chunk: u64,
    /// Whether the server reports the size (`Validators::total`).
    pub report_size: bool,
    /// ETag of the current version.
    pub etag: Option<String>,
    /// Last-Modified of the current version.
    pub last_modified: Option<String>,
    /// Whether a request with an offset and matching validators continues from it.
    pub ranges: bool,
    /// Bytes are delivered only as [`Fake::allow`] allows them.
    pub gated: bool,
    /// Each chunk takes this long: the fake advances the manual clock by it before the chunk
    /// (a trickling server, in test time).
    pub tick: Option<Duration>,
    /// Failures of the next attempts, in order: (bytes delivered first, the error).
    pub failures: VecDeque<(u64, Failure)>,
    /// `commit` of this URL's temporary file fails with this error.
    pub commit_error: Option<Failure>,
    /// A cancelled fetch returns only once [`Fake::release_cancelled`] is called (a transport
    /// still stopping, e.g. blocked in a slow write).
    pub hold_cancel: bool,
    /// `commit` of this URL's temporary file waits until [`Fake::release_commit`] (a slow
    /// flush to disk).
    pub hold_commit: bool,
    /// The digest of the remote file: a fetch with a checksum of the same algorithm that
    /// differs ends as a transport ends it, with `Cause::DigestMismatch` (DECISIONS D15).
    pub digest: Option<Checksum>,
    /// Fetched in segments when a request may use more than one connection (DECISIONS D16):
    /// the fake then holds two ranges, `[0, p/2)` and `[size/2, size/2 + p/2)` after `p`
    /// bytes ([`segmented_ranges`]), and reports them with `on_ranges`.
    pub segmented: bool,
}

/// The ranges a segmented fake fetch of `size` bytes holds after `pos` bytes.
pub fn segmented_ranges(size: u64, pos: u64) -> HeldRanges {
    let mut held = HeldRanges::prefix(pos.div_ceil(2));
    held.add(size / 2, size / 2 + pos / 2);
    held
}

impl Script {
    pub fn new(size: u64) -> Script {
        Script {
            size,
            chunk: size.clamp(1, 64 * 1024),
            report_size: true,
            etag: Some("\"v1\"".to_string()),
            last_modified: None,
            ranges: true,
            gated: false,
            tick: None,
            failures: VecDeque::new(),
            commit_error: None,
            hold_cancel: false,
            hold_commit: false,
            digest: None,
            segmented: false,
        }
    }
    pub fn digest(mut self, digest: Checksum) -> Script {
        self.digest = Some(digest);
        self
    }
    pub fn chunk(mut self, chunk: u64) -> Script {
        self.chunk = chunk.max(1);
        self
    }
    pub fn gated(mut self) -> Script {
        self.gated = true;
        self
    }
    pub fn unknown_size(mut self) -> Script {
        self.report_size = false;
        self
    }
    pub fn tick(mut self, d: Duration) -> Script {
        self.tick = Some(d);
        self
    }
    pub fn fail(mut self, after: u64, e: Failure) -> Script {
        self.failures.push_back((after, e));
        self
    }
    pub fn commit_error(mut self, e: Failure) -> Script {
        self.commit_error = Some(e);
        self
    }
    pub fn hold_cancel(mut self) -> Script {
        self.hold_cancel = true;
        self
    }
    pub fn segmented(mut self) -> Script {
        self.segmented = true;
        self
    }
    pub fn hold_commit(mut self) -> Script {
        self.hold_commit = true;
        self
    }
    fn validators(&self) -> Validators {
        Validators {
            etag: self.etag.clone(),
            last_modified: self.last_modified.clone(),
            total: self.report_size.then_some(self.size),
        }
    }
}

/// One `fetch` call as the engine made it.
#[derive(Clone, Debug)]
pub struct Request {
    pub url: String,
    pub temp: PathBuf,
    pub offset: u64,
    /// The ranges held of a file fetched in segments (DECISIONS D16).
    pub held_ranges: Option<HeldRanges>,
    /// Connections the transfer may use (DECISIONS D16).
    pub connections: usize,
    pub validators: Validators,
    pub foreground: bool,
    /// The traffic class the engine chose (DECISIONS D14).
    pub traffic: Traffic,
    pub credentials: Option<(String, String)>,
    /// The file's checksum handed to the transport (DECISIONS D15).
    pub checksum: Option<Checksum>,
    /// The rate the transfer's throttle allowed when it started (bytes/s, 0 = unlimited): the
    /// lowest limit that binds it (`rules::rate::effective`).
    pub rate: u64,
    /// When the engine made the request, on the manual clock.
    pub at: Instant,
}

/// A temporary file: its length, the URL whose bytes it holds and the fetch that created it.
/// A fetch writes only to the file it created: once that file is deleted (unlinked) its bytes
/// go nowhere, and its commit fails.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Temp {
    pub url: String,
    pub len: u64,
    pub owner: usize,
}

/// A committed file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Committed {
    pub url: String,
    pub len: u64,
    pub temp: PathBuf,
}

/// How a fetch ended, as the fake returned it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ended {
    Complete,
    Cancelled,
    Failed,
}

/// What [`Fake::still_running`] learnt from a waiting fetch.
const CANCEL_SEEN: u64 = u64::MAX;

#[derive(Default)]
struct FakeState {
    scripts: HashMap<String, Script>,
    budget: HashMap<String, u64>,
    temps: HashMap<PathBuf, Temp>,
    committed: HashMap<PathBuf, Committed>,
    requests: Vec<Request>,
    ended: Vec<(String, Ended, Instant)>,
    discarded: Vec<PathBuf>,
    active: HashMap<String, usize>,
    released: HashMap<String, usize>,
    running: usize,
    max_running: usize,
    configured: Vec<Options>,
    /// Per URL: (ordinal of its latest fetch, 1-based; the last position the engine's observer
    /// has returned from, `on_start` included).
    observed: HashMap<String, (usize, u64)>,
    /// [`Fake::still_running`] round: the latest one asked, and per URL the latest one its
    /// waiting fetch answered ([`CANCEL_SEEN`] once it saw its cancel flag raised).
    sync_round: u64,
    synced: HashMap<String, u64>,
    /// URLs whose commit has waited for [`Fake::release_commit`].
    commits_held: Vec<String>,
    /// URLs in the order their temporary files were committed.
    commit_order: Vec<String>,
}

/// The scriptable transport. Unknown URLs answer a fatal 404.
///
/// It also carries the test's [`ManualClock`] (request times are read from it) and counts the
/// scheduler's passes (through the store wrapper the `open*` helpers install).
pub struct Fake {
    st: Mutex<FakeState>,
    cv: Condvar,
    clock: Arc<ManualClock>,
    passes: AtomicUsize,
}

/// Decrements the running counters when a fetch ends, however it ends.
struct Running<'a> {
    fake: &'a Fake,
    url: String,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let mut st = self.fake.lock();
        st.running -= 1;
        if let Some(n) = st.active.get_mut(&self.url) {
            *n -= 1;
        }
        drop(st);
        self.fake.cv.notify_all();
    }
}

impl Fake {
    pub fn new() -> Arc<Fake> {
        Arc::new(Fake {
            st: Mutex::new(FakeState::default()),
            cv: Condvar::new(),
            clock: ManualClock::new(),
            passes: AtomicUsize::new(0),
        })
    }

    fn lock(&self) -> MutexGuard<'_, FakeState> {
        self.st.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The manual clock of the managers opened on this fake.
    pub fn clock(&self) -> Arc<ManualClock> {
        self.clock.clone()
    }

    /// The manual clock's current instant.
    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// Scheduler passes so far (each calls `Store::changed_by_others` once).
    pub fn passes(&self) -> usize {
        self.passes.load(Ordering::SeqCst)
    }

    /// Serves `url` with `script` (replacing an earlier script).
    pub fn serve(&self, url: &str, script: Script) {
        self.lock().scripts.insert(url.to_string(), script);
        self.cv.notify_all();
    }

    /// Changes the script of `url` in place.
    pub fn edit(&self, url: &str, f: impl FnOnce(&mut Script)) {
        let mut st = self.lock();
        f(st.scripts.get_mut(url).expect("script"));
        drop(st);
        self.cv.notify_all();
    }

    /// Lets `n` more bytes of a gated URL through.
    pub fn allow(&self, url: &str, n: u64) {
        *self.lock().budget.entry(url.to_string()).or_default() += n;
        self.cv.notify_all();
    }

    /// Lets the held commit of `url`'s temporary file complete.
    pub fn release_commit(&self, url: &str) {
        self.edit(url, |s| s.hold_commit = false);
    }

    /// Removes the gate of `url`: the rest flows freely.
    pub fn open_gate(&self, url: &str) {
        self.edit(url, |s| s.gated = false);
    }

    pub fn requests(&self) -> Vec<Request> {
        self.lock().requests.clone()
    }

    pub fn requests_for(&self, url: &str) -> Vec<Request> {
        self.lock().requests.iter().filter(|r| r.url == url).cloned().collect()
    }

    /// URLs in the order of their first request.
    pub fn first_request_order(&self) -> Vec<String> {
        let mut seen = Vec::new();
        for r in self.lock().requests.iter() {
            if !seen.contains(&r.url) {
                seen.push(r.url.clone());
            }
        }
        seen
    }

    /// How the fetches of `url` ended, in order.
    pub fn endings(&self, url: &str) -> Vec<Ended> {
        self.lock().ended.iter().filter(|(u, ..)| u == url).map(|(_, e, _)| e.clone()).collect()
    }

    /// Fetches of `url` running now.
    pub fn active(&self, url: &str) -> usize {
        self.lock().active.get(url).copied().unwrap_or(0)
    }

    /// Fetches running now, over all URLs.
    pub fn running(&self) -> usize {
        self.lock().running
    }

    /// Most fetches that ran at once.
    pub fn max_running(&self) -> usize {
        self.lock().max_running
    }

    pub fn temp(&self, path: &Path) -> Option<Temp> {
        self.lock().temps.get(path).cloned()
    }

    /// The temporary files holding bytes of `url`.
    pub fn temps_of(&self, url: &str) -> Vec<(PathBuf, Temp)> {
        self.lock().temps.iter().filter(|(_, t)| t.url == url).map(|(p, t)| (p.clone(), t.clone())).collect()
    }

    /// Lets every held cancelled fetch of `url` return.
    pub fn release_cancelled(&self, url: &str) {
        *self.lock().released.entry(url.to_string()).or_default() += 1;
        self.cv.notify_all();
    }

    /// URLs in the order their temporary files were committed (renamed onto the final name).
    pub fn commit_order(&self) -> Vec<String> {
        self.lock().commit_order.clone()
    }

    pub fn committed(&self, final_path: &str) -> Option<Committed> {
        self.lock().committed.get(Path::new(final_path)).cloned()
    }

    pub fn discarded(&self) -> Vec<PathBuf> {
        self.lock().discarded.clone()
    }

    pub fn configured(&self) -> Vec<Options> {
        self.lock().configured.clone()
    }

    /// Waits until a fetch of `url` is running and has delivered at least `pos` bytes of the
    /// file (counting the resumed offset).
    pub fn wait_pos(&self, url: &str, pos: u64) {
        wait_until(&format!("{url} is transferring at {pos} bytes"), || {
            let st = self.lock();
            st.active.get(url).copied().unwrap_or(0) > 0 && st.temps.values().any(|t| t.url == url && t.len >= pos)
        });
    }

    /// Waits until `url` has been requested `n` times.
    pub fn wait_requests(&self, url: &str, n: usize) {
        wait_until(&format!("{url} is requested {n} times"), || self.requests_for(url).len() >= n);
    }

    /// Waits until the engine has taken in the start of the `n`-th fetch of `url` (its
    /// observer returned from `on_start`: sizes known, active time counting).
    pub fn wait_started(&self, url: &str, n: usize) {
        wait_until(&format!("fetch {n} of {url} has started"), || {
            self.lock().observed.get(url).is_some_and(|&(ord, _)| ord >= n)
        });
    }

    /// Waits until the engine has taken in `pos` bytes of the latest fetch of `url` (its
    /// observer returned from `on_progress(pos)`: mirrored, thresholds and checkpoint decided).
    pub fn wait_reported(&self, url: &str, pos: u64) {
        wait_until(&format!("the engine took in {pos} bytes of {url}"), || {
            let st = self.lock();
            let latest = st.requests.iter().filter(|r| r.url == url).count();
            st.observed.get(url).is_some_and(|&(ord, p)| ord == latest && p >= pos)
        });
    }

    /// Waits until the commit of `url`'s temporary file is held ([`Script::hold_commit`]).
    pub fn wait_commit_held(&self, url: &str) {
        wait_until(&format!("the commit of {url} is held"), || self.lock().commits_held.iter().any(|u| u == url));
    }

    /// Waits until no fetch of `url` runs.
    pub fn wait_idle(&self, url: &str) {
        wait_until(&format!("no fetch of {url} runs"), || self.active(url) == 0);
    }

    /// Asks the running fetch of `url` — gated and waiting for bytes — to look at its cancel
    /// flag once more: true when it did and found it lowered (the engine has not asked it to
    /// stop), false when it found it raised. Deterministic: it waits for the fetch's answer.
    pub fn still_running(&self, url: &str) -> bool {
        let end = Instant::now() + DEADLINE;
        let mut st = self.lock();
        st.sync_round += 1;
        let round = st.sync_round;
        self.cv.notify_all();
        loop {
            match st.synced.get(url) {
                Some(&CANCEL_SEEN) => return false,
                Some(&r) if r >= round => return true,
                _ => {}
            }
            assert!(Instant::now() < end, "no waiting fetch of {url} answered");
            st = self.cv.wait_timeout(st, Duration::from_millis(5)).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    /// Takes up to `want` bytes of `url`, waiting for the gate; `None` when cancelled. While
    /// it waits, `heartbeat` runs every poll (outside the fake's lock), as a real transport
    /// reports a stalled transfer (`FetchObserver::on_progress` contract).
    fn take(&self, url: &str, want: u64, cancel: &CancelFlag, heartbeat: &mut dyn FnMut()) -> Option<u64> {
        let mut st = self.lock();
        loop {
            if cancel.is_cancelled() {
                st.synced.insert(url.to_string(), CANCEL_SEEN);
                self.cv.notify_all();
                return None;
            }
            let gated = st.scripts.get(url).is_some_and(|s| s.gated);
            if !gated {
                return Some(want);
            }
            let budget = st.budget.entry(url.to_string()).or_default();
            if *budget > 0 {
                let n = want.min(*budget);
                *budget -= n;
                return Some(n);
            }
            // Waiting: answer the latest `still_running` round (the cancel flag is lowered).
            let round = st.sync_round;
            if st.synced.insert(url.to_string(), round) != Some(round) {
                self.cv.notify_all();
            }
            // Real-time poll of the cancel flag, as a transport does (the flag has no waker).
            st = self.cv.wait_timeout(st, Duration::from_millis(5)).unwrap_or_else(|e| e.into_inner()).0;
            drop(st);
            heartbeat();
            st = self.lock();
        }
    }

    /// A cancelled fetch: returns at once, or when released for a `hold_cancel` script.
    fn cancelled(&self, url: &str, hold: bool) -> FetchOutcome {
        if hold {
            let mut st = self.lock();
            let end = Instant::now() + DEADLINE;
            while st.released.get(url).copied().unwrap_or(0) == 0 && Instant::now() < end {
                st = self.cv.wait_timeout(st, Duration::from_millis(5)).unwrap_or_else(|e| e.into_inner()).0;
            }
        }
        self.end(url, Ended::Cancelled, FetchOutcome::Cancelled)
    }

    fn end(&self, url: &str, how: Ended, outcome: FetchOutcome) -> FetchOutcome {
        let now = self.clock.now();
        self.lock().ended.push((url.to_string(), how, now));
        outcome
    }

    /// Records that the engine's observer returned from the call for position `pos` of fetch
    /// `ord` of `url`.
    fn observed(&self, url: &str, ord: usize, pos: u64) {
        self.lock().observed.insert(url.to_string(), (ord, pos));
        self.cv.notify_all();
    }
}

impl Transport for Fake {
    fn configure(&self, options: &Options) -> Result<()> {
        self.lock().configured.push(options.clone());
        Ok(())
    }

    fn check_option(&self, name: &str, value: &str) -> Result<()> {
        if name == "ca_file" && !value.is_empty() && value != "/ok.pem" {
            return Err(Error::new(E_INVALIDARG, format!("option ca_file: {value} is not readable")));
        }
        Ok(())
    }

    fn check_url(&self, url: &str, protocol: u32) -> Result<()> {
        let ok = match protocol {
            1 => url.starts_with("http://") || url.starts_with("https://"),
            3 => url.starts_with("file://"),
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(Error::new(E_INVALIDARG, format!("URL {url} does not belong to protocol {protocol}")))
        }
    }

    fn check_destination(&self, local_path: &str) -> Result<()> {
        if local_path.starts_with("/missing/") {
            return Err(Error::new(E_INVALIDARG, format!("directory of {local_path} does not exist")));
        }
        if local_path.starts_with("/readonly/") {
            return Err(Error::new(E_ACCESSDENIED, format!("directory of {local_path} is not writable")));
        }
        Ok(())
    }

    fn fetch(&self, req: &FetchRequest<'_>, observer: &mut dyn FetchObserver) -> FetchOutcome {
        let url = req.url.to_string();
        let temp = req.temp_path.to_path_buf();
        let mut st = self.lock();
        let id = st.requests.len();
        st.requests.push(Request {
            url: url.clone(),
            temp: temp.clone(),
            offset: req.offset,
            held_ranges: req.held_ranges.cloned(),
            connections: req.connections,
            validators: req.validators.clone(),
            foreground: req.traffic == Traffic::Foreground,
            traffic: req.traffic,
            credentials: req.credentials.map(|c| (c.user.clone(), c.password.clone())),
            checksum: req.checksum.cloned(),
            rate: req.throttle.rate().unwrap_or(0),
            at: self.clock.now(),
        });
        let ord = st.requests.iter().filter(|r| r.url == url).count();
        st.synced.remove(&url);
        st.running += 1;
        st.max_running = st.max_running.max(st.running);
        *st.active.entry(url.clone()).or_default() += 1;
        let _running = Running { fake: self, url: url.clone() };
        let Some(script) = st.scripts.get_mut(&url) else {
            drop(st);
            return self.end(&url, Ended::Failed, FetchOutcome::Failed(http(404)));
        };
        let failure = script.failures.pop_front();
        let script = script.clone();
        let validators = script.validators();
        // The transport truncates the temporary file to the offset, then continues from it
        // only when the server honours the range and the validators still match.
        let held = st.temps.get(&temp).map_or(0, |t| t.len).min(req.offset);
        let same = req.validators.etag == validators.etag && req.validators.last_modified == validators.last_modified;
        let start = if script.ranges && req.offset > 0 && held == req.offset && same { req.offset } else { 0 };
        if let Some((0, e)) = &failure {
            // Failed before any answer was accepted (connection refused, 404…).
            let e = e.clone();
            drop(st);
            return self.end(&url, Ended::Failed, FetchOutcome::Failed(e));
        }
        st.temps.insert(temp.clone(), Temp { url: url.clone(), len: start, owner: id });
        drop(st);
        observer.on_start(start, &validators);
        self.observed(&url, ord, start);
        let mut pos = start;
        let mut sent = 0u64;
        while pos < script.size {
            let mut want = script.chunk.min(script.size - pos);
            if let Some((after, _)) = &failure {
                want = want.min(after - sent);
            }
            if let Some(d) = script.tick {
                self.clock.advance(d);
            }
            let Some(n) = self.take(&url, want, req.cancel, &mut || observer.on_progress(pos)) else {
                return self.cancelled(&url, script.hold_cancel);
            };
            pos += n;
            sent += n;
            if let Some(t) = self.lock().temps.get_mut(&temp).filter(|t| t.owner == id) {
                t.len = pos;
            }
            if script.segmented && req.connections > 1 {
                observer.on_ranges(&segmented_ranges(script.size, pos));
            }
            observer.on_progress(pos);
            self.observed(&url, ord, pos);
            if let Some((after, e)) = &failure {
                if sent >= *after {
                    return self.end(&url, Ended::Failed, FetchOutcome::Failed(e.clone()));
                }
            }
            if req.cancel.is_cancelled() {
                return self.cancelled(&url, script.hold_cancel);
            }
        }
        if let Some((_, e)) = failure {
            return self.end(&url, Ended::Failed, FetchOutcome::Failed(e));
        }
        if let (Some(expected), Some(actual)) = (req.checksum, &script.digest) {
            if expected.algorithm() == actual.algorithm() && expected != actual {
                let (expected, actual) = (expected.clone(), actual.digest().to_vec());
                let cause = Cause::DigestMismatch { source: DigestSource::Checksum, expected, actual };
                return self.end(&url, Ended::Failed, FetchOutcome::Failed(Failure::new(cause, &url, "")));
            }
        }
        self.end(&url, Ended::Complete, FetchOutcome::Complete { bytes: script.size, validators })
    }

    fn commit(
        &self,
        temp_path: &Path,
        final_path: &Path,
        _last_modified: Option<&str>,
    ) -> std::result::Result<(), Failure> {
        let mut st = self.lock();
        let Some(t) = st.temps.get(temp_path).cloned() else {
            return Err(local(LocalOp::OpenTemp, 2, "temporary file missing"));
        };
        while st.scripts.get(&t.url).is_some_and(|s| s.hold_commit) {
            if !st.commits_held.contains(&t.url) {
                st.commits_held.push(t.url.clone());
                self.cv.notify_all();
            }
            st = self.cv.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        if let Some(e) = st.scripts.get(&t.url).and_then(|s| s.commit_error.clone()) {
            return Err(e);
        }
        st.temps.remove(temp_path);
        st.commit_order.push(t.url.clone());
        st.committed
            .insert(final_path.to_path_buf(), Committed { url: t.url, len: t.len, temp: temp_path.to_path_buf() });
        Ok(())
    }

    fn discard(&self, temp_path: &Path) {
        let mut st = self.lock();
        st.temps.remove(temp_path);
        st.discarded.push(temp_path.to_path_buf());
    }
}

// ---------------------------------------------------------------------------------------------
// Stores
// ---------------------------------------------------------------------------------------------

/// A [`MemStore`] shared between managers (reopen), with a switch that makes writes fail.
#[derive(Clone, Default)]
pub struct SharedStore {
    mem: Arc<Mutex<MemStore>>,
    pub fail_writes: Arc<AtomicBool>,
}

impl SharedStore {
    pub fn new() -> SharedStore {
        SharedStore::default()
    }
    /// What the store holds now.
    pub fn image(&self) -> QueueImage {
        self.mem.lock().unwrap().load().unwrap()
    }
}

impl Store for SharedStore {
    fn load(&mut self) -> Result<QueueImage> {
        self.mem.lock().unwrap().load()
    }
    fn apply(&mut self, ops: &[Op]) -> Result<()> {
        if self.fail_writes.load(Ordering::SeqCst) {
            return Err(Error::new(QM_E_SERVICE_UNAVAILABLE, "store: disk full (test)"));
        }
        self.mem.lock().unwrap().apply(ops)
    }
    fn try_lock_transfers(&mut self) -> Result<bool> {
        Ok(true)
    }
}

/// Wraps a manager's store to count the scheduler's passes into its fake: every pass asks the
/// store once whether others changed the queue, with the manager's state locked.
struct PassCounter {
    store: Box<dyn Store>,
    fake: Arc<Fake>,
}

impl Store for PassCounter {
    fn load(&mut self) -> Result<QueueImage> {
        self.store.load()
    }
    fn apply(&mut self, ops: &[Op]) -> Result<()> {
        self.store.apply(ops)
    }
    fn try_lock_transfers(&mut self) -> Result<bool> {
        self.store.try_lock_transfers()
    }
    fn changed_by_others(&mut self) -> Result<bool> {
        self.fake.passes.fetch_add(1, Ordering::SeqCst);
        self.store.changed_by_others()
    }
    fn load_changes(&mut self) -> Result<Loaded> {
        self.store.load_changes()
    }
}

// ---------------------------------------------------------------------------------------------
// Manager helpers
// ---------------------------------------------------------------------------------------------

/// A manager on an in-memory store and a fake transport (with its manual clock), retrying
/// after [`MIN_RETRY`] (the floor).
pub fn open() -> (Manager, Arc<Fake>) {
    let fake = Fake::new();
    let mgr = open_on(Box::new(MemStore::new()), &fake);
    (mgr, fake)
}

/// A manager on `store` and `fake` (with its manual clock), retrying after [`MIN_RETRY`].
pub fn open_on(store: Box<dyn Store>, fake: &Arc<Fake>) -> Manager {
    let mgr = open_plain(store, fake);
    mgr.set_option("min_retry_delay_ms", &MIN_RETRY.as_millis().to_string()).expect("min_retry_delay_ms");
    mgr
}

/// A manager on `store` and `fake` (with its manual clock), with the store's options as they
/// are (the defaults for a new store).
pub fn open_plain(store: Box<dyn Store>, fake: &Arc<Fake>) -> Manager {
    let store = Box::new(PassCounter { store, fake: fake.clone() });
    Manager::open_with_clock(Path::new(""), store, fake.clone(), fake.clock()).expect("open")
}

/// Lets one group transfer at a time (what [`idle_fence`] needs).
pub fn one_slot(mgr: &Manager) {
    mgr.set_option("max_active_groups", "1").expect("max_active_groups");
}

/// Fetches one file of a group at a time, as before DECISIONS D16 (for tests about something
/// else that count requests or rely on their order).
pub fn sequential(mgr: &Manager) {
    mgr.set_option("max_connections_per_group", "1").expect("max_connections_per_group");
}

/// A suspended group with one job holding `files` (each served by `fake` with its script).
pub fn group_with(mgr: &Manager, fake: &Fake, files: Vec<(&str, Script)>) -> (Group, Job) {
    let g = mgr.create_group(guid()).expect("create group");
    let j = add_job(&g, fake, files);
    (g, j)
}

/// A new job of `g` holding `files` (each served by `fake` with its script).
pub fn add_job(g: &Group, fake: &Fake, files: Vec<(&str, Script)>) -> Job {
    let j = g.create_job(guid()).expect("create job");
    let specs: Vec<FileSpec> = files
        .into_iter()
        .map(|(name, script)| {
            fake.serve(&url(name), script);
            spec(name)
        })
        .collect();
    j.add_files(&specs).expect("add files");
    j
}

/// Waits until the group leaves RUNNING, asserting it did within [`DEADLINE`]; returns the
/// status word.
pub fn settle(g: &Group) -> u32 {
    let (done, word) = g.wait(Some(DEADLINE)).expect("wait");
    assert!(done, "group still running after {DEADLINE:?} (status {word:#x})");
    word
}

/// Waits until `j` has counted `n` failed attempts: the last failure is recorded and, when it
/// was transient, its retry scheduled (from the clock's current time).
pub fn wait_retries(j: &Job, n: u32) {
    wait_until(&format!("{n} failed attempts are counted"), || j.status().unwrap().num_of_retries >= n);
}

// ---------------------------------------------------------------------------------------------
// Fences: proofs of what the engine has done (and not done) at the clock's current time
// ---------------------------------------------------------------------------------------------

/// Proof that the scheduler has made a whole pass that started after this call: it saw the
/// queue and the clock as they are now, and whatever it decided (starting a transfer, asking
/// one to stop) is done. Kicks it with a zero advance of the clock, waits for the pass to ask
/// the store for changes (done with the state locked), then takes the state lock itself.
pub fn sched_pass(mgr: &Manager, fake: &Fake) {
    let before = fake.passes();
    fake.clock.advance(Duration::ZERO);
    wait_until("the scheduler makes a pass", || fake.passes() > before);
    mgr.get_option("max_active_groups").expect("the state lock");
}

/// Proof that, at the clock's current time, no transfer runs and none is due: with one slot
/// ([`one_slot`]), a fresh group ranked last (priority low, created last) runs only once no
/// other group holds the slot and no other group is ready to run. Returns once it completed
/// (it is then cancelled). Whatever a test expects not to have started yet at this time
/// (a retry before its delay) would have had to run first, so its absence is then certain;
/// and every transfer that was stopping has ended.
pub fn idle_fence(mgr: &Manager, fake: &Fake) {
    assert_eq!(mgr.get_option("max_active_groups").unwrap(), "1", "idle_fence needs one_slot");
    let name = format!("idle-fence-{}", guid());
    let (g, _) = group_with(mgr, fake, vec![(&name, Script::new(1))]);
    g.set_prop(PropId::Priority, PropValue::Int(2)).unwrap();
    g.resume().unwrap();
    assert_eq!(settle(&g), 0x140, "the idle fence transfers");
    g.cancel().unwrap();
}

/// Checks that the next attempt of `name` comes exactly `delay` after its last one: advances
/// the clock to 1 ms before, proves with [`idle_fence`] that nothing started, then advances the
/// last millisecond and waits for the attempt. The last attempt must have failed already
/// ([`wait_retries`]); the manager needs [`one_slot`].
pub fn expect_retry_after(mgr: &Manager, fake: &Fake, name: &str, delay: Duration) {
    let before = fake.requests_for(&url(name));
    let last = before.last().expect("an earlier attempt").at;
    let due = last + delay;
    let now = fake.now();
    assert!(due > now, "the retry of {name} is due in the future ({delay:?} after the last attempt)");
    fake.clock.advance(due - now - ms(1));
    idle_fence(mgr, fake);
    assert_eq!(fake.requests_for(&url(name)).len(), before.len(), "{name} retried before {delay:?}");
    fake.clock.advance(ms(1));
    fake.wait_requests(&url(name), before.len() + 1);
    let at = fake.requests_for(&url(name))[before.len()].at;
    assert_eq!(at - last, delay, "{name} retried {:?} after its last attempt", at - last);
}

// ---------------------------------------------------------------------------------------------
// Recording callback
// ---------------------------------------------------------------------------------------------

/// One callback call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    Status { group: Guid, job: Option<Guid>, file_index: u32, status: u32, retries: u32, win32: u32, transport: u32 },
    Progress { kind: u32, group: Guid, job: Option<Guid>, file_index: u32, value: u32 },
    ProgressEx { kind: u32, group: Guid, job: Option<Guid>, file_index: u32, value: u32, bytes: Vec<u8> },
}

impl Call {
    pub fn is_status(&self) -> bool {
        matches!(self, Call::Status { .. })
    }
    pub fn group(&self) -> Guid {
        match self {
            Call::Status { group, .. } | Call::Progress { group, .. } | Call::ProgressEx { group, .. } => *group,
        }
    }
}

/// Hook run inside `on_status` (after recording), returning its answer.
pub type StatusHook = Box<dyn FnMut(&Group, Option<&Job>, &Call) -> HResult + Send>;

/// What a recording callback saw, shared with the test (which keeps it after the callback is
/// dropped).
#[derive(Default)]
pub struct Log {
    /// The clock whose time each call records ([`Log::clocked`]).
    clock: Option<Arc<ManualClock>>,
    calls: Mutex<Vec<(Option<Instant>, ThreadId, Call)>>,
    /// Answers of the next `on_status` calls (then `S_OK`).
    pub status_answers: Mutex<VecDeque<HResult>>,
    /// Answer of every progress call.
    pub progress_answer: Mutex<HResult>,
    pub hook: Mutex<Option<StatusHook>>,
    /// Recorders dropped (each drop is a `release`).
    pub drops: AtomicUsize,
    /// Calls running now, and the most that ever ran at once.
    inside: AtomicUsize,
    pub max_inside: AtomicUsize,
}

impl Log {
    pub fn new() -> Arc<Log> {
        Arc::new(Log::default())
    }

    /// A log that records the time of each call on `clock` ([`Log::times`]).
    pub fn clocked(clock: &Arc<ManualClock>) -> Arc<Log> {
        Arc::new(Log { clock: Some(clock.clone()), ..Log::default() })
    }

    /// A new callback object recording into this log.
    pub fn recorder(self: &Arc<Log>) -> Arc<dyn Callback> {
        Arc::new(Recorder { log: self.clone() })
    }

    pub fn set_hook(&self, hook: impl FnMut(&Group, Option<&Job>, &Call) -> HResult + Send + 'static) {
        *self.hook.lock().unwrap() = Some(Box::new(hook));
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().iter().map(|(_, _, c)| c.clone()).collect()
    }

    /// The clock time of each call (a [`Log::clocked`] log).
    pub fn times(&self) -> Vec<Instant> {
        self.calls.lock().unwrap().iter().map(|(t, _, _)| t.expect("a clocked log")).collect()
    }

    /// The thread of each call.
    pub fn threads(&self) -> Vec<ThreadId> {
        self.calls.lock().unwrap().iter().map(|(_, t, _)| *t).collect()
    }

    pub fn statuses(&self) -> Vec<Call> {
        self.calls().into_iter().filter(Call::is_status).collect()
    }

    pub fn statuses_of(&self, g: Guid) -> Vec<Call> {
        self.statuses().into_iter().filter(|c| c.group() == g).collect()
    }

    pub fn progress(&self) -> Vec<Call> {
        self.calls().into_iter().filter(|c| !c.is_status()).collect()
    }

    pub fn drops(&self) -> usize {
        self.drops.load(Ordering::SeqCst)
    }

    /// Waits until the log holds at least `n` calls matching `pred`; returns them.
    pub fn wait_for(&self, what: &str, n: usize, pred: impl Fn(&Call) -> bool) -> Vec<Call> {
        wait_until(what, || self.calls().iter().filter(|c| pred(c)).count() >= n);
        self.calls().into_iter().filter(|c| pred(c)).collect()
    }

    fn record(&self, call: Call) {
        let at = self.clock.as_ref().map(|c| c.now());
        self.calls.lock().unwrap().push((at, std::thread::current().id(), call));
    }

    fn enter(&self) {
        let n = self.inside.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_inside.fetch_max(n, Ordering::SeqCst);
    }

    fn leave(&self) {
        self.inside.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A callback object: records every call into its [`Log`]; its drop counts one release.
pub struct Recorder {
    log: Arc<Log>,
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.log.drops.fetch_add(1, Ordering::SeqCst);
    }
}

impl Callback for Recorder {
    fn on_status(
        &self,
        group: &Group,
        job: Option<&Job>,
        file_index: u32,
        status: u32,
        num_of_retries: u32,
        win32_result: u32,
        transport_result: u32,
    ) -> HResult {
        self.log.enter();
        let call = Call::Status {
            group: group.id(),
            job: job.map(Job::id),
            file_index,
            status,
            retries: num_of_retries,
            win32: win32_result,
            transport: transport_result,
        };
        self.log.record(call.clone());
        let mut answer = self.log.status_answers.lock().unwrap().pop_front().unwrap_or(S_OK);
        if let Some(hook) = self.log.hook.lock().unwrap().as_mut() {
            answer = hook(group, job, &call);
        }
        self.log.leave();
        answer
    }

    fn on_progress(&self, kind: u32, group: &Group, job: Option<&Job>, file_index: u32, value: u32) -> HResult {
        self.log.enter();
        self.log.record(Call::Progress { kind, group: group.id(), job: job.map(Job::id), file_index, value });
        self.log.leave();
        *self.log.progress_answer.lock().unwrap()
    }

    fn on_progress_ex(
        &self,
        kind: u32,
        group: &Group,
        job: Option<&Job>,
        file_index: u32,
        value: u32,
        bytes: &[u8],
    ) -> HResult {
        self.log.enter();
        self.log.record(Call::ProgressEx {
            kind,
            group: group.id(),
            job: job.map(Job::id),
            file_index,
            value,
            bytes: bytes.to_vec(),
        });
        self.log.leave();
        *self.log.progress_answer.lock().unwrap()
    }
}

/// Proof that every notification deliverable at the clock's current time has been delivered,
/// and every earlier answer recorded (a refusal's re-delivery time is set): the notifier
/// delivers one at a time in event order over all groups, so once a fresh group's fatal error
/// reaches its own log, every earlier deliverable event has been delivered too (to whichever
/// callback) and settled. The fence group is cancelled afterwards. It needs a free transfer
/// slot.
pub fn fence(mgr: &Manager, fake: &Fake) {
    let log = Log::new();
    let name = format!("fence-{}", guid());
    let (g, _) = group_with(mgr, fake, vec![(&name, Script::new(10).fail(0, http(410)))]);
    g.set_callback(Some(log.recorder())).unwrap();
    g.resume().unwrap();
    let id = g.id();
    log.wait_for("the fence notification", 1, |c| c.is_status() && c.group() == id);
    g.cancel().unwrap();
}

/// Parses the 28-byte D9 record.
pub fn parse_record(b: &[u8]) -> (u32, u64, u64, u32, u32) {
    assert_eq!(b.len(), 28, "OnProgressEx record length");
    let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap());
    let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap());
    (u32_at(0), u64_at(4), u64_at(12), u32_at(20), u32_at(24))
}

/// A hook answer that keeps an event coming back.
pub const REFUSE: HResult = E_FAIL;
