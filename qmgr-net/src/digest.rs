//! Digests of a fetched file (DECISIONS D15): the file's checksum and the digests a server
//! sends (`Repr-Digest`, `Content-Digest`; RFC 9530), computed with RustCrypto's `sha2`
//! while the bytes are written to the temporary file, and checked before the fetch reports
//! the file complete.

use crate::cause::local_failure;
use crate::CHUNK_SIZE;
use qmgr_core::model::{Checksum, DigestAlgorithm};
use qmgr_core::rules::digests;
use qmgr_core::transport::{CancelFlag, Cause, DigestSource, Failure, LocalOp};
use sha2::{Digest, Sha256, Sha512};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use ureq::http::HeaderMap;

/// One running hash.
enum Hasher {
    Sha256(Sha256),
    Sha512(Sha512),
}

impl Hasher {
    fn new(algorithm: DigestAlgorithm) -> Hasher {
        match algorithm {
            DigestAlgorithm::Sha256 => Hasher::Sha256(Sha256::new()),
            DigestAlgorithm::Sha512 => Hasher::Sha512(Sha512::new()),
        }
    }

    fn algorithm(&self) -> DigestAlgorithm {
        match self {
            Hasher::Sha256(_) => DigestAlgorithm::Sha256,
            Hasher::Sha512(_) => DigestAlgorithm::Sha512,
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha512(h) => h.update(bytes),
        }
    }

    fn finalize(&self) -> Vec<u8> {
        match self {
            Hasher::Sha256(h) => h.clone().finalize().to_vec(),
            Hasher::Sha512(h) => h.clone().finalize().to_vec(),
        }
    }
}

/// What one fetch expects of the whole file, and the hashes that check it (one per algorithm
/// expected). Without an expected digest it hashes nothing.
///
/// The hashes always cover the first `hashed` bytes of the temporary file. They run on the
/// writer's thread, over each write's bytes right after the write, while those bytes are still
/// in the core's cache: SHA-256 (sha2, SHA-NI) hashes bytes in the cache at about 1.7 GB/s and
/// bytes from memory at about 1.1 GB/s on the bench machine, and hashing 1 MiB steps on a
/// thread of their own behind the writer, which read them from memory, was slower on a 1 GiB
/// loopback download (bench 5e: 752–782 against 850 MB/s, 2.17 against 1.75 s of CPU).
///
/// When an answer's body is appended at an offset the hashes do not reach — a resumed file —
/// the bytes kept are read back and hashed once, before the first new byte
/// ([`Verifier::start`]); a restart from zero starts the hashes again.
pub(crate) struct Verifier {
    /// The file's checksum first (from the request), then the digests of the server's
    /// answers to this fetch.
    expected: Vec<(DigestSource, Checksum)>,
    /// One per algorithm expected; none when nothing is expected.
    hashers: Vec<Hasher>,
    /// Bytes from the file's start handed to the hashes.
    hashed: u64,
}

impl Verifier {
    /// A verifier expecting `checksum`, if any, and whatever the server's answers will say.
    pub(crate) fn new(checksum: Option<&Checksum>) -> Verifier {
        let expected = checksum.map(|c| (DigestSource::Checksum, c.clone())).into_iter().collect();
        Verifier { expected, hashers: Vec::new(), hashed: 0 }
    }

    /// An answer was accepted; its body is written from byte `start` of `file` (at `path`;
    /// `None` while the temporary file is not created, which then holds nothing),
    /// and it carries the server digests `server`, which describe the whole file: they
    /// replace those of earlier answers when the file starts from zero, and join them when
    /// the answer continues it. Hashes the `start` bytes kept when the hashes do not cover
    /// them yet (read back from the file).
    ///
    /// Returns false when `cancel` was raised while the kept bytes were read.
    /// Errors: a [`Cause::Local`] failure (`LocalOp::ReadTemp`) when they cannot be read.
    pub(crate) fn start(
        &mut self,
        file: Option<&File>,
        path: &Path,
        start: u64,
        server: Vec<(DigestSource, Checksum)>,
        cancel: &CancelFlag,
    ) -> Result<bool, Failure> {
        if start == 0 {
            self.expected.retain(|(source, _)| *source == DigestSource::Checksum);
        }
        self.expected.extend(server);
        self.catch_up(file, path, start, cancel)
    }

