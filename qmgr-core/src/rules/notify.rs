//! DECISIONS D7 and D11: which `OnStatus` events a change calls for, with which arguments,
//! how long each still holds, which replaces which, and the re-delivery back-off.

use super::progress::RECORD_LEN;
use crate::guid::Guid;
use crate::model::{notify, status, GroupState, JobError};
use std::time::{Duration, Instant};

/// Longest re-delivery back-off (DECISIONS D7: 1 s doubling to 10 min).
pub const MAX_BACKOFF: Duration = Duration::from_secs(600);
/// First re-delivery back-off (DECISIONS D7).
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);

/// What kind of `OnStatus` an event is (DECISIONS D1, D7, D11).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// Fatal error: valid while the group is in ERROR.
    Error,
    /// Group complete (`QM_NOTIFY_GROUP_DONE`): valid while the group is COMPLETE.
    GroupDone,
    /// Job complete (`QM_NOTIFY_JOB_DONE`).
    JobDone,
    /// File complete (`QM_NOTIFY_FILE_DONE`).
    FileDone,
}

/// A job as events name it: its GUID and the incarnation of that GUID in this process.
pub type JobRef = (Guid, u64);

/// One pending `OnStatus` call, with the arguments of DECISIONS D11.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusEvent {
    /// Order of the event among all of the manager's (assigned when queued).
    pub seq: u64,
    /// What happened.
    pub kind: EventKind,
    /// `pJob`: the job concerned, `None` for group completion.
    pub job: Option<JobRef>,
    /// `dwFileIndex`: the file concerned, `0xFFFFFFFF` when no single file is.
    pub file_index: u32,
    /// `dwStatus`: the group's status word plus the event's bit.
    pub status: u32,
    /// `dwNumOfRetries` of the job.
    pub retries: u32,
    /// `dwWin32Result` (errors only).
    pub win32: u32,
    /// `dwTransportResult` (errors only).
    pub transport: u32,
    /// Not before this instant (re-delivery back-off).
    pub next_at: Instant,
    /// Current re-delivery back-off.
    pub backoff: Duration,
}

/// One pending progress notification (`OnProgress` / `OnProgressEx`; DECISIONS D1, D9).
/// Best-effort: never re-delivered, dropped when nobody listens, and a newer one of the same
/// type replaces an undelivered older one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgressEvent {
    /// Order of the event among all of the manager's (assigned when queued).
    pub seq: u64,
    /// `QM_PROGRESS_*`.
    pub kind: u32,
    /// The job.
    pub job: JobRef,
    /// The file being transferred.
    pub file_index: u32,
    /// The job's progress in the unit of `kind`.
    pub value: u32,
    /// The D9 record for the job.
    pub record: [u8; RECORD_LEN],
}

impl StatusEvent {
    /// A new event, deliverable from `now` (its `seq` is assigned when it is queued).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        now: Instant,
        kind: EventKind,
        job: Option<JobRef>,
        file_index: u32,
        status: u32,
        retries: u32,
        win32: u32,
        transport: u32,
    ) -> StatusEvent {
        StatusEvent {
            seq: 0,
            kind,
            job,
            file_index,
            status,
            retries,
            win32,
            transport,
            next_at: now,
            backoff: FIRST_BACKOFF,
        }
    }

    /// True while the event still describes its group (DECISIONS D7: stale events are
    /// dropped): an error while in ERROR, group completion while COMPLETE and asked for, file
    /// and job completion while asked for.
    pub fn still_holds(&self, state: GroupState, flags: u32) -> bool {
        match self.kind {
            EventKind::Error => state == GroupState::Error,
            EventKind::GroupDone => state == GroupState::Complete && flags & notify::GROUP_DONE != 0,
            EventKind::JobDone => flags & notify::JOB_DONE != 0,
            EventKind::FileDone => flags & notify::FILE_DONE != 0,
        }
    }

    /// True when this newer event makes the pending `older` one pointless: a newer error or
    /// group completion replaces an older one of the same kind.
    pub fn replaces(&self, older: &StatusEvent) -> bool {
        matches!(self.kind, EventKind::Error | EventKind::GroupDone) && older.kind == self.kind
    }

    /// Records a callback's refusal (not `S_OK`) at `now`: delivered again after the back-off,
    /// which doubles up to [`MAX_BACKOFF`] (DECISIONS D7).
    pub fn defer(&mut self, now: Instant) {
        self.next_at = now + self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }
}

/// True when a group's notifications reach anyone: a callback is registered and
/// `QM_NOTIFY_DISABLE_NOTIFY` is off (DECISIONS D7).
pub fn listening(has_callback: bool, flags: u32) -> bool {
    has_callback && flags & notify::DISABLE_NOTIFY == 0
}

/// The completion events (DECISIONS D1, D11) owed when files of one job were committed:
/// `QM_NOTIFY_FILE_DONE` → one per file in `files_done` (that index, `QM_STATUS_FILE_COMPLETE`
/// plus the group word `word`); `QM_NOTIFY_JOB_DONE` → one for the job when it became complete
/// (`0xFFFFFFFF`, `QM_STATUS_JOB_COMPLETE` plus the group word). `retries` is the job's
/// `dwNumOfRetries`.
pub fn completion_events(
    now: Instant,
    flags: u32,
    word: u32,
    job: JobRef,
    retries: u32,
    files_done: &[u32],
    job_done: bool,
) -> Vec<StatusEvent> {
    let mut out = Vec::new();
    if flags & notify::FILE_DONE != 0 {
        out.extend(files_done.iter().map(|&index| {
            StatusEvent::new(now, EventKind::FileDone, Some(job), index, word | status::FILE_COMPLETE, retries, 0, 0)
        }));
    }
    if job_done && flags & notify::JOB_DONE != 0 {
        let word = word | status::JOB_COMPLETE;
        out.push(StatusEvent::new(now, EventKind::JobDone, Some(job), u32::MAX, word, retries, 0, 0));
    }
    out
}

