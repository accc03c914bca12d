//! The environment the kernel's top-level Makefile hands to
//! `scripts/kconfig/conf`, derived without running make.
//!
//! `make ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- defconfig` does not just
//! run `conf`: the top Makefile (and the arch Makefile it includes) first
//! compute and export a set of variables that the Kconfig files read with
//! `$(VAR)` (`srctree`, `ARCH`, `SRCARCH`, `CC`, `LD`, `CC_VERSION_TEXT`, ...)
//! or that the probe scripts they run read from their environment (`RUSTC`,
//! `BINDGEN`, `NM`, ...). [`derive()`] reproduces that computation for
//! [`Request`], the equivalent of make's command line, and returns it as a
//! [`KernelEnv`]: the variables make would export, ready to be laid over the
//! caller's own environment (make passes its environment through too).
//!
//! What is reproduced, and from where (file names relative to the tree):
//!
//! * `Makefile`: `VERSION`, `PATCHLEVEL`, `SUBLEVEL`, `KERNELVERSION`
//!   (`VERSION.PATCHLEVEL.SUBLEVEL` + `EXTRAVERSION`), `KERNELRELEASE` (from
//!   `include/config/kernel.release` in the object directory, usually empty),
//!   `srctree` (`.` in-tree, `..` for a direct subdirectory of the tree, the
//!   absolute tree otherwise, or always absolute with `KBUILD_ABS_SRCTREE`),
//!   `objtree`, `VPATH`, `building_out_of_srctree`, `ARCH` (default: `$ARCH`,
//!   else `SUBARCH`), `SRCARCH` (`i386`/`x86_64` → `x86`, `sparc64` →
//!   `sparc`, `parisc64` → `parisc`, `sh64` → `sh`), the tool names
//!   (`CC = $(CROSS_COMPILE)gcc`, `LD = $(CROSS_COMPILE)ld`, ..., or
//!   `clang`/`ld.lld`/`llvm-*` with `LLVM`, whose value may be a `-SUFFIX` or
//!   a `PREFIX/`), `HOSTCC`/`HOSTCXX` (`gcc`/`g++`, or clang with `LLVM`),
//!   `RUSTC`, `BINDGEN`, `PAHOLE`, `PYTHON3`, ..., `CC_VERSION_TEXT` (the
//!   first line of `LC_ALL=C $(CC) --version`, `#` removed, exactly as the
//!   Makefile's `$(shell ...)` yields it), `RUSTC_VERSION_TEXT` (kernels that
//!   define it), `RUSTC_BOOTSTRAP`, `LC_COLLATE`/`LC_NUMERIC`,
//!   `KCONFIG_CONFIG` (default `.config`), `KBUILD_KCONFIG`.
//! * `scripts/subarch.include`: `SUBARCH`, from `uname -m`.
//! * `scripts/Makefile.clang` (when `CC_VERSION_TEXT` mentions clang):
//!   `CLANG_FLAGS` (`--target=`, integrated assembler, `-Werror=` flags).
//! * `arch/$(SRCARCH)/Makefile`: `KBUILD_DEFCONFIG`, the `CROSS_COMPILE`
//!   auto-detection of arc and loongarch (`cc-cross-prefix`), `NM` changes
//!   (alpha, ia64: `-B`; powerpc: `--synthetic`), and for `ARCH=um` the
//!   exported `SUBARCH` and `HEADER_ARCH`.
//! * `scripts/kconfig/Makefile`: `KCONFIG_DEFCONFIG_LIST`.
//!
//! Variables the Makefiles export but nothing in Kconfig can observe
//! (compiler flags such as `KBUILD_CFLAGS`, `LINUXINCLUDE`, ...) are not
//! derived.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};

/// An environment: variable name → value.
pub type Vars = BTreeMap<String, String>;

/// What the user asked for; the equivalent of make's command line
/// (`make -C TREE O=OBJDIR ARCH=... CROSS_COMPILE=... LLVM=...`).
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The kernel source tree.
    pub tree: PathBuf,
    /// The object directory conf runs in (make's `O=`).
    pub objdir: PathBuf,
    /// `ARCH=`; `None`: `$ARCH` from the environment, else the host's.
    pub arch: Option<String>,
    /// `SUBARCH=` (only `ARCH=um` uses it); `None`: from `uname -m`.
    pub subarch: Option<String>,
    /// `CROSS_COMPILE=`; `None`: `$CROSS_COMPILE` from the environment.
    pub cross_compile: Option<String>,
    /// `LLVM=` (`1`, `-SUFFIX` or `PREFIX/`); `None`: `$LLVM`.
    pub llvm: Option<String>,
    /// `KCONFIG_CONFIG=`; `None`: `$KCONFIG_CONFIG`, else `.config`.
    pub config: Option<PathBuf>,
}

