//! Behaviour of `SqliteStore` through its public API: the `Store` semantics of `MemStore`,
//! persistence across reopen, file modes, schema versions and the transfer lock.

use qmgr_core::guid::Guid;
use qmgr_core::hresult::QM_E_SERVICE_UNAVAILABLE;
use qmgr_core::model::{
    Checksum, ErrorClass, FileRecord, GroupProps, GroupRecord, GroupState, HeldRanges, JobError, JobRecord, QueueImage,
    Validators,
};
use qmgr_core::store::{Loaded, MemStore, Op, Store};
use qmgr_store::{SqliteStore, DB_FILE_NAME, LOCK_FILE_NAME, SCHEMA_VERSION};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn g(n: u8) -> Guid {
    Guid::from_bytes([n, 0xa1, 0xb2, 0xc3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, n])
}

fn group(n: u8, seq: u64) -> GroupRecord {
    GroupRecord { id: g(n), seq, state: GroupState::Suspended, foreground: false, props: GroupProps::default() }
}

fn job(n: u8, group: u8, seq: u64) -> JobRecord {
    JobRecord { id: g(n), group_id: g(group), seq, foreground: false, retries: 0, error: None, active_ms: 0 }
}

fn file(job: u8, index: u32) -> FileRecord {
    FileRecord {
        job_id: g(job),
        index,
        url: format!("https://example.invalid/{job}/{index}"),
        local_path: format!("/tmp/out/{job}.{index}"),
        size_hint: 0,
        bytes_done: 0,
        held_ranges: None,
        validators: Validators::default(),
        checksum: None,
        complete: false,
    }
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

fn reopen_load(dir: &Path) -> QueueImage {
    SqliteStore::open(dir).unwrap().load().unwrap()
}

/// Every field of every record type, with extreme and non-default values, survives
/// apply + drop + reopen, and equals what `MemStore` returns for the same ops.
#[test]
fn every_field_round_trips_through_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("q");
    let states =
        [GroupState::Suspended, GroupState::Running, GroupState::Error, GroupState::Complete, GroupState::Cancelled];
    let mut ops = Vec::new();
    for (i, state) in states.iter().enumerate() {
        let i = i as u8;
        ops.push(Op::CreateGroup(GroupRecord {
            id: g(i + 1),
            seq: [0, 1, 7, u32::MAX as u64 + 5, i64::MAX as u64][i as usize],
            state: *state,
            foreground: i % 2 == 1,
            props: GroupProps {
                priority: i as u32 % 3,
                remote_user: format!("user{i} é"),
                remote_password: format!("pässword {i} 🔑"),
                protocol: 1 + i as u32 % 4,
                notify_flags: 0xC7 ^ i as u32,
                notify_clsid: "{69ad4aee-51be-439b-a92c-86ae490e8b30}".into(),
                progress_size: u32::MAX - i as u32,
                progress_percent: 100 - i as u32,
                progress_time: 1000 + i as u32,
                display_name: "名前".repeat(i as usize + 1),
                description: format!("line1\nline2 '\"; DROP TABLE groups; -- {i}"),
                rate_limit: [0, 1, 512 * 1024, i64::MAX as u64 + 1, u64::MAX][i as usize],
            },
        }));
    }
    ops.push(Op::PutJob(JobRecord {
        id: g(20),
        group_id: g(1),
        seq: 0,
        foreground: true,
        retries: u32::MAX,
        error: None,
        active_ms: u64::MAX,
    }));
    ops.push(Op::PutJob(JobRecord {
        id: g(21),
        group_id: g(1),
        seq: 1,
        foreground: false,
        retries: 3,
        error: Some(JobError {
            class: ErrorClass::Transient,
            win32: 12029,
            transport: 0,
            file_index: Some(u32::MAX),
            message: "connection refused".into(),
        }),
        active_ms: 1234,
    }));
    ops.push(Op::PutJob(JobRecord {
        id: g(22),
        group_id: g(2),
        seq: 2,
        foreground: true,
        retries: 1,
        error: Some(JobError {
            class: ErrorClass::Fatal,
            win32: 0x8019_0194,
            transport: 404,
            file_index: None,
            message: String::new(),
        }),
        active_ms: 0,
    }));
    ops.push(Op::PutFile(FileRecord {
        job_id: g(20),
        index: 0,
        url: "https://example.invalid/a?b=c&d=%20".into(),
        local_path: "/tmp/ü/a.bin".into(),
        size_hint: u32::MAX,
        bytes_done: u64::MAX,
        held_ranges: None,
        validators: Validators {
            etag: Some("W/\"abc\"".into()),
            last_modified: Some("Wed, 21 Oct 2015 07:28:00 GMT".into()),
            total: Some(u64::MAX),
        },
        checksum: Some(Checksum::parse("SHA-512", &"Fe".repeat(64)).unwrap()),
        complete: true,
    }));
    ops.push(Op::PutFile(FileRecord {
        job_id: g(20),
        index: u32::MAX,
        url: "file:///srv/share/x".into(),
        local_path: "/tmp/x".into(),
        size_hint: 0,
        bytes_done: 0,
        held_ranges: None,
        validators: Validators { etag: Some(String::new()), last_modified: None, total: Some(0) },
        checksum: Some(Checksum::parse("sha-256", &"0a".repeat(32)).unwrap()),
        complete: false,
    }));
    ops.push(Op::PutFile(file(22, 5)));
    ops.push(Op::SetOption { name: "max_active_groups".into(), value: "7".into() });
    ops.push(Op::SetOption { name: "user_agent".into(), value: String::new() });
    ops.push(Op::SetOption { name: "proxy".into(), value: "http://proxy.invalid:3128".into() });

    let mut mem = MemStore::new();
    mem.apply(&ops).unwrap();
    let expected = mem.load().unwrap();
    assert_eq!(expected.groups.len(), 5);
    assert_eq!(expected.files.len(), 3);

    {
        let mut s = SqliteStore::open(&dir).unwrap();
        s.apply(&ops).unwrap();
        assert_eq!(s.load().unwrap(), expected);
    }
    assert_eq!(reopen_load(&dir), expected);
}

