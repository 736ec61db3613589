//! A real nginx on 127.0.0.1 for end-to-end tests and benchmarks: started as the current user
//! (root or not) from a generated configuration, everything it writes (pid, logs, temporary
//! directories) inside its own temporary prefix, killed when dropped.
//!
//! ```no_run
//! use qmgr_tests::nginx::{Nginx, NginxConfig};
//! let Some(server) = Nginx::start(&NginxConfig::new("/srv/files")) else { return };
//! let url = server.url("/a.bin");
//! // … download url …
//! assert!(server.access_log().iter().any(|e| e.path() == "/a.bin" && e.status == 200));
//! ```

use std::fs::File;
use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{require_tool, wait_until};

/// How long nginx gets to accept a TCP connection after it was started (it is usually a few ms;
/// the margin is for loaded CI machines).
const START_DEADLINE: Duration = Duration::from_secs(30);

/// How many ports are tried when another process takes the free port between the moment it was
/// picked and nginx's `bind`.
const PORT_ATTEMPTS: usize = 10;

/// A location that serves the document root under another path prefix at a limited rate
/// (nginx `alias` + `limit_rate`): `/slow/a.bin` is `<root>/a.bin`, sent at `bytes_per_second`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Path prefix starting and ending with `/`, e.g. `/slow/`.
    pub prefix: String,
    /// Bytes per second per connection (nginx `limit_rate`).
    pub bytes_per_second: u64,
}

/// What a [`Nginx`] serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NginxConfig {
    /// The document root: `/name` is `<root>/name`. Symbolic links are followed
    /// (`disable_symlinks off`, nginx's default).
    pub root: PathBuf,
    /// Rate-limited views of the document root.
    pub rate_limits: Vec<RateLimit>,
}

impl NginxConfig {
    /// Serves `root` at full speed, with no rate-limited location.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        NginxConfig { root: root.into(), rate_limits: Vec::new() }
    }

    /// Adds a rate-limited view of the root under `prefix` (see [`RateLimit`]).
    pub fn rate_limited(mut self, prefix: &str, bytes_per_second: u64) -> Self {
        assert!(prefix.starts_with('/') && prefix.ends_with('/'), "prefix must start and end with '/': {prefix}");
        self.rate_limits.push(RateLimit { prefix: prefix.to_string(), bytes_per_second });
        self
    }
}

/// One line of the access log (format `qmgr`: tab-separated, written when a request ends, so
/// an interrupted transfer shows up once its connection is closed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessLogEntry {
    /// The request line, e.g. `GET /a.bin HTTP/1.1`.
    pub request: String,
    /// The response status, e.g. 200 or 206.
    pub status: u16,
    /// Body bytes sent (`$body_bytes_sent`; less than the file for an interrupted transfer).
    pub body_bytes_sent: u64,
    /// The request's `Range` header, e.g. `bytes=1048576-`; `None` when absent.
    pub range: Option<String>,
    /// The request's `If-Range` header; `None` when absent.
    pub if_range: Option<String>,
    /// The request's `User-Agent` header; `None` when absent.
    pub user_agent: Option<String>,
}

impl AccessLogEntry {
    /// The path of the request line (`/a.bin` for `GET /a.bin HTTP/1.1`), empty when malformed.
    pub fn path(&self) -> &str {
        self.request.split(' ').nth(1).unwrap_or("")
    }

    /// The first offset `N` of a `Range: bytes=N-` or `bytes=N-M` header, if any.
    pub fn range_start(&self) -> Option<u64> {
        let spec = self.range.as_deref()?.strip_prefix("bytes=")?;
        spec.split('-').next()?.trim().parse().ok()
    }

    fn parse(line: &str) -> Option<Self> {
        let fields: Vec<&str> = line.split('\t').collect();
        let [request, status, sent, range, if_range, user_agent] = fields[..] else { return None };
        let opt = |s: &str| (s != "-").then(|| s.to_string());
        Some(AccessLogEntry {
            request: request.to_string(),
            status: status.parse().ok()?,
            body_bytes_sent: sent.parse().ok()?,
            range: opt(range),
            if_range: opt(if_range),
            user_agent: opt(user_agent),
        })
    }
}

