//! The manager's shared state and the rules derived from it (status words, progress, sizes).

use crate::clock::Clock;
use crate::guid::Guid;
use crate::hresult::{Error, Result, QM_E_SERVICE_UNAVAILABLE};
use crate::model::{notify, progress, status, FileRecord, GroupRecord, GroupState, JobRecord, Options};
use crate::rate::RateLimiter;
use crate::store::{Loaded, Op, Store};
use crate::transport::{CancelFlag, Transport};
use crossbeam_channel::Sender;
use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::api::Callback;

/// Messages to the scheduler thread.
pub(crate) enum SchedMsg {
    /// Something changed: recompute what runs.
    Kick,
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

/// What kind of `OnStatus` an event is (DECISIONS D1, D7, D11).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EventKind {
    /// Fatal error: valid while the group is in ERROR.
    Error,
    /// Group complete (`QM_NOTIFY_GROUP_DONE`): valid while the group is COMPLETE.
    GroupDone,
    /// Job complete (`QM_NOTIFY_JOB_DONE`).
    JobDone,
    /// File complete (`QM_NOTIFY_FILE_DONE`).
    FileDone,
}

/// One pending `OnStatus` call.
#[derive(Clone, Debug)]
pub(crate) struct StatusEvent {
    pub seq: u64,
    pub kind: EventKind,
    pub job: Option<(Guid, u64)>,
    pub file_index: u32,
    pub status: u32,
    pub retries: u32,
    pub win32: u32,
    pub transport: u32,
    /// Not before this instant (re-delivery back-off).
    pub next_at: Instant,
    /// Current re-delivery back-off.
    pub backoff: Duration,
}

/// One pending progress notification (`OnProgress` / `OnProgressEx`; DECISIONS D1, D9).
/// Best-effort: never re-delivered, dropped when nobody listens, and a newer one of the same
/// type replaces an undelivered older one.
#[derive(Clone, Debug)]
pub(crate) struct ProgressEvent {
    pub seq: u64,
    /// `QM_PROGRESS_*`.
    pub kind: u32,
    pub job: (Guid, u64),
    pub file_index: u32,
    /// The job's progress in the unit of `kind`.
    pub value: u32,
    /// The D9 record for the job.
    pub record: [u8; PROGRESS_RECORD_LEN],
}

/// Length of the version-1 `OnProgressEx` record (DECISIONS D9).
pub(crate) const PROGRESS_RECORD_LEN: usize = 28;

/// A running transfer worker of a group.
pub(crate) struct WorkerSlot {
    pub cancel: Arc<CancelFlag>,
    pub id: u64,
    /// Temporary files the worker deletes once it has stopped (cancel while transferring).
    pub discard: super::worker::DiscardList,
    /// Every file is fetched; the worker only waits for the last commits: it no longer takes
    /// one of the `max_active_groups` places, so the next group starts meanwhile.
    pub finishing: bool,
}

/// One job in memory.
pub(crate) struct JobEntry {
    pub inc: u64,
    pub rec: JobRecord,
    pub files: Vec<FileRecord>,
    /// While a transfer of this job runs: the instant `rec.active_ms` was last brought up to
    /// date; active time keeps counting from it even when no bytes arrive (a stall).
    pub active_since: Option<Instant>,
}

impl JobEntry {
    /// Complete when it has files and every file is committed.
    pub fn complete(&self) -> bool {
        !self.files.is_empty() && self.files.iter().all(|f| f.complete)
    }
    /// (bytes done, total if every size is known).
    pub fn bytes(&self) -> (u64, Option<u64>) {
        let done = self.files.iter().map(|f| f.bytes_done).sum();
        let total = self.files.iter().map(|f| f.known_size()).sum::<Option<u64>>();
        (done, total)
    }

    /// A job without files, as `CreateJob` makes it.
    pub fn new(inc: u64, rec: JobRecord, files: Vec<FileRecord>) -> JobEntry {
        JobEntry { inc, rec, files, active_since: None }
    }

    /// Milliseconds of active transfer at `now` (DECISIONS D1 `QM_PROGRESS_TIME_DONE`).
    pub fn active_ms(&self, now: Instant) -> u64 {
        let running = self.active_since.map_or(0, |t| now.saturating_duration_since(t).as_millis() as u64);
        self.rec.active_ms + running
    }

