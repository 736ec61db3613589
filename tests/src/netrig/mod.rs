//! Shaped network rigs in private network namespaces, for measuring how qmgr's background
//! groups share a bottleneck with other traffic (DECISIONS D14; issue #13).
//!
//! Two rigs, each a 50 Mbit/s-class bottleneck (a `tbf` qdisc: `rate R mbit burst 64kb
//! latency 100ms`) with nginx behind it:
//!
//! * [`LinkRig`] — "local-link bottleneck": one namespace whose loopback carries the `tbf`;
//!   nginx, qmgr and the competing curl all run there ([`Host::Qmgr`] and
//!   [`Host::Competitor`] are the same namespace). Sender and shaper share a kernel, so TCP
//!   Small Queues keep the `tbf` queue short: competing traffic adds almost no queueing delay.
//!   Competition shows only in the interface byte counters (`/proc/net/dev` of `lo` there).
//! * [`RouterRig`] — "delay only": server `S` — veth — router `R` (forwarding; a bridge
//!   `br0` carrying the `tbf` as its root qdisc) — veths — qmgr's host `C` and the
//!   competitor's host `O`. Forwarded packets belong to no local socket, so the queue builds
//!   in `R` as in a real router: a competing flow raises qmgr's RTT (from ~7 ms alone to
//!   20–30 ms), while `C`'s interface never carries the competitor's bytes. Competition shows
//!   only as queueing delay.
//!
//! Every name holds the test process's pid and a sequence number, so rigs of concurrent runs
//! never meet; nothing is created in the host's namespace and every flow stays inside the
//! rig. Dropping a rig kills every process left in its namespaces (nginx, the sleepers that
//! pin the namespaces for [`Rig::rx_bytes`], any transfer still running) and deletes the
//! namespaces, also when the test panics. Namespaces left by a process that was killed
//! (SIGKILL, so no drop ran) are removed by the next rig built on the machine.
//!
//! Needs root (`CAP_NET_ADMIN`, `CAP_SYS_ADMIN` for `ip netns`) and `ip`, `tc`, `nginx` and
//! `curl`. [`LinkRig::new`] and [`RouterRig::new`] follow the policy of
//! [`crate::require_tool`]: without them a test is skipped with a printed `SKIPPED` line,
//! under CI ([`crate::in_ci`]) it fails. [`LinkRig::build`] and [`RouterRig::build`] return
//! the reason as an error instead (for the bench).
//!
//! Units: rates are bytes per second (`f64`) unless a name says Mbit; sizes are bytes;
//! times are [`Instant`]s or [`Duration`]s.
//!
//! ```no_run
//! use qmgr_tests::netrig::{Host, LinkRig};
//! let Some(mut rig) = LinkRig::new(50) else { return };
//! rig.serve(std::path::Path::new("/srv/files")).unwrap();
//! let base = tempfile::tempdir().unwrap();
//! let curl = rig.curl(Host::Competitor, &rig.url("/a.bin"), base.path()).unwrap();
//! let done = curl.wait(std::time::Duration::from_secs(60)).unwrap();
//! println!("{:.2} MB/s", done.rate() / 1e6);
//! ```

use std::ffi::OsStr;
use std::fs::File;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::{in_ci, wait_until};

/// The port nginx listens on inside a rig (each rig has its own namespaces, so a fixed port
/// never collides).
pub const PORT: u16 = 8080;

/// Prefix of every namespace a rig creates: `qmgr-rig-<pid>-<seq>-<role>`.
const NAME_PREFIX: &str = "qmgr-rig-";

/// How long nginx gets to listen after it was started.
const NGINX_DEADLINE: Duration = Duration::from_secs(20);

/// Deadline of a setup command (`ip`, `tc`, a `qmgr` command that returns at once).
const SETUP_DEADLINE: Duration = Duration::from_secs(60);

/// Environment variables that would send a request to a proxy outside the rig: removed from
/// every command run in a rig.
const PROXY_VARIABLES: [&str; 8] =
    ["http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"];

