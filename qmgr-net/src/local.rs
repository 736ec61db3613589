//! Committing and discarding temporary files (DECISIONS D4).

use crate::classify::local_error;
use qmgr_core::transport::TransferError;
use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::path::Path;
use std::thread::JoinHandle;

/// Bytes written between two early write-backs of a temporary file.
const WRITEBACK_STEP: u64 = 32 << 20;

/// Starts writing a temporary file to disk while the download goes on: every
/// [`WRITEBACK_STEP`] bytes a helper thread flushes what was written so far (`fdatasync` on a
/// second handle), so that the flush before the commit (DECISIONS D4) finds little left to
/// write instead of stalling on the whole file. Durability still comes from that final flush;
/// this only moves the disk writes earlier, overlapping them with the network.
pub(crate) struct Writeback {
    file: Option<File>,
    flushed: u64,
    running: Option<JoinHandle<()>>,
}

impl Writeback {
    /// Write-back for `file`, which holds `start` bytes already. Without a second handle (an
    /// unusual file system), nothing is flushed early.
    pub(crate) fn new(file: &File, start: u64) -> Writeback {
        Writeback { file: file.try_clone().ok(), flushed: start, running: None }
    }

    /// The file now holds `done` bytes: starts a flush when a step's worth is unflushed and
    /// the previous flush has finished.
    pub(crate) fn wrote(&mut self, done: u64) {
        if done < self.flushed + WRITEBACK_STEP || self.running.as_ref().is_some_and(|h| !h.is_finished()) {
            return;
        }
        let Some(file) = self.file.as_ref().and_then(|f| f.try_clone().ok()) else { return };
        self.flushed = done;
        // A failed early flush is harmless: the final flush reports any error.
        self.running =
            std::thread::Builder::new().name("qmgr-writeback".into()).spawn(move || drop(file.sync_data())).ok();
    }
}

pub(crate) fn commit(temp: &Path, final_path: &Path, last_modified: Option<&str>) -> Result<(), TransferError> {
    let file =
        OpenOptions::new().write(true).open(temp).map_err(|e| local_error(&e, "cannot open temporary file", temp))?;
    if let Some(date) = last_modified {
        match httpdate::parse_http_date(date) {
            Ok(time) => {
                if let Err(e) = file.set_modified(time) {
                    // The data is what matters; a file system without time stamps is no failure.
                    log::warn!("cannot set the modification time of {}: {e}", temp.display());
                }
            }
            Err(_) => log::debug!("Last-Modified \"{date}\" is not an HTTP date; the file keeps its own time"),
        }
    }
    file.sync_all().map_err(|e| local_error(&e, "cannot flush temporary file", temp))?;
    drop(file);
    std::fs::rename(temp, final_path).map_err(|e| {
        let mut err = local_error(&e, "cannot rename the temporary file onto", final_path);
        err.message.push_str(&format!(" (from \"{}\")", temp.display()));
        err
    })?;
    let dir = match final_path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| local_error(&e, "cannot flush directory", dir))?;
    Ok(())
}

pub(crate) fn discard(temp: &Path) {
    match std::fs::remove_file(temp) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => log::warn!("cannot remove temporary file {}: {e}", temp.display()),
    }
}
