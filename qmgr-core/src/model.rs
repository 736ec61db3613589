//! The queue's data: constants of `qmgr.h`, group/job/file records, properties and options.
//!
//! These records are what a [`Store`](crate::store::Store) persists; they carry no behaviour
//! beyond small derived values. The rules that change them live in the engine.

use crate::guid::Guid;
use crate::hresult::{Error, Result, E_NOTIMPL, QM_E_DOWNLOADER_UNAVAILABLE};

mod checksum;
mod options;
mod ranges;
pub use checksum::{to_hex, Checksum, DigestAlgorithm};
pub use options::{BackgroundMode, Options, OPTION_NAMES};
pub use ranges::HeldRanges;

/// `QM_NOTIFY_*` bits of `GROUPPROP_NOTIFYFLAGS` (reference §1.1).
pub mod notify {
    /// `OnStatus` for each finished file.
    pub const FILE_DONE: u32 = 0x01;
    /// `OnStatus` for each finished job.
    pub const JOB_DONE: u32 = 0x02;
    /// `OnStatus` when the whole group is complete.
    pub const GROUP_DONE: u32 = 0x04;
    /// Suppress every notification, errors included.
    pub const DISABLE_NOTIFY: u32 = 0x40;
    /// Deliver progress through `OnProgressEx` instead of `OnProgress`.
    pub const USE_PROGRESSEX: u32 = 0x80;
    /// Every defined bit.
    pub const ALL: u32 = FILE_DONE | JOB_DONE | GROUP_DONE | DISABLE_NOTIFY | USE_PROGRESSEX;
}

/// `QM_STATUS_*` bits (reference §1.2).
pub mod status {
    /// A file is complete.
    pub const FILE_COMPLETE: u32 = 0x001;
    /// A file is incomplete.
    pub const FILE_INCOMPLETE: u32 = 0x002;
    /// A job is complete.
    pub const JOB_COMPLETE: u32 = 0x004;
    /// A job is incomplete.
    pub const JOB_INCOMPLETE: u32 = 0x008;
    /// A job stopped on a fatal error.
    pub const JOB_ERROR: u32 = 0x010;
    /// A job was switched to the foreground.
    pub const JOB_FOREGROUND: u32 = 0x020;
    /// The group is complete.
    pub const GROUP_COMPLETE: u32 = 0x040;
    /// The group is incomplete.
    pub const GROUP_INCOMPLETE: u32 = 0x080;
    /// The group is not running (new, paused, error or complete).
    pub const GROUP_SUSPENDED: u32 = 0x100;
    /// The group stopped on a fatal error.
    pub const GROUP_ERROR: u32 = 0x200;
    /// The group transfers in the foreground.
    pub const GROUP_FOREGROUND: u32 = 0x400;
}

/// `QM_PROTOCOL_*` values of `GROUPPROP_PROTOCOLFLAGS` (reference §1.3).
pub mod protocol {
    /// `http://` and `https://` (default).
    pub const HTTP: u32 = 1;
    /// `ftp://` (no transport yet: `QM_E_DOWNLOADER_UNAVAILABLE`).
    pub const FTP: u32 = 2;
    /// `file://` (mounted share or local path).
    pub const SMB: u32 = 3;
    /// Pluggable transport (`E_NOTIMPL`).
    pub const CUSTOM: u32 = 4;
}

/// `QM_PROGRESS_*` units of `GetProgress` and `OnProgress` (reference §1.4).
pub mod progress {
    /// Percent complete, 0–100.
    pub const PERCENT_DONE: u32 = 1;
    /// Milliseconds of active transfer time (DECISIONS D1).
    pub const TIME_DONE: u32 = 2;
    /// Bytes transferred, saturating at `0xFFFFFFFF`.
    pub const SIZE_DONE: u32 = 3;
}

/// `GROUPPROP` identifiers (reference §1.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
#[allow(missing_docs)]
pub enum PropId {
    Priority = 0,
    RemoteUserId = 1,
    RemoteUserPwd = 2,
    LocalUserId = 3,
    LocalUserPwd = 4,
    ProtocolFlags = 5,
    NotifyFlags = 6,
    NotifyClsid = 7,
    ProgressSize = 8,
    ProgressPercent = 9,
    ProgressTime = 10,
    DisplayName = 11,
    Description = 12,
}

