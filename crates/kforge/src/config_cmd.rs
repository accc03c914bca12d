//! `kforge config` and `kforge explain`: resolve a declaration with the
//! engine, verify every request, and report like a compiler.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use kconfig_engine::{Kconfig, LoadOptions};
use kforge_resolve::{Outcome, Problem, Resolution};
use serde_json::json;

use crate::diagnostic::{self, Level};
use crate::kernel_env::{self, Vars};

/// Resolve a kernel.toml declaration: write the .config and report every
/// request that did not hold, with the reason and a fix.
#[derive(Debug, clap::Args)]
pub struct ConfigArgs {
    /// The declaration
    #[arg(value_name = "KERNEL_TOML")]
    pub spec: PathBuf,
    /// An unpacked kernel tree to use instead of the declared source
    #[arg(long, value_name = "DIR")]
    pub tree: Option<PathBuf>,
    /// Where to write the configuration
    #[arg(
        short = 'o',
        long = "output",
        value_name = "FILE",
        default_value = ".config"
    )]
    pub output: PathBuf,
    /// Print the report as JSON on stdout
    #[arg(long)]
    pub json: bool,
    /// Show what changed against the base configuration, and why
    #[arg(long)]
    pub diff: bool,
    /// Run every $(shell,...) probe instead of using the probe cache
    #[arg(long)]
    pub no_probe_cache: bool,
}

