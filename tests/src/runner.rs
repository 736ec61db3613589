//! Support for the tests of the background runner (`tests/tests/runner.rs`; DECISIONS D13):
//! the processes that serve a queue as the kernel sees them (`/proc/<pid>/cmdline`, the
//! `flock`s of `/proc/locks`), commands that may start a runner, and a scene that kills every
//! process of its queues and removes its directory when the test ends, passed or failed.
//!
//! Everything is read from the kernel, not from the library: the holder of `runner.lock` is
//! the process `/proc/locks` names, and a process counts as running until it has exited (a
//! zombie, which an init that does not reap orphans may keep around, has exited).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::{qmgr_bin, wait_until};

/// The runner lock file of a queue directory (DECISIONS D13).
pub const RUNNER_LOCK: &str = "runner.lock";
/// The transfer lock file of a queue directory (DECISIONS D10).
pub const QUEUE_LOCK: &str = "queue.lock";
/// The log of autostarted runners in a queue directory.
pub const SERVE_LOG: &str = "serve.log";

/// Environment variables that would send the library's HTTP requests to a proxy: removed from
/// every process the runner tests start (and so from the runners these start), which fetch
/// from 127.0.0.1 only.
const PROXY_VARIABLES: [&str; 8] =
    ["http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"];

/// Sets the environment that decides whether a process started by a test may start a runner:
/// `QMGR_AUTOSTART` (`1` or `0`; the suites run with `0`, DECISIONS D13), `QMGR_BIN` (the
/// built `qmgr`), no proxy, and no `RUST_LOG` (an autostarted runner then logs at `info` into
/// `serve.log`).
pub fn runner_env(cmd: &mut Command, autostart: bool) -> &mut Command {
    cmd.env("QMGR_AUTOSTART", if autostart { "1" } else { "0" }).env("QMGR_BIN", qmgr_bin()).env_remove("RUST_LOG");
    for name in PROXY_VARIABLES {
        cmd.env_remove(name);
    }
    cmd
}

/// `qmgr --queue QUEUE` with [`runner_env`].
pub fn qmgr(queue: &Path, autostart: bool) -> Command {
    let mut cmd = Command::new(qmgr_bin());
    cmd.arg("--queue").arg(queue);
    runner_env(&mut cmd, autostart);
    cmd
}

/// Whether process `pid` exists and has not exited (a zombie has).
pub fn alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    // The state is the first field after the command name, which may hold spaces.
    let state = stat.rfind(')').and_then(|i| stat[i + 1..].split_whitespace().next());
    !matches!(state, None | Some("Z") | Some("X"))
}

/// The arguments of every running process (pid, argv), read from `/proc/*/cmdline`.
/// Processes that end while being read are left out; zombies have no arguments.
pub fn processes() -> Vec<(u32, Vec<String>)> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else { continue };
        if raw.is_empty() {
            continue;
        }
        let argv: Vec<String> =
            raw.split(|b| *b == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        found.push((pid, argv));
    }
    found
}

/// Processes (pid, argv) other than this one with an argument that is `dir` or a path under
/// it: the `qmgr` commands and runners of a test's queues, which live under a directory of
/// their own.
pub fn processes_under(dir: &Path) -> Vec<(u32, Vec<String>)> {
    let dir = dir.to_string_lossy().into_owned();
    let inside = |a: &String| a == &dir || a.strip_prefix(&dir).is_some_and(|rest| rest.starts_with('/'));
    let me = std::process::id();
    processes().into_iter().filter(|(pid, argv)| *pid != me && argv.iter().any(inside) && alive(*pid)).collect()
}

/// Pids of the running `qmgr … serve` processes of the queue in `queue` (`--queue QUEUE`
/// and `serve` among their arguments), in ascending order.
pub fn runner_pids(queue: &Path) -> Vec<u32> {
    let q = queue.to_string_lossy().into_owned();
    let mut pids: Vec<u32> = processes()
        .into_iter()
        .filter(|(pid, argv)| {
            argv.windows(2).any(|w| w[0] == "--queue" && w[1] == q) && argv.iter().any(|a| a == "serve") && alive(*pid)
        })
        .map(|(pid, _)| pid)
        .collect();
    pids.sort_unstable();
    pids
}

/// The process holding an exclusive `flock` on `file`, as `/proc/locks` shows it; None when
/// nobody holds it (or the file does not exist).
pub fn flock_holder(file: &Path) -> Option<u32> {
    let meta = std::fs::metadata(file).ok()?;
    let suffix = format!(":{}", meta.ino());
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    locks.lines().find_map(|l| {
        // "1: FLOCK  ADVISORY  WRITE 1234 fe:00:10010729 0 EOF"; a waiter's line has "->"
        // in the second field and is skipped.
        let f: Vec<&str> = l.split_whitespace().collect();
        let (kind, mode, pid, dev_ino) = (f.get(1)?, f.get(3)?, f.get(4)?, f.get(5)?);
        (*kind == "FLOCK" && *mode == "WRITE" && dev_ino.ends_with(&suffix)).then(|| pid.parse().ok()).flatten()
    })
}

/// The process holding the runner lock of the queue in `queue` (DECISIONS D13).
pub fn runner_lock_holder(queue: &Path) -> Option<u32> {
    flock_holder(&queue.join(RUNNER_LOCK))
}

