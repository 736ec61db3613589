//! Installing qmgr as a user would (issue #16): `make install DESTDIR=… PREFIX=/usr` once (the
//! release build of the top-level Makefile, reused by every test here), then
//!
//! * the installed files are exactly the documented ones, the library carries its soname and
//!   `pkg-config` describes it;
//! * a C program built with `pkg-config --cflags --libs qmgr`, and one linked statically with
//!   `pkg-config --static`, download from nginx;
//! * a C++ program using only `qmgr.hpp` downloads, and catches `qmgr::Error` for an HTTP 404
//!   and for bad arguments (under valgrind with `QMGR_VALGRIND=1`);
//! * every man page renders without a warning; the bash completion loads and completes;
//! * `make uninstall` leaves no file behind;
//! * `pip install ./python` in a fresh virtual environment, and a wheel from `python -m build
//!   --wheel` in another, download from nginx through `qmgr.Manager`, run from `/` with no
//!   variable pointing at the library.
//!
//! Missing tools (make, pkg-config, man, readelf, nginx, python3 with venv and build) skip a
//! test outside CI and fail it under CI (`require_tool`).

#![forbid(unsafe_code)]

use qmgr_tests::nginx::{Nginx, NginxConfig};
use qmgr_tests::{
    in_ci, profile_dir, require_tool, run_ok, valgrind_command, valgrind_requested, wait_until, workspace_root,
};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// The release build and the install: minutes on 2 cores when nothing is built yet.
const BUILD_DEADLINE: Duration = Duration::from_secs(3600);
/// A program downloading a few MiB from nginx (valgrind included).
const RUN_DEADLINE: Duration = Duration::from_secs(900);
/// Size of each file nginx serves.
const FILE_SIZE: usize = 3 * 1024 * 1024 + 17;

/// The cargo target directory the tests were built in (`target/` or `$CARGO_TARGET_DIR`),
/// which the Makefile and pip build into too, so that one release build serves them all.
fn target_dir() -> PathBuf {
    profile_dir().parent().expect("the profile directory has a parent").to_path_buf()
}

/// `make ARGS…` in the workspace, building into [`target_dir`].
fn make(args: &[&str]) -> Output {
    let mut cmd = Command::new("make");
    cmd.current_dir(workspace_root()).env("CARGO_TARGET_DIR", target_dir()).args(args);
    run_ok(&mut cmd, BUILD_DEADLINE)
}

/// The tools every test here needs; `false` when one is missing (skipped outside CI).
fn tools() -> bool {
    ["make", "pkg-config", "readelf", "cc"].iter().all(|t| require_tool(t).is_some())
}

/// `make` then `make install DESTDIR=<stage> PREFIX=/usr`, once per test process; the stage
/// directory (`<target>/install-test/stage`). `None` when a tool is missing (skipped).
fn stage() -> Option<&'static Path> {
    static STAGE: OnceLock<PathBuf> = OnceLock::new();
    if !tools() {
        return None;
    }
    Some(STAGE.get_or_init(|| {
        let stage = target_dir().join("install-test/stage");
        let _ = std::fs::remove_dir_all(&stage);
        std::fs::create_dir_all(&stage).expect("create the stage directory");
        make(&[]);
        make(&["install", &format!("DESTDIR={}", stage.display()), "PREFIX=/usr"]);
        stage
    }))
}

