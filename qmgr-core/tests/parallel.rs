//! DECISIONS D16: several files of a group's current job fetched at once
//! (`max_connections_per_group`, default 6), with BITS's order kept where a program looks:
//! final names and `FILE_DONE` in job order, progress naming the current file, an error at
//! the first failing file in job order with later files' bytes kept; `1` = one at a time.

mod common;

use common::*;
use qmgr_core::model::{notify, GroupState, PropId, PropValue};

const NONE: u32 = u32::MAX;

/// The file indexes of the `FILE_DONE` notifications (status `0x081`) in `log`, in order.
fn files_done(log: &Log) -> Vec<u32> {
    log.statuses()
        .into_iter()
        .filter_map(|c| match c {
            Call::Status { file_index, status: 0x081, .. } => Some(file_index),
            _ => None,
        })
        .collect()
}

fn urls(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| url(n)).collect()
}

#[test]
fn d16_default_is_6_connections() {
    let (mgr, _fake) = open();
    assert_eq!(mgr.get_option("max_connections_per_group").unwrap(), "6");
    for bad in ["0", "-1", "", "six", "4294967296"] {
        let e = err(bad, mgr.set_option("max_connections_per_group", bad));
        assert_eq!(e.hr, qmgr_core::hresult::E_INVALIDARG, "{bad}");
        assert!(e.message.contains("max_connections_per_group"), "{bad}: {}", e.message);
    }
    assert_eq!(mgr.get_option("max_connections_per_group").unwrap(), "6", "unchanged by refused values");
}

/// A slow first file and fast later ones: the later ones are fetched while the first one is
/// (the fake sees their transfers overlap), but none is committed or notified before it; then
/// every file gets its final name and `FILE_DONE` in job order, each fetched once, and the
/// progress notifications name file 0 while it is the current one.
#[test]
fn d16_slow_first_file_later_files_fetched_meanwhile_committed_and_notified_in_order() {
    let (mgr, fake) = open();
    let names = ["slow", "b", "c", "d", "e"];
    let mut files = vec![("slow", Script::new(1000).chunk(100).gated())];
    files.extend(names[1..].iter().map(|n| (*n, Script::new(10).gated())));
    let (g, j) = group_with(&mgr, &fake, files);
    g.set_prop(PropId::NotifyFlags, PropValue::Int(notify::FILE_DONE | notify::JOB_DONE)).unwrap();
    g.set_prop(PropId::ProgressSize, PropValue::Int(5)).unwrap();
    let log = Log::new();
    g.set_callback(Some(log.recorder())).unwrap();
    g.resume().unwrap();
    // Five transfers at once (the fake holds each at its gate).
    wait_until("five transfers run at once", || fake.running() == 5);
    fake.allow(&url("slow"), 100);
    fake.wait_reported(&url("slow"), 100);
    for n in &names[1..] {
        fake.open_gate(&url(n));
        wait_until(&format!("{n} is fetched"), || fake.endings(&url(n)) == vec![Ended::Complete]);
    }
    // Every later file was fetched whole while the first one is still transferring.
    assert_eq!(fake.active(&url("slow")), 1);
    assert!(fake.still_running(&url("slow")), "the first file is not stopped");
    fence(&mgr, &fake);
    assert!(fake.commit_order().is_empty(), "committed before the first file: {:?}", fake.commit_order());
    assert!(files_done(&log).is_empty(), "FILE_DONE before the first file: {:?}", log.statuses());
    for i in 1..5 {
        assert_eq!(j.file_progress(i).unwrap(), (10, 10, false), "file {i} held whole, not complete");
    }
    fake.open_gate(&url("slow"));
    assert_eq!(settle(&g), 0x140);
    assert_eq!(fake.commit_order(), urls(&names), "final names in job order");
    let done = log.wait_for("the job's completion", 1, |c| matches!(c, Call::Status { file_index: NONE, .. }));
    assert_eq!(done.len(), 1);
    assert_eq!(files_done(&log), vec![0, 1, 2, 3, 4], "FILE_DONE in job order");
    for n in names {
        assert_eq!(fake.requests_for(&url(n)).len(), 1, "{n} fetched once");
    }
    // Progress notifications name the current file (the first one not done): never one
    // behind an earlier notification.
    let indexes: Vec<u32> = log
        .progress()
        .into_iter()
        .filter_map(|c| match c {
            Call::Progress { file_index, .. } => Some(file_index),
            _ => None,
        })
        .collect();
    assert!(!indexes.is_empty(), "progress was notified");
    assert_eq!(indexes[0], 0, "the first file is the current one");
    assert!(indexes.windows(2).all(|w| w[0] <= w[1]), "current file went backwards: {indexes:?}");
}

