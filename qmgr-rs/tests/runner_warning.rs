//! DECISIONS D13: a runner that cannot be started never fails the call that queued the work;
//! the reason is reported once, to the next status-reading call, and the work still runs while
//! this process has the queue open. (Its own test binary: it sets process environment.)

use qmgr_rs::model::{protocol, status, PropId, PropValue};
use qmgr_rs::{FileSpec, Guid};
use std::time::Duration;

#[test]
fn a_runner_that_cannot_start_is_reported_once_and_the_work_still_runs_here() {
    // The only test of this binary: nothing else reads the environment meanwhile.
    std::env::set_var("QMGR_AUTOSTART", "1");
    std::env::set_var("QMGR_BIN", "/nonexistent/qmgr");
    let work = tempfile::tempdir().unwrap();
    let source = work.path().join("source.txt");
    std::fs::write(&source, b"queued, not stranded").unwrap();
    let manager = qmgr_rs::open(Some(&work.path().join("queue"))).unwrap();
    let group = manager.create_group(Guid::generate()).unwrap();
    group.set_prop(PropId::ProtocolFlags, PropValue::Int(protocol::SMB)).unwrap();
    let job = group.create_job(Guid::generate()).unwrap();
    let dest = work.path().join("copy.txt");
    job.add_files(&[FileSpec::new(format!("file://{}", source.display()), dest.display().to_string())]).unwrap();
    assert_eq!(group.take_runner_warning(), None, "no work yet: no runner asked for");

    group.resume().expect("a runner that cannot start does not fail ResumeGroup");
    let warning = group.take_runner_warning().expect("the failed start is reported");
    assert!(warning.contains("QMGR_BIN names /nonexistent/qmgr"), "{warning}");
    assert_eq!(job.take_runner_warning(), None, "reported once");
    assert!(!manager.dir().join("serve.log").exists(), "nothing was started");

    let (settled, word) = group.wait(Some(Duration::from_secs(30))).unwrap();
    assert!(settled && word & status::GROUP_COMPLETE != 0, "status {word:#x}");
    assert_eq!(std::fs::read(&dest).unwrap(), b"queued, not stranded");
}
