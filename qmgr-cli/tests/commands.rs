//! End-to-end tests of the commands that build and steer groups step by step: `create`, `add`,
//! `set`, `cancel-job`, `foreground`, `monitor` and `option`, with their `--json` shapes and
//! error exits. Transfers use `file://` URLs, or the local HTTP server of `support`.

mod support;

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;
use support::{body, find_guid, qmgr, wait_until, Ran, Running, TestServer, DEADLINE};

/// A scratch directory (also the commands' current directory) holding a queue.
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

    /// `qmgr --queue SCRATCH/queue ARGS…`, run in the scratch directory.
    fn cmd(&self, args: &[&str]) -> Command {
        let queue = self.path().join("queue");
        let mut full = vec!["--queue", queue.to_str().unwrap()];
        full.extend_from_slice(args);
        let mut c = qmgr(self.path(), &full);
        c.current_dir(self.path());
        c
    }

    fn run(&self, args: &[&str]) -> Ran {
        Running::start(self.cmd(args)).finish()
    }

    /// Runs a command that must succeed.
    fn ok(&self, args: &[&str]) -> Ran {
        let r = self.run(args);
        assert_eq!(r.code, Some(0), "{args:?}: exit code; stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
        r
    }

    /// Runs a command that must succeed and print JSON.
    fn json(&self, args: &[&str]) -> Value {
        let r = self.ok(args);
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}):\n{}", r.stdout))
    }

    /// Runs a command that must exit with `code`, with `error: ` and every needle on stderr.
    fn fails(&self, args: &[&str], code: i32, needles: &[&str]) -> Ran {
        let r = self.run(args);
        assert_eq!(r.code, Some(code), "{args:?}: exit code; stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
        assert!(r.stderr.starts_with("error: "), "{args:?}: {}", r.stderr);
        for n in needles {
            assert!(r.stderr.contains(n), "{args:?}: stderr lacks {n:?}:\n{}", r.stderr);
        }
        r
    }

    /// `qmgr create ARGS…`: the GUID it prints (alone on its line).
    fn create(&self, args: &[&str]) -> String {
        let mut full = vec!["create"];
        full.extend_from_slice(args);
        let out = self.ok(&full).stdout;
        let guid = out.trim().to_string();
        assert_eq!(find_guid(&guid).as_deref(), Some(guid.as_str()), "create prints one GUID: {out:?}");
        guid
    }

    fn info(&self, group: &str) -> Value {
        self.json(&["info", group, "--json"])
    }

    fn groups(&self) -> Vec<Value> {
        self.json(&["list", "--json"]).as_array().unwrap().clone()
    }

    /// A source file SCRATCH/src/NAME with `data`: its `file://` URL.
    fn source(&self, name: &str, data: &[u8]) -> String {
        let dir = self.path().join("src");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), data).unwrap();
        format!("file://{}", dir.join(name).display())
    }

    /// SCRATCH/out (created), as text.
    fn out(&self) -> PathBuf {
        let d = self.path().join("out");
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object().expect("an object").keys().map(String::as_str).collect()
}

fn set_of<'a>(names: &[&'a str]) -> BTreeSet<&'a str> {
    names.iter().copied().collect()
}

const INFO_KEYS: &[&str] = &[
    "active_ms",
    "background",
    "bytes_done",
    "bytes_total",
    "description",
    "display_name",
    "foreground",
    "id",
    "job_index",
    "jobs",
    "notify_bits",
    "notify_clsid",
    "notify_flags",
    "percent",
    "priority",
    "priority_name",
    "progress_percent",
    "progress_size",
    "progress_time",
    "protocol",
    "protocol_name",
    "rate_limit",
    "remote_user",
    "size",
    "state",
    "status",
    "status_bits",
    "status_hex",
];

const LIST_KEYS: &[&str] = &["bytes_done", "bytes_total", "display_name", "id", "jobs", "percent", "state", "status"];

const OPTION_NAMES: &[&str] = &[
    "max_active_groups",
    "min_retry_delay_ms",
    "no_progress_timeout_ms",
    "background_rate_limit",
    "connect_timeout_ms",
    "read_timeout_ms",
    "user_agent",
    "proxy",
    "ca_file",
    "allow_credentials_over_http",
    "autostart",
    "background_mode",
    "max_connections_per_group",
];

/// The keys of the `background` object of `info --json` and `monitor --json` (DECISIONS D14).
const BACKGROUND_KEYS: &[&str] = &["active", "mode", "rate", "reason", "throughput"];

