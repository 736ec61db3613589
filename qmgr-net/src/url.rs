//! URLs, parsed by the `url` crate (the WHATWG URL Standard, as browsers read them): the form
//! a request is sent with, redirect targets, redaction for messages, `file://` paths.
//!
//! What is stored and reported as a file's remote name stays the string the program gave, and
//! its path and query are sent as written ([`Request`]; DECISIONS D2); a redirect's target is
//! sent as the parser resolved it. D2's rules (ASCII, at most 2200 characters) are checked
//! before parsing, by `qmgr_core::model::check_url` (see `crate::check`).

pub(crate) use ::url::{ParseError, Url};
use percent_encoding::percent_decode_str;
use qmgr_core::transport::Credentials;
use std::borrow::Cow;
use std::path::PathBuf;

/// True for an `https:` URL.
pub(crate) fn is_https(url: &Url) -> bool {
    url.scheme() == "https"
}

/// `url` with the password of its user-info replaced by `***`, for messages and logs; a URL
/// without a password comes back as it is. A string with an `@` that does not parse as a URL
/// with a host (`http://u:pw@/x`, `u:pw@proxy:3128`) is shown with everything between `//` (or
/// its start) and its last `@` replaced by `***`: whatever it holds, no password is shown.
pub(crate) fn redact(url: &str) -> Cow<'_, str> {
    match Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            // Cannot fail: a URL with a password has a host.
            let _ = parsed.set_password(Some("***"));
            Cow::Owned(parsed.into())
        }
        Ok(parsed) if parsed.has_host() => Cow::Borrowed(url),
        _ => match (url.find("//"), url.rfind('@')) {
            (_, None) => Cow::Borrowed(url),
            (Some(slashes), Some(at)) if slashes < at => {
                Cow::Owned(format!("{}***{}", &url[..slashes + 2], &url[at..]))
            }
            (_, Some(at)) => Cow::Owned(format!("***{}", &url[at..])),
        },
    }
}

/// The URL a request for `url` is sent to, and the credentials its user-info held: the user-info
/// is taken off — the HTTP library would otherwise send it as `Authorization: Basic` with the
/// very first request, before any challenge and over plain http (issue #15) — and so is the
/// fragment, which is never sent. The credentials are percent-decoded (a user without `:` has
/// an empty password); `None` without user-info, or when it is not valid UTF-8 once decoded
/// (it is taken off all the same).
pub(crate) fn take_userinfo(mut url: Url) -> (Url, Option<Credentials>) {
    let decode = |s: &str| percent_decode_str(s).decode_utf8().ok().map(Cow::into_owned);
    let credentials = (!url.username().is_empty() || url.password().is_some())
        .then(|| decode(url.username()).zip(decode(url.password().unwrap_or(""))))
        .flatten()
        .map(|(user, password)| Credentials { user, password });
    // Both fail only for URLs without a host, which have no user-info to take.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.set_fragment(None);
    (url, credentials)
}

/// The URL a `Location` value sends a request for `base` to: resolved against `base` (WHATWG
/// URL parsing, as RFC 3986 §5.2 for the usual forms: absolute, `//host/…`, `/path`, `../x`,
/// `?q`), an http(s) URL, with its user-info (never sent: DECISIONS D11) and fragment taken off.
/// `None` when it does not resolve to an http(s) URL.
pub(crate) fn resolve(base: &Url, location: &str) -> Option<Url> {
    let next = base.join(location).ok().filter(|u| matches!(u.scheme(), "http" | "https"))?;
    Some(take_userinfo(next).0)
}

/// A request's URL as sent: its text and where its target (`/path?query`) starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Request {
    url: Url,
    text: String,
    target_at: usize,
}

impl Request {
    /// The request for `url` (user-info and fragment already taken off). Scheme, host and port
    /// are `url`'s (the parser lower-cases them and drops a default port: the same server).
    /// The target is written exactly as in `given`, the text `url` was parsed from, when there
    /// is one — DECISIONS D2: URLs are sent exactly as given; the WHATWG serialisation would
    /// remove dot segments and percent-encode characters such as `"`, `{` or `'`, which can
    /// change what a server serves or break a signed URL — else (a redirect's target, which
    /// the parser resolved) as `url` serialises it.
    pub(crate) fn new(url: Url, given: Option<&str>) -> Request {
        let origin = &url[..::url::Position::BeforePath];
        let target =
            given.and_then(given_target).unwrap_or(&url[::url::Position::BeforePath..::url::Position::AfterQuery]);
        let slash = if target.starts_with('/') { "" } else { "/" };
        let (text, target_at) = (format!("{origin}{slash}{target}"), origin.len());
        Request { url, text, target_at }
    }

