//! DECISIONS D5 (transient and fatal errors, retry delay, Retry-After, no-progress timeout,
//! resume from partial data) and D11 (`dwNumOfRetries`, error results).

mod common;

use common::*;
use qmgr_core::hresult::win32;
use qmgr_core::model::{status, ErrorClass, GroupState};
use qmgr_core::transport::TransferError;
use std::time::{Duration, Instant};

fn gaps(fake: &Fake, name: &str) -> Vec<Duration> {
    let r = fake.requests_for(&url(name));
    r.windows(2).map(|w| w[1].at - w[0].at).collect()
}

#[test]
fn d5_transient_error_is_retried_after_the_retry_delay_without_error_bit_and_counts_a_retry() {
    let (mgr, fake) = open();
    mgr.set_option("min_retry_delay_ms", "200").unwrap();
    let (g, j) = group_with(&mgr, &fake, vec![("a", Script::new(100).gated().fail(0, transient(503)))]);
    g.resume().unwrap();
    wait_until("the failed attempt is counted", || j.status().unwrap().num_of_retries == 1);
    assert_eq!(g.state().unwrap(), GroupState::Running, "transient: still RUNNING");
    assert_eq!(g.status().unwrap().0, 0x080, "transient errors never set an ERROR bit");
    let s = j.status().unwrap();
    assert_eq!(s.status, status::JOB_INCOMPLETE);
    assert_eq!((s.win32_result, s.transport_result), (0x8019_01F7, 503));
    fake.wait_requests(&url("a"), 2);
    assert!(gaps(&fake, "a")[0] >= Duration::from_millis(200), "retried after {:?}", gaps(&fake, "a")[0]);
    fake.open_gate(&url("a"));
    assert_eq!(settle(&g), 0x140);
    let s = j.status().unwrap();
    assert_eq!(s.num_of_retries, 1, "never reset (D11)");
    assert_eq!(s.status, status::JOB_COMPLETE);
}

#[test]
fn d5_retry_delay_starts_at_min_retry_delay_and_doubles() {
    let (mgr, fake) = open();
    let script = Script::new(10).fail(0, transient(500)).fail(0, transient(502)).fail(0, transient(504));
    let (g, j) = group_with(&mgr, &fake, vec![("a", script)]);
    g.resume().unwrap();
    assert_eq!(settle(&g), 0x140);
    let d = gaps(&fake, "a");
    assert_eq!(d.len(), 3);
    for (i, min) in [100u64, 200, 400].into_iter().enumerate() {
        assert!(d[i] >= Duration::from_millis(min), "delay {i} is {:?}, expected at least {min} ms", d[i]);
    }
    assert_eq!(j.status().unwrap().num_of_retries, 3, "each failed attempt counts one retry");
}

#[test]
fn d5_retry_after_is_honoured_when_larger_than_the_retry_delay() {
    let (mgr, fake) = open();
    let mut long = transient(503);
    long.retry_after = Some(Duration::from_millis(600));
    let mut short = transient(429);
    short.retry_after = Some(Duration::from_millis(1));
    let (g, _j) = group_with(&mgr, &fake, vec![("a", Script::new(10).fail(0, long).fail(0, short))]);
    g.resume().unwrap();
    assert_eq!(settle(&g), 0x140);
    let d = gaps(&fake, "a");
    assert!(d[0] >= Duration::from_millis(600), "Retry-After 600 ms honoured: {:?}", d[0]);
    assert!(d[1] >= Duration::from_millis(100), "a shorter Retry-After does not shorten the delay: {:?}", d[1]);
}

