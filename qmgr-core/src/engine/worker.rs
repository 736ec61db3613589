//! A transfer worker: moves the files of one group, one after another, until the group is
//! complete, fails, or is stopped (suspend, cancel, pre-emption, shutdown).

use super::commit::{Committer, Finished, Pending};
use super::inner::Inner;
use super::state::DiscardList;
#[cfg(doc)]
use super::state::WorkerSlot;
use crate::guid::Guid;
use crate::model::{temp_path_for, BackgroundMode, Checksum, Validators};
use crate::rate::{RateLimiter, Throttle};
use crate::rules::classify::classify;
use crate::rules::progress::{self, Mark};
use crate::rules::retry::{self, Decision};
use crate::rules::states::{self, Action, Transition};
use crate::rules::{checkpoint, notify};
use crate::store::Op;
use crate::transport::{CancelFlag, Credentials, Failure, FetchObserver, FetchOutcome, FetchRequest, Traffic};
use std::path::PathBuf;
use std::sync::Arc;
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
    pub(super) validators: Validators,
    /// The file's checksum when the fetch starts (DECISIONS D15).
    pub(super) checksum: Option<Checksum>,
    pub(super) credentials: Option<Credentials>,
    /// How it may use the network (DECISIONS D14).
    pub(super) traffic: Traffic,
}

enum Next {
    Fetch(Box<Task>),
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
/// Fetching and committing overlap: each complete file goes to a [`Committer`] thread, which
/// flushes and renames the files in batches while the worker fetches the next ones, so that
/// the flush before each commit (DECISIONS D4) costs one shared disk round trip per batch
/// instead of one per file.
pub(crate) fn run(inner: Arc<Inner>, group: Guid, inc: u64, worker_id: u64, parts: Parts) {
    let Parts { cancel, discard, committing, limiter } = parts;
    let committer = Committer::start(&inner, group, inc, &cancel, committing);
    loop {
        match next_task(&inner, group, inc, &cancel, &committer.pending) {
            Next::Fetch(task) => {
                let (job, job_inc) = (task.job, task.job_inc);
                let fetched = transfer(&inner, group, inc, &cancel, &limiter, task, &committer);
                transfer_ended(&inner, group, inc, job, job_inc, fetched);
                if !fetched {
                    break;
                }
            }
            Next::Wait => {
                set_finishing(&inner, group, inc, worker_id, true);
                committer.wait_idle();
                set_finishing(&inner, group, inc, worker_id, false);
            }
            Next::Stop => break,
        }
    }
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

/// The transfer of a file of `job` ended: the job's active time stops counting.
/// When the file came in whole (`fetched`), the next failure waits the shortest retry delay
/// again (DECISIONS D5), whenever its commit completes.
fn transfer_ended(inner: &Inner, group: Guid, inc: u64, job: Guid, job_inc: u64, fetched: bool) {
    let now = inner.now();
    let mut st = inner.lock();
    let min_retry = retry::reset_delay(&st.options);
    let Some(g) = st.group_mut(group, inc) else { return };
    if fetched {
        g.retry_delay = min_retry;
    }
    if let Some(j) = g.job_mut(job, job_inc) {
        j.stop_active_time(now);
    }
}

/// Picks the next incomplete file that is not waiting for its commit; with none left, waits
/// for the commits, then completes the group.
fn next_task(inner: &Inner, group: Guid, inc: u64, cancel: &CancelFlag, pending: &Pending) -> Next {
    let mut st = inner.lock();
    if cancel.is_cancelled() || st.shutting_down {
        return Next::Stop;
    }
    let Some(g) = st.group(group, inc) else { return Next::Stop };
    let Ok(Transition::To(complete)) = states::transition(g.rec.state, Action::AllCommitted, true) else {
        return Next::Stop; // no longer RUNNING
    };
    let committing = pending.files.lock().unwrap_or_else(|e| e.into_inner());
    let found = g.jobs.iter().find_map(|j| {
        j.files.iter().find(|f| !f.complete && !committing.contains(&(j.rec.id, f.index))).map(|f| (j, f))
    });
    if let Some((j, f)) = found {
        let creds = (!g.rec.props.remote_user.is_empty()).then(|| Credentials {
            user: g.rec.props.remote_user.clone(),
            password: g.rec.props.remote_password.clone(),
        });
        let task = Box::new(Task {
            job: j.rec.id,
            job_inc: j.inc,
            index: f.index,
            url: f.url.clone(),
            local: f.local_path.clone(),
            temp: temp_path_for(&f.local_path, j.rec.id, f.index),
            offset: f.bytes_done,
            validators: f.validators.clone(),
            checksum: f.checksum.clone(),
            credentials: creds,
            traffic: match (g.rec.foreground || j.rec.foreground, st.options.background_mode) {
                (true, _) => Traffic::Foreground,
                (false, BackgroundMode::Idle) => Traffic::Idle,
                (false, BackgroundMode::Normal) => Traffic::Background,
            },
        });
        // Active transfer time counts from here until the transfer ends or the group stops.
        let now = inner.now();
        if let Some(j) = st.group_mut(group, inc).and_then(|g| g.job_mut(task.job, task.job_inc)) {
            j.active_since = Some(now);
        }
        return Next::Fetch(task);
    }
    if !committing.is_empty() {
        return Next::Wait;
    }
    drop(committing);
    // Every file is committed: the group is complete (DECISIONS D3).
    if let Err(e) = inner.persist(&[Op::TransferEnded { group_id: group, state: complete }]) {
        log::error!("group {group}: completion not saved: {e}");
        return Next::Stop;
    }
    st.group_mut(group, inc).expect("group checked above").rec.state = complete;
    st.push_state_event(group, inner.now());
    drop(st);
    inner.notify_changed();
    inner.kick_notifier();
    Next::Stop
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
    /// The most bytes this file has held during this transfer: only bytes beyond it count as
    /// progress for the no-progress timeout, so that a server that keeps cutting a restarted
    /// file at the same point does not look like progress (DECISIONS D5).
    high_water: u64,
    saved_bytes: u64,
    saved_at: Instant,
    /// The thresholds in force and the job's progress when last looked at (DECISIONS D1
    /// `GROUPPROP_PROGRESS*`; [`progress::crossed`]).
    mark: Option<Mark>,
}

impl Progress<'_> {
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
        self.saved_at = self.inner.now();
        // A benchmark-only build (bench/, issue #6) skips it, to measure what checkpoints cost.
        #[cfg(not(feature = "bench-no-checkpoints"))]
        self.inner.checkpoint(Op::Checkpoint {
            job_id: self.task.job,
            index: self.task.index,
            bytes_done: self.bytes,
            validators: self.validators.clone(),
            job_active_ms: self.active,
        });
    }

