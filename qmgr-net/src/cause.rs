//! Translating what went wrong — an HTTP status, a ureq, socket or rustls error, a local I/O
//! error — into the typed [`Cause`] the transports report. Whether a cause is transient or
//! fatal, its Win32 code and its message are not decided here but by
//! `qmgr_core::rules::classify` (DECISIONS D5; reference §5.3, §5.8).

use crate::proof::Cut;
use crate::proxy::ViaProxy;
use qmgr_core::transport::{Cause, Failure, LocalOp, NetworkKind, TlsKind, UrlProblem};
use qmgr_core::transport::{RedirectProblem, ResponseProblem};
use std::io::{self, ErrorKind};
use std::path::Path;
use std::time::{Duration, SystemTime};

/// ENOENT.
const ENOENT: i32 = 2;

/// The server answered `status` (from `url`, already redacted), with the `Retry-After`
/// header's text if any; `detail` says more (e.g. why a 401 is final), or is empty.
pub(crate) fn status_failure(status: u16, url: &str, retry_after: Option<&str>, detail: &str) -> Failure {
    let retry_after = retry_after.and_then(parse_retry_after);
    Failure::new(Cause::HttpStatus { status, retry_after }, url, detail)
}

/// `Retry-After`: delta-seconds or an HTTP date (RFC 9110 §10.2.3). A date in the past is 0.
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO))
}

/// A failure of the network exchange with `url` (already redacted).
pub(crate) fn network_failure(err: ureq::Error, url: &str) -> Failure {
    ureq_failure(&err, url)
}

fn ureq_failure(err: &ureq::Error, url: &str) -> Failure {
    use ureq::Error as U;
    let cause = match err {
        U::Timeout(_) => Cause::Network(NetworkKind::Timeout),
        U::HostNotFound => Cause::Network(NetworkKind::Resolve),
        U::Io(e) => return io_network_failure(e, url),
        U::Rustls(e) => Cause::Tls(tls_kind(e)),
        U::Tls(_) | U::TlsRequired | U::RequireHttpsOnly(_) => Cause::Tls(TlsKind::Unusable),
        U::BadUri(_) | U::Http(_) => Cause::InvalidUrl(UrlProblem::Invalid),
        U::InvalidProxyUrl => Cause::InvalidUrl(UrlProblem::InvalidProxy),
        U::LargeResponseHeader(..) => Cause::InvalidResponse(ResponseProblem::HeadTooLarge),
        U::Protocol(_) => Cause::InvalidResponse(ResponseProblem::Malformed),
        U::ConnectionFailed | U::ConnectProxyFailed(_) => Cause::Network(NetworkKind::Connect),
        U::TooManyRedirects | U::RedirectFailed => Cause::Redirect { status: 0, problem: RedirectProblem::Failed },
        _ => Cause::Network(NetworkKind::Other),
    };
    Failure::new(cause, url, err.to_string())
}

/// A failure while talking to the server, from the socket's (or TLS's) `io::Error`.
fn io_network_failure(e: &io::Error, url: &str) -> Failure {
    // A connection that ended without proof of the body's end (DECISIONS D15): classified by
    // the error it wraps (a reset, or TLS's unexpected end: NetworkKind::Reset).
    if let Some(cut) = e.get_ref().and_then(|inner| inner.downcast_ref::<Cut>()) {
        let mut failure = io_network_failure(&cut.0, url);
        failure.detail = e.to_string();
        return failure;
    }
    // The proxy could not be reached or used (`src/proxy.rs`): the failure names the proxy,
    // with the same kind (and Win32 code) as if it were the server.
    if let Some(via) = e.get_ref().and_then(|inner| inner.downcast_ref::<ViaProxy>()) {
        let mut failure = ureq_failure(&via.error, url);
        failure.subject = format!("proxy {} (for {url})", via.proxy);
        return failure;
    }
    if let Some(tls) = e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
        return Failure::new(Cause::Tls(tls_kind(tls)), url, tls.to_string());
    }
    let text = e.to_string();
    let kind = match e.kind() {
        ErrorKind::ConnectionRefused
        | ErrorKind::HostUnreachable
        | ErrorKind::NetworkUnreachable
        | ErrorKind::NetworkDown
        | ErrorKind::AddrNotAvailable => NetworkKind::Connect,
        ErrorKind::TimedOut | ErrorKind::WouldBlock => NetworkKind::Timeout,
        ErrorKind::ConnectionReset
        | ErrorKind::ConnectionAborted
        | ErrorKind::BrokenPipe
        | ErrorKind::NotConnected
        | ErrorKind::UnexpectedEof => NetworkKind::Reset,
        // getaddrinfo failures surface as uncategorised errors with this text (std).
        _ if text.contains("lookup address") || text.contains("Name or service not known") => NetworkKind::Resolve,
        _ => NetworkKind::Other,
    };
    Failure::new(Cause::Network(kind), url, text)
}

