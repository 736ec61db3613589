//! The file name of a `Content-Disposition` header (RFC 6266, with RFC 8187's `filename*`),
//! made safe to use as a single file name in a chosen directory (`qmgr get
//! --content-disposition`, as wget's; issue #15).
//!
//! Parsed by hand: the grammar is one line of RFC 6266 §4.1, and the crate that exists for it
//! (`content_disposition` 0.4) prefers `filename` over `filename*` (RFC 6266 §4.3 says the
//! opposite), splits quoted strings at `;` and can panic on crafted parameters.

/// The longest name taken from a header, in bytes (a Linux file name may have 255; the
/// temporary file's name adds a GUID and a suffix, which `temp_path_for` makes fit).
pub(crate) const MAX_NAME_BYTES: usize = 200;

/// An extension at most this long (in bytes, with its dot) is kept when a long name is cut.
const MAX_KEPT_EXTENSION: usize = 16;

/// The file name that the `Content-Disposition` value `header` gives, made safe by
/// [`sanitize`]: `filename*` (RFC 8187 `charset'language'pct-encoded`, charset UTF-8 or
/// ISO-8859-1) when it decodes and gives a usable name, else `filename` (a token or a quoted
/// string with `\` escapes; not percent-decoded, RFC 6266 §4.3); `None` when neither does.
pub(crate) fn file_name(header: &str) -> Option<String> {
    let params = parameters(header);
    let value = |name: &str| params.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
    value("filename*").and_then(ext_value).and_then(|n| sanitize(&n)).or_else(|| value("filename").and_then(sanitize))
}

/// The parameters after the disposition type, in order: (name, value) with quoted strings
/// unquoted. A parameter without `=`, or whose quoted string does not end, is left out.
fn parameters(header: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Some((_, mut rest)) = header.split_once(';') else { return out };
    loop {
        rest = rest.trim_start_matches(|c: char| c == ';' || c.is_ascii_whitespace());
        if rest.is_empty() {
            return out;
        }
        let name_end = rest.find(['=', ';']).unwrap_or(rest.len());
        let name = rest[..name_end].trim().to_string();
        rest = &rest[name_end..];
        let Some(after) = rest.strip_prefix('=') else { continue };
        let after = after.trim_start();
        if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next().map(|(_, e)| e)),
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => value.push(c),
                }
            }
            let Some(end) = end else { return out };
            out.push((name, value));
            rest = &quoted[end..];
        } else {
            let value_end = after.find(';').unwrap_or(after.len());
            out.push((name, after[..value_end].trim().to_string()));
            rest = &after[value_end..];
        }
    }
}

/// Decodes an RFC 8187 `ext-value` (`UTF-8''%E2%82%AC%20rates`): `None` for another charset,
/// a bad percent sequence, or bytes that are not valid in the charset.
fn ext_value(value: &str) -> Option<String> {
    let mut parts = value.splitn(3, '\'');
    let (charset, _language, encoded) = (parts.next()?, parts.next()?, parts.next()?);
    let mut bytes = Vec::with_capacity(encoded.len());
    let mut it = encoded.bytes();
    while let Some(b) = it.next() {
        if b == b'%' {
            let hex = [it.next()?, it.next()?];
            bytes.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
        } else {
            bytes.push(b);
        }
    }
    if charset.eq_ignore_ascii_case("utf-8") {
        String::from_utf8(bytes).ok()
    } else if charset.eq_ignore_ascii_case("iso-8859-1") {
        Some(bytes.into_iter().map(char::from).collect())
    } else {
        None
    }
}

