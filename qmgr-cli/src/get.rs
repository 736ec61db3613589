//! `qmgr get`: download URLs now through a group of its own, showing progress.

use crate::exit::{CmdResult, Exit, Failure};
use crate::names::{file_name_from_url, redact_url};
use crate::queue::{Queue, QueueTarget};
use crate::remote::{self, Adopt, Probes};
use crate::watch::{self, Ended, GiveUp, Watch};
use indicatif::HumanBytes;
use qmgr_rs::model::{protocol, Checksum, GroupState, PropId, PropValue};
use qmgr_rs::{FileSpec, Group, Guid, Job};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Display name of the groups `qmgr get` creates.
pub const DISPLAY_NAME: &str = "qmgr get";

/// Arguments of `qmgr get`.
#[derive(Debug, clap::Args)]
pub struct GetArgs {
    /// URLs to download: http:// and https://, or file:// (all of them then).
    #[arg(required = true, value_name = "URL")]
    pub urls: Vec<String>,

    /// Save the URL as FILE (exactly one URL). Its directory must exist.
    #[arg(short = 'o', long, value_name = "FILE", conflicts_with = "dir")]
    pub output: Option<PathBuf>,

    /// Directory to save the files in, each named after the last segment of its URL's path
    /// (default: the current directory); created when missing.
    #[arg(short = 'd', long = "dir", visible_alias = "output-dir", value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// Replace files that already exist under the names the download would use (without it,
    /// an existing file stops the command before anything is queued).
    #[arg(long)]
    pub overwrite: bool,

    /// Continue a partial file that another tool (or an earlier download) left under the
    /// final name, as wget -c and curl -C -: after a HEAD request, a file shorter than the
    /// remote one is continued with a ranged request checked by If-Range, when the server
    /// gives an ETag or Last-Modified and accepts ranges (a file that changed meanwhile is
    /// fetched whole); one of the same size is left as it is (already complete); otherwise
    /// the command refuses (exit 2) and changes nothing.
    #[arg(short = 'c', long = "continue", conflicts_with = "overwrite")]
    pub continue_partial: bool,

    /// Name each file after the Content-Disposition header of the server's answer (asked
    /// with a HEAD request, as wget does; filename* preferred over filename), made a safe
    /// name: no directory part, no leading dot, no control characters, at most 200 bytes.
    /// Falls back to the URL's name when the header gives none. Not with -o.
    #[arg(long, conflicts_with = "output")]
    pub content_disposition: bool,

    /// Show no progress and no summary; errors are still reported on stderr.
    #[arg(short = 'q', long)]
    pub quiet: bool,

    /// Give up when the transfer keeps failing and no byte arrived for DURATION (seconds, or
    /// with units: 500ms, 90s, 5m, 1h); the group is then suspended with its partial data and
    /// the command exits with 1. 0 = retry as long as the queue does (DECISIONS D5: its
    /// no-progress timeout, 14 days by default).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = watch::parse_duration)]
    pub retry_timeout: Duration,

    /// Give up after N failed attempts of a file (as --retry-timeout; default: no limit).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub tries: Option<u32>,

    /// The file's expected digest, ALGORITHM:HEX with ALGORITHM sha-256 or sha-512 (exactly
    /// one URL): the file gets its name only if its bytes match; a mismatch fails the
    /// download (QMGR_E_BAD_DIGEST) and deletes what was fetched (DECISIONS D15).
    #[arg(long, value_name = "ALGORITHM:HEX")]
    pub checksum: Option<String>,

    /// Queue the download and return at once, printing the group's GUID: the background
    /// runner finishes it (DECISIONS D13); follow it with `qmgr wait GUID`.
    #[arg(long)]
    pub no_wait: bool,

    /// Make it a background group: it uses only bandwidth that other traffic leaves unused
    /// (option background_mode idle, the default; DECISIONS D14). Without it the group is
    /// foreground: scheduled first and never held back, as Start-BitsTransfer.
    #[arg(long)]
    pub background: bool,

