//! The probe cache through the kforge binary: `kforge conf` in a new output
//! directory answers every probe from a cache warmed in another directory,
//! with the same result as the C conf; `kforge gc` collects the cache.

use crate::common;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use common::text;

/// The probe cache's files under `cache` (an `XDG_CACHE_HOME`): count and
/// bytes.
#[cfg(feature = "oracle-tests")]
fn probe_files(cache: &Path) -> (u64, u64) {
    fn walk(p: &Path, acc: &mut (u64, u64)) {
        let Ok(rd) = fs::read_dir(p) else {
            return;
        };
        for e in rd.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() {
                walk(&e.path(), acc);
            } else {
                acc.0 += 1;
                acc.1 += m.len();
            }
        }
    }
    let mut acc = (0, 0);
    walk(&cache.join("kforge/probes"), &mut acc);
    acc
}

fn gc(cache: &Path, dry_run: bool) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kforge"));
    c.env("XDG_CACHE_HOME", cache).arg("gc");
    if dry_run {
        c.arg("--dry-run");
    }
    c.output().unwrap()
}

#[test]
fn gc_collects_the_old_layout_and_says_so() {
    let d = tempfile::tempdir().unwrap();
    let probes = d.path().join("kforge/probes");
    fs::create_dir_all(&probes).unwrap();
    let legacy = probes.join("ab".repeat(32));
    fs::write(&legacy, vec![0u8; 2048]).unwrap();

    let out = gc(d.path(), true);
    assert!(out.status.success(), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("probe cache: would remove 1 files (0.0 MiB, 1 of the old layout), kept 0"),
        "{}",
        text(&out)
    );
    assert!(legacy.exists());

    let out = gc(d.path(), false);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("probe cache: removed 1 files"),
        "{}",
        text(&out)
    );
    assert!(!legacy.exists());
}

#[test]
fn gc_fails_on_an_unreadable_probe_cache() {
    let d = tempfile::tempdir().unwrap();
    fs::create_dir_all(d.path().join("kforge")).unwrap();
    // The probe cache is a file: it cannot be listed.
    fs::write(d.path().join("kforge/probes"), "x").unwrap();
    let out = gc(d.path(), true);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("error: kforge gc: "),
        "{}",
        text(&out)
    );
}

/// `kforge conf -s --olddefconfig` of `config` on Linux `ver` in the
/// directory `dir` (created), with the captured x86_64 environment and the
/// probe cache under `cache`; returns the .config.
#[cfg(feature = "oracle-tests")]
fn olddefconfig_in(ver: &str, dir: &Path, cache: &Path, config: &[u8]) -> Vec<u8> {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join(".config"), config).unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_kforge"));
    c.env_clear().current_dir(dir);
    for (k, v) in kforge_testkit::captured_env(ver, "x86_64") {
        c.env(k, v);
    }
    let out = c
        .env("KCONFIG_CONFIG", ".config")
        .env("XDG_CACHE_HOME", cache)
        .args(["conf", "-s", "--olddefconfig", "Kconfig"])
        .output()
        .unwrap();
    assert!(out.status.success(), "kforge conf: {}", text(&out));
    fs::read(dir.join(".config")).unwrap()
}

#[cfg(feature = "oracle-tests")]
#[test]
fn a_new_directory_is_served_from_the_cache_with_the_same_result() {
    let debian = kforge_testkit::debian_config("6.12", "amd64_none_amd64");
    let xz = Command::new("xz").arg("-dc").arg(&debian).output().unwrap();
    assert!(xz.status.success(), "xz -dc: {}", text(&xz));
    let config = xz.stdout;
    let expected = common::c_olddefconfig("6.12", "x86_64", &String::from_utf8_lossy(&config));

    let d = tempfile::tempdir().unwrap();
    let cache = d.path().join("cache");
    // Cold, then warm in the same directory, then warm in new ones.
    let cold = olddefconfig_in("6.12", &d.path().join("a"), &cache, &config);
    assert_eq!(String::from_utf8_lossy(&cold), expected, "cold cache");
    let after_cold = probe_files(&cache);
    let again = olddefconfig_in("6.12", &d.path().join("a"), &cache, &config);
    assert_eq!(again, cold, "warm, same directory");
    for name in ["b", "deeper/c"] {
        let other = olddefconfig_in("6.12", &d.path().join(name), &cache, &config);
        assert_eq!(other, cold, "warm, directory {name}");
    }
    // No probe ran again: nothing was added to the packs, and the cache
    // is a handful of files, not one per probe and directory.
    let after = probe_files(&cache);
    assert_eq!(after, after_cold, "the cache grew in new directories");
    assert!(after.0 < 10, "{after:?}");
}

/// Every probe the x86_64 configuration of 6.1 and 6.12 runs (as recorded
/// in the cache's history) is shared between output directories: none
/// depends on which directory it runs in, only on whether it is writable.
#[cfg(feature = "oracle-tests")]
#[test]
fn the_kernels_probes_do_not_depend_on_the_directory() {
    use kforge_probe_cache::{DirUse, ProbeCache};
    for ver in ["6.1", "6.12"] {
        let d = tempfile::tempdir().unwrap();
        let cache = d.path().join("cache");
        olddefconfig_in(ver, &d.path().join("obj"), &cache, b"");
        let history = cache.join("kforge/probes/history");
        let files: Vec<_> = fs::read_dir(&history).unwrap().flatten().collect();
        assert_eq!(files.len(), 1, "{ver}");
        let text = fs::read_to_string(files[0].path()).unwrap();
        let commands: Vec<String> = text.lines().skip(1).map(unescape).collect();
        assert!(commands.len() > 50, "{ver}: {} probes", commands.len());
        let mut env = kforge_testkit::captured_env(ver, "x86_64");
        env.push(("KCONFIG_CONFIG".into(), ".config".into()));
        let fresh = d.path().join("another");
        fs::create_dir_all(&fresh).unwrap();
        let pc = ProbeCache::new(d.path().join("unused"), env, fresh);
        for c in &commands {
            assert_eq!(pc.dir_use(c), DirUse::Writable(true), "{ver}: {c}");
        }
        // The cc-option of 6.12 writes into the directory: a probe of the
        // writable kind; `pwd` is of the other.
        if ver == "6.12" {
            assert!(commands.iter().any(|c| c.contains("mkdir .tmp_$$")));
            assert!(commands.iter().any(|c| c.contains("%b\\n")));
        }
        assert_eq!(pc.dir_use("pwd"), DirUse::Path);
    }
}

/// A history line back to the command (`\\`, `\n`, `\r` escapes).
#[cfg(feature = "oracle-tests")]
fn unescape(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(c) => out.push(c),
            None => {}
        }
    }
    out
}
