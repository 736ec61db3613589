//! The Rust API: [`Manager`] (`IBackgroundCopyQMgr`), [`Group`] (`IBackgroundCopyGroup`),
//! [`Job`] (`IBackgroundCopyJob1`), [`GroupEnum`] / [`JobEnum`] (the enumerators) and the
//! [`Callback`] trait (`IBackgroundCopyCallback1`).
//!
//! Every method follows DECISIONS D3 for what it may do in each state; errors carry the
//! HRESULT the C API returns and a message naming the method, the argument and the problem.

use super::state::{partial_temp_files, sat32, unavailable, GroupEntry, Inner, JobEntry, NotifyMsg, SchedMsg, State};
use super::{notify as notifier, scheduler};
use crate::clock::{Clock, SystemClock};
use crate::guid::Guid;
use crate::hresult::{Error, HResult, Result, BG_E_EMPTY, E_NOTIMPL, QM_E_DOWNLOADER_UNAVAILABLE, S_OK};
use crate::model::{
    notify, progress, protocol, status, FileRecord, GroupProps, GroupRecord, GroupState, JobRecord, Options, PropId,
    PropValue, Validators,
};
use crate::rate::RateLimiter;
use crate::store::{Loaded, Op, Store};
use crate::transport::Transport;
use std::path::{Path, PathBuf};
use std::sync::atomic::{fence, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The receiver of a group's notifications (`IBackgroundCopyCallback1`; DECISIONS D7).
///
/// Methods run on the manager's notification thread, one at a time, in event order, with no
/// internal lock held: they may call any method of the API (including cancelling or dropping
/// the group). The `group` and `job` arguments are valid for the call; clone them to keep
/// them. Dropping the callback (when it is replaced, cleared, its group cancelled, or the
/// manager shut down) is its `release`.
pub trait Callback: Send + Sync {
    /// `OnStatus`: an error (by default), or a completion asked for by `QM_NOTIFY_*` flags.
    /// `file_index` is `0xFFFFFFFF` when no single file is concerned; `job` is `None` when no
    /// job is. Anything but `S_OK` makes the event come again later (1 s doubling to 10 min)
    /// while it still holds.
    #[allow(clippy::too_many_arguments)]
    fn on_status(
        &self,
        group: &Group,
        job: Option<&Job>,
        file_index: u32,
        status: u32,
        num_of_retries: u32,
        win32_result: u32,
        transport_result: u32,
    ) -> HResult;

    /// `OnProgress`: a progress threshold was crossed (best-effort, never re-delivered).
    fn on_progress(
        &self,
        _progress_type: u32,
        _group: &Group,
        _job: Option<&Job>,
        _file_index: u32,
        _value: u32,
    ) -> HResult {
        S_OK
    }

    /// `OnProgressEx`: as `on_progress`, with the record of DECISIONS D9 in `bytes`.
    #[allow(clippy::too_many_arguments)]
    fn on_progress_ex(
        &self,
        _progress_type: u32,
        _group: &Group,
        _job: Option<&Job>,
        _file_index: u32,
        _value: u32,
        _bytes: &[u8],
    ) -> HResult {
        S_OK
    }
}

/// One file to add to a job (`FILESETINFO`): source URL, absolute destination path and an
/// optional size hint in bytes (0 = unknown).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSpec {
    /// Source URL: ASCII, at most 2200 characters, sent exactly as given (DECISIONS D2).
    pub url: String,
    /// Absolute destination path, at most 4096 bytes; its directory must exist.
    pub local_path: String,
    /// Provisional size in bytes used until the server reports one (0 = none).
    pub size_hint: u32,
}

impl FileSpec {
    /// A file without a size hint: `url` into the absolute path `local_path`.
    pub fn new(url: impl Into<String>, local_path: impl Into<String>) -> FileSpec {
        FileSpec { url: url.into(), local_path: local_path.into(), size_hint: 0 }
    }
}

/// The four outputs of job `GetStatus` (reference §2.3.3; DECISIONS D3, D11).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JobStatus {
    /// `QM_STATUS_JOB_*` bits.
    pub status: u32,
    /// Win32 code (or `BG_E_HTTP_ERROR_nnn`) of the job's current error, else 0.
    pub win32_result: u32,
    /// HTTP status of the job's current error, else 0.
    pub transport_result: u32,
    /// Failed attempts so far (never reset).
    pub num_of_retries: u32,
}

/// What keeps a manager running; its drop (the last reference) shuts the manager down.
pub(crate) struct Shared {
    pub inner: Arc<Inner>,
    threads: Mutex<Vec<JoinHandle<()>>>,
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
        let _ = inner.sched_tx.send(SchedMsg::Shutdown);
        let _ = inner.notify_tx.send(NotifyMsg::Shutdown);
        let me = std::thread::current().id();
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        for h in threads.into_iter().chain(workers) {
            if h.thread().id() != me {
                let _ = h.join();
            }
        }
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
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager").field("dir", &self.shared.inner.dir).finish()
    }
}

impl Manager {
    /// Opens a queue on `store`, transferring through `transport`. Groups that were RUNNING
    /// continue by themselves from their temporary files (DECISIONS D6). `dir` names the
    /// queue in messages (empty for an in-memory queue).
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
            sched_tx,
            notify_tx,
        });
        let shared = Arc::new(Shared { inner: inner.clone(), threads: Mutex::new(Vec::new()) });
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
        shared.threads.lock().unwrap_or_else(|e| e.into_inner()).extend([h1, h2]);
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

    /// True while this process holds the queue's transfer lock and so runs its transfers
    /// (DECISIONS D10).
    pub fn is_transferring_process(&self) -> bool {
        self.inner().read().holder
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
        let min_retry = Duration::from_millis(st.options.min_retry_delay_ms);
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

    /// `EnumGroups`: a snapshot of the live groups' GUIDs in creation order.
    ///
    /// Errors: `E_NOTIMPL` when `flags` is not 0 (reference §2.1.3; DECISIONS D1).
    pub fn enum_groups(&self, flags: u32) -> Result<GroupEnum> {
        if flags != 0 {
            return Err(Error::not_impl(format!("EnumGroups: flags {flags:#x} must be 0")));
        }
        let ids = self.inner().read().order.clone();
        Ok(GuidEnum(GuidCursor::new(ids)))
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
        inner.rate.set_rate(options.background_rate_limit);
        st.options = options;
        drop(st);
        inner.kick_scheduler();
        Ok(())
    }

    /// The text value of a queue option (`""` for an unset string option).
    ///
    /// Errors: `E_INVALIDARG` for an unknown name.
    pub fn get_option(&self, name: &str) -> Result<String> {
        self.inner().read().options.get(name).map_err(|e| e.context("GetOption"))
    }
}

