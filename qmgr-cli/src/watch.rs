//! Following a group until it stops (`get`, `wait`, `resume --wait`): the progress display,
//! notes about retries, Ctrl-C, and the reports printed when the group completes or fails.

use crate::exit::hresult_text;
use crate::names::redact_url;
use crate::queue::Queue;
use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use qmgr_rs::hresult::QM_E_INVALID_STATE;
use qmgr_rs::model::{status, GroupState};
use qmgr_rs::{Error, ErrorClass, Group, GroupSnapshot, Guid, JobSnapshot};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long one `Group::wait` may block before the display is refreshed and Ctrl-C checked.
const POLL: Duration = Duration::from_millis(200);

/// Interrupts (Ctrl-C, SIGTERM, SIGHUP) received so far.
static INTERRUPTS: AtomicUsize = AtomicUsize::new(0);

/// Makes Ctrl-C (and SIGTERM, SIGHUP) set the interrupted flag instead of killing the
/// process, so that the command can suspend its group or stop serving cleanly. A third
/// interrupt exits at once with code 3, in case the clean stop hangs.
pub fn install_interrupt_handler() {
    let r = ctrlc::set_handler(|| {
        if INTERRUPTS.fetch_add(1, Ordering::SeqCst) >= 2 {
            eprintln!("interrupted again: exiting now");
            std::process::exit(3);
        }
    });
    if let Err(e) = r {
        log::warn!("cannot handle Ctrl-C: {e}");
    }
}

/// True once an interrupt arrived (see [`install_interrupt_handler`]).
pub fn interrupted() -> bool {
    INTERRUPTS.load(Ordering::SeqCst) > 0
}

/// Why following a group ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// Every job is done.
    Complete,
    /// A fatal error stopped the group (state ERROR).
    Failed,
    /// The group was suspended (by another command).
    Suspended,
    /// The group was cancelled (by another command).
    Cancelled,
    /// Ctrl-C (or SIGTERM) arrived; the group is left as it was.
    Interrupted,
    /// The time-out passed while the group was still running.
    TimedOut,
    /// A failing transfer hit the limits of [`GiveUp`]; the group is left as it was.
    GaveUp,
}

/// When a command stops waiting for a transfer that keeps failing (`get --retry-timeout`,
/// `--tries`): the queue itself goes on retrying by DECISIONS D5 until the group's
/// no-progress timeout, which is days by default; an interactive command gives up sooner.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GiveUp {
    /// Give up when a job is failing (a transient error) and no byte arrived for this long.
    pub no_progress: Option<Duration>,
    /// Give up when a job has failed this many attempts while followed (D11 counts each
    /// failed attempt, over the job's whole life; attempts before following do not count).
    pub tries: Option<u32>,
}

impl GiveUp {
    /// Why to give up on a group whose failing job has `failed` failed attempts and whose
    /// bytes have not moved for `stalled`; `None` while it may go on.
    pub fn reason(&self, failed: u32, stalled: Duration) -> Option<String> {
        if let Some(n) = self.tries.filter(|&n| failed >= n) {
            return Some(format!("{failed} failed attempt{} (--tries {n})", if failed == 1 { "" } else { "s" }));
        }
        self.no_progress
            .filter(|&t| stalled >= t)
            .map(|t| format!("no progress for {} (--retry-timeout)", duration_text(t)))
    }
}

/// A duration for people, in its two largest units: `500ms`, `42s`, `1m`, `3m 20s`, `1h 2m`,
/// `3d 4h` (the rest is dropped, not rounded). The one format of every duration the command
/// shows: ETAs, `--retry-timeout` in messages, how long a runner has run.
pub fn duration_text(d: Duration) -> String {
    let s = d.as_secs();
    let two = |big: u64, big_unit: &str, small: u64, small_unit: &str| {
        if small == 0 {
            format!("{big}{big_unit}")
        } else {
            format!("{big}{big_unit} {small}{small_unit}")
        }
    };
    match s {
        0 => format!("{}ms", d.as_millis()),
        1..60 => format!("{s}s"),
        60..3600 => two(s / 60, "m", s % 60, "s"),
        3600..86_400 => two(s / 3600, "h", s % 3600 / 60, "m"),
        _ => two(s / 86_400, "d", s % 86_400 / 3600, "h"),
    }
}

