//! A file's expected digest (DECISIONS D15; C-API.md "Extensions",
//! `qmgr_job_set_file_checksum`): the algorithm, the digest bytes, their checks and text forms.

use crate::hresult::{Error, Result};
use std::fmt;

/// A digest algorithm of checksums and server digests (DECISIONS D15). Names as RFC 9530
/// registers them: `sha-256`, `sha-512`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DigestAlgorithm {
    /// SHA-256: 32-byte digests.
    Sha256,
    /// SHA-512: 64-byte digests.
    Sha512,
}

impl DigestAlgorithm {
    /// Every algorithm, in this order.
    pub const ALL: [DigestAlgorithm; 2] = [DigestAlgorithm::Sha256, DigestAlgorithm::Sha512];

    /// Lower-case name: `sha-256` or `sha-512` (the key of RFC 9530's `Repr-Digest`).
    pub fn name(self) -> &'static str {
        match self {
            DigestAlgorithm::Sha256 => "sha-256",
            DigestAlgorithm::Sha512 => "sha-512",
        }
    }

    /// Length of a digest in bytes: 32 or 64.
    pub fn digest_len(self) -> usize {
        match self {
            DigestAlgorithm::Sha256 => 32,
            DigestAlgorithm::Sha512 => 64,
        }
    }

    /// The algorithm named `name`, in any case (`SHA-256`, `sha-512`); `None` for another name.
    pub fn parse(name: &str) -> Option<DigestAlgorithm> {
        Self::ALL.into_iter().find(|a| a.name().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for DigestAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An expected digest of a whole file: the file's checksum (`qmgr_job_set_file_checksum`)
/// or a digest a server sent (`Repr-Digest`, `Content-Digest`; DECISIONS D15).
///
/// Its text form ([`fmt::Display`], [`Checksum::parse_spec`]) is `ALGORITHM:HEX`, e.g.
/// `sha-256:9f86d0…`, with the name and the hex in lower case.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Checksum {
    algorithm: DigestAlgorithm,
    digest: Vec<u8>,
}

impl Checksum {
    /// Checks a checksum as `qmgr_job_set_file_checksum` receives it (DECISIONS D15):
    /// `algorithm` is `sha-256` or `sha-512` in any case, `hex` exactly 64 or 128 hex digits
    /// (twice the digest's length) in any case.
    ///
    /// Errors: `E_INVALIDARG` naming the argument (`algorithm` or `hex_digest`) and the
    /// problem: an unknown algorithm, a wrong length, a character that is not a hex digit.
    pub fn parse(algorithm: &str, hex: &str) -> Result<Checksum> {
        let algorithm = DigestAlgorithm::parse(algorithm).ok_or_else(|| {
            Error::invalid_arg(format!("algorithm \"{}\" is not sha-256 or sha-512", algorithm.escape_debug()))
        })?;
        // The first character that is not a hex digit (all before it are ASCII, so its byte
        // offset is its position); then the length, counted in hex digits.
        if let Some((at, c)) = hex.char_indices().find(|(_, c)| !c.is_ascii_hexdigit()) {
            return Err(Error::invalid_arg(format!(
                "hex_digest has {c:?} at position {at}: only hex digits 0-9, a-f, A-F are allowed"
            )));
        }
        let want = algorithm.digest_len() * 2;
        if hex.len() != want {
            return Err(Error::invalid_arg(format!(
                "hex_digest has {} hex digits; a {algorithm} digest has {want}",
                hex.len()
            )));
        }
        let digest = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("checked: hex digits"))
            .collect();
        Ok(Checksum { algorithm, digest })
    }

    /// Reads the text form `ALGORITHM:HEX` (as [`fmt::Display`] writes it and as the command
    /// line takes it, `--checksum sha-256:HEX`), checked as [`Checksum::parse`].
    ///
    /// Errors: `E_INVALIDARG` when there is no `:` or a part is refused by [`Checksum::parse`].
    pub fn parse_spec(spec: &str) -> Result<Checksum> {
        let (algorithm, hex) = spec.split_once(':').ok_or_else(|| {
            Error::invalid_arg(format!(
                "checksum \"{}\" is not ALGORITHM:HEX (e.g. sha-256:<64 hex digits>)",
                spec.escape_debug()
            ))
        })?;
        Checksum::parse(algorithm, hex)
    }

    /// A digest of `algorithm` made of `digest`; `None` when its length is not the
    /// algorithm's (a server's digest of the wrong length is no digest of it).
    pub fn from_bytes(algorithm: DigestAlgorithm, digest: Vec<u8>) -> Option<Checksum> {
        (digest.len() == algorithm.digest_len()).then_some(Checksum { algorithm, digest })
    }

    /// The algorithm.
    pub fn algorithm(&self) -> DigestAlgorithm {
        self.algorithm
    }

    /// The digest bytes ([`DigestAlgorithm::digest_len`] of them).
    pub fn digest(&self) -> &[u8] {
        &self.digest
    }

    /// The digest in lower-case hex.
    pub fn hex(&self) -> String {
        to_hex(&self.digest)
    }
}

