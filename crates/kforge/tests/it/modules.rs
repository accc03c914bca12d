//! `kforge modules closure|loader`: closures against kmod's
//! `modprobe --show-depends` on Debian's 6.1 module tree, and the loader
//! scripts' logic with stubbed insmod/rmmod and a fake /proc/modules, run
//! by dash (`sh`) and busybox, checked by shellcheck.
//!
//! The tree is scripts/prepare-modules' (target/modules-oracle, or
//! $KFORGE_MODULES_ORACLE), hard-linked once into `closure/` and indexed
//! there by kmod's depmod.
//!
//! A second-tier test file: compiled with the `oracle-tests` feature only
//! (scripts/test); without its prerequisites it fails naming
//! scripts/prepare-modules or the kmod package.
#![cfg(feature = "oracle-tests")]

use crate::common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use depmod::closure::{Options, Tree};

/// The Debian kernel ABI of the module tree (scripts/debian-abi).
fn kver() -> &'static str {
    kforge_testkit::debian_abi()
}

use common::{modules_oracle as oracle_dir, repo_root};

/// A depmod'ed copy of the Debian tree: the basedir (holding lib/modules/KVER).
fn base() -> PathBuf {
    static READY: OnceLock<PathBuf> = OnceLock::new();
    READY
        .get_or_init(|| {
            let src = kforge_testkit::modules_tree();
            kforge_testkit::kmod_depmod();
            let base = oracle_dir().join("closure");
            if base
                .join("lib/modules")
                .join(kver())
                .join("modules.dep")
                .is_file()
            {
                return base;
            }
            // Build beside, then rename (other test binaries may race).
            let tmp = oracle_dir().join(format!("closure.tmp{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&tmp);
            std::fs::create_dir_all(tmp.join("lib/modules")).unwrap();
            let st = Command::new("cp")
                .arg("-al")
                .arg(&src)
                .arg(tmp.join("lib/modules"))
                .status()
                .unwrap();
            assert!(st.success());
            let st = Command::new(kforge_testkit::kmod_depmod())
                .arg("-b")
                .arg(&tmp)
                .arg(kver())
                .status()
                .unwrap();
            assert!(st.success());
            if std::fs::rename(&tmp, &base).is_err() {
                let _ = std::fs::remove_dir_all(&tmp);
            }
            base
        })
        .clone()
}

fn tree_dir() -> PathBuf {
    base().join("lib/modules").join(kver())
}

/// modprobe's closure: module names of its `insmod` lines, in order.
fn modprobe(target: &str) -> Vec<String> {
    let conf = tempfile::tempdir().unwrap(); // no host modprobe.d
    let out = Command::new("/usr/sbin/modprobe")
        .arg("-C")
        .arg(conf.path())
        .args(["--show-depends", "-d"])
        .arg(base())
        .args(["-S", kver(), target])
        .output()
        .expect("/usr/sbin/modprobe (kmod) is needed");
    assert!(out.status.success(), "modprobe {target}: {out:?}");
    let mut names = Vec::new();
    for l in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some(p) = l.strip_prefix("insmod ") {
            let n = depmod::name::path_to_name(p.trim().as_bytes()).unwrap();
            let n = String::from_utf8(n).unwrap();
            if !names.contains(&n) {
                names.push(n);
            }
        }
    }
    names
}

fn check_against_modprobe(target: &str) {
    let tree = Tree::open(tree_dir()).unwrap();
    let c = tree.closure(&[target], &Options::default()).unwrap();
    let ours: Vec<String> = c.modules.iter().map(|e| e.name.clone()).collect();
    let theirs = modprobe(target);
    let (mut a, mut b) = (ours.clone(), theirs.clone());
    a.sort();
    b.sort();
    assert_eq!(a, b, "{target}: ours {ours:?}, modprobe {theirs:?}");
    // A valid order: every dependency before its user; softdeps pre
    // before, post after (when both ends are in the closure).
    let pos: HashMap<&str, usize> = ours
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let softdep = std::fs::read_to_string(tree_dir().join("modules.softdep")).unwrap();
    for e in &c.modules {
        let i = pos[e.name.as_str()];
        for d in &e.depends {
            assert!(
                pos[d.as_str()] < i,
                "{target}: {d} after its user {}",
                e.name
            );
        }
        let line = softdep
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(&e.name));
        if let Some(l) = line {
            let sd = depmod::modinfo::parse_softdep(l.split_once(&e.name).unwrap().1);
            for (names, before) in [(&sd.pre, true), (&sd.post, false)] {
                for n in names {
                    if let Ok(Some(depmod::closure::Resolved::Modules(ms))) = tree.lookup(n) {
                        for m in ms {
                            if let Some(&j) = pos.get(m.as_str()) {
                                assert_eq!(j < i, before, "{target}: softdep {m} of {}", e.name);
                            }
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn closure_nf_tables() {
    check_against_modprobe("nf_tables");
}

#[test]
fn closure_btrfs() {
    check_against_modprobe("btrfs");
}

#[test]
fn closure_mlx5_ib() {
    check_against_modprobe("mlx5_ib");
}

#[test]
fn closure_snd_hda_intel_with_dashes() {
    check_against_modprobe("snd-hda-intel");
}

#[test]
fn closure_softdeps() {
    // ext4: pre crc32c; cifs and ksmbd: several softdep lines; r8169: pre
    // realtek; xt_LOG: nf_log_syslog; snd_sof_intel_hda.
    for t in [
        "ext4",
        "cifs",
        "ksmbd",
        "r8169",
        "xt_LOG",
        "snd_sof_intel_hda",
    ] {
        check_against_modprobe(t);
    }
}

#[test]
fn closure_aliases() {
    for t in ["fs-btrfs", "net-pf-16-proto-12", "crypto-crc32c"] {
        check_against_modprobe(t);
    }
}

#[test]
fn closure_unknown_and_builtin() {
    let tree = Tree::open(tree_dir()).unwrap();
    let e = tree
        .closure(&["no_such_module_x"], &Options::default())
        .unwrap_err();
    assert!(e.to_string().contains("'no_such_module_x'"), "{e}");
    let builtin = std::fs::read_to_string(tree_dir().join("modules.builtin")).unwrap();
    let first = builtin.lines().next().unwrap();
    let name = String::from_utf8(depmod::name::path_to_name(first.as_bytes()).unwrap()).unwrap();
    let c = tree.closure(&[&name], &Options::default()).unwrap();
    assert!(c.modules.is_empty());
    assert_eq!(c.builtin, vec![name]);
}

#[test]
fn closure_firmware() {
    let fw = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(fw.path().join("rtl_nic")).unwrap();
    std::fs::write(fw.path().join("rtl_nic/rtl8168d-1.fw"), b"fw").unwrap();
    let tree = Tree::open(tree_dir()).unwrap();
    let opts = Options {
        weak: false,
        firmware_dir: Some(fw.path().to_path_buf()),
    };
    let c = tree.closure(&["r8169"], &opts).unwrap();
    let found: Vec<_> = c.firmware.iter().filter(|f| f.found.is_some()).collect();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].module, "r8169");
    assert_eq!(found[0].file, "rtl_nic/rtl8168d-1.fw");
    assert_eq!(c.warnings.len(), c.firmware.len() - 1);
    assert!(c
        .warnings
        .iter()
        .any(|w| w.contains("r8169") && w.contains("rtl_nic/rtl8125b-2.fw")));
}

/// `kforge modules closure` with CONFIG_ targets: the modules a symbol
/// builds, from the 6.1 source tree's Makefiles (the Debian modules were
/// built from 6.1 too), against modprobe's closure of those modules.
#[test]
fn closure_of_kconfig_symbols() {
    let src = common::oracle().join("6.1/src");
    let run = |targets: &[&str], with_tree: bool| {
        let mut c = kforge();
        c.args(["modules", "closure", "--modules"])
            .arg(base())
            .args(["--version", kver()]);
        if with_tree {
            c.arg("--tree").arg(&src);
        }
        c.args(targets).output().unwrap()
    };
    let modules = |o: &Output| -> Vec<String> {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("module "))
            .map(|l| l.split_whitespace().next().unwrap().to_string())
            .collect()
    };
    for (symbol, module) in [
        ("CONFIG_NF_TABLES", "nf_tables"),
        ("CONFIG_BTRFS_FS", "btrfs"),
        ("CONFIG_DUMMY", "dummy"),
    ] {
        let mut ours = modules(&run(&[symbol], true));
        let mut theirs = modprobe(module);
        ours.sort();
        theirs.sort();
        assert_eq!(ours, theirs, "{symbol}");
    }
    // A symbol whose rule builds two modules (obj-$(CONFIG_TUN) += tun.o,
    // and the like) brings both; checked with what the Makefile says.
    let o = run(&["CONFIG_MLX5_INFINIBAND"], true);
    assert!(modules(&o).contains(&"mlx5_ib".to_string()));
    // Bad input.
    let o = run(&["CONFIG_DUMMY"], false);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("give --tree DIR"),
        "{o:?}"
    );
    let o = run(&["CONFIG_NO_SUCH_SYMBOL"], true);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no Makefile of")
            && String::from_utf8_lossy(&o.stderr).contains("CONFIG_NO_SUCH_SYMBOL"),
        "{o:?}"
    );
}

// ---- loaders ----

fn kforge() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kforge"))
}

fn make_loader(out: &Path, name: &str, targets: &[&str], extra: &[&str]) -> Output {
    let o = kforge()
        .args(["modules", "loader", "--modules"])
        .arg(base())
        .args(["--version", kver(), "-o"])
        .arg(out)
        .args(["--name", name])
        .args(extra)
        .args(targets)
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    o
}

/// The modules a loader loads, from its load.sh.
fn loader_modules(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("load.sh"))
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("load "))
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect()
}

