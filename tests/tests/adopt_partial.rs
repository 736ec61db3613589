//! `Manager::probe` and `Job::adopt_partial` (issue #15, `qmgr get --continue`) through the
//! Rust API against a well-behaved server: a partial file left by another tool becomes a
//! file's temporary file, its checkpoint stored before the engine may use it, and the transfer
//! continues it with `Range` and `If-Range` — after a reopen too; a file that changed restarts
//! from zero (DECISIONS D4, D5, D6).

#![forbid(unsafe_code)]

use qmgr_rs::hresult::{win32, E_INVALIDARG, QM_E_INVALID_STATE};
use qmgr_rs::model::GroupState;
use qmgr_rs::{FileSpec, Group, Guid, Job, Manager};
use qmgr_tests::range_server::{RangeServer, Resource, LAST_MODIFIED};
use std::path::Path;
use std::time::Duration;

const LEN: usize = 300_000;
const HELD: usize = 100_000;
const SETTLE: Duration = Duration::from_secs(60);

fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

/// A suspended foreground group with one job downloading `url` to `dest`.
fn group_for(m: &Manager, url: &str, dest: &Path) -> (Group, Job) {
    let group = m.create_group(Guid::generate()).unwrap();
    let job = group.create_job(Guid::generate()).unwrap();
    job.add_files(&[FileSpec::new(url, dest.to_str().unwrap())]).unwrap();
    group.switch_to_foreground().unwrap();
    (group, job)
}

fn settle(group: &Group) -> GroupState {
    let (settled, word) = group.wait(Some(SETTLE)).unwrap();
    assert!(settled, "still running after {SETTLE:?} (status {word:#x})");
    group.state().unwrap()
}

#[test]
fn an_adopted_partial_file_is_continued_with_a_ranged_request_after_a_reopen() {
    let server = RangeServer::start();
    let res = Resource::new(bytes(LEN, 1));
    server.add("/f", res.clone());
    let work = tempfile::tempdir().unwrap();
    let (queue, dest) = (work.path().join("queue"), work.path().join("f.bin"));
    std::fs::write(&dest, &res.body()[..HELD]).unwrap();

    let m = qmgr_rs::open(Some(&queue)).unwrap();
    let probe = m.probe(&server.url("/f")).unwrap();
    assert_eq!(probe.validators.total, Some(LEN as u64));
    assert_eq!(probe.validators.etag.as_deref(), Some(res.etag()));
    assert_eq!(probe.validators.last_modified.as_deref(), Some(LAST_MODIFIED));
    assert!(probe.accepts_ranges);
    let (group, job) = group_for(&m, &server.url("/f"), &dest);
    job.adopt_partial(0, &dest, HELD as u64, &probe).unwrap();
    let temp = qmgr_rs::model::temp_path_for(dest.to_str().unwrap(), job.id(), 0);
    assert!(!dest.exists(), "renamed, not copied");
    assert_eq!(std::fs::read(&temp).unwrap(), &res.body()[..HELD]);
    assert_eq!(job.file_progress(0).unwrap(), (HELD as u64, LEN as u64, false));
    // Adopting again: the file holds bytes now.
    let e = job.adopt_partial(0, &temp, HELD as u64, &probe).unwrap_err();
    assert_eq!(e.hr, QM_E_INVALID_STATE, "{e}");
    let id = group.id();
    drop((group, job, m));

    // The checkpoint was stored: another manager (a later process) continues from it.
    let m = qmgr_rs::open(Some(&queue)).unwrap();
    let group = m.get_group(id).unwrap();
    group.resume().unwrap();
    assert_eq!(settle(&group), GroupState::Complete);
    assert!(std::fs::read(&dest).unwrap() == res.body(), "byte-exact");
    assert!(!temp.exists());
    let gets: Vec<_> = server.served().into_iter().filter(|s| s.status != 200 || s.range_start.is_some()).collect();
    assert_eq!(gets.len(), 1, "{gets:?}");
    assert_eq!((gets[0].status, gets[0].range_start), (206, Some(HELD as u64)));
    assert_eq!(gets[0].if_range.as_deref(), Some(res.etag()));
    assert_eq!(server.stats("/f").sent, (LEN - HELD) as u64, "only the missing bytes were sent");
}

