//! Fetching one file in byte ranges over several connections at once (DECISIONS D16; the
//! rules — how many connections, whether and where to split — are
//! `qmgr_core::rules::segments`).
//!
//! [`fetch`] takes over an HTTP fetch once the answer it started with was accepted (a `200`
//! from byte 0, or a `206` from the first byte not held) and the file qualifies. That answer's
//! body serves the first piece; every other piece is a request of its own for
//! `Range: bytes=START-END` with `If-Range` naming the file's version. Each connection has a
//! thread that writes its piece into the one temporary file at the piece's offsets
//! (`pwrite`), and records the ranges written in a shared [`HeldRanges`]; the fetch's own
//! thread reports them to the observer (so the engine checkpoints them) and checks the
//! destination directory, every [`POLL`].
//!
//! * A range answered with other validators, or a `200` naming another version (the server's
//!   `If-Range` found it stale), means the file changed: every piece stops, and the fetch
//!   starts the whole file again from zero ([`Ended::Changed`]). A `200` of the same version
//!   means the server does not serve ranges after all (it ignores `Range`, or takes a date in
//!   `If-Range` as weak): the fetch goes on in one stream ([`Ended::NoRanges`]).
//! * A piece cut short is asked for again from where it stopped. A `429` or `503` to a piece
//!   while other connections run (a server limiting connections per client) puts the piece
//!   back for them and ends that connection. Any other failure of a piece (a network error, an
//!   HTTP error status) stops them all and is the fetch's failure: the engine retries it later
//!   from the ranges held (DECISIONS D5).
//! * Ranges are reported only once they are on disk (`fdatasync`, at most every
//!   [`checkpoint::INTERVAL`]): pieces write far into the file first, so unlike a single
//!   stream its length proves nothing, and after a power loss a range the checkpoint holds must
//!   not read back as zeros (DECISIONS D4, D6).
//! * Digests (DECISIONS D15) cannot be computed in order while pieces arrive side by side:
//!   the whole file is read back and hashed once it is complete.

use crate::cause::{local_failure, network_failure, status_failure};
use crate::exchange::{Event, Exchange, Helpers, POLL};
use crate::http::{changed, header, invalid_response, parse_content_range, response_validators, ContentRange};
use crate::local::{self, DestinationCheck};
use qmgr_core::model::{HeldRanges, Validators};
use qmgr_core::rules::checkpoint;
use qmgr_core::transport::{CancelFlag, Cause, Failure, FetchObserver, FetchRequest, LocalOp};
use std::collections::VecDeque;
use std::fs::File;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

/// Where the pieces are fetched from, and as which version of the file.
pub(crate) struct Source<'a> {
    /// The URL requested (the last redirect target).
    pub request_url: &'a str,
    /// How messages name it (redacted).
    pub shown: &'a str,
    /// Validators of the file's version: every range must come from it; `total` is its size.
    pub validators: &'a Validators,
    /// `If-Range` for every range request (a strong ETag or the Last-Modified date).
    pub if_range: String,
    /// `Authorization` for every range request (Basic credentials the origin asked for, the
    /// same in each request), if any.
    pub authorization: Option<String>,
}

/// How a segmented fetch ended (other than in a failure).
pub(crate) enum Ended {
    /// Every byte is written; the temporary file holds the whole file.
    Complete,
    /// The cancel flag was raised; the ranges written are reported.
    Cancelled,
    /// A range came from another version of the file (why): it must start again from zero.
    Changed(String),
    /// The server answered a range request with the whole file of the same version: it does
    /// not serve ranges; the file goes on in one stream.
    NoRanges,
}

/// What the connections share.
struct Shared {
    /// Pieces not started, in file order (the first is the opening answer's).
    queue: VecDeque<(u64, u64)>,
    held: HeldRanges,
    /// The first failure of a piece, or the change found; stops every piece.
    failure: Option<Failure>,
    changed: Option<String>,
    no_ranges: bool,
    /// Connections running.
    running: usize,
    /// The refusal (`429`, `503`) that ended a connection while others ran: the fetch's
    /// failure if no connection is left for the pieces put back.
    refused: Option<Failure>,
}

struct State {
    shared: Mutex<Shared>,
    /// Raised to stop every piece: a failure, a change, or the fetch's cancel flag.
    stop: CancelFlag,
}

impl State {
    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn fail(&self, failure: Failure) {
        self.lock().failure.get_or_insert(failure);
        self.stop.cancel();
    }

    fn changed(&self, why: String) {
        self.lock().changed.get_or_insert(why);
        self.stop.cancel();
    }

    fn no_ranges(&self) {
        self.lock().no_ranges = true;
        self.stop.cancel();
    }
}

/// Counts a connection as running while it lives.
struct Running<'a>(&'a State);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.lock().running -= 1;
    }
}

