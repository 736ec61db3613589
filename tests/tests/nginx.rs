//! End to end against a real nginx on 127.0.0.1: the C example `download` and the `qmgr`
//! command fetch real system files and a 256 MiB pseudo-random file byte for byte, `qmgr get`
//! interrupted by Ctrl-C resumes with a ranged request, and a 404 fails with the HTTP status and
//! its HRESULT.
//!
//! Skipped (with a message) when nginx is not installed, except under CI where that fails.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use qmgr_tests::corpus::{corpus, Corpus, CorpusFile};
use qmgr_tests::nginx::{Nginx, NginxConfig};
use qmgr_tests::pieces::plans_after_probe;
use qmgr_tests::{compile, qmgr_bin, require_tool, run_to_end, sha256_file, wait_until, workspace_root, Lang};

/// Deadline for a whole download of the corpus (≈ 300 MiB; a debug build on a loaded CI machine).
const DOWNLOAD_DEADLINE: Duration = Duration::from_secs(300);

/// Deadline for commands that only touch the queue (`list`).
const COMMAND_DEADLINE: Duration = Duration::from_secs(60);

/// Rate of the `/slow/` location: `medium.bin` (48 MiB) then takes about 6 s.
const SLOW_RATE: u64 = 8 << 20;

/// BG_E_HTTP_ERROR_404 as printed by both programs.
const HTTP_404_HRESULT: &str = "0x80190194";

/// The corpus and an nginx serving it (with `/slow/` rate-limited); `None` when nginx is missing.
fn serve() -> Option<(&'static Corpus, Nginx)> {
    require_tool("nginx")?; // before generating the corpus for nothing
    let corpus = corpus();
    let server = Nginx::start(&NginxConfig::new(corpus.root()).rate_limited("/slow/", SLOW_RATE))?;
    Some((corpus, server))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn describe(output: &Output) -> String {
    format!("status {}\nstdout:\n{}\nstderr:\n{}", output.status, text(&output.stdout), text(&output.stderr))
}

/// `qmgr --queue QUEUE list --json`, parsed.
fn list_groups(queue: &Path) -> Vec<serde_json::Value> {
    let out = run_to_end(Command::new(qmgr_bin()).arg("--queue").arg(queue).args(["list", "--json"]), COMMAND_DEADLINE);
    assert!(out.status.success(), "qmgr list --json: {}", describe(&out));
    match serde_json::from_slice(&out.stdout) {
        Ok(serde_json::Value::Array(groups)) => groups,
        other => panic!("qmgr list --json did not print an array: {other:?}\n{}", describe(&out)),
    }
}

/// Names in `dir`, sorted (hidden temporary files included).
fn dir_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Asserts that `dir` holds exactly `files`, each byte-identical to the corpus (SHA-256).
fn assert_downloaded(dir: &Path, files: &[&CorpusFile]) {
    let mut expected: Vec<String> = files.iter().map(|f| f.name.clone()).collect();
    expected.sort();
    assert_eq!(dir_names(dir), expected, "files in {} (no temporary file may be left)", dir.display());
    for f in files {
        assert_downloaded_as(&dir.join(&f.name), f);
    }
}

fn assert_downloaded_as(path: &Path, file: &CorpusFile) {
    let len = std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).len();
    assert_eq!(len, file.size, "size of {} (from {})", path.display(), file.name);
    assert_eq!(sha256_file(path), file.sha256, "SHA-256 of {} (from {})", path.display(), file.name);
}

/// Every corpus file was fetched whole, with one 200 per download.
fn assert_served_whole(server: &Nginx, files: &[&CorpusFile], downloads: usize) {
    let log = server.access_log();
    for f in files {
        let path = format!("/{}", f.name);
        let hits: Vec<_> = log.iter().filter(|e| e.path() == path).collect();
        assert_eq!(hits.len(), downloads, "requests for {path}: {hits:?}");
        for e in hits {
            assert_eq!((e.status, e.body_bytes_sent, e.range.as_deref()), (200, f.size, None), "{e:?}");
        }
    }
}

