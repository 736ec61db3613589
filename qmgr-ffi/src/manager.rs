//! `IBackgroundCopyQMgr`: the entry point and the queue options.

use crate::boundary::{guard, guard_value, Done, HandleOut, Out};
use crate::handles;
use crate::strings::{arg_str, to_c};
use crate::types::*;
use qmgr_core::hresult::{Error, S_OK};
use std::ffi::{c_char, CStr};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Once};

/// CoCreateInstance(CLSID_BackgroundCopyQMgr) counterpart: opens the queue in `queue_dir`
/// (NULL = the default queue: $QMGR_HOME, else $XDG_STATE_HOME/qmgr, else
/// ~/.local/state/qmgr; DECISIONS D6), creating the directory (mode 0700) and queue.sqlite
/// (0600) if needed. Groups that were running continue by themselves.
///
/// Opening the same directory again in this process returns another reference to the same
/// manager. `*manager_out` receives a new reference (release it with
/// qmgr_manager_release); it is set to NULL first.
///
/// Work queued through the manager finishes after this process exits: when a call leaves
/// transferable work and no background runner serves the queue, the library starts one
/// ($QMGR_BIN, else the qmgr installed beside this library in ../bin, else qmgr on PATH;
/// option autostart 0 or QMGR_AUTOSTART=0 turn that off; DECISIONS D13).
///
/// Returns QMGR_S_OK; QMGR_E_POINTER if manager_out is NULL; QMGR_E_INVALIDARG if queue_dir
/// is empty or not UTF-8; QM_E_SERVICE_UNAVAILABLE if the directory or database cannot be
/// created or opened (the message says why).
#[no_mangle]
pub extern "C" fn qmgr_create_instance(queue_dir: *const c_char, manager_out: *mut *mut qmgr_manager) -> qmgr_hresult {
    guard("qmgr_create_instance", || {
        let out = HandleOut::<qmgr_manager>::new(manager_out, "manager_out")?;
        static BESIDE: Once = Once::new();
        BESIDE.call_once(|| qmgr_beside_library().map(qmgr_rs::runner::set_runner_binary).unwrap_or_default());
        let dir = if queue_dir.is_null() { None } else { Some(arg_str(queue_dir, "queue_dir")?) };
        if dir == Some("") {
            return Err(Error::invalid_arg("queue_dir is empty"));
        }
        let manager = qmgr_rs::open(dir.map(Path::new))?;
        Ok(Done::ok(out.set(manager)))
    })
}

/// The `qmgr` installed beside this library (DECISIONS D13): `<directory of libqmgr.so>/../bin/
/// qmgr`, the library found with `dladdr` on one of its own functions (for a static link, the
/// program's own directory stands for it) — or, when there is none, the `qmgr` in the
/// library's own directory: in a cargo build tree `qmgr` and `libqmgr.so` share
/// `target/<profile>/`, and the Python package ships `qmgr/libqmgr.so.0` beside `qmgr/qmgr`
/// (python/setup.py). `None` when the dynamic linker cannot say.
fn qmgr_beside_library() -> Option<PathBuf> {
    // SAFETY: Dl_info is plain old data (pointers and integers): all zeros is a valid value.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    let own = qmgr_create_instance as *const libc::c_void;
    // SAFETY: dladdr only reads `own` (an address inside this loaded object) and writes the
    // Dl_info it is given, which lives on this stack frame.
    if unsafe { libc::dladdr(own, &mut info) } == 0 || info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: dli_fname is non-NULL and points to the NUL-terminated path of the loaded object,
    // owned by the dynamic linker and valid while the object is loaded (it is: this code runs
    // from it); it is copied at once.
    let name = unsafe { CStr::from_ptr(info.dli_fname) };
    let lib = PathBuf::from(std::ffi::OsStr::from_bytes(name.to_bytes())).canonicalize().ok()?;
    let dir = lib.parent()?;
    let installed = dir.parent()?.join("bin").join("qmgr");
    let build_tree = dir.join("qmgr");
    Some(if !installed.is_file() && build_tree.is_file() { build_tree } else { installed })
}

/// Sets a queue-wide option, persisted in the queue and shared by every process that opens
/// it. `name`: max_active_groups (>= 1, default 4), min_retry_delay_ms (>= 100, default
/// 5000), no_progress_timeout_ms (default 1209600000; 0 = every error fatal),
/// background_rate_limit (bytes/s over all background groups, 0 = unlimited),
/// connect_timeout_ms (>= 100, default 30000), read_timeout_ms (>= 100, default 60000),
/// user_agent (string), proxy (URL; "" = none; unset = from the environment), ca_file (path of
/// a readable PEM file with extra root certificates), allow_credentials_over_http (0/1),
/// autostart (0/1, default 1: start a background runner when work is queued; DECISIONS D13),
/// background_mode ("idle", default: background groups use only bandwidth nobody else uses,
/// or "normal": they compete like any download; DECISIONS D14), max_connections_per_group
/// (>= 1, default 6: files of a group's current job fetched at once, each over its own
/// connection, committed and notified in job order; 1 = one at a time; DECISIONS D16).
/// Integer values are plain decimal digits; string values must not hold control characters.
///
/// Returns QMGR_S_OK; QMGR_E_POINTER for a NULL argument; QMGR_E_HANDLE for a bad manager;
/// QMGR_E_INVALIDARG for an unknown name or a bad value (DECISIONS D11, D12);
/// QM_E_SERVICE_UNAVAILABLE if it cannot be persisted.
#[no_mangle]
pub extern "C" fn qmgr_manager_set_option(
    manager: *mut qmgr_manager,
    name: *const c_char,
    value: *const c_char,
) -> qmgr_hresult {
    guard("qmgr_manager_set_option", || {
        let m = handles::get(manager, "manager")?;
        let name = arg_str(name, "name")?;
        let value = arg_str(value, "value")?;
        m.set_option(name, value)?;
        Ok(S_OK)
    })
}