/// An error in file 3 of 10 while files 4–10 are already fetched: the job stops in ERROR at
/// file 3 (index 2), files 1–2 committed, 4–10 not committed but held whole; once the cause is
/// gone a resume completes without asking for files 4–10 again, and file 3 continues from
/// where it stopped.
#[test]
fn d16_error_in_file_3_of_10_stops_the_job_there_and_the_resume_asks_for_no_later_file_again() {
    let (mgr, fake) = open();
    let names: Vec<String> = (0..10).map(|i| format!("f{i}")).collect();
    let files: Vec<(&str, Script)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), if i == 2 { Script::new(100).gated().fail(40, http(404)) } else { Script::new(10) }))
        .collect();
    let (g, j) = group_with(&mgr, &fake, files);
    let log = Log::new();
    g.set_callback(Some(log.recorder())).unwrap();
    g.resume().unwrap();
    for n in &names[3..] {
        wait_until(&format!("{n} is fetched"), || fake.endings(&url(n)) == vec![Ended::Complete]);
    }
    assert_eq!(j.file_progress(9).unwrap(), (10, 10, false));
    fake.allow(&url("f2"), 40);
    assert_eq!(settle(&g), 0x380, "fatal error");
    let e = j.error().unwrap().expect("the job's error");
    assert_eq!((e.file_index, e.transport), (Some(2), 404), "the error is file 3's");
    let calls = log.wait_for("the error notification", 1, Call::is_status);
    assert!(matches!(calls[0], Call::Status { file_index: 2, status: 0x380, transport: 404, .. }), "{calls:?}");
    assert_eq!(fake.commit_order(), urls(&["f0", "f1"]), "only the files before the failing one");
    assert_eq!(j.file_progress(2).unwrap(), (40, 100, false));
    for i in 3..10 {
        assert_eq!(j.file_progress(i).unwrap(), (10, 10, false), "file {i}: bytes kept");
    }

    fake.serve(&url("f2"), Script::new(100));
    g.resume().unwrap();
    assert_eq!(settle(&g), 0x140);
    assert_eq!(fake.commit_order(), urls(&names.iter().map(String::as_str).collect::<Vec<_>>()));
    for n in &names[..2] {
        assert_eq!(fake.requests_for(&url(n)).len(), 1, "{n}: committed before the error, not asked again");
    }
    let f2 = fake.requests_for(&url("f2"));
    assert_eq!((f2.len(), f2[1].offset), (2, 40), "file 3 continues from its 40 bytes");
    for n in &names[3..] {
        assert_eq!(fake.requests_for(&url(n)).len(), 1, "{n}: held whole, committed without a request");
    }
}

