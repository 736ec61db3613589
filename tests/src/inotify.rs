//! A minimal inotify reader (Linux), for tests that must see every change a process makes to a
//! directory as it happens: a file appearing under its final name, a temporary file being
//! closed, the queue database being written.
//!
//! The mask bits are those of `libc` (`libc::IN_CREATE`, `libc::IN_MOVED_TO`, …).

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::fs::inotify::{self, CreateFlags, WatchFlags};

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
        let fd = inotify::init(CreateFlags::NONBLOCK | CreateFlags::CLOEXEC)?;
        Ok(Inotify { fd, watches: Vec::new() })
    }

    /// Watches `dir` for the `IN_*` events in `mask`.
    pub fn watch(&mut self, dir: &Path, mask: u32) -> io::Result<()> {
        let wd = inotify::add_watch(&self.fd, dir, WatchFlags::from_bits_retain(mask))?;
        self.watches.push((wd, dir.to_path_buf()));
        Ok(())
    }

    /// Waits up to `timeout` for events and returns those available (empty on time-out).
    /// An `IN_Q_OVERFLOW` event (lost events) is returned like any other, with an empty `dir`.
    pub fn read(&mut self, timeout: Duration) -> io::Result<Vec<Event>> {
        // Whole milliseconds, at most i32::MAX of them: the time-outs of poll(2).
        let ms = Duration::from_millis(timeout.as_millis().min(i32::MAX as u128) as u64);
        let limit = Timespec::try_from(ms).map_err(io::Error::other)?;
        match rustix::event::poll(&mut [PollFd::new(&self.fd, PollFlags::IN)], Some(&limit)) {
            Ok(0) | Err(rustix::io::Errno::INTR) => return Ok(Vec::new()),
            Ok(_) => {}
            Err(e) => return Err(e.into()),
        }
        // One read(2) of whatever is pending, then the events it brought.
        let mut buf = vec![MaybeUninit::<u8>::uninit(); 64 * 1024];
        let mut reader = inotify::Reader::new(&self.fd, &mut buf);
        let mut events = Vec::new();
        loop {
            let ev = match reader.next() {
                Ok(ev) => ev,
                Err(rustix::io::Errno::WOULDBLOCK) => return Ok(events), // nothing pending after all
                Err(e) => return Err(e.into()),
            };
            let name = ev.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let dir = self.watches.iter().find(|(wd, _)| *wd == ev.wd()).map(|(_, d)| d.clone()).unwrap_or_default();
            events.push(Event { dir, mask: ev.events().bits(), name });
            if reader.is_buffer_empty() {
                return Ok(events);
            }
        }
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
