//! `kforge kconfig`: configure a kernel tree the way `make ARCH=... TARGET`
//! does, without make. The environment make would export is derived by
//! [`kforge_tree::env`], then the same engine as `kforge conf` runs in the
//! object directory with exactly the arguments the kernel's
//! scripts/kconfig/Makefile passes for TARGET.

use std::path::{Path, PathBuf};

use kforge_pipeline::conf::{self as conf_cmd, ConfEnv, ConfExtras};
use kforge_tree::env::{self as kernel_env, KernelEnvError, Request, Vars};
use kforge_tree::targets::{self, Target, TargetError};

/// Configure a Linux source tree like `make ARCH=... TARGET` (without make).
///
/// The environment the kernel's top-level and arch Makefiles export to conf
/// (srctree, ARCH, SRCARCH, KERNELVERSION, CC, LD, CC_VERSION_TEXT, HOSTCC,
/// RUSTC, ...) is derived from the tree, the options below and the host,
/// then kforge's conf runs in the object directory. The rest of the
/// environment is passed through, as make does (KCONFIG_SEED,
/// KCONFIG_ALLCONFIG, KCONFIG_PROBABILITY, ... work as usual).
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  kforge kconfig --tree ~/linux --arch arm64 --objdir /tmp/arm64 defconfig
  kforge kconfig --arch arm --cross-compile arm-linux-gnueabihf- multi_v7_defconfig
  kforge kconfig --llvm --arch x86_64 olddefconfig
  kforge kconfig --arch riscv --print-env")]
pub struct KconfigArgs {
    /// What to do, as for make: olddefconfig, defconfig, savedefconfig,
    /// alldefconfig, allnoconfig, allyesconfig, allmodconfig, randconfig,
    /// listnewconfig, syncconfig, oldconfig, helpnewconfig, yes2modconfig,
    /// mod2yesconfig, mod2noconfig, or NAME_defconfig
    #[arg(
        value_name = "TARGET",
        value_parser = str::parse::<Target>,
        required_unless_present = "print_env"
    )]
    pub target: Option<Target>,

    /// The kernel source tree (make -C)
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub tree: PathBuf,

    /// Target architecture (make ARCH=); i386, x86_64, sparc64, parisc64 and
    /// sh64 select their arch/ directory like make does [default: $ARCH, else
    /// the host's]
    #[arg(long, value_name = "ARCH")]
    pub arch: Option<String>,

    /// Host architecture for ARCH=um (make SUBARCH=) [default: from uname -m]
    #[arg(long, value_name = "ARCH")]
    pub subarch: Option<String>,

    /// Prefix of the cross toolchain (make CROSS_COMPILE=), e.g.
    /// aarch64-linux-gnu- [default: $CROSS_COMPILE]
    #[arg(long, value_name = "PREFIX")]
    pub cross_compile: Option<String>,

    /// Use clang and the LLVM tools (make LLVM=1); --llvm=-17 adds a version
    /// suffix, --llvm=/path/to/llvm/bin/ a prefix [default: $LLVM]
    #[arg(
        long,
        value_name = "1|-SUFFIX|PREFIX/",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "1"
    )]
    pub llvm: Option<String>,

    /// Object directory conf runs in and writes to (make O=); created if
    /// missing [default: the current directory]
    #[arg(long, short = 'O', value_name = "DIR")]
    pub objdir: Option<PathBuf>,

    /// The configuration file (make KCONFIG_CONFIG=); relative to the
    /// current directory [default: $KCONFIG_CONFIG, else .config in the
    /// object directory]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// defconfig: read this file instead of the arch's default;
    /// savedefconfig: write here instead of OBJDIR/defconfig
    #[arg(long, value_name = "FILE")]
    pub defconfig_file: Option<PathBuf>,

    /// Run $(shell,...) probes directly instead of through the probe cache
    #[arg(long)]
    pub no_probe_cache: bool,

    /// Quiet: no "configuration written" messages (make -s)
    #[arg(long, short = 's')]
    pub silent: bool,

    /// Print the derived environment (VAR=value, one per line, sorted) and
    /// exit; nothing is written
    #[arg(long)]
    pub print_env: bool,
}

