//! Scenario 5: what qmgr's safety and services cost — progress checkpoints (normal build vs
//! the `bench-no-checkpoints` build), progress callbacks (OnProgress every 64 KiB vs no
//! callback), the accuracy of the background rate limit, the CPU and wake-ups of an idle
//! manager, and a checksum (`qmgr get --checksum sha-256:…` vs without; SHA-256 alone).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{kill_process, Pid, Signal};

use crate::data::check_dir;
use crate::report::{num, target, Row};
use crate::runner::{
    alternate, cmd, median_cpu, os, remove_all, run_command, stdout_value, tail, wait_deadline, Contender, Ctx, Plan,
    Run, RunDir,
};
use crate::throughput::{mb_per_s, size_label, throughput_rows};

/// Which parts of scenario 5 to run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Parts {
    pub checkpoints: bool,
    pub callbacks: bool,
    pub rate: bool,
    pub idle: bool,
    pub checksum: bool,
}

/// Runs the selected parts; the first failure ends the scenario.
pub fn run(ctx: &Ctx, parts: Parts) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    if parts.checkpoints {
        rows.extend(checkpoints(ctx)?);
    }
    if parts.callbacks {
        rows.extend(callbacks(ctx)?);
    }
    if parts.rate {
        rows.extend(rate(ctx)?);
    }
    if parts.idle {
        rows.extend(idle(ctx)?);
    }
    if parts.checksum {
        rows.extend(checksum(ctx)?);
    }
    Ok(rows)
}

/// `qmgr --queue Q get URL --output FILE` with the given binary.
pub fn qmgr_get(qmgr: &Path, rd: &RunDir, url: &str, file: &Path) -> Command {
    cmd(qmgr, [os("--queue"), os(&rd.queue), os("get"), os(url), os("--output"), os(file)])
}

/// `qmgr --queue Q option background_mode normal`: background groups compete like any TCP
/// flow, as before DECISIONS D14. For the scenarios that measure something else than the
/// idle-bandwidth controller (3, 5b, 5c) with the C programs' background groups or
/// `qmgr get --background`: in `idle` mode each transfer waits for the controller, which starts
/// at 256 KiB/s and grows ×1.5 per 100 ms (scenario 6 measures that).
pub fn normal_background(qmgr: &Path, rd: &RunDir) -> Command {
    cmd(qmgr, [os("--queue"), os(&rd.queue), os("option"), os("background_mode"), os("normal")])
}

/// 5a: `qmgr get` of the large file, normal build vs `bench-no-checkpoints` build.
fn checkpoints(ctx: &Ctx) -> Result<Vec<Row>, String> {
    let file = ctx.data.big.as_ref().ok_or("the large file was not generated")?;
    let nockpt =
        ctx.bins.qmgr_nockpt.as_ref().ok_or(
            "the bench-no-checkpoints build of qmgr is missing (bench/run builds it into target/bench-nockpt)",
        )?;
    let scenario = format!("5a. checkpoint cost ({}, qmgr get)", size_label(file.size));
    let url = ctx.url(&file.path);
    let check = |rd: &RunDir, hash: bool| check_dir(&rd.out, &[file], hash);
    let contenders = vec![
        Contender::new(
            "qmgr get (checkpoint per MiB, ≥ 20 ms apart, or 250 ms)",
            |rd| Ok(Plan::timed(vec![qmgr_get(&ctx.bins.qmgr, rd, &url, &rd.out.join(file.leaf()))])),
            check,
        ),
        Contender::new(
            "qmgr get, bench-no-checkpoints build",
            |rd| Ok(Plan::timed(vec![qmgr_get(nockpt, rd, &url, &rd.out.join(file.leaf()))])),
            check,
        ),
    ];
    with_and_without(
        ctx,
        &scenario,
        file.size,
        &contenders,
        ("with / without ≥ 0.97 (< 3 % loss)", 0.97),
        "checkpoints",
    )
}

