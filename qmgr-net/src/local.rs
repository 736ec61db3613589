//! Committing and discarding temporary files (DECISIONS D4).

use crate::cause::local_failure;
use qmgr_core::rules::checkpoint;
use qmgr_core::transport::{Cause, CommitRequest, Failure, LocalOp};
use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// A fetch's temporary file (DECISIONS D4), created only when the first byte is to be written
/// into it (issue #15): a fetch that fails before any body byte arrives — a 404, a refused
/// connection — leaves no file behind. A temporary file kept by an earlier transfer is opened
/// at once, to be resumed (or cut back: D5).
pub(crate) struct TempFile<'a> {
    path: &'a Path,
    file: Option<File>,
}

impl<'a> TempFile<'a> {
    /// The temporary file at `path`: opened when it exists, else not created yet.
    ///
    /// Errors: a [`LocalOp::OpenTemp`] failure other than "not found" (permission…).
    pub(crate) fn open(path: &'a Path) -> Result<TempFile<'a>, Failure> {
        let file = match OpenOptions::new().read(true).write(true).open(path) {
            Ok(f) => Some(f),
            Err(e) if e.kind() == ErrorKind::NotFound => None,
            Err(e) => return Err(local_failure(&e, LocalOp::OpenTemp, path)),
        };
        Ok(TempFile { path, file })
    }

    /// Its path.
    pub(crate) fn path(&self) -> &'a Path {
        self.path
    }

    /// Bytes it holds: 0 while it is not created.
    ///
    /// Errors: a [`LocalOp::SizeTemp`] failure.
    pub(crate) fn len(&self) -> Result<u64, Failure> {
        match &self.file {
            Some(f) => Ok(f.metadata().map_err(|e| local_failure(&e, LocalOp::SizeTemp, self.path))?.len()),
            None => Ok(0),
        }
    }

    /// The file when it exists (the bytes it holds can be read back).
    pub(crate) fn existing(&self) -> Option<&File> {
        self.file.as_ref()
    }

    /// Cuts it to `len` bytes ([`truncate`]); a file not created yet holds nothing and stays
    /// uncreated.
    ///
    /// Errors: a [`LocalOp::SizeTemp`] or [`LocalOp::TruncateTemp`] failure.
    pub(crate) fn truncate(&self, len: u64) -> Result<(), Failure> {
        match &self.file {
            Some(f) => truncate(f, len, self.path),
            None => Ok(()),
        }
    }

    /// The open file, created (empty) now when it does not exist yet: right before its first
    /// byte is written, or when a file complete without a byte (an empty body) is to be
    /// committed.
    ///
    /// Errors: a [`LocalOp::OpenTemp`] failure (the directory is gone, not writable…).
    pub(crate) fn create(&mut self) -> Result<&mut File, Failure> {
        if self.file.is_none() {
            let created = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(self.path);
            self.file = Some(created.map_err(|e| local_failure(&e, LocalOp::OpenTemp, self.path))?);
        }
        Ok(self.file.as_mut().expect("created above"))
    }
}

/// The most bytes one `write(2)` to a temporary file is given (128 KiB); a step read from the
/// network ([`crate::CHUNK_SIZE`], up to 1 MiB) is written in several.
///
/// Why not all at once: measured on the bench machine (a Firecracker VM, kernel 6.18, ext4;
/// 1 GiB from nginx on loopback, bench scenario 1), with 1 MiB writes most rounds took
/// 2.3–3.2 s, 73 % of the writer's CPU in the kernel's copy into the page cache
/// (`copy_folio_from_iter_atomic`); with 128 KiB writes rounds took 0.84–0.96 s, with a slow
/// one now and then (256 KiB: 0.83–1.62 s; 64 KiB: 0.85–1.19 s; 32 KiB: never slow, but 10 %
/// slower from the system calls). Our explanation, not proven: ext4 gives a write page-cache
/// folios of about its size, large folios come from free memory the VM has handed back to its
/// host, and the host backs it again page by page at first touch. curl, which writes 4–12 KiB
/// at a time, never showed it.
const WRITE_SIZE: usize = 128 * 1024;