/// A deterministic pseudo-random sequence of ops applied in small batches to `MemStore` and
/// `SqliteStore` gives the same image after every batch. As the engine does, a record keeps
/// the seq it was created with when it is put again (creation order = seq order); a shadow
/// `MemStore` tells which records exist while a batch is generated.
#[test]
fn same_results_as_memstore_on_random_op_sequences() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = SqliteStore::open(tmp.path()).unwrap();
    let mut mem = MemStore::new();
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut rnd = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let mut shadow = MemStore::new();
    // A second store follows the queue as another process's engine would: by load_changes.
    let mut follower = SqliteStore::open(tmp.path()).unwrap();
    let mut followed = QueueImage::default();
    let mut partial_loads = 0;
    let mut next_seq = 0u64;
    let (mut most, mut files_seen) = ((0, 0), 0);
    for _batch in 0..150 {
        let mut ops = Vec::new();
        for _ in 0..1 + rnd(6) {
            let now = shadow.load().unwrap();
            next_seq += 1;
            let group_seq = |id: Guid| now.groups.iter().find(|x| x.id == id).map_or(next_seq, |x| x.seq);
            let job_seq = |id: Guid| now.jobs.iter().find(|x| x.id == id).map_or(next_seq, |x| x.seq);
            let op = match rnd(10) {
                0 => {
                    let n = rnd(6) as u8;
                    let mut gr = group(n, group_seq(g(n)));
                    gr.props.priority = rnd(3) as u32;
                    gr.state = GroupState::from_code(rnd(4) as i64).unwrap();
                    // Create a new group, update an existing one (or a vanished one: ignored).
                    match now.groups.iter().any(|x| x.id == gr.id) || rnd(4) == 0 {
                        true => Op::UpdateGroup(gr),
                        false => Op::CreateGroup(gr),
                    }
                }
                1 => Op::DeleteGroup(g(rnd(6) as u8)),
                2 | 3 => {
                    let n = 10 + rnd(10) as u8;
                    let mut j = job(n, rnd(6) as u8, job_seq(g(n)));
                    j.retries = rnd(5) as u32;
                    Op::PutJob(j)
                }
                4 => Op::DeleteJob(g(10 + rnd(10) as u8)),
                5 | 6 => {
                    let mut f = file(10 + rnd(10) as u8, rnd(4) as u32);
                    f.bytes_done = rnd(1000);
                    f.complete = rnd(3) == 0;
                    Op::PutFile(f)
                }
                8 => Op::SetFileChecksum {
                    job_id: g(10 + rnd(10) as u8),
                    index: rnd(4) as u32,
                    checksum: Checksum::parse("sha-256", &format!("{:02x}", rnd(256)).repeat(32)).unwrap(),
                },
                7 => Op::Checkpoint {
                    job_id: g(10 + rnd(10) as u8),
                    index: rnd(4) as u32,
                    bytes_done: rnd(1 << 40),
                    held_ranges: (rnd(2) == 1).then(|| {
                        let mut h = HeldRanges::prefix(rnd(1000) + 1);
                        h.add(2000, 3000 + rnd(1000));
                        h
                    }),
                    validators: Validators {
                        etag: Some(format!("\"{}\"", rnd(100))),
                        last_modified: None,
                        total: Some(1 << 40),
                    },
                    job_active_ms: rnd(100_000),
                },
                _ => Op::SetOption { name: format!("opt{}", rnd(4)), value: rnd(100).to_string() },
            };
            shadow.apply(std::slice::from_ref(&op)).unwrap();
            ops.push(op);
        }
        mem.apply(&ops).unwrap();
        s.apply(&ops).unwrap();
        let img = s.load().unwrap();
        assert_eq!(img, mem.load().unwrap(), "after {ops:?}");
        let loaded = follower.load_changes().unwrap();
        partial_loads += usize::from(matches!(loaded, Loaded::Changes { .. }));
        merge(&mut followed, loaded);
        assert_eq!(followed, img, "follower, after {ops:?}");
        most.0 = most.0.max(img.groups.len());
        most.1 = most.1.max(img.jobs.len());
        files_seen += img.files.len();
    }
    // The sequence really exercised nested records.
    assert!(most.0 >= 3 && most.1 >= 5 && files_seen >= 100, "{most:?} {files_seen}");
    assert_eq!(partial_loads, 149, "only the first load is full");
}

