//! Memory, GUID, error and version helpers.

use crate::boundary::{arg_mut, arg_ref, guard, guard_keeping_last_error, guard_value, last_error, Done, Out};
use crate::strings::{arg_str, free_c, to_c};
use crate::types::*;
use qmgr_core::hresult::{describe, Error, E_INVALIDARG, S_FALSE};
use qmgr_core::Guid;
use std::ffi::c_char;

/// Frees a string returned by the library. NULL is a no-op.
#[no_mangle]
pub extern "C" fn qmgr_string_free(text: *mut c_char) {
    guard_value("qmgr_string_free", (), || free_c(text))
}

/// Frees `value->str_val` (when vt is QMGR_VT_BSTR) and sets vt to QMGR_VT_EMPTY,
/// int_val to 0 and str_val to NULL. NULL is a no-op.
#[no_mangle]
pub extern "C" fn qmgr_variant_clear(value: *mut qmgr_variant) {
    guard_value("qmgr_variant_clear", (), || {
        // The caller promises that str_val (for QMGR_VT_BSTR) was allocated by this library.
        let Some(v) = arg_mut(value) else { return };
        if v.vt == QMGR_VT_BSTR {
            free_c(v.str_val);
        }
        *v = qmgr_variant { vt: QMGR_VT_EMPTY, int_val: 0, str_val: std::ptr::null_mut() };
    })
}

/// Frees both strings of `info` (allocated by qmgr_job_get_file) and zeroes the struct.
/// NULL is a no-op.
#[no_mangle]
pub extern "C" fn qmgr_fileset_info_clear(info: *mut qmgr_fileset_info) {
    guard_value("qmgr_fileset_info_clear", (), || {
        // The caller promises that both strings were allocated by this library (or are NULL).
        let Some(i) = arg_mut(info) else { return };
        free_c(i.remote_file);
        free_c(i.local_file);
        *i = qmgr_fileset_info { remote_file: std::ptr::null_mut(), local_file: std::ptr::null_mut(), size_hint: 0 };
    })
}

/// A random (version 4) GUID in `*guid_out`.
///
/// Returns QMGR_S_OK; QMGR_E_POINTER if guid_out is NULL.
#[no_mangle]
pub extern "C" fn qmgr_guid_generate(guid_out: *mut qmgr_guid) -> qmgr_hresult {
    guard("qmgr_guid_generate", || {
        let out = Out::new(guid_out, "guid_out")?;
        Ok(Done::ok(out.set(Guid::generate().into())))
    })
}

/// Formats a GUID as "{xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}" (lower case) in `*text_out`
/// (free with qmgr_string_free).
///
/// Returns QMGR_S_OK; QMGR_E_POINTER if an argument is NULL.
#[no_mangle]
pub extern "C" fn qmgr_guid_to_string(guid: *const qmgr_guid, text_out: *mut *mut c_char) -> qmgr_hresult {
    guard("qmgr_guid_to_string", || {
        let g: Guid = (*arg_ref(guid, "guid")?).into();
        let out = Out::new(text_out, "text_out")?;
        Ok(Done::ok(out.set(to_c(&g.to_string()))))
    })
}

/// Parses "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", braces optional, any case.
///
/// Returns QMGR_S_OK; QMGR_E_POINTER if an argument is NULL; QMGR_E_INVALIDARG if the text
/// is not a GUID.
#[no_mangle]
pub extern "C" fn qmgr_guid_from_string(text: *const c_char, guid_out: *mut qmgr_guid) -> qmgr_hresult {
    guard("qmgr_guid_from_string", || {
        let text = arg_str(text, "text")?;
        let out = Out::new(guid_out, "guid_out")?;
        Ok(Done::ok(out.set(Guid::parse(text)?.into())))
    })
}

/// A description of any HRESULT the library returns (BITS GetErrorDescription counterpart),
/// including BG_E_HTTP_ERROR_nnn and HRESULT_FROM_WIN32 codes, in `*text_out` (free with
/// qmgr_string_free).
///
/// Returns QMGR_S_OK; QMGR_E_POINTER if text_out is NULL; QMGR_E_INVALIDARG for a code the
/// library never returns.
#[no_mangle]
pub extern "C" fn qmgr_get_error_description(hr: qmgr_hresult, text_out: *mut *mut c_char) -> qmgr_hresult {
    guard("qmgr_get_error_description", || {
        let out = Out::new(text_out, "text_out")?;
        let text = describe(hr).ok_or_else(|| {
            Error::new(E_INVALIDARG, format!("hr 0x{:08X} is not a code this library returns", hr as u32))
        })?;
        Ok(Done::ok(out.set(to_c(&text))))
    })
}

/// What went wrong in this thread's last failed call, in `*message_out` (free with
/// qmgr_string_free). A successful call neither clears nor changes it; reading it does not
/// consume it.
///
/// Returns QMGR_S_OK; QMGR_S_FALSE (and NULL) if no call of this thread has failed;
/// QMGR_E_POINTER if message_out is NULL.
#[no_mangle]
pub extern "C" fn qmgr_get_last_error_message(message_out: *mut *mut c_char) -> qmgr_hresult {
    // Not through `guard`: a failure here must not overwrite the message being read.
    guard_keeping_last_error(|| {
        let out = Out::new(message_out, "message_out")?;
        Ok(match guard_value("qmgr_get_last_error_message", None, last_error) {
            Some(m) => Done::ok(out.set(to_c(&m))),
            None => Done::new(S_FALSE, out.set(std::ptr::null_mut())),
        })
    })
}

/// The library's version, e.g. "0.1.0" (the Cargo package version). The string is static:
/// do not free it.
#[no_mangle]
pub extern "C" fn qmgr_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}
