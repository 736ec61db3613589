//! `qmgr service install | uninstall | status`: the systemd user unit that keeps a background
//! runner serving the queue from login (and from boot, with lingering), and what serves a
//! queue now (DECISIONS D13).
//!
//! The unit runs `qmgr --queue DIR serve --started-by unit` from the absolute path of the
//! running binary, so that no hand edit is needed. A runner it starts holds `runner.lock` for
//! as long as it runs, so the library never autostarts another one beside it. `status` reads
//! the queue's lock files only: it never opens the queue, which could start a runner itself.

use crate::exit::{CmdResult, Exit, Failure};
use crate::queue::QueueTarget;
use crate::show::pretty;
use crate::watch::duration_text;
use clap::Subcommand;
use qmgr_rs::runner::{probe, RunnerInfo, StartedBy};
use qmgr_rs::runner::{unit_dir, unit_queue, unit_word, UNIT_NAME};
use serde_json::json;
use std::fs::{File, TryLockError};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The actions of `qmgr service`.
#[derive(Debug, Subcommand)]
pub enum Action {
    /// Write the systemd user unit for this queue, then enable and start it.
    ///
    /// The unit runs `qmgr --queue DIR serve --started-by unit` from this binary's absolute
    /// path; it is written even when no user service manager is reachable (then the command
    /// says so and exits 4).
    #[command(after_help = "\
Examples:
  qmgr service install
  qmgr --queue /data/queue service install --linger

The unit is $XDG_CONFIG_HOME/systemd/user/qmgr.service (default: ~/.config/systemd/user).
It runs `systemctl --user daemon-reload` and `systemctl --user enable --now qmgr.service`;
with --linger also `loginctl enable-linger $USER`. Run it again after moving the qmgr binary.")]
    Install {
        /// Also run `loginctl enable-linger`: the runner starts at boot and goes on after logout.
        #[arg(long)]
        linger: bool,
    },

    /// Stop and disable the unit (`systemctl --user disable --now`), then remove it.
    Uninstall,

    /// Whether a runner serves the queue (its PID, since when, how it was started), whether the
    /// unit is installed and for which queue, and which process runs the transfers.
    #[command(after_help = "\
Examples:
  qmgr service status
  qmgr --queue /data/queue service status --json

Reads the queue's lock files only (runner.lock, queue.lock): it never opens the queue.")]
    Status {
        /// Print a JSON object instead of text (keys in the README).
        #[arg(long)]
        json: bool,
    },
}

/// Runs one `qmgr service` action on the queue of `target`.
pub fn run(target: &QueueTarget, action: Action) -> CmdResult {
    match action {
        Action::Install { linger } => install(target, linger),
        Action::Uninstall => uninstall(),
        Action::Status { json } => status(target, json),
    }
}

/// The unit's text from `[Unit]` on, with `exec` as the `ExecStart=` value (already quoted for
/// systemd): the one text of both the unit `qmgr service install` writes and the one `make
/// install` installs ([`packaged_unit`]), each with its own header.
fn unit_body(exec: &str) -> String {
    format!(
        "\
[Unit]
Description=qmgr background download queue (runner)

[Service]
Type=simple
ExecStart={exec}
# SIGTERM: running transfers are checkpointed; they continue at the next start.
KillSignal=SIGTERM
Restart=on-failure
RestartSec=5
Environment=RUST_LOG=info

[Install]
WantedBy=default.target
"
    )
}

/// The comment heading a unit written by `qmgr service install`.
fn unit_header(queue: &Path) -> String {
    format!(
        "\
# qmgr.service: the systemd user unit of the background runner of the qmgr queue
# {queue}
# (DECISIONS D13). Written by `qmgr service install` (qmgr {version}): do not edit it;
# run `qmgr --queue DIR service install` again to rewrite it (for instance after moving the
# qmgr binary), `qmgr service uninstall` to remove it, `qmgr service status` to see what serves
# the queue.
",
        queue = queue.display(),
        version = env!("CARGO_PKG_VERSION"),
    )
}

