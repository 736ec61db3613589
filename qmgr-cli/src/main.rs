//! # qmgr — the command line of the qmgr download queue
//!
//! The Linux counterpart of `bitsadmin`: download files through the persistent qmgr queue
//! (`qmgr get`); build groups step by step (`create`, `add`, `set`); list, inspect and
//! follow them (`list`, `info`, `monitor`, `wait`); control them (`resume`, `suspend`,
//! `cancel`, `cancel-job`, `foreground`); set the queue's options (`option`); and run the
//! queue as a service (`serve`, `service`). Every operation of the C API is reachable. It uses the Rust
//! API of `qmgr-rs` only (`qmgr_rs::open`: the engine of `qmgr-core` with the SQLite store of
//! `qmgr-store` and the HTTP transport of `qmgr-net`; DESIGN "Layers"); the queue's rules are
//! those of `qmgr-core`'s rules layer, none are the command's own.
//!
//! Exit codes are those of [`exit::Exit`]: 0 success, 1 transfer failed, 2 usage or bad
//! input, 3 interrupted, 4 queue (or service) unavailable, 5 `wait` timed out.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod add;
mod control;
mod exit;
mod generate;
mod get;
mod monitor;
mod names;
mod options;
mod props;
mod queue;
mod remote;
mod runner;
mod service;
mod show;
mod watch;

use clap::{Parser, Subcommand};
use exit::CmdResult;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Exit codes, printed at the end of `--help`.
const EXIT_CODES: &str = "\
Exit codes:
  0  success (serve, monitor: stopped by Ctrl-C)
  1  transfer failed (the group stays in the queue, in ERROR)
  2  usage error or bad input (bad URL, unknown group, refused by the queue)
  3  interrupted (Ctrl-C, or the group was suspended or cancelled by another command)
  4  queue or service unavailable (the queue directory or database cannot be used;
     `service install`: no user service manager reachable, the unit stays written)
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
    ///
    /// The group is a foreground group (as Start-BitsTransfer): scheduled first and never held
    /// back. With --background it uses only bandwidth that other traffic leaves unused.
    #[command(after_help = "\
Examples:
  qmgr get https://example.com/a.iso https://example.com/b.iso -d ~/Downloads
  qmgr get https://example.com/a.iso -o /tmp/image.iso
  qmgr get --background --no-wait https://example.com/big.iso -d ~/Downloads
  qmgr get --tries 3 --retry-timeout 5m https://example.com/a.iso
  qmgr get https://example.com/a.iso -o /tmp/a.iso --checksum sha-256:9f86d081…
  qmgr get --continue https://example.com/a.iso    # continue a.iso left by wget or curl
  qmgr get --content-disposition 'https://example.com/download?id=7' -d ~/Downloads
  qmgr get --limit-rate 512k https://example.com/a.iso   # this download only, at most 512 KiB/s

Each file is named after the last segment of its URL's path (percent-decoded), in DIR
(default: the current directory; created when missing), unless -o names it. A file that
already exists is not replaced without --overwrite.
Ctrl-C suspends the group and prints how to resume it; running the same get again resumes
it too, continuing its partial files. A transfer that keeps failing is given up after
--retry-timeout without progress (default 60s) or --tries failed attempts: the group is
suspended with its partial data (exit 1).
A foreground group stays foreground (sticky); --background makes a background group, which
under option background_mode idle (the default) yields to other traffic.
With --checksum (one URL) the file keeps its name only if its SHA-256/SHA-512 digest matches;
a server's Repr-Digest or Content-Digest header is checked the same way.
--continue and --content-disposition first send a HEAD request: --continue continues a
partial file found under the final name with Range and If-Range (refused, exit 2, without
an ETag or Last-Modified, range support, or with a larger file; a file of the remote size is
left as it is); --content-disposition names the file from the Content-Disposition header.
--limit-rate RATE (512k, 2M, 1G: binary, as curl and wget; 0 = none) limits this download
only; the queue option background_rate_limit is untouched. `qmgr set GROUP --limit-rate`
changes it while it runs.")]
    Get(get::GetArgs),

    /// Create an empty group (SUSPENDED) and print its GUID; then `add` files and `resume` it.
    #[command(after_help = "\
Examples:
  G=$(qmgr create --name nightly --priority low)
  qmgr add $G https://example.com/a.iso ~/Downloads/a.iso
  qmgr resume $G
  qmgr create --name share --protocol smb --notify-flags group_done --json
  qmgr create --user alice --password-env QMGR_PASSWORD   # the password is in $QMGR_PASSWORD
  qmgr create --name slow --limit-rate 1M                  # at most 1 MiB/s, foreground or not