/// Files and symbolic links under `root` (relative paths, sorted), each with `-> target` for a
/// link; directories are not listed.
fn files_under(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
            let path = entry.expect("directory entry").path();
            let relative = path.strip_prefix(root).unwrap().display().to_string();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                walk(root, &path, out);
            } else if meta.file_type().is_symlink() {
                out.push(format!("{relative} -> {}", std::fs::read_link(&path).unwrap().display()));
            } else {
                out.push(relative);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

/// `libqmgr.so.0.MINOR.PATCH` of the crate's version.
fn library_file() -> String {
    let version: Vec<&str> = env!("CARGO_PKG_VERSION").split('.').collect();
    format!("libqmgr.so.0.{}.{}", version[1], version[2])
}

/// The files `make install PREFIX=<prefix>` installs, but the man pages of section 1 (their
/// list is the CLI's: see [`man1_pages`]).
fn documented_files(prefix: &str) -> Vec<String> {
    let p = prefix.trim_start_matches('/');
    let lib = library_file();
    let mut files = vec![
        format!("{p}/bin/qmgr"),
        format!("{p}/include/qmgr.h"),
        format!("{p}/include/qmgr.hpp"),
        format!("{p}/lib/{lib}"),
        format!("{p}/lib/libqmgr.a"),
        format!("{p}/lib/libqmgr.so -> libqmgr.so.0"),
        format!("{p}/lib/libqmgr.so.0 -> {lib}"),
        format!("{p}/lib/pkgconfig/qmgr.pc"),
        format!("{p}/lib/systemd/user/qmgr.service"),
        format!("{p}/share/bash-completion/completions/qmgr"),
        format!("{p}/share/fish/vendor_completions.d/qmgr.fish"),
        format!("{p}/share/man/man3/qmgr.3"),
        format!("{p}/share/zsh/site-functions/_qmgr"),
    ];
    files.sort();
    files
}

/// The names of the entries of `dir`, sorted.
fn file_names(dir: &Path) -> Vec<String> {
    let mut pages: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    pages.sort();
    pages
}

/// `pkg-config ARGS… qmgr` against the stage (PKG_CONFIG_PATH and PKG_CONFIG_SYSROOT_DIR), its
/// output split into words.
fn pkg_config(stage: &Path, args: &[&str]) -> Vec<String> {
    let out = run_ok(
        Command::new("pkg-config")
            .env("PKG_CONFIG_PATH", stage.join("usr/lib/pkgconfig"))
            .env("PKG_CONFIG_SYSROOT_DIR", stage)
            .env_remove("PKG_CONFIG_LIBDIR")
            .args(args)
            .arg("qmgr"),
        Duration::from_secs(60),
    );
    String::from_utf8(out.stdout).unwrap().split_whitespace().map(String::from).collect()
}

/// The `NEEDED`, `SONAME`, `RPATH` and `RUNPATH` entries of an ELF file (`readelf -d`).
fn dynamic_entries(file: &Path) -> Vec<String> {
    let out = run_ok(Command::new("readelf").arg("-d").arg(file), Duration::from_secs(60));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let kind = l.split('(').nth(1)?.split(')').next()?;
            let value = l.split('[').nth(1)?.split(']').next()?;
            ["NEEDED", "SONAME", "RPATH", "RUNPATH"].contains(&kind).then(|| format!("{kind} {value}"))
        })
        .collect()
}

/// nginx serving `a.bin` and `b.bin` ([`FILE_SIZE`] bytes each, different contents) from a
/// directory of `dir`; `None` when nginx is missing (skipped outside CI).
fn nginx_with_files(dir: &Path) -> Option<Nginx> {
    let root = dir.join("www");
    std::fs::create_dir_all(&root).unwrap();
    for (name, seed) in [("a.bin", 7u8), ("b.bin", 31)] {
        let data: Vec<u8> = (0..FILE_SIZE).map(|i| (i as u8).wrapping_mul(seed) ^ (i >> 12) as u8).collect();
        std::fs::write(root.join(name), data).unwrap();
    }
    Nginx::start(&NginxConfig::new(root))
}

/// Fails unless `downloaded` holds exactly the served `name`.
fn assert_same_file(server_dir: &Path, name: &str, downloaded: &Path) {
    let served = std::fs::read(server_dir.join("www").join(name)).unwrap();
    let got = std::fs::read(downloaded).unwrap_or_else(|e| panic!("read {}: {e}", downloaded.display()));
    assert!(
        got == served,
        "{} differs from the served {name} ({} vs {} bytes)",
        downloaded.display(),
        got.len(),
        served.len()
    );
}

/// Makes `cmd` run with the staged library and no queue of the user's: the loader looks in
/// the stage's lib directory, the default queue is private, no runner is started
/// (QMGR_AUTOSTART=0).
fn staged<'a>(cmd: &'a mut Command, stage: &Path, work: &Path) -> &'a mut Command {
    cmd.env("LD_LIBRARY_PATH", stage.join("usr/lib"))
        .env("QMGR_HOME", work.join("default-queue"))
        .env("QMGR_AUTOSTART", "0")
        .env_remove("QMGR_LIBRARY")
        .env_remove("XDG_STATE_HOME")
}

