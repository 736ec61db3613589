//! A transfer worker: moves the files of one group, one after another, until the group is
//! complete, fails, or is stopped (suspend, cancel, pre-emption, shutdown).

use super::state::{new_event, EventKind, Inner, ProgressEvent};
use crate::guid::Guid;
use crate::model::{notify, progress as unit, status, temp_path_for, ErrorClass, GroupState, Validators};
use crate::store::Op;
use crate::transport::{CancelFlag, Credentials, FetchObserver, FetchOutcome, FetchRequest, TransferError};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Checkpoint when this many bytes arrived since the last one (DESIGN "Engine")…
const CHECKPOINT_BYTES: u64 = 1 << 20;
/// …or when this much time passed with new bytes: other processes see progress through the
/// store, within 250 ms (DECISIONS D10).
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(250);
/// Longest retry delay (DECISIONS D5).
const MAX_RETRY_DELAY: Duration = Duration::from_secs(600);

/// Temporary files to delete once the worker has stopped writing (set by `CancelGroup`).
pub(crate) type DiscardList = Arc<Mutex<Vec<PathBuf>>>;

/// Everything a fetch needs, copied out of the state so that no lock is held during it.
struct Task {
    job: Guid,
    job_inc: u64,
    index: u32,
    url: String,
    local: String,
    temp: PathBuf,
    offset: u64,
    validators: Validators,
    credentials: Option<Credentials>,
    foreground: bool,
}

enum Next {
    Fetch(Box<Task>),
    Stop,
}

/// Runs the worker of `group` (incarnation `inc`) until it has nothing more to do.
pub(crate) fn run(
    inner: Arc<Inner>,
    group: Guid,
    inc: u64,
    worker_id: u64,
    cancel: Arc<CancelFlag>,
    discard: DiscardList,
) {
    while let Next::Fetch(task) = next_task(&inner, group, inc, &cancel) {
        let go_on = transfer(&inner, group, inc, &cancel, &task);
        stop_active_time(&inner, group, inc, &task);
        if !go_on {
            break;
        }
    }
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
    inner.changed.notify_all();
    inner.kick_scheduler();
}

/// The transfer of `task` ended: the job's active time stops counting.
fn stop_active_time(inner: &Inner, group: Guid, inc: u64, task: &Task) {
    let now = inner.now();
    let mut st = inner.lock();
    if let Some(j) = st.group_mut(group, inc).and_then(|g| g.job_mut(task.job, task.job_inc)) {
        j.stop_active_time(now);
    }
}

/// Picks the next incomplete file, or completes the group when none is left.
fn next_task(inner: &Inner, group: Guid, inc: u64, cancel: &CancelFlag) -> Next {
    let mut st = inner.lock();
    if cancel.is_cancelled() || st.shutting_down {
        return Next::Stop;
    }
    let Some(g) = st.group(group, inc) else { return Next::Stop };
    if g.rec.state != GroupState::Running {
        return Next::Stop;
    }
    let found = g.jobs.iter().find_map(|j| j.files.iter().find(|f| !f.complete).map(|f| (j, f)));
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
            credentials: creds,
            foreground: g.rec.foreground || j.rec.foreground,
        });
        // Active transfer time counts from here until the transfer ends or the group stops.
        let now = inner.now();
        if let Some(j) = st.group_mut(group, inc).and_then(|g| g.job_mut(task.job, task.job_inc)) {
            j.active_since = Some(now);
        }
        return Next::Fetch(task);
    }
    // Every file is committed: the group is complete (DECISIONS D3).
    let mut rec = g.rec.clone();
    rec.state = GroupState::Complete;
    if let Err(e) = inner.persist(&[Op::TransferEnded { group_id: group, state: rec.state }]) {
        log::error!("group {group}: completion not saved: {e}");
        return Next::Stop;
    }
    let g = st.group_mut(group, inc).expect("group checked above");
    g.rec = rec;
    let word = g.status_word();
    st.push_event(group, new_event(inner.now(), EventKind::GroupDone, None, u32::MAX, word, 0, 0, 0));
    drop(st);
    inner.changed.notify_all();
    inner.kick_notifier();
    Next::Stop
}

