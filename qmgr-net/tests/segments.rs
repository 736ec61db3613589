//! A large file fetched in byte ranges over several connections (DECISIONS D16;
//! `qmgr_core::rules::segments`, `qmgr-net/src/segments.rs`), against the in-process server.
//!
//! A file goes to pieces only once its opening connection proved slow
//! (`rules::segments::probe`): the servers here pace each connection at [`RATE`], as a server
//! capping each connection does.

mod support;

use qmgr_core::model::{Checksum, HeldRanges, Validators};
use qmgr_core::rules::classify::classify;
use qmgr_core::rules::segments::{plan, FAST_CONNECTION, MIN_PIECE, PROBE};
use qmgr_core::transport::{Cause, FetchOutcome};
use qmgr_net::NetTransport;
use sha2::{Digest, Sha256};
use support::{content, options, paced, static_file, Fetch, Mode, Request, Server};

const SIZE: usize = 10 * MIN_PIECE as usize;

/// Bytes a second each connection of the paced servers gets: well below
/// `rules::segments::FAST_CONNECTION`, so the opening connection is always slow.
const RATE: u64 = 8 << 20;

fn transport() -> NetTransport {
    NetTransport::new(&options()).unwrap()
}

fn complete(outcome: FetchOutcome) -> u64 {
    match outcome {
        FetchOutcome::Complete { bytes, .. } => bytes,
        other => panic!("expected completion, got {other:?}"),
    }
}

/// `(start, end)` of each request's `Range` (end exclusive; `None` when open-ended), `None`
/// for a request without one.
fn ranges(requests: &[Request]) -> Vec<Option<(u64, Option<u64>)>> {
    requests
        .iter()
        .map(|r| {
            let (s, e) = r.header("range")?.strip_prefix("bytes=")?.split_once('-')?;
            Some((s.parse().ok()?, e.parse::<u64>().ok().map(|e| e + 1)))
        })
        .collect()
}

fn v1(total: usize) -> Validators {
    Validators { etag: Some("\"v1\"".into()), last_modified: None, total: Some(total as u64) }
}

/// Six connections: the opening answer streams alone for `PROBE`, proves slow, and serves the
/// first piece of the rest; one bounded range request with `If-Range` each the others; the
/// pieces are the core's plan for what the probe left, each byte is asked for once.
#[test]
fn a_slow_large_file_is_fetched_in_ranges_over_several_connections() {
    const { assert!(RATE < FAST_CONNECTION) };
    let body = content(SIZE);
    let server = Server::start(paced(RATE, static_file(body.clone(), "\"v1\"")));
    let dir = tempfile::tempdir().unwrap();
    let temp = dir.path().join(".f.part");
    let mut f = Fetch { connections: 6, ..Fetch::default() };
    assert_eq!(complete(f.run(&transport(), &server.url("/f"), &temp)), SIZE as u64);
    assert!(std::fs::read(&temp).unwrap() == body, "the file differs from the body");

    let probed = f.recorder.starts.get(1).expect("a second start: the pieces").0;
    assert_eq!(f.recorder.starts, vec![(0, v1(SIZE)), (probed, v1(SIZE))], "one stream, then pieces from its end");
    let at_least = RATE * PROBE.as_millis() as u64 / 1000 / 2;
    assert!(probed >= at_least && probed < SIZE as u64 / 2, "the probe streamed {probed} bytes");
    let pieces = plan(SIZE as u64, &HeldRanges::prefix(probed), 6);
    assert_eq!(pieces.len(), 6, "{pieces:?}");
    let requests = server.requests();
    let mut asked = ranges(&requests);
    assert_eq!(asked.remove(0), None, "the opening request is a plain GET");
    asked.sort();
    let expected: Vec<_> = pieces[1..].iter().map(|&(s, e)| Some((s, Some(e)))).collect();
    assert_eq!(asked, expected, "one bounded range per piece after the first");
    assert!(requests[1..].iter().all(|r| r.header("if-range") == Some("\"v1\"")), "If-Range on every range");

    // The ranges held grew to the whole file and were reported before the last progress.
    assert_eq!(f.recorder.ranges.first(), Some(&HeldRanges::prefix(probed)), "the pieces start from the probe");
    let last = f.recorder.ranges.last().expect("ranges reported");
    assert_eq!(last, &HeldRanges::prefix(SIZE as u64));
    assert_eq!(f.recorder.progress.last(), Some(&(SIZE as u64)));
}

