//! HTTP transport against the in-process scripted server (DECISIONS D5, D11).

mod support;

use qmgr_core::hresult::win32;
use qmgr_core::model::{ErrorClass, Options, Validators};
use qmgr_core::rate::RateLimiter;
use qmgr_core::rules::classify::classify;
use qmgr_core::transport::{Credentials, FetchOutcome, Traffic, TransferError, Transport};
use qmgr_net::NetTransport;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{content, fetch_simple, options, static_file, Fetch, Mode, Reply, Server};

fn transport() -> NetTransport {
    NetTransport::new(&options()).unwrap()
}

/// The failure of `outcome`, classified by core's table (what the engine records).
fn failed(outcome: FetchOutcome) -> TransferError {
    match outcome {
        FetchOutcome::Failed(e) => classify(&e),
        other => panic!("expected a failure, got {other:?}"),
    }
}

fn complete(outcome: FetchOutcome) -> (u64, Validators) {
    match outcome {
        FetchOutcome::Complete { bytes, validators } => (bytes, validators),
        other => panic!("expected completion, got {other:?}"),
    }
}

#[test]
fn full_download_with_content_length() {
    let body = content(1_000_000);
    let server = Server::start(static_file(body.clone(), "\"v1\""));
    let dir = tempfile::tempdir().unwrap();
    let temp = dir.path().join(".f.part");
    let mut f = Fetch::default();
    let (bytes, v) = complete(f.run(&transport(), &server.url("/f"), &temp));
    assert_eq!(bytes, body.len() as u64);
    assert_eq!(v.total, Some(body.len() as u64));
    assert_eq!(v.etag.as_deref(), Some("\"v1\""));
    assert_eq!(std::fs::read(&temp).unwrap(), body);
    assert_eq!(f.recorder.starts.len(), 1);
    assert_eq!(f.recorder.starts[0].0, 0);
    assert_eq!(f.recorder.progress.last(), Some(&(body.len() as u64)));
    let req = &server.requests()[0];
    assert_eq!(req.method, "GET");
    assert_eq!(req.header("accept-encoding"), Some("identity"));
    assert_eq!(req.header("user-agent"), Some(qmgr_net::DEFAULT_USER_AGENT));
    assert_eq!(req.header("range"), None);
    assert_eq!(req.header("authorization"), None);
}

#[test]
fn chunked_download_without_content_length() {
    let body = content(300_000);
    let b = body.clone();
    let server = Server::start(move |_, _| Reply::new(200).body(b.clone()).mode(Mode::Chunked));
    let dir = tempfile::tempdir().unwrap();
    let temp = dir.path().join(".f.part");
    let (bytes, v) = complete(fetch_simple(&transport(), &server.url("/c"), &temp));
    assert_eq!(bytes, body.len() as u64);
    assert_eq!(v.total, Some(body.len() as u64), "total = bytes received");
    assert_eq!(std::fs::read(&temp).unwrap(), body);
}

#[test]
fn user_agent_option_is_sent() {
    let server = Server::start(|_, _| Reply::new(200).body("x"));
    let t = NetTransport::new(&Options { user_agent: "probe/1".into(), ..options() }).unwrap();
    let dir = tempfile::tempdir().unwrap();
    complete(fetch_simple(&t, &server.url("/"), &dir.path().join("t")));
    assert_eq!(server.requests()[0].header("user-agent"), Some("probe/1"));
}

#[test]
fn resume_sends_range_and_if_range_and_appends() {
    let body = content(200_000);
    let server = Server::start(static_file(body.clone(), "\"v1\""));
    let dir = tempfile::tempdir().unwrap();
    let temp = dir.path().join(".f.part");
    // 1000 good bytes, then bytes past the checkpoint that must be discarded.
    let mut held = body[..1000].to_vec();
    held.extend_from_slice(&[0xEE; 500]);
    std::fs::write(&temp, &held).unwrap();
    let mut f = Fetch {
        offset: 1000,
        validators: Validators { etag: Some("\"v1\"".into()), last_modified: None, total: Some(body.len() as u64) },
        ..Fetch::default()
    };
    let (bytes, _) = complete(f.run(&transport(), &server.url("/f"), &temp));
    assert_eq!(bytes, body.len() as u64);
    assert_eq!(std::fs::read(&temp).unwrap(), body);
    assert_eq!(f.recorder.starts[0].0, 1000);
    let req = &server.requests()[0];
    assert_eq!(req.header("range"), Some("bytes=1000-"));
    assert_eq!(req.header("if-range"), Some("\"v1\""));
}

