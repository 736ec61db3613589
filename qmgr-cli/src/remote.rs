//! What `qmgr get` learns of its URLs before it queues them, through `Manager::probe` (a
//! `HEAD` request through the queue's transport): the file names of `--content-disposition`,
//! and what `--continue` does with a partial file that another tool left under a final name
//! (issue #15). The decision itself is `qmgr-core`'s rule
//! `rules::partial::continue_partial`.

use crate::exit::{api_message, Exit, Failure};
use crate::names::redact_url;
use qmgr_rs::rules::partial::{continue_partial, PartialFile};
use qmgr_rs::{FileSpec, Manager, Probe};
use std::path::Path;

/// The probes of a get's URLs, each made once, when first needed.
pub struct Probes<'a> {
    manager: &'a Manager,
    urls: &'a [String],
    made: Vec<Option<qmgr_rs::Result<Probe>>>,
}

impl<'a> Probes<'a> {
    /// No probe made yet for `urls`.
    pub fn new(manager: &'a Manager, urls: &'a [String]) -> Probes<'a> {
        Probes { manager, urls, made: vec![None; urls.len()] }
    }

    /// What the probe of URL `i` said (made now the first time).
    fn get(&mut self, i: usize) -> &qmgr_rs::Result<Probe> {
        let (manager, url) = (self.manager, &self.urls[i]);
        self.made[i].get_or_insert_with(|| manager.probe(url))
    }
}

/// `--content-disposition`: for each URL, the file name its answer's `Content-Disposition`
/// gives (already sanitised by the transport), or `None` to name the file after the URL — also
/// when the probe fails, which is said on stderr unless `quiet` (the download then reports the
/// failure as usual).
pub fn disposition_names(probes: &mut Probes<'_>, quiet: bool) -> Vec<Option<String>> {
    (0..probes.urls.len())
        .map(|i| match probes.get(i) {
            Ok(p) => p.file_name.clone(),
            Err(e) => {
                if !quiet {
                    eprintln!("note: --content-disposition: {}; the file is named after its URL", api_message(e));
                }
                None
            }
        })
        .collect()
}

/// A partial file to adopt as the temporary file of file `index` of the new job
/// (`Job::adopt_partial`).
pub struct Adopt {
    /// The file's index in the job.
    pub index: u32,
    /// Bytes it holds.
    pub held: u64,
    /// What the server said of the URL.
    pub probe: Probe,
}

/// `--continue`: looks at each file of `files` that exists at its final name, and decides by
/// `continue_partial` what happens to it — continued (returned, to be adopted once the job
/// exists), already complete (taken out of `files`, with a note on stderr), empty (downloaded
/// over), or refused. Files that do not exist are downloaded as usual.
///
/// With `checked` (`--checksum` given), a file the size of the remote one is not taken as
/// complete: its bytes were never checked (DECISIONS D15), so it is refused like a partial
/// file that cannot be continued.
///
/// Errors (nothing changed then): a refused partial file, or a final name that is not a
/// regular file (exit 2); a probe that failed (exit 1).
pub fn plan_continue(probes: &mut Probes<'_>, files: &mut Vec<FileSpec>, checked: bool) -> Result<Vec<Adopt>, Failure> {
    let mut adopt = Vec::new();
    let mut complete = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let Ok(meta) = std::fs::metadata(&f.local_path) else { continue };
        if !meta.is_file() {
            return Err(Failure::usage(format!("--continue: {} is not a regular file", f.local_path)));
        }
        let held = meta.len();
        let probe = probes.get(i).as_ref().map_err(|e| Failure {
            code: Exit::TransferFailed,
            message: format!(
                "--continue: cannot look at {}: {}; nothing was changed",
                redact_url(&f.url),
                api_message(e)
            ),
        })?;
        match continue_partial(held, probe) {
            PartialFile::Continue => adopt.push((i, held, probe.clone())),
            PartialFile::Complete if checked => {
                return Err(Failure::usage(format!(
                    "--continue: {} already has the size of {} ({held} bytes), but --checksum cannot be \
                     checked on a file qmgr did not fetch; nothing was changed (check it with sha256sum or \
                     sha512sum, or use --overwrite to download it again)",
                    f.local_path,
                    redact_url(&f.url)
                )))
            }
            PartialFile::Complete => complete.push(i),
            PartialFile::Empty => {}
            PartialFile::Refuse(r) => {
                return Err(Failure::usage(format!(
                    "--continue: cannot continue {} ({held} bytes): {}; nothing was changed (use --overwrite to \
                     download it again)",
                    f.local_path,
                    r.reason()
                )))
            }
        }
    }
    for &i in &complete {
        eprintln!(
            "{} is already complete ({} bytes, the size of {}); nothing to download",
            files[i].local_path,
            std::fs::metadata(&files[i].local_path).map_or(0, |m| m.len()),
            redact_url(&files[i].url)
        );
    }
    // Indices in the job once the complete files are left out.
    let adopt = adopt
        .into_iter()
        .map(|(i, held, probe)| Adopt { index: (i - complete.iter().filter(|&&c| c < i).count()) as u32, held, probe })
        .collect();
    let mut i = 0;
    files.retain(|_| {
        let keep = !complete.contains(&i);
        i += 1;
        keep
    });
    Ok(adopt)
}

/// Adopts the partial file of `a` into `job` (`Job::adopt_partial`: a rename, its checkpoint
/// stored first), saying so on stderr unless `quiet`.
///
/// Errors: the queue refused, or the rename failed (the partial file is left where it was).
pub fn adopt(job: &qmgr_rs::Job, files: &[FileSpec], a: &Adopt, quiet: bool) -> qmgr_rs::Result<()> {
    let path = &files[a.index as usize].local_path;
    job.adopt_partial(a.index, Path::new(path), a.held, &a.probe)?;
    if !quiet {
        eprintln!("continuing {path} from byte {} (a ranged request, checked with If-Range)", a.held);
    }
    Ok(())
}
