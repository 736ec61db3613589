//! Crash safety (DECISIONS D4, D6, D10; DESIGN "Tests"): a queue served by `qmgr serve` child
//! processes that are killed with SIGKILL 32 times — 12 times in the middle of transfers, 8
//! around the commit of a file (right after the temporary file is closed, or right after the
//! rename, before the store record), 8 right after the queue database or its WAL was written
//! (inotify), 4 while the process starts — and restarted each time.
//!
//! The queue holds two groups: one 48 MiB file arriving at 2 MiB/s (so that every kill lands in
//! a running transfer and progress checkpoints matter) and 400 small files (so that commits and
//! store writes happen every few tens of milliseconds). The server (`qmgr_tests::range_server`)
//! is a correct HTTP/1.1 origin with a fixed strong ETag that counts every byte it sends, by
//! offset, per kill.
//!
//! Two runs: with `max_connections_per_group` 1 every file comes in one stream; with 6 (its
//! default) the small files are fetched six at once and the big file — the only file of its
//! job — in six pieces over six connections (DECISIONS D16); its checkpoints then record the
//! ranges held, which every restart resumes. There every answer is paced at a sixth of its
//! file's rate, so that each group receives as fast as in the first run and the kills land at
//! the same points of the transfers (the small files last through every kill; the big file is
//! still in progress at the last one).
//!
//! Checked:
//! * after the last restart, both groups complete by themselves (no API call), the big file
//!   resuming from its temporary file (a ranged request), the first request within 2 s of the
//!   start (D11: RUNNING groups start within 1 s of opening);
//! * once resumed from its temporary file, the big file is never fetched from zero again, and
//!   no request of a restarted process starts inside what the store held for it at the kill
//!   (the ranges of a file fetched in pieces, else the prefix `bytes_done`); the ranges it asks
//!   for are the core's plan for its gaps, or, when it held a prefix and streamed first
//!   (`rules::segments::probe`), for what that stream left;
//! * every final file is byte-identical (SHA-256) to its source;
//! * no final name ever held partial content: a watcher thread sees every entry of the
//!   destination directory through inotify (any write or creation under a final name is a
//!   failure; a rename onto one must bring the full size) and polls it every 10 ms;
//! * no temporary file is left;
//! * what a kill costs: the big file's temporary file holds at most one checkpoint interval
//!   (1 MiB, DECISIONS D6) plus the chunk being written beyond the offset the next process
//!   resumes from; the server sends again at most one small file of the small group (plus
//!   bytes in flight) per kill, and nothing before the first kill — with one file at a time
//!   (`max_connections_per_group` 1). In the second run a kill may cost, per connection, one
//!   small file and what arrived while fetched files waited for their commit; and the server
//!   sends the big file's bytes again at most one checkpoint interval plus what is in flight
//!   on each of its connections (and on its opening answer, open-ended, which the next process
//!   reads past its piece until it closes the connection) — its temporary file is sparse, so
//!   the server's count is the measure there;
//! * the queue database passes `PRAGMA integrity_check`, and `qmgr serve` stops cleanly on
//!   SIGTERM at the end.
//!
//! The kill schedule comes from a seeded RNG; the seed is printed (rerun with
//! `QMGR_CRASH_SEED=<seed>`). The figures are printed at the end (`--nocapture` shows them).

#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use qmgr_rs::model::{GroupState, HeldRanges};
use qmgr_rs::rules::segments::plan;
use qmgr_rs::{FileSpec, Guid};
use qmgr_tests::inotify::Inotify;
use qmgr_tests::pieces::plans_after_probe;
use qmgr_tests::range_server::{RangeServer, Resource, Served};
use qmgr_tests::{qmgr_bin, sha256_file, stored_held, wait_until};
use sha2::{Digest, Sha256};

/// Size of the big file and the rate it arrives at (each of its answers at its share, with
/// several connections). The kills take 10–20 s, in which the big file gets
/// at most about 30 MiB further (less what each kill loses), so that it is still in progress
/// when the last process starts.
const BIG_SIZE: usize = 48 << 20;
const BIG_RATE: u64 = 2 << 20;
/// Number of small files, their size range and rate (about 65 ms per file with its commit: the
/// kills end well before the last one; with several connections, each answer gets its share).
const SMALL_FILES: usize = 400;
const SMALL_MIN: usize = 4 << 10;
const SMALL_MAX: usize = 96 << 10;
const SMALL_RATE: u64 = 1 << 20;

