//! DECISIONS D1 (`GetProgress` units, `GROUPPROP_PROGRESS*` thresholds, `QM_PROGRESS_TIME_DONE`),
//! D7 (progress callbacks are best-effort) and D9 (the `OnProgressEx` record).
//!
//! Thresholds are measured on the job being transferred: `value` (and the record) describe that
//! job, and a notification fires each time the job's amount crosses another multiple of the
//! threshold. Gated transfers make the crossings exact: each step waits for its notification
//! before letting more bytes through, so nothing is coalesced.

mod common;

use common::*;
use qmgr_core::hresult::E_INVALIDARG;
use qmgr_core::model::{notify, progress, PropId, PropValue};
use qmgr_core::{FileSpec, Group, Job};
use std::time::Duration;

fn set(g: &Group, prop: PropId, v: u32) {
    g.set_prop(prop, PropValue::Int(v)).unwrap();
}

/// Lets `n` more bytes of `name` through and waits until the job holds `job_bytes`.
fn feed(fake: &Fake, name: &str, n: u64, job: &Job, job_bytes: u64) {
    fake.allow(&url(name), n);
    wait_until(&format!("job holds {job_bytes} bytes"), || job.progress64().unwrap().0 == job_bytes);
}

fn progress_calls(log: &Log, n: usize) -> Vec<Call> {
    log.wait_for(&format!("{n} progress notifications"), n, |c| !c.is_status())
}

#[test]
fn d1_progress_size_notifies_each_multiple_with_the_job_bytes_and_the_file_index() {
    let (mgr, fake) = open();
    // One file at a time: `b` transfers only once `a` is handed to its commit, so the
    // notifications name the file that moves (with several at once they name the first file
    // not handed over, which `a` is until then; DECISIONS D16).
    sequential(&mgr);
    let (g, j) = group_with(
        &mgr,
        &fake,
        vec![("a", Script::new(150).chunk(50).gated()), ("b", Script::new(150).chunk(50).gated())],
    );
    set(&g, PropId::ProgressSize, 100);
    let log = Log::new();
    g.set_callback(Some(log.recorder())).unwrap();
    g.resume().unwrap();
    let ev = |file_index: u32, value: u32| Call::Progress {
        kind: progress::SIZE_DONE,
        group: g.id(),
        job: Some(j.id()),
        file_index,
        value,
    };
    feed(&fake, "a", 50, &j, 50);
    feed(&fake, "a", 50, &j, 100);
    assert_eq!(progress_calls(&log, 1), vec![ev(0, 100)]);
    feed(&fake, "a", 50, &j, 150);
    feed(&fake, "b", 50, &j, 200);
    assert_eq!(progress_calls(&log, 2)[1], ev(1, 200), "the job's bytes, not the file's");
    feed(&fake, "b", 50, &j, 250);
    feed(&fake, "b", 50, &j, 300);
    assert_eq!(progress_calls(&log, 3)[2], ev(1, 300));
    assert_eq!(settle(&g), 0x140);
    fence(&mgr, &fake);
    assert_eq!(log.calls(), vec![ev(0, 100), ev(1, 200), ev(1, 300)]);
}

#[test]
fn d1_progress_is_measured_on_the_job_being_transferred() {
    let (mgr, fake) = open();
    let g = mgr.create_group(guid()).unwrap();
    let j1 = add_job(&g, &fake, vec![("a", Script::new(200).chunk(100).gated())]);
    let j2 = add_job(&g, &fake, vec![("b", Script::new(200).chunk(100).gated())]);
    set(&g, PropId::ProgressSize, 100);
    let log = Log::new();
    g.set_callback(Some(log.recorder())).unwrap();
    g.resume().unwrap();
    let ev = |j: &Job, value: u32| Call::Progress {
        kind: progress::SIZE_DONE,
        group: g.id(),
        job: Some(j.id()),
        file_index: 0,
        value,
    };
    feed(&fake, "a", 100, &j1, 100);
    progress_calls(&log, 1);
    feed(&fake, "a", 100, &j1, 200);
    progress_calls(&log, 2);
    feed(&fake, "b", 100, &j2, 100);
    progress_calls(&log, 3);
    feed(&fake, "b", 100, &j2, 200);
    progress_calls(&log, 4);
    assert_eq!(settle(&g), 0x140);
    fence(&mgr, &fake);
    assert_eq!(log.calls(), vec![ev(&j1, 100), ev(&j1, 200), ev(&j2, 100), ev(&j2, 200)]);
}

