//! Strings across the boundary: NUL-terminated UTF-8 in, library-allocated copies out
//! (DECISIONS D2).

use crate::boundary::null;
use qmgr_core::hresult::{Error, E_INVALIDARG};
use std::ffi::{c_char, CStr, CString};

/// Borrows a C string argument as UTF-8.
///
/// Errors: `QMGR_E_POINTER` when NULL; `QMGR_E_INVALIDARG` when not valid UTF-8 (the
/// message names `arg`).
pub(crate) fn arg_str<'a>(ptr: *const c_char, arg: &str) -> Result<&'a str, Error> {
    if ptr.is_null() {
        return Err(null(arg));
    }
    // SAFETY: non-NULL, and the C caller promises a NUL-terminated string that lives for
    // the duration of the call (C-API.md); we copy before returning to C.
    let c = unsafe { CStr::from_ptr(ptr) };
    c.to_str().map_err(|e| {
        Error::new(E_INVALIDARG, format!("{arg} is not valid UTF-8 (invalid byte at offset {})", e.valid_up_to()))
    })
}

/// A library-allocated copy of `s`, to be freed with `qmgr_string_free`. Interior NULs
/// (which a C string cannot hold) are cut off.
pub(crate) fn to_c(s: &str) -> *mut c_char {
    let bytes = s.split('\0').next().unwrap_or_default();
    CString::new(bytes).expect("no interior NUL").into_raw()
}

/// Frees a string made by [`to_c`]; NULL is a no-op.
pub(crate) fn free_c(ptr: *mut c_char) {
    if !ptr.is_null() {
        // SAFETY: the C-API contract says only strings returned by this library are passed
        // here, and each one once; they were made by CString::into_raw.
        drop(unsafe { CString::from_raw(ptr) });
    }
}
