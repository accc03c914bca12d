//! `kforge test`: the QEMU example booted for real (6.1 tree, static
//! busybox, qemu-system-x86_64), and the ways a boot test fails.
//!
//! The kernel is built once into a store under `target/` that outlives a
//! run and that build_cmd.rs's real build shares
//! (`kforge_testkit::shared_store`: whichever comes first builds); the
//! variants differ only in `[test]`, which is not part of the store key, so
//! they boot the same entry.
//!
//! A second-tier test file: compiled with the `oracle-tests` feature only
//! (scripts/test); without its prerequisites it fails naming
//! scripts/prepare-oracle (and needs qemu-system-x86 and busybox-static; it
//! builds a kernel).
#![cfg(feature = "oracle-tests")]

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use common::{oracle, repo_root, text};

fn tree_6_1() -> PathBuf {
    oracle().join("6.1/src")
}

/// The store the boot tests share with build_cmd.rs's real build, kept
/// between runs.
fn cache() -> PathBuf {
    kforge_testkit::shared_store().cache
}

/// kforge on the shared store, with its `PATH` (the store key names make).
fn kforge(cwd: &Path) -> Command {
    let shared = kforge_testkit::shared_store();
    let mut c = Command::new(env!("CARGO_BIN_EXE_kforge"));
    c.current_dir(cwd)
        .env("XDG_CACHE_HOME", shared.cache)
        .env("PATH", shared.path);
    c
}

/// The example with the profile's path made absolute and `[test]`
/// replaced by `test` (`None`: the example's own).
fn variant(dir: &Path, name: &str, test: Option<&str>) -> PathBuf {
    let example = std::fs::read_to_string(repo_root().join("examples/qemu-x86_64.toml")).unwrap();
    let mut s = example.replace(
        "include = [\"../profiles/qemu.toml\"]",
        &format!(
            "include = [\"{}\"]",
            repo_root().join("profiles/qemu.toml").display()
        ),
    );
    assert_ne!(s, example);
    if let Some(t) = test {
        let at = s.find("\n[test]\n").expect("the example has [test]");
        s.truncate(at + 1);
        s.push_str("[test]\n");
        s.push_str(t);
    }
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(&p, s).unwrap();
    p
}

fn test(spec: &Path, extra: &[&str]) -> Output {
    kforge(spec.parent().unwrap())
        .arg("test")
        .arg(spec)
        .arg("--tree")
        .arg(tree_6_1())
        .args(extra)
        .output()
        .unwrap()
}

/// Builds (or finds) the example's entry once, and boots it with its own
/// `[test]`: the JUnit file, the row, the result and the console log.
fn example_passes() -> &'static (tempfile::TempDir, Output) {
    static RUN: OnceLock<(tempfile::TempDir, Output)> = OnceLock::new();
    RUN.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        let spec = variant(d.path(), "example", None);
        let junit = d.path().join("junit.xml");
        let o = test(&spec, &["--junit", junit.to_str().unwrap()]);
        (d, o)
    })
}

#[test]
fn the_example_boots_loads_dummy_and_unloads_it() {
    let (d, o) = example_passes();
    assert!(o.status.success(), "{}", text(o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let row = stdout.lines().nth(1).unwrap_or_default();
    // The guest's release is the build's (kforge test checks it).
    let entry = std::fs::read_link(d.path().join("result")).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(entry.join("manifest.json")).unwrap())
            .unwrap();
    let release = manifest["kernel_release"].as_str().unwrap();
    assert!(row.contains(&format!("  {release}  ")), "{stdout}");
    assert!(row.contains("1/1 loaded, 1 unloaded"), "{stdout}");
    assert!(
        row.contains("exit 0") && row.ends_with("passed"),
        "{stdout}"
    );
    // The run's console log and result.json, under the entry's name.
    let name = entry.file_name().unwrap().to_str().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    let log = stderr
        .lines()
        .find_map(|l| l.strip_prefix("kforge: console log: "))
        .expect("the console log's path");
    let dir = Path::new(log).parent().unwrap();
    assert_eq!(
        dir.parent().unwrap(),
        cache().join("kforge/tests").join(name),
        "{stderr}"
    );
    assert!(cache()
        .join("kforge/tests")
        .join(name)
        .join("latest")
        .exists());
    let console = std::fs::read_to_string(log).unwrap();
    assert!(console.contains(":loader:netdev:load:0"), "{console}");
    assert!(console.contains(": d0: <BROADCAST,NOARP,UP"), "{console}");
    assert!(console.contains(":loader:netdev:unload:0"), "{console}");
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("result.json")).unwrap()).unwrap();
    assert_eq!(result["passed"], true);
    assert_eq!(result["release"], release);
    let done = result["done_s"].as_f64().unwrap();
    eprintln!("QEMU start to the done marker: {done:.2}s");
    // JUnit: one passing case.
    let junit = std::fs::read_to_string(d.path().join("junit.xml")).unwrap();
    assert!(junit.contains("tests=\"1\" failures=\"0\""), "{junit}");
}

