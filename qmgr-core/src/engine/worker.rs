//! A transfer worker: moves the files of one group, one after another, until the group is
//! complete, fails, or is stopped (suspend, cancel, pre-emption, shutdown).

#[cfg(doc)]
use super::state::WorkerSlot;
use super::state::{new_event, EventKind, Inner, ProgressEvent};
use crate::guid::Guid;
use crate::model::{notify, progress as unit, status, temp_path_for, ErrorClass, GroupState, Validators};
use crate::rules::classify::classify;
use crate::store::Op;
use crate::transport::{
    CancelFlag, Cause, CommitRequest, Credentials, Failure, FetchObserver, FetchOutcome, FetchRequest,
};
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, RecvTimeoutError, SendError, SyncSender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Checkpoint when this many bytes arrived since the last one (DESIGN "Engine")…
const CHECKPOINT_BYTES: u64 = 1 << 20;
/// …but not more often than this: at 1 GB/s a checkpoint per MiB would be a thousand store
/// transactions a second (13 % of the throughput, bench/RESULTS.md 5a); a crash then costs at
/// most this long of transfer, or the MiB, whichever is more.
const CHECKPOINT_MIN_GAP: Duration = Duration::from_millis(20);
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
    /// Nothing left to fetch, but files wait for their commit.
    Wait,
    Stop,
}

