//! Figures of "one queue, many processes" (DECISIONS D10), measured and printed (`--nocapture`);
//! the assertions are the rules of D10 where a figure has one, else generous bounds.
//!
//! * Takeover after SIGKILL, 20 kills: a chain of agents (C and Python in turn) where the
//!   holder of the transfer lock is killed in the middle of a paced 64 MiB download while the
//!   next agent has the queue open: time from the signal to the lock changing hands
//!   (`/proc/locks`) and to the server receiving the ranged request that continues the file
//!   from the last checkpoint.
//! * Cross-process visibility, 100 changes each way: the holder renames 100 groups one after
//!   another, a process without the lock polls their names (every 2 ms); then the other way.
//! * An idle process watching a queue of 10,000 groups: CPU time (`/proc/<pid>/stat` utime +
//!   stime) and wake-ups (`voluntary_ctxt_switches` of every thread) over 10 s, for the holder
//!   and for processes without the lock; then what one change costs them (a full reload).

use std::path::Path;
use std::time::{Duration, Instant};

use qmgr_tests::multiprocess::*;
use qmgr_tests::range_server::{RangeServer, Resource};
use qmgr_tests::{sha256_file, wait_until};
use sha2::{Digest, Sha256};

const SLOW: Duration = Duration::from_secs(30);

fn since(later: Instant, earlier: Instant) -> Duration {
    later.saturating_duration_since(earlier)
}

