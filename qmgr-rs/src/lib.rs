//! # qmgr-rs — the qmgr download queue for Rust
//!
//! The Windows Queue Manager (QMGR) interfaces for Rust, ready to use: [`open`] composes the
//! engine of `qmgr-core` with the SQLite store of `qmgr-store` and the HTTP(S)/`file://`
//! transport of `qmgr-net`, the same composition the C library and the `qmgr` command use.
//!
//! | QMGR interface | Rust |
//! |---|---|
//! | `IBackgroundCopyQMgr` | [`Manager`] (`create_group`, `get_group`, `enum_groups`, options) |
//! | `IBackgroundCopyGroup` | [`Group`] (properties, `create_job`, `resume`, `suspend`, `cancel`, progress, status, `wait`) |
//! | `IBackgroundCopyJob1` | [`Job`] (`add_files`, files, progress, status, `cancel`) |
//! | `IEnumBackgroundCopyGroups` / `…Jobs` | [`GroupEnum`] / [`JobEnum`]: iterators over GUIDs, plus `next_batch`, `skip_items`, `reset`, `count_all` |
//! | `IBackgroundCopyCallback1` | the [`Callback`] trait, registered with [`Group::set_callback`] |
//!
//! Errors are [`Error`]s carrying the HRESULT of the method (constants in [`hresult`]) and a
//! message for people. Handles are plain values: cloning is `AddRef`, dropping is `Release`.
//!
//! Beside these C-shaped methods, a Rust-shaped API: [`Group::snapshot`] (the group, its jobs
//! and files under one lock, named fields, `Option` for unknown totals, each job's
//! [`JobError`]), [`Job::error`] (with its [`ErrorClass`]), [`Manager::find_job`] (a job
//! wherever it is in the queue), [`Group::set_props`] (several properties, all or nothing),
//! [`Group::set_rate_limit`] / [`Group::rate_limit`] (the group's own rate limit in bytes/s),
//! [`Manager::probe`] (a URL's length, validators, ranges and `Content-Disposition` name,
//! from a `HEAD` request: a [`Probe`]) and [`Job::adopt_partial`] (a partial file left by
//! another tool becomes a file's temporary file, continued with a ranged request).
//! This crate has no rule of its own: every rule of the queue is `qmgr-core`'s.
//!
//! Feature `bench-no-checkpoints` (benchmarks only): forwards `qmgr-core`'s feature of that
//! name (progress checkpoints become no-ops); never enable it in a build that is used.
//!
//! ```
//! use qmgr_rs::{model::{protocol, PropId, PropValue}, FileSpec, Guid};
//!
//! # fn main() -> qmgr_rs::Result<()> {
//! let work = tempfile::tempdir().unwrap();
//! let source = work.path().join("source.txt");
//! std::fs::write(&source, b"hello, queue").unwrap();
//!
//! let manager = qmgr_rs::open(Some(&work.path().join("queue")))?;
//! let group = manager.create_group(Guid::generate())?;
//! group.set_prop(PropId::ProtocolFlags, PropValue::Int(protocol::SMB))?; // file:// URLs
//! let job = group.create_job(Guid::generate())?;
//! let dest = work.path().join("copy.txt");
//! job.add_files(&[FileSpec::new(format!("file://{}", source.display()), dest.display().to_string())])?;
//! group.resume()?;
//! let (settled, status) = group.wait(Some(std::time::Duration::from_secs(30)))?;
//! assert!(settled && status & qmgr_rs::model::status::GROUP_COMPLETE != 0);
//! assert_eq!(std::fs::read(&dest).unwrap(), b"hello, queue");
//! group.cancel()?; // leaves the queue; the finished file stays
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod runner;

use std::path::Path;
use std::sync::Arc;

pub use qmgr_core::model::{Checksum, ErrorClass, JobError};
pub use qmgr_core::{clock, guid, hresult, model, rules};
pub use qmgr_core::{Callback, Error, FileSpec, Group, GroupEnum, Guid, GuidEnum, HResult, Job, JobEnum, JobStatus};
pub use qmgr_core::{FileSnapshot, GroupSnapshot, JobSnapshot, Manager, Result};
// What `Manager::probe` says of a URL (a HEAD request), for `Job::adopt_partial` too.
pub use qmgr_core::transport::Probe;
pub use qmgr_store::DB_FILE_NAME;
// The queue directory and its lock file without opening the queue (`qmgr service status`).
pub use qmgr_store::{default_queue_dir, LOCK_FILE_NAME};

use qmgr_core::model::Options;
use qmgr_core::store::Store;
use qmgr_core::transport::Transport;

/// Opens the queue in `dir` — `None` for the user's default queue (`$QMGR_HOME`, else
/// `$XDG_STATE_HOME/qmgr`, else `~/.local/state/qmgr`; DECISIONS D6) — creating the directory
/// (mode 0700) and its database (0600) when missing. The `CoCreateInstance(CLSID_BackgroundCopyQMgr)`
/// counterpart.
///
/// One manager per queue directory per process: opening a directory that this process has
/// open already returns another handle to the same manager. Groups left RUNNING continue by
/// themselves; other processes that open the same directory share its queue (DECISIONS D10).
/// Work queued here finishes after this process exits: when a call leaves transferable work
/// and no background runner serves the queue, one is started ([`runner`]; DECISIONS D13;
/// off with the option `autostart` 0 or `QMGR_AUTOSTART=0`).
///
/// Errors: `E_INVALIDARG` for an empty path; `QM_E_SERVICE_UNAVAILABLE` when there is no
/// default directory, or the directory or database cannot be created or opened (the message
/// names the path and the cause).
pub fn open(dir: Option<&Path>) -> Result<Manager> {
    let dir = queue_dir(dir)?;
    let manager = Manager::open_shared(&dir, || {
        let store = qmgr_store::SqliteStore::open(&dir)?;
        let transport = qmgr_net::NetTransport::new(&Options::default())?;
        Ok((Box::new(store) as Box<dyn Store>, Arc::new(transport) as Arc<dyn Transport>))
    })?;
    manager.set_launcher(Arc::new(runner::ProcessLauncher::new(&dir)));
    Ok(manager)
}

/// The canonical queue directory that [`open`] uses for `dir` (`None`: the user's default
/// queue; DECISIONS D6), created (mode 0700) when missing, without opening the queue.
///
/// Errors: as [`open`].
pub fn queue_dir(dir: Option<&Path>) -> Result<std::path::PathBuf> {
    let dir = match dir {
        Some(d) if d.as_os_str().is_empty() => return Err(Error::invalid_arg("queue directory: the path is empty")),
        Some(d) => d.to_path_buf(),
        None => qmgr_store::default_queue_dir()?,
    };
    qmgr_store::prepare_queue_dir(&dir)
}
