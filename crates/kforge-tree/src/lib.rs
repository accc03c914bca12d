//! What kforge knows of a kernel source tree: the environment its Makefile
//! gives conf ([`env`](mod@env)), and which Kconfig symbols make it build a given
//! module ([`ModuleMap`]).
//!
//! # Which symbols build a module
//!
//! [`ModuleMap::scan`] reads the kbuild files of a kernel source tree the way
//! the kernel's build descends into them, and records, for every module
//! (`obj-m` object), the `CONFIG_` symbols of its rule and of the chain of
//! directories leading to it. [`ModuleMap::lookup`] answers "which symbols do
//! I set to `m` to get `virtio_net.ko`?". The crate knows nothing of Kconfig:
//! whether a symbol can be `m`, or what it depends on, is for the caller to
//! find out.
//!
//! # What is read
//!
//! The walk starts at the top-level `Kbuild` (kernels from 6.1 on list the
//! core directories there: `obj-y += init/ kernel/ ... drivers/ sound/`,
//! `obj-$(CONFIG_NET) += net/`, ...). For every directory it reaches it reads
//! the directory's `Kbuild`, or its `Makefile` if there is no `Kbuild`, as
//! kbuild does, plus the files these `include`. Directories are reached
//! only through `obj-y`/`obj-m` entries ending in `/` (`obj-$(CONFIG_X) +=
//! dir/`): kbuild builds no modules in directories visited only through
//! `subdir-y` (it warns "You cannot use subdir-y/m to visit a module
//! Makefile"), and `subdir-` alone is for `make clean`, so `subdir-` lines
//! are not followed. Directories nothing reaches (`tools/`, `Documentation/`,
//! `scripts/`, and `samples/` unless `CONFIG_SAMPLES`, which is a guard like
//! any other) are never read.
//!
//! The top-level `Kbuild` is read once per architecture (every directory of
//! `arch/` with a `Makefile`), with `$(SRCARCH)` set, and `$(ARCH_CORE)`,
//! `$(ARCH_LIB)` and `$(ARCH_DRIVERS)` taken from the `core-y`, `libs-y`
//! and `drivers-y`/`drivers-m` lists of the top `Makefile` and of
//! `arch/$(SRCARCH)/Makefile` (the [`DirEntry`] of such an entry points at
//! the `Kbuild` line using the list). A top-level directory entry found for
//! every architecture (`drivers/`, `lib/`) is generic; any other
//! (`arch/x86/`, `arch/x86/lib/`) belongs to its architecture, and so does
//! everything under an `arch/<name>/` directory, where `$(SRCARCH)` is
//! known too: see [`ModuleSource::arch`].
//!
//! # The rules understood
//!
//! - `obj-$(CONFIG_X) += foo.o bar/`, `obj-m += foo.o` (a module built
//!   whenever its directory is), `obj-y` (built in: never a module, but its
//!   directories are descended), with `+=`, `:=`, `=`, `?=`, continuation
//!   lines, comments, recipes and `define` blocks.
//! - A module `foo` is a `foo.o` (or `sub/foo.o`, built in `sub/` without
//!   descending there) in `obj-m`. Composite objects need nothing more:
//!   `foo-objs`, `foo-y` and `foo-$(CONFIG_Y)` list the parts of `foo`,
//!   which are not modules themselves.
//! - Variables set in the same unit (file plus includes), with `$(foo-y)`
//!   including the `foo-$(CONFIG_X)` assignments (mips
//!   `platform-$(CONFIG_X) += dir/`, arm `machine-$(CONFIG_X) += name`), and
//!   the functions `subst`, `patsubst`, `$(VAR:a=b)`, `addprefix`,
//!   `addsuffix`, `filter`, `filter-out`, `sort`, `strip`, `findstring`,
//!   `if`, `or`, `and`, `foreach`, `word`, `words`, `firstword`,
//!   `lastword`, `dir`, `notdir`, `basename`, `suffix`.
//! - Every `$(CONFIG_X)` is taken to be `m` and remembered: so
//!   `obj-$(subst m,y,$(CONFIG_X)) += foo.o` is built in (not a module) and
//!   `obj-$(subst y,$(CONFIG_L2TP),$(CONFIG_PPPOL2TP)) += l2tp_ppp.o` is a
//!   module guarded by both symbols, which is right: with both at `m` the
//!   module is built. `$(if $(CONFIG_X),a,b)` always takes `a`.
//! - Conditionals (`ifeq`, `ifneq`, `ifdef`, `ifndef`, `else`, `endif`) are
//!   not evaluated: both branches are read, and the directives around a rule
//!   or a directory entry are reported in [`ModuleSource::conditions`] and
//!   [`DirEntry::conditions`] (with `negated` in the `else` part) for the
//!   caller to show or check.
//! - A variable set (`=`, `:=`) more than once has all those values, as
//!   alternatives: standing alone they are one list (`obj-y := a.o` in one
//!   branch and `obj-y := b.o` in the other both count); glued to other
//!   text, one-word values are taken in turn (`arch/$(X)/` is `arch/a/` and
//!   `arch/b/`), longer ones are not followed. `+=` keeps the variable's
//!   flavour, and kbuild's lists (`obj-y`, `obj-m`, `subdir-y`, ...) start
//!   simple, as scripts/Makefile.build sets them with `:=`: `obj-m +=
//!   $(foo)` sees only the `foo` set above it, as in make.
//!
//! Not handled, and reported in [`ModuleMap::notes`] when they would name a
//! module or a directory: variables set outside the unit other than those
//! above (`$(BITS)`, `$(ARCH)`, 6.1's `$(OS)` of arch/um),
//! `$(shell)`, `$(call)`, `$(wildcard)`, `$(eval)`. Not handled either:
//! kbuild dropping from `obj-m` an object also in `obj-y` of the same
//! directory (the map lists it as a module). Module aliases
//! (`MODULE_ALIAS`, `net-pf-10`) are not modules' names and are not known.
//!
//! Rules guarded by `bool` symbols are listed like the others
//! (`obj-$(CONFIG_ARCH_HAS_DMA_OPS) += dummy.o` in kernel/dma is a `dummy`
//! that is never a module): telling them apart needs Kconfig, which the
//! caller has.
//!
//! Module names are normalised as the kernel does for `KBUILD_MODNAME`:
//! `-` becomes `_`, so `snd-hda-intel` and `snd_hda_intel` are one module.

