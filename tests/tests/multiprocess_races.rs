//! Two processes acting on the same group at the same moment, and one process acting right
//! after another on a view that is up to 250 ms old (DECISIONS D3, D10).
//!
//! Racing pairs (50 rounds each, 200 in all): two C agents (`tests/multiprocess/agent.c`, one
//! of them the holder of the transfer lock) get the same start instant (`at NS COMMAND`: both
//! sleep until that instant of the real-time clock) and call, on the same group:
//! suspend / resume, cancel / add files, cancel / resume, and both create the same GUID. The
//! roles swap from round to round, so the holder is on either side. Checked: each call's HRESULT is one
//! the D3 table allows (the loser of a creation gets `QMGR_E_INVALIDARG`, a call on a cancelled
//! group `QM_E_INVALID_STATE`); after 250 ms every process and a fresh `qmgr list` agree; the
//! end state is one that some order of the two calls gives; no group is stuck (every group
//! left suspended completes once resumed); the queue reopens through the Rust API and passes
//! `PRAGMA integrity_check` and `PRAGMA foreign_key_check`.
//!
//! Sequential pairs: process A's call has returned before process B makes its own, on a view
//! that has not caught up yet. The queue database is the single source of truth (D10): B's
//! call must act on the group as it is, not as B last saw it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use qmgr_tests::multiprocess::*;
use qmgr_tests::range_server::{RangeServer, Resource};
use qmgr_tests::wait_until;

const SLOW: Duration = Duration::from_secs(30);
/// D10: 250 ms, plus room for a loaded machine.
const CONVERGE: Duration = Duration::from_millis(1500);
const ROUNDS: usize = 50;
/// Size of each group's file, served at `/f` in about 4 s (long enough for a race and the
/// processes to agree on it before the transfer ends) and at `/slow` in about 16 s (the
/// sequential checks never see it end).
const FILE_SIZE: usize = 256 << 10;
const FILE_RATE: u64 = 64 << 10;
const SLOW_RATE: u64 = 16 << 10;

/// A queue, its download directory, a server, and two agents: A (the holder) and B.
struct Pair {
    queue: tempfile::TempDir,
    out: tempfile::TempDir,
    server: Arc<RangeServer>,
    a: Agent,
    b: Agent,
}

impl Pair {
    fn new() -> Pair {
        let queue = tempfile::tempdir().expect("queue directory");
        let out = tempfile::tempdir().expect("download directory");
        let server = Arc::new(RangeServer::start());
        let file = Resource::new(qmgr_tests::hostile::pattern(FILE_SIZE, 3));
        server.add("/f", file.clone().rate(FILE_RATE));
        server.add("/slow", file.rate(SLOW_RATE));
        let mut a = Agent::open(Kind::C, "A (C, holder)", queue.path());
        set_test_options(&mut a);
        let b = Agent::open(Kind::C, "B (C)", queue.path());
        assert_eq!(holder_pid(queue.path()), Some(a.pid()));
        Pair { queue, out, server, a, b }
    }

    fn q(&self) -> &Path {
        self.queue.path()
    }

    /// `n` SUSPENDED groups of one job and one file (from `path` of the server), made by A and
    /// opened by B once B sees them. Returns (group, job) GUIDs.
    fn groups(&mut self, n: usize, path: &str) -> Vec<(String, String)> {
        let made = self.a.ok(&format!("mkgroups {n} {} {}", self.server.url(path), self.out.path().display()));
        let words: Vec<&str> = made.split(' ').collect();
        let pairs: Vec<(String, String)> = words.chunks(2).map(|c| (c[0].to_string(), c[1].to_string())).collect();
        let ids: Vec<&str> = pairs.iter().map(|(g, _)| g.as_str()).collect();
        self.b.ok(&format!("watch_exist {}", ids.join(" ")));
        let watched = self.b.event(SLOW, |l| l.text.starts_with("event watched")).expect("B watched");
        assert_eq!(watched.text, format!("event watched {n}"), "B never saw A's groups");
        self.b.drain_events();
        for (g, j) in &pairs {
            self.b.ok(&format!("get {g}"));
            self.b.ok(&format!("getjob {g} {j}"));
        }
        pairs
    }