const INSMOD: &str = r#"#!/bin/sh
echo "insmod $*" >>"$KFORGE_TEST_LOG"
n=$(basename "$1")
n=${n%%.ko*}
n=$(echo "$n" | tr - _)
if [ -n "${KFORGE_TEST_FAIL:-}" ] && [ "$n" = "$KFORGE_TEST_FAIL" ]; then
	echo "insmod: ERROR: could not insert module $1: Invalid parameters" >&2
	exit 1
fi
echo "$n 1000 0 - Live 0x0" >>"$KFORGE_PROC_MODULES"
"#;

/// Removes the module's line and takes it off its dependencies' users.
const RMMOD: &str = r#"#!/bin/sh
echo "rmmod $*" >>"$KFORGE_TEST_LOG"
p=$KFORGE_PROC_MODULES
awk -v m="$1" '$1 == m { next }
{
	n = split($4, u, ","); out = ""; dec = 0
	for (i = 1; i <= n; i++) { if (u[i] == m) dec = 1; else if (u[i] != "" && u[i] != "-") out = out u[i] "," }
	if (dec) { $3 = $3 - 1; if (out == "") out = "-"; $4 = out }
	print
}' "$p" >"$p.new" && mv "$p.new" "$p"
"#;

struct Root {
    dir: tempfile::TempDir,
    shell: Vec<String>,
    path: String,
}

