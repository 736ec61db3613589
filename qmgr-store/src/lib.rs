//! # qmgr-store — the queue on SQLite
//!
//! [`SqliteStore`] implements [`qmgr_core::store::Store`] on one SQLite database per queue
//! directory (DECISIONS D6, D10; DESIGN "Layers"):
//!
//! * `<queue_dir>/queue.sqlite` ([`DB_FILE_NAME`]) holds everything the queue persists:
//!   options, groups with their properties (the password too), jobs with their error details,
//!   files with their progress checkpoints. Mode 0600; WAL journal, `synchronous=NORMAL`,
//!   foreign keys on, schema migrations keyed on `PRAGMA user_version` ([`SCHEMA_VERSION`]).
//! * `<queue_dir>/queue.lock` ([`LOCK_FILE_NAME`]) carries the exclusive transfer lock
//!   (`flock`): only its holder runs transfers (DECISIONS D10).
//! * `<queue_dir>/runner.lock` ([`runner::RUNNER_LOCK_FILE_NAME`]) carries the runner lock:
//!   at most one background runner per queue (DECISIONS D13; [`runner`]).
//!
//! [`default_queue_dir`] resolves the default queue directory (`$QMGR_HOME`, else
//! `$XDG_STATE_HOME/qmgr`, else `~/.local/state/qmgr`; DECISIONS D6).
//!
//! Every failure is reported as `QM_E_SERVICE_UNAVAILABLE` with a message that names the
//! database or directory, what was being done, and the cause.
//!
//! This crate holds no rule of the queue: it stores and returns the records the engine of
//! `qmgr-core` gives it, with the semantics of [`qmgr_core::store::MemStore`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod fsutil;
pub mod runner;
mod schema;
mod scrub;
mod sqlite;
mod status;
mod watch;

pub use schema::SCHEMA_VERSION;
pub use sqlite::{SqliteStore, BUSY_TIMEOUT, DB_FILE_NAME, LOCK_FILE_NAME};
pub use status::STATUS_FILE_NAME;

use qmgr_core::hresult::{Error, Result, QM_E_SERVICE_UNAVAILABLE};
use std::ffi::OsString;
use std::path::PathBuf;

/// Creates the queue directory `dir` when missing (each created directory mode 0700, so the
/// umask cannot widen it; existing ones are left as they are) and returns its canonical path
/// (absolute, symbolic links resolved): the queue's identity (DECISIONS D6, D12).
///
/// Errors: `QM_E_SERVICE_UNAVAILABLE` naming the directory and the cause (a file in the way,
/// permission denied, read-only or full file system).
pub fn prepare_queue_dir(dir: &std::path::Path) -> Result<PathBuf> {
    fsutil::create_dirs(dir).map_err(|e| error::io_error("creating queue directory", dir, e))?;
    std::fs::canonicalize(dir).map_err(|e| error::io_error("resolving queue directory", dir, e))
}

/// The default queue directory (DECISIONS D6), from the environment:
///
/// 1. `$QMGR_HOME` when set and not empty (used as given; it may be relative, in which case it
///    is relative to the current directory);
/// 2. else `$XDG_STATE_HOME/qmgr` when `XDG_STATE_HOME` is set to an absolute path (the XDG
///    Base Directory specification says to ignore a relative or empty value);
/// 3. else `$HOME/.local/state/qmgr` when `HOME` is set and not empty.
///
/// The directory is neither created nor checked here; [`SqliteStore::open`] creates it.
///
/// Errors: `QM_E_SERVICE_UNAVAILABLE` when none of the three variables gives a directory (the
/// caller passed no bad argument: the queue simply cannot be located, so the same code as any
/// other unreachable queue is used). The password database (`getpwuid`) is not consulted.
pub fn default_queue_dir() -> Result<PathBuf> {
    resolve_queue_dir(std::env::var_os("QMGR_HOME"), std::env::var_os("XDG_STATE_HOME"), std::env::var_os("HOME"))
}

/// The rule of [`default_queue_dir`] on given values, without reading the environment.
fn resolve_queue_dir(
    qmgr_home: Option<OsString>,
    xdg_state_home: Option<OsString>,
    home: Option<OsString>,
) -> Result<PathBuf> {
    if let Some(dir) = qmgr_home.filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    if let Some(state) = xdg_state_home.map(PathBuf::from).filter(|p| p.is_absolute()) {
        return Ok(state.join("qmgr"));
    }
    if let Some(home) = home.filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(home).join(".local/state/qmgr"));
    }
    Err(Error::new(
        QM_E_SERVICE_UNAVAILABLE,
        "no default queue directory: none of QMGR_HOME, XDG_STATE_HOME (absolute) or HOME is set; \
         pass a queue directory or set QMGR_HOME",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(s: &str) -> Option<OsString> {
        Some(OsString::from(s))
    }

    #[test]
    fn queue_dir_rule_precedence_and_fallbacks() {
        let r = |a, b, c| resolve_queue_dir(a, b, c);
        assert_eq!(r(os("/q"), os("/s"), os("/h")).unwrap(), PathBuf::from("/q"));
        assert_eq!(r(os("rel/q"), None, None).unwrap(), PathBuf::from("rel/q"));
        assert_eq!(r(os(""), os("/s"), os("/h")).unwrap(), PathBuf::from("/s/qmgr"));
        assert_eq!(r(None, os("/s"), os("/h")).unwrap(), PathBuf::from("/s/qmgr"));
        assert_eq!(r(None, os("rel"), os("/h")).unwrap(), PathBuf::from("/h/.local/state/qmgr"));
        assert_eq!(r(None, os(""), os("/h")).unwrap(), PathBuf::from("/h/.local/state/qmgr"));
        assert_eq!(r(None, None, os("/h")).unwrap(), PathBuf::from("/h/.local/state/qmgr"));
        let e = r(None, os("rel"), os("")).unwrap_err();
        assert_eq!(e.hr, QM_E_SERVICE_UNAVAILABLE);
        assert!(e.message.contains("QMGR_HOME"), "{}", e.message);
        assert_eq!(r(None, None, None).unwrap_err().hr, QM_E_SERVICE_UNAVAILABLE);
    }
}