    /// Mirrors the current progress into memory and queues the progress notifications whose
    /// thresholds the job crossed.
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
            f.validators = self.validators.clone();
        }
        let mark = Mark { thresholds, amounts: j.amounts(now) };
        let crossed = match self.mark.replace(mark) {
            Some(before) if listening => progress::crossed(&before, &mark),
            _ => Vec::new(),
        };
        let due: Vec<_> = crossed.into_iter().map(|kind| j.progress_event(kind, self.task.index, now)).collect();
        let notify = !due.is_empty();
        for ev in due {
            st.push_progress(self.group, ev);
        }
        drop(st);
        if notify {
            self.inner.kick_notifier();
        }
    }
}

impl FetchObserver for Progress<'_> {
    fn on_start(&mut self, start: u64, validators: &Validators) {
        self.bytes = start;
        self.validators = validators.clone();
        self.mirror(false);
        if start != self.task.offset || (start > 0 && validators != &self.task.validators) {
            // Restarted from zero or new validators for held bytes: record it at once, so
            // that a crash never pairs held bytes with the wrong validators. (A file starting
            // from zero holds nothing to mispair: its first checkpoint records them.)
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
}

/// Transfers one file; a complete one goes to the committer. Returns true when it did (the
/// worker goes on with the next file), false when the transfer failed or was stopped.
fn transfer(
    inner: &Inner,
    group: Guid,
    inc: u64,
    cancel: &CancelFlag,
    limiter: &RateLimiter,
    task: Box<Task>,
    committer: &Committer,
) -> bool {
    let mut progress = Progress {
        inner,
        group,
        inc,
        committer,
        task: &task,
        active: 0,
        validators: task.validators.clone(),
        bytes: task.offset,
        high_water: task.offset,
        saved_bytes: task.offset,
        saved_at: inner.now(),
        mark: None,
    };
    let request = FetchRequest {
        url: &task.url,
        temp_path: &task.temp,
        offset: task.offset,
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
        FetchOutcome::Complete { bytes, validators } if !cancel.is_cancelled() => {
            if committer.hand_over(&task) {
                committer.submit(Finished { task, bytes, validators });
            } else {
                // A checksum was set during the fetch: the file is fetched again (it holds
                // every byte, so that only hashes them; DECISIONS D15).
                progress.keep();
            }
            true
        }
        FetchOutcome::Failed(e) if !cancel.is_cancelled() => {
            progress.mirror(false);
            progress.save();
            // The files before this one are committed before its failure is recorded.
            committer.wait_idle();
            failed(inner, group, inc, &task, e);
            false
        }
        _ => {
            // Stopped: keep the partial data for later (DECISIONS D4).
            progress.keep();
            false
        }
    }
}

/// Records a failed attempt, classified here (the engine's one point of classification,
/// [`classify`]): a transient error waits for the retry delay, a fatal one (or a
/// transient one without progress for the no-progress timeout) stops the group in ERROR
/// (DECISIONS D5).
pub(super) fn failed(inner: &Inner, group: Guid, inc: u64, task: &Task, failure: Failure) {
    let e = classify(&failure);
    // Wrong bytes (a digest mismatch) are not kept: the temporary file goes before the error
    // can be seen, and the file starts from zero next time (recorded below; DECISIONS D15).
    if e.discards_data {
        inner.transport.discard(&task.temp);
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
    if e.discards_data {
        let validators = Validators::default();
        let active = job.active_ms;
        let (job_id, index) = (task.job, task.index);
        ops.push(Op::Checkpoint { job_id, index, bytes_done: 0, validators, job_active_ms: active });
    }
    if let Err(pe) = inner.persist(&ops) {
        log::error!("group {group}: error state not saved: {pe}");
    }
    if let Some(f) = j.files.get_mut(task.index as usize).filter(|_| e.discards_data) {
        f.bytes_done = 0;
        f.validators = Validators::default();
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
