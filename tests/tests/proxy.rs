//! Transfers through an HTTP proxy (issue #15, bug 2): plain `http://` in absolute form, never
//! `CONNECT` (a proxy configured as squid is by default refuses `CONNECT` to other ports than
//! 443); `https://` through a `CONNECT` tunnel; the proxy's credentials only to the proxy; a
//! failure at the proxy names the proxy, with WinHTTP's code (DECISIONS D5, D11).

#![forbid(unsafe_code)]

use std::time::Duration;

use qmgr_rs::hresult::win32;
use qmgr_rs::model::{status, GroupState};
use qmgr_tests::hostile::{
    assert_downloaded, ca_file, closed_port, pattern, HostileQueue, HostileServer, Resource, Step,
};
use qmgr_tests::proxy::ForwardProxy;
use qmgr_tests::wait_until;

const SETTLE: Duration = Duration::from_secs(30);

#[test]
fn plain_http_goes_through_the_proxy_in_absolute_form_not_connect() {
    let res = Resource::new(pattern(300_000, 1)).etag("\"p1\"");
    let server = HostileServer::start();
    server.script("/f.bin", vec![Step::serve(&res)]);
    let proxy = ForwardProxy::start(&[443]);
    let q = HostileQueue::open(&[("proxy", &proxy.url(None))]);
    let (group, job) = q.start(&[(&server.url("/f.bin"), "f.bin")]);
    assert_downloaded(&q, &group, &job, "f.bin", &res.body, &server);
    let seen = proxy.requests();
    assert!(!seen.is_empty(), "the proxy saw no request");
    for r in &seen {
        assert_eq!((r.method.as_str(), r.target.as_str()), ("GET", server.url("/f.bin").as_str()), "{seen:?}");
        assert_eq!(r.outcome, "forwarded", "{seen:?}");
        assert_eq!(r.proxy_authorization, None);
    }
    // The origin got the request from the proxy, in origin form.
    assert!(server.requests().iter().all(|r| r.target == "/f.bin"), "{}", server.describe());
}

#[test]
fn a_resumed_transfer_through_the_proxy_sends_its_range() {
    let res = Resource::new(pattern(400_000, 2)).etag("\"p2\"");
    let server = HostileServer::start();
    server.script("/f.bin", vec![Step::serve(&res).reset_after(150_000), Step::serve(&res)]);
    let proxy = ForwardProxy::start(&[443]);
    let q = HostileQueue::open(&[("proxy", &proxy.url(None))]);
    let (group, job) = q.start(&[(&server.url("/f.bin"), "f.bin")]);
    assert_downloaded(&q, &group, &job, "f.bin", &res.body, &server);
    let reqs = server.requests_to("/f.bin");
    assert_eq!(reqs.len(), 2, "{}", server.describe());
    assert!(reqs[1].range_start().is_some_and(|s| s > 0), "a ranged second request: {}", server.describe());
    assert_eq!(reqs[1].header("if-range"), Some("\"p2\""));
}

#[test]
fn the_proxy_credentials_go_to_the_proxy_only() {
    let res = Resource::new(pattern(50_000, 3));
    let server = HostileServer::start();
    server.script("/f.bin", vec![Step::serve(&res)]);
    let proxy = ForwardProxy::start(&[443]);
    let q = HostileQueue::open(&[("proxy", &proxy.url(Some(("pxuser", "px-secret"))))]);
    let (group, job) = q.start(&[(&server.url("/f.bin"), "f.bin")]);
    assert_downloaded(&q, &group, &job, "f.bin", &res.body, &server);
    // base64("pxuser:px-secret")
    let expected = "Basic cHh1c2VyOnB4LXNlY3JldA==";
    assert!(
        proxy.requests().iter().all(|r| r.proxy_authorization.as_deref() == Some(expected)),
        "{:?}",
        proxy.requests()
    );
    for r in server.requests() {
        assert_eq!(r.header("proxy-authorization"), None, "{}", server.describe());
        assert_eq!(r.header("authorization"), None, "{}", server.describe());
    }
}

#[test]
fn https_goes_through_a_connect_tunnel() {
    let res = Resource::new(pattern(80_000, 4));
    let server = HostileServer::start_tls();
    server.script("/f.bin", vec![Step::serve(&res)]);
    let port = server.url("/").rsplit(':').next().and_then(|p| p.trim_end_matches('/').parse::<u16>().ok());
    let port = port.expect("the TLS server's port");
    let proxy = ForwardProxy::start(&[port]);
    let q = HostileQueue::open(&[("proxy", &proxy.url(None)), ("ca_file", &ca_file())]);
    let (group, job) = q.start(&[(&server.url("/f.bin"), "f.bin")]);
    assert_downloaded(&q, &group, &job, "f.bin", &res.body, &server);
    let seen = proxy.requests();
    assert!(!seen.is_empty());
    for r in &seen {
        assert_eq!((r.method.as_str(), r.target.as_str()), ("CONNECT", format!("127.0.0.1:{port}").as_str()));
        assert_eq!(r.outcome, "tunnelled");
    }
}

/// Waits for two failed attempts of the group's only job; its error message then.
fn transient_error_naming(q: &HostileQueue, url: &str) -> String {
    let (group, job) = q.start(&[(url, "f.bin")]);
    let mut st = job.status().unwrap();
    assert!(
        wait_until(SETTLE, || {
            st = job.status().unwrap();
            st.num_of_retries >= 2
        }),
        "two failed attempts: {st:?}"
    );
    assert_eq!(group.state().unwrap(), GroupState::Running, "still retrying (transient)");
    assert_eq!(st.status, status::JOB_INCOMPLETE);
    assert_eq!((st.win32_result, st.transport_result), (win32::ERROR_WINHTTP_CANNOT_CONNECT, 0));
    let message = job.error_message().unwrap().expect("the transient error's message");
    group.cancel().unwrap();
    assert!(!q.path("f.bin").exists());
    message
}

#[test]
fn a_proxy_that_is_down_is_named_in_the_error() {
    let server = HostileServer::start();
    let proxy_port = closed_port();
    let q = HostileQueue::open(&[("proxy", &format!("http://127.0.0.1:{proxy_port}"))]);
    let url = server.url("/f.bin");
    let message = transient_error_naming(&q, &url);
    assert!(message.contains(&format!("proxy http://127.0.0.1:{proxy_port}")), "{message}");
    assert!(message.starts_with("cannot connect to proxy"), "{message}");
    assert!(server.requests().is_empty(), "nothing reached the origin: {}", server.describe());
}

#[test]
fn a_refused_connect_is_named_in_the_error() {
    let server = HostileServer::start_tls();
    let proxy = ForwardProxy::start(&[443]);
    let q = HostileQueue::open(&[("proxy", &proxy.url(None)), ("ca_file", &ca_file())]);
    let message = transient_error_naming(&q, &server.url("/f.bin"));
    assert!(message.contains(&format!("proxy {}", proxy.url(None))), "{message}");
    assert!(message.contains("403"), "{message}");
    assert!(proxy.requests().iter().all(|r| r.method == "CONNECT" && r.outcome == "403"), "{:?}", proxy.requests());
}
