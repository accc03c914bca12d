//! `kforge config` end to end on the real 6.1 and 6.12 trees: the shipped
//! examples resolve to configurations that the kernel's own conf leaves
//! unchanged (`conf --olddefconfig` is a fixed point), and the command's
//! exit codes and reports for failed, optional and ignored requests.
//!
//! A second-tier test file: compiled with the `oracle-tests` feature only
//! (scripts/test); without its prerequisites it fails naming
//! scripts/prepare-oracle.
#![cfg(feature = "oracle-tests")]

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{c_olddefconfig, kforge, oracle, repo_root};

fn config(spec: &Path, ver: &str, extra: &[&str]) -> (std::process::Output, String) {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("out.config");
    let out = kforge()
        .arg("config")
        .arg(spec)
        .arg("--tree")
        .arg(oracle().join(format!("{ver}/src")))
        .arg("-o")
        .arg(&out_path)
        .args(extra)
        .output()
        .unwrap();
    let text = std::fs::read_to_string(&out_path).unwrap_or_default();
    (out, text)
}

#[test]
fn examples_are_fixed_points_of_the_kernels_conf() {
    for (example, arch) in [
        ("qemu-x86_64.toml", "x86_64"),
        ("qemu-x86_64-hardened.toml", "x86_64"),
        ("liminix-router.toml", "mips"),
        ("debian-amd64.toml", "x86_64"),
    ] {
        // The oracle's environments were captured with the host's gcc: a
        // cross-compiled example is checked without its cross_compile
        // (the engine's part does not depend on it; CI has no cross gcc).
        let dir = tempfile::tempdir().unwrap();
        let original = std::fs::read_to_string(repo_root().join("examples").join(example)).unwrap();
        let spec = dir.path().join(example);
        std::fs::write(
            &spec,
            original
                .lines()
                .filter(|l| !l.starts_with("cross_compile ="))
                .map(|l| {
                    l.replace(
                        "\"../profiles/",
                        &format!("\"{}/profiles/", repo_root().display()),
                    ) + "\n"
                })
                .collect::<String>(),
        )
        .unwrap();
        for ver in ["6.1", "6.12"] {
            let (out, text) = config(&spec, ver, &[]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.success(),
                "{example} on {ver}: exit {:?}\n{stderr}",
                out.status.code()
            );
            assert!(
                text.contains("CONFIG_"),
                "{example} on {ver}: empty .config"
            );
            let again = c_olddefconfig(ver, arch, &text);
            assert!(
                again == text,
                "{example} on {ver}: the C conf changes kforge's .config:\n{}",
                diff(&text, &again)
            );
        }
    }
}

fn diff(a: &str, b: &str) -> String {
    let la: std::collections::BTreeSet<&str> = a.lines().collect();
    let lb: std::collections::BTreeSet<&str> = b.lines().collect();
    let mut s = String::new();
    for l in la.difference(&lb).take(20) {
        s.push_str(&format!("-{l}\n"));
    }
    for l in lb.difference(&la).take(20) {
        s.push_str(&format!("+{l}\n"));
    }
    s
}

fn write_spec(dir: &Path, body: &str) -> PathBuf {
    let p = dir.join("kernel.toml");
    std::fs::write(
        &p,
        format!("[source]\nversion = \"6.12\"\n\n[build]\narch = \"x86_64\"\nbase = \"allnoconfig\"\n{body}"),
    )
    .unwrap();
    p
}

