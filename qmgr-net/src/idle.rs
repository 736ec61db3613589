//! Idle-mode connections (DECISIONS D14): the TCP connections of background transfers in
//! `background_mode` `idle`, opened by [`IdleConnector`] so that qmgr owns their sockets, and
//! the measurements taken of them for the controller in `qmgr_core::rules::idle`.
//!
//! * Each connection is registered in [`IdleSockets`] while it is open.
//! * [`IdleSockets::sample`] reads every registered socket's `TCP_INFO` (the receiver's RTT
//!   estimate `tcpi_rcv_rtt`, reported only when it changed since the last sample — an
//!   unchanged estimate is an old measurement — and `tcpi_bytes_received`) and the received
//!   bytes of the interface they use (`/proc/net/dev`).
//! * [`IdleSockets::set_window`] clamps every one of them (`TCP_WINDOW_CLAMP`, and every new
//!   one when it opens) to the window the controller decided. This is rLEDBAT's enforcement
//!   (RFC 9840 §3): the sender can never have more than the clamp in flight and unread, so the
//!   moment the controller lowers the rate, the window closes. It is the "small receive
//!   buffer" made adaptive: a fixed small `SO_RCVBUF` would cap a lone background transfer
//!   on a long path (64 KiB at 50 ms RTT is 1.3 MB/s) and is itself capped by
//!   `net.core.rmem_max`, while the clamp follows the rate (its share × (base RTT + target)).
//!
//! Idle transfers use an agent of their own (same configuration, this connector), so a
//! foreground transfer never reuses a clamped connection from the pool, nor the other way.

use crate::sockinfo;
use qmgr_core::rules::idle;
use qmgr_core::transport::IdleSample;
use std::collections::HashMap;
use std::fmt;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, ShutdownHandle, Transport,
};

/// The smallest receive buffer an idle connection gets (bytes): below this, the per-packet
/// overhead the kernel counts against the buffer would starve even a slow transfer.
const MIN_BUFFER: u32 = 64 * 1024;

/// Sets the window and the receive buffer of one idle connection: the buffer is what makes a
/// slower reader close the window at once (unread bytes fill it), the clamp what keeps the
/// window at the controller's size while the reader keeps up.
fn bound(fd: BorrowedFd<'_>, window: u32) -> std::io::Result<()> {
    sockinfo::set_recv_buffer(fd, window.max(MIN_BUFFER))?;
    sockinfo::set_window_clamp(fd, window)
}

/// The open idle connections of a transport, and what was counted of closed ones.
#[derive(Debug, Default)]
pub(crate) struct IdleSockets {
    state: Mutex<Registry>,
}

#[derive(Debug, Default)]
struct Registry {
    next_id: u64,
    open: HashMap<u64, Conn>,
    /// `tcpi_bytes_received` of connections already closed.
    closed_bytes: u64,
    /// The clamp for every connection (bytes; 0 = none decided yet).
    window: u32,
}

#[derive(Debug)]
struct Conn {
    /// A duplicate of the socket's descriptor, closed when the connection is unregistered —
    /// just before the connection's own descriptor (so the socket closes as usual then).
    fd: OwnedFd,
    /// The last `tcpi_rcv_rtt` reported.
    last_rtt_us: u32,
    /// The clamp set on it.
    window: u32,
    /// Its advertised segment size (`tcpi_advmss`; 0 when unknown): its window holds two
    /// ([`idle::connection_window`]).
    mss: u32,
    /// The interface of its local address.
    interface: Option<String>,
}

impl Conn {
    fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl IdleSockets {
    fn lock(&self) -> MutexGuard<'_, Registry> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn register(self: &Arc<Self>, stream: &TcpStream) -> std::io::Result<Registration> {
        let fd = stream.as_fd().try_clone_to_owned()?;
        let interface = stream.local_addr().ok().and_then(|a| sockinfo::interface_of(a.ip()));
        let mut r = self.lock();
        r.next_id += 1;
        let id = r.next_id;
        let mss = sockinfo::tcp_info(stream.as_fd()).map_or(0, |i| i.advertised_mss);
        let mut conn = Conn { fd, last_rtt_us: 0, window: 0, mss, interface };
        let window = idle::connection_window(r.window, mss);
        if r.window > 0 && bound(stream.as_fd(), window).is_ok() {
            conn.window = window;
        }
        r.open.insert(id, conn);
        Ok(Registration { sockets: self.clone(), id })
    }

    /// Bounds every idle connection's receive window to `bytes` (at least two of its full
    /// segments, [`idle::connection_window`]), now and when it opens: the window clamp, and a
    /// receive buffer of the same size (at least [`MIN_BUFFER`]).
    pub(crate) fn set_window(&self, bytes: u32) {
        let mut r = self.lock();
        r.window = bytes;
        for conn in r.open.values_mut() {
            // Set again only when it changes: each `TCP_WINDOW_CLAMP` call also resets how
            // far the kernel lets the window grow (`rcv_ssthresh`) to the window open now.
            // Setting the same clamp every 100 ms held a loopback transfer at about half of a
            // server's 2 MiB/s pace (the two-segment floor made every decision the same
            // 128 KiB there).
            let window = idle::connection_window(bytes, conn.mss);
            if conn.window != window {
                match bound(conn.fd(), window) {
                    Ok(()) => conn.window = window,
                    Err(e) => log::debug!("receive window {window}: {e}"),
                }
            }
        }
    }

