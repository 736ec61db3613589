//! DECISIONS D1 "Scheduling" and `SwitchToForeground`: foreground first, then lower priority
//! value, then creation order; `max_active_groups`; pre-emption keeping partial data.

mod common;

use common::*;
use qmgr_core::model::{GroupState, PropId, PropValue};
use qmgr_core::transport::Traffic;
use qmgr_core::{Group, Manager};

/// A suspended group with one file `name` (gated when asked) at `priority`.
fn group(mgr: &Manager, fake: &Fake, name: &str, priority: u32, gated: bool) -> Group {
    let script = if gated { Script::new(1000).chunk(100).gated() } else { Script::new(1000).chunk(100) };
    let (g, _) = group_with(mgr, fake, vec![(name, script)]);
    g.set_prop(PropId::Priority, PropValue::Int(priority)).unwrap();
    g
}

fn max_active(mgr: &Manager, n: u32) {
    mgr.set_option("max_active_groups", &n.to_string()).unwrap();
}

#[test]
fn d1_at_most_max_active_groups_transfer_at_once() {
    let (mgr, fake) = open();
    assert_eq!(mgr.get_option("max_active_groups").unwrap(), "4", "default 4");
    let groups: Vec<Group> = (0..6).map(|i| group(&mgr, &fake, &format!("g{i}"), 1, true)).collect();
    for g in &groups {
        g.resume().unwrap();
    }
    wait_until("four transfers", || fake.running() == 4);
    // The scheduler looks again with four transferring and two waiting: it starts no fifth.
    sched_pass(&mgr, &fake);
    assert_eq!(fake.running(), 4);
    let mut started = fake.first_request_order();
    started.sort();
    let want: Vec<String> = (0..4).map(|i| url(&format!("g{i}"))).collect();
    assert_eq!(started, want, "the first four in creation order");
    for g in &groups[4..] {
        assert_eq!(g.status().unwrap().0, 0x080, "queued groups are RUNNING");
    }
    fake.open_gate(&url("g1"));
    fake.wait_requests(&url("g4"), 1);
    for i in 0..6 {
        fake.open_gate(&url(&format!("g{i}")));
    }
    for g in &groups {
        assert_eq!(settle(g), 0x140);
    }
    assert_eq!(fake.max_running(), 4);
}

#[test]
fn d1_groups_of_equal_priority_run_in_creation_order() {
    let (mgr, fake) = open();
    max_active(&mgr, 1);
    let first = group(&mgr, &fake, "first", 1, true);
    let rest: Vec<Group> = ["b", "c", "d"].iter().map(|n| group(&mgr, &fake, n, 1, false)).collect();
    first.resume().unwrap();
    fake.wait_requests(&url("first"), 1);
    for g in rest.iter().rev() {
        g.resume().unwrap();
    }
    fake.open_gate(&url("first"));
    for g in &rest {
        assert_eq!(settle(g), 0x140);
    }
    let want: Vec<String> = ["first", "b", "c", "d"].iter().map(|n| url(n)).collect();
    assert_eq!(fake.first_request_order(), want, "FIFO, whatever the order of ResumeGroup");
    assert_eq!(fake.max_running(), 1);
}

#[test]
fn d1_lower_priority_value_runs_first() {
    let (mgr, fake) = open();
    max_active(&mgr, 1);
    let blocker = group(&mgr, &fake, "blocker", 0, true);
    blocker.resume().unwrap();
    fake.wait_requests(&url("blocker"), 1);
    let low = group(&mgr, &fake, "low", 2, false);
    let normal = group(&mgr, &fake, "normal", 1, false);
    let high = group(&mgr, &fake, "high", 0, false);
    for g in [&low, &normal, &high] {
        g.resume().unwrap();
    }
    fake.open_gate(&url("blocker"));
    for g in [&low, &normal, &high] {
        assert_eq!(settle(g), 0x140);
    }
    let want: Vec<String> = ["blocker", "high", "normal", "low"].iter().map(|n| url(n)).collect();
    assert_eq!(fake.first_request_order(), want);
    assert_eq!(fake.endings(&url("blocker")), vec![Ended::Complete], "an equal priority does not pre-empt");
}

