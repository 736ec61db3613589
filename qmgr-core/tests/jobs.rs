//! DECISIONS D1 (jobs of a group, files of a job, job index, aggregated progress and size,
//! size hints, CancelJob), D2 (AddFiles checks) and D12 (sizes, cancelled jobs).

mod common;

use common::*;
use qmgr_core::hresult::{E_ACCESSDENIED, E_INVALIDARG, QM_E_INVALID_STATE, QM_E_ITEM_NOT_FOUND};
use qmgr_core::model::{progress, status, GroupState};
use qmgr_core::FileSpec;

#[test]
fn d1_jobs_run_in_creation_order_and_files_in_the_order_added() {
    let (mgr, fake) = open();
    sequential(&mgr);
    let g = mgr.create_group(guid()).unwrap();
    let j1 = add_job(&g, &fake, vec![("j1f0", Script::new(10)), ("j1f1", Script::new(20))]);
    let j2 = add_job(&g, &fake, vec![("j2f0", Script::new(30))]);
    fake.serve(&url("j1f2"), Script::new(40));
    j1.add_files(&[spec("j1f2")]).unwrap();
    let j3 = add_job(&g, &fake, vec![("j3f0", Script::new(5)), ("j3f1", Script::new(6))]);
    g.resume().unwrap();
    assert_eq!(settle(&g), 0x140);
    let order: Vec<String> = fake.requests().into_iter().map(|r| r.url).collect();
    let want: Vec<String> = ["j1f0", "j1f1", "j1f2", "j2f0", "j3f0", "j3f1"].iter().map(|n| url(n)).collect();
    assert_eq!(order, want);
    for j in [&j1, &j2, &j3] {
        assert_eq!(j.status().unwrap().status, status::JOB_COMPLETE);
    }
    assert_eq!(j1.file(2).unwrap(), spec("j1f2"));
}

#[test]
fn d1_group_status_job_index_is_the_job_being_processed_then_the_last_one() {
    let (mgr, fake) = open();
    let g = mgr.create_group(guid()).unwrap();
    assert_eq!(g.status().unwrap().1, 0, "0 with no jobs");
    add_job(&g, &fake, vec![("a", Script::new(100).gated())]);
    add_job(&g, &fake, vec![("b", Script::new(100).gated())]);
    add_job(&g, &fake, vec![("c", Script::new(100))]);
    assert_eq!(g.status().unwrap().1, 0, "next to process");
    g.resume().unwrap();
    fake.wait_requests(&url("a"), 1);
    assert_eq!(g.status().unwrap().1, 0);
    fake.open_gate(&url("a"));
    fake.wait_requests(&url("b"), 1);
    // `a` is committed beside the transfer of `b`, in the next batch (DECISIONS D4).
    wait_until("job a committed", || g.status().unwrap().1 == 1);
    fake.open_gate(&url("b"));
    assert_eq!(settle(&g), 0x140);
    assert_eq!(g.status().unwrap(), (0x140, 2), "the last job's index once complete");
}

#[test]
fn d1_job_index_skips_a_job_without_files() {
    // A job with no files has nothing to process: the index names the job actually being
    // transferred, and the last job once the group is complete (D1).
    let (mgr, fake) = open();
    let g = mgr.create_group(guid()).unwrap();
    g.create_job(guid()).unwrap();
    add_job(&g, &fake, vec![("a", Script::new(100).gated())]);
    g.resume().unwrap();
    fake.wait_requests(&url("a"), 1);
    assert_eq!(g.status().unwrap(), (0x080, 1), "job 1 is being processed");
    fake.open_gate(&url("a"));
    assert_eq!(settle(&g), 0x140);
    assert_eq!(g.status().unwrap(), (0x140, 1), "the last job's index once complete");
}

