//! Several files of a job at once against a real HTTP server (DECISIONS D16), through the Rust
//! API: later files fetched while a slow first one is held by the server, committed and
//! notified in job order; an error in file 3 of 10 with files 4–10 fetched stops the job there
//! and the resume asks for none of them again; option `1` keeps one connection busy at
//! a time; suspend and cancel with several transfers in flight.

#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use qmgr_rs::hresult::{HResult, S_OK};
use qmgr_rs::model::{notify, GroupState, PropId, PropValue};
use qmgr_rs::{Callback, Group, Job};
use qmgr_tests::hostile::{
    assert_downloaded, bg_e_http, pattern, temp_path, wait_settled, HostileQueue, HostileServer, Resource, Step,
};
use qmgr_tests::wait_until;

const DEADLINE: Duration = Duration::from_secs(30);

/// Records `OnStatus` calls as (file index, status word, transport result).
#[derive(Default)]
struct Statuses(Mutex<Vec<(u32, u32, u32)>>);

impl Callback for Statuses {
    fn on_status(
        &self,
        _group: &Group,
        _job: Option<&Job>,
        file_index: u32,
        status: u32,
        _num_of_retries: u32,
        _win32_result: u32,
        transport_result: u32,
    ) -> HResult {
        self.0.lock().unwrap().push((file_index, status, transport_result));
        S_OK
    }
}

impl Statuses {
    /// The file indexes of the `FILE_DONE` calls (status `0x081`), in order.
    fn files_done(&self) -> Vec<u32> {
        self.0.lock().unwrap().iter().filter(|c| c.1 == 0x081).map(|c| c.0).collect()
    }
}

/// A route for `path` whose first request is answered only once `release` is raised (the
/// server holds it open meanwhile), with `first`; later requests get `then`.
fn held(server: &HostileServer, path: &str, release: &Arc<AtomicBool>, first: Step, then: Step) {
    let release = release.clone();
    server.route(path, move |_, n| {
        if n == 0 {
            // Bounded: a client that never releases it fails its own assertions first.
            wait_until(DEADLINE, || release.load(Ordering::SeqCst));
            return first.clone();
        }
        then.clone()
    });
}

/// `(url, name)` pairs of `names` on `server`.
fn files(server: &HostileServer, names: &[String]) -> Vec<(String, String)> {
    names.iter().map(|n| (server.url(&format!("/{n}")), n.clone())).collect()
}

fn refs(files: &[(String, String)]) -> Vec<(&str, &str)> {
    files.iter().map(|(u, n)| (u.as_str(), n.as_str())).collect()
}

/// `count` files `{prefix}0`, `{prefix}1`… of `len` bytes on `server`, each served by the steps
/// `steps` makes of its resource (with a strong ETag); returns their names and bodies.
fn serve_files(
    server: &HostileServer,
    prefix: &str,
    count: u64,
    len: usize,
    steps: impl Fn(&Resource) -> Vec<Step>,
) -> (Vec<String>, Vec<Vec<u8>>) {
    let names: Vec<String> = (0..count).map(|i| format!("{prefix}{i}")).collect();
    let bodies: Vec<Vec<u8>> = (0..count).map(|i| pattern(len, i * 7 + len as u64)).collect();
    for (n, body) in names.iter().zip(&bodies) {
        server.script(&format!("/{n}"), steps(&Resource::new(body.clone()).etag(&format!("\"{n}\""))));
    }
    (names, bodies)
}