/// The systemd user unit that `make install` installs as `$PREFIX/lib/systemd/user/qmgr.service`
/// (`qmgr __generate unit BIN`): the same unit as `qmgr service install` writes, for the
/// user's default queue (no `--queue`: `$QMGR_HOME`, else `$XDG_STATE_HOME/qmgr`, else
/// `~/.local/state/qmgr`, as every command resolves it), run from `bin`, the installed binary.
///
/// Errors (exit code 2): a path systemd cannot carry (not UTF-8, a control character).
pub fn packaged_unit(bin: &Path) -> Result<String, Failure> {
    let header = "\
# qmgr.service: the systemd user unit of the background runner of the user's default qmgr
# queue (DECISIONS D13), installed with qmgr by `make install`. Enable it per user with
#   systemctl --user enable --now qmgr.service
# `qmgr service install` writes a unit of the same name into ~/.config/systemd/user instead
# (for another queue, or another binary), which takes precedence over this one.
";
    Ok(format!("{header}{}", unit_body(&exec_start(bin, None)?)))
}

/// The `ExecStart=` value of the unit: `BIN [--queue DIR] serve --started-by unit`, each path
/// quoted for systemd (no `--queue`: the default queue of the user running it).
///
/// Errors (exit code 2): a path systemd cannot carry (not UTF-8, a control character).
fn exec_start(bin: &Path, queue: Option<&Path>) -> Result<String, Failure> {
    let word = |path: &Path, what: &str| {
        path.to_str().and_then(unit_word).ok_or_else(|| {
            Failure::usage(format!(
                "the {what} {} cannot be written in a systemd unit (it is not UTF-8 or holds a control \
                 character); use another path",
                path.display()
            ))
        })
    };
    let queue = match queue {
        Some(dir) => format!(" --queue {}", word(dir, "queue directory")?),
        None => String::new(),
    };
    Ok(format!("{}{queue} serve --started-by unit", word(bin, "qmgr binary")?))
}

/// `<unit_dir()>/qmgr.service`.
///
/// Errors (exit code 4): neither `XDG_CONFIG_HOME` (absolute) nor `HOME` is set.
fn unit_path() -> Result<PathBuf, Failure> {
    unit_dir().map(|d| d.join(UNIT_NAME)).ok_or_else(|| {
        Failure::service_unavailable(
            "no directory for systemd user units: neither XDG_CONFIG_HOME (an absolute path) nor HOME is set",
        )
    })
}

/// Writes `text` to `path` (mode 0644) through a temporary file renamed over it, so that the
/// service manager never reads half a unit; creates the directory when missing.
///
/// Errors (exit code 4): naming the path and the cause.
fn write_unit(path: &Path, text: &str) -> Result<(), Failure> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    let tmp = dir.join(format!(".{UNIT_NAME}.{}.tmp", std::process::id()));
    let failed = |what: &str, p: &Path, e: std::io::Error| {
        Failure::service_unavailable(format!("cannot {what} {}: {e}", p.display()))
    };
    std::fs::create_dir_all(dir).map_err(|e| failed("create", dir, e))?;
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(&tmp)
        .and_then(|mut f| f.write_all(text.as_bytes()).and_then(|()| f.sync_all()));
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(failed("write", path, e));
    }
    Ok(())
}

/// Runs `program args…` to its end, its output captured (standard input inherited, so that a
/// password prompt of `loginctl` still works). `Err` says what failed, for a message: not
/// on `PATH`, could not start, or its exit status and standard error.
fn run_tool(program: &str, args: &[&str]) -> Result<(), String> {
    let line = std::iter::once(program).chain(args.iter().copied()).collect::<Vec<_>>().join(" ");
    let out = Command::new(program).args(args).stdin(Stdio::inherit()).output();
    match out {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(format!("`{program}` is not on PATH")),
        Err(e) => Err(format!("`{line}` could not be started: {e}")),
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => {
            let stderr = String::from_utf8_lossy(&o.stderr);
            let stderr = stderr.trim();
            match stderr.is_empty() {
                true => Err(format!("`{line}` failed ({})", o.status)),
                false => Err(format!("`{line}` failed ({}): {stderr}", o.status)),
            }
        }
    }
}

/// `systemctl --user args…` (see [`run_tool`]).
fn systemctl(args: &[&str]) -> Result<(), String> {
    let mut all = vec!["--user"];
    all.extend_from_slice(args);
    run_tool("systemctl", &all)
}

