//! `kforge menuconfig` as a person uses it: in a real terminal (tmux), on a
//! copy of the shipped QEMU example against the 6.1 tree unpacked by
//! scripts/prepare-oracle, with keys sent and the screen read back.
//!
//! A second-tier test file: compiled with the `oracle-tests` feature only
//! (scripts/test); without its prerequisites it fails naming
//! scripts/prepare-oracle (tmux is needed too).
#![cfg(feature = "oracle-tests")]

use kforge_testkit::repo_root;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The 6.1 tree of the prepared oracle (kforge-testkit).
fn tree_6_1() -> PathBuf {
    kforge_testkit::oracle_tree("6.1")
}

/// A tmux server of our own (its own socket), killed when dropped.
struct Tmux {
    socket: String,
    dir: tempfile::TempDir,
}

impl Tmux {
    /// Start `kforge menuconfig ARGS` in a `w`x`h` terminal, in a temporary
    /// directory holding the example as kernel.toml.
    fn start(name: &str, w: u16, h: u16, extra: &str, setup: impl FnOnce(&Path)) -> Tmux {
        let args = format!(
            "menuconfig kernel.toml --tree {} {extra}",
            tree_6_1().display()
        );
        Tmux::start_kforge(name, w, h, &args, setup)
    }

    /// Start `kforge ARGS` as [`Tmux::start`] does.
    fn start_kforge(name: &str, w: u16, h: u16, args: &str, setup: impl FnOnce(&Path)) -> Tmux {
        assert!(
            Command::new("tmux").arg("-V").output().is_ok(),
            "tmux is needed (apt-get install tmux; it is in scripts/packages)"
        );
        let dir = tempfile::tempdir().unwrap();
        let example = std::fs::read_to_string(repo_root().join("examples/qemu-x86_64.toml"))
            .unwrap()
            .replace(
                "include = [\"../profiles/qemu.toml\"]",
                &format!(
                    "include = [\"{}\"]",
                    repo_root()
                        .join("profiles/qemu.toml")
                        .canonicalize()
                        .unwrap()
                        .display()
                ),
            );
        std::fs::write(dir.path().join("kernel.toml"), &example).unwrap();
        setup(dir.path());
        let socket = format!("kforge-menuconfig-{name}-{}", std::process::id());
        // A cache of probe results that survives test runs.
        let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("menuconfig-cache");
        let cmd = format!(
            "XDG_CACHE_HOME={} {} {args}; echo KFORGE-EXIT=$?; sleep 600",
            cache.display(),
            env!("CARGO_BIN_EXE_kforge"),
        );
        let st = Command::new("tmux")
            .args(["-L", &socket, "-f", "/dev/null", "new-session", "-d"])
            .args(["-x", &w.to_string(), "-y", &h.to_string()])
            .arg("-c")
            .arg(dir.path())
            .arg(cmd)
            .status()
            .unwrap();
        assert!(st.success());
        Tmux { socket, dir }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("kernel.toml")
    }