#[test]
fn later_files_are_fetched_while_the_first_is_held_and_committed_after_it_in_order() {
    let server = HostileServer::start();
    let names: Vec<String> = ["slow", "b", "c", "d", "e"].iter().map(|s| s.to_string()).collect();
    let bodies: Vec<Vec<u8>> = (0..5).map(|i| pattern(if i == 0 { 200_000 } else { 10_000 }, i as u64)).collect();
    let release = Arc::new(AtomicBool::new(false));
    for (i, n) in names.iter().enumerate() {
        let res = Resource::new(bodies[i].clone()).etag(&format!("\"{n}\""));
        match i {
            0 => held(&server, "/slow", &release, Step::serve(&res), Step::serve(&res)),
            _ => server.script(&format!("/{n}"), vec![Step::serve(&res)]),
        }
    }
    let q = HostileQueue::open(&[]);
    let list = files(&server, &names);
    let (group, job) = q.group(&refs(&list));
    let statuses = Arc::new(Statuses::default());
    group.set_prop(PropId::NotifyFlags, PropValue::Int(notify::FILE_DONE)).unwrap();
    group.set_callback(Some(statuses.clone())).unwrap();
    group.resume().unwrap();
    // Only a client that fetches while the first request is open gets here.
    let fetched = wait_until(DEADLINE, || (1..5).all(|i| job.file_progress(i).unwrap() == (10_000, 10_000, false)));
    assert!(fetched, "later files not fetched while the first is held\n{}", server.describe());
    let slow = server.requests_to("/slow");
    assert_eq!((slow.len(), slow[0].status), (1, 0), "the first request is still unanswered");
    let connections: std::collections::HashSet<u64> = server.requests().iter().map(|r| r.connection).collect();
    assert!(connections.len() >= 2, "overlapping transfers need several connections\n{}", server.describe());
    // Fetched whole, but no final name before the first file has one (DECISIONS D16).
    let listing = q.listing();
    assert!(names[1..].iter().all(|n| !listing.contains(n)), "final name before the first file: {listing:?}");
    for (i, n) in names.iter().enumerate().skip(1) {
        assert!(temp_path(&q.path(n), &job, i as u32).exists(), "{n}: temporary file kept");
    }
    assert!(statuses.files_done().is_empty());

    release.store(true, Ordering::SeqCst);
    for (i, n) in names.iter().enumerate() {
        assert_downloaded(&q, &group, &job, n, &bodies[i], &server);
        assert_eq!(server.hits(&format!("/{n}")), 1, "{n} fetched once");
    }
    assert!(wait_until(DEADLINE, || statuses.files_done().len() == 5), "{:?}", statuses.0.lock().unwrap());
    assert_eq!(statuses.files_done(), vec![0, 1, 2, 3, 4], "FILE_DONE in job order");
}

#[test]
fn an_error_in_file_3_of_10_stops_the_job_there_and_the_resume_asks_for_no_later_file_again() {
    let server = HostileServer::start();
    let names: Vec<String> = (0..10).map(|i| format!("f{i}")).collect();
    let bodies: Vec<Vec<u8>> = (0..10).map(|i| pattern(20_000, 100 + i)).collect();
    let release = Arc::new(AtomicBool::new(false));
    for (i, n) in names.iter().enumerate() {
        let res = Resource::new(bodies[i].clone()).etag(&format!("\"{n}\""));
        match i {
            2 => held(&server, "/f2", &release, Step::status(404), Step::serve(&res)),
            _ => server.script(&format!("/{n}"), vec![Step::serve(&res)]),
        }
    }
    let q = HostileQueue::open(&[]);
    let list = files(&server, &names);
    let (group, job) = q.group(&refs(&list));
    let statuses = Arc::new(Statuses::default());
    group.set_callback(Some(statuses.clone())).unwrap();
    group.resume().unwrap();
    let fetched = wait_until(DEADLINE, || (3..10).all(|i| job.file_progress(i).unwrap() == (20_000, 20_000, false)));
    assert!(fetched, "files 4–10 not fetched while file 3 is held\n{}", server.describe());
    release.store(true, Ordering::SeqCst);
    let (state, word) = wait_settled(&group, DEADLINE, || server.describe());
    assert_eq!((state, word), (GroupState::Error, 0x380));
    let e = job.error().unwrap().expect("the job's error");
    assert_eq!((e.file_index, e.transport, e.win32), (Some(2), 404, bg_e_http(404)), "the error is file 3's");
    assert!(wait_until(DEADLINE, || !statuses.0.lock().unwrap().is_empty()));
    assert_eq!(statuses.0.lock().unwrap()[0], (2, 0x380, 404));
    let listing = q.listing();
    assert!(listing.contains(&names[0]) && listing.contains(&names[1]), "{listing:?}");
    for n in &names[2..] {
        assert!(!listing.contains(n), "{n}: no final name after the failing file: {listing:?}");
    }
    for (i, n) in names.iter().enumerate().skip(3) {
        let temp = temp_path(&q.path(n), &job, i as u32);
        assert_eq!(std::fs::metadata(&temp).map(|m| m.len()).ok(), Some(20_000), "{n}: every byte kept");
    }

    // The cause is gone (the server now serves file 3): the resume completes.
    group.resume().unwrap();
    for (i, n) in names.iter().enumerate() {
        assert_downloaded(&q, &group, &job, n, &bodies[i], &server);
    }
    for n in &names[..2] {
        assert_eq!(server.hits(&format!("/{n}")), 1, "{n}: committed before the error");
    }
    assert_eq!(server.hits("/f2"), 2);
    for n in &names[3..] {
        assert_eq!(server.hits(&format!("/{n}")), 1, "{n}: held whole, committed without a request");
    }
}

