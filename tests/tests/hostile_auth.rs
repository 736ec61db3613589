//! HTTP credentials against the hostile server, through the Rust API: Basic and Digest
//! credentials are sent only in answer to a 401 challenge, only to the challenging origin, and
//! never over plain `http://` unless `allow_credentials_over_http` is 1 (DECISIONS D1, D11, D15).
//!
//! Digest (RFC 7616) is checked by `qmgr_tests::digest::DigestAuthority`, a server side written
//! from the RFC with md-5 and sha2, independent of the `http-auth` crate qmgr-net answers with:
//! MD5, SHA-256 and their `-sess` variants with `qop=auth`, the RFC 2069 form without `qop`, the
//! nonce count of later requests on one challenge, a stale nonce, a wrong password, the choice
//! among several challenges.

#![forbid(unsafe_code)]

use std::sync::Arc;
use std::time::Duration;

use base64::prelude::{Engine as _, BASE64_STANDARD};
use qmgr_rs::model::{status, GroupState, PropId, PropValue};
use qmgr_rs::{Group, Job};
use qmgr_tests::digest::{Algorithm, DigestAuthority, Verdict};
use qmgr_tests::hostile::{
    assert_downloaded, bg_e_http, ca_file, pattern, wait_settled, HostileQueue, HostileServer, Resource, Step,
};

const USER: &str = "alice";
const PASSWORD: &str = "s3cret:with colon";

