//! Running the tools: each run in a fresh directory (outputs and qmgr queue), commands timed
//! from the first spawn to the last exit, outputs verified, then deleted and `sync(2)`ed so
//! that one run's write-back does not land in the next one (unless the contender is
//! [`Contender::without_sync`]); tools alternate round by round.

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use rustix::process::{kill_process, Pid, Signal};

use crate::data::Data;

/// Longest any single command may run (a 1 GiB download at 10 MB/s fits).
pub const COMMAND_DEADLINE: Duration = Duration::from_secs(600);

/// Programs the scenarios run.
pub struct Bins {
    /// `target/release/qmgr`.
    pub qmgr: PathBuf,
    /// The `bench-no-checkpoints` build of `qmgr` (scenario 5a), when built.
    pub qmgr_nockpt: Option<PathBuf>,
    /// examples-c/download.c.
    pub download: PathBuf,
    /// bench/c/many_groups.c.
    pub many_groups: PathBuf,
    /// bench/c/callback_cost.c.
    pub callback_cost: PathBuf,
}

/// Sizes of a full or `--quick` run.
#[derive(Clone, Debug)]
pub struct Sizes {
    /// Scenario 1 and 5a/5b: one file of this many bytes.
    pub big: u64,
    /// Scenario 2: this many files…
    pub small_count: usize,
    /// …of this many bytes.
    pub small_size: u64,
    /// Scenario 3: this many groups…
    pub groups: usize,
    /// …of this many files…
    pub files_per_group: usize,
    /// …of this many bytes.
    pub group_file_size: u64,
    /// Scenario 3: the `max_active_groups` settings.
    pub max_active: Vec<u32>,
    /// Scenario 5c: bytes downloaded…
    pub rate_file: u64,
    /// …at this `background_rate_limit` (bytes/s).
    pub rate_limit: u64,
    /// Scenario 5d: idle groups in the queue…
    pub idle_groups: usize,
    /// …observed for this long per sample.
    pub idle_window: Duration,
    /// Scenario 6: the background group's file (it must outlast a whole session)…
    pub bg_big: u64,
    /// …and the competing downloads' file.
    pub bg_small: u64,
    /// Scenario 2, start-up rows: downloads of one `small_size` file per run, back to back,
    /// so that a run's wall time averages this many process start-ups.
    pub startup_count: usize,
    /// Scenario 7: this many files of `small_size` through the delay proxy.
    pub far_count: usize,
    /// Scenario 8: one file of this many bytes from the capped location.
    pub capped: u64,
}

impl Sizes {
    pub fn new(quick: bool) -> Sizes {
        if quick {
            Sizes {
                big: 128 << 20,
                small_count: 200,
                small_size: 64 << 10,
                groups: 50,
                files_per_group: 4,
                group_file_size: 256 << 10,
                max_active: vec![1, 4, 16],
                rate_file: 20_000_000,
                rate_limit: 20_000_000,
                idle_groups: 1000,
                idle_window: Duration::from_secs(3),
                bg_big: 500_000_000,
                bg_small: 20_000_000,
                startup_count: 5,
                far_count: 200,
                capped: 32 << 20,
            }
        } else {
            Sizes {
                big: 1 << 30,
                small_count: 2000,
                small_size: 64 << 10,
                groups: 500,
                files_per_group: 4,
                group_file_size: 256 << 10,
                max_active: vec![1, 4, 16],
                rate_file: 100_000_000,
                rate_limit: 20_000_000,
                idle_groups: 1000,
                idle_window: Duration::from_secs(10),
                bg_big: 500_000_000,
                bg_small: 20_000_000,
                startup_count: 20,
                far_count: 1000,
                capped: 256 << 20,
            }
        }
    }
}

