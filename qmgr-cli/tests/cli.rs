//! End-to-end tests of the `qmgr` binary against a local HTTP server (no internet).

mod support;

use serde_json::Value;
use std::path::Path;
use support::{body, find_guid, qmgr, run, wait_until, Ran, Running, TestServer};

/// `qmgr --queue Q list --json`, parsed.
fn list_json(scratch: &Path, queue: &str) -> Vec<Value> {
    let r = run(scratch, &["--queue", queue, "list", "--json"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    let v: Value = serde_json::from_str(&r.stdout).expect("list --json is JSON");
    v.as_array().expect("an array").clone()
}

/// A scratch directory with a queue directory and a download directory inside.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        Scratch { dir: tempfile::tempdir().unwrap() }
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
    fn queue(&self) -> String {
        self.dir.path().join("queue").to_str().unwrap().to_string()
    }
    fn out(&self) -> String {
        let d = self.dir.path().join("out");
        std::fs::create_dir_all(&d).unwrap();
        d.to_str().unwrap().to_string()
    }
}

/// `n` bytes as the summary shows them (binary units, two decimals).
fn indicatif_bytes(n: u64) -> String {
    format!("{:.2} MiB", n as f64 / (1024.0 * 1024.0))
}

fn assert_code(r: &Ran, code: i32) {
    assert_eq!(r.code, Some(code), "exit code; stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
}

fn no_temp_files(dir: &str) {
    for e in std::fs::read_dir(dir).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.ends_with(".qmgr-part"), "temporary file left: {name}");
    }
}

#[test]
fn get_downloads_byte_identical_files_and_leaves_no_group() {
    let a = body(300_000, 1);
    let b = body(1234, 2);
    let server = TestServer::start(&[("a.bin", a.clone()), ("b.txt", b.clone())]);
    let s = Scratch::new();
    let (q, out) = (s.queue(), s.out());
    let r =
        run(s.path(), &["--queue", &q, "get", &server.url("/files/a.bin"), &server.url("/files/b.txt"), "-d", &out]);
    assert_code(&r, 0);
    assert_eq!(std::fs::read(Path::new(&out).join("a.bin")).unwrap(), a);
    assert_eq!(std::fs::read(Path::new(&out).join("b.txt")).unwrap(), b);
    assert!(r.stdout.contains("done: 2 files, 301234 bytes"), "{}", r.stdout);
    // Not a terminal: plain progress lines, ending at 100 %.
    assert!(r.stderr.contains("progress: 301234/301234 bytes (100%)"), "{}", r.stderr);
    no_temp_files(&out);
    assert!(list_json(s.path(), &q).is_empty());
}

#[test]
fn get_output_file_and_queue_after_the_subcommand() {
    let a = body(70_000, 3);
    let server = TestServer::start(&[("a.bin", a.clone())]);
    let s = Scratch::new();
    let (q, out) = (s.queue(), s.out());
    let target = Path::new(&out).join("renamed.dat");
    let r = run(s.path(), &["get", &server.url("/files/a.bin"), "--output", target.to_str().unwrap(), "--queue", &q]);
    assert_code(&r, 0);
    assert_eq!(std::fs::read(&target).unwrap(), a);
    assert!(r.stdout.contains("renamed.dat"), "{}", r.stdout);
    // --queue after the subcommand reached the same queue: it exists and is empty.
    assert!(Path::new(&q).join("queue.sqlite").exists());
    let r = run(s.path(), &["list", "--json", "--queue", &q]);
    assert_code(&r, 0);
    assert_eq!(r.stdout.trim(), "[]");
    // The default queue (QMGR_HOME) was never touched.
    assert!(!s.path().join("default-queue").exists());

    // --output takes exactly one URL.
    let r = run(
        s.path(),
        &[
            "--queue",
            &q,
            "get",
            &server.url("/files/a.bin"),
            &server.url("/files/a.bin"),
            "--output",
            target.to_str().unwrap(),
        ],
    );
    assert_code(&r, 2);
    assert!(r.stderr.contains("exactly one URL"), "{}", r.stderr);
}

