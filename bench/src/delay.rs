//! The delay rig (issue #17 item 4): a TCP proxy on 127.0.0.1 that adds a fixed round trip
//! between its clients and one server — a "far-away server" on loopback, since `netem` is not
//! in this kernel. Only the standard library and rustix: the tests crate can take it over as
//! it is.
//!
//! Per accepted connection the proxy opens one connection to the server and runs one thread
//! that forwards both directions. Bytes read from one side are queued as timestamped chunks
//! and written to the other side when they are due, one one-way delay after they were read
//! (in order; nothing is sent early, and the thread waits in `poll(2)` for the next due time or
//! a socket, never in a fixed sleep). An end of stream (FIN) is forwarded as a
//! `shutdown(SHUT_WR)` and a reset (RST) as a reset (`SO_LINGER` 0, then close), each after
//! the same delay and after the bytes before it.
//!
//! **Memory:** each direction of a connection queues at most [`Config::queue_bytes`] bytes
//! (default 2 MiB); the proxy stops reading that side while its queue is full, so TCP's own
//! flow control holds the sender back. A connection thus holds at most 2 × `queue_bytes` plus
//! one 64 KiB read buffer, and a direction carries at most `queue_bytes / one_way` — with the
//! defaults 2 MiB / 25 ms = 84 MB/s per connection and direction, far above what the
//! scenarios using it need (64 KiB files, a few MB/s per connection).
//!
//! **Connection set-up:** the client's `connect` completes at once (the kernel accepts for the
//! proxy), but on a real path the client could send its first byte only after SYN and SYN-ACK
//! (one round trip). So bytes from the client are never due before three one-way delays after
//! the connection was accepted (see [`due`]): a new connection costs one more round trip than
//! a kept-alive one, as it does on a real network.
//!
//! **What it does not model:** TCP slow start and congestion windows (each side talks to the
//! proxy over loopback, so the window of the path is the queue bound), loss, jitter and
//! bandwidth limits.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags, Timespec};

/// Largest read from one socket at a time, in bytes.
const CHUNK: usize = 64 << 10;

/// How long the proxy tries to reach the server for each new connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The delay and the memory bound of a [`DelayProxy`].
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Delay of each direction; the round trip added is twice this. Default 25 ms (50 ms RTT).
    pub one_way: Duration,
    /// Bytes queued at most per connection and direction; default 2 MiB. The throughput of a
    /// direction is at most `queue_bytes / one_way`.
    pub queue_bytes: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config { one_way: Duration::from_millis(25), queue_bytes: 2 << 20 }
    }
}

/// A running delay proxy: clients connect to [`DelayProxy::addr`] and reach the server given
/// to [`DelayProxy::start`] one [`Config::one_way`] later, and its answers come back one
/// `one_way` later again.
///
/// Dropping it stops accepting new connections; the connections already open keep being
/// forwarded until both of their ends have closed (each has its own thread).
pub struct DelayProxy {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl DelayProxy {
    /// Listens on a free port of 127.0.0.1 and forwards every connection to `server`.
    ///
    /// Errors: the listener cannot be bound, or its thread not started. A server that cannot
    /// be reached is not an error here: each client connection is then reset.
    pub fn start(server: SocketAddr, config: Config) -> io::Result<DelayProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let acceptor = std::thread::Builder::new().name("delay-accept".into()).spawn(move || {
            for client in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let accepted = Instant::now();
                // A connection whose thread cannot start is dropped (the client sees it close).
                let _ = std::thread::Builder::new()
                    .name("delay-conn".into())
                    .spawn(move || forward(client, server, accepted, config));
            }
        })?;
        Ok(DelayProxy { addr, stop, acceptor: Some(acceptor) })
    }

    /// The address clients connect to (127.0.0.1 and the proxy's port).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the acceptor blocked in accept(2); it sees the flag and ends.
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// When bytes (or an end of stream, or a reset) read at `read` from the client (`to_server`)
/// or from the server are due at the other side, for a connection accepted at `accepted`:
/// `read + one_way`, and from the client never before `accepted + 3 × one_way` (SYN, SYN-ACK,
/// then the first data: the set-up round trip a real path would cost).
pub fn due(to_server: bool, read: Instant, accepted: Instant, one_way: Duration) -> Instant {
    let sent = if to_server { read.max(accepted + 2 * one_way) } else { read };
    sent + one_way
}

