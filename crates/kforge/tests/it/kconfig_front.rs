//! `kforge kconfig`, the make-free front, checked against the kernel's own
//! make and C `conf`, as captured by `scripts/prepare-oracle`:
//!
//! * the environment it derives agrees with what `make ARCH=<arch>
//!   olddefconfig` exported to conf (`<oracle>/<ver>/env/<arch>.env`) on
//!   every variable it derives and the capture has, for every captured
//!   architecture of 6.1 and 6.12;
//! * a configuration it writes is byte-identical to the C conf's, run with
//!   the captured environment;
//! * bad input gives exit code 1 and a message naming the culprit and the
//!   remedy.
//!
//! The tests that need the oracle (`$KFORGE_ORACLE` or
//! `<repo>/target/oracle`) are the second tier: compiled with the
//! `oracle-tests` feature only (scripts/test); without the oracle they fail
//! and say to run scripts/prepare-oracle. The error and derivation tests on
//! fake trees are hermetic.

use std::collections::BTreeMap;
#[cfg(feature = "oracle-tests")]
use std::collections::BTreeSet;
use std::path::Path;
#[cfg(feature = "oracle-tests")]
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

type Env = BTreeMap<String, String>;

/// Variables every derived environment must have, and must agree on with
/// make wherever the capture has them.
#[cfg(feature = "oracle-tests")]
const REQUIRED: &[&str] = &[
    "srctree",
    "ARCH",
    "SRCARCH",
    "KERNELVERSION",
    "CC",
    "LD",
    "CC_VERSION_TEXT",
    "HOSTCC",
    "HOSTCXX",
    "RUSTC",
    "BINDGEN",
    "AR",
    "NM",
    "OBJCOPY",
    "PAHOLE",
    "PYTHON3",
    "CROSS_COMPILE",
    "KBUILD_DEFCONFIG",
];

/// Architectures whose capture must exist (the rest are checked when there).
#[cfg(feature = "oracle-tests")]
const MUST_HAVE: &[&str] = &[
    "x86_64", "i386", "arm64", "arm", "riscv", "mips", "powerpc", "s390", "um",
];

/// The prepared oracle of Linux `ver` (kforge-testkit).
#[cfg(feature = "oracle-tests")]
fn oracle_dir(ver: &str) -> PathBuf {
    kforge_testkit::oracle().join(ver)
}

fn kforge() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kforge"))
}