/// Observer that mirrors progress into memory and checkpoints it to the store.
struct Progress<'a> {
    inner: &'a Inner,
    group: Guid,
    inc: u64,
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
    /// Per progress threshold (size, percent, time): the threshold in force and the number of
    /// whole steps the job had made when last looked at (DECISIONS D1 `GROUPPROP_PROGRESS*`).
    marks: [Option<(u32, u64)>; 3],
}

/// The progress thresholds, in the order of [`Progress::marks`].
const THRESHOLD_UNITS: [u32; 3] = [unit::SIZE_DONE, unit::PERCENT_DONE, unit::TIME_DONE];

impl Progress<'_> {
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
        let props = &g.rec.props;
        let thresholds = [props.progress_size, props.progress_percent, props.progress_time];
        let listening = g.callback.is_some() && props.notify_flags & notify::DISABLE_NOTIFY == 0;
        let Some(j) = g.job_mut(self.task.job, self.task.job_inc) else { return };
        j.fold_active_time(now);
        self.active = j.rec.active_ms;
        let active = self.active;
        if let Some(f) = j.files.get_mut(self.task.index as usize) {
            f.bytes_done = self.bytes;
            f.validators = self.validators.clone();
        }
        let mut due = Vec::new();
        for ((mark, threshold), kind) in self.marks.iter_mut().zip(thresholds).zip(THRESHOLD_UNITS) {
            if threshold == 0 {
                *mark = None;
                continue;
            }
            // Steps counted in 64 bits, so that size and time thresholds keep firing beyond
            // 4 GiB / 49 days even though the reported value saturates.
            let amount = match kind {
                unit::SIZE_DONE => j.bytes().0,
                unit::TIME_DONE => active,
                _ => u64::from(j.progress_value(kind, now)),
            };
            let steps = amount / u64::from(threshold);
            if listening && matches!(*mark, Some((t, s)) if t == threshold && steps > s) {
                due.push(ProgressEvent {
                    seq: 0,
                    kind,
                    job: (self.task.job, self.task.job_inc),
                    file_index: self.task.index,
                    value: j.progress_value(kind, now),
                    record: j.progress_record(),
                });
            }
            *mark = Some((threshold, steps));
        }
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
        if start != self.task.offset || validators != &self.task.validators {
            // Restarted from zero or new validators: record it at once, so that a crash
            // never pairs held bytes with the wrong validators.
            self.save();
        }
    }

    fn on_progress(&mut self, bytes_done: u64) {
        let progressed = bytes_done > self.high_water;
        self.high_water = self.high_water.max(bytes_done);
        self.bytes = bytes_done;
        self.mirror(progressed);
        if self.bytes - self.saved_bytes.min(self.bytes) >= CHECKPOINT_BYTES
            || (self.bytes != self.saved_bytes
                && self.inner.now().saturating_duration_since(self.saved_at) >= CHECKPOINT_INTERVAL)
        {
            self.save();
        }
    }
}

/// Transfers one file and records the outcome. Returns true to go on with the next file.
fn transfer(inner: &Inner, group: Guid, inc: u64, cancel: &CancelFlag, task: &Task) -> bool {
    let mut progress = Progress {
        inner,
        group,
        inc,
        task,
        active: 0,
        validators: task.validators.clone(),
        bytes: task.offset,
        high_water: task.offset,
        saved_bytes: task.offset,
        saved_at: inner.now(),
        marks: [None; 3],
    };
    let request = FetchRequest {
        url: &task.url,
        temp_path: &task.temp,
        offset: task.offset,
        validators: &task.validators,
        credentials: task.credentials.as_ref(),
        foreground: task.foreground,
        rate_limiter: &inner.rate,
        cancel,
    };
    let outcome = inner.transport.fetch(&request, &mut progress);
    let outcome = match outcome {
        FetchOutcome::Complete { bytes, validators } if !cancel.is_cancelled() => {
            progress.bytes = bytes;
            progress.validators = validators.clone();
            match inner.transport.commit(
                &task.temp,
                std::path::Path::new(&task.local),
                validators.last_modified.as_deref(),
            ) {
                Ok(()) => return file_done(inner, group, inc, task, bytes, validators),
                Err(e) => FetchOutcome::Failed(e),
            }
        }
        FetchOutcome::Complete { .. } => FetchOutcome::Cancelled,
        other => other,
    };
    match outcome {
        FetchOutcome::Failed(e) if !cancel.is_cancelled() => {
            progress.mirror(false);
            progress.save();
            failed(inner, group, inc, task, e);
            false
        }
        _ => {
            // Stopped: keep the partial data for later (DECISIONS D4).
            progress.mirror(false);
            if progress.bytes != progress.saved_bytes || progress.validators != task.validators {
                progress.save();
            }
            false
        }
    }
}

