//! HTTP credentials against the hostile server, through the Rust API: Basic credentials are
//! sent only in answer to a 401 challenge, only to the challenging origin, and never over plain
//! `http://` unless `allow_credentials_over_http` is 1 (DECISIONS D1, D11).

#![forbid(unsafe_code)]

use std::time::Duration;

use qmgr_rs::model::{status, GroupState, PropId, PropValue};
use qmgr_rs::{Group, Job};
use qmgr_tests::hostile::{
    assert_downloaded, base64, bg_e_http, ca_file, pattern, wait_settled, HostileQueue, HostileServer, Resource, Step,
};

const USER: &str = "alice";
const PASSWORD: &str = "s3cret:with colon";

fn expected_authorization() -> String {
    format!("Basic {}", base64(format!("{USER}:{PASSWORD}").as_bytes()))
}

/// A group for `url` with the group credentials `user` / `password`, resumed.
fn start_with_credentials(q: &HostileQueue, url: &str, user: &str, password: &str) -> (Group, Job) {
    let (group, job) = q.group(&[(url, "f.bin")]);
    group.set_prop(PropId::RemoteUserId, PropValue::Str(user.into())).unwrap();
    group.set_prop(PropId::RemoteUserPwd, PropValue::Str(password.into())).unwrap();
    group.resume().unwrap();
    (group, job)
}

/// Waits for the fatal 401 and returns the job's error message.
fn assert_fatal_401(group: &Group, job: &Job, server: &HostileServer) -> String {
    let (state, word) = wait_settled(group, Duration::from_secs(30), || server.describe());
    assert_eq!((state, word), (GroupState::Error, 0x380), "{:?}\n{}", job.error_message(), server.describe());
    let st = job.status().unwrap();
    assert_eq!(st.status, status::JOB_INCOMPLETE | status::JOB_ERROR);
    assert_eq!((st.win32_result, st.transport_result, st.num_of_retries), (bg_e_http(401), 401, 1));
    job.error_message().unwrap().expect("error message")
}

fn authorizations(server: &HostileServer) -> Vec<Option<String>> {
    server.requests().iter().map(|r| r.header("authorization").map(str::to_string)).collect()
}

#[test]
fn credentials_are_withheld_over_plain_http_by_default() {
    let res = Resource::new(pattern(30_000, 1));
    let server = HostileServer::start();
    server.script("/secret", vec![Step::serve(&res).require_basic(USER, PASSWORD)]);
    let q = HostileQueue::open(&[]);
    let (group, job) = start_with_credentials(&q, &server.url("/secret"), USER, PASSWORD);
    let message = assert_fatal_401(&group, &job, &server);
    assert!(message.contains("withheld"), "D11: the message says the credentials were withheld: {message}");
    assert!(!message.contains(PASSWORD), "the password is never shown: {message}");
    assert_eq!(authorizations(&server), [None], "{}", server.describe());
}

#[test]
fn credentials_go_over_http_after_a_challenge_with_the_opt_in() {
    let res = Resource::new(pattern(30_000, 2));
    let server = HostileServer::start();
    server.script("/secret", vec![Step::serve(&res).require_basic(USER, PASSWORD)]);
    let q = HostileQueue::open(&[("allow_credentials_over_http", "1")]);
    let (group, job) = start_with_credentials(&q, &server.url("/secret"), USER, PASSWORD);
    assert_downloaded(&q, &group, &job, "f.bin", &res.body, &server);
    assert_eq!(authorizations(&server), [None, Some(expected_authorization())], "{}", server.describe());
    assert_eq!(job.status().unwrap().num_of_retries, 0, "a challenge answered is not a failed attempt");
}

