//! DECISIONS D15: the file's checksum and the server's digests (`Repr-Digest`,
//! `Content-Digest`; RFC 9530), hashed while the temporary file is written — its kept bytes
//! read back once when it is resumed — and checked before `fetch` reports it complete.

mod support;

use base64::Engine;
use qmgr_core::hresult::QMGR_E_BAD_DIGEST;
use qmgr_core::model::{to_hex, Checksum, ErrorClass, Validators};
use qmgr_core::rules::classify::classify;
use qmgr_core::transport::{Cause, DigestSource, FetchOutcome};
use qmgr_net::NetTransport;
use sha2::{Digest, Sha256, Sha512};
use std::path::Path;
use support::{content, options, static_file, Fetch, Mode, Reply, Request, Server};

fn transport() -> NetTransport {
    NetTransport::new(&options()).unwrap()
}

fn sha256(data: &[u8]) -> Checksum {
    Checksum::parse("sha-256", &to_hex(&Sha256::digest(data))).unwrap()
}

fn sha512(data: &[u8]) -> Checksum {
    Checksum::parse("sha-512", &to_hex(&Sha512::digest(data))).unwrap()
}

/// An RFC 9530 field value: `sha-256=:BASE64:`.
fn field(c: &Checksum) -> String {
    format!("{}=:{}:", c.algorithm(), base64::engine::general_purpose::STANDARD.encode(c.digest()))
}

/// Fetches `url` into `temp` with `checksum`, resuming from `offset` with `validators`.
fn fetch(url: &str, temp: &Path, checksum: Option<Checksum>, offset: u64, validators: Validators) -> FetchOutcome {
    Fetch { offset, validators, checksum, ..Fetch::default() }.run(&transport(), url, temp)
}

/// The mismatch a fetch ended with: (source, expected, actual digest).
fn mismatch(outcome: FetchOutcome) -> (DigestSource, Checksum, Vec<u8>) {
    let FetchOutcome::Failed(f) = outcome else { panic!("expected a digest mismatch, got {outcome:?}") };
    let e = classify(&f);
    assert_eq!((e.class, e.win32, e.http_status), (ErrorClass::Fatal, QMGR_E_BAD_DIGEST as u32, 0));
    assert!(e.discards_data);
    match f.cause {
        Cause::DigestMismatch { source, expected, actual } => (source, expected, actual),
        other => panic!("expected a digest mismatch, got {other:?}"),
    }
}

fn complete(outcome: FetchOutcome) -> u64 {
    match outcome {
        FetchOutcome::Complete { bytes, .. } => bytes,
        other => panic!("expected completion, got {other:?}"),
    }
}

/// The validators [`static_file`] gives a body of `len` bytes with ETag `"v1"`.
fn v1(len: usize) -> Validators {
    Validators { etag: Some("\"v1\"".into()), last_modified: None, total: Some(len as u64) }
}

#[test]
fn a_checksum_is_checked_over_the_whole_body_framed_or_chunked() {
    let body = content(700_000);
    let dir = tempfile::tempdir().unwrap();
    let temp = dir.path().join(".f.part");
    for mode in [Mode::Full, Mode::Chunked] {
        let b = body.clone();
        let server = Server::start(move |_, _| Reply::new(200).body(b.clone()).mode(mode));
        let url = server.url("/f");
        assert_eq!(complete(fetch(&url, &temp, Some(sha256(&body)), 0, Validators::default())), 700_000);
        assert_eq!(complete(fetch(&url, &temp, Some(sha512(&body)), 0, Validators::default())), 700_000);
        let wrong = sha256(b"another file");
        let (source, expected, actual) = mismatch(fetch(&url, &temp, Some(wrong.clone()), 0, Validators::default()));
        assert_eq!((source, expected), (DigestSource::Checksum, wrong.clone()), "{mode:?}");
        assert_eq!(actual, sha256(&body).digest());
        let FetchOutcome::Failed(f) = fetch(&url, &temp, Some(wrong.clone()), 0, Validators::default()) else {
            panic!()
        };
        let message = classify(&f).message;
        assert!(message.starts_with("sha-256 digest of http://127.0.0.1:"), "{message}");
        assert!(message.contains(&wrong.hex()) && message.contains(&sha256(&body).hex()), "{message}");
    }
}