/// Compiles `examples-c/download.c` with `cc`, the flags of `pkg-config flags…` (static: with
/// `-static` before them) and returns the program.
fn build_example(stage: &Path, work: &Path, name: &str, static_link: bool) -> PathBuf {
    let exe = work.join(name);
    let mut cmd = Command::new("cc");
    cmd.args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-O1"]);
    let flags = match static_link {
        true => {
            cmd.arg("-static");
            pkg_config(stage, &["--static", "--cflags", "--libs"])
        }
        false => pkg_config(stage, &["--cflags", "--libs"]),
    };
    cmd.arg(workspace_root().join("examples-c/download.c")).arg("-o").arg(&exe).args(flags);
    run_ok(&mut cmd, Duration::from_secs(300));
    exe
}

/// Runs the example program `exe` on `a.bin` of a fresh nginx and checks the file.
fn example_downloads(stage: &Path, exe: &Path, work: &Path) {
    let Some(server) = nginx_with_files(work) else { return };
    let dest = work.join("dest");
    std::fs::create_dir_all(&dest).unwrap();
    let queue = work.join("queue");
    let mut cmd = Command::new(exe);
    staged(&mut cmd, stage, work).arg("--queue").arg(&queue).arg(&dest).arg(server.url("/a.bin"));
    run_ok(&mut cmd, RUN_DEADLINE);
    assert_same_file(work, "a.bin", &dest.join("a.bin"));
}

#[test]
fn installs_the_documented_files() {
    let Some(stage) = stage() else { return };
    let mut expected = documented_files("/usr");
    let man1 = stage.join("usr/share/man/man1");
    let pages = file_names(&man1);
    expected.extend(pages.iter().map(|p| format!("usr/share/man/man1/{p}")));
    expected.sort();
    assert_eq!(files_under(stage), expected);

    // Section 1: qmgr(1) and a page per subcommand, exactly what the binary generates.
    let fresh = tempfile::tempdir().unwrap();
    run_ok(
        Command::new(stage.join("usr/bin/qmgr")).arg("__generate").arg("man").arg(fresh.path()),
        Duration::from_secs(60),
    );
    assert_eq!(pages, file_names(fresh.path()));
    for page in ["qmgr.1", "qmgr-get.1", "qmgr-serve.1", "qmgr-service.1", "qmgr-service-install.1"] {
        assert!(pages.iter().any(|p| p == page), "{page} is not installed: {pages:?}");
    }

    // The headers are the repository's; the binary and the library are executable.
    for header in ["qmgr.h", "qmgr.hpp"] {
        let installed = std::fs::read(stage.join("usr/include").join(header)).unwrap();
        assert!(installed == std::fs::read(workspace_root().join("include").join(header)).unwrap(), "{header}");
    }
    use std::os::unix::fs::PermissionsExt;
    for exe in ["usr/bin/qmgr".to_string(), format!("usr/lib/{}", library_file())] {
        let mode = std::fs::metadata(stage.join(&exe)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o755, "{exe}");
    }

    // The systemd user unit runs the installed binary on the user's default queue.
    let unit = std::fs::read_to_string(stage.join("usr/lib/systemd/user/qmgr.service")).unwrap();
    assert!(unit.lines().any(|l| l == "ExecStart=/usr/bin/qmgr serve --started-by unit"), "{unit}");
    assert!(unit.contains("[Install]\nWantedBy=default.target\n"), "{unit}");
}

#[test]
fn the_library_has_its_soname_and_pkg_config_describes_it() {
    let Some(stage) = stage() else { return };
    let lib = stage.join("usr/lib").join(library_file());
    assert!(dynamic_entries(&lib).contains(&"SONAME libqmgr.so.0".to_string()), "{:?}", dynamic_entries(&lib));
    assert_eq!(pkg_config(stage, &["--modversion"]), [env!("CARGO_PKG_VERSION")]);
    assert_eq!(pkg_config(stage, &["--cflags"]), [format!("-I{}/usr/include", stage.display())]);
    let libs = pkg_config(stage, &["--libs"]);
    assert!(libs.contains(&"-lqmgr".to_string()) && !libs.contains(&"-ldl".to_string()), "{libs:?}");
    let libs = pkg_config(stage, &["--static", "--libs"]);
    for lib in ["-lqmgr", "-lpthread", "-ldl", "-lm"] {
        assert!(libs.contains(&lib.to_string()), "{lib} missing from {libs:?}");
    }
}

