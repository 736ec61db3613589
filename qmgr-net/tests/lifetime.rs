//! The transport's threads end with it (issue #14, item 7): helpers are reused between
//! exchanges, and `Transport::shutdown` (or dropping the transport) joins them all promptly,
//! even one blocked reading from a stalled server, on the plain and on the idle-mode agent.
//!
//! Its own test binary, and its tests one at a time ([`SERIAL`]): they count the threads of
//! the whole process by name.

mod support;

use qmgr_core::model::Options;
use qmgr_core::transport::{Cause, FetchOutcome, Traffic, Transport};
use qmgr_net::NetTransport;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};
use support::{content, fetch_simple, options, static_file, Fetch, Mode, Reply, Server};

/// Held by each test for its whole run: another test's helpers would count as this one's.
static SERIAL: Mutex<()> = Mutex::new(());

/// Threads of this process whose name starts with `prefix` (`/proc/self/task/*/comm`).
fn threads(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with(prefix))
        .count()
}

/// Starts a fetch of a body that stalls after its first 10,000 bytes and cancels it there:
/// the fetch returns, its helper stays blocked in a socket read (the read timeout is 60 s).
fn abandon_a_stalled_exchange(t: &NetTransport, url: &str, traffic: Traffic) {
    let dir = tempfile::tempdir().unwrap();
    let mut f = Fetch { traffic, ..Fetch::default() };
    f.recorder.cancel_after = Some((10_000, f.cancel.clone()));
    assert_eq!(f.run(t, url, &dir.path().join("t")), FetchOutcome::Cancelled);
}

#[test]
fn shutdown_joins_every_helper_at_once_and_drop_does_too() {
    let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let small = Server::start(static_file(content(5_000), "\"s\""));
    let stall = Server::start(|_, _| Reply::new(200).body(content(100_000)).mode(Mode::Stall(10_000)));
    assert_eq!(threads("qmgr-net-http"), 0);

    let t = NetTransport::new(&Options { read_timeout_ms: 60_000, ..options() }).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for i in 0..20 {
        let outcome = fetch_simple(&t, &small.url(&format!("/f{i}")), &dir.path().join(format!("f{i}")));
        assert!(matches!(outcome, FetchOutcome::Complete { bytes: 5_000, .. }), "{outcome:?}");
    }
    // The pool's purpose is kept: one file after the other reuse one helper.
    assert_eq!(threads("qmgr-net-http"), 1, "helpers are reused across small files");

    abandon_a_stalled_exchange(&t, &stall.url("/plain"), Traffic::Foreground);
    abandon_a_stalled_exchange(&t, &stall.url("/idle"), Traffic::Idle);
    assert!(threads("qmgr-net-http") >= 2, "two helpers blocked in reads");

    let started = Instant::now();
    t.shutdown();
    let took = started.elapsed();
    eprintln!("shutdown with 2 helpers blocked in reads took {took:?}");
    assert!(took < Duration::from_secs(1), "shutdown took {took:?}");
    assert_eq!(threads("qmgr-net-http"), 0, "every helper joined");

    // After the shutdown a fetch fails at once, and starts no thread.
    match fetch_simple(&t, &small.url("/late"), &dir.path().join("late")) {
        FetchOutcome::Failed(e) => assert_eq!(e.cause, Cause::NoThread, "{e:?}"),
        other => panic!("expected a failure, got {other:?}"),
    }
    assert_eq!(threads("qmgr-net-http"), 0);
    drop(t);

    // Dropping a transport (without calling shutdown) does the same.
    let t = NetTransport::new(&Options { read_timeout_ms: 60_000, ..options() }).unwrap();
    abandon_a_stalled_exchange(&t, &stall.url("/plain"), Traffic::Background);
    assert_eq!(threads("qmgr-net-http"), 1);
    let started = Instant::now();
    drop(t);
    assert!(started.elapsed() < Duration::from_secs(1), "drop took {:?}", started.elapsed());
    assert_eq!(threads("qmgr-net-http"), 0);
}

#[test]
fn a_shutdown_during_a_body_without_content_length_is_no_end_of_it() {
    // DECISIONS D15: Agent::shutdown can wake the blocked read with an end of stream, which
    // for a close-delimited body would look like its clean end.
    let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let stall = Server::start(|_, _| Reply::new(200).body(content(100_000)).mode(Mode::UnframedStall(10_000)));
    for traffic in [Traffic::Foreground, Traffic::Idle] {
        let t = NetTransport::new(&Options { read_timeout_ms: 60_000, ..options() }).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let temp = dir.path().join("t");
        let (under_way, outcome) = std::thread::scope(|s| {
            let fetch = s.spawn(|| Fetch { traffic, ..Fetch::default() }.run(&t, &stall.url("/u"), &temp));
            // The shutdown comes once the body is under way: its first 10,000 bytes written
            // (and in any case, so that a failed wait does not leave the fetch blocked).
            let deadline = Instant::now() + Duration::from_secs(30);
            let written = || std::fs::metadata(&temp).map_or(0, |m| m.len()) >= 10_000;
            while !written() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            let under_way = written();
            t.shutdown();
            (under_way, fetch.join().unwrap())
        });
        assert!(under_way, "{traffic:?}: the body never reached 10,000 bytes");
        match outcome {
            FetchOutcome::Failed(e) => assert!(matches!(e.cause, Cause::Network(_)), "{e:?}"),
            other => panic!("{traffic:?}: expected a failure, got {other:?}"),
        }
    }
}
