//! After the last `Manager` drop returns, no thread of the library is left (issue #14, item
//! 7), even while a transfer's network helper was blocked reading a stalled answer: the
//! drop joins the engine's threads and shuts the transport down. The C counterpart (with
//! `dlclose`) is tests/c/lifetime.c.
//!
//! One test per binary: it counts the threads of the whole process by name.

use qmgr_core::{FileSpec, Guid};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

/// Threads of this process whose name starts with "qmgr".
fn library_threads() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|name| name.trim_end().to_string())
        .filter(|name| name.starts_with("qmgr"))
        .collect()
}

#[test]
fn dropping_the_last_manager_leaves_no_thread() {
    // A server that announces 10 MB, sends 100,000 bytes and then says nothing until the
    // client goes away.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/stalled", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut request = [0u8; 4096];
        let _ = s.read(&mut request);
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10000000\r\n\r\n").unwrap();
        s.write_all(&vec![7u8; 100_000]).unwrap();
        // Returns when the client shuts the connection down.
        let _ = s.read(&mut request);
    });

    let work = tempfile::tempdir().unwrap();
    let manager = qmgr_rs::open(Some(&work.path().join("queue"))).unwrap();
    let group = manager.create_group(Guid::generate()).unwrap();
    let job = group.create_job(Guid::generate()).unwrap();
    job.add_files(&[FileSpec::new(url, work.path().join("big").display().to_string())]).unwrap();
    group.resume().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while group.progress64().map(|p| p.0).unwrap_or(0) < 100_000 {
        assert!(Instant::now() < deadline, "the transfer did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(library_threads().iter().any(|t| t == "qmgr-net-http"), "{:?}", library_threads());

    drop((job, group));
    let started = Instant::now();
    drop(manager);
    let took = started.elapsed();
    assert_eq!(library_threads(), Vec::<String>::new(), "threads left after the last drop");
    assert!(took < Duration::from_secs(2), "the last drop took {took:?} (read timeout: 60 s)");
    server.join().unwrap();
}