/// `qmgr service install [--linger]`: writes the unit for the queue (creating the queue
/// directory when missing), reloads the user service manager, enables and starts the unit
/// (restarting it when an older content of the unit may be running), and with `linger`
/// enables lingering.
///
/// Errors: exit 2 for a path systemd cannot carry; exit 4 when the unit cannot be written, or
/// when it is written but `systemctl --user` (or `loginctl`) is missing or fails (no user
/// service manager: a container, CI): the message names the unit and what failed.
fn install(target: &QueueTarget, linger: bool) -> CmdResult {
    let unit = unit_path()?;
    let queue = target.dir(true)?;
    let bin = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .map_err(|e| Failure::service_unavailable(format!("cannot find the path of the running qmgr binary: {e}")))?;
    let exec = exec_start(&bin, Some(&queue))?;
    let text = format!("{}{}", unit_header(&queue), unit_body(&exec));
    let before = std::fs::read_to_string(&unit).ok();
    let served_before = unit_queue(&unit).filter(|q| q.canonicalize().ok().as_ref() != Some(&queue));
    write_unit(&unit, &text)?;
    println!("wrote {} (queue {})", unit.display(), queue.display());
    if let Some(other) = served_before {
        println!("note: it served the queue {} before", other.display());
    }
    let mut steps: Vec<&[&str]> = vec![&["daemon-reload"], &["enable", "--now", UNIT_NAME]];
    if before.is_some_and(|b| b != text) {
        steps.push(&["try-restart", UNIT_NAME]);
    }
    for (i, step) in steps.into_iter().enumerate() {
        systemctl(step).map_err(|why| {
            // The first call failing means no user service manager answers; a later one, that
            // it refused the unit.
            let hint = match i {
                0 => format!(
                    "No user service manager is reachable (no systemd user instance: a container, CI, a \
                     session without one). In a session with one, run `systemctl --user daemon-reload && \
                     systemctl --user enable --now {UNIT_NAME}` (or this command again)"
                ),
                _ => format!("See `systemctl --user status {UNIT_NAME}` and `journalctl --user -u {UNIT_NAME}`"),
            };
            Failure::service_unavailable(format!(
                "the unit {} is written, but it is not enabled and started: {why}. {hint}; until then, queued \
                 work is carried on by a runner started on demand (option autostart)",
                unit.display()
            ))
        })?;
    }
    println!("enabled and started {UNIT_NAME}: a runner serves the queue from now on, and at each login");
    if linger {
        let user = std::env::var("USER").ok().filter(|u| !u.is_empty());
        let mut args = vec!["enable-linger"];
        args.extend(user.as_deref());
        run_tool("loginctl", &args).map_err(|why| {
            Failure::service_unavailable(format!(
                "{UNIT_NAME} is enabled, but lingering is not: {why}; the runner starts at login only"
            ))
        })?;
        println!("lingering enabled: the runner also starts at boot and goes on after logout");
    }
    Ok(Exit::Success)
}

/// `qmgr service uninstall`: `systemctl --user disable --now qmgr.service` (when that fails,
/// says so and goes on), then removes the unit. Exit 0 once the unit is gone (also when there
/// was none).
///
/// Errors (exit code 4): no directory for units, or the unit cannot be removed.
fn uninstall() -> CmdResult {
    let unit = unit_path()?;
    if std::fs::symlink_metadata(&unit).is_err() {
        println!("no unit installed ({} does not exist)", unit.display());
        return Ok(Exit::Success);
    }
    if let Err(why) = systemctl(&["disable", "--now", UNIT_NAME]) {
        eprintln!("note: {why}; no user service manager stopped the unit (none is reachable, or it had not loaded it)");
    }
    std::fs::remove_file(&unit)
        .map_err(|e| Failure::service_unavailable(format!("cannot remove {}: {e}", unit.display())))?;
    // Let a reachable manager forget the unit; when none is, there is nothing to tell.
    let _ = systemctl(&["daemon-reload"]);
    println!("removed {}", unit.display());
    Ok(Exit::Success)
}

