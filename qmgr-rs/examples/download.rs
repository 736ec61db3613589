//! Downloads URLs into a directory through the qmgr queue, with a callback and progress.
//!
//! ```sh
//! cargo run -p qmgr-rs --example download -- DEST_DIR URL...
//! ```
//! Uses the default queue (`$QMGR_HOME`, else `~/.local/state/qmgr`). Each URL is saved under
//! the last segment of its path. Exits 0 when every file arrived, 1 on a transfer error.
use qmgr_rs::model::{notify, status, PropId, PropValue};
use qmgr_rs::{Callback, FileSpec, Group, Guid, HResult, Job};
use std::sync::Arc;
use std::time::Duration;

/// Prints what the queue reports: errors (always on) and group completion (asked for below).
struct Printer;

impl Callback for Printer {
    fn on_status(
        &self,
        _group: &Group,
        job: Option<&Job>,
        file_index: u32,
        status_word: u32,
        retries: u32,
        win32: u32,
        http: u32,
    ) -> HResult {
        if status_word & status::GROUP_ERROR != 0 {
            let message = job.and_then(|j| j.error_message().ok().flatten()).unwrap_or_default();
            eprintln!("error on file {file_index}: win32 {win32:#010x}, HTTP {http}, {retries} retries: {message}");
        } else if status_word & status::GROUP_COMPLETE != 0 {
            eprintln!("group complete");
        }
        qmgr_rs::hresult::S_OK
    }
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: download DEST_DIR URL...");
        return std::process::ExitCode::from(2);
    }
    match run(&args[0], &args[1..]) {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::FAILURE,
        Err(e) => {
            eprintln!("download: {e}");
            std::process::ExitCode::from(2)
        }
    }
}

fn run(dest: &str, urls: &[String]) -> qmgr_rs::Result<bool> {
    let dest = std::fs::canonicalize(dest).map_err(|e| qmgr_rs::Error::invalid_arg(format!("{dest}: {e}")))?;
    let manager = qmgr_rs::open(None)?;
    let group = manager.create_group(Guid::generate())?;
    group.set_prop(PropId::DisplayName, PropValue::Str("qmgr-rs example".into()))?;
    group.set_prop(PropId::NotifyFlags, PropValue::Int(notify::GROUP_DONE))?;
    group.set_callback(Some(Arc::new(Printer)))?;
    let job = group.create_job(Guid::generate())?;
    let files: Vec<FileSpec> = urls
        .iter()
        .map(|url| {
            let name = url.split(['?', '#']).next().unwrap_or(url).rsplit('/').next().unwrap_or("download");
            FileSpec::new(url.clone(), dest.join(name).display().to_string())
        })
        .collect();
    if let Err(e) = job.add_files(&files) {
        group.cancel()?;
        return Err(e);
    }
    group.resume()?;
    loop {
        let (settled, word) = group.wait(Some(Duration::from_millis(500)))?;
        let (done, total) = group.progress64()?;
        match total {
            u64::MAX => println!("progress: {done} bytes"),
            total => println!("progress: {done}/{total} bytes"),
        }
        if settled {
            let complete = word & status::GROUP_COMPLETE != 0;
            if complete {
                group.cancel()?; // the finished files stay; the group leaves the queue
            }
            return Ok(complete);
        }
    }
}
