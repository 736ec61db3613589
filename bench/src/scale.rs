//! Scenario 4, queue scale (issue #6): a queue of N groups of one job of one file each, never
//! downloaded, measured through the C API by `bench/c/scale.c`.
//!
//! Every round runs two fresh processes: `scale create` (N groups into a new queue, then the
//! database size once closed) and `scale reopen` (open time, first GetStatus, idle CPU and
//! context switches, resident memory against an empty queue, enumeration, held handles,
//! GetStatus latency on 1, 2, 4 and 8 threads). Each prints `metric=<name> value=<f64>
//! unit=<unit>` lines; the rows are their medians over the rounds, with the targets:
//! reopen < 1 s, GetStatus < 1 µs single-threaded and scaling, < 2 KiB RSS per idle group,
//! ~0 % CPU when idle.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::report::{median, Row};

/// What to run.
#[derive(Clone, Debug)]
pub struct Config {
    /// The workspace root (holds include/, bench/c/scale.c and, unless CARGO_TARGET_DIR says
    /// otherwise, target/release/libqmgr.so).
    pub root: PathBuf,
    /// Scratch directory: the compiled program, the queues, the logs (under `scale/`).
    pub work: PathBuf,
    /// Groups in the queue: 100,000 (2,000 with --quick).
    pub groups: usize,
    /// Rounds, each a fresh create and a fresh reopen process.
    pub rounds: usize,
}

/// GetStatus calls per thread and configuration (the issue asks for ≥ 1,000,000).
const CALLS_PER_THREAD: usize = 1_000_000;
/// Thread counts of the GetStatus measurement.
const THREADS: [usize; 4] = [1, 2, 4, 8];
/// Seconds the reopened manager idles while its CPU and context switches are counted.
const IDLE_SECONDS: u64 = 5;
/// The targets.
const REOPEN_TARGET_MS: f64 = 1000.0;
const STATUS_TARGET_NS: f64 = 1000.0;
const IDLE_GROUP_TARGET_B: f64 = 2048.0;
const IDLE_CPU_TARGET_PCT: f64 = 0.5;
/// "Scaling": aggregate calls/s with T threads ≥ this × min(T, CPUs) × the 1-thread rate.
const SCALING_EFFICIENCY: f64 = 0.75;

/// Compiles scale.c, runs `cfg.rounds` rounds and returns the rows of the table.
///
/// Errors: the program does not compile, a process fails or runs past its deadline, or its
/// output lacks a metric (the message quotes its stderr).
pub fn run(cfg: &Config) -> Result<Vec<Row>, String> {
    if cfg.groups == 0 || cfg.rounds == 0 {
        return Err("queue scale: groups and rounds must be at least 1".into());
    }
    let dir = cfg.work.join("scale");
    std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let exe = compile(cfg, &dir)?;
    let queue = dir.join("queue");
    let data = dir.join("data");
    let n = cfg.groups.to_string();
    let threads: Vec<String> = THREADS.iter().map(|t| t.to_string()).collect();
    let mut samples = Samples::default();
    for round in 1..=cfg.rounds {
        remove_all(&queue)?;
        remove_all(&data)?;
        std::fs::create_dir_all(&data).map_err(|e| format!("create {}: {e}", data.display()))?;
        eprintln!("qmgr-bench: queue scale, round {round}/{}: creating {} groups", cfg.rounds, cfg.groups);
        let mut create = Command::new(&exe);
        create.arg("create").arg(&queue).arg(&data).arg(&n);
        // Generous: 5 ms per group is 20 times what the C API takes today.
        let deadline = Duration::from_secs(120) + Duration::from_millis(5 * cfg.groups as u64);
        samples.add(&run_program(create, &dir, &format!("create-{round}"), deadline)?)?;
        eprintln!("qmgr-bench: queue scale, round {round}/{}: reopening", cfg.rounds);
        let mut reopen = Command::new(&exe);
        reopen
            .arg("reopen")
            .arg(&queue)
            .arg(&n)
            .arg(IDLE_SECONDS.to_string())
            .arg(CALLS_PER_THREAD.to_string())
            .arg(threads.join(","));
        samples.add(&run_program(reopen, &dir, &format!("reopen-{round}"), Duration::from_secs(900))?)?;
    }
    remove_all(&queue)?;
    remove_all(&data)?;
    rows(cfg.groups, &samples, cpus())
}

/// One metric's samples and unit, by metric name.
#[derive(Default)]
struct Samples(BTreeMap<String, (String, Vec<f64>)>);

impl Samples {
    /// Adds the `metric=… value=… unit=…` lines of one process's output.
    fn add(&mut self, stdout: &str) -> Result<(), String> {
        for line in stdout.lines().filter(|l| l.starts_with("metric=")) {
            let (name, value, unit) = parse_line(line).ok_or_else(|| format!("scale: unreadable line `{line}`"))?;
            let unit = if unit == "us" { "µs" } else { unit };
            let entry = self.0.entry(name.to_string()).or_insert_with(|| (unit.to_string(), Vec::new()));
            entry.1.push(value);
        }
        Ok(())
    }

