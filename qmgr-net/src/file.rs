//! Fetching one file from a `file://` URL (`QM_PROTOCOL_SMB`): a resumable copy from a local
//! path or a mounted share (DECISIONS D1). The file's version is its size plus modification
//! time (reference §5.2), carried as `total` and `last_modified` (an HTTP date).

use crate::cause::local_failure;
use crate::digest::Verifier;
use crate::local::{self, DestinationCheck, TempFile};
use crate::url::{self, redact};
use crate::{read_step, CHUNK_SIZE};
use qmgr_core::model::Validators;
use qmgr_core::transport::{
    Cause, Failure, FetchObserver, FetchOutcome, FetchRequest, LocalOp, Probe, SourceProblem, UrlProblem,
};
use std::fs::{File, Metadata};
use std::io::{self, ErrorKind, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// `errno` values of [`source_error`] (Linux, asm-generic).
const ENOENT: i32 = 2;
const ENOTDIR: i32 = 20;
const EACCES: i32 = 13;

pub(crate) fn fetch(req: &FetchRequest<'_>, obs: &mut dyn FetchObserver) -> FetchOutcome {
    match run(req, obs) {
        Ok(outcome) => outcome,
        Err(e) => FetchOutcome::Failed(e),
    }
}

/// The source of the `file://` URL `url`, open, with its path and metadata.
///
/// Errors: [`UrlProblem::Unusable`] for a URL naming no local path; the source's failures
/// (unreadable, a directory).
fn open_source(url: &str) -> Result<(File, PathBuf, Metadata), Failure> {
    let source_path = url::file_path(url)
        .map_err(|p| Failure::new(Cause::InvalidUrl(UrlProblem::Unusable), redact(url).as_ref(), p.to_string()))?;
    let source = File::open(&source_path).map_err(|e| source_error(&e, &source_path))?;
    let meta = source.metadata().map_err(|e| source_error(&e, &source_path))?;
    if meta.is_dir() {
        return Err(source_failure(SourceProblem::IsDirectory, &source_path, String::new()));
    }
    Ok((source, source_path, meta))
}

/// What a `file://` source looks like ([`qmgr_core::transport::Transport::probe`]): its
/// validators (size and modification time), ranges always served, no file name of its own.
///
/// Errors: as [`open_source`].
pub(crate) fn probe(url: &str) -> Result<Probe, Failure> {
    let (_, _, meta) = open_source(url)?;
    Ok(Probe { validators: validators(&meta), accepts_ranges: true, file_name: None })
}

fn run(req: &FetchRequest<'_>, obs: &mut dyn FetchObserver) -> Result<FetchOutcome, Failure> {
    let shown = redact(req.url);
    let (mut source, source_path, meta) = open_source(req.url)?;
    let v = validators(&meta);

    let temp = req.temp_path;
    // Created when the first byte is copied: a failure before leaves no file.
    let mut out = TempFile::open(temp)?;
    let held = out.len()?;
    let stored = req.validators;
    let unchanged = stored.total == v.total && stored.last_modified == v.last_modified;
    let start = if req.offset > 0 && req.offset <= held && unchanged && v.total.is_some_and(|t| req.offset <= t) {
        req.offset
    } else {
        if req.offset > 0 {
            log::info!("{shown}: the source changed or the temporary file is short; restarting from zero");
        }
        0
    };
    out.truncate(start)?;
    // The file's checksum, hashed as the copy is written; the bytes kept first (D15).
    let mut verifier = Verifier::new(req.checksum);
    if !verifier.start(out.existing(), temp, start, Vec::new(), req.cancel)? {
        return Ok(FetchOutcome::Cancelled);
    }
    if let Some(mut file) = out.existing() {
        file.seek(SeekFrom::Start(start)).map_err(|e| local_failure(&e, LocalOp::SeekTemp, temp))?;
    }
    source.seek(SeekFrom::Start(start)).map_err(|e| source_error(&e, &source_path))?;
    obs.on_start(start, &v);

    let mut buf = vec![0u8; CHUNK_SIZE];
    let mut done = start;
    let mut destination = DestinationCheck::new();
    loop {
        if req.cancel.is_cancelled() {
            return Ok(FetchOutcome::Cancelled);
        }
        let n = match source.read(&mut buf[..read_step(req.throttle.rate())]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(source_error(&e, &source_path)),
        };
        if !req.throttle.acquire(n, req.cancel) {
            return Ok(FetchOutcome::Cancelled);
        }
        let file = out.create()?;
        local::write_all(file, &buf[..n], |part| verifier.update(part))
            .map_err(|e| local_failure(&e, LocalOp::WriteTemp, temp))?;
        done += n as u64;
        obs.on_progress(done);
        destination.due(file, temp)?;
    }
    // The source must still be the version the copy started from.
    let after = std::fs::metadata(&source_path).map(|m| validators(&m)).ok();
    if after.as_ref() != Some(&v) || v.total != Some(done) {
        return Err(source_failure(SourceProblem::Changed { copied: done }, &source_path, String::new()));
    }
    // An empty source is a file too: its (empty) temporary file is committed.
    if !verifier.finish(Some(out.create()?), temp, done, &shown, req.cancel)? {
        return Ok(FetchOutcome::Cancelled);
    }
    Ok(FetchOutcome::Complete { bytes: done, validators: v })
}

/// Size and modification time of the source, as validators.
fn validators(meta: &Metadata) -> Validators {
    Validators { etag: None, last_modified: meta.modified().ok().map(httpdate::fmt_http_date), total: Some(meta.len()) }
}

/// An error opening or reading the source: its OS error number, or the number its kind
/// implies when it has none (missing, not a directory, permission).
fn source_error(e: &io::Error, path: &Path) -> Failure {
    let errno = e.raw_os_error().or(match e.kind() {
        ErrorKind::NotFound => Some(ENOENT),
        ErrorKind::NotADirectory => Some(ENOTDIR),
        ErrorKind::PermissionDenied => Some(EACCES),
        _ => None,
    });
    source_failure(SourceProblem::Unreadable { errno }, path, e.to_string())
}

/// A failure of the source at `path`.
fn source_failure(problem: SourceProblem, path: &Path, detail: String) -> Failure {
    Failure::new(Cause::Source(problem), path.display().to_string(), detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_errors_carry_the_errno() {
        let errno = |e: io::Error| match source_error(&e, Path::new("/s")).cause {
            Cause::Source(SourceProblem::Unreadable { errno }) => errno,
            other => panic!("{other:?}"),
        };
        assert_eq!(errno(io::Error::from_raw_os_error(2)), Some(ENOENT));
        assert_eq!(errno(io::Error::from_raw_os_error(5)), Some(5));
        assert_eq!(errno(io::Error::from(ErrorKind::NotFound)), Some(ENOENT));
        assert_eq!(errno(io::Error::from(ErrorKind::NotADirectory)), Some(ENOTDIR));
        assert_eq!(errno(io::Error::from(ErrorKind::PermissionDenied)), Some(EACCES));
        assert_eq!(errno(io::Error::other("share gone")), None);
    }
}
