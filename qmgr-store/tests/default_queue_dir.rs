//! `default_queue_dir` against the real process environment.

use qmgr_core::hresult::QM_E_SERVICE_UNAVAILABLE;
use qmgr_store::default_queue_dir;
use std::path::Path;

/// `default_queue_dir` follows DECISIONS D6. All environment changes happen in this one test,
/// alone in its test binary (its own process), so nothing else reads the environment while it
/// is being changed.
#[test]
fn default_queue_dir_env_precedence() {
    let saved: Vec<_> = ["QMGR_HOME", "XDG_STATE_HOME", "HOME"].iter().map(|k| (*k, std::env::var_os(k))).collect();
    let set = |k: &str, v: Option<&str>| match v {
        Some(v) => std::env::set_var(k, v),
        None => std::env::remove_var(k),
    };

    set("QMGR_HOME", Some("/q/home"));
    set("XDG_STATE_HOME", Some("/xdg/state"));
    set("HOME", Some("/home/u"));
    assert_eq!(default_queue_dir().unwrap(), Path::new("/q/home"));
    set("QMGR_HOME", Some(""));
    assert_eq!(default_queue_dir().unwrap(), Path::new("/xdg/state/qmgr"));
    set("QMGR_HOME", None);
    assert_eq!(default_queue_dir().unwrap(), Path::new("/xdg/state/qmgr"));
    set("XDG_STATE_HOME", Some("relative/state"));
    assert_eq!(default_queue_dir().unwrap(), Path::new("/home/u/.local/state/qmgr"));
    set("XDG_STATE_HOME", None);
    assert_eq!(default_queue_dir().unwrap(), Path::new("/home/u/.local/state/qmgr"));
    set("HOME", None);
    let err = default_queue_dir().unwrap_err();
    assert_eq!(err.hr, QM_E_SERVICE_UNAVAILABLE);

    for (k, v) in saved {
        match v {
            Some(v) => std::env::set_var(k, v),
            None => std::env::remove_var(k),
        }
    }
}
