//! `kforge build` and `kforge gc`: the pipeline's stages from declaration
//! to store entry (kforge-pipeline), with progress on a terminal; or the
//! entries nothing refers to collected.

use std::path::PathBuf;
use std::time::Duration;

use kforge_declaration::Spec;
use kforge_diagnostics::progress::Progress;
use kforge_pipeline::matrix::{self, Format, Toolchain};
use kforge_pipeline::plan::BuildOptions;
use kforge_pipeline::run::{self, BuildRequest, Built};
use kforge_pipeline::{Error, Plan};
use kforge_store::Store;

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
    /// Where compiles go: icecream, distcc or none (this machine);
    /// default: `[build] distribute`
    #[arg(long, value_name = "FARM")]
    pub distribute: Option<kforge_pipeline::plan::FarmChoice>,
    /// After the build (or a store hit, or a substitution), push the entry
    /// to this binary cache (`--push=DEST`; `--push` alone: the first of
    /// `[store] substituters`), signed with --key
    #[arg(long, value_name = "DEST", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    pub push: Option<String>,
    /// The secret key --push signs with (NAME.secret from `kforge store
    /// keygen`); default: the file `KFORGE_SIGNING_KEY` names
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Build for this architecture instead of `[build] arch` (a job of
    /// `kforge matrix --arch`)
    #[arg(long, value_name = "ARCH")]
    pub arch: Option<String>,
    /// Build with gcc or llvm instead of the declared toolchain (a job of
    /// `kforge matrix --toolchain`)
    #[arg(long, value_name = "TOOLCHAIN")]
    pub toolchain: Option<Toolchain>,
}

/// Print the build jobs of declarations × architectures × toolchains for a
/// CI engine, each with its store key and whether it is cached.
#[derive(Debug, clap::Args)]
pub struct MatrixArgs {
    /// The declarations
    #[arg(value_name = "KERNEL_TOML", required = true)]
    pub specs: Vec<PathBuf>,
    /// github (a strategy.matrix object), gitlab (a child pipeline),
    /// buildkite (a pipeline to upload) or json
    #[arg(long, value_name = "FORMAT", default_value = "json")]
    pub format: Format,
    /// Architectures to build each declaration for (default: its own)
    #[arg(long, value_name = "ARCH", value_delimiter = ',')]
    pub arch: Vec<String>,
    /// Toolchains to build each declaration with: gcc, llvm (default: its own)
    #[arg(long, value_name = "TOOLCHAIN", value_delimiter = ',')]
    pub toolchain: Vec<Toolchain>,
    /// An unpacked kernel tree to plan with instead of the declared sources
    #[arg(long, value_name = "DIR")]
    pub tree: Option<PathBuf>,
}