#[test]
fn d1_progress_percent_notifies_each_multiple_of_the_percentage() {
    let (mgr, fake) = open();
    let (g, j) = group_with(&mgr, &fake, vec![("a", Script::new(400).chunk(50).gated())]);
    set(&g, PropId::ProgressPercent, 25);
    let log = Log::new();
    g.set_callback(Some(log.recorder())).unwrap();
    g.resume().unwrap();
    for k in 1..=8u64 {
        feed(&fake, "a", 50, &j, 50 * k);
        if k % 2 == 0 {
            progress_calls(&log, k as usize / 2);
        }
    }
    assert_eq!(settle(&g), 0x140);
    fence(&mgr, &fake);
    let values: Vec<(u32, u32, u32)> = log
        .calls()
        .into_iter()
        .map(|c| match c {
            Call::Progress { kind, file_index, value, .. } => (kind, file_index, value),
            other => panic!("{other:?}"),
        })
        .collect();
    let p = progress::PERCENT_DONE;
    assert_eq!(values, vec![(p, 0, 25), (p, 0, 50), (p, 0, 75), (p, 0, 100)]);
}

#[test]
fn d1_progress_time_notifies_as_active_time_crosses_multiples() {
    let (mgr, fake) = open();
    let clock = fake.clock();
    let (g, j) = group_with(&mgr, &fake, vec![("a", Script::new(1000).chunk(10).gated())]);
    set(&g, PropId::ProgressTime, 100);
    let log = Log::new();
    g.set_callback(Some(log.recorder())).unwrap();
    g.resume().unwrap();
    fake.wait_started(&url("a"), 1);
    let ev = |value: u32| Call::Progress {
        kind: progress::TIME_DONE,
        group: g.id(),
        job: Some(j.id()),
        file_index: 0,
        value,
    };
    // (advance, then 10 more bytes): the job's active time and whether it crosses a multiple.
    let mut bytes = 0;
    let mut want = Vec::new();
    for (advance, active, fires) in
        [(100, 100, true), (99, 199, false), (1, 200, true), (250, 450, true), (0, 450, false), (49, 499, false)]
    {
        clock.advance(ms(advance));
        bytes += 10;
        feed(&fake, "a", 10, &j, bytes);
        assert_eq!(j.progress(progress::TIME_DONE).unwrap(), active);
        if fires {
            want.push(ev(active));
            progress_calls(&log, want.len());
        } else {
            fence(&mgr, &fake);
        }
        assert_eq!(log.calls(), want, "after {active} ms of transfer");
    }
    // Crossing two multiples at once (200 → 450) gives one notification, with the job's time.
    assert_eq!(want, [ev(100), ev(200), ev(450)]);
    g.cancel().unwrap();
}

#[test]
fn d1_progress_time_notifies_as_active_time_crosses_multiples_during_a_stall() {
    // TIME_DONE counts while a transfer stalls (no byte arrives); the PROGRESSTIME threshold
    // measured on it should fire as it crosses each multiple, not wait for the next byte.
    let (mgr, fake) = open();
    let clock = fake.clock();
    let (g, j) = group_with(&mgr, &fake, vec![("a", Script::new(1000).chunk(10).gated())]);
    set(&g, PropId::ProgressTime, 100);
    let log = Log::new();
    g.set_callback(Some(log.recorder())).unwrap();
    g.resume().unwrap();
    fake.wait_started(&url("a"), 1);
    clock.advance(ms(250));
    assert_eq!(j.progress(progress::TIME_DONE).unwrap(), 250);
    let calls = progress_calls(&log, 1);
    assert!(matches!(calls[0], Call::Progress { kind: progress::TIME_DONE, value: 100..=250, .. }), "{calls:?}");
    g.cancel().unwrap();
}

