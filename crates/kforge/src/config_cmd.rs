//! `kforge config` and `kforge explain`: resolve a declaration with the
//! engine, verify every request, and report like a compiler.

use std::path::PathBuf;

use kforge_pipeline::resolved::{self, ExplainIn};
use kforge_pipeline::Error;

use kforge_diagnostics::errors::{self, Front};
use kforge_diagnostics::resolution;

/// Resolve a kernel.toml declaration: write the .config and report every
/// request that did not hold, with the reason and a fix.
#[derive(Debug, clap::Args)]
pub struct ConfigArgs {
    /// The declaration
    #[arg(value_name = "KERNEL_TOML")]
    pub spec: PathBuf,
    /// An unpacked kernel tree to use instead of the declared source
    #[arg(long, value_name = "DIR")]
    pub tree: Option<PathBuf>,
    /// Where to write the configuration
    #[arg(
        short = 'o',
        long = "output",
        value_name = "FILE",
        default_value = ".config"
    )]
    pub output: PathBuf,
    /// Print the report as JSON on stdout
    #[arg(long)]
    pub json: bool,
    /// Show what changed against the base configuration, and why
    #[arg(long)]
    pub diff: bool,
    /// Run every $(shell,...) probe instead of using the probe cache
    #[arg(long)]
    pub no_probe_cache: bool,
}

/// Explain a symbol: its definitions, dependencies with current values, who
/// selects it, its value and why.
#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// The symbol, without CONFIG_
    #[arg(value_name = "SYMBOL")]
    pub symbol: String,
    /// Explain it in the configuration this declaration resolves to
    #[arg(long, value_name = "KERNEL_TOML", conflicts_with = "arch")]
    pub spec: Option<PathBuf>,
    /// The kernel tree (required without --spec)
    #[arg(long, value_name = "DIR")]
    pub tree: Option<PathBuf>,
    /// The architecture, with --tree
    #[arg(long)]
    pub arch: Option<String>,
    /// A .config to evaluate (default: the tree's defaults)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// `kforge config`.
pub fn run(args: ConfigArgs) -> i32 {
    match try_run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprint!("{}", errors::error(&e));
            1
        }
    }
}

fn try_run(args: &ConfigArgs) -> Result<i32, Error> {
    let spec = kforge_declaration::Spec::load(&args.spec)?;
    let tree = kforge_pipeline::source::tree_only(&spec, args.tree.as_deref(), crate::progress())?;
    let mut r = resolved::resolve(&spec, &tree, !args.no_probe_cache)?;
    eprint!("{}", resolution::version_warning(&spec, &r));
    kforge_fs::write_atomic(&args.output, r.res.config.as_bytes()).map_err(|e| Error::Write {
        path: args.output.clone(),
        source: e.source,
    })?;
    let errors = r.error_count();
    if args.json {
        eprint!("{}", resolution::module_errors(&r));
        eprint!("{}", resolution::unknown_conditions(&r));
        outln!(
            "{}",
            resolution::report_json(&r.res, &args.output, r.ignore_errors)
        );
    } else {
        let mut out = resolution::report(&mut r, args.diff);
        let warnings = r.warning_count();
        let (requests, held) = r.held();
        out.push_str(&format!(
            "{}: {requests} requests, {held} held, {errors} errors, {warnings} warnings; wrote {}\n",
            if errors > 0 { "error" } else { "done" },
            args.output.display()
        ));
        eprint!("{out}");
    }
    crate::leave_to_exit(r);
    Ok(if errors > 0 { 1 } else { 0 })
}

/// `kforge explain`.
pub fn run_explain(args: ExplainArgs) -> i32 {
    match try_explain(&args) {
        Ok(text) => {
            out!("{text}");
            0
        }
        Err(text) => {
            eprint!("{text}");
            1
        }
    }
}

/// The explanation, or the rendered error.
fn try_explain(args: &ExplainArgs) -> Result<String, String> {
    let name = args.symbol.strip_prefix("CONFIG_").unwrap_or(&args.symbol);
    let report = if let Some(spec_path) = &args.spec {
        let render = |e: Error| errors::error_in(&e, Front::Declaration);
        let spec = kforge_declaration::Spec::load(spec_path).map_err(|e| render(e.into()))?;
        let tree =
            kforge_pipeline::source::tree_only(&spec, args.tree.as_deref(), crate::progress())
                .map_err(render)?;
        let within = ExplainIn::Declaration {
            spec: &spec,
            tree: &tree,
        };
        resolved::explain(name, within).map_err(render)?
    } else {
        let render = |e: Error| errors::error_in(&e, Front::Flags);
        let (Some(tree), Some(arch)) = (&args.tree, &args.arch) else {
            return Err("error: --tree DIR and --arch ARCH are needed without --spec\n".into());
        };
        let config = match &args.config {
            Some(f) => kforge_resolve::read_config_file(f).map_err(|source| {
                render(Error::Read {
                    path: f.clone(),
                    source,
                })
            })?,
            None => String::new(),
        };
        resolved::explain(name, ExplainIn::Tree { tree, arch, config }).map_err(render)?
    };
    Ok(report.to_string())
}