/// The checkpoint interval in bytes that DECISIONS D6 allows ("at most every 1 MiB or 1 s");
/// at `BIG_RATE` it comes before the 1 s one. (The engine also checkpoints every 250 ms of
/// transfer, for D10, so at this rate a kill normally loses at most about 512 KiB.)
const CHECKPOINT_BYTES: u64 = 1 << 20;
/// Bytes that may be in flight (sent by the server, not yet written to the temporary file)
/// when a process is killed: socket buffers and the transport's channel (250 ms of data at
/// `BIG_RATE`; normally far less, more when the machine is loaded and the client reads late).
const IN_FLIGHT_SLACK: u64 = 512 << 10;
/// Files of one job fetched at once in the second run (option `max_connections_per_group`,
/// its default; DECISIONS D16): so many small files are in flight when a process is killed.
const CONNECTIONS: u64 = 6;
/// How long a fetched file may go unrecorded: the committer's batch window (200 ms, qmgr-core
/// `engine/commit.rs`) plus the commit of a batch on a loaded machine. A kill loses what
/// arrived in that time, on every connection.
const UNRECORDED: Duration = Duration::from_millis(500);

/// The runs take turns: each loads the machine with a paced server and a serving process.
static SERIAL: Mutex<()> = Mutex::new(());
/// Bytes a temporary file may hold beyond its last checkpoint besides the checkpoint interval:
/// the chunk being written when the checkpoint fell due.
const WRITE_SLACK: u64 = qmgr_net::CHUNK_SIZE as u64;
/// Bytes one connection of the big file fetched in pieces may have in flight (sent by the
/// server, lost with the killed process): 250 ms of its answer's rate (`BIG_RATE / 6`, the
/// engine's progress interval on a loaded machine) plus one read of the transport
/// (`qmgr_net::CHUNK_SIZE`) and what the socket buffers hold while a loaded machine keeps the
/// reader waiting.
const PIECE_IN_FLIGHT: u64 = BIG_RATE / CONNECTIONS / 4 + qmgr_net::CHUNK_SIZE as u64 + (128 << 10);
/// The last process must have asked for data within this time after it was started: DECISIONS
/// D11 gives a reopened queue 1 s to start its RUNNING groups, plus starting a debug build of the
/// command on a loaded machine.
const RESTART_LIMIT: Duration = Duration::from_secs(2);

/// How often each kind of moment is chosen (shuffled by the seed).
const KILLS_IN_TRANSFER: usize = 12;
const KILLS_AT_COMMIT: usize = 8;
const KILLS_AT_STORE_WRITE: usize = 8;
const KILLS_AT_STARTUP: usize = 4;

/// Longest wait for a commit or store write to happen before killing anyway.
const TRIGGER_TIMEOUT: Duration = Duration::from_secs(5);
/// Deadline for the groups to complete after the last restart.
const COMPLETE_DEADLINE: Duration = Duration::from_secs(120);

/// SplitMix64: small, seeded, good enough for a schedule.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(len + 8);
        while v.len() < len {
            v.extend_from_slice(&self.next().to_le_bytes());
        }
        v.truncate(len);
        v
    }
}

/// When a kill is aimed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Moment {
    /// A random time (250–1250 ms) after the start: in the middle of transfers.
    Transfer,
    /// Right after a temporary file was closed for writing (end of a fetch, inside the commit
    /// before the rename) or right after a rename onto a final name (before the directory fsync
    /// and the store record), with 0–2 ms of extra delay.
    Commit { after_rename: bool },
    /// Right after the queue database (`queue.sqlite`, `-wal`) was modified, 0–1 ms later.
    StoreWrite,
    /// 0–60 ms after the process started: while it opens the queue and starts the transfers.
    Startup,
}

impl Moment {
    fn name(self) -> &'static str {
        match self {
            Moment::Transfer => "transfer",
            Moment::Commit { after_rename: false } => "commit (temp closed)",
            Moment::Commit { after_rename: true } => "commit (renamed)",
            Moment::StoreWrite => "store write",
            Moment::Startup => "startup",
        }
    }
}

/// One kill, as it happened.
struct KillRecord {
    moment: Moment,
    /// When the process was started.
    started: Instant,
    /// False when the awaited event did not come within `TRIGGER_TIMEOUT`.
    triggered: bool,
    /// Time from the start of the process to the kill.
    after: Duration,
    /// Bytes of the big file's temporary file once the process was dead: what it had written
    /// (its length; the temporary file of a file fetched in pieces is sparse).
    big_held: u64,
    /// What the store held of the big file once the process was dead: the next process
    /// resumes from it.
    big_stored: HeldRanges,
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn is_temporary(name: &str) -> bool {
    name.starts_with('.')
}

/// A `qmgr serve` child process; killed (SIGKILL) and reaped when dropped, so that a failing
/// test leaves no server behind.
struct Serve(Child);

impl Serve {
    /// Starts `qmgr --queue QUEUE serve`, its output appended to `log`.
    fn start(queue: &Path, log: &Path, run: usize) -> Serve {
        let mut f = OpenOptions::new().create(true).append(true).open(log).expect("serve log");
        writeln!(f, "=== run {run} ===").expect("write serve log");
        let err = f.try_clone().expect("clone serve log");
        let child = Command::new(qmgr_bin())
            .arg("--queue")
            .arg(queue)
            .arg("serve")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(f)
            .stderr(err)
            .spawn()
            .expect("spawn qmgr serve");
        Serve(child)
    }

