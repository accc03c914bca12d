//! Stage 4, the plan: everything known about a build before it runs: the
//! toolchain, the store key and its inputs, the build directory and the
//! make invocation. A memo of earlier resolutions lets a store hit skip
//! resolution altogether ([`memo_hit`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kforge_declaration::{Distribute, ModuleSet, Spec};
use kforge_distribute::compile_cache::CompileCache;
use kforge_store::{KeyInputs, Make, Store};
use serde::{Deserialize, Serialize};

use crate::error::{io, Error};
use crate::resolved::{Resolved, PASSED_ENV};
use crate::source::SourceTree;

/// What the front decides about a build, beyond the declaration.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Parallel make jobs (`None`: `[build] jobs`, else one per CPU).
    pub jobs: Option<usize>,
    /// make -k.
    pub keep_going: bool,
    /// Strip the installed modules (INSTALL_MOD_STRIP=1).
    pub strip_modules: bool,
    /// Keep vmlinux in the entry's kernel/ too.
    pub vmlinux: bool,
    /// Where compiles go: the declaration's farm, this machine, or a farm.
    pub farm: FarmChoice,
}

/// Where a build's compiles go (`kforge build --distribute`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FarmChoice {
    /// `[build] distribute`, if any.
    #[default]
    Declared,
    /// This machine only (`--distribute none`).
    Local,
    /// This farm, whatever the declaration says.
    Use(Distribute),
}

impl std::str::FromStr for FarmChoice {
    type Err = String;
    /// `none` (this machine), `icecream` or `distcc`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(FarmChoice::Local),
            other => other
                .parse()
                .map(FarmChoice::Use)
                .map_err(|e| format!("{e}, or \"none\" for this machine")),
        }
    }
}

/// Everything known about a build before it runs.
pub struct Plan {
    /// The declaration's path (for the manifest).
    pub spec_path: PathBuf,
    /// The source tree and its digest.
    pub source: SourceTree,
    /// make's ARCH and the tree's SRCARCH.
    pub arch: String,
    pub srcarch: String,
    /// The tree's KERNELVERSION.
    pub kernelversion: String,
    /// The resolved `.config` text.
    pub config: String,
    /// The tools, identified (path and version).
    pub toolchain: kforge_store::Toolchain,
    /// The store key's inputs, its hash and the entry's name.
    pub key: KeyInputs,
    pub hash: String,
    pub name: String,
    /// The build directory's key (one per source place and toolchain).
    pub build_key: String,
    /// The make invocation.
    pub make: Make,
    /// `[build] targets` (empty: the architecture's image).
    pub declared_targets: Vec<String>,
    /// The reproducibility environment given to make.
    pub repro: Vec<(String, String)>,
    pub strip_modules: bool,
    pub vmlinux: bool,
    /// `[modules.NAME]` sets: a loader each.
    pub module_sets: Vec<ModuleSet>,
    /// The build farm compiles go to, when one answered.
    pub farm: Option<kforge_distribute::Farm>,
    /// The binary caches asked for the entry before building (`[store]`;
    /// not part of the key).
    pub substituters: crate::substitute::Substituters,
    /// The compile cache the launcher names (its counts go to the manifest).
    pub compile_cache: Option<CompileCache>,
    /// What did not stop the plan but the user should know.
    pub warnings: Vec<Warning>,
}

/// Something the plan could not do that does not stop the build.
#[derive(Debug)]
pub enum Warning {
    /// The build farm does not answer: compiles stay on this machine.
    FarmUnavailable(kforge_distribute::Unavailable),
    /// The resolution memo could not be written: the next store hit will
    /// resolve again.
    MemoNotWritten {
        path: PathBuf,
        error: std::io::Error,
    },
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Warning::FarmUnavailable(why) => {
                write!(f, "{why}: compiling on this machine")
            }
            Warning::MemoNotWritten { path, error } => write!(
                f,
                "{}: cannot remember this resolution ({error}); the next build resolves again",
                path.display()
            ),
        }
    }
}

