//! The words of `kforge update`: end-of-life warnings and what a check of
//! declarations against new releases found.

use kforge_declaration::KernelVersion;
use kforge_pipeline::update::{CheckReport, EndOfLife, Finding, FindingKind, MeaningChange, Usage};
use kforge_resolve::Outcome;

use crate::{render, Level};

/// A warning for an end-of-life branch some declarations still use.
pub fn end_of_life(eol: &EndOfLife) -> String {
    let notes: Vec<String> = eol
        .users
        .iter()
        .map(|u| {
            let (path, at) = (u.path.display(), &u.at);
            format!("still used by {path} ({}, at {at})", how(&u.usage))
        })
        .collect();
    let suggest: Vec<String> = eol
        .suggest
        .iter()
        .map(|(b, lts)| format!("{b} ({})", if *lts { "longterm" } else { "stable" }))
        .collect();
    let help = (!suggest.is_empty())
        .then(|| format!("move them to a maintained branch: {}", suggest.join(", ")));
    let title = format!(
        "linux {} is end of life: {} is its last release",
        eol.branch, eol.version
    );
    let code = Some("end-of-life");
    render(
        Level::Warning,
        code,
        &title,
        None,
        "",
        &notes,
        help.as_deref(),
    )
}

fn requested(o: &Outcome) -> String {
    format!("{} = {}", o.request.symbol, o.request.value)
}

fn shown(v: Option<&String>) -> String {
    match v.map(String::as_str) {
        None => "(absent)".into(),
        Some("") => "\"\"".into(),
        Some(v) => v.into(),
    }
}

fn one_line(text: &str) -> String {
    text.lines().map(str::trim).collect::<Vec<_>>().join("; ")
}

/// The differences a check found, and its summary line.
pub fn check_report(r: &CheckReport) -> String {
    let (ov, nv) = (r.old, r.new);
    let mut out: String = r.findings.iter().map(|f| finding(f, ov, nv)).collect();
    for m in &r.modules_gone {
        let title = format!("{} in {nv} (it did in {ov})", m.message);
        let level = if m.required {
            Level::Error
        } else {
            Level::Warning
        };
        let code = Some("unknown-module");
        out.push_str(&render(level, code, &title, Some(&m.origin), "", &[], None));
    }
    out.push_str(&format!(
        "{} ({}): {ov} -> {nv}: {} requests, {} newly failing, {} warnings, {} notes\n",
        r.spec.display(),
        how(&r.usage),
        r.requests,
        r.errors,
        r.warnings,
        r.notes
    ));
    out
}

/// One finding of a check, as a diagnostic.
fn finding(f: &Finding, ov: KernelVersion, nv: KernelVersion) -> String {
    let o = &f.outcome;
    let mut lines: Vec<String> = Vec::new();
    if let Some(c) = &o.condition {
        lines.push(format!("requested while [when.{c}] holds"));
    }
    let problem = |o: &Outcome| {
        one_line(
            &o.problem
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
        )
    };
    let code = o.problem.as_ref().map(|p| p.kind());
    let (sym, req) = (&o.request.symbol, requested(o));
    let mut label = String::new();
    let (level, code, title, help) = match &f.kind {
        FindingKind::NewlyFailing { before, required } => {
            let text = o
                .problem
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default();
            let mut text_lines = text.lines();
            label = text_lines.next().unwrap_or_default().to_string();
            lines.extend(text_lines.map(|l| l.trim_start().to_string()));
            lines.push(match before {
                Some(b) => format!("with {ov} it held ({sym} = {})", shown(b.actual.as_ref())),
                None => format!("it does not apply to {ov} (since/until)"),
            });
            let help = o.fix.as_ref().map(|fix| {
                let mut h = format!("with {nv}, these requests make it hold (checked):\n[config]");
                for (s, v) in fix {
                    h.push_str(&format!("\n{s} = {v:?}"));
                }
                h
            });
            let is = (o.actual.as_ref())
                .map_or(String::new(), |a| format!(": it is {}", shown(Some(a))));
            let title = format!("{req} held with {ov} but not with {nv}{is}");
            let level = if *required {
                Level::Error
            } else {
                Level::Warning
            };
            (level, code, title, help)
        }
        FindingKind::NowHolds { before } => {
            lines.push(format!("with {ov}: {}", problem(before)));
            let title = format!("{req} did not hold with {ov}; it holds with {nv}");
            let help = "a workaround for the old version may no longer be needed";
            (
                Level::Note,
                Some("now-holds"),
                title,
                Some(help.to_string()),
            )
        }
        FindingKind::FailsOtherwise { before } => {
            lines.push(format!("with {ov}: {}", problem(before)));
            lines.push(format!("with {nv}: {}", problem(o)));
            let title = format!("{req} fails with {ov} and {nv}, for another reason");
            (Level::Warning, code, title, None)
        }
        FindingKind::MeaningChanged(changes) => {
            lines.extend(changes.iter().map(|c| match c {
                MeaningChange::NotApplied => format!("it does not apply to {ov} (since/until)"),
                MeaningChange::TypeChanged { old, new } => {
                    format!("its type changed: {old} with {ov}, {new} with {nv}")
                }
                MeaningChange::DependencyAppeared(c) => format!("a dependency appeared in {nv}: {c}"),
                MeaningChange::DependencyWentAway(c) => format!("a dependency went away in {nv}: {c}"),
                MeaningChange::New => format!("{sym} is new in {nv}"),
                MeaningChange::Undefined => format!("{sym} is not defined in {nv}"),
                MeaningChange::BaseValue { old, new } => format!(
                    "without this request, the base configuration gives {} with {nv} ({} with {ov})",
                    shown(new.as_ref()),
                    shown(old.as_ref())
                ),
            }));
            let title = format!("{req} holds with {ov} and {nv}, but its symbol changed");
            (Level::Note, Some("meaning-changed"), title, None)
        }
    };
    let at = Some(&o.request.origin);
    render(level, code, &title, at, &label, &lines, help.as_deref())
}

/// How a declaration uses a branch.
pub fn how(u: &Usage) -> String {
    match u {
        Usage::Follows(b) => format!("follows {b}"),
        Usage::Pins(v) => format!("pins {v}"),
    }
}
