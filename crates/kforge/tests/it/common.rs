//! What the kforge integration tests share: the kforge binary, and from
//! kforge-testkit where the repository and the oracle trees are and the C
//! conf as the oracle.
#![allow(dead_code)]
#![allow(unused_imports)]

use std::process::Command;

pub use kforge_testkit::{c_olddefconfig, modules_oracle, oracle, repo_root, text};

/// The kforge binary, with a probe cache private to the tests.
pub fn kforge() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kforge"));
    c.env("XDG_CACHE_HOME", repo_root().join("target/test-cache"));
    c
}
