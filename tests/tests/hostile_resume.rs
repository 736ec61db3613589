//! Interrupted transfers against the hostile server, through the Rust API: resume with `Range`
//! and `If-Range`, restart from zero exactly when the server's answers or validators say so,
//! never append foreign bytes (DECISIONS D4, D5, D11).

#![forbid(unsafe_code)]

use std::time::Duration;

use qmgr_rs::hresult::win32;
use qmgr_rs::model::status;
use qmgr_tests::hostile::{
    assert_downloaded, ca_file, pattern, wait_settled, HostileQueue, HostileServer, Resource, Step,
};
use qmgr_tests::wait_until;

const LEN: usize = 300_000;
const CUT: usize = 100_000;
const LM1: &str = "Tue, 15 Nov 1994 08:12:31 GMT";
const LM2: &str = "Wed, 16 Nov 1994 09:00:00 GMT";

/// Sum of the body bytes the server sent for `path`.
fn served(server: &HostileServer, path: &str) -> u64 {
    server.requests_to(path).iter().map(|r| r.body_sent).sum()
}

#[test]
fn a_connection_closed_mid_body_is_transient_and_resumes_with_the_strong_etag() {
    let res = Resource::new(pattern(LEN, 1)).etag("\"v1/odd-but:valid\"").last_modified(LM1);
    let server = HostileServer::start();
    server.script("/f", vec![Step::serve(&res).close_after(CUT), Step::serve(&res)]);
    // A long retry delay leaves time to look at the transient state.
    let q = HostileQueue::open(&[("min_retry_delay_ms", "1500")]);
    let (group, job) = q.start(&[(&server.url("/f"), "f.bin")]);

    assert!(
        wait_until(Duration::from_secs(10), || job.status().unwrap().num_of_retries == 1),
        "no failed attempt recorded\n{}",
        server.describe()
    );
    let st = job.status().unwrap();
    assert_eq!(group.status().unwrap().0, 0x080, "transient: RUNNING, no ERROR bit");
    assert_eq!(st.status & (status::JOB_ERROR | status::JOB_COMPLETE), 0, "{st:?}");
    assert_eq!((st.win32_result, st.transport_result), (win32::ERROR_WINHTTP_CONNECTION_ERROR, 0), "{st:?}");
    let message = job.error_message().unwrap().expect("a transient error has a message");
    assert!(message.contains("/f"), "message names the URL: {message}");
    assert_eq!(job.file_progress(0).unwrap().0, CUT as u64, "progress keeps the bytes received");

    assert_downloaded(&q, &group, &job, "f.bin", &res.body, &server);
    let reqs = server.requests_to("/f");
    assert_eq!(reqs.len(), 2, "{}", server.describe());
    assert_eq!((reqs[0].header("range"), reqs[0].header("if-range")), (None, None));
    assert_eq!(reqs[1].header("range"), Some("bytes=100000-"), "{}", server.describe());
    assert_eq!(reqs[1].header("if-range"), Some("\"v1/odd-but:valid\""), "the strong ETag exactly as received");
    assert_eq!(reqs[1].status, 206);
    assert_eq!(served(&server, "/f"), LEN as u64, "no byte fetched twice");
    let st = job.status().unwrap();
    assert_eq!((st.num_of_retries, st.win32_result, st.transport_result), (1, 0, 0), "{st:?}");
    // D4: the modification time comes from Last-Modified.
    let mtime = std::fs::metadata(q.path("f.bin")).unwrap().modified().unwrap();
    assert_eq!(mtime, httpdate::parse_http_date(LM1).unwrap());
}

#[test]
fn a_reset_connection_is_transient_and_resumes() {
    let res = Resource::new(pattern(LEN, 2)).etag("\"r\"");
    let server = HostileServer::start();
    server.script("/f", vec![Step::serve(&res).reset_after(CUT), Step::serve(&res)]);
    let q = HostileQueue::open(&[]);
    let (group, job) = q.start(&[(&server.url("/f"), "f.bin")]);
    assert_downloaded(&q, &group, &job, "f.bin", &res.body, &server);
    let reqs = server.requests_to("/f");
    assert_eq!(reqs.len(), 2, "{}", server.describe());
    // A reset may discard data the client had not read yet: resume from what it held.
    let start = reqs[1].range_start().unwrap_or(0);
    assert!(start <= CUT as u64, "{}", server.describe());
    if start > 0 {
        assert_eq!(reqs[1].header("if-range"), Some("\"r\""));
    }
    assert_eq!(job.status().unwrap().num_of_retries, 1);
}