/// A host of a rig: where a command runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Host {
    /// Where qmgr runs (its interface is the one qmgr's controller may watch).
    Qmgr,
    /// Where the competing traffic (curl) runs: the same namespace as [`Host::Qmgr`] in a
    /// [`LinkRig`], another host behind the same shaped link in a [`RouterRig`].
    Competitor,
    /// Where nginx runs.
    Server,
}

/// One network namespace of a rig, pinned by a `sleep infinity` child so that its
/// `/proc/<pid>/net/dev` can be read without entering it.
struct Namespace {
    name: String,
    /// The interface whose counters [`Rig::rx_bytes`] reads (`lo`, `eth0`…).
    device: String,
    pin: Option<Child>,
}

/// A rig: its namespaces, the shaped rate, nginx once [`Rig::serve`] was called. Built by
/// [`LinkRig`] or [`RouterRig`] (which dereference to it); dropping it removes everything.
pub struct Rig {
    kind: &'static str,
    rate_mbit: u32,
    /// In creation order; deleted in reverse order.
    namespaces: Vec<Namespace>,
    server: usize,
    qmgr: usize,
    competitor: usize,
    /// The address nginx listens on, e.g. `127.0.0.1` or `10.78.1.2`.
    server_addr: String,
    nginx: Option<NsNginx>,
}

/// Rig 1, the local-link bottleneck (see the module documentation).
pub struct LinkRig(Rig);

/// Rig 2, the router bottleneck where only queueing delay reveals competition (see the module
/// documentation).
pub struct RouterRig(Rig);

impl Deref for LinkRig {
    type Target = Rig;
    fn deref(&self) -> &Rig {
        &self.0
    }
}

impl std::ops::DerefMut for LinkRig {
    fn deref_mut(&mut self) -> &mut Rig {
        &mut self.0
    }
}

impl Deref for RouterRig {
    type Target = Rig;
    fn deref(&self) -> &Rig {
        &self.0
    }
}

impl std::ops::DerefMut for RouterRig {
    fn deref_mut(&mut self) -> &mut Rig {
        &mut self.0
    }
}

impl LinkRig {
    /// Builds rig 1 with a `tbf` of `rate_mbit` Mbit/s on the namespace's loopback; `None` when
    /// the machine cannot (not root, a tool missing): the test is skipped, with the reason
    /// printed. Under CI that is a failure instead; a setup command that fails on a capable
    /// machine is always a failure.
    pub fn new(rate_mbit: u32) -> Option<LinkRig> {
        capable("LinkRig")?;
        Some(LinkRig::build(rate_mbit).unwrap_or_else(|e| panic!("building the local-link rig: {e}")))
    }

    /// Builds rig 1; errors name the command that failed (with its output) or what is missing.
    pub fn build(rate_mbit: u32) -> Result<LinkRig, String> {
        missing_requirement().map_or(Ok(()), Err)?;
        let mut rig = Rig::empty("local link", rate_mbit, "127.0.0.1");
        let ns = rig.add_namespace("l", "lo")?;
        ip(&["-n", &ns, "link", "set", "lo", "mtu", "1500", "up"])?;
        shape(&ns, "lo", rate_mbit)?;
        rig.pin_all()?;
        Ok(LinkRig(rig))
    }
}

impl RouterRig {
    /// Builds rig 2 with a `tbf` of `rate_mbit` Mbit/s on the router's bridge toward both
    /// clients; `None` when the machine cannot (see [`LinkRig::new`]).
    pub fn new(rate_mbit: u32) -> Option<RouterRig> {
        capable("RouterRig")?;
        Some(RouterRig::build(rate_mbit).unwrap_or_else(|e| panic!("building the router rig: {e}")))
    }