/// One connection, or a file too small to split: one request, one stream, as before D16.
#[test]
fn one_connection_or_a_small_file_is_one_stream() {
    for (size, connections) in [(SIZE, 1), (2 * MIN_PIECE as usize - 1, 6)] {
        let body = content(size);
        let server = Server::start(static_file(body.clone(), "\"v1\""));
        let dir = tempfile::tempdir().unwrap();
        let temp = dir.path().join(".f.part");
        let mut f = Fetch { connections, ..Fetch::default() };
        complete(f.run(&transport(), &server.url("/f"), &temp));
        assert!(std::fs::read(&temp).unwrap() == body);
        assert_eq!(server.requests().len(), 1, "{size} bytes over {connections} connections");
        assert!(f.recorder.ranges.is_empty(), "no ranges reported for one stream");
    }
}

/// A server without a validator, or that does not say it serves ranges, gets one stream.
#[test]
fn no_validator_or_no_ranges_is_one_stream() {
    let body = content(SIZE);
    for (etag, accept_ranges) in [(None, true), (Some("\"v1\""), false), (Some("W/\"weak\""), true)] {
        let b = body.clone();
        let server = Server::start(move |_, _| {
            let mut r = support::Reply::new(200).body(b.clone());
            if let Some(e) = etag {
                r = r.header("ETag", e);
            }
            if accept_ranges {
                r = r.header("Accept-Ranges", "bytes");
            }
            r
        });
        let dir = tempfile::tempdir().unwrap();
        let temp = dir.path().join(".f.part");
        let mut f = Fetch { connections: 6, ..Fetch::default() };
        complete(f.run(&transport(), &server.url("/f"), &temp));
        assert_eq!(server.requests().len(), 1, "ETag {etag:?}, Accept-Ranges {accept_ranges}");
    }
}

/// A file held in ranges (a checkpoint of an earlier fetch in segments) continues with its
/// gaps only, each a bounded range; nothing held is asked for again, and the held bytes are
/// not cut.
#[test]
fn a_file_held_in_ranges_fetches_only_its_gaps() {
    let m = MIN_PIECE;
    for connections in [1, 2] {
        let body = content(SIZE);
        let server = Server::start(static_file(body.clone(), "\"v1\""));
        let dir = tempfile::tempdir().unwrap();
        let temp = dir.path().join(".f.part");
        // Held: [0, m) and [5m, 6m), written; the rest of the file holds other bytes.
        let mut held = HeldRanges::prefix(m);
        held.add(5 * m, 6 * m);
        let mut partial = vec![0xAAu8; (6 * m) as usize];
        partial[..m as usize].copy_from_slice(&body[..m as usize]);
        partial[(5 * m) as usize..].copy_from_slice(&body[(5 * m) as usize..(6 * m) as usize]);
        std::fs::write(&temp, &partial).unwrap();
        let mut f = Fetch {
            connections,
            offset: held.total(),
            held_ranges: Some(held.clone()),
            validators: v1(SIZE),
            ..Fetch::default()
        };
        complete(f.run(&transport(), &server.url("/f"), &temp));
        assert!(std::fs::read(&temp).unwrap() == body, "{connections} connections: the file differs");
        let asked = ranges(&server.requests());
        assert_eq!(asked[0], Some((m, Some(5 * m))), "the first gap, up to the bytes held after it");
        for r in asked.iter().flatten() {
            let (s, e) = (r.0, r.1.unwrap_or(SIZE as u64));
            assert!(e <= 5 * m || s >= 6 * m, "{r:?} asks for held bytes");
        }
        assert!(server.requests().iter().all(|r| r.header("if-range") == Some("\"v1\"")));
        assert_eq!(f.recorder.starts, vec![(2 * m, v1(SIZE))], "continues from what is held");
        assert_eq!(f.recorder.ranges.first(), Some(&held), "starts from the ranges held");
    }
}

