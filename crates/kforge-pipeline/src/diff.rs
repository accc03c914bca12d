//! Two configurations compared symbol by symbol, grouped by the menu each
//! symbol sits in. A side is a `.config` (plain, `.xz` or `.gz`) or a
//! declaration (`*.toml`, resolved first); for a declaration each change
//! carries the reason of its value there: the request that set it (with its
//! place), or what the engine says (a default, a select, the base
//! configuration).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use kforge_declaration::Origin;

use crate::error::Error;
use crate::import::parse_config;
use crate::resolved::{self, Resolved, Toolchain};

/// What to compare.
#[derive(Debug, Clone, Copy)]
pub struct Options<'a> {
    /// The first side: a `.config`, or a `kernel.toml`.
    pub a: &'a Path,
    /// The second side.
    pub b: &'a Path,
    /// The tree: the source of declarations, and the menus to group two
    /// `.config` files by (with `arch`).
    pub tree: Option<&'a Path>,
    /// The architecture of two `.config` files.
    pub arch: Option<&'a str>,
    /// Show the download and unpacking of a declaration's source.
    pub progress: bool,
}

/// A side of the comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Side {
    /// The file given.
    pub path: PathBuf,
    /// Whether it is a declaration (compared as it resolves).
    pub declaration: bool,
}

/// The menus a group of changes sits in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Menu {
    /// The prompts of the menus around the symbols, outermost first (none:
    /// the top level).
    Path(Vec<String>),
    /// The symbols have no menu entry.
    NoMenu,
    /// The symbols are not in the tree.
    NotInTree,
    /// No tree to group by.
    Ungrouped,
}

/// Why a symbol has its value in a resolved declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// A request at this place.
    Requested(Origin),
    /// The engine's explanation (a default, a select, the base).
    Engine(String),
    /// The tree does not define the symbol.
    NotInTree,
}

/// A symbol whose value differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The symbol, without `CONFIG_`.
    pub symbol: String,
    /// Its value in A (`n` when unset).
    pub a: String,
    /// Its value in B (`n` when unset).
    pub b: String,
    /// Why it has its value in A, when A is a declaration.
    pub reason_a: Option<Reason>,
    /// Why it has its value in B, when B is a declaration.
    pub reason_b: Option<Reason>,
}

/// The changes under one menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// The menus the symbols sit in.
    pub menu: Menu,
    /// The symbols that differ, in menu order.
    pub changes: Vec<Change>,
}

/// The comparison: groups in the order their first symbol appears (A's
/// menu order, then what only B lists).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diff {
    /// The first side.
    pub a: Side,
    /// The second side.
    pub b: Side,
    /// The changes by menu.
    pub groups: Vec<Group>,
}

impl Diff {
    /// The number of symbols that differ.
    pub fn count(&self) -> usize {
        self.groups.iter().map(|g| g.changes.len()).sum()
    }
}

/// A side loaded: its values, their order and its resolution.
struct Loaded {
    side: Side,
    values: BTreeMap<String, String>,
    /// Symbol names in the order the .config lists them (menu order).
    order: Vec<String>,
    resolved: Option<Resolved>,
}

impl Loaded {
    fn value(&self, n: &str) -> String {
        self.values.get(n).cloned().unwrap_or_else(|| "n".into())
    }
}