#[test]
fn create_sets_every_property_and_info_shows_them() {
    let sc = Scratch::new();
    let clsid = "{0b5d5a7c-1111-4222-8333-944455556666}";
    let mut cmd = sc.cmd(&[
        "create",
        "--name",
        "Night build",
        "--description",
        "all the isos",
        "--priority",
        "low",
        "--notify-flags",
        "job_done,group_done",
        "--notify-clsid",
        clsid,
        "--progress-size",
        "1000",
        "--progress-percent",
        "10",
        "--progress-time",
        "500",
        "--protocol",
        "smb",
        "--user",
        "alice",
        "--password-env",
        "QMGR_TEST_PASSWORD",
    ]);
    cmd.env("QMGR_TEST_PASSWORD", "hunter2-secret");
    let r = Running::start(cmd).finish();
    assert_eq!(r.code, Some(0), "{r:?}");
    let g = r.stdout.trim().to_string();
    assert_eq!(find_guid(&g).as_deref(), Some(g.as_str()), "{r:?}");

    let info = sc.info(&g);
    assert_eq!(keys(&info), set_of(INFO_KEYS));
    assert_eq!(info["id"], g.as_str());
    assert_eq!(info["display_name"], "Night build");
    assert_eq!(info["description"], "all the isos");
    assert_eq!(info["priority"], 2);
    assert_eq!(info["priority_name"], "low");
    assert_eq!(info["notify_flags"], 6);
    assert_eq!(info["notify_bits"], serde_json::json!(["job_done", "group_done"]));
    assert_eq!(info["notify_clsid"], clsid);
    assert_eq!((info["progress_size"].as_u64(), info["progress_percent"].as_u64()), (Some(1000), Some(10)));
    assert_eq!(info["progress_time"], 500);
    assert_eq!(info["protocol"], 3);
    assert_eq!(info["remote_user"], "alice");
    assert_eq!(info["state"], "suspended");
    assert_eq!(info["status"], 0x180);
    assert_eq!(info["jobs"], serde_json::json!([]));
    // The password is stored but never shown.
    let text = sc.ok(&["info", &g]).stdout;
    assert!(text.contains("remote user:   alice"), "{text}");
    for out in [text, info.to_string(), sc.ok(&["list", "--json"]).stdout] {
        assert!(!out.contains("hunter2"), "{out}");
    }

    // Defaults, and --json: the info object of the new group.
    let plain = sc.info(&sc.create(&[]));
    assert_eq!((plain["priority"].as_u64(), plain["protocol"].as_u64()), (Some(1), Some(1)));
    assert_eq!((plain["notify_flags"].as_u64(), plain["display_name"].as_str()), (Some(0), Some("")));
    let made = sc.json(&["create", "--json", "--foreground", "--name", "fg", "--priority", "0"]);
    assert_eq!(keys(&made), set_of(INFO_KEYS));
    assert_eq!(made["display_name"], "fg");
    assert_eq!(made["priority_name"], "high");
    assert_eq!(made["status_bits"], serde_json::json!(["incomplete", "suspended", "foreground"]));

    let groups = sc.groups();
    assert_eq!(groups.len(), 3);
    assert_eq!(keys(&groups[0]), set_of(LIST_KEYS));
    let ids: Vec<&str> = groups.iter().map(|g| g["id"].as_str().unwrap()).collect();
    assert_eq!(ids[0], g);
    assert_eq!(ids[2], made["id"].as_str().unwrap());
    assert_eq!(groups[0]["jobs"], 0);

    // A refused property or an unreadable password leaves no group behind.
    sc.fails(&["create", "--name", "bad", "--progress-percent", "150"], 2, &["progress percent 150", "0x80070057"]);
    sc.fails(&["create", "--password-env", "QMGR_TEST_UNSET_VARIABLE"], 2, &["QMGR_TEST_UNSET_VARIABLE"]);
    sc.fails(&["create", "--protocol", "ftp"], 2, &["FTP", "0x81001003"]);
    assert_eq!(sc.groups().len(), 3);
}

#[test]
fn set_changes_properties_all_or_nothing() {
    let sc = Scratch::new();
    let g = sc.create(&["--name", "first"]);
    let r =
        sc.ok(&["set", &g, "--name", "second", "--priority", "high", "--protocol", "smb", "--notify-flags", "0x81"]);
    assert!(r.stdout.contains(&g), "{}", r.stdout);
    let info = sc.info(&g);
    assert_eq!(info["display_name"], "second");
    assert_eq!(info["priority"], 0);
    assert_eq!(info["protocol"], 3);
    assert_eq!(info["notify_bits"], serde_json::json!(["file_done", "use_progressex"]));

    // One refused value: nothing changes.
    sc.fails(&["set", &g, "--name", "third", "--progress-percent", "101"], 2, &["progress percent 101"]);
    let info = sc.info(&g);
    assert_eq!(info["display_name"], "second");
    assert_eq!(info["progress_percent"], 0);

    let bare = g.trim_matches(|c| c == '{' || c == '}');
    let cases: &[(&[&str], &[&str])] = &[
        (&["--priority", "7"], &["priority 7", "0x80070057"]),
        (&["--priority", "urgent"], &["'urgent'", "--priority"]),
        (&["--notify-flags", "0x100"], &["undefined bits", "0x80070057"]),
        (&["--notify-flags", "job_done,sometimes"], &["\"sometimes\""]),
        (&["--protocol", "custom"], &["0x80004001"]),
        (&["--notify-clsid", "not-a-guid"], &["NOTIFYCLSID", "0x80070057"]),
        (&["--progress-size=-5"], &["'-5'", "--progress-size"]),
        (&["--password-env", "QMGR_TEST_UNSET_VARIABLE"], &["QMGR_TEST_UNSET_VARIABLE"]),
        (&["--password-env", "X", "--password-prompt"], &["cannot be used with"]),
        (&[], &["nothing to set"]),
    ];
    for (extra, needles) in cases {
        let mut args = vec!["set", bare];
        args.extend_from_slice(extra);
        sc.fails(&args, 2, needles);
    }
    // Without a terminal, --password-prompt fails instead of waiting (only checkable when
    // the tests themselves run without one).
    if std::fs::File::open("/dev/tty").is_err() {
        sc.fails(&["set", &g, "--password-prompt"], 2, &["--password-prompt", "terminal"]);
    }
    sc.fails(&["set", "{not-a-guid}", "--name", "x"], 2, &["not-a-guid", "0x80070057"]);
    sc.fails(&["set", "{00000000-0000-0000-0000-000000000001}", "--name", "x"], 2, &["0x81001004"]);
    assert_eq!(sc.info(&g)["display_name"], "second");

    // The protocol is fixed once the group has files.
    let src = sc.source("a.txt", b"a");
    let out = sc.out();
    sc.ok(&["add", &g, &src, s(&out)]);
    sc.fails(&["set", &g, "--protocol", "http"], 2, &["protocol", "0x81001001"]);
    sc.ok(&["set", &g, "--protocol", "smb", "--foreground"]);
    assert!(sc.info(&g)["status_bits"].as_array().unwrap().contains(&Value::from("foreground")));
}

