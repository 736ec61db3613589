//! # qmgr — the command line of the qmgr download queue
//!
//! The Linux counterpart of `bitsadmin`: download files through the persistent qmgr queue
//! (`qmgr get`), and list, inspect and control the queue's groups (`list`, `info`, `resume`,
//! `suspend`, `cancel`, `wait`, `serve`). It uses the Rust API of `qmgr-core` only, composed
//! with the SQLite store of `qmgr-store` and the HTTP transport of `qmgr-net`
//! (DESIGN "Layers").
//!
//! Exit codes are those of [`exit::Exit`]: 0 success, 1 transfer failed, 2 usage or bad
//! input, 3 interrupted, 4 queue unavailable, 5 `wait` timed out.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod control;
mod exit;
mod get;
mod names;
mod queue;
mod show;
mod watch;

use clap::{Parser, Subcommand};
use exit::CmdResult;
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit codes, printed at the end of `--help`.
const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  transfer failed (the group stays in the queue, in ERROR)
  2  usage error or bad input (bad URL, unknown group, refused by the queue)
  3  interrupted (Ctrl-C, or the group was suspended or cancelled by another command)
  4  queue unavailable (the queue directory or database cannot be used)
  5  `wait` timed out

The queue directory is --queue DIR, else $QMGR_HOME, else $XDG_STATE_HOME/qmgr,
else ~/.local/state/qmgr. RUST_LOG=debug shows the library's log.";

/// `qmgr`: the command line.
#[derive(Debug, Parser)]
#[command(
    name = "qmgr",
    version,
    about = "Background downloads through a persistent, resumable queue (the bitsadmin counterpart)",
    after_help = EXIT_CODES
)]
pub struct Cli {
    /// Queue directory (default: $QMGR_HOME, else $XDG_STATE_HOME/qmgr, else
    /// ~/.local/state/qmgr). Created when missing.
    #[arg(long, global = true, value_name = "DIR")]
    pub queue: Option<PathBuf>,

    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Download URLs now, showing progress; the group leaves the queue once complete.
    #[command(after_help = "\
Examples:
  qmgr get https://example.com/a.iso https://example.com/b.iso -o ~/Downloads
  qmgr get https://example.com/a.iso --output /tmp/image.iso

Each file is named after the last segment of its URL's path (percent-decoded), in DIR
(default: the current directory). Ctrl-C suspends the group and prints how to resume it.")]
    Get(get::GetArgs),

    /// List the queue's groups, one line per group in creation order.
    #[command(after_help = "\
Examples:
  qmgr list
  qmgr list --json

Columns: group GUID, state, bytes done/total ('?' while unknown), percent, display name.")]
    List {
        /// Print a JSON array instead of lines.
        #[arg(long)]
        json: bool,
    },

    /// Show a group's properties, status, jobs and files.
    #[command(after_help = "\
Examples:
  qmgr info {3f2c6a8e-0d4e-4c57-9a41-0a3c2f1e7b11}
  qmgr info 3f2c6a8e-0d4e-4c57-9a41-0a3c2f1e7b11 --json")]
    Info {
        /// Group GUID (braces optional).
        group: String,
        /// Print a JSON object instead of text.
        #[arg(long)]
        json: bool,
    },

    /// Resume a suspended group, or retry one in ERROR.
    #[command(after_help = "\
Examples:
  qmgr resume {3f2c6a8e-0d4e-4c57-9a41-0a3c2f1e7b11}
  qmgr resume 3f2c6a8e-0d4e-4c57-9a41-0a3c2f1e7b11 --wait

A group transfers while a qmgr process has the queue open: `qmgr serve`, `qmgr wait`,
`qmgr get`, or this command with --wait.")]
    Resume {
        /// Group GUID (braces optional).
        group: String,
        /// Then wait for the group, showing progress, as `qmgr wait` does.
        #[arg(long)]
        wait: bool,
    },

    /// Suspend a group (its partial data is kept).
    #[command(after_help = "\
Example:
  qmgr suspend {3f2c6a8e-0d4e-4c57-9a41-0a3c2f1e7b11}")]
    Suspend {
        /// Group GUID (braces optional).
        group: String,
    },

    /// Cancel a group: it leaves the queue; finished files stay, partial data is deleted.
    #[command(after_help = "\
Example:
  qmgr cancel {3f2c6a8e-0d4e-4c57-9a41-0a3c2f1e7b11}")]
    Cancel {
        /// Group GUID (braces optional).
        group: String,
    },

    /// Wait for a group to complete, fail or be suspended, showing progress (and running
    /// its transfers while no other process does).
    #[command(after_help = "\
Examples:
  qmgr wait {3f2c6a8e-0d4e-4c57-9a41-0a3c2f1e7b11}
  qmgr wait 3f2c6a8e-0d4e-4c57-9a41-0a3c2f1e7b11 --timeout 60

The group stays in the queue when it completes (`qmgr cancel` removes it; its files stay).
Ctrl-C stops waiting and leaves the group as it is.")]
    Wait {
        /// Group GUID (braces optional).
        group: String,
        /// Give up after this many seconds (exit code 5).
        #[arg(long, value_name = "SECS")]
        timeout: Option<f64>,
    },

    /// Run the queue's transfers until stopped (Ctrl-C, SIGTERM): the background service,
    /// e.g. as a systemd user unit.
    #[command(after_help = "\
Example:
  qmgr serve &
  qmgr resume {3f2c6a8e-0d4e-4c57-9a41-0a3c2f1e7b11}

Only one process transfers for a queue at a time; a second `serve` waits and takes over
when the first stops.")]
    Serve,
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
    let code = match run(cli) {
        Ok(code) => code,
        Err(failure) => failure.report(),
    };
    ExitCode::from(code.code())
}

/// Runs one command; every manager and handle it opened is dropped before it returns, so
/// running transfers are stopped and checkpointed before the process exits.
fn run(cli: Cli) -> CmdResult {
    let target = queue::QueueTarget::new(cli.queue);
    match cli.command {
        Command::Get(args) => get::run(&target, args),
        Command::List { json } => show::list(&target.open()?, json),
        Command::Info { group, json } => show::info(&target.open()?, &group, json),
        Command::Resume { group, wait } => control::resume(&target, &group, wait),
        Command::Suspend { group } => control::suspend(&target.open()?, &group),
        Command::Cancel { group } => control::cancel(&target.open()?, &group),
        Command::Wait { group, timeout } => control::wait(&target, &group, timeout),
        Command::Serve => control::serve(&target),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn queue_is_accepted_after_the_subcommand() {
        let cli = Cli::try_parse_from(["qmgr", "list", "--queue", "/tmp/q", "--json"]).unwrap();
        assert_eq!(cli.queue, Some(PathBuf::from("/tmp/q")));
        let cli = Cli::try_parse_from(["qmgr", "--queue", "/tmp/q", "list"]).unwrap();
        assert_eq!(cli.queue, Some(PathBuf::from("/tmp/q")));
    }
}