/// Runs two downloads of `bytes` each, the first with a feature and the second without it:
/// their throughput rows (the first compared with the second against `target_text`, met when
/// the ratio is at least `min_ratio`) and CPU rows (what `feature` costs).
fn with_and_without(
    ctx: &Ctx,
    scenario: &str,
    bytes: u64,
    contenders: &[Contender<'_>],
    (target_text, min_ratio): (&str, f64),
    feature: &str,
) -> Result<Vec<Row>, String> {
    let show = |r: &Run| {
        format!("{:.2} s, {:.0} MB/s, CPU {:.2} s", r.wall.as_secs_f64(), mb_per_s(bytes, r), r.cpu.as_secs_f64())
    };
    let runs = alternate(ctx, scenario, contenders, &show)?;
    let mut rows = throughput_rows(scenario, contenders, &runs, bytes);
    let ratio = rows[0].median / rows[1].median;
    let loss = (1.0 - ratio) * 100.0;
    rows[0] =
        rows[0].clone().compared(ratio, format!("{}; loss {loss:+.1} %", target(target_text, ratio >= min_ratio)));
    rows[1].note = "reference".into();
    rows.extend(cpu_rows(scenario, [&contenders[0].tool, &contenders[1].tool], [&runs[0], &runs[1]], feature));
    Ok(rows)
}
/// 5e: `qmgr get` of the large file with its SHA-256 as `--checksum` (hashed while written,
/// checked before the commit; DECISIONS D15) vs without; and SHA-256 alone (the `sha2` crate
/// on 256 MiB in memory, as qmgr-net uses it), the hash's own throughput on this machine.
fn checksum(ctx: &Ctx) -> Result<Vec<Row>, String> {
    let file = ctx.data.big.as_ref().ok_or("the large file was not generated")?;
    let scenario = format!("5e. checksum cost ({}, qmgr get)", size_label(file.size));
    let url = ctx.url(&file.path);
    let spec = format!("sha-256:{}", file.sha256.iter().map(|b| format!("{b:02x}")).collect::<String>());
    let check = |rd: &RunDir, hash: bool| check_dir(&rd.out, &[file], hash);
    let contenders = vec![
        Contender::new(
            "qmgr get --checksum sha-256:…",
            |rd| {
                let mut c = qmgr_get(&ctx.bins.qmgr, rd, &url, &rd.out.join(file.leaf()));
                c.args([os("--checksum"), os(&spec)]);
                Ok(Plan::timed(vec![c]))
            },
            check,
        ),
        Contender::new(
            "qmgr get",
            |rd| Ok(Plan::timed(vec![qmgr_get(&ctx.bins.qmgr, rd, &url, &rd.out.join(file.leaf()))])),
            check,
        ),
    ];
    let mut rows = with_and_without(
        ctx,
        &scenario,
        file.size,
        &contenders,
        ("with / without ≥ 0.95 (≤ 5 % slower)", 0.95),
        "the checksum",
    )?;
    rows.push(
        Row::new(
            &scenario,
            "SHA-256 alone (sha2, 256 MiB in memory)",
            "throughput per CPU second",
            "MB/s",
            sha256_alone(ctx.rounds),
        )
        .noted("the hash on one core, bytes from memory (SHA-NI detected at run time); qmgr-net hashes each write's bytes right after it, on the writing thread, while they are in the cache"),
    );
    Ok(rows)
}

/// MB/s of `sha2`'s SHA-256 over 256 MiB in memory, once per round, per second of this
/// thread's CPU time (so that other load on the machine does not count).
fn sha256_alone(rounds: usize) -> Vec<f64> {
    use rustix::time::{clock_gettime, ClockId};
    use sha2::{Digest, Sha256};
    let cpu = || {
        let t = clock_gettime(ClockId::ThreadCPUTime);
        t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
    };
    let data: Vec<u8> = (0..256u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    (0..rounds)
        .map(|_| {
            let start = cpu();
            std::hint::black_box(Sha256::digest(std::hint::black_box(&data)));
            data.len() as f64 / 1e6 / (cpu() - start)
        })
        .collect()
}

/// CPU time rows of a comparison with the feature (first) and without it (second): the ratio
/// is without / with, the note says what CPU the feature costs.
fn cpu_rows(scenario: &str, tools: [&str; 2], runs: [&[Run]; 2], feature: &str) -> Vec<Row> {
    let row = |i: usize| {
        let samples = runs[i].iter().map(|r| r.cpu.as_secs_f64()).collect();
        Row::new(scenario, tools[i], "CPU time (user + system)", "s", samples)
    };
    let (with, without) = (median_cpu(runs[0]), median_cpu(runs[1]));
    let cost = format!("without / with; {feature} cost {:+.1} % CPU", (with / without - 1.0) * 100.0);
    vec![row(0).compared(without / with, cost), row(1).noted("reference")]
}

/// 5b: the large file through the C API, without callback vs OnProgress every 64 KiB.
fn callbacks(ctx: &Ctx) -> Result<Vec<Row>, String> {
    const STEP: u64 = 64 << 10;
    let file = ctx.data.big.as_ref().ok_or("the large file was not generated")?;
    let scenario = format!("5b. callback cost ({}, C API)", size_label(file.size));
    let url = ctx.url(&file.path);
    let check = |rd: &RunDir, hash: bool| check_dir(&rd.out, &[file], hash);
    let plan = |rd: &RunDir, step: u64| {
        Ok(Plan {
            prepare: vec![normal_background(&ctx.bins.qmgr, rd)],
            timed: vec![cmd(
                &ctx.bins.callback_cost,
                [os("--queue"), os(&rd.queue), os(&url), os(&rd.out.join(file.leaf())), os(&step.to_string())],
            )],
        })
    };
    let contenders = vec![
        Contender::new("C API, no callback", |rd| plan(rd, 0), check),
        Contender::new("C API, OnProgress every 64 KiB", |rd| plan(rd, STEP), check),
    ];
    let show = |r: &Run| {
        let calls = stdout_value(&r.stdout, "calls").unwrap_or(f64::NAN);
        format!(
            "{:.2} s, {:.0} MB/s, CPU {:.2} s, {calls} OnProgress calls",
            r.wall.as_secs_f64(),
            mb_per_s(file.size, r),
            r.cpu.as_secs_f64()
        )
    };
    let runs = alternate(ctx, &scenario, &contenders, &show)?;
    let mut rows = throughput_rows(&scenario, &contenders, &runs, file.size);
    let ratio = rows[1].median / rows[0].median;
    rows[1] = rows[1].clone().compared(ratio, format!("with / without; cost {:+.1} %", (1.0 - ratio) * 100.0));
    rows[0].note = "reference".into();
    rows.extend(cpu_rows(&scenario, [&contenders[1].tool, &contenders[0].tool], [&runs[1], &runs[0]], "callbacks"));
    let calls: Vec<f64> = runs[1].iter().map(|r| stdout_value(&r.stdout, "calls")).collect::<Result<_, _>>()?;
    let expected = (file.size / STEP) as f64;
    let row = Row::new(&scenario, "C API, OnProgress every 64 KiB", "OnProgress calls", "calls", calls);
    let ratio = row.median / expected;
    rows.push(row.compared(ratio, format!("received / {expected:.0} thresholds crossed")));
    Ok(rows)
}

/// 5c: `qmgr get --background` of a file with the queue's `background_rate_limit` set (and
/// `background_mode normal`: the limit alone holds the group back; a foreground `qmgr get` is
/// never held back by it, DECISIONS D14).
fn rate(ctx: &Ctx) -> Result<Vec<Row>, String> {
    let file = ctx.data.rate.as_ref().ok_or("the rate-limit file was not generated")?;
    let limit = ctx.sizes.rate_limit;
    let scenario = format!("5c. rate limiter ({} MB at {} MB/s)", file.size / 1_000_000, num(limit as f64 / 1e6));
    let url = ctx.url(&file.path);
    let limit_arg = limit.to_string();
    let q = &ctx.bins.qmgr;
    let contenders = vec![Contender::new(
        format!("qmgr get --background, background_rate_limit {limit}"),
        |rd| {
            let mut get = qmgr_get(q, rd, &url, &rd.out.join(file.leaf()));
            get.arg("--background");
            Ok(Plan {
                prepare: vec![
                    cmd(q, [os("--queue"), os(&rd.queue), os("option"), os("background_rate_limit"), os(&limit_arg)]),
                    normal_background(q, rd),
                ],
                timed: vec![get],
            })
        },
        |rd: &RunDir, hash: bool| check_dir(&rd.out, &[file], hash),
    )];
    let show = |r: &Run| format!("{:.2} s, {:.2} MB/s", r.wall.as_secs_f64(), mb_per_s(file.size, r));
    let runs = alternate(ctx, &scenario, &contenders, &show)?;
    let row = Row::new(
        &scenario,
        &contenders[0].tool,
        "achieved rate (process start → exit)",
        "MB/s",
        runs[0].iter().map(|r| mb_per_s(file.size, r)).collect(),
    );
    let ratio = row.median / (limit as f64 / 1e6);
    let note = format!("achieved / configured; error {:+.1} %", (ratio - 1.0) * 100.0);
    Ok(vec![row.compared(ratio, note)])
}

/// 5d: `qmgr serve` on an empty queue and on one with idle (suspended) groups: CPU and
/// context switches over a window after a warm-up.
fn idle(ctx: &Ctx) -> Result<Vec<Row>, String> {
    let s = &ctx.sizes;
    let base = ctx.work.join("idle");
    remove_all(&base)?;
    let dest = base.join("out");
    std::fs::create_dir_all(&dest).map_err(|e| format!("create {}: {e}", dest.display()))?;
    let empty = base.join("empty-queue");
    let full = base.join("queue");
    let log = base.join("idle.log");
    eprintln!("  [5d] creating {} idle groups", s.idle_groups);
    run_command(
        cmd(
            &ctx.bins.many_groups,
            [
                os("--queue"),
                os(&full),
                os("--groups"),
                os(&s.idle_groups.to_string()),
                os("--files"),
                os("1"),
                // Never fetched: the groups stay suspended.
                os("--url-prefix"),
                os("http://127.0.0.1:9/idle/"),
                os("--name-prefix"),
                os("i"),
                os("--dest"),
                os(&dest),
                os("--create-only"),
            ],
        ),
        &log,
        &log,
    )?;
    let rounds = ctx.rounds;
    let queues = [(0usize, &empty), (s.idle_groups, &full)];
    let mut cpu: Vec<Vec<f64>> = vec![Vec::new(); queues.len()];
    let mut wakeups: Vec<Vec<f64>> = vec![Vec::new(); queues.len()];
    let mut threads = vec![0usize; queues.len()];
    for round in 0..rounds {
        for (i, (groups, queue)) in queues.iter().enumerate() {
            ctx.check_interrupted()?;
            let o = observe(ctx, queue, &log)?;
            eprintln!(
                "  [5d] round {}/{rounds} qmgr serve, {groups} groups: CPU {:.3} %, {:.1} wake-ups/s, {} threads",
                round + 1,
                o.cpu_percent,
                o.wakeups_per_s,
                o.threads
            );
            cpu[i].push(o.cpu_percent);
            wakeups[i].push(o.wakeups_per_s);
            threads[i] = o.threads;
        }
    }
    let scenario = format!("5d. idle manager (qmgr serve, {} s window)", num(s.idle_window.as_secs_f64()));
    let mut rows = Vec::new();
    for (i, (groups, _)) in queues.iter().enumerate() {
        let tool = format!("qmgr serve, {groups} suspended groups");
        let row = Row::new(&scenario, &tool, "CPU (user + system)", "%", cpu[i].clone());
        let met = row.median < 0.5;
        rows.push(row.noted(target("≈ 0 % (< 0.5 %)", met)));
        rows.push(
            Row::new(&scenario, &tool, "wake-ups (context switches, all threads)", "/s", wakeups[i].clone())
                .noted(format!("{} threads", threads[i])),
        );
    }
    Ok(rows)
}

struct Observation {
    cpu_percent: f64,
    wakeups_per_s: f64,
    threads: usize,
}

/// Starts `qmgr serve` on `queue`, lets it settle, measures it over the window, stops it
/// (SIGTERM; it must exit 0).
fn observe(ctx: &Ctx, queue: &Path, log: &Path) -> Result<Observation, String> {
    let warm_up = Duration::from_secs(if ctx.sizes.idle_window < Duration::from_secs(5) { 1 } else { 2 });
    let out = std::fs::OpenOptions::new().create(true).append(true).open(log).map_err(|e| format!("{e}"))?;
    let err = out.try_clone().map_err(|e| format!("{e}"))?;
    let mut child = Command::new(&ctx.bins.qmgr)
        .arg("--queue")
        .arg(queue)
        .arg("serve")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("cannot start qmgr serve: {e}"))?;
    let pid = child.id();
    let result = (|| {
        std::thread::sleep(warm_up);
        let (t0, cpu0, cs0) = (Instant::now(), cpu_ticks(pid)?, context_switches(pid)?);
        std::thread::sleep(ctx.sizes.idle_window);
        let (t1, cpu1, cs1) = (Instant::now(), cpu_ticks(pid)?, context_switches(pid)?);
        let dt = (t1 - t0).as_secs_f64();
        let ticks = rustix::param::clock_ticks_per_second() as f64;
        Ok(Observation {
            cpu_percent: (cpu1 - cpu0) as f64 / ticks / dt * 100.0,
            wakeups_per_s: (cs1.0 - cs0.0) as f64 / dt,
            threads: cs1.1,
        })
    })();
    let _ = kill_process(Pid::from_child(&child), Signal::TERM);
    let status = wait_deadline(&mut child, Duration::from_secs(60))?;
    let observation: Observation = result.map_err(|e: String| format!("qmgr serve: {e}\n{}", tail(log, 15)))?;
    if !status.success() {
        return Err(format!("qmgr serve ended with {status} after SIGTERM:\n{}", tail(log, 15)));
    }
    Ok(observation)
}

/// utime + stime of a process (all threads), in clock ticks (/proc/PID/stat fields 14, 15).
fn cpu_ticks(pid: u32) -> Result<u64, String> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e} (did it exit?)"))?;
    // The command name (field 2) may hold spaces: count from the last ')'.
    let fields: Vec<&str> = text.rsplit_once(')').map(|(_, f)| f.split_whitespace().collect()).unwrap_or_default();
    let field = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).ok_or(format!("{path}: bad format"));
    Ok(field(11)? + field(12)?)
}

/// Voluntary + involuntary context switches summed over the threads of a process, and the
/// number of threads.
fn context_switches(pid: u32) -> Result<(u64, usize), String> {
    let dir = format!("/proc/{pid}/task");
    let mut total = 0;
    let mut threads = 0;
    for entry in std::fs::read_dir(&dir).map_err(|e| format!("{dir}: {e}"))? {
        let status = entry.map_err(|e| format!("{dir}: {e}"))?.path().join("status");
        let Ok(text) = std::fs::read_to_string(&status) else { continue }; // the thread ended
        threads += 1;
        for line in text.lines() {
            if let Some(v) = line
                .strip_prefix("voluntary_ctxt_switches:")
                .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
            {
                total += v.trim().parse::<u64>().unwrap_or(0);
            }
        }
    }
    Ok((total, threads))
}
