//! `IBackgroundCopyGroup`.

use crate::boundary::{arg_ref, guard, guard_value, null, runner_warning, Done, HandleOut, Out};
use crate::callback::CCallback;
use crate::handles;
use crate::strings::{arg_str, to_c};
use crate::types::*;
use qmgr_core::hresult::{Error, HResult, E_INVALIDARG, E_NOINTERFACE, S_FALSE, S_OK};
use qmgr_core::model::{PropId, PropValue};
use std::ffi::c_void;
use std::sync::Arc;
use std::time::Duration;

/// IUnknown::AddRef of a group. Returns the new count (0 for an invalid handle).
#[no_mangle]
pub extern "C" fn qmgr_group_add_ref(group: *mut qmgr_group) -> u32 {
    guard_value("qmgr_group_add_ref", 0, || handles::add_ref(group))
}

/// IUnknown::Release of a group. Returns the new count (0 when this was the last reference,
/// for NULL and for an invalid handle). Releasing a handle does not cancel the group: it
/// stays in the queue.
#[no_mangle]
pub extern "C" fn qmgr_group_release(group: *mut qmgr_group) -> u32 {
    guard_value("qmgr_group_release", 0, || handles::release(group))
}

/// Converts a variant to a property value, checking that the value fits its vt's C type
/// (DECISIONS D12).
fn prop_value(v: &qmgr_variant) -> Result<PropValue, Error> {
    let bad = |m: String| Error::new(E_INVALIDARG, m);
    let fits = |lo: i64, hi: i64, name: &str| {
        if v.int_val < lo || v.int_val > hi {
            Err(bad(format!("value {} does not fit {name}", v.int_val)))
        } else {
            Ok(())
        }
    };
    match v.vt {
        QMGR_VT_I2 => fits(i16::MIN as i64, i16::MAX as i64, "QMGR_VT_I2")?,
        QMGR_VT_I4 | QMGR_VT_INT => fits(i32::MIN as i64, i32::MAX as i64, "a 32-bit signed vt")?,
        QMGR_VT_UI2 => fits(0, u16::MAX as i64, "QMGR_VT_UI2")?,
        QMGR_VT_UI4 | QMGR_VT_UINT => fits(0, u32::MAX as i64, "a 32-bit unsigned vt")?,
        QMGR_VT_BSTR => {
            if v.str_val.is_null() {
                return Ok(PropValue::Str(String::new()));
            }
            return Ok(PropValue::Str(arg_str(v.str_val, "value->str_val")?.to_string()));
        }
        vt => return Err(bad(format!("value->vt {vt} is not an accepted variant type"))),
    }
    if v.int_val < 0 {
        return Err(bad(format!("value {} is negative", v.int_val)));
    }
    Ok(PropValue::Int(v.int_val as u32))
}

/// IBackgroundCopyGroup::GetProp: reads a group property into `*value_out` (written only on
/// success). Integers come as QMGR_VT_I4, GROUPPROP_NOTIFYFLAGS as QMGR_VT_UI4, strings as
/// QMGR_VT_BSTR with a library-allocated str_val (free with qmgr_variant_clear); the
/// password reads as "". Defaults: DECISIONS D12.
///
/// Returns QMGR_S_OK; QMGR_E_POINTER if value_out is NULL; QMGR_E_HANDLE for a bad group;
/// QMGR_E_INVALIDARG for an unknown prop_id; QMGR_E_NOTIMPL for GROUPPROP_LOCALUSERID and
/// GROUPPROP_LOCALUSERPWD; QM_E_INVALID_STATE once the group is cancelled.
#[no_mangle]
pub extern "C" fn qmgr_group_get_prop(
    group: *mut qmgr_group,
    prop_id: u32,
    value_out: *mut qmgr_variant,
) -> qmgr_hresult {
    guard("qmgr_group_get_prop", || {
        let g = handles::get(group, "group")?;
        let out = Out::new(value_out, "value_out")?;
        let prop = PropId::from_u32(prop_id)?;
        let v = match g.get_prop(prop)? {
            PropValue::Int(i) => {
                let vt = if prop == PropId::NotifyFlags { QMGR_VT_UI4 } else { QMGR_VT_I4 };
                qmgr_variant { vt, int_val: i as i64, str_val: std::ptr::null_mut() }
            }
            PropValue::Str(s) => qmgr_variant { vt: QMGR_VT_BSTR, int_val: 0, str_val: to_c(&s) },
        };
        Ok(Done::ok(out.set(v)))
    })
}

