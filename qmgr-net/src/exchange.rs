//! One HTTP exchange run on a helper thread (kept in a pool between exchanges), so that the transfer thread can watch the
//! cancel flag while the network is slow or stalled.
//!
//! ureq's reads block (up to the read timeout); a suspend or cancel must be honoured within
//! 100 ms (DESIGN "Engine", DECISIONS D11). The helper thread sends the request, passes the
//! answer's head and then the body in chunks over a bounded channel; the transfer thread
//! waits on that channel in steps of [`POLL`] and checks the cancel flag between steps. When
//! the transfer thread stops listening (cancel, or an answer it does not want), the helper
//! notices at its next send and ends, closing the connection; at worst it outlives the fetch
//! by one read timeout, and it never touches the temporary file.

use crate::CHUNK_SIZE;
use qmgr_core::transport::CancelFlag;
use std::io::{self, Read};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError};
use std::sync::OnceLock;
use std::time::Duration;
use ureq::http::HeaderMap;

/// How often the transfer thread looks at the cancel flag while waiting for the network.
pub(crate) const POLL: Duration = Duration::from_millis(50);

/// Body chunks buffered between the threads (at most 4 × [`CHUNK_SIZE`]).
const DEPTH: usize = 4;

/// For idle-mode transfers (DECISIONS D14), whose reader is held back by the rate limiter:
/// one chunk of at most 64 KiB waits between the threads, so that what the process takes off
/// the socket beyond the allowed rate stays small (the socket's receive buffer then fills and
/// closes the window at once).
const IDLE_DEPTH: usize = 1;
const IDLE_CHUNK: usize = 64 * 1024;

/// An idle helper thread waits this long for another exchange, then ends.
const IDLE_EXIT: Duration = Duration::from_secs(30);

/// The work of one exchange, given the helper thread's read buffer ([`CHUNK_SIZE`] bytes)
/// and a [`Finishing`] to call just before its last message.
type Job = Box<dyn FnOnce(&mut [u8], &mut Finishing) + Send>;

/// Counts the helper thread as idle once (early, or when its job returns): the transfer
/// thread starts its next exchange as soon as it has the last message of this one, and then
/// finds this thread idle instead of starting another.
struct Finishing(bool);

impl Finishing {
    fn now(&mut self) {
        if !std::mem::replace(&mut self.0, true) {
            pool().idle.fetch_add(1, Ordering::AcqRel);
        }
    }
}

/// Helper threads kept between exchanges: starting a thread (and zeroing its buffer) for
/// every file would cost more than fetching a small file over a kept-alive connection.
/// `idle` counts the threads waiting on `jobs`; a job is sent only after claiming one of
/// them, so it never waits for a busy thread.
struct Pool {
    jobs: (crossbeam_channel::Sender<Job>, crossbeam_channel::Receiver<Job>),
    idle: AtomicUsize,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool { jobs: crossbeam_channel::unbounded(), idle: AtomicUsize::new(0) })
}

/// Takes one from `count` if it is not zero; true when it did.
fn claim(count: &AtomicUsize) -> bool {
    count.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1)).is_ok()
}

/// Runs `job` on an idle helper thread, or on a new one when none is idle.
fn run_on_helper(job: Job) -> io::Result<()> {
    let pool = pool();
    if claim(&pool.idle) {
        // The pool holds a receiver itself: the channel is never disconnected.
        let _ = pool.jobs.0.send(job);
        return Ok(());
    }
    std::thread::Builder::new().name("qmgr-net-http".into()).spawn(move || {
        let mut buf = vec![0u8; CHUNK_SIZE];
        let mut job = job;
        loop {
            let mut finishing = Finishing(false);
            job(&mut buf, &mut finishing);
            finishing.now();
            job = loop {
                match pool.jobs.1.recv_timeout(IDLE_EXIT) {
                    Ok(next) => break next,
                    // Retire, unless a job was promised to an idle thread meanwhile.
                    Err(_) if claim(&pool.idle) => return,
                    Err(_) => continue,
                }
            };
        }
    })?;
    Ok(())
}

/// What the helper thread reports, in this order: one `Head`, then `Data`… and `End` or
/// `Failed`.
pub(crate) enum Event {
    /// The answer's status and headers, or the failure to get them.
    Head(Result<(u16, HeaderMap), ureq::Error>),
    /// Bytes of the body.
    Data(Vec<u8>),
    /// The body ended normally (ureq checks Content-Length and chunked framing).
    End,
    /// Reading the body failed.
    Failed(ureq::Error),
}

/// A running exchange; dropping it abandons the answer.
pub(crate) struct Exchange {
    rx: Receiver<Event>,
}

impl Exchange {
    /// Sends `GET url` with `headers` on a helper thread (one of the [`pool`]'s). `idle`: an
    /// idle-mode transfer, buffered less ([`IDLE_DEPTH`], [`IDLE_CHUNK`]).
    pub(crate) fn start(
        agent: &ureq::Agent,
        url: &str,
        headers: Vec<(&'static str, String)>,
        idle: bool,
    ) -> io::Result<Exchange> {
        let (depth, chunk) = if idle { (IDLE_DEPTH, IDLE_CHUNK) } else { (DEPTH, CHUNK_SIZE) };
        let (tx, rx) = sync_channel(depth);
        let agent = agent.clone();
        let url = url.to_string();
        run_on_helper(Box::new(move |buf: &mut [u8], finishing: &mut Finishing| {
            let mut req = agent.get(&url);
            for (name, value) in headers {
                req = req.header(name, value);
            }
            let response = match req.call() {
                Ok(r) => r,
                Err(e) => {
                    finishing.now();
                    let _ = tx.send(Event::Head(Err(e)));
                    return;
                }
            };
            let (parts, body) = response.into_parts();
            if tx.send(Event::Head(Ok((parts.status.as_u16(), parts.headers)))).is_err() {
                return;
            }
            let mut reader = body.into_reader();
            loop {
                let event = match reader.read(&mut buf[..chunk]) {
                    Ok(0) => Event::End,
                    Ok(n) => Event::Data(buf[..n].to_vec()),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => Event::Failed(ureq::Error::from(e)),
                };
                let last = !matches!(event, Event::Data(_));
                if last {
                    finishing.now();
                }
                if tx.send(event).is_err() || last {
                    return;
                }
            }
        }))?;
        Ok(Exchange { rx })
    }

    /// The next event, or `None` once `cancel` is raised (checked every [`POLL`]). `idle` runs
    /// at each [`POLL`] that passes without an event (a heartbeat during stalls).
    pub(crate) fn next(&self, cancel: &CancelFlag, idle: &mut dyn FnMut()) -> Option<Event> {
        loop {
            if cancel.is_cancelled() {
                return None;
            }
            match self.rx.recv_timeout(POLL) {
                Ok(event) => return Some(event),
                Err(RecvTimeoutError::Timeout) => idle(),
                Err(RecvTimeoutError::Disconnected) => {
                    let lost = io::Error::new(io::ErrorKind::UnexpectedEof, "the transfer thread ended early");
                    return Some(Event::Failed(ureq::Error::Io(lost)));
                }
            }
        }
    }
}
