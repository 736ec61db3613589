//! What every handle method does first: find the live entry of its group, or answer with the
//! error of a cancelled one; check the method against the D3 table; check a progress unit.

use super::state::{GroupEntry, State};
use crate::guid::Guid;
use crate::hresult::{Error, Result};
use crate::model::progress;
use crate::rules::states::{self, Action, Transition};

/// Looks up the live entry of a group handle, or the cancelled-state error.
pub(super) fn live<'a>(st: &'a mut State, id: Guid, inc: u64, method: &str) -> Result<&'a mut GroupEntry> {
    st.group_mut(id, inc).ok_or_else(|| cancelled(method, id))
}

/// [`live`], to read.
pub(super) fn live_ref<'a>(st: &'a State, id: Guid, inc: u64, method: &str) -> Result<&'a GroupEntry> {
    st.group(id, inc).ok_or_else(|| cancelled(method, id))
}

/// The error of a method called on a cancelled group (DECISIONS D3, D12).
fn cancelled(method: &str, id: Guid) -> Error {
    Error::invalid_state(format!("{method}: group {id} was cancelled"))
}

/// Checks `action` against the D3 table ([`states::transition`]) for the group `g`; a refusal
/// is the method's error.
pub(super) fn allow(g: &GroupEntry, action: Action, method: &str) -> Result<Transition> {
    states::transition(g.rec.state, action, g.has_files()).map_err(|r| r.error(method, g.rec.id, g.rec.state))
}

/// Checks a `QM_PROGRESS_*` unit of `GetProgress` (reference §2.2.3).
pub(super) fn check_progress_flags(method: &str, flags: u32) -> Result<()> {
    match flags {
        progress::PERCENT_DONE | progress::SIZE_DONE | progress::TIME_DONE => Ok(()),
        _ => Err(Error::invalid_arg(format!(
            "{method}: flags {flags} is not QM_PROGRESS_PERCENT_DONE (1), QM_PROGRESS_TIME_DONE (2) or QM_PROGRESS_SIZE_DONE (3)"
        ))),
    }
}
