//! DECISIONS D14: the idle-bandwidth controller of background transfers. From what a receiver
//! can measure it decides the rate (bytes/s) that all background transfers together may
//! receive and how far each of their connections may open its TCP receive window.
//!
//! **Signals** (measured by the transport, [`crate::transport::IdleSample`]):
//!
//! * *Queueing delay* on our own connections: RTT samples (Linux `tcpi_rcv_rtt`) against the
//!   lowest RTT seen in the last [`BASE_HISTORY`] minutes — LEDBAT's idea (RFC 6817 §2.4), in
//!   the receiver-side form of rLEDBAT (RFC 9840). Someone else filling the bottleneck's queue
//!   raises the delay above [`TARGET`].
//! * *Other traffic on the local interface*: the interface's received bytes minus our own
//!   (times [`OVERHEAD`] for headers and ACKs). When the interface is near the highest rate it
//!   has carried ([`FULL`]) and more than [`OTHER_FLOOR`] of that is not ours, the bottleneck
//!   is the local link and someone else wants it.
//!
//! **Rule** per update (about every [`TICK`]): the rate is multiplied by
//! `1 + GAIN·(TARGET − delay)/TARGET`, bounded to [`DOWN`]…[`UP`] per tick (LEDBAT's
//! proportional controller applied to a rate): below the target it rises, at the target it
//! holds, above it falls; other traffic on a full interface quarters it ([`DOWN_OTHER`]).
//! Without a new RTT sample the last delay stands for [`SAMPLE_TTL`]; after that it counts as
//! no delay (the queue is then below the kernel's 1 ms timestamp resolution, which is when
//! the receiver's estimate stops changing).
//! A fall starts from the rate actually received when that is lower than the limit (a limit
//! above the link's rate does not bind, and halving it would change nothing). The rate stays
//! between [`MIN_RATE`] (some bytes keep flowing, so the delay stays measured) and
//! [`CEILING`] × the most the path has carried (so that a rate that does not bind cannot run
//! away).
//! Falling from a free link to [`MIN_RATE`] takes well under 1 s; rising back, about 1.5 s.
//!
//! **Window** (rLEDBAT's enforcement, RFC 9840 §3): each connection's window is clamped to its
//! share of the rate times (base RTT + [`TARGET`]) — what that rate needs, so our own queue
//! stays near the target — but at least [`MIN_WINDOW`], which is small for the same reason:
//! alone on a path, our window beyond the path's bandwidth-delay product is a queue of our
//! own, and the controller must not read it as someone else's. RTT samples are used whether
//! or not the rate limiter is holding the reader back: a held reader's window opens only as
//! it reads, so the sender's segments still echo the timestamp of the window update that let
//! them go, and their RTT is the path's.
//!
//! **Blind spots**: a bottleneck that adds no queueing delay (a policer that drops instead of
//! queueing) and is not the local interface is invisible; so is competition from traffic whose
//! queue sits in the sender's own host (TCP Small Queues keep the qdisc short), unless it is
//! the local interface. Where RFC 9840 reduces the window on loss, we cannot: a user-space
//! receiver does not see the sender's retransmissions.

use crate::transport::IdleSample;
use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

