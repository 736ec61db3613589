//! [`Manager`] (`IBackgroundCopyQMgr`): opening a queue (its threads, the per-process
//! registry), shutting it down, groups and queue options.

use super::enums::{GroupEnum, GuidEnum};
use super::group::Group;
use super::idle::{self, IdleShared};
use super::inner::{unavailable, Inner, NotifyMsg, SchedMsg};
use super::job::Job;
use super::state::{GroupEntry, State};
use super::{notify as notifier, scheduler};
use crate::clock::{Clock, SystemClock};
use crate::guid::Guid;
use crate::hresult::{Error, Result};
use crate::model::{check_url, BackgroundStatus, GroupProps, GroupRecord, GroupState, Options};
use crate::rate::RateLimiter;
use crate::rules::classify::classify;
use crate::rules::runner;
use crate::runner::Launcher;
use crate::store::{Loaded, Op, Store};
#[cfg(doc)]
use crate::transport::TransferError;
use crate::transport::{Probe, Transport};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Condvar, Mutex, OnceLock, RwLock, Weak};
use std::thread::JoinHandle;

/// What keeps a manager running; its drop (the last reference) shuts the manager down.
pub(crate) struct Shared {
    pub inner: Arc<Inner>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// The store's watch of other processes' writes ([`Store::watch`]), if any: dropped (its
    /// thread joined) at shutdown.
    watch: Mutex<Option<Box<dyn Send>>>,
}

/// Managers opened with [`Manager::open_shared`], by canonical directory.
static REGISTRY: Mutex<Vec<(PathBuf, Weak<Shared>)>> = Mutex::new(Vec::new());

impl Drop for Shared {
    fn drop(&mut self) {
        let inner = &self.inner;
        let (workers, callbacks) = {
            let mut st = inner.lock();
            st.shutting_down = true;
            let mut callbacks = Vec::new();
            for g in st.groups.values_mut() {
                if let Some(w) = &g.worker {
                    w.cancel.cancel();
                }
                callbacks.extend(g.callback.take());
            }
            (std::mem::take(&mut st.workers), callbacks)
        };
        drop(self.watch.lock().unwrap_or_else(|e| e.into_inner()).take());
        let _ = inner.sched_tx.send(SchedMsg::Shutdown);
        let _ = inner.notify_tx.send(NotifyMsg::Shutdown);
        inner.idle.stop();
        let me = std::thread::current().id();
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        for h in threads.into_iter().chain(workers) {
            if h.thread().id() != me {
                let _ = h.join();
            }
        }
        // No transfer runs now: the transport's own threads (network helpers) can end too.
        inner.transport.shutdown();
        inner.notify_changed();
        // Each callback's release runs here, after the notifier stopped (DECISIONS D12).
        drop(callbacks);
        let mut reg = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
        let this = self as *const Shared;
        reg.retain(|(_, w)| w.strong_count() > 0 && w.as_ptr() != this);
    }
}

/// A queue manager (`IBackgroundCopyQMgr`): the entry point. Cloning gives another
/// reference to the same manager; the last reference dropped stops its threads after
/// in-flight transfers are checkpointed.
#[derive(Clone)]
pub struct Manager {
    pub(super) shared: Arc<Shared>,
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager").field("dir", &self.shared.inner.dir).finish()
    }
}

impl Manager {
    /// Opens a queue on `store`, transferring through `transport`. Groups that were RUNNING
    /// continue by themselves from their temporary files (DECISIONS D6). `dir` names the
    /// queue in messages (empty for an in-memory queue). The transport serves this manager
    /// only: the last reference dropped joins the manager's threads and then calls
    /// [`Transport::shutdown`], so that no thread of the library outlives it (issue #14).
    ///
    /// Errors: `QM_E_SERVICE_UNAVAILABLE` when the store cannot be loaded; the transport's
    /// error when it refuses the stored options.
    pub fn open(dir: &Path, store: Box<dyn Store>, transport: Arc<dyn Transport>) -> Result<Manager> {
        Manager::open_with_clock(dir, store, transport, Arc::new(SystemClock))
    }