/// Bytes as lower-case hex, two digits each.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm, self.hex())
    }
}

impl fmt::Debug for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Checksum({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hresult::E_INVALIDARG;

    const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn algorithms_and_hex_in_any_case() {
        for (alg, hex) in
            [("sha-256", EMPTY_SHA256), ("SHA-256", &EMPTY_SHA256.to_uppercase()), ("Sha-256", EMPTY_SHA256)]
        {
            let c = Checksum::parse(alg, hex).unwrap();
            assert_eq!(c.algorithm(), DigestAlgorithm::Sha256);
            assert_eq!(c.digest().len(), 32);
            assert_eq!(c.hex(), EMPTY_SHA256);
            assert_eq!(c.to_string(), format!("sha-256:{EMPTY_SHA256}"));
        }
        let c = Checksum::parse("sha-512", &"aB".repeat(64)).unwrap();
        assert_eq!((c.algorithm(), c.digest()), (DigestAlgorithm::Sha512, &[0xab; 64][..]));
    }

    /// (algorithm, hex) → the words the message must contain.
    #[test]
    fn bad_arguments_are_invalidarg_naming_the_argument() {
        let long = "0".repeat(128);
        let table: [(&str, &str, &[&str]); 9] = [
            ("md5", EMPTY_SHA256, &["algorithm", "\"md5\""]),
            ("sha256", EMPTY_SHA256, &["algorithm", "\"sha256\""]),
            ("", EMPTY_SHA256, &["algorithm"]),
            ("sha-256", "", &["hex_digest", "has 0 hex digits", "sha-256 digest has 64"]),
            ("sha-256", &EMPTY_SHA256[1..], &["hex_digest", "63 hex digits"]),
            ("sha-256", &long, &["hex_digest", "128 hex digits", "has 64"]),
            ("sha-512", EMPTY_SHA256, &["hex_digest", "64 hex digits", "sha-512 digest has 128"]),
            ("sha-256", &format!("{}g", &EMPTY_SHA256[1..]), &["hex_digest", "'g'", "position 63"]),
            ("sha-256", &format!("{}é", &EMPTY_SHA256[2..]), &["hex_digest", "'é'", "position 62"]),
        ];
        for (alg, hex, words) in table {
            let e = Checksum::parse(alg, hex).unwrap_err();
            assert_eq!(e.hr, E_INVALIDARG, "{alg} {hex}");
            for w in words {
                assert!(e.message.contains(w), "{:?} lacks {w:?}", e.message);
            }
        }
    }

    #[test]
    fn the_text_form_round_trips() {
        let c = Checksum::parse_spec(&format!("SHA-256:{}", EMPTY_SHA256.to_uppercase())).unwrap();
        assert_eq!(Checksum::parse_spec(&c.to_string()).unwrap(), c);
        for bad in ["", "sha-256", EMPTY_SHA256, "sha-256:", "md5:00"] {
            assert_eq!(Checksum::parse_spec(bad).unwrap_err().hr, E_INVALIDARG, "{bad}");
        }
        assert!(Checksum::parse_spec("x").unwrap_err().message.contains("ALGORITHM:HEX"));
    }

    #[test]
    fn server_digests_of_the_wrong_length_are_none() {
        assert!(Checksum::from_bytes(DigestAlgorithm::Sha256, vec![0; 32]).is_some());
        assert!(Checksum::from_bytes(DigestAlgorithm::Sha256, vec![0; 64]).is_none());
        assert!(Checksum::from_bytes(DigestAlgorithm::Sha512, vec![0; 32]).is_none());
        assert_eq!(DigestAlgorithm::parse("SHA-512"), Some(DigestAlgorithm::Sha512));
        assert_eq!(DigestAlgorithm::parse("sha-1"), None);
    }
}
