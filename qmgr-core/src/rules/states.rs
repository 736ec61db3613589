//! DECISIONS D3: what each method may do in each group state, what it leads to, and the
//! status words of groups and jobs (reference §3.4).

use crate::guid::Guid;
use crate::hresult::{Error, BG_E_EMPTY};
use crate::model::{status, GroupState};

/// Something that acts on a group's state: a method of the API or an event of its transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// `CreateJob`.
    CreateJob,
    /// `AddFiles`.
    AddFiles,
    /// `Job::adopt_partial` (Rust-only; `qmgr get --continue`, issue #15): a partial file
    /// becomes a file's temporary file, which only a group that does not transfer may take.
    AdoptPartial,
    /// `ResumeGroup`.
    Resume,
    /// `SuspendGroup`.
    Suspend,
    /// `CancelGroup`.
    Cancel,
    /// `SetProp`.
    SetProp,
    /// `SwitchToForeground` (group or job).
    SwitchToForeground,
    /// `qmgr_job_set_file_checksum` (DECISIONS D15: in any state but cancelled; a complete
    /// file is refused by the method itself).
    SetFileChecksum,
    /// The transfer committed every file of the group.
    AllCommitted,
    /// The transfer failed fatally (DECISIONS D5).
    FatalError,
}

/// What an allowed [`Action`] does to the group's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// Allowed; the state stays (a no-op for a state change such as resuming a RUNNING group).
    Stay,
    /// Allowed; the group moves to this state.
    To(GroupState),
}

/// Why an [`Action`] is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The state forbids it: `QM_E_INVALID_STATE`.
    InvalidState,
    /// `ResumeGroup` of a group without files: `BG_E_EMPTY`.
    Empty,
}

impl Refusal {
    /// The error a method answers with (`method` and `group` name it in the message).
    pub fn error(self, method: &str, group: Guid, state: GroupState) -> Error {
        match self {
            Refusal::InvalidState => Error::invalid_state(format!("{method}: group {group} is {}", state.name())),
            Refusal::Empty => Error::new(BG_E_EMPTY, format!("{method}: group {group} has no files to download")),
        }
    }
}

/// The D3 table: whether `action` is allowed on a group in `state` (holding files when
/// `has_files`), and the state it leads to.
///
/// | action \ state | SUSPENDED | RUNNING | ERROR | COMPLETE | CANCELLED |
/// |---|---|---|---|---|---|
/// | CreateJob, AddFiles, AdoptPartial | stay | refused | stay | refused | refused |
/// | Resume | → RUNNING (refused `Empty` without files) | stay | → RUNNING (same) | stay | refused |
/// | Suspend | stay | → SUSPENDED | stay | stay | refused |
/// | Cancel | → CANCELLED | → CANCELLED | → CANCELLED | → CANCELLED | refused |
/// | SetProp, SwitchToForeground, SetFileChecksum | stay | stay | stay | stay | refused |
/// | AllCommitted | stay | → COMPLETE | stay | stay | refused |
/// | FatalError | stay | → ERROR | stay | stay | refused |
pub fn transition(state: GroupState, action: Action, has_files: bool) -> Result<Transition, Refusal> {
    use Action::*;
    use GroupState::*;
    Ok(match (action, state) {
        (_, Cancelled) => return Err(Refusal::InvalidState),
        (CreateJob | AddFiles | AdoptPartial, Running | Complete) => return Err(Refusal::InvalidState),
        (CreateJob | AddFiles | AdoptPartial, _) => Transition::Stay,
        (Resume, Suspended | Error) if !has_files => return Err(Refusal::Empty),
        (Resume, Suspended | Error) => Transition::To(Running),
        (Suspend, Running) => Transition::To(Suspended),
        (Cancel, _) => Transition::To(Cancelled),
        (AllCommitted, Running) => Transition::To(Complete),
        (FatalError, Running) => Transition::To(Error),
        (Resume | Suspend | SetProp | SwitchToForeground | SetFileChecksum | AllCommitted | FatalError, _) => {
            Transition::Stay
        }
    })
}

/// True when entering `to` clears the jobs' errors and restarts the retry delay: a resume
/// (DECISIONS D3 "clears the error").
pub fn clears_errors(to: GroupState) -> bool {
    to == GroupState::Running
}

/// The group `GetStatus` word (reference §3.4; DECISIONS D3): new `0x180`, running `0x080`,
/// running foreground `0x480`, fatal error `0x380`, complete `0x140`.
pub fn group_status(state: GroupState, foreground: bool) -> u32 {
    let mut s = if state == GroupState::Complete { status::GROUP_COMPLETE } else { status::GROUP_INCOMPLETE };
    if state != GroupState::Running {
        s |= status::GROUP_SUSPENDED;
    }
    if state == GroupState::Error {
        s |= status::GROUP_ERROR;
    }
    if foreground {
        s |= status::GROUP_FOREGROUND;
    }
    s
}