/// A range answered `200` (its `If-Range` names an old version): the file changed, and all of
/// it starts again from zero, ending as the new version.
#[test]
fn a_changed_file_restarts_from_zero() {
    let (old, new) = (content(SIZE), content(SIZE + 7).into_iter().rev().collect::<Vec<u8>>());
    let (v1, v2) = (static_file(old, "\"v1\""), static_file(new.clone(), "\"v2\""));
    let server = Server::start(paced(RATE, move |r, i| if i == 0 { v1(r, i) } else { v2(r, i) }));
    let dir = tempfile::tempdir().unwrap();
    let temp = dir.path().join(".f.part");
    let mut f = Fetch { connections: 3, ..Fetch::default() };
    assert_eq!(complete(f.run(&transport(), &server.url("/f"), &temp)), new.len() as u64);
    assert!(std::fs::read(&temp).unwrap() == new, "the file is not the new version");
    let starts: Vec<_> = f.recorder.starts.iter().map(|(s, v)| (*s, v.etag.clone())).collect();
    assert_eq!(starts.first(), Some(&(0, Some("\"v1\"".into()))));
    let restart = starts.iter().position(|s| s == &(0, Some("\"v2\"".into()))).expect("restarted from zero as v2");
    assert!(starts[restart..].iter().all(|(_, e)| e.as_deref() == Some("\"v2\"")), "{starts:?}");
}

/// A piece that fails (a connection cut inside its body) fails the fetch, keeping the ranges
/// written; the next fetch from them asks only for what is missing.
#[test]
fn a_failed_piece_fails_the_fetch_and_the_next_one_fetches_the_gaps() {
    let body = content(SIZE);
    let file = static_file(body.clone(), "\"v1\"");
    let server = Server::start(paced(RATE, move |r, i| {
        let reply = file(r, i);
        // The first bounded range is cut after 1 MiB.
        if i == 1 {
            reply.mode(Mode::Short(1 << 20))
        } else {
            reply
        }
    }));
    let dir = tempfile::tempdir().unwrap();
    let temp = dir.path().join(".f.part");
    let mut f = Fetch { connections: 2, ..Fetch::default() };
    let e = match f.run(&transport(), &server.url("/f"), &temp) {
        FetchOutcome::Failed(e) => classify(&e),
        other => panic!("expected a failure, got {other:?}"),
    };
    assert_eq!(e.class, qmgr_core::model::ErrorClass::Transient, "{e:?}");
    let held = f.recorder.ranges.last().expect("ranges reported").clone();
    assert!(!held.is_prefix(), "two pieces in progress: {held:?}");
    let sent_before = server.requests().len();

    let mut again = Fetch {
        connections: 2,
        offset: held.total(),
        held_ranges: Some(held.clone()),
        validators: v1(SIZE),
        ..Fetch::default()
    };
    complete(again.run(&transport(), &server.url("/f"), &temp));
    let got = std::fs::read(&temp).unwrap();
    let first_diff = got.iter().zip(&body).position(|(a, b)| a != b);
    assert!(
        got == body,
        "the file differs at {first_diff:?} (len {}), held {held:?}, requests {:?}",
        got.len(),
        ranges(&server.requests())
    );
    for r in ranges(&server.requests()[sent_before..]).iter().flatten() {
        let (s, e) = (r.0, r.1.unwrap_or(SIZE as u64));
        assert!(
            held.gaps(SIZE as u64).iter().any(|&(gs, ge)| s >= gs && e <= ge),
            "{r:?} is not within a gap of {held:?}"
        );
    }
}

