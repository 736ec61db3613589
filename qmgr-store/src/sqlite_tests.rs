//! Unit tests of `sqlite.rs` that need its private items.

use super::*;
use qmgr_core::hresult::QM_E_SERVICE_UNAVAILABLE;

fn group(n: u8) -> GroupRecord {
    GroupRecord {
        id: Guid::from_bytes([n; 16]),
        seq: n as u64,
        state: GroupState::Suspended,
        foreground: false,
        props: GroupProps::default(),
    }
}

/// A write refused as read-only says so and applies nothing.
#[test]
fn read_only_database_is_reported_and_nothing_applied() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = SqliteStore::open(tmp.path()).unwrap();
    s.apply(&[Op::CreateGroup(group(1))]).unwrap();
    // Root ignores file modes, so make the connection itself refuse writes.
    s.conn.pragma_update(None, "query_only", true).unwrap();
    let err = s.apply(&[Op::CreateGroup(group(2)), Op::DeleteGroup(group(1).id)]).unwrap_err();
    assert_eq!(err.hr, QM_E_SERVICE_UNAVAILABLE);
    assert!(err.message.contains("the database is read-only"), "{}", err.message);
    // Refused as early as BEGIN IMMEDIATE, which already asks for the write lock.
    assert!(err.message.contains("for 2 changes"), "{}", err.message);
    assert!(err.message.contains(DB_FILE_NAME), "{}", err.message);
    s.conn.pragma_update(None, "query_only", false).unwrap();
    assert_eq!(s.load().unwrap().groups, vec![group(1)]);
}

/// A stored value the model cannot hold makes `load` fail with the service error.
#[test]
fn corrupt_rows_fail_load() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = SqliteStore::open(tmp.path()).unwrap();
    s.apply(&[Op::CreateGroup(group(1))]).unwrap();
    s.conn.execute("UPDATE groups SET state = 9", []).unwrap();
    let err = s.load().unwrap_err();
    assert_eq!(err.hr, QM_E_SERVICE_UNAVAILABLE);
    assert!(err.message.contains("group state 9 is unknown"), "{}", err.message);
    s.conn.execute("UPDATE groups SET state = 0, priority = -1", []).unwrap();
    assert_eq!(s.load().unwrap_err().hr, QM_E_SERVICE_UNAVAILABLE);
    s.conn.execute("UPDATE groups SET priority = 1", []).unwrap();
    let job = JobRecord {
        id: group(2).id,
        group_id: group(1).id,
        seq: 2,
        foreground: false,
        retries: 0,
        error: None,
        active_ms: 0,
    };
    let file = FileRecord {
        job_id: job.id,
        index: 0,
        url: "http://h/f".into(),
        local_path: "/d/f".into(),
        size_hint: 0,
        bytes_done: 0,
        held_ranges: None,
        validators: Validators::default(),
        checksum: None,
        complete: false,
    };
    s.apply(&[Op::PutJob(job), Op::PutFile(file)]).unwrap();
    s.conn.execute("UPDATE files SET checksum = 'md5:00'", []).unwrap();
    let err = s.load().unwrap_err();
    assert_eq!(err.hr, QM_E_SERVICE_UNAVAILABLE);
    assert!(err.message.contains("md5"), "{}", err.message);
    s.conn.execute("UPDATE files SET checksum = NULL, held_ranges = '0-5,3-9'", []).unwrap();
    let err = s.load().unwrap_err();
    assert_eq!(err.hr, QM_E_SERVICE_UNAVAILABLE);
    assert!(err.message.contains("0-5,3-9"), "{}", err.message);
}

/// The password is never part of an error message.
#[test]
fn op_descriptions_hold_no_secrets() {
    let mut g = group(1);
    g.props.remote_password = "s3cret".into();
    assert!(!describe(&Op::CreateGroup(g)).contains("s3cret"));
}

/// `load` uses indexes, no per-row lookups by scan.
#[test]
fn load_queries_use_indexes() {
    let tmp = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(tmp.path()).unwrap();
    for sql in [LOAD_GROUPS, LOAD_JOBS, LOAD_FILES] {
        let mut st = s.conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let plan: Vec<String> =
            st.query_map([], |r| r.get::<_, String>(3)).unwrap().collect::<rusqlite::Result<_>>().unwrap();
        assert!(!plan.iter().any(|p| p.contains("TEMP B-TREE")), "{sql}: {plan:?}");
    }
}

/// `load_changes` reads only changed rows: no query scans a table.
#[test]
fn change_queries_scan_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(tmp.path()).unwrap();
    for sql in [CHANGED_GROUPS, CHANGED_JOBS, CHANGED_FILES, DELETED_GROUPS, GROUP_OF_JOB, TOUCH_GROUP] {
        let mut st = s.conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let params = vec![0; st.parameter_count()];
        let plan: Vec<String> = st
            .query_map(rusqlite::params_from_iter(params), |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert!(!plan.iter().any(|p| p.starts_with("SCAN")), "{sql}: {plan:?}");
    }
}
