//! DECISIONS D10: callbacks fire in the process that registered them, whichever process runs
//! the transfer. Two managers on one queue directory stand for two processes: the first holds
//! the transfer lock (the queue's `flock` is per open file, so the second cannot take it), the
//! second registers the callback and only follows the store.
use qmgr_core::model::{notify, progress, protocol, status, Options, PropId, PropValue};
use qmgr_core::{Callback, FileSpec, Group, Guid, HResult, Job, Manager};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn open(dir: &std::path::Path) -> Manager {
    let store = qmgr_store::SqliteStore::open(dir).unwrap();
    let transport = qmgr_net::NetTransport::new(&Options::default()).unwrap();
    Manager::open(dir, Box::new(store), Arc::new(transport)).unwrap()
}

#[derive(Default)]
struct Seen(Mutex<Vec<String>>);

impl Callback for Seen {
    fn on_status(&self, _: &Group, job: Option<&Job>, file: u32, word: u32, _: u32, _: u32, _: u32) -> HResult {
        let what = if word & status::FILE_COMPLETE != 0 {
            format!("file {file}")
        } else if word & status::JOB_COMPLETE != 0 {
            "job".to_string()
        } else if word & status::GROUP_COMPLETE != 0 {
            format!("group (job given: {})", job.is_some())
        } else {
            format!("status {word:#x}")
        };
        self.0.lock().unwrap().push(what);
        qmgr_core::hresult::S_OK
    }

    fn on_progress(&self, kind: u32, _: &Group, job: Option<&Job>, _: u32, value: u32) -> HResult {
        self.0.lock().unwrap().push(format!("progress {kind} {value} (job given: {})", job.is_some()));
        qmgr_core::hresult::S_OK
    }
}

#[test]
fn a_process_that_does_not_transfer_gets_its_callbacks() {
    let work = tempfile::tempdir().unwrap();
    let queue = work.path().join("queue");
    let holder = open(&queue);
    assert!(holder.is_transferring_process());
    let follower = open(&queue);
    assert!(!follower.is_transferring_process(), "the first manager holds the transfer lock");

    let sources: Vec<_> = (0..2)
        .map(|i| {
            let p = work.path().join(format!("source{i}.bin"));
            std::fs::write(&p, vec![i as u8; 300_000]).unwrap();
            p
        })
        .collect();
    let group = follower.create_group(Guid::generate()).unwrap();
    group.set_prop(PropId::ProtocolFlags, PropValue::Int(protocol::SMB)).unwrap();
    let flags = notify::FILE_DONE | notify::JOB_DONE | notify::GROUP_DONE;
    group.set_prop(PropId::NotifyFlags, PropValue::Int(flags)).unwrap();
    group.set_prop(PropId::ProgressPercent, PropValue::Int(50)).unwrap();
    let seen = Arc::new(Seen::default());
    group.set_callback(Some(seen.clone())).unwrap();
    let job = group.create_job(Guid::generate()).unwrap();
    let files: Vec<FileSpec> = sources
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let dest = work.path().join(format!("copy{i}.bin"));
            FileSpec::new(format!("file://{}", p.display()), dest.display().to_string())
        })
        .collect();
    job.add_files(&files).unwrap();
    group.resume().unwrap();

    let deadline = Instant::now() + Duration::from_secs(20);
    while !seen.0.lock().unwrap().iter().any(|e| e.starts_with("group")) {
        assert!(Instant::now() < deadline, "no GROUP_DONE in the follower: {:?}", seen.0.lock().unwrap());
        std::thread::sleep(Duration::from_millis(10));
    }
    let events = seen.0.lock().unwrap().clone();
    for want in ["file 0", "file 1", "job", "group (job given: false)"] {
        assert!(events.iter().any(|e| e == want), "{want} missing from {events:?}");
    }
    let percent = format!("progress {}", progress::PERCENT_DONE);
    assert!(events.iter().any(|e| e.starts_with(&percent)), "no percent notification in {events:?}");
    assert_eq!(std::fs::read(work.path().join("copy1.bin")).unwrap(), vec![1u8; 300_000]);
    assert!(holder.get_group(group.id()).is_ok(), "the holder ran it");
}
