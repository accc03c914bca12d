//! Stage 6, the boot report: a store entry booted in QEMU with a generated
//! initramfs (busybox, `/init`, the `[test]` script and files, the entry's
//! loaders), its verdict, and `result.json` beside the console log.
//!
//! Each run keeps its files in a directory of its own in the entry's test
//! directory (`<cache>/kforge/tests/<entry>/<time>-<pid>/`, `latest`
//! linking the newest; removed by `kforge gc` with the entry).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kforge_boot::{Arch, Compression, GuestPlan, KvmMode, Loader, Outcome, RunOptions};
use kforge_declaration::{Spec, Test, TestScript};
use serde::Serialize;

use crate::build::LOADER_PREFIX;
use crate::error::Error;
use crate::manifest::Manifest;
use crate::resolved::{config_value, Resolved};

/// What a boot test needs from the configuration: (symbol, what for).
/// Checked before building; each miss is a warning with the engine's
/// explanation.
pub fn boot_needs(arch: Arch, loaders: bool) -> Vec<(&'static str, &'static str)> {
    let mut needs = vec![
        ("BLK_DEV_INITRD", "the initramfs that holds the test"),
        ("PRINTK", "kernel messages on the console"),
        ("TTY", "a console"),
        ("PROC_FS", "/proc (the loaders read /proc/modules)"),
        ("SYSFS", "/sys"),
        ("DEVTMPFS", "/dev in the guest"),
        ("BINFMT_ELF", "running busybox"),
        ("BINFMT_SCRIPT", "running /init, a shell script"),
    ];
    match arch {
        Arch::X86_64 => {
            needs.push(("SERIAL_8250", "the serial port of QEMU's machine"));
            needs.push(("SERIAL_8250_CONSOLE", "the console on ttyS0"));
        }
        Arch::Mips | Arch::Mipsel => {
            needs.push(("SERIAL_8250", "the serial port of QEMU's malta"));
            needs.push(("SERIAL_8250_CONSOLE", "the console on ttyS0"));
            needs.push((
                "POWER_RESET_SYSCON",
                "malta's reset register, which ends the run at `reboot -f` (else QEMU is stopped after a grace period)",
            ));
        }
        Arch::Arm64 => {
            needs.push((
                "SERIAL_AMBA_PL011",
                "the serial port of QEMU's virt machine",
            ));
            needs.push(("SERIAL_AMBA_PL011_CONSOLE", "the console on ttyAMA0"));
        }
    }
    if loaders {
        needs.push(("MODULES", "loading the declared modules"));
        needs.push(("MODULE_UNLOAD", "unloading them again (unload.sh)"));
    }
    needs
}

/// The readiness warnings of a resolved declaration: each symbol a boot
/// test needs that is not set, with the engine's reason.
pub fn readiness(r: &mut Resolved, arch: Arch, loaders: bool) -> Vec<String> {
    let config = r.res.config.clone();
    let mut warnings = Vec::new();
    for (name, why) in boot_needs(arch, loaders) {
        if config_value(&config, name) != "n" {
            continue;
        }
        let mut w = format!(
            "CONFIG_{name} is not set, but a boot test needs it for {why}; add {name} = \"y\" to [config]"
        );
        if let Some(report) = kforge_resolve::explain_symbol(&mut r.tree.kc, name) {
            let _ = write!(w, "\n  because: {}", report.reason);
            if !report.depends.is_empty() && report.depends != "y" {
                let _ = write!(w, "\n  it depends on: {}", report.depends);
            }
        }
        warnings.push(w);
    }
    warnings
}

/// The architecture a declaration boots as, once its configuration is
/// known (MIPS: the byte order). `None`: kforge test cannot boot it.
pub fn boot_arch(spec: &Spec, config: Option<&str>) -> Option<Arch> {
    let arch = Arch::parse(&spec.build.arch)?;
    Some(match config {
        Some(c) => arch.with_byte_order(config_value(c, "CPU_LITTLE_ENDIAN") == "y"),
        None => arch,
    })
}

/// The loaders a boot test runs, in order: `[test] loaders`, else every
/// `[modules]` set.
pub fn loader_names(spec: &Spec) -> Vec<String> {
    match spec.test.as_ref().and_then(|t| t.loaders.as_ref()) {
        Some(l) => l.iter().map(|(n, _)| n.clone()).collect(),
        None => spec.modules.keys().cloned().collect(),
    }
}

