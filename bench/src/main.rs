//! `qmgr-bench`: runs the scenarios of issue #6 (see bench/README.md) and writes the table.
//!
//! Started by `bench/run`, which installs the tools and builds qmgr first. The bench makes a
//! work directory (on disk, not tmpfs), generates the served files, compiles the C programs
//! against `libqmgr.so`, starts nginx, runs the selected scenarios (every tool alternately,
//! round after round) and writes one markdown table with the machine and versions.

#![forbid(unsafe_code)]

mod background;
mod data;
mod delay;
mod network;
mod nginx;
mod overhead;
mod report;
mod runner;
mod scale;
mod throughput;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use clap::Parser;

use data::{Data, Wanted};
use nginx::Nginx;
use report::Row;
use runner::{Bins, Ctx, Sizes};

/// Benchmarks qmgr side by side with curl, wget and aria2 on a local nginx (issue #6).
///
/// Scenarios: 1 (one large file), 2 (many small files in one job), 3 (many groups),
/// 4 (queue scale), 5 (overheads; 5a checkpoints, 5b callbacks, 5c rate limiter, 5d idle
/// manager, 5e checksum), 6 (background groups on shaped links; root only), 7 (many small
/// files from a far-away server: 50 ms round trip), 8 (a server capping each connection). Run
/// it through bench/run, which installs the tools and builds qmgr first.
#[derive(Parser, Debug)]
#[command(name = "qmgr-bench")]
struct Args {
    /// Rounds per scenario (each tool runs once per round, alternately) [default: 5, --quick: 2]
    #[arg(long)]
    rounds: Option<usize>,
    /// Scenarios to run, comma-separated: 1-8 or 5a,5b,5c,5d,5e; 6 is also `bg`, 7 `far`, 8 `capped` (default: all)
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Small sizes and 2 rounds: the whole run in about two minutes (for development)
    #[arg(long)]
    quick: bool,
    /// Where to write the table [default: bench/RESULTS.md; --quick: bench/RESULTS-quick.md]
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Scenario selection.
#[derive(Clone, Copy, Debug, Default)]
struct Selection {
    large: bool,
    small: bool,
    groups: bool,
    scale: bool,
    overhead: overhead::Parts,
    background: bool,
    far: bool,
    capped: bool,
}

impl Selection {
    fn parse(only: &[String]) -> Result<Selection, String> {
        let all = only.is_empty();
        let mut s = Selection::default();
        let parts = |on: bool| overhead::Parts { checkpoints: on, callbacks: on, rate: on, idle: on, checksum: on };
        if all {
            s = Selection {
                large: true,
                small: true,
                groups: true,
                scale: true,
                overhead: parts(true),
                background: true,
                far: true,
                capped: true,
            };
        }
        for item in only {
            match item.trim() {
                "1" | "large" => s.large = true,
                "2" | "small" => s.small = true,
                "3" | "groups" => s.groups = true,
                "4" | "scale" => s.scale = true,
                "5" | "overhead" => s.overhead = parts(true),
                "5a" => s.overhead.checkpoints = true,
                "5b" => s.overhead.callbacks = true,
                "5c" => s.overhead.rate = true,
                "5d" => s.overhead.idle = true,
                "5e" | "checksum" => s.overhead.checksum = true,
                "6" | "bg" | "background" => s.background = true,
                "7" | "far" => s.far = true,
                "8" | "capped" => s.capped = true,
                other => return Err(format!("unknown scenario {other:?} (expected 1-8, 5a-5e, bg, far or capped)")),
            }
        }
        Ok(s)
    }
}

fn main() {
    let args = Args::parse();
    match run(args) {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("qmgr-bench: error: {e}");
            std::process::exit(1);
        }
    }
}

