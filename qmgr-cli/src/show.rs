//! `qmgr list` and `qmgr info`: what the queue holds, as text or JSON (and the group
//! summaries, JSON objects and the background status line that `monitor`, `create` and `add`
//! reuse).

use crate::exit::{CmdResult, Exit, Failure};
use crate::queue::Queue;
use crate::watch::{win32_as_hresult, win32_text};
use indicatif::HumanBytes;
use qmgr_rs::hresult::{describe, QM_E_INVALID_STATE};
use qmgr_rs::model::{notify, protocol, status, BackgroundStatus, GroupState};
use qmgr_rs::{Group, GroupSnapshot, Guid, JobSnapshot};
use serde_json::{json, Value};
use std::io::IsTerminal;

/// One group as `qmgr list` and `qmgr monitor` show it.
#[derive(Debug)]
pub struct Summary {
    /// The group's GUID.
    pub id: Guid,
    /// Its state.
    pub state: GroupState,
    status: u32,
    /// Bytes done.
    pub done: u64,
    /// Total bytes, `None` while unknown.
    pub total: Option<u64>,
    /// `GetProgress(QM_PROGRESS_PERCENT_DONE)`.
    pub percent: u32,
    /// Display name.
    pub display_name: String,
    jobs: usize,
}

impl Summary {
    fn of(g: &GroupSnapshot) -> Summary {
        Summary {
            id: g.id,
            state: g.state,
            status: g.status,
            done: g.bytes_done,
            total: g.bytes_total,
            percent: g.percent,
            display_name: g.props.display_name.clone(),
            jobs: g.jobs.len(),
        }
    }

    /// A summary made up for unit tests of the formatting.
    #[cfg(test)]
    pub fn for_test(id: Guid, state: GroupState, done: u64, total: Option<u64>, name: &str) -> Summary {
        let percent = total.map_or(0, |t| (done * 100).checked_div(t).map_or(100, |p| p as u32));
        Summary { id, state, status: 0, done, total, percent, display_name: name.to_string(), jobs: 1 }
    }

    /// `{id, state, status, bytes_done, bytes_total, percent, display_name, jobs}`.
    pub fn json(&self) -> Value {
        json!({
            "id": self.id.to_string(),
            "state": self.state.name(),
            "status": self.status,
            "bytes_done": self.done,
            "bytes_total": self.total,
            "percent": self.percent,
            "display_name": self.display_name,
            "jobs": self.jobs,
        })
    }
}

/// `qmgr list [--json]`: the groups in creation order, one line each (GUID, state, bytes
/// done/total, percent, display name), or a JSON array of [`Summary::json`] objects. An
/// empty queue prints `no groups in queue DIR` on a terminal, nothing to a pipe (`[]` as JSON).
pub fn list(queue: &Queue, as_json: bool) -> CmdResult {
    let rows = summaries(queue)?;
    if as_json {
        let all: Vec<Value> = rows.iter().map(Summary::json).collect();
        println!("{}", pretty(&Value::Array(all)));
        return Ok(Exit::Success);
    }
    if rows.is_empty() && std::io::stdout().is_terminal() {
        // A person sees that the queue is empty; a pipe gets nothing, as from an empty list.
        println!("no groups in queue {}", queue.dir.display());
    }
    let sizes: Vec<String> = rows.iter().map(|r| bytes_text(r.done, r.total)).collect();
    let width = sizes.iter().map(String::len).max().unwrap_or(0);
    for (r, size) in rows.iter().zip(&sizes) {
        println!(
            "{}  {:<9}  {size:>width$} bytes  {:>3}%  {}",
            r.id,
            r.state.name(),
            r.percent,
            one_line(&r.display_name)
        );
    }
    Ok(Exit::Success)
}

