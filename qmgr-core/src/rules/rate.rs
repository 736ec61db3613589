//! Rate limits (C-API.md "Per-group rate limit"; DECISIONS D14): which limits bind a transfer
//! and the rate they leave it.
//!
//! Three limits exist, in bytes/s:
//!
//! * the group's own (`qmgr_group_set_rate_limit`; 0 = none): it binds every transfer of the
//!   group, foreground ones too;
//! * `background_rate_limit` (queue option; 0 = none): it caps all background transfers of
//!   the queue together, in both `background_mode`s;
//! * the idle-bandwidth controller's rate ([`super::idle::Controller`]): in `idle` mode it
//!   bounds all idle transfers together, under `background_rate_limit`.
//!
//! The last two form one shared limit ([`shared`]), carried out by one token bucket of the
//! manager; the group's is a token bucket of the group's worker. A transfer takes every chunk
//! from the buckets that bind it ([`binds_shared`]), so the rate it may receive is the lowest
//! of them ([`effective`]).

use crate::transport::Traffic;

/// Whether the shared background limit ([`shared`]) binds a transfer of `traffic`: background
/// and idle transfers, never foreground ones (DECISIONS D14: "Foreground groups and jobs are
/// never held back by either"). The group's own limit binds every transfer.
pub fn binds_shared(traffic: Traffic) -> bool {
    traffic != Traffic::Foreground
}

/// The shared background limit (bytes/s; `None` = no limit): the idle controller's rate
/// (`controller`: `None` when no idle transfer runs or there is nothing to measure) capped by
/// `background_rate_limit` (`cap`, 0 = no cap), or the cap alone (DECISIONS D14).
pub fn shared(controller: Option<u64>, cap: u64) -> Option<u64> {
    let cap = (cap > 0).then_some(cap);
    match (controller, cap) {
        (Some(rate), Some(cap)) => Some(rate.min(cap)),
        (rate, cap) => rate.or(cap),
    }
}

/// The rate a transfer of `traffic` in a group limited to `group_limit` (bytes/s, 0 = none)
/// may receive while the shared background limit is `shared_rate` ([`shared`]): the lowest of
/// the limits that bind it; `None` = no limit.
pub fn effective(traffic: Traffic, group_limit: u64, shared_rate: Option<u64>) -> Option<u64> {
    let group = (group_limit > 0).then_some(group_limit);
    let shared_rate = shared_rate.filter(|_| binds_shared(traffic));
    match (group, shared_rate) {
        (Some(g), Some(s)) => Some(g.min(s)),
        (g, s) => g.or(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Traffic::{Background, Foreground, Idle};

    /// (traffic, group limit, background_rate_limit, controller, effective rate).
    type Row = (Traffic, u64, u64, Option<u64>, Option<u64>);

    /// (traffic, group limit, background_rate_limit, controller) → effective rate: every
    /// combination of the three limits, each the lowest once, for the three kinds of traffic.
    #[test]
    fn the_lowest_binding_limit_wins() {
        const N: Option<u64> = None;
        let rows: &[Row] = &[
            // No limit at all.
            (Foreground, 0, 0, N, N),
            (Background, 0, 0, N, N),
            (Idle, 0, 0, N, N),
            // The group's limit alone binds every kind of traffic.
            (Foreground, 512, 0, N, Some(512)),
            (Background, 512, 0, N, Some(512)),
            (Idle, 512, 0, N, Some(512)),
            // background_rate_limit never binds foreground transfers.
            (Foreground, 0, 1000, N, N),
            (Foreground, 512, 1000, Some(100), Some(512)),
            (Foreground, 5000, 1000, Some(100), Some(5000)),
            (Background, 0, 1000, N, Some(1000)),
            (Background, 512, 1000, N, Some(512)),
            (Background, 5000, 1000, N, Some(1000)),
            // The idle controller's rate under the cap.
            (Idle, 0, 0, Some(3000), Some(3000)),
            (Idle, 0, 1000, Some(3000), Some(1000)),
            (Idle, 0, 5000, Some(3000), Some(3000)),
            (Idle, 512, 5000, Some(3000), Some(512)),
            (Idle, 4000, 5000, Some(3000), Some(3000)),
            (Idle, 4000, 2000, Some(3000), Some(2000)),
            (Idle, 4000, 0, Some(3000), Some(3000)),
            (Idle, 1, u64::MAX, Some(u64::MAX), Some(1)),
        ];
        for &(traffic, group, cap, controller, want) in rows {
            let got = effective(traffic, group, shared(controller, cap));
            assert_eq!(got, want, "{traffic:?}, group {group}, cap {cap}, controller {controller:?}");
        }
    }

    /// The shared limit: the controller's rate capped by the option, or either alone.
    #[test]
    fn the_cap_bounds_the_controller_and_stands_alone() {
        let rows = [
            (None, 0, None),
            (None, 5000, Some(5000)),
            (Some(9000), 0, Some(9000)),
            (Some(9000), 5000, Some(5000)),
            (Some(3000), 5000, Some(3000)),
        ];
        for (controller, cap, want) in rows {
            assert_eq!(shared(controller, cap), want, "controller {controller:?}, cap {cap}");
        }
    }

    #[test]
    fn only_foreground_traffic_escapes_the_shared_limit() {
        assert!(!binds_shared(Foreground));
        assert!(binds_shared(Background));
        assert!(binds_shared(Idle));
    }
}
