//! Randomized hostile schedules (issue #14; DECISIONS D4, D5, D15): fault plans for one file,
//! drawn from a seed; the [`HostileServer`] scripted by them; a small model of what D5 and D15
//! make of each plan; and a runner that puts many plans at once through one real queue and
//! checks each outcome against the model.
//!
//! # Plans
//!
//! A [`Plan`] is one remote file in one to three versions (random sizes, 0 bytes to 400 KiB,
//! random bytes; each version with its own validators of the plan's [`Scheme`]) and a script of
//! at most [`MAX_FAULTS`] [`Fault`]s: request *i* to the file gets fault *i*, and every request
//! after the faults gets the clean answer (the last version, `Content-Length`, `Range`
//! honoured). A fault is an HTTP status (transient 408/425/429/500/502/503/504, with or without
//! `Retry-After`, or fatal 400/403/404/410/501/505) or an answer serving one version with a
//! framing (`Content-Length`, chunked, or delimited by the connection's close), a way of
//! answering `Range` (honoured, ignored with a `200`, a `206` starting elsewhere, a `206` whose
//! `Content-Range` is unusable), a way the body ends (whole, FIN or RST at a byte, a chunk size
//! lie, a stall longer than the read timeout, silence before the head), a short pause, and
//! (when [`DIGESTS_CHECKED`]) a right or wrong `Repr-Digest`. Byte positions count from the
//! first byte of the file (so that the model does not depend on where the client resumes). Half
//! the plans run in a foreground group, half in a background one (the transport's two kinds of
//! connections, DECISIONS D14).
//!
//! Not drawn, because they are not faults a client can see: a FIN ending a close-delimited
//! body early (that is a complete, shorter representation, D15), a version change without a
//! change of the validators the server sends (no client can tell, digests aside), versions
//! without validators (only plans with a single version have none).
//!
//! # The model ([`Plan::expected`])
//!
//! Written from DECISIONS D5 and D15 and the qmgr-net README, not from the code. One *attempt*
//! (a fetch) starts with the bytes held in the temporary file and their validators:
//!
//! * With bytes held, the request asks for `Range: bytes=N-` with `If-Range` (strong ETag, else
//!   Last-Modified; none without either). The server (the script) answers the range unless it
//!   ignores ranges or `If-Range` names another version: `416` when N is at or past the end,
//!   else the `206` of its fault (a `416` has no body: its cut does not apply).
//! * `416` whose total equals the bytes held, validators unchanged → complete (D5).
//! * `206` starting at N, validators unchanged → append. A `206` starting elsewhere, with an
//!   unusable `Content-Range`, with changed validators (ETag, Last-Modified or size), or a `416`
//!   that does not confirm the bytes held → restart: a request without `Range` in the same
//!   attempt (qmgr-net README "Answers"; its answer is never ranged, so an attempt restarts at
//!   most once and the limit of three restarts is not reached by these plans).
//! * `200` → the file from zero (held bytes dropped when its body starts).
//! * The body: whole → complete, unless a wrong `Repr-Digest` came with a `200` (D15: fatal
//!   `QMGR_E_BAD_DIGEST`); FIN at byte P of a framed body → transient, P bytes held; chunked
//!   body without its terminator → transient; RST → transient with anything between the
//!   body's start and P held (a reset may discard bytes the client had not read yet), or, when
//!   every byte of a `Content-Length` body was sent before it, complete; a chunk size lie →
//!   transient, anything from the lie's position to the end held; a stall longer than the read
//!   timeout → transient (D5 timeouts), P held; silence before the head → transient, nothing
//!   changes. A short pause changes nothing.
//! * Statuses: transient ones (D5) → retry, nothing changes; others → fatal, `dwWin32Result`
//!   `BG_E_HTTP_ERROR_nnn`, `dwTransportResult` the status.
//!
//! A transient end is a failed attempt (`num_of_retries` + 1) and the next attempt starts from
//! what is held (D4: errors keep the temporary file); a fatal one is a failed attempt too and
//! the group goes to ERROR. Where the model cannot know what the client holds (after a RST), it
//! follows every possibility: held amounts are grouped by how they compare with the positions
//! that matter (0, the versions' lengths, the plan's cut and pause positions), one
//! representative each. The result is the set of outcomes a correct client may reach: COMPLETE
//! with a version and a number of failed attempts, or ERROR with an error and a number.
//!
//! # The check ([`Runner::check`])
//!
//! Under the final name there is either nothing (ERROR) or exactly the bytes of one version,
//! with no temporary file left (COMPLETE); the outcome is one the model allows; an ERROR is
//! fatal, is the job's status, names file 0 and the URL (a digest mismatch: the algorithm), and
//! leaves no final file; its temporary file, if any, holds a prefix of one version (never mixed
//! bytes), and none is left after a digest mismatch (D15); a `Retry-After` was waited for; after
//! `CancelGroup` the temporary file goes (D4).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::prelude::{Engine as _, BASE64_STANDARD};
use qmgr_rs::model::{ErrorClass, GroupState};
use sha2::{Digest as _, Sha256};

use crate::hostile::{bg_e_http, if_range_matches, lock, temp_path, HostileQueue, HostileServer, Resource, Step};
use crate::runner::Rng;
use crate::wait_until;

/// Whether the client verifies `Repr-Digest` (DECISIONS D15 "Server digests"; qmgr-net
/// `src/digest.rs`): plans draw right and wrong digests, and a wrong one on a whole `200` must
/// end in ERROR [`QMGR_E_BAD_DIGEST`] with no final file. (Off, plans draw no digest header
/// and the clean answer sends none.)
pub const DIGESTS_CHECKED: bool = true;

/// `QMGR_E_BAD_DIGEST` (0x80096010) as the `dwWin32Result` of a digest mismatch (DECISIONS D15).
pub const QMGR_E_BAD_DIGEST: u32 = qmgr_rs::hresult::QMGR_E_BAD_DIGEST as u32;