impl PropId {
    /// From the `uint32_t` of the C API. Errors: `E_INVALIDARG` for an unknown value.
    pub fn from_u32(v: u32) -> Result<PropId> {
        use PropId::*;
        Ok(match v {
            0 => Priority,
            1 => RemoteUserId,
            2 => RemoteUserPwd,
            3 => LocalUserId,
            4 => LocalUserPwd,
            5 => ProtocolFlags,
            6 => NotifyFlags,
            7 => NotifyClsid,
            8 => ProgressSize,
            9 => ProgressPercent,
            10 => ProgressTime,
            11 => DisplayName,
            12 => Description,
            _ => return Err(Error::invalid_arg(format!("property id {v} is not a GROUPPROP value (0-12)"))),
        })
    }
}

/// A property value, the typed counterpart of the C `qmgr_variant`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PropValue {
    /// An integer property (stored as u32).
    Int(u32),
    /// A string property.
    Str(String),
}

/// A group's state (DECISIONS D3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GroupState {
    /// New or paused.
    Suspended,
    /// Queued, connecting, transferring, or waiting to retry a transient error.
    Running,
    /// Stopped on a fatal error (also suspended).
    Error,
    /// Every job done (also suspended).
    Complete,
    /// Cancelled: gone from the queue; handles answer `QM_E_INVALID_STATE`.
    Cancelled,
}

impl GroupState {
    /// Stable storage code.
    pub fn code(self) -> i64 {
        match self {
            GroupState::Suspended => 0,
            GroupState::Running => 1,
            GroupState::Error => 2,
            GroupState::Complete => 3,
            GroupState::Cancelled => 4,
        }
    }
    /// From the storage code. Errors: `E_UNEXPECTED` for an unknown code (corrupt store).
    pub fn from_code(code: i64) -> Result<GroupState> {
        Ok(match code {
            0 => GroupState::Suspended,
            1 => GroupState::Running,
            2 => GroupState::Error,
            3 => GroupState::Complete,
            4 => GroupState::Cancelled,
            _ => return Err(Error::new(crate::hresult::E_UNEXPECTED, format!("stored group state {code} is unknown"))),
        })
    }
    /// Lower-case name for people ("suspended", "running", …).
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Suspended => "suspended",
            GroupState::Running => "running",
            GroupState::Error => "error",
            GroupState::Complete => "complete",
            GroupState::Cancelled => "cancelled",
        }
    }
}

/// The thirteen group properties (reference §1.6; defaults DECISIONS D12), and the group's
/// rate limit (an extension, C-API.md "Per-group rate limit"; no `GROUPPROP` reaches it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupProps {
    /// 0 high, 1 normal (default), 2 low.
    pub priority: u32,
    /// HTTP user name (`""` = none).
    pub remote_user: String,
    /// HTTP password; write-only through `GetProp`; never logged.
    pub remote_password: String,
    /// `QM_PROTOCOL_*` value, default `QM_PROTOCOL_HTTP`.
    pub protocol: u32,
    /// `QM_NOTIFY_*` bits, default 0 (errors only).
    pub notify_flags: u32,
    /// Stored verbatim: `""` or a GUID string.
    pub notify_clsid: String,
    /// Progress-notification threshold in bytes (0 = off).
    pub progress_size: u32,
    /// Progress-notification threshold in percent, 0–100 (0 = off).
    pub progress_percent: u32,
    /// Progress-notification threshold in milliseconds (0 = off).
    pub progress_time: u32,
    /// Display name, at most 256 characters.
    pub display_name: String,
    /// Description, at most 1024 characters.
    pub description: String,
    /// The group's rate limit in bytes/s, 0 = none (default): every transfer of the group,
    /// foreground ones too, receives at most this much (`qmgr_group_set_rate_limit`; how it
    /// combines with the background limits: [`crate::rules::rate`]).
    pub rate_limit: u64,
}