/// What every scenario needs.
pub struct Ctx {
    /// The bench's work directory (data, runs, programs).
    pub work: PathBuf,
    pub rounds: usize,
    pub sizes: Sizes,
    pub data: Data,
    /// `http://127.0.0.1:<port>/`.
    pub base_url: String,
    /// nginx's address (`127.0.0.1:<port>`), for the delay proxy of scenario 7.
    pub server: SocketAddr,
    pub bins: Bins,
    /// Set by Ctrl-C / SIGTERM: stop before the next run.
    pub interrupted: Arc<AtomicBool>,
    /// Contenders that could not run while the rest of their scenario did ([`Ctx::skip`]).
    pub skipped: Mutex<Vec<String>>,
}

impl Ctx {
    /// URL of a served path (below the document root).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Errors out when Ctrl-C or SIGTERM arrived.
    pub fn check_interrupted(&self) -> Result<(), String> {
        if self.interrupted.load(Ordering::SeqCst) {
            Err("interrupted".into())
        } else {
            Ok(())
        }
    }

    /// Records that a contender was left out of its scenario (e.g. an option this build of
    /// qmgr lacks): reported with the failures, and the run exits with status 1.
    pub fn skip(&self, why: String) {
        eprintln!("qmgr-bench: {why}");
        self.skipped.lock().unwrap_or_else(|e| e.into_inner()).push(why);
    }

    /// A fresh, empty run directory with an empty `out/`.
    pub fn fresh_run_dir(&self) -> Result<RunDir, String> {
        let dir = self.work.join("run");
        remove_all(&dir)?;
        let out = dir.join("out");
        std::fs::create_dir_all(&out).map_err(|e| format!("create {}: {e}", out.display()))?;
        Ok(RunDir { queue: dir.join("queue"), out, dir })
    }
}

/// Where one run writes: `out/` (created) for the downloads, `queue/` (not created) as qmgr's
/// queue directory, and the directory itself for lists, configs and logs.
pub struct RunDir {
    pub dir: PathBuf,
    pub out: PathBuf,
    pub queue: PathBuf,
}

impl RunDir {
    /// The output of the timed commands so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.dir.join("stdout.log")).unwrap_or_default()
    }
}

/// The commands of one run: `prepare` (untimed, e.g. setting a queue option) then `timed`.
#[derive(Default)]
pub struct Plan {
    pub prepare: Vec<Command>,
    pub timed: Vec<Command>,
}

impl Plan {
    pub fn timed(timed: Vec<Command>) -> Plan {
        Plan { prepare: Vec::new(), timed }
    }
}

type PlanFn<'a> = Box<dyn Fn(&RunDir) -> Result<Plan, String> + 'a>;
type CheckFn<'a> = Box<dyn Fn(&RunDir, bool) -> Result<(), String> + 'a>;

/// One tool (and mode) of a scenario.
pub struct Contender<'a> {
    /// Its name in the table, e.g. `curl -o`.
    pub tool: String,
    /// The commands of a run in the given fresh directory.
    pub plan: PlanFn<'a>,
    /// Verifies a run's outputs; the flag asks for SHA-256 (first round) besides sizes.
    pub check: CheckFn<'a>,
    /// Whether each run ends with `sync(2)` (after its outputs are deleted), so that its
    /// write-back does not slow the next run: true unless [`Contender::without_sync`].
    pub sync: bool,
}

impl<'a> Contender<'a> {
    pub fn new(
        tool: impl Into<String>,
        plan: impl Fn(&RunDir) -> Result<Plan, String> + 'a,
        check: impl Fn(&RunDir, bool) -> Result<(), String> + 'a,
    ) -> Contender<'a> {
        Contender { tool: tool.into(), plan: Box::new(plan), check: Box::new(check), sync: true }
    }

    /// No `sync(2)` after its runs: the next run starts while this one's writes may still be
    /// in flight, as in a loop of downloads (scenario 2's back-to-back rows).
    pub fn without_sync(mut self) -> Contender<'a> {
        self.sync = false;
        self
    }
}

/// One verified run: wall time of the timed commands, their CPU time (user + system, all
/// their processes and threads; 10 ms resolution) and what they printed on stdout.
pub struct Run {
    pub wall: Duration,
    pub cpu: Duration,
    pub stdout: String,
}

