//! # qmgr-ffi — the C ABI of qmgr
//!
//! `libqmgr.so` (soname `libqmgr.so.0`) and `libqmgr.a`, with the functions of
//! `C-API.md`, declared in `include/qmgr.h` (generated from this crate by cbindgen).
//!
//! This layer is thin: it checks and converts arguments, calls `qmgr-core`, maps errors to
//! HRESULTs and manages handles. No rule of the queue lives here. Structure (after
//! rustls-ffi): one module per C object (`manager`, `group`, `job`, `enums`, `callback`),
//! plus `boundary` (panics, errors, last-error message, and the out-parameter types that
//! make "outputs only on success" structural: DECISIONS D8), `handles` (the live-handle
//! table, the only place handles become objects) and `strings`. See README.md.
#![deny(unsafe_op_in_unsafe_fn)]

mod boundary;
mod callback;
mod enums;
mod group;
mod handles;
mod job;
mod manager;
mod misc;
mod strings;
pub mod types;

pub use enums::*;
pub use group::*;
pub use job::*;
pub use manager::*;
pub use misc::*;
pub use types::*;

#[cfg(test)]
mod tests {
    use super::types::*;
    use qmgr_core::hresult as h;

    #[test]
    fn header_constants_equal_core_values() {
        let pairs = [
            (QMGR_E_NOTIMPL, h::E_NOTIMPL),
            (QMGR_E_NOINTERFACE, h::E_NOINTERFACE),
            (QMGR_E_POINTER, h::E_POINTER),
            (QMGR_E_ABORT, h::E_ABORT),
            (QMGR_E_FAIL, h::E_FAIL),
            (QMGR_E_UNEXPECTED, h::E_UNEXPECTED),
            (QMGR_E_ACCESSDENIED, h::E_ACCESSDENIED),
            (QMGR_E_HANDLE, h::E_HANDLE),
            (QMGR_E_OUTOFMEMORY, h::E_OUTOFMEMORY),
            (QMGR_E_INVALIDARG, h::E_INVALIDARG),
            (QM_E_INVALID_STATE, h::QM_E_INVALID_STATE),
            (QM_E_SERVICE_UNAVAILABLE, h::QM_E_SERVICE_UNAVAILABLE),
            (QM_E_DOWNLOADER_UNAVAILABLE, h::QM_E_DOWNLOADER_UNAVAILABLE),
            (QM_E_ITEM_NOT_FOUND, h::QM_E_ITEM_NOT_FOUND),
            (BG_E_EMPTY, h::BG_E_EMPTY),
            (BG_E_NETWORK_DISCONNECTED, h::BG_E_NETWORK_DISCONNECTED),
            (BG_E_INVALID_SERVER_RESPONSE, h::BG_E_INVALID_SERVER_RESPONSE),
            (BG_E_NO_PROGRESS, h::BG_E_NO_PROGRESS),
            (BG_E_CONNECT_FAILURE, h::BG_E_CONNECT_FAILURE),
            (BG_E_CONNECTION_CLOSED, h::BG_E_CONNECTION_CLOSED),
            (BG_E_REMOTE_FILE_CHANGED, h::BG_E_REMOTE_FILE_CHANGED),
            (QMGR_E_BAD_DIGEST, h::QMGR_E_BAD_DIGEST),
        ];
        for (c, core) in pairs {
            assert_eq!(c, core, "{c:#x} vs {core:#x}");
        }
        assert_eq!(BG_E_HTTP_ERROR_BASE, h::BG_E_HTTP_ERROR_BASE);
    }
}