/// `get --checksum ALGORITHM:HEX` (DECISIONS D15): the right digest downloads, a wrong one
/// fails with QMGR_E_BAD_DIGEST and leaves no file; bad values and several URLs exit 2.
#[test]
fn get_with_a_checksum() {
    use sha2::{Digest, Sha256};
    let a = body(400_000, 5);
    let server = TestServer::start(&[("a.bin", a.clone())]);
    let s = Scratch::new();
    let (q, out) = (s.queue(), s.out());
    let target = Path::new(&out).join("a.bin");
    let right: String = Sha256::digest(&a).iter().map(|b| format!("{b:02x}")).collect();
    let url = server.url("/files/a.bin");
    let get = |checksum: &str| {
        run(s.path(), &["--queue", &q, "get", &url, "--output", target.to_str().unwrap(), "--checksum", checksum])
    };
    assert_code(&get(&format!("sha-256:{}", right.to_uppercase())), 0);
    assert_eq!(std::fs::read(&target).unwrap(), a);
    std::fs::remove_file(&target).unwrap();

    let wrong = "1".repeat(64);
    let r = get(&format!("sha-256:{wrong}"));
    assert_code(&r, 1);
    for needle in ["0x80096010", "sha-256 digest", &wrong, &right] {
        assert!(r.stderr.contains(needle), "stderr lacks {needle:?}:\n{}", r.stderr);
    }
    assert!(!target.exists());
    no_temp_files(&out);
    let groups = list_json(s.path(), &q);
    assert_eq!(groups.len(), 1, "the failed group is kept");

    for (bad, needle) in [
        ("sha-1:00".to_string(), "\"sha-1\" is not sha-256 or sha-512"),
        (right.clone(), "ALGORITHM:HEX"),
        (format!("sha-256:{}", &right[1..]), "63 hex digits"),
    ] {
        let r = get(&bad);
        assert_code(&r, 2);
        assert!(
            r.stderr.starts_with("error: ") && r.stderr.contains("--checksum: ") && r.stderr.contains(needle),
            "{}",
            r.stderr
        );
    }
    let r = run(s.path(), &["--queue", &q, "get", &url, &url, "-d", &out, "--checksum", &format!("sha-256:{right}")]);
    assert_code(&r, 2);
    assert!(r.stderr.contains("--checksum takes exactly one URL"), "{}", r.stderr);
    assert_eq!(list_json(s.path(), &q).len(), 1, "nothing more in the queue");
}

#[test]
fn failed_get_keeps_its_group_which_info_resume_wait_suspend_and_cancel_handle() {
    let server = TestServer::start(&[]);
    let s = Scratch::new();
    let (q, out) = (s.queue(), s.out());
    let url = server.url("/missing/gone.bin");
    let r = run(s.path(), &["--queue", &q, "get", &url, "-d", &out]);
    assert_code(&r, 1);
    for needle in ["404", "0x80190194", "2149122452", url.as_str(), "gone.bin", "resume {", "cancel {", "--queue"] {
        assert!(r.stderr.contains(needle), "stderr lacks {needle:?}:\n{}", r.stderr);
    }
    let guid = r
        .stderr
        .lines()
        .find(|l| l.trim_start().starts_with("group:"))
        .and_then(find_guid)
        .expect("the group GUID is printed");

    let groups = list_json(s.path(), &q);
    assert_eq!(groups.len(), 1);
    let g = &groups[0];
    assert_eq!(g["id"], guid.as_str());
    assert_eq!(g["state"], "error");
    // 0x380 plus QM_STATUS_GROUP_FOREGROUND: `get` makes foreground groups (DECISIONS D14).
    assert_eq!(g["status"], 0x780);
    assert_eq!(g["display_name"], "qmgr get");
    assert_eq!(g["bytes_total"], Value::Null);
    assert_eq!(g["jobs"], 1);

    // info --json, with the GUID without braces.
    let bare = guid.trim_matches(|c| c == '{' || c == '}');
    let r = run(s.path(), &["--queue", &q, "info", bare, "--json"]);
    assert_code(&r, 0);
    let info: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(info["id"], guid.as_str());
    assert_eq!(info["state"], "error");
    assert_eq!(info["status_hex"], "0x00000780");
    assert_eq!(info["foreground"], true);
    assert_eq!(info["priority"], 1);
    assert_eq!(info["protocol"], 1);
    let job = &info["jobs"][0];
    assert_eq!(job["transport_result"], 404);
    assert_eq!(job["win32_result"], 0x8019_0194_u32);
    assert!(job["status_bits"].as_array().unwrap().contains(&Value::from("error")));
    assert!(job["num_of_retries"].as_u64().unwrap() >= 1);
    assert!(job["error_message"].as_str().unwrap().contains("404"));
    let file = &job["files"][0];
    assert_eq!(file["url"], url.as_str());
    assert_eq!(file["local_path"], Path::new(&out).join("gone.bin").to_str().unwrap());
    assert_eq!(file["complete"], false);

    // info as text.
    let r = run(s.path(), &["--queue", &q, "info", &guid]);
    assert_code(&r, 0);
    assert!(r.stdout.contains("state:         error"), "{}", r.stdout);
    assert!(r.stdout.contains("http status: 404"), "{}", r.stdout);

    // suspend: a no-op in ERROR.
    let r = run(s.path(), &["--queue", &q, "suspend", &guid]);
    assert_code(&r, 0);
    // resume → RUNNING; wait runs the transfer again, which fails again.
    let r = run(s.path(), &["--queue", &q, "resume", &guid]);
    assert_code(&r, 0);
    assert!(r.stdout.contains("resumed group"), "{}", r.stdout);
    let r = run(s.path(), &["--queue", &q, "wait", &guid, "--timeout", "30"]);
    assert_code(&r, 1);
    assert!(r.stderr.contains("0x80190194"), "{}", r.stderr);
    // resume --wait does both.
    let r = run(s.path(), &["--queue", &q, "resume", &guid, "--wait"]);
    assert_code(&r, 1);

    // cancel removes it; a second cancel and other commands find no such group.
    let r = run(s.path(), &["--queue", &q, "cancel", &guid]);
    assert_code(&r, 0);
    assert!(list_json(s.path(), &q).is_empty());
    for cmd in ["cancel", "resume", "suspend", "info", "wait"] {
        let r = run(s.path(), &["--queue", &q, cmd, &guid]);
        assert_code(&r, 2);
        assert!(r.stderr.contains("(HRESULT 0x81001004: "), "{cmd}: {}", r.stderr);
    }
    no_temp_files(&out);
}

