//! The C types and constants of `qmgr.h` (C-API.md "Types"; reference §1).
#![allow(non_camel_case_types)]

use qmgr_core::Guid;
use std::ffi::{c_char, c_void};

/// An HRESULT: `>= 0` success, `< 0` failure.
pub type qmgr_hresult = i32;

/// A GUID in the Windows layout (16 bytes): `{ data1, data2, data3, data4[8] }`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct qmgr_guid {
    /// First 32 bits.
    pub data1: u32,
    /// Next 16 bits.
    pub data2: u16,
    /// Next 16 bits.
    pub data3: u16,
    /// Last 64 bits.
    pub data4: [u8; 8],
}

impl From<qmgr_guid> for Guid {
    fn from(g: qmgr_guid) -> Guid {
        Guid { data1: g.data1, data2: g.data2, data3: g.data3, data4: g.data4 }
    }
}

impl From<Guid> for qmgr_guid {
    fn from(g: Guid) -> qmgr_guid {
        qmgr_guid { data1: g.data1, data2: g.data2, data3: g.data3, data4: g.data4 }
    }
}

/// An IBackgroundCopyQMgr (opaque handle; see qmgr_create_instance).
pub struct qmgr_manager {
    _opaque: (),
}
/// An IBackgroundCopyGroup (opaque handle).
pub struct qmgr_group {
    _opaque: (),
}
/// An IBackgroundCopyJob1 (opaque handle).
pub struct qmgr_job {
    _opaque: (),
}
/// An IEnumBackgroundCopyGroups (opaque handle).
pub struct qmgr_enum_groups {
    _opaque: (),
}
/// An IEnumBackgroundCopyJobs1 (opaque handle).
pub struct qmgr_enum_jobs {
    _opaque: (),
}

/// Group property identifiers (values as on Windows). Functions take them as uint32_t; an
/// unknown value gets QMGR_E_INVALIDARG.
#[repr(u32)]
#[derive(Clone, Copy, Debug)]
pub enum GROUPPROP {
    /// Integer 0 (high), 1 (normal, default), 2 (low).
    GROUPPROP_PRIORITY = 0,
    /// String: HTTP user name.
    GROUPPROP_REMOTEUSERID = 1,
    /// String: HTTP password (write-only: GetProp returns "").
    GROUPPROP_REMOTEUSERPWD = 2,
    /// Not implemented (QMGR_E_NOTIMPL).
    GROUPPROP_LOCALUSERID = 3,
    /// Not implemented (QMGR_E_NOTIMPL).
    GROUPPROP_LOCALUSERPWD = 4,
    /// Integer QM_PROTOCOL_*.
    GROUPPROP_PROTOCOLFLAGS = 5,
    /// Unsigned QM_NOTIFY_* bits.
    GROUPPROP_NOTIFYFLAGS = 6,
    /// String: "" or a GUID string, stored verbatim.
    GROUPPROP_NOTIFYCLSID = 7,
    /// Integer: OnProgress every N bytes (0 = off).
    GROUPPROP_PROGRESSSIZE = 8,
    /// Integer: OnProgress every N percent, 0-100 (0 = off).
    GROUPPROP_PROGRESSPERCENT = 9,
    /// Integer: OnProgress every N milliseconds (0 = off).
    GROUPPROP_PROGRESSTIME = 10,
    /// String: at most 256 characters.
    GROUPPROP_DISPLAYNAME = 11,
    /// String: at most 1024 characters.
    GROUPPROP_DESCRIPTION = 12,
}

/// The VARIANT subset GetProp/SetProp use. `vt` is one of the QMGR_VT_* values; `int_val`
/// holds every integer type, `str_val` a QMGR_VT_BSTR string (library-allocated on output:
/// free with qmgr_variant_clear; on input a NULL str_val means "").
#[repr(C)]
#[derive(Debug)]
pub struct qmgr_variant {
    /// QMGR_VT_EMPTY, _I2, _I4, _BSTR, _UI2, _UI4, _INT or _UINT.
    pub vt: u16,
    /// The value for every integer vt.
    pub int_val: i64,
    /// The value for QMGR_VT_BSTR (UTF-8).
    pub str_val: *mut c_char,
}

/// FILESETINFO: one file of a job.
#[repr(C)]
#[derive(Debug)]
pub struct qmgr_fileset_info {
    /// Source URL (ASCII, at most 2200 characters).
    pub remote_file: *mut c_char,
    /// Absolute destination path (at most 4096 bytes; its directory must exist).
    pub local_file: *mut c_char,
    /// Expected size in bytes, 0 = unknown (used until the server reports the size).
    pub size_hint: u32,
}