/// A group (`IBackgroundCopyGroup`). Cloning gives another reference; after `CancelGroup`
/// every method but [`Group::id`] answers `QM_E_INVALID_STATE` (DECISIONS D12).
#[derive(Clone)]
pub struct Group {
    shared: Arc<Shared>,
    id: Guid,
    inc: u64,
    /// The last `GetStatus` answer and the [`Inner::epoch`] it was read at: while the epoch
    /// has not moved it is still the answer, given without touching the queue's lock (issue
    /// #6: `GetStatus` < 1 µs, scaling across threads). Shared by clones of the handle.
    status_cache: Arc<StatusCache>,
}

/// A group handle's last `GetStatus` answer with the [`Inner::epoch`] it was read at, which
/// any number of threads read without writing shared memory: a sequence lock over atomics
/// (`seq` odd while one thread writes; 0 until first written).
#[derive(Default)]
struct StatusCache {
    seq: AtomicU64,
    epoch: AtomicU64,
    /// Status word in the high half, job index in the low half.
    answer: AtomicU64,
}

impl StatusCache {
    /// The cached answer when it was read at `epoch`.
    fn get(&self, epoch: u64) -> Option<(u32, u32)> {
        let before = self.seq.load(Ordering::Acquire);
        if before == 0 || before % 2 == 1 {
            return None;
        }
        let (at, answer) = (self.epoch.load(Ordering::Relaxed), self.answer.load(Ordering::Relaxed));
        fence(Ordering::Acquire);
        if self.seq.load(Ordering::Relaxed) != before || at != epoch {
            return None;
        }
        Some(((answer >> 32) as u32, answer as u32))
    }

    /// Caches `answer`, read at `epoch`, unless another thread is writing the cache or an
    /// answer of a later epoch is cached.
    fn put(&self, epoch: u64, answer: (u32, u32)) {
        let seq = self.seq.load(Ordering::Relaxed);
        if seq % 2 == 1 || self.seq.compare_exchange(seq, seq + 1, Ordering::Relaxed, Ordering::Relaxed).is_err() {
            return;
        }
        fence(Ordering::Release);
        if seq == 0 || self.epoch.load(Ordering::Relaxed) <= epoch {
            self.epoch.store(epoch, Ordering::Relaxed);
            self.answer.store(u64::from(answer.0) << 32 | u64::from(answer.1), Ordering::Relaxed);
        }
        self.seq.store(seq + 2, Ordering::Release);
    }
}

impl std::fmt::Debug for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Group").field("id", &self.id).finish()
    }
}

/// Looks up the live entry of a group handle, or the cancelled-state error.
fn live<'a>(st: &'a mut State, id: Guid, inc: u64, method: &str) -> Result<&'a mut GroupEntry> {
    st.group_mut(id, inc).ok_or_else(|| cancelled(method, id))
}

/// [`live`], to read.
fn live_ref<'a>(st: &'a State, id: Guid, inc: u64, method: &str) -> Result<&'a GroupEntry> {
    st.group(id, inc).ok_or_else(|| cancelled(method, id))
}

/// The error of a method called on a cancelled group (DECISIONS D3, D12).
fn cancelled(method: &str, id: Guid) -> Error {
    Error::invalid_state(format!("{method}: group {id} was cancelled"))
}

fn check_len(method: &str, what: &str, s: &str, max: usize) -> Result<()> {
    let n = s.chars().count();
    if n > max {
        return Err(Error::invalid_arg(format!("{method}: {what} has {n} characters, more than {max}")));
    }
    Ok(())
}

impl Group {
    pub(crate) fn from_parts(shared: Arc<Shared>, id: Guid, inc: u64) -> Group {
        Group { shared, id, inc, status_cache: Arc::default() }
    }

    fn inner(&self) -> &Inner {
        &self.shared.inner
    }

    /// The manager this group belongs to.
    pub fn manager(&self) -> Manager {
        Manager { shared: self.shared.clone() }
    }