/// Remove the store entries no result link points at; collect the probe cache
#[derive(Debug, clap::Args)]
pub struct GcArgs {
    /// Only entries unused for at least DAYS days (and then also build
    /// directories unused that long)
    #[arg(long, value_name = "DAYS", value_parser = kforge_store::parse_days, allow_hyphen_values = true)]
    pub older_than: Option<Duration>,
    /// Say what would be removed, remove nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// `kforge build`.
pub fn run(args: BuildArgs) -> i32 {
    let store = Store::new(kforge_store::default_cache_root());
    let opts = BuildOptions {
        jobs: args.jobs,
        keep_going: args.keep_going,
        strip_modules: args.strip_modules,
        vmlinux: args.vmlinux,
        farm: args.distribute.unwrap_or_default(),
    };
    let built = Spec::load(&args.spec)
        .map_err(Error::from)
        .and_then(|mut spec| {
            matrix::override_target(&mut spec, args.arch.as_deref(), args.toolchain);
            let req = BuildRequest {
                spec: &spec,
                opts: &opts,
                out_link: &args.out_link,
                dry_run: args.dry_run,
                probe_cache: !args.no_probe_cache,
            };
            let dest = match args.push.as_deref() {
                Some("") => Some(push_dest(&spec)?),
                Some(d) => Some(d.to_string()),
                None => None,
            };
            let key = match &dest {
                Some(_) => Some(kforge_pipeline::substitute::signing_key(args.key.clone())?),
                None => None,
            };
            let built = build(&store, &req, args.tree.as_deref(), &mut Progress::default())?;
            if let (Some(dest), Some(key), Built::Entry(e)) = (dest, &key, &built) {
                let entry = e.path.display().to_string();
                let (name, pushed) = kforge_pipeline::substitute::push(&store, &entry, &dest, key)?;
                eprintln!(
                    "{}",
                    kforge_diagnostics::cache::pushed(&name, &dest, &pushed)
                );
            }
            Ok(built)
        });
    match built {
        Ok(Built::Entry(entry)) => {
            outln!("{}", entry.path.display());
            0
        }
        Ok(Built::DryRun(plan)) => {
            print_plan(&store, &plan);
            0
        }
        Err(e) => {
            eprint!("{}", kforge_diagnostics::errors::error(&e));
            1
        }
    }
}

/// `--push` without a destination: the declaration's first substituter.
fn push_dest(spec: &Spec) -> Result<String, Error> {
    match spec.store.substituters.first() {
        Some((url, _)) => Ok(url.clone()),
        None => Err(Error::NoSubstituters(spec.path.clone())),
    }
}

/// The declaration's source prepared (or `tree`), then its entry built or
/// found.
pub fn build(
    store: &Store,
    req: &BuildRequest<'_>,
    tree: Option<&std::path::Path>,
    progress: &mut Progress,
) -> Result<Built, Error> {
    let source = kforge_pipeline::source::prepare(req.spec, tree, crate::progress())?;
    run::build_declaration(store, req, source, None, progress)
}

/// `kforge matrix`.
pub fn run_matrix(args: MatrixArgs) -> i32 {
    let store = Store::new(kforge_store::default_cache_root());
    let axes = matrix::Axes {
        arches: args.arch,
        toolchains: args.toolchain,
    };
    // Cached: in this store, or in one of each declaration's substituters.
    let mut cache = kforge_pipeline::substitute::MatrixCache::new(&store);
    let jobs = matrix::jobs(
        &store,
        &args.specs,
        &axes,
        args.tree.as_deref(),
        &mut cache,
        crate::progress(),
    );
    for (url, e) in std::mem::take(&mut cache.unavailable) {
        let miss = kforge_pipeline::substitute::Miss::Unavailable(e);
        eprintln!("{}", kforge_diagnostics::cache::miss(&url, &miss));
    }
    match jobs.map(|jobs| matrix::render(&jobs, args.format)) {
        Ok(Ok(text)) => {
            crate::write_stdout(text.as_bytes());
            0
        }
        Ok(Err(e)) => {
            eprintln!("error: kforge matrix: {e}");
            1
        }
        Err(e) => {
            eprint!("{}", kforge_diagnostics::errors::error(&e));
            1
        }
    }
}

/// `--dry-run`: the store key, the entry, the make command, the key inputs.
pub fn print_plan(store: &Store, plan: &Plan) {
    let exists = store.existing(&plan.name).is_some();
    outln!("store key: {}", plan.hash);
    outln!(
        "entry: {} ({})",
        store.entry_path(&plan.name).display(),
        if exists { "built" } else { "not built" }
    );
    outln!("build directory: {}", plan.make.objdir.display());
    let targets = if plan.declared_targets.is_empty() {
        vec!["<image>".to_string()]
    } else {
        plan.declared_targets.clone()
    };
    outln!("make: {}", plan.make.display(&targets));
    outln!("key inputs:");
    for (k, v) in plan.key.items() {
        outln!("  {k}={v}");
    }
}

/// `kforge gc`.
pub fn run_gc(args: GcArgs) -> i32 {
    let store = Store::new(kforge_store::default_cache_root());
    let opts = kforge_store::GcOptions {
        older_than: args.older_than,
        dry_run: args.dry_run,
        probe_cache: Some(kforge_probe_cache::ProbeCache::default_dir()),
    };
    match store.gc(&opts) {
        Ok(r) => {
            let verb = if args.dry_run {
                "would remove"
            } else {
                "removed"
            };
            for p in &r.removed {
                outln!("{verb} {}", p.display());
            }
            eprintln!("{}", r.summary(args.dry_run));
            0
        }
        Err(e) => {
            eprintln!("error: kforge gc: {e}");
            1
        }
    }
}
