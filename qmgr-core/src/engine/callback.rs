//! The [`Callback`] trait (`IBackgroundCopyCallback1`): what the notifier thread calls.

use super::{Group, Job};
use crate::hresult::{HResult, S_OK};

/// The receiver of a group's notifications (`IBackgroundCopyCallback1`; DECISIONS D7).
///
/// Methods run on the manager's notification thread, one at a time, in event order, with no
/// internal lock held: they may call any method of the API (including cancelling or dropping
/// the group). The `group` and `job` arguments are valid for the call; clone them to keep
/// them. Dropping the callback (when it is replaced, cleared, its group cancelled, or the
/// manager shut down) is its `release`.
pub trait Callback: Send + Sync {
    /// `OnStatus`: an error (by default), or a completion asked for by `QM_NOTIFY_*` flags.
    /// `file_index` is `0xFFFFFFFF` when no single file is concerned; `job` is `None` when no
    /// job is. Anything but `S_OK` makes the event come again later (1 s doubling to 10 min)
    /// while it still holds.
    #[allow(clippy::too_many_arguments)]
    fn on_status(
        &self,
        group: &Group,
        job: Option<&Job>,
        file_index: u32,
        status: u32,
        num_of_retries: u32,
        win32_result: u32,
        transport_result: u32,
    ) -> HResult;

    /// `OnProgress`: a progress threshold was crossed (best-effort, never re-delivered).
    fn on_progress(
        &self,
        _progress_type: u32,
        _group: &Group,
        _job: Option<&Job>,
        _file_index: u32,
        _value: u32,
    ) -> HResult {
        S_OK
    }

    /// `OnProgressEx`: as `on_progress`, with the record of DECISIONS D9 in `bytes`.
    #[allow(clippy::too_many_arguments)]
    fn on_progress_ex(
        &self,
        _progress_type: u32,
        _group: &Group,
        _job: Option<&Job>,
        _file_index: u32,
        _value: u32,
        _bytes: &[u8],
    ) -> HResult {
        S_OK
    }
}