/// OnStatus: see qmgr_callback1.
pub type qmgr_on_status_fn = Option<
    unsafe extern "C" fn(
        context: *mut c_void,
        group: *mut qmgr_group,
        job: *mut qmgr_job,
        file_index: u32,
        status: u32,
        num_of_retries: u32,
        win32_result: u32,
        transport_result: u32,
    ) -> qmgr_hresult,
>;
/// OnProgress: see qmgr_callback1.
pub type qmgr_on_progress_fn = Option<
    unsafe extern "C" fn(
        context: *mut c_void,
        progress_type: u32,
        group: *mut qmgr_group,
        job: *mut qmgr_job,
        file_index: u32,
        progress_value: u32,
    ) -> qmgr_hresult,
>;
/// OnProgressEx: see qmgr_callback1.
pub type qmgr_on_progress_ex_fn = Option<
    unsafe extern "C" fn(
        context: *mut c_void,
        progress_type: u32,
        group: *mut qmgr_group,
        job: *mut qmgr_job,
        file_index: u32,
        progress_value: u32,
        byte_array_size: u32,
        bytes: *const u8,
    ) -> qmgr_hresult,
>;
/// Called once when the library drops the callback.
pub type qmgr_release_fn = Option<unsafe extern "C" fn(context: *mut c_void)>;

/// IBackgroundCopyCallback1: the notification sink of a group, registered with
/// qmgr_group_set_notification_pointer (the struct is copied).
///
/// Any function pointer may be NULL: that event is then not delivered. `file_index` is
/// 0xFFFFFFFF when the event concerns no single file; `job` is NULL when it concerns no job.
/// The group and job handles are borrowed for the call (add_ref them to keep them). on_status
/// returning anything but QMGR_S_OK is delivered again later (1 s doubling to 10 min) while
/// the state it describes still holds. `release` (may be NULL) runs exactly once: when the
/// callback is replaced or cleared, its group cancelled, or at the latest before the
/// manager's last release returns.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct qmgr_callback1 {
    /// Passed back as the first argument of every function.
    pub context: *mut c_void,
    /// OnStatus(context, group, job, file_index, status, num_of_retries, win32_result,
    /// transport_result): an error (by default) or a completion (QM_NOTIFY_* flags).
    pub on_status: qmgr_on_status_fn,
    /// OnProgress(context, progress_type, group, job, file_index, progress_value).
    pub on_progress: qmgr_on_progress_fn,
    /// OnProgressEx(context, progress_type, group, job, file_index, progress_value,
    /// byte_array_size, bytes): with QM_NOTIFY_USE_PROGRESSEX; bytes is the 28-byte
    /// little-endian record of DECISIONS D9.
    pub on_progress_ex: qmgr_on_progress_ex_fn,
    /// Called once when the library drops the callback; may be NULL.
    pub release: qmgr_release_fn,
}

