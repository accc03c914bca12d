//! `kforge completions SHELL` and `kforge man`: shell completion scripts and
//! roff manual pages, generated from the command line's own definition (the
//! clap `Cli` of `main.rs`), so they list exactly the subcommands and options
//! the binary accepts.
//!
//! `kforge man` prints kforge(1) on stdout: the synopsis, the options, every
//! subcommand with its one-line description, and a SEE ALSO section naming
//! the subcommands' own pages. `kforge man --dir DIR` writes those pages:
//! `kforge.1` and one `kforge-<sub>.1` per subcommand, nested subcommands
//! included (`kforge-modules-closure.1`), each with its full option list.

use std::io::Write;
use std::path::{Path, PathBuf};

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
        Some(dir) => match write_pages(&dir) {
            Ok(n) => {
                eprintln!("wrote {n} man pages into {}", dir.display());
                0
            }
            Err(e) => {
                eprintln!("error: writing man pages into {}: {e}", dir.display());
                1
            }
        },
        None => {
            let mut page = Vec::new();
            if let Err(e) = render_main_page(&mut page) {
                eprintln!("error: rendering the man page: {e}");
                return 1;
            }
            crate::write_stdout(&page);
            0
        }
    }
}

/// The command line as the pages describe it: without clap's `help`
/// subcommand (`--help` stays), built so that subcommands know their full
/// names (`kforge-config`).
fn man_command() -> clap::Command {
    let mut cmd = crate::Cli::command().disable_help_subcommand(true);
    cmd.build();
    cmd
}

/// One page rendered by clap_mangen, with its `.TH` line moved first: the
/// page opens with its title, then defines the `\*(Aq` string it uses for
/// apostrophes (clap_mangen writes the definition before the title).
fn render_page(cmd: clap::Command, out: &mut Vec<u8>) -> std::io::Result<()> {
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd)
        .source(concat!("kforge ", env!("CARGO_PKG_VERSION")))
        .render(&mut page)?;
    let page = String::from_utf8_lossy(&page);
    let mut lines: Vec<&str> = page.lines().collect();
    if let Some(i) = lines.iter().position(|l| l.starts_with(".TH ")) {
        let th = lines.remove(i);
        lines.insert(0, th);
    }
    out.extend_from_slice((lines.join("\n") + "\n").as_bytes());
    Ok(())
}

/// kforge(1): the synopsis, options and subcommands, then SEE ALSO naming
/// each subcommand's page.
fn render_main_page(out: &mut Vec<u8>) -> std::io::Result<()> {
    let cmd = man_command();
    let subs: Vec<String> = visible_subcommands(&cmd)
        .map(|s| format!("kforge-{}", s.get_name()))
        .collect();
    render_page(cmd, out)?;
    let mut see_also = String::from(".SH \"SEE ALSO\"\n");
    for (i, name) in subs.iter().enumerate() {
        let sep = if i + 1 < subs.len() { "," } else { "" };
        // \% keeps a name from being hyphenated across lines.
        let name = name.replace('-', "\\-");
        see_also.push_str(&format!(".BR \\%{name} (1){sep}\n"));
    }
    see_also.push_str(
        ".PP\nThe subcommands' pages are written by \\fBkforge man \\-\\-dir\\fR \\fIDIR\\fR. \
         The manual is docs/README.md in kforge's source.\n",
    );
    out.write_all(see_also.as_bytes())
}

fn visible_subcommands(cmd: &clap::Command) -> impl Iterator<Item = &clap::Command> {
    cmd.get_subcommands().filter(|s| !s.is_hide_set())
}

/// Every page into `dir`: kforge.1 and `kforge-<sub>.1` for each
/// subcommand, nested ones included. Returns the number of pages written.
fn write_pages(dir: &Path) -> std::io::Result<usize> {
    fn write_subpages(cmd: &clap::Command, dir: &Path) -> std::io::Result<usize> {
        let mut n = 0;
        for sub in visible_subcommands(cmd) {
            let name = sub.get_display_name().unwrap_or(sub.get_name());
            let mut page = Vec::new();
            render_page(sub.clone(), &mut page)?;
            std::fs::write(dir.join(format!("{name}.1")), page)?;
            n += 1 + write_subpages(sub, dir)?;
        }
        Ok(n)
    }
    std::fs::create_dir_all(dir)?;
    let mut page = Vec::new();
    render_main_page(&mut page)?;
    std::fs::write(dir.join("kforge.1"), page)?;
    Ok(1 + write_subpages(&man_command(), dir)?)
}
