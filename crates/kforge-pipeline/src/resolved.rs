//! Stage 3, resolved: a declaration's requests (with `[when]` and
//! `[modules]`) resolved by the engine against a tree, every request
//! verified, with reasons and checked fixes (kforge-resolve).

use std::path::Path;
use std::rc::Rc;

use kconfig_engine::{Kconfig, LoadOptions};
use kforge_declaration::{KernelVersion, Origin, Spec};
use kforge_resolve::Resolution;
use kforge_tree::env::{self, Vars};

use crate::error::Error;

/// The caller's environment variables a resolution passes on to the tree
/// and its probes; everything else comes from the declaration.
pub const PASSED_ENV: &[&str] = &["PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "LC_CTYPE"];

/// A loaded tree and how it was configured.
pub struct Tree {
    /// The engine's tree.
    pub kc: Kconfig,
    /// The tree's version (`KERNELVERSION`).
    pub version: KernelVersion,
    /// The variables make would export to conf (`CC`, `LD`, `HOSTCC`,
    /// `SRCARCH`, `KERNELVERSION`, ...), as derived for this tree.
    pub vars: Vars,
}

/// How to configure a tree: make's `ARCH`, `CROSS_COMPILE` and `LLVM`.
#[derive(Debug, Clone, Copy)]
pub struct Toolchain<'a> {
    pub arch: &'a str,
    pub cross_compile: Option<&'a str>,
    pub llvm: Option<&'a str>,
}

impl<'a> Toolchain<'a> {
    /// The declaration's `[build]` arch, cross_compile and llvm.
    pub fn of(spec: &'a Spec) -> Toolchain<'a> {
        Toolchain {
            arch: &spec.build.arch,
            cross_compile: spec.build.cross_compile.as_deref(),
            llvm: spec.build.llvm.as_deref(),
        }
    }
}

/// The caller's variables of [`PASSED_ENV`].
pub fn passed_env() -> Vars {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, _)| PASSED_ENV.contains(&k.as_str()))
        .collect()
}

/// Derive the environment make would give conf for `tc` and parse the
/// tree. `probe_cache`: answer `$(shell,...)` probes from the probe cache.
pub fn load_tree(tree: &Path, tc: Toolchain<'_>, probe_cache: bool) -> Result<Tree, Error> {
    // A declaration resolves the same whatever the shell around it: only
    // what finds and runs the tools comes from the caller's environment.
    let base = passed_env();
    let cache_dir = kforge_probe_cache::ProbeCache::default_dir();
    // Probes run in a scratch object directory of their own, stable so that
    // the probe cache and its history are reused from run to run.
    let objdir = cache_dir
        .parent()
        .map(|p| p.join("objdir"))
        .unwrap_or_else(std::env::temp_dir);
    let _ = std::fs::create_dir_all(&objdir);
    let req = env::Request {
        tree: tree.to_path_buf(),
        objdir: objdir.clone(),
        arch: Some(tc.arch.to_string()),
        cross_compile: tc.cross_compile.map(str::to_string),
        llvm: tc.llvm.map(str::to_string),
        ..Default::default()
    };
    let kenv = if probe_cache {
        let mut queries = kforge_probe_cache::ToolQueries::new(cache_dir.clone());
        env::derive(&req, &base, &mut |c, e, d| queries.run(c, e, d))?
    } else {
        env::derive(&req, &base, &mut env::run_tool_query)?
    };
    let conf_env = kenv.conf_env(&base);
    let version = conf_env
        .get("KERNELVERSION")
        .and_then(|v| v.split(['-', '+']).next())
        .and_then(|v| v.parse::<KernelVersion>().ok())
        .unwrap_or(KernelVersion {
            major: 0,
            minor: 0,
            patch: 0,
            rc: u32::MAX,
        });
    let env_fn: kconfig_engine::EnvFn = {
        let e = conf_env.clone();
        Rc::new(move |k: &str| e.get(k).cloned())
    };
    let vars: Vec<(String, String)> = conf_env
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let shell: Box<dyn kconfig_engine::ShellRunner> = if probe_cache {
        kforge_probe_cache::cached_shell(
            vars,
            objdir,
            format!("{}|{}", kenv.abs_srctree.display(), tc.arch),
            &kenv.kconfig,
        )
    } else {
        Box::new(kforge_probe_cache::ExplicitShell(vars))
    };
    let group = kforge_probe_cache::tree::tree_group(&*env_fn, &kenv.kconfig);
    let opts = LoadOptions {
        kconfig: kenv.kconfig.clone(),
        env: env_fn,
        shell,
        dialect: None,
    };
    // The parsed tree from the cache while every file, variable and probe
    // answer it was parsed with is unchanged (`KFORGE_NO_PARSE_CACHE`, or
    // no probe cache, parses it every time).
    let loaded = if probe_cache && !crate::conf::env_flag("KFORGE_NO_PARSE_CACHE") {
        let store = kforge_probe_cache::TreeCache::new(&cache_dir, &group);
        Kconfig::load_cached(opts, &store).0
    } else {
        Kconfig::load(opts)
    };
    let kc = loaded.map_err(|e| {
        Error::Load(
            e.messages
                .iter()
                .map(|(_, l)| l.as_str())
                .collect::<Vec<_>>()
                .join("\n"),
        )
    })?;
    Ok(Tree {
        kc,
        version,
        vars: kenv.vars,
    })
}

