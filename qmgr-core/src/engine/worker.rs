//! A transfer worker: moves the files of one group until the group is complete, fails, or is
//! stopped (suspend, cancel, pre-emption, shutdown). Up to `max_connections_per_group` files of
//! the group's current job are fetched at once, each on a fetch thread of the worker; the
//! worker itself only carries out [`parallel::plan`]: which files start, which fetched file goes
//! to its commit, which transfers stop, when a failure is recorded (DECISIONS D16).

use super::commit::{Committer, Finished, Pending};
use super::inner::Inner;
#[cfg(doc)]
use super::state::WorkerSlot;
use super::state::{DiscardList, GroupEntry, JobEntry};
use crate::guid::Guid;
use crate::model::{temp_path_for, BackgroundMode, Checksum, FileRecord, HeldRanges, Options, Validators};
use crate::rate::{RateLimiter, Throttle};
use crate::rules::classify::classify;
use crate::rules::parallel::{self, FileState};
use crate::rules::progress::{self, Mark};
use crate::rules::retry::{self, Decision};
use crate::rules::states::{self, Action, Transition};
use crate::rules::{checkpoint, notify, segments};
use crate::store::Op;
use crate::transport::{CancelFlag, Credentials, Failure, FetchObserver, FetchOutcome, FetchRequest, Traffic};
use crossbeam_channel::{Receiver, Sender};
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::Scope;
use std::time::Instant;

/// Everything a fetch needs, copied out of the state so that no lock is held during it.
pub(super) struct Task {
    pub(super) job: Guid,
    pub(super) job_inc: u64,
    pub(super) index: u32,
    pub(super) url: String,
    pub(super) local: String,
    pub(super) temp: PathBuf,
    pub(super) offset: u64,
    /// The ranges held of a file fetched in segments (DECISIONS D16).
    pub(super) held_ranges: Option<HeldRanges>,
    /// Connections the fetch may use ([`segments::connections`]).
    pub(super) connections: usize,
    pub(super) validators: Validators,
    /// The file's checksum when the fetch starts (DECISIONS D15).
    pub(super) checksum: Option<Checksum>,
    pub(super) credentials: Option<Credentials>,
    /// How it may use the network (DECISIONS D14).
    pub(super) traffic: Traffic,
}

impl Task {
    /// The fetch of file `f` of job `j` of group `g`, from the bytes it holds, over at most
    /// `connections(its traffic)` connections.
    fn new(
        g: &GroupEntry,
        j: &JobEntry,
        f: &FileRecord,
        options: &Options,
        connections: impl Fn(Traffic) -> usize,
    ) -> Task {
        let traffic = match (g.rec.foreground || j.rec.foreground, options.background_mode) {
            (true, _) => Traffic::Foreground,
            (false, BackgroundMode::Idle) => Traffic::Idle,
            (false, BackgroundMode::Normal) => Traffic::Background,
        };
        let credentials = (!g.rec.props.remote_user.is_empty()).then(|| Credentials {
            user: g.rec.props.remote_user.clone(),
            password: g.rec.props.remote_password.clone(),
        });
        Task {
            job: j.rec.id,
            job_inc: j.inc,
            index: f.index,
            url: f.url.clone(),
            local: f.local_path.clone(),
            temp: temp_path_for(&f.local_path, j.rec.id, f.index),
            offset: f.bytes_done,
            held_ranges: f.held_ranges.clone(),
            connections: connections(traffic),
            validators: f.validators.clone(),
            checksum: f.checksum.clone(),
            credentials,
            traffic,
        }
    }

    fn key(&self) -> Key {
        (self.job, self.job_inc, self.index)
    }
}

/// A file of the group: (job, job incarnation, file index).
type Key = (Guid, u64, u32);

/// A file of the current job that the worker is dealing with (files not here are committed,
/// committing or waiting).
enum Local {
    /// Being fetched; raising the flag stops only this transfer.
    Fetching(Arc<CancelFlag>),
    /// Being fetched, told to stop.
    Stopping,
    /// Fetched whole, waiting for its turn to be committed.
    Fetched(Finished),
    /// Its fetch failed; recorded once it is the first failure in job order.
    Failed(Box<Task>, Failure),
}