    fn screen(&self) -> String {
        let o = Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Send keys (tmux key names: Enter, Escape, Down, ...).
    fn keys(&self, keys: &[&str]) {
        let st = Command::new("tmux")
            .args(["-L", &self.socket, "send-keys"])
            .args(keys)
            .status()
            .unwrap();
        assert!(st.success());
    }

    /// Type text literally.
    fn type_text(&self, text: &str) {
        let st = Command::new("tmux")
            .args(["-L", &self.socket, "send-keys", "-l", text])
            .status()
            .unwrap();
        assert!(st.success());
    }

    /// Poll the screen until it shows `needle`; the screen then.
    fn wait_for(&self, needle: &str, timeout: Duration) -> String {
        let t = Instant::now();
        loop {
            let s = self.screen();
            if s.contains(needle) {
                return s;
            }
            if t.elapsed() > timeout {
                panic!("{needle:?} did not appear within {timeout:?}; the screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

/// Resolving the tree (and running its probes the first time) takes a while.
const START: Duration = Duration::from_secs(180);
const STEP: Duration = Duration::from_secs(30);

#[test]
fn search_set_explain_save_quit() {
    let t = Tmux::start("main", 120, 40, "", |_| {});
    let original = std::fs::read_to_string(t.path()).unwrap();
    t.wait_for("Kernel Configuration", START);
    // Search DUMMY, jump to it: it is declared (D) as a module.
    t.keys(&["/"]);
    t.type_text("DUMMY");
    t.wait_for("DUMMY  Dummy net driver support", STEP);
    t.keys(&["Enter"]);
    let s = t.wait_for("DUMMY = m: requested \"m\" at kernel.toml:26:1", STEP);
    assert!(s.contains("Network device support"), "{s}");
    assert!(
        s.contains(" D <M>     Dummy net driver support (DUMMY)"),
        "{s}"
    );
    t.keys(&["y"]);
    let s = t.wait_for("DUMMY = y: changed here, not saved yet", STEP);
    assert!(
        s.contains(" * <*>     Dummy net driver support (DUMMY)"),
        "{s}"
    );
    // An option that cannot be set: NVMe needs the block layer, which the
    // tiny base leaves off.
    t.keys(&["/"]);
    t.type_text("BLK_DEV_NVME");
    t.wait_for("BLK_DEV_NVME  NVM Express block device", STEP);
    t.keys(&["Enter"]);
    t.wait_for("BLK_DEV_NVME is not visible with these values", STEP);
    t.keys(&["?"]);
    let s = t.wait_for("because: its own dependencies are unmet", STEP);
    assert!(s.contains("depends on: PCI [=y] && BLOCK [=n]"), "{s}");
    t.keys(&["Escape"]);
    t.wait_for("BLK_DEV_NVME = n: its own dependencies are unmet", STEP);
    // Trying to set it explains why and offers a checked fix.
    t.keys(&["y"]);
    let s = t.wait_for("These requests make it hold (checked):", STEP);
    assert!(
        s.contains("unmet dependency: depends on PCI [=y] && BLOCK [=n]"),
        "{s}"
    );
    assert!(s.contains("BLOCK = \"y\""), "{s}");
    t.keys(&["Escape"]);
    t.wait_for("BLK_DEV_NVME = n: its own dependencies are unmet", STEP);
    // Save, then quit.
    t.keys(&["s"]);
    t.wait_for("saved 1 request to kernel.toml", STEP);
    t.keys(&["q"]);
    t.wait_for("KFORGE-EXIT=0", STEP);
    let saved = std::fs::read_to_string(t.path()).unwrap();
    let expected = original.replace(
        "# Wanted as a module: the [modules.netdev] set below loads it.\nDUMMY = \"m\"\n",
        "# Wanted as a module: the [modules.netdev] set below loads it.\nDUMMY = \"y\"\n",
    );
    assert_ne!(expected, original);
    assert_eq!(saved, expected, "only DUMMY changes, in place");
}

#[test]
fn terminal_too_small() {
    let t = Tmux::start("small", 30, 8, "", |_| {});
    let s = t.wait_for("Terminal too small", START);
    assert!(s.contains("40x10"), "{s}");
    t.keys(&["q"]);
    t.wait_for("KFORGE-EXIT=0", STEP);
}

#[test]
fn read_only_declaration_is_refused_and_unchanged() {
    let t = Tmux::start("ro", 120, 40, "", |dir| {
        let p = dir.join("kernel.toml");
        let mut perm = std::fs::metadata(&p).unwrap().permissions();
        perm.set_readonly(true);
        std::fs::set_permissions(&p, perm).unwrap();
    });
    let original = std::fs::read_to_string(t.path()).unwrap();
    t.wait_for("Kernel Configuration", START);
    t.keys(&["/"]);
    t.type_text("DUMMY");
    t.wait_for("DUMMY  Dummy net driver support", STEP);
    t.keys(&["Enter"]);
    t.wait_for("DUMMY = m: requested", STEP);
    t.keys(&["y", "s"]);
    let s = t.wait_for("Not saved", STEP);
    assert!(s.contains("kernel.toml is read-only"), "{s}");
    assert_eq!(std::fs::read_to_string(t.path()).unwrap(), original);
    // Quitting asks about the unsaved change; n leaves without saving.
    t.keys(&["Escape"]);
    t.wait_for("DUMMY = y: changed here", STEP);
    t.keys(&["q"]);
    t.wait_for("Save your changes to kernel.toml?", STEP);
    t.keys(&["n"]);
    t.wait_for("KFORGE-EXIT=0", STEP);
    assert_eq!(std::fs::read_to_string(t.path()).unwrap(), original);
}

#[test]
fn not_a_terminal() {
    let o = Command::new(env!("CARGO_BIN_EXE_kforge"))
        .args(["menuconfig", "kernel.toml"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("needs a terminal"), "{err}");
}

/// `kforge shell` in a terminal: make and scripts/config typed into the
/// shell, then `exit`; `--write` puts the change into kernel.toml, which
/// `kforge config` then resolves; a shell that changes nothing writes
/// nothing.
#[test]
fn shell_edits_the_config_and_writes_the_change_back() {
    let tree = tree_6_1();
    let args = format!("shell kernel.toml --tree {} --write", tree.display());
    let t = Tmux::start_kforge("shell", 160, 50, &args, |_| {});
    let original = std::fs::read_to_string(t.path()).unwrap();
    t.wait_for("make nconfig, make menuconfig, ...", START);
    // The shell is the user's $SHELL (or sh) in the source tree.
    t.type_text("make olddefconfig && scripts/config --file \"$KBUILD_OUTPUT/.config\" --enable IKCONFIG && make olddefconfig && echo SHELL-DONE");
    t.keys(&["Enter"]);
    t.wait_for("SHELL-DONE", START);
    t.type_text("exit");
    t.keys(&["Enter"]);
    let s = t.wait_for("KFORGE-EXIT=", STEP);
    assert!(s.contains("IKCONFIG = \"y\""), "{s}");
    assert!(
        s.contains("kforge: wrote 1 requests into kernel.toml"),
        "{s}"
    );
    assert!(s.contains("KFORGE-EXIT=0"), "{s}");
    let edited = std::fs::read_to_string(t.path()).unwrap();
    assert_ne!(edited, original);
    assert!(edited.contains("\nIKCONFIG = \"y\"\n"), "{edited}");
    // The comments of the declaration are kept.
    for l in original.lines().filter(|l| l.starts_with('#')) {
        assert!(edited.contains(l), "{l}");
    }
    // kforge config resolves the new request.
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("menuconfig-cache");
    let out = t.dir.path().join("out.config");
    let o = Command::new(env!("CARGO_BIN_EXE_kforge"))
        .current_dir(t.dir.path())
        .env("XDG_CACHE_HOME", &cache)
        .args(["config", "kernel.toml", "--tree"])
        .arg(&tree)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(std::fs::read_to_string(&out)
        .unwrap()
        .contains("\nCONFIG_IKCONFIG=y\n"));

    // A shell that changes nothing: nothing written.
    let o = Command::new(env!("CARGO_BIN_EXE_kforge"))
        .current_dir(t.dir.path())
        .env("XDG_CACHE_HOME", &cache)
        .args(["shell", "kernel.toml", "--write", "--tree"])
        .arg(&tree)
        .args(["--", "make", "olddefconfig"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("the .config did not change; kernel.toml is unchanged"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(t.path()).unwrap(), edited);
}
