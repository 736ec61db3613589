//! Fetching one file over HTTP(S): resume, validators, redirects, credentials
//! (DECISIONS D1, D5, D11).

use crate::auth::Auth;
use crate::cause::{local_failure, network_failure, status_failure};
use crate::digest::{self, Verifier};
use crate::exchange::{Event, Exchange, Helpers};
use crate::local::{self, DestinationCheck, TempFile, Writeback};
use crate::url::{self, redact, Url};
use crate::{segments, MAX_REDIRECTS};
use qmgr_core::model::{Checksum, HeldRanges, Validators};
use qmgr_core::rules::segments::ProbeVerdict;
use qmgr_core::rules::{self, credentials};
use qmgr_core::transport::{
    Cause, DigestSource, Failure, FetchObserver, FetchOutcome, FetchRequest, LocalOp, Probe, RedirectProblem,
    ResponseProblem,
};
use std::collections::HashSet;
use std::io::{Seek, SeekFrom};
use std::time::Instant;
use ureq::http::HeaderMap;

/// Restarts from zero allowed in one fetch before the server's answers count as unusable.
const MAX_RESTARTS: u32 = 3;

/// Fetches `req` from `url`, its URL as parsed (an http or https URL).
pub(crate) fn fetch(
    helpers: &Helpers,
    agent: &ureq::Agent,
    allow_http_creds: bool,
    req: &FetchRequest<'_>,
    url: Url,
    obs: &mut dyn FetchObserver,
) -> FetchOutcome {
    match run(helpers, agent, allow_http_creds, req, url, obs) {
        Ok(outcome) => outcome,
        Err(e) => FetchOutcome::Failed(e),
    }
}

/// Where the next request starts and what the held bytes came from.
struct Resume {
    /// Where the next request starts: the bytes of the temporary file kept from its start
    /// (sent as `Range: bytes=held-`, or up to the next held range for a file held in ranges).
    held: u64,
    /// Validators of the response the held bytes came from.
    stored: Validators,
    /// Whether the next request asks for a range (bytes are held).
    ranged: bool,
    /// Restarts from zero so far.
    restarts: u32,
    /// The ranges held of a file fetched in segments (DECISIONS D16); `held` is then where
    /// the first gap starts.
    ranges: Option<HeldRanges>,
    /// The server answered a range request with the whole file: no more pieces in this
    /// fetch.
    single: bool,
}

impl Resume {
    /// Gives up the held bytes: the next request fetches the whole file (DECISIONS D5).
    fn restart(&mut self, why: &str, url: &str) -> Result<(), Failure> {
        log::info!("{url}: {why}; restarting the file from zero");
        self.restarts += 1;
        if self.restarts > MAX_RESTARTS {
            return Err(invalid_response(url, format!("{why}, after {MAX_RESTARTS} restarts from zero")));
        }
        self.held = 0;
        self.ranged = false;
        self.ranges = None;
        Ok(())
    }
}

