//! Error classification: one table from a transport's [`Cause`] to the class (transient or
//! fatal), the Win32 code, `dwTransportResult` and the message of a failed attempt
//! (DECISIONS D5, D11; reference §5.3, §5.8). Transports only say what happened; everything
//! a user or a retry decision sees about a failure is decided here.
//!
//! | Cause | Class | `dwWin32Result` | `dwTransportResult` |
//! |---|---|---|---|
//! | HTTP 408, 425, 429, 500, 502, 503, 504 | transient, `Retry-After` kept | `BG_E_HTTP_ERROR_nnn` | status |
//! | any other HTTP status | fatal | `BG_E_HTTP_ERROR_nnn` | status |
//! | redirect not followed (11th, loop, https→http, no/unusable `Location`) | fatal | 12156 | last 3xx |
//! | DNS / connect / reset / timeout / other network failure | transient | 12007 / 12029 / 12030 / 12002 / 12030 | 0 |
//! | TLS certificate rejected here or refused by the server | fatal | 12175 | 0 |
//! | TLS unusable for the URL (configuration) | fatal | 12175 | 0 |
//! | other TLS failure | transient | 12175 | 0 |
//! | malformed HTTP | transient | 12152 | 0 |
//! | answer head too large, unusable answer | fatal | 12152 | 0 |
//! | body ended early | transient | 12030 | 0 |
//! | invalid URL or proxy, unusable URL / unknown scheme | fatal | 12005 / 12006 | 0 |
//! | local file error (the temporary file, the commit, the destination directory checked during the transfer) | fatal | from `errno` ([`win32::from_errno`]), else 29 | 0 |
//! | `file://` source missing / not a directory on the way / not readable / a directory | fatal | 2 / 3 / 5 / 5 | 0 |
//! | `file://` source read error, or changed during the copy | transient | 30 | 0 |
//! | digest of the whole file ≠ its checksum or the server's `Repr-Digest`/`Content-Digest` (D15; the temporary file goes) | fatal | `QMGR_E_BAD_DIGEST` 0x80096010 | 0 |
//! | no thread for the transfer | transient | 8 | 0 |
//! | the store cannot record the outcome | fatal | the store's Win32 code, else 29 | 0 |

use crate::hresult::{hresult_from_http, win32, QMGR_E_BAD_DIGEST};
use crate::model::to_hex;
use crate::model::ErrorClass::{Fatal, Transient};
use crate::transport::{
    Cause, DigestSource, Failure, LocalOp, NetworkKind, RedirectProblem, ResponseProblem, SourceProblem, TlsKind,
    TransferError, UrlProblem,
};

/// `errno` values the table distinguishes (Linux, asm-generic).
const EPERM: i32 = 1;
const ENOENT: i32 = 2;
const EACCES: i32 = 13;
const ENOTDIR: i32 = 20;

/// HTTP statuses that are retried (DECISIONS D5): 408, 425, 429, 500, 502, 503, 504. Every
/// other status a transport reports as a failure is fatal.
pub fn is_transient_status(status: u16) -> bool {
    matches!(status, 408 | 425 | 429 | 500 | 502 | 503 | 504)
}

