//! `kforge build` and `kforge gc` end to end.
//!
//! Most tests drive a tiny fake kernel tree (a Kconfig of two symbols and
//! a Makefile that pretends to build), which is all the driver needs to
//! see `make` behave: fast tests of the store, its locks, failures and
//! kills. One test builds the real 6.1 tree (the shipped QEMU example) and
//! checks the outputs, the store hit, an incremental rebuild and an
//! out-of-tree module against `dev/`, and that a clean build in another
//! store gives the same key, image and modules. Its first build shares the
//! boot tests' store (test_cmd.rs), so one CI run builds the example twice,
//! not three times.
//!
//! The fake-tree tests are hermetic; those needing the prepared trees
//! (Debian's modules, the real 6.1 tree), kmod's depmod or a kernel build
//! are the second tier: compiled with the `oracle-tests` feature only
//! (scripts/test), failing without their prerequisites with the command
//! that prepares them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

#[cfg(feature = "oracle-tests")]
use kforge_testkit::repo_root;

/// The clean 6.1 tree unpacked by scripts/prepare-oracle (kforge-testkit).
#[cfg(feature = "oracle-tests")]
fn tree_6_1() -> PathBuf {
    kforge_testkit::oracle_tree("6.1")
}

/// kforge with its cache (store, build directories, probes) under `cache`.
pub(crate) fn kforge(cache: &Path, cwd: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kforge"));
    c.env("XDG_CACHE_HOME", cache).current_dir(cwd);
    c
}

pub(crate) fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The store's entries (names) and its other directories.
fn store_listing(cache: &Path) -> (Vec<String>, Vec<String>) {
    let mut entries = Vec::new();
    let mut other = Vec::new();
    if let Ok(rd) = std::fs::read_dir(cache.join("kforge/store")) {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with('.') {
                other.push(n);
            } else {
                entries.push(n);
            }
        }
    }
    entries.sort();
    other.sort();
    (entries, other)
}

// ---------------------------------------------------------------- fake tree

const FAKE_KCONFIG: &str =
    "mainmenu \"Fake\"\n\nconfig MODULES\n\tbool \"modules\"\n\nconfig FOO\n\tbool \"foo\"\n";

/// A fake kernel tree whose `make bzImage` records each run in
/// `state/runs`, prints a short line, and then, depending on files in
/// `state/`: `slow` (write its pid to `state/pid` and sleep a minute),
/// `pause` (sleep 2 s), `fail` (print a compiler error and fail),
/// `norelease` (write no `include/config/kernel.release`); `olddefconfig`
/// removes the `.config` with `rmconfig`, and `bzImage` the file named in
/// `rmspec`.
pub(crate) fn fake_tree(dir: &Path) -> (PathBuf, PathBuf) {
    let tree = dir.join("linux");
    let state = dir.join("state");
    std::fs::create_dir_all(tree.join("arch/x86")).unwrap();
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(tree.join("Kconfig"), FAKE_KCONFIG).unwrap();
    let mk = format!(
        "VERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 0\nEXTRAVERSION =\nNAME = Fake\n\n\
STATE := {state}\n\n\
.PHONY: olddefconfig image_name bzImage\n\n\
olddefconfig:\n\t@echo \"  SYNC    .config\"\n\
\t@if [ -f $(STATE)/rmconfig ]; then rm -f $(O)/.config; fi\n\n\
image_name:\n\t@echo arch/x86/boot/bzImage\n\n\
bzImage:\n\
\t@echo run >> $(STATE)/runs\n\
\t@echo '$(CC)|$(FAKEFLAG)|$(filter -j%,$(MAKEFLAGS))' > $(STATE)/make-vars\n\
\t@echo \"  CC      init/main.o\"\n\
\t@if [ -f $(STATE)/slow ]; then echo $$$$ > $(STATE)/pid; exec sleep 60; fi\n\
\t@if [ -f $(STATE)/pause ]; then sleep 2; fi\n\
\t@if [ -f $(STATE)/fail ]; then echo 'foo.c:3:5: error: boom'; echo '  3 |     boom();'; exit 1; fi\n\
\t@mkdir -p $(O)/arch/x86/boot $(O)/include/config\n\
\t@echo kernel > $(O)/arch/x86/boot/bzImage\n\
\t@echo 'ffffffff81000000 T _text' > $(O)/System.map\n\
\t@if [ -f $(STATE)/rmspec ]; then rm -f \"$$(cat $(STATE)/rmspec)\"; fi\n\
\t@if [ ! -f $(STATE)/norelease ]; then echo 6.1.0-fake > $(O)/include/config/kernel.release; fi\n\
\t@echo \"  BUILD   arch/x86/boot/bzImage\"\n",
        state = state.display()
    );
    std::fs::write(tree.join("Makefile"), mk).unwrap();
    (tree, state)
}

fn fake_spec(dir: &Path, name: &str, config: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(
        &p,
        format!(
            "[source]\nversion = \"6.1\"\n\n[build]\narch = \"x86_64\"\nbase = \"allnoconfig\"\n\n[config]\n{config}"
        ),
    )
    .unwrap();
    p
}

