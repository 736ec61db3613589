//! The scheduler thread: follows the store, and carries out the scheduling choice of
//! [`crate::rules::schedule`] (DECISIONS D1 "Scheduling").

use super::commit::Pending;
use super::inner::{Inner, SchedMsg};
use super::state::{DiscardList, State, WorkerSlot};
use super::worker;
use crate::model::GroupState;
use crate::rate::RateLimiter;
use crate::rules::schedule::{self, Candidate, Worker};
use crate::transport::CancelFlag;
use crossbeam_channel::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

/// How often the scheduler looks at the store for other processes' changes and, without the
/// transfer lock, tries to take it (DECISIONS D10: changes seen within 250 ms, takeover within
/// 1 s). One `changed_by_others` check per pass: cheap when nothing changed. 200 ms leaves
/// 50 ms for reading the change and answering.
const POLL: Duration = Duration::from_millis(200);
/// After a look prompted by the store's watch ([`SchedMsg::Look`]) that found no change, the
/// scheduler looks once more this soon: the watch may report a write a moment before the
/// transaction is visible (SQLite writes the commit to the WAL, then publishes it in shared
/// memory, which no file event follows).
const RELOOK: Duration = Duration::from_millis(10);
/// Sleep when nothing is due.
const IDLE: Duration = Duration::from_secs(3600);

/// Runs until [`SchedMsg::Shutdown`]. A full scheduling pass runs when kicked (something
/// changed here), when the store changed, or when a retry falls due; the other polls
/// only look at the store, so that an idle queue of any size costs one cheap check.
pub(crate) fn run(inner: Arc<Inner>, rx: Receiver<SchedMsg>) {
    let (mut kicked, mut looked) = (true, false);
    let mut due = inner.now();
    loop {
        let wait = {
            let mut st = inner.lock();
            let synced = !st.shutting_down && sync_with_store(&inner, &mut st);
            let wait = if kicked || synced || inner.now() >= due {
                let next = schedule(&inner, &mut st);
                due = inner.now() + next;
                next.min(POLL)
            } else {
                due.saturating_duration_since(inner.now()).min(POLL)
            };
            if looked && !synced {
                wait.min(RELOOK)
            } else {
                wait
            }
        };
        match rx.recv_timeout(wait) {
            Ok(SchedMsg::Shutdown) | Err(RecvTimeoutError::Disconnected) => break,
            Ok(first) => {
                (kicked, looked) = (matches!(first, SchedMsg::Kick), matches!(first, SchedMsg::Look));
                // Coalesce a burst of kicks and looks into one pass.
                while let Ok(m) = rx.try_recv() {
                    match m {
                        SchedMsg::Shutdown => return,
                        SchedMsg::Kick => kicked = true,
                        SchedMsg::Look => looked = true,
                    }
                }
            }
            Err(RecvTimeoutError::Timeout) => (kicked, looked) = (false, false),
        }
    }
}

/// One scheduling pass: the choice is [`schedule::plan`]'s; this carries it out (stops the
/// pre-empted workers, starts threads for the chosen groups). Returns how long until a retry
/// falls due (at most [`IDLE`]).
fn schedule(inner: &Arc<Inner>, st: &mut State) -> Duration {
    if st.shutting_down || !st.holder {
        return IDLE;
    }
    // Joined, not dropped: a finished thread is gone at once, none is left detached.
    for h in st.workers.extract_if(.., |h| h.is_finished()) {
        let _ = h.join();
    }
    let candidates: Vec<Candidate> = st
        .groups
        .values()
        .filter(|g| g.rec.state == GroupState::Running || g.worker.is_some())
        .map(|g| Candidate {
            id: g.rec.id,
            seq: g.rec.seq,
            foreground: g.rec.foreground,
            priority: g.rec.props.priority,
            wants_to_run: g.rec.state == GroupState::Running && !g.blocked_by(&st.discarding),
            retry_at: g.retry_at,
            worker: match &g.worker {
                None => Worker::Idle,
                Some(w) if w.finishing => Worker::Finishing,
                Some(_) => Worker::Active,
            },
        })
        .collect();
    let plan = schedule::plan(&candidates, st.options.max_active_groups as usize, inner.now(), IDLE);
    for id in &plan.preempt {
        if let Some(w) = &st.groups[id].worker {
            w.cancel.cancel();
        }
    }
    let mut next_wake = plan.next_wake;
    for id in plan.start {
        st.next_worker += 1;
        let worker_id = st.next_worker;
        let g = st.groups.get_mut(&id).expect("chosen from live groups");
        g.retry_at = None;
        let parts = worker::Parts {
            cancel: Arc::new(CancelFlag::new()),
            discard: DiscardList::default(),
            committing: Arc::new(Pending::default()),
            limiter: Arc::new(RateLimiter::new(g.rec.props.rate_limit)),
        };
        g.worker = Some(WorkerSlot {
            cancel: parts.cancel.clone(),
            id: worker_id,
            discard: parts.discard.clone(),
            finishing: false,
            committing: parts.committing.clone(),
            limiter: parts.limiter.clone(),
        });
        let inc = g.inc;
        let inner2 = inner.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("qmgr-transfer-{worker_id}"))
            .spawn(move || worker::run(inner2, id, inc, worker_id, parts));
        match spawned {
            Ok(h) => st.workers.push(h),
            Err(e) => {
                log::error!("cannot start a transfer thread: {e}");
                st.groups.get_mut(&id).expect("live").worker = None;
                next_wake = next_wake.min(Duration::from_secs(1));
            }
        }
    }
    next_wake
}

/// Follows the store (DECISIONS D10): takes the transfer lock when it is free, and reloads the
/// queue when another process changed it (or when the lock was just taken, to continue from
/// the last holder's checkpoints); returns whether the queue was reloaded. Failures are
/// logged and retried at the next poll.
fn sync_with_store(inner: &Inner, st: &mut State) -> bool {
    let mut took_lock = false;
    if !st.holder {
        let mut store = inner.store.lock().unwrap_or_else(|e| e.into_inner());
        match store.try_lock_transfers() {
            Ok(true) => {
                log::info!("took the transfer lock of {}", inner.dir.display());
                st.holder = true;
                took_lock = true;
            }
            Ok(false) => {}
            Err(e) => log::warn!("transfer lock: {e}"),
        }
    }
    inner.reload_if_changed(st, took_lock)
}
