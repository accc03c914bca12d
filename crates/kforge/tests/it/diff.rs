//! `kforge diff`: two declarations resolved on the 6.1 tree, two Debian
//! .config files, identical inputs, and a missing file.
//!
//! A second-tier test file: compiled with the `oracle-tests` feature only
//! (scripts/test); without its prerequisites it fails naming
//! scripts/prepare-oracle or the linux-config-6.12 package.
#![cfg(feature = "oracle-tests")]

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{kforge, oracle, repo_root};

fn diff(args: &[&std::ffi::OsStr]) -> (Option<i32>, String, String) {
    let o: Output = kforge().arg("diff").args(args).output().unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn example(dir: &Path, name: &str, edit: impl Fn(String) -> String) -> PathBuf {
    let s = std::fs::read_to_string(repo_root().join("examples/qemu-x86_64.toml"))
        .unwrap()
        .replace(
            "\"../profiles/qemu.toml\"",
            &format!("\"{}\"", repo_root().join("profiles/qemu.toml").display()),
        );
    let p = dir.join(name);
    std::fs::write(&p, edit(s)).unwrap();
    p
}

#[test]
fn two_declarations_with_reasons() {
    let d = tempfile::tempdir().unwrap();
    let a = example(d.path(), "a.toml", |s| s);
    let b = example(d.path(), "b.toml", |s| {
        s.replace("DUMMY = \"m\"\n", "DUMMY = \"y\"\nVETH = \"m\"\n")
    });
    let tree = oracle().join("6.1/src");
    let (code, out, err) = diff(&[
        a.as_os_str(),
        b.as_os_str(),
        "--tree".as_ref(),
        tree.as_os_str(),
    ]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(
        out.contains("\nDevice Drivers > Network device support"),
        "{out}"
    );
    assert!(out.contains("  DUMMY: m -> y  (A: requested at "), "{out}");
    assert!(out.contains("a.toml:"), "{out}");
    assert!(
        out.contains("  VETH: n -> m  (A: the base configuration; B: requested at "),
        "{out}"
    );
    assert!(out.ends_with("2 symbols differ\n"), "{out}");
    // A declaration against itself.
    let (code, out, _) = diff(&[
        a.as_os_str(),
        a.as_os_str(),
        "--tree".as_ref(),
        tree.as_os_str(),
    ]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.ends_with("0 symbols differ\n"), "{out}");
}

#[test]
fn two_config_files_grouped_by_menu() {
    let a = kforge_testkit::debian_config("6.12", "amd64_none_amd64");
    let b = kforge_testkit::debian_config("6.12", "amd64_none_cloud-amd64");
    let tree = oracle().join("6.12/src");
    let (code, out, err) = diff(&[
        a.as_os_str(),
        b.as_os_str(),
        "--tree".as_ref(),
        tree.as_os_str(),
        "--arch".as_ref(),
        "x86_64".as_ref(),
    ]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        out.contains("\nDevice Drivers > Watchdog Timer Support\n"),
        "{out}"
    );
    assert!(out.contains("\n  ITCO_WDT: m -> n\n"), "{out}");
    // Without a tree: flat.
    let (code, out, _) = diff(&[a.as_os_str(), b.as_os_str()]);
    assert_eq!(code, Some(1));
    assert!(
        out.contains("(not grouped: give --tree and --arch)"),
        "{out}"
    );
    // A missing file: exit 2, named.
    let (code, _, err) = diff(&[a.as_os_str(), "/nonexistent/x.config".as_ref()]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("/nonexistent/x.config: cannot read it"),
        "{err}"
    );
}
