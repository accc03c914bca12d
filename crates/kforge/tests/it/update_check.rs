//! `kforge update --check` between the real 6.1 and 6.12 trees (standing
//! for the old and the new release of a branch): the requests whose
//! outcome or meaning changed, each with the engine's explanation.
//!
//! The trees are those `scripts/prepare-oracle` unpacks, under
//! `$KFORGE_ORACLE` or `<repo>/target/oracle`.
//!
//! A second-tier test file: compiled with the `oracle-tests` feature only
//! (scripts/test); without its prerequisites it fails naming
//! scripts/prepare-oracle.
#![cfg(feature = "oracle-tests")]

use kforge_testkit::repo_root;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The kernel tree of `ver` in the prepared oracle (kforge-testkit).
fn tree(ver: &str) -> PathBuf {
    kforge_testkit::oracle_tree(ver)
}

/// A lock with 6.12 at 6.12.1 and a release list (a local file: nothing is
/// downloaded with --dry-run and both trees given) with 6.12.2.
fn setup(dir: &Path) -> (PathBuf, PathBuf) {
    let list = dir.join("releases.json");
    std::fs::write(
        &list,
        r#"{"latest_stable": {"version": "6.12.2"}, "releases": [
  {"moniker": "longterm", "version": "6.12.2", "iseol": false,
   "source": "http://127.0.0.1:9/linux-6.12.2.tar.xz", "pgp": null,
   "released": {"timestamp": 1765800000, "isodate": "2025-12-15"}}]}"#,
    )
    .unwrap();
    let lock = dir.join("kernels.lock.toml");
    std::fs::write(
        &lock,
        "format = 1\n\n[branches.\"6.12\"]\nversion = \"6.12.1\"\n\
         url = \"http://127.0.0.1:9/linux-6.12.1.tar.xz\"\n\
         hash = \"sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\"\n\
         longterm = true\neol = false\n",
    )
    .unwrap();
    (lock, list)
}

fn check(lock: &Path, list: &Path, specs: &[&Path], extra: &[&str]) -> (Output, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kforge"));
    // The probe cache the other tree tests share.
    c.env("XDG_CACHE_HOME", repo_root().join("target/test-cache"))
        .arg("update")
        .arg("--lock")
        .arg(lock)
        .arg("--releases-url")
        .arg(list)
        .arg("--old-tree")
        .arg(tree("6.1"))
        .arg("--new-tree")
        .arg(tree("6.12"))
        .arg("--check")
        .args(specs)
        .args(extra);
    let out = c.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, text)
}

#[test]
fn the_debian_example_finds_a_dependency_that_appeared() {
    let d = tempfile::tempdir().unwrap();
    let (lock, list) = setup(d.path());
    let before = std::fs::read_to_string(&lock).unwrap();
    let debian = repo_root().join("examples/debian-amd64.toml");
    let qemu = repo_root().join("examples/qemu-x86_64.toml");
    let (out, text) = check(&lock, &list, &[&debian, &qemu], &["--dry-run"]);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("6.12: 6.12.1 -> 6.12.2"), "{text}");
    // DEBUG_INFO_BTF = "n" still holds, but 6.12 added dependencies on
    // the pahole version (and dropped the DWARF5 one): found and explained.
    assert!(
        text.contains("note[meaning-changed]: DEBUG_INFO_BTF = \"n\" holds with 6.1.192 and 6.12."),
        "{text}"
    );
    assert!(text.contains("debian-amd64.toml:17:1"), "{text}");
    assert!(
        text.contains(": PAHOLE_VERSION>=116\n"),
        "a dependency that appeared: {text}"
    );
    assert!(text.contains("a dependency appeared in 6.12."), "{text}");
    assert!(
        text.contains("a dependency went away in 6.12.")
            && text.contains("!DEBUG_INFO_DWARF5 || PAHOLE_VERSION>=121"),
        "{text}"
    );
    // KERNEL_ZSTD's choice moved its conditions around between 6.1 and
    // 6.12; the check does not mistake that for a change.
    assert!(!text.contains("KERNEL_ZSTD"), "{text}");
    assert!(
        text.contains("debian-amd64.toml (pins 6.12): 6.1.192 -> 6.12.")
            && text.contains(": 6 requests, 0 newly failing, 0 warnings, 1 notes"),
        "{text}"
    );
    assert!(
        text.contains(": 27 requests, 0 newly failing, 0 warnings, 0 notes"),
        "{text}"
    );
    assert_eq!(std::fs::read_to_string(&lock).unwrap(), before);
}

#[test]
fn a_request_that_newly_fails_is_an_error() {
    let d = tempfile::tempdir().unwrap();
    let (lock, list) = setup(d.path());
    // Follows the lock's branch; SLAB is gone in 6.12 (removed in 6.8),
    // SLUB_TINY is new (6.2).
    let spec = d.path().join("slab.toml");
    std::fs::write(
        &spec,
        "[source]\nversion = { branch = \"6.12\" }\n\n[build]\narch = \"x86_64\"\nbase = \"tinyconfig\"\n\n\
         [config]\nSLAB = \"y\"\nSLUB_TINY = { value = \"y\", optional = true }\nPRINTK = \"y\"\n",
    )
    .unwrap();
    let (out, text) = check(&lock, &list, &[&spec], &["--dry-run"]);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("error[unknown-symbol]: SLAB = \"y\" held with 6.1.192 but not with 6.12."),
        "{text}"
    );
    assert!(
        text.contains("unknown symbol: not defined in this tree; did you mean SLUB?"),
        "{text}"
    );
    assert!(text.contains("with 6.1.192 it held (SLAB = y)"), "{text}");
    assert!(text.contains("slab.toml:9:1"), "{text}");
    assert!(
        text.contains(
            "note[now-holds]: SLUB_TINY = \"y\" did not hold with 6.1.192; it holds with 6.12."
        ),
        "{text}"
    );
    assert!(
        text.contains("slab.toml (follows 6.12): 6.1.192 -> 6.12.")
            && text.contains(": 3 requests, 1 newly failing, 0 warnings, 1 notes"),
        "{text}"
    );
}

#[test]
fn nothing_to_check_when_the_branch_does_not_change() {
    let d = tempfile::tempdir().unwrap();
    let (lock, list) = setup(d.path());
    let spec = d.path().join("old.toml");
    std::fs::write(
        &spec,
        "[source]\nversion = \"6.6.3\"\n[build]\narch = \"x86_64\"\n",
    )
    .unwrap();
    // No trees given: the 6.6 branch is not on the list, nothing changes.
    let out = Command::new(env!("CARGO_BIN_EXE_kforge"))
        .env("XDG_CACHE_HOME", d.path().join("cache"))
        .args(["update", "--dry-run", "--lock"])
        .arg(&lock)
        .arg("--releases-url")
        .arg(&list)
        .arg("--check")
        .arg(&spec)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("old.toml: branch 6.6 does not change; nothing to check"),
        "{text}"
    );
}