#[test]
fn c_example_downloads_real_files_and_256_mib_in_one_group() {
    let Some((corpus, server)) = serve() else { return };
    let work = tempfile::tempdir().unwrap();
    let exe =
        compile(Lang::C11, &[&workspace_root().join("examples-c/download.c")], &work.path().join("download"), &[]);
    let (queue, dest) = (work.path().join("queue"), work.path().join("dest"));
    std::fs::create_dir(&dest).unwrap();
    let files: Vec<&CorpusFile> = corpus.all().collect();

    let started = Instant::now();
    let out = run_to_end(
        Command::new(&exe)
            .arg("--queue")
            .arg(&queue)
            .arg(&dest)
            .args(files.iter().map(|f| server.url(&format!("/{}", f.name)))),
        DOWNLOAD_DEADLINE,
    );
    let elapsed = started.elapsed();
    assert_eq!(out.status.code(), Some(0), "download: {}", describe(&out));
    let total: u64 = files.iter().map(|f| f.size).sum();
    eprintln!(
        "download: {} files, {total} bytes in {:.2} s ({:.1} MB/s)",
        files.len(),
        elapsed.as_secs_f64(),
        total as f64 / 1e6 / elapsed.as_secs_f64()
    );
    assert!(
        text(&out.stdout).contains(&format!("download: complete: {} file(s), {total} bytes", files.len())),
        "{}",
        describe(&out)
    );

    assert_downloaded(&dest, &files);
    assert_served_whole(&server, &files, 1);
    // The example cancels its group once complete: the queue (readable by qmgr) is empty.
    assert_eq!(list_groups(&queue), Vec::<serde_json::Value>::new());
}

#[test]
fn qmgr_get_downloads_real_files_and_256_mib_then_leaves_the_queue() {
    let Some((corpus, server)) = serve() else { return };
    let work = tempfile::tempdir().unwrap();
    let (queue, dest) = (work.path().join("queue"), work.path().join("dest"));
    std::fs::create_dir(&dest).unwrap();
    let files: Vec<&CorpusFile> = corpus.all().collect();

    let started = Instant::now();
    let out = run_to_end(
        Command::new(qmgr_bin())
            .arg("--queue")
            .arg(&queue)
            .arg("get")
            .args(files.iter().map(|f| server.url(&format!("/{}", f.name))))
            .arg("-d")
            .arg(&dest),
        DOWNLOAD_DEADLINE,
    );
    let elapsed = started.elapsed();
    assert_eq!(out.status.code(), Some(0), "qmgr get: {}", describe(&out));
    let total: u64 = files.iter().map(|f| f.size).sum();
    eprintln!(
        "qmgr get: {} files, {total} bytes in {:.2} s ({:.1} MB/s)",
        files.len(),
        elapsed.as_secs_f64(),
        total as f64 / 1e6 / elapsed.as_secs_f64()
    );
    assert!(
        text(&out.stdout).starts_with(&format!("done: {} files, {total} bytes", files.len())),
        "summary: {}",
        describe(&out)
    );
    assert_downloaded(&dest, &files);
    assert_served_whole(&server, &files, 1);
    assert_eq!(list_groups(&queue), Vec::<serde_json::Value>::new(), "get removes its group once complete");

    // One URL saved under another name with --output.
    let real = &corpus.real_files()[0];
    let renamed_dir = work.path().join("renamed");
    std::fs::create_dir(&renamed_dir).unwrap();
    let renamed = renamed_dir.join("saved-as.bin");
    let out = run_to_end(
        Command::new(qmgr_bin())
            .arg("--queue")
            .arg(&queue)
            .arg("get")
            .arg(server.url(&format!("/{}", real.name)))
            .arg("--output")
            .arg(&renamed),
        DOWNLOAD_DEADLINE,
    );
    assert_eq!(out.status.code(), Some(0), "qmgr get --output: {}", describe(&out));
    assert_eq!(dir_names(&renamed_dir), ["saved-as.bin"]);
    assert_downloaded_as(&renamed, real);
    assert_eq!(list_groups(&queue), Vec::<serde_json::Value>::new(), "get removes its group once complete");
}

/// The temporary file of `name` in `dir` (`.<name>.<job-guid>.<index>.qmgr-part`, DECISIONS D4).
fn part_file(dir: &Path, name: &str) -> Option<PathBuf> {
    let prefix = format!(".{name}.");
    dir_names(dir).into_iter().find(|n| n.starts_with(&prefix) && n.ends_with(".qmgr-part")).map(|n| dir.join(n))
}

