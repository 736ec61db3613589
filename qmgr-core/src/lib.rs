//! # qmgr-core — the queue
//!
//! The Windows Queue Manager (QMGR) download queue, rebuilt for Linux: groups of jobs of
//! files, their states (DECISIONS D3), scheduling (D1), retries (D5), notifications (D7) and
//! the Rust API that mirrors `IBackgroundCopyQMgr`, `IBackgroundCopyGroup`,
//! `IBackgroundCopyJob1` and their enumerators.
//!
//! This crate does no I/O of its own: persistence is a [`Store`](store::Store) (SQLite in
//! `qmgr-store`) and transfers are a [`Transport`](transport::Transport) (HTTP in
//! `qmgr-net`). Compose them with [`Manager::open`](engine::Manager::open).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod clock;
pub mod engine;
pub mod guid;
pub mod hresult;
pub mod model;
pub mod rate;
pub mod rules;
pub mod runner;
pub mod store;
pub mod transport;

pub use engine::{
    Callback, FileSnapshot, FileSpec, Group, GroupEnum, GroupSnapshot, GuidEnum, Job, JobEnum, JobSnapshot, JobStatus,
    Manager,
};
pub use guid::Guid;
pub use hresult::{Error, HResult, Result};
