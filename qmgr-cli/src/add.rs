//! `qmgr add`: files into a new or an existing job of a group (`CreateJob`, `AddFiles`).

use crate::exit::{CmdResult, Exit, Failure};
use crate::get::{absolute, parse_checksum, set_checksums, spec};
use crate::names::{file_name_from_url, redact_url};
use crate::queue::{parse_guid, Queue};
use qmgr_rs::model::Checksum;
use qmgr_rs::{FileSpec, Guid};
use serde_json::json;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Arguments of `qmgr add`.
#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// Group GUID (braces optional).
    pub group: String,

    /// Pairs of source URL and local path. A relative path is taken from the current
    /// directory; an existing directory (or a path ending in /) gets the file named after the
    /// last segment of the URL's path.
    #[arg(value_name = "URL LOCAL")]
    pub pairs: Vec<String>,

    /// Add to this existing job of the group instead of a new job.
    #[arg(long, value_name = "JOB")]
    pub job: Option<String>,

    /// Also read files from FILE (- for standard input): one `URL LOCAL [ALGORITHM:HEX]` per
    /// line, separated by whitespace; empty lines and lines starting with # are skipped. The
    /// optional third column is the file's expected digest (sha-256 or sha-512, DECISIONS
    /// D15): a last word of the form NAME:… is taken as that column (so a LOCAL whose last
    /// word has a colon must be given on the command line instead).
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,

    /// Print a JSON object instead of the job GUID.
    #[arg(long)]
    pub json: bool,
}

/// `qmgr add GROUP URL LOCAL [URL LOCAL…] [--from FILE] [--job JOB] [--json]`: adds the files,
/// all or nothing, to a new job (created after the group's others) or to `--job`; prints the
/// job's GUID. The group must be SUSPENDED or in ERROR (DECISIONS D3).
///
/// Errors (exit 2): no pairs, a URL without its local path, an unreadable `--from` file or a
/// bad line in it, bad or unknown group or job GUID, the group RUNNING or COMPLETE
/// (`QM_E_INVALID_STATE`), a file the queue refuses (bad URL, a scheme of another protocol,
/// missing directory…; the message names the file). A new job is cancelled again on error.
pub fn add(queue: &Queue, args: &AddArgs) -> CmdResult {
    let mut entries: Vec<Entry> = pairs_from_args(&args.pairs)?.into_iter().map(|(u, l)| (u, l, None)).collect();
    if let Some(from) = &args.from {
        entries.extend(entries_from_file(from)?);
    }
    if entries.is_empty() {
        return Err(Failure::usage("no files to add: give URL LOCAL pairs or --from FILE"));
    }
    let files = entries.iter().map(|(url, local, _)| file_spec(url, local)).collect::<Result<Vec<_>, _>>()?;
    let checksums: Vec<Option<&Checksum>> = entries.iter().map(|(.., c)| c.as_ref()).collect();
    let group = queue.group(&args.group)?;
    let (job, new_job) = match &args.job {
        Some(text) => (group.get_job(parse_guid(text)?)?, false),
        None => (group.create_job(Guid::generate())?, true),
    };
    let first = job.file_count()?;
    let added = job.add_files(&files).and_then(|()| set_checksums(&job, first, &checksums));
    if let Err(e) = added {
        if new_job {
            if let Err(c) = job.cancel() {
                log::warn!("cancelling the new job {}: {c}", job.id());
            }
        }
        return Err(e.into());
    }
    crate::runner::note(queue, group.id());
    if !args.json {
        println!("{}", job.id());
        return Ok(Exit::Success);
    }
    let count = job.file_count()?;
    let added: Vec<_> = files
        .iter()
        .zip(&checksums)
        .enumerate()
        .map(|(i, (f, c))| {
            json!({
                "index": first as usize + i,
                "url": redact_url(&f.url),
                "local_path": f.local_path,
                "checksum": c.map(|c| c.to_string()),
            })
        })
        .collect();
    let v = json!({
        "group_id": group.id().to_string(),
        "job_id": job.id().to_string(),
        "new_job": new_job,
        "file_count": count,
        "files": added,
    });
    println!("{}", crate::show::pretty(&v));
    Ok(Exit::Success)
}

/// The positional arguments as (URL, local) pairs.
fn pairs_from_args(args: &[String]) -> Result<Vec<(String, String)>, Failure> {
    if args.len() % 2 == 1 {
        return Err(Failure::usage(format!(
            "URL \"{}\" has no local path after it: give URL LOCAL pairs",
            redact_url(&args[args.len() - 1])
        )));
    }
    Ok(args.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect())
}

/// One file to add: URL, local path as given, and the expected digest when given.
type Entry = (String, String, Option<Checksum>);