/// IBackgroundCopyGroup::SetProp: sets a group property, persisted before returning.
/// Integer properties accept QMGR_VT_I2/I4/UI2/UI4/INT/UINT when int_val fits that type;
/// string properties QMGR_VT_BSTR (NULL str_val = ""). The variant is not modified.
///
/// Returns QMGR_S_OK; QMGR_E_POINTER if value is NULL; QMGR_E_HANDLE for a bad group;
/// QMGR_E_INVALIDARG for an unknown prop_id, a wrong vt, or a value out of range (priority
/// 0-2, notify flags with undefined bits, percent above 100, display name over 256 or
/// description over 1024 characters, a NOTIFYCLSID that is not "" or a GUID);
/// QMGR_E_NOTIMPL for LOCALUSERID/LOCALUSERPWD and QM_PROTOCOL_CUSTOM;
/// QM_E_DOWNLOADER_UNAVAILABLE for QM_PROTOCOL_FTP; QM_E_INVALID_STATE when changing the
/// protocol of a group with files, or once cancelled (DECISIONS D1, D3, D12).
#[no_mangle]
pub extern "C" fn qmgr_group_set_prop(
    group: *mut qmgr_group,
    prop_id: u32,
    value: *const qmgr_variant,
) -> qmgr_hresult {
    guard("qmgr_group_set_prop", || {
        let g = handles::get(group, "group")?;
        let v = arg_ref(value, "value")?;
        let prop = PropId::from_u32(prop_id)?;
        g.set_prop(prop, prop_value(v)?)?;
        Ok(S_OK)
    })
}

/// IBackgroundCopyGroup::GetProgress over all jobs: flags QM_PROGRESS_PERCENT_DONE (0-100),
/// QM_PROGRESS_SIZE_DONE (bytes, saturating at 0xFFFFFFFF) or QM_PROGRESS_TIME_DONE
/// (milliseconds of active transfer, saturating).
///
/// Returns QMGR_S_OK; QMGR_E_POINTER if progress_out is NULL; QMGR_E_HANDLE for a bad group;
/// QMGR_E_INVALIDARG for other flags; QM_E_INVALID_STATE once cancelled.
#[no_mangle]
pub extern "C" fn qmgr_group_get_progress(group: *mut qmgr_group, flags: u32, progress_out: *mut u32) -> qmgr_hresult {
    guard("qmgr_group_get_progress", || {
        let g = handles::get(group, "group")?;
        let out = Out::new(progress_out, "progress_out")?;
        Ok(Done::ok(out.set(g.progress(flags)?)))
    })
}

/// IBackgroundCopyGroup::GetStatus: `*status_out` = QM_STATUS_GROUP_* bits (new 0x180,
/// running 0x080, running foreground 0x480, fatal error 0x380, complete 0x140);
/// `*job_index_out` = zero-based index of the job being processed (the last job's once
/// complete; 0 with no jobs). DECISIONS D1, D3.
///
/// Returns QMGR_S_OK; QMGR_E_POINTER if an output is NULL; QMGR_E_HANDLE for a bad group;
/// QM_E_INVALID_STATE once cancelled.
#[no_mangle]
pub extern "C" fn qmgr_group_get_status(
    group: *mut qmgr_group,
    status_out: *mut u32,
    job_index_out: *mut u32,
) -> qmgr_hresult {
    guard("qmgr_group_get_status", || {
        // Borrowed, not referenced: the hot path of pollers (issue #6, GetStatus < 1 µs).
        handles::with(group, "group", |g| {
            let s = Out::new(status_out, "status_out")?;
            let j = Out::new(job_index_out, "job_index_out")?;
            let (status, index) = g.status()?;
            runner_warning("qmgr_group_get_status", g.take_runner_warning());
            Ok(Done::ok((s.set(status), j.set(index))))
        })?
    })
}

/// IBackgroundCopyGroup::GetJob: a new reference to a job of this group (set to NULL first).
///
/// Returns QMGR_S_OK; QMGR_E_POINTER if job_out is NULL; QMGR_E_HANDLE for a bad group;
/// QM_E_ITEM_NOT_FOUND if the group has no such job; QM_E_INVALID_STATE once cancelled.
#[no_mangle]
pub extern "C" fn qmgr_group_get_job(
    group: *mut qmgr_group,
    job_id: qmgr_guid,
    job_out: *mut *mut qmgr_job,
) -> qmgr_hresult {
    guard("qmgr_group_get_job", || {
        let out = HandleOut::<qmgr_job>::new(job_out, "job_out")?;
        let g = handles::get(group, "group")?;
        let j = g.get_job(job_id.into())?;
        Ok(Done::ok(out.set(j)))
    })
}