#[test]
fn c_program_built_with_pkg_config_downloads() {
    let Some(stage) = stage() else { return };
    let work = tempfile::tempdir().unwrap();
    let exe = build_example(stage, work.path(), "download", false);
    let entries = dynamic_entries(&exe);
    assert!(entries.contains(&"NEEDED libqmgr.so.0".to_string()), "{entries:?}");
    assert!(!entries.iter().any(|e| e.starts_with("RPATH") || e.starts_with("RUNPATH")), "{entries:?}");
    example_downloads(stage, &exe, work.path());
}

#[test]
fn c_program_linked_statically_downloads() {
    let Some(stage) = stage() else { return };
    let work = tempfile::tempdir().unwrap();
    let exe = build_example(stage, work.path(), "download-static", true);
    let entries = dynamic_entries(&exe);
    assert!(!entries.iter().any(|e| e.contains("libqmgr")), "{entries:?}");
    example_downloads(stage, &exe, work.path());
}

#[test]
fn cxx_program_using_qmgr_hpp() {
    let Some(stage) = stage() else { return };
    let Some(_) = require_tool("c++") else { return };
    let work = tempfile::tempdir().unwrap();
    let exe = work.path().join("hpp_download");
    let mut cc = Command::new("c++");
    cc.args(["-std=c++17", "-Wall", "-Wextra", "-Werror", "-pedantic", "-g", "-O1"])
        .arg(workspace_root().join("tests/c/hpp_download.cpp"))
        .arg("-o")
        .arg(&exe)
        .args(pkg_config(stage, &["--cflags", "--libs"]));
    run_ok(&mut cc, Duration::from_secs(300));

    let Some(server) = nginx_with_files(work.path()) else { return };
    let dir = work.path().join("run");
    std::fs::create_dir(&dir).unwrap();
    let mut cmd = match valgrind_requested() {
        true => {
            let Some(valgrind) = require_tool("valgrind") else { return };
            valgrind_command(&valgrind, &exe)
        }
        false => Command::new(&exe),
    };
    staged(&mut cmd, stage, work.path())
        .arg(format!("http://127.0.0.1:{}", server.port()))
        .arg(&dir)
        .arg(FILE_SIZE.to_string());
    let out = run_ok(&mut cmd, RUN_DEADLINE);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.lines().any(|l| l.starts_with("== hpp_download: ") && l.ends_with(" 0 failed")), "{stdout}");
    assert_same_file(work.path(), "a.bin", &dir.join("a.bin"));
    assert_same_file(work.path(), "b.bin", &dir.join("b.bin"));
}

#[test]
fn man_pages_render_without_warnings() {
    let Some(stage) = stage() else { return };
    let Some(_) = require_tool("man") else { return };
    let mut pages = Vec::new();
    for section in ["man1", "man3"] {
        let dir = stage.join("usr/share/man").join(section);
        pages.extend(file_names(&dir).into_iter().map(|p| dir.join(p)));
    }
    assert!(pages.len() > 10, "{pages:?}");
    for page in &pages {
        let out = run_ok(
            Command::new("man").args(["--warnings", "-l"]).arg(page).env("MANWIDTH", "80").env("MANPAGER", "cat"),
            Duration::from_secs(60),
        );
        let (text, warnings) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(warnings.trim().is_empty(), "{}: warnings:\n{warnings}", page.display());
        assert!(text.contains("NAME") && text.contains("qmgr"), "{}:\n{text}", page.display());
    }
    let c_api = String::from_utf8(
        run_ok(
            Command::new("man").arg("-l").arg(stage.join("usr/share/man/man3/qmgr.3")).env("MANWIDTH", "80"),
            Duration::from_secs(60),
        )
        .stdout,
    )
    .unwrap();
    for text in ["qmgr_create_instance", "qmgr_group_wait", "QMGR_E_INVALIDARG", "pkg-config --cflags --libs qmgr"] {
        assert!(c_api.contains(text), "qmgr(3) does not mention {text}");
    }
}