    /// Runs `cmd_a` in A and `cmd_b` in B at the same instant; returns their results.
    fn race(&mut self, cmd_a: &str, cmd_b: &str) -> (Result<String, Refused>, Result<String, Refused>) {
        let at = realtime_ns() + 3_000_000;
        self.a.send(&format!("at {at} {cmd_a}"));
        self.b.send(&format!("at {at} {cmd_b}"));
        let (la, lb) = (self.a.reply(), self.b.reply());
        (self.a.parse(&la), self.b.parse(&lb))
    }

    /// Waits until A, B and a fresh `qmgr list` show the same state for every group of
    /// `ids`; returns the states (absent = "cancelled"). Panics with the views otherwise.
    fn converged(&mut self, ids: &[String]) -> HashMap<String, String> {
        let mut views = Vec::new();
        let agreed = wait_until(CONVERGE, || {
            let fresh: HashMap<String, String> =
                cli_list(self.queue.path()).into_iter().map(|(id, st, _)| (id, st)).collect();
            let truth: HashMap<String, String> =
                ids.iter().map(|g| (g.clone(), fresh.get(g).cloned().unwrap_or_else(|| "cancelled".into()))).collect();
            let a = agent_view(&mut self.a, ids);
            let b = agent_view(&mut self.b, ids);
            let same = a == truth && b == truth;
            views = vec![truth, a, b];
            same
        });
        if !agreed {
            let differ: Vec<String> = ids
                .iter()
                .filter(|g| views[1][*g] != views[0][*g] || views[2][*g] != views[0][*g])
                .map(|g| format!("{g}: queue {} A {} B {}", views[0][g], views[1][g], views[2][g]))
                .collect();
            panic!("D10: the processes still disagree {CONVERGE:?} after the last change:\n{}", differ.join("\n"));
        }
        views.swap_remove(0)
    }

    /// Quits both agents, reopens the queue through the Rust API and checks the database;
    /// returns the groups the reopened queue holds, with their states.
    fn close_and_check(self) -> Reopened {
        let Pair { queue, out: _out, server: _server, a, b } = self;
        a.quit(SLOW);
        b.quit(SLOW);
        check_database(queue.path())
    }
}

/// The state of each group of `ids` as `agent` sees it now: "cancelled" when its
/// enumeration does not list the group; else the state of a fresh handle (GetGroup again: a
/// handle of a cancelled incarnation stays cancelled, D12).
fn agent_view(agent: &mut Agent, ids: &[String]) -> HashMap<String, String> {
    let listed = agent.ok("enum");
    let live: std::collections::HashSet<&str> = listed.split(' ').skip(1).collect();
    ids.iter()
        .map(|g| {
            if !live.contains(g.as_str()) {
                return (g.clone(), "cancelled".to_string());
            }
            let state = match agent.call(&format!("get {g}")).and_then(|_| agent.call(&format!("status {g}"))) {
                Ok(answer) => match status_word(&answer) & !0x400 {
                    word::SUSPENDED => "suspended",
                    word::RUNNING => "running",
                    word::ERROR => "error",
                    word::COMPLETE => "complete",
                    other => panic!("{}: status word {other:#x}", agent.name),
                },
                // Listed a moment ago, cancelled since.
                Err(r) if r.hr == QM_E_INVALID_STATE || r.hr == 0x8100_1004 => "cancelled",
                Err(r) => panic!("{}: GetGroup/GetStatus failed: {r:?}", agent.name),
            };
            (g.clone(), state.to_string())
        })
        .collect()
}

/// The queue as the Rust API reopens it, and what SQLite says of its database.
struct Reopened {
    /// Group GUID → state name.
    groups: HashMap<String, String>,
    /// Rows in the jobs and files tables.
    job_and_file_rows: i64,
}

