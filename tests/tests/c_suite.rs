//! The C conformance suite: each program of `tests/c/` is compiled against `include/qmgr.h` and
//! `libqmgr.so` (C11, or C++17 for `cxx_smoke.cpp`, with `-Wall -Wextra -Werror -pedantic`)
//! and run; it must exit 0. Its output (one line per failed check, with file:line, the
//! expression, got/expected HRESULTs and the last-error message) is shown on failure.
//!
//! With `QMGR_VALGRIND=1` every program runs under
//! `valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect`
//! (CI sets it): memory errors and definite or indirect leaks fail the test. "Possibly lost"
//! and "still reachable" blocks (thread-locals and process-wide data of Rust's std and of the
//! library, which live until the process exits) are reported but do not fail it.
//!
//! `lifetime.c` is not linked with the library: it `dlopen`s `QMGR_LIBRARY` (set here to the
//! built `libqmgr.so`) and checks that no thread of the library outlives the last release.

#![forbid(unsafe_code)]

use qmgr_tests::{
    compile, compile_dlopen, library_path, require_tool, valgrind_command, valgrind_requested, wait_until,
    workspace_root, Lang,
};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Deadline of one program: generous, the suite is meant to take seconds.
const DEADLINE: Duration = Duration::from_secs(180);
/// Deadline of one program under valgrind (20-50 times slower).
const VALGRIND_DEADLINE: Duration = Duration::from_secs(900);

fn c_dir() -> PathBuf {
    workspace_root().join("tests/c")
}

/// The last `max` bytes of `text`, for failure messages.
fn tail(text: &[u8], max: usize) -> String {
    let start = text.len().saturating_sub(max);
    let mut s = String::from_utf8_lossy(&text[start..]).into_owned();
    if start > 0 {
        s.insert_str(0, "[…]\n");
    }
    s
}

/// How a program of tests/c reaches the library.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Link {
    /// Linked with `-lqmgr`.
    Linked,
    /// Not linked: the program `dlopen`s the path in `QMGR_LIBRARY`.
    Dlopen,
}

/// Compiles `program` (a file of tests/c; C programs get the loopback HTTP server httpd.c)
/// and runs it, under valgrind when requested. Panics with its output unless it exits 0.
fn run(program: &str) {
    run_with(program, Link::Linked)
}

/// [`run`], with the library linked or loaded by the program.
fn run_with(program: &str, link: Link) {
    let valgrind = if valgrind_requested() {
        match require_tool("valgrind") {
            Some(v) => Some(v),
            None => return, // skipped (outside CI); require_tool said why
        }
    } else {
        None
    };
    let dir = tempfile::tempdir().expect("temporary directory");
    let source = c_dir().join(program);
    let stem = Path::new(program).file_stem().unwrap().to_string_lossy().into_owned();
    let exe = dir.path().join(&stem);
    let version = format!("-DQMGR_EXPECTED_VERSION=\"{}\"", env!("CARGO_PKG_VERSION"));
    if program.ends_with(".cpp") {
        compile(Lang::Cxx17, &[&source], &exe, &[]);
    } else if link == Link::Dlopen {
        compile_dlopen(Lang::C11, &[&source, &c_dir().join("httpd.c")], &exe, &[&version]);
    } else {
        compile(Lang::C11, &[&source, &c_dir().join("httpd.c")], &exe, &[&version]);
    }

    // Each program makes its own queue and files under TMPDIR; a private one keeps whatever a
    // failing program leaves behind out of the way. QMGR_HOME points there too, so that the
    // default queue is never the user's.
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).expect("create TMPDIR");
    let (mut cmd, deadline) = match &valgrind {
        Some(vg) => (valgrind_command(vg, &exe), VALGRIND_DEADLINE),
        None => (Command::new(&exe), DEADLINE),
    };
    let out_path = dir.path().join("stdout");
    let err_path = dir.path().join("stderr");
    cmd.env("TMPDIR", &tmp)
        .env("QMGR_LIBRARY", library_path())
        .env("QMGR_HOME", tmp.join("default-queue"))
        .env_remove("XDG_STATE_HOME")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).expect("stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr file"));
    let started = Instant::now();
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("run {}: {e}", exe.display()));
    let mut status = None;
    let ended = wait_until(deadline, || {
        status = child.try_wait().expect("try_wait");
        status.is_some()
    });
    if !ended {
        let _ = child.kill();
        status = child.wait().ok();
    }
    let elapsed = started.elapsed();
    let stdout = std::fs::read(&out_path).unwrap_or_default();
    let stderr = std::fs::read(&err_path).unwrap_or_default();
    let report = format!(
        "{program}{} {} after {:.1} s (status {status:?})\n--- stdout ---\n{}\n--- stderr ---\n{}",
        if valgrind.is_some() { " under valgrind" } else { "" },
        if ended { "ended" } else { "was killed: deadline passed" },
        elapsed.as_secs_f64(),
        tail(&stdout, 60_000),
        tail(&stderr, 60_000),
    );
    let ok = ended && status.is_some_and(|s| s.success());
    assert!(ok, "{report}");
    // The summary line of check.h proves the program ran to its end.
    let text = String::from_utf8_lossy(&stdout);
    assert!(text.lines().any(|l| l.starts_with("== ") && l.ends_with(" 0 failed")), "no summary line:\n{report}");
    eprintln!("{program}: passed in {:.1} s", elapsed.as_secs_f64());
}

#[test]
fn c_manager() {
    run("manager.c");
}

#[test]
fn c_group() {
    run("group.c");
}

#[test]
fn c_job() {
    run("job.c");
}

#[test]
fn c_enum() {
    run("enum.c");
}

#[test]
fn c_boundary() {
    run("boundary.c");
}

#[test]
fn c_callback() {
    run("callback.c");
}

#[test]
fn c_transfer() {
    run("transfer.c");
}

#[test]
fn c_progress() {
    run("progress.c");
}

#[test]
fn c_checksum() {
    run("checksum.c");
}

#[test]
fn cxx_smoke() {
    run("cxx_smoke.cpp");
}

/// No thread of the library is left after the last release, even with a network helper
/// blocked in a read; the program then `dlclose`s the library and keeps running (issue #14).
#[test]
fn c_lifetime() {
    run_with("lifetime.c", Link::Dlopen);
}