/// Files fetched whole and waiting for their turn are checkpointed with all their bytes when
/// the worker stops: another manager (a new process) asks only for their end, the file before
/// them from its checkpoint.
#[test]
fn d16_files_held_whole_at_a_stop_are_checkpointed_for_another_process() {
    let fake = Fake::new();
    let store = SharedStore::new();
    let mgr = open_on(Box::new(store.clone()), &fake);
    let (g, j) = group_with(
        &mgr,
        &fake,
        vec![("first", Script::new(100).chunk(10).gated()), ("b", Script::new(10)), ("c", Script::new(10))],
    );
    fake.allow(&url("first"), 30);
    g.resume().unwrap();
    fake.wait_reported(&url("first"), 30);
    for n in ["b", "c"] {
        wait_until(&format!("{n} is fetched"), || fake.endings(&url(n)) == vec![Ended::Complete]);
    }
    g.suspend().unwrap();
    fake.wait_idle(&url("first"));
    let gid = g.id();
    drop((g, j, mgr));
    let held: Vec<u64> = store.image().files.iter().map(|f| f.bytes_done).collect();
    assert_eq!(held, vec![30, 10, 10], "checkpoints when the worker stopped");
    let mgr = open_on(Box::new(store.clone()), &fake);
    let g = mgr.get_group(gid).unwrap();
    fake.open_gate(&url("first"));
    g.resume().unwrap();
    assert_eq!(settle(&g), 0x140);
    let offsets = |n: &str| fake.requests_for(&url(n)).iter().map(|r| r.offset).collect::<Vec<_>>();
    assert_eq!((offsets("first"), offsets("b"), offsets("c")), (vec![0, 30], vec![0, 10], vec![0, 10]));
    assert_eq!(fake.commit_order(), urls(&["first", "b", "c"]));
}

/// A file fails while an earlier one is still transferring: later transfers stop at once
/// (keeping their bytes), the earlier one goes on and is committed, and only then does the job
/// stop in ERROR at the failing file.
#[test]
fn d16_a_failure_waits_for_the_files_before_it_and_stops_those_after_it() {
    let (mgr, fake) = open();
    let (g, j) = group_with(
        &mgr,
        &fake,
        vec![
            ("first", Script::new(100).chunk(10).gated()),
            ("bad", Script::new(10).gated().fail(5, http(404))),
            ("after", Script::new(100).chunk(10).gated()),
        ],
    );
    let log = Log::new();
    g.set_callback(Some(log.recorder())).unwrap();
    fake.allow(&url("after"), 30);
    g.resume().unwrap();
    fake.wait_reported(&url("after"), 30);
    fake.allow(&url("bad"), 5);
    wait_until("the file after the failing one is stopped", || fake.endings(&url("after")) == vec![Ended::Cancelled]);
    assert_eq!(fake.endings(&url("bad")), vec![Ended::Failed]);
    assert!(fake.still_running(&url("first")), "the file before the failing one goes on");
    assert_eq!(g.state().unwrap(), GroupState::Running, "no error before the first file is done");
    assert_eq!(j.status().unwrap().num_of_retries, 0);
    assert_eq!(j.file_progress(2).unwrap().0, 30, "the stopped file keeps its bytes");
    fake.open_gate(&url("first"));
    assert_eq!(settle(&g), 0x380);
    assert_eq!(fake.commit_order(), urls(&["first"]));
    assert_eq!(j.error().unwrap().unwrap().file_index, Some(1));
    let calls = log.wait_for("the error notification", 1, Call::is_status);
    assert!(matches!(calls[0], Call::Status { file_index: 1, status: 0x380, .. }), "{calls:?}");
}

