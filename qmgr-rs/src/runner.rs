//! Starting a queue's background runner (DECISIONS D13): the [`Launcher`] that `open` gives
//! every manager. The engine of `qmgr-core` decides when a runner is needed; this finds out
//! whether one already serves the queue (`runner.lock`) and starts one: the systemd user unit
//! when it is installed for this queue and a user service manager answers, else a detached
//! `qmgr --queue DIR serve --exit-when-idle 30 --started-by autostart`.

use qmgr_core::hresult::{Error, Result, QM_E_SERVICE_UNAVAILABLE};
use qmgr_core::runner::Launcher;
use qmgr_store::runner::{claim_start, release_start};
pub use qmgr_store::runner::{probe, RunnerInfo, RunnerLock, StartedBy, RUNNER_LOCK_FILE_NAME};
use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

/// Idle time after which an autostarted runner leaves (DECISIONS D13), in seconds.
pub const AUTOSTART_IDLE_SECS: u64 = 30;
/// The runner's log in the queue directory (its standard error, appended).
pub const SERVE_LOG_FILE_NAME: &str = "serve.log";
/// `serve.log` is rotated to `serve.log.1` when it is larger than this when a runner starts.
pub const SERVE_LOG_MAX_BYTES: u64 = 1 << 20;
/// The name of the systemd user unit that `qmgr service install` writes.
pub const UNIT_NAME: &str = "qmgr.service";
/// A runner started less than this long ago (by any process: `claim_start`) is taken to be on
/// its way to the runner lock: no second one is started meanwhile (a burst of resumes starts
/// one process, not one each).
const STARTING_GRACE: Duration = Duration::from_secs(3);

/// The `qmgr` binary a runner is started from when `$QMGR_BIN` is not set: the C library sets
/// the `qmgr` installed beside it (`../bin/qmgr`), the `qmgr` command itself.
static BINARY_HINT: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Names the `qmgr` binary that runners are started from when `$QMGR_BIN` is not set
/// (DECISIONS D13: the `qmgr` beside the library; the command gives its own path). The first
/// call wins; later ones are ignored.
pub fn set_runner_binary(path: PathBuf) {
    let mut hint = BINARY_HINT.lock().unwrap_or_else(|e| e.into_inner());
    if hint.is_none() {
        *hint = Some(path);
    }
}

/// The binary to start a runner from (DECISIONS D13): `$QMGR_BIN` when set, else the binary
/// named by [`set_runner_binary`] when it exists, else `qmgr` on `PATH`.
///
/// Errors: `QM_E_SERVICE_UNAVAILABLE` saying where it looked.
pub fn runner_binary() -> Result<PathBuf> {
    if let Some(bin) = std::env::var_os("QMGR_BIN").filter(|b| !b.is_empty()) {
        let bin = PathBuf::from(bin);
        return match bin.is_file() {
            true => Ok(bin),
            false => Err(Error::new(
                QM_E_SERVICE_UNAVAILABLE,
                format!("QMGR_BIN names {}, which is not a file", bin.display()),
            )),
        };
    }
    let hint = BINARY_HINT.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if let Some(hint) = hint.filter(|h| h.is_file()) {
        return Ok(hint);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).map(|d| d.join("qmgr")).find(|p| p.is_file()).ok_or_else(|| {
        Error::new(
            QM_E_SERVICE_UNAVAILABLE,
            "no qmgr binary to start a background runner: set QMGR_BIN, or install qmgr beside the library \
             (../bin/qmgr) or on PATH; transfers run only while a process has the queue open",
        )
    })
}

/// The directory of the systemd user units (`$XDG_CONFIG_HOME/systemd/user`, else
/// `~/.config/systemd/user`); `None` without a home.
pub fn unit_dir() -> Option<PathBuf> {
    let config = match std::env::var_os("XDG_CONFIG_HOME").map(PathBuf::from).filter(|p| p.is_absolute()) {
        Some(c) => c,
        None => PathBuf::from(std::env::var_os("HOME").filter(|h| !h.is_empty())?).join(".config"),
    };
    Some(config.join("systemd/user"))
}