/// Writes all of `bytes` to `file` at its position, in writes of at most [`WRITE_SIZE`],
/// calling `written` with each part right after it is written (while it is still in the
/// core's cache: the fetch hashes it there, [`crate::digest::Verifier::update`]).
/// Errors: the first failed write's (what was written before it stays written, and was given
/// to `written`).
pub(crate) fn write_all(mut file: &File, bytes: &[u8], mut written: impl FnMut(&[u8])) -> std::io::Result<()> {
    use std::io::Write;
    bytes.chunks(WRITE_SIZE).try_for_each(|part| {
        file.write_all(part)?;
        written(part);
        Ok(())
    })
}

/// Writes all of `bytes` to `file` at `offset` (`pwrite`), in writes of at most
/// [`WRITE_SIZE`]. Errors: as [`write_all`].
pub(crate) fn write_all_at(file: &File, bytes: &[u8], offset: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let mut at = offset;
    for part in bytes.chunks(WRITE_SIZE) {
        file.write_all_at(part, at)?;
        at += part.len() as u64;
    }
    Ok(())
}

/// Bytes written between two write-back starts of a temporary file.
const WRITEBACK_STEP: u64 = 8 << 20;

/// Starts writing a temporary file to disk while the download goes on: every
/// [`WRITEBACK_STEP`] bytes it asks the kernel to start writing the bytes written since
/// (`sync_file_range(SYNC_FILE_RANGE_WRITE)`: the writes are queued and the call returns), so
/// that the disk writes overlap the network and the flush before the commit (DECISIONS D4)
/// finds little left to write instead of stalling on the whole file. Durability still comes
/// from that final flush; this only moves the disk writes earlier.
///
/// Measured (1 GiB from nginx on loopback, 10 alternating runs): 0.97 s median, against
/// 1.075 s with an `fdatasync` of the whole file every 32 MiB on a helper thread, and 0.93 s
/// with every flush made a no-op (`eatmydata`).
pub(crate) struct Writeback {
    started: u64,
}

impl Writeback {
    /// Write-back for a file that holds `start` bytes already.
    pub(crate) fn new(start: u64) -> Writeback {
        Writeback { started: start }
    }

    /// `file` now holds `done` bytes: starts writing them back when a step's worth is new.
    /// A failed start is harmless (the final flush reports any error), so none is reported.
    pub(crate) fn wrote(&mut self, file: &File, done: u64) {
        if done >= self.started + WRITEBACK_STEP {
            start_writeback(file, self.started, done - self.started);
            self.started = done;
        }
    }
}

/// `sync_file_range(fd, offset, len, SYNC_FILE_RANGE_WRITE)`: starts the write-back of that
/// range of `file` without waiting for it. Neither rustix nor any other well-kept crate
/// offers it; the one `unsafe` call of qmgr-net outside `sockinfo.rs`.
#[allow(unsafe_code)]
fn start_writeback(file: &File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else { return };
    // SAFETY: the call takes no pointer; the descriptor is borrowed from a `File` that lives
    // across the call, so it names that open file.
    let _ = unsafe { libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE) };
}

/// Notices, while a temporary file is written, that its destination directory was removed or
/// made read-only (issue #14 item 5), at the cadence of
/// [`checkpoint::destination_check_due`] — within one checkpoint interval, not only when
/// the commit's rename fails.
///
/// Done here, where the temporary file is written, rather than by the engine: the core does no
/// I/O, and a failed check must stop the fetch, which only the transport can do without a new
/// way for the observer to interrupt it; the failure then takes the ordinary path (classified
/// by `rules::classify`, fatal, the temporary file and the checkpoint kept).
pub(crate) struct DestinationCheck {
    checked_at: Instant,
}

impl DestinationCheck {
    /// A check whose first run is one interval from now (the file was just opened there).
    pub(crate) fn new() -> DestinationCheck {
        DestinationCheck { checked_at: Instant::now() }
    }

    /// When due, checks that the directory of `temp` (open as `file`) still holds it and is
    /// writable.
    ///
    /// Errors: a [`LocalOp::CheckDestination`] failure naming the directory, with the `errno`:
    /// `ENOENT` when the directory (or the temporary file) is gone or the path names another
    /// file now, `EACCES` / `EROFS` when the directory is no longer writable for this process.
    pub(crate) fn due(&mut self, file: &File, temp: &Path) -> Result<(), Failure> {
        let now = Instant::now();
        if !checkpoint::destination_check_due(self.checked_at, now) {
            return Ok(());
        }
        self.checked_at = now;
        destination_usable(file, temp)
    }
}

