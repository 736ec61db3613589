//! [`SqliteStore`]: the queue's [`Store`] on SQLite.

use crate::error::{db_error, io_error};
use crate::fsutil;
use crate::schema;
use crate::scrub;
use qmgr_core::guid::Guid;
use qmgr_core::hresult::{Error, Result, QM_E_SERVICE_UNAVAILABLE};
use qmgr_core::model::{
    BackgroundStatus, Checksum, ErrorClass, FileRecord, GroupProps, GroupRecord, GroupState, HeldRanges, JobError,
    JobRecord, QueueImage, Validators,
};
use qmgr_core::store::{Loaded, Op, Store};
use rusqlite::types::Type;
use rusqlite::{params, Connection, OpenFlags, Row, Transaction, TransactionBehavior, MAIN_DB};
use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// File name of the queue database inside the queue directory (DECISIONS D6).
pub const DB_FILE_NAME: &str = "queue.sqlite";

/// File name of the transfer lock file inside the queue directory (DECISIONS D10).
pub const LOCK_FILE_NAME: &str = "queue.lock";

/// How long a statement waits for another connection's write lock before failing with
/// `QM_E_SERVICE_UNAVAILABLE` ("stayed locked"): SQLite's busy timeout, 5 s.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Prepared statements kept per connection (more than this crate uses, so none is evicted).
const STATEMENT_CACHE: usize = 32;

// A plain INSERT: a group that exists already (created by another process) is a constraint
// violation, reported as E_INVALIDARG (Op::CreateGroup).
const CREATE_GROUP: &str = "
INSERT INTO groups (id, seq, state, foreground, priority, remote_user, remote_password,
                    protocol, notify_flags, notify_clsid, progress_size, progress_percent,
                    progress_time, display_name, description, rate_limit)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)";

// Only an existing group: one cancelled by another process stays gone (Op::UpdateGroup).
const UPDATE_GROUP: &str = "
UPDATE groups SET
    seq = ?2, state = ?3, foreground = ?4, priority = ?5, remote_user = ?6, remote_password = ?7,
    protocol = ?8, notify_flags = ?9, notify_clsid = ?10, progress_size = ?11,
    progress_percent = ?12, progress_time = ?13, display_name = ?14, description = ?15,
    rate_limit = ?16
WHERE id = ?1";

// INSERT … SELECT … WHERE EXISTS: nothing happens when the group is gone (Op::PutJob).
// An UPSERT, never INSERT OR REPLACE: REPLACE deletes the row first, which would cascade.
const PUT_JOB: &str = "
INSERT INTO jobs (id, group_id, seq, foreground, retries, active_ms, error_class, error_win32,
                  error_transport, error_file_index, error_message)
SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11
WHERE EXISTS (SELECT 1 FROM groups WHERE id = ?2)
ON CONFLICT (id) DO UPDATE SET
    group_id = excluded.group_id, seq = excluded.seq, foreground = excluded.foreground,
    retries = excluded.retries, active_ms = excluded.active_ms,
    error_class = excluded.error_class, error_win32 = excluded.error_win32,
    error_transport = excluded.error_transport, error_file_index = excluded.error_file_index,
    error_message = excluded.error_message";

const PUT_FILE: &str = "
INSERT INTO files (job_id, idx, url, local_path, size_hint, bytes_done, etag, last_modified,
                   total, complete, checksum, held_ranges)
SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12
WHERE EXISTS (SELECT 1 FROM jobs WHERE id = ?1)
ON CONFLICT (job_id, idx) DO UPDATE SET
    url = excluded.url, local_path = excluded.local_path, size_hint = excluded.size_hint,
    bytes_done = excluded.bytes_done, etag = excluded.etag,
    last_modified = excluded.last_modified, total = excluded.total,
    complete = excluded.complete, checksum = excluded.checksum, held_ranges = excluded.held_ranges";