#[test]
fn d9_use_progressex_delivers_the_28_byte_record_instead_of_on_progress() {
    let (mgr, fake) = open();
    let g = mgr.create_group(guid()).unwrap();
    let j = g.create_job(guid()).unwrap();
    fake.serve(&url("a"), Script::new(150).chunk(50).gated());
    fake.serve(&url("b"), Script::new(150).chunk(50).gated().unknown_size());
    j.add_files(&[spec("a"), FileSpec { url: url("b"), local_path: dest("b"), size_hint: 150 }]).unwrap();
    let k = add_job(&g, &fake, vec![("c", Script::new(100).chunk(100).gated().unknown_size())]);
    set(&g, PropId::ProgressSize, 100);
    set(&g, PropId::NotifyFlags, notify::USE_PROGRESSEX);
    let log = Log::new();
    g.set_callback(Some(log.recorder())).unwrap();
    g.resume().unwrap();
    feed(&fake, "a", 100, &j, 100);
    progress_calls(&log, 1);
    feed(&fake, "a", 50, &j, 150);
    // `a` is committed beside the transfer of `b` (DECISIONS D4): the record counts it once done.
    wait_until("file a committed", || j.file_progress(0).unwrap().2);
    feed(&fake, "b", 50, &j, 200);
    progress_calls(&log, 2);
    feed(&fake, "b", 100, &j, 300);
    progress_calls(&log, 3);
    feed(&fake, "c", 100, &k, 100);
    progress_calls(&log, 4);
    assert_eq!(settle(&g), 0x140);
    fence(&mgr, &fake);
    let calls = log.calls();
    assert_eq!(calls.len(), 4);
    let mut seen = Vec::new();
    for c in calls {
        let Call::ProgressEx { kind, group, job, file_index, value, bytes } = c else {
            panic!("OnProgressEx only, got {c:?}")
        };
        assert_eq!((kind, group), (progress::SIZE_DONE, g.id()));
        seen.push((job, file_index, value, parse_record(&bytes)));
    }
    let (jj, kk) = (Some(j.id()), Some(k.id()));
    assert_eq!(
        seen,
        vec![
            (jj, 0, 100, (1, 100, 300, 0, 2)),
            (jj, 1, 200, (1, 200, 300, 1, 2)),
            (jj, 1, 300, (1, 300, 300, 1, 2)),
            (kk, 0, 100, (1, 100, u64::MAX, 0, 1)),
        ],
        "(job, file, value, (version, bytes_done, bytes_total, files_done, files_total))"
    );
}

#[test]
fn d1_d9_byte_values_saturate_but_the_record_keeps_64_bits() {
    const GIB: u64 = 1 << 30;
    let (mgr, fake) = open();
    let (g, j) = group_with(&mgr, &fake, vec![("big", Script::new(5 * GIB).chunk(GIB).gated())]);
    set(&g, PropId::ProgressSize, GIB as u32);
    set(&g, PropId::NotifyFlags, notify::USE_PROGRESSEX);
    let log = Log::new();
    g.set_callback(Some(log.recorder())).unwrap();
    g.resume().unwrap();
    for k in 1..=5 {
        feed(&fake, "big", GIB, &j, k * GIB);
        progress_calls(&log, k as usize);
    }
    assert_eq!(settle(&g), 0x140);
    let got: Vec<(u32, u64)> = log
        .calls()
        .into_iter()
        .map(|c| match c {
            Call::ProgressEx { value, bytes, .. } => (value, parse_record(&bytes).1),
            other => panic!("{other:?}"),
        })
        .collect();
    let m = u32::MAX;
    assert_eq!(
        got,
        vec![(GIB as u32, GIB), (2 * GIB as u32, 2 * GIB), (3 * GIB as u32, 3 * GIB), (m, 4 * GIB), (m, 5 * GIB)]
    );
    assert_eq!(j.progress(progress::SIZE_DONE).unwrap(), u32::MAX);
    assert_eq!(g.progress(progress::SIZE_DONE).unwrap(), u32::MAX);
    assert_eq!(g.progress64().unwrap(), (5 * GIB, 5 * GIB));
    assert_eq!(g.size().unwrap(), u32::MAX);
}