#[test]
fn a_script_that_exits_3_fails_with_the_console_tail() {
    example_passes();
    let d = tempfile::tempdir().unwrap();
    let spec = variant(
        d.path(),
        "exit3",
        Some("script = \"echo about to fail; exit 3\"\n"),
    );
    let junit = d.path().join("junit.xml");
    let o = test(&spec, &["--junit", junit.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("the test script exited 3"), "{out}");
    assert!(out.contains("  | about to fail"), "{out}");
    assert!(out.contains("console log: "), "{out}");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.lines().nth(1).unwrap().contains("exit 3"),
        "{stdout}"
    );
    let junit = std::fs::read_to_string(junit).unwrap();
    assert!(junit.contains("failures=\"1\""), "{junit}");
}

#[test]
fn a_kernel_without_init_panics_and_shows_the_panic() {
    example_passes();
    let d = tempfile::tempdir().unwrap();
    let spec = variant(
        d.path(),
        "noinit",
        Some("append = \"rdinit=/nonexistent init=/nonexistent\"\n"),
    );
    let o = test(&spec, &[]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("Kernel panic - not syncing"), "{out}");
    assert!(out.contains("/nonexistent"), "{out}");
}

#[test]
fn a_hanging_guest_is_killed_at_the_timeout() {
    example_passes();
    let d = tempfile::tempdir().unwrap();
    let spec = variant(
        d.path(),
        "hang",
        Some("script = \"echo hanging now; sleep 1000\"\ntimeout = 25\n"),
    );
    let t = std::time::Instant::now();
    let o = test(&spec, &[]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("25"), "{out}");
    assert!(
        out.contains("timed out") || out.contains("timeout"),
        "{out}"
    );
    assert!(out.contains("  | hanging now"), "{out}");
    assert!(t.elapsed().as_secs() < 120);
}

#[test]
fn a_missing_qemu_names_the_package_before_building() {
    let d = tempfile::tempdir().unwrap();
    let spec = variant(d.path(), "noqemu", None);
    let o = kforge(d.path())
        .env("PATH", d.path())
        .arg("test")
        .arg(&spec)
        .arg("--tree")
        .arg(tree_6_1())
        .output()
        .unwrap();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("qemu-system-x86_64 is not installed")
            && out.contains("apt-get install qemu-system-x86"),
        "{out}"
    );
    assert!(!d.path().join("result").exists());
}

#[test]
fn a_declaration_that_cannot_boot_is_warned_about() {
    // Without the profile: no serial console, no initramfs. `--dry-run`
    // checks the tools and the configuration and builds nothing.
    let d = tempfile::tempdir().unwrap();
    let spec = d.path().join("bare.toml");
    std::fs::write(
        &spec,
        "[source]\nversion = \"6.1\"\n\n[build]\narch = \"x86_64\"\nbase = \"tinyconfig\"\n\n\
         [config]\nMODULES = \"y\"\nNET = \"y\"\nNETDEVICES = \"y\"\nNET_CORE = \"y\"\n\n[modules.net]\nload = [\"dummy\"]\n",
    )
    .unwrap();
    let o = test(&spec, &["--dry-run"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    for (symbol, why) in [
        ("BLK_DEV_INITRD", "the initramfs that holds the test"),
        ("SERIAL_8250_CONSOLE", "the console on ttyS0"),
        ("MODULE_UNLOAD", "unloading them again"),
    ] {
        assert!(
            out.contains(&format!(
                "warning: {}: CONFIG_{symbol} is not set, but a boot test needs it for {why}",
                spec.display()
            )),
            "{symbol}: {out}"
        );
    }
    // The engine's reason follows each warning, and the dependencies
    // when they are what is missing.
    assert!(out.contains("\n  because: the base configuration"), "{out}");
    assert!(out.contains("\n  it depends on: "), "{out}");
    assert!(!out.contains("CONFIG_MODULES is not set"), "{out}");
    assert!(out.contains("store key: "), "{out}");
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("dry run"),
        "{out}"
    );
    assert!(!d.path().join("result").exists());
}

#[test]
fn an_architecture_without_a_runner_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let spec = d.path().join("riscv.toml");
    std::fs::write(
        &spec,
        "[source]\nversion = \"6.1\"\n\n[build]\narch = \"riscv\"\nbase = \"tinyconfig\"\n",
    )
    .unwrap();
    let o = test(&spec, &[]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("kforge test boots x86_64, arm64 and mips kernels, not riscv"),
        "{out}"
    );
    assert!(!d.path().join("result").exists());
}

