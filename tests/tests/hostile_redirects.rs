//! Redirects against the hostile server, through the Rust API: every 3xx redirect status is
//! followed, up to 10 hops; an 11th, a loop, or https→http is fatal with `dwWin32Result` 12156
//! and `dwTransportResult` the last 3xx status (DECISIONS D5, D11). A URL the program gave is
//! requested exactly as written (D2); a redirect's target as resolved.

#![forbid(unsafe_code)]

use std::time::Duration;

use qmgr_rs::hresult::win32;
use qmgr_rs::model::{status, GroupState};
use qmgr_rs::{Group, Job};
use qmgr_tests::hostile::{
    assert_downloaded, ca_file, pattern, wait_settled, HostileQueue, HostileServer, Resource, Step,
};

/// Waits for a fatal redirect failure and checks the job's status against D11.
fn assert_redirect_failed(group: &Group, job: &Job, last_status: u16, server: &HostileServer) -> String {
    let (state, word) = wait_settled(group, Duration::from_secs(30), || server.describe());
    assert_eq!((state, word), (GroupState::Error, 0x380), "{:?}\n{}", job.error_message(), server.describe());
    let st = job.status().unwrap();
    assert_eq!(st.status, status::JOB_INCOMPLETE | status::JOB_ERROR);
    assert_eq!(
        (st.win32_result, st.transport_result, st.num_of_retries),
        (win32::ERROR_WINHTTP_REDIRECT_FAILED, u32::from(last_status), 1),
        "{:?}",
        job.error_message()
    );
    job.error_message().unwrap().expect("error message")
}

#[test]
fn every_redirect_status_is_followed() {
    let res = Resource::new(pattern(40_000, 1)).etag("\"r\"");
    let server = HostileServer::start();
    server.script("/file", vec![Step::serve(&res)]);
    let q = HostileQueue::open(&[]);
    let mut groups = Vec::new();
    for code in [301u16, 302, 303, 307, 308] {
        let path = format!("/moved/{code}");
        // Relative and absolute locations.
        let location = if code % 2 == 0 { "/file".to_string() } else { server.url("/file") };
        server.script(&path, vec![Step::redirect(code, location)]);
        let name = format!("f{code}.bin");
        let (group, job) = q.start(&[(&server.url(&path), &name)]);
        groups.push((path, name, group, job));
    }
    for (path, name, group, job) in groups {
        assert_downloaded(&q, &group, &job, &name, &res.body, &server);
        assert_eq!(server.hits(&path), 1);
        assert_eq!(job.status().unwrap().num_of_retries, 0);
    }
}

#[test]
fn ten_redirects_are_followed() {
    let res = Resource::new(pattern(40_000, 2));
    let server = HostileServer::start();
    for i in 1..10 {
        server.script(&format!("/c/{i}"), vec![Step::redirect(302, format!("/c/{}", i + 1))]);
    }
    server.script("/c/10", vec![Step::redirect(307, "/file")]);
    server.script("/file", vec![Step::serve(&res)]);
    let q = HostileQueue::open(&[]);
    let (group, job) = q.start(&[(&server.url("/c/1"), "f.bin")]);
    assert_downloaded(&q, &group, &job, "f.bin", &res.body, &server);
    assert_eq!(server.requests().len(), 11, "10 redirects and the file:\n{}", server.describe());
}

#[test]
fn an_eleventh_redirect_is_fatal_12156() {
    let res = Resource::new(pattern(40_000, 3));
    let server = HostileServer::start();
    for i in 0..10 {
        server.script(&format!("/c/{i}"), vec![Step::redirect(302, format!("/c/{}", i + 1))]);
    }
    server.script("/c/10", vec![Step::redirect(308, "/file")]);
    server.script("/file", vec![Step::serve(&res)]);
    let q = HostileQueue::open(&[]);
    let (group, job) = q.start(&[(&server.url("/c/0"), "f.bin")]);
    let message = assert_redirect_failed(&group, &job, 308, &server);
    assert!(message.contains("redirect"), "{message}");
    assert_eq!(server.hits("/file"), 0, "the 11th redirect is not followed:\n{}", server.describe());
    assert_eq!(server.requests().len(), 11);
    assert!(!q.path("f.bin").exists());
}

#[test]
fn a_redirect_loop_is_fatal_12156() {
    let server = HostileServer::start();
    server.script("/a", vec![Step::redirect(301, "/b")]);
    server.script("/b", vec![Step::redirect(307, "/a")]);
    server.script("/self", vec![Step::redirect(303, "/self")]);
    let q = HostileQueue::open(&[]);
    let (g1, j1) = q.start(&[(&server.url("/a"), "a.bin")]);
    let (g2, j2) = q.start(&[(&server.url("/self"), "self.bin")]);
    let message = assert_redirect_failed(&g1, &j1, 307, &server);
    assert!(message.contains("loop"), "{message}");
    assert_redirect_failed(&g2, &j2, 303, &server);
    // Detected without running the loop up to the hop limit.
    assert_eq!((server.hits("/a"), server.hits("/b"), server.hits("/self")), (1, 1, 1), "{}", server.describe());
}

#[test]
fn https_to_http_is_refused_with_12156() {
    let res = Resource::new(pattern(40_000, 4));
    let plain = HostileServer::start();
    plain.script("/file", vec![Step::serve(&res)]);
    let secure = HostileServer::start_tls();
    secure.script("/down", vec![Step::redirect(302, plain.url("/file"))]);
    let q = HostileQueue::open(&[("ca_file", &ca_file())]);
    let (group, job) = q.start(&[(&secure.url("/down"), "f.bin")]);
    let message = assert_redirect_failed(&group, &job, 302, &secure);
    assert!(message.contains("http"), "{message}");
    assert!(plain.requests().is_empty(), "the downgraded URL was requested:\n{}", plain.describe());
}

