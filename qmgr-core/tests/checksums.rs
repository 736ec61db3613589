//! DECISIONS D15 (checksums): `Job::set_file_checksum` — its checks, its persistence, the
//! checksum handed to the transport, what the engine does with a digest mismatch (fatal
//! `QMGR_E_BAD_DIGEST`, the temporary file deleted, the file back to zero), and a checksum set
//! while the file is fetched or committed.
//!
//! The fake transport stands for the hashing one: a script's `digest` is the remote file's
//! digest, and a fetch whose checksum differs ends with `Cause::DigestMismatch`, as
//! `qmgr-net` ends it (tested there and end to end in `tests/`).

mod common;

use common::*;
use qmgr_core::hresult::{E_INVALIDARG, QMGR_E_BAD_DIGEST, QM_E_INVALID_STATE};
use qmgr_core::model::{status, temp_path_for, Checksum, ErrorClass};

fn sha256(byte: &str) -> Checksum {
    Checksum::parse("sha-256", &byte.repeat(32)).unwrap()
}

#[test]
fn d15_set_file_checksum_checks_its_arguments() {
    let (mgr, fake) = open();
    let (_g, j) = group_with(&mgr, &fake, vec![("a", Script::new(10)), ("b", Script::new(10))]);
    let table = [
        (0, "md5", "00".repeat(16), "algorithm \"md5\""),
        (0, "sha-256", "00".repeat(31), "hex_digest has 62 hex digits"),
        (0, "sha-512", "00".repeat(32), "hex_digest has 64 hex digits; a sha-512 digest has 128"),
        (0, "sha-256", format!("{}zz", "00".repeat(31)), "hex_digest has 'z' at position 62"),
        (2, "sha-256", "00".repeat(32), "file_index 2 is out of range (the job has 2 files)"),
        (u32::MAX, "sha-256", "00".repeat(32), "file_index 4294967295 is out of range"),
    ];
    for (index, alg, hex, words) in table {
        let e = err("SetFileChecksum", j.set_file_checksum(index, alg, &hex));
        assert_eq!(e.hr, E_INVALIDARG, "{index} {alg} {hex}");
        assert!(e.message.starts_with("SetFileChecksum: "), "{}", e.message);
        assert!(e.message.contains(words), "{:?} lacks {words:?}", e.message);
    }
    let snap = j.group().snapshot().unwrap();
    assert!(snap.jobs[0].files.iter().all(|f| f.checksum.is_none()), "nothing set by a refused call");
    j.set_file_checksum(1, "SHA-512", &"Ab".repeat(64)).unwrap();
    let snap = j.group().snapshot().unwrap();
    let want = Checksum::parse("sha-512", &"ab".repeat(64)).unwrap();
    assert_eq!(snap.jobs[0].files[1].checksum, Some(want));
}

#[test]
fn d15_set_file_checksum_is_refused_for_cancelled_work_and_complete_files() {
    let (mgr, fake) = open();
    let (g, j) = group_with(&mgr, &fake, vec![("a", Script::new(10))]);
    let j2 = add_job(&g, &fake, vec![("b", Script::new(10))]);
    g.resume().unwrap();
    assert_eq!(settle(&g), 0x140);
    let e = err("complete file", j.set_file_checksum(0, "sha-256", &"00".repeat(32)));
    assert_eq!(e.hr, QM_E_INVALID_STATE);
    assert!(e.message.contains("file 0") && e.message.contains("is complete"), "{}", e.message);
    j2.cancel().unwrap();
    assert_eq!(hr(j2.set_file_checksum(0, "sha-256", &"00".repeat(32))), QM_E_INVALID_STATE, "cancelled job");
    g.cancel().unwrap();
    let e = err("cancelled group", j.set_file_checksum(0, "sha-256", &"00".repeat(32)));
    assert_eq!(e.hr, QM_E_INVALID_STATE);
    assert!(e.message.contains("was cancelled"), "{}", e.message);
}

