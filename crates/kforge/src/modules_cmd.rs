//! `kforge modules closure|loader|build`: what a requirement needs from a
//! module tree, a directory that loads exactly that, and a module under
//! development built against a declared kernel.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use depmod::closure::{Closure, Options, Tree};

/// Module closures and loaders
#[derive(Debug, Args)]
pub struct ModulesArgs {
    #[command(subcommand)]
    pub command: ModulesCmd,
}

#[derive(Debug, Subcommand)]
pub enum ModulesCmd {
    /// Print the modules a requirement needs, in load order, with firmware
    Closure(TreeArgs),
    /// Write a loader: the closure's modules, depmod files, firmware,
    /// load.sh/unload.sh, an s6-rc oneshot and a systemd unit
    Loader(LoaderArgs),
    /// Build a module directory against the declared kernel's store entry
    /// (built first when missing), incrementally; print the .ko paths
    Build(BuildArgs),
}

/// `kforge module build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The module's directory (its Kbuild or Makefile); kbuild builds in it
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// The declaration of the kernel to build against
    #[arg(long, value_name = "KERNEL_TOML", default_value = "kernel.toml")]
    pub spec: PathBuf,
    /// An unpacked kernel tree to use instead of the declared source
    #[arg(long, value_name = "DIR")]
    pub tree: Option<PathBuf>,
    /// The symlink to point at the kernel's store entry
    #[arg(long, value_name = "PATH", default_value = "result")]
    pub out_link: PathBuf,
    /// Further make arguments (`KCPPFLAGS=-DDEBUG`, `W=1`)
    #[arg(last = true, value_name = "MAKE_ARGS")]
    pub make_flags: Vec<String>,
}

/// Where the modules are and what is wanted.
#[derive(Debug, Args)]
pub struct TreeArgs {
    /// A root holding lib/modules/VERSION, or lib/modules, or the
    /// lib/modules/VERSION directory itself (depmod'ed)
    #[arg(long = "modules", value_name = "DIR")]
    pub modules: PathBuf,
    /// Kernel version
    #[arg(long = "version", value_name = "V")]
    pub version: String,
    /// Firmware directory (/lib/firmware layout)
    #[arg(long = "firmware", value_name = "DIR")]
    pub firmware: Option<PathBuf>,
    /// Include weak dependencies (modules.weakdep / weakdep=)
    #[arg(long = "weak")]
    pub weak: bool,
    /// The kernel source tree the modules were built from: needed for
    /// CONFIG_NAME targets (its Makefiles say which modules a symbol builds)
    #[arg(long = "tree", value_name = "DIR")]
    pub tree: Option<PathBuf>,
    /// Module names (with - or _), aliases, symbol:NAME (an exported
    /// symbol), or CONFIG_NAME (the modules a Kconfig symbol builds; with
    /// --tree)
    #[arg(value_name = "TARGET", required = true)]
    pub targets: Vec<String>,
}

/// `kforge modules loader`.
#[derive(Debug, Args)]
pub struct LoaderArgs {
    #[command(flatten)]
    pub tree: TreeArgs,
    /// Output directory (created; replaced if it holds an earlier loader)
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    pub out: PathBuf,
    /// Write modules decompressed (.ko) instead of as built
    #[arg(long = "decompress")]
    pub decompress: bool,
    /// Loader name (marker file, service names); default: OUT's file name
    #[arg(long = "name")]
    pub name: Option<String>,
    /// Where OUT will be on the target (for the service files); default:
    /// OUT's absolute path
    #[arg(long = "prefix", value_name = "PATH")]
    pub prefix: Option<PathBuf>,
}

/// Run the command; returns the exit code.
pub fn run(a: ModulesArgs) -> i32 {
    let r = match a.command {
        ModulesCmd::Closure(t) => closure(&t).map(|(_, c)| print_closure(&c)),
        ModulesCmd::Loader(l) => loader(&l),
        ModulesCmd::Build(b) => return build(&b),
    };
    match r {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("kforge: error: {e}");
            1
        }
    }
}

fn closure(t: &TreeArgs) -> Result<(Tree, Closure), String> {
    let dir = Tree::find(&t.modules, &t.version).map_err(|e| e.to_string())?;
    let tree = Tree::open(&dir).map_err(|e| e.to_string())?;
    let opts = Options {
        weak: t.weak,
        firmware_dir: t.firmware.clone(),
    };
    let targets = kforge_pipeline::modules::expand_symbols(&t.targets, t.tree.as_deref(), &tree)
        .map_err(|e| e.to_string())?;
    let c = tree.closure(&targets, &opts).map_err(|e| e.to_string())?;
    for w in &c.warnings {
        eprintln!("kforge: warning: {w}");
    }
    Ok((tree, c))
}

fn print_closure(c: &Closure) {
    let mut s = String::new();
    for m in &c.modules {
        let _ = writeln!(s, "module {} {}", m.name, m.path.display());
    }
    for b in &c.builtin {
        let _ = writeln!(s, "builtin {b}");
    }
    for f in &c.firmware {
        let _ = writeln!(
            s,
            "firmware {} {}{}",
            f.module,
            f.file,
            match &f.found {
                Some(p) => format!(" {}", p.display()),
                None => String::new(),
            }
        );
    }
    out!("{s}");
}

fn loader(a: &LoaderArgs) -> Result<(), String> {
    let (tree, c) = closure(&a.tree)?;
    let name = match &a.name {
        Some(n) => n.clone(),
        None => a
            .out
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    let opts = depmod::loader::Options {
        name: name.clone(),
        version: a.tree.version.clone(),
        decompress: a.decompress,
        prefix: a.prefix.clone(),
        firmware_dir: a.tree.firmware.clone(),
    };
    let s = depmod::loader::write(&tree, &c, &a.out, &opts).map_err(|e| match e {
        depmod::loader::Error::BadName(_) if a.name.is_none() => format!("{e} (give --name)"),
        e => e.to_string(),
    })?;
    eprintln!(
        "kforge: loader {name}: {} modules, {} built in, {} firmware files in {}",
        s.modules.len(),
        s.builtin.len(),
        s.firmware,
        a.out.display()
    );
    Ok(())
}

/// `kforge module build`: the entry (a store hit when nothing changed),
/// then the module against its `dev/`.
fn build(a: &BuildArgs) -> i32 {
    match try_build(a) {
        Ok(modules) => {
            for m in modules {
                outln!("{}", m.display());
            }
            0
        }
        Err(e) => {
            eprint!("{}", kforge_diagnostics::errors::error(&e));
            1
        }
    }
}

fn try_build(a: &BuildArgs) -> Result<Vec<PathBuf>, kforge_pipeline::Error> {
    use kforge_diagnostics::progress::Progress;
    use kforge_pipeline::run::{BuildRequest, Built};
    let store = kforge_store::Store::new(kforge_store::default_cache_root());
    let spec = kforge_declaration::Spec::load(&a.spec)?;
    let (opts, tree) = (Default::default(), a.tree.as_deref());
    let req = BuildRequest {
        spec: &spec,
        opts: &opts,
        out_link: &a.out_link,
        dry_run: false,
        probe_cache: true,
    };
    let entry = || match crate::build_cmd::build(&store, &req, tree, &mut Progress::default())? {
        Built::Entry(e) => Ok(e.path),
        Built::DryRun(_) => unreachable!("not a dry run"),
    };
    let last = std::fs::canonicalize(&a.out_link).ok();
    let (dir, flags, p) = (&a.dir, &a.make_flags, &mut Progress::default());
    kforge_pipeline::external::build_module_against(&store, last.as_deref(), entry, dir, flags, p)
}
