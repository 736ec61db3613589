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

    /// Limit every transfer of this group to RATE bytes/s, foreground ones too: a number with
    /// an optional suffix k, M or G (binary, as curl's and wget's --limit-rate: 1k = 1024);
    /// 0 = no limit (qmgr_group_set_rate_limit). Background groups stay bound by the option
    /// background_rate_limit too; the lowest limit wins. Other groups are not affected.
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    pub limit_rate: Option<u64>,
}

/// A rate as `--limit-rate` takes it (curl's and wget's form): bytes/s as a number, or a
/// number (decimals allowed: `1.5M`) with the suffix `k`, `M` or `G` in either case, binary
/// multiples (1024, 1024², 1024³); `0` = no limit. A fraction of a byte is dropped.
///
/// Errors: anything else, a value above 2^64 - 1 bytes/s, or a non-zero value below 1 byte/s
/// (it would read as "no limit"), with a message naming the text.
pub fn parse_rate(text: &str) -> Result<u64, String> {
    let bad = |why: &str| {
        format!("{text:?} is not a rate{why}: give bytes/s (0 = no limit) or a number with k, M or G (1k = 1024), e.g. 512k, 1.5M")
    };
    let t = text.trim();
    let (number, multiplier) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => match c.to_ascii_lowercase() {
            'k' => (&t[..i], 1u64 << 10),
            'm' => (&t[..i], 1 << 20),
            'g' => (&t[..i], 1 << 30),
            _ => return Err(bad(&format!(" (unknown suffix {c:?})"))),
        },
        _ => (t, 1),
    };
    let digits = number.bytes().filter(u8::is_ascii_digit).count();
    if digits == 0 || digits + (number.contains('.') as usize) != number.len() {
        return Err(bad(""));
    }
    let bytes = match number.parse::<u64>() {
        Ok(n) => n.checked_mul(multiplier),
        // A decimal fraction (the shape is checked above).
        Err(_) => {
            let n = number.parse::<f64>().map_err(|_| bad(""))? * multiplier as f64;
            (n < u64::MAX as f64).then_some(n as u64)
        }
    };
    match bytes {
        None => Err(bad(" (more than 2^64 - 1 bytes/s)")),
        Some(0) if number.bytes().any(|b| (b'1'..=b'9').contains(&b)) => Err(bad(" (below 1 byte/s)")),
        Some(b) => Ok(b),
    }
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
/// some of them set), then its rate limit (`--limit-rate`; only a failing store refuses it),
/// then switches it to the foreground if asked. When the queue refuses a property, nothing is
/// changed and the group is not switched.
fn apply(
    group: &Group,
    changes: &[(PropId, PropValue)],
    rate_limit: Option<u64>,
    foreground: bool,
) -> qmgr_rs::Result<()> {
    group.set_props(changes)?;
    if let Some(rate) = rate_limit {
        group.set_rate_limit(rate)?;
    }
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
    if let Err(e) = apply(&group, &changes, args.limit_rate, args.foreground) {
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
    if changes.is_empty() && args.limit_rate.is_none() && !args.foreground && !args.background {
        return Err(Failure::usage("nothing to set: give at least one property option (see `qmgr set --help`)"));
    }
    if args.background {
        let g = group.snapshot()?;
        if g.foreground || g.jobs.iter().any(|j| j.foreground) {
            return Err(sticky_foreground(group.id(), &queue.command_prefix()));
        }
    }
    apply(&group, &changes, args.limit_rate, args.foreground)?;
    let id = group.id();
    if !changes.is_empty() || args.limit_rate.is_some() || args.foreground {
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

    /// `--limit-rate`: curl's and wget's binary suffixes in either case, decimals, 0 = none;
    /// everything else refused with the text named.
    #[test]
    fn rates_as_curl_and_wget_take_them() {
        let good = [
            ("0", 0),
            ("1", 1),
            ("524288", 524288),
            ("512k", 512 * 1024),
            ("512K", 512 * 1024),
            ("2M", 2 << 20),
            ("2m", 2 << 20),
            ("1G", 1 << 30),
            ("1g", 1 << 30),
            ("1.5M", 3 << 19),
            ("0.5k", 512),
            (" 64k ", 64 << 10),
            ("0k", 0),
            ("0.0", 0),
            ("18446744073709551615", u64::MAX),
            ("17179869183G", 17179869183 << 30),
        ];
        for (text, want) in good {
            assert_eq!(parse_rate(text), Ok(want), "{text:?}");
        }
        let bad =
            ["", "k", "-1", "1.2.3", "1e3", "12x", "5 k", "1kb", "0x10", ".", "17179869184G", "0.0001k", "1,5M", "∞"];
        for text in bad {
            let e = parse_rate(text).unwrap_err();
            assert!(e.contains(&format!("{text:?}")) && e.contains("512k"), "{text:?}: {e}");
        }
        assert!(parse_rate("1t").unwrap_err().contains("unknown suffix 't'"));
        assert!(parse_rate("17179869184G").unwrap_err().contains("2^64"));
        assert!(parse_rate("0.0001k").unwrap_err().contains("below 1 byte/s"));
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
