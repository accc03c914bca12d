//! The words of a policy audit: the findings that need attention grouped
//! by menu with the engine's reasons and checked fixes, a summary table by
//! policy and verdict, and the JSON report.

use std::collections::BTreeMap;

use kforge_pipeline::audit::AuditRun;
use kforge_policy::audit::{Finding, NotApplicable, Verdict};
use serde_json::json;

use crate::table::columns;

/// The verdicts in the order they are reported.
const VERDICTS: [&str; 4] = ["holds", "does-not-hold", "cannot-hold", "does-not-apply"];

/// The text report: details (every finding with `all`, else those that do
/// not hold or cannot hold, and misspelt symbols), then the summary.
pub fn report(run: &AuditRun, all: bool) -> String {
    let mut out = String::new();
    for m in &run.audit.misspelt {
        out.push_str(&format!(
            "warning: {}: {} is not a symbol of this tree; did you mean {}?\n",
            m.origin,
            m.symbol,
            m.suggestions.join(", ")
        ));
    }
    let mut by_menu: BTreeMap<String, Vec<&Finding>> = BTreeMap::new();
    for f in &run.audit.findings {
        let shown = all
            || matches!(
                f.verdict,
                Verdict::DoesNotHold { .. } | Verdict::CannotHold { .. }
            );
        if shown {
            let menu = f.menu.clone().unwrap_or_else(|| "(not in a menu)".into());
            by_menu.entry(menu).or_default().push(f);
        }
    }
    for (menu, findings) in &by_menu {
        out.push_str(&format!("\n{menu}\n"));
        for f in findings {
            out.push_str(&finding(f));
        }
    }
    out.push('\n');
    out.push_str(&summary(run));
    out
}

/// One finding, indented under its menu.
fn finding(f: &Finding) -> String {
    let r = &f.recommendation;
    let label = f.verdict.kind().replace('-', " ");
    let actual = f
        .actual
        .as_deref()
        .map(|v| {
            let shown = if v == "n" || v.is_empty() {
                "not set"
            } else {
                v
            };
            format!(": it is {shown}")
        })
        .unwrap_or_default();
    let mut s = format!(
        "  {label:<14} {} = {} ({}, {}){actual}\n",
        r.symbol,
        r.wanted(),
        f.policy,
        r.origin
    );
    let mut note = |text: &str| {
        for (i, l) in text.lines().enumerate() {
            let lead = if i == 0 { "      " } else { "        " };
            s.push_str(&format!("{lead}{}\n", l.trim_start()));
        }
    };
    note(&format!("why it is advised: {}", r.reason));
    match &f.verdict {
        Verdict::DoesNotHold { reason, fix } => {
            if !reason.is_empty() {
                note(&format!("why it does not hold: {reason}"));
            }
            match fix {
                Some(fix) => note(&format!("fix (checked): {}", requests(fix))),
                None => note("fix: change that request (kforge audit --write leaves it)"),
            }
        }
        Verdict::CannotHold { problem } => note(&format!("why it cannot hold: {problem}")),
        Verdict::DoesNotApply(why) => note(&format!("does not apply: {}", not_applicable(why))),
        Verdict::Holds => {}
    }
    s
}