/// A child process killed (SIGKILL) and reaped when the test ends early.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Bytes written to `path`: its length, or less for a sparse file (a file fetched in ranges,
/// DECISIONS D16, is as long as its last range's end): the space allocated to it.
fn written(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).map_or(0, |m| m.len().min(m.blocks() * 512))
}

/// `qmgr get` of the slow medium file interrupted by Ctrl-C once a quarter is written, then
/// `qmgr resume --wait`: the group is kept suspended with its temporary file, then completes
/// byte-exact and is kept complete. Returns nginx's log of the file's requests and the bytes
/// the temporary file held at the interruption. `connections`: the option
/// `max_connections_per_group` set first, if any.
fn interrupted_get(connections: Option<&str>) -> Option<(Vec<qmgr_tests::nginx::AccessLogEntry>, u64, u64)> {
    let (corpus, server) = serve()?;
    let medium = corpus.medium();
    let work = tempfile::tempdir().unwrap();
    let (queue, dest) = (work.path().join("queue"), work.path().join("dest"));
    std::fs::create_dir(&dest).unwrap();
    if let Some(n) = connections {
        let out = run_to_end(
            Command::new(qmgr_bin()).arg("--queue").arg(&queue).args(["option", "max_connections_per_group", n]),
            DOWNLOAD_DEADLINE,
        );
        assert_eq!(out.status.code(), Some(0), "qmgr option: {}", describe(&out));
    }
    let url_path = format!("/slow/{}", medium.name);
    let (out_path, err_path) = (work.path().join("get.stdout"), work.path().join("get.stderr"));
    let mut child = KillOnDrop(
        Command::new(qmgr_bin())
            .arg("--queue")
            .arg(&queue)
            .arg("get")
            .arg(server.url(&url_path))
            .arg("-d")
            .arg(&dest)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out_path).unwrap())
            .stderr(std::fs::File::create(&err_path).unwrap())
            .spawn()
            .unwrap(),
    );
    let output_so_far = || {
        format!(
            "stdout:\n{}\nstderr:\n{}",
            text(&std::fs::read(&out_path).unwrap()),
            text(&std::fs::read(&err_path).unwrap())
        )
    };

    // Interrupt once more than a quarter is on disk (about 1.5 s at SLOW_RATE).
    let quarter = medium.size / 4;
    let mut exited = None;
    let grown = wait_until(Duration::from_secs(120), || {
        exited = child.0.try_wait().unwrap();
        exited.is_some() || part_file(&dest, &medium.name).is_some_and(|p| written(&p) > quarter)
    });
    if !grown || exited.is_some() {
        panic!("temporary file never grew past {quarter} bytes (exit: {exited:?})\n{}", output_so_far());
    }
    // Our own child, not reaped yet: the pid is still its own.
    let pid = rustix::process::Pid::from_child(&child.0);
    rustix::process::kill_process(pid, rustix::process::Signal::INT)
        .unwrap_or_else(|e| panic!("kill -INT {}: {e}", child.0.id()));
    let mut status = None;
    let ended = wait_until(Duration::from_secs(60), || {
        status = child.0.try_wait().unwrap();
        status.is_some()
    });
    if !ended {
        panic!("qmgr get did not exit within 60 s of SIGINT\n{}", output_so_far());
    }
    let stderr = text(&std::fs::read(&err_path).unwrap());
    assert_eq!(status.unwrap().code(), Some(3), "exit code after Ctrl-C (3 = interrupted)\n{}", output_so_far());

    // stderr: "suspended group {GUID}; resume with: qmgr --queue DIR resume {GUID} --wait".
    let line =
        stderr.lines().find(|l| l.starts_with("suspended group ")).unwrap_or_else(|| panic!("{}", output_so_far()));
    let guid = line["suspended group ".len()..].split(';').next().unwrap().trim().to_string();
    assert!(guid.starts_with('{') && guid.ends_with('}') && guid.len() == 38, "group GUID {guid:?} in {line:?}");
    assert!(line.contains(&format!("resume {guid} --wait")), "{line}");
    let groups = list_groups(&queue);
    assert_eq!(groups.len(), 1, "{groups:?}");
    assert_eq!(groups[0]["id"], guid.as_str());
    assert_eq!(groups[0]["state"], "suspended");
    let part = part_file(&dest, &medium.name).expect("the temporary file stays while suspended");
    let kept = written(&part);
    assert!(kept > quarter && kept < medium.size, "kept {kept} of {} bytes", medium.size);
    assert!(!dest.join(&medium.name).exists(), "nothing is written to the final name before it is complete");

    let out = run_to_end(
        Command::new(qmgr_bin()).arg("--queue").arg(&queue).args(["resume", &guid, "--wait"]),
        DOWNLOAD_DEADLINE,
    );
    assert_eq!(out.status.code(), Some(0), "qmgr resume --wait: {}", describe(&out));
    assert_downloaded(&dest, &[medium]);
    assert!(!part.exists(), "temporary file {} left behind", part.display());

    // resume --wait leaves the complete group in the queue (only get removes its group).
    let groups = list_groups(&queue);
    assert_eq!(groups.len(), 1, "{groups:?}");
    assert_eq!((&groups[0]["id"], &groups[0]["state"]), (&serde_json::json!(guid), &serde_json::json!("complete")));
    Some((server.access_log().into_iter().filter(|e| e.path() == url_path).collect(), kept, medium.size))
}

