//! The engine: the in-memory queue (a cache of the store), the scheduler thread, transfer
//! workers and the notifier thread, and the Rust API that mirrors the QMGR interfaces.
//!
//! The engine decides nothing itself: every rule is a pure function of [`crate::rules`], which
//! the threads, locks and handles here call and carry out.
//!
//! Threads (DESIGN "Engine"): one scheduler carries out the scheduling choice; one worker
//! thread per active group carries out [`crate::rules::parallel::plan`] for its current job,
//! with up to `max_connections_per_group` fetch threads of its own (DECISIONS D16) and a
//! committer thread beside it that commits the fetched files in job order, in batches (flushed
//! together, renamed, recorded in one store transaction; within 200 ms, at once when the
//! transfer stalls, fails or ends); one notifier
//! delivers callbacks; one idle-bandwidth thread samples the network every 100 ms while
//! idle-mode background transfers run and sets their rate and receive window (DECISIONS D14,
//! [`crate::rules::idle`]). Shared state sits behind one read-write lock (getters share it) that is
//! never held across a transfer or a callback. Lock order: state, then store.
//!
//! Other processes' changes are followed through [`crate::store::Store::load_changes`]: only
//! the groups changed since the last look are read and merged (DECISIONS D10).

mod callback;
mod commit;
mod enums;
mod group;
mod idle;
mod inner;
mod job;
mod lookup;
mod manager;
mod notify;
mod scheduler;
mod snapshot;
mod state;
mod status_cache;
mod worker;

pub use callback::Callback;
pub use enums::{GroupEnum, GuidEnum, JobEnum};
pub use group::Group;
pub use job::{FileSpec, Job, JobStatus};
pub use manager::Manager;
pub use snapshot::{FileSnapshot, GroupSnapshot, JobSnapshot};