pub mod defconfigs;
pub mod env;
mod make;
pub mod targets;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use make::{add_guards, normalize, Unit, Word};

/// Reading a kernel tree failed.
#[derive(Debug, thiserror::Error)]
pub enum KbuildError {
    /// A file or directory could not be read.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The directory lacks the top-level `Makefile` or `Kbuild` of a kernel
    /// tree (kernels before 5.19 had no top-level `Kbuild` listing the core
    /// directories, and are not supported).
    #[error("{path}: not a kernel source tree (no top-level {missing})")]
    NotAKernelTree {
        path: PathBuf,
        missing: &'static str,
    },
}

/// A conditional directive around a rule or a directory entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Condition {
    /// The file the directive is in, relative to the tree.
    pub makefile: PathBuf,
    /// The 1-based line of the directive (of the `else` for an `else ifeq`).
    pub line: u32,
    /// The directive as written, e.g. `ifdef CONFIG_KVM` or
    /// `ifneq ($(CONFIG_IPV6),)`.
    pub directive: String,
    /// True when the rule is in the `else` part: it applies when the
    /// directive is false.
    pub negated: bool,
}

/// One way a module can be built: its rule, and how kbuild gets to the
/// rule's directory.
///
/// A rule guarded by a `bool` symbol never builds a module (kbuild builds
/// `obj-$(CONFIG_X) += foo.o` in when X is `y`); the map lists it anyway,
/// knowing nothing of symbol types: the caller checks them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModuleSource {
    /// The module's name, normalised (`-` → `_`): `snd_hda_intel`.
    pub module: String,
    /// The kbuild file with the rule, relative to the tree (a file it
    /// includes if the rule is there).
    pub makefile: PathBuf,
    /// The 1-based line of the rule (its first line if continued).
    pub line: u32,
    /// The symbols (without `CONFIG_`) of the rule itself: set to `m`, they
    /// make the rule build the module (`DUMMY` for `obj-$(CONFIG_DUMMY) +=
    /// dummy.o`). Empty for an unconditional `obj-m += foo.o`. Several when
    /// the rule combines symbols (`obj-$(subst y,$(CONFIG_A),$(CONFIG_B))`)
    /// or its object comes from a `$(if $(CONFIG_Y),...)`.
    pub symbols: Vec<String>,
    /// The symbols that must be `y` or `m` for kbuild to descend to the
    /// rule's directory whichever directory entries it goes through
    /// (`ETHERNET` for `obj-$(CONFIG_ETHERNET) += ethernet/` in
    /// drivers/net/Makefile), outermost first. A directory entered by
    /// several entries (`obj-$(CONFIG_USB) += usb/`, `obj-$(CONFIG_USB_PHY)
    /// += usb/`) contributes only what all of them need; [`Self::dirs`]
    /// has the alternatives.
    pub dir_symbols: Vec<String>,
    /// The directories from the top of the tree down to the rule's, each
    /// with the entries that make kbuild descend into it (any one does).
    pub dirs: Vec<DirStep>,
    /// The conditional directives around the rule, outermost first. Both
    /// branches of a conditional are taken as possible; these are the
    /// assumptions made.
    pub conditions: Vec<Condition>,
    /// The architecture (`arch/` directory name) the way belongs to:
    /// `Some("x86")` when the rule or a directory leading to it lives under
    /// `arch/x86/`, or the top-level entry into it comes from that
    /// architecture only. `None` for generic code.
    pub arch: Option<String>,
}

