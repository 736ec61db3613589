//! Requests through an HTTP proxy (issue #15, bug 2; RFC 9112 §3.2.2 and §3.2.3).
//!
//! ureq 3.5 tunnels every proxied request with `CONNECT`, plain `http://` too. Many proxies
//! (squid by default) allow `CONNECT` only to port 443, and a transfer through them then
//! failed and was retried until the no-progress timeout. [`ProxyConnector`] is the first
//! connector of both agents' chains (`config.rs`), in place of ureq's `ConnectProxyConnector`:
//!
//! * `http://` through an `http://` or `https://` proxy: a connection to the proxy, and every
//!   request on it in absolute form (`GET http://host:port/path HTTP/1.1`) with
//!   `Proxy-Authorization: Basic …` when the proxy's URL has credentials ([`AbsoluteForm`]).
//!   The origin's own credentials (DECISIONS D11) stay in `Authorization`, for the origin.
//! * `https://`: a `CONNECT` tunnel, by ureq's `ConnectProxyConnector`.
//! * A host that `NO_PROXY` exempts, a SOCKS proxy, or no proxy: passed on to the next
//!   connector (a direct connection).
//!
//! Every failure to reach or use the proxy (its name not resolved, connection refused, timed
//! out, `CONNECT` refused) is wrapped in [`ViaProxy`], so that `cause.rs` names the proxy, not
//! the origin, in the job's error (same Win32 codes as WinHTTP for a proxy: e.g.
//! `ERROR_WINHTTP_CANNOT_CONNECT`).
//!
//! ureq's pool keys connections by the origin and the proxy, so a connection to the proxy made
//! for one origin carries only that origin's requests: the absolute form's prefix is fixed per
//! connection. Only requests without a body pass through here (qmgr sends `GET`): each
//! `transmit_output` then holds exactly one request head, from its first byte.

use crate::url::redact;
use base64::prelude::{Engine as _, BASE64_STANDARD};
use std::error::Error as StdError;
use std::fmt;
use std::io;
use ureq::config::Config;
use ureq::http::uri::Scheme;
use ureq::unversioned::transport::{
    Buffers, ConnectProxyConnector, ConnectionDetails, Connector, Either, NextTimeout, Transport,
};
use ureq::{Proxy, ProxyProtocol};

/// The first connector of a chain: proxied requests (see the module's documentation).
#[derive(Debug)]
pub(crate) struct ProxyConnector {
    /// The agent's configuration without its proxy, for the connection to the proxy itself.
    pub(crate) direct: Config,
}

impl<In: Transport> Connector<In> for ProxyConnector {
    type Out = Either<In, Box<dyn Transport>>;

    fn connect(&self, details: &ConnectionDetails, chained: Option<In>) -> Result<Option<Self::Out>, ureq::Error> {
        if let Some(chained) = chained {
            return Ok(Some(Either::A(chained)));
        }
        let Some(proxy) = details.config.proxy() else { return Ok(None) };
        if !matches!(proxy.protocol(), ProxyProtocol::Http | ProxyProtocol::Https) || proxy.is_no_proxy(details.uri) {
            return Ok(None);
        }
        let via = |error| ViaProxy::wrap(proxy, error);
        if details.uri.scheme() == Some(&Scheme::HTTPS) {
            let tunnel = Connector::<()>::connect(&ConnectProxyConnector::default(), details, None).map_err(via)?;
            return Ok(tunnel.and_then(|t| match t {
                Either::A(()) => None,
                Either::B(t) => Some(Either::B(t)),
            }));
        }
        let addrs = details.resolver.resolve(proxy.uri(), &self.direct, details.timeout).map_err(via)?;
        let to_proxy = crate::config::connection_to(details, proxy.uri(), addrs, &self.direct);
        let inner = (details.run_connector)(&to_proxy).map_err(via)?;
        let authority = details.uri.authority().map(|a| a.as_str()).unwrap_or_default();
        let transport = AbsoluteForm {
            inner,
            prefix: format!("http://{authority}").into_bytes(),
            header: proxy_authorization(proxy).into_bytes(),
        };
        Ok(Some(Either::B(Box::new(transport))))
    }
}

/// `Proxy-Authorization: Basic …\r\n` for a proxy whose URL has credentials, else empty.
fn proxy_authorization(proxy: &Proxy) -> String {
    if proxy.username().is_none() && proxy.password().is_none() {
        return String::new();
    }
    let pair = format!("{}:{}", proxy.username().unwrap_or_default(), proxy.password().unwrap_or_default());
    format!("Proxy-Authorization: Basic {}\r\n", BASE64_STANDARD.encode(pair))
}

/// A connection to a proxy whose request heads are rewritten to absolute form.
struct AbsoluteForm {
    inner: Box<dyn Transport>,
    /// `http://host[:port]` of the origin, put before each request's path.
    prefix: Vec<u8>,
    /// Header lines added after each request line (the proxy's credentials), or empty.
    header: Vec<u8>,
}

