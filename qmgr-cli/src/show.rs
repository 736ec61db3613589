//! `qmgr list` and `qmgr info`: what the queue holds, as text or JSON (and the group
//! summaries and JSON objects that `monitor`, `create` and `add` reuse).

use crate::exit::{CmdResult, Exit, Failure};
use crate::queue::Queue;
use crate::watch::{win32_as_hresult, win32_text};
use qmgr_core::hresult::{describe, QM_E_INVALID_STATE};
use qmgr_core::model::{notify, progress, protocol, status, GroupState, PropId, PropValue};
use qmgr_core::{Error, Group, Guid, Job};
use serde_json::{json, Value};

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

/// (done, total) with `None` for an unknown total.
fn bytes(p: (u64, u64)) -> (u64, Option<u64>) {
    (p.0, (p.1 != u64::MAX).then_some(p.1))
}

impl Summary {
    fn of(group: &Group) -> qmgr_core::Result<Summary> {
        let (done, total) = bytes(group.progress64()?);
        Ok(Summary {
            id: group.id(),
            state: group.state()?,
            status: group.status()?.0,
            done,
            total,
            percent: group.progress(progress::PERCENT_DONE)?,
            display_name: text_prop(group, PropId::DisplayName)?,
            jobs: group.enum_jobs(0)?.count_all(),
        })
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
/// done/total, percent, display name), or a JSON array of [`Summary::json`] objects.
pub fn list(queue: &Queue, as_json: bool) -> CmdResult {
    let rows = summaries(queue)?;
    if as_json {
        let all: Vec<Value> = rows.iter().map(Summary::json).collect();
        println!("{}", pretty(&Value::Array(all)));
        return Ok(Exit::Success);
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
        match Summary::of(&group) {
            Ok(s) => rows.push(s),
            Err(e) if e.hr == QM_E_INVALID_STATE => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(rows)
}

/// `qmgr info GROUP [--json]`: properties, status, progress, jobs and files of one group.
pub fn info(queue: &Queue, text: &str, as_json: bool) -> CmdResult {
    let group = queue.group(text)?;
    let v = group_json(&group)?;
    if as_json {
        println!("{}", pretty(&v));
    } else {
        print_info(&v);
    }
    Ok(Exit::Success)
}

/// `v` as indented JSON (keys in alphabetical order).
pub fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).expect("a serde_json::Value always serializes")
}

fn text_prop(group: &Group, prop: PropId) -> qmgr_core::Result<String> {
    Ok(match group.get_prop(prop)? {
        PropValue::Str(s) => s,
        PropValue::Int(i) => i.to_string(),
    })
}

fn int_prop(group: &Group, prop: PropId) -> qmgr_core::Result<u32> {
    match group.get_prop(prop)? {
        PropValue::Int(i) => Ok(i),
        PropValue::Str(s) => Err(Error::invalid_arg(format!("{prop:?} is a string: {s}"))),
    }
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

/// The whole group as JSON (the shape is in the README).
pub fn group_json(group: &Group) -> qmgr_core::Result<Value> {
    let (word, job_index) = group.status()?;
    let (done, total) = bytes(group.progress64()?);
    let notify_flags = int_prop(group, PropId::NotifyFlags)?;
    let priority = int_prop(group, PropId::Priority)?;
    let proto = int_prop(group, PropId::ProtocolFlags)?;
    let mut jobs = Vec::new();
    for id in group.enum_jobs(0)? {
        // A job cancelled since the snapshot is skipped.
        let Ok(job) = group.get_job(id) else { continue };
        match job_json(&job) {
            Ok(v) => jobs.push(v),
            Err(e) if e.hr == QM_E_INVALID_STATE => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(json!({
        "id": group.id().to_string(),
        "display_name": text_prop(group, PropId::DisplayName)?,
        "description": text_prop(group, PropId::Description)?,
        "state": group.state()?.name(),
        "status": word,
        "status_hex": format!("0x{word:08X}"),
        "status_bits": bit_names(word, GROUP_BITS),
        "job_index": job_index,
        "priority": priority,
        "priority_name": priority_name(priority),
        "protocol": proto,
        "protocol_name": protocol_name(proto),
        "notify_flags": notify_flags,
        "notify_bits": bit_names(notify_flags, NOTIFY_BITS),
        "notify_clsid": text_prop(group, PropId::NotifyClsid)?,
        "progress_size": int_prop(group, PropId::ProgressSize)?,
        "progress_percent": int_prop(group, PropId::ProgressPercent)?,
        "progress_time": int_prop(group, PropId::ProgressTime)?,
        "remote_user": text_prop(group, PropId::RemoteUserId)?,
        "bytes_done": done,
        "bytes_total": total,
        "percent": group.progress(progress::PERCENT_DONE)?,
        "size": group.size()?,
        "active_ms": group.progress(progress::TIME_DONE)?,
        "jobs": jobs,
    }))
}

fn job_json(job: &Job) -> qmgr_core::Result<Value> {
    let st = job.status()?;
    let (done, total) = bytes(job.progress64()?);
    let mut files = Vec::new();
    for i in 0..job.file_count()? {
        let f = job.file(i)?;
        let (fdone, ftotal, complete) = job.file_progress(i)?;
        files.push(json!({
            "index": i,
            "url": crate::names::redact_url(&f.url),
            "local_path": f.local_path,
            "bytes_done": fdone,
            "bytes_total": (ftotal != u64::MAX).then_some(ftotal),
            "complete": complete,
        }));
    }
    Ok(json!({
        "id": job.id().to_string(),
        "status": st.status,
        "status_hex": format!("0x{:08X}", st.status),
        "status_bits": bit_names(st.status, JOB_BITS),
        "win32_result": st.win32_result,
        "win32_result_hex": format!("0x{:08X}", st.win32_result),
        "transport_result": st.transport_result,
        "num_of_retries": st.num_of_retries,
        "error_message": job.error_message()?,
        "bytes_done": done,
        "bytes_total": total,
        "files": files,
    }))
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

/// The text form of `qmgr info`, from the JSON of [`group_json`].
fn print_info(g: &Value) {
    println!("group {}", s(&g["id"]));
    println!("  display name:  {}", s(&g["display_name"]));
    println!("  description:   {}", s(&g["description"]));
    println!("  state:         {} (status {}: {})", s(&g["state"]), s(&g["status_hex"]), bits(&g["status_bits"]));
    println!(
        "  progress:      {} bytes ({}%), {} ms of transfer",
        bytes_text(u(&g["bytes_done"]), g["bytes_total"].as_u64()),
        u(&g["percent"]),
        u(&g["active_ms"])
    );
    println!("  size:          {} bytes", u(&g["size"]));
    println!("  current job:   {}", u(&g["job_index"]));
    println!("  priority:      {} ({})", u(&g["priority"]), s(&g["priority_name"]));
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
        println!("    retries:     {}", u(&j["num_of_retries"]));
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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_bits_are_named() {
        assert_eq!(bit_names(0x380, GROUP_BITS), ["incomplete", "suspended", "error"]);
        assert_eq!(bit_names(0x140, GROUP_BITS), ["complete", "suspended"]);
        assert_eq!(bit_names(0x18, JOB_BITS), ["incomplete", "error"]);
        assert_eq!(bit_names(0x1000 | 0x4, JOB_BITS), ["complete", "0x1000"]);
        assert!(bit_names(0, NOTIFY_BITS).is_empty());
    }

    #[test]
    fn one_line_escapes_controls() {
        assert_eq!(one_line("a\nb\tc"), "a\\nb\\tc");
        assert_eq!(one_line("plain é"), "plain é");
    }
}