fn expected_authorization() -> String {
    format!("Basic {}", BASE64_STANDARD.encode(format!("{USER}:{PASSWORD}")))
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

/// `url` with `USER` and `PASSWORD` as its user-info (percent-encoded).
fn with_userinfo(url: &str) -> String {
    url.replacen("://", &format!("://{USER}:s3cret%3Awith%20colon@"), 1)
}

#[test]
fn credentials_in_the_url_follow_the_same_rules() {
    // Issue #15: they went out with the first request, unasked, over plain http.
    let res = Resource::new(pattern(30_000, 3));
    let server = HostileServer::start();
    server.script("/secret", vec![Step::serve(&res).require_basic(USER, PASSWORD)]);
    let q = HostileQueue::open(&[]);
    let (group, job) = q.group(&[(&with_userinfo(&server.url("/secret")), "f.bin")]);
    group.resume().unwrap();
    let message = assert_fatal_401(&group, &job, &server);
    assert!(message.contains("withheld"), "{message}");
    assert!(!message.contains("s3cret"), "the password is never shown: {message}");
    assert_eq!(authorizations(&server), [None], "{}", server.describe());

    let q = HostileQueue::open(&[("allow_credentials_over_http", "1")]);
    let (group, job) = q.group(&[(&with_userinfo(&server.url("/secret")), "f.bin")]);
    group.resume().unwrap();
    assert_downloaded(&q, &group, &job, "f.bin", &res.body, &server);
    assert_eq!(
        authorizations(&server),
        [None, None, Some(expected_authorization())],
        "only in answer to the challenge: {}",
        server.describe()
    );
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

/// The `Authorization` schemes sent to `server` ("Digest", "Basic" or none), in order.
fn schemes_sent(server: &HostileServer) -> Vec<Option<String>> {
    authorizations(server).into_iter().map(|a| a.map(|a| a.split(' ').next().unwrap_or("").to_string())).collect()
}

/// Asserts that `verdicts` are one challenge, then accepted answers with `algorithm` whose
/// nonce counts are 1, 2, … on one nonce, each with a client nonce when `qop`.
fn assert_challenged_then_accepted(verdicts: &[Verdict], algorithm: Algorithm, answers: u32, qop: bool) {
    assert_eq!(verdicts.first(), Some(&Verdict::Missing), "{verdicts:?}");
    assert_eq!(verdicts.len(), 1 + answers as usize, "{verdicts:?}");
    let mut nonces = Vec::new();
    for (i, v) in verdicts[1..].iter().enumerate() {
        let Verdict::Accepted { algorithm: a, nc, cnonce, nonce } = v else { panic!("answer {i}: {v:?}") };
        assert_eq!((*a, *nc), (algorithm, i as u32 + 1), "{verdicts:?}");
        assert_eq!(cnonce.is_some(), qop, "{verdicts:?}");
        nonces.push(nonce.clone());
    }
    nonces.dedup();
    assert_eq!(nonces.len(), 1, "one challenge, one nonce: {verdicts:?}");
}

#[test]
fn digest_md5_sha256_and_their_sess_variants_complete_with_the_right_password() {
    for (i, algorithm) in
        [Algorithm::Md5, Algorithm::Sha256, Algorithm::Md5Sess, Algorithm::Sha256Sess].into_iter().enumerate()
    {
        let res = Resource::new(pattern(30_000, 20 + i as u64));
        let authority = Arc::new(DigestAuthority::new(USER, PASSWORD, algorithm));
        let server = HostileServer::start_tls();
        server.script("/secret", vec![Step::serve(&res).require_digest(&authority)]);
        let q = HostileQueue::open(&[("ca_file", &ca_file())]);
        let (group, job) = start_with_credentials(&q, &server.url("/secret"), USER, PASSWORD);
        assert_downloaded(&q, &group, &job, "f.bin", &res.body, &server);
        assert_challenged_then_accepted(&authority.verdicts(), algorithm, 1, true);
        assert_eq!(schemes_sent(&server), [None, Some("Digest".into())], "{algorithm:?}: {}", server.describe());
        assert_eq!(job.status().unwrap().num_of_retries, 0, "{algorithm:?}: a challenge answered is no failure");
    }
}

#[test]
fn digest_without_qop_rfc_2069_completes() {
    let res = Resource::new(pattern(30_000, 30));
    let authority = Arc::new(DigestAuthority::new(USER, PASSWORD, Algorithm::Md5).without_qop());
    let server = HostileServer::start();
    server.script("/secret", vec![Step::serve(&res).require_digest(&authority)]);
    let q = HostileQueue::open(&[("allow_credentials_over_http", "1")]);
    let (group, job) = start_with_credentials(&q, &server.url("/secret"), USER, PASSWORD);
    assert_downloaded(&q, &group, &job, "f.bin", &res.body, &server);
    assert_challenged_then_accepted(&authority.verdicts(), Algorithm::Md5, 1, false);
}

/// Downloads `/start`, which redirects to `/file` on the same origin, both demanding Digest
/// from `authority` (plain http, opted in); returns the authority's verdicts, the schemes sent
/// and the job's failed attempts.
fn through_a_same_origin_redirect(authority: DigestAuthority, seed: u64) -> (Vec<Verdict>, Vec<Option<String>>, u32) {
    let res = Resource::new(pattern(30_000, seed));
    let authority = Arc::new(authority);
    let server = HostileServer::start();
    server.script("/start", vec![Step::redirect(302, "/file").require_digest(&authority)]);
    server.script("/file", vec![Step::serve(&res).require_digest(&authority)]);
    let q = HostileQueue::open(&[("allow_credentials_over_http", "1")]);
    let (group, job) = start_with_credentials(&q, &server.url("/start"), USER, PASSWORD);
    assert_downloaded(&q, &group, &job, "f.bin", &res.body, &server);
    (authority.verdicts(), schemes_sent(&server), job.status().unwrap().num_of_retries)
}

#[test]
fn later_requests_to_the_same_origin_count_the_nonce_up() {
    // The second request answers the first challenge again (pre-emptively, D11) with nc=2,
    // for the new URI; a resume later in the same fetch would do the same.
    let authority = DigestAuthority::new(USER, PASSWORD, Algorithm::Sha256);
    let (verdicts, schemes, _) = through_a_same_origin_redirect(authority, 31);
    assert_challenged_then_accepted(&verdicts, Algorithm::Sha256, 2, true);
    assert_eq!(schemes, [None, Some("Digest".into()), Some("Digest".into())]);
}

#[test]
fn a_wrong_digest_password_is_the_same_fatal_401_as_basic() {
    let res = Resource::new(pattern(30_000, 32));
    let authority = Arc::new(DigestAuthority::new(USER, PASSWORD, Algorithm::Sha256));
    let server = HostileServer::start();
    server.script("/secret", vec![Step::serve(&res).require_digest(&authority)]);
    let q = HostileQueue::open(&[("allow_credentials_over_http", "1")]);
    let (group, job) = start_with_credentials(&q, &server.url("/secret"), USER, "wrong");
    let message = assert_fatal_401(&group, &job, &server);
    assert!(message.contains("refused the credentials"), "{message}");
    assert!(!message.contains("wrong"), "the password is never shown: {message}");
    assert_eq!(authority.verdicts(), [Verdict::Missing, Verdict::WrongResponse]);
    assert!(!q.path("f.bin").exists());
}

#[test]
fn digest_over_plain_http_is_withheld_without_the_opt_in() {
    let res = Resource::new(pattern(30_000, 33));
    let authority = Arc::new(DigestAuthority::new(USER, PASSWORD, Algorithm::Sha256));
    let server = HostileServer::start();
    server.script("/secret", vec![Step::serve(&res).require_digest(&authority)]);
    let q = HostileQueue::open(&[]);
    let (group, job) = start_with_credentials(&q, &server.url("/secret"), USER, PASSWORD);
    let message = assert_fatal_401(&group, &job, &server);
    assert!(message.contains("withheld"), "D11: {message}");
    assert_eq!(authorizations(&server), [None], "{}", server.describe());
    assert_eq!(authority.verdicts(), [Verdict::Missing]);
}

#[test]
fn digest_credentials_do_not_follow_a_redirect_to_another_origin() {
    let res = Resource::new(pattern(30_000, 34));
    let other = HostileServer::start();
    other.script("/file", vec![Step::serve(&res)]);
    let authority = Arc::new(DigestAuthority::new(USER, PASSWORD, Algorithm::Md5));
    let server = HostileServer::start();
    server.script("/secret", vec![Step::redirect(302, other.url("/file")).require_digest(&authority)]);
    let q = HostileQueue::open(&[("allow_credentials_over_http", "1")]);
    let (group, job) = start_with_credentials(&q, &server.url("/secret"), USER, PASSWORD);
    assert_downloaded(&q, &group, &job, "f.bin", &res.body, &other);
    assert_challenged_then_accepted(&authority.verdicts(), Algorithm::Md5, 1, true);
    assert_eq!(authorizations(&other), [None], "credentials leaked to another origin:\n{}", other.describe());
}

#[test]
fn a_stale_nonce_is_answered_with_the_new_one_and_completes() {
    // Each nonce accepts one answer: /start's answer uses it up, so /file calls it stale and
    // challenges with a new one, which the client answers at once (no failed attempt).
    let authority = DigestAuthority::new(USER, PASSWORD, Algorithm::Sha256).stale_after(1);
    let (verdicts, _, retries) = through_a_same_origin_redirect(authority, 35);
    assert_eq!(verdicts.len(), 4, "{verdicts:?}");
    assert_eq!((&verdicts[0], &verdicts[2]), (&Verdict::Missing, &Verdict::Stale), "{verdicts:?}");
    let (Verdict::Accepted { nonce: first, nc: 1, .. }, Verdict::Accepted { nonce: second, nc: 1, .. }) =
        (&verdicts[1], &verdicts[3])
    else {
        panic!("{verdicts:?}")
    };
    assert_ne!(first, second, "the stale nonce was replaced");
    assert_eq!(retries, 0, "a stale nonce is no failed attempt");
}

#[test]
fn digest_sha256_is_preferred_over_md5_and_basic() {
    let res = Resource::new(pattern(30_000, 36));
    let authority = Arc::new(
        DigestAuthority::new(USER, PASSWORD, Algorithm::Md5)
            .algorithms(&[Algorithm::Md5, Algorithm::Sha256])
            .basic_first(),
    );
    let server = HostileServer::start_tls();
    server.script("/secret", vec![Step::serve(&res).require_digest(&authority)]);
    let q = HostileQueue::open(&[("ca_file", &ca_file())]);
    let (group, job) = start_with_credentials(&q, &server.url("/secret"), USER, PASSWORD);
    assert_downloaded(&q, &group, &job, "f.bin", &res.body, &server);
    assert_challenged_then_accepted(&authority.verdicts(), Algorithm::Sha256, 1, true);
}
