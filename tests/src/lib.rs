//! Support for qmgr's end-to-end tests: locating and building the library, the `qmgr` command
//! and C programs against `include/qmgr.h`, and deciding whether a missing tool may skip a test.
//!
//! The tests drive the real artefacts a user gets — `libqmgr.so.0`, the `qmgr` binary, programs
//! compiled by `cc` — and, where a test needs to script the queue closely (hostile servers,
//! crashes, local failures), the Rust API of `qmgr-rs`: always the full composition with the
//! SQLite store and the HTTP transport, never a fake.

#![forbid(unsafe_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

pub mod corpus;
pub mod digest;
pub mod hostile;
pub mod inotify;
pub mod mount_ns;
pub mod multiprocess;
pub mod netrig;
pub mod nginx;
pub mod pieces;
pub mod proxy;
pub mod range_server;
pub mod runner;
pub mod schedule;

/// The workspace root (the directory holding the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// The cargo profile directory this test binary was built into (`target/debug` or
/// `target/release`); the library and the `qmgr` command are built into the same one.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/<test binary>
    exe.parent().and_then(Path::parent).expect("test binary lives in target/<profile>/deps").to_path_buf()
}

/// Builds `libqmgr.so` and the `qmgr` command once per test process (same profile as the test
/// binary) and creates the `libqmgr.so.0` link the dynamic loader looks for (the soname).
/// Returns the profile directory holding both.
pub fn built_artifacts() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = profile_dir();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(workspace_root()).args(["build", "--quiet", "-p", "qmgr-ffi", "-p", "qmgr-cli"]);
        if dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build");
        assert!(status.success(), "cargo build -p qmgr-ffi -p qmgr-cli failed");
        let so0 = dir.join("libqmgr.so.0");
        let _ = std::fs::remove_file(&so0);
        std::os::unix::fs::symlink("libqmgr.so", &so0).expect("link libqmgr.so.0");
        dir
    })
}

/// Path of the built `qmgr` command.
pub fn qmgr_bin() -> PathBuf {
    built_artifacts().join("qmgr")
}

/// Which compiler [`compile`] uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    /// `cc -std=c11 -pedantic`.
    C11,
    /// `c++ -std=c++17 -pedantic`.
    Cxx17,
}

/// Compiles `sources` into the executable `out`, against `include/qmgr.h` and the built
/// `libqmgr.so` (linked with `-lqmgr` and an rpath to the profile directory), with
/// `-Wall -Wextra -Werror`. Panics with the compiler's output when compilation fails.
pub fn compile(lang: Lang, sources: &[&Path], out: &Path, extra: &[&str]) -> PathBuf {
    let lib = built_artifacts();
    let (search, rpath) = (format!("-L{}", lib.display()), format!("-Wl,-rpath,{}", lib.display()));
    cc(lang, sources, out, extra, &[&search, &rpath, "-lqmgr", "-lpthread"])
}

/// [`compile`] for a program that loads the library itself (`dlopen`): the same header and
/// warnings, linked with `-ldl -lpthread` but not with `libqmgr`. The library's path is
/// [`library_path`]. Panics with the compiler's output when compilation fails.
pub fn compile_dlopen(lang: Lang, sources: &[&Path], out: &Path, extra: &[&str]) -> PathBuf {
    built_artifacts();
    cc(lang, sources, out, extra, &["-ldl", "-lpthread"])
}

/// Path of the built `libqmgr.so`.
pub fn library_path() -> PathBuf {
    built_artifacts().join("libqmgr.so")
}

/// Runs the C or C++ compiler with our flags and `extra` on `sources`, linking `libs`.
fn cc(lang: Lang, sources: &[&Path], out: &Path, extra: &[&str], libs: &[&str]) -> PathBuf {
    let (compiler, std) = match lang {
        Lang::C11 => ("cc", "-std=c11"),
        Lang::Cxx17 => ("c++", "-std=c++17"),
    };
    let output = Command::new(compiler)
        .args([std, "-Wall", "-Wextra", "-Werror", "-pedantic", "-g", "-O1"])
        .arg("-I")
        .arg(workspace_root().join("include"))
        .args(extra)
        .args(sources)
        .arg("-o")
        .arg(out)
        .args(libs)
        .output()
        .unwrap_or_else(|e| panic!("run {compiler}: {e}"));
    assert!(output.status.success(), "{compiler} failed for {sources:?}:\n{}", String::from_utf8_lossy(&output.stderr));
    out.to_path_buf()
}

