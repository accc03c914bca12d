//! `kforge build` and `kforge gc`: resolve a declaration as `kforge config`
//! does, then build it into the store (crates/kforge-store), or collect the
//! entries nothing refers to.
//!
//! The steps of `kforge build`, cheapest first, so that an entry that
//! exists is found without building anything:
//!
//! 1. load the declaration;
//! 2. the source tree ([`source_tree`], the one place that knows where
//!    trees come from: `--tree`, or the source crate's prepared tree with
//!    the patches applied) and its digest;
//! 3. resolve (the code of `kforge config`): a required request that fails
//!    stops here, before anything is built;
//! 4. the toolchain identity and the store key ([`key_inputs`]); an entry
//!    with that key ends the command (store hit);
//! 5. otherwise, under the key's lock and the build directory's lock:
//!    write the `.config` into the build directory, check that `make
//!    olddefconfig` leaves it unchanged, build, install modules (and dtbs),
//!    collect the outputs, write `manifest.json`, rename the entry into
//!    place, and point the result link at it.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kforge_store::{KeyInputs, Make, Store};
use serde_json::json;

use crate::config_cmd::{self, ConfigError};

/// Build the kernel a kernel.toml declares, into the store.
#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// The declaration
    #[arg(value_name = "KERNEL_TOML")]
    pub spec: PathBuf,
    /// An unpacked kernel tree to use instead of the declared source
    #[arg(long, value_name = "DIR")]
    pub tree: Option<PathBuf>,
    /// Resolve and verify, print the report, the store key and the make
    /// command; build nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Parallel make jobs (default: `[build] jobs`, else one per CPU)
    #[arg(short = 'j', long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Keep building other targets after an error (make -k)
    #[arg(long)]
    pub keep_going: bool,
    /// The symlink to point at the store entry
    #[arg(long, value_name = "PATH", default_value = "result")]
    pub out_link: PathBuf,
    /// Strip the installed modules (INSTALL_MOD_STRIP=1)
    #[arg(long)]
    pub strip_modules: bool,
    /// Keep vmlinux in kernel/ too
    #[arg(long)]
    pub vmlinux: bool,
    /// Run every $(shell,...) probe instead of using the probe cache
    #[arg(long)]
    pub no_probe_cache: bool,
}

