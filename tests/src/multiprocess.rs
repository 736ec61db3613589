//! Support for the multi-process tests (`tests/tests/multiprocess*.rs`; DECISIONS D10): child
//! processes that drive one queue through the C API or the Python package on the test's
//! orders, the holder of a queue's transfer lock as the kernel sees it, and what a process
//! costs (CPU time, wake-ups).
//!
//! An [`Agent`] is a child process running `tests/multiprocess/agent.c` (compiled once per test
//! process against `include/qmgr.h` and `libqmgr.so`) or `tests/multiprocess/agent.py` (the
//! `qmgr` Python package over the same library). The test writes one command per line to its
//! standard input and reads one answer line per command (`ok …` or `err 0xHRESULT message`);
//! lines starting with `event ` (callbacks, watchers) may come at any time and are kept apart.
//! A reader thread stamps every line with the [`Instant`] it arrived, so latencies between
//! processes are measured on the test's own clock. See the header of `agent.c` for the
//! commands.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::{built_artifacts, compile, profile_dir, workspace_root, Lang};

/// Longest wait for an answer: commands are quick; this only bounds a hung child.
pub const REPLY_DEADLINE: Duration = Duration::from_secs(60);

/// The `file_index` / job columns of an event that concerns no file or job.
pub const NONE: &str = "-";

/// Serializes the tests of one test binary: they measure latencies and CPU time, which tests
/// running beside them on a small machine would distort.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The C agent, compiled once per test process (into the profile directory, replaced
/// atomically so that test binaries running at the same time never see half a file).
pub fn c_agent() -> &'static Path {
    static AGENT: OnceLock<PathBuf> = OnceLock::new();
    AGENT.get_or_init(|| {
        let src = workspace_root().join("tests/multiprocess/agent.c");
        let dest = profile_dir().join("qmgr-multiprocess-agent");
        let tmp = profile_dir().join(format!("qmgr-multiprocess-agent.{}", std::process::id()));
        compile(Lang::C11, &[&src], &tmp, &[]);
        std::fs::rename(&tmp, &dest).expect("install the C agent");
        dest
    })
}

/// Which program an [`Agent`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `tests/multiprocess/agent.c` through the C API.
    C,
    /// `tests/multiprocess/agent.py` through the Python package.
    Python,
}

/// One line a child wrote, with the instant the test read it.
#[derive(Clone, Debug)]
pub struct Line {
    /// When the reader thread got it.
    pub at: Instant,
    /// The line without its end.
    pub text: String,
}

impl Line {
    /// The words after `event ` (or of the whole line).
    pub fn words(&self) -> Vec<&str> {
        self.text.strip_prefix("event ").unwrap_or(&self.text).split(' ').collect()
    }
}

/// A failed command: its HRESULT and the library's message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    /// The HRESULT as the C API returns it (bit pattern).
    pub hr: u32,
    /// The last-error message.
    pub message: String,
}

/// A child process driving the queue (see the module documentation).
pub struct Agent {
    /// A name for messages (`"A"`, `"B (python)"`…).
    pub name: String,
    /// Which program it runs.
    pub kind: Kind,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<Line>,
    events: VecDeque<Line>,
    stderr: tempfile::NamedTempFile,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent").field("name", &self.name).field("pid", &self.child.id()).finish()
    }
}

impl Agent {
    /// Starts an agent of `kind` and opens the queue in `queue` with it.
    pub fn open(kind: Kind, name: &str, queue: &Path) -> Agent {
        let mut agent = Agent::spawn(kind, name);
        agent.ok(&format!("open {}", queue.display()));
        agent
    }

