//! Opening the queue (`qmgr_rs::open`: the composition of `qmgr-core`, `qmgr-store` and
//! `qmgr-net`) and naming its groups and jobs on the command line.

use crate::exit::Failure;
use qmgr_rs::hresult::QM_E_ITEM_NOT_FOUND;
use qmgr_rs::{Error, Group, Guid, Job, Manager};
use std::path::PathBuf;

/// Which queue the command works on: `--queue DIR`, else the default directory
/// (DECISIONS D6).
#[derive(Debug)]
pub struct QueueTarget {
    given: Option<PathBuf>,
}

/// An open queue: its manager and canonical directory.
#[derive(Debug)]
pub struct Queue {
    /// The process's manager of the queue.
    pub manager: Manager,
    /// The queue directory after canonicalization.
    pub dir: PathBuf,
    /// True when the directory came from `--queue` (hints then repeat it).
    given: bool,
}

impl QueueTarget {
    /// The queue named by `--queue` (`None`: the default directory).
    pub fn new(given: Option<PathBuf>) -> QueueTarget {
        QueueTarget { given }
    }

    /// The canonical queue directory, created when missing, without opening the queue.
    ///
    /// Errors (exit code 4): no default directory, or the directory cannot be created.
    /// Opens the queue: resolves the directory, creates it when missing, and opens the
    /// process's shared manager on the SQLite store and the network transport (the transport
    /// is reconfigured with the stored options by `Manager::open`).
    ///
    /// Errors (exit code 4): no default directory, or the directory or database cannot be
    /// used.
    pub fn open(&self) -> Result<Queue, Failure> {
        let manager = qmgr_rs::open(self.given.as_deref()).map_err(|e| Failure::unavailable(&e))?;
        let canonical = manager.dir().to_path_buf();
        log::debug!("opened queue {}", canonical.display());
        Ok(Queue { manager, dir: canonical, given: self.given.is_some() })
    }

    /// The queue directory without opening the queue (no store is opened, so no background
    /// runner is started: `qmgr service`). With `create`, the directory is created when
    /// missing, as [`QueueTarget::open`] does, and returned canonical; without, it is
    /// canonical when it exists, else the path as given made absolute.
    ///
    /// Errors (exit code 4): empty path, no default directory, or (with `create`) the
    /// directory cannot be created.
    pub fn dir(&self, create: bool) -> Result<PathBuf, Failure> {
        let dir = match &self.given {
            Some(d) if d.as_os_str().is_empty() => {
                return Err(Failure::unavailable(&Error::invalid_arg("queue directory: the path is empty")))
            }
            Some(d) => d.clone(),
            None => qmgr_rs::default_queue_dir().map_err(|e| Failure::unavailable(&e))?,
        };
        if create {
            return qmgr_rs::queue_dir(Some(&dir)).map_err(|e| Failure::unavailable(&e));
        }
        Ok(dir.canonicalize().unwrap_or_else(|_| std::path::absolute(&dir).unwrap_or(dir)))
    }
}

impl Queue {
    /// `qmgr`, or `qmgr --queue DIR` when the queue was given: the start of a command line
    /// to suggest to the user.
    pub fn command_prefix(&self) -> String {
        if self.given {
            format!("qmgr --queue {}", shell_quote(&self.dir.to_string_lossy()))
        } else {
            "qmgr".to_string()
        }
    }

    /// The live group named by `text` (a GUID, braces optional).
    ///
    /// Errors (exit code 2): not a GUID (`E_INVALIDARG`), no such group
    /// (`QM_E_ITEM_NOT_FOUND`).
    pub fn group(&self, text: &str) -> Result<Group, Failure> {
        Ok(self.manager.get_group(parse_guid(text)?)?)
    }

    /// The job named by `text` (a GUID) and its group, wherever it is in the queue
    /// (`Manager::find_job`).
    ///
    /// Errors (exit code 2): not a GUID (`E_INVALIDARG`), no group holds such a job
    /// (`QM_E_ITEM_NOT_FOUND`).
    pub fn find_job(&self, text: &str) -> Result<(Group, Job), Failure> {
        let id = parse_guid(text)?;
        match self.manager.find_job(id) {
            Ok(job) => Ok((job.group(), job)),
            // The command's own wording of "not found", as printed before find_job existed.
            Err(e) if e.hr == QM_E_ITEM_NOT_FOUND => {
                Err(Error::not_found(format!("no group of the queue has a job {id}")).into())
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// A GUID given on the command line (braces optional, surrounding spaces ignored).
///
/// Errors (exit code 2): `E_INVALIDARG` naming the text.
pub fn parse_guid(text: &str) -> Result<Guid, Failure> {
    Ok(Guid::parse(text.trim())?)
}

/// Cancels a group this command created but could not finish setting up, so that nothing
/// half-made stays in the queue; a failure is only logged (the original error matters).
pub fn cancel_quietly(group: &Group) {
    if let Err(e) = group.cancel() {
        log::warn!("cancelling group {}: {e}", group.id());
    }
}

/// `s` as one word for a POSIX shell: unchanged when it is made of safe characters only,
/// else in single quotes.
pub fn shell_quote(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "/._-+,:@%=".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quote_quotes_only_when_needed() {
        assert_eq!(shell_quote("/tmp/q-1"), "/tmp/q-1");
        assert_eq!(shell_quote("/tmp/my queue"), "'/tmp/my queue'");
        assert_eq!(shell_quote("/tmp/it's"), r"'/tmp/it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