/// The reproducibility settings as they enter the key: the tree and build
/// directory paths of the prefix maps are left out (they are mapped away).
fn repro_key_text(repro: &kforge_store::ReproSettings) -> String {
    let env = kforge_store::reproducible_env(repro, Path::new("<tree>"), Path::new("<builddir>"));
    env.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The store key's inputs: every input that affects what is built.
fn key_inputs(
    spec: &Spec,
    source: &SourceTree,
    config_sha256: &str,
    toolchain: &kforge_store::Toolchain,
    opts: &BuildOptions,
) -> KeyInputs {
    let b = &spec.build;
    let mut k = KeyInputs::new();
    // Bumped when kforge changes what it puts into an entry.
    k.add("kforge-build", "4");
    k.add("source", &source.digest);
    k.add("patches", source.patches.join(","));
    k.add("arch", &b.arch);
    k.add("cross_compile", b.cross_compile.as_deref().unwrap_or(""));
    k.add("llvm", b.llvm.as_deref().unwrap_or(""));
    k.add("config", config_sha256);
    for t in &toolchain.tools {
        k.add(
            &format!("tool.{}", t.role),
            format!(
                "{} {} {}",
                t.command,
                t.path
                    .as_deref()
                    .map_or("(missing)".into(), |p| p.display().to_string()),
                t.version
            ),
        );
    }
    k.add(
        "make_flags",
        serde_json::to_string(&b.make_flags).unwrap_or_default(),
    );
    k.add(
        "targets",
        if b.targets.is_empty() {
            "(default)".to_string()
        } else {
            serde_json::to_string(&b.targets).unwrap_or_default()
        },
    );
    k.add("strip_modules", opts.strip_modules.to_string());
    k.add("vmlinux", opts.vmlinux.to_string());
    // The loaders written into the entry.
    let sets: BTreeMap<&str, &[String]> = spec
        .modules
        .values()
        .map(|m| (m.name.as_str(), m.load.as_slice()))
        .collect();
    k.add(
        "module_sets",
        serde_json::to_string(&sets).unwrap_or_default(),
    );
    k.add(
        "env",
        repro_key_text(&kforge_store::ReproSettings::default()),
    );
    // Out-of-tree modules: each one's source, where in it, flags and uses
    // (its config requests are in the configuration already).
    for e in &source.externals {
        k.add(
            &format!("external.{}", e.name),
            format!(
                "{} subdir={} make_flags={} uses={}",
                e.digest,
                e.declared.subdir.display(),
                serde_json::to_string(&e.declared.make_flags).unwrap_or_default(),
                e.declared.uses.join(",")
            ),
        );
    }
    k
}

/// make's `PATH` for a build: the caller's, as the store's clean
/// environment keeps it.
fn build_env() -> (Vec<(String, String)>, String) {
    let env = kforge_store::clean_env(std::env::vars_os());
    let path_var = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    (env, path_var)
}

/// The launcher's program when it is not in `PATH`.
fn missing_launcher(spec: &Spec, path_var: &str) -> Option<String> {
    let l = spec.build.launcher.as_ref()?;
    let prog = l.split_whitespace().next().unwrap_or_default();
    kforge_store::which(prog, path_var)
        .is_none()
        .then(|| prog.to_string())
}

/// Plan the build of a resolved declaration. Fails when a required
/// request did not hold ([`Error::Unresolved`]), for a foreign
/// architecture without a cross compiler, or when a tool is missing.
pub fn plan(
    spec: &Spec,
    source: SourceTree,
    resolved: &Resolved,
    store: &Store,
    opts: &BuildOptions,
) -> Result<Plan, Error> {
    resolved.check()?;
    let var = |k: &str| resolved.tree.vars.get(k).cloned().unwrap_or_default();
    let arch = spec.build.arch.clone();
    let srcarch = var("SRCARCH");
    needs_cross_compiler(
        &arch,
        &srcarch,
        &kforge_tree::env::host_srcarch(),
        &var("CROSS_COMPILE"),
        &var("LLVM"),
    )?;
    let kernelversion = var("KERNELVERSION");
    let (env, path_var) = build_env();
    let cc = var("CC");
    let toolchain = kforge_store::Toolchain::identify(
        &[
            ("CC", cc.as_str()),
            ("LD", var("LD").as_str()),
            ("HOSTCC", var("HOSTCC").as_str()),
            ("MAKE", "make"),
        ],
        &path_var,
    );
    if let Some(t) = toolchain.missing().next() {
        return Err(Error::MissingTool {
            role: t.role.clone(),
            command: t.command.clone(),
            cross_compile: spec.build.cross_compile.clone(),
        });
    }
    if let Some(prog) = missing_launcher(spec, &path_var) {
        return Err(Error::MissingLauncher(prog));
    }
    let config = resolved.res.config.clone();
    if let Some(e) = source.externals.first() {
        if !kforge_store::config_features(&config).modules {
            return Err(Error::ExternalWithoutModules {
                name: e.name.clone(),
                origin: e.declared.origin.clone(),
            });
        }
    }
    let config_sha256 = kforge_store::sha256_hex(config.as_bytes());
    let key = key_inputs(spec, &source, &config_sha256, &toolchain, opts);
    let hash = key.hash();
    let name = kforge_store::entry_name(&hash, &kernelversion, &arch);
    let mut warnings = Vec::new();
    if let Some(mk) = memo_key(spec, &source) {
        let memo = Memo {
            config_sha256: config_sha256.clone(),
            kernelversion: kernelversion.clone(),
            tools: toolchain
                .tools
                .iter()
                .map(|t| (t.role.clone(), t.command.clone()))
                .collect(),
        };
        if let Err((path, error)) = write_memo(store, &mk, &memo) {
            warnings.push(Warning::MemoNotWritten { path, error });
        }
    }
    // The farm is asked only when make will run (not for a store hit).
    let farm = match farm_engine(spec, opts) {
        Some(engine) if store.existing(&name).is_none() => {
            match find_farm(engine, &cc, &path_var, store) {
                Ok(farm) => Some(farm),
                Err(why) => {
                    warnings.push(Warning::FarmUnavailable(why));
                    None
                }
            }
        }
        _ => None,
    };
    let launcher = match (spec.build.launcher.clone(), &farm) {
        (Some(l), Some(f)) => Some(format!("{l} {}", f.launcher)),
        (None, Some(f)) => Some(f.launcher.clone()),
        (l, None) => l,
    };
    let cross = spec.build.cross_compile.clone().unwrap_or_default();
    // The build directory: one per source, architecture and toolchain (the
    // launcher too: kbuild rebuilds everything when the compile command
    // changes, so a build with ccache and one without each keep their own).
    let build_key = kforge_store::sha256_hex(
        format!(
            "{}\n{arch}\n{cross}\n{}{}",
            source.place,
            toolchain.identity(),
            launcher.as_deref().unwrap_or("")
        )
        .as_bytes(),
    )[..32]
        .to_string();
    let objdir = store.build_dir(&build_key);
    let repro = kforge_store::reproducible_env(
        &kforge_store::ReproSettings::default(),
        &source.tree,
        &objdir,
    );
    let mut make_env = env;
    make_env.extend(repro.iter().cloned());
    if let Some(f) = &farm {
        make_env.extend(f.env.iter().cloned());
    }
    let compile_cache = spec
        .build
        .launcher
        .as_deref()
        .and_then(|l| CompileCache::of_launcher(l, &path_var));
    if let Some(c) = &compile_cache {
        let caller = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
        make_env.extend(c.make_env(caller));
    }
    let jobs = opts
        .jobs
        .or(spec.build.jobs.map(|j| j as usize))
        .or(farm.as_ref().map(|f| f.jobs))
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let make = Make {
        program: "make".into(),
        tree: source.tree.clone(),
        objdir,
        arch: arch.clone(),
        cross_compile: spec.build.cross_compile.clone(),
        llvm: spec.build.llvm.clone(),
        cc: launcher.map(|l| format!("{l} {cc}")),
        jobs,
        keep_going: opts.keep_going,
        flags: spec.build.make_flags.clone(),
        env: make_env,
    };
    Ok(Plan {
        spec_path: spec.path.clone(),
        source,
        arch,
        srcarch,
        kernelversion,
        config,
        toolchain,
        key,
        hash,
        name,
        build_key,
        make,
        declared_targets: spec.build.targets.clone(),
        repro,
        strip_modules: opts.strip_modules,
        vmlinux: opts.vmlinux,
        module_sets: spec.modules.values().cloned().collect(),
        farm,
        substituters: crate::substitute::Substituters::from_spec(spec),
        compile_cache,
        warnings,
    })
}

/// The farm a build asks for: the front's choice, else the declaration's.
fn farm_engine(spec: &Spec, opts: &BuildOptions) -> Option<kforge_distribute::Engine> {
    let d = match opts.farm {
        FarmChoice::Declared => spec.build.distribute?,
        FarmChoice::Local => return None,
        FarmChoice::Use(d) => d,
    };
    Some(match d {
        Distribute::Icecream => kforge_distribute::Engine::Icecream,
        Distribute::Distcc => kforge_distribute::Engine::Distcc,
    })
}

/// Ask the farm whether it takes this build's compiles; compiler
/// environments are kept under the cache root's `farm/`.
fn find_farm(
    engine: kforge_distribute::Engine,
    cc: &str,
    path_var: &str,
    store: &Store,
) -> Result<kforge_distribute::Farm, kforge_distribute::Unavailable> {
    let cache = store.root().join("farm");
    let var = |k: &str| std::env::var(k).ok();
    let site = kforge_distribute::Site {
        var: &var,
        path: path_var,
        cache: &cache,
        timeout: std::time::Duration::from_secs(3),
    };
    kforge_distribute::prepare(engine, cc, &site)
}

/// [`Error::NeedsCrossCompiler`] when a declaration for another
/// architecture than the host's would be built with the host's gcc, which
/// cannot: make would stop at the first object with `gcc: error:
/// unrecognized command-line option`. Fine with a cross prefix (declared,
/// or found by the arch Makefile), with LLVM (clang targets every
/// architecture), and for `um`.
pub fn needs_cross_compiler(
    arch: &str,
    srcarch: &str,
    host_srcarch: &str,
    cross: &str,
    llvm: &str,
) -> Result<(), Error> {
    if !cross.is_empty() || !llvm.is_empty() || srcarch == host_srcarch || srcarch == "um" {
        return Ok(());
    }
    // Debian's cross compilers for the usual targets.
    let (prefix, package) = match srcarch {
        "arm64" => ("aarch64-linux-gnu-", "gcc-aarch64-linux-gnu"),
        "arm" => ("arm-linux-gnueabihf-", "gcc-arm-linux-gnueabihf"),
        "mips" => ("mips-linux-gnu-", "gcc-mips-linux-gnu"),
        "riscv" => ("riscv64-linux-gnu-", "gcc-riscv64-linux-gnu"),
        "powerpc" => ("powerpc64le-linux-gnu-", "gcc-powerpc64le-linux-gnu"),
        "s390" => ("s390x-linux-gnu-", "gcc-s390x-linux-gnu"),
        "x86" => ("x86_64-linux-gnu-", "gcc-x86-64-linux-gnu"),
        "loongarch" => ("loongarch64-linux-gnu-", "gcc-loongarch64-linux-gnu"),
        _ => ("<target>-linux-gnu-", "a gcc for the target"),
    };
    Err(Error::NeedsCrossCompiler {
        arch: arch.to_string(),
        host: host_srcarch.to_string(),
        prefix: prefix.to_string(),
        package: package.to_string(),
    })
}

/// What a resolution gave, remembered under the inputs of the resolution
/// ([`memo_key`]) in `<cache>/kforge/resolved/`, so that a store hit needs
/// no resolution at all.
#[derive(Debug, Serialize, Deserialize)]
struct Memo {
    config_sha256: String,
    kernelversion: String,
    /// (role, command) of each tool, identified again on every use.
    tools: Vec<(String, String)>,
}

/// The inputs of a resolution: the kforge binary (path, size, modification
/// time), the text of the declaration, of every file it includes and of
/// its base `.config` file, the source digest, and the caller's variables
/// that reach the tree's probes (`PATH`, `HOME`, `TMPDIR`, the locale).
/// The toolchain is not in it: a memo's tools are identified again when it
/// is used, and go into the store key as always.
fn memo_key(spec: &Spec, source: &SourceTree) -> Option<String> {
    let mut k = KeyInputs::new();
    k.add("kforge-resolve-memo", "1");
    let exe = std::env::current_exe().ok()?;
    let m = std::fs::metadata(&exe).ok()?;
    let mtime = m
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    k.add(
        "exe",
        format!("{} {} {}", exe.display(), m.len(), mtime.as_nanos()),
    );
    let mut files = vec![spec.path.clone()];
    files.extend(spec.includes.iter().cloned());
    if let kforge_declaration::Base::File(f) = &spec.build.base {
        files.push(f.clone());
    }
    for f in files {
        k.add(
            "file",
            format!("{} {}", f.display(), kforge_store::sha256_file(&f).ok()?),
        );
    }
    k.add("source", &source.digest);
    for v in PASSED_ENV {
        k.add(v, std::env::var(v).unwrap_or_default());
    }
    Some(k.hash())
}

fn memo_path(store: &Store, key: &str) -> PathBuf {
    store.root().join("resolved").join(key)
}

fn write_memo(store: &Store, key: &str, m: &Memo) -> Result<(), (PathBuf, std::io::Error)> {
    let path = memo_path(store, key);
    let text = serde_json::to_string(m).map_err(|e| (path.clone(), e.into()))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| (dir.to_path_buf(), e))?;
    }
    kforge_fs::write_atomic(&path, text.as_bytes()).map_err(|e| (path, e.source))
}