    /// (unit, samples) of a metric.
    fn get(&self, name: &str) -> Result<(&str, &[f64]), String> {
        self.0
            .get(name)
            .map(|(u, v)| (u.as_str(), v.as_slice()))
            .ok_or_else(|| format!("scale: no `{name}` metric in the output of bench/c/scale.c"))
    }
}

/// Parses `metric=<name> value=<f64> unit=<unit>`.
fn parse_line(line: &str) -> Option<(&str, f64, &str)> {
    let mut parts = line.split_whitespace();
    let name = parts.next()?.strip_prefix("metric=")?;
    let value = parts.next()?.strip_prefix("value=")?.parse().ok()?;
    let unit = parts.next()?.strip_prefix("unit=")?;
    Some((name, value, unit))
}

/// "met" or "NOT met".
fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "NOT met"
    }
}

/// The note of a row held against an upper bound.
fn below(bound: f64, target: &str, caveat: &str) -> impl Fn(f64) -> String {
    let target = target.to_string();
    let caveat = caveat.to_string();
    move |m| format!("{target}: {}{caveat}", verdict(m < bound))
}

/// The note of a row without a target.
fn info(text: &str) -> impl Fn(f64) -> String {
    let text = text.to_string();
    move |_| text.clone()
}

/// The rows, in table order.
fn rows(groups: usize, s: &Samples, cpus: usize) -> Result<Vec<Row>, String> {
    let scenario = format!("Queue scale ({groups} groups)");
    let mut out = Vec::new();
    // One row: the metric's samples times `scale`, in `unit` (else the program's unit).
    let mut push = |metric: &str,
                    label: &str,
                    scale: f64,
                    unit: Option<&str>,
                    note: &dyn Fn(f64) -> String|
     -> Result<(), String> {
        let (u, v) = s.get(metric)?;
        let samples: Vec<f64> = v.iter().map(|x| x * scale).collect();
        let med = median(&samples);
        out.push(Row {
            scenario: scenario.clone(),
            tool: "qmgr (C API)".into(),
            metric: label.to_string(),
            unit: unit.unwrap_or(u).to_string(),
            samples,
            median: med,
            ratio: None,
            note: note(med),
        });
        Ok(())
    };
    // Per-group memory includes the manager's fixed cost spread over N: meaningful at 100,000.
    let caveat = if groups < 100_000 { " (indicative only: N < 100,000)" } else { "" };
    let none = info("no target");
    push("create_per_group", "create (CreateGroup + CreateJob + AddFiles)", 1.0, None, &none)?;
    push("create_total", "create, total", 1.0, None, &none)?;
    push("reopen_open", "reopen: qmgr_create_instance", 1.0, None, &below(REOPEN_TARGET_MS, "< 1 s", ""))?;
    push("reopen_first_status", "reopen: until the first GetStatus", 1.0, None, &below(REOPEN_TARGET_MS, "< 1 s", ""))?;
    push("enum_next", "EnumGroups + Next (256 at a time)", 1.0, None, &none)?;
    push("enum_get_release", "EnumGroups + Next + GetGroup + Release", 1.0, None, &none)?;
    push("status_1t_latency", "GetStatus, 1 thread", 1.0, None, &below(STATUS_TARGET_NS, "< 1 µs", ""))?;
    push("status_1t_rate", "GetStatus, 1 thread, calls/s", 1.0, None, &info("the N handles in turn"))?;
    let single = median(s.get("status_1t_rate")?.1);
    for t in THREADS.iter().copied().filter(|&t| t > 1) {
        for (kind, what) in [("own", "own handles"), ("shared", "one shared handle")] {
            let latency = info("mean per call (each thread's time / its calls)");
            push(
                &format!("status_{t}t_{kind}_latency"),
                &format!("GetStatus, {t} threads, {what}"),
                1.0,
                None,
                &latency,
            )?;
            let want = SCALING_EFFICIENCY * t.min(cpus) as f64 * single;
            let scaling = move |m: f64| {
                format!(
                    "scaling, ≥ {SCALING_EFFICIENCY} × min({t}, {cpus} CPUs) × 1-thread rate = {want:.2}: {}",
                    verdict(m >= want)
                )
            };
            let label = format!("GetStatus, {t} threads, {what}, calls/s");
            push(&format!("status_{t}t_{kind}_rate"), &label, 1.0, None, &scaling)?;
        }
    }
    push("rss_idle", "RSS, N groups open, idle", 1.0 / 1024.0, Some("MiB"), &info("no handle held"))?;
    push("rss_per_idle_group", "RSS per idle group", 1.0, None, &below(IDLE_GROUP_TARGET_B, "< 2 KiB", caveat))?;
    let heap = info("mallinfo2: without the free memory the allocator keeps");
    push("heap_per_idle_group", "heap in use per idle group", 1.0, None, &heap)?;
    let trimmed = info("what returning the freed load buffers would give");
    push("rss_per_idle_group_trimmed", "RSS per idle group after malloc_trim", 1.0, None, &trimmed)?;
    push("rss_per_handle", "RSS per held group handle", 1.0, None, &none)?;
    push("db_per_group", "database per group (closed)", 1.0, None, &info("queue.sqlite + -wal"))?;
    let idle = format!("idle CPU, N groups open ({IDLE_SECONDS} s)");
    push("idle_cpu", &idle, 1.0, None, &below(IDLE_CPU_TARGET_PCT, "~0 % (< 0.5 %)", ""))?;
    push("idle_ctx_switches", "idle context switches, all threads", 1.0, None, &none)?;
    Ok(out)
}

