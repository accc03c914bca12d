//! The parsed-tree cache through `kforge conf`: a second run on an unchanged
//! tree is served from the cache (its entry is not rewritten), and every
//! change the parse depends on (a Kconfig file's content, with its size and
//! modification time kept; a file appearing where the lexer looked first;
//! an environment variable the tree reads; another compiler behind the same
//! `CC`) gives the result of a fresh parse; a damaged entry is ignored;
//! `--no-parse-cache` and `KFORGE_NO_PARSE_CACHE` turn it off; `kforge gc`
//! collects old entries.

use crate::common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use common::text;

/// A tree, a fake compiler and an object directory under one scratch dir.
struct Setup {
    _dir: tempfile::TempDir,
    tree: PathBuf,
    obj: PathBuf,
    bin: PathBuf,
    cache: PathBuf,
}

const KCONFIG: &str = r#"mainmenu "Parse cache test"
config CC_VERSION_TEXT
	string
	default "$(shell,$(CC) --version)"
config FROM_ENV
	string
	default "$(PARSE_TEST_VAR)"
source "sub/Kconfig"
"#;

const SUB: &str = "config SUB_A\n\tbool \"a\"\n\tdefault y\n";

fn compiler(bin: &Path, version: &str) {
    let cc = bin.join("testcc");
    // Replaced, not edited in place: a new file as an upgrade makes it.
    let tmp = bin.join(".testcc.new");
    fs::write(&tmp, format!("#!/bin/sh\necho '{version}'\n")).unwrap();
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755)).unwrap();
    fs::rename(&tmp, &cc).unwrap();
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("src");
        let obj = dir.path().join("obj");
        let bin = dir.path().join("bin");
        for d in [&tree.join("sub"), &obj, &bin] {
            fs::create_dir_all(d).unwrap();
        }
        fs::write(tree.join("Kconfig"), KCONFIG).unwrap();
        fs::write(tree.join("sub/Kconfig"), SUB).unwrap();
        compiler(&bin, "testcc 1.0");
        // Files changed within two seconds of an entry's writing are
        // hashed at every lookup and refresh the entry: let them age.
        std::thread::sleep(Duration::from_millis(2100));
        Setup {
            cache: dir.path().join("cache"),
            _dir: dir,
            tree,
            obj,
            bin,
        }
    }

    /// `kforge conf --olddefconfig Kconfig` with `extra` arguments and
    /// environment; returns the .config.
    fn conf(&self, extra_args: &[&str], extra_env: &[(&str, &str)]) -> String {
        let _ = fs::remove_file(self.obj.join(".config"));
        let mut c = Command::new(env!("CARGO_BIN_EXE_kforge"));
        c.env_clear()
            .current_dir(&self.obj)
            .env("PATH", format!("{}:/usr/bin:/bin", self.bin.display()))
            .env("srctree", &self.tree)
            .env("CC", "testcc")
            .env("PARSE_TEST_VAR", "one")
            .env("XDG_CACHE_HOME", &self.cache)
            .env("KCONFIG_CONFIG", ".config");
        for (k, v) in extra_env {
            c.env(k, v);
        }
        let out = c
            .arg("conf")
            .args(extra_args)
            .args(["-s", "--olddefconfig", "Kconfig"])
            .output()
            .unwrap();
        assert!(out.status.success(), "kforge conf: {}", text(&out));
        fs::read_to_string(self.obj.join(".config")).unwrap()
    }

    fn trees(&self) -> Vec<PathBuf> {
        let dir = self.cache.join("kforge/probes/trees");
        let mut v: Vec<PathBuf> = fs::read_dir(dir)
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    /// The one entry's inode: a new one means the entry was written again
    /// (a miss).
    fn entry_inode(&self) -> u64 {
        let t = self.trees();
        assert_eq!(t.len(), 1, "{t:?}");
        fs::metadata(&t[0]).unwrap().ino()
    }
}

#[test]
fn an_unchanged_tree_is_served_and_an_edited_file_is_seen() {
    let s = Setup::new();
    let first = s.conf(&[], &[]);
    assert!(first.contains("CONFIG_SUB_A=y\n"), "{first}");
    let ino = s.entry_inode();
    assert_eq!(s.conf(&[], &[]), first);
    assert_eq!(s.entry_inode(), ino, "an unchanged tree was parsed again");

    // Same size, modification time put back: only the content says.
    let sub = s.tree.join("sub/Kconfig");
    let mtime = fs::metadata(&sub).unwrap().modified().unwrap();
    let edited = SUB.replace("default y", "default n");
    assert_eq!(edited.len(), SUB.len());
    fs::write(&sub, &edited).unwrap();
    fs::File::options()
        .append(true)
        .open(&sub)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let second = s.conf(&[], &[]);
    assert!(second.contains("# CONFIG_SUB_A is not set\n"), "{second}");
    assert_ne!(s.entry_inode(), ino);
}

#[test]
fn a_file_appearing_where_the_lexer_looked_first_is_seen() {
    let s = Setup::new();
    assert!(s.conf(&[], &[]).contains("CONFIG_SUB_A=y\n"));
    // `source "sub/Kconfig"` is tried in the object directory first.
    fs::create_dir_all(s.obj.join("sub")).unwrap();
    fs::write(
        s.obj.join("sub/Kconfig"),
        "config SHADOW\n\tbool \"s\"\n\tdefault y\n",
    )
    .unwrap();
    let out = s.conf(&[], &[]);
    assert!(
        out.contains("CONFIG_SHADOW=y\n") && !out.contains("SUB_A"),
        "{out}"
    );
}

