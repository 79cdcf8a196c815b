//! Helpers shared by the command-line tests: run the built `hv-dynmem` binary and check how it
//! ended.
#![allow(
    dead_code,
    reason = "each test crate includes this module and uses a different subset of it"
)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// The binary under test, as a command to add arguments to.
pub fn hv_dynmem() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hv-dynmem"))
}

/// Runs `cmd` and returns its output; fails the test, showing stderr, unless it succeeded.
pub fn succeeds(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("the binary runs");
    assert!(
        out.status.success(),
        "{:?} failed: {}",
        cmd,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `cmd` and returns its output; fails the test unless it exited unsuccessfully.
pub fn fails(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("the binary runs");
    assert!(!out.status.success(), "{cmd:?} succeeded but should fail");
    out
}

/// A scratch directory for this test process, named after `tag`.
pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hvdm-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    dir
}
