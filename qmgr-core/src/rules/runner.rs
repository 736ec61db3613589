//! DECISIONS D13: when a queue has work for a background runner, when the library starts one,
//! and when a runner started with `--exit-when-idle` leaves.

use std::time::{Duration, Instant};

/// One group as the runner rules see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Work {
    /// The group is RUNNING.
    pub running: bool,
    /// At least one of its files is not committed yet.
    pub files_left: bool,
}

/// True when the queue has transferable work (DECISIONS D13): a RUNNING group with files left.
/// A group waiting for a retry counts, however far the retry is: its retry timer lives only in
/// the process that holds the queue, so a runner that left would strand it until some process
/// opened the queue again (the no-progress timeout still ends it: D5).
pub fn has_work(groups: impl IntoIterator<Item = Work>) -> bool {
    groups.into_iter().any(|g| g.running && g.files_left)
}

/// True when a call that left the queue with `has_work` starts a runner (DECISIONS D13): the
/// queue option `autostart` is on and the environment variable `QMGR_AUTOSTART` (`env`) is not
/// `0`, which wins over the option. (Whether a runner already holds the runner lock is the
/// launcher's to find out: it is I/O.)
pub fn should_autostart(option: bool, env: Option<&str>, has_work: bool) -> bool {
    has_work && option && env.map(str::trim) != Some("0")
}

/// The idle clock of a runner started with `--exit-when-idle` (DECISIONS D13): it leaves once
/// the queue has had no transferable work for the whole idle time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdleClock {
    exit_after: Duration,
    idle_since: Option<Instant>,
}

impl IdleClock {
    /// A clock that lets a runner leave after `exit_after` without work.
    pub fn new(exit_after: Duration) -> IdleClock {
        IdleClock { exit_after, idle_since: None }
    }

    /// Records a look at the queue at `now` (`has_work` as [`has_work`] says) and returns true
    /// when the runner should leave: no work seen since at least `exit_after` ago.
    pub fn look(&mut self, has_work: bool, now: Instant) -> bool {
        if has_work {
            self.idle_since = None;
            return false;
        }
        let since = *self.idle_since.get_or_insert(now);
        now.saturating_duration_since(since) >= self.exit_after
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_is_a_running_group_with_files_left() {
        let w = |running, files_left| Work { running, files_left };
        assert!(!has_work([]));
        assert!(!has_work([w(false, true), w(true, false)]));
        assert!(has_work([w(false, true), w(true, true)]));
    }

    /// (option, QMGR_AUTOSTART, work) → start.
    #[test]
    fn autostart_switches() {
        let rows = [
            (true, None, true, true),
            (true, None, false, false),
            (false, None, true, false),
            (true, Some("0"), true, false),
            (true, Some(" 0 "), true, false),
            (true, Some("1"), true, true),
            (false, Some("1"), true, false),
            (true, Some(""), true, true),
        ];
        for (option, env, work, want) in rows {
            assert_eq!(should_autostart(option, env, work), want, "{option} {env:?} {work}");
        }
    }

    #[test]
    fn idle_clock_needs_the_whole_idle_time_without_work() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut c = IdleClock::new(s(30));
        assert!(!c.look(false, t0));
        assert!(!c.look(false, t0 + s(29)));
        assert!(!c.look(true, t0 + s(29)), "work resets it");
        assert!(!c.look(false, t0 + s(30)));
        assert!(!c.look(false, t0 + s(59)));
        assert!(c.look(false, t0 + s(60)));
        let mut zero = IdleClock::new(Duration::ZERO);
        assert!(zero.look(false, t0));
    }
}