/// A declaration resolved against a tree: what every command that reads
/// a declaration shares.
pub struct Resolved {
    /// The tree, holding the resolved configuration.
    pub tree: Tree,
    /// The outcome of every request, the `.config` text, the base's.
    pub res: Resolution,
    /// What was resolved: the declaration's requests for this version and
    /// those of `[modules]`.
    pub input: kforge_resolve::Input,
    /// `[modules]` entries no Makefile of this architecture builds.
    pub module_errors: Vec<(Origin, String)>,
    /// Whether failed requests are only warnings (`[build]
    /// ignore_config_errors`).
    pub ignore_errors: bool,
}

impl Resolved {
    /// The failures that are errors (not optional, not ignored).
    pub fn error_count(&self) -> usize {
        if self.ignore_errors {
            return 0;
        }
        self.res.failures().filter(|o| !o.request.optional).count() + self.module_errors.len()
    }

    /// The failures that are only warnings.
    pub fn warning_count(&self) -> usize {
        self.res.failures().count() + self.module_errors.len() - self.error_count()
            + self.res.unknown_conditions.len()
    }

    /// The requests resolved, and how many held.
    pub fn held(&self) -> (usize, usize) {
        let n = self.res.outcomes.len();
        (n, n - self.res.failures().count())
    }

    /// [`Error::Unresolved`] when a required request failed.
    pub fn check(&self) -> Result<(), Error> {
        let errors = self.error_count();
        if errors == 0 {
            return Ok(());
        }
        let (requests, held) = self.held();
        Err(Error::Unresolved {
            requests,
            held,
            errors,
            warnings: self.warning_count(),
        })
    }

    /// What differs between the base configuration and the resolved one,
    /// symbol by symbol, with why (`# ... is not set` and absent are the
    /// same).
    pub fn changes(&mut self) -> Vec<Change> {
        let entries = |text: &str| -> std::collections::BTreeMap<String, String> {
            crate::import::parse_config(text).into_iter().collect()
        };
        let (base, now) = (entries(&self.res.base_config), entries(&self.res.config));
        let keys: std::collections::BTreeSet<&String> = base.keys().chain(now.keys()).collect();
        let mut out = Vec::new();
        for k in keys {
            let (a, b) = (base.get(k), now.get(k));
            let off = |v: Option<&String>| v.is_none_or(|v| v == "n");
            if a == b || (off(a) && off(b)) {
                continue;
            }
            let reason = if let Some(o) = self
                .res
                .outcomes
                .iter()
                .rev()
                .find(|o| &o.request.symbol == k)
            {
                Reason::Requested(o.request.origin.clone())
            } else if self.res.auto_modules.contains(k) {
                Reason::AutoModules
            } else if let Some(r) = kforge_resolve::explain_symbol(&mut self.tree.kc, k) {
                let by: Vec<String> = r
                    .selectors
                    .iter()
                    .filter(|s| s.active && s.kind == "select")
                    .map(|s| s.symbol.clone())
                    .collect();
                if by.is_empty() {
                    Reason::Defaults
                } else {
                    Reason::SelectedBy(by)
                }
            } else {
                Reason::Undefined
            };
            out.push(Change {
                symbol: k.clone(),
                before: a.cloned(),
                after: b.cloned(),
                reason,
            });
        }
        out
    }

    /// `CONFIG_<name>`'s value in the resolved configuration (`n` unset).
    pub fn value(&self, name: &str) -> &str {
        config_value(&self.res.config, name)
    }

    /// The tree's version when it is not the declared major.minor.
    pub fn version_mismatch(&self, spec: &Spec) -> Option<KernelVersion> {
        let (d, t) = (spec.source.version, self.tree.version);
        ((d.major, d.minor) != (t.major, t.minor)).then_some(t)
    }
}

/// Load `tree` for the declaration's architecture and resolve the
/// declaration (requests, `[when]`, `[modules]`) against it.
pub fn resolve(spec: &Spec, tree: &Path, probe_cache: bool) -> Result<Resolved, Error> {
    let mut t = load_tree(tree, Toolchain::of(spec), probe_cache)?;
    let mut input = kforge_resolve::Input::from_spec(spec, &t.version);
    input.add_fragments(&t.kc, &spec.build.fragments)?;
    let module_errors = module_requests(spec, tree, &t.kc, &mut input)?;
    let res = kforge_resolve::resolve(&mut t.kc, &input)?;
    Ok(Resolved {
        tree: t,
        res,
        input,
        module_errors,
        ignore_errors: spec.build.ignore_config_errors,
    })
}

/// A symbol whose value the declaration changed against the base.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub symbol: String,
    /// The values before and after (`None`: absent).
    pub before: Option<String>,
    pub after: Option<String>,
    pub reason: Reason,
}

