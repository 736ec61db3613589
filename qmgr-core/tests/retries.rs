//! DECISIONS D5 (transient and fatal errors, retry delay, Retry-After, no-progress timeout,
//! resume from partial data) and D11 (`dwNumOfRetries`, error results).

mod common;

use common::*;
use qmgr_core::hresult::win32;
use qmgr_core::model::{status, GroupState, PropId, PropValue};
use qmgr_core::transport::LocalOp;
use std::time::Duration;

fn gaps(fake: &Fake, name: &str) -> Vec<Duration> {
    let r = fake.requests_for(&url(name));
    r.windows(2).map(|w| w[1].at - w[0].at).collect()
}

#[test]
fn d5_transient_error_is_retried_after_the_retry_delay_without_error_bit_and_counts_a_retry() {
    let (mgr, fake) = open();
    one_slot(&mgr);
    mgr.set_option("min_retry_delay_ms", "200").unwrap();
    let (g, j) = group_with(&mgr, &fake, vec![("a", Script::new(100).gated().fail(0, http(503)))]);
    g.resume().unwrap();
    wait_retries(&j, 1);
    assert_eq!(g.state().unwrap(), GroupState::Running, "transient: still RUNNING");
    assert_eq!(g.status().unwrap().0, 0x080, "transient errors never set an ERROR bit");
    let s = j.status().unwrap();
    assert_eq!(s.status, status::JOB_INCOMPLETE);
    assert_eq!((s.win32_result, s.transport_result), (0x8019_01F7, 503));
    // Nothing at 199 ms; the retry at exactly 200 ms.
    expect_retry_after(&mgr, &fake, "a", ms(200));
    fake.open_gate(&url("a"));
    assert_eq!(settle(&g), 0x140);
    let s = j.status().unwrap();
    assert_eq!(s.num_of_retries, 1, "never reset (D11)");
    assert_eq!(s.status, status::JOB_COMPLETE);
}

#[test]
fn d5_retry_delay_starts_at_min_retry_delay_and_doubles() {
    let (mgr, fake) = open();
    one_slot(&mgr);
    let script = Script::new(10).fail(0, http(500)).fail(0, http(502)).fail(0, http(504));
    let (g, j) = group_with(&mgr, &fake, vec![("a", script)]);
    g.resume().unwrap();
    for (n, delay) in [(1, 100), (2, 200), (3, 400)] {
        wait_retries(&j, n);
        expect_retry_after(&mgr, &fake, "a", ms(delay));
    }
    assert_eq!(settle(&g), 0x140);
    assert_eq!(gaps(&fake, "a"), [ms(100), ms(200), ms(400)]);
    assert_eq!(j.status().unwrap().num_of_retries, 3, "each failed attempt counts one retry");
}

#[test]
fn d5_retry_delay_doubles_up_to_10_minutes_and_restarts_after_a_completed_file() {
    let (mgr, fake) = open();
    one_slot(&mgr);
    sequential(&mgr); // `b` is first requested once `a` is complete
    let mut script = Script::new(10);
    for _ in 0..14 {
        script = script.fail(0, http(503));
    }
    let (g, j) = group_with(&mgr, &fake, vec![("a", script), ("b", Script::new(10).fail(0, http(503)))]);
    g.resume().unwrap();
    // 100 ms doubling: 100, 200 … 204 800, 409 600, then 600 000 (the cap) instead of 819 200.
    let mut want = Vec::new();
    for n in 1..=14u32 {
        let delay = ms(100 << (n - 1)).min(Duration::from_secs(600));
        want.push(delay);
        wait_retries(&j, n);
        expect_retry_after(&mgr, &fake, "a", delay);
    }
    assert_eq!(gaps(&fake, "a"), want);
    assert_eq!(*want.last().unwrap(), Duration::from_secs(600));
    // `a` completed: the next failure (of `b`) waits the minimum again.
    wait_retries(&j, 15);
    expect_retry_after(&mgr, &fake, "b", MIN_RETRY);
    assert_eq!(settle(&g), 0x140);
}

#[test]
fn d5_retry_after_is_honoured_when_larger_than_the_retry_delay() {
    let (mgr, fake) = open();
    one_slot(&mgr);
    let long = http_retry_after(503, ms(600));
    let short = http_retry_after(429, ms(1));
    let (g, j) = group_with(&mgr, &fake, vec![("a", Script::new(10).fail(0, long).fail(0, short))]);
    g.resume().unwrap();
    wait_retries(&j, 1);
    expect_retry_after(&mgr, &fake, "a", ms(600));
    // The retry delay went on doubling underneath (100 → 200): a shorter Retry-After does not
    // shorten it.
    wait_retries(&j, 2);
    expect_retry_after(&mgr, &fake, "a", ms(200));
    assert_eq!(settle(&g), 0x140);
}

