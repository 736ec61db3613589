//! The per-group rate limit (C-API.md "Per-group rate limit"; `qmgr_group_set_rate_limit`)
//! end to end, against the tests' local HTTP server on 127.0.0.1 (which sends as fast as it
//! can):
//!
//! * a limited group really is limited, foreground and background alike: 2 MiB at 512 KiB/s
//!   take at least 3 s (nominally 3.75–4 s: the bucket starts empty, bursts are a quarter
//!   second);
//! * lowering the limit of a running group from another process (`qmgr set --limit-rate`)
//!   slows the rest of its transfer: once the change has reached the transferring process
//!   (DECISIONS D10), the remaining bytes take at least what the new limit allows.
//!
//! Only lower bounds on elapsed time are asserted (with slack for the bursts a token bucket
//! allows); a loaded machine can only make a transfer slower.

#![forbid(unsafe_code)]

use std::process::Command;
use std::time::{Duration, Instant};

use qmgr_rs::model::GroupState;
use qmgr_rs::Group;
use qmgr_tests::hostile::{pattern, HostileQueue, HostileServer, Resource, Step};
use qmgr_tests::{qmgr_bin, run_to_end, wait_until};

/// Generous deadline of a limited transfer (seconds of transfer, on a loaded machine).
const DEADLINE: Duration = Duration::from_secs(120);
const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

/// Waits until every group of `groups` is COMPLETE; returns, for each, the time from `start`
/// to when it was first seen complete (looked at every 10 ms).
fn completion_times(groups: &[&Group], start: Instant) -> Vec<Duration> {
    let mut done: Vec<Option<Duration>> = vec![None; groups.len()];
    let ok = wait_until(DEADLINE, || {
        for (g, d) in groups.iter().zip(done.iter_mut()) {
            if d.is_none() && g.wait(Some(Duration::from_millis(10))).unwrap().0 {
                assert_eq!(g.state().unwrap(), GroupState::Complete, "{:?}", g.snapshot());
                *d = Some(start.elapsed());
            }
        }
        done.iter().all(Option::is_some)
    });
    assert!(ok, "not complete within {DEADLINE:?}: {:?}", groups.iter().map(|g| g.progress64()).collect::<Vec<_>>());
    done.into_iter().map(Option::unwrap).collect()
}

#[test]
fn a_limited_group_is_limited_in_the_foreground_and_the_background() {
    const SIZE: u64 = 2 * MIB;
    const LIMIT: u64 = 512 * KIB;
    let res = Resource::new(pattern(SIZE as usize, 7)).etag("\"limited\"");
    let server = HostileServer::start();
    server.script("/limited", vec![Step::serve(&res)]);
    // The default background mode (idle) for the background group: its limit is the lowest
    // of the three (nothing else caps it on loopback), and it binds either way.
    let q = HostileQueue::open(&[]);
    let (fg, _) = q.group(&[(&server.url("/limited?fg"), "fg.bin")]);
    let (bg, _) = q.group(&[(&server.url("/limited?bg"), "bg.bin")]);
    // An unlimited group alongside: the limit is the group's own, not the queue's.
    let (free, _) = q.group(&[(&server.url("/limited?free"), "free.bin")]);
    fg.switch_to_foreground().unwrap();
    free.switch_to_foreground().unwrap();
    fg.set_rate_limit(LIMIT).unwrap();
    bg.set_rate_limit(LIMIT).unwrap();
    assert_eq!(q.manager.get_option("background_rate_limit").unwrap(), "0");

    let start = Instant::now();
    for g in [&fg, &bg, &free] {
        g.resume().unwrap();
    }
    let times = completion_times(&[&fg, &bg, &free], start);
    eprintln!(
        "{SIZE} bytes at {LIMIT} B/s: foreground {:?}, background {:?}; unlimited: {:?}",
        times[0], times[1], times[2]
    );
    let least = Duration::from_secs(3);
    assert!(times[0] >= least, "the foreground group took {:?}: not limited to {LIMIT} B/s", times[0]);
    assert!(times[1] >= least, "the background group took {:?}: not limited to {LIMIT} B/s", times[1]);
    for name in ["fg.bin", "bg.bin", "free.bin"] {
        assert_eq!(std::fs::read(q.path(name)).unwrap(), *res.body, "{name}");
    }
    assert_eq!(q.manager.get_option("background_rate_limit").unwrap(), "0", "the queue option is untouched");
}

#[test]
fn lowering_the_limit_from_another_process_slows_the_rest_of_the_transfer() {
    const SIZE: u64 = 4 * MIB;
    const BEFORE: u64 = MIB;
    const AFTER: u64 = 512 * KIB;
    let qmgr = qmgr_bin(); // built first: not while the transfer runs
    let res = Resource::new(pattern(SIZE as usize, 8)).etag("\"lowered\"");
    let server = HostileServer::start();
    server.script("/lowered", vec![Step::serve(&res)]);
    let q = HostileQueue::open(&[]);
    let (g, _) = q.group(&[(&server.url("/lowered"), "lowered.bin")]);
    // Foreground: nothing but the group's own limit binds it.
    g.switch_to_foreground().unwrap();
    g.set_rate_limit(BEFORE).unwrap();
    g.resume().unwrap();
    assert!(wait_until(DEADLINE, || g.progress64().unwrap().0 >= 128 * KIB), "no progress: {:?}", g.snapshot());

    // Another process (this one holds the transfer lock) lowers the limit.
    let id = g.id().to_string();
    let out =
        run_to_end(Command::new(qmgr).arg("--queue").arg(q.dir()).args(["set", &id, "--limit-rate", "512k"]), DEADLINE);
    assert!(out.status.success(), "qmgr set --limit-rate: {}", String::from_utf8_lossy(&out.stderr));
    // The transferring process follows the store (DECISIONS D10); its group — and with it the
    // worker's bucket, set in the same step — has the new limit once this reads it.
    assert!(wait_until(DEADLINE, || g.rate_limit().unwrap() == AFTER), "the change never arrived");
    let (t0, b0) = (Instant::now(), g.progress64().unwrap().0);
    let remaining = SIZE - b0;
    assert!(
        remaining >= MIB,
        "only {remaining} bytes were left when the change arrived: too few to measure (a loaded machine? rerun)"
    );
    let took = completion_times(&[&g], t0)[0];
    // A quarter second of tokens at the old rate may have been saved up (the bucket shrinks
    // them in proportion when the rate falls: a quarter second at the new rate), plus one
    // chunk read before the change.
    let slack = AFTER / 4 + 256 * KIB;
    let least = Duration::from_secs_f64((remaining - slack) as f64 / AFTER as f64);
    eprintln!("limit {BEFORE} -> {AFTER} B/s with {remaining} bytes left: they took {took:?} (at least {least:?})");
    assert!(took >= least, "{remaining} bytes took {took:?} after the limit fell to {AFTER} B/s (at least {least:?})");
    assert_eq!(std::fs::read(q.path("lowered.bin")).unwrap(), *res.body);
}
