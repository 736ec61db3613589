//! Checksums and server digests end to end (DECISIONS D15), through the Rust API against the
//! hostile server: a right digest completes; a wrong one is a fatal `QMGR_E_BAD_DIGEST` with
//! no final file and no temporary file left; a resumed file, and a file whose checksum is set
//! after part of it was fetched (suspended, or still transferring), are checked over all their
//! bytes; the checksum survives a reopen of the queue; `Repr-Digest` / `Content-Digest` of a
//! `200`, and `Repr-Digest` of a ranged resume, are checked the same way.

#![forbid(unsafe_code)]

use std::time::Duration;

use qmgr_rs::hresult::QMGR_E_BAD_DIGEST;
use qmgr_rs::model::{status, to_hex, GroupState};
use qmgr_rs::{Group, Job};
use qmgr_tests::hostile::{assert_downloaded, pattern, wait_settled, HostileQueue, HostileServer, Resource, Step};
use qmgr_tests::wait_until;
use sha2::{Digest, Sha256, Sha512};

const LEN: usize = 400_000;
const CUT: usize = 150_000;
const DEADLINE: Duration = Duration::from_secs(30);

fn sha256_hex(data: &[u8]) -> String {
    to_hex(&Sha256::digest(data))
}

/// Waits for `group` to stop and checks the fatal digest error of `job`, whose one file is
/// `name`: ERROR, `QMGR_E_BAD_DIGEST`, transport result 0, a message with `words`; neither
/// `name` nor its temporary file left in the download directory.
fn assert_bad_digest(q: &HostileQueue, group: &Group, job: &Job, name: &str, server: &HostileServer, words: &[&str]) {
    let (state, word) = wait_settled(group, DEADLINE, || server.describe());
    assert_eq!((state, word), (GroupState::Error, 0x380), "{}", server.describe());
    let st = job.status().unwrap();
    assert_eq!((st.win32_result, st.transport_result), (QMGR_E_BAD_DIGEST as u32, 0), "{st:?}");
    assert_ne!(st.status & status::JOB_ERROR, 0);
    let message = job.error_message().unwrap().expect("an error message");
    for w in words {
        assert!(message.contains(w), "{message:?} lacks {w:?}");
    }
    let temp = format!(".{name}.");
    let left = || q.listing().into_iter().filter(|n| n == name || n.starts_with(&temp)).collect::<Vec<_>>();
    assert!(
        wait_until(Duration::from_secs(10), || left().is_empty()),
        "files left after a digest mismatch: {:?}",
        left()
    );
    assert_eq!(job.file_progress(0).unwrap().0, 0, "the file starts from zero next time");
}

/// A resource (seeded by `seed`) served at `/f` that stalls after [`CUT`] bytes the first time
/// and is served whole (or from the range asked) after that, and a queue.
fn stalling_file(seed: u64) -> (Resource, HostileServer, HostileQueue) {
    let res = Resource::new(pattern(LEN, seed)).etag(&format!("\"d{seed}\""));
    let server = HostileServer::start();
    server.script("/f", vec![Step::serve(&res).stall_after(CUT), Step::serve(&res)]);
    (res, server, HostileQueue::open(&[]))
}

/// The requests to `path` once the server has recorded its answer to each (it records an
/// answer after writing it: the client may have read it first).
fn answered(server: &HostileServer, path: &str) -> Vec<qmgr_tests::hostile::Request> {
    let done = || server.requests_to(path).iter().all(|r| r.status != 0);
    assert!(wait_until(Duration::from_secs(10), done), "{}", server.describe());
    server.requests_to(path)
}

/// Waits for the outcome a checksum `hex` of `res` calls for: COMPLETE with the file when
/// `right`, else the fatal digest error naming `hex` and the actual digest.
fn assert_outcome(
    right: bool,
    q: &HostileQueue,
    group: &Group,
    job: &Job,
    res: &Resource,
    server: &HostileServer,
    hex: &str,
) {
    if right {
        assert_downloaded(q, group, job, "f.bin", &res.body, server);
    } else {
        assert_bad_digest(q, group, job, "f.bin", server, &[hex, &sha256_hex(&res.body)]);
    }
}

