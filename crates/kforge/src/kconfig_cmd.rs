//! `kforge kconfig`: configure a kernel tree the way `make ARCH=... TARGET`
//! does, without make. The environment make would export is derived by
//! [`kforge_tree::env`], then the same engine as `kforge conf` runs in the
//! object directory with exactly the arguments the kernel's
//! scripts/kconfig/Makefile passes for TARGET.

use std::path::{Path, PathBuf};

use kforge_pipeline::conf::{self as conf_cmd, ConfEnv, ConfExtras};
use kforge_tree::env::{self as kernel_env, KernelEnv, KernelEnvError, Request, Vars};

/// The targets of scripts/kconfig/Makefile that just run conf with
/// `--TARGET`.
const SIMPLE_TARGETS: &[&str] = &[
    "oldconfig",
    "olddefconfig",
    "syncconfig",
    "allnoconfig",
    "allyesconfig",
    "allmodconfig",
    "alldefconfig",
    "randconfig",
    "listnewconfig",
    "helpnewconfig",
    "yes2modconfig",
    "mod2yesconfig",
    "mod2noconfig",
];

/// A configuration target, named as for make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `olddefconfig`, `allnoconfig`, ...: conf `--TARGET`.
    Simple(String),
    /// `defconfig`: the arch's default configuration, or `--defconfig-file`.
    Defconfig,
    /// `savedefconfig`: write a minimal `defconfig` (or `--defconfig-file`).
    SaveDefconfig,
    /// `NAME_defconfig`: arch/$(SRCARCH)/configs/NAME_defconfig.
    Named(String),
}