/// IBackgroundCopyGroup::SuspendGroup: a running group stops within 100 ms, keeping its
/// partial data; no-op when suspended, in error or complete (DECISIONS D3).
///
/// Returns QMGR_S_OK; QMGR_E_HANDLE for a bad group; QM_E_INVALID_STATE once cancelled;
/// QM_E_SERVICE_UNAVAILABLE if the change cannot be persisted.
#[no_mangle]
pub extern "C" fn qmgr_group_suspend_group(group: *mut qmgr_group) -> qmgr_hresult {
    guard("qmgr_group_suspend_group", || {
        handles::get(group, "group")?.suspend()?;
        Ok(S_OK)
    })
}

/// IBackgroundCopyGroup::ResumeGroup: a suspended group, or one in error (the error is
/// cleared), starts transferring; no-op when running or complete (DECISIONS D3).
///
/// Returns QMGR_S_OK; QMGR_E_HANDLE for a bad group; BG_E_EMPTY if the group has no files;
/// QM_E_INVALID_STATE once cancelled; QM_E_SERVICE_UNAVAILABLE if it cannot be persisted.
#[no_mangle]
pub extern "C" fn qmgr_group_resume_group(group: *mut qmgr_group) -> qmgr_hresult {
    guard("qmgr_group_resume_group", || {
        handles::get(group, "group")?.resume()?;
        Ok(S_OK)
    })
}

/// IBackgroundCopyGroup::CancelGroup: removes the group from the queue in any state.
/// Completely downloaded files stay; temporary files are deleted; the registered callback
/// is released. Handles stay valid but answer QM_E_INVALID_STATE (except get_group_id).
///
/// Returns QMGR_S_OK; QMGR_E_HANDLE for a bad group; QM_E_INVALID_STATE when already
/// cancelled; QM_E_SERVICE_UNAVAILABLE if the removal cannot be persisted.
#[no_mangle]
pub extern "C" fn qmgr_group_cancel_group(group: *mut qmgr_group) -> qmgr_hresult {
    guard("qmgr_group_cancel_group", || {
        handles::get(group, "group")?.cancel()?;
        Ok(S_OK)
    })
}

/// IBackgroundCopyGroup::get_Size: total bytes of the group's files (server-reported sizes,
/// else size hints); 0 while any size is unknown; saturates at 0xFFFFFFFF.
///
/// Returns QMGR_S_OK; QMGR_E_POINTER if size_out is NULL; QMGR_E_HANDLE for a bad group;
/// QM_E_INVALID_STATE once cancelled.
#[no_mangle]
pub extern "C" fn qmgr_group_get_size(group: *mut qmgr_group, size_out: *mut u32) -> qmgr_hresult {
    guard("qmgr_group_get_size", || {
        let g = handles::get(group, "group")?;
        let out = Out::new(size_out, "size_out")?;
        Ok(Done::ok(out.set(g.size()?)))
    })
}

/// IBackgroundCopyGroup::get_GroupID: the GUID given to CreateGroup (also once cancelled).
///
/// Returns QMGR_S_OK; QMGR_E_POINTER if group_id_out is NULL; QMGR_E_HANDLE for a bad group.
#[no_mangle]
pub extern "C" fn qmgr_group_get_group_id(group: *mut qmgr_group, group_id_out: *mut qmgr_guid) -> qmgr_hresult {
    guard("qmgr_group_get_group_id", || {
        let g = handles::get(group, "group")?;
        let out = Out::new(group_id_out, "group_id_out")?;
        Ok(Done::ok(out.set(g.id().into())))
    })
}

/// IBackgroundCopyGroup::CreateJob: a new job without files after the group's other jobs
/// (jobs run in creation order). `*job_out` receives a new reference (set to NULL first).
///
/// Returns QMGR_S_OK; QMGR_E_POINTER if job_out is NULL; QMGR_E_HANDLE for a bad group;
/// QM_E_INVALID_STATE when the group is running, complete or cancelled; QMGR_E_INVALIDARG
/// if job_id is all zeros or used by a job of the queue.
#[no_mangle]
pub extern "C" fn qmgr_group_create_job(
    group: *mut qmgr_group,
    job_id: qmgr_guid,
    job_out: *mut *mut qmgr_job,
) -> qmgr_hresult {
    guard("qmgr_group_create_job", || {
        let out = HandleOut::<qmgr_job>::new(job_out, "job_out")?;
        let g = handles::get(group, "group")?;
        let j = g.create_job(job_id.into())?;
        Ok(Done::ok(out.set(j)))
    })
}

