//! Classifying failures as transient or fatal, with their Win32 codes (DECISIONS D5;
//! reference §5.3, §5.8).

use qmgr_core::hresult::win32;
use qmgr_core::model::ErrorClass::{self, Fatal, Transient};
use qmgr_core::transport::TransferError;
use std::io::{self, ErrorKind};
use std::path::Path;
use std::time::{Duration, SystemTime};

/// ENOENT and ENOTDIR.
const ENOENT: i32 = 2;

/// HTTP statuses that are retried (DECISIONS D5).
pub(crate) fn is_transient_status(status: u16) -> bool {
    matches!(status, 408 | 425 | 429 | 500 | 502 | 503 | 504)
}

/// A failure caused by an HTTP status: transient for the statuses of
/// [`is_transient_status`] (with `Retry-After`), else fatal; `win32` = `BG_E_HTTP_ERROR_nnn`.
pub(crate) fn status_error(status: u16, url: &str, retry_after: Option<&str>, detail: &str) -> TransferError {
    let class = if is_transient_status(status) { Transient } else { Fatal };
    let mut msg = format!("HTTP {status} from {url}");
    if !detail.is_empty() {
        msg.push_str(": ");
        msg.push_str(detail);
    }
    let mut e = TransferError::http(class, status, msg);
    if class == Transient {
        e.retry_after = retry_after.and_then(parse_retry_after);
    }
    e
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
pub(crate) fn network_error(err: ureq::Error, url: &str) -> TransferError {
    use ureq::Error as U;
    let (class, code, what) = match &err {
        U::Timeout(_) => (Transient, win32::ERROR_WINHTTP_TIMEOUT, "timed out"),
        U::HostNotFound => (Transient, win32::ERROR_WINHTTP_NAME_NOT_RESOLVED, "cannot resolve the host of"),
        U::Io(e) => return io_network_error(e, url),
        U::Rustls(e) => {
            let (class, what) = tls_class(e);
            (class, win32::ERROR_WINHTTP_SECURE_FAILURE, what)
        }
        U::Tls(_) | U::TlsRequired | U::RequireHttpsOnly(_) => {
            (Fatal, win32::ERROR_WINHTTP_SECURE_FAILURE, "TLS failure with")
        }
        U::BadUri(_) | U::Http(_) => (Fatal, win32::ERROR_WINHTTP_INVALID_URL, "invalid URL"),
        U::InvalidProxyUrl => (Fatal, win32::ERROR_WINHTTP_INVALID_URL, "invalid proxy for"),
        U::LargeResponseHeader(..) => (Fatal, win32::ERROR_WINHTTP_INVALID_SERVER_RESPONSE, "invalid answer from"),
        U::Protocol(_) => (Transient, win32::ERROR_WINHTTP_INVALID_SERVER_RESPONSE, "invalid answer from"),
        U::ConnectionFailed | U::ConnectProxyFailed(_) => {
            (Transient, win32::ERROR_WINHTTP_CANNOT_CONNECT, "cannot connect to")
        }
        U::TooManyRedirects | U::RedirectFailed => (Fatal, win32::ERROR_WINHTTP_REDIRECT_FAILED, "redirect failed for"),
        _ => (Transient, win32::ERROR_WINHTTP_CONNECTION_ERROR, "transfer failed for"),
    };
    TransferError::win32(class, code, format!("{what} {url}: {err}"))
}

/// A failure while talking to the server, from the socket's (or TLS's) `io::Error`.
fn io_network_error(e: &io::Error, url: &str) -> TransferError {
    if let Some(tls) = e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
        let (class, what) = tls_class(tls);
        return TransferError::win32(class, win32::ERROR_WINHTTP_SECURE_FAILURE, format!("{what} {url}: {tls}"));
    }
    let text = e.to_string();
    let (code, what) = match e.kind() {
        ErrorKind::ConnectionRefused
        | ErrorKind::HostUnreachable
        | ErrorKind::NetworkUnreachable
        | ErrorKind::NetworkDown
        | ErrorKind::AddrNotAvailable => (win32::ERROR_WINHTTP_CANNOT_CONNECT, "cannot connect to"),
        ErrorKind::TimedOut | ErrorKind::WouldBlock => (win32::ERROR_WINHTTP_TIMEOUT, "timed out"),
        ErrorKind::ConnectionReset
        | ErrorKind::ConnectionAborted
        | ErrorKind::BrokenPipe
        | ErrorKind::NotConnected
        | ErrorKind::UnexpectedEof => (win32::ERROR_WINHTTP_CONNECTION_ERROR, "connection lost with"),
        // getaddrinfo failures surface as uncategorised errors with this text (std).
        _ if text.contains("lookup address") || text.contains("Name or service not known") => {
            (win32::ERROR_WINHTTP_NAME_NOT_RESOLVED, "cannot resolve the host of")
        }
        _ => (win32::ERROR_WINHTTP_CONNECTION_ERROR, "transfer failed for"),
    };
    TransferError::win32(Transient, code, format!("{what} {url}: {e}"))
}