/// Why an environment could not be derived: what is at fault, as data.
/// The message names the file or value; the remedy depends on how the
/// caller took its input (flags or a declaration), so it is the caller's
/// to word: [`KernelEnvError::remedy`] gives the facts it needs.
#[derive(Debug, thiserror::Error)]
pub enum KernelEnvError {
    /// The tree does not exist.
    #[error("kernel source tree {} does not exist", path.display())]
    TreeMissing { path: PathBuf },
    /// The tree is a file.
    #[error("{} is not a directory", path.display())]
    TreeNotDirectory { path: PathBuf },
    /// The tree has no top-level Makefile.
    #[error(
        "{} not found: {} is not the top of a Linux source tree",
        makefile.display(),
        tree.display()
    )]
    NoMakefile { tree: PathBuf, makefile: PathBuf },
    /// The Makefile has no `VERSION = ...` line.
    #[error(
        "{}: no 'VERSION = ...' line, so this is not the kernel's top-level Makefile",
        makefile.display()
    )]
    NoVersion { makefile: PathBuf },
    /// A file of the tree could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// `arch/$(SRCARCH)` does not exist; `available` lists the tree's.
    #[error(
        "unknown architecture '{arch}': {} does not exist{}",
        dir.display(),
        if arch == srcarch { String::new() } else { format!(" (ARCH={arch} builds arch/{srcarch})") }
    )]
    UnknownArch {
        arch: String,
        srcarch: String,
        dir: PathBuf,
        available: String,
    },
    /// `scripts/Makefile.clang` has no `--target` for this architecture.
    #[error(
        "{}: no clang --target for SRCARCH={srcarch}{}",
        file.display(),
        if subarch.is_empty() { String::new() } else { format!(" (SUBARCH={subarch})") }
    )]
    ClangTarget {
        file: PathBuf,
        srcarch: String,
        subarch: String,
    },
    /// An out-of-tree configuration was asked of a configured tree.
    #[error(
        "the source tree {} is not clean ({} exists), so conf would read its \
         configuration instead of the one in the object directory {}",
        tree.display(),
        found.display(),
        objdir.display()
    )]
    SourceTreeNotClean {
        tree: PathBuf,
        found: PathBuf,
        objdir: PathBuf,
        arch: String,
    },
}

/// What the user changes to mend a [`KernelEnvError`]: the input at fault.
/// Fronts word it for their own input (a flag, a declaration key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remedy {
    /// Name the top directory of a Linux source tree.
    Tree,
    /// Name an architecture among these (space-separated).
    Arch { available: String },
    /// Give a cross prefix for clang's `--target`, or drop LLVM.
    CrossPrefix { srcarch: String },
    /// Clean the tree (`make ARCH=.. mrproper`), or configure in it.
    CleanTree { tree: PathBuf, arch: String },
    /// Nothing the input can change (an I/O failure).
    None,
}

impl KernelEnvError {
    /// The input at fault, for the front to word its hint.
    pub fn remedy(&self) -> Remedy {
        match self {
            KernelEnvError::TreeMissing { .. }
            | KernelEnvError::TreeNotDirectory { .. }
            | KernelEnvError::NoMakefile { .. }
            | KernelEnvError::NoVersion { .. } => Remedy::Tree,
            KernelEnvError::Read { .. } => Remedy::None,
            KernelEnvError::UnknownArch { available, .. } => Remedy::Arch {
                available: available.clone(),
            },
            KernelEnvError::ClangTarget { srcarch, .. } => Remedy::CrossPrefix {
                srcarch: srcarch.clone(),
            },
            KernelEnvError::SourceTreeNotClean { tree, arch, .. } => Remedy::CleanTree {
                tree: tree.clone(),
                arch: arch.clone(),
            },
        }
    }
}

/// The environment make would give conf.
#[derive(Debug, Clone)]
pub struct KernelEnv {
    /// The variables make exports (only those; lay them over the caller's
    /// environment with [`KernelEnv::conf_env`]).
    pub vars: Vars,
    /// The tree, canonical (make's `abs_srctree`).
    pub abs_srctree: PathBuf,
    /// The object directory, canonical when it exists (make's `abs_objtree`).
    pub abs_objtree: PathBuf,
    /// The top Kconfig file as conf is given it: `$KBUILD_KCONFIG` or `Kconfig`.
    pub kconfig: String,
}

impl KernelEnv {
    /// A derived variable, or "" when it is not set.
    pub fn get(&self, name: &str) -> &str {
        self.vars.get(name).map_or("", String::as_str)
    }

    /// The complete environment of conf: `base` (the caller's environment,
    /// which make passes through) with the derived variables on top.
    pub fn conf_env(&self, base: &Vars) -> Vars {
        let mut env = base.clone();
        env.extend(self.vars.iter().map(|(k, v)| (k.clone(), v.clone())));
        env
    }

    /// The arch's default configuration as `make defconfig` hands it to conf:
    /// `arch/$(SRCARCH)/configs/$(KBUILD_DEFCONFIG)`, relative to the tree.
    pub fn arch_defconfig(&self) -> String {
        self.named_defconfig(self.get("KBUILD_DEFCONFIG"))
    }

    /// `arch/$(SRCARCH)/configs/NAME`, as `make NAME` (NAME = `*_defconfig`)
    /// hands it to conf.
    pub fn named_defconfig(&self, name: &str) -> String {
        format!("arch/{}/configs/{name}", self.get("SRCARCH"))
    }
}