/// Runs the bench; Ok(false) when a scenario failed (the table of the others is written).
fn run(args: Args) -> Result<bool, String> {
    let selection = Selection::parse(&args.only)?;
    let rounds = args.rounds.unwrap_or(if args.quick { 2 } else { 5 });
    if rounds == 0 {
        return Err("--rounds must be at least 1".into());
    }
    let root = workspace_root();
    let out_path = args
        .out
        .clone()
        .unwrap_or_else(|| root.join(if args.quick { "bench/RESULTS-quick.md" } else { "bench/RESULTS.md" }));
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"));
    let target = if target.is_relative() { root.join(target) } else { target };

    let interrupted = Arc::new(AtomicBool::new(false));
    let flag = interrupted.clone();
    ctrlc::set_handler(move || {
        eprintln!("qmgr-bench: interrupted: stopping after the current command");
        flag.store(true, Ordering::SeqCst);
    })
    .map_err(|e| format!("cannot handle Ctrl-C: {e}"))?;

    for tool in ["curl", "wget", "aria2c", "cc", "sync", "df"] {
        if !on_path(tool) {
            return Err(format!("`{tool}` not found on PATH: run bench/run, which installs it"));
        }
    }
    let qmgr = target.join("release/qmgr");
    let lib = target.join("release/libqmgr.so");
    for built in [&qmgr, &lib] {
        if !built.is_file() {
            return Err(format!("{} missing: run bench/run, which builds it", built.display()));
        }
    }
    let nockpt = target.join("bench-nockpt/release/qmgr");
    let nockpt = nockpt.is_file().then_some(nockpt);

    let work = work_dir(&target)?;
    eprintln!("qmgr-bench: work directory {} ({})", work.path().display(), filesystem(work.path()));
    let load_start = load_average();
    let sizes = Sizes::new(args.quick);
    let bins = compile(&root, &lib, work.path(), qmgr, nockpt)?;

    let o = selection.overhead;
    // Scenario 7 takes the first `far_count` of scenario 2's files.
    let small_count = [(selection.small, sizes.small_count), (selection.far, sizes.far_count)]
        .into_iter()
        .filter_map(|(on, n)| on.then_some(n))
        .max();
    let wanted = Wanted {
        big: (selection.large || o.checkpoints || o.callbacks || o.checksum).then_some(sizes.big),
        small: small_count.map(|n| (n, sizes.small_size)),
        mid: selection.groups.then_some((sizes.groups * sizes.files_per_group, sizes.group_file_size)),
        rate: o.rate.then_some(sizes.rate_file),
        background: selection.background.then_some((sizes.bg_big, sizes.bg_small)),
        capped: selection.capped.then_some(sizes.capped),
    };
    eprintln!("qmgr-bench: generating the served files");
    let data = Data::generate(&work.path().join("www"), &wanted)?;
    // The new files' write-back must not land in the first runs.
    rustix::fs::sync();
    let busy_start = cpu_busy();
    let server = Nginx::start(&data.root, &work.path().join("nginx"))?;
    eprintln!("qmgr-bench: nginx serving {} at {}", data.root.display(), server.base_url());

    let ctx = Ctx {
        work: work.path().to_path_buf(),
        rounds,
        sizes,
        base_url: server.base_url(),
        server: server.addr(),
        data,
        bins,
        interrupted: interrupted.clone(),
        skipped: Mutex::new(Vec::new()),
    };
    let mut rows: Vec<Row> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    let mut scenario = |name: &str, on: bool, f: &dyn Fn(&Ctx) -> Result<Vec<Row>, String>| {
        if !on || interrupted.load(Ordering::SeqCst) {
            return;
        }
        eprintln!("qmgr-bench: scenario {name}");
        match f(&ctx) {
            Ok(r) => {
                eprint!("{}", report::table(&r));
                rows.extend(r);
            }
            Err(e) => {
                eprintln!("qmgr-bench: scenario {name} failed: {e}");
                failures.push(format!("scenario {name}: {e}"));
            }
        }
    };
    scenario("1 (one large file)", selection.large, &throughput::large);
    scenario("2 (many small files)", selection.small, &throughput::small);
    scenario("3 (many groups)", selection.groups, &throughput::groups);
    let scale_config = |ctx: &Ctx| scale::Config {
        root: root.clone(),
        work: ctx.work.clone(),
        groups: if args.quick { 2_000 } else { 100_000 },
        rounds: ctx.rounds,
    };
    scenario("4 (queue scale)", selection.scale, &|ctx| scale::run(&scale_config(ctx)));
    let parts = selection.overhead;
    let any_overhead = parts.checkpoints || parts.callbacks || parts.rate || parts.idle || parts.checksum;
    scenario("5 (overheads)", any_overhead, &|ctx| overhead::run(ctx, parts));
    scenario("6 (background groups on shaped links)", selection.background, &background::run);
    scenario("7 (far-away server)", selection.far, &network::far);
    scenario("8 (capped connections)", selection.capped, &network::capped);
    drop(server);
    failures.extend(ctx.skipped.lock().unwrap_or_else(|e| e.into_inner()).drain(..));
    if interrupted.load(Ordering::SeqCst) {
        failures.push("interrupted (Ctrl-C or SIGTERM)".into());
    }

    let busy = format!("{busy_start} before the first scenario, {} after the last", cpu_busy());
    let header = header(&root, &ctx, &args, [load_start, busy], work.path());
    let table = report::table(&rows);
    let mut text = format!("{header}\n{table}");
    if !failures.is_empty() {
        text.push_str("\n**Failures:**\n\n");
        for f in &failures {
            text.push_str(&format!("* {}\n", f.replace('\n', "\n  ")));
        }
    }
    text.push_str(&format!(
        "\n## Raw samples\n\nscenario, tool, metric, unit, then one sample per round (tab-separated):\n\n```tsv\n{}```\n",
        report::raw(&rows)
    ));
    println!("\n{table}");
    if interrupted.load(Ordering::SeqCst) {
        // Keep the results of the last complete run.
        eprintln!("qmgr-bench: interrupted: {} not written", out_path.display());
    } else {
        if let Some(dir) = out_path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        }
        std::fs::write(&out_path, text).map_err(|e| format!("write {}: {e}", out_path.display()))?;
        eprintln!("qmgr-bench: table written to {}", out_path.display());
    }
    for f in &failures {
        eprintln!("qmgr-bench: FAILED: {f}");
    }
    Ok(failures.is_empty())
}

