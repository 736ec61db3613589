//! DECISIONS D15: which digests a server's answer carries that describe the whole file, and so
//! are checked like the file's checksum (RFC 9530).
//!
//! * `Repr-Digest` describes the selected representation — the whole file, since every request
//!   says `Accept-Encoding: identity` — in a `200` and in a `206` alike (issue #14: "a ranged
//!   response's digest is only used when it describes the whole representation");
//! * `Content-Digest` describes the answer's content: the whole file in a `200`, only the part
//!   sent in a `206`, so it counts for a `200` only.
//!
//! The transport parses the headers (qmgr-net `digest.rs`); this decides which count.

use crate::transport::DigestSource;

/// Whether a digest from `source` in an answer with HTTP `status` describes the whole file.
pub fn describes_whole_file(source: DigestSource, status: u16) -> bool {
    match source {
        DigestSource::Checksum => true,
        DigestSource::ReprDigest => matches!(status, 200 | 206),
        DigestSource::ContentDigest => status == 200,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DigestSource::*;

    #[test]
    fn repr_digest_in_200_and_206_content_digest_in_200_only() {
        let table = [
            (ReprDigest, 200, true),
            (ReprDigest, 206, true),
            (ReprDigest, 416, false),
            (ContentDigest, 200, true),
            (ContentDigest, 206, false),
            (ContentDigest, 304, false),
            (Checksum, 0, true),
        ];
        for (source, status, counts) in table {
            assert_eq!(describes_whole_file(source, status), counts, "{source:?} in {status}");
        }
    }
}
