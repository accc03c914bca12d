//! What runs in the guest: the generated `/init` script, the test plan it
//! follows, and the console markers it prints.
//!
//! Every marker is a line `KFORGE-TEST:<nonce>:<what>` (see [`marker`]),
//! where the nonce is chosen per run ([`new_nonce`]) so that output that
//! merely looks like a marker (a test printing an old console log, say)
//! cannot be taken for the real one. The markers, in order:
//!
//! - `start`: `/init` runs and the pseudo filesystems are mounted;
//! - `release:<uname -r>`;
//! - `loader:<name>:load:<rc>` for each loader, in order (after the first
//!   failure the remaining loaders and the script are skipped);
//! - `script-exit:<rc>`, or `script-skipped` when a loader failed;
//! - `loader:<name>:unload:<rc>` for each loaded loader, in reverse order;
//! - `done`, after which `/init` reboots the guest (QEMU's `-no-reboot`
//!   turns that into QEMU exiting).

use crate::busybox;
use crate::{Error, Initramfs};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The first field of every marker line.
pub const MARKER_PREFIX: &str = "KFORGE-TEST";

/// Where the test script is put in the guest.
pub const TEST_SCRIPT: &str = "/test.sh";

/// A module loader to run in the guest: a directory holding `load.sh` and
/// `unload.sh` (as `kforge modules` writes them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loader {
    /// The loader's name, as it appears in markers: letters, digits and
    /// `._+-` only.
    pub name: String,
    /// The loader directory in the guest (absolute).
    pub guest_dir: String,
    /// When set, [`test_initramfs`] copies this host directory to
    /// `guest_dir`; otherwise the caller adds it to the image.
    pub host_dir: Option<PathBuf>,
}

/// What `/init` does: the loaders to run, the test script, the nonce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestPlan {
    /// Module loaders, loaded in this order and unloaded in reverse.
    pub loaders: Vec<Loader>,
    /// The test script (run as root by `sh /test.sh`, stdin `/dev/null`,
    /// output on the console); its exit code is the test's result.
    pub script: String,
    /// The per-run marker nonce: 8 to 64 lowercase hexadecimal digits.
    pub nonce: String,
}

impl GuestPlan {
    /// A plan with no loaders running `script`, with a fresh nonce.
    pub fn new(script: impl Into<String>) -> Self {
        GuestPlan {
            loaders: Vec::new(),
            script: script.into(),
            nonce: new_nonce(),
        }
    }

    /// Checks the nonce, the loader names (unique, marker-safe) and the
    /// loader directories (absolute, no NUL or newline).
    pub fn validate(&self) -> Result<(), Error> {
        check_nonce(&self.nonce)?;
        let mut seen = std::collections::BTreeSet::new();
        for l in &self.loaders {
            let ok = !l.name.is_empty()
                && l.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-'));
            if !ok {
                return Err(Error::Plan(format!(
                    "loader name {:?}: use letters, digits and ._+- only",
                    l.name
                )));
            }
            if !seen.insert(&l.name) {
                return Err(Error::Plan(format!("loader name {:?} given twice", l.name)));
            }
            if !l.guest_dir.starts_with('/') || l.guest_dir.contains(['\0', '\n']) {
                return Err(Error::Plan(format!(
                    "loader {}: guest directory {:?} must be an absolute path",
                    l.name, l.guest_dir
                )));
            }
        }
        Ok(())
    }
}

pub(crate) fn check_nonce(nonce: &str) -> Result<(), Error> {
    let ok = (8..=64).contains(&nonce.len())
        && nonce
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if ok {
        Ok(())
    } else {
        Err(Error::Plan(format!(
            "nonce {nonce:?}: use 8 to 64 lowercase hexadecimal digits"
        )))
    }
}

/// A fresh 32-hex-digit nonce, different for every call.
///
/// Taken from the standard library's randomly keyed hasher mixed with the
/// time, the process id and a counter: unpredictable enough to tell the
/// real markers from look-alikes, not meant as a secret.
pub fn new_nonce() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut out = String::new();
    for i in 0..2u8 {
        let mut h = RandomState::new().build_hasher();
        h.write_u8(i);
        h.write_u128(now);
        h.write_u32(std::process::id());
        h.write_u64(n);
        let _ = write!(out, "{:016x}", h.finish());
    }
    out
}

/// The marker line `KFORGE-TEST:<nonce>:<what>` (without newline).
pub fn marker(nonce: &str, what: &str) -> String {
    format!("{MARKER_PREFIX}:{nonce}:{what}")
}

