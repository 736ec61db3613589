//! Token buckets: the shared one of background transfers (option `background_rate_limit`,
//! and in idle mode the controller's rate under it) and each running group's own
//! (`qmgr_group_set_rate_limit`); [`Throttle`], what one transfer takes its chunks from.

use crate::rules::rate;
use crate::transport::{CancelFlag, Traffic};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A token bucket: the transfers taking from it together stay at `rate` bytes/s, with bursts
/// of at most a quarter second of data. One is shared by every background transfer of a
/// manager; each running group has one of its own (its rate limit).
#[derive(Debug)]
pub struct RateLimiter {
    state: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    rate: u64,
    tokens: f64,
    last: Instant,
}

impl RateLimiter {
    /// A limiter at `rate` bytes/s (0 = unlimited).
    pub fn new(rate: u64) -> Self {
        RateLimiter { state: Mutex::new(Bucket { rate, tokens: 0.0, last: Instant::now() }) }
    }

    /// Changes the rate (bytes/s, 0 = unlimited); takes effect at once, also for a transfer
    /// waiting in [`RateLimiter::acquire`]. Tokens saved up shrink in proportion when the
    /// rate falls (a lower rate is not undone by a burst saved at the higher one) and are
    /// kept otherwise, so that a transfer waiting for a large chunk is never starved by
    /// frequent changes (the idle-bandwidth controller sets the rate every 100 ms).
    pub fn set_rate(&self, rate: u64) {
        let mut b = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if rate != 0 && (b.rate == 0 || rate < b.rate) {
            let scale = if b.rate == 0 { 0.0 } else { rate as f64 / b.rate as f64 };
            b.tokens *= scale;
        }
        b.rate = rate;
    }

    /// The current rate in bytes/s (0 = unlimited).
    pub fn rate(&self) -> u64 {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).rate
    }

    /// Takes `bytes` from the bucket, sleeping (in steps of at most 100 ms, so that `cancel`
    /// is observed) until they are available. Returns false if cancelled while waiting.
    pub fn acquire(&self, bytes: usize, cancel: &CancelFlag) -> bool {
        loop {
            let wait = {
                let mut b = self.state.lock().unwrap_or_else(|e| e.into_inner());
                if b.rate == 0 {
                    return true;
                }
                let now = Instant::now();
                let burst = (b.rate as f64 / 4.0).max(bytes as f64);
                b.tokens = (b.tokens + now.duration_since(b.last).as_secs_f64() * b.rate as f64).min(burst);
                b.last = now;
                if b.tokens >= bytes as f64 {
                    b.tokens -= bytes as f64;
                    return true;
                }
                Duration::from_secs_f64((bytes as f64 - b.tokens) / b.rate as f64)
            };
            if cancel.is_cancelled() {
                return false;
            }
            std::thread::sleep(wait.min(Duration::from_millis(100)));
        }
    }
}

/// What one transfer takes each chunk from: its group's bucket, then — when the shared
/// background limit binds it ([`rate::binds_shared`]) — the manager's shared one; so it
/// receives at most the lowest of their rates ([`rate::effective`]). Rates changed while the
/// transfer runs take effect at once.
#[derive(Clone, Copy, Debug)]
pub struct Throttle<'a> {
    traffic: Traffic,
    group: &'a RateLimiter,
    shared: &'a RateLimiter,
}

impl<'a> Throttle<'a> {
    /// The throttle of a transfer of `traffic` in the group whose bucket is `group`, with the
    /// manager's `shared` background bucket.
    pub fn new(traffic: Traffic, group: &'a RateLimiter, shared: &'a RateLimiter) -> Self {
        Throttle { traffic, group, shared }
    }

    /// Takes `bytes` from each bucket that binds the transfer, sleeping until they are
    /// available (see [`RateLimiter::acquire`]). Returns false if cancelled while waiting.
    pub fn acquire(&self, bytes: usize, cancel: &CancelFlag) -> bool {
        if !rate::binds_shared(self.traffic) {
            return self.group.acquire(bytes, cancel);
        }
        self.group.acquire(bytes, cancel) && self.shared.acquire(bytes, cancel)
    }

    /// The rate the transfer may receive now (bytes/s; `None` = no limit): [`rate::effective`]
    /// of the buckets' rates.
    pub fn rate(&self) -> Option<u64> {
        let shared = self.shared.rate();
        rate::effective(self.traffic, self.group.rate(), (shared > 0).then_some(shared))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlimited_never_waits_and_cancel_stops_waiting() {
        let flag = CancelFlag::new();
        let r = RateLimiter::new(0);
        assert!(r.acquire(1 << 30, &flag));
        r.set_rate(1);
        flag.cancel();
        assert!(!r.acquire(1 << 20, &flag));
        assert_eq!(r.rate(), 1);
        let r = RateLimiter::new(100_000);
        let began = Instant::now();
        assert!(r.acquire(5_000, &CancelFlag::new()));
        assert!(began.elapsed() >= Duration::from_millis(40), "5,000 bytes at 100,000 B/s: ~50 ms");
    }

    /// A transfer waiting for a chunk larger than a quarter second of data gets it although
    /// the rate is set again and again meanwhile (the idle controller's 100 ms updates).
    #[test]
    fn frequent_rate_changes_do_not_starve_a_large_chunk() {
        let r = std::sync::Arc::new(RateLimiter::new(400_000));
        let flag = std::sync::Arc::new(CancelFlag::new());
        let (r2, f2) = (r.clone(), flag.clone());
        let waiter = std::thread::spawn(move || r2.acquire(200_000, &f2));
        let deadline = Instant::now() + Duration::from_secs(10);
        while !waiter.is_finished() {
            assert!(Instant::now() < deadline, "starved");
            r.set_rate(400_000);
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(waiter.join().unwrap());
    }

    /// A foreground transfer takes from its group's bucket only; a background one from both.
    #[test]
    fn a_throttle_takes_from_the_buckets_that_bind_it() {
        let flag = CancelFlag::new();
        let (group, shared) = (RateLimiter::new(100_000), RateLimiter::new(1));
        let fg = Throttle::new(Traffic::Foreground, &group, &shared);
        assert_eq!(fg.rate(), Some(100_000));
        let began = Instant::now();
        assert!(fg.acquire(5_000, &flag), "the shared bucket (1 B/s) is not asked");
        assert!(began.elapsed() >= Duration::from_millis(40), "the group's bucket held it back");
        let bg = Throttle::new(Traffic::Background, &group, &shared);
        assert_eq!(bg.rate(), Some(1));
        shared.set_rate(0);
        assert_eq!(bg.rate(), Some(100_000));
        group.set_rate(0);
        assert_eq!(bg.rate(), None);
        shared.set_rate(50_000);
        let began = Instant::now();
        assert!(bg.acquire(25_000, &flag));
        assert!(began.elapsed() >= Duration::from_millis(300), "the shared bucket binds a background transfer");
    }
}