/// Classifies a failure (DECISIONS D5, D11): its class, `dwWin32Result` (a Win32 code, or
/// `BG_E_HTTP_ERROR_nnn` = `0x80190000 | status` for an HTTP status), `dwTransportResult`
/// (the HTTP status for an HTTP status or an unfollowed redirect, else 0), the message (naming
/// `failure.subject`, followed by `": "` and `failure.detail` when it is not empty), and the
/// `Retry-After` delay of a transient HTTP status, and whether the temporary file's bytes go
/// (only after a digest mismatch, DECISIONS D15). See the module's table.
///
/// Pure: the same failure always gives the same error. The no-progress timeout, which can
/// still turn a transient error fatal, is the engine's (it depends on time).
pub fn classify(failure: &Failure) -> TransferError {
    let Failure { cause, subject: s, detail } = failure;
    // ": detail", or nothing when there is no detail.
    let d = if detail.is_empty() { String::new() } else { format!(": {detail}") };
    let plain = |class, code, message: String| TransferError {
        class,
        win32: code,
        http_status: 0,
        message,
        retry_after: None,
        discards_data: false,
    };
    match cause {
        Cause::HttpStatus { status, retry_after } => {
            let class = if is_transient_status(*status) { Transient } else { Fatal };
            let from = if s.is_empty() { String::new() } else { format!(" from {s}") };
            TransferError {
                class,
                win32: hresult_from_http(*status) as u32,
                http_status: u32::from(*status),
                message: format!("HTTP {status}{from}{d}"),
                retry_after: if class == Transient { *retry_after } else { None },
                discards_data: false,
            }
        }
        Cause::Redirect { status, problem } => {
            let message = match problem {
                RedirectProblem::NoLocation => format!("HTTP {status} from {s} has no Location header"),
                RedirectProblem::UnusableLocation { location } => {
                    format!("HTTP {status} from {s} redirects to an unusable Location \"{location}\"")
                }
                RedirectProblem::TooMany { limit, to } => {
                    format!("more than {limit} redirects: HTTP {status} from {s} to {to}")
                }
                RedirectProblem::ToPlainHttp { to } => {
                    format!("HTTP {status} from {s} redirects to plain http {to}: refused")
                }
                RedirectProblem::Loop { to } => format!("redirect loop: HTTP {status} from {s} back to {to}"),
                RedirectProblem::Failed => format!("redirect failed for {s}{d}"),
            };
            TransferError {
                class: Fatal,
                win32: win32::ERROR_WINHTTP_REDIRECT_FAILED,
                http_status: u32::from(*status),
                message,
                retry_after: None,
                discards_data: false,
            }
        }
        Cause::Network(kind) => {
            let (code, what) = match kind {
                NetworkKind::Resolve => (win32::ERROR_WINHTTP_NAME_NOT_RESOLVED, "cannot resolve the host of"),
                NetworkKind::Connect => (win32::ERROR_WINHTTP_CANNOT_CONNECT, "cannot connect to"),
                NetworkKind::Reset => (win32::ERROR_WINHTTP_CONNECTION_ERROR, "connection lost with"),
                NetworkKind::Timeout => (win32::ERROR_WINHTTP_TIMEOUT, "timed out"),
                NetworkKind::Other => (win32::ERROR_WINHTTP_CONNECTION_ERROR, "transfer failed for"),
            };
            plain(Transient, code, format!("{what} {s}{d}"))
        }
        Cause::Tls(kind) => {
            // Certificate problems need a person; other TLS failures may clear up.
            let (class, what) = match kind {
                TlsKind::CertificateRejected => (Fatal, "TLS certificate of the server not accepted for"),
                TlsKind::CertificateRefused => (Fatal, "TLS certificate refused by the server of"),
                TlsKind::Unusable => (Fatal, "TLS failure with"),
                TlsKind::Other => (Transient, "TLS failure with"),
            };
            plain(class, win32::ERROR_WINHTTP_SECURE_FAILURE, format!("{what} {s}{d}"))
        }
        Cause::InvalidResponse(problem) => {
            let (class, message) = match problem {
                ResponseProblem::Malformed => (Transient, format!("invalid answer from {s}{d}")),
                ResponseProblem::HeadTooLarge => (Fatal, format!("invalid answer from {s}{d}")),
                ResponseProblem::Unusable => (Fatal, format!("{s}{d}")),
            };
            plain(class, win32::ERROR_WINHTTP_INVALID_SERVER_RESPONSE, message)
        }
        Cause::BodyEndedEarly { received, expected } => plain(
            Transient,
            win32::ERROR_WINHTTP_CONNECTION_ERROR,
            format!("connection to {s} ended after {received} of {expected} bytes"),
        ),
        Cause::InvalidUrl(problem) => {
            let (code, message) = match problem {
                UrlProblem::Invalid => (win32::ERROR_WINHTTP_INVALID_URL, format!("invalid URL {s}{d}")),
                UrlProblem::InvalidProxy => (win32::ERROR_WINHTTP_INVALID_URL, format!("invalid proxy for {s}{d}")),
                UrlProblem::Unusable => (win32::ERROR_WINHTTP_INVALID_URL, format!("URL \"{s}\" is not usable{d}")),
                UrlProblem::UnknownScheme => (
                    win32::ERROR_WINHTTP_UNRECOGNIZED_SCHEME,
                    format!("URL \"{s}\" has no scheme this transport knows (http, https, file)"),
                ),
            };
            plain(Fatal, code, message)
        }
        Cause::Local { op, errno } => {
            let code = errno.map_or(win32::ERROR_WRITE_FAULT, win32::from_errno);
            let what = match op {
                LocalOp::OpenTemp => "cannot open temporary file",
                LocalOp::SizeTemp => "cannot read the size of temporary file",
                LocalOp::ReadTemp => "cannot read temporary file",
                LocalOp::TruncateTemp => "cannot truncate temporary file",
                LocalOp::SeekTemp => "cannot seek in temporary file",
                LocalOp::WriteTemp => "cannot write temporary file",
                LocalOp::FlushTemp => "cannot flush temporary file",
                LocalOp::Rename { .. } => "cannot rename the temporary file onto",
                LocalOp::FlushDirectory => "cannot flush directory",
                LocalOp::CheckDestination => "the transfer lost its destination directory",
                LocalOp::ReplacedTemp => "another file replaced temporary file",
            };
            let mut message = format!("{what} \"{s}\"{d}");
            if let LocalOp::Rename { from } = op {
                message.push_str(&format!(" (from \"{from}\")"));
            }
            // Bytes under a replaced temporary file are not ours: never resumed from.
            let discards_data = *op == LocalOp::ReplacedTemp;
            TransferError { discards_data, ..plain(Fatal, code, message) }
        }
        Cause::Source(problem) => {
            let (class, code, message) = match problem {
                SourceProblem::Unreadable { errno: Some(ENOENT) } => {
                    (Fatal, win32::ERROR_FILE_NOT_FOUND, format!("source \"{s}\" does not exist{d}"))
                }
                SourceProblem::Unreadable { errno: Some(ENOTDIR) } => {
                    (Fatal, win32::ERROR_PATH_NOT_FOUND, format!("source \"{s}\" does not exist{d}"))
                }
                SourceProblem::Unreadable { errno: Some(EACCES | EPERM) } => {
                    (Fatal, win32::ERROR_ACCESS_DENIED, format!("source \"{s}\" cannot be read{d}"))
                }
                // A share that fails to answer may answer later.
                SourceProblem::Unreadable { .. } => {
                    (Transient, win32::ERROR_READ_FAULT, format!("cannot read source \"{s}\"{d}"))
                }
                SourceProblem::IsDirectory => {
                    (Fatal, win32::ERROR_ACCESS_DENIED, format!("source \"{s}\" is a directory"))
                }
                SourceProblem::Changed { copied } => (
                    Transient,
                    win32::ERROR_READ_FAULT,
                    format!("source \"{s}\" changed during the copy ({copied} bytes copied)"),
                ),
            };
            plain(class, code, message)
        }
        Cause::DigestMismatch { source, expected, actual } => {
            let of = match source {
                DigestSource::Checksum => "the file's checksum",
                DigestSource::ReprDigest => "the server's Repr-Digest",
                DigestSource::ContentDigest => "the server's Content-Digest",
            };
            let algorithm = expected.algorithm();
            let message = format!(
                "{algorithm} digest of {s} does not match {of}: expected {}, got {}",
                expected.hex(),
                to_hex(actual)
            );
            TransferError { discards_data: true, ..plain(Fatal, QMGR_E_BAD_DIGEST as u32, message) }
        }
        Cause::NoThread => {
            plain(Transient, win32::ERROR_NOT_ENOUGH_MEMORY, format!("cannot start a transfer thread for {s}{d}"))
        }
        Cause::Store { win32: code } => plain(Fatal, code.unwrap_or(win32::ERROR_WRITE_FAULT), detail.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn f(cause: Cause) -> TransferError {
        classify(&Failure::new(cause, "http://h/x", "why"))
    }

    fn http(status: u16, retry_after: Option<Duration>) -> Cause {
        Cause::HttpStatus { status, retry_after }
    }

    #[test]
    fn statuses_are_classified_per_d5() {
        let wait = Some(Duration::from_secs(5));
        for s in [408, 425, 429, 500, 502, 503, 504] {
            let e = f(http(s, wait));
            assert_eq!(e.class, Transient, "{s}");
            assert_eq!((e.win32, e.http_status), (0x8019_0000 | u32::from(s), u32::from(s)), "{s}");
            assert_eq!(e.retry_after, wait, "Retry-After kept for a transient status {s}");
        }
        for s in [300, 304, 400, 401, 403, 404, 405, 407, 410, 416, 501, 505, 599] {
            let e = f(http(s, wait));
            assert_eq!(e.class, Fatal, "{s}");
            assert_eq!(e.win32, 0x8019_0000 | u32::from(s));
            assert_eq!(e.http_status, u32::from(s));
            assert_eq!(e.retry_after, None, "no Retry-After on a fatal status {s}");
        }
        assert_eq!(f(http(404, None)).win32, 0x8019_0194, "BG_E_HTTP_ERROR_404");
    }

    #[test]
    fn http_status_messages_name_the_url_and_the_detail() {
        let msg = |subject: &str, detail: &str| classify(&Failure::new(http(401, None), subject, detail)).message;
        assert_eq!(msg("http://h/x", ""), "HTTP 401 from http://h/x");
        assert_eq!(
            msg("http://h/x", "the server refused the credentials"),
            "HTTP 401 from http://h/x: the server refused the credentials"
        );
        assert_eq!(msg("", ""), "HTTP 401", "nothing to name");
    }

    #[test]
    fn network_kinds_are_transient_with_their_winhttp_codes() {
        let table = [
            (
                NetworkKind::Resolve,
                win32::ERROR_WINHTTP_NAME_NOT_RESOLVED,
                "cannot resolve the host of http://h/x: why",
            ),
            (NetworkKind::Connect, win32::ERROR_WINHTTP_CANNOT_CONNECT, "cannot connect to http://h/x: why"),
            (NetworkKind::Reset, win32::ERROR_WINHTTP_CONNECTION_ERROR, "connection lost with http://h/x: why"),
            (NetworkKind::Timeout, win32::ERROR_WINHTTP_TIMEOUT, "timed out http://h/x: why"),
            (NetworkKind::Other, win32::ERROR_WINHTTP_CONNECTION_ERROR, "transfer failed for http://h/x: why"),
        ];
        for (kind, code, message) in table {
            let e = f(Cause::Network(kind));
            assert_eq!((e.class, e.win32, e.http_status, e.retry_after), (Transient, code, 0, None), "{kind:?}");
            assert_eq!(e.message, message);
        }
    }

    #[test]
    fn tls_certificate_failures_are_fatal_other_tls_failures_transient() {
        let table = [
            (TlsKind::CertificateRejected, Fatal, "TLS certificate of the server not accepted for http://h/x: why"),
            (TlsKind::CertificateRefused, Fatal, "TLS certificate refused by the server of http://h/x: why"),
            (TlsKind::Unusable, Fatal, "TLS failure with http://h/x: why"),
            (TlsKind::Other, Transient, "TLS failure with http://h/x: why"),
        ];
        for (kind, class, message) in table {
            let e = f(Cause::Tls(kind));
            assert_eq!((e.class, e.win32, e.http_status), (class, win32::ERROR_WINHTTP_SECURE_FAILURE, 0), "{kind:?}");
            assert_eq!(e.message, message);
        }
    }

    #[test]
    fn unfollowed_redirects_are_fatal_12156_with_the_last_status() {
        let to = || "http://h/y".to_string();
        let table = [
            (RedirectProblem::NoLocation, "HTTP 302 from http://h/x has no Location header"),
            (
                RedirectProblem::UnusableLocation { location: "ftp://h/".into() },
                "HTTP 302 from http://h/x redirects to an unusable Location \"ftp://h/\"",
            ),
            (
                RedirectProblem::TooMany { limit: 10, to: to() },
                "more than 10 redirects: HTTP 302 from http://h/x to http://h/y",
            ),
            (
                RedirectProblem::ToPlainHttp { to: to() },
                "HTTP 302 from http://h/x redirects to plain http http://h/y: refused",
            ),
            (RedirectProblem::Loop { to: to() }, "redirect loop: HTTP 302 from http://h/x back to http://h/y"),
        ];
        for (problem, message) in table {
            let e = f(Cause::Redirect { status: 302, problem: problem.clone() });
            assert_eq!((e.class, e.win32, e.http_status), (Fatal, win32::ERROR_WINHTTP_REDIRECT_FAILED, 302));
            assert_eq!(e.message, message, "{problem:?}");
        }
        let e = f(Cause::Redirect { status: 0, problem: RedirectProblem::Failed });
        assert_eq!((e.class, e.win32, e.http_status), (Fatal, win32::ERROR_WINHTTP_REDIRECT_FAILED, 0));
        assert_eq!(e.message, "redirect failed for http://h/x: why");
    }

    #[test]
    fn answers_urls_and_short_bodies() {
        let table = [
            (
                Cause::InvalidResponse(ResponseProblem::Malformed),
                Transient,
                win32::ERROR_WINHTTP_INVALID_SERVER_RESPONSE,
                "invalid answer from http://h/x: why",
            ),
            (
                Cause::InvalidResponse(ResponseProblem::HeadTooLarge),
                Fatal,
                win32::ERROR_WINHTTP_INVALID_SERVER_RESPONSE,
                "invalid answer from http://h/x: why",
            ),
            (
                Cause::InvalidResponse(ResponseProblem::Unusable),
                Fatal,
                win32::ERROR_WINHTTP_INVALID_SERVER_RESPONSE,
                "http://h/x: why",
            ),
            (
                Cause::BodyEndedEarly { received: 30, expected: 100 },
                Transient,
                win32::ERROR_WINHTTP_CONNECTION_ERROR,
                "connection to http://h/x ended after 30 of 100 bytes",
            ),
            (
                Cause::InvalidUrl(UrlProblem::Invalid),
                Fatal,
                win32::ERROR_WINHTTP_INVALID_URL,
                "invalid URL http://h/x: why",
            ),
            (
                Cause::InvalidUrl(UrlProblem::InvalidProxy),
                Fatal,
                win32::ERROR_WINHTTP_INVALID_URL,
                "invalid proxy for http://h/x: why",
            ),
            (
                Cause::InvalidUrl(UrlProblem::Unusable),
                Fatal,
                win32::ERROR_WINHTTP_INVALID_URL,
                "URL \"http://h/x\" is not usable: why",
            ),
            (
                Cause::InvalidUrl(UrlProblem::UnknownScheme),
                Fatal,
                win32::ERROR_WINHTTP_UNRECOGNIZED_SCHEME,
                "URL \"http://h/x\" has no scheme this transport knows (http, https, file)",
            ),
            (
                Cause::NoThread,
                Transient,
                win32::ERROR_NOT_ENOUGH_MEMORY,
                "cannot start a transfer thread for http://h/x: why",
            ),
        ];
        for (cause, class, code, message) in table {
            let e = f(cause.clone());
            assert_eq!((e.class, e.win32, e.http_status, e.message.as_str()), (class, code, 0, message), "{cause:?}");
        }
    }

    #[test]
    fn local_errors_are_fatal_with_the_win32_code_of_their_errno() {
        let table = [
            (Some(28), win32::ERROR_DISK_FULL),
            (Some(122), win32::ERROR_DISK_FULL),
            (Some(13), win32::ERROR_ACCESS_DENIED),
            (Some(1), win32::ERROR_ACCESS_DENIED),
            (Some(30), win32::ERROR_WRITE_PROTECT),
            (Some(2), win32::ERROR_PATH_NOT_FOUND),
            (Some(20), win32::ERROR_PATH_NOT_FOUND),
            (Some(5), win32::ERROR_WRITE_FAULT),
            (Some(9999), win32::ERROR_WRITE_FAULT),
            (None, win32::ERROR_WRITE_FAULT),
        ];
        for (errno, code) in table {
            let e = classify(&Failure::new(Cause::Local { op: LocalOp::WriteTemp, errno }, "/x", "No space"));
            assert_eq!((e.class, e.win32, e.http_status), (Fatal, code, 0), "{errno:?}");
            assert_eq!(e.message, "cannot write temporary file \"/x\": No space");
        }
        let ops = [
            (LocalOp::OpenTemp, "cannot open temporary file \"/d/f\": e"),
            (LocalOp::SizeTemp, "cannot read the size of temporary file \"/d/f\": e"),
            (LocalOp::ReadTemp, "cannot read temporary file \"/d/f\": e"),
            (LocalOp::TruncateTemp, "cannot truncate temporary file \"/d/f\": e"),
            (LocalOp::SeekTemp, "cannot seek in temporary file \"/d/f\": e"),
            (LocalOp::FlushTemp, "cannot flush temporary file \"/d/f\": e"),
            (LocalOp::FlushDirectory, "cannot flush directory \"/d/f\": e"),
            (LocalOp::CheckDestination, "the transfer lost its destination directory \"/d/f\": e"),
            (
                LocalOp::Rename { from: "/d/.f.part".into() },
                "cannot rename the temporary file onto \"/d/f\": e (from \"/d/.f.part\")",
            ),
        ];
        for (op, message) in ops {
            let e = classify(&Failure::new(Cause::Local { op, errno: Some(13) }, "/d/f", "e"));
            assert_eq!(e.message, message);
        }
    }

    #[test]
    fn file_sources_missing_or_unreadable_are_fatal_read_faults_transient() {
        let table = [
            (
                SourceProblem::Unreadable { errno: Some(2) },
                Fatal,
                win32::ERROR_FILE_NOT_FOUND,
                "source \"/s\" does not exist: e",
            ),
            (
                SourceProblem::Unreadable { errno: Some(20) },
                Fatal,
                win32::ERROR_PATH_NOT_FOUND,
                "source \"/s\" does not exist: e",
            ),
            (
                SourceProblem::Unreadable { errno: Some(13) },
                Fatal,
                win32::ERROR_ACCESS_DENIED,
                "source \"/s\" cannot be read: e",
            ),
            (
                SourceProblem::Unreadable { errno: Some(1) },
                Fatal,
                win32::ERROR_ACCESS_DENIED,
                "source \"/s\" cannot be read: e",
            ),
            (
                SourceProblem::Unreadable { errno: Some(5) },
                Transient,
                win32::ERROR_READ_FAULT,
                "cannot read source \"/s\": e",
            ),
            (
                SourceProblem::Unreadable { errno: None },
                Transient,
                win32::ERROR_READ_FAULT,
                "cannot read source \"/s\": e",
            ),
            (SourceProblem::IsDirectory, Fatal, win32::ERROR_ACCESS_DENIED, "source \"/s\" is a directory"),
            (
                SourceProblem::Changed { copied: 7 },
                Transient,
                win32::ERROR_READ_FAULT,
                "source \"/s\" changed during the copy (7 bytes copied)",
            ),
        ];
        for (problem, class, code, message) in table {
            let e = classify(&Failure::new(Cause::Source(problem), "/s", "e"));
            assert_eq!((e.class, e.win32, e.http_status, e.message.as_str()), (class, code, 0, message), "{problem:?}");
        }
    }

    #[test]
    fn digest_mismatches_are_fatal_bad_digest_and_discard_the_data() {
        use crate::model::Checksum;
        let expected = Checksum::parse("sha-256", &"ab".repeat(32)).unwrap();
        let table = [
            (DigestSource::Checksum, "the file's checksum"),
            (DigestSource::ReprDigest, "the server's Repr-Digest"),
            (DigestSource::ContentDigest, "the server's Content-Digest"),
        ];
        for (source, of) in table {
            let cause = Cause::DigestMismatch { source, expected: expected.clone(), actual: vec![0xcd; 32] };
            let e = classify(&Failure::new(cause, "http://h/x", ""));
            assert_eq!((e.class, e.win32, e.http_status, e.retry_after), (Fatal, 0x8009_6010, 0, None));
            assert!(e.discards_data, "{source:?}");
            let want = format!(
                "sha-256 digest of http://h/x does not match {of}: expected {}, got {}",
                "ab".repeat(32),
                "cd".repeat(32)
            );
            assert_eq!(e.message, want);
        }
        // A temporary file replaced by another is not resumed from either.
        let replaced = Cause::Local { op: LocalOp::ReplacedTemp, errno: Some(2) };
        let e = classify(&Failure::new(replaced, "/d/.f.part", ""));
        assert_eq!((e.class, e.win32, e.discards_data), (Fatal, win32::from_errno(2), true));
        assert_eq!(e.message, "another file replaced temporary file \"/d/.f.part\"");
        // No other cause discards what was received.
        let destination = Cause::Local { op: LocalOp::CheckDestination, errno: Some(2) };
        for cause in
            [Cause::Network(NetworkKind::Reset), Cause::BodyEndedEarly { received: 1, expected: 2 }, destination]
        {
            assert!(!f(cause).discards_data);
        }
        assert!(!f(http(404, None)).discards_data);
    }

    #[test]
    fn store_failures_are_fatal_with_the_stores_win32_code_else_write_fault() {
        let e = classify(&Failure::new(Cause::Store { win32: Some(win32::ERROR_DISK_FULL) }, "", "database full"));
        assert_eq!((e.class, e.win32, e.http_status, e.message.as_str()), (Fatal, 112, 0, "database full"));
        let e = classify(&Failure::new(Cause::Store { win32: None }, "", "locked"));
        assert_eq!((e.class, e.win32), (Fatal, win32::ERROR_WRITE_FAULT));
    }
}