/// Most faults in one plan.
pub const MAX_FAULTS: usize = 5;

/// Largest version drawn, in bytes.
pub const MAX_SIZE: usize = 400 << 10;

/// `read_timeout_ms` of the queue the plans run in.
pub const READ_TIMEOUT: Duration = Duration::from_millis(2000);

/// A short pause: well within [`READ_TIMEOUT`], it must change nothing.
pub const PAUSE: Duration = Duration::from_millis(50);

/// Options of the queue the plans run in (after [`HostileQueue::open`]'s test defaults): the
/// shortest retry delay the queue accepts, a read timeout that stalls pass, and room for every
/// plan running at once to be active (a pre-empted transfer would skip a step of its script).
fn queue_options(concurrency: usize) -> Vec<(&'static str, String)> {
    vec![
        ("min_retry_delay_ms", "100".into()),
        ("read_timeout_ms", READ_TIMEOUT.as_millis().to_string()),
        ("max_active_groups", (concurrency + 8).to_string()),
    ]
}

/// Which validators every version of a plan carries (each version its own values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// None (only for plans with a single version).
    None,
    /// A strong ETag.
    Strong,
    /// A weak ETag (no `If-Range` possible: the client must notice a change from the `206`).
    Weak,
    /// `Last-Modified`.
    Date,
    /// A strong ETag and `Last-Modified`.
    StrongAndDate,
    /// A weak ETag and `Last-Modified`.
    WeakAndDate,
}

/// How a body is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length`.
    Length,
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Neither: the body ends when the connection closes.
    CloseDelimited,
}

/// How a request with `Range` is answered (a request without one always gets a `200`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeAnswer {
    /// Correctly (`206` from N, or `416` at or past the end; `If-Range` honoured).
    Honour,
    /// `200` with the whole body.
    Ignore,
    /// A `206` whose `Content-Range` (and body) start at N / 2 instead of N.
    WrongStart,
    /// A `206` from N whose `Content-Range` total is N, before the range's end.
    BadContentRange,
}

/// How the body of an answer ends. Positions count from the first byte of the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    /// Whole (chunked: with its terminator).
    None,
    /// Orderly close (FIN) once the body reached byte P (never with a close-delimited body).
    Fin(usize),
    /// Reset (RST) once the body reached byte P.
    Rst(usize),
    /// Chunked: honest chunks up to byte `at`, then a chunk size line claiming `delta` bytes
    /// more or fewer than the piece after it, that piece, and a FIN.
    ChunkLie {
        /// Where the lying chunk starts.
        at: usize,
        /// Bytes claimed minus bytes sent.
        delta: i64,
    },
    /// Silence once the body reached byte P, until the client hangs up (after its read
    /// timeout).
    Stall(usize),
    /// Silence before the head, until the client hangs up.
    StallHead,
}

/// A short pause ([`PAUSE`]) that must change nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pause {
    /// Before the head.
    Head,
    /// Once the body reached byte P.
    At(usize),
}

/// The `Repr-Digest` sent with a `200` (never with a `206` or `416`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Digest {
    /// None.
    None,
    /// The SHA-256 of the version served.
    Right,
    /// The SHA-256 of other bytes.
    Wrong,
}

/// An answer serving a version of the file, and how it misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Serve {
    /// Index in [`Plan::versions`].
    pub version: usize,
    /// Framing of the body.
    pub framing: Framing,
    /// How a ranged request is answered.
    pub range: RangeAnswer,
    /// How the body ends.
    pub cut: Cut,
    /// A short pause.
    pub pause: Option<Pause>,
    /// `Repr-Digest` with a `200`.
    pub digest: Digest,
}

/// What one request gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// An HTTP status with an empty body, and `Retry-After: seconds` when given.
    Status {
        /// The status.
        status: u16,
        /// `Retry-After` in seconds.
        retry_after: Option<u32>,
    },
    /// A version of the file.
    Serve(Serve),
}

/// One file's versions and the script of its requests.
#[derive(Clone)]
pub struct Plan {
    /// The seed it was drawn from (its name on the server and on disk).
    pub seed: u64,
    /// A foreground group (`SwitchToForeground`: the transport's normal connections); else a
    /// background one (with the queue's default `background_mode` idle: the idle connections
    /// of DECISIONS D14).
    pub foreground: bool,
    /// The validators its versions carry.
    pub scheme: Scheme,
    /// The versions (bytes and validators); the last one is what the server ends up serving.
    pub versions: Vec<Resource>,
    /// Request i gets `faults[i]`; later requests the clean answer ([`Plan::fault`]).
    pub faults: Vec<Fault>,
}

impl fmt::Debug for Plan {
    /// The seed, each version as its size and validators, and the faults one a line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let traffic = if self.foreground { "foreground" } else { "background" };
        writeln!(f, "plan {} ({traffic}, {:?}):", self.seed, self.scheme)?;
        for (v, r) in self.versions.iter().enumerate() {
            writeln!(f, "  version {v}: {} bytes, ETag {:?}, Last-Modified {:?}", r.len(), r.etag, r.last_modified)?;
        }
        for (n, fault) in self.faults.iter().enumerate() {
            writeln!(f, "  request {n}: {fault:?}")?;
        }
        write!(f, "  later requests: {:?}", self.fault(self.faults.len()))
    }
}

/// How a plan ends: the group's state, with what it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// COMPLETE: the final file holds version `version`; `retries` failed attempts before.
    Complete {
        /// Index of the version under the final name.
        version: usize,
        /// `num_of_retries`.
        retries: u32,
    },
    /// ERROR with this error; `retries` failed attempts, the fatal one included.
    Error {
        /// `dwWin32Result`.
        win32: u32,
        /// `dwTransportResult`.
        transport: u32,
        /// `num_of_retries`.
        retries: u32,
    },
}