    fn kill(&mut self) {
        self.0.kill().expect("SIGKILL qmgr serve");
        self.0.wait().expect("reap qmgr serve");
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Watches the destination directory for the whole run: every final name must only ever
/// appear by a rename bringing the full size, and is never written or created directly.
struct Watcher {
    stop: Arc<AtomicBool>,
    violations: Arc<Mutex<Vec<String>>>,
    renames: Arc<AtomicU64>,
    polls: Arc<AtomicU64>,
    overflows: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watcher {
    fn start(dir: &Path, sizes: HashMap<String, u64>) -> Watcher {
        let mut ino = Inotify::new().expect("inotify");
        ino.watch(dir, libc::IN_CREATE | libc::IN_MODIFY | libc::IN_CLOSE_WRITE | libc::IN_MOVED_TO)
            .expect("watch destination directory");
        let stop = Arc::new(AtomicBool::new(false));
        let violations = Arc::new(Mutex::new(Vec::new()));
        let renames = Arc::new(AtomicU64::new(0));
        let polls = Arc::new(AtomicU64::new(0));
        let overflows = Arc::new(AtomicU64::new(0));
        let (s, v, r, p, o, dir) =
            (stop.clone(), violations.clone(), renames.clone(), polls.clone(), overflows.clone(), dir.to_path_buf());
        let thread = std::thread::spawn(move || {
            let flag = |what: String| v.lock().unwrap().push(what);
            let check_size = |name: &str, how: &str| match (sizes.get(name), std::fs::metadata(dir.join(name))) {
                (None, _) => flag(format!("{how}: unexpected final name {name:?}")),
                (Some(&want), Ok(m)) if m.len() != want => {
                    flag(format!("{how}: final name {name:?} holds {} bytes, the source has {want}", m.len()))
                }
                _ => {}
            };
            while !s.load(Ordering::SeqCst) {
                for e in ino.read(Duration::from_millis(10)).expect("read inotify") {
                    if e.is(libc::IN_Q_OVERFLOW) {
                        o.fetch_add(1, Ordering::SeqCst);
                        continue;
                    }
                    if e.name.is_empty() || is_temporary(&e.name) {
                        continue;
                    }
                    if e.is(libc::IN_MOVED_TO) {
                        r.fetch_add(1, Ordering::SeqCst);
                        check_size(&e.name, "rename");
                    }
                    if e.is(libc::IN_CREATE | libc::IN_MODIFY | libc::IN_CLOSE_WRITE) {
                        flag(format!("final name {:?} was created or written directly (mask {:#x})", e.name, e.mask));
                    }
                }
                for entry in std::fs::read_dir(&dir).expect("read destination directory").flatten() {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if !is_temporary(&name) {
                        check_size(&name, "poll");
                    }
                }
                p.fetch_add(1, Ordering::SeqCst);
            }
        });
        Watcher { stop, violations, renames, polls, overflows, thread: Some(thread) }
    }

    fn finish(mut self) -> (Vec<String>, u64, u64, u64) {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().unwrap().join().expect("watcher thread");
        let v = self.violations.lock().unwrap().clone();
        (
            v,
            self.renames.load(Ordering::SeqCst),
            self.polls.load(Ordering::SeqCst),
            self.overflows.load(Ordering::SeqCst),
        )
    }
}

/// The inotify watch a triggered moment waits on; armed before the process starts, so that no
/// event of it is missed.
fn arm(moment: Moment, queue: &Path, dest: &Path) -> Option<Inotify> {
    let (dir, mask) = match moment {
        Moment::Commit { .. } => (dest, libc::IN_CLOSE_WRITE | libc::IN_MOVED_TO),
        Moment::StoreWrite => (queue, libc::IN_MODIFY),
        Moment::Transfer | Moment::Startup => return None,
    };
    let mut ino = Inotify::new().expect("inotify");
    ino.watch(dir, mask).expect("inotify watch");
    Some(ino)
}

/// Waits for the moment (for a triggered one, the event on `armed`), then kills the process.
fn kill_at(
    moment: Moment,
    armed: Option<Inotify>,
    child: &mut Serve,
    started: Instant,
    (queue, dest): (&Path, &Path),
    rng: &mut Rng,
) -> KillRecord {
    let mut triggered = true;
    let wait_for = |wanted: &dyn Fn(&qmgr_tests::inotify::Event) -> bool| {
        let mut ino = armed.expect("armed for a triggered moment");
        triggered = ino.wait_for(TRIGGER_TIMEOUT, wanted).expect("read inotify").is_some();
    };
    match moment {
        Moment::Transfer => std::thread::sleep(Duration::from_millis(rng.range(250, 1250))),
        Moment::Startup => std::thread::sleep(Duration::from_millis(rng.range(0, 60))),
        Moment::Commit { after_rename } => {
            wait_for(&|e| {
                if after_rename {
                    e.is(libc::IN_MOVED_TO) && !is_temporary(&e.name)
                } else {
                    e.is(libc::IN_CLOSE_WRITE) && e.name.ends_with(".qmgr-part")
                }
            });
            std::thread::sleep(Duration::from_micros(rng.range(0, 2000)));
        }
        Moment::StoreWrite => {
            // The database and its WAL; not `-shm`, which SQLite also touches when it opens.
            wait_for(&|e| e.name == "queue.sqlite" || e.name == "queue.sqlite-wal");
            std::thread::sleep(Duration::from_micros(rng.range(0, 1000)));
        }
    }
    let after = started.elapsed();
    child.kill();
    KillRecord {
        moment,
        started,
        triggered,
        after,
        big_held: big_temp_len(dest),
        big_stored: stored_held(queue, "/big.bin"),
    }
}

/// Length of the big file's temporary file in `dest` (0 when there is none).
fn big_temp_len(dest: &Path) -> u64 {
    std::fs::read_dir(dest)
        .expect("read destination directory")
        .flatten()
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            is_temporary(&name) && name.contains("big.bin")
        })
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .max()
        .unwrap_or(0)
}

fn median(v: &mut [u64]) -> u64 {
    v.sort_unstable();
    if v.is_empty() {
        0
    } else {
        v[v.len() / 2]
    }
}

fn kib(n: u64) -> String {
    format!("{:.1} KiB", n as f64 / 1024.0)
}

#[test]
fn sigkill_at_any_moment_loses_nothing_and_never_exposes_partial_files() {
    crash_run(1);
}

/// The same with the small group's files fetched six at once (DECISIONS D16): several in
/// flight, fetched ones waiting for their turn to be committed, at every kill.
#[test]
fn sigkill_with_several_files_in_flight_loses_nothing_and_never_exposes_partial_files() {
    crash_run(CONNECTIONS);
}

/// One crash run with the small group fetching `connections` files at once.
fn crash_run(connections: u64) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let build = Instant::now();
    qmgr_bin(); // builds the command (and the library) first: not part of the figures
    eprintln!("building qmgr took {:.1} s", build.elapsed().as_secs_f64());
    let began = Instant::now();
    let seed = std::env::var("QMGR_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
    });
    eprintln!("crash test seed: {seed} (rerun with QMGR_CRASH_SEED={seed})");
    let mut rng = Rng(seed);