/// Derive the environment make would export for `req`. `base` is the
/// caller's environment: it supplies `PATH` (to find and run the
/// compilers), and make variables a user may set there (`ARCH`,
/// `CROSS_COMPILE`, `LLVM`, `LLVM_IAS`, `KCONFIG_CONFIG`, `KBUILD_KCONFIG`,
/// `KBUILD_DEFCONFIG`, `KBUILD_ABS_SRCTREE`) when `req` leaves them open.
///
/// Asks `uname -m` and `uname -r` like the Makefile does ([`uname`]), and
/// has `query` run `$(CC) --version` and `$(RUSTC) --version`
/// ([`run_tool_query`] runs them; a caller may answer from a cache); a
/// missing compiler is not an error here (it leaves `CC_VERSION_TEXT`
/// empty, as in make). Nothing is written.
pub fn derive(
    req: &Request,
    base: &Vars,
    query: &mut ToolQuery<'_>,
) -> Result<KernelEnv, KernelEnvError> {
    let from_env = |k: &str| base.get(k).filter(|v| !v.is_empty()).cloned();

    // ---- the tree and the object directory (Makefile: abs_srctree, srctree)
    let tree = &req.tree;
    if !tree.exists() {
        return Err(KernelEnvError::TreeMissing { path: tree.clone() });
    }
    if !tree.is_dir() {
        return Err(KernelEnvError::TreeNotDirectory { path: tree.clone() });
    }
    let abs_srctree = canonical(tree);
    let makefile = abs_srctree.join("Makefile");
    if !makefile.is_file() {
        return Err(KernelEnvError::NoMakefile {
            tree: tree.clone(),
            makefile,
        });
    }
    let top = read(&makefile)?;
    let abs_objtree = canonical(&req.objdir);
    let mut v = Vars::new();
    let set = |v: &mut Vars, k: &str, val: &str| {
        v.insert(k.to_string(), val.to_string());
    };

    let srctree = if from_env("KBUILD_ABS_SRCTREE").is_some() {
        abs_srctree.to_string_lossy().into_owned()
    } else if abs_srctree == abs_objtree {
        ".".to_string()
    } else if abs_objtree.parent() == Some(abs_srctree.as_path()) {
        "..".to_string()
    } else {
        abs_srctree.to_string_lossy().into_owned()
    };
    let out_of_tree = abs_srctree != abs_objtree;
    set(&mut v, "srctree", &srctree);
    set(&mut v, "objtree", ".");
    set(
        &mut v,
        "building_out_of_srctree",
        if out_of_tree { "1" } else { "" },
    );
    if out_of_tree {
        set(&mut v, "VPATH", &srctree);
    }

    // ---- version (Makefile: KERNELVERSION, KERNELRELEASE)
    let mk = MakeVars::parse(&top);
    let Some(version) = mk.get("VERSION").filter(|s| !s.is_empty()) else {
        return Err(KernelEnvError::NoVersion { makefile });
    };
    let patchlevel = mk.get("PATCHLEVEL").unwrap_or_default();
    let sublevel = mk.get("SUBLEVEL").unwrap_or_default();
    let extraversion = mk.get("EXTRAVERSION").unwrap_or_default();
    set(&mut v, "VERSION", &version);
    set(&mut v, "PATCHLEVEL", &patchlevel);
    set(&mut v, "SUBLEVEL", &sublevel);
    set(
        &mut v,
        "KERNELVERSION",
        &kernelversion(&version, &patchlevel, &sublevel, &extraversion),
    );
    let release = std::fs::read_to_string(abs_objtree.join("include/config/kernel.release"))
        .map(|s| s.trim_end_matches('\n').to_string())
        .unwrap_or_default();
    set(&mut v, "KERNELRELEASE", &release);

    // ---- architecture (scripts/subarch.include, Makefile: ARCH, SRCARCH)
    let run_dir = if abs_objtree.is_dir() {
        abs_objtree.clone()
    } else {
        abs_srctree.clone()
    };
    let machine = uname("-m", base, &run_dir);
    let subarch = req
        .subarch
        .clone()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| subarch_of_machine(&machine));
    let arch = req
        .arch
        .clone()
        .filter(|s| !s.is_empty())
        .or_else(|| from_env("ARCH"))
        .unwrap_or_else(|| subarch.clone());
    let srcarch = srcarch_of(&arch).to_string();
    let arch_dir = abs_srctree.join("arch").join(&srcarch);
    if !valid_arch_name(&srcarch) || !arch_dir.is_dir() {
        return Err(KernelEnvError::UnknownArch {
            available: available_arches(&abs_srctree),
            dir: tree.join("arch").join(&srcarch),
            arch,
            srcarch,
        });
    }
    set(&mut v, "ARCH", &arch);
    set(&mut v, "SRCARCH", &srcarch);
    let arch_mk_path = arch_dir.join("Makefile");
    let arch_mk = if arch_mk_path.is_file() {
        read(&arch_mk_path)?
    } else {
        String::new()
    };

    if out_of_tree {
        for p in [
            ".config".to_string(),
            "include/config".to_string(),
            format!("arch/{srcarch}/include/generated"),
        ] {
            let f = abs_srctree.join(&p);
            if f.exists() {
                return Err(KernelEnvError::SourceTreeNotClean {
                    tree: tree.clone(),
                    found: f,
                    objdir: abs_objtree.clone(),
                    arch,
                });
            }
        }
    }

    // ---- toolchain (Makefile: LLVM, CROSS_COMPILE, CC, LD, ...)
    let llvm = req
        .llvm
        .clone()
        .filter(|s| !s.is_empty())
        .or_else(|| from_env("LLVM"));
    let path_var = base.get("PATH").cloned().unwrap_or_default();
    let mut cross = req
        .cross_compile
        .clone()
        .or_else(|| from_env("CROSS_COMPILE"))
        .unwrap_or_default();
    if cross.is_empty() {
        // Arch Makefiles that look for a cross compiler themselves. At
        // config time no CONFIG_ option is known, so loongarch's
        // $(tool-archpref) is empty; m68k, mips, parisc, powerpc and sh test
        // `cross_compiling`, which nothing defines any more.
        let candidates: &[&str] = match srcarch.as_str() {
            "arc" => &["arc-linux-", "arceb-linux-", "arc-linux-gnu-"],
            "loongarch" if subarch != arch => &["-linux-", "-linux-gnu-", "-unknown-linux-gnu-"],
            _ => &[],
        };
        if let Some(c) = candidates
            .iter()
            .find(|c| find_program(&format!("{c}gcc"), &path_var, &run_dir).is_some())
        {
            cross = c.to_string();
        }
    }
    set(&mut v, "CROSS_COMPILE", &cross);
    let (llvm_prefix, llvm_suffix) = match llvm.as_deref() {
        Some(l) if l.ends_with('/') => (l.to_string(), String::new()),
        Some(l) if l.starts_with('-') => (String::new(), l.to_string()),
        _ => (String::new(), String::new()),
    };
    let llvm_tool = |name: &str| format!("{llvm_prefix}{name}{llvm_suffix}");
    if let Some(l) = &llvm {
        set(&mut v, "LLVM", l);
        set(&mut v, "HOSTCC", &llvm_tool("clang"));
        set(&mut v, "HOSTCXX", &llvm_tool("clang++"));
        for (var, tool) in [
            ("CC", "clang"),
            ("LD", "ld.lld"),
            ("AR", "llvm-ar"),
            ("NM", "llvm-nm"),
            ("OBJCOPY", "llvm-objcopy"),
            ("OBJDUMP", "llvm-objdump"),
            ("READELF", "llvm-readelf"),
            ("STRIP", "llvm-strip"),
        ] {
            set(&mut v, var, &llvm_tool(tool));
        }
    } else {
        set(&mut v, "HOSTCC", "gcc");
        set(&mut v, "HOSTCXX", "g++");
        for (var, tool) in [
            ("CC", "gcc"),
            ("LD", "ld"),
            ("AR", "ar"),
            ("NM", "nm"),
            ("OBJCOPY", "objcopy"),
            ("OBJDUMP", "objdump"),
            ("READELF", "readelf"),
            ("STRIP", "strip"),
        ] {
            set(&mut v, var, &format!("{cross}{tool}"));
        }
    }
    for (var, val) in [
        ("CONFIG_SHELL", "sh"),
        ("HOSTRUSTC", "rustc"),
        ("HOSTPKG_CONFIG", "pkg-config"),
        ("RUSTC", "rustc"),
        ("RUSTDOC", "rustdoc"),
        ("RUSTFMT", "rustfmt"),
        ("BINDGEN", "bindgen"),
        ("PAHOLE", "pahole"),
        ("LEX", "flex"),
        ("YACC", "bison"),
        ("AWK", "awk"),
        ("PERL", "perl"),
        ("PYTHON3", "python3"),
        ("LC_COLLATE", "C"),
        ("LC_NUMERIC", "C"),
    ] {
        set(&mut v, var, val);
    }
    if top.contains("RUSTC_BOOTSTRAP") {
        set(&mut v, "RUSTC_BOOTSTRAP", "1");
    }

    // ---- arch Makefile: NM, KBUILD_DEFCONFIG, um's SUBARCH/HEADER_ARCH
    for (var, value) in top_level_assignments(&arch_mk) {
        if var == "NM" {
            let nm = value
                .replace("$(NM)", v.get("NM").map_or("", String::as_str))
                .replace("$(CROSS_COMPILE)", &cross);
            set(&mut v, "NM", &nm);
        }
    }
    // powerpc: `new_nm := $(shell if $(NM) --help ... '--synthetic' ...)`,
    // `ifeq ($(new_nm),y) NM := $(NM) --synthetic`.
    if srcarch == "powerpc" {
        if let Some((_, val)) = top_level_assignments(&arch_mk)
            .into_iter()
            .find(|(k, _)| k == "new_nm")
        {
            if let Some(cmd) = val
                .strip_prefix("$(shell ")
                .and_then(|c| c.strip_suffix(')'))
            {
                let nm = v["NM"].clone();
                let mut env = base.clone();
                env.extend(v.iter().map(|(k, val)| (k.clone(), val.clone())));
                if make_shell(&cmd.replace("$(NM)", &nm), &env, &run_dir) == "y" {
                    set(&mut v, "NM", &format!("{nm} --synthetic"));
                }
            }
        }
    }
    let defconfig = arch_kbuild_defconfig(&srcarch, &arch, &subarch, &machine, &arch_mk)
        .or_else(|| from_env("KBUILD_DEFCONFIG"))
        .unwrap_or_else(|| "defconfig".to_string());
    set(&mut v, "KBUILD_DEFCONFIG", &defconfig);
    if srcarch == "um" {
        set(&mut v, "SUBARCH", &subarch);
        let header_arch = if matches!(subarch.as_str(), "x86" | "x86_64" | "i386") {
            "x86"
        } else {
            subarch.as_str()
        };
        set(&mut v, "HEADER_ARCH", header_arch);
    }

    // ---- Kconfig inputs (Makefile, scripts/kconfig/Makefile)
    let kbuild_kconfig = from_env("KBUILD_KCONFIG").unwrap_or_default();
    set(&mut v, "KBUILD_KCONFIG", &kbuild_kconfig);
    let kconfig_config = match &req.config {
        Some(p) => p.to_string_lossy().into_owned(),
        None => from_env("KCONFIG_CONFIG").unwrap_or_else(|| ".config".to_string()),
    };
    set(&mut v, "KCONFIG_CONFIG", &kconfig_config);
    let kconfig_mk =
        std::fs::read_to_string(abs_srctree.join("scripts/kconfig/Makefile")).unwrap_or_default();
    if kconfig_mk.contains("KCONFIG_DEFCONFIG_LIST") {
        // `ifndef cross_compiling`: nothing defines it, so the host's
        // configurations are always listed first.
        let rel = uname("-r", base, &run_dir);
        let list = format!(
            "/lib/modules/{rel}/.config /etc/kernel-config /boot/config-{rel} arch/{srcarch}/configs/{defconfig}"
        );
        set(&mut v, "KCONFIG_DEFCONFIG_LIST", &list);
    }

    // ---- compiler identification (Makefile: CC_VERSION_TEXT, ...)
    let env_now = {
        let mut e = base.clone();
        e.extend(v.iter().map(|(k, val)| (k.clone(), val.clone())));
        e
    };
    let cc_text = make_output(&query(
        &format!("LC_ALL=C {} --version 2>/dev/null | head -n 1", v["CC"]),
        &env_now,
        &run_dir,
    ))
    .replace('#', "");
    set(&mut v, "CC_VERSION_TEXT", &cc_text);
    if top.contains("RUSTC_VERSION_TEXT") {
        let rustc_text = make_output(&query(
            &format!("{} --version 2>/dev/null", v["RUSTC"]),
            &env_now,
            &run_dir,
        ))
        .replace('#', "");
        set(&mut v, "RUSTC_VERSION_TEXT", &rustc_text);
    }
    if cc_text.contains("clang") {
        let file = abs_srctree.join("scripts/Makefile.clang");
        if file.is_file() {
            let text = read(&file)?;
            let elfedit = find_program(&format!("{cross}elfedit"), &path_var, &run_dir);
            let flags = clang_flags(
                &text,
                &srcarch,
                &subarch,
                &cross,
                from_env("LLVM_IAS").as_deref(),
                elfedit.as_deref(),
            )
            .ok_or_else(|| KernelEnvError::ClangTarget {
                file: file.clone(),
                srcarch: srcarch.clone(),
                subarch: if srcarch == "um" {
                    subarch.clone()
                } else {
                    String::new()
                },
            })?;
            set(&mut v, "CLANG_FLAGS", &flags);
        }
    }

    let kconfig = if kbuild_kconfig.is_empty() {
        "Kconfig".to_string()
    } else {
        kbuild_kconfig
    };
    Ok(KernelEnv {
        vars: v,
        abs_srctree,
        abs_objtree,
        kconfig,
    })
}

