//! HTTPS: certificates verified against the system roots plus `ca_file`, https→http
//! redirects refused, credentials sent over https without the http opt-in (DECISIONS D5, D11).

mod support;

use qmgr_core::hresult::win32;
use qmgr_core::model::{ErrorClass, Options};
use qmgr_core::rules::classify::classify;
use qmgr_core::transport::{Credentials, FetchOutcome, Traffic};
use qmgr_net::NetTransport;
use support::{content, fetch_simple, fixture_ca, options, tls_config, Fetch, Mode, Reply, Server};

fn trusting() -> NetTransport {
    NetTransport::new(&Options { ca_file: fixture_ca(), ..options() }).unwrap()
}

#[test]
fn https_with_the_ca_file_downloads() {
    let body = content(500_000);
    let b = body.clone();
    let server = Server::start_with(Some(tls_config()), move |_, _| Reply::new(200).body(b.clone()));
    let dir = tempfile::tempdir().unwrap();
    let temp = dir.path().join("t");
    let outcome = fetch_simple(&trusting(), &server.url("/s"), &temp);
    assert!(matches!(outcome, FetchOutcome::Complete { bytes: 500_000, .. }), "{outcome:?}");
    assert_eq!(std::fs::read(&temp).unwrap(), body);
    // "localhost" matches the certificate's DNS name as well.
    let port = server.url("/").split(':').nth(2).unwrap().trim_end_matches('/').to_string();
    let outcome = fetch_simple(&trusting(), &format!("https://localhost:{port}/s"), &temp);
    assert!(matches!(outcome, FetchOutcome::Complete { .. }), "{outcome:?}");
}

#[test]
fn an_untrusted_certificate_is_fatal_12175() {
    let server = Server::start_with(Some(tls_config()), |_, _| Reply::new(200).body("x"));
    let dir = tempfile::tempdir().unwrap();
    let t = NetTransport::new(&options()).unwrap();
    let FetchOutcome::Failed(e) = fetch_simple(&t, &server.url("/s"), &dir.path().join("t")) else { panic!() };
    let e = classify(&e);
    assert_eq!(e.class, ErrorClass::Fatal);
    assert_eq!(e.win32, win32::ERROR_WINHTTP_SECURE_FAILURE);
    assert_eq!(e.http_status, 0);
    assert!(e.message.contains("certificate"), "{}", e.message);
}

#[test]
fn an_https_to_http_redirect_is_refused() {
    let plain = Server::start(|_, _| Reply::new(200).body("downgraded"));
    let target = plain.url("/p");
    let server = Server::start_with(Some(tls_config()), move |_, _| Reply::new(302).header("Location", target.clone()));
    let dir = tempfile::tempdir().unwrap();
    let FetchOutcome::Failed(e) = fetch_simple(&trusting(), &server.url("/s"), &dir.path().join("t")) else { panic!() };
    let e = classify(&e);
    assert_eq!((e.class, e.win32, e.http_status), (ErrorClass::Fatal, win32::ERROR_WINHTTP_REDIRECT_FAILED, 302));
    assert!(plain.requests().is_empty());
}

#[test]
fn credentials_go_over_https_after_a_challenge_and_then_pre_emptively() {
    let server =
        Server::start_with(Some(tls_config()), |req, _| match (req.target.as_str(), req.header("authorization")) {
            (_, None) => Reply::new(401).header("WWW-Authenticate", "Basic realm=\"r\""),
            ("/first", Some(_)) => Reply::new(302).header("Location", "/second"),
            (_, Some(_)) => Reply::new(200).body("ok"),
        });
    let dir = tempfile::tempdir().unwrap();
    let temp = dir.path().join("t");
    let mut f = Fetch { credentials: Some(Credentials { user: "a".into(), password: "b".into() }), ..Fetch::default() };
    let outcome = f.run(&trusting(), &server.url("/first"), &temp);
    assert!(matches!(outcome, FetchOutcome::Complete { bytes: 2, .. }), "{outcome:?}");
    let seen: Vec<(String, bool)> =
        server.requests().iter().map(|r| (r.target.clone(), r.header("authorization").is_some())).collect();
    assert_eq!(
        seen,
        [("/first".to_string(), false), ("/first".to_string(), true), ("/second".to_string(), true)],
        "one challenge, then credentials pre-emptively to the same origin"
    );
}

/// A body without Content-Length over TLS, 1 MiB of 3 MiB sent and then the connection
/// closed as `mode` says; fetched by the normal and by the idle agent.
fn tls_close(mode: Mode) -> Vec<(FetchOutcome, u64)> {
    let body = content(3 << 20);
    let server = Server::start_with(Some(tls_config()), move |_, _| Reply::new(200).body(body.clone()).mode(mode));
    let dir = tempfile::tempdir().unwrap();
    [Traffic::Foreground, Traffic::Idle]
        .into_iter()
        .map(|traffic| {
            let temp = dir.path().join(format!("{traffic:?}"));
            let outcome = Fetch { traffic, ..Fetch::default() }.run(&trusting(), &server.url("/c"), &temp);
            (outcome, std::fs::metadata(&temp).map(|m| m.len()).unwrap_or(0))
        })
        .collect()
}

#[test]
fn a_tls_close_without_close_notify_is_transient_not_complete() {
    // DECISIONS D15: rustls reports the missing close_notify as UnexpectedEof.
    for (outcome, held) in tls_close(Mode::UnframedNoNotify(1 << 20)) {
        let FetchOutcome::Failed(e) = outcome else { panic!("expected a failure, got {outcome:?}") };
        let e = classify(&e);
        assert_eq!((e.class, e.win32), (ErrorClass::Transient, win32::ERROR_WINHTTP_CONNECTION_ERROR), "{e:?}");
        assert!(held <= 1 << 20);
    }
}

#[test]
fn a_tls_close_with_close_notify_ends_a_body_without_content_length() {
    for (outcome, held) in tls_close(Mode::Unframed(1 << 20)) {
        assert!(matches!(outcome, FetchOutcome::Complete { bytes: 1_048_576, .. }), "{outcome:?}");
        assert_eq!(held, 1 << 20);
    }
}

#[test]
fn a_tls_reset_without_content_length_is_transient() {
    for (outcome, _) in tls_close(Mode::UnframedReset(1 << 20)) {
        let FetchOutcome::Failed(e) = outcome else { panic!("expected a failure, got {outcome:?}") };
        assert_eq!(classify(&e).class, ErrorClass::Transient);
    }
}