#[test]
fn bash_completion_loads_and_completes() {
    let Some(stage) = stage() else { return };
    let Some(_) = require_tool("bash") else { return };
    let completion = stage.join("usr/share/bash-completion/completions/qmgr");
    let script = format!(
        "source '{}' && complete -p qmgr && COMP_WORDS=(qmgr ser) COMP_CWORD=1 COMP_LINE='qmgr ser' COMP_POINT=8 && \
         _qmgr qmgr ser qmgr && printf 'reply: %s\\n' \"${{COMPREPLY[@]}}\"",
        completion.display()
    );
    let out = run_ok(Command::new("bash").arg("-c").arg(script), Duration::from_secs(60));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().next().is_some_and(|l| l.starts_with("complete ") && l.ends_with(" qmgr")), "{text}");
    let mut replies: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("reply: ")).collect();
    replies.sort();
    assert_eq!(replies, ["serve", "service"], "{text}");
    let zsh = std::fs::read_to_string(stage.join("usr/share/zsh/site-functions/_qmgr")).unwrap();
    assert!(zsh.starts_with("#compdef qmgr"), "{zsh}");
    let fish = std::fs::read_to_string(stage.join("usr/share/fish/vendor_completions.d/qmgr.fish")).unwrap();
    assert!(fish.contains("complete -c qmgr"), "{fish}");
}

