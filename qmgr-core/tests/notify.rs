//! DECISIONS D7 (callbacks: defaults, flags, late delivery, re-delivery, re-entrancy, release)
//! and D11 (`OnStatus` arguments).

mod common;

use common::*;
use qmgr_core::hresult::{QM_E_INVALID_STATE, S_OK};
use qmgr_core::model::{notify, GroupState, PropId, PropValue};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const NONE: u32 = u32::MAX;

fn flags(g: &qmgr_core::Group, f: u32) {
    g.set_prop(PropId::NotifyFlags, PropValue::Int(f)).unwrap();
}

#[test]
fn d7_d11_fatal_error_is_notified_by_default_with_the_failing_job_and_file() {
    let (mgr, fake) = open();
    let g = mgr.create_group(guid()).unwrap();
    add_job(&g, &fake, vec![("ok", Script::new(10))]);
    let j2 = add_job(&g, &fake, vec![("ok2", Script::new(10)), ("bad", Script::new(10).fail(0, http(404)))]);
    let log = Log::new();
    g.set_callback(Some(log.recorder())).unwrap();
    g.resume().unwrap();
    assert_eq!(settle(&g), 0x380);
    let calls = log.wait_for("the error notification", 1, |_| true);
    assert_eq!(
        calls[0],
        Call::Status {
            group: g.id(),
            job: Some(j2.id()),
            file_index: 1,
            status: 0x380,
            retries: 1,
            win32: 0x8019_0194,
            transport: 404
        }
    );
    fence(&mgr, &fake);
    assert_eq!(log.calls().len(), 1, "exactly one notification: {:?}", log.calls());
}

#[test]
fn d7_onstatus_of_an_error_reports_the_retries_so_far() {
    let (mgr, fake) = open();
    let (g, j) = group_with(&mgr, &fake, vec![("a", Script::new(10).fail(0, http(503)).fail(0, http(410)))]);
    let log = Log::new();
    g.set_callback(Some(log.recorder())).unwrap();
    g.resume().unwrap();
    wait_retries(&j, 1);
    fake.clock().advance(MIN_RETRY);
    let calls = log.wait_for("the error notification", 1, Call::is_status);
    assert_eq!(
        calls[0],
        Call::Status {
            group: g.id(),
            job: Some(j.id()),
            file_index: 0,
            status: 0x380,
            retries: 2,
            win32: 0x8019_019A,
            transport: 410
        },
        "one notification, for the fatal error only"
    );
}

#[test]
fn d7_transient_errors_and_completion_are_not_notified_without_flags() {
    let (mgr, fake) = open();
    let (g, j) = group_with(&mgr, &fake, vec![("a", Script::new(10).fail(0, http(503)))]);
    let log = Log::new();
    g.set_callback(Some(log.recorder())).unwrap();
    g.resume().unwrap();
    wait_retries(&j, 1);
    fake.clock().advance(MIN_RETRY);
    assert_eq!(settle(&g), 0x140);
    fence(&mgr, &fake);
    assert!(log.calls().is_empty(), "{:?}", log.calls());
}

#[test]
fn d1_d11_file_done_job_done_and_group_done_arguments() {
    let (mgr, fake) = open();
    let g = mgr.create_group(guid()).unwrap();
    let j1 = add_job(&g, &fake, vec![("a", Script::new(10)), ("b", Script::new(20))]);
    let j2 = add_job(&g, &fake, vec![("c", Script::new(30))]);
    flags(&g, notify::FILE_DONE | notify::JOB_DONE | notify::GROUP_DONE);
    let log = Log::new();
    g.set_callback(Some(log.recorder())).unwrap();
    g.resume().unwrap();
    let calls = log.wait_for("six notifications", 6, Call::is_status);
    let st = |job: Option<&qmgr_core::Job>, file_index: u32, status: u32| Call::Status {
        group: g.id(),
        job: job.map(|j| j.id()),
        file_index,
        status,
        retries: 0,
        win32: 0,
        transport: 0,
    };
    assert_eq!(
        calls,
        vec![
            st(Some(&j1), 0, 0x081),
            st(Some(&j1), 1, 0x081),
            st(Some(&j1), NONE, 0x084),
            st(Some(&j2), 0, 0x081),
            st(Some(&j2), NONE, 0x084),
            st(None, NONE, 0x140),
        ]
    );
    fence(&mgr, &fake);
    assert_eq!(log.calls().len(), 6);
}