#[test]
fn a_200_answer_to_a_range_restarts_from_zero() {
    let res = Resource::new(pattern(LEN, 3)).etag("\"x\"");
    let server = HostileServer::start();
    server.script("/f", vec![Step::serve(&res).close_after(CUT), Step::serve(&res).ignore_range()]);
    let q = HostileQueue::open(&[]);
    let (group, job) = q.start(&[(&server.url("/f"), "f.bin")]);
    assert_downloaded(&q, &group, &job, "f.bin", &res.body, &server);
    let reqs = server.requests_to("/f");
    assert_eq!(reqs.len(), 2, "{}", server.describe());
    assert_eq!((reqs[1].header("range"), reqs[1].status), (Some("bytes=100000-"), 200));
}

#[test]
fn a_206_at_the_wrong_offset_restarts_from_zero_never_appends() {
    for (name, shift) in [("early", -(CUT as i64)), ("late", 1000)] {
        let res = Resource::new(pattern(LEN, 4)).etag("\"x\"");
        let server = HostileServer::start();
        server.script(
            "/f",
            vec![Step::serve(&res).close_after(CUT), Step::serve(&res).shift_range(shift), Step::serve(&res)],
        );
        let q = HostileQueue::open(&[]);
        let (group, job) = q.start(&[(&server.url("/f"), "f.bin")]);
        assert_downloaded(&q, &group, &job, "f.bin", &res.body, &server);
        let reqs = server.requests_to("/f");
        assert_eq!(reqs.len(), 3, "{name}:\n{}", server.describe());
        assert_eq!((reqs[1].header("range"), reqs[1].status), (Some("bytes=100000-"), 206), "{name}");
        assert_eq!(reqs[2].header("range"), None, "{name}: restart from zero:\n{}", server.describe());
    }
}

#[test]
fn a_changed_etag_restarts_from_zero_with_the_new_version() {
    // An honest server: If-Range no longer matches, so it answers 200 with the new version.
    let v1 = Resource::new(pattern(LEN, 5)).etag("\"v1\"");
    let v2 = Resource::new(pattern(LEN, 6)).etag("\"v2\"");
    let server = HostileServer::start();
    server.script("/f", vec![Step::serve(&v1).close_after(CUT), Step::serve(&v2)]);
    let q = HostileQueue::open(&[]);
    let (group, job) = q.start(&[(&server.url("/f"), "f.bin")]);
    assert_downloaded(&q, &group, &job, "f.bin", &v2.body, &server);
    let reqs = server.requests_to("/f");
    assert_eq!(reqs.len(), 2, "{}", server.describe());
    assert_eq!((reqs[1].header("if-range"), reqs[1].status), (Some("\"v1\""), 200));
}

#[test]
fn a_206_of_another_version_is_detected_by_its_validators() {
    // Broken servers that honour Range whatever If-Range says: the 206 carries bytes of a new
    // version. The client must compare the answer's validators itself (D11) and restart.
    let cases = [
        ("etag", Resource::new(pattern(LEN, 7)).etag("\"v1\""), Resource::new(pattern(LEN, 8)).etag("\"v2\"")),
        (
            "last-modified",
            Resource::new(pattern(LEN, 9)).last_modified(LM1),
            Resource::new(pattern(LEN, 10)).last_modified(LM2),
        ),
        ("size", Resource::new(pattern(LEN, 11)), Resource::new(pattern(LEN + 50_000, 12))),
    ];
    for (what, v1, v2) in cases {
        let server = HostileServer::start();
        server.script(
            "/f",
            vec![Step::serve(&v1).close_after(CUT), Step::serve(&v2).ignore_if_range(), Step::serve(&v2)],
        );
        let q = HostileQueue::open(&[]);
        let (group, job) = q.start(&[(&server.url("/f"), "f.bin")]);
        assert_downloaded(&q, &group, &job, "f.bin", &v2.body, &server);
        let reqs = server.requests_to("/f");
        assert_eq!(reqs.len(), 3, "{what}:\n{}", server.describe());
        assert_eq!((reqs[1].header("range"), reqs[1].status), (Some("bytes=100000-"), 206), "{what}");
        assert_eq!(reqs[2].header("range"), None, "{what}: restart from zero:\n{}", server.describe());
        if what == "last-modified" {
            assert_eq!(reqs[1].header("if-range"), Some(LM1), "without ETag, If-Range is the date");
        }
    }
}