const DELETE_GROUP: &str = "DELETE FROM groups WHERE id = ?1";
const DELETE_JOB: &str = "DELETE FROM jobs WHERE id = ?1";
const CHECKPOINT_FILE: &str = "
UPDATE files SET bytes_done = ?3, etag = ?4, last_modified = ?5, total = ?6, held_ranges = ?7
WHERE job_id = ?1 AND idx = ?2";
const CHECKPOINT_JOB: &str = "UPDATE jobs SET active_ms = ?2 WHERE id = ?1";
// Only an existing file that is not complete (Op::SetFileChecksum; schema version 3).
const SET_FILE_CHECKSUM: &str = "UPDATE files SET checksum = ?3 WHERE job_id = ?1 AND idx = ?2 AND complete = 0";
// Only a group that still exists and is still RUNNING (Op::TransferEnded).
const TRANSFER_ENDED: &str = "UPDATE groups SET state = ?2 WHERE id = ?1 AND state = ?3";
const SET_OPTION: &str = "
INSERT INTO options (name, value) VALUES (?1, ?2)
ON CONFLICT (name) DO UPDATE SET value = excluded.value";

const LOAD_OPTIONS: &str = "SELECT name, value FROM options ORDER BY rowid";

// The columns `group_row`, `job_row` and `file_row` read, in their order.
macro_rules! group_columns {
    () => {
        "SELECT id, seq, state, foreground, priority, remote_user, remote_password, protocol,
                notify_flags, notify_clsid, progress_size, progress_percent, progress_time,
                display_name, description, rate_limit"
    };
}
macro_rules! job_columns {
    () => {
        "SELECT j.id, j.group_id, j.seq, j.foreground, j.retries, j.active_ms, j.error_class,
                j.error_win32, j.error_transport, j.error_file_index, j.error_message
         FROM jobs AS j"
    };
}
macro_rules! file_columns {
    () => {
        "SELECT f.job_id, f.idx, f.url, f.local_path, f.size_hint, f.bytes_done, f.etag,
                f.last_modified, f.total, f.complete, f.checksum, f.held_ranges
         FROM files AS f JOIN jobs AS j ON j.id = f.job_id"
    };
}

const LOAD_GROUPS: &str = concat!(group_columns!(), " FROM groups ORDER BY seq, rowid");
const LOAD_JOBS: &str = concat!(job_columns!(), " ORDER BY j.seq, j.rowid");
const LOAD_FILES: &str = concat!(file_columns!(), " ORDER BY j.seq, j.rowid, f.idx");

// What changed after revision ?1 (Store::load_changes; schema version 2). INDEXED BY: without
// statistics the planner would rather scan in `seq` order than sort a few rows.
const CHANGED_GROUPS: &str =
    concat!(group_columns!(), " FROM groups INDEXED BY groups_by_rev WHERE rev > ?1 ORDER BY seq, rowid");
const CHANGED_JOBS: &str = concat!(
    job_columns!(),
    " JOIN groups AS g INDEXED BY groups_by_rev ON g.id = j.group_id WHERE g.rev > ?1 ORDER BY j.seq, j.rowid"
);
const CHANGED_FILES: &str = concat!(
    file_columns!(),
    " JOIN groups AS g INDEXED BY groups_by_rev ON g.id = j.group_id WHERE g.rev > ?1",
    " ORDER BY j.seq, j.rowid, f.idx"
);
const DELETED_GROUPS: &str = "SELECT id FROM deleted_groups WHERE rev > ?1";

// Change tracking, in every write transaction (SqliteStore::apply).
const READ_REVISION: &str = "SELECT rev, pruned FROM revision WHERE id = 0";
const WRITE_REVISION: &str = "UPDATE revision SET rev = ?1, pruned = ?2 WHERE id = 0";
const GROUP_OF_JOB: &str = "SELECT group_id FROM jobs WHERE id = ?1";
const TOUCH_GROUP: &str = "UPDATE groups SET rev = ?2 WHERE id = ?1";
const RECORD_DELETION: &str = "
INSERT INTO deleted_groups (id, rev) VALUES (?1, ?2)
ON CONFLICT (id) DO UPDATE SET rev = excluded.rev";
const FORGET_DELETION: &str = "DELETE FROM deleted_groups WHERE id = ?1";
const PRUNE_DELETIONS: &str = "DELETE FROM deleted_groups WHERE rev <= ?1";

/// Deletion records are kept for this many revisions: a process that last looked at the queue
/// longer ago than that loads it whole (`Store::load_changes`). Followers look every 200 ms.
const KEEP_DELETIONS: i64 = 10_000;

