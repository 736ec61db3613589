//! The panic/error boundary: every export runs its body inside [`guard`], which catches
//! panics, maps errors to HRESULTs, records the thread's last-error message, and is the only
//! place where out-parameters are written (DECISIONS D8).
//!
//! # Out-parameters
//!
//! DECISIONS D8: "Out-parameters are written only on success, except handle out-parameters,
//! which are set to NULL first." Here that holds by construction, not by care in each export:
//!
//! * An out-pointer becomes an [`Out`] (a value), a [`HandleOut`] (a handle) or an
//!   [`ArrayOut`] (`rgelt`) through its `new`, the one place that checks it for NULL
//!   (`QMGR_E_POINTER` naming the argument). None of them is `Copy` or `Clone`, and none can
//!   write: `set` only turns it into a pending write ([`Pending`], [`PendingHandle`],
//!   [`PendingArray`]).
//! * The body returns its pending writes inside [`Done`]. Pending writes are carried out by
//!   [`Commit::commit`], which needs a [`Success`]: a proof that only [`guard`] can make
//!   (its field is private to this module), and only once the body has returned `Ok`. A body
//!   that fails or panics drops its pending writes unwritten; a value that owns memory (a
//!   library-allocated string, a handle's object) is freed then, so nothing leaks.
//! * [`HandleOut::new`] writes NULL when it is made, before the body goes on, so a handle
//!   out-parameter is NULL after every failure that follows its NULL check. The handle itself
//!   is registered only when the guard commits, so a failed call never leaves one behind.

use crate::handles::{new_handle, Castable};
use crate::strings::free_c;
use crate::types::{qmgr_fileset_info, qmgr_guid, qmgr_variant, QMGR_VT_BSTR};
use qmgr_core::hresult::{Error, HResult, E_POINTER, E_UNEXPECTED, S_OK};
use std::cell::RefCell;
use std::ffi::c_char;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;

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

/// Runs `body` for the export `name`. `Ok` returns its HRESULT (`S_OK`, `S_FALSE`) after
/// writing the outputs it carries (see [`Outcome`]); an `Err` sets the last-error message and
/// returns its HRESULT; a panic becomes `QMGR_E_UNEXPECTED` with a message holding the panic's
/// text. Outputs are written on the `Ok` path only (DECISIONS D8).
pub(crate) fn guard<R: Outcome>(name: &str, body: impl FnOnce() -> Result<R, Error>) -> HResult {
    match run(body) {
        Ok(hr) => hr,
        Err(Failure::Error(e)) => {
            let message = if e.message.starts_with(name) { e.message } else { format!("{name}: {}", e.message) };
            set_last_error(message);
            e.hr
        }
        Err(Failure::Panic(what)) => {
            set_last_error(format!("{name}: internal error: {what}"));
            E_UNEXPECTED
        }
    }
}

/// As [`guard`], but a failure leaves the last-error message alone: the guard of
/// `qmgr_get_last_error_message`, which must not overwrite the message it reads.
pub(crate) fn guard_keeping_last_error<R: Outcome>(body: impl FnOnce() -> Result<R, Error>) -> HResult {
    match run(body) {
        Ok(hr) => hr,
        Err(Failure::Error(e)) => e.hr,
        Err(Failure::Panic(_)) => E_UNEXPECTED,
    }
}

/// Why a body did not succeed.
enum Failure {
    Error(Error),
    /// The panic's text.
    Panic(String),
}

