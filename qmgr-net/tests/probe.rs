//! `Transport::probe`: a `HEAD` through the same agent as a fetch (redirects, credentials of
//! the URL under D11, failures classified as a fetch's), and `file://` metadata (issue #15).

mod support;

use qmgr_core::hresult::win32;
use qmgr_core::model::{ErrorClass, Options, Validators};
use qmgr_core::rules::classify::classify;
use qmgr_core::transport::{Probe, TransferError, Transport};
use qmgr_net::NetTransport;
use support::{options, Reply, Server};

fn transport() -> NetTransport {
    NetTransport::new(&options()).unwrap()
}

fn failed(r: Result<Probe, qmgr_core::transport::Failure>) -> TransferError {
    classify(&r.expect_err("a failure"))
}

#[test]
fn a_head_gives_length_validators_ranges_and_the_disposition_name() {
    let server = Server::start(|req, _| match req.target.as_str() {
        "/old" => Reply::new(301).header("Location", "/file"),
        "/file" => Reply::new(200)
            .header("Content-Length", "123456")
            .header("ETag", "\"v7\"")
            .header("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT")
            .header("Accept-Ranges", "bytes")
            .header("Content-Disposition", "attachment; filename*=UTF-8''%E2%82%AC%20report.pdf"),
        "/hostile" => Reply::new(200)
            .header("Content-Length", "5")
            .header("Accept-Ranges", "none")
            .header("Content-Disposition", "attachment; filename=\"../../etc/passwd\""),
        _ => Reply::new(404),
    });
    let p = transport().probe(&server.url("/old")).unwrap();
    assert_eq!(
        p.validators,
        Validators {
            etag: Some("\"v7\"".into()),
            last_modified: Some("Mon, 01 Jan 2024 00:00:00 GMT".into()),
            total: Some(123_456)
        }
    );
    assert!(p.accepts_ranges);
    assert_eq!(p.file_name.as_deref(), Some("€ report.pdf"));
    let p = transport().probe(&server.url("/hostile")).unwrap();
    assert_eq!((p.validators.total, p.accepts_ranges), (Some(5), false));
    assert_eq!(p.file_name.as_deref(), Some("passwd"));
    let requests = server.requests();
    assert!(requests.iter().all(|r| r.method == "HEAD"), "{requests:?}");
    assert_eq!(requests.iter().map(|r| r.target.as_str()).collect::<Vec<_>>(), ["/old", "/file", "/hostile"]);
    assert!(requests.iter().all(|r| r.header("user-agent") == Some(qmgr_net::DEFAULT_USER_AGENT)));
}

#[test]
fn probe_failures_are_classified_as_a_fetch_s() {
    let server = Server::start(|req, _| match req.target.as_str() {
        "/busy" => Reply::new(503).header("Retry-After", "5"),
        "/loop" => Reply::new(302).header("Location", "/loop"),
        _ => Reply::new(404),
    });
    let e = failed(transport().probe(&server.url("/gone")));
    assert_eq!((e.class, e.http_status, e.win32), (ErrorClass::Fatal, 404, 0x8019_0194));
    assert!(e.message.contains("/gone"), "{}", e.message);
    assert_eq!(failed(transport().probe(&server.url("/busy"))).http_status, 503);
    assert_eq!(failed(transport().probe(&server.url("/loop"))).win32, win32::ERROR_WINHTTP_REDIRECT_FAILED);
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let e = failed(transport().probe(&format!("http://127.0.0.1:{port}/x")));
    assert_eq!(e.win32, win32::ERROR_WINHTTP_CANNOT_CONNECT);
    assert_eq!(failed(transport().probe("ftp://127.0.0.1/x")).class, ErrorClass::Fatal);
}

/// The URL's credentials go only in answer to a 401 (D11), in a Digest answer for `HEAD`.
#[test]
fn credentials_of_the_url_answer_a_challenge_only() {
    let server = Server::start(|req, _| match req.header("authorization") {
        None => Reply::new(401).header("WWW-Authenticate", "Digest realm=\"q\", nonce=\"n1\", qop=\"auth\""),
        Some(_) => Reply::new(200).header("Content-Length", "3"),
    });
    let t = NetTransport::new(&Options { allow_credentials_over_http: true, ..options() }).unwrap();
    let url = server.url("/secret").replacen("http://", "http://bob:pw123@", 1);
    assert_eq!(t.probe(&url).unwrap().validators.total, Some(3));
    let auth: Vec<Option<String>> =
        server.requests().iter().map(|r| r.header("authorization").map(str::to_string)).collect();
    assert_eq!(auth.len(), 2, "{auth:?}");
    assert_eq!(auth[0], None, "nothing before the challenge");
    let answer = auth[1].as_deref().unwrap();
    assert!(answer.starts_with("Digest ") && answer.contains("username=\"bob\""), "{answer}");
    assert!(!answer.contains("pw123"), "{answer}");
    // Without the http opt-in they are withheld: a fatal 401.
    let e = failed(transport().probe(&url));
    assert_eq!((e.class, e.http_status), (ErrorClass::Fatal, 401));
    assert!(!e.message.contains("pw123"), "{}", e.message);
}

#[test]
fn a_file_url_gives_size_and_modification_time() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("s.bin");
    std::fs::write(&source, vec![7u8; 4321]).unwrap();
    let p = transport().probe(&format!("file://{}", source.display())).unwrap();
    assert_eq!(p.validators.total, Some(4321));
    assert!(p.validators.last_modified.is_some() && p.validators.etag.is_none());
    assert!(p.accepts_ranges && p.file_name.is_none());
    let e = failed(transport().probe(&format!("file://{}", dir.path().join("missing").display())));
    assert_eq!(e.class, ErrorClass::Fatal);
}