/// What an engine does with `load_changes`: replaces its image, or replaces the changed
/// groups (with their jobs and files) and removes the deleted ones, keeping creation order
/// (seqs are unique in these tests).
fn merge(image: &mut QueueImage, loaded: Loaded) {
    let (changes, deleted) = match loaded {
        Loaded::Full(full) => {
            *image = full;
            return;
        }
        Loaded::Changes { image, deleted } => (image, deleted),
    };
    let replaced: Vec<Guid> = changes.groups.iter().map(|g| g.id).chain(deleted).collect();
    let jobs_gone: Vec<Guid> = image.jobs.iter().filter(|j| replaced.contains(&j.group_id)).map(|j| j.id).collect();
    image.groups.retain(|g| !replaced.contains(&g.id));
    image.jobs.retain(|j| !replaced.contains(&j.group_id));
    image.files.retain(|f| !jobs_gone.contains(&f.job_id));
    image.options = changes.options;
    image.groups.extend(changes.groups);
    image.jobs.extend(changes.jobs);
    image.files.extend(changes.files);
    image.groups.sort_by_key(|g| g.seq);
    image.jobs.sort_by_key(|j| j.seq);
    let jobs = &image.jobs;
    image.files.sort_by_key(|f| (jobs.iter().position(|j| j.id == f.job_id), f.index));
}

/// `load_changes` returns the groups changed since the last look — by a create, an update,
/// a job or file put, a checkpoint, a job delete — whole, and the deleted ones; nothing for
/// the store's own writes when nobody else wrote meanwhile; a GUID deleted and created again
/// as a changed group, not a deletion.
#[test]
fn load_changes_returns_changed_groups_whole_and_deletions() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = SqliteStore::open(tmp.path()).unwrap();
    let mut b = SqliteStore::open(tmp.path()).unwrap();
    let changes = |s: &mut SqliteStore| match s.load_changes().unwrap() {
        Loaded::Changes { image, deleted } => (image, deleted),
        Loaded::Full(_) => panic!("full load where changes were expected"),
    };
    b.apply(&[Op::CreateGroup(group(1, 1)), Op::CreateGroup(group(2, 2)), Op::PutJob(job(10, 1, 3))]).unwrap();
    b.apply(&[Op::PutFile(file(10, 0)), Op::PutFile(file(10, 1)), Op::PutJob(job(11, 2, 4))]).unwrap();
    assert!(matches!(a.load_changes().unwrap(), Loaded::Full(_)), "first look");
    let (img, deleted) = changes(&mut a);
    assert_eq!((img, deleted), (QueueImage::default(), vec![]), "nothing changed");

    // A checkpoint changes group 1: it comes back with its job and both files.
    let ckpt = Op::Checkpoint {
        job_id: g(10),
        index: 1,
        bytes_done: 77,
        held_ranges: None,
        validators: Validators::default(),
        job_active_ms: 5,
    };
    b.apply(&[ckpt]).unwrap();
    let (img, deleted) = changes(&mut a);
    assert_eq!(img.groups, vec![group(1, 1)]);
    assert_eq!(img.jobs.iter().map(|j| j.id).collect::<Vec<_>>(), vec![g(10)]);
    assert_eq!(img.files.iter().map(|f| (f.index, f.bytes_done)).collect::<Vec<_>>(), vec![(0, 0), (1, 77)]);
    assert!(deleted.is_empty());

    // Deleting a job changes its group; deleting a group is a deletion.
    b.apply(&[Op::DeleteJob(g(11))]).unwrap();
    b.apply(&[Op::DeleteGroup(g(1)), Op::SetOption { name: "x".into(), value: "1".into() }]).unwrap();
    let (img, deleted) = changes(&mut a);
    assert_eq!((img.groups, img.jobs.len(), img.options), (vec![group(2, 2)], 0, vec![("x".into(), "1".into())]));
    assert_eq!(deleted, vec![g(1)]);

    // Own writes while nobody else writes: nothing to read back.
    a.apply(&[Op::CreateGroup(group(3, 5))]).unwrap();
    let (img, deleted) = changes(&mut a);
    assert!(img.groups.is_empty() && deleted.is_empty(), "{img:?}");

    // Own and foreign writes interleaved: both are read back.
    b.apply(&[Op::CreateGroup(group(1, 6))]).unwrap();
    a.apply(&[Op::UpdateGroup(group(3, 5))]).unwrap();
    let (img, deleted) = changes(&mut a);
    assert_eq!(img.groups, vec![group(3, 5), group(1, 6)], "GUID 1 created again is a change");
    assert!(deleted.is_empty());
}