/// Records a committed file; queues FILE_DONE / JOB_DONE notifications when asked for.
fn file_done(inner: &Inner, group: Guid, inc: u64, task: &Task, bytes: u64, validators: Validators) -> bool {
    let now = inner.now();
    let mut st = inner.lock();
    let min_retry = Duration::from_millis(st.options.min_retry_delay_ms);
    let Some(g) = st.group_mut(group, inc) else { return false };
    let flags = g.rec.props.notify_flags;
    let Some(j) = g.job_mut(task.job, task.job_inc) else { return true };
    let Some(f) = j.files.get(task.index as usize) else { return true };
    let mut file = f.clone();
    file.bytes_done = bytes;
    file.validators = validators;
    file.complete = true;
    j.stop_active_time(now);
    let mut job = j.rec.clone();
    job.error = None;
    if let Err(e) = inner.persist(&[Op::PutFile(file.clone()), Op::PutJob(job.clone())]) {
        // The file is committed on disk; only the record failed. Fail the group visibly.
        drop(st);
        failed(
            inner,
            group,
            inc,
            task,
            TransferError::win32(ErrorClass::Fatal, crate::hresult::win32::ERROR_WRITE_FAULT, e.message),
        );
        return false;
    }
    j.files[task.index as usize] = file;
    j.rec = job;
    j.active_since = None;
    let job_complete = j.complete();
    let retries = j.rec.retries;
    g.retry_delay = min_retry;
    let word = g.status_word();
    let jref = Some((task.job, task.job_inc));
    if flags & notify::FILE_DONE != 0 {
        st.push_event(
            group,
            new_event(now, EventKind::FileDone, jref, task.index, word | status::FILE_COMPLETE, retries, 0, 0),
        );
    }
    if job_complete && flags & notify::JOB_DONE != 0 {
        st.push_event(
            group,
            new_event(now, EventKind::JobDone, jref, u32::MAX, word | status::JOB_COMPLETE, retries, 0, 0),
        );
    }
    drop(st);
    inner.changed.notify_all();
    inner.kick_notifier();
    true
}

/// Records a failed attempt: a transient error waits for the retry delay, a fatal one (or a
/// transient one without progress for the no-progress timeout) stops the group in ERROR
/// (DECISIONS D5).
fn failed(inner: &Inner, group: Guid, inc: u64, task: &Task, mut e: TransferError) {
    let mut st = inner.lock();
    let no_progress = Duration::from_millis(st.options.no_progress_timeout_ms);
    let min_retry = Duration::from_millis(st.options.min_retry_delay_ms);
    let now = inner.now();
    let Some(g) = st.group_mut(group, inc) else { return };
    if g.rec.state != GroupState::Running {
        return;
    }
    let stalled_since = *g.stalled_since.get_or_insert(now);
    if e.class == ErrorClass::Transient && now.saturating_duration_since(stalled_since) >= no_progress {
        e.class = ErrorClass::Fatal;
        e.message = format!("{} (no progress for {} ms)", e.message, no_progress.as_millis());
    }
    let mut rec = g.rec.clone();
    if e.class == ErrorClass::Fatal {
        rec.state = GroupState::Error;
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
    let retries = job.retries;
    j.rec = job;
    g.rec = rec;
    log::info!("group {group}: file {} of job {}: {:?} error: {}", task.index, task.job, e.class, e.message);
    if e.class == ErrorClass::Transient {
        let delay = g.retry_delay.max(e.retry_after.unwrap_or_default()).max(min_retry);
        g.retry_at = Some(now + delay);
        g.retry_delay = (g.retry_delay * 2).min(MAX_RETRY_DELAY);
    } else {
        let word = g.status_word();
        let jref = Some((task.job, task.job_inc));
        st.push_event(group, new_event(now, EventKind::Error, jref, task.index, word, retries, e.win32, e.http_status));
    }
    drop(st);
    inner.changed.notify_all();
    inner.kick_notifier();
}