impl fmt::Debug for AbsoluteForm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the header: it holds the proxy's password.
        f.debug_struct("AbsoluteForm").field("inner", &self.inner).finish_non_exhaustive()
    }
}

impl Transport for AbsoluteForm {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        let out = self.inner.buffers().output();
        let amount = to_absolute_form(out, amount, &self.prefix, &self.header).ok_or_else(|| {
            ureq::Error::Io(io::Error::other("the request head is too large to be sent through the proxy"))
        })?;
        self.inner.transmit_output(amount, timeout)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.inner.await_input(timeout)
    }

    fn is_open(&mut self) -> bool {
        self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}

/// Rewrites the request head in `buf[..amount]` in place: the origin-form target of its
/// request line (`GET /path HTTP/1.1`) gets `prefix` before it, and `header` is inserted after
/// the line. Returns the new length; `amount` unchanged when `buf` does not start with a
/// request line in origin form; `None` when the result would not fit in `buf` (or the request
/// line does not, which is the same).
fn to_absolute_form(buf: &mut [u8], amount: usize, prefix: &[u8], header: &[u8]) -> Option<usize> {
    let head = &buf[..amount];
    let method_len = head.iter().take_while(|b| b.is_ascii_uppercase()).count();
    if method_len == 0 || !head[method_len..].starts_with(b" /") {
        return Some(amount);
    }
    let line_len = head.windows(2).position(|w| w == b"\r\n")? + 2;
    let target = method_len + 1;
    let total = amount + prefix.len() + header.len();
    if total > buf.len() {
        return None;
    }
    buf.copy_within(line_len..amount, line_len + prefix.len() + header.len());
    buf.copy_within(target..line_len, target + prefix.len());
    buf[target..target + prefix.len()].copy_from_slice(prefix);
    let header_at = line_len + prefix.len();
    buf[header_at..header_at + header.len()].copy_from_slice(header);
    Some(total)
}

/// A failure to reach or use the proxy: the proxy's URL (redacted) and ureq's error.
#[derive(Debug)]
pub(crate) struct ViaProxy {
    /// The proxy's URL, without its credentials.
    pub(crate) proxy: String,
    /// What went wrong.
    pub(crate) error: ureq::Error,
}

impl ViaProxy {
    /// `error`, wrapped so that it names `proxy` (as an `io::Error`, which ureq passes on).
    fn wrap(proxy: &Proxy, error: ureq::Error) -> ureq::Error {
        let proxy = redact(&proxy.uri().to_string()).into_owned();
        ureq::Error::Io(io::Error::other(ViaProxy { proxy, error }))
    }
}

impl fmt::Display for ViaProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "proxy {}: {}", self.proxy, self.error)
    }
}

impl StdError for ViaProxy {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(head: &str, capacity: usize, header: &str) -> Option<String> {
        let mut buf = vec![0u8; capacity];
        buf[..head.len()].copy_from_slice(head.as_bytes());
        let n = to_absolute_form(&mut buf, head.len(), b"http://127.0.0.1:8080", header.as_bytes())?;
        Some(String::from_utf8(buf[..n].to_vec()).unwrap())
    }

    #[test]
    fn a_request_line_gets_the_absolute_target_and_the_proxy_header() {
        let head = "GET /a/b?c HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";
        let cases: [(&str, usize, &str, Option<&str>); 4] = [
            (head, 256, "", Some("GET http://127.0.0.1:8080/a/b?c HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n")),
            (
                head,
                256,
                "Proxy-Authorization: Basic dTpw\r\n",
                Some(
                    "GET http://127.0.0.1:8080/a/b?c HTTP/1.1\r\nProxy-Authorization: Basic dTpw\r\n\
                     Host: 127.0.0.1:8080\r\n\r\n",
                ),
            ),
            // Exactly full, and one byte short.
            (
                head,
                head.len() + 21,
                "",
                Some("GET http://127.0.0.1:8080/a/b?c HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"),
            ),
            (head, head.len() + 20, "", None),
        ];
        for (head, capacity, header, want) in cases {
            assert_eq!(rewrite(head, capacity, header).as_deref(), want, "{head:?} in {capacity}");
        }
    }

    #[test]
    fn anything_but_an_origin_form_request_line_is_left_alone() {
        for head in ["body bytes\r\n", "GET http://h/ HTTP/1.1\r\n\r\n", "CONNECT h:443 HTTP/1.1\r\n\r\n", "/x\r\n"] {
            assert_eq!(rewrite(head, 256, "X: y\r\n").as_deref(), Some(head), "{head:?}");
        }
        // A request line longer than the buffer.
        assert_eq!(rewrite("GET /x", 256, ""), None);
    }
}
