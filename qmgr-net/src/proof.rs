//! Proof of a body's end (DECISIONS D15): a body is complete only when its Content-Length is
//! reached, its chunked terminator read, or — for a body delimited by the connection's close —
//! the connection ended cleanly (FIN, and over TLS `close_notify`).
//!
//! ureq 3.5 cannot tell those apart for a close-delimited body: its body reader
//! (`BodyHandler::do_read` in ureq's `run.rs`) takes an `io::Error` of kind
//! `ConnectionReset`, `ConnectionAborted` or `UnexpectedEof` from the transport as "the remote
//! closed", and a close-delimited body then ends normally. So a reset (TCP RST) after 1 MiB of
//! a 3 MiB body without Content-Length, or a TLS connection closed without `close_notify`
//! (rustls reports `UnexpectedEof`), came out as a complete file of 1 MiB. (With
//! Content-Length or chunked framing the same path already failed: ureq then reports
//! "Peer disconnected".)
//!
//! [`ProvenEnd`] is the last connector of both agents' chains (after TLS): it wraps every
//! transport so that those three kinds reach ureq as kind `Other`, wrapping the original error
//! ([`Cut`]). ureq passes such an error on instead of ending the body, and
//! `cause::network_failure` unwraps it (a reset stays `NetworkKind::Reset`: transient, D5). A
//! clean end of stream is a read of 0 bytes, not an error, and is not touched.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use ureq::unversioned::transport::{Buffers, ConnectionDetails, Connector, NextTimeout, Transport};

/// The connector that wraps each transport in [`Proven`].
#[derive(Debug, Default)]
pub(crate) struct ProvenEnd;

impl<In: Transport> Connector<In> for ProvenEnd {
    type Out = Proven<In>;

    fn connect(&self, _: &ConnectionDetails, chained: Option<In>) -> Result<Option<Self::Out>, ureq::Error> {
        Ok(chained.map(Proven))
    }
}

/// A transport whose resets and unexpected ends are errors to ureq's body reader, not ends.
#[derive(Debug)]
pub(crate) struct Proven<T>(T);

impl<T: Transport> Transport for Proven<T> {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.0.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.0.transmit_output(amount, timeout)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.0.await_input(timeout).map_err(|e| match e {
            ureq::Error::Io(io) if is_cut(io.kind()) => ureq::Error::Io(io::Error::other(Cut(io))),
            other => other,
        })
    }

    fn is_open(&mut self) -> bool {
        self.0.is_open()
    }

    fn is_tls(&self) -> bool {
        self.0.is_tls()
    }
}

/// The kinds ureq's body reader takes for the remote's close.
fn is_cut(kind: io::ErrorKind) -> bool {
    matches!(kind, io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted | io::ErrorKind::UnexpectedEof)
}

/// A connection that ended without proof of the body's end: the original error (a reset, an
/// abort, or an end of stream that TLS calls unexpected).
#[derive(Debug)]
pub(crate) struct Cut(pub(crate) io::Error);

impl fmt::Display for Cut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the connection ended before the end of the body: {}", self.0)
    }
}

impl StdError for Cut {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_kinds_ureq_takes_for_a_close_are_wrapped() {
        assert!(is_cut(io::ErrorKind::ConnectionReset));
        assert!(is_cut(io::ErrorKind::ConnectionAborted));
        assert!(is_cut(io::ErrorKind::UnexpectedEof));
        assert!(!is_cut(io::ErrorKind::TimedOut));
        assert!(!is_cut(io::ErrorKind::Other));
    }
}