    /// Hashes the next bytes written to the file, on the caller's thread (call it right
    /// after each write, [`crate::local::write_all`]). Hashes nothing when nothing is expected.
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        self.hashed += bytes.len() as u64;
        self.hashers.iter_mut().for_each(|h| h.update(bytes));
    }

    /// The file is complete with `len` bytes: hashes any of them not hashed yet (a file the
    /// server confirmed whole without sending a body, HTTP 416) and compares every expected
    /// digest. `subject` names the file in a mismatch's message (the redacted URL).
    ///
    /// Returns false when `cancel` was raised while bytes were read back.
    /// Errors: [`Cause::DigestMismatch`] for the first expected digest that differs; a
    /// [`Cause::Local`] failure when the file cannot be read back.
    pub(crate) fn finish(
        &mut self,
        file: Option<&File>,
        path: &Path,
        len: u64,
        subject: &str,
        cancel: &CancelFlag,
    ) -> Result<bool, Failure> {
        if !self.catch_up(file, path, len, cancel)? {
            return Ok(false);
        }
        let hashers = &self.hashers;
        for (source, expected) in &self.expected {
            let hasher = hashers.iter().find(|h| h.algorithm() == expected.algorithm());
            let actual = hasher.expect("a hash for every algorithm expected").finalize();
            if actual != expected.digest() {
                let cause = Cause::DigestMismatch { source: *source, expected: expected.clone(), actual };
                return Err(Failure::new(cause, subject, ""));
            }
        }
        Ok(true)
    }

    /// Brings the hashes to cover exactly the first `to` bytes of the file, with one hash per
    /// algorithm expected: hashes past `to`, or missing an algorithm, start again from zero;
    /// bytes not covered are read back from the file.
    fn catch_up(&mut self, file: Option<&File>, path: &Path, to: u64, cancel: &CancelFlag) -> Result<bool, Failure> {
        let missing = |hashers: &[Hasher], a: DigestAlgorithm| !hashers.iter().any(|h| h.algorithm() == a);
        let hashers = &mut self.hashers;
        if self.hashed > to || self.expected.iter().any(|(_, c)| missing(hashers, c.algorithm())) {
            hashers.clear();
            for (_, c) in &self.expected {
                if missing(hashers, c.algorithm()) {
                    hashers.push(Hasher::new(c.algorithm()));
                }
            }
            self.hashed = 0;
        }
        if hashers.is_empty() {
            self.hashed = to;
            return Ok(true);
        }
        if self.hashed < to {
            log::debug!("{}: hashing the {} bytes held", path.display(), to - self.hashed);
        }
        let mut buf = vec![0u8; CHUNK_SIZE.min((to - self.hashed) as usize)];
        while self.hashed < to {
            let Some(file) = file else {
                let e = std::io::Error::new(std::io::ErrorKind::NotFound, "no temporary file holds the bytes");
                return Err(local_failure(&e, LocalOp::ReadTemp, path));
            };
            if cancel.is_cancelled() {
                return Ok(false);
            }
            let want = buf.len().min((to - self.hashed) as usize);
            let n = match file.read_at(&mut buf[..want], self.hashed) {
                Ok(0) => {
                    let e = std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the file is shorter than held");
                    return Err(local_failure(&e, LocalOp::ReadTemp, path));
                }
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(local_failure(&e, LocalOp::ReadTemp, path)),
            };
            hashers.iter_mut().for_each(|h| h.update(&buf[..n]));
            self.hashed += n as u64;
        }
        Ok(true)
    }
}

/// The digests of the whole file that an HTTP answer with `status` carries (RFC 9530;
/// DECISIONS D15), as they are to be checked: which headers count in which answer is the
/// core's rule, `qmgr_core::rules::digests::describes_whole_file` (`Repr-Digest` in a `200`
/// or `206`, `Content-Digest` in a `200`).
///
/// Each header is an RFC 9651 dictionary (`sha-256=:BASE64:, sha-512=:BASE64:`; several field
/// lines are joined with `, `), parsed by the `sfv` crate. Keys other than `sha-256` and
/// `sha-512` are ignored, and so are values that are not a byte sequence of the algorithm's
/// length; a header that does not parse is ignored whole (logged).
pub(crate) fn server_digests(status: u16, headers: &HeaderMap) -> Vec<(DigestSource, Checksum)> {
    let mut found = Vec::new();
    for (name, source) in [("repr-digest", DigestSource::ReprDigest), ("content-digest", DigestSource::ContentDigest)] {
        if !digests::describes_whole_file(source, status) {
            continue;
        }
        let lines: Vec<&str> = headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).collect();
        if lines.is_empty() {
            continue;
        }
        match parse_digest_field(&lines.join(", ")) {
            Ok(digests) => found.extend(digests.into_iter().map(|c| (source, c))),
            Err(e) => log::warn!("ignoring a {name} header that is not a structured dictionary: {e}"),
        }
    }
    found
}