/// How often the engine samples and updates (the rule scales its steps by the real interval).
pub const TICK: Duration = Duration::from_millis(100);
/// Queueing delay the controller aims at (RFC 6817 allows up to 100 ms; rLEDBAT §4 leaves it to
/// the implementation). 5 ms: a competing flow whose sender keeps the queue short (BBR, or a
/// receiver's autotuned window) adds only 8–20 ms in our delay rig, which a larger target would
/// not notice (measured with 8 KiB windows: with 10 ms a competing curl kept 72–85 % of its
/// rate, with 5 ms 89–94 %);
/// still 5 × the kernel's 1 ms timestamp resolution. A loss-based sender filling a deep
/// buffer (Cubic into 100 ms of queue) is noticed by any target.
pub const TARGET: Duration = Duration::from_millis(5);
/// Proportional gain of the delay rule (per [`TICK`]).
pub const GAIN: f64 = 0.5;
/// The largest rise per [`TICK`] (×1.5: from [`MIN_RATE`] to 6 MB/s in about 1.5 s).
pub const UP: f64 = 1.5;
/// The largest fall per [`TICK`] (×0.5: from 6 MB/s to 200 KB/s in 0.5 s).
pub const DOWN: f64 = 0.5;
/// The lowest rate (bytes/s): a trickle keeps delay samples coming and connections alive.
pub const MIN_RATE: u64 = 32 * 1024;
/// The rate a new run of background transfers starts at (bytes/s), before anything is known.
pub const START_RATE: u64 = 256 * 1024;
/// The fall per [`TICK`] while other traffic fills the local interface (×0.25: that traffic is
/// measured directly, not inferred, so the controller gives way at once — from 6 MB/s to the
/// floor in 0.4 s).
pub const DOWN_OTHER: f64 = 0.25;
/// The smallest receive window a background connection is clamped to (bytes): 11 segments
/// of 1,460 bytes, 2.6 ms of a 50 Mbit/s link. A window beyond what the rate needs queues at
/// the bottleneck, and on a short path that queue is ours alone: with 64 KiB (10.5 ms at
/// 50 Mbit/s, twice [`TARGET`]) a background group alone behind a router measured its own
/// queue as +7…+13 ms and fell to 46–56 % of the link whenever the rate limiter held it back
/// (measured on the delay rig, `tests/tests/background.rs`). Smaller windows cost more ACKs
/// and window updates per byte; a server pacing itself (nginx `limit_rate 2m` on loopback)
/// still got its full rate at 16 KiB (20 MB in 10.0 s, four runs).
pub const MIN_WINDOW: u32 = 16 * 1024;
/// Segments a connection's window always holds at least ([`connection_window`]).
pub const MIN_SEGMENTS: u32 = 2;

/// The window of one connection whose largest segment is `mss` bytes (its advertised MSS), for
/// the controller's `window`: never below [`MIN_SEGMENTS`] segments. A window of less than two
/// full segments makes the sender send small ones, which Nagle's algorithm holds back until
/// the previous one is acknowledged, and a receiver acknowledges a lone segment late (up to
/// 200 ms): measured on loopback (MSS 65,483) against nginx `limit_rate 2m` with `sendfile`
/// and `tcp_nopush`, a 16 KiB window got one window per 200 ms (160 KB/s) and the pauses read
/// as a queue of +200 ms. On Ethernet (MSS 1,448) this is 2.9 KB, below [`MIN_WINDOW`].
pub fn connection_window(window: u32, mss: u32) -> u32 {
    window.max(MIN_SEGMENTS.saturating_mul(mss))
}

/// The window before the first measurement (bytes): what [`START_RATE`] needs at 250 ms RTT.
pub const START_WINDOW: u32 = 64 * 1024;
/// The largest receive window the controller asks for (bytes); the socket buffer bounds it too.
pub const MAX_WINDOW: u32 = 4 << 20;
/// Other traffic below this (bytes/s) is chatter, not competition.
pub const OTHER_FLOOR: u64 = 64 * 1024;
/// The interface counts as full at this share of the highest rate it has carried.
pub const FULL: f64 = 0.8;
/// Interface bytes per payload byte of our own (TCP/IP headers, ACKs on loopback, margin).
pub const OVERHEAD: f64 = 1.10;
/// Minutes of RTT history for the base delay (RFC 6817 BASE_HISTORY).
pub const BASE_HISTORY: usize = 10;
/// How long a delay measurement stands when no new one comes (a slow transfer receives few
/// segments that can be timed).
pub const SAMPLE_TTL: Duration = Duration::from_millis(500);
/// The rate never exceeds this multiple of the most the path has carried.
pub const CEILING: f64 = 1.25;
/// How fast the remembered peak rates decay (fraction kept per second): a link that got
/// slower is learned within minutes.
const PEAK_KEEP_PER_S: f64 = 0.995;

/// Why the controller chose its rate, for people (`qmgr info`, `monitor`).
#[derive(Clone, Debug, PartialEq)]
pub enum Reason {
    /// No measurement yet.
    Starting,
    /// Nothing to measure: no idle connection is open (e.g. only `file://` copies run).
    Unmeasured,
    /// The queueing delay is above [`TARGET`]: someone else fills the bottleneck's queue.
    Delay {
        /// Queueing delay: RTT above the base.
        extra: Duration,
    },
    /// Someone else receives on the local interface, which is full.
    OtherTraffic {
        /// Their rate (bytes/s).
        rate: u64,
        /// The interface.
        interface: String,
    },
    /// The path is free (delay below the target): the rate rises or holds.
    Free {
        /// Queueing delay, when measured.
        extra: Option<Duration>,
    },
}

