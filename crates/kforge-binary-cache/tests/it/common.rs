//! What the tests share: a store with a small entry in it, and checks of
//! what a store holds.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use kforge_store::Store;

/// A store entry name for key `c` repeated.
pub fn name(c: char) -> String {
    format!("{}-linux-6.1.0-x86_64", c.to_string().repeat(32))
}

/// A store under `dir` holding entry `name`: a kernel, a module tree with
/// its `build` link into `dev/`, an executable loader.
pub fn store_with_entry(dir: &Path, name: &str) -> (Store, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let store = Store::new(dir);
    let hash = &name[..32];
    let lock = store.lock_key(hash, &mut || {}).unwrap();
    let t = store.begin(&lock, hash, name).unwrap();
    let p = t.path();
    std::fs::create_dir_all(p.join("kernel")).unwrap();
    std::fs::write(p.join("kernel/bzImage"), kforge_testkit::noise(300_000, 7)).unwrap();
    let m = p.join("modules/lib/modules/6.1.0");
    std::fs::create_dir_all(m.join("kernel/drivers/net")).unwrap();
    std::fs::write(m.join("kernel/drivers/net/dummy.ko"), b"\x7fELF module").unwrap();
    std::fs::create_dir_all(p.join("dev")).unwrap();
    std::fs::write(p.join("dev/Module.symvers"), b"").unwrap();
    std::os::unix::fs::symlink("../../../../dev", m.join("build")).unwrap();
    std::fs::create_dir_all(p.join("loaders/net")).unwrap();
    std::fs::write(p.join("loaders/net/load.sh"), b"#!/bin/sh\n").unwrap();
    std::fs::set_permissions(
        p.join("loaders/net/load.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::fs::write(p.join("manifest.json"), b"{}").unwrap();
    let e = t.commit().unwrap();
    (store, e)
}

/// Every name in the store directory (entries, temporary directories),
/// less the lock directory.
pub fn store_contents(store: &Store) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(store.store_dir())
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n != ".locks")
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Every file under `dir`, relative, with its bytes (links as `-> target`).
pub fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &Path, d: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        let mut names: Vec<_> = std::fs::read_dir(d).unwrap().flatten().collect();
        names.sort_by_key(|e| e.file_name());
        for e in names {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let m = std::fs::symlink_metadata(&p).unwrap();
            if m.file_type().is_symlink() {
                let t = std::fs::read_link(&p).unwrap();
                out.push((rel, format!("-> {}", t.display()).into_bytes()));
            } else if m.is_dir() {
                out.push((rel, b"/".to_vec()));
                walk(root, &p, out);
            } else {
                use std::os::unix::fs::PermissionsExt;
                let mut b = std::fs::read(&p).unwrap();
                b.extend(format!(" mode {:o}", m.permissions().mode() & 0o777).bytes());
                out.push((rel, b));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out
}

/// `file://` URL of a directory.
pub fn file_url(dir: &Path) -> String {
    format!("file://{}", dir.display())
}