/// The group GUID of a failed `get` (its `group:` line on stderr).
fn failed_group(r: &Ran) -> String {
    r.stderr
        .lines()
        .find(|l| l.trim_start().starts_with("group:"))
        .and_then(find_guid)
        .unwrap_or_else(|| panic!("no group line:\n{}", r.stderr))
}

/// `qmgr --queue Q info GROUP --json`, parsed.
fn info_json(scratch: &Path, queue: &str, group: &str) -> Value {
    let r = run(scratch, &["--queue", queue, "info", group, "--json"]);
    assert_code(&r, 0);
    serde_json::from_str(&r.stdout).expect("info --json is JSON")
}

/// `qmgr get` makes a foreground group (as Start-BitsTransfer; DECISIONS D14), `get
/// --background` a background one: seen on the groups that a 404 leaves in ERROR, and on
/// groups queued with `--no-wait`.
#[test]
fn get_makes_a_foreground_group_and_get_background_a_background_one() {
    let server = TestServer::start(&[("a.bin", body(1000, 11))]);
    let s = Scratch::new();
    let (q, out) = (s.queue(), s.out());
    let has_fg_bit = |v: &Value| v["status_bits"].as_array().unwrap().contains(&Value::from("foreground"));

    let r = run(s.path(), &["--queue", &q, "get", &server.url("/missing/fg.bin"), "-d", &out]);
    assert_code(&r, 1);
    let fg = info_json(s.path(), &q, &failed_group(&r));
    assert_eq!(fg["foreground"], true, "{fg}");
    assert!(has_fg_bit(&fg), "{fg}");
    assert_eq!(fg["status"], 0x780);
    let text = run(s.path(), &["--queue", &q, "info", fg["id"].as_str().unwrap()]).stdout;
    assert!(text.contains("  foreground:    yes"), "{text}");

    let r = run(s.path(), &["--queue", &q, "get", "--background", &server.url("/missing/bg.bin"), "-d", &out]);
    assert_code(&r, 1);
    let bg = info_json(s.path(), &q, &failed_group(&r));
    assert_eq!(bg["foreground"], false, "{bg}");
    assert!(!has_fg_bit(&bg), "{bg}");
    assert_eq!(bg["status"], 0x380);
    let text = run(s.path(), &["--queue", &q, "info", bg["id"].as_str().unwrap()]).stdout;
    assert!(text.contains("  foreground:    no (a background group)"), "{text}");

    // Queued with --no-wait (no runner in the tests: QMGR_AUTOSTART=0).
    for (extra, foreground) in [(&[][..], true), (&["--background"][..], false)] {
        let mut args = vec!["--queue", q.as_str(), "get", "--no-wait"];
        args.extend_from_slice(extra);
        let url = server.url("/files/a.bin");
        let dir = Path::new(&out).join(if foreground { "fg" } else { "bg" });
        std::fs::create_dir_all(&dir).unwrap();
        args.extend_from_slice(&[url.as_str(), "-d", dir.to_str().unwrap()]);
        let r = run(s.path(), &args);
        assert_code(&r, 0);
        let info = info_json(s.path(), &q, r.stdout.trim());
        assert_eq!(info["foreground"], foreground, "{extra:?}: {info}");
        assert_eq!(has_fg_bit(&info), foreground, "{extra:?}: {info}");
    }
}