/// A follower that last looked before the oldest kept deletion record, or at a revision the
/// database never reached (restored from an older copy), loads the whole queue.
#[test]
fn load_changes_falls_back_to_a_full_load() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = SqliteStore::open(tmp.path()).unwrap();
    let mut b = SqliteStore::open(tmp.path()).unwrap();
    a.load().unwrap();
    b.apply(&[Op::CreateGroup(group(1, 1))]).unwrap();
    let raw = rusqlite::Connection::open(tmp.path().join(DB_FILE_NAME)).unwrap();
    raw.execute("UPDATE revision SET pruned = rev", []).unwrap();
    assert!(matches!(a.load_changes().unwrap(), Loaded::Full(img) if img.groups == vec![group(1, 1)]));
    assert!(matches!(a.load_changes().unwrap(), Loaded::Changes { .. }));
    raw.execute("UPDATE revision SET rev = 0, pruned = 0", []).unwrap();
    assert!(matches!(a.load_changes().unwrap(), Loaded::Full(img) if img.groups == vec![group(1, 1)]));
}

/// Deletion records older than the kept window are pruned: the table does not grow with
/// every group ever cancelled.
#[test]
fn deletion_records_are_pruned() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = SqliteStore::open(tmp.path()).unwrap();
    for n in 0..12_000u64 {
        let gr = group((n % 200) as u8, n);
        s.apply(&[Op::CreateGroup(gr.clone()), Op::DeleteGroup(gr.id)]).unwrap();
    }
    let raw = rusqlite::Connection::open(tmp.path().join(DB_FILE_NAME)).unwrap();
    let (rev, pruned): (i64, i64) =
        raw.query_row("SELECT rev, pruned FROM revision", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    let kept: i64 = raw.query_row("SELECT count(*) FROM deleted_groups", [], |r| r.get(0)).unwrap();
    assert_eq!((rev, pruned), (12_000, 2_000));
    assert_eq!(kept, 200, "one record per GUID");
    let oldest: i64 = raw.query_row("SELECT min(rev) FROM deleted_groups", [], |r| r.get(0)).unwrap();
    assert!(oldest > pruned);
}

/// Re-putting a group or a job updates it in place: its jobs and files stay (an UPSERT, not
/// INSERT OR REPLACE, which would delete and cascade).
#[test]
fn put_of_existing_parent_keeps_children() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = SqliteStore::open(tmp.path()).unwrap();
    s.apply(&[Op::CreateGroup(group(1, 1)), Op::PutJob(job(10, 1, 2)), Op::PutFile(file(10, 0))]).unwrap();
    let mut gr = group(1, 1);
    gr.state = GroupState::Running;
    gr.props.display_name = "renamed".into();
    let mut j = job(10, 1, 2);
    j.retries = 9;
    s.apply(&[Op::UpdateGroup(gr.clone()), Op::PutJob(j.clone())]).unwrap();
    let img = reopen_load(tmp.path());
    assert_eq!(img.groups, vec![gr]);
    assert_eq!(img.jobs, vec![j]);
    assert_eq!(img.files, vec![file(10, 0)]);
}

#[test]
fn deletes_cascade() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = SqliteStore::open(tmp.path()).unwrap();
    s.apply(&[
        Op::CreateGroup(group(1, 1)),
        Op::CreateGroup(group(2, 2)),
        Op::PutJob(job(10, 1, 3)),
        Op::PutJob(job(11, 1, 4)),
        Op::PutJob(job(12, 2, 5)),
        Op::PutFile(file(10, 0)),
        Op::PutFile(file(10, 1)),
        Op::PutFile(file(11, 0)),
        Op::PutFile(file(12, 0)),
    ])
    .unwrap();

    s.apply(&[Op::DeleteJob(g(10))]).unwrap();
    let img = reopen_load(tmp.path());
    assert_eq!(img.jobs, vec![job(11, 1, 4), job(12, 2, 5)]);
    assert_eq!(img.files, vec![file(11, 0), file(12, 0)]);

    s.apply(&[Op::DeleteGroup(g(1))]).unwrap();
    let img = reopen_load(tmp.path());
    assert_eq!(img.groups, vec![group(2, 2)]);
    assert_eq!(img.jobs, vec![job(12, 2, 5)]);
    assert_eq!(img.files, vec![file(12, 0)]);

    // Deleting what does not exist is not an error.
    s.apply(&[Op::DeleteGroup(g(1)), Op::DeleteJob(g(99))]).unwrap();
    assert_eq!(s.load().unwrap(), img);
}