fn runs(state: &Path) -> usize {
    std::fs::read_to_string(state.join("runs"))
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

fn build_fake(cache: &Path, cwd: &Path, spec: &Path, tree: &Path, link: &str) -> Output {
    kforge(cache, cwd)
        .arg("build")
        .arg(spec)
        .arg("--tree")
        .arg(tree)
        .args(["--out-link", link])
        .output()
        .unwrap()
}

/// What the build cannot read or write is an error (or, for the memo, a
/// warning), never a silent default: no kernel release, no memo.
#[test]
fn fake_build_io_failures_are_reported() {
    let d = tempfile::tempdir().unwrap();
    let (tree, state) = fake_tree(d.path());
    let cache = d.path().join("cache");
    // The resolution memo's directory is a file: a warning, the build goes on.
    std::fs::create_dir_all(cache.join("kforge")).unwrap();
    std::fs::write(cache.join("kforge/resolved"), "not a directory").unwrap();
    // The build writes no kernel.release: an error naming the file.
    std::fs::write(state.join("norelease"), "").unwrap();
    let spec = fake_spec(d.path(), "kernel.toml", "FOO = \"y\"\n");
    let o = build_fake(&cache, d.path(), &spec, &tree, "result");
    let err = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("warning:") && err.contains("cannot remember this resolution"),
        "{err}"
    );
    assert!(
        err.contains(
            "include/config/kernel.release: cannot read the kernel release the build wrote"
        ),
        "{err}"
    );
    assert!(store_listing(&cache).0.is_empty(), "no entry: {err}");
    // The configuration cannot be read back after olddefconfig.
    std::fs::remove_file(state.join("norelease")).unwrap();
    std::fs::write(state.join("rmconfig"), "").unwrap();
    let o = build_fake(&cache, d.path(), &spec, &tree, "result");
    let err = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains(".config: cannot read it"), "{err}");
    assert!(!err.contains("a bug in kforge"), "{err}");
    std::fs::remove_file(state.join("rmconfig")).unwrap();
    // The declaration is gone when its hash goes into the manifest.
    let doomed = fake_spec(d.path(), "doomed.toml", "FOO = \"y\"\n# doomed\n");
    std::fs::write(state.join("rmspec"), doomed.to_str().unwrap()).unwrap();
    let o = build_fake(&cache, d.path(), &doomed, &tree, "result");
    let err = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("doomed.toml: cannot read it"), "{err}");
    std::fs::remove_file(state.join("rmspec")).unwrap();
    assert!(store_listing(&cache).0.is_empty(), "no entry: {err}");
    // With nothing in the way, the same build makes its entry.
    let o = build_fake(&cache, d.path(), &spec, &tree, "result");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn fake_build_outputs_store_hit_and_gc() {
    let d = tempfile::tempdir().unwrap();
    let (tree, state) = fake_tree(d.path());
    let cache = d.path().join("cache");
    let spec = fake_spec(d.path(), "kernel.toml", "FOO = \"y\"\n");
    let o = build_fake(&cache, d.path(), &spec, &tree, "result");
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(runs(&state), 1);
    let entry = std::fs::read_link(d.path().join("result")).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        entry.display().to_string()
    );
    assert_eq!(
        std::fs::read_to_string(entry.join("kernel/bzImage")).unwrap(),
        "kernel\n"
    );
    assert!(std::fs::read_to_string(entry.join("kernel/config"))
        .unwrap()
        .contains("CONFIG_FOO=y"));
    let log = std::fs::read_to_string(entry.join("build.log")).unwrap();
    assert!(log.contains("  CC      init/main.o"), "{log}");
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(entry.join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(m["kernel_release"], "6.1.0-fake");
    assert_eq!(m["image"], "kernel/bzImage");

    // The same declaration again: a store hit, make is not run, and
    // nothing is resolved either (the resolution is remembered).
    let o = build_fake(&cache, d.path(), &spec, &tree, "result");
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("up to date"), "{}", text(&o));
    assert!(text(&o).contains("resolves as before"), "{}", text(&o));
    assert_eq!(runs(&state), 1);
    // An edit that changes no setting: resolved again, same entry.
    let edited = std::fs::read_to_string(&spec).unwrap() + "# a comment\n";
    std::fs::write(&spec, edited).unwrap();
    let o = build_fake(&cache, d.path(), &spec, &tree, "result");
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("up to date"), "{}", text(&o));
    assert!(!text(&o).contains("resolves as before"), "{}", text(&o));
    assert_eq!(runs(&state), 1);

    // An edit to a source file of the --tree: built again (as a patch
    // under test would be), in the same build directory, into a new entry.
    std::fs::create_dir_all(tree.join("init")).unwrap();
    std::fs::write(tree.join("init/main.c"), "int patched;\n").unwrap();
    let o = build_fake(&cache, d.path(), &spec, &tree, "result");
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains("up to date"), "{}", text(&o));
    assert_eq!(runs(&state), 2);
    let edited_entry = std::fs::read_link(d.path().join("result")).unwrap();
    assert_ne!(edited_entry, entry);
    assert_eq!(
        manifest(&edited_entry)["build_directory"],
        manifest(&entry)["build_directory"]
    );
    // Back to the first entry's source: its entry again (a store hit).
    std::fs::remove_dir_all(tree.join("init")).unwrap();
    let o = build_fake(&cache, d.path(), &spec, &tree, "result");
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(runs(&state), 2, "{}", text(&o));
    assert_eq!(std::fs::read_link(d.path().join("result")).unwrap(), entry);
    // Nothing links the edited build any more: gc takes it.
    let o = kforge(&cache, d.path()).arg("gc").output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(!edited_entry.exists() && entry.is_dir());

    // Another configuration: another entry, linked elsewhere.
    let spec2 = fake_spec(d.path(), "other.toml", "FOO = \"n\"\n");
    let o = build_fake(&cache, d.path(), &spec2, &tree, "result-2");
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(runs(&state), 3);
    let entry2 = std::fs::read_link(d.path().join("result-2")).unwrap();
    assert_ne!(entry, entry2);
    assert_eq!(store_listing(&cache).0.len(), 2);

    // gc keeps what a link reaches.
    let gc = |args: &[&str]| {
        let o = kforge(&cache, d.path())
            .arg("gc")
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        o
    };
    gc(&[]);
    assert!(entry.is_dir() && entry2.is_dir());
    std::fs::remove_file(d.path().join("result-2")).unwrap();
    // With an age, recently used entries stay.
    gc(&["--older-than", "1"]);
    assert!(entry2.is_dir());
    // An age that is not a whole number of days is refused (it panicked
    // on 99999999999999999999, and took NaN and -1), removing nothing.
    for bad in ["99999999999999999999", "NaN", "inf", "-1", "0.5"] {
        let o = kforge(&cache, d.path())
            .args(["gc", "--older-than", bad])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(
            text(&o).contains("is not a number of days: give a whole number from 0 to 36500"),
            "{}",
            text(&o)
        );
    }
    assert!(entry2.is_dir());
    let o = gc(&["--dry-run"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("would remove"));
    assert!(entry2.is_dir());
    gc(&[]);
    assert!(entry.is_dir() && !entry2.exists());
    assert_eq!(store_listing(&cache).0.len(), 1);
    // The remembered resolution of a collected entry leads to a build.
    let o = build_fake(&cache, d.path(), &spec2, &tree, "result-2");
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(runs(&state), 4);
    assert!(entry2.is_dir());
}