impl Root {
    /// A temporary root with stubs; `busybox`: run everything with it.
    fn new(busybox: Option<&Path>) -> Root {
        let dir = tempfile::tempdir().unwrap();
        let stubs = dir.path().join("stubs");
        std::fs::create_dir_all(&stubs).unwrap();
        for (n, body) in [("insmod", INSMOD), ("rmmod", RMMOD)] {
            let p = stubs.join(n);
            std::fs::write(&p, body).unwrap();
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::write(dir.path().join("modules"), "").unwrap();
        let (shell, path) = match busybox {
            Some(bb) => {
                let bin = dir.path().join("bb");
                std::fs::create_dir_all(&bin).unwrap();
                for a in [
                    "sh", "awk", "grep", "cat", "mkdir", "dirname", "basename", "rm", "mv", "tr",
                    "echo", "printf",
                ] {
                    std::os::unix::fs::symlink(bb, bin.join(a)).unwrap();
                }
                (
                    vec![bb.display().to_string(), "sh".into()],
                    format!("{}:{}", stubs.display(), bin.display()),
                )
            }
            None => (
                vec!["sh".into()],
                format!("{}:/usr/bin:/bin", stubs.display()),
            ),
        };
        Root { dir, shell, path }
    }

    fn proc_modules(&self) -> PathBuf {
        self.dir.path().join("modules")
    }

    fn log(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn clear_log(&self) {
        let _ = std::fs::remove_file(self.dir.path().join("log"));
    }

    fn run(&self, script: &Path, fail: Option<&str>) -> Output {
        let mut c = Command::new(&self.shell[0]);
        c.args(&self.shell[1..])
            .arg(script)
            .env_clear()
            .env("PATH", &self.path)
            .env("KFORGE_PROC_MODULES", self.proc_modules())
            .env("KFORGE_RUN_DIR", self.dir.path().join("run"))
            .env("KFORGE_SYS_DIR", self.dir.path().join("sys"))
            .env("KFORGE_TEST_LOG", self.dir.path().join("log"))
            // busybox ash runs its own applets before PATH: name the stubs.
            .env("KFORGE_INSMOD", self.dir.path().join("stubs/insmod"))
            .env("KFORGE_RMMOD", self.dir.path().join("stubs/rmmod"));
        if let Some(f) = fail {
            c.env("KFORGE_TEST_FAIL", f);
        }
        c.output().unwrap()
    }
}

fn busybox() -> Option<PathBuf> {
    let local = repo_root().join("target/busybox/root/bin/busybox");
    if local.is_file() {
        return Some(local);
    }
    let o = Command::new("sh")
        .args(["-c", "command -v busybox"])
        .output()
        .ok()?;
    let p = String::from_utf8_lossy(&o.stdout).trim().to_string();
    (!p.is_empty()).then(|| PathBuf::from(p))
}

/// dash, then busybox (a second-tier test: busybox is required, not
/// skipped).
fn shells() -> Vec<Option<PathBuf>> {
    let b = busybox().expect("busybox not found: apt-get install busybox-static");
    vec![None, Some(b)]
}

fn loaders() -> &'static (tempfile::TempDir, PathBuf, PathBuf, PathBuf) {
    static L: OnceLock<(tempfile::TempDir, PathBuf, PathBuf, PathBuf)> = OnceLock::new();
    L.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        let nft = d.path().join("nft");
        let btrfs = d.path().join("btrfs");
        let dummy = d.path().join("dummy");
        make_loader(&nft, "nft", &["nf_tables"], &[]);
        make_loader(&btrfs, "btrfs", &["btrfs"], &["--decompress"]);
        make_loader(&dummy, "dummy", &["dummy"], &[]);
        (d, nft, btrfs, dummy)
    })
}