fn run(
    helpers: &Helpers,
    agent: &ureq::Agent,
    allow_http_creds: bool,
    req: &FetchRequest<'_>,
    url: Url,
    obs: &mut dyn FetchObserver,
) -> Result<FetchOutcome, Failure> {
    let path = req.temp_path;
    // Created when the first byte of a body is written: a failure before leaves no file.
    let mut temp = TempFile::open(path)?;
    let len = temp.len()?;
    // Bytes past the checkpoint are not trusted; a file shorter than it cannot be resumed.
    // Ranges that are one prefix say what `offset` says.
    let held_ranges = req.held_ranges.filter(|r| !r.is_prefix());
    let checkpoint = held_ranges.map_or(req.offset, HeldRanges::end);
    let mut resume = if len >= checkpoint {
        match held_ranges {
            // A file fetched in segments continues from its first gap; nothing is cut.
            Some(r) => Resume {
                held: r.prefix_len(),
                stored: req.validators.clone(),
                ranged: true,
                restarts: 0,
                ranges: Some(r.clone()),
                single: false,
            },
            None => Resume {
                held: req.offset,
                stored: req.validators.clone(),
                ranged: req.offset > 0,
                restarts: 0,
                ranges: None,
                single: false,
            },
        }
    } else {
        log::warn!(
            "temporary file {} holds {len} bytes, fewer than the checkpoint {checkpoint}; restarting",
            path.display()
        );
        Resume { held: 0, stored: req.validators.clone(), ranged: false, restarts: 0, ranges: None, single: false }
    };
    if resume.ranges.is_none() {
        temp.truncate(resume.held)?;
    }
    // The file's checksum and the servers' digests, hashed as the file is written (D15).
    let mut verifier = Verifier::new(req.checksum);

    // Credentials in the URL follow the rules of the group's (D11): they are taken off the
    // URL, so that only a challenge from the same origin gets them; the group's win when both
    // are given.
    let (url, from_url) = url::take_userinfo(url);
    let mut route = Route::new(req.url, url);
    // The origins that challenged us get credentials from then on, no other (D11).
    let mut auth = Auth::new(credentials::effective(req.credentials, from_url.as_ref()), allow_http_creds);

    loop {
        if req.cancel.is_cancelled() {
            return Ok(FetchOutcome::Cancelled);
        }
        let mut headers = Vec::new();
        if resume.ranged {
            // Up to the end of the first gap when more is held after it (D16).
            let gap_end =
                resume.ranges.as_ref().and_then(|r| r.ranges().iter().map(|&(s, _)| s).find(|&s| s > resume.held));
            headers.push((
                "Range",
                match gap_end {
                    Some(end) => format!("bytes={}-{}", resume.held, end - 1),
                    None => format!("bytes={}-", resume.held),
                },
            ));
            if let Some(v) = if_range(&resume.stored) {
                headers.push(("If-Range", v));
            }
        }
        let (request, shown) = (route.request(), route.shown.clone());
        let authorization = auth.authorization(&request, &shown, "GET")?;
        let sent = authorization.is_some();
        headers.extend(authorization.clone().map(|a| ("Authorization", a)));
        let exchange = Exchange::start(helpers, agent, request.as_str(), headers, req)
            .map_err(|e| Failure::new(Cause::NoThread, &shown, e.to_string()))?;
        let (status, h) = match exchange.next(req.cancel, &mut || {}) {
            None => return Ok(FetchOutcome::Cancelled),
            Some(Event::Head(Ok(head))) => head,
            Some(Event::Head(Err(e))) | Some(Event::Failed(e)) => return Err(network_failure(e, &shown)),
            Some(_) => return Err(invalid_response(&shown, "the answer had no head")),
        };
        log::debug!("GET {shown} (range from {:?}) → {status}", resume.ranged.then_some(resume.held));
        if status != 401 {
            auth.answered(request.url());
        }

        match status {
            301 | 302 | 303 | 307 | 308 => route.redirect(status, &h)?,
            401 => auth.challenged(request.url(), &shown, &h, sent)?,
            416 if resume.ranged => {
                let mut v = response_validators(&h);
                v.total = match parse_content_range(header(&h, "content-range")) {
                    Some(ContentRange::Unsatisfied { total }) => Some(total),
                    _ => None,
                };
                if v.total == Some(resume.held) && !changed(&resume.stored, &v) {
                    // Every byte is already held (DECISIONS D5).
                    v.etag = v.etag.or_else(|| resume.stored.etag.clone());
                    v.last_modified = v.last_modified.or_else(|| resume.stored.last_modified.clone());
                    obs.on_start(resume.held, &v);
                    obs.on_progress(resume.held);
                    if !verifier.finish(Some(temp.create()?), path, resume.held, &shown, req.cancel)? {
                        return Ok(FetchOutcome::Cancelled);
                    }
                    return Ok(FetchOutcome::Complete { bytes: resume.held, validators: v });
                }
                resume.restart(
                    &format!("HTTP 416 from {shown} does not confirm the {} bytes held", resume.held),
                    &shown,
                )?;
            }
            200 | 206 => {
                let mut v = response_validators(&h);
                let content_length = header(&h, "content-length").and_then(|s| s.parse::<u64>().ok());
                let (start, body_len) = if status == 206 {
                    let expected = if resume.ranged { resume.held } else { 0 };
                    let range = parse_content_range(header(&h, "content-range"));
                    match range {
                        Some(ContentRange::Bytes { start, end, total }) if start == expected => {
                            v.total = total;
                            if resume.ranged && changed(&resume.stored, &v) {
                                resume.restart(&format!("the file at {shown} changed (validators differ)"), &shown)?;
                                continue;
                            }
                            if resume.ranged {
                                // The held bytes and these share one version: keep what
                                // the earlier answer said and this one left out.
                                let s = &resume.stored;
                                v.etag = v.etag.or_else(|| s.etag.clone());
                                v.last_modified = v.last_modified.or_else(|| s.last_modified.clone());
                                v.total = v.total.or(s.total);
                            }
                            (start, content_length.or(Some(end - start + 1)))
                        }
                        _ if resume.ranged => {
                            let why = format!("HTTP 206 from {shown} does not start at byte {expected}");
                            resume.restart(&why, &shown)?;
                            continue;
                        }
                        _ => return Err(invalid_response(&shown, "HTTP 206 to a request without Range")),
                    }
                } else {
                    if resume.ranged {
                        log::info!("{shown}: HTTP 200 to a ranged request; the file restarts from zero");
                    }
                    v.total = content_length;
                    (0, content_length)
                };
                let digests = digest::server_digests(status, &h);
                // A 206 continues what is held; a 200 is the whole file from zero.
                let held = match (status, resume.ranges.take()) {
                    (206, Some(ranges)) => ranges,
                    _ => HeldRanges::prefix(start),
                };
                let was_segmented = !held.is_prefix();
                let single = resume.single;
                let split =
                    |held: &HeldRanges| pieces(req, status, &h, &v, held, authorization.as_deref()).filter(|_| !single);
                // Ranges held go on in ranges at once; a prefix first in one stream, which
                // goes to pieces only if it proves slow (`rules::segments::probe`).
                let mut pieces = if was_segmented { split(&held) } else { None };
                let mut held = held;
                let mut received = None;
                if !was_segmented {
                    let may_split = |done: u64| split(&HeldRanges::prefix(done)).is_some();
                    let probe = may_split(start).then_some(&may_split as &dyn Fn(u64) -> bool);
                    let body = Body { start, validators: &v, digests: digests.clone() };
                    match receive(&exchange, &mut temp, req, obs, body, &mut verifier, &shown, probe)? {
                        Received::Cancelled => return Ok(FetchOutcome::Cancelled),
                        Received::Split(done) => {
                            held = HeldRanges::prefix(done);
                            pieces = split(&held);
                        }
                        Received::End(done) => received = Some(done),
                    }
                }
                if let Some(pieces) = pieces {
                    let total = v.total.expect("pieces need the size");
                    let source = segments::Source {
                        request_url: request.as_str(),
                        shown: &shown,
                        validators: &v,
                        if_range: if_range(&v).expect("pieces need a validator"),
                        authorization,
                    };
                    // Bytes past the last range held are not trusted (a file that shrank
                    // would keep a stale tail).
                    temp.truncate(held.end())?;
                    obs.on_start(held.total(), &v);
                    if !verifier.start(temp.existing(), path, 0, digests, req.cancel)? {
                        return Ok(FetchOutcome::Cancelled);
                    }
                    let created = temp.existing().is_none();
                    let file = temp.create()?;
                    let ended = segments::fetch(helpers, agent, req, &source, file, path, held, pieces, exchange, obs);
                    // A file created for pieces that brought nothing goes again (issue #15).
                    let nothing = created && file.metadata().is_ok_and(|m| m.len() == 0);
                    if nothing && matches!(ended, Err(_) | Ok(segments::Ended::Cancelled)) {
                        crate::local::discard(path);
                    }
                    match ended? {
                        segments::Ended::Complete => {
                            if !verifier.finish(Some(file), path, total, &shown, req.cancel)? {
                                return Ok(FetchOutcome::Cancelled);
                            }
                            return Ok(FetchOutcome::Complete { bytes: total, validators: v });
                        }
                        segments::Ended::Cancelled => return Ok(FetchOutcome::Cancelled),
                        segments::Ended::Changed(why) => {
                            resume.restart(&why, &shown)?;
                            temp.truncate(0)?;
                            obs.on_start(0, &Validators::default());
                            continue;
                        }
                        segments::Ended::NoRanges => {
                            resume.single = true;
                            resume.restart(&format!("{shown} does not serve ranges"), &shown)?;
                            temp.truncate(0)?;
                            obs.on_start(0, &Validators::default());
                            continue;
                        }
                    }
                }
                let Some(done) = received else {
                    // Ranges held but not to be continued in ranges (the answer no longer
                    // allows it): the file starts again from zero.
                    resume.restart(&format!("{shown} can no longer be fetched in ranges"), &shown)?;
                    temp.truncate(0)?;
                    continue;
                };
                let got = done - start;
                if let Some(n) = body_len.filter(|&n| n != got) {
                    let cause = Cause::BodyEndedEarly { received: got, expected: n };
                    return Err(Failure::new(cause, &shown, ""));
                }
                match v.total {
                    // A server that answers only part of the range: ask for the rest.
                    Some(total) if status == 206 && done < total && got > 0 => {
                        resume = Resume {
                            held: done,
                            stored: v,
                            ranged: true,
                            restarts: resume.restarts,
                            ranges: None,
                            single: resume.single,
                        };
                        continue;
                    }
                    Some(total) if done != total => {
                        let why = format!("holds {done} bytes but the server reports {total}");
                        return Err(invalid_response(&shown, why));
                    }
                    _ => {}
                }
                v.total = Some(done);
                // An empty body is a file too: its (empty) temporary file is committed.
                if !verifier.finish(Some(temp.create()?), path, done, &shown, req.cancel)? {
                    return Ok(FetchOutcome::Cancelled);
                }
                return Ok(FetchOutcome::Complete { bytes: done, validators: v });
            }
            other => return Err(status_failure(other, &shown, header(&h, "retry-after"), "")),
        }
    }
}