/// Who holds the queue's transfer lock (`queue.lock`; DECISIONS D10).
#[derive(Debug)]
struct TransferLock {
    /// Some process holds it (never this one: `status` does not open the queue).
    held: bool,
    /// Its PID, from `/proc/locks`, when the kernel shows it.
    pid: Option<u32>,
}

/// Whether a process holds the transfer lock of queue directory `dir`, probed like
/// `runner::probe` does (a shared lock taken for an instant when free, so it never
/// blocks), and its PID when `/proc/locks` tells.
///
/// Errors (exit code 4): the lock file exists but cannot be opened or probed.
fn transfer_lock(dir: &Path) -> Result<TransferLock, Failure> {
    let path = dir.join(qmgr_rs::LOCK_FILE_NAME);
    let failed = |e: std::io::Error| Failure::service_unavailable(format!("cannot probe {}: {e}", path.display()));
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(TransferLock { held: false, pid: None }),
        Err(e) => return Err(failed(e)),
    };
    match file.try_lock_shared() {
        Ok(()) => Ok(TransferLock { held: false, pid: None }),
        Err(TryLockError::WouldBlock) => Ok(TransferLock { held: true, pid: lock_holder(&file) }),
        Err(TryLockError::Error(e)) => Err(failed(e)),
    }
}

/// The PID holding a lock on `file`'s inode according to `/proc/locks` (lines like
/// `1: FLOCK  ADVISORY  WRITE 4242 fe:00:1234 0 EOF`, waiters marked `->` skipped); `None`
/// when it is not listed (another PID namespace) or cannot be read.
fn lock_holder(file: &File) -> Option<u32> {
    let meta = file.metadata().ok()?;
    let dev = meta.dev();
    // The kernel's MAJOR/MINOR of a 64-bit dev_t, as glibc's gnu_dev_major/minor compute them.
    let major = ((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0xfff);
    let minor = ((dev >> 12) & 0xffff_ff00) | (dev & 0xff);
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    locks.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.get(1) == Some(&"->") {
            return None;
        }
        let mut id = fields.get(5)?.split(':');
        let same = u64::from_str_radix(id.next()?, 16).ok()? == major
            && u64::from_str_radix(id.next()?, 16).ok()? == minor
            && id.next()?.parse::<u64>().ok()? == meta.ino();
        same.then(|| fields[4].parse().ok()).flatten()
    })
}

/// `secs` since the Unix epoch in RFC 3339, UTC (`YYYY-MM-DDTHH:MM:SSZ`), by `jiff`.
fn utc_text(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .map_or_else(|| format!("{secs} s after the epoch"), |t| t.to_string())
}

/// How the runner was started, for people.
fn started_by_text(by: Option<StartedBy>) -> &'static str {
    match by {
        Some(StartedBy::Unit) => "by the systemd unit (qmgr service install)",
        Some(StartedBy::Autostart) => "by autostart (work was queued; it leaves when idle)",
        Some(StartedBy::Serve) => "by hand (a `qmgr serve`)",
        None => "in an unknown way (runner.lock does not say)",
    }
}