#[test]
fn loader_layout_and_modprobe_on_it() {
    let (_, nft, _, dummy) = loaders();
    let m = loader_modules(nft);
    assert_eq!(
        m,
        [
            "crc32c_intel",
            "crc32c_generic",
            "libcrc32c",
            "nfnetlink",
            "nf_tables"
        ]
    );
    assert_eq!(loader_modules(dummy), ["dummy"]);
    for f in [
        "load.sh",
        "unload.sh",
        "s6-rc/kforge-modules-nft/type",
        "s6-rc/kforge-modules-nft/up",
        "s6-rc/kforge-modules-nft/down",
        "systemd/kforge-modules-nft.service",
    ] {
        assert!(nft.join(f).is_file(), "{f}");
    }
    assert_eq!(
        std::fs::read_to_string(nft.join("s6-rc/kforge-modules-nft/type")).unwrap(),
        "oneshot\n"
    );
    // Only the closure's modules are shipped, and modprobe works on them.
    let o = Command::new("/usr/sbin/modprobe")
        .arg("-C")
        .arg(nft.join("nonexistent"))
        .args(["--show-depends", "-d"])
        .arg(nft)
        .args(["-S", kver(), "nf_tables"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 5);
    let count = Command::new("sh")
        .arg("-c")
        .arg(format!("find '{}' -name '*.ko*' | wc -l", nft.display()))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&count.stdout).trim(), "5");
}