/// `get --limit-rate`: the group's own limit, foreground as `get` makes it, and only it:
/// 1 MiB at 256k takes at least 3 s (nominally 4: a lower bound only); a queued group keeps
/// its limit; the queue option is untouched; a bad value is clap's usage error.
#[test]
fn get_limit_rate_limits_this_download_only() {
    let data = body(1 << 20, 21);
    let s = Scratch::new();
    let (q, out) = (s.queue(), s.out());
    let source = s.path().join("source.bin");
    std::fs::write(&source, &data).unwrap();
    let url = format!("file://{}", source.display());
    let start = std::time::Instant::now();
    let r = run(s.path(), &["--queue", &q, "get", &url, "-o", &format!("{out}/limited.bin"), "--limit-rate", "256k"]);
    let took = start.elapsed();
    assert_code(&r, 0);
    assert_eq!(std::fs::read(Path::new(&out).join("limited.bin")).unwrap(), data);
    assert!(took >= std::time::Duration::from_secs(3), "1 MiB at 256 KiB/s took {took:?}");

    let r = run(
        s.path(),
        &["--queue", &q, "get", "--no-wait", "--limit-rate", "300K", &url, "-o", &format!("{out}/q.bin")],
    );
    assert_code(&r, 0);
    let info = info_json(s.path(), &q, r.stdout.trim());
    assert_eq!((info["rate_limit"].as_u64(), info["foreground"].as_bool()), (Some(300 * 1024), Some(true)), "{info}");
    let r = run(s.path(), &["--queue", &q, "option", "background_rate_limit"]);
    assert_eq!(r.stdout.trim(), "0", "the queue option is untouched");

    let r = run(s.path(), &["--queue", &q, "get", &url, "--limit-rate", "fast"]);
    assert_code(&r, 2);
    assert!(r.stderr.contains("--limit-rate") && r.stderr.contains("\"fast\" is not a rate"), "{}", r.stderr);
    let help = run(s.path(), &["get", "--help"]).stdout;
    assert!(help.contains("--limit-rate <RATE>"), "{help}");
}

#[test]
fn bad_input_exits_2_and_leaves_nothing_in_the_queue() {
    let server = TestServer::start(&[]);
    let s = Scratch::new();
    let (q, out) = (s.queue(), s.out());
    let cases: &[(&[&str], &str)] = &[
        (&["get", "http://127.0.0.1:1/a b", "-d", &out], "HRESULT 0x80070057"),
        (&["get", "ftp://127.0.0.1/x.bin", "-d", &out], "HRESULT 0x80070057"),
        (&["get", "http://127.0.0.1/", "-d", &out], "--output FILE"),
        (&["get", "http://127.0.0.1/..", "-d", &out], "not a usable file name"),
        (&["get", "not-a-url", "-d", &out], "no scheme"),
        (&["get", &server.url("/files/x"), "-o", "/nonexistent/dir/x"], "directory /nonexistent/dir does not exist"),
        (&["get", &server.url("/files/x"), "-o", &out], "is a directory; use -d DIR"),
        (&["get", &server.url("/files/x"), "-o", "-"], "standard output"),
        (&["get", &server.url("/files/x"), "-d", "/proc/qmgr-no-such-dir"], "cannot create directory"),
        (&["get", &server.url("/files/x"), "--tries", "0"], "--tries"),
        (&["get", &server.url("/files/x"), "--retry-timeout", "soon"], "is not a duration"),
        (&["info", "not-a-guid"], "HRESULT 0x80070057"),
        (&["cancel", "{00000000-0000-0000-0000-000000000001}"], "HRESULT 0x81001004"),
    ];
    for (args, needle) in cases {
        let mut full = vec!["--queue", q.as_str()];
        full.extend_from_slice(args);
        let r = run(s.path(), &full);
        assert_code(&r, 2);
        assert!(r.stderr.starts_with("error: "), "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(needle), "{args:?}: {}", r.stderr);
    }
    assert!(list_json(s.path(), &q).is_empty());
    // Usage errors found by clap exit 2 too.
    let r = run(s.path(), &["--queue", &q, "get"]);
    assert_code(&r, 2);
    let r = run(s.path(), &["--queue", &q, "frobnicate"]);
    assert_code(&r, 2);
}

#[test]
fn unusable_queue_exits_4() {
    let s = Scratch::new();
    let file = s.path().join("plain-file");
    std::fs::write(&file, b"x").unwrap();
    let q = file.join("queue");
    let r = run(s.path(), &["--queue", q.to_str().unwrap(), "list"]);
    assert_code(&r, 4);
    assert!(r.stderr.contains("HRESULT 0x81001002"), "{}", r.stderr);
}

#[test]
fn interrupt_suspends_the_group_and_resume_wait_completes_it_from_the_partial_data() {
    let data = body(4 * 1024 * 1024, 7);
    let server = TestServer::start(&[("big.bin", data.clone())]);
    let s = Scratch::new();
    let (q, out) = (s.queue(), s.out());
    let child = Running::start(qmgr(s.path(), &["--queue", &q, "get", &server.url("/slow/big.bin"), "-d", &out]));
    wait_until("half a MiB sent", || server.slow_sent() >= 512 * 1024);
    let killed = std::process::Command::new("kill").args(["-INT", &child.pid().to_string()]).status().unwrap();
    assert!(killed.success());
    let r = child.finish();
    assert_code(&r, 3);
    assert!(r.stderr.contains("suspended group {"), "{}", r.stderr);
    assert!(r.stderr.contains("resume {"), "{}", r.stderr);
    let guid = find_guid(r.stderr.split("suspended group").nth(1).unwrap()).unwrap();

    let groups = list_json(s.path(), &q);
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0]["id"], guid.as_str());
    assert_eq!(groups[0]["state"], "suspended");
    let held = groups[0]["bytes_done"].as_u64().unwrap();
    assert!(held > 0, "partial data is kept: {}", groups[0]);
    assert_eq!(groups[0]["bytes_total"], data.len() as u64);

    let r = run(s.path(), &["--queue", &q, "resume", &guid, "--wait"]);
    assert_code(&r, 0);
    assert!(r.stdout.contains("done: 1 file"), "{}", r.stdout);
    assert_eq!(std::fs::read(Path::new(&out).join("big.bin")).unwrap(), data);
    let resumed = server
        .requests()
        .into_iter()
        .filter(|l| l.path == "/slow/big.bin")
        .filter_map(|l| l.range_start)
        .collect::<Vec<_>>();
    assert_eq!(resumed.first().copied(), Some(held), "resumed with Range from the held bytes");

    // wait leaves a complete group in the queue; cancel removes it and keeps the file.
    let groups = list_json(s.path(), &q);
    assert_eq!(groups[0]["state"], "complete");
    assert_eq!(groups[0]["percent"], 100);
    let r = run(s.path(), &["--queue", &q, "cancel", &guid]);
    assert_code(&r, 0);
    assert!(list_json(s.path(), &q).is_empty());
    assert_eq!(std::fs::read(Path::new(&out).join("big.bin")).unwrap(), data);
    no_temp_files(&out);
}

