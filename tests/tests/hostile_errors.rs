//! Failures against the hostile server, through the Rust API: transient versus fatal, the job's
//! `dwWin32Result` / `dwTransportResult` / `dwNumOfRetries` / error message, retry delays and
//! `Retry-After`, the no-progress timeout, stalls cut by `read_timeout_ms`, and `OnStatus`
//! (DECISIONS D3, D5, D7, D11).

#![forbid(unsafe_code)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use qmgr_rs::hresult::{win32, HResult, S_OK};
use qmgr_rs::model::{status, GroupState};
use qmgr_rs::{Callback, Group, Job, JobStatus};
use qmgr_tests::hostile::{
    assert_downloaded, bg_e_http, closed_port, pattern, wait_settled, HostileQueue, HostileServer, MuteListener,
    Resource, Step,
};
use qmgr_tests::wait_until;

const SETTLE: Duration = Duration::from_secs(30);

/// One `OnStatus` call: (job id, file index, status word, retries, win32, transport).
type StatusCall = (Option<qmgr_rs::Guid>, u32, u32, u32, u32, u32);

/// Records `OnStatus` calls.
#[derive(Default)]
struct Statuses(Mutex<Vec<StatusCall>>);

impl Callback for Statuses {
    fn on_status(
        &self,
        _group: &Group,
        job: Option<&Job>,
        file_index: u32,
        status: u32,
        num_of_retries: u32,
        win32_result: u32,
        transport_result: u32,
    ) -> HResult {
        let entry = (job.map(Job::id), file_index, status, num_of_retries, win32_result, transport_result);
        self.0.lock().unwrap().push(entry);
        S_OK
    }
}

/// Waits until the job has recorded `n` failed attempts; returns its status then.
fn wait_retries(job: &Job, n: u32, server: &HostileServer) -> JobStatus {
    let mut st = job.status().unwrap();
    let ok = wait_until(Duration::from_secs(20), || {
        st = job.status().unwrap();
        st.num_of_retries >= n
    });
    assert!(ok, "{n} failed attempts not reached ({st:?})\n{}", server.describe());
    st
}

/// Gaps between consecutive requests to `path`.
fn gaps(server: &HostileServer, path: &str) -> Vec<Duration> {
    let reqs = server.requests_to(path);
    reqs.windows(2).map(|w| w[1].at.duration_since(w[0].at)).collect()
}

#[test]
fn fatal_statuses_stop_the_group_in_error_with_the_http_error() {
    let codes = [400u16, 401, 403, 404, 405, 410, 416, 451, 501, 505];
    let server = HostileServer::start();
    let q = HostileQueue::open(&[]);
    let mut groups = Vec::new();
    for code in codes {
        let path = format!("/s/{code}");
        server.script(&path, vec![Step::status(code).body(format!("error page {code}\n")).retry_after("0")]);
        let name = format!("f{code}.bin");
        let (group, job) = q.start(&[(&server.url(&path), &name)]);
        groups.push((code, path, name, group, job));
    }
    for (code, path, name, group, job) in groups {
        let (state, word) = wait_settled(&group, SETTLE, || server.describe());
        assert_eq!((state, word), (GroupState::Error, 0x380), "{code}");
        let st = job.status().unwrap();
        assert_eq!(st.status, status::JOB_INCOMPLETE | status::JOB_ERROR, "{code}");
        assert_eq!((st.win32_result, st.transport_result, st.num_of_retries), (bg_e_http(code), code as u32, 1));
        let message = job.error_message().unwrap().expect("error message");
        assert!(message.contains(&format!("HTTP {code}")) && message.contains(&path), "{code}: {message}");
        assert_eq!(server.hits(&path), 1, "{code}: a fatal error is not retried");
        assert!(!q.path(&name).exists(), "{code}: the error page must not become the file");
    }
}

