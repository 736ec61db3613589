//! `qmgr create` and `qmgr set`: a group's settable properties as options, defined and
//! applied in one place for both commands (GROUPPROP_*; DECISIONS D1, D12).

use crate::exit::{hresult_text, CmdResult, Exit, Failure};
use crate::queue::{cancel_quietly, Queue};
use crate::show::{group_json, pretty, NOTIFY_BITS};
use qmgr_rs::hresult::QM_E_INVALID_STATE;
use qmgr_rs::model::{protocol, PropId, PropValue};
use qmgr_rs::{Group, Guid};

/// The settable properties of a group. Options left out keep their value (for `create`: the
/// defaults of DECISIONS D12: normal priority, http, no notifications, thresholds off).
#[derive(Debug, Default, clap::Args)]
pub struct PropArgs {
    /// Display name (GROUPPROP_DISPLAYNAME, at most 256 characters).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// Description (GROUPPROP_DESCRIPTION, at most 1024 characters).
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,

    /// Priority: high, normal or low, or 0, 1, 2 (GROUPPROP_PRIORITY). Foreground groups go
    /// first, then higher priority, then older groups.
    #[arg(long, value_name = "PRIORITY", value_parser = parse_priority)]
    pub priority: Option<u32>,

    /// Switch the group to the foreground: scheduled first and never rate-limited. Sticky:
    /// it cannot be switched back.
    #[arg(long)]
    pub foreground: bool,

    /// Keep the group in the background (what new groups are): it uses only bandwidth that
    /// other traffic leaves unused (option background_mode idle; DECISIONS D14). Refused for
    /// a foreground group: foreground is sticky (DECISIONS D1).
    #[arg(long, conflicts_with = "foreground")]
    pub background: bool,

    /// Notification flags (GROUPPROP_NOTIFYFLAGS): a number (decimal or 0x…) or a
    /// comma-separated list of file_done, job_done, group_done, disable_notify,
    /// use_progressex; none for 0.
    #[arg(long, value_name = "FLAGS", value_parser = parse_notify_flags)]
    pub notify_flags: Option<u32>,

    /// Notification CLSID (GROUPPROP_NOTIFYCLSID): a GUID, or "" for none. Stored only.
    #[arg(long, value_name = "GUID")]
    pub notify_clsid: Option<String>,

    /// Progress notification every BYTES bytes, 0 = off (GROUPPROP_PROGRESSSIZE).
    #[arg(long, value_name = "BYTES")]
    pub progress_size: Option<u32>,

    /// Progress notification every PERCENT percent (1-100), 0 = off
    /// (GROUPPROP_PROGRESSPERCENT).
    #[arg(long, value_name = "PERCENT")]
    pub progress_percent: Option<u32>,

    /// Progress notification every MS milliseconds, 0 = off (GROUPPROP_PROGRESSTIME).
    #[arg(long, value_name = "MS")]
    pub progress_time: Option<u32>,

    /// Protocol (GROUPPROP_PROTOCOLFLAGS): http (http:// and https:// URLs, the default) or
    /// smb (file:// URLs), or 1-4. Changes only while the group has no files.
    #[arg(long, value_name = "PROTOCOL", value_parser = parse_protocol)]
    pub protocol: Option<u32>,

    /// HTTP user name (GROUPPROP_REMOTEUSERID), sent only in answer to a 401 challenge.
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,

    /// Take the HTTP password (GROUPPROP_REMOTEUSERPWD) from the environment variable VAR.
    /// Passwords are never taken from the command line.
    #[arg(long, value_name = "VAR", conflicts_with = "password_prompt")]
    pub password_env: Option<String>,

    /// Ask for the HTTP password on the terminal, without echo.
    #[arg(long)]
    pub password_prompt: bool,
}

/// `high`, `normal`, `low` or a number (the queue checks its range).
fn parse_priority(s: &str) -> Result<u32, String> {
    match s.to_ascii_lowercase().as_str() {
        "high" => Ok(0),
        "normal" => Ok(1),
        "low" => Ok(2),
        n => parse_number(n).ok_or_else(|| "expected high, normal, low, 0, 1 or 2".to_string()),
    }
}