/// A resumed file's kept bytes count: they are read back and hashed before the rest is
/// appended, so a wrong byte among them is caught even though the server sends only the rest.
#[test]
fn a_resumed_file_hashes_the_bytes_it_kept() {
    let body = content(900_000);
    let server = Server::start(static_file(body.clone(), "\"v1\""));
    let url = server.url("/f");
    let dir = tempfile::tempdir().unwrap();
    let temp = dir.path().join(".f.part");
    for kept in [1usize, 262_144, 300_001] {
        std::fs::write(&temp, &body[..kept]).unwrap();
        let outcome = fetch(&url, &temp, Some(sha256(&body)), kept as u64, v1(body.len()));
        assert_eq!(complete(outcome), 900_000, "kept {kept}");
        assert_eq!(server.requests().last().unwrap().header("range"), Some(format!("bytes={kept}-").as_str()));
        assert_eq!(std::fs::read(&temp).unwrap(), body);
        // The same with one kept byte wrong: the whole file's digest differs.
        let mut bad = body[..kept].to_vec();
        bad[kept / 2] ^= 1;
        std::fs::write(&temp, &bad).unwrap();
        let (source, _, actual) = mismatch(fetch(&url, &temp, Some(sha256(&body)), kept as u64, v1(body.len())));
        assert_eq!(source, DigestSource::Checksum);
        let mut whole = bad.clone();
        whole.extend_from_slice(&body[kept..]);
        assert_eq!(actual, sha256(&whole).digest(), "kept {kept}: the digest of what the file holds");
    }
}

/// A file held whole (the server answers 416 to the range past its end: nothing is sent) is
/// hashed from disk before it is reported complete.
#[test]
fn a_file_held_whole_is_hashed_before_it_completes() {
    let body = content(300_000);
    let server = Server::start(static_file(body.clone(), "\"v1\""));
    let url = server.url("/f");
    let dir = tempfile::tempdir().unwrap();
    let temp = dir.path().join(".f.part");
    std::fs::write(&temp, &body).unwrap();
    assert_eq!(complete(fetch(&url, &temp, Some(sha512(&body)), 300_000, v1(body.len()))), 300_000);
    assert_eq!(server.requests()[0].header("range"), Some("bytes=300000-"));
    let (source, expected, _) = mismatch(fetch(&url, &temp, Some(sha512(b"x")), 300_000, v1(body.len())));
    assert_eq!((source, expected), (DigestSource::Checksum, sha512(b"x")));
}

/// `Repr-Digest` and `Content-Digest` of a 200 describe the whole body: a wrong one is a
/// mismatch naming the header; unknown algorithms are ignored; a checksum and a server digest
/// are both checked.
#[test]
fn server_digests_of_a_whole_answer_are_checked() {
    let body = content(200_000);
    let dir = tempfile::tempdir().unwrap();
    let temp = dir.path().join(".f.part");
    let wrong = sha256(b"not it");
    let serve = |headers: Vec<(&'static str, String)>| {
        let b = body.clone();
        Server::start(move |_, _| {
            headers.iter().fold(Reply::new(200).body(b.clone()), |r, (k, v)| r.header(k, v.clone()))
        })
    };
    let right = [
        vec![("Repr-Digest", field(&sha256(&body)))],
        vec![("Content-Digest", field(&sha512(&body)))],
        vec![("Repr-Digest", format!("{}, {}", field(&sha256(&body)), field(&sha512(&body))))],
        vec![("Repr-Digest", "md5=:AAAAAAAAAAAAAAAAAAAAAA==:, unixsum=7".to_string())],
        vec![("Repr-Digest", "this is not a dictionary".to_string())],
    ];
    for headers in right {
        let server = serve(headers.clone());
        assert_eq!(complete(fetch(&server.url("/f"), &temp, None, 0, Validators::default())), 200_000, "{headers:?}");
    }
    let wrong_ones = [
        (vec![("Repr-Digest", field(&wrong))], DigestSource::ReprDigest),
        (vec![("Content-Digest", field(&wrong))], DigestSource::ContentDigest),
        (vec![("Repr-Digest", field(&sha256(&body))), ("Content-Digest", field(&wrong))], DigestSource::ContentDigest),
        (vec![("Repr-Digest", format!("md5=:AAAAAAAAAAAAAAAAAAAAAA==:, {}", field(&wrong)))], DigestSource::ReprDigest),
    ];
    for (headers, want) in wrong_ones {
        let server = serve(headers.clone());
        let (source, expected, actual) = mismatch(fetch(&server.url("/f"), &temp, None, 0, Validators::default()));
        assert_eq!((source, expected, actual), (want, wrong.clone(), sha256(&body).digest().to_vec()), "{headers:?}");
    }
    // A right checksum does not excuse a wrong server digest, nor the reverse.
    let server = serve(vec![("Repr-Digest", field(&wrong))]);
    let (source, ..) = mismatch(fetch(&server.url("/f"), &temp, Some(sha512(&body)), 0, Validators::default()));
    assert_eq!(source, DigestSource::ReprDigest);
    let server = serve(vec![("Repr-Digest", field(&sha256(&body)))]);
    let (source, ..) = mismatch(fetch(&server.url("/f"), &temp, Some(sha512(b"x")), 0, Validators::default()));
    assert_eq!(source, DigestSource::Checksum);
}