    /// Limit this download to RATE bytes/s: a number with an optional suffix k, M or G
    /// (binary, as curl's and wget's --limit-rate: 1k = 1024); 0 = no limit. It is the
    /// group's own limit (qmgr_group_set_rate_limit), kept with it in the queue; the queue's
    /// option background_rate_limit and other downloads are not affected. A resumed earlier
    /// download of the same files gets the new limit; without --limit-rate it keeps its own.
    #[arg(long, value_name = "RATE", value_parser = crate::props::parse_rate)]
    pub limit_rate: Option<u64>,
}

/// Runs `qmgr get`: one group (random GUID, display name "qmgr get") with one job holding
/// the files, switched to the foreground (unless `--background`; DECISIONS D14, as
/// Start-BitsTransfer), resumed and followed until it stops. When the queue already holds a
/// group of an earlier `qmgr get` of exactly these files (interrupted, failed, or still
/// running), that group is resumed or followed instead, with a note, so that its temporary
/// files are continued rather than fetched again (as `wget -c`).
///
/// * complete: the group is cancelled (the finished files stay; the group leaves the
///   queue), a summary is printed (unless `--quiet`); exit 0.
/// * error: the failure is reported with the group's GUID, which stays in the queue; exit 1.
/// * a transfer that keeps failing past `--retry-timeout` or `--tries`: the group is
///   suspended with its partial data, the last error is reported; exit 1.
/// * Ctrl-C: the group is suspended and stays in the queue; exit 3.
/// * `--no-wait`: the group's GUID is printed and the command returns at once (exit 0); the
///   group stays in the queue and a background runner finishes it (DECISIONS D13).
///
/// `--content-disposition` names the files from the servers' `Content-Disposition` and
/// `--continue` continues partial files found under the final names, both after a `HEAD`
/// request (`remote.rs`; issue #15); with `--continue`, files already complete are left out
/// (exit 0 when none is left).
///
/// Errors: bad arguments, a final file that exists (without `--overwrite` or `--continue`), a
/// partial file `--continue` refuses, a directory that cannot be created, or a call refused by
/// the queue (exit 2; the group is cancelled then), a failed `HEAD` of `--continue` (exit 1),
/// queue unavailable (exit 4).
pub fn run(target: &QueueTarget, args: GetArgs) -> CmdResult {
    let checksum = checksum(&args)?;
    let queue = target.open()?;
    // HEAD requests of --content-disposition come before the Ctrl-C handler: an interrupt
    // then simply ends the command, nothing being queued yet.
    let mut probes = Probes::new(&queue.manager, &args.urls);
    let names = match args.content_disposition {
        true => remote::disposition_names(&mut probes, args.quiet),
        false => Vec::new(),
    };
    let mut files = plan(&args, &names)?;
    watch::install_interrupt_handler();
    let group = match previous(&queue, &files, checksum.as_ref(), args.limit_rate)? {
        Some(group) => group,
        None => {
            let adopt = match args.continue_partial {
                true => remote::plan_continue(&mut probes, &mut files, checksum.is_some())?,
                false => Vec::new(),
            };
            if files.is_empty() {
                return Ok(Exit::Success); // every file was complete already
            }
            prepare(&args, &files)?;
            create(&queue, &files, checksum.as_ref(), args.limit_rate, !args.background, &adopt, args.quiet)?
        }
    };
    let id = group.id();
    if args.no_wait {
        println!("{id}");
        crate::runner::note(&queue, id);
        return Ok(Exit::Success);
    }
    let give_up = GiveUp { no_progress: Some(args.retry_timeout).filter(|t| !t.is_zero()), tries: args.tries };
    let outcome = watch::follow(&group, Watch { timeout: None, give_up, quiet: args.quiet })?;
    let prefix = queue.command_prefix();
    Ok(match outcome.ended {
        Ended::Complete => {
            let paths: Vec<String> = files.iter().map(|f| f.local_path.clone()).collect();
            if let Err(e) = group.cancel() {
                log::warn!("removing the completed group {id} from the queue: {e}");
            }
            if !args.quiet {
                watch::print_summary(&outcome, &paths);
            }
            Exit::Success
        }
        Ended::Failed => {
            watch::report_failure(&queue, &group);
            Exit::TransferFailed
        }
        Ended::GaveUp => {
            let last = group.snapshot().ok().and_then(|g| watch::transient_error(&g).map(|(_, m)| m.to_string()));
            if let Err(e) = group.suspend() {
                eprintln!("error: suspending group {id}: {}", crate::exit::api_message(&e));
            }
            eprintln!(
                "error: giving up after {}: {}",
                outcome.gave_up.unwrap_or_default(),
                last.as_deref().unwrap_or("the transfer keeps failing")
            );
            eprintln!("suspended group {id} with its partial data; resume with: {prefix} resume {id} --wait");
            Exit::TransferFailed
        }
        Ended::Interrupted | Ended::TimedOut => {
            if let Err(e) = group.suspend() {
                eprintln!("error: suspending group {id}: {}", crate::exit::api_message(&e));
            }
            eprintln!("suspended group {id}; resume with: {prefix} resume {id} --wait (or run the same get again)");
            Exit::Interrupted
        }
        Ended::Suspended => {
            eprintln!("group {id} was suspended by another command; resume with: {prefix} resume {id} --wait");
            Exit::Interrupted
        }
        Ended::Cancelled => {
            eprintln!("group {id} was cancelled by another command");
            Exit::Interrupted
        }
    })
}