/// The job `GetStatus` word (reference §2.3.3; DECISIONS D3): complete or incomplete (a job
/// of a COMPLETE group is complete), the error bit only for a fatal error while the group is in
/// ERROR (transient errors never set it), and the foreground bit.
pub fn job_status(job_complete: bool, group: GroupState, fatal_error: bool, foreground: bool) -> u32 {
    let complete = job_complete || group == GroupState::Complete;
    let mut s = if complete { status::JOB_COMPLETE } else { status::JOB_INCOMPLETE };
    if fatal_error && group == GroupState::Error {
        s |= status::JOB_ERROR;
    }
    if foreground {
        s |= status::JOB_FOREGROUND;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::Action::*;
    use super::Transition::*;
    use super::*;
    use crate::model::GroupState::*;

    /// The D3 table, row by row: (action, [SUSPENDED, RUNNING, ERROR, COMPLETE, CANCELLED]).
    #[test]
    fn d3_table() {
        let states = [Suspended, Running, Error, Complete, Cancelled];
        let bad = Err(Refusal::InvalidState);
        let rows: [(Action, [Result<Transition, Refusal>; 5]); 11] = [
            (CreateJob, [Ok(Stay), bad, Ok(Stay), bad, bad]),
            (AddFiles, [Ok(Stay), bad, Ok(Stay), bad, bad]),
            (AdoptPartial, [Ok(Stay), bad, Ok(Stay), bad, bad]),
            (Resume, [Ok(To(Running)), Ok(Stay), Ok(To(Running)), Ok(Stay), bad]),
            (Suspend, [Ok(Stay), Ok(To(Suspended)), Ok(Stay), Ok(Stay), bad]),
            (Cancel, [Ok(To(Cancelled)), Ok(To(Cancelled)), Ok(To(Cancelled)), Ok(To(Cancelled)), bad]),
            (SetProp, [Ok(Stay), Ok(Stay), Ok(Stay), Ok(Stay), bad]),
            (SwitchToForeground, [Ok(Stay), Ok(Stay), Ok(Stay), Ok(Stay), bad]),
            (SetFileChecksum, [Ok(Stay), Ok(Stay), Ok(Stay), Ok(Stay), bad]),
            (AllCommitted, [Ok(Stay), Ok(To(Complete)), Ok(Stay), Ok(Stay), bad]),
            (FatalError, [Ok(Stay), Ok(To(Error)), Ok(Stay), Ok(Stay), bad]),
        ];
        for (action, row) in rows {
            for (state, want) in states.into_iter().zip(row) {
                assert_eq!(transition(state, action, true), want, "{action:?} in {state:?}");
            }
        }
    }

    #[test]
    fn resume_without_files_is_empty_only_where_it_would_run() {
        assert_eq!(transition(Suspended, Resume, false), Err(Refusal::Empty));
        assert_eq!(transition(Error, Resume, false), Err(Refusal::Empty));
        assert_eq!(transition(Running, Resume, false), Ok(Stay));
        assert_eq!(transition(Complete, Resume, false), Ok(Stay));
        let g = Guid::parse("69ad4aee-51be-439b-a92c-86ae490e8b30").unwrap();
        let e = Refusal::Empty.error("ResumeGroup", g, Suspended);
        assert_eq!(e.hr, BG_E_EMPTY);
        assert_eq!(e.message, format!("ResumeGroup: group {g} has no files to download"));
        let e = Refusal::InvalidState.error("AddFiles", g, Running);
        assert_eq!(e.hr, crate::hresult::QM_E_INVALID_STATE);
        assert_eq!(e.message, format!("AddFiles: group {g} is running"));
    }

    /// Reference §3.4 words of DECISIONS D3.
    #[test]
    fn status_words() {
        assert_eq!(group_status(Suspended, false), 0x180);
        assert_eq!(group_status(Running, false), 0x080);
        assert_eq!(group_status(Running, true), 0x480);
        assert_eq!(group_status(Error, false), 0x380);
        assert_eq!(group_status(Complete, false), 0x140);
        assert_eq!(job_status(false, Running, false, false), status::JOB_INCOMPLETE);
        assert_eq!(job_status(false, Complete, false, false), status::JOB_COMPLETE);
        assert_eq!(
            job_status(false, Error, true, true),
            status::JOB_INCOMPLETE | status::JOB_ERROR | status::JOB_FOREGROUND
        );
        assert_eq!(job_status(false, Running, true, false), status::JOB_INCOMPLETE, "no error bit outside ERROR");
        assert!(clears_errors(Running) && !clears_errors(Suspended));
    }
}