Passwords are never taken from the command line: --password-env VAR reads the environment
variable VAR, --password-prompt asks on the terminal without echo.")]
    Create {
        /// The group's properties.
        #[command(flatten)]
        props: props::PropArgs,
        /// Print the new group as `qmgr info --json` does, instead of its GUID.
        #[arg(long)]
        json: bool,
    },

    /// Add files to a group, in a new job (printing its GUID) or in an existing one.
    #[command(after_help = "\
Examples:
  qmgr add {3f2c6a8e-0d4e-4c57-9a41-0a3c2f1e7b11} https://example.com/a.iso /data/a.iso
  qmgr add $G https://example.com/b.iso https://example.com/c.iso ~/Downloads/ --json
  qmgr add $G --job $JOB https://example.com/d.iso ~/Downloads/
  printf '%s\\n' 'https://example.com/e.iso /data/e.iso' | qmgr add $G --from -
  printf '%s\\n' 'https://example.com/f.iso /data/f.iso sha-256:9f86d081…' | qmgr add $G --from -

The group must be suspended or in ERROR (not running or complete); the files of one call
are added all or nothing. Groups with --protocol smb take file:// URLs.")]
    Add(add::AddArgs),

    /// Change properties of a group (any state but cancelled).
    #[command(after_help = "\
Examples:
  qmgr set {3f2c6a8e-0d4e-4c57-9a41-0a3c2f1e7b11} --name renamed --priority high
  qmgr set $G --progress-percent 10 --notify-flags job_done,group_done
  qmgr set $G --user alice --password-prompt
  qmgr set $G --foreground
  qmgr set $G --background        # says it is (and stays) a background group
  qmgr set $G --limit-rate 512k   # at most 512 KiB/s for this group (0 = no limit)

All or nothing: when the queue refuses one value, the others are not changed. Read the
properties with `qmgr info`. Foreground is sticky: --background fails for a foreground
group (cancel it and queue the files again with `qmgr get --background` or `qmgr add`).")]
    Set {
        /// Group GUID (braces optional).
        group: String,
        /// The properties to change.
        #[command(flatten)]
        props: props::PropArgs,
    },

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

    /// Show a group's properties, status, jobs and files, and the queue's background status.
    #[command(after_help = "\
Examples:
  qmgr info {3f2c6a8e-0d4e-4c57-9a41-0a3c2f1e7b11}
  qmgr info 3f2c6a8e-0d4e-4c57-9a41-0a3c2f1e7b11 --json

The background line is queue-wide: the option background_mode, what background groups
receive and may receive now, and why (e.g. `idle, no background transfer`).")]
    Info {
        /// Group GUID (braces optional).
        group: String,
        /// Print a JSON object instead of text.
        #[arg(long)]
        json: bool,
    },

    /// Show the groups live (GUID, name, state, bytes, percent, a bar) until Ctrl-C.
    #[command(after_help = "\
Examples:
  qmgr monitor
  qmgr monitor --interval 5000
  qmgr monitor --json --count 10 --interval 500 > progress.jsonl

On a terminal the table is redrawn in place; otherwise it is printed again at each refresh.
Under the header, a `background:` line shows what background groups may use now.
While it runs, the queue's transfers run in this process unless another one serves them.")]
    Monitor {
        /// Milliseconds between refreshes (at least 10).
        #[arg(long, value_name = "MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..))]
        interval: u64,
        /// Stop after N refreshes.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        count: Option<u64>,
        /// Print one JSON object per refresh, one per line.
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

    /// Cancel one job, in whichever group holds it.
    ///
    /// Its finished files stay, its partial data is deleted, and the group goes on with its
    /// next job.
    #[command(
        name = "cancel-job",
        after_help = "\
Example:
  qmgr cancel-job {8d1f0c2e-5b7a-4e93-b1c4-2f6e9a0d3c55}"
    )]
    CancelJob {
        /// Job GUID (braces optional).
        job: String,
    },

    /// Switch a group, or one of its jobs, to the foreground.
    ///
    /// A foreground group is scheduled first and never rate-limited; a foreground job makes
    /// its group foreground too. It cannot be switched back.
    #[command(after_help = "\
Examples:
  qmgr foreground {3f2c6a8e-0d4e-4c57-9a41-0a3c2f1e7b11}
  qmgr foreground $G --job {8d1f0c2e-5b7a-4e93-b1c4-2f6e9a0d3c55}")]
    Foreground {
        /// Group GUID (braces optional).
        group: String,
        /// Switch this job of the group instead.
        #[arg(long, value_name = "JOB")]
        job: Option<String>,
    },

    /// Wait for a group to complete, fail or be suspended, showing progress.
    ///
    /// Runs the queue's transfers while no other process does.
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

    /// Serve the queue from login (and boot) with a systemd user unit: install, uninstall, status.
    #[command(after_help = "\