/// What every connection of one segmented fetch works with.
struct Pieces<'a> {
    helpers: &'a Helpers,
    agent: &'a ureq::Agent,
    req: &'a FetchRequest<'a>,
    source: &'a Source<'a>,
    state: &'a State,
    path: &'a Path,
}

/// Fetches the `pieces` of the file at `path` (`file`, holding `held`) over at most
/// `req.connections` at once; `opening` is the accepted answer whose body starts at the first
/// piece's start. Reports the ranges held to `obs` as they reach the disk.
///
/// Errors: the first failure of a piece ([`Cause`] as a single fetch reports it), or a local
/// failure writing, flushing or checking the temporary file.
#[allow(clippy::too_many_arguments)]
pub(crate) fn fetch(
    helpers: &Helpers,
    agent: &ureq::Agent,
    req: &FetchRequest<'_>,
    source: &Source<'_>,
    file: &File,
    path: &Path,
    held: HeldRanges,
    pieces: Vec<(u64, u64)>,
    opening: Exchange,
    obs: &mut dyn FetchObserver,
) -> Result<Ended, Failure> {
    let connections = req.connections.clamp(1, pieces.len().max(1));
    log::info!(
        "{}: fetching {} bytes in {} pieces over {connections} connections",
        source.shown,
        pieces.iter().map(|&(s, e)| e - s).sum::<u64>(),
        pieces.len()
    );
    let state = State {
        shared: Mutex::new(Shared {
            queue: pieces.into(),
            held,
            failure: None,
            changed: None,
            no_ranges: false,
            running: 0,
            refused: None,
        }),
        stop: CancelFlag::new(),
    };
    // The opening answer's body starts at the first piece: that pair goes to the first
    // connection before any other takes a piece.
    let mut opening = state.lock().queue.pop_front().map(|piece| (opening, piece));
    let mut destination = DestinationCheck::new();
    let mut reported = state.lock().held.clone();
    let mut synced = Instant::now();
    obs.on_ranges(&reported);
    obs.on_progress(reported.total());
    std::thread::scope(|scope| {
        let mut workers = Vec::new();
        for i in 0..connections {
            let first = if i == 0 { opening.take() } else { None };
            let ctx = Pieces { helpers, agent, req, source, state: &state, path };
            state.lock().running += 1;
            let spawned = std::thread::Builder::new().name("qmgr-piece".into()).spawn_scoped(scope, move || {
                let _running = Running(ctx.state);
                connection(&ctx, file, first)
            });
            if spawned.is_err() {
                state.lock().running -= 1;
            }
            match spawned {
                Ok(w) => workers.push(w),
                // Fewer connections than asked: those running take every piece.
                Err(e) if !workers.is_empty() => log::warn!("{}: no thread for another connection: {e}", source.shown),
                Err(e) => state.fail(Failure::new(Cause::NoThread, source.shown, e.to_string())),
            }
        }
        // Reports the ranges as they grow (a heartbeat when they do not) until every
        // connection has ended.
        loop {
            if req.cancel.is_cancelled() {
                state.stop.cancel();
            }
            let done = workers.iter().all(|w| w.is_finished());
            let now = state.lock().held.clone();
            if now != reported && (done || synced.elapsed() >= checkpoint::INTERVAL) {
                // On disk before any checkpoint says so.
                match file.sync_data() {
                    Ok(()) => {
                        reported = now;
                        synced = Instant::now();
                        obs.on_ranges(&reported);
                    }
                    Err(e) => state.fail(local_failure(&e, LocalOp::FlushTemp, path)),
                }
            }
            obs.on_progress(reported.total());
            if done {
                break;
            }
            if let Err(e) = destination.due(file, path) {
                state.fail(e);
            }
            std::thread::sleep(POLL);
        }
    });
    let mut shared = state.lock();
    if let Some(why) = shared.changed.take() {
        return Ok(Ended::Changed(why));
    }
    if shared.no_ranges {
        return Ok(Ended::NoRanges);
    }
    if let Some(failure) = shared.failure.take() {
        return Err(failure);
    }
    if req.cancel.is_cancelled() {
        return Ok(Ended::Cancelled);
    }
    if !shared.queue.is_empty() {
        // Every connection was refused while pieces were left.
        let refused = shared.refused.take();
        return Err(refused.unwrap_or_else(|| invalid_response(source.shown, "pieces left without a connection")));
    }
    let total = source.validators.total.unwrap_or(0);
    if shared.held.gaps(total).is_empty() {
        Ok(Ended::Complete)
    } else {
        let why = format!("holds {} of {total} bytes after every piece ended", shared.held.total());
        Err(invalid_response(source.shown, why))
    }
}

