//! A Kconfig engine: reads a Linux kernel's Kconfig tree and computes the same
//! configuration files as the kernel's own `scripts/kconfig/conf`.
//!
//! A loaded tree is a [`Kconfig`]: arenas of symbols, properties, menu nodes
//! and expressions indexed by ids. There is no global state, so several trees
//! can be loaded side by side.
//!
//! # Example
//!
//! Load a small Kconfig tree, read a configuration that asks for a module
//! whose dependency is off, and see what the engine makes of it. The
//! environment is a closure (here only `srctree`) and `$(shell,...)` goes
//! through a [`ShellRunner`], so nothing is taken from the process.
//!
//! ```
//! use std::rc::Rc;
//! use kconfig_engine::{preprocess::DirectShell, Dialect, Kconfig, LoadOptions, Tri};
//!
//! let tree = std::env::temp_dir().join(format!("kconfig-engine-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&tree)?;
//! std::fs::write(
//!     tree.join("Kconfig"),
//!     r#"
//! config MODULES
//!     bool "Enable loadable module support"
//!     modules
//!
//! config NET
//!     bool "Networking support"
//!
//! config DUMMY
//!     tristate "Dummy net driver support"
//!     depends on NET
//! "#,
//! )?;
//!
//! let srctree = tree.to_string_lossy().into_owned();
//! let mut kc = Kconfig::load(LoadOptions {
//!     kconfig: "Kconfig".into(),
//!     env: Rc::new(move |k| (k == "srctree").then(|| srctree.clone())),
//!     shell: Box::new(DirectShell),
//!     dialect: Some(Dialect::V6_12),
//! })?;
//!
//! // A configuration held in memory, read as conf reads .config.
//! kc.set_config_text(".config", "CONFIG_MODULES=y\nCONFIG_DUMMY=m\n");
//! kc.read(Some(".config"));
//!
//! let dummy = kc.find("DUMMY").expect("DUMMY is defined");
//! let net = kc.find("NET").expect("NET is defined");
//! assert_eq!(kc.tristate_value(net), Tri::No);
//! assert_eq!(kc.tristate_value(dummy), Tri::No); // depends on NET, which is off
//!
//! // Turning NET on lets DUMMY be a module, once it is computed again.
//! assert!(kc.set_tristate_value(net, Tri::Yes));
//! kc.calc_value(dummy);
//! assert!(kc.set_tristate_value(dummy, Tri::Mod));
//! let config = kc.render_config();
//! assert!(config.contains("CONFIG_NET=y\n"));
//! assert!(config.contains("CONFIG_DUMMY=m\n"));
//!
//! std::fs::remove_dir_all(&tree)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod check;
pub mod conf;
pub mod confdata;
pub mod diag;
pub mod expr;
pub mod lexer;
pub mod menu;
pub mod parser;
pub mod preprocess;
pub mod print;
pub mod rand;
mod reuse;
pub mod snapshot;
pub mod symbol;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

pub use confdata::{parse_config, ConfigEntry};
pub use diag::{Messages, Stream};
pub use expr::{Expr, ExprId, Exprs, Tri};
pub use menu::{Menu, MenuId, ROOT_MENU};
pub use preprocess::ShellRunner;
pub use snapshot::{CacheOutcome, LoadInputs, ParseCache};
pub use symbol::{PropId, PropKind, Property, SymType, Symbol, SymbolId, Value};

/// Which kernel's Kconfig rules apply. The big split is the choice rework of
/// Linux 6.11; smaller differences (empty int defaults, hash table size,
/// auto.conf.cmd layout, `optional`) moved with it in the releases we support.
/// Linux 6.18 brought `transitional` symbols; with them go the later rules
/// up to 7.3: `depends on X if Y`, the error on a file sourced twice, errors
/// where there were warnings (a second or blank help text, `menuconfig`
/// without a prompt), no `bool` line in a choice, the stricter check of a
/// choice member's prompts and `KCONFIG_WARN_CHANGED_INPUT`
/// (docs/compatibility.md has the table of releases).
///
/// The variants are ordered by release: `dialect >= Dialect::V6_12` means
/// "the 6.11 choice rules apply".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Dialect {
    /// Linux up to 6.10 (tested with 6.1).
    V6_1,
    /// Linux 6.11 to 6.17 (tested with 6.12).
    V6_12,
    /// Linux 6.18 and later (tested with 7.2 and 7.3).
    V6_18,
}