#[test]
fn d15_the_checksum_is_persisted_and_handed_to_the_transport() {
    let fake = Fake::new();
    let store = SharedStore::new();
    let mgr = open_on(Box::new(store.clone()), &fake);
    let (g, j) = group_with(&mgr, &fake, vec![("a", Script::new(100).digest(sha256("11")))]);
    j.set_file_checksum(0, "sha-256", &"11".repeat(32)).unwrap();
    assert_eq!(store.image().files[0].checksum, Some(sha256("11")), "persisted before it returns");
    let gid = g.id();
    drop((g, j, mgr));
    let mgr = open_on(Box::new(store.clone()), &fake);
    let g = mgr.get_group(gid).unwrap();
    assert_eq!(g.snapshot().unwrap().jobs[0].files[0].checksum, Some(sha256("11")), "reopened");
    g.resume().unwrap();
    assert_eq!(settle(&g), 0x140);
    let requests = fake.requests_for(&url("a"));
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].checksum, Some(sha256("11")));
}

#[test]
fn d15_a_mismatch_is_a_fatal_bad_digest_and_the_temporary_file_goes() {
    let fake = Fake::new();
    let store = SharedStore::new();
    let mgr = open_on(Box::new(store.clone()), &fake);
    let (g, j) = group_with(&mgr, &fake, vec![("a", Script::new(1000).digest(sha256("11")))]);
    j.set_file_checksum(0, "sha-256", &"22".repeat(32)).unwrap();
    g.resume().unwrap();
    assert_eq!(settle(&g), 0x380, "fatal: the group is in ERROR");
    let st = j.status().unwrap();
    assert_eq!((st.win32_result, st.transport_result), (QMGR_E_BAD_DIGEST as u32, 0));
    assert_ne!(st.status & status::JOB_ERROR, 0);
    let e = j.error().unwrap().unwrap();
    assert_eq!((e.class, e.file_index), (ErrorClass::Fatal, Some(0)));
    assert!(e.message.contains(&"22".repeat(32)) && e.message.contains(&"11".repeat(32)), "{}", e.message);
    let temp = temp_path_for(&dest("a"), j.id(), 0);
    wait_until("the temporary file is deleted", || fake.discarded().contains(&temp));
    assert!(fake.committed(&dest("a")).is_none(), "never committed");
    assert_eq!(j.file_progress(0).unwrap().0, 0, "the file starts from zero next time");
    assert_eq!(store.image().files[0].bytes_done, 0, "and the store says so");
    // The right checksum and a resume: fetched again from zero, then committed.
    j.set_file_checksum(0, "sha-256", &"11".repeat(32)).unwrap();
    g.resume().unwrap();
    assert_eq!(settle(&g), 0x140);
    assert_eq!(fake.requests_for(&url("a")).last().unwrap().offset, 0);
    assert_eq!(fake.committed(&dest("a")).unwrap().len, 1000);
}

/// A checksum set while the file is being fetched is not known to that fetch: the file is
/// fetched again once complete (holding every byte, the transport only hashes them), with the
/// checksum — whether it matches or not.
#[test]
fn d15_a_checksum_set_during_the_fetch_is_checked_by_a_second_fetch() {
    for (hex, word) in [("11", 0x140), ("22", 0x380)] {
        let (mgr, fake) = open();
        let (g, j) = group_with(&mgr, &fake, vec![("a", Script::new(1000).chunk(100).gated().digest(sha256("11")))]);
        fake.allow(&url("a"), 400);
        g.resume().unwrap();
        fake.wait_reported(&url("a"), 400);
        j.set_file_checksum(0, "sha-256", &hex.repeat(32)).unwrap();
        fake.open_gate(&url("a"));
        assert_eq!(settle(&g), word, "checksum {hex}");
        let requests = fake.requests_for(&url("a"));
        assert_eq!(requests.len(), 2, "fetched again");
        assert_eq!((requests[0].offset, requests[0].checksum.clone()), (0, None));
        assert_eq!((requests[1].offset, requests[1].checksum.clone()), (1000, Some(sha256(hex))));
        assert_eq!(fake.committed(&dest("a")).is_some(), word == 0x140);
    }
}

/// Once a file is fetched and handed to the commit, it is complete in all but its name: its
/// checksum can no longer change.
#[test]
fn d15_a_file_being_committed_refuses_a_checksum() {
    let (mgr, fake) = open();
    let (g, j) = group_with(&mgr, &fake, vec![("a", Script::new(100).hold_commit())]);
    g.resume().unwrap();
    fake.wait_commit_held(&url("a"));
    assert_eq!(hr(j.set_file_checksum(0, "sha-256", &"00".repeat(32))), QM_E_INVALID_STATE);
    fake.release_commit(&url("a"));
    assert_eq!(settle(&g), 0x140);
    assert_eq!(fake.requests_for(&url("a")).len(), 1);
}