#[cfg(feature = "oracle-tests")]
fn read_env(path: &Path) -> Env {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Run kforge with exactly `env` (as the captures ran make under
/// `env -i PATH=... HOME=...`).
fn run_kforge(args: &[&str], env: &[(&str, &str)], cwd: &Path) -> Output {
    Command::new(kforge())
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .expect("cannot run kforge")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The variables the tree's Kconfig files read with `$(NAME)` (all names,
/// including Kconfig's own macros; callers intersect with the capture).
#[cfg(feature = "oracle-tests")]
fn kconfig_references(src: &Path) -> BTreeSet<String> {
    fn walk(dir: &Path, out: &mut BTreeSet<String>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                walk(&p, out);
            } else if ft.is_file() && e.file_name().to_string_lossy().starts_with("Kconfig") {
                let t =
                    String::from_utf8_lossy(&std::fs::read(&p).unwrap_or_default()).into_owned();
                let mut rest = t.as_str();
                while let Some(i) = rest.find("$(") {
                    rest = &rest[i + 2..];
                    let n: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if !n.is_empty() && rest[n.len()..].starts_with(')') {
                        out.insert(n);
                    }
                }
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(src, &mut out);
    out
}

#[cfg(feature = "oracle-tests")]
fn uname_r() -> String {
    let o = Command::new("uname").arg("-r").output().expect("uname -r");
    text(&o.stdout).trim().to_string()
}

/// Derived vs captured environment for every captured architecture of `ver`.
#[cfg(feature = "oracle-tests")]
fn check_env(ver: &str) {
    let dir = oracle_dir(ver);
    let src = dir.join("src");
    let src_s = src.to_str().unwrap();
    let refs = kconfig_references(&src);
    let objdir = tempfile::tempdir().unwrap();
    let objdir_s = objdir.path().to_str().unwrap();
    let host_release = uname_r();
    let mut names: Vec<String> = std::fs::read_dir(dir.join("env"))
        .unwrap()
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix(".env")
                .map(str::to_string)
        })
        .collect();
    names.sort();
    for m in MUST_HAVE {
        assert!(
            names.iter().any(|n| n == m),
            "no capture {}/env/{m}.env: re-run scripts/prepare-oracle (see {}/env/FAILED)",
            dir.display(),
            dir.display()
        );
    }
    let mut report = Vec::new();
    let mut compared = 0;
    for name in &names {
        let cap = read_env(&dir.join("env").join(format!("{name}.env")));
        let mut args = vec![
            "kconfig",
            "--tree",
            src_s,
            "--objdir",
            objdir_s,
            "--print-env",
            "--arch",
            &cap["ARCH"],
        ];
        if let Some(s) = cap.get("SUBARCH") {
            args.extend(["--subarch", s]);
        }
        let env = [
            ("PATH", cap["PATH"].as_str()),
            ("HOME", cap["HOME"].as_str()),
        ];
        let out = run_kforge(&args, &env, objdir.path());
        if !out.status.success() {
            report.push(format!(
                "[{ver} {name}] kforge {args:?} failed: {}",
                text(&out.stderr)
            ));
            continue;
        }
        let derived: Env = text(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        for r in REQUIRED {
            if !derived.contains_key(*r) {
                report.push(format!("[{ver} {name}] {r} not derived"));
            }
        }
        // Everything the Kconfig files can read from the environment that
        // make exported must be derived too.
        for r in refs.iter().filter(|r| cap.contains_key(*r)) {
            if !derived.contains_key(r) {
                report.push(format!(
                    "[{ver} {name}] {r} is read by Kconfig and exported by make, but not derived"
                ));
            }
        }
        for (k, v) in &derived {
            let Some(want) = cap.get(k) else { continue };
            let want = if k == "KCONFIG_DEFCONFIG_LIST" {
                // /lib/modules/<release>/.config ...: the capture may predate
                // a kernel upgrade of this host.
                let captured_release = want
                    .strip_prefix("/lib/modules/")
                    .and_then(|s| s.split('/').next())
                    .unwrap_or("");
                if captured_release.is_empty() {
                    want.clone()
                } else {
                    want.replace(captured_release, &host_release)
                }
            } else {
                want.clone()
            };
            compared += 1;
            if *v != want {
                report.push(format!(
                    "[{ver} {name}] {k}:\n    derived:  {v:?}\n    make had: {want:?}"
                ));
            }
        }
    }
    assert!(
        report.is_empty(),
        "{} problem(s) over {} captures ({compared} values compared):\n{}",
        report.len(),
        names.len(),
        report.join("\n")
    );
    eprintln!("{ver}: {} captures, {compared} values agree", names.len());
}

#[cfg(feature = "oracle-tests")]
#[test]
fn env_matches_make_6_1() {
    check_env("6.1");
}

#[cfg(feature = "oracle-tests")]
#[test]
fn env_matches_make_6_12() {
    check_env("6.12");
}

/// First differing line of two files, for the failure message.
#[cfg(feature = "oracle-tests")]
fn first_difference(a: &[u8], b: &[u8]) -> String {
    let (a, b) = (text(a), text(b));
    for (i, (x, y)) in a.lines().zip(b.lines()).enumerate() {
        if x != y {
            return format!("line {}: C conf {x:?}, kforge {y:?}", i + 1);
        }
    }
    format!(
        "one is a prefix of the other ({} vs {} lines)",
        a.lines().count(),
        b.lines().count()
    )
}

/// `kforge kconfig --arch <capture's ARCH> TARGET` in one scratch objdir vs
/// the C conf with the captured environment and `conf_args` in another;
/// `cached`: through the probe cache, else with `--no-probe-cache`.
#[cfg(feature = "oracle-tests")]
fn compare_with_c_conf(ver: &str, capture: &str, target: &str, conf_args: &[&str], cached: bool) {
    let dir = oracle_dir(ver);
    let cap = read_env(&dir.join("env").join(format!("{capture}.env")));
    let tmp = tempfile::Builder::new()
        .prefix(&format!("kforge-front-{ver}-{capture}-{target}-"))
        .tempdir()
        .unwrap();
    // kforge's side runs in a fixed directory with a probe cache kept between
    // runs (entries are keyed by the working directory, the environment and
    // the tools' identity, so they cannot go stale): after the first run it
    // takes a fraction of a second.
    let keep = Path::new(env!("CARGO_TARGET_TMPDIR")).join("kconfig-front");
    let cache = keep.join("cache");
    let k_dir = keep.join(format!("{ver}-{capture}-{target}"));
    let _ = std::fs::remove_dir_all(&k_dir);
    let c_dir = tmp.path().join("c");
    std::fs::create_dir_all(&c_dir).unwrap();

    let c = Command::new(dir.join("conf"))
        .args(conf_args)
        .arg("Kconfig")
        .env_clear()
        .envs(&cap)
        .env("KCONFIG_CONFIG", ".config")
        .current_dir(&c_dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        c.status.success(),
        "C conf {conf_args:?} failed: {}",
        text(&c.stderr)
    );

    let src = dir.join("src");
    let mut args = vec![
        "kconfig",
        "--tree",
        src.to_str().unwrap(),
        "--arch",
        &cap["ARCH"],
        "--objdir",
        k_dir.to_str().unwrap(),
    ];
    if !cached {
        args.push("--no-probe-cache");
    }
    args.push(target);
    let env = [
        ("PATH", cap["PATH"].as_str()),
        ("HOME", cap["HOME"].as_str()),
        ("XDG_CACHE_HOME", cache.to_str().unwrap()),
    ];
    let k = run_kforge(&args, &env, tmp.path());
    assert!(
        k.status.success(),
        "kforge {args:?} failed ({}): {}",
        k.status,
        text(&k.stderr)
    );
    assert_eq!(
        text(&k.stderr),
        text(&c.stderr),
        "stderr differs between kforge and C conf"
    );
    let (cc, kc) = (
        std::fs::read(c_dir.join(".config")).expect("C conf wrote no .config"),
        std::fs::read(k_dir.join(".config")).expect("kforge wrote no .config"),
    );
    assert!(
        cc == kc,
        "[{ver} {capture} {target}] .config differs: {}",
        first_difference(&cc, &kc)
    );
}

#[cfg(feature = "oracle-tests")]
#[test]
fn defconfig_x86_64_6_12() {
    compare_with_c_conf(
        "6.12",
        "x86_64",
        "defconfig",
        &["--defconfig=arch/x86/configs/x86_64_defconfig"],
        true,
    );
}

#[cfg(feature = "oracle-tests")]
#[test]
fn defconfig_x86_64_6_1() {
    compare_with_c_conf(
        "6.1",
        "x86_64",
        "defconfig",
        &["--defconfig=arch/x86/configs/x86_64_defconfig"],
        false,
    );
}

#[cfg(feature = "oracle-tests")]
#[test]
fn defconfig_arm64_6_12() {
    compare_with_c_conf(
        "6.12",
        "arm64",
        "defconfig",
        &["--defconfig=arch/arm64/configs/defconfig"],
        true,
    );
}

#[cfg(feature = "oracle-tests")]
#[test]
fn named_defconfig_arm_6_12() {
    compare_with_c_conf(
        "6.12",
        "arm",
        "vexpress_defconfig",
        &["--defconfig=arch/arm/configs/vexpress_defconfig"],
        true,
    );
}

/// No .config: conf starts from KCONFIG_DEFCONFIG_LIST.
#[cfg(feature = "oracle-tests")]
#[test]
fn olddefconfig_from_scratch_i386_6_12() {
    compare_with_c_conf("6.12", "i386", "olddefconfig", &["--olddefconfig"], true);
}

/// `make ARCH=<arch> TARGET` in an object directory made from the oracle's
/// (its `conf` already built, so make only runs it) vs `kforge kconfig`
/// in another: the same `.config`; kforge's output.
#[cfg(feature = "oracle-tests")]
fn compare_with_make(ver: &str, arch: &str, target: &str) -> String {
    let dir = oracle_dir(ver);
    let src = dir.join("src");
    let tmp = tempfile::tempdir().unwrap();
    let (m_dir, k_dir) = (tmp.path().join("make"), tmp.path().join("kforge"));
    let cp = Command::new("cp")
        .arg("-a")
        .arg(dir.join("obj-conf"))
        .arg(&m_dir)
        .status()
        .unwrap();
    assert!(
        cp.success(),
        "cp -a {}/obj-conf: run scripts/prepare-oracle",
        dir.display()
    );
    let path = std::env::var("PATH").unwrap_or_default();
    let home = std::env::var("HOME").unwrap_or_default();
    let m = Command::new("make")
        .args(["-s", "-C", src.to_str().unwrap()])
        .arg(format!("O={}", m_dir.display()))
        .arg(format!("ARCH={arch}"))
        .arg(target)
        .env_clear()
        .env("PATH", &path)
        .env("HOME", &home)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(m.status.success(), "make {target}: {}", text(&m.stderr));
    let args = [
        "kconfig",
        "--tree",
        src.to_str().unwrap(),
        "--arch",
        arch,
        "--objdir",
        k_dir.to_str().unwrap(),
        target,
    ];
    let k = run_kforge(&args, &[("PATH", &path), ("HOME", &home)], tmp.path());
    assert!(k.status.success(), "kforge {args:?}: {}", text(&k.stderr));
    let (mc, kc) = (
        std::fs::read(m_dir.join(".config")).expect("make wrote no .config"),
        std::fs::read(k_dir.join(".config")).expect("kforge wrote no .config"),
    );
    assert!(
        mc == kc,
        "[{ver} {arch} {target}] .config differs from make's: {}",
        first_difference(&mc, &kc)
    );
    text(&k.stdout)
}

/// powerpc's default configuration on another host is `ppc64le_defconfig`,
/// which arch/powerpc/Makefile generates (ppc64_defconfig + le.config,
/// olddefconfig): `kforge kconfig defconfig` writes what make writes.
#[cfg(feature = "oracle-tests")]
#[test]
fn generated_defconfig_powerpc_6_12() {
    let out = compare_with_make("6.12", "powerpc", "defconfig");
    assert!(
        out.contains("*** Default configuration is based on target 'ppc64le_defconfig'"),
        "{out}"
    );
    assert!(out.contains("/arch/powerpc/configs/le.config\n"), "{out}");
}

/// A generated target named on its own, with two fragments merged.
#[cfg(feature = "oracle-tests")]
#[test]
fn named_generated_defconfig_powerpc_6_1() {
    let out = compare_with_make("6.1", "powerpc", "ppc64le_guest_defconfig");
    assert!(
        out.contains("/arch/powerpc/configs/guest.config\n"),
        "{out}"
    );
}

// ---------------------------------------------------------------- errors ---

/// A minimal tree: a top Makefile and arch/x86 (enough to derive an
/// environment; no Kconfig).
fn fake_tree(dir: &Path) {
    std::fs::create_dir_all(dir.join("arch/x86")).unwrap();
    std::fs::write(
        dir.join("Makefile"),
        "# SPDX-License-Identifier: GPL-2.0\nVERSION = 6\nPATCHLEVEL = 13\nSUBLEVEL = 0\n\
         EXTRAVERSION = -rc3\nNAME = Test\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("arch/x86/Makefile"),
        "ifeq ($(ARCH),x86)\n  KBUILD_DEFCONFIG := x86_64_defconfig\nelse\n  KBUILD_DEFCONFIG := $(ARCH)_defconfig\nendif\n",
    )
    .unwrap();
}

fn path_env() -> String {
    std::env::var("PATH").unwrap_or_default()
}

/// Exit code 1, no panic, and every `needles` in the message.
fn assert_error(out: &Output, needles: &[&str]) {
    let err = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "expected exit 1, got {}; stderr:\n{err}",
        out.status
    );
    assert!(!err.contains("panicked"), "kforge panicked:\n{err}");
    assert!(
        err.starts_with("kforge kconfig: error: "),
        "unexpected message:\n{err}"
    );
    for n in needles {
        assert!(err.contains(n), "message lacks {n:?}:\n{err}");
    }
}

#[test]
fn error_tree_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("no-such-linux");
    let path = path_env();
    let out = run_kforge(
        &[
            "kconfig",
            "--tree",
            tree.to_str().unwrap(),
            "--arch",
            "x86_64",
            "defconfig",
        ],
        &[("PATH", &path)],
        tmp.path(),
    );
    assert_error(&out, &[tree.to_str().unwrap(), "does not exist", "--tree"]);
}

#[test]
fn error_tree_without_makefile() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("linux");
    std::fs::create_dir_all(tree.join("arch/x86")).unwrap();
    let path = path_env();
    let out = run_kforge(
        &[
            "kconfig",
            "--tree",
            tree.to_str().unwrap(),
            "--arch",
            "x86_64",
            "-O",
            tmp.path().join("obj").to_str().unwrap(),
            "olddefconfig",
        ],
        &[("PATH", &path)],
        tmp.path(),
    );
    let makefile = tree.join("Makefile");
    assert_error(
        &out,
        &[
            makefile.to_str().unwrap(),
            "not found",
            "--tree",
            "Makefile",
        ],
    );
    assert!(!tmp.path().join("obj/.config").exists());
}