impl Local {
    fn state(&self) -> FileState {
        match self {
            Local::Fetching(_) => FileState::Fetching,
            Local::Stopping => FileState::Stopping,
            Local::Fetched(_) => FileState::Fetched,
            Local::Failed(..) => FileState::Failed,
        }
    }

    fn in_flight(&self) -> bool {
        matches!(self, Local::Fetching(_) | Local::Stopping)
    }
}

/// How one fetch ended, as a fetch thread tells the worker.
enum Outcome {
    Fetched(Finished),
    Failed(Box<Task>, Failure),
    /// Stopped (or cancelled): its data and checkpoint are kept.
    Stopped,
}

/// A fetch thread's message: the file and how its fetch ended (`None`: the thread ended
/// without telling, a bug; the file is then fetched again later from its checkpoint).
struct Ended {
    key: Key,
    outcome: Option<Outcome>,
}

/// Sends the [`Ended`] message of one fetch, even when the fetch panics.
struct Report<'a> {
    tx: &'a Sender<Ended>,
    key: Key,
    outcome: Option<Outcome>,
}

impl Drop for Report<'_> {
    fn drop(&mut self) {
        let _ = self.tx.send(Ended { key: self.key, outcome: self.outcome.take() });
    }
}

/// What the worker does next.
enum Step {
    /// Carry out a plan for the current job, whose files from `first` on it covers; `tasks`
    /// are the fetches of `plan.start`, in order.
    Act {
        job: (Guid, u64),
        first: usize,
        plan: parallel::Plan,
        tasks: Vec<Task>,
    },
    /// Nothing left to fetch, but files wait for their commit.
    Wait,
    Stop,
}

/// What a worker shares with its [`WorkerSlot`] (see there).
pub(super) struct Parts {
    pub(super) cancel: Arc<CancelFlag>,
    pub(super) discard: DiscardList,
    pub(super) committing: Arc<Pending>,
    pub(super) limiter: Arc<RateLimiter>,
}

/// Runs the worker of `group` (incarnation `inc`) until it has nothing more to do.
///
/// Fetching and committing overlap: each complete file goes to a [`Committer`] thread (in job
/// order), which flushes and renames the files in batches while the worker fetches the next
/// ones, so that the flush before each commit (DECISIONS D4) costs one shared disk round trip
/// per batch instead of one per file.
pub(crate) fn run(inner: Arc<Inner>, group: Guid, inc: u64, worker_id: u64, parts: Parts) {
    let Parts { cancel, discard, committing, limiter } = parts;
    let committer = Committer::start(&inner, group, inc, &cancel, committing);
    std::thread::scope(|scope| {
        let (task_tx, task_rx) = crossbeam_channel::unbounded();
        let (done_tx, done_rx) = crossbeam_channel::unbounded();
        let mut w = Worker {
            inner: &inner,
            group,
            inc,
            worker_id,
            cancel: &cancel,
            limiter: &limiter,
            committer: &committer,
            files: HashMap::new(),
            scope,
            task_tx,
            task_rx,
            done_tx,
            done_rx,
            threads: 0,
            inline: VecDeque::new(),
        };
        w.take_held();
        w.drive();
    });
    // Files fetched before a stop are still committed; a cancelled group's are not.
    committer.finish();
    // Leave: free the slot (if it is still ours) and let the scheduler decide again.
    {
        let mut st = inner.lock();
        if let Some(g) = st.group_mut(group, inc) {
            if g.worker.as_ref().is_some_and(|w| w.id == worker_id) {
                g.worker = None;
            }
        }
    }
    let paths = std::mem::take(&mut *discard.lock().unwrap_or_else(|e| e.into_inner()));
    inner.discard_temps(paths);
    inner.notify_changed();
    inner.kick_scheduler();
}