    /// Brings `rec.active_ms` up to `now` (the clock keeps running while a transfer does).
    pub fn fold_active_time(&mut self, now: Instant) {
        if self.active_since.is_some() {
            self.rec.active_ms = self.active_ms(now);
            self.active_since = Some(now);
        }
    }

    /// Stops the job's active-time clock at `now` (transfer ended, group suspended or failed).
    pub fn stop_active_time(&mut self, now: Instant) {
        self.fold_active_time(now);
        self.active_since = None;
    }

    /// The job's progress in a `QM_PROGRESS_*` unit at `now` (`GetProgress`; DECISIONS D1):
    /// percent (floor; 100 once complete), bytes or active milliseconds, saturating at
    /// `0xFFFFFFFF`.
    pub fn progress_value(&self, kind: u32, now: Instant) -> u32 {
        let (done, total) = self.bytes();
        match kind {
            progress::PERCENT_DONE => percent(done, total, self.complete()),
            progress::SIZE_DONE => sat32(done),
            _ => sat32(self.active_ms(now)),
        }
    }

    /// The version-1 `OnProgressEx` record of this job (DECISIONS D9): little-endian
    /// `u32 version, u64 bytes_done, u64 bytes_total (u64::MAX unknown), u32 files_done,
    /// u32 files_total`.
    pub fn progress_record(&self) -> [u8; PROGRESS_RECORD_LEN] {
        let (done, total) = self.bytes();
        let files_done = self.files.iter().filter(|f| f.complete).count() as u32;
        let mut r = [0u8; PROGRESS_RECORD_LEN];
        r[0..4].copy_from_slice(&1u32.to_le_bytes());
        r[4..12].copy_from_slice(&done.to_le_bytes());
        r[12..20].copy_from_slice(&total.unwrap_or(u64::MAX).to_le_bytes());
        r[20..24].copy_from_slice(&files_done.to_le_bytes());
        r[24..28].copy_from_slice(&(self.files.len() as u32).to_le_bytes());
        r
    }
}

/// One group in memory.
pub(crate) struct GroupEntry {
    /// Incarnation: distinguishes this group from a later one reusing its GUID.
    pub inc: u64,
    pub rec: GroupRecord,
    pub jobs: Vec<JobEntry>,
    pub callback: Option<Arc<dyn Callback>>,
    pub worker: Option<WorkerSlot>,
    /// Waiting to retry a transient error until then.
    pub retry_at: Option<Instant>,
    /// Next retry delay.
    pub retry_delay: Duration,
    /// The first transient error since bytes last arrived (or since the group was resumed):
    /// the no-progress timeout's origin (DECISIONS D5; BITS starts it at the first transient
    /// error). `None` while the transfer makes progress.
    pub stalled_since: Option<Instant>,
    pub pending: VecDeque<StatusEvent>,
    /// Undelivered progress notifications, at most one per `QM_PROGRESS_*` type.
    pub progress_pending: Vec<ProgressEvent>,
}

impl GroupEntry {
    pub fn new(inc: u64, rec: GroupRecord, jobs: Vec<JobEntry>, min_retry: Duration) -> Self {
        GroupEntry {
            inc,
            rec,
            jobs,
            callback: None,
            worker: None,
            retry_at: None,
            retry_delay: min_retry,
            stalled_since: None,
            pending: VecDeque::new(),
            progress_pending: Vec::new(),
        }
    }

    /// The `GetStatus` word (reference §3.4; DECISIONS D3).
    pub fn status_word(&self) -> u32 {
        let mut s =
            if self.rec.state == GroupState::Complete { status::GROUP_COMPLETE } else { status::GROUP_INCOMPLETE };
        if self.rec.state != GroupState::Running {
            s |= status::GROUP_SUSPENDED;
        }
        if self.rec.state == GroupState::Error {
            s |= status::GROUP_ERROR;
        }
        if self.rec.foreground {
            s |= status::GROUP_FOREGROUND;
        }
        s
    }

    /// Index of the job being processed or next to process (jobs without files are skipped:
    /// there is nothing to process in them); the last job's once every file is done; 0 with
    /// no jobs (DECISIONS D1).
    pub fn job_index(&self) -> u32 {
        let i = self
            .jobs
            .iter()
            .position(|j| !j.files.is_empty() && !j.complete())
            .unwrap_or(self.jobs.len().saturating_sub(1));
        i as u32
    }