/// Compiles bench/c/scale.c into `dir` against libqmgr.so, and returns the program.
fn compile(cfg: &Config, dir: &Path) -> Result<PathBuf, String> {
    let libdir = lib_dir(cfg, dir)?;
    let exe = dir.join("scale");
    crate::runner::compile_c(&cfg.root, "bench/c/scale.c", &exe, &libdir, &["-pthread"])?;
    Ok(exe)
}

/// A directory holding libqmgr.so and its soname link libqmgr.so.0: the driver's copy in
/// `<work>/lib` when there is one, else a copy of the built library in `dir/lib`.
fn lib_dir(cfg: &Config, dir: &Path) -> Result<PathBuf, String> {
    let shared = cfg.work.join("lib");
    if shared.join("libqmgr.so").is_file() && shared.join("libqmgr.so.0").exists() {
        return Ok(shared);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| cfg.root.join("target"));
    let target = if target.is_relative() { cfg.root.join(target) } else { target };
    let built = target.join("release/libqmgr.so");
    if !built.is_file() {
        return Err(format!("{} missing: build it with `cargo build --release -p qmgr-ffi`", built.display()));
    }
    let libdir = dir.join("lib");
    remove_all(&libdir)?;
    std::fs::create_dir_all(&libdir).map_err(|e| format!("create {}: {e}", libdir.display()))?;
    std::fs::copy(&built, libdir.join("libqmgr.so")).map_err(|e| format!("copy {}: {e}", built.display()))?;
    std::os::unix::fs::symlink("libqmgr.so", libdir.join("libqmgr.so.0")).map_err(|e| format!("symlink: {e}"))?;
    Ok(libdir)
}

/// Runs `cmd` with stdout and stderr in `<dir>/<name>.out|.err`, killing it after `deadline`;
/// returns its stdout. A failure quotes the end of its stderr.
fn run_program(mut cmd: Command, dir: &Path, name: &str, deadline: Duration) -> Result<String, String> {
    let out_path = dir.join(format!("{name}.out"));
    let err_path = dir.join(format!("{name}.err"));
    let file = |p: &Path| File::create(p).map_err(|e| format!("create {}: {e}", p.display()));
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(file(&out_path)?)
        .stderr(file(&err_path)?)
        .spawn()
        .map_err(|e| format!("cannot start scale {name}: {e}"))?;
    let status = wait_until(&mut child, deadline).map_err(|e| format!("scale {name}: {e}"))?;
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    if !status.success() {
        let lines: Vec<&str> = stderr.lines().collect();
        let tail = lines[lines.len().saturating_sub(15)..].join("\n");
        return Err(format!("scale {name} failed ({status}); its stderr ends with:\n{tail}"));
    }
    std::fs::read_to_string(&out_path).map_err(|e| format!("read {}: {e}", out_path.display()))
}

/// Waits for `child`, killing it once `deadline` has passed.
fn wait_until(child: &mut Child, deadline: Duration) -> Result<ExitStatus, String> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().map_err(|e| format!("wait: {e}"))? {
            return Ok(status);
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("killed after {deadline:?}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn remove_all(dir: &Path) -> Result<(), String> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("remove {}: {e}", dir.display())),
    }
}

/// CPUs this process may run on (the ceiling of thread scaling).
fn cpus() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_metric_lines() {
        assert_eq!(parse_line("metric=reopen_open value=867.1 unit=ms"), Some(("reopen_open", 867.1, "ms")));
        assert_eq!(parse_line("metric=x value=1e+06 unit=B"), Some(("x", 1e6, "B")));
        assert_eq!(parse_line("metric=x value=abc unit=B"), None);
        assert_eq!(parse_line("value=1 unit=B"), None);
    }

    /// The whole scenario on a small queue against target/release/libqmgr.so:
    /// `cargo test -p qmgr-bench --release -- --ignored scale --nocapture`
    /// (QMGR_BENCH_SCALE_GROUPS and QMGR_BENCH_SCALE_ROUNDS override 2,000 groups, 2 rounds).
    #[test]
    #[ignore]
    fn scale_end_to_end() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
        let work = std::env::temp_dir().join(format!("qmgr-bench-scale-{}", std::process::id()));
        let groups = std::env::var("QMGR_BENCH_SCALE_GROUPS").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000);
        let rounds = std::env::var("QMGR_BENCH_SCALE_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(2);
        let cfg = Config { root, work: work.clone(), groups, rounds };
        let rows = run(&cfg);
        let _ = std::fs::remove_dir_all(&work);
        let rows = rows.unwrap();
        eprint!("{}", crate::report::table(&rows));
        assert!(rows.iter().all(|r| r.samples.len() == rounds && r.median.is_finite()));
    }
}