#[test]
fn a_weak_etag_resumes_with_the_last_modified_date() {
    let res = Resource::new(pattern(LEN, 13)).etag("W/\"weak\"").last_modified(LM1);
    let server = HostileServer::start();
    server.script("/f", vec![Step::serve(&res).close_after(CUT), Step::serve(&res)]);
    let q = HostileQueue::open(&[]);
    let (group, job) = q.start(&[(&server.url("/f"), "f.bin")]);
    assert_downloaded(&q, &group, &job, "f.bin", &res.body, &server);
    let reqs = server.requests_to("/f");
    assert_eq!(reqs.len(), 2, "{}", server.describe());
    assert_eq!(reqs[1].header("if-range"), Some(LM1), "weak ETag: If-Range carries Last-Modified");
    assert_eq!((reqs[1].header("range"), reqs[1].status), (Some("bytes=100000-"), 206));
    assert_eq!(served(&server, "/f"), LEN as u64);
}

#[test]
fn a_416_confirming_the_held_length_completes() {
    let res = Resource::new(pattern(LEN, 14)).etag("\"x\"");
    let server = HostileServer::start();
    // 1: cut after CUT bytes; 2: the rest of the file, but claiming 10 more bytes than it
    // sends, so the transfer fails holding every byte; 3: "416, bytes */LEN".
    let rest = (LEN - CUT) as u64;
    server.script(
        "/f",
        vec![Step::serve(&res).close_after(CUT), Step::serve(&res).declare_length(rest + 10), Step::serve(&res)],
    );
    let q = HostileQueue::open(&[]);
    let (group, job) = q.start(&[(&server.url("/f"), "f.bin")]);
    assert_downloaded(&q, &group, &job, "f.bin", &res.body, &server);
    let reqs = server.requests_to("/f");
    assert_eq!(reqs.len(), 3, "{}", server.describe());
    assert_eq!((reqs[2].header("range"), reqs[2].status), (Some("bytes=300000-"), 416), "{}", server.describe());
    assert_eq!(served(&server, "/f"), LEN as u64);
    assert_eq!(job.status().unwrap().num_of_retries, 2);
}

#[test]
fn fewer_bytes_than_content_length_is_transient() {
    let res = Resource::new(pattern(LEN, 15)).etag("\"x\"");
    let server = HostileServer::start();
    server.script("/f", vec![Step::serve(&res).declare_length(LEN as u64 + 1000), Step::serve(&res)]);
    let q = HostileQueue::open(&[]);
    let (group, job) = q.start(&[(&server.url("/f"), "f.bin")]);
    assert_downloaded(&q, &group, &job, "f.bin", &res.body, &server);
    assert_eq!(job.status().unwrap().num_of_retries, 1);
}

#[test]
fn a_chunked_body_without_content_length_downloads() {
    let res = Resource::new(pattern(LEN, 16)).no_accept_ranges();
    let server = HostileServer::start();
    server.script("/f", vec![Step::serve(&res).chunked()]);
    let q = HostileQueue::open(&[]);
    let (group, job) = q.start(&[(&server.url("/f"), "f.bin")]);
    assert_downloaded(&q, &group, &job, "f.bin", &res.body, &server);
    assert_eq!((server.hits("/f"), job.status().unwrap().num_of_retries), (1, 0));
}

#[test]
fn a_server_without_ranges_or_length_restarts_from_zero_after_a_cut() {
    let res = Resource::new(pattern(LEN, 17)).no_accept_ranges();
    let server = HostileServer::start();
    server.script("/f", vec![Step::serve(&res).chunked().close_after(CUT), Step::serve(&res).chunked().ignore_range()]);
    let q = HostileQueue::open(&[]);
    let (group, job) = q.start(&[(&server.url("/f"), "f.bin")]);
    assert_downloaded(&q, &group, &job, "f.bin", &res.body, &server);
    let reqs = server.requests_to("/f");
    assert_eq!(reqs.len(), 2, "{}", server.describe());
    // D11: Range is sent when bytes are held, whatever Accept-Ranges said.
    let start = reqs[1].range_start().expect("a ranged retry");
    assert!(start > 0 && start <= CUT as u64, "{}", server.describe());
    assert_eq!(job.status().unwrap().num_of_retries, 1);
}

