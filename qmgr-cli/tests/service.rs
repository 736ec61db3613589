//! End-to-end tests of `qmgr service install | uninstall | status` (DECISIONS D13), each in a
//! test `HOME` and `XDG_CONFIG_HOME`, with a `PATH` that holds no real `systemctl`: none at
//! all, or a stand-in script that fails as `systemctl --user` does without a user service
//! manager (CI, containers), or one that succeeds and records its arguments. The real user
//! service manager is never reached, so the tests cannot touch the developer's own units.
//!
//! The runner is stood in for by this test process holding `runner.lock` (and `queue.lock`)
//! through `qmgr_rs::runner`, the same lock a `qmgr serve` takes.

mod support;

use qmgr_rs::runner::{RunnerLock, StartedBy};
use serde_json::Value;
use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};
use support::{qmgr, Ran, Running};

/// A test home: `home/`, `config/` (XDG_CONFIG_HOME), `bin/` (the whole PATH) and a queue.
struct Home {
    dir: tempfile::TempDir,
    queue: PathBuf,
}

impl Home {
    fn new() -> Home {
        Home::with_queue("queue")
    }

    /// A home whose queue directory is `name` inside it (not created).
    fn with_queue(name: &str) -> Home {
        let dir = tempfile::tempdir().unwrap();
        for d in ["home", "config", "bin"] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
        }
        let queue = dir.path().join(name);
        Home { dir, queue }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn unit(&self) -> PathBuf {
        self.path().join("config/systemd/user/qmgr.service")
    }

    /// `qmgr --queue QUEUE args…` in the test home, PATH = `bin/` only.
    fn cmd(&self, args: &[&str]) -> Command {
        self.cmd_on(&self.queue, args)
    }

    /// `qmgr --queue queue args…` in the test home, PATH = `bin/` only.
    fn cmd_on(&self, queue: &Path, args: &[&str]) -> Command {
        let mut full = vec!["--queue", queue.to_str().unwrap()];
        full.extend_from_slice(args);
        let mut c = qmgr(self.path(), &full);
        c.env("HOME", self.path().join("home"))
            .env("XDG_CONFIG_HOME", self.path().join("config"))
            .env("PATH", self.path().join("bin"))
            .env("USER", "tester")
            .current_dir(self.path());
        c
    }

    fn run(&self, args: &[&str]) -> Ran {
        Running::start(self.cmd(args)).finish()
    }