#[test]
fn failures_errors_warnings_and_json() {
    let dir = tempfile::tempdir().unwrap();
    // A required request that fails: exit 1, an error pointing at line 9.
    let spec = write_spec(dir.path(), "\n[config]\nE1000E = \"y\"\n");
    let (out, text) = config(&spec, "6.12", &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("error[unmet-dependency]"), "{err}");
    assert!(err.contains("kernel.toml:9:1"), "{err}");
    assert!(err.contains("NET = \"y\""), "a fix to paste: {err}");
    assert!(text.contains("CONFIG_PRINTK") && !text.contains("CONFIG_E1000E=y"));

    // Optional: a warning, exit 0.
    let spec = write_spec(
        dir.path(),
        "\n[config]\nE1000E = { value = \"y\", optional = true }\n",
    );
    let (out, _) = config(&spec, "6.12", &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("warning[unmet-dependency]"), "{err}");

    // ignore_config_errors: warnings, exit 0.
    let spec = write_spec(
        dir.path(),
        "ignore_config_errors = true\n\n[config]\nE1000E = \"y\"\nPRINTKK = \"y\"\n",
    );
    let (out, _) = config(&spec, "6.12", &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("warning[unknown-symbol]") && err.contains("PRINTK"),
        "{err}"
    );

    // --json for machines.
    let (out, _) = config(&spec, "6.12", &["--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let reqs = v["requests"].as_array().unwrap();
    let e = reqs.iter().find(|r| r["symbol"] == "E1000E").unwrap();
    assert_eq!(e["status"], "warning");
    assert_eq!(e["kind"], "unmet-dependency");
    assert_eq!(e["line"], 10);
    assert!(e["fix"].as_array().is_some_and(|f| !f.is_empty()));

    // --diff: what changed against the base, and why.
    let spec_diff = write_spec(dir.path(), "\n[config]\nMODULES = \"y\"\n");
    let (out, _) = config(&spec_diff, "6.12", &["--diff"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.lines()
            .any(|l| l.trim_start().starts_with("MODULES: n -> y") && l.contains("requested at")),
        "{err}"
    );
}

#[test]
fn bad_declarations_name_the_place() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path(), "\n[config]\nPRINTK = \"y\"\n\n[frobnicate]\n");
    let (out, _) = config(&spec, "6.12", &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("kernel.toml:11:2"), "{err}");
    assert!(err.contains("frobnicate"), "{err}");
    // Nothing is written when the declaration is bad.
    let dir2 = tempfile::tempdir().unwrap();
    let out = kforge()
        .current_dir(dir2.path())
        .arg("config")
        .arg(&spec)
        .arg("--tree")
        .arg(oracle().join("6.12/src"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(!dir2.path().join(".config").exists());
}

#[test]
fn module_sets_request_their_symbols() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("kernel.toml");
    std::fs::write(
        &spec,
        "[source]\nversion = \"6.12\"\n\n[build]\narch = \"x86_64\"\nbase = \"tinyconfig\"\n\n\
         [config]\nMODULES = \"y\"\nNET = \"y\"\nNETDEVICES = \"y\"\n\n\
         [modules.net]\nload = [\"dummy\", \"ext4\", \"no-such-module\"]\n",
    )
    .unwrap();
    for ver in ["6.1", "6.12"] {
        let (out, text) = config(&spec, ver, &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        // dummy: drivers/net/Makefile's obj-$(CONFIG_DUMMY) += dummy.o.
        assert!(text.contains("\nCONFIG_DUMMY=m\n"), "{ver}: {err}");
        // ext4 needs BLOCK, which the module map cannot know: explained.
        assert!(err.contains("EXT4_FS = \"m\" did not hold"), "{ver}: {err}");
        assert!(err.contains("BLOCK = \"y\""), "{ver}: {err}");
        assert!(
            err.contains("error[unknown-module]") && err.contains("no-such-module"),
            "{err}"
        );
        assert!(err.contains("kernel.toml:13:1"), "{err}");
    }
}

#[test]
fn explain_a_symbol() {
    for ver in ["6.1", "6.12"] {
        let out = kforge()
            .args(["explain", "VIRTIO_NET", "--arch", "x86_64", "--tree"])
            .arg(oracle().join(format!("{ver}/src")))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.starts_with("VIRTIO_NET (tristate) = n"),
            "{ver}: {text}"
        );
        assert!(text.contains("defined at drivers/net/Kconfig:"), "{text}");
        assert!(text.contains("prompt: \"Virtio network driver\""), "{text}");
        assert!(text.contains("VIRTIO [=n]"), "{text}");

        // In a resolved declaration: who selects it and why it has its value.
        let out = kforge()
            .args(["explain", "VIRTIO", "--spec"])
            .arg(repo_root().join("examples/qemu-x86_64.toml"))
            .arg("--tree")
            .arg(oracle().join(format!("{ver}/src")))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("selected by VIRTIO_PCI [=y]"),
            "{ver}: {text}"
        );

        let out = kforge()
            .args(["explain", "NO_SUCH_THING", "--arch", "x86_64", "--tree"])
            .arg(oracle().join(format!("{ver}/src")))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("unknown symbol NO_SUCH_THING"));
    }
}

