//! Mapping SQLite and file-system failures to the core's error (`QM_E_SERVICE_UNAVAILABLE`).

use qmgr_core::hresult::{Error, QM_E_SERVICE_UNAVAILABLE};
use rusqlite::ErrorCode;
use std::path::Path;

/// `queue database <db>: <what>: <cause>` with `QM_E_SERVICE_UNAVAILABLE`.
///
/// The cause names the conditions a person can act on (disk full, read-only, locked, not a
/// database) in words, followed by SQLite's own text.
pub(crate) fn db_error(db: &Path, what: &str, e: rusqlite::Error) -> Error {
    let cause = match &e {
        rusqlite::Error::SqliteFailure(f, _) => match f.code {
            ErrorCode::DiskFull => Some("the disk is full"),
            ErrorCode::ReadOnly => Some("the database is read-only"),
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                Some("the database stayed locked by another connection for longer than the busy timeout")
            }
            ErrorCode::NotADatabase => Some("the file is not an SQLite database"),
            ErrorCode::DatabaseCorrupt => Some("the database file is corrupt"),
            ErrorCode::CannotOpen => Some("the database file cannot be opened"),
            ErrorCode::PermissionDenied => Some("permission denied"),
            ErrorCode::SystemIoFailure => Some("I/O error"),
            _ => None,
        },
        _ => None,
    };
    let message = match cause {
        Some(cause) => format!("queue database {}: {what}: {cause} ({e})", db.display()),
        None => format!("queue database {}: {what}: {e}", db.display()),
    };
    Error::new(QM_E_SERVICE_UNAVAILABLE, message)
}

/// `<what> <path>: <io error>` with `QM_E_SERVICE_UNAVAILABLE`; a full disk or read-only file
/// system is said in words.
pub(crate) fn io_error(what: &str, path: &Path, e: std::io::Error) -> Error {
    let words = match e.raw_os_error() {
        Some(28) | Some(122) => "the disk is full: ",
        Some(30) => "the file system is read-only: ",
        _ => "",
    };
    Error::new(QM_E_SERVICE_UNAVAILABLE, format!("{what} {}: {words}{e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::ffi;

    fn failure(code: i32) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(ffi::Error::new(code), None)
    }

    #[test]
    fn sqlite_failures_say_what_and_why() {
        let db = Path::new("/q/queue.sqlite");
        let e = db_error(db, "applying 2 changes", failure(ffi::SQLITE_FULL));
        assert_eq!(e.hr, QM_E_SERVICE_UNAVAILABLE);
        assert!(
            e.message.starts_with("queue database /q/queue.sqlite: applying 2 changes: the disk is full"),
            "{}",
            e.message
        );
        let e = db_error(db, "x", failure(ffi::SQLITE_READONLY));
        assert!(e.message.contains("read-only"), "{}", e.message);
        let e = db_error(db, "x", failure(ffi::SQLITE_BUSY));
        assert!(e.message.contains("locked"), "{}", e.message);
        let e = db_error(db, "x", rusqlite::Error::QueryReturnedNoRows);
        assert_eq!(e.hr, QM_E_SERVICE_UNAVAILABLE);
        assert!(e.message.starts_with("queue database /q/queue.sqlite: x: "), "{}", e.message);
    }

    #[test]
    fn io_failures_say_disk_full_and_read_only() {
        let p = Path::new("/q");
        let e = io_error("creating queue directory", p, std::io::Error::from_raw_os_error(28));
        assert_eq!(e.hr, QM_E_SERVICE_UNAVAILABLE);
        assert!(e.message.starts_with("creating queue directory /q: the disk is full: "));
        let e = io_error("creating queue directory", p, std::io::Error::from_raw_os_error(30));
        assert!(e.message.contains("read-only"), "{}", e.message);
    }
}