/// MIPS boots on qemu-system-mips or -mipsel, with a busybox of the same
/// byte order, as the resolved configuration says: the malta example
/// (little-endian) asks for a mipsel busybox, and without
/// CPU_LITTLE_ENDIAN for a big-endian one. `--dry-run` with a stand-in
/// QEMU; the host's compiler stands in for the cross compiler (only the
/// configuration is resolved).
#[test]
fn a_mips_kernel_gets_the_runner_of_its_byte_order() {
    let d = tempfile::tempdir().unwrap();
    let example = std::fs::read_to_string(repo_root().join("examples/qemu-malta.toml")).unwrap();
    let profiles = repo_root().join("profiles");
    let s = example
        .replace("../profiles", &profiles.display().to_string())
        .replace("cross_compile = \"mips-linux-gnu-\"\n", "");
    assert!(!s.contains("cross_compile") && s.contains(&*profiles.to_string_lossy()));
    for (name, decl, guest) in [
        ("malta-el", s.clone(), "mipsel"),
        (
            "malta-eb",
            s.replace("CPU_LITTLE_ENDIAN = \"y\"\n", ""),
            "mips",
        ),
    ] {
        let spec = d.path().join(format!("{name}.toml"));
        std::fs::write(&spec, decl).unwrap();
        let o = kforge(d.path())
            .arg("test")
            .arg(&spec)
            .arg("--tree")
            .arg(oracle().join("6.12/src"))
            .args([
                "--dry-run",
                "--qemu",
                "/bin/true",
                "--busybox",
                "/bin/busybox",
            ])
            .output()
            .unwrap();
        let out = text(&o);
        assert_eq!(o.status.code(), Some(1), "{out}");
        assert!(
            out.contains(&format!(
                "/bin/busybox: an ELF executable for machine 62 (little endian), not for the {guest} guest"
            )),
            "{name}: {out}"
        );
    }
}

/// Copy the directory `from` into `to` (files and directories only).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// The C files kbuild compiled, from a build log's `  CC [M]  path` lines.
fn compiled(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("  CC")?;
            Some(rest.rsplit(' ').next()?.to_string())
        })
        .collect()
}

