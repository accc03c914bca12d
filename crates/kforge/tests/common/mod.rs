//! What the kforge integration tests share: where the repository and the
//! oracle trees are, the kforge binary, and the C conf as the oracle.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `target/oracle` (or `$KFORGE_ORACLE`): the 6.1 and 6.12 trees, their C
/// conf and the environments make gives it (scripts/prepare-oracle).
pub fn oracle() -> PathBuf {
    let o = std::env::var_os("KFORGE_ORACLE")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/oracle"));
    assert!(
        o.join("6.12/conf").is_file(),
        "no oracle at {}: run scripts/prepare-oracle first",
        o.display()
    );
    o
}

/// The kforge binary, with a probe cache private to the tests.
pub fn kforge() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kforge"));
    c.env("XDG_CACHE_HOME", repo_root().join("target/test-cache"));
    c
}

/// Exit status, stdout and stderr, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Run the oracle's C conf --olddefconfig on `config` with the environment
/// make gave it for `arch`, and return the .config it writes.
pub fn c_olddefconfig(ver: &str, arch: &str, config: &str) -> String {
    let o = oracle();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".config"), config).unwrap();
    let env = std::fs::read_to_string(o.join(format!("{ver}/env/{arch}.env"))).unwrap();
    let mut c = Command::new(o.join(format!("{ver}/conf")));
    c.env_clear().current_dir(dir.path());
    for l in env.lines() {
        if let Some((k, v)) = l.split_once('=') {
            c.env(k, v);
        }
    }
    let out = c
        .env("KCONFIG_CONFIG", ".config")
        .args(["-s", "--olddefconfig", "Kconfig"])
        .output()
        .unwrap();
    assert!(out.status.success(), "C conf: {}", text(&out));
    std::fs::read_to_string(dir.path().join(".config")).unwrap()
}

/// `target/modules-oracle` (or `$KFORGE_MODULES_ORACLE`): Debian's module
/// tree that kmod's depmod and modprobe are compared on
/// (scripts/prepare-modules).
pub fn modules_oracle() -> PathBuf {
    std::env::var_os("KFORGE_MODULES_ORACLE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            repo_root()
                .canonicalize()
                .unwrap()
                .join("target/modules-oracle")
        })
}
