//! The committer of a worker: commits the files the worker fetched, in batches, on its own
//! thread (flushed together, renamed, recorded in one store transaction; DECISIONS D4), and
//! queues their completion events.

use super::inner::Inner;
use super::worker::{failed, Task};
use crate::guid::Guid;
use crate::model::{GroupState, Validators};
use crate::rules::notify;
use crate::store::Op;
use crate::transport::{CancelFlag, Cause, CommitRequest, Failure};
use std::collections::HashSet;
use std::sync::mpsc::{sync_channel, RecvTimeoutError, SendError, SyncSender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A fetched file waiting for its commit.
pub(super) struct Finished {
    pub(super) task: Box<Task>,
    pub(super) bytes: u64,
    pub(super) validators: Validators,
}

/// The files a worker handed to its committer and that are not recorded as committed yet,
/// as (job, file index): the worker does not fetch them again, and waits for them before it
/// completes the group; their checksum can no longer be set (the group's
/// [`WorkerSlot`](super::state::WorkerSlot) shares it; DECISIONS D15).
#[derive(Default)]
pub(crate) struct Pending {
    pub(super) files: Mutex<HashSet<(Guid, u32)>>,
    /// Signalled when `files` becomes empty.
    idle: Condvar,
}

impl Pending {
    /// True when file `index` of `job` is handed over and not recorded yet.
    pub(super) fn contains(&self, job: Guid, index: u32) -> bool {
        self.files.lock().unwrap_or_else(|e| e.into_inner()).contains(&(job, index))
    }

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
pub(super) struct Committer {
    tx: Option<SyncSender<ToCommitter>>,
    thread: Option<JoinHandle<()>>,
    pub(super) pending: Arc<Pending>,
    /// For committing on the worker's thread when no commit thread could be started.
    inline: (Arc<Inner>, Guid, u64, Arc<CancelFlag>),
}

impl Committer {
    /// Starts the committer of `group`; `pending` is the set the group's worker slot shares.
    pub(super) fn start(
        inner: &Arc<Inner>,
        group: Guid,
        inc: u64,
        cancel: &Arc<CancelFlag>,
        pending: Arc<Pending>,
    ) -> Committer {
        let (tx, rx) = sync_channel::<ToCommitter>(COMMIT_QUEUE);
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

    /// Takes a fetched file into the commit pipeline ([`Pending`]) when its checksum is still
    /// the one its fetch checked; false when one was set meanwhile (in this process or
    /// another), and the worker then fetches the file again, which hashes the bytes it holds
    /// (DECISIONS D15). The look and the taking are one step under the state lock, so that no
    /// checksum is set in between ([`Job::set_file_checksum`](super::Job::set_file_checksum)
    /// refuses a file in the pipeline). [`Committer::submit`] follows.
    pub(super) fn hand_over(&self, task: &Task) -> bool {
        let (inner, group, inc, _) = &self.inline;
        // Brought up to date with the store first, so that a checksum another process set is
        // seen too (one cheap check when nothing changed).
        let st = inner.lock_current();
        let job = st.group(*group, *inc).and_then(|g| g.job(task.job, task.job_inc));
        let file = job.and_then(|j| j.files.get(task.index as usize));
        if file.is_some_and(|f| f.checksum != task.checksum) {
            return false;
        }
        self.pending.files.lock().unwrap_or_else(|e| e.into_inner()).insert((task.job, task.index));
        true
    }

    /// Commits a file taken by [`Committer::hand_over`].
    pub(super) fn submit(&self, f: Finished) {
        let key = (f.task.job, f.task.index);
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
    pub(super) fn flush(&self) {
        if let Some(tx) = &self.tx {
            let _ = tx.try_send(ToCommitter::Flush);
        }
    }

    /// Waits until every file handed over is committed (or failed).
    pub(super) fn wait_idle(&self) {
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
    pub(super) fn finish(mut self) {
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
        file.held_ranges = None;
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
                let job_done = !was_complete && j.complete();
                let jref = (j.rec.id, j.inc);
                events.extend(notify::completion_events(now, flags, word, jref, j.rec.retries, &[index], job_done));
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