    /// Starts an agent of `kind` without opening a queue.
    pub fn spawn(kind: Kind, name: &str) -> Agent {
        let lib = built_artifacts();
        let mut cmd = match kind {
            Kind::C => Command::new(c_agent()),
            Kind::Python => {
                let mut c = Command::new("python3");
                c.arg(workspace_root().join("tests/multiprocess/agent.py"))
                    .env("PYTHONPATH", workspace_root().join("python"))
                    .env("QMGR_LIBRARY", lib.join("libqmgr.so"))
                    .env("PYTHONDONTWRITEBYTECODE", "1");
                c
            }
        };
        let stderr = tempfile::NamedTempFile::new().expect("stderr file");
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr.reopen().expect("reopen the stderr file"))
            .spawn()
            .unwrap_or_else(|e| panic!("start agent {name} ({kind:?}): {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name(format!("agent-{name}"))
            .spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(text) = line else { break };
                    if tx.send(Line { at: Instant::now(), text }).is_err() {
                        break;
                    }
                }
            })
            .expect("spawn the reader thread");
        let stdin = child.stdin.take();
        Agent { name: name.to_string(), kind, child, stdin, lines, events: VecDeque::new(), stderr }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the agent wrote to its standard error so far (for failure messages).
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.stderr.path()).unwrap_or_default()
    }

    /// Writes one command line without waiting for its answer.
    pub fn send(&mut self, command: &str) {
        let stdin = self.stdin.as_mut().expect("the agent's stdin is open");
        let ok = stdin.write_all(format!("{command}\n").as_bytes()).and_then(|()| stdin.flush());
        if let Err(e) = ok {
            panic!("agent {}: cannot send {command:?}: {e}\nstderr:\n{}", self.name, self.stderr());
        }
    }

    /// The next line within `deadline` (None when none came); panics when the agent ended.
    fn next_line(&mut self, deadline: Duration) -> Option<Line> {
        match self.lines.recv_timeout(deadline) {
            Ok(line) => Some(line),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => {
                let status = self.child.wait().ok();
                panic!("agent {} ended ({status:?})\nstderr:\n{}", self.name, self.stderr());
            }
        }
    }

    /// The answer to the oldest command not yet answered (events that come first are kept).
    pub fn reply(&mut self) -> Line {
        let end = Instant::now() + REPLY_DEADLINE;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let Some(line) = self.next_line(left) else {
                panic!("agent {}: no answer within {REPLY_DEADLINE:?}\nstderr:\n{}", self.name, self.stderr());
            };
            if line.text.starts_with("event ") {
                self.events.push_back(line);
            } else {
                return line;
            }
        }
    }

    /// Parses an answer line: `Ok(words after "ok")` or the refusal.
    pub fn parse(&self, line: &Line) -> Result<String, Refused> {
        if line.text == "ok" {
            return Ok(String::new());
        }
        if let Some(rest) = line.text.strip_prefix("ok ") {
            return Ok(rest.to_string());
        }
        if let Some(rest) = line.text.strip_prefix("err 0x") {
            let (hr, message) = rest.split_once(' ').unwrap_or((rest, ""));
            if let Ok(hr) = u32::from_str_radix(hr, 16) {
                return Err(Refused { hr, message: message.to_string() });
            }
        }
        panic!("agent {}: unexpected line {:?}\nstderr:\n{}", self.name, line.text, self.stderr());
    }

    /// Sends `command` and returns its parsed answer.
    pub fn call(&mut self, command: &str) -> Result<String, Refused> {
        self.send(command);
        let line = self.reply();
        self.parse(&line)
    }

    /// Sends `command`; panics unless it succeeds. Returns the words after `ok`.
    pub fn ok(&mut self, command: &str) -> String {
        match self.call(command) {
            Ok(words) => words,
            Err(r) => panic!("agent {}: {command:?} failed: 0x{:08X} {}", self.name, r.hr, r.message),
        }
    }

    /// Removes and returns the first event (already received, or arriving within `deadline`)
    /// for which `matches` holds.
    pub fn event(&mut self, deadline: Duration, mut matches: impl FnMut(&Line) -> bool) -> Option<Line> {
        if let Some(i) = self.events.iter().position(&mut matches) {
            return self.events.remove(i);
        }
        let end = Instant::now() + deadline;
        loop {
            let line = self.next_line(end.saturating_duration_since(Instant::now()))?;
            if !line.text.starts_with("event ") {
                panic!("agent {}: an answer nobody asked for: {:?}", self.name, line.text);
            }
            if matches(&line) {
                return Some(line);
            }
            self.events.push_back(line);
        }
    }

    /// Every event received so far (removed from the agent).
    pub fn drain_events(&mut self) -> Vec<Line> {
        while let Ok(line) = self.lines.try_recv() {
            self.events.push_back(line);
        }
        self.events.drain(..).collect()
    }

    /// Kills the process with SIGKILL and reaps it; returns the instant just before the
    /// signal was sent.
    pub fn kill(&mut self) -> Instant {
        let at = Instant::now();
        self.child.kill().unwrap_or_else(|e| panic!("SIGKILL agent {}: {e}", self.name));
        let _ = self.child.wait();
        at
    }

    /// Sends `quit` and waits (at most `deadline`) for the process to exit 0.
    pub fn quit(mut self, deadline: Duration) {
        self.send("quit");
        drop(self.stdin.take());
        let mut status = None;
        let ended = crate::wait_until(deadline, || {
            status = self.child.try_wait().expect("try_wait");
            status.is_some()
        });
        assert!(ended, "agent {} still running {deadline:?} after quit\nstderr:\n{}", self.name, self.stderr());
        let status = status.expect("exited");
        assert!(status.success(), "agent {} exited with {status}\nstderr:\n{}", self.name, self.stderr());
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Nanoseconds since the Unix epoch on the real-time clock: the time base of the agents'
/// `at NS COMMAND` start barrier.
pub fn realtime_ns() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_nanos()
}