/// The workspace root (the parent of bench/).
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("bench/ has a parent").to_path_buf()
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
        .unwrap_or(false)
}

/// A temporary work directory on disk: under /var/tmp unless that is a tmpfs (then under the
/// target directory). Deleted when dropped.
fn work_dir(target: &Path) -> Result<tempfile::TempDir, String> {
    let var_tmp = Path::new("/var/tmp");
    let base = if var_tmp.is_dir() && !filesystem(var_tmp).starts_with("tmpfs") {
        var_tmp.to_path_buf()
    } else {
        let dir = target.join("bench-work");
        std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        dir
    };
    tempfile::Builder::new()
        .prefix("qmgr-bench-")
        .tempdir_in(&base)
        .map_err(|e| format!("cannot create a work directory in {}: {e}", base.display()))
}

/// `<fstype> on <device>` of the filesystem holding `path` (`df --output`).
fn filesystem(path: &Path) -> String {
    let out = Command::new("df").args(["--output=fstype,source"]).arg(path).output();
    let text = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
    match text.lines().nth(1).map(|l| l.split_whitespace().collect::<Vec<_>>()) {
        Some(f) if f.len() == 2 => format!("{} on {}", f[0], f[1]),
        _ => "unknown filesystem".into(),
    }
}

/// Copies libqmgr.so into the work directory (with its soname link) and compiles the C
/// programs against it.
fn compile(root: &Path, lib: &Path, work: &Path, qmgr: PathBuf, nockpt: Option<PathBuf>) -> Result<Bins, String> {
    let libdir = work.join("lib");
    let bindir = work.join("bin");
    for d in [&libdir, &bindir] {
        std::fs::create_dir_all(d).map_err(|e| format!("create {}: {e}", d.display()))?;
    }
    std::fs::copy(lib, libdir.join("libqmgr.so")).map_err(|e| format!("copy {}: {e}", lib.display()))?;
    std::os::unix::fs::symlink("libqmgr.so", libdir.join("libqmgr.so.0")).map_err(|e| format!("symlink: {e}"))?;
    let build = |src: &str, name: &str| -> Result<PathBuf, String> {
        let exe = bindir.join(name);
        runner::compile_c(root, src, &exe, &libdir, &[])?;
        Ok(exe)
    };
    Ok(Bins {
        qmgr,
        qmgr_nockpt: nockpt,
        download: build("examples-c/download.c", "download")?,
        many_groups: build("bench/c/many_groups.c", "many_groups")?,
        callback_cost: build("bench/c/callback_cost.c", "callback_cost")?,
    })
}

