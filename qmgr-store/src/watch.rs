//! Following other processes' writes as they happen (DECISIONS D10): an inotify watch on the
//! queue directory calls the engine back when the database or its write-ahead log is written,
//! so that a change made by another process is seen within milliseconds rather than at the
//! engine's next 200 ms look at [`qmgr_core::store::Store::changed_by_others`], which stays the
//! bound when inotify is not available (and a missed event costs no more than that).
//!
//! Measured (`qmgr get` of one 64 KiB file from nginx on loopback while a runner serves the
//! queue): 210 ms before, one 200 ms look of the runner to see the new group and one of
//! `qmgr get` to see it complete; about 10 ms with the watch, as without a runner.
//!
//! **One inotify instance per process, never closed.** Closing an inotify descriptor waits
//! for the kernel's `synchronize_srcu`: 7–20 ms, measured on every `qmgr get` that closed its
//! queue (12 → 25 ms in half the runs). Removing a watch from an instance does not wait. So
//! every [`Watch`] of the process adds its directory to the one instance, and removes it when
//! dropped; one thread (`qmgr-store-watch`) reads the instance while any watch exists, and is
//! stopped and joined when the last one is dropped, so that no thread outlives the managers
//! (issue #14). It waits in `poll(2)` on the instance and an `eventfd` that stops it; it never
//! wakes otherwise. Every write of a transaction to the WAL (this process's own too) wakes it,
//! and a burst of events is reported once per watch. A callback must be cheap and must not
//! block (the engine's callback sends its scheduler a message).

use rustix::event::{eventfd, EventfdFlags, PollFd, PollFlags};
use rustix::fs::inotify::{self, CreateFlags, WatchFlags};
use rustix::io::Errno;
use std::collections::HashSet;
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The watch thread waits this long after each wake before reading again, so that the events of
/// a burst of transactions are read (and reported) once: a wake per transaction cost 25 % of the
/// time to create 100,000 groups through the C API (286 against 230 µs a group).
const COALESCE: Duration = Duration::from_millis(2);

/// How long after its own transaction a store takes the watch's events for its own
/// ([`OwnWrites`]).
const OWN_WRITE_ECHO: Duration = Duration::from_millis(2);

/// When a store last wrote, so that its watch does not wake the engine for its own
/// transactions: each of them writes the WAL, and a look after each (a scheduler wake-up, the
/// state lock, a `PRAGMA data_version`) cost 16 % of the time to create 100,000 groups through
/// the C API (308 against 266 µs a group). Events during a transaction of this store, or within
/// [`OWN_WRITE_ECHO`] after it, are taken for its own; a write of another process at that
/// moment is then seen at the engine's next look (200 ms, DECISIONS D10's bound).
#[derive(Clone, Debug, Default)]
pub(crate) struct OwnWrites(Arc<AtomicU64>);

/// [`OwnWrites`]'s value while a transaction runs.
const WRITING: u64 = u64::MAX;

fn since_start() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    // +1: 0 means "never wrote".
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64 + 1
}

impl OwnWrites {
    /// A transaction of this store starts; it ends when the guard is dropped.
    pub(crate) fn writing(&self) -> impl Drop {
        self.0.store(WRITING, Ordering::SeqCst);
        Ended(self.0.clone())
    }

    /// Whether a transaction of this store runs or ended within [`OWN_WRITE_ECHO`].
    fn recent(&self) -> bool {
        recent_at(self.0.load(Ordering::SeqCst), since_start())
    }

    /// `changed`, skipped for the events of this store's own writes.
    pub(crate) fn filter(&self, changed: Box<dyn Fn() + Send + Sync>) -> Box<dyn Fn() + Send + Sync> {
        let own = self.clone();
        Box::new(move || {
            if !own.recent() {
                changed();
            }
        })
    }
}

/// [`OwnWrites::recent`] for the recorded value `last` (0: never wrote; [`WRITING`]; else when
/// the last transaction ended) at `now` (both in [`since_start`] nanoseconds).
fn recent_at(last: u64, now: u64) -> bool {
    match last {
        0 => false,
        WRITING => true,
        ended => now.saturating_sub(ended) < OWN_WRITE_ECHO.as_nanos() as u64,
    }
}

/// Records the end of a transaction when dropped.
struct Ended(Arc<AtomicU64>);

impl Drop for Ended {
    fn drop(&mut self) {
        self.0.store(since_start(), Ordering::SeqCst);
    }
}

