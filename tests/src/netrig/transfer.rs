//! Transfers in a rig and their byte counts over time: the files of one download
//! ([`Layout`]), a running download sampled every [`SAMPLE_EVERY`] ([`Transfer`]), what it
//! received when ([`Trace`]), and the `qmgr` command lines ([`QmgrCli`]).

use super::*;

/// The directories of one transfer below its `base` directory: `out/` (the download and any
/// temporary file, nothing else, so that [`dir_bytes`] of it is the bytes received),
/// `queue/` (qmgr's queue directory; not created), `stdout.log` and `stderr.log`.
#[derive(Clone, Debug)]
pub struct Layout {
    /// `base/out`.
    pub out: PathBuf,
    /// `base/queue`.
    pub queue: PathBuf,
    /// `base`.
    pub base: PathBuf,
}

impl Layout {
    /// Creates `base/out` (and `base`).
    pub fn create(base: &Path) -> Result<Layout, String> {
        let out = base.join("out");
        std::fs::create_dir_all(&out).map_err(|e| format!("create {}: {e}", out.display()))?;
        Ok(Layout { out, queue: base.join("queue"), base: base.to_path_buf() })
    }
}

/// Bytes in the regular files directly in `dir` (a download's final and temporary files);
/// 0 when it cannot be read. A file fetched in ranges (DECISIONS D16) is sparse while it
/// grows: its length is its last range's end, so each file counts as the smaller of its length
/// and the space allocated to it (`st_blocks`, which the file system counts as bytes are
/// written, delayed allocation included).
pub fn dir_bytes(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len().min(m.blocks() * 512))
        .sum()
}

/// How often a [`Transfer`]'s bytes are sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(25);

/// A download running in a rig: one process (curl, `qmgr get`, `qmgr wait`) writing into
/// `layout.out`, whose bytes ([`dir_bytes`]) a thread samples every [`SAMPLE_EVERY`] from the
/// moment the process is started.
pub struct Transfer {
    child: Option<Child>,
    /// When the process was started.
    pub started: Instant,
    sampler: Option<Sampler>,
    /// Where it writes.
    pub layout: Layout,
    what: String,
}

/// A [`Transfer`] that ended by itself.
#[derive(Clone, Debug)]
pub struct Finished {
    /// Its exit status.
    pub status: ExitStatus,
    /// When it was started…
    pub started: Instant,
    /// …and when its exit was seen (within 10 ms).
    pub ended: Instant,
    /// Bytes in `out/` at the end.
    pub bytes: u64,
    /// Its bytes over time.
    pub trace: Trace,
}

impl Finished {
    /// Bytes at the end / (end − start), bytes/s.
    pub fn rate(&self) -> f64 {
        self.bytes as f64 / (self.ended - self.started).as_secs_f64()
    }

    /// End − start.
    pub fn elapsed(&self) -> Duration {
        self.ended - self.started
    }
}

impl Transfer {
    /// Starts `cmd` with its output into `layout.base/{stdout,stderr}.log` and starts sampling
    /// `layout.out`. `what` names it in errors.
    pub fn spawn(mut cmd: Command, layout: Layout, what: String) -> Result<Transfer, String> {
        let log = |name: &str| {
            File::create(layout.base.join(name))
                .map_err(|e| format!("create {}: {e}", layout.base.join(name).display()))
        };
        let (stdout, stderr) = (log("stdout.log")?, log("stderr.log")?);
        let out = layout.out.clone();
        let sampler = Sampler::start(SAMPLE_EVERY, move || dir_bytes(&out));
        let started = Instant::now();
        let child =
            cmd.stdin(Stdio::null()).stdout(stdout).stderr(stderr).spawn().map_err(|e| format!("start {what}: {e}"))?;
        Ok(Transfer { child: Some(child), started, sampler: Some(sampler), layout, what })
    }

