//! [`Inner`]: the parts of a manager that its threads and handles share — the state behind
//! its lock (with the epoch that makes cached answers safe), the store, the clock, the
//! transport and the channels that wake the scheduler and the notifier.

use super::idle::IdleShared;
use super::state::State;
use crate::clock::Clock;
use crate::hresult::{Error, Result, QM_E_SERVICE_UNAVAILABLE};
use crate::rate::RateLimiter;
use crate::rules::runner;
use crate::runner::Launcher;
use crate::store::{Op, Store};
use crate::transport::Transport;
use crossbeam_channel::Sender;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

/// Messages to the scheduler thread.
pub(crate) enum SchedMsg {
    /// Something changed: recompute what runs.
    Kick,
    /// The store may have been changed by another process ([`crate::store::Store::watch`]):
    /// look at it now rather than at the next poll.
    Look,
    /// Stop.
    Shutdown,
}

/// Messages to the notifier thread.
pub(crate) enum NotifyMsg {
    /// Events may be deliverable.
    Kick,
    /// Stop.
    Shutdown,
}

/// The state locked to change it ([`Inner::lock`]). Dropping it counts one more
/// [`Inner::epoch`] before the lock is released, so that no reader can see the change
/// without seeing the new epoch.
pub(crate) struct StateGuard<'a> {
    guard: RwLockWriteGuard<'a, State>,
    epoch: &'a AtomicU64,
}

impl Drop for StateGuard<'_> {
    fn drop(&mut self) {
        // Runs before the field `guard` is dropped, i.e. while the lock is still held.
        self.epoch.fetch_add(1, Ordering::Release);
    }
}

impl std::ops::Deref for StateGuard<'_> {
    type Target = State;
    fn deref(&self) -> &State {
        &self.guard
    }
}

impl std::ops::DerefMut for StateGuard<'_> {
    fn deref_mut(&mut self) -> &mut State {
        &mut self.guard
    }
}

/// The parts of a manager shared by its threads and handles.
pub(crate) struct Inner {
    /// Canonical queue directory (identity of the manager); empty for an in-memory queue.
    pub dir: PathBuf,
    /// Read-mostly: getters (`GetStatus`, `GetProgress`…) take it shared, so that threads
    /// reading the queue do not wait for each other.
    pub state: RwLock<State>,
    /// Counts the sections that held the state lock to change it, each counted just before
    /// it ends ([`StateGuard`]), and the wake-ups of [`Inner::notify_changed`]: a value read
    /// from the state is still current while this has not moved (the `GetStatus` cache of a
    /// group handle), and `wait` sleeps only while it has not (with `waiters` and `changed`).
    pub epoch: AtomicU64,
    pub waiters: Mutex<()>,
    /// Signalled on every group state change (for `wait`).
    pub changed: Condvar,
    pub store: Mutex<Box<dyn Store>>,
    /// The time of the queue's rules (retry delays, timeouts, back-offs, active time).
    pub clock: Arc<dyn Clock>,
    pub transport: Arc<dyn Transport>,
    pub rate: RateLimiter,
    /// The idle-bandwidth thread's shared part (DECISIONS D14).
    pub idle: IdleShared,
    pub sched_tx: Sender<SchedMsg>,
    pub notify_tx: Sender<NotifyMsg>,
    /// Starts the background runner when the rules ask for one (DECISIONS D13); unset for a
    /// queue opened without one (tests, in-memory queues).
    pub launcher: OnceLock<Arc<dyn Launcher>>,
    /// Why the last attempt to start a runner failed, until a status-reading call reports it.
    pub runner_warning: Mutex<Option<String>>,
    /// `runner_warning` is set (checked without its lock on the `GetStatus` path).
    pub has_runner_warning: AtomicBool,
}

impl Inner {
    /// Starts a background runner if the rules say so ([`runner::should_autostart`]): after a
    /// call that left transferable work (`work` true), or after looking for it (`work` false:
    /// opening a queue). Call without the state lock: it may start a process. A failure is
    /// logged and kept for the next status-reading call (DECISIONS D13).
    pub fn autostart(&self, work: bool) {
        let Some(launcher) = self.launcher.get() else { return };
        let (option, work) = {
            let st = self.read();
            (st.options.autostart, work || st.has_work())
        };
        let env = std::env::var("QMGR_AUTOSTART").ok();
        if !runner::should_autostart(option, env.as_deref(), work) {
            return;
        }
        if let Err(e) = launcher.ensure_runner() {
            log::warn!("no background runner for {}: {}", self.dir.display(), e.message);
            *self.runner_warning.lock().unwrap_or_else(|e| e.into_inner()) = Some(e.message);
            self.has_runner_warning.store(true, Ordering::Release);
        }
    }

