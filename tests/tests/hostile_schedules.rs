//! Randomized hostile schedules (issue #14; DECISIONS D4, D5, D15): thousands of fault plans,
//! drawn from a seed, each put through a real queue (`qmgr_rs::open`: the engine, the SQLite
//! store and the HTTP transport) against the hostile server, many at once. The invariant:
//! under the final name there is either nothing or exactly the bytes of one version the server
//! served, and the group's state and error are ones the model of `qmgr_tests::schedule` allows
//! (see that module for what is drawn, the model and every check).
//!
//! The seed is printed; `QMGR_PROP_SEED=<n>` reruns a run, `QMGR_PROP_PLANS=<n>` sets the
//! number of plans (default 5,000, under 2 minutes in a debug build on 2 cores). Plan i of a
//! run has seed `QMGR_PROP_SEED + i`, so `QMGR_PROP_SEED=<a plan's seed> QMGR_PROP_PLANS=1`
//! reruns one plan. The full run (≥ 50,000 plans) is documented in `bench/README.md`.

#![forbid(unsafe_code)]

use qmgr_tests::runner::seed;
use qmgr_tests::schedule::Runner;

/// Default number of plans.
const PLANS: u64 = 5_000;

/// Plans in flight at once: most of a plan's time is retry delays, so many run side by side.
const CONCURRENCY: usize = 96;

#[test]
fn randomized_hostile_schedules_never_put_a_wrong_byte_under_a_final_name() {
    let first = seed("QMGR_PROP_SEED");
    let plans = std::env::var("QMGR_PROP_PLANS").ok().and_then(|s| s.parse().ok()).unwrap_or(PLANS);
    let seeds = first..first.checked_add(plans).expect("QMGR_PROP_SEED + QMGR_PROP_PLANS overflows");
    eprintln!(
        "hostile schedules: {plans} plans, seeds {}..{} (rerun with QMGR_PROP_SEED={first} QMGR_PROP_PLANS={plans})",
        seeds.start, seeds.end
    );
    let runner = Runner::start(CONCURRENCY);
    let report = runner.run(seeds.clone(), CONCURRENCY);
    eprintln!("{report}");
    for (seed, what) in &report.violations {
        eprintln!("VIOLATION (rerun alone with QMGR_PROP_SEED={seed} QMGR_PROP_PLANS=1):\n{what}\n");
    }
    assert!(
        report.violations.is_empty(),
        "{} of {} plans violated the invariant or the model (seeds {}..{}); see above",
        report.violations.len(),
        report.plans,
        seeds.start,
        seeds.end
    );
    assert_eq!(report.plans, plans, "every plan ran");
}