#[test]
fn running_the_same_get_again_resumes_its_suspended_group() {
    let data = body(4 * 1024 * 1024, 8);
    let server = TestServer::start(&[("big.bin", data.clone())]);
    let s = Scratch::new();
    let (q, out) = (s.queue(), s.out());
    let url = server.url("/slow/big.bin");
    let args = ["--queue", q.as_str(), "get", url.as_str(), "-d", out.as_str()];
    let child = Running::start(qmgr(s.path(), &args));
    wait_until("half a MiB sent", || server.slow_sent() >= 512 * 1024);
    let killed = std::process::Command::new("kill").args(["-INT", &child.pid().to_string()]).status().unwrap();
    assert!(killed.success());
    let r = child.finish();
    assert_code(&r, 3);
    assert!(r.stderr.contains("or run the same get again"), "{}", r.stderr);
    let guid = list_json(s.path(), &q)[0]["id"].as_str().unwrap().to_string();
    let held = list_json(s.path(), &q)[0]["bytes_done"].as_u64().unwrap();
    assert!(held > 0);

    let r = run(s.path(), &args);
    assert_code(&r, 0);
    assert!(r.stderr.contains(&format!("resuming group {guid}")), "{}", r.stderr);
    // The summary's rate counts only the bytes of this run.
    let this_run = format!("({} this run)", indicatif_bytes(data.len() as u64 - held));
    assert!(r.stdout.contains(&this_run), "{this_run} in {}", r.stdout);
    assert_eq!(std::fs::read(Path::new(&out).join("big.bin")).unwrap(), data);
    let starts: Vec<Option<u64>> =
        server.requests().into_iter().filter(|l| l.path == "/slow/big.bin").map(|l| l.range_start).collect();
    assert_eq!(starts, vec![None, Some(held)], "one full request, then one ranged from the held bytes");
    assert!(list_json(s.path(), &q).is_empty(), "the resumed group leaves the queue once complete");
    no_temp_files(&out);
}