#[test]
fn resume_with_weak_etag_sends_last_modified_and_without_validators_only_range() {
    let lm = "Wed, 21 Oct 2015 07:28:00 GMT";
    let body = content(5000);
    let b = body.clone();
    let server = Server::start(move |req, _| {
        let start: usize =
            req.header("range").unwrap().trim_start_matches("bytes=").trim_end_matches('-').parse().unwrap();
        Reply::new(206)
            .header("Last-Modified", lm)
            .header("Content-Range", format!("bytes {start}-{}/{}", b.len() - 1, b.len()))
            .body(b[start..].to_vec())
    });
    let dir = tempfile::tempdir().unwrap();
    let temp = dir.path().join(".f.part");
    std::fs::write(&temp, &body[..100]).unwrap();
    let mut f = Fetch {
        offset: 100,
        validators: Validators { etag: Some("W/\"weak\"".into()), last_modified: Some(lm.into()), total: None },
        ..Fetch::default()
    };
    let (_, v) = complete(f.run(&transport(), &server.url("/f"), &temp));
    assert_eq!(std::fs::read(&temp).unwrap(), body);
    assert_eq!(v.etag.as_deref(), Some("W/\"weak\""), "validators the 206 left out are kept");
    assert_eq!(v.last_modified.as_deref(), Some(lm));
    std::fs::write(&temp, &body[..100]).unwrap();
    let mut f = Fetch { offset: 100, ..Fetch::default() };
    complete(f.run(&transport(), &server.url("/f"), &temp));
    assert_eq!(std::fs::read(&temp).unwrap(), body);
    let reqs = server.requests();
    assert_eq!(reqs[0].header("if-range"), Some(lm));
    assert_eq!(reqs[1].header("range"), Some("bytes=100-"));
    assert_eq!(reqs[1].header("if-range"), None);
}

#[test]
fn a_200_to_a_ranged_request_restarts_from_zero() {
    let body = content(50_000);
    let b = body.clone();
    let server = Server::start(move |_, _| Reply::new(200).header("ETag", "\"v1\"").body(b.clone()));
    let dir = tempfile::tempdir().unwrap();
    let temp = dir.path().join(".f.part");
    std::fs::write(&temp, vec![0xAB; 20_000]).unwrap();
    let mut f = Fetch {
        offset: 20_000,
        validators: Validators { etag: Some("\"v1\"".into()), ..Validators::default() },
        ..Fetch::default()
    };
    let (bytes, _) = complete(f.run(&transport(), &server.url("/f"), &temp));
    assert_eq!(bytes, body.len() as u64);
    assert_eq!(std::fs::read(&temp).unwrap(), body, "the file is exactly the 200 body");
    assert_eq!(f.recorder.starts[0].0, 0);
    assert_eq!(server.requests()[0].header("range"), Some("bytes=20000-"));
}

