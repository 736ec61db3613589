//! The boundary to the queue's background runner (DECISIONS D13): core decides when a runner
//! is needed ([`crate::rules::runner`]); a [`Launcher`] (in `qmgr-rs`: systemd user unit or a
//! detached `qmgr serve --exit-when-idle`) starts one. Core does no process or file I/O.

use crate::hresult::Result;

/// Starts the queue's background runner when none serves it.
pub trait Launcher: Send + Sync {
    /// Makes sure a runner will serve the queue: nothing when one holds the runner lock (or
    /// was started moments ago and is taking it), else starts one. Returns quickly; never
    /// waits for the runner.
    ///
    /// Errors: why no runner could be started (no `qmgr` binary found, spawn failed…); the
    /// engine logs it and reports it through the next status-reading call, never failing the
    /// call that queued the work.
    fn ensure_runner(&self) -> Result<()>;
}
