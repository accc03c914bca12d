//! `kforge audit` on the real 6.12 tree and Debian's amd64 configuration:
//! every verdict that needs attention carries the engine's reason, the
//! checked fixes written with --write make every fixable recommendation
//! hold, and `kforge config` then resolves the declaration cleanly; a plain
//! .config is audited the same way; bad policies are refused.
//!
//! A second-tier test file: compiled with the `oracle-tests` feature only
//! (scripts/test); without its prerequisites it fails naming
//! scripts/prepare-oracle.
#![cfg(feature = "oracle-tests")]

use crate::common;

use std::path::Path;

use common::{kforge, oracle, repo_root, text};

fn audit(args: &[&str], cwd: &Path) -> (Option<i32>, String, String) {
    let o = kforge()
        .current_dir(cwd)
        .arg("audit")
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn json(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[test]
fn debian_6_12_audited_fixed_with_write_and_audited_again() {
    let tree = oracle().join("6.12/src");
    let tree = tree.to_str().unwrap();
    let d = tempfile::tempdir().unwrap();
    let spec = d.path().join("kernel.toml");
    std::fs::copy(repo_root().join("examples/debian-amd64.toml"), &spec).unwrap();
    let before = std::fs::read_to_string(&spec).unwrap();

    let (code, out, err) = audit(&["kernel.toml", "--tree", tree, "--json"], d.path());
    assert_eq!(code, Some(1), "{err}");
    let report = json(&out);
    let findings = report["findings"].as_array().unwrap();
    let count = |k: &str| findings.iter().filter(|f| f["verdict"] == k).count();
    let (dnh, ch) = (count("does-not-hold"), count("cannot-hold"));
    assert!(dnh > 10 && ch >= 1, "{dnh} {ch}");
    // Every finding that needs attention says why, and a fixable one how.
    for f in findings {
        match f["verdict"].as_str().unwrap() {
            "does-not-hold" | "cannot-hold" | "does-not-apply" => {
                assert!(f["reason"].as_str().is_some_and(|r| !r.is_empty()), "{f}");
            }
            _ => {}
        }
        if f["verdict"] == "cannot-hold" {
            assert!(f["problem"].is_string(), "{f}");
        }
    }
    // CFI_CLANG needs clang's kCFI: gcc's probe fails, and the reason shows
    // the dependency with its value.
    let cfi = findings
        .iter()
        .find(|f| f["symbol"] == "CFI_CLANG" && f["policy"] == "kspp")
        .unwrap();
    assert_eq!(cfi["verdict"], "cannot-hold");
    assert_eq!(cfi["problem"], "unmet-dependency");
    assert!(
        cfi["reason"]
            .as_str()
            .unwrap()
            .contains("ARCH_SUPPORTS_CFI_CLANG [=y]"),
        "{cfi}"
    );
    // A recommendation for arm64 does not apply on x86_64.
    let pac = findings
        .iter()
        .find(|f| f["symbol"] == "ARM64_PTR_AUTH_KERNEL")
        .unwrap();
    assert_eq!(pac["verdict"], "does-not-apply");

    // The text report: grouped by menu, with the summary table.
    let (code, _, text_report) = audit(&["kernel.toml", "--tree", tree], d.path());
    assert_eq!(code, Some(1));
    assert!(
        text_report.contains("\nSecurity options\n")
            && text_report.contains("policy     holds  does not hold  cannot hold  does not apply")
            && text_report.contains("fix (checked): "),
        "{text_report}"
    );
    // --fail-on fixable still fails (there are fixable ones); never does not.
    let (code, _, _) = audit(
        &["kernel.toml", "--tree", tree, "--fail-on", "never"],
        d.path(),
    );
    assert_eq!(code, Some(0));

    // --write: the fixes go into [config], the comments stay.
    let (_, _, err) = audit(&["kernel.toml", "--tree", tree, "--write"], d.path());
    assert!(err.contains("kforge: wrote "), "{err}");
    let after = std::fs::read_to_string(&spec).unwrap();
    assert!(after.starts_with(&before[..before.find("[config]").unwrap()]));
    assert!(after.contains("# Debian sets MAXSMP, which fixes NR_CPUS at 8192.\n"));
    assert!(after.contains("\nPROC_KCORE = \"n\"\n"), "{after}");

    // kforge config resolves it with every request held.
    let o = kforge()
        .current_dir(d.path())
        .args(["config", "kernel.toml", "--tree", tree, "-o", "out.config"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains(" 0 errors, 0 warnings"), "{}", text(&o));

    // And the audit finds every fixable recommendation held; only those that
    // cannot hold here are left, so --fail-on fixable passes.
    let (code, out, err) = audit(
        &[
            "kernel.toml",
            "--tree",
            tree,
            "--json",
            "--fail-on",
            "fixable",
        ],
        d.path(),
    );
    assert_eq!(code, Some(0), "{err}");
    let again = json(&out);
    let findings = again["findings"].as_array().unwrap();
    let left: Vec<&serde_json::Value> = findings
        .iter()
        .filter(|f| f["verdict"] == "does-not-hold")
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let ch_after = findings
        .iter()
        .filter(|f| f["verdict"] == "cannot-hold")
        .count();
    assert_eq!(ch_after, ch);
}

#[test]
fn a_plain_config_and_bad_policies() {
    let tree = oracle().join("6.12/src");
    let tree = tree.to_str().unwrap();
    let d = tempfile::tempdir().unwrap();
    let debian = "/usr/src/linux-config-6.12/config.amd64_none_amd64.xz";
    let (code, out, err) = audit(
        &[
            "--config",
            debian,
            "--tree",
            tree,
            "--arch",
            "x86_64",
            "--policy",
            "self-protection",
            "--json",
        ],
        d.path(),
    );
    assert_eq!(code, Some(1), "{err}");
    let report = json(&out);
    assert_eq!(
        report["kernel"]
            .as_str()
            .unwrap()
            .split('.')
            .take(2)
            .collect::<Vec<_>>(),
        ["6", "12"]
    );
    assert_eq!(report["policies"][0]["name"], "self-protection");
    assert!(report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["group"] == "self-protection"));

    // An unknown name, with the close one.
    // Debian's configuration against one policy.
    let with_policy = |policy: &str| {
        audit(
            &[
                "--config", debian, "--tree", tree, "--arch", "x86_64", "--policy", policy,
            ],
            d.path(),
        )
    };
    let (code, _, err) = with_policy("kpsp");
    assert_eq!(code, Some(2));
    assert!(
        err.contains("unknown policy `kpsp`") && err.contains("did you mean `kspp`?"),
        "{err}"
    );
    // A policy file with an unknown key: its file and line; a symbol the
    // tree does not have, close to one it has: a warning.
    std::fs::write(
        d.path().join("mine.toml"),
        "[policy]\nname = \"mine\"\ndescription = \"d\"\n[[recommend]]\nsymbol = \"BUG\"\nvalue = \"y\"\nreason = \"r\"\nlevel = 3\n",
    )
    .unwrap();
    let (code, _, err) = with_policy("./mine.toml");
    assert_eq!(code, Some(2));
    assert!(
        err.contains("./mine.toml:8:1") && err.contains("unknown field `level`"),
        "{err}"
    );
    std::fs::write(
        d.path().join("mine.toml"),
        "[policy]\nname = \"mine\"\ndescription = \"d\"\n[[recommend]]\nsymbol = \"PRINTKK\"\nvalue = \"y\"\nreason = \"r\"\n",
    )
    .unwrap();
    let (code, _, err) = with_policy("./mine.toml");
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains(
            "warning: ./mine.toml:5:10: PRINTKK is not a symbol of this tree; did you mean PRINTK?"
        ),
        "{err}"
    );
    // 6.1 has no hardening.config: said so.
    let (code, _, err) = audit(
        &[
            "--config",
            "/usr/src/linux-config-6.1/config.amd64_none_amd64.xz",
            "--tree",
            oracle().join("6.1/src").to_str().unwrap(),
            "--arch",
            "x86_64",
            "--policy",
            "hardening",
        ],
        d.path(),
    );
    assert_eq!(code, Some(2));
    assert!(err.contains("this tree has none"), "{err}");
}

/// The hardened QEMU example: the kspp recommendations hold but those the
/// profile leaves out on purpose, those needing hardware support the
/// example does not have (IOMMUs, TPM, EFI, /dev/mem) and CFI_CLANG (gcc has no
/// kCFI), on both trees.
#[test]
fn the_hardened_example_follows_kspp() {
    let expected_open = [
        "MODULE_SIG",
        "MODULE_SIG_FORCE",
        "MODULE_SIG_ALL",
        "MODULE_SIG_SHA512",
        "SECURITY_LOCKDOWN_LSM",
        "SECURITY_LOCKDOWN_LSM_EARLY",
        "LOCK_DOWN_KERNEL_FORCE_CONFIDENTIALITY",
        "HW_RANDOM_TPM",
        "INTEL_IOMMU",
        "INTEL_IOMMU_DEFAULT_ON",
        "AMD_IOMMU",
        "STRICT_DEVMEM",
        "IO_STRICT_DEVMEM",
        "EFI_DISABLE_PCI_DMA",
        "RESET_ATTACK_MITIGATION",
    ];
    let d = tempfile::tempdir().unwrap();
    let spec = repo_root().join("examples/qemu-x86_64-hardened.toml");
    for ver in ["6.1", "6.12"] {
        let tree = oracle().join(format!("{ver}/src"));
        let (code, out, err) = audit(
            &[
                spec.to_str().unwrap(),
                "--tree",
                tree.to_str().unwrap(),
                "--policy",
                "kspp",
                "--json",
            ],
            d.path(),
        );
        assert_eq!(code, Some(1), "{err}");
        let report = json(&out);
        for f in report["findings"].as_array().unwrap() {
            let symbol = f["symbol"].as_str().unwrap();
            match f["verdict"].as_str().unwrap() {
                "does-not-hold" => {
                    assert!(expected_open.contains(&symbol), "{ver}: {f}");
                    assert!(f["fix"].is_array(), "{ver}: {f}");
                }
                // 6.1 has INTEL_IOMMU_DEFAULT_ON in a choice, whose own
                // dependencies the fix search does not follow (yet).
                "cannot-hold" => assert!(
                    symbol == "CFI_CLANG" || (ver == "6.1" && symbol == "INTEL_IOMMU_DEFAULT_ON"),
                    "{ver}: {f}"
                ),
                _ => {}
            }
        }
    }
}
