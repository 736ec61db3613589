//! Exit codes and the one way errors are printed.

use qmgr_rs::hresult::{describe, QM_E_SERVICE_UNAVAILABLE};
use qmgr_rs::Error;

/// The process's exit codes (README "Exit codes").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// 0: the command did what it was asked.
    Success,
    /// 1: a transfer failed; the group stays in the queue in ERROR.
    TransferFailed,
    /// 2: bad usage or input: a bad URL or GUID, an unknown group, a call the queue refused.
    Usage,
    /// 3: interrupted: Ctrl-C (or SIGTERM), or the group was suspended or cancelled by
    /// another command while this one waited for it.
    Interrupted,
    /// 4: the queue cannot be used (directory or database unusable, no default directory), or
    /// the service cannot (`qmgr service install`: no user service manager reachable, no
    /// directory for the unit).
    QueueUnavailable,
    /// 5: `wait --timeout` passed before the group stopped.
    TimedOut,
}

impl Exit {
    /// The numeric exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::TransferFailed => 1,
            Exit::Usage => 2,
            Exit::Interrupted => 3,
            Exit::QueueUnavailable => 4,
            Exit::TimedOut => 5,
        }
    }
}

/// A command that failed before it could finish: printed as `error: <message>` on stderr,
/// then the process exits with `code`.
#[derive(Debug)]
pub struct Failure {
    /// Exit code to use.
    pub code: Exit,
    /// The message, without the `error: ` prefix.
    pub message: String,
}

/// What every command returns: the exit code of a command that ran to its end, or a
/// [`Failure`] to print.
pub type CmdResult = Result<Exit, Failure>;

impl Failure {
    /// A usage or input error (exit code 2) with a plain message.
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure { code: Exit::Usage, message: message.into() }
    }

    /// The queue could not be opened (exit code 4).
    pub fn unavailable(e: &Error) -> Failure {
        Failure { code: Exit::QueueUnavailable, message: api_message(e) }
    }

    /// The queue or the service cannot be used (exit code 4), with a plain message.
    pub fn service_unavailable(message: impl Into<String>) -> Failure {
        Failure { code: Exit::QueueUnavailable, message: message.into() }
    }

    /// Prints `error: <message>` on stderr and returns the exit code.
    pub fn report(self) -> Exit {
        eprintln!("error: {}", self.message);
        self.code
    }
}

/// An API error: exit code 4 for `QM_E_SERVICE_UNAVAILABLE` (the queue cannot be used),
/// else 2.
impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        let code = if e.hr == QM_E_SERVICE_UNAVAILABLE { Exit::QueueUnavailable } else { Exit::Usage };
        Failure { code, message: api_message(&e) }
    }
}

/// `<message> (HRESULT 0xXXXXXXXX: <description>)`, the form of every API error.
pub fn api_message(e: &Error) -> String {
    format!("{} ({})", e.message, hresult_text(e.hr as u32))
}

/// `HRESULT 0xXXXXXXXX: <description>` (the description left out for an unknown code).
pub fn hresult_text(hr: u32) -> String {
    match describe(hr as i32) {
        Some(text) => format!("HRESULT 0x{hr:08X}: {text}"),
        None => format!("HRESULT 0x{hr:08X}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qmgr_rs::hresult::{E_INVALIDARG, QM_E_ITEM_NOT_FOUND};

    #[test]
    fn api_errors_name_the_hresult_and_its_description() {
        let f = Failure::from(Error::new(QM_E_ITEM_NOT_FOUND, "GetGroup: no group"));
        assert_eq!(f.code, Exit::Usage);
        assert!(f.message.starts_with("GetGroup: no group (HRESULT 0x81001004: "), "{}", f.message);
        let f = Failure::from(Error::new(QM_E_SERVICE_UNAVAILABLE, "disk"));
        assert_eq!(f.code, Exit::QueueUnavailable);
        assert_eq!(
            api_message(&Error::new(E_INVALIDARG, "x")),
            "x (HRESULT 0x80070057: One or more arguments are invalid.)"
        );
        assert_eq!(hresult_text(0x1234), "HRESULT 0x00001234");
    }
}