#[test]
fn a_changed_etag_restarts_without_range() {
    let body = content(40_000);
    let b = body.clone();
    // A broken server that answers 206 although the ETag changed; non-ranged gets 200.
    let server = Server::start(move |req, _| {
        let r = Reply::new(if req.header("range").is_some() { 206 } else { 200 }).header("ETag", "\"v2\"");
        match req.header("range") {
            Some(_) => {
                r.header("Content-Range", format!("bytes 1000-{}/{}", b.len() - 1, b.len())).body(b[1000..].to_vec())
            }
            None => r.body(b.clone()),
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let temp = dir.path().join(".f.part");
    std::fs::write(&temp, vec![0x11; 1000]).unwrap();
    let mut f = Fetch {
        offset: 1000,
        validators: Validators { etag: Some("\"v1\"".into()), total: Some(body.len() as u64), ..Validators::default() },
        ..Fetch::default()
    };
    let (_, v) = complete(f.run(&transport(), &server.url("/f"), &temp));
    assert_eq!(v.etag.as_deref(), Some("\"v2\""));
    assert_eq!(std::fs::read(&temp).unwrap(), body);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[1].header("range"), None);
    assert_eq!(reqs[1].header("if-range"), None);
    assert_eq!(f.recorder.starts.iter().map(|s| s.0).collect::<Vec<_>>(), vec![0]);
}

#[test]
fn a_206_at_the_wrong_offset_restarts_with_a_fresh_get() {
    let body = content(10_000);
    let b = body.clone();
    let server = Server::start(move |req, _| match req.header("range") {
        Some(_) => {
            Reply::new(206).header("Content-Range", format!("bytes 0-{}/{}", b.len() - 1, b.len())).body(b.clone())
        }
        None => Reply::new(200).body(b.clone()),
    });
    let dir = tempfile::tempdir().unwrap();
    let temp = dir.path().join(".f.part");
    std::fs::write(&temp, &body[..500]).unwrap();
    let mut f = Fetch { offset: 500, ..Fetch::default() };
    complete(f.run(&transport(), &server.url("/f"), &temp));
    assert_eq!(std::fs::read(&temp).unwrap(), body);
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn a_server_capping_ranges_is_asked_for_the_rest() {
    let body = content(10_000);
    let b = body.clone();
    // Every answer is at most 3000 bytes long, even from zero.
    let server = Server::start(move |req, _| {
        let start: usize =
            req.header("range").map_or(0, |r| r.trim_start_matches("bytes=").trim_end_matches('-').parse().unwrap());
        let end = (start + 3000).min(b.len()) - 1;
        Reply::new(206)
            .header("ETag", "\"c\"")
            .header("Content-Range", format!("bytes {start}-{end}/{}", b.len()))
            .body(b[start..=end].to_vec())
    });
    let dir = tempfile::tempdir().unwrap();
    let temp = dir.path().join(".f.part");
    let mut f = Fetch::default();
    let (bytes, _) = complete(f.run(&transport(), &server.url("/f"), &temp));
    assert_eq!(bytes, 10_000);
    assert_eq!(std::fs::read(&temp).unwrap(), body);
    let ranges: Vec<Option<String>> = server.requests().iter().map(|r| r.header("range").map(str::to_string)).collect();
    assert_eq!(ranges, [None, Some("bytes=3000-".into()), Some("bytes=6000-".into()), Some("bytes=9000-".into())]);
    assert_eq!(server.requests()[3].header("if-range"), Some("\"c\""));
    assert_eq!(f.recorder.starts.iter().map(|s| s.0).collect::<Vec<_>>(), [0, 3000, 6000, 9000]);
}

#[test]
fn a_416_confirming_the_held_length_is_complete() {
    let body = content(4096);
    let server = Server::start(static_file(body.clone(), "\"v1\""));
    let dir = tempfile::tempdir().unwrap();
    let temp = dir.path().join(".f.part");
    std::fs::write(&temp, &body).unwrap();
    let mut f = Fetch {
        offset: body.len() as u64,
        validators: Validators { etag: Some("\"v1\"".into()), ..Validators::default() },
        ..Fetch::default()
    };
    let (bytes, v) = complete(f.run(&transport(), &server.url("/f"), &temp));
    assert_eq!(bytes, 4096);
    assert_eq!(v.total, Some(4096));
    assert_eq!(std::fs::read(&temp).unwrap(), body);
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn a_404_is_fatal_with_the_http_hresult() {
    let server = Server::start(|_, _| Reply::new(404).body("no"));
    let dir = tempfile::tempdir().unwrap();
    let url = server.url("/missing");
    let e = failed(fetch_simple(&transport(), &url, &dir.path().join("t")));
    assert_eq!(e.class, ErrorClass::Fatal);
    assert_eq!(e.win32, 0x8019_0194);
    assert_eq!(e.http_status, 404);
    assert!(e.message.contains(&url), "{}", e.message);
}

#[test]
fn a_503_with_retry_after_is_transient() {
    let server = Server::start(|_, _| Reply::new(503).header("Retry-After", "7"));
    let dir = tempfile::tempdir().unwrap();
    let e = failed(fetch_simple(&transport(), &server.url("/busy"), &dir.path().join("t")));
    assert_eq!(e.class, ErrorClass::Transient);
    assert_eq!(e.http_status, 503);
    assert_eq!(e.win32, 0x8019_01F7);
    assert_eq!(e.retry_after, Some(Duration::from_secs(7)));
}

#[test]
fn connection_refused_is_transient_cannot_connect() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let e = failed(fetch_simple(&transport(), &format!("http://127.0.0.1:{port}/x"), &dir.path().join("t")));
    assert_eq!(e.class, ErrorClass::Transient);
    assert_eq!(e.win32, win32::ERROR_WINHTTP_CANNOT_CONNECT);
    assert_eq!(e.http_status, 0);
}

#[test]
fn a_short_body_is_transient_and_keeps_what_arrived() {
    let body = content(100_000);
    let b = body.clone();
    let server = Server::start(move |_, _| Reply::new(200).body(b.clone()).mode(Mode::Short(30_000)));
    let dir = tempfile::tempdir().unwrap();
    let temp = dir.path().join("t");
    let mut f = Fetch::default();
    let e = failed(f.run(&transport(), &server.url("/short"), &temp));
    assert_eq!(e.class, ErrorClass::Transient);
    assert_eq!(e.win32, win32::ERROR_WINHTTP_CONNECTION_ERROR);
    let reported = f.recorder.progress.last().copied().unwrap_or(0);
    assert!(reported <= 30_000);
    let held = std::fs::read(&temp).unwrap();
    assert_eq!(held.len() as u64, reported, "every reported byte is in the file");
    assert_eq!(held, body[..held.len()]);
}

#[test]
fn a_stalled_body_times_out_after_the_read_timeout() {
    let body = content(100_000);
    let b = body.clone();
    let server = Server::start(move |_, _| Reply::new(200).body(b.clone()).mode(Mode::Stall(1000)));
    let t = NetTransport::new(&Options { read_timeout_ms: 300, ..options() }).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let e = failed(fetch_simple(&t, &server.url("/stall"), &dir.path().join("t")));
    assert_eq!(e.class, ErrorClass::Transient);
    assert_eq!(e.win32, win32::ERROR_WINHTTP_TIMEOUT, "{}", e.message);
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
}

#[test]
fn a_slow_body_is_not_cut_by_any_total_timeout() {
    // 8 pieces, each within the read timeout, together longer than it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf);
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n").unwrap();
        for i in 0..8u8 {
            // A trickling server: 1 byte every 100 ms.
            std::thread::sleep(Duration::from_millis(100));
            s.write_all(&[i]).unwrap();
        }
    });
    let t = NetTransport::new(&Options { read_timeout_ms: 400, ..options() }).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let temp = dir.path().join("t");
    let (bytes, _) = complete(fetch_simple(&t, &format!("http://{addr}/slow"), &temp));
    assert_eq!(bytes, 8);
    assert_eq!(std::fs::read(&temp).unwrap(), (0..8u8).collect::<Vec<_>>());
}

#[test]
fn a_redirect_chain_is_followed() {
    let body = content(1234);
    let b = body.clone();
    let server = Server::start(move |req, _| match req.target.as_str() {
        "/a" => Reply::new(302).header("Location", "/dir/b"),
        "/dir/b" => Reply::new(301).header("Location", "c?x=1"),
        "/dir/c?x=1" => Reply::new(307).header("Location", "../final"),
        "/final" => Reply::new(200).body(b.clone()),
        _ => Reply::new(404),
    });
    let dir = tempfile::tempdir().unwrap();
    let temp = dir.path().join("t");
    complete(fetch_simple(&transport(), &server.url("/a"), &temp));
    assert_eq!(std::fs::read(&temp).unwrap(), body);
    let targets: Vec<String> = server.requests().into_iter().map(|r| r.target).collect();
    assert_eq!(targets, ["/a", "/dir/b", "/dir/c?x=1", "/final"]);
}

#[test]
fn redirects_keep_the_range_headers() {
    let body = content(3000);
    let file = static_file(body.clone(), "\"e\"");
    let server =
        Server::start(
            move |req, i| {
                if req.target == "/a" {
                    Reply::new(308).header("Location", "/b")
                } else {
                    file(req, i)
                }
            },
        );
    let dir = tempfile::tempdir().unwrap();
    let temp = dir.path().join("t");
    std::fs::write(&temp, &body[..10]).unwrap();
    let mut f = Fetch {
        offset: 10,
        validators: Validators { etag: Some("\"e\"".into()), ..Default::default() },
        ..Fetch::default()
    };
    complete(f.run(&transport(), &server.url("/a"), &temp));
    assert_eq!(std::fs::read(&temp).unwrap(), body);
    let reqs = server.requests();
    assert_eq!(reqs[1].header("range"), Some("bytes=10-"));
    assert_eq!(reqs[1].header("if-range"), Some("\"e\""));
}

#[test]
fn a_redirect_loop_is_fatal_12156() {
    let server = Server::start(|req, _| match req.target.as_str() {
        "/a" => Reply::new(302).header("Location", "/b"),
        _ => Reply::new(301).header("Location", "/a"),
    });
    let dir = tempfile::tempdir().unwrap();
    let e = failed(fetch_simple(&transport(), &server.url("/a"), &dir.path().join("t")));
    assert_eq!(e.class, ErrorClass::Fatal);
    assert_eq!(e.win32, win32::ERROR_WINHTTP_REDIRECT_FAILED);
    assert_eq!(e.http_status, 301, "the last 3xx status");
    assert!(e.message.contains("loop"), "{}", e.message);
}

#[test]
fn an_eleventh_redirect_is_fatal() {
    let server = Server::start(|req, _| {
        let n: u32 = req.target.trim_start_matches('/').parse().unwrap();
        Reply::new(302).header("Location", format!("/{}", n + 1))
    });
    let dir = tempfile::tempdir().unwrap();
    let e = failed(fetch_simple(&transport(), &server.url("/0"), &dir.path().join("t")));
    assert_eq!((e.class, e.win32, e.http_status), (ErrorClass::Fatal, win32::ERROR_WINHTTP_REDIRECT_FAILED, 302));
    assert_eq!(server.requests().len(), 11, "the original request and 10 followed redirects");
}

#[test]
fn credentials_are_withheld_over_plain_http() {
    let server = Server::start(|_, _| Reply::new(401).header("WWW-Authenticate", "Basic realm=\"q\""));
    let dir = tempfile::tempdir().unwrap();
    let mut f =
        Fetch { credentials: Some(Credentials { user: "u".into(), password: "hunter2".into() }), ..Fetch::default() };
    let e = failed(f.run(&transport(), &server.url("/p"), &dir.path().join("t")));
    assert_eq!(e.class, ErrorClass::Fatal);
    assert_eq!(e.http_status, 401);
    assert_eq!(e.win32, 0x8019_0191);
    assert!(e.message.contains("withheld"), "{}", e.message);
    assert!(!e.message.contains("hunter2"));
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].header("authorization"), None);
}