/// Remove the store entries no result link points at.
#[derive(Debug, clap::Args)]
pub struct GcArgs {
    /// Only entries unused for at least DAYS days (and then also build
    /// directories unused that long)
    #[arg(long, value_name = "DAYS")]
    pub older_than: Option<f64>,
    /// Say what would be removed, remove nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}: --tree DIR is built as it is, without the declared [[patches]]; drop --tree to have them applied")]
    Patches(kforge_declaration::Origin),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Other(String),
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BuildError {
    let what = what.into();
    move |source| BuildError::Io { what, source }
}

/// Where the source tree comes from, and its digest for the store key.
pub(crate) struct SourceTree {
    pub(crate) tree: PathBuf,
    /// `prepared:<key>` or `tree:<sha256>`: what is in the tree.
    digest: String,
    /// Which tree this is, whatever it holds now: the build directory is
    /// kept per place, so an edit in a `--tree` rebuilds incrementally.
    place: String,
    /// SHA-256 of each patch file, in order (none with `--tree`).
    patches: Vec<String>,
}

/// The source tree of a declaration: `--tree DIR`, or the declared source
/// prepared by the source crate (fetched, verified, unpacked, patched,
/// `post_patch` run, cached). The one place trees come from.
///
/// Digest: for a prepared tree, the source crate's cache key, the SHA-256
/// of the tarball's digest, each patch's digest and strip level and the
/// `post_patch` text. For `--tree`, the SHA-256 of the tree's canonical
/// path and [`kforge_store::tree_fingerprint`] (every file's path, size and
/// modification time): an edit anywhere in the tree is a new store entry,
/// built incrementally in the same build directory. A `--tree` is used as
/// it is, so a declaration with `[[patches]]` or `post_patch` is refused
/// with it.
pub(crate) fn source_tree(
    spec: &kforge_declaration::Spec,
    tree: Option<&Path>,
) -> Result<SourceTree, BuildError> {
    match tree {
        Some(t) => {
            if let Some(p) = spec.patches.first() {
                return Err(BuildError::Patches(p.origin.clone()));
            }
            if spec.build.post_patch.is_some() {
                return Err(BuildError::Other(
                    "--tree DIR is built as it is, but the declaration has a [build] post_patch; drop --tree to have it run".into(),
                ));
            }
            let tree = std::fs::canonicalize(t).map_err(io_err(t.display().to_string()))?;
            let mk = tree.join("Makefile");
            if !mk.is_file() {
                return Err(BuildError::Other(format!(
                    "{}: not a kernel tree (it has no Makefile); give --tree the top directory of an unpacked kernel source",
                    tree.display()
                )));
            }
            let fingerprint = kforge_store::tree_fingerprint(&tree).map_err(|e| {
                BuildError::Other(format!("{}: cannot read the tree: {e}", tree.display()))
            })?;
            let place = kforge_store::sha256_hex(tree.as_os_str().as_encoded_bytes());
            Ok(SourceTree {
                digest: format!(
                    "tree:{}",
                    kforge_store::sha256_hex(format!("{place}\n{fingerprint}").as_bytes())
                ),
                place: format!("tree:{place}"),
                tree,
                patches: Vec::new(),
            })
        }
        None => {
            let p = crate::source::prepared_tree(spec).map_err(ConfigError::from)?;
            let digest = format!("prepared:{}", p.key);
            Ok(SourceTree {
                tree: p.tree,
                place: digest.clone(),
                digest,
                patches: p
                    .patch_sha256
                    .iter()
                    .map(|d| kforge_store::hex(d))
                    .collect(),
            })
        }
    }
}

/// `kforge build`.
pub fn run(args: BuildArgs) -> i32 {
    match build_spec(&args) {
        Ok(Built::Entry(entry)) => {
            println!("{}", entry.display());
            0
        }
        Ok(Built::DryRun) => 0,
        Ok(Built::Failed(code)) => code,
        Err(e) => {
            report_error(&e);
            1
        }
    }
}

/// What [`build_spec`] did.
pub enum Built {
    /// The store entry (built now, or found).
    Entry(PathBuf),
    /// `--dry-run`: printed what would be built.
    DryRun,
    /// The build failed and was reported: the exit code.
    Failed(i32),
}

/// Print a build error as `kforge build` does.
pub fn report_error(e: &BuildError) {
    match e {
        BuildError::Config(e) => {
            eprint!("{}", config_cmd::render_error(e));
        }
        e => eprintln!("error: {e}"),
    }
}

/// Everything known about a build before it runs.
struct Plan {
    spec_path: PathBuf,
    source: SourceTree,
    arch: String,
    srcarch: String,
    kernelversion: String,
    config: String,
    toolchain: kforge_store::Toolchain,
    key: KeyInputs,
    hash: String,
    name: String,
    build_key: String,
    make: Make,
    declared_targets: Vec<String>,
    repro: Vec<(String, String)>,
    strip_modules: bool,
    vmlinux: bool,
    /// `[modules.NAME]` sets: a loader each.
    module_sets: Vec<kforge_declaration::ModuleSet>,
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
    spec: &kforge_declaration::Spec,
    source: &SourceTree,
    config_sha256: &str,
    toolchain: &kforge_store::Toolchain,
    args: &BuildArgs,
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
    k.add("strip_modules", args.strip_modules.to_string());
    k.add("vmlinux", args.vmlinux.to_string());
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
    k
}

fn plan(
    args: &BuildArgs,
    spec: &kforge_declaration::Spec,
    source: SourceTree,
    store: &Store,
) -> Result<Result<Plan, i32>, BuildError> {
    let t0 = Instant::now();
    let mut r = config_cmd::resolve_spec(spec, &source.tree, !args.no_probe_cache)?;
    eprint!("{}", config_cmd::version_warning(spec, &r.tree.version));
    let ignore = spec.build.ignore_config_errors;
    let errors = r.error_count(ignore);
    let report = config_cmd::render_report(&mut r, ignore, false);
    eprint!("{report}");
    let requests = r.res.outcomes.len();
    let held = requests - r.res.failures().count();
    if errors > 0 {
        eprintln!(
            "error: {requests} requests, {held} held, {errors} errors, {} warnings; nothing built",
            r.warning_count(ignore)
        );
        return Ok(Err(1));
    }
    let var = |k: &str| r.tree.vars.get(k).cloned().unwrap_or_default();
    let arch = spec.build.arch.clone();
    let srcarch = var("SRCARCH");
    if let Some(e) = needs_cross_compiler(
        &arch,
        &srcarch,
        &host_srcarch(),
        &var("CROSS_COMPILE"),
        &var("LLVM"),
    ) {
        return Err(BuildError::Other(e));
    }
    let kernelversion = var("KERNELVERSION");
    let cross = spec.build.cross_compile.clone().unwrap_or_default();
    let env = kforge_store::clean_env(std::env::vars_os());
    let path_var = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
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
        return Err(BuildError::Other(format!(
            "{} `{}` is not in PATH; install it{}",
            t.role,
            t.command,
            if cross.is_empty() {
                String::new()
            } else {
                format!(" (cross_compile = \"{cross}\")")
            }
        )));
    }
    if let Some(l) = &spec.build.launcher {
        let prog = l.split_whitespace().next().unwrap_or_default();
        if kforge_store::which(prog, &path_var).is_none() {
            return Err(BuildError::Other(format!(
                "the compiler launcher `{prog}` ([build] launcher) is not in PATH"
            )));
        }
    }
    let config = r.res.config.clone();
    let flags = spec.build.make_flags.clone();
    let config_sha256 = kforge_store::sha256_hex(config.as_bytes());
    let key = key_inputs(spec, &source, &config_sha256, &toolchain, args);
    let hash = key.hash();
    let name = kforge_store::entry_name(&hash, &kernelversion, &arch);
    if let Some(mk) = memo_key(spec, &source) {
        write_memo(
            store,
            &mk,
            &Memo {
                config_sha256: config_sha256.clone(),
                kernelversion: kernelversion.clone(),
                tools: toolchain
                    .tools
                    .iter()
                    .map(|t| (t.role.clone(), t.command.clone()))
                    .collect(),
            },
        );
    }
    let launcher = spec.build.launcher.clone();
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
    let repro_settings = kforge_store::ReproSettings::default();
    let repro = kforge_store::reproducible_env(&repro_settings, &source.tree, &objdir);
    let mut make_env = env;
    make_env.extend(repro.iter().cloned());
    let jobs = args
        .jobs
        .or(spec.build.jobs.map(|j| j as usize))
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
        keep_going: args.keep_going,
        flags,
        env: make_env,
    };
    eprintln!(
        "kforge: {requests} requests, {held} held, {} warnings; resolved in {:.2}s",
        r.warning_count(ignore),
        t0.elapsed().as_secs_f64()
    );
    Ok(Ok(Plan {
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
        strip_modules: args.strip_modules,
        vmlinux: args.vmlinux,
        module_sets: spec.modules.values().cloned().collect(),
    }))
}

