//! Requirement closures: which modules a set of targets needs, in an order
//! `insmod` can load them, and the firmware files they ask for.
//!
//! A target is a module name (`snd-hda-intel` or `snd_hda_intel`), an alias
//! matched against the `fnmatch` patterns of `modules.alias` (`fs-btrfs`,
//! `pci:v00008086d...`), or `symbol:NAME` (`modules.symbols`). It resolves
//! the way modprobe resolves one: a module of `modules.dep` first, then
//! symbols, then aliases (every module whose pattern matches), then the
//! built-in modules (`modules.builtin`), which are satisfied without
//! loading anything.
//!
//! What a module needs, following modprobe's rules (learnt from kmod's
//! libkmod-module.c and written here anew):
//! - its `modules.dep` line (already the full transitive closure),
//! - its soft dependencies, from the first `softdep` entry of
//!   `modules.softdep` naming it (modprobe uses only the first matching
//!   entry); when the tree has no `modules.softdep`, from the module's own
//!   `.modinfo` `softdep=`. Each softdep name is resolved as a target
//!   (so it may be an alias, may match several modules, may be built in,
//!   and is silently skipped when nothing matches). Soft dependencies of the
//!   module's dependencies count too, and a softdep module brings its own
//!   dependencies and soft dependencies.
//! - optionally its weak dependencies (`modules.weakdep`, or `weakdep=`),
//!   which modprobe never loads but an image may want to ship; they are
//!   placed before the module.
//!
//! Order: a depth-first walk that emits pre-softdeps, then dependencies
//! (in `modules.dep` load order), then the module, then its post-softdeps.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::modinfo::{parse_softdep, Softdep};
use crate::name::{normalize_alias, path_to_name};

/// Why a closure could not be computed. Each variant names what failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An index file could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A line of an index file makes no sense.
    #[error("{}:{line}: malformed line", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
    },
    /// A target is neither a module, an alias nor a built-in module.
    #[error("unknown module, alias or symbol '{0}': nothing in modules.dep, modules.alias, modules.symbols or modules.builtin matches it")]
    Unknown(String),
    /// No depmod'ed tree of `version` under `dir`.
    #[error("no modules.dep under {} for version {version} (looked in lib/modules/{version}, {version} and the directory itself; run depmod first)", dir.display())]
    NoTree {
        /// Where it was looked for.
        dir: PathBuf,
        /// The kernel release.
        version: String,
    },
    /// A target has unbalanced brackets.
    #[error("invalid target '{0}': unmatched '[' or ']'")]
    BadTarget(String),
    /// `modules.dep` names a dependency it has no line for.
    #[error("module {module} depends on {dep}, which modules.dep does not list")]
    MissingDep {
        /// The module.
        module: String,
        /// Its missing dependency.
        dep: String,
    },
    /// A module of the closure could not be read.
    #[error(transparent)]
    Module(#[from] crate::module::Error),
}

/// One module of the tree, from `modules.dep`.
#[derive(Debug, Clone)]
struct DepLine {
    /// Path relative to the tree (as written in modules.dep).
    path: String,
    /// Dependencies' names in load order (modules.dep lists them the other
    /// way round).
    deps: Vec<String>,
}

/// A depmod'ed module tree (`lib/modules/<version>`), its index files read.
#[derive(Debug, Clone)]
pub struct Tree {
    dir: PathBuf,
    modules: HashMap<String, DepLine>,
    /// Module names in modules.dep order.
    order: Vec<String>,
    /// (normalised pattern, module) from modules.alias.
    aliases: Vec<(Vec<u8>, String)>,
    /// symbol name (without `symbol:`) → module, from modules.symbols.
    symbols: HashMap<String, String>,
    /// module → first softdep entry of modules.softdep; `None` when the
    /// tree has no modules.softdep (then `.modinfo` is read).
    softdeps: Option<HashMap<String, Softdep>>,
    /// module → weak dependencies; `None` without modules.weakdep.
    weakdeps: Option<HashMap<String, Vec<String>>>,
    builtin: HashSet<String>,
}

/// What to include.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Also take weak dependencies.
    pub weak: bool,
    /// Where firmware files are looked up (`/lib/firmware` layout).
    pub firmware_dir: Option<PathBuf>,
}

