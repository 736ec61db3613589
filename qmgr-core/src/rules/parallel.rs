//! DECISIONS D16 "Several connections for one group, BITS order kept": which files of a
//! group's current job start, which fetched file may go to its commit, which transfers stop,
//! and when a failure is reported — so that up to `max_connections_per_group` files are
//! fetched at once while a program still sees BITS's order (final names and `FILE_DONE` in
//! job order, one error at the first failing file in job order).
//!
//! The current job is the first job of the group with a file that is neither committed nor
//! handed to the committer (files of later jobs wait for it, as in BITS); the worker passes
//! that job's files here, in job order.

/// Where one file of the current job stands, as the group's worker sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileState {
    /// Complete: committed and recorded.
    Done,
    /// Handed to the committer, not recorded as complete yet.
    Committing,
    /// Fetched whole; waits for every file before it to be handed over.
    Fetched,
    /// Being fetched.
    Fetching,
    /// Being fetched, and told to stop (a file before it failed); not ended yet.
    Stopping,
    /// Its fetch failed; the failure is not recorded yet.
    Failed,
    /// Not being fetched: not started yet, or stopped (its partial data kept).
    Waiting,
}

impl FileState {
    /// A transfer of the file runs (and holds a connection).
    fn in_flight(self) -> bool {
        matches!(self, FileState::Fetching | FileState::Stopping)
    }

    /// The file is not fetched whole yet: it shares the group's connections with the others
    /// ([`crate::rules::segments::connections`]).
    pub fn unfinished(self) -> bool {
        matches!(self, FileState::Waiting | FileState::Fetching | FileState::Stopping | FileState::Failed)
    }

    /// The file needs nothing more from the worker.
    fn handed(self) -> bool {
        matches!(self, FileState::Done | FileState::Committing)
    }
}

/// What the worker does next with the files of its current job (indexes into the slice given
/// to [`plan`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Fetched files to hand to the committer now, in job order: the fetched files that follow
    /// the handed ones without a gap.
    pub hand_over: Vec<usize>,
    /// Files to start fetching now, in job order.
    pub start: Vec<usize>,
    /// Transfers to stop (their data and checkpoint are kept for the resume): every file
    /// being fetched after the first failed one.
    pub stop: Vec<usize>,
    /// The failure to record now: the first failed file in job order, once every file before
    /// it is committed or committing and no transfer runs any more (DECISIONS D5, D16).
    pub report: Option<usize>,
}

/// The next step for the current job's `files` (in job order) with at most `max_connections`
/// transfers at once (option `max_connections_per_group`, ≥ 1; DECISIONS D16).
///
/// * Fetched files go to their commit in job order: only those right after the committed or
///   committing ones; a fetched file after a gap waits (its temporary file complete).
/// * No file starts after the first failed one; waiting files before it (and all of them
///   without a failure) start in job order while fewer than `max_connections` transfers run
///   (stopping ones still count: they hold their connection until they end).
/// * Once a file has failed, the transfers of later files stop; the failure is reported when
///   every file before it is committed or committing and no transfer runs, so that the job
///   stops at the first failing file in job order, as when files are fetched one by one.
///
/// With `max_connections` 1 this is the sequential order of BITS: one file fetched at a time,
/// each handed over as soon as it is fetched, a failure reported as soon as it happens.
pub fn plan(files: &[FileState], max_connections: usize) -> Plan {
    let first_failed = files.iter().position(|&f| f == FileState::Failed);
    let before_failure = &files[..first_failed.unwrap_or(files.len())];
    let hand_over: Vec<usize> = files
        .iter()
        .enumerate()
        .skip_while(|(_, f)| f.handed())
        .take_while(|(_, &f)| f == FileState::Fetched)
        .map(|(i, _)| i)
        .collect();
    let stop: Vec<usize> = match first_failed {
        Some(k) => (k + 1..files.len()).filter(|&i| files[i] == FileState::Fetching).collect(),
        None => Vec::new(),
    };
    let running = files.iter().filter(|f| f.in_flight()).count();
    let start = before_failure
        .iter()
        .enumerate()
        .filter(|(_, &f)| f == FileState::Waiting)
        .map(|(i, _)| i)
        .take(max_connections.max(1).saturating_sub(running))
        .collect();
    let report = first_failed.filter(|_| running == 0 && before_failure.iter().all(|f| f.handed()));
    Plan { hand_over, start, stop, report }
}

#[cfg(test)]
mod tests {
    use super::FileState::{
        Committing as C, Done as D, Failed as X, Fetched as F, Fetching as R, Stopping as S, Waiting as W,
    };
    use super::*;

