//! A minimal inotify reader (Linux), for tests that must see every change a process makes to a
//! directory as it happens: a file appearing under its final name, a temporary file being
//! closed, the queue database being written.
//!
//! The mask bits are those of `libc` (`libc::IN_CREATE`, `libc::IN_MOVED_TO`, …).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One event: the watched directory, the event bits, and the entry's name (empty for events
/// on the directory itself).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The watched directory.
    pub dir: PathBuf,
    /// `IN_*` bits.
    pub mask: u32,
    /// Name of the entry in `dir`, or empty.
    pub name: String,
}

impl Event {
    /// True when the event has any of the `bits`.
    pub fn is(&self, bits: u32) -> bool {
        self.mask & bits != 0
    }
}

/// An inotify instance with its watches; closed on drop.
#[derive(Debug)]
pub struct Inotify {
    fd: OwnedFd,
    watches: Vec<(i32, PathBuf)>,
}

impl Inotify {
    /// A new instance (non-blocking, close-on-exec).
    pub fn new() -> io::Result<Inotify> {
        // SAFETY: inotify_init1 takes flags only; a non-negative result is a new descriptor
        // that this object then owns.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor owned by nothing else.
        Ok(Inotify { fd: unsafe { OwnedFd::from_raw_fd(fd) }, watches: Vec::new() })
    }

    /// Watches `dir` for the `IN_*` events in `mask`.
    pub fn watch(&mut self, dir: &Path, mask: u32) -> io::Result<()> {
        let c = CString::new(dir.as_os_str().as_bytes()).map_err(io::Error::other)?;
        // SAFETY: `c` is a valid NUL-terminated path that outlives the call; the descriptor is
        // owned by `self`.
        let wd = unsafe { libc::inotify_add_watch(self.fd.as_raw_fd(), c.as_ptr(), mask) };
        if wd < 0 {
            return Err(io::Error::last_os_error());
        }
        self.watches.push((wd, dir.to_path_buf()));
        Ok(())
    }

    /// Waits up to `timeout` for events and returns those available (empty on time-out).
    /// An `IN_Q_OVERFLOW` event (lost events) is returned like any other, with an empty `dir`.
    pub fn read(&mut self, timeout: Duration) -> io::Result<Vec<Event>> {
        let mut pfd = libc::pollfd { fd: self.fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd, count 1.
        let r = unsafe { libc::poll(&mut pfd, 1, ms) };
        if r < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted { Ok(Vec::new()) } else { Err(e) };
        }
        if r == 0 {
            return Ok(Vec::new());
        }
        let mut buf = vec![0u8; 64 * 1024];
        // SAFETY: `buf` is writable for its whole length.
        let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::WouldBlock { Ok(Vec::new()) } else { Err(e) };
        }
        let mut events = Vec::new();
        let header = std::mem::size_of::<libc::inotify_event>();
        let mut at = 0usize;
        while at + header <= n as usize {
            // SAFETY: the kernel wrote whole records; `read_unaligned` copes with the byte
            // buffer's alignment.
            let ev: libc::inotify_event = unsafe { std::ptr::read_unaligned(buf[at..].as_ptr().cast()) };
            let name_bytes = &buf[at + header..at + header + ev.len as usize];
            let name_end = name_bytes.iter().position(|&b| b == 0).unwrap_or(name_bytes.len());
            let name = String::from_utf8_lossy(&name_bytes[..name_end]).into_owned();
            let dir = self.watches.iter().find(|(wd, _)| *wd == ev.wd).map(|(_, d)| d.clone()).unwrap_or_default();
            events.push(Event { dir, mask: ev.mask, name });
            at += header + ev.len as usize;
        }
        Ok(events)
    }

    /// Waits until an event satisfies `wanted` or `timeout` passes; returns that event.
    pub fn wait_for(&mut self, timeout: Duration, mut wanted: impl FnMut(&Event) -> bool) -> io::Result<Option<Event>> {
        let end = Instant::now() + timeout;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            if let Some(e) = self.read(left)?.into_iter().find(|e| wanted(e)) {
                return Ok(Some(e));
            }
        }
    }
}