/// Runs `body` and, only when it returned `Ok`, writes its outputs (the one place a
/// [`Success`] is made). Writing runs under the same panic catcher as the body.
fn run<R: Outcome>(body: impl FnOnce() -> Result<R, Error>) -> Result<HResult, Failure> {
    match catch_unwind(AssertUnwindSafe(|| body().map(|outcome| outcome.finish(&Success(()))))) {
        Ok(Ok(hr)) => Ok(hr),
        Ok(Err(e)) => Err(Failure::Error(e)),
        Err(panic) => Err(Failure::Panic(
            panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string()),
        )),
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

/// Records a failed start of the background runner as the last-error message of the
/// successful status-reading call `name` (DECISIONS D13: "reported by the next
/// status-reading call's last-error message"); nothing when there is none.
pub(crate) fn runner_warning(name: &str, warning: Option<String>) {
    if let Some(w) = warning {
        set_last_error(format!("{name}: succeeded, but no background runner could be started: {w}"));
    }
}

/// `QMGR_E_POINTER` naming the NULL argument.
pub(crate) fn null(arg: &str) -> Error {
    Error::new(E_POINTER, format!("{arg} is NULL"))
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

/// Proof that an export's body returned `Ok`. Only [`guard`] (through `run`) makes one: its
/// field is private to this module. Writing an output ([`Commit::commit`]) requires it.
pub(crate) struct Success(());

/// Pending writes of out-parameters: [`Pending`], [`PendingHandle`], [`PendingArray`],
/// `Option`s and tuples of them.
pub(crate) trait Commit {
    /// Carries out the writes. Only the guard can call it: it alone has a [`Success`].
    fn commit(self, success: &Success);
}

/// What an export's body returns when it has outputs: its success HRESULT (`S_OK`,
/// `S_FALSE`) and the pending writes that the guard then carries out.
pub(crate) struct Done<W> {
    hr: HResult,
    writes: W,
}

impl<W: Commit> Done<W> {
    /// `S_OK` with these outputs.
    pub(crate) fn ok(writes: W) -> Self {
        Self::new(S_OK, writes)
    }

    /// A success code (`S_OK`, `S_FALSE`: never negative) with these outputs.
    pub(crate) fn new(hr: HResult, writes: W) -> Self {
        debug_assert!(hr >= 0, "a failure is an Err, not a Done");
        Done { hr, writes }
    }
}

/// The `Ok` value of an export's body: a bare HRESULT (an export without outputs) or a
/// [`Done`] carrying outputs.
pub(crate) trait Outcome {
    /// Writes the outputs, if any, and gives the HRESULT to return.
    fn finish(self, success: &Success) -> HResult;
}

impl Outcome for HResult {
    fn finish(self, _: &Success) -> HResult {
        self
    }
}

impl<W: Commit> Outcome for Done<W> {
    fn finish(self, success: &Success) -> HResult {
        self.writes.commit(success);
        self.hr
    }
}

/// A C value that an [`Out`] writes. `discard` frees what the value owns when it is never
/// written (its body failed or panicked), so a value built before a failure does not leak.
pub(crate) trait OutValue: Sized {
    /// Frees what the value owns; nothing for plain values.
    fn discard(self) {}
}

impl OutValue for u32 {}
impl OutValue for u64 {}
impl OutValue for qmgr_guid {}

/// A string made by `strings::to_c`, or NULL.
impl OutValue for *mut c_char {
    fn discard(self) {
        free_c(self)
    }
}

/// `str_val` (when `QMGR_VT_BSTR`) was made by `strings::to_c`, or is NULL.
impl OutValue for qmgr_variant {
    fn discard(self) {
        if self.vt == QMGR_VT_BSTR {
            free_c(self.str_val)
        }
    }
}

/// Both strings were made by `strings::to_c`, or are NULL.
impl OutValue for qmgr_fileset_info {
    fn discard(self) {
        free_c(self.remote_file);
        free_c(self.local_file);
    }
}

/// A value out-parameter of an export (`*mut T`, e.g. `status_out`), checked non-NULL.
///
/// Guarantee (DECISIONS D8, "out-parameters are written only on success"): an `Out` cannot
/// write. [`Out::set`] gives a [`Pending`] write, which only the guard carries out, and only
/// after the body returned `Ok` (see the module documentation). Neither `Copy` nor `Clone`:
/// each out-parameter is set at most once. `'a` is the call: the pointer is not kept after it.
pub(crate) struct Out<'a, T: OutValue> {
    ptr: NonNull<T>,
    _call: PhantomData<&'a mut T>,
}

impl<'a, T: OutValue> Out<'a, T> {
    /// A required out-parameter.
    ///
    /// Errors: `QMGR_E_POINTER` naming `arg` when `ptr` is NULL.
    pub(crate) fn new(ptr: *mut T, arg: &str) -> Result<Self, Error> {
        Self::optional(ptr).ok_or_else(|| null(arg))
    }

    /// An optional out-parameter: `None` when `ptr` is NULL.
    pub(crate) fn optional(ptr: *mut T) -> Option<Self> {
        NonNull::new(ptr).map(|ptr| Out { ptr, _call: PhantomData })
    }

    /// The write of `value`, which the guard carries out if the body succeeds.
    pub(crate) fn set(self, value: T) -> Pending<'a, T> {
        Pending { out: self, value: Some(value) }
    }
}