impl Dialect {
    /// The dialect for a kernel version.
    pub fn for_version(major: u32, minor: u32) -> Dialect {
        if (major, minor) >= (6, 18) {
            Dialect::V6_18
        } else if (major, minor) >= (6, 11) {
            Dialect::V6_12
        } else {
            Dialect::V6_1
        }
    }
    /// The dialect of the tree an environment names: the version in
    /// `KERNELVERSION` (what make exports, and all a test directory with no
    /// Makefile has), else `$srctree/Makefile` (or `./Makefile`); 6.12's
    /// when neither says.
    pub fn detect(env: &dyn Fn(&str) -> Option<String>) -> Dialect {
        let v = env("KERNELVERSION")
            .and_then(|v| parse_kernel_version(&v))
            .or_else(|| {
                let mk = match env("srctree") {
                    Some(s) => PathBuf::from(s).join("Makefile"),
                    None => PathBuf::from("Makefile"),
                };
                makefile_version(&mk)
            });
        match v {
            Some((a, b)) => Dialect::for_version(a, b),
            None => Dialect::V6_12,
        }
    }
    fn hash_size(self) -> u32 {
        match self {
            Dialect::V6_1 => 9973,
            Dialect::V6_12 | Dialect::V6_18 => 16384,
        }
    }
}

/// Reads environment variables; the engine never touches the process
/// environment directly.
pub type EnvFn = Rc<dyn Fn(&str) -> Option<String>>;

/// How to load a tree.
pub struct LoadOptions {
    /// The top Kconfig file, as given to `conf` (relative to cwd or srctree).
    pub kconfig: String,
    /// Environment lookup (srctree, ARCH, CC, KERNELVERSION, ...).
    pub env: EnvFn,
    /// Runs `$(shell,...)`.
    pub shell: Box<dyn ShellRunner>,
    /// Force a dialect instead of deriving it from the version.
    pub dialect: Option<Dialect>,
}

impl LoadOptions {
    /// Options reading the process environment and running probes directly.
    pub fn from_process_env(kconfig: &str) -> Self {
        LoadOptions {
            kconfig: kconfig.to_string(),
            env: Rc::new(|k| std::env::var(k).ok()),
            shell: Box::new(preprocess::DirectShell),
            dialect: None,
        }
    }
}

/// Loading failed; `messages` holds what the kernel would have printed.
#[derive(Debug, thiserror::Error)]
#[error("{}", render(.messages))]
pub struct LoadError {
    pub messages: Vec<(Stream, String)>,
}