#[test]
fn error_unknown_arch() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("linux");
    fake_tree(&tree);
    let path = path_env();
    let out = run_kforge(
        &[
            "kconfig",
            "--tree",
            tree.to_str().unwrap(),
            "--arch",
            "vax",
            "-O",
            tmp.path().join("obj").to_str().unwrap(),
            "defconfig",
        ],
        &[("PATH", &path)],
        tmp.path(),
    );
    assert_error(&out, &["'vax'", "arch/vax", "--arch", "x86 x86_64", "i386"]);
    // A path is not an architecture.
    let out = run_kforge(
        &[
            "kconfig",
            "--tree",
            tree.to_str().unwrap(),
            "--arch",
            "../..",
            "--print-env",
        ],
        &[("PATH", &path)],
        tmp.path(),
    );
    assert_error(&out, &["'../..'", "--arch"]);
}

#[test]
fn error_compiler_not_found() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("linux");
    fake_tree(&tree);
    let path = path_env();
    let out = run_kforge(
        &[
            "kconfig",
            "--tree",
            tree.to_str().unwrap(),
            "--arch",
            "x86_64",
            "--cross-compile",
            "nonexistent-linux-gnu-",
            "-O",
            tmp.path().join("obj").to_str().unwrap(),
            "defconfig",
        ],
        &[("PATH", &path)],
        tmp.path(),
    );
    assert_error(
        &out,
        &["'nonexistent-linux-gnu-gcc'", "PATH", "--cross-compile"],
    );
}