/// Deletion records are pruned once every this many revisions.
const PRUNE_EVERY: i64 = 1_000;

/// The queue's [`Store`] on SQLite: one connection to `<queue_dir>/queue.sqlite` plus, once
/// taken, the transfer lock on `<queue_dir>/queue.lock` (DESIGN "Layers"; DECISIONS D6, D10).
///
/// * [`Store::load`] reads the whole queue in one read transaction with four SELECTs, ordered
///   as [`qmgr_core::store::MemStore`] orders it: options in the order first set, groups and
///   jobs by `seq` (ties in insertion order), files by their job's position then index.
/// * [`Store::apply`] runs all its ops in one `BEGIN IMMEDIATE` transaction with cached
///   prepared statements: all or nothing. `CreateGroup` is a plain INSERT (a duplicate GUID is
///   `E_INVALIDARG`); `UpdateGroup` and `TransferEnded` only update an existing group;
///   `PutJob`/`PutFile` are UPSERTs (an existing row is updated in place, its children are
///   kept); `PutJob`/`PutFile` whose parent
///   row is gone do nothing; `DeleteGroup`/`DeleteJob` cascade to jobs and files; `Checkpoint`
///   only updates existing rows. With WAL and `synchronous=NORMAL` a committed transaction
///   survives a crash of the process (`kill -9`); a power failure may lose the last ones.
/// * Concurrent writers (other processes, D10) are serialized by SQLite; a statement waits up
///   to [`BUSY_TIMEOUT`] for the write lock, then fails.
/// * [`Store::try_lock_transfers`] takes an exclusive `flock` on the lock file, held until the
///   store is dropped. `flock` locks belong to an open file description, so a second
///   `SqliteStore` on the same directory in the same process does not get it either.
///
/// Every error is `QM_E_SERVICE_UNAVAILABLE` with a message naming the database, what was
/// being done and the cause ("the disk is full", "the database is read-only", …).
#[derive(Debug)]
pub struct SqliteStore {
    pub(crate) conn: Connection,
    dir: PathBuf,
    db: PathBuf,
    lock: Option<File>,
    seen_data_version: Option<i64>,
    /// When this store last wrote: its watch skips the events of its own writes.
    own_writes: crate::watch::OwnWrites,
    /// The revision (schema version 2) the engine's image reflects: loaded, plus this store's
    /// own writes made while no one else wrote.
    seen_rev: Option<i64>,
    /// A committed transaction removed a password and the WAL could not be emptied yet
    /// (another connection was reading): retried at the next `apply` or
    /// `changed_by_others` (`scrub.rs`).
    scrub_pending: bool,
}

impl SqliteStore {
    /// Opens the queue in `dir`, creating what is missing (DECISIONS D6, D12):
    ///
    /// * missing directories of `dir` are created with mode 0700 (existing ones are left as
    ///   they are);
    /// * a missing `queue.sqlite` is created with mode 0600 (SQLite gives its `-wal` and `-shm`
    ///   files the database file's mode);
    /// * the connection gets the busy timeout ([`BUSY_TIMEOUT`]), `journal_mode=WAL` (before
    ///   any migration), `synchronous=NORMAL`, `foreign_keys=ON` and `secure_delete=ON`
    ///   (freed bytes are zeroed: a replaced password does not stay in free space);
    /// * the schema is migrated to [`SCHEMA_VERSION`](crate::SCHEMA_VERSION), one transaction
    ///   per migration.
    ///
    /// Errors: `QM_E_SERVICE_UNAVAILABLE` when a directory or the database cannot be created
    /// or opened, the file is not a database, or its schema version is newer than this code
    /// knows (the message says which).
    pub fn open(dir: &Path) -> Result<SqliteStore> {
        let dir = crate::prepare_queue_dir(dir)?;
        let db = dir.join(DB_FILE_NAME);
        fsutil::create_private_file(&db).map_err(|e| io_error("creating queue database", &db, e))?;

        // No SQLITE_OPEN_CREATE: the file exists (created above with its mode).
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(&db, flags).map_err(|e| db_error(&db, "opening", e))?;
        // SQLite falls back to read-only when it cannot write the file (read-only file system,
        // no permission) and would only fail later, with an unhelpful "cannot open".
        if conn.is_readonly(MAIN_DB).unwrap_or(false) {
            return Err(Error::new(
                QM_E_SERVICE_UNAVAILABLE,
                format!(
                    "queue database {}: the database is read-only (a read-only file system, or no write permission)",
                    db.display()
                ),
            ));
        }
        conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| db_error(&db, "setting the busy timeout", e))?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(|e| db_error(&db, "setting journal_mode=WAL", e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            log::warn!(
                "queue database {}: journal mode is {mode}, not WAL (file system without shared \
                 memory?); readers will wait for writers",
                db.display()
            );
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| db_error(&db, "setting synchronous=NORMAL", e))?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(|e| db_error(&db, "setting foreign_keys=ON", e))?;
        let secure: i64 = conn
            .pragma_update_and_check(None, scrub::SECURE_DELETE, "ON", |r| r.get(0))
            .map_err(|e| db_error(&db, "setting secure_delete=ON", e))?;
        if secure != 1 {
            let e = rusqlite::Error::InvalidParameterName(format!("secure_delete is {secure}"));
            return Err(db_error(&db, "setting secure_delete=ON", e));
        }
        schema::migrate(&mut conn, &db)?;
        Ok(SqliteStore {
            conn,
            dir,
            db,
            lock: None,
            seen_data_version: None,
            own_writes: Default::default(),
            seen_rev: None,
            scrub_pending: false,
        })
    }

