//! Segmented downloads (DECISIONS D16, issue #17) through the Rust API against
//! `qmgr_tests::range_server`, a correct origin that paces each answer on its own — so each
//! connection, like a server that caps every connection — and counts what it sends by offset:
//!
//! * a large file is fetched as the pieces `qmgr_core::rules::segments::plan` gives for what
//!   its opening answer left after streaming alone for `rules::segments::PROBE`, over as many
//!   connections (one opening `GET`, then one `Range: bytes=S-E` with `If-Range` per other
//!   piece), each byte sent once, faster than one connection could;
//! * a file whose version changes while its pieces run (new bytes, new ETag) restarts from zero
//!   and ends as the new version; so does one that changed while its group was suspended;
//! * a suspended file keeps the ranges it holds (in the store, and as its progress), and its
//!   resume asks only for the gaps;
//! * one request, as before D16, with `max_connections_per_group` 1, for a file too small to
//!   split, and from a server without ranges or without validators.
//!
//! The tests take turns: each paces tens of MiB, and the figure of the first is a duration.

#![forbid(unsafe_code)]

use qmgr_rs::model::{temp_path_for, GroupState, HeldRanges};
use qmgr_rs::rules::segments::{plan, MIN_PIECE};
use qmgr_rs::{FileSpec, Group, Guid, Job, Manager};
use qmgr_tests::pieces::plans_after_probe;
use qmgr_tests::range_server::{RangeServer, Resource, Served};
use qmgr_tests::{stored_held, wait_until};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The large file, and the rate each answer is paced at: one connection would take 10 s.
const SIZE: u64 = 40 << 20;
const RATE: u64 = 4 << 20;
/// Option `max_connections_per_group` (its default).
const CONNECTIONS: usize = 6;
/// Bytes one connection may have in flight when its transfer stops (sent by the server, not
/// yet written by the client): the transport's read-ahead (`qmgr_net::READ_AHEAD`), what the
/// socket buffers hold, and what arrives at `RATE` while the stop is noticed (D11: within
/// 100 ms).
const IN_FLIGHT: u64 = qmgr_net::READ_AHEAD as u64 + RATE / 10 + (512 << 10);
const SETTLE: Duration = Duration::from_secs(120);

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// `len` bytes of a sequence that does not repeat within a file (SplitMix64 of `seed`).
fn body(len: u64, seed: u64) -> Vec<u8> {
    let mut state = seed;
    let mut v = Vec::with_capacity(len as usize + 8);
    while (v.len() as u64) < len {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        v.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    v.truncate(len as usize);
    v
}

/// A queue in `dir` whose groups may use `connections` connections.
fn open(dir: &Path, connections: usize) -> Manager {
    let m = qmgr_rs::open(Some(&dir.join("queue"))).unwrap();
    m.set_option("max_connections_per_group", &connections.to_string()).unwrap();
    m
}

/// A running foreground group (not held back by the idle-mode limiter) with one job fetching
/// `url` to `dest`.
fn start(m: &Manager, url: &str, dest: &Path) -> (Group, Job) {
    let group = m.create_group(Guid::generate()).unwrap();
    let job = group.create_job(Guid::generate()).unwrap();
    job.add_files(&[FileSpec::new(url, dest.to_str().unwrap())]).unwrap();
    group.switch_to_foreground().unwrap();
    group.resume().unwrap();
    (group, job)
}

fn settle(group: &Group) -> GroupState {
    let (settled, word) = group.wait(Some(SETTLE)).unwrap();
    assert!(settled, "still running after {SETTLE:?} (status {word:#x})");
    group.state().unwrap()
}

/// The answers for `path`, in the order their heads were sent.
fn answers(server: &RangeServer, path: &str) -> Vec<Served> {
    server.served().into_iter().filter(|s| s.path == path).collect()
}

/// The byte range `[start, end)` a ranged answer was asked for (end past the file clamped).
fn asked(s: &Served, total: u64) -> (u64, u64) {
    (s.range_start.unwrap_or(0), s.range_end.map_or(total, |e| (e + 1).min(total)))
}

/// Checks the requests of a file fetched in pieces from `held`: after the opening answer (the
/// caller checks it: its body serves the first piece), one bounded range per other piece,
/// naming `etag` in `If-Range` and answered with `206`; together they ask for exactly the
/// core's plan, each on a connection of its own. The plan is `plan(total, held, CONNECTIONS)`
/// for ranges held; from a prefix the opening answer streams alone first
/// (`rules::segments::probe`) and the plan is that of the rest, from where it stood.
fn assert_pieces(served: &[Served], total: u64, held: &HeldRanges, etag: &str) {
    let mut ranges: Vec<(u64, u64)> = served[1..]
        .iter()
        .map(|s| {
            assert_eq!((s.status, s.if_range.as_deref()), (206, Some(etag)), "{s:?}");
            assert!(s.range_end.is_some(), "a bounded range: {s:?}");
            asked(s, total)
        })
        .collect();
    ranges.sort_unstable();
    let pieces = if held.is_prefix() {
        let first = ranges.first().unwrap_or_else(|| panic!("no range after the opening: {served:#?}")).0;
        plans_after_probe(total, held.end(), first, CONNECTIONS)
            .into_iter()
            .find(|plan| plan[1..] == ranges[..])
            .unwrap_or_else(|| panic!("the ranges {ranges:?} are no plan of the rest after the stream"))
    } else {
        plan(total, held, CONNECTIONS)
    };
    assert_eq!(served.len(), pieces.len(), "one answer per piece of {pieces:?}: {served:#?}");
    assert_eq!(ranges, pieces[1..], "the other pieces, each asked for once");
    let mut connections: Vec<u64> = served.iter().map(|s| s.connection).collect();
    connections.sort_unstable();
    connections.dedup();
    assert_eq!(connections.len(), pieces.len(), "one connection per piece: {served:#?}");
}

fn mib(n: u64) -> String {
    format!("{:.2} MiB", n as f64 / (1 << 20) as f64)
}

#[test]
fn a_large_file_comes_in_pieces_over_several_connections_each_byte_once() {
    let _serial = serial();
    let server = RangeServer::start();
    let res = Resource::new(body(SIZE, 1)).rate(RATE);
    server.add("/f", res.clone());
    let work = tempfile::tempdir().unwrap();
    let m = open(work.path(), CONNECTIONS);
    let dest = work.path().join("f.bin");
    let began = Instant::now();
    let (group, job) = start(&m, &server.url("/f"), &dest);
    assert_eq!(settle(&group), GroupState::Complete);
    let took = began.elapsed();
    assert!(std::fs::read(&dest).unwrap() == res.body(), "byte-exact");
    assert_eq!(job.file_progress(0).unwrap(), (SIZE, SIZE, true));

    let pieces = plan(SIZE, &HeldRanges::new(), CONNECTIONS);
    assert_eq!(pieces.len(), CONNECTIONS, "a file this large uses every connection: {pieces:?}");
    let served = answers(&server, "/f");
    // A new file: the opening is a plain GET, answered with the whole file.
    let opening = &served[0];
    assert_eq!((opening.status, opening.range_start, opening.if_range.as_deref()), (200, None, None), "{served:#?}");
    assert_pieces(&served, SIZE, &HeldRanges::new(), res.etag());
    // Every byte sent; only the opening answer is open-ended, and what it sent past its piece
    // before its connection closed is all that is sent twice.
    let stats = server.stats("/f");
    assert_eq!(stats.sent_ranges, HeldRanges::prefix(SIZE));
    assert!(stats.resent() <= IN_FLIGHT, "{} sent twice (limit {})", mib(stats.resent()), mib(IN_FLIGHT));
    // One connection would take SIZE / RATE; the longest piece alone takes its size / RATE.
    let one = Duration::from_secs_f64(SIZE as f64 / RATE as f64);
    let longest = pieces.iter().map(|&(s, e)| e - s).max().unwrap();
    eprintln!(
        "{} in {} pieces (longest {}) at {} per connection: {:.2} s (one connection: {:.1} s), {} sent twice",
        mib(SIZE),
        pieces.len(),
        mib(longest),
        mib(RATE),
        took.as_secs_f64(),
        one.as_secs_f64(),
        mib(stats.resent())
    );
    assert!(took < one / 2, "took {took:?}: no faster than one connection ({one:?})");
}

#[test]
fn a_file_that_changes_while_its_pieces_run_restarts_from_zero_as_the_new_version() {
    let _serial = serial();
    let server = RangeServer::start();
    let old = Resource::new(body(SIZE, 2)).rate(RATE);
    // Shorter: nothing of the old version may stay at the end of the temporary file.
    let new_size = SIZE - 3 * MIN_PIECE / 2 - 7;
    let new = Resource::new(body(new_size, 3)).rate(RATE);
    server.add("/f", old.clone());
    // The opening answer and the first two ranges come from the old version; the ranges asked
    // for after them find the new one, whose ETag their If-Range does not name.
    server.replace_after("/f", 3, new.clone());
    let work = tempfile::tempdir().unwrap();
    let m = open(work.path(), CONNECTIONS);
    let dest = work.path().join("f.bin");
    let (group, job) = start(&m, &server.url("/f"), &dest);
    assert_eq!(settle(&group), GroupState::Complete);
    let got = std::fs::read(&dest).unwrap();
    assert!(got.len() == new.body().len() && got == new.body(), "the new version, whole ({} bytes)", got.len());
    assert_eq!(job.file_progress(0).unwrap(), (new_size, new_size, true));

    let served = answers(&server, "/f");
    let old_ranges: Vec<&Served> = served.iter().filter(|s| s.if_range.as_deref() == Some(old.etag())).collect();
    assert!(
        old_ranges.iter().any(|s| s.status == 200),
        "a range of the old version was answered with the whole new file (If-Range failed): {served:#?}"
    );
    assert!(old_ranges.iter().all(|s| s.status == 200 || s.status == 206), "{served:#?}");
    // The restart: a plain GET of the new version, then its pieces, each naming the new ETag.
    let restart = served.iter().skip(1).position(|s| s.if_range.is_none()).expect("a restart from zero") + 1;
    let again: Vec<Served> =
        served[restart..].iter().filter(|s| s.if_range.as_deref() != Some(old.etag())).cloned().collect();
    assert_eq!((again[0].range_start, again[0].status), (None, 200), "{served:#?}");
    assert_pieces(&again, new_size, &HeldRanges::new(), new.etag());
    eprintln!("answers: {} ({} naming the old version), restart at answer {restart}", served.len(), old_ranges.len());
}

/// A large file fetched in part, then suspended.
struct Suspended {
    server: RangeServer,
    /// What the server serves at `/f`.
    res: Resource,
    /// Holds the queue (`queue`) and the destination `f.bin`.
    work: tempfile::TempDir,
    dest: PathBuf,
    group: Guid,
    job: Guid,
}

/// Serves a large file of the bytes of `seed` at `/f`, starts it on a fresh queue, lets its
/// pieces run until `sent` bytes have been sent, suspends it and closes the queue (which waits
/// for the transfer to stop and checkpoint).
fn fetch_part_then_suspend(seed: u64, sent: u64) -> Suspended {
    let server = RangeServer::start();
    let res = Resource::new(body(SIZE, seed)).rate(RATE);
    server.add("/f", res.clone());
    let work = tempfile::tempdir().unwrap();
    let dest = work.path().join("f.bin");
    let m = open(work.path(), CONNECTIONS);
    let (group, job) = start(&m, &server.url("/f"), &dest);
    let running = wait_until(SETTLE, || server.stats("/f").sent >= sent);
    assert!(running, "sent {} of {}", server.stats("/f").sent, sent);
    group.suspend().unwrap();
    assert_eq!(settle(&group), GroupState::Suspended);
    let (group, job) = (group.id(), job.id());
    Suspended { server, res, work, dest, group, job }
}

#[test]
fn a_suspended_file_keeps_its_ranges_and_its_resume_asks_only_for_the_gaps() {
    let _serial = serial();
    // About a second into six pieces: each holds part of its range.
    let Suspended { server, res, work, dest, group: group_id, job: job_id } = fetch_part_then_suspend(4, 4 * RATE);
    let before = server.stats("/f");

    // The store holds several ranges, which the temporary file holds as sent.
    let held = stored_held(&work.path().join("queue"), "/f");
    assert!(held.ranges().len() > 1, "a file fetched in pieces checkpoints its ranges: {held}");
    let temp = std::fs::read(temp_path_for(dest.to_str().unwrap(), job_id, 0)).unwrap();
    for &(s, e) in held.ranges() {
        assert!(temp[s as usize..e as usize] == res.body()[s as usize..e as usize], "range {s}-{e} as sent");
        let mut within = before.sent_ranges.clone();
        within.add(s, e);
        assert_eq!(within, before.sent_ranges, "range {s}-{e} held but never sent");
    }
    // In flight when the pieces stopped: sent, not held.
    let lost = before.sent_ranges.total() - held.total();
    let connections = plan(SIZE, &HeldRanges::new(), CONNECTIONS).len() as u64;
    assert!(lost <= connections * IN_FLIGHT, "{} sent but not held (limit {})", mib(lost), mib(IN_FLIGHT));

    // A later process: the API shows the bytes held; the resume asks for the gaps only.
    server.set_epoch(1);
    let m = open(work.path(), CONNECTIONS);
    let group = m.get_group(group_id).unwrap();
    let job = group.get_job(job_id).unwrap();
    assert_eq!(job.file_progress(0).unwrap(), (held.total(), SIZE, false));
    group.resume().unwrap();
    assert_eq!(settle(&group), GroupState::Complete);
    assert!(std::fs::read(&dest).unwrap() == res.body(), "byte-exact");
    let resumed: Vec<Served> = answers(&server, "/f").into_iter().filter(|s| s.epoch == 1).collect();
    for s in &resumed {
        let start = s.range_start.expect("every request of the resume is ranged");
        assert!(!held.ranges().iter().any(|&(hs, he)| (hs..he).contains(&start)), "{s:?} starts in a held range");
    }
    // The opening asks for the first gap (up to the next range held, if any), answered 206.
    let gap = held.gaps(SIZE)[0];
    let opening = &resumed[0];
    assert_eq!((opening.status, opening.if_range.as_deref()), (206, Some(res.etag())), "{resumed:?}");
    assert_eq!(opening.range_start, Some(gap.0), "{opening:?}");
    assert_eq!(opening.range_end, (gap.1 < SIZE).then(|| gap.1 - 1), "{opening:?}");
    assert_pieces(&resumed, SIZE, &held, res.etag());
    // Sent again: the bytes that were in flight at the suspend, and what the opening answer
    // (open-ended) sent past its piece before its connection closed.
    let after = server.stats("/f");
    let again = after.resent_by_epoch.get(&1).copied().unwrap_or(0);
    assert_eq!(after.resent_by_epoch.get(&0), None, "nothing sent twice before the suspend: {after:?}");
    assert!(
        again <= lost + IN_FLIGHT,
        "{} sent again; {} was in flight at the suspend (limit {})",
        mib(again),
        mib(lost),
        mib(lost + IN_FLIGHT)
    );
    eprintln!(
        "suspended holding {} in {} ranges; {} in flight at the suspend ({} connections), {} sent again; \
         the resume asked for {} pieces",
        mib(held.total()),
        held.ranges().len(),
        mib(lost),
        connections,
        mib(again),
        resumed.len()
    );
}

#[test]
fn a_file_that_changed_while_suspended_restarts_from_zero_in_pieces() {
    let _serial = serial();
    // The pieces near the end of the file have written there: the temporary file is SIZE long.
    let Suspended { server, res: old, work, dest, group: group_id, job: job_id } = fetch_part_then_suspend(5, 3 * RATE);
    let new_size = SIZE / 2 + 5;
    let new = Resource::new(body(new_size, 6)).rate(RATE);
    server.add("/f", new.clone());
    server.set_epoch(1);
    let m = open(work.path(), CONNECTIONS);
    let group = m.get_group(group_id).unwrap();
    group.resume().unwrap();
    assert_eq!(settle(&group), GroupState::Complete);
    let got = std::fs::read(&dest).unwrap();
    assert!(got.len() == new.body().len() && got == new.body(), "the new version, whole ({} bytes)", got.len());
    assert_eq!(group.get_job(job_id).unwrap().file_progress(0).unwrap(), (new_size, new_size, true));
    let resumed: Vec<Served> = answers(&server, "/f").into_iter().filter(|s| s.epoch == 1).collect();
    // The resume names the old version; the server answers with the whole new file, which is
    // fetched in pieces from zero.
    let opening = &resumed[0];
    assert_eq!((opening.status, opening.if_range.as_deref()), (200, Some(old.etag())), "{resumed:#?}");
    assert!(opening.range_start.is_some_and(|s| s > 0), "{resumed:#?}");
    assert_pieces(&resumed, new_size, &HeldRanges::new(), new.etag());
}

#[test]
fn one_connection_fetches_a_large_file_in_one_request() {
    let _serial = serial();
    let server = RangeServer::start();
    let res = Resource::new(body(SIZE, 7));
    server.add("/f", res.clone());
    let work = tempfile::tempdir().unwrap();
    let m = open(work.path(), 1);
    let dest = work.path().join("f.bin");
    let (group, _job) = start(&m, &server.url("/f"), &dest);
    assert_eq!(settle(&group), GroupState::Complete);
    assert!(std::fs::read(&dest).unwrap() == res.body(), "byte-exact");
    let served = answers(&server, "/f");
    assert_eq!(served.len(), 1, "{served:#?}");
    assert_eq!((served[0].status, served[0].range_start, served[0].range_end), (200, None, None));
    assert_eq!((server.stats("/f").sent, server.stats("/f").resent()), (SIZE, 0));
}

#[test]
fn files_that_cannot_be_split_come_in_one_request() {
    let _serial = serial();
    let server = RangeServer::start();
    // Halves of this one would be smaller than the smallest piece.
    let small = Resource::new(body(2 * MIN_PIECE - 1, 8));
    let big = 4 * MIN_PIECE;
    let no_ranges = Resource::new(body(big, 9)).no_ranges();
    let no_validators = Resource::new(body(big, 10)).no_validators();
    let cases = [("/small", &small), ("/no-ranges", &no_ranges), ("/no-validators", &no_validators)];
    for (path, res) in cases {
        server.add(path, res.clone());
    }
    let work = tempfile::tempdir().unwrap();
    let m = open(work.path(), CONNECTIONS);
    // Side by side, one group each: every group may use every connection.
    let groups: Vec<(Group, Job)> =
        cases.iter().map(|(path, _)| start(&m, &server.url(path), &work.path().join(&path[1..]))).collect();
    for ((path, res), (group, _)) in cases.iter().zip(&groups) {
        assert_eq!(settle(group), GroupState::Complete, "{path}");
        assert!(std::fs::read(work.path().join(&path[1..])).unwrap() == res.body(), "{path}: byte-exact");
        let served = answers(&server, path);
        assert_eq!(served.len(), 1, "{path}: one request: {served:#?}");
        assert_eq!((served[0].status, served[0].range_start), (200, None), "{path}");
    }
}
