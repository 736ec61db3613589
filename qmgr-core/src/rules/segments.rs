//! DECISIONS D16, segmented downloads: when one large file is fetched as several byte ranges
//! over several connections, into its one temporary file. Servers that cap each connection's
//! rate then give a file as many times their cap as it has connections (issue #17).
//!
//! * **How many connections a file may use** ([`connections`]): the group's
//!   `max_connections_per_group` shared among the unfinished files of its current job, so
//!   that a job of many files fetches them side by side (one connection each) and a job's
//!   last or only large file gets them all; a transfer in idle mode (DECISIONS D14) gets one.
//! * **Whether to split** ([`splittable`]): only a file whose size is known, whose server
//!   serves ranges, and whose version a strong validator names — every range must come from
//!   the same version, and `If-Range` makes a server answer a changed file with all of it.
//! * **Whether one connection is slow** ([`probe`]): a file that may be split is first
//!   fetched on its one opening connection for [`PROBE`]; only when that connection moved
//!   less than [`FAST_CONNECTION`] bytes a second does the rest go in pieces. Where one
//!   connection already fills the path (a LAN, loopback) more connections only add threads,
//!   requests and contention (measured: a 1 GiB file from nginx on loopback, 946 MB/s in six
//!   pieces against 1,190–1,230 MB/s in one stream); where a server caps each connection, the
//!   first second on one connection costs little (256 MiB capped at 2.1 MB/s per connection:
//!   12.7 MB/s splitting at once, 12.1 MB/s after the probe).
//! * **The pieces** ([`plan`]): what is not held, split into at most that many ranges of at
//!   least [`MIN_PIECE`] bytes.
//!
//! The checkpoint of a file fetched in segments records the ranges held
//! ([`crate::model::HeldRanges`]); a restart after a crash fetches only the gaps, so it loses
//! what the connections received in one checkpoint interval, and their bytes in flight. A range answered with other validators
//! (or a `200`: `If-Range` failed) means the file changed: all of it starts again from zero.

use crate::model::{HeldRanges, Validators};
use crate::transport::Traffic;
use std::time::Duration;

/// The smallest piece worth a connection of its own (bytes): a new connection costs a round
/// trip or two (TCP, TLS) and a slow start, which 4 MiB outweighs on any path a cap slows
/// down. aria2c's `--min-split-size` is 20 MiB by default; smaller pieces let files of tens of
/// MiB use several connections.
pub const MIN_PIECE: u64 = 4 << 20;

/// How long a file that may be split is fetched on its opening connection alone before
/// [`probe`] decides: long enough for TCP's slow start on a far path (tens of round trips of
/// 50 ms) and for a capping server's first burst to matter little.
pub const PROBE: Duration = Duration::from_secs(1);

/// A connection moving at least this many bytes a second over [`PROBE`] is not split
/// (64 MiB/s, 537 Mbit/s): no per-connection cap seen in practice is that high, and a path
/// one connection fills this fast gains nothing from more (loopback). A gigabit LAN
/// (117 MB/s) is still split; what that costs there is not measured.
pub const FAST_CONNECTION: u64 = 64 << 20;

/// What a fetch that may be split does after its opening connection moved `bytes` of body
/// in `elapsed` ([`PROBE`], [`FAST_CONNECTION`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeVerdict {
    /// Not [`PROBE`] yet: go on in one stream and ask again.
    Wait,
    /// The connection is slow: the rest of the file goes in pieces ([`plan`]).
    Split,
    /// The connection is fast: the rest of the file comes in this one stream.
    OneStream,
}

/// Whether a fetch whose opening connection moved `bytes` in `elapsed` goes on in pieces
/// ([`ProbeVerdict`]).
pub fn probe(bytes: u64, elapsed: Duration) -> ProbeVerdict {
    if elapsed < PROBE {
        ProbeVerdict::Wait
    } else if u128::from(bytes) * 1_000_000 < u128::from(FAST_CONNECTION) * elapsed.as_micros() {
        ProbeVerdict::Split
    } else {
        ProbeVerdict::OneStream
    }
}