/// The files to add: URL and absolute local path of each. In a directory, file `i` is named
/// `names[i]` when given (`--content-disposition`), else after its URL.
///
/// Errors (exit 2): `--output` with several URLs, `-` (standard output), naming a directory
/// or in a directory that does not exist; `--dir` naming a file; a URL that gives no safe file
/// name (and no name given); a path that is not UTF-8; no current directory.
fn plan(args: &GetArgs, names: &[Option<String>]) -> Result<Vec<FileSpec>, Failure> {
    if let Some(out) = &args.output {
        if args.urls.len() != 1 {
            return Err(Failure::usage(format!(
                "--output FILE takes exactly one URL, not {} (use -d DIR for several)",
                args.urls.len()
            )));
        }
        if out.as_os_str() == "-" {
            return Err(Failure::usage(
                "--output - (standard output) is not supported: a queued, crash-safe download is written to a \
                 file and renamed into place when complete; give a file name",
            ));
        }
        let path = absolute(out)?;
        if path.is_dir() || out.as_os_str().as_encoded_bytes().ends_with(b"/") {
            return Err(Failure::usage(format!(
                "--output {} is a directory; use -d DIR to save into a directory",
                out.display()
            )));
        }
        if let Some(parent) = path.parent().filter(|p| !p.is_dir()) {
            return Err(Failure::usage(format!(
                "--output {}: directory {} does not exist (create it, or use -d DIR, which is created)",
                out.display(),
                parent.display()
            )));
        }
        return Ok(vec![spec(&args.urls[0], &path)?]);
    }
    let dir = absolute(args.dir.as_deref().unwrap_or(Path::new(".")))?;
    if dir.exists() && !dir.is_dir() {
        return Err(Failure::usage(format!(
            "--dir {} is a file, not a directory; use -o FILE to name the downloaded file",
            dir.display()
        )));
    }
    args.urls
        .iter()
        .enumerate()
        .map(|(i, url)| {
            let name = match names.get(i).cloned().flatten() {
                Some(name) => name,
                None => file_name_from_url(url).map_err(|e| Failure::usage(format!("{e}; use --output FILE")))?,
            };
            spec(url, &dir.join(name))
        })
        .collect()
}

/// The `--checksum` of the one URL, checked.
///
/// Errors (exit 2): `--checksum` with several URLs, or a value [`Checksum::parse_spec`]
/// refuses (the message says why).
fn checksum(args: &GetArgs) -> Result<Option<Checksum>, Failure> {
    let Some(spec) = &args.checksum else { return Ok(None) };
    if args.urls.len() != 1 {
        return Err(Failure::usage(format!("--checksum takes exactly one URL, not {}", args.urls.len())));
    }
    parse_checksum(spec).map(Some).map_err(|e| Failure::usage(format!("--checksum: {e}")))
}

