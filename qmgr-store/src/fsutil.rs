//! Creating the queue directory and its files with the modes of DECISIONS D6 / D12.

use std::fs::{self, DirBuilder, File, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Mode of every directory this crate creates.
pub(crate) const DIR_MODE: u32 = 0o700;
/// Mode of every file this crate creates.
pub(crate) const FILE_MODE: u32 = 0o600;

/// Creates `dir` and its missing parents. Each directory created here gets exactly mode 0700
/// (set explicitly, so the umask cannot change it); existing ones are left untouched.
/// A directory created concurrently by someone else counts as existing.
pub(crate) fn create_dirs(dir: &Path) -> io::Result<()> {
    let mut missing = Vec::new();
    let mut cur = dir;
    loop {
        match fs::metadata(cur) {
            Ok(m) if m.is_dir() => break,
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::NotADirectory,
                    format!("{} exists and is not a directory", cur.display()),
                ))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                missing.push(cur);
                match cur.parent() {
                    Some(p) if !p.as_os_str().is_empty() => cur = p,
                    _ => break,
                }
            }
            Err(e) => return Err(e),
        }
    }
    for d in missing.iter().rev() {
        match DirBuilder::new().mode(DIR_MODE).create(d) {
            Ok(()) => fs::set_permissions(d, Permissions::from_mode(DIR_MODE))?,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && d.is_dir() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Creates `path` with exactly mode 0600 (set explicitly, so the umask cannot change it) when
/// it does not exist, and returns it open for writing; `None` when it already exists (its mode
/// is left untouched).
pub(crate) fn create_private_file(path: &Path) -> io::Result<Option<File>> {
    match OpenOptions::new().write(true).create_new(true).mode(FILE_MODE).open(path) {
        Ok(f) => {
            f.set_permissions(Permissions::from_mode(FILE_MODE))?;
            Ok(Some(f))
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(None),
        Err(e) => Err(e),
    }
}