    /// Builds rig 2: addresses `10.78.1.0/24` between server (`.2`) and router (`.1`),
    /// `10.78.2.0/24` behind the router's bridge (router `.1`, qmgr's host `.2`, competitor
    /// `.3`), default routes through the router. Errors as [`LinkRig::build`].
    pub fn build(rate_mbit: u32) -> Result<RouterRig, String> {
        missing_requirement().map_or(Ok(()), Err)?;
        let mut rig = Rig::empty("router", rate_mbit, "10.78.1.2");
        let s = rig.add_namespace("s", "eth0")?;
        let r = rig.add_namespace("r", "br0")?;
        let c = rig.add_namespace("c", "eth0")?;
        let o = rig.add_namespace("o", "eth0")?;
        rig.server = 0;
        rig.qmgr = 2;
        rig.competitor = 3;
        for ns in [&s, &r, &c, &o] {
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        // Created inside the router, the other end moved straight into its namespace: no
        // interface ever appears in the host's namespace.
        ip(&["-n", &r, "link", "add", "vs", "type", "veth", "peer", "name", "eth0", "netns", &s])?;
        ip(&["-n", &r, "link", "add", "vc", "type", "veth", "peer", "name", "eth0", "netns", &c])?;
        ip(&["-n", &r, "link", "add", "vo", "type", "veth", "peer", "name", "eth0", "netns", &o])?;
        ip(&["-n", &r, "link", "add", "br0", "type", "bridge"])?;
        for port in ["vc", "vo"] {
            ip(&["-n", &r, "link", "set", port, "master", "br0"])?;
        }
        for dev in ["vs", "vc", "vo", "br0"] {
            ip(&["-n", &r, "link", "set", dev, "up"])?;
        }
        ip(&["-n", &r, "addr", "add", "10.78.1.1/24", "dev", "vs"])?;
        ip(&["-n", &r, "addr", "add", "10.78.2.1/24", "dev", "br0"])?;
        for (ns, addr, gw) in
            [(&s, "10.78.1.2/24", "10.78.1.1"), (&c, "10.78.2.2/24", "10.78.2.1"), (&o, "10.78.2.3/24", "10.78.2.1")]
        {
            ip(&["-n", ns, "addr", "add", addr, "dev", "eth0"])?;
            ip(&["-n", ns, "link", "set", "eth0", "up"])?;
            ip(&["-n", ns, "route", "add", "default", "via", gw])?;
        }
        sysctl(&r, "net/ipv4/ip_forward", "1")?;
        // Both clients sit behind br0: its root qdisc is the one queue they share.
        shape(&r, "br0", rate_mbit)?;
        rig.pin_all()?;
        Ok(RouterRig(rig))
    }
}

/// Whether this machine can build a rig; prints `SKIPPED` (or fails under CI) when not.
fn capable(what: &str) -> Option<()> {
    match missing_requirement() {
        None => Some(()),
        Some(why) => {
            assert!(!in_ci(), "{what} cannot be built: {why} (under CI this is a failure)");
            eprintln!("SKIPPED: {what} cannot be built: {why} (under CI this is a failure)");
            None
        }
    }
}

/// What this machine lacks to build a rig: root, or one of `ip`, `tc`, `nginx`, `curl`.
fn missing_requirement() -> Option<String> {
    if !rustix::process::geteuid().is_root() {
        return Some("network namespaces need root".into());
    }
    ["ip", "tc", "nginx", "curl"].into_iter().find(|t| which(t).is_none()).map(|t| format!("`{t}` is not installed"))
}

/// `tool` on `PATH` or in `/usr/sbin`, `/sbin`.
fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

/// Runs a setup command to its end; an error quotes its output.
fn run_setup(cmd: &mut Command) -> Result<(), String> {
    let out = crate::run_to_end(cmd, SETUP_DEADLINE);
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

fn ip(args: &[&str]) -> Result<(), String> {
    run_setup(Command::new("ip").args(args))
}

/// Writes `value` into `/proc/sys/<key>` inside namespace `ns` (a per-namespace sysctl).
fn sysctl(ns: &str, key: &str, value: &str) -> Result<(), String> {
    let script = format!("echo {value} > /proc/sys/{key}");
    run_setup(Command::new("ip").args(["netns", "exec", ns, "sh", "-c", &script]))
}

/// `tc qdisc add dev DEV root tbf rate R mbit burst 64kb latency 100ms` in namespace `ns`.
fn shape(ns: &str, dev: &str, rate_mbit: u32) -> Result<(), String> {
    let rate = format!("{rate_mbit}mbit");
    run_setup(Command::new("tc").args([
        "-n", ns, "qdisc", "add", "dev", dev, "root", "tbf", "rate", &rate, "burst", "64kb", "latency", "100ms",
    ]))
}

/// Namespaces named by [`NAME_PREFIX`] whose creating process is gone (killed before its rig
/// was dropped): their processes are killed and they are deleted.
fn remove_stale_namespaces() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else { return };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else { continue };
        let Some(pid) = name.strip_prefix(NAME_PREFIX).and_then(|r| r.split('-').next()?.parse::<u32>().ok()) else {
            continue;
        };
        if !crate::runner::alive(pid) {
            kill_namespace_processes(name);
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
    }
}

/// SIGKILLs every process in namespace `name` (`ip netns pids`).
fn kill_namespace_processes(name: &str) {
    let Ok(out) = Command::new("ip").args(["netns", "pids", name]).output() else { return };
    for pid in String::from_utf8_lossy(&out.stdout).split_whitespace().filter_map(|p| p.parse::<u32>().ok()) {
        crate::runner::sigkill(pid);
    }
}

impl Rig {
    fn empty(kind: &'static str, rate_mbit: u32, server_addr: &str) -> Rig {
        remove_stale_namespaces();
        Rig {
            kind,
            rate_mbit,
            namespaces: Vec::new(),
            server: 0,
            qmgr: 0,
            competitor: 0,
            server_addr: server_addr.to_string(),
            nginx: None,
        }
    }