impl Default for GroupProps {
    fn default() -> Self {
        GroupProps {
            priority: 1,
            remote_user: String::new(),
            remote_password: String::new(),
            protocol: protocol::HTTP,
            notify_flags: 0,
            notify_clsid: String::new(),
            progress_size: 0,
            progress_percent: 0,
            progress_time: 0,
            display_name: String::new(),
            description: String::new(),
            rate_limit: 0,
        }
    }
}

impl GroupProps {
    /// Sets one property, checking its value (`SetProp`, reference §2.2.2; DECISIONS D1,
    /// D12). `has_files` says whether the group has files (the protocol may change only while
    /// it has none). On error `self` is unchanged.
    ///
    /// Errors: `E_INVALIDARG` for a value of the wrong kind or out of range (the message says
    /// which); `E_NOTIMPL` for `LOCALUSERID`/`LOCALUSERPWD` and `QM_PROTOCOL_CUSTOM`;
    /// `QM_E_DOWNLOADER_UNAVAILABLE` for `QM_PROTOCOL_FTP`; `QM_E_INVALID_STATE` when changing
    /// the protocol of a group that has files. Messages name the property, not the method.
    pub fn set(&mut self, prop: PropId, value: &PropValue, has_files: bool) -> Result<()> {
        let int = || match value {
            PropValue::Int(i) => Ok(*i),
            PropValue::Str(_) => Err(Error::invalid_arg(format!("{prop:?} takes an integer, not a string"))),
        };
        let text = || match value {
            PropValue::Str(s) => Ok(s.clone()),
            PropValue::Int(_) => Err(Error::invalid_arg(format!("{prop:?} takes a string, not an integer"))),
        };
        match prop {
            PropId::LocalUserId | PropId::LocalUserPwd => return Err(not_impersonating(prop)),
            PropId::Priority => {
                let v = int()?;
                if v > 2 {
                    return Err(Error::invalid_arg(format!("priority {v} is not 0 (high), 1 (normal) or 2 (low)")));
                }
                self.priority = v;
            }
            PropId::RemoteUserId => self.remote_user = check_len("REMOTEUSERID", text()?, 300)?,
            PropId::RemoteUserPwd => self.remote_password = check_len("REMOTEUSERPWD", text()?, 65535)?,
            PropId::ProtocolFlags => {
                let v = int()?;
                match v {
                    _ if v == self.protocol => {}
                    protocol::HTTP | protocol::SMB => {
                        if has_files {
                            return Err(Error::invalid_state("the protocol cannot change while the group has files"));
                        }
                        self.protocol = v;
                    }
                    protocol::FTP => {
                        return Err(Error::new(QM_E_DOWNLOADER_UNAVAILABLE, "no FTP downloader is available"));
                    }
                    protocol::CUSTOM => return Err(Error::new(E_NOTIMPL, "QM_PROTOCOL_CUSTOM is not implemented")),
                    _ => return Err(Error::invalid_arg(format!("protocol {v} is not a QM_PROTOCOL_* value (1-4)"))),
                }
            }
            PropId::NotifyFlags => {
                let v = int()?;
                if v & !notify::ALL != 0 {
                    return Err(Error::invalid_arg(format!("notify flags {v:#x} have undefined bits")));
                }
                self.notify_flags = v;
            }
            PropId::NotifyClsid => {
                let v = text()?;
                if !v.is_empty() {
                    Guid::parse(&v).map_err(|e| e.context("NOTIFYCLSID"))?;
                }
                self.notify_clsid = v;
            }
            PropId::ProgressSize => self.progress_size = int()?,
            PropId::ProgressPercent => {
                let v = int()?;
                if v > 100 {
                    return Err(Error::invalid_arg(format!("progress percent {v} is above 100")));
                }
                self.progress_percent = v;
            }
            PropId::ProgressTime => self.progress_time = int()?,
            PropId::DisplayName => self.display_name = check_len("DISPLAYNAME", text()?, 256)?,
            PropId::Description => self.description = check_len("DESCRIPTION", text()?, 1024)?,
        }
        Ok(())
    }