/// `name` made a safe single file name: only what follows its last `/` or `\` (never a
/// path), without control characters, surrounding white space or leading dots (never
/// hidden, `.` or `..`), and at most [`MAX_NAME_BYTES`] bytes (cut on a character boundary,
/// keeping a short extension). `None` when nothing is left.
pub(crate) fn sanitize(name: &str) -> Option<String> {
    let last = name.rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = last.chars().filter(|c| !c.is_control()).collect();
    let clean = clean.trim().trim_start_matches('.').trim_start();
    if clean.is_empty() {
        return None;
    }
    if clean.len() <= MAX_NAME_BYTES {
        return Some(clean.to_string());
    }
    let extension = clean.rfind('.').map(|i| &clean[i..]).filter(|e| e.len() <= MAX_KEPT_EXTENSION).unwrap_or("");
    let mut cut = MAX_NAME_BYTES - extension.len();
    while !clean.is_char_boundary(cut) {
        cut -= 1;
    }
    Some(format!("{}{extension}", &clean[..cut]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Header → the name taken (`None`: fall back to the URL's name).
    #[test]
    fn file_name_table() {
        let long = format!("attachment; filename=\"{}.iso\"", "x".repeat(10_000));
        let long_name = format!("{}.iso", "x".repeat(MAX_NAME_BYTES - 4));
        let rows: &[(&str, Option<&str>)] = &[
            ("attachment; filename=\"report.pdf\"", Some("report.pdf")),
            ("attachment; filename=plain.txt", Some("plain.txt")),
            ("ATTACHMENT; FILENAME = spaced.txt ; size=3", Some("spaced.txt")),
            ("inline", None),
            ("attachment", None),
            ("attachment; filename=\"\"", None),
            // Hostile names: never a path, never hidden, never `..`.
            ("attachment; filename=\"../../etc/passwd\"", Some("passwd")),
            ("attachment; filename=\"/abs\"", Some("abs")),
            ("attachment; filename=\"/\"", None),
            ("attachment; filename=\"a\\\\b\"", Some("b")),
            ("attachment; filename=a\\b", Some("b")),
            ("attachment; filename=\"..\"", None),
            ("attachment; filename=\".\"", None),
            ("attachment; filename=\".hidden\"", Some("hidden")),
            ("attachment; filename=\"...\"", None),
            ("attachment; filename*=UTF-8''a%01b%7F%0Ac.txt", Some("abc.txt")),
            ("attachment; filename*=UTF-8''..%2F..%2Fetc%2Fpasswd", Some("passwd")),
            ("attachment; filename*=UTF-8''%2E%2E", None),
            ("attachment; filename=\"  \"", None),
            // Quoted and escaped.
            ("attachment; filename=\"a \\\"quoted\\\" name.txt\"", Some("a \"quoted\" name.txt")),
            ("attachment; filename=\"a;b.txt\"; x=1", Some("a;b.txt")),
            ("attachment; filename=\"100%25.txt\"", Some("100%25.txt")),
            ("attachment; filename=\"unterminated.txt", None),
            // filename* (RFC 8187) preferred, in either order.
            ("attachment; filename=\"plain.txt\"; filename*=UTF-8''%E2%82%AC%20rates.txt", Some("€ rates.txt")),
            ("attachment; filename*=utf-8'en'%E2%82%AC.txt; filename=\"plain.txt\"", Some("€.txt")),
            ("attachment; filename*=iso-8859-1'en'%A3%20rates.txt", Some("£ rates.txt")),
            // A filename* that cannot be used falls back to filename.
            ("attachment; filename*=UTF-8''bad%zzname; filename=\"fallback.txt\"", Some("fallback.txt")),
            ("attachment; filename*=UTF-8''bad%2; filename=fallback.txt", Some("fallback.txt")),
            ("attachment; filename*=UTF-8''%FF%FE.txt; filename=fb.txt", Some("fb.txt")),
            ("attachment; filename*=KOI8-R''%C1.txt; filename=fb.txt", Some("fb.txt")),
            ("attachment; filename*=no-quotes.txt; filename=fb.txt", Some("fb.txt")),
            ("attachment; filename*=UTF-8''%2E%2E; filename=fb.txt", Some("fb.txt")),
            ("attachment; filename*=UTF-8''%FF", None),
            // Bounded length, the extension kept.
            (&long, Some(&long_name)),
        ];
        for (header, want) in rows {
            assert_eq!(file_name(header).as_deref(), *want, "{header:?}");
        }
    }

    #[test]
    fn long_names_are_cut_on_a_character_boundary() {
        let name = "é".repeat(1000);
        let cut = sanitize(&name).unwrap();
        assert!(cut.len() <= MAX_NAME_BYTES && cut.len() >= MAX_NAME_BYTES - 1, "{}", cut.len());
        assert!(cut.chars().all(|c| c == 'é'));
        let odd = format!("{}.{}", "a".repeat(300), "e".repeat(40));
        assert_eq!(sanitize(&odd).unwrap().len(), MAX_NAME_BYTES, "a long extension is cut too");
    }
}