#[test]
fn progress_of_several_files_names_the_current_one() {
    let server = TestServer::start(&[("a.bin", body(1000, 1)), ("big.bin", body(4 * 1024 * 1024, 2))]);
    let s = Scratch::new();
    let (q, out) = (s.queue(), s.out());
    let child = Running::start(qmgr(
        s.path(),
        &["--queue", &q, "get", &server.url("/files/a.bin"), &server.url("/slow/big.bin"), "-d", &out],
    ));
    wait_until("half a MiB of the second file sent", || server.slow_sent() >= 512 * 1024);
    let killed = std::process::Command::new("kill").args(["-INT", &child.pid().to_string()]).status().unwrap();
    assert!(killed.success());
    let r = child.finish();
    assert_code(&r, 3);
    assert!(r.stderr.contains("file 2/2: big.bin"), "{}", r.stderr);
}

#[test]
fn get_refuses_to_replace_a_file_without_overwrite_and_creates_its_directory() {
    let data = body(5000, 3);
    let server = TestServer::start(&[("a.bin", data.clone())]);
    let s = Scratch::new();
    let q = s.queue();
    let dir = s.path().join("new").join("sub");
    let d = dir.to_str().unwrap();
    let url = server.url("/files/a.bin");
    // -d creates the directory; --quiet prints nothing on success.
    let r = run(s.path(), &["--queue", &q, "get", "--quiet", &url, "-d", d]);
    assert_code(&r, 0);
    assert_eq!((r.stdout.as_str(), r.stderr.as_str()), ("", ""));
    assert_eq!(std::fs::read(dir.join("a.bin")).unwrap(), data);
    std::fs::write(dir.join("a.bin"), b"mine").unwrap();
    let r = run(s.path(), &["--queue", &q, "get", &url, "-d", d]);
    assert_code(&r, 2);
    assert!(r.stderr.contains("already exists; use --overwrite"), "{}", r.stderr);
    assert_eq!(std::fs::read(dir.join("a.bin")).unwrap(), b"mine", "left alone");
    assert!(list_json(s.path(), &q).is_empty(), "nothing queued");
    let file = dir.join("a.bin");
    let r = run(s.path(), &["--queue", &q, "get", &url, "-o", file.to_str().unwrap(), "--overwrite"]);
    assert_code(&r, 0);
    assert_eq!(std::fs::read(&file).unwrap(), data);
}

#[test]
fn get_gives_up_on_a_failing_transfer_after_retry_timeout_or_tries() {
    let s = Scratch::new();
    let (q, out) = (s.queue(), s.out());
    // A port nobody listens on: every attempt fails with a transient connection error.
    let refused = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let url = format!("http://{refused}/never.bin");
    let r = run(s.path(), &["--queue", &q, "get", &url, "-d", &out, "--retry-timeout", "1s"]);
    assert_code(&r, 1);
    assert!(r.stderr.contains("giving up after no progress for 1s (--retry-timeout)"), "{}", r.stderr);
    let groups = list_json(s.path(), &q);
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0]["state"], "suspended", "{}", groups[0]);
    assert!(r.stderr.contains(&format!("suspended group {}", groups[0]["id"].as_str().unwrap())), "{}", r.stderr);

    let r = run(s.path(), &["--queue", &q, "option", "min_retry_delay_ms", "100"]);
    assert_code(&r, 0);
    let url = format!("http://{refused}/other.bin");
    let r = run(s.path(), &["--queue", &q, "get", &url, "-d", &out, "--retry-timeout", "0", "--tries", "3"]);
    assert_code(&r, 1);
    assert!(r.stderr.contains("giving up after 3 failed attempts (--tries 3)"), "{}", r.stderr);

    // The same get again resumes that group, and --tries counts the attempts of this run only
    // (the job's own count, D11, is never reset).
    let r = run(s.path(), &["--queue", &q, "get", &url, "-d", &out, "--retry-timeout", "0", "--tries", "2"]);
    assert_code(&r, 1);
    assert!(r.stderr.contains("resuming group"), "{}", r.stderr);
    assert!(r.stderr.contains("giving up after 2 failed attempts (--tries 2)"), "{}", r.stderr);
    let groups = list_json(s.path(), &q);
    let other = groups
        .iter()
        .find(|g| info_json(s.path(), &q, g["id"].as_str().unwrap())["jobs"][0]["files"][0]["url"] == url.as_str());
    let info = info_json(s.path(), &q, other.expect("the other.bin group")["id"].as_str().unwrap());
    assert_eq!(info["jobs"][0]["num_of_retries"], 5, "3 + 2 failed attempts: {info}");
}