#[test]
fn external_modules_are_built_beside_the_kernel_booted_rebuilt_and_checked() {
    example_passes();
    // The external example, its repository modules copied so the test can
    // edit one; Debian's vpoll-dkms stays where the package put it.
    let d = tempfile::tempdir().unwrap();
    copy_dir(
        &repo_root().join("examples/modules"),
        &d.path().join("modules"),
    );
    let example =
        std::fs::read_to_string(repo_root().join("examples/qemu-x86_64-external.toml")).unwrap();
    assert!(
        Path::new("/usr/src/vpoll-0.1/Makefile").is_file(),
        "Debian's vpoll-dkms is not installed: run scripts/setup (apt-get install vpoll-dkms)"
    );
    let spec = d.path().join("ext.toml");
    std::fs::write(
        &spec,
        example.replace(
            "include = [\"../profiles/qemu.toml\"]",
            &format!(
                "include = [\"{}\"]",
                repo_root().join("profiles/qemu.toml").display()
            ),
        ),
    )
    .unwrap();

    // ---- built with the kernel, booted: loaded and unloaded
    let junit = d.path().join("junit.xml");
    let o = test(&spec, &["--junit", junit.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("1/1 loaded, 1 unloaded"), "{stdout}");
    let entry = std::fs::read_link(d.path().join("result")).unwrap();
    let m = kforge_pipeline::Manifest::read(&entry).unwrap();
    let release = m.kernel_release.clone();
    let names: Vec<(&str, Vec<String>)> = m
        .externals
        .iter()
        .map(|e| (e.name.as_str(), e.modules.clone()))
        .collect();
    let ko = |n: &str| format!("modules/lib/modules/{release}/extra/{n}/{n}.ko");
    assert_eq!(
        names,
        [
            ("hello", vec![ko("hello")]),
            ("greeter", vec![ko("greeter")]),
            ("vpoll", vec![ko("vpoll")]),
        ]
    );
    // kforge's depmod saw greeter's use of hello; dev/ exports hello's symbol.
    let moddir = entry.join("modules/lib/modules").join(&release);
    let dep = std::fs::read_to_string(moddir.join("modules.dep")).unwrap();
    assert!(
        dep.contains("extra/greeter/greeter.ko: extra/hello/hello.ko\n"),
        "{dep}"
    );
    let symvers = std::fs::read_to_string(entry.join("dev/Module.symvers")).unwrap();
    assert!(symvers.contains("\thello_greet\t"), "{symvers}");
    let stderr = String::from_utf8_lossy(&o.stderr);
    let log = stderr
        .lines()
        .find_map(|l| l.strip_prefix("kforge: console log: "))
        .expect("the console log's path");
    let console = std::fs::read_to_string(log).unwrap();
    for line in [
        "hello: greetings, greeter",
        "vpoll: loaded",
        ":loader:external:load:0",
        "vpoll: unloaded",
        "hello: unloaded",
        ":loader:external:unload:0",
    ] {
        assert!(console.contains(line), "{line}:\n{console}");
    }

    // ---- one line of a path module edited: only that module is compiled
    let source = d.path().join("modules/hello/hello.c");
    let original = std::fs::read_to_string(&source).unwrap();
    let edited = original.replace("hello: loaded\\n", "hello: loaded, edited\\n");
    assert_ne!(edited, original);
    std::fs::write(&source, &edited).unwrap();
    let build = |link: &str| {
        let o = kforge(d.path())
            .args(["build", "ext.toml", "--tree"])
            .arg(tree_6_1())
            .args(["--out-link", link])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        (o, std::fs::read_link(d.path().join(link)).unwrap())
    };
    let (_, edited_entry) = build("result-edited");
    assert_ne!(edited_entry, entry);
    let log = std::fs::read_to_string(edited_entry.join("build.log")).unwrap();
    let cc = compiled(&log);
    assert!(!cc.is_empty(), "nothing compiled:\n{log}");
    assert!(
        cc.iter().all(|f| f.contains("/.kforge-external/hello/")),
        "more than hello compiled: {cc:?}"
    );
    // ---- the edit undone: the first entry again, without building
    std::fs::write(&source, &original).unwrap();
    let (o, undone) = build("result-undone");
    assert_eq!(undone, entry, "{}", text(&o));
    assert!(text(&o).contains("up to date"), "{}", text(&o));

    // ---- a module that does not compile: its name, the compiler's error,
    // no entry
    let broken = d.path().join("modules/broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("Kbuild"), "obj-m := broken.o\n").unwrap();
    std::fs::write(
        broken.join("broken.c"),
        "int broken(void) { return undeclared_thing; }\n",
    )
    .unwrap();
    let with_broken = d.path().join("broken.toml");
    std::fs::write(
        &with_broken,
        std::fs::read_to_string(&spec).unwrap()
            + "\n[external.broken]\npath = \"modules/broken\"\n",
    )
    .unwrap();
    let o = kforge(d.path())
        .args([
            "build",
            "broken.toml",
            "--out-link",
            "result-broken",
            "--tree",
        ])
        .arg(tree_6_1())
        .output()
        .unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains("error: external module `broken`: the build failed"),
        "{t}"
    );
    assert!(
        t.contains("broken.c:1:") && t.contains("undeclared_thing"),
        "{t}"
    );
    assert!(t.contains("no store entry was made"), "{t}");
    assert!(!d.path().join("result-broken").exists());
    // ---- a loader naming a module nobody builds, caught at resolution
    std::fs::write(
        &with_broken,
        std::fs::read_to_string(&spec)
            .unwrap()
            .replace("load = [\"hello\", ", "load = [\"nosuch\", \"hello\", "),
    )
    .unwrap();
    let o = kforge(d.path())
        .args(["config", "broken.toml", "--tree"])
        .arg(tree_6_1())
        .output()
        .unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains("neither a Makefile of arch/x86 nor an [external] builds a module named nosuch"),
        "{t}"
    );

    // ---- the module loop: a module directory against the declared kernel
    let o = kforge(d.path())
        .args(["module", "build"])
        .arg(d.path().join("modules/hello"))
        .args(["--spec", "ext.toml", "--out-link", "result-loop", "--tree"])
        .arg(tree_6_1())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let built = d.path().join("modules/hello/hello.ko");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        std::fs::canonicalize(&built).unwrap().display().to_string()
    );
    let vermagic = depmod::Module::open(&built)
        .unwrap()
        .modinfo
        .vermagic()
        .unwrap();
    assert!(vermagic.starts_with(&format!("{release} ")), "{vermagic}");
    // Again after an edit: the result link names the entry, the module is
    // built against it while the entry is found.
    let hello_c = d.path().join("modules/hello/hello.c");
    let text_c = std::fs::read_to_string(&hello_c).unwrap();
    std::fs::write(&hello_c, text_c.replace("hello: unloaded", "hello: gone")).unwrap();
    let o = kforge(d.path())
        .args(["module", "build"])
        .arg(d.path().join("modules/hello"))
        .args(["--spec", "ext.toml", "--out-link", "result-loop", "--tree"])
        .arg(tree_6_1())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let ko = std::fs::read(&built).unwrap();
    assert!(
        ko.windows(11).any(|w| w == b"hello: gone"),
        "the edit is not in the module"
    );

    // ---- a module of another kernel (Debian's own 6.1 build) is refused
    // with both releases named.
    let other = kforge_testkit::modules_tree().join("kernel/drivers/net/dummy.ko");
    let fake = d.path().join("fake/lib/modules").join(&release);
    std::fs::create_dir_all(fake.join("extra/dummy")).unwrap();
    std::fs::copy(&other, fake.join("extra/dummy/dummy.ko")).unwrap();
    let e = kforge_pipeline::external::check_vermagic(&fake, &release).unwrap_err();
    let msg = kforge_diagnostics::errors::error(&e);
    let debian = kforge_testkit::debian_abi();
    assert!(
        msg.contains(&format!("built for {debian}, but the kernel is {release}")),
        "{msg}"
    );
}