/// `http`, `ftp`, `smb` (or `file`), `custom`, or a number (the queue checks it).
fn parse_protocol(s: &str) -> Result<u32, String> {
    match s.to_ascii_lowercase().as_str() {
        "http" | "https" => Ok(protocol::HTTP),
        "ftp" => Ok(protocol::FTP),
        "smb" | "file" => Ok(protocol::SMB),
        "custom" => Ok(protocol::CUSTOM),
        n => parse_number(n).ok_or_else(|| "expected http or smb (or ftp, custom, 1-4)".to_string()),
    }
}

/// A number (the queue checks its bits), `none`, or a comma-separated list of flag names.
fn parse_notify_flags(s: &str) -> Result<u32, String> {
    if let Some(n) = parse_number(s) {
        return Ok(n);
    }
    s.split(',').map(str::trim).filter(|w| !w.eq_ignore_ascii_case("none")).try_fold(0, |acc, word| {
        match NOTIFY_BITS.iter().find(|(_, name)| name.eq_ignore_ascii_case(word)) {
            Some((bit, _)) => Ok(acc | bit),
            None => {
                let names: Vec<&str> = NOTIFY_BITS.iter().map(|(_, n)| *n).collect();
                Err(format!("unknown flag \"{word}\": expected a number, none, or some of {}", names.join(", ")))
            }
        }
    })
}

/// Decimal, or hexadecimal after `0x`.
fn parse_number(s: &str) -> Option<u32> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

impl PropArgs {
    /// The properties to set, in the order the queue checks them (the first refused one is
    /// the one reported): the password last.
    ///
    /// Errors (exit 2): the `--password-env` variable is unset or not UTF-8; no terminal to
    /// ask on for `--password-prompt`.
    fn changes(&self) -> Result<Vec<(PropId, PropValue)>, Failure> {
        let int = |prop, v: Option<u32>| v.map(|v| (prop, PropValue::Int(v)));
        let text = |prop, v: &Option<String>| v.clone().map(|v| (prop, PropValue::Str(v)));
        let password = self.password()?.map(|p| (PropId::RemoteUserPwd, PropValue::Str(p)));
        Ok([
            int(PropId::ProtocolFlags, self.protocol),
            text(PropId::DisplayName, &self.name),
            text(PropId::Description, &self.description),
            int(PropId::Priority, self.priority),
            int(PropId::NotifyFlags, self.notify_flags),
            text(PropId::NotifyClsid, &self.notify_clsid),
            int(PropId::ProgressSize, self.progress_size),
            int(PropId::ProgressPercent, self.progress_percent),
            int(PropId::ProgressTime, self.progress_time),
            text(PropId::RemoteUserId, &self.user),
            password,
        ]
        .into_iter()
        .flatten()
        .collect())
    }

    /// The password from `--password-env VAR` or `--password-prompt`, if either was given.
    fn password(&self) -> Result<Option<String>, Failure> {
        if let Some(var) = &self.password_env {
            return match std::env::var(var) {
                Ok(p) => Ok(Some(p)),
                Err(std::env::VarError::NotPresent) => {
                    Err(Failure::usage(format!("--password-env: the environment variable {var} is not set")))
                }
                Err(std::env::VarError::NotUnicode(_)) => {
                    Err(Failure::usage(format!("--password-env: the value of {var} is not UTF-8")))
                }
            };
        }
        if self.password_prompt {
            return rpassword::prompt_password("HTTP password: ").map(Some).map_err(|e| {
                Failure::usage(format!("--password-prompt: cannot read a password from the terminal: {e}"))
            });
        }
        Ok(None)
    }
}

/// Sets `changes` on `group` all or nothing (one store transaction: no process ever sees
/// some of them set), then switches it to the foreground if asked. When the queue refuses
/// one, nothing is changed and the group is not switched.
fn apply(group: &Group, changes: &[(PropId, PropValue)], foreground: bool) -> qmgr_rs::Result<()> {
    group.set_props(changes)?;
    if foreground {
        group.switch_to_foreground()?;
    }
    Ok(())
}

/// `qmgr create [PROPERTIES] [--json]`: a new SUSPENDED group with a random GUID and the
/// given properties; prints its GUID (with `--json`, the object of `qmgr info --json`).
/// A new group is a background group (DECISIONS D14) unless `--foreground`; `--background`
/// only says so.
///
/// Errors (exit 2): a property the queue refuses — the group is cancelled again, so nothing
/// is left in the queue; the password cannot be read.
pub fn create(queue: &Queue, args: &PropArgs, as_json: bool) -> CmdResult {
    let changes = args.changes()?;
    let group = queue.manager.create_group(Guid::generate())?;
    if let Err(e) = apply(&group, &changes, args.foreground) {
        cancel_quietly(&group);
        return Err(e.into());
    }
    if as_json {
        println!("{}", pretty(&group_json(&group, &queue.manager.background_status())?));
    } else {
        println!("{}", group.id());
    }
    Ok(Exit::Success)
}

