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
use std::path::{Path, PathBuf};

use rustix::mount::{MountFlags, MountPropagationFlags, UnmountFlags};

/// `unshare(CLONE_NEWNS)`: a private mount namespace for the calling thread.
///
/// rustix 1.1 deprecated its safe `unshare` in favour of `unshare_unsafe`, because
/// `CLONE_FILES` would let other threads' descriptors dangle in this one. `CLONE_NEWNS` alone
/// (which implies `CLONE_FS`: cwd, root and umask become the thread's own) leaves the descriptor
/// table shared, so the safe call is sound here and the crate keeps `forbid(unsafe_code)`.
#[allow(deprecated)]
fn unshare_mount_namespace() -> io::Result<()> {
    Ok(rustix::thread::unshare(rustix::thread::UnshareFlags::NEWNS)?)
}

/// Gives the calling thread a private mount namespace and checks that it can mount there.
/// Returns false when that is not possible (not root, no `CAP_SYS_ADMIN`, seccomp…): the caller
/// then skips the test. Under CI ([`crate::in_ci`]) that is a failure instead.
pub fn private_mounts(why: &str) -> bool {
    let attempt = || -> io::Result<()> {
        unshare_mount_namespace()?;
        rustix::mount::mount_change("/", MountPropagationFlags::REC | MountPropagationFlags::PRIVATE)?;
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
    let data = CString::new(format!("size={size},mode=0755")).map_err(io::Error::other)?;
    rustix::mount::mount("tmpfs", dir, "tmpfs", MountFlags::NOSUID | MountFlags::NODEV, data.as_c_str())?;
    Ok(Mount { dir: Some(dir.to_path_buf()) })
}

/// Makes `dir` read-only from now on by bind-mounting it onto itself read-only (files already
/// open for writing keep writing to the directory underneath; every path lookup from now on
/// sees a read-only file system, `EROFS`). Dropping the result undoes it. Call after
/// [`private_mounts`].
pub fn bind_read_only(dir: &Path) -> io::Result<Mount> {
    rustix::mount::mount_bind(dir, dir)?;
    let guard = Mount { dir: Some(dir.to_path_buf()) };
    // MS_REMOUNT | MS_BIND | MS_RDONLY; the kernel ignores the (empty) data of a bind remount.
    rustix::mount::mount_remount(dir, MountFlags::BIND | MountFlags::RDONLY, "")?;
    Ok(guard)
}

/// Unmounts what is mounted on `dir` (lazily: also while files on it are still open).
fn unmount(dir: &Path) -> io::Result<()> {
    Ok(rustix::mount::unmount(dir, UnmountFlags::DETACH)?)
}