#[test]
fn credentials_answer_a_basic_challenge_when_allowed_over_http() {
    let expected = "Basic dXNlcjpwYXNz"; // user:pass
    let server = Server::start(move |req, _| match req.header("authorization") {
        Some(a) if a == expected => Reply::new(200).body("secret data"),
        _ => Reply::new(401).header("WWW-Authenticate", "Basic realm=\"q\""),
    });
    let t = NetTransport::new(&Options { allow_credentials_over_http: true, ..options() }).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let temp = dir.path().join("t");
    let mut f =
        Fetch { credentials: Some(Credentials { user: "user".into(), password: "pass".into() }), ..Fetch::default() };
    complete(f.run(&t, &server.url("/p"), &temp));
    assert_eq!(std::fs::read(&temp).unwrap(), b"secret data");
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].header("authorization"), None, "no credentials before a challenge");
    assert_eq!(reqs[1].header("authorization"), Some(expected));
}

#[test]
fn configure_changes_the_credential_policy() {
    let server = Server::start(|req, _| match req.header("authorization") {
        Some(_) => Reply::new(200).body("ok"),
        None => Reply::new(401).header("WWW-Authenticate", "Basic realm=\"q\""),
    });
    let t = transport();
    let dir = tempfile::tempdir().unwrap();
    let creds = Some(Credentials { user: "a".into(), password: "b".into() });
    let mut f = Fetch { credentials: creds.clone(), ..Fetch::default() };
    failed(f.run(&t, &server.url("/p"), &dir.path().join("t")));
    t.configure(&Options { allow_credentials_over_http: true, ..options() }).unwrap();
    let mut f = Fetch { credentials: creds, ..Fetch::default() };
    complete(f.run(&t, &server.url("/p"), &dir.path().join("t")));
}

