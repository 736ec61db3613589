//! file:// transfers, commit/discard, and the checks made before anything is stored.

mod support;

use qmgr_core::hresult::{win32, E_ACCESSDENIED, E_INVALIDARG};
use qmgr_core::model::{ErrorClass, Options};
use qmgr_core::rules::classify::classify;
use qmgr_core::transport::{CommitRequest, FetchOutcome, Transport};
use qmgr_net::NetTransport;
use std::time::{Duration, SystemTime};
use support::{content, options, Fetch};

fn transport() -> NetTransport {
    NetTransport::new(&options()).unwrap()
}

fn file_url(p: &std::path::Path) -> String {
    format!("file://{}", p.display())
}

#[test]
fn file_url_copy_and_resume() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("source.bin");
    let body = content(700_000);
    std::fs::write(&src, &body).unwrap();
    let temp = dir.path().join(".out.part");
    let t = transport();

    let mut f = Fetch::default();
    let FetchOutcome::Complete { bytes, validators } = f.run(&t, &file_url(&src), &temp) else {
        panic!("not complete")
    };
    assert_eq!(bytes, body.len() as u64);
    assert_eq!(validators.total, Some(body.len() as u64));
    let mtime = std::fs::metadata(&src).unwrap().modified().unwrap();
    assert_eq!(validators.last_modified, Some(httpdate::fmt_http_date(mtime)));
    assert_eq!(std::fs::read(&temp).unwrap(), body);

    // Resume: the first 300,000 bytes are held (plus junk past the checkpoint).
    let mut held = body[..300_000].to_vec();
    held.extend_from_slice(&[0; 1000]);
    std::fs::write(&temp, &held).unwrap();
    let mut f = Fetch { offset: 300_000, validators: validators.clone(), ..Fetch::default() };
    assert!(matches!(f.run(&t, &file_url(&src), &temp), FetchOutcome::Complete { .. }));
    assert_eq!(f.recorder.starts[0].0, 300_000);
    assert_eq!(std::fs::read(&temp).unwrap(), body);

    // A changed source (other size) restarts from zero.
    let body2 = content(10_000);
    std::fs::write(&src, &body2).unwrap();
    std::fs::write(&temp, &held).unwrap();
    let mut f = Fetch { offset: 300_000, validators, ..Fetch::default() };
    assert!(matches!(f.run(&t, &file_url(&src), &temp), FetchOutcome::Complete { bytes: 10_000, .. }));
    assert_eq!(f.recorder.starts[0].0, 0);
    assert_eq!(std::fs::read(&temp).unwrap(), body2);
}

#[test]
fn file_url_with_percent_escapes_and_a_missing_source() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("a b.txt");
    std::fs::write(&src, b"spaced").unwrap();
    let temp = dir.path().join(".t");
    let url = format!("file://{}/a%20b.txt", dir.path().display());
    assert!(matches!(Fetch::default().run(&transport(), &url, &temp), FetchOutcome::Complete { bytes: 6, .. }));

    let missing = format!("file://{}/nope", dir.path().display());
    let FetchOutcome::Failed(e) = Fetch::default().run(&transport(), &missing, &temp) else { panic!() };
    let e = classify(&e);
    assert_eq!((e.class, e.win32), (ErrorClass::Fatal, win32::ERROR_FILE_NOT_FOUND));
    assert!(e.message.contains("nope"));
}

#[test]
fn file_url_cancel_stops_the_copy() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("big");
    std::fs::write(&src, content(3_000_000)).unwrap();
    let temp = dir.path().join(".t");
    let mut f = Fetch::default();
    f.recorder.cancel_after = Some((1, f.cancel.clone()));
    assert_eq!(f.run(&transport(), &file_url(&src), &temp), FetchOutcome::Cancelled);
    let done = *f.recorder.progress.last().unwrap();
    assert!(done < 3_000_000);
    assert_eq!(std::fs::metadata(&temp).unwrap().len(), done);
}

#[test]
fn commit_renames_atomically_and_sets_mtime() {
    let dir = tempfile::tempdir().unwrap();
    let temp = dir.path().join(".final.bin.part");
    let fin = dir.path().join("final.bin");
    std::fs::write(&temp, b"new contents").unwrap();
    std::fs::write(&fin, b"old").unwrap();
    let date = "Wed, 21 Oct 2015 07:28:00 GMT";
    transport().commit(&temp, &fin, Some(date)).unwrap();
    assert_eq!(std::fs::read(&fin).unwrap(), b"new contents");
    assert!(!temp.exists());
    let mtime = std::fs::metadata(&fin).unwrap().modified().unwrap();
    assert_eq!(mtime, httpdate::parse_http_date(date).unwrap());

    // Without a date the file keeps the time it was written at.
    std::fs::write(&temp, b"x").unwrap();
    let before = SystemTime::now() - Duration::from_secs(60);
    transport().commit(&temp, &fin, None).unwrap();
    assert!(std::fs::metadata(&fin).unwrap().modified().unwrap() > before);
}

#[test]
fn commit_errors_are_fatal_local_errors() {
    let dir = tempfile::tempdir().unwrap();
    let e = classify(&transport().commit(&dir.path().join("missing"), &dir.path().join("final"), None).unwrap_err());
    assert_eq!(e.class, ErrorClass::Fatal);
    assert_eq!(e.win32, win32::ERROR_PATH_NOT_FOUND);
    let temp = dir.path().join("t");
    std::fs::write(&temp, b"x").unwrap();
    let e = classify(&transport().commit(&temp, &dir.path().join("no-dir").join("final"), None).unwrap_err());
    assert_eq!(e.class, ErrorClass::Fatal);
    assert!(e.message.contains("no-dir"), "{}", e.message);
    assert!(temp.exists(), "the temporary file stays for a later retry");
}