/// Which TLS failure a rustls error is: the server's certificate not accepted here, a
/// certificate alert from the server, or anything else.
fn tls_kind(e: &rustls::Error) -> TlsKind {
    use rustls::AlertDescription as A;
    match e {
        rustls::Error::InvalidCertificate(_)
        | rustls::Error::NoCertificatesPresented
        | rustls::Error::InvalidCertRevocationList(_)
        | rustls::Error::UnsupportedNameType => TlsKind::CertificateRejected,
        rustls::Error::AlertReceived(
            A::BadCertificate
            | A::UnsupportedCertificate
            | A::CertificateRevoked
            | A::CertificateExpired
            | A::CertificateUnknown
            | A::UnknownCA,
        ) => TlsKind::CertificateRefused,
        _ => TlsKind::Other,
    }
}

/// A local file error during `op` on `path`: the OS error number, or `ENOENT` for an error
/// of kind "not found" without one.
pub(crate) fn local_failure(e: &io::Error, op: LocalOp, path: &Path) -> Failure {
    let errno = e.raw_os_error().or((e.kind() == ErrorKind::NotFound).then_some(ENOENT));
    Failure::new(Cause::Local { op, errno }, path.display().to_string(), e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_carry_the_parsed_retry_after() {
        let f = status_failure(503, "http://h/", Some("5"), "");
        assert_eq!(f.cause, Cause::HttpStatus { status: 503, retry_after: Some(Duration::from_secs(5)) });
        assert_eq!((f.subject.as_str(), f.detail.as_str()), ("http://h/", ""));
        let f = status_failure(404, "u", Some("soon"), "why");
        assert_eq!(f.cause, Cause::HttpStatus { status: 404, retry_after: None });
        assert_eq!(f.detail, "why");
    }

    #[test]
    fn retry_after_takes_seconds_and_dates() {
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO));
        let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
        let d = parse_retry_after(&later).unwrap();
        assert!(d > Duration::from_secs(100) && d <= Duration::from_secs(120), "{d:?}");
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }

    #[test]
    fn local_errors_carry_the_errno() {
        let f = local_failure(&io::Error::from_raw_os_error(28), LocalOp::WriteTemp, Path::new("/x"));
        assert_eq!(f.cause, Cause::Local { op: LocalOp::WriteTemp, errno: Some(28) });
        assert_eq!(f.subject, "/x");
        let f = local_failure(&io::Error::from(ErrorKind::NotFound), LocalOp::OpenTemp, Path::new("/x"));
        assert_eq!(f.cause, Cause::Local { op: LocalOp::OpenTemp, errno: Some(ENOENT) });
        let f = local_failure(&io::Error::other("odd"), LocalOp::FlushTemp, Path::new("/x"));
        assert_eq!(f.cause, Cause::Local { op: LocalOp::FlushTemp, errno: None });
    }

    #[test]
    fn network_errors_become_network_and_tls_causes() {
        let io = |kind| ureq::Error::Io(io::Error::from(kind));
        let table = [
            (io(ErrorKind::ConnectionRefused), Cause::Network(NetworkKind::Connect)),
            (io(ErrorKind::HostUnreachable), Cause::Network(NetworkKind::Connect)),
            (io(ErrorKind::UnexpectedEof), Cause::Network(NetworkKind::Reset)),
            (io(ErrorKind::ConnectionReset), Cause::Network(NetworkKind::Reset)),
            (io(ErrorKind::TimedOut), Cause::Network(NetworkKind::Timeout)),
            (io(ErrorKind::Other), Cause::Network(NetworkKind::Other)),
            (ureq::Error::Timeout(ureq::Timeout::PerRead), Cause::Network(NetworkKind::Timeout)),
            (ureq::Error::HostNotFound, Cause::Network(NetworkKind::Resolve)),
            (ureq::Error::ConnectionFailed, Cause::Network(NetworkKind::Connect)),
            (ureq::Error::TlsRequired, Cause::Tls(TlsKind::Unusable)),
            (ureq::Error::InvalidProxyUrl, Cause::InvalidUrl(UrlProblem::InvalidProxy)),
            (ureq::Error::TooManyRedirects, Cause::Redirect { status: 0, problem: RedirectProblem::Failed }),
        ];
        for (err, cause) in table {
            let text = format!("{err:?}");
            assert_eq!(network_failure(err, "http://h/").cause, cause, "{text}");
        }
        let cert = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let f = network_failure(ureq::Error::Io(io::Error::new(ErrorKind::InvalidData, cert)), "https://h/");
        assert_eq!(f.cause, Cause::Tls(TlsKind::CertificateRejected));
        let alert = rustls::Error::AlertReceived(rustls::AlertDescription::UnknownCA);
        assert_eq!(
            network_failure(ureq::Error::Rustls(alert), "https://h/").cause,
            Cause::Tls(TlsKind::CertificateRefused)
        );
        // A reset or TLS's unexpected end that ended a body without proof (src/proof.rs).
        for kind in [ErrorKind::ConnectionReset, ErrorKind::UnexpectedEof] {
            let cut = io::Error::other(Cut(io::Error::from(kind)));
            let f = network_failure(ureq::Error::Io(cut), "http://h/");
            assert_eq!(f.cause, Cause::Network(NetworkKind::Reset), "{kind:?}");
            assert!(f.detail.starts_with("the connection ended before the end of the body"), "{}", f.detail);
        }
        let other = rustls::Error::DecryptError;
        let f = network_failure(ureq::Error::Io(io::Error::new(ErrorKind::InvalidData, other)), "https://h/");
        assert_eq!(f.cause, Cause::Tls(TlsKind::Other));
        assert_eq!(f.subject, "https://h/");
    }

    #[test]
    fn failures_at_the_proxy_name_the_proxy_with_the_kind_of_the_failure() {
        let table: [(fn() -> ureq::Error, Cause); 4] = [
            (|| ureq::Error::HostNotFound, Cause::Network(NetworkKind::Resolve)),
            (|| ureq::Error::Io(io::Error::from(ErrorKind::ConnectionRefused)), Cause::Network(NetworkKind::Connect)),
            (
                || ureq::Error::ConnectProxyFailed("proxy server responded 403/Forbidden".into()),
                Cause::Network(NetworkKind::Connect),
            ),
            (|| ureq::Error::Timeout(ureq::Timeout::Connect), Cause::Network(NetworkKind::Timeout)),
        ];
        for (error, cause) in table {
            let direct = network_failure(error(), "http://h/x");
            let via = ViaProxy { proxy: "http://127.0.0.1:3128/".into(), error: error() };
            let f = network_failure(ureq::Error::Io(io::Error::other(via)), "http://h/x");
            assert_eq!(f.cause, cause, "{}", direct.detail);
            assert_eq!(f.subject, "proxy http://127.0.0.1:3128/ (for http://h/x)");
            assert_eq!(f.detail, direct.detail);
        }
    }
}
