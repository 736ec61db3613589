//! Queue-wide options (C-API.md "Entry point and options"): their values, defaults, text
//! forms and checks (DECISIONS D11, D12, D13).

use crate::hresult::{Error, Result};

/// Queue-wide options (C-API.md "Entry point and options"; floors DECISIONS D11, D12).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Groups that transfer at once (≥ 1, default 4).
    pub max_active_groups: u32,
    /// First retry delay in ms (≥ 100, default 5000); doubles up to 600,000.
    pub min_retry_delay_ms: u64,
    /// Transient errors without progress for this long become fatal (0 = every error fatal).
    pub no_progress_timeout_ms: u64,
    /// Bytes/s over all background groups, 0 = unlimited.
    pub background_rate_limit: u64,
    /// Connect timeout in ms (≥ 100).
    pub connect_timeout_ms: u64,
    /// Read timeout in ms (≥ 100): a stalled server is cut after this long.
    pub read_timeout_ms: u64,
    /// `User-Agent` header ("" = the library's default).
    pub user_agent: String,
    /// Proxy URL: `None` = from the environment, `Some("")` = none.
    pub proxy: Option<String>,
    /// Path of extra PEM root certificates ("" = none).
    pub ca_file: String,
    /// Send credentials over plain `http://` (default false).
    pub allow_credentials_over_http: bool,
    /// Start a background runner when work is queued (default true; DECISIONS D13). The
    /// environment variable `QMGR_AUTOSTART=0` turns it off for a process whatever this says.
    pub autostart: bool,
    /// How background groups use the network (default [`BackgroundMode::Idle`]; DECISIONS D14).
    pub background_mode: BackgroundMode,
    /// Files of a group's current job fetched at once, each over its own connection (≥ 1,
    /// default 6; 1 = one after another; DECISIONS D16).
    pub max_connections_per_group: u32,
}

/// Option `background_mode` (DECISIONS D14): how transfers of background groups (neither the
/// group nor the job foreground) use the network.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BackgroundMode {
    /// `idle` (default): only bandwidth that other traffic leaves unused, as measured by the
    /// controller of [`crate::rules::idle`].
    #[default]
    Idle,
    /// `normal`: compete like any TCP flow (the behaviour before D14).
    Normal,
}

impl BackgroundMode {
    /// The option's text form: `idle` or `normal`.
    pub fn as_str(self) -> &'static str {
        match self {
            BackgroundMode::Idle => "idle",
            BackgroundMode::Normal => "normal",
        }
    }

    /// The mode of its text form ([`BackgroundMode::as_str`]); `None` for anything else.
    pub fn parse(text: &str) -> Option<BackgroundMode> {
        [BackgroundMode::Idle, BackgroundMode::Normal].into_iter().find(|m| m.as_str() == text)
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_active_groups: 4,
            min_retry_delay_ms: 5_000,
            no_progress_timeout_ms: 1_209_600_000,
            background_rate_limit: 0,
            connect_timeout_ms: 30_000,
            read_timeout_ms: 60_000,
            user_agent: String::new(),
            proxy: None,
            ca_file: String::new(),
            allow_credentials_over_http: false,
            autostart: true,
            background_mode: BackgroundMode::Idle,
            max_connections_per_group: 6,
        }
    }
}

/// Names of every option, in documentation order.
pub const OPTION_NAMES: &[&str] = &[
    "max_active_groups",
    "min_retry_delay_ms",
    "no_progress_timeout_ms",
    "background_rate_limit",
    "connect_timeout_ms",
    "read_timeout_ms",
    "user_agent",
    "proxy",
    "ca_file",
    "allow_credentials_over_http",
    "autostart",
    "background_mode",
    "max_connections_per_group",
];

/// A string option's value, refused when it holds a control character (CR/LF would split an
/// HTTP header: `user_agent` is sent as one; DECISIONS D12 "anything else → E_INVALIDARG").
fn no_control_chars(name: &str, value: &str) -> Result<String> {
    match value.char_indices().find(|(_, c)| c.is_control()) {
        Some((i, c)) => Err(Error::invalid_arg(format!(
            "option {name}: the value holds a control character (U+{:04X}) at byte {i}",
            c as u32
        ))),
        None => Ok(value.to_string()),
    }
}

/// A `0`/`1` option.
fn parse_flag(name: &str, value: &str) -> Result<bool> {
    match value {
        "0" => Ok(false),
        "1" => Ok(true),
        _ => Err(Error::invalid_arg(format!("option {name}: value \"{value}\" is not 0 or 1"))),
    }
}

fn parse_decimal(name: &str, value: &str) -> Result<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::invalid_arg(format!("option {name}: value \"{value}\" is not a plain decimal integer")));
    }
    value.parse::<u64>().map_err(|_| Error::invalid_arg(format!("option {name}: value \"{value}\" overflows")))
}

