//! `qmgr serve`: the queue's runner (DECISIONS D10, D13), and the note that `resume`, `add`
//! and `get --no-wait` print about who carries the work on.

use crate::exit::{CmdResult, Exit, Failure};
use crate::queue::{Queue, QueueTarget};
use crate::watch;
use qmgr_rs::model::GroupState;
use qmgr_rs::rules::runner::IdleClock;
use qmgr_rs::runner::{probe, RunnerLock, StartedBy};
use qmgr_rs::Guid;
use std::time::{Duration, Instant};

/// How often the runner looks at the queue (work, its directory, the runner lock).
const LOOK: Duration = Duration::from_millis(200);
/// Set in the environment of the detached runner that a spawned runner starts (see
/// [`detach`]).
const DETACHED_ENV: &str = "QMGR_RUNNER_DETACHED";

/// How `serve` was asked to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StartedByArg {
    /// By the systemd user unit (`qmgr service install`).
    Unit,
    /// By the library, because work was queued (DECISIONS D13).
    Autostart,
    /// By hand.
    Serve,
}

impl From<StartedByArg> for StartedBy {
    fn from(a: StartedByArg) -> StartedBy {
        match a {
            StartedByArg::Unit => StartedBy::Unit,
            StartedByArg::Autostart => StartedBy::Autostart,
            StartedByArg::Serve => StartedBy::Serve,
        }
    }
}

/// `qmgr serve [--exit-when-idle SECS]`: keeps the queue open, and so runs its transfers (as
/// the holder of the transfer lock, or taking over when the holder stops; DECISIONS D10).
///
/// It holds the queue's runner lock (`runner.lock`) while it runs, taken before the queue is
/// opened (so that opening it starts no second runner). A runner with `--exit-when-idle`
/// leaves at once when another runner holds the lock, and leaves after SECS without
/// transferable work ([`IdleClock`]) or within 5 s once its queue directory is removed;
/// before leaving it releases the lock and looks at the store once more, taking the lock back
/// and going on when work arrived meanwhile (DECISIONS D13). Without it, `serve` runs until
/// Ctrl-C, SIGTERM or SIGHUP, and takes the runner lock whenever it is free.
///
/// Errors (exit 4): the queue cannot be opened. Exit 0 otherwise.
pub fn serve(target: &QueueTarget, exit_when_idle: Option<f64>, started_by: StartedByArg) -> CmdResult {
    let exit_after = exit_when_idle
        .map(|secs| {
            Duration::try_from_secs_f64(secs)
                .map_err(|_| Failure::usage(format!("--exit-when-idle {secs}: not a number of seconds ≥ 0")))
        })
        .transpose()?;
    if started_by == StartedByArg::Autostart && detach()? {
        return Ok(Exit::Success);
    }
    let dir = target.dir(true)?;
    let shown = dir.display().to_string();
    let mut lock = RunnerLock::try_acquire(&dir, started_by.into()).map_err(|e| Failure::unavailable(&e))?;
    if lock.is_none() && exit_after.is_some() {
        eprintln!("queue {shown} already has a runner; leaving");
        return Ok(Exit::Success);
    }
    let queue = target.open()?;
    watch::install_interrupt_handler();
    let mut holder = queue.manager.is_transferring_process();
    match (holder, exit_after) {
        (true, _) => eprintln!("serving queue {shown} (Ctrl-C to stop)"),
        (false, _) => {
            eprintln!("queue {shown} is served by another process; taking over when it stops (Ctrl-C to stop)")
        }
    }
    let mut idle = exit_after.map(IdleClock::new);
    let db = dir.join(qmgr_rs::DB_FILE_NAME);
    while !watch::interrupted() {
        std::thread::sleep(LOOK);
        if !db.exists() {
            eprintln!("queue {shown} was removed; leaving");
            break;
        }
        let now = queue.manager.is_transferring_process();
        if now && !holder {
            eprintln!("took over the transfers of queue {shown}");
        }
        holder = now;
        if lock.is_none() {
            lock = RunnerLock::try_acquire(&dir, started_by.into()).unwrap_or(None);
        }
        let Some(clock) = idle.as_mut() else { continue };
        if !clock.look(queue.manager.has_work(), Instant::now()) {
            continue;
        }
        // Idle long enough: release the runner lock, then look at the store once more, so
        // that work queued by a process that saw the lock still held is never stranded.
        drop(lock.take());
        if !queue.manager.has_work() {
            eprintln!("queue {shown} has had no work for {:.1} s; leaving", clock_secs(exit_after));
            return Ok(Exit::Success);
        }
        match RunnerLock::try_acquire(&dir, started_by.into()) {
            Ok(Some(again)) => {
                lock = Some(again);
                idle = exit_after.map(IdleClock::new);
            }
            _ => {
                eprintln!("work arrived as this runner was leaving; another runner serves queue {shown}");
                return Ok(Exit::Success);
            }
        }
    }
    eprintln!("stopping: running transfers are checkpointed and continue next time");
    Ok(Exit::Success)
}

fn clock_secs(d: Option<Duration>) -> f64 {
    d.map_or(0.0, |d| d.as_secs_f64())
}

/// A runner started by the library comes up in its own process group (so that a Ctrl-C in the
/// terminal of the program that queued the work never reaches it), whose leader cannot start a
/// session. So it starts itself once more, outside the group leader's place, and that copy
/// makes itself a session leader without a controlling terminal (DECISIONS D13: "new
/// session"). Returns true in the first process, which then leaves.
///
/// Errors (exit 4): the copy cannot be started.
fn detach() -> Result<bool, Failure> {
    if std::env::var_os(DETACHED_ENV).is_some() {
        if let Err(e) = rustix::process::setsid() {
            log::warn!("cannot start a new session: {e}");
        }
        return Ok(false);
    }
    let exe = std::env::current_exe()
        .map_err(|e| Failure { code: Exit::QueueUnavailable, message: format!("locating qmgr: {e}") })?;
    std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(DETACHED_ENV, "1")
        .spawn()
        .map_err(|e| Failure { code: Exit::QueueUnavailable, message: format!("starting the detached runner: {e}") })?;
    Ok(true)
}

/// Tells (on standard error) who carries group `id` on after this command exits (DECISIONS
/// D13): a background runner (its pid), one starting, or nobody — autostart is off, or no
/// runner could be started (the reason). For a group that is not RUNNING (after `add`), what
/// happens once it is resumed.
pub fn note(queue: &Queue, id: Guid) {
    let prefix = queue.command_prefix();
    let nobody = format!(
        "group {id} transfers only while a qmgr process has the queue open (`{prefix} serve`, `{prefix} wait {id}`)"
    );
    let state = queue.manager.get_group(id).and_then(|g| g.state()).ok();
    let autostart = queue.manager.autostart_enabled();
    if let Some(state) = state.filter(|s| *s != GroupState::Running) {
        let then = match autostart {
            true => "a background runner carries it on",
            false => "it transfers only while a qmgr process has the queue open (autostart is off)",
        };
        eprintln!("note: group {id} is {}; after `{prefix} resume {id}`, {then}", state.name());
        return;
    }
    if !autostart {
        eprintln!("note: autostart is off (option autostart 0, or QMGR_AUTOSTART=0): {nobody}");
        return;
    }
    if let Some(warning) = queue.manager.take_runner_warning() {
        eprintln!("note: no background runner could be started ({warning}): {nobody}");
        return;
    }
    match probe(&queue.dir) {
        Ok(Some(info)) => eprintln!("a background runner (pid {}) carries group {id} on", info.pid),
        _ => eprintln!("a background runner is starting; it carries group {id} on after this command exits"),
    }
}