/// The process holding the transfer lock of the queue in `queue` (an exclusive `flock` on
/// `queue.lock`, DECISIONS D10), as `/proc/locks` shows it; None when nobody holds it.
pub fn holder_pid(queue: &Path) -> Option<u32> {
    let meta = std::fs::metadata(queue.join("queue.lock")).ok()?;
    let suffix = format!(":{}", meta.ino());
    let locks = std::fs::read_to_string("/proc/locks").expect("read /proc/locks");
    locks.lines().find_map(|l| {
        // "1: FLOCK  ADVISORY  WRITE 1234 fe:00:10010729 0 EOF"
        let f: Vec<&str> = l.split_whitespace().collect();
        let (kind, pid, dev_ino) = (f.get(1)?, f.get(4)?, f.get(5)?);
        (*kind == "FLOCK" && dev_ino.ends_with(&suffix)).then(|| pid.parse().ok()).flatten()
    })
}

/// Clock ticks per second of `/proc/<pid>/stat` times.
pub fn clock_ticks() -> u64 {
    let out = Command::new("getconf").arg("CLK_TCK").output().ok();
    out.and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok()).unwrap_or(100)
}

/// CPU time of a process so far (user + system, all threads), in clock ticks.
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/<pid>/stat");
    // The command name may hold spaces: fields are counted after its closing parenthesis.
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 (utime) and 15 (stime) of proc(5); `rest` starts at field 3.
    f[11].parse::<u64>().expect("utime") + f[12].parse::<u64>().expect("stime")
}

/// Context switches of all threads of a process so far: (voluntary, involuntary). A voluntary
/// switch is a wake-up after sleeping (timer, poll, lock).
pub fn context_switches(pid: u32) -> (u64, u64) {
    let mut total = (0, 0);
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return total };
    for task in tasks.flatten() {
        let Ok(status) = std::fs::read_to_string(task.path().join("status")) else { continue };
        for line in status.lines() {
            let value = |l: &str| l.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            if line.starts_with("voluntary_ctxt_switches:") {
                total.0 += value(line);
            } else if line.starts_with("nonvoluntary_ctxt_switches:") {
                total.1 += value(line);
            }
        }
    }
    total
}

/// Number of threads of a process.
pub fn thread_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task")).map(|d| d.count()).unwrap_or(0)
}

/// The `p`-th percentile (0–100, nearest rank) of `values` in milliseconds; 0 when empty.
pub fn percentile(values: &[Duration], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v: Vec<f64> = values.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
    v[rank.min(v.len()) - 1]
}

/// Median of `values` in milliseconds.
pub fn median(values: &[Duration]) -> f64 {
    percentile(values, 50.0)
}

/// The largest of `values` in milliseconds.
pub fn max_ms(values: &[Duration]) -> f64 {
    values.iter().map(|d| d.as_secs_f64() * 1000.0).fold(0.0, f64::max)
}