fn read_memo(store: &Store, key: &str) -> Option<Memo> {
    serde_json::from_str(&std::fs::read_to_string(memo_path(store, key)).ok()?).ok()
}

/// A store entry found without resolving: the declaration, its includes,
/// the source, kforge and the environment are those of an earlier
/// resolution whose entry exists. `None`: not known (resolve as usual).
pub fn memo_hit(
    spec: &Spec,
    source: &SourceTree,
    store: &Store,
    opts: &BuildOptions,
) -> Result<Option<PathBuf>, Error> {
    let Some((hash, name)) = memo_entry(spec, source, store, opts) else {
        return Ok(None);
    };
    if store.existing(&name).is_none() {
        return Ok(None);
    }
    let _lock = store
        .lock_key(&hash, &mut || {})
        .map_err(io("locking the store key"))?;
    Ok(store.existing(&name))
}

/// The store key and entry name an earlier resolution of the same inputs
/// gave, whether or not the entry exists (a substituter may have it), the
/// tools identified again. `None`: not known (resolve as usual).
pub fn memo_entry(
    spec: &Spec,
    source: &SourceTree,
    store: &Store,
    opts: &BuildOptions,
) -> Option<(String, String)> {
    let memo = memo_key(spec, source).and_then(|k| read_memo(store, &k))?;
    let (_, path_var) = build_env();
    let tools: Vec<(&str, &str)> = memo
        .tools
        .iter()
        .map(|(r, c)| (r.as_str(), c.as_str()))
        .collect();
    let toolchain = kforge_store::Toolchain::identify(&tools, &path_var);
    if toolchain.missing().next().is_some() || missing_launcher(spec, &path_var).is_some() {
        return None;
    }
    let key = key_inputs(spec, source, &memo.config_sha256, &toolchain, opts);
    let hash = key.hash();
    let name = kforge_store::entry_name(&hash, &memo.kernelversion, &spec.build.arch);
    Some((hash, name))
}