/// The entries of a `--from` file (`-`: standard input).
fn entries_from_file(from: &Path) -> Result<Vec<Entry>, Failure> {
    let shown = from.display();
    let mut text = String::new();
    let read = if from == Path::new("-") {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::read_to_string(from).map(|t| text = t)
    };
    read.map_err(|e| Failure::usage(format!("--from {shown}: {e}")))?;
    parse_entries(&text).map_err(|e| Failure::usage(format!("--from {shown}: {e}")))
}

/// `URL<whitespace>LOCAL[<whitespace>ALGORITHM:HEX]` lines (LOCAL may contain spaces; a last
/// word `NAME:…`, NAME of letters, digits and `-`, is the checksum column, checked by
/// [`parse_checksum`]); empty and `#` lines skipped.
fn parse_entries(text: &str) -> Result<Vec<Entry>, String> {
    let mut entries = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((url, rest)) = line.split_once(char::is_whitespace) else {
            return Err(format!("line {}: \"{}\" has no local path after it", n + 1, redact_url(line)));
        };
        let rest = rest.trim();
        let (local, checksum) = match rest.rsplit_once(char::is_whitespace) {
            Some((local, last)) if last.split_once(':').is_some_and(|(name, _)| is_algorithm_name(name)) => {
                let c = parse_checksum(last).map_err(|e| format!("line {}: checksum \"{last}\": {e}", n + 1))?;
                (local.trim_end(), Some(c))
            }
            _ => (rest, None),
        };
        entries.push((url.to_string(), local.to_string(), checksum));
    }
    Ok(entries)
}

/// Whether `name` can be the algorithm of a checksum column: letters, digits and `-`.
fn is_algorithm_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// The file to add: `local` made absolute; a directory gets the name from the URL.
fn file_spec(url: &str, local: &str) -> Result<FileSpec, Failure> {
    let path = absolute(Path::new(local))?;
    let path = if local.ends_with('/') || path.is_dir() {
        let name = file_name_from_url(url).map_err(|e| Failure::usage(format!("{e}; give a file path as LOCAL")))?;
        path.join(name)
    } else {
        path
    };
    spec(url, &path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_come_from_lines() {
        let text = "# list\n\nhttp://h/a  /tmp/a\n  file:///x/b\t/tmp/my b  \n";
        let p = parse_entries(text).unwrap();
        assert_eq!(p, [("http://h/a".into(), "/tmp/a".into(), None), ("file:///x/b".into(), "/tmp/my b".into(), None)]);
        let e = parse_entries("http://h/a /tmp/a\nhttp://u:pw@h/b\n").unwrap_err();
        assert!(e.starts_with("line 2: ") && e.contains("u:***@h") && !e.contains("pw"), "{e}");
    }

    #[test]
    fn a_third_column_is_the_checksum() {
        let hex = "Ab".repeat(32);
        let text = format!(
            "http://h/a /tmp/a SHA-256:{hex}\nhttp://h/b /tmp/my b\tsha-512:{}\nhttp://h/c /tmp/c d\n",
            "0".repeat(128)
        );
        let p = parse_entries(&text).unwrap();
        let c: Vec<Option<String>> = p.iter().map(|(.., c)| c.as_ref().map(|c| c.to_string())).collect();
        assert_eq!(
            c,
            [Some(format!("sha-256:{}", hex.to_lowercase())), Some(format!("sha-512:{}", "0".repeat(128))), None]
        );
        let locals: Vec<&str> = p.iter().map(|(_, l, _)| l.as_str()).collect();
        assert_eq!(locals, ["/tmp/a", "/tmp/my b", "/tmp/c d"]);
        for (bad, words) in [
            (format!("http://h/a /tmp/a md5:{hex}"), "\"md5\" is not sha-256 or sha-512"),
            ("http://h/a /tmp/a sha-256:abc".to_string(), "has 3 hex digits"),
            ("http://h/a /tmp/a sha-256:xyz".to_string(), "'x' at position 0"),
        ] {
            let e = parse_entries(&format!("# c\n{bad}\n")).unwrap_err();
            assert!(e.starts_with("line 2: checksum \"") && e.contains(words), "{e}");
        }
    }

    #[test]
    fn arguments_come_in_pairs() {
        let args: Vec<String> = ["http://h/a", "/tmp/a", "http://h/b"].iter().map(|s| s.to_string()).collect();
        assert!(pairs_from_args(&args[..2]).is_ok());
        assert!(pairs_from_args(&args).unwrap_err().message.contains("http://h/b"));
    }

    #[test]
    fn directories_get_the_name_of_the_url() {
        let dir = std::env::temp_dir();
        let f = file_spec("http://h/x/file.bin?q", dir.to_str().unwrap()).unwrap();
        assert_eq!(Path::new(&f.local_path), dir.join("file.bin"));
        let f = file_spec("http://h/x", "/tmp/renamed.bin").unwrap();
        assert_eq!(f.local_path, "/tmp/renamed.bin");
        assert!(file_spec("http://h/", "/tmp/").is_err());
    }
}
