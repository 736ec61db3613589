//! Fetching one file from a `file://` URL (`QM_PROTOCOL_SMB`): a resumable copy from a local
//! path or a mounted share (DECISIONS D1). The file's version is its size plus modification
//! time (reference §5.2), carried as `total` and `last_modified` (an HTTP date).

use crate::classify::local_error;
use crate::url::{self, redact};
use crate::CHUNK_SIZE;
use qmgr_core::hresult::win32;
use qmgr_core::model::ErrorClass::{Fatal, Transient};
use qmgr_core::model::Validators;
use qmgr_core::transport::{FetchObserver, FetchOutcome, FetchRequest, TransferError};
use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::Path;

pub(crate) fn fetch(req: &FetchRequest<'_>, obs: &mut dyn FetchObserver) -> FetchOutcome {
    match run(req, obs) {
        Ok(outcome) => outcome,
        Err(e) => FetchOutcome::Failed(e),
    }
}

fn run(req: &FetchRequest<'_>, obs: &mut dyn FetchObserver) -> Result<FetchOutcome, TransferError> {
    let shown = redact(req.url);
    let source_path = url::file_path(req.url).map_err(|p| {
        TransferError::win32(Fatal, win32::ERROR_WINHTTP_INVALID_URL, format!("URL \"{shown}\" is not usable: {p}"))
    })?;
    let mut source = File::open(&source_path).map_err(|e| source_error(&e, &source_path))?;
    let meta = source.metadata().map_err(|e| source_error(&e, &source_path))?;
    if meta.is_dir() {
        return Err(TransferError::win32(
            Fatal,
            win32::ERROR_ACCESS_DENIED,
            format!("source \"{}\" is a directory", source_path.display()),
        ));
    }
    let v = validators(&meta);

    let temp = req.temp_path;
    let mut out = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(temp)
        .map_err(|e| local_error(&e, "cannot open temporary file", temp))?;
    let held = out.metadata().map_err(|e| local_error(&e, "cannot read the size of temporary file", temp))?.len();
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
    crate::local::truncate(&out, start, temp)?;
    out.seek(SeekFrom::Start(start)).map_err(|e| local_error(&e, "cannot seek in temporary file", temp))?;
    source.seek(SeekFrom::Start(start)).map_err(|e| source_error(&e, &source_path))?;
    obs.on_start(start, &v);

    let mut buf = vec![0u8; CHUNK_SIZE];
    let mut done = start;
    loop {
        if req.cancel.is_cancelled() {
            return Ok(FetchOutcome::Cancelled);
        }
        let n = match source.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(source_error(&e, &source_path)),
        };
        if !req.foreground && !req.rate_limiter.acquire(n, req.cancel) {
            return Ok(FetchOutcome::Cancelled);
        }
        out.write_all(&buf[..n]).map_err(|e| local_error(&e, "cannot write temporary file", temp))?;
        done += n as u64;
        obs.on_progress(done);
    }
    // The source must still be the version the copy started from.
    let after = std::fs::metadata(&source_path).map(|m| validators(&m)).ok();
    if after.as_ref() != Some(&v) || v.total != Some(done) {
        return Err(TransferError::win32(
            Transient,
            win32::ERROR_READ_FAULT,
            format!("source \"{}\" changed during the copy ({done} bytes copied)", source_path.display()),
        ));
    }
    Ok(FetchOutcome::Complete { bytes: done, validators: v })
}

/// Size and modification time of the source, as validators.
fn validators(meta: &Metadata) -> Validators {
    Validators { etag: None, last_modified: meta.modified().ok().map(httpdate::fmt_http_date), total: Some(meta.len()) }
}

/// Errors reading the source: missing → `ERROR_FILE_NOT_FOUND`, permission →
/// `ERROR_ACCESS_DENIED` (fatal); a share that fails to answer → transient.
fn source_error(e: &io::Error, path: &Path) -> TransferError {
    let shown = path.display();
    match e.kind() {
        ErrorKind::NotFound => {
            TransferError::win32(Fatal, win32::ERROR_FILE_NOT_FOUND, format!("source \"{shown}\" does not exist: {e}"))
        }
        ErrorKind::NotADirectory => {
            TransferError::win32(Fatal, win32::ERROR_PATH_NOT_FOUND, format!("source \"{shown}\" does not exist: {e}"))
        }
        ErrorKind::PermissionDenied => {
            TransferError::win32(Fatal, win32::ERROR_ACCESS_DENIED, format!("source \"{shown}\" cannot be read: {e}"))
        }
        _ => TransferError::win32(Transient, win32::ERROR_READ_FAULT, format!("cannot read source \"{shown}\": {e}")),
    }
}