#[test]
fn d1_group_progress_and_size_aggregate_over_jobs() {
    let (mgr, fake) = open();
    let g = mgr.create_group(guid()).unwrap();
    let j1 = add_job(&g, &fake, vec![("a", Script::new(100)), ("b", Script::new(300))]);
    let j2 = add_job(&g, &fake, vec![("c", Script::new(600).chunk(100).gated())]);
    assert_eq!(g.size().unwrap(), 0, "sizes unknown before the server reports them");
    assert_eq!(g.progress64().unwrap(), (0, u64::MAX));
    fake.allow(&url("c"), 200);
    g.resume().unwrap();
    wait_until("200 bytes of c", || j2.progress64().unwrap().0 == 200);
    assert_eq!(j1.progress64().unwrap(), (400, 400));
    assert_eq!(j1.progress(progress::PERCENT_DONE).unwrap(), 100);
    assert_eq!(j2.progress64().unwrap(), (200, 600));
    assert_eq!(j2.progress(progress::SIZE_DONE).unwrap(), 200);
    assert_eq!(j2.progress(progress::PERCENT_DONE).unwrap(), 33, "floor");
    assert_eq!(g.progress64().unwrap(), (600, 1000));
    assert_eq!(g.progress(progress::SIZE_DONE).unwrap(), 600);
    assert_eq!(g.progress(progress::PERCENT_DONE).unwrap(), 60);
    assert_eq!(g.size().unwrap(), 1000);
    fake.open_gate(&url("c"));
    settle(&g);
    assert_eq!(g.progress(progress::PERCENT_DONE).unwrap(), 100);
    assert_eq!(g.progress64().unwrap(), (1000, 1000));
}

#[test]
fn d1_size_hint_is_used_until_the_server_reports_the_size() {
    let (mgr, fake) = open();
    sequential(&mgr); // `b` waits for `a`: its hint stands meanwhile
    let g = mgr.create_group(guid()).unwrap();
    let j = g.create_job(guid()).unwrap();
    fake.serve(&url("a"), Script::new(2000).chunk(100).gated());
    fake.serve(&url("b"), Script::new(50));
    j.add_files(&[
        FileSpec { url: url("a"), local_path: dest("a"), size_hint: 1000 },
        FileSpec { url: url("b"), local_path: dest("b"), size_hint: 70 },
    ])
    .unwrap();
    assert_eq!(g.size().unwrap(), 1070, "hints until the server reports");
    assert_eq!(j.progress64().unwrap(), (0, 1070));
    assert_eq!(j.file(0).unwrap().size_hint, 1000);
    fake.allow(&url("a"), 500);
    g.resume().unwrap();
    wait_until("500 bytes", || j.progress64().unwrap().0 == 500);
    assert_eq!(g.size().unwrap(), 2070, "the server's size replaces the hint");
    assert_eq!(j.file_progress(0).unwrap(), (500, 2000, false));
    assert_eq!(j.progress(progress::PERCENT_DONE).unwrap(), 24);
    fake.open_gate(&url("a"));
    settle(&g);
    assert_eq!(g.size().unwrap(), 2050);
}

#[test]
fn d12_size_is_0_while_any_size_is_unknown_and_saturates() {
    let (mgr, fake) = open();
    let hinted = |name: &str, size_hint: u32| FileSpec { url: url(name), local_path: dest(name), size_hint };
    for n in ["a", "b", "c"] {
        fake.serve(&url(n), Script::new(10));
    }
    let g = mgr.create_group(guid()).unwrap();
    let j = g.create_job(guid()).unwrap();
    j.add_files(&[hinted("a", 100), hinted("b", 0)]).unwrap();
    assert_eq!(g.size().unwrap(), 0, "b's size is unknown");
    assert_eq!(j.progress64().unwrap(), (0, u64::MAX));
    assert_eq!(j.progress(progress::PERCENT_DONE).unwrap(), 0, "0 while the total is unknown");

    let g2 = mgr.create_group(guid()).unwrap();
    let k = g2.create_job(guid()).unwrap();
    k.add_files(&[hinted("a", u32::MAX), hinted("c", u32::MAX)]).unwrap();
    assert_eq!(g2.size().unwrap(), u32::MAX, "saturates at 0xFFFFFFFF");
    assert_eq!(g2.progress64().unwrap(), (0, 2 * u32::MAX as u64));
}