    fn p(hand_over: &[usize], start: &[usize], stop: &[usize], report: Option<usize>) -> Plan {
        Plan { hand_over: hand_over.to_vec(), start: start.to_vec(), stop: stop.to_vec(), report }
    }

    /// (files, max_connections) → plan.
    #[test]
    fn plans() {
        let rows: Vec<(&[FileState], usize, Plan)> = vec![
            // Nothing started: the first `max` files start, in job order.
            (&[W, W, W, W], 2, p(&[], &[0, 1], &[], None)),
            (&[W, W, W], 6, p(&[], &[0, 1, 2], &[], None)),
            // Sequential (max 1): one at a time; a fetched file goes to its commit at once.
            (&[W, W, W], 1, p(&[], &[0], &[], None)),
            (&[R, W, W], 1, p(&[], &[], &[], None)),
            (&[F, W, W], 1, p(&[0], &[1], &[], None)),
            (&[C, W, W], 1, p(&[], &[1], &[], None)),
            (&[D, C, R], 1, p(&[], &[], &[], None)),
            // Sequential failure: reported at once (the files before are committed or committing).
            (&[C, X, W], 1, p(&[], &[], &[], Some(1))),
            // A slow first file: later ones fetched meanwhile wait for their commit, in order;
            // they hold no connection.
            (&[R, F, F, R, W], 2, p(&[], &[], &[], None)),
            (&[R, F, F, R, W], 3, p(&[], &[4], &[], None)),
            (&[F, F, R, F, W], 4, p(&[0, 1], &[4], &[], None)),
            (&[C, D, F, W], 2, p(&[2], &[3], &[], None)),
            // Done files after a gap (another process) do not hand over later fetched files.
            (&[W, D, F], 2, p(&[], &[0], &[], None)),
            // A failure: later transfers stop, nothing starts after it, fetched files before
            // it still go to their commit; the report waits for the files before it.
            (&[R, F, X, R, F, R, W], 6, p(&[], &[], &[3, 5], None)),
            (&[F, F, X, S, F, S, W], 6, p(&[0, 1], &[], &[], None)),
            (&[C, C, X, S, F, W, W], 6, p(&[], &[], &[], None)),
            (&[C, C, X, W, F, W, W], 6, p(&[], &[], &[], Some(2))),
            (&[D, D, X, F, F, F, F], 6, p(&[], &[], &[], Some(2))),
            // A waiting file before the failure (fetched again: its checksum changed) starts.
            (&[W, R, X, W], 3, p(&[], &[0], &[], None)),
            (&[W, R, X, W], 1, p(&[], &[], &[], None)),
            // The first failure in job order is the one reported; a later one waits with it.
            (&[C, X, W, X], 6, p(&[], &[], &[], Some(1))),
            (&[R, X, X], 6, p(&[], &[], &[], None)),
            // Stopping transfers still hold their connection.
            (&[S, S, W], 2, p(&[], &[], &[], None)),
            // Everything handed over: nothing to do.
            (&[D, C, C], 3, p(&[], &[], &[], None)),
            (&[], 3, p(&[], &[], &[], None)),
            // A max of 0 is taken as 1.
            (&[W, W], 0, p(&[], &[0], &[], None)),
        ];
        for (i, (files, max, want)) in rows.iter().enumerate() {
            assert_eq!(plan(files, *max), *want, "row {i}: {files:?} max {max}");
        }
    }

    /// Whatever the files' states, the plan never starts more transfers than the free
    /// connections, never starts or hands over a file after the first failure, and hands over
    /// only a gap-free run after the handed files.
    #[test]
    fn invariants_over_all_small_cases() {
        let all = [D, C, F, R, S, X, W];
        for n in 0..=5usize {
            for code in 0..all.len().pow(n as u32) {
                let files: Vec<FileState> = (0..n).map(|i| all[code / all.len().pow(i as u32) % all.len()]).collect();
                for max in 1..=3 {
                    let pl = plan(&files, max);
                    let running = files.iter().filter(|f| f.in_flight()).count();
                    assert!(pl.start.len() + running <= max.max(running), "{files:?} {max}: {pl:?}");
                    let first_failed = files.iter().position(|&f| f == X).unwrap_or(n);
                    assert!(pl.start.iter().chain(&pl.hand_over).all(|&i| i < first_failed), "{files:?}: {pl:?}");
                    for &i in &pl.hand_over {
                        assert!(files[..i].iter().all(|f| f.handed() || *f == F), "{files:?}: {pl:?}");
                    }
                    if let Some(k) = pl.report {
                        assert!(running == 0 && files[..k].iter().all(|f| f.handed()), "{files:?}: {pl:?}");
                    }
                }
            }
        }
    }
}
