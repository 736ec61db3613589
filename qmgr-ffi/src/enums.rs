//! `IEnumBackgroundCopyGroups` and `IEnumBackgroundCopyJobs1`.

use crate::boundary::{guard, guard_value, ArrayOut, Done, HandleOut, Out, Outcome};
use crate::handles::{self, Castable};
use crate::types::*;
use qmgr_core::hresult::{Error, S_FALSE, S_OK};
use qmgr_core::GuidEnum;
use std::sync::{Arc, Mutex};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `Next`: `rgelt` receives up to `celt` GUIDs, `*fetched` (optional when `celt` == 1 only)
/// their number.
fn next<C>(e: *mut C, celt: u32, rgelt: *mut qmgr_guid, fetched: *mut u32) -> Result<impl Outcome, Error>
where
    C: Castable<Target = Arc<Mutex<GuidEnum>>>,
{
    let cur = handles::get(e, "e")?;
    let rgelt = ArrayOut::new(rgelt, celt as usize, "rgelt")?;
    let fetched = if celt == 1 {
        Out::optional(fetched)
    } else {
        Some(Out::new(fetched, "celt_fetched_out (allowed only when celt == 1)")?)
    };
    let ids = lock(&cur).next_batch(celt as usize);
    let hr = if ids.len() == celt as usize { S_OK } else { S_FALSE };
    let count = ids.len() as u32;
    let ids = ids.into_iter().map(qmgr_guid::from).collect();
    Ok(Done::new(hr, (rgelt.set(ids), fetched.map(|f| f.set(count)))))
}

fn skip<C>(e: *mut C, celt: u32) -> Result<i32, Error>
where
    C: Castable<Target = Arc<Mutex<GuidEnum>>>,
{
    let cur = handles::get(e, "e")?;
    Ok(if lock(&cur).skip_items(celt as usize) { S_OK } else { S_FALSE })
}

fn reset<C>(e: *mut C) -> Result<i32, Error>
where
    C: Castable<Target = Arc<Mutex<GuidEnum>>>,
{
    let cur = handles::get(e, "e")?;
    lock(&cur).reset();
    Ok(S_OK)
}

fn clone<C>(e: *mut C, out: *mut *mut C) -> Result<impl Outcome, Error>
where
    C: Castable<Target = Arc<Mutex<GuidEnum>>> + 'static,
{
    let out = HandleOut::<C>::new(out, "enum_out")?;
    let cur = handles::get(e, "e")?;
    let copy = lock(&cur).clone();
    Ok(Done::ok(out.set(Arc::new(Mutex::new(copy)))))
}

fn count<C>(e: *mut C, out: *mut u32) -> Result<impl Outcome, Error>
where
    C: Castable<Target = Arc<Mutex<GuidEnum>>>,
{
    let cur = handles::get(e, "e")?;
    let out = Out::new(out, "count_out")?;
    let count = lock(&cur).count_all() as u32;
    Ok(Done::ok(out.set(count)))
}

/// IEnumBackgroundCopyGroups::Next: copies up to `celt` group GUIDs from the cursor into
/// `rgelt` (room for `celt`) and their number into `*celt_fetched_out` (which may be NULL
/// only when celt == 1). `celt` 0 fetches nothing.
///
/// Returns QMGR_S_OK when `celt` were copied, QMGR_S_FALSE when fewer; QMGR_E_POINTER if e,
/// rgelt (celt > 0) or celt_fetched_out (celt != 1) is NULL; QMGR_E_HANDLE for a bad e.
#[no_mangle]
pub extern "C" fn qmgr_enum_groups_next(
    e: *mut qmgr_enum_groups,
    celt: u32,
    rgelt: *mut qmgr_guid,
    celt_fetched_out: *mut u32,
) -> qmgr_hresult {
    guard("qmgr_enum_groups_next", || next(e, celt, rgelt, celt_fetched_out))
}

/// IEnumBackgroundCopyGroups::Skip: advances the cursor by `celt`.
///
/// Returns QMGR_S_OK when all were skipped, QMGR_S_FALSE when fewer were left;
/// QMGR_E_POINTER / QMGR_E_HANDLE for a bad e.
#[no_mangle]
pub extern "C" fn qmgr_enum_groups_skip(e: *mut qmgr_enum_groups, celt: u32) -> qmgr_hresult {
    guard("qmgr_enum_groups_skip", || skip(e, celt))
}

/// IEnumBackgroundCopyGroups::Reset: back to the first item.
///
/// Returns QMGR_S_OK; QMGR_E_POINTER / QMGR_E_HANDLE for a bad e.
#[no_mangle]
pub extern "C" fn qmgr_enum_groups_reset(e: *mut qmgr_enum_groups) -> qmgr_hresult {
    guard("qmgr_enum_groups_reset", || reset(e))
}

