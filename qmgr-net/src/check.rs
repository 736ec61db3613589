//! Checks made before anything is stored: options that need I/O, URLs, destinations.

use crate::url;
use qmgr_core::hresult::{Error, E_ACCESSDENIED, QM_E_DOWNLOADER_UNAVAILABLE};
use qmgr_core::model::protocol;
use qmgr_core::Result;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// EPERM, EACCES, EROFS (Linux errno values).
const EPERM: i32 = 1;
const EACCES: i32 = 13;
const EROFS: i32 = 30;

pub(crate) fn check_option(name: &str, value: &str) -> Result<()> {
    match name {
        "ca_file" if !value.is_empty() => crate::config::load_pem_certs(value).map(|_| ()),
        "proxy" if !value.is_empty() => crate::config::parse_proxy(value).map(|_| ()),
        _ => Ok(()),
    }
}

pub(crate) fn check_url(u: &str, protocol: u32) -> Result<()> {
    // DECISIONS D2: non-empty, ASCII without spaces or controls, at most 2200 characters.
    qmgr_core::model::check_url(u)?;
    let shown = url::redact(u);
    let bad = |problem: &str| Err(Error::invalid_arg(format!("URL \"{shown}\" {problem}")));
    let parsed = match url::Url::parse(u) {
        Ok(parsed) => parsed,
        Err(url::ParseError::RelativeUrlWithoutBase) => return bad("has no scheme"),
        Err(e) => return bad(&format!("does not parse: {e}")),
    };
    let scheme = parsed.scheme();
    match protocol {
        protocol::HTTP => {
            if scheme != "http" && scheme != "https" {
                return bad(&format!(
                    "has scheme \"{scheme}\", which does not belong to QM_PROTOCOL_HTTP (http, https)"
                ));
            }
            // Also an absolute URI as RFC 3986 writes it, `//` and a host after the scheme,
            // which ureq's parser accepts (it refuses `<`, `>`, `` ` `` raw): WHATWG parsing
            // reads `http:h/x`, `http:/h/x` and `http:///h/x` as `http://h/x`.
            if !u.split_once(':').is_some_and(|(_, rest)| rest.starts_with("//")) {
                return bad("has no \"//\" and host after its scheme");
            }
            match ureq::http::Uri::try_from(u) {
                Ok(uri) if uri.host().is_some_and(|h| !h.is_empty()) => Ok(()),
                Ok(_) => bad("has no host"),
                Err(e) => bad(&format!("does not parse: {e}")),
            }
        }
        protocol::SMB => {
            if scheme != "file" {
                return bad(&format!("has scheme \"{scheme}\", which does not belong to QM_PROTOCOL_SMB (file)"));
            }
            url::file_path(u).map(|_| ()).or_else(|problem| bad(&format!("is not usable: {problem}")))
        }
        protocol::FTP => Err(Error::new(
            QM_E_DOWNLOADER_UNAVAILABLE,
            format!("URL \"{shown}\": no FTP transport is available (QM_PROTOCOL_FTP)"),
        )),
        protocol::CUSTOM => {
            Err(Error::not_impl(format!("URL \"{shown}\": QM_PROTOCOL_CUSTOM transports are not implemented")))
        }
        other => Err(Error::invalid_arg(format!("protocol {other} is unknown"))),
    }
}

pub(crate) fn check_destination(local_path: &str) -> Result<()> {
    let path = Path::new(local_path);
    if !path.is_absolute() {
        return Err(Error::invalid_arg(format!("local path \"{local_path}\" is not absolute")));
    }
    let dir = match path.parent() {
        Some(d) if path.file_name().is_some() => d,
        _ => return Err(Error::invalid_arg(format!("local path \"{local_path}\" names no file"))),
    };
    let shown = dir.display();
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(Error::invalid_arg(format!("\"{shown}\" (directory of \"{local_path}\") is not a directory")))
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err(Error::invalid_arg(format!("directory \"{shown}\" of \"{local_path}\" does not exist")))
        }
        Err(e) if e.kind() == ErrorKind::PermissionDenied => {
            return Err(Error::new(E_ACCESSDENIED, format!("directory \"{shown}\" of \"{local_path}\": {e}")))
        }
        Err(e) => return Err(Error::invalid_arg(format!("directory \"{shown}\" of \"{local_path}\": {e}"))),
    }
    if std::fs::metadata(path).is_ok_and(|m| m.is_dir()) {
        return Err(Error::invalid_arg(format!("local path \"{local_path}\" is a directory")));
    }
    probe_writable(dir).map_err(|e| match e.raw_os_error() {
        Some(EPERM | EACCES | EROFS) => {
            Error::new(E_ACCESSDENIED, format!("directory \"{shown}\" of \"{local_path}\" is not writable: {e}"))
        }
        _ => Error::invalid_arg(format!("directory \"{shown}\" of \"{local_path}\" cannot hold files: {e}")),
    })
}

