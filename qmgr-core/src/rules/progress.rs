//! DECISIONS D1 and D9: progress values (`GetProgress`), the `OnProgressEx` record, the job
//! index of `GetStatus`, and when a progress threshold (`GROUPPROP_PROGRESS*`) is crossed.

use crate::model::{progress, GroupProps};

/// Saturates a 64-bit count to a DWORD (`GetProgress`, `get_Size`: DECISIONS D1, D12).
pub fn sat32(v: u64) -> u32 {
    v.min(u32::MAX as u64) as u32
}

/// Percent of `done` in `total` (floor), 0 while the total is unknown or 0, 100 when
/// complete (DECISIONS D1; reference §2.2.3).
pub fn percent(done: u64, total: Option<u64>, complete: bool) -> u32 {
    if complete {
        return 100;
    }
    match total {
        Some(t) if t > 0 => ((done.min(t) as u128 * 100) / t as u128) as u32,
        _ => 0,
    }
}

/// How far a job or group has come, in the three `QM_PROGRESS_*` units, unsaturated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Amounts {
    /// Bytes done.
    pub bytes: u64,
    /// Percent done (see [`percent`]).
    pub percent: u32,
    /// Milliseconds of active transfer time.
    pub active_ms: u64,
}

impl Amounts {
    /// The amount in the unit `kind` (`QM_PROGRESS_*`), unsaturated: thresholds keep firing
    /// beyond 4 GiB and 49 days even though the reported value saturates.
    pub fn of(&self, kind: u32) -> u64 {
        match kind {
            progress::SIZE_DONE => self.bytes,
            progress::PERCENT_DONE => u64::from(self.percent),
            _ => self.active_ms,
        }
    }

    /// The value `GetProgress` and `OnProgress` report in the unit `kind`: percent, or bytes
    /// and milliseconds saturated at `0xFFFFFFFF` (DECISIONS D1).
    pub fn value(&self, kind: u32) -> u32 {
        match kind {
            progress::PERCENT_DONE => self.percent,
            _ => sat32(self.of(kind)),
        }
    }
}

/// The progress-notification kinds, in the order of [`Mark::thresholds`].
pub const KINDS: [u32; 3] = [progress::SIZE_DONE, progress::PERCENT_DONE, progress::TIME_DONE];

/// A look at a job's progress: the thresholds in force (size, percent, time; 0 = off) and the
/// amounts at that moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mark {
    /// `GROUPPROP_PROGRESSSIZE`, `PROGRESSPERCENT`, `PROGRESSTIME`, in the order of [`KINDS`].
    pub thresholds: [u32; 3],
    /// The job's progress.
    pub amounts: Amounts,
}

impl Mark {
    /// A look at `amounts` under the thresholds of `props`.
    pub fn new(props: &GroupProps, amounts: Amounts) -> Mark {
        Mark { thresholds: thresholds(props), amounts }
    }
}

/// The progress thresholds of `props`, in [`KINDS`] order.
pub fn thresholds(props: &GroupProps) -> [u32; 3] {
    [props.progress_size, props.progress_percent, props.progress_time]
}

/// The progress notifications (`QM_PROGRESS_*` kinds, in [`KINDS`] order) that going from
/// `before` to `after` calls for (DECISIONS D1 `GROUPPROP_PROGRESS*`): one per kind whose
/// threshold is on, unchanged between the looks, and whose multiple was crossed (the number of
/// whole thresholds grew). One notification however many multiples were crossed at once.
pub fn crossed(before: &Mark, after: &Mark) -> Vec<u32> {
    KINDS
        .iter()
        .zip(before.thresholds.iter().zip(after.thresholds))
        .filter(|(_, (&t0, t))| *t > 0 && t0 == *t)
        .filter(|(&kind, (_, t))| after.amounts.of(kind) / u64::from(*t) > before.amounts.of(kind) / u64::from(*t))
        .map(|(&kind, _)| kind)
        .collect()
}

/// Length of the version-1 `OnProgressEx` record (DECISIONS D9).
pub const RECORD_LEN: usize = 28;

/// The version-1 `OnProgressEx` record (DECISIONS D9): little-endian `u32 version (1),
/// u64 bytes_done, u64 bytes_total (u64::MAX while unknown), u32 files_done, u32 files_total`.
pub fn record(done: u64, total: Option<u64>, files_done: u32, files_total: u32) -> [u8; RECORD_LEN] {
    let mut r = [0u8; RECORD_LEN];
    r[0..4].copy_from_slice(&1u32.to_le_bytes());
    r[4..12].copy_from_slice(&done.to_le_bytes());
    r[12..20].copy_from_slice(&total.unwrap_or(u64::MAX).to_le_bytes());
    r[20..24].copy_from_slice(&files_done.to_le_bytes());
    r[24..28].copy_from_slice(&files_total.to_le_bytes());
    r
}