/// A worker while it runs: the files it deals with and its fetch threads (started as
/// needed, at most one per transfer at once, ended with the worker).
struct Worker<'scope, 'env> {
    inner: &'env Inner,
    group: Guid,
    inc: u64,
    worker_id: u64,
    cancel: &'env Arc<CancelFlag>,
    /// The group's own rate limit (a bucket shared by its transfers).
    limiter: &'env RateLimiter,
    committer: &'env Committer,
    files: HashMap<Key, Local>,
    scope: &'scope Scope<'scope, 'env>,
    task_tx: Sender<(Box<Task>, Arc<CancelFlag>)>,
    task_rx: Receiver<(Box<Task>, Arc<CancelFlag>)>,
    done_tx: Sender<Ended>,
    done_rx: Receiver<Ended>,
    threads: usize,
    /// Ends of fetches run on the worker's own thread (no fetch thread could be started).
    inline: VecDeque<Ended>,
}

impl<'scope, 'env> Worker<'scope, 'env> {
    fn drive(&mut self) {
        loop {
            match self.step() {
                Step::Act { job, first, plan, tasks } => {
                    if !self.act(job, first, plan, tasks) {
                        break;
                    }
                }
                Step::Wait => {
                    set_finishing(self.inner, self.group, self.inc, self.worker_id, true);
                    self.committer.wait_idle();
                    set_finishing(self.inner, self.group, self.inc, self.worker_id, false);
                }
                Step::Stop => break,
            }
        }
        // Stopped: every transfer still running stops and keeps its data; files fetched whole
        // and not handed over keep theirs, checkpointed (DECISIONS D4, D16).
        for local in self.files.values() {
            if let Local::Fetching(flag) = local {
                flag.cancel();
            }
        }
        while self.files.values().any(Local::in_flight) {
            self.wait_one();
        }
        let mut held = Vec::new();
        for local in std::mem::take(&mut self.files).into_values() {
            if let Local::Fetched(f) = local {
                keep_fetched(self.inner, self.group, self.inc, self.committer, &f);
                held.push(f);
            }
        }
        if let Some(g) = self.inner.lock().group_mut(self.group, self.inc) {
            g.held = held;
        }
    }

    /// Takes over the files an earlier worker left fetched whole ([`GroupEntry::held`]), those
    /// whose records still hold exactly their bytes: they go to their commit in their turn,
    /// without a request (DECISIONS D16).
    fn take_held(&mut self) {
        let mut st = self.inner.lock();
        let Some(g) = st.group_mut(self.group, self.inc) else { return };
        for f in std::mem::take(&mut g.held) {
            let file = g.job(f.task.job, f.task.job_inc).and_then(|j| j.files.get(f.task.index as usize));
            let same = |r: &FileRecord| !r.complete && r.bytes_done == f.bytes && r.validators == f.validators;
            if file.is_some_and(|r| r.url == f.task.url && same(r)) {
                self.files.insert(f.task.key(), Local::Fetched(f));
            }
        }
    }