#[test]
fn d7_group_done_alone_gives_one_notification() {
    let (mgr, fake) = open();
    let (g, _j) = group_with(&mgr, &fake, vec![("a", Script::new(10)), ("b", Script::new(10))]);
    flags(&g, notify::GROUP_DONE);
    let log = Log::new();
    g.set_callback(Some(log.recorder())).unwrap();
    g.resume().unwrap();
    log.wait_for("group done", 1, Call::is_status);
    fence(&mgr, &fake);
    assert_eq!(
        log.calls(),
        vec![Call::Status {
            group: g.id(),
            job: None,
            file_index: NONE,
            status: 0x140,
            retries: 0,
            win32: 0,
            transport: 0
        }]
    );
}

#[test]
fn d7_disable_notify_suppresses_everything_until_notifications_are_re_enabled() {
    let (mgr, fake) = open();
    let (g, _j) = group_with(&mgr, &fake, vec![("a", Script::new(10).fail(0, http(404)))]);
    flags(&g, notify::DISABLE_NOTIFY | notify::FILE_DONE | notify::GROUP_DONE);
    let log = Log::new();
    g.set_callback(Some(log.recorder())).unwrap();
    g.resume().unwrap();
    assert_eq!(settle(&g), 0x380);
    fence(&mgr, &fake);
    assert!(log.calls().is_empty(), "disabled: {:?}", log.calls());
    flags(&g, notify::FILE_DONE | notify::GROUP_DONE);
    let calls = log.wait_for("the error, delivered once re-enabled", 1, |_| true);
    assert!(matches!(calls[0], Call::Status { status: 0x380, transport: 404, .. }), "{calls:?}");

    // Completion while disabled, then re-enabled: delivered because the group is still complete.
    let (g2, _) = group_with(&mgr, &fake, vec![("b", Script::new(10))]);
    flags(&g2, notify::DISABLE_NOTIFY | notify::GROUP_DONE);
    let log2 = Log::new();
    g2.set_callback(Some(log2.recorder())).unwrap();
    g2.resume().unwrap();
    assert_eq!(settle(&g2), 0x140);
    fence(&mgr, &fake);
    assert!(log2.calls().is_empty());
    flags(&g2, notify::GROUP_DONE);
    let calls = log2.wait_for("group done once re-enabled", 1, |_| true);
    assert!(matches!(calls[0], Call::Status { status: 0x140, job: None, .. }), "{calls:?}");
}

#[test]
fn d7_late_registration_gets_events_that_still_hold() {
    let (mgr, fake) = open();
    let (g, j) = group_with(&mgr, &fake, vec![("a", Script::new(10).fail(0, http(403)))]);
    g.resume().unwrap();
    assert_eq!(settle(&g), 0x380);
    let log = Log::new();
    g.set_callback(Some(log.recorder())).unwrap();
    let calls = log.wait_for("the earlier error", 1, |_| true);
    assert_eq!(
        calls[0],
        Call::Status {
            group: g.id(),
            job: Some(j.id()),
            file_index: 0,
            status: 0x380,
            retries: 1,
            win32: 0x8019_0193,
            transport: 403
        }
    );

    let (g2, _) = group_with(&mgr, &fake, vec![("b", Script::new(10))]);
    flags(&g2, notify::GROUP_DONE);
    g2.resume().unwrap();
    assert_eq!(settle(&g2), 0x140);
    let log2 = Log::new();
    g2.set_callback(Some(log2.recorder())).unwrap();
    let calls = log2.wait_for("the earlier completion", 1, |_| true);
    assert!(matches!(calls[0], Call::Status { status: 0x140, job: None, file_index: NONE, .. }));
}

#[test]
fn d7_late_registration_does_not_get_events_that_no_longer_hold() {
    let (mgr, fake) = open();
    let (g, _j) = group_with(&mgr, &fake, vec![("a", Script::new(10).fail(0, http(403)))]);
    g.resume().unwrap();
    assert_eq!(settle(&g), 0x380);
    fake.edit(&url("a"), |s| s.gated = true);
    g.resume().unwrap();
    fake.wait_requests(&url("a"), 2);
    let log = Log::new();
    g.set_callback(Some(log.recorder())).unwrap();
    fence(&mgr, &fake);
    assert!(log.calls().is_empty(), "the error was cleared by the resume: {:?}", log.calls());
    g.cancel().unwrap();
}

