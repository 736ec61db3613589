//! Enumerators (reference §2.4, §2.5; DECISIONS D1, D12): snapshots in creation order,
//! `Next` / `Skip` with their `S_FALSE` cases, `Reset`, `Clone`, `GetCount`, flags.

mod common;

use common::*;
use qmgr_core::hresult::{E_NOTIMPL, QM_E_INVALID_STATE};
use qmgr_core::Guid;

#[test]
fn d12_enum_groups_lists_live_groups_in_creation_order() {
    let (mgr, _fake) = open();
    let ids: Vec<Guid> = (0..5).map(|_| guid()).collect();
    let groups: Vec<_> = ids.iter().map(|id| mgr.create_group(*id).unwrap()).collect();
    groups[2].cancel().unwrap();
    let want: Vec<Guid> = ids.iter().enumerate().filter(|(i, _)| *i != 2).map(|(_, id)| *id).collect();
    assert_eq!(mgr.enum_groups(0).unwrap().collect::<Vec<_>>(), want);
    // A reused GUID is a new group, listed last.
    mgr.create_group(ids[2]).unwrap();
    let mut want2 = want.clone();
    want2.push(ids[2]);
    assert_eq!(mgr.enum_groups(0).unwrap().collect::<Vec<_>>(), want2);
}

#[test]
fn d1_enum_groups_and_enum_jobs_flags_must_be_0() {
    let (mgr, _fake) = open();
    let g = mgr.create_group(guid()).unwrap();
    for flags in [1, 2, 0x8000_0000] {
        assert_eq!(hr(mgr.enum_groups(flags)), E_NOTIMPL);
        assert_eq!(hr(g.enum_jobs(flags)), E_NOTIMPL);
    }
}

#[test]
fn enum_is_a_snapshot_taken_at_creation() {
    let (mgr, _fake) = open();
    let a = mgr.create_group(guid()).unwrap();
    let b = mgr.create_group(guid()).unwrap();
    let e = mgr.enum_groups(0).unwrap();
    mgr.create_group(guid()).unwrap();
    b.cancel().unwrap();
    assert_eq!(e.count_all(), 2);
    assert_eq!(e.collect::<Vec<_>>(), vec![a.id(), b.id()]);

    let j1 = a.create_job(guid()).unwrap();
    let je = a.enum_jobs(0).unwrap();
    a.create_job(guid()).unwrap();
    j1.cancel().unwrap();
    assert_eq!(je.collect::<Vec<_>>(), vec![j1.id()]);
}

#[test]
fn enum_next_returns_fewer_at_the_end_and_skip_reports_a_short_skip() {
    let (mgr, _fake) = open();
    let ids: Vec<Guid> = (0..5).map(|_| mgr.create_group(guid()).unwrap().id()).collect();
    let mut e = mgr.enum_groups(0).unwrap();
    assert_eq!(e.next_batch(0), Vec::<Guid>::new(), "Next(0): S_OK, nothing");
    assert_eq!(e.next_batch(2), ids[0..2].to_vec(), "exactly celt: S_OK");
    assert!(e.skip_items(1), "skipped all asked: S_OK");
    assert_eq!(e.next_batch(5), ids[3..5].to_vec(), "fewer than celt: S_FALSE");
    assert_eq!(e.next_batch(1), Vec::<Guid>::new());
    assert!(e.skip_items(0));
    assert!(!e.skip_items(1), "past the end: S_FALSE");
    e.reset();
    assert!(!e.skip_items(6), "fewer left than asked: S_FALSE");
    assert_eq!(e.next_batch(1), Vec::<Guid>::new());
    e.reset();
    assert!(e.skip_items(5));
    assert_eq!(e.count_all(), 5, "GetCount is independent of the cursor");
}

#[test]
fn enum_reset_and_clone_keep_the_snapshot_with_an_independent_cursor() {
    let (mgr, _fake) = open();
    let ids: Vec<Guid> = (0..4).map(|_| mgr.create_group(guid()).unwrap().id()).collect();
    let mut e = mgr.enum_groups(0).unwrap();
    assert_eq!(e.next_batch(1), vec![ids[0]]);
    let mut c = e.clone();
    mgr.create_group(guid()).unwrap();
    assert_eq!(c.next_batch(10), ids[1..].to_vec(), "the clone continues from the same position");
    assert_eq!(e.next_batch(1), vec![ids[1]], "the original's cursor did not move");
    c.reset();
    assert_eq!(c.count_all(), 4);
    assert_eq!(c.next_batch(10), ids);
    e.reset();
    assert_eq!(e.collect::<Vec<_>>(), ids);
}

#[test]
fn d12_enum_jobs_lists_live_jobs_in_creation_order() {
    let (mgr, _fake) = open();
    let g = mgr.create_group(guid()).unwrap();
    let jobs: Vec<_> = (0..4).map(|_| g.create_job(guid()).unwrap()).collect();
    jobs[1].cancel().unwrap();
    let got: Vec<Guid> = g.enum_jobs(0).unwrap().collect();
    assert_eq!(got, vec![jobs[0].id(), jobs[2].id(), jobs[3].id()], "a cancelled job is not listed");
    let mut e = g.enum_jobs(0).unwrap();
    assert_eq!(e.count_all(), 3);
    assert_eq!(e.next_batch(2), got[..2].to_vec());
    assert!(!e.skip_items(2));
    for id in got {
        assert_eq!(g.get_job(id).unwrap().id(), id);
    }
    g.cancel().unwrap();
    assert_eq!(hr(g.enum_jobs(0)), QM_E_INVALID_STATE);
}

#[test]
fn enum_groups_of_an_empty_queue_is_empty() {
    let (mgr, _fake) = open();
    let mut e = mgr.enum_groups(0).unwrap();
    assert_eq!(e.count_all(), 0);
    assert_eq!(e.next_batch(1), Vec::<Guid>::new());
    assert!(e.skip_items(0));
    assert!(!e.skip_items(1));
}
