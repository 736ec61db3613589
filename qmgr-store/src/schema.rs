//! The database schema and its migrations, keyed on `PRAGMA user_version` (STYLE "rusqlite").
//!
//! `MIGRATIONS[i]` takes a database from version `i` to `i + 1`; version 0 is an empty file.
//! A migration is only ever appended, never edited once released.

use crate::error::db_error;
use qmgr_core::hresult::{Error, Result, QM_E_SERVICE_UNAVAILABLE};
use rusqlite::{Connection, TransactionBehavior};
use std::path::Path;

/// Version 1: the initial schema.
///
/// * Integers that are `u64` in the model (`seq`, `active_ms`, `bytes_done`, `total`) are
///   stored as SQLite INTEGER by a bit-preserving `u64 as i64` cast and read back with
///   `i64 as u64`: every value round-trips; values above `i64::MAX` would sort as negative
///   numbers, which no sequence number or byte count reaches.
/// * `u32` fields are stored as their (non-negative) integer value.
/// * GUIDs are 16-byte blobs in text order (`Guid::to_bytes`).
/// * Booleans are 0 / 1.
/// * A job without error has `error_class` NULL (0 = transient, 1 = fatal) and the other
///   `error_*` columns NULL.
/// * `groups.state` holds `GroupState::code`.
const V1: &str = "
CREATE TABLE options (
    name  TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

CREATE TABLE groups (
    id               BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    seq              INTEGER NOT NULL,
    state            INTEGER NOT NULL,
    foreground       INTEGER NOT NULL,
    priority         INTEGER NOT NULL,
    remote_user      TEXT NOT NULL,
    remote_password  TEXT NOT NULL,
    protocol         INTEGER NOT NULL,
    notify_flags     INTEGER NOT NULL,
    notify_clsid     TEXT NOT NULL,
    progress_size    INTEGER NOT NULL,
    progress_percent INTEGER NOT NULL,
    progress_time    INTEGER NOT NULL,
    display_name     TEXT NOT NULL,
    description      TEXT NOT NULL
);
CREATE INDEX groups_by_seq ON groups (seq);

CREATE TABLE jobs (
    id               BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    group_id         BLOB NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    seq              INTEGER NOT NULL,
    foreground       INTEGER NOT NULL,
    retries          INTEGER NOT NULL,
    active_ms        INTEGER NOT NULL,
    error_class      INTEGER CHECK (error_class IN (0, 1)),
    error_win32      INTEGER,
    error_transport  INTEGER,
    error_file_index INTEGER,
    error_message    TEXT
);
CREATE INDEX jobs_by_seq ON jobs (seq);
CREATE INDEX jobs_by_group ON jobs (group_id);

CREATE TABLE files (
    job_id        BLOB NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    idx           INTEGER NOT NULL,
    url           TEXT NOT NULL,
    local_path    TEXT NOT NULL,
    size_hint     INTEGER NOT NULL,
    bytes_done    INTEGER NOT NULL,
    etag          TEXT,
    last_modified TEXT,
    total         INTEGER,
    complete      INTEGER NOT NULL,
    PRIMARY KEY (job_id, idx)
) WITHOUT ROWID;
";

/// Version 2: change tracking, so that a process following the queue reads only what changed
/// (DECISIONS D10; `Store::load_changes`).
///
/// * `revision` (one row) counts committed write transactions: `rev` is the revision of the
///   last one; `pruned` the highest revision whose deletion records were dropped (a reader
///   that saw an older revision must load the whole queue).
/// * `groups.rev` is the revision of the last transaction that changed the group, its jobs or
///   its files.
/// * `deleted_groups` records the GUID and revision of every deleted group (dropped after a
///   while, see `pruned`; removed when the GUID is created again).
const V2: &str = "
CREATE TABLE revision (
    id     INTEGER PRIMARY KEY CHECK (id = 0),
    rev    INTEGER NOT NULL,
    pruned INTEGER NOT NULL
);
INSERT INTO revision (id, rev, pruned) VALUES (0, 0, 0);

ALTER TABLE groups ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;
CREATE INDEX groups_by_rev ON groups (rev);

CREATE TABLE deleted_groups (
    id  BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    rev INTEGER NOT NULL
);
CREATE INDEX deleted_groups_by_rev ON deleted_groups (rev);
";

/// Version 3: a file's checksum (DECISIONS D15; `qmgr_job_set_file_checksum`).
///
/// * `files.checksum` is `Checksum`'s text form `ALGORITHM:HEX` (e.g. `sha-256:9f86…`, lower
///   case), NULL when none is set. Files of older queues get NULL.
const V3: &str = "
ALTER TABLE files ADD COLUMN checksum TEXT;
";

/// Version 4: a group's rate limit (C-API.md "Per-group rate limit";
/// `qmgr_group_set_rate_limit`).
///
/// * `groups.rate_limit` is the limit in bytes/s, 0 = none; a `u64` stored by the
///   bit-preserving `as i64` cast (see [`V1`]). Groups of older queues get 0.
const V4: &str = "
ALTER TABLE groups ADD COLUMN rate_limit INTEGER NOT NULL DEFAULT 0;
";

/// Version 5: the byte ranges held of a file fetched in segments (DECISIONS D16).
///
/// * `files.held_ranges` is `HeldRanges`' text form (`start-end` pairs, end exclusive, joined
///   by `,`), NULL for a file that holds the first `bytes_done` bytes (every file not fetched
///   in segments). Files of older queues get NULL.
const V5: &str = "
ALTER TABLE files ADD COLUMN held_ranges TEXT;
";

/// Every migration, in order (see the module documentation).
const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5];

/// The schema version this code writes and understands (`PRAGMA user_version` after
/// [`SqliteStore::open`](crate::SqliteStore::open)). A database with a higher version was
/// written by newer code and is refused with `QM_E_SERVICE_UNAVAILABLE`.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

fn too_new(db: &Path, found: i64) -> Error {
    Error::new(
        QM_E_SERVICE_UNAVAILABLE,
        format!(
            "queue database {}: schema version {found} is newer than this qmgr understands \
             (at most {SCHEMA_VERSION}); use a newer qmgr for this queue",
            db.display()
        ),
    )
}

fn user_version(conn: &Connection, db: &Path) -> Result<i64> {
    let v: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(|e| db_error(db, "reading the schema version", e))?;
    if v < 0 {
        return Err(Error::new(
            QM_E_SERVICE_UNAVAILABLE,
            format!("queue database {}: schema version {v} is invalid", db.display()),
        ));
    }
    if v > SCHEMA_VERSION {
        return Err(too_new(db, v));
    }
    Ok(v)
}

/// Brings the database to [`SCHEMA_VERSION`], one `BEGIN IMMEDIATE` transaction per
/// migration. The version is read again inside each transaction, so two processes opening a
/// new queue at once migrate it once.
pub(crate) fn migrate(conn: &mut Connection, db: &Path) -> Result<()> {
    if user_version(conn, db)? == SCHEMA_VERSION {
        return Ok(());
    }
    for (from, sql) in MIGRATIONS.iter().enumerate() {
        let to = from as i64 + 1;
        let what = format!("migrating the schema to version {to}");
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(|e| db_error(db, &what, e))?;
        if user_version(&tx, db)? >= to {
            continue;
        }
        tx.execute_batch(sql).map_err(|e| db_error(db, &what, e))?;
        tx.pragma_update(None, "user_version", to).map_err(|e| db_error(db, &what, e))?;
        tx.commit().map_err(|e| db_error(db, &what, e))?;
        log::info!("queue database {}: schema migrated to version {to}", db.display());
    }
    Ok(())
}