/// `max_connections_per_group` 1: one transfer at a time, in job order, as before D16; with
/// 3 the same files transfer three at once.
#[test]
fn d16_option_1_fetches_one_file_at_a_time_3_fetches_three() {
    let (mgr, fake) = open();
    sequential(&mgr);
    let names = ["a", "b", "c", "d"];
    let (g, _) = group_with(&mgr, &fake, names.iter().map(|n| (*n, Script::new(50).chunk(10).tick(ms(1)))).collect());
    g.resume().unwrap();
    assert_eq!(settle(&g), 0x140);
    assert_eq!(fake.max_running(), 1, "one transfer at a time");
    let order: Vec<String> = fake.requests().into_iter().map(|r| r.url).collect();
    assert_eq!(order, urls(&names), "each once, in job order");
    assert_eq!(fake.commit_order(), urls(&names));

    mgr.set_option("max_connections_per_group", "3").unwrap();
    let names = ["p", "q", "r", "s"];
    let (g, _) = group_with(&mgr, &fake, names.iter().map(|n| (*n, Script::new(50).gated())).collect());
    g.resume().unwrap();
    wait_until("three transfers run at once", || fake.running() == 3);
    assert!(fake.requests_for(&url("s")).is_empty(), "the fourth waits for a connection");
    let mut started = fake.first_request_order().split_off(4);
    started.sort();
    assert_eq!(started, urls(&["p", "q", "r"]), "the first three");
    for n in names {
        fake.open_gate(&url(n));
    }
    assert_eq!(settle(&g), 0x140);
    assert_eq!(fake.max_running(), 3);
    assert_eq!(&fake.commit_order()[4..], urls(&names).as_slice());
}

/// A new group of `names` (100 bytes each, gated), resumed once each may send `allowed` bytes,
/// returned once the engine took them all in: four transfers in flight.
fn four_in_flight(
    mgr: &qmgr_core::Manager,
    fake: &Fake,
    names: [&str; 4],
    allowed: u64,
) -> (qmgr_core::Group, qmgr_core::Job) {
    let (g, j) = group_with(mgr, fake, names.iter().map(|n| (*n, Script::new(100).chunk(10).gated())).collect());
    for n in names {
        fake.allow(&url(n), allowed);
    }
    g.resume().unwrap();
    for n in names {
        fake.wait_reported(&url(n), allowed);
    }
    assert_eq!(fake.running(), 4);
    (g, j)
}

/// Suspend with several transfers in flight stops them all, keeping their bytes; the resume
/// continues each from them. Cancel stops them all and deletes their temporary files.
#[test]
fn d16_suspend_and_cancel_stop_every_transfer_in_flight() {
    let (mgr, fake) = open();
    let names = ["a", "b", "c", "d"];
    let (g, j) = four_in_flight(&mgr, &fake, names, 30);
    g.suspend().unwrap();
    for n in names {
        fake.wait_idle(&url(n));
        assert_eq!(fake.endings(&url(n)), vec![Ended::Cancelled], "{n}");
    }
    for i in 0..4 {
        assert_eq!(j.file_progress(i).unwrap().0, 30, "file {i} keeps its bytes");
    }
    for n in names {
        fake.open_gate(&url(n));
    }
    g.resume().unwrap();
    assert_eq!(settle(&g), 0x140);
    for n in names {
        let r = fake.requests_for(&url(n));
        assert_eq!((r.len(), r[1].offset), (2, 30), "{n} continues from its bytes");
    }
    assert_eq!(fake.commit_order(), urls(&names));

    let names = ["w", "x", "y", "z"];
    let (g, _) = four_in_flight(&mgr, &fake, names, 20);
    let temps: Vec<_> =
        fake.requests().into_iter().filter(|r| names.iter().any(|n| r.url == url(n))).map(|r| r.temp).collect();
    g.cancel().unwrap();
    for n in names {
        fake.wait_idle(&url(n));
        assert_eq!(fake.endings(&url(n)), vec![Ended::Cancelled], "{n}");
    }
    wait_until("the temporary files are deleted", || temps.iter().all(|t| fake.discarded().contains(t)));
    assert!(temps.iter().all(|t| fake.temp(t).is_none()));
    assert_eq!(fake.commit_order().len(), 4, "nothing of the cancelled group committed");
}

