//! The manager's in-memory queue (a cache of the store): groups, jobs and files with what
//! only memory holds (incarnations, callbacks, workers, pending events, retry timers), and
//! the merge of what the store loaded. Derived values call the rules layer ([`crate::rules`]).

use super::commit::{Finished, Pending};
use super::Callback;
use crate::guid::Guid;
use crate::model::{FileRecord, GroupRecord, GroupState, JobRecord, Options};
use crate::rate::RateLimiter;
use crate::rules::notify::{self, ProgressEvent, StatusEvent};
use crate::rules::progress::{self, percent, sat32, Amounts, Mark};
use crate::rules::{files, retry, runner, states};
use crate::store::Loaded;
use crate::transport::CancelFlag;
use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Temporary files to delete once a worker has stopped writing (set by a cancel).
pub(crate) type DiscardList = Arc<Mutex<Vec<PathBuf>>>;

/// A running transfer worker of a group.
pub(crate) struct WorkerSlot {
    pub cancel: Arc<CancelFlag>,
    pub id: u64,
    /// Temporary files the worker deletes once it has stopped (cancel while transferring).
    pub discard: DiscardList,
    /// Every file is fetched; the worker only waits for the last commits: it no longer takes
    /// one of the `max_active_groups` places, so the next group starts meanwhile.
    pub finishing: bool,
    /// The files the worker handed to its committer, not recorded as complete yet.
    pub committing: Arc<Pending>,
    /// The group's own token bucket, at its rate limit (C-API.md "Per-group rate limit"):
    /// every transfer of the worker takes from it; [`GroupEntry::apply_rate_limit`] keeps it
    /// at the property's value while the worker runs.
    pub limiter: Arc<RateLimiter>,
}

/// One job in memory.
pub(crate) struct JobEntry {
    pub inc: u64,
    pub rec: JobRecord,
    pub files: Vec<FileRecord>,
    /// While a transfer of this job runs: the instant `rec.active_ms` was last brought up to
    /// date; active time keeps counting from it even when no bytes arrive (a stall).
    pub active_since: Option<Instant>,
    /// The thresholds in force and the job's progress when a transfer of this process last
    /// looked (DECISIONS D1 `GROUPPROP_PROGRESS*`; [`progress::crossed`]): shared by the job's
    /// transfers, so that several at once (DECISIONS D16) notify a crossing once.
    pub mark: Option<Mark>,
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
        JobEntry { inc, rec, files, active_since: None, mark: None }
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

    /// The job's progress at `now` in the three `QM_PROGRESS_*` units (percent 100 once
    /// complete).
    pub fn amounts(&self, now: Instant) -> Amounts {
        let (bytes, total) = self.bytes();
        Amounts { bytes, percent: percent(bytes, total, self.complete()), active_ms: self.active_ms(now) }
    }

    /// The job's progress in a `QM_PROGRESS_*` unit at `now` (`GetProgress`; DECISIONS D1).
    pub fn progress_value(&self, kind: u32, now: Instant) -> u32 {
        self.amounts(now).value(kind)
    }