/// IBackgroundCopyGroup::EnumJobs: an enumerator over a snapshot of the group's jobs, in
/// creation order (set to NULL first; release with qmgr_enum_jobs_release).
///
/// Returns QMGR_S_OK; QMGR_E_POINTER if enum_out is NULL; QMGR_E_HANDLE for a bad group;
/// QMGR_E_NOTIMPL if flags is not 0; QM_E_INVALID_STATE once cancelled.
#[no_mangle]
pub extern "C" fn qmgr_group_enum_jobs(
    group: *mut qmgr_group,
    flags: u32,
    enum_out: *mut *mut qmgr_enum_jobs,
) -> qmgr_hresult {
    guard("qmgr_group_enum_jobs", || {
        let out = HandleOut::<qmgr_enum_jobs>::new(enum_out, "enum_out")?;
        let g = handles::get(group, "group")?;
        let e = g.enum_jobs(flags)?;
        Ok(Done::ok(out.set(Arc::new(std::sync::Mutex::new(e)))))
    })
}

/// IBackgroundCopyGroup::SwitchToForeground: sticky; the group is scheduled before
/// background groups and never rate-limited; GetStatus reports QM_STATUS_GROUP_FOREGROUND.
///
/// Returns QMGR_S_OK; QMGR_E_HANDLE for a bad group; QM_E_INVALID_STATE once cancelled.
#[no_mangle]
pub extern "C" fn qmgr_group_switch_to_foreground(group: *mut qmgr_group) -> qmgr_hresult {
    guard("qmgr_group_switch_to_foreground", || {
        handles::get(group, "group")?.switch_to_foreground()?;
        Ok(S_OK)
    })
}

/// IBackgroundCopyGroup::QueryNewJobInterface: no BITS job objects exist, so every iid gets
/// QMGR_E_NOINTERFACE with `*unknown_out` = NULL.
///
/// Returns QMGR_E_NOINTERFACE; QMGR_E_POINTER if iid or unknown_out is NULL; QMGR_E_HANDLE
/// for a bad group; QM_E_INVALID_STATE once cancelled.
#[no_mangle]
pub extern "C" fn qmgr_group_query_new_job_interface(
    group: *mut qmgr_group,
    iid: *const qmgr_guid,
    unknown_out: *mut *mut c_void,
) -> qmgr_hresult {
    guard("qmgr_group_query_new_job_interface", || -> Result<HResult, Error> {
        // Set to NULL and never written again: no interface is ever returned.
        HandleOut::new(unknown_out, "unknown_out")?;
        let g = handles::get(group, "group")?;
        if iid.is_null() {
            return Err(null("iid"));
        }
        g.status()?;
        Err(Error::new(E_NOINTERFACE, "no BITS job interface is available for a group"))
    })
}

/// IBackgroundCopyGroup::SetNotificationPointer: registers the group's callback (the struct
/// is copied), or clears it when `callback` is NULL. `iid` must equal
/// IID_IBackgroundCopyCallback1. A replaced or cleared callback gets its release(); a
/// refused one never does. Events that still describe the group (an error, a completion)
/// are delivered to a newly registered callback (DECISIONS D7). Registrations are not
/// persisted: register again after reopening the queue.
///
/// Returns QMGR_S_OK; QMGR_E_POINTER if iid is NULL; QMGR_E_HANDLE for a bad group;
/// QMGR_E_NOINTERFACE for another iid; QM_E_INVALID_STATE once cancelled.
#[no_mangle]
pub extern "C" fn qmgr_group_set_notification_pointer(
    group: *mut qmgr_group,
    iid: *const qmgr_guid,
    callback: *const qmgr_callback1,
) -> qmgr_hresult {
    guard("qmgr_group_set_notification_pointer", || {
        let g = handles::get(group, "group")?;
        let iid = arg_ref(iid, "iid")?;
        if *iid != IID_IBackgroundCopyCallback1 {
            return Err(Error::new(E_NOINTERFACE, "iid is not IID_IBackgroundCopyCallback1"));
        }
        let Ok(callback) = arg_ref(callback, "callback") else {
            g.set_callback(None)?;
            return Ok(S_OK);
        };
        let cb = Arc::new(CCallback::new(*callback));
        if let Err(e) = g.set_callback(Some(cb.clone())) {
            cb.disarm(); // refused: its release must not run
            return Err(e);
        }
        Ok(S_OK)
    })
}