#[test]
fn put_of_orphan_job_or_file_is_ignored() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = SqliteStore::open(tmp.path()).unwrap();
    s.apply(&[
        Op::PutJob(job(10, 1, 1)), // no group 1
        Op::PutFile(file(10, 0)),  // no job 10
        Op::CreateGroup(group(2, 2)),
        Op::PutJob(job(11, 2, 3)),
        Op::DeleteGroup(g(2)),
        Op::PutJob(job(11, 2, 4)), // group deleted earlier in the same transaction
        Op::PutFile(file(11, 0)),
    ])
    .unwrap();
    assert_eq!(reopen_load(tmp.path()), QueueImage::default());

    // Moving an existing job to a group that does not exist is ignored too (as MemStore).
    s.apply(&[Op::CreateGroup(group(3, 5)), Op::PutJob(job(12, 3, 6))]).unwrap();
    s.apply(&[Op::PutJob(job(12, 4, 7))]).unwrap();
    assert_eq!(s.load().unwrap().jobs, vec![job(12, 3, 6)]);
}

#[test]
fn checkpoint_updates_only_existing_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = SqliteStore::open(tmp.path()).unwrap();
    s.apply(&[
        Op::CreateGroup(group(1, 1)),
        Op::PutJob(job(10, 1, 2)),
        Op::PutFile(file(10, 0)),
        Op::PutFile(file(10, 1)),
    ])
    .unwrap();
    let v = Validators {
        etag: Some("\"e1\"".into()),
        last_modified: Some("Thu, 01 Jan 1970 00:00:00 GMT".into()),
        total: Some(5 << 32),
    };
    let cp = |index, bytes_done, active| Op::Checkpoint {
        job_id: g(10),
        index,
        bytes_done,
        held_ranges: None,
        validators: v.clone(),
        job_active_ms: active,
    };
    s.apply(&[cp(1, 4 << 32, 777)]).unwrap();
    let img = reopen_load(tmp.path());
    let mut want = file(10, 1);
    want.bytes_done = 4 << 32;
    want.validators = v.clone();
    assert_eq!(img.files, vec![file(10, 0), want.clone()]);
    assert_eq!(img.jobs[0].active_ms, 777);

    // A file fetched in segments: its ranges come back as they were checkpointed (schema 5).
    let mut ranges = HeldRanges::prefix(4 << 20);
    ranges.add(5 << 32, (5 << 32) + 7);
    let segmented = Op::Checkpoint {
        job_id: g(10),
        index: 1,
        bytes_done: ranges.total(),
        held_ranges: Some(ranges.clone()),
        validators: v.clone(),
        job_active_ms: 778,
    };
    s.apply(&[segmented]).unwrap();
    let img = reopen_load(tmp.path());
    assert_eq!((img.files[1].bytes_done, img.files[1].held_ranges.as_ref()), (ranges.total(), Some(&ranges)));
    s.apply(&[cp(1, 4 << 32, 777)]).unwrap();
    assert_eq!(reopen_load(tmp.path()).files[1].held_ranges, None, "a checkpoint of one stream clears them");

    // A checkpoint of a file that no longer exists does not bring it back (cancel race)…
    s.apply(&[Op::PutFile(file(10, 0)), Op::DeleteJob(g(10))]).unwrap();
    s.apply(&[cp(0, 5, 800)]).unwrap();
    let img = reopen_load(tmp.path());
    assert!(img.jobs.is_empty() && img.files.is_empty(), "{img:?}");

    // …and one of a missing file of a live job only updates the job's active time.
    s.apply(&[Op::PutJob(job(10, 1, 3))]).unwrap();
    s.apply(&[cp(3, 5, 900)]).unwrap();
    let img = reopen_load(tmp.path());
    assert!(img.files.is_empty());
    assert_eq!(img.jobs[0].active_ms, 900);
}

/// A checksum is set only on an existing file that is not complete, and nothing else of the
/// file changes (DECISIONS D15).
#[test]
fn set_file_checksum_updates_only_an_incomplete_file() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = SqliteStore::open(tmp.path()).unwrap();
    let mut done = file(10, 1);
    done.complete = true;
    let mut partial = file(10, 0);
    partial.bytes_done = 77;
    s.apply(&[Op::CreateGroup(group(1, 1)), Op::PutJob(job(10, 1, 2)), Op::PutFile(partial.clone())]).unwrap();
    s.apply(&[Op::PutFile(done.clone())]).unwrap();
    let c = Checksum::parse("sha-256", &"5c".repeat(32)).unwrap();
    let set = |index| Op::SetFileChecksum { job_id: g(10), index, checksum: c.clone() };
    s.apply(&[set(0), set(1), set(2)]).unwrap();
    partial.checksum = Some(c.clone());
    assert_eq!(reopen_load(tmp.path()).files, vec![partial, done]);
    let mut mem = MemStore::new();
    mem.apply(&[Op::CreateGroup(group(1, 1)), Op::PutJob(job(10, 1, 2)), Op::PutFile(file(10, 0))]).unwrap();
    mem.apply(&[set(0), set(3)]).unwrap();
    assert_eq!(mem.load().unwrap().files[0].checksum, Some(c));
}