/// The sha-256 and sha-512 digests of an RFC 9530 field value (see [`server_digests`]).
///
/// Errors: the `sfv` parser's, when the value is not an RFC 9651 dictionary.
fn parse_digest_field(value: &str) -> Result<Vec<Checksum>, sfv::Error> {
    let dictionary: sfv::Dictionary = sfv::Parser::new(value).parse()?;
    let mut digests = Vec::new();
    for (key, entry) in dictionary {
        let Some(algorithm) = DigestAlgorithm::ALL.into_iter().find(|a| a.name() == key.as_str()) else { continue };
        let sfv::ListEntry::Item(sfv::Item { bare_item: sfv::BareItem::ByteSequence(bytes), .. }) = entry else {
            continue;
        };
        match Checksum::from_bytes(algorithm, bytes) {
            Some(c) => digests.push(c),
            None => log::warn!("ignoring a {algorithm} digest of the wrong length"),
        }
    }
    Ok(digests)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ureq::http::HeaderValue;

    const HELLO: &[u8] = b"hello world\n";

    fn b64(bytes: &[u8]) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(*name, HeaderValue::from_str(value).unwrap());
        }
        h
    }

    #[test]
    fn rfc_9530_example_parses() {
        // The content of RFC 9530's examples, and its digests as the RFC writes them.
        let content = br#"{"hello": "world"}"#;
        let value = "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:, \
                     sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrI\
                     iYllu7BNNyealdVLvRwEmTHWXvJwew==:";
        let d = parse_digest_field(value).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!((d[0].algorithm(), d[0].digest()), (DigestAlgorithm::Sha256, Sha256::digest(content).as_slice()));
        assert_eq!((d[1].algorithm(), d[1].digest()), (DigestAlgorithm::Sha512, Sha512::digest(content).as_slice()));
    }

    /// (status, headers) → the digests taken, as (source, algorithm).
    #[test]
    fn which_digests_count() {
        const S256: DigestAlgorithm = DigestAlgorithm::Sha256;
        const S512: DigestAlgorithm = DigestAlgorithm::Sha512;
        use DigestSource::{ContentDigest, ReprDigest};
        let s256 = format!("sha-256=:{}:", b64(&Sha256::digest(HELLO)));
        let s512 = format!("sha-512=:{}:", b64(&Sha512::digest(HELLO)));
        let both = format!("{s256}, {s512}");
        let with_unknown = format!("md5=:AAAAAAAAAAAAAAAAAAAAAA==:, unixsum=30637, {s256}, crc32c=\"x,y\"");
        let short = format!("sha-256=:{}:", b64(&[1, 2, 3]));
        type Row<'a> = (u16, Vec<(&'static str, &'a str)>, Vec<(DigestSource, DigestAlgorithm)>);
        let table: Vec<Row> = vec![
            (200, vec![("repr-digest", &s256)], vec![(ReprDigest, S256)]),
            (200, vec![("content-digest", &both)], vec![(ContentDigest, S256), (ContentDigest, S512)]),
            (
                200,
                vec![("repr-digest", &s512), ("content-digest", &s256)],
                vec![(ReprDigest, S512), (ContentDigest, S256)],
            ),
            (206, vec![("repr-digest", &s256), ("content-digest", &s512)], vec![(ReprDigest, S256)]),
            (206, vec![("content-digest", &s256)], vec![]),
            (200, vec![("repr-digest", &with_unknown)], vec![(ReprDigest, S256)]),
            (200, vec![("repr-digest", &s256), ("repr-digest", &s512)], vec![(ReprDigest, S256), (ReprDigest, S512)]),
            (200, vec![("repr-digest", "sha-256=abc")], vec![]),
            (200, vec![("repr-digest", "sha-256=:not base64!:")], vec![]),
            (200, vec![("repr-digest", "SHA-256=:AAAA:")], vec![]),
            (200, vec![("repr-digest", &short)], vec![]),
            (200, vec![("digest", "SHA-256=abc")], vec![]),
            (200, vec![], vec![]),
        ];
        for (status, pairs, want) in table {
            let got: Vec<_> =
                server_digests(status, &headers(&pairs)).into_iter().map(|(s, c)| (s, c.algorithm())).collect();
            assert_eq!(got, want, "{status} {pairs:?}");
        }
        let d = server_digests(200, &headers(&[("repr-digest", &s256)]));
        assert_eq!(d[0].1.digest(), Sha256::digest(HELLO).as_slice());
    }

    fn temp_with(bytes: &[u8]) -> (tempfile::TempDir, std::path::PathBuf, File) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        std::fs::write(&path, bytes).unwrap();
        let file = File::open(&path).unwrap();
        (dir, path, file)
    }

    fn checksum(alg: &str, digest: &[u8]) -> Checksum {
        Checksum::parse(alg, &qmgr_core::model::to_hex(digest)).unwrap()
    }

    #[test]
    fn streamed_kept_and_read_back_bytes_hash_alike() {
        let data: Vec<u8> = (0..3 * CHUNK_SIZE as u32 + 7).map(|i| (i * 7 % 251) as u8).collect();
        let (_d, path, file) = temp_with(&data);
        let cancel = CancelFlag::new();
        let want = checksum("sha-256", &Sha256::digest(&data));
        // Streamed from zero.
        let mut v = Verifier::new(Some(&want));
        assert!(v.start(Some(&file), &path, 0, Vec::new(), &cancel).unwrap());
        for c in data.chunks(1000) {
            v.update(c);
        }
        assert!(v.finish(Some(&file), &path, data.len() as u64, "u", &cancel).unwrap());
        // Resumed: the kept prefix is read back once, the rest streamed.
        for kept in [1, CHUNK_SIZE as u64, CHUNK_SIZE as u64 + 1, data.len() as u64] {
            let mut v = Verifier::new(Some(&want));
            assert!(v.start(Some(&file), &path, kept, Vec::new(), &cancel).unwrap());
            assert_eq!(v.hashed, kept);
            v.update(&data[kept as usize..]);
            assert!(v.finish(Some(&file), &path, data.len() as u64, "u", &cancel).unwrap(), "kept {kept}");
        }
        // Nothing streamed at all (HTTP 416: every byte held): read back at the end.
        let mut v = Verifier::new(Some(&want));
        assert!(v.finish(Some(&file), &path, data.len() as u64, "u", &cancel).unwrap());
        // A restart from zero after some bytes starts the hash again.
        let mut v = Verifier::new(Some(&want));
        v.start(Some(&file), &path, 0, Vec::new(), &cancel).unwrap();
        v.update(b"garbage that is dropped");
        v.start(Some(&file), &path, 0, Vec::new(), &cancel).unwrap();
        v.update(&data);
        assert!(v.finish(Some(&file), &path, data.len() as u64, "u", &cancel).unwrap());
    }

    #[test]
    fn a_mismatch_names_the_source_and_both_digests() {
        let (_d, path, file) = temp_with(HELLO);
        let cancel = CancelFlag::new();
        let right = checksum("sha-512", &Sha512::digest(HELLO));
        let wrong = checksum("sha-256", &[0x11; 32]);
        // The checksum is right, the server's Repr-Digest is wrong: both are checked.
        let mut v = Verifier::new(Some(&right));
        v.start(Some(&file), &path, 0, vec![(DigestSource::ReprDigest, wrong.clone())], &cancel).unwrap();
        v.update(HELLO);
        let f = v.finish(Some(&file), &path, HELLO.len() as u64, "http://h/x", &cancel).unwrap_err();
        assert_eq!(f.subject, "http://h/x");
        let Cause::DigestMismatch { source, expected, actual } = f.cause else { panic!("{f:?}") };
        assert_eq!((source, expected), (DigestSource::ReprDigest, wrong));
        assert_eq!(actual, Sha256::digest(HELLO).to_vec());
        // A server digest of an answer that restarts from zero replaces the earlier ones.
        let mut v = Verifier::new(None);
        v.start(Some(&file), &path, 0, vec![(DigestSource::ReprDigest, checksum("sha-256", &[0x11; 32]))], &cancel)
            .unwrap();
        let good = checksum("sha-256", &Sha256::digest(HELLO));
        v.start(Some(&file), &path, 0, vec![(DigestSource::ContentDigest, good)], &cancel).unwrap();
        v.update(HELLO);
        assert!(v.finish(Some(&file), &path, HELLO.len() as u64, "u", &cancel).unwrap());
    }

    #[test]
    fn nothing_expected_hashes_nothing_and_a_cancel_stops_the_read_back() {
        let (_d, path, file) = temp_with(&vec![7u8; 3 * CHUNK_SIZE]);
        let cancel = CancelFlag::new();
        let mut v = Verifier::new(None);
        assert!(v.start(Some(&file), &path, 3 * CHUNK_SIZE as u64, Vec::new(), &cancel).unwrap());
        assert!(v.hashers.is_empty());
        assert!(v.finish(Some(&file), &path, 3 * CHUNK_SIZE as u64, "u", &cancel).unwrap());
        cancel.cancel();
        let mut v = Verifier::new(Some(&checksum("sha-256", &[0; 32])));
        assert!(!v.start(Some(&file), &path, 3 * CHUNK_SIZE as u64, Vec::new(), &cancel).unwrap());
        // The file shorter than what is held: a local read failure.
        let mut v = Verifier::new(Some(&checksum("sha-256", &[0; 32])));
        let f = v.start(Some(&file), &path, 4 * CHUNK_SIZE as u64, Vec::new(), &CancelFlag::new()).unwrap_err();
        assert!(matches!(f.cause, Cause::Local { op: LocalOp::ReadTemp, .. }), "{f:?}");
    }
}