    let work = tempfile::tempdir().expect("temporary directory");
    let queue = work.path().join("queue");
    let dest = work.path().join("dest");
    std::fs::create_dir(&dest).expect("destination directory");
    let log = work.path().join("serve.log");

    // The sources.
    let server = RangeServer::start();
    let mut sources: Vec<(String, Vec<u8>)> = vec![("big.bin".into(), rng.bytes(BIG_SIZE))];
    for i in 0..SMALL_FILES {
        let len = rng.range(SMALL_MIN as u64, SMALL_MAX as u64 + 1) as usize;
        sources.push((format!("s{i:03}.bin"), rng.bytes(len)));
    }
    for (i, (name, body)) in sources.iter().enumerate() {
        // Each answer at a share of the rate: the group receives as fast as in one stream.
        let rate = if i == 0 { BIG_RATE } else { SMALL_RATE } / connections;
        server.add(&format!("/{name}"), Resource::new(body.clone()).rate(rate));
    }
    let sizes: HashMap<String, u64> = sources.iter().map(|(n, b)| (n.clone(), b.len() as u64)).collect();
    let digests: HashMap<String, String> = sources.iter().map(|(n, b)| (n.clone(), sha256(b))).collect();
    let total_size: u64 = sizes.values().sum();
    let small_max = sources[1..].iter().map(|(_, b)| b.len() as u64).max().unwrap();
    drop(sources);
    let setup_time = began.elapsed();

    // A short retry delay, so that a transient error (none is expected) cannot stall the test.
    {
        let m = qmgr_rs::open(Some(&queue)).expect("open the queue");
        m.set_option("min_retry_delay_ms", "500").expect("set min_retry_delay_ms");
        m.set_option("max_connections_per_group", &connections.to_string()).expect("set max_connections_per_group");
        // Background groups that do not yield to other traffic on `lo` (DECISIONS D14): other
        // test suites running at the same time must not slow the big file down to a crawl;
        // and only such transfers are fetched in pieces (idle ones use one connection, D16).
        m.set_option("background_mode", "normal").expect("set background_mode");
    }

    let watcher = Watcher::start(&dest, sizes.clone());

