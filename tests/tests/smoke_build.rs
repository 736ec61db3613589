//! The C example builds against the installed header and library and reports bad usage.

#![forbid(unsafe_code)]

use qmgr_tests::{compile, workspace_root, Lang};

#[test]
fn download_example_compiles_and_rejects_missing_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let exe = compile(Lang::C11, &[&workspace_root().join("examples-c/download.c")], &dir.path().join("download"), &[]);
    let out = std::process::Command::new(&exe).output().unwrap();
    assert!(!out.status.success(), "download without arguments must fail");
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage"), "stderr: {}", String::from_utf8_lossy(&out.stderr));
}