/// Connections one file of the current job may use at once (≥ 1): `max_connections` (the
/// option `max_connections_per_group`) shared evenly among the job's `unfinished` files
/// (those not yet fetched whole, this one included). Every file running got its share when
/// at least as many files were unfinished as run now, so together they never use more than
/// `max_connections`.
///
/// A transfer of [`Traffic::Idle`] (a background group in `background_mode` `idle`,
/// DECISIONS D14) gets one: it takes only bandwidth nobody else wants, so out-running a server's
/// per-connection cap gains it nothing it should have, and several paced connections with
/// the controller's small windows each (16 KiB) read a pacing server's pauses as a 200 ms
/// queue (measured: 20 MB from nginx `limit_rate 2m` over six connections stalled at the
/// controller's floor; over one, 10 s).
pub fn connections(max_connections: usize, unfinished: usize, traffic: Traffic) -> usize {
    match traffic {
        Traffic::Idle => 1,
        Traffic::Foreground | Traffic::Background => (max_connections / unfinished.max(1)).max(1),
    }
}

/// Whether a file answered with `validators` may be fetched in ranges from several
/// connections: its size is known, the server serves ranges (`accepts_ranges`: an
/// `Accept-Ranges: bytes` header or a `206` answer), and a strong validator (an `ETag` that
/// is not weak, or a `Last-Modified` date) names its version, for the `If-Range` of every
/// range request (RFC 9110 §13.1.5).
pub fn splittable(validators: &Validators, accepts_ranges: bool) -> bool {
    let strong_etag = validators.etag.as_deref().is_some_and(|e| !e.starts_with("W/"));
    validators.total.is_some() && accepts_ranges && (strong_etag || validators.last_modified.is_some())
}

/// The pieces still to fetch of a file of `total` bytes holding `held`, over at most
/// `connections` at once, in file order: the bytes missing are shared evenly — pieces of
/// `max(MIN_PIECE, missing / connections)` bytes or a little more, each gap cut into as many
/// equal pieces as hold that size (a smaller gap is one piece) — so that connections at the
/// same rate finish together. At most `connections` pieces, unless there are more gaps than
/// that (a restart with fewer connections): those are fetched as connections come free.
/// Empty when every byte is held.
pub fn plan(total: u64, held: &HeldRanges, connections: usize) -> Vec<(u64, u64)> {
    let gaps = held.gaps(total);
    let missing: u64 = gaps.iter().map(|&(s, e)| e - s).sum();
    let size = (missing / connections.max(1) as u64).max(MIN_PIECE);
    let mut pieces = Vec::new();
    for (s, e) in gaps {
        let (len, k) = (u128::from(e - s), u128::from(((e - s) / size).max(1)));
        let at = |i: u128| s + (len * i / k) as u64;
        pieces.extend((0..k).map(|i| (at(i), at(i + 1))));
    }
    pieces
}

