//! `kforge shell`: the configuration environment of a declaration (the
//! pipeline's shell stage): a shell, or a command, in the prepared source
//! with the resolved `.config` in its build directory; afterwards the
//! change of that `.config` as requests, written with `--write`.

use std::path::PathBuf;

use kforge_declaration::Spec;
use kforge_pipeline::run::Report;
use kforge_pipeline::{plan, resolved, shell, Error};

/// Open a shell in a declaration's source with its resolved .config
#[derive(Debug, clap::Args)]
pub struct ShellArgs {
    /// The declaration
    #[arg(value_name = "KERNEL_TOML")]
    pub spec: PathBuf,
    /// An unpacked kernel tree to use instead of the declared source
    #[arg(long, value_name = "DIR")]
    pub tree: Option<PathBuf>,
    /// Write what changed in the .config into the declaration, as requests
    #[arg(long)]
    pub write: bool,
    /// A command to run instead of the interactive shell ($SHELL)
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// `kforge shell`.
pub fn run(a: ShellArgs) -> i32 {
    try_run(&a).unwrap_or_else(|e| {
        eprint!("{}", kforge_diagnostics::errors::error(&e));
        1
    })
}

fn try_run(a: &ShellArgs) -> Result<i32, Error> {
    let store = kforge_store::Store::new(kforge_store::default_cache_root());
    let spec = Spec::load(&a.spec)?;
    let source = kforge_pipeline::source::prepare(&spec, a.tree.as_deref(), crate::progress())?;
    let mut r = resolved::resolve(&spec, &source.tree, true)?;
    kforge_diagnostics::progress::Progress::default().resolved(&spec, &mut r);
    let plan = plan::plan(&spec, source, &r, &store, &Default::default())?;
    let sh = shell::prepare(&store, &spec, &plan)?;
    let what = if a.command.is_empty() {
        "a shell"
    } else {
        "the command"
    };
    let (tree, dir) = (sh.tree.display(), sh.dir.display());
    eprintln!("kforge: {what} in {tree}, the .config in {dir} (KBUILD_OUTPUT): make nconfig, make menuconfig, ...");
    let code = sh.run(&a.command)?;
    let path = spec.path.display();
    let Some(edits) = shell::changes(&spec, &sh)? else {
        eprintln!("kforge: the .config did not change; {path} is unchanged");
        return Ok(code);
    };
    outln!("[config]");
    for e in &edits {
        let force = if e.force {
            "  # priority = \"force\""
        } else {
            ""
        };
        outln!("{} = {}{force}", e.symbol, e.value);
    }
    if !a.write {
        eprintln!("kforge: {path} is unchanged: run again with --write to add these, or copy them under [config]");
    } else if let Err(e) = kforge_declaration::edit::save(&spec.path, &edits, true) {
        eprintln!("error: {e}");
        return Ok(1);
    } else {
        eprintln!("kforge: wrote {} requests into {path}", edits.len());
    }
    Ok(code)
}