/// The job at fault of a group in ERROR, as an error event names it: the job, its error and
/// its `dwNumOfRetries`.
pub type Failing<'a> = (JobRef, &'a JobError, u32);

/// The event a group's state calls for (DECISIONS D7, D11), if any: in ERROR, the error of
/// `failing` (its file index, `0xFFFFFFFF` when no single file is at fault; its Win32 and HTTP
/// results); in COMPLETE, group completion (`job` none, `0xFFFFFFFF`). `word` is the group's
/// status word.
pub fn state_event(now: Instant, state: GroupState, word: u32, failing: Option<Failing<'_>>) -> Option<StatusEvent> {
    match state {
        GroupState::Error => {
            let (job, e, retries) = failing?;
            let index = e.file_index.unwrap_or(u32::MAX);
            Some(StatusEvent::new(now, EventKind::Error, Some(job), index, word, retries, e.win32, e.transport))
        }
        GroupState::Complete => Some(StatusEvent::new(now, EventKind::GroupDone, None, u32::MAX, word, 0, 0, 0)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ErrorClass;
    use crate::model::GroupState::*;

    fn job() -> JobRef {
        (Guid::parse("69ad4aee-51be-439b-a92c-86ae490e8b30").unwrap(), 7)
    }

    #[test]
    fn completion_events_follow_the_flags() {
        let t = Instant::now();
        let all = notify::FILE_DONE | notify::JOB_DONE;
        let evs = completion_events(t, all, 0x080, job(), 3, &[0, 1], true);
        let got: Vec<_> = evs.iter().map(|e| (e.kind, e.file_index, e.status, e.retries, e.job)).collect();
        assert_eq!(
            got,
            [
                (EventKind::FileDone, 0, 0x081, 3, Some(job())),
                (EventKind::FileDone, 1, 0x081, 3, Some(job())),
                (EventKind::JobDone, u32::MAX, 0x084, 3, Some(job())),
            ]
        );
        assert!(completion_events(t, notify::FILE_DONE, 0x080, job(), 0, &[0], true)
            .iter()
            .all(|e| e.kind == EventKind::FileDone));
        assert_eq!(completion_events(t, notify::JOB_DONE, 0x080, job(), 0, &[0], false), []);
        assert_eq!(completion_events(t, notify::GROUP_DONE, 0x080, job(), 0, &[0], true), []);
    }

    #[test]
    fn state_events_per_d11() {
        let t = Instant::now();
        let e = JobError {
            class: ErrorClass::Fatal,
            win32: 0x8019_0194,
            transport: 404,
            file_index: Some(2),
            message: String::new(),
        };
        let ev = state_event(t, Error, 0x380, Some((job(), &e, 1))).unwrap();
        assert_eq!(
            (ev.kind, ev.job, ev.file_index, ev.status, ev.retries, ev.win32, ev.transport),
            (EventKind::Error, Some(job()), 2, 0x380, 1, 0x8019_0194, 404)
        );
        let whole = JobError { file_index: None, ..e.clone() };
        assert_eq!(state_event(t, Error, 0x380, Some((job(), &whole, 1))).unwrap().file_index, u32::MAX);
        let ev = state_event(t, Complete, 0x140, None).unwrap();
        assert_eq!((ev.kind, ev.job, ev.file_index, ev.status), (EventKind::GroupDone, None, u32::MAX, 0x140));
        assert_eq!(state_event(t, Running, 0x080, Some((job(), &e, 1))), None);
        assert_eq!(state_event(t, Error, 0x380, None), None);
    }

    #[test]
    fn events_hold_while_they_describe_the_group() {
        let t = Instant::now();
        let ev = |kind| StatusEvent::new(t, kind, None, 0, 0, 0, 0, 0);
        let rows = [
            (EventKind::Error, Error, 0, true),
            (EventKind::Error, Running, 0, false),
            (EventKind::GroupDone, Complete, notify::GROUP_DONE, true),
            (EventKind::GroupDone, Complete, 0, false),
            (EventKind::GroupDone, Running, notify::GROUP_DONE, false),
            (EventKind::JobDone, Running, notify::JOB_DONE, true),
            (EventKind::JobDone, Running, notify::FILE_DONE, false),
            (EventKind::FileDone, Suspended, notify::FILE_DONE, true),
            (EventKind::FileDone, Suspended, 0, false),
        ];
        for (kind, state, flags, holds) in rows {
            assert_eq!(ev(kind).still_holds(state, flags), holds, "{kind:?} {state:?} {flags:#x}");
        }
        assert!(ev(EventKind::Error).replaces(&ev(EventKind::Error)));
        assert!(ev(EventKind::GroupDone).replaces(&ev(EventKind::GroupDone)));
        assert!(!ev(EventKind::FileDone).replaces(&ev(EventKind::FileDone)));
        assert!(!ev(EventKind::Error).replaces(&ev(EventKind::GroupDone)));
        assert!(listening(true, notify::FILE_DONE) && !listening(false, 0) && !listening(true, notify::DISABLE_NOTIFY));
    }

    /// 1 s, 2 s, 4 s … capped at 10 min.
    #[test]
    fn redelivery_backoff_doubles_to_ten_minutes() {
        let t = Instant::now();
        let mut ev = StatusEvent::new(t, EventKind::Error, None, 0, 0, 0, 0, 0);
        let mut waits = Vec::new();
        for _ in 0..12 {
            ev.defer(t);
            waits.push((ev.next_at - t).as_secs());
        }
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600]);
    }
}
