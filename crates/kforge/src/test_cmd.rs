//! `kforge test`: boot each declaration's kernel in QEMU and check it.
//!
//! For each declaration, cheapest checks first so a missing tool costs no
//! build:
//!
//! 1. the QEMU binary of its architecture and a static busybox for the
//!    guest (errors name the Debian package);
//! 2. readiness: the resolved configuration has what a boot test needs
//!    ([`boot_needs`]); a miss is a warning with the engine's explanation;
//! 3. the build, through the store (`kforge build`: a hit when built);
//! 4. an initramfs (crates/kforge-boot): busybox, `/init`, the `[test]` script
//!    and files, and the entry's loaders (`loaders/NAME`, at
//!    `/lib/kforge/loaders/NAME` in the guest), compressed as the kernel's
//!    configuration allows;
//! 5. the boot: the guest runs the loaders, the script and the unloaders
//!    and reports on the serial console; the release it runs must be the
//!    build's.
//!
//! Each run's initramfs, console log and `result.json` stay in a directory
//! of its own in the entry's test directory (`<cache>/kforge/tests/<entry>/
//! <time>-<pid>/`, `latest` linking the newest; removed by `kforge gc` with
//! the entry). A table sums up; `--junit` writes JUnit XML.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kforge_boot::{Arch, Compression, GuestPlan, KvmMode, Loader, Outcome, RunOptions, Status};
use serde_json::json;

use crate::build_cmd::{self, BuildArgs, Built};
use crate::config_cmd::{self, config_value};

/// Boot the kernels that kernel.toml files declare, in QEMU, and check them.
#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// The declarations (each built first when its store entry is missing)
    #[arg(value_name = "KERNEL_TOML", required = true)]
    pub specs: Vec<PathBuf>,
    /// An unpacked kernel tree to use instead of the declared source
    #[arg(long, value_name = "DIR")]
    pub tree: Option<PathBuf>,
    /// Write the results as JUnit XML
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Stream the guest's console to stderr
    #[arg(short, long)]
    pub verbose: bool,
    /// Never use KVM (by default KVM is used when /dev/kvm works)
    #[arg(long)]
    pub no_kvm: bool,
    /// The statically linked busybox for the guest (default: the host's,
    /// from Debian's busybox-static, when it suits the architecture)
    #[arg(long, value_name = "PATH")]
    pub busybox: Option<PathBuf>,
    /// The QEMU binary (default: `qemu-system-<arch>` from PATH)
    #[arg(long, value_name = "PATH")]
    pub qemu: Option<PathBuf>,
    /// Check the tools and the configuration, print the build's store key;
    /// build and boot nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Parallel make jobs for builds
    #[arg(short = 'j', long, value_name = "N")]
    pub jobs: Option<usize>,
}

/// Where an entry's loaders are in the guest (as the service files of
/// `kforge build` expect them on a target).
const GUEST_LOADERS: &str = build_cmd::LOADER_PREFIX;

/// One declaration's result.
struct Row {
    spec: String,
    release: String,
    boot: Option<Duration>,
    loaders: String,
    script: String,
    verdict: String,
    passed: bool,
    case: kforge_boot::junit::TestCase,
}

/// Run the command; returns the exit code.
pub fn run(args: TestArgs) -> i32 {
    let mut rows = Vec::new();
    for spec in &args.specs {
        let label = spec.display().to_string();
        let row = match test_one(&args, spec) {
            Ok(r) => r,
            Err(msg) => {
                if !msg.is_empty() {
                    eprintln!("error: {msg}");
                }
                Row {
                    spec: label.clone(),
                    release: "-".into(),
                    boot: None,
                    loaders: "-".into(),
                    script: "-".into(),
                    verdict: "error".into(),
                    passed: false,
                    case: kforge_boot::junit::TestCase {
                        name: label.clone(),
                        classname: "kforge.test".into(),
                        time: Duration::ZERO,
                        failure: Some(kforge_boot::junit::Failure {
                            kind: "error".into(),
                            message: if msg.is_empty() {
                                "the build failed".into()
                            } else {
                                msg
                            },
                            text: String::new(),
                        }),
                        system_out: None,
                    },
                }
            }
        };
        rows.push(row);
    }
    print!("{}", table(&rows));
    if let Some(path) = &args.junit {
        let cases: Vec<_> = rows.iter().map(|r| r.case.clone()).collect();
        if let Err(e) = kforge_boot::junit::write_file(path, "kforge test", &cases) {
            eprintln!("error: {e}");
            return 1;
        }
    }
    if rows.iter().all(|r| r.passed) {
        0
    } else {
        1
    }
}