    /// Creates namespace `qmgr-rig-<pid>-<seq>-<role>`; it is deleted when the rig is dropped.
    fn add_namespace(&mut self, role: &str, device: &str) -> Result<String, String> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let name = format!("{NAME_PREFIX}{}-{}-{role}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed));
        ip(&["netns", "add", &name])?;
        self.namespaces.push(Namespace { name: name.clone(), device: device.to_string(), pin: None });
        // No TCP metrics cached between connections: every measurement starts alike.
        sysctl(&name, "net/ipv4/tcp_no_metrics_save", "1")?;
        Ok(name)
    }

    /// Starts the `sleep infinity` that pins each namespace (see [`Rig::rx_bytes`]).
    fn pin_all(&mut self) -> Result<(), String> {
        for ns in &mut self.namespaces {
            let child = Command::new("ip")
                .args(["netns", "exec", &ns.name, "sleep", "infinity"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("start a sleeper in {}: {e}", ns.name))?;
            ns.pin = Some(child);
        }
        // `ip netns exec` enters the namespace, then execs: wait until the pid shows it.
        let ready = wait_until(SETUP_DEADLINE, || {
            self.namespaces.iter().all(|ns| {
                let pid = ns.pin.as_ref().map(Child::id).unwrap_or(0);
                std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "sleep")
            })
        });
        if !ready {
            return Err("the namespace sleepers did not start".into());
        }
        Ok(())
    }

    fn ns(&self, host: Host) -> &Namespace {
        &self.namespaces[match host {
            Host::Qmgr => self.qmgr,
            Host::Competitor => self.competitor,
            Host::Server => self.server,
        }]
    }

    /// "local link" or "router".
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// The configured `tbf` rate, in Mbit/s (10⁶ bits/s).
    pub fn rate_mbit(&self) -> u32 {
        self.rate_mbit
    }

    /// The configured `tbf` rate in bytes/s (the wire rate; HTTP payload gets ~95 % of it).
    pub fn rate_bytes_per_s(&self) -> f64 {
        f64::from(self.rate_mbit) * 1e6 / 8.0
    }