    /// The measurements of [`IdleSample`], taken now.
    pub(crate) fn sample(&self) -> IdleSample {
        let mut r = self.lock();
        let mut sample =
            IdleSample { connections: r.open.len() as u32, received: r.closed_bytes, ..Default::default() };
        let mut interfaces: HashMap<String, u32> = HashMap::new();
        for conn in r.open.values_mut() {
            let Ok(info) = sockinfo::tcp_info(conn.fd()) else { continue };
            sample.received += info.bytes_received;
            if info.rcv_rtt_us != 0 && info.rcv_rtt_us != conn.last_rtt_us {
                sample.rtt_samples.push(Duration::from_micros(info.rcv_rtt_us.into()));
            }
            conn.last_rtt_us = info.rcv_rtt_us;
            if let Some(name) = &conn.interface {
                *interfaces.entry(name.clone()).or_default() += 1;
            }
        }
        drop(r);
        // The interface most idle connections use.
        if let Some((name, _)) = interfaces.into_iter().max_by_key(|(_, n)| *n) {
            if let Some(bytes) = interface_rx_bytes(&name) {
                sample.interface = Some((name, bytes));
            }
        }
        sample
    }
}

/// Received bytes of interface `name` from `/proc/net/dev` (of this process's network
/// namespace): the first number after `name:`.
fn interface_rx_bytes(name: &str) -> Option<u64> {
    parse_rx_bytes(&std::fs::read_to_string("/proc/net/dev").ok()?, name)
}

fn parse_rx_bytes(table: &str, name: &str) -> Option<u64> {
    table.lines().find_map(|line| {
        let (iface, counters) = line.split_once(':')?;
        (iface.trim() == name).then(|| counters.split_whitespace().next()?.parse().ok())?
    })
}

/// Keeps a connection in the registry; unregisters it (adding its byte count to the closed
/// ones) when dropped, before the socket it names closes.
struct Registration {
    sockets: Arc<IdleSockets>,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut r = self.sockets.lock();
        if let Some(conn) = r.open.remove(&self.id) {
            if let Ok(info) = sockinfo::tcp_info(conn.fd()) {
                r.closed_bytes += info.bytes_received;
            }
        }
    }
}

/// A TCP connection of an idle transfer, registered while it lives: ureq's plain TCP
/// transport, written again here because ureq does not export its own (same timeouts:
/// each read and write bounded by ureq's next timeout, a timeout reported as ureq's).
/// Field order matters: the registration drops (closing the duplicate descriptor) first.
/// The stream is shared (weakly) with the agent, whose `shutdown` shuts the socket down.
pub(crate) struct IdleTransport {
    registration: Registration,
    stream: Arc<TcpStream>,
    buffers: LazyBuffers,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
}

impl fmt::Debug for IdleTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdleTransport").field("id", &self.registration.id).finish_non_exhaustive()
    }
}

/// The socket timeout for `t` (`None` = none), or ureq's timeout error when it is used up.
fn socket_timeout(t: NextTimeout) -> Result<Option<Duration>, ureq::Error> {
    if t.after.is_zero() {
        return Err(ureq::Error::Timeout(t.reason));
    }
    Ok(t.not_zero().map(|d| *d))
}

/// An I/O error as ureq reports it: a socket timeout is ureq's timeout of `t`.
fn io_error(e: std::io::Error, t: NextTimeout) -> ureq::Error {
    match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => ureq::Error::Timeout(t.reason),
        _ => ureq::Error::Io(e),
    }
}

impl Transport for IdleTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        let t = timeout.for_write();
        let limit = socket_timeout(t)?;
        if limit != self.write_timeout {
            self.stream.set_write_timeout(limit)?;
            self.write_timeout = limit;
        }
        (&*self.stream).write_all(&self.buffers.output()[..amount]).map_err(|e| io_error(e, t))
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        let t = timeout.for_read();
        let limit = socket_timeout(t)?;
        if limit != self.read_timeout {
            self.stream.set_read_timeout(limit)?;
            self.read_timeout = limit;
        }
        let input = self.buffers.input_append_buf();
        let n = loop {
            match (&*self.stream).read(input) {
                Ok(n) => break n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_error(e, t)),
            }
        };
        self.buffers.input_appended(n);
        // The window was just opened by this read: say so now, not after the delayed-ACK
        // timer (up to 200 ms). With a small window a delayed ACK would stall the sender every
        // window, and the receiver would measure that stall as a 200 ms queue.
        let _ = sockinfo::set_quickack(self.stream.as_fd());
        Ok(n > 0)
    }

    /// Open when nothing is waiting to be read (a pooled connection with bytes on it, or at
    /// its end, is not reused).
    fn is_open(&mut self) -> bool {
        if self.stream.set_nonblocking(true).is_err() {
            return false;
        }
        let idle = matches!(self.stream.peek(&mut [0u8]), Err(e) if e.kind() == ErrorKind::WouldBlock);
        idle && self.stream.set_nonblocking(false).is_ok()
    }
}

