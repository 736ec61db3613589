//! The Rust-shaped API beside the C-shaped one (issue #11): `Group::snapshot`, `Job::error`,
//! `Manager::find_job`, all-or-nothing `Group::set_props`.

mod common;

use common::*;
use qmgr_core::hresult::{E_INVALIDARG, QM_E_INVALID_STATE, QM_E_ITEM_NOT_FOUND};
use qmgr_core::model::{progress, ErrorClass, GroupState, PropId, PropValue};

/// Several properties change together or not at all, in memory and in the store (a second
/// manager on the same store sees none of a refused set).
#[test]
fn set_props_is_all_or_nothing() {
    let store = SharedStore::new();
    let (mgr, fake) = open();
    drop(mgr);
    let mgr = open_on(Box::new(store.clone()), &fake);
    let g = mgr.create_group(guid()).unwrap();
    let bad = [
        (PropId::DisplayName, PropValue::Str("nightly".into())),
        (PropId::Priority, PropValue::Int(0)),
        (PropId::ProgressPercent, PropValue::Int(101)),
    ];
    let e = err("set_props with a bad percent", g.set_props(&bad));
    assert_eq!(e.hr, E_INVALIDARG);
    assert_eq!(e.message, "SetProp: progress percent 101 is above 100");
    let s = g.snapshot().unwrap();
    assert_eq!((s.props.display_name.as_str(), s.props.priority), ("", 1), "nothing changed in memory");
    let stored = store.image().groups.into_iter().find(|r| r.id == g.id()).unwrap();
    assert_eq!((stored.props.display_name.as_str(), stored.props.priority), ("", 1), "nothing stored");

    let good = [
        (PropId::DisplayName, PropValue::Str("nightly".into())),
        (PropId::Priority, PropValue::Int(0)),
        (PropId::RemoteUserPwd, PropValue::Str("secret".into())),
    ];
    g.set_props(&good).unwrap();
    let s = g.snapshot().unwrap();
    assert_eq!((s.props.display_name.as_str(), s.props.priority), ("nightly", 0));
    assert_eq!(s.props.remote_password, "", "the password is write-only in a snapshot too");
    let stored = store.image().groups.into_iter().find(|r| r.id == g.id()).unwrap();
    assert_eq!((stored.props.display_name.as_str(), stored.props.priority), ("nightly", 0));
    assert_eq!(stored.props.remote_password, "secret");
    g.set_props(&[]).unwrap();
    g.cancel().unwrap();
    assert_eq!(hr(g.set_props(&good)), QM_E_INVALID_STATE);
}

/// A snapshot's named fields agree with the C-shaped getters; unknown sizes are `None`.
#[test]
fn snapshot_agrees_with_the_getters() {
    let (mgr, fake) = open();
    let (g, j) = group_with(&mgr, &fake, vec![("a", Script::new(100)), ("b", Script::new(50).unknown_size())]);
    let s = g.snapshot().unwrap();
    assert_eq!((s.id, s.state, s.status, s.job_index), (g.id(), GroupState::Suspended, 0x180, 0));
    assert_eq!((s.bytes_done, s.bytes_total, s.percent), (0, None, 0));
    assert_eq!(s.jobs.len(), 1);
    assert_eq!(s.jobs[0].id, j.id());
    assert_eq!(s.jobs[0].files.iter().map(|f| f.bytes_total).collect::<Vec<_>>(), [None, None]);
    g.resume().unwrap();
    assert_eq!(settle(&g), 0x140);
    let s = g.snapshot().unwrap();
    assert_eq!((s.state, s.status), (GroupState::Complete, g.status().unwrap().0));
    // The server never told b's size: the total stays unknown, as GetProgress64 says.
    assert_eq!((s.bytes_done, s.bytes_total, s.percent), (150, None, 100));
    assert_eq!(g.progress64().unwrap(), (150, u64::MAX));
    assert_eq!((s.size, s.time_done), (g.size().unwrap(), g.progress(progress::TIME_DONE).unwrap()));
    let js = &s.jobs[0];
    assert_eq!(js.status, j.status().unwrap().status);
    assert!(js.complete && js.error.is_none());
    assert_eq!(
        js.files.iter().map(|f| (f.index, f.bytes_total, f.complete)).collect::<Vec<_>>(),
        [(0, Some(100), true), (1, None, true)]
    );
    assert_eq!(js.files[1].url, url("b"));
    assert_eq!(js.files[1].local_path, dest("b"));
}

/// `Job::error` carries the class: transient while retrying, fatal in ERROR.
#[test]
fn job_error_has_its_class() {
    let (mgr, fake) = open();
    mgr.set_option("min_retry_delay_ms", "100000").unwrap();
    let (g, j) = group_with(&mgr, &fake, vec![("a", Script::new(10).fail(0, http(503)))]);
    assert_eq!(j.error().unwrap(), None);
    g.resume().unwrap();
    wait_retries(&j, 1);
    let e = j.error().unwrap().expect("a transient error");
    assert_eq!((e.class, e.transport, e.file_index), (ErrorClass::Transient, 503, Some(0)));
    assert_eq!(g.snapshot().unwrap().jobs[0].error.as_ref(), Some(&e));

    let (g2, j2) = group_with(&mgr, &fake, vec![("b", Script::new(10).fail(0, http(404)))]);
    g2.resume().unwrap();
    assert_eq!(settle(&g2), 0x380);
    let e = j2.error().unwrap().expect("a fatal error");
    assert_eq!((e.class, e.win32, e.transport), (ErrorClass::Fatal, 0x8019_0194, 404));
    g.cancel().unwrap();
}

/// A job is found by its GUID alone, with its group; a cancelled or unknown one is not.
#[test]
fn find_job_by_guid() {
    let (mgr, fake) = open();
    let (g, j) = group_with(&mgr, &fake, vec![("a", Script::new(10))]);
    let (g2, j2) = group_with(&mgr, &fake, vec![("b", Script::new(10))]);
    let found = mgr.find_job(j2.id()).unwrap();
    assert!(found.same(&j2) && found.group().same(&g2));
    assert!(mgr.find_job(j.id()).unwrap().group().same(&g));
    assert_eq!(hr(mgr.find_job(guid())), QM_E_ITEM_NOT_FOUND);
    j.cancel().unwrap();
    assert_eq!(hr(mgr.find_job(j.id())), QM_E_ITEM_NOT_FOUND);
}