/// The first line of a command's output (stdout, else stderr), or "?".
fn first_line(program: &str, args: &[&str]) -> String {
    match Command::new(program).args(args).output() {
        Ok(o) => {
            let text = if o.stdout.is_empty() { o.stderr } else { o.stdout };
            String::from_utf8_lossy(&text).lines().next().unwrap_or("?").trim().to_string()
        }
        Err(_) => "?".into(),
    }
}

/// The machine's CPU use (all processes) over 2 s while the bench itself waits, e.g. `3 %`.
fn cpu_busy() -> String {
    let read = || -> Option<(u64, u64)> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let v: Vec<u64> = stat.lines().next()?.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
        // user nice system idle iowait irq softirq steal …: idle time is idle + iowait.
        let idle = v.get(3)? + v.get(4).copied().unwrap_or(0);
        Some((v.iter().take(8).sum(), idle))
    };
    let before = read();
    std::thread::sleep(std::time::Duration::from_secs(2));
    match (before, read()) {
        (Some((t0, i0)), Some((t1, i1))) if t1 > t0 => {
            format!("{:.0} %", 100.0 * (1.0 - (i1 - i0) as f64 / (t1 - t0) as f64))
        }
        _ => "?".into(),
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// The markdown header: date, machine, versions, settings.
fn header(root: &Path, ctx: &Ctx, args: &Args, [load_start, busy]: [String; 2], work: &Path) -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|v| v.split_once(':')).map(|(_, v)| v.trim().to_string()))
        .unwrap_or_else(|| "?".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let ram = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines().find_map(|l| l.strip_prefix("MemTotal:").and_then(|v| v.split_whitespace().next()?.parse().ok()))
        })
        .map(|kib: f64| format!("{:.1} GiB", kib / (1 << 20) as f64))
        .unwrap_or_else(|| "?".into());
    let root_s = root.display().to_string();
    let git = first_line("git", &["-C", &root_s, "describe", "--always", "--dirty", "--tags"]);
    let word = |line: String, n: usize| line.split_whitespace().nth(n).unwrap_or("?").to_string();
    let nginx = first_line(nginx::BINARY, &["-v"]).rsplit('/').next().unwrap_or("?").to_string();
    let mut argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.is_empty() {
        argv.push("(no arguments)".into());
    }
    format!(
        "# qmgr benchmark results (issue #6)\n\n\
         Written by `bench/run` ([bench/README.md](README.md) says what each row measures) on {date}.\n\n\
         * Machine: {uname}; {cpu}, {cores} cores; {ram} RAM\n\
         * Work directory: {fs} (data served by nginx from the page cache; downloads written to this disk)\n\
         * Versions: qmgr {git}, nginx {nginx}, curl {curl}, wget {wget}, aria2c {aria2}\n\
         * Rounds: {rounds} (tools alternate within each round){quick}; arguments: `{argv}`\n\
         * Load average (1, 5, 15 min) at start: {load_start}; at end: {load_end}. CPU used by other \
         processes while the bench was idle (2 s samples): {busy} — well above 0 % means another job \
         shared the machine and the samples are noisier\n",
        date = first_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        uname = first_line("uname", &["-srm"]),
        fs = filesystem(work),
        curl = word(first_line("curl", &["--version"]), 1),
        wget = word(first_line("wget", &["--version"]), 2),
        aria2 = word(first_line("aria2c", &["--version"]), 2),
        rounds = ctx.rounds,
        quick = if args.quick { ", --quick sizes" } else { "" },
        argv = argv.join(" "),
        load_end = load_average(),
    )
}