#[test]
fn d1_higher_priority_pre_empts_the_lowest_ranked_group_which_keeps_its_partial_data() {
    let (mgr, fake) = open();
    max_active(&mgr, 2);
    let normal = group(&mgr, &fake, "normal", 1, true);
    let low = group(&mgr, &fake, "low", 2, true);
    fake.allow(&url("normal"), 200);
    fake.allow(&url("low"), 300);
    normal.resume().unwrap();
    low.resume().unwrap();
    fake.wait_pos(&url("normal"), 200);
    fake.wait_pos(&url("low"), 300);
    let high = group(&mgr, &fake, "high", 0, true);
    high.resume().unwrap();
    fake.wait_requests(&url("high"), 1);
    assert_eq!(fake.endings(&url("low")), vec![Ended::Cancelled], "the lowest-ranked group was pre-empted");
    assert!(!fake.still_running(&url("low")));
    assert!(fake.still_running(&url("normal")), "the other running group goes on");
    assert!(fake.endings(&url("normal")).is_empty());
    assert_eq!(fake.active(&url("low")), 0);
    assert_eq!(low.state().unwrap(), GroupState::Running, "pre-empted, still queued");
    assert_eq!(low.status().unwrap().0, 0x080);
    assert_eq!(fake.temps_of(&url("low"))[0].1.len, 300, "partial data kept");
    assert!(fake.discarded().is_empty());

    fake.open_gate(&url("high"));
    assert_eq!(settle(&high), 0x140);
    fake.wait_requests(&url("low"), 2);
    assert_eq!(fake.requests_for(&url("low"))[1].offset, 300, "continues from its partial data");
    fake.open_gate(&url("low"));
    fake.open_gate(&url("normal"));
    assert_eq!(settle(&low), 0x140);
    assert_eq!(settle(&normal), 0x140);
    assert_eq!(fake.committed(&dest("low")).unwrap().len, 1000);
    assert_eq!(fake.requests_for(&url("normal")).len(), 1);
}

#[test]
fn d1_foreground_groups_run_first_and_bypass_the_rate_limiter() {
    let (mgr, fake) = open();
    max_active(&mgr, 1);
    let high = group(&mgr, &fake, "high", 0, true);
    fake.allow(&url("high"), 100);
    high.resume().unwrap();
    fake.wait_pos(&url("high"), 100);
    let fg = group(&mgr, &fake, "fg", 2, false);
    fg.resume().unwrap();
    // The scheduler has seen `fg` and left `high` alone: a low-priority background group waits.
    sched_pass(&mgr, &fake);
    assert!(fake.still_running(&url("high")), "not pre-empted");
    assert!(fake.requests_for(&url("fg")).is_empty(), "a low-priority background group waits");
    fg.switch_to_foreground().unwrap();
    assert_eq!(settle(&fg), 0x540);
    assert_eq!(fake.endings(&url("high")), vec![Ended::Cancelled], "pre-empted by the foreground group");
    assert!(fake.requests_for(&url("fg"))[0].foreground, "foreground transfers bypass the rate limiter");
    assert!(!fake.requests_for(&url("high"))[0].foreground);
    fake.open_gate(&url("high"));
    assert_eq!(settle(&high), 0x140);
    assert_eq!(fake.requests_for(&url("high"))[1].offset, 100);
}

#[test]
fn d1_job_foreground_makes_its_transfers_foreground() {
    let (mgr, fake) = open();
    let g = mgr.create_group(guid()).unwrap();
    add_job(&g, &fake, vec![("a", Script::new(10))]);
    let j = add_job(&g, &fake, vec![("b", Script::new(10))]);
    j.switch_to_foreground().unwrap();
    g.resume().unwrap();
    assert_eq!(settle(&g), 0x540);
    assert!(fake.requests_for(&url("a"))[0].foreground, "the group became foreground");
    assert!(fake.requests_for(&url("b"))[0].foreground);
}