/// Build the declaration of `args` into the store (or find its entry);
/// reports progress and failures on stderr.
pub fn build_spec(args: &BuildArgs) -> Result<Built, BuildError> {
    let spec = kforge_declaration::Spec::load(&args.spec).map_err(ConfigError::from)?;
    let source = source_tree(&spec, args.tree.as_deref())?;
    build_spec_from(args, &spec, source)
}

/// [`build_spec`] for a declaration already loaded, with its source tree
/// (`kforge test` has both from its readiness check: a `--tree` is
/// fingerprinted once).
pub(crate) fn build_spec_from(
    args: &BuildArgs,
    spec: &kforge_declaration::Spec,
    source: SourceTree,
) -> Result<Built, BuildError> {
    let store = Store::new(kforge_store::default_cache_root());
    if !args.dry_run {
        if let Some(entry) = memo_hit(args, spec, &source, &store)? {
            return Ok(Built::Entry(entry));
        }
    }
    let p = match plan(args, spec, source, &store)? {
        Ok(p) => p,
        Err(code) => return Ok(Built::Failed(code)),
    };
    if args.dry_run {
        let exists = store.existing(&p.name).is_some();
        println!("store key: {}", p.hash);
        println!(
            "entry: {} ({})",
            store.entry_path(&p.name).display(),
            if exists { "built" } else { "not built" }
        );
        println!("build directory: {}", p.make.objdir.display());
        let targets = if p.declared_targets.is_empty() {
            vec!["<image>".to_string()]
        } else {
            p.declared_targets.clone()
        };
        println!("make: {}", p.make.display(&targets));
        println!("key inputs:");
        for (k, v) in p.key.items() {
            println!("  {k}={v}");
        }
        return Ok(Built::DryRun);
    }
    let lock = store
        .lock_key(&p.hash, &mut || {
            eprintln!("kforge: waiting for another build of {}", p.name)
        })
        .map_err(io_err("locking the store key"))?;
    if let Some(entry) = store.existing(&p.name) {
        return store_hit(&store, &entry, args).map(Built::Entry);
    }
    let t0 = Instant::now();
    let entry = match build_entry(&store, &lock, &p)? {
        Ok(e) => e,
        Err(code) => return Ok(Built::Failed(code)),
    };
    let link = store
        .add_root(&entry, &args.out_link)
        .map_err(io_err(format!("linking {}", args.out_link.display())))?;
    eprintln!(
        "kforge: built {} in {:.0}s ({} -> it)",
        entry.display(),
        t0.elapsed().as_secs_f64(),
        link.display()
    );
    Ok(Built::Entry(entry))
}

/// An entry that exists: record the use, point the result link at it.
fn store_hit(store: &Store, entry: &Path, args: &BuildArgs) -> Result<PathBuf, BuildError> {
    store.touch_entry(entry);
    let link = store
        .add_root(entry, &args.out_link)
        .map_err(io_err(format!("linking {}", args.out_link.display())))?;
    eprintln!(
        "kforge: up to date: {} (store hit; {} -> it)",
        entry.display(),
        link.display()
    );
    Ok(entry.to_path_buf())
}

/// What a resolution gave, remembered under the inputs of the resolution
/// ([`memo_key`]) in `<cache>/kforge/resolved/`, so that a store hit needs
/// no resolution at all.
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
fn memo_key(spec: &kforge_declaration::Spec, source: &SourceTree) -> Option<String> {
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
    for v in config_cmd::PASSED_ENV {
        k.add(v, std::env::var(v).unwrap_or_default());
    }
    Some(k.hash())
}

fn memo_path(store: &Store, key: &str) -> PathBuf {
    store.root().join("resolved").join(key)
}

fn write_memo(store: &Store, key: &str, m: &Memo) {
    let path = memo_path(store, key);
    let text = json!({
        "config_sha256": m.config_sha256,
        "kernelversion": m.kernelversion,
        "tools": m.tools,
    })
    .to_string();
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = config_cmd::write_atomic(&path, text.as_bytes());
}