fn render(m: &[(Stream, String)]) -> String {
    m.iter()
        .map(|(_, s)| s.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A loaded Kconfig tree with its symbols' current values.
pub struct Kconfig {
    pub dialect: Dialect,
    pub symbols: Vec<Symbol>,
    pub props: Vec<Property>,
    pub menus: Vec<Menu>,
    pub exprs: Exprs,
    pub(crate) by_name: NameMap<SymbolId>,
    pub(crate) by_const_name: NameMap<SymbolId>,
    pub(crate) by_choice_name: NameMap<SymbolId>,
    pub(crate) hash_order: Vec<SymbolId>,
    pub modules_sym: SymbolId,
    pub(crate) modules_val: Tri,
    /// Messages for the user, in order.
    pub messages: Messages,
    pub(crate) sym_warnings: u32,
    pub(crate) conf_warnings: u32,
    /// The kernel's `conf_changed`: the configuration differs from what was read.
    pub changed: bool,
    /// Suppress informational messages (`conf -s`).
    pub silent: bool,
    pub(crate) env: EnvFn,
    pub(crate) empty: Rc<str>,
    pub(crate) zero: Rc<str>,
    pub(crate) zero_hex: Rc<str>,
    pub(crate) tri_strs: [Rc<str>; 3],
    /// Kconfig files read, in order of first use.
    pub files: Vec<Rc<str>>,
    /// Environment variables the tree referenced, with their values.
    pub env_deps: Vec<(String, String)>,
    /// The `CONFIG_` prefix (from the environment variable `CONFIG_`).
    pub prefix: String,
    pub(crate) srctree: Option<PathBuf>,
    /// Configuration files held in memory, consulted before the file system
    /// when a configuration is read (see [`Kconfig::set_config_text`]).
    pub(crate) config_overlay: HashMap<String, Vec<u8>>,
    /// The values as loading left them, for [`Kconfig::restart`].
    loaded: Option<Box<LoadedState>>,
    /// Results of compound expressions under the current values.
    pub(crate) memo: symbol::EvalMemo,
    /// Every help text, one after another (see [`Kconfig::help`]).
    pub(crate) help_texts: String,
    /// The computed states of recent reads, to start the next read from.
    pub(crate) reuse: reuse::ReadStates,
}

/// What evaluation changes in a loaded tree: each symbol's and prompt's
/// computed state, the choices' member priority and the kernel's globals.
pub(crate) struct LoadedState {
    symbols: Vec<SymbolState>,
    prompts: Vec<Tri>,
    choice_members: Vec<Vec<SymbolId>>,
    modules_val: Tri,
    changed: bool,
}

/// The part of a [`Symbol`] that evaluation and reading change.
pub(crate) struct SymbolState {
    flags: u32,
    curr: Value,
    def: [Value; 2],
    visible: Tri,
    dir_dep_tri: Tri,
    rev_dep_tri: Tri,
    implied_tri: Tri,
}

impl SymbolState {
    pub(crate) fn of(s: &Symbol) -> SymbolState {
        SymbolState {
            flags: s.flags,
            curr: s.curr.clone(),
            def: s.def.clone(),
            visible: s.visible,
            dir_dep_tri: s.dir_dep_tri,
            rev_dep_tri: s.rev_dep_tri,
            implied_tri: s.implied_tri,
        }
    }

    fn restore(&self, s: &mut Symbol) {
        s.flags = self.flags;
        s.curr.clone_from(&self.curr);
        s.def.clone_from(&self.def);
        s.visible = self.visible;
        s.dir_dep_tri = self.dir_dep_tri;
        s.rev_dep_tri = self.rev_dep_tri;
        s.implied_tri = self.implied_tri;
    }
}

/// Find the version in a kernel Makefile: (VERSION, PATCHLEVEL).
pub fn makefile_version(path: &Path) -> Option<(u32, u32)> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut v = None;
    let mut p = None;
    for line in text.lines().take(20) {
        let mut it = line.splitn(2, '=');
        let k = it.next()?.trim();
        let val = it.next().map(str::trim);
        match (k, val) {
            ("VERSION", Some(x)) => v = x.parse().ok(),
            ("PATCHLEVEL", Some(x)) => p = x.parse().ok(),
            _ => {}
        }
    }
    Some((v?, p?))
}

/// Parse "6.12.3" / "6.1.0-rc1" into (6, 12).
pub fn parse_kernel_version(s: &str) -> Option<(u32, u32)> {
    let mut it = s.split(|c: char| !c.is_ascii_digit());
    let a = it.next()?.parse().ok()?;
    let b = it.next()?.parse().ok()?;
    Some((a, b))
}

impl Kconfig {
    fn empty_tree(dialect: Dialect, env: EnvFn, kconfig: &str) -> Kconfig {
        let tri_strs: [Rc<str>; 3] = ["n".into(), "m".into(), "y".into()];
        let mut kc = Kconfig {
            dialect,
            symbols: Vec::new(),
            props: Vec::new(),
            menus: Vec::new(),
            exprs: Exprs::default(),
            by_name: NameMap::default(),
            by_const_name: NameMap::default(),
            by_choice_name: NameMap::default(),
            hash_order: Vec::new(),
            modules_sym: symbol::SYM_NO,
            modules_val: Tri::No,
            messages: Messages::default(),
            sym_warnings: 0,
            conf_warnings: 0,
            changed: false,
            silent: false,
            prefix: env("CONFIG_").unwrap_or_else(|| "CONFIG_".to_string()),
            srctree: env("srctree").map(PathBuf::from),
            env,
            empty: "".into(),
            zero: "0".into(),
            zero_hex: "0x0".into(),
            tri_strs,
            files: Vec::new(),
            env_deps: Vec::new(),
            config_overlay: HashMap::new(),
            loaded: None,
            memo: symbol::EvalMemo::default(),
            help_texts: String::new(),
            reuse: reuse::ReadStates::default(),
        };
        for (name, t) in [("y", Tri::Yes), ("m", Tri::Mod), ("n", Tri::No)] {
            let id = kc.new_symbol(
                Some(name.into()),
                symbol::flags::CONST | symbol::flags::VALID,
            );
            let s = kc.sym_mut(id);
            s.ty = SymType::Tristate;
            s.curr.tri = t;
            s.curr.val = Some(name.into());
        }
        kc.menus.push(Menu::new(None, None, kconfig.into(), 0));
        kc
    }

    /// Make configuration reads of `name` (`.config`, a defconfig, a
    /// `KCONFIG_ALLCONFIG` file) see `text` instead of the file system, so a
    /// front end can run the conf modes on configurations it holds in memory.
    pub fn set_config_text(&mut self, name: &str, text: impl Into<Vec<u8>>) {
        self.config_overlay.insert(name.to_string(), text.into());
    }

    /// The kernel source tree (`$srctree`), when the environment names one.
    pub fn srctree(&self) -> Option<&Path> {
        self.srctree.as_deref()
    }

    /// Read an environment variable the way the tree sees it.
    pub fn getenv(&self, k: &str) -> Option<String> {
        (self.env)(k)
    }

    /// Load and finalise a tree, as the kernel's `conf_parse` does.
    pub fn load(opts: LoadOptions) -> Result<Kconfig, LoadError> {
        Kconfig::load_inner(opts, false).0
    }

    /// [`Kconfig::load`], with what it read when `record` (see
    /// [`Kconfig::load_recording`]).
    fn load_inner(
        opts: LoadOptions,
        record: bool,
    ) -> (Result<Kconfig, LoadError>, Option<LoadInputs>) {
        let outer_env = opts.env.clone();
        let dialect = opts.dialect.unwrap_or_else(|| Dialect::detect(&*outer_env));
        let rec = record.then(|| Rc::new(snapshot::Recorder::default()));
        let (env, shell): (EnvFn, Box<dyn ShellRunner>) = match &rec {
            Some(r) => (r.env(outer_env.clone()), r.shell(opts.shell)),
            None => (outer_env.clone(), opts.shell),
        };
        let srctree = env("srctree").map(PathBuf::from);
        let mut kc = Kconfig::empty_tree(dialect, env.clone(), &opts.kconfig);
        let lex = lexer::Lexer::with_recording(
            &opts.kconfig,
            srctree.clone(),
            dialect == Dialect::V6_1,
            record.then(Vec::new),
        );
        let mut lex = match lex {
            Ok(l) => l,
            Err(e) => {
                let err = LoadError {
                    messages: vec![(Stream::Stderr, e.0)],
                };
                return (Err(err), None);
            }
        };
        lex.v618 = dialect >= Dialect::V6_18;
        let env2 = env.clone();
        let pp = preprocess::Preprocessor::new(Box::new(move |k| env2(k)), shell);
        let mut parser = parser::Parser::new(&mut kc, lex, pp);
        let res = parser.parse();
        let errors = parser.errors;
        let mut msgs = std::mem::take(&mut parser.lex.msgs);
        let files = parser.lex.files.clone();
        let env_deps = parser.pp.env_used();
        let file_inputs = parser.lex.record.take();
        drop(parser);
        kc.files = files;
        kc.env_deps = env_deps;
        let res = kc.finish_load(&mut msgs, res, errors).map(|mut kc| {
            // later reads (KCONFIG_CONFIG, ...) are not the parse's
            kc.env = outer_env;
            kc
        });
        let inputs = rec.map(|r| r.finish(file_inputs.unwrap_or_default()));
        (res, inputs)
    }

    /// The end of [`Kconfig::load`]: errors, the main menu, finalisation
    /// and the dependency checks.
    fn finish_load(
        mut self,
        msgs: &mut Messages,
        res: Result<(), lexer::LexFatal>,
        errors: u32,
    ) -> Result<Kconfig, LoadError> {
        let kc = &mut self;
        let mut all = msgs.take();
        all.extend(kc.messages.take());
        if let Err(e) = res {
            all.push((Stream::Stderr, e.0));
            return Err(LoadError { messages: all });
        }
        if errors > 0 {
            return Err(LoadError { messages: all });
        }
        if kc.menu(ROOT_MENU).prompt.is_none() {
            let id = PropId(kc.props.len() as u32);
            kc.props.push(Property {
                kind: PropKind::Menu,
                text: Some("Main menu".into()),
                expr: None,
                visible: None,
                visible_tri: Tri::No,
                menu: ROOT_MENU,
                file: "".into(),
                line: 0,
            });
            kc.menu_mut(ROOT_MENU).prompt = Some(id);
        }
        kc.finalize();
        kc.compute_hash_order();
        let dep_errors = kc.check_all();
        all.extend(kc.messages.take());
        kc.messages.lines = all;
        if dep_errors > 0 {
            return Err(LoadError {
                messages: kc.messages.take(),
            });
        }
        kc.changed = true;
        // what was evaluated while the tree was still being built is stale
        kc.memo = symbol::EvalMemo::default();
        kc.loaded = Some(Box::new(kc.computed_state()));
        kc.reuse.restarted = true;
        Ok(self)
    }

    fn computed_state(&self) -> LoadedState {
        self.computed_state_with(self.symbols.iter().map(SymbolState::of).collect())
    }

    /// [`Kconfig::computed_state`] with the symbols' part already taken.
    pub(crate) fn computed_state_with(&self, symbols: Vec<SymbolState>) -> LoadedState {
        LoadedState {
            symbols,
            prompts: self.props.iter().map(|p| p.visible_tri).collect(),
            choice_members: self
                .menus
                .iter()
                .map(|m| m.choice_members.clone())
                .collect(),
            modules_val: self.modules_val,
            changed: self.changed,
        }
    }

    /// Return every value, flag and choice priority to what loading left, as
    /// a new `conf` process starts. The kernel's evaluation depends on what
    /// was computed before (a symbol met again while it is being computed
    /// gives its last value), so reading a second configuration into the
    /// same tree can differ from reading it alone; restart first to get what
    /// the kernel's conf writes for it.
    pub fn restart(&mut self) {
        self.memo.forget();
        self.memo.clean = false;
        let Some(l) = self.loaded.take() else {
            return;
        };
        for (s, state) in self.symbols.iter_mut().zip(&l.symbols) {
            state.restore(s);
        }
        for (p, v) in self.props.iter_mut().zip(&l.prompts) {
            p.visible_tri = *v;
        }
        for (m, c) in self.menus.iter_mut().zip(&l.choice_members) {
            m.choice_members.clone_from(c);
        }
        self.modules_val = l.modules_val;
        self.changed = l.changed;
        self.loaded = Some(l);
        self.reuse.restarted = true;
    }

    fn compute_hash_order(&mut self) {
        let size = self.dialect.hash_size();
        let mut v: Vec<(u32, u32, SymbolId)> = Vec::with_capacity(self.symbols.len());
        for (i, s) in self.symbols.iter().enumerate().skip(3) {
            let bucket = match &s.name {
                Some(n) => fnv32(n) % size,
                None => 0,
            };
            v.push((bucket, u32::MAX - s.serial, SymbolId(i as u32)));
        }
        v.sort_unstable();
        self.hash_order = v.into_iter().map(|x| x.2).collect();
    }

    /// Every symbol with a name, for lookups by name in front ends.
    pub fn symbol_names(&self) -> impl Iterator<Item = (&str, SymbolId)> {
        self.by_name.iter().map(|(k, v)| (&**k, *v))
    }
}

/// Symbol tables keyed by name, with FNV-1a hashing: names are short and
/// not attacker-chosen, and lookups are a large share of parsing.
pub(crate) type NameMap<V> = HashMap<Rc<str>, V, std::hash::BuildHasherDefault<Fnv64>>;

/// FNV-1a, 64 bits, as a [`std::hash::Hasher`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fnv64(u64);

impl Default for Fnv64 {
    fn default() -> Self {
        Fnv64(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for Fnv64 {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// The kernel's string hash (32-bit FNV-1a over signed chars).
pub fn fnv32(s: &str) -> u32 {
    let mut h: u32 = 2166136261;
    for &b in s.as_bytes() {
        h = (h ^ (b as i8 as i32 as u32)).wrapping_mul(0x01000193);
    }
    h
}