fn load_side(path: &Path, tree: Option<&Path>, progress: bool) -> Result<Loaded, Error> {
    let declaration = path.extension().is_some_and(|e| e == "toml");
    let (text, resolved) = if declaration {
        let spec = kforge_declaration::Spec::load(path)?;
        let tree = crate::source::tree_only(&spec, tree, progress)?;
        let r = resolved::resolve(&spec, &tree, true)?;
        (r.res.config.clone(), Some(r))
    } else {
        let text = kforge_resolve::read_config_file(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        (text, None)
    };
    let lines = parse_config(&text);
    Ok(Loaded {
        side: Side {
            path: path.to_path_buf(),
            declaration,
        },
        order: lines.iter().map(|(n, _)| n.clone()).collect(),
        values: lines.into_iter().collect(),
        resolved,
    })
}

/// Why `symbol` has its value in a resolved declaration.
fn reason(r: &mut Resolved, symbol: &str) -> Reason {
    if let Some(o) = r
        .res
        .outcomes
        .iter()
        .rev()
        .find(|o| o.request.symbol == symbol)
    {
        return Reason::Requested(o.request.origin.clone());
    }
    kforge_resolve::explain_symbol(&mut r.tree.kc, symbol)
        .map_or(Reason::NotInTree, |rep| Reason::Engine(rep.reason))
}

/// The prompts of the menus around `symbol`, outermost first.
fn menu_path(kc: &kconfig_engine::Kconfig, symbol: &str) -> Menu {
    let Some(s) = kc.find(symbol) else {
        return Menu::NotInTree;
    };
    let Some(&m) = kc.sym(s).menus.first() else {
        return Menu::NoMenu;
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
    Menu::Path(parts)
}

/// Compare `opts.a` and `opts.b`.
pub fn diff(opts: &Options<'_>) -> Result<Diff, Error> {
    let mut a = load_side(opts.a, opts.tree, opts.progress)?;
    let mut b = load_side(opts.b, opts.tree, opts.progress)?;
    // Menu order: A's, then what only B lists.
    let mut seen = BTreeSet::new();
    let changed: Vec<String> = a
        .order
        .iter()
        .chain(b.order.iter())
        .filter(|n| seen.insert(n.as_str()))
        .filter(|n| a.value(n) != b.value(n))
        .cloned()
        .collect();

    // Menus from a declaration's tree, or from the tree and architecture.
    let mut plain_tree = None;
    if a.resolved.is_none() && b.resolved.is_none() {
        if let (Some(t), Some(arch)) = (opts.tree, opts.arch) {
            let tc = Toolchain {
                arch,
                cross_compile: None,
                llvm: None,
            };
            plain_tree = Some(resolved::load_tree(t, tc, true)?);
        }
    }
    let mut groups: BTreeMap<Menu, Vec<String>> = BTreeMap::new();
    let mut order: BTreeMap<Menu, usize> = BTreeMap::new();
    for (i, name) in changed.iter().enumerate() {
        let kc = a
            .resolved
            .as_ref()
            .or(b.resolved.as_ref())
            .map(|r| &r.tree.kc)
            .or(plain_tree.as_ref().map(|t| &t.kc));
        let group = kc.map_or(Menu::Ungrouped, |kc| menu_path(kc, name));
        order.entry(group.clone()).or_insert(i);
        groups.entry(group).or_default().push(name.clone());
    }
    let mut sorted: Vec<(Menu, Vec<String>)> = groups.into_iter().collect();
    sorted.sort_by_key(|(g, _)| order[g]);
    let groups = sorted
        .into_iter()
        .map(|(menu, names)| Group {
            menu,
            changes: names
                .into_iter()
                .map(|n| Change {
                    a: a.value(&n),
                    b: b.value(&n),
                    reason_a: a.resolved.as_mut().map(|r| reason(r, &n)),
                    reason_b: b.resolved.as_mut().map(|r| reason(r, &n)),
                    symbol: n,
                })
                .collect(),
        })
        .collect();
    Ok(Diff {
        a: a.side,
        b: b.side,
        groups,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_config_files_without_a_tree() {
        let dir = tempfile::tempdir().unwrap();
        let (pa, pb) = (dir.path().join("a.config"), dir.path().join("b.config"));
        std::fs::write(&pa, "CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=m\n").unwrap();
        std::fs::write(&pb, "CONFIG_A=y\nCONFIG_B=y\nCONFIG_D=\"x\"\n").unwrap();
        let d = diff(&Options {
            a: &pa,
            b: &pb,
            tree: None,
            arch: None,
            progress: false,
        })
        .unwrap();
        assert!(!d.a.declaration && !d.b.declaration);
        assert_eq!(d.count(), 3);
        assert_eq!(d.groups.len(), 1);
        assert_eq!(d.groups[0].menu, Menu::Ungrouped);
        let c: Vec<(&str, &str, &str)> = d.groups[0]
            .changes
            .iter()
            .map(|c| (c.symbol.as_str(), c.a.as_str(), c.b.as_str()))
            .collect();
        assert_eq!(c, [("B", "n", "y"), ("C", "m", "n"), ("D", "n", "\"x\"")]);
        assert!(d.groups[0].changes.iter().all(|c| c.reason_a.is_none()));
    }

    #[test]
    fn a_missing_side_names_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let pa = dir.path().join("absent.config");
        let e = diff(&Options {
            a: &pa,
            b: &pa,
            tree: None,
            arch: None,
            progress: false,
        })
        .err()
        .unwrap();
        assert!(matches!(e, Error::Read { path, .. } if path == pa));
    }
}