    /// True when both refer to the same group (same incarnation of the GUID).
    pub fn same(&self, other: &Group) -> bool {
        self.id == other.id && self.inc == other.inc && Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// `get_GroupID`: the GUID given to `CreateGroup`. Works in every state.
    pub fn id(&self) -> Guid {
        self.id
    }

    /// Reads a group's entry under the lock.
    fn read<R>(&self, method: &str, f: impl FnOnce(&GroupEntry, &State) -> R) -> Result<R> {
        let st = self.inner().read();
        let g = live_ref(&st, self.id, self.inc, method)?;
        Ok(f(g, &st))
    }

    /// `GetProp` (reference §2.2.1; DECISIONS D1, D12): integers as [`PropValue::Int`],
    /// strings as [`PropValue::Str`]; the password reads as `""`.
    ///
    /// Errors: `E_NOTIMPL` for `LOCALUSERID`/`LOCALUSERPWD`; `QM_E_INVALID_STATE` once cancelled (checked first: DECISIONS D12).
    pub fn get_prop(&self, prop: PropId) -> Result<PropValue> {
        self.read("GetProp", |g, _| {
            let p = &g.rec.props;
            Ok(match prop {
                PropId::Priority => PropValue::Int(p.priority),
                PropId::RemoteUserId => PropValue::Str(p.remote_user.clone()),
                PropId::RemoteUserPwd => PropValue::Str(String::new()),
                PropId::ProtocolFlags => PropValue::Int(p.protocol),
                PropId::NotifyFlags => PropValue::Int(p.notify_flags),
                PropId::NotifyClsid => PropValue::Str(p.notify_clsid.clone()),
                PropId::ProgressSize => PropValue::Int(p.progress_size),
                PropId::ProgressPercent => PropValue::Int(p.progress_percent),
                PropId::ProgressTime => PropValue::Int(p.progress_time),
                PropId::DisplayName => PropValue::Str(p.display_name.clone()),
                PropId::Description => PropValue::Str(p.description.clone()),
                PropId::LocalUserId | PropId::LocalUserPwd => return Err(not_impersonating("GetProp", prop)),
            })
        })?
    }

    /// `SetProp` (reference §2.2.2; DECISIONS D1, D12), persisted before it returns.
    ///
    /// Errors: `E_INVALIDARG` for a value of the wrong kind or out of range (the message
    /// says which); `E_NOTIMPL` for `LOCALUSERID`/`LOCALUSERPWD` and `QM_PROTOCOL_CUSTOM`;
    /// `QM_E_DOWNLOADER_UNAVAILABLE` for `QM_PROTOCOL_FTP`; `QM_E_INVALID_STATE` when changing
    /// the protocol of a group that has files, or once cancelled.
    pub fn set_prop(&self, prop: PropId, value: PropValue) -> Result<()> {
        const M: &str = "SetProp";
        let int = |v: &PropValue| match v {
            PropValue::Int(i) => Ok(*i),
            PropValue::Str(_) => Err(Error::invalid_arg(format!("{M}: {prop:?} takes an integer, not a string"))),
        };
        let text = |v: &PropValue| match v {
            PropValue::Str(s) => Ok(s.clone()),
            PropValue::Int(_) => Err(Error::invalid_arg(format!("{M}: {prop:?} takes a string, not an integer"))),
        };
        let inner = self.inner();
        let mut st = inner.lock_current();
        let g = live(&mut st, self.id, self.inc, M)?;
        if matches!(prop, PropId::LocalUserId | PropId::LocalUserPwd) {
            return Err(not_impersonating(M, prop));
        }
        let mut props = g.rec.props.clone();
        match prop {
            PropId::Priority => {
                let v = int(&value)?;
                if v > 2 {
                    return Err(Error::invalid_arg(format!(
                        "{M}: priority {v} is not 0 (high), 1 (normal) or 2 (low)"
                    )));
                }
                props.priority = v;
            }
            PropId::RemoteUserId => {
                let v = text(&value)?;
                check_len(M, "REMOTEUSERID", &v, 300)?;
                props.remote_user = v;
            }
            PropId::RemoteUserPwd => {
                let v = text(&value)?;
                check_len(M, "REMOTEUSERPWD", &v, 65535)?;
                props.remote_password = v;
            }
            PropId::ProtocolFlags => {
                let v = int(&value)?;
                match v {
                    _ if v == props.protocol => {}
                    protocol::HTTP | protocol::SMB => {
                        if g.has_files() {
                            return Err(Error::invalid_state(format!(
                                "{M}: the protocol cannot change while the group has files"
                            )));
                        }
                        props.protocol = v;
                    }
                    protocol::FTP => {
                        return Err(Error::new(
                            QM_E_DOWNLOADER_UNAVAILABLE,
                            format!("{M}: no FTP downloader is available"),
                        ))
                    }
                    protocol::CUSTOM => {
                        return Err(Error::new(E_NOTIMPL, format!("{M}: QM_PROTOCOL_CUSTOM is not implemented")))
                    }
                    _ => {
                        return Err(Error::invalid_arg(format!("{M}: protocol {v} is not a QM_PROTOCOL_* value (1-4)")))
                    }
                }
            }
            PropId::NotifyFlags => {
                let v = int(&value)?;
                if v & !notify::ALL != 0 {
                    return Err(Error::invalid_arg(format!("{M}: notify flags {v:#x} have undefined bits")));
                }
                props.notify_flags = v;
            }
            PropId::NotifyClsid => {
                let v = text(&value)?;
                if !v.is_empty() {
                    Guid::parse(&v).map_err(|e| e.context(format!("{M}: NOTIFYCLSID")))?;
                }
                props.notify_clsid = v;
            }
            PropId::ProgressSize => props.progress_size = int(&value)?,
            PropId::ProgressPercent => {
                let v = int(&value)?;
                if v > 100 {
                    return Err(Error::invalid_arg(format!("{M}: progress percent {v} is above 100")));
                }
                props.progress_percent = v;
            }
            PropId::ProgressTime => props.progress_time = int(&value)?,
            PropId::DisplayName => {
                let v = text(&value)?;
                check_len(M, "DISPLAYNAME", &v, 256)?;
                props.display_name = v;
            }
            PropId::Description => {
                let v = text(&value)?;
                check_len(M, "DESCRIPTION", &v, 1024)?;
                props.description = v;
            }
            PropId::LocalUserId | PropId::LocalUserPwd => unreachable!("handled above"),
        }
        let mut rec = g.rec.clone();
        rec.props = props;
        inner.persist(&[Op::UpdateGroup(rec.clone())]).map_err(|e| e.context(M))?;
        g.rec = rec;
        drop(st);
        inner.kick_scheduler();
        inner.kick_notifier();
        Ok(())
    }

    /// `GetProgress` (reference §2.2.3; DECISIONS D1): `QM_PROGRESS_PERCENT_DONE` (0–100),
    /// `QM_PROGRESS_SIZE_DONE` (bytes, saturating at `0xFFFFFFFF`) or `QM_PROGRESS_TIME_DONE`
    /// (milliseconds of active transfer, saturating), over all jobs.
    ///
    /// Errors: `E_INVALIDARG` for another `flags` value; `QM_E_INVALID_STATE` once cancelled.
    pub fn progress(&self, flags: u32) -> Result<u32> {
        let now = self.inner().now();
        let value = self.read("GetProgress", |g, _| g.progress_value(flags, now))?;
        check_progress_flags("GetProgress", flags).map(|()| value)
    }

    /// 64-bit progress: (bytes done, total bytes or `u64::MAX` while unknown).
    ///
    /// Errors: `QM_E_INVALID_STATE` once cancelled.
    pub fn progress64(&self) -> Result<(u64, u64)> {
        self.read("GetProgress64", |g, _| {
            let (done, total) = g.bytes();
            (done, total.unwrap_or(u64::MAX))
        })
    }

    /// `GetStatus`: (status word of reference §3.4, index of the job being processed).
    ///
    /// Errors: `QM_E_INVALID_STATE` once cancelled.
    pub fn status(&self) -> Result<(u32, u32)> {
        let inner = self.inner();
        if let Some(answer) = self.status_cache.get(inner.epoch.load(Ordering::Acquire)) {
            return Ok(answer);
        }
        let st = inner.read();
        // Stable while the read lock is held: writers count it before they unlock.
        let epoch = inner.epoch.load(Ordering::Acquire);
        let g = live_ref(&st, self.id, self.inc, "GetStatus")?;
        let answer = (g.status_word(), g.job_index());
        drop(st);
        self.status_cache.put(epoch, answer);
        Ok(answer)
    }

    /// The group's state (the Rust view of the status word).
    ///
    /// Errors: `QM_E_INVALID_STATE` once cancelled.
    pub fn state(&self) -> Result<GroupState> {
        self.read("GetState", |g, _| g.rec.state)
    }

    /// `GetJob`: another reference to a live job of this group.
    ///
    /// Errors: `QM_E_ITEM_NOT_FOUND` when the group has no such job; `QM_E_INVALID_STATE`
    /// once cancelled.
    pub fn get_job(&self, id: Guid) -> Result<Job> {
        let j = self.read("GetJob", |g, _| g.jobs.iter().find(|j| j.rec.id == id).map(|j| j.inc))?;
        match j {
            Some(inc) => Ok(Job::from_parts(self.shared.clone(), self.id, self.inc, id, inc)),
            None => Err(Error::not_found(format!("GetJob: group {} has no job {id}", self.id))),
        }
    }

    /// Changes the group's state record, persisting it first.
    fn set_state(&self, method: &str, f: impl FnOnce(&mut GroupEntry) -> Result<Option<GroupState>>) -> Result<()> {
        let inner = self.inner();
        let mut st = inner.lock_current();
        let min_retry = Duration::from_millis(st.options.min_retry_delay_ms);
        let g = live(&mut st, self.id, self.inc, method)?;
        let Some(new_state) = f(g)? else { return Ok(()) };
        let mut rec = g.rec.clone();
        rec.state = new_state;
        let mut ops = vec![Op::UpdateGroup(rec.clone())];
        let cleared: Vec<usize> = if new_state == GroupState::Running {
            g.jobs.iter().enumerate().filter(|(_, j)| j.rec.error.is_some()).map(|(i, _)| i).collect()
        } else {
            Vec::new()
        };
        for &i in &cleared {
            let mut j = g.jobs[i].rec.clone();
            j.error = None;
            ops.push(Op::PutJob(j));
        }
        inner.persist(&ops).map_err(|e| e.context(method))?;
        for i in cleared {
            g.jobs[i].rec.error = None;
        }
        g.rec = rec;
        if new_state == GroupState::Running {
            g.retry_at = None;
            g.retry_delay = min_retry;
            g.stalled_since = None;
        } else {
            // Suspended time is not active time, even while the transfer winds down.
            let now = inner.now();
            for j in &mut g.jobs {
                j.stop_active_time(now);
            }
            if let Some(w) = &g.worker {
                w.cancel.cancel();
            }
        }
        drop(st);
        inner.notify_changed();
        inner.kick_scheduler();
        inner.kick_notifier();
        Ok(())
    }

    /// `SuspendGroup`: a RUNNING group stops (partial data kept, within 100 ms); no-op in
    /// the other live states (DECISIONS D3).
    ///
    /// Errors: `QM_E_INVALID_STATE` once cancelled; `QM_E_SERVICE_UNAVAILABLE` when the
    /// change cannot be persisted.
    pub fn suspend(&self) -> Result<()> {
        self.set_state("SuspendGroup", |g| Ok((g.rec.state == GroupState::Running).then_some(GroupState::Suspended)))
    }

    /// `ResumeGroup`: SUSPENDED or ERROR → RUNNING (an error is cleared); no-op when RUNNING
    /// or COMPLETE (DECISIONS D3).
    ///
    /// Errors: `BG_E_EMPTY` when the group has no file to download; `QM_E_INVALID_STATE` once
    /// cancelled; `QM_E_SERVICE_UNAVAILABLE` when it cannot be persisted.
    pub fn resume(&self) -> Result<()> {
        self.set_state("ResumeGroup", |g| match g.rec.state {
            GroupState::Suspended | GroupState::Error => {
                if !g.has_files() {
                    return Err(Error::new(
                        BG_E_EMPTY,
                        format!("ResumeGroup: group {} has no files to download", g.rec.id),
                    ));
                }
                Ok(Some(GroupState::Running))
            }
            _ => Ok(None),
        })
    }

    /// `CancelGroup`: removes the group from the queue in any live state. Committed files
    /// stay; temporary files are deleted (within 1 s, once a running transfer has stopped);
    /// the callback is released (DECISIONS D3, D4).
    ///
    /// Errors: `QM_E_INVALID_STATE` when already cancelled; `QM_E_SERVICE_UNAVAILABLE` when
    /// the removal cannot be persisted (the group then stays).
    pub fn cancel(&self) -> Result<()> {
        let inner = self.inner();
        let mut st = inner.lock_current();
        live(&mut st, self.id, self.inc, "CancelGroup")?;
        inner.persist(&[Op::DeleteGroup(self.id)]).map_err(|e| e.context("CancelGroup"))?;
        let g = st.groups.remove(&self.id).expect("checked live");
        st.order.retain(|id| *id != self.id);
        for j in &g.jobs {
            st.job_owner.remove(&j.rec.id);
        }
        let temps = partial_temp_files(&g.jobs);
        st.discarding.extend(temps.iter().cloned());
        let direct = match &g.worker {
            Some(w) => {
                w.cancel.cancel();
                w.discard.lock().unwrap_or_else(|e| e.into_inner()).extend(temps);
                Vec::new()
            }
            None => temps,
        };
        drop(st);
        inner.discard_temps(direct);
        drop(g); // releases the callback, outside any lock
        inner.notify_changed();
        inner.kick_scheduler();
        Ok(())
    }

    /// `get_Size`: sum of the files' known sizes (server-reported, else the hint); 0 while
    /// any size is unknown; saturates at `0xFFFFFFFF` (DECISIONS D12).
    ///
    /// Errors: `QM_E_INVALID_STATE` once cancelled.
    pub fn size(&self) -> Result<u32> {
        self.read("GetSize", |g, _| sat32(g.bytes().1.unwrap_or(0)))
    }

    /// `CreateJob`: a new job with no files, after the group's other jobs.
    ///
    /// Errors: `QM_E_INVALID_STATE` when the group is RUNNING, COMPLETE or cancelled;
    /// `E_INVALIDARG` for the all-zero GUID or a GUID used by a job of the queue.
    pub fn create_job(&self, id: Guid) -> Result<Job> {
        const M: &str = "CreateJob";
        let inner = self.inner();
        let mut st = inner.lock_current();
        let seq = st.next_seq;
        let taken = st.job_owner.contains_key(&id);
        let g = live(&mut st, self.id, self.inc, M)?;
        if matches!(g.rec.state, GroupState::Running | GroupState::Complete) {
            return Err(Error::invalid_state(format!("{M}: group {} is {}", self.id, g.rec.state.name())));
        }
        if id.is_nil() {
            return Err(Error::invalid_arg(format!("{M}: job_id is the all-zero GUID")));
        }
        if taken {
            return Err(Error::invalid_arg(format!("{M}: job_id {id} is already used in the queue")));
        }
        let rec = JobRecord { id, group_id: self.id, seq, foreground: false, retries: 0, error: None, active_ms: 0 };
        inner.persist(&[Op::PutJob(rec.clone())]).map_err(|e| e.context(M))?;
        st.next_seq += 1;
        let inc = st.inc();
        st.job_owner.insert(id, self.id);
        let g = st.group_mut(self.id, self.inc).expect("live");
        g.jobs.push(JobEntry::new(inc, rec, Vec::new()));
        Ok(Job::from_parts(self.shared.clone(), self.id, self.inc, id, inc))
    }

    /// `EnumJobs`: a snapshot of the group's job GUIDs in creation order.
    ///
    /// Errors: `E_NOTIMPL` when `flags` is not 0; `QM_E_INVALID_STATE` once cancelled (checked first: DECISIONS D12).
    pub fn enum_jobs(&self, flags: u32) -> Result<JobEnum> {
        let ids = self.read("EnumJobs", |g, _| g.jobs.iter().map(|j| j.rec.id).collect())?;
        if flags != 0 {
            return Err(Error::not_impl(format!("EnumJobs: flags {flags:#x} must be 0")));
        }
        Ok(GuidEnum(GuidCursor::new(ids)))
    }

    /// `SwitchToForeground`: sticky; the group is scheduled first and never rate-limited
    /// (DECISIONS D1).
    ///
    /// Errors: `QM_E_INVALID_STATE` once cancelled.
    pub fn switch_to_foreground(&self) -> Result<()> {
        let inner = self.inner();
        let mut st = inner.lock_current();
        let g = live(&mut st, self.id, self.inc, "SwitchToForeground")?;
        if g.rec.foreground {
            return Ok(());
        }
        let mut rec = g.rec.clone();
        rec.foreground = true;
        inner.persist(&[Op::UpdateGroup(rec.clone())]).map_err(|e| e.context("SwitchToForeground"))?;
        g.rec = rec;
        drop(st);
        inner.kick_scheduler();
        Ok(())
    }

    /// `SetNotificationPointer`: registers (or with `None` clears) the group's callback. The
    /// replaced one is dropped (its `release`) after the call's lock is released. Events that
    /// still hold are delivered to a newly registered callback (DECISIONS D7).
    ///
    /// Errors: `QM_E_INVALID_STATE` once cancelled (the given callback is dropped then too).
    pub fn set_callback(&self, callback: Option<Arc<dyn Callback>>) -> Result<()> {
        let inner = self.inner();
        let mut st = inner.lock();
        let g = live(&mut st, self.id, self.inc, "SetNotificationPointer")?;
        let old = std::mem::replace(&mut g.callback, callback);
        drop(st);
        drop(old);
        inner.kick_notifier();
        Ok(())
    }

    /// Blocks until the group is COMPLETE, in ERROR or SUSPENDED (returns `(true, word)`),
    /// or `timeout` passes (`(false, word)`); `None` waits forever, zero polls
    /// (C-API.md `qmgr_group_wait`; DECISIONS D12).
    ///
    /// Errors: `QM_E_INVALID_STATE` when the group is or becomes cancelled.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<(bool, u32)> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let inner = self.inner();
        loop {
            // The epoch is read before the state: a change after the look moves it, and then
            // the sleep below does not begin (Inner::notify_changed).
            let seen = inner.epoch.load(Ordering::SeqCst);
            let word = {
                let st = inner.read();
                let g = live_ref(&st, self.id, self.inc, "Wait")?;
                if g.rec.state != GroupState::Running {
                    return Ok((true, g.status_word()));
                }
                g.status_word()
            };
            let left = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(l) if !l.is_zero() => l,
                    _ => return Ok((false, word)),
                },
                None => Duration::from_secs(3600),
            };
            let guard = inner.waiters.lock().unwrap_or_else(|e| e.into_inner());
            if inner.epoch.load(Ordering::SeqCst) == seen {
                drop(inner.changed.wait_timeout(guard, left).unwrap_or_else(|e| e.into_inner()));
            }
        }
    }
}