fn table(rows: &[Row]) -> String {
    let head = ["spec", "release", "boot", "loaders", "script", "result"];
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            [
                r.spec.clone(),
                r.release.clone(),
                r.boot
                    .map_or("-".into(), |d| format!("{:.2}s", d.as_secs_f64())),
                r.loaders.clone(),
                r.script.clone(),
                r.verdict.clone(),
            ]
        })
        .collect();
    let mut width = head.map(str::len);
    for c in &cells {
        for (w, s) in width.iter_mut().zip(c) {
            *w = (*w).max(s.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, c: &[&str]| {
        let mut l = String::new();
        for (i, (s, w)) in c.iter().zip(width).enumerate() {
            if i + 1 == c.len() {
                l.push_str(s);
            } else {
                let _ = write!(l, "{s:<w$}  ");
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&mut out, &head);
    for c in &cells {
        line(&mut out, &c.each_ref().map(String::as_str));
    }
    out
}

/// What a boot test needs from the configuration: (symbol, what for).
/// Checked before building; each miss is a warning with the engine's
/// explanation.
fn boot_needs(arch: Arch, loaders: bool) -> Vec<(&'static str, &'static str)> {
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

/// The readiness warnings of a resolved declaration.
fn readiness(r: &mut config_cmd::Resolved, arch: Arch, loaders: bool) -> Vec<String> {
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

/// The initramfs compression the kernel can unpack, cheapest first.
fn compression(config: &str) -> Compression {
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

/// The QEMU binary for `arch`: `--qemu`, else the one on PATH; missing,
/// an error naming its package.
fn find_qemu(args: &TestArgs, arch: Arch) -> Result<PathBuf, String> {
    if let Some(q) = &args.qemu {
        return Ok(q.clone());
    }
    let path = std::env::var("PATH").unwrap_or_default();
    kforge_store::which(arch.qemu_binary(), &path).ok_or_else(|| {
        format!(
            "{} is not installed (it boots {arch} kernels): apt-get install {}",
            arch.qemu_binary(),
            arch.qemu_package()
        )
    })
}

/// The guest's static busybox: `--busybox` (checked), else the host's
/// when it suits `arch`.
fn guest_busybox(args: &TestArgs, arch: Arch) -> Result<PathBuf, String> {
    match &args.busybox {
        Some(b) => {
            kforge_boot::check_busybox(b, arch).map_err(|e| e.to_string())?;
            Ok(b.clone())
        }
        None => kforge_boot::find_busybox(arch).map_err(|e| e.to_string()),
    }
}

fn test_one(args: &TestArgs, spec_path: &Path) -> Result<Row, String> {
    let label = spec_path.display().to_string();
    let spec = match kforge_declaration::Spec::load(spec_path) {
        Ok(s) => s,
        Err(e) => {
            eprint!(
                "{}",
                config_cmd::render_error(&config_cmd::ConfigError::from(e))
            );
            return Err(String::new());
        }
    };
    let mut arch = Arch::parse(&spec.build.arch).ok_or_else(|| {
        format!(
            "{label}: kforge test boots x86_64, arm64 and mips kernels, not {}",
            spec.build.arch
        )
    })?;
    let test = spec.test.clone();
    // ---- tools, before anything is built (MIPS: the byte order, hence
    // the QEMU binary and the busybox, is known once the configuration is)
    let mut qemu = find_qemu(args, arch)?;
    let mut busybox = match arch {
        Arch::Mips | Arch::Mipsel => None,
        _ => Some(guest_busybox(args, arch)?),
    };
    // The loaders to run, in order.
    let loader_names: Vec<String> = match test.as_ref().and_then(|t| t.loaders.as_ref()) {
        Some(l) => l.iter().map(|(n, _)| n.clone()).collect(),
        None => spec.modules.keys().cloned().collect(),
    };

    // ---- readiness
    let tree = build_cmd::source_tree(&spec, args.tree.as_deref()).map_err(|e| {
        build_cmd::report_error(&e);
        String::new()
    })?;
    match config_cmd::resolve_spec(&spec, &tree.tree, true) {
        Ok(mut r) => {
            let little = config_value(&r.res.config, "CPU_LITTLE_ENDIAN") == "y";
            if arch.with_byte_order(little) != arch {
                arch = arch.with_byte_order(little);
                qemu = find_qemu(args, arch)?;
            }
            for w in readiness(&mut r, arch, !loader_names.is_empty()) {
                eprintln!("warning: {label}: {w}");
            }
        }
        Err(e) => {
            eprint!("{}", config_cmd::render_error(&e));
            return Err(String::new());
        }
    }
    let busybox = match busybox.take() {
        Some(b) => b,
        None => guest_busybox(args, arch)?,
    };

    // ---- the build
    let many = args.specs.len() > 1;
    let out_link = if many {
        PathBuf::from(format!(
            "result-{}",
            spec_path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        ))
    } else {
        PathBuf::from("result")
    };
    let bargs = BuildArgs {
        spec: spec_path.to_path_buf(),
        tree: args.tree.clone(),
        dry_run: args.dry_run,
        jobs: args.jobs,
        keep_going: false,
        out_link,
        strip_modules: false,
        vmlinux: false,
        no_probe_cache: false,
    };
    let entry = match build_cmd::build_spec_from(&bargs, &spec, tree) {
        Ok(Built::Entry(e)) => e,
        Ok(Built::DryRun) => {
            return Ok(Row {
                spec: label.clone(),
                release: "-".into(),
                boot: None,
                loaders: loader_names.join(" "),
                script: "-".into(),
                verdict: "dry run".into(),
                passed: true,
                case: kforge_boot::junit::TestCase {
                    name: label,
                    classname: "kforge.test".into(),
                    time: Duration::ZERO,
                    failure: None,
                    system_out: Some("dry run: nothing built or booted".into()),
                },
            })
        }
        Ok(Built::Failed(_)) => return Err(format!("{label}: the build failed")),
        Err(e) => {
            build_cmd::report_error(&e);
            return Err(String::new());
        }
    };
    let manifest: serde_json::Value = std::fs::read_to_string(entry.join("manifest.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .ok_or_else(|| format!("{}: no readable manifest.json", entry.display()))?;
    let release = manifest["kernel_release"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let image = manifest["image"]
        .as_str()
        .map(|i| entry.join(i))
        .ok_or_else(|| format!("{}: the entry has no kernel image", entry.display()))?;
    let config = std::fs::read_to_string(entry.join("kernel/config")).unwrap_or_default();

    // ---- the initramfs
    let entry_name = entry
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let store = kforge_store::Store::new(kforge_store::default_cache_root());
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
    std::fs::create_dir_all(&run_dir)
        .map_err(|e| format!("creating {}: {e}", run_dir.display()))?;
    let outcome = prepare_and_boot(
        args,
        &test,
        arch,
        qemu,
        &busybox,
        &entry,
        &run_dir,
        &loader_names,
        &config,
        &image,
        &label,
    )?;
    let row = report(
        &label,
        &release,
        &outcome,
        &run_dir.join("console.log"),
        &run_dir,
    );
    eprintln!(
        "kforge: console log: {}",
        run_dir.join("console.log").display()
    );
    keep_latest(&dir, &run_name);
    Ok(row)
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

/// Write the initramfs into `dir` and boot: the outcome, the console log
/// in `dir/console.log`.
#[allow(clippy::too_many_arguments)]
fn prepare_and_boot(
    args: &TestArgs,
    test: &Option<kforge_declaration::Test>,
    arch: Arch,
    qemu: PathBuf,
    busybox: &Path,
    entry: &Path,
    dir: &Path,
    loader_names: &[String],
    config: &str,
    image: &Path,
    label: &str,
) -> Result<Outcome, String> {
    let script = match test.as_ref().and_then(|t| t.script.as_ref()) {
        None => "exit 0\n".to_string(),
        Some(kforge_declaration::TestScript::Inline(s)) => s.clone(),
        Some(kforge_declaration::TestScript::File(f)) => std::fs::read_to_string(f)
            .map_err(|e| format!("{label}: [test] script file {}: {e}", f.display()))?,
    };
    let mut plan = GuestPlan::new(script);
    for name in loader_names {
        let host = entry.join("loaders").join(name);
        if !host.join("load.sh").is_file() {
            return Err(format!(
                "{}: no loader {name} (loaders/{name}/load.sh); the kernel has MODULES={}",
                entry.display(),
                config_value(config, "MODULES")
            ));
        }
        plan.loaders.push(Loader {
            name: name.clone(),
            guest_dir: format!("{GUEST_LOADERS}/{name}"),
            host_dir: Some(host),
        });
    }
    let mut img = kforge_boot::guest::test_initramfs(busybox, &plan).map_err(|e| e.to_string())?;
    for (guest, host) in test.as_ref().map_or(&[][..], |t| &t.files[..]) {
        img.file_from_host(guest, host)
            .map_err(|e| format!("{label}: [test] files: {e}"))?;
    }
    let comp = compression(config);
    let initramfs = dir.join("initramfs.cpio");
    img.write_file(&initramfs, comp)
        .map_err(|e| e.to_string())?;

    // ---- the boot
    let console_log = dir.join("console.log");
    let mut opts = RunOptions::new(arch, image, &initramfs, &console_log);
    opts.qemu = Some(qemu);
    if let Some(t) = &test {
        opts.memory_mib = t.memory_mib;
        opts.timeout = Duration::from_secs(t.timeout_s.into());
        opts.append = t.append.clone();
    }
    opts.verbose = args.verbose;
    opts.kvm = if args.no_kvm {
        KvmMode::Off
    } else {
        KvmMode::Auto
    };
    eprintln!(
        "kforge: booting {} ({arch}, {} MiB, timeout {}s, initramfs {:?})",
        entry.display(),
        opts.memory_mib,
        opts.timeout.as_secs(),
        comp
    );
    kforge_boot::run(&opts, &plan.nonce).map_err(|e| e.to_string())
}

/// Sum up one run: print what failed with the console lines that show it,
/// save `result.json`, and make the table row.
fn report(label: &str, release: &str, o: &Outcome, console_log: &Path, dir: &Path) -> Row {
    let mut case = kforge_boot::junit::TestCase::from_outcome("kforge.test", label, o);
    let mut passed = o.status.passed();
    let mut verdict = if passed {
        "passed".to_string()
    } else {
        o.status.to_string()
    };
    let guest_release = o.release.clone().unwrap_or_default();
    if passed && guest_release != release {
        passed = false;
        verdict = format!("the guest runs {guest_release:?}, the build made {release:?}");
        case.failure = Some(kforge_boot::junit::Failure {
            kind: "release".into(),
            message: verdict.clone(),
            text: o.console_tail.join("\n"),
        });
    }
    if let Some(why) = &o.kvm_fallback {
        eprintln!("kforge: note: without KVM: {why}");
    }
    if !passed {
        eprintln!("error: {label}: {verdict}");
        let lines = match &o.status {
            Status::Panic { lines } => lines,
            Status::Timeout { tail } | Status::NoDoneMarker { tail } => tail,
            _ => &o.console_tail,
        };
        for l in lines {
            eprintln!("  | {l}");
        }
        if !o.qemu_stderr.trim().is_empty() {
            eprintln!("  QEMU said: {}", o.qemu_stderr.trim());
        }
        eprintln!("  console log: {}", console_log.display());
    }
    let loaded = o.loaders.iter().filter(|l| l.load == Some(0)).count();
    let unloaded = o.loaders.iter().filter(|l| l.unload == Some(0)).count();
    let loaders = if o.loaders.is_empty() {
        "-".to_string()
    } else {
        format!("{loaded}/{} loaded, {unloaded} unloaded", o.loaders.len())
    };
    let script = match o.script_exit {
        Some(c) => format!("exit {c}"),
        None => "-".into(),
    };
    let result = json!({
        "spec": label,
        "passed": passed,
        "verdict": verdict,
        "kind": o.status.kind(),
        "release": o.release,
        "build_release": release,
        "loaders": o.loaders.iter().map(|l| json!({"name": l.name, "load": l.load, "unload": l.unload})).collect::<Vec<_>>(),
        "script_exit": o.script_exit,
        "boot_s": o.boot_time.map(|d| d.as_secs_f64()),
        "done_s": o.done_time.map(|d| d.as_secs_f64()),
        "total_s": o.total_time.as_secs_f64(),
        "kvm": o.kvm,
        "command": o.command,
        "console_log": console_log.display().to_string(),
    });
    let _ = config_cmd::write_atomic(
        &dir.join("result.json"),
        (serde_json::to_string_pretty(&result).unwrap_or_default() + "\n").as_bytes(),
    );
    Row {
        spec: label.to_string(),
        release: o.release.clone().unwrap_or_else(|| "-".into()),
        boot: o.done_time,
        loaders,
        script,
        verdict,
        passed,
        case,
    }
}
