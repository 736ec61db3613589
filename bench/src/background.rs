//! Scenario 6: background groups use idle bandwidth (DECISIONS D14; issue #13), on the two
//! shaped rigs of `qmgr_tests::netrig` (root only): rig 1, a `tbf` on a namespace's loopback
//! (competition visible in the interface counters), and rig 2, a `tbf` in a router namespace
//! between nginx and two client hosts (competition visible only as queueing delay).
//!
//! Per rig and round: curl alone (A, the link's rate as a TCP flow gets it), a foreground
//! `qmgr get` alone, then for each `background_mode` (`idle`, then `normal` as the comparison;
//! the order flips every round) one session: a background `qmgr get` of a file that outlasts
//! the session; its rate alone over a window; curl beside it (its rate, the time until it runs
//! at 80 % of A); after curl's end, the time until the background group runs at 80 % of A
//! again; a foreground `qmgr get` beside it; then the background group is killed. Every
//! process runs with its own queue (`--queue DIR`) and `QMGR_AUTOSTART=0`.

use std::path::Path;
use std::time::{Duration, Instant};

use qmgr_tests::netrig::{Class, Host, LinkRig, QmgrCli, Rig, RouterRig, Transfer};

use crate::data::{check_dir, DataFile};
use crate::report::{num, target, Row};
use crate::runner::{remove_all, Ctx};

/// The bottleneck of both rigs, Mbit/s.
pub const RATE_MBIT: u32 = 50;
/// From the background group's first byte until its rate is measured alone…
const WARM_UP: Duration = Duration::from_secs(2);
/// …over this window.
const ALONE_WINDOW: Duration = Duration::from_secs(4);
/// Rates in the time-to-yield and time-to-recover are averages over this window, sampled
/// every 25 ms (the bytes in the files being written).
const RATE_WINDOW: Duration = Duration::from_millis(250);
/// "Runs at its rate" means at least this fraction of curl's rate alone.
const REACHED: f64 = 0.80;
/// Time to recover is given up (and counted as this) after…
const RECOVER_LIMIT: Duration = Duration::from_secs(10);
/// Deadlines: a transfer's first byte, a whole download.
const FIRST_BYTE: Duration = Duration::from_secs(30);
const DOWNLOAD: Duration = Duration::from_secs(120);

/// The samples of one rig, one per round.
#[derive(Default)]
struct Samples {
    curl_alone: Vec<f64>,
    curl_alone_ramp: Vec<f64>,
    fg_alone: Vec<f64>,
    /// Index 0: `idle`, 1: `normal`.
    modes: [ModeSamples; 2],
}

#[derive(Default)]
struct ModeSamples {
    bg_alone: Vec<f64>,
    curl_beside: Vec<f64>,
    bg_during_curl: Vec<f64>,
    yield_s: Vec<f64>,
    yield_missed: usize,
    recover_s: Vec<f64>,
    recover_missed: usize,
    fg_beside: Vec<f64>,
}

const MODES: [&str; 2] = ["idle", "normal"];

/// Runs scenario 6 on both rigs.
pub fn run(ctx: &Ctx) -> Result<Vec<Row>, String> {
    if !rustix::process::geteuid().is_root() {
        return Err("needs root (network namespaces, tc): run bench/run as root, or leave out 6".into());
    }
    let big = ctx.data.bg_big.as_ref().ok_or("the background files were not generated")?;
    let small = ctx.data.bg_small.as_ref().ok_or("the background files were not generated")?;
    let cli = QmgrCli::new(&ctx.bins.qmgr);
    let mut link = LinkRig::build(RATE_MBIT)?;
    let mut router = RouterRig::build(RATE_MBIT)?;
    link.serve(&ctx.data.root)?;
    router.serve(&ctx.data.root)?;
    let rigs: [(&Rig, &str); 2] =
        [(&link, "local link: counters show competition"), (&router, "router: only delay shows competition")];
    let mut samples: [Samples; 2] = Default::default();
    let work = ctx.work.join("bg-run");
    for round in 0..ctx.rounds {
        for (i, (rig, _)) in rigs.iter().enumerate() {
            let s = &mut samples[i];
            let a = step(ctx, &work, || curl_alone(rig, small, &work, round == 0))?;
            s.curl_alone.push(a.0);
            s.curl_alone_ramp.push(a.1);
            let f0 = step(ctx, &work, || foreground(rig, &cli, small, &work, round == 0))?;
            s.fg_alone.push(f0);
            let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            for m in order {
                let mode = MODES[m];
                let r = step(ctx, &work, || session(ctx, rig, &cli, big, small, &work, mode, a.0))?;
                eprintln!(
                    "  [6. {}] round {}/{} {mode}: bg alone {} MB/s, curl beside {} MB/s (A {}), yield {}, \
                     recover {}, foreground beside {} MB/s (alone {})",
                    rig.kind(),
                    round + 1,
                    ctx.rounds,
                    num(r.bg_alone / 1e6),
                    num(r.curl_beside / 1e6),
                    num(a.0 / 1e6),
                    shown(r.yield_s),
                    shown(r.recover_s),
                    num(r.fg_beside / 1e6),
                    num(f0 / 1e6)
                );
                let ms = &mut s.modes[m];
                ms.bg_alone.push(r.bg_alone);
                ms.curl_beside.push(r.curl_beside);
                ms.bg_during_curl.push(r.bg_during_curl);
                ms.fg_beside.push(r.fg_beside);
                push_censored(&mut ms.yield_s, &mut ms.yield_missed, r.yield_s);
                push_censored(&mut ms.recover_s, &mut ms.recover_missed, r.recover_s);
            }
        }
    }
    let mut rows = Vec::new();
    for ((rig, what), s) in rigs.iter().zip(&samples) {
        rows.extend(table(rig, what, s));
    }
    Ok(rows)
}