#[test]
fn error_defconfig_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("linux");
    fake_tree(&tree);
    let path = path_env();
    let out = run_kforge(
        &[
            "kconfig",
            "--tree",
            tree.to_str().unwrap(),
            "--arch",
            "x86_64",
            "-O",
            tmp.path().join("obj").to_str().unwrap(),
            "defconfig",
        ],
        &[("PATH", &path)],
        tmp.path(),
    );
    assert_error(
        &out,
        &["arch/x86/configs/x86_64_defconfig", "--defconfig-file"],
    );
}

/// Like make, refuse an out-of-tree objdir when the tree has a .config
/// (conf would fall back to reading it).
#[test]
fn error_source_tree_not_clean() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("linux");
    fake_tree(&tree);
    std::fs::write(tree.join(".config"), "CONFIG_X=y\n").unwrap();
    let path = path_env();
    let out = run_kforge(
        &[
            "kconfig",
            "--tree",
            tree.to_str().unwrap(),
            "--arch",
            "x86_64",
            "-O",
            tmp.path().join("obj").to_str().unwrap(),
            "olddefconfig",
        ],
        &[("PATH", &path)],
        tmp.path(),
    );
    assert_error(&out, &[".config", "not clean", "mrproper"]);
}

// ------------------------------------------------ derivation, no oracle ---

