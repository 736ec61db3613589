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
//!
//! The pool ([`Helpers`]) belongs to one transport, not to the process: when the transport
//! shuts down ([`Helpers::shutdown`], at the manager's last release), the idle helpers are
//! told to exit, the connections of busy ones are shut down (`ureq::Agent::shutdown`, which
//! ends a blocked read or write at once), and every helper thread is joined — so the library
//! leaves no thread behind (issue #14, item 7).

use crate::{read_step, CHUNK_SIZE, READ_AHEAD};
use qmgr_core::transport::{CancelFlag, FetchRequest, Traffic};
use std::collections::HashMap;
use std::io::{self, Read};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;
use ureq::http::HeaderMap;

/// How often the transfer thread looks at the cancel flag while waiting for the network.
pub(crate) const POLL: Duration = Duration::from_millis(50);

/// Body chunks buffered between the threads ([`READ_AHEAD`] in all).
const DEPTH: usize = READ_AHEAD / CHUNK_SIZE;
const _: () = assert!(DEPTH >= 1 && DEPTH * CHUNK_SIZE == READ_AHEAD, "READ_AHEAD is whole chunks");

/// For idle-mode transfers (DECISIONS D14), whose reader is held back by the rate limiter:
/// one chunk of at most 64 KiB waits between the threads, so that what the process takes off
/// the socket beyond the allowed rate stays small (the socket's receive buffer then fills and
/// closes the window at once).
const IDLE_DEPTH: usize = 1;
const IDLE_CHUNK: usize = 64 * 1024;

/// An idle helper thread waits this long for another exchange, then ends.
const IDLE_EXIT: Duration = Duration::from_secs(30);

/// The work of one exchange, given the helper thread's buffers ([`Buffers`]) and a
/// [`Finishing`] to call just before its last message.
type Job = Box<dyn FnOnce(&Arc<Buffers>, &mut Finishing<'_>) + Send>;

/// Read buffers ([`CHUNK_SIZE`] bytes) a helper thread has lent out and had back: a body is
/// read into one, which then travels as a [`Chunk`] to the writer and comes back here when
/// dropped — so that a byte is neither copied between the threads nor read into freshly
/// allocated (and faulted-in) memory.
pub(crate) struct Buffers(Mutex<Vec<Vec<u8>>>);

/// Buffers a helper keeps for reuse: what can be in flight at once (the channel, the one
/// being read, the writer's) and one more.
const KEPT_BUFFERS: usize = DEPTH + 3;

impl Buffers {
    fn new() -> Arc<Buffers> {
        Arc::new(Buffers(Mutex::new(Vec::new())))
    }

    /// A buffer of [`CHUNK_SIZE`] bytes: one given back, else a new one.
    fn take(&self) -> Vec<u8> {
        let back = self.0.lock().unwrap_or_else(PoisonError::into_inner).pop();
        back.unwrap_or_else(|| vec![0u8; CHUNK_SIZE])
    }

    fn give_back(&self, buf: Vec<u8>) {
        let mut kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.len() < KEPT_BUFFERS {
            kept.push(buf);
        }
    }
}

/// Bytes of a body read by a helper thread, in a buffer that goes back to its [`Buffers`]
/// when dropped (on whichever thread drops it).
pub(crate) struct Chunk {
    buf: Vec<u8>,
    len: usize,
    home: Arc<Buffers>,
}

impl Chunk {
    /// An empty chunk to read into, in a buffer of `home`.
    fn empty(home: &Arc<Buffers>) -> Chunk {
        Chunk { buf: home.take(), len: 0, home: home.clone() }
    }
}

impl std::ops::Deref for Chunk {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        self.home.give_back(std::mem::take(&mut self.buf));
    }
}

/// Counts the helper thread as idle once (early, or when its job returns): the transfer
/// thread starts its next exchange as soon as it has the last message of this one, and then
/// finds this thread idle instead of starting another.
pub(crate) struct Finishing<'a>(bool, &'a Pool);

impl Finishing<'_> {
    fn now(&mut self) {
        if !std::mem::replace(&mut self.0, true) {
            self.1.idle.fetch_add(1, Ordering::AcqRel);
        }
    }
}

/// The helper threads of one transport, kept between exchanges: starting a thread (and
/// zeroing its buffer) for every file would cost more than fetching a small file over a
/// kept-alive connection. Dropping it shuts it down ([`Helpers::shutdown`]).
pub(crate) struct Helpers {
    pool: Arc<Pool>,
}

/// What the helpers share. `idle` counts the threads waiting on `jobs`; a job is sent only
/// after claiming one of them, so it never waits for a busy thread.
struct Pool {
    jobs: crossbeam_channel::Receiver<Job>,
    idle: AtomicUsize,
    state: Mutex<PoolState>,
}

#[derive(Default)]
struct PoolState {
    /// `None` once shut down: idle helpers then see the channel disconnected and exit.
    sender: Option<crossbeam_channel::Sender<Job>>,
    /// Every helper thread started for this pool and not joined yet.
    threads: Vec<JoinHandle<()>>,
    /// The agent of each exchange running now, by number: shut down with the pool, so that a
    /// helper blocked on its socket returns at once.
    busy: HashMap<u64, ureq::Agent>,
    next_busy: u64,
}

impl Pool {
    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether [`Helpers::shutdown`] has begun.
    fn is_shut_down(&self) -> bool {
        self.lock().sender.is_none()
    }

    /// Records `agent` as used by a running exchange until the returned guard drops; `None`
    /// once the pool is shut down (the exchange must not start).
    fn enter(&self, agent: &ureq::Agent) -> Option<Busy<'_>> {
        let mut st = self.lock();
        st.sender.as_ref()?;
        st.next_busy += 1;
        let id = st.next_busy;
        st.busy.insert(id, agent.clone());
        Some(Busy(self, id))
    }
}