    /// [`Manager::open`] with the engine's time taken from `clock` (retry delays, timeouts,
    /// re-delivery back-off, checkpoint interval, active time): tests pass a
    /// [`ManualClock`](crate::clock::ManualClock) to make those rules deterministic.
    ///
    /// Errors: as [`Manager::open`].
    pub fn open_with_clock(
        dir: &Path,
        mut store: Box<dyn Store>,
        transport: Arc<dyn Transport>,
        clock: Arc<dyn Clock>,
    ) -> Result<Manager> {
        let holder = store.try_lock_transfers().map_err(unavailable)?;
        let image = store.load().map_err(unavailable)?;
        let (sched_tx, sched_rx) = crossbeam_channel::unbounded();
        let (notify_tx, notify_rx) = crossbeam_channel::unbounded();
        let mut st = State {
            options: Options::default(),
            groups: Default::default(),
            order: Vec::new(),
            job_owner: Default::default(),
            next_seq: 1,
            next_inc: 0,
            next_event: 0,
            next_worker: 0,
            holder,
            shutting_down: false,
            workers: Vec::new(),
            discarding: Default::default(),
        };
        st.load_image(Loaded::Full(image), clock.now());
        if let Err(e) = transport.configure(&st.options) {
            log::warn!("stored options not usable, using defaults for the transport: {e}");
            transport.configure(&Options::default())?;
        }
        let rate = RateLimiter::new(st.options.background_rate_limit);
        let inner = Arc::new(Inner {
            dir: dir.to_path_buf(),
            state: RwLock::new(st),
            epoch: AtomicU64::new(0),
            waiters: Mutex::new(()),
            changed: Condvar::new(),
            store: Mutex::new(store),
            clock: clock.clone(),
            transport,
            rate,
            idle: IdleShared::default(),
            sched_tx,
            notify_tx,
            launcher: OnceLock::new(),
            runner_warning: Mutex::new(None),
            has_runner_warning: AtomicBool::new(false),
        });
        let look = inner.sched_tx.clone();
        let watch = inner.store.lock().unwrap_or_else(|e| e.into_inner()).watch(Box::new(move || {
            let _ = look.send(SchedMsg::Look);
        }));
        let shared =
            Arc::new(Shared { inner: inner.clone(), threads: Mutex::new(Vec::new()), watch: Mutex::new(watch) });
        let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.to_string())
                .spawn(f)
                .map_err(|e| Error::new(crate::hresult::E_OUTOFMEMORY, format!("cannot start thread {name}: {e}")))
        };
        let i1 = inner.clone();
        let h1 = spawn("qmgr-scheduler", Box::new(move || scheduler::run(i1, sched_rx)))?;
        let (i2, w2) = (inner.clone(), Arc::downgrade(&shared));
        let h2 = spawn("qmgr-notifier", Box::new(move || notifier::run(i2, w2, notify_rx)))?;
        let i3 = inner.clone();
        let h3 = spawn("qmgr-idle", Box::new(move || idle::run(i3)))?;
        shared.threads.lock().unwrap_or_else(|e| e.into_inner()).extend([h1, h2, h3]);
        // A jump of the clock may make retries and re-deliveries due: look again.
        let weak = Arc::downgrade(&inner);
        clock.subscribe(Box::new(move || {
            if let Some(inner) = weak.upgrade() {
                inner.kick_scheduler();
                inner.kick_notifier();
            }
        }));
        Ok(Manager { shared })
    }

    /// Returns the process's manager of `dir` (a canonical path), opening it with `make`
    /// when there is none: one manager per queue directory per process (DECISIONS D6).
    ///
    /// Errors: those of `make` and [`Manager::open`].
    pub fn open_shared(
        dir: &Path,
        make: impl FnOnce() -> Result<(Box<dyn Store>, Arc<dyn Transport>)>,
    ) -> Result<Manager> {
        let mut reg = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(shared) = reg.iter().find(|(d, _)| d == dir).and_then(|(_, w)| w.upgrade()) {
            return Ok(Manager { shared });
        }
        let (store, transport) = make()?;
        let m = Manager::open(dir, store, transport)?;
        reg.retain(|(d, w)| d != dir && w.strong_count() > 0);
        reg.push((dir.to_path_buf(), Arc::downgrade(&m.shared)));
        Ok(m)
    }

    fn inner(&self) -> &Inner {
        &self.shared.inner
    }

    /// The queue directory this manager serves (empty for an in-memory queue).
    pub fn dir(&self) -> &Path {
        &self.shared.inner.dir
    }

    /// True when two values refer to the same manager.
    pub fn same(&self, other: &Manager) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// Gives the manager the [`Launcher`] of its background runner (DECISIONS D13) — the first
    /// one given stays — and starts a runner at once when the queue has RUNNING work and the
    /// rules allow it ("opening a queue that has RUNNING groups"). From then on the manager
    /// starts one after each call that leaves transferable work (resume, a retry scheduled).
    pub fn set_launcher(&self, launcher: Arc<dyn Launcher>) {
        if self.inner().launcher.set(launcher).is_ok() {
            self.inner().autostart(false);
        }
    }

    /// True when the queue, brought up to date with the store first (DECISIONS D10), has
    /// transferable work: a RUNNING group with files left (DECISIONS D13; what a runner with
    /// `--exit-when-idle` waits on).
    pub fn has_work(&self) -> bool {
        self.inner().lock_current().has_work()
    }

    /// True when work queued through this manager starts a background runner: the option
    /// `autostart` is on and `QMGR_AUTOSTART` is not `0` ([`runner::should_autostart`];
    /// DECISIONS D13).
    pub fn autostart_enabled(&self) -> bool {
        let option = self.inner().read().options.autostart;
        runner::should_autostart(option, std::env::var("QMGR_AUTOSTART").ok().as_deref(), true)
    }

    /// Why the last attempt to start a background runner failed, once (DECISIONS D13: reported
    /// by the next status-reading call); `None` when nothing failed since the last call.
    pub fn take_runner_warning(&self) -> Option<String> {
        self.inner().take_runner_warning()
    }

    /// True while this process holds the queue's transfer lock and so runs its transfers
    /// (DECISIONS D10).
    pub fn is_transferring_process(&self) -> bool {
        self.inner().read().holder
    }

    /// What background transfers may use of the network now and why (DECISIONS D14): the
    /// idle-bandwidth controller's decision in the process that runs the queue's transfers —
    /// this one's own when it holds the transfer lock, else the one that process published
    /// within the last 3 s, else "no background transfer". Not a hot path (reads a small file
    /// when another process transfers).
    pub fn background_status(&self) -> BackgroundStatus {
        let inner = self.inner();
        let (holder, options) = {
            let st = inner.read();
            (st.holder, st.options.clone())
        };
        if !holder {
            let mut store = inner.store.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(status) = store.published_background(idle::PUBLISHED_MAX_AGE) {
                return status;
            }
        }
        inner.idle.status(&options)
    }

    /// `CreateGroup`: a new group, SUSPENDED, with default properties, persisted at once.
    ///
    /// Errors: `E_INVALIDARG` for the all-zero GUID or one of a live group (DECISIONS D3);
    /// `QM_E_SERVICE_UNAVAILABLE` when it cannot be persisted.
    pub fn create_group(&self, id: Guid) -> Result<Group> {
        if id.is_nil() {
            return Err(Error::invalid_arg("CreateGroup: group_id is the all-zero GUID"));
        }
        let inner = self.inner();
        let mut st = inner.lock_current();
        if st.groups.contains_key(&id) {
            return Err(Error::invalid_arg(format!("CreateGroup: group_id {id} is already in the queue")));
        }
        let rec = GroupRecord {
            id,
            seq: st.next_seq,
            state: GroupState::Suspended,
            foreground: false,
            props: GroupProps::default(),
        };
        inner.persist(&[Op::CreateGroup(rec.clone())]).map_err(|e| e.context("CreateGroup"))?;
        st.next_seq += 1;
        let inc = st.inc();
        let min_retry = crate::rules::retry::reset_delay(&st.options);
        st.groups.insert(id, GroupEntry::new(inc, rec, Vec::new(), min_retry));
        st.order.push(id);
        Ok(Group::from_parts(self.shared.clone(), id, inc))
    }

    /// `GetGroup`: another reference to a live group.
    ///
    /// Errors: `QM_E_ITEM_NOT_FOUND` when no live group has that GUID.
    pub fn get_group(&self, id: Guid) -> Result<Group> {
        let st = self.inner().read();
        match st.groups.get(&id) {
            Some(g) => Ok(Group::from_parts(self.shared.clone(), id, g.inc)),
            None => Err(Error::not_found(format!("GetGroup: no group {id} in the queue"))),
        }
    }

    /// The job with GUID `id`, wherever it is in the queue (job GUIDs are unique in the queue:
    /// DECISIONS D3), with its group at [`Job::group`].
    ///
    /// Errors: `QM_E_ITEM_NOT_FOUND` when no live job has that GUID.
    pub fn find_job(&self, id: Guid) -> Result<Job> {
        let st = self.inner().read();
        let found = st.job_owner.get(&id).and_then(|gid| {
            let g = st.groups.get(gid)?;
            let j = g.jobs.iter().find(|j| j.rec.id == id)?;
            Some((g.rec.id, g.inc, j.inc))
        });
        match found {
            Some((gid, ginc, jinc)) => Ok(Job::from_parts(self.shared.clone(), gid, ginc, id, jinc)),
            None => Err(Error::not_found(format!("FindJob: no job {id} in the queue"))),
        }
    }

    /// `EnumGroups`: a snapshot of the live groups' GUIDs in creation order.
    ///
    /// Errors: `E_NOTIMPL` when `flags` is not 0 (reference §2.1.3; DECISIONS D1).
    pub fn enum_groups(&self, flags: u32) -> Result<GroupEnum> {
        if flags != 0 {
            return Err(Error::not_impl(format!("EnumGroups: flags {flags:#x} must be 0")));
        }
        let ids = self.inner().read().order.clone();
        Ok(GuidEnum::from_ids(ids))
    }

    /// Sets a queue option (C-API.md "Entry point and options"), persisted for every process.
    ///
    /// Errors: `E_INVALIDARG` for an unknown name or a bad value (DECISIONS D11, D12);
    /// `QM_E_SERVICE_UNAVAILABLE` when it cannot be persisted.
    pub fn set_option(&self, name: &str, value: &str) -> Result<()> {
        let inner = self.inner();
        let mut st = inner.lock_current();
        let mut options = st.options.clone();
        options.set(name, value).map_err(|e| e.context("SetOption"))?;
        inner.transport.check_option(name, value).map_err(|e| e.context("SetOption"))?;
        inner.transport.configure(&options).map_err(|e| e.context("SetOption"))?;
        if let Err(e) = inner.persist(&[Op::SetOption { name: name.to_string(), value: value.to_string() }]) {
            let _ = inner.transport.configure(&st.options);
            return Err(e.context("SetOption"));
        }
        let cap = options.background_rate_limit;
        st.options = options;
        drop(st);
        inner.idle.refresh(&inner.rate, cap);
        inner.kick_scheduler();
        Ok(())
    }

    /// Looks at a remote file without downloading it: its length, validators, whether it
    /// serves byte ranges and the file name its `Content-Disposition` gives ([`Probe`]), asked
    /// through this queue's transport with this queue's options (proxy, TLS roots, timeouts;
    /// [`Transport::probe`]: an HTTP `HEAD`, or the metadata of a `file://` source). No group
    /// is involved and nothing is stored. Rust-only (not in the C ABI): `qmgr get
    /// --content-disposition` and `--continue` (issue #15). Blocks the caller for at most the
    /// connect and read timeouts.
    ///
    /// Errors: `E_INVALIDARG` for a URL that is not ASCII, empty or over 2200 characters
    /// (DECISIONS D2); else the transport's failure as [`classify`] makes it (DECISIONS D5),
    /// its HRESULT from the Win32 code ([`TransferError::to_error`]: `BG_E_HTTP_ERROR_nnn` for an
    /// HTTP status, e.g. `0x80190194` for 404; `HRESULT_FROM_WIN32(12029)` for a refused
    /// connection) and the Win32 code in [`Error::win32`], the message naming the URL
    /// (password redacted).
    pub fn probe(&self, url: &str) -> Result<Probe> {
        check_url(url).map_err(|e| e.context("Probe"))?;
        self.inner().transport.probe(url).map_err(|f| classify(&f).to_error("Probe"))
    }

    /// The text value of a queue option (`""` for an unset string option).
    ///
    /// Errors: `E_INVALIDARG` for an unknown name.
    pub fn get_option(&self, name: &str) -> Result<String> {
        self.inner().read().options.get(name).map_err(|e| e.context("GetOption"))
    }
}