/// Jobs stay in order: the files of a job start only once every file of the job before it is
/// fetched and handed to its commit.
#[test]
fn d16_files_of_the_next_job_wait_for_the_current_job() {
    let (mgr, fake) = open();
    let g = mgr.create_group(guid()).unwrap();
    add_job(&g, &fake, vec![("j1a", Script::new(10)), ("j1b", Script::new(100).gated())]);
    add_job(&g, &fake, vec![("j2a", Script::new(10)), ("j2b", Script::new(10))]);
    g.resume().unwrap();
    wait_until("j1a is fetched", || fake.endings(&url("j1a")) == vec![Ended::Complete]);
    assert!(fake.still_running(&url("j1b")));
    assert!(fake.requests_for(&url("j2a")).is_empty(), "the next job waits (free connections notwithstanding)");
    fake.open_gate(&url("j1b"));
    assert_eq!(settle(&g), 0x140);
    assert_eq!(fake.commit_order(), urls(&["j1a", "j1b", "j2a", "j2b"]));
    let first_of_j2 = fake.requests().iter().position(|r| r.url.contains("j2")).unwrap();
    assert_eq!(first_of_j2, 2, "{:?}", fake.first_request_order());
}

/// The files of a job share its connections (`rules::segments::connections`): a job's only
/// file may use all six, three files two each, eight files one each; option `1` gives one; a
/// background group in idle mode (DECISIONS D14) one per file.
#[test]
fn d16_the_files_of_a_job_share_its_connections() {
    for (count, max, foreground, want) in
        [(1, 6, true, 6), (3, 6, true, 2), (8, 6, true, 1), (1, 1, true, 1), (1, 6, false, 1)]
    {
        let (mgr, fake) = open();
        mgr.set_option("max_connections_per_group", &max.to_string()).unwrap();
        let names: Vec<String> = (0..count).map(|i| format!("f{i}")).collect();
        let (g, _j) = group_with(&mgr, &fake, names.iter().map(|n| (n.as_str(), Script::new(10))).collect());
        if foreground {
            g.switch_to_foreground().unwrap();
        }
        g.resume().unwrap();
        wait_until("complete", || g.state().unwrap() == GroupState::Complete);
        let first = &fake.requests_for(&url(&names[0]))[0];
        assert_eq!(first.connections, want, "{count} files, max_connections_per_group {max}, foreground {foreground}");
    }
}

/// A file fetched in segments: its checkpoint records the ranges held (store and memory), a
/// manager opened again on the queue continues from them (the transport gets them back, with
/// their total as the offset), and a completed file holds no ranges any more.
#[test]
fn d16_a_segmented_file_resumes_from_the_ranges_it_holds() {
    let fake = Fake::new();
    let store = SharedStore::new();
    let mgr = open_on(Box::new(store.clone()), &fake);
    let (g, j) = group_with(&mgr, &fake, vec![("big", Script::new(1000).chunk(100).segmented().gated())]);
    let (gid, jid) = (g.id(), j.id());
    g.switch_to_foreground().unwrap();
    g.resume().unwrap();
    fake.allow(&url("big"), 400);
    fake.wait_reported(&url("big"), 400);
    g.suspend().unwrap();
    fake.wait_idle(&url("big"));
    let held = segmented_ranges(1000, 400);
    let stored = |store: &SharedStore| store.image().files.iter().find(|f| f.job_id == jid).cloned().unwrap();
    assert_eq!((stored(&store).bytes_done, stored(&store).held_ranges), (400, Some(held.clone())));
    assert_eq!(j.progress64().unwrap(), (400, 1000));
    drop((g, j));
    drop(mgr);

    let mgr = open_on(Box::new(store.clone()), &fake);
    let g = mgr.get_group(gid).unwrap();
    g.resume().unwrap();
    fake.wait_requests(&url("big"), 2);
    let again = &fake.requests_for(&url("big"))[1];
    assert_eq!((again.offset, again.held_ranges.clone(), again.connections), (400, Some(held), 6));
    fake.open_gate(&url("big"));
    wait_until("complete", || g.state().unwrap() == GroupState::Complete);
    assert_eq!((stored(&store).bytes_done, stored(&store).held_ranges), (1000, None));
}
