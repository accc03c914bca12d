//! The configuration targets of `scripts/kconfig/Makefile` (`make
//! olddefconfig`, `make defconfig`, `make NAME_defconfig`, ...) and the
//! arguments that Makefile gives conf for each.

use std::path::{Path, PathBuf};

use crate::env::{find_program, KernelEnv, Vars};

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

impl std::str::FromStr for Target {
    type Err = String;

    /// A target named as for make.
    fn from_str(s: &str) -> Result<Target, String> {
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
}

/// Why conf cannot be run for a target.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The configuration conf would read is not there.
    #[error("default configuration {} not found", path.display())]
    DefconfigMissing { path: PathBuf, which: Defconfig },
    /// The C compiler every Kconfig tree asks for is not in `PATH`.
    #[error("the C compiler '{cc}' (CC for ARCH={arch}) was not found in PATH")]
    CompilerNotFound {
        cc: String,
        /// The program looked for (CC's first word).
        program: String,
        arch: String,
        /// Whether `LLVM` is set, and `CROSS_COMPILE`.
        llvm: bool,
        cross_compile: String,
    },
    /// A file of a default configuration make generates (`ppc64le_defconfig`
    /// merges `le.config` into `ppc64_defconfig`) could not be read.
    #[error("{name}, which arch/{srcarch}/Makefile generates: {source}")]
    GeneratedRead {
        name: String,
        srcarch: String,
        source: std::io::Error,
    },
    /// The merged configuration could not be written.
    #[error("{}: cannot write the merged configuration: {source}", path.display())]
    WriteConfig {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Which default configuration was missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Defconfig {
    /// A file the user named.
    Given,
    /// The architecture's `KBUILD_DEFCONFIG`, which make may generate.
    ArchDefault {
        name: String,
        arch: String,
        srcarch: String,
    },
    /// `NAME_defconfig` of `arch/SRCARCH/configs/`.
    Named { srcarch: String },
}

/// conf's arguments for `target` (before the Kconfig file), as
/// `scripts/kconfig/Makefile` passes them; `defconfig_file`: an absolute
/// `--defconfig-file` for `defconfig`/`savedefconfig`. Also what make
/// prints before running conf (the default configuration `defconfig` is
/// based on), if anything.
///
/// A default configuration that `arch/$SRCARCH/Makefile` generates rather
/// than ships (`ppc64le_defconfig`, the `KBUILD_DEFCONFIG` of powerpc on
/// other hosts, or named as a target) is made as make makes it: its files
/// merged as `merge_config.sh -m` merges them, written to the object
/// directory's `KCONFIG_CONFIG`, then conf `--olddefconfig`.
pub fn conf_args(
    kenv: &KernelEnv,
    target: &Target,
    defconfig_file: Option<&Path>,
    silent: bool,
) -> Result<(Vec<String>, Option<String>), TargetError> {
    let mut args: Vec<String> = Vec::new();
    let mut based_on = None;
    if silent {
        args.push("-s".to_string());
    }
    match target {
        Target::Simple(t) => args.push(format!("--{t}")),
        Target::Defconfig => {
            let file = match defconfig_file {
                Some(f) => {
                    if !f.is_file() {
                        return Err(TargetError::DefconfigMissing {
                            path: f.to_path_buf(),
                            which: Defconfig::Given,
                        });
                    }
                    f.to_string_lossy().into_owned()
                }
                None => {
                    let rel = kenv.arch_defconfig();
                    let name = kenv.get("KBUILD_DEFCONFIG").to_string();
                    if let Some(log) = generated(kenv, &rel, &name)? {
                        args.push("--olddefconfig".to_string());
                        let note =
                            format!("*** Default configuration is based on target '{name}'\n{log}");
                        return Ok((args, Some(note)));
                    }
                    check_defconfig(
                        kenv,
                        &rel,
                        Defconfig::ArchDefault {
                            name: name.clone(),
                            arch: kenv.get("ARCH").to_string(),
                            srcarch: kenv.get("SRCARCH").to_string(),
                        },
                    )?;
                    based_on = Some(format!("*** Default configuration is based on '{name}'"));
                    rel
                }
            };
            args.push(format!("--defconfig={file}"));
        }
        Target::Named(name) => {
            let rel = kenv.named_defconfig(name);
            if let Some(log) = generated(kenv, &rel, name)? {
                args.push("--olddefconfig".to_string());
                return Ok((args, Some(log)));
            }
            let which = Defconfig::Named {
                srcarch: kenv.get("SRCARCH").to_string(),
            };
            check_defconfig(kenv, &rel, which)?;
            args.push(format!("--defconfig={rel}"));
        }
        Target::SaveDefconfig => {
            let out = match defconfig_file {
                Some(f) => f.to_string_lossy().into_owned(),
                None => "defconfig".to_string(),
            };
            args.push(format!("--savedefconfig={out}"));
        }
    }
    Ok((args, based_on))
}

/// When `rel` is no file and `name` a default configuration the arch
/// Makefile generates: its merged `.config` written where conf reads it,
/// and what `merge_config.sh` prints.
fn generated(kenv: &KernelEnv, rel: &str, name: &str) -> Result<Option<String>, TargetError> {
    if name.is_empty()
        || kenv.abs_objtree.join(rel).is_file()
        || kenv.abs_srctree.join(rel).is_file()
    {
        return Ok(None);
    }
    let srcarch = kenv.get("SRCARCH");
    // mips' board fragments need an olddefconfig between merges: only the
    // declaration's `base = "defconfig"` (kforge-resolve) follows them.
    let Some(g) = crate::defconfigs::generated_defconfig(&kenv.abs_srctree, srcarch, name)
        .filter(|g| g.boards.is_empty())
    else {
        return Ok(None);
    };
    let merged =
        g.merge(&kenv.abs_srctree, srcarch)
            .map_err(|source| TargetError::GeneratedRead {
                name: name.to_string(),
                srcarch: srcarch.to_string(),
                source,
            })?;
    let path = kenv.abs_objtree.join(kenv.get("KCONFIG_CONFIG"));
    std::fs::write(&path, &merged.text).map_err(|source| TargetError::WriteConfig {
        path: path.clone(),
        source,
    })?;
    let mut log = merged.log.join("\n");
    log.push_str(&format!(
        "\n#\n# merged configuration written to {} (needs make)\n#",
        kenv.get("KCONFIG_CONFIG")
    ));
    Ok(Some(log))
}

/// The configuration conf is told to read must exist (conf looks for it in
/// the object directory, then in the tree).
fn check_defconfig(kenv: &KernelEnv, rel: &str, which: Defconfig) -> Result<(), TargetError> {
    if kenv.abs_objtree.join(rel).is_file() || kenv.abs_srctree.join(rel).is_file() {
        return Ok(());
    }
    Err(TargetError::DefconfigMissing {
        path: kenv.abs_srctree.join(rel),
        which,
    })
}

/// Every Kconfig tree asks the C compiler who it is and stops ("Sorry, this
/// C compiler is not supported") when it does not answer: an error when
/// `CC` is not found in `env`'s `PATH`.
pub fn check_compiler(kenv: &KernelEnv, env: &Vars) -> Result<(), TargetError> {
    let cc = kenv.get("CC");
    let prog = cc.split_whitespace().next().unwrap_or("");
    let path = env.get("PATH").map_or("", String::as_str);
    if find_program(prog, path, &kenv.abs_objtree).is_some() {
        return Ok(());
    }
    Err(TargetError::CompilerNotFound {
        cc: cc.to_string(),
        program: prog.to_string(),
        arch: kenv.get("ARCH").to_string(),
        llvm: kenv.vars.contains_key("LLVM"),
        cross_compile: kenv.get("CROSS_COMPILE").to_string(),
    })
}
