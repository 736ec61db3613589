//! Small URL helpers: scheme, origin, redaction for messages, redirect targets, `file://`
//! paths. URLs are ASCII (DECISIONS D2), so byte offsets are character offsets.

use qmgr_core::transport::Credentials;
use std::borrow::Cow;
use std::path::PathBuf;

/// The scheme of `url` (before the first `:`), when it is a valid scheme.
pub(crate) fn scheme(url: &str) -> Option<&str> {
    let colon = url.find(':')?;
    let s = &url[..colon];
    let mut chars = s.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic() && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
        .then_some(s)
}

/// Splits an absolute hierarchical URL into (scheme, authority, path-and-query).
/// The fragment is dropped; the path is `"/"` when empty.
fn split(url: &str) -> Option<(&str, &str, &str)> {
    let scheme = scheme(url)?;
    let rest = url[scheme.len() + 1..].strip_prefix("//")?;
    let rest = rest.split('#').next().unwrap_or("");
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let path = if end == rest.len() { "/" } else { &rest[end..] };
    Some((scheme, &rest[..end], path))
}

/// Where the user-info of `url` is: (index of the authority's first byte, index of the `@`
/// that ends the user-info), when the URL has an authority with user-info.
fn userinfo_span(url: &str) -> Option<(usize, usize)> {
    let start = scheme(url)?.len() + 1;
    url[start..].strip_prefix("//")?;
    let authority = start + 2;
    let end = url[authority..].find(['/', '?', '#']).map_or(url.len(), |i| authority + i);
    let at = authority + url[authority..end].rfind('@')?;
    Some((authority, at))
}

/// True for an `https:` URL (any case).
pub(crate) fn is_https(url: &str) -> bool {
    scheme(url).is_some_and(|s| s.eq_ignore_ascii_case("https"))
}

/// `url` with the password of its user-info replaced by `***`, for messages and logs.
pub(crate) fn redact(url: &str) -> Cow<'_, str> {
    let Some((authority, at)) = userinfo_span(url) else {
        return Cow::Borrowed(url);
    };
    let Some(colon) = url[authority..at].find(':') else {
        return Cow::Borrowed(url);
    };
    Cow::Owned(format!("{}:***{}", &url[..authority + colon], &url[at..]))
}

/// Splits the user-info off `url`: the URL without it — what goes on the wire, where the HTTP
/// library would otherwise send it as `Authorization: Basic` with the very first request,
/// before any challenge and over plain http (issue #15) — and the credentials it held,
/// percent-decoded (a user without `:` has an empty password). A URL without user-info comes
/// back as it is, with `None`; so does one whose user-info is not valid UTF-8 once decoded
/// (its user-info is still removed).
pub(crate) fn take_userinfo(url: &str) -> (Cow<'_, str>, Option<Credentials>) {
    let Some((authority, at)) = userinfo_span(url) else {
        return (Cow::Borrowed(url), None);
    };
    let userinfo = &url[authority..at];
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let decode = |s: &str| percent_decode(s).and_then(|b| String::from_utf8(b).ok());
    let credentials = decode(user).zip(decode(password)).map(|(user, password)| Credentials { user, password });
    (Cow::Owned(format!("{}{}", &url[..authority], &url[at + 1..])), credentials)
}

/// `scheme://host:port` of an http(s) URL, lower-cased, default port filled in, without
/// user-info: the origin credentials are bound to (DECISIONS D11).
pub(crate) fn origin(url: &str) -> Option<String> {
    let (scheme, authority, _) = split(url)?;
    let scheme = scheme.to_ascii_lowercase();
    let hostport = authority.rsplit('@').next().unwrap_or(authority).to_ascii_lowercase();
    let has_port = match hostport.rfind(':') {
        Some(i) => !hostport[i..].contains(']'),
        None => false,
    };
    let port = match (has_port, scheme.as_str()) {
        (true, _) => "",
        (false, "https") => ":443",
        (false, _) => ":80",
    };
    Some(format!("{scheme}://{hostport}{port}"))
}

/// The absolute URL a `Location` value points to, resolved against `base` (RFC 3986 §5.2,
/// without fragments). `None` when `base` is not an absolute hierarchical URL.
pub(crate) fn resolve(base: &str, location: &str) -> Option<String> {
    let location = location.trim();
    let location = location.split('#').next().unwrap_or("");
    if scheme(location).is_some() {
        let (s, a, p) = split(location)?;
        return Some(format!("{s}://{a}{}", remove_dot_segments_pq(p)));
    }
    let (scheme, authority, base_pq) = split(base)?;
    if let Some(rest) = location.strip_prefix("//") {
        return resolve(base, &format!("{scheme}://{rest}"));
    }
    let base_path = base_pq.split('?').next().unwrap_or("/");
    let pq = if location.is_empty() {
        base_pq.to_string()
    } else if location.starts_with('/') {
        location.to_string()
    } else if location.starts_with('?') {
        format!("{base_path}{location}")
    } else {
        let dir = &base_path[..base_path.rfind('/').map_or(0, |i| i + 1)];
        format!("{dir}{location}")
    };
    Some(format!("{scheme}://{authority}{}", remove_dot_segments_pq(&pq)))
}

