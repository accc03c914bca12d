//! `kforge menuconfig`: a terminal UI over the engine, after resolving the
//! declaration; saving writes the changes back as requests. The logic lives
//! in kforge-menuconfig: its model, and its terminal UI (ratatui).

use std::io::IsTerminal;
use std::path::PathBuf;

use kforge_menuconfig::Model;

use kforge_pipeline::resolved;
use kforge_pipeline::Error as ConfigError;

/// Browse and edit the configuration a kernel.toml resolves to, with the
/// keys of `make menuconfig`; save writes the changes back as requests.
#[derive(Debug, clap::Args)]
pub struct MenuconfigArgs {
    /// The declaration
    #[arg(value_name = "KERNEL_TOML")]
    pub spec: PathBuf,
    /// An unpacked kernel tree to use instead of the declared source
    #[arg(long, value_name = "DIR")]
    pub tree: Option<PathBuf>,
    /// Save the changes to this TOML file (a `[config]` table to include)
    /// instead of into the declaration
    #[arg(long = "output", short = 'o', value_name = "FRAGMENT")]
    pub output: Option<PathBuf>,
    /// Run every $(shell,...) probe instead of using the probe cache
    #[arg(long)]
    pub no_probe_cache: bool,
}

/// `kforge menuconfig`.
pub fn run(args: MenuconfigArgs) -> i32 {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        eprintln!(
            "error: kforge menuconfig needs a terminal: its standard input and output must be a tty \
             (use `kforge config` in scripts)"
        );
        return 1;
    }
    let mut model = match prepare(&args) {
        Ok(m) => m,
        Err(e) => {
            eprint!("{}", kforge_diagnostics::errors::error(&e));
            return 1;
        }
    };
    match kforge_menuconfig::tui::run(&mut model) {
        Ok(()) => {
            if !model.status.is_empty() {
                eprintln!("{}", model.status);
            }
            0
        }
        Err(e) => {
            eprintln!("error: the terminal failed: {e}");
            1
        }
    }
}

fn prepare(args: &MenuconfigArgs) -> Result<Model, ConfigError> {
    let spec = kforge_declaration::Spec::load(&args.spec)?;
    let tree = match &args.tree {
        Some(t) => t.clone(),
        None => kforge_pipeline::source::tree_only(&spec, None, crate::progress())?,
    };
    eprintln!(
        "resolving {} against {} ...",
        args.spec.display(),
        tree.display()
    );
    let r = resolved::resolve(&spec, &tree, !args.no_probe_cache)?;
    let warning = r.version_mismatch(&spec).map(|tv| {
        format!(
            "warning: the tree is Linux {}.{}.{}, the declaration says {} (since/until are compared with the tree's version)",
            tv.major, tv.minor, tv.patch, spec.source.version_text
        )
    });
    let ctx = kforge_menuconfig::Context {
        spec_path: args.spec.clone(),
        output: args.output.clone(),
        input: Some(r.input),
        base_config: r.res.base_config,
        outcomes: r.res.outcomes,
        active_conditions: r.res.active_conditions,
        auto_modules: r.res.auto_modules,
    };
    let mut model = Model::new(r.tree.kc, ctx);
    if let Some(w) = warning {
        model.status = w;
    }
    Ok(model)
}
