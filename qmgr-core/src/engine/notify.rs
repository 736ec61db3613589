//! The notifier thread: delivers `OnStatus` events one at a time, in event order, never while
//! a lock is held (DECISIONS D7).

use super::inner::{Inner, NotifyMsg};
use super::manager::Shared;
use super::{Callback, Group, Job};
use crate::guid::Guid;
use crate::hresult::S_OK;
use crate::model::notify;
use crate::rules::notify::{ProgressEvent, StatusEvent};
use crossbeam_channel::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// Sleep when nothing is pending.
const IDLE: Duration = Duration::from_secs(3600);

enum Step {
    Deliver(Arc<dyn Callback>, Guid, u64, StatusEvent),
    /// A progress notification; the flag selects `OnProgressEx`.
    Progress(Arc<dyn Callback>, Guid, u64, ProgressEvent, bool),
    Wait(Duration),
}

/// Runs until [`NotifyMsg::Shutdown`]. Holds the manager only weakly, so that a callback
/// is never the reason a manager stays alive.
pub(crate) fn run(inner: Arc<Inner>, shared: Weak<Shared>, rx: Receiver<NotifyMsg>) {
    loop {
        match next_step(&inner) {
            Step::Deliver(cb, gid, inc, ev) => {
                let Some(shared) = shared.upgrade() else { return };
                let group = Group::from_parts(shared.clone(), gid, inc);
                let job = ev.job.map(|(jid, jinc)| Job::from_parts(shared.clone(), gid, inc, jid, jinc));
                drop(shared);
                let hr =
                    cb.on_status(&group, job.as_ref(), ev.file_index, ev.status, ev.retries, ev.win32, ev.transport);
                drop(cb);
                settle(&inner, gid, inc, ev.seq, hr);
                // Dropping the handles may release the manager's last reference; shutdown
                // then runs on this thread and does not wait for it.
                drop(job);
                drop(group);
            }
            Step::Progress(cb, gid, inc, ev, ex) => {
                let Some(shared) = shared.upgrade() else { return };
                let group = Group::from_parts(shared.clone(), gid, inc);
                let job = Job::from_parts(shared, gid, inc, ev.job.0, ev.job.1);
                // Best-effort: the answer is ignored (DECISIONS D7).
                let _ = if ex {
                    cb.on_progress_ex(ev.kind, &group, Some(&job), ev.file_index, ev.value, &ev.record)
                } else {
                    cb.on_progress(ev.kind, &group, Some(&job), ev.file_index, ev.value)
                };
                drop(cb);
                drop(job);
                drop(group);
            }
            Step::Wait(d) => match rx.recv_timeout(d) {
                Ok(NotifyMsg::Shutdown) | Err(RecvTimeoutError::Disconnected) => return,
                _ => {}
            },
        }
        if let Ok(NotifyMsg::Shutdown) = rx.try_recv() {
            return;
        }
    }
}

/// Finds the oldest deliverable event, dropping stale ones (and progress notifications
/// nobody listens to: they are never delivered late).
fn next_step(inner: &Inner) -> Step {
    let mut st = inner.lock();
    if st.shutting_down {
        return Step::Wait(IDLE);
    }
    let now = inner.now();
    let mut wait = IDLE;
    // (sequence number, group, true for a progress notification)
    let mut best: Option<(u64, Guid, bool)> = None;
    for g in st.groups.values_mut() {
        let (state, flags) = (g.rec.state, g.rec.props.notify_flags);
        g.pending.retain(|e| e.still_holds(state, flags));
        if !g.listening() {
            g.progress_pending.clear();
            continue;
        }
        if let Some(e) = g.pending.front() {
            if e.next_at > now {
                wait = wait.min(e.next_at - now);
            } else if best.is_none_or(|(seq, ..)| e.seq < seq) {
                best = Some((e.seq, g.rec.id, false));
            }
        }
        if let Some(e) = g.progress_pending.iter().min_by_key(|e| e.seq) {
            if best.is_none_or(|(seq, ..)| e.seq < seq) {
                best = Some((e.seq, g.rec.id, true));
            }
        }
    }
    let Some((seq, id, is_progress)) = best else { return Step::Wait(wait) };
    let g = st.groups.get_mut(&id).expect("found above");
    let cb = g.callback.clone().expect("checked above");
    if is_progress {
        let pos = g.progress_pending.iter().position(|e| e.seq == seq).expect("found above");
        let ev = g.progress_pending.remove(pos);
        Step::Progress(cb, id, g.inc, ev, g.rec.props.notify_flags & notify::USE_PROGRESSEX != 0)
    } else {
        let ev = g.pending.front().cloned().expect("checked above");
        Step::Deliver(cb, id, g.inc, ev)
    }
}

/// Records the callback's answer: `S_OK` consumes the event, anything else schedules a
/// re-delivery with a doubling back-off (1 s … 10 min).
fn settle(inner: &Inner, gid: Guid, inc: u64, seq: u64, hr: i32) {
    let mut st = inner.lock();
    let Some(g) = st.group_mut(gid, inc) else { return };
    let Some(pos) = g.pending.iter().position(|e| e.seq == seq) else { return };
    if hr == S_OK {
        g.pending.remove(pos);
    } else {
        g.pending[pos].defer(inner.now());
    }
}