/// A queue in `dir` holding one group with one job of one file, taken back to an older
/// schema by `downgrade` (SQL run on the database), and opened again (migrated).
fn migrated_from(dir: &Path, downgrade: &str) -> SqliteStore {
    {
        let mut s = SqliteStore::open(dir).unwrap();
        s.apply(&[Op::CreateGroup(group(1, 1)), Op::PutJob(job(10, 1, 2)), Op::PutFile(file(10, 0))]).unwrap();
    }
    let raw = rusqlite::Connection::open(dir.join(DB_FILE_NAME)).unwrap();
    raw.execute_batch(downgrade).unwrap();
    drop(raw);
    SqliteStore::open(dir).unwrap()
}

/// `PRAGMA user_version` of the queue in `dir`.
fn schema_version(dir: &Path) -> i64 {
    let raw = rusqlite::Connection::open(dir.join(DB_FILE_NAME)).unwrap();
    raw.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap()
}

/// A queue written by an older schema (version 2, without `files.checksum`) opens: it is
/// migrated, and its files have no checksum.
#[test]
fn a_version_2_queue_is_migrated_and_keeps_its_files() {
    let tmp = tempfile::tempdir().unwrap();
    let v2 = "ALTER TABLE files DROP COLUMN held_ranges; ALTER TABLE files DROP COLUMN checksum; \
         ALTER TABLE groups DROP COLUMN rate_limit; PRAGMA user_version = 2;";
    let mut s = migrated_from(tmp.path(), v2);
    assert_eq!(s.load().unwrap().files, vec![file(10, 0)]);
    let c = Checksum::parse("sha-256", &"5c".repeat(32)).unwrap();
    s.apply(&[Op::SetFileChecksum { job_id: g(10), index: 0, checksum: c.clone() }]).unwrap();
    assert_eq!(reopen_load(tmp.path()).files[0].checksum, Some(c));
    assert_eq!(schema_version(tmp.path()), SCHEMA_VERSION);
}

/// Version 4 (the group's rate limit): a version-3 queue gets the column, 0 (no limit) for the
/// groups it holds, and a limit set afterwards survives a reopen.
#[test]
fn a_version_3_queue_is_migrated_and_its_groups_get_no_rate_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let v3 = "ALTER TABLE files DROP COLUMN held_ranges; ALTER TABLE groups DROP COLUMN rate_limit; \
              PRAGMA user_version = 3;";
    let mut s = migrated_from(tmp.path(), v3);
    let image = s.load().unwrap();
    assert_eq!(image.groups, vec![group(1, 1)]);
    assert_eq!(image.groups[0].props.rate_limit, 0);
    assert_eq!(image.files, vec![file(10, 0)]);
    let mut limited = group(1, 1);
    limited.props.rate_limit = 512 * 1024;
    s.apply(&[Op::UpdateGroup(limited.clone())]).unwrap();
    drop(s);
    assert_eq!(reopen_load(tmp.path()).groups, vec![limited]);
    assert_eq!(schema_version(tmp.path()), SCHEMA_VERSION);
}

/// Version 5 (segmented downloads, DECISIONS D16): a version-4 queue gets `files.held_ranges`,
/// NULL for the files it holds (they hold a prefix), and ranges checkpointed afterwards survive
/// a reopen.
#[test]
fn a_version_4_queue_is_migrated_and_its_files_hold_prefixes() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = migrated_from(tmp.path(), "ALTER TABLE files DROP COLUMN held_ranges; PRAGMA user_version = 4;");
    assert_eq!(s.load().unwrap().files, vec![file(10, 0)]);
    assert_eq!(s.load().unwrap().files[0].held_ranges, None);
    let mut held = HeldRanges::prefix(10);
    held.add(20, 30);
    let checkpoint = Op::Checkpoint {
        job_id: g(10),
        index: 0,
        bytes_done: 20,
        held_ranges: Some(held.clone()),
        validators: Validators::default(),
        job_active_ms: 1,
    };
    s.apply(&[checkpoint]).unwrap();
    drop(s);
    assert_eq!(reopen_load(tmp.path()).files[0].held_ranges, Some(held));
    assert_eq!((schema_version(tmp.path()), SCHEMA_VERSION), (5, 5));
}