    /// Looks at the queue and plans the next step ([`parallel::plan`]); starts the active time
    /// of the current job when its first transfer starts.
    fn step(&self) -> Step {
        let inner = self.inner;
        let mut st = inner.lock();
        if self.cancel.is_cancelled() || st.shutting_down {
            return Step::Stop;
        }
        let Some(g) = st.group(self.group, self.inc) else { return Step::Stop };
        let Ok(Transition::To(complete)) = states::transition(g.rec.state, Action::AllCommitted, true) else {
            return Step::Stop; // no longer RUNNING
        };
        let committing = self.committer.pending.files.lock().unwrap_or_else(|e| e.into_inner());
        let handed = |j: &JobEntry, f: &FileRecord| f.complete || committing.contains(&(j.rec.id, f.index));
        // The current job: the first with a file neither committed nor committing; its files
        // from the first such one on (those before are handed over).
        let current = g.jobs.iter().find_map(|j| j.files.iter().position(|f| !handed(j, f)).map(|first| (j, first)));
        let Some((j, first)) = current else {
            if !committing.is_empty() {
                return Step::Wait;
            }
            drop(committing);
            // Every file is committed: the group is complete (DECISIONS D3).
            if let Err(e) = inner.persist(&[Op::TransferEnded { group_id: self.group, state: complete }]) {
                log::error!("group {}: completion not saved: {e}", self.group);
                return Step::Stop;
            }
            st.group_mut(self.group, self.inc).expect("group checked above").rec.state = complete;
            st.push_state_event(self.group, inner.now());
            drop(st);
            inner.notify_changed();
            inner.kick_notifier();
            return Step::Stop;
        };
        // Files beyond the last one dealt with and the `max` after it cannot be planned.
        let max = st.options.max_connections_per_group as usize;
        let last = self.files.keys().filter(|k| (k.0, k.1) == (j.rec.id, j.inc)).map(|k| k.2 as usize).max();
        let end = j.files.len().min(last.map_or(first, |l| l.max(first) + 1).saturating_add(max));
        let files: Vec<FileState> = j.files[first..end]
            .iter()
            .map(|f| match self.files.get(&(j.rec.id, j.inc, f.index)) {
                Some(local) => local.state(),
                None if f.complete => FileState::Done,
                None if handed(j, f) => FileState::Committing,
                None => FileState::Waiting,
            })
            .collect();
        // The files not fetched whole share the connections (DECISIONS D16).
        let unfinished =
            files.iter().filter(|f| f.unfinished()).count() + j.files[end..].iter().filter(|f| !handed(j, f)).count();
        drop(committing);
        let plan = parallel::plan(&files, max);
        let tasks: Vec<Task> = plan
            .start
            .iter()
            .map(|&i| {
                Task::new(g, j, &j.files[first + i], &st.options, |traffic| {
                    segments::connections(max, unfinished, traffic)
                })
            })
            .collect();
        let job = (j.rec.id, j.inc);
        let idle = !self.files.iter().any(|(k, l)| (k.0, k.1) == job && l.in_flight());
        if !tasks.is_empty() && idle {
            // Active transfer time counts from here until the job's last transfer ends or the
            // group stops.
            let now = inner.now();
            if let Some(j) = st.group_mut(self.group, self.inc).and_then(|g| g.job_mut(job.0, job.1)) {
                j.active_since = Some(now);
            }
        }
        Step::Act { job, first, plan, tasks }
    }

    /// Carries out a plan; false once the worker is done (a failure recorded).
    fn act(&mut self, job: (Guid, u64), first: usize, plan: parallel::Plan, tasks: Vec<Task>) -> bool {
        let key = |i: usize| (job.0, job.1, (first + i) as u32);
        let quiet = plan.hand_over.is_empty() && plan.start.is_empty() && plan.stop.is_empty();
        for i in plan.hand_over {
            let Some(Local::Fetched(f)) = self.files.remove(&key(i)) else { continue };
            if self.committer.hand_over(&f.task) {
                self.committer.submit(f);
            } else {
                // A checksum was set during the fetch: the file is fetched again (it holds
                // every byte, so that only hashes them; DECISIONS D15).
                keep_fetched(self.inner, self.group, self.inc, self.committer, &f);
            }
        }
        for i in plan.stop {
            if let Some(local) = self.files.get_mut(&key(i)) {
                if let Local::Fetching(flag) = local {
                    flag.cancel();
                }
                *local = Local::Stopping;
            }
        }
        for task in tasks {
            self.start(Box::new(task));
        }
        if let Some(i) = plan.report {
            if let Some(Local::Failed(task, e)) = self.files.remove(&key(i)) {
                // The files before this one are committed before its failure is recorded.
                self.committer.wait_idle();
                failed(self.inner, self.group, self.inc, &task, e);
            }
            return false;
        }
        if quiet {
            if !self.files.values().any(Local::in_flight) {
                log::error!("group {}: the worker has nothing to wait for", self.group);
                return false;
            }
            self.wait_one();
        }
        true
    }

