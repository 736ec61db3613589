//! `qmgr get`: download URLs now through a group of its own, showing progress.

use crate::exit::{CmdResult, Exit, Failure};
use crate::names::{file_name_from_url, redact_url};
use crate::queue::{Queue, QueueTarget};
use crate::watch::{self, Ended};
use qmgr_rs::model::{protocol, Checksum, PropId, PropValue};
use qmgr_rs::{FileSpec, Group, Guid, Job};
use std::path::{Path, PathBuf};

/// Display name of the groups `qmgr get` creates.
pub const DISPLAY_NAME: &str = "qmgr get";

/// Arguments of `qmgr get`.
#[derive(Debug, clap::Args)]
pub struct GetArgs {
    /// URLs to download: http:// and https://, or file:// (all of them then).
    #[arg(required = true, value_name = "URL")]
    pub urls: Vec<String>,

    /// Directory to save the files in, each named after the last segment of its URL's path
    /// (default: the current directory).
    #[arg(short = 'o', long = "output-dir", value_name = "DIR", conflicts_with = "output")]
    pub dir: Option<PathBuf>,

    /// Save the URL as FILE (exactly one URL).
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,

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
}

/// Runs `qmgr get`: one group (random GUID, display name "qmgr get") with one job holding
/// the files, switched to the foreground (unless `--background`; DECISIONS D14, as
/// Start-BitsTransfer), resumed and followed until it stops.
///
/// * complete: the group is cancelled (the finished files stay; the group leaves the
///   queue), a summary is printed; exit 0.
/// * error: the failure is reported with the group's GUID, which stays in the queue; exit 1.
/// * Ctrl-C: the group is suspended and stays in the queue; exit 3.
/// * `--no-wait`: the group's GUID is printed and the command returns at once (exit 0); the
///   group stays in the queue and a background runner finishes it (DECISIONS D13).
///
/// Errors: bad arguments or a call refused by the queue (exit 2; the group is cancelled
/// then), queue unavailable (exit 4).
pub fn run(target: &QueueTarget, args: GetArgs) -> CmdResult {
    let files = plan(&args)?;
    let checksum = checksum(&args)?;
    let queue = target.open()?;
    watch::install_interrupt_handler();
    let group = create(&queue, &files, checksum.as_ref(), !args.background)?;
    let id = group.id();
    if args.no_wait {
        println!("{id}");
        crate::runner::note(&queue, id);
        return Ok(Exit::Success);
    }
    let outcome = watch::follow(&group, None)?;
    let prefix = queue.command_prefix();
    Ok(match outcome.ended {
        Ended::Complete => {
            let paths: Vec<String> = files.iter().map(|f| f.local_path.clone()).collect();
            if let Err(e) = group.cancel() {
                log::warn!("removing the completed group {id} from the queue: {e}");
            }
            watch::print_summary(&outcome, &paths);
            Exit::Success
        }
        Ended::Failed => {
            watch::report_failure(&queue, &group);
            Exit::TransferFailed
        }
        Ended::Interrupted | Ended::TimedOut => {
            if let Err(e) = group.suspend() {
                eprintln!("error: suspending group {id}: {}", crate::exit::api_message(&e));
            }
            eprintln!("suspended group {id}; resume with: {prefix} resume {id} --wait");
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

/// The files to add: URL and absolute local path of each.
///
/// Errors (exit 2): `--output` with several URLs or naming a directory, a URL that gives no
/// safe file name, a path that is not UTF-8, no current directory.
fn plan(args: &GetArgs) -> Result<Vec<FileSpec>, Failure> {
    if let Some(out) = &args.output {
        if args.urls.len() != 1 {
            return Err(Failure::usage(format!(
                "--output FILE takes exactly one URL, not {} (use -o DIR for several)",
                args.urls.len()
            )));
        }
        let path = absolute(out)?;
        if path.is_dir() {
            return Err(Failure::usage(format!(
                "--output {} is a directory; use -o DIR to save into a directory",
                path.display()
            )));
        }
        return Ok(vec![spec(&args.urls[0], &path)?]);
    }
    let dir = absolute(args.dir.as_deref().unwrap_or(Path::new(".")))?;
    args.urls
        .iter()
        .map(|url| {
            let name = file_name_from_url(url).map_err(|e| Failure::usage(format!("{e}; use --output FILE")))?;
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

/// Creates the group, its job and files (with the first file's `checksum`), switches the
/// group to the foreground when `foreground` (before it is resumed, so that it never runs as
/// a background group), and resumes it. On any error the group is cancelled again, so that
/// nothing is left in the queue.
fn create(queue: &Queue, files: &[FileSpec], checksum: Option<&Checksum>, foreground: bool) -> Result<Group, Failure> {
    let group = queue.manager.create_group(Guid::generate())?;
    let filled = || -> qmgr_rs::Result<()> {
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
        if foreground {
            group.switch_to_foreground()?;
        }
        group.resume()
    };
    match filled() {
        Ok(()) => Ok(group),
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
            no_wait: false,
            background: false,
        }
    }

    #[test]
    fn files_go_into_the_directory_named_after_their_urls() {
        let f = plan(&args(&["http://h/a.bin", "http://h/x/b.txt?q"], Some("/tmp/d"), None)).unwrap();
        assert_eq!(f[0].local_path, "/tmp/d/a.bin");
        assert_eq!(f[1].local_path, "/tmp/d/b.txt");
        let f = plan(&args(&["http://h/a.bin"], None, None)).unwrap();
        assert!(Path::new(&f[0].local_path).is_absolute());
    }

    #[test]
    fn output_takes_one_url_and_a_file() {
        let f = plan(&args(&["http://h/"], None, Some("/tmp/x/out.bin"))).unwrap();
        assert_eq!(f[0].local_path, "/tmp/x/out.bin");
        assert!(plan(&args(&["http://h/a", "http://h/b"], None, Some("/tmp/o"))).is_err());
        assert!(plan(&args(&["http://h/a"], None, Some("/tmp"))).is_err());
        assert!(plan(&args(&["http://h/"], Some("/tmp"), None)).is_err());
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