#[test]
fn d7_onstatus_not_s_ok_is_redelivered_after_a_doubling_back_off() {
    let (mgr, fake) = open();
    let clock = fake.clock();
    let (g, _j) = group_with(&mgr, &fake, vec![("a", Script::new(10).fail(0, http(404)))]);
    let log = Log::clocked(&clock);
    log.status_answers.lock().unwrap().extend([REFUSE, REFUSE, REFUSE]);
    g.set_callback(Some(log.recorder())).unwrap();
    g.resume().unwrap();
    log.wait_for("the first delivery", 1, |_| true);
    let t0 = log.times()[0];
    for (n, back_off) in [(1, 1000), (2, 2000), (3, 4000)] {
        // The refusal is recorded (its re-delivery time set); nothing comes 1 ms before the
        // back-off has passed, the event comes again exactly when it has.
        fence(&mgr, &fake);
        clock.advance(ms(back_off - 1));
        fence(&mgr, &fake);
        assert_eq!(log.calls().len(), n, "re-delivered before {back_off} ms");
        clock.advance(ms(1));
        log.wait_for("the re-delivery", n + 1, |_| true);
    }
    let offsets: Vec<Duration> = log.times().iter().map(|t| *t - t0).collect();
    assert_eq!(offsets, [ms(0), ms(1000), ms(3000), ms(7000)], "1 s, 2 s, 4 s apart");
    let calls = log.calls();
    assert!(calls.iter().all(|c| *c == calls[0]), "the same event comes again: {calls:?}");
    assert!(matches!(calls[0], Call::Status { status: 0x380, transport: 404, .. }));
    assert_eq!(g.state().unwrap(), GroupState::Error);
    // The fourth answer was S_OK: the event is consumed.
    clock.advance(Duration::from_secs(3600));
    fence(&mgr, &fake);
    assert_eq!(log.calls().len(), 4);
}

/// A group whose one file fails at once (fatal 404), resumed, with `log` registered as a
/// callback that refuses every event (`OnStatus` answers an error): returns once the first
/// delivery of the error arrived.
fn refused_error(mgr: &qmgr_core::Manager, fake: &Fake, log: &Arc<Log>) -> qmgr_core::Group {
    let (g, _j) = group_with(mgr, fake, vec![("a", Script::new(10).fail(0, http(404)))]);
    log.set_hook(|_, _, _| REFUSE);
    g.set_callback(Some(log.recorder())).unwrap();
    g.resume().unwrap();
    log.wait_for("the first delivery", 1, |_| true);
    g
}

#[test]
fn d7_redelivery_back_off_doubles_up_to_10_minutes() {
    let (mgr, fake) = open();
    let clock = fake.clock();
    let log = Log::clocked(&clock);
    let g = refused_error(&mgr, &fake, &log);
    // 1 s doubling: 1, 2 … 256, 512, then 600 s (the cap) instead of 1024, and 600 s again.
    let mut want = Vec::new();
    for n in 1..=12usize {
        let back_off = Duration::from_secs(1 << (n - 1)).min(Duration::from_secs(600));
        want.push(back_off);
        fence(&mgr, &fake);
        clock.advance(back_off - ms(1));
        fence(&mgr, &fake);
        assert_eq!(log.calls().len(), n, "re-delivered before {back_off:?}");
        clock.advance(ms(1));
        log.wait_for("the re-delivery", n + 1, |_| true);
    }
    let t = log.times();
    let gaps: Vec<Duration> = t.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(gaps, want);
    g.cancel().unwrap();
}

#[test]
fn d7_redelivery_stops_when_the_state_no_longer_holds() {
    let (mgr, fake) = open();
    let clock = fake.clock();
    let log = Log::new();
    let g = refused_error(&mgr, &fake, &log);
    fence(&mgr, &fake);
    fake.edit(&url("a"), |s| s.gated = true);
    g.resume().unwrap();
    // The re-delivery would come 1 s after the first one.
    clock.advance(Duration::from_secs(1));
    fence(&mgr, &fake);
    assert_eq!(log.calls().len(), 1, "the error no longer holds after the resume");
    g.cancel().unwrap();
}