#[test]
fn d5_fatal_http_error_stops_the_group_in_error_with_the_http_status() {
    let (mgr, fake) = open();
    let (g, j) = group_with(&mgr, &fake, vec![("a", Script::new(10).fail(0, http(404)))]);
    g.resume().unwrap();
    assert_eq!(settle(&g), 0x380);
    let s = j.status().unwrap();
    assert_eq!(s.status, status::JOB_INCOMPLETE | status::JOB_ERROR);
    assert_eq!(s.win32_result, 0x8019_0194, "BG_E_HTTP_ERROR_404");
    assert_eq!(s.transport_result, 404);
    assert_eq!(s.num_of_retries, 1);
    assert_eq!(j.error_message().unwrap().as_deref(), Some("HTTP 404"));
    assert_eq!(fake.requests().len(), 1, "a fatal error is not retried");
}

#[test]
fn d5_a_refused_connection_is_transient_with_cannot_connect() {
    let (mgr, fake) = open();
    one_slot(&mgr);
    let (g, j) = group_with(&mgr, &fake, vec![("a", Script::new(10).fail(0, refused()))]);
    g.resume().unwrap();
    wait_retries(&j, 1);
    assert_eq!(g.state().unwrap(), GroupState::Running, "transient: still RUNNING");
    let s = j.status().unwrap();
    assert_eq!((s.win32_result, s.transport_result), (win32::ERROR_WINHTTP_CANNOT_CONNECT, 0));
    expect_retry_after(&mgr, &fake, "a", MIN_RETRY);
    assert_eq!(settle(&g), 0x140);
}

#[test]
fn d5_fatal_local_error_reports_its_win32_code_and_no_transport_result() {
    let (mgr, fake) = open();
    let e = local(LocalOp::WriteTemp, 28, "disk full");
    let (g, j) = group_with(&mgr, &fake, vec![("a", Script::new(1000).chunk(100).fail(400, e))]);
    g.resume().unwrap();
    assert_eq!(settle(&g), 0x380);
    let s = j.status().unwrap();
    assert_eq!((s.win32_result, s.transport_result, s.num_of_retries), (112, 0, 1));
    assert_eq!(fake.temps_of(&url("a"))[0].1.len, 400, "an error keeps the partial data (D4)");
}

#[test]
fn d4_d5_commit_failure_is_fatal_and_nothing_is_committed() {
    let (mgr, fake) = open();
    let e = local(LocalOp::Rename { from: "/dl/.a.part".into() }, 13, "rename refused");
    let (g, j) = group_with(&mgr, &fake, vec![("a", Script::new(100).commit_error(e))]);
    g.resume().unwrap();
    assert_eq!(settle(&g), 0x380);
    let s = j.status().unwrap();
    assert_eq!((s.win32_result, s.transport_result), (5, 0));
    assert!(fake.committed(&dest("a")).is_none());
    assert!(!j.file_progress(0).unwrap().2);
}

#[test]
fn d5_no_progress_timeout_0_makes_every_error_fatal() {
    let (mgr, fake) = open();
    mgr.set_option("no_progress_timeout_ms", "0").unwrap();
    let (g, j) = group_with(&mgr, &fake, vec![("a", Script::new(10).fail(0, http(503)))]);
    g.resume().unwrap();
    assert_eq!(settle(&g), 0x380);
    let s = j.status().unwrap();
    assert_eq!((s.status, s.win32_result, s.transport_result, s.num_of_retries), (0x018, 0x8019_01F7, 503, 1));
    assert_eq!(fake.requests().len(), 1);
}

#[test]
fn d5_transient_errors_without_progress_for_the_no_progress_timeout_become_fatal() {
    let (mgr, fake) = open();
    let clock = fake.clock();
    mgr.set_option("no_progress_timeout_ms", "1000").unwrap();
    let failing = || {
        let mut script = Script::new(10);
        for _ in 0..10 {
            script = script.fail(0, http(503));
        }
        script
    };
    // `a` is resumed 1 ms before `b`; both fail at once and retry after 100 ms.
    let (a, ja) = group_with(&mgr, &fake, vec![("a", failing())]);
    let (b, jb) = group_with(&mgr, &fake, vec![("b", failing())]);
    a.resume().unwrap();
    wait_retries(&ja, 1);
    clock.advance(ms(1));
    b.resume().unwrap();
    wait_retries(&jb, 1);
    // Both retry at the same instant: exactly 1000 ms without progress for `a` (fatal), 999 ms
    // for `b` (still transient).
    clock.advance(ms(999));
    assert_eq!(settle(&a), 0x380, "fatal at exactly the no-progress timeout");
    let s = ja.status().unwrap();
    assert_eq!((s.status, s.num_of_retries, s.transport_result), (0x018, 2, 503));
    let msg = ja.error_message().unwrap().unwrap();
    assert!(msg.contains("no progress for 1000 ms"), "{msg}");
    assert_eq!(fake.requests_for(&url("a")).len(), 2);
    wait_retries(&jb, 2);
    assert_eq!(b.status().unwrap().0, 0x080, "999 ms without progress: still retrying");
    assert_eq!(jb.status().unwrap().status, 0x008, "no error bit");
    // Its next attempt (200 ms later) is past the timeout.
    clock.advance(ms(200));
    assert_eq!(settle(&b), 0x380);
    assert_eq!(jb.status().unwrap().num_of_retries, 3);
    assert_eq!(gaps(&fake, "b"), [ms(999), ms(200)]);
}