/// Waits until `job` holds exactly `bytes` of its file (a stalled server), then suspends.
fn suspend_at(group: &Group, job: &Job, bytes: usize, server: &HostileServer) {
    assert!(
        wait_until(Duration::from_secs(10), || job.file_progress(0).unwrap().0 == bytes as u64),
        "{}",
        server.describe()
    );
    group.suspend().unwrap();
    assert_eq!(group.wait(Some(Duration::ZERO)).unwrap(), (true, 0x180));
}

#[test]
fn a_right_checksum_completes_and_a_wrong_one_is_a_fatal_bad_digest() {
    let res = Resource::new(pattern(LEN, 1)).etag("\"d1\"");
    let server = HostileServer::start();
    server.script("/f", vec![Step::serve(&res)]);
    let q = HostileQueue::open(&[]);
    let (group, job) = q.group(&[(&server.url("/f"), "f.bin")]);
    job.set_file_checksum(0, "SHA-512", &to_hex(&Sha512::digest(&res.body[..])).to_uppercase()).unwrap();
    group.resume().unwrap();
    assert_downloaded(&q, &group, &job, "f.bin", &res.body, &server);

    let (group, job) = q.group(&[(&server.url("/f"), "g.bin")]);
    let wrong = "ab".repeat(32);
    job.set_file_checksum(0, "sha-256", &wrong).unwrap();
    group.resume().unwrap();
    assert_bad_digest(&q, &group, &job, "g.bin", &server, &["sha-256 digest of", &wrong, &sha256_hex(&res.body)]);
    assert_eq!(q.listing(), ["f.bin"]);
}

/// A file interrupted half-way and resumed: the transport hashes the bytes it kept, then the
/// rest; the right checksum completes, a wrong one fails — after the resume, over all bytes.
#[test]
fn a_resumed_file_is_checked_over_all_its_bytes() {
    for right in [true, false] {
        let (res, server, q) = stalling_file(2);
        let (group, job) = q.group(&[(&server.url("/f"), "f.bin")]);
        let hex = if right { sha256_hex(&res.body) } else { "0".repeat(64) };
        job.set_file_checksum(0, "sha-256", &hex).unwrap();
        group.resume().unwrap();
        suspend_at(&group, &job, CUT, &server);
        group.resume().unwrap();
        assert_outcome(right, &q, &group, &job, &res, &server, &hex);
        let reqs = answered(&server, "/f");
        assert_eq!(reqs.len(), 2, "{}", server.describe());
        assert_eq!((reqs[1].range_start(), reqs[1].status), (Some(CUT as u64), 206), "resumed, not restarted");
    }
}

/// A checksum set while the group is suspended with part of the file held: the resume hashes
/// the held bytes first.
#[test]
fn a_checksum_set_after_part_of_the_file_was_fetched_is_checked() {
    for right in [true, false] {
        let (res, server, q) = stalling_file(3);
        let (group, job) = q.start(&[(&server.url("/f"), "f.bin")]);
        suspend_at(&group, &job, CUT, &server);
        let hex = if right { sha256_hex(&res.body) } else { sha256_hex(&res.body[..CUT]) };
        job.set_file_checksum(0, "sha-256", &hex).unwrap();
        group.resume().unwrap();
        assert_outcome(right, &q, &group, &job, &res, &server, &hex);
        assert_eq!(server.requests_to("/f")[1].range_start(), Some(CUT as u64), "{}", server.describe());
    }
}

/// A checksum set while the file is being transferred: the transfer runs to its end, then
/// the file is fetched again from its end (HTTP 416: nothing more to send) and its bytes are
/// hashed from disk before the commit.
#[test]
fn a_checksum_set_during_the_transfer_is_checked_before_the_commit() {
    for right in [true, false] {
        let res = Resource::new(pattern(200_000, 4)).etag("\"d4\"");
        let server = HostileServer::start();
        // About 2 s: time enough to set the checksum while it runs.
        server.script("/f", vec![Step::serve(&res).trickle(2_000, Duration::from_millis(20)), Step::serve(&res)]);
        let q = HostileQueue::open(&[]);
        let (group, job) = q.start(&[(&server.url("/f"), "f.bin")]);
        assert!(
            wait_until(Duration::from_secs(10), || job.file_progress(0).unwrap().0 >= 10_000),
            "{}",
            server.describe()
        );
        let hex = if right { sha256_hex(&res.body) } else { "f".repeat(64) };
        job.set_file_checksum(0, "sha-256", &hex).unwrap();
        assert_outcome(right, &q, &group, &job, &res, &server, &hex);
        let reqs = answered(&server, "/f");
        assert_eq!(reqs.len(), 2, "{}", server.describe());
        assert_eq!((reqs[0].status, reqs[0].body_sent), (200, res.len() as u64));
        assert_eq!((reqs[1].range_start(), reqs[1].status), (Some(res.len() as u64), 416), "only the end is asked");
    }
}