    /// True when a file this group would transfer still waits for the deletion of a
    /// temporary file of the same name (see [`State::discarding`]).
    pub fn blocked_by(&self, discarding: &HashSet<PathBuf>) -> bool {
        !discarding.is_empty()
            && self.jobs.iter().flat_map(|j| &j.files).any(|f| {
                !f.complete && discarding.contains(&crate::model::temp_path_for(&f.local_path, f.job_id, f.index))
            })
    }

    /// (bytes done, total when every size is known) over all jobs.
    pub fn bytes(&self) -> (u64, Option<u64>) {
        let mut done = 0u64;
        let mut total = Some(0u64);
        for j in &self.jobs {
            let (d, t) = j.bytes();
            done += d;
            total = total.zip(t).map(|(a, b)| a + b);
        }
        (done, total)
    }

    /// The group's progress in a `QM_PROGRESS_*` unit at `now`, over all jobs (`GetProgress`).
    pub fn progress_value(&self, kind: u32, now: Instant) -> u32 {
        let (done, total) = self.bytes();
        match kind {
            progress::PERCENT_DONE => percent(done, total, self.rec.state == GroupState::Complete),
            progress::SIZE_DONE => sat32(done),
            _ => sat32(self.jobs.iter().map(|j| j.active_ms(now)).sum()),
        }
    }

    /// True when the group has at least one file.
    pub fn has_files(&self) -> bool {
        self.jobs.iter().any(|j| !j.files.is_empty())
    }

    pub fn job(&self, id: Guid, inc: u64) -> Option<&JobEntry> {
        self.jobs.iter().find(|j| j.rec.id == id && j.inc == inc)
    }

    pub fn job_mut(&mut self, id: Guid, inc: u64) -> Option<&mut JobEntry> {
        self.jobs.iter_mut().find(|j| j.rec.id == id && j.inc == inc)
    }
}

/// Percent of `done` in `total` (floor), 0 while unknown, 100 when complete (DECISIONS D1;
/// reference §2.2.3).
pub(crate) fn percent(done: u64, total: Option<u64>, complete: bool) -> u32 {
    if complete {
        return 100;
    }
    match total {
        Some(t) if t > 0 => ((done.min(t) as u128 * 100) / t as u128) as u32,
        _ => 0,
    }
}

/// Saturates a 64-bit count to a DWORD.
pub(crate) fn sat32(v: u64) -> u32 {
    v.min(u32::MAX as u64) as u32
}

/// All mutable state of a manager.
pub(crate) struct State {
    pub options: Options,
    pub groups: HashMap<Guid, GroupEntry>,
    /// Live groups in creation order.
    pub order: Vec<Guid>,
    /// Job id → group id, over live jobs (job GUIDs are unique in the queue).
    pub job_owner: HashMap<Guid, Guid>,
    pub next_seq: u64,
    pub next_inc: u64,
    pub next_event: u64,
    pub next_worker: u64,
    /// This process holds the transfer lock (DECISIONS D10).
    pub holder: bool,
    pub shutting_down: bool,
    pub workers: Vec<JoinHandle<()>>,
    /// Temporary files of cancelled work not deleted yet: no transfer that would write one of
    /// them starts before it is gone (a GUID reused at once after a cancel names the same
    /// temporary file; DECISIONS D3, D4).
    pub discarding: HashSet<PathBuf>,
}

impl State {
    pub fn inc(&mut self) -> u64 {
        self.next_inc += 1;
        self.next_inc
    }

    pub fn group(&self, id: Guid, inc: u64) -> Option<&GroupEntry> {
        self.groups.get(&id).filter(|g| g.inc == inc)
    }

    pub fn group_mut(&mut self, id: Guid, inc: u64) -> Option<&mut GroupEntry> {
        self.groups.get_mut(&id).filter(|g| g.inc == inc)
    }

    /// Queues an `OnStatus` event for a group (delivered by the notifier).
    pub fn push_event(&mut self, group: Guid, mut ev: StatusEvent) {
        self.next_event += 1;
        ev.seq = self.next_event;
        if let Some(g) = self.groups.get_mut(&group) {
            // A newer error or completion replaces an older one of the same kind.
            if matches!(ev.kind, EventKind::Error | EventKind::GroupDone) {
                g.pending.retain(|e| e.kind != ev.kind);
            }
            g.pending.push_back(ev);
        }
    }

