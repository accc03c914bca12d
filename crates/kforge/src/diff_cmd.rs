//! `kforge diff A B`: two configurations compared symbol by symbol, grouped
//! by the menu each symbol sits in. A side is a `.config` (plain, `.xz` or
//! `.gz`) or a declaration (`*.toml`, resolved first); for a declaration
//! each change carries the reason of its value there: the request that set
//! it (with its place), or what the engine says (a default, a select, the
//! base configuration).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::config_cmd;
use crate::import_cmd::parse_config;
use kforge_pipeline::resolved::{self, Resolved};
use kforge_pipeline::Error as ConfigError;

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

/// One side: its label, its .config text and, for a declaration, its
/// resolution.
struct Side {
    label: String,
    values: BTreeMap<String, String>,
    /// Symbol names in the order the .config lists them (menu order).
    order: Vec<String>,
    resolved: Option<Resolved>,
}

fn is_spec(p: &Path) -> bool {
    p.extension().is_some_and(|e| e == "toml")
}

fn load_side(path: &Path, tree: Option<&Path>) -> Result<Side, ConfigError> {
    if is_spec(path) {
        let spec = kforge_declaration::Spec::load(path)?;
        let tree = match tree {
            Some(t) => t.to_path_buf(),
            None => kforge_pipeline::source::tree_only(&spec, None, crate::progress())?,
        };
        let r = resolved::resolve(&spec, &tree, true)?;
        let lines = parse_config(&r.res.config);
        Ok(Side {
            label: format!("{} (resolved)", path.display()),
            order: lines.iter().map(|(n, _)| n.clone()).collect(),
            values: lines.into_iter().collect(),
            resolved: Some(r),
        })
    } else {
        let text = kforge_resolve::read_config_file(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let lines = parse_config(&text);
        Ok(Side {
            label: path.display().to_string(),
            order: lines.iter().map(|(n, _)| n.clone()).collect(),
            values: lines.into_iter().collect(),
            resolved: None,
        })
    }
}

/// Why `symbol` has its value in a resolved declaration.
fn reason(r: &mut Resolved, symbol: &str) -> String {
    if let Some(o) = r
        .res
        .outcomes
        .iter()
        .rev()
        .find(|o| o.request.symbol == symbol)
    {
        return format!("requested at {}", o.request.origin);
    }
    kforge_resolve::explain_symbol(&mut r.tree.kc, symbol)
        .map(|rep| rep.reason)
        .unwrap_or_else(|| "not in this tree".into())
}

/// The prompts of the menus around `symbol`, outermost first.
fn menu_path(kc: &kconfig_engine::Kconfig, symbol: &str) -> String {
    let Some(s) = kc.find(symbol) else {
        return "(not in the tree)".into();
    };
    let Some(&m) = kc.sym(s).menus.first() else {
        return "(no menu)".into();
    };
    let mut parts = Vec::new();
    let mut cur = kc.menu(m).parent;
    while let Some(p) = cur {
        let menu = kc.menu(p);
        if menu.parent.is_some() {
            if let Some(text) = menu.prompt.and_then(|pr| kc.prop(pr).text.clone()) {
                parts.push(text.to_string());
            }
        }
        cur = menu.parent;
    }
    parts.reverse();
    if parts.is_empty() {
        "(top level)".into()
    } else {
        parts.join(" > ")
    }
}

/// Run the command: 0 when the configurations agree, 1 when they differ,
/// 2 on an error (as diff(1) does).
pub fn run(args: DiffArgs) -> i32 {
    match try_run(&args) {
        Ok(same) => i32::from(!same),
        Err(e) => {
            eprint!("{}", config_cmd::render_error(&e));
            2
        }
    }
}

fn try_run(args: &DiffArgs) -> Result<bool, ConfigError> {
    let mut a = load_side(&args.a, args.tree.as_deref())?;
    let mut b = load_side(&args.b, args.tree.as_deref())?;
    let value = |s: &Side, n: &str| s.values.get(n).cloned().unwrap_or_else(|| "n".into());
    // Menu order: A's, then what only B lists.
    let mut seen = BTreeSet::new();
    let changed: Vec<String> = a
        .order
        .iter()
        .chain(b.order.iter())
        .filter(|n| seen.insert(n.as_str()))
        .filter(|n| value(&a, n) != value(&b, n))
        .cloned()
        .collect();

    // Menus from a declaration's tree, or from --tree/--arch.
    let mut plain_tree = None;
    if a.resolved.is_none() && b.resolved.is_none() {
        if let (Some(t), Some(arch)) = (&args.tree, &args.arch) {
            plain_tree = Some(resolved::load_tree(
                t,
                resolved::Toolchain {
                    arch,
                    cross_compile: None,
                    llvm: None,
                },
                true,
            )?);
        }
    }
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut order: BTreeMap<String, usize> = BTreeMap::new();
    for (i, name) in changed.iter().enumerate() {
        let kc = a
            .resolved
            .as_ref()
            .or(b.resolved.as_ref())
            .map(|r| &r.tree.kc)
            .or(plain_tree.as_ref().map(|t| &t.kc));
        let group = kc.map_or_else(
            || "(not grouped: give --tree and --arch)".to_string(),
            |kc| menu_path(kc, name),
        );
        order.entry(group.clone()).or_insert(i);
        groups.entry(group).or_default().push(name.clone());
    }
    let mut out = String::new();
    let _ = writeln!(out, "--- {}\n+++ {}", a.label, b.label);
    let mut sorted: Vec<(&String, &Vec<String>)> = groups.iter().collect();
    sorted.sort_by_key(|(g, _)| order[*g]);
    for (group, names) in sorted {
        let _ = writeln!(out, "{group}");
        for n in names {
            let mut line = format!("  {n}: {} -> {}", value(&a, n), value(&b, n));
            let mut why = Vec::new();
            for (side, tag) in [(&mut a, "A"), (&mut b, "B")] {
                if let Some(r) = side.resolved.as_mut() {
                    why.push(format!("{tag}: {}", reason(r, n)));
                }
            }
            if !why.is_empty() {
                let _ = write!(line, "  ({})", why.join("; "));
            }
            let _ = writeln!(out, "{line}");
        }
    }
    let _ = writeln!(out, "{} symbols differ", changed.len());
    // A closed pipe (`| head`) ends the output quietly.
    let _ = std::io::Write::write_all(&mut std::io::stdout(), out.as_bytes());
    Ok(changed.is_empty())
}
