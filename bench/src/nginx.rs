//! The server of every scenario: Debian's nginx on 127.0.0.1, from a generated configuration
//! (master process and 2 workers, sendfile, keep-alive up to 100,000 requests, no access log;
//! below [`CAPPED_PATH`] each connection capped at [`CAPPED_RATE`]),
//! in the foreground as a child of the bench, stopped when the [`Nginx`] guard is dropped —
//! also on an error or a panic.

use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{kill_process, Pid, Signal};

/// The nginx binary of the Debian package.
pub const BINARY: &str = "/usr/sbin/nginx";

/// How long nginx gets to accept connections after it was started.
const START_DEADLINE: Duration = Duration::from_secs(20);

/// How long nginx gets to stop after SIGTERM (fast shutdown) before it is killed.
const STOP_DEADLINE: Duration = Duration::from_secs(10);

/// Scenario 8: URL path (below the document root) of the location whose every connection
/// nginx caps at [`CAPPED_RATE`] (`limit_rate` is per connection).
pub const CAPPED_PATH: &str = "capped/";

/// Scenario 8: the cap of each connection to [`CAPPED_PATH`], in bytes/s (`limit_rate 2m`:
/// nginx's `m` is 2^20).
pub const CAPPED_RATE: u64 = 2 << 20;

/// Ports tried when another process takes the free port before nginx binds it.
const PORT_ATTEMPTS: usize = 5;

/// A running nginx serving one directory. Dropping it stops nginx (SIGTERM, then SIGKILL).
pub struct Nginx {
    child: Child,
    port: u16,
    prefix: PathBuf,
}

impl Nginx {
    /// Starts nginx serving `root` (`/name` is `<root>/name`), with its configuration, pid file
    /// and error log in `prefix` (created), and returns once it accepts TCP connections.
    ///
    /// Errors: nginx missing, not starting (its error log is quoted), or no free port.
    pub fn start(root: &Path, prefix: &Path) -> Result<Nginx, String> {
        if !Path::new(BINARY).is_file() {
            return Err(format!("{BINARY} not found: install Debian's nginx (bench/run does)"));
        }
        std::fs::create_dir_all(prefix).map_err(|e| format!("nginx prefix {}: {e}", prefix.display()))?;
        for name in ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"] {
            let dir = prefix.join(name);
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let mut failures = Vec::new();
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port()?;
            let conf = prefix.join("nginx.conf");
            std::fs::write(&conf, configuration(prefix, root, port))
                .map_err(|e| format!("write {}: {e}", conf.display()))?;
            for stale in ["error.log", "nginx.pid", "stderr.log"] {
                let _ = std::fs::remove_file(prefix.join(stale));
            }
            let stderr = File::create(prefix.join("stderr.log")).map_err(|e| format!("nginx stderr file: {e}"))?;
            let child = Command::new(BINARY)
                .arg("-p")
                .arg(prefix)
                .arg("-e")
                .arg(prefix.join("error.log"))
                .arg("-c")
                .arg(&conf)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr)
                .spawn()
                .map_err(|e| format!("start {BINARY}: {e}"))?;
            let mut server = Nginx { child, port, prefix: prefix.to_path_buf() };
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let started = Instant::now();
            loop {
                if let Ok(Some(status)) = server.child.try_wait() {
                    let logs = server.logs();
                    if logs.contains("Address already in use") {
                        failures.push(format!("port {port}: address in use"));
                        break;
                    }
                    return Err(format!("nginx exited with {status} at start:\n{logs}"));
                }
                // The pid file is written after binding: the listener is nginx, not a process
                // that took the port meanwhile.
                if prefix.join("nginx.pid").is_file()
                    && TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
                {
                    return Ok(server);
                }
                if started.elapsed() > START_DEADLINE {
                    return Err(format!(
                        "nginx did not accept connections on {addr} within {START_DEADLINE:?}:\n{}",
                        server.logs()
                    ));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Err(format!("nginx could not bind a port after {PORT_ATTEMPTS} attempts: {failures:?}"))
    }

    /// `http://127.0.0.1:<port>/`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn logs(&self) -> String {
        let read = |name: &str| std::fs::read_to_string(self.prefix.join(name)).unwrap_or_default();
        format!("stderr:\n{}\nerror.log:\n{}", read("stderr.log"), read("error.log"))
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SIGTERM: fast shutdown; the master stops its workers before exiting. Killing
            // the master alone would leave the workers serving the port.
            let _ = kill_process(Pid::from_child(&self.child), Signal::TERM);
            let started = Instant::now();
            while let Ok(None) = self.child.try_wait() {
                if started.elapsed() > STOP_DEADLINE {
                    eprintln!("nginx did not stop within {STOP_DEADLINE:?} after SIGTERM: killing it");
                    let _ = self.child.kill();
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = self.child.wait();
    }
}

/// A port that was free on 127.0.0.1 a moment ago.
fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port on 127.0.0.1: {e}"))
}

fn configuration(prefix: &Path, root: &Path, port: u16) -> String {
    let p = |name: &str| format!("\"{}\"", prefix.join(name).display());
    // As root, nginx would hand its workers to `nobody`, who cannot read the 0700 work
    // directory.
    let user = if rustix::process::geteuid().is_root() { "user root;\n" } else { "" };
    format!(
        r#"# Generated by qmgr-bench (bench/src/nginx.rs).
{user}daemon off;
master_process on;
worker_processes 2;
pid {pid};
error_log {error_log} warn;
events {{
    worker_connections 1024;
}}
http {{
    default_type application/octet-stream;
    access_log off;
    client_body_temp_path {client_body};
    proxy_temp_path {proxy};
    fastcgi_temp_path {fastcgi};
    uwsgi_temp_path {uwsgi};
    scgi_temp_path {scgi};
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 60s;
    keepalive_requests 100000;
    server {{
        listen 127.0.0.1:{port};
        server_name localhost;
        root "{root}";
        location /{capped} {{
            limit_rate {rate};
        }}
    }}
}}
"#,
        pid = p("nginx.pid"),
        error_log = p("error.log"),
        client_body = p("client_body"),
        proxy = p("proxy"),
        fastcgi = p("fastcgi"),
        uwsgi = p("uwsgi"),
        scgi = p("scgi"),
        root = root.display(),
        capped = CAPPED_PATH,
        rate = CAPPED_RATE,
    )
}