/// Reopens the queue in this process through the Rust API (every agent has quit), then checks
/// the database with SQLite.
fn check_database(q: &Path) -> Reopened {
    let manager = qmgr_rs::open(Some(q)).expect("the queue reopens");
    let groups: HashMap<String, String> = manager
        .enum_groups(0)
        .expect("EnumGroups")
        .map(|id| {
            let g = manager.get_group(id).expect("GetGroup");
            (id.to_string(), g.state().expect("state").name().to_string())
        })
        .collect();
    drop(manager);
    let conn = rusqlite::Connection::open(q.join("queue.sqlite")).expect("open the queue database");
    let integrity: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("integrity_check");
    assert_eq!(integrity, "ok", "PRAGMA integrity_check");
    let mut fk = conn.prepare("PRAGMA foreign_key_check").expect("foreign_key_check");
    let orphans = fk.query_map([], |r| r.get::<_, String>(0)).expect("foreign_key_check").count();
    assert_eq!(orphans, 0, "PRAGMA foreign_key_check: rows without their parent");
    let job_and_file_rows = conn
        .query_row("SELECT (SELECT count(*) FROM jobs) + (SELECT count(*) FROM files)", [], |r| r.get(0))
        .expect("count rows");
    Reopened { groups, job_and_file_rows }
}

/// Formats the first violations for an assertion message.
fn report(what: &str, violations: &[String]) -> String {
    let shown: Vec<&String> = violations.iter().take(12).collect();
    format!(
        "{what}: {} violation(s) in {ROUNDS} rounds:\n{}",
        violations.len(),
        shown.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n")
    )
}

fn ok_or_invalid_state(r: &Result<String, Refused>) -> bool {
    r.is_ok() || matches!(r, Err(e) if e.hr == QM_E_INVALID_STATE)
}

#[test]
fn racing_suspend_and_resume() {
    let _serial = serial();
    let mut p = Pair::new();
    let groups = p.groups(ROUNDS, "/f");
    let ids: Vec<String> = groups.iter().map(|(g, _)| g.clone()).collect();
    // Half the groups start running (a 4 s transfer), half suspended.
    for g in ids.iter().step_by(2) {
        p.a.ok(&format!("resume {g}"));
    }
    p.converged(&ids);
    let mut violations = Vec::new();
    for (i, g) in ids.iter().enumerate() {
        let (suspend, resume) = (format!("suspend {g}"), format!("resume {g}"));
        let (ra, rb) = if i % 4 < 2 { p.race(&suspend, &resume) } else { p.race(&resume, &suspend) };
        if ra.is_err() || rb.is_err() {
            violations.push(format!("round {i}: A {ra:?} B {rb:?} (both must succeed on a live group)"));
        }
    }
    // The groups left running finish their transfer by themselves (none is stuck); then the
    // queue no longer changes and every process must agree on it.
    let mut listed = HashMap::new();
    let settled = wait_until(SLOW, || {
        listed = cli_list(p.q()).into_iter().map(|(id, st, _)| (id, st)).collect();
        listed.values().all(|s| s != "running")
    });
    if !settled {
        let stuck: Vec<_> = listed.iter().filter(|(_, s)| *s == "running").collect();
        violations.push(format!("stuck: {} group(s) still running after {SLOW:?}: {stuck:?}", stuck.len()));
    }
    let states = p.converged(&ids);
    for (i, g) in ids.iter().enumerate() {
        if !["suspended", "complete"].contains(&states[g].as_str()) {
            violations.push(format!("round {i}: {g} ended {} (suspended, or running until complete)", states[g]));
        }
    }
    // Those left suspended complete once resumed.
    for g in ids.iter().filter(|g| states[*g] == "suspended") {
        p.b.ok(&format!("resume {g}"));
    }
    let mut finals = HashMap::new();
    let done = wait_until(SLOW, || {
        finals = cli_list(p.q()).into_iter().map(|(id, st, _)| (id, st)).collect();
        finals.values().all(|s| s == "complete")
    });
    if !done {
        let stuck: Vec<_> = finals.iter().filter(|(_, s)| *s != "complete").collect();
        violations.push(format!("stuck: {} group(s) did not complete within {SLOW:?}: {stuck:?}", stuck.len()));
    }
    let reopened = p.close_and_check();
    assert_eq!(reopened.groups.len(), ROUNDS, "every group is still in the reopened queue");
    let counts = states.values().fold(HashMap::new(), |mut m, s| {
        *m.entry(s.as_str()).or_insert(0) += 1;
        m
    });
    eprintln!("suspend vs resume: end states after the race {counts:?} (complete: it was left running)");
    assert!(violations.is_empty(), "{}", report("suspend vs resume", &violations));
}