/// A tiny kernel-shaped tree (top Makefile, Kconfig, arch/x86), packed as
/// `linux-0.1/` into a tar.xz at test time.
fn tiny_tarball(dir: &Path) -> PathBuf {
    let tree = dir.join("src/linux-0.1");
    std::fs::create_dir_all(tree.join("arch/x86/configs")).unwrap();
    std::fs::write(
        tree.join("Makefile"),
        "VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 0\nEXTRAVERSION =\n",
    )
    .unwrap();
    std::fs::write(
        tree.join("Kconfig"),
        "mainmenu \"Tiny $(SRCARCH)\"\n\nconfig A\n\tbool \"a\"\n\nconfig B\n\tbool \"b\"\n\tdepends on A\n",
    )
    .unwrap();
    std::fs::write(tree.join("arch/x86/configs/x86_64_defconfig"), "").unwrap();
    let tarball = dir.join("linux-0.1.tar.xz");
    let st = Command::new("tar")
        .arg("-cJf")
        .arg(&tarball)
        .arg("-C")
        .arg(dir.join("src"))
        .arg("linux-0.1")
        .status()
        .unwrap();
    assert!(st.success());
    tarball
}

fn sri_of(path: &Path) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl dgst -sha256 -binary '{}' | base64",
            path.display()
        ))
        .output()
        .unwrap();
    format!("sha256-{}", String::from_utf8_lossy(&out.stdout).trim())
}

#[test]
fn declared_tarball_is_verified_and_unpacked_once() {
    let dir = tempfile::tempdir().unwrap();
    let tarball = tiny_tarball(dir.path());
    let cache = dir.path().join("cache");
    let spec = dir.path().join("kernel.toml");
    let write = |hash: &str| {
        std::fs::write(
            &spec,
            format!(
                "[source]\nversion = \"6.12\"\ntarball = \"{}\"\nhash = \"{hash}\"\n\n\
                 [build]\narch = \"x86_64\"\nbase = \"allnoconfig\"\n\n[config]\nA = \"y\"\nB = \"y\"\n",
                tarball.display()
            ),
        )
        .unwrap()
    };
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_kforge"))
            .env("XDG_CACHE_HOME", &cache)
            .current_dir(dir.path())
            .arg("config")
            .arg(&spec)
            .output()
            .unwrap()
    };
    // A wrong hash: refused before anything is unpacked.
    write("sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
    let out = run();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("does not match its declared hash"), "{err}");
    assert!(
        err.contains(&sri_of(&tarball)),
        "names the actual hash: {err}"
    );
    assert!(
        !cache.join("kforge/sources").exists()
            || std::fs::read_dir(cache.join("kforge/sources"))
                .unwrap()
                .count()
                == 0
    );
    assert!(!dir.path().join(".config").exists());

    // The right hash: unpacked into the cache, resolved.
    write(&sri_of(&tarball));
    let out = run();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config = std::fs::read_to_string(dir.path().join(".config")).unwrap();
    assert!(
        config.contains("# Tiny x86\n") && config.contains("CONFIG_B=y\n"),
        "{config}"
    );
    let sources: Vec<_> = std::fs::read_dir(cache.join("kforge/sources"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(sources.len(), 1);
    // Reused, not unpacked again: a mark left in the cached tree is seen.
    let unpacked = sources[0].path().join("Kconfig");
    let mut k = std::fs::read_to_string(&unpacked).unwrap();
    k.push_str("\nconfig MARK\n\tbool\n\tdefault y\n");
    std::fs::write(&unpacked, k).unwrap();
    assert!(run().status.success());
    let config = std::fs::read_to_string(dir.path().join(".config")).unwrap();
    assert!(config.contains("CONFIG_MARK=y\n"), "{config}");
}

/// `-o` names a device or a FIFO: an error naming it, and the device or
/// FIFO is left as it was (an atomic rename would have replaced it).
#[test]
fn an_output_that_is_not_a_regular_file_is_refused() {
    use std::os::unix::fs::FileTypeExt;
    let d = tempfile::tempdir().unwrap();
    let spec = write_spec(d.path(), "");
    let fifo = d.path().join("fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    for (out, what) in [
        (Path::new("/dev/full"), "a character device"),
        (fifo.as_path(), "a FIFO"),
    ] {
        let o = kforge()
            .arg("config")
            .arg(&spec)
            .arg("--tree")
            .arg(oracle().join("6.12/src"))
            .arg("-o")
            .arg(out)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(
            err.contains(&format!(
                "{}: cannot write it: it is {what}, not a regular file",
                out.display()
            )),
            "{err}"
        );
    }
    assert!(std::fs::symlink_metadata("/dev/full")
        .unwrap()
        .file_type()
        .is_char_device());
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo());
}

