//! The words of a resolution: every request that did not hold as a
//! rustc-style diagnostic with its reason and checked fix, the changes
//! against the base, the JSON report.

use std::path::Path;

use kforge_pipeline::resolved::Reason;
use kforge_pipeline::Resolved;
use kforge_resolve::{Outcome, Problem, Resolution};
use serde_json::json;

use crate::{render, Level};

/// The report of every request that did not hold (and of unknown
/// modules), rustc style, and with `diff` the changes against the base.
pub fn report(r: &mut Resolved, diff: bool) -> String {
    let ignore = r.ignore_errors;
    let mut out = module_errors(r);
    out.push_str(&unknown_conditions(r));
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

/// A warning for each `[when.SYMBOL]` whose symbol the tree does not
/// define: its requests never apply (a misspelt or lower-case name, or a
/// symbol of another architecture).
pub fn unknown_conditions(r: &Resolved) -> String {
    let mut out = String::new();
    for (origin, symbol, why) in &r.res.unknown_conditions {
        let text = why.to_string();
        let mut lines = text.lines();
        let label = lines.next().unwrap_or_default().to_string();
        let mut notes: Vec<String> = lines.map(|l| l.trim_start().to_string()).collect();
        notes.push("its requests never apply".to_string());
        out.push_str(&render(
            Level::Warning,
            Some("unknown-condition"),
            &format!("[when.{symbol}] never holds"),
            Some(origin),
            &label,
            &notes,
            None,
        ));
    }
    out
}

pub fn module_errors(r: &Resolved) -> String {
    let mut out = String::new();
    for (origin, msg) in &r.module_errors {
        let level = if r.ignore_errors {
            Level::Warning
        } else {
            Level::Error
        };
        out.push_str(&render(
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
    render(
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

/// A request's value as written in the declaration.
pub fn requested_text(o: &Outcome) -> String {
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
    render(
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

/// The `--json` report of `kforge config`.
pub fn report_json(res: &Resolution, output: &Path, ignore: bool) -> serde_json::Value {
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