/// One module to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its name (`snd_hda_intel`).
    pub name: String,
    /// Its file, relative to the tree (`kernel/sound/pci/hda/snd-hda-intel.ko`).
    pub path: PathBuf,
    /// Its `modules.dep` dependencies, in load order.
    pub depends: Vec<String>,
    /// Its `firmware=` files.
    pub firmware: Vec<String>,
}

/// A firmware file some module asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Firmware {
    /// The module asking.
    pub module: String,
    /// The file name as the module gives it (relative to the firmware dir).
    pub file: String,
    /// Where it was found (possibly with `.xz`/`.zst` appended), when a
    /// firmware directory was given and it is there.
    pub found: Option<PathBuf>,
}

/// The result: modules in load order, built-in targets, firmware.
#[derive(Debug, Clone, Default)]
pub struct Closure {
    /// Modules to load, dependencies first.
    pub modules: Vec<Entry>,
    /// Modules asked for (directly or as soft dependencies) that are built in.
    pub builtin: Vec<String>,
    /// Firmware files, in module order.
    pub firmware: Vec<Firmware>,
    /// Warnings (missing firmware files, ...).
    pub warnings: Vec<String>,
}

/// What a target resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// Modules of the tree.
    Modules(Vec<String>),
    /// A built-in module.
    Builtin(String),
}