#[test]
fn a_tree_without_a_makefile_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let spec = fake_spec(d.path(), "kernel.toml", "FOO = \"y\"\n");
    let empty = d.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let o = build_fake(&d.path().join("cache"), d.path(), &spec, &empty, "result");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("not a kernel tree (it has no Makefile)"),
        "{}",
        text(&o)
    );
    assert!(!d.path().join("result").exists());
}

#[test]
fn fake_compile_error_reports_first_errors_and_the_log() {
    let d = tempfile::tempdir().unwrap();
    let (tree, state) = fake_tree(d.path());
    std::fs::write(state.join("fail"), "").unwrap();
    let cache = d.path().join("cache");
    let spec = fake_spec(d.path(), "kernel.toml", "FOO = \"y\"\n");
    let o = build_fake(&cache, d.path(), &spec, &tree, "result");
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("  foo.c:3:5: error: boom"), "{out}");
    let log = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("full log: "))
        .unwrap_or_else(|| panic!("no log path: {out}"));
    assert!(std::fs::read_to_string(log)
        .unwrap()
        .contains("foo.c:3:5: error: boom"));
    assert!(!d.path().join("result").exists());
    let (entries, other) = store_listing(&cache);
    assert!(entries.is_empty(), "{entries:?}");
    assert!(!other.iter().any(|n| n.starts_with(".tmp-")), "{other:?}");
    // Fixed, it builds.
    std::fs::remove_file(state.join("fail")).unwrap();
    let o = build_fake(&cache, d.path(), &spec, &tree, "result");
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn fake_kill_during_build_leaves_no_entry_and_next_build_succeeds() {
    let d = tempfile::tempdir().unwrap();
    let (tree, state) = fake_tree(d.path());
    std::fs::write(state.join("slow"), "").unwrap();
    let cache = d.path().join("cache");
    let spec = fake_spec(d.path(), "kernel.toml", "FOO = \"y\"\n");
    let mut child = kforge(&cache, d.path())
        .arg("build")
        .arg(&spec)
        .arg("--tree")
        .arg(&tree)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while !state.join("pid").exists() {
        assert!(t.elapsed() < Duration::from_secs(120), "make never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let (entries, other) = store_listing(&cache);
    assert!(entries.is_empty(), "{entries:?}");
    assert!(
        other.iter().any(|n| n.starts_with(".tmp-")),
        "the killed build's temporary directory: {other:?}"
    );
    assert!(!d.path().join("result").exists());
    // The orphaned job holds the build directory; end it as its owner would.
    let pid = std::fs::read_to_string(state.join("pid")).unwrap();
    Command::new("kill")
        .args(["-9", pid.trim()])
        .status()
        .unwrap();
    std::fs::remove_file(state.join("slow")).unwrap();
    // The temporary directory is not an entry: the next build builds.
    let o = build_fake(&cache, d.path(), &spec, &tree, "result");
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(runs(&state), 2);
    let (entries, other) = store_listing(&cache);
    assert_eq!(entries.len(), 1);
    assert!(!other.iter().any(|n| n.starts_with(".tmp-")), "{other:?}");
    // A stray temporary directory of another key is removed by gc.
    std::fs::create_dir_all(cache.join("kforge/store/.tmp-0123abcd-99999/kernel")).unwrap();
    let o = kforge(&cache, d.path()).arg("gc").output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let (entries, other) = store_listing(&cache);
    assert_eq!(entries.len(), 1);
    assert!(!other.iter().any(|n| n.starts_with(".tmp-")), "{other:?}");
}

#[test]
fn fake_concurrent_builds_of_one_key_build_once() {
    let d = tempfile::tempdir().unwrap();
    let (tree, state) = fake_tree(d.path());
    std::fs::write(state.join("pause"), "").unwrap();
    let cache = d.path().join("cache");
    let spec = fake_spec(d.path(), "kernel.toml", "FOO = \"y\"\n");
    let spawn = |link: &str| {
        kforge(&cache, d.path())
            .arg("build")
            .arg(&spec)
            .arg("--tree")
            .arg(&tree)
            .args(["--out-link", link])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let a = spawn("result-a");
    let b = spawn("result-b");
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success(), "{}", text(&a));
    assert!(b.status.success(), "{}", text(&b));
    assert_eq!(runs(&state), 1, "{}\n{}", text(&a), text(&b));
    assert_eq!(
        std::fs::read_link(d.path().join("result-a")).unwrap(),
        std::fs::read_link(d.path().join("result-b")).unwrap()
    );
    let both = format!("{}{}", text(&a), text(&b));
    assert!(both.contains("up to date"), "{both}");
}

#[test]
fn fake_make_flags_launcher_jobs_and_dry_run() {
    let d = tempfile::tempdir().unwrap();
    let (tree, state) = fake_tree(d.path());
    let cache = d.path().join("cache");
    let bin = d.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let launcher = bin.join("mylauncher");
    std::fs::write(&launcher, "#!/bin/sh\nexec \"$@\"\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&launcher, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let spec = d.path().join("kernel.toml");
    std::fs::write(
        &spec,
        "[source]\nversion = \"6.1\"\n\n[build]\narch = \"x86_64\"\nbase = \"allnoconfig\"\n\
         make_flags = [\"FAKEFLAG=yes\"]\njobs = 3\nlauncher = \"mylauncher\"\n",
    )
    .unwrap();
    let run = |extra: &[&str]| {
        kforge(&cache, d.path())
            .env("PATH", &path)
            .arg("build")
            .arg(&spec)
            .arg("--tree")
            .arg(&tree)
            .args(extra)
            .output()
            .unwrap()
    };
    let o = run(&["--dry-run"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(out.contains("store key: "), "{out}");
    assert!(out.contains("(not built)"), "{out}");
    assert!(
        out.contains("'CC=mylauncher gcc' -j3 FAKEFLAG=yes"),
        "{out}"
    );
    assert_eq!(runs(&state), 0);
    let o = run(&[]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        std::fs::read_to_string(state.join("make-vars"))
            .unwrap()
            .trim(),
        "mylauncher gcc|yes|-j3"
    );
    let o = run(&["--dry-run"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("(built)"));
    // -j on the command line wins, and does not change the key.
    let o = run(&["-j", "1"]);
    assert!(text(&o).contains("up to date"), "{}", text(&o));
    // A launcher that is not there is an error before anything runs.
    std::fs::remove_file(&launcher).unwrap();
    let o = run(&[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("launcher `mylauncher`"), "{}", text(&o));
}

/// A fake tree with modules: `make modules_install` installs real modules
/// (Debian's `dummy.ko`, and `veth.ko` only when `state/veth` exists) for
/// kforge's depmod and the `[modules.NAME]` loaders.
#[cfg(feature = "oracle-tests")]
fn fake_modules_tree(dir: &Path) -> (PathBuf, PathBuf) {
    let (tree, state) = fake_tree(dir);
    std::fs::write(
        tree.join("Kconfig"),
        "mainmenu \"Fake\"\n\nconfig MODULES\n\tbool \"modules\"\n\tmodules\n\n\
         config DUMMY\n\ttristate \"dummy\"\n\nconfig VETH\n\ttristate \"veth\"\n",
    )
    .unwrap();
    // What kforge_tree::ModuleMap reads to map module names to symbols.
    std::fs::write(tree.join("Kbuild"), "obj-y += drivers/\n").unwrap();
    std::fs::create_dir_all(tree.join("drivers/net")).unwrap();
    std::fs::write(tree.join("drivers/Makefile"), "obj-y += net/\n").unwrap();
    std::fs::write(
        tree.join("drivers/net/Makefile"),
        "obj-$(CONFIG_DUMMY) += dummy.o\nobj-$(CONFIG_VETH) += veth.o\n",
    )
    .unwrap();
    let debian = kforge_testkit::modules_tree().join("kernel/drivers/net");
    let mut mk = std::fs::read_to_string(tree.join("Makefile")).unwrap();
    mk = mk.replace(
        ".PHONY: olddefconfig image_name bzImage",
        ".PHONY: olddefconfig image_name bzImage modules modules_install",
    );
    mk.push_str(&format!(
        "\nmodules:\n\t@echo \"  CC [M]  drivers/net/dummy.o\"\n\n\
         modules_install:\n\
         \t@d=$(INSTALL_MOD_PATH)/lib/modules/6.1.0-fake; mkdir -p $$d/kernel/drivers/net; \\\n\
         \tcp {debian}/dummy.ko $$d/kernel/drivers/net/; echo kernel/drivers/net/dummy.ko > $$d/modules.order; \\\n\
         \tif [ -f $(STATE)/veth ]; then cp {debian}/veth.ko $$d/kernel/drivers/net/; echo kernel/drivers/net/veth.ko >> $$d/modules.order; fi; \\\n\
         \t: > $$d/modules.builtin; : > $$d/modules.builtin.modinfo; $(DEPMOD) -a\n",
        debian = debian.display()
    ));
    std::fs::write(tree.join("Makefile"), mk).unwrap();
    (tree, state)
}

/// `[modules.NAME]` in a build: kforge's depmod indexes the installed
/// modules, the loader lands in `loaders/NAME`; a listed module the build
/// did not produce fails the build, naming its symbol and value, and
/// leaves no entry.
#[cfg(feature = "oracle-tests")]
#[test]
fn fake_module_sets_get_loaders_and_a_missing_module_fails() {
    let d = tempfile::tempdir().unwrap();
    let (tree, state) = fake_modules_tree(d.path());
    let cache = d.path().join("cache");
    let spec = d.path().join("mods.toml");
    std::fs::write(
        &spec,
        "[source]\nversion = \"6.1\"\n\n[build]\narch = \"x86_64\"\nbase = \"allnoconfig\"\n\n\
         [config]\nMODULES = \"y\"\n\n[modules.net]\nload = [\"dummy\", \"veth\"]\n",
    )
    .unwrap();
    // veth is asked for (VETH=m) but not installed.
    let o = build_fake(&cache, d.path(), &spec, &tree, "result");
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("[modules.net]"), "{out}");
    assert!(out.contains("'veth'"), "{out}");
    assert!(out.contains("CONFIG_VETH=m"), "{out}");
    assert!(out.contains("no store entry was made"), "{out}");
    assert!(!d.path().join("result").exists());
    let (entries, _) = store_listing(&cache);
    assert!(entries.is_empty(), "{entries:?}");

    // With veth installed: the entry, its indexes and the loader.
    std::fs::write(state.join("veth"), "").unwrap();
    let o = build_fake(&cache, d.path(), &spec, &tree, "result");
    assert!(o.status.success(), "{}", text(&o));
    let entry = std::fs::read_link(d.path().join("result")).unwrap();
    let moddir = entry.join("modules/lib/modules/6.1.0-fake");
    let dep = std::fs::read_to_string(moddir.join("modules.dep")).unwrap();
    assert_eq!(
        dep,
        "kernel/drivers/net/dummy.ko:\nkernel/drivers/net/veth.ko:\n"
    );
    assert!(moddir.join("modules.alias.bin").is_file());
    let load = std::fs::read_to_string(entry.join("loaders/net/load.sh")).unwrap();
    let order: Vec<&str> = load.lines().filter(|l| l.starts_with("load ")).collect();
    assert_eq!(
        order,
        [
            "load dummy 'kernel/drivers/net/dummy.ko'",
            "load veth 'kernel/drivers/net/veth.ko'"
        ]
    );
    assert!(
        text(&o).contains("loader net: 2 modules (dummy veth)"),
        "{}",
        text(&o)
    );
    check_manifest(&entry);
}

#[test]
fn fake_tarball_with_a_patch_through_the_source_crate() {
    let d = tempfile::tempdir().unwrap();
    let (tree, state) = fake_tree(d.path());
    let cache = d.path().join("cache");
    // The tarball of the fake tree, and a patch that changes what it builds.
    let st = Command::new("tar")
        .current_dir(d.path())
        .args(["-czf", "linux.tar.gz", "linux"])
        .status()
        .unwrap();
    assert!(st.success());
    let patched = d.path().join("patched");
    std::fs::create_dir_all(&patched).unwrap();
    let mk = std::fs::read_to_string(tree.join("Makefile")).unwrap();
    std::fs::write(
        patched.join("Makefile"),
        mk.replace("@echo kernel >", "@echo patched-kernel >"),
    )
    .unwrap();
    let diff = Command::new("diff")
        .current_dir(d.path())
        .args(["-u", "linux/Makefile", "patched/Makefile"])
        .output()
        .unwrap();
    assert!(!diff.stdout.is_empty());
    std::fs::write(d.path().join("fix.patch"), &diff.stdout).unwrap();
    let spec = d.path().join("kernel.toml");
    std::fs::write(
        &spec,
        "[source]\nversion = \"6.1\"\ntarball = \"linux.tar.gz\"\n\n\
         [build]\narch = \"x86_64\"\nbase = \"allnoconfig\"\n\n\
         [[patches]]\nname = \"fix\"\nfile = \"fix.patch\"\n",
    )
    .unwrap();
    let o = kforge(&cache, d.path())
        .arg("build")
        .arg(&spec)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let entry = std::fs::read_link(d.path().join("result")).unwrap();
    assert_eq!(
        std::fs::read_to_string(entry.join("kernel/bzImage")).unwrap(),
        "patched-kernel\n"
    );
    let m = manifest(&entry);
    assert_eq!(m["source"]["patches_sha256"].as_array().unwrap().len(), 1);
    assert!(m["source"]["digest"]
        .as_str()
        .unwrap()
        .starts_with("prepared:"));
    // Built once; the second time is a store hit.
    let o = kforge(&cache, d.path())
        .arg("build")
        .arg(&spec)
        .output()
        .unwrap();
    assert!(text(&o).contains("up to date"), "{}", text(&o));
    assert_eq!(runs(&state), 1);
    // --tree is built as it is: with [[patches]] it is refused.
    let o = build_fake(&cache, d.path(), &spec, &tree, "result-tree");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("without the declared [[patches]]"),
        "{}",
        text(&o)
    );
    assert_eq!(runs(&state), 1);
}

// ---------------------------------------------------------------- real 6.1

fn manifest(entry: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(entry.join("manifest.json")).unwrap()).unwrap()
}

/// Every file the manifest lists has the listed hash.
#[cfg(feature = "oracle-tests")]
fn check_manifest(entry: &Path) {
    let m = manifest(entry);
    let files = m["files"].as_array().unwrap();
    assert!(files.len() > 10);
    for f in files {
        let p = entry.join(f["path"].as_str().unwrap());
        if f.get("link").is_some() {
            assert_eq!(
                std::fs::read_link(&p).unwrap().to_string_lossy(),
                f["link"].as_str().unwrap()
            );
        } else {
            assert_eq!(
                build_sha256(&p),
                f["sha256"].as_str().unwrap(),
                "{}",
                p.display()
            );
        }
    }
}

#[cfg(feature = "oracle-tests")]
fn build_sha256(p: &Path) -> String {
    let o = Command::new("sha256sum").arg(p).output().unwrap();
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[cfg(feature = "oracle-tests")]
fn cc_lines(log: &str) -> usize {
    log.lines()
        .filter(|l| l.starts_with("  CC ") || l.starts_with("  CC\t"))
        .count()
}

#[cfg(feature = "oracle-tests")]
fn build_real(cache: &Path, cwd: &Path, spec: &Path, path: &str, link: &str) -> (Output, PathBuf) {
    let t = Instant::now();
    let o = kforge(cache, cwd)
        .env("PATH", path)
        .arg("build")
        .arg(spec)
        .arg("--tree")
        .arg(tree_6_1())
        .args(["--out-link", link])
        .output()
        .unwrap();
    eprintln!(
        "kforge build {} ({link}): {:.1}s",
        spec.display(),
        t.elapsed().as_secs_f64()
    );
    assert!(o.status.success(), "{}", text(&o));
    let entry = std::fs::read_link(cwd.join(link)).unwrap();
    (o, entry)
}

/// The QEMU example on the real 6.1 tree: outputs and manifest, a store
/// hit that runs no make, an incremental rebuild after one more module, and
/// a hello-world module built against `dev/`.
#[cfg(feature = "oracle-tests")]
#[test]
fn real_qemu_example_build_hit_incremental_and_external_module() {
    let tree = tree_6_1();
    let d = tempfile::tempdir().unwrap();
    // The store the boot tests use too (test_cmd.rs): whichever test comes
    // first builds the example, the other waits for the key's lock and
    // finds the entry.
    let shared = kforge_testkit::shared_store();
    let cache = shared.cache.clone();
    let path = shared.path.clone();
    let make_runs = || shared.make_runs();
    let spec = repo_root().join("examples/qemu-x86_64.toml");

    // ---- the first build
    let (_, entry) = build_real(&cache, d.path(), &spec, &path, "result");
    for f in [
        "kernel/bzImage",
        "kernel/System.map",
        "kernel/config",
        "build.log",
    ] {
        assert!(entry.join(f).is_file(), "{f}");
    }
    let m = manifest(&entry);
    let release = m["kernel_release"].as_str().unwrap().to_string();
    assert!(release.starts_with("6.1."), "{release}");
    let moddir = entry.join("modules/lib/modules").join(&release);
    assert!(moddir.join("kernel/drivers/net/dummy.ko").is_file());
    assert!(moddir.join("modules.dep").is_file());
    assert_eq!(m["features"]["modules"], true);
    check_manifest(&entry);
    let first_log = std::fs::read_to_string(entry.join("build.log")).unwrap();
    // kforge's depmod wrote the entry's indexes: the same bytes as kmod's.
    depmod_matches_kmod(&entry, &release);
    // The [modules.netdev] loader, from the entry's own modules.
    let loader = entry.join("loaders/netdev");
    assert!(loader.join("load.sh").is_file());
    let load = std::fs::read_to_string(loader.join("load.sh")).unwrap();
    assert!(
        load.contains("\nload dummy 'kernel/drivers/net/dummy.ko'\n"),
        "{load}"
    );
    assert!(loader
        .join("lib/modules")
        .join(&release)
        .join("kernel/drivers/net/dummy.ko")
        .is_file());
    assert!(
        std::fs::read_to_string(loader.join("systemd/kforge-modules-netdev.service"))
            .unwrap()
            .contains("ExecStart=/lib/kforge/loaders/netdev/load.sh")
    );

    // ---- reproducibility, and distribution: a clean build in another
    // directory, with another store and build directory, its compiles sent
    // to a real icecream farm (two daemons standing for other machines),
    // whose scheduler is stopped half-way: remote jobs ran, the rest was
    // compiled locally, and the image and modules are the same bytes under
    // the same key.
    let mut farm = kforge_testkit::icecream::Farm::start();
    let other = tempfile::tempdir().unwrap();
    let runs = make_runs();
    let t = Instant::now();
    let mut child = kforge(&other.path().join("cache"), other.path())
        .env("PATH", &path)
        .env("USE_SCHEDULER", &farm.scheduler)
        .args(["build", "--distribute", "icecream", "--out-link", "result"])
        .arg(&spec)
        .arg("--tree")
        .arg(tree_6_1())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Half-way: the scheduler goes once the daemons have run 150 jobs.
    let stopped_after = loop {
        let (a, b) = farm.remote_jobs();
        if a + b >= 150 {
            farm.stop_scheduler();
            break (a, b);
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "the build ended ({status}) before the farm ran 150 jobs: {:?}",
                farm.remote_jobs()
            );
        }
        assert!(
            t.elapsed() < Duration::from_secs(1200),
            "no progress on the farm"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let o = child.wait_with_output().unwrap();
    eprintln!(
        "kforge build through icecream: {:.1}s; remote jobs before the scheduler stopped: {stopped_after:?}",
        t.elapsed().as_secs_f64()
    );
    assert!(o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(
            "kforge: compiling with icecc on 3 hosts (local, node-a, node-b), 6 jobs at once"
        ),
        "{err}"
    );
    assert!(
        stopped_after.0 > 0 && stopped_after.1 > 0,
        "{stopped_after:?}"
    );
    assert!(make_runs() >= runs + 2, "the second store built nothing");
    let entry_b = std::fs::read_link(other.path().join("result")).unwrap();
    let log_b = std::fs::read_to_string(entry_b.join("build.log")).unwrap();
    assert!(
        cc_lines(&log_b) > stopped_after.0 + stopped_after.1 + 50,
        "nothing was left to compile locally after the scheduler stopped"
    );
    drop(farm);
    assert_ne!(manifest(&entry_b)["build_directory"], m["build_directory"]);
    // The same key in both stores: nothing of the store's place, nor the
    // farm, enters it.
    assert_eq!(entry_b.file_name(), entry.file_name());
    let (ha, hb) = (artifact_hashes(&entry), artifact_hashes(&entry_b));
    assert!(ha.len() >= 2, "{ha:?}");
    assert_eq!(
        ha, hb,
        "a clean build through icecream differs from the local one"
    );
    drop(other);

    // ---- a store hit: make does not run (counted by the process that
    // would start it: the boot tests use the store at the same time)
    let t = Instant::now();
    let hit = kforge(&cache, d.path())
        .env("PATH", &path)
        .arg("build")
        .arg(&spec)
        .arg("--tree")
        .arg(tree_6_1())
        .args(["--out-link", "result"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = hit.id();
    let o = hit.wait_with_output().unwrap();
    eprintln!("store hit: {:.2}s", t.elapsed().as_secs_f64());
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read_link(d.path().join("result")).unwrap(), entry);
    assert_eq!(shared.make_runs_by(pid), 0, "a store hit ran make");
    assert!(text(&o).contains("up to date"), "{}", text(&o));

    // ---- one more module: an incremental rebuild in the same directory
    let example = std::fs::read_to_string(&spec).unwrap();
    let more = example
        .replace(
            "include = [\"../profiles/qemu.toml\"]",
            &format!(
                "include = [\"{}\"]",
                repo_root().join("profiles/qemu.toml").display()
            ),
        )
        .replace("DUMMY = \"m\"\n", "DUMMY = \"m\"\nVETH = \"m\"\n");
    assert_ne!(more, example);
    let spec2 = d.path().join("more.toml");
    std::fs::write(&spec2, more).unwrap();
    let (_, entry2) = build_real(&cache, d.path(), &spec2, &path, "result-veth");
    assert_ne!(entry2, entry);
    let m2 = manifest(&entry2);
    assert_eq!(m2["build_directory"], m["build_directory"]);
    let release2 = m2["kernel_release"].as_str().unwrap();
    assert!(entry2
        .join("modules/lib/modules")
        .join(release2)
        .join("kernel/drivers/net/veth.ko")
        .is_file());
    let second_log = std::fs::read_to_string(entry2.join("build.log")).unwrap();
    let (n1, n2) = (cc_lines(&first_log), cc_lines(&second_log));
    eprintln!("CC lines: first build {n1}, after adding VETH {n2}");
    assert!(n1 > 200, "{n1}");
    assert!(n2 * 4 < n1, "not incremental: {n2} CC lines after {n1}");

    // ---- an out-of-tree module against dev/
    let m_dir = d.path().join("hello");
    std::fs::create_dir_all(&m_dir).unwrap();
    std::fs::write(
        m_dir.join("hello.c"),
        "#include <linux/module.h>\n#include <linux/init.h>\n\n\
         static int __init hello_init(void)\n{\n\tpr_info(\"hello\\n\");\n\treturn 0;\n}\n\n\
         static void __exit hello_exit(void)\n{\n}\n\n\
         module_init(hello_init);\nmodule_exit(hello_exit);\nMODULE_LICENSE(\"Dual MIT/GPL\");\n",
    )
    .unwrap();
    std::fs::write(m_dir.join("Kbuild"), "obj-m := hello.o\n").unwrap();
    let t = Instant::now();
    let o = Command::new("make")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", d.path())
        .arg("-C")
        .arg(entry.join("dev"))
        .arg(format!("M={}", m_dir.display()))
        .arg("modules")
        .output()
        .unwrap();
    eprintln!("external module: {:.1}s", t.elapsed().as_secs_f64());
    assert!(o.status.success(), "{}", text(&o));
    let ko = std::fs::read(m_dir.join("hello.ko")).unwrap();
    let vermagic = format!("vermagic={release} ");
    assert!(
        ko.windows(vermagic.len()).any(|w| w == vermagic.as_bytes()),
        "hello.ko is not built for {release}"
    );
    // Building against dev/ wrote nothing into the entry.
    check_manifest(&entry);
    let _ = tree;
}

/// The sha256 of the image and of every module of an entry.
#[cfg(feature = "oracle-tests")]
fn artifact_hashes(entry: &Path) -> Vec<(String, String)> {
    manifest(entry)["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| {
            let p = f["path"].as_str().unwrap();
            p == "kernel/bzImage" || p.ends_with(".ko")
        })
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["sha256"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Runs kmod's depmod the way the kernel's `modules_install` does (`-ae -F
/// System.map`, no depmod.d) on a copy of the entry's modules, and compares
/// every index file with the entry's, which kforge's depmod wrote.
#[cfg(feature = "oracle-tests")]
fn depmod_matches_kmod(entry: &Path, release: &str) {
    let copy = tempfile::tempdir().unwrap();
    let st = Command::new("cp")
        .arg("-a")
        .arg(entry.join("modules/lib"))
        .arg(copy.path())
        .status()
        .unwrap();
    assert!(st.success());
    let dir = copy.path().join("lib/modules").join(release);
    let ours = entry.join("modules/lib/modules").join(release);
    let mut indexes = Vec::new();
    for e in std::fs::read_dir(&ours).unwrap() {
        let n = e.unwrap().file_name().to_string_lossy().into_owned();
        if n.starts_with("modules.")
            && ![
                "modules.order",
                "modules.builtin",
                "modules.builtin.modinfo",
            ]
            .contains(&n.as_str())
        {
            std::fs::remove_file(dir.join(&n)).unwrap();
            indexes.push(n);
        }
    }
    indexes.sort();
    assert!(indexes.len() >= 10, "{indexes:?}");
    let o = Command::new(kforge_testkit::kmod_depmod())
        .args(["-ae", "-F"])
        .arg(entry.join("kernel/System.map"))
        .args(["-C", "/dev/null", "-b"])
        .arg(copy.path())
        .arg(release)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    for n in &indexes {
        let a = std::fs::read(ours.join(n)).unwrap();
        let b = std::fs::read(dir.join(n))
            .unwrap_or_else(|e| panic!("kmod's depmod wrote no {n}: {e}"));
        assert!(a == b, "{n}: kforge's depmod differs from kmod's");
    }
}

/// A farm that does not answer leaves the compiles on this machine, with a
/// warning that says why; the store key is the farm's too.
#[test]
fn farms_that_do_not_answer_leave_compiles_local() {
    let d = tempfile::tempdir().unwrap();
    let (tree, _state) = fake_tree(d.path());
    let cache = d.path().join("cache");
    let bin = d.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    use std::os::unix::fs::PermissionsExt;
    for tool in ["icecc", "distcc"] {
        let p = bin.join(tool);
        std::fs::write(&p, "#!/bin/sh\nexec \"$@\"\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let spec = d.path().join("kernel.toml");
    std::fs::write(
        &spec,
        "[source]\nversion = \"6.1\"\n\n[build]\narch = \"x86_64\"\nbase = \"allnoconfig\"\n\
         distribute = \"icecream\"\n",
    )
    .unwrap();
    let dry_run = |env: &[(&str, String)], extra: &[&str]| {
        let mut c = kforge(&cache, d.path());
        c.env("PATH", &path)
            .env("HOME", d.path())
            .env_remove("DISTCC_HOSTS")
            .arg("build")
            .arg(&spec)
            .arg("--tree")
            .arg(&tree)
            .arg("--dry-run")
            .args(extra);
        for (k, v) in env {
            c.env(k, v);
        }
        let o = c.output().unwrap();
        assert!(o.status.success(), "{}", text(&o));
        text(&o)
    };
    let key = |out: &str| {
        out.lines()
            .find(|l| l.contains("store key: "))
            .map(str::to_string)
            .unwrap()
    };
    let local = dry_run(&[], &["--distribute", "none"]);
    assert!(!local.contains("warning: "), "{local}");
    assert!(!local.contains("icecc"), "{local}");

    // Nothing listens where the scheduler should be.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let sched = format!("127.0.0.1:{}", port - 1);
    let out = dry_run(&[("USE_SCHEDULER", sched.clone())], &[]);
    assert!(
        out.contains(&format!(
            "warning: no icecream scheduler answers at {sched} (Connection refused"
        )),
        "{out}"
    );
    assert!(out.contains("compiling on this machine"), "{out}");
    assert!(!out.contains("CC=icecc"), "{out}");
    assert_eq!(key(&out), key(&local));

    // A scheduler that lists no hosts.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for s in listener.incoming().flatten() {
            let mut s = s;
            let mut request = [0u8; 14];
            let _ = s.read_exact(&mut request);
            let _ = s.write_all(b"200-ICECC 1.4.0: 1s uptime, 0 hosts\r\n200 done\r\n");
        }
    });
    let sched = format!("127.0.0.1:{}", port - 1);
    let out = dry_run(&[("USE_SCHEDULER", sched.clone())], &[]);
    assert!(
        out.contains(&format!(
            "warning: the icecream scheduler at {sched} lists no compile hosts: compiling on this machine"
        )),
        "{out}"
    );

    // distcc, chosen on the command line, with a host that does not answer.
    let out = dry_run(
        &[("DISTCC_HOSTS", format!("127.0.0.1:{}/4", port - 1))],
        &["--distribute", "distcc"],
    );
    assert!(
        out.contains(&format!(
            "warning: no distcc host answers (127.0.0.1:{}): compiling on this machine",
            port - 1
        )),
        "{out}"
    );
    let out = dry_run(&[], &["--distribute", "distcc"]);
    assert!(
        out.contains("warning: no distcc hosts: set DISTCC_HOSTS"),
        "{out}"
    );
    // A farm kforge does not know is refused by the command line.
    let mut c = kforge(&cache, d.path());
    let o = c
        .args(["build", "x.toml", "--distribute", "bazel"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("`bazel` is not a build farm kforge can use"),
        "{}",
        text(&o)
    );
}