#[test]
fn d1_suspending_a_running_group_frees_its_slot() {
    let (mgr, fake) = open();
    max_active(&mgr, 1);
    let a = group(&mgr, &fake, "a", 1, true);
    let b = group(&mgr, &fake, "b", 1, false);
    a.resume().unwrap();
    fake.wait_requests(&url("a"), 1);
    b.resume().unwrap();
    a.suspend().unwrap();
    assert_eq!(settle(&b), 0x140);
    assert_eq!(a.state().unwrap(), GroupState::Suspended);
}

#[test]
fn d1_lowering_max_active_groups_pre_empts_the_lowest_ranked() {
    let (mgr, fake) = open();
    max_active(&mgr, 2);
    let a = group(&mgr, &fake, "a", 1, true);
    let b = group(&mgr, &fake, "b", 1, true);
    a.resume().unwrap();
    b.resume().unwrap();
    wait_until("two transfers", || fake.running() == 2);
    max_active(&mgr, 1);
    fake.wait_idle(&url("b"));
    assert_eq!(fake.endings(&url("b")), vec![Ended::Cancelled]);
    assert_eq!(fake.active(&url("a")), 1);
    fake.open_gate(&url("a"));
    fake.open_gate(&url("b"));
    assert_eq!(settle(&a), 0x140);
    assert_eq!(settle(&b), 0x140);
    assert_eq!(fake.max_running(), 2);
}

#[test]
fn d1_a_group_waiting_to_retry_does_not_hold_a_slot() {
    let (mgr, fake) = open();
    one_slot(&mgr);
    mgr.set_option("min_retry_delay_ms", "5000").unwrap();
    let (a, ja) = group_with(&mgr, &fake, vec![("a", Script::new(10).fail(0, http(503)))]);
    a.set_prop(PropId::Priority, PropValue::Int(0)).unwrap();
    let b = group(&mgr, &fake, "b", 2, false);
    a.resume().unwrap();
    wait_retries(&ja, 1);
    b.resume().unwrap();
    assert_eq!(settle(&b), 0x140, "b transfers while a waits to retry");
    assert_eq!(a.state().unwrap(), GroupState::Running);
    expect_retry_after(&mgr, &fake, "a", ms(5000));
    assert_eq!(settle(&a), 0x140);
}

#[test]
fn d1_raising_the_priority_of_a_queued_group_pre_empts_a_running_one() {
    let (mgr, fake) = open();
    max_active(&mgr, 1);
    let a = group(&mgr, &fake, "a", 1, true);
    fake.allow(&url("a"), 200);
    a.resume().unwrap();
    fake.wait_pos(&url("a"), 200);
    let b = group(&mgr, &fake, "b", 2, false);
    b.resume().unwrap();
    sched_pass(&mgr, &fake);
    assert!(fake.still_running(&url("a")), "a lower priority does not pre-empt");
    assert!(fake.requests_for(&url("b")).is_empty());
    b.set_prop(PropId::Priority, PropValue::Int(0)).unwrap();
    assert_eq!(settle(&b), 0x140);
    assert_eq!(fake.endings(&url("a")), vec![Ended::Cancelled]);
    fake.open_gate(&url("a"));
    assert_eq!(settle(&a), 0x140);
    assert_eq!(fake.requests_for(&url("a"))[1].offset, 200);
}

#[test]
fn d1_background_transfers_share_the_rate_limiter_of_the_option() {
    let (mgr, fake) = open();
    mgr.set_option("background_mode", "normal").unwrap();
    mgr.set_option("background_rate_limit", "1000000").unwrap();
    let (g, _) = group_with(&mgr, &fake, vec![("a", Script::new(10))]);
    g.resume().unwrap();
    assert_eq!(settle(&g), 0x140);
    let r = &fake.requests_for(&url("a"))[0];
    assert_eq!((r.rate, r.traffic), (1_000_000, Traffic::Background));
}