#[test]
fn the_module_loop_boots_fresh_modules_and_fails_on_a_warning() {
    let (_, o) = example_passes();
    assert!(o.status.success(), "{}", text(o));
    let d = tempfile::tempdir().unwrap();
    copy_dir(
        &repo_root().join("examples/modules/hello"),
        &d.path().join("hello"),
    );
    let spec = variant(d.path(), "loop", None);

    // A module built against the example's entry, inserted with its
    // argument after the loaders, removed before the end.
    let o = test(
        &spec,
        &["--module", "hello", "--module-args", "hello:who=kforge"],
    );
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("2/2 loaded, 2 unloaded"),
        "{t}"
    );
    assert!(t.contains("kforge: module: "), "{t}");
    assert!(t.contains("hello: hello, kforge"), "{t}");
    assert!(d.path().join("hello/hello.ko").is_file());

    // A module that taints the kernel as a warning does (W; the example's
    // tinyconfig has no CONFIG_BUG, so WARN_ON itself is empty there): the
    // test fails and says so.
    let w = d.path().join("warner");
    std::fs::create_dir_all(&w).unwrap();
    std::fs::write(w.join("Kbuild"), "obj-m := warner.o\n").unwrap();
    std::fs::write(
        w.join("warner.c"),
        "#include <linux/module.h>\n#include <linux/panic.h>\n\
         static int __init warner_init(void) { add_taint(TAINT_WARN, LOCKDEP_STILL_OK); return 0; }\n\
         static void __exit warner_exit(void) {}\n\
         module_init(warner_init);\nmodule_exit(warner_exit);\nMODULE_LICENSE(\"Dual MIT/GPL\");\n",
    )
    .unwrap();
    let o = test(&spec, &["--module", "warner"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("the kernel is tainted"), "{t}");
    assert!(t.contains("more than an out-of-tree module"), "{t}");
    let row = String::from_utf8_lossy(&o.stdout)
        .lines()
        .nth(1)
        .unwrap_or_default()
        .to_string();
    assert!(row.ends_with("failed") || row.contains("module"), "{row}");
}
