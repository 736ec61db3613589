//! [`Group`] (`IBackgroundCopyGroup`): properties, state changes, jobs, progress, status,
//! callbacks and waiting.

use super::callback::Callback;
use super::enums::{GuidEnum, JobEnum};
use super::inner::Inner;
use super::job::Job;
use super::lookup::{allow, check_progress_flags, live, live_ref};
use super::manager::{Manager, Shared};
use super::snapshot::GroupSnapshot;
use super::state::{discard_after_stop, files_of, GroupEntry, JobEntry, State};
use super::status_cache::StatusCache;
use crate::guid::Guid;
use crate::hresult::{Error, Result};
use crate::model::{GroupState, JobRecord, PropId, PropValue};
use crate::rules::states::{self, Action, Transition};
use crate::rules::{files, retry};
use crate::store::Op;
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

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

impl std::fmt::Debug for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Group").field("id", &self.id).finish()
    }
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
    /// strings as [`PropValue::Str`]; the password reads as `""` ([`GroupProps::get`](crate::model::GroupProps::get)).
    ///
    /// Errors: `E_NOTIMPL` for `LOCALUSERID`/`LOCALUSERPWD`; `QM_E_INVALID_STATE` once cancelled (checked first: DECISIONS D12).
    pub fn get_prop(&self, prop: PropId) -> Result<PropValue> {
        self.read("GetProp", |g, _| g.rec.props.get(prop).map_err(|e| e.context("GetProp")))?
    }

    /// `SetProp` (reference §2.2.2; DECISIONS D1, D12), checked by [`GroupProps::set`](crate::model::GroupProps::set) and
    /// persisted before it returns.
    ///
    /// Errors: `E_INVALIDARG` for a value of the wrong kind or out of range (the message
    /// says which); `E_NOTIMPL` for `LOCALUSERID`/`LOCALUSERPWD` and `QM_PROTOCOL_CUSTOM`;
    /// `QM_E_DOWNLOADER_UNAVAILABLE` for `QM_PROTOCOL_FTP`; `QM_E_INVALID_STATE` when changing
    /// the protocol of a group that has files, or once cancelled.
    pub fn set_prop(&self, prop: PropId, value: PropValue) -> Result<()> {
        self.set_props(&[(prop, value)])
    }

    /// Sets several properties at once, all or nothing: each is checked as by
    /// [`Group::set_prop`] (in order, on the result of the ones before), and they are
    /// persisted in one store transaction, so that no process ever sees some of them set
    /// (DECISIONS D10). An empty list changes nothing.
    ///
    /// Errors: those of [`Group::set_prop`] for the first property refused (its message names
    /// it); nothing is changed then.
    pub fn set_props(&self, changes: &[(PropId, PropValue)]) -> Result<()> {
        const M: &str = "SetProp";
        let inner = self.inner();
        let mut st = inner.lock_current();
        let g = live(&mut st, self.id, self.inc, M)?;
        let mut rec = g.rec.clone();
        for (prop, value) in changes {
            rec.props.set(*prop, value, g.has_files()).map_err(|e| e.context(M))?;
        }
        if changes.is_empty() {
            return Ok(());
        }
        inner.persist(&[Op::UpdateGroup(rec.clone())]).map_err(|e| e.context(M))?;
        g.rec = rec;
        drop(st);
        inner.kick_scheduler();
        inner.kick_notifier();
        Ok(())
    }

    /// Extension `qmgr_group_set_rate_limit` (C-API.md "Per-group rate limit"): every transfer
    /// of the group, foreground ones too, receives at most `bytes_per_second` bytes/s (0 = no
    /// limit, the default). Persisted before it returns; a running transfer follows the new
    /// value at once, in this process or — within 250 ms — in the one transferring
    /// (DECISIONS D10). Background groups stay bound by `background_rate_limit` and the idle
    /// controller too: the lowest limit wins ([`crate::rules::rate::effective`]). Allowed in
    /// every live state.
    ///
    /// Errors: `QM_E_INVALID_STATE` once cancelled; `QM_E_SERVICE_UNAVAILABLE` when the change
    /// cannot be persisted.
    pub fn set_rate_limit(&self, bytes_per_second: u64) -> Result<()> {
        const M: &str = "SetRateLimit";
        let inner = self.inner();
        let mut st = inner.lock_current();
        let g = live(&mut st, self.id, self.inc, M)?;
        if g.rec.props.rate_limit == bytes_per_second {
            return Ok(());
        }
        let mut rec = g.rec.clone();
        rec.props.rate_limit = bytes_per_second;
        inner.persist(&[Op::UpdateGroup(rec.clone())]).map_err(|e| e.context(M))?;
        g.rec = rec;
        g.apply_rate_limit();
        Ok(())
    }

    /// Extension `qmgr_group_get_rate_limit`: the group's rate limit in bytes/s (0 = none;
    /// see [`Group::set_rate_limit`]).
    ///
    /// Errors: `QM_E_INVALID_STATE` once cancelled.
    pub fn rate_limit(&self) -> Result<u64> {
        self.read("GetRateLimit", |g, _| g.rec.props.rate_limit)
    }

    /// The group, its jobs and files at one moment, read under one lock: state, status word,
    /// properties (password `""`), progress with `None` for unknown totals, and each job's
    /// status and error. The Rust-shaped counterpart of `GetStatus`, `GetProp`, `GetProgress`
    /// and the job getters.
    ///
    /// Errors: `QM_E_INVALID_STATE` once cancelled.
    pub fn snapshot(&self) -> Result<GroupSnapshot> {
        let now = self.inner().now();
        self.read("GetStatus", |g, _| GroupSnapshot::of(g, now))
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

    /// Why the last attempt to start a background runner failed, once (DECISIONS D13); the C
    /// API reports it as the last-error message of a status-reading call.
    pub fn take_runner_warning(&self) -> Option<String> {
        self.inner().take_runner_warning()
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

    /// Carries out a state change of the D3 table ([`states::transition`]), persisting it
    /// first.
    fn set_state(&self, method: &str, action: Action) -> Result<()> {
        let inner = self.inner();
        let mut st = inner.lock_current();
        let min_retry = retry::reset_delay(&st.options);
        let g = live(&mut st, self.id, self.inc, method)?;
        let Transition::To(new_state) = allow(g, action, method)? else { return Ok(()) };
        let mut rec = g.rec.clone();
        rec.state = new_state;
        let mut ops = vec![Op::UpdateGroup(rec.clone())];
        let cleared: Vec<usize> = if states::clears_errors(new_state) {
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
        if new_state == GroupState::Running {
            inner.autostart(true);
        }
        Ok(())
    }

    /// `SuspendGroup`: a RUNNING group stops (partial data kept, within 100 ms); no-op in
    /// the other live states (DECISIONS D3).
    ///
    /// Errors: `QM_E_INVALID_STATE` once cancelled; `QM_E_SERVICE_UNAVAILABLE` when the
    /// change cannot be persisted.
    pub fn suspend(&self) -> Result<()> {
        self.set_state("SuspendGroup", Action::Suspend)
    }

    /// `ResumeGroup`: SUSPENDED or ERROR → RUNNING (an error is cleared); no-op when RUNNING
    /// or COMPLETE (DECISIONS D3).
    ///
    /// Errors: `BG_E_EMPTY` when the group has no file to download; `QM_E_INVALID_STATE` once
    /// cancelled; `QM_E_SERVICE_UNAVAILABLE` when it cannot be persisted.
    pub fn resume(&self) -> Result<()> {
        self.set_state("ResumeGroup", Action::Resume)
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
        let temps = files::cancel_cleanup(files_of(&g.jobs), &HashSet::new());
        st.discarding.extend(temps.iter().cloned());
        let direct = discard_after_stop(g.worker.as_ref(), temps);
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
        self.read("GetSize", |g, _| g.size())
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
        allow(g, Action::CreateJob, M)?;
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
        Ok(GuidEnum::from_ids(ids))
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