/// A running nginx (`master_process off`: a single process), listening on `127.0.0.1` on an
/// ephemeral port. Dropping it kills nginx and deletes its prefix directory (configuration,
/// logs, pid file, temporary directories); the document root is not touched.
pub struct Nginx {
    child: Child,
    port: u16,
    prefix: tempfile::TempDir,
}

impl Nginx {
    /// Starts nginx serving `config`, and returns once it accepts TCP connections.
    ///
    /// Returns `None` when nginx is not installed (the test is skipped; under CI that is a
    /// failure instead, see [`require_tool`]). Panics with nginx's error log when it cannot start.
    pub fn start(config: &NginxConfig) -> Option<Nginx> {
        let binary = require_tool("nginx")?;
        let prefix = tempfile::Builder::new().prefix("qmgr-nginx-").tempdir().expect("nginx prefix directory");
        let root = std::fs::canonicalize(&config.root)
            .unwrap_or_else(|e| panic!("nginx document root {}: {e}", config.root.display()));
        for name in ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"] {
            std::fs::create_dir(prefix.path().join(name)).expect("nginx temporary directory");
        }
        let supports_e = supports_error_log_option(&binary);
        let mut failures = Vec::new();
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port();
            let conf = prefix.path().join("nginx.conf");
            std::fs::write(
                &conf,
                configuration(prefix.path(), &root, &format!("127.0.0.1:{port}"), &config.rate_limits, true),
            )
            .expect("write nginx.conf");
            let _ = std::fs::remove_file(prefix.path().join("error.log"));
            let _ = std::fs::remove_file(prefix.path().join("nginx.pid"));
            let stderr = File::create(prefix.path().join("stderr.log")).expect("nginx stderr file");
            let mut cmd = Command::new(&binary);
            cmd.arg("-p").arg(prefix.path());
            if supports_e {
                // Startup messages go there too instead of the compiled-in /var/log/nginx.
                cmd.arg("-e").arg(prefix.path().join("error.log"));
            }
            cmd.arg("-c").arg(&conf).args(["-g", "daemon off;"]);
            let mut child = cmd
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr)
                .spawn()
                .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let mut exited = None;
            let up = wait_until(START_DEADLINE, || {
                if let Some(status) = child.try_wait().expect("nginx try_wait") {
                    exited = Some(status);
                    return true;
                }
                // nginx writes its pid file after binding: the listener is nginx, not another
                // process that took the port meanwhile (nginx then retries bind for seconds).
                prefix.path().join("nginx.pid").is_file()
                    && TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
            });
            let logs = || {
                format!(
                    "stderr:\n{}\nerror.log:\n{}",
                    read_lossy(&prefix.path().join("stderr.log")),
                    read_lossy(&prefix.path().join("error.log"))
                )
            };
            match (up, exited) {
                (true, None) => return Some(Nginx { child, port, prefix }),
                (true, Some(status)) => {
                    let logs = logs();
                    // Another process took the port in the meantime: pick another one.
                    assert!(logs.contains("Address already in use"), "nginx exited with {status} at start:\n{logs}");
                    failures.push(format!("port {port}: address in use"));
                }
                (false, _) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("nginx did not accept connections on {addr} within {START_DEADLINE:?}:\n{}", logs());
                }
            }
        }
        panic!("nginx could not bind a port after {PORT_ATTEMPTS} attempts: {failures:?}");
    }

    /// The port nginx listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port><path>`; `path` starts with `/`.
    pub fn url(&self, path: &str) -> String {
        assert!(path.starts_with('/'), "URL path must start with '/': {path}");
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// nginx's prefix directory (configuration, logs, pid file, temporary directories).
    pub fn prefix(&self) -> &Path {
        self.prefix.path()
    }

    /// The access log, parsed, in the order requests ended.
    pub fn access_log(&self) -> Vec<AccessLogEntry> {
        read_lossy(&self.prefix.path().join("access.log")).lines().filter_map(AccessLogEntry::parse).collect()
    }

    /// The error log as text (for failure messages).
    pub fn error_log(&self) -> String {
        read_lossy(&self.prefix.path().join("error.log"))
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // A single process (master_process off): killing it leaves nothing behind.
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "nginx on port {} — access.log:\n{}\nerror.log:\n{}",
                self.port,
                read_lossy(&self.prefix.path().join("access.log")),
                self.error_log()
            );
        }
    }
}