    /// The URL as parsed (its origin, for credentials).
    pub(crate) fn url(&self) -> &Url {
        &self.url
    }

    /// The whole URL, for the HTTP library.
    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }

    /// The request target (`/path?query`), as a Digest answer names it (RFC 7616 §3.4: the
    /// request-target of the request line).
    pub(crate) fn target(&self) -> &str {
        &self.text[self.target_at..]
    }
}

/// The path and query of a hierarchical URL as written (`/a/../b?x`; empty or `?x` when the
/// path is empty): what follows the authority, up to the fragment. The authority ends at the
/// first `/`, `?`, `#` or `\` after `//` (RFC 3986 §3.2, and `\` as the WHATWG parser reads it
/// in http(s) URLs, so that both agree on the host). `None` without `//`.
fn given_target(given: &str) -> Option<&str> {
    let after = &given[given.find("//")? + 2..];
    let rest = &after[after.find(['/', '?', '#', '\\']).unwrap_or(after.len())..];
    Some(rest.split('#').next().unwrap_or(""))
}

/// The local path of a `file://` URL: `file:///abs/path`, `file://localhost/abs/path` or
/// `file:/abs/path`, percent-decoded (a `%` without two hex digits after it stays a `%`).
/// Errors: a description of the problem.
pub(crate) fn file_path(url: &str) -> Result<PathBuf, String> {
    use std::os::unix::ffi::OsStrExt;
    let parsed = Url::parse(url).map_err(|e| match e {
        ParseError::RelativeUrlWithoutBase => "it has no scheme".to_string(),
        e => format!("it does not parse: {e}"),
    })?;
    if parsed.scheme() != "file" {
        return Err(format!("its scheme \"{}\" is not file", parsed.scheme()));
    }
    // WHATWG reads `file:dir/x` as `file:///dir/x`; RFC 8089 has no relative file URLs.
    if !url.split_once(':').is_some_and(|(_, rest)| rest.starts_with('/')) {
        return Err("its path is not absolute".to_string());
    }
    if let Some(host) = parsed.host_str().filter(|h| !h.is_empty()) {
        return Err(format!("host \"{host}\" is not supported: mount the share and use file:///<mount point>/<path>"));
    }
    if parsed.path().ends_with('/') {
        return Err("its path names a directory".to_string());
    }
    let path = parsed.to_file_path().map_err(|()| "it names no local path".to_string())?;
    if path.as_os_str().as_bytes().contains(&0) {
        return Err("its path contains a NUL byte".to_string());
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn redirect_targets_resolve_like_rfc3986() {
        let base = parse("http://h:8/a/b/c?q=1");
        let from_base = |location: &str| resolve(&base, location).map(String::from);
        for (location, expected) in [
            ("https://x/y", "https://x/y"),
            ("//o/p", "http://o/p"),
            ("/z", "http://h:8/z"),
            ("d", "http://h:8/a/b/d"),
            ("../d?x", "http://h:8/a/d?x"),
            ("./", "http://h:8/a/b/"),
            ("?k", "http://h:8/a/b/c?k"),
            ("d#frag", "http://h:8/a/b/d"),
            ("#frag", "http://h:8/a/b/c?q=1"),
            ("", "http://h:8/a/b/c?q=1"),
            (" /z ", "http://h:8/z"),
            ("../../../../d", "http://h:8/d"),
            ("http://u:p@o/x", "http://o/x"),
            ("//u@o/x", "http://o/x"),
        ] {
            assert_eq!(from_base(location).as_deref(), Some(expected), "{location:?}");
        }
        for location in ["ftp://x/y", "file:///etc/passwd", "mailto:a@b", "http://", "http://[::1/"] {
            assert_eq!(from_base(location), None, "{location:?}");
        }
        assert_eq!(resolve_from("http://h", "x"), "http://h/x");
        assert_eq!(resolve_from("http://h/a/../../b", ""), "http://h/b");
    }

    fn resolve_from(base: &str, location: &str) -> String {
        resolve(&parse(base), location).unwrap().into()
    }

    #[test]
    fn user_info_and_fragment_are_taken_off_the_url() {
        let (bare, c) = take_userinfo(parse("http://bob:pw%3A1@127.0.0.1:8080/a@b?x=@#f"));
        assert_eq!(bare.as_str(), "http://127.0.0.1:8080/a@b?x=@");
        let c = c.unwrap();
        assert_eq!((c.user.as_str(), c.password.as_str()), ("bob", "pw:1"));
        let (bare, c) = take_userinfo(parse("https://alice@h/"));
        assert_eq!((bare.as_str(), c.map(|c| c.password)), ("https://h/", Some(String::new())));
        let (bare, c) = take_userinfo(parse("http://:pw@h/"));
        assert_eq!((bare.as_str(), c.map(|c| (c.user, c.password))), ("http://h/", Some((String::new(), "pw".into()))));
        let (bare, c) = take_userinfo(parse("http://h/p@q"));
        assert!(bare.as_str() == "http://h/p@q" && c.is_none());
        let (bare, c) = take_userinfo(parse("http://%ff:x@h/"));
        assert_eq!((bare.as_str(), c), ("http://h/", None));
    }

    #[test]
    fn origins_bind_credentials_to_scheme_host_and_port() {
        // What `Auth` keys the answering state of a challenge by (DECISIONS D11).
        assert_eq!(parse("HTTP://Host/x").origin(), parse("http://host:80/y").origin());
        assert_eq!(parse("https://u:p@[::1]/").origin(), parse("https://[::1]:443/z").origin());
        assert_ne!(parse("http://h/").origin(), parse("https://h/").origin());
        assert_ne!(parse("http://h/").origin(), parse("http://h:81/").origin());
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact("http://user:secret@h/x"), "http://user:***@h/x");
        assert_eq!(redact("http://user@h/x"), "http://user@h/x");
        assert_eq!(redact("http://h/a@b"), "http://h/a@b");
        assert_eq!(redact("HTTP://H:80"), "HTTP://H:80");
        // Unparseable: the part that may hold a password is hidden.
        assert_eq!(redact("http://u:hunter2@/x"), "http://***@/x");
        assert_eq!(redact("//u:hunter2@h/x"), "//***@h/x");
        assert_eq!(redact("u:hunter2@h:3128"), "***@h:3128");
        assert_eq!(redact("not a url"), "not a url");
    }

    #[test]
    fn file_urls() {
        assert_eq!(file_path("file:///tmp/a%20b").unwrap(), PathBuf::from("/tmp/a b"));
        assert_eq!(file_path("FILE://localhost/x").unwrap(), PathBuf::from("/x"));
        assert_eq!(file_path("file:/x").unwrap(), PathBuf::from("/x"));
        // WHATWG: a `%` not followed by two hex digits is itself.
        assert_eq!(file_path("file:///bad%zz").unwrap(), PathBuf::from("/bad%zz"));
        assert!(file_path("file://server/share/x").unwrap_err().contains("server"));
        assert!(file_path("file:relative").unwrap_err().contains("not absolute"));
        assert!(file_path("file:///dir/").unwrap_err().contains("directory"));
        assert!(file_path("file:///a%00b").unwrap_err().contains("NUL"));
        assert!(file_path("http://h/x").unwrap_err().contains("not file"));
        assert!(file_path("/x").unwrap_err().contains("no scheme"));
    }

    #[test]
    fn a_request_sends_the_target_as_given_and_a_redirect_target_as_resolved() {
        let sent = |given: &str, as_given: bool| {
            let (url, _) = take_userinfo(parse(given));
            let r = Request::new(url, as_given.then_some(given));
            (r.as_str().to_string(), r.target().to_string())
        };
        for (given, text, target) in [
            ("http://h:8/a/b?x=1#f", "http://h:8/a/b?x=1", "/a/b?x=1"),
            ("http://h", "http://h/", "/"),
            ("http://h?q", "http://h/?q", "/?q"),
            (
                "HTTP://u:p@Host:80/a/../b/%2e%2e/c?{'x'}#y",
                "http://host/a/../b/%2e%2e/c?{'x'}",
                "/a/../b/%2e%2e/c?{'x'}",
            ),
            (
                "https://h/sig?X-Amz-Signature=ab%2Fcd&e=\"1\"",
                "https://h/sig?X-Amz-Signature=ab%2Fcd&e=\"1\"",
                "/sig?X-Amz-Signature=ab%2Fcd&e=\"1\"",
            ),
        ] {
            assert_eq!(sent(given, true), (text.to_string(), target.to_string()), "{given}");
        }
        // A redirect's target, resolved by the parser: its serialisation.
        assert_eq!(sent("http://h/a/../b/{x}", false), ("http://h/b/%7Bx%7D".to_string(), "/b/%7Bx%7D".to_string()));
    }
}
