//! Fixes: further requests that make a failed request hold.

use kconfig_engine::expr::{Expr, ExprId};
use kconfig_engine::{Kconfig, SymType, SymbolId, Tri};

use crate::explain::Problem;
use crate::{fix_requests, resolve_on_base, typed_of, value::Typed, Input, Outcome};

/// How many times a fix may grow (a dependency of a dependency, ...).
const MAX_DEPTH: usize = 6;

/// The smallest set of further requests found that makes `failed` hold,
/// verified by resolving again; `None` when none is found. A fix never
/// overrides another request of the declaration: where that would be
/// needed, the report's explanation says which request is in the way.
/// The symbols in `free` are exempt: a fix may change their requests.
pub(crate) fn find_fix(
    kc: &mut Kconfig,
    input: &Input,
    base_config: &str,
    failed: &Outcome,
    free: &[String],
) -> Option<Vec<(String, String)>> {
    let fix = search(kc, input, base_config, failed)?;
    let declared = |name: &str| {
        if free.iter().any(|f| f == name) {
            return false;
        }
        input.requests.iter().any(|r| r.symbol == name)
            || input
                .conditionals
                .iter()
                .any(|c| c.requests.iter().any(|r| r.symbol == name))
    };
    (!fix.iter().any(|(n, _)| declared(n))).then_some(fix)
}

fn search(
    kc: &mut Kconfig,
    input: &Input,
    base_config: &str,
    failed: &Outcome,
) -> Option<Vec<(String, String)>> {
    let problem = failed.problem.as_ref()?;
    if let Problem::Forced { selectors, .. } = problem {
        // Turn off what selects it, if that is allowed.
        let fix: Vec<(String, String)> = selectors
            .iter()
            .filter(|s| s.active && s.kind == "select")
            .map(|s| (s.symbol.clone(), "n".to_string()))
            .collect();
        if fix.is_empty() {
            return None;
        }
        let extra = fix_requests(&fix, &failed.request.origin);
        let res = resolve_on_base(kc, input, base_config, &extra).ok()?;
        let all_hold = res
            .outcomes
            .iter()
            .filter(|o| {
                o.request.symbol == failed.request.symbol
                    || fix.iter().any(|(n, _)| *n == o.request.symbol)
            })
            .all(|o| o.problem.is_none());
        return all_hold.then_some(fix);
    }
    if !matches!(
        problem,
        Problem::UnmetDependency { .. } | Problem::NotOffered { .. }
    ) {
        return None;
    }
    let target = typed_of(kc, &failed.request)?;
    let want = match target {
        Typed::Tristate(t) => t,
        Typed::Text(_) => Tri::Yes,
    };
    let mut fix: Vec<(String, String)> = Vec::new();
    let mut pending: Vec<(String, Tri)> = vec![(failed.request.symbol.clone(), want)];
    for _ in 0..MAX_DEPTH {
        // Re-resolve with the fix so far, then ask what each still-failing
        // symbol of interest needs.
        let extra = fix_requests(&fix, &failed.request.origin);
        let res = resolve_on_base(kc, input, base_config, &extra).ok()?;
        let holds = |name: &str| {
            res.outcomes
                .iter()
                .filter(|o| o.request.symbol == name)
                .all(|o| o.problem.is_none())
        };
        if holds(&failed.request.symbol) && fix.iter().all(|(n, _)| holds(n)) {
            return (!fix.is_empty()).then_some(fix);
        }
        let mut grew = false;
        for (name, level) in std::mem::take(&mut pending) {
            let Some(s) = kc.find(&name) else { continue };
            let needs = needs_for(kc, s, level)?;
            for (t, v) in needs {
                let tn = kc.sym(t).display_name().to_string();
                if tn == failed.request.symbol || fix.iter().any(|(n, _)| *n == tn) {
                    continue;
                }
                let v = if kc.sym(t).ty == SymType::Bool && v == Tri::Mod {
                    Tri::Yes
                } else {
                    v
                };
                fix.push((tn.clone(), v.as_str().to_string()));
                pending.push((tn, v));
                grew = true;
            }
        }
        // Re-check fix members that still fail, too.
        for (n, v) in fix.clone() {
            if !holds(&n) && !pending.iter().any(|(p, _)| *p == n) {
                let t = match v.as_str() {
                    "m" => Tri::Mod,
                    "n" => Tri::No,
                    _ => Tri::Yes,
                };
                pending.push((n, t));
                grew = true;
            }
        }
        if !grew {
            return None;
        }
    }
    None
}

/// What `s` needs so that it can reach `level`: settings of the symbols in
/// its dependency (or prompt condition) that are too low.
fn needs_for(kc: &mut Kconfig, s: SymbolId, level: Tri) -> Option<Vec<(SymbolId, Tri)>> {
    let mut out = Vec::new();
    let dd = kc.sym(s).dir_dep;
    needs(kc, dd, level, &mut out)?;
    if let Some(&p) = crate::explain::prompts(kc, s).first() {
        let vis = kc.prop(p).visible;
        needs(kc, vis, level, &mut out)?;
    }
    Some(out)
}

/// Settings that make `e` reach `level`; `None` when it cannot be done by
/// requests (a constant or a comparison is in the way).
fn needs(
    kc: &mut Kconfig,
    e: Option<ExprId>,
    level: Tri,
    out: &mut Vec<(SymbolId, Tri)>,
) -> Option<()> {
    if kc.eval(e) >= level {
        return Some(());
    }
    let e = e?;
    match kc.exprs.get(e) {
        Expr::Symbol(t) => {
            if kc.sym(t).flags & kconfig_engine::symbol::flags::CONST != 0
                || !matches!(kc.sym(t).ty, SymType::Bool | SymType::Tristate)
            {
                return None;
            }
            if !out.iter().any(|(x, _)| *x == t) {
                out.push((t, level));
            }
            Some(())
        }
        Expr::And(a, b) => {
            needs(kc, Some(a), level, out)?;
            needs(kc, Some(b), level, out)
        }
        Expr::Or(a, b) => {
            let mut left = Vec::new();
            let l = needs(kc, Some(a), level, &mut left);
            let mut right = Vec::new();
            let r = needs(kc, Some(b), level, &mut right);
            let pick = match (l, r) {
                (Some(()), Some(())) if right.len() < left.len() => right,
                (Some(()), _) => left,
                (None, Some(())) => right,
                (None, None) => return None,
            };
            for p in pick {
                if !out.contains(&p) {
                    out.push(p);
                }
            }
            Some(())
        }
        Expr::Not(a) => match kc.exprs.get(a) {
            Expr::Symbol(t) if kc.sym(t).flags & kconfig_engine::symbol::flags::CONST == 0 => {
                out.push((t, level.not()));
                Some(())
            }
            _ => None,
        },
        Expr::Compare(..) | Expr::Range(..) => None,
    }
}
