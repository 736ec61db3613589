//! Credentials at rest (issue #14, item 6): a group password that was replaced, cleared, or
//! whose group was deleted must not stay readable in the queue's files.
//!
//! Two things keep old bytes around in SQLite, and each has its remedy:
//!
//! * **Free space in the database's pages.** An `UPDATE` that rewrites a row, or a `DELETE`,
//!   leaves the old bytes in the page's free space or in a page put on the free list.
//!   `PRAGMA secure_delete=ON` (set on every connection, [`SECURE_DELETE`]) makes SQLite
//!   overwrite them with zeros.
//! * **Old page images in the WAL.** Every commit appends the new images of the pages it
//!   changed to `queue.sqlite-wal`; the earlier images, holding the old password, stay in the
//!   file until a checkpoint has copied the newest ones into the database and the WAL is
//!   rewritten from its start or truncated. An ordinary (automatic, passive) checkpoint only
//!   restarts the WAL: the old frames past the new writes stay on disk. So after a commit
//!   that removed a password, [`empty_wal`] runs `PRAGMA wal_checkpoint(TRUNCATE)`, which
//!   copies every frame into the database and truncates the WAL to zero bytes.
//!
//! `queue.sqlite-shm` only holds the WAL's index (page numbers and frame numbers), never row
//! contents.

use qmgr_core::store::Op;
use rusqlite::{Connection, OptionalExtension, Transaction};
use std::time::Duration;

/// The pragma set on every connection: freed bytes are overwritten with zeros.
pub(crate) const SECURE_DELETE: &str = "secure_delete";

/// How long the checkpoint after a removed password waits for other connections' read
/// transactions to end (they last milliseconds). When they do not end in time, the WAL is
/// emptied at a later write or poll ([`crate::SqliteStore`]'s `scrub_pending`).
pub(crate) const SCRUB_WAIT: Duration = Duration::from_millis(250);

// True when the group holds a password that the new value (?2) replaces or clears.
const PASSWORD_REPLACED: &str = "SELECT remote_password <> '' AND remote_password <> ?2 FROM groups WHERE id = ?1";
// True when the group holds a password.
const HOLDS_PASSWORD: &str = "SELECT remote_password <> '' FROM groups WHERE id = ?1";

/// Whether `op`, applied in `tx`, removes a stored password from the database: an
/// `UpdateGroup` that replaces or clears one, or a `DeleteGroup` of a group holding one.
/// Read before the op runs.
pub(crate) fn removes_password(tx: &Transaction<'_>, op: &Op) -> rusqlite::Result<bool> {
    let found = match op {
        Op::UpdateGroup(g) => tx
            .prepare_cached(PASSWORD_REPLACED)?
            .query_row(rusqlite::params![g.id.to_bytes(), g.props.remote_password], |r| r.get(0))
            .optional()?,
        Op::DeleteGroup(id) => {
            tx.prepare_cached(HOLDS_PASSWORD)?.query_row([id.to_bytes()], |r| r.get(0)).optional()?
        }
        _ => None,
    };
    Ok(found.unwrap_or(false))
}

/// Copies the WAL into the database and truncates it to zero bytes (`PRAGMA
/// wal_checkpoint(TRUNCATE)`), waiting at most `wait` for other connections' readers and
/// writer; `busy_timeout` is the connection's usual busy timeout, restored afterwards.
/// True when done; false when a reader or writer was still in the way (nothing is lost: the
/// checkpoint then copied what it could, and a later call finishes).
pub(crate) fn empty_wal(conn: &Connection, wait: Duration, busy_timeout: Duration) -> rusqlite::Result<bool> {
    conn.busy_timeout(wait)?;
    let result = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get::<_, i64>(0));
    conn.busy_timeout(busy_timeout)?;
    // The first column is 1 when the checkpoint could not finish (SQLITE_BUSY).
    Ok(result? == 0)
}
