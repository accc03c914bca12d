//! Boots Debian's 6.1 kernel (from the .deb `scripts/prepare-modules`
//! downloads) in QEMU with initramfs images this crate builds, and checks
//! the outcomes: pass, script failure, timeout, panic, loaders, the
//! compressions, and a missing QEMU.
//!
//! Needs qemu-system-x86 and busybox-static (Debian packages); KVM makes
//! each boot take a second or two. A second-tier test file: compiled with
//! the `oracle-tests` feature only (scripts/test).
#![cfg(feature = "oracle-tests")]

use kforge_boot::guest::test_initramfs;
use kforge_boot::{
    Arch, Compression, Error, GuestPlan, Initramfs, Loader, Outcome, RunOptions, Status,
};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// The Debian kernel ABI of the module tree (scripts/debian-abi).
fn kver() -> &'static str {
    kforge_testkit::debian_abi()
}
/// Debian's dummy.ko in the kernel package.
fn dummy_ko() -> String {
    format!("lib/modules/{}/kernel/drivers/net/dummy.ko", kver())
}

/// The Debian kernel package `scripts/prepare-modules` downloads (in the
/// repository's target/modules-oracle or $KFORGE_MODULES_ORACLE).
fn deb() -> PathBuf {
    kforge_testkit::debian_kernel_deb()
}

/// The kernel image and dummy.ko, extracted once from the .deb into the
/// target directory's scratch space.
fn extracted() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("vmtest-{}", kver()));
        if dir.join(dummy_ko()).is_file() {
            return dir;
        }
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "vmtest-{}.{}",
            kver(),
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).unwrap();
        let cmd = format!(
            "dpkg-deb --fsys-tarfile '{}' | tar -x -C '{}' --wildcards './boot/vmlinuz-*' './{}'",
            deb().display(),
            tmp.display(),
            dummy_ko()
        );
        let st = Command::new("sh").arg("-c").arg(&cmd).status().unwrap();
        assert!(st.success(), "{cmd} failed");
        // Another test process may have won the race; either copy will do.
        if std::fs::rename(&tmp, &dir).is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        dir
    })
}

fn kernel() -> PathBuf {
    let k = extracted().join(format!("boot/vmlinuz-{}", kver()));
    assert!(k.is_file(), "{} missing", k.display());
    k
}

fn busybox() -> PathBuf {
    kforge_boot::find_busybox(Arch::X86_64).unwrap_or_else(|e| panic!("{e}"))
}

/// One boot: the initramfs for `plan` (adjusted by `edit`), written with
/// `compression`, booted with `append` and `timeout`.
struct Boot {
    plan: GuestPlan,
    compression: Compression,
    append: String,
    timeout: Duration,
    edit: Option<fn(&mut Initramfs)>,
}

impl Boot {
    fn new(script: &str) -> Self {
        Boot {
            plan: GuestPlan::new(script),
            compression: Compression::None,
            append: String::new(),
            timeout: Duration::from_secs(120),
            edit: None,
        }
    }

    /// Runs it; returns the outcome and the console log's text.
    fn run(&self, name: &str) -> (Outcome, String) {
        let dir = tempfile::tempdir().unwrap();
        let mut img = test_initramfs(&busybox(), &self.plan).unwrap();
        if let Some(e) = &self.edit {
            e(&mut img);
        }
        let initrd = dir.path().join("initrd");
        img.write_file(&initrd, self.compression).unwrap();
        let log = dir.path().join("console.log");
        let mut o = RunOptions::new(Arch::X86_64, kernel(), &initrd, &log);
        o.append = self.append.clone();
        o.timeout = self.timeout;
        o.verbose = std::env::var_os("VMTEST_VERBOSE").is_some();
        let out = kforge_boot::run(&o, &self.plan.nonce).unwrap();
        let text = std::fs::read_to_string(&log).unwrap();
        let ms = |d: Option<Duration>| d.map_or("-".into(), |d| format!("{} ms", d.as_millis()));
        eprintln!(
            "{name}: {} (kvm {}): QEMU start to /init {}, to done {}, total {} ms",
            out.status.kind(),
            out.kvm,
            ms(out.boot_time),
            ms(out.done_time),
            out.total_time.as_millis()
        );
        (out, text)
    }
}