#[test]
fn d7_redelivery_goes_to_the_replacing_callback_and_the_replaced_one_is_released() {
    let (mgr, fake) = open();
    let old = Log::new();
    let g = refused_error(&mgr, &fake, &old);
    fence(&mgr, &fake);
    let new = Log::new();
    g.set_callback(Some(new.recorder())).unwrap();
    assert_eq!(old.drops(), 1, "the replaced callback is released at once");
    // The event comes again after its back-off (1 s), to the new callback.
    fake.clock().advance(Duration::from_secs(1));
    let calls = new.wait_for("the event, to the new callback", 1, |_| true);
    assert!(matches!(calls[0], Call::Status { status: 0x380, .. }));
    assert_eq!(old.calls().len(), 1);
}

#[test]
fn d7_redelivery_stops_and_the_callback_is_released_when_the_group_is_cancelled() {
    let (mgr, fake) = open();
    let log = Log::new();
    let g = refused_error(&mgr, &fake, &log);
    fence(&mgr, &fake);
    g.cancel().unwrap();
    wait_until("the callback is released", || log.drops() == 1);
    // The re-delivery would come 1 s after the first one.
    fake.clock().advance(Duration::from_secs(1));
    fence(&mgr, &fake);
    assert_eq!(log.calls().len(), 1);
    assert_eq!(log.drops(), 1);
}

#[test]
fn d7_callback_may_cancel_its_own_group_without_deadlock() {
    let (mgr, fake) = open();
    let (g, j) = group_with(&mgr, &fake, vec![("a", Script::new(10).fail(0, http(404)))]);
    let log = Log::new();
    let seen = Arc::new(Mutex::new(None));
    let seen2 = seen.clone();
    log.set_hook(move |group, job, _| {
        let before = group.status().map(|s| s.0);
        let job_status = job.map(|j| j.status().map(|s| s.status));
        let cancelled = group.cancel().map_err(|e| e.hr);
        let after = group.status().map_err(|e| e.hr);
        *seen2.lock().unwrap() = Some((before.ok(), job_status.map(|r| r.ok()), cancelled, after));
        S_OK
    });
    g.set_callback(Some(log.recorder())).unwrap();
    g.resume().unwrap();
    wait_until("the callback ran", || seen.lock().unwrap().is_some());
    let (before, job_status, cancelled, after) = (*seen.lock().unwrap()).unwrap();
    assert_eq!(before, Some(0x380));
    assert_eq!(job_status, Some(Some(0x018)));
    assert_eq!(cancelled, Ok(()));
    assert_eq!(after, Err(QM_E_INVALID_STATE));
    wait_until("the callback is released once", || log.drops() == 1);
    assert_eq!(hr(g.state()), QM_E_INVALID_STATE);
    assert_eq!(hr(j.status()), QM_E_INVALID_STATE);
    // The manager still works.
    let (g2, _) = group_with(&mgr, &fake, vec![("b", Script::new(10))]);
    g2.resume().unwrap();
    assert_eq!(settle(&g2), 0x140);
    assert_eq!(log.drops(), 1);
}

#[test]
fn d7_callback_may_release_the_last_handle_of_its_group_and_manager() {
    let (mgr, fake) = open();
    let (g, j) = group_with(&mgr, &fake, vec![("a", Script::new(10).fail(0, http(404)))]);
    let log = Log::new();
    let slot = Arc::new(Mutex::new(Some((mgr.clone(), g.clone()))));
    let slot2 = slot.clone();
    log.set_hook(move |group, _, _| {
        let kept = slot2.lock().unwrap().take();
        if let Some((m, kg)) = kept {
            assert!(kg.same(group));
            assert_eq!(m.enum_groups(0).unwrap().count_all(), 1);
            drop(kg);
            drop(m);
        }
        S_OK
    });
    g.set_callback(Some(log.recorder())).unwrap();
    g.resume().unwrap();
    drop((mgr, g, j));
    // The handles the callback holds are now the last ones; it drops them while it runs and
    // the manager shuts down from the notification thread. Its callback is released once.
    wait_until("the callback is released", || log.drops() == 1);
    assert_eq!(log.calls().len(), 1);
    assert!(slot.lock().unwrap().is_none());
}