/// Runs the worker of `group` (incarnation `inc`) until it has nothing more to do.
///
/// Fetching and committing overlap: each complete file goes to a [`Committer`] thread, which
/// flushes and renames the files in batches while the worker fetches the next ones, so that
/// the flush before each commit (DECISIONS D4) costs one shared disk round trip per batch
/// instead of one per file.
pub(crate) fn run(
    inner: Arc<Inner>,
    group: Guid,
    inc: u64,
    worker_id: u64,
    cancel: Arc<CancelFlag>,
    discard: DiscardList,
) {
    let committer = Committer::start(&inner, group, inc, &cancel);
    loop {
        match next_task(&inner, group, inc, &cancel, &committer.pending) {
            Next::Fetch(task) => {
                let (job, job_inc) = (task.job, task.job_inc);
                let fetched = transfer(&inner, group, inc, &cancel, task, &committer);
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
    let min_retry = Duration::from_millis(st.options.min_retry_delay_ms);
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
    if g.rec.state != GroupState::Running {
        return Next::Stop;
    }
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
    if !committing.is_empty() {
        return Next::Wait;
    }
    drop(committing);
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
        let since = self.inner.now().saturating_duration_since(self.saved_at);
        if (self.bytes - self.saved_bytes.min(self.bytes) >= CHECKPOINT_BYTES && since >= CHECKPOINT_MIN_GAP)
            || (self.bytes != self.saved_bytes && since >= CHECKPOINT_INTERVAL)
        {
            self.save();
        }
    }
}

/// Transfers one file; a complete one goes to the committer. Returns true when it did (the
/// worker goes on with the next file), false when the transfer failed or was stopped.
fn transfer(inner: &Inner, group: Guid, inc: u64, cancel: &CancelFlag, task: Box<Task>, committer: &Committer) -> bool {
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
    match inner.transport.fetch(&request, &mut progress) {
        FetchOutcome::Complete { bytes, validators } if !cancel.is_cancelled() => {
            committer.submit(Finished { task, bytes, validators });
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
            progress.mirror(false);
            if progress.bytes != progress.saved_bytes || progress.validators != task.validators {
                progress.save();
            }
            false
        }
    }
}

/// A fetched file waiting for its commit.
struct Finished {
    task: Box<Task>,
    bytes: u64,
    validators: Validators,
}

/// The files a worker handed to its committer and that are not recorded as committed yet,
/// as (job, file index): the worker does not fetch them again, and waits for them before it
/// completes the group.
#[derive(Default)]
struct Pending {
    files: Mutex<HashSet<(Guid, u32)>>,
    /// Signalled when `files` becomes empty.
    idle: Condvar,
}

impl Pending {
    fn remove(&self, keys: &[(Guid, u32)]) {
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        for k in keys {
            files.remove(k);
        }
        if files.is_empty() {
            self.idle.notify_all();
        }
    }
}

/// Files handed over while a batch is being committed wait here; beyond this many the worker
/// waits too (the files are on disk already; this only bounds the next batch).
const COMMIT_QUEUE: usize = 1024;

/// A batch is committed once this many files are in it…
const BATCH_FILES: usize = 1024;
/// …or this long after its first file arrived, or as soon as the worker has nothing more to
/// fetch. Committing in the middle of a burst of small files would stall the burst: creating
/// the next temporary file waits for the journal commit of the directory's flush.
const BATCH_WINDOW: Duration = Duration::from_millis(200);

/// What a worker tells its committer.
enum ToCommitter {
    /// A complete file to commit.
    File(Finished),
    /// Commit what has arrived now: the worker waits for it.
    Flush,
}

/// Commits the files of one worker, in batches, on its own thread (DECISIONS D4; see [`run`]).
struct Committer {
    tx: Option<SyncSender<ToCommitter>>,
    thread: Option<JoinHandle<()>>,
    pending: Arc<Pending>,
    /// For committing on the worker's thread when no commit thread could be started.
    inline: (Arc<Inner>, Guid, u64, Arc<CancelFlag>),
}

impl Committer {
    fn start(inner: &Arc<Inner>, group: Guid, inc: u64, cancel: &Arc<CancelFlag>) -> Committer {
        let (tx, rx) = sync_channel::<ToCommitter>(COMMIT_QUEUE);
        let pending = Arc::new(Pending::default());
        let inline = (inner.clone(), group, inc, cancel.clone());
        let (inner, cancel, shared) = (inner.clone(), cancel.clone(), pending.clone());
        let thread = std::thread::Builder::new().name("qmgr-commit".into()).spawn(move || {
            let mut batch: Vec<Finished> = Vec::new();
            // The batch window runs on the real clock: it only groups disk flushes.
            let mut due = Instant::now();
            loop {
                let msg = match batch.is_empty() {
                    true => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                    false => rx.recv_timeout(due.saturating_duration_since(Instant::now())),
                };
                let done = match msg {
                    Ok(ToCommitter::File(f)) => {
                        if batch.is_empty() {
                            due = Instant::now() + BATCH_WINDOW;
                        }
                        batch.push(f);
                        if batch.len() < BATCH_FILES {
                            continue;
                        }
                        false
                    }
                    Ok(ToCommitter::Flush) | Err(RecvTimeoutError::Timeout) => false,
                    Err(RecvTimeoutError::Disconnected) => true,
                };
                if !batch.is_empty() {
                    let keys: Vec<(Guid, u32)> = batch.iter().map(|f| (f.task.job, f.task.index)).collect();
                    commit_files(&inner, group, inc, &cancel, std::mem::take(&mut batch));
                    shared.remove(&keys);
                }
                if done {
                    break;
                }
            }
        });
        match thread {
            Ok(thread) => Committer { tx: Some(tx), thread: Some(thread), pending, inline },
            Err(e) => {
                log::warn!("group {group}: no commit thread ({e}); committing on the transfer thread");
                Committer { tx: None, thread: None, pending, inline }
            }
        }
    }

    /// Hands a complete file over for its commit.
    fn submit(&self, f: Finished) {
        let key = (f.task.job, f.task.index);
        self.pending.files.lock().unwrap_or_else(|e| e.into_inner()).insert(key);
        // Without a commit thread (it could not start, or ended), the file is committed here.
        let f = match &self.tx {
            Some(tx) => {
                let Err(SendError(ToCommitter::File(f))) = tx.send(ToCommitter::File(f)) else { return };
                f
            }
            None => f,
        };
        let (inner, group, inc, cancel) = &self.inline;
        commit_files(inner, *group, *inc, cancel, vec![f]);
        self.pending.remove(&[key]);
    }

    /// Asks for the files handed over so far to be committed now, without waiting.
    fn flush(&self) {
        if let Some(tx) = &self.tx {
            let _ = tx.try_send(ToCommitter::Flush);
        }
    }

    /// Waits until every file handed over is committed (or failed).
    fn wait_idle(&self) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(ToCommitter::Flush);
        }
        let mut files = self.pending.files.lock().unwrap_or_else(|e| e.into_inner());
        while !files.is_empty() {
            // A commit thread that ended (a bug made it panic) never empties the set: the files
            // then stay incomplete, to be fetched again, rather than the group hanging.
            if self.thread.as_ref().is_none_or(|t| t.is_finished()) {
                log::error!("the commit thread ended with {} files not recorded", files.len());
                files.clear();
                break;
            }
            files =
                self.pending.idle.wait_timeout(files, Duration::from_millis(100)).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    /// Commits what is left and stops the thread.
    fn finish(mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Commits a batch of fetched files of `group` and records them: one `commit_batch` of the
/// transport, one store transaction. Files of a group or job cancelled meanwhile are not
/// committed (the cancel discards their temporary files; DECISIONS D4). A failed commit fails
/// its file as a failed fetch would, and stops the worker.
fn commit_files(inner: &Inner, group: Guid, inc: u64, cancel: &CancelFlag, batch: Vec<Finished>) {
    let batch: Vec<Finished> = {
        let st = inner.lock();
        let Some(g) = st.group(group, inc) else { return };
        batch.into_iter().filter(|f| g.job(f.task.job, f.task.job_inc).is_some()).collect()
    };
    let requests: Vec<CommitRequest<'_>> = batch
        .iter()
        .map(|f| CommitRequest {
            temp_path: &f.task.temp,
            final_path: std::path::Path::new(&f.task.local),
            last_modified: f.validators.last_modified.as_deref(),
        })
        .collect();
    let results = inner.transport.commit_batch(&requests);
    let mut committed = Vec::with_capacity(batch.len());
    let mut failure = None;
    for (f, r) in batch.iter().zip(results) {
        match r {
            Ok(()) => committed.push(f),
            Err(e) => {
                failure.get_or_insert((f, e));
            }
        }
    }
    if let Err(e) = record_committed(inner, group, inc, &committed) {
        failure = failure.or(Some(e));
    }
    if let Some((f, e)) = failure {
        cancel.cancel();
        failed(inner, group, inc, &f.task, e);
    }
}

/// Records committed files in one store transaction (with their jobs, whose error clears)
/// and queues their FILE_DONE / JOB_DONE notifications when asked for.
///
/// Errors: the first file with a fatal error when the store cannot record them: the store's
/// Win32 cause (`ERROR_DISK_FULL` for a full disk), else `ERROR_WRITE_FAULT`
/// (they are committed on disk; only the record failed, and the group fails visibly).
fn record_committed<'a>(
    inner: &Inner,
    group: Guid,
    inc: u64,
    committed: &[&'a Finished],
) -> std::result::Result<(), (&'a Finished, Failure)> {
    let Some(first) = committed.first() else { return Ok(()) };
    let now = inner.now();
    let mut st = inner.lock();
    let Some(g) = st.group_mut(group, inc) else { return Ok(()) };
    let failed_group = g.rec.state == GroupState::Error;
    let mut ops = Vec::with_capacity(committed.len() + 1);
    let mut jobs: Vec<Guid> = Vec::new();
    for f in committed {
        let Some(j) = g.job_mut(f.task.job, f.task.job_inc) else { continue };
        let Some(file) = j.files.get(f.task.index as usize) else { continue };
        let mut file = file.clone();
        file.bytes_done = f.bytes;
        file.validators = f.validators.clone();
        file.complete = true;
        ops.push(Op::PutFile(file));
        if !jobs.contains(&f.task.job) {
            jobs.push(f.task.job);
            j.fold_active_time(now);
            let mut job = j.rec.clone();
            // A success clears the job's last (transient) error, not the fatal error of a
            // later file that put the group in ERROR meanwhile.
            if !failed_group {
                job.error = None;
            }
            ops.push(Op::PutJob(job));
        }
    }
    if let Err(e) = inner.persist(&ops) {
        return Err((first, Failure::new(Cause::Store { win32: e.win32 }, "", e.message)));
    }
    let flags = g.rec.props.notify_flags;
    let word = g.status_word();
    let mut events = Vec::new();
    for op in ops {
        match op {
            Op::PutJob(job) => {
                if let Some(j) = g.jobs.iter_mut().find(|j| j.rec.id == job.id) {
                    j.rec.error = job.error;
                }
            }
            Op::PutFile(file) => {
                let Some(j) = g.jobs.iter_mut().find(|j| j.rec.id == file.job_id) else { continue };
                let (index, was_complete) = (file.index, j.complete());
                j.files[index as usize] = file;
                let (jref, retries) = (Some((j.rec.id, j.inc)), j.rec.retries);
                if flags & notify::FILE_DONE != 0 {
                    let word = word | status::FILE_COMPLETE;
                    events.push(new_event(now, EventKind::FileDone, jref, index, word, retries, 0, 0));
                }
                if !was_complete && j.complete() && flags & notify::JOB_DONE != 0 {
                    let word = word | status::JOB_COMPLETE;
                    events.push(new_event(now, EventKind::JobDone, jref, u32::MAX, word, retries, 0, 0));
                }
            }
            _ => {}
        }
    }
    for ev in events {
        st.push_event(group, ev);
    }
    drop(st);
    inner.notify_changed();
    inner.kick_notifier();
    Ok(())
}

/// Records a failed attempt, classified here (the engine's one point of classification,
/// `rules::classify`): a transient error waits for the retry delay, a fatal one (or a
/// transient one without progress for the no-progress timeout) stops the group in ERROR
/// (DECISIONS D5).
fn failed(inner: &Inner, group: Guid, inc: u64, task: &Task, failure: Failure) {
    let mut e = classify(&failure);
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
    inner.notify_changed();
    inner.kick_notifier();
}