/// Groups and jobs come back by seq (ties in insertion order, kept across updates); jobs
/// globally, not per group; files by their job's position, then index; options in the order
/// first set.
#[test]
fn load_order() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = SqliteStore::open(tmp.path()).unwrap();
    s.apply(&[
        Op::CreateGroup(group(3, 30)),
        Op::CreateGroup(group(1, 10)),
        Op::CreateGroup(group(4, 10)),
        Op::CreateGroup(group(2, 20)),
        Op::PutJob(job(13, 1, 5)),
        Op::PutJob(job(12, 2, 3)),
        Op::PutJob(job(11, 1, 4)),
        Op::PutJob(job(14, 3, 4)),
        Op::PutFile(file(13, 2)),
        Op::PutFile(file(11, 1)),
        Op::PutFile(file(13, 0)),
        Op::PutFile(file(12, 9)),
        Op::PutFile(file(11, 0)),
        Op::PutFile(file(14, 0)),
        Op::SetOption { name: "b".into(), value: "1".into() },
        Op::SetOption { name: "a".into(), value: "2".into() },
    ])
    .unwrap();
    // Updating rows does not move them.
    s.apply(&[
        Op::UpdateGroup(group(1, 10)),
        Op::PutJob(job(11, 1, 4)),
        Op::SetOption { name: "b".into(), value: "3".into() },
    ])
    .unwrap();
    let img = reopen_load(tmp.path());
    let ids = |v: Vec<Guid>| v;
    assert_eq!(ids(img.groups.iter().map(|x| x.id).collect()), vec![g(1), g(4), g(2), g(3)]);
    assert_eq!(ids(img.jobs.iter().map(|x| x.id).collect()), vec![g(12), g(11), g(14), g(13)]);
    let files: Vec<(Guid, u32)> = img.files.iter().map(|f| (f.job_id, f.index)).collect();
    assert_eq!(files, vec![(g(12), 9), (g(11), 0), (g(11), 1), (g(14), 0), (g(13), 0), (g(13), 2)]);
    assert_eq!(img.options, vec![("b".to_string(), "3".to_string()), ("a".to_string(), "2".to_string())]);
}

/// An apply whose last op fails leaves nothing of the earlier ones, and the store stays
/// usable. The failure is provoked with a trigger added from a second connection.
#[test]
fn failed_apply_applies_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = SqliteStore::open(tmp.path()).unwrap();
    s.apply(&[Op::CreateGroup(group(1, 1))]).unwrap();
    {
        let raw = rusqlite::Connection::open(tmp.path().join(DB_FILE_NAME)).unwrap();
        raw.execute_batch(
            "CREATE TRIGGER boom BEFORE INSERT ON options WHEN NEW.name = 'boom'
             BEGIN SELECT RAISE(ABORT, 'boom refused'); END;",
        )
        .unwrap();
    }
    let before = s.load().unwrap();
    let mut gr = group(1, 1);
    gr.state = GroupState::Running;
    let err = s
        .apply(&[
            Op::UpdateGroup(gr),
            Op::CreateGroup(group(2, 2)),
            Op::PutJob(job(10, 2, 3)),
            Op::PutFile(file(10, 0)),
            Op::DeleteGroup(g(1)),
            Op::SetOption { name: "ok".into(), value: "1".into() },
            Op::SetOption { name: "boom".into(), value: "1".into() },
        ])
        .unwrap_err();
    assert_eq!(err.hr, QM_E_SERVICE_UNAVAILABLE);
    assert!(err.message.contains("queue database"), "{}", err.message);
    assert!(err.message.contains("change 7 of 7, setting option boom"), "{}", err.message);
    assert!(err.message.contains("boom refused"), "{}", err.message);
    assert_eq!(s.load().unwrap(), before);
    assert_eq!(reopen_load(tmp.path()), before);

    s.apply(&[Op::CreateGroup(group(2, 2))]).unwrap();
    assert_eq!(s.load().unwrap().groups.len(), 2);
}

#[test]
fn created_directories_are_0700_and_files_0600() {
    let tmp = tempfile::tempdir().unwrap();
    let existing = tmp.path().join("existing");
    fs::create_dir(&existing).unwrap();
    fs::set_permissions(&existing, fs::Permissions::from_mode(0o755)).unwrap();
    let dir = existing.join("a/b/c");
    let mut s = SqliteStore::open(&dir).unwrap();
    assert_eq!(mode(&existing), 0o755, "an existing directory is left alone");
    for d in ["a", "a/b", "a/b/c"] {
        assert_eq!(mode(&existing.join(d)), 0o700, "{d}");
    }
    s.apply(&[Op::CreateGroup(group(1, 1))]).unwrap();
    assert!(s.try_lock_transfers().unwrap());
    for f in [DB_FILE_NAME, "queue.sqlite-wal", "queue.sqlite-shm", LOCK_FILE_NAME] {
        let p = dir.join(f);
        assert!(p.exists(), "{f} missing");
        assert_eq!(mode(&p), 0o600, "{f}");
    }

    // An existing queue directory keeps its mode.
    let other = tmp.path().join("other");
    fs::create_dir(&other).unwrap();
    fs::set_permissions(&other, fs::Permissions::from_mode(0o750)).unwrap();
    SqliteStore::open(&other).unwrap();
    assert_eq!(mode(&other), 0o750);
    assert_eq!(mode(&other.join(DB_FILE_NAME)), 0o600);
}

#[test]
fn new_database_is_wal_at_current_schema_version() {
    let tmp = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(tmp.path()).unwrap();
    assert_eq!(s.db_path(), tmp.path().canonicalize().unwrap().join(DB_FILE_NAME));
    let raw = rusqlite::Connection::open(s.db_path()).unwrap();
    let v: i64 = raw.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
    assert_eq!(v, SCHEMA_VERSION);
    let jm: String = raw.pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
    assert_eq!(jm, "wal");
    drop(s);
    // Reopening an up-to-date database changes nothing.
    SqliteStore::open(tmp.path()).unwrap();
    let v: i64 = raw.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
    assert_eq!(v, SCHEMA_VERSION);
}

