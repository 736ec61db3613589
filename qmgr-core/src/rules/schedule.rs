//! DECISIONS D1 "Scheduling": which groups transfer, which are pre-empted, and when to look
//! again.

use crate::guid::Guid;
use std::time::{Duration, Instant};

/// A group's transfer thread as the scheduler sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Worker {
    /// None.
    Idle,
    /// Transferring: holds one of the `max_active_groups` places.
    Active,
    /// Every file is fetched; it only waits for its last commits and holds no place.
    Finishing,
}

/// One group, as the scheduling choice needs it. Groups that are neither RUNNING nor have a
/// worker may be left out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// The group.
    pub id: Guid,
    /// Creation order.
    pub seq: u64,
    /// Sticky foreground flag.
    pub foreground: bool,
    /// `GROUPPROP_PRIORITY`: 0 high, 1 normal, 2 low.
    pub priority: u32,
    /// RUNNING, and none of its files waits for the deletion of a temporary file of the same
    /// name (a GUID reused right after a cancel).
    pub wants_to_run: bool,
    /// Waiting for a retry until then.
    pub retry_at: Option<Instant>,
    /// Its transfer thread.
    pub worker: Worker,
}

/// What a scheduling pass does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Groups to start a transfer for, best-ranked first.
    pub start: Vec<Guid>,
    /// Active groups to stop (they keep their partial data and continue later).
    pub preempt: Vec<Guid>,
    /// When to look again for a retry that falls due (at most `idle`).
    pub next_wake: Duration,
}

/// The ranking key (DECISIONS D1): foreground first, then lower priority value, then creation
/// order (FIFO).
pub fn rank(c: &Candidate) -> (bool, u32, u64) {
    (!c.foreground, c.priority, c.seq)
}

/// One scheduling pass at `now` (DECISIONS D1): the `max_active` best-ranked groups that want
/// to run and are not waiting for a retry are chosen; active groups not chosen are pre-empted;
/// chosen groups without a worker start while fewer than `max_active` are active (a pre-empted
/// group holds its place until its worker has stopped). Finishing workers hold no place.
pub fn plan(candidates: &[Candidate], max_active: usize, now: Instant, idle: Duration) -> Plan {
    let mut next_wake = idle;
    let mut runnable: Vec<&Candidate> = Vec::new();
    for c in candidates.iter().filter(|c| c.wants_to_run && c.worker != Worker::Finishing) {
        match c.retry_at {
            Some(t) if t > now => next_wake = next_wake.min(t - now),
            _ => runnable.push(c),
        }
    }
    runnable.sort_by_key(|c| rank(c));
    runnable.truncate(max_active);
    let chosen = |id: &Guid| runnable.iter().any(|c| c.id == *id);
    let active: Vec<&Candidate> = candidates.iter().filter(|c| c.worker == Worker::Active).collect();
    let preempt = active.iter().filter(|c| !chosen(&c.id)).map(|c| c.id).collect();
    let free = max_active.saturating_sub(active.len());
    let start = runnable.iter().filter(|c| c.worker == Worker::Idle).take(free).map(|c| c.id).collect();
    Plan { start, preempt, next_wake }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> Guid {
        Guid::parse(&format!("00000000-0000-0000-0000-0000000000{n:02x}")).unwrap()
    }

    fn group(n: u8, foreground: bool, priority: u32, worker: Worker) -> Candidate {
        Candidate { id: id(n), seq: n.into(), foreground, priority, wants_to_run: true, retry_at: None, worker }
    }

    const IDLE: Duration = Duration::from_secs(3600);

    #[test]
    fn foreground_then_priority_then_fifo() {
        let t = Instant::now();
        let gs = [
            group(1, false, 2, Worker::Idle),
            group(2, false, 1, Worker::Idle),
            group(3, false, 1, Worker::Idle),
            group(4, true, 2, Worker::Idle),
            group(5, false, 0, Worker::Idle),
        ];
        let p = plan(&gs, 3, t, IDLE);
        assert_eq!(p.start, [id(4), id(5), id(2)]);
        assert_eq!((p.preempt, p.next_wake), (vec![], IDLE));
        assert_eq!(plan(&gs, 10, t, IDLE).start, [id(4), id(5), id(2), id(3), id(1)]);
    }

    /// A better group that becomes runnable while every place is busy pre-empts the
    /// lowest-ranked active one, and starts once that one has stopped.
    #[test]
    fn preemption() {
        let t = Instant::now();
        let mut gs = vec![
            group(1, false, 1, Worker::Active),
            group(2, false, 1, Worker::Active),
            group(3, false, 0, Worker::Idle),
        ];
        let p = plan(&gs, 2, t, IDLE);
        assert_eq!((p.start, p.preempt), (vec![], vec![id(2)]), "its place is free only once it stopped");
        gs[1].worker = Worker::Idle;
        let p = plan(&gs, 2, t, IDLE);
        assert_eq!((p.start, p.preempt), (vec![id(3)], vec![]));
        // A suspended group's worker that has not stopped yet is stopped too.
        let gs = [Candidate { wants_to_run: false, ..group(1, false, 1, Worker::Active) }];
        assert_eq!(plan(&gs, 4, t, IDLE).preempt, [id(1)]);
    }

    #[test]
    fn finishing_workers_hold_no_place() {
        let t = Instant::now();
        let gs = [group(1, false, 0, Worker::Finishing), group(2, false, 1, Worker::Idle)];
        let p = plan(&gs, 1, t, IDLE);
        assert_eq!((p.start, p.preempt), (vec![id(2)], vec![]));
    }

    #[test]
    fn retries_wait_and_set_the_wake_up() {
        let t = Instant::now();
        let s = Duration::from_secs;
        let gs = [
            Candidate { retry_at: Some(t + s(30)), ..group(1, true, 0, Worker::Idle) },
            Candidate { retry_at: Some(t + s(5)), ..group(2, false, 0, Worker::Idle) },
            Candidate { retry_at: Some(t), ..group(3, false, 1, Worker::Idle) },
            Candidate { wants_to_run: false, ..group(4, true, 0, Worker::Idle) },
        ];
        let p = plan(&gs, 4, t, IDLE);
        assert_eq!((p.start, p.next_wake), (vec![id(3)], s(5)));
    }
}