/// Certificate problems need a person (fatal); other TLS failures may clear up (transient).
fn tls_class(e: &rustls::Error) -> (ErrorClass, &'static str) {
    use rustls::AlertDescription as A;
    match e {
        rustls::Error::InvalidCertificate(_)
        | rustls::Error::NoCertificatesPresented
        | rustls::Error::InvalidCertRevocationList(_)
        | rustls::Error::UnsupportedNameType => (Fatal, "TLS certificate of the server not accepted for"),
        rustls::Error::AlertReceived(
            A::BadCertificate
            | A::UnsupportedCertificate
            | A::CertificateRevoked
            | A::CertificateExpired
            | A::CertificateUnknown
            | A::UnknownCA,
        ) => (Fatal, "TLS certificate refused by the server of"),
        _ => (Transient, "TLS failure with"),
    }
}

/// A local file error: fatal, Win32 code from the OS error (reference §5.8).
pub(crate) fn local_error(e: &io::Error, what: &str, path: &Path) -> TransferError {
    let code = match e.raw_os_error() {
        Some(n) => win32::from_errno(n),
        None if e.kind() == ErrorKind::NotFound => win32::from_errno(ENOENT),
        None => win32::ERROR_WRITE_FAULT,
    };
    TransferError::win32(Fatal, code, format!("{what} \"{}\": {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified_per_d5() {
        for s in [408, 425, 429, 500, 502, 503, 504] {
            assert_eq!(status_error(s, "u", None, "").class, Transient, "{s}");
        }
        for s in [400, 401, 403, 404, 405, 407, 410, 416, 501, 505] {
            let e = status_error(s, "u", Some("5"), "");
            assert_eq!(e.class, Fatal, "{s}");
            assert_eq!(e.win32, 0x8019_0000 | s as u32);
            assert_eq!(e.http_status, s as u32);
            assert_eq!(e.retry_after, None);
        }
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
    fn local_errors_map_errno() {
        let e = local_error(&io::Error::from_raw_os_error(28), "cannot write", Path::new("/x"));
        assert_eq!((e.class, e.win32), (Fatal, win32::ERROR_DISK_FULL));
        assert!(e.message.contains("\"/x\""));
        let e = local_error(&io::Error::from_raw_os_error(13), "cannot open", Path::new("/x"));
        assert_eq!(e.win32, win32::ERROR_ACCESS_DENIED);
    }

    #[test]
    fn io_errors_are_transient_network_failures() {
        let e = network_error(ureq::Error::Io(io::Error::from(ErrorKind::ConnectionRefused)), "http://h/");
        assert_eq!((e.class, e.win32, e.http_status), (Transient, win32::ERROR_WINHTTP_CANNOT_CONNECT, 0));
        let e = network_error(ureq::Error::Io(io::Error::from(ErrorKind::UnexpectedEof)), "http://h/");
        assert_eq!(e.win32, win32::ERROR_WINHTTP_CONNECTION_ERROR);
        let e = network_error(ureq::Error::Timeout(ureq::Timeout::PerRead), "http://h/");
        assert_eq!((e.class, e.win32), (Transient, win32::ERROR_WINHTTP_TIMEOUT));
        let e = network_error(ureq::Error::HostNotFound, "http://h/");
        assert_eq!(e.win32, win32::ERROR_WINHTTP_NAME_NOT_RESOLVED);
        let cert = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let e = network_error(ureq::Error::Io(io::Error::new(ErrorKind::InvalidData, cert)), "https://h/");
        assert_eq!((e.class, e.win32), (Fatal, win32::ERROR_WINHTTP_SECURE_FAILURE));
    }
}