impl Reason {
    /// True when the controller is giving bandwidth back.
    pub fn yielding(&self) -> bool {
        matches!(self, Reason::Delay { .. } | Reason::OtherTraffic { .. })
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Starting => write!(f, "starting"),
            Reason::Unmeasured => write!(f, "no network connection to measure"),
            Reason::Delay { extra } => write!(f, "yielding: delay +{} ms", extra.as_millis()),
            Reason::OtherTraffic { rate, interface } => {
                write!(f, "yielding: {:.1} MB/s of other traffic on {interface}", *rate as f64 / 1e6)
            }
            Reason::Free { extra: Some(d) } => write!(f, "path free: delay +{} ms", d.as_millis()),
            Reason::Free { extra: None } => write!(f, "path free"),
        }
    }
}

/// What background transfers may do until the next update.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// Bytes/s all background transfers together may receive; `None` = no limit (nothing to
    /// measure: no idle connection is open, e.g. only `file://` copies run).
    pub rate: Option<u64>,
    /// Bytes each background connection's receive window may open to (`TCP_WINDOW_CLAMP`).
    pub window: u32,
    /// Bytes/s they received over the last interval.
    pub throughput: u64,
    /// Why.
    pub reason: Reason,
}

/// The counters of the previous sample.
#[derive(Clone, Debug)]
struct Last {
    at: Instant,
    received: u64,
    interface: Option<(String, u64)>,
}

/// The controller's memory: the current rate, the base delay history, the peak rates seen.
/// Feed it [`Controller::update`] about every [`TICK`] while background transfers run, and
/// [`Controller::pause`] when none does.
#[derive(Clone, Debug)]
pub struct Controller {
    rate: f64,
    /// (minute number since `origin`, lowest RTT in that minute), oldest first.
    base: VecDeque<(u64, Duration)>,
    origin: Option<Instant>,
    last: Option<Last>,
    /// Highest rate the interface carried (bytes/s, decaying).
    capacity: f64,
    /// The last queueing delay measured, and when.
    last_delay: Option<(Instant, Duration)>,
    /// Highest rate our transfers received (bytes/s, decaying).
    peak_own: f64,
    decision: Decision,
}

impl Default for Controller {
    fn default() -> Self {
        Controller {
            rate: START_RATE as f64,
            base: VecDeque::new(),
            origin: None,
            last: None,
            capacity: 0.0,
            last_delay: None,
            peak_own: 0.0,
            decision: Decision {
                rate: Some(START_RATE),
                window: START_WINDOW,
                throughput: 0,
                reason: Reason::Starting,
            },
        }
    }
}

impl Controller {
    /// A controller at [`START_RATE`], knowing nothing of the path.
    pub fn new() -> Self {
        Self::default()
    }

    /// The last decision.
    pub fn decision(&self) -> &Decision {
        &self.decision
    }

    /// No background transfer runs: the next run starts again at [`START_RATE`] (the path may
    /// have changed meanwhile), keeping the base delay and the peak rates.
    pub fn pause(&mut self) {
        self.rate = START_RATE as f64;
        self.last = None;
        self.decision =
            Decision { rate: Some(START_RATE), window: START_WINDOW, throughput: 0, reason: Reason::Starting };
    }

    /// The lowest RTT of the last [`BASE_HISTORY`] minutes.
    fn base_delay(&self) -> Option<Duration> {
        self.base.iter().map(|&(_, d)| d).min()
    }

    fn record_rtt(&mut self, rtt: Duration, now: Instant) {
        let origin = *self.origin.get_or_insert(now);
        let minute = now.saturating_duration_since(origin).as_secs() / 60;
        match self.base.back_mut() {
            Some((m, d)) if *m == minute => *d = (*d).min(rtt),
            _ => self.base.push_back((minute, rtt)),
        }
        while self.base.len() > BASE_HISTORY {
            self.base.pop_front();
        }
    }

