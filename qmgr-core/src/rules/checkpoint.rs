//! DECISIONS D6 and D10: when a transfer's progress is checkpointed to the store; and at the
//! same cadence, when a transfer checks its destination directory (issue #14 item 5).

use std::time::{Duration, Instant};

/// Checkpoint when this many bytes arrived since the last one (DECISIONS D6: at most every
/// 1 MiB)…
pub const BYTES: u64 = 1 << 20;
/// …but not more often than this: at 1 GB/s a checkpoint per MiB would be a thousand store
/// transactions a second (13 % of the throughput, bench/RESULTS.md 5a); a crash then costs at
/// most this long of transfer, or the MiB, whichever is more.
pub const MIN_GAP: Duration = Duration::from_millis(20);
/// …or when this much time passed with new bytes: other processes see progress through the
/// store within 250 ms (DECISIONS D10; D6 asks for at most 1 s).
pub const INTERVAL: Duration = Duration::from_millis(250);

/// True when a transfer holding `bytes` at `now`, whose last checkpoint recorded `saved_bytes`
/// at `saved_at`, checkpoints again: a MiB more (at least [`MIN_GAP`] after the last), or any
/// change once [`INTERVAL`] has passed.
pub fn due(saved_bytes: u64, saved_at: Instant, bytes: u64, now: Instant) -> bool {
    let since = now.saturating_duration_since(saved_at);
    (bytes.saturating_sub(saved_bytes) >= BYTES && since >= MIN_GAP) || (bytes != saved_bytes && since >= INTERVAL)
}

/// A transfer checks that its destination directory still holds the temporary file and is
/// writable at least this often, while it writes (DECISIONS D4, D5; issue #14 item 5): a
/// directory removed or made read-only is noticed within one checkpoint interval, not only at
/// the commit.
pub const DESTINATION_CHECK: Duration = INTERVAL;

/// True when a transfer that last checked its destination directory at `checked_at` checks it
/// again at `now` ([`DESTINATION_CHECK`] later).
pub fn destination_check_due(checked_at: Instant, now: Instant) -> bool {
    now.saturating_duration_since(checked_at) >= DESTINATION_CHECK
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (bytes since the last checkpoint, ms since it) → due.
    #[test]
    fn checkpoint_table() {
        let t0 = Instant::now();
        let rows = [
            (0, 10_000, false),
            (1, 249, false),
            (1, 250, true),
            (BYTES - 1, 249, false),
            (BYTES, 19, false),
            (BYTES, 20, true),
            (10 * BYTES, 20, true),
        ];
        for (more, ms, want) in rows {
            let now = t0 + Duration::from_millis(ms);
            assert_eq!(due(5, t0, 5 + more, now), want, "{more} bytes after {ms} ms");
        }
        assert!(due(100, t0, 0, t0 + INTERVAL), "a restart from zero is recorded too");
    }

    /// ms since the last check → due.
    #[test]
    fn destination_check_table() {
        let t0 = Instant::now();
        for (ms, want) in [(0, false), (249, false), (250, true), (10_000, true)] {
            assert_eq!(destination_check_due(t0, t0 + Duration::from_millis(ms)), want, "{ms} ms");
        }
        assert!(!destination_check_due(t0 + Duration::from_secs(1), t0), "a clock going back is no reason");
    }
}