#[test]
fn passing_script() {
    let (o, log) = Boot::new("echo hello from the test script\ncat /proc/cmdline\nexit 0\n")
        .run("passing_script");
    assert_eq!(o.status, Status::Passed, "{log}");
    assert_eq!(o.release.as_deref(), Some(kver()));
    assert_eq!(o.script_exit, Some(0));
    assert!(o.loaders.is_empty());
    let (boot, done) = (o.boot_time.unwrap(), o.done_time.unwrap());
    assert!(boot <= done && done <= o.total_time);
    assert_eq!(
        o.qemu_exit,
        Some(0),
        "QEMU exits by itself on reboot with -no-reboot"
    );
    assert!(log.contains("hello from the test script\n"), "{log}");
    assert!(log.contains("console=ttyS0 panic=-1 rdinit=/init"), "{log}");
    assert!(o.command[0].ends_with("qemu-system-x86_64"));
}

#[test]
fn script_exit_code() {
    let (o, log) = Boot::new("echo failing on purpose\nexit 3\n").run("script_exit_code");
    assert_eq!(o.status, Status::ScriptFailed { exit: 3 }, "{log}");
    assert_eq!(o.script_exit, Some(3));
    assert!(o.done_time.is_some());
}

#[test]
fn forged_markers_do_not_count() {
    // The script prints marker look-alikes with another nonce, then fails.
    let script = "echo KFORGE-TEST:0000000000000000:script-exit:0\n\
                  echo KFORGE-TEST:0000000000000000:done\nexit 5\n";
    let (o, log) = Boot::new(script).run("forged_markers");
    assert_eq!(o.status, Status::ScriptFailed { exit: 5 }, "{log}");
}

#[test]
fn hanging_script_times_out() {
    let mut b = Boot::new("echo about to hang\nsleep 1000\n");
    // Long enough for a TCG boot on a busy machine to reach the script.
    b.timeout = Duration::from_secs(30);
    let (o, log) = b.run("hanging_script_times_out");
    let Status::Timeout { tail } = &o.status else {
        panic!("{:?}\n{log}", o.status)
    };
    assert!(tail.iter().any(|l| l == "about to hang"), "{tail:?}");
    assert!(tail.len() <= kforge_boot::qemu::TAIL_LINES);
    assert!(o.total_time >= Duration::from_secs(30));
    assert!(o.total_time < Duration::from_secs(45), "{:?}", o.total_time);
    assert_eq!(o.qemu_exit, None, "killed");
    assert!(o.script_exit.is_none() && o.done_time.is_none());
    assert_eq!(o.release.as_deref(), Some(kver()));
}

#[test]
fn panic_without_init() {
    // rdinit= names a missing program: the kernel falls back to mounting a
    // root filesystem, finds none and panics.
    let mut b = Boot::new("exit 0\n");
    b.append = "rdinit=/nonexistent".into();
    let (o, log) = b.run("panic_without_init");
    let Status::Panic { lines } = &o.status else {
        panic!("{:?}\n{log}", o.status)
    };
    let i = lines
        .iter()
        .position(|l| l.contains("Kernel panic - not syncing"))
        .unwrap();
    assert!(i > 0, "lines before the panic are kept: {lines:?}");
    assert!(o.release.is_none());
    assert!(o.total_time < Duration::from_secs(30));
}

#[test]
fn panic_when_init_exits() {
    // A broken /init that exits: "Attempted to kill init!".
    let mut b = Boot::new("exit 0\n");
    b.edit = Some(|img: &mut Initramfs| {
        img.file_bytes("/init", "#!/bin/sh\necho broken init\nexit 1\n", 0o755)
            .unwrap();
    });
    let (o, log) = b.run("panic_when_init_exits");
    let Status::Panic { lines } = &o.status else {
        panic!("{:?}\n{log}", o.status)
    };
    assert!(
        lines.iter().any(|l| l.contains("Attempted to kill init")),
        "{lines:?}"
    );
    assert!(log.contains("broken init"));
}

#[test]
fn compressed_initramfs() {
    for c in [Compression::Gzip, Compression::Zstd, Compression::Xz] {
        let mut b = Boot::new("exit 0\n");
        b.compression = c;
        let (o, log) = b.run(&format!("compressed_initramfs {c:?}"));
        assert_eq!(o.status, Status::Passed, "{c:?}\n{log}");
        assert_eq!(o.release.as_deref(), Some(kver()));
    }
}

