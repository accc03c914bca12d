//! The `kmod_read` harness: one input is a module file (plain or
//! compressed). It goes through the module reader (decompression, ELF
//! headers, `.modinfo`, exported and undefined symbols, `__versions`), the
//! index writer and reader, and a whole `depmod` run on a one-module tree.
//! Errors are fine, panics are bugs.

use std::path::Path;

use depmod::generate::{MemLog, Options};
use depmod::index::{Index, IndexBuilder};

/// Run one input; `dir` is a scratch directory.
pub fn run_one(data: &[u8], dir: &Path) {
    // 1. the reader, on bytes
    if let Ok(m) = depmod::Module::from_bytes("fuzz.ko", data) {
        let _ = m.modinfo.aliases();
        let _ = m.modinfo.depends();
        let _ = m.modinfo.softdeps();
        let _ = m.check_machine(62);
        // 2. the index writer on what the module holds, read back
        let mut b = IndexBuilder::new();
        for (i, a) in m.modinfo.values_raw("alias").enumerate() {
            if let Ok(n) = depmod::normalize_alias(a) {
                let _ = b.insert(&n, m.name.as_bytes(), i as u32);
            }
        }
        for s in &m.exports {
            let _ = b.insert(&[b"symbol:", &*s.name].concat(), b"fuzz", 0);
        }
        let bytes = b.write();
        let idx = Index::new(&bytes).expect("own index has a good header");
        let all = idx.dump().expect("own index reads back");
        for (k, _, _) in all.iter().take(64) {
            assert!(
                !idx.lookup(k).expect("own index lookup").is_empty(),
                "key written but not found"
            );
        }
    }
    // 3. the index reader on arbitrary bytes
    if let Ok(idx) = Index::new(data) {
        let _ = idx.dump();
        let _ = idx.lookup(b"pci:v00008086d*");
    }
    // 4. depmod on a tree holding this one module
    let moddir = dir.join("lib/modules/6.1.0-fuzz");
    if std::fs::create_dir_all(moddir.join("kernel")).is_err() {
        return;
    }
    for n in ["fuzz.ko", "fuzz.ko.xz", "fuzz.ko.zst", "fuzz.ko.gz"] {
        let _ = std::fs::remove_file(moddir.join("kernel").join(n));
    }
    let name = match data.first() {
        Some(0x28) => "fuzz.ko.zst",
        Some(0xfd) => "fuzz.ko.xz",
        Some(0x1f) => "fuzz.ko.gz",
        _ => "fuzz.ko",
    };
    if std::fs::write(moddir.join("kernel").join(name), data).is_err() {
        return;
    }
    let _ = std::fs::write(moddir.join("modules.order"), "kernel/fuzz.ko\n");
    let opts = Options {
        basedir: Some(dir.to_path_buf()),
        version: Some("6.1.0-fuzz".into()),
        jobs: 1,
        ..Default::default()
    };
    let mut log = MemLog::default();
    // everything but writing the files (the trie writer runs in memory)
    let _ = depmod::generate::run(&opts, &mut log);
}
