//! [`Job`] (`IBackgroundCopyJob1`): its files, progress, status and cancellation.

use super::group::Group;
use super::inner::Inner;
use super::lookup::{allow, check_progress_flags, live, live_ref};
use super::manager::Shared;
use super::state::{discard_after_stop, GroupEntry, JobEntry};
use crate::guid::Guid;
use crate::hresult::{Error, Result};
use crate::model::{
    check_local_path, check_url, temp_path_for, Checksum, ErrorClass, FileRecord, JobError, Validators,
};
use crate::rules::classify::classify;
use crate::rules::files;
use crate::rules::partial::{self, PartialFile};
use crate::rules::states::{self, Action};
use crate::store::Op;
use crate::transport::Probe;
use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

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
        let temps = files::cancel_cleanup(&job.files, &HashSet::new());
        // The group's worker restarts, so that it leaves this job (it resumes the next one
        // from its checkpoint), and deletes the temporary files once stopped.
        let direct = discard_after_stop(g.worker.as_ref(), temps.clone());
        st.discarding.extend(temps);
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

    /// Why the last attempt to start a background runner failed, once (DECISIONS D13); the C
    /// API reports it as the last-error message of a status-reading call.
    pub fn take_runner_warning(&self) -> Option<String> {
        self.inner().take_runner_warning()
    }

    /// `GetStatus` of this job (reference §2.3.3; DECISIONS D3, D11).
    ///
    /// Errors: `QM_E_INVALID_STATE` once cancelled.
    pub fn status(&self) -> Result<JobStatus> {
        self.read("GetStatus", |g, j| {
            let fatal = j.rec.error.as_ref().is_some_and(|e| e.class == ErrorClass::Fatal);
            let s = states::job_status(j.complete(), g.rec.state, fatal, j.rec.foreground);
            let (win32, transport) = j.rec.error.as_ref().map_or((0, 0), |e| (e.win32, e.transport));
            JobStatus { status: s, win32_result: win32, transport_result: transport, num_of_retries: j.rec.retries }
        })
    }

    /// The job's current error — transient (being retried) or fatal (the group is in ERROR) —
    /// with its class, Win32 code, HTTP status, file index and message; `None` without one
    /// (DECISIONS D5, D11).
    ///
    /// Errors: `QM_E_INVALID_STATE` once cancelled.
    pub fn error(&self) -> Result<Option<JobError>> {
        self.read("GetStatus", |_, j| j.rec.error.clone())
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
        allow(g, Action::AddFiles, M)?;
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
                held_ranges: None,
                validators: Validators::default(),
                checksum: None,
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

    /// Sets the expected digest of file `index` (`qmgr_job_set_file_checksum`; C-API.md
    /// "Extensions"; DECISIONS D15): `algorithm` `sha-256` or `sha-512` in any case, `hex` its
    /// 64 or 128 hex digits in any case. Persisted before it returns. The transport hashes the
    /// file as it writes it (a file resumed later re-reads the bytes it kept, once) and checks
    /// the digest before the commit; a mismatch fails the job fatally with `dwWin32Result`
    /// [`QMGR_E_BAD_DIGEST`](crate::hresult::QMGR_E_BAD_DIGEST) and deletes the temporary
    /// file. Allowed in every state but cancelled, also while the file is being fetched (the
    /// bytes fetched so far are hashed at its end); setting it again replaces it.
    ///
    /// Errors: `E_INVALIDARG` for an unknown algorithm, a wrong length or a non-hex character
    /// (the message names `algorithm` or `hex_digest`), or an `index` out of range;
    /// `QM_E_INVALID_STATE` when the job or its group is cancelled, or the file is complete
    /// (committed, or fetched and being committed).
    pub fn set_file_checksum(&self, index: u32, algorithm: &str, hex: &str) -> Result<()> {
        const M: &str = "SetFileChecksum";
        let inner = self.inner();
        let mut st = inner.lock_current();
        let g = live(&mut st, self.group, self.group_inc, M)?;
        allow(g, Action::SetFileChecksum, M)?;
        let committing = g.worker.as_ref().is_some_and(|w| w.committing.contains(self.id, index));
        let j = g
            .job_mut(self.id, self.inc)
            .ok_or_else(|| Error::invalid_state(format!("{M}: job {} was cancelled", self.id)))?;
        let checksum = Checksum::parse(algorithm, hex).map_err(|e| e.context(M))?;
        let count = j.files.len();
        let f = j.files.get_mut(index as usize).ok_or_else(|| {
            Error::invalid_arg(format!("{M}: file_index {index} is out of range (the job has {count} files)"))
        })?;
        if f.complete || committing {
            return Err(Error::invalid_state(format!("{M}: file {index} of job {} is complete", self.id)));
        }
        let op = Op::SetFileChecksum { job_id: self.id, index, checksum: checksum.clone() };
        inner.persist(&[op]).map_err(|e| e.context(M))?;
        f.checksum = Some(checksum);
        Ok(())
    }

    /// Makes `partial` — a file of `held` bytes that another tool left, typically under this
    /// file's own final name — the temporary file of file `index`, with a checkpoint of
    /// `held` bytes and the validators of `remote` (what [`crate::Manager::probe`] said of
    /// the URL), so that the transfer continues it with `Range: bytes=held-` and `If-Range`;
    /// a file that changed meanwhile then restarts from zero (DECISIONS D4, D5). Rust-only
    /// (not in the C ABI): `qmgr get --continue`, issue #15.
    ///
    /// Crash-safe (D4, D6): the checkpoint is stored first, then `partial` is flushed and
    /// renamed onto the temporary file (in its directory, flushed too; through
    /// [`crate::transport::Transport::commit`]) — a rename, never a copy. The engine uses
    /// neither before the group is resumed. A crash between the two steps leaves `partial`
    /// where it was and a checkpoint whose temporary file is missing, which the transfer
    /// treats as nothing held (it starts from zero; D5): nothing is lost. When the rename
    /// fails, the checkpoint is set back to zero bytes.
    ///
    /// Errors: `E_INVALIDARG` when [`partial::continue_partial`] does not say
    /// [`PartialFile::Continue`] for `held` and `remote` (the message gives the reason), or
    /// `index` is out of range; `QM_E_INVALID_STATE` when the group is RUNNING, COMPLETE or
    /// cancelled, its transfer is still stopping, or the file is complete or already holds
    /// bytes; the rename's failure as `rules::classify` makes it (e.g. `E_ACCESSDENIED`);
    /// `QM_E_SERVICE_UNAVAILABLE` when the checkpoint cannot be stored.
    pub fn adopt_partial(&self, index: u32, partial: &Path, held: u64, remote: &Probe) -> Result<()> {
        const M: &str = "AdoptPartial";
        match partial::continue_partial(held, remote) {
            PartialFile::Continue => {}
            PartialFile::Refuse(r) => return Err(Error::invalid_arg(format!("{M}: {}", r.reason()))),
            other => {
                return Err(Error::invalid_arg(format!(
                    "{M}: a partial file of {held} bytes is not continued ({other:?})"
                )))
            }
        }
        let inner = self.inner();
        let mut st = inner.lock_current();
        let g = live(&mut st, self.group, self.group_inc, M)?;
        allow(g, Action::AdoptPartial, M)?;
        if g.worker.is_some() {
            return Err(Error::invalid_state(format!("{M}: the transfer of group {} is still stopping", self.group)));
        }
        let j = g
            .job_mut(self.id, self.inc)
            .ok_or_else(|| Error::invalid_state(format!("{M}: job {} was cancelled", self.id)))?;
        let active = j.rec.active_ms;
        let count = j.files.len();
        let f = j.files.get_mut(index as usize).ok_or_else(|| {
            Error::invalid_arg(format!("{M}: file_index {index} is out of range (the job has {count} files)"))
        })?;
        if f.complete || f.bytes_done > 0 {
            return Err(Error::invalid_state(format!(
                "{M}: file {index} of job {} is complete or already holds bytes",
                self.id
            )));
        }
        let temp = temp_path_for(&f.local_path, self.id, index);
        let checkpoint = |bytes_done, validators| Op::Checkpoint {
            job_id: self.id,
            index,
            bytes_done,
            held_ranges: None,
            validators,
            job_active_ms: active,
        };
        inner.persist(&[checkpoint(held, remote.validators.clone())]).map_err(|e| e.context(M))?;
        if let Err(failure) = inner.transport.commit(partial, &temp, None) {
            if let Err(e) = inner.persist(&[checkpoint(0, Validators::default())]) {
                log::error!("{M}: the checkpoint of file {index} of job {} was not set back: {e}", self.id);
            }
            return Err(classify(&failure).to_error(M));
        }
        f.bytes_done = held;
        f.validators = remote.validators.clone();
        Ok(())
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