/// Bytes held in the temporary file and the version they came from (0 when none are held).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Held {
    bytes: usize,
    version: usize,
}

impl Held {
    const NONE: Held = Held { bytes: 0, version: 0 };

    fn new(bytes: usize, version: usize) -> Held {
        if bytes == 0 {
            Held::NONE
        } else {
            Held { bytes, version }
        }
    }
}

/// How an attempt ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    Complete(usize),
    Transient(Held),
    Fatal { win32: u32, transport: u32 },
}

/// What one request leads to within an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reply {
    End(End),
    /// The held bytes cannot be appended to: a request without `Range` follows.
    Restart,
}

/// HTTP statuses that are retried (DECISIONS D5); every other one is fatal.
const TRANSIENT_STATUSES: [u16; 7] = [408, 425, 429, 500, 502, 503, 504];

/// A weighted choice: `rng` picks among `(weight, value)`.
fn pick<T: Copy>(rng: &mut Rng, table: &[(u64, T)]) -> T {
    let total: u64 = table.iter().map(|(w, _)| w).sum();
    let mut r = rng.range(0, total);
    for &(w, v) in table {
        if r < w {
            return v;
        }
        r -= w;
    }
    unreachable!("r < total")
}

/// A size: a few empty files, many small ones, some up to [`MAX_SIZE`].
fn draw_size(rng: &mut Rng) -> usize {
    let (lo, hi): (u64, u64) =
        pick(rng, &[(5, (0, 1)), (25, (1, 1 << 10)), (40, (1 << 10, 64 << 10)), (30, (64 << 10, MAX_SIZE as u64 + 1))]);
    rng.range(lo, hi) as usize
}

/// `Repr-Digest` of `bytes` in sha-256 (RFC 9530).
pub fn repr_digest(bytes: &[u8]) -> String {
    format!("sha-256=:{}:", BASE64_STANDARD.encode(Sha256::digest(bytes)))
}

/// The client's `If-Range` for held bytes of `r` (DECISIONS D5: the strong ETag, else the
/// Last-Modified date).
fn if_range(r: &Resource) -> Option<&str> {
    match &r.etag {
        Some(e) if !e.starts_with("W/") => Some(e),
        _ => r.last_modified.as_deref(),
    }
}

/// Whether an answer with the validators of `new` says that held bytes of `old` belong to
/// another version (DECISIONS D5: ETag, Last-Modified or size changed; a validator counts when
/// both sides have it).
fn changed(old: &Resource, new: &Resource) -> bool {
    let differs = |a: &Option<String>, b: &Option<String>| matches!((a, b), (Some(x), Some(y)) if x != y);
    differs(&old.etag, &new.etag) || differs(&old.last_modified, &new.last_modified) || old.len() != new.len()
}

impl Plan {
    /// Draws a plan from `seed` (see the module's documentation for what is drawn).
    pub fn draw(seed: u64) -> Plan {
        let mut rng = Rng(seed);
        let count = pick(&mut rng, &[(6, 1), (3, 2), (1, 3)]);
        // Versions without validators only for a plan with one version.
        let schemes = [
            (1, Scheme::None),
            (2, Scheme::Strong),
            (1, Scheme::Weak),
            (1, Scheme::Date),
            (1, Scheme::StrongAndDate),
            (1, Scheme::WeakAndDate),
        ];
        let scheme = pick(&mut rng, if count == 1 { &schemes } else { &schemes[1..] });
        let versions = (0..count)
            .map(|v| {
                let size = draw_size(&mut rng);
                let mut r = Resource::new(rng.bytes(size));
                let tag = format!("\"{seed:x}-{v}\"");
                match scheme {
                    Scheme::Strong | Scheme::StrongAndDate => r = r.etag(&tag),
                    Scheme::Weak | Scheme::WeakAndDate => r = r.etag(&format!("W/{tag}")),
                    Scheme::None | Scheme::Date => {}
                }
                if matches!(scheme, Scheme::Date | Scheme::StrongAndDate | Scheme::WeakAndDate) {
                    r = r.last_modified(&format!("Mon, 01 Jan 2024 00:00:{v:02} GMT"));
                }
                r
            })
            .collect::<Vec<_>>();
        let n = pick(&mut rng, &[(1, 0), (3, 1), (3, 2), (2, 3), (1, 4), (1, MAX_FAULTS)]);
        let faults = (0..n).map(|_| Self::draw_fault(&mut rng, &versions)).collect();
        Plan { seed, foreground: rng.range(0, 2) == 0, scheme, versions, faults }
    }