/// A port that was free on 127.0.0.1 a moment ago (bound to port 0, then released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("bind 127.0.0.1:0").port()
}

/// Whether this nginx has `-e FILE` (1.19.5 and later), read from `nginx -v`.
fn supports_error_log_option(binary: &Path) -> bool {
    let out = Command::new(binary).arg("-v").output().expect("nginx -v");
    let text = String::from_utf8_lossy(&out.stderr);
    let version: Vec<u32> = text
        .split("nginx/")
        .nth(1)
        .map(|v| v.split_whitespace().next().unwrap_or("").split('.').filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_default();
    version >= vec![1, 19, 5]
}

/// Whether nginx needs `user root;`: as root without a `user` directive it would look up
/// `nobody`/`nogroup` and hand its temporary directories to them.
fn running_as_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// The nginx configuration of a test server: files of `root` served on `listen` (`ADDR:PORT`),
/// the rate-limited `limits` locations, every path of nginx's own below `prefix`, and an access
/// log (`prefix/access.log`, read by [`Nginx::access_log`]) when `access_log` is true. Run it
/// with `-g "daemon off;"`. Also used by the shaped rigs ([`crate::netrig`]).
pub(crate) fn configuration(
    prefix: &Path,
    root: &Path,
    listen: &str,
    limits: &[RateLimit],
    access_log: bool,
) -> String {
    let p = |name: &str| format!("\"{}\"", prefix.join(name).display());
    let root = root.display();
    let user = if running_as_root() { "user root;\n" } else { "" };
    let mut locations = String::new();
    for limit in limits {
        locations.push_str(&format!(
            "        location {} {{\n            alias \"{root}/\";\n            limit_rate {};\n        }}\n",
            limit.prefix, limit.bytes_per_second
        ));
    }
    format!(
        r#"# Generated by qmgr-tests (tests/src/nginx.rs).
{user}master_process off;
pid {pid};
error_log {error_log} notice;
events {{
    worker_connections 512;
}}
http {{
    default_type application/octet-stream;
{access_log}
    client_body_temp_path {client_body};
    proxy_temp_path {proxy};
    fastcgi_temp_path {fastcgi};
    uwsgi_temp_path {uwsgi};
    scgi_temp_path {scgi};
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 30s;
    disable_symlinks off;
    server {{
        listen {listen};
        server_name localhost;
        root "{root}";
{locations}    }}
}}
"#,
        pid = p("nginx.pid"),
        error_log = p("error.log"),
        access_log = if access_log {
            format!(
                "    log_format qmgr escape=default '$request\\t$status\\t$body_bytes_sent\\t$http_range\\t$http_if_range\\t$http_user_agent';\n    access_log {} qmgr;",
                p("access.log")
            )
        } else {
            "    access_log off;".to_string()
        },
        client_body = p("client_body"),
        proxy = p("proxy"),
        fastcgi = p("fastcgi"),
        uwsgi = p("uwsgi"),
        scgi = p("scgi"),
    )
}

fn read_lossy(path: &Path) -> String {
    let mut bytes = Vec::new();
    if let Ok(mut f) = File::open(path) {
        let _ = f.read_to_end(&mut bytes);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_log_lines_parse() {
        let e = AccessLogEntry::parse("GET /slow/m.bin HTTP/1.1\t206\t100\tbytes=4096-\t\"abc\"\tqmgr/0.1").unwrap();
        assert_eq!(e.path(), "/slow/m.bin");
        assert_eq!(e.status, 206);
        assert_eq!(e.range_start(), Some(4096));
        let e = AccessLogEntry::parse("GET /a HTTP/1.1\t200\t5\t-\t-\t-").unwrap();
        assert_eq!((e.range_start(), e.range, e.user_agent), (None, None, None));
        assert!(AccessLogEntry::parse("garbage").is_none());
    }
}