fn read_memo(store: &Store, key: &str) -> Option<Memo> {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(memo_path(store, key)).ok()?).ok()?;
    Some(Memo {
        config_sha256: v["config_sha256"].as_str()?.to_string(),
        kernelversion: v["kernelversion"].as_str()?.to_string(),
        tools: serde_json::from_value(v["tools"].clone()).ok()?,
    })
}

/// The fast path: the declaration, its includes, the source, kforge and
/// the environment are those of an earlier resolution whose entry exists.
/// `None`: not known (the full path resolves and reports as usual).
fn memo_hit(
    args: &BuildArgs,
    spec: &kforge_declaration::Spec,
    source: &SourceTree,
    store: &Store,
) -> Result<Option<PathBuf>, BuildError> {
    let Some(memo) = memo_key(spec, source).and_then(|k| read_memo(store, &k)) else {
        return Ok(None);
    };
    let env = kforge_store::clean_env(std::env::vars_os());
    let path_var = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let tools: Vec<(&str, &str)> = memo
        .tools
        .iter()
        .map(|(r, c)| (r.as_str(), c.as_str()))
        .collect();
    let toolchain = kforge_store::Toolchain::identify(&tools, &path_var);
    if toolchain.missing().next().is_some() {
        return Ok(None);
    }
    if let Some(l) = &spec.build.launcher {
        let prog = l.split_whitespace().next().unwrap_or_default();
        if kforge_store::which(prog, &path_var).is_none() {
            return Ok(None);
        }
    }
    let key = key_inputs(spec, source, &memo.config_sha256, &toolchain, args);
    let hash = key.hash();
    let name = kforge_store::entry_name(&hash, &memo.kernelversion, &spec.build.arch);
    if store.existing(&name).is_none() {
        return Ok(None);
    }
    let _lock = store
        .lock_key(&hash, &mut || {})
        .map_err(io_err("locking the store key"))?;
    match store.existing(&name) {
        Some(entry) => {
            eprintln!("kforge: the declaration resolves as before (nothing changed since)");
            store_hit(store, &entry, args).map(Some)
        }
        None => Ok(None),
    }
}

/// Shows make's progress: a bar on a terminal, make's lines otherwise.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    count: u64,
}

impl Progress {
    fn new(phase: &str, expected: Option<u64>) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = match expected {
                Some(n) => indicatif::ProgressBar::new(n.max(1)),
                None => indicatif::ProgressBar::new_spinner(),
            };
            let template = if expected.is_some() {
                "{prefix} [{elapsed_precise}] {bar:30} {pos}/{len} {wide_msg}"
            } else {
                "{prefix} [{elapsed_precise}] {spinner} {pos} {wide_msg}"
            };
            if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
                bar.set_style(style);
            }
            bar.set_prefix(phase.to_string());
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress { bar, count: 0 }
    }

    fn line(&mut self, line: &str) {
        let quiet = kforge_store::quiet_line(line);
        if quiet.is_some() {
            self.count += 1;
        }
        match &self.bar {
            Some(bar) => match quiet {
                Some((tag, what)) => {
                    if bar.length().is_some_and(|l| self.count > l) {
                        bar.set_length(self.count);
                    }
                    bar.set_position(self.count);
                    bar.set_message(format!("{tag} {what}"));
                }
                // Warnings and anything else make says stay visible.
                None if !line.starts_with("make") => bar.println(line),
                None => {}
            },
            None => eprintln!("{line}"),
        }
    }

    fn finish(self) -> u64 {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
        self.count
    }
}

/// The configuration `make olddefconfig` changed: `CONFIG_X (a -> b)`.
fn config_changes(before: &str, after: &str) -> Vec<String> {
    let a = kforge_store::parse_config(before);
    let b = kforge_store::parse_config(after);
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| {
            format!(
                "CONFIG_{k} ({} -> {})",
                a.get(k).map_or("unset", String::as_str),
                b.get(k).map_or("unset", String::as_str)
            )
        })
        .collect()
}

/// The kernel's SRCARCH of the machine kforge runs on (as
/// `scripts/subarch.include` maps `uname -m`).
fn host_srcarch() -> String {
    let machine = std::process::Command::new("uname")
        .arg("-m")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    crate::kernel_env::srcarch_of(&crate::kernel_env::subarch_of_machine(&machine)).to_string()
}