/// IEnumBackgroundCopyGroups::Clone: a new enumerator with the same snapshot and cursor
/// position, moving independently (set to NULL first; release it).
///
/// Returns QMGR_S_OK; QMGR_E_POINTER if e or enum_out is NULL; QMGR_E_HANDLE for a bad e.
#[no_mangle]
pub extern "C" fn qmgr_enum_groups_clone(
    e: *mut qmgr_enum_groups,
    enum_out: *mut *mut qmgr_enum_groups,
) -> qmgr_hresult {
    guard("qmgr_enum_groups_clone", || clone(e, enum_out))
}

/// IEnumBackgroundCopyGroups::GetCount: number of groups in the snapshot, whatever the
/// cursor position.
///
/// Returns QMGR_S_OK; QMGR_E_POINTER if e or count_out is NULL; QMGR_E_HANDLE for a bad e.
#[no_mangle]
pub extern "C" fn qmgr_enum_groups_get_count(e: *mut qmgr_enum_groups, count_out: *mut u32) -> qmgr_hresult {
    guard("qmgr_enum_groups_get_count", || count(e, count_out))
}

/// IUnknown::AddRef of a group enumerator. Returns the new count (0 for an invalid handle).
#[no_mangle]
pub extern "C" fn qmgr_enum_groups_add_ref(e: *mut qmgr_enum_groups) -> u32 {
    guard_value("qmgr_enum_groups_add_ref", 0, || handles::add_ref(e))
}

/// IUnknown::Release of a group enumerator. Returns the new count (0 when this was the last
/// reference, for NULL and for an invalid handle).
#[no_mangle]
pub extern "C" fn qmgr_enum_groups_release(e: *mut qmgr_enum_groups) -> u32 {
    guard_value("qmgr_enum_groups_release", 0, || handles::release(e))
}

/// IEnumBackgroundCopyJobs1::Next: as qmgr_enum_groups_next, for job GUIDs.
///
/// Returns QMGR_S_OK, QMGR_S_FALSE; QMGR_E_POINTER; QMGR_E_HANDLE (see
/// qmgr_enum_groups_next).
#[no_mangle]
pub extern "C" fn qmgr_enum_jobs_next(
    e: *mut qmgr_enum_jobs,
    celt: u32,
    rgelt: *mut qmgr_guid,
    celt_fetched_out: *mut u32,
) -> qmgr_hresult {
    guard("qmgr_enum_jobs_next", || next(e, celt, rgelt, celt_fetched_out))
}

/// IEnumBackgroundCopyJobs1::Skip: as qmgr_enum_groups_skip.
///
/// Returns QMGR_S_OK, QMGR_S_FALSE; QMGR_E_POINTER / QMGR_E_HANDLE for a bad e.
#[no_mangle]
pub extern "C" fn qmgr_enum_jobs_skip(e: *mut qmgr_enum_jobs, celt: u32) -> qmgr_hresult {
    guard("qmgr_enum_jobs_skip", || skip(e, celt))
}

/// IEnumBackgroundCopyJobs1::Reset: back to the first item.
///
/// Returns QMGR_S_OK; QMGR_E_POINTER / QMGR_E_HANDLE for a bad e.
#[no_mangle]
pub extern "C" fn qmgr_enum_jobs_reset(e: *mut qmgr_enum_jobs) -> qmgr_hresult {
    guard("qmgr_enum_jobs_reset", || reset(e))
}

/// IEnumBackgroundCopyJobs1::Clone: as qmgr_enum_groups_clone.
///
/// Returns QMGR_S_OK; QMGR_E_POINTER if e or enum_out is NULL; QMGR_E_HANDLE for a bad e.
#[no_mangle]
pub extern "C" fn qmgr_enum_jobs_clone(e: *mut qmgr_enum_jobs, enum_out: *mut *mut qmgr_enum_jobs) -> qmgr_hresult {
    guard("qmgr_enum_jobs_clone", || clone(e, enum_out))
}

/// IEnumBackgroundCopyJobs1::GetCount: number of jobs in the snapshot.
///
/// Returns QMGR_S_OK; QMGR_E_POINTER if e or count_out is NULL; QMGR_E_HANDLE for a bad e.
#[no_mangle]
pub extern "C" fn qmgr_enum_jobs_get_count(e: *mut qmgr_enum_jobs, count_out: *mut u32) -> qmgr_hresult {
    guard("qmgr_enum_jobs_get_count", || count(e, count_out))
}

/// IUnknown::AddRef of a job enumerator. Returns the new count (0 for an invalid handle).
#[no_mangle]
pub extern "C" fn qmgr_enum_jobs_add_ref(e: *mut qmgr_enum_jobs) -> u32 {
    guard_value("qmgr_enum_jobs_add_ref", 0, || handles::add_ref(e))
}

/// IUnknown::Release of a job enumerator. Returns the new count (0 when this was the last
/// reference, for NULL and for an invalid handle).
#[no_mangle]
pub extern "C" fn qmgr_enum_jobs_release(e: *mut qmgr_enum_jobs) -> u32 {
    guard_value("qmgr_enum_jobs_release", 0, || handles::release(e))
}