/// A checksum as the command line gives it, `ALGORITHM:HEX` ([`Checksum::parse_spec`]); the
/// error is the message for people.
pub fn parse_checksum(spec: &str) -> Result<Checksum, String> {
    Checksum::parse_spec(spec).map_err(|e| e.message)
}

/// Sets the checksums of the files of `job` from `first` on: `checksums[i]` for file
/// `first + i`, where given.
pub fn set_checksums(job: &Job, first: u32, checksums: &[Option<&Checksum>]) -> qmgr_rs::Result<()> {
    for (i, c) in checksums.iter().enumerate() {
        if let Some(c) = c {
            job.set_file_checksum(first + i as u32, c.algorithm().name(), &c.hex())?;
        }
    }
    Ok(())
}

/// Before a new group is queued: refuses final names that exist (unless `--overwrite`, or
/// `--continue`, which has decided about each) and creates the destination directory of
/// `--dir`.
///
/// Errors (exit 2): an existing file, a directory that cannot be created.
fn prepare(args: &GetArgs, files: &[FileSpec]) -> Result<(), Failure> {
    if !args.overwrite && !args.continue_partial {
        if let Some(f) = files.iter().find(|f| Path::new(&f.local_path).exists()) {
            return Err(Failure::usage(format!(
                "{} already exists; use --overwrite to replace it, --continue to continue it, or -o FILE to \
                 choose another name",
                f.local_path
            )));
        }
    }
    if let Some(dir) = files.first().and_then(|f| Path::new(&f.local_path).parent()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| Failure::usage(format!("cannot create directory {}: {e}", dir.display())))?;
    }
    Ok(())
}

/// The group of an earlier `qmgr get` of exactly these files (same URLs into the same local
/// paths, in one job) that did not finish, made to go on: resumed when SUSPENDED or in ERROR,
/// followed as it is when RUNNING; `checksum` (of `get --checksum`) is set on its file first,
/// and `rate_limit` (of `get --limit-rate`) on the group. A note on stderr says which. `None`
/// when there is none.
///
/// Errors: the queue refused to list, set the checksum (e.g. the file is already complete) or
/// resume (exit 2).
fn previous(
    queue: &Queue,
    files: &[FileSpec],
    checksum: Option<&Checksum>,
    rate_limit: Option<u64>,
) -> Result<Option<Group>, Failure> {
    for id in queue.manager.enum_groups(0)? {
        let Ok(group) = queue.manager.get_group(id) else { continue };
        let Ok(g) = group.snapshot() else { continue };
        let same = g.props.display_name == DISPLAY_NAME
            && g.jobs.len() == 1
            && g.jobs[0].files.len() == files.len()
            && g.jobs[0].files.iter().zip(files).all(|(a, b)| a.url == b.url && a.local_path == b.local_path);
        if !same {
            continue;
        }
        if matches!(g.state, GroupState::Complete | GroupState::Cancelled) {
            continue;
        }
        // A checksum given now applies to the earlier group's file too: set before a resume,
        // so that a file already held whole is not committed unchecked (a running fetch sees
        // it when it hands the file over; DECISIONS D15).
        if let Some(job) = g.jobs.first() {
            set_checksums(&group.get_job(job.id)?, 0, &[checksum])?;
        }
        if let Some(rate) = rate_limit {
            group.set_rate_limit(rate)?;
        }
        let held = match g.bytes_total {
            Some(t) => format!("{} of {}", HumanBytes(g.bytes_done), HumanBytes(t)),
            None => format!("{}", HumanBytes(g.bytes_done)),
        };
        match g.state {
            GroupState::Suspended | GroupState::Error => {
                eprintln!(
                    "resuming group {id}, left {} by an earlier qmgr get of the same files ({held} held)",
                    if g.state == GroupState::Error { "in ERROR" } else { "suspended" }
                );
                group.resume()?;
            }
            GroupState::Running => {
                eprintln!("following group {id}: an earlier qmgr get of the same files is still running ({held} held)");
            }
            GroupState::Complete | GroupState::Cancelled => continue,
        }
        return Ok(Some(group));
    }
    Ok(None)
}

/// `path` made absolute against the current directory (not resolving links).
pub fn absolute(path: &Path) -> Result<PathBuf, Failure> {
    std::path::absolute(path).map_err(|e| Failure::usage(format!("cannot make {} absolute: {e}", path.display())))
}