#[test]
fn qmgr_get_interrupted_by_ctrl_c_resumes_with_a_range_request() {
    // One connection: one stream, resumed from where the temporary file ends.
    let Some((log, kept, size)) = interrupted_get(Some("1")) else { return };
    // nginx: one whole-file request, cut short by the interruption, and one ranged request from
    // exactly where the temporary file ended; never a restart from zero. (A request is logged
    // when it ends, so the two lines may come in either order.)
    assert_eq!(log.len(), 2, "requests for the file: {log:?}");
    let (first, resumed) = if log[0].range.is_none() { (&log[0], &log[1]) } else { (&log[1], &log[0]) };
    assert_eq!((first.status, first.range.as_deref()), (200, None), "{first:?}");
    assert!(first.body_bytes_sent < size, "the interrupted request sent everything: {first:?}");
    let start = resumed.range_start().unwrap_or_else(|| panic!("no Range: bytes=N- in {resumed:?}"));
    assert!(start > 0, "{resumed:?}");
    assert_eq!(resumed.range.as_deref(), Some(format!("bytes={start}-").as_str()), "{resumed:?}");
    assert_eq!(start, kept, "resumes from the end of the temporary file (DECISIONS D4, D6): {resumed:?}");
    assert_eq!(resumed.status, 206, "{resumed:?}");
    assert_eq!(resumed.body_bytes_sent, size - start, "{resumed:?}");
    assert!(resumed.if_range.is_some(), "a resumed request carries If-Range (DECISIONS D5): {resumed:?}");
}

/// The same in ranges over six connections (the default; DECISIONS D16): the file streams
/// alone first, proves slow (`/slow/` is paced) and goes on in six pieces; after the
/// interruption each piece goes on from where it stopped — never from its start again,
/// nothing asked for twice but what was in flight — and the file is complete.
#[test]
fn qmgr_get_in_ranges_interrupted_by_ctrl_c_resumes_each_piece() {
    let Some((log, _, size)) = interrupted_get(None) else { return };
    let (first, resumed): (Vec<_>, Vec<_>) = {
        let opening = log.iter().position(|e| e.range.is_none()).unwrap_or_else(|| panic!("no opening GET: {log:?}"));
        // Requests of the first run: the opening GET and the bounded ranges of the plan made
        // where its stream stood (each starts at a piece's start, the pieces after the first
        // one); those of the resume start inside one.
        // (nginx logs a request when it ends: the log is not in the order sent.)
        let starts: Vec<u64> = log.iter().filter_map(|e| e.range_start()).collect();
        let pieces = starts
            .iter()
            .flat_map(|&start| plans_after_probe(size, 0, start, 6))
            .find(|plan| plan[1..].iter().all(|p| starts.contains(&p.0)))
            .unwrap_or_else(|| panic!("the first run's ranges are no plan of the rest: {log:?}"));
        log.iter()
            .enumerate()
            .partition(|(i, e)| *i == opening || pieces[1..].iter().any(|p| e.range_start() == Some(p.0)))
    };
    assert_eq!(first.len(), 6, "six pieces at first: {log:?}");
    assert!(!resumed.is_empty(), "{log:?}");
    for (_, r) in &resumed {
        let start = r.range_start().unwrap_or_else(|| panic!("a resumed request without Range: {r:?}"));
        assert!(r.if_range.is_some(), "{r:?}");
        assert_eq!(r.status, 206, "{r:?}");
        // Inside the part of a first-run request that was sent: resumed, not restarted.
        let inside = first.iter().any(|(_, f)| {
            let s = f.range_start().unwrap_or(0);
            start > s && start <= s + f.body_bytes_sent
        });
        assert!(inside, "{r:?} does not continue a piece of {first:?}");
    }
}