/// Whether the directory of the temporary file `temp` (open as `file`) can still receive it:
/// the path still names that file, and `faccessat(W_OK | X_OK, AT_EACCESS)` allows writing the
/// directory — the kernel's own answer with the effective ids, right for root, ACLs and
/// read-only mounts (`EROFS`), and cheaper than the probe file of `check_destination`.
fn destination_usable(file: &File, temp: &Path) -> Result<(), Failure> {
    use std::os::unix::fs::MetadataExt;
    let dir = match temp.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = temp.file_name().unwrap_or_default().to_string_lossy();
    let fail = |e: &std::io::Error, what: &str| {
        let mut failure = local_failure(e, LocalOp::CheckDestination, dir);
        failure.detail = format!("{what}: {}", failure.detail);
        failure
    };
    let open = file.metadata().map_err(|e| fail(&e, &format!("temporary file {name}")))?;
    match std::fs::metadata(temp) {
        Ok(m) if (m.dev(), m.ino()) == (open.dev(), open.ino()) => {}
        Ok(_) => {
            let cause = Cause::Local { op: LocalOp::ReplacedTemp, errno: Some(libc::ENOENT) };
            return Err(Failure::new(cause, temp.display().to_string(), ""));
        }
        Err(e) => return Err(fail(&e, &format!("temporary file {name}"))),
    }
    use rustix::fs::{Access, AtFlags, CWD};
    rustix::fs::accessat(CWD, dir, Access::WRITE_OK | Access::EXEC_OK, AtFlags::EACCESS)
        .map_err(|e| fail(&e.into(), "not writable"))
}

/// Most flushes run at once by [`commit_batch`]: enough for the file system to fold them into
/// few journal commits (ext4 measured here: 3.5 ms per `fsync` one after the other, 0.13 ms
/// each with 16 at once).
const PARALLEL_FLUSHES: usize = 16;

/// Commits complete temporary files (DECISIONS D4; `Transport::commit_batch`): sets each one's
/// modification time and flushes it — all at once, on up to [`PARALLEL_FLUSHES`] threads —,
/// then renames the flushed ones onto their final names in order, then flushes each
/// directory once. One result per request.
pub(crate) fn commit_batch(requests: &[CommitRequest<'_>]) -> Vec<Result<(), Failure>> {
    let mut results: Vec<Result<(), Failure>> = match requests {
        [one] => vec![flush(one)],
        _ => {
            let next = AtomicUsize::new(0);
            let slots: Vec<Mutex<Option<Result<(), Failure>>>> = requests.iter().map(|_| Mutex::new(None)).collect();
            std::thread::scope(|scope| {
                for _ in 0..requests.len().min(PARALLEL_FLUSHES) {
                    scope.spawn(|| loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(r) = requests.get(i) else { break };
                        *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(flush(r));
                    });
                }
            });
            slots
                .into_iter()
                .map(|s| s.into_inner().unwrap_or_else(|e| e.into_inner()).expect("every request flushed"))
                .collect()
        }
    };
    let mut dirs: Vec<(&Path, Vec<usize>)> = Vec::new();
    for (i, r) in requests.iter().enumerate() {
        if results[i].is_err() {
            continue;
        }
        results[i] = std::fs::rename(r.temp_path, r.final_path).map_err(|e| {
            let op = LocalOp::Rename { from: r.temp_path.display().to_string() };
            local_failure(&e, op, r.final_path)
        });
        if results[i].is_ok() {
            let dir = match r.final_path.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => Path::new("."),
            };
            match dirs.iter_mut().find(|(d, _)| *d == dir) {
                Some((_, items)) => items.push(i),
                None => dirs.push((dir, vec![i])),
            }
        }
    }
    for (dir, items) in dirs {
        if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
            let err = local_failure(&e, LocalOp::FlushDirectory, dir);
            for i in items {
                results[i] = Err(err.clone());
            }
        }
    }
    results
}

