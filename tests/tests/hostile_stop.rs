//! Stopping transfers while the hostile server misbehaves, through the Rust API: suspend during
//! a trickle keeps the partial data and resumes it with `Range`, cancel during a stall removes
//! the temporary file, and a reopened queue continues a retrying group from its checkpoint and
//! stored validators (DECISIONS D3, D4, D6, D11).

#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use qmgr_rs::hresult::QM_E_INVALID_STATE;
use qmgr_rs::model::GroupState;
use qmgr_tests::hostile::{assert_downloaded, pattern, temp_path, HostileQueue, HostileServer, Resource, Step};
use qmgr_tests::wait_until;

fn file_len(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

#[test]
fn suspend_during_a_trickle_stops_writing_and_resume_continues_with_range() {
    let res = Resource::new(pattern(200_000, 1)).etag("\"t\"");
    let server = HostileServer::start();
    // 1 KB every 10 ms: about 20 s if nobody stops it.
    server.script("/f", vec![Step::serve(&res).trickle(1_000, Duration::from_millis(10)), Step::serve(&res)]);
    let q = HostileQueue::open(&[]);
    let (group, job) = q.start(&[(&server.url("/f"), "f.bin")]);
    let temp = temp_path(&q.path("f.bin"), &job, 0);
    assert!(wait_until(Duration::from_secs(10), || job.file_progress(0).unwrap().0 >= 20_000), "{}", server.describe());
    group.suspend().unwrap();
    let suspended = Instant::now();
    assert_eq!(group.wait(Some(Duration::ZERO)).unwrap(), (true, 0x180), "SUSPENDED at once");
    // D11: honoured within 100 ms; after that the temporary file no longer grows.
    std::thread::sleep(Duration::from_millis(150).saturating_sub(suspended.elapsed()));
    let held = file_len(&temp);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(file_len(&temp), held, "the temporary file grew after the suspend");
    assert_eq!(job.file_progress(0).unwrap().0, held, "progress = bytes held in the temporary file");
    assert!(held >= 20_000);

    group.resume().unwrap();
    assert_downloaded(&q, &group, &job, "f.bin", &res.body, &server);
    let reqs = server.requests_to("/f");
    assert_eq!(reqs.len(), 2, "{}", server.describe());
    assert_eq!(reqs[1].range_start(), Some(held), "resumes from exactly the bytes held");
    assert_eq!(reqs[1].header("if-range"), Some("\"t\""));
    assert_eq!(job.status().unwrap().num_of_retries, 0, "a suspend is not a failed attempt");
}

#[test]
fn cancel_during_a_stall_removes_the_temporary_file_within_a_second() {
    let res = Resource::new(pattern(300_000, 2));
    let server = HostileServer::start();
    server.script("/f", vec![Step::serve(&res).stall_after(100_000)]);
    let q = HostileQueue::open(&[]);
    let (group, job) = q.start(&[(&server.url("/f"), "f.bin")]);
    let temp = temp_path(&q.path("f.bin"), &job, 0);
    assert!(
        wait_until(Duration::from_secs(10), || job.file_progress(0).unwrap().0 == 100_000),
        "{}",
        server.describe()
    );
    assert!(temp.exists());
    let started = Instant::now();
    group.cancel().unwrap();
    // D7: no method blocks on the network (the read timeout here is 5 s).
    assert!(started.elapsed() < Duration::from_secs(1), "CancelGroup blocked on the stalled network");
    assert!(wait_until(Duration::from_secs(1), || !temp.exists()), "temporary file still there 1 s after the cancel");
    assert_eq!(group.state().unwrap_err().hr, QM_E_INVALID_STATE);
    assert_eq!(q.listing(), Vec::<String>::new(), "nothing left in the download directory");
}

#[test]
fn a_reopened_queue_continues_from_the_checkpoint_with_the_stored_validators() {
    let res = Resource::new(pattern(300_000, 3)).etag("W/\"weak\"").last_modified("Sun, 06 Nov 1994 08:49:37 GMT");
    let server = HostileServer::start();
    server.script("/f", vec![Step::serve(&res).close_after(100_000), Step::serve(&res)]);
    // A retry delay far longer than the test: only the reopen can start the next attempt.
    let q = HostileQueue::open(&[("min_retry_delay_ms", "600000")]);
    let (group, job) = q.start(&[(&server.url("/f"), "f.bin")]);
    let (group_id, job_id) = (group.id(), job.id());
    assert!(wait_until(Duration::from_secs(10), || job.status().unwrap().num_of_retries == 1), "{}", server.describe());
    drop((group, job));

    let reopened = Instant::now();
    let q = q.reopen();
    assert!(wait_until(Duration::from_secs(5), || server.hits("/f") == 2), "{}", server.describe());
    let restarted = server.requests_to("/f")[1].at.duration_since(reopened);
    assert!(restarted < Duration::from_secs(1), "D11: RUNNING groups start within 1 s of opening, took {restarted:?}");
    let group = q.manager.get_group(group_id).unwrap();
    let job = group.get_job(job_id).unwrap();
    assert_downloaded(&q, &group, &job, "f.bin", &res.body, &server);
    let reqs = server.requests_to("/f");
    assert_eq!(reqs.len(), 2, "{}", server.describe());
    assert_eq!(reqs[1].header("range"), Some("bytes=100000-"));
    assert_eq!(reqs[1].header("if-range"), Some("Sun, 06 Nov 1994 08:49:37 GMT"), "stored Last-Modified (weak ETag)");
    assert_eq!(job.status().unwrap().num_of_retries, 1, "persisted");
    assert_eq!(group.state().unwrap(), GroupState::Complete);
}

#[test]
fn a_restart_that_is_interrupted_again_resumes_the_new_version() {
    // v1 is cut; the retry gets v2 from zero (If-Range no longer matches), cut again; the
    // third attempt must resume v2 (validators recorded with the restart), not v1.
    let v1 = Resource::new(pattern(300_000, 4)).etag("\"v1\"");
    let v2 = Resource::new(pattern(300_000, 5)).etag("\"v2\"");
    let server = HostileServer::start();
    server.script(
        "/f",
        vec![Step::serve(&v1).close_after(100_000), Step::serve(&v2).close_after(50_000), Step::serve(&v2)],
    );
    let q = HostileQueue::open(&[]);
    let (group, job) = q.start(&[(&server.url("/f"), "f.bin")]);
    assert_downloaded(&q, &group, &job, "f.bin", &v2.body, &server);
    let reqs = server.requests_to("/f");
    assert_eq!(reqs.len(), 3, "{}", server.describe());
    assert_eq!((reqs[1].header("if-range"), reqs[1].status), (Some("\"v1\""), 200));
    assert_eq!((reqs[2].header("range"), reqs[2].header("if-range")), (Some("bytes=50000-"), Some("\"v2\"")));
    assert_eq!(reqs[2].status, 206);
}

#[test]
fn a_close_delimited_body_downloads() {
    let res = Resource::new(pattern(300_000, 6)).no_accept_ranges();
    let server = HostileServer::start();
    server.script("/f", vec![Step::serve(&res).close_delimited()]);
    let q = HostileQueue::open(&[]);
    let (group, job) = q.start(&[(&server.url("/f"), "f.bin")]);
    assert_downloaded(&q, &group, &job, "f.bin", &res.body, &server);
    assert_eq!(job.status().unwrap().num_of_retries, 0);
}

#[test]
fn a_reset_close_delimited_body_is_retried_not_committed() {
    // Issue #14 item 1, DECISIONS D15: no Content-Length, 1 MiB of 3 MiB, then RST. It was
    // committed as complete with what had been read; it must be a transient error.
    let res = Resource::new(pattern(3 << 20, 7));
    let server = HostileServer::start();
    server.script(
        "/f",
        vec![Step::serve(&res).close_delimited().reset_after(1 << 20), Step::serve(&res).close_delimited()],
    );
    let q = HostileQueue::open(&[]);
    let (group, job) = q.start(&[(&server.url("/f"), "f.bin")]);
    assert_downloaded(&q, &group, &job, "f.bin", &res.body, &server);
    assert_eq!(server.requests_to("/f").len(), 2, "{}", server.describe());
    assert_eq!(job.status().unwrap().num_of_retries, 1);
}