/// What one queued item delivers.
enum What {
    Data(Vec<u8>),
    /// The source's end of stream: `shutdown(SHUT_WR)` of the destination.
    Eof,
    /// The source's reset (or a failed write to it): reset the destination.
    Reset,
}

/// One direction of a connection: source socket index → destination socket index.
struct Direction {
    from: usize,
    to: usize,
    queue: VecDeque<(Instant, What)>,
    /// Data bytes in `queue`, at most `Config::queue_bytes`.
    queued: usize,
    /// Bytes of the head chunk already written.
    written: usize,
    /// No more reading from the source (end of stream or error seen).
    read_done: bool,
    /// The end of stream was delivered: nothing more goes this way.
    write_done: bool,
}

impl Direction {
    fn new(from: usize, to: usize) -> Direction {
        Direction { from, to, queue: VecDeque::new(), queued: 0, written: 0, read_done: false, write_done: false }
    }

    fn wants_read(&self, config: &Config) -> bool {
        !self.read_done && self.queued < config.queue_bytes
    }

    /// The head item is due and waits for its destination to take it.
    fn head_due(&self, now: Instant) -> bool {
        self.queue.front().is_some_and(|(due, _)| *due <= now)
    }
}

/// Forwards one client connection until both ends have closed or one was reset.
fn forward(client: TcpStream, server: SocketAddr, accepted: Instant, config: Config) {
    let Ok(upstream) = TcpStream::connect_timeout(&server, CONNECT_TIMEOUT) else {
        reset(&client);
        return;
    };
    let sockets = [client, upstream];
    for s in &sockets {
        // Every chunk leaves when due: no Nagle delay on top.
        if s.set_nodelay(true).and_then(|()| s.set_nonblocking(true)).is_err() {
            sockets.iter().for_each(reset);
            return;
        }
    }
    let mut dirs = [Direction::new(0, 1), Direction::new(1, 0)];
    let mut buf = vec![0u8; CHUNK];
    loop {
        let now = Instant::now();
        // Deliver what is due.
        for d in 0..2 {
            match deliver(&mut dirs[d], &sockets, now) {
                Delivered::Pending => {}
                Delivered::Reset => {
                    sockets.iter().for_each(reset);
                    return;
                }
                Delivered::WriteFailed => {
                    // The destination is gone: its side gets nothing more, and the source
                    // learns it as a reset after the delay, behind what was already queued.
                    let back = 1 - d;
                    dirs[d].queue.clear();
                    dirs[d].queued = 0;
                    dirs[d].read_done = true;
                    dirs[d].write_done = true;
                    let at = due(dirs[back].from == 0, now, accepted, config.one_way);
                    if !dirs[back].read_done {
                        dirs[back].read_done = true;
                        dirs[back].queue.push_back((at, What::Reset));
                    }
                }
            }
        }
        if dirs.iter().all(|d| d.write_done) {
            return;
        }
        // Wait for a readable source, a writable destination of a due chunk, or the next due time.
        let mut interest = [PollFlags::empty(); 2];
        let mut next_due: Option<Instant> = None;
        for d in &dirs {
            if d.wants_read(&config) {
                interest[d.from] |= PollFlags::IN;
            }
            if d.head_due(now) {
                interest[d.to] |= PollFlags::OUT;
            } else if let Some((at, _)) = d.queue.front() {
                next_due = Some(next_due.map_or(*at, |n| n.min(*at)));
            }
        }
        let mut fds: Vec<PollFd<'_>> = Vec::with_capacity(2);
        let mut polled: Vec<usize> = Vec::with_capacity(2);
        for (i, flags) in interest.iter().enumerate() {
            if !flags.is_empty() {
                fds.push(PollFd::new(&sockets[i], *flags));
                polled.push(i);
            }
        }
        if fds.is_empty() && next_due.is_none() {
            // Nothing can happen any more (both sources done, queues empty).
            return;
        }
        let timeout = next_due.map(|at| Timespec::try_from(at.saturating_duration_since(now)).unwrap_or_default());
        match poll(&mut fds, timeout.as_ref()) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => {
                sockets.iter().for_each(reset);
                return;
            }
        }
        let ready: Vec<(usize, PollFlags)> = polled.iter().zip(&fds).map(|(i, fd)| (*i, fd.revents())).collect();
        let now = Instant::now();
        for d in dirs.iter_mut() {
            let readable = ready.iter().any(|(i, r)| *i == d.from && !r.is_empty());
            if !readable || !d.wants_read(&config) {
                continue;
            }
            let room = (config.queue_bytes - d.queued).min(CHUNK);
            let at = due(d.from == 0, now, accepted, config.one_way);
            match (&sockets[d.from]).read(&mut buf[..room]) {
                Ok(0) => {
                    d.read_done = true;
                    d.queue.push_back((at, What::Eof));
                }
                Ok(n) => {
                    d.queued += n;
                    d.queue.push_back((at, What::Data(buf[..n].to_vec())));
                }
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => {}
                Err(_) => {
                    d.read_done = true;
                    d.queue.push_back((at, What::Reset));
                }
            }
        }
    }
}

