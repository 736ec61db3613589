//! The background status file (DECISIONS D14): the process that runs the queue's transfers
//! writes its idle-bandwidth controller's status to `background.status` in the queue
//! directory, so that `qmgr info` in another process can show it. Not durable state: written
//! whole to a temporary file (mode 0600, as every file of the queue) and renamed (readers
//! never see half a status), never flushed.

use crate::error::io_error;
use qmgr_core::hresult::Result;
use qmgr_core::model::BackgroundStatus;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// The status file's name in the queue directory.
pub const STATUS_FILE_NAME: &str = "background.status";

/// Replaces the status file of `dir` with `status`.
///
/// Errors: `QM_E_SERVICE_UNAVAILABLE` naming the file and the cause.
pub(crate) fn publish(dir: &Path, status: &BackgroundStatus) -> Result<()> {
    let path = dir.join(STATUS_FILE_NAME);
    let temp = dir.join(format!(".{STATUS_FILE_NAME}.{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&temp)?;
        file.write_all(status.to_text().as_bytes())
    };
    write().map_err(|e| io_error("writing", &temp, e))?;
    std::fs::rename(&temp, &path).map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        io_error("renaming onto", &path, e)
    })
}

/// The status in `dir` when it was written within `max_age` and is readable.
pub(crate) fn read(dir: &Path, max_age: Duration) -> Option<BackgroundStatus> {
    let path = dir.join(STATUS_FILE_NAME);
    let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok()?;
    let age = SystemTime::now().duration_since(modified).unwrap_or(Duration::ZERO);
    if age > max_age {
        return None;
    }
    BackgroundStatus::from_text(&std::fs::read_to_string(&path).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use qmgr_core::model::BackgroundMode;

    #[test]
    fn published_status_is_read_back_while_fresh() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path(), Duration::from_secs(5)), None);
        let status = BackgroundStatus {
            mode: BackgroundMode::Idle,
            rate: Some(100),
            throughput: 50,
            reason: "yielding: delay +12 ms".into(),
            active: true,
        };
        publish(dir.path(), &status).unwrap();
        assert_eq!(read(dir.path(), Duration::from_secs(5)), Some(status));
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(dir.path().join(STATUS_FILE_NAME)).unwrap().permissions(),
        );
        assert_eq!(mode & 0o7777, 0o600, "like every file of the queue directory");
        let old = SystemTime::now() - Duration::from_secs(60);
        std::fs::File::options()
            .write(true)
            .open(dir.path().join(STATUS_FILE_NAME))
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert_eq!(read(dir.path(), Duration::from_secs(5)), None, "a stale status is not reported");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");
    }
}