/// The error for `LOCALUSERID` / `LOCALUSERPWD` (DECISIONS D1: an in-process library cannot
/// impersonate).
fn not_impersonating(method: &str, prop: PropId) -> Error {
    Error::not_impl(format!("{method}: {prop:?} is not supported (no impersonation in-process)"))
}

fn check_progress_flags(method: &str, flags: u32) -> Result<()> {
    match flags {
        progress::PERCENT_DONE | progress::SIZE_DONE | progress::TIME_DONE => Ok(()),
        _ => Err(Error::invalid_arg(format!(
            "{method}: flags {flags} is not QM_PROGRESS_PERCENT_DONE (1), QM_PROGRESS_TIME_DONE (2) or QM_PROGRESS_SIZE_DONE (3)"
        ))),
    }
}

/// A job (`IBackgroundCopyJob1`). Cloning gives another reference; after `CancelJob` or
/// `CancelGroup` every method but [`Job::id`] answers `QM_E_INVALID_STATE`.
#[derive(Clone)]
pub struct Job {
    shared: Arc<Shared>,
    group: Guid,
    group_inc: u64,
    id: Guid,
    inc: u64,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job").field("id", &self.id).field("group", &self.group).finish()
    }
}

impl Job {
    pub(crate) fn from_parts(shared: Arc<Shared>, group: Guid, group_inc: u64, id: Guid, inc: u64) -> Job {
        Job { shared, group, group_inc, id, inc }
    }