/// Runs every contender once per round, in turn (A B C A B C …), and returns the runs per
/// contender. `show` formats a run for the progress line on stderr. Any failed command or
/// check fails the whole scenario (a broken run never counts).
pub fn alternate(
    ctx: &Ctx,
    scenario: &str,
    contenders: &[Contender<'_>],
    show: &dyn Fn(&Run) -> String,
) -> Result<Vec<Vec<Run>>, String> {
    let mut runs: Vec<Vec<Run>> = contenders.iter().map(|_| Vec::new()).collect();
    for round in 0..ctx.rounds {
        for (i, c) in contenders.iter().enumerate() {
            ctx.check_interrupted()?;
            let run = run_once(ctx, c, round == 0).map_err(|e| format!("{scenario}: {}: {e}", c.tool))?;
            eprintln!("  [{scenario}] round {}/{} {}: {}", round + 1, ctx.rounds, c.tool, show(&run));
            runs[i].push(run);
        }
    }
    Ok(runs)
}

fn run_once(ctx: &Ctx, c: &Contender<'_>, hash: bool) -> Result<Run, String> {
    let rd = ctx.fresh_run_dir()?;
    let plan = (c.plan)(&rd)?;
    let log = rd.dir.join("stderr.log");
    let stdout = rd.dir.join("stdout.log");
    for cmd in plan.prepare {
        run_command(cmd, &rd.dir.join("prepare.log"), &log)?;
    }
    let cpu_before = children_cpu()?;
    let started = Instant::now();
    for cmd in plan.timed {
        run_command(cmd, &stdout, &log)?;
    }
    let wall = started.elapsed();
    let cpu = children_cpu()?.saturating_sub(cpu_before);
    (c.check)(&rd, hash).map_err(|e| format!("verification failed: {e}"))?;
    let run = Run { wall, cpu, stdout: rd.stdout() };
    remove_all(&rd.dir)?;
    if c.sync {
        rustix::fs::sync();
    }
    Ok(run)
}

/// CPU time (user + system) of this process's waited-for children so far: `cutime` +
/// `cstime` of /proc/self/stat (fields 16, 17). Only the timed commands are reaped during a
/// run, so the difference across it is theirs.
fn children_cpu() -> Result<Duration, String> {
    let text = std::fs::read_to_string("/proc/self/stat").map_err(|e| format!("/proc/self/stat: {e}"))?;
    let fields: Vec<&str> = text.rsplit_once(')').map(|(_, f)| f.split_whitespace().collect()).unwrap_or_default();
    let field = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).ok_or("/proc/self/stat: bad format");
    let ticks = field(13)? + field(14)?;
    Ok(Duration::from_secs_f64(ticks as f64 / rustix::param::clock_ticks_per_second() as f64))
}