#[test]
fn a_partial_file_of_a_version_that_changed_restarts_from_zero() {
    let server = RangeServer::start();
    let old = Resource::new(bytes(LEN, 2));
    server.add("/f", old.clone());
    let work = tempfile::tempdir().unwrap();
    let dest = work.path().join("f.bin");
    std::fs::write(&dest, &old.body()[..HELD]).unwrap();
    let m = qmgr_rs::open(Some(&work.path().join("queue"))).unwrap();
    let probe = m.probe(&server.url("/f")).unwrap();
    let (group, job) = group_for(&m, &server.url("/f"), &dest);
    job.adopt_partial(0, &dest, HELD as u64, &probe).unwrap();
    let new = Resource::new(bytes(LEN, 3));
    server.add("/f", new.clone());
    group.resume().unwrap();
    assert_eq!(settle(&group), GroupState::Complete);
    assert!(std::fs::read(&dest).unwrap() == new.body(), "the new version, whole");
    let served = server.served();
    let last = served.last().unwrap();
    assert_eq!((last.status, last.range_start), (200, Some(HELD as u64)), "If-Range failed: {served:?}");
    assert_eq!(last.if_range.as_deref(), Some(old.etag()));
}

#[test]
fn adoption_is_refused_where_it_cannot_be_continued_and_a_failed_rename_changes_nothing() {
    let server = RangeServer::start();
    server.add("/f", Resource::new(bytes(LEN, 4)));
    let work = tempfile::tempdir().unwrap();
    let dest = work.path().join("f.bin");
    let m = qmgr_rs::open(Some(&work.path().join("queue"))).unwrap();
    let probe = m.probe(&server.url("/f")).unwrap();
    let (group, job) = group_for(&m, &server.url("/f"), &dest);

    // The partial file is missing: the rename fails, the checkpoint goes back to zero.
    let e = job.adopt_partial(0, &work.path().join("missing"), HELD as u64, &probe).unwrap_err();
    // ENOENT of a local operation is ERROR_PATH_NOT_FOUND (reference §5.8).
    assert_eq!(e.win32, Some(win32::ERROR_PATH_NOT_FOUND), "{e}");
    assert!(e.message.starts_with("AdoptPartial: "), "{e}");
    assert_eq!(job.file_progress(0).unwrap().0, 0);

    std::fs::write(&dest, vec![0u8; HELD]).unwrap();
    let mut weak = probe.clone();
    weak.validators.etag = Some("W/\"weak\"".into());
    weak.validators.last_modified = None;
    for (held, remote, says) in [
        (HELD as u64, &weak, "no ETag or Last-Modified"),
        (LEN as u64, &probe, "is not continued"),
        (LEN as u64 + 1, &probe, "more than the"),
    ] {
        let e = job.adopt_partial(0, &dest, held, remote).unwrap_err();
        assert_eq!(e.hr, E_INVALIDARG, "{e}");
        assert!(e.message.contains(says), "{says}: {e}");
    }
    let e = job.adopt_partial(1, &dest, HELD as u64, &probe).unwrap_err();
    assert!(e.message.contains("out of range"), "{e}");
    assert_eq!(std::fs::read(&dest).unwrap().len(), HELD, "untouched");

    // A running group's files are the engine's.
    server.add("/slow", Resource::new(bytes(LEN, 5)).rate(20_000));
    let (busy, busy_job) = group_for(&m, &server.url("/slow"), &work.path().join("slow.bin"));
    busy.resume().unwrap();
    let e = busy_job.adopt_partial(0, &dest, HELD as u64, &probe).unwrap_err();
    assert_eq!(e.hr, QM_E_INVALID_STATE, "{e}");
    busy.cancel().unwrap();
    group.cancel().unwrap();
    assert_eq!(std::fs::read(&dest).unwrap().len(), HELD, "still untouched");
}