    /// Takes a sample at `now` and decides the rate and window until the next one.
    pub fn update(&mut self, sample: &IdleSample, now: Instant) -> &Decision {
        let Some(last) =
            self.last.replace(Last { at: now, received: sample.received, interface: sample.interface.clone() })
        else {
            return &self.decision;
        };
        let dt = now.saturating_duration_since(last.at).as_secs_f64();
        if dt < 0.01 {
            // Too soon to tell rates apart from noise: keep the previous counters.
            self.last = Some(last);
            return &self.decision;
        }
        let keep = PEAK_KEEP_PER_S.powf(dt);
        let own = sample.received.saturating_sub(last.received) as f64 / dt;
        self.peak_own = (self.peak_own * keep).max(own);

        // Other traffic on a full local interface.
        let mut other = None;
        if let (Some((name, now_bytes)), Some((last_name, last_bytes))) = (&sample.interface, &last.interface) {
            if name == last_name {
                let total = now_bytes.saturating_sub(*last_bytes) as f64 / dt;
                self.capacity = (self.capacity * keep).max(total);
                let theirs = total - own * OVERHEAD;
                if theirs > OTHER_FLOOR as f64 && total >= FULL * self.capacity {
                    other = Some(Reason::OtherTraffic { rate: theirs as u64, interface: name.clone() });
                }
            }
        }

        // Queueing delay: the worst fresh sample against the base.
        let rtts = &sample.rtt_samples[..];
        for &rtt in rtts {
            self.record_rtt(rtt, now);
        }
        let base = self.base_delay();
        let extra = match (rtts.iter().max(), base) {
            (Some(&worst), Some(base)) => {
                let extra = worst.saturating_sub(base);
                self.last_delay = Some((now, extra));
                Some(extra)
            }
            // No new measurement: the last one stands for SAMPLE_TTL, then counts as none.
            _ => self.last_delay.filter(|(at, _)| now.saturating_duration_since(*at) < SAMPLE_TTL).map(|(_, d)| d),
        };

        let (factor, reason) = match (other, extra) {
            (Some(reason), _) => (DOWN_OTHER, reason),
            (None, Some(d)) => {
                let off = (TARGET.as_secs_f64() - d.as_secs_f64()) / TARGET.as_secs_f64();
                let f = (1.0 + GAIN * off).clamp(DOWN, UP);
                (f, if d > TARGET { Reason::Delay { extra: d } } else { Reason::Free { extra: Some(d) } })
            }
            (None, None) => (UP, Reason::Free { extra: None }),
        };
        let steps = dt / TICK.as_secs_f64();
        let ceiling = (CEILING * self.peak_own.max(self.capacity)).max(START_RATE as f64);
        // A fall starts from what was received, not from a limit that did not bind.
        let from = if factor < 1.0 { self.rate.min(own) } else { self.rate };
        self.rate = (from * factor.powf(steps)).clamp(MIN_RATE as f64, ceiling.max(MIN_RATE as f64));

        let connections = sample.connections.max(1) as f64;
        let rtt = base.unwrap_or(Duration::ZERO) + TARGET;
        let window = (self.rate / connections * rtt.as_secs_f64()).clamp(MIN_WINDOW as f64, MAX_WINDOW as f64);
        // No connection to measure (only `file://` copies): nothing to yield to, no limit.
        let (rate, reason) = match sample.connections {
            0 => (None, Reason::Unmeasured),
            _ => (Some(self.rate as u64), reason),
        };
        self.decision = Decision { rate, window: window as u32, throughput: own as u64, reason };
        &self.decision
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// A path of `link` bytes/s shared with `other` bytes/s of someone else's traffic, with our
    /// own traffic at min(rate, link − other) and the given RTT samples.
    struct Sim {
        c: Controller,
        now: Instant,
        received: u64,
        iface: u64,
    }

    impl Sim {
        fn new() -> Sim {
            Sim { c: Controller::new(), now: Instant::now(), received: 0, iface: 0 }
        }

        /// One tick; returns the decision.
        fn tick(&mut self, link: f64, other: f64, rtts: &[u32], interface: bool) -> Decision {
            let own = (self.c.rate).min((link - other).max(0.0));
            self.received += (own * 0.1) as u64;
            self.iface += ((own * 1.05 + other) * 0.1) as u64;
            self.now += TICK;
            let sample = IdleSample {
                connections: 1,
                rtt_samples: rtts.iter().map(|&m| m * MS).collect(),
                received: self.received,
                interface: interface.then(|| ("lo".to_string(), self.iface)),
            };
            self.c.update(&sample, self.now).clone()
        }
    }

    #[test]
    fn first_sample_only_sets_the_counters() {
        let mut s = Sim::new();
        let d = s.tick(6e6, 0.0, &[], true);
        assert_eq!(d.reason, Reason::Starting);
        assert_eq!(d.rate, Some(START_RATE));
    }

    /// Alone on a 6 MB/s link: from the start rate to ≥ 85 % of the link within 2 s, and it
    /// stays there.
    #[test]
    fn alone_it_takes_the_link() {
        let mut s = Sim::new();
        let mut ticks = 0;
        while s.tick(6e6, 0.0, &[1], true).throughput < 5_100_000 {
            ticks += 1;
            assert!(ticks <= 20, "still at {:?} after {ticks} ticks", s.c.decision());
        }
        for _ in 0..50 {
            let d = s.tick(6e6, 0.0, &[1], true);
            assert!(d.throughput >= 5_100_000, "{d:?}");
            assert!(!d.reason.yielding(), "{d:?}");
        }
    }

    /// Other traffic on the full local interface: the rate falls to the floor within 1 s,
    /// whatever the delay says; when it ends, the rate is back above 80 % within 3 s.
    #[test]
    fn other_traffic_on_a_full_interface_yields_then_recovers() {
        let mut s = Sim::new();
        for _ in 0..30 {
            s.tick(6e6, 0.0, &[], true);
        }
        let mut ticks = 0;
        loop {
            let d = s.tick(6e6, 5e6, &[], true);
            ticks += 1;
            if d.rate.unwrap() <= 300_000 {
                assert!(matches!(d.reason, Reason::OtherTraffic { ref interface, .. } if interface == "lo"), "{d:?}");
                assert!(d.reason.to_string().starts_with("yielding: "), "{}", d.reason);
                break;
            }
            assert!(ticks < 10, "not yielded within 1 s: {d:?}");
        }
        for _ in 0..30 {
            assert!(s.tick(6e6, 5.9e6, &[], true).rate.unwrap() <= 300_000);
        }
        let mut ticks = 0;
        while s.tick(6e6, 0.0, &[], true).throughput < 4_800_000 {
            ticks += 1;
            assert!(ticks <= 30, "not recovered within 3 s: {:?}", s.c.decision());
        }
    }

    /// Other traffic that leaves the interface below [`FULL`] is not competition (a quiet
    /// stream beside us on a fast link), and chatter below [`OTHER_FLOOR`] never is.
    #[test]
    fn other_traffic_on_a_link_with_room_is_not_competition() {
        let mut s = Sim::new();
        // A 100 MB/s link seen at its capacity once, then 1 MB/s of someone else's traffic
        // while we ramp up from the start rate: the interface is far from full.
        s.c.capacity = 100e6;
        for _ in 0..5 {
            let d = s.tick(100e6, 1e6, &[], true);
            assert!(!d.reason.yielding(), "{d:?}");
        }
        let mut s = Sim::new();
        for _ in 0..40 {
            let d = s.tick(6e6, 30_000.0, &[], true);
            assert!(!d.reason.yielding(), "{d:?}");
        }
    }

    /// Delay rule: above the target the rate falls (quickly when far above), at the target it
    /// holds, below it rises; the base is the lowest RTT seen.
    #[test]
    fn delay_drives_the_rate() {
        let target = TARGET.as_millis() as u32;
        let mut s = Sim::new();
        for _ in 0..30 {
            s.tick(6e6, 0.0, &[1], false);
        }
        let before = s.c.rate;
        let d = s.tick(6e6, 0.0, &[1 + target], false);
        assert!((s.c.rate - before).abs() < 1.0, "at the target the rate holds: {d:?}");
        assert!(matches!(d.reason, Reason::Free { extra: Some(e) } if e == TARGET), "{d:?}");
        let d = s.tick(6e6, 0.0, &[1 + 38], false);
        assert_eq!(d.reason, Reason::Delay { extra: 38 * MS });
        assert_eq!(d.reason.to_string(), "yielding: delay +38 ms");
        assert!(
            (s.c.rate - before.min(6e6) * DOWN).abs() < 1.0,
            "far above the target: the largest fall, from what was received"
        );
        let mut ticks = 1;
        while s.tick(6e6, 0.0, &[1 + 3 * target], false).rate.unwrap() > 2 * MIN_RATE {
            ticks += 1;
            assert!(ticks <= 10, "a queue of 3 × the target must bring the rate down within 1 s");
        }
        // No new sample: the last delay stands for SAMPLE_TTL (the rate does not rise)…
        let low = s.c.rate;
        for _ in 0..(SAMPLE_TTL.as_millis() / TICK.as_millis() - 1) {
            let d = s.tick(6e6, 0.0, &[], false);
            assert!(d.reason.yielding() && s.c.rate <= low, "{d:?}");
        }
        // …then the queue counts as gone (below the timestamp resolution): back within 3 s.
        let mut ticks = 0;
        while s.tick(6e6, 0.0, &[], false).throughput < 4_800_000 {
            ticks += 1;
            assert!(ticks <= 30, "not recovered within 3 s: {:?}", s.c.decision());
        }
    }

    /// The window is the rate's share per connection over base RTT + target, bounded.
    #[test]
    fn window_follows_the_rate() {
        let mut c = Controller::new();
        let t0 = Instant::now();
        let mut sample = IdleSample { connections: 2, rtt_samples: vec![20 * MS], received: 0, interface: None };
        c.update(&sample, t0);
        sample.received = 400_000;
        let d = c.update(&sample, t0 + TICK).clone();
        let expect = (d.rate.unwrap() as f64 / 2.0 * 0.030) as u32;
        assert!(d.window.abs_diff(expect.max(MIN_WINDOW)) <= 1, "{d:?}, expected {expect}");
        c.pause();
        assert_eq!(c.decision().rate, Some(START_RATE));
        assert_eq!(c.base_delay(), Some(20 * MS), "the base delay survives a pause");
    }

    /// Alone on a short path (50 Mbit/s, 1 ms base RTT: the delay rig), the smallest window
    /// queues less than the target at the bottleneck, so a group held back by the limiter
    /// does not read its own queue as competition; and a queue that stays keeps the rate at
    /// the floor (no blind rise while someone else's flow fills it).
    #[test]
    fn the_smallest_window_queues_less_than_the_target_and_a_standing_queue_holds_the_floor() {
        let link = 50e6 / 8.0;
        assert!(f64::from(MIN_WINDOW) / link < TARGET.as_secs_f64(), "MIN_WINDOW queues ≥ TARGET at 50 Mbit/s");
        let mut s = Sim::new();
        for _ in 0..30 {
            s.tick(link, 0.0, &[1], false);
        }
        for _ in 0..50 {
            s.tick(link, 0.0, &[1 + 3 * TARGET.as_millis() as u32], false);
        }
        assert_eq!(s.c.decision().rate, Some(MIN_RATE), "{:?}", s.c.decision());
        assert_eq!(s.c.decision().window, MIN_WINDOW);
    }

    #[test]
    fn a_connection_window_holds_two_full_segments() {
        assert_eq!(connection_window(MIN_WINDOW, 1448), MIN_WINDOW, "Ethernet: the controller's window");
        assert_eq!(connection_window(MIN_WINDOW, 65_483), 130_966, "loopback: two segments");
        assert_eq!(connection_window(1 << 20, 65_483), 1 << 20);
        assert_eq!(connection_window(MIN_WINDOW, u32::MAX), u32::MAX);
    }

    /// No idle connection open (only `file://` copies): nothing to measure, no limit.
    #[test]
    fn nothing_to_measure_means_no_limit() {
        let mut c = Controller::new();
        let t0 = Instant::now();
        let sample = IdleSample::default();
        c.update(&sample, t0);
        let d = c.update(&sample, t0 + TICK);
        assert_eq!((d.rate, &d.reason), (None, &Reason::Unmeasured));
        assert_eq!(d.reason.to_string(), "no network connection to measure");
    }

    /// The base delay is the minimum of the last BASE_HISTORY minutes: an old low sample ages out.
    #[test]
    fn base_delay_ages_out() {
        let mut c = Controller::new();
        let t0 = Instant::now();
        c.record_rtt(5 * MS, t0);
        c.record_rtt(9 * MS, t0 + Duration::from_secs(30));
        assert_eq!(c.base_delay(), Some(5 * MS));
        for m in 1..=BASE_HISTORY as u64 {
            c.record_rtt(20 * MS, t0 + Duration::from_secs(60 * m));
        }
        assert_eq!(c.base_delay(), Some(20 * MS));
    }
}