/// `KERNELVERSION = $(VERSION)$(if $(PATCHLEVEL),.$(PATCHLEVEL)$(if $(SUBLEVEL),.$(SUBLEVEL)))$(EXTRAVERSION)`
pub fn kernelversion(version: &str, patchlevel: &str, sublevel: &str, extra: &str) -> String {
    let mut s = version.to_string();
    if !patchlevel.is_empty() {
        s.push('.');
        s.push_str(patchlevel);
        if !sublevel.is_empty() {
            s.push('.');
            s.push_str(sublevel);
        }
    }
    s.push_str(extra);
    s
}

/// `SRCARCH` for an `ARCH`, as the top Makefile maps it.
pub fn srcarch_of(arch: &str) -> &str {
    match arch {
        "i386" | "x86_64" => "x86",
        "sparc32" | "sparc64" => "sparc",
        "parisc64" => "parisc",
        "sh64" => "sh",
        a => a,
    }
}

/// `SUBARCH` from `uname -m`, with the substitutions of
/// `scripts/subarch.include` (each `sed s/RE/REPL/`, first match only).
pub fn subarch_of_machine(machine: &str) -> String {
    let mut m = machine.to_string();
    // s/i.86/x86/
    if let Some(i) = m
        .as_bytes()
        .windows(4)
        .position(|w| w[0] == b'i' && &w[2..] == b"86")
    {
        m.replace_range(i..i + 4, "x86");
    }
    let sub = |m: &mut String, from: &str, to: &str| {
        if let Some(i) = m.find(from) {
            m.replace_range(i..i + from.len(), to);
        }
    };
    // s/FROM.*/TO/: from the first FROM to the end of the string.
    let sub_rest = |m: &mut String, from: &str, to: &str| {
        if let Some(i) = m.find(from) {
            m.replace_range(i.., to);
        }
    };
    sub(&mut m, "x86_64", "x86");
    sub(&mut m, "sun4u", "sparc64");
    if m != "arm64" {
        sub_rest(&mut m, "arm", "arm");
    }
    sub(&mut m, "sa110", "arm");
    sub(&mut m, "s390x", "s390");
    sub_rest(&mut m, "ppc", "powerpc");
    sub_rest(&mut m, "mips", "mips");
    // s/sh[234].*/sh/
    if let Some(i) = m
        .as_bytes()
        .windows(3)
        .position(|w| w[0] == b's' && w[1] == b'h' && matches!(w[2], b'2'..=b'4'))
    {
        m.replace_range(i.., "sh");
    }
    sub_rest(&mut m, "aarch64", "arm64");
    sub_rest(&mut m, "riscv", "riscv");
    sub_rest(&mut m, "loongarch", "loongarch");
    m
}

