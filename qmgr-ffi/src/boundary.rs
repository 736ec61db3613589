//! The panic/error boundary: every export runs its body inside [`guard`], which catches
//! panics, maps errors to HRESULTs and records the thread's last-error message (DECISIONS D8).

use qmgr_core::hresult::{Error, HResult, E_POINTER, E_UNEXPECTED};
use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};

thread_local! {
    static LAST_ERROR: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Records `message` as this thread's last error.
pub(crate) fn set_last_error(message: String) {
    LAST_ERROR.with(|e| *e.borrow_mut() = Some(message));
}

/// This thread's last error message, if any.
pub(crate) fn last_error() -> Option<String> {
    LAST_ERROR.with(|e| e.borrow().clone())
}

/// Runs `body` for the export `name`: `Ok(hr)` is returned as is (`S_OK`, `S_FALSE`), an
/// `Err` sets the last-error message and returns its HRESULT, a panic becomes
/// `QMGR_E_UNEXPECTED` with a message.
pub(crate) fn guard(name: &str, body: impl FnOnce() -> Result<HResult, Error>) -> HResult {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(hr)) => hr,
        Ok(Err(e)) => {
            let message = if e.message.starts_with(name) { e.message } else { format!("{name}: {}", e.message) };
            set_last_error(message);
            e.hr
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            set_last_error(format!("{name}: internal error: {what}"));
            E_UNEXPECTED
        }
    }
}

/// Runs `body` for an export that returns a plain value (`add_ref`, `release`): panics give
/// `fallback`.
pub(crate) fn guard_value<T>(name: &str, fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|_| {
        set_last_error(format!("{name}: internal error"));
        fallback
    })
}

/// `QMGR_E_POINTER` naming the NULL argument.
pub(crate) fn null(arg: &str) -> Error {
    Error::new(E_POINTER, format!("{arg} is NULL"))
}

/// Writes `value` to a non-NULL out-pointer (checked by the caller with [`out_ptr`]).
pub(crate) fn write_out<T>(ptr: *mut T, value: T) {
    // SAFETY: every caller obtained `ptr` from `out_ptr`, which rejected NULL; the C caller
    // promises it points to writable storage of type T (C-API.md).
    unsafe { ptr.write(value) }
}

/// Checks an out-pointer for NULL.
pub(crate) fn out_ptr<T>(ptr: *mut T, arg: &str) -> Result<*mut T, Error> {
    if ptr.is_null() {
        Err(null(arg))
    } else {
        Ok(ptr)
    }
}

/// Borrows a required pointer argument.
///
/// Errors: `QMGR_E_POINTER` naming `arg` when NULL.
pub(crate) fn arg_ref<'a, T>(ptr: *const T, arg: &str) -> Result<&'a T, Error> {
    // SAFETY: NULL is rejected; otherwise the C caller promises a valid, aligned T that lives
    // for the duration of the call (C-API.md), and we copy what we keep.
    unsafe { ptr.as_ref() }.ok_or_else(|| null(arg))
}

/// Mutably borrows an optional in/out argument (`*_clear` helpers); `None` for NULL.
pub(crate) fn arg_mut<'a, T>(ptr: *mut T) -> Option<&'a mut T> {
    // SAFETY: as arg_ref; the caller owns the pointee and passes it for the call only.
    unsafe { ptr.as_mut() }
}

/// Reads entry `i` of a C array of `len` elements (checked non-NULL by the caller).
pub(crate) fn array_item<T: Copy>(array: *const T, len: usize, i: usize) -> T {
    assert!(i < len && !array.is_null());
    // SAFETY: array is non-NULL and the caller promises `len` readable elements; i < len.
    unsafe { *array.add(i) }
}