/// What [`deliver`] ended with.
enum Delivered {
    /// Everything due was delivered, or the destination is full for now.
    Pending,
    /// A reset was due: the connection ends with resets on both sides.
    Reset,
    /// Writing to the destination failed (it reset or vanished).
    WriteFailed,
}

/// Writes the due items of `d` to its destination until one is not due or the destination is
/// full.
fn deliver(d: &mut Direction, sockets: &[TcpStream; 2], now: Instant) -> Delivered {
    let mut dest = &sockets[d.to];
    while d.head_due(now) {
        let Some((_, what)) = d.queue.front() else { break };
        match what {
            What::Data(bytes) => match dest.write(&bytes[d.written..]) {
                Ok(n) => {
                    d.written += n;
                    if d.written == bytes.len() {
                        d.queued -= bytes.len();
                        d.written = 0;
                        d.queue.pop_front();
                    }
                }
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => break,
                Err(_) => return Delivered::WriteFailed,
            },
            What::Eof => {
                // A peer that already closed its reading side is no reason to fail.
                let _ = dest.shutdown(Shutdown::Write);
                d.queue.pop_front();
                d.write_done = true;
            }
            What::Reset => return Delivered::Reset,
        }
    }
    Delivered::Pending
}

/// Makes the socket's last close send a reset (RST) instead of an orderly end.
fn reset(socket: &TcpStream) {
    let _ = rustix::net::sockopt::set_socket_linger(socket, Some(Duration::ZERO));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Generous bound for anything that should take milliseconds, on a loaded machine.
    const DEADLINE: Duration = Duration::from_secs(30);

    /// A server that echoes every byte back and shuts down its writing side at end of stream;
    /// serves connections one after another.
    fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; 8192];
                    loop {
                        match conn.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                if conn.write_all(&buf[..n]).is_err() {
                                    return;
                                }
                            }
                        }
                    }
                    let _ = conn.shutdown(Shutdown::Write);
                });
            }
        });
        addr
    }

    fn config(one_way_ms: u64) -> Config {
        Config { one_way: Duration::from_millis(one_way_ms), ..Config::default() }
    }

    fn connect(proxy: &DelayProxy) -> TcpStream {
        let s = TcpStream::connect(proxy.addr()).expect("connect to the proxy");
        s.set_read_timeout(Some(DEADLINE)).expect("read timeout");
        s
    }

    /// Sends `msg` and reads as many bytes back; returns them and the time it took.
    fn exchange(s: &mut TcpStream, msg: &[u8]) -> (Vec<u8>, Duration) {
        let started = Instant::now();
        s.write_all(msg).expect("write");
        let mut back = vec![0u8; msg.len()];
        s.read_exact(&mut back).expect("read the echo");
        (back, started.elapsed())
    }

    #[test]
    fn due_times() {
        let t0 = Instant::now();
        let ow = Duration::from_millis(25);
        // (to server, read at t0 + ms, due at t0 + ms)
        let table = [
            (true, 0, 75),    // the client's first bytes: SYN, SYN-ACK, then one way
            (true, 30, 75),   // still within the set-up round trip
            (true, 50, 75),   // the set-up is over
            (true, 200, 225), // later bytes: one way
            (false, 0, 25),   // from the server: one way, always
            (false, 200, 225),
        ];
        for (to_server, read_ms, due_ms) in table {
            let read = t0 + Duration::from_millis(read_ms);
            assert_eq!(
                due(to_server, read, t0, ow),
                t0 + Duration::from_millis(due_ms),
                "to_server {to_server}, read at {read_ms} ms"
            );
        }
    }

    #[test]
    fn a_round_trip_takes_at_least_the_delay() {
        let proxy = DelayProxy::start(echo_server(), config(25)).expect("start");
        let mut s = connect(&proxy);
        let (back, first) = exchange(&mut s, b"ping");
        assert_eq!(back, b"ping");
        // A new connection: the set-up round trip, then the exchange's round trip.
        assert!(first >= Duration::from_millis(100), "first exchange took {first:?}");
        for _ in 0..3 {
            let (back, rtt) = exchange(&mut s, b"pong!");
            assert_eq!(back, b"pong!");
            assert!(rtt >= Duration::from_millis(50), "round trip took {rtt:?}");
            assert!(rtt < DEADLINE, "round trip took {rtt:?}");
        }
    }

    #[test]
    fn bytes_arrive_intact_and_in_order_through_a_small_queue() {
        // 64 KiB queued at most per direction, 8 MiB through it in both directions at once.
        let proxy =
            DelayProxy::start(echo_server(), Config { one_way: Duration::from_millis(5), queue_bytes: 64 << 10 })
                .expect("start");
        let s = connect(&proxy);
        let sent: Vec<u8> = (0..8u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let mut writer = s.try_clone().expect("clone");
        let to_send = sent.clone();
        let sender = std::thread::spawn(move || {
            for chunk in to_send.chunks(10_007) {
                writer.write_all(chunk).expect("write");
            }
            writer.shutdown(Shutdown::Write).expect("shutdown");
        });
        let mut received = Vec::new();
        (&s).read_to_end(&mut received).expect("read the echo to its end");
        sender.join().expect("sender");
        assert_eq!(received.len(), sent.len());
        assert!(received == sent, "the echo differs from what was sent");
    }

    #[test]
    fn an_end_of_stream_propagates_after_the_delay() {
        let proxy = DelayProxy::start(echo_server(), config(25)).expect("start");
        let mut s = connect(&proxy);
        let _ = exchange(&mut s, b"x");
        let started = Instant::now();
        s.shutdown(Shutdown::Write).expect("shutdown");
        // The echo server sees the end only through the proxy, then closes its side.
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).expect("the server's end of stream");
        assert!(rest.is_empty());
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(50), "the close came back after {took:?}");
    }

    #[test]
    fn a_reset_propagates() {
        // A server that resets each connection once it has read a byte.
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let server = listener.local_addr().expect("addr");
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                let mut byte = [0u8; 1];
                let _ = conn.read_exact(&mut byte);
                reset(&conn);
            }
        });
        let proxy = DelayProxy::start(server, config(10)).expect("start");
        let mut s = connect(&proxy);
        s.write_all(b"?").expect("write");
        let mut buf = [0u8; 16];
        let err = s.read(&mut buf).expect_err("the reset, not data or an orderly end");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");
    }

    #[test]
    fn an_unreachable_server_resets_the_client() {
        let refused = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port");
        let proxy = DelayProxy::start(refused, config(10)).expect("start");
        let mut s = connect(&proxy);
        let mut buf = [0u8; 16];
        let err = s.read(&mut buf).expect_err("a reset");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");
    }
}