#[test]
fn racing_cancel_and_add_files() {
    let _serial = serial();
    let mut p = Pair::new();
    let groups = p.groups(ROUNDS, "/f");
    let ids: Vec<String> = groups.iter().map(|(g, _)| g.clone()).collect();
    let mut violations = Vec::new();
    let mut added = 0;
    for (i, (g, j)) in groups.iter().enumerate() {
        let extra = p.out.path().join(format!("extra{i}"));
        let (cancel, add) = (format!("cancel {g}"), format!("add {j} {} {}", p.server.url("/f"), extra.display()));
        let (rc, ra) = if i % 2 == 0 {
            let (a, b) = p.race(&cancel, &add);
            (a, b)
        } else {
            let (a, b) = p.race(&add, &cancel);
            (b, a)
        };
        if rc.is_err() {
            violations.push(format!("round {i}: CancelGroup {rc:?} (must succeed)"));
        }
        if !ok_or_invalid_state(&ra) {
            violations.push(format!("round {i}: AddFiles {ra:?} (S_OK or QM_E_INVALID_STATE)"));
        }
        added += usize::from(ra.is_ok());
    }
    let states = p.converged(&ids);
    for (i, g) in ids.iter().enumerate() {
        if states[g] != "cancelled" {
            violations.push(format!("round {i}: {g} is {} after CancelGroup succeeded", states[g]));
        }
    }
    let reopened = p.close_and_check();
    if !reopened.groups.is_empty() {
        violations.push(format!("the reopened queue holds {} group(s): {:?}", reopened.groups.len(), reopened.groups));
    }
    if reopened.job_and_file_rows != 0 {
        violations.push(format!("{} job and file rows of cancelled groups are left", reopened.job_and_file_rows));
    }
    eprintln!("cancel vs add files: AddFiles succeeded in {added} of {ROUNDS} rounds");
    assert!(violations.is_empty(), "{}", report("cancel vs add files", &violations));
}

#[test]
fn racing_cancel_and_resume() {
    let _serial = serial();
    let mut p = Pair::new();
    let groups = p.groups(ROUNDS, "/f");
    let ids: Vec<String> = groups.iter().map(|(g, _)| g.clone()).collect();
    let mut violations = Vec::new();
    for (i, g) in ids.iter().enumerate() {
        let (cancel, resume) = (format!("cancel {g}"), format!("resume {g}"));
        let (rc, rr) = if i % 2 == 0 {
            p.race(&cancel, &resume)
        } else {
            let (a, b) = p.race(&resume, &cancel);
            (b, a)
        };
        if rc.is_err() {
            violations.push(format!("round {i}: CancelGroup {rc:?} (must succeed)"));
        }
        if !ok_or_invalid_state(&rr) {
            violations.push(format!("round {i}: ResumeGroup {rr:?} (S_OK or QM_E_INVALID_STATE)"));
        }
    }
    let states = p.converged(&ids);
    for (i, g) in ids.iter().enumerate() {
        if states[g] != "cancelled" {
            violations
                .push(format!("round {i}: {g} is back, {} (D3: CancelGroup succeeded, CANCELLED is final)", states[g]));
        }
    }
    let reopened = p.close_and_check();
    if !reopened.groups.is_empty() {
        violations.push(format!("the reopened queue holds {} cancelled group(s)", reopened.groups.len()));
    }
    assert!(violations.is_empty(), "{}", report("cancel vs resume", &violations));
}