/// Opens the TCP connections of idle transfers in place of ureq's `TcpConnector` (a proxy's
/// connection, when chained before it, passes through): tries the resolved addresses in
/// order, each with the connect timeout, and registers the socket (for the measurements, and
/// with the agent so that its shutdown reaches it).
pub(crate) struct IdleConnector {
    pub(crate) sockets: Arc<IdleSockets>,
    pub(crate) connect_timeout: Duration,
}

impl fmt::Debug for IdleConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdleConnector").finish_non_exhaustive()
    }
}

impl<In: Transport> Connector<In> for IdleConnector {
    type Out = Either<In, IdleTransport>;

    fn connect(&self, details: &ConnectionDetails, chained: Option<In>) -> Result<Option<Self::Out>, ureq::Error> {
        if let Some(chained) = chained {
            return Ok(Some(Either::A(chained)));
        }
        let stream = connect_any(&details.addrs, self.connect_timeout)?;
        stream.set_nodelay(details.config.no_delay())?;
        let registration = self.sockets.register(&stream)?;
        let stream = Arc::new(stream);
        // Agent::shutdown (at the transport's shutdown) then interrupts a blocked read or write.
        (details.register_shutdown)(Arc::downgrade(&stream) as Weak<dyn ShutdownHandle>)?;
        let buffers = LazyBuffers::new(details.config.input_buffer_size(), details.config.output_buffer_size());
        Ok(Some(Either::B(IdleTransport { registration, stream, buffers, read_timeout: None, write_timeout: None })))
    }
}

/// Connects to the first of `addrs` that answers within `timeout` each; the last error
/// otherwise (a connect timeout as ureq reports one).
fn connect_any(addrs: &[SocketAddr], timeout: Duration) -> Result<TcpStream, ureq::Error> {
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect_timeout(addr, timeout) {
            Ok(s) => return Ok(s),
            Err(e) if e.kind() == ErrorKind::TimedOut => last = Some(ureq::Error::Timeout(ureq::Timeout::Connect)),
            Err(e) => last = Some(ureq::Error::Io(e)),
        }
    }
    Err(last.unwrap_or(ureq::Error::HostNotFound))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn rx_bytes_are_read_from_the_interface_table() {
        let table = "Inter-|   Receive                            |  Transmit\n \
                     face |bytes    packets errs drop fifo frame compressed multicast|bytes\n    \
                     lo: 1234567     100    0    0    0     0          0         0  1234567\n  \
                     eth0:   99 1 0 0 0 0 0 0 5\n";
        assert_eq!(parse_rx_bytes(table, "lo"), Some(1_234_567));
        assert_eq!(parse_rx_bytes(table, "eth0"), Some(99));
        assert_eq!(parse_rx_bytes(table, "eth"), None);
    }

    /// A registered connection is measured and clamped while open; its bytes still count
    /// after it closed, and it leaves the registry.
    #[test]
    fn registered_sockets_are_sampled_clamped_and_counted_after_close() {
        let sockets = Arc::new(IdleSockets::default());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        sockets.set_window(32 * 1024);
        let registration = sockets.register(&client).unwrap();
        // At least two full segments (on loopback, 2 × 65,483 bytes).
        let mss = sockinfo::tcp_info(client.as_fd()).unwrap().advertised_mss;
        assert!(mss > 0);
        let clamp = |w| sockets.lock().open[&registration.id].window == idle::connection_window(w, mss);
        assert!(clamp(32 * 1024), "clamped when it opens");
        server.write_all(&[1u8; 50_000]).unwrap();
        let mut buf = vec![0u8; 50_000];
        (&client).read_exact(&mut buf).unwrap();
        let s = sockets.sample();
        assert_eq!((s.connections, s.received), (1, 50_000));
        assert_eq!(s.interface.as_ref().map(|(n, _)| n.as_str()), Some("lo"));
        sockets.set_window(4 << 20);
        assert!(clamp(4 << 20), "a larger window is set");
        assert_eq!(sockets.lock().open[&registration.id].window, 4 << 20);
        drop(registration);
        drop(client);
        let s = sockets.sample();
        assert_eq!((s.connections, s.received), (0, 50_000));
    }

    #[test]
    fn refused_connect_is_an_io_error() {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let err = connect_any(&[port], Duration::from_secs(5)).unwrap_err();
        assert!(matches!(err, ureq::Error::Io(ref e) if e.kind() == std::io::ErrorKind::ConnectionRefused), "{err}");
    }
}
