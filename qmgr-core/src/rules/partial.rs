//! Continuing a partial file that another tool left under a download's final name
//! (`qmgr get --continue`, as `wget -c` and `curl -C -`; issue #15), under DECISIONS D5's
//! resume rules: the file's bytes are kept only when a ranged request can prove they belong to
//! the version the server has now (`Range: bytes=N-` with `If-Range`).

use crate::transport::Probe;

/// What to do with a partial file of some length, given what the server says of the file
/// ([`continue_partial`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PartialFile {
    /// Adopt it as the download's temporary file: the transfer continues from its length
    /// with `Range` and `If-Range` (a changed file then restarts from zero, D5).
    Continue,
    /// It is as long as the remote file: nothing is fetched, the file stays as it is.
    Complete,
    /// It is empty: nothing to keep; the download starts from zero and replaces it.
    Empty,
    /// It cannot be continued safely; nothing is changed.
    Refuse(PartialRefusal),
}

/// Why a partial file cannot be continued ([`PartialFile::Refuse`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartialRefusal {
    /// The server gave no length: whether the file is partial cannot be known.
    UnknownLength,
    /// The partial file is longer than the remote file (`held` > `total` bytes).
    Larger {
        /// Bytes of the partial file.
        held: u64,
        /// Bytes of the remote file.
        total: u64,
    },
    /// Neither a strong `ETag` nor a `Last-Modified`: `If-Range` could not make sure that the
    /// bytes kept come from the version the rest is fetched from (D11: `If-Range` carries the
    /// strong ETag, else the date; a weak ETag is not enough).
    NoValidator,
    /// The server does not say `Accept-Ranges: bytes`.
    NoRanges,
}

impl PartialRefusal {
    /// The reason, for people.
    pub fn reason(&self) -> String {
        match self {
            PartialRefusal::UnknownLength => {
                "the server does not give the file's length, so the partial file cannot be checked".into()
            }
            PartialRefusal::Larger { held, total } => {
                format!("the partial file holds {held} bytes, more than the {total} bytes of the remote file")
            }
            PartialRefusal::NoValidator => "the server gives no ETag or Last-Modified to prove that the bytes held \
                                            belong to the file it serves now"
                .into(),
            PartialRefusal::NoRanges => "the server does not accept byte ranges (no Accept-Ranges: bytes)".into(),
        }
    }
}

/// Whether a partial file of `held` bytes can be continued from the file that `remote`
/// describes: its length known (else [`PartialRefusal::UnknownLength`]); `held` = 0 →
/// [`PartialFile::Empty`]; `held` equal to it → [`PartialFile::Complete`]; larger → refused;
/// smaller → [`PartialFile::Continue`] only when the server gives a strong ETag or a
/// Last-Modified date and accepts byte ranges.
pub fn continue_partial(held: u64, remote: &Probe) -> PartialFile {
    let Some(total) = remote.validators.total else {
        return PartialFile::Refuse(PartialRefusal::UnknownLength);
    };
    let v = &remote.validators;
    let strong_etag = v.etag.as_deref().is_some_and(|e| !e.starts_with("W/"));
    match held {
        0 => PartialFile::Empty,
        _ if held == total => PartialFile::Complete,
        _ if held > total => PartialFile::Refuse(PartialRefusal::Larger { held, total }),
        _ if !strong_etag && v.last_modified.is_none() => PartialFile::Refuse(PartialRefusal::NoValidator),
        _ if !remote.accepts_ranges => PartialFile::Refuse(PartialRefusal::NoRanges),
        _ => PartialFile::Continue,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Validators;

    /// A row of the table: held, total, etag, last-modified, accepts ranges → verdict.
    type Row = (u64, Option<u64>, Option<&'static str>, Option<&'static str>, bool, PartialFile);

    #[test]
    fn partial_file_table() {
        use PartialFile::*;
        use PartialRefusal::*;
        let lm = Some("Mon, 01 Jan 2024 00:00:00 GMT");
        let rows: [Row; 12] = [
            (10, Some(100), Some("\"v1\""), None, true, Continue),
            (10, Some(100), None, lm, true, Continue),
            (10, Some(100), Some("W/\"v1\""), lm, true, Continue),
            (10, Some(100), Some("W/\"v1\""), None, true, Refuse(NoValidator)),
            (10, Some(100), None, None, true, Refuse(NoValidator)),
            (10, Some(100), Some("\"v1\""), None, false, Refuse(NoRanges)),
            (100, Some(100), None, None, false, Complete),
            (101, Some(100), Some("\"v1\""), None, true, Refuse(Larger { held: 101, total: 100 })),
            (0, Some(100), None, None, false, Empty),
            (10, None, Some("\"v1\""), lm, true, Refuse(UnknownLength)),
            (0, None, None, None, true, Refuse(UnknownLength)),
            (99, Some(100), Some("\"v1\""), lm, true, Continue),
        ];
        for (held, total, etag, last_modified, accepts_ranges, want) in rows {
            let remote = Probe {
                validators: Validators {
                    etag: etag.map(str::to_string),
                    last_modified: last_modified.map(str::to_string),
                    total,
                },
                accepts_ranges,
                file_name: None,
            };
            assert_eq!(continue_partial(held, &remote), want, "{held} of {total:?}, {etag:?} {last_modified:?}");
        }
        assert!(NoRanges.reason().contains("Accept-Ranges"));
        assert!(NoValidator.reason().contains("ETag or Last-Modified"));
        assert!(Larger { held: 5, total: 4 }.reason().contains("5 bytes, more than the 4"));
    }
}