/// A 206 that continues a resumed file: its `Repr-Digest` describes the whole file and is
/// checked against the kept bytes plus the new ones; its `Content-Digest` describes only the
/// part sent and is not used.
#[test]
fn a_ranged_answer_is_checked_against_its_repr_digest_only() {
    let body = content(500_000);
    let kept = 123_456usize;
    let dir = tempfile::tempdir().unwrap();
    let temp = dir.path().join(".f.part");
    let serve = |repr: Option<Checksum>, content_digest: Option<Checksum>| {
        let b = body.clone();
        Server::start(move |req: &Request, _| {
            let start: usize =
                req.header("range").unwrap().trim_start_matches("bytes=").trim_end_matches('-').parse().unwrap();
            let mut r = Reply::new(206)
                .header("ETag", "\"v1\"")
                .header("Content-Range", format!("bytes {start}-{}/{}", b.len() - 1, b.len()))
                .body(b[start..].to_vec());
            if let Some(c) = &repr {
                r = r.header("Repr-Digest", field(c));
            }
            if let Some(c) = &content_digest {
                r = r.header("Content-Digest", field(c));
            }
            r
        })
    };
    let cases = [
        (Some(sha256(&body)), None, None),
        (Some(sha512(&body)), Some(sha256(&body[kept..])), None),
        (None, Some(sha256(b"wrong for the part, and ignored")), None),
        (Some(sha256(b"wrong")), None, Some(DigestSource::ReprDigest)),
    ];
    for (repr, content_digest, fails) in cases {
        let server = serve(repr.clone(), content_digest.clone());
        std::fs::write(&temp, &body[..kept]).unwrap();
        let outcome = fetch(&server.url("/f"), &temp, None, kept as u64, v1(body.len()));
        match fails {
            None => assert_eq!(complete(outcome), 500_000, "{repr:?} {content_digest:?}"),
            Some(want) => assert_eq!(mismatch(outcome).0, want),
        }
    }
    // The kept bytes are part of what the Repr-Digest covers.
    let server = serve(Some(sha256(&body)), None);
    let mut bad = body[..kept].to_vec();
    bad[0] ^= 0x80;
    std::fs::write(&temp, &bad).unwrap();
    assert_eq!(
        mismatch(fetch(&server.url("/f"), &temp, None, kept as u64, v1(body.len()))).0,
        DigestSource::ReprDigest
    );
}

#[test]
fn a_file_url_copy_is_checked_resumed_or_not() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("source.bin");
    let body = content(600_000);
    std::fs::write(&src, &body).unwrap();
    let url = format!("file://{}", src.display());
    let temp = dir.path().join(".out.part");
    let v = match fetch(&url, &temp, Some(sha256(&body)), 0, Validators::default()) {
        FetchOutcome::Complete { validators, .. } => validators,
        other => panic!("{other:?}"),
    };
    let (source, ..) = mismatch(fetch(&url, &temp, Some(sha256(b"x")), 0, Validators::default()));
    assert_eq!(source, DigestSource::Checksum);
    // Resumed with a wrong kept byte, then with the right ones.
    let mut bad = body[..250_000].to_vec();
    bad[10] ^= 1;
    std::fs::write(&temp, &bad).unwrap();
    mismatch(fetch(&url, &temp, Some(sha256(&body)), 250_000, v.clone()));
    std::fs::write(&temp, &body[..250_000]).unwrap();
    assert_eq!(complete(fetch(&url, &temp, Some(sha256(&body)), 250_000, v)), 600_000);
}