#[test]
fn d1_cancel_job_keeps_finished_files_deletes_partial_data_and_the_group_goes_on() {
    let (mgr, fake) = open();
    let g = mgr.create_group(guid()).unwrap();
    let j1 = add_job(&g, &fake, vec![("done", Script::new(50)), ("part", Script::new(1000).chunk(100).gated())]);
    let j2 = add_job(&g, &fake, vec![("next", Script::new(70))]);
    assert_eq!(g.size().unwrap(), 0);
    fake.allow(&url("part"), 300);
    g.resume().unwrap();
    fake.wait_pos(&url("part"), 300);
    // `done` is committed beside the transfer of `part` (DECISIONS D4).
    wait_until("done is committed", || fake.committed(&dest("done")).is_some());
    let temp = fake.temps_of(&url("part"))[0].0.clone();
    j1.cancel().unwrap();
    assert_eq!(hr(j1.status()), QM_E_INVALID_STATE);
    assert_eq!(hr(j1.cancel()), QM_E_INVALID_STATE);
    assert_eq!(hr(g.get_job(j1.id())), QM_E_ITEM_NOT_FOUND);
    assert_eq!(g.enum_jobs(0).unwrap().collect::<Vec<_>>(), vec![j2.id()]);
    assert_eq!(settle(&g), 0x140, "the group goes on with its next job");
    assert_eq!(fake.endings(&url("part")), vec![Ended::Cancelled], "the running transfer was aborted");
    wait_until("the partial data is deleted", || fake.temp(&temp).is_none());
    assert_eq!(fake.committed(&dest("done")).unwrap().len, 50, "finished files stay");
    assert!(fake.committed(&dest("part")).is_none());
    assert_eq!(fake.committed(&dest("next")).unwrap().len, 70);
    assert_eq!(g.size().unwrap(), 70, "a cancelled job is not counted");
    assert_eq!(g.progress64().unwrap(), (70, 70));
    assert_eq!(g.status().unwrap(), (0x140, 0));
}

#[test]
fn d1_cancel_job_of_a_suspended_group_deletes_its_partial_data() {
    let (mgr, fake) = open();
    let g = mgr.create_group(guid()).unwrap();
    let j1 = add_job(&g, &fake, vec![("a", Script::new(1000).chunk(100).gated())]);
    let j2 = add_job(&g, &fake, vec![("b", Script::new(10))]);
    fake.allow(&url("a"), 300);
    g.resume().unwrap();
    fake.wait_pos(&url("a"), 300);
    g.suspend().unwrap();
    fake.wait_idle(&url("a"));
    let temp = fake.temps_of(&url("a"))[0].0.clone();
    j1.cancel().unwrap();
    wait_until("the partial data is deleted", || fake.temp(&temp).is_none());
    assert_eq!(g.state().unwrap(), GroupState::Suspended);
    g.resume().unwrap();
    assert_eq!(settle(&g), 0x140);
    assert!(fake.requests_for(&url("a")).len() == 1, "the cancelled job is not fetched again");
    assert_eq!(j2.status().unwrap().status, status::JOB_COMPLETE);
}