/// The bytes checkpointed in the queue database for its only file, read straight from SQLite.
fn stored_checkpoint(queue: &Path) -> u64 {
    let conn = rusqlite::Connection::open_with_flags(
        queue.join("queue.sqlite"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .expect("open the queue database read-only");
    conn.busy_timeout(Duration::from_secs(5)).expect("busy timeout");
    conn.query_row("SELECT bytes_done FROM files", [], |r| r.get::<_, i64>(0)).expect("one file") as u64
}

#[test]
fn takeover_after_sigkill_20_kills() {
    const KILLS: usize = 20;
    const RATE: u64 = 2 << 20;
    let _serial = serial();
    let queue = tempfile::tempdir().expect("queue directory");
    let out = tempfile::tempdir().expect("download directory");
    let (q, dest) = (queue.path(), out.path().join("big.bin"));
    let body = qmgr_tests::hostile::pattern(64 << 20, 11);
    let res = Resource::new(body.clone()).rate(RATE);
    let server = RangeServer::start();
    server.add("/big.bin", res.clone());

    let mut holder = Agent::open(Kind::C, "holder 0 (C)", q);
    set_test_options(&mut holder);
    let g = holder.ok("create -");
    let j = holder.ok(&format!("job {g} -"));
    holder.ok(&format!("add {j} {} {}", server.url("/big.bin"), dest.display()));
    holder.ok(&format!("resume {g}"));
    assert_eq!(holder_pid(q), Some(holder.pid()));

    let (mut locks, mut continues, mut lines, mut lost) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut from = 0u64;
    // The next holder starts (and opens the queue) while the current one transfers.
    let standby = |k: usize| {
        let kind = if k.is_multiple_of(2) { Kind::C } else { Kind::Python };
        let mut agent = Agent::spawn(kind, &format!("holder {k} ({kind:?})"));
        agent.send(&format!("open {}", q.display()));
        agent
    };
    let mut pending = Some(standby(1));
    for k in 1..=KILLS {
        let mut next = pending.take().expect("a standby");
        let opened = next.reply();
        assert_eq!(next.parse(&opened), Ok(String::new()), "{} opens the queue", next.name);
        next.ok(&format!("get {g}"));
        // The holder has moved on since it took over (a checkpoint of its own: 250 ms).
        assert!(
            wait_until(SLOW, || server.stats("/big.bin").high_water >= from + (RATE / 3)),
            "kill {k}: the holder does not transfer"
        );
        // Each kill at another phase of the standby's 250 ms lock polling (a pseudo-random
        // wait of 0-247 ms), so that the figures cover the whole cycle.
        std::thread::sleep(Duration::from_millis((k as u64 * 89) % 250));
        if k == KILLS {
            // The last holder gets the rest at full speed (same ETag).
            server.add("/big.bin", res.clone().rate(1 << 40));
        }
        let answers = server.served().len();
        server.set_epoch(k as u64);
        let killed = holder.kill();
        // What the dead holder had written (read before the next holder, which polls the lock
        // every 250 ms, reopens the file), and what it had checkpointed.
        let held = temp_files(out.path())
            .iter()
            .filter_map(|n| std::fs::metadata(out.path().join(n)).ok())
            .map(|m| m.len())
            .max()
            .unwrap_or(0);
        let checkpoint = stored_checkpoint(q);
        lost.push(held.saturating_sub(checkpoint));
        // /proc/locks every 2 ms (wait_until's 20 ms would blur the figure).
        let lock_at = loop {
            let now = Instant::now();
            if holder_pid(q) == Some(next.pid()) {
                break now;
            }
            assert!(now < killed + SLOW, "kill {k}: {} never took the lock", next.name);
            std::thread::sleep(Duration::from_millis(2));
        };
        assert!(wait_until(SLOW, || server.served().len() > answers), "kill {k}: nobody continued the transfer");
        let req = server.served()[answers].clone();
        let (lock, cont) = (since(lock_at, killed), since(req.at, killed));
        // From the checkpoint: a ranged request, or — when the holder was killed before its
        // first checkpoint (D6 allows up to 1 MiB or 1 s; a loaded machine can delay the first
        // store write past the kill) — a request for the whole file.
        let (range, answer) = if checkpoint > 0 { (Some(checkpoint), 206) } else { (None, 200) };
        assert_eq!(req.range_start, range, "kill {k}: the transfer continues from the checkpoint {checkpoint}");
        assert_eq!(req.status, answer, "kill {k}: {req:?}");
        locks.push(lock);
        continues.push(cont);
        lines.push(format!(
            "  kill {k:2}: lock taken by {} after {:4.0} ms, ranged request (bytes={}-) after {:4.0} ms",
            next.name,
            ms(lock),
            checkpoint,
            ms(cont)
        ));
        from = checkpoint;
        holder = next;
        if k < KILLS {
            pending = Some(standby(k + 1));
        }
    }
    wait_until(SLOW, || holder.ok(&format!("status {g}")).starts_with("0x140"));
    assert_eq!(holder.ok(&format!("status {g}")), "0x140 0", "the download completes");
    let digest: String = Sha256::digest(&body).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(sha256_file(&dest), digest, "the final file is byte-identical after {KILLS} kills");
    assert_eq!(temp_files(out.path()), Vec::<String>::new(), "no temporary file is left");
    let resent = server.resent_by_epoch();
    let worst = resent.values().copied().max().unwrap_or(0);
    holder.quit(SLOW);

    eprintln!("takeover after SIGKILL of the holder ({KILLS} kills, alternately C and Python standbys):");
    for l in &lines {
        eprintln!("{l}");
    }
    let worst_lost = lost.iter().copied().max().unwrap_or(0);
    eprintln!(
        "  lock taken: median {:.0} ms, max {:.0} ms; transfer continued: median {:.0} ms, max {:.0} ms; \
         written but not checkpointed per kill: at most {} KiB; fetched twice per kill (server's count, with the \
         transport's read-ahead and socket buffers): at most {} KiB",
        median(&locks),
        max_ms(&locks),
        median(&continues),
        max_ms(&continues),
        worst_lost >> 10,
        worst >> 10
    );
    assert!(max_ms(&continues) <= 1000.0, "D10: another process takes over within 1 s: {continues:?}");
    // DECISIONS D6: a checkpoint at least every MiB (here every 250 ms, 512 KiB at this rate),
    // plus the chunk being written when it fell due (at most `qmgr_net::CHUNK_SIZE`). (The
    // server's count is reported, not bounded: it also holds what the transport read ahead,
    // `qmgr_net::READ_AHEAD`, and what sat in socket buffers while a loaded machine kept the
    // reader waiting.)
    assert!(
        worst_lost <= (1 << 20) + qmgr_net::CHUNK_SIZE as u64,
        "a kill lost {worst_lost} bytes written after the last checkpoint: {lost:?}"
    );
}

/// Phase of [`visibility_of_100_changes`]: `writer` renames each group to `name`, one every
/// `SPACING`, while `watcher` polls; returns the latency of each change.
fn renames_seen(writer: &mut Agent, watcher: &mut Agent, groups: &[String], name: &str) -> Vec<Duration> {
    // Not a divisor of the 200 ms poll: the changes fall at every phase of it.
    const SPACING: Duration = Duration::from_millis(23);
    watcher.ok(&format!("watch_name {name} {}", groups.join(" ")));
    let start = Instant::now();
    let mut done = Vec::new();
    for (i, g) in groups.iter().enumerate() {
        let slot = start + SPACING * i as u32;
        if let Some(wait) = slot.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        writer.send(&format!("name {g} {name}"));
        let line = writer.reply();
        writer.parse(&line).unwrap_or_else(|r| panic!("{}: SetProp failed: {r:?}", writer.name));
        done.push(line.at);
    }
    let mut latencies = Vec::new();
    for (g, at) in groups.iter().zip(done) {
        let seen = watcher
            .event(SLOW, |l| l.text == format!("event seen {g}"))
            .unwrap_or_else(|| panic!("{} never saw {g} renamed", watcher.name));
        latencies.push(since(seen.at, at));
    }
    let finished = watcher.event(SLOW, |l| l.text.starts_with("event watched")).expect("watch finished");
    assert_eq!(finished.text, format!("event watched {}", groups.len()));
    latencies
}

#[test]
fn visibility_of_100_changes() {
    let _serial = serial();
    let queue = tempfile::tempdir().expect("queue directory");
    let out = tempfile::tempdir().expect("download directory");
    let q = queue.path();
    let mut a = Agent::open(Kind::C, "A (holder)", q);
    set_test_options(&mut a);
    let mut b = Agent::open(Kind::C, "B (no lock)", q);
    let made = a.ok(&format!("mkgroups 100 http://127.0.0.1:9/x {}", out.path().display()));
    let groups: Vec<String> = made.split(' ').step_by(2).map(str::to_string).collect();
    b.ok(&format!("watch_exist {}", groups.join(" ")));
    assert!(b.event(SLOW, |l| l.text == "event watched 100").is_some(), "B never saw the groups");
    b.drain_events();
    for g in &groups {
        b.ok(&format!("get {g}"));
    }
    let to_b = renames_seen(&mut a, &mut b, &groups, "v1");
    let to_a = renames_seen(&mut b, &mut a, &groups, "v2");
    a.quit(SLOW);
    b.quit(SLOW);
    eprintln!(
        "cross-process visibility (SetProp DISPLAYNAME in one process → GetProp in another, 100 changes each way):"
    );
    for (what, l) in [("holder → process without the lock", &to_b), ("process without the lock → holder", &to_a)] {
        eprintln!("  {what}: median {:.0} ms, p99 {:.0} ms, max {:.0} ms", median(l), percentile(l, 99.0), max_ms(l));
    }
    for l in [&to_b, &to_a] {
        assert!(median(l) <= 250.0, "D10: changes are seen within 250 ms (median {:.0} ms)", median(l));
        assert!(percentile(l, 99.0) <= 1000.0, "p99 {:.0} ms", percentile(l, 99.0));
    }
}

/// CPU time, wake-ups and threads of a process over a window.
struct Cost {
    cpu_percent: f64,
    wakeups_per_s: f64,
    involuntary_per_s: f64,
    threads: usize,
    rss_kib: u64,
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Measures every process of `pids` over the same `window`.
fn measure(pids: &[u32], window: Duration) -> Vec<Cost> {
    let ticks = clock_ticks() as f64;
    let before: Vec<(u64, (u64, u64))> = pids.iter().map(|&p| (cpu_ticks(p), context_switches(p))).collect();
    let start = Instant::now();
    std::thread::sleep(window); // the measurement window
    let secs = start.elapsed().as_secs_f64();
    pids.iter()
        .zip(before)
        .map(|(&p, (cpu0, (v0, n0)))| {
            let (cpu1, (v1, n1)) = (cpu_ticks(p), context_switches(p));
            Cost {
                cpu_percent: (cpu1 - cpu0) as f64 / ticks / secs * 100.0,
                wakeups_per_s: (v1 - v0) as f64 / secs,
                involuntary_per_s: (n1 - n0) as f64 / secs,
                threads: thread_count(p),
                rss_kib: rss_kib(p),
            }
        })
        .collect()
}

#[test]
fn idle_cost_of_watching_10000_groups() {
    const GROUPS: usize = 10_000;
    const WINDOW: Duration = Duration::from_secs(10);
    const CHANGES: usize = 4;
    let _serial = serial();
    let queue = tempfile::tempdir().expect("queue directory");
    let out = tempfile::tempdir().expect("download directory");
    let q = queue.path();
    let mut ids = Vec::with_capacity(GROUPS);
    {
        let m = qmgr_rs::open(Some(q)).expect("open the queue");
        for i in 0..GROUPS {
            let g = m.create_group(qmgr_rs::Guid::generate()).expect("CreateGroup");
            let j = g.create_job(qmgr_rs::Guid::generate()).expect("CreateJob");
            let local = out.path().join(format!("f{i}")).display().to_string();
            j.add_files(&[qmgr_rs::FileSpec::new(format!("http://127.0.0.1:9/f{i}"), local)]).expect("AddFiles");
            ids.push(g.id().to_string());
        }
    }
    c_agent(); // built before the clock starts
    let mut h = Agent::spawn(Kind::C, "holder (C)");
    h.send(&format!("open {}", q.display()));
    let opened = Instant::now();
    let answer = h.reply();
    assert_eq!(h.parse(&answer), Ok(String::new()), "CreateInstance");
    let open_ms = ms(since(answer.at, opened));
    let mut w = Agent::open(Kind::C, "watcher (C)", q);
    let mut p = Agent::open(Kind::Python, "watcher (Python)", q);
    assert_eq!(holder_pid(q), Some(h.pid()));
    for a in [&mut h, &mut w, &mut p] {
        assert_eq!(a.ok("enum").split(' ').next(), Some("10000"), "{} sees every group", a.name);
    }
    let pids = [h.pid(), w.pid(), p.pid()];
    let idle = measure(&pids, WINDOW);

    // One change at a time: each makes every other process reload the queue.
    w.ok(&format!("get {}", ids[0]));
    h.ok(&format!("get {}", ids[0]));
    let mut latencies = Vec::new();
    let cpu0: Vec<u64> = pids.iter().map(|&pid| cpu_ticks(pid)).collect();
    for round in 0..CHANGES {
        // Each change at another phase of the watcher's 200 ms poll.
        std::thread::sleep(Duration::from_millis(round as u64 * 67));
        let name = format!("r{round}");
        w.ok(&format!("watch_name {name} {}", ids[0]));
        h.send(&format!("name {} {name}", ids[0]));
        let done = h.reply();
        if let Err(r) = h.parse(&done) {
            panic!("SetProp in the holder: {r:?}");
        }
        let seen = w.event(SLOW, |l| l.text.starts_with("event seen")).expect("the change arrived");
        latencies.push(since(seen.at, done.at));
        assert!(w.event(SLOW, |l| l.text.starts_with("event watched")).is_some());
    }
    let reload_ms: Vec<f64> = pids
        .iter()
        .zip(cpu0)
        .map(|(&pid, c0)| (cpu_ticks(pid) - c0) as f64 / clock_ticks() as f64 * 1000.0 / CHANGES as f64)
        .collect();
    for a in [h, w, p] {
        a.quit(SLOW);
    }

    eprintln!("an idle queue of {GROUPS} groups (each one job, one file), watched by 3 processes ({WINDOW:?}):");
    eprintln!("  opening it: {open_ms:.0} ms (C agent, until CreateInstance returned)");
    for (name, c) in ["holder (C)", "no lock (C)", "no lock (Python)"].iter().zip(&idle) {
        eprintln!(
            "  {name}: CPU {:.2} %, {:.1} wake-ups/s (+{:.1} involuntary switches/s), {} threads, RSS {} MiB",
            c.cpu_percent,
            c.wakeups_per_s,
            c.involuntary_per_s,
            c.threads,
            c.rss_kib >> 10
        );
    }
    eprintln!(
        "  one change (a rename by the holder): seen by the C watcher after median {:.0} ms, max {:.0} ms; \
         CPU per change: holder {:.0} ms, C watcher {:.0} ms, Python watcher {:.0} ms",
        median(&latencies),
        max_ms(&latencies),
        reload_ms[0],
        reload_ms[1],
        reload_ms[2]
    );
    for c in &idle {
        assert!(c.cpu_percent <= 10.0, "an idle process uses {:.1} % CPU", c.cpu_percent);
        assert!(c.wakeups_per_s <= 200.0, "an idle process wakes up {:.0} times/s", c.wakeups_per_s);
    }
    assert!(max_ms(&latencies) <= 2000.0, "a change in a queue of {GROUPS} groups took {latencies:?}");
}
