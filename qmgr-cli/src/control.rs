//! `qmgr resume`, `suspend`, `cancel`, `cancel-job`, `foreground`, `wait` and `serve`:
//! controlling groups, jobs and the queue.

use crate::exit::{CmdResult, Exit, Failure};
use crate::queue::{parse_guid, Queue, QueueTarget};
use crate::watch::{self, Ended};
use qmgr_rs::Group;
use std::time::Duration;

/// `qmgr resume GROUP [--wait]`: SUSPENDED or ERROR → RUNNING (no-op when running or
/// complete; DECISIONS D3). With `--wait`, then follows the group as `qmgr wait` does.
///
/// Errors (exit 2): bad GUID, unknown group, `BG_E_EMPTY` (no files), cancelled group.
pub fn resume(target: &QueueTarget, text: &str, wait: bool) -> CmdResult {
    let queue = target.open()?;
    let group = queue.group(text)?;
    group.resume()?;
    let id = group.id();
    if wait {
        watch::install_interrupt_handler();
        return follow(&queue, &group, None);
    }
    println!("resumed group {id} ({})", group.state()?.name());
    crate::runner::note(&queue, id);
    Ok(Exit::Success)
}

/// `qmgr suspend GROUP`: a running group stops, keeping its partial data (no-op in the
/// other states; DECISIONS D3).
pub fn suspend(queue: &Queue, text: &str) -> CmdResult {
    let group = queue.group(text)?;
    group.suspend()?;
    println!("suspended group {} ({})", group.id(), group.state()?.name());
    Ok(Exit::Success)
}

/// `qmgr cancel GROUP`: the group leaves the queue; committed files stay, temporary files
/// are deleted (DECISIONS D3, D4).
pub fn cancel(queue: &Queue, text: &str) -> CmdResult {
    let group = queue.group(text)?;
    group.cancel()?;
    println!("cancelled group {}", group.id());
    Ok(Exit::Success)
}

/// `qmgr cancel-job JOB`: removes one job from whichever group holds it; its finished files
/// stay, its partial data is deleted, the group goes on with its next job (DECISIONS D1).
///
/// Errors (exit 2): bad GUID, no group has that job.
pub fn cancel_job(queue: &Queue, text: &str) -> CmdResult {
    let (group, job) = queue.find_job(text)?;
    job.cancel()?;
    println!("cancelled job {} of group {}", job.id(), group.id());
    Ok(Exit::Success)
}

/// `qmgr foreground GROUP [--job JOB]`: `SwitchToForeground` of the group, or of one of its
/// jobs (which makes the group foreground too). Sticky (DECISIONS D1).
///
/// Errors (exit 2): bad GUID, unknown group, the group has no such job.
pub fn foreground(queue: &Queue, text: &str, job: Option<&str>) -> CmdResult {
    let group = queue.group(text)?;
    match job {
        Some(job) => {
            let job = group.get_job(parse_guid(job)?)?;
            job.switch_to_foreground()?;
            println!("job {} of group {} is in the foreground", job.id(), group.id());
        }
        None => {
            group.switch_to_foreground()?;
            println!("group {} is in the foreground", group.id());
        }
    }
    Ok(Exit::Success)
}

/// `qmgr wait GROUP [--timeout SECS]`: follows the group until it stops, showing progress.
/// The group stays in the queue when it completes.
///
/// Exit codes: 0 complete, 1 error (reported), 3 suspended, cancelled or Ctrl-C (the group
/// is left as it is), 5 time-out.
pub fn wait(target: &QueueTarget, text: &str, timeout: Option<f64>) -> CmdResult {
    let timeout = timeout
        .map(|secs| {
            Duration::try_from_secs_f64(secs)
                .map_err(|_| Failure::usage(format!("--timeout {secs}: not a number of seconds ≥ 0")))
        })
        .transpose()?;
    let queue = target.open()?;
    let group = queue.group(text)?;
    watch::install_interrupt_handler();
    follow(&queue, &group, timeout)
}

/// Follows `group` and reports how it ended (`wait`, `resume --wait`).
fn follow(queue: &Queue, group: &Group, timeout: Option<Duration>) -> CmdResult {
    let id = group.id();
    let prefix = queue.command_prefix();
    let outcome = watch::follow(group, watch::Watch { timeout, ..Default::default() })?;
    Ok(match outcome.ended {
        Ended::Complete => {
            watch::print_summary(&outcome, &local_paths(group));
            Exit::Success
        }
        Ended::Failed => {
            watch::report_failure(queue, group);
            Exit::TransferFailed
        }
        Ended::Suspended => {
            eprintln!("group {id} is suspended; resume with: {prefix} resume {id} --wait");
            Exit::Interrupted
        }
        Ended::Cancelled => {
            eprintln!("group {id} was cancelled");
            Exit::Interrupted
        }
        Ended::Interrupted => {
            eprintln!(
                "stopped waiting; group {id} stays running and continues while a qmgr process \
                 has the queue open (`{prefix} serve`, `{prefix} wait {id}`)"
            );
            Exit::Interrupted
        }
        Ended::TimedOut => {
            eprintln!("timed out after {:.1} s; group {id} is still running", outcome.elapsed.as_secs_f64());
            Exit::TimedOut
        }
        Ended::GaveUp => {
            eprintln!("stopped waiting: {}; group {id} is still running", outcome.gave_up.unwrap_or_default());
            Exit::TransferFailed
        }
    })
}

/// Local paths of every file of the group, in job and file order (none once cancelled).
fn local_paths(group: &Group) -> Vec<String> {
    let Ok(g) = group.snapshot() else {
        return Vec::new();
    };
    g.jobs.into_iter().flat_map(|j| j.files).map(|f| f.local_path).collect()
}