/// `A = "y", B = "m"`.
fn requests(fix: &[(String, String)]) -> String {
    fix.iter()
        .map(|(s, v)| format!("{s} = {v:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn not_applicable(why: &NotApplicable) -> String {
    match why {
        NotApplicable::Architecture { arches } => {
            format!("it is for {}", arches.join(", "))
        }
        NotApplicable::Version { since, until } => {
            let v = |k: &Option<kforge_declaration::KernelVersion>| {
                k.map(|v| format!("{}.{}", v.major, v.minor))
            };
            match (v(since), v(until)) {
                (Some(a), Some(b)) => format!("it is for Linux {a} to before {b}"),
                (Some(a), None) => format!("it is for Linux {a} and later"),
                (None, Some(b)) => format!("it is for Linux before {b}"),
                (None, None) => String::new(),
            }
        }
        NotApplicable::OtherArchitectures { arches } => {
            format!("only {} define the symbol", arches.join(", "))
        }
        NotApplicable::Absent => "this kernel version does not have the symbol".into(),
    }
}

/// Counts by policy and verdict, and the closing line.
pub fn summary(run: &AuditRun) -> String {
    let mut rows = Vec::new();
    let count = |policy: Option<&str>, kind: &str| {
        run.audit
            .findings
            .iter()
            .filter(|f| policy.is_none_or(|p| f.policy == p) && f.verdict.kind() == kind)
            .count()
            .to_string()
    };
    for p in &run.policies {
        let mut row = vec![p.name.clone()];
        row.extend(VERDICTS.iter().map(|k| count(Some(&p.name), k)));
        rows.push(row);
    }
    let mut total = vec!["total".to_string()];
    total.extend(VERDICTS.iter().map(|k| count(None, k)));
    rows.push(total);
    let head = [
        "policy",
        "holds",
        "does not hold",
        "cannot hold",
        "does not apply",
    ];
    let mut s = columns(&head, &rows);
    let fixable = run
        .audit
        .findings
        .iter()
        .filter(|f| matches!(f.verdict, Verdict::DoesNotHold { fix: Some(_), .. }))
        .count();
    let (dnh, ch) = (
        run.audit.count("does-not-hold"),
        run.audit.count("cannot-hold"),
    );
    s.push_str(&format!(
        "Linux {}.{}.{} {}: {dnh} recommendations do not hold ({fixable} with a checked fix: kforge audit --write adds them), {ch} cannot hold here\n",
        run.version.major, run.version.minor, run.version.patch, run.arch
    ));
    s
}

/// The JSON report.
pub fn report_json(run: &AuditRun) -> String {
    let findings: Vec<serde_json::Value> = run
        .audit
        .findings
        .iter()
        .map(|f| {
            let r = &f.recommendation;
            let (reason, kind, fix) = match &f.verdict {
                Verdict::Holds => (None, None, None),
                Verdict::DoesNotHold { reason, fix } => (Some(reason.clone()), None, fix.clone()),
                Verdict::CannotHold { problem } => {
                    (Some(problem.to_string()), Some(problem.kind()), None)
                }
                Verdict::DoesNotApply(why) => (Some(not_applicable(why)), None, None),
            };
            json!({
                "policy": f.policy,
                "symbol": r.symbol,
                "wanted": r.values,
                "actual": f.actual,
                "verdict": f.verdict.kind(),
                "reason": reason,
                "problem": kind,
                "fix": fix.map(|v| v.into_iter().map(|(s, v)| json!({"symbol": s, "value": v})).collect::<Vec<_>>()),
                "menu": f.menu,
                "advice": r.reason,
                "group": r.group,
                "origin": r.origin.to_string(),
            })
        })
        .collect();
    let summary: serde_json::Map<String, serde_json::Value> = run
        .policies
        .iter()
        .map(|p| {
            let counts: serde_json::Map<String, serde_json::Value> = VERDICTS
                .iter()
                .map(|k| {
                    let n = run
                        .audit
                        .findings
                        .iter()
                        .filter(|f| f.policy == p.name && f.verdict.kind() == *k)
                        .count();
                    (k.to_string(), json!(n))
                })
                .collect();
            (p.name.clone(), serde_json::Value::Object(counts))
        })
        .collect();
    let v = run.version;
    serde_json::to_string_pretty(&json!({
        "kernel": format!("{}.{}.{}", v.major, v.minor, v.patch),
        "arch": run.arch,
        "policies": run.policies.iter().map(|p| json!({"name": p.name, "description": p.description, "reference": p.reference})).collect::<Vec<_>>(),
        "summary": summary,
        "findings": findings,
        "misspelt": run.audit.misspelt.iter().map(|m| json!({"origin": m.origin.to_string(), "symbol": m.symbol, "suggestions": m.suggestions})).collect::<Vec<_>>(),
    }))
    .expect("JSON of plain values")
}
