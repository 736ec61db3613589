//! `IBackgroundCopyCallback1`: a C callback struct as a core [`Callback`].

use crate::handles::{self, new_handle};
use crate::types::*;
use qmgr_core::hresult::{HResult, S_OK};
use qmgr_core::{Callback, Group, Job};
use std::sync::atomic::{AtomicBool, Ordering};

/// A registered `qmgr_callback1`; dropping it calls `release(context)` once, unless disarmed.
pub(crate) struct CCallback {
    cb: qmgr_callback1,
    armed: AtomicBool,
}

// SAFETY: the C-API contract says callbacks are called from the library's notification
// thread and that `context` must be usable from there; the library never touches `context`
// itself, it only passes it back.
unsafe impl Send for CCallback {}
// SAFETY: as above; calls are serialized by the notifier (one at a time).
unsafe impl Sync for CCallback {}

impl CCallback {
    pub(crate) fn new(cb: qmgr_callback1) -> Self {
        CCallback { cb, armed: AtomicBool::new(true) }
    }

    /// Prevents `release` from running (the registration was refused).
    pub(crate) fn disarm(&self) {
        self.armed.store(false, Ordering::SeqCst);
    }
}

impl Drop for CCallback {
    fn drop(&mut self) {
        if self.armed.load(Ordering::SeqCst) {
            if let Some(release) = self.cb.release {
                // SAFETY: a function pointer the caller registered, called once with its
                // own context, as C-API.md promises.
                unsafe { release(self.cb.context) }
            }
        }
    }
}

/// Handles borrowed by C for one callback: registered before, released after.
struct Borrowed {
    group: *mut qmgr_group,
    job: *mut qmgr_job,
}

impl Borrowed {
    fn new(group: &Group, job: Option<&Job>) -> Self {
        Borrowed {
            group: new_handle::<qmgr_group>(group.clone()),
            job: job.map_or(std::ptr::null_mut(), |j| new_handle::<qmgr_job>(j.clone())),
        }
    }
}

impl Drop for Borrowed {
    fn drop(&mut self) {
        handles::release(self.group);
        handles::release(self.job);
    }
}

impl Callback for CCallback {
    fn on_status(
        &self,
        group: &Group,
        job: Option<&Job>,
        file_index: u32,
        status: u32,
        retries: u32,
        win32: u32,
        transport: u32,
    ) -> HResult {
        let Some(f) = self.cb.on_status else { return S_OK };
        let h = Borrowed::new(group, job);
        // SAFETY: the caller registered this function with this context (C-API.md).
        unsafe { f(self.cb.context, h.group, h.job, file_index, status, retries, win32, transport) }
    }

    fn on_progress(&self, kind: u32, group: &Group, job: Option<&Job>, file_index: u32, value: u32) -> HResult {
        let Some(f) = self.cb.on_progress else { return S_OK };
        let h = Borrowed::new(group, job);
        // SAFETY: as in on_status.
        unsafe { f(self.cb.context, kind, h.group, h.job, file_index, value) }
    }

    fn on_progress_ex(
        &self,
        kind: u32,
        group: &Group,
        job: Option<&Job>,
        file_index: u32,
        value: u32,
        bytes: &[u8],
    ) -> HResult {
        let Some(f) = self.cb.on_progress_ex else { return S_OK };
        let h = Borrowed::new(group, job);
        // SAFETY: as in on_status; `bytes` outlives the call.
        unsafe { f(self.cb.context, kind, h.group, h.job, file_index, value, bytes.len() as u32, bytes.as_ptr()) }
    }
}