/// `KBUILD_DEFCONFIG` as arch/$(SRCARCH)/Makefile sets it; `None` when it
/// does not (then `$KBUILD_DEFCONFIG` or `defconfig`, as in
/// scripts/kconfig/Makefile).
fn arch_kbuild_defconfig(
    srcarch: &str,
    arch: &str,
    subarch: &str,
    machine: &str,
    arch_mk: &str,
) -> Option<String> {
    let is_i386 = |m: &str| {
        let b = m.as_bytes();
        b.len() == 4 && b[0] == b'i' && &b[2..] == b"86"
    };
    match srcarch {
        // ifeq ($(ARCH),x86): by `uname -m`; else $(ARCH)_defconfig
        "x86" if arch == "x86" => Some(
            if is_i386(machine) {
                "i386_defconfig"
            } else {
                "x86_64_defconfig"
            }
            .to_string(),
        ),
        "x86" => Some(format!("{arch}_defconfig")),
        // ifeq ($(SUBARCH),x86): by `uname -m`; else $(SUBARCH)_defconfig
        "um" if subarch == "x86" => Some(
            if machine == "x86_64" {
                "x86_64_defconfig"
            } else {
                "i386_defconfig"
            }
            .to_string(),
        ),
        "um" => Some(format!("{subarch}_defconfig")),
        "sparc" => Some(
            if arch == "sparc64" {
                "sparc64_defconfig"
            } else {
                "sparc32_defconfig"
            }
            .to_string(),
        ),
        "parisc" => Some(
            if arch == "parisc64" {
                "generic-64bit_defconfig"
            } else {
                "generic-32bit_defconfig"
            }
            .to_string(),
        ),
        // $(if $(filter ppc%,$(uname)),$(uname),ppc64le)_defconfig
        "powerpc" => {
            let fallback = top_level_assignments(arch_mk)
                .into_iter()
                .find(|(k, _)| k == "KBUILD_DEFCONFIG")
                .and_then(|(_, val)| {
                    let inner = val.strip_suffix(")_defconfig")?;
                    Some(inner.rsplit(',').next()?.trim().to_string())
                })
                .unwrap_or_else(|| "ppc64le".to_string());
            Some(if machine.starts_with("ppc") {
                format!("{machine}_defconfig")
            } else {
                format!("{fallback}_defconfig")
            })
        }
        // Everyone else: an unconditional `KBUILD_DEFCONFIG := name`.
        _ => top_level_assignments(arch_mk)
            .into_iter()
            .filter(|(k, val)| k == "KBUILD_DEFCONFIG" && !val.contains('$'))
            .map(|(_, val)| val)
            .next_back(),
    }
}