#[test]
fn transient_statuses_are_retried_without_error_notification() {
    let codes = [408u16, 425, 429, 500, 502, 503, 504];
    let server = HostileServer::start();
    let q = HostileQueue::open(&[]);
    let mut groups = Vec::new();
    for (i, code) in codes.into_iter().enumerate() {
        let res = Resource::new(pattern(50_000, 100 + i as u64)).etag("\"e\"");
        let path = format!("/t/{code}");
        server.script(&path, vec![Step::status(code).body(format!("busy {code}\n")), Step::serve(&res)]);
        let name = format!("f{code}.bin");
        let (group, job) = q.group(&[(&server.url(&path), &name)]);
        let statuses = Arc::new(Statuses::default());
        group.set_callback(Some(statuses.clone())).unwrap();
        group.resume().unwrap();
        groups.push((code, path, name, res, group, job, statuses));
    }
    for (code, path, name, res, group, job, statuses) in groups {
        assert_downloaded(&q, &group, &job, &name, &res.body, &server);
        let st = job.status().unwrap();
        assert_eq!((st.num_of_retries, st.win32_result, st.transport_result), (1, 0, 0), "{code}");
        assert_eq!(server.hits(&path), 2, "{code}");
        assert!(statuses.0.lock().unwrap().is_empty(), "{code}: no OnStatus for a transient error");
    }
}

#[test]
fn a_transient_error_is_reported_while_waiting_and_retry_after_seconds_is_honoured() {
    let res = Resource::new(pattern(50_000, 1)).etag("\"e\"");
    let server = HostileServer::start();
    server.script("/f", vec![Step::status(503).body("come back later\n").retry_after("2"), Step::serve(&res)]);
    let q = HostileQueue::open(&[]);
    let (group, job) = q.start(&[(&server.url("/f"), "f.bin")]);
    let st = wait_retries(&job, 1, &server);
    assert_eq!(group.state().unwrap(), GroupState::Running);
    assert_eq!(group.status().unwrap().0, 0x080, "no ERROR bit for a transient error");
    assert_eq!(st.status, status::JOB_INCOMPLETE, "{st:?}");
    assert_eq!((st.win32_result, st.transport_result), (bg_e_http(503), 503), "{st:?}");
    let message = job.error_message().unwrap().expect("transient error message");
    assert!(message.contains("HTTP 503"), "{message}");
    assert_downloaded(&q, &group, &job, "f.bin", &res.body, &server);
    let gap = gaps(&server, "/f")[0];
    assert!(gap >= Duration::from_secs(2), "Retry-After: 2 honoured, next request after {gap:?}");
    assert!(gap < Duration::from_secs(6), "retried after {gap:?}");
    let st = job.status().unwrap();
    assert_eq!((st.num_of_retries, st.win32_result, st.transport_result), (1, 0, 0), "retries are never reset");
}

#[test]
fn retry_after_as_an_http_date_is_honoured() {
    let res = Resource::new(pattern(50_000, 2));
    let server = HostileServer::start();
    let until = SystemTime::now() + Duration::from_secs(3);
    let date = httpdate::fmt_http_date(until);
    let not_before = httpdate::parse_http_date(&date).unwrap();
    let second_at = Arc::new(Mutex::new(None));
    let seen = second_at.clone();
    server.route("/f", move |_, n| {
        if n == 0 {
            Step::status(429).retry_after(date.clone())
        } else {
            seen.lock().unwrap().get_or_insert(SystemTime::now());
            Step::serve(&res)
        }
    });
    let q = HostileQueue::open(&[]);
    let (group, job) = q.start(&[(&server.url("/f"), "f.bin")]);
    wait_settled(&group, SETTLE, || server.describe());
    let at = second_at.lock().unwrap().expect("a second request");
    assert!(at >= not_before, "retried {:?} before the Retry-After date", not_before.duration_since(at).unwrap());
    assert_eq!(job.status().unwrap().num_of_retries, 1);
}