    /// The name of the namespace of `host` (for `ip netns exec`, error messages).
    pub fn namespace(&self, host: Host) -> &str {
        &self.ns(host).name
    }

    /// Whether qmgr and the competitor share a namespace (and so an interface): true in a
    /// [`LinkRig`].
    pub fn shared_host(&self) -> bool {
        self.qmgr == self.competitor
    }

    /// `program` run inside the namespace of `host` (`ip netns exec NS program`), without the
    /// proxy variables and with `QMGR_AUTOSTART=0` (no background runner, DECISIONS D13).
    /// Add arguments to the returned command.
    pub fn command(&self, host: Host, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns(host).name]).arg(program).env("QMGR_AUTOSTART", "0");
        for name in PROXY_VARIABLES {
            cmd.env_remove(name);
        }
        cmd
    }

    /// Bytes received so far by the interface of `host` (its `/proc/net/dev` line: `lo` in a
    /// [`LinkRig`], where it counts every flow of the rig; `eth0` of the client in a
    /// [`RouterRig`], only that host's traffic, headers included).
    pub fn rx_bytes(&self, host: Host) -> Result<u64, String> {
        let ns = self.ns(host);
        let pid = ns.pin.as_ref().map(Child::id).ok_or("the rig's namespaces are not pinned")?;
        let text =
            std::fs::read_to_string(format!("/proc/{pid}/net/dev")).map_err(|e| format!("/proc/{pid}/net/dev: {e}"))?;
        parse_rx_bytes(&text, &ns.device).ok_or_else(|| format!("no {} in {}'s /proc/net/dev", ns.device, ns.name))
    }

    /// Serves `root` (`/name` is `<root>/name`) with nginx on `<server address>:8080` inside the
    /// server's namespace, and returns once it listens. nginx (`master_process off`, a single
    /// process, `sendfile on`, no access log) keeps its configuration, pid and error log in a
    /// temporary directory; it is killed when the rig is dropped. Errors: nginx not starting
    /// (its error log is quoted), or already serving.
    pub fn serve(&mut self, root: &Path) -> Result<(), String> {
        if self.nginx.is_some() {
            return Err("this rig already serves a directory".into());
        }
        let nginx = NsNginx::start(self, root)?;
        self.nginx = Some(nginx);
        Ok(())
    }

    /// `http://<server address>:8080<path>`; `path` starts with `/`.
    pub fn url(&self, path: &str) -> String {
        assert!(path.starts_with('/'), "URL path must start with '/': {path}");
        format!("http://{}:{PORT}{path}", self.server_addr)
    }

    /// Starts `curl -q -sS -f -o <base>/out/<name> URL` on `host` (see [`Transfer`] for the
    /// layout of `base`, which is created).
    pub fn curl(&self, host: Host, url: &str, base: &Path) -> Result<Transfer, String> {
        let layout = Layout::create(base)?;
        let name = url.rsplit('/').next().filter(|n| !n.is_empty()).unwrap_or("index");
        let mut cmd = self.command(host, "curl");
        cmd.args(["-q", "-sS", "-f", "-o"]).arg(layout.out.join(name)).arg(url);
        Transfer::spawn(cmd, layout, format!("curl {url} on {:?}", host))
    }

    /// Measures `curl` alone: downloads `url` on `host` into `base` and returns its rate,
    /// bytes/s (bytes of the file / curl's wall time, process start to exit).
    pub fn curl_rate(&self, host: Host, url: &str, base: &Path, deadline: Duration) -> Result<f64, String> {
        Ok(self.curl(host, url, base)?.wait(deadline)?.rate())
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        if let Some(mut nginx) = self.nginx.take() {
            if std::thread::panicking() {
                eprintln!("nginx of the {} rig — error.log:\n{}", self.kind, nginx.error_log());
            }
            nginx.stop();
        }
        for ns in self.namespaces.iter_mut().rev() {
            // Transfers a test left running, the sleeper: all processes this rig started.
            kill_namespace_processes(&ns.name);
            if let Some(mut pin) = ns.pin.take() {
                let _ = pin.kill();
                let _ = pin.wait();
            }
            let _ = Command::new("ip")
                .args(["netns", "del", &ns.name])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// The received-bytes column of `device` in a `/proc/net/dev` text.
fn parse_rx_bytes(text: &str, device: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (name, rest) = l.split_once(':')?;
        (name.trim() == device).then(|| rest.split_whitespace().next()?.parse().ok()).flatten()
    })
}