/// True when running under CI (`CI` set to anything but empty/`0`/`false`): there a missing
/// tool fails the test instead of skipping it.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// Finds `tool` on `PATH` (or in `/usr/sbin`, where Debian puts daemons). When it is missing,
/// panics under CI ([`in_ci`]) and otherwise prints why the test is skipped and returns `None`.
pub fn require_tool(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|d| d.join(tool))
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(!in_ci(), "{tool} is required by this test and missing (CI must install it: see .ci/run)");
        eprintln!("SKIPPED: {tool} is not installed (under CI this is a failure)");
    }
    found
}

/// Whether `QMGR_VALGRIND` asks for C and C++ programs to run under valgrind (set to anything
/// but empty, `0` or `false`; CI sets it).
pub fn valgrind_requested() -> bool {
    std::env::var("QMGR_VALGRIND").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// `valgrind … exe`, as the suites run a program under it: memory errors and definite or
/// indirect leaks exit 99; "possibly lost" and "still reachable" blocks (thread-locals and
/// process-wide data of Rust's std, which live until the process exits) are reported but do not
/// fail. `tests/c/valgrind.supp` is used when it exists.
pub fn valgrind_command(valgrind: &Path, exe: &Path) -> Command {
    let mut cmd = Command::new(valgrind);
    cmd.args([
        "--error-exitcode=99",
        "--leak-check=full",
        "--errors-for-leak-kinds=definite,indirect",
        "--show-leak-kinds=definite,indirect",
        "--num-callers=40",
        "--fair-sched=yes",
    ]);
    let supp = workspace_root().join("tests/c/valgrind.supp");
    if supp.is_file() {
        cmd.arg(format!("--suppressions={}", supp.display()));
    }
    cmd.arg(exe);
    cmd
}

/// What the queue database in `queue` holds of the file whose URL ends with `url_end` (read
/// while no process writes it, or as one consistent snapshot): its ranges when it is fetched
/// in pieces (DECISIONS D16, `files.held_ranges`), else its first `bytes_done` bytes — what a
/// process opening the queue resumes from. Panics when there is no such file.
pub fn stored_held(queue: &Path, url_end: &str) -> qmgr_rs::model::HeldRanges {
    use qmgr_rs::model::HeldRanges;
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let db = rusqlite::Connection::open_with_flags(queue.join(qmgr_rs::DB_FILE_NAME), flags)
        .unwrap_or_else(|e| panic!("open the queue database in {}: {e}", queue.display()));
    db.busy_timeout(std::time::Duration::from_secs(5)).expect("busy timeout");
    let sql = "SELECT bytes_done, held_ranges FROM files WHERE substr(url, -length(?1)) = ?1";
    let (done, ranges): (i64, Option<String>) = db
        .query_row(sql, [url_end], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap_or_else(|e| panic!("the checkpoint of the file at *{url_end}: {e}"));
    match ranges {
        Some(text) => HeldRanges::parse(&text).unwrap_or_else(|| panic!("stored ranges {text:?}")),
        None => HeldRanges::prefix(done as u64),
    }
}

/// SHA-256 of a file, as lowercase hex.
pub fn sha256_file(path: &Path) -> String {
    let mut file = std::fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Polls `cond` every 20 ms until it holds or `deadline` passes; returns whether it held.
/// Tests use generous deadlines: this waits on a condition, never for a fixed time.
pub fn wait_until(deadline: std::time::Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + deadline;
    loop {
        if cond() {
            return true;
        }
        if std::time::Instant::now() >= end {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// [`run_to_end`], failing the test with the command and its output unless it exits 0.
pub fn run_ok(cmd: &mut Command, deadline: std::time::Duration) -> std::process::Output {
    let out = run_to_end(cmd, deadline);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `cmd` to its end and returns its exit status and output, failing the test (after
/// killing the process) when it is still running after `deadline`. Standard output and error go
/// through files, so a chatty process never blocks on a full pipe.
pub fn run_to_end(cmd: &mut Command, deadline: std::time::Duration) -> std::process::Output {
    let dir = tempfile::tempdir().expect("output directory");
    let (out_path, err_path) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let mut child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&out_path).expect("stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let mut status = None;
    let ended = wait_until(deadline, || {
        status = child.try_wait().expect("try_wait");
        status.is_some()
    });
    let read = |p: &Path| std::fs::read(p).unwrap_or_default();
    if !ended {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "{cmd:?} still running after {deadline:?}\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&read(&out_path)),
            String::from_utf8_lossy(&read(&err_path))
        );
    }
    std::process::Output { status: status.expect("exit status"), stdout: read(&out_path), stderr: read(&err_path) }
}
