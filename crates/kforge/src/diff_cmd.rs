//! `kforge diff A B`: two configurations compared symbol by symbol, grouped
//! by the menu each symbol sits in, with the reasons of a declaration's
//! values (the comparison is [`kforge_pipeline::diff`]).

use std::fmt::Write as _;
use std::path::PathBuf;

use kforge_pipeline::diff::{self, Menu, Reason, Side};

/// Compare two configurations (.config files or kernel.toml declarations)
#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// The first configuration: a .config, or a kernel.toml
    #[arg(value_name = "A")]
    pub a: PathBuf,
    /// The second configuration
    #[arg(value_name = "B")]
    pub b: PathBuf,
    /// The kernel tree: the source of declarations, and the menus to group
    /// two .config files by (with --arch)
    #[arg(long, value_name = "DIR")]
    pub tree: Option<PathBuf>,
    /// The architecture of two .config files (with --tree)
    #[arg(long)]
    pub arch: Option<String>,
}

/// Run the command: 0 when the configurations agree, 1 when they differ,
/// 2 on an error (as diff(1) does).
pub fn run(args: DiffArgs) -> i32 {
    let opts = diff::Options {
        a: &args.a,
        b: &args.b,
        tree: args.tree.as_deref(),
        arch: args.arch.as_deref(),
        progress: crate::progress(),
    };
    match diff::diff(&opts) {
        Ok(d) => {
            // Output that cannot be written is an error, as diff(1)'s.
            if !crate::try_write_stdout(render(&d).as_bytes()) {
                return 2;
            }
            i32::from(d.count() != 0)
        }
        Err(e) => {
            eprint!("{}", kforge_diagnostics::errors::error(&e));
            2
        }
    }
}

fn label(s: &Side) -> String {
    match s.declaration {
        true => format!("{} (resolved)", s.path.display()),
        false => s.path.display().to_string(),
    }
}

fn render(d: &diff::Diff) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "--- {}\n+++ {}", label(&d.a), label(&d.b));
    for g in &d.groups {
        let _ = match &g.menu {
            Menu::Path(p) if p.is_empty() => writeln!(out, "(top level)"),
            Menu::Path(p) => writeln!(out, "{}", p.join(" > ")),
            Menu::NoMenu => writeln!(out, "(no menu)"),
            Menu::NotInTree => writeln!(out, "(not in the tree)"),
            Menu::Ungrouped => writeln!(out, "(not grouped: give --tree and --arch)"),
        };
        for c in &g.changes {
            let _ = write!(out, "  {}: {} -> {}", c.symbol, c.a, c.b);
            let why: Vec<String> = [("A", &c.reason_a), ("B", &c.reason_b)]
                .into_iter()
                .filter_map(|(tag, r)| {
                    Some(match r.as_ref()? {
                        Reason::Requested(at) => format!("{tag}: requested at {at}"),
                        Reason::Engine(why) => format!("{tag}: {why}"),
                        Reason::NotInTree => format!("{tag}: not in this tree"),
                    })
                })
                .collect();
            if !why.is_empty() {
                let _ = write!(out, "  ({})", why.join("; "));
            }
            out.push('\n');
        }
    }
    let _ = writeln!(out, "{} symbols differ", d.count());
    out
}