/// `fnmatch(3)` without flags: `*`, `?`, `[...]` (with `!` or `^`
/// negation and ranges), `\` escapes.
pub fn fnmatch(pattern: &[u8], s: &[u8]) -> bool {
    let (mut p, mut i) = (0usize, 0usize);
    // Backtracking point for the last `*`: (pattern index after it, string index).
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    star = Some((p + 1, i));
                    p += 1;
                    continue;
                }
                b'?' => {
                    p += 1;
                    i += 1;
                    continue;
                }
                b'[' => {
                    if let Some((ok, next)) = class(pattern, p, s[i]) {
                        if ok {
                            p = next;
                            i += 1;
                            continue;
                        }
                    } else if s[i] == b'[' {
                        p += 1;
                        i += 1;
                        continue;
                    }
                }
                b'\\' if p + 1 < pattern.len() => {
                    if pattern[p + 1] == s[i] {
                        p += 2;
                        i += 1;
                        continue;
                    }
                }
                c => {
                    if c == s[i] {
                        p += 1;
                        i += 1;
                        continue;
                    }
                }
            }
        }
        match star {
            Some((sp, si)) => {
                p = sp;
                i = si + 1;
                star = Some((sp, si + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Match `c` against the bracket expression at `pattern[p]` (`[`); returns
/// (matched, index after `]`), or `None` when the bracket is not closed.
fn class(pattern: &[u8], p: usize, c: u8) -> Option<(bool, usize)> {
    let mut j = p + 1;
    let neg = matches!(pattern.get(j), Some(b'!' | b'^'));
    if neg {
        j += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let lo = *pattern.get(j)?;
        if lo == b']' && !first {
            return Some((matched != neg, j + 1));
        }
        first = false;
        if pattern.get(j + 1) == Some(&b'-') && pattern.get(j + 2).is_some_and(|&h| h != b']') {
            let hi = pattern[j + 2];
            if lo <= c && c <= hi {
                matched = true;
            }
            j += 3;
        } else {
            if lo == c {
                matched = true;
            }
            j += 1;
        }
    }
}

fn read_opt(path: &Path) -> Result<Option<String>, Error> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(String::from_utf8_lossy(&b).into_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn name_of(path: &str) -> String {
    String::from_utf8_lossy(&path_to_name(path.as_bytes()).unwrap_or_default()).into_owned()
}

impl Tree {
    /// The depmod'ed tree of `version` under `dir`: `dir/lib/modules/VERSION`
    /// (an install root), `dir/VERSION` (a modules directory) or `dir` itself.
    pub fn find(dir: &Path, version: &str) -> Result<PathBuf, Error> {
        [
            dir.join("lib/modules").join(version),
            dir.join(version),
            dir.to_path_buf(),
        ]
        .into_iter()
        .find(|c| c.join("modules.dep").is_file())
        .ok_or_else(|| Error::NoTree {
            dir: dir.to_path_buf(),
            version: version.to_string(),
        })
    }

    /// Read the index files of a depmod'ed tree (`.../lib/modules/<version>`).
    /// `modules.dep` is required; the others are optional.
    pub fn open(dir: impl AsRef<Path>) -> Result<Tree, Error> {
        let dir = dir.as_ref().to_path_buf();
        let dep_path = dir.join("modules.dep");
        let dep = std::fs::read(&dep_path).map_err(|source| Error::Read {
            path: dep_path.clone(),
            source,
        })?;
        let dep = String::from_utf8_lossy(&dep);
        let mut modules = HashMap::new();
        let mut order = Vec::new();
        for (n, line) in dep.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let (path, rest) = line.split_once(':').ok_or_else(|| Error::Malformed {
                path: dep_path.clone(),
                line: n + 1,
            })?;
            let mut deps: Vec<String> = rest.split_ascii_whitespace().map(name_of).collect();
            deps.reverse();
            let name = name_of(path);
            order.push(name.clone());
            modules.insert(
                name,
                DepLine {
                    path: path.to_string(),
                    deps,
                },
            );
        }
        let mut aliases = Vec::new();
        let mut symbols = HashMap::new();
        for (file, is_sym) in [("modules.alias", false), ("modules.symbols", true)] {
            let path = dir.join(file);
            let Some(text) = read_opt(&path)? else {
                continue;
            };
            for (n, line) in text.lines().enumerate() {
                let mut w = line.split_ascii_whitespace();
                match (w.next(), w.next(), w.next()) {
                    (None, _, _) => {}
                    (Some(c), _, _) if c.starts_with('#') => {}
                    (Some("alias"), Some(pat), Some(module)) => {
                        if is_sym {
                            let sym = pat.strip_prefix("symbol:").unwrap_or(pat);
                            symbols
                                .entry(sym.to_string())
                                .or_insert_with(|| module.to_string());
                        } else {
                            let pat = normalize_alias(pat.as_bytes())
                                .unwrap_or_else(|_| pat.as_bytes().to_vec());
                            aliases.push((pat, module.to_string()));
                        }
                    }
                    _ => return Err(Error::Malformed { path, line: n + 1 }),
                }
            }
        }
        let softdeps = read_opt(&dir.join("modules.softdep"))?.map(|text| {
            let mut map: HashMap<String, Softdep> = HashMap::new();
            for line in text.lines() {
                let line = line.trim();
                let Some(rest) = line.strip_prefix("softdep") else {
                    continue;
                };
                let mut w = rest.trim_start().splitn(2, char::is_whitespace);
                if let Some(m) = w.next().filter(|m| !m.is_empty()) {
                    // modprobe takes the first matching entry only.
                    map.entry(crate::name::normalize_name_str(m))
                        .or_insert_with(|| parse_softdep(w.next().unwrap_or("")));
                }
            }
            map
        });
        let weakdeps = read_opt(&dir.join("modules.weakdep"))?.map(|text| {
            let mut map: HashMap<String, Vec<String>> = HashMap::new();
            for line in text.lines() {
                let mut w = line.split_ascii_whitespace();
                if w.next() == Some("weakdep") {
                    if let Some(m) = w.next() {
                        map.entry(crate::name::normalize_name_str(m))
                            .or_default()
                            .extend(w.map(str::to_string));
                    }
                }
            }
            map
        });
        let builtin = read_opt(&dir.join("modules.builtin"))?
            .map(|t| {
                t.lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(|l| name_of(l.trim()))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Tree {
            dir,
            modules,
            order,
            aliases,
            symbols,
            softdeps,
            weakdeps,
            builtin,
        })
    }

    /// The tree's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Module names, in `modules.dep` order.
    pub fn module_names(&self) -> &[String] {
        &self.order
    }

    /// The file of a module, relative to the tree.
    pub fn module_path(&self, name: &str) -> Option<&str> {
        self.modules.get(name).map(|m| m.path.as_str())
    }

    /// Whether a module is built into the kernel.
    pub fn is_builtin(&self, name: &str) -> bool {
        self.builtin.contains(name)
    }

    /// Resolve a target as modprobe does; `None` when nothing matches.
    pub fn lookup(&self, target: &str) -> Result<Option<Resolved>, Error> {
        let norm =
            normalize_alias(target.as_bytes()).map_err(|_| Error::BadTarget(target.to_string()))?;
        let norm = String::from_utf8_lossy(&norm).into_owned();
        if self.modules.contains_key(&norm) {
            return Ok(Some(Resolved::Modules(vec![norm])));
        }
        if let Some(sym) = target.strip_prefix("symbol:") {
            if let Some(m) = self.symbols.get(sym) {
                return Ok(Some(Resolved::Modules(vec![m.clone()])));
            }
        }
        let mut found: Vec<String> = Vec::new();
        for (pat, m) in &self.aliases {
            if fnmatch(pat, norm.as_bytes()) && !found.contains(m) {
                found.push(m.clone());
            }
        }
        if !found.is_empty() {
            return Ok(Some(Resolved::Modules(found)));
        }
        if self.builtin.contains(&norm) {
            return Ok(Some(Resolved::Builtin(norm)));
        }
        Ok(None)
    }

    /// The closure of `targets` (each must resolve, else [`Error::Unknown`]).
    pub fn closure<S: AsRef<str>>(&self, targets: &[S], opts: &Options) -> Result<Closure, Error> {
        let mut w = Walk {
            tree: self,
            opts,
            visited: HashSet::new(),
            info: BTreeMap::new(),
            out: Closure::default(),
        };
        for t in targets {
            let t = t.as_ref();
            match self.lookup(t)? {
                None => return Err(Error::Unknown(t.to_string())),
                Some(Resolved::Builtin(b)) => w.builtin(b),
                Some(Resolved::Modules(ms)) => {
                    for m in ms {
                        w.visit(&m)?;
                    }
                }
            }
        }
        // Firmware, in load order.
        for e in &w.out.modules {
            for f in &e.firmware {
                let found = opts.firmware_dir.as_ref().and_then(|d| {
                    ["", ".zst", ".xz"]
                        .iter()
                        .map(|ext| d.join(format!("{f}{ext}")))
                        .find(|p| p.is_file())
                });
                if let (Some(d), None) = (&opts.firmware_dir, &found) {
                    w.out.warnings.push(format!(
                        "module {} needs firmware {f}, which is not in {}",
                        e.name,
                        d.display()
                    ));
                }
                w.out.firmware.push(Firmware {
                    module: e.name.clone(),
                    file: f.clone(),
                    found,
                });
            }
        }
        Ok(w.out)
    }
}

struct Info {
    softdep: Softdep,
    weak: Vec<String>,
    firmware: Vec<String>,
}

struct Walk<'a> {
    tree: &'a Tree,
    opts: &'a Options,
    visited: HashSet<String>,
    info: BTreeMap<String, Info>,
    out: Closure,
}

impl Walk<'_> {
    fn builtin(&mut self, name: String) {
        if !self.out.builtin.contains(&name) {
            self.out.builtin.push(name);
        }
    }

    fn info(&mut self, name: &str) -> Result<&Info, Error> {
        if !self.info.contains_key(name) {
            let line = &self.tree.modules[name];
            let m = crate::module::Module::open(self.tree.dir.join(&line.path))?;
            let softdep = match &self.tree.softdeps {
                Some(map) => map.get(name).cloned().unwrap_or_default(),
                None => m.modinfo.softdeps().into_iter().next().unwrap_or_default(),
            };
            let weak = match &self.tree.weakdeps {
                Some(map) => map.get(name).cloned().unwrap_or_default(),
                None => m
                    .modinfo
                    .weakdeps()
                    .iter()
                    .flat_map(|v| v.split_ascii_whitespace().map(str::to_string))
                    .collect(),
            };
            let firmware = m.modinfo.firmware();
            self.info.insert(
                name.to_string(),
                Info {
                    softdep,
                    weak,
                    firmware,
                },
            );
        }
        Ok(&self.info[name])
    }

    /// Visit every module a softdep/weakdep name stands for; names nothing
    /// matches are skipped, as modprobe does.
    fn visit_soft(&mut self, names: &[String]) -> Result<(), Error> {
        for n in names {
            match self.tree.lookup(n) {
                Ok(Some(Resolved::Modules(ms))) => {
                    for m in ms {
                        self.visit(&m)?;
                    }
                }
                Ok(Some(Resolved::Builtin(b))) => self.builtin(b),
                Ok(None) | Err(Error::BadTarget(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn visit(&mut self, name: &str) -> Result<(), Error> {
        if !self.visited.insert(name.to_string()) {
            return Ok(());
        }
        let line = self.tree.modules[name].clone();
        let (pre, post, weak, firmware) = {
            let i = self.info(name)?;
            (
                i.softdep.pre.clone(),
                i.softdep.post.clone(),
                i.weak.clone(),
                i.firmware.clone(),
            )
        };
        self.visit_soft(&pre)?;
        if self.opts.weak {
            self.visit_soft(&weak)?;
        }
        for d in &line.deps {
            if !self.tree.modules.contains_key(d) {
                return Err(Error::MissingDep {
                    module: name.to_string(),
                    dep: d.clone(),
                });
            }
            self.visit(d)?;
        }
        self.out.modules.push(Entry {
            name: name.to_string(),
            path: PathBuf::from(&line.path),
            depends: line.deps.clone(),
            firmware,
        });
        self.visit_soft(&post)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnmatch_basics() {
        assert!(fnmatch(b"fs_btrfs", b"fs_btrfs"));
        assert!(fnmatch(b"pci:v00008086d*sv*", b"pci:v00008086d1234sv5"));
        assert!(!fnmatch(b"pci:v00008086d*sv*", b"pci:v00008087d1234sv5"));
        assert!(fnmatch(b"a?c", b"abc"));
        assert!(fnmatch(b"x[0-9]y", b"x5y"));
        assert!(!fnmatch(b"x[!0-9]y", b"x5y"));
        assert!(fnmatch(b"x[]a]y", b"x]y"));
        assert!(fnmatch(b"*", b""));
        assert!(!fnmatch(b"a", b""));
        assert!(fnmatch(b"a*b*c", b"aXbYbZc"));
        assert!(fnmatch(b"a\\*", b"a*"));
    }

    fn tree() -> (tempfile::TempDir, Tree) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        std::fs::write(
            p.join("modules.dep"),
            "kernel/a.ko: kernel/b.ko kernel/c.ko\nkernel/b.ko: kernel/c.ko\nkernel/c.ko:\nkernel/s-x.ko:\nkernel/p.ko:\n",
        )
        .unwrap();
        std::fs::write(
            p.join("modules.alias"),
            "alias fs-a a\nalias pci:v1d* s_x\nalias pci:v1d2 p\n",
        )
        .unwrap();
        std::fs::write(
            p.join("modules.softdep"),
            "softdep a pre: s-x builtin_one nothing post: p\nsoftdep a pre: c\n",
        )
        .unwrap();
        std::fs::write(p.join("modules.builtin"), "kernel/builtin-one.ko\n").unwrap();
        let t = Tree::open(p).unwrap();
        (d, t)
    }

    #[test]
    fn lookup_and_order() {
        let (_d, t) = tree();
        assert_eq!(
            t.lookup("fs-a").unwrap(),
            Some(Resolved::Modules(vec!["a".into()]))
        );
        assert_eq!(
            t.lookup("pci:v1d2").unwrap(),
            Some(Resolved::Modules(vec!["s_x".into(), "p".into()]))
        );
        assert_eq!(
            t.lookup("builtin-one").unwrap(),
            Some(Resolved::Builtin("builtin_one".into()))
        );
        assert_eq!(t.lookup("zzz").unwrap(), None);
        assert_eq!(t.modules["a"].deps, vec!["c", "b"]);
        assert_eq!(
            t.softdeps.as_ref().unwrap()["a"].pre,
            vec!["s-x", "builtin_one", "nothing"]
        );
    }

    #[test]
    fn unknown_target() {
        let (_d, t) = tree();
        let e = t.closure(&["nope"], &Options::default()).unwrap_err();
        assert!(e.to_string().contains("'nope'"), "{e}");
    }
}