    /// The queue directory, canonicalized (absolute, symbolic links resolved) when opened;
    /// the key for "one manager per queue directory per process" (DECISIONS D6, D12).
    pub fn canonical_dir(&self) -> &Path {
        &self.dir
    }

    /// The database file: `canonical_dir()/queue.sqlite`.
    pub fn db_path(&self) -> &Path {
        &self.db
    }

    /// One consistent read of the queue: what changed since the revision last seen when
    /// `changes` and that is possible, else the whole queue.
    fn read(&mut self, changes: bool) -> Result<Loaded> {
        // Read before the snapshot: a commit in between only causes one extra reload.
        let version = self.data_version()?;
        let db = &self.db;
        let tx = self.conn.transaction().map_err(|e| db_error(db, "starting to load the queue", e))?;
        let (loaded, rev) = (|| {
            let (rev, pruned) = read_revision(&tx)?;
            let since = self.seen_rev.filter(|&s| changes && s >= pruned && s <= rev);
            let image = load_image(&tx, since)?;
            let loaded = match since {
                None => Loaded::Full(image),
                Some(s) => Loaded::Changes { image, deleted: rows(&tx, DELETED_GROUPS, [s], |r| guid(r, 0))? },
            };
            Ok((loaded, rev))
        })()
        .map_err(|e| db_error(db, "loading the queue", e))?;
        tx.commit().map_err(|e| db_error(db, "finishing loading the queue", e))?;
        self.seen_data_version = Some(version);
        self.seen_rev = Some(rev);
        Ok(loaded)
    }

    /// Empties the WAL after a password was removed (`scrub.rs`), waiting at most `wait` for
    /// other connections; when they are still in the way, `scrub_pending` stays set and a
    /// later call finishes. Never fails: the transaction is committed already.
    fn scrub(&mut self, wait: Duration) {
        match scrub::empty_wal(&self.conn, wait, BUSY_TIMEOUT) {
            Ok(done) => self.scrub_pending = !done,
            Err(e) => {
                log::warn!("queue database {}: emptying the WAL: {e}", self.db.display());
                self.scrub_pending = true;
            }
        }
    }

    fn data_version(&self) -> Result<i64> {
        self.conn
            .pragma_query_value(None, "data_version", |r| r.get(0))
            .map_err(|e| db_error(&self.db, "reading data_version", e))
    }
}