    fn draw_fault(rng: &mut Rng, versions: &[Resource]) -> Fault {
        if rng.range(0, 4) == 0 {
            let (status, retry_after) = if rng.range(0, 100) < 85 {
                let status = pick(rng, &[(4, 503), (1, 500), (1, 502), (1, 504), (1, 408), (1, 429), (1, 425)]);
                (status, pick(rng, &[(7, None), (2, Some(0)), (1, Some(1))]))
            } else {
                (pick(rng, &[(3, 404), (1, 403), (1, 410), (1, 400), (1, 501), (1, 505)]), None)
            };
            return Fault::Status { status, retry_after };
        }
        let version = rng.range(0, versions.len() as u64) as usize;
        let len = versions[version].len();
        let framing = pick(rng, &[(11, Framing::Length), (6, Framing::Chunked), (3, Framing::CloseDelimited)]);
        let range = pick(
            rng,
            &[
                (11, RangeAnswer::Honour),
                (3, RangeAnswer::Ignore),
                (3, RangeAnswer::WrongStart),
                (3, RangeAnswer::BadContentRange),
            ],
        );
        // A position inside the body; now and then its very end (all bytes, then the fault).
        let at =
            |rng: &mut Rng| if len == 0 || rng.range(0, 10) == 0 { len } else { rng.range(0, len as u64) as usize };
        let cut = if len == 0 {
            pick(rng, &[(9, Cut::None), (1, Cut::StallHead)])
        } else {
            match pick(rng, &[(4, 0), (5, 1), (5, 2), (2, 3), (1, 4), (1, 5)]) {
                0 => Cut::None,
                1 if framing == Framing::CloseDelimited => Cut::Rst(at(rng)),
                1 => match at(rng) {
                    // A FIN after a whole Content-Length body is no fault.
                    p if p == len && framing == Framing::Length => Cut::Fin(len - 1),
                    p => Cut::Fin(p),
                },
                2 => Cut::Rst(at(rng)),
                3 if framing == Framing::Chunked => Cut::ChunkLie {
                    at: rng.range(0, len as u64) as usize,
                    delta: pick(rng, &[(1, -1), (1, -7), (1, 1), (1, 9)]),
                },
                3 => Cut::Rst(at(rng)),
                4 => Cut::Stall(rng.range(0, len as u64) as usize),
                _ => Cut::StallHead,
            }
        };
        let pause = match (cut, rng.range(0, 10)) {
            (Cut::Stall(_) | Cut::StallHead, _) | (_, 1..) => None,
            (_, 0) if rng.range(0, 2) == 0 => Some(Pause::Head),
            (_, 0) => Some(Pause::At(at(rng))),
        };
        let digest = match (DIGESTS_CHECKED, cut) {
            (false, _) => Digest::None,
            (true, Cut::None) => pick(rng, &[(5, Digest::None), (3, Digest::Right), (2, Digest::Wrong)]),
            (true, _) => pick(rng, &[(1, Digest::None), (1, Digest::Right)]),
        };
        Fault::Serve(Serve { version, framing, range, cut, pause, digest })
    }

    /// What request `n` (0, 1, …) gets: its fault, or the clean answer of the last version.
    pub fn fault(&self, n: usize) -> Fault {
        self.faults.get(n).copied().unwrap_or(Fault::Serve(Serve {
            version: self.versions.len() - 1,
            framing: Framing::Length,
            range: RangeAnswer::Honour,
            cut: Cut::None,
            pause: None,
            digest: if DIGESTS_CHECKED { Digest::Right } else { Digest::None },
        }))
    }

    /// The hostile server's [`Step`] for request `n`, `req`.
    pub fn step(&self, n: usize, req: &crate::hostile::Request) -> Step {
        let s = match self.fault(n) {
            Fault::Status { status, retry_after } => {
                let step = Step::status(status);
                return match retry_after {
                    Some(secs) => step.retry_after(secs.to_string()),
                    None => step,
                };
            }
            Fault::Serve(s) => s,
        };
        let res = &self.versions[s.version];
        let mut step = Step::serve(res).positions_in_file();
        step = match s.framing {
            Framing::Length => step,
            Framing::Chunked => step.chunked(),
            Framing::CloseDelimited => step.close_delimited(),
        };
        step = match (s.range, req.range_start()) {
            (RangeAnswer::Ignore, _) => step.ignore_range(),
            (RangeAnswer::WrongStart, Some(start)) => step.shift_range(-((start - start / 2) as i64)),
            (RangeAnswer::BadContentRange, _) => step.bad_content_range(),
            _ => step,
        };
        step = match s.cut {
            Cut::None => step,
            Cut::Fin(p) => step.close_after(p),
            Cut::Rst(p) => step.reset_after(p),
            Cut::ChunkLie { at, delta } => step.chunk_size_lie(at, delta),
            Cut::Stall(p) => step.stall_after(p),
            Cut::StallHead => step.stall_before_head(),
        };
        step = match s.pause {
            None => step,
            Some(Pause::Head) => step.delay_head(PAUSE),
            Some(Pause::At(p)) => step.pause_after(p, PAUSE),
        };
        match s.digest {
            Digest::None => step,
            Digest::Right => step.repr_digest(repr_digest(&res.body)),
            Digest::Wrong => step.repr_digest(repr_digest(format!("not {}", self.seed).as_bytes())),
        }
    }

    /// Every outcome a correct client may reach (the model of the module's documentation).
    pub fn expected(&self) -> BTreeSet<Outcome> {
        let mut outcomes = BTreeSet::new();
        let mut seen = HashSet::new();
        // (next request, bytes held, failed attempts) at the start of an attempt.
        let mut todo = vec![(0usize, Held::NONE, 0u32)];
        while let Some(node @ (request, held, failed)) = todo.pop() {
            if !seen.insert(node) {
                continue;
            }
            for (end, next) in self.attempt(request, held) {
                match end {
                    End::Complete(version) => {
                        outcomes.insert(Outcome::Complete { version, retries: failed });
                    }
                    End::Fatal { win32, transport } => {
                        outcomes.insert(Outcome::Error { win32, transport, retries: failed + 1 });
                    }
                    End::Transient(h) => todo.push((next, h, failed + 1)),
                }
            }
        }
        outcomes
    }

    /// The ways an attempt starting with request `request` while `held` is held can end, each
    /// with the number of the request after its last.
    fn attempt(&self, request: usize, held: Held) -> Vec<(End, usize)> {
        let mut ends = Vec::new();
        for reply in self.request(request, held, held.bytes > 0) {
            match reply {
                Reply::End(end) => ends.push((end, request + 1)),
                Reply::Restart => {
                    for again in self.request(request + 1, held, false) {
                        match again {
                            Reply::End(end) => ends.push((end, request + 2)),
                            Reply::Restart => unreachable!("a request without Range cannot restart"),
                        }
                    }
                }
            }
        }
        ends
    }