/// The file to add: `url` into `path` (which must be UTF-8).
pub fn spec(url: &str, path: &Path) -> Result<FileSpec, Failure> {
    let local_path =
        path.to_str().ok_or_else(|| Failure::usage(format!("local path {} is not UTF-8", path.display())))?;
    Ok(FileSpec { url: url.to_string(), local_path: local_path.to_string(), size_hint: 0 })
}

/// Creates the group, its job and files (with the first file's `checksum`, and the group's
/// `rate_limit` when given), switches the group to the foreground when `foreground` (before
/// it is resumed, so that it never runs as a background group), adopts the partial files of
/// `adopt` (`--continue`), and resumes it. On an error before a partial file was adopted the
/// group is cancelled again, so that nothing is left in the queue; after, it stays
/// (suspended), since cancelling it would delete the adopted files, and the message says how
/// to go on.
#[allow(clippy::too_many_arguments)]
fn create(
    queue: &Queue,
    files: &[FileSpec],
    checksum: Option<&Checksum>,
    rate_limit: Option<u64>,
    foreground: bool,
    adopt: &[Adopt],
    quiet: bool,
) -> Result<Group, Failure> {
    let group = queue.manager.create_group(Guid::generate())?;
    let filled = || -> qmgr_rs::Result<Job> {
        let mut props = vec![
            (PropId::DisplayName, PropValue::Str(DISPLAY_NAME.to_string())),
            (PropId::Description, PropValue::Str(description(files))),
        ];
        let all_files = files.iter().all(|f| f.url.get(..7).is_some_and(|s| s.eq_ignore_ascii_case("file://")));
        if all_files {
            props.push((PropId::ProtocolFlags, PropValue::Int(protocol::SMB)));
        }
        group.set_props(&props)?;
        let job = group.create_job(Guid::generate())?;
        job.add_files(files)?;
        set_checksums(&job, 0, &[checksum])?;
        if let Some(rate) = rate_limit {
            group.set_rate_limit(rate)?;
        }
        if foreground {
            group.switch_to_foreground()?;
        }
        Ok(job)
    };
    let mut adopted = 0;
    let started = filled().and_then(|job| {
        for a in adopt {
            remote::adopt(&job, files, a, quiet)?;
            adopted += 1;
        }
        group.resume()
    });
    match started {
        Ok(()) => Ok(group),
        Err(e) if adopted > 0 => {
            let id = group.id();
            let prefix = queue.command_prefix();
            Err(Failure::from(e.context(format!(
                "group {id} keeps the {adopted} partial file(s) it adopted: resume it with {prefix} resume {id} \
                 --wait"
            ))))
        }
        Err(e) => {
            crate::queue::cancel_quietly(&group);
            Err(e.into())
        }
    }
}

