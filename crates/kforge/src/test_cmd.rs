//! `kforge test`: boot each declaration's kernel in QEMU and check it.
//!
//! For each declaration, cheapest checks first so a missing tool costs no
//! build: the QEMU binary and a static busybox for the guest (errors name
//! the Debian package); readiness (the resolved configuration has what a
//! boot test needs; a miss is a warning with the engine's explanation);
//! the build through the store, reusing that one resolution; the boot
//! (kforge-pipeline's boot stage). A table sums up; `--junit` writes JUnit
//! XML.

use std::path::{Path, PathBuf};
use std::time::Duration;

use kforge_boot::junit::TestCase;
use kforge_boot::{KvmMode, Status};
use kforge_pipeline::boot::BootReport;
use kforge_pipeline::plan::BuildOptions;
use kforge_pipeline::run::{self, BuildRequest, TestRequest, Tested};
use kforge_pipeline::Error;

use kforge_diagnostics::progress::Progress;

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
    /// A module directory under development (repeatable): built against the
    /// kernel, inserted after the loaders and removed; fails on an insert or
    /// removal that fails, or a taint other than an out-of-tree module's
    #[arg(long = "module", value_name = "DIR")]
    pub modules: Vec<PathBuf>,
    /// Arguments of a --module module, as NAME:ARGS (`*:ARGS` for all)
    #[arg(long, value_name = "NAME:ARGS", value_parser = module_args)]
    pub module_args: Vec<(String, String)>,
}

fn module_args(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((m, a)) if !m.is_empty() && !a.contains(['\n', '\0']) => Ok((m.into(), a.into())),
        _ => Err("expected NAME:ARGS on one line, e.g. hello:who=world".into()),
    }
}

/// One declaration's result.
struct Row {
    spec: String,
    release: String,
    boot: Option<Duration>,
    loaders: String,
    script: String,
    verdict: String,
    passed: bool,
    case: TestCase,
}

impl Row {
    /// A row for a declaration that was not booted.
    fn unbooted(label: &str, loaders: &str, verdict: &str, passed: bool, case: TestCase) -> Row {
        Row {
            spec: label.to_string(),
            release: "-".into(),
            boot: None,
            loaders: loaders.to_string(),
            script: "-".into(),
            verdict: verdict.to_string(),
            passed,
            case,
        }
    }
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
                let msg = if msg.is_empty() {
                    "the build failed".into()
                } else {
                    msg
                };
                let case = TestCase::error("kforge.test", &label, msg);
                Row::unbooted(&label, "-", "error", false, case)
            }
        };
        rows.push(row);
    }
    out!("{}", table(&rows));
    if let Some(path) = &args.junit {
        let cases: Vec<_> = rows.iter().map(|r| r.case.clone()).collect();
        if let Err(e) = kforge_boot::junit::write_file(path, "kforge test", &cases) {
            eprintln!("error: {e}");
            return 1;
        }
    }
    i32::from(!rows.iter().all(|r| r.passed))
}

fn table(rows: &[Row]) -> String {
    let head = ["spec", "release", "boot", "loaders", "script", "result"];
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let boot = r
                .boot
                .map_or("-".into(), |d| format!("{:.2}s", d.as_secs_f64()));
            let cells = [
                &r.spec, &r.release, &boot, &r.loaders, &r.script, &r.verdict,
            ];
            cells.map(String::clone).to_vec()
        })
        .collect();
    kforge_diagnostics::table::columns(&head, &cells)
}

fn test_one(args: &TestArgs, spec_path: &Path) -> Result<Row, String> {
    let label = spec_path.display().to_string();
    let failed = |e: Error| match e {
        Error::Make { .. } | Error::NotFixedPoint { .. } | Error::Modules { .. } => {
            eprint!("{}", kforge_diagnostics::errors::error(&e));
            format!("{label}: the build failed")
        }
        Error::Boot(msg) => msg,
        e => {
            eprint!("{}", kforge_diagnostics::errors::error(&e));
            String::new()
        }
    };
    let spec = kforge_declaration::Spec::load(spec_path).map_err(|e| failed(e.into()))?;
    let stem = spec_path.file_stem().unwrap_or_default().to_string_lossy();
    let link = if args.specs.len() > 1 {
        format!("result-{stem}")
    } else {
        "result".into()
    };
    let out_link = PathBuf::from(link);
    let opts = BuildOptions {
        jobs: args.jobs,
        ..Default::default()
    };
    let build = BuildRequest {
        spec: &spec,
        opts: &opts,
        out_link: &out_link,
        dry_run: args.dry_run,
        probe_cache: true,
    };
    let test = TestRequest {
        label: &label,
        tree: args.tree.as_deref(),
        qemu: args.qemu.as_deref(),
        busybox: args.busybox.as_deref(),
        verbose: args.verbose,
        kvm: if args.no_kvm {
            KvmMode::Off
        } else {
            KvmMode::Auto
        },
        progress: crate::progress(),
        modules: &args.modules,
        module_args: &args.module_args,
    };
    let store = kforge_store::Store::new(kforge_store::default_cache_root());
    let mut report = Progress::for_test(&label);
    match run::test_declaration(&store, &build, &test, &mut report).map_err(failed)? {
        Tested::Booted(r) => {
            let row = row(&label, &r);
            eprintln!("kforge: console log: {}", r.console_log.display());
            Ok(row)
        }
        Tested::DryRun { loaders, plan } => {
            crate::build_cmd::print_plan(&store, &plan);
            let case = TestCase::noted("kforge.test", &label, "dry run: nothing built or booted");
            let names = loaders.join(" ");
            Ok(Row::unbooted(&label, &names, "dry run", true, case))
        }
    }
}

/// Sum up one run: print what failed with the console lines that show it,
/// and make the table row.
fn row(label: &str, r: &BootReport) -> Row {
    let o = &r.outcome;
    let mut case = kforge_boot::junit::TestCase::from_outcome("kforge.test", label, o);
    if !r.passed && o.status.passed() {
        case.failure = Some(kforge_boot::junit::Failure {
            kind: "release".into(),
            message: r.verdict.clone(),
            text: o.console_tail.join("\n"),
        });
    }
    if let Some(why) = &o.kvm_fallback {
        eprintln!("kforge: note: without KVM: {why}");
    }
    for l in &r.module_log {
        eprintln!("kforge: module: {l}");
    }
    if !r.passed {
        eprintln!("error: {label}: {}", r.verdict);
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
        eprintln!("  console log: {}", r.console_log.display());
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
    Row {
        spec: label.to_string(),
        release: o.release.clone().unwrap_or_else(|| "-".into()),
        boot: o.done_time,
        loaders,
        script,
        verdict: r.verdict.clone(),
        passed: r.passed,
        case,
    }
}