/// The summaries of the live groups, in creation order (groups cancelled meanwhile are
/// skipped).
pub fn summaries(queue: &Queue) -> Result<Vec<Summary>, Failure> {
    let mut rows = Vec::new();
    for id in queue.manager.enum_groups(0)? {
        let Ok(group) = queue.manager.get_group(id) else {
            continue;
        };
        match group.snapshot() {
            Ok(g) => rows.push(Summary::of(&g)),
            Err(e) if e.hr == QM_E_INVALID_STATE => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(rows)
}

/// `qmgr info GROUP [--json]`: properties, status, progress, jobs and files of one group,
/// and the queue's background status (DECISIONS D14).
pub fn info(queue: &Queue, text: &str, as_json: bool) -> CmdResult {
    let group = queue.group(text)?;
    let background = queue.manager.background_status();
    let v = group_json(&group, &background)?;
    if as_json {
        println!("{}", pretty(&v));
    } else {
        print_info(&v, &background);
    }
    Ok(Exit::Success)
}

/// The queue's background status as `info` and `monitor` show it (DECISIONS D14): the mode,
/// then, while a background transfer runs, what it receives and may receive, then the
/// controller's reason. E.g. `idle, 2.00 MiB/s of 4.00 MiB/s allowed, yielding: delay
/// +38 ms`, `normal, 5.00 MiB/s, no limit, …`, `idle, no background transfer`.
pub fn background_text(b: &BackgroundStatus) -> String {
    let mut parts = vec![b.mode.as_str().to_string()];
    if b.active {
        parts.push(match b.rate {
            Some(rate) => format!("{}/s of {}/s allowed", HumanBytes(b.throughput), HumanBytes(rate)),
            None => format!("{}/s, no limit", HumanBytes(b.throughput)),
        });
    }
    if !b.reason.is_empty() {
        parts.push(one_line(&b.reason));
    } else if !b.active {
        parts.push("no background transfer".to_string());
    }
    parts.join(", ")
}

/// `{mode, rate, throughput, reason, active}`: the queue's background status (DECISIONS
/// D14); `rate` (bytes/s) is `null` when there is no limit, `throughput` in bytes/s.
pub fn background_json(b: &BackgroundStatus) -> Value {
    json!({
        "mode": b.mode.as_str(),
        "rate": b.rate,
        "throughput": b.throughput,
        "reason": b.reason,
        "active": b.active,
    })
}

/// `v` as indented JSON (keys in alphabetical order).
pub fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).expect("a serde_json::Value always serializes")
}

/// Names of the set bits of `word` from `table`, plus any unknown bits in hex.
fn bit_names(word: u32, table: &[(u32, &str)]) -> Vec<String> {
    let mut names: Vec<String> = table.iter().filter(|(bit, _)| word & bit != 0).map(|(_, n)| n.to_string()).collect();
    let known = table.iter().fold(0, |acc, (bit, _)| acc | bit);
    if word & !known != 0 {
        names.push(format!("0x{:X}", word & !known));
    }
    names
}

const GROUP_BITS: &[(u32, &str)] = &[
    (status::GROUP_COMPLETE, "complete"),
    (status::GROUP_INCOMPLETE, "incomplete"),
    (status::GROUP_SUSPENDED, "suspended"),
    (status::GROUP_ERROR, "error"),
    (status::GROUP_FOREGROUND, "foreground"),
];

const JOB_BITS: &[(u32, &str)] = &[
    (status::JOB_COMPLETE, "complete"),
    (status::JOB_INCOMPLETE, "incomplete"),
    (status::JOB_ERROR, "error"),
    (status::JOB_FOREGROUND, "foreground"),
];

/// Names of the `QM_NOTIFY_*` bits, as `info` shows them and `--notify-flags` takes them.
pub const NOTIFY_BITS: &[(u32, &str)] = &[
    (notify::FILE_DONE, "file_done"),
    (notify::JOB_DONE, "job_done"),
    (notify::GROUP_DONE, "group_done"),
    (notify::DISABLE_NOTIFY, "disable_notify"),
    (notify::USE_PROGRESSEX, "use_progressex"),
];

fn priority_name(p: u32) -> &'static str {
    match p {
        0 => "high",
        1 => "normal",
        2 => "low",
        _ => "?",
    }
}

fn protocol_name(p: u32) -> &'static str {
    match p {
        protocol::HTTP => "http",
        protocol::FTP => "ftp",
        protocol::SMB => "smb (file://)",
        protocol::CUSTOM => "custom",
        _ => "?",
    }
}