    /// What request `n` can lead to, `held` being held and asked for with `Range` when
    /// `ranged`.
    fn request(&self, n: usize, held: Held, ranged: bool) -> Vec<Reply> {
        let s = match self.fault(n) {
            Fault::Status { status, .. } if TRANSIENT_STATUSES.contains(&status) => {
                return vec![Reply::End(End::Transient(held))];
            }
            Fault::Status { status, .. } => {
                let fatal = End::Fatal { win32: bg_e_http(status), transport: u32::from(status) };
                return vec![Reply::End(fatal)];
            }
            Fault::Serve(Serve { cut: Cut::StallHead, .. }) => return vec![Reply::End(End::Transient(held))],
            Fault::Serve(s) => s,
        };
        let res = &self.versions[s.version];
        if ranged {
            let ours = &self.versions[held.version];
            let applies =
                s.range != RangeAnswer::Ignore && if_range(ours).is_none_or(|value| if_range_matches(value, res));
            if applies {
                if held.bytes >= res.len() {
                    // 416 with `bytes */LEN`.
                    return if held.bytes == res.len() && !changed(ours, res) {
                        vec![Reply::End(End::Complete(s.version))]
                    } else {
                        vec![Reply::Restart]
                    };
                }
                return match s.range {
                    RangeAnswer::Honour if !changed(ours, res) => self.body(s, held.bytes, false),
                    _ => vec![Reply::Restart],
                };
            }
        }
        self.body(s, 0, true)
    }

    /// How the body of `s` from byte `start` can end (`full`: a `200`).
    fn body(&self, s: Serve, start: usize, full: bool) -> Vec<Reply> {
        let len = self.versions[s.version].len();
        let transient = |bytes: usize| Reply::End(End::Transient(Held::new(bytes, s.version)));
        let complete = Reply::End(if full && s.digest == Digest::Wrong && DIGESTS_CHECKED {
            End::Fatal { win32: QMGR_E_BAD_DIGEST, transport: 0 }
        } else {
            End::Complete(s.version)
        });
        // Every byte sent: framing decides whether that is a proven end (D15).
        let all_sent = match s.framing {
            Framing::Length => complete,
            Framing::Chunked | Framing::CloseDelimited => transient(len),
        };
        match s.cut {
            Cut::None => vec![complete],
            Cut::Fin(p) | Cut::Stall(p) if p >= len => vec![all_sent],
            Cut::Fin(p) | Cut::Stall(p) => vec![transient(start.max(p))],
            Cut::Rst(p) if p >= len && s.framing == Framing::Length => {
                let mut r = vec![complete];
                if len > start {
                    r.extend(self.representatives(start, len - 1).into_iter().map(transient));
                }
                r
            }
            Cut::Rst(p) => self.representatives(start, start.max(p.min(len))).into_iter().map(transient).collect(),
            Cut::ChunkLie { at, .. } => {
                self.representatives(start.max(at).min(len), len).into_iter().map(transient).collect()
            }
            Cut::StallHead => unreachable!("handled before the head"),
        }
    }

    /// One value of `lo..=hi` for each way a held amount can compare with the positions that
    /// matter to the rest of the plan (0, every version's length, every position of a fault).
    fn representatives(&self, lo: usize, hi: usize) -> BTreeSet<usize> {
        let mut marks = vec![0];
        marks.extend(self.versions.iter().map(Resource::len));
        for f in &self.faults {
            if let Fault::Serve(s) = f {
                marks.extend(match s.cut {
                    Cut::Fin(p) | Cut::Rst(p) | Cut::Stall(p) | Cut::ChunkLie { at: p, .. } => Some(p),
                    Cut::None | Cut::StallHead => None,
                });
                marks.extend(match s.pause {
                    Some(Pause::At(p)) => Some(p),
                    _ => None,
                });
            }
        }
        let mut out = BTreeSet::from([lo, hi]);
        for m in marks {
            out.extend([m.saturating_sub(1), m, m + 1].into_iter().filter(|v| (lo..=hi).contains(v)));
        }
        out
    }

    /// A generous limit for the plan to settle: every retry delay it can cause (100 ms
    /// doubling, or `Retry-After`), every stall, and a minute for a loaded machine.
    pub fn time_limit(&self) -> Duration {
        let attempts = self.faults.len() as u32 + 2;
        let delays: u64 = (0..attempts).map(|k| 100u64 << k).sum();
        let (mut after, mut stalls) = (0u64, 0u32);
        for f in &self.faults {
            match f {
                Fault::Status { retry_after: Some(s), .. } => after += u64::from(*s) * 1000,
                Fault::Serve(Serve { cut: Cut::Stall(_) | Cut::StallHead, .. }) => stalls += 1,
                _ => {}
            }
        }
        Duration::from_millis(delays + after) + READ_TIMEOUT * stalls + Duration::from_secs(60)
    }
}

/// What a run found.
#[derive(Debug, Default)]
pub struct Report {
    /// The seeds run: plan i of the run has seed `seeds.start + i`.
    pub seeds: Range<u64>,
    /// Plans checked.
    pub plans: u64,
    /// Outcomes seen, by kind (e.g. `COMPLETE`, `ERROR 0x80190194`).
    pub outcomes: BTreeMap<String, u64>,
    /// Plans whose model allowed more than one outcome (a reset may lose bytes).
    pub open_plans: u64,
    /// Failed attempts over all plans.
    pub retries: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Violations: plan seed and what was wrong (plan, expectation and requests included).
    pub violations: Vec<(u64, String)>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} plans (seeds {}..{}) in {:.1} s ({:.0} plans/s), {} violations; {} failed attempts; {} plans with \
             more than one allowed outcome",
            self.plans,
            self.seeds.start,
            self.seeds.end,
            self.elapsed.as_secs_f64(),
            self.plans as f64 / self.elapsed.as_secs_f64().max(1e-9),
            self.violations.len(),
            self.retries,
            self.open_plans
        )?;
        for (kind, n) in &self.outcomes {
            writeln!(f, "  {kind}: {n}")?;
        }
        Ok(())
    }
}