#[test]
fn only_the_changed_file_restarts() {
    let a = Resource::new(pattern(LEN, 18)).etag("\"a\"");
    let b1 = Resource::new(pattern(LEN, 19)).etag("\"b1\"");
    let b2 = Resource::new(pattern(LEN, 20)).etag("\"b2\"");
    let server = HostileServer::start();
    server.script("/a", vec![Step::serve(&a)]);
    server.script("/b", vec![Step::serve(&b1).close_after(CUT), Step::serve(&b2)]);
    let q = HostileQueue::open(&[]);
    let (group, job) = q.start(&[(&server.url("/a"), "a.bin"), (&server.url("/b"), "b.bin")]);
    assert_downloaded(&q, &group, &job, "b.bin", &b2.body, &server);
    assert_eq!(std::fs::read(q.path("a.bin")).unwrap(), *a.body);
    assert_eq!(server.hits("/a"), 1, "a finished file is not fetched again:\n{}", server.describe());
}

#[test]
fn consecutive_files_reuse_the_connection() {
    let a = Resource::new(pattern(50_000, 21)).etag("\"a\"");
    let b = Resource::new(pattern(50_000, 22)).etag("\"b\"");
    let server = HostileServer::start();
    server.script("/a", vec![Step::serve(&a)]);
    server.script("/b", vec![Step::serve(&b)]);
    // One file after the other (DECISIONS D16 would fetch both at once, on two connections).
    let q = HostileQueue::open(&[("max_connections_per_group", "1")]);
    let (group, job) = q.start(&[(&server.url("/a"), "a.bin"), (&server.url("/b"), "b.bin")]);
    assert_downloaded(&q, &group, &job, "b.bin", &b.body, &server);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(
        reqs[0].connection,
        reqs[1].connection,
        "keep-alive (DESIGN: one agent per manager):\n{}",
        server.describe()
    );
}

#[test]
fn https_resumes_after_a_cut() {
    let res = Resource::new(pattern(LEN, 23)).etag("\"tls\"");
    let server = HostileServer::start_tls();
    server.script("/f", vec![Step::serve(&res).close_after(CUT), Step::serve(&res)]);
    let q = HostileQueue::open(&[("ca_file", &ca_file())]);
    let (group, job) = q.start(&[(&server.url("/f"), "f.bin")]);
    assert_downloaded(&q, &group, &job, "f.bin", &res.body, &server);
    let reqs = server.requests_to("/f");
    assert_eq!(reqs.len(), 2, "{}", server.describe());
    assert_eq!((reqs[1].header("range"), reqs[1].header("if-range")), (Some("bytes=100000-"), Some("\"tls\"")));
}

#[test]
fn an_untrusted_certificate_is_fatal_12175() {
    let res = Resource::new(pattern(1000, 24));
    let server = HostileServer::start_tls();
    server.script("/f", vec![Step::serve(&res)]);
    let q = HostileQueue::open(&[]);
    let (group, job) = q.start(&[(&server.url("/f"), "f.bin")]);
    let (state, word) = wait_settled(&group, Duration::from_secs(20), || server.describe());
    assert_eq!((state, word), (qmgr_rs::model::GroupState::Error, 0x380));
    let st = job.status().unwrap();
    assert_eq!((st.win32_result, st.transport_result, st.num_of_retries), (win32::ERROR_WINHTTP_SECURE_FAILURE, 0, 1));
    assert_eq!(st.status, status::JOB_INCOMPLETE | status::JOB_ERROR);
    let message = job.error_message().unwrap().unwrap();
    assert!(message.contains("certificate"), "{message}");
    assert!(!q.path("f.bin").exists());
}

#[test]
fn a_server_answering_ranges_in_pieces_is_asked_for_the_rest() {
    let res = Resource::new(pattern(LEN, 25)).etag("\"p\"");
    let server = HostileServer::start();
    server.script("/f", vec![Step::serve(&res).close_after(CUT), Step::serve(&res).range_limit(50_000)]);
    let q = HostileQueue::open(&[]);
    let (group, job) = q.start(&[(&server.url("/f"), "f.bin")]);
    assert_downloaded(&q, &group, &job, "f.bin", &res.body, &server);
    let starts: Vec<Option<u64>> = server.requests_to("/f").iter().map(|r| r.range_start()).collect();
    assert_eq!(starts, [None, Some(100_000), Some(150_000), Some(200_000), Some(250_000)], "{}", server.describe());
    assert_eq!(served(&server, "/f"), LEN as u64);
    assert_eq!(job.status().unwrap().num_of_retries, 1, "short 206 answers are not failures");
}