/// Parses a duration given on the command line: a number of seconds (`60`, `1.5`), or a
/// number with units (`500ms`, `90s`, `5m`, `1h 30m`; jiff's friendly format).
///
/// Errors: anything else, or a negative duration, with a message naming the text.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let parsed = match t.parse::<f64>() {
        Ok(secs) if secs >= 0.0 => Duration::try_from_secs_f64(secs).map_err(|_| ()),
        Ok(_) => Err(()),
        Err(_) => t.parse::<jiff::SignedDuration>().map_err(|_| ()).and_then(|d| Duration::try_from(d).map_err(|_| ())),
    };
    parsed.map_err(|()| format!("{text:?} is not a duration: give seconds (60) or units (500ms, 90s, 5m, 1h)"))
}

/// How [`follow`] watches a group.
#[derive(Clone, Copy, Debug, Default)]
pub struct Watch {
    /// Stop following after this long (`wait --timeout`).
    pub timeout: Option<Duration>,
    /// Stop following a transfer that keeps failing.
    pub give_up: GiveUp,
    /// Show no progress (`get --quiet`); errors are still reported.
    pub quiet: bool,
}

/// The result of [`follow`].
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Why it ended.
    pub ended: Ended,
    /// With [`Ended::GaveUp`]: which limit was hit.
    pub gave_up: Option<String>,
    /// Bytes done at the end.
    pub done: u64,
    /// Bytes transferred while following (done at the end minus done at the start).
    pub transferred: u64,
    /// Time spent following.
    pub elapsed: Duration,
}

/// True for the error every method of a cancelled group answers.
fn is_cancelled(e: &Error) -> bool {
    e.hr == QM_E_INVALID_STATE
}