/// Quotes `s` for POSIX sh with single quotes.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The `/init` script (POSIX sh for busybox sh) carrying out `plan`.
///
/// It mounts proc, sysfs and devtmpfs (making a few device nodes itself
/// when the kernel has no devtmpfs), prints the markers described in the
/// [module documentation](self), runs the loaders, [`TEST_SCRIPT`] and the
/// unloaders, and ends with `reboot -f`.
pub fn init_script(plan: &GuestPlan) -> Result<String, Error> {
    plan.validate()?;
    let mut s = String::new();
    s.push_str(
        r#"#!/bin/sh
# /init of a kforge test initramfs (generated): mounts the pseudo
# filesystems, runs the module loaders and /test.sh, prints KFORGE-TEST
# markers on the console, then reboots (QEMU runs with -no-reboot).
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
export HOME=/root
umask 022
"#,
    );
    let _ = writeln!(s, "M={}", sh_quote(&marker(&plan.nonce, "")));
    s.push_str(
        r#"mark() { echo "$M$1"; }
/bin/busybox --install -s >/dev/null 2>&1
mkdir -p /proc /sys /dev /tmp /run /root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
if ! mount -t devtmpfs devtmpfs /dev 2>/dev/null; then
	echo "kforge-init: no devtmpfs; making device nodes in /dev"
	[ -e /dev/null ] || mknod -m 666 /dev/null c 1 3
	[ -e /dev/zero ] || mknod -m 666 /dev/zero c 1 5
	[ -e /dev/random ] || mknod -m 666 /dev/random c 1 8
	[ -e /dev/urandom ] || mknod -m 666 /dev/urandom c 1 9
	[ -e /dev/kmsg ] || mknod -m 644 /dev/kmsg c 1 11
	[ -e /dev/tty ] || mknod -m 666 /dev/tty c 5 0
fi
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts 2>/dev/null
exec </dev/null
cd /
mark start
mark "release:$(uname -r)"
failed=
"#,
    );
    for (i, l) in plan.loaders.iter().enumerate() {
        let dir = sh_quote(&l.guest_dir);
        let _ = write!(
            s,
            r#"
# loader {name}
loaded_{i}=
if [ -z "$failed" ]; then
	if [ -f {dir}/load.sh ]; then
		sh {dir}/load.sh
		rc=$?
	else
		echo "kforge-init: no load.sh in "{dir}
		rc=127
	fi
	mark "loader:{name}:load:$rc"
	if [ "$rc" = 0 ]; then loaded_{i}=1; else failed={name}; fi
fi
"#,
            name = l.name,
        );
    }
    s.push_str(
        r#"
if [ -z "$failed" ]; then
	sh /test.sh </dev/null
	rc=$?
	cd /
	mark "script-exit:$rc"
else
	echo "kforge-init: loader $failed failed; not running /test.sh"
	mark script-skipped
fi
"#,
    );
    for (i, l) in plan.loaders.iter().enumerate().rev() {
        let dir = sh_quote(&l.guest_dir);
        let _ = write!(
            s,
            r#"
if [ -n "$loaded_{i}" ]; then
	if [ -f {dir}/unload.sh ]; then
		sh {dir}/unload.sh
		rc=$?
	else
		echo "kforge-init: no unload.sh in "{dir}
		rc=127
	fi
	mark "loader:{name}:unload:$rc"
fi
"#,
            name = l.name,
        );
    }
    s.push_str(
        r#"
mark done
sync
reboot -f
echo b >/proc/sysrq-trigger
while :; do sleep 1000; done
"#,
    );
    Ok(s)
}

/// A complete test initramfs for `plan`: static `busybox` with its applet
/// links, `/dev/console` and `/dev/null` nodes, `/init`, [`TEST_SCRIPT`],
/// and the loaders that name a host directory.
///
/// The caller may add more (loader trees, test data) before writing it.
pub fn test_initramfs(busybox: &Path, plan: &GuestPlan) -> Result<Initramfs, Error> {
    let init = init_script(plan)?;
    let mut img = Initramfs::new();
    for (d, perm) in [
        ("/dev", 0o755),
        ("/proc", 0o555),
        ("/sys", 0o555),
        ("/tmp", 0o1777),
        ("/run", 0o755),
        ("/root", 0o700),
        ("/etc", 0o755),
        ("/lib/modules", 0o755),
    ] {
        img.dir(d, perm)?;
    }
    // The kernel opens /dev/console for init's stdin/stdout/stderr before
    // devtmpfs is mounted, so the node must be in the archive.
    img.char_dev("/dev/console", 0o600, 5, 1)?;
    img.char_dev("/dev/null", 0o666, 1, 3)?;
    busybox::install(&mut img, busybox)?;
    img.file_bytes("/init", init, 0o755)?;
    img.file_bytes(TEST_SCRIPT, plan.script.as_bytes(), 0o755)?;
    for l in &plan.loaders {
        if let Some(h) = &l.host_dir {
            img.tree_from_host(&l.guest_dir, h)?;
        }
    }
    Ok(img)
}