/// `--limit-rate` of `create` and `set`: the group's own limit (qmgr_group_set_rate_limit),
/// binary suffixes as curl's and wget's, 0 = none, shown by `info`; the queue option stays.
#[test]
fn create_and_set_take_a_rate_limit_that_info_shows() {
    let sc = Scratch::new();
    let g = sc.create(&["--limit-rate", "512k"]);
    assert_eq!(sc.info(&g)["rate_limit"], 512 * 1024);
    let text = sc.ok(&["info", &g]).stdout;
    assert!(text.contains("  rate limit:    512.00 KiB/s (524288 bytes/s)"), "{text}");
    for (value, want) in [("2M", 2 << 20), ("1.5m", 3 << 19), ("1G", 1 << 30), ("1000", 1000), ("0", 0)] {
        let r = sc.ok(&["set", &g, "--limit-rate", value]);
        assert!(r.stdout.contains(&format!("updated group {g}")), "{value}: {}", r.stdout);
        assert_eq!(sc.info(&g)["rate_limit"], want, "{value}");
    }
    assert!(sc.ok(&["info", &g]).stdout.contains("  rate limit:    none"));
    // With other properties, and on a foreground group.
    sc.ok(&["set", &g, "--foreground", "--limit-rate", "64K", "--name", "slow"]);
    let info = sc.info(&g);
    assert_eq!((info["rate_limit"].as_u64(), info["display_name"].as_str()), (Some(64 * 1024), Some("slow")));
    assert_eq!(info["foreground"], true);
    assert_eq!(sc.ok(&["option", "background_rate_limit"]).stdout.trim(), "0", "the queue option is untouched");
    // Bad values: clap's usage error (exit 2) names the option and the value.
    for bad in ["12x", "-1", "1e3", "", "0.0001k", "17179869184G"] {
        let r = sc.fails(&["set", &g, &format!("--limit-rate={bad}")], 2, &["--limit-rate"]);
        assert!(r.stderr.contains(&format!("{bad:?} is not a rate")), "{bad}: {}", r.stderr);
    }
    sc.fails(&["create", "--limit-rate", "fast"], 2, &["\"fast\" is not a rate", "512k"]);
    assert_eq!(sc.info(&g)["rate_limit"], 64 * 1024);
    assert_eq!(sc.groups().len(), 1, "a refused create leaves nothing");
    let help = sc.ok(&["set", "--help"]).stdout;
    assert!(help.contains("--limit-rate <RATE>") && help.contains("1k = 1024"), "{help}");
}

#[test]
fn set_refused_late_among_many_changes_none_and_stays_in_the_background() {
    let sc = Scratch::new();
    let g = sc.create(&["--name", "kept", "--description", "as made"]);
    let before = sc.info(&g);
    // Every property but the last is valid; the refused one is checked after the others.
    let mut cmd = sc.cmd(&[
        "set",
        &g,
        "--name",
        "changed",
        "--description",
        "changed too",
        "--priority",
        "high",
        "--protocol",
        "smb",
        "--notify-flags",
        "job_done",
        "--progress-size",
        "4096",
        "--user",
        "bob",
        "--password-env",
        "QMGR_TEST_PASSWORD",
        "--progress-percent",
        "101",
        "--foreground",
    ]);
    cmd.env("QMGR_TEST_PASSWORD", "pw");
    let r = Running::start(cmd).finish();
    assert_eq!(r.code, Some(2), "{r:?}");
    assert!(r.stderr.starts_with("error: ") && r.stderr.contains("progress percent 101"), "{r:?}");
    // Nothing changed, not even the foreground flag asked for with the refused set.
    assert_eq!(sc.info(&g), before);
    assert!(!before["status_bits"].as_array().unwrap().contains(&Value::from("foreground")));
}