/// Runs `cmd` to its end (at most [`COMMAND_DEADLINE`]), stdout appended to `stdout`, stderr
/// to `stderr`; a non-zero exit is an error quoting the end of stderr.
/// Compiles the C program `src` (relative to the workspace `root`) into `exe` against the
/// libqmgr.so in `libdir` (found at run time through an rpath), with `-Werror` and `extra`
/// flags. Errors: the compiler's output.
pub fn compile_c(root: &Path, src: &str, exe: &Path, libdir: &Path, extra: &[&str]) -> Result<(), String> {
    let out = Command::new("cc")
        .args(["-std=c11", "-O2", "-Wall", "-Wextra", "-Werror"])
        .args(extra)
        .arg("-I")
        .arg(root.join("include"))
        .arg(root.join(src))
        .arg("-o")
        .arg(exe)
        .arg("-L")
        .arg(libdir)
        .arg("-lqmgr")
        .arg(format!("-Wl,-rpath,{}", libdir.display()))
        .output()
        .map_err(|e| format!("cannot run cc: {e}"))?;
    if !out.status.success() {
        return Err(format!("cc {src} failed:\n{}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(())
}

pub fn run_command(mut cmd: Command, stdout: &Path, stderr: &Path) -> Result<(), String> {
    let what = describe(&cmd);
    let out = append(stdout)?;
    let err = append(stderr)?;
    let mut child =
        cmd.stdin(Stdio::null()).stdout(out).stderr(err).spawn().map_err(|e| format!("cannot start {what}: {e}"))?;
    let status = wait_deadline(&mut child, COMMAND_DEADLINE).map_err(|e| format!("{what}: {e}"))?;
    if !status.success() {
        return Err(format!("{what} failed ({status}); its stderr ends with:\n{}", tail(stderr, 15)));
    }
    Ok(())
}

/// Waits for `child`, killing it after `deadline`.
pub fn wait_deadline(child: &mut Child, deadline: Duration) -> Result<ExitStatus, String> {
    let pid = Pid::from_child(child);
    let (done, done_rx) = mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || match done_rx.recv_timeout(deadline) {
        Err(mpsc::RecvTimeoutError::Timeout) => {
            let _ = kill_process(pid, Signal::KILL);
            true
        }
        _ => false,
    });
    let status = child.wait().map_err(|e| format!("wait: {e}"));
    let _ = done.send(());
    if watchdog.join().unwrap_or(false) {
        return Err(format!("killed after {deadline:?}"));
    }
    status
}

fn append(path: &Path) -> Result<File, String> {
    OpenOptions::new().create(true).append(true).open(path).map_err(|e| format!("open {}: {e}", path.display()))
}

/// The last `lines` lines of a log file.
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The program and its first arguments, for error messages.
pub fn describe(cmd: &Command) -> String {
    let prog = Path::new(cmd.get_program()).file_name().unwrap_or(cmd.get_program()).to_string_lossy().into_owned();
    let args: Vec<String> = cmd.get_args().take(6).map(|a| a.to_string_lossy().into_owned()).collect();
    let more = if cmd.get_args().count() > 6 { " …" } else { "" };
    format!("`{prog} {}{more}`", args.join(" "))
}

/// `Command::new(program).args(args)`.
pub fn cmd<'s>(program: impl AsRef<OsStr>, args: impl IntoIterator<Item = &'s OsStr>) -> Command {
    let mut c = Command::new(program);
    c.args(args);
    c
}

/// Borrows a string or path as an argument of [`cmd`].
pub fn os<T: AsRef<OsStr> + ?Sized>(t: &T) -> &OsStr {
    t.as_ref()
}

/// Removes a directory tree if it exists.
pub fn remove_all(dir: &Path) -> Result<(), String> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("remove {}: {e}", dir.display())),
    }
}

/// Median CPU time of `runs`, in seconds.
pub fn median_cpu(runs: &[Run]) -> f64 {
    crate::report::median(&runs.iter().map(|r| r.cpu.as_secs_f64()).collect::<Vec<_>>())
}

/// Appends `; CPU <median> s per run` to each row's note (rows and runs in the same order).
pub fn note_cpu(rows: &mut [crate::report::Row], runs: &[Vec<Run>]) {
    note_cpu_scaled(rows, runs, 1.0, "per run");
}

/// Appends `; CPU <median × scale> s <per>` to each row's note (rows and runs in the same
/// order), e.g. scale 1000 / files and "per 1,000 files".
pub fn note_cpu_scaled(rows: &mut [crate::report::Row], runs: &[Vec<Run>], scale: f64, per: &str) {
    for (row, rs) in rows.iter_mut().zip(runs) {
        let cpu = format!("CPU {} s {per}", crate::report::num(median_cpu(rs) * scale));
        row.note = if row.note.is_empty() { cpu } else { format!("{}; {cpu}", row.note) };
    }
}

/// The value of a `key value` line of a C program's output.
pub fn stdout_value(stdout: &str, key: &str) -> Result<f64, String> {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(key).and_then(|v| v.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("no `{key}` line in the program's output:\n{stdout}"))
}