/// `value` waiting to be written to an [`Out`]; dropped unwritten (and discarded) unless the
/// guard commits it.
pub(crate) struct Pending<'a, T: OutValue> {
    out: Out<'a, T>,
    /// `None` once written.
    value: Option<T>,
}

impl<T: OutValue> Commit for Pending<'_, T> {
    fn commit(mut self, _: &Success) {
        if let Some(value) = self.value.take() {
            // SAFETY: ptr is non-NULL (Out::optional), and the C caller promises that it
            // points to writable, aligned storage for a T during the call (C-API.md). `write`
            // does not drop the old contents, which belong to the caller.
            unsafe { self.out.ptr.as_ptr().write(value) }
        }
    }
}

impl<T: OutValue> Drop for Pending<'_, T> {
    fn drop(&mut self) {
        if let Some(value) = self.value.take() {
            value.discard();
        }
    }
}

/// A handle out-parameter of an export (`*mut *mut T`, e.g. `job_out`), checked non-NULL and
/// set to NULL when made.
///
/// Guarantee (DECISIONS D8, "handle out-parameters are set to NULL first"): `*ptr` is NULL
/// from [`HandleOut::new`] on, so it stays NULL when the body then fails or panics. The handle
/// is registered and written only when the guard commits the [`PendingHandle`] that
/// [`HandleOut::set`] gives. Neither `Copy` nor `Clone`.
pub(crate) struct HandleOut<'a, T> {
    ptr: NonNull<*mut T>,
    _call: PhantomData<&'a mut *mut T>,
}

impl<'a, T> HandleOut<'a, T> {
    /// Checks `ptr` and sets `*ptr` to NULL.
    ///
    /// Errors: `QMGR_E_POINTER` naming `arg` when `ptr` is NULL (nothing is written).
    pub(crate) fn new(ptr: *mut *mut T, arg: &str) -> Result<Self, Error> {
        let ptr = NonNull::new(ptr).ok_or_else(|| null(arg))?;
        // SAFETY: ptr is non-NULL, and the C caller promises that it points to writable,
        // aligned storage for a handle pointer during the call (C-API.md).
        unsafe { ptr.as_ptr().write(std::ptr::null_mut()) };
        Ok(HandleOut { ptr, _call: PhantomData })
    }
}

impl<'a, C: Castable> HandleOut<'a, C> {
    /// The write of a new handle (one reference) to `target`, which the guard carries out if
    /// the body succeeds.
    pub(crate) fn set(self, target: C::Target) -> PendingHandle<'a, C> {
        PendingHandle { out: self, target }
    }
}

/// A handle waiting to be registered and written to a [`HandleOut`]; when dropped unwritten,
/// only the object is dropped and the output stays NULL.
pub(crate) struct PendingHandle<'a, C: Castable> {
    out: HandleOut<'a, C>,
    target: C::Target,
}