/// Reads a queue option (see qmgr_manager_set_option) as text; an unset string option reads
/// as "". `*value_out` receives a string to free with qmgr_string_free.
///
/// Returns QMGR_S_OK; QMGR_E_POINTER for a NULL argument; QMGR_E_HANDLE for a bad manager;
/// QMGR_E_INVALIDARG for an unknown name.
#[no_mangle]
pub extern "C" fn qmgr_manager_get_option(
    manager: *mut qmgr_manager,
    name: *const c_char,
    value_out: *mut *mut c_char,
) -> qmgr_hresult {
    guard("qmgr_manager_get_option", || {
        let m = handles::get(manager, "manager")?;
        let out = Out::new(value_out, "value_out")?;
        let name = arg_str(name, "name")?;
        let v = m.get_option(name)?;
        Ok(Done::ok(out.set(to_c(&v))))
    })
}

/// IUnknown::AddRef of a manager. Returns the new count (0 for an invalid handle).
#[no_mangle]
pub extern "C" fn qmgr_manager_add_ref(manager: *mut qmgr_manager) -> u32 {
    guard_value("qmgr_manager_add_ref", 0, || handles::add_ref(manager))
}

/// IUnknown::Release of a manager. Returns the new count (0 when this reference was the
/// last, for NULL, and for an invalid handle). Releasing the last reference of the manager
/// (group and job handles hold one too) stops its threads after in-flight transfers are
/// checkpointed, and releases every registered callback before returning.
///
/// When that last release returns, no thread the library started for the manager is left:
/// scheduler, notifier, transfer, commit and network helper threads have all ended (a
/// helper blocked reading a silent server is interrupted by shutting its connection down),
/// so once every manager is released the library may be unloaded with `dlclose`. A helper
/// still resolving a host name or opening a TCP connection delays the return by up to the
/// resolver's limits or the option `connect_timeout_ms`. Released from a callback, the
/// notifier thread running it ends just after the callback returns.
#[no_mangle]
pub extern "C" fn qmgr_manager_release(manager: *mut qmgr_manager) -> u32 {
    guard_value("qmgr_manager_release", 0, || handles::release(manager))
}

/// IBackgroundCopyQMgr::CreateGroup: creates a SUSPENDED group with default properties,
/// persisted at once. `*group_out` receives a new reference (set to NULL first).
///
/// Returns QMGR_S_OK; QMGR_E_POINTER if group_out is NULL; QMGR_E_HANDLE for a bad manager;
/// QMGR_E_INVALIDARG if group_id is all zeros or names a group already in the queue;
/// QM_E_SERVICE_UNAVAILABLE if it cannot be persisted.
#[no_mangle]
pub extern "C" fn qmgr_manager_create_group(
    manager: *mut qmgr_manager,
    group_id: qmgr_guid,
    group_out: *mut *mut qmgr_group,
) -> qmgr_hresult {
    guard("qmgr_manager_create_group", || {
        let out = HandleOut::<qmgr_group>::new(group_out, "group_out")?;
        let m = handles::get(manager, "manager")?;
        let g = m.create_group(group_id.into())?;
        Ok(Done::ok(out.set(g)))
    })
}

/// IBackgroundCopyQMgr::GetGroup: a new reference to a group of the queue (set to NULL
/// first).
///
/// Returns QMGR_S_OK; QMGR_E_POINTER if group_out is NULL; QMGR_E_HANDLE for a bad manager;
/// QM_E_ITEM_NOT_FOUND if no live group has that GUID.
#[no_mangle]
pub extern "C" fn qmgr_manager_get_group(
    manager: *mut qmgr_manager,
    group_id: qmgr_guid,
    group_out: *mut *mut qmgr_group,
) -> qmgr_hresult {
    guard("qmgr_manager_get_group", || {
        let out = HandleOut::<qmgr_group>::new(group_out, "group_out")?;
        let m = handles::get(manager, "manager")?;
        let g = m.get_group(group_id.into())?;
        Ok(Done::ok(out.set(g)))
    })
}

/// IBackgroundCopyQMgr::EnumGroups: an enumerator over a snapshot of the queue's groups, in
/// creation order (set to NULL first; release it with qmgr_enum_groups_release).
///
/// Returns QMGR_S_OK; QMGR_E_POINTER if enum_out is NULL; QMGR_E_HANDLE for a bad manager;
/// QMGR_E_NOTIMPL if flags is not 0.
#[no_mangle]
pub extern "C" fn qmgr_manager_enum_groups(
    manager: *mut qmgr_manager,
    flags: u32,
    enum_out: *mut *mut qmgr_enum_groups,
) -> qmgr_hresult {
    guard("qmgr_manager_enum_groups", || {
        let out = HandleOut::<qmgr_enum_groups>::new(enum_out, "enum_out")?;
        let m = handles::get(manager, "manager")?;
        let e = m.enum_groups(flags)?;
        Ok(Done::ok(out.set(Arc::new(std::sync::Mutex::new(e)))))
    })
}