/// Success.
pub const QMGR_S_OK: qmgr_hresult = 0 as qmgr_hresult;
/// Success, with fewer items than requested (enumerators) or a time-out (wait).
pub const QMGR_S_FALSE: qmgr_hresult = 1 as qmgr_hresult;
/// 0x80004001: not implemented.
pub const QMGR_E_NOTIMPL: qmgr_hresult = -2147467263 as qmgr_hresult;
/// 0x80004002: interface not supported.
pub const QMGR_E_NOINTERFACE: qmgr_hresult = -2147467262 as qmgr_hresult;
/// 0x80004003: a required pointer was NULL.
pub const QMGR_E_POINTER: qmgr_hresult = -2147467261 as qmgr_hresult;
/// 0x80004004: aborted.
pub const QMGR_E_ABORT: qmgr_hresult = -2147467260 as qmgr_hresult;
/// 0x80004005: unspecified failure.
pub const QMGR_E_FAIL: qmgr_hresult = -2147467259 as qmgr_hresult;
/// 0x8000FFFF: internal failure (e.g. a caught panic).
pub const QMGR_E_UNEXPECTED: qmgr_hresult = -2147418113 as qmgr_hresult;
/// 0x80070005: access denied.
pub const QMGR_E_ACCESSDENIED: qmgr_hresult = -2147024891 as qmgr_hresult;
/// 0x80070006: a released, foreign or wrong-type handle.
pub const QMGR_E_HANDLE: qmgr_hresult = -2147024890 as qmgr_hresult;
/// 0x8007000E: out of memory.
pub const QMGR_E_OUTOFMEMORY: qmgr_hresult = -2147024882 as qmgr_hresult;
/// 0x80070057: an argument is invalid.
pub const QMGR_E_INVALIDARG: qmgr_hresult = -2147024809 as qmgr_hresult;
/// 0x81001001: not allowed in the current state (DECISIONS D3).
pub const QM_E_INVALID_STATE: qmgr_hresult = -2130702335 as qmgr_hresult;
/// 0x81001002: the queue cannot be used (database unavailable).
pub const QM_E_SERVICE_UNAVAILABLE: qmgr_hresult = -2130702334 as qmgr_hresult;
/// 0x81001003: no downloader for the protocol (FTP).
pub const QM_E_DOWNLOADER_UNAVAILABLE: qmgr_hresult = -2130702333 as qmgr_hresult;
/// 0x81001004: no such group, job or file.
pub const QM_E_ITEM_NOT_FOUND: qmgr_hresult = -2130702332 as qmgr_hresult;
/// 0x80200003: ResumeGroup with no files to download.
pub const BG_E_EMPTY: qmgr_hresult = -2145386493 as qmgr_hresult;
/// 0x80200010: the network is disconnected.
pub const BG_E_NETWORK_DISCONNECTED: qmgr_hresult = -2145386480 as qmgr_hresult;
/// 0x8020001B: the server returned an invalid response.
pub const BG_E_INVALID_SERVER_RESPONSE: qmgr_hresult = -2145386469 as qmgr_hresult;
/// 0x80200024: no progress within the no-progress timeout.
pub const BG_E_NO_PROGRESS: qmgr_hresult = -2145386460 as qmgr_hresult;
/// 0x8020002D: the connection could not be established.
pub const BG_E_CONNECT_FAILURE: qmgr_hresult = -2145386451 as qmgr_hresult;
/// 0x8020002E: the connection was closed early.
pub const BG_E_CONNECTION_CLOSED: qmgr_hresult = -2145386450 as qmgr_hresult;
/// 0x80200073: the remote file changed during the transfer.
pub const BG_E_REMOTE_FILE_CHANGED: qmgr_hresult = -2145386381 as qmgr_hresult;
/// 0x80096010 (Windows' TRUST_E_BAD_DIGEST): a file's bytes do not match its checksum
/// (qmgr_job_set_file_checksum) or the server's Repr-Digest / Content-Digest. It is the
/// dwWin32Result (as uint32_t) of that fatal job error (DECISIONS D15).
pub const QMGR_E_BAD_DIGEST: qmgr_hresult = -2146869232 as qmgr_hresult;

/// Base of BG_E_HTTP_ERROR_nnn = 0x80190000 | nnn, the dwWin32Result of an HTTP status
/// failure (e.g. 404 -> 0x80190194).
pub const BG_E_HTTP_ERROR_BASE: u32 = 0x8019_0000;

/// QM_NOTIFY_FILE_DONE: OnStatus for each finished file.
pub const QM_NOTIFY_FILE_DONE: u32 = 0x01;
/// QM_NOTIFY_JOB_DONE: OnStatus for each finished job.
pub const QM_NOTIFY_JOB_DONE: u32 = 0x02;
/// QM_NOTIFY_GROUP_DONE: OnStatus when the group is complete.
pub const QM_NOTIFY_GROUP_DONE: u32 = 0x04;
/// QM_NOTIFY_DISABLE_NOTIFY: no notification at all.
pub const QM_NOTIFY_DISABLE_NOTIFY: u32 = 0x40;
/// QM_NOTIFY_USE_PROGRESSEX: OnProgressEx instead of OnProgress.
pub const QM_NOTIFY_USE_PROGRESSEX: u32 = 0x80;

/// A file is complete.
pub const QM_STATUS_FILE_COMPLETE: u32 = 0x001;
/// A file is incomplete.
pub const QM_STATUS_FILE_INCOMPLETE: u32 = 0x002;
/// A job is complete.
pub const QM_STATUS_JOB_COMPLETE: u32 = 0x004;
/// A job is incomplete.
pub const QM_STATUS_JOB_INCOMPLETE: u32 = 0x008;
/// A job stopped on a fatal error.
pub const QM_STATUS_JOB_ERROR: u32 = 0x010;
/// A job was switched to the foreground.
pub const QM_STATUS_JOB_FOREGROUND: u32 = 0x020;
/// The group is complete.
pub const QM_STATUS_GROUP_COMPLETE: u32 = 0x040;
/// The group is incomplete.
pub const QM_STATUS_GROUP_INCOMPLETE: u32 = 0x080;
/// The group is not running (new, paused, error or complete).
pub const QM_STATUS_GROUP_SUSPENDED: u32 = 0x100;
/// The group stopped on a fatal error.
pub const QM_STATUS_GROUP_ERROR: u32 = 0x200;
/// The group transfers in the foreground.
pub const QM_STATUS_GROUP_FOREGROUND: u32 = 0x400;