/// A directory found writable stays trusted this long: `AddFiles` of thousands of files into
/// one directory probes it once, not once per file (each probe is a create and an unlink).
const PROBE_TRUSTED: Duration = Duration::from_secs(1);

/// Whether `dir` is writable: [`probe`], unless the same directory passed one less than
/// [`PROBE_TRUSTED`] ago.
fn probe_writable(dir: &Path) -> std::io::Result<()> {
    static LAST_OK: Mutex<Option<(PathBuf, Instant)>> = Mutex::new(None);
    let fresh = |last: &Option<(PathBuf, Instant)>| {
        last.as_ref().is_some_and(|(d, at)| d == dir && at.elapsed() < PROBE_TRUSTED)
    };
    if fresh(&LAST_OK.lock().unwrap_or_else(|e| e.into_inner())) {
        return Ok(());
    }
    probe(dir)?;
    *LAST_OK.lock().unwrap_or_else(|e| e.into_inner()) = Some((dir.to_path_buf(), Instant::now()));
    Ok(())
}

/// Creates and removes a uniquely named hidden file in `dir`: the honest writability test
/// (permission bits say nothing for root, ACLs or read-only mounts).
fn probe(dir: &Path) -> std::io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let mut last = None;
    for _ in 0..8 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let probe = dir.join(format!(".qmgr-probe-{}-{nanos}-{n}", std::process::id()));
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&probe) {
            Ok(f) => {
                drop(f);
                if let Err(e) = std::fs::remove_file(&probe) {
                    log::warn!("cannot remove probe file {}: {e}", probe.display());
                }
                return Ok(());
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no unique probe name")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use qmgr_core::hresult::{E_INVALIDARG, E_NOTIMPL};

    #[test]
    fn urls_are_checked_against_the_protocol() {
        assert!(check_url("http://example.com/a?b=c", protocol::HTTP).is_ok());
        assert!(check_url("HTTPS://example.com:8443/", protocol::HTTP).is_ok());
        assert!(check_url("file:///tmp/x", protocol::SMB).is_ok());
        for (u, p) in [
            ("", protocol::HTTP),
            ("http://exämple.com/", protocol::HTTP),
            ("http://example.com/a b", protocol::HTTP),
            ("ftp://example.com/x", protocol::HTTP),
            ("file:///tmp/x", protocol::HTTP),
            ("http:///x", protocol::HTTP),
            ("http:/x", protocol::HTTP),
            ("http:x", protocol::HTTP),
            ("http://example.com/a<b", protocol::HTTP),
            ("//example.com/x", protocol::HTTP),
            ("http://example.com:99999/", protocol::HTTP),
            ("http://exa<mple.com/", protocol::HTTP),
            ("http://[::1/", protocol::HTTP),
            ("http://example.com/x", protocol::SMB),
            ("file://server/share/x", protocol::SMB),
            ("file:relative", protocol::SMB),
            ("http://example.com/", 9),
        ] {
            let e = check_url(u, p).expect_err(u);
            assert_eq!(e.hr, E_INVALIDARG, "{u} {p}: {e}");
        }
        let long = format!("http://example.com/{}", "a".repeat(crate::MAX_URL_LEN));
        assert!(check_url(&long, protocol::HTTP).unwrap_err().message.contains("2200"));
        assert_eq!(check_url("ftp://x/y", protocol::FTP).unwrap_err().hr, QM_E_DOWNLOADER_UNAVAILABLE);
        assert_eq!(check_url("x://y", protocol::CUSTOM).unwrap_err().hr, E_NOTIMPL);
        for u in ["http://u:hunter2@/x", "http://u:hunter2@h:99999/", "ftp://u:hunter2@h/", "http://u:hunter2@h/é"] {
            let e = check_url(u, protocol::HTTP).unwrap_err();
            assert!(!e.message.contains("hunter2"), "{e}");
        }
    }
}