    /// The progress notification of type `kind` for this job at `now`, naming `file_index`
    /// (DECISIONS D1, D9).
    pub fn progress_event(&self, kind: u32, file_index: u32, now: Instant) -> ProgressEvent {
        let (done, total) = self.bytes();
        let files_done = self.files.iter().filter(|f| f.complete).count() as u32;
        ProgressEvent {
            seq: 0,
            kind,
            job: (self.rec.id, self.inc),
            file_index,
            value: self.progress_value(kind, now),
            record: progress::record(done, total, files_done, self.files.len() as u32),
        }
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
    /// Files a worker of this process fetched whole and left uncommitted when it stopped (a
    /// file before them failed, or the group was suspended): the next worker commits them in
    /// their turn without asking the server again, while their records still match (DECISIONS
    /// D16). Another process holding the queue finds them through their checkpoints.
    pub(super) held: Vec<Finished>,
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
            held: Vec::new(),
        }
    }

    /// Gives a running worker's bucket the group's rate limit as `rec` now has it (set here or
    /// by another process, DECISIONS D10): it takes effect at once, also for a transfer
    /// waiting for tokens.
    pub fn apply_rate_limit(&self) {
        if let Some(w) = &self.worker {
            w.limiter.set_rate(self.rec.props.rate_limit);
        }
    }

    /// The `GetStatus` word (reference §3.4; DECISIONS D3).
    pub fn status_word(&self) -> u32 {
        states::group_status(self.rec.state, self.rec.foreground)
    }

    /// Index of the job being processed or next to process (DECISIONS D1).
    pub fn job_index(&self) -> u32 {
        progress::job_index(self.jobs.iter().map(|j| (!j.files.is_empty(), j.complete())))
    }

    /// True when a file this group would transfer still waits for the deletion of a
    /// temporary file of the same name (see [`State::discarding`]).
    pub fn blocked_by(&self, discarding: &HashSet<PathBuf>) -> bool {
        !discarding.is_empty() && files::partial_temp_files(files_of(&self.jobs)).any(|t| discarding.contains(&t))
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
        let (bytes, total) = self.bytes();
        let complete = self.rec.state == GroupState::Complete;
        let active_ms = self.jobs.iter().map(|j| j.active_ms(now)).sum();
        Amounts { bytes, percent: percent(bytes, total, complete), active_ms }.value(kind)
    }

    /// True when the group is listened to (DECISIONS D7).
    pub fn listening(&self) -> bool {
        notify::listening(self.callback.is_some(), self.rec.props.notify_flags)
    }

    /// `get_Size` (DECISIONS D12): the total when every size is known, else 0, saturated.
    pub fn size(&self) -> u32 {
        sat32(self.bytes().1.unwrap_or(0))
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
    /// True when the queue has transferable work ([`runner::has_work`]; DECISIONS D13).
    pub fn has_work(&self) -> bool {
        runner::has_work(self.groups.values().map(|g| runner::Work {
            running: g.rec.state == GroupState::Running,
            files_left: files_of(&g.jobs).any(|f| !f.complete),
        }))
    }

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
            g.pending.retain(|e| !ev.replaces(e));
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
        let min_retry = retry::reset_delay(&self.options);
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
                    e.apply_rate_limit();
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
                let (inc, active_since, mark) = match &prev {
                    Some(prev) if transferring => {
                        keep_newer_progress(&mut jr, &mut files, prev);
                        (prev.inc, prev.active_since, prev.mark)
                    }
                    Some(prev) => (prev.inc, None, None),
                    None => (self.inc(), None, None),
                };
                self.job_owner.insert(jr.id, id);
                let job = JobEntry { active_since, mark, ..JobEntry::new(inc, jr, files) };
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
                let live = changed.iter().filter_map(|id| self.groups.get(id));
                files::partial_temp_files(live.flat_map(|g| files_of(&g.jobs))).collect()
            }
        };
        let mut vanished = Vec::new();
        for g in gone {
            let temps = files::cancel_cleanup(files_of(&g.jobs), &in_use);
            vanished.extend(discard_after_stop(g.worker.as_ref(), temps));
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
    /// of its failing job in ERROR, group completion in COMPLETE ([`notify::state_event`]).
    pub fn push_state_event(&mut self, id: Guid, now: Instant) {
        let Some(g) = self.groups.get(&id) else { return };
        let failing = g.jobs.iter().find_map(|j| j.rec.error.as_ref().map(|e| ((j.rec.id, j.inc), e, j.rec.retries)));
        if let Some(ev) = notify::state_event(now, g.rec.state, g.status_word(), failing) {
            self.push_event(id, ev);
        }
    }
}

/// The files of `jobs`.
pub(crate) fn files_of(jobs: &[JobEntry]) -> impl Iterator<Item = &FileRecord> {
    jobs.iter().flat_map(|j| &j.files)
}

/// Hands the temporary files of cancelled work to the group's worker, which deletes them once
/// it has stopped writing (and is told to stop now); without a worker they are returned, to be
/// deleted at once (DECISIONS D4).
pub(crate) fn discard_after_stop(worker: Option<&WorkerSlot>, temps: Vec<PathBuf>) -> Vec<PathBuf> {
    match worker {
        Some(w) => {
            w.cancel.cancel();
            w.discard.lock().unwrap_or_else(|e| e.into_inner()).extend(temps);
            Vec::new()
        }
        None => temps,
    }
}

/// A notification owed for what another process's transfer did (DECISIONS D10: callbacks fire
/// in the process that registered them).
enum Observed {
    Status(StatusEvent),
    Progress(ProgressEvent),
}

/// The notifications that a job's progress, made by another process between two loads of the
/// queue, calls for in this one: the completion events of the files and the job that
/// completed, and a progress notification for each threshold crossed (a coarse view: the store
/// is updated every 250 ms of transfer). The same rules as this process's own transfers
/// ([`notify::completion_events`], [`progress::crossed`]).
fn observe_remote_progress(group: &GroupEntry, prev: &JobEntry, job: &JobEntry, now: Instant) -> Vec<Observed> {
    if !group.listening() {
        return Vec::new(); // Completion events do not hold later; progress is never delivered late.
    }
    let props = &group.rec.props;
    let done: Vec<u32> = job
        .files
        .iter()
        .filter(|f| f.complete && prev.files.get(f.index as usize).is_some_and(|p| !p.complete))
        .map(|f| f.index)
        .collect();
    let job_done = job.complete() && !prev.complete();
    let (jref, word) = ((job.rec.id, job.inc), group.status_word());
    let events = notify::completion_events(now, props.notify_flags, word, jref, job.rec.retries, &done, job_done);
    let mut out: Vec<Observed> = events.into_iter().map(Observed::Status).collect();
    let file_index = progress::current_file(job.files.iter().map(|f| f.complete));
    let (before, after) = (Mark::new(props, prev.amounts(now)), Mark::new(props, job.amounts(now)));
    for kind in progress::crossed(&before, &after) {
        out.push(Observed::Progress(job.progress_event(kind, file_index, now)));
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
                f.held_ranges = p.held_ranges.clone();
                f.validators = p.validators.clone();
            }
        }
    }
}