    fn inner(&self) -> &Inner {
        &self.shared.inner
    }

    /// `get_JobID`: the GUID given to `CreateJob`. Works in every state.
    pub fn id(&self) -> Guid {
        self.id
    }

    /// The group this job belongs to.
    pub fn group(&self) -> Group {
        Group::from_parts(self.shared.clone(), self.group, self.group_inc)
    }

    /// True when both refer to the same job.
    pub fn same(&self, other: &Job) -> bool {
        self.id == other.id && self.inc == other.inc && Arc::ptr_eq(&self.shared, &other.shared)
    }

    fn read<R>(&self, method: &str, f: impl FnOnce(&GroupEntry, &JobEntry) -> R) -> Result<R> {
        let st = self.inner().read();
        let g = live_ref(&st, self.group, self.group_inc, method)?;
        let j = g
            .job(self.id, self.inc)
            .ok_or_else(|| Error::invalid_state(format!("{method}: job {} was cancelled", self.id)))?;
        Ok(f(g, j))
    }

    /// `CancelJob`: removes this job; its committed files stay, its partial data is deleted,
    /// a running transfer of it is aborted and the group goes on with its next job
    /// (DECISIONS D1).
    ///
    /// Errors: `QM_E_INVALID_STATE` when the job or its group is cancelled.
    pub fn cancel(&self) -> Result<()> {
        const M: &str = "CancelJob";
        let inner = self.inner();
        let mut st = inner.lock_current();
        let g = live(&mut st, self.group, self.group_inc, M)?;
        let pos = g
            .jobs
            .iter()
            .position(|j| j.rec.id == self.id && j.inc == self.inc)
            .ok_or_else(|| Error::invalid_state(format!("{M}: job {} was cancelled", self.id)))?;
        inner.persist(&[Op::DeleteJob(self.id)]).map_err(|e| e.context(M))?;
        let job = g.jobs.remove(pos);
        let temps = partial_temp_files(std::slice::from_ref(&job));
        let worker = g.worker.as_ref().map(|w| (w.cancel.clone(), w.discard.clone()));
        st.discarding.extend(temps.iter().cloned());
        let direct = match worker {
            Some((cancel, discard)) => {
                // Restart the group's worker so that it leaves this job (it resumes the
                // next one from its checkpoint).
                cancel.cancel();
                discard.lock().unwrap_or_else(|e| e.into_inner()).extend(temps);
                Vec::new()
            }
            None => temps,
        };
        st.job_owner.remove(&self.id);
        drop(st);
        inner.discard_temps(direct);
        inner.notify_changed();
        inner.kick_scheduler();
        Ok(())
    }