#[test]
fn rejected_credentials_and_unknown_schemes_are_fatal_401() {
    let server = Server::start(|req, _| match req.target.as_str() {
        "/digest" => Reply::new(401).header("WWW-Authenticate", "Digest realm=\"q\", nonce=\"n\""),
        "/ntlm" => Reply::new(401).header("WWW-Authenticate", "NTLM"),
        _ => Reply::new(401).header("WWW-Authenticate", "Basic realm=\"q\""),
    });
    let t = NetTransport::new(&Options { allow_credentials_over_http: true, ..options() }).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let creds = Some(Credentials { user: "a".into(), password: "b".into() });
    for (path, says) in [("/basic", "refused"), ("/digest", "refused"), ("/ntlm", "other than Basic or Digest")] {
        let mut f = Fetch { credentials: creds.clone(), ..Fetch::default() };
        let e = failed(f.run(&t, &server.url(path), &dir.path().join("t")));
        assert_eq!((e.class, e.http_status), (ErrorClass::Fatal, 401), "{path}");
        assert!(e.message.contains(says), "{path}: {}", e.message);
    }
    let sent: Vec<Option<String>> = server
        .requests()
        .iter()
        .filter(|r| r.target == "/digest")
        .map(|r| r.header("authorization").map(|a| a.split(' ').next().unwrap_or("").to_string()))
        .collect();
    assert_eq!(sent, [None, Some("Digest".to_string())], "a Digest challenge is answered once");
    let e = failed(fetch_simple(&t, &server.url("/none"), &dir.path().join("t")));
    assert_eq!(e.http_status, 401);
}

