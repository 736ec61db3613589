//! Credentials at rest (issue #14, item 6): the group password lives in the 0600 database,
//! but a password that was replaced, cleared, or whose group was cancelled must not stay
//! readable in the database file, its WAL or its shared-memory index.
//!
//! Each test greps the raw bytes of `queue.sqlite`, `queue.sqlite-wal` and
//! `queue.sqlite-shm` while the stores are still open (closing the last connection would
//! checkpoint and delete the WAL by itself, hiding the problem). A second store on the same
//! directory plays another process that keeps the queue open.

use qmgr_core::guid::Guid;
use qmgr_core::model::{FileRecord, GroupProps, GroupRecord, GroupState, JobRecord, Validators};
use qmgr_core::store::{Op, Store};
use qmgr_store::{SqliteStore, DB_FILE_NAME};
use std::path::Path;

fn id(n: u8) -> Guid {
    Guid::from_bytes([n, 0x5e, 0xc2, 0xe7, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, n])
}

fn group(n: u8, password: &str) -> GroupRecord {
    GroupRecord {
        id: id(n),
        seq: n as u64,
        state: GroupState::Suspended,
        foreground: false,
        props: GroupProps {
            remote_user: "alice".into(),
            remote_password: password.into(),
            display_name: format!("group {n}"),
            ..GroupProps::default()
        },
    }
}

/// A group with a password and one job of a few files, stored and updated a few times (so
/// the WAL holds several images of its page), as the engine would.
fn populate(s: &mut SqliteStore, n: u8, password: &str) {
    let g = group(n, password);
    let job =
        JobRecord { id: id(n + 100), group_id: g.id, seq: 1, foreground: false, retries: 0, error: None, active_ms: 0 };
    let mut ops = vec![Op::CreateGroup(g.clone()), Op::PutJob(job)];
    for index in 0..3 {
        ops.push(Op::PutFile(FileRecord {
            job_id: id(n + 100),
            index,
            url: format!("https://example.invalid/{n}/{index}"),
            local_path: format!("/tmp/out/{n}.{index}"),
            size_hint: 0,
            bytes_done: 0,
            held_ranges: None,
            validators: Validators::default(),
            checksum: None,
            complete: false,
        }));
    }
    s.apply(&ops).unwrap();
    for p in 1..4u32 {
        let mut g = g.clone();
        g.props.progress_percent = p;
        s.apply(&[Op::UpdateGroup(g)]).unwrap();
    }
}

fn set_password(s: &mut SqliteStore, n: u8, password: &str) {
    let mut g = group(n, password);
    g.props.progress_percent = 9;
    s.apply(&[Op::UpdateGroup(g)]).unwrap();
}

/// The files of the database (`queue.sqlite`, `-wal`, `-shm`) that hold `needle`, with its
/// number of occurrences in each.
fn holders(dir: &Path, needle: &str) -> Vec<(String, usize)> {
    let mut found = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let name = format!("{DB_FILE_NAME}{suffix}");
        let Ok(bytes) = std::fs::read(dir.join(&name)) else { continue };
        let n = bytes.windows(needle.len()).filter(|w| *w == needle.as_bytes()).count();
        if n > 0 {
            found.push((name, n));
        }
    }
    found
}

/// A replaced password is gone from every file; the current one is there (so the search
/// works), and another process's view of the queue is intact.
#[test]
fn replaced_password_leaves_no_trace() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = SqliteStore::open(tmp.path()).unwrap();
    let mut b = SqliteStore::open(tmp.path()).unwrap();
    populate(&mut a, 1, "OldPw-7f3a9c51-first");
    b.load().unwrap();
    assert!(!holders(tmp.path(), "OldPw-7f3a9c51-first").is_empty(), "the search finds a stored password");

    set_password(&mut a, 1, "NewPw-2b6d0e84-second");
    assert_eq!(holders(tmp.path(), "OldPw-7f3a9c51-first"), vec![], "old password left on disk");
    assert!(!holders(tmp.path(), "NewPw-2b6d0e84-second").is_empty(), "the current password is stored");
    let image = b.load().unwrap();
    assert_eq!(image.groups[0].props.remote_password, "NewPw-2b6d0e84-second");
    assert_eq!(image.files.len(), 3);

    // Replaced by the other connection this time, then cleared.
    set_password(&mut b, 1, "");
    assert_eq!(holders(tmp.path(), "NewPw-2b6d0e84-second"), vec![], "cleared password left on disk");
    assert_eq!(a.load().unwrap().groups[0].props.remote_password, "");
}

/// Cancelling (deleting) a group that holds a password removes the password from every
/// file; other groups' passwords stay.
#[test]
fn cancelled_group_password_leaves_no_trace() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = SqliteStore::open(tmp.path()).unwrap();
    let mut b = SqliteStore::open(tmp.path()).unwrap();
    populate(&mut a, 1, "GonePw-c41e9a07-cancelled");
    populate(&mut a, 2, "KeptPw-90d3b8f2-kept");
    b.load().unwrap();

    a.apply(&[Op::DeleteGroup(id(1))]).unwrap();
    assert_eq!(holders(tmp.path(), "GonePw-c41e9a07-cancelled"), vec![], "cancelled group's password left on disk");
    assert!(!holders(tmp.path(), "KeptPw-90d3b8f2-kept").is_empty());
    let image = b.load().unwrap();
    assert_eq!(image.groups.len(), 1);
    assert_eq!(image.groups[0].props.remote_password, "KeptPw-90d3b8f2-kept");
}

/// A password written while another connection holds a read transaction (so the WAL cannot
/// be emptied at once) is scrubbed once that reader is gone, at the next write.
#[test]
fn password_replaced_under_a_reader_is_scrubbed_later() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = SqliteStore::open(tmp.path()).unwrap();
    populate(&mut a, 1, "HeldPw-5a7c2e19-reader");
    let reader = rusqlite::Connection::open(tmp.path().join(DB_FILE_NAME)).unwrap();
    reader.execute_batch("BEGIN; SELECT count(*) FROM groups;").unwrap();
    set_password(&mut a, 1, "NextPw-e8b0f4d6-after");
    assert!(!holders(tmp.path(), "HeldPw-5a7c2e19-reader").is_empty(), "the reader kept the WAL");
    reader.execute_batch("COMMIT").unwrap();
    // The engine's 200 ms poll finishes the job, without any write.
    a.changed_by_others().unwrap();
    assert_eq!(holders(tmp.path(), "HeldPw-5a7c2e19-reader"), vec![]);
    assert_eq!(a.load().unwrap().groups[0].props.remote_password, "NextPw-e8b0f4d6-after");
}