#[test]
fn uninstall_removes_every_installed_file() {
    let Some(_) = stage() else { return };
    let dir = target_dir().join("install-test/uninstall");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let destdir = format!("DESTDIR={}", dir.display());
    make(&["install", &destdir]);
    let installed = files_under(&dir);
    assert!(installed.iter().any(|f| f == "usr/local/bin/qmgr"), "the default PREFIX is /usr/local: {installed:?}");
    let unit = std::fs::read_to_string(dir.join("usr/local/lib/systemd/user/qmgr.service")).unwrap();
    assert!(unit.contains("\nExecStart=/usr/local/bin/qmgr serve "), "{unit}");
    for file in documented_files("/usr/local") {
        assert!(installed.contains(&file), "{file} not installed: {installed:?}");
    }
    make(&["uninstall", &destdir]);
    assert_eq!(files_under(&dir), Vec::<String>::new(), "left behind by make uninstall");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The Python tests build in `python/build` (setuptools' in-tree build): one at a time.
static PYTHON_BUILD: Mutex<()> = Mutex::new(());

/// A fresh virtual environment in `dir` (`python3 -m venv`); its `bin/python`.
fn venv(dir: &Path) -> PathBuf {
    run_ok(Command::new("python3").args(["-m", "venv"]).arg(dir), Duration::from_secs(300));
    dir.join("bin/python")
}

/// A script that queues `url` → `dest` in the queue `queue` through `qmgr.Manager` and prints
/// the path of the library it loaded; `WAIT` is replaced by what it does once the group runs.
const PYTHON_SCRIPT: &str = "\
import sys
import qmgr

url, dest, queue = sys.argv[1:]
with qmgr.Manager(queue) as manager, manager.create_group() as group:
    manager.set_option(qmgr.Option.PROXY, '')
    with group.create_job() as job:
        job.add_files([(url, dest)])
    group.resume()
    WAIT
print(qmgr.ffi.library_path)
";

/// Runs `python -c script URL DEST QUEUE` from `/` with no variable that could point at a
/// library (nor `PATH` to a `qmgr`), `autostart` as given; returns what it printed.
fn run_python(python: &Path, script: &str, work: &Path, args: [&str; 3], autostart: bool) -> String {
    let mut cmd = Command::new(python);
    cmd.current_dir("/").env_clear().env("PATH", "/usr/bin:/bin").env("HOME", work).args(["-c", script]).args(args);
    if !autostart {
        cmd.env("QMGR_AUTOSTART", "0");
    }
    String::from_utf8(run_ok(&mut cmd, RUN_DEADLINE).stdout).unwrap().trim().to_string()
}

/// In the virtual environment of `python` (its packages under `site`), from `/`: a script
/// downloads `a.bin` of a fresh nginx through `qmgr.Manager` with the library of the package;
/// another queues `b.bin` and exits at once, and the runner the library starts — the `qmgr`
/// shipped beside it in the package (DECISIONS D13) — downloads it.
fn python_downloads(python: &Path, work: &Path, site: &Path) {
    let Some(server) = nginx_with_files(work) else { return };
    let (url, dest, queue) = (server.url("/a.bin"), work.join("a.bin"), work.join("queue"));
    let script = PYTHON_SCRIPT.replace("WAIT", "group.wait(timeout=300)\n    group.cancel()");
    let library = run_python(python, &script, work, [&url, path_str(&dest), path_str(&queue)], false);
    assert_same_file(work, "a.bin", &dest);
    let library = PathBuf::from(library);
    assert!(library.starts_with(site), "{} is not the library of the package in {}", library.display(), site.display());
    assert!(library.ends_with("qmgr/libqmgr.so.0"), "{}", library.display());

    let (url, dest, queue) = (server.url("/b.bin"), work.join("b.bin"), work.join("queue-autostart"));
    let script = PYTHON_SCRIPT.replace("WAIT", "pass");
    run_python(python, &script, work, [&url, path_str(&dest), path_str(&queue)], true);
    let done = wait_until(RUN_DEADLINE, || std::fs::read(&dest).is_ok_and(|d| d.len() == FILE_SIZE));
    let lock = std::fs::read_to_string(queue.join("runner.lock")).unwrap_or_default();
    assert!(done, "no runner downloaded b.bin after the script exited; runner.lock: {lock}");
    assert_same_file(work, "b.bin", &dest);
    assert!(lock.contains("started_by=autostart"), "{lock}");
    let pid = lock.lines().find_map(|l| l.strip_prefix("pid=")).expect("runner.lock names its pid");
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).expect("the runner runs");
    assert_eq!(exe, library.with_file_name("qmgr"), "the runner is the qmgr shipped in the package");
    // The runner leaves within 5 s once its queue directory is gone (DECISIONS D13); it may
    // still write there meanwhile, so the removal is retried.
    let removed = wait_until(Duration::from_secs(60), || std::fs::remove_dir_all(&queue).is_ok() || !queue.exists());
    assert!(removed, "cannot remove {}", queue.display());
}

/// `path` as UTF-8 (the tests' temporary paths are).
fn path_str(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

/// `python3` with the venv module, or `None` (skipped outside CI).
fn python_with_venv() -> Option<()> {
    require_tool("python3")?;
    let ok = Command::new("python3").args(["-c", "import venv, ensurepip"]).output().is_ok_and(|o| o.status.success());
    assert!(ok || !in_ci(), "python3 cannot make virtual environments (venv, ensurepip): CI must install them");
    ok.then_some(())
}

#[test]
fn pip_install_in_a_fresh_venv() {
    let Some(_) = stage() else { return };
    let Some(()) = python_with_venv() else { return };
    let work = tempfile::tempdir().unwrap();
    let python = venv(&work.path().join("venv"));
    {
        let _one = PYTHON_BUILD.lock().unwrap_or_else(|e| e.into_inner());
        run_ok(
            Command::new(&python)
                .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
                .arg(workspace_root().join("python"))
                .env("CARGO_TARGET_DIR", target_dir()),
            BUILD_DEADLINE,
        );
    }
    python_downloads(&python, work.path(), &work.path().join("venv/lib"));
}

#[test]
fn wheel_in_a_fresh_venv() {
    let Some(_) = stage() else { return };
    let Some(()) = python_with_venv() else { return };
    let has_build = Command::new("python3").args(["-c", "import build"]).output().is_ok_and(|o| o.status.success());
    assert!(has_build || !in_ci(), "the Python package `build` is missing: run-tests.sh installs it");
    if !has_build {
        eprintln!("SKIPPED: the Python package `build` is not installed");
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let wheels = work.path().join("wheels");
    {
        let _one = PYTHON_BUILD.lock().unwrap_or_else(|e| e.into_inner());
        run_ok(
            Command::new("python3")
                .args(["-m", "build", "--wheel", "--outdir"])
                .arg(&wheels)
                .arg(workspace_root().join("python"))
                .env("CARGO_TARGET_DIR", target_dir()),
            BUILD_DEADLINE,
        );
    }
    let built = file_names(&wheels);
    let version = env!("CARGO_PKG_VERSION");
    let arch = std::env::consts::ARCH;
    assert_eq!(built, [format!("qmgr-{version}-py3-none-linux_{arch}.whl")], "one platform wheel");
    let wheel = wheels.join(&built[0]);
    let listing = run_ok(Command::new("python3").args(["-m", "zipfile", "-l"]).arg(&wheel), Duration::from_secs(60));
    assert!(String::from_utf8_lossy(&listing.stdout).contains("qmgr/libqmgr.so.0"), "the wheel ships the library");

    let python = venv(&work.path().join("venv"));
    run_ok(
        Command::new(&python).args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"]).arg(&wheel),
        Duration::from_secs(300),
    );
    python_downloads(&python, work.path(), &work.path().join("venv/lib"));
}