/// `CLANG_FLAGS` as scripts/Makefile.clang computes it (`text` is that
/// file); `None` when it has no `--target` for the architecture.
fn clang_flags(
    text: &str,
    srcarch: &str,
    subarch: &str,
    cross: &str,
    llvm_ias: Option<&str>,
    elfedit: Option<&Path>,
) -> Option<String> {
    let assigns = top_level_assignments(text);
    let table = |name: &str| -> Option<String> {
        let key = format!("CLANG_TARGET_FLAGS_{name}");
        let val = assigns.iter().find(|(k, _)| *k == key)?.1.clone();
        if val.contains("$(SUBARCH)") {
            let sub = format!("CLANG_TARGET_FLAGS_{subarch}");
            return assigns
                .iter()
                .find(|(k, _)| *k == sub)
                .map(|(_, v)| v.clone());
        }
        Some(val)
    };
    let notdir = |s: &str| s.rsplit('/').next().unwrap_or("").to_string();
    // The top Makefile starts from `CLANG_FLAGS :=`, whatever the environment says.
    let mut flags: Vec<String> = Vec::new();
    // Linux <= 6.5 takes the target from CROSS_COMPILE when there is one.
    if text.contains("$(CROSS_COMPILE:%-=%)") && !cross.is_empty() {
        let t = cross.strip_suffix('-').unwrap_or(cross);
        flags.push(format!("--target={}", notdir(t)));
    } else {
        let t = table(srcarch).filter(|t| !t.is_empty())?;
        flags.push(format!("--target={t}"));
    }
    if llvm_ias == Some("0") {
        flags.push("-fno-integrated-as".to_string());
        let dir = elfedit
            .and_then(Path::parent)
            .map(|d| format!("{}/", d.display()))
            .unwrap_or_default();
        flags.push(format!("--prefix={dir}{}", notdir(cross)));
    } else {
        flags.push("-fintegrated-as".to_string());
    }
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("CLANG_FLAGS") {
            if let Some(val) = rest.trim_start().strip_prefix("+=") {
                let val = val.trim();
                if val.starts_with("-Werror=") {
                    flags.push(val.to_string());
                }
            }
        }
    }
    Some(flags.join(" "))
}

/// `NAME = value` / `NAME := value` lines of a Makefile that are outside
/// every conditional, in order, values trimmed and comments dropped.
fn top_level_assignments(text: &str) -> Vec<(String, String)> {
    let mut depth = 0usize;
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let mut line = line.to_string();
        while line.ends_with('\\') {
            line.pop();
            match lines.next() {
                Some(next) => {
                    line.push(' ');
                    line.push_str(next.trim());
                }
                None => break,
            }
        }
        if line.starts_with('\t') {
            continue; // a recipe
        }
        let t = line.trim();
        let word = t.split_whitespace().next().unwrap_or("");
        match word {
            "ifeq" | "ifneq" | "ifdef" | "ifndef" | "define" => {
                depth += 1;
                continue;
            }
            "endif" | "endef" => {
                depth = depth.saturating_sub(1);
                continue;
            }
            "else" => {
                // `else ifeq ...` stays at the same depth
                continue;
            }
            _ => {}
        }
        if depth > 0 {
            continue;
        }
        let t = t.split('#').next().unwrap_or("").trim_end();
        let t = t.strip_prefix("export ").unwrap_or(t);
        let Some(eq) = t.find('=') else { continue };
        let (lhs, rhs) = (&t[..eq], &t[eq + 1..]);
        let name = lhs.trim_end_matches([':', '?', '+']).trim();
        if name.is_empty() || lhs.ends_with('+') || lhs.ends_with('?') || name.contains(' ') {
            continue;
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            continue;
        }
        out.push((name.to_string(), rhs.trim().to_string()));
    }
    out
}

/// The simple `NAME = value` assignments at the top of the kernel Makefile.
struct MakeVars(Vec<(String, String)>);