/// `qmgr set GROUP PROPERTIES`: changes properties of a group in any live state (DECISIONS
/// D3); all or nothing.
///
/// `--background` keeps a background group one and says so; on a foreground group (the
/// group or one of its jobs switched) it fails before anything is changed, since foreground
/// is sticky (DECISIONS D1, D14).
///
/// Errors (exit 2): no property given, bad or unknown GUID, a value the queue refuses (the
/// message names it), the protocol of a group with files, the password cannot be read,
/// `--background` on a foreground group (`QM_E_INVALID_STATE`).
pub fn set(queue: &Queue, text: &str, args: &PropArgs) -> CmdResult {
    let group = queue.group(text)?;
    let changes = args.changes()?;
    if changes.is_empty() && !args.foreground && !args.background {
        return Err(Failure::usage("nothing to set: give at least one property option (see `qmgr set --help`)"));
    }
    if args.background {
        let g = group.snapshot()?;
        if g.foreground || g.jobs.iter().any(|j| j.foreground) {
            return Err(sticky_foreground(group.id(), &queue.command_prefix()));
        }
    }
    apply(&group, &changes, args.foreground)?;
    let id = group.id();
    if !changes.is_empty() || args.foreground {
        println!("updated group {id}");
    }
    if args.background {
        let mode = queue.manager.get_option("background_mode")?;
        println!("group {id} is a background group and stays one (option background_mode: {mode})");
    }
    Ok(Exit::Success)
}

/// The failure of `set --background` on a foreground group (exit 2, `QM_E_INVALID_STATE`):
/// foreground cannot be undone (DECISIONS D1), so it says how to get a background transfer;
/// `prefix` is [`Queue::command_prefix`].
fn sticky_foreground(id: Guid, prefix: &str) -> Failure {
    Failure::usage(format!(
        "group {id} is a foreground group and cannot go back to the background: foreground is \
         sticky (DECISIONS D1: SwitchToForeground cannot be undone); for a background transfer, \
         cancel it (`{prefix} cancel {id}`) and queue the files again with \
         `qmgr get --background` or `qmgr create` + `qmgr add` ({})",
        hresult_text(QM_E_INVALID_STATE as u32)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_are_accepted() {
        assert_eq!(parse_priority("HIGH"), Ok(0));
        assert_eq!(parse_priority("low"), Ok(2));
        assert_eq!(parse_priority("7"), Ok(7), "the range is the queue's to check");
        assert!(parse_priority("urgent").is_err());
        assert_eq!(parse_protocol("smb"), Ok(protocol::SMB));
        assert_eq!(parse_protocol("file"), Ok(protocol::SMB));
        assert_eq!(parse_protocol("http"), Ok(protocol::HTTP));
        assert!(parse_protocol("gopher").is_err());
        assert_eq!(parse_notify_flags("job_done,group_done"), Ok(0x06));
        assert_eq!(parse_notify_flags("none"), Ok(0));
        assert_eq!(parse_notify_flags("0x81"), Ok(0x81));
        assert_eq!(parse_notify_flags("5"), Ok(5));
        let e = parse_notify_flags("job_done,sometimes").unwrap_err();
        assert!(e.contains("\"sometimes\"") && e.contains("use_progressex"), "{e}");
    }

    #[test]
    fn the_password_is_set_last() {
        std::env::set_var("QMGR_PROPS_TEST_PW", "s3cret");
        let args = PropArgs {
            name: Some("n".into()),
            user: Some("u".into()),
            password_env: Some("QMGR_PROPS_TEST_PW".into()),
            protocol: Some(protocol::SMB),
            ..PropArgs::default()
        };
        let c = args.changes().unwrap();
        assert_eq!(c.first(), Some(&(PropId::ProtocolFlags, PropValue::Int(protocol::SMB))));
        assert_eq!(c.last(), Some(&(PropId::RemoteUserPwd, PropValue::Str("s3cret".into()))));
        let missing = PropArgs { password_env: Some("QMGR_PROPS_TEST_UNSET".into()), ..PropArgs::default() };
        assert!(missing.changes().unwrap_err().message.contains("QMGR_PROPS_TEST_UNSET"));
    }
}