/// Status words of reference §3.4 (DECISIONS D3).
pub mod word {
    /// New or suspended: `QM_STATUS_GROUP_INCOMPLETE | QM_STATUS_GROUP_SUSPENDED`.
    pub const SUSPENDED: u32 = 0x180;
    /// Running.
    pub const RUNNING: u32 = 0x080;
    /// Stopped on a fatal error.
    pub const ERROR: u32 = 0x380;
    /// Complete.
    pub const COMPLETE: u32 = 0x140;
}

/// `QM_E_INVALID_STATE` as the C API returns it.
pub const QM_E_INVALID_STATE: u32 = 0x8100_1001;
/// `QMGR_E_INVALIDARG`.
pub const E_INVALIDARG: u32 = 0x8007_0057;

/// The options every multi-process test sets on its queue (through the first agent): no proxy
/// from the environment, a short retry delay, room for many groups at once.
pub const TEST_OPTIONS: [(&str, &str); 3] = [("proxy", ""), ("min_retry_delay_ms", "100"), ("max_active_groups", "64")];

/// Sets [`TEST_OPTIONS`] through `agent`.
pub fn set_test_options(agent: &mut Agent) {
    for (name, value) in TEST_OPTIONS {
        agent.ok(&format!("option {name} {value}"));
    }
}

/// The status word in an agent's answer to `status GUID` (`0xWORD JOBINDEX`).
pub fn status_word(answer: &str) -> u32 {
    let w = answer.split(' ').next().unwrap_or("");
    u32::from_str_radix(w.trim_start_matches("0x"), 16).unwrap_or_else(|_| panic!("not a status answer: {answer:?}"))
}

/// Runs `qmgr --queue QUEUE ARGS…` to its end (at most 60 s); panics unless it exits 0.
/// Returns its standard output.
pub fn cli(queue: &Path, args: &[&str]) -> String {
    let out = crate::run_ok(
        Command::new(crate::qmgr_bin()).arg("--queue").arg(queue).args(args).env("RUST_LOG", "warn"),
        Duration::from_secs(60),
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// `qmgr list --json`: (GUID, state name, display name) of every group, in creation order.
pub fn cli_list(queue: &Path) -> Vec<(String, String, String)> {
    let text = cli(queue, &["list", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("list --json: {e}: {text}"));
    v.as_array()
        .expect("a JSON array")
        .iter()
        .map(|g| {
            let s = |k: &str| g[k].as_str().unwrap_or_default().to_string();
            (s("id"), s("state"), s("display_name"))
        })
        .collect()
}

/// Names in `dir` that are temporary files of the queue (DECISIONS D4: `.…qmgr-part`).
pub fn temp_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.retain(|n| n.ends_with(".qmgr-part"));
    names.sort();
    names
}

/// Samples a value (a file's size, a server's byte counter…) every 2 ms on a thread of its
/// own and remembers when it last changed: "the transfer stopped" is the last change once the
/// value has stayed still long enough.
pub struct Sampler {
    state: std::sync::Arc<Mutex<(Option<u64>, Instant)>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    /// Starts sampling `read` (None: no value, e.g. the file does not exist).
    pub fn start(mut read: impl FnMut() -> Option<u64> + Send + 'static) -> Sampler {
        use std::sync::atomic::Ordering;
        let state = std::sync::Arc::new(Mutex::new((read(), Instant::now())));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (s, st) = (state.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !st.load(Ordering::SeqCst) {
                let v = read();
                let now = Instant::now();
                let mut g = s.lock().unwrap_or_else(PoisonError::into_inner);
                if g.0 != v {
                    *g = (v, now);
                }
                drop(g);
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        Sampler { state, stop, thread: Some(thread) }
    }

    /// The size of `path` (None while it does not exist).
    pub fn file_size(path: PathBuf) -> Sampler {
        Sampler::start(move || std::fs::metadata(&path).ok().map(|m| m.len()))
    }

    /// The current value and when it last changed.
    pub fn get(&self) -> (Option<u64>, Instant) {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits (at most `deadline`) until the value has not changed for `quiet`; returns when
    /// it last changed, or None on time-out.
    pub fn wait_still(&self, quiet: Duration, deadline: Duration) -> Option<Instant> {
        let mut last = None;
        crate::wait_until(deadline, || {
            let (_, at) = self.get();
            last = Some(at);
            at.elapsed() >= quiet
        })
        .then(|| last.expect("sampled"))
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Milliseconds of a duration, for reports.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