#[test]
fn d12_callback_is_released_exactly_once_when_replaced_cleared_cancelled_or_the_manager_goes() {
    let (mgr, fake) = open();
    let (g, j) = group_with(&mgr, &fake, vec![("a", Script::new(10))]);
    let (a, b, c, d, e) = (Log::new(), Log::new(), Log::new(), Log::new(), Log::new());
    g.set_callback(Some(a.recorder())).unwrap();
    assert_eq!(a.drops(), 0);
    g.set_callback(Some(b.recorder())).unwrap();
    assert_eq!((a.drops(), b.drops()), (1, 0), "replaced");
    g.set_callback(None).unwrap();
    assert_eq!(b.drops(), 1, "cleared");
    g.set_callback(None).unwrap();

    let g2 = mgr.create_group(guid()).unwrap();
    g2.set_callback(Some(c.recorder())).unwrap();
    g2.cancel().unwrap();
    assert_eq!(c.drops(), 1, "group cancelled");
    assert_eq!(hr(g2.set_callback(Some(e.recorder()))), QM_E_INVALID_STATE);
    assert_eq!(e.drops(), 1, "refused on a cancelled group, and not kept");

    g.set_callback(Some(d.recorder())).unwrap();
    let g3 = g.clone();
    drop((mgr, g, j, g2));
    assert_eq!(d.drops(), 0, "a group handle keeps the manager alive");
    drop(g3);
    assert_eq!(d.drops(), 1, "released before the manager's last release returns");
    for l in [&a, &b, &c, &e] {
        assert_eq!(l.drops(), 1);
    }
}

#[test]
fn d7_callbacks_run_one_at_a_time_on_the_notification_thread() {
    let (mgr, fake) = open();
    let log = Log::new();
    let mut groups = Vec::new();
    for i in 0..6 {
        let names: Vec<String> = (0..3).map(|k| format!("g{i}f{k}")).collect();
        let (g, _) = group_with(&mgr, &fake, names.iter().map(|n| (n.as_str(), Script::new(10))).collect());
        flags(&g, notify::FILE_DONE | notify::GROUP_DONE);
        g.set_callback(Some(log.recorder())).unwrap();
        groups.push(g);
    }
    for g in &groups {
        g.resume().unwrap();
    }
    let calls = log.wait_for("every notification", 24, |_| true);
    assert_eq!(calls.len(), 24);
    assert_eq!(log.max_inside.load(std::sync::atomic::Ordering::SeqCst), 1, "one at a time");
    // One thread, so necessarily one call at a time (a re-entrant call would show in
    // max_inside).
    let threads: std::collections::HashSet<_> = log.threads().into_iter().collect();
    assert_eq!(threads.len(), 1, "one notification thread");
    assert!(!threads.contains(&std::thread::current().id()));
    for g in &groups {
        let mine: Vec<Call> = log.statuses_of(g.id());
        let files: Vec<u32> = mine
            .iter()
            .map(|c| match c {
                Call::Status { file_index, .. } => *file_index,
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(files, vec![0, 1, 2, NONE], "in event order");
    }
}

#[test]
fn d7_callback_may_clear_or_replace_itself_and_is_released_once() {
    let (mgr, fake) = open();
    let (g, _j) = group_with(&mgr, &fake, vec![("a", Script::new(10).fail(0, http(404)))]);
    let first = Log::new();
    let second = Log::new();
    let second2 = second.clone();
    first.set_hook(move |group, _, _| {
        group.set_callback(Some(second2.recorder())).unwrap();
        S_OK
    });
    g.set_callback(Some(first.recorder())).unwrap();
    g.resume().unwrap();
    first.wait_for("the error", 1, |_| true);
    wait_until("the first callback is released", || first.drops() == 1);
    second.set_hook(|group, _, _| {
        group.set_callback(None).unwrap();
        S_OK
    });
    fake.edit(&url("a"), |s| s.failures.push_back((0, http(404))));
    g.resume().unwrap();
    second.wait_for("the second error", 1, |_| true);
    wait_until("the second callback is released", || second.drops() == 1);
    fence(&mgr, &fake);
    assert_eq!((first.calls().len(), second.calls().len()), (1, 1));
    assert_eq!((first.drops(), second.drops()), (1, 1));
}