    /// Bytes received so far ([`dir_bytes`] of `out/`).
    pub fn bytes(&self) -> u64 {
        dir_bytes(&self.layout.out)
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    /// The samples so far (the sampling goes on).
    pub fn trace(&self) -> Trace {
        self.sampler.as_ref().map(Sampler::snapshot).unwrap_or_default()
    }

    /// Waits for the process to exit by itself; errors (after killing it) when it is still
    /// running after `deadline`, and when it exits with a failure (quoting its stderr).
    pub fn wait(mut self, deadline: Duration) -> Result<Finished, String> {
        let mut child = self.child.take().expect("a running transfer");
        let mut status = None;
        let ended = wait_until_every(deadline, Duration::from_millis(5), || {
            status = child.try_wait().ok().flatten();
            status.is_some()
        });
        let at = Instant::now();
        if !ended {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{} still running after {deadline:?}; stderr:\n{}", self.what, self.stderr()));
        }
        let status = status.expect("exited");
        let bytes = self.bytes();
        let mut trace = self.sampler.take().map(Sampler::finish).unwrap_or_default();
        trace.samples.push((at, bytes));
        if !status.success() {
            return Err(format!("{} failed ({status}); stderr:\n{}", self.what, self.stderr()));
        }
        Ok(Finished { status, started: self.started, ended: at, bytes, trace })
    }

    /// Kills the process (SIGKILL) and returns its samples.
    pub fn stop(mut self) -> Trace {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.sampler.take().map(Sampler::finish).unwrap_or_default()
    }

    /// Its standard error so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.layout.base.join("stderr.log")).unwrap_or_default()
    }
}

impl Drop for Transfer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// [`wait_until`] with a chosen polling interval.
fn wait_until_every(deadline: Duration, every: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + deadline;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(every);
    }
}

/// A thread that records `probe()` (a byte count that only grows) every `every`, from its
/// start until [`Sampler::finish`].
pub struct Sampler {
    stop: Arc<AtomicBool>,
    samples: Arc<std::sync::Mutex<Vec<(Instant, u64)>>>,
    thread: Option<JoinHandle<()>>,
}

impl Sampler {
    /// Starts sampling at once (the first sample is taken before this returns).
    pub fn start(every: Duration, mut probe: impl FnMut() -> u64 + Send + 'static) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(std::sync::Mutex::new(vec![(Instant::now(), probe())]));
        let (s, v) = (stop.clone(), samples.clone());
        let thread = std::thread::spawn(move || {
            let mut next = Instant::now() + every;
            while !s.load(Ordering::Relaxed) {
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
                next += every;
                let sample = (Instant::now(), probe());
                v.lock().unwrap_or_else(|e| e.into_inner()).push(sample);
            }
        });
        Sampler { stop, samples, thread: Some(thread) }
    }

    /// The samples so far.
    pub fn snapshot(&self) -> Trace {
        Trace { samples: self.samples.lock().unwrap_or_else(|e| e.into_inner()).clone() }
    }

    /// Stops sampling and returns every sample.
    pub fn finish(mut self) -> Trace {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.snapshot()
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A byte count over time: `(when, bytes so far)`, in time order.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    /// The samples.
    pub samples: Vec<(Instant, u64)>,
}

impl Trace {
    /// Bytes at `t`, linearly interpolated between the samples around it (the first or last
    /// sample outside their span).
    pub fn bytes_at(&self, t: Instant) -> f64 {
        let s = &self.samples;
        let Some(first) = s.first() else { return 0.0 };
        if t <= first.0 {
            return first.1 as f64;
        }
        match s.windows(2).find(|w| w[1].0 >= t) {
            Some(w) => {
                let span = (w[1].0 - w[0].0).as_secs_f64();
                let f = if span > 0.0 { (t - w[0].0).as_secs_f64() / span } else { 1.0 };
                w[0].1 as f64 + f * (w[1].1 as f64 - w[0].1 as f64)
            }
            None => s.last().map_or(0.0, |l| l.1 as f64),
        }
    }

    /// Average rate between `from` and `to`, bytes/s (0 for an empty interval).
    pub fn rate(&self, from: Instant, to: Instant) -> f64 {
        let secs = to.saturating_duration_since(from).as_secs_f64();
        if secs <= 0.0 {
            return 0.0;
        }
        (self.bytes_at(to) - self.bytes_at(from)) / secs
    }

