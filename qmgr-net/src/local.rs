//! Committing and discarding temporary files (DECISIONS D4).

use crate::classify::local_error;
use qmgr_core::transport::TransferError;
use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::path::Path;

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