impl MakeVars {
    fn parse(text: &str) -> MakeVars {
        MakeVars(top_level_assignments(text))
    }
    /// The first assignment of `name`.
    fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

/// Runs one of the Makefiles' `$(shell ...)` commands whose output depends
/// only on the programs it names and the environment (`$(CC) --version`):
/// (command, environment, directory) → standard output.
pub type ToolQuery<'a> = dyn FnMut(&str, &Vars, &Path) -> Vec<u8> + 'a;

/// Run `cmd` like make's `$(shell ...)`: `/bin/sh -c` with exactly `env`,
/// in `cwd`; trailing newlines removed and the others turned into spaces.
pub fn make_shell(cmd: &str, env: &Vars, cwd: &Path) -> String {
    make_output(&run_tool_query(cmd, env, cwd))
}

/// The standard output of `/bin/sh -c cmd` with exactly `env`, in `cwd`
/// (empty when the shell cannot be started): a [`ToolQuery`] without a
/// cache.
pub fn run_tool_query(cmd: &str, env: &Vars, cwd: &Path) -> Vec<u8> {
    Command::new("/bin/sh")
        .arg("-c")
        .arg(cmd)
        .env_clear()
        .envs(env)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map(|o| o.stdout)
        .unwrap_or_default()
}

/// A command's output as make's `$(shell ...)` yields it: trailing
/// newlines removed, the others turned into spaces.
fn make_output(stdout: &[u8]) -> String {
    let mut s = String::from_utf8_lossy(stdout).into_owned();
    while s.ends_with('\n') {
        s.pop();
        if s.ends_with('\r') {
            s.pop();
        }
    }
    s.replace("\r\n", " ").replace('\n', " ")
}

/// `$(shell uname FLAG)` (`-m` or `-r`) with `env`'s `PATH`, in `cwd`. When
/// `PATH` finds the system's `uname` (`/bin/uname`, `/usr/bin/uname`),
/// which prints what the `uname` system call says, the call answers
/// without starting two processes; another `uname` is run.
pub fn uname(flag: &str, env: &Vars, cwd: &Path) -> String {
    let path = env.get("PATH").map(String::as_str).unwrap_or_default();
    let system = find_program("uname", path, cwd)
        .and_then(|p| p.canonicalize().ok())
        .is_some_and(|p| p == Path::new("/bin/uname") || p == Path::new("/usr/bin/uname"));
    let field = match (system, flag) {
        (true, "-m") => system_uname().map(|u| u.0),
        (true, "-r") => system_uname().map(|u| u.1),
        _ => None,
    };
    field.unwrap_or_else(|| make_shell(&format!("uname {flag}"), env, cwd))
}

/// The `uname` system call's machine and release fields.
fn system_uname() -> Option<(String, String)> {
    // SAFETY: `utsname` is plain old data (arrays of C chars), for which
    // all zeroes is a valid value; uname(2) fills it, NUL-terminating
    // each field, and is only read after it returned 0.
    let u = unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut u) != 0 {
            return None;
        }
        u
    };
    let text = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    Some((text(&u.machine), text(&u.release)))
}

/// The kernel's SRCARCH of the machine kforge runs on (`uname -m`, mapped
/// as `scripts/subarch.include` maps it).
pub fn host_srcarch() -> String {
    let machine = system_uname()
        .map(|u| u.0)
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    srcarch_of(&subarch_of_machine(&machine)).to_string()
}