/// The group at this moment; `None` when it was cancelled.
fn look(group: &Group) -> Result<Option<GroupSnapshot>, Error> {
    match group.snapshot() {
        Ok(g) => Ok(Some(g)),
        Err(e) if is_cancelled(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Follows `group` until it stops (complete, error, suspended, cancelled), an interrupt
/// arrives, `watch.timeout` passes or a failing transfer hits `watch.give_up`, showing its
/// progress on stderr (unless `watch.quiet`): an indicatif bar on a terminal, else a plain
/// line at most once a second or per 10 %. Transient errors being retried are shown as
/// `retrying: <message> (failed attempts: N)`.
///
/// Errors: an API error other than the group being cancelled.
pub fn follow(group: &Group, watch: Watch) -> Result<Outcome, Error> {
    let started = Instant::now();
    let deadline = watch.timeout.map(|t| started + t);
    let mut display: Box<dyn Display> = if watch.quiet {
        Box::new(Quiet)
    } else if std::io::stderr().is_terminal() {
        Box::new(Bar::new())
    } else {
        Box::new(Plain::default())
    };
    if !group.manager().is_transferring_process() {
        eprintln!(
            "note: another qmgr process runs this queue's transfers (`qmgr serve`?); \
             following its progress"
        );
    }
    let mut retry = RetryNote::default();
    // Failed attempts of each job when following began: a job's count covers its whole life
    // (D11: never reset), --tries counts those made while followed.
    let (start_done, failed_before): (u64, HashMap<Guid, u32>) = match look(group)? {
        Some(g) => (g.bytes_done, g.jobs.iter().map(|j| (j.id, j.retries)).collect()),
        None => {
            return Ok(Outcome {
                ended: Ended::Cancelled,
                gave_up: None,
                done: 0,
                transferred: 0,
                elapsed: Duration::ZERO,
            })
        }
    };
    let mut done = start_done;
    let mut moved = Instant::now();
    let mut gave_up = None;
    let ended = loop {
        if interrupted() {
            break Ended::Interrupted;
        }
        let stopped = match group.wait(Some(POLL)) {
            Ok((stopped, _word)) => stopped,
            Err(e) if is_cancelled(&e) => break Ended::Cancelled,
            Err(e) => {
                display.finish(false);
                return Err(e);
            }
        };
        let Some(g) = look(group)? else { break Ended::Cancelled };
        if g.bytes_done != done {
            moved = Instant::now();
        }
        done = g.bytes_done;
        let note = retry.note(&g).or_else(|| current_file(&g));
        display.update(done, g.bytes_total, note.as_deref());
        if stopped {
            match g.state {
                GroupState::Complete => break Ended::Complete,
                GroupState::Error => break Ended::Failed,
                GroupState::Suspended => break Ended::Suspended,
                GroupState::Cancelled => break Ended::Cancelled,
                GroupState::Running => {}
            }
        }
        if let Some(job) = transient_job(&g) {
            let failed = job.retries.saturating_sub(failed_before.get(&job.id).copied().unwrap_or(0));
            gave_up = watch.give_up.reason(failed, moved.elapsed());
            if gave_up.is_some() {
                break Ended::GaveUp;
            }
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break Ended::TimedOut;
        }
    };
    display.finish(ended == Ended::Complete);
    Ok(Outcome { ended, gave_up, done, transferred: done.saturating_sub(start_done), elapsed: started.elapsed() })
}

/// Remembers the retry being shown, so that the note disappears once bytes move again
/// (the job keeps its last transient error until the file completes).
#[derive(Default)]
struct RetryNote {
    /// (retries when first seen, bytes done then).
    seen: Option<(u32, u64)>,
}

impl RetryNote {
    fn note(&mut self, group: &GroupSnapshot) -> Option<String> {
        let done = group.bytes_done;
        let Some((retries, message)) = transient_error(group) else {
            self.seen = None;
            return None;
        };
        match self.seen {
            Some((r, at)) if r == retries => {
                if done > at {
                    return None;
                }
            }
            _ => self.seen = Some((retries, done)),
        }
        Some(format!("retrying: {message} (failed attempts: {retries})"))
    }
}

/// The first job with a transient (retried) error.
fn transient_job(group: &GroupSnapshot) -> Option<&JobSnapshot> {
    group.jobs.iter().find(|j| j.error.as_ref().is_some_and(|e| e.class == ErrorClass::Transient))
}

/// The first job with a transient (retried) error: its count of failed attempts (D11) and
/// message.
pub fn transient_error(group: &GroupSnapshot) -> Option<(u32, &str)> {
    transient_job(group).and_then(|j| j.error.as_ref().map(|e| (j.retries, e.message.as_str())))
}

/// `file 2/3: b.iso`: which file of a group of several is being fetched (the first one not
/// complete, in job and file order; its name is the last component of its local path).
/// `None` for a single file or when every file is complete.
fn current_file(group: &GroupSnapshot) -> Option<String> {
    let files: Vec<_> = group.jobs.iter().flat_map(|j| &j.files).collect();
    if files.len() < 2 {
        return None;
    }
    let (k, f) = files.iter().enumerate().find(|(_, f)| !f.complete)?;
    let name = std::path::Path::new(&f.local_path).file_name().map(|n| n.to_string_lossy().into_owned());
    Some(format!("file {}/{}: {}", k + 1, files.len(), name.unwrap_or_else(|| f.local_path.clone())))
}

/// Where progress goes.
trait Display {
    /// New values: bytes done, total (`None` while unknown), and a note (a retry) to show.
    fn update(&mut self, done: u64, total: Option<u64>, note: Option<&str>);
    /// Following ended (`complete` when the group did): leave the last state visible; an
    /// unfinished one shows the bytes held, without rate or ETA.
    fn finish(&mut self, complete: bool);
}

/// No display at all (`--quiet`).
struct Quiet;

impl Display for Quiet {
    fn update(&mut self, _: u64, _: Option<u64>, _: Option<&str>) {}
    fn finish(&mut self, _: bool) {}
}

/// An indicatif progress bar on stderr (a spinner while the total is unknown).
struct Bar {
    bar: ProgressBar,
    /// The current style: (total known, a note shown).
    style: Option<(bool, bool)>,
    /// Bytes held when this run began (set at the first update): the rate and ETA count only
    /// what moves after it.
    held: Arc<AtomicU64>,
    first: bool,
}

/// Style with a known total: bar, bytes, rate, ETA (`{run_rate}`, `{run_eta}`: this run's).
const BAR_TEMPLATE: &str =
    "{spinner:.green} [{elapsed_precise}] [{wide_bar:.cyan/blue}] {bytes}/{total_bytes} ({run_rate}, ETA {run_eta})";
/// Style while the total is unknown: spinner, bytes, rate.
const SPINNER_TEMPLATE: &str = "{spinner:.green} [{elapsed_precise}] {bytes} ({run_rate})";
/// A note (`file 2/3: name`, a retry) goes on a line of its own under either, cut to the
/// terminal's width: on one line with the bar it made the line wrap on 80 columns.
const NOTE_LINE: &str = "\n  {wide_msg}";
/// The last state of a completed transfer: no spinner, rate or ETA (the summary follows).
const DONE_TEMPLATE: &str = "  [{elapsed_precise}] [{wide_bar:.cyan/blue}] {bytes}/{total_bytes}";
/// The frozen bar of a transfer that stopped before completing: bytes held, no rate or ETA.
const HELD_TEMPLATE: &str = "  [{elapsed_precise}] [{wide_bar:.cyan/blue}] {bytes}/{total_bytes} held";
/// The same while the total is unknown.
const HELD_SPINNER_TEMPLATE: &str = "  [{elapsed_precise}] {bytes} held";

impl Bar {
    fn new() -> Bar {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        let held = Arc::new(AtomicU64::new(0));
        bar.set_style(style(SPINNER_TEMPLATE, false, &held));
        bar.enable_steady_tick(Duration::from_millis(100));
        Bar { bar, style: None, held, first: true }
    }
}

/// `template`, with the note's line under it when `note`, and the keys `{run_rate}` and
/// `{run_eta}`: the average rate of the bytes moved since the bar's elapsed time began (past
/// `held`, the bytes held then), and the time the rest takes at that rate. indicatif's own
/// `{bytes_per_sec}` counted the bytes a resumed transfer already held as moved at once.
fn style(template: &str, note: bool, held: &Arc<AtomicU64>) -> ProgressStyle {
    let template = if note { format!("{template}{NOTE_LINE}") } else { template.to_string() };
    let rate = |s: &ProgressState, held: u64| {
        let secs = s.elapsed().as_secs_f64();
        (secs > 0.0).then(|| s.pos().saturating_sub(held) as f64 / secs)
    };
    let (h1, h2) = (held.clone(), held.clone());
    ProgressStyle::with_template(&template)
        .expect("constant template (checked by a unit test)")
        .progress_chars("=> ")
        .with_key("run_rate", move |s: &ProgressState, w: &mut dyn std::fmt::Write| {
            let r = rate(s, h1.load(Ordering::Relaxed)).unwrap_or(0.0);
            let _ = write!(w, "{}/s", HumanBytes(r as u64));
        })
        .with_key("run_eta", move |s: &ProgressState, w: &mut dyn std::fmt::Write| {
            let left = s.len().map(|len| len.saturating_sub(s.pos()));
            let eta = match (left, rate(s, h2.load(Ordering::Relaxed))) {
                (Some(0), _) => Some(Duration::ZERO),
                (Some(left), Some(r)) if r >= 1.0 => Duration::try_from_secs_f64(left as f64 / r).ok(),
                _ => None,
            };
            let _ = w.write_str(&eta.map_or_else(|| "-".to_string(), duration_text));
        })
}

impl Display for Bar {
    fn update(&mut self, done: u64, total: Option<u64>, note: Option<&str>) {
        let known = total.is_some();
        let key = (known, note.is_some_and(|n| !n.is_empty()));
        if self.style != Some(key) {
            self.bar.set_style(style(if known { BAR_TEMPLATE } else { SPINNER_TEMPLATE }, key.1, &self.held));
            if !known {
                self.bar.unset_length();
            }
            self.style = Some(key);
        }
        if let Some(t) = total {
            self.bar.set_length(t);
        }
        self.bar.set_position(done);
        if self.first {
            // Bytes already held before this run are not part of the rate.
            self.held.store(done, Ordering::Relaxed);
            self.bar.reset_elapsed();
            self.first = false;
        }
        self.bar.set_message(note.unwrap_or("").to_string());
    }

    fn finish(&mut self, complete: bool) {
        let (known, note) = self.style.unwrap_or((false, false));
        let last = match (complete, known) {
            (true, true) => Some(DONE_TEMPLATE),
            // A spinner's last state (bytes, rate) stands as it is.
            (true, false) => None,
            (false, true) => Some(HELD_TEMPLATE),
            (false, false) => Some(HELD_SPINNER_TEMPLATE),
        };
        if let Some(template) = last {
            // A completed transfer's note (the file it was on) is over; a stopped one's stays.
            self.bar.set_style(style(template, note && !complete, &self.held));
        }
        // Leave the last state on screen, and what follows on the next line.
        self.bar.abandon();
        eprintln!();
    }
}

/// Plain lines on stderr, for logs and pipes: at most one a second, plus one per 10 %
/// step, plus each new retry note, plus the final state.
#[derive(Default)]
struct Plain {
    last_line: Option<Instant>,
    last_step: Option<u64>,
    printed: Option<(u64, Option<u64>)>,
    current: Option<(u64, Option<u64>)>,
    last_note: Option<String>,
}

/// `progress: 123456/1000000 bytes (12%)`, or `progress: 123456 bytes (total unknown)`.
fn progress_line(done: u64, total: Option<u64>) -> String {
    match total {
        Some(t) => format!("progress: {done}/{t} bytes ({}%)", percent(done, t)),
        None => format!("progress: {done} bytes (total unknown)"),
    }
}

/// Whole percent of `done` out of `total` (100 for an empty total).
fn percent(done: u64, total: u64) -> u64 {
    if total == 0 {
        100
    } else {
        (done.min(total) as u128 * 100 / total as u128) as u64
    }
}

impl Plain {
    fn print(&mut self, done: u64, total: Option<u64>) {
        eprintln!("{}", progress_line(done, total));
        self.printed = Some((done, total));
        self.last_line = Some(Instant::now());
        self.last_step = total.map(|t| percent(done, t) / 10);
    }
}

impl Display for Plain {
    fn update(&mut self, done: u64, total: Option<u64>, note: Option<&str>) {
        if note.is_some() && note != self.last_note.as_deref() {
            eprintln!("{}", note.unwrap_or_default());
        }
        self.last_note = note.map(str::to_string);
        self.current = Some((done, total));
        if self.printed == Some((done, total)) {
            return;
        }
        let second = self.last_line.is_none_or(|t| t.elapsed() >= Duration::from_secs(1));
        let step = total.map(|t| percent(done, t) / 10);
        if second || step != self.last_step {
            self.print(done, total);
        }
    }

    fn finish(&mut self, _: bool) {
        if let Some((done, total)) = self.current {
            if self.printed != Some((done, total)) {
                self.print(done, total);
            }
        }
    }
}

/// A job's `win32_result` as an HRESULT (`qmgr_rs::hresult::win32_as_hresult`), unsigned.
pub fn win32_as_hresult(win32: u32) -> u32 {
    qmgr_rs::hresult::win32_as_hresult(win32) as u32
}

/// `0x80190194 (2149122452)` for an HRESULT-shaped value, `12029 (HRESULT 0x80072EFD)` for a
/// plain Win32 code.
pub fn win32_text(win32: u32) -> String {
    if win32 & 0x8000_0000 != 0 {
        format!("0x{win32:08X} ({win32})")
    } else {
        format!("{win32} (0x{win32:08X}, HRESULT 0x{:08X})", win32_as_hresult(win32))
    }
}

/// The first job whose status has the error bit (its fatal error stopped the group).
fn failing_job(group: &GroupSnapshot) -> Option<&JobSnapshot> {
    group.jobs.iter().find(|j| j.status & status::JOB_ERROR != 0)
}

/// Prints (stderr) why `group` stopped in ERROR: the failing job's error, Win32 and HTTP
/// results, retries, the URL and local path of its first incomplete file, and how to retry
/// or cancel the group.
pub fn report_failure(queue: &Queue, group: &Group) {
    let id = group.id();
    let group_line = || eprintln!("  group:         {id} (kept in the queue, in ERROR)");
    let snapshot = group.snapshot().ok();
    match snapshot.as_ref().and_then(failing_job) {
        Some(job) => {
            let (win32, transport) = job.error.as_ref().map_or((0, 0), |e| (e.win32, e.transport));
            let message = job.error.as_ref().map_or("the transfer failed", |e| e.message.as_str());
            eprintln!("error: transfer failed: {message} ({})", hresult_text(win32_as_hresult(win32)));
            group_line();
            if let Some(f) = job.files.iter().find(|f| !f.complete) {
                eprintln!("  url:           {}", redact_url(&f.url));
                eprintln!("  local file:    {}", f.local_path);
            }
            eprintln!("  job:           {}", job.id);
            eprintln!("  win32 result:  {}", win32_text(win32));
            eprintln!("  http status:   {transport}");
            eprintln!("  failed attempts: {}", job.retries);
        }
        None => {
            eprintln!("error: transfer failed: group {id} stopped in ERROR");
            group_line();
        }
    }
    let prefix = queue.command_prefix();
    eprintln!("retry with:  {prefix} resume {id} --wait");
    eprintln!("cancel with: {prefix} cancel {id}");
}

/// Prints (stdout) the summary of a completed download: files, bytes (and the bytes of this
/// run, when some were held before it), time and the rate of this run, then one line per local
/// file.
pub fn print_summary(outcome: &Outcome, files: &[String]) {
    let secs = outcome.elapsed.as_secs_f64();
    let rate = if secs > 0.0 { (outcome.transferred as f64 / secs) as u64 } else { 0 };
    let this_run = if outcome.transferred == outcome.done {
        String::new()
    } else {
        format!(" ({} this run)", HumanBytes(outcome.transferred))
    };
    println!(
        "done: {} file{}, {} bytes ({}){this_run} in {:.2} s ({}/s)",
        files.len(),
        if files.len() == 1 { "" } else { "s" },
        outcome.done,
        HumanBytes(outcome.done),
        secs,
        HumanBytes(rate)
    );
    for f in files {
        println!("  {f}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse() {
        for t in [BAR_TEMPLATE, SPINNER_TEMPLATE, DONE_TEMPLATE, HELD_TEMPLATE, HELD_SPINNER_TEMPLATE] {
            let held = Arc::new(AtomicU64::new(0));
            let _ = (style(t, false, &held), style(t, true, &held));
        }
    }

    #[test]
    fn progress_lines() {
        assert_eq!(progress_line(123456, Some(1000000)), "progress: 123456/1000000 bytes (12%)");
        assert_eq!(progress_line(5, None), "progress: 5 bytes (total unknown)");
        assert_eq!(percent(0, 0), 100);
        assert_eq!(percent(u64::MAX, u64::MAX), 100);
    }

    #[test]
    fn durations_are_read_and_written_as_people_do() {
        assert_eq!(parse_duration("60"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        for bad in ["", "-5", "-5s", "soon", "5 parsecs", "NaN", "inf", "1e30"] {
            assert!(parse_duration(bad).unwrap_err().contains("is not a duration"), "{bad}");
        }
        let shown = [
            (Duration::from_millis(500), "500ms"),
            (Duration::from_secs(42), "42s"),
            (Duration::from_secs(60), "1m"),
            (Duration::from_secs(90), "1m 30s"),
            (Duration::from_secs(3725), "1h 2m"),
            (Duration::from_secs(3 * 86_400 + 4 * 3600 + 59), "3d 4h"),
            (Duration::MAX, "213503982334601d 7h"),
        ];
        for (d, text) in shown {
            assert_eq!(duration_text(d), text);
        }
    }

    #[test]
    fn giving_up_counts_failed_attempts_and_time_without_progress() {
        let none = GiveUp::default();
        assert_eq!(none.reason(1000, Duration::from_secs(86_400)), None);
        let tries = GiveUp { no_progress: None, tries: Some(3) };
        assert_eq!(tries.reason(2, Duration::from_secs(3600)), None);
        assert_eq!(tries.reason(3, Duration::ZERO).as_deref(), Some("3 failed attempts (--tries 3)"));
        let time = GiveUp { no_progress: Some(Duration::from_secs(60)), tries: None };
        assert_eq!(time.reason(50, Duration::from_secs(59)), None);
        assert_eq!(time.reason(1, Duration::from_secs(60)).as_deref(), Some("no progress for 1m (--retry-timeout)"));
    }

    #[test]
    fn win32_results_are_shown_as_hresults() {
        assert_eq!(win32_text(0x8019_0194), "0x80190194 (2149122452)");
        assert_eq!(win32_text(12029), "12029 (0x00002EFD, HRESULT 0x80072EFD)");
        assert_eq!(win32_as_hresult(5), 0x8007_0005);
    }
}