#[test]
fn d5_time_queued_behind_other_groups_is_not_time_without_progress() {
    // A group that has not transferred yet (queued behind a higher-priority group for longer
    // than the no-progress timeout) gets its retries like any other: its first transient error
    // is not fatal.
    let (mgr, fake) = open();
    let clock = fake.clock();
    one_slot(&mgr);
    mgr.set_option("no_progress_timeout_ms", "1000").unwrap();
    let (a, _) = group_with(&mgr, &fake, vec![("a", Script::new(10).gated())]);
    a.set_prop(PropId::Priority, PropValue::Int(0)).unwrap();
    a.resume().unwrap();
    fake.wait_requests(&url("a"), 1);
    let (b, jb) = group_with(&mgr, &fake, vec![("b", Script::new(10).fail(0, http(503)))]);
    b.resume().unwrap();
    clock.advance(ms(5000));
    fake.open_gate(&url("a"));
    assert_eq!(settle(&a), 0x140);
    wait_retries(&jb, 1);
    assert_eq!(b.state().unwrap(), GroupState::Running, "{:?}", jb.error_message().unwrap());
    expect_retry_after(&mgr, &fake, "b", MIN_RETRY);
    assert_eq!(settle(&b), 0x140);
}

#[test]
fn d5_progress_resets_the_no_progress_timer() {
    let (mgr, fake) = open();
    let clock = fake.clock();
    mgr.set_option("no_progress_timeout_ms", "1000").unwrap();
    // Every attempt delivers 100 bytes, then the connection drops. Each retry comes a full
    // timeout after the previous attempt, but right after new bytes: still transient.
    let mut script = Script::new(1000).chunk(100);
    for _ in 0..3 {
        script = script.fail(100, http(500));
    }
    let (g, j) = group_with(&mgr, &fake, vec![("a", script)]);
    g.resume().unwrap();
    for n in 1..=3 {
        wait_retries(&j, n);
        clock.advance(ms(1000));
    }
    assert_eq!(settle(&g), 0x140);
    assert_eq!(j.status().unwrap().num_of_retries, 3);
    let offsets: Vec<u64> = fake.requests_for(&url("a")).iter().map(|r| r.offset).collect();
    assert_eq!(offsets, vec![0, 100, 200, 300], "each retry resumes from the partial data");
    assert_eq!(gaps(&fake, "a"), [ms(1000), ms(1000), ms(1000)]);
    assert_eq!(fake.committed(&dest("a")).unwrap().len, 1000);
}

#[test]
fn d5_re_fetched_bytes_are_not_progress_for_the_no_progress_timeout() {
    let (mgr, fake) = open();
    let clock = fake.clock();
    mgr.set_option("no_progress_timeout_ms", "1000").unwrap();
    // A server that ignores ranges and always cuts the file at 100 bytes: each attempt
    // re-fetches the same 100 bytes, which is no progress.
    let mut script = Script::new(1000).chunk(100);
    script.ranges = false;
    for _ in 0..3 {
        script = script.fail(100, http(500));
    }
    let (g, j) = group_with(&mgr, &fake, vec![("a", script)]);
    g.resume().unwrap();
    wait_retries(&j, 1);
    clock.advance(ms(999));
    wait_retries(&j, 2);
    assert_eq!(g.state().unwrap(), GroupState::Running, "999 ms after the last new byte");
    clock.advance(ms(200));
    assert_eq!(settle(&g), 0x380, "the same bytes again are no progress");
    assert_eq!(j.status().unwrap().num_of_retries, 3);
}