/// A callback of a watch, shared with the thread.
type Changed = Arc<dyn Fn() + Send + Sync>;

/// One watch of a directory: its inotify watch descriptor, the prefix of the names that
/// count, and what to call.
struct Entry {
    id: u64,
    wd: i32,
    prefix: Vec<u8>,
    changed: Changed,
}

/// The thread reading the instance, and the `eventfd` that stops it.
struct Reader {
    thread: JoinHandle<()>,
    stop: Arc<OwnedFd>,
}

/// The process's inotify instance and its watches.
struct Registry {
    /// Made at the first watch and kept for the process's life.
    instance: Option<Arc<OwnedFd>>,
    entries: Vec<Entry>,
    next_id: u64,
    /// While any watch exists.
    reader: Option<Reader>,
}

static REGISTRY: Mutex<Registry> =
    Mutex::new(Registry { instance: None, entries: Vec::new(), next_id: 0, reader: None });

fn registry() -> MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running watch: dropping it removes it (and stops and joins the thread when it was the
/// last).
pub(crate) struct Watch {
    id: u64,
}

impl Drop for Watch {
    fn drop(&mut self) {
        let mut reg = registry();
        let Some(at) = reg.entries.iter().position(|e| e.id == self.id) else { return };
        let entry = reg.entries.remove(at);
        if let Some(instance) = &reg.instance {
            if !reg.entries.iter().any(|e| e.wd == entry.wd) {
                // Asynchronous in the kernel (the mark is freed later), unlike closing the
                // instance.
                let _ = inotify::remove_watch(instance, entry.wd);
            }
        }
        if !reg.entries.is_empty() {
            return;
        }
        let reader = reg.reader.take();
        drop(reg);
        if let Some(reader) = reader {
            let _ = rustix::io::write(&reader.stop, &1u64.to_ne_bytes());
            let _ = reader.thread.join();
        }
    }
}

/// Watches `dir` for writes to the files whose names start with `db_name` (the database, its
/// `-wal` and `-shm`), calling `changed` after each burst of them. `None` when inotify, the
/// eventfd or the thread is not available (logged; the engine's look every 200 ms remains).
pub(crate) fn watch(dir: &Path, db_name: &str, changed: Box<dyn Fn() + Send + Sync>) -> Option<Watch> {
    let mut reg = registry();
    let added = (|| -> std::io::Result<Watch> {
        let instance = match &reg.instance {
            Some(instance) => instance.clone(),
            None => reg.instance.insert(Arc::new(inotify::init(CreateFlags::NONBLOCK | CreateFlags::CLOEXEC)?)).clone(),
        };
        let mask = WatchFlags::MODIFY | WatchFlags::CLOSE_WRITE | WatchFlags::CREATE | WatchFlags::MOVED_TO;
        let wd = inotify::add_watch(&*instance, dir, mask)?;
        if reg.reader.is_none() {
            let started = (|| {
                let stop = Arc::new(eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?);
                let (i, s) = (instance.clone(), stop.clone());
                let thread = std::thread::Builder::new().name("qmgr-store-watch".into()).spawn(move || run(&i, &s))?;
                Ok::<_, std::io::Error>(Reader { thread, stop })
            })();
            match started {
                Ok(reader) => reg.reader = Some(reader),
                Err(e) => {
                    if !reg.entries.iter().any(|e| e.wd == wd) {
                        let _ = inotify::remove_watch(&*instance, wd);
                    }
                    return Err(e);
                }
            }
        }
        let id = reg.next_id;
        reg.next_id += 1;
        reg.entries.push(Entry { id, wd, prefix: db_name.as_bytes().to_vec(), changed: Arc::from(changed) });
        Ok(Watch { id })
    })();
    added.map_err(|e| log::debug!("not watching {} for other processes' writes: {e}", dir.display())).ok()
}

/// The watch thread: waits for events or `stop`; after each wake calls every watch whose
/// directory saw a write to a file of its prefix. Ends when `stop` is signalled, or on an
/// error of the instance.
fn run(instance: &OwnedFd, stop: &OwnedFd) {
    let mut buf = [MaybeUninit::<u8>::uninit(); 4096];
    loop {
        let mut polled = [PollFd::new(instance, PollFlags::IN), PollFd::new(stop, PollFlags::IN)];
        match rustix::event::poll(&mut polled, None) {
            Ok(_) | Err(Errno::INTR) => {}
            Err(e) => {
                log::debug!("inotify watch ends: {e}");
                return;
            }
        }
        if !polled[1].revents().is_empty() {
            return;
        }
        // (directory, name) of each event, read before the callbacks run.
        let mut seen: HashSet<(i32, Vec<u8>)> = HashSet::new();
        let mut reader = inotify::Reader::new(instance, &mut buf);
        loop {
            match reader.next() {
                Ok(event) => {
                    if let Some(name) = event.file_name() {
                        seen.insert((event.wd(), name.to_bytes().to_vec()));
                    }
                }
                Err(Errno::WOULDBLOCK) => break,
                Err(Errno::INTR) => continue,
                Err(e) => {
                    log::debug!("inotify watch ends: {e}");
                    return;
                }
            }
        }
        let due: Vec<Changed> = registry()
            .entries
            .iter()
            .filter(|e| seen.iter().any(|(wd, name)| *wd == e.wd && name.starts_with(&e.prefix)))
            .map(|e| e.changed.clone())
            .collect();
        for changed in due {
            changed();
        }
        // Let a burst of writes (every transaction writes the WAL several times) gather into
        // the next read: at most one wake per COALESCE, unless stopped.
        let mut stopping = [PollFd::new(stop, PollFlags::IN)];
        let coalesce = rustix::event::Timespec { tv_sec: 0, tv_nsec: COALESCE.as_nanos() as _ };
        if matches!(rustix::event::poll(&mut stopping, Some(&coalesce)), Ok(n) if n > 0) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts calls.
    #[derive(Clone, Default)]
    struct Counter(Arc<AtomicUsize>);

    impl Counter {
        fn get(&self) -> usize {
            self.0.load(Ordering::SeqCst)
        }
        fn bump(&self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn wait_for(what: impl Fn() -> bool) -> bool {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if what() {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        what()
    }

    #[test]
    fn a_store_s_own_writes_are_filtered_out() {
        let own = OwnWrites::default();
        let calls = Counter::default();
        let c = calls.clone();
        let filtered = own.filter(Box::new(move || c.bump()));
        filtered();
        assert_eq!(calls.get(), 1, "never wrote: every event counts");
        {
            let _writing = own.writing();
            filtered();
            assert_eq!(calls.get(), 1, "during its own transaction");
        }
        // Just after it (checked on recorded times: a loaded machine may pause this thread
        // longer than the echo).
        let ended = own.0.load(Ordering::SeqCst);
        assert!(recent_at(ended, ended));
        assert!(recent_at(ended, ended + OWN_WRITE_ECHO.as_nanos() as u64 - 1));
        assert!(!recent_at(ended, ended + OWN_WRITE_ECHO.as_nanos() as u64));
        assert!(wait_for(|| {
            filtered();
            calls.get() == 2
        }));
    }

    #[test]
    fn writes_to_the_database_files_call_back_and_others_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (Counter::default(), Counter::default());
        let (a2, b2) = (a.clone(), b.clone());
        let wa = watch(dir.path(), "queue.sqlite", Box::new(move || a2.bump())).expect("a watch");
        let wb = watch(dir.path(), "other.db", Box::new(move || b2.bump())).expect("a second watch");
        // Events are read in order: once the write to other.db is reported, the one to
        // status.json before it has been read too.
        std::fs::write(dir.path().join("status.json"), b"x").unwrap();
        std::fs::write(dir.path().join("other.db"), b"x").unwrap();
        assert!(wait_for(|| b.get() >= 1), "each watch sees its own files");
        assert_eq!(a.get(), 0, "writes to other files of the directory do not call back");
        std::fs::write(dir.path().join("queue.sqlite-wal"), b"x").unwrap();
        assert!(wait_for(|| a.get() >= 1), "a write to the WAL calls back");
        drop(wb);
        let before = a.get();
        std::fs::write(dir.path().join("queue.sqlite"), b"y").unwrap();
        assert!(wait_for(|| a.get() > before), "the first watch goes on after the second is dropped");
        drop(wa);
        assert!(registry().reader.is_none(), "the thread is joined with the last watch");
        // A new watch after the last one was dropped starts a thread again.
        let c = Counter::default();
        let c2 = c.clone();
        let wc = watch(dir.path(), "queue.sqlite", Box::new(move || c2.bump())).expect("a watch again");
        std::fs::write(dir.path().join("queue.sqlite-wal"), b"z").unwrap();
        assert!(wait_for(|| c.get() >= 1), "watching again works");
        drop(wc);
    }
}
