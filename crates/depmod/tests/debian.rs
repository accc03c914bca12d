//! The library against kmod's own depmod (`/usr/sbin/depmod`, the oracle)
//! on Debian's module tree (scripts/prepare-modules; its ABI is named in
//! scripts/debian-abi): `generate::run` writes the same index files, byte
//! for byte, as kmod writes for a copy of the same tree, and says the same
//! on stderr; `Module` reads what the modules declare.
//!
//! The binary-level comparisons (options, compressed trees, broken
//! modules, configuration files) are in crates/kforge/tests/depmod.rs.
//!
//! A second-tier test file: compiled with the `oracle-tests` feature only
//! (scripts/test); without the tree it fails naming
//! scripts/prepare-modules.
#![cfg(feature = "oracle-tests")]

use std::path::{Path, PathBuf};
use std::process::Command;

use depmod::generate::{MemLog, Options, OUTPUT_FILES};
use kforge_testkit::{debian_abi, kmod_depmod, modules_oracle, modules_tree, text};

/// A scratch directory on the file system of the prepared tree (so
/// modules can be hard-linked rather than copied).
fn scratch() -> tempfile::TempDir {
    let d = modules_oracle().join("scratch");
    std::fs::create_dir_all(&d).unwrap();
    tempfile::Builder::new()
        .prefix("lib")
        .tempdir_in(d)
        .unwrap()
}

/// Copy Debian's tree into `base/lib/modules/<abi>`: modules hard-linked,
/// modules.order and modules.builtin* copied (no index files: the tree
/// prepare-modules leaves has none).
fn clone_tree(base: &Path) -> PathBuf {
    fn walk(s: &Path, d: &Path) {
        std::fs::create_dir_all(d).unwrap();
        for e in std::fs::read_dir(s).unwrap() {
            let e = e.unwrap();
            let (sp, dp) = (e.path(), d.join(e.file_name()));
            if e.file_type().unwrap().is_dir() {
                walk(&sp, &dp);
            } else if std::fs::hard_link(&sp, &dp).is_err() {
                std::fs::copy(&sp, &dp).unwrap();
            }
        }
    }
    let dst = base.join("lib/modules").join(debian_abi());
    walk(&modules_tree(), &dst);
    dst
}

#[test]
fn run_writes_what_kmod_writes_for_the_debian_tree() {
    kmod_depmod();
    let (a, b) = (scratch(), scratch());
    let (kmod_dir, ours_dir) = (clone_tree(a.path()), clone_tree(b.path()));

    // kmod, with no depmod.d (as the kernel's modules_install runs it).
    let k = Command::new(kmod_depmod())
        .args(["-C", "/dev/null", "-b"])
        .arg(a.path())
        .arg(debian_abi())
        .output()
        .unwrap();
    assert!(k.status.success(), "kmod's depmod: {}", text(&k));

    let opts = Options {
        basedir: Some(b.path().to_path_buf()),
        version: Some(debian_abi().to_string()),
        config: vec![PathBuf::from("/dev/null")],
        ..Default::default()
    };
    let mut log = MemLog::default();
    let summary =
        depmod::generate::run(&opts, &mut log).unwrap_or_else(|e| panic!("{e}\n{}", log.stderr()));
    assert!(summary.modules > 1000, "{} modules", summary.modules);
    assert_eq!(summary.dirname, ours_dir);
    assert_eq!(log.stderr(), String::from_utf8_lossy(&k.stderr));

    for f in OUTPUT_FILES {
        let want = std::fs::read(kmod_dir.join(f))
            .unwrap_or_else(|e| panic!("kmod's depmod wrote no {f}: {e}"));
        let got = std::fs::read(ours_dir.join(f)).unwrap_or_else(|e| panic!("no {f}: {e}"));
        if got != want {
            let at = got
                .iter()
                .zip(&want)
                .position(|(x, y)| x != y)
                .unwrap_or(got.len().min(want.len()));
            panic!(
                "{f} differs from kmod's at byte {at} (ours {} bytes, kmod's {})",
                got.len(),
                want.len()
            );
        }
    }
    assert_eq!(summary.written, OUTPUT_FILES);

    // generate (nothing written) gives the same bytes, on the shared tree.
    let opts = Options {
        basedir: Some(modules_oracle().join("root")),
        ..opts
    };
    let (_, outputs) = depmod::generate::generate(&opts, &mut MemLog::default()).unwrap();
    for (name, bytes) in outputs.expect("outputs") {
        assert!(
            std::fs::read(kmod_dir.join(name)).unwrap() == bytes,
            "generate: {name} differs from kmod's"
        );
    }
}

/// What `Module` reads from real modules (moved here from the binary's
/// tests): names, machine, modinfo, symbols with CRCs, softdeps, and
/// errors that name the file.
#[test]
fn module_api() {
    let tree = modules_tree();
    let m = depmod::Module::open(tree.join("kernel/drivers/usb/storage/uas.ko")).unwrap();
    assert_eq!(m.name, "uas");
    assert_eq!(m.machine, 62);
    assert!(m.modinfo.aliases().iter().any(|a| a.starts_with("usb:")));
    let deps = m.modinfo.depends();
    assert!(
        deps.contains(&"usb-storage".to_string()) || deps.contains(&"usb_storage".to_string()),
        "{deps:?}"
    );
    assert!(m
        .modinfo
        .vermagic()
        .unwrap()
        .starts_with(&format!("{} SMP", debian_abi())));
    assert!(m
        .undefined
        .iter()
        .any(|s| &*s.name == b"usb_stor_adjust_quirks"));
    assert!(!m.versions.is_empty());
    let s = depmod::Module::open(tree.join("kernel/drivers/usb/storage/usb-storage.ko")).unwrap();
    assert!(s
        .exports
        .iter()
        .any(|x| &*x.name == b"usb_stor_adjust_quirks" && x.crc != 0));
    let e4 = depmod::Module::open(tree.join("kernel/fs/ext4/ext4.ko")).unwrap();
    assert_eq!(e4.modinfo.softdeps()[0].pre, vec!["crypto-crc32c"]);
    assert!(e4.modinfo.firmware().is_empty());
    // errors name the file
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("short.ko");
    let uas = std::fs::read(tree.join("kernel/drivers/usb/storage/uas.ko")).unwrap();
    std::fs::write(&p, &uas[..3000]).unwrap();
    let e = depmod::Module::open(&p).unwrap_err().to_string();
    assert!(e.contains("short.ko") && e.contains("truncated"), "{e}");
    std::fs::write(&p, kforge_testkit::noise(1000, 1)).unwrap();
    let e = depmod::Module::open(&p).unwrap_err().to_string();
    assert!(
        e.contains("short.ko: not a valid kernel module: not an ELF file"),
        "{e}"
    );
    let e = depmod::Module::open(t.path().join("missing.ko"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing.ko: No such file or directory"), "{e}");
}