/// Explain a symbol: its definitions, dependencies with current values, who
/// selects it, its value and why.
#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// The symbol, without CONFIG_
    #[arg(value_name = "SYMBOL")]
    pub symbol: String,
    /// Explain it in the configuration this declaration resolves to
    #[arg(long, value_name = "KERNEL_TOML", conflicts_with = "arch")]
    pub spec: Option<PathBuf>,
    /// The kernel tree (required without --spec)
    #[arg(long, value_name = "DIR")]
    pub tree: Option<PathBuf>,
    /// The architecture, with --tree
    #[arg(long)]
    pub arch: Option<String>,
    /// A .config to evaluate (default: the tree's defaults)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// A failure before anything could be reported per request.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Spec(#[from] kforge_declaration::SpecError),
    #[error(transparent)]
    Env(#[from] kernel_env::KernelEnvError),
    #[error(transparent)]
    Resolve(#[from] kforge_resolve::ResolveError),
    #[error(transparent)]
    Source(Box<kforge_source::SourceError>),
    #[error(transparent)]
    Kbuild(#[from] kforge_tree::KbuildError),
    #[error("the Kconfig tree could not be parsed:\n{0}")]
    Load(String),
    #[error("{path}: cannot write the configuration: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--tree DIR and --arch ARCH are needed without --spec")]
    NeedTree,
    #[error("unknown symbol {0}: not defined in this tree for this architecture")]
    UnknownSymbol(String),
    #[error("{path}: cannot read it: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A refusal whose message says what to do.
    #[error("{0}")]
    Other(String),
}

/// The caller's environment variables `kforge config` passes on to the
/// tree and its probes; everything else comes from the declaration.
pub const PASSED_ENV: &[&str] = &["PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "LC_CTYPE"];

impl From<Box<kforge_source::SourceError>> for ConfigError {
    fn from(e: Box<kforge_source::SourceError>) -> Self {
        ConfigError::Source(e)
    }
}

/// A loaded tree and how it was configured.
pub struct Tree {
    pub kc: Kconfig,
    pub version: kforge_declaration::KernelVersion,
    /// The variables make would export to conf (`CC`, `LD`, `HOSTCC`,
    /// `SRCARCH`, `KERNELVERSION`, ...), as derived for this tree.
    pub vars: Vars,
}

/// Derive the environment make would give conf for a declaration's
/// toolchain (`[build]` arch, cross_compile, llvm) and parse the tree.
pub fn load_spec_tree(
    spec: &kforge_declaration::Spec,
    tree: &Path,
    probe_cache: bool,
) -> Result<Tree, ConfigError> {
    let b = &spec.build;
    load_tree(
        tree,
        &b.arch,
        b.cross_compile.as_deref(),
        b.llvm.as_deref(),
        probe_cache,
    )
}

/// Derive the environment make would give conf and parse the tree.
pub fn load_tree(
    tree: &Path,
    arch: &str,
    cross_compile: Option<&str>,
    llvm: Option<&str>,
    probe_cache: bool,
) -> Result<Tree, ConfigError> {
    // A declaration resolves the same whatever the shell around it: only
    // what finds and runs the tools comes from the caller's environment.
    let base: Vars = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, _)| PASSED_ENV.contains(&k.as_str()))
        .collect();
    let cache_dir = kforge_probe_cache::ProbeCache::default_dir();
    // Probes run in a scratch object directory of their own, stable so that
    // the probe cache and its history are reused from run to run.
    let objdir = cache_dir
        .parent()
        .map(|p| p.join("objdir"))
        .unwrap_or_else(std::env::temp_dir);
    let _ = std::fs::create_dir_all(&objdir);
    let req = kernel_env::Request {
        tree: tree.to_path_buf(),
        objdir: objdir.clone(),
        arch: Some(arch.to_string()),
        cross_compile: cross_compile.map(str::to_string),
        llvm: llvm.map(str::to_string),
        ..Default::default()
    };
    let kenv = kernel_env::derive(&req, &base)?;
    let env = kenv.conf_env(&base);
    let version = env
        .get("KERNELVERSION")
        .and_then(|v| v.split(['-', '+']).next())
        .and_then(|v| v.parse::<kforge_declaration::KernelVersion>().ok())
        .unwrap_or(kforge_declaration::KernelVersion {
            major: 0,
            minor: 0,
            patch: 0,
            rc: u32::MAX,
        });
    let env_fn: kconfig_engine::EnvFn = {
        let env = env.clone();
        Rc::new(move |k: &str| env.get(k).cloned())
    };
    let shell: Box<dyn kconfig_engine::ShellRunner> = if probe_cache {
        crate::conf_cmd::cached_shell(
            env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            objdir,
            format!("{}|{}", kenv.abs_srctree.display(), arch),
            &kenv.kconfig,
            &env_fn,
        )
    } else {
        Box::new(crate::conf_cmd::ExplicitShell(
            env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        ))
    };
    let kc = Kconfig::load(LoadOptions {
        kconfig: kenv.kconfig.clone(),
        env: env_fn,
        shell,
        dialect: None,
    })
    .map_err(|e| {
        ConfigError::Load(
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

/// A declaration resolved against a tree: what `kforge config` and
/// `kforge build` share.
pub struct Resolved {
    pub tree: Tree,
    pub res: Resolution,
    /// What was resolved: the declaration's requests for this version and
    /// those of `[modules]`.
    pub input: kforge_resolve::Input,
    /// `[modules]` entries no Makefile of this architecture builds.
    pub module_errors: Vec<(kforge_declaration::Origin, String)>,
}

impl Resolved {
    /// The failures that are errors (not optional, not ignored).
    pub fn error_count(&self, ignore: bool) -> usize {
        if ignore {
            return 0;
        }
        self.res.failures().filter(|o| !o.request.optional).count() + self.module_errors.len()
    }

    /// The failures that are only warnings.
    pub fn warning_count(&self, ignore: bool) -> usize {
        self.res.failures().count() + self.module_errors.len() - self.error_count(ignore)
    }
}

/// Load `tree` for the declaration's architecture and resolve the
/// declaration (requests, `[when]`, `[modules]`) against it.
pub fn resolve_spec(
    spec: &kforge_declaration::Spec,
    tree: &Path,
    probe_cache: bool,
) -> Result<Resolved, ConfigError> {
    let mut t = load_spec_tree(spec, tree, probe_cache)?;
    let mut input = kforge_resolve::Input::from_spec(spec, &t.version);
    let module_errors = module_requests(spec, tree, &t.kc, &mut input)?;
    let res = kforge_resolve::resolve(&mut t.kc, &input)?;
    Ok(Resolved {
        tree: t,
        res,
        input,
        module_errors,
    })
}

/// The report of every request that did not hold (and of unknown
/// modules), rustc style, and with `diff` the changes against the base.
pub fn render_report(r: &mut Resolved, ignore: bool, diff: bool) -> String {
    let mut out = render_module_errors(r, ignore);
    for o in r.res.failures() {
        let level = if o.request.optional || ignore {
            Level::Warning
        } else {
            Level::Error
        };
        out.push_str(&render_outcome(o, level));
    }
    if diff {
        out.push_str(&render_diff(&r.res, &mut r.tree.kc));
    }
    out
}

fn render_module_errors(r: &Resolved, ignore: bool) -> String {
    let mut out = String::new();
    for (origin, msg) in &r.module_errors {
        let level = if ignore { Level::Warning } else { Level::Error };
        out.push_str(&diagnostic::render(
            level,
            Some("unknown-module"),
            msg,
            Some(origin),
            "",
            &[],
            None,
        ));
    }
    out
}

/// A warning when the tree's version is not the declared one (empty when
/// they agree on major.minor).
pub fn version_warning(
    spec: &kforge_declaration::Spec,
    tree: &kforge_declaration::KernelVersion,
) -> String {
    let declared = spec.source.version;
    if (declared.major, declared.minor) == (tree.major, tree.minor) {
        return String::new();
    }
    diagnostic::render(
        Level::Warning,
        None,
        &format!(
            "the tree is Linux {}.{}.{}, the declaration says {}",
            tree.major, tree.minor, tree.patch, spec.source.version_text
        ),
        Some(&spec.source.origin),
        "",
        &["`since`/`until` are compared with the tree's version".to_string()],
        None,
    )
}

/// `kforge config`.
pub fn run(args: ConfigArgs) -> i32 {
    match try_run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprint!("{}", render_error(&e));
            1
        }
    }
}

/// A failure before any request could be reported, as a diagnostic.
pub fn render_error(e: &ConfigError) -> String {
    match e {
        ConfigError::Spec(kforge_declaration::SpecError::At {
            origin,
            message,
            help,
        }) => diagnostic::render(
            Level::Error,
            None,
            message,
            Some(origin),
            "",
            &[],
            help.as_deref(),
        ),
        ConfigError::Spec(kforge_declaration::SpecError::Conflict {
            symbol,
            first,
            first_value,
            second,
            second_value,
        }) => {
            let mut s = diagnostic::render(
                Level::Error,
                None,
                &format!("conflicting requests for {symbol}"),
                Some(second),
                &format!("{symbol} = {second_value} here"),
                &[],
                Some("give one of them a higher priority, or remove the other with `{ unset = true }`"),
            );
            s.push_str(&diagnostic::render(
                Level::Note,
                None,
                &format!("{symbol} = {first_value} requested here"),
                Some(first),
                "",
                &[],
                None,
            ));
            s
        }
        other => format!("error: {other}\n"),
    }
}

fn try_run(args: &ConfigArgs) -> Result<i32, ConfigError> {
    let spec = kforge_declaration::Spec::load(&args.spec)?;
    let tree = match &args.tree {
        Some(t) => t.clone(),
        None => crate::source::unpacked_tree(&spec)?,
    };
    let mut r = resolve_spec(&spec, &tree, !args.no_probe_cache)?;
    eprint!("{}", version_warning(&spec, &r.tree.version));
    write_atomic(&args.output, r.res.config.as_bytes()).map_err(|source| ConfigError::Write {
        path: args.output.clone(),
        source,
    })?;
    let ignore = spec.build.ignore_config_errors;
    let errors = r.error_count(ignore);
    if args.json {
        eprint!("{}", render_module_errors(&r, ignore));
        println!("{}", report_json(&r.res, &args.output, ignore));
    } else {
        let mut out = render_report(&mut r, ignore, args.diff);
        let warnings = r.warning_count(ignore);
        let res = &r.res;
        out.push_str(&format!(
            "{}: {} requests, {} held, {} errors, {} warnings; wrote {}\n",
            if errors > 0 { "error" } else { "done" },
            res.outcomes.len(),
            res.outcomes.len() - res.failures().count(),
            errors,
            warnings,
            args.output.display()
        ));
        eprint!("{out}");
    }
    Ok(if errors > 0 { 1 } else { 0 })
}

fn requested_text(o: &Outcome) -> String {
    match &o.request.value {
        kforge_declaration::RequestValue::Text(s) => format!("{s:?}"),
        kforge_declaration::RequestValue::Integer(i) => i.to_string(),
        kforge_declaration::RequestValue::Boolean(b) => b.to_string(),
    }
}

fn render_outcome(o: &Outcome, level: Level) -> String {
    let p = o.problem.as_ref().expect("a failure");
    let title = match &o.actual {
        Some(v) => format!(
            "{} = {} did not hold: it is {}",
            o.request.symbol,
            requested_text(o),
            if v.is_empty() {
                "\"\"".to_string()
            } else {
                v.clone()
            }
        ),
        None => format!("{} = {} did not hold", o.request.symbol, requested_text(o)),
    };
    let text = p.to_string();
    let mut lines = text.lines();
    let label = lines.next().unwrap_or_default().to_string();
    let mut notes: Vec<String> = lines.map(|l| l.trim_start().to_string()).collect();
    if let Some(c) = &o.condition {
        notes.push(format!("requested while [when.{c}] holds"));
    }
    let help = o.fix.as_ref().map(|fix| {
        let mut h = String::from("these requests make it hold (checked):\n[config]");
        for (s, v) in fix {
            h.push_str(&format!("\n{s} = {v:?}"));
        }
        h
    });
    diagnostic::render(
        level,
        Some(p.kind()),
        &title,
        Some(&o.request.origin),
        &label,
        &notes,
        help.as_deref(),
    )
}

fn parse_config(text: &str, prefix: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for l in text.lines() {
        if let Some(rest) = l.strip_prefix(prefix) {
            if let Some((k, v)) = rest.split_once('=') {
                m.insert(k.to_string(), v.to_string());
            }
        } else if let Some(n) = l
            .strip_prefix("# ")
            .and_then(|r| r.strip_prefix(prefix))
            .and_then(|r| r.strip_suffix(" is not set"))
        {
            m.insert(n.to_string(), "n".to_string());
        }
    }
    m
}

fn render_diff(res: &Resolution, kc: &mut Kconfig) -> String {
    let base = parse_config(&res.base_config, "CONFIG_");
    let now = parse_config(&res.config, "CONFIG_");
    let why: BTreeMap<&str, String> = res
        .outcomes
        .iter()
        .map(|o| {
            (
                o.request.symbol.as_str(),
                format!("requested at {}", o.request.origin),
            )
        })
        .collect();
    let mut out = String::from("changes against the base configuration:\n");
    let keys: std::collections::BTreeSet<&String> = base.keys().chain(now.keys()).collect();
    for k in keys {
        let (a, b) = (base.get(k), now.get(k));
        // "is not set" and absent mean the same.
        let off = |v: Option<&String>| v.is_none_or(|v| v == "n");
        if a == b || (off(a) && off(b)) {
            continue;
        }
        let reason = why
            .get(k.as_str())
            .cloned()
            .or_else(|| {
                res.auto_modules
                    .contains(k)
                    .then(|| "auto_modules".to_string())
            })
            .or_else(|| {
                let r = kforge_resolve::explain_symbol(kc, k)?;
                let by: Vec<String> = r
                    .selectors
                    .iter()
                    .filter(|s| s.active && s.kind == "select")
                    .map(|s| s.symbol.clone())
                    .collect();
                Some(if by.is_empty() {
                    "its defaults and dependencies".to_string()
                } else {
                    format!("selected by {}", by.join(", "))
                })
            })
            .unwrap_or_else(|| "no longer defined".to_string());
        out.push_str(&format!(
            "  {k}: {} -> {}  ({reason})\n",
            a.map_or("(absent)", String::as_str),
            b.map_or("(absent)", String::as_str)
        ));
    }
    out
}

fn report_json(res: &Resolution, output: &Path, ignore: bool) -> serde_json::Value {
    let outcomes: Vec<serde_json::Value> = res
        .outcomes
        .iter()
        .map(|o| {
            let status = match &o.problem {
                None => "ok",
                Some(_) if o.request.optional || ignore => "warning",
                Some(_) => "error",
            };
            json!({
                "symbol": o.request.symbol,
                "requested": requested_text(o),
                "actual": o.actual,
                "status": status,
                "kind": o.problem.as_ref().map(Problem::kind),
                "message": o.problem.as_ref().map(|p| p.to_string()),
                "file": o.request.origin.file.display().to_string(),
                "line": o.request.origin.line,
                "column": o.request.origin.column,
                "condition": o.condition,
                "fix": o.fix.as_ref().map(|f| f.iter().map(|(s, v)| json!({"symbol": s, "value": v})).collect::<Vec<_>>()),
            })
        })
        .collect();
    json!({
        "config": output.display().to_string(),
        "active_conditions": res.active_conditions,
        "auto_modules": res.auto_modules,
        "requests": outcomes,
    })
}

/// `CONFIG_<name>`'s value in a .config text (`n` when unset).
pub(crate) fn config_value<'a>(config: &'a str, name: &str) -> &'a str {
    let key = format!("CONFIG_{name}=");
    config
        .lines()
        .find_map(|l| l.strip_prefix(&key))
        .unwrap_or("n")
}

/// Write `data` to `path` through a temporary file in the same directory.
pub fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.kforge-tmp.{}", std::process::id()));
    let r = std::fs::write(&tmp, data).and_then(|_| std::fs::rename(&tmp, path));
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

/// The configuration side of `[modules.NAME]`: for each module to load,
/// request `m` for the symbol whose `obj-$(CONFIG_X) += name.o` builds it
/// and the directory guards on the way there (`y` for a bool, `m` for a
/// tristate), at `default` priority so the declaration's own settings win.
/// Returns the modules no Makefile of this architecture builds.
pub(crate) fn module_requests(
    spec: &kforge_declaration::Spec,
    tree: &Path,
    kc: &Kconfig,
    input: &mut kforge_resolve::Input,
) -> Result<Vec<(kforge_declaration::Origin, String)>, ConfigError> {
    let mut missing = Vec::new();
    if spec.modules.is_empty() {
        return Ok(missing);
    }
    let map = kforge_tree::ModuleMap::scan(tree)?;
    let srcarch = kc.getenv("SRCARCH").unwrap_or_default();
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
                missing.push((
                    set.origin.clone(),
                    format!(
                        "[modules.{}]: no Makefile of arch/{srcarch} builds a module named {module}",
                        set.name
                    ),
                ));
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

/// `kforge explain`.
pub fn run_explain(args: ExplainArgs) -> i32 {
    match try_explain(&args) {
        Ok(text) => {
            print!("{text}");
            0
        }
        Err(e) => {
            eprint!("{}", render_error(&e));
            1
        }
    }
}

fn try_explain(args: &ExplainArgs) -> Result<String, ConfigError> {
    let name = args.symbol.strip_prefix("CONFIG_").unwrap_or(&args.symbol);
    let mut t = if let Some(spec_path) = &args.spec {
        let spec = kforge_declaration::Spec::load(spec_path)?;
        let tree = match &args.tree {
            Some(t) => t.clone(),
            None => crate::source::unpacked_tree(&spec)?,
        };
        resolve_spec(&spec, &tree, true)?.tree
    } else {
        let (Some(tree), Some(arch)) = (&args.tree, &args.arch) else {
            return Err(ConfigError::NeedTree);
        };
        let mut t = load_tree(tree, arch, None, None, true)?;
        let text = match &args.config {
            Some(f) => {
                kforge_resolve::read_config_file(f).map_err(|source| ConfigError::Write {
                    path: f.clone(),
                    source,
                })?
            }
            None => String::new(),
        };
        t.kc.set_config_text("<explain>", text.into_bytes());
        t.kc.read(Some("<explain>"));
        t.kc.messages.take();
        t
    };
    kforge_resolve::explain_symbol(&mut t.kc, name)
        .map(|r| r.to_string())
        .ok_or_else(|| ConfigError::UnknownSymbol(name.to_string()))
}