/// The body of an accepted answer: where it is written from, the validators of the answer,
/// and the digests of the whole file it carries (DECISIONS D15).
struct Body<'a> {
    start: u64,
    validators: &'a Validators,
    digests: Vec<(DigestSource, Checksum)>,
}

/// How a body received in one stream ended.
enum Received {
    /// The cancel flag was raised.
    Cancelled,
    /// The body ended; the file holds this many bytes.
    End(u64),
    /// The connection proved slow (`rules::segments::probe`) with this many bytes held: the
    /// rest goes in pieces, the exchange's body going on from there.
    Split(u64),
}

/// Writes the body of an accepted answer from `body.start` into `temp` (created at the first
/// byte), checking the destination directory as it goes ([`DestinationCheck`]) and hashing it
/// with `verifier` (which first hashes the bytes kept before `start`, when it has not yet).
/// With `probe` (the file may go on in pieces: `probe(done)` says whether it still may with
/// `done` bytes held), the stream stops to go to pieces once `rules::segments::probe` finds the
/// connection slow.
#[allow(clippy::too_many_arguments)]
fn receive(
    exchange: &Exchange,
    temp: &mut TempFile<'_>,
    req: &FetchRequest<'_>,
    obs: &mut dyn FetchObserver,
    body: Body<'_>,
    verifier: &mut Verifier,
    shown: &str,
    mut probe: Option<&dyn Fn(u64) -> bool>,
) -> Result<Received, Failure> {
    let (start, path) = (body.start, temp.path());
    temp.truncate(start)?;
    if !verifier.start(temp.existing(), path, start, body.digests, req.cancel)? {
        return Ok(Received::Cancelled);
    }
    if let Some(mut file) = temp.existing() {
        file.seek(SeekFrom::Start(start)).map_err(|e| local_failure(&e, LocalOp::SeekTemp, path))?;
    }
    obs.on_start(start, body.validators);
    let mut done = start;
    let mut writeback = Writeback::new(start);
    let mut destination = DestinationCheck::new();
    let began = Instant::now();
    loop {
        // While the server stalls, a heartbeat lets the engine count active time.
        match exchange.next(req.cancel, &mut || obs.on_progress(done)) {
            None => return Ok(Received::Cancelled),
            Some(Event::Data(chunk)) => {
                if !req.throttle.acquire(chunk.len(), req.cancel) {
                    return Ok(Received::Cancelled);
                }
                let file = temp.create()?;
                local::write_all(file, &chunk, |part| verifier.update(part))
                    .map_err(|e| local_failure(&e, LocalOp::WriteTemp, path))?;
                done += chunk.len() as u64;
                writeback.wrote(file, done);
                obs.on_progress(done);
                destination.due(file, path)?;
                if let Some(may_split) = probe {
                    match rules::segments::probe(done - start, began.elapsed()) {
                        ProbeVerdict::Wait => {}
                        ProbeVerdict::Split if may_split(done) => return Ok(Received::Split(done)),
                        ProbeVerdict::Split | ProbeVerdict::OneStream => probe = None,
                    }
                }
            }
            Some(Event::End) => return Ok(Received::End(done)),
            Some(Event::Failed(e)) | Some(Event::Head(Err(e))) => return Err(network_failure(e, shown)),
            Some(Event::Head(Ok(_))) => return Err(invalid_response(shown, "a second answer head")),
        }
    }
}