    /// `GetProgress` of this job (units as [`Group::progress`]).
    ///
    /// Errors: `E_INVALIDARG` for an unknown `flags`; `QM_E_INVALID_STATE` once cancelled.
    pub fn progress(&self, flags: u32) -> Result<u32> {
        let now = self.inner().now();
        let value = self.read("GetProgress", |_, j| j.progress_value(flags, now))?;
        check_progress_flags("GetProgress", flags).map(|()| value)
    }

    /// 64-bit progress: (bytes done, total bytes or `u64::MAX` while unknown).
    ///
    /// Errors: `QM_E_INVALID_STATE` once cancelled.
    pub fn progress64(&self) -> Result<(u64, u64)> {
        self.read("GetProgress64", |_, j| {
            let (d, t) = j.bytes();
            (d, t.unwrap_or(u64::MAX))
        })
    }

    /// `GetStatus` of this job (reference §2.3.3; DECISIONS D3, D11).
    ///
    /// Errors: `QM_E_INVALID_STATE` once cancelled.
    pub fn status(&self) -> Result<JobStatus> {
        self.read("GetStatus", |g, j| {
            let complete = j.complete() || g.rec.state == GroupState::Complete;
            let mut s = if complete { status::JOB_COMPLETE } else { status::JOB_INCOMPLETE };
            let fatal = j.rec.error.as_ref().is_some_and(|e| e.class == crate::model::ErrorClass::Fatal);
            if fatal && g.rec.state == GroupState::Error {
                s |= status::JOB_ERROR;
            }
            if j.rec.foreground {
                s |= status::JOB_FOREGROUND;
            }
            let (win32, transport) = j.rec.error.as_ref().map_or((0, 0), |e| (e.win32, e.transport));
            JobStatus { status: s, win32_result: win32, transport_result: transport, num_of_retries: j.rec.retries }
        })
    }