    // First server process; the groups are queued by this process while it serves.
    let mut child = Serve::start(&queue, &log, 0);
    let serving = wait_until(Duration::from_secs(30), || {
        std::fs::read_to_string(&log).is_ok_and(|s| s.contains("serving queue"))
    });
    assert!(serving, "qmgr serve did not start:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
    let (big_group, small_group) = {
        let m = qmgr_rs::open(Some(&queue)).expect("open the queue");
        assert!(!m.is_transferring_process(), "the serve process must hold the transfer lock");
        let spec = |name: &str| FileSpec::new(server.url(&format!("/{name}")), dest.join(name).display().to_string());
        let big = m.create_group(Guid::generate()).expect("create big group");
        big.create_job(Guid::generate()).expect("create job").add_files(&[spec("big.bin")]).expect("add big file");
        let small = m.create_group(Guid::generate()).expect("create small group");
        let files: Vec<FileSpec> = (0..SMALL_FILES).map(|i| spec(&format!("s{i:03}.bin"))).collect();
        small.create_job(Guid::generate()).expect("create job").add_files(&files).expect("add small files");
        big.resume().expect("resume big group");
        small.resume().expect("resume small group");
        (big.id(), small.id())
        // The manager is closed here: from now on only `qmgr serve` processes touch the queue.
    };

    // The schedule: the first kill hits the first process mid-transfer; the rest are shuffled.
    let mut moments = Vec::new();
    moments.extend(std::iter::repeat_n(Moment::Transfer, KILLS_IN_TRANSFER - 1));
    moments.extend((0..KILLS_AT_COMMIT).map(|i| Moment::Commit { after_rename: i % 2 == 1 }));
    moments.extend(std::iter::repeat_n(Moment::StoreWrite, KILLS_AT_STORE_WRITE));
    moments.extend(std::iter::repeat_n(Moment::Startup, KILLS_AT_STARTUP));
    for i in (1..moments.len()).rev() {
        let j = rng.range(0, i as u64 + 1) as usize;
        moments.swap(i, j);
    }
    moments.insert(0, Moment::Transfer);

    let mut kills = Vec::new();
    let mut started = Instant::now();
    for (k, &moment) in moments.iter().enumerate() {
        if k > 0 {
            let all_there = sizes.keys().all(|n| dest.join(n).exists());
            assert!(!all_there, "every file was complete after only {k} kills: the sources are too small");
        }
        let armed = arm(moment, &queue, &dest);
        if k > 0 {
            started = Instant::now();
            child = Serve::start(&queue, &log, k);
        }
        let record = kill_at(moment, armed, &mut child, started, (&queue, &dest), &mut rng);
        server.set_epoch(k as u64 + 1);
        kills.push(record);
    }
    let kill_phase = began.elapsed();
    let big_open = !dest.join("big.bin").exists();
    let small_left = sizes.keys().filter(|n| !dest.join(n).exists()).count();
    assert!(big_open, "the big file was complete before the last restart: the sources are too small (seed {seed})");

    // The last process runs to the end, untouched.
    let final_started = Instant::now();
    child = Serve::start(&queue, &log, moments.len());
    // This process opens the queue to follow it only once that process holds the transfer lock
    // (else this one would take the transfers).
    let last_run = format!("=== run {} ===", moments.len());
    let serving = wait_until(Duration::from_secs(30), || {
        std::fs::read_to_string(&log)
            .is_ok_and(|s| s.split_once(&last_run).is_some_and(|(_, tail)| tail.contains("serving queue")))
    });
    assert!(serving, "the last qmgr serve did not start:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
    let m = qmgr_rs::open(Some(&queue)).expect("open the queue");
    let big = m.get_group(big_group).expect("big group");
    let small = m.get_group(small_group).expect("small group");
    let mut states = (GroupState::Running, GroupState::Running);
    let settled = wait_until(COMPLETE_DEADLINE, || {
        states = (big.state().unwrap(), small.state().unwrap());
        states.0 != GroupState::Running && states.1 != GroupState::Running
    });
    let serve_log = std::fs::read_to_string(&log).unwrap_or_default();
    let job_errors = |g: &qmgr_rs::Group| -> Vec<String> {
        g.enum_jobs(0)
            .unwrap()
            .filter_map(|id| g.get_job(id).ok())
            .map(|j| format!("{:?} {:?}", j.status().unwrap(), j.error_message().unwrap()))
            .collect()
    };
    assert!(
        settled && states == (GroupState::Complete, GroupState::Complete),
        "groups did not complete by themselves after the last restart: big {:?} {:?}, small {:?} {:?}\n\
         serve log:\n{serve_log}",
        states.0,
        job_errors(&big),
        states.1,
        job_errors(&small),
    );
    let retries: u32 = [&big, &small]
        .iter()
        .flat_map(|g| g.enum_jobs(0).unwrap().filter_map(|id| g.get_job(id).ok()).collect::<Vec<_>>())
        .map(|j| j.status().unwrap().num_of_retries)
        .sum();
    let total_time = began.elapsed();

    // Every check below records its failure, so that the report (with the seed) is printed first.
    let mut failures: Vec<String> = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            failures.push(what);
        }
    };