    /// Starts the fetch of `task` on a fetch thread (a new one when every thread is busy), or
    /// on this thread when none can be started.
    fn start(&mut self, task: Box<Task>) {
        let flag = Arc::new(CancelFlag::child(self.cancel));
        self.files.insert(task.key(), Local::Fetching(flag.clone()));
        let busy = self.files.values().filter(|l| l.in_flight()).count();
        if self.threads < busy {
            let (inner, committer, limiter, group, inc) =
                (self.inner, self.committer, self.limiter, self.group, self.inc);
            let (rx, tx) = (self.task_rx.clone(), self.done_tx.clone());
            let spawned = std::thread::Builder::new().name("qmgr-fetch".into()).spawn_scoped(self.scope, move || {
                for (task, flag) in rx {
                    let mut report = Report { tx: &tx, key: task.key(), outcome: None };
                    // A panic in a fetch (a bug) ends that fetch as stopped, not this thread:
                    // a dead fetch thread would leave its queued tasks unserved and the worker
                    // waiting for them, and its panic would surface again at the scope's end.
                    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        fetch(inner, group, inc, committer, limiter, task, &flag)
                    }));
                    report.outcome = caught.map_err(|_| log::error!("group {group}: a fetch panicked")).ok();
                }
            });
            match spawned {
                Ok(_) => self.threads += 1,
                Err(e) if self.threads == 0 => {
                    log::warn!("group {}: no fetch thread ({e}); fetching on the worker's thread", self.group);
                    let key = task.key();
                    let outcome = fetch(self.inner, self.group, self.inc, self.committer, self.limiter, task, &flag);
                    self.inline.push_back(Ended { key, outcome: Some(outcome) });
                    return;
                }
                Err(e) => log::warn!("group {}: no more fetch threads ({e})", self.group),
            }
        }
        let _ = self.task_tx.send((task, flag));
    }

    /// Waits until one transfer ends and takes in how.
    fn wait_one(&mut self) {
        let ended = match self.inline.pop_front() {
            Some(e) => e,
            None => match self.done_rx.recv() {
                Ok(e) => e,
                Err(_) => unreachable!("the worker holds a sender"),
            },
        };
        let key = ended.key;
        let fetched = matches!(ended.outcome, Some(Outcome::Fetched(_)));
        match ended.outcome {
            Some(Outcome::Fetched(f)) => self.files.insert(key, Local::Fetched(f)),
            Some(Outcome::Failed(task, e)) => self.files.insert(key, Local::Failed(task, e)),
            Some(Outcome::Stopped) | None => self.files.remove(&key),
        };
        let last = !self.files.iter().any(|(k, l)| (k.0, k.1) == (key.0, key.1) && l.in_flight());
        transfer_ended(self.inner, self.group, self.inc, (key.0, key.1), fetched, last);
    }
}

/// Marks this worker's slot as only waiting for commits (or no longer), and lets the
/// scheduler give its place to another group meanwhile (see
/// [`super::state::WorkerSlot::finishing`]).
fn set_finishing(inner: &Inner, group: Guid, inc: u64, worker_id: u64, finishing: bool) {
    let mut st = inner.lock();
    if let Some(w) = st.group_mut(group, inc).and_then(|g| g.worker.as_mut()).filter(|w| w.id == worker_id) {
        w.finishing = finishing;
    }
    drop(st);
    if finishing {
        inner.kick_scheduler();
    }
}

/// A transfer of a file of `job` ended; when it was the job's `last` running one, the job's
/// active time stops counting. When the file came in whole (`fetched`), the next failure
/// waits the shortest retry delay again (DECISIONS D5), whenever its commit completes.
fn transfer_ended(inner: &Inner, group: Guid, inc: u64, job: (Guid, u64), fetched: bool, last: bool) {
    let now = inner.now();
    let mut st = inner.lock();
    let min_retry = retry::reset_delay(&st.options);
    let Some(g) = st.group_mut(group, inc) else { return };
    if fetched {
        g.retry_delay = min_retry;
    }
    if let Some(j) = g.job_mut(job.0, job.1).filter(|_| last) {
        j.stop_active_time(now);
    }
}