/// Removes `.` and `..` segments from the path part of a path-and-query.
fn remove_dot_segments_pq(pq: &str) -> String {
    let (path, query) = match pq.find('?') {
        Some(i) => (&pq[..i], &pq[i..]),
        None => (pq, ""),
    };
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let n = segments.len();
    for (i, seg) in segments.into_iter().enumerate() {
        let last = i + 1 == n;
        match seg {
            "." => {
                if last {
                    out.push("");
                }
            }
            ".." => {
                out.pop();
                if last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    format!("/{}{query}", out.join("/"))
}

/// The local path of a `file://` URL: `file:///abs/path`, `file://localhost/abs/path` or
/// `file:/abs/path`, percent-decoded. Errors: a description of the problem.
pub(crate) fn file_path(url: &str) -> Result<PathBuf, String> {
    use std::os::unix::ffi::OsStringExt;
    let scheme = scheme(url).ok_or_else(|| "it has no scheme".to_string())?;
    if !scheme.eq_ignore_ascii_case("file") {
        return Err(format!("its scheme \"{scheme}\" is not file"));
    }
    let rest = &url[scheme.len() + 1..];
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let path = if let Some(after) = rest.strip_prefix("//") {
        let slash = after.find('/').unwrap_or(after.len());
        let host = &after[..slash];
        if !host.is_empty() && !host.eq_ignore_ascii_case("localhost") {
            return Err(format!(
                "host \"{host}\" is not supported: mount the share and use file:///<mount point>/<path>"
            ));
        }
        &after[slash..]
    } else {
        rest
    };
    if !path.starts_with('/') {
        return Err("its path is not absolute".to_string());
    }
    if path.ends_with('/') {
        return Err("its path names a directory".to_string());
    }
    let bytes = percent_decode(path).ok_or_else(|| "it has a malformed percent-escape".to_string())?;
    if bytes.contains(&0) {
        return Err("its path contains a NUL byte".to_string());
    }
    Ok(PathBuf::from(std::ffi::OsString::from_vec(bytes)))
}

fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_targets_resolve_like_rfc3986() {
        let base = "http://h:8/a/b/c?q=1";
        assert_eq!(resolve(base, "https://x/y").unwrap(), "https://x/y");
        assert_eq!(resolve(base, "//o/p").unwrap(), "http://o/p");
        assert_eq!(resolve(base, "/z").unwrap(), "http://h:8/z");
        assert_eq!(resolve(base, "d").unwrap(), "http://h:8/a/b/d");
        assert_eq!(resolve(base, "../d?x").unwrap(), "http://h:8/a/d?x");
        assert_eq!(resolve(base, "./").unwrap(), "http://h:8/a/b/");
        assert_eq!(resolve(base, "?k").unwrap(), "http://h:8/a/b/c?k");
        assert_eq!(resolve(base, "d#frag").unwrap(), "http://h:8/a/b/d");
        assert_eq!(resolve("http://h", "x").unwrap(), "http://h/x");
        assert_eq!(resolve("http://h/a/../../b", "").unwrap(), "http://h/b");
    }

    #[test]
    fn user_info_is_taken_off_the_url() {
        let (bare, c) = take_userinfo("http://bob:pw%3A1@127.0.0.1:8080/a@b?x=@");
        assert_eq!(bare, "http://127.0.0.1:8080/a@b?x=@");
        let c = c.unwrap();
        assert_eq!((c.user.as_str(), c.password.as_str()), ("bob", "pw:1"));
        let (bare, c) = take_userinfo("https://alice@h/");
        assert_eq!((bare.as_ref(), c.map(|c| c.password)), ("https://h/", Some(String::new())));
        let (bare, c) = take_userinfo("http://h/p@q");
        assert!(matches!(bare, Cow::Borrowed("http://h/p@q")) && c.is_none());
        let (bare, c) = take_userinfo("http://%ff:x@h/");
        assert_eq!((bare.as_ref(), c), ("http://h/", None));
    }

    #[test]
    fn origins_and_redaction() {
        assert_eq!(origin("HTTP://Host/x").unwrap(), "http://host:80");
        assert_eq!(origin("https://u:p@h:8443/x").unwrap(), "https://h:8443");
        assert_eq!(origin("https://[::1]/").unwrap(), "https://[::1]:443");
        assert_eq!(redact("http://user:secret@h/x"), "http://user:***@h/x");
        assert_eq!(redact("http://user@h/x"), "http://user@h/x");
        assert_eq!(redact("http://h/a@b"), "http://h/a@b");
    }

    #[test]
    fn file_urls() {
        assert_eq!(file_path("file:///tmp/a%20b").unwrap(), PathBuf::from("/tmp/a b"));
        assert_eq!(file_path("FILE://localhost/x").unwrap(), PathBuf::from("/x"));
        assert_eq!(file_path("file:/x").unwrap(), PathBuf::from("/x"));
        assert!(file_path("file://server/share/x").unwrap_err().contains("server"));
        assert!(file_path("file:relative").is_err());
        assert!(file_path("file:///dir/").is_err());
        assert!(file_path("file:///bad%zz").is_err());
    }
}