#[test]
fn cancel_from_the_observer_stops_the_transfer() {
    let body = content(2_000_000);
    let b = body.clone();
    let server = Server::start(move |_, _| Reply::new(200).body(b.clone()));
    let dir = tempfile::tempdir().unwrap();
    let temp = dir.path().join("t");
    let mut f = Fetch::default();
    f.recorder.cancel_after = Some((1, f.cancel.clone()));
    let outcome = f.run(&transport(), &server.url("/big"), &temp);
    assert_eq!(outcome, FetchOutcome::Cancelled);
    let reported = *f.recorder.progress.last().unwrap();
    assert!(reported < body.len() as u64);
    assert_eq!(std::fs::metadata(&temp).unwrap().len(), reported);
}

#[test]
fn cancel_is_honoured_while_the_server_stalls() {
    let body = content(100_000);
    let b = body.clone();
    let server = Server::start(move |_, _| Reply::new(200).body(b.clone()).mode(Mode::Stall(10_000)));
    let t = NetTransport::new(&Options { read_timeout_ms: 60_000, ..options() }).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let temp = dir.path().join("t");
    let mut f = Fetch::default();
    let cancel = f.cancel.clone();
    let seen = Arc::new(AtomicU64::new(0));
    let watcher = {
        let seen = seen.clone();
        let temp = temp.clone();
        std::thread::spawn(move || {
            // Wait (bounded) until the first 10,000 bytes are in the file, then cancel.
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if std::fs::metadata(&temp).map(|m| m.len()).unwrap_or(0) >= 10_000 {
                    break;
                }
                std::thread::yield_now();
            }
            seen.store(1, Ordering::SeqCst);
            let at = Instant::now();
            cancel.cancel();
            at
        })
    };
    let outcome = f.run(&t, &server.url("/stall"), &temp);
    let returned = Instant::now();
    let cancelled_at = watcher.join().unwrap();
    assert_eq!(outcome, FetchOutcome::Cancelled);
    assert_eq!(seen.load(Ordering::SeqCst), 1);
    let lag = returned.saturating_duration_since(cancelled_at);
    assert!(lag < Duration::from_millis(500), "cancel took {lag:?}");
}

/// Every chunk is taken from the transfer's throttle before it is written: a background
/// transfer from the shared bucket and its group's, a foreground one from its group's only.
#[test]
fn transfers_take_from_the_buckets_that_bind_them() {
    let body = content(64 * 1024);
    let b = body.clone();
    let server = Server::start(move |_, _| Reply::new(200).body(b.clone()));
    let dir = tempfile::tempdir().unwrap();
    let temp = dir.path().join("t");
    // 1 byte/s: the first chunk cannot be had; cancelling releases the wait.
    let held = |f: &mut Fetch, path: &str| {
        let cancel = f.cancel.clone();
        let url = server.url(path);
        let before = server.requests().len();
        let outcome = std::thread::scope(|s| {
            s.spawn(|| {
                // Cancel once the server has answered (bounded wait).
                let deadline = Instant::now() + Duration::from_secs(10);
                while server.requests().len() == before && Instant::now() < deadline {
                    std::thread::yield_now();
                }
                cancel.cancel();
            });
            f.run(&transport(), &url, &temp)
        });
        assert_eq!(outcome, FetchOutcome::Cancelled, "{path}");
        assert!(f.recorder.progress.is_empty(), "{path}: nothing written without tokens");
    };
    held(&mut Fetch { traffic: Traffic::Background, limiter: RateLimiter::new(1), ..Fetch::default() }, "/bg");
    held(&mut Fetch { traffic: Traffic::Idle, group_limiter: RateLimiter::new(1), ..Fetch::default() }, "/idle-group");
    held(
        &mut Fetch { traffic: Traffic::Foreground, group_limiter: RateLimiter::new(1), ..Fetch::default() },
        "/fg-group",
    );
    // Foreground ignores the shared bucket.
    let mut f = Fetch { traffic: Traffic::Foreground, limiter: RateLimiter::new(1), ..Fetch::default() };
    complete(f.run(&transport(), &server.url("/fg"), &temp));
}