    // No final name ever held partial content.
    let (violations, renames, polls, overflows) = watcher.finish();
    check(violations.is_empty(), format!("final names held partial content or were written directly: {violations:#?}"));

    // Every file byte-identical, no temporary file left.
    for (name, want) in &digests {
        check(&sha256_file(&dest.join(name)) == want, format!("{name} differs from its source"));
    }
    let leftovers: Vec<String> = std::fs::read_dir(&dest)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| is_temporary(n))
        .collect();
    check(leftovers.is_empty(), format!("temporary files left after completion: {leftovers:?}"));

    // What was fetched again.
    let stats = server.all_stats();
    for (name, size) in &sizes {
        let s = &stats[&format!("/{name}")];
        check(s.high_water == *size, format!("{name}: the server never sent its end"));
    }
    let sent: u64 = stats.values().map(|s| s.sent).sum();
    let resent_total = sent - total_size;
    let by_epoch = server.resent_by_epoch();
    let before_kills = by_epoch.get(&0).copied().unwrap_or(0);
    check(before_kills == 0, format!("{before_kills} bytes were fetched twice before any kill"));
    let big_stats = &stats["/big.bin"];
    let mut per_kill: Vec<u64> = (1..=kills.len() as u64).map(|e| by_epoch.get(&e).copied().unwrap_or(0)).collect();
    let mut big_per_kill: Vec<u64> =
        (1..=kills.len() as u64).map(|e| big_stats.resent_by_epoch.get(&e).copied().unwrap_or(0)).collect();
    let small_per_kill: Vec<u64> = per_kill.iter().zip(&big_per_kill).map(|(a, b)| a - b).collect();
    let served = server.served();
    // Every restarted process resumes the big file from what the store held at the kill: no
    // request starts inside it, the first asks from its first gap, and the ranges asked for
    // are pieces of the plan for the gaps (DECISIONS D16).
    for (k, kill) in kills.iter().enumerate() {
        let asked: Vec<&Served> = served.iter().filter(|s| s.path == "/big.bin" && s.epoch == k as u64 + 1).collect();
        let held = &kill.big_stored;
        let inside = asked.iter().find(|s| {
            let start = s.range_start.unwrap_or(0);
            held.ranges().iter().any(|&(hs, he)| (hs..he).contains(&start))
        });
        check(inside.is_none(), format!("kill {}: a request inside the ranges held {held}: {inside:?}", k + 1));
        // The opening asks for the first gap: to the next range held, else to the end.
        let gap = held.gaps(BIG_SIZE as u64).first().copied().unwrap_or_default();
        let opening = (gap.0, (gap.1 < BIG_SIZE as u64).then(|| gap.1 - 1));
        let first = asked.first().map(|s| (s.range_start.unwrap_or(0), s.range_end));
        check(
            first.is_none_or(|f| f == opening),
            format!("kill {}: the restart asked first for {first:?}, the store held {held}", k + 1),
        );
        let bounded: Vec<(u64, u64)> =
            asked.iter().skip(1).filter_map(|s| Some((s.range_start.unwrap_or(0), s.range_end? + 1))).collect();
        let planned = if held.is_prefix() {
            // It streamed first, then planned the rest from where that stream stood.
            let first = bounded.iter().min().map_or(0, |r| r.0);
            let plans = plans_after_probe(BIG_SIZE as u64, held.end(), first, connections as usize);
            plans.into_iter().find(|p| bounded.iter().all(|r| p.contains(r))).unwrap_or_default()
        } else {
            plan(BIG_SIZE as u64, held, connections as usize)
        };
        let unplanned: Vec<&&Served> = asked
            .iter()
            .skip(1)
            .filter(|s| s.range_end.is_some_and(|e| !planned.contains(&(s.range_start.unwrap_or(0), e + 1))))
            .collect();
        check(unplanned.is_empty(), format!("kill {}: ranges not planned from {held}: {unplanned:?}", k + 1));
    }
    // What each kill cost the big file on the client's side (DECISIONS D6), when it comes in
    // one stream: the bytes its temporary file held when the process died, less the offset the
    // next process asked for. (The server's count above also holds what sat in socket buffers
    // and in the transport's read-ahead (`qmgr_net::READ_AHEAD`), more while a loaded machine
    // keeps the writer waiting; it is reported, not bounded: median 0.6–0.9 MiB where the
    // client lost 31 KiB.) In pieces, the server's count is bounded: one checkpoint interval
    // plus what each connection and the opening answer had in flight.
    let pieces = plan(BIG_SIZE as u64, &HeldRanges::new(), connections as usize).len() as u64;
    let big_limit = CHECKPOINT_BYTES + (pieces + 1) * PIECE_IN_FLIGHT;
    let big_lost: Vec<u64> = kills
        .iter()
        .enumerate()
        .map(|(k, kill)| {
            let resumed = served.iter().find(|s| s.path == "/big.bin" && s.epoch > k as u64);
            let from = resumed.map_or(0, |s| if s.status == 206 { s.range_start.unwrap_or(0) } else { 0 });
            kill.big_held.saturating_sub(from)
        })
        .collect();
    let small_limit = match connections {
        1 => small_max + IN_FLIGHT_SLACK,
        n => n * (small_max + SMALL_RATE / n * UNRECORDED.as_millis() as u64 / 1000) + IN_FLIGHT_SLACK,
    };
    for (k, (lost, s)) in big_lost.iter().zip(&small_per_kill).enumerate() {
        let kill = &kills[k];
        if pieces > 1 && big_per_kill[k] > big_limit {
            check(
                false,
                format!(
                    "kill {} ({}, {:?} after start): the server sent {} of the big file again (limit {} with {pieces} pieces)",
                    k + 1,
                    kill.moment.name(),
                    kill.after,
                    kib(big_per_kill[k]),
                    kib(big_limit)
                ),
            );
        }
        if pieces == 1 && *lost > CHECKPOINT_BYTES + WRITE_SLACK {
            check(
                false,
                format!(
                    "kill {} ({}, {:?} after start): {} of the big file written but not resumed (limit {})",
                    k + 1,
                    kill.moment.name(),
                    kill.after,
                    kib(*lost),
                    kib(CHECKPOINT_BYTES + WRITE_SLACK)
                ),
            );
        }
        if *s > small_limit {
            check(
                false,
                format!(
                    "kill {} ({}): {} of small files fetched again (limit {} with {connections} connections)",
                    k + 1,
                    kill.moment.name(),
                    kib(*s),
                    kib(small_limit)
                ),
            );
        }
    }
    // Per restarted process: how long after its start it first asked the server for data (the
    // first process started before the groups were queued).
    let first_request: Vec<Option<Duration>> = kills
        .iter()
        .enumerate()
        .map(|(k, kill)| {
            let first = served.iter().find(|s| k > 0 && s.epoch == k as u64);
            first.map(|s| s.at.saturating_duration_since(kill.started))
        })
        .collect();
    let latest_start = first_request.iter().flatten().max().copied().unwrap_or_default();
    let final_first = served
        .iter()
        .find(|s| s.epoch == kills.len() as u64)
        .map(|s| s.at.saturating_duration_since(final_started))
        .unwrap_or(Duration::MAX);
    check(final_first <= RESTART_LIMIT, format!("the last process started transferring only after {final_first:?}"));
    // Once resumed from its temporary file, the big file is never fetched from zero again. A
    // resume is a restarted process's first request for it answered 206 (in pieces, the first
    // process's own ranges are 206 too; a process killed before any range was checkpointed
    // rightly starts the next one from zero).
    let first_resume = served.iter().enumerate().position(|(i, s)| {
        s.path == "/big.bin"
            && s.status == 206
            && s.epoch > 0
            && !served[..i].iter().any(|e| e.path == "/big.bin" && e.epoch == s.epoch)
    });
    if let Some(at) = first_resume {
        let restarts: Vec<_> = served[at..].iter().filter(|s| s.path == "/big.bin" && s.status == 200).collect();
        check(restarts.is_empty(), format!("the big file restarted from zero after a resume: {restarts:#?}"));
    }
    let mut whole: HashMap<&str, usize> = HashMap::new();
    for s in served.iter().filter(|s| s.status == 200) {
        *whole.entry(&s.path).or_default() += 1;
    }
    let fetched_whole_twice = whole.values().filter(|&&n| n > 1).count();
    let resumed = served.iter().filter(|s| s.status == 206).count();
    let unsatisfiable = served.iter().filter(|s| s.status == 416).count();
    let big_from_zero = served.iter().filter(|s| s.path == "/big.bin" && s.status == 200).count();
    let final_epoch = kills.len() as u64;
    let last_big = served.iter().find(|s| s.path == "/big.bin" && s.epoch == final_epoch);
    // It was in progress: the last process continues from the temporary file.
    let start = last_big.and_then(|s| s.range_start);
    check(start.is_some_and(|n| n > 0), format!("the last process did not resume the big file: {last_big:?}"));

    // The last `qmgr serve` did the work: it is still running, and this process (which has the
    // queue open to watch it) never took the transfers over.
    check(matches!(child.0.try_wait(), Ok(None)), "the last qmgr serve died".to_string());
    check(!m.is_transferring_process(), "the test process took the transfers over".to_string());

    // The queue database is intact and the last process stops cleanly.
    drop((big, small, m));
    // Our own child, not reaped yet: the pid is still its own.
    let pid = rustix::process::Pid::from_child(&child.0);
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("SIGTERM qmgr serve");
    let mut exit = None;
    let stopped = wait_until(Duration::from_secs(10), || {
        exit = child.0.try_wait().unwrap();
        exit.is_some()
    });
    check(stopped && exit.unwrap().success(), format!("qmgr serve did not stop cleanly on SIGTERM: {exit:?}"));
    let db = rusqlite::Connection::open(queue.join("queue.sqlite")).expect("open queue.sqlite");
    let integrity: String = db.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("integrity_check");
    check(integrity == "ok", format!("queue database damaged: {integrity}"));

    // The report.
    let mut by_moment: HashMap<&str, (usize, usize)> = HashMap::new();
    for k in &kills {
        let e = by_moment.entry(k.moment.name()).or_default();
        e.0 += 1;
        e.1 += usize::from(k.triggered);
    }
    let mut moment_lines: Vec<String> =
        by_moment.iter().map(|(n, (c, t))| format!("{n}: {c} ({t} on their event)")).collect();
    moment_lines.sort();
    eprintln!("crash test report (seed {seed}, {connections} connections per group):");
    eprintln!("  kills survived: {} — {}", kills.len(), moment_lines.join(", "));
    eprintln!(
        "  data: {} files, {} in total; sent {} (re-sent {} = {:.2}% )",
        sizes.len(),
        kib(total_size),
        kib(sent),
        kib(resent_total),
        100.0 * resent_total as f64 / total_size as f64
    );
    let max_all = per_kill.iter().copied().max().unwrap_or(0);
    let max_big = big_per_kill.iter().copied().max().unwrap_or(0);
    let max_lost = big_lost.iter().copied().max().unwrap_or(0);
    eprintln!(
        "  re-fetched per kill (server's count, read-ahead and socket buffers included): median {} max {} (big file alone: median {} max {})",
        kib(median(&mut per_kill)),
        kib(max_all),
        kib(median(&mut big_per_kill)),
        kib(max_big),
    );
    if pieces == 1 {
        eprintln!(
            "  big file written but not resumed per kill: median {} max {} (limit {})",
            kib(median(&mut big_lost.clone())),
            kib(max_lost),
            kib(CHECKPOINT_BYTES + WRITE_SLACK)
        );
    } else {
        eprintln!(
            "  big file in {pieces} pieces: sent again per kill at most {} (limit {} = checkpoint {} + {} × in flight {})",
            kib(max_big),
            kib(big_limit),
            kib(CHECKPOINT_BYTES),
            pieces + 1,
            kib(PIECE_IN_FLIGHT)
        );
    }
    eprintln!(
        "  answers: {} in all, {resumed} ranged resumes (206), {unsatisfiable} 416, big file from zero {big_from_zero}x; \
         last process resumed the big file at {:?}",
        served.len(),
        last_big.and_then(|s| s.range_start)
    );
    eprintln!(
        "  watcher: {renames} renames onto final names checked, {polls} directory polls, {overflows} inotify overflows"
    );
    eprintln!("  retries recorded by the jobs: {retries}");
    eprintln!(
        "  files fetched whole more than once: {fetched_whole_twice} (killed before their first checkpoint: small files \
         never reach one); renamed onto their final name twice (killed between rename and store record): {}",
        renames.saturating_sub(sizes.len() as u64)
    );
    eprintln!(
        "  restart: first request at most {} ms after a process started ({} ms for the last one)",
        latest_start.as_millis(),
        final_first.as_millis()
    );
    eprintln!("  after the last kill: big file in progress, {small_left} files not yet committed");
    eprintln!(
        "  time: sources {:.1} s, kills {:.1} s, total {:.1} s",
        setup_time.as_secs_f64(),
        kill_phase.as_secs_f64(),
        total_time.as_secs_f64()
    );
    eprintln!(
        "    kill  moment                killed at   first request   big file: lost  re-fetched   stored (ranges)   small files"
    );
    for (k, kill) in kills.iter().enumerate() {
        let first = first_request[k].map_or("-".to_string(), |d| format!("{} ms", d.as_millis()));
        eprintln!(
            "    {:>4}  {:<22} {:>6} ms{}  {:>13}   {:>14} {:>11}   {:>11} ({})   {:>11}",
            k + 1,
            kill.moment.name(),
            kill.after.as_millis(),
            if kill.triggered { " " } else { "*" },
            first,
            if pieces == 1 { kib(big_lost[k]) } else { "-".to_string() },
            kib(big_stats.resent_by_epoch.get(&(k as u64 + 1)).copied().unwrap_or(0)),
            kib(kill.big_stored.total()),
            kill.big_stored.ranges().len(),
            kib(small_per_kill[k])
        );
    }
    let warnings: Vec<&str> = serve_log.lines().filter(|l| l.contains("WARN") || l.contains("ERROR")).collect();
    if !warnings.is_empty() {
        eprintln!("  serve log warnings:\n    {}", warnings.join("\n    "));
    }
    eprintln!("  checks and report: {:.1} s", began.elapsed().as_secs_f64() - total_time.as_secs_f64());
    assert!(failures.is_empty(), "crash test failed (seed {seed}):\n{failures:#?}\nserve log:\n{serve_log}");
}
