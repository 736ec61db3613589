//! The live-handle table (DECISIONS D8): every handle given to C is an opaque number that
//! indexes this table, never a pointer the library dereferences. A released, foreign or
//! wrong-type handle is simply not found (`QMGR_E_HANDLE`), and numbers are never reused.
//!
//! This is the only place where handle pointers are converted to objects.

use crate::boundary::null;
use qmgr_core::hresult::{Error, E_HANDLE};
use qmgr_core::{Group, GuidEnum, Job, Manager};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

/// What a handle refers to.
pub(crate) enum Object {
    Manager(Manager),
    Group(Group),
    Job(Job),
    EnumGroups(Arc<Mutex<GuidEnum>>),
    EnumJobs(Arc<Mutex<GuidEnum>>),
}

struct Entry {
    refs: AtomicUsize,
    object: Arc<Object>,
}

/// Shards of the table: threads that use different handles take different locks, so that a
/// read lock's shared counter does not bounce between CPUs (issue #6: `GetStatus` scaling
/// across threads).
const SHARDS: usize = 64;

/// The shard of handle number `id` (numbers step by 16).
fn table(id: usize) -> &'static RwLock<HashMap<usize, Entry>> {
    static TABLE: OnceLock<Vec<RwLock<HashMap<usize, Entry>>>> = OnceLock::new();
    let shards = TABLE.get_or_init(|| (0..SHARDS).map(|_| RwLock::default()).collect());
    &shards[(id >> 4) % SHARDS]
}

/// Handle numbers: multiples of 16 (aligned like a real pointer), never 0, never reused.
static NEXT: AtomicUsize = AtomicUsize::new(0x1000);

/// A C handle type: the opaque struct the header declares for it.
pub(crate) trait Castable {
    /// Name used in messages ("group", "job", …).
    const KIND: &'static str;
    /// The Rust object behind a handle of this type.
    type Target: Clone;
    fn wrap(target: Self::Target) -> Object;
    fn borrow(object: &Object) -> Option<&Self::Target>;
    fn unwrap(object: &Object) -> Option<Self::Target> {
        Self::borrow(object).cloned()
    }
}

/// Registers a new handle with one reference and returns it.
pub(crate) fn new_handle<C: Castable>(target: C::Target) -> *mut C {
    let id = NEXT.fetch_add(16, Ordering::Relaxed);
    let entry = Entry { refs: AtomicUsize::new(1), object: Arc::new(C::wrap(target)) };
    table(id).write().unwrap_or_else(|e| e.into_inner()).insert(id, entry);
    id as *mut C
}

/// The object behind a handle argument.
///
/// Errors: `QMGR_E_POINTER` when NULL; `QMGR_E_HANDLE` when released, foreign or of another
/// type (the message names `arg`).
pub(crate) fn get<C: Castable>(ptr: *const C, arg: &str) -> Result<C::Target, Error> {
    if ptr.is_null() {
        return Err(null(arg));
    }
    let t = table(ptr as usize).read().unwrap_or_else(|e| e.into_inner());
    t.get(&(ptr as usize)).and_then(|e| C::unwrap(&e.object)).ok_or_else(|| not_live::<C>(arg))
}

/// Runs `f` on the object behind a handle argument without taking a reference to it: the
/// path of the frequent getters (`GetStatus`, `GetProgress`), which then touch no reference
/// count shared with other threads. `f` runs under the table's read lock: it must not create
/// or release handles.
///
/// Errors: as [`get`].
pub(crate) fn with<C: Castable, R>(ptr: *const C, arg: &str, f: impl FnOnce(&C::Target) -> R) -> Result<R, Error> {
    if ptr.is_null() {
        return Err(null(arg));
    }
    let t = table(ptr as usize).read().unwrap_or_else(|e| e.into_inner());
    match t.get(&(ptr as usize)).and_then(|e| C::borrow(&e.object)) {
        Some(target) => Ok(f(target)),
        None => Err(not_live::<C>(arg)),
    }
}

/// `QMGR_E_HANDLE` for `arg`.
fn not_live<C: Castable>(arg: &str) -> Error {
    Error::new(E_HANDLE, format!("{arg} is not a live {} handle (released, foreign or of another type)", C::KIND))
}

/// `add_ref`: the new count, 0 for an invalid handle.
pub(crate) fn add_ref<C: Castable>(ptr: *const C) -> u32 {
    let t = table(ptr as usize).read().unwrap_or_else(|e| e.into_inner());
    match t.get(&(ptr as usize)) {
        Some(e) if C::unwrap(&e.object).is_some() => (e.refs.fetch_add(1, Ordering::AcqRel) + 1) as u32,
        _ => 0,
    }
}

/// `release`: the new count (0 when the handle died), 0 for NULL or an invalid handle. The
/// object is dropped outside the table lock (dropping a manager may join its threads).
pub(crate) fn release<C: Castable>(ptr: *const C) -> u32 {
    if ptr.is_null() {
        return 0;
    }
    let dead = {
        let mut t = table(ptr as usize).write().unwrap_or_else(|e| e.into_inner());
        let Some(e) = t.get(&(ptr as usize)) else { return 0 };
        if C::unwrap(&e.object).is_none() {
            return 0;
        }
        let left = e.refs.fetch_sub(1, Ordering::AcqRel) - 1;
        if left > 0 {
            return left as u32;
        }
        t.remove(&(ptr as usize))
    };
    drop(dead);
    0
}

macro_rules! castable {
    ($c:ty, $kind:literal, $variant:ident, $target:ty) => {
        impl Castable for $c {
            const KIND: &'static str = $kind;
            type Target = $target;
            fn wrap(target: $target) -> Object {
                Object::$variant(target)
            }
            fn borrow(object: &Object) -> Option<&$target> {
                match object {
                    Object::$variant(t) => Some(t),
                    _ => None,
                }
            }
        }
    };
}

castable!(crate::types::qmgr_manager, "manager", Manager, Manager);
castable!(crate::types::qmgr_group, "group", Group, Group);
castable!(crate::types::qmgr_job, "job", Job, Job);

castable!(crate::types::qmgr_enum_groups, "enum_groups", EnumGroups, Arc<Mutex<GuidEnum>>);
castable!(crate::types::qmgr_enum_jobs, "enum_jobs", EnumJobs, Arc<Mutex<GuidEnum>>);