/// Records the bytes of a file fetched whole that is not handed to the committer (its turn
/// did not come, or its checksum changed): mirrored and checkpointed, so that the next fetch
/// continues from all of them (DECISIONS D4, D16).
fn keep_fetched(inner: &Inner, group: Guid, inc: u64, committer: &Committer, f: &Finished) {
    let mut progress = Progress::new(inner, group, inc, committer, &f.task);
    progress.bytes = f.bytes;
    progress.held_ranges = None;
    progress.validators = f.validators.clone();
    progress.keep();
}

/// Observer that mirrors progress into memory and checkpoints it to the store.
struct Progress<'a> {
    inner: &'a Inner,
    group: Guid,
    inc: u64,
    /// Told to commit what it holds when the transfer stalls (a heartbeat without bytes), so
    /// that finished files never wait for a slow one.
    committer: &'a Committer,
    task: &'a Task,
    /// The job's active milliseconds when progress was last mirrored.
    active: u64,
    validators: Validators,
    bytes: u64,
    /// The ranges held, while the file is fetched in segments (DECISIONS D16).
    held_ranges: Option<HeldRanges>,
    /// The most bytes this file has held during this transfer: only bytes beyond it count as
    /// progress for the no-progress timeout, so that a server that keeps cutting a restarted
    /// file at the same point does not look like progress (DECISIONS D5).
    high_water: u64,
    saved_bytes: u64,
    /// The ranges the last checkpoint recorded.
    saved_ranges: Option<HeldRanges>,
    saved_at: Instant,
}

impl<'a> Progress<'a> {
    fn new(inner: &'a Inner, group: Guid, inc: u64, committer: &'a Committer, task: &'a Task) -> Self {
        Progress {
            inner,
            group,
            inc,
            committer,
            task,
            active: 0,
            validators: task.validators.clone(),
            bytes: task.offset,
            held_ranges: task.held_ranges.clone(),
            high_water: task.offset,
            saved_bytes: task.offset,
            saved_ranges: task.held_ranges.clone(),
            saved_at: inner.now(),
        }
    }

    /// Records the bytes held for a later transfer of the file: mirrored, and checkpointed
    /// unless the store has them already.
    fn keep(&mut self) {
        self.mirror(false);
        if self.bytes != self.saved_bytes || self.validators != self.task.validators {
            self.save();
        }
    }

    fn save(&mut self) {
        self.saved_bytes = self.bytes;
        self.saved_ranges = self.held_ranges.clone();
        self.saved_at = self.inner.now();
        // A benchmark-only build (bench/, issue #6) skips it, to measure what checkpoints cost.
        #[cfg(not(feature = "bench-no-checkpoints"))]
        self.inner.checkpoint(Op::Checkpoint {
            job_id: self.task.job,
            index: self.task.index,
            bytes_done: self.bytes,
            held_ranges: self.held_ranges.clone(),
            validators: self.validators.clone(),
            job_active_ms: self.active,
        });
    }

    /// Mirrors the current progress into memory and queues the progress notifications whose
    /// thresholds the job crossed since any of its transfers last looked; they name the job's
    /// current file ([`progress::current_file`]).
    fn mirror(&mut self, progressed: bool) {
        let now = self.inner.now();
        let mut st = self.inner.lock();
        let Some(g) = st.group_mut(self.group, self.inc) else { return };
        if progressed {
            g.stalled_since = None;
        }
        let (thresholds, listening) = (progress::thresholds(&g.rec.props), g.listening());
        let Some(j) = g.job_mut(self.task.job, self.task.job_inc) else { return };
        j.fold_active_time(now);
        self.active = j.rec.active_ms;
        if let Some(f) = j.files.get_mut(self.task.index as usize) {
            f.bytes_done = self.bytes;
            f.held_ranges = self.held_ranges.clone();
            f.validators = self.validators.clone();
        }
        let mark = Mark { thresholds, amounts: j.amounts(now) };
        let crossed = match j.mark.replace(mark) {
            Some(before) if listening => progress::crossed(&before, &mark),
            _ => Vec::new(),
        };
        if crossed.is_empty() {
            return;
        }
        let pending = &self.committer.pending;
        let current = progress::current_file(j.files.iter().map(|f| f.complete || pending.contains(j.rec.id, f.index)));
        let due: Vec<_> = crossed.into_iter().map(|kind| j.progress_event(kind, current, now)).collect();
        for ev in due {
            st.push_progress(self.group, ev);
        }
        drop(st);
        self.inner.kick_notifier();
    }
}