#[test]
fn retry_delays_start_at_min_retry_delay_and_double() {
    let res = Resource::new(pattern(50_000, 3));
    let server = HostileServer::start();
    server.script("/f", vec![Step::status(500), Step::status(502), Step::status(504), Step::serve(&res)]);
    let q = HostileQueue::open(&[("min_retry_delay_ms", "200")]);
    let (group, job) = q.start(&[(&server.url("/f"), "f.bin")]);
    assert_downloaded(&q, &group, &job, "f.bin", &res.body, &server);
    let gaps = gaps(&server, "/f");
    assert_eq!(gaps.len(), 3, "{}", server.describe());
    for (gap, want) in gaps.iter().zip([200u64, 400, 800]) {
        assert!(*gap >= Duration::from_millis(want), "gaps {gaps:?}, expected at least 200/400/800 ms");
        assert!(*gap < Duration::from_millis(want + 2000), "gaps {gaps:?}");
    }
    assert_eq!(job.status().unwrap().num_of_retries, 3);
}

#[test]
fn the_no_progress_timeout_turns_transient_errors_fatal() {
    let server = HostileServer::start();
    server.script("/f", vec![Step::status(503).body("down\n")]);
    let q = HostileQueue::open(&[("no_progress_timeout_ms", "1000")]);
    let started = Instant::now();
    let (group, job) = q.start(&[(&server.url("/f"), "f.bin")]);
    let (state, word) = wait_settled(&group, SETTLE, || server.describe());
    let took = started.elapsed();
    assert_eq!((state, word), (GroupState::Error, 0x380));
    assert!(took >= Duration::from_secs(1), "fatal after {took:?}, before the no-progress timeout");
    let st = job.status().unwrap();
    assert_eq!((st.win32_result, st.transport_result), (bg_e_http(503), 503), "{st:?}");
    assert!(st.num_of_retries >= 2, "{st:?}");
    assert_eq!(st.num_of_retries as usize, server.hits("/f"), "one retry counted per failed attempt");
    assert_eq!(st.status, status::JOB_INCOMPLETE | status::JOB_ERROR);
    let message = job.error_message().unwrap().unwrap();
    assert!(message.contains("no progress"), "{message}");
}

#[test]
fn a_zero_no_progress_timeout_makes_the_first_error_fatal() {
    let server = HostileServer::start();
    server.script("/f", vec![Step::status(503)]);
    let q = HostileQueue::open(&[("no_progress_timeout_ms", "0")]);
    let (group, job) = q.start(&[(&server.url("/f"), "f.bin")]);
    let (state, _) = wait_settled(&group, SETTLE, || server.describe());
    assert_eq!(state, GroupState::Error);
    let st = job.status().unwrap();
    assert_eq!((st.win32_result, st.transport_result, st.num_of_retries), (bg_e_http(503), 503, 1));
    assert_eq!(server.hits("/f"), 1);
}

#[test]
fn progress_between_failures_keeps_a_transfer_alive() {
    // Every attempt brings bytes, then the connection drops. Waits before attempts 3 and 4
    // (600, 1200 ms) exceed the no-progress timeout (500 ms), so only progress keeps the
    // errors transient.
    let res = Resource::new(pattern(400_000, 4)).etag("\"p\"");
    let server = HostileServer::start();
    let cut = || Step::serve(&res).close_after(50_000);
    server.script("/f", vec![cut(), cut(), cut(), Step::serve(&res)]);
    let q = HostileQueue::open(&[("no_progress_timeout_ms", "500"), ("min_retry_delay_ms", "300")]);
    let (group, job) = q.start(&[(&server.url("/f"), "f.bin")]);
    assert_downloaded(&q, &group, &job, "f.bin", &res.body, &server);
    assert_eq!(job.status().unwrap().num_of_retries, 3);
    let starts: Vec<Option<u64>> = server.requests_to("/f").iter().map(|r| r.range_start()).collect();
    assert_eq!(starts, [None, Some(50_000), Some(100_000), Some(150_000)], "{}", server.describe());
}