    /// The human-readable cause of the job's current error (transient or fatal), if any.
    ///
    /// Errors: `QM_E_INVALID_STATE` once cancelled.
    pub fn error_message(&self) -> Result<Option<String>> {
        self.read("GetErrorMessage", |_, j| j.rec.error.as_ref().map(|e| e.message.clone()))
    }

    /// `AddFiles`: appends files to the job, all or nothing (reference §2.3.4; DECISIONS D1,
    /// D2, D3).
    ///
    /// Errors: `QM_E_INVALID_STATE` when the group is RUNNING, COMPLETE or cancelled (or the
    /// job cancelled); `E_INVALIDARG` for a bad URL (empty, non-ASCII, over 2200 characters,
    /// malformed, scheme of another protocol), a bad local path (relative, over 4096 bytes,
    /// missing directory, or already a destination in this group); `E_ACCESSDENIED` when the
    /// directory is not writable. The message names the file index and the problem.
    pub fn add_files(&self, files: &[FileSpec]) -> Result<()> {
        const M: &str = "AddFiles";
        let inner = self.inner();
        let mut st = inner.lock_current();
        let g = live(&mut st, self.group, self.group_inc, M)?;
        if matches!(g.rec.state, GroupState::Running | GroupState::Complete) {
            return Err(Error::invalid_state(format!("{M}: group {} is {}", self.group, g.rec.state.name())));
        }
        let protocol = g.rec.props.protocol;
        let mut taken: std::collections::HashSet<&str> =
            g.jobs.iter().flat_map(|j| j.files.iter().map(|f| f.local_path.as_str())).collect();
        let j = g
            .job(self.id, self.inc)
            .ok_or_else(|| Error::invalid_state(format!("{M}: job {} was cancelled", self.id)))?;
        let first = j.files.len();
        if first + files.len() > u32::MAX as usize {
            return Err(Error::invalid_arg(format!("{M}: too many files")));
        }
        for (i, f) in files.iter().enumerate() {
            let ctx = |e: Error| e.context(format!("{M}: file {i}"));
            check_url(&f.url).map_err(ctx)?;
            inner.transport.check_url(&f.url, protocol).map_err(ctx)?;
            check_local_path(&f.local_path).map_err(ctx)?;
            if !taken.insert(f.local_path.as_str()) {
                return Err(ctx(Error::invalid_arg(format!(
                    "local path \"{}\" is already a destination in this group",
                    f.local_path
                ))));
            }
            inner.transport.check_destination(&f.local_path).map_err(ctx)?;
        }
        let recs: Vec<FileRecord> = files
            .iter()
            .enumerate()
            .map(|(i, f)| FileRecord {
                job_id: self.id,
                index: (first + i) as u32,
                url: f.url.clone(),
                local_path: f.local_path.clone(),
                size_hint: f.size_hint,
                bytes_done: 0,
                validators: Validators::default(),
                complete: false,
            })
            .collect();
        let ops: Vec<Op> = recs.iter().cloned().map(Op::PutFile).collect();
        inner.persist(&ops).map_err(|e| e.context(M))?;
        let g = st.group_mut(self.group, self.group_inc).expect("live");
        g.job_mut(self.id, self.inc).expect("checked").files.extend(recs);
        Ok(())
    }

    /// `GetFile`: the file at `index` as given to `AddFiles`.
    ///
    /// Errors: `QM_E_ITEM_NOT_FOUND` when `index >= GetFileCount`; `QM_E_INVALID_STATE` once
    /// cancelled.
    pub fn file(&self, index: u32) -> Result<FileSpec> {
        self.read("GetFile", |_, j| {
            j.files.get(index as usize).map(|f| FileSpec {
                url: f.url.clone(),
                local_path: f.local_path.clone(),
                size_hint: f.size_hint,
            })
        })?
        .ok_or_else(|| Error::not_found(format!("GetFile: job {} has no file {index}", self.id)))
    }

    /// `GetFileCount`: number of files in the job.
    ///
    /// Errors: `QM_E_INVALID_STATE` once cancelled.
    pub fn file_count(&self) -> Result<u32> {
        self.read("GetFileCount", |_, j| j.files.len() as u32)
    }

    /// One file's progress: (bytes done, total or `u64::MAX` while unknown, complete).
    ///
    /// Errors: `QM_E_ITEM_NOT_FOUND` for an index out of range; `QM_E_INVALID_STATE` once
    /// cancelled.
    pub fn file_progress(&self, index: u32) -> Result<(u64, u64, bool)> {
        self.read("GetFileProgress", |_, j| {
            j.files.get(index as usize).map(|f| (f.bytes_done, f.known_size().unwrap_or(u64::MAX), f.complete))
        })?
        .ok_or_else(|| Error::not_found(format!("GetFileProgress: job {} has no file {index}", self.id)))
    }

    /// `SwitchToForeground` of a job: sets the job's foreground bit and makes its group
    /// foreground (DECISIONS D1).
    ///
    /// Errors: `QM_E_INVALID_STATE` once cancelled.
    pub fn switch_to_foreground(&self) -> Result<()> {
        const M: &str = "SwitchToForeground";
        let inner = self.inner();
        let mut st = inner.lock_current();
        let g = live(&mut st, self.group, self.group_inc, M)?;
        let j = g
            .job(self.id, self.inc)
            .ok_or_else(|| Error::invalid_state(format!("{M}: job {} was cancelled", self.id)))?;
        let mut jrec = j.rec.clone();
        jrec.foreground = true;
        let mut grec = g.rec.clone();
        grec.foreground = true;
        inner.persist(&[Op::UpdateGroup(grec.clone()), Op::PutJob(jrec.clone())]).map_err(|e| e.context(M))?;
        g.rec = grec;
        g.job_mut(self.id, self.inc).expect("checked").rec = jrec;
        drop(st);
        inner.kick_scheduler();
        Ok(())
    }
}