/// A duration measurement that may not have happened: `Ok(s)` seconds, or `Err(s)` when the
/// event was not seen and `s` is the time observed without it (a lower bound).
type Censored = Result<f64, f64>;

fn shown(c: Censored) -> String {
    match c {
        Ok(s) => format!("{} s", num(s)),
        Err(s) => format!("not within {} s", num(s)),
    }
}

fn push_censored(v: &mut Vec<f64>, missed: &mut usize, c: Censored) {
    match c {
        Ok(s) => v.push(s),
        Err(s) => {
            *missed += 1;
            v.push(s);
        }
    }
}

/// Runs one measurement in a fresh `work` directory, removed afterwards; stops on Ctrl-C.
fn step<T>(ctx: &Ctx, work: &Path, f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    ctx.check_interrupted()?;
    remove_all(work)?;
    let r = f();
    remove_all(work)?;
    rustix::fs::sync();
    r
}

fn url(rig: &Rig, file: &DataFile) -> String {
    rig.url(&format!("/{}", file.path))
}

/// curl alone from the competitor's host: (bytes/s, seconds until it ran at 80 % of that).
fn curl_alone(rig: &Rig, file: &DataFile, work: &Path, hash: bool) -> Result<(f64, f64), String> {
    let done = rig.curl(Host::Competitor, &url(rig, file), &work.join("curl"))?.wait(DOWNLOAD)?;
    check_dir(&work.join("curl/out"), &[file], hash)?;
    let rate = done.rate();
    let ramp = done.trace.reaches(done.started, RATE_WINDOW, REACHED * rate).unwrap_or(done.elapsed());
    Ok((rate, ramp.as_secs_f64()))
}

/// A foreground `qmgr get` of `file` on qmgr's host: bytes/s, process start to exit.
fn foreground(rig: &Rig, cli: &QmgrCli, file: &DataFile, work: &Path, hash: bool) -> Result<f64, String> {
    let base = work.join("fg");
    let done = cli.start_get(rig, Host::Qmgr, &url(rig, file), &base, Class::Foreground, None)?.wait(DOWNLOAD)?;
    check_dir(&base.join("out"), &[file], hash)?;
    Ok(file.size as f64 / done.elapsed().as_secs_f64())
}

/// What one background session measured.
struct Session {
    bg_alone: f64,
    curl_beside: f64,
    bg_during_curl: f64,
    yield_s: Censored,
    recover_s: Censored,
    fg_beside: f64,
}