    /// One property's value (`GetProp`, reference §2.2.1; DECISIONS D1, D12): integers as
    /// [`PropValue::Int`], strings as [`PropValue::Str`]; the password reads as `""`.
    ///
    /// Errors: `E_NOTIMPL` for `LOCALUSERID`/`LOCALUSERPWD`.
    pub fn get(&self, prop: PropId) -> Result<PropValue> {
        Ok(match prop {
            PropId::Priority => PropValue::Int(self.priority),
            PropId::RemoteUserId => PropValue::Str(self.remote_user.clone()),
            PropId::RemoteUserPwd => PropValue::Str(String::new()),
            PropId::ProtocolFlags => PropValue::Int(self.protocol),
            PropId::NotifyFlags => PropValue::Int(self.notify_flags),
            PropId::NotifyClsid => PropValue::Str(self.notify_clsid.clone()),
            PropId::ProgressSize => PropValue::Int(self.progress_size),
            PropId::ProgressPercent => PropValue::Int(self.progress_percent),
            PropId::ProgressTime => PropValue::Int(self.progress_time),
            PropId::DisplayName => PropValue::Str(self.display_name.clone()),
            PropId::Description => PropValue::Str(self.description.clone()),
            PropId::LocalUserId | PropId::LocalUserPwd => return Err(not_impersonating(prop)),
        })
    }
}

/// The error for `LOCALUSERID` / `LOCALUSERPWD` (DECISIONS D1: an in-process library cannot
/// impersonate).
fn not_impersonating(prop: PropId) -> Error {
    Error::not_impl(format!("{prop:?} is not supported (no impersonation in-process)"))
}

/// `s` when it has at most `max` Unicode scalar values (DECISIONS D2).
fn check_len(what: &str, s: String, max: usize) -> Result<String> {
    let n = s.chars().count();
    if n > max {
        return Err(Error::invalid_arg(format!("{what} has {n} characters, more than {max}")));
    }
    Ok(s)
}

/// Longest remote URL accepted, in characters (DECISIONS D2; reference §5.4).
pub const MAX_URL_LEN: usize = 2200;

/// URL checks that need no transport (`AddFiles`; DECISIONS D2): non-empty, ASCII without
/// controls or spaces, at most 2200 characters.
///
/// Errors: `E_INVALIDARG` naming the problem.
pub fn check_url(url: &str) -> Result<()> {
    if url.is_empty() {
        return Err(Error::invalid_arg("remote URL is empty"));
    }
    if url.len() > MAX_URL_LEN {
        return Err(Error::invalid_arg(format!("remote URL has {} characters, more than {MAX_URL_LEN}", url.len())));
    }
    // The URL is not shown: its user-info may hold a password, which no message shows (D11).
    if let Some((i, c)) = url.chars().enumerate().find(|(_, c)| !c.is_ascii_graphic()) {
        return Err(Error::invalid_arg(format!(
            "remote URL contains {c:?} at character {}: URLs must be ASCII without spaces (percent-encode the rest)",
            i + 1
        )));
    }
    Ok(())
}

/// Local path checks that need no file system (`AddFiles`; DECISIONS D2): absolute, at most
/// 4096 bytes, naming a file (not ending in `/`, `/.` or `/..`).
///
/// Errors: `E_INVALIDARG` naming the path and the problem.
pub fn check_local_path(path: &str) -> Result<()> {
    if path.len() > 4096 {
        return Err(Error::invalid_arg(format!("local path has {} bytes, more than 4096", path.len())));
    }
    if !path.starts_with('/') {
        return Err(Error::invalid_arg(format!("local path \"{path}\" is not absolute")));
    }
    if path.ends_with('/') || path.ends_with("/.") || path.ends_with("/..") {
        return Err(Error::invalid_arg(format!("local path \"{path}\" does not name a file")));
    }
    Ok(())
}

/// Whether a transfer failure is retried (DECISIONS D5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// Retried after the retry delay; no ERROR bit.
    Transient,
    /// Stops the group in ERROR.
    Fatal,
}