/// A directory on the way to a rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DirStep {
    /// The directory, relative to the tree.
    pub dir: PathBuf,
    /// The entries that descend into it (from its parent's kbuild file, or
    /// from the top-level `Kbuild` and arch `Makefile` lists); kbuild
    /// descends when any one of them is on.
    pub entries: Vec<DirEntry>,
}

/// An `obj-... += dir/` entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DirEntry {
    /// The file with the entry, relative to the tree.
    pub makefile: PathBuf,
    /// Its 1-based line.
    pub line: u32,
    /// The symbols that must be `y` or `m` for the entry to be on; empty for
    /// `obj-y += dir/`.
    pub symbols: Vec<String>,
    /// The conditional directives around the entry, outermost first.
    pub conditions: Vec<Condition>,
}

/// Something the scan could not follow (a `$(shell ...)` in an `obj-`
/// line, a missing directory): the map may lack a module because of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The file, relative to the tree.
    pub makefile: PathBuf,
    /// The 1-based line, 0 when about the whole file.
    pub line: u32,
    pub message: String,
}

/// The modules of a kernel tree and the rules that build them.
#[derive(Debug, Clone, Default)]
pub struct ModuleMap {
    modules: BTreeMap<String, Vec<ModuleSource>>,
    dirs: BTreeSet<PathBuf>,
    notes: Vec<Note>,
}

/// A directory entry: `obj-$(CONFIG_X) += child/` in `parent`.
#[derive(Debug, Clone)]
struct Edge {
    parent: String,
    child: String,
    makefile: PathBuf,
    line: u32,
    guards: Vec<String>,
    conds: Vec<Condition>,
    /// For top-level entries found for some architectures only.
    arch: Option<String>,
}

/// A module rule, before the directory chains are known.
#[derive(Debug)]
struct Rule {
    module: String,
    dir: String,
    makefile: PathBuf,
    line: u32,
    guards: Vec<String>,
    conds: Vec<Condition>,
}