#[test]
fn add_builds_jobs_that_resume_wait_copies() {
    let sc = Scratch::new();
    let a = body(200_000, 1);
    let (url_a, url_b, url_c, url_d) =
        (sc.source("a.bin", &a), sc.source("b.txt", b"bee"), sc.source("c.bin", b"sea"), sc.source("d.bin", b"dee"));
    let out = sc.out();
    let g = sc.create(&["--protocol", "smb", "--name", "copies"]);

    // Two pairs; the second into a directory (named after the URL).
    let added = sc.json(&["add", &g, &url_a, s(&out.join("a.bin")), &url_b, &format!("{}/", s(&out)), "--json"]);
    assert_eq!(keys(&added), set_of(&["file_count", "files", "group_id", "job_id", "new_job"]));
    assert_eq!(added["group_id"], g.as_str());
    assert_eq!(added["new_job"], true);
    assert_eq!(added["file_count"], 2);
    let files = added["files"].as_array().unwrap();
    assert_eq!(keys(&files[0]), set_of(&["checksum", "index", "local_path", "url"]));
    assert_eq!(files[0]["checksum"], Value::Null);
    assert_eq!(files[1]["index"], 1);
    assert_eq!(files[1]["url"], url_b.as_str());
    assert_eq!(files[1]["local_path"], s(&out.join("b.txt")));
    let job = added["job_id"].as_str().unwrap().to_string();

    // --from FILE into the same job: comments, empty lines, a local path with a space.
    let list = sc.path().join("list.txt");
    std::fs::write(&list, format!("# more\n\n{url_c}   {}\n", s(&out.join("c copy.bin")))).unwrap();
    let more = sc.json(&["add", &g, "--job", &job, "--from", s(&list), "--json"]);
    assert_eq!(more["job_id"], job.as_str());
    assert_eq!(more["new_job"], false);
    assert_eq!(more["file_count"], 3);
    assert_eq!(more["files"][0]["index"], 2);

    // --from - (standard input), with a path relative to the current directory: a new job.
    let r = Running::start_with_input(sc.cmd(&["add", &g, "--from", "-"]), format!("{url_d} out/d.bin\n").as_bytes())
        .finish();
    assert_eq!(r.code, Some(0), "{r:?}");
    let job2 = r.stdout.trim().to_string();
    assert_eq!(find_guid(&job2).as_deref(), Some(job2.as_str()));
    assert_ne!(job2, job);

    let info = sc.info(&g);
    let jobs = info["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 2);
    assert_eq!(jobs[0]["id"], job.as_str());
    assert_eq!(jobs[0]["files"].as_array().unwrap().len(), 3);
    assert_eq!(jobs[1]["files"][0]["local_path"], s(&out.join("d.bin")));
    assert_eq!(info["display_name"], "copies");

    let r = sc.ok(&["resume", &g, "--wait"]);
    assert!(r.stdout.contains("done: 4 files"), "{}", r.stdout);
    assert_eq!(std::fs::read(out.join("a.bin")).unwrap(), a);
    assert_eq!(std::fs::read(out.join("b.txt")).unwrap(), b"bee");
    assert_eq!(std::fs::read(out.join("c copy.bin")).unwrap(), b"sea");
    assert_eq!(std::fs::read(out.join("d.bin")).unwrap(), b"dee");
    assert_eq!(sc.groups()[0]["state"], "complete");
    // A complete group takes no more files.
    sc.fails(&["add", &g, &url_a, s(&out.join("again.bin"))], 2, &["0x81001001"]);

    // Errors, against a fresh http group: nothing is added, no empty job is left.
    let h = sc.create(&[]);
    let cases: &[(&[&str], &[&str])] = &[
        (&[&url_a, "x.bin"], &["does not belong to QM_PROTOCOL_HTTP", "0x80070057"]),
        (&["http://127.0.0.1/a.bin", "/nonexistent/dir/a.bin"], &["/nonexistent/dir", "does not exist"]),
        (&["http://127.0.0.1/a.bin", "a.bin", "http://127.0.0.1/b.bin"], &["http://127.0.0.1/b.bin", "no local path"]),
        (&["http://127.0.0.1/", "out/"], &["not a usable file name", "LOCAL"]),
        (&[], &["no files to add"]),
        (&["--job", "{00000000-0000-0000-0000-000000000002}", "http://127.0.0.1/a", "a"], &["0x81001004"]),
        (&["--job", "nonsense", "http://127.0.0.1/a", "a"], &["nonsense", "0x80070057"]),
        (&["--from", "missing-list.txt"], &["--from missing-list.txt"]),
    ];
    for (extra, needles) in cases {
        let mut args = vec!["add", h.as_str()];
        args.extend_from_slice(extra);
        sc.fails(&args, 2, needles);
    }
    std::fs::write(&list, "http://127.0.0.1/a.bin a.bin\nhttp://127.0.0.1/b.bin\n").unwrap();
    sc.fails(&["add", &h, "--from", s(&list)], 2, &["line 2", "no local path"]);
    assert_eq!(sc.info(&h)["jobs"], serde_json::json!([]));
    sc.fails(&["add", "{00000000-0000-0000-0000-000000000001}", "http://127.0.0.1/a", "a"], 2, &["0x81001004"]);
}

/// The optional third column of `add --from`: the file's checksum (DECISIONS D15), shown by
/// `info`, checked by the transfer; a bad one is refused with the line and the reason.
#[test]
fn add_from_takes_a_checksum_column() {
    use sha2::{Digest, Sha256, Sha512};
    let sc = Scratch::new();
    let (a, b, c) = (body(100_000, 7), body(5_000, 8), body(3_000, 9));
    let (url_a, url_b, url_c) = (sc.source("a.bin", &a), sc.source("b.bin", &b), sc.source("c.bin", &c));
    let out = sc.out();
    let hex = |d: &[u8]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let (sum_a, sum_b) = (hex(&Sha256::digest(&a)), hex(&Sha512::digest(&b)));
    let g = sc.create(&["--protocol", "smb"]);
    let list = sc.path().join("list.txt");
    let text = format!(
        "{url_a} {} SHA-256:{}\n{url_b}\t{}\tsha-512:{sum_b}\n{url_c} {}\n",
        s(&out.join("a copy.bin")),
        sum_a.to_uppercase(),
        s(&out.join("b.bin")),
        s(&out.join("c.bin"))
    );
    std::fs::write(&list, text).unwrap();
    let added = sc.json(&["add", &g, "--from", s(&list), "--json"]);
    let sums: Vec<&Value> = added["files"].as_array().unwrap().iter().map(|f| &f["checksum"]).collect();
    assert_eq!(
        sums,
        [&Value::from(format!("sha-256:{sum_a}")), &Value::from(format!("sha-512:{sum_b}")), &Value::Null]
    );
    let files = &sc.info(&g)["jobs"][0]["files"];
    assert_eq!(files[0]["checksum"], format!("sha-256:{sum_a}"));
    assert_eq!(files[0]["local_path"], s(&out.join("a copy.bin")));
    assert_eq!(files[2]["checksum"], Value::Null);
    let text_info = sc.ok(&["info", &g]).stdout;
    assert!(text_info.contains(&format!("checksum:  sha-512:{sum_b}")), "{text_info}");
    sc.ok(&["resume", &g, "--wait"]);
    assert_eq!(std::fs::read(out.join("a copy.bin")).unwrap(), a);

    // A checksum that does not match: the transfer fails with QMGR_E_BAD_DIGEST, no file.
    let h = sc.create(&["--protocol", "smb"]);
    std::fs::write(&list, format!("{url_c} {} sha-256:{sum_a}\n", s(&out.join("c2.bin")))).unwrap();
    sc.ok(&["add", &h, "--from", s(&list)]);
    let r = sc.run(&["resume", &h, "--wait"]);
    assert_eq!(r.code, Some(1), "{r:?}");
    for needle in ["error: transfer failed: sha-256 digest", "0x80096010", &sum_a, &hex(&Sha256::digest(&c))] {
        assert!(r.stderr.contains(needle), "stderr lacks {needle:?}:\n{}", r.stderr);
    }
    assert!(!out.join("c2.bin").exists());

    // Bad third columns: exit 2, the line and the reason; nothing added.
    let k = sc.create(&["--protocol", "smb"]);
    for (column, reason) in [
        (format!("md5:{sum_a}"), "\"md5\" is not sha-256 or sha-512"),
        ("sha-256:1234".to_string(), "has 4 hex digits; a sha-256 digest has 64"),
        (format!("sha-512:{sum_a}"), "has 64 hex digits; a sha-512 digest has 128"),
    ] {
        std::fs::write(&list, format!("# one\n{url_a} {} {column}\n", s(&out.join("k.bin")))).unwrap();
        sc.fails(&["add", &k, "--from", s(&list)], 2, &["line 2: checksum", reason]);
    }
    assert_eq!(sc.info(&k)["jobs"], serde_json::json!([]));
}

#[test]
fn cancel_job_and_foreground() {
    let sc = Scratch::new();
    let out = sc.out();
    let (u1, u2) = (sc.source("1.bin", b"one"), sc.source("2.bin", b"two"));
    let g = sc.create(&["--protocol", "smb"]);
    let j1 = sc.ok(&["add", &g, &u1, s(&out.join("1.bin"))]).stdout.trim().to_string();
    let j2 = sc.ok(&["add", &g, &u2, s(&out.join("2.bin"))]).stdout.trim().to_string();
    let other = sc.create(&[]);

    let r = sc.ok(&["foreground", &g, "--job", &j2]);
    assert!(r.stdout.contains(&j2) && r.stdout.contains(&g), "{}", r.stdout);
    let info = sc.info(&g);
    let has = |v: &Value, bit: &str| v["status_bits"].as_array().unwrap().contains(&Value::from(bit));
    assert!(has(&info, "foreground"), "{info}");
    assert!(!has(&info["jobs"][0], "foreground"));
    assert!(has(&info["jobs"][1], "foreground"));
    assert!(!has(&sc.info(&other), "foreground"));
    sc.ok(&["foreground", &other]);
    assert!(has(&sc.info(&other), "foreground"));

    // cancel-job finds the job's group itself.
    let r = sc.ok(&["cancel-job", &j1]);
    assert!(r.stdout.contains(&format!("cancelled job {j1} of group {g}")), "{}", r.stdout);
    let jobs = sc.info(&g)["jobs"].as_array().unwrap().clone();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0]["id"], j2.as_str());
    sc.fails(&["cancel-job", &j1], 2, &["0x81001004"]);
    sc.fails(&["cancel-job", "12345"], 2, &["12345", "0x80070057"]);
    sc.fails(&["foreground", &g, "--job", &j1], 2, &["0x81001004"]);
    sc.fails(&["foreground", "{00000000-0000-0000-0000-000000000001}"], 2, &["0x81001004"]);

    // The remaining job runs; a group without files cannot be resumed.
    sc.ok(&["resume", &g, "--wait"]);
    assert!(!out.join("1.bin").exists());
    assert_eq!(std::fs::read(out.join("2.bin")).unwrap(), b"two");
    sc.fails(&["resume", &other], 2, &["0x80200003"]);
}