/// The process holding the transfer lock of the queue in `queue` (DECISIONS D10).
pub fn queue_lock_holder(queue: &Path) -> Option<u32> {
    flock_holder(&queue.join(QUEUE_LOCK))
}

/// The `key=value` lines of `runner.lock` (`pid`, `since`, `started_by`), as written by its
/// holder; empty when the file is missing.
pub fn runner_lock_content(queue: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(queue.join(RUNNER_LOCK)).unwrap_or_default();
    text.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// One value of [`runner_lock_content`].
pub fn runner_lock_value(queue: &Path, key: &str) -> Option<String> {
    runner_lock_content(queue).into_iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// A `Vm…` line of `/proc/<pid>/status` (`VmRSS`, `VmHWM`…) in KiB.
pub fn vm_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.strip_prefix(field).is_some_and(|r| r.starts_with(':')))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Sends SIGKILL to `pid` (ignoring a process that is already gone).
pub fn sigkill(pid: u32) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
    }
}

/// Waits (at most `deadline`) until process `pid` has exited; returns when that was seen,
/// or None on time-out. Polls every 2 ms.
pub fn wait_exit(pid: u32, deadline: Duration) -> Option<Instant> {
    let end = Instant::now() + deadline;
    loop {
        if !alive(pid) {
            return Some(Instant::now());
        }
        if Instant::now() >= end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The directory of one test: its queues, destinations and document roots live under it. When
/// dropped — the test passed or failed — it kills (SIGKILL) every process that has an argument
/// under it (runners, `qmgr` commands; all started by this test, directly or through the
/// library's autostart) and every holder of a `runner.lock` of its queues, waits for them to be
/// gone, and removes the directory. On failure it
/// prints the `serve.log` of every queue first.
pub struct Scene {
    root: PathBuf,
    _dir: tempfile::TempDir,
}

impl Scene {
    /// A new scene in a fresh temporary directory (its canonical path: the launcher names
    /// queues by their canonical path, and [`runner_pids`] compares arguments as text).
    pub fn new(name: &str) -> Scene {
        let dir = tempfile::Builder::new().prefix(&format!("qmgr-runner-{name}-")).tempdir().expect("scene directory");
        let root = dir.path().canonicalize().expect("canonical scene directory");
        Scene { root, _dir: dir }
    }

    /// The scene's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `root/name`, created (with its parents).
    pub fn dir(&self, name: &str) -> PathBuf {
        let d = self.root.join(name);
        std::fs::create_dir_all(&d).expect("create a scene directory");
        d
    }

    /// `root/name`, not created (a queue directory, which the library creates).
    pub fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// The `serve.log` of every queue of the scene, for failure messages.
    pub fn serve_logs(&self) -> String {
        let mut out = String::new();
        let mut stack = vec![self.root.clone()];
        while let Some(d) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else { continue };
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(SERVE_LOG)) {
                    let text = std::fs::read_to_string(&p).unwrap_or_default();
                    let tail: String = text.lines().rev().take(60).collect::<Vec<_>>().into_iter().rev().fold(
                        String::new(),
                        |mut s, l| {
                            s.push_str(l);
                            s.push('\n');
                            s
                        },
                    );
                    out.push_str(&format!("--- {} (last 60 lines) ---\n{tail}", p.display()));
                }
            }
        }
        out
    }

    /// The holders of the `runner.lock` files of the scene's queues (its directory and the
    /// directories in it).
    pub fn runner_lock_holders(&self) -> Vec<u32> {
        let mut dirs = vec![self.root.clone()];
        if let Ok(entries) = std::fs::read_dir(&self.root) {
            dirs.extend(entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
        }
        let me = std::process::id();
        dirs.iter().filter_map(|d| runner_lock_holder(d)).filter(|p| *p != me).collect()
    }

    /// Kills every process of the scene (see the type) and the holders of its runner locks,
    /// and waits for them to be gone.
    pub fn kill_all(&self) {
        for _ in 0..5 {
            let mut pids: Vec<u32> = processes_under(&self.root).into_iter().map(|(pid, _)| pid).collect();
            pids.extend(self.runner_lock_holders());
            pids.retain(|p| alive(*p));
            if pids.is_empty() {
                return;
            }
            for pid in &pids {
                sigkill(*pid);
            }
            wait_until(Duration::from_secs(5), || pids.iter().all(|pid| !alive(*pid)));
        }
    }
}

impl Drop for Scene {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let left = processes_under(&self.root);
            eprintln!("scene {}: processes still running: {left:?}\n{}", self.root.display(), self.serve_logs());
        }
        self.kill_all();
    }
}

/// SplitMix64: a small seeded generator for test content and timing jitter.
#[derive(Clone, Debug)]
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..hi` (`hi > lo`).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo)
    }

    /// `len` random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(len + 8);
        while v.len() < len {
            v.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        v.truncate(len);
        v
    }
}

/// A seed from the clock, or from the environment variable `var` when set (printed by the
/// tests, so that a failing schedule can be replayed).
pub fn seed(var: &str) -> u64 {
    std::env::var(var).ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock after 1970").as_nanos() as u64
    })
}