#[test]
fn transient_errors_are_shown_as_retries() {
    let data = body(10_000, 9);
    let server = TestServer::start(&[("f.bin", data.clone())]);
    let s = Scratch::new();
    let (q, out) = (s.queue(), s.out());
    let r = run(s.path(), &["--queue", &q, "get", &server.url("/flaky/f.bin"), "-d", &out]);
    assert_code(&r, 0);
    assert!(r.stderr.contains("retrying: "), "{}", r.stderr);
    assert!(r.stderr.contains("(failed attempts: 1)"), "{}", r.stderr);
    assert_eq!(std::fs::read(Path::new(&out).join("f.bin")).unwrap(), data);
}

#[test]
fn help_has_examples_and_exit_codes() {
    let s = Scratch::new();
    let r = run(s.path(), &["--help"]);
    assert_code(&r, 0);
    assert!(r.stdout.contains("Exit codes:"), "{}", r.stdout);
    for cmd in ["get", "list", "info", "resume", "suspend", "cancel", "wait", "serve"] {
        let r = run(s.path(), &[cmd, "--help"]);
        assert_code(&r, 0);
        assert!(r.stdout.contains("Example"), "{cmd}: {}", r.stdout);
    }
    let r = run(s.path(), &["get", "--help"]);
    for flag in ["-c, --continue", "--content-disposition", "If-Range", "Content-Disposition"] {
        assert!(r.stdout.contains(flag), "get --help lacks {flag:?}:\n{}", r.stdout);
    }
}

/// Names in `dir` that are temporary files of the queue (`.…qmgr-part`).
fn temp_files(dir: &str) -> Vec<String> {
    let names = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned());
    names.filter(|n| n.contains(".qmgr-part")).collect()
}

/// No temporary file before the first body byte (issue #15): a 404 and a refused connection
/// leave their groups in the queue but no `.qmgr-part` file (there used to be a 0-byte one).
#[test]
fn a_failed_get_leaves_no_temporary_file() {
    let server = TestServer::start(&[]);
    let s = Scratch::new();
    let (q, out) = (s.queue(), s.out());
    let r = run(s.path(), &["--queue", &q, "get", &server.url("/missing/gone.bin"), "-d", &out]);
    assert_code(&r, 1);
    let refused = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let url = format!("http://{refused}/never.bin");
    let r = run(s.path(), &["--queue", &q, "get", &url, "-d", &out, "--retry-timeout", "0", "--tries", "1"]);
    assert_code(&r, 1);
    let states: Vec<Value> = list_json(s.path(), &q).iter().map(|g| g["state"].clone()).collect();
    assert_eq!(states, ["error", "suspended"], "both groups stay");
    assert_eq!(temp_files(&out), Vec::<String>::new());
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0, "nothing at all in the directory");
}

/// `--continue` (as wget -c): a partial file left by another tool is continued with a ranged
/// request checked by If-Range when the server gives validators, and the result is byte-exact.
#[test]
fn get_continue_continues_a_partial_file_with_range_and_if_range() {
    let data = body(200_000, 21);
    let server = TestServer::start(&[("part.bin", data.clone())]);
    let s = Scratch::new();
    let (q, out) = (s.queue(), s.out());
    let file = Path::new(&out).join("part.bin");
    std::fs::write(&file, &data[..70_000]).unwrap();
    let url = server.url("/files/part.bin");
    let r = run(s.path(), &["--queue", &q, "get", "--continue", &url, "-d", &out]);
    assert_code(&r, 0);
    assert!(r.stderr.contains("continuing") && r.stderr.contains("from byte 70000"), "{}", r.stderr);
    assert!(std::fs::read(&file).unwrap() == data, "the file is byte-exact");
    let log = server.requests();
    let seen: Vec<(&str, Option<u64>, Option<&str>)> =
        log.iter().map(|l| (l.method.as_str(), l.range_start, l.if_range.as_deref())).collect();
    assert_eq!(seen, [("HEAD", None, None), ("GET", Some(70_000), Some("\"v1\""))], "{log:?}");
    assert!(r.stdout.contains("done: 1 file, 200000 bytes") && r.stdout.contains("KiB this run"), "{}", r.stdout);
    assert!(list_json(s.path(), &q).is_empty());
    no_temp_files(&out);
}