/// The whole group as JSON (the shape is in the README), from one snapshot, with the queue's
/// `background` status ([`background_json`]).
///
/// Errors: `QM_E_INVALID_STATE` once the group is cancelled.
pub fn group_json(group: &Group, background: &BackgroundStatus) -> qmgr_rs::Result<Value> {
    let g = group.snapshot()?;
    let (size, active_ms) = (g.size, g.time_done);
    let p = &g.props;
    let word = g.status;
    Ok(json!({
        "id": g.id.to_string(),
        "display_name": p.display_name,
        "description": p.description,
        "state": g.state.name(),
        "status": word,
        "status_hex": format!("0x{word:08X}"),
        "status_bits": bit_names(word, GROUP_BITS),
        "job_index": g.job_index,
        "foreground": g.foreground,
        "background": background_json(background),
        "priority": p.priority,
        "priority_name": priority_name(p.priority),
        "rate_limit": p.rate_limit,
        "protocol": p.protocol,
        "protocol_name": protocol_name(p.protocol),
        "notify_flags": p.notify_flags,
        "notify_bits": bit_names(p.notify_flags, NOTIFY_BITS),
        "notify_clsid": p.notify_clsid,
        "progress_size": p.progress_size,
        "progress_percent": p.progress_percent,
        "progress_time": p.progress_time,
        "remote_user": p.remote_user,
        "bytes_done": g.bytes_done,
        "bytes_total": g.bytes_total,
        "percent": g.percent,
        "size": size,
        "active_ms": active_ms,
        "jobs": g.jobs.iter().map(job_json).collect::<Vec<_>>(),
    }))
}

fn job_json(j: &JobSnapshot) -> Value {
    let (win32, transport) = j.error.as_ref().map_or((0, 0), |e| (e.win32, e.transport));
    let files: Vec<Value> = j
        .files
        .iter()
        .map(|f| {
            json!({
                "index": f.index,
                "url": crate::names::redact_url(&f.url),
                "local_path": f.local_path,
                "bytes_done": f.bytes_done,
                "bytes_total": f.bytes_total,
                "complete": f.complete,
                "checksum": f.checksum.as_ref().map(|c| c.to_string()),
            })
        })
        .collect();
    json!({
        "id": j.id.to_string(),
        "status": j.status,
        "status_hex": format!("0x{:08X}", j.status),
        "status_bits": bit_names(j.status, JOB_BITS),
        "win32_result": win32,
        "win32_result_hex": format!("0x{win32:08X}"),
        "transport_result": transport,
        "num_of_retries": j.retries,
        "error_message": j.error.as_ref().map(|e| e.message.as_str()),
        "bytes_done": j.bytes_done,
        "bytes_total": j.bytes_total,
        "files": files,
    })
}

/// A group's rate limit for people: `none`, or `512.00 KiB/s (524288 bytes/s)`.
fn rate_limit_text(bytes_per_second: u64) -> String {
    match bytes_per_second {
        0 => "none".to_string(),
        r => format!("{}/s ({r} bytes/s)", HumanBytes(r)),
    }
}

/// `done/total`, with `?` for an unknown total.
pub fn bytes_text(done: u64, total: Option<u64>) -> String {
    match total {
        Some(t) => format!("{done}/{t}"),
        None => format!("{done}/?"),
    }
}

/// `s` on one line: control characters escaped.
pub fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => one_line(s),
        Value::Null => "?".to_string(),
        other => other.to_string(),
    }
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

fn bits(v: &Value) -> String {
    let names: Vec<String> = v.as_array().map(|a| a.iter().map(s).collect()).unwrap_or_default();
    names.join(", ")
}

