//! The queue's rules: every decision of `DECISIONS.md` that the engine makes, as pure
//! functions of (state, event, `now`, options). Nothing here takes a lock, starts a thread,
//! reads a clock or touches the store or the network: threads, locks and I/O in
//! [`crate::engine`] call these functions and carry out what they decide. Unit tests call them
//! directly, table-style (quiche's habit; STYLE.md).
//!
//! | rule | where |
//! |---|---|
//! | D3 transitions: which method is allowed in which state, what it leads to | [`states::transition`] |
//! | D3 status words of groups and jobs | [`states::group_status`], [`states::job_status`] |
//! | D5 classification: what happened → transient/fatal, Win32/HRESULT, HTTP status, message | [`classify::classify`] |
//! | D15 digest mismatch → fatal `QMGR_E_BAD_DIGEST`, data discarded | [`classify::classify`] |
//! | D15 which server digests describe the whole file (`Repr-Digest` in 200/206, `Content-Digest` in 200) | [`digests::describes_whole_file`] |
//! | D1/D11/D15 answering a `401`: whether, with which offered scheme (Digest SHA-256 > MD5 > Basic), stale nonces, refusals | [`credentials::on_challenge`], [`credentials::preferred`] |
//! | D11 credentials of a transfer: the group's, else those in the URL's user-info | [`credentials::effective`] |
//! | D5 failure → retry at T / fatal / escalated after the no-progress timeout; retry delay | [`retry::on_failure`], [`retry::reset_delay`] |
//! | D1 progress threshold crossing | [`progress::crossed`] |
//! | D1/D9 progress values, job index, `OnProgressEx` record | [`progress`] |
//! | D7/D11 completion and error events, which still hold, re-delivery back-off | [`notify::completion_events`], [`notify::state_event`], [`notify::StatusEvent`] |
//! | D16 several files of the current job at once: which start, which go to their commit, which stop, when a failure is reported | [`parallel::plan`] |
//! | D1/D16 the file a job's progress notifications name | [`progress::current_file`] |
//! | D1 scheduling choice: which groups start, which are pre-empted | [`schedule::plan`] |
//! | D4 cancel clean-up: which temporary files go | [`files::cancel_cleanup`] |
//! | D5 `qmgr get --continue`: whether a partial file left by another tool is continued (issue #15) | [`partial::continue_partial`] |
//! | D6/D10 when progress is checkpointed | [`checkpoint::due`] |
//! | D4/D5 when a transfer checks its destination directory (issue #14 item 5) | [`checkpoint::destination_check_due`] |
//! | D14 idle bandwidth: background rate and receive window from delay and other traffic | [`idle::Controller::update`] |
//! | D14 + C-API "Per-group rate limit": which limits bind a transfer (group's own; `background_rate_limit` and the idle controller for background ones), the lowest wins | [`rate::binds_shared`], [`rate::shared`], [`rate::effective`] |
//! | D13 transferable work, autostart, a runner's idle exit | [`runner::has_work`], [`runner::should_autostart`], [`runner::IdleClock`] |

pub mod checkpoint;
pub mod classify;
pub mod credentials;
pub mod digests;
pub mod files;
pub mod idle;
pub mod notify;
pub mod parallel;
pub mod partial;
pub mod progress;
pub mod rate;
pub mod retry;
pub mod runner;
pub mod schedule;
pub mod segments;
pub mod states;
