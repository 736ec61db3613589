//! Local file names derived from URLs, and URLs made safe to print.

/// The file name `qmgr get` gives the download of `url`: the last segment of its path
/// (query and fragment ignored), percent-decoded when that gives safe UTF-8.
///
/// Errors (a message for people) when the URL has no scheme, or when the name would not be a
/// safe single path component: empty (the URL ends in `/` or has no path), `.`, `..`, or a
/// name containing `/`, NUL or control characters once decoded.
pub fn file_name_from_url(url: &str) -> Result<String, String> {
    let shown = redact_url(url);
    let Some((_, rest)) = url.split_once("://") else {
        return Err(format!("URL \"{shown}\" has no scheme (like https://)"));
    };
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let path = rest.find('/').map_or("", |i| &rest[i..]);
    let raw = path.rsplit('/').next().unwrap_or("");
    let name = percent_encoding::percent_decode_str(raw).decode_utf8().map_or_else(|_| raw.to_string(), String::from);
    let unsafe_name =
        name.is_empty() || name == "." || name == ".." || name.chars().any(|c| c == '/' || c.is_control());
    if unsafe_name {
        return Err(format!(
            "cannot name a file after URL \"{shown}\": the last segment of its path, \"{name}\", \
             is not a usable file name"
        ));
    }
    Ok(name)
}

/// `url` with the password of its user information replaced by `***`, for messages.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    match authority.rfind('@') {
        Some(at) if authority[..at].contains(':') => {
            let user = authority[..at].split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{}{}", &authority[at + 1..], &rest[end..])
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_last_path_segment() {
        let ok = |u: &str| file_name_from_url(u).unwrap();
        assert_eq!(ok("http://h/a/b/file.iso"), "file.iso");
        assert_eq!(ok("https://h:8080/x.tar.gz?token=1#frag"), "x.tar.gz");
        assert_eq!(ok("http://h/dir/my%20file.txt"), "my file.txt");
        assert_eq!(ok("http://h/bad%zzname"), "bad%zzname");
        assert_eq!(ok("file:///tmp/source.bin"), "source.bin");
        assert_eq!(ok("http://h/.hidden"), ".hidden");
    }

    #[test]
    fn unsafe_names_are_refused() {
        for u in [
            "http://h",
            "http://h/",
            "http://h/dir/",
            "http://h/.",
            "http://h/..",
            "http://h/%2e%2e",
            "http://h/a%2Fb",
            "http://h/a%00b",
            "http://h/?q=/x",
            "no-scheme/file",
        ] {
            assert!(file_name_from_url(u).is_err(), "{u}");
        }
    }

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(redact_url("http://u:secret@h/p?x@y"), "http://u:***@h/p?x@y");
        assert_eq!(redact_url("http://h/p@q"), "http://h/p@q");
        assert_eq!(redact_url("http://user@h/"), "http://user@h/");
        assert_eq!(redact_url("nonsense"), "nonsense");
    }
}
