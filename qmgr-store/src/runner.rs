//! The runner lock (DECISIONS D13): `<queue_dir>/runner.lock`, an exclusive `flock` held by
//! the queue's background runner (`qmgr serve`) for as long as it runs, so that there is at
//! most one runner per queue. While held, the file says who holds it (one `key=value` per
//! line: `pid`, `since` in Unix seconds, `started_by`), for `qmgr service status`.

use crate::error::io_error;
use crate::fsutil;
use qmgr_core::hresult::Result;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Name of the runner lock file in a queue directory.
pub const RUNNER_LOCK_FILE_NAME: &str = "runner.lock";
/// Name of the file that dates the last start of a runner (see [`claim_start`]).
pub const RUNNER_STARTING_FILE_NAME: &str = "runner.starting";

/// How a runner was started (DECISIONS D13), as `runner.lock` records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartedBy {
    /// The systemd user unit (`qmgr service install`): never exits for idleness.
    Unit,
    /// Started by the library because work was queued (`qmgr serve --exit-when-idle`).
    Autostart,
    /// A `qmgr serve` started by hand.
    Serve,
}

impl StartedBy {
    /// The word `runner.lock` records: `unit`, `autostart` or `serve`.
    pub fn name(self) -> &'static str {
        match self {
            StartedBy::Unit => "unit",
            StartedBy::Autostart => "autostart",
            StartedBy::Serve => "serve",
        }
    }

    fn parse(word: &str) -> Option<StartedBy> {
        [StartedBy::Unit, StartedBy::Autostart, StartedBy::Serve].into_iter().find(|s| s.name() == word)
    }
}

/// What the holder of `runner.lock` wrote about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunnerInfo {
    /// Process id of the runner.
    pub pid: u32,
    /// When it took the lock, in seconds since the Unix epoch.
    pub since: u64,
    /// How it was started; `None` when the file does not say (an older or foreign writer).
    pub started_by: Option<StartedBy>,
}

/// The runner lock, held: at most one per queue directory. Dropping it releases the lock (the
/// file stays; its content is left for readers to ignore, as the lock is free).
#[derive(Debug)]
pub struct RunnerLock {
    file: File,
    path: PathBuf,
}

/// Opens `name` in the queue directory `dir` to read and write, creating it (mode 0600) when
/// missing.
fn open_file(dir: &Path, name: &str) -> Result<(File, PathBuf)> {
    let path = dir.join(name);
    if let Some(f) = fsutil::create_private_file(&path).map_err(|e| io_error("creating", &path, e))? {
        drop(f);
    }
    let file = OpenOptions::new().read(true).write(true).open(&path).map_err(|e| io_error("opening", &path, e))?;
    Ok((file, path))
}

impl RunnerLock {
    /// Takes the runner lock of the queue directory `dir` without waiting, and records this
    /// process in it (`started_by`). `None` when another process (or another open of the file
    /// in this process) holds it.
    ///
    /// Errors: `QM_E_SERVICE_UNAVAILABLE` when the file cannot be created, opened, locked
    /// (for another reason than "held") or written; it names the file and the cause.
    pub fn try_acquire(dir: &Path, started_by: StartedBy) -> Result<Option<RunnerLock>> {
        let (mut file, path) = open_file(dir, RUNNER_LOCK_FILE_NAME)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Ok(None),
            Err(TryLockError::Error(e)) => return Err(io_error("locking", &path, e)),
        }
        let since = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let text = format!("pid={}\nsince={since}\nstarted_by={}\n", std::process::id(), started_by.name());
        write_text(&mut file, &path, &text)?;
        // The runner that was on its way has arrived: its start claim is over, so that once
        // this runner is gone (even killed) the next process that queues work starts one at
        // once. Failing to clear it only delays that by the grace time.
        let _ = release_start(dir);
        Ok(Some(RunnerLock { file, path }))
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RunnerLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

/// Whether a runner holds the lock of queue directory `dir`, and what it says about itself:
/// `Some(info)` while held (the info may lack fields if the holder wrote nothing yet), `None`
/// when free or when there is no such file. A probe takes the lock for an instant when it is
/// free (and releases it at once), so it never blocks.
///
/// Errors: `QM_E_SERVICE_UNAVAILABLE` when the file exists but cannot be opened or read.
pub fn probe(dir: &Path) -> Result<Option<RunnerInfo>> {
    let path = dir.join(RUNNER_LOCK_FILE_NAME);
    let mut file = match OpenOptions::new().read(true).open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error("opening runner lock", &path, e)),
    };
    match file.try_lock_shared() {
        Ok(()) => return Ok(None),
        Err(TryLockError::WouldBlock) => {}
        Err(TryLockError::Error(e)) => return Err(io_error("probing", &path, e)),
    }
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(|e| io_error("reading", &path, e))?;
    Ok(Some(parse_info(&text)))
}