#[test]
fn d7_progress_notifications_are_never_redelivered() {
    let (mgr, fake) = open();
    let (g, j) = group_with(&mgr, &fake, vec![("a", Script::new(200).chunk(100).gated())]);
    set(&g, PropId::ProgressSize, 100);
    let log = Log::new();
    *log.progress_answer.lock().unwrap() = REFUSE;
    g.set_callback(Some(log.recorder())).unwrap();
    g.resume().unwrap();
    feed(&fake, "a", 100, &j, 100);
    progress_calls(&log, 1);
    // Refused `OnStatus` calls come again after 1 s; a refused progress call never does.
    fake.clock().advance(Duration::from_secs(3600));
    fence(&mgr, &fake);
    assert_eq!(log.calls().len(), 1);
    fake.open_gate(&url("a"));
    settle(&g);
}

#[test]
fn d1_d7_no_progress_notification_when_off_disabled_or_without_a_callback() {
    let (mgr, fake) = open();
    // Threshold 0 (the default): off.
    let (g1, _) = group_with(&mgr, &fake, vec![("off", Script::new(1000).chunk(10))]);
    let log1 = Log::new();
    g1.set_callback(Some(log1.recorder())).unwrap();
    // DISABLE_NOTIFY.
    let (g2, _) = group_with(&mgr, &fake, vec![("disabled", Script::new(1000).chunk(10))]);
    set(&g2, PropId::ProgressSize, 10);
    set(&g2, PropId::NotifyFlags, notify::DISABLE_NOTIFY);
    let log2 = Log::new();
    g2.set_callback(Some(log2.recorder())).unwrap();
    // No callback while transferring; registered afterwards: progress is never delivered late.
    let (g3, _) = group_with(&mgr, &fake, vec![("nobody", Script::new(1000).chunk(10))]);
    set(&g3, PropId::ProgressSize, 10);
    for g in [&g1, &g2, &g3] {
        g.resume().unwrap();
        assert_eq!(settle(g), 0x140);
    }
    let log3 = Log::new();
    g3.set_callback(Some(log3.recorder())).unwrap();
    set(&g2, PropId::NotifyFlags, 0);
    fence(&mgr, &fake);
    assert!(log1.calls().is_empty(), "{:?}", log1.calls());
    assert!(log2.calls().is_empty(), "{:?}", log2.calls());
    assert!(log3.calls().is_empty(), "{:?}", log3.calls());
}

