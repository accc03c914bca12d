//! `kforge config` and `kforge explain`: resolve a declaration with the
//! engine, verify every request, and report like a compiler.

use std::path::{Path, PathBuf};

use kforge_pipeline::resolved::{self, ExplainIn, Reason};
use kforge_pipeline::{Error, Resolved};
use kforge_resolve::{Outcome, Problem, Resolution};
use kforge_tree::env::Remedy;
use serde_json::json;

use crate::diagnostic::{self, Level};

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

/// The report of every request that did not hold (and of unknown
/// modules), rustc style, and with `diff` the changes against the base.
pub fn render_report(r: &mut Resolved, diff: bool) -> String {
    let ignore = r.ignore_errors;
    let mut out = render_module_errors(r);
    for o in r.res.failures() {
        let level = if o.request.optional || ignore {
            Level::Warning
        } else {
            Level::Error
        };
        out.push_str(&render_outcome(o, level));
    }
    if diff {
        out.push_str(&render_diff(r));
    }
    out
}

fn render_module_errors(r: &Resolved) -> String {
    let mut out = String::new();
    for (origin, msg) in &r.module_errors {
        let level = if r.ignore_errors {
            Level::Warning
        } else {
            Level::Error
        };
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
pub fn version_warning(spec: &kforge_declaration::Spec, r: &Resolved) -> String {
    let Some(tree) = r.version_mismatch(spec) else {
        return String::new();
    };
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

/// How the user gave the tree and architecture: the words of a hint.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Front {
    /// Flags (`kforge kconfig`, `kforge explain --tree --arch`).
    Flags,
    /// A declaration (`[build] arch`), and `--tree`.
    Declaration,
}

/// The hint that mends an environment error, in `front`'s words.
pub fn env_hint(remedy: &Remedy, front: Front) -> Option<String> {
    Some(match (remedy, front) {
        (Remedy::Tree, _) => "pass --tree DIR, the top directory of a Linux source tree (the one holding Makefile, Kconfig and arch/)".to_string(),
        (Remedy::Arch { available }, Front::Flags) => format!("pass --arch with one of: {available}"),
        (Remedy::Arch { available }, Front::Declaration) => {
            format!("set [build] arch in the declaration to one of: {available}")
        }
        (Remedy::CrossPrefix { srcarch }, Front::Flags) => format!(
            "pass --cross-compile PREFIX (e.g. {srcarch}-linux-gnu-) so clang gets --target from it, or configure with gcc (drop --llvm)"
        ),
        (Remedy::CrossPrefix { srcarch }, Front::Declaration) => format!(
            "set [build] cross_compile = \"{srcarch}-linux-gnu-\" so clang gets --target from it, or drop [build] llvm"
        ),
        (Remedy::CleanTree { tree, arch }, _) => format!(
            "run 'make ARCH={arch} mrproper' in {}, or configure in the tree itself (--objdir {})",
            tree.display(),
            tree.display()
        ),
        (Remedy::None, _) => return None,
    })
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
pub fn render_error(e: &Error) -> String {
    render_error_in(e, Front::Declaration)
}

/// [`render_error`], with hints in `front`'s words.
pub fn render_error_in(e: &Error, front: Front) -> String {
    use kforge_declaration::SpecError;
    match e {
        Error::Declaration(SpecError::At {
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
        Error::Declaration(SpecError::Conflict {
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
        Error::Env(env) => match env_hint(&env.remedy(), front) {
            Some(h) => format!("error: {env}\n  hint: {h}\n"),
            None => format!("error: {env}\n"),
        },
        Error::PatchesWithTree(origin) => format!(
            "error: {origin}: --tree DIR is built as it is, without the declared [[patches]]; drop --tree to have them applied\n"
        ),
        Error::PostPatchWithTree => "error: --tree DIR is built as it is, but the declaration has a [build] post_patch; drop --tree to have it run\n".to_string(),
        Error::NotAKernelTree(tree) => format!(
            "error: {}: not a kernel tree (it has no Makefile); give --tree the top directory of an unpacked kernel source\n",
            tree.display()
        ),
        Error::Unresolved { .. } => format!("error: {e}\n"),
        Error::NeedsCrossCompiler { prefix, package, .. } => format!(
            "error: {e}\n  help: add `cross_compile = \"{prefix}\"` to [build] (Debian: apt-get install {package}), or `llvm = true`\n"
        ),
        Error::MissingTool { cross_compile, .. } => format!(
            "error: {e}; install it{}\n",
            cross_compile
                .as_ref()
                .map_or(String::new(), |c| format!(" (cross_compile = \"{c}\")"))
        ),
        Error::Make {
            excerpt,
            errors_found,
            log,
            ..
        } => {
            let mut s = format!("error: {e}\n");
            for l in excerpt {
                if *errors_found {
                    s.push_str(&format!("  {l}\n"));
                } else {
                    s.push_str(&format!("  | {l}\n"));
                }
            }
            s.push_str(&format!(
                "  full log: {}\n  no store entry was made\n",
                log.display()
            ));
            s
        }
        Error::NotFixedPoint { changes, config } => {
            let mut s = format!("error: {e}:\n");
            for c in changes.iter().take(20) {
                s.push_str(&format!("  {c}\n"));
            }
            s.push_str(&format!(
                "  this is a bug in kforge's Kconfig engine; the configuration is {}\n",
                config.display()
            ));
            s
        }
        Error::Modules { log, .. } => format!(
            "error: {e}\n  full log: {}\n  no store entry was made\n",
            log.display()
        ),
        other => format!("error: {other}\n"),
    }
}

fn try_run(args: &ConfigArgs) -> Result<i32, Error> {
    let spec = kforge_declaration::Spec::load(&args.spec)?;
    let tree = kforge_pipeline::source::tree_only(&spec, args.tree.as_deref(), crate::progress())?;
    let mut r = resolved::resolve(&spec, &tree, !args.no_probe_cache)?;
    eprint!("{}", version_warning(&spec, &r));
    kforge_fs::write_atomic(&args.output, r.res.config.as_bytes()).map_err(|e| Error::Write {
        path: args.output.clone(),
        source: e.source,
    })?;
    let errors = r.error_count();
    if args.json {
        eprint!("{}", render_module_errors(&r));
        outln!("{}", report_json(&r.res, &args.output, r.ignore_errors));
    } else {
        let mut out = render_report(&mut r, args.diff);
        let warnings = r.warning_count();
        let (requests, held) = r.held();
        out.push_str(&format!(
            "{}: {requests} requests, {held} held, {errors} errors, {warnings} warnings; wrote {}\n",
            if errors > 0 { "error" } else { "done" },
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

fn render_diff(r: &mut Resolved) -> String {
    let mut out = String::from("changes against the base configuration:\n");
    for c in r.changes() {
        let reason = match &c.reason {
            Reason::Requested(origin) => format!("requested at {origin}"),
            Reason::AutoModules => "auto_modules".to_string(),
            Reason::SelectedBy(by) => format!("selected by {}", by.join(", ")),
            Reason::Defaults => "its defaults and dependencies".to_string(),
            Reason::Undefined => "no longer defined".to_string(),
        };
        out.push_str(&format!(
            "  {}: {} -> {}  ({reason})\n",
            c.symbol,
            c.before.as_deref().unwrap_or("(absent)"),
            c.after.as_deref().unwrap_or("(absent)")
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

/// `kforge explain`.
pub fn run_explain(args: ExplainArgs) -> i32 {
    match try_explain(&args) {
        Ok(text) => {
            out!("{text}");
            0
        }
        Err(text) => {
            eprint!("{text}");
            1
        }
    }
}

/// The explanation, or the rendered error.
fn try_explain(args: &ExplainArgs) -> Result<String, String> {
    let name = args.symbol.strip_prefix("CONFIG_").unwrap_or(&args.symbol);
    let report = if let Some(spec_path) = &args.spec {
        let render = |e: Error| render_error_in(&e, Front::Declaration);
        let spec = kforge_declaration::Spec::load(spec_path).map_err(|e| render(e.into()))?;
        let tree =
            kforge_pipeline::source::tree_only(&spec, args.tree.as_deref(), crate::progress())
                .map_err(render)?;
        let within = ExplainIn::Declaration {
            spec: &spec,
            tree: &tree,
        };
        resolved::explain(name, within).map_err(render)?
    } else {
        let render = |e: Error| render_error_in(&e, Front::Flags);
        let (Some(tree), Some(arch)) = (&args.tree, &args.arch) else {
            return Err("error: --tree DIR and --arch ARCH are needed without --spec\n".into());
        };
        let config = match &args.config {
            Some(f) => kforge_resolve::read_config_file(f).map_err(|source| {
                render(Error::Read {
                    path: f.clone(),
                    source,
                })
            })?,
            None => String::new(),
        };
        resolved::explain(name, ExplainIn::Tree { tree, arch, config }).map_err(render)?
    };
    Ok(report.to_string())
}
