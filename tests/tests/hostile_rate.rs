//! `background_rate_limit` against a fast local server, through the Rust API: the aggregate rate
//! of the background groups stays within ±10% of the limit, while a foreground group is not
//! limited (DECISIONS D1; C-API.md options).
//!
//! The rate is measured on the client side (the job's bytes written to its temporary file,
//! sampled every 20 ms), as the least-squares slope over a 6 s window after 1 s of warm-up;
//! the server side would also count what sits in socket buffers.

#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use qmgr_rs::model::GroupState;
use qmgr_tests::hostile::{pattern, HostileQueue, HostileServer, Resource, Step};

/// The limit under test: 4 MiB/s over all background groups.
const LIMIT: u64 = 4 << 20;
/// Measurement window, after the warm-up.
const WARM_UP: Duration = Duration::from_secs(1);
const WINDOW: Duration = Duration::from_secs(6);
/// When the foreground group starts, from the start of the background groups.
const FOREGROUND_AT: Duration = Duration::from_secs(3);

/// Least-squares slope of `points` (seconds, bytes), in bytes/s.
fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    let (mx, my) = points.iter().fold((0.0, 0.0), |(a, b), (x, y)| (a + x / n, b + y / n));
    let sxy: f64 = points.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = points.iter().map(|(x, _)| (x - mx) * (x - mx)).sum();
    sxy / sxx
}

#[test]
fn background_rate_limit_holds_the_aggregate_and_spares_the_foreground() {
    // Large enough that no background file finishes within the window (2 × 32 MiB at 4 MiB/s).
    let res = Resource::new(pattern(32 << 20, 1)).etag("\"big\"");
    let server = HostileServer::start();
    server.script("/big", vec![Step::serve(&res)]);
    // `normal` mode: this test is about the cap alone. In `idle` mode (the default, DECISIONS
    // D14) the background groups would rightly give way to the foreground one as well, and the
    // aggregate would fall below the cap while it runs (tests/tests/background.rs covers that).
    let q = HostileQueue::open(&[("background_rate_limit", &LIMIT.to_string()), ("background_mode", "normal")]);
    let (b1, _) = q.group(&[(&server.url("/big?1"), "b1.bin")]);
    let (b2, _) = q.group(&[(&server.url("/big?2"), "b2.bin")]);
    let (fg, fg_job) = q.group(&[(&server.url("/big?fg"), "fg.bin")]);
    fg.switch_to_foreground().unwrap();

    let start = Instant::now();
    b1.resume().unwrap();
    b2.resume().unwrap();
    let mut samples = Vec::new();
    let mut fg_started = None;
    let mut fg_done = None;
    let end = WARM_UP + WINDOW;
    while start.elapsed() < end || (fg_started.is_some() && fg_done.is_none() && start.elapsed() < end * 3) {
        let t = start.elapsed();
        if fg_started.is_none() && t >= FOREGROUND_AT {
            fg.resume().unwrap();
            fg_started = Some(Instant::now());
        }
        let bytes = b1.progress64().unwrap().0 + b2.progress64().unwrap().0;
        samples.push((t.as_secs_f64(), bytes as f64));
        if fg_done.is_none() && fg_started.is_some() && fg.state().unwrap() == GroupState::Complete {
            fg_done = Some(Instant::now());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(b1.state().unwrap(), GroupState::Running, "{:?}", b1.progress64());
    assert_eq!(b2.state().unwrap(), GroupState::Running, "{:?}", b2.progress64());

    let window: Vec<(f64, f64)> = samples
        .iter()
        .copied()
        .filter(|(t, _)| *t >= WARM_UP.as_secs_f64() && *t <= (WARM_UP + WINDOW).as_secs_f64())
        .collect();
    let fitted = slope(&window);
    let (first, last) = (window[0], window[window.len() - 1]);
    let endpoints = (last.1 - first.1) / (last.0 - first.0);
    let error = fitted / LIMIT as f64 - 1.0;
    let fg_elapsed = fg_done.zip(fg_started).map(|(d, s)| d.duration_since(s));
    let fg_rate = fg_elapsed.map(|e| res.len() as f64 / e.as_secs_f64());
    eprintln!(
        "background_rate_limit {LIMIT} B/s: measured {fitted:.0} B/s (least squares, {:+.2}%), {endpoints:.0} B/s \
         (end points, {:+.2}%) over {:.1} s, {} samples; per group {} / {} bytes in total; \
         foreground: {} bytes in {fg_elapsed:?} = {:.1} MiB/s",
        error * 100.0,
        (endpoints / LIMIT as f64 - 1.0) * 100.0,
        last.0 - first.0,
        window.len(),
        b1.progress64().unwrap().0,
        b2.progress64().unwrap().0,
        res.len(),
        fg_rate.unwrap_or(0.0) / f64::from(1 << 20),
    );
    assert!(error.abs() <= 0.10, "aggregate background rate {fitted:.0} B/s is not within ±10% of {LIMIT} B/s");
    let fg_rate = fg_rate.expect("the foreground group completed");
    assert!(
        fg_rate >= 2.0 * LIMIT as f64,
        "the foreground group ran at {fg_rate:.0} B/s: limited like the background ({LIMIT} B/s)?"
    );
    assert_eq!(fg_job.status().unwrap().num_of_retries, 0);
    assert_eq!(std::fs::read(q.path("fg.bin")).unwrap(), *res.body);
    b1.cancel().unwrap();
    b2.cancel().unwrap();
}