#[test]
fn loader_decompressed_and_replaced() {
    let (_, _, btrfs, _) = loaders();
    let dep = std::fs::read_to_string(btrfs.join("lib/modules").join(kver()).join("modules.dep"))
        .unwrap();
    assert!(dep.contains("kernel/fs/btrfs/btrfs.ko:"), "{dep}");
    // Regenerating over an earlier loader works; over other data it refuses.
    let d = tempfile::tempdir().unwrap();
    make_loader(&d.path().join("x"), "x", &["dummy"], &[]);
    make_loader(&d.path().join("x"), "x", &["dummy"], &[]);
    std::fs::write(d.path().join("y"), "").unwrap();
    std::fs::create_dir_all(d.path().join("z")).unwrap();
    std::fs::write(d.path().join("z/keep"), "").unwrap();
    let o = kforge()
        .args(["modules", "loader", "--modules"])
        .arg(base())
        .args(["--version", kver(), "-o"])
        .arg(d.path().join("z"))
        .arg("dummy")
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a kforge loader"));
    // Unknown target: an error naming it.
    let o = kforge()
        .args(["modules", "closure", "--modules"])
        .arg(base())
        .args(["--version", kver(), "nf_tables", "no_such_thing"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("'no_such_thing'"));
}

#[test]
fn loader_scripts_logic() {
    let (_, nft, btrfs, _) = loaders();
    let nft_mods = loader_modules(nft);
    let btrfs_mods = loader_modules(btrfs);
    for sh in shells() {
        let who = sh
            .as_ref()
            .map_or("dash".to_string(), |p| p.display().to_string());
        // Load order, and the marker.
        let r = Root::new(sh.as_deref());
        let o = r.run(&nft.join("load.sh"), None);
        assert!(o.status.success(), "{who}: {o:?}");
        let want: Vec<String> = std::fs::read_to_string(nft.join("load.sh"))
            .unwrap()
            .lines()
            .filter_map(|l| l.strip_prefix("load "))
            .map(|l| {
                let rel = l.split_whitespace().nth(1).unwrap().trim_matches('\'');
                format!("insmod {}/lib/modules/{}/{rel}", nft.display(), kver())
            })
            .collect();
        assert_eq!(r.log(), want, "{who}");
        let marker = r.dir.path().join("run/loaders/nft");
        assert_eq!(
            std::fs::read_to_string(&marker).unwrap(),
            nft_mods.join("\n") + "\n"
        );
        // Loading again: everything is loaded already.
        r.clear_log();
        assert!(r.run(&nft.join("load.sh"), None).status.success());
        assert!(r.log().is_empty(), "{who}: {:?}", r.log());

        // Skip-if-loaded, and a failure stops with a clear message.
        let r = Root::new(sh.as_deref());
        std::fs::write(r.proc_modules(), "libcrc32c 16384 0 - Live 0x0\n").unwrap();
        let o = r.run(&nft.join("load.sh"), Some("nfnetlink"));
        assert_eq!(o.status.code(), Some(1), "{who}: {o:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("kforge loader nft: insmod ")
                && err.contains("nfnetlink.ko failed (module nfnetlink); stopping"),
            "{who}: {err}"
        );
        let log = r.log().join("\n");
        assert!(!log.contains("libcrc32c"), "{who}: {log}");
        assert!(
            log.contains("crc32c_generic") && !log.contains("nf_tables.ko"),
            "{who}"
        );

        // Refcount-aware unload: a module still in use stays, with what
        // it needs; the rest goes, in reverse order.
        let r = Root::new(sh.as_deref());
        let mut proc = String::new();
        for m in &nft_mods {
            let users: Vec<&str> = match m.as_str() {
                "libcrc32c" | "nfnetlink" => vec!["nf_tables"],
                _ => vec![],
            };
            let extra = usize::from(m == "nfnetlink"); // e.g. an open socket
            proc.push_str(&format!(
                "{m} 1000 {} {} Live 0x0\n",
                users.len() + extra,
                if users.is_empty() {
                    "-".to_string()
                } else {
                    users.join(",") + ","
                }
            ));
        }
        std::fs::write(r.proc_modules(), &proc).unwrap();
        let o = r.run(&nft.join("unload.sh"), None);
        assert!(o.status.success(), "{who}: {o:?}");
        assert_eq!(
            r.log(),
            [
                "rmmod nf_tables",
                "rmmod libcrc32c",
                "rmmod crc32c_generic",
                "rmmod crc32c_intel"
            ],
            "{who}"
        );
        assert!(String::from_utf8_lossy(&o.stderr).contains("keeping nfnetlink: in use"));
        assert_eq!(
            std::fs::read_to_string(r.proc_modules()).unwrap(),
            "nfnetlink 1000 1 - Live 0x0\n",
            "{who}"
        );

        // A module the kernel lists as [permanent] (an init function and no
        // exit function, like 6.12's bsg) is kept, without an error.
        let r = Root::new(sh.as_deref());
        let proc: String = nft_mods
            .iter()
            .map(|m| {
                let users = if m == "crc32c_generic" {
                    "[permanent],"
                } else {
                    "-"
                };
                format!("{m} 1000 0 {users} Live 0x0\n")
            })
            .collect();
        std::fs::write(r.proc_modules(), &proc).unwrap();
        let o = r.run(&nft.join("unload.sh"), None);
        assert!(o.status.success(), "{who}: {o:?}");
        assert!(
            !r.log().contains(&"rmmod crc32c_generic".to_string()),
            "{who}"
        );
        assert!(r.log().contains(&"rmmod crc32c_intel".to_string()), "{who}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("keeping crc32c_generic: permanent"),
            "{who}: {o:?}"
        );

        // Two loaders sharing modules: btrfs then nft; nft's unload leaves
        // what btrfs needs, btrfs's unload then removes it.
        let r = Root::new(sh.as_deref());
        assert!(r.run(&btrfs.join("load.sh"), None).status.success());
        assert!(r.run(&nft.join("load.sh"), None).status.success());
        let inserted = r.log().len();
        let shared: Vec<&String> = nft_mods.iter().filter(|m| btrfs_mods.contains(m)).collect();
        assert_eq!(inserted, btrfs_mods.len() + nft_mods.len() - shared.len());
        r.clear_log();
        let o = r.run(&nft.join("unload.sh"), None);
        assert!(o.status.success(), "{who}: {o:?}");
        assert_eq!(r.log(), ["rmmod nf_tables", "rmmod nfnetlink"], "{who}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("keeping libcrc32c: loader btrfs needs it"),
            "{err}"
        );
        r.clear_log();
        let o = r.run(&btrfs.join("unload.sh"), None);
        assert!(o.status.success(), "{who}: {o:?}");
        let mut rev = btrfs_mods.clone();
        rev.reverse();
        let want: Vec<String> = rev.iter().map(|m| format!("rmmod {m}")).collect();
        assert_eq!(r.log(), want, "{who}");
        assert_eq!(std::fs::read_to_string(r.proc_modules()).unwrap(), "");
        assert!(!r.dir.path().join("run/loaders/btrfs").exists());
    }
}

#[test]
fn loader_scripts_shellcheck() {
    let (_, nft, _, _) = loaders();
    let ok = Command::new("shellcheck").arg("--version").output();
    assert!(
        ok.is_ok_and(|o| o.status.success()),
        "shellcheck not installed: apt-get install shellcheck"
    );
    let o = Command::new("shellcheck")
        .args(["-s", "sh"])
        .arg(nft.join("load.sh"))
        .arg(nft.join("unload.sh"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
}
