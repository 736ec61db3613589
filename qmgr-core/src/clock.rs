//! The engine's clock: every delay of the queue's rules (retry delay, no-progress timeout,
//! re-delivery back-off, checkpoint interval, active transfer time) is measured on it, so that
//! tests can drive time instead of sleeping.
//!
//! Real-time limits that are not rules of the queue — the rate limiter's bandwidth, a
//! caller's `Group::wait` timeout, network timeouts — use the system clock.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A wake-up the engine registers with its clock: called after the clock jumps forward, so
/// that threads sleeping until a deadline look at the time again.
pub type Wake = Box<dyn Fn() + Send + Sync>;

/// A source of monotonic time for the engine.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> Instant;

    /// Registers `wake` to be called whenever the clock moves other than with real time. A
    /// clock that follows real time (the default) never calls it.
    fn subscribe(&self, _wake: Wake) {}
}

/// The system's monotonic clock (`Instant::now`).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that stands still until [`ManualClock::advance`] moves it: retries, back-offs and
/// timeouts then happen exactly when a test says so.
pub struct ManualClock {
    base: Instant,
    offset: Mutex<Duration>,
    wakes: Mutex<Vec<Wake>>,
}

impl ManualClock {
    /// A clock standing at the moment of its creation.
    pub fn new() -> Arc<ManualClock> {
        Arc::new(ManualClock {
            base: Instant::now(),
            offset: Mutex::new(Duration::ZERO),
            wakes: Mutex::new(Vec::new()),
        })
    }

    /// Moves the clock forward by `by` and wakes the engines that use it.
    pub fn advance(&self, by: Duration) {
        *self.offset.lock().unwrap_or_else(|e| e.into_inner()) += by;
        for wake in self.wakes.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            wake();
        }
    }
}

impl std::fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManualClock").field("offset", &*self.offset.lock().unwrap_or_else(|e| e.into_inner())).finish()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.base + *self.offset.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn subscribe(&self, wake: Wake) {
        self.wakes.lock().unwrap_or_else(|e| e.into_inner()).push(wake);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn manual_clock_moves_only_when_advanced_and_wakes_subscribers() {
        let clock = ManualClock::new();
        let t0 = clock.now();
        assert_eq!(clock.now(), t0);
        let woken = Arc::new(AtomicU32::new(0));
        let w = woken.clone();
        clock.subscribe(Box::new(move || {
            w.fetch_add(1, Ordering::SeqCst);
        }));
        clock.advance(Duration::from_secs(5));
        assert_eq!(clock.now() - t0, Duration::from_secs(5));
        assert_eq!(woken.load(Ordering::SeqCst), 1);
    }
}