#[test]
fn an_environment_variable_the_tree_reads_is_seen() {
    let s = Setup::new();
    assert!(s.conf(&[], &[]).contains("CONFIG_FROM_ENV=\"one\"\n"));
    let ino = s.entry_inode();
    // A variable the tree does not read changes nothing.
    s.conf(&[], &[("UNRELATED_VAR", "x")]);
    assert_eq!(s.entry_inode(), ino);
    let out = s.conf(&[], &[("PARSE_TEST_VAR", "two")]);
    assert!(out.contains("CONFIG_FROM_ENV=\"two\"\n"), "{out}");
    let out = s.conf(&[], &[("PARSE_TEST_VAR", "")]);
    assert!(out.contains("CONFIG_FROM_ENV=\"\"\n"), "{out}");
}

#[test]
fn another_compiler_behind_the_same_cc_is_seen() {
    let s = Setup::new();
    assert!(s
        .conf(&[], &[])
        .contains("CONFIG_CC_VERSION_TEXT=\"testcc 1.0\"\n"));
    compiler(&s.bin, "testcc 2.0");
    let out = s.conf(&[], &[]);
    assert!(
        out.contains("CONFIG_CC_VERSION_TEXT=\"testcc 2.0\"\n"),
        "{out}"
    );
    // And without the probe cache, the command runs again too.
    compiler(&s.bin, "testcc 3.0");
    let out = s.conf(&["--no-probe-cache"], &[]);
    assert!(
        out.contains("CONFIG_CC_VERSION_TEXT=\"testcc 3.0\"\n"),
        "{out}"
    );
}

#[test]
fn a_damaged_entry_is_ignored() {
    let s = Setup::new();
    let good = s.conf(&[], &[]);
    let entry = s.trees()[0].clone();
    let whole = fs::read(&entry).unwrap();
    for damaged in [
        whole[..whole.len() / 2].to_vec(),
        Vec::new(),
        {
            let mut b = whole.clone();
            let i = b.len() - 100;
            b[i] ^= 0xff;
            b
        },
        b"garbage".to_vec(),
    ] {
        fs::write(&entry, &damaged).unwrap();
        assert_eq!(s.conf(&[], &[]), good);
        // ... and replaced by a good one.
        assert_eq!(fs::read(&entry).unwrap().len(), whole.len());
    }
}

#[test]
fn the_cache_can_be_turned_off() {
    let s = Setup::new();
    let a = s.conf(&["--no-parse-cache"], &[]);
    assert!(s.trees().is_empty());
    let b = s.conf(&[], &[("KFORGE_NO_PARSE_CACHE", "1")]);
    assert!(s.trees().is_empty());
    assert_eq!(a, b);
    assert_eq!(s.conf(&[], &[]), a);
    assert_eq!(s.trees().len(), 1);
}

#[test]
fn gc_collects_old_entries() {
    let s = Setup::new();
    s.conf(&[], &[]);
    let entry = s.trees()[0].clone();
    let old = SystemTime::now() - Duration::from_secs(40 * 86400);
    fs::File::options()
        .append(true)
        .open(&entry)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kforge"))
        .env("XDG_CACHE_HOME", &s.cache)
        .arg("gc")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(!entry.exists());
}

/// `kforge config` (the pipeline's resolution, which `build`, `import`,
/// `menuconfig` and the audit share) goes through the cache too: a second
/// run on an unchanged tree does not write its entry again, an edited
/// Kconfig file is seen, and the `.config` is the one a parse without the
/// cache gives.
#[test]
fn kforge_config_is_served_and_sees_an_edited_tree() {
    let d = tempfile::tempdir().unwrap();
    let (tree, _state) = crate::build_cmd::fake_tree(d.path());
    let cache = d.path().join("cache");
    let spec = d.path().join("kernel.toml");
    fs::write(
        &spec,
        "[source]\nversion = \"6.1\"\n\n[build]\narch = \"x86_64\"\nbase = \"allnoconfig\"\n\n\
         [config]\nFOO = \"y\"\n",
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(2100));
    let config = |no_cache: bool| {
        let out = d.path().join(".config");
        let mut c = Command::new(env!("CARGO_BIN_EXE_kforge"));
        c.env("XDG_CACHE_HOME", &cache).current_dir(d.path());
        if no_cache {
            c.env("KFORGE_NO_PARSE_CACHE", "1");
        }
        let o = c
            .arg("config")
            .arg(&spec)
            .arg("--tree")
            .arg(&tree)
            .arg("-o")
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        fs::read_to_string(&out).unwrap()
    };
    let entry = || {
        let dir = cache.join("kforge/probes/trees");
        let v: Vec<PathBuf> = fs::read_dir(&dir)
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        assert_eq!(v.len(), 1, "{v:?}");
        fs::metadata(&v[0]).unwrap().ino()
    };
    let first = config(false);
    assert!(first.contains("CONFIG_FOO=y\n"), "{first}");
    let ino = entry();
    assert_eq!(config(false), first);
    assert_eq!(entry(), ino, "an unchanged tree was parsed again");
    assert_eq!(config(true), first);

    // A new symbol without a prompt, default y: seen at once, as a fresh parse sees it.
    let kconfig = tree.join("Kconfig");
    let text_now = fs::read_to_string(&kconfig).unwrap();
    fs::write(
        &kconfig,
        format!("{text_now}\nconfig BAR\n\tbool\n\tdefault y\n"),
    )
    .unwrap();
    let edited = config(false);
    assert!(edited.contains("CONFIG_BAR=y\n"), "{edited}");
    assert_eq!(config(true), edited);
    assert_ne!(entry(), ino);
}