/// At most this many ways to reach one directory are kept.
const MAX_WAYS: usize = 16;

/// What one unit contributes: directory entries and module rules.
fn harvest(unit: &Unit, edges: &mut Vec<Edge>, rules: &mut Vec<Rule>, notes: &mut Vec<Note>) {
    for (idx, a) in unit.assigns.iter().enumerate() {
        let module_list = match a.name.as_str() {
            "obj-m" => true,
            "obj-y" => false,
            _ => continue,
        };
        let makefile = &unit.files[a.file];
        for w in unit.assign_words(idx) {
            let text = w.text.as_str();
            if text.is_empty() {
                continue;
            }
            let is_dir = text.ends_with('/');
            let is_module = module_list && text.ends_with(".o");
            if !is_dir && !is_module {
                continue;
            }
            if w.tainted {
                notes.push(Note {
                    makefile: makefile.clone(),
                    line: a.line,
                    message: format!(
                        "`{}` in `{}` skipped: it depends on variables set elsewhere or on functions not understood",
                        text, a.name
                    ),
                });
                continue;
            }
            let conds = w.conds.iter().map(|c| (**c).clone()).collect();
            if is_dir {
                match normalize(&unit.dir, text) {
                    Some(child) if !child.is_empty() && child != unit.dir => edges.push(Edge {
                        parent: unit.dir.clone(),
                        child,
                        makefile: makefile.clone(),
                        line: a.line,
                        guards: w.guards.clone(),
                        conds,
                        arch: None,
                    }),
                    _ => notes.push(Note {
                        makefile: makefile.clone(),
                        line: a.line,
                        message: format!("directory `{text}` is outside the tree"),
                    }),
                }
                continue;
            }
            let stem = &text[..text.len() - 2];
            let base = stem.rsplit('/').next().unwrap_or(stem);
            if base.is_empty()
                || !base
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                // e.g. `foo.dtb.o`: not a module name
                continue;
            }
            rules.push(Rule {
                module: normalize_name(base),
                dir: unit.dir.clone(),
                makefile: makefile.clone(),
                line: a.line,
                guards: w.guards.clone(),
                conds,
            });
        }
    }
}

/// The modules an out-of-tree module's directory declares: the `NAME.o`
/// words of its `obj-m` (or `obj-$(...)`) assignments, in its Kbuild, else
/// its Makefile, names as modprobe takes them. `None`: neither file can be
/// read.
pub fn external_modules(dir: &Path) -> Option<Vec<String>> {
    let text = ["Kbuild", "Makefile"]
        .iter()
        .find_map(|f| std::fs::read_to_string(dir.join(f)).ok())?;
    let joined = text.replace("\\\n", " ");
    let mut names = Vec::new();
    for line in joined.lines() {
        let line = line.split('#').next().unwrap_or_default().trim();
        let Some(rest) = line.strip_prefix("obj-m").or_else(|| {
            line.strip_prefix("obj-$(")
                .and_then(|r| r.split_once(')').map(|x| x.1))
        }) else {
            continue;
        };
        let Some((_, words)) = rest.split_once('=') else {
            continue;
        };
        for w in words.split_whitespace() {
            if let Some(stem) = w
                .strip_suffix(".o")
                .filter(|s| !s.contains('/') && !s.is_empty())
            {
                let n = normalize_name(stem);
                if !names.contains(&n) {
                    names.push(n);
                }
            }
        }
    }
    Some(names)
}

/// `-` → `_`, as `KBUILD_MODNAME` and modprobe do.
fn normalize_name(name: &str) -> String {
    name.replace('-', "_")
}

/// The architecture of a tree-relative path under `arch/<name>/`.
fn arch_of(path: &str) -> Option<String> {
    let rest = path.strip_prefix("arch/")?;
    let name = rest.split('/').next()?;
    (!name.is_empty()).then(|| name.to_string())
}