/// One queue, many plans at once, each with a hostile server of its own (so that a connection
/// one plan's server resets never sits in the client's pool for another plan's request).
#[derive(Debug)]
pub struct Runner {
    queue: HostileQueue,
}

impl Runner {
    /// A fresh queue ready for `concurrency` plans at once.
    pub fn start(concurrency: usize) -> Runner {
        let options = queue_options(concurrency);
        let options: Vec<(&str, &str)> = options.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Runner { queue: HostileQueue::open(&options) }
    }

    /// Runs plans `seeds` (drawn by [`Plan::draw`]) with `concurrency` at once; stops taking
    /// new plans after 20 violations.
    pub fn run(&self, seeds: Range<u64>, concurrency: usize) -> Report {
        let next = AtomicU64::new(seeds.start);
        let report = Mutex::new(Report { seeds: seeds.clone(), ..Report::default() });
        let started = Instant::now();
        std::thread::scope(|scope| {
            for _ in 0..concurrency {
                scope.spawn(|| loop {
                    let seed = next.fetch_add(1, Ordering::SeqCst);
                    if seed >= seeds.end || lock(&report).violations.len() >= 20 {
                        break;
                    }
                    let plan = Plan::draw(seed);
                    let expected = plan.expected();
                    let result = self.check(&plan, &expected);
                    let mut r = lock(&report);
                    r.plans += 1;
                    r.open_plans += u64::from(expected.len() > 1);
                    match result {
                        Ok(outcome) => {
                            let (kind, retries) = match outcome {
                                Outcome::Complete { retries, .. } => ("COMPLETE".to_string(), retries),
                                Outcome::Error { win32, retries, .. } => (format!("ERROR {win32:#x}"), retries),
                            };
                            *r.outcomes.entry(kind).or_default() += 1;
                            r.retries += u64::from(retries);
                        }
                        Err(e) => r.violations.push((seed, e)),
                    }
                });
            }
        });
        let mut report = report.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
        report.elapsed = started.elapsed();
        report
    }

    /// Runs `plan` through the queue (one group, one job, one file) and checks the outcome
    /// against `expected` (from [`Plan::expected`]) and the invariants of the module's
    /// documentation; then cancels the group and removes its files. Returns what happened, or
    /// what was wrong, with the plan, the expectation and the server's log of the file.
    pub fn check(&self, plan: &Plan, expected: &BTreeSet<Outcome>) -> Result<Outcome, String> {
        let path = format!("/plan-{}", plan.seed);
        let name = format!("plan-{}.bin", plan.seed);
        let server = HostileServer::start();
        let scripted = Arc::new(plan.clone());
        server.route(&path, move |req, n| scripted.step(n, req));
        let (group, job) = self.queue.group(&[(&server.url(&path), &name)]);
        if plan.foreground {
            group.switch_to_foreground().expect("SwitchToForeground");
        }
        group.resume().expect("ResumeGroup");
        let local = self.queue.path(&name);
        let temp = temp_path(&local, &job, 0);
        let (settled, word) = group.wait(Some(plan.time_limit())).expect("Group::wait");
        let mut result = if settled {
            self.judge(plan, expected, &server, &job, &path, &name)
        } else {
            Err(format!("still RUNNING (status {word:#x}) after {:?}", plan.time_limit()))
        };
        group.cancel().expect("CancelGroup");
        if result.is_ok() && !wait_until(Duration::from_secs(30), || !temp.exists()) {
            result = Err("the temporary file outlived CancelGroup (D4)".into());
        }
        let _ = std::fs::remove_file(&local);
        result.map_err(|e| {
            format!("plan {}: {e}\n{plan:?}\nexpected one of {expected:?}\nrequests:\n{}", plan.seed, server.describe())
        })
    }

