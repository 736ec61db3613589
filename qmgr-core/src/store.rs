//! The persistence boundary: what the engine needs from a queue store.
//!
//! `qmgr-store` implements [`Store`] on SQLite; [`MemStore`] is an in-memory implementation
//! for tests and for queues that need no persistence.

use crate::guid::Guid;
use crate::hresult::Result;
use crate::model::{
    BackgroundStatus, Checksum, FileRecord, GroupRecord, GroupState, HeldRanges, JobRecord, QueueImage, Validators,
};

/// One change to the queue. A slice of them is applied atomically by [`Store::apply`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Insert a new group. Fails with `E_INVALIDARG` when the queue holds the GUID already
    /// (another process may have created it meanwhile; DECISIONS D3, D10).
    CreateGroup(GroupRecord),
    /// Replace an existing group's record (properties, state, foreground). Ignored when the
    /// group no longer exists, so that a group cancelled by another process stays cancelled.
    UpdateGroup(GroupRecord),
    /// Delete a group with its jobs and files (cancel).
    DeleteGroup(Guid),
    /// Insert or replace a job. Ignored when its group no longer exists.
    PutJob(JobRecord),
    /// Delete a job with its files (`CancelJob`).
    DeleteJob(Guid),
    /// Insert or replace a file. Ignored when its job no longer exists.
    PutFile(FileRecord),
    /// Progress checkpoint of one file: updates only an existing row (never resurrects a
    /// deleted one), so a checkpoint racing a cancel is harmless.
    Checkpoint {
        /// The job.
        job_id: Guid,
        /// The file index in the job.
        index: u32,
        /// Bytes held in the temporary file.
        bytes_done: u64,
        /// The ranges held, for a file fetched in segments (`FileRecord::held_ranges`).
        held_ranges: Option<HeldRanges>,
        /// Validators of the response those bytes came from.
        validators: Validators,
        /// Milliseconds of active transfer time of the job.
        job_active_ms: u64,
    },
    /// Sets the checksum of one file (`qmgr_job_set_file_checksum`; DECISIONS D15): updates
    /// only an existing row that is not complete, and nothing else of it (its progress stays
    /// the transfer's).
    SetFileChecksum {
        /// The job.
        job_id: Guid,
        /// The file index in the job.
        index: u32,
        /// The expected digest.
        checksum: Checksum,
    },
    /// A state change made by a transfer (completion, fatal error): updates only an existing
    /// group and only while it is still RUNNING, so that it never resurrects a group another
    /// process cancelled, nor overrides a suspend another process wrote meanwhile (D10).
    TransferEnded {
        /// The group.
        group_id: Guid,
        /// Its new state (COMPLETE or ERROR).
        state: GroupState,
    },
    /// Set a queue option (text form, already validated).
    SetOption {
        /// Option name.
        name: String,
        /// Option value.
        value: String,
    },
}

/// Persistent storage of one queue (DESIGN "Layers"; DECISIONS D6).
///
/// Implementations must make [`Store::apply`] atomic and durable against a process crash
/// (a `kill -9` after it returns loses nothing), and [`Store::load`] must return exactly what
/// was applied, in creation order.
pub trait Store: Send {
    /// Loads the whole queue.
    ///
    /// Errors: `QM_E_SERVICE_UNAVAILABLE` when the store cannot be read.
    fn load(&mut self) -> Result<QueueImage>;

    /// Applies the changes in one transaction: all or nothing.
    ///
    /// Errors: `QM_E_SERVICE_UNAVAILABLE` (with the cause in the message) when the store cannot
    /// be written (read-only or full file system, I/O error); nothing is applied then.
    fn apply(&mut self, ops: &[Op]) -> Result<()>;

    /// Tries, without blocking, to take the queue's exclusive transfer lock (DECISIONS D10):
    /// only its holder runs transfers. Returns true when this store holds it (also when it
    /// already did). The lock is released when the store is dropped or the process dies.
    ///
    /// Errors: `QM_E_SERVICE_UNAVAILABLE` when the lock file cannot be opened.
    fn try_lock_transfers(&mut self) -> Result<bool>;

    /// True when another writer (another process, or another store object on the same
    /// queue) has changed the queue since this store's last [`Store::load`], or when it has
    /// not loaded yet; this store's own [`Store::apply`] does not count. Must be cheap: the
    /// engine calls it every 200 ms to follow other processes (DECISIONS D10). A store no
    /// one else can write (the default) never changes behind the engine's back.
    ///
    /// Errors: `QM_E_SERVICE_UNAVAILABLE` when the store cannot be read.
    fn changed_by_others(&mut self) -> Result<bool> {
        Ok(false)
    }

    /// Starts calling `changed` within milliseconds of each change committed to the queue by
    /// another writer (this store's own may call it too; so may nothing at all: it is a hint),
    /// until the returned guard is dropped, which stops and joins whatever watches. The engine
    /// then asks [`Store::changed_by_others`] at once instead of at its next 200 ms look, so
    /// that processes sharing a queue see each other's changes without delay (DECISIONS D10).
    /// `None` (the default): nothing watches, the engine's look every 200 ms remains.
    fn watch(&self, changed: Box<dyn Fn() + Send + Sync>) -> Option<Box<dyn Send>> {
        let _ = changed;
        None
    }