/// Extension: 64-bit progress of the group: `*bytes_done_out` and `*bytes_total_out`
/// (UINT64_MAX while any size is unknown).
///
/// Returns QMGR_S_OK; QMGR_E_POINTER if an output is NULL; QMGR_E_HANDLE for a bad group;
/// QM_E_INVALID_STATE once cancelled.
#[no_mangle]
pub extern "C" fn qmgr_group_get_progress64(
    group: *mut qmgr_group,
    bytes_done_out: *mut u64,
    bytes_total_out: *mut u64,
) -> qmgr_hresult {
    guard("qmgr_group_get_progress64", || {
        let g = handles::get(group, "group")?;
        let d = Out::new(bytes_done_out, "bytes_done_out")?;
        let t = Out::new(bytes_total_out, "bytes_total_out")?;
        let (done, total) = g.progress64()?;
        Ok(Done::ok((d.set(done), t.set(total))))
    })
}

/// Extension (C-API.md "Per-group rate limit"): limits every transfer of the group to
/// `bytes_per_second` bytes/s; 0 = no limit (the default). Persisted before it returns;
/// allowed in every state but cancelled; a running transfer follows the new value at once (in
/// another process transferring the queue within 250 ms, DECISIONS D10). Applies to foreground
/// groups too; background groups are also bound by the queue option background_rate_limit and
/// the idle-bandwidth controller (DECISIONS D14): the lowest of these limits wins.
///
/// Returns QMGR_S_OK; QMGR_E_HANDLE for a bad group; QM_E_INVALID_STATE once cancelled;
/// QM_E_SERVICE_UNAVAILABLE if the change cannot be persisted.
#[no_mangle]
pub extern "C" fn qmgr_group_set_rate_limit(group: *mut qmgr_group, bytes_per_second: u64) -> qmgr_hresult {
    guard("qmgr_group_set_rate_limit", || {
        handles::get(group, "group")?.set_rate_limit(bytes_per_second)?;
        Ok(S_OK)
    })
}

/// Extension (C-API.md "Per-group rate limit"): `*bytes_per_second_out` receives the group's
/// rate limit in bytes/s, 0 when it has none (see qmgr_group_set_rate_limit).
///
/// Returns QMGR_S_OK; QMGR_E_POINTER if bytes_per_second_out is NULL; QMGR_E_HANDLE for a bad
/// group; QM_E_INVALID_STATE once cancelled.
#[no_mangle]
pub extern "C" fn qmgr_group_get_rate_limit(group: *mut qmgr_group, bytes_per_second_out: *mut u64) -> qmgr_hresult {
    guard("qmgr_group_get_rate_limit", || {
        let g = handles::get(group, "group")?;
        let out = Out::new(bytes_per_second_out, "bytes_per_second_out")?;
        Ok(Done::ok(out.set(g.rate_limit()?)))
    })
}

/// Extension: blocks until the group is COMPLETE, in ERROR or SUSPENDED (QMGR_S_OK, at once
/// if it already is) or `timeout_ms` passes (QMGR_S_FALSE; 0 polls; 0xFFFFFFFF waits
/// forever). `*status_out` receives GetStatus's word either way.
///
/// Returns QMGR_S_OK, QMGR_S_FALSE; QMGR_E_POINTER if status_out is NULL; QMGR_E_HANDLE for
/// a bad group; QM_E_INVALID_STATE when cancelled before or while waiting (DECISIONS D12).
#[no_mangle]
pub extern "C" fn qmgr_group_wait(group: *mut qmgr_group, timeout_ms: u32, status_out: *mut u32) -> qmgr_hresult {
    guard("qmgr_group_wait", || {
        let g = handles::get(group, "group")?;
        let out = Out::new(status_out, "status_out")?;
        let timeout = (timeout_ms != u32::MAX).then(|| Duration::from_millis(timeout_ms as u64));
        let (done, word) = g.wait(timeout)?;
        Ok(Done::new(if done { S_OK } else { S_FALSE }, out.set(word)))
    })
}