/// `commit_batch` commits many files at once (more than its 16 parallel flushes, into two
/// directories, with and without a date) with one result per request, in order: a failed
/// request (a missing temporary file, a missing directory) fails alone and leaves the others
/// committed.
#[test]
fn commit_batch_commits_each_file_and_fails_only_the_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let date = "Wed, 21 Oct 2015 07:28:00 GMT";
    let mut paths = Vec::new();
    for i in 0..40 {
        let d = if i % 2 == 0 { dir.path() } else { sub.as_path() };
        let temp = d.join(format!(".f{i}.part"));
        if i != 7 {
            std::fs::write(&temp, format!("file {i}")).unwrap();
        }
        let fin = if i == 13 { d.join("missing-dir").join("f13") } else { d.join(format!("f{i}")) };
        paths.push((temp, fin));
    }
    let requests: Vec<CommitRequest<'_>> = paths
        .iter()
        .enumerate()
        .map(|(i, (temp, fin))| CommitRequest {
            temp_path: temp,
            final_path: fin,
            last_modified: (i % 3 == 0).then_some(date),
        })
        .collect();
    let results = transport().commit_batch(&requests);
    assert_eq!(results.len(), 40);
    let results: Vec<_> = results.into_iter().map(|r| r.map_err(|e| classify(&e))).collect();
    for (i, ((temp, fin), r)) in paths.iter().zip(&results).enumerate() {
        match i {
            7 => assert_eq!(r.as_ref().unwrap_err().win32, win32::ERROR_PATH_NOT_FOUND, "missing temporary file"),
            13 => {
                assert_eq!(r.as_ref().unwrap_err().class, ErrorClass::Fatal, "missing directory");
                assert!(temp.exists(), "a failed commit keeps its temporary file");
            }
            _ => {
                r.as_ref().unwrap();
                assert_eq!(std::fs::read_to_string(fin).unwrap(), format!("file {i}"));
                assert!(!temp.exists());
                if i % 3 == 0 {
                    let mtime = std::fs::metadata(fin).unwrap().modified().unwrap();
                    assert_eq!(mtime, httpdate::parse_http_date(date).unwrap());
                }
            }
        }
    }
}

#[test]
fn discard_removes_and_ignores_missing_files() {
    let dir = tempfile::tempdir().unwrap();
    let temp = dir.path().join("t");
    std::fs::write(&temp, b"x").unwrap();
    let t = transport();
    t.discard(&temp);
    assert!(!temp.exists());
    t.discard(&temp);
}

#[test]
fn ca_file_option_is_checked() {
    let t = transport();
    let dir = tempfile::tempdir().unwrap();
    assert!(t.check_option("ca_file", "").is_ok());
    assert!(t.check_option("user_agent", "anything").is_ok());
    let missing = dir.path().join("none.pem");
    let e = t.check_option("ca_file", missing.to_str().unwrap()).unwrap_err();
    assert_eq!(e.hr, E_INVALIDARG);
    assert!(e.message.contains("none.pem"), "{}", e.message);
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let e = t.check_option("ca_file", empty.to_str().unwrap()).unwrap_err();
    assert!(e.message.contains("no PEM certificate"), "{}", e.message);
    let good = support_cert(&dir);
    t.check_option("ca_file", good.to_str().unwrap()).unwrap();
    t.configure(&Options { ca_file: good.to_str().unwrap().into(), ..options() }).unwrap();
    let e = t.configure(&Options { ca_file: empty.to_str().unwrap().into(), ..options() }).unwrap_err();
    assert_eq!(e.hr, E_INVALIDARG);
    assert_eq!(t.check_option("proxy", "::bad::").unwrap_err().hr, E_INVALIDARG);
    assert!(t.check_option("proxy", "http://proxy.example:3128").is_ok());
}

/// A PEM certificate for option checks (from the test fixtures).
fn support_cert(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let p = dir.path().join("ca.pem");
    std::fs::write(&p, include_str!("fixtures/ca.pem")).unwrap();
    p
}

#[test]
fn destinations_are_checked() {
    let t = transport();
    let dir = tempfile::tempdir().unwrap();
    let ok = dir.path().join("file.bin");
    t.check_destination(ok.to_str().unwrap()).unwrap();
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "no probe file left behind");
    let e = t.check_destination(dir.path().join("nope/file.bin").to_str().unwrap()).unwrap_err();
    assert_eq!(e.hr, E_INVALIDARG);
    assert!(e.message.contains("does not exist"), "{}", e.message);
    assert_eq!(t.check_destination("relative/file").unwrap_err().hr, E_INVALIDARG);
    assert_eq!(t.check_destination(dir.path().to_str().unwrap()).unwrap_err().hr, E_INVALIDARG);

    // A read-only directory: E_ACCESSDENIED, unless we are root (who may write anyway).
    use std::os::unix::fs::PermissionsExt;
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    let root = std::fs::write(ro.join("probe"), b"").is_ok();
    let r = t.check_destination(ro.join("f").to_str().unwrap());
    if root {
        assert!(r.is_ok());
    } else {
        assert_eq!(r.unwrap_err().hr, E_ACCESSDENIED);
    }
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn urls_are_checked_per_protocol() {
    let t = transport();
    t.check_url("https://example.com/f.bin", 1).unwrap();
    t.check_url("file:///srv/share/f.bin", 3).unwrap();
    for (u, p) in [("file:///x", 1), ("https://example.com/", 3), ("http://example.com/ä", 1)] {
        let e = t.check_url(u, p).unwrap_err();
        assert_eq!(e.hr, E_INVALIDARG);
        assert!(e.message.contains("URL"), "{}", e.message);
    }
}