#[test]
fn option_lists_gets_and_sets_queue_options() {
    let sc = Scratch::new();
    let all = sc.json(&["option", "--json"]);
    assert_eq!(keys(&all), set_of(OPTION_NAMES));
    assert_eq!(all["max_active_groups"], "4");
    assert_eq!(all["min_retry_delay_ms"], "5000");
    assert_eq!(all["allow_credentials_over_http"], "0");
    assert_eq!(all["proxy"], "");
    let text = sc.ok(&["option"]).stdout;
    assert_eq!(text.lines().count(), OPTION_NAMES.len(), "{text}");
    assert!(text.lines().any(|l| l.starts_with("max_active_groups ") && l.ends_with(" = 4")), "{text}");
    assert!(text.lines().any(|l| l.starts_with("user_agent ") && l.ends_with(" = \"\"")), "{text}");

    assert_eq!(sc.ok(&["option", "max_active_groups", "2"]).stdout.trim(), "max_active_groups = 2");
    assert_eq!(sc.ok(&["option", "max_active_groups"]).stdout, "2\n");
    assert_eq!(
        sc.json(&["option", "user_agent", "my agent/1.0", "--json"]),
        serde_json::json!({"user_agent": "my agent/1.0"})
    );
    // Stored in the queue: every later process sees them.
    let all = sc.json(&["option", "--json"]);
    assert_eq!(all["max_active_groups"], "2");
    assert_eq!(all["user_agent"], "my agent/1.0");

    sc.fails(&["option", "no_such_option"], 2, &["\"no_such_option\"", "0x80070057"]);
    sc.fails(&["option", "no_such_option", "1"], 2, &["no_such_option"]);
    sc.fails(&["option", "max_active_groups", "0"], 2, &["max_active_groups", "0x80070057"]);
    sc.fails(&["option", "max_active_groups", "many"], 2, &["\"many\""]);
    sc.fails(&["option", "min_retry_delay_ms", "5"], 2, &["min_retry_delay_ms"]);
    sc.fails(&["option", "allow_credentials_over_http", "2"], 2, &["allow_credentials_over_http"]);
    assert_eq!(sc.ok(&["option", "max_active_groups"]).stdout, "2\n");
}