/// The text form of `qmgr info`, from the JSON of [`group_json`] and the queue's background
/// status.
fn print_info(g: &Value, background: &BackgroundStatus) {
    println!("group {}", s(&g["id"]));
    println!("  display name:  {}", s(&g["display_name"]));
    println!("  description:   {}", s(&g["description"]));
    println!("  state:         {} (status {}: {})", s(&g["state"]), s(&g["status_hex"]), bits(&g["status_bits"]));
    if g["foreground"].as_bool() == Some(true) {
        println!("  foreground:    yes (scheduled first, never held back; sticky)");
    } else {
        println!("  foreground:    no (a background group)");
    }
    println!("  background:    {}", background_text(background));
    println!(
        "  progress:      {} bytes ({}%), {} ms of transfer",
        bytes_text(u(&g["bytes_done"]), g["bytes_total"].as_u64()),
        u(&g["percent"]),
        u(&g["active_ms"])
    );
    println!("  size:          {} bytes", u(&g["size"]));
    println!("  current job:   {}", u(&g["job_index"]));
    println!("  priority:      {} ({})", u(&g["priority"]), s(&g["priority_name"]));
    println!("  rate limit:    {}", rate_limit_text(u(&g["rate_limit"])));
    println!("  protocol:      {} ({})", u(&g["protocol"]), s(&g["protocol_name"]));
    let notify = u(&g["notify_flags"]);
    let names = bits(&g["notify_bits"]);
    println!("  notify flags:  0x{notify:02X} ({})", if names.is_empty() { "errors only" } else { names.as_str() });
    let thresholds = (u(&g["progress_size"]), u(&g["progress_percent"]), u(&g["progress_time"]));
    if thresholds != (0, 0, 0) {
        println!(
            "  progress notifications: every {} bytes / {} % / {} ms (0 = off)",
            thresholds.0, thresholds.1, thresholds.2
        );
    }
    if !s(&g["remote_user"]).is_empty() {
        println!("  remote user:   {}", s(&g["remote_user"]));
    }
    let empty = Vec::new();
    let jobs = g["jobs"].as_array().unwrap_or(&empty);
    if jobs.is_empty() {
        println!("  (no jobs)");
    }
    for j in jobs {
        println!("  job {}", s(&j["id"]));
        println!("    status:      {} ({})", s(&j["status_hex"]), bits(&j["status_bits"]));
        println!("    progress:    {} bytes", bytes_text(u(&j["bytes_done"]), j["bytes_total"].as_u64()));
        let win32 = u(&j["win32_result"]) as u32;
        if win32 != 0 {
            match describe(win32_as_hresult(win32) as i32) {
                Some(d) => println!("    win32:       {}: {d}", win32_text(win32)),
                None => println!("    win32:       {}", win32_text(win32)),
            }
        } else {
            println!("    win32:       0");
        }
        println!("    http status: {}", u(&j["transport_result"]));
        println!("    failed attempts: {}", u(&j["num_of_retries"]));
        if !j["error_message"].is_null() {
            println!("    error:       {}", s(&j["error_message"]));
        }
        for f in j["files"].as_array().unwrap_or(&empty) {
            println!("    file {}", u(&f["index"]));
            println!("      url:       {}", s(&f["url"]));
            println!("      local:     {}", s(&f["local_path"]));
            println!(
                "      bytes:     {} ({})",
                bytes_text(u(&f["bytes_done"]), f["bytes_total"].as_u64()),
                if f["complete"].as_bool() == Some(true) { "complete" } else { "incomplete" }
            );
            if !f["checksum"].is_null() {
                println!("      checksum:  {}", s(&f["checksum"]));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qmgr_rs::model::BackgroundMode;

    #[test]
    fn status_bits_are_named() {
        assert_eq!(bit_names(0x380, GROUP_BITS), ["incomplete", "suspended", "error"]);
        assert_eq!(bit_names(0x140, GROUP_BITS), ["complete", "suspended"]);
        assert_eq!(bit_names(0x18, JOB_BITS), ["incomplete", "error"]);
        assert_eq!(bit_names(0x1000 | 0x4, JOB_BITS), ["complete", "0x1000"]);
        assert!(bit_names(0, NOTIFY_BITS).is_empty());
    }

    fn status(
        mode: BackgroundMode,
        rate: Option<u64>,
        throughput: u64,
        reason: &str,
        active: bool,
    ) -> BackgroundStatus {
        BackgroundStatus { mode, rate, throughput, reason: reason.to_string(), active }
    }

    #[test]
    fn rate_limit_lines() {
        assert_eq!(rate_limit_text(0), "none");
        assert_eq!(rate_limit_text(512 * 1024), "512.00 KiB/s (524288 bytes/s)");
        assert_eq!(rate_limit_text(1), "1 B/s (1 bytes/s)");
    }

    #[test]
    fn background_status_lines() {
        use BackgroundMode::{Idle, Normal};
        let yielding = status(Idle, Some(4 << 20), 2 << 20, "yielding: delay +38 ms", true);
        assert_eq!(background_text(&yielding), "idle, 2.00 MiB/s of 4.00 MiB/s allowed, yielding: delay +38 ms");
        let free = status(Normal, None, 5 << 20, "", true);
        assert_eq!(background_text(&free), "normal, 5.00 MiB/s, no limit");
        let none = status(Idle, None, 0, "no background transfer", false);
        assert_eq!(background_text(&none), "idle, no background transfer");
        assert_eq!(background_text(&status(Idle, None, 0, "", false)), "idle, no background transfer");
        assert_eq!(background_text(&status(Idle, None, 0, "a\nb", false)), "idle, a\\nb");
        assert_eq!(
            background_json(&yielding),
            json!({"mode": "idle", "rate": 4 << 20, "throughput": 2 << 20, "reason": "yielding: delay +38 ms", "active": true})
        );
        assert_eq!(background_json(&none)["rate"], Value::Null);
    }

    #[test]
    fn one_line_escapes_controls() {
        assert_eq!(one_line("a\nb\tc"), "a\\nb\\tc");
        assert_eq!(one_line("plain é"), "plain é");
    }
}