/// What an op is, for error messages (never the password).
fn describe(op: &Op) -> String {
    match op {
        Op::CreateGroup(g) => format!("creating group {}", g.id),
        Op::UpdateGroup(g) => format!("storing group {}", g.id),
        Op::DeleteGroup(id) => format!("deleting group {id}"),
        Op::PutJob(j) => format!("storing job {}", j.id),
        Op::DeleteJob(id) => format!("deleting job {id}"),
        Op::PutFile(f) => format!("storing file {} of job {}", f.index, f.job_id),
        Op::Checkpoint { job_id, index, .. } => {
            format!("checkpointing file {index} of job {job_id}")
        }
        Op::SetFileChecksum { job_id, index, .. } => format!("setting the checksum of file {index} of job {job_id}"),
        Op::TransferEnded { group_id, .. } => format!("recording the end of group {group_id}'s transfer"),
        Op::SetOption { name, .. } => format!("setting option {name}"),
    }
}

fn apply_one(tx: &Transaction<'_>, op: &Op) -> rusqlite::Result<()> {
    match op {
        Op::CreateGroup(g) | Op::UpdateGroup(g) => {
            let p = &g.props;
            let sql = if matches!(op, Op::CreateGroup(_)) { CREATE_GROUP } else { UPDATE_GROUP };
            tx.prepare_cached(sql)?.execute(params![
                g.id.to_bytes(),
                g.seq as i64,
                g.state.code(),
                g.foreground,
                p.priority,
                p.remote_user,
                p.remote_password,
                p.protocol,
                p.notify_flags,
                p.notify_clsid,
                p.progress_size,
                p.progress_percent,
                p.progress_time,
                p.display_name,
                p.description,
                p.rate_limit as i64,
            ])?;
        }
        Op::DeleteGroup(id) => {
            tx.prepare_cached(DELETE_GROUP)?.execute([id.to_bytes()])?;
        }
        Op::PutJob(j) => {
            let e = j.error.as_ref();
            tx.prepare_cached(PUT_JOB)?.execute(params![
                j.id.to_bytes(),
                j.group_id.to_bytes(),
                j.seq as i64,
                j.foreground,
                j.retries,
                j.active_ms as i64,
                e.map(|e| match e.class {
                    ErrorClass::Transient => 0,
                    ErrorClass::Fatal => 1,
                }),
                e.map(|e| e.win32),
                e.map(|e| e.transport),
                e.and_then(|e| e.file_index),
                e.map(|e| e.message.as_str()),
            ])?;
        }
        Op::DeleteJob(id) => {
            tx.prepare_cached(DELETE_JOB)?.execute([id.to_bytes()])?;
        }
        Op::PutFile(f) => {
            tx.prepare_cached(PUT_FILE)?.execute(params![
                f.job_id.to_bytes(),
                f.index,
                f.url,
                f.local_path,
                f.size_hint,
                f.bytes_done as i64,
                f.validators.etag,
                f.validators.last_modified,
                f.validators.total.map(|t| t as i64),
                f.complete,
                f.checksum.as_ref().map(Checksum::to_string),
                f.held_ranges.as_ref().map(HeldRanges::to_string),
            ])?;
        }
        Op::SetFileChecksum { job_id, index, checksum } => {
            tx.prepare_cached(SET_FILE_CHECKSUM)?.execute(params![job_id.to_bytes(), index, checksum.to_string()])?;
        }
        Op::Checkpoint { job_id, index, bytes_done, held_ranges, validators, job_active_ms } => {
            tx.prepare_cached(CHECKPOINT_FILE)?.execute(params![
                job_id.to_bytes(),
                index,
                *bytes_done as i64,
                validators.etag,
                validators.last_modified,
                validators.total.map(|t| t as i64),
                held_ranges.as_ref().map(HeldRanges::to_string),
            ])?;
            tx.prepare_cached(CHECKPOINT_JOB)?.execute(params![job_id.to_bytes(), *job_active_ms as i64])?;
        }
        Op::TransferEnded { group_id, state } => {
            tx.prepare_cached(TRANSFER_ENDED)?.execute(params![
                group_id.to_bytes(),
                state.code(),
                GroupState::Running.code()
            ])?;
        }
        Op::SetOption { name, value } => {
            tx.prepare_cached(SET_OPTION)?.execute(params![name, value])?;
        }
    }
    Ok(())
}

/// A stored value that the model cannot hold (a corrupt or foreign database).
fn corrupt(col: usize, ty: Type, what: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(col, ty, what.into())
}