#[test]
fn the_checksum_survives_a_reopen_of_the_queue() {
    let (_res, server, q) = stalling_file(5);
    let (group, job) = q.group(&[(&server.url("/f"), "f.bin")]);
    let wrong = "12".repeat(32);
    job.set_file_checksum(0, "sha-256", &wrong).unwrap();
    group.resume().unwrap();
    suspend_at(&group, &job, CUT, &server);
    let (gid, jid) = (group.id(), job.id());
    drop((group, job));
    let q = q.reopen();
    let group = q.manager.get_group(gid).unwrap();
    let job = group.get_job(jid).unwrap();
    let snapshot = group.snapshot().unwrap();
    assert_eq!(snapshot.jobs[0].files[0].checksum.as_ref().map(|c| c.hex()), Some(wrong.clone()));
    assert_eq!(snapshot.jobs[0].files[0].bytes_done, CUT as u64);
    group.resume().unwrap();
    assert_bad_digest(&q, &group, &job, "f.bin", &server, &[&wrong]);
}

/// `Repr-Digest` and `Content-Digest` of a whole answer: right ones complete, a wrong one is
/// the same fatal error, naming the header.
#[test]
fn server_digests_of_a_whole_answer_are_checked() {
    let res = Resource::new(pattern(LEN, 6)).etag("\"d6\"");
    let server = HostileServer::start();
    server.script("/right", vec![Step::serve(&res).repr_digest_of("sha-256", true).content_digest_of("sha-512", true)]);
    server.script("/repr", vec![Step::serve(&res).repr_digest_of("sha-512", false)]);
    server.script(
        "/content",
        vec![Step::serve(&res).repr_digest_of("sha-256", true).content_digest_of("sha-256", false)],
    );
    let q = HostileQueue::open(&[]);
    let (group, job) = q.start(&[(&server.url("/right"), "right.bin")]);
    assert_downloaded(&q, &group, &job, "right.bin", &res.body, &server);
    let (group, job) = q.start(&[(&server.url("/repr"), "repr.bin")]);
    assert_bad_digest(&q, &group, &job, "repr.bin", &server, &["sha-512 digest", "Repr-Digest"]);
    let (group, job) = q.start(&[(&server.url("/content"), "content.bin")]);
    assert_bad_digest(
        &q,
        &group,
        &job,
        "content.bin",
        &server,
        &["sha-256 digest", "Content-Digest", &sha256_hex(&res.body)],
    );
}

/// A ranged resume (`206`) is checked against its `Repr-Digest` (the whole file: kept bytes
/// plus new ones); its `Content-Digest` (only the part sent) is not used.
#[test]
fn a_ranged_resume_is_checked_against_its_repr_digest() {
    let cases = [
        (Step::repr_digest_of as fn(Step, &'static str, bool) -> Step, true, true),
        (Step::repr_digest_of, false, false),
        (Step::content_digest_of, true, true),
        (Step::content_digest_of, false, true),
    ];
    for (header, right, completes) in cases {
        let res = Resource::new(pattern(LEN, 7)).etag("\"d7\"");
        let server = HostileServer::start();
        server.script("/f", vec![Step::serve(&res).stall_after(CUT), header(Step::serve(&res), "sha-256", right)]);
        let q = HostileQueue::open(&[]);
        let (group, job) = q.start(&[(&server.url("/f"), "f.bin")]);
        suspend_at(&group, &job, CUT, &server);
        group.resume().unwrap();
        if completes {
            assert_downloaded(&q, &group, &job, "f.bin", &res.body, &server);
        } else {
            assert_bad_digest(&q, &group, &job, "f.bin", &server, &["Repr-Digest", &sha256_hex(&res.body)]);
        }
        assert_eq!(answered(&server, "/f")[1].status, 206, "{}", server.describe());
    }
}