/// Claims the start of a runner for the queue in `dir`: true when the caller may start one,
/// false when some process (this one or another) claimed a start less than `grace` ago — that
/// runner is on its way to the runner lock, and a burst of processes that queue work at the
/// same moment starts one runner, not one each (DECISIONS D13: at most one runner; the others
/// would only leave at once). Claims are serialized by an exclusive `flock` on
/// `runner.starting`, held for the moment of the check, and dated by its content (Unix
/// milliseconds); a date in the future (the clock went back) does not block. The claim ends
/// when a runner takes the runner lock ([`RunnerLock::try_acquire`]) or the grace time
/// passes; [`release_start`] gives a failed start's claim back.
///
/// Errors: `QM_E_SERVICE_UNAVAILABLE` when the file cannot be created, opened, locked, read or
/// written.
pub fn claim_start(dir: &Path, grace: std::time::Duration) -> Result<bool> {
    let (mut file, path) = open_file(dir, RUNNER_STARTING_FILE_NAME)?;
    file.lock().map_err(|e| io_error("locking", &path, e))?;
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(|e| io_error("reading", &path, e))?;
    let last: u128 = text.trim().parse().unwrap_or(0);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
    if last <= now && now - last < grace.as_millis() {
        return Ok(false);
    }
    write_text(&mut file, &path, &now.to_string())?;
    Ok(true)
}

/// Gives back the claim of [`claim_start`] after a runner could not be started, so that the
/// next process that queues work tries at once.
///
/// Errors: as [`claim_start`].
pub fn release_start(dir: &Path) -> Result<()> {
    let (mut file, path) = open_file(dir, RUNNER_STARTING_FILE_NAME)?;
    file.lock().map_err(|e| io_error("locking", &path, e))?;
    write_text(&mut file, &path, "0")
}

/// Replaces the content of `file`.
fn write_text(file: &mut File, path: &Path, text: &str) -> Result<()> {
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| file.write_all(text.as_bytes()))
        .map_err(|e| io_error("writing", path, e))
}

/// Parses the `key=value` lines of a runner lock; unknown keys and bad values are ignored.
fn parse_info(text: &str) -> RunnerInfo {
    let mut info = RunnerInfo { pid: 0, since: 0, started_by: None };
    for (key, value) in text.lines().filter_map(|l| l.split_once('=')) {
        match key {
            "pid" => info.pid = value.parse().unwrap_or(0),
            "since" => info.since = value.parse().unwrap_or(0),
            "started_by" => info.started_by = StartedBy::parse(value),
            _ => {}
        }
    }
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_and_probes_see_it() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(probe(dir.path()).unwrap(), None, "no file: no runner");
        let held = RunnerLock::try_acquire(dir.path(), StartedBy::Autostart).unwrap().expect("free");
        assert!(RunnerLock::try_acquire(dir.path(), StartedBy::Serve).unwrap().is_none(), "at most one");
        let info = probe(dir.path()).unwrap().expect("held");
        assert_eq!((info.pid, info.started_by), (std::process::id(), Some(StartedBy::Autostart)));
        assert!(info.since > 1_700_000_000);
        assert!(RunnerLock::try_acquire(dir.path(), StartedBy::Serve).unwrap().is_none(), "a probe does not free it");
        drop(held);
        assert_eq!(probe(dir.path()).unwrap(), None, "released");
        let again = RunnerLock::try_acquire(dir.path(), StartedBy::Unit).unwrap().expect("free again");
        assert_eq!(probe(dir.path()).unwrap().unwrap().started_by, Some(StartedBy::Unit));
        drop(again);
    }

    #[test]
    fn one_start_claimed_per_grace_time_and_a_failed_one_given_back() {
        let dir = tempfile::tempdir().unwrap();
        let grace = std::time::Duration::from_secs(60);
        assert!(claim_start(dir.path(), grace).unwrap(), "first claim");
        assert!(!claim_start(dir.path(), grace).unwrap(), "a start is on its way");
        release_start(dir.path()).unwrap();
        assert!(claim_start(dir.path(), grace).unwrap(), "given back: the next one may start");
        let arrived = RunnerLock::try_acquire(dir.path(), StartedBy::Autostart).unwrap().expect("free");
        drop(arrived);
        assert!(claim_start(dir.path(), grace).unwrap(), "a runner that took the lock ended the claim");
        assert!(claim_start(dir.path(), std::time::Duration::ZERO).unwrap(), "no grace: always");
        std::fs::write(dir.path().join(RUNNER_STARTING_FILE_NAME), "99999999999999999").unwrap();
        assert!(claim_start(dir.path(), grace).unwrap(), "a date in the future does not block");
    }

    #[test]
    fn info_parsing_ignores_what_it_does_not_know() {
        let i = parse_info("pid=42\nsince=x\nstarted_by=nobody\nother=1\n");
        assert_eq!(i, RunnerInfo { pid: 42, since: 0, started_by: None });
    }
}