/// The last error of a job: the inputs of job `GetStatus`, `OnStatus` and
/// `qmgr_job_get_error_message` (DECISIONS D5, D11).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobError {
    /// Transient (retrying) or fatal (group in ERROR).
    pub class: ErrorClass,
    /// `dwWin32Result`: a Win32 code or `BG_E_HTTP_ERROR_nnn`.
    pub win32: u32,
    /// `dwTransportResult`: the HTTP status when the failure was an HTTP status, else 0.
    pub transport: u32,
    /// Index of the file at fault, `None` when no single file is.
    pub file_index: Option<u32>,
    /// Human-readable cause.
    pub message: String,
}

/// One group as persisted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupRecord {
    /// The caller-chosen id.
    pub id: Guid,
    /// Creation order within the queue (FIFO scheduling, enumeration order).
    pub seq: u64,
    /// State (never `Cancelled` in a store: cancelled groups are deleted).
    pub state: GroupState,
    /// Sticky foreground flag (`SwitchToForeground`).
    pub foreground: bool,
    /// The properties.
    pub props: GroupProps,
}

/// One job as persisted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobRecord {
    /// The caller-chosen id, unique in the queue.
    pub id: Guid,
    /// The group it belongs to.
    pub group_id: Guid,
    /// Creation order (jobs run in this order).
    pub seq: u64,
    /// Sticky foreground flag (job `SwitchToForeground`).
    pub foreground: bool,
    /// Failed attempts so far (`dwNumOfRetries`), never reset (DECISIONS D11).
    pub retries: u32,
    /// The current error, if any.
    pub error: Option<JobError>,
    /// Milliseconds of active transfer time (`QM_PROGRESS_TIME_DONE`).
    pub active_ms: u64,
}

/// Validators the server sent for a file (DECISIONS D5, D11).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Validators {
    /// `ETag` exactly as received (with `W/` for a weak one).
    pub etag: Option<String>,
    /// `Last-Modified` exactly as received.
    pub last_modified: Option<String>,
    /// Full size of the remote file in bytes, when known.
    pub total: Option<u64>,
}

/// One file of a job as persisted, with its progress checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileRecord {
    /// The job it belongs to.
    pub job_id: Guid,
    /// Zero-based index in the job.
    pub index: u32,
    /// Source URL, ASCII, sent exactly as given.
    pub url: String,
    /// Absolute destination path.
    pub local_path: String,
    /// Caller's size hint in bytes (0 = none); never trusted for integrity.
    pub size_hint: u32,
    /// Bytes held in the temporary file (or the whole size once complete).
    pub bytes_done: u64,
    /// For a file fetched in segments (DECISIONS D16): the byte ranges its temporary file
    /// holds (`bytes_done` is their total). `None` for every other file: it holds the first
    /// `bytes_done` bytes.
    pub held_ranges: Option<HeldRanges>,
    /// Validators of the response the held bytes came from (total = size reported).
    pub validators: Validators,
    /// The expected digest of the whole file (`qmgr_job_set_file_checksum`; DECISIONS D15),
    /// checked before the commit; `None` = none set.
    pub checksum: Option<Checksum>,
    /// Committed under its final name.
    pub complete: bool,
}

impl FileRecord {
    /// Best known size: the server's, else the hint (0 → unknown).
    pub fn known_size(&self) -> Option<u64> {
        self.validators.total.or((self.size_hint != 0).then_some(self.size_hint as u64))
    }
}

/// What background transfers may use of the network now (DECISIONS D14), as
/// [`crate::Manager::background_status`] reports it: the decision of the idle-bandwidth
/// controller ([`crate::rules::idle`]) of the process that runs the queue's transfers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackgroundStatus {
    /// The option `background_mode`.
    pub mode: BackgroundMode,
    /// Bytes/s all background transfers together may receive now; `None` = no limit (mode
    /// `normal` without `background_rate_limit`, or no background transfer running).
    pub rate: Option<u64>,
    /// Bytes/s background transfers received over the controller's last interval (0 when
    /// none runs).
    pub throughput: u64,
    /// Why, for people: e.g. `yielding: delay +38 ms`, `yielding: 5.2 MB/s of other traffic
    /// on lo`, `path free: raising`, `no background transfer`.
    pub reason: String,
    /// A background transfer is running (in the process that holds the transfer lock).
    pub active: bool,
}