/// The file's checksum is checked on the whole file read back (pieces arrive out of order):
/// the right one completes, a wrong one is a digest mismatch.
#[test]
fn a_checksum_is_checked_over_the_whole_file() {
    let body = content(SIZE);
    let hex = format!("{:x}", Sha256::digest(&body));
    let server = Server::start(paced(RATE, static_file(body.clone(), "\"v1\"")));
    let dir = tempfile::tempdir().unwrap();
    for (digest, ok) in [(hex.clone(), true), (hex.replace(&hex[..2], "00"), false)] {
        let temp = dir.path().join(format!(".f-{ok}.part"));
        let checksum = Checksum::parse("sha-256", &digest).unwrap();
        let mut f = Fetch { connections: 4, checksum: Some(checksum), ..Fetch::default() };
        match f.run(&transport(), &server.url("/f"), &temp) {
            FetchOutcome::Complete { .. } => assert!(ok, "a wrong checksum passed"),
            FetchOutcome::Failed(e) => {
                assert!(!ok, "{e:?}");
                assert!(matches!(e.cause, Cause::DigestMismatch { .. }), "{e:?}");
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(ranges(&server.requests()).iter().filter(|r| r.is_some()).count() >= 4, "fetched in ranges");
}

/// A file held in ranges whose server now has another, shorter version: the `200` to the
/// resume (`If-Range` names the old one) restarts it from zero, in ranges again, and it ends
/// exactly as the new version — no tail of the old one past the new end.
#[test]
fn a_file_held_in_ranges_that_changed_ends_as_the_new_version() {
    let m = MIN_PIECE;
    let new: Vec<u8> = content(SIZE - 7).into_iter().rev().collect();
    let server = Server::start(paced(RATE, static_file(new.clone(), "\"v2\"")));
    let dir = tempfile::tempdir().unwrap();
    let temp = dir.path().join(".f.part");
    let mut held = HeldRanges::prefix(m);
    held.add(9 * m, 10 * m);
    std::fs::write(&temp, vec![0x55u8; SIZE]).unwrap();
    let mut f = Fetch {
        connections: 4,
        offset: held.total(),
        held_ranges: Some(held),
        validators: v1(SIZE),
        ..Fetch::default()
    };
    assert_eq!(complete(f.run(&transport(), &server.url("/f"), &temp)), new.len() as u64);
    assert!(std::fs::read(&temp).unwrap() == new, "not exactly the new version");
    assert!(ranges(&server.requests()).iter().filter(|r| r.is_some()).count() >= 3, "fetched in ranges again");
}

/// A server that says it serves ranges but answers a range request with the whole file (same
/// version): the fetch goes on in one stream and completes, instead of restarting until it
/// gives up.
#[test]
fn a_server_ignoring_ranges_gets_one_stream() {
    let body = content(SIZE);
    let b = body.clone();
    let server = Server::start(paced(RATE, move |_, _| {
        support::Reply::new(200).header("ETag", "\"v1\"").header("Accept-Ranges", "bytes").body(b.clone())
    }));
    let dir = tempfile::tempdir().unwrap();
    let temp = dir.path().join(".f.part");
    let mut f = Fetch { connections: 6, ..Fetch::default() };
    assert_eq!(complete(f.run(&transport(), &server.url("/f"), &temp)), SIZE as u64);
    assert!(std::fs::read(&temp).unwrap() == body);
    let last = server.requests().last().unwrap().clone();
    assert_eq!(last.header("range"), None, "the last request is one stream: {:?}", ranges(&server.requests()));
}

/// A `503` to one of the extra connections (a server limiting connections per client): its
/// piece goes back to the others, and the file completes.
#[test]
fn a_refused_extra_connection_leaves_its_piece_to_the_others() {
    let body = content(SIZE);
    let file = static_file(body.clone(), "\"v1\"");
    let server = Server::start(paced(RATE, move |r, i| if i == 2 { support::Reply::new(503) } else { file(r, i) }));
    let dir = tempfile::tempdir().unwrap();
    let temp = dir.path().join(".f.part");
    let mut f = Fetch { connections: 4, ..Fetch::default() };
    assert_eq!(complete(f.run(&transport(), &server.url("/f"), &temp)), SIZE as u64);
    assert!(std::fs::read(&temp).unwrap() == body, "the file differs");
    let refused = ranges(&server.requests())[2].expect("the refused request asked for a range");
    let again = ranges(&server.requests()).iter().skip(3).filter(|r| r.map(|r| r.0) == Some(refused.0)).count();
    assert_eq!(again, 1, "the refused piece was asked for again");
}

/// Ranges that are one prefix (a checkpoint taken when the pieces had joined up) are the
/// prefix: the fetch continues from its end like any resume.
#[test]
fn ranges_that_are_a_prefix_resume_as_one() {
    let body = content(SIZE);
    let server = Server::start(static_file(body.clone(), "\"v1\""));
    let dir = tempfile::tempdir().unwrap();
    let temp = dir.path().join(".f.part");
    let held = SIZE as u64 - 1000;
    std::fs::write(&temp, &body[..held as usize]).unwrap();
    let mut f = Fetch {
        connections: 6,
        offset: held,
        held_ranges: Some(HeldRanges::prefix(held)),
        validators: v1(SIZE),
        ..Fetch::default()
    };
    complete(f.run(&transport(), &server.url("/f"), &temp));
    assert!(std::fs::read(&temp).unwrap() == body);
    assert_eq!(ranges(&server.requests()), vec![Some((held, None))], "one request from the prefix's end");
}