#[cfg(test)]
mod tests {
    use super::needs_cross_compiler;
    use crate::Error;

    #[test]
    fn a_foreign_architecture_needs_a_cross_compiler() {
        let Err(Error::NeedsCrossCompiler {
            prefix, package, ..
        }) = needs_cross_compiler("mips", "mips", "x86", "", "")
        else {
            panic!("mips on x86 needs a cross compiler")
        };
        assert_eq!(prefix, "mips-linux-gnu-");
        assert_eq!(package, "gcc-mips-linux-gnu");
        let Err(Error::NeedsCrossCompiler { prefix, .. }) =
            needs_cross_compiler("arm64", "arm64", "x86", "", "")
        else {
            panic!("arm64 on x86 needs a cross compiler")
        };
        assert_eq!(prefix, "aarch64-linux-gnu-");
        // A cross prefix, LLVM, the host's own architecture, um: nothing.
        let fine = |a, s, h, c, l| needs_cross_compiler(a, s, h, c, l).is_ok();
        assert!(fine("mips", "mips", "x86", "mips-linux-gnu-", ""));
        assert!(fine("arm64", "arm64", "x86", "", "1"));
        assert!(fine("i386", "x86", "x86", "", ""));
        assert!(fine("um", "um", "x86", "", ""));
        assert!(fine("x86_64", "x86", "arm64", "", "1"));
    }
}