    /// The time of the last sample, if any.
    pub fn last_time(&self) -> Option<Instant> {
        self.samples.last().map(|s| s.0)
    }

    /// The first `t` (on the sample grid) with `t − window ≥ from` at which the average rate
    /// over `[t − window, t]` is at least `rate` bytes/s, returned as `t − from`; `None` when
    /// no such window ends by the last sample. With `window` 250 ms this answers "how long
    /// until the flow ran at `rate`" to within the window.
    pub fn reaches(&self, from: Instant, window: Duration, rate: f64) -> Option<Duration> {
        self.samples
            .iter()
            .map(|s| s.0)
            .filter(|t| *t >= from + window)
            .find(|t| self.rate(*t - window, *t) >= rate)
            .map(|t| t - from)
    }
}

/// How a `qmgr get` started by [`QmgrCli`] is classed (DECISIONS D14).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// A background group: uses idle bandwidth only under `background_mode idle`.
    Background,
    /// A foreground group: never held back.
    Foreground,
}

/// The `qmgr` command line as the rigs use it: one queue per transfer (`--queue
/// <base>/queue`), `QMGR_AUTOSTART=0`.
#[derive(Clone, Debug)]
pub struct QmgrCli {
    /// The `qmgr` binary.
    pub bin: PathBuf,
}

impl QmgrCli {
    /// The CLI of `bin`.
    pub fn new(bin: &Path) -> QmgrCli {
        QmgrCli { bin: bin.to_path_buf() }
    }

    /// `qmgr --queue <queue>` on `host` of `rig`.
    pub fn command(&self, rig: &Rig, host: Host, queue: &Path) -> Command {
        let mut cmd = rig.command(host, &self.bin);
        cmd.arg("--queue").arg(queue).env("QMGR_BIN", &self.bin).env_remove("RUST_LOG");
        cmd
    }

    /// Starts a download of `url` into `<base>/out` by a group of `class` — `qmgr --queue Q
    /// get [--background] URL -o OUT`, the transfer being that process (`get` is foreground
    /// unless `--background`; DECISIONS D14) — with queue option `background_mode` set to
    /// `mode` first when given (`idle` or `normal`).
    pub fn start_get(
        &self,
        rig: &Rig,
        host: Host,
        url: &str,
        base: &Path,
        class: Class,
        mode: Option<&str>,
    ) -> Result<Transfer, String> {
        let layout = Layout::create(base)?;
        let q = &layout.queue;
        if let Some(mode) = mode {
            run_setup(self.command(rig, host, q).args(["option", "background_mode", mode]))?;
        }
        let what = format!("qmgr get ({class:?}, {}) of {url} on {host:?}", mode.unwrap_or("default mode"));
        let mut cmd = self.command(rig, host, q);
        cmd.arg("get");
        if class == Class::Background {
            cmd.arg("--background");
        }
        cmd.arg(url).arg("-d").arg(&layout.out);
        Transfer::spawn(cmd, layout, what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traces_interpolate_and_find_the_first_fast_window() {
        let t0 = Instant::now();
        let ms = |m: u64| t0 + Duration::from_millis(m);
        // 1 MB/s for a second, then 4 MB/s.
        let samples: Vec<(Instant, u64)> = (0..=20)
            .map(|i| (ms(i * 100), if i <= 10 { i * 100_000 } else { 1_000_000 + (i - 10) * 400_000 }))
            .collect();
        let trace = Trace { samples };
        assert!((trace.bytes_at(ms(50)) - 50_000.0).abs() < 1.0);
        assert!((trace.rate(ms(0), ms(1000)) - 1e6).abs() < 1.0);
        assert!((trace.rate(ms(1000), ms(2000)) - 4e6).abs() < 1.0);
        let t = trace.reaches(ms(0), Duration::from_millis(200), 3.9e6).expect("reached");
        assert_eq!(t, Duration::from_millis(1200));
        assert_eq!(trace.reaches(ms(0), Duration::from_millis(200), 5e6), None);
    }
}