/// After a fatal error the group stays in `queue`, in ERROR, and nothing has the final `name`
/// in `dest` (its temporary file may stay, DECISIONS D4); `qmgr cancel` then empties both (the
/// C example's queue is read and changed by the command: one queue format).
fn assert_failed_group_kept_then_cancelled(queue: &Path, dest: &Path, name: &str) {
    let groups = list_groups(queue);
    assert_eq!(groups.len(), 1, "{groups:?}");
    assert_eq!(groups[0]["state"], "error", "{groups:?}");
    let left = dir_names(dest);
    let part_prefix = format!(".{name}.");
    assert!(
        left.iter().all(|n| n.starts_with(&part_prefix) && n.ends_with(".qmgr-part")),
        "in {}: {left:?}",
        dest.display()
    );
    let guid = groups[0]["id"].as_str().expect("group id").to_string();
    let out = run_to_end(Command::new(qmgr_bin()).arg("--queue").arg(queue).args(["cancel", &guid]), COMMAND_DEADLINE);
    assert_eq!(out.status.code(), Some(0), "qmgr cancel: {}", describe(&out));
    assert_eq!(list_groups(queue), Vec::<serde_json::Value>::new());
    assert!(
        wait_until(Duration::from_secs(10), || dir_names(dest).is_empty()),
        "temporary files of a cancelled group are deleted: {:?}",
        dir_names(dest)
    );
}

#[test]
fn http_404_fails_both_programs_with_the_status_and_its_hresult() {
    let Some((_corpus, server)) = serve() else { return };
    let work = tempfile::tempdir().unwrap();
    let url = server.url("/no-such-file.bin");

    let exe =
        compile(Lang::C11, &[&workspace_root().join("examples-c/download.c")], &work.path().join("download"), &[]);
    let (c_queue, c_dest) = (work.path().join("c-queue"), work.path().join("c-dest"));
    std::fs::create_dir(&c_dest).unwrap();
    let out = run_to_end(Command::new(&exe).arg("--queue").arg(&c_queue).arg(&c_dest).arg(&url), DOWNLOAD_DEADLINE);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "download: {}", describe(&out));
    assert!(stderr.contains("HTTP status 404"), "download: {}", describe(&out));
    assert!(stderr.contains(&format!("HRESULT/Win32 {HTTP_404_HRESULT}")), "download: {}", describe(&out));
    assert!(stderr.contains("/no-such-file.bin"), "the failed URL is named: {}", describe(&out));
    assert_failed_group_kept_then_cancelled(&c_queue, &c_dest, "no-such-file.bin");

    let (queue, dest) = (work.path().join("queue"), work.path().join("dest"));
    std::fs::create_dir(&dest).unwrap();
    let out = run_to_end(
        Command::new(qmgr_bin()).arg("--queue").arg(&queue).arg("get").arg(&url).arg("-d").arg(&dest),
        DOWNLOAD_DEADLINE,
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "qmgr get: {}", describe(&out));
    assert!(
        stderr.lines().any(|l| l.trim_start().starts_with("http status:") && l.trim_end().ends_with(" 404")),
        "qmgr get: {}",
        describe(&out)
    );
    assert!(stderr.contains(&format!("(HRESULT {HTTP_404_HRESULT}: ")), "qmgr get: {}", describe(&out));
    assert!(stderr.contains(&url), "the failed URL is named: {}", describe(&out));
    assert_failed_group_kept_then_cancelled(&queue, &dest, "no-such-file.bin");

    let hits: Vec<_> = server.access_log().into_iter().filter(|e| e.path() == "/no-such-file.bin").collect();
    assert!(hits.len() == 2 && hits.iter().all(|e| e.status == 404), "one request each, no retry: {hits:?}");
}
