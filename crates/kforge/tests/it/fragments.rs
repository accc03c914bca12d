//! `[build] fragments` against the kernel's own `make`: on the 6.12 tree
//! a declaration with a base and fragments writes the `.config` that
//! `make ARCH=x86_64 <base> <fragment>...` writes, and a fragment the tree
//! lacks is an error at its place in the declaration listing the ones it has.
//!
//! A second-tier test file: compiled with the `oracle-tests` feature only
//! (scripts/test); without its prerequisites it fails naming
//! scripts/prepare-oracle.
#![cfg(feature = "oracle-tests")]

use crate::common;

use std::path::Path;
use std::process::Command;

use common::{kforge, oracle, text};

/// What `make ARCH=x86_64 TARGETS...` writes in a fresh object directory.
fn make_config(tree: &Path, targets: &[&str]) -> String {
    make_config_for(tree, "x86_64", targets)
}

/// What `make ARCH=<arch> TARGETS...` writes in a fresh object directory.
fn make_config_for(tree: &Path, arch: &str, targets: &[&str]) -> String {
    let obj = tempfile::tempdir().unwrap();
    let o = Command::new("make")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        // kforge passes HOME on too (rustup finds rustc through it, and
        // RUSTC_VERSION is in the .config).
        .env("HOME", std::env::var("HOME").unwrap_or_default())
        .arg("-s")
        .arg("-C")
        .arg(tree)
        .arg(format!("O={}", obj.path().display()))
        .arg(format!("ARCH={arch}"))
        .args(targets)
        .output()
        .unwrap();
    assert!(o.status.success(), "make {targets:?}: {}", text(&o));
    std::fs::read_to_string(obj.path().join(".config")).unwrap()
}

/// `kforge config` of a declaration with `build` as its [build] body.
fn kforge_config(tree: &Path, build: &str) -> (std::process::Output, String) {
    kforge_config_for(tree, "x86_64", build)
}

/// [`kforge_config`] for `arch`.
fn kforge_config_for(tree: &Path, arch: &str, build: &str) -> (std::process::Output, String) {
    let d = tempfile::tempdir().unwrap();
    let spec = d.path().join("kernel.toml");
    std::fs::write(
        &spec,
        format!("[source]\nversion = \"6.12\"\n[build]\narch = \"{arch}\"\n{build}"),
    )
    .unwrap();
    let out = d.path().join("out.config");
    let o = kforge()
        .arg("config")
        .arg(&spec)
        .arg("--tree")
        .arg(tree)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    (o, std::fs::read_to_string(&out).unwrap_or_default())
}

#[test]
fn fragments_write_what_make_writes() {
    let tree = oracle().join("6.12/src");
    for (targets, build) in [
        (
            &["defconfig", "hardening.config"][..],
            "base = \"defconfig\"\nfragments = [\"hardening.config\"]\n",
        ),
        (
            &["tinyconfig", "kvm_guest.config", "hardening.config"][..],
            "base = \"tinyconfig\"\nfragments = [\"kvm_guest.config\", \"hardening.config\"]\n",
        ),
    ] {
        let want = make_config(&tree, targets);
        let (o, got) = kforge_config(&tree, build);
        let report = text(&o);
        assert!(o.status.success(), "{targets:?}: {report}");
        assert!(
            got == want,
            "{targets:?}: kforge's .config differs from make's:\n{}",
            first_difference(&want, &got)
        );
        // A line that did not hold is a warning at its place in the tree.
        if report.contains("did not hold") {
            assert!(
                report.contains("at kernel/configs/hardening.config:")
                    || report.contains("at arch/x86/configs/"),
                "{report}"
            );
        }
    }
}

fn first_difference(want: &str, got: &str) -> String {
    let (w, g): (Vec<&str>, Vec<&str>) = (want.lines().collect(), got.lines().collect());
    for i in 0..w.len().max(g.len()) {
        if w.get(i) != g.get(i) {
            return format!(
                "line {}: make: {:?}, kforge: {:?}",
                i + 1,
                w.get(i),
                g.get(i)
            );
        }
    }
    String::new()
}

#[test]
fn a_request_wins_over_a_fragment_line_and_a_missing_fragment_lists_the_others() {
    let tree = oracle().join("6.12/src");
    // hardening.config asks for BUG_ON_DATA_CORRUPTION=y; the declaration
    // says n, and holds.
    let (o, got) = kforge_config(
        &tree,
        "fragments = [\"hardening.config\"]\n[config]\nBUG_ON_DATA_CORRUPTION = \"n\"\n",
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        got.contains("# CONFIG_BUG_ON_DATA_CORRUPTION is not set\n"),
        "{got}"
    );

    let (o, _) = kforge_config(&tree, "fragments = [\"hardned.config\"]\n");
    let report = text(&o);
    assert_eq!(o.status.code(), Some(1), "{report}");
    assert!(
        report.contains("the tree has no fragment `hardned.config`")
            && report.contains("kernel.toml:5:14")
            && report.contains("hardening.config, kvm_guest.config")
            && report.contains("xen.config"),
        "{report}"
    );
}

/// mips' default configuration is `32r2el_defconfig`, which
/// arch/mips/Makefile generates: generic_defconfig with 32r2.config and
/// el.config, olddefconfig, then each board fragment whose `# require`
/// lines that configuration meets, olddefconfig again.
#[test]
fn a_generated_mips_default_configuration_is_makes() {
    let tree = oracle().join("6.12/src");
    let want = make_config_for(&tree, "mips", &["defconfig"]);
    let (o, got) = kforge_config_for(&tree, "mips", "base = \"defconfig\"\n");
    assert!(o.status.success(), "{}", text(&o));
    // The boards were merged (32r2el meets all their requirements).
    assert!(got.contains("\nCONFIG_FIT_IMAGE_FDT_OCELOT=y\n"), "{got}");
    assert!(
        got == want,
        "kforge's .config differs from make's:\n{}",
        first_difference(&want, &got)
    );
}

/// powerpc's default configuration on another host is `ppc64le_defconfig`,
/// which arch/powerpc/Makefile makes by merging `le.config` into
/// `ppc64_defconfig`: `base = "defconfig"` gives what make gives.
#[test]
fn a_generated_default_configuration_is_makes() {
    let tree = oracle().join("6.12/src");
    let want = make_config_for(&tree, "powerpc", &["defconfig"]);
    let (o, got) = kforge_config_for(&tree, "powerpc", "base = \"defconfig\"\n");
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        got == want,
        "kforge's .config differs from make's:\n{}",
        first_difference(&want, &got)
    );
}