/// URL checks that need no transport (DECISIONS D2): non-empty, ASCII without controls or
/// spaces, at most 2200 characters.
fn check_url(url: &str) -> Result<()> {
    if url.is_empty() {
        return Err(Error::invalid_arg("remote URL is empty"));
    }
    if url.len() > 2200 {
        return Err(Error::invalid_arg(format!("remote URL has {} characters, more than 2200", url.len())));
    }
    if let Some(c) = url.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(Error::invalid_arg(format!(
            "remote URL \"{}\" contains {c:?}: URLs must be ASCII without spaces (percent-encode the rest)",
            url.escape_debug()
        )));
    }
    Ok(())
}

/// Local path checks that need no file system (DECISIONS D2): absolute, at most 4096 bytes,
/// naming a file (not ending in `/`).
fn check_local_path(path: &str) -> Result<()> {
    if path.len() > 4096 {
        return Err(Error::invalid_arg(format!("local path has {} bytes, more than 4096", path.len())));
    }
    if !path.starts_with('/') {
        return Err(Error::invalid_arg(format!("local path \"{path}\" is not absolute")));
    }
    if path.ends_with('/') || path.ends_with("/.") || path.ends_with("/..") {
        return Err(Error::invalid_arg(format!("local path \"{path}\" does not name a file")));
    }
    Ok(())
}

/// A cursor over a snapshot of GUIDs, shared by both enumerators.
#[derive(Clone, Debug)]
struct GuidCursor {
    ids: Arc<Vec<Guid>>,
    pos: usize,
}

impl GuidCursor {
    fn new(ids: Vec<Guid>) -> Self {
        GuidCursor { ids: Arc::new(ids), pos: 0 }
    }
    fn next(&mut self, celt: usize) -> &[Guid] {
        let start = self.pos.min(self.ids.len());
        let end = start.saturating_add(celt).min(self.ids.len());
        self.pos = end;
        &self.ids[start..end]
    }
    fn skip(&mut self, celt: usize) -> bool {
        let left = self.ids.len() - self.pos.min(self.ids.len());
        self.pos = self.pos.saturating_add(celt).min(self.ids.len());
        celt <= left
    }
}

/// An enumerator of group or job GUIDs (`IEnumBackgroundCopyGroups`,
/// `IEnumBackgroundCopyJobs1`): a snapshot taken at creation, in creation order.
///
/// `Clone` is the COM `Clone`: same snapshot, independent cursor. It is also an [`Iterator`]
/// from the current position.
#[derive(Clone, Debug)]
pub struct GuidEnum(GuidCursor);

/// The enumerator [`Manager::enum_groups`] returns.
pub type GroupEnum = GuidEnum;
/// The enumerator [`Group::enum_jobs`] returns.
pub type JobEnum = GuidEnum;

impl GuidEnum {
    /// `Next`: up to `celt` GUIDs from the cursor (fewer at the end: `S_FALSE` in C).
    pub fn next_batch(&mut self, celt: usize) -> Vec<Guid> {
        self.0.next(celt).to_vec()
    }
    /// `Skip`: advances `celt`; false when fewer were left (`S_FALSE` in C).
    pub fn skip_items(&mut self, celt: usize) -> bool {
        self.0.skip(celt)
    }
    /// `Reset`: back to the start.
    pub fn reset(&mut self) {
        self.0.pos = 0;
    }
    /// `GetCount`: size of the snapshot, independent of the cursor.
    pub fn count_all(&self) -> usize {
        self.0.ids.len()
    }
}

impl Iterator for GuidEnum {
    type Item = Guid;
    fn next(&mut self) -> Option<Guid> {
        self.0.next(1).first().copied()
    }
}

#[cfg(test)]
mod status_cache_tests {
    use super::StatusCache;

    /// An answer is given back only for the epoch it was read at; a later epoch's answer is
    /// never replaced by an earlier one's.
    #[test]
    fn answers_only_for_their_epoch() {
        let c = StatusCache::default();
        assert_eq!(c.get(0), None, "empty");
        c.put(5, (0x080, 2));
        assert_eq!(c.get(5), Some((0x080, 2)));
        assert_eq!(c.get(6), None);
        c.put(7, (0x140, u32::MAX));
        assert_eq!(c.get(7), Some((0x140, u32::MAX)));
        c.put(6, (0x180, 0));
        assert_eq!(c.get(7), Some((0x140, u32::MAX)), "an older answer does not replace a newer one");
        assert_eq!(c.get(6), None);
    }

    /// Readers racing a writer see a whole answer of one epoch or none, never a mix; and they
    /// do see answers (the test cannot pass by never reading one).
    #[test]
    fn readers_never_see_a_torn_answer() {
        use std::sync::atomic::{AtomicU64, Ordering};
        let c = std::sync::Arc::new(StatusCache::default());
        let latest = std::sync::Arc::new(AtomicU64::new(0));
        let writer = {
            let (c, latest) = (c.clone(), latest.clone());
            std::thread::spawn(move || {
                for e in 1..200_000u64 {
                    c.put(e, (e as u32, !(e as u32)));
                    latest.store(e, Ordering::Release);
                }
            })
        };
        let mut hits = 0u64;
        loop {
            let done = writer.is_finished();
            let e = latest.load(Ordering::Acquire);
            if let Some(answer) = c.get(e) {
                assert_eq!(answer, (e as u32, !(e as u32)), "epoch {e}");
                hits += 1;
            }
            if done {
                break;
            }
        }
        writer.join().unwrap();
        assert!(hits > 0, "the reader saw no answer at all");
        assert_eq!(c.get(199_999), Some((199_999, !199_999)));
    }
}