    /// Queues a progress notification, replacing an undelivered one of the same type.
    pub fn push_progress(&mut self, group: Guid, mut ev: ProgressEvent) {
        self.next_event += 1;
        ev.seq = self.next_event;
        if let Some(g) = self.groups.get_mut(&group) {
            g.progress_pending.retain(|e| e.kind != ev.kind);
            g.progress_pending.push(ev);
        }
    }

    /// Brings the in-memory queue up to date with what the store loaded: the whole queue
    /// ([`Loaded::Full`]: groups not in it are gone) or only what changed
    /// ([`Loaded::Changes`]: the changed groups are replaced, the deleted ones removed, the
    /// others left untouched, so that following another process costs per change, not per
    /// group; DECISIONS D10). Incarnations, callbacks and workers of groups and jobs that still
    /// exist are kept. Bytes of a file that a worker here holds beyond the last checkpoint are
    /// kept; a group that another process moved into ERROR or COMPLETE gets the `OnStatus`
    /// event of that state. Returns the temporary files of vanished idle groups, to delete.
    pub fn load_image(&mut self, loaded: Loaded, now: Instant) -> Vec<PathBuf> {
        let (image, deleted) = match loaded {
            Loaded::Full(image) => (image, None),
            Loaded::Changes { image, deleted } => (image, Some(deleted)),
        };
        let mut options = Options::default();
        for (name, value) in &image.options {
            if let Err(e) = options.set(name, value) {
                log::warn!("ignoring stored option: {e}");
            }
        }
        self.options = options;
        let min_retry = Duration::from_millis(self.options.min_retry_delay_ms);
        let job_count = image.jobs.len();
        // Each job's file list is allocated at its exact size: with 100,000 idle groups in
        // memory, lists grown by pushes (and their freed slack) would cost 0.5 KiB per group.
        let mut files_per_job: HashMap<Guid, usize> = HashMap::with_capacity(job_count);
        for f in &image.files {
            *files_per_job.entry(f.job_id).or_default() += 1;
        }
        let mut files_by_job: HashMap<Guid, Vec<FileRecord>> = HashMap::with_capacity(job_count);
        for f in image.files {
            let n = files_per_job.get(&f.job_id).copied().unwrap_or(1);
            files_by_job.entry(f.job_id).or_insert_with(|| Vec::with_capacity(n)).push(f);
        }
        drop(files_per_job);
        let mut jobs_by_group: HashMap<Guid, Vec<JobRecord>> = HashMap::with_capacity(image.groups.len());
        for j in image.jobs {
            jobs_by_group.entry(j.group_id).or_default().push(j);
        }
        // The groups being replaced or removed leave the maps; `old` holds them.
        let mut old = match &deleted {
            None => {
                self.order.clear();
                self.job_owner.clear();
                std::mem::take(&mut self.groups)
            }
            Some(deleted) => {
                let mut old = HashMap::new();
                for id in image.groups.iter().map(|g| &g.id).chain(deleted) {
                    if let Some(g) = self.groups.remove(id) {
                        for j in &g.jobs {
                            self.job_owner.remove(&j.rec.id);
                        }
                        old.insert(*id, g);
                    }
                }
                let gone: HashSet<&Guid> = deleted.iter().collect();
                if !gone.is_empty() {
                    self.order.retain(|id| !gone.contains(id));
                }
                old
            }
        };
        let mut transitions = Vec::new();
        let mut observed: Vec<(Guid, Observed)> = Vec::new();
        let mut changed = Vec::new();
        let mut replaced = Vec::new();
        self.groups.reserve(image.groups.len());
        self.job_owner.reserve(job_count);
        for rec in image.groups {
            let id = rec.id;
            self.next_seq = self.next_seq.max(rec.seq + 1);
            let job_recs = jobs_by_group.remove(&id).unwrap_or_default();
            changed.push(id);
            let mut known = old.remove(&id);
            // Another seq: the GUID was cancelled and created again elsewhere; the group known
            // here is gone (its handles answer QM_E_INVALID_STATE) and this is a new one.
            if let Some(e) = known.take_if(|e| e.rec.seq != rec.seq) {
                replaced.push(e);
                if deleted.is_some() {
                    self.order.retain(|g| *g != id);
                }
            }
            // Creation order: a full image comes in that order; in a partial one, a new group
            // takes its place by `seq` and a known one keeps its own.
            if deleted.is_none() {
                self.order.push(id);
            } else if known.is_none() {
                let groups = &self.groups;
                let at = self.order.partition_point(|g| groups.get(g).is_some_and(|g| g.rec.seq <= rec.seq));
                self.order.insert(at, id);
            }
            let mut entry = match known {
                Some(mut e) => {
                    if e.rec.state != rec.state {
                        transitions.push(id);
                    }
                    e.rec = rec;
                    e
                }
                None => {
                    // First seen here (queue opened, or created by another process): an error
                    // or completion it already holds is owed to a callback registered later (D7).
                    if matches!(rec.state, GroupState::Error | GroupState::Complete) {
                        transitions.push(id);
                    }
                    let inc = self.inc();
                    GroupEntry::new(inc, rec, Vec::new(), min_retry)
                }
            };
            let transferring = entry.worker.is_some();
            let mut old_jobs: HashMap<Guid, JobEntry> =
                std::mem::take(&mut entry.jobs).into_iter().map(|j| (j.rec.id, j)).collect();
            let mut jobs = Vec::with_capacity(job_recs.len());
            for mut jr in job_recs {
                self.next_seq = self.next_seq.max(jr.seq + 1);
                let mut files = files_by_job.remove(&jr.id).unwrap_or_default();
                let prev = old_jobs.remove(&jr.id);
                let (inc, active_since) = match &prev {
                    Some(prev) if transferring => {
                        keep_newer_progress(&mut jr, &mut files, prev);
                        (prev.inc, prev.active_since)
                    }
                    Some(prev) => (prev.inc, None),
                    None => (self.inc(), None),
                };
                self.job_owner.insert(jr.id, id);
                let job = JobEntry { active_since, ..JobEntry::new(inc, jr, files) };
                if let Some(prev) = prev.filter(|_| !transferring) {
                    observed.extend(observe_remote_progress(&entry, &prev, &job, now).into_iter().map(|o| (id, o)));
                }
                jobs.push(job);
            }
            entry.jobs = jobs;
            self.groups.insert(id, entry);
        }
        // Groups that vanished from the store (left in `old`, or replaced by a new group of the
        // same GUID) were cancelled elsewhere: stop their workers, which then delete their
        // temporary files; those of idle groups are returned. Never a temporary file that a
        // group in the queue now uses (a GUID reused with the same job GUIDs names the same).
        let gone: Vec<GroupEntry> = old.into_values().chain(replaced).collect();
        let in_use: HashSet<PathBuf> = match gone.is_empty() {
            true => HashSet::new(),
            false => {
                changed.iter().filter_map(|id| self.groups.get(id)).flat_map(|g| partial_temp_files(&g.jobs)).collect()
            }
        };
        let mut vanished = Vec::new();
        for g in gone {
            let mut temps = partial_temp_files(&g.jobs);
            temps.retain(|t| !in_use.contains(t));
            match &g.worker {
                Some(w) => {
                    w.cancel.cancel();
                    w.discard.lock().unwrap_or_else(|e| e.into_inner()).extend(temps);
                }
                None => vanished.extend(temps),
            }
        }
        for (id, o) in observed {
            match o {
                Observed::Status(ev) => self.push_event(id, ev),
                Observed::Progress(ev) => self.push_progress(id, ev),
            }
        }
        for id in transitions {
            self.push_state_event(id, now);
        }
        vanished
    }