#[test]
fn d12_cancel_job_is_allowed_in_error_and_complete_groups() {
    let (mgr, fake) = open();
    let g = mgr.create_group(guid()).unwrap();
    let bad = add_job(&g, &fake, vec![("bad", Script::new(10).fail(0, http(403)))]);
    let good = add_job(&g, &fake, vec![("good", Script::new(10))]);
    g.resume().unwrap();
    assert_eq!(settle(&g), 0x380);
    bad.cancel().unwrap();
    assert_eq!(g.state().unwrap(), GroupState::Error, "cancelling a job does not change the group's state");
    g.resume().unwrap();
    assert_eq!(settle(&g), 0x140);
    good.cancel().unwrap();
    assert_eq!(g.state().unwrap(), GroupState::Complete);
    assert_eq!(fake.committed(&dest("good")).unwrap().len, 10, "finished files stay");
    assert_eq!(g.enum_jobs(0).unwrap().count_all(), 0);
}

#[test]
fn d1_get_file_and_file_count_follow_add_files_order() {
    let (mgr, fake) = open();
    let g = mgr.create_group(guid()).unwrap();
    let j = g.create_job(guid()).unwrap();
    for n in ["x", "y", "z"] {
        fake.serve(&url(n), Script::new(1));
    }
    j.add_files(&[spec("x"), spec("y")]).unwrap();
    j.add_files(&[FileSpec { url: url("z"), local_path: dest("z"), size_hint: 9 }]).unwrap();
    assert_eq!(j.file_count().unwrap(), 3);
    assert_eq!(j.file(0).unwrap(), spec("x"));
    assert_eq!(j.file(1).unwrap(), spec("y"));
    assert_eq!(j.file(2).unwrap(), FileSpec { url: url("z"), local_path: dest("z"), size_hint: 9 });
    assert_eq!(hr(j.file(3)), QM_E_ITEM_NOT_FOUND);
    assert_eq!(hr(j.file_progress(3)), QM_E_ITEM_NOT_FOUND);
    assert_eq!(j.file_progress(2).unwrap(), (0, 9, false));
    assert!(g.get_job(j.id()).unwrap().same(&j));
    assert_eq!(hr(g.get_job(guid())), QM_E_ITEM_NOT_FOUND);
}

#[test]
fn d2_add_files_checks_every_file_and_adds_all_or_nothing() {
    let (mgr, _fake) = open();
    let g = mgr.create_group(guid()).unwrap();
    let j = g.create_job(guid()).unwrap();
    let f = |u: &str, p: &str| FileSpec { url: u.to_string(), local_path: p.to_string(), size_hint: 0 };
    let good = f(&url("ok"), &dest("ok"));
    let cases: Vec<(&str, FileSpec, i32)> = vec![
        ("relative path", f(&url("a"), "out.bin"), E_INVALIDARG),
        ("empty URL", f("", &dest("a")), E_INVALIDARG),
        ("non-ASCII URL", f("http://fake.test/é", &dest("a")), E_INVALIDARG),
        ("non-ASCII URL with a password", f("http://u:hunter2@fake.test/é", &dest("a")), E_INVALIDARG),
        ("URL with a space", f("http://fake.test/a b", &dest("a")), E_INVALIDARG),
        ("URL over 2200 characters", f(&format!("http://fake.test/{}", "a".repeat(2200)), &dest("a")), E_INVALIDARG),
        ("scheme of another protocol", f("file:///etc/hosts", &dest("a")), E_INVALIDARG),
        ("path over 4096 bytes", f(&url("a"), &format!("/{}", "p".repeat(4096))), E_INVALIDARG),
        ("path naming a directory", f(&url("a"), "/dl/"), E_INVALIDARG),
        ("missing directory", f(&url("a"), "/missing/a"), E_INVALIDARG),
        ("unwritable directory", f(&url("a"), "/readonly/a"), E_ACCESSDENIED),
        ("duplicate destination in the call", good.clone(), E_INVALIDARG),
    ];
    for (what, bad, want) in cases {
        let e = err(what, j.add_files(&[good.clone(), bad]));
        assert_eq!(e.hr, want, "{what}: {}", e.message);
        assert!(e.message.contains("file 1"), "{what}: the message names the file: {}", e.message);
        assert!(!e.message.contains("hunter2"), "{what}: no password in a message: {}", e.message);
        assert_eq!(j.file_count().unwrap(), 0, "{what}: nothing added");
    }
    let url_2200 = format!("http://fake.test/{}", "a".repeat(2200 - "http://fake.test/".len()));
    j.add_files(&[good.clone(), f(&url_2200, &dest("long"))]).unwrap();
    assert_eq!(j.file_count().unwrap(), 2);
    let j2 = g.create_job(guid()).unwrap();
    assert_eq!(hr(j2.add_files(&[f(&url("b"), &dest("ok"))])), E_INVALIDARG, "destination taken in the group");
    let g2 = mgr.create_group(guid()).unwrap();
    g2.create_job(guid()).unwrap().add_files(&[good]).unwrap();
}