/// DECISIONS D14: background groups transfer in idle mode by default, under the controller's
/// rate, which `background_rate_limit` still caps; foreground ones never do; `normal` mode
/// turns idle mode off. The status says which.
#[test]
fn d14_background_groups_are_idle_by_default_and_the_cap_still_holds() {
    let (mgr, fake) = open();
    assert_eq!(mgr.get_option("background_mode").unwrap(), "idle");
    let status = mgr.background_status();
    assert_eq!((status.active, status.reason.as_str()), (false, "no background transfer"));
    mgr.set_option("background_rate_limit", "100000").unwrap();
    let (g, _) = group_with(&mgr, &fake, vec![("a", Script::new(10).gated())]);
    g.resume().unwrap();
    fake.wait_started(&url("a"), 1);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let status = loop {
        let s = mgr.background_status();
        if s.active {
            break s;
        }
        assert!(std::time::Instant::now() < deadline, "the idle controller never reported: {s:?}");
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    assert!(status.rate.is_some_and(|r| r <= 100_000), "{status:?}");
    fake.open_gate(&url("a"));
    assert_eq!(settle(&g), 0x140);
    assert_eq!(fake.requests_for(&url("a"))[0].traffic, Traffic::Idle);
    assert!(fake.requests_for(&url("a"))[0].rate <= 100_000);
    let (fg, _) = group_with(&mgr, &fake, vec![("b", Script::new(10))]);
    fg.switch_to_foreground().unwrap();
    fg.resume().unwrap();
    assert_eq!(settle(&fg), 0x540, "complete and foreground");
    assert_eq!(fake.requests_for(&url("b"))[0].traffic, Traffic::Foreground);
}

/// A group whose files are all fetched and only wait for their commit (a slow flush to disk)
/// no longer holds one of the `max_active_groups` places: the next group transfers meanwhile,
/// and the first completes once its commit does (DESIGN "Engine": commits beside transfers).
#[test]
fn d1_a_group_waiting_only_for_its_commits_lets_the_next_group_run() {
    let (mgr, fake) = open();
    one_slot(&mgr);
    let (a, _) = group_with(&mgr, &fake, vec![("a", Script::new(100).hold_commit())]);
    let (b, _) = group_with(&mgr, &fake, vec![("b", Script::new(100))]);
    a.resume().unwrap();
    fake.wait_requests(&url("a"), 1);
    b.resume().unwrap();
    assert_eq!(settle(&b), 0x140, "b ran while a's commit was held");
    assert!(fake.committed(&dest("a")).is_none());
    assert_eq!(a.status().unwrap().0, 0x080, "a is still running: its file is not committed");
    fake.release_commit(&url("a"));
    assert_eq!(settle(&a), 0x140);
    assert_eq!(fake.committed(&dest("a")).unwrap().len, 100);
}

/// C-API.md "Per-group rate limit": a group's limit binds its foreground transfers too (which
/// `background_rate_limit` never does); for a background group the lower of the two wins.
#[test]
fn group_rate_limit_binds_foreground_and_background_transfers() {
    let (mgr, fake) = open();
    mgr.set_option("background_mode", "normal").unwrap();
    mgr.set_option("background_rate_limit", "1000000").unwrap();
    let (fg, _) = group_with(&mgr, &fake, vec![("fg", Script::new(10))]);
    fg.switch_to_foreground().unwrap();
    fg.set_rate_limit(300_000).unwrap();
    fg.resume().unwrap();
    assert_eq!(settle(&fg), 0x540);
    let r = &fake.requests_for(&url("fg"))[0];
    assert_eq!((r.rate, r.traffic), (300_000, Traffic::Foreground));
    for (limit, want) in [(300_000, 300_000), (5_000_000, 1_000_000), (0, 1_000_000)] {
        let name = format!("bg{limit}");
        let (bg, _) = group_with(&mgr, &fake, vec![(&name, Script::new(10))]);
        bg.set_rate_limit(limit).unwrap();
        bg.resume().unwrap();
        assert_eq!(settle(&bg), 0x140);
        let r = &fake.requests_for(&url(&name))[0];
        assert_eq!((r.rate, r.traffic), (want, Traffic::Background), "group limit {limit}");
    }
}