#[test]
fn monitor_prints_tables_and_json_lines() {
    let sc = Scratch::new();
    let out = sc.out();
    let url = sc.source("m.bin", &body(50_000, 4));
    let done = sc.create(&["--protocol", "smb", "--name", "a rather long display name to be cut"]);
    sc.ok(&["add", &done, &url, s(&out.join("m.bin"))]);
    sc.ok(&["resume", &done, "--wait"]);
    let idle = sc.create(&["--name", "idle"]);

    // A wide table has every column.
    let mut wide = sc.cmd(&["monitor", "--count", "1", "--interval", "10"]);
    wide.env("COLUMNS", "160");
    let r = Running::start(wide).finish();
    assert_eq!(r.code, Some(0), "{r:?}");
    let line = r.stdout.lines().find(|l| l.starts_with(&done)).expect("a line for the group");
    for needle in ["a rather long display n…", "complete", "48.83 KiB/48.83 KiB", "100%", "[====================]"] {
        assert!(line.contains(needle), "{needle:?} in {line}");
    }
    let line = r.stdout.lines().find(|l| l.starts_with(&idle)).expect("a line for the group");
    assert!(line.contains("idle") && line.contains("suspended") && line.contains(" 0 B/0 B "), "{line}");
    assert!(r.stdout.contains("RATE") && r.stdout.contains("ETA") && r.stdout.contains("PROGRESS"), "{}", r.stdout);

    // By default (not a terminal, no $COLUMNS) it fits 80 columns: GUIDs shortened, rate and
    // ETA kept.
    let r = sc.ok(&["monitor", "--count", "2", "--interval", "10"]);
    assert_eq!(r.stdout.matches("qmgr monitor: queue ").count(), 2, "{}", r.stdout);
    for l in r.stdout.lines() {
        assert!(l.chars().count() <= 80, "{} columns: {l}", l.chars().count());
    }
    let short = format!("{}…", &done[1..9]);
    let line = r.stdout.lines().find(|l| l.starts_with(&short)).expect("a line for the group");
    assert!(line.contains("complete") && line.contains("100%"), "{line}");
    assert!(r.stdout.contains("GUIDs shortened"), "{}", r.stdout);
    // Under each header, the queue's background status (DECISIONS D14), within 80 columns.
    let lines: Vec<&str> = r.stdout.lines().collect();
    let headers: Vec<usize> = (0..lines.len()).filter(|&i| lines[i].starts_with("qmgr monitor: ")).collect();
    assert_eq!(headers.len(), 2, "{}", r.stdout);
    for i in headers {
        let next = lines[i + 1];
        assert!(next.starts_with("background: idle, "), "{next}");
        assert!(next.chars().count() <= 80, "{next}");
    }
    assert!(r.stdout.contains("GROUP") && r.stdout.contains("RATE") && r.stdout.contains("ETA"), "{}", r.stdout);

    let r = sc.ok(&["monitor", "--json", "--count", "3", "--interval", "10"]);
    let docs: Vec<Value> = r.stdout.lines().map(|l| serde_json::from_str(l).expect("one JSON object a line")).collect();
    assert_eq!(docs.len(), 3, "{}", r.stdout);
    let mut last = 0;
    for d in &docs {
        assert_eq!(keys(d), set_of(&["background", "groups", "time_ms"]));
        assert_eq!(keys(&d["background"]), set_of(BACKGROUND_KEYS));
        assert_eq!(d["background"]["mode"], "idle");
        let t = d["time_ms"].as_u64().unwrap();
        assert!(t >= last);
        last = t;
        let groups = d["groups"].as_array().unwrap();
        assert_eq!(groups.len(), 2);
        assert_eq!(keys(&groups[0]), set_of(LIST_KEYS));
        assert_eq!(groups[0]["id"], done.as_str());
        assert_eq!((groups[0]["bytes_done"].as_u64(), groups[0]["bytes_total"].as_u64()), (Some(50_000), Some(50_000)));
        assert_eq!(groups[0]["percent"], 100);
        assert_eq!(groups[0]["state"], "complete");
        assert_eq!(groups[1]["jobs"], 0);
    }

    sc.fails(&["monitor", "--interval", "5"], 2, &["--interval"]);
    sc.fails(&["monitor", "--count", "0"], 2, &["--count"]);
}