#[test]
fn credentials_go_over_https_after_a_challenge() {
    let res = Resource::new(pattern(30_000, 3));
    let server = HostileServer::start_tls();
    server.script("/secret", vec![Step::serve(&res).require_basic(USER, PASSWORD)]);
    let q = HostileQueue::open(&[("ca_file", &ca_file())]);
    let (group, job) = start_with_credentials(&q, &server.url("/secret"), USER, PASSWORD);
    assert_downloaded(&q, &group, &job, "f.bin", &res.body, &server);
    assert_eq!(authorizations(&server), [None, Some(expected_authorization())], "{}", server.describe());
}

#[test]
fn refused_credentials_are_fatal_401() {
    let res = Resource::new(pattern(30_000, 4));
    let server = HostileServer::start();
    server.script("/secret", vec![Step::serve(&res).require_basic(USER, PASSWORD)]);
    let q = HostileQueue::open(&[("allow_credentials_over_http", "1")]);
    let (group, job) = start_with_credentials(&q, &server.url("/secret"), USER, "wrong");
    assert_fatal_401(&group, &job, &server);
    assert_eq!(server.requests().len(), 2, "one challenge, one refused attempt:\n{}", server.describe());
    assert!(!q.path("f.bin").exists());
}

#[test]
fn a_challenge_without_credentials_is_fatal_401() {
    let res = Resource::new(pattern(30_000, 5));
    let server = HostileServer::start();
    server.script("/secret", vec![Step::serve(&res).require_basic(USER, PASSWORD)]);
    let q = HostileQueue::open(&[("allow_credentials_over_http", "1")]);
    let (group, job) = q.start(&[(&server.url("/secret"), "f.bin")]);
    assert_fatal_401(&group, &job, &server);
    assert_eq!(authorizations(&server), [None]);
}

#[test]
fn credentials_are_not_sent_unasked_nor_to_another_origin() {
    let res = Resource::new(pattern(30_000, 6));
    let other = HostileServer::start();
    other.script("/file", vec![Step::serve(&res)]);
    let server = HostileServer::start();
    server.script("/open", vec![Step::serve(&res)]);
    server.script("/secret", vec![Step::redirect(302, other.url("/file")).require_basic(USER, PASSWORD)]);
    let q = HostileQueue::open(&[("allow_credentials_over_http", "1")]);
    let (g1, j1) = start_with_credentials(&q, &server.url("/open"), USER, PASSWORD);
    assert_downloaded(&q, &g1, &j1, "f.bin", &res.body, &server);
    assert_eq!(authorizations(&server), [None], "no challenge, no credentials");

    let (g2, j2) = q.group(&[(&server.url("/secret"), "g.bin")]);
    g2.set_prop(PropId::RemoteUserId, PropValue::Str(USER.into())).unwrap();
    g2.set_prop(PropId::RemoteUserPwd, PropValue::Str(PASSWORD.into())).unwrap();
    g2.resume().unwrap();
    assert_downloaded(&q, &g2, &j2, "g.bin", &res.body, &other);
    let secret: Vec<Option<String>> =
        server.requests_to("/secret").iter().map(|r| r.header("authorization").map(str::to_string)).collect();
    assert_eq!(secret, [None, Some(expected_authorization())], "{}", server.describe());
    assert_eq!(authorizations(&other), [None], "credentials leaked to another origin:\n{}", other.describe());
}

#[test]
fn credentials_go_to_an_https_target_of_an_http_url_without_the_opt_in() {
    let res = Resource::new(pattern(30_000, 7));
    let secure = HostileServer::start_tls();
    secure.script("/secret", vec![Step::serve(&res).require_basic(USER, PASSWORD)]);
    let plain = HostileServer::start();
    plain.script("/start", vec![Step::redirect(307, secure.url("/secret"))]);
    let q = HostileQueue::open(&[("ca_file", &ca_file())]);
    let (group, job) = start_with_credentials(&q, &plain.url("/start"), USER, PASSWORD);
    assert_downloaded(&q, &group, &job, "f.bin", &res.body, &secure);
    assert_eq!(authorizations(&plain), [None], "nothing over plain http");
    assert_eq!(authorizations(&secure), [None, Some(expected_authorization())], "{}", secure.describe());
}
