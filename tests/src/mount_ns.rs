//! Small or read-only file systems for tests, in a private mount namespace of the test thread.
//!
//! [`private_mounts`] gives the *calling thread* its own mount namespace (`unshare(CLONE_NEWNS)`
//! on that thread only, with every mount made private, so nothing propagates back to the host).
//! Mounts made afterwards by that thread ([`mount_tmpfs`], [`bind_read_only`]) are seen by that
//! thread, by the threads it starts afterwards (a queue manager opened on it, with its
//! scheduler and transfer threads) and by the processes it spawns afterwards (`qmgr` children);
//! the rest of the test process and the host never see them, and they vanish with the last
//! thread or process using the namespace, even when the test panics or is killed ([`Mount`]
//! also undoes each mount when dropped).
//!
//! This needs `CAP_SYS_ADMIN` (root in a VM or a privileged container). Where it is not
//! possible, [`private_mounts`] follows the policy of [`crate::require_tool`]: it fails the test
//! under CI and otherwise prints why the test is skipped.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

fn c_path(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(io::Error::other)
}

fn check(r: libc::c_int) -> io::Result<()> {
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn mount(
    source: Option<&str>,
    target: &Path,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> io::Result<()> {
    let source = source.map(CString::new).transpose().map_err(io::Error::other)?;
    let fstype = fstype.map(CString::new).transpose().map_err(io::Error::other)?;
    let data = data.map(CString::new).transpose().map_err(io::Error::other)?;
    let target = c_path(target)?;
    let ptr = |c: &Option<CString>| c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
    // SAFETY: every pointer is NULL or a NUL-terminated string that outlives the call.
    check(unsafe { libc::mount(ptr(&source), target.as_ptr(), ptr(&fstype), flags, ptr(&data).cast()) })
}

/// Gives the calling thread a private mount namespace and checks that it can mount there.
/// Returns false when that is not possible (not root, no `CAP_SYS_ADMIN`, seccomp…): the caller
/// then skips the test. Under CI ([`crate::in_ci`]) that is a failure instead.
pub fn private_mounts(why: &str) -> bool {
    let attempt = || -> io::Result<()> {
        // SAFETY: unshare with CLONE_NEWNS affects only the calling thread's namespaces.
        check(unsafe { libc::unshare(libc::CLONE_NEWNS) })?;
        mount(None, Path::new("/"), None, libc::MS_REC | libc::MS_PRIVATE, None)?;
        let probe = tempfile::tempdir()?;
        mount_tmpfs(probe.path(), 64 * 1024)?.unmount()
    };
    match attempt() {
        Ok(()) => true,
        Err(e) => {
            assert!(!crate::in_ci(), "{why} needs a private mount namespace (root): {e}; under CI this is a failure");
            eprintln!("SKIPPED: {why} needs a private mount namespace (root): {e} (under CI this is a failure)");
            false
        }
    }
}

/// A mount made by this module; unmounted (lazily) when dropped, so that a test's temporary
/// directory can be removed after it, also when the test thread is the process's main thread
/// (`--test-threads=1`) and its namespace outlives the test.
#[must_use = "the mount is undone when this is dropped"]
#[derive(Debug)]
pub struct Mount {
    dir: Option<PathBuf>,
}

impl Mount {
    /// Unmounts now, reporting failure.
    pub fn unmount(mut self) -> io::Result<()> {
        let dir = self.dir.take().expect("mounted");
        unmount(&dir)
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            let _ = unmount(&dir);
        }
    }
}

/// Mounts a tmpfs of `size` bytes on `dir` (mode 0755). Call after [`private_mounts`].
pub fn mount_tmpfs(dir: &Path, size: u64) -> io::Result<Mount> {
    mount(
        Some("tmpfs"),
        dir,
        Some("tmpfs"),
        libc::MS_NOSUID | libc::MS_NODEV,
        Some(&format!("size={size},mode=0755")),
    )?;
    Ok(Mount { dir: Some(dir.to_path_buf()) })
}

/// Makes `dir` read-only from now on by bind-mounting it onto itself read-only (files already
/// open for writing keep writing to the directory underneath; every path lookup from now on
/// sees a read-only file system, `EROFS`). Dropping the result undoes it. Call after
/// [`private_mounts`].
pub fn bind_read_only(dir: &Path) -> io::Result<Mount> {
    mount(Some(&dir.to_string_lossy()), dir, None, libc::MS_BIND, None)?;
    let guard = Mount { dir: Some(dir.to_path_buf()) };
    mount(None, dir, None, libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY, None)?;
    Ok(guard)
}

/// Unmounts what is mounted on `dir` (lazily: also while files on it are still open).
fn unmount(dir: &Path) -> io::Result<()> {
    let target = c_path(dir)?;
    // SAFETY: `target` is a NUL-terminated path that outlives the call.
    check(unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) })
}
