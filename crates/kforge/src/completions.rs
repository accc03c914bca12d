//! `kforge completions SHELL` and `kforge man`: shell completion scripts and
//! roff manual pages (kforge-man), generated from the command line's own
//! definition (the clap `Cli` of `main.rs`).

use std::path::PathBuf;

use clap::CommandFactory;
use clap_complete::Shell;

/// Arguments of `kforge completions`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to write a completion script for
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Arguments of `kforge man`.
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write kforge.1 and a page per subcommand (kforge-config.1, ...) into
    /// DIR, created if missing, instead of printing kforge(1) on stdout
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// `kforge completions SHELL`: the completion script on stdout.
pub fn run_completions(args: CompletionsArgs) -> i32 {
    let mut cmd = crate::Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "kforge", &mut script);
    crate::write_stdout(&script);
    0
}

/// `kforge man [--dir DIR]`: kforge(1) on stdout, or every page into DIR.
pub fn run_man(args: ManArgs) -> i32 {
    match args.dir {
        Some(dir) => match kforge_man::write_pages(crate::Cli::command(), &dir) {
            Ok(n) => {
                eprintln!("wrote {n} man pages into {}", dir.display());
                0
            }
            Err(e) => {
                eprintln!("error: writing man pages into {}: {e}", dir.display());
                1
            }
        },
        None => match kforge_man::main_page(crate::Cli::command()) {
            Ok(page) => {
                crate::write_stdout(&page);
                0
            }
            Err(e) => {
                eprintln!("error: rendering the man page: {e}");
                1
            }
        },
    }
}