fn guid(row: &Row<'_>, col: usize) -> rusqlite::Result<Guid> {
    Ok(Guid::from_bytes(row.get::<_, [u8; 16]>(col)?))
}

fn group_row(r: &Row<'_>) -> rusqlite::Result<GroupRecord> {
    let code: i64 = r.get(2)?;
    let state =
        GroupState::from_code(code).map_err(|_| corrupt(2, Type::Integer, format!("group state {code} is unknown")))?;
    Ok(GroupRecord {
        id: guid(r, 0)?,
        seq: r.get::<_, i64>(1)? as u64,
        state,
        foreground: r.get(3)?,
        props: GroupProps {
            priority: r.get(4)?,
            remote_user: r.get(5)?,
            remote_password: r.get(6)?,
            protocol: r.get(7)?,
            notify_flags: r.get(8)?,
            notify_clsid: r.get(9)?,
            progress_size: r.get(10)?,
            progress_percent: r.get(11)?,
            progress_time: r.get(12)?,
            display_name: r.get(13)?,
            description: r.get(14)?,
            rate_limit: r.get::<_, i64>(15)? as u64,
        },
    })
}

fn job_row(r: &Row<'_>) -> rusqlite::Result<JobRecord> {
    let error = match r.get::<_, Option<i64>>(6)? {
        None => None,
        Some(class) => Some(JobError {
            class: match class {
                0 => ErrorClass::Transient,
                1 => ErrorClass::Fatal,
                _ => return Err(corrupt(6, Type::Integer, format!("error class {class} is unknown"))),
            },
            win32: r.get::<_, Option<u32>>(7)?.unwrap_or(0),
            transport: r.get::<_, Option<u32>>(8)?.unwrap_or(0),
            file_index: r.get(9)?,
            message: r.get::<_, Option<String>>(10)?.unwrap_or_default(),
        }),
    };
    Ok(JobRecord {
        id: guid(r, 0)?,
        group_id: guid(r, 1)?,
        seq: r.get::<_, i64>(2)? as u64,
        foreground: r.get(3)?,
        retries: r.get(4)?,
        error,
        active_ms: r.get::<_, i64>(5)? as u64,
    })
}

fn file_row(r: &Row<'_>) -> rusqlite::Result<FileRecord> {
    Ok(FileRecord {
        job_id: guid(r, 0)?,
        index: r.get(1)?,
        url: r.get(2)?,
        local_path: r.get(3)?,
        size_hint: r.get(4)?,
        bytes_done: r.get::<_, i64>(5)? as u64,
        validators: Validators {
            etag: r.get(6)?,
            last_modified: r.get(7)?,
            total: r.get::<_, Option<i64>>(8)?.map(|t| t as u64),
        },
        complete: r.get(9)?,
        checksum: match r.get::<_, Option<String>>(10)? {
            None => None,
            Some(text) => Some(Checksum::parse_spec(&text).map_err(|e| corrupt(10, Type::Text, e.message))?),
        },
        held_ranges: match r.get::<_, Option<String>>(11)? {
            None => None,
            Some(text) => Some(
                HeldRanges::parse(&text)
                    .ok_or_else(|| corrupt(11, Type::Text, format!("not a list of byte ranges: {text:?}")))?,
            ),
        },
    })
}