/// Why a symbol changed against the base.
#[derive(Debug, Clone, PartialEq)]
pub enum Reason {
    /// A request of the declaration, there.
    Requested(Origin),
    /// `[build] auto_modules`.
    AutoModules,
    /// Selected by these symbols.
    SelectedBy(Vec<String>),
    /// Its defaults and dependencies.
    Defaults,
    /// The symbol is no longer defined.
    Undefined,
}

/// `CONFIG_<name>`'s value in a .config text (`n` when unset).
pub fn config_value<'a>(config: &'a str, name: &str) -> &'a str {
    kconfig_engine::parse_config(config, "CONFIG_")
        .into_iter()
        .find(|e| e.name == name)
        .and_then(|e| e.written)
        .unwrap_or("n")
}

/// The configuration side of `[modules.NAME]`: for each module to load,
/// request `m` for the symbol whose `obj-$(CONFIG_X) += name.o` builds it
/// and the directory guards on the way there (`y` for a bool, `m` for a
/// tristate), at `default` priority so the declaration's own settings win.
/// Returns the modules no Makefile of this architecture builds.
pub fn module_requests(
    spec: &Spec,
    tree: &Path,
    kc: &Kconfig,
    input: &mut kforge_resolve::Input,
) -> Result<Vec<(Origin, String)>, Error> {
    let mut missing = Vec::new();
    if spec.modules.is_empty() {
        return Ok(missing);
    }
    let map = kforge_tree::ModuleMap::scan(tree)?;
    let srcarch = kc.getenv("SRCARCH").unwrap_or_default();
    // The modules the externals declare, when every one is a directory
    // that can be read now (an archive is known once fetched: its modules
    // are then checked after the build).
    let external: Option<Vec<String>> = spec
        .externals
        .iter()
        .map(|e| match &e.source {
            kforge_declaration::ExternalSource::Path(p) => {
                kforge_tree::external_modules(&p.join(&e.subdir))
            }
            _ => None,
        })
        .collect::<Option<Vec<Vec<String>>>>()
        .map(|v| v.concat());
    let tristate = |name: &str| {
        kc.find(name)
            .is_some_and(|s| kc.sym(s).ty == kconfig_engine::SymType::Tristate)
    };
    for set in spec.modules.values() {
        for module in &set.load {
            let sources = map.lookup(module);
            let Some(src) = sources.iter().find(|s| {
                s.arch.as_deref().is_none_or(|a| a == srcarch)
                    && !s.symbols.is_empty()
                    && s.symbols.iter().all(|x| tristate(x))
            }) else {
                let name = module.replace('-', "_");
                match &external {
                    Some(names) if names.contains(&name) => {}
                    None => {}
                    Some(_) if spec.externals.is_empty() => missing.push((
                        set.origin.clone(),
                        format!(
                            "[modules.{}]: no Makefile of arch/{srcarch} builds a module named {module}",
                            set.name
                        ),
                    )),
                    Some(_) => missing.push((
                        set.origin.clone(),
                        format!(
                            "[modules.{}]: neither a Makefile of arch/{srcarch} nor an [external] builds a module named {module}",
                            set.name
                        ),
                    )),
                }
                continue;
            };
            let wanted =
                src.symbols
                    .iter()
                    .map(|x| (x.clone(), "m"))
                    .chain(src.dir_symbols.iter().map(|x| {
                        let v = if tristate(x) { "m" } else { "y" };
                        (x.clone(), v)
                    }));
            for (symbol, value) in wanted {
                if input.requests.iter().any(|r| r.symbol == symbol) {
                    continue;
                }
                input.requests.push(kforge_declaration::Request {
                    symbol,
                    value: kforge_declaration::RequestValue::Text(value.to_string()),
                    optional: false,
                    priority: kforge_declaration::Priority::Default,
                    since: None,
                    until: None,
                    layer: kforge_declaration::Layer::Main,
                    origin: set.origin.clone(),
                });
            }
        }
    }
    Ok(missing)
}

/// What `kforge explain` evaluates a symbol in.
pub enum ExplainIn<'a> {
    /// The configuration a declaration resolves to.
    Declaration { spec: &'a Spec, tree: &'a Path },
    /// A tree for an architecture, with a `.config` text (empty: defaults).
    Tree {
        tree: &'a Path,
        arch: &'a str,
        config: String,
    },
}

/// Explain `name`: its definitions, dependencies with their values, who
/// selects it, its value and why.
pub fn explain(name: &str, within: ExplainIn<'_>) -> Result<kforge_resolve::SymbolReport, Error> {
    let mut t = match within {
        ExplainIn::Declaration { spec, tree } => resolve(spec, tree, true)?.tree,
        ExplainIn::Tree { tree, arch, config } => {
            let tc = Toolchain {
                arch,
                cross_compile: None,
                llvm: None,
            };
            let mut t = load_tree(tree, tc, true)?;
            t.kc.set_config_text("<explain>", config.into_bytes());
            t.kc.read(Some("<explain>"));
            t.kc.messages.take();
            t
        }
    };
    kforge_resolve::explain_symbol(&mut t.kc, name).ok_or_else(|| Error::UnknownSymbol(name.into()))
}