/// An empty `list` says so on a terminal (run under `script`, which gives it one) and prints
/// nothing to a pipe; `--json` stays `[]`.
#[test]
fn an_empty_list_says_so_on_a_terminal_only() {
    let sc = Scratch::new();
    let piped = sc.ok(&["list"]);
    assert_eq!(piped.stdout, "", "{piped:?}");
    assert_eq!(sc.ok(&["list", "--json"]).stdout.trim(), "[]");
    let queue = sc.path().join("queue");
    let line = format!("{} --queue {} list", env!("CARGO_BIN_EXE_qmgr"), queue.display());
    let out = Command::new("script").args(["-qec", &line, "/dev/null"]).output().expect("run script(1)");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("no groups in queue {}", queue.display())), "{text:?}");
}

/// A child process killed when the test fails before it ended.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `qmgr monitor --json` follows a running HTTP transfer (which it runs itself, as the only
/// process with the queue open) until Ctrl-C, then exits 0.
#[test]
fn monitor_follows_a_transfer_until_interrupted() {
    let data = body(1024 * 1024, 5);
    let server = TestServer::start(&[("big.bin", data.clone())]);
    let sc = Scratch::new();
    let out = sc.out();
    let g = sc.create(&["--name", "live"]);
    sc.ok(&["add", &g, &server.url("/slow/big.bin"), s(&out.join("big.bin"))]);
    sc.ok(&["resume", &g]);

    let log = sc.path().join("monitor.jsonl");
    let mut cmd = sc.cmd(&["monitor", "--json", "--interval", "50"]);
    cmd.stdout(Stdio::from(std::fs::File::create(&log).unwrap()));
    cmd.stderr(Stdio::null());
    let mut child = KillOnDrop(cmd.spawn().unwrap());
    let read = || std::fs::read_to_string(&log).unwrap();
    wait_until("the monitor to show the group complete", || {
        read()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .any(|d| d["groups"][0]["state"] == "complete")
    });
    let killed = Command::new("kill").args(["-INT", &child.0.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + DEADLINE;
    let status = loop {
        if let Some(st) = child.0.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < deadline, "monitor did not stop on SIGINT");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));

    let docs: Vec<Value> = read().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let done: Vec<u64> = docs.iter().map(|d| d["groups"][0]["bytes_done"].as_u64().unwrap()).collect();
    assert!(done.windows(2).all(|w| w[0] <= w[1]), "bytes only grow: {done:?}");
    let last = &docs.last().unwrap()["groups"][0];
    assert_eq!(last["bytes_done"], data.len() as u64);
    assert_eq!(last["percent"], 100);
    assert_eq!(std::fs::read(out.join("big.bin")).unwrap(), data);
}

#[test]
fn every_new_command_has_help_with_an_example() {
    let sc = Scratch::new();
    for cmd in ["create", "add", "set", "cancel-job", "foreground", "monitor", "option"] {
        let r = sc.ok(&[cmd, "--help"]);
        assert!(r.stdout.contains("Example"), "{cmd}: {}", r.stdout);
    }
    let r = sc.ok(&["--help"]);
    assert!(r.stdout.contains("monitor: stopped by Ctrl-C"), "{}", r.stdout);
}