/// An error when a declaration for another architecture than the host's
/// would be built with the host's gcc, which cannot: make would stop at the
/// first object with `gcc: error: unrecognized command-line option`. `None`
/// with a cross prefix (declared, or found by the arch Makefile), with
/// LLVM (clang targets every architecture), and for `um`.
fn needs_cross_compiler(
    arch: &str,
    srcarch: &str,
    host_srcarch: &str,
    cross: &str,
    llvm: &str,
) -> Option<String> {
    if !cross.is_empty() || !llvm.is_empty() || srcarch == host_srcarch || srcarch == "um" {
        return None;
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
    Some(format!(
        "[build] arch = \"{arch}\" is not this machine's architecture ({host_srcarch}), and the declaration has no cross compiler: the host's gcc cannot build it\n  \
         help: add `cross_compile = \"{prefix}\"` to [build] (Debian: apt-get install {package}), or `llvm = true`"
    ))
}

/// The image when `make image_name` cannot tell (kernels before it).
fn default_image(srcarch: &str) -> String {
    let name = match srcarch {
        "x86" => "bzImage",
        "arm64" | "riscv" => "Image",
        "arm" => "zImage",
        _ => return "vmlinux".into(),
    };
    format!("arch/{srcarch}/boot/{name}")
}

/// The entry's kernel image, relative to the build directory: the
/// architecture's image (`make image_name`) when it was built on purpose;
/// else the first declared target that is a file in `arch/$SRCARCH/boot`
/// (arm64's `Image`, where `make image_name` says `Image.gz`, which that
/// target does not build); else the architecture's image if the build
/// directory has one; else none.
fn entry_image(
    image: &str,
    image_required: bool,
    declared: &[String],
    srcarch: &str,
    is_file: impl Fn(&str) -> bool,
) -> Option<String> {
    if image_required {
        return Some(image.to_string());
    }
    declared
        .iter()
        .map(|t| {
            if t.contains('/') {
                t.clone()
            } else {
                format!("arch/{srcarch}/boot/{t}")
            }
        })
        .find(|f| is_file(f))
        .or_else(|| is_file(image).then(|| image.to_string()))
}

/// Build the entry. `Ok(Err(code))`: the build failed and was reported.
fn build_entry(
    store: &Store,
    lock: &kforge_store::KeyLock,
    p: &Plan,
) -> Result<Result<PathBuf, i32>, BuildError> {
    let objdir = &p.make.objdir;
    let dirlock = store
        .lock_build_dir(objdir, &mut || {
            eprintln!(
                "kforge: waiting for the build directory {} (another build, or the jobs of a killed one, still use it)",
                objdir.display()
            )
        })
        .map_err(io_err(format!("locking {}", objdir.display())))?;
    let tmp = store
        .begin(lock, &p.hash, &p.name)
        .map_err(io_err("creating the store entry"))?;
    let log_path = objdir.join("kforge-build.log");
    let mut log = std::io::BufWriter::new(
        std::fs::File::create(&log_path).map_err(io_err(log_path.display().to_string()))?,
    );
    let stdin = || {
        dirlock
            .inherit()
            .map_err(io_err("passing the build directory lock to make"))
    };
    let mut durations: Vec<(&str, f64)> = Vec::new();
    let failed = |e: kforge_store::MakeError, log: &mut dyn Write| -> i32 {
        let _ = log.flush();
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        let (errors, make_lines) = kforge_store::first_errors(&text, 10);
        eprintln!("error: the build failed: {e}");
        for l in errors.iter().chain(make_lines.iter().take(3)) {
            eprintln!("  {l}");
        }
        if errors.is_empty() {
            let lines: Vec<&str> = text.lines().collect();
            for l in &lines[lines.len().saturating_sub(10)..] {
                eprintln!("  | {l}");
            }
        }
        eprintln!("  full log: {}", log_path.display());
        eprintln!("  no store entry was made");
        1
    };

    // ---- the configuration, and the check that it is make's fixed point
    let t = Instant::now();
    let config_path = objdir.join(".config");
    if std::fs::read_to_string(&config_path).ok().as_deref() != Some(p.config.as_str()) {
        config_cmd::write_atomic(&config_path, p.config.as_bytes())
            .map_err(io_err(config_path.display().to_string()))?;
    }
    let mut progress = Progress::new("config", None);
    if let Err(e) = p.make.run(
        &["olddefconfig".to_string()],
        stdin()?,
        &mut log,
        &mut |l| progress.line(l),
    ) {
        progress.finish();
        return Ok(Err(failed(e, &mut log)));
    }
    progress.finish();
    let after = std::fs::read_to_string(&config_path).unwrap_or_default();
    let changes = config_changes(&p.config, &after);
    if !changes.is_empty() {
        eprintln!(
            "error: the resolved configuration is not a fixed point of the kernel's `make olddefconfig`; it changed {} symbols:",
            changes.len()
        );
        for c in changes.iter().take(20) {
            eprintln!("  {c}");
        }
        eprintln!(
            "  this is a bug in kforge's Kconfig engine; the configuration is {}",
            config_path.display()
        );
        return Ok(Err(1));
    }
    durations.push(("olddefconfig", t.elapsed().as_secs_f64()));

    // ---- what to build
    let features = kforge_store::config_features(&p.config);
    let image = p
        .make
        .capture(&["image_name".to_string()], stdin()?)
        .ok()
        .and_then(|s| {
            s.lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(|l| l.trim().to_string())
        })
        .unwrap_or_else(|| default_image(&p.srcarch));
    let image_name = image.rsplit('/').next().unwrap_or(&image).to_string();
    // The image is required when it is built on purpose: by default, or
    // when declared; declared targets without it (`vmlinux` alone) are
    // collected as they are.
    let image_required = p.declared_targets.is_empty() || p.declared_targets.contains(&image_name);
    let mut targets = if p.declared_targets.is_empty() {
        vec![image_name.clone()]
    } else {
        p.declared_targets.clone()
    };
    if features.modules && !targets.iter().any(|t| t == "modules") {
        targets.push("modules".into());
    }
    let dtbs = features.of
        && p.source
            .tree
            .join("arch")
            .join(&p.srcarch)
            .join("boot/dts")
            .is_dir();
    if dtbs && !targets.iter().any(|t| t == "dtbs") {
        targets.push("dtbs".into());
    }

    // ---- the build
    let t = Instant::now();
    let count_path = objdir.join(".kforge-progress");
    let expected = std::fs::read_to_string(&count_path)
        .ok()
        .and_then(|s| s.trim().parse().ok());
    let mut progress = Progress::new("build", expected);
    let r = p
        .make
        .run(&targets, stdin()?, &mut log, &mut |l| progress.line(l));
    let count = progress.finish();
    if let Err(e) = r {
        return Ok(Err(failed(e, &mut log)));
    }
    if expected.is_none() || count > expected.unwrap_or(0) {
        let _ = std::fs::write(&count_path, count.to_string());
    }
    durations.push(("build", t.elapsed().as_secs_f64()));

    // ---- installs into the entry
    let t = Instant::now();
    let out = tmp.path().to_path_buf();
    if features.modules {
        // kforge's own depmod runs below, so the entry's indexes do not
        // depend on the host's kmod (or its depmod.d).
        let mut install = vec![
            "modules_install".to_string(),
            format!("INSTALL_MOD_PATH={}", out.join("modules").display()),
            "DEPMOD=true".to_string(),
        ];
        if p.strip_modules {
            install.push("INSTALL_MOD_STRIP=1".into());
        }
        let mut progress = Progress::new("modules_install", None);
        let r = p
            .make
            .run(&install, stdin()?, &mut log, &mut |l| progress.line(l));
        progress.finish();
        if let Err(e) = r {
            return Ok(Err(failed(e, &mut log)));
        }
    }
    if dtbs {
        let install = vec![
            "dtbs_install".to_string(),
            format!("INSTALL_DTBS_PATH={}", out.join("dtbs").display()),
        ];
        let mut progress = Progress::new("dtbs_install", None);
        let r = p
            .make
            .run(&install, stdin()?, &mut log, &mut |l| progress.line(l));
        progress.finish();
        if let Err(e) = r {
            return Ok(Err(failed(e, &mut log)));
        }
    }
    let release = std::fs::read_to_string(objdir.join("include/config/kernel.release"))
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let image = entry_image(
        &image,
        image_required,
        &p.declared_targets,
        &p.srcarch,
        |f| objdir.join(f).is_file(),
    );
    let image_built = image.is_some();
    let image = image.unwrap_or_default();
    let kernel_files = kforge_store::collect_kernel(
        objdir,
        &p.srcarch,
        image_built.then_some(image.as_str()),
        &targets,
        &p.config,
        p.vmlinux,
        &out.join("kernel"),
    )
    .map_err(io_err("collecting kernel/"))?;
    if features.modules {
        kforge_store::collect_dev(
            &p.source.tree,
            objdir,
            &p.srcarch,
            &p.config,
            &out.join("dev"),
        )
        .map_err(io_err("collecting dev/"))?;
        // modules_install links build (and source) to the build directory;
        // point them at the entry's own dev/.
        let moddir = out.join("modules/lib/modules").join(&release);
        for l in ["build", "source"] {
            let link = moddir.join(l);
            if std::fs::symlink_metadata(&link).is_ok() {
                let _ = std::fs::remove_file(&link);
                std::os::unix::fs::symlink("../../../../dev", &link)
                    .map_err(io_err(link.display().to_string()))?;
            }
        }
    }
    if features.modules {
        if let Err(e) = modules_indexes_and_loaders(p, objdir, &out, &release, &mut log) {
            let _ = log.flush();
            eprintln!("error: {e}");
            eprintln!("  full log: {}", log_path.display());
            eprintln!("  no store entry was made");
            return Ok(Err(1));
        }
    }
    durations.push(("install", t.elapsed().as_secs_f64()));
    log.flush()
        .map_err(io_err(log_path.display().to_string()))?;
    drop(log);
    std::fs::copy(&log_path, out.join("build.log")).map_err(io_err("copying the log"))?;

    // ---- the manifest
    let files =
        kforge_store::hash_tree(&out, &["manifest.json"]).map_err(io_err("hashing the entry"))?;
    let manifest = manifest_json(
        p,
        &release,
        image_built.then_some(image.as_str()),
        &targets,
        &kernel_files,
        &features,
        &durations,
        &files,
    );
    std::fs::write(
        out.join("manifest.json"),
        serde_json::to_string_pretty(&manifest).unwrap_or_default() + "\n",
    )
    .map_err(io_err("writing manifest.json"))?;
    let entry = tmp
        .commit()
        .map_err(io_err("renaming the entry into place"))?;
    store.touch_entry(&entry);
    drop(dirlock);
    Ok(Ok(entry))
}

/// depmod the entry's modules as the kernel's `modules_install` would
/// (`depmod -ae -F System.map`, no depmod.d), then write the loader of
/// each `[modules.NAME]` set into `loaders/NAME`. A listed module that is
/// neither built as a module nor built in is an error naming its set.
fn modules_indexes_and_loaders(
    p: &Plan,
    objdir: &Path,
    out: &Path,
    release: &str,
    log: &mut dyn Write,
) -> Result<(), String> {
    let opts = depmod::generate::Options {
        basedir: Some(out.join("modules")),
        version: Some(release.to_string()),
        system_map: Some(objdir.join("System.map")),
        errsyms: true,
        config: vec![PathBuf::from("/dev/null")],
        ..Default::default()
    };
    let mut dlog = depmod::generate::MemLog::default();
    let r = depmod::generate::run(&opts, &mut dlog);
    let _ = writeln!(log, "kforge: depmod -ae -F System.map {release}");
    let _ = log.write_all(dlog.stderr().as_bytes());
    r.map_err(|e| format!("depmod of the built modules failed: {e}\n{}", dlog.stderr()))?;
    if p.module_sets.is_empty() {
        return Ok(());
    }
    let moddir = out.join("modules/lib/modules").join(release);
    let tree = depmod::closure::Tree::open(&moddir).map_err(|e| e.to_string())?;
    for set in &p.module_sets {
        let c = tree
            .closure(&set.load, &depmod::closure::Options::default())
            .map_err(|e| {
                let why = match &e {
                    depmod::closure::Error::Unknown(m) => {
                        not_produced(&p.source.tree, m, &p.config)
                    }
                    _ => String::new(),
                };
                format!("[modules.{}] ({}): {e}{why}", set.name, set.origin)
            })?;
        let dir = out.join("loaders").join(&set.name);
        let lopts = depmod::loader::Options {
            name: set.name.clone(),
            version: release.to_string(),
            decompress: false,
            prefix: Some(PathBuf::from(LOADER_PREFIX).join(&set.name)),
            firmware_dir: None,
        };
        let s = depmod::loader::write(&tree, &c, &dir, &lopts).map_err(|e| e.to_string())?;
        let builtin = if s.builtin.is_empty() {
            String::new()
        } else {
            format!("; built in: {}", s.builtin.join(" "))
        };
        eprintln!(
            "kforge: loader {}: {} modules ({}){builtin}",
            set.name,
            s.modules.len(),
            s.modules.join(" ")
        );
    }
    Ok(())
}

/// Why module `m` is not in the built tree: the Kconfig symbols behind it
/// and their values in the resolved configuration.
fn not_produced(tree: &Path, m: &str, config: &str) -> String {
    let Ok(map) = kforge_tree::ModuleMap::scan(tree) else {
        return String::new();
    };
    let symbols: Vec<String> = map
        .lookup(m)
        .into_iter()
        .flat_map(|s| s.symbols)
        .map(|sym| format!("CONFIG_{sym}={}", config_cmd::config_value(config, &sym)))
        .collect();
    if symbols.is_empty() {
        "; no Makefile of the tree builds a module of that name".to_string()
    } else {
        format!(
            "; the build produced no such module although the resolved configuration has {}",
            symbols.join(", ")
        )
    }
}

/// Where the service files of an entry's loaders expect them on the
/// target: `<LOADER_PREFIX>/<NAME>` (the scripts themselves run anywhere).
pub const LOADER_PREFIX: &str = "/lib/kforge/loaders";

#[allow(clippy::too_many_arguments)]
fn manifest_json(
    p: &Plan,
    release: &str,
    image: Option<&str>,
    targets: &[String],
    kernel_files: &[String],
    f: &kforge_store::Features,
    durations: &[(&str, f64)],
    files: &[kforge_store::FileHash],
) -> serde_json::Value {
    let sha = |path: &Path| kforge_store::sha256_file(path).unwrap_or_default();
    let env: BTreeMap<&str, &str> = p
        .repro
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    json!({
        "kforge_version": env!("CARGO_PKG_VERSION"),
        "entry": p.name,
        "key": p.hash,
        "key_inputs": p.key.items().iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
        "spec": {
            "path": p.spec_path.display().to_string(),
            "sha256": sha(&p.spec_path),
        },
        "source": {
            "tree": p.source.tree.display().to_string(),
            "digest": p.source.digest,
            "patches_sha256": p.source.patches,
            "kernel_version": p.kernelversion,
        },
        "config_sha256": kforge_store::sha256_hex(p.config.as_bytes()),
        "kernel_release": release,
        "arch": p.arch,
        "srcarch": p.srcarch,
        "image": image.map(|i| format!("kernel/{}", i.rsplit('/').next().unwrap_or(i))),
        "image_path": image,
        "kernel_files": kernel_files,
        "targets": targets,
        "make": p.make.args(targets),
        "build_directory": p.make.objdir.display().to_string(),
        "build_directory_key": p.build_key,
        "environment": env,
        "toolchain": p.toolchain.tools.iter().map(|t| json!({
            "role": t.role,
            "command": t.command,
            "path": t.path.as_deref().map(|p| p.display().to_string()),
            "version": t.version,
        })).collect::<Vec<_>>(),
        "features": {
            "modules": f.modules,
            "efi_stub": f.efi_stub,
            "ia32_emulation": f.ia32_emulation,
            "rust": f.rust,
            "btf": f.btf,
            "btf_modules": f.btf_modules,
            "of": f.of,
        },
        "durations_s": durations.iter().map(|(k, v)| (k.to_string(), json!((v * 100.0).round() / 100.0))).collect::<serde_json::Map<_, _>>(),
        "files": files.iter().map(|f| {
            let mut o = json!({"path": f.path, "size": f.size, "sha256": f.sha256});
            if let Some(l) = &f.link {
                o["link"] = json!(l);
            }
            o
        }).collect::<Vec<_>>(),
    })
}

/// `kforge gc`.
pub fn run_gc(args: GcArgs) -> i32 {
    let store = Store::new(kforge_store::default_cache_root());
    let opts = kforge_store::GcOptions {
        older_than: args
            .older_than
            .filter(|d| d.is_finite() && *d >= 0.0)
            .map(|d| Duration::from_secs_f64(d * 86400.0)),
        dry_run: args.dry_run,
    };
    match store.gc(&opts) {
        Ok(r) => {
            let verb = if args.dry_run {
                "would remove"
            } else {
                "removed"
            };
            for p in &r.removed {
                println!("{verb} {}", p.display());
            }
            eprintln!(
                "kforge gc: {verb} {} ({:.1} MiB); kept {} reachable entries and {} recent unreachable ones; {} stale result links forgotten",
                r.removed.len(),
                r.bytes as f64 / (1024.0 * 1024.0),
                r.live.len(),
                r.recent,
                r.stale_roots
            );
            0
        }
        Err(e) => {
            eprintln!("error: kforge gc: {e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{entry_image, needs_cross_compiler};

    #[test]
    fn a_foreign_architecture_needs_a_cross_compiler() {
        let e = needs_cross_compiler("mips", "mips", "x86", "", "").unwrap();
        assert!(e.contains("arch = \"mips\""), "{e}");
        assert!(e.contains("cross_compile = \"mips-linux-gnu-\""), "{e}");
        assert!(e.contains("gcc-mips-linux-gnu"), "{e}");
        let e = needs_cross_compiler("arm64", "arm64", "x86", "", "").unwrap();
        assert!(e.contains("aarch64-linux-gnu-"), "{e}");
        // A cross prefix, LLVM, the host's own architecture, um: nothing.
        assert_eq!(
            needs_cross_compiler("mips", "mips", "x86", "mips-linux-gnu-", ""),
            None
        );
        assert_eq!(needs_cross_compiler("arm64", "arm64", "x86", "", "1"), None);
        assert_eq!(needs_cross_compiler("i386", "x86", "x86", "", ""), None);
        assert_eq!(needs_cross_compiler("um", "um", "x86", "", ""), None);
        assert_eq!(
            needs_cross_compiler("x86_64", "x86", "arm64", "", "1"),
            None
        );
    }

    fn targets(t: &[&str]) -> Vec<String> {
        t.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn entry_image_is_the_declared_image_target() {
        let built = |files: &'static [&'static str]| move |f: &str| files.contains(&f);
        // arm64: `make image_name` says Image.gz; `targets = ["Image"]` builds
        // Image only, and that is the image (a stale Image.gz is not taken).
        let files = &["arch/arm64/boot/Image", "arch/arm64/boot/Image.gz"];
        assert_eq!(
            entry_image(
                "arch/arm64/boot/Image.gz",
                false,
                &targets(&["Image", "modules"]),
                "arm64",
                built(files)
            )
            .as_deref(),
            Some("arch/arm64/boot/Image")
        );
        // The architecture's image, when it is built on purpose.
        assert_eq!(
            entry_image("arch/arm64/boot/Image.gz", true, &[], "arm64", built(&[])).as_deref(),
            Some("arch/arm64/boot/Image.gz")
        );
        // mips: `make image_name` says vmlinux, declared with the modules.
        assert_eq!(
            entry_image(
                "vmlinux",
                true,
                &targets(&["vmlinux", "modules"]),
                "mips",
                built(&["vmlinux"])
            )
            .as_deref(),
            Some("vmlinux")
        );
        // A path target under the build directory.
        assert_eq!(
            entry_image(
                "arch/x86/boot/bzImage",
                false,
                &targets(&["arch/x86/boot/compressed/vmlinux.bin"]),
                "x86",
                built(&["arch/x86/boot/compressed/vmlinux.bin"])
            )
            .as_deref(),
            Some("arch/x86/boot/compressed/vmlinux.bin")
        );
        // No image target declared: the architecture's image if it is there.
        assert_eq!(
            entry_image(
                "arch/x86/boot/bzImage",
                false,
                &targets(&["modules"]),
                "x86",
                built(&["arch/x86/boot/bzImage"])
            )
            .as_deref(),
            Some("arch/x86/boot/bzImage")
        );
        assert_eq!(
            entry_image(
                "arch/x86/boot/bzImage",
                false,
                &targets(&["modules"]),
                "x86",
                built(&[])
            ),
            None
        );
    }
}