/// One background group in `mode` and what happens around it (see the module documentation).
#[allow(clippy::too_many_arguments)]
fn session(
    ctx: &Ctx,
    rig: &Rig,
    cli: &QmgrCli,
    big: &DataFile,
    small: &DataFile,
    work: &Path,
    mode: &str,
    a: f64,
) -> Result<Session, String> {
    let mut bg: Transfer =
        cli.start_get(rig, Host::Qmgr, &url(rig, big), &work.join("bg"), Class::Background, Some(mode))?;
    let started = Instant::now();
    while bg.bytes() == 0 {
        if !bg.running() || started.elapsed() > FIRST_BYTE {
            return Err(format!("the background qmgr get did not start: {}", bg.stderr()));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let first_byte = Instant::now();
    std::thread::sleep(WARM_UP + ALONE_WINDOW);
    let from = first_byte + WARM_UP;
    let bg_alone = bg.trace().rate(from, from + ALONE_WINDOW);
    ctx.check_interrupted()?;

    let curl = rig.curl(Host::Competitor, &url(rig, small), &work.join("curl"))?.wait(DOWNLOAD)?;
    check_dir(&work.join("curl/out"), &[small], false)?;
    let yield_s = match curl.trace.reaches(curl.started, RATE_WINDOW, REACHED * a) {
        Some(t) => Ok(t.as_secs_f64()),
        None => Err(curl.elapsed().as_secs_f64()),
    };
    let recover_s = loop {
        if let Some(t) = bg.trace().reaches(curl.ended, RATE_WINDOW, REACHED * a) {
            break Ok(t.as_secs_f64());
        }
        if curl.ended.elapsed() > RECOVER_LIMIT {
            break Err(RECOVER_LIMIT.as_secs_f64());
        }
        if !bg.running() {
            return Err(format!("the background qmgr get ended early ({mode}): {}", bg.stderr()));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let bg_during_curl = bg.trace().rate(curl.started, curl.ended);
    ctx.check_interrupted()?;

    let fg_base = work.join("fg");
    let fg = cli.start_get(rig, Host::Qmgr, &url(rig, small), &fg_base, Class::Foreground, None)?.wait(DOWNLOAD)?;
    check_dir(&fg_base.join("out"), &[small], false)?;
    let fg_beside = small.size as f64 / fg.elapsed().as_secs_f64();
    if !bg.running() {
        return Err(format!("the background qmgr get ended before the session did ({mode}): use a larger file"));
    }
    bg.stop();
    Ok(Session { bg_alone, curl_beside: curl.rate(), bg_during_curl, yield_s, recover_s, fg_beside })
}

/// The rows of one rig.
fn table(rig: &Rig, what: &str, s: &Samples) -> Vec<Row> {
    let scenario = format!("6. background, {} Mbit/s {what}", rig.rate_mbit());
    let mbs = |v: &[f64]| v.iter().map(|x| x / 1e6).collect::<Vec<f64>>();
    let curl = Row::new(&scenario, "curl alone", "throughput (A)", "MB/s", mbs(&s.curl_alone))
        .noted("reference: the link as one TCP flow gets it");
    let a = curl.median * 1e6;
    let ramp = Row::new(&scenario, "curl alone", "time to 80 % of A", "s", s.curl_alone_ramp.clone())
        .noted("reference for the time to yield (start-up and slow start)");
    let fg0 = Row::new(&scenario, "foreground qmgr get alone", "throughput", "MB/s", mbs(&s.fg_alone))
        .noted("reference for the foreground group beside a background one");
    let f0 = fg0.median * 1e6;
    let mut rows = vec![curl, ramp, fg0];
    for (m, mode) in MODES.iter().enumerate() {
        let ms = &s.modes[m];
        let idle = *mode == "idle";
        let tool = |who: &str| format!("{who}, background group `background_mode {mode}`");
        let goal =
            |text: &str, met: bool| if idle { target(text, met) } else { format!("comparison ({text} is for idle)") };
        let beside = Row::new(&scenario, &tool("curl beside"), "throughput", "MB/s", mbs(&ms.curl_beside));
        let r = beside.median * 1e6 / a;
        rows.push(beside.compared(r, goal("≥ 0.90 × curl alone", r >= 0.90)));
        let fg = Row::new(&scenario, &tool("foreground qmgr get beside"), "throughput", "MB/s", mbs(&ms.fg_beside));
        let r = fg.median * 1e6 / f0;
        rows.push(fg.compared(r, goal("≥ 0.90 × foreground alone", r >= 0.90)));
        let alone = Row::new(&scenario, &tool("background qmgr get alone"), "throughput", "MB/s", mbs(&ms.bg_alone));
        let r = alone.median * 1e6 / a;
        rows.push(alone.compared(r, goal("≥ 0.85 × curl alone (the link)", r >= 0.85)));
        let during = Row::new(&scenario, &tool("background qmgr get while curl runs"), "throughput", "MB/s", {
            mbs(&ms.bg_during_curl)
        });
        let r = during.median * 1e6 / a;
        rows.push(during.compared(r, "fraction of A it kept; no target"));
        let censored = |missed: usize, limit: &str| {
            if missed == 0 {
                String::new()
            } else {
                format!("; not reached in {missed} of {} rounds (counted as {limit})", ms.yield_s.len())
            }
        };
        let y = Row::new(&scenario, &tool("curl beside"), "time to yield (curl start → curl at 80 % of A)", "s", {
            ms.yield_s.clone()
        });
        let met = y.median < 1.0 && ms.yield_missed * 2 < ms.yield_s.len();
        let note = format!("{}{}", goal("< 1 s", met), censored(ms.yield_missed, "curl's whole time"));
        rows.push(y.noted(note));
        let rc = Row::new(
            &scenario,
            &tool("background qmgr get"),
            "time to recover (curl end → background at 80 % of A)",
            "s",
            ms.recover_s.clone(),
        );
        let met = rc.median < 3.0 && ms.recover_missed * 2 < ms.recover_s.len();
        let note = format!("{}{}", goal("< 3 s", met), censored(ms.recover_missed, "10 s"));
        rows.push(rc.noted(note));
    }
    rows
}