/// The group's description: its URLs (passwords hidden), cut to the 1024-character limit.
fn description(files: &[FileSpec]) -> String {
    let all: Vec<String> = files.iter().map(|f| redact_url(&f.url)).collect();
    let text = all.join(" ");
    if text.chars().count() <= 1024 {
        text
    } else {
        let mut cut: String = text.chars().take(1021).collect();
        cut.push_str("...");
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(urls: &[&str], dir: Option<&str>, output: Option<&str>) -> GetArgs {
        GetArgs {
            urls: urls.iter().map(|s| s.to_string()).collect(),
            dir: dir.map(PathBuf::from),
            output: output.map(PathBuf::from),
            checksum: None,
            overwrite: false,
            continue_partial: false,
            content_disposition: false,
            quiet: false,
            retry_timeout: Duration::from_secs(60),
            tries: None,
            no_wait: false,
            background: false,
            limit_rate: None,
        }
    }

    /// [`plan`] without names of `--content-disposition`.
    fn plan_urls(a: &GetArgs) -> Result<Vec<FileSpec>, Failure> {
        plan(a, &[])
    }

    #[test]
    fn names_given_replace_the_urls_names() {
        let a = args(&["http://h/", "http://h/b.bin", "http://h/c.bin"], Some("/tmp/d"), None);
        let f = plan(&a, &[Some("report.pdf".into()), None]).unwrap();
        let paths: Vec<&str> = f.iter().map(|f| f.local_path.as_str()).collect();
        assert_eq!(paths, ["/tmp/d/report.pdf", "/tmp/d/b.bin", "/tmp/d/c.bin"]);
        assert!(plan(&a, &[None]).unwrap_err().message.contains("use --output FILE"), "no name from either");
    }

    #[test]
    fn files_go_into_the_directory_named_after_their_urls() {
        let f = plan_urls(&args(&["http://h/a.bin", "http://h/x/b.txt?q"], Some("/tmp/d"), None)).unwrap();
        assert_eq!(f[0].local_path, "/tmp/d/a.bin");
        assert_eq!(f[1].local_path, "/tmp/d/b.txt");
        let f = plan_urls(&args(&["http://h/a.bin"], None, None)).unwrap();
        assert!(Path::new(&f[0].local_path).is_absolute());
    }

    #[test]
    fn output_takes_one_url_and_a_file() {
        let f = plan_urls(&args(&["http://h/"], None, Some("/tmp/out.bin"))).unwrap();
        assert_eq!(f[0].local_path, "/tmp/out.bin");
        assert!(plan_urls(&args(&["http://h/a", "http://h/b"], None, Some("/tmp/o"))).is_err());
        assert!(plan_urls(&args(&["http://h/a"], None, Some("/tmp"))).is_err());
        assert!(plan_urls(&args(&["http://h/"], Some("/tmp"), None)).is_err());
    }

    #[test]
    fn a_checksum_takes_one_url_and_a_valid_spec() {
        let hex = "0a".repeat(32);
        let mut a = args(&["http://h/a"], None, None);
        a.checksum = Some(format!("SHA-256:{hex}"));
        assert_eq!(checksum(&a).unwrap().unwrap().to_string(), format!("sha-256:{hex}"));
        a.checksum = Some(format!("md5:{hex}"));
        let e = checksum(&a).unwrap_err().message;
        assert!(e.starts_with("--checksum: ") && e.contains("\"md5\" is not sha-256 or sha-512"), "{e}");
        a.checksum = Some(hex.clone());
        assert!(checksum(&a).unwrap_err().message.contains("ALGORITHM:HEX"));
        let mut two = args(&["http://h/a", "http://h/b"], Some("/tmp"), None);
        two.checksum = Some(format!("sha-256:{hex}"));
        assert!(checksum(&two).unwrap_err().message.contains("exactly one URL"));
        assert_eq!(checksum(&args(&["http://h/a", "http://h/b"], None, None)).unwrap(), None);
    }

    #[test]
    fn output_and_dir_explain_the_other_kind() {
        let msg = |a: GetArgs| plan_urls(&a).unwrap_err().message;
        assert!(msg(args(&["http://h/a"], None, Some("-"))).contains("standard output"));
        assert!(msg(args(&["http://h/a"], None, Some("/tmp"))).contains("use -d DIR"));
        assert!(msg(args(&["http://h/a"], None, Some("new-dir/"))).contains("use -d DIR"));
        assert!(msg(args(&["http://h/a"], None, Some("/nonexistent-qmgr/x.bin"))).contains("does not exist"));
        let file = tempfile::NamedTempFile::new().unwrap();
        assert!(msg(args(&["http://h/a"], Some(file.path().to_str().unwrap()), None)).contains("use -o FILE"));
        // A directory that does not exist yet is fine: it is created when the group is queued.
        assert!(plan_urls(&args(&["http://h/a"], Some("/tmp/qmgr-not-yet/sub"), None)).is_ok());
    }

    #[test]
    fn long_descriptions_are_cut() {
        let files: Vec<FileSpec> = (0..100)
            .map(|i| FileSpec {
                url: format!("http://example.com/some/long/path/{i}"),
                local_path: format!("/tmp/{i}"),
                size_hint: 0,
            })
            .collect();
        assert_eq!(description(&files).chars().count(), 1024);
        assert_eq!(description(&files[..1]), "http://example.com/some/long/path/0");
    }
}