    /// The checks on a settled group.
    fn judge(
        &self,
        plan: &Plan,
        expected: &BTreeSet<Outcome>,
        server: &HostileServer,
        job: &qmgr_rs::Job,
        path: &str,
        name: &str,
    ) -> Result<Outcome, String> {
        let local = self.queue.path(name);
        let temp = temp_path(&local, job, 0);
        let state = job.group().state().map_err(|e| format!("state: {e}"))?;
        let status = job.status().map_err(|e| format!("job status: {e}"))?;
        let retries = status.num_of_retries;
        let observed = match state {
            GroupState::Complete => {
                let got = std::fs::read(&local).map_err(|e| format!("COMPLETE but the final file: {e}"))?;
                let holds: Vec<usize> = (0..plan.versions.len()).filter(|&v| *plan.versions[v].body == got).collect();
                if holds.is_empty() {
                    let last = &plan.versions[plan.versions.len() - 1].body;
                    return Err(format!(
                        "WRONG BYTES under the final name: {} bytes, no version's (the last has {}, first difference at \
                         {:?})",
                        got.len(),
                        last.len(),
                        got.iter().zip(last.iter()).position(|(a, b)| a != b)
                    ));
                }
                if temp.exists() {
                    return Err(format!("COMPLETE, but the temporary file {} is left", temp.display()));
                }
                if (status.win32_result, status.transport_result) != (0, 0) {
                    return Err(format!("COMPLETE with an error: {status:?}"));
                }
                // Versions with equal bytes (two empty ones) are told apart by the model only.
                let complete = |version| Outcome::Complete { version, retries };
                holds.iter().map(|&v| complete(v)).find(|o| expected.contains(o)).unwrap_or(complete(holds[0]))
            }
            GroupState::Error => {
                if local.exists() {
                    return Err("ERROR, but a final file exists".into());
                }
                let e = job.error().map_err(|e| format!("job error: {e}"))?.ok_or("ERROR without a job error")?;
                // D15: a digest mismatch names the algorithm (and the digests); others the URL.
                let named = if e.win32 == QMGR_E_BAD_DIGEST { "sha-256" } else { path };
                if e.class != ErrorClass::Fatal || e.file_index != Some(0) || !e.message.contains(named) {
                    return Err(format!("the error is not fatal, or does not name file 0 and {named}: {e:?}"));
                }
                if (e.win32, e.transport) != (status.win32_result, status.transport_result) {
                    return Err(format!("the job's status {status:?} disagrees with its error {e:?}"));
                }
                match std::fs::read(&temp) {
                    Ok(_) if e.win32 == QMGR_E_BAD_DIGEST => {
                        return Err("the temporary file is left after a digest mismatch (D15)".into());
                    }
                    Ok(kept) if !plan.versions.iter().any(|v| v.body.starts_with(&kept)) => {
                        return Err(format!(
                            "the temporary file holds {} bytes that are no version's prefix",
                            kept.len()
                        ));
                    }
                    _ => {}
                }
                Outcome::Error { win32: e.win32, transport: e.transport, retries }
            }
            other => return Err(format!("settled in {other:?}")),
        };
        if !expected.contains(&observed) {
            return Err(format!("outcome {observed:?} is not one the model allows"));
        }
        let requests = server.requests_to(path);
        for (n, pair) in requests.windows(2).enumerate() {
            if let Fault::Status { retry_after: Some(secs), .. } = plan.fault(n) {
                let waited = pair[1].at.duration_since(pair[0].at);
                if waited < Duration::from_secs(u64::from(secs)) {
                    return Err(format!("request {} came {waited:?} after a Retry-After of {secs} s", n + 1));
                }
            }
        }
        Ok(observed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ETAG: Scheme = Scheme::Strong;

    /// A plan with versions of these sizes (validators of `scheme`) and these faults.
    fn plan(scheme: Scheme, sizes: &[usize], faults: Vec<Fault>) -> Plan {
        let versions = sizes
            .iter()
            .enumerate()
            .map(|(v, &n)| {
                let r = Resource::new(vec![v as u8; n]);
                match scheme {
                    Scheme::Strong => r.etag(&format!("\"{v}\"")),
                    Scheme::Weak => r.etag(&format!("W/\"{v}\"")),
                    Scheme::Date => r.last_modified(&format!("Mon, 01 Jan 2024 00:00:{v:02} GMT")),
                    _ => r,
                }
            })
            .collect();
        Plan { seed: 0, foreground: false, scheme, versions, faults }
    }

    fn serve(version: usize, framing: Framing, range: RangeAnswer, cut: Cut) -> Fault {
        Fault::Serve(Serve { version, framing, range, cut, pause: None, digest: Digest::None })
    }

    fn ok(version: usize, retries: u32) -> Outcome {
        Outcome::Complete { version, retries }
    }

    fn status(status: u16) -> Fault {
        Fault::Status { status, retry_after: None }
    }

    use Framing::{Chunked, CloseDelimited, Length};
    use RangeAnswer::{BadContentRange, Honour, Ignore, WrongStart};

    /// Hand-made plans and the outcomes DECISIONS D5 and D15 give them.
    #[test]
    fn the_model_follows_d5_and_d15() {
        let fatal404 = Outcome::Error { win32: bg_e_http(404), transport: 404, retries: 2 };
        let rows: Vec<(&str, Plan, Vec<Outcome>)> = vec![
            ("no fault", plan(ETAG, &[1000], vec![]), vec![ok(0, 0)]),
            ("transient statuses are retried", plan(ETAG, &[1000], vec![status(503), status(429)]), vec![ok(0, 2)]),
            ("a fatal status stops", plan(ETAG, &[1000], vec![status(503), status(404)]), vec![fatal404]),
            (
                "a 501 is fatal",
                plan(ETAG, &[10], vec![status(501)]),
                vec![Outcome::Error { win32: bg_e_http(501), transport: 501, retries: 1 }],
            ),
            (
                "a FIN resumes; the 206 completes",
                plan(ETAG, &[1000], vec![serve(0, Length, Honour, Cut::Fin(500))]),
                vec![ok(0, 1)],
            ),
            (
                "a 404 after a cut: the fatal status is reached",
                plan(ETAG, &[1000], vec![serve(0, Length, Honour, Cut::Fin(500)), status(404)]),
                vec![fatal404],
            ),
            (
                "a FIN at 0 holds nothing: no range, the wrong-start answer is a plain 200",
                plan(
                    ETAG,
                    &[1000],
                    vec![serve(0, Length, Honour, Cut::Fin(0)), serve(0, Length, WrongStart, Cut::None)],
                ),
                vec![ok(0, 1)],
            ),
            (
                "a wrong start restarts within the attempt: the next fault answers the request without Range",
                plan(
                    ETAG,
                    &[1000],
                    vec![serve(0, Length, Honour, Cut::Fin(500)), serve(0, Length, WrongStart, Cut::None), status(404)],
                ),
                vec![fatal404],
            ),
            (
                "an unusable Content-Range restarts too",
                plan(
                    ETAG,
                    &[1000],
                    vec![
                        serve(0, Length, Honour, Cut::Fin(500)),
                        serve(0, Length, BadContentRange, Cut::None),
                        serve(0, Length, Honour, Cut::None),
                    ],
                ),
                vec![ok(0, 1)],
            ),
            (
                "an ignored range is a 200 that completes",
                plan(ETAG, &[1000], vec![serve(0, Length, Honour, Cut::Fin(500)), serve(0, Length, Ignore, Cut::None)]),
                vec![ok(0, 1)],
            ),
            (
                "a validator change with If-Range: the new version whole",
                plan(
                    ETAG,
                    &[1000, 800],
                    vec![serve(0, Length, Honour, Cut::Fin(500)), serve(1, Length, Honour, Cut::None)],
                ),
                vec![ok(1, 1)],
            ),
            (
                "weak ETags send no If-Range: the 206 of another version restarts, the next answer is served",
                plan(
                    Scheme::Weak,
                    &[1000, 800],
                    vec![serve(0, Length, Honour, Cut::Fin(500)), serve(1, Length, Honour, Cut::None), status(404)],
                ),
                vec![fatal404],
            ),
            (
                "a chunked body without its terminator holds every byte; the 416 completes it",
                plan(ETAG, &[1000], vec![serve(0, Chunked, Honour, Cut::Fin(1000))]),
                vec![ok(0, 1)],
            ),
            (
                "a 416 for another version's length restarts",
                plan(
                    Scheme::Weak,
                    &[1000, 1000],
                    vec![serve(0, Chunked, Honour, Cut::Fin(1000)), serve(1, Length, Honour, Cut::None), status(404)],
                ),
                vec![fatal404],
            ),
            (
                "a chunk size lie is transient",
                plan(ETAG, &[1000], vec![serve(0, Chunked, Honour, Cut::ChunkLie { at: 100, delta: -7 })]),
                vec![ok(0, 1)],
            ),
            (
                "stalls time out; silence before the head too",
                plan(
                    ETAG,
                    &[1000],
                    vec![serve(0, Length, Honour, Cut::Stall(10)), serve(0, CloseDelimited, Honour, Cut::StallHead)],
                ),
                vec![ok(0, 2)],
            ),
            (
                "a RST may keep nothing (then no range: the wrong start is a 200) or something (restart, then 404)",
                plan(
                    ETAG,
                    &[1000],
                    vec![serve(0, Length, Honour, Cut::Rst(500)), serve(0, Length, WrongStart, Cut::None), status(404)],
                ),
                vec![ok(0, 1), fatal404],
            ),
            (
                "a RST after the whole Content-Length body may complete",
                plan(ETAG, &[1000], vec![serve(0, Length, Honour, Cut::Rst(1000)), status(404)]),
                vec![ok(0, 0), Outcome::Error { win32: bg_e_http(404), transport: 404, retries: 2 }],
            ),
            (
                "a RST ends no close-delimited body",
                plan(ETAG, &[1000], vec![serve(0, CloseDelimited, Honour, Cut::Rst(1000))]),
                vec![ok(0, 1)],
            ),
            (
                "an empty file",
                plan(Scheme::None, &[0], vec![serve(0, CloseDelimited, Ignore, Cut::None)]),
                vec![ok(0, 0)],
            ),
        ];
        for (what, plan, outcomes) in rows {
            assert_eq!(plan.expected(), outcomes.into_iter().collect(), "{what}");
        }
    }

    #[test]
    fn digests_matter_only_when_checked() {
        let mut p = plan(ETAG, &[100], vec![serve(0, Length, Honour, Cut::None)]);
        if let Fault::Serve(s) = &mut p.faults[0] {
            s.digest = Digest::Wrong;
        }
        let want = if DIGESTS_CHECKED {
            Outcome::Error { win32: QMGR_E_BAD_DIGEST, transport: 0, retries: 1 }
        } else {
            ok(0, 0)
        };
        assert_eq!(p.expected(), BTreeSet::from([want]));
        assert_eq!(repr_digest(b""), "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:");
    }

    #[test]
    fn drawn_plans_keep_to_their_shape() {
        for seed in 0..2000 {
            let p = Plan::draw(seed);
            assert!(p.faults.len() <= MAX_FAULTS && !p.versions.is_empty() && p.versions.len() <= 3);
            assert!(p.versions.len() == 1 || p.scheme != Scheme::None, "changes need validators");
            for f in &p.faults {
                if let Fault::Serve(s) = f {
                    let len = p.versions[s.version].len();
                    assert!(!(matches!(s.cut, Cut::Fin(_)) && s.framing == CloseDelimited), "{seed}: {s:?}");
                    assert!(!matches!(s.cut, Cut::Fin(p) if p >= len && s.framing == Length), "{seed}: {s:?}");
                    assert!(!matches!(s.cut, Cut::ChunkLie { .. }) || s.framing == Chunked, "{seed}: {s:?}");
                    assert!(DIGESTS_CHECKED || s.digest == Digest::None);
                }
            }
            assert!(!p.expected().is_empty(), "{seed}");
        }
    }

    /// The kinds of fault `p` draws, by name.
    fn kinds(p: &Plan) -> Vec<String> {
        let mut k = vec![format!("{:?}", p.scheme), format!("{} versions", p.versions.len())];
        for f in &p.faults {
            match f {
                Fault::Status { status, retry_after } => k.push(format!("{status} {}", retry_after.is_some())),
                Fault::Serve(s) => {
                    k.push(format!("{:?}", s.framing));
                    k.push(format!("{:?}", s.range));
                    k.push(format!("{:?}", s.pause.map(|p| matches!(p, Pause::Head))));
                    let cut = format!("{:?}", s.cut);
                    k.push(cut.split(['(', ' ']).next().unwrap_or_default().to_string());
                }
            }
        }
        k
    }

    /// A run of the default size (5,000 plans) draws every kind of fault.
    #[test]
    fn drawn_plans_cover_every_kind_of_fault() {
        let seen: BTreeSet<String> = (0..5000).flat_map(|s| kinds(&Plan::draw(s))).collect();
        let want = [
            "None",
            "Strong",
            "Weak",
            "Date",
            "StrongAndDate",
            "WeakAndDate",
            "1 versions",
            "2 versions",
            "3 versions",
            "503 true",
            "503 false",
            "425 false",
            "404 false",
            "501 false",
            "505 false",
            "Length",
            "Chunked",
            "CloseDelimited",
            "Honour",
            "Ignore",
            "WrongStart",
            "BadContentRange",
            "Fin",
            "Rst",
            "ChunkLie",
            "Stall",
            "StallHead",
            "Some(true)",
            "Some(false)",
        ];
        for w in want {
            assert!(seen.contains(w), "no plan drew {w}: {seen:?}");
        }
    }
}