#[test]
fn option_1_uses_one_connection_one_file_after_another() {
    let server = HostileServer::start();
    let (names, bodies) = serve_files(&server, "s", 4, 30_000, |res| vec![Step::serve(res)]);
    let q = HostileQueue::open(&[("max_connections_per_group", "1")]);
    let list = files(&server, &names);
    let (group, job) = q.start(&refs(&list));
    for (i, n) in names.iter().enumerate() {
        assert_downloaded(&q, &group, &job, n, &bodies[i], &server);
    }
    let reqs = server.requests();
    let order: Vec<&str> = reqs.iter().map(|r| r.path()).collect();
    assert_eq!(order, ["/s0", "/s1", "/s2", "/s3"], "each once, in job order");
    // One kept-alive connection carries them all: never two transfers at once.
    assert!(reqs.iter().all(|r| r.connection == reqs[0].connection), "{}", server.describe());
}

#[test]
fn suspend_and_cancel_stop_every_transfer_in_flight() {
    let server = HostileServer::start();
    // 1 KB every 10 ms: 4 s each unless stopped; then whole.
    let trickle = |res: &Resource| vec![Step::serve(res).trickle(1_000, Duration::from_millis(10)), Step::serve(res)];
    let (names, bodies) = serve_files(&server, "t", 4, 400_000, trickle);
    let q = HostileQueue::open(&[]);
    let list = files(&server, &names);
    let (group, job) = q.start(&refs(&list));
    let all_going = wait_until(DEADLINE, || (0..4).all(|i| job.file_progress(i).unwrap().0 >= 10_000));
    assert!(all_going, "four transfers at once\n{}", server.describe());
    group.suspend().unwrap();
    // Every transfer stops and checkpoints what it wrote: the bytes recorded stop moving and
    // equal what each temporary file holds.
    let temps: Vec<_> = (0..4).map(|i| temp_path(&q.path(&names[i]), &job, i as u32)).collect();
    let held = || -> Vec<u64> { (0..4).map(|i| job.file_progress(i).unwrap().0).collect() };
    let len = |i: usize| std::fs::metadata(&temps[i]).map(|m| m.len()).unwrap_or(0);
    assert!(
        wait_until(DEADLINE, || (0..4).all(|i| held()[i] == len(i))),
        "the temporary files do not match the bytes recorded"
    );
    let kept = held();
    assert!(kept.iter().all(|b| (10_000..400_000).contains(b)), "{kept:?}");
    group.resume().unwrap();
    for (i, n) in names.iter().enumerate() {
        assert_downloaded(&q, &group, &job, n, &bodies[i], &server);
        let reqs = server.requests_to(&format!("/{n}"));
        assert_eq!(reqs.len(), 2, "{n}\n{}", server.describe());
        let from = reqs[1].range_start().unwrap_or(0);
        assert!(
            from >= kept[i] && from < 400_000,
            "{n} resumes from the bytes held ({from}, {} when suspended)",
            kept[i]
        );
    }

    let (names, _) = serve_files(&server, "c", 4, 300_000, |res| vec![Step::serve(res).stall_after(50_000)]);
    let list = files(&server, &names);
    let (group, job) = q.start(&refs(&list));
    assert!(
        wait_until(DEADLINE, || (0..4).all(|i| job.file_progress(i).unwrap().0 == 50_000)),
        "{}",
        server.describe()
    );
    let temps: Vec<_> = (0..4).map(|i| temp_path(&q.path(&names[i]), &job, i as u32)).collect();
    assert!(temps.iter().all(|t| t.exists()));
    group.cancel().unwrap();
    assert!(wait_until(DEADLINE, || temps.iter().all(|t| !t.exists())), "temporary files left after the cancel");
    assert!(names.iter().all(|n| !q.path(n).exists()));
}