impl<C: Castable> Commit for PendingHandle<'_, C> {
    fn commit(self, _: &Success) {
        let handle = new_handle::<C>(self.target);
        // SAFETY: as in HandleOut::new (same pointer, same call).
        unsafe { self.out.ptr.as_ptr().write(handle) }
    }
}

/// An array out-parameter of an export (`rgelt`: room for `len` elements), checked non-NULL
/// when `len` > 0. Written like an [`Out`]: only by the guard, after success.
pub(crate) struct ArrayOut<'a, T> {
    /// NULL only when `len` is 0.
    ptr: *mut T,
    len: usize,
    _call: PhantomData<&'a mut [T]>,
}

impl<'a, T> ArrayOut<'a, T> {
    /// An array of `len` elements.
    ///
    /// Errors: `QMGR_E_POINTER` naming `arg` when `ptr` is NULL and `len` > 0.
    pub(crate) fn new(ptr: *mut T, len: usize, arg: &str) -> Result<Self, Error> {
        if len > 0 && ptr.is_null() {
            return Err(null(arg));
        }
        Ok(ArrayOut { ptr, len, _call: PhantomData })
    }

    /// The write of `items` to the first `items.len()` elements, which the guard carries out
    /// if the body succeeds.
    ///
    /// Panics when there are more items than room (a bug: it becomes `QMGR_E_UNEXPECTED`).
    pub(crate) fn set(self, items: Vec<T>) -> PendingArray<'a, T> {
        assert!(items.len() <= self.len, "{} items for an array of {}", items.len(), self.len);
        PendingArray { out: self, items }
    }
}

/// Items waiting to be written to an [`ArrayOut`].
pub(crate) struct PendingArray<'a, T> {
    out: ArrayOut<'a, T>,
    items: Vec<T>,
}

impl<T> Commit for PendingArray<'_, T> {
    fn commit(self, _: &Success) {
        for (i, item) in self.items.into_iter().enumerate() {
            // SAFETY: i < items.len() <= len (ArrayOut::set), so len > 0 and ptr is non-NULL
            // (ArrayOut::new); the C caller promises room for `len` writable, aligned
            // elements during the call (C-API.md).
            unsafe { self.out.ptr.add(i).write(item) }
        }
    }
}

/// An optional output: written when present.
impl<W: Commit> Commit for Option<W> {
    fn commit(self, success: &Success) {
        if let Some(w) = self {
            w.commit(success)
        }
    }
}

macro_rules! commit_tuple {
    ($($w:ident),+) => {
        /// Several outputs of one call, written together.
        impl<$($w: Commit),+> Commit for ($($w,)+) {
            #[allow(non_snake_case)]
            fn commit(self, success: &Success) {
                let ($($w,)+) = self;
                $($w.commit(success);)+
            }
        }
    };
}