impl BackgroundStatus {
    /// A one-line-per-field text form (mode, rate or `-`, throughput, `1`/`0` active, reason),
    /// how stores publish it to other processes ([`crate::store::Store::publish_background`]).
    pub fn to_text(&self) -> String {
        let rate = self.rate.map_or("-".to_string(), |r| r.to_string());
        let reason = self.reason.replace('\n', " ");
        format!("{}\n{rate}\n{}\n{}\n{reason}\n", self.mode.as_str(), self.throughput, u8::from(self.active))
    }

    /// Reads [`BackgroundStatus::to_text`]'s form; `None` when it is not that.
    pub fn from_text(text: &str) -> Option<BackgroundStatus> {
        let mut lines = text.lines();
        let mode = BackgroundMode::parse(lines.next()?)?;
        let rate = match lines.next()? {
            "-" => None,
            r => Some(r.parse().ok()?),
        };
        let throughput = lines.next()?.parse().ok()?;
        let active = match lines.next()? {
            "1" => true,
            "0" => false,
            _ => return None,
        };
        let reason = lines.next()?.to_string();
        Some(BackgroundStatus { mode, rate, throughput, reason, active })
    }
}

/// Everything a store holds, as loaded when a queue is opened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueueImage {
    /// Options that were set (name, text value); unset ones keep their defaults.
    pub options: Vec<(String, String)>,
    /// Live groups, in creation order.
    pub groups: Vec<GroupRecord>,
    /// Jobs of those groups, in creation order.
    pub jobs: Vec<JobRecord>,
    /// Files of those jobs, ordered by job then index.
    pub files: Vec<FileRecord>,
}

/// The hidden temporary file of (job, file index) beside `local_path` (DECISIONS D4):
/// `.<name>.<job-guid>.<index>.qmgr-part` in the destination directory.
pub fn temp_path_for(local_path: &str, job: Guid, index: u32) -> std::path::PathBuf {
    let path = std::path::Path::new(local_path);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let guid = job.to_string();
    let guid = guid.trim_matches(|c| c == '{' || c == '}');
    let mut temp = format!(".{name}.{guid}.{index}.qmgr-part");
    // Keep the name within NAME_MAX (255 bytes) even for long final names.
    if temp.len() > 255 {
        let keep = 255 - (temp.len() - name.len());
        let mut cut = keep;
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        temp = format!(".{}.{guid}.{index}.qmgr-part", &name[..cut]);
    }
    path.with_file_name(temp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn background_status_text_round_trips() {
        for status in [
            BackgroundStatus {
                mode: BackgroundMode::Idle,
                rate: Some(2_000_000),
                throughput: 1_500_000,
                reason: "yielding: delay +38 ms".into(),
                active: true,
            },
            BackgroundStatus {
                mode: BackgroundMode::Normal,
                rate: None,
                throughput: 0,
                reason: "normal mode".into(),
                active: false,
            },
        ] {
            assert_eq!(BackgroundStatus::from_text(&status.to_text()), Some(status));
        }
        for bad in ["", "idle\n", "fast\n-\n0\n0\nx\n", "idle\nx\n0\n0\nx\n", "idle\n-\n0\n2\nx\n"] {
            assert_eq!(BackgroundStatus::from_text(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn temp_path_is_hidden_unique_and_bounded() {
        let job = Guid::parse("69ad4aee-51be-439b-a92c-86ae490e8b30").unwrap();
        let p = temp_path_for("/tmp/dir/file.bin", job, 3);
        assert_eq!(p.to_str().unwrap(), "/tmp/dir/.file.bin.69ad4aee-51be-439b-a92c-86ae490e8b30.3.qmgr-part");
        let long = format!("/tmp/{}", "é".repeat(127));
        let p = temp_path_for(&long, job, 0);
        assert!(p.file_name().unwrap().len() <= 255);
    }
}