/// Sets the modification time of a temporary file (before the rename, so the final name
/// never shows another time) and flushes it to disk.
fn flush(r: &CommitRequest<'_>) -> Result<(), Failure> {
    let temp = r.temp_path;
    let file = OpenOptions::new().write(true).open(temp).map_err(|e| local_failure(&e, LocalOp::OpenTemp, temp))?;
    if let Some(date) = r.last_modified {
        match httpdate::parse_http_date(date) {
            Ok(time) => {
                if let Err(e) = file.set_modified(time) {
                    // The data is what matters; a file system without time stamps is no failure.
                    log::warn!("cannot set the modification time of {}: {e}", temp.display());
                }
            }
            Err(_) => log::debug!("Last-Modified \"{date}\" is not an HTTP date; the file keeps its own time"),
        }
    }
    file.sync_all().map_err(|e| local_failure(&e, LocalOp::FlushTemp, temp))
}

/// Truncates the temporary file `file` (at `path`) to `len` bytes, unless it has that length
/// already: on ext4 a truncated file is flushed when it is closed (`auto_da_alloc`), which
/// would cost a disk write for every new small file.
pub(crate) fn truncate(file: &File, len: u64, path: &Path) -> Result<(), Failure> {
    let held = file.metadata().map_err(|e| local_failure(&e, LocalOp::SizeTemp, path))?.len();
    if held != len {
        file.set_len(len).map_err(|e| local_failure(&e, LocalOp::TruncateTemp, path))?;
    }
    Ok(())
}

pub(crate) fn discard(temp: &Path) {
    match std::fs::remove_file(temp) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => log::warn!("cannot remove temporary file {}: {e}", temp.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qmgr_core::transport::Cause;

    fn errno(r: Result<(), Failure>) -> Option<i32> {
        match r.expect_err("a failure").cause {
            Cause::Local { op: LocalOp::CheckDestination, errno } => errno,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn writes_in_steps_put_every_byte_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&path).unwrap();
        let bytes: Vec<u8> = (0..3 * WRITE_SIZE + 17).map(|i| (i * 31 % 251) as u8).collect();
        let mut parts = Vec::new();
        write_all(&file, &bytes[..WRITE_SIZE + 5], |p| parts.push(p.to_vec())).unwrap();
        write_all(&file, &bytes[WRITE_SIZE + 5..], |p| parts.push(p.to_vec())).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
        // Each part is handed on once, in order, and none is larger than one write.
        assert_eq!(parts.concat(), bytes);
        assert!(parts.iter().all(|p| !p.is_empty() && p.len() <= WRITE_SIZE), "{:?}", parts.iter().map(Vec::len));
        // At an offset, past the end and over what is there.
        write_all_at(&file, &bytes, 10).unwrap();
        let mut expected = bytes[..10].to_vec();
        expected.extend_from_slice(&bytes);
        assert_eq!(std::fs::read(&path).unwrap(), expected);
        write_all_at(&file, &[], 0).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), expected);
    }

    #[test]
    fn a_destination_that_lost_its_temporary_file_or_directory_is_noticed() {
        let work = tempfile::tempdir().unwrap();
        let dir = work.path().join("dest");
        std::fs::create_dir(&dir).unwrap();
        let temp = dir.join(".f.part");
        let file = File::create(&temp).unwrap();
        assert_eq!(destination_usable(&file, &temp), Ok(()));

        // Another file under the temporary file's name: named, and told apart (its bytes are
        // discarded, not resumed from).
        std::fs::remove_file(&temp).unwrap();
        File::create(&temp).unwrap();
        let f = destination_usable(&file, &temp).unwrap_err();
        assert_eq!(f.cause, Cause::Local { op: LocalOp::ReplacedTemp, errno: Some(2) });
        assert_eq!(f.subject, temp.display().to_string());

        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(errno(destination_usable(&file, &temp)), Some(2), "directory gone: ENOENT");
        // Checked once per interval only: not right after the start.
        assert_eq!(DestinationCheck::new().due(&file, &temp), Ok(()));
        let mut check = DestinationCheck { checked_at: Instant::now() - checkpoint::DESTINATION_CHECK };
        assert_eq!(errno(check.due(&file, &temp)), Some(2));
    }
}
