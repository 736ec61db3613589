//! The engine: the in-memory queue (a cache of the store), the scheduler thread, transfer
//! workers and the notifier thread, and the Rust API that mirrors the QMGR interfaces.
//!
//! Threads (DESIGN "Engine"): one scheduler decides what runs; one worker thread per active
//! group transfers its files one after another; one notifier delivers callbacks. Shared state
//! sits behind one mutex that is never held across a transfer or a callback. Lock order:
//! state, then store.

mod api;
mod notify;
mod scheduler;
mod state;
mod worker;

pub use api::{Callback, FileSpec, Group, GroupEnum, GuidEnum, Job, JobEnum, JobStatus, Manager};