/// The queue directory the installed unit serves: the `--queue` of its `ExecStart`, read with
/// systemd's quoting rules ([`unit_words`]); `None` when no unit is installed or it names no
/// queue.
pub fn unit_queue(unit: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(unit).ok()?;
    let exec = text.lines().find_map(|l| l.trim().strip_prefix("ExecStart="))?;
    let mut words = unit_words(exec).into_iter();
    words.find(|w| w == "--queue")?;
    words.next().map(PathBuf::from)
}

/// `text` as one word of a unit's `ExecStart=` line (systemd.service "Command lines",
/// systemd.unit "Specifiers"): unchanged when made of safe characters only, else in double
/// quotes with `\` and `"` escaped; `%` is written `%%` and `$` `$$` in any case, so that
/// systemd expands neither. `None` for text it cannot carry: empty, or with a control
/// character (a newline would end the line).
pub fn unit_word(text: &str) -> Option<String> {
    if text.is_empty() || text.chars().any(char::is_control) {
        return None;
    }
    let escaped = text.replace('%', "%%").replace('$', "$$");
    let safe = |c: char| c.is_ascii_alphanumeric() || "/._-+,:@=%$".contains(c);
    Some(match escaped.chars().all(safe) {
        true => escaped,
        false => format!("\"{}\"", escaped.replace('\\', "\\\\").replace('"', "\\\"")),
    })
}

/// The words of an `ExecStart=` value, unquoted as systemd does for what [`unit_word`]
/// writes and for hand-written lines: whitespace separates words; double and single quotes
/// group; a backslash escapes the next character (`\n`, `\t`, `\s` name newline, tab and
/// space); `%%` is `%`, `%h` the home directory (`$HOME`), `$$` is `$`. Other specifiers and
/// variables are left as written.
pub fn unit_words(line: &str) -> Vec<String> {
    let home = std::env::var("HOME").unwrap_or_default();
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if quote.is_none() && c.is_whitespace() {
            words.extend(word.take());
            continue;
        }
        let w = word.get_or_insert_with(String::new);
        match c {
            '"' | '\'' if quote.is_none() => quote = Some(c),
            c if Some(c) == quote => quote = None,
            '\\' => match chars.next() {
                Some('n') => w.push('\n'),
                Some('t') => w.push('\t'),
                Some('s') => w.push(' '),
                Some(other) => w.push(other),
                None => {}
            },
            '%' => match chars.peek() {
                Some('%') => w.push(chars.next().unwrap_or('%')),
                Some('h') => {
                    chars.next();
                    w.push_str(&home);
                }
                _ => w.push('%'),
            },
            '$' if chars.peek() == Some(&'$') => w.push(chars.next().unwrap_or('$')),
            c => w.push(c),
        }
    }
    words.extend(word);
    words
}

/// Starts runners for one queue directory (see the module).
#[derive(Debug)]
pub struct ProcessLauncher {
    dir: PathBuf,
}

impl ProcessLauncher {
    /// The launcher of the queue in the canonical directory `dir`.
    pub fn new(dir: &Path) -> ProcessLauncher {
        ProcessLauncher { dir: dir.to_path_buf() }
    }

    /// Starts the installed systemd unit when it serves this queue; false when there is none,
    /// it serves another queue, or no user service manager answers.
    fn start_unit(&self) -> bool {
        let Some(unit) = unit_dir().map(|d| d.join(UNIT_NAME)) else { return false };
        let serves_this = unit_queue(&unit).and_then(|q| q.canonicalize().ok()).is_some_and(|q| q == self.dir);
        if !serves_this {
            return false;
        }
        let started = Command::new("systemctl")
            .args(["--user", "start", UNIT_NAME])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        matches!(started, Ok(s) if s.success())
    }