#[test]
fn racing_creation_of_the_same_guid() {
    let _serial = serial();
    let mut p = Pair::new();
    let mut violations = Vec::new();
    let mut ids = Vec::new();
    for i in 0..ROUNDS {
        let id = qmgr_rs::Guid::generate().to_string();
        let create = format!("create {id}");
        let (ra, rb) = p.race(&create, &create);
        let won = [&ra, &rb].iter().filter(|r| r.is_ok()).count();
        let lost_right = [&ra, &rb].iter().filter(|r| matches!(r, Err(e) if e.hr == E_INVALIDARG)).count();
        if (won, lost_right) != (1, 1) {
            violations.push(format!(
                "round {i}: A {ra:?} B {rb:?} (D3: exactly one CreateGroup succeeds, the other gets QMGR_E_INVALIDARG)"
            ));
        }
        ids.push(id);
    }
    let states = p.converged(&ids);
    for (i, g) in ids.iter().enumerate() {
        if states[g] != "suspended" {
            violations.push(format!("round {i}: {g} is {}", states[g]));
        }
    }
    let reopened = p.close_and_check();
    if reopened.groups.len() != ROUNDS {
        violations.push(format!("the reopened queue holds {} groups, not {ROUNDS}", reopened.groups.len()));
    }
    assert!(violations.is_empty(), "{}", report("same GUID created by two processes", &violations));
}

/// What B does right after A's call (A's call has returned; B's view may be up to 250 ms old).
enum Then {
    Suspend,
    Resume,
    Rename,
}

/// For each group: A makes `first` (the group's state before is `before`), then B at once
/// does `then`; after the processes have caught up, each group must be in `expected`.
fn sequential(before: &str, first: &str, then: Then, expected: &str) -> Vec<String> {
    let mut p = Pair::new();
    let groups = p.groups(10, "/slow");
    let ids: Vec<String> = groups.iter().map(|(g, _)| g.clone()).collect();
    if before == "running" {
        for g in &ids {
            p.a.ok(&format!("resume {g}"));
        }
    }
    p.converged(&ids);
    let mut violations = Vec::new();
    for g in &ids {
        p.a.ok(&format!("{first} {g}"));
        let r = match then {
            Then::Suspend => p.b.call(&format!("suspend {g}")),
            Then::Resume => p.b.call(&format!("resume {g}")),
            Then::Rename => p.b.call(&format!("name {g} renamed")),
        };
        let allowed = if expected == "cancelled" { ok_or_invalid_state(&r) } else { r.is_ok() };
        if !allowed {
            violations.push(format!("{g}: B's call answered {r:?}"));
        }
    }
    let states = p.converged(&ids);
    for g in &ids {
        let state = states[g].as_str();
        if state != expected {
            violations.push(format!("{g}: {state}, expected {expected}"));
        }
    }
    drop(p.close_and_check());
    violations
}

#[test]
fn a_suspend_right_after_a_resume_elsewhere_is_not_lost() {
    let _serial = serial();
    let v = sequential("suspended", "resume", Then::Suspend, "suspended");
    assert!(
        v.is_empty(),
        "A resumed, then B suspended (on a view that had not caught up): D3/D10 say SUSPENDED\n{}",
        v.join("\n")
    );
}

#[test]
fn a_resume_right_after_a_suspend_elsewhere_is_not_lost() {
    let _serial = serial();
    let v = sequential("running", "suspend", Then::Resume, "running");
    assert!(v.is_empty(), "A suspended, then B resumed: D3/D10 say RUNNING\n{}", v.join("\n"));
}

#[test]
fn a_property_change_never_undoes_a_state_change_made_elsewhere() {
    let _serial = serial();
    let mut v = sequential("running", "suspend", Then::Rename, "suspended");
    v.extend(sequential("suspended", "cancel", Then::Rename, "cancelled"));
    assert!(
        v.is_empty(),
        "A suspended or cancelled, then B set DISPLAYNAME: SetProp changes a property, never the state (D3)\n{}",
        v.join("\n")
    );
}