commit_tuple!(A, B);
commit_tuple!(A, B, C);
commit_tuple!(A, B, C, D);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handles;
    use crate::strings::to_c;
    use crate::types::qmgr_enum_groups;
    use qmgr_core::hresult::{E_INVALIDARG, S_FALSE};

    const SENTINEL: u32 = 0xDEAD_BEEF;

    fn failed(message: &str) -> Error {
        Error::new(E_INVALIDARG, message)
    }

    #[test]
    fn output_is_written_when_the_body_succeeds() {
        let mut value = SENTINEL;
        let hr = guard("t", || Ok(Done::ok(Out::new(&mut value, "value_out")?.set(7))));
        assert_eq!(hr, S_OK);
        assert_eq!(value, 7);
    }

    #[test]
    fn success_code_is_returned_with_the_outputs() {
        let mut value = SENTINEL;
        let hr = guard("t", || Ok(Done::new(S_FALSE, Out::new(&mut value, "value_out")?.set(3))));
        assert_eq!(hr, S_FALSE);
        assert_eq!(value, 3);
    }

    #[test]
    fn output_is_untouched_when_the_body_fails_after_setting_it() {
        let mut value = SENTINEL;
        let hr = guard("t", || -> Result<Done<Pending<u32>>, Error> {
            let _pending = Out::new(&mut value, "value_out")?.set(7);
            Err(failed("later check failed"))
        });
        assert_eq!(hr, E_INVALIDARG);
        assert_eq!(value, SENTINEL);
        assert_eq!(last_error().as_deref(), Some("t: later check failed"));
    }

    #[test]
    fn output_is_untouched_when_the_body_panics_and_the_message_keeps_the_panic_text() {
        let mut value = SENTINEL;
        let hr = guard("t", || -> Result<Done<Pending<u32>>, Error> {
            let _pending = Out::new(&mut value, "value_out")?.set(7);
            panic!("boom {}", 42);
        });
        assert_eq!(hr, E_UNEXPECTED);
        assert_eq!(value, SENTINEL);
        assert_eq!(last_error().as_deref(), Some("t: internal error: boom 42"));
    }

    #[test]
    fn null_output_gives_e_pointer_naming_it() {
        let hr = guard("t", || Ok(Done::ok(Out::<u32>::new(std::ptr::null_mut(), "value_out")?.set(7))));
        assert_eq!(hr, E_POINTER);
        assert_eq!(last_error().as_deref(), Some("t: value_out is NULL"));
    }

    #[test]
    fn no_output_is_written_when_a_later_output_is_null() {
        let mut first = SENTINEL;
        let hr = guard("t", || {
            let a = Out::new(&mut first, "first_out")?;
            let b = Out::<u32>::new(std::ptr::null_mut(), "second_out")?;
            Ok(Done::ok((a.set(1), b.set(2))))
        });
        assert_eq!(hr, E_POINTER);
        assert_eq!(first, SENTINEL);
        assert_eq!(last_error().as_deref(), Some("t: second_out is NULL"));
    }

    #[test]
    fn all_outputs_are_written_on_success() {
        let (mut a, mut b, mut c, mut d) = (0u32, 0u64, 0u32, 0u64);
        let hr = guard("t", || {
            let (oa, ob) = (Out::new(&mut a, "a")?, Out::new(&mut b, "b")?);
            let (oc, od) = (Out::new(&mut c, "c")?, Out::new(&mut d, "d")?);
            Ok(Done::ok((oa.set(1), ob.set(2), oc.set(3), od.set(4))))
        });
        assert_eq!(hr, S_OK);
        assert_eq!((a, b, c, d), (1, 2, 3, 4));
    }

    #[test]
    fn optional_output_is_written_when_present_and_skipped_when_null() {
        let mut value = SENTINEL;
        let hr = guard("t", || Ok(Done::ok(Out::optional(&mut value as *mut u32).map(|o| o.set(5)))));
        assert_eq!((hr, value), (S_OK, 5));
        let hr = guard("t", || Ok(Done::ok(Out::<u32>::optional(std::ptr::null_mut()).map(|o| o.set(5)))));
        assert_eq!(hr, S_OK);
    }

    #[test]
    fn string_output_is_written_on_success_and_freed_when_not() {
        let mut text: *mut c_char = std::ptr::null_mut();
        let hr = guard("t", || -> Result<Done<Pending<*mut c_char>>, Error> {
            let _pending = Out::new(&mut text, "text_out")?.set(to_c("dropped"));
            Err(failed("no"))
        });
        assert_eq!((hr, text), (E_INVALIDARG, std::ptr::null_mut()));
        let hr = guard("t", || Ok(Done::ok(Out::new(&mut text, "text_out")?.set(to_c("kept")))));
        assert_eq!(hr, S_OK);
        // SAFETY: a string the guard has just written, made by to_c.
        assert_eq!(unsafe { std::ffi::CStr::from_ptr(text) }.to_str(), Ok("kept"));
        free_c(text);
    }

    #[test]
    fn array_output_is_written_on_success_only() {
        let mut items = [SENTINEL; 3];
        let hr = guard("t", || -> Result<Done<PendingArray<u32>>, Error> {
            let _pending = ArrayOut::new(items.as_mut_ptr(), 3, "rgelt")?.set(vec![1, 2]);
            Err(failed("no"))
        });
        assert_eq!(hr, E_INVALIDARG);
        assert_eq!(items, [SENTINEL; 3]);
        let hr = guard("t", || Ok(Done::ok(ArrayOut::new(items.as_mut_ptr(), 3, "rgelt")?.set(vec![1, 2]))));
        assert_eq!(hr, S_OK);
        assert_eq!(items, [1, 2, SENTINEL]);
    }

    #[test]
    fn array_output_may_be_null_only_when_empty() {
        let hr = guard("t", || Ok(Done::ok(ArrayOut::<u32>::new(std::ptr::null_mut(), 0, "rgelt")?.set(vec![]))));
        assert_eq!(hr, S_OK);
        let hr = guard("t", || Ok(Done::ok(ArrayOut::<u32>::new(std::ptr::null_mut(), 1, "rgelt")?.set(vec![]))));
        assert_eq!(hr, E_POINTER);
        assert_eq!(last_error().as_deref(), Some("t: rgelt is NULL"));
    }

    /// A live object to put behind a handle: an enumerator of a fresh queue.
    fn enumerator() -> (tempfile::TempDir, qmgr_core::Manager, <qmgr_enum_groups as Castable>::Target) {
        let dir = tempfile::tempdir().expect("tempdir");
        let manager = qmgr_rs::open(Some(dir.path())).expect("open a queue");
        let e = std::sync::Arc::new(std::sync::Mutex::new(manager.enum_groups(0).expect("enum_groups")));
        (dir, manager, e)
    }

    #[test]
    fn handle_output_is_null_when_the_body_fails_or_panics() {
        let (_dir, _manager, target) = enumerator();
        let bogus = 0x10 as *mut qmgr_enum_groups;
        let mut handle = bogus;
        let hr = guard("t", || -> Result<Done<PendingHandle<qmgr_enum_groups>>, Error> {
            let _pending = HandleOut::new(&mut handle, "enum_out")?.set(target.clone());
            Err(failed("no"))
        });
        assert_eq!((hr, handle), (E_INVALIDARG, std::ptr::null_mut()));
        handle = bogus;
        let hr = guard("t", || -> Result<Done<PendingHandle<qmgr_enum_groups>>, Error> {
            let _out = HandleOut::new(&mut handle, "enum_out")?;
            panic!("boom");
        });
        assert_eq!((hr, handle), (E_UNEXPECTED, std::ptr::null_mut()));
    }

    #[test]
    fn handle_output_is_a_live_handle_on_success() {
        let (_dir, _manager, target) = enumerator();
        let mut handle: *mut qmgr_enum_groups = std::ptr::null_mut();
        let hr = guard("t", || Ok(Done::ok(HandleOut::new(&mut handle, "enum_out")?.set(target))));
        assert_eq!(hr, S_OK);
        assert!(handles::get(handle, "e").is_ok());
        assert_eq!(handles::release(handle), 0);
        assert!(handles::get(handle, "e").is_err());
    }

    #[test]
    fn null_handle_output_gives_e_pointer() {
        let hr = guard("t", || -> Result<HResult, Error> {
            HandleOut::<qmgr_enum_groups>::new(std::ptr::null_mut(), "enum_out")?;
            Ok(S_OK)
        });
        assert_eq!(hr, E_POINTER);
        assert_eq!(last_error().as_deref(), Some("t: enum_out is NULL"));
    }

    #[test]
    fn keeping_guard_leaves_the_last_error_message_alone() {
        set_last_error("earlier".to_string());
        let hr =
            guard_keeping_last_error(|| Ok(Done::ok(Out::<u32>::new(std::ptr::null_mut(), "message_out")?.set(1))));
        assert_eq!(hr, E_POINTER);
        assert_eq!(last_error().as_deref(), Some("earlier"));
    }
}