/// Every row of a query, through a cached statement.
fn rows<T>(
    tx: &Transaction<'_>,
    sql: &str,
    params: impl rusqlite::Params,
    f: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Vec<T>> {
    tx.prepare_cached(sql)?.query_map(params, f)?.collect()
}

/// The whole queue (`since` None), or the options and the groups changed after revision
/// `since`, with all their jobs and files.
fn load_image(tx: &Transaction<'_>, since: Option<i64>) -> rusqlite::Result<QueueImage> {
    let options = rows(tx, LOAD_OPTIONS, [], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(match since {
        None => QueueImage {
            options,
            groups: rows(tx, LOAD_GROUPS, [], group_row)?,
            jobs: rows(tx, LOAD_JOBS, [], job_row)?,
            files: rows(tx, LOAD_FILES, [], file_row)?,
        },
        Some(rev) => QueueImage {
            options,
            groups: rows(tx, CHANGED_GROUPS, [rev], group_row)?,
            jobs: rows(tx, CHANGED_JOBS, [rev], job_row)?,
            files: rows(tx, CHANGED_FILES, [rev], file_row)?,
        },
    })
}

/// (revision of the last write transaction, highest revision whose deletion records are gone).
fn read_revision(tx: &Transaction<'_>) -> rusqlite::Result<(i64, i64)> {
    tx.prepare_cached(READ_REVISION)?.query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
}

/// The groups an op changes (read before the op: `DeleteJob` removes the job row, `PutJob`
/// may move a job to another group). `DeleteGroup` records the deletion and `CreateGroup`
/// forgets an older one of its GUID.
///
/// `jobs` remembers the group of each job looked up in this transaction: `AddFiles` of 2,000
/// files asks once, not 2,000 times.
fn groups_changed_by(
    tx: &Transaction<'_>,
    op: &Op,
    rev: i64,
    jobs: &mut HashMap<Guid, Option<Guid>>,
) -> rusqlite::Result<[Option<Guid>; 2]> {
    use rusqlite::OptionalExtension;
    let of_job = |job: &Guid| tx.prepare_cached(GROUP_OF_JOB)?.query_row([job.to_bytes()], |r| guid(r, 0)).optional();
    Ok(match op {
        Op::CreateGroup(g) => {
            tx.prepare_cached(FORGET_DELETION)?.execute([g.id.to_bytes()])?;
            [Some(g.id), None]
        }
        Op::UpdateGroup(g) => [Some(g.id), None],
        Op::TransferEnded { group_id, .. } => [Some(*group_id), None],
        Op::PutJob(j) => {
            jobs.remove(&j.id);
            [Some(j.group_id), of_job(&j.id)?]
        }
        Op::DeleteJob(job) => {
            jobs.remove(job);
            [of_job(job)?, None]
        }
        Op::PutFile(FileRecord { job_id: job, .. })
        | Op::Checkpoint { job_id: job, .. }
        | Op::SetFileChecksum { job_id: job, .. } => {
            let group = match jobs.get(job) {
                Some(group) => *group,
                None => *jobs.entry(*job).or_insert(of_job(job)?),
            };
            [group, None]
        }
        Op::DeleteGroup(id) => {
            tx.prepare_cached(RECORD_DELETION)?.execute(params![id.to_bytes(), rev])?;
            [None, None]
        }
        Op::SetOption { .. } => [None, None],
    })
}

/// Ends a write transaction at revision `rev`: stamps the changed groups, prunes old deletion
/// records now and then, and stores the revision.
fn finish_revision(tx: &Transaction<'_>, rev: i64, pruned: i64, changed: &HashSet<Guid>) -> rusqlite::Result<()> {
    for id in changed {
        tx.prepare_cached(TOUCH_GROUP)?.execute(params![id.to_bytes(), rev])?;
    }
    let mut pruned = pruned;
    if rev % PRUNE_EVERY == 0 && rev - KEEP_DELETIONS > pruned {
        pruned = rev - KEEP_DELETIONS;
        tx.prepare_cached(PRUNE_DELETIONS)?.execute([pruned])?;
    }
    tx.prepare_cached(WRITE_REVISION)?.execute([rev, pruned])?;
    Ok(())
}

impl Store for SqliteStore {
    /// See [`SqliteStore`]. Errors: `QM_E_SERVICE_UNAVAILABLE` when the database cannot be read
    /// or holds a value the model cannot represent (unknown state code, GUID not 16 bytes…).
    fn load(&mut self) -> Result<QueueImage> {
        match self.read(false)? {
            Loaded::Full(image) => Ok(image),
            Loaded::Changes { .. } => unreachable!("read(false) loads the whole queue"),
        }
    }

    /// Reads only the groups whose `rev` is above the revision last seen, and the deletion
    /// records above it: a few indexed rows per change, whatever the size of the queue. The
    /// whole queue when nothing was loaded yet, when deletion records that old were pruned,
    /// or when the database went back in time (restored from a copy).
    fn load_changes(&mut self) -> Result<Loaded> {
        self.read(true)
    }

    /// Writes `background.status` in the queue directory ([`crate::STATUS_FILE_NAME`]).
    fn publish_background(&mut self, status: &BackgroundStatus) -> Result<()> {
        crate::status::publish(&self.dir, status)
    }

    fn published_background(&mut self, max_age: Duration) -> Option<BackgroundStatus> {
        crate::status::read(&self.dir, max_age)
    }

    /// An inotify watch of the queue directory (`watch.rs`): `changed` runs within
    /// milliseconds of a write to the database or its WAL by another process (or another
    /// store object); this store's own writes are filtered out (`watch::OwnWrites`).
    fn watch(&self, changed: Box<dyn Fn() + Send + Sync>) -> Option<Box<dyn Send>> {
        let watch = crate::watch::watch(&self.dir, DB_FILE_NAME, self.own_writes.filter(changed))?;
        Some(Box::new(watch))
    }

    /// Cheap: one `PRAGMA data_version`, no table read (DECISIONS D10). SQLite changes it
    /// for every transaction committed by another connection, never for this one's.
    fn changed_by_others(&mut self) -> Result<bool> {
        if self.scrub_pending {
            self.scrub(Duration::ZERO);
        }
        let v = self.data_version()?;
        Ok(self.seen_data_version != Some(v))
    }

    /// See [`SqliteStore`]. An empty slice does nothing. Errors: `QM_E_SERVICE_UNAVAILABLE`
    /// naming the failing op and the cause; the transaction is rolled back, nothing applied.
    fn apply(&mut self, ops: &[Op]) -> Result<()> {
        if ops.is_empty() {
            return Ok(());
        }
        let _writing = self.own_writes.writing();
        let db = &self.db;
        let n = ops.len();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| db_error(db, &format!("starting a transaction for {n} changes"), e))?;
        let tracking = |e| db_error(db, &format!("recording the revision of {n} changes"), e);
        let (before, pruned) = read_revision(&tx).map_err(tracking)?;
        let rev = before + 1;
        let mut changed = HashSet::new();
        let mut jobs = HashMap::new();
        let mut removes_password = false;
        for (i, op) in ops.iter().enumerate() {
            let what = |e| db_error(db, &format!("change {} of {n}, {}", i + 1, describe(op)), e);
            changed.extend(groups_changed_by(&tx, op, rev, &mut jobs).map_err(what)?.into_iter().flatten());
            removes_password |= scrub::removes_password(&tx, op).map_err(what)?;
            apply_one(&tx, op).map_err(|e| match (op, e.sqlite_error_code()) {
                (Op::CreateGroup(g), Some(rusqlite::ErrorCode::ConstraintViolation)) => {
                    Error::invalid_arg(format!("group {} already exists in the queue", g.id))
                }
                _ => what(e),
            })?;
        }
        finish_revision(&tx, rev, pruned, &changed).map_err(tracking)?;
        tx.commit().map_err(|e| db_error(db, &format!("committing {n} changes"), e))?;
        // Nobody else wrote since this store last looked: its image is current at `rev`.
        if self.seen_rev == Some(before) {
            self.seen_rev = Some(rev);
        }
        if removes_password || self.scrub_pending {
            self.scrub(scrub::SCRUB_WAIT);
        }
        Ok(())
    }

    /// See [`SqliteStore`]. The lock file is created with mode 0600 when missing.
    /// Errors: `QM_E_SERVICE_UNAVAILABLE` when the lock file cannot be created, opened or
    /// locked for another reason than "held by someone else".
    fn try_lock_transfers(&mut self) -> Result<bool> {
        if self.lock.is_some() {
            return Ok(true);
        }
        let path = self.dir.join(LOCK_FILE_NAME);
        let file = match fsutil::create_private_file(&path) {
            Ok(Some(f)) => f,
            Ok(None) => {
                OpenOptions::new().read(true).open(&path).map_err(|e| io_error("opening lock file", &path, e))?
            }
            Err(e) => return Err(io_error("creating lock file", &path, e)),
        };
        match file.try_lock() {
            Ok(()) => {
                self.lock = Some(file);
                Ok(true)
            }
            Err(TryLockError::WouldBlock) => Ok(false),
            Err(TryLockError::Error(e)) => Err(io_error("locking", &path, e)),
        }
    }
}

#[cfg(test)]
#[path = "sqlite_tests.rs"]
mod tests;