    /// Starts `qmgr serve --exit-when-idle` detached: its own process group (a Ctrl-C in the
    /// caller's terminal does not reach it; it makes itself a session leader), standard input
    /// and output on /dev/null, standard error appended to `serve.log`. A thread waits for it,
    /// so that it leaves no zombie behind while this process lives.
    fn spawn(&self) -> Result<()> {
        let bin = runner_binary()?;
        let log_path = self.dir.join(SERVE_LOG_FILE_NAME);
        if std::fs::metadata(&log_path).is_ok_and(|m| m.len() > SERVE_LOG_MAX_BYTES) {
            let _ = std::fs::rename(&log_path, self.dir.join(format!("{SERVE_LOG_FILE_NAME}.1")));
        }
        let unavailable = |what: &str, e: std::io::Error| {
            Error::new(QM_E_SERVICE_UNAVAILABLE, format!("{what} for a background runner: {e}"))
        };
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&log_path)
            .map_err(|e| unavailable(&format!("cannot open {}", log_path.display()), e))?;
        let mut cmd = Command::new(&bin);
        cmd.arg("--queue")
            .arg(&self.dir)
            .args(["serve", "--exit-when-idle", &AUTOSTART_IDLE_SECS.to_string(), "--started-by", "autostart"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0);
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "info");
        }
        let mut child = cmd.spawn().map_err(|e| unavailable(&format!("cannot start {}", bin.display()), e))?;
        log::info!("started background runner {} (pid {}) for {}", bin.display(), child.id(), self.dir.display());
        let reaper = std::thread::Builder::new().name("qmgr-runner-reaper".into()).spawn(move || child.wait());
        if let Err(e) = reaper {
            log::warn!("no thread to wait for the background runner: {e}");
        }
        Ok(())
    }
}

impl Launcher for ProcessLauncher {
    fn ensure_runner(&self) -> Result<()> {
        if probe(&self.dir)?.is_some() || !claim_start(&self.dir, STARTING_GRACE)? {
            return Ok(());
        }
        if self.start_unit() {
            return Ok(());
        }
        self.spawn().inspect_err(|_| {
            if let Err(e) = release_start(&self.dir) {
                log::warn!("giving back the runner start: {e}");
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_queue_reads_exec_start() {
        let dir = tempfile::tempdir().unwrap();
        let unit = dir.path().join(UNIT_NAME);
        assert_eq!(unit_queue(&unit), None, "no unit");
        std::fs::write(&unit, "[Service]\nExecStart=/usr/bin/qmgr --queue /q/dir serve --started-by unit\n").unwrap();
        assert_eq!(unit_queue(&unit), Some(PathBuf::from("/q/dir")));
        std::fs::write(&unit, "[Service]\nExecStart=/usr/bin/qmgr serve\n").unwrap();
        assert_eq!(unit_queue(&unit), None, "no --queue");
        let odd = "/q/my queue/50% \"off\" $HOME\\x";
        std::fs::write(&unit, format!("ExecStart=/b/qmgr --queue {} serve\n", unit_word(odd).unwrap())).unwrap();
        assert_eq!(unit_queue(&unit), Some(PathBuf::from(odd)), "quoted by unit_word");
    }

    #[test]
    fn unit_words_follow_systemd_quoting() {
        assert_eq!(unit_word("/usr/bin/qmgr").unwrap(), "/usr/bin/qmgr");
        assert_eq!(unit_word("/a b").unwrap(), "\"/a b\"");
        assert_eq!(unit_word("/50%").unwrap(), "/50%%");
        assert_eq!(unit_word(r#"/a"b\c $X"#).unwrap(), r#""/a\"b\\c $$X""#);
        assert_eq!(unit_word(""), None);
        assert_eq!(unit_word("/a\nb"), None);
        assert_eq!(unit_words("  a  'b c'\t\"d\\\"e\" f\\sg %% $$ "), ["a", "b c", "d\"e", "f g", "%", "$"]);
        assert_eq!(unit_words(""), Vec::<String>::new());
        let home = std::env::var("HOME").unwrap_or_default();
        assert_eq!(unit_words("%h/x"), [format!("{home}/x")]);
    }
}