/// `set --background` (DECISIONS D1, D14): a background group stays one and is told so; a
/// foreground group (switched itself, or through one of its jobs) is refused with exit 2,
/// nothing changed, and a message naming the group, the rule and the way out.
#[test]
fn set_background_keeps_background_groups_and_refuses_foreground_ones() {
    let sc = Scratch::new();
    let g = sc.create(&["--name", "bg"]);
    let r = sc.ok(&["set", &g, "--background"]);
    assert_eq!(r.stdout, format!("group {g} is a background group and stays one (option background_mode: idle)\n"));
    let r = sc.ok(&["set", &g, "--background", "--name", "renamed"]);
    assert!(r.stdout.starts_with(&format!("updated group {g}\n")), "{}", r.stdout);
    assert!(r.stdout.contains("is a background group and stays one"), "{}", r.stdout);
    let info = sc.info(&g);
    assert_eq!((info["display_name"].as_str(), info["foreground"].as_bool()), (Some("renamed"), Some(false)));
    sc.ok(&["option", "background_mode", "normal"]);
    assert!(sc.ok(&["set", &g, "--background"]).stdout.contains("(option background_mode: normal)"));

    let fg = sc.create(&["--name", "fg", "--foreground"]);
    let without_background = |mut v: Value| {
        v.as_object_mut().unwrap().remove("background");
        v
    };
    let before = without_background(sc.info(&fg));
    let needles = [
        fg.as_str(),
        "foreground is sticky",
        "DECISIONS D1",
        "cancel",
        "qmgr get --background",
        "qmgr add",
        "0x81001001",
    ];
    sc.fails(&["set", &fg, "--background", "--name", "changed"], 2, &needles);
    assert_eq!(without_background(sc.info(&fg)), before, "nothing changed");
    assert_eq!(before["foreground"], true);

    // A foreground job makes its group foreground: refused as well.
    let h = sc.create(&[]);
    let job = sc.ok(&["add", &h, "http://127.0.0.1:1/x.bin", s(&sc.out().join("x.bin"))]).stdout.trim().to_string();
    sc.ok(&["set", &h, "--background"]);
    sc.ok(&["foreground", &h, "--job", &job]);
    sc.fails(&["set", &h, "--background"], 2, &[h.as_str(), "sticky"]);

    sc.fails(&["set", &g, "--background", "--foreground"], 2, &["cannot be used with"]);
    sc.fails(&["create", "--background", "--foreground"], 2, &["cannot be used with"]);
    let made = sc.json(&["create", "--background", "--json"]);
    assert_eq!(made["foreground"], false);
}

/// `option background_mode` (DECISIONS D14): `idle` by default, `normal` round-trips, a bad
/// value fails naming the option and changes nothing; `option --help` explains it.
#[test]
fn option_background_mode_round_trips_and_refuses_bad_values() {
    let sc = Scratch::new();
    assert_eq!(sc.ok(&["option", "background_mode"]).stdout, "idle\n");
    assert_eq!(sc.ok(&["option", "background_mode", "normal"]).stdout, "background_mode = normal\n");
    assert_eq!(sc.ok(&["option", "background_mode"]).stdout, "normal\n");
    assert_eq!(sc.json(&["option", "--json"])["background_mode"], "normal");
    let g = sc.create(&[]);
    assert_eq!(sc.info(&g)["background"]["mode"], "normal");
    for bad in ["fast", "Idle", ""] {
        sc.fails(&["option", "background_mode", bad], 2, &["background_mode", &format!("\"{bad}\""), "0x80070057"]);
    }
    assert_eq!(sc.ok(&["option", "background_mode"]).stdout, "normal\n");
    assert_eq!(
        sc.json(&["option", "background_mode", "idle", "--json"]),
        serde_json::json!({"background_mode": "idle"})
    );
    let help = sc.ok(&["option", "--help"]).stdout;
    assert!(help.contains("background_mode (idle, the default"), "{help}");
    assert!(help.contains("normal: they compete"), "{help}");
}

/// `info` shows whether the group is foreground and the queue's background status line
/// (DECISIONS D14); `info --json` the same as `foreground` and the `background` object.
#[test]
fn info_shows_the_background_status() {
    let sc = Scratch::new();
    let g = sc.create(&["--name", "quiet"]);
    let info = sc.info(&g);
    let b = &info["background"];
    assert_eq!(keys(b), set_of(BACKGROUND_KEYS));
    assert_eq!((b["mode"].as_str(), b["active"].as_bool()), (Some("idle"), Some(false)));
    assert_eq!(b["throughput"], 0);
    assert_eq!(b["rate"], Value::Null);
    let reason = b["reason"].as_str().unwrap();
    assert!(!reason.is_empty());
    let text = sc.ok(&["info", &g]).stdout;
    assert!(text.contains(&format!("\n  background:    idle, {reason}\n")), "{text}");
    assert!(text.contains("\n  foreground:    no (a background group)\n"), "{text}");
    sc.ok(&["foreground", &g]);
    let text = sc.ok(&["info", &g]).stdout;
    assert!(text.contains("\n  foreground:    yes"), "{text}");
    assert!(text.contains("\n  background:    idle, "), "{text}");
}