/// Where the requests of one fetch or probe go: the URL the program gave, requested as
/// written (DECISIONS D2), then each redirect target as resolved (D5, D11).
struct Route<'a> {
    /// The URL as the program gave it.
    given: &'a str,
    /// The current URL, without user-info and fragment.
    url: Url,
    /// How messages name the current URL: the URL as given (its password hidden), then each
    /// redirect target.
    shown: String,
    seen: HashSet<Url>,
    hops: usize,
}

impl<'a> Route<'a> {
    /// Starting at `url`, parsed from `given` (user-info and fragment taken off).
    fn new(given: &'a str, url: Url) -> Route<'a> {
        Route { given, shown: redact(given).into_owned(), seen: HashSet::from([url.clone()]), url, hops: 0 }
    }

    /// The request for the current URL: as given until a redirect (D2), then as resolved.
    fn request(&self) -> url::Request {
        url::Request::new(self.url.clone(), (self.hops == 0).then_some(self.given))
    }

    /// Follows the redirect `status` (a 3xx) whose headers are `h`: the `Location`, resolved
    /// against the current URL, becomes the URL, without any user-info (credentials in a
    /// `Location` are never sent, nor passed to the HTTP library, which would send them
    /// unasked: `url::resolve` takes them off).
    ///
    /// Errors: a [`Cause::Redirect`] failure naming the current URL for a missing or
    /// non-http(s) `Location`, a hop past [`MAX_REDIRECTS`], https → http, or a URL seen before.
    fn redirect(&mut self, status: u16, h: &HeaderMap) -> Result<(), Failure> {
        let fail = |problem| Failure::new(Cause::Redirect { status, problem }, &self.shown, "");
        let Some(location) = header(h, "location") else {
            return Err(fail(RedirectProblem::NoLocation));
        };
        let next = url::resolve(&self.url, location)
            .ok_or_else(|| fail(RedirectProblem::UnusableLocation { location: redact(location).into_owned() }))?;
        let next_shown = next.as_str().to_string();
        if self.hops + 1 > MAX_REDIRECTS {
            return Err(fail(RedirectProblem::TooMany { limit: MAX_REDIRECTS, to: next_shown }));
        }
        if url::is_https(&self.url) && !url::is_https(&next) {
            return Err(fail(RedirectProblem::ToPlainHttp { to: next_shown }));
        }
        if self.seen.contains(&next) {
            return Err(fail(RedirectProblem::Loop { to: next_shown }));
        }
        self.hops += 1;
        self.seen.insert(next.clone());
        self.url = next;
        self.shown = next_shown;
        Ok(())
    }
}

/// `HEAD url` ([`qmgr_core::transport::Transport::probe`]), `url` as given and `parsed`:
/// redirects followed and a `401` answered with the URL's own credentials as a fetch does
/// (DECISIONS D2, D5, D11), on the calling thread (bounded by the agent's connect and read
/// timeouts).
///
/// Errors: as a fetch reports them: an HTTP status other than 2xx, 3xx followed or 401
/// answered ([`status_failure`]), a network failure, a redirect problem, a refused 401.
pub(crate) fn probe(agent: &ureq::Agent, allow_http_creds: bool, url: &str, parsed: Url) -> Result<Probe, Failure> {
    let (parsed, from_url) = url::take_userinfo(parsed);
    let mut route = Route::new(url, parsed);
    let mut auth = Auth::new(from_url.as_ref(), allow_http_creds);
    loop {
        let (request, shown) = (route.request(), route.shown.clone());
        let authorization = auth.authorization(&request, &shown, "HEAD")?;
        let sent = authorization.is_some();
        let mut head = agent.head(request.as_str());
        if let Some(a) = authorization {
            head = head.header("Authorization", a);
        }
        let answer = head.call().map_err(|e| network_failure(e, &shown))?;
        let (status, h) = (answer.status().as_u16(), answer.headers());
        log::debug!("HEAD {shown} → {status}");
        if status != 401 {
            auth.answered(request.url());
        }
        match status {
            301 | 302 | 303 | 307 | 308 => route.redirect(status, h)?,
            401 => auth.challenged(request.url(), &shown, h, sent)?,
            200..=299 => {
                let mut validators = response_validators(h);
                validators.total =
                    header(h, "content-length").filter(|_| status == 200).and_then(|s| s.parse::<u64>().ok());
                let accepts_ranges = accepts_byte_ranges(h);
                // Raw UTF-8 is accepted here (some servers send it in `filename`).
                let disposition = h.get("content-disposition").and_then(|v| std::str::from_utf8(v.as_bytes()).ok());
                let file_name = disposition.and_then(crate::disposition::file_name);
                return Ok(Probe { validators, accepts_ranges, file_name });
            }
            other => return Err(status_failure(other, &shown, header(h, "retry-after"), "")),
        }
    }
}

/// The pieces to fetch in ranges over several connections (DECISIONS D16) after the answer
/// `status`/`h` with validators `v` (its `total` the file's size) to a request sent with
/// `authorization`, holding `held`: `None` to go on in one stream. The core's rules decide
/// (`rules::segments::{plan, splittable, in_ranges}`); this reads the answer for them, and
/// never goes on in ranges with Digest authentication, whose answers may not be replayed, or
/// without a validator for `If-Range`.
fn pieces(
    req: &FetchRequest<'_>,
    status: u16,
    h: &HeaderMap,
    v: &Validators,
    held: &HeldRanges,
    authorization: Option<&str>,
) -> Option<Vec<(u64, u64)>> {
    let total = v.total?;
    if authorization.is_some_and(|a| !a.starts_with("Basic ")) || if_range(v).is_none() {
        return None;
    }
    let accepts = status == 206 || accepts_byte_ranges(h);
    let pieces = rules::segments::plan(total, held, req.connections);
    rules::segments::in_ranges(held, &pieces, rules::segments::splittable(v, accepts)).then_some(pieces)
}

/// The answer says the server serves byte ranges (`Accept-Ranges` lists `bytes`).
fn accepts_byte_ranges(h: &HeaderMap) -> bool {
    header(h, "accept-ranges").is_some_and(|v| v.split(',').any(|unit| unit.trim().eq_ignore_ascii_case("bytes")))
}

/// An answer of `url` (already redacted) that cannot be used, and why.
pub(crate) fn invalid_response(url: &str, why: impl Into<String>) -> Failure {
    Failure::new(Cause::InvalidResponse(ResponseProblem::Unusable), url, why)
}

pub(crate) fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

/// `If-Range`: the strong ETag exactly as received, else the Last-Modified date (D11).
fn if_range(v: &Validators) -> Option<String> {
    match &v.etag {
        Some(etag) if !etag.starts_with("W/") => Some(etag.clone()),
        _ => v.last_modified.clone(),
    }
}

/// ETag and Last-Modified exactly as received; `total` is left to the caller.
pub(crate) fn response_validators(h: &HeaderMap) -> Validators {
    Validators {
        etag: header(h, "etag").map(str::to_string),
        last_modified: header(h, "last-modified").map(str::to_string),
        total: None,
    }
}

/// True when a validator that both sides know differs: the file changed (D5, D11).
pub(crate) fn changed(stored: &Validators, new: &Validators) -> bool {
    fn differs<T: PartialEq>(a: &Option<T>, b: &Option<T>) -> bool {
        matches!((a, b), (Some(x), Some(y)) if x != y)
    }
    differs(&stored.etag, &new.etag)
        || differs(&stored.last_modified, &new.last_modified)
        || differs(&stored.total, &new.total)
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ContentRange {
    /// `bytes START-END/TOTAL` (`TOTAL` may be `*`).
    Bytes { start: u64, end: u64, total: Option<u64> },
    /// `bytes */TOTAL` (the answer of a 416).
    Unsatisfied { total: u64 },
}

pub(crate) fn parse_content_range(value: Option<&str>) -> Option<ContentRange> {
    let rest = value?.trim().strip_prefix("bytes")?.trim_start();
    let (range, total) = rest.split_once('/')?;
    let total = total.trim();
    if range.trim() == "*" {
        return Some(ContentRange::Unsatisfied { total: total.parse().ok()? });
    }
    let (start, end) = range.trim().split_once('-')?;
    let (start, end): (u64, u64) = (start.trim().parse().ok()?, end.trim().parse().ok()?);
    let total = if total == "*" { None } else { Some(total.parse().ok()?) };
    (end >= start && total.is_none_or(|t| end < t)).then_some(ContentRange::Bytes { start, end, total })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_forms() {
        use ContentRange::*;
        assert_eq!(parse_content_range(Some("bytes 10-19/100")), Some(Bytes { start: 10, end: 19, total: Some(100) }));
        assert_eq!(parse_content_range(Some("bytes 0-0/*")), Some(Bytes { start: 0, end: 0, total: None }));
        assert_eq!(parse_content_range(Some("bytes */42")), Some(Unsatisfied { total: 42 }));
        assert_eq!(parse_content_range(Some("bytes 5-4/10")), None);
        assert_eq!(parse_content_range(Some("bytes 5-10/10")), None);
        assert_eq!(parse_content_range(Some("items 1-2/3")), None);
        assert_eq!(parse_content_range(None), None);
    }

    #[test]
    fn if_range_prefers_a_strong_etag() {
        let mut v = Validators { etag: Some("\"a\"".into()), last_modified: Some("LM".into()), total: None };
        assert_eq!(if_range(&v).as_deref(), Some("\"a\""));
        v.etag = Some("W/\"a\"".into());
        assert_eq!(if_range(&v).as_deref(), Some("LM"));
        v.last_modified = None;
        assert_eq!(if_range(&v), None);
    }

    #[test]
    fn validators_change_only_when_both_sides_know_them() {
        let a = Validators { etag: Some("1".into()), last_modified: None, total: Some(5) };
        assert!(!changed(&a, &Validators::default()));
        assert!(changed(&a, &Validators { etag: Some("2".into()), ..Default::default() }));
        assert!(changed(&a, &Validators { total: Some(6), ..Default::default() }));
        assert!(!changed(&a, &a.clone()));
    }
}