/// The `GetStatus` job index (DECISIONS D1): the first job that has files and is not
/// complete (jobs without files hold nothing to process); the last job's once every file is
/// done; 0 with no jobs. `jobs` yields (has files, complete) per job, in order.
pub fn job_index(jobs: impl ExactSizeIterator<Item = (bool, bool)>) -> u32 {
    let n = jobs.len();
    let mut jobs = jobs;
    jobs.position(|(has_files, complete)| has_files && !complete).unwrap_or(n.saturating_sub(1)) as u32
}

/// The file index that a job's progress notifications name (DECISIONS D1, D16): its first
/// file not done yet, else its last file; `u32::MAX` for a job without files. `done` yields,
/// per file in job order, whether it is complete (or handed to its commit). It never goes
/// backwards while files complete in job order, however many are fetched at once.
pub fn current_file(done: impl ExactSizeIterator<Item = bool>) -> u32 {
    let n = done.len();
    let mut done = done;
    match done.position(|d| !d) {
        Some(i) => i as u32,
        None => n.checked_sub(1).map_or(u32::MAX, |i| i as u32),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::progress::{PERCENT_DONE, SIZE_DONE, TIME_DONE};

    fn mark(thresholds: [u32; 3], bytes: u64, percent: u32, active_ms: u64) -> Mark {
        Mark { thresholds, amounts: Amounts { bytes, percent, active_ms } }
    }

    /// (before, after) → kinds notified.
    #[test]
    fn threshold_crossing() {
        let rows: [(Mark, Mark, &[u32]); 9] = [
            (mark([100, 0, 0], 99, 0, 0), mark([100, 0, 0], 100, 0, 0), &[SIZE_DONE]),
            (mark([100, 0, 0], 100, 0, 0), mark([100, 0, 0], 199, 0, 0), &[]),
            (mark([100, 0, 0], 0, 0, 0), mark([100, 0, 0], 1_000, 0, 0), &[SIZE_DONE]),
            (mark([0, 10, 0], 0, 9, 0), mark([0, 10, 0], 0, 10, 0), &[PERCENT_DONE]),
            (mark([0, 0, 500], 0, 0, 499), mark([0, 0, 500], 0, 0, 500), &[TIME_DONE]),
            (mark([1, 1, 1], 0, 0, 0), mark([1, 1, 1], 1, 1, 1), &[SIZE_DONE, PERCENT_DONE, TIME_DONE]),
            // A threshold changed (or switched on) between the looks: no notification yet.
            (mark([200, 0, 0], 99, 0, 0), mark([100, 0, 0], 100, 0, 0), &[]),
            (mark([0, 0, 0], 99, 0, 0), mark([100, 0, 0], 100, 0, 0), &[]),
            // Beyond 4 GiB the count goes on.
            (mark([1 << 30, 0, 0], 4 << 30, 0, 0), mark([1 << 30, 0, 0], 5 << 30, 0, 0), &[SIZE_DONE]),
        ];
        for (i, (before, after, want)) in rows.iter().enumerate() {
            assert_eq!(crossed(before, after), *want, "row {i}");
        }
    }

    #[test]
    fn values_saturate_and_percent_floors() {
        let a = Amounts { bytes: 5 << 32, percent: 42, active_ms: 7 };
        assert_eq!((a.value(SIZE_DONE), a.value(PERCENT_DONE), a.value(TIME_DONE)), (u32::MAX, 42, 7));
        assert_eq!(a.of(SIZE_DONE), 5 << 32);
        assert_eq!(percent(1, Some(3), false), 33);
        assert_eq!(percent(5, Some(3), false), 100);
        assert_eq!(percent(5, None, false), 0);
        assert_eq!(percent(0, Some(0), false), 0);
        assert_eq!(percent(0, None, true), 100);
    }

    #[test]
    fn record_layout() {
        let r = record(10, None, 1, 2);
        assert_eq!(&r[0..4], &1u32.to_le_bytes());
        assert_eq!(&r[4..12], &10u64.to_le_bytes());
        assert_eq!(&r[12..20], &u64::MAX.to_le_bytes());
        assert_eq!(&r[20..28], &[1, 0, 0, 0, 2, 0, 0, 0]);
    }

    #[test]
    fn current_file_is_the_first_not_done() {
        let rows: [(&[bool], u32); 5] =
            [(&[], u32::MAX), (&[false, false], 0), (&[true, false, true], 1), (&[true, true], 1), (&[true], 0)];
        for (done, want) in rows {
            assert_eq!(current_file(done.iter().copied()), want, "{done:?}");
        }
    }

    #[test]
    fn job_index_skips_empty_and_done_jobs() {
        assert_eq!(job_index([].into_iter()), 0);
        assert_eq!(job_index([(true, true), (false, false), (true, false)].into_iter()), 2);
        assert_eq!(job_index([(true, true), (true, true)].into_iter()), 1);
        assert_eq!(job_index([(false, false)].into_iter()), 0);
    }
}