/// `--continue` refuses (exit 2, nothing changed) without validators or with a larger file,
/// and leaves a file of the remote size as it is, with no request but the HEAD.
#[test]
fn get_continue_refuses_without_validators_and_leaves_a_complete_file() {
    let data = body(50_000, 22);
    let server = TestServer::start(&[("p.bin", data.clone())]);
    let s = Scratch::new();
    let (q, out) = (s.queue(), s.out());
    let file = Path::new(&out).join("p.bin");
    let partial = data[..1000].to_vec();
    std::fs::write(&file, &partial).unwrap();
    let r = run(s.path(), &["--queue", &q, "get", "-c", &server.url("/plain/p.bin"), "-d", &out]);
    assert_code(&r, 2);
    assert!(r.stderr.contains("cannot continue") && r.stderr.contains("no ETag or Last-Modified"), "{}", r.stderr);
    assert!(r.stderr.contains("nothing was changed"), "{}", r.stderr);
    assert_eq!(std::fs::read(&file).unwrap(), partial, "untouched");

    let mut larger = data.clone();
    larger.push(0);
    std::fs::write(&file, &larger).unwrap();
    let r = run(s.path(), &["--queue", &q, "get", "-c", &server.url("/files/p.bin"), "-d", &out]);
    assert_code(&r, 2);
    assert!(r.stderr.contains("more than the 50000 bytes"), "{}", r.stderr);
    assert_eq!(std::fs::read(&file).unwrap(), larger, "untouched");

    std::fs::write(&file, &data).unwrap();
    let r = run(s.path(), &["--queue", &q, "get", "-c", &server.url("/files/p.bin"), "-d", &out]);
    assert_code(&r, 0);
    assert!(r.stderr.contains("already complete"), "{}", r.stderr);
    // A file of the remote size is not taken as complete when --checksum asks for a check.
    let wrong = format!("sha-256:{}", "00".repeat(32));
    let p_out = file.display().to_string();
    let r =
        run(s.path(), &["--queue", &q, "get", "-c", &server.url("/files/p.bin"), "-o", &p_out, "--checksum", &wrong]);
    assert_code(&r, 2);
    assert!(r.stderr.contains("--checksum cannot be checked"), "{}", r.stderr);
    assert_eq!(std::fs::read(&file).unwrap(), data, "untouched");
    let methods: Vec<String> = server.requests().iter().map(|l| l.method.clone()).collect();
    assert_eq!(methods, ["HEAD", "HEAD", "HEAD", "HEAD"], "no request beyond the probes");
    assert!(list_json(s.path(), &q).is_empty(), "nothing queued");
    assert_eq!(temp_files(&out), Vec::<String>::new());
    // Without --continue, the hint names it; with --overwrite it is a usage error.
    let r = run(s.path(), &["--queue", &q, "get", &server.url("/files/p.bin"), "-d", &out]);
    assert_code(&r, 2);
    assert!(r.stderr.contains("--continue to continue it"), "{}", r.stderr);
    let r = run(s.path(), &["--queue", &q, "get", "-c", "--overwrite", &server.url("/files/p.bin"), "-d", &out]);
    assert_code(&r, 2);
}

/// `--content-disposition` names the file from the header (filename* preferred, made safe:
/// `../saved-NAME` is saved as `saved-NAME` in the directory); the existing-file check
/// applies to that name; `-o` refuses the flag.
#[test]
fn get_content_disposition_names_the_file_from_the_header_safely() {
    let data = body(30_000, 23);
    let server = TestServer::start(&[("d.bin", data.clone())]);
    let s = Scratch::new();
    let (q, out) = (s.queue(), s.out());
    let url = server.url("/disposition/d.bin");
    let r = run(s.path(), &["--queue", &q, "get", "--content-disposition", &url, "-d", &out]);
    assert_code(&r, 0);
    assert!(std::fs::read(Path::new(&out).join("saved-d.bin")).unwrap() == data);
    let names: Vec<String> =
        std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["saved-d.bin"], "nothing outside the name, no d.bin");
    assert!(!s.path().join("saved-d.bin").exists(), "never written outside -d");
    let methods: Vec<String> = server.requests().iter().map(|l| l.method.clone()).collect();
    assert_eq!(methods, ["HEAD", "GET"]);

    let r = run(s.path(), &["--queue", &q, "get", "--content-disposition", &url, "-d", &out]);
    assert_code(&r, 2);
    assert!(r.stderr.contains("saved-d.bin already exists"), "{}", r.stderr);
    let r = run(s.path(), &["--queue", &q, "get", "--content-disposition", &url, "-d", &out, "--overwrite"]);
    assert_code(&r, 0);
    let r = run(s.path(), &["--queue", &q, "get", "--content-disposition", &url, "-o", "x.bin"]);
    assert_code(&r, 2);
    assert!(r.stderr.contains("cannot be used with"), "{}", r.stderr);
    // Without the header's name (a plain file), the URL's name.
    let r = run(s.path(), &["--queue", &q, "get", "--content-disposition", &server.url("/files/d.bin"), "-d", &out]);
    assert_code(&r, 0);
    assert!(std::fs::read(Path::new(&out).join("d.bin")).unwrap() == data);
}