#[test]
fn http_to_https_on_another_origin_is_followed_and_resumes_through_the_redirect() {
    let res = Resource::new(pattern(300_000, 5)).etag("\"s\"");
    let secure = HostileServer::start_tls();
    secure.script("/file", vec![Step::serve(&res).close_after(100_000), Step::serve(&res)]);
    let plain = HostileServer::start();
    plain.script("/up", vec![Step::redirect(302, secure.url("/file"))]);
    let q = HostileQueue::open(&[("ca_file", &ca_file())]);
    let (group, job) = q.start(&[(&plain.url("/up"), "f.bin")]);
    assert_downloaded(&q, &group, &job, "f.bin", &res.body, &secure);
    assert_eq!(plain.hits("/up"), 2, "the retry starts again from the URL given");
    let reqs = secure.requests_to("/file");
    assert_eq!(reqs.len(), 2, "{}", secure.describe());
    assert_eq!((reqs[1].header("range"), reqs[1].header("if-range")), (Some("bytes=100000-"), Some("\"s\"")));
}

#[test]
fn relative_locations_are_resolved_against_the_current_url_without_fragments_or_user_info() {
    let res = Resource::new(pattern(40_000, 6));
    let server = HostileServer::start();
    let authority = server.addr().to_string();
    server.script("/dir/sub/start", vec![Step::redirect(302, "next#frag")]);
    server.script("/dir/sub/next", vec![Step::redirect(302, "../up")]);
    server.script("/dir/up", vec![Step::redirect(302, "?q=1")]);
    server.script("/dir/up?q=1", vec![Step::redirect(307, format!("//eve@{authority}/abs#top"))]);
    server.script("/abs", vec![Step::redirect(308, format!("http://mallory:pw@{authority}/final?x=1#f"))]);
    server.script("/final?x=1", vec![Step::serve(&res)]);
    let q = HostileQueue::open(&[]);
    let given = format!("{}#given", server.url("/dir/sub/start"));
    let (group, job) = q.start(&[(&given, "f.bin")]);
    assert_downloaded(&q, &group, &job, "f.bin", &res.body, &server);
    let targets: Vec<String> = server.requests().iter().map(|r| r.target.clone()).collect();
    assert_eq!(
        targets,
        ["/dir/sub/start", "/dir/sub/next", "/dir/up", "/dir/up?q=1", "/abs", "/final?x=1"],
        "no fragment is sent:\n{}",
        server.describe()
    );
    assert!(
        server.requests().iter().all(|r| r.header("authorization").is_none()),
        "no credentials from a Location:\n{}",
        server.describe()
    );
    assert_eq!(job.file(0).unwrap().url, given, "the remote name stays the URL as given");
}

#[test]
fn a_location_naming_the_current_url_with_a_fragment_is_a_loop() {
    let server = HostileServer::start();
    server.script("/self", vec![Step::redirect(302, "#elsewhere")]);
    let q = HostileQueue::open(&[]);
    let (group, job) = q.start(&[(&server.url("/self"), "f.bin")]);
    let message = assert_redirect_failed(&group, &job, 302, &server);
    assert!(message.contains("loop"), "{message}");
    assert_eq!(server.hits("/self"), 1, "{}", server.describe());
}

#[test]
fn credentials_in_a_location_are_never_used() {
    // The target challenges for exactly the credentials the Location carries: they are
    // dropped with the rest of its user-info, so the challenge finds none (DECISIONS D11).
    let res = Resource::new(pattern(40_000, 8));
    let server = HostileServer::start();
    let authority = server.addr().to_string();
    server.script("/start", vec![Step::redirect(302, format!("http://alice:s3cret@{authority}/secret"))]);
    server.script("/secret", vec![Step::serve(&res).require_basic("alice", "s3cret")]);
    let q = HostileQueue::open(&[("allow_credentials_over_http", "1")]);
    let (group, job) = q.start(&[(&server.url("/start"), "f.bin")]);
    let (state, _) = wait_settled(&group, Duration::from_secs(30), || server.describe());
    assert_eq!(state, GroupState::Error, "{:?}\n{}", job.error_message(), server.describe());
    assert_eq!(job.status().unwrap().transport_result, 401, "{:?}", job.error_message());
    let message = job.error_message().unwrap().expect("error message");
    assert!(!message.contains("s3cret"), "{message}");
    let requests = server.requests();
    let authorizations: Vec<Option<&str>> = requests.iter().map(|r| r.header("authorization")).collect();
    assert_eq!(authorizations, [None, None], "{}", server.describe());
    assert!(!q.path("f.bin").exists());
}

#[test]
fn a_url_is_requested_exactly_as_given_and_a_redirect_as_resolved() {
    let res = Resource::new(pattern(20_000, 9));
    let server = HostileServer::start();
    // Dot segments, an encoded dot segment and a quote stay as written (the WHATWG
    // serialisation would send /f.bin?q=%271%27).
    let given = "/a/../b/%2e%2e/f.bin?q='1'";
    server.script(given, vec![Step::redirect(302, "./x/../g.bin")]);
    server.script("/a/../b/%2e%2e/g.bin", vec![Step::status(404)]);
    server.script("/g.bin", vec![Step::serve(&res)]);
    let q = HostileQueue::open(&[]);
    let (group, job) = q.start(&[(&server.url(given), "f.bin")]);
    assert_downloaded(&q, &group, &job, "f.bin", &res.body, &server);
    let targets: Vec<String> = server.requests().into_iter().map(|r| r.target).collect();
    // The redirect resolves against the parsed URL (http://h/f.bin…): /g.bin.
    assert_eq!(targets, [given, "/g.bin"], "{}", server.describe());
}