/// DECISIONS D14: idle-mode transfers run on connections of their own, which the transport
/// measures (bytes received, the interface) and clamps; other transfers are not measured.
#[test]
fn idle_transfers_are_measured_and_clamped() {
    let body = content(300 * 1024);
    let b = body.clone();
    let server = Server::start(move |_, _| Reply::new(200).body(b.clone()));
    let dir = tempfile::tempdir().unwrap();
    let temp = dir.path().join("t");
    let t = transport();
    t.set_idle_window(64 * 1024);
    let mut f = Fetch { traffic: Traffic::Foreground, ..Fetch::default() };
    complete(f.run(&t, &server.url("/fg"), &temp));
    let s = t.idle_sample().unwrap();
    assert_eq!((s.connections, s.received), (0, 0), "a foreground transfer is not an idle one: {s:?}");
    let mut f = Fetch { traffic: Traffic::Idle, ..Fetch::default() };
    complete(f.run(&t, &server.url("/idle"), &temp));
    assert_eq!(std::fs::read(&temp).unwrap(), body);
    let s = t.idle_sample().unwrap();
    assert!(s.received >= body.len() as u64, "{s:?}");
    assert_eq!(s.interface.as_ref().map(|(name, _)| name.as_str()), Some("lo"), "{s:?}");
    assert!(s.interface.unwrap().1 > 0);
    // A second idle transfer reuses the pooled idle connection (kept alive).
    let mut f = Fetch { traffic: Traffic::Idle, ..Fetch::default() };
    complete(f.run(&t, &server.url("/idle2"), &temp));
    let s2 = t.idle_sample().unwrap();
    assert!(s2.received >= s.received + body.len() as u64, "{s2:?}");
    assert!(s2.connections <= 1, "{s2:?}");
}

#[test]
fn an_unreachable_server_or_bad_scheme_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let e = failed(fetch_simple(&transport(), "gopher://x/y", &dir.path().join("t")));
    assert_eq!((e.class, e.win32), (ErrorClass::Fatal, win32::ERROR_WINHTTP_UNRECOGNIZED_SCHEME));
    // A port on 127.0.0.1 that nobody listens on: no test resolves a name other than
    // localhost (a DNS lookup leaves the machine); the name-not-resolved case is a row of
    // qmgr-core's classification table.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let e = failed(fetch_simple(&transport(), &format!("http://127.0.0.1:{port}/x"), &dir.path().join("t")));
    assert_eq!((e.class, e.win32), (ErrorClass::Transient, win32::ERROR_WINHTTP_CANNOT_CONNECT), "{}", e.message);
}

#[test]
fn a_missing_temp_directory_is_a_fatal_local_error() {
    let server = Server::start(|_, _| Reply::new(200).body("x"));
    let dir = tempfile::tempdir().unwrap();
    let temp = dir.path().join("gone").join("t");
    let e = failed(fetch_simple(&transport(), &server.url("/"), &temp));
    assert_eq!((e.class, e.win32), (ErrorClass::Fatal, win32::ERROR_PATH_NOT_FOUND));
    assert!(e.message.contains(&temp.display().to_string()), "{}", e.message);
}

// End of body (DECISIONS D15): complete only with proof — Content-Length reached, the chunked
// terminator read, or a clean close (FIN) of a close-delimited body. The rest is transient.

/// Runs `mode` (a 3 MiB body, 1 MiB sent) on the normal and on the idle agent.
fn cut_body(mode: Mode) -> Vec<(FetchOutcome, u64)> {
    let body = content(3 << 20);
    let server = Server::start(move |_, _| Reply::new(200).body(body.clone()).mode(mode));
    let dir = tempfile::tempdir().unwrap();
    [Traffic::Foreground, Traffic::Idle]
        .into_iter()
        .map(|traffic| {
            let temp = dir.path().join(format!("{traffic:?}"));
            let mut f = Fetch { traffic, ..Fetch::default() };
            let outcome = f.run(&transport(), &server.url("/cut"), &temp);
            let held = std::fs::metadata(&temp).map(|m| m.len()).unwrap_or(0);
            (outcome, held)
        })
        .collect()
}

/// Each result failed with a transient "connection lost" and holds at most `sent` bytes.
fn assert_transient_reset(results: Vec<(FetchOutcome, u64)>, sent: u64) {
    for (outcome, held) in results {
        let e = failed(outcome);
        assert_eq!(e.class, ErrorClass::Transient, "{e:?}");
        assert_eq!(e.win32, win32::ERROR_WINHTTP_CONNECTION_ERROR, "{e:?}");
        assert!(held <= sent, "held {held}");
    }
}

