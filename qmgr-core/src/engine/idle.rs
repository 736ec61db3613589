//! The idle-bandwidth thread (DECISIONS D14): while transfers of [`Traffic::Idle`] run, it
//! samples the transport every [`idle::TICK`], feeds [`idle::Controller`] (the rule) and
//! carries out its decision: the shared rate limiter's rate (never above
//! `background_rate_limit`) and the receive-window clamp of the idle connections. It sleeps
//! when none runs. The status it leaves is what [`crate::Manager::background_status`] reports,
//! here and — published through the store — in the queue's other processes.
//!
//! [`Traffic::Idle`]: crate::transport::Traffic::Idle

use super::inner::Inner;
use crate::model::{BackgroundMode, BackgroundStatus, Options};
use crate::rules::idle::{self, Controller, Decision};
use crate::rules::rate;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Shared between the transfer threads (which count themselves in and out) and the idle
/// thread.
#[derive(Debug, Default)]
pub(crate) struct IdleShared {
    state: Mutex<Shared>,
    wake: Condvar,
}

#[derive(Debug, Default)]
struct Shared {
    /// Idle-mode transfers running in this process.
    running: u32,
    stop: bool,
    /// The controller's last decision while transfers ran; `None` when none runs.
    decision: Option<Decision>,
    /// Counts [`IdleShared::refresh`] calls: the idle thread sets the rate only from options
    /// read after the last one (else a cap just set could be overwritten by the old one).
    refreshed: u64,
}

/// Counts one idle-mode transfer as running while it lives.
pub(crate) struct Running<'a>(&'a IdleShared);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.lock().running -= 1;
    }
}

impl IdleShared {
    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An idle-mode transfer starts (wakes the idle thread); it ends when the guard drops.
    pub fn enter(&self) -> Running<'_> {
        let mut s = self.lock();
        s.running += 1;
        if s.running == 1 {
            self.wake.notify_all();
        }
        Running(self)
    }

    /// Applies a changed `background_rate_limit` (`cap`, 0 = none) to `rate` at once, over
    /// the controller's current decision, and wakes the idle thread to look at the options.
    pub fn refresh(&self, rate: &crate::rate::RateLimiter, cap: u64) {
        let mut s = self.lock();
        s.refreshed += 1;
        rate.set_rate(limit(s.decision.as_ref(), cap));
        self.wake.notify_all();
    }

    /// The idle thread's [`IdleShared::refresh`] count, taken before it reads the options.
    fn refreshed(&self) -> u64 {
        self.lock().refreshed
    }

    /// Sets `rate` to `limit` unless a refresh came since `seen` (the options the limit was
    /// computed from are then stale); false when it did not.
    fn set_rate_since(&self, rate: &crate::rate::RateLimiter, seen: u64, limit: u64) -> bool {
        let s = self.lock();
        let current = s.refreshed == seen;
        if current {
            rate.set_rate(limit);
        }
        current
    }

    /// Ends the idle thread (manager shutdown).
    pub fn stop(&self) {
        self.lock().stop = true;
        self.wake.notify_all();
    }

    /// The background status of this process, for `options` (DECISIONS D14).
    pub fn status(&self, options: &Options) -> BackgroundStatus {
        let cap = (options.background_rate_limit > 0).then_some(options.background_rate_limit);
        let decision = self.lock().decision.clone();
        match (options.background_mode, decision) {
            (BackgroundMode::Idle, Some(d)) => {
                let rate = allowed(Some(&d), options.background_rate_limit);
                let capped = cap.is_some_and(|c| d.rate.is_none_or(|r| c < r));
                let reason = if capped && !d.reason.yielding() {
                    "capped by background_rate_limit".to_string()
                } else {
                    d.reason.to_string()
                };
                BackgroundStatus { mode: options.background_mode, rate, throughput: d.throughput, reason, active: true }
            }
            (mode, _) => BackgroundStatus {
                mode,
                rate: cap,
                throughput: 0,
                reason: match mode {
                    BackgroundMode::Idle => "no background transfer".to_string(),
                    BackgroundMode::Normal => "normal mode: competing like any download".to_string(),
                },
                active: false,
            },
        }
    }
}

/// The shared background limit for the controller's `decision` (none while no idle transfer
/// runs) under `background_rate_limit` (`cap`): [`rate::shared`].
fn allowed(decision: Option<&Decision>, cap: u64) -> Option<u64> {
    rate::shared(decision.and_then(|d| d.rate), cap)
}

/// [`allowed`] as the shared limiter takes it (0 = no limit).
fn limit(decision: Option<&Decision>, cap: u64) -> u64 {
    allowed(decision, cap).unwrap_or(0)
}