fn parse_target(s: &str) -> Result<Target, String> {
    match s {
        "defconfig" => Ok(Target::Defconfig),
        "savedefconfig" => Ok(Target::SaveDefconfig),
        _ if SIMPLE_TARGETS.contains(&s) => Ok(Target::Simple(s.to_string())),
        _ if s.ends_with("_defconfig") && !s.contains('/') => Ok(Target::Named(s.to_string())),
        _ => Err(format!(
            "unknown target; expected one of: defconfig, savedefconfig, {}, or NAME_defconfig \
             (a file in arch/$SRCARCH/configs/)",
            SIMPLE_TARGETS.join(", ")
        )),
    }
}

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
        value_parser = parse_target,
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
    #[error("{}", env_message(.0))]
    Env(#[from] KernelEnvError),
    #[error("the C compiler '{cc}' (CC for ARCH={arch}) was not found in PATH\n  hint: {hint}")]
    CompilerNotFound {
        cc: String,
        arch: String,
        hint: String,
    },
    #[error("default configuration {} not found\n  hint: {hint}", path.display())]
    DefconfigMissing { path: PathBuf, hint: String },
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
    match crate::config_cmd::env_hint(&e.remedy(), crate::config_cmd::Front::Flags) {
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
    let kenv = kernel_env::derive(&req, &base)?;
    if args.print_env {
        let mut out = String::new();
        for (k, v) in &kenv.vars {
            out.push_str(&format!("{k}={v}\n"));
        }
        print!("{out}");
        return Ok(0);
    }
    let Some(target) = args.target else {
        return Err(FrontError::NoTarget);
    };
    let env = kenv.conf_env(&base);
    check_compiler(&kenv, &env)?;

    // The arguments scripts/kconfig/Makefile gives conf for the target.
    let mut conf_args: Vec<String> = Vec::new();
    if args.silent {
        conf_args.push("-s".to_string());
    }
    match &target {
        Target::Simple(t) => conf_args.push(format!("--{t}")),
        Target::Defconfig => {
            let file = match &args.defconfig_file {
                Some(f) => {
                    let f = abs(f);
                    if !f.is_file() {
                        return Err(FrontError::DefconfigMissing {
                            path: f,
                            hint: "check the path given to --defconfig-file".to_string(),
                        });
                    }
                    f.to_string_lossy().into_owned()
                }
                None => {
                    let rel = kenv.arch_defconfig();
                    let name = kenv.get("KBUILD_DEFCONFIG").to_string();
                    check_defconfig(&kenv, &rel, &format!(
                        "make builds '{name}' as a target of its own for ARCH={} (e.g. by \
                         merging config fragments), which kforge does not do; pass \
                         --defconfig-file FILE or a NAME_defconfig target that exists in arch/{}/configs/",
                        kenv.get("ARCH"),
                        kenv.get("SRCARCH")
                    ))?;
                    if !args.silent {
                        println!("*** Default configuration is based on '{name}'");
                    }
                    rel
                }
            };
            conf_args.push(format!("--defconfig={file}"));
        }
        Target::Named(name) => {
            let rel = kenv.named_defconfig(name);
            check_defconfig(
                &kenv,
                &rel,
                &format!(
                    "see the files in arch/{}/configs/ of the tree for the available NAME_defconfig targets",
                    kenv.get("SRCARCH")
                ),
            )?;
            conf_args.push(format!("--defconfig={rel}"));
        }
        Target::SaveDefconfig => {
            let out = match &args.defconfig_file {
                Some(f) => abs(f).to_string_lossy().into_owned(),
                None => "defconfig".to_string(),
            };
            conf_args.push(format!("--savedefconfig={out}"));
        }
    }
    conf_args.push(kenv.kconfig.clone());

    // conf works in the object directory, like make's `-C $(objtree)`.
    if objdir != kernel_env::canonical(&cwd) {
        std::env::set_current_dir(&objdir).map_err(|source| FrontError::Objdir {
            path: objdir.clone(),
            source,
        })?;
    }
    let probe_cache = !args.no_probe_cache
        && std::env::var("KFORGE_NO_PROBE_CACHE").map_or(true, |v| v.is_empty() || v == "0");
    Ok(conf_cmd::run_with_env(
        "conf",
        &conf_args,
        ConfExtras { probe_cache },
        &ConfEnv::Explicit(env),
    ))
}

/// The configuration conf is told to read must exist (conf looks for it in
/// the object directory, then in the tree).
fn check_defconfig(kenv: &KernelEnv, rel: &str, hint: &str) -> Result<(), FrontError> {
    if kenv.abs_objtree.join(rel).is_file() || kenv.abs_srctree.join(rel).is_file() {
        return Ok(());
    }
    Err(FrontError::DefconfigMissing {
        path: kenv.abs_srctree.join(rel),
        hint: hint.to_string(),
    })
}

/// Every Kconfig tree asks the C compiler who it is and stops ("Sorry, this
/// C compiler is not supported") when it does not answer; say why earlier.
fn check_compiler(kenv: &KernelEnv, env: &Vars) -> Result<(), FrontError> {
    let cc = kenv.get("CC");
    let prog = cc.split_whitespace().next().unwrap_or("");
    let path = env.get("PATH").map_or("", String::as_str);
    if kernel_env::find_program(prog, path, &kenv.abs_objtree).is_some() {
        return Ok(());
    }
    let arch = kenv.get("ARCH").to_string();
    let hint = if kenv.vars.contains_key("LLVM") {
        "install clang and the LLVM tools, or point --llvm at them (--llvm=-VERSION or --llvm=/path/to/llvm/bin/)".to_string()
    } else if !kenv.get("CROSS_COMPILE").is_empty() {
        format!(
            "install the {arch} cross toolchain providing {prog}, or fix --cross-compile (now '{}'; it is prepended to gcc, ld, ...)",
            kenv.get("CROSS_COMPILE")
        )
    } else {
        "install gcc, pass --cross-compile PREFIX for a cross toolchain, or --llvm to use clang"
            .to_string()
    };
    Err(FrontError::CompilerNotFound {
        cc: cc.to_string(),
        arch,
        hint,
    })
}