#[test]
fn d4_d5_fatal_error_keeps_partial_data_and_resume_continues_from_it() {
    let (mgr, fake) = open();
    let (g, j) = group_with(&mgr, &fake, vec![("a", Script::new(1000).chunk(100).fail(300, http(501)))]);
    g.resume().unwrap();
    assert_eq!(settle(&g), 0x380);
    assert_eq!(j.progress64().unwrap(), (300, 1000));
    g.resume().unwrap();
    assert_eq!(settle(&g), 0x140);
    let r = fake.requests_for(&url("a"));
    assert_eq!(r[1].offset, 300);
    assert_eq!(r[1].validators.etag.as_deref(), Some("\"v1\""));
    assert_eq!(r[1].validators.total, Some(1000));
    assert_eq!(fake.committed(&dest("a")).unwrap().len, 1000);
}

#[test]
fn d5_changed_remote_file_restarts_that_file_only() {
    let (mgr, fake) = open();
    let (g, j) =
        group_with(&mgr, &fake, vec![("first", Script::new(50)), ("second", Script::new(1000).chunk(100).gated())]);
    fake.allow(&url("second"), 400);
    g.resume().unwrap();
    fake.wait_pos(&url("second"), 400);
    g.suspend().unwrap();
    fake.wait_idle(&url("second"));
    fake.edit(&url("second"), |s| {
        s.etag = Some("\"v2\"".into());
        s.size = 700;
        s.gated = false;
    });
    g.resume().unwrap();
    assert_eq!(settle(&g), 0x140);
    let r = fake.requests_for(&url("second"));
    assert_eq!(r[1].offset, 400, "the engine asks to continue");
    assert_eq!(fake.committed(&dest("second")).unwrap().len, 700, "the transport restarted from zero");
    assert_eq!(j.file_progress(1).unwrap(), (700, 700, true));
    assert_eq!(j.progress64().unwrap(), (750, 750));
    assert_eq!(fake.requests_for(&url("first")).len(), 1, "finished files are not fetched again");
}

#[test]
fn d11_retries_count_every_failed_attempt_and_are_never_reset() {
    let (mgr, fake) = open();
    let clock = fake.clock();
    let script = Script::new(10).fail(0, http(503)).fail(0, http(403)).fail(0, http(502));
    let (g, j) = group_with(&mgr, &fake, vec![("a", script)]);
    g.resume().unwrap();
    wait_retries(&j, 1);
    clock.advance(MIN_RETRY);
    assert_eq!(settle(&g), 0x380);
    let s = j.status().unwrap();
    assert_eq!((s.num_of_retries, s.transport_result), (2, 403));
    g.resume().unwrap();
    wait_retries(&j, 3);
    clock.advance(MIN_RETRY);
    assert_eq!(settle(&g), 0x140);
    assert_eq!(j.status().unwrap().num_of_retries, 3);
    g.suspend().unwrap();
    assert_eq!(j.status().unwrap().num_of_retries, 3);
}

#[test]
fn d5_d6_retry_delay_starts_at_the_stored_min_retry_delay_after_a_reopen() {
    let fake = Fake::new();
    let store = SharedStore::new();
    let mgr = open_on(Box::new(store.clone()), &fake);
    one_slot(&mgr);
    assert_eq!(mgr.get_option("min_retry_delay_ms").unwrap(), "100");
    let (g, j) = group_with(&mgr, &fake, vec![("a", Script::new(10).gated())]);
    g.resume().unwrap();
    fake.wait_requests(&url("a"), 1);
    drop((mgr, g, j));
    fake.edit(&url("a"), |s| {
        s.gated = false;
        s.failures.push_back((0, http(503)));
    });
    // The reopened queue continues the RUNNING group by itself; its first retry waits the
    // stored min_retry_delay_ms (100 ms), not the default 5 s.
    let mgr = open_plain(Box::new(store.clone()), &fake);
    assert_eq!(mgr.get_option("min_retry_delay_ms").unwrap(), "100");
    let g = mgr.enum_groups(0).unwrap().next().map(|id| mgr.get_group(id).unwrap()).unwrap();
    let j = g.get_job(g.enum_jobs(0).unwrap().next().unwrap()).unwrap();
    wait_retries(&j, 1);
    expect_retry_after(&mgr, &fake, "a", ms(100));
    assert_eq!(settle(&g), 0x140);
}

#[test]
fn d5_retry_delay_starts_at_the_min_retry_delay_in_force_when_the_group_first_fails() {
    let fake = Fake::new();
    let mgr = open_plain(Box::new(qmgr_core::store::MemStore::new()), &fake);
    one_slot(&mgr);
    // The group exists before the option is lowered from its default (5 s).
    let (g, j) = group_with(&mgr, &fake, vec![("a", Script::new(10).fail(0, http(503)))]);
    mgr.set_option("min_retry_delay_ms", "100").unwrap();
    g.resume().unwrap();
    wait_retries(&j, 1);
    expect_retry_after(&mgr, &fake, "a", ms(100));
    assert_eq!(settle(&g), 0x140);
}