    fn ok(&self, args: &[&str]) -> Ran {
        let r = self.run(args);
        assert_eq!(r.code, Some(0), "{args:?}; stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
        r
    }

    fn status_json(&self) -> Value {
        let r = self.ok(&["service", "status", "--json"]);
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", r.stdout))
    }

    /// Puts an executable shell script `name` on the PATH.
    fn tool(&self, name: &str, script: &str) {
        let path = self.path().join("bin").join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// A `systemctl` that fails the way it does where `systemctl --user` is not reachable.
    fn unreachable_systemctl(&self) {
        self.tool("systemctl", "echo 'Failed to connect to bus: No medium found' >&2\nexit 1");
    }

    /// `systemctl` and `loginctl` that succeed and append their arguments to `calls.log`.
    fn recording_tools(&self) {
        let log = self.path().join("calls.log");
        for name in ["systemctl", "loginctl"] {
            self.tool(name, &format!("echo \"{name} $*\" >> '{}'", log.display()));
        }
    }

    fn calls(&self) -> Vec<String> {
        let text = std::fs::read_to_string(self.path().join("calls.log")).unwrap_or_default();
        text.lines().map(str::to_string).collect()
    }

    fn canonical_queue(&self) -> PathBuf {
        self.queue.canonicalize().expect("the queue directory exists")
    }
}

/// The absolute path of the `qmgr` binary under test.
fn qmgr_bin() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_qmgr")).canonicalize().unwrap()
}

/// Checks the unit written for `home`'s queue, its `ExecStart` being `exec_queue` as written.
fn check_unit(home: &Home, exec_queue: &str) {
    let text = std::fs::read_to_string(home.unit()).expect("the unit is written");
    let exec = format!("ExecStart={} --queue {exec_queue} serve --started-by unit", qmgr_bin().display());
    assert!(text.lines().any(|l| l == exec), "want the line {exec}:\n{text}");
    for line in [
        "[Unit]",
        "[Service]",
        "Restart=on-failure",
        "KillSignal=SIGTERM",
        "Environment=RUST_LOG=info",
        "[Install]",
        "WantedBy=default.target",
    ] {
        assert!(text.lines().any(|l| l == line), "want the line {line}:\n{text}");
    }
    assert!(text.starts_with("# "), "a comment header:\n{text}");
    assert!(text.contains("Written by `qmgr service install`"), "{text}");
    let mode = std::fs::metadata(home.unit()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644);
}

#[test]
fn install_without_systemctl_writes_the_unit_and_exits_4() {
    let home = Home::new();
    let r = home.run(&["service", "install"]);
    assert_eq!(r.code, Some(4), "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    let unit = home.unit().display().to_string();
    assert!(r.stderr.starts_with("error: the unit "), "{}", r.stderr);
    for needle in [
        unit.as_str(),
        "is written, but it is not enabled",
        "`systemctl` is not on PATH",
        "No user service manager is reachable",
    ] {
        assert!(r.stderr.contains(needle), "want {needle:?} in:\n{}", r.stderr);
    }
    check_unit(&home, home.canonical_queue().to_str().unwrap());
}

#[test]
fn install_where_systemctl_user_is_unreachable_says_so() {
    let home = Home::new();
    home.unreachable_systemctl();
    let r = home.run(&["service", "install", "--linger"]);
    assert_eq!(r.code, Some(4), "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    for needle in [
        home.unit().to_str().unwrap(),
        "`systemctl --user daemon-reload` failed",
        "Failed to connect to bus: No medium found",
        "No user service manager is reachable",
    ] {
        assert!(r.stderr.contains(needle), "want {needle:?} in:\n{}", r.stderr);
    }
    check_unit(&home, home.canonical_queue().to_str().unwrap());
    // The unit is installed for this queue, though nothing runs it.
    let s = home.status_json();
    assert_eq!(s["unit"]["installed"], true);
    assert_eq!(s["unit"]["serves_this_queue"], true);
    assert_eq!(s["runner"], Value::Null);
}

#[test]
fn install_enables_and_starts_the_unit_when_a_manager_answers() {
    let home = Home::new();
    home.recording_tools();
    let r = home.ok(&["service", "install", "--linger"]);
    assert!(r.stdout.contains("enabled and started qmgr.service"), "{}", r.stdout);
    assert!(r.stdout.contains("lingering enabled"), "{}", r.stdout);
    assert_eq!(
        home.calls(),
        [
            "systemctl --user daemon-reload",
            "systemctl --user enable --now qmgr.service",
            "loginctl enable-linger tester"
        ]
    );
    // The same unit again: nothing to restart. Another queue: the running unit is restarted.
    home.ok(&["service", "install"]);
    assert_eq!(home.calls().len(), 5, "{:?}", home.calls());
    let other = home.path().join("other queue");
    let r = Running::start(home.cmd_on(&other, &["service", "install"])).finish();
    assert_eq!(r.code, Some(0), "stderr:\n{}", r.stderr);
    assert!(
        r.stdout.contains(&format!("it served the queue {} before", home.canonical_queue().display())),
        "{}",
        r.stdout
    );
    assert_eq!(home.calls().last().unwrap(), "systemctl --user try-restart qmgr.service");
    check_unit(&home, &format!("\"{}\"", other.canonicalize().unwrap().display()));
    home.ok(&["service", "uninstall"]);
    assert_eq!(
        &home.calls()[home.calls().len() - 2..],
        ["systemctl --user disable --now qmgr.service", "systemctl --user daemon-reload"]
    );
}

#[test]
fn install_quotes_a_queue_path_with_spaces_and_status_reads_it_back() {
    let home = Home::with_queue("my queue 100%");
    let r = home.run(&["service", "install"]);
    assert_eq!(r.code, Some(4), "stderr:\n{}", r.stderr);
    check_unit(&home, &format!("\"{}\"", home.canonical_queue().display().to_string().replace('%', "%%")));
    let s = home.status_json();
    assert_eq!(s["unit"]["queue"], home.canonical_queue().to_str().unwrap());
    assert_eq!(s["unit"]["serves_this_queue"], true);
}

#[test]
fn uninstall_removes_the_unit() {
    let home = Home::new();
    home.unreachable_systemctl();
    assert_eq!(home.run(&["service", "install"]).code, Some(4));
    assert!(home.unit().is_file());
    let r = home.ok(&["service", "uninstall"]);
    assert!(!home.unit().exists(), "the unit is gone");
    assert!(r.stdout.contains(&format!("removed {}", home.unit().display())), "{}", r.stdout);
    assert!(r.stderr.contains("note: `systemctl --user disable --now qmgr.service` failed"), "{}", r.stderr);
    let r = home.ok(&["service", "uninstall"]);
    assert!(r.stdout.contains("no unit installed"), "{}", r.stdout);
}

#[test]
fn status_without_a_runner_says_none() {
    let home = Home::new();
    let r = home.ok(&["service", "status"]);
    assert!(r.stdout.contains("runner:    none"), "{}", r.stdout);
    assert!(r.stdout.contains("does not exist yet"), "{}", r.stdout);
    assert!(r.stdout.contains("unit:      not installed"), "{}", r.stdout);
    assert!(!home.queue.exists(), "status neither creates nor opens the queue");
    std::fs::create_dir(&home.queue).unwrap();
    let s = home.status_json();
    assert_eq!(s["queue"], home.canonical_queue().to_str().unwrap());
    assert_eq!(s["queue_exists"], true);
    assert_eq!(s["runner"], Value::Null);
    assert_eq!(s["unit"]["installed"], false);
    assert_eq!(s["unit"]["queue"], Value::Null);
    assert_eq!(s["transfer_lock"]["held"], false);
    assert_eq!(s["transfer_lock"]["pid"], Value::Null);
    assert_eq!(std::fs::read_dir(&home.queue).unwrap().count(), 0, "status writes nothing into the queue");
}

#[test]
fn status_reports_the_runner_holding_the_lock() {
    let home = Home::new();
    std::fs::create_dir(&home.queue).unwrap();
    let me = std::process::id();
    let before = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    // This process stands in for a `qmgr serve` started by hand: runner.lock, then queue.lock.
    let runner = RunnerLock::try_acquire(&home.queue, StartedBy::Serve).unwrap().expect("runner.lock is free");
    let transfers = File::create(home.queue.join(qmgr_rs::LOCK_FILE_NAME)).unwrap();
    transfers.try_lock().expect("queue.lock is free");

    let s = home.status_json();
    assert_eq!(s["runner"]["pid"], me);
    assert_eq!(s["runner"]["started_by"], "serve");
    let since = s["runner"]["since"].as_u64().unwrap();
    assert!((before..=before + 60).contains(&since), "since {since}, before {before}");
    assert!(s["runner"]["since_utc"].as_str().unwrap().ends_with('Z'), "{s}");
    assert!(s["runner"]["running_secs"].as_u64().unwrap() < 60, "{s}");
    assert_eq!(s["transfer_lock"]["held"], true);
    assert_eq!(s["transfer_lock"]["pid"], me, "from /proc/locks");
    let r = home.ok(&["service", "status"]);
    assert!(r.stdout.contains(&format!("runner:    pid {me}, since ")), "{}", r.stdout);
    assert!(r.stdout.contains("started by hand (a `qmgr serve`)"), "{}", r.stdout);
    assert!(r.stdout.contains(&format!("transfers: run by the runner (pid {me})")), "{}", r.stdout);

    // Released: none; taken again as the unit's runner, without the transfer lock.
    drop(runner);
    drop(transfers);
    assert_eq!(home.status_json()["runner"], Value::Null);
    let _unit = RunnerLock::try_acquire(&home.queue, StartedBy::Unit).unwrap().expect("free again");
    let s = home.status_json();
    assert_eq!(s["runner"]["started_by"], "unit");
    assert_eq!(s["transfer_lock"]["held"], false);
    let r = home.ok(&["service", "status"]);
    assert!(r.stdout.contains("started by the systemd unit"), "{}", r.stdout);
    assert!(r.stdout.contains("transfers: no process holds the queue's transfer lock"), "{}", r.stdout);
}