#[test]
fn newer_schema_version_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    drop(SqliteStore::open(tmp.path()).unwrap());
    let raw = rusqlite::Connection::open(tmp.path().join(DB_FILE_NAME)).unwrap();
    raw.pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
    drop(raw);
    let err = SqliteStore::open(tmp.path()).unwrap_err();
    assert_eq!(err.hr, QM_E_SERVICE_UNAVAILABLE);
    assert!(err.message.contains("newer"), "{}", err.message);
    assert!(err.message.contains(DB_FILE_NAME), "{}", err.message);
}

#[test]
fn unusable_paths_and_files_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    // The queue directory is a file.
    let f = tmp.path().join("plain");
    fs::write(&f, b"x").unwrap();
    let err = SqliteStore::open(&f).unwrap_err();
    assert_eq!(err.hr, QM_E_SERVICE_UNAVAILABLE);
    assert!(err.message.contains("plain"), "{}", err.message);
    let err = SqliteStore::open(&f.join("sub")).unwrap_err();
    assert_eq!(err.hr, QM_E_SERVICE_UNAVAILABLE);

    // queue.sqlite is not a database.
    let q = tmp.path().join("garbage");
    fs::create_dir(&q).unwrap();
    fs::write(q.join(DB_FILE_NAME), vec![0x5a; 8192]).unwrap();
    let err = SqliteStore::open(&q).unwrap_err();
    assert_eq!(err.hr, QM_E_SERVICE_UNAVAILABLE);
    assert!(err.message.contains("not an SQLite database"), "{}", err.message);
}

#[test]
fn canonical_dir_resolves_relative_parts_and_links() {
    let tmp = tempfile::tempdir().unwrap();
    let real = tmp.path().canonicalize().unwrap().join("real");
    fs::create_dir(&real).unwrap();
    std::os::unix::fs::symlink(&real, tmp.path().join("link")).unwrap();
    let s = SqliteStore::open(&tmp.path().join("link/../link/.")).unwrap();
    assert_eq!(s.canonical_dir(), real);
    assert!(real.join(DB_FILE_NAME).exists());
}

#[test]
fn transfer_lock_is_exclusive_until_the_holder_is_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = SqliteStore::open(tmp.path()).unwrap();
    let mut b = SqliteStore::open(tmp.path()).unwrap();
    assert!(a.try_lock_transfers().unwrap());
    assert!(a.try_lock_transfers().unwrap(), "idempotent for the holder");
    assert!(!b.try_lock_transfers().unwrap());
    assert!(!b.try_lock_transfers().unwrap());
    // The store without the lock still reads and writes the queue.
    b.apply(&[Op::CreateGroup(group(1, 1))]).unwrap();
    assert_eq!(a.load().unwrap().groups, vec![group(1, 1)]);
    drop(a);
    assert!(b.try_lock_transfers().unwrap());
    let mut c = SqliteStore::open(tmp.path()).unwrap();
    assert!(!c.try_lock_transfers().unwrap());
}

/// `changed_by_others` reports commits of other connections since the last load, not the
/// store's own.
#[test]
fn changed_by_others_sees_only_foreign_commits() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = SqliteStore::open(tmp.path()).unwrap();
    let mut b = SqliteStore::open(tmp.path()).unwrap();
    assert!(a.changed_by_others().unwrap(), "never loaded");
    a.load().unwrap();
    assert!(!a.changed_by_others().unwrap());
    a.apply(&[Op::CreateGroup(group(1, 1))]).unwrap();
    assert!(!a.changed_by_others().unwrap(), "own change");
    b.apply(&[Op::CreateGroup(group(2, 2))]).unwrap();
    assert!(a.changed_by_others().unwrap());
    assert!(a.changed_by_others().unwrap(), "until the next load");
    assert_eq!(a.load().unwrap().groups.len(), 2);
    assert!(!a.changed_by_others().unwrap());
}

/// Two stores (as two processes would) writing the same queue in turns from two threads
/// both succeed (the busy timeout serializes them) and see everything.
#[test]
fn concurrent_writers_are_serialized() {
    let tmp = tempfile::tempdir().unwrap();
    SqliteStore::open(tmp.path()).unwrap().apply(&[Op::CreateGroup(group(1, 0))]).unwrap();
    let handles: Vec<_> = (0..2u8)
        .map(|t| {
            let dir = tmp.path().to_path_buf();
            std::thread::spawn(move || {
                let mut s = SqliteStore::open(&dir).unwrap();
                for i in 0..50u8 {
                    let n = 10 + t * 100 + i;
                    s.apply(&[Op::PutJob(job(n, 1, n as u64)), Op::PutFile(file(n, 0))]).unwrap();
                    s.load().unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let img = reopen_load(tmp.path());
    assert_eq!(img.jobs.len(), 100);
    assert_eq!(img.files.len(), 100);
}