/// An exchange's entry in [`PoolState::busy`], removed when it ends.
struct Busy<'a>(&'a Pool, u64);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.lock().busy.remove(&self.1);
    }
}

/// Takes one from `count` if it is not zero; true when it did.
fn claim(count: &AtomicUsize) -> bool {
    count.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1)).is_ok()
}

/// Joins the threads of `threads` that have finished (at once: they have), keeps the others.
fn join_finished(threads: &mut Vec<JoinHandle<()>>) {
    for h in threads.extract_if(.., |h| h.is_finished()) {
        let _ = h.join();
    }
}

impl Helpers {
    /// An empty pool: threads are started by the first exchanges.
    pub(crate) fn new() -> Helpers {
        let (sender, jobs) = crossbeam_channel::unbounded();
        let state = PoolState { sender: Some(sender), ..PoolState::default() };
        Helpers { pool: Arc::new(Pool { jobs, idle: AtomicUsize::new(0), state: Mutex::new(state) }) }
    }

    /// Runs `job` on an idle helper thread, or on a new one when none is idle. Errors: the
    /// thread could not be started, or the pool is shut down.
    fn run(&self, job: Job) -> io::Result<()> {
        let pool = &self.pool;
        let mut st = pool.lock();
        let Some(sender) = &st.sender else {
            return Err(io::Error::other("the transport is shut down"));
        };
        if claim(&pool.idle) {
            // The pool holds the sender until shutdown: the channel is not disconnected.
            let _ = sender.send(job);
            return Ok(());
        }
        join_finished(&mut st.threads);
        let shared = pool.clone();
        // Started under the lock, so that a shutdown either refuses this job or joins this thread.
        let handle = std::thread::Builder::new().name("qmgr-net-http".into()).spawn(move || {
            let pool = &*shared;
            let buffers = Buffers::new();
            let mut job = job;
            loop {
                let mut finishing = Finishing(false, pool);
                job(&buffers, &mut finishing);
                finishing.now();
                job = loop {
                    match pool.jobs.recv_timeout(IDLE_EXIT) {
                        Ok(next) => break next,
                        // Shut down: no job will come.
                        Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return,
                        // Retire, unless a job was promised to an idle thread meanwhile.
                        Err(_) if claim(&pool.idle) => return,
                        Err(_) => continue,
                    }
                };
            }
        })?;
        st.threads.push(handle);
        Ok(())
    }

    /// Ends the pool: refuses new exchanges, shuts down `agents` and the agent of every
    /// exchange still running (their sockets are shut down: a blocked read or write returns
    /// at once, idle pooled connections close), wakes the idle helpers, and joins every
    /// thread. Returns how many threads were joined. A helper still resolving a name or
    /// opening a TCP connection is not interrupted (ureq cannot); it ends within the
    /// resolver's limits or `connect_timeout_ms`, and this waits for it. Idempotent.
    pub(crate) fn shutdown(&self, agents: &[ureq::Agent]) -> usize {
        let (busy, threads) = {
            let mut st = self.pool.lock();
            st.sender = None;
            (std::mem::take(&mut st.busy), std::mem::take(&mut st.threads))
        };
        for agent in agents.iter().chain(busy.values()) {
            agent.clone().shutdown();
        }
        let n = threads.len();
        for h in threads {
            let _ = h.join();
        }
        n
    }
}

impl Drop for Helpers {
    fn drop(&mut self) {
        self.shutdown(&[]);
    }
}

/// What the helper thread reports, in this order: one `Head`, then `Data`… and `End` or
/// `Failed`.
pub(crate) enum Event {
    /// The answer's status and headers, or the failure to get them.
    Head(Result<(u16, HeaderMap), ureq::Error>),
    /// Bytes of the body.
    Data(Chunk),
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
    /// Sends `GET url` with `headers` on a helper thread of `helpers`, for the transfer `req`:
    /// an idle-mode one is buffered less ([`IDLE_DEPTH`], [`IDLE_CHUNK`]); a rate-limited one
    /// reads in steps of [`read_step`] (its rate when the exchange starts).
    pub(crate) fn start(
        helpers: &Helpers,
        agent: &ureq::Agent,
        url: &str,
        headers: Vec<(&'static str, String)>,
        req: &FetchRequest<'_>,
    ) -> io::Result<Exchange> {
        let (depth, chunk) = match req.traffic {
            Traffic::Idle => (IDLE_DEPTH, IDLE_CHUNK),
            _ => (DEPTH, read_step(req.throttle.rate())),
        };
        let (tx, rx) = sync_channel(depth);
        let agent = agent.clone();
        let url = url.to_string();
        helpers.run(Box::new(move |buffers: &Arc<Buffers>, finishing: &mut Finishing<'_>| {
            // Dropping `tx` unanswered (shut down) tells the transfer thread.
            let Some(_busy) = finishing.1.enter(&agent) else { return };
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
            // Read into; given back to `buffers` however the exchange ends.
            let mut next = Chunk::empty(buffers);
            loop {
                let event = match reader.read(&mut next.buf[..chunk]) {
                    // Agent::shutdown (at the transport's shutdown) can wake a blocked read
                    // with an end of stream; for a body delimited by the connection's close
                    // that is no proof of its end (DECISIONS D15).
                    Ok(0) if finishing.1.is_shut_down() => {
                        let e = io::Error::new(io::ErrorKind::ConnectionAborted, "the transport is shut down");
                        Event::Failed(ureq::Error::Io(e))
                    }
                    Ok(0) => Event::End,
                    Ok(n) => {
                        next.len = n;
                        Event::Data(std::mem::replace(&mut next, Chunk::empty(buffers)))
                    }
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