fn read_text(tree: &Path, rel: &str) -> Result<Option<String>, KbuildError> {
    let path = tree.join(rel);
    match std::fs::read(&path) {
        Ok(b) => Ok(Some(String::from_utf8_lossy(&b).into_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::IsADirectory => Ok(None),
        Err(source) => Err(KbuildError::Io { path, source }),
    }
}

/// Reads directory `dir`'s kbuild file (`Kbuild`, else `Makefile`) into a
/// unit; `None` if it has neither.
fn read_dir_unit(
    tree: &Path,
    dir: &str,
    arch: Option<String>,
    presets: HashMap<String, Vec<Word>>,
) -> Result<Option<Unit>, KbuildError> {
    for name in ["Kbuild", "Makefile"] {
        let rel = if dir.is_empty() {
            name.to_string()
        } else {
            format!("{dir}/{name}")
        };
        if let Some(text) = read_text(tree, &rel)? {
            let mut unit = Unit::new(dir, arch, presets);
            unit.read(tree, Path::new(&rel), &text, true)?;
            return Ok(Some(unit));
        }
    }
    Ok(None)
}

/// Keeps the directory entries of a word list.
fn dirs_only(words: Vec<Word>) -> Vec<Word> {
    words
        .into_iter()
        .filter(|w| w.text.ends_with('/'))
        .collect()
}

impl ModuleMap {
    /// Scans the kernel tree at `tree`: every kbuild file reachable from the
    /// top-level `Kbuild`, for every architecture (see the crate
    /// documentation for what is followed): about 2,500 directories on a
    /// 6.12 tree, read in about a tenth of a second of CPU time, on one
    /// thread. Errors only when a file cannot be read or the tree lacks the
    /// top-level `Makefile` or `Kbuild`; what cannot be followed is in
    /// [`ModuleMap::notes`].
    pub fn scan(tree: &Path) -> Result<ModuleMap, KbuildError> {
        let top_makefile =
            read_text(tree, "Makefile")?.ok_or_else(|| KbuildError::NotAKernelTree {
                path: tree.to_path_buf(),
                missing: "Makefile",
            })?;
        let top_kbuild = read_text(tree, "Kbuild")?.ok_or_else(|| KbuildError::NotAKernelTree {
            path: tree.to_path_buf(),
            missing: "Kbuild",
        })?;

        let mut notes = Vec::new();
        let mut edges: Vec<Edge> = Vec::new();
        let mut rules: Vec<Rule> = Vec::new();

        // The top Makefile starts the lists the arch Makefile extends.
        let mut top = Unit::new("", None, HashMap::new());
        top.read(tree, Path::new("Makefile"), &top_makefile, false)?;
        let list_names = ["core-y", "libs-y", "drivers-y", "drivers-m"];
        let top_lists: HashMap<String, Vec<Word>> = list_names
            .iter()
            .map(|n| {
                let words: Vec<Word> = top.value(n).into_iter().filter(|w| !w.tainted).collect();
                (n.to_string(), words)
            })
            .collect();

        let mut archs: Vec<String> = Vec::new();
        match std::fs::read_dir(tree.join("arch")) {
            Ok(rd) => {
                for entry in rd {
                    let entry = entry.map_err(|source| KbuildError::Io {
                        path: tree.join("arch"),
                        source,
                    })?;
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if entry.path().join("Makefile").is_file() {
                        archs.push(name);
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(KbuildError::Io {
                    path: tree.join("arch"),
                    source,
                })
            }
        }
        archs.sort();

        // The top-level Kbuild, once per architecture (or once, without
        // one, in a tree with no arch/).
        let mut per_arch: Vec<(Option<String>, Vec<Edge>)> = Vec::new();
        let arch_list: Vec<Option<String>> = if archs.is_empty() {
            vec![None]
        } else {
            archs.iter().cloned().map(Some).collect()
        };
        for arch in &arch_list {
            let mut presets = HashMap::new();
            if let Some(a) = arch {
                let rel = format!("arch/{a}/Makefile");
                let text = read_text(tree, &rel)?.unwrap_or_default();
                let mut au = Unit::new("", Some(a.clone()), top_lists.clone());
                au.read(tree, Path::new(&rel), &text, true)?;
                notes.append(&mut au.notes);
                let mut drivers = au.value("drivers-y");
                drivers.extend(au.value("drivers-m"));
                presets.insert("ARCH_CORE".to_string(), dirs_only(au.value("core-y")));
                presets.insert("ARCH_LIB".to_string(), dirs_only(au.value("libs-y")));
                presets.insert("ARCH_DRIVERS".to_string(), dirs_only(drivers));
            } else {
                for (k, v) in [("ARCH_CORE", "core-y"), ("ARCH_LIB", "libs-y")] {
                    presets.insert(k.to_string(), dirs_only(top_lists[v].clone()));
                }
            }
            let mut ru = Unit::new("", arch.clone(), presets);
            ru.read(tree, Path::new("Kbuild"), &top_kbuild, true)?;
            let mut root_edges = Vec::new();
            let mut root_rules = Vec::new();
            let mut root_notes = Vec::new();
            harvest(&ru, &mut root_edges, &mut root_rules, &mut root_notes);
            for n in ru.notes.into_iter().chain(root_notes) {
                if !notes.contains(&n) {
                    notes.push(n);
                }
            }
            if per_arch.is_empty() {
                rules.extend(root_rules);
            }
            per_arch.push((arch.clone(), root_edges));
        }
        let key = |e: &Edge| (e.child.clone(), e.guards.clone());
        let mut count: HashMap<(String, Vec<String>), usize> = HashMap::new();
        for (_, es) in &per_arch {
            let distinct: HashSet<_> = es.iter().map(key).collect();
            for k in distinct {
                *count.entry(k).or_default() += 1;
            }
        }
        let mut generic_done = HashSet::new();
        for (arch, es) in per_arch {
            for mut e in es {
                let k = key(&e);
                if count[&k] == arch_list.len() {
                    if generic_done.insert(k) {
                        edges.push(e);
                    }
                } else {
                    e.arch = arch.clone();
                    edges.push(e);
                }
            }
        }

        // Breadth-first descent.
        let mut seen: HashSet<String> = HashSet::new();
        let mut queue: VecDeque<String> = VecDeque::new();
        let mut dirs = BTreeSet::new();
        let enqueue = |edges: &[Edge], seen: &mut HashSet<String>, queue: &mut VecDeque<String>| {
            for e in edges {
                if seen.insert(e.child.clone()) {
                    queue.push_back(e.child.clone());
                }
            }
        };
        enqueue(&edges, &mut seen, &mut queue);
        while let Some(dir) = queue.pop_front() {
            let Some(mut unit) = read_dir_unit(tree, &dir, arch_of(&dir), HashMap::new())? else {
                let from = edges.iter().find(|e| e.child == dir);
                notes.push(Note {
                    makefile: from.map_or_else(PathBuf::new, |e| e.makefile.clone()),
                    line: from.map_or(0, |e| e.line),
                    message: format!("directory `{dir}/` has no Kbuild or Makefile"),
                });
                continue;
            };
            dirs.insert(PathBuf::from(&dir));
            let first_new = edges.len();
            notes.append(&mut unit.notes);
            harvest(&unit, &mut edges, &mut rules, &mut notes);
            enqueue(&edges[first_new..], &mut seen, &mut queue);
        }

        // Every way to reach every directory.
        let mut incoming: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut edge_keys = HashSet::new();
        for (i, e) in edges.iter().enumerate() {
            if edge_keys.insert((&e.parent, &e.child, &e.guards, &e.arch, &e.conds)) {
                incoming.entry(e.child.as_str()).or_default().push(i);
            }
        }
        let mut walker = Walker {
            edges: &edges,
            incoming: &incoming,
            paths: HashMap::new(),
            ways: HashMap::new(),
            stack: Vec::new(),
        };
        let mut modules: BTreeMap<String, Vec<ModuleSource>> = BTreeMap::new();
        for rule in &rules {
            let ways = walker.ways_to(&rule.dir);
            let list = modules.entry(rule.module.clone()).or_default();
            for way in ways.iter() {
                let source = ModuleSource {
                    module: rule.module.clone(),
                    makefile: rule.makefile.clone(),
                    line: rule.line,
                    symbols: rule.guards.clone(),
                    dir_symbols: way.dir_symbols.clone(),
                    dirs: way.steps.clone(),
                    conditions: rule.conds.clone(),
                    arch: way
                        .arch
                        .clone()
                        .or_else(|| arch_of(&rule.makefile.to_string_lossy())),
                };
                if !list.contains(&source) {
                    list.push(source);
                }
            }
        }
        for list in modules.values_mut() {
            list.sort_by_cached_key(|s| {
                // generic first; then an arch directory's own architecture
                // (arch/x86/crypto for x86, before um which borrows it)
                let own_arch = s.arch.is_none() || s.arch == arch_of(&s.makefile.to_string_lossy());
                (
                    s.arch.is_some(),
                    !own_arch,
                    s.arch.clone(),
                    s.symbols.len() + s.dir_symbols.len(),
                    s.makefile.clone(),
                    s.line,
                )
            });
        }
        Ok(ModuleMap {
            modules,
            dirs,
            notes,
        })
    }

    /// The ways module `name` can be built, best first: generic before
    /// per-architecture (an `arch/<name>/` rule for its own architecture
    /// first), then fewest symbols. `name` is as modprobe takes
    /// it: `-` and `_` are the same. Empty if no rule builds such a module.
    pub fn lookup(&self, name: &str) -> Vec<ModuleSource> {
        self.modules
            .get(&normalize_name(name.trim()))
            .cloned()
            .unwrap_or_default()
    }

    /// The modules a rule guarded by `symbol` (without `CONFIG_`) builds,
    /// normalised, in order: what `CONFIG_<symbol>=m` asks kbuild for.
    pub fn modules_of(&self, symbol: &str) -> Vec<String> {
        self.modules
            .iter()
            .filter(|(_, ways)| ways.iter().any(|w| w.symbols.iter().any(|s| s == symbol)))
            .map(|(m, _)| m.clone())
            .collect()
    }

    /// Every module name (normalised), in order.
    pub fn modules(&self) -> impl Iterator<Item = &str> + '_ {
        self.modules.keys().map(String::as_str)
    }

    /// The directories descended into (relative to the tree, the top one
    /// excluded), in order.
    pub fn directories(&self) -> impl Iterator<Item = &Path> + '_ {
        self.dirs.iter().map(PathBuf::as_path)
    }

    /// What the scan could not follow.
    pub fn notes(&self) -> &[Note] {
        &self.notes
    }
}

/// One way down from the top of the tree to a directory.
struct Way {
    arch: Option<String>,
    steps: Vec<DirStep>,
    dir_symbols: Vec<String>,
}

/// Finds the ways down to directories, remembering them.
struct Walker<'a> {
    edges: &'a [Edge],
    incoming: &'a HashMap<&'a str, Vec<usize>>,
    /// Directory → the sequences of directories leading to it.
    paths: HashMap<String, Rc<Vec<Vec<String>>>>,
    ways: HashMap<String, Rc<Vec<Way>>>,
    stack: Vec<String>,
}

impl Walker<'_> {
    /// The sequences of directories from the top down to `dir` (the top
    /// excluded, `dir` included), through distinct parents; at most
    /// [`MAX_WAYS`].
    fn paths_to(&mut self, dir: &str) -> Rc<Vec<Vec<String>>> {
        if dir.is_empty() {
            return Rc::new(vec![Vec::new()]);
        }
        if let Some(p) = self.paths.get(dir) {
            return p.clone();
        }
        self.stack.push(dir.to_string());
        let mut parents: Vec<&str> = Vec::new();
        for &i in self.incoming.get(dir).map(Vec::as_slice).unwrap_or(&[]) {
            let parent = self.edges[i].parent.as_str();
            if !parents.contains(&parent) && !self.stack.iter().any(|d| d == parent) {
                parents.push(parent);
            }
        }
        let mut out: Vec<Vec<String>> = Vec::new();
        for parent in parents {
            for path in self.paths_to(parent).iter() {
                if out.len() >= MAX_WAYS {
                    break;
                }
                let mut p = path.clone();
                p.push(dir.to_string());
                out.push(p);
            }
        }
        self.stack.pop();
        let out = Rc::new(out);
        self.paths.insert(dir.to_string(), out.clone());
        out
    }

    /// The entries of `parent`'s kbuild file that descend into `child`.
    fn entries(&self, parent: &str, child: &str) -> Vec<&Edge> {
        self.incoming
            .get(child)
            .map(Vec::as_slice)
            .unwrap_or(&[])
            .iter()
            .map(|&i| &self.edges[i])
            .filter(|e| e.parent == parent)
            .collect()
    }

    fn ways_to(&mut self, dir: &str) -> Rc<Vec<Way>> {
        if let Some(w) = self.ways.get(dir) {
            return w.clone();
        }
        let mut ways = Vec::new();
        for path in self.paths_to(dir).iter() {
            let Some(first) = path.first() else {
                ways.push(Way {
                    arch: None,
                    steps: Vec::new(),
                    dir_symbols: Vec::new(),
                });
                continue;
            };
            // Top-level entries found for every architecture are generic;
            // without one, each architecture with an entry is a way.
            let top = self.entries("", first);
            let mut options: BTreeMap<Option<String>, Vec<&Edge>> = BTreeMap::new();
            if top.iter().any(|e| e.arch.is_none()) {
                options.insert(None, top.into_iter().filter(|e| e.arch.is_none()).collect());
            } else {
                for e in top {
                    options.entry(e.arch.clone()).or_default().push(e);
                }
            }
            let mut rest = Vec::new();
            for pair in path.windows(2) {
                rest.push(step(&pair[1], &self.entries(&pair[0], &pair[1])));
            }
            let path_arch = path.iter().find_map(|d| arch_of(d));
            for (arch, top_entries) in options {
                let mut steps = vec![step(first, &top_entries)];
                steps.extend(rest.iter().cloned());
                let mut dir_symbols = Vec::new();
                for s in &steps {
                    add_guards(&mut dir_symbols, &common_symbols(&s.entries));
                }
                ways.push(Way {
                    arch: arch.or_else(|| path_arch.clone()),
                    steps,
                    dir_symbols,
                });
                if ways.len() >= MAX_WAYS {
                    break;
                }
            }
        }
        let ways = Rc::new(ways);
        self.ways.insert(dir.to_string(), ways.clone());
        ways
    }
}

fn step(dir: &str, edges: &[&Edge]) -> DirStep {
    let mut entries: Vec<DirEntry> = Vec::new();
    for e in edges {
        let entry = DirEntry {
            makefile: e.makefile.clone(),
            line: e.line,
            symbols: e.guards.clone(),
            conditions: e.conds.clone(),
        };
        if !entries.contains(&entry) {
            entries.push(entry);
        }
    }
    DirStep {
        dir: PathBuf::from(dir),
        entries,
    }
}

/// The symbols every entry needs, in the order of the first.
fn common_symbols(entries: &[DirEntry]) -> Vec<String> {
    let Some((first, rest)) = entries.split_first() else {
        return Vec::new();
    };
    first
        .symbols
        .iter()
        .filter(|s| rest.iter().all(|e| e.symbols.contains(s)))
        .cloned()
        .collect()
}