    /// Queues the `OnStatus` event that a group's current state calls for, if any: the error
    /// of its failing job in ERROR, group completion in COMPLETE (DECISIONS D7, D11).
    fn push_state_event(&mut self, id: Guid, now: Instant) {
        let Some(g) = self.groups.get(&id) else { return };
        let word = g.status_word();
        let ev = match g.rec.state {
            GroupState::Error => {
                let Some(j) = g.jobs.iter().find(|j| j.rec.error.is_some()) else { return };
                let e = j.rec.error.as_ref().expect("found above");
                let index = e.file_index.unwrap_or(u32::MAX);
                new_event(
                    now,
                    EventKind::Error,
                    Some((j.rec.id, j.inc)),
                    index,
                    word,
                    j.rec.retries,
                    e.win32,
                    e.transport,
                )
            }
            GroupState::Complete => new_event(now, EventKind::GroupDone, None, u32::MAX, word, 0, 0, 0),
            _ => return,
        };
        self.push_event(id, ev);
    }
}

/// The temporary files of the incomplete files of `jobs` (DECISIONS D4).
pub(crate) fn partial_temp_files(jobs: &[JobEntry]) -> Vec<PathBuf> {
    jobs.iter()
        .flat_map(|j| {
            j.files
                .iter()
                .filter(|f| !f.complete)
                .map(|f| crate::model::temp_path_for(&f.local_path, f.job_id, f.index))
        })
        .collect()
}