impl FetchObserver for Progress<'_> {
    fn on_start(&mut self, start: u64, validators: &Validators) {
        self.bytes = start;
        if start == 0 {
            self.held_ranges = None;
        }
        self.validators = validators.clone();
        self.mirror(false);
        let held_changed = start != self.saved_bytes || self.held_ranges != self.saved_ranges;
        if held_changed || (start > 0 && validators != &self.task.validators) {
            // Restarted from zero (also after ranges of another version) or new validators
            // for held bytes: record it at once, so that a crash never pairs held bytes with
            // the wrong validators. (A file starting from zero holds nothing to mispair: its
            // first checkpoint records them.)
            self.save();
        }
    }

    fn on_progress(&mut self, bytes_done: u64) {
        if bytes_done == self.bytes {
            self.committer.flush();
        }
        let progressed = bytes_done > self.high_water;
        self.high_water = self.high_water.max(bytes_done);
        self.bytes = bytes_done;
        self.mirror(progressed);
        if checkpoint::due(self.saved_bytes, self.saved_at, self.bytes, self.inner.now()) {
            self.save();
        }
    }

    fn on_ranges(&mut self, held: &HeldRanges) {
        // Ranges that are one prefix are what `bytes_done` alone says (and a file going on in
        // one stream from them must not keep them).
        self.held_ranges = (!held.is_prefix()).then(|| held.clone());
    }
}

/// Fetches one file on a fetch thread; `cancel` stops it (raised by the worker's flag too).
/// A file fetched whole goes back to the worker, which hands it to the committer in its turn;
/// a failed or stopped one has its bytes mirrored and checkpointed first.
#[allow(clippy::too_many_arguments)]
fn fetch(
    inner: &Inner,
    group: Guid,
    inc: u64,
    committer: &Committer,
    limiter: &RateLimiter,
    task: Box<Task>,
    cancel: &CancelFlag,
) -> Outcome {
    let mut progress = Progress::new(inner, group, inc, committer, &task);
    let request = FetchRequest {
        url: &task.url,
        temp_path: &task.temp,
        offset: task.offset,
        held_ranges: task.held_ranges.as_ref(),
        connections: task.connections,
        validators: &task.validators,
        checksum: task.checksum.as_ref(),
        credentials: task.credentials.as_ref(),
        traffic: task.traffic,
        throttle: Throttle::new(task.traffic, limiter, &inner.rate),
        cancel,
    };
    let running = (task.traffic == Traffic::Idle).then(|| inner.idle.enter());
    let outcome = inner.transport.fetch(&request, &mut progress);
    drop(running);
    match outcome {
        FetchOutcome::Complete { bytes, validators } => {
            drop(progress);
            return Outcome::Fetched(Finished { task, bytes, validators });
        }
        // Wrong bytes are thrown away at once, whether or not the failure gets recorded
        // (a stop before its turn would otherwise keep them for a resume: DECISIONS D15).
        FetchOutcome::Failed(e) if classify(&e).discards_data => {
            drop(progress);
            discard_data(inner, group, inc, &task);
            if !cancel.is_cancelled() {
                return Outcome::Failed(task, e);
            }
        }
        FetchOutcome::Failed(e) if !cancel.is_cancelled() => {
            progress.mirror(false);
            progress.save();
            drop(progress);
            return Outcome::Failed(task, e);
        }
        // Stopped: keep the partial data for later (DECISIONS D4).
        _ => progress.keep(),
    }
    Outcome::Stopped
}