/// One connection: fetches pieces from the queue until it is empty or the pieces stop. The
/// first connection starts with the opening answer and its piece (`first`); then each piece
/// is a request.
fn connection(ctx: &Pieces<'_>, handle: &File, mut first: Option<(Exchange, (u64, u64))>) {
    let state = ctx.state;
    loop {
        if state.stop.is_cancelled() {
            return;
        }
        let (exchange, (start, end)) = match first.take() {
            Some(opening) => opening,
            None => {
                let Some((start, end)) = state.lock().queue.pop_front() else { return };
                match request(ctx, start, end) {
                    Some(exchange) => (exchange, (start, end)),
                    None => return,
                }
            }
        };
        match receive(ctx, handle, &exchange, start, end) {
            // Cut short: the rest of the piece is asked for again, by whichever connection
            // comes first.
            Some(at) if at < end => state.lock().queue.push_front((at, end)),
            _ => {}
        }
    }
}

/// Sends the request for the piece `[start, end)` and checks the answer's head: a `206` of
/// exactly that range of the same version. `None` when the pieces stop (the reason recorded
/// in `state`).
fn request(ctx: &Pieces<'_>, start: u64, end: u64) -> Option<Exchange> {
    let (source, state) = (ctx.source, ctx.state);
    let mut headers = vec![("Range", format!("bytes={start}-{}", end - 1)), ("If-Range", source.if_range.clone())];
    headers.extend(source.authorization.clone().map(|a| ("Authorization", a)));
    let shown = source.shown;
    let exchange = match Exchange::start(ctx.helpers, ctx.agent, source.request_url, headers, ctx.req) {
        Ok(exchange) => exchange,
        Err(e) => {
            state.fail(Failure::new(Cause::NoThread, shown, e.to_string()));
            return None;
        }
    };
    let (status, h) = match exchange.next(&state.stop, &mut || {}) {
        None => return None,
        Some(Event::Head(Ok(head))) => head,
        Some(Event::Head(Err(e))) | Some(Event::Failed(e)) => {
            state.fail(network_failure(e, shown));
            return None;
        }
        Some(_) => {
            state.fail(invalid_response(shown, "the answer had no head"));
            return None;
        }
    };
    log::debug!("GET {shown} (bytes {start}-{}) → {status}", end - 1);
    let v = response_validators(&h);
    match status {
        206 => {}
        200 => {
            let total = header(&h, "content-length").and_then(|l| l.parse().ok());
            if changed(source.validators, &Validators { total, ..v }) {
                state.changed(format!("{shown} answered a range request with another version (If-Range failed)"));
            } else {
                log::info!("{shown} answered a range request with the whole file: going on in one stream");
                state.no_ranges();
            }
            return None;
        }
        429 | 503 => {
            let failure = status_failure(status, shown, header(&h, "retry-after"), "");
            let mut shared = state.lock();
            if shared.running > 1 {
                // Fewer connections: the others take the piece.
                log::info!("{shown}: HTTP {status} to another connection; going on with {}", shared.running - 1);
                shared.queue.push_front((start, end));
                shared.refused.get_or_insert(failure);
            } else {
                drop(shared);
                state.fail(failure);
            }
            return None;
        }
        other => {
            state.fail(status_failure(other, shown, header(&h, "retry-after"), ""));
            return None;
        }
    }
    match parse_content_range(header(&h, "content-range")) {
        Some(ContentRange::Bytes { start: s, total, .. }) if s == start => {
            let answered = Validators { total, ..v };
            if changed(source.validators, &answered) {
                state.changed(format!("the file at {shown} changed (validators of a range differ)"));
                return None;
            }
            Some(exchange)
        }
        _ => {
            state.fail(invalid_response(shown, format!("HTTP 206 for bytes {start}-{} gave another range", end - 1)));
            None
        }
    }
}

/// Writes the body of `exchange`, which starts at `start`, into `[start, end)` of the file
/// (bytes past `end` are not read); returns where it stopped, or `None` when the pieces stop.
fn receive(ctx: &Pieces<'_>, handle: &File, exchange: &Exchange, start: u64, end: u64) -> Option<u64> {
    let (source, state) = (ctx.source, ctx.state);
    let mut at = start;
    while at < end {
        match exchange.next(&state.stop, &mut || {})? {
            Event::Data(chunk) => {
                let n = chunk.len().min((end - at) as usize);
                if !ctx.req.throttle.acquire(n, &state.stop) {
                    return None;
                }
                if let Err(e) = local::write_all_at(handle, &chunk[..n], at) {
                    state.fail(local_failure(&e, LocalOp::WriteTemp, ctx.path));
                    return None;
                }
                state.lock().held.add(at, at + n as u64);
                at += n as u64;
            }
            // Cut short: asked for again, unless it brought nothing (a server that cannot
            // serve this range).
            Event::End if at > start => return Some(at),
            Event::End => {
                let cause = Cause::BodyEndedEarly { received: 0, expected: end - start };
                state.fail(Failure::new(cause, source.shown, ""));
                return None;
            }
            Event::Failed(e) | Event::Head(Err(e)) => {
                state.fail(network_failure(e, source.shown));
                return None;
            }
            Event::Head(Ok(_)) => {
                state.fail(invalid_response(source.shown, "a second answer head"));
                return None;
            }
        }
    }
    Some(at)
}