#[test]
fn a_reset_without_content_length_is_transient_not_complete() {
    assert_transient_reset(cut_body(Mode::UnframedReset(1 << 20)), 1 << 20);
}

#[test]
fn a_reset_with_content_length_is_transient() {
    assert_transient_reset(cut_body(Mode::Reset(1 << 20)), 1 << 20);
}

#[test]
fn a_clean_close_without_content_length_is_complete_with_exactly_what_arrived() {
    for (outcome, held) in cut_body(Mode::Unframed(1 << 20)) {
        let (bytes, v) = complete(outcome);
        assert_eq!((bytes, held), (1 << 20, 1 << 20));
        assert_eq!(v.total, Some(1 << 20));
    }
}

#[test]
fn a_chunked_body_cut_inside_a_chunk_is_transient() {
    assert_transient_reset(cut_body(Mode::ChunkedCut((1 << 20) + 100)), (1 << 20) + 100);
}

#[test]
fn a_chunked_body_without_its_terminator_is_transient() {
    assert_transient_reset(cut_body(Mode::ChunkedCut(1 << 20)), 1 << 20);
}

#[test]
fn a_short_body_with_content_length_is_transient_on_both_agents() {
    assert_transient_reset(cut_body(Mode::Short(1 << 20)), 1 << 20);
}

#[test]
fn a_bad_chunk_size_is_an_error_not_an_end() {
    let server = Server::start(|_, _| {
        let raw = b"10\r\n0123456789abcdef\r\nzz\r\nmore\r\n0\r\n\r\n".to_vec();
        Reply::new(200).header("Transfer-Encoding", "chunked").body(raw).mode(Mode::Unframed(usize::MAX))
    });
    let dir = tempfile::tempdir().unwrap();
    let e = failed(fetch_simple(&transport(), &server.url("/bad"), &dir.path().join("t")));
    assert_eq!((e.class, e.win32), (ErrorClass::Transient, win32::ERROR_WINHTTP_INVALID_SERVER_RESPONSE), "{e:?}");
}

#[test]
fn bytes_past_the_content_length_are_not_taken() {
    let body = content(2_000);
    let b = body.clone();
    let server = Server::start(move |_, _| {
        Reply::new(200).header("Content-Length", "1000").body(b.clone()).mode(Mode::Unframed(usize::MAX))
    });
    let dir = tempfile::tempdir().unwrap();
    let temp = dir.path().join("t");
    let (bytes, v) = complete(fetch_simple(&transport(), &server.url("/long"), &temp));
    assert_eq!((bytes, v.total), (1_000, Some(1_000)));
    assert_eq!(std::fs::read(&temp).unwrap(), body[..1_000]);
}

/// No temporary file before the first body byte (issue #15): a 404, a refused connection and
/// a 500 with a body leave the directory empty; an empty `200` body completes with an empty
/// temporary file (there is a file to commit); a kept temporary file is not removed by a
/// failure.
#[test]
fn no_temporary_file_before_the_first_body_byte() {
    let server = Server::start(|req, _| match req.target.as_str() {
        "/empty" => Reply::new(200).header("ETag", "\"e\""),
        "/error" => Reply::new(500).body("an error page, not the file"),
        _ => Reply::new(404).body("not found"),
    });
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://127.0.0.1:{}/x", l.local_addr().unwrap().port())
    };
    let dir = tempfile::tempdir().unwrap();
    let temp = dir.path().join(".f.qmgr-part");
    let listing = || std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect::<Vec<_>>();
    for url in [server.url("/gone"), refused, server.url("/error")] {
        let e = failed(fetch_simple(&transport(), &url, &temp));
        assert_ne!(e.win32, 0, "{url}: {}", e.message);
        assert!(listing().is_empty(), "{url} left {:?}", listing());
    }
    // A checkpoint without its temporary file (it was removed) is nothing held: no file either.
    let mut f = Fetch { offset: 10, ..Fetch::default() };
    failed(f.run(&transport(), &server.url("/gone"), &temp));
    assert!(listing().is_empty(), "{:?}", listing());

    let (bytes, _) = complete(fetch_simple(&transport(), &server.url("/empty"), &temp));
    assert_eq!(bytes, 0);
    assert_eq!(std::fs::read(&temp).unwrap(), b"", "an empty file is created to be committed");

    std::fs::write(&temp, b"kept bytes").unwrap();
    let mut f = Fetch { offset: 4, ..Fetch::default() };
    failed(f.run(&transport(), &server.url("/gone"), &temp));
    assert_eq!(std::fs::read(&temp).unwrap(), b"kept", "a kept file stays, cut to its checkpoint");
}