/// Throws away the bytes of `task`'s file after a failure that discards them (a digest
/// mismatch, a replaced temporary file: `TransferError::discards_data`): the temporary file
/// goes, and the checkpoint is reset to zero in the store and in memory, so that the file
/// starts from zero next time — also when the group was suspended meanwhile or the failure
/// is never recorded (DECISIONS D15). Idempotent.
fn discard_data(inner: &Inner, group: Guid, inc: u64, task: &Task) {
    inner.transport.discard(&task.temp);
    let mut st = inner.lock();
    let Some(j) = st.group_mut(group, inc).and_then(|g| g.job_mut(task.job, task.job_inc)) else { return };
    let (job_id, index, job_active_ms) = (task.job, task.index, j.rec.active_ms);
    let reset = Op::Checkpoint {
        job_id,
        index,
        bytes_done: 0,
        held_ranges: None,
        validators: Validators::default(),
        job_active_ms,
    };
    if let Err(pe) = inner.persist(&[reset]) {
        log::error!("group {group}: discarded checkpoint not saved: {pe}");
    }
    if let Some(f) = j.files.get_mut(task.index as usize) {
        f.bytes_done = 0;
        f.held_ranges = None;
        f.validators = Validators::default();
    }
}

/// Records a failed attempt, classified here (the engine's one point of classification,
/// [`classify`]): a transient error waits for the retry delay, a fatal one (or a
/// transient one without progress for the no-progress timeout) stops the group in ERROR
/// (DECISIONS D5).
pub(super) fn failed(inner: &Inner, group: Guid, inc: u64, task: &Task, failure: Failure) {
    let e = classify(&failure);
    if e.discards_data {
        discard_data(inner, group, inc, task);
    }
    let mut st = inner.lock();
    let now = inner.now();
    let options = st.options.clone();
    let Some(g) = st.group_mut(group, inc) else { return };
    let Ok(Transition::To(error_state)) = states::transition(g.rec.state, Action::FatalError, true) else {
        return; // no longer RUNNING
    };
    let stalled_since = *g.stalled_since.get_or_insert(now);
    let (e, decision) = retry::on_failure(e, stalled_since, g.retry_delay, now, &options);
    let mut rec = g.rec.clone();
    if decision == Decision::Fatal {
        rec.state = error_state;
    }
    let state_changes = rec.state != g.rec.state;
    let Some(j) = g.job_mut(task.job, task.job_inc) else { return };
    let mut job = j.rec.clone();
    job.retries = job.retries.saturating_add(1);
    job.error = Some(e.to_job_error(Some(task.index)));
    // A transient error leaves the group as it is: only the job is written, so that a state
    // another process gave the group meanwhile (a suspend) is not overwritten (DECISIONS D10).
    let mut ops = vec![Op::PutJob(job.clone())];
    if state_changes {
        ops.insert(0, Op::TransferEnded { group_id: group, state: rec.state });
    }
    if let Err(pe) = inner.persist(&ops) {
        log::error!("group {group}: error state not saved: {pe}");
    }
    j.rec = job;
    g.rec = rec;
    log::info!("group {group}: file {} of job {}: {:?} error: {}", task.index, task.job, e.class, e.message);
    let retrying = matches!(decision, Decision::Retry { .. });
    match decision {
        Decision::Retry { at, next_delay } => {
            g.retry_at = Some(at);
            g.retry_delay = next_delay;
        }
        Decision::Fatal => {
            let j = g.job(task.job, task.job_inc).expect("found above");
            let failing = j.rec.error.as_ref().map(|e| ((j.rec.id, j.inc), e, j.rec.retries));
            let ev = notify::state_event(now, g.rec.state, g.status_word(), failing).expect("an error event");
            st.push_event(group, ev);
        }
    }
    drop(st);
    inner.notify_changed();
    inner.kick_notifier();
    if retrying {
        inner.autostart(true); // a retry scheduled: a runner must be there to make it (D13)
    }
}
