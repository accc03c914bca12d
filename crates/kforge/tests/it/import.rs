//! `kforge import` on Debian's configs (6.1 and 6.12, from the
//! linux-config packages: amd64's installed, one flavour of every other
//! architecture from scripts/prepare-debian-configs) and on what make
//! writes, against a defconfig base: the declaration it writes, resolved
//! by `kforge config`, gives the configuration the kernel's own C conf
//! makes of the input with `--olddefconfig`.
//!
//! A second-tier test file: compiled with the `oracle-tests` feature only
//! (scripts/test); without its prerequisites it fails naming
//! scripts/prepare-oracle, scripts/prepare-debian-configs or the
//! linux-config packages.
#![cfg(feature = "oracle-tests")]

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::{c_olddefconfig, kforge, oracle, text};

fn xz_text(path: &Path) -> String {
    let o = Command::new("xz").arg("-dc").arg(path).output().unwrap();
    assert!(o.status.success());
    String::from_utf8(o.stdout).unwrap()
}

/// Symbol → value, `n` left out.
fn values(config: &str) -> BTreeMap<String, String> {
    config
        .lines()
        .filter_map(|l| l.strip_prefix("CONFIG_")?.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn import_and_check(ver: &str, flavour: &str) {
    import_from(ver, ver, flavour);
}

/// Import Debian's `config_ver` config `flavour` on the `ver` tree, resolve
/// the declaration and compare with the C conf's olddefconfig of the input
/// on that tree; kforge import's messages.
fn import_from(ver: &str, config_ver: &str, flavour: &str) -> String {
    let input = kforge_testkit::debian_config_any(config_ver, flavour);
    import_file(ver, &input, "x86_64", "x86_64", flavour, 1000)
}

/// [`import_from`] for Debian's config `flavour` of another architecture,
/// imported with `--arch arch` and compared with the C conf run in the
/// environment make gives it for `env` (the ARCH Debian builds with).
fn import_arch(ver: &str, flavour: &str, arch: &str, env: &str) {
    let input = kforge_testkit::debian_config_any(ver, flavour);
    import_file(ver, &input, arch, env, flavour, 1000);
}

/// Import `input` with `--arch arch` on the `ver` tree (at least
/// `min_requests` requests), resolve the declaration, and compare with the
/// C conf's olddefconfig of the input in the captured environment `env`.
fn import_file(
    ver: &str,
    input: &Path,
    arch: &str,
    env: &str,
    what: &str,
    min_requests: usize,
) -> String {
    let d = tempfile::tempdir().unwrap();
    let toml = d.path().join("kernel.toml");
    let tree = oracle().join(format!("{ver}/src"));
    let o = kforge()
        .arg("import")
        .arg(input)
        .args(["--base", "defconfig", "--arch", arch, "--tree"])
        .arg(&tree)
        .arg("-o")
        .arg(&toml)
        .output()
        .unwrap();
    let err = text(&o);
    assert!(o.status.success(), "{err}");
    let decl = std::fs::read_to_string(&toml).unwrap();
    let requests = decl
        .lines()
        .skip_while(|l| *l != "[config]")
        .skip(1)
        .filter(|l| l.contains(" = "))
        .count();
    let savedefconfig = err
        .split("savedefconfig: ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .unwrap_or("?");
    eprintln!("{ver} {what}: {requests} requests (savedefconfig: {savedefconfig} symbols)");
    assert!(requests >= min_requests, "{requests} requests: {decl}");

    // Resolve the declaration with kforge config, independently.
    let out = d.path().join("resolved.config");
    let o = kforge()
        .arg("config")
        .arg(&toml)
        .arg("--tree")
        .arg(&tree)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let resolved = std::fs::read_to_string(&out).unwrap();
    let input_text = if input.extension().is_some_and(|e| e == "xz") {
        xz_text(input)
    } else {
        std::fs::read_to_string(input).unwrap()
    };
    let want = c_olddefconfig(ver, env, &input_text);
    assert_eq!(values(&resolved), values(&want), "{ver} {what}");
    assert!(resolved == want, "{ver} {what}: not byte-identical");
    err
}

/// A config from an older kernel is migrated as olddefconfig would, with a
/// warning naming both versions.
#[test]
fn a_config_for_another_version_is_migrated_with_a_warning() {
    let err = import_from("6.12", "6.1", "amd64_none_cloud-amd64");
    assert!(err.contains("warning: "), "{err}");
    assert!(err.contains("written for Linux 6.1."), "{err}");
    assert!(err.contains("the tree is 6.12."), "{err}");
}

#[test]
fn debian_6_1_configs() {
    for f in [
        "amd64_none_amd64",
        "amd64_none_cloud-amd64",
        "amd64_rt_amd64",
    ] {
        import_and_check("6.1", f);
    }
}

#[test]
fn debian_6_12_configs() {
    for f in [
        "amd64_none_amd64",
        "amd64_none_cloud-amd64",
        "amd64_rt_amd64",
    ] {
        import_and_check("6.12", f);
    }
}

/// One Debian config of every other architecture Debian ships for 6.1,
/// each with its `--arch` (headers `Linux/arm64`, `Linux/arm`, `Linux/x86`
/// for i386, `Linux/mips`, `Linux/powerpc`, `Linux/s390`) and compared in
/// the environment of the ARCH Debian builds it with.
#[test]
fn debian_6_1_configs_of_every_architecture() {
    for (flavour, arch) in [
        ("arm64_none_arm64", "arm64"),
        ("armhf_none_armmp", "arm"),
        ("i386_none_686", "x86"),
        ("mipsel_none_4kc-malta", "mips"),
        ("ppc64el_none_powerpc64le", "powerpc"),
        ("s390x_none_s390x", "s390"),
    ] {
        import_arch("6.1", flavour, arch, arch);
    }
}

/// The same for 6.12 (`Linux/riscv` too; Debian has no i386 6.12 kernel).
#[test]
fn debian_6_12_configs_of_every_architecture() {
    for (flavour, arch) in [
        ("arm64_none_arm64", "arm64"),
        ("armel_none_rpi", "arm"),
        ("mips64el_none_5kc-malta", "mips"),
        ("ppc64el_none_powerpc64le", "powerpc"),
        ("riscv64_none_riscv64", "riscv"),
        ("s390x_none_s390x", "s390"),
    ] {
        import_arch("6.12", flavour, arch, arch);
    }
}

/// What `make ARCH=<arch> defconfig` (`make_arch` `None`: plain `make
/// defconfig`, ARCH from the host) writes on the 6.12 tree, in an object
/// directory made from the oracle's (its conf already built).
fn make_defconfig(dir: &Path, make_arch: Option<&str>) -> std::path::PathBuf {
    let ver = oracle().join("6.12");
    let obj = dir.join("obj");
    let cp = Command::new("cp")
        .arg("-a")
        .arg(ver.join("obj-conf"))
        .arg(&obj)
        .status()
        .unwrap();
    assert!(
        cp.success(),
        "no {}/obj-conf: run scripts/prepare-oracle",
        ver.display()
    );
    let mut make = Command::new("make");
    make.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::var("HOME").unwrap_or_default())
        .arg("-s")
        .arg("-C")
        .arg(ver.join("src"))
        .arg(format!("O={}", obj.display()));
    if let Some(a) = make_arch {
        make.arg(format!("ARCH={a}"));
    }
    let o = make.arg("defconfig").output().unwrap();
    assert!(o.status.success(), "make defconfig: {}", text(&o));
    obj.join(".config")
}

/// `make ARCH=x86_64 defconfig` writes `Linux/x86_64`, plain `make
/// defconfig` `Linux/x86` (ARCH from the host): each is imported with its
/// `--arch` and resolves to the C conf's olddefconfig of it.
#[test]
fn what_make_writes_is_imported() {
    for (make_arch, arch, header) in [
        (Some("x86_64"), "x86_64", "Linux/x86_64 "),
        (None, "x86", "Linux/x86 "),
    ] {
        let d = tempfile::tempdir().unwrap();
        let config = make_defconfig(d.path(), make_arch);
        let input = std::fs::read_to_string(&config).unwrap();
        assert!(
            input.contains(&format!("\n# {header}")),
            "{}",
            &input[..200]
        );
        import_file("6.12", &config, arch, arch, header, 0);
    }
}

/// `kforge import CONFIG` for x86_64 on 6.12, expected to fail: its output.
fn import_fails(config: &Path) -> String {
    let o = kforge()
        .arg("import")
        .arg(config)
        .args(["--arch", "x86_64", "--tree"])
        .arg(oracle().join("6.12/src"))
        .output()
        .unwrap();
    let err = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    err
}

#[test]
fn a_config_for_another_architecture_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let arm = d.path().join("arm64.config");
    // The header names the architecture; C conf would read it silently.
    std::fs::write(
        &arm,
        "#\n# Automatically generated file; DO NOT EDIT.\n# Linux/arm64 6.12.0 Kernel Configuration\n#\nCONFIG_ARM64=y\n",
    )
    .unwrap();
    let err = import_fails(&arm);
    assert!(err.contains("a configuration for arm64"), "{err}");
    assert!(err.contains("give the matching --arch"), "{err}");
    // Without a header: most symbols unknown.
    std::fs::write(
        &arm,
        "CONFIG_ARM64=y\nCONFIG_ARCH_BCM2835=y\nCONFIG_ARM_GIC=y\nCONFIG_ARM64_VA_BITS_48=y\n",
    )
    .unwrap();
    let err = import_fails(&arm);
    assert!(err.contains("are unknown to this tree"), "{err}");
}

/// What `make ARCH=x86_64` writes, and `kforge config` too, says
/// `Linux/x86_64` in its header: imported with `--arch x86_64` or `--arch
/// x86`, it resolves to the C conf's olddefconfig of the input.
#[test]
fn a_config_with_an_x86_64_header_is_imported() {
    let d = tempfile::tempdir().unwrap();
    let tree = oracle().join("6.12/src");
    let input = d.path().join("input.config");
    let o = kforge()
        .arg("config")
        .arg(common::repo_root().join("examples/qemu-x86_64.toml"))
        .arg("--tree")
        .arg(&tree)
        .arg("-o")
        .arg(&input)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let input_text = std::fs::read_to_string(&input).unwrap();
    assert!(
        input_text.contains("\n# Linux/x86_64 6.12."),
        "{}",
        &input_text[..200.min(input_text.len())]
    );
    let want = c_olddefconfig("6.12", "x86_64", &input_text);
    for arch in ["x86_64", "x86"] {
        let toml = d.path().join(format!("{arch}.toml"));
        let o = kforge()
            .arg("import")
            .arg(&input)
            .args(["--base", "tinyconfig", "--arch", arch, "--tree"])
            .arg(&tree)
            .arg("-o")
            .arg(&toml)
            .output()
            .unwrap();
        assert!(o.status.success(), "--arch {arch}: {}", text(&o));
        let out = d.path().join(format!("{arch}.config"));
        let o = kforge()
            .arg("config")
            .arg(&toml)
            .arg("--tree")
            .arg(&tree)
            .arg("-o")
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        let resolved = std::fs::read_to_string(&out).unwrap();
        assert_eq!(values(&resolved), values(&want), "--arch {arch}");
    }
}

#[test]
fn an_existing_output_is_kept_without_force() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("kernel.toml");
    std::fs::write(&out, "# mine\n").unwrap();
    let o = kforge()
        .arg("import")
        .arg(kforge_testkit::debian_config(
            "6.12",
            "amd64_none_cloud-amd64",
        ))
        .args(["--arch", "x86_64", "--tree"])
        .arg(oracle().join("6.12/src"))
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    let err = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("give --force"), "{err}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "# mine\n");
    // A missing input names it.
    let err = import_fails(&d.path().join("absent.config"));
    assert!(err.contains("absent.config: cannot read it"), "{err}");
}

#[test]
fn an_unknown_base_is_refused() {
    let o = kforge()
        .arg("import")
        .arg(kforge_testkit::debian_config(
            "6.12",
            "amd64_none_cloud-amd64",
        ))
        .args(["--base", "tinyconfg", "--arch", "x86_64", "--tree"])
        .arg(oracle().join("6.12/src"))
        .output()
        .unwrap();
    let err = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(
            "--base tinyconfg: expected defconfig, tinyconfig, allnoconfig or alldefconfig"
        ),
        "{err}"
    );
}