fn print_env(tree: &Path, cwd: &Path, extra: &[&str], env: &[(&str, &str)]) -> Env {
    let mut args = vec!["kconfig", "--tree", tree.to_str().unwrap(), "--print-env"];
    args.extend(extra);
    let out = run_kforge(&args, env, cwd);
    assert!(
        out.status.success(),
        "kforge {args:?} failed: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// srctree is `.` in the tree, `..` in a direct subdirectory, absolute
/// elsewhere; KERNELVERSION carries EXTRAVERSION; ARCH defaults to $ARCH.
#[test]
fn srctree_and_version_like_make() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("linux");
    fake_tree(&tree);
    std::fs::create_dir_all(tree.join("build")).unwrap();
    let path = path_env();
    let env = [("PATH", path.as_str()), ("ARCH", "i386")];
    let abs = tree.canonicalize().unwrap();

    let e = print_env(&tree, &tree, &[], &env);
    assert_eq!(e["srctree"], ".");
    assert_eq!(e["building_out_of_srctree"], "");
    assert_eq!(e["KERNELVERSION"], "6.13.0-rc3");
    assert_eq!(e["ARCH"], "i386");
    assert_eq!(e["SRCARCH"], "x86");
    assert_eq!(e["KBUILD_DEFCONFIG"], "i386_defconfig");

    let e = print_env(&tree, tmp.path(), &["-O", "linux/build"], &env);
    assert_eq!(e["srctree"], "..");

    let e = print_env(&tree, tmp.path(), &["-O", "obj", "--arch", "x86_64"], &env);
    assert_eq!(e["srctree"], abs.to_str().unwrap());
    assert_eq!(e["VPATH"], abs.to_str().unwrap());
    assert_eq!(e["ARCH"], "x86_64");
    assert_eq!(e["KBUILD_DEFCONFIG"], "x86_64_defconfig");
}

/// `--llvm=-17`: clang-17 & co., and CLANG_FLAGS from scripts/Makefile.clang
/// (6.12 takes --target from its table, 6.1 from CROSS_COMPILE). Uses a fake
/// clang that only answers --version.
#[cfg(feature = "oracle-tests")]
#[test]
fn llvm_toolchain_and_clang_flags() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let clang = bin.join("clang-17");
    std::fs::write(
        &clang,
        "#!/bin/sh\necho 'Debian clang version 17.0.6 (5)'\necho 'Target: x86_64-pc-linux-gnu'\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&clang, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), path_env());
    let env = [("PATH", path.as_str())];
    let obj = tmp.path().join("obj");
    let obj_s = obj.to_str().unwrap();

    let e = print_env(
        &oracle_dir("6.12").join("src"),
        tmp.path(),
        &["-O", obj_s, "--arch", "arm64", "--llvm=-17"],
        &env,
    );
    assert_eq!(e["LLVM"], "-17");
    assert_eq!(e["CC"], "clang-17");
    assert_eq!(e["LD"], "ld.lld-17");
    assert_eq!(e["NM"], "llvm-nm-17");
    assert_eq!(e["HOSTCC"], "clang-17");
    assert_eq!(e["HOSTCXX"], "clang++-17");
    assert_eq!(e["CC_VERSION_TEXT"], "Debian clang version 17.0.6 (5)");
    assert_eq!(
        e["CLANG_FLAGS"],
        "--target=aarch64-linux-gnu -fintegrated-as -Werror=unknown-warning-option \
         -Werror=ignored-optimization-argument -Werror=option-ignored \
         -Werror=unused-command-line-argument"
    );

    let e = print_env(
        &oracle_dir("6.1").join("src"),
        tmp.path(),
        &[
            "-O",
            obj_s,
            "--arch",
            "arm64",
            "--llvm=-17",
            "--cross-compile",
            "/opt/cross/bin/aarch64-none-linux-gnu-",
        ],
        &env,
    );
    assert_eq!(e["CC"], "clang-17");
    assert_eq!(e["CROSS_COMPILE"], "/opt/cross/bin/aarch64-none-linux-gnu-");
    assert_eq!(
        e["CLANG_FLAGS"],
        "--target=aarch64-none-linux-gnu -fintegrated-as -Werror=unknown-warning-option \
         -Werror=ignored-optimization-argument"
    );
}
