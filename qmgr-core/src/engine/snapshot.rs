//! The Rust-shaped views of a group and its jobs: one consistent look, taken under one lock,
//! with named fields and `Option` where a value may be unknown (the C-shaped getters of
//! [`Group`](super::Group) and [`Job`](super::Job) stay for the FFI).

use super::state::{GroupEntry, JobEntry};
use crate::guid::Guid;
use crate::model::{Checksum, ErrorClass, GroupProps, GroupState, JobError};
use crate::rules::progress::{percent, sat32};
use crate::rules::states;
use std::time::Instant;

/// A group at one moment ([`Group::snapshot`](super::Group::snapshot)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupSnapshot {
    /// `get_GroupID`.
    pub id: Guid,
    /// The state (DECISIONS D3).
    pub state: GroupState,
    /// The `GetStatus` word (reference §3.4).
    pub status: u32,
    /// The `GetStatus` job index (DECISIONS D1).
    pub job_index: u32,
    /// Sticky foreground flag (`SwitchToForeground`).
    pub foreground: bool,
    /// The properties; the password reads as `""` (write-only: DECISIONS D1).
    pub props: GroupProps,
    /// Bytes done over all jobs.
    pub bytes_done: u64,
    /// Total bytes over all jobs; `None` while any file's size is unknown.
    pub bytes_total: Option<u64>,
    /// Percent done, 0–100 (`QM_PROGRESS_PERCENT_DONE`).
    pub percent: u32,
    /// Milliseconds of active transfer, unsaturated.
    pub active_ms: u64,
    /// `QM_PROGRESS_TIME_DONE` as `GetProgress` reports it: `active_ms` saturated at
    /// `0xFFFFFFFF` (DECISIONS D1).
    pub time_done: u32,
    /// `get_Size` as the C API reports it: `bytes_total`, 0 while unknown, saturated at
    /// `0xFFFFFFFF` (DECISIONS D12).
    pub size: u32,
    /// The jobs, in creation order.
    pub jobs: Vec<JobSnapshot>,
}

/// A job at one moment (part of a [`GroupSnapshot`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobSnapshot {
    /// `get_JobID`.
    pub id: Guid,
    /// The job `GetStatus` word (reference §2.3.3).
    pub status: u32,
    /// Every file committed (or the group COMPLETE).
    pub complete: bool,
    /// Sticky foreground flag.
    pub foreground: bool,
    /// Failed attempts so far, never reset (`dwNumOfRetries`; DECISIONS D11).
    pub retries: u32,
    /// The current error, transient (retrying) or fatal, if any.
    pub error: Option<JobError>,
    /// Bytes done.
    pub bytes_done: u64,
    /// Total bytes; `None` while any file's size is unknown.
    pub bytes_total: Option<u64>,
    /// Percent done, 0–100.
    pub percent: u32,
    /// The files, in the order added.
    pub files: Vec<FileSnapshot>,
}

/// A file at one moment (part of a [`JobSnapshot`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSnapshot {
    /// Zero-based index in the job.
    pub index: u32,
    /// Source URL, as given to `AddFiles`.
    pub url: String,
    /// Destination path.
    pub local_path: String,
    /// Bytes held (the whole size once complete).
    pub bytes_done: u64,
    /// Size: the server's, else the size hint; `None` while unknown.
    pub bytes_total: Option<u64>,
    /// The expected digest set by [`Job::set_file_checksum`](super::Job::set_file_checksum),
    /// if any (DECISIONS D15).
    pub checksum: Option<Checksum>,
    /// Committed under its final name.
    pub complete: bool,
}

impl GroupSnapshot {
    /// The snapshot of `g` at `now`.
    pub(super) fn of(g: &GroupEntry, now: Instant) -> GroupSnapshot {
        let (bytes_done, bytes_total) = g.bytes();
        let complete = g.rec.state == GroupState::Complete;
        let props = GroupProps { remote_password: String::new(), ..g.rec.props.clone() };
        let active_ms = g.jobs.iter().map(|j| j.active_ms(now)).sum();
        GroupSnapshot {
            id: g.rec.id,
            state: g.rec.state,
            status: g.status_word(),
            job_index: g.job_index(),
            foreground: g.rec.foreground,
            props,
            bytes_done,
            bytes_total,
            percent: percent(bytes_done, bytes_total, complete),
            active_ms,
            time_done: sat32(active_ms),
            size: g.size(),
            jobs: g.jobs.iter().map(|j| JobSnapshot::of(g.rec.state, j)).collect(),
        }
    }
}

impl JobSnapshot {
    /// The snapshot of `j`, a job of a group in `group_state`.
    fn of(group_state: GroupState, j: &JobEntry) -> JobSnapshot {
        let (bytes_done, bytes_total) = j.bytes();
        let fatal = j.rec.error.as_ref().is_some_and(|e| e.class == ErrorClass::Fatal);
        let complete = j.complete() || group_state == GroupState::Complete;
        JobSnapshot {
            id: j.rec.id,
            status: states::job_status(j.complete(), group_state, fatal, j.rec.foreground),
            complete,
            foreground: j.rec.foreground,
            retries: j.rec.retries,
            error: j.rec.error.clone(),
            bytes_done,
            bytes_total,
            percent: percent(bytes_done, bytes_total, j.complete()),
            files: j
                .files
                .iter()
                .map(|f| FileSnapshot {
                    index: f.index,
                    url: f.url.clone(),
                    local_path: f.local_path.clone(),
                    bytes_done: f.bytes_done,
                    bytes_total: f.known_size(),
                    checksum: f.checksum.clone(),
                    complete: f.complete,
                })
                .collect(),
        }
    }
}