/// Whether a fetch holding `held` goes on in ranges with `pieces` ([`plan`]): always when it
/// holds ranges beyond a prefix (only ranges can fill its gaps), else when there are several
/// pieces and the file is [`splittable`].
pub fn in_ranges(held: &HeldRanges, pieces: &[(u64, u64)], splittable: bool) -> bool {
    !pieces.is_empty() && (!held.is_prefix() || (pieces.len() > 1 && splittable))
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: u64 = MIN_PIECE;

    #[test]
    fn connections_are_shared_among_unfinished_files() {
        for traffic in [Traffic::Foreground, Traffic::Background] {
            assert_eq!(connections(6, 1, traffic), 6, "a job's only file gets every connection");
            assert_eq!(connections(6, 2, traffic), 3);
            assert_eq!(connections(6, 4, traffic), 1);
            assert_eq!(connections(6, 100, traffic), 1, "never fewer than one");
            assert_eq!(connections(1, 1, traffic), 1, "option 1: one connection, as before D16");
            assert_eq!(connections(6, 0, traffic), 6);
        }
        assert_eq!(connections(6, 1, Traffic::Idle), 1, "idle bandwidth: one connection per file");
    }

    #[test]
    fn splittable_needs_a_size_ranges_and_a_strong_validator() {
        let v = |etag: Option<&str>, lm: Option<&str>, total: Option<u64>| Validators {
            etag: etag.map(str::to_string),
            last_modified: lm.map(str::to_string),
            total,
        };
        assert!(splittable(&v(Some("\"a\""), None, Some(10)), true));
        assert!(splittable(&v(None, Some("Sun, 06 Dec 2026 10:00:00 GMT"), Some(10)), true));
        assert!(!splittable(&v(Some("W/\"a\""), None, Some(10)), true), "a weak ETag names no exact bytes");
        assert!(splittable(&v(Some("W/\"a\""), Some("Sun, 06 Dec 2026 10:00:00 GMT"), Some(10)), true));
        assert!(!splittable(&v(Some("\"a\""), None, None), true), "size unknown");
        assert!(!splittable(&v(Some("\"a\""), None, Some(10)), false), "no ranges");
        assert!(!splittable(&v(None, None, Some(10)), true), "nothing to send in If-Range");
    }

    #[test]
    fn ranges_held_go_on_in_ranges_and_a_prefix_only_when_it_splits() {
        let mut gaps = HeldRanges::prefix(4);
        gaps.add(8, 10);
        let (one, two) = (vec![(0, 10)], vec![(0, 5), (5, 10)]);
        assert!(in_ranges(&gaps, &one, false), "ranges beyond a prefix: only ranges fill them");
        assert!(in_ranges(&HeldRanges::prefix(4), &two, true));
        assert!(!in_ranges(&HeldRanges::prefix(4), &two, false), "not splittable: one stream");
        assert!(!in_ranges(&HeldRanges::prefix(4), &one, true), "one piece: one stream");
        assert!(!in_ranges(&gaps, &[], true), "nothing left to fetch");
    }

    #[test]
    fn only_a_slow_opening_connection_is_split() {
        let second = PROBE;
        assert_eq!(probe(0, Duration::ZERO), ProbeVerdict::Wait);
        assert_eq!(probe(u64::MAX, second - Duration::from_millis(1)), ProbeVerdict::Wait, "decided after PROBE only");
        assert_eq!(probe(FAST_CONNECTION - 1, second), ProbeVerdict::Split, "just below the rate");
        assert_eq!(probe(FAST_CONNECTION, second), ProbeVerdict::OneStream);
        assert_eq!(probe(3 * FAST_CONNECTION, 3 * second), ProbeVerdict::OneStream, "the rate, not the bytes");
        assert_eq!(probe(2 * FAST_CONNECTION, 3 * second), ProbeVerdict::Split);
        assert_eq!(probe(2 << 20, second), ProbeVerdict::Split, "a capped connection (2 MiB/s)");
        assert_eq!(probe(0, 10 * second), ProbeVerdict::Split, "a stalled connection");
    }

    #[test]
    fn pieces_share_the_missing_bytes_evenly() {
        let none = HeldRanges::new();
        assert_eq!(plan(64 * M, &none, 4), vec![(0, 16 * M), (16 * M, 32 * M), (32 * M, 48 * M), (48 * M, 64 * M)]);
        assert_eq!(plan(64 * M, &none, 1), vec![(0, 64 * M)], "one connection: one piece");
        assert_eq!(plan(2 * M - 1, &none, 6), vec![(0, 2 * M - 1)], "one piece below 2 × MIN_PIECE");
        assert_eq!(plan(3 * M, &none, 6), vec![(0, M), (M, 2 * M), (2 * M, 3 * M)]);
        assert_eq!(plan(2 * M, &none, 6), vec![(0, M), (M, 2 * M)]);
        // 32 MiB over 6 connections: six pieces of 5.3 MiB, not 4, 4, 4, 4, 8, 8.
        let pieces = plan(32 << 20, &none, 6);
        let lens: Vec<u64> = pieces.iter().map(|&(s, e)| e - s).collect();
        assert_eq!(lens.len(), 6, "{pieces:?}");
        assert!(lens.iter().max().unwrap() - lens.iter().min().unwrap() <= 1, "{lens:?}");
        // A restart holds ranges: only the gaps are fetched, each cut evenly.
        let mut held = HeldRanges::prefix(8 * M);
        held.add(16 * M, 24 * M);
        assert_eq!(plan(32 * M, &held, 2), vec![(8 * M, 16 * M), (24 * M, 32 * M)]);
        assert_eq!(plan(32 * M, &held, 4), vec![(8 * M, 12 * M), (12 * M, 16 * M), (24 * M, 28 * M), (28 * M, 32 * M)]);
        assert_eq!(plan(32 * M, &held, 1).len(), 2, "more gaps than connections: all of them");
        held.add(0, 32 * M);
        assert!(plan(32 * M, &held, 6).is_empty());
        // Pieces cover exactly the gaps, at most one per connection.
        for (total, connections) in [(100 * M + 7, 6), (u64::MAX / 2, 16), (7, 3)] {
            let pieces = plan(total, &HeldRanges::prefix(3), connections);
            assert_eq!((pieces.first().unwrap().0, pieces.last().unwrap().1), (3, total));
            assert!(pieces.len() <= connections && pieces.windows(2).all(|w| w[0].1 == w[1].0), "{pieces:?}");
        }
    }
}