/// The initramfs compression the kernel can unpack, cheapest first.
pub fn compression(config: &str) -> Compression {
    for (sym, c) in [
        ("RD_GZIP", Compression::Gzip),
        ("RD_ZSTD", Compression::Zstd),
        ("RD_XZ", Compression::Xz),
    ] {
        if config_value(config, sym) == "y" {
            return c;
        }
    }
    Compression::None
}

/// The QEMU binary for `arch`: `given`, else the one on `PATH`.
pub fn find_qemu(given: Option<&Path>, arch: Arch) -> Result<PathBuf, Error> {
    if let Some(q) = given {
        return Ok(q.to_path_buf());
    }
    let path = std::env::var("PATH").unwrap_or_default();
    kforge_store::which(arch.qemu_binary(), &path).ok_or_else(|| {
        Error::Boot(format!(
            "{} is not installed (it boots {arch} kernels): apt-get install {}",
            arch.qemu_binary(),
            arch.qemu_package()
        ))
    })
}

/// The guest's static busybox: `given` (checked), else the host's when it
/// suits `arch`.
pub fn guest_busybox(given: Option<&Path>, arch: Arch) -> Result<PathBuf, Error> {
    match given {
        Some(b) => {
            kforge_boot::check_busybox(b, arch).map_err(|e| Error::Boot(e.to_string()))?;
            Ok(b.to_path_buf())
        }
        None => kforge_boot::find_busybox(arch).map_err(|e| Error::Boot(e.to_string())),
    }
}

/// What to boot, and how.
pub struct BootRequest<'a> {
    /// The name of the test in reports (the declaration's path).
    pub label: &'a str,
    /// The declaration's `[test]`.
    pub test: Option<&'a Test>,
    pub arch: Arch,
    pub qemu: PathBuf,
    pub busybox: &'a Path,
    /// The store entry.
    pub entry: &'a Path,
    /// The loaders to run, in order.
    pub loaders: &'a [String],
    /// Modules under development (`kforge test --module`), each with its
    /// arguments: inserted after the loaders by a loader named `module`,
    /// which also fails on a taint other than an out-of-tree module's.
    pub modules: &'a [(PathBuf, String)],
    /// Stream the guest's console to stderr.
    pub verbose: bool,
    pub kvm: KvmMode,
}

/// The boot about to start, for the front to announce.
pub struct BootStart<'a> {
    pub entry: &'a Path,
    pub arch: Arch,
    pub memory_mib: u32,
    pub timeout: Duration,
    pub compression: Compression,
}

/// A boot's result.
pub struct BootReport {
    /// What the guest did.
    pub outcome: Outcome,
    /// The release the build made (the guest must run it).
    pub build_release: String,
    /// Whether the test passed: booted, loaders and script fine, the
    /// build's release running.
    pub passed: bool,
    /// "passed", or what went wrong.
    pub verdict: String,
    /// The run's directory and its console log.
    pub run_dir: PathBuf,
    pub console_log: PathBuf,
    /// What the modules under development made the kernel say (and the
    /// loader's own complaints), from the console.
    pub module_log: Vec<String>,
}

/// `result.json` of a run.
#[derive(Serialize)]
struct ResultFile<'a> {
    spec: &'a str,
    passed: bool,
    verdict: &'a str,
    kind: &'a str,
    release: &'a Option<String>,
    build_release: &'a str,
    loaders: Vec<ResultLoader<'a>>,
    script_exit: Option<i32>,
    boot_s: Option<f64>,
    done_s: Option<f64>,
    total_s: f64,
    kvm: bool,
    command: &'a [String],
    console_log: String,
}

#[derive(Serialize)]
struct ResultLoader<'a> {
    name: &'a str,
    load: Option<i32>,
    unload: Option<i32>,
}