impl Options {
    /// `min_retry_delay_ms` as a duration: the first retry delay (DECISIONS D5).
    pub fn min_retry_delay(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.min_retry_delay_ms)
    }

    /// `no_progress_timeout_ms` as a duration (DECISIONS D5).
    pub fn no_progress_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.no_progress_timeout_ms)
    }

    /// Sets one option from its text form, checking it (DECISIONS D12).
    ///
    /// Errors: `E_INVALIDARG` for an unknown name or a bad value (the message names both).
    /// `ca_file` is checked for readability by the caller that owns file I/O (the transport).
    pub fn set(&mut self, name: &str, value: &str) -> Result<()> {
        let floor = |v: u64, min: u64| {
            if v < min {
                Err(Error::invalid_arg(format!("option {name}: {v} is below the minimum {min}")))
            } else {
                Ok(v)
            }
        };
        let count = |value: &str| {
            let v = floor(parse_decimal(name, value)?, 1)?;
            u32::try_from(v).map_err(|_| Error::invalid_arg(format!("option {name}: {v} is too large")))
        };
        match name {
            "max_active_groups" => self.max_active_groups = count(value)?,
            "max_connections_per_group" => self.max_connections_per_group = count(value)?,
            "min_retry_delay_ms" => self.min_retry_delay_ms = floor(parse_decimal(name, value)?, 100)?,
            "no_progress_timeout_ms" => self.no_progress_timeout_ms = parse_decimal(name, value)?,
            "background_rate_limit" => self.background_rate_limit = parse_decimal(name, value)?,
            "connect_timeout_ms" => self.connect_timeout_ms = floor(parse_decimal(name, value)?, 100)?,
            "read_timeout_ms" => self.read_timeout_ms = floor(parse_decimal(name, value)?, 100)?,
            "allow_credentials_over_http" => self.allow_credentials_over_http = parse_flag(name, value)?,
            "autostart" => self.autostart = parse_flag(name, value)?,
            "user_agent" => self.user_agent = no_control_chars(name, value)?,
            "proxy" => self.proxy = Some(no_control_chars(name, value)?),
            "ca_file" => self.ca_file = no_control_chars(name, value)?,
            "background_mode" => {
                self.background_mode = BackgroundMode::parse(value).ok_or_else(|| {
                    Error::invalid_arg(format!("option {name}: value \"{value}\" is not \"idle\" or \"normal\""))
                })?
            }
            _ => return Err(Error::invalid_arg(format!("option name \"{name}\" is unknown"))),
        }
        Ok(())
    }

    /// The text form of one option (`""` for an unset string option).
    ///
    /// Errors: `E_INVALIDARG` for an unknown name.
    pub fn get(&self, name: &str) -> Result<String> {
        Ok(match name {
            "max_active_groups" => self.max_active_groups.to_string(),
            "min_retry_delay_ms" => self.min_retry_delay_ms.to_string(),
            "no_progress_timeout_ms" => self.no_progress_timeout_ms.to_string(),
            "background_rate_limit" => self.background_rate_limit.to_string(),
            "connect_timeout_ms" => self.connect_timeout_ms.to_string(),
            "read_timeout_ms" => self.read_timeout_ms.to_string(),
            "user_agent" => self.user_agent.clone(),
            "proxy" => self.proxy.clone().unwrap_or_default(),
            "ca_file" => self.ca_file.clone(),
            "allow_credentials_over_http" => u8::from(self.allow_credentials_over_http).to_string(),
            "autostart" => u8::from(self.autostart).to_string(),
            "background_mode" => self.background_mode.as_str().to_string(),
            "max_connections_per_group" => self.max_connections_per_group.to_string(),
            _ => return Err(Error::invalid_arg(format!("option name \"{name}\" is unknown"))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_and_floor() {
        let mut o = Options::default();
        o.set("max_active_groups", "2").unwrap();
        assert_eq!(o.get("max_active_groups").unwrap(), "2");
        for (n, v) in [
            ("max_active_groups", "0"),
            ("max_connections_per_group", "0"),
            ("max_connections_per_group", "4294967296"),
            ("max_connections_per_group", "+6"),
            ("min_retry_delay_ms", "99"),
            ("read_timeout_ms", "-5"),
            ("connect_timeout_ms", " 100"),
            ("no_progress_timeout_ms", "99999999999999999999999"),
            ("allow_credentials_over_http", "2"),
            ("autostart", "yes"),
            ("background_mode", "Idle"),
            ("background_mode", ""),
            ("user_agent", "a\r\nX-Injected: 1"),
            ("proxy", "http://p\n"),
            ("ca_file", "/tmp/\u{7f}"),
            ("nope", "1"),
        ] {
            assert_eq!(o.set(n, v).unwrap_err().hr, crate::hresult::E_INVALIDARG, "{n}={v}");
        }
        assert_eq!(o.get("proxy").unwrap(), "");
        assert_eq!(o.get("autostart").unwrap(), "1", "autostart is on by default (D13)");
        o.set("autostart", "0").unwrap();
        assert!(!o.autostart);
        o.set("proxy", "").unwrap();
        assert_eq!(o.proxy, Some(String::new()));
        assert_eq!(o.get("background_mode").unwrap(), "idle", "idle by default (D14)");
        o.set("background_mode", "normal").unwrap();
        assert_eq!(o.background_mode, BackgroundMode::Normal);
        assert_eq!(o.get("max_connections_per_group").unwrap(), "6", "6 by default (D16)");
        o.set("max_connections_per_group", "1").unwrap();
        assert_eq!(o.max_connections_per_group, 1);
        let e = o.set("max_connections_per_group", "0").unwrap_err();
        assert!(e.message.contains("max_connections_per_group"), "{}", e.message);
    }
}