/// `[when.SYMBOL]` tables whose symbol the tree does not define never
/// hold: each is a warning at its table, with why (another architecture's
/// symbol, a lower-case name, a misspelling), not silence.
#[test]
fn unknown_when_symbols_are_warned_about() {
    let d = tempfile::tempdir().unwrap();
    let spec = write_spec(
        d.path(),
        "\n[config]\nMODULES = \"y\"\n\n[when.modules]\nDUMMY = \"m\"\n\n\
         [when.ARM64_SVE]\nNET = \"y\"\n\n[when.NO_SUCH_SYM]\nNET = \"y\"\n",
    );
    let (o, config) = config(&spec, "6.12", &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    for (line, symbol, why) in [
        (11, "modules", "did you mean MODULES?"),
        (
            14,
            "ARM64_SVE",
            "defined only for other architectures: arm64",
        ),
        (17, "NO_SUCH_SYM", "not defined anywhere in this tree"),
    ] {
        let at = err
            .find(&format!(
                "warning[unknown-condition]: [when.{symbol}] never holds\n"
            ))
            .unwrap_or_else(|| panic!("{symbol}: {err}"));
        let block = &err[at..];
        assert!(block.contains(&format!("kernel.toml:{line}:1")), "{block}");
        assert!(block.contains(why), "{block}");
    }
    assert!(err.contains("0 errors, 3 warnings"), "{err}");
    assert!(!config.contains("CONFIG_NET=y"), "a condition held");
}

/// A base file whose header names another architecture is refused (an
/// arm64 .config under an x86_64 declaration lost its symbols silently);
/// a header naming make's ARCH for the same sources is accepted.
#[test]
fn a_base_file_of_another_architecture_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let head = |arch: &str| {
        format!("#\n# Automatically generated file; DO NOT EDIT.\n# Linux/{arch} 6.12.0 Kernel Configuration\n#\nCONFIG_64BIT=y\n")
    };
    std::fs::write(d.path().join("arm64.config"), head("arm64")).unwrap();
    std::fs::write(d.path().join("x86.config"), head("x86_64")).unwrap();
    for (file, ok) in [("arm64.config", false), ("x86.config", true)] {
        let p = d.path().join(format!("{file}.toml"));
        std::fs::write(
            &p,
            format!("[source]\nversion = \"6.12\"\n\n[build]\narch = \"x86_64\"\nbase = {{ file = \"{file}\" }}\n"),
        )
        .unwrap();
        let (o, _) = config(&p, "6.12", &[]);
        let err = String::from_utf8_lossy(&o.stderr);
        if ok {
            assert_eq!(o.status.code(), Some(0), "{err}");
        } else {
            assert_eq!(o.status.code(), Some(1), "{err}");
            assert!(
                err.contains("is for arm64 (its header says \"Linux/arm64 6.12.0\"), but the declaration builds x86"),
                "{err}"
            );
        }
    }
}