/// Boot `req.entry` in a new run directory of its test directory: write
/// the initramfs, boot, judge, and write `result.json`.
pub fn boot(
    store: &kforge_store::Store,
    req: &BootRequest<'_>,
    announce: &mut dyn FnMut(&BootStart<'_>),
) -> Result<BootReport, Error> {
    let manifest = Manifest::read(req.entry).map_err(|e| Error::Boot(e.to_string()))?;
    let image = manifest
        .image
        .as_deref()
        .map(|i| req.entry.join(i))
        .ok_or_else(|| {
            Error::Boot(format!(
                "{}: the entry has no kernel image",
                req.entry.display()
            ))
        })?;
    let config_path = req.entry.join("kernel/config");
    let config = std::fs::read_to_string(&config_path).map_err(|source| Error::Read {
        path: config_path,
        source,
    })?;
    let entry_name = req
        .entry
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Each run keeps its files in a directory of its own (two tests of one
    // entry may run at once): `tests/<entry>/<time>-<pid>/`, the newest
    // linked as `latest`; the oldest beyond KEEP_RUNS are removed.
    let dir = store.test_dir(&entry_name);
    let run_name = format!(
        "{}-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis()),
        std::process::id()
    );
    let run_dir = dir.join(&run_name);
    std::fs::create_dir_all(&run_dir).map_err(|source| Error::Write {
        path: run_dir.clone(),
        source,
    })?;
    let console_log = run_dir.join("console.log");
    let outcome = prepare_and_boot(req, &run_dir, &config, &image, &console_log, announce)?;
    let report = judge(
        req.label,
        manifest.kernel_release,
        outcome,
        run_dir,
        console_log,
    )?;
    keep_latest(&dir, &run_name);
    Ok(report)
}

/// The loader of the modules under development, written into
/// `dir/module-loader`: the modules and the scripts of
/// [`kforge_boot::guest::module_loader_scripts`].
fn module_loader(dir: &Path, modules: &[(PathBuf, String)]) -> Result<Loader, Error> {
    let host = dir.join("module-loader");
    let write = |path: PathBuf, data: &[u8]| {
        std::fs::write(&path, data).map_err(|source| Error::Write { path, source })
    };
    std::fs::create_dir_all(&host).map_err(|source| Error::Write {
        path: host.clone(),
        source,
    })?;
    let mut files = Vec::new();
    for (ko, args) in modules {
        let name = ko
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let data = std::fs::read(ko).map_err(|source| Error::Read {
            path: ko.clone(),
            source,
        })?;
        write(host.join(&name), &data)?;
        files.push((name, args.clone()));
    }
    let (load, unload) = kforge_boot::guest::module_loader_scripts(&files);
    write(host.join("load.sh"), load.as_bytes())?;
    write(host.join("unload.sh"), unload.as_bytes())?;
    Ok(Loader {
        name: "module".into(),
        guest_dir: format!("{LOADER_PREFIX}/module"),
        host_dir: Some(host),
    })
}

/// Write the initramfs into `dir` and boot.
fn prepare_and_boot(
    req: &BootRequest<'_>,
    dir: &Path,
    config: &str,
    image: &Path,
    console_log: &Path,
    announce: &mut dyn FnMut(&BootStart<'_>),
) -> Result<Outcome, Error> {
    let label = req.label;
    let script = match req.test.and_then(|t| t.script.as_ref()) {
        None => "exit 0\n".to_string(),
        Some(TestScript::Inline(s)) => s.clone(),
        Some(TestScript::File(f)) => std::fs::read_to_string(f).map_err(|e| {
            Error::Boot(format!("{label}: [test] script file {}: {e}", f.display()))
        })?,
    };
    let mut plan = GuestPlan::new(script);
    for name in req.loaders {
        let host = req.entry.join("loaders").join(name);
        if !host.join("load.sh").is_file() {
            return Err(Error::Boot(format!(
                "{}: no loader {name} (loaders/{name}/load.sh); the kernel has MODULES={}",
                req.entry.display(),
                config_value(config, "MODULES")
            )));
        }
        plan.loaders.push(Loader {
            name: name.clone(),
            guest_dir: format!("{LOADER_PREFIX}/{name}"),
            host_dir: Some(host),
        });
    }
    if !req.modules.is_empty() {
        plan.loaders.push(module_loader(dir, req.modules)?);
    }
    let mut img = kforge_boot::guest::test_initramfs(req.busybox, &plan)
        .map_err(|e| Error::Boot(e.to_string()))?;
    for (guest, host) in req.test.map_or(&[][..], |t| &t.files[..]) {
        img.file_from_host(guest, host)
            .map_err(|e| Error::Boot(format!("{label}: [test] files: {e}")))?;
    }
    let comp = compression(config);
    let initramfs = dir.join("initramfs.cpio");
    img.write_file(&initramfs, comp)
        .map_err(|e| Error::Boot(e.to_string()))?;

    let mut opts = RunOptions::new(req.arch, image, &initramfs, console_log);
    opts.qemu = Some(req.qemu.clone());
    if let Some(t) = req.test {
        opts.memory_mib = t.memory_mib;
        opts.timeout = Duration::from_secs(t.timeout_s.into());
        opts.append = t.append.clone();
    }
    opts.verbose = req.verbose;
    opts.kvm = req.kvm;
    announce(&BootStart {
        entry: req.entry,
        arch: req.arch,
        memory_mib: opts.memory_mib,
        timeout: opts.timeout,
        compression: comp,
    });
    kforge_boot::run(&opts, &plan.nonce).map_err(|e| Error::Boot(e.to_string()))
}

/// Judge a run and write its `result.json`.
fn judge(
    label: &str,
    build_release: String,
    o: Outcome,
    run_dir: PathBuf,
    console_log: PathBuf,
) -> Result<BootReport, Error> {
    let mut passed = o.status.passed();
    let mut verdict = if passed {
        "passed".to_string()
    } else {
        o.status.to_string()
    };
    let guest_release = o.release.clone().unwrap_or_default();
    if passed && guest_release != build_release {
        passed = false;
        verdict = format!("the guest runs {guest_release:?}, the build made {build_release:?}");
    }
    let result = ResultFile {
        spec: label,
        passed,
        verdict: &verdict,
        kind: o.status.kind(),
        release: &o.release,
        build_release: &build_release,
        loaders: o
            .loaders
            .iter()
            .map(|l| ResultLoader {
                name: &l.name,
                load: l.load,
                unload: l.unload,
            })
            .collect(),
        script_exit: o.script_exit,
        boot_s: o.boot_time.map(|d| d.as_secs_f64()),
        done_s: o.done_time.map(|d| d.as_secs_f64()),
        total_s: o.total_time.as_secs_f64(),
        kvm: o.kvm,
        command: &o.command,
        console_log: console_log.display().to_string(),
    };
    let path = run_dir.join("result.json");
    let text = serde_json::to_string_pretty(&result).unwrap_or_default() + "\n";
    kforge_fs::write_atomic(&path, text.as_bytes()).map_err(|e| Error::Write {
        path,
        source: e.source,
    })?;
    let prefix = kforge_boot::guest::MODULE_LOG_PREFIX;
    let module_log = std::fs::read(&console_log)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            l.split_once(prefix)
                .map(|(_, rest)| rest.trim_end().to_string())
        })
        .collect();
    Ok(BootReport {
        outcome: o,
        build_release,
        passed,
        verdict,
        run_dir,
        console_log,
        module_log,
    })
}

/// Runs of one entry kept in its test directory.
const KEEP_RUNS: usize = 5;

/// Point `dir/latest` at run `name` and remove the oldest runs beyond
/// [`KEEP_RUNS`].
fn keep_latest(dir: &Path, name: &str) {
    let tmp = dir.join(format!(".latest-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    if std::os::unix::fs::symlink(name, &tmp).is_ok() {
        let _ = std::fs::rename(&tmp, dir.join("latest"));
    }
    let mut runs: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.path().is_dir() && !e.file_name().to_string_lossy().starts_with('.'))
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    // A run started in the last ten minutes may still be going: kept.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let started = |r: &str| {
        r.split('-')
            .next()
            .and_then(|t| t.parse::<u128>().ok())
            .unwrap_or(0)
    };
    runs.sort_by_key(|r| started(r));
    let excess = runs.len().saturating_sub(KEEP_RUNS);
    for old in &runs[..excess] {
        if old != name && now.saturating_sub(started(old)) > 600_000 {
            let _ = std::fs::remove_dir_all(dir.join(old));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_json_not_written_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let outcome = Outcome {
            status: kforge_boot::Status::Passed,
            release: Some("6.12.0".into()),
            loaders: vec![],
            script_exit: Some(0),
            boot_time: None,
            done_time: None,
            total_time: Duration::ZERO,
            console_tail: vec![],
            kvm: false,
            kvm_fallback: None,
            command: vec![],
            qemu_exit: Some(0),
            qemu_stderr: String::new(),
        };
        // A run directory that is not there: result.json cannot be written.
        let gone = dir.path().join("gone");
        let judged = judge(
            "k.toml",
            "6.12.0".into(),
            outcome.clone(),
            gone.clone(),
            gone.join("console.log"),
        );
        let Err(e) = judged else {
            panic!("result.json was written into a directory that does not exist");
        };
        assert!(
            e.to_string().contains("result.json: cannot write it"),
            "{e}"
        );
        // Written where it can be, with the verdict.
        let r = judge(
            "k.toml",
            "6.12.0".into(),
            outcome,
            dir.path().to_path_buf(),
            dir.path().join("console.log"),
        )
        .unwrap();
        assert!(r.passed);
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("result.json")).unwrap())
                .unwrap();
        assert_eq!(v["verdict"], "passed");
        assert_eq!(v["build_release"], "6.12.0");
    }
}