#[test]
fn d7_progress_notifications_are_coalesced_but_each_crosses_another_multiple() {
    let (mgr, fake) = open();
    let (g, j) = group_with(&mgr, &fake, vec![("a", Script::new(100_000).chunk(100))]);
    set(&g, PropId::ProgressSize, 1000);
    let log = Log::new();
    g.set_callback(Some(log.recorder())).unwrap();
    g.resume().unwrap();
    assert_eq!(settle(&g), 0x140);
    fence(&mgr, &fake);
    let values: Vec<u32> = log
        .calls()
        .into_iter()
        .map(|c| match c {
            Call::Progress { value, job, .. } => {
                assert_eq!(job, Some(j.id()));
                value
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(!values.is_empty() && values.len() <= 100, "{} notifications", values.len());
    assert!(values.windows(2).all(|w| w[0] / 1000 < w[1] / 1000), "strictly increasing steps: {values:?}");
    assert!(values.iter().all(|v| *v >= 1000));
}

#[test]
fn d1_time_done_counts_active_transfer_time_and_excludes_suspended_time() {
    let (mgr, fake) = open();
    let clock = fake.clock();
    one_slot(&mgr);
    let (g, j) = group_with(&mgr, &fake, vec![("a", Script::new(1000).chunk(10).gated())]);
    let time_done = || (j.progress(progress::TIME_DONE).unwrap(), g.progress(progress::TIME_DONE).unwrap());
    assert_eq!(time_done(), (0, 0));
    g.resume().unwrap();
    fake.wait_started(&url("a"), 1);
    assert_eq!(time_done(), (0, 0));
    // Transferring: the advanced time counts, also while no byte arrives (a stall). The
    // group's value is the sum over its jobs.
    clock.advance(ms(250));
    assert_eq!(time_done(), (250, 250));
    feed(&fake, "a", 10, &j, 10);
    assert_eq!(time_done(), (250, 250));
    clock.advance(ms(100));
    assert_eq!(time_done(), (350, 350));
    g.suspend().unwrap();
    // Once the transfer has stopped, suspended time does not count.
    idle_fence(&mgr, &fake);
    assert_eq!(time_done(), (350, 350));
    clock.advance(Duration::from_secs(3600));
    assert_eq!(time_done(), (350, 350), "suspended time is not counted");
    g.resume().unwrap();
    fake.wait_started(&url("a"), 2);
    assert_eq!(time_done(), (350, 350));
    clock.advance(ms(50));
    assert_eq!(time_done(), (400, 400), "counting again once transferring");
    g.cancel().unwrap();
}

#[test]
fn d1_time_done_excludes_retry_waits() {
    let (mgr, fake) = open();
    let clock = fake.clock();
    one_slot(&mgr);
    mgr.set_option("min_retry_delay_ms", "500").unwrap();
    // Each 10-byte chunk takes 10 ms: the first attempt transfers for 50 ms, then fails; the
    // retry, 500 ms later, continues for another 50 ms.
    let script = Script::new(100).chunk(10).tick(ms(10)).fail(50, http(503));
    let (g, j) = group_with(&mgr, &fake, vec![("a", script)]);
    let t0 = fake.now();
    g.resume().unwrap();
    wait_retries(&j, 1);
    // The failed transfer has wound down (its active time stopped).
    idle_fence(&mgr, &fake);
    assert_eq!(j.progress(progress::TIME_DONE).unwrap(), 50);
    clock.advance(ms(499));
    assert_eq!(j.progress(progress::TIME_DONE).unwrap(), 50, "waiting to retry is not transferring");
    clock.advance(ms(1));
    assert_eq!(settle(&g), 0x140);
    assert_eq!(fake.now() - t0, ms(600));
    assert_eq!(j.progress(progress::TIME_DONE).unwrap(), 100, "the 500 ms retry wait is not counted");
    assert_eq!(g.progress(progress::TIME_DONE).unwrap(), 100);
}

#[test]
fn d1_get_progress_units_and_flags() {
    let (mgr, fake) = open();
    let (g, j) = group_with(&mgr, &fake, vec![("empty", Script::new(0))]);
    for bad in [0, 4, 0x8000_0000] {
        assert_eq!(hr(g.progress(bad)), E_INVALIDARG);
        assert_eq!(hr(j.progress(bad)), E_INVALIDARG);
    }
    assert_eq!(g.progress(progress::PERCENT_DONE).unwrap(), 0);
    g.resume().unwrap();
    assert_eq!(settle(&g), 0x140);
    assert_eq!(g.progress(progress::PERCENT_DONE).unwrap(), 100, "100 once complete, also for zero bytes");
    assert_eq!(j.progress(progress::PERCENT_DONE).unwrap(), 100);
    assert_eq!(j.progress(progress::SIZE_DONE).unwrap(), 0);
    assert_eq!(j.progress64().unwrap(), (0, 0));
}