/// nginx running in the server's namespace.
struct NsNginx {
    child: Child,
    prefix: tempfile::TempDir,
}

impl NsNginx {
    fn start(rig: &Rig, root: &Path) -> Result<NsNginx, String> {
        let binary = which("nginx").ok_or("nginx is not installed")?;
        let prefix = tempfile::Builder::new().prefix("qmgr-rig-nginx-").tempdir().map_err(|e| e.to_string())?;
        let root = std::fs::canonicalize(root).map_err(|e| format!("document root {}: {e}", root.display()))?;
        for name in ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"] {
            std::fs::create_dir(prefix.path().join(name)).map_err(|e| e.to_string())?;
        }
        let conf = prefix.path().join("nginx.conf");
        std::fs::write(
            &conf,
            crate::nginx::configuration(prefix.path(), &root, &format!("{}:{PORT}", rig.server_addr), &[], false),
        )
        .map_err(|e| e.to_string())?;
        let stderr = File::create(prefix.path().join("stderr.log")).map_err(|e| e.to_string())?;
        let child = rig
            .command(Host::Server, &binary)
            .arg("-p")
            .arg(prefix.path())
            .arg("-e")
            .arg(prefix.path().join("error.log"))
            .arg("-c")
            .arg(&conf)
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("start nginx: {e}"))?;
        let mut nginx = NsNginx { child, prefix };
        // `ip netns exec` execs nginx in place: the child's pid is nginx, and its
        // /proc/<pid>/net/tcp lists the sockets of the server's namespace.
        let listen = format!(":{PORT:04X} ");
        let mut exited = None;
        let up = wait_until(NGINX_DEADLINE, || {
            if let Ok(Some(status)) = nginx.child.try_wait() {
                exited = Some(status);
                return true;
            }
            let tcp = std::fs::read_to_string(format!("/proc/{}/net/tcp", nginx.child.id())).unwrap_or_default();
            // local_address rem_address st: 0A is LISTEN.
            tcp.lines().any(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.len() > 3 && format!("{} ", f[1]).ends_with(&listen) && f[3] == "0A"
            })
        });
        match (up, exited) {
            (true, None) => Ok(nginx),
            (_, status) => {
                let logs = format!("stderr:\n{}\nerror.log:\n{}", nginx.read("stderr.log"), nginx.error_log());
                nginx.stop();
                Err(format!("nginx did not listen on port {PORT} ({status:?}):\n{logs}"))
            }
        }
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.prefix.path().join(name)).unwrap_or_default()
    }

    fn error_log(&self) -> String {
        self.read("error.log")
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

mod transfer;
pub use transfer::{dir_bytes, Class, Finished, Layout, QmgrCli, Sampler, Trace, Transfer, SAMPLE_EVERY};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rx_bytes_are_read_from_proc_net_dev() {
        let text = "Inter-|   Receive                                                |  Transmit\n \
                    face |bytes    packets errs drop fifo frame compressed multicast|bytes\n    \
                    lo: 1234 5 0 0 0 0 0 0 1234 5 0 0 0 0 0 0\n  eth0:987654 10 0 0 0 0 0 0 1 1 0 0 0 0 0 0\n";
        assert_eq!(parse_rx_bytes(text, "lo"), Some(1234));
        assert_eq!(parse_rx_bytes(text, "eth0"), Some(987654));
        assert_eq!(parse_rx_bytes(text, "br0"), None);
    }
}