/// Where `command -v NAME` would find a program: NAME itself when it holds
/// a `/` (relative to `cwd`), else the first executable in `path`.
pub fn find_program(name: &str, path: &str, cwd: &Path) -> Option<PathBuf> {
    if name.is_empty() {
        return None;
    }
    if name.contains('/') {
        let p = cwd.join(name);
        return is_executable(&p).then_some(p);
    }
    path.split(':')
        .map(|d| {
            if d.is_empty() {
                cwd.to_path_buf()
            } else {
                cwd.join(d)
            }
        })
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn read(path: &Path) -> Result<String, KernelEnvError> {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .map_err(|source| KernelEnvError::Read {
            path: path.to_path_buf(),
            source,
        })
}

/// The canonical path (symlinks resolved, like make's `realpath`); for a
/// path that does not exist yet, the absolute path with `.`/`..` folded.
pub fn canonical(p: &Path) -> PathBuf {
    if let Ok(c) = p.canonicalize() {
        return c;
    }
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(p)
    };
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

fn valid_arch_name(a: &str) -> bool {
    !a.is_empty()
        && !a.starts_with('.')
        && a.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The directories of arch/, plus the ARCH aliases the Makefile knows.
fn available_arches(srctree: &Path) -> String {
    let mut names: Vec<String> = std::fs::read_dir(srctree.join("arch"))
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    for (alias, dir) in [
        ("i386", "x86"),
        ("x86_64", "x86"),
        ("sparc64", "sparc"),
        ("parisc64", "parisc"),
    ] {
        if names.iter().any(|n| n == dir) {
            names.push(alias.to_string());
        }
    }
    names.sort();
    if names.is_empty() {
        "(none: the tree has no arch/ directory)".to_string()
    } else {
        names.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn uname_answers_as_the_program_does() {
        let cwd = std::env::temp_dir();
        let system = vars(&[("PATH", "/usr/bin:/bin")]);
        for flag in ["-m", "-r"] {
            let out = Command::new("/usr/bin/uname").arg(flag).output().unwrap();
            let program = String::from_utf8(out.stdout).unwrap();
            assert_eq!(uname(flag, &system, &cwd), program.trim_end(), "{flag}");
        }
        // Another `uname` first in PATH is run, as make would.
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("uname");
        std::fs::write(&fake, "#!/bin/sh\necho \"fake $1\"\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let shadowed = vars(&[("PATH", &format!("{}:/usr/bin:/bin", dir.path().display()))]);
        assert_eq!(uname("-m", &shadowed, &cwd), "fake -m");
        // No uname at all: empty, as `$(shell uname -m)` is.
        let none = vars(&[("PATH", dir.path().join("none").to_str().unwrap())]);
        assert_eq!(uname("-r", &none, &cwd), "");
    }

    #[test]
    fn compiler_versions_come_from_the_query() {
        let tree = tempfile::tempdir().unwrap();
        std::fs::write(
            tree.path().join("Makefile"),
            "VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 0\nEXTRAVERSION =\n\
             export RUSTC_VERSION_TEXT := $(shell $(RUSTC) --version 2>/dev/null)\n",
        )
        .unwrap();
        std::fs::create_dir_all(tree.path().join("arch/x86")).unwrap();
        let obj = tempfile::tempdir().unwrap();
        let req = Request {
            tree: tree.path().to_path_buf(),
            objdir: obj.path().to_path_buf(),
            arch: Some("x86_64".into()),
            ..Default::default()
        };
        let mut asked = Vec::new();
        let mut query = |cmd: &str, env: &Vars, cwd: &Path| {
            asked.push((cmd.to_string(), env.get("CC").cloned(), cwd.to_path_buf()));
            if cmd.contains("gcc") {
                b"gcc (Fake #1) 1.0\n".to_vec()
            } else {
                b"rustc 9.9.9\n\n".to_vec()
            }
        };
        let base = vars(&[("PATH", "/usr/bin:/bin")]);
        let kenv = derive(&req, &base, &mut query).unwrap();
        assert_eq!(kenv.get("CC_VERSION_TEXT"), "gcc (Fake 1) 1.0");
        assert_eq!(kenv.get("RUSTC_VERSION_TEXT"), "rustc 9.9.9");
        let cwd = canonical(obj.path());
        assert_eq!(
            asked,
            vec![
                (
                    "LC_ALL=C gcc --version 2>/dev/null | head -n 1".to_string(),
                    Some("gcc".to_string()),
                    cwd.clone()
                ),
                (
                    "rustc --version 2>/dev/null".to_string(),
                    Some("gcc".to_string()),
                    cwd
                ),
            ]
        );
    }

    #[test]
    fn subarch_mapping() {
        for (m, s) in [
            ("x86_64", "x86"),
            ("i686", "x86"),
            ("i386", "x86"),
            ("aarch64", "arm64"),
            ("arm64", "arm64"),
            ("armv7l", "arm"),
            ("ppc64le", "powerpc"),
            ("s390x", "s390"),
            ("mips64", "mips"),
            ("riscv64", "riscv"),
            ("loongarch64", "loongarch"),
            ("sun4u", "sparc64"),
            ("sh4", "sh"),
            ("parisc64", "parisc64"),
        ] {
            assert_eq!(subarch_of_machine(m), s, "{m}");
        }
    }

    #[test]
    fn version_string() {
        assert_eq!(kernelversion("6", "12", "117", ""), "6.12.117");
        assert_eq!(kernelversion("6", "13", "0", "-rc1"), "6.13.0-rc1");
        assert_eq!(kernelversion("6", "", "0", ""), "6");
    }

    #[test]
    fn assignments_skip_conditionals() {
        let mk =
            "A := 1\nifeq ($(X),y)\nB := 2\nelse\nB := 3\nendif\nNM := $(NM) -B # c\n\tC := 4\n";
        assert_eq!(
            top_level_assignments(mk),
            vec![
                ("A".to_string(), "1".to_string()),
                ("NM".to_string(), "$(NM) -B".to_string())
            ]
        );
    }

    #[test]
    fn clang_flags_6_12_and_6_1() {
        let new = "CLANG_TARGET_FLAGS_arm64\t:= aarch64-linux-gnu\n\
                   CLANG_TARGET_FLAGS_x86\t\t:= x86_64-linux-gnu\n\
                   CLANG_TARGET_FLAGS_um\t\t:= $(CLANG_TARGET_FLAGS_$(SUBARCH))\n\
                   CLANG_TARGET_FLAGS\t\t:= $(CLANG_TARGET_FLAGS_$(SRCARCH))\n\
                   ifeq ($(LLVM_IAS),0)\nCLANG_FLAGS\t+= -fno-integrated-as\nelse\nCLANG_FLAGS\t+= -fintegrated-as\nendif\n\
                   CLANG_FLAGS\t+= -Werror=unknown-warning-option\n";
        assert_eq!(
            clang_flags(new, "um", "x86", "", None, None).as_deref(),
            Some("--target=x86_64-linux-gnu -fintegrated-as -Werror=unknown-warning-option")
        );
        assert_eq!(clang_flags(new, "alpha", "x86", "", None, None), None);
        let old = format!("{new}CLANG_FLAGS += --target=$(notdir $(CROSS_COMPILE:%-=%))\n");
        assert_eq!(
            clang_flags(
                &old,
                "arm64",
                "x86",
                "/opt/x/aarch64-linux-gnu-",
                Some("0"),
                Some(Path::new("/opt/x/aarch64-linux-gnu-elfedit")),
            )
            .as_deref(),
            Some(
                "--target=aarch64-linux-gnu -fno-integrated-as --prefix=/opt/x/aarch64-linux-gnu- -Werror=unknown-warning-option"
            )
        );
    }
}