    /// Loads what changed since this store's last [`Store::load`] or `load_changes` (by
    /// anyone, this store's own writes included): the queue's options, every group that was
    /// created or changed (with all its jobs and files, as [`Store::load`] orders them), and
    /// the groups deleted meanwhile. This is how the engine follows other processes without
    /// re-reading a queue of 100,000 groups on every change (DECISIONS D10).
    ///
    /// May answer [`Loaded::Full`] instead (the default: a full [`Store::load`]), e.g. before
    /// the first load or when the record of deletions no longer reaches back far enough.
    ///
    /// Errors: `QM_E_SERVICE_UNAVAILABLE` when the store cannot be read.
    fn load_changes(&mut self) -> Result<Loaded> {
        self.load().map(Loaded::Full)
    }

    /// Publishes the background status of the process that runs the queue's transfers, for
    /// the queue's other processes (`qmgr info` in another terminal; DECISIONS D14). Not part
    /// of the queue's durable state: nothing is flushed, and a crash may lose it. Default:
    /// nothing (a store no one else reads).
    ///
    /// Errors: `QM_E_SERVICE_UNAVAILABLE` when it cannot be written (the engine logs it).
    fn publish_background(&mut self, status: &BackgroundStatus) -> Result<()> {
        let _ = status;
        Ok(())
    }

    /// The background status last published by [`Store::publish_background`] (by any process)
    /// within `max_age`; `None` when there is none that recent.
    fn published_background(&mut self, max_age: std::time::Duration) -> Option<BackgroundStatus> {
        let _ = max_age;
        None
    }
}

/// What [`Store::load_changes`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Loaded {
    /// The whole queue: groups not in it are gone.
    Full(QueueImage),
    /// Only what changed: `image` holds the options and the created or changed groups, each
    /// whole (all its jobs and files); groups in `deleted` are gone; every other group is as
    /// it was.
    Changes {
        /// Options, and the groups that were created or changed.
        image: QueueImage,
        /// Groups deleted since the last load (a GUID deleted and created again is not here
        /// but in `image`).
        deleted: Vec<Guid>,
    },
}

/// An in-memory [`Store`]: the same semantics as the SQLite store, without persistence.
#[derive(Debug, Default)]
pub struct MemStore {
    image: QueueImage,
}

impl MemStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Store for MemStore {
    fn try_lock_transfers(&mut self) -> Result<bool> {
        Ok(true)
    }

    fn load(&mut self) -> Result<QueueImage> {
        Ok(self.image.clone())
    }

    fn apply(&mut self, ops: &[Op]) -> Result<()> {
        // All or nothing: the ops change a copy, which replaces the image once all applied.
        let mut next = self.image.clone();
        let img = &mut next;
        for op in ops {
            match op {
                Op::CreateGroup(g) => {
                    if img.groups.iter().any(|x| x.id == g.id) {
                        return Err(crate::hresult::Error::invalid_arg(format!(
                            "group {} already exists in the queue",
                            g.id
                        )));
                    }
                    img.groups.push(g.clone())
                }
                Op::UpdateGroup(g) => {
                    if let Some(x) = img.groups.iter_mut().find(|x| x.id == g.id) {
                        *x = g.clone();
                    }
                }
                Op::DeleteGroup(id) => {
                    img.groups.retain(|g| g.id != *id);
                    let gone: Vec<Guid> = img.jobs.iter().filter(|j| j.group_id == *id).map(|j| j.id).collect();
                    img.jobs.retain(|j| j.group_id != *id);
                    img.files.retain(|f| !gone.contains(&f.job_id));
                }
                Op::PutJob(j) => {
                    if !img.groups.iter().any(|g| g.id == j.group_id) {
                        continue;
                    }
                    match img.jobs.iter_mut().find(|x| x.id == j.id) {
                        Some(x) => *x = j.clone(),
                        None => img.jobs.push(j.clone()),
                    }
                }
                Op::DeleteJob(id) => {
                    img.jobs.retain(|j| j.id != *id);
                    img.files.retain(|f| f.job_id != *id);
                }
                Op::PutFile(f) => {
                    if !img.jobs.iter().any(|j| j.id == f.job_id) {
                        continue;
                    }
                    match img.files.iter_mut().find(|x| x.job_id == f.job_id && x.index == f.index) {
                        Some(x) => *x = f.clone(),
                        None => img.files.push(f.clone()),
                    }
                }
                Op::Checkpoint { job_id, index, bytes_done, held_ranges, validators, job_active_ms } => {
                    if let Some(f) = img.files.iter_mut().find(|x| x.job_id == *job_id && x.index == *index) {
                        f.bytes_done = *bytes_done;
                        f.held_ranges = held_ranges.clone();
                        f.validators = validators.clone();
                    }
                    if let Some(j) = img.jobs.iter_mut().find(|x| x.id == *job_id) {
                        j.active_ms = *job_active_ms;
                    }
                }
                Op::SetFileChecksum { job_id, index, checksum } => {
                    let file = img.files.iter_mut().find(|x| x.job_id == *job_id && x.index == *index);
                    if let Some(f) = file.filter(|f| !f.complete) {
                        f.checksum = Some(checksum.clone());
                    }
                }
                Op::TransferEnded { group_id, state } => {
                    if let Some(g) = img.groups.iter_mut().find(|g| g.id == *group_id && g.state == GroupState::Running)
                    {
                        g.state = *state;
                    }
                }
                Op::SetOption { name, value } => match img.options.iter_mut().find(|(n, _)| n == name) {
                    Some((_, v)) => *v = value.clone(),
                    None => img.options.push((name.clone(), value.clone())),
                },
            }
        }
        img.files.sort_by_key(|f| {
            let pos = img.jobs.iter().position(|j| j.id == f.job_id).unwrap_or(usize::MAX);
            (pos, f.index)
        });
        self.image = next;
        Ok(())
    }
}