/// `qmgr service status [--json]`: see [`Action::Status`]. Exit 0 whenever it could look,
/// whatever it found; the queue directory is neither created nor opened.
///
/// Errors (exit code 4): no queue directory can be named, or a lock file exists but cannot be
/// read.
fn status(target: &QueueTarget, as_json: bool) -> CmdResult {
    let queue = target.dir(false)?;
    let exists = queue.is_dir();
    let runner: Option<RunnerInfo> = match exists {
        true => probe(&queue).map_err(|e| Failure::unavailable(&e))?,
        false => None,
    };
    let transfers = match exists {
        true => transfer_lock(&queue)?,
        false => TransferLock { held: false, pid: None },
    };
    let unit = unit_dir().map(|d| d.join(UNIT_NAME));
    let installed = unit.as_deref().is_some_and(Path::is_file);
    let unit_serves = unit.as_deref().and_then(unit_queue);
    let serves_this = unit_serves.as_ref().is_some_and(|q| q.canonicalize().ok().as_ref() == Some(&queue));
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());

    if as_json {
        let runner = runner.as_ref().map(|r| {
            json!({
                "pid": r.pid,
                "since": r.since,
                "since_utc": utc_text(r.since),
                "running_secs": now.saturating_sub(r.since),
                "started_by": r.started_by.map(StartedBy::name),
            })
        });
        let unit = unit.as_ref().map(|path| {
            json!({
                "path": path.display().to_string(),
                "installed": installed,
                "queue": unit_serves.as_ref().map(|q| q.display().to_string()),
                "serves_this_queue": serves_this,
            })
        });
        let out = json!({
            "queue": queue.display().to_string(),
            "queue_exists": exists,
            "runner": runner,
            "unit": unit,
            "transfer_lock": { "held": transfers.held, "pid": transfers.pid },
        });
        println!("{}", pretty(&out));
        return Ok(Exit::Success);
    }

    let missing = if exists { "" } else { " (does not exist yet)" };
    println!("queue:     {}{missing}", queue.display());
    match &runner {
        Some(r) => println!(
            "runner:    pid {}, since {} ({} ago, {}), started {}",
            r.pid,
            utc_text(r.since).replace('T', " ").replace('Z', " UTC"),
            duration_text(Duration::from_secs(now.saturating_sub(r.since))),
            r.since,
            started_by_text(r.started_by)
        ),
        None => println!("runner:    none (no process holds runner.lock)"),
    }
    match (&unit, &unit_serves) {
        (None, _) => println!("unit:      none (no directory for user units: HOME and XDG_CONFIG_HOME are not set)"),
        (Some(path), _) if !installed => {
            println!("unit:      not installed ({} does not exist; `qmgr service install` writes it)", path.display())
        }
        (Some(path), Some(q)) if !serves_this => {
            println!("unit:      {}, for another queue: {}", path.display(), q.display())
        }
        (Some(path), None) => {
            println!("unit:      {}, naming no queue (not written by qmgr service install)", path.display())
        }
        (Some(path), Some(_)) => println!("unit:      {}, for this queue", path.display()),
    }
    let runner_pid = runner.as_ref().map(|r| r.pid);
    match (transfers.held, transfers.pid) {
        (false, _) => println!("transfers: no process holds the queue's transfer lock"),
        (true, Some(pid)) if Some(pid) == runner_pid => println!("transfers: run by the runner (pid {pid})"),
        (true, Some(pid)) => println!("transfers: run by pid {pid}, another process than the runner"),
        (true, None) => println!("transfers: run by another process (its pid is not visible)"),
    }
    Ok(Exit::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_packaged_unit_runs_the_installed_binary_on_the_default_queue() {
        let unit = packaged_unit(Path::new("/usr/local/bin/qmgr")).unwrap();
        assert!(unit.contains("\nExecStart=/usr/local/bin/qmgr serve --started-by unit\n"), "{unit}");
        let (header, body) = unit.split_at(unit.find("[Unit]").unwrap());
        assert!(header.lines().all(|l| l.starts_with('#')), "{header}");
        assert_eq!(body, unit_body("/usr/local/bin/qmgr serve --started-by unit"));
        assert_eq!(unit_queue_of(&unit), None, "no --queue: the default queue");
        let bad = packaged_unit(Path::new("/opt/a\nb/qmgr")).unwrap_err();
        assert!(bad.message.contains("qmgr binary"), "{}", bad.message);
    }

    /// The queue `qmgr service status` reads from a unit's text.
    fn unit_queue_of(text: &str) -> Option<PathBuf> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(UNIT_NAME);
        std::fs::write(&path, text).unwrap();
        unit_queue(&path)
    }

    #[test]
    fn exec_start_quotes_paths_for_systemd() {
        let exec = exec_start(Path::new("/opt/my apps/qmgr"), Some(Path::new("/q/50%"))).unwrap();
        assert_eq!(exec, "\"/opt/my apps/qmgr\" --queue /q/50%% serve --started-by unit");
        let bad = exec_start(Path::new("/bin/qmgr"), Some(Path::new("/q/a\nb"))).unwrap_err();
        assert!(bad.message.contains("control character"), "{}", bad.message);
    }

    #[test]
    fn times_for_people() {
        assert_eq!(utc_text(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_text(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc_text(1_732_912_345), "2024-11-29T20:32:25Z");
    }
}