/// A notification owed for what another process's transfer did (DECISIONS D10: callbacks fire
/// in the process that registered them).
enum Observed {
    Status(StatusEvent),
    Progress(ProgressEvent),
}

/// The notifications that a job's progress, made by another process between two loads of the
/// queue, calls for in this one: `QM_NOTIFY_FILE_DONE` / `JOB_DONE` for files and jobs that
/// completed, and a progress notification for each threshold whose multiple was crossed (a
/// coarse view: the store is updated every 250 ms of transfer).
fn observe_remote_progress(group: &GroupEntry, prev: &JobEntry, job: &JobEntry, now: Instant) -> Vec<Observed> {
    let props = &group.rec.props;
    let mut out = Vec::new();
    if group.callback.is_none() || props.notify_flags & notify::DISABLE_NOTIFY != 0 {
        return out; // Completion events do not hold later; progress is never delivered late.
    }
    let word = group.status_word();
    let jref = Some((job.rec.id, job.inc));
    if props.notify_flags & notify::FILE_DONE != 0 {
        for f in job.files.iter().filter(|f| f.complete) {
            if prev.files.get(f.index as usize).is_some_and(|p| !p.complete) {
                let status = word | status::FILE_COMPLETE;
                out.push(Observed::Status(new_event(
                    now,
                    EventKind::FileDone,
                    jref,
                    f.index,
                    status,
                    job.rec.retries,
                    0,
                    0,
                )));
            }
        }
    }
    if props.notify_flags & notify::JOB_DONE != 0 && job.complete() && !prev.complete() {
        let status = word | status::JOB_COMPLETE;
        out.push(Observed::Status(new_event(now, EventKind::JobDone, jref, u32::MAX, status, job.rec.retries, 0, 0)));
    }
    let file_index = job.files.iter().find(|f| !f.complete).or(job.files.last()).map_or(u32::MAX, |f| f.index);
    let thresholds = [
        (progress::SIZE_DONE, props.progress_size),
        (progress::PERCENT_DONE, props.progress_percent),
        (progress::TIME_DONE, props.progress_time),
    ];
    for (kind, threshold) in thresholds.into_iter().filter(|(_, t)| *t > 0) {
        let amount = |j: &JobEntry| match kind {
            progress::SIZE_DONE => j.bytes().0,
            progress::TIME_DONE => j.rec.active_ms,
            _ => u64::from(j.progress_value(kind, now)),
        };
        if amount(job) / u64::from(threshold) > amount(prev) / u64::from(threshold) {
            out.push(Observed::Progress(ProgressEvent {
                seq: 0,
                kind,
                job: (job.rec.id, job.inc),
                file_index,
                value: job.progress_value(kind, now),
                record: job.progress_record(),
            }));
        }
    }
    out
}

/// For a job this process is transferring: keeps the in-memory bytes and active time when they
/// are ahead of the store's last checkpoint.
fn keep_newer_progress(rec: &mut JobRecord, files: &mut [FileRecord], prev: &JobEntry) {
    rec.active_ms = rec.active_ms.max(prev.rec.active_ms);
    for f in files.iter_mut().filter(|f| !f.complete) {
        if let Some(p) = prev.files.get(f.index as usize) {
            if p.url == f.url && p.bytes_done > f.bytes_done {
                f.bytes_done = p.bytes_done;
                f.validators = p.validators.clone();
            }
        }
    }
}

/// A new status event, deliverable from `now` (sequence number assigned by
/// [`State::push_event`]).
#[allow(clippy::too_many_arguments)]
pub(crate) fn new_event(
    now: Instant,
    kind: EventKind,
    job: Option<(Guid, u64)>,
    file_index: u32,
    status: u32,
    retries: u32,
    win32: u32,
    transport: u32,
) -> StatusEvent {
    StatusEvent {
        seq: 0,
        kind,
        job,
        file_index,
        status,
        retries,
        win32,
        transport,
        next_at: now,
        backoff: Duration::from_secs(1),
    }
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
    pub sched_tx: Sender<SchedMsg>,
    pub notify_tx: Sender<NotifyMsg>,
}

impl Inner {
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
