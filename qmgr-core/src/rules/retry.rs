//! DECISIONS D5 and D11: what a failed attempt leads to — a retry after the retry delay, or
//! the group in ERROR — and the retry-delay arithmetic.

use crate::model::{ErrorClass, Options};
use crate::transport::TransferError;
use std::time::{Duration, Instant};

/// Longest retry delay (DECISIONS D5: the delay doubles up to 600,000 ms).
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(600);

/// What a failed attempt leads to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Transient: the group stays RUNNING and tries again at `at`; the delay after that is
    /// `next_delay`.
    Retry {
        /// When the next attempt may start.
        at: Instant,
        /// The retry delay to use for the failure after this one.
        next_delay: Duration,
    },
    /// Fatal: the group goes to ERROR (DECISIONS D3) and an error event is owed (D7).
    Fatal,
}

/// Decides a failed attempt (DECISIONS D5): a transient error is retried after the current
/// `retry_delay` (or the server's `Retry-After` when larger, never less than
/// `min_retry_delay_ms`), the delay doubling up to [`MAX_RETRY_DELAY`]; a fatal one stops the
/// group; a transient one becomes fatal once nothing progressed for `no_progress_timeout_ms`
/// since `stalled_since` (the first transient error since bytes last arrived; 0 makes every
/// error fatal). Returns the error as it is recorded (an escalated one says why in its
/// message) and the decision.
pub fn on_failure(
    mut e: TransferError,
    stalled_since: Instant,
    retry_delay: Duration,
    now: Instant,
    options: &Options,
) -> (TransferError, Decision) {
    let timeout = options.no_progress_timeout();
    if e.class == ErrorClass::Transient && now.saturating_duration_since(stalled_since) >= timeout {
        e.class = ErrorClass::Fatal;
        e.message = format!("{} (no progress for {} ms)", e.message, timeout.as_millis());
    }
    let decision = match e.class {
        ErrorClass::Fatal => Decision::Fatal,
        ErrorClass::Transient => {
            let delay = retry_delay.max(e.retry_after.unwrap_or_default()).max(options.min_retry_delay());
            Decision::Retry { at: now + delay, next_delay: (retry_delay * 2).min(MAX_RETRY_DELAY) }
        }
    };
    (e, decision)
}

/// The retry delay after a success or a resume: the shortest again (DECISIONS D5).
pub fn reset_delay(options: &Options) -> Duration {
    options.min_retry_delay()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ErrorClass::{Fatal, Transient};

    fn opts(min_ms: u64, timeout_ms: u64) -> Options {
        Options { min_retry_delay_ms: min_ms, no_progress_timeout_ms: timeout_ms, ..Options::default() }
    }

    fn err(class: ErrorClass, retry_after: Option<u64>) -> TransferError {
        TransferError {
            class,
            win32: 12029,
            http_status: 0,
            message: "cannot connect to http://h/".into(),
            retry_after: retry_after.map(Duration::from_secs),
            discards_data: false,
        }
    }

    /// (retry delay now, Retry-After s, min ms) → (wait, next delay).
    #[test]
    fn retry_delay_arithmetic() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let rows = [
            (s(5), None, 5_000, s(5), s(10)),
            (s(10), None, 5_000, s(10), s(20)),
            (s(400), None, 5_000, s(400), s(600)),
            (s(600), None, 5_000, s(600), s(600)),
            (s(5), Some(30), 5_000, s(30), s(10)),
            (s(60), Some(30), 5_000, s(60), s(120)),
            (Duration::from_millis(100), None, 2_000, s(2), Duration::from_millis(200)),
        ];
        for (delay, after, min, wait, next) in rows {
            let (e, d) = on_failure(err(Transient, after), t0, delay, t0, &opts(min, 60_000));
            assert_eq!(e.class, Transient);
            assert_eq!(d, Decision::Retry { at: t0 + wait, next_delay: next }, "{delay:?} {after:?} {min}");
        }
    }

    #[test]
    fn fatal_errors_stop_at_once() {
        let t0 = Instant::now();
        let (e, d) = on_failure(err(Fatal, Some(5)), t0, Duration::from_secs(5), t0, &opts(5_000, 60_000));
        assert_eq!((e.class, d), (Fatal, Decision::Fatal));
        assert_eq!(e.message, "cannot connect to http://h/", "not marked as escalated");
    }

    /// A transient error is fatal once nothing progressed for the no-progress timeout (0: at
    /// once), and says so; before that it is retried.
    #[test]
    fn no_progress_timeout_escalates() {
        let t0 = Instant::now();
        let o = opts(5_000, 60_000);
        let (e, d) =
            on_failure(err(Transient, None), t0, Duration::from_secs(5), t0 + Duration::from_millis(59_999), &o);
        assert_eq!((e.class, matches!(d, Decision::Retry { .. })), (Transient, true));
        let (e, d) = on_failure(err(Transient, None), t0, Duration::from_secs(5), t0 + Duration::from_secs(60), &o);
        assert_eq!((e.class, d), (Fatal, Decision::Fatal));
        assert_eq!(e.message, "cannot connect to http://h/ (no progress for 60000 ms)");
        let (e, _) = on_failure(err(Transient, None), t0, Duration::from_secs(5), t0, &opts(5_000, 0));
        assert_eq!(e.class, Fatal, "timeout 0: every error is fatal");
    }

    #[test]
    fn reset_is_the_minimum() {
        assert_eq!(reset_delay(&opts(250, 1)), Duration::from_millis(250));
    }
}
