//! The three Linux calls the idle-bandwidth measurements need and no well-kept crate offers
//! safely (rustix and socket2 have no `TCP_INFO` and no `TCP_WINDOW_CLAMP`): reading a TCP
//! socket's `tcp_info`, bounding its receive window and buffer, turning off its delayed ACKs, and naming the interface that
//! holds a local address. With `local::start_writeback`, the only `unsafe` code of
//! qmgr-net; each block says why it is sound.
#![allow(unsafe_code)]

use std::ffi::CStr;
use std::io;
use std::mem::{size_of, MaybeUninit};
use std::net::IpAddr;
use std::os::fd::{AsRawFd, BorrowedFd};

/// What the idle controller reads of a socket's `struct tcp_info`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TcpInfo {
    /// The receiver's RTT estimate in µs (`tcpi_rcv_rtt`; 0 before the first measurement).
    pub rcv_rtt_us: u32,
    /// Payload bytes received (`tcpi_bytes_received`).
    pub bytes_received: u64,
    /// The largest segment this side advertised it accepts (`tcpi_advmss`): the path MTU
    /// less the headers (1,448 on Ethernet, 65,483 on loopback).
    pub advertised_mss: u32,
}

/// `getsockopt(IPPROTO_TCP, TCP_INFO)`.
pub(crate) fn tcp_info(fd: BorrowedFd<'_>) -> io::Result<TcpInfo> {
    let mut info = MaybeUninit::<libc::tcp_info>::zeroed();
    let mut len = size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: `fd` is a live descriptor for the duration of the borrow; `info` points to a
    // writable, zero-initialised `tcp_info` of `len` bytes, and the kernel writes at most `len`
    // bytes (an older kernel writes fewer: the rest stays zero, a valid `tcp_info`).
    let rc = unsafe {
        libc::getsockopt(fd.as_raw_fd(), libc::IPPROTO_TCP, libc::TCP_INFO, info.as_mut_ptr().cast(), &mut len)
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: zero-initialised and then (partly) written by the kernel: every bit pattern is a
    // valid `tcp_info` (integers only).
    let info = unsafe { info.assume_init() };
    Ok(TcpInfo {
        rcv_rtt_us: info.tcpi_rcv_rtt,
        bytes_received: info.tcpi_bytes_received,
        advertised_mss: info.tcpi_advmss,
    })
}

/// `setsockopt(IPPROTO_TCP, TCP_WINDOW_CLAMP, bytes)`: the receive window this socket
/// advertises stays at or below `bytes` (the kernel raises values below half its minimum
/// buffer to that).
pub(crate) fn set_window_clamp(fd: BorrowedFd<'_>, bytes: u32) -> io::Result<()> {
    set_int(fd, libc::IPPROTO_TCP, libc::TCP_WINDOW_CLAMP, bytes)
}

/// `setsockopt(SOL_SOCKET, SO_RCVBUF, bytes)`: the socket's receive buffer (the kernel doubles
/// the value for its bookkeeping and caps it at `net.core.rmem_max`; autotuning stops).
pub(crate) fn set_recv_buffer(fd: BorrowedFd<'_>, bytes: u32) -> io::Result<()> {
    set_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, bytes)
}

/// `setsockopt(IPPROTO_TCP, TCP_QUICKACK, 1)`: acknowledge at once instead of delaying the
/// ACK (the kernel clears it again by itself, so it is set after every read).
pub(crate) fn set_quickack(fd: BorrowedFd<'_>) -> io::Result<()> {
    set_int(fd, libc::IPPROTO_TCP, libc::TCP_QUICKACK, 1)
}

fn set_int(fd: BorrowedFd<'_>, level: libc::c_int, name: libc::c_int, value: u32) -> io::Result<()> {
    let value = libc::c_int::try_from(value).unwrap_or(libc::c_int::MAX);
    // SAFETY: `fd` is live for the borrow; the option value is a `c_int` read by the kernel
    // from a pointer valid for `size_of::<c_int>()` bytes.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The name of the interface that holds the local address `ip` (`getifaddrs`), e.g. `lo`
/// for 127.0.0.1; `None` when no interface has it.
pub(crate) fn interface_of(ip: IpAddr) -> Option<String> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: `getifaddrs` writes a pointer to a list it allocated, freed below exactly once.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return None;
    }
    let mut found = None;
    let mut entry = list;
    while !entry.is_null() && found.is_none() {
        // SAFETY: `entry` is a node of the list `getifaddrs` returned, not yet freed; its
        // `ifa_addr` is null or points to a sockaddr whose family says its type, and
        // `ifa_name` is a NUL-terminated string owned by the list.
        unsafe {
            let e = &*entry;
            if !e.ifa_addr.is_null() && sockaddr_ip(e.ifa_addr) == Some(ip) {
                found = Some(CStr::from_ptr(e.ifa_name).to_string_lossy().into_owned());
            }
            entry = e.ifa_next;
        }
    }
    // SAFETY: `list` came from a successful `getifaddrs` and is not used after this.
    unsafe { libc::freeifaddrs(list) };
    found
}

/// The IP address of an `AF_INET` / `AF_INET6` sockaddr.
///
/// # Safety
/// `addr` must point to a valid sockaddr of the size its family implies.
unsafe fn sockaddr_ip(addr: *const libc::sockaddr) -> Option<IpAddr> {
    match i32::from((*addr).sa_family) {
        libc::AF_INET => {
            let a = &*addr.cast::<libc::sockaddr_in>();
            Some(IpAddr::from(a.sin_addr.s_addr.to_ne_bytes()))
        }
        libc::AF_INET6 => {
            let a = &*addr.cast::<libc::sockaddr_in6>();
            Some(IpAddr::from(a.sin6_addr.s6_addr))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsFd;

    #[test]
    fn tcp_info_counts_received_bytes_and_the_clamp_is_accepted() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        set_window_clamp(client.as_fd(), 16 * 1024).unwrap();
        set_recv_buffer(client.as_fd(), 64 * 1024).unwrap();
        set_quickack(client.as_fd()).unwrap();
        server.write_all(&[7u8; 100_000]).unwrap();
        let mut buf = vec![0u8; 100_000];
        client.read_exact(&mut buf).unwrap();
        let info = tcp_info(client.as_fd()).unwrap();
        assert_eq!(info.bytes_received, 100_000);
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        drop(b);
        assert!(tcp_info(a.as_fd()).is_err(), "not a TCP socket");
    }

    #[test]
    fn loopback_address_is_on_lo() {
        assert_eq!(interface_of("127.0.0.1".parse().unwrap()).as_deref(), Some("lo"));
        assert_eq!(interface_of("192.0.2.77".parse().unwrap()), None, "TEST-NET-1 is on no interface here");
    }
}