/// How long a published status counts as current for other processes (a few ticks of the
/// publishing process, [`PUBLISH_EVERY`]).
pub(crate) const PUBLISHED_MAX_AGE: Duration = Duration::from_secs(3);
/// How often the status is published while nothing about it changes.
const PUBLISH_EVERY: Duration = Duration::from_secs(1);
/// How often a sleeping idle thread looks at the options again (a cap changed elsewhere).
const SLEEP: Duration = Duration::from_secs(1);

/// Runs until [`IdleShared::stop`]. Lock order: never the state lock while holding
/// [`IdleShared`]'s (the manager takes them the other way round).
pub(crate) fn run(inner: Arc<Inner>) {
    let mut controller = Controller::new();
    let mut published: Option<(Instant, BackgroundStatus)> = None;
    loop {
        let seen = inner.idle.refreshed();
        let options = inner.read().options.clone();
        let running = {
            let mut s = inner.idle.lock();
            if s.stop {
                return;
            }
            if s.running == 0 {
                s.decision = None;
            }
            s.running
        };
        if running == 0 {
            controller.pause();
            if !inner.idle.set_rate_since(&inner.rate, seen, limit(None, options.background_rate_limit)) {
                continue;
            }
            publish(&inner, &options, &mut published);
            let s = inner.idle.lock();
            if s.running == 0 && !s.stop && s.refreshed == seen {
                let _ = inner.idle.wake.wait_timeout(s, SLEEP);
            }
            continue;
        }
        let sample = inner.transport.idle_sample().unwrap_or_default();
        let decision = controller.update(&sample, Instant::now()).clone();
        if !inner.idle.set_rate_since(&inner.rate, seen, limit(Some(&decision), options.background_rate_limit)) {
            continue;
        }
        inner.transport.set_idle_window(decision.window);
        log::debug!(
            "idle bandwidth: {:?} B/s allowed, {} B/s received, window {} B, {} ({:?})",
            decision.rate,
            decision.throughput,
            decision.window,
            decision.reason,
            sample
        );
        inner.idle.lock().decision = Some(decision);
        publish(&inner, &options, &mut published);
        let s = inner.idle.lock();
        if !s.stop {
            let _ = inner.idle.wake.wait_timeout(s, idle::TICK);
        }
    }
}

/// Publishes the status through the store when this process runs the transfers and the
/// status changed (other than its throughput) or [`PUBLISH_EVERY`] passed.
fn publish(inner: &Inner, options: &Options, last: &mut Option<(Instant, BackgroundStatus)>) {
    if !inner.read().holder {
        return;
    }
    let status = inner.idle.status(options);
    let now = Instant::now();
    let same =
        |old: &BackgroundStatus| old.reason == status.reason && old.active == status.active && old.rate == status.rate;
    if last.as_ref().is_some_and(|(at, old)| same(old) && now.duration_since(*at) < PUBLISH_EVERY) {
        return;
    }
    // Nothing to say until a background transfer ran; after one, "no background transfer" once.
    if !status.active && last.as_ref().is_none_or(|(_, old)| !old.active) {
        return;
    }
    let mut store = inner.store.lock().unwrap_or_else(PoisonError::into_inner);
    if let Err(e) = store.publish_background(&status) {
        log::debug!("background status not published: {e}");
    }
    *last = Some((now, status));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::idle::Reason;

    fn decision(rate: u64, reason: Reason) -> Decision {
        Decision { rate: Some(rate), window: 8192, throughput: rate / 2, reason }
    }

    #[test]
    fn status_says_why() {
        let shared = IdleShared::default();
        let mut options = Options::default();
        let s = shared.status(&options);
        assert_eq!((s.rate, s.active, s.reason.as_str()), (None, false, "no background transfer"));
        shared.lock().decision =
            Some(decision(2_000_000, Reason::Delay { extra: std::time::Duration::from_millis(38) }));
        let s = shared.status(&options);
        assert_eq!((s.rate, s.throughput, s.active), (Some(2_000_000), 1_000_000, true));
        assert_eq!(s.reason, "yielding: delay +38 ms");
        options.background_rate_limit = 1000;
        assert_eq!(shared.status(&options).rate, Some(1000));
        shared.lock().decision = Some(decision(2_000_000, Reason::Free { extra: None }));
        assert_eq!(shared.status(&options).reason, "capped by background_rate_limit");
        options.background_mode = BackgroundMode::Normal;
        let s = shared.status(&options);
        assert_eq!((s.rate, s.active), (Some(1000), false));
    }
}