/// Why `kforge kconfig` could not run conf.
#[derive(Debug, thiserror::Error)]
pub enum FrontError {
    #[error("{m}", m = env_message(.0))]
    Env(#[from] KernelEnvError),
    #[error("{e}\n  hint: {hint}", e = .0, hint = kforge_diagnostics::errors::target_hint(.0))]
    Target(#[from] TargetError),
    #[error(
        "cannot create the object directory {}: {source}\n  hint: pass --objdir with a writable directory",
        path.display()
    )]
    Objdir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--defconfig-file only applies to the defconfig and savedefconfig targets")]
    DefconfigFileMisused,
    #[error("no TARGET given\n  hint: name one, e.g. olddefconfig or defconfig (see kforge kconfig --help)")]
    NoTarget,
    #[error("cannot determine the current directory: {0}")]
    Cwd(std::io::Error),
}

/// An environment error with the hint in this front's words (its flags).
fn env_message(e: &KernelEnvError) -> String {
    match kforge_diagnostics::errors::env_hint(
        &e.remedy(),
        kforge_diagnostics::errors::Front::Flags,
    ) {
        Some(h) => format!("{e}\n  hint: {h}"),
        None => e.to_string(),
    }
}

/// Run `kforge kconfig`; returns the exit code (errors are printed).
pub fn run(args: KconfigArgs) -> i32 {
    match try_run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("kforge kconfig: error: {e}");
            1
        }
    }
}

fn try_run(args: KconfigArgs) -> Result<i32, FrontError> {
    let cwd = std::env::current_dir().map_err(FrontError::Cwd)?;
    let abs = |p: &Path| kernel_env::canonical(&cwd.join(p));
    if args.defconfig_file.is_some()
        && !matches!(
            args.target,
            Some(Target::Defconfig | Target::SaveDefconfig) | None
        )
    {
        return Err(FrontError::DefconfigFileMisused);
    }
    let objdir = abs(args.objdir.as_deref().unwrap_or(Path::new(".")));
    if !args.print_env {
        std::fs::create_dir_all(&objdir).map_err(|source| FrontError::Objdir {
            path: objdir.clone(),
            source,
        })?;
    }
    let base: Vars = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    let req = Request {
        tree: args.tree.clone(),
        objdir: objdir.clone(),
        arch: args.arch.clone(),
        subarch: args.subarch.clone(),
        cross_compile: args.cross_compile.clone(),
        llvm: args.llvm.clone(),
        config: args.config.as_deref().map(abs),
    };
    let kenv = if args.no_probe_cache {
        kernel_env::derive(&req, &base, &mut kernel_env::run_tool_query)?
    } else {
        let dir = kforge_probe_cache::ProbeCache::default_dir();
        let mut queries = kforge_probe_cache::ToolQueries::new(dir);
        kernel_env::derive(&req, &base, &mut |c, e, d| queries.run(c, e, d))?
    };
    if args.print_env {
        let mut out = String::new();
        for (k, v) in &kenv.vars {
            out.push_str(&format!("{k}={v}\n"));
        }
        out!("{out}");
        return Ok(0);
    }
    let Some(target) = args.target else {
        return Err(FrontError::NoTarget);
    };
    let env = kenv.conf_env(&base);
    targets::check_compiler(&kenv, &env)?;

    // The arguments scripts/kconfig/Makefile gives conf for the target.
    let defconfig_file = args.defconfig_file.as_deref().map(abs);
    let (mut conf_args, based_on) =
        targets::conf_args(&kenv, &target, defconfig_file.as_deref(), args.silent)?;
    if let (Some(note), false) = (based_on, args.silent) {
        outln!("{note}");
    }
    conf_args.push(kenv.kconfig.clone());

    // conf works in the object directory, like make's `-C $(objtree)`.
    if objdir != kernel_env::canonical(&cwd) {
        std::env::set_current_dir(&objdir).map_err(|source| FrontError::Objdir {
            path: objdir.clone(),
            source,
        })?;
    }
    Ok(conf_cmd::run_with_env(
        "conf",
        &conf_args,
        ConfExtras::new(args.no_probe_cache),
        &ConfEnv::Explicit(env),
    ))
}