#[test]
fn d1_job_switch_to_foreground_sets_its_bit_and_its_group_foreground() {
    let (mgr, fake) = open();
    let g = mgr.create_group(guid()).unwrap();
    let j1 = add_job(&g, &fake, vec![("a", Script::new(1))]);
    let j2 = add_job(&g, &fake, vec![("b", Script::new(1))]);
    j2.switch_to_foreground().unwrap();
    assert_eq!(j2.status().unwrap().status, status::JOB_INCOMPLETE | status::JOB_FOREGROUND);
    assert_eq!(j1.status().unwrap().status, status::JOB_INCOMPLETE);
    assert_eq!(g.status().unwrap().0, 0x580);
    g.resume().unwrap();
    assert_eq!(settle(&g), 0x540);
    assert_eq!(j2.status().unwrap().status, status::JOB_COMPLETE | status::JOB_FOREGROUND);
}

#[test]
fn d12_group_foreground_does_not_set_its_jobs_bits() {
    let (mgr, fake) = open();
    let (g, j) = group_with(&mgr, &fake, vec![("a", Script::new(1))]);
    g.switch_to_foreground().unwrap();
    g.switch_to_foreground().unwrap();
    assert_eq!(g.status().unwrap().0, 0x580);
    assert_eq!(j.status().unwrap().status, status::JOB_INCOMPLETE);
}

#[test]
fn d4_each_file_goes_to_its_own_hidden_temporary_file_and_is_committed_once_complete() {
    let (mgr, fake) = open();
    sequential(&mgr); // `a` is committed while `b` transfers
    let g = mgr.create_group(guid()).unwrap();
    let j = add_job(&g, &fake, vec![("a", Script::new(10)), ("b", Script::new(1000).chunk(100).gated())]);
    g.resume().unwrap();
    fake.wait_requests(&url("b"), 1);
    // Committed beside the transfer of the next file, without waiting for it (DECISIONS D4).
    wait_until("a is committed", || fake.committed(&dest("a")).is_some());
    assert_eq!(fake.committed(&dest("a")).unwrap().len, 10);
    assert!(fake.committed(&dest("b")).is_none());
    let r = fake.requests();
    let jid = j.id().to_string();
    let jid = jid.trim_matches(|c| c == '{' || c == '}');
    for (i, (req, name)) in r.iter().zip(["a", "b"]).enumerate() {
        let temp = req.temp.to_str().unwrap();
        assert_eq!(req.temp.parent().unwrap(), std::path::Path::new("/dl"), "in the destination directory");
        let file = req.temp.file_name().unwrap().to_str().unwrap();
        assert!(file.starts_with(&format!(".{name}.")), "hidden: {temp}");
        assert!(file.contains(jid) && file.contains(&format!(".{i}.")), "unique per (job, index): {temp}");
        assert_ne!(temp, dest(name), "never the final name");
    }
    assert_eq!(fake.committed(&dest("a")).unwrap().temp, r[0].temp, "renamed from its temporary file");
    fake.open_gate(&url("b"));
    assert_eq!(settle(&g), 0x140);
    assert_eq!(fake.committed(&dest("b")).unwrap().temp, r[1].temp);
}