#[test]
fn d5_fatal_http_error_stops_the_group_in_error_with_the_http_status() {
    let (mgr, fake) = open();
    let (g, j) = group_with(&mgr, &fake, vec![("a", Script::new(10).fail(0, fatal(404)))]);
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
fn d5_fatal_local_error_reports_its_win32_code_and_no_transport_result() {
    let (mgr, fake) = open();
    let e = TransferError::win32(ErrorClass::Fatal, win32::ERROR_DISK_FULL, "disk full");
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
    let e = TransferError::win32(ErrorClass::Fatal, win32::ERROR_ACCESS_DENIED, "rename refused");
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
    let (g, j) = group_with(&mgr, &fake, vec![("a", Script::new(10).fail(0, transient(503)))]);
    g.resume().unwrap();
    assert_eq!(settle(&g), 0x380);
    let s = j.status().unwrap();
    assert_eq!((s.status, s.win32_result, s.transport_result, s.num_of_retries), (0x018, 0x8019_01F7, 503, 1));
    assert_eq!(fake.requests().len(), 1);
}

#[test]
fn d5_transient_errors_without_progress_for_the_no_progress_timeout_become_fatal() {
    let (mgr, fake) = open();
    mgr.set_option("no_progress_timeout_ms", "350").unwrap();
    let mut script = Script::new(10);
    for _ in 0..10 {
        script = script.fail(0, transient(503));
    }
    let (g, j) = group_with(&mgr, &fake, vec![("a", script)]);
    let t0 = Instant::now();
    g.resume().unwrap();
    assert_eq!(settle(&g), 0x380);
    assert!(t0.elapsed() >= Duration::from_millis(350), "fatal only after the timeout: {:?}", t0.elapsed());
    let s = j.status().unwrap();
    assert!(s.num_of_retries >= 2, "retried before the timeout ({} attempts)", s.num_of_retries);
    assert_eq!(s.transport_result, 503);
    assert_eq!(s.num_of_retries as usize, fake.requests().len());
}

#[test]
fn d5_progress_resets_the_no_progress_timer() {
    let (mgr, fake) = open();
    mgr.set_option("no_progress_timeout_ms", "250").unwrap();
    // Every attempt delivers 100 bytes, then the connection drops; attempts start at about
    // 0, 100 and 300 ms: the third fails after the timeout but right after progress.
    let mut script = Script::new(1000).chunk(100);
    for _ in 0..3 {
        script = script.fail(100, transient(500));
    }
    let (g, j) = group_with(&mgr, &fake, vec![("a", script)]);
    g.resume().unwrap();
    assert_eq!(settle(&g), 0x140);
    assert_eq!(j.status().unwrap().num_of_retries, 3);
    let offsets: Vec<u64> = fake.requests_for(&url("a")).iter().map(|r| r.offset).collect();
    assert_eq!(offsets, vec![0, 100, 200, 300], "each retry resumes from the partial data");
    assert_eq!(fake.committed(&dest("a")).unwrap().len, 1000);
}

#[test]
fn d4_d5_fatal_error_keeps_partial_data_and_resume_continues_from_it() {
    let (mgr, fake) = open();
    let (g, j) = group_with(&mgr, &fake, vec![("a", Script::new(1000).chunk(100).fail(300, fatal(500)))]);
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
    let script = Script::new(10).fail(0, transient(503)).fail(0, fatal(403)).fail(0, transient(502));
    let (g, j) = group_with(&mgr, &fake, vec![("a", script)]);
    g.resume().unwrap();
    assert_eq!(settle(&g), 0x380);
    let s = j.status().unwrap();
    assert_eq!((s.num_of_retries, s.transport_result), (2, 403));
    g.resume().unwrap();
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
    assert_eq!(mgr.get_option("min_retry_delay_ms").unwrap(), "100");
    let (g, j) = group_with(&mgr, &fake, vec![("a", Script::new(10).gated())]);
    g.resume().unwrap();
    fake.wait_requests(&url("a"), 1);
    drop((mgr, g, j));
    fake.edit(&url("a"), |s| {
        s.gated = false;
        s.failures.push_back((0, transient(503)));
    });
    // The reopened queue continues the RUNNING group by itself; its first retry waits the
    // stored min_retry_delay_ms (100 ms), not the default 5 s.
    let mgr = qmgr_core::Manager::open(std::path::Path::new(""), Box::new(store.clone()), fake.clone()).unwrap();
    assert_eq!(mgr.get_option("min_retry_delay_ms").unwrap(), "100");
    let g = mgr.enum_groups(0).unwrap().next().map(|id| mgr.get_group(id).unwrap()).unwrap();
    assert_eq!(settle(&g), 0x140);
    let d = gaps(&fake, "a");
    assert!(d[1] >= Duration::from_millis(100) && d[1] < Duration::from_secs(2), "retried after {:?}", d[1]);
}

#[test]
fn d5_retry_delay_starts_at_the_min_retry_delay_in_force_when_the_group_first_fails() {
    let fake = Fake::new();
    let mgr =
        qmgr_core::Manager::open(std::path::Path::new(""), Box::new(qmgr_core::store::MemStore::new()), fake.clone())
            .unwrap();
    // The group exists before the option is lowered from its default (5 s).
    let (g, _j) = group_with(&mgr, &fake, vec![("a", Script::new(10).fail(0, transient(503)))]);
    mgr.set_option("min_retry_delay_ms", "100").unwrap();
    g.resume().unwrap();
    assert_eq!(settle(&g), 0x140);
    let d = gaps(&fake, "a");
    assert!(d[0] >= Duration::from_millis(100) && d[0] < Duration::from_secs(2), "retried after {:?}", d[0]);
}