    /// Takes the warning of a failed runner start, if any (DECISIONS D13). Called by every
    /// `GetStatus` of the C API: without a warning it only reads the flag, so that threads
    /// polling status share no written cache line (issue #6 scaling).
    pub fn take_runner_warning(&self) -> Option<String> {
        if !self.has_runner_warning.load(Ordering::Acquire) || !self.has_runner_warning.swap(false, Ordering::AcqRel) {
            return None;
        }
        self.runner_warning.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// The state, first brought up to date with what other processes changed in the store
    /// (DECISIONS D10): methods that change the queue decide on the current queue, not on a
    /// copy up to 250 ms old. One `changed_by_others` check (cheap) when nothing changed.
    pub fn lock_current(&self) -> StateGuard<'_> {
        let mut st = self.lock();
        self.reload_if_changed(&mut st, false);
        st
    }

    /// Reloads the queue into `st` when another process changed the store, or always with
    /// `force`; returns whether it did. Failures are logged: the in-memory copy stays and the
    /// next look retries.
    pub fn reload_if_changed(&self, st: &mut State, force: bool) -> bool {
        let mut store = self.store.lock().unwrap_or_else(|e| e.into_inner());
        let changed = force
            || store.changed_by_others().unwrap_or_else(|e| {
                log::warn!("checking the queue for changes: {e}");
                false
            });
        if !changed {
            return false;
        }
        match store.load_changes() {
            Ok(loaded) => {
                drop(store);
                let vanished = st.load_image(loaded, self.now());
                // Temporary files of groups another process cancelled: a worker here stops
                // and deletes its own; the others are deleted now.
                for p in vanished {
                    self.transport.discard(&p);
                }
                self.notify_changed();
                self.kick_notifier();
                // What was loaded may start or stop transfers; the scheduler must look even when
                // this reload ran on another thread (a method, a runner's look for work) and so
                // consumed the change its own poll would have seen.
                self.kick_scheduler();
                true
            }
            Err(e) => {
                log::warn!("reloading the queue: {e}");
                false
            }
        }
    }

    /// The engine clock's current instant.
    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// The state, to change it.
    pub fn lock(&self) -> StateGuard<'_> {
        StateGuard { guard: self.state.write().unwrap_or_else(|e| e.into_inner()), epoch: &self.epoch }
    }

    /// The state, to read it (shared with other readers).
    pub fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes the threads in `wait` after a state change. May be called with the state lock
    /// held or not: a waiter never holds `waiters` while taking the state lock.
    pub fn notify_changed(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        drop(self.waiters.lock().unwrap_or_else(|e| e.into_inner()));
        self.changed.notify_all();
    }

    /// Applies `ops` to the store atomically (call with the state lock held, so memory and
    /// store change together).
    pub fn persist(&self, ops: &[Op]) -> Result<()> {
        let mut store = self.store.lock().unwrap_or_else(|e| e.into_inner());
        store.apply(ops)
    }

    /// Persists without the state lock (progress checkpoints); failures are logged: a lost
    /// checkpoint only means re-fetching those bytes.
    pub fn checkpoint(&self, op: Op) {
        if let Err(e) = self.persist(std::slice::from_ref(&op)) {
            log::warn!("progress checkpoint not saved: {e}");
        }
    }

    /// Deletes temporary files of cancelled work (registered in [`State::discarding`] by the
    /// cancel), then lets the transfers that were waiting for those names start.
    pub fn discard_temps(&self, paths: Vec<PathBuf>) {
        if paths.is_empty() {
            return;
        }
        for p in &paths {
            self.transport.discard(p);
        }
        let mut st = self.lock();
        for p in &paths {
            st.discarding.remove(p);
        }
        drop(st);
        self.kick_scheduler();
    }

    pub fn kick_scheduler(&self) {
        let _ = self.sched_tx.send(SchedMsg::Kick);
    }

    pub fn kick_notifier(&self) {
        let _ = self.notify_tx.send(NotifyMsg::Kick);
    }
}

/// Maps a store failure while opening to `QM_E_SERVICE_UNAVAILABLE`.
pub(crate) fn unavailable(e: Error) -> Error {
    if e.hr == QM_E_SERVICE_UNAVAILABLE {
        e
    } else {
        Error::new(QM_E_SERVICE_UNAVAILABLE, e.message)
    }
}