/// The taint flags a module under development may cause: `O` (an
/// out-of-tree module, 1 << 12) and `E` (an unsigned one, 1 << 13). Any
/// other flag (a WARN, an oops, a forced load, ...) fails the test.
pub const ALLOWED_TAINT: u64 = (1 << 12) | (1 << 13);

/// The lines a module loader prefixes the kernel's messages with.
pub const MODULE_LOG_PREFIX: &str = "kforge-module: ";

/// `load.sh` and `unload.sh` of a loader for modules under development
/// (`kforge test --module`): each `(file, arguments)` is inserted in order
/// with `insmod` from the loader's directory, the kernel messages each one
/// caused printed with [`MODULE_LOG_PREFIX`]; unloading removes them in
/// reverse order. Either script fails (exit 1) when a module does not
/// insert or remove, or when the kernel got a taint flag other than
/// [`ALLOWED_TAINT`] (a WARN, an oops): its messages say which.
pub fn module_loader_scripts(modules: &[(String, String)]) -> (String, String) {
    let head = format!(
        "#!/bin/sh\n# Generated by kforge test --module: the modules under development.\n\
         cd \"$(dirname \"$0\")\" || exit 1\n\
         log() {{ dmesg -c 2>/dev/null | sed 's/^/{MODULE_LOG_PREFIX}/'; }}\n\
         tainted() {{\n\
         \tt=$(cat /proc/sys/kernel/tainted)\n\
         \tif [ $(( t & ~{ALLOWED_TAINT} )) -ne 0 ]; then\n\
         \t\techo \"{MODULE_LOG_PREFIX}the kernel is tainted ($t): more than an out-of-tree module\"\n\
         \t\texit 1\n\
         \tfi\n\
         }}\n\
         dmesg -c >/dev/null 2>&1\n"
    );
    let mut load = head.clone();
    let mut unload = head;
    for (file, args) in modules {
        let _ = write!(
            load,
            "insmod ./{} {args} || {{ log; echo \"{MODULE_LOG_PREFIX}insmod {file} failed\"; exit 1; }}\nlog\ntainted\n",
            sh_quote(file)
        );
    }
    for (file, _) in modules.iter().rev() {
        let name = file.split('.').next().unwrap_or(file);
        let _ = write!(
            unload,
            "rmmod {} || {{ log; echo \"{MODULE_LOG_PREFIX}rmmod {name} failed\"; exit 1; }}\nlog\ntainted\n",
            sh_quote(name)
        );
    }
    (load, unload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn plan(loaders: &[(&str, &str)], script: &str) -> GuestPlan {
        GuestPlan {
            loaders: loaders
                .iter()
                .map(|(n, d)| Loader {
                    name: n.to_string(),
                    guest_dir: d.to_string(),
                    host_dir: None,
                })
                .collect(),
            script: script.to_string(),
            nonce: "0123456789abcdef".into(),
        }
    }

    #[test]
    fn nonces_differ_and_validate() {
        let a = new_nonce();
        let b = new_nonce();
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        check_nonce(&a).unwrap();
        assert!(check_nonce("abc").is_err());
        assert!(check_nonce("0123456789ABCDEF").is_err());
        assert!(check_nonce("0123456789abcdeg").is_err());
    }

    #[test]
    fn plan_validation() {
        assert!(plan(&[("nft", "/opt/nft")], "").validate().is_ok());
        assert!(plan(&[("a:b", "/x")], "").validate().is_err());
        assert!(plan(&[("a b", "/x")], "").validate().is_err());
        assert!(plan(&[("", "/x")], "").validate().is_err());
        assert!(plan(&[("a", "x")], "").validate().is_err());
        assert!(plan(&[("a", "/x"), ("a", "/y")], "").validate().is_err());
        assert!(init_script(&plan(&[("a", "x")], "")).is_err());
    }

    #[test]
    fn script_shape() {
        let s = init_script(&plan(
            &[("one", "/opt/l 1"), ("two", "/opt/it's")],
            "exit 0",
        ))
        .unwrap();
        assert!(s.starts_with("#!/bin/sh\n"));
        assert!(s.contains("M='KFORGE-TEST:0123456789abcdef:'"));
        // Loads in order, unloads in reverse, done last before reboot.
        let pos = |needle: &str| {
            s.find(needle)
                .unwrap_or_else(|| panic!("{needle} not in\n{s}"))
        };
        assert!(pos("loader:one:load") < pos("loader:two:load"));
        assert!(pos("loader:two:load") < pos("sh /test.sh"));
        assert!(pos("sh /test.sh") < pos("loader:two:unload"));
        assert!(pos("loader:two:unload") < pos("loader:one:unload"));
        assert!(pos("loader:one:unload") < pos("mark done"));
        assert!(pos("mark done") < pos("reboot -f"));
        assert!(s.contains(r#"sh '/opt/it'\''s'/load.sh"#), "{s}");
        assert!(s.contains("sh '/opt/l 1'/load.sh"), "{s}");
    }

    /// The init logic run by the host's sh with stubbed system commands:
    /// the markers come out in order with the right codes.
    #[test]
    fn script_runs_under_host_sh() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for (n, load, unload) in [("a", 0, 0), ("b", 0, 4)] {
            let l = d.join(n);
            std::fs::create_dir_all(&l).unwrap();
            std::fs::write(l.join("load.sh"), format!("echo load {n}; exit {load}\n")).unwrap();
            std::fs::write(
                l.join("unload.sh"),
                format!("echo unload {n}; exit {unload}\n"),
            )
            .unwrap();
        }
        let p = plan(
            &[
                ("a", d.join("a").to_str().unwrap()),
                ("b", d.join("b").to_str().unwrap()),
            ],
            "",
        );
        let out = run_stubbed(d, &init_script(&p).unwrap(), "echo in test; exit 3\n");
        let m = markers(&out);
        assert_eq!(
            m,
            [
                "start",
                "release:9.9.9-stub",
                "loader:a:load:0",
                "loader:b:load:0",
                "script-exit:3",
                "loader:b:unload:4",
                "loader:a:unload:0",
                "done"
            ],
            "{out}"
        );
        assert!(
            out.contains("in test\n") && out.contains("load a\n") && out.contains("unload b\n")
        );

        // A failing loader: the later ones and the script are skipped, the
        // loaded ones unloaded.
        std::fs::write(d.join("b/load.sh"), "exit 2\n").unwrap();
        let p = plan(
            &[
                ("a", d.join("a").to_str().unwrap()),
                ("b", d.join("b").to_str().unwrap()),
                ("c", "/nonexistent"),
            ],
            "",
        );
        let out = run_stubbed(d, &init_script(&p).unwrap(), "echo in test\n");
        let m = markers(&out);
        assert_eq!(
            m,
            [
                "start",
                "release:9.9.9-stub",
                "loader:a:load:0",
                "loader:b:load:2",
                "script-skipped",
                "loader:a:unload:0",
                "done"
            ],
            "{out}"
        );
        assert!(!out.contains("in test"));
    }

    /// Runs `init` with the host's sh, system commands replaced by stubs and
    /// absolute paths (/test.sh, /bin/busybox) redirected into `d`.
    /// The markers of the stubbed plan's nonce in `out`, in order.
    fn markers(out: &str) -> Vec<&str> {
        out.lines()
            .filter_map(|l| l.strip_prefix("KFORGE-TEST:0123456789abcdef:"))
            .collect()
    }

    fn run_stubbed(d: &Path, init: &str, test: &str) -> String {
        let bin = d.join("stub-bin");
        std::fs::create_dir_all(&bin).unwrap();
        for (cmd, body) in [
            ("mount", "exit 0"),
            ("mkdir", "exit 0"),
            ("mknod", "exit 0"),
            ("reboot", "exit 0"),
            ("sync", "exit 0"),
            ("uname", "echo 9.9.9-stub"),
        ] {
            let p = bin.join(cmd);
            std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::write(d.join("test.sh"), test).unwrap();
        let init = init
            .replace("export PATH=", "export HOSTPATH=")
            .replace("/bin/busybox --install", ": ")
            .replace("exec </dev/null", ":")
            .replace("sh /test.sh", &format!("sh {}/test.sh", d.display()))
            .replace("echo b >/proc/sysrq-trigger", ":")
            .replace("while :; do sleep 1000; done", "exit 0");
        let o = Command::new("sh")
            .arg("-c")
            .arg(&init)
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    }
}