/// http:// and https:// URLs (default).
pub const QM_PROTOCOL_HTTP: u32 = 1;
/// ftp:// (QM_E_DOWNLOADER_UNAVAILABLE).
pub const QM_PROTOCOL_FTP: u32 = 2;
/// file:// URLs (mounted share or local path).
pub const QM_PROTOCOL_SMB: u32 = 3;
/// Pluggable transport (QMGR_E_NOTIMPL).
pub const QM_PROTOCOL_CUSTOM: u32 = 4;

/// Percent complete, 0-100.
pub const QM_PROGRESS_PERCENT_DONE: u32 = 1;
/// Milliseconds of active transfer time.
pub const QM_PROGRESS_TIME_DONE: u32 = 2;
/// Bytes transferred (saturating at 0xFFFFFFFF).
pub const QM_PROGRESS_SIZE_DONE: u32 = 3;

/// qmgr_variant.vt: no value.
pub const QMGR_VT_EMPTY: u16 = 0;
/// qmgr_variant.vt: int16_t.
pub const QMGR_VT_I2: u16 = 2;
/// qmgr_variant.vt: int32_t.
pub const QMGR_VT_I4: u16 = 3;
/// qmgr_variant.vt: UTF-8 string in str_val.
pub const QMGR_VT_BSTR: u16 = 8;
/// qmgr_variant.vt: uint16_t.
pub const QMGR_VT_UI2: u16 = 18;
/// qmgr_variant.vt: uint32_t.
pub const QMGR_VT_UI4: u16 = 19;
/// qmgr_variant.vt: int.
pub const QMGR_VT_INT: u16 = 22;
/// qmgr_variant.vt: unsigned int.
pub const QMGR_VT_UINT: u16 = 23;

const fn guid(data1: u32, data2: u16, data3: u16, data4: [u8; 8]) -> qmgr_guid {
    qmgr_guid { data1, data2, data3, data4 }
}

/// {16f41c69-09f5-41d2-8cd8-3c08c47bc8a8}
#[no_mangle]
pub static IID_IBackgroundCopyQMgr: qmgr_guid =
    guid(0x16f41c69, 0x09f5, 0x41d2, [0x8c, 0xd8, 0x3c, 0x08, 0xc4, 0x7b, 0xc8, 0xa8]);
/// {1ded80a7-53ea-424f-8a04-17fea9adc4f5}
#[no_mangle]
pub static IID_IBackgroundCopyGroup: qmgr_guid =
    guid(0x1ded80a7, 0x53ea, 0x424f, [0x8a, 0x04, 0x17, 0xfe, 0xa9, 0xad, 0xc4, 0xf5]);
/// {59f5553c-2031-4629-bb18-2645a6970947}
#[no_mangle]
pub static IID_IBackgroundCopyJob1: qmgr_guid =
    guid(0x59f5553c, 0x2031, 0x4629, [0xbb, 0x18, 0x26, 0x45, 0xa6, 0x97, 0x09, 0x47]);
/// {d993e603-4aa4-47c5-8665-c20d39c2ba4f}
#[no_mangle]
pub static IID_IEnumBackgroundCopyGroups: qmgr_guid =
    guid(0xd993e603, 0x4aa4, 0x47c5, [0x86, 0x65, 0xc2, 0x0d, 0x39, 0xc2, 0xba, 0x4f]);
/// {8baeba9d-8f1c-42c4-b82c-09ae79980d25}
#[no_mangle]
pub static IID_IEnumBackgroundCopyJobs1: qmgr_guid =
    guid(0x8baeba9d, 0x8f1c, 0x42c4, [0xb8, 0x2c, 0x09, 0xae, 0x79, 0x98, 0x0d, 0x25]);
/// {084f6593-3800-4e08-9b59-99fa59addf82}
#[no_mangle]
pub static IID_IBackgroundCopyCallback1: qmgr_guid =
    guid(0x084f6593, 0x3800, 0x4e08, [0x9b, 0x59, 0x99, 0xfa, 0x59, 0xad, 0xdf, 0x82]);
/// {69AD4AEE-51BE-439b-A92C-86AE490E8B30}
#[no_mangle]
pub static CLSID_BackgroundCopyQMgr: qmgr_guid =
    guid(0x69ad4aee, 0x51be, 0x439b, [0xa9, 0x2c, 0x86, 0xae, 0x49, 0x0e, 0x8b, 0x30]);