/// A loader directory like kforge's: load.sh and unload.sh next to lib/.
fn fake_loader(root: &Path, name: &str, load_rc: i32) -> Loader {
    let d = root.join(name);
    std::fs::create_dir_all(d.join("lib/modules")).unwrap();
    std::fs::write(
        d.join("load.sh"),
        format!("#!/bin/sh\necho loading {name}\nexit {load_rc}\n"),
    )
    .unwrap();
    std::fs::write(
        d.join("unload.sh"),
        format!("#!/bin/sh\necho unloading {name}\nexit 0\n"),
    )
    .unwrap();
    Loader {
        name: name.into(),
        guest_dir: format!("/opt/kforge/{name}"),
        host_dir: Some(d),
    }
}

#[test]
fn loaders_run_around_the_script() {
    let host = tempfile::tempdir().unwrap();
    let mut b = Boot::new("test -f /opt/kforge/first/load.sh && echo script sees the loaders\n");
    b.plan.loaders = vec![
        fake_loader(host.path(), "first", 0),
        fake_loader(host.path(), "second", 0),
    ];
    let (o, log) = b.run("loaders_run_around_the_script");
    assert_eq!(o.status, Status::Passed, "{log}");
    let codes: Vec<_> = o
        .loaders
        .iter()
        .map(|l| (l.name.as_str(), l.load, l.unload))
        .collect();
    assert_eq!(
        codes,
        [("first", Some(0), Some(0)), ("second", Some(0), Some(0))]
    );
    let at = |s: &str| log.find(s).unwrap_or_else(|| panic!("{s} not in\n{log}"));
    assert!(at("loading first") < at("loading second"));
    assert!(at("loading second") < at("script sees the loaders"));
    assert!(at("script sees the loaders") < at("unloading second"));
    assert!(at("unloading second") < at("unloading first"));
}

#[test]
fn failing_loader_skips_the_script() {
    let host = tempfile::tempdir().unwrap();
    let mut b = Boot::new("echo the script ran\n");
    b.plan.loaders = vec![
        fake_loader(host.path(), "good", 0),
        fake_loader(host.path(), "bad", 4),
    ];
    let (o, log) = b.run("failing_loader_skips_the_script");
    assert_eq!(
        o.status,
        Status::LoaderFailed {
            loader: "bad".into(),
            phase: kforge_boot::qemu::LoaderPhase::Load,
            rc: 4
        },
        "{log}"
    );
    assert!(!log.contains("the script ran"));
    assert_eq!(o.script_exit, None);
    assert_eq!(o.loaders[0].unload, Some(0), "the loaded one is unloaded");
    assert_eq!(o.loaders[1].unload, None);
}

#[test]
fn real_module_load_and_unload() {
    // Debian's dummy.ko, insmod'ed and rmmod'ed by busybox in the guest.
    let host = tempfile::tempdir().unwrap();
    let d = host.path().join("dummy");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::copy(extracted().join(dummy_ko()), d.join("dummy.ko")).unwrap();
    std::fs::write(d.join("load.sh"), "insmod \"$(dirname \"$0\")/dummy.ko\"\n").unwrap();
    std::fs::write(d.join("unload.sh"), "rmmod dummy\n").unwrap();
    let mut b = Boot::new("grep '^dummy ' /proc/modules && ip link show dummy0\n");
    b.plan.loaders = vec![Loader {
        name: "dummy".into(),
        guest_dir: "/opt/dummy".into(),
        host_dir: Some(d),
    }];
    let (o, log) = b.run("real_module_load_and_unload");
    assert_eq!(o.status, Status::Passed, "{log}");
    assert_eq!(o.loaders[0].load, Some(0));
    assert_eq!(o.loaders[0].unload, Some(0));
    assert!(log.contains("dummy0"), "{log}");
}

#[test]
fn missing_qemu_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("initrd");
    std::fs::write(&img, "").unwrap();
    let mut o = RunOptions::new(Arch::X86_64, &img, &img, dir.path().join("log"));
    o.qemu = Some("/nonexistent/bin/qemu-system-x86_64".into());
    let e = kforge_boot::run(&o, &kforge_boot::new_nonce()).unwrap_err();
    assert!(
        matches!(
            &e,
            Error::QemuMissing {
                package: "qemu-system-x86",
                ..
            }
        ),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .contains("install Debian's qemu-system-x86 package"),
        "{e}"
    );
}