Examples:
  qmgr service install              # write, enable and start ~/.config/systemd/user/qmgr.service
  qmgr service install --linger     # also at boot, and on after logout
  qmgr --queue /data/queue service install
  qmgr service status
  qmgr service uninstall

Without the unit, a runner is started on demand when work is queued (option autostart) and
leaves when idle; with it, one serves the queue from login (with --linger: from boot).
`install` exits 4 when no user service manager is reachable; the unit stays written.")]
    Service {
        /// What to do.
        #[command(subcommand)]
        action: service::Action,
    },

    /// List the queue's options with their values, show one, or set one.
    #[command(after_help = "\
Examples:
  qmgr option
  qmgr option max_active_groups
  qmgr option background_rate_limit 1000000
  qmgr option background_mode normal
  qmgr option max_connections_per_group 16
  qmgr option --json

Options: max_active_groups, min_retry_delay_ms, no_progress_timeout_ms,
background_rate_limit (bytes/s, 0 = unlimited), connect_timeout_ms, read_timeout_ms,
user_agent, proxy, ca_file, allow_credentials_over_http (0 or 1), autostart (0 or 1: start a
background runner when work is queued), background_mode (idle, the default: background
groups use only bandwidth that other traffic leaves unused; normal: they compete like any
download; foreground groups are never held back), max_connections_per_group (default 6: files
of a group's current job fetched at once, still committed in order; 1 = one at a time). They
are stored in the queue and apply to
every process using it.")]
    Option {
        /// Option name (all options when left out).
        name: Option<String>,
        /// New value (the option is shown when left out).
        value: Option<String>,
        /// Print a JSON object (option name → value) instead of text.
        #[arg(long)]
        json: bool,
    },

    /// Run the queue's transfers: the background runner.
    ///
    /// Without --exit-when-idle it runs until Ctrl-C or SIGTERM (for example as the systemd
    /// user unit of `qmgr service install`). The library starts one by itself when work is
    /// queued and no runner serves the queue (DECISIONS D13).
    #[command(after_help = "\
Example:
  qmgr serve &
  qmgr resume {3f2c6a8e-0d4e-4c57-9a41-0a3c2f1e7b11}

Only one process transfers for a queue at a time; a second `serve` waits and takes over
when the first stops. At most one runner holds the queue's runner.lock; a runner with
--exit-when-idle leaves at once when another holds it.")]
    Serve {
        /// Leave after this many seconds without transferable work (no RUNNING group with
        /// files left), or when the queue directory is removed.
        #[arg(long, value_name = "SECONDS")]
        exit_when_idle: Option<f64>,
        /// Who started this runner, recorded in runner.lock for `qmgr service status`.
        #[arg(long, value_enum, default_value = "serve", hide = true)]
        started_by: runner::StartedByArg,
    },
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    // Runners that work queued here starts are this very binary (DECISIONS D13).
    if let Ok(exe) = std::env::current_exe() {
        qmgr_rs::runner::set_runner_binary(exe);
    }
    // `qmgr __generate …` (for the Makefile) is parsed apart, so that it is in neither the
    // man pages nor the completions it generates.
    let result = match generate::requested() {
        Some(what) => generate::run(what),
        None => run(Cli::parse()),
    };
    let code = match result {
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
        Command::Create { props, json } => props::create(&target.open()?, &props, json),
        Command::Add(args) => add::add(&target.open()?, &args),
        Command::Set { group, props } => props::set(&target.open()?, &group, &props),
        Command::List { json } => show::list(&target.open()?, json),
        Command::Info { group, json } => show::info(&target.open()?, &group, json),
        Command::Monitor { interval, count, json } => {
            monitor::monitor(&target, Duration::from_millis(interval), count, json)
        }
        Command::Resume { group, wait } => control::resume(&target, &group, wait),
        Command::Suspend { group } => control::suspend(&target.open()?, &group),
        Command::Cancel { group } => control::cancel(&target.open()?, &group),
        Command::CancelJob { job } => control::cancel_job(&target.open()?, &job),
        Command::Foreground { group, job } => control::foreground(&target.open()?, &group, job.as_deref()),
        Command::Wait { group, timeout } => control::wait(&target, &group, timeout),
        Command::Service { action } => service::run(&target, action),
        Command::Option { name, value, json } => {
            options::option(&target.open()?, name.as_deref(), value.as_deref(), json)
        }
        Command::Serve { exit_when_idle, started_by } => runner::serve(&target, exit_when_idle, started_by),
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