#[test]
fn refetching_the_same_bytes_is_not_progress() {
    // The server ignores Range and always cuts the file at the same point: every attempt
    // fetches the first 50,000 bytes again. That is no progress, so the no-progress timeout
    // turns the transient errors fatal (DECISIONS D5).
    let res = Resource::new(pattern(300_000, 6));
    let server = HostileServer::start();
    server.script("/f", vec![Step::serve(&res).ignore_range().close_after(50_000)]);
    let q = HostileQueue::open(&[("no_progress_timeout_ms", "500"), ("min_retry_delay_ms", "100")]);
    let (group, job) = q.start(&[(&server.url("/f"), "f.bin")]);
    let (state, word) = wait_settled(&group, SETTLE, || server.describe());
    assert_eq!((state, word), (GroupState::Error, 0x380), "{}", server.describe());
    let message = job.error_message().unwrap().unwrap();
    assert!(message.contains("no progress"), "{message}");
    assert!(server.hits("/f") >= 2, "it retried before giving up: {}", server.describe());
}

#[test]
fn a_refused_connection_is_transient_12029() {
    let q = HostileQueue::open(&[]);
    let url = format!("http://127.0.0.1:{}/f", closed_port());
    let (group, job) = q.start(&[(&url, "f.bin")]);
    let mut st = job.status().unwrap();
    assert!(wait_until(SETTLE, || {
        st = job.status().unwrap();
        st.num_of_retries >= 2
    }));
    assert_eq!(group.state().unwrap(), GroupState::Running, "still retrying");
    assert_eq!(group.status().unwrap().0, 0x080);
    assert_eq!(st.status, status::JOB_INCOMPLETE);
    assert_eq!((st.win32_result, st.transport_result), (win32::ERROR_WINHTTP_CANNOT_CONNECT, 0));
    group.cancel().unwrap();
}

#[test]
fn a_hang_up_before_the_answer_is_transient() {
    let res = Resource::new(pattern(50_000, 5));
    let server = HostileServer::start();
    server.script("/f", vec![Step::status(200).hang_up(), Step::serve(&res)]);
    let q = HostileQueue::open(&[("min_retry_delay_ms", "1000")]);
    let (group, job) = q.start(&[(&server.url("/f"), "f.bin")]);
    let st = wait_retries(&job, 1, &server);
    assert_eq!(group.status().unwrap().0, 0x080);
    assert!(
        [win32::ERROR_WINHTTP_CONNECTION_ERROR, win32::ERROR_WINHTTP_INVALID_SERVER_RESPONSE]
            .contains(&st.win32_result),
        "{st:?}: {:?}",
        job.error_message()
    );
    assert_eq!(st.transport_result, 0);
    assert_downloaded(&q, &group, &job, "f.bin", &res.body, &server);
}

#[test]
fn a_stall_before_the_answer_is_cut_by_the_read_timeout() {
    let res = Resource::new(pattern(50_000, 6));
    let server = HostileServer::start();
    server.script("/f", vec![Step::serve(&res).stall_before_head(), Step::serve(&res)]);
    let q = HostileQueue::open(&[("read_timeout_ms", "300"), ("min_retry_delay_ms", "1000")]);
    let started = Instant::now();
    let (group, job) = q.start(&[(&server.url("/f"), "f.bin")]);
    let st = wait_retries(&job, 1, &server);
    assert_eq!(group.status().unwrap().0, 0x080);
    assert_eq!((st.win32_result, st.transport_result), (win32::ERROR_WINHTTP_TIMEOUT, 0), "{:?}", job.error_message());
    assert_downloaded(&q, &group, &job, "f.bin", &res.body, &server);
    // From the client's side: the request went out after `started`, so the retry cannot
    // arrive before read timeout + retry delay (the server may log the first request late).
    let retry = server.requests_to("/f")[1].at.duration_since(started);
    assert!(retry >= Duration::from_millis(1300), "read timeout + retry delay, got {retry:?}");
    assert!(retry < Duration::from_secs(5), "the stall was cut late: {retry:?}");
}

#[test]
fn a_stall_in_the_body_is_cut_by_the_read_timeout_and_resumes() {
    let res = Resource::new(pattern(300_000, 7)).etag("\"s\"");
    let server = HostileServer::start();
    server.script("/f", vec![Step::serve(&res).stall_after(100_000), Step::serve(&res)]);
    let q = HostileQueue::open(&[("read_timeout_ms", "300"), ("min_retry_delay_ms", "1000")]);
    let started = Instant::now();
    let (group, job) = q.start(&[(&server.url("/f"), "f.bin")]);
    let st = wait_retries(&job, 1, &server);
    let cut_after = started.elapsed();
    assert_eq!((st.win32_result, st.transport_result), (win32::ERROR_WINHTTP_TIMEOUT, 0), "{:?}", job.error_message());
    assert!(cut_after < Duration::from_secs(5), "the stall was cut after {cut_after:?}");
    assert_downloaded(&q, &group, &job, "f.bin", &res.body, &server);
    let reqs = server.requests_to("/f");
    assert_eq!(reqs.len(), 2, "{}", server.describe());
    assert_eq!(reqs[1].header("range"), Some("bytes=100000-"));
}

#[test]
fn a_slow_but_moving_server_never_times_out() {
    // 40 KB in 2 KB pieces every 50 ms (about 1 s) with a 300 ms read timeout.
    let res = Resource::new(pattern(40_000, 8));
    let server = HostileServer::start();
    server.script("/f", vec![Step::serve(&res).trickle(2_000, Duration::from_millis(50))]);
    let q = HostileQueue::open(&[("read_timeout_ms", "300")]);
    let (group, job) = q.start(&[(&server.url("/f"), "f.bin")]);
    assert_downloaded(&q, &group, &job, "f.bin", &res.body, &server);
    assert_eq!((server.hits("/f"), job.status().unwrap().num_of_retries), (1, 0));
}

#[test]
fn a_fatal_error_calls_on_status_and_resume_clears_it() {
    let good = Resource::new(pattern(20_000, 9));
    let fixed = Resource::new(pattern(30_000, 10));
    let server = HostileServer::start();
    server.script("/ok", vec![Step::serve(&good)]);
    server.script("/missing", vec![Step::status(404).body("not here\n"), Step::serve(&fixed)]);
    let q = HostileQueue::open(&[]);
    let (group, job) = q.group(&[(&server.url("/ok"), "ok.bin"), (&server.url("/missing"), "missing.bin")]);
    let statuses = Arc::new(Statuses::default());
    group.set_callback(Some(statuses.clone())).unwrap();
    group.resume().unwrap();
    let (state, word) = wait_settled(&group, SETTLE, || server.describe());
    assert_eq!((state, word), (GroupState::Error, 0x380));
    assert!(wait_until(Duration::from_secs(10), || !statuses.0.lock().unwrap().is_empty()), "no OnStatus");
    let calls = statuses.0.lock().unwrap().clone();
    assert_eq!(calls, [(Some(job.id()), 1, 0x380, 1, bg_e_http(404), 404)], "OnStatus(job, file 1, …)");
    assert_eq!(std::fs::read(q.path("ok.bin")).unwrap(), *good.body, "the finished file stays committed");

    group.resume().unwrap();
    let st = job.status().unwrap();
    assert_eq!((st.win32_result, st.transport_result), (0, 0), "ResumeGroup clears the error");
    assert_downloaded(&q, &group, &job, "missing.bin", &fixed.body, &server);
    assert_eq!(job.status().unwrap().num_of_retries, 1, "never reset");
    assert_eq!(server.hits("/ok"), 1);
}

#[test]
fn a_tls_handshake_that_never_happens_is_cut_by_the_connect_timeout() {
    let mute = MuteListener::start();
    let q = HostileQueue::open(&[("connect_timeout_ms", "300"), ("read_timeout_ms", "300")]);
    let started = Instant::now();
    let (group, job) = q.start(&[(&mute.url("https", "/f"), "f.bin")]);
    let mut st = job.status().unwrap();
    assert!(wait_until(Duration::from_secs(20), || {
        st = job.status().unwrap();
        st.num_of_retries >= 1
    }));
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "the stalled handshake was cut after {took:?}");
    assert!(mute.accepted() >= 1);
    assert_eq!(group.state().unwrap(), GroupState::Running, "transient: {:?}", job.error_message());
    assert_eq!((st.win32_result, st.transport_result), (win32::ERROR_WINHTTP_TIMEOUT, 0), "{:?}", job.error_message());
    group.cancel().unwrap();
}
