//! The audit: every recommendation of every policy against a resolved
//! configuration, with a verdict the engine can justify.
//!
//! 1. A recommendation for another architecture or kernel version, or for
//!    a symbol this tree does not define, does not apply (said as such).
//! 2. One whose symbol has a wanted value holds.
//! 3. The others are requested all at once over the declaration (one
//!    resolution): each that then holds does not hold now but can, its fix
//!    being the request itself, checked together with the others.
//! 4. Each that still fails is resolved alone, with the fix search of
//!    `kforge config`: a fix found makes it "does not hold" with that fix;
//!    none makes it "cannot hold here", with the engine's reason (an unmet
//!    dependency with each term's value, a select, a choice, a range).
//!
//! A recommendation the declaration itself contradicts (a request for
//! another value) does not hold, and its fix is left to the user: the
//! report names the request in the way.

use std::collections::{BTreeMap, HashMap};

use kconfig_engine::{Kconfig, SymType, Tri};
use kforge_declaration::{KernelVersion, Layer, Origin, Priority, Request, RequestValue};
use kforge_resolve::{Input, Problem};

use crate::{Policy, Recommendation};

/// What the audit looks at: an engine holding the resolved configuration,
/// with what it was resolved from.
pub struct Subject<'a> {
    pub kc: &'a mut Kconfig,
    pub input: &'a Input,
    pub base_config: &'a str,
    pub version: KernelVersion,
    /// make's `ARCH` (`x86_64`); the source architecture comes from the tree.
    pub arch: &'a str,
}

/// Why a recommendation does not apply here.
#[derive(Debug, Clone, PartialEq)]
pub enum NotApplicable {
    /// It names other architectures.
    Architecture { arches: Vec<String> },
    /// It is for other kernel versions.
    Version {
        since: Option<KernelVersion>,
        until: Option<KernelVersion>,
    },
    /// The symbol is defined only by these other architectures' Kconfig.
    OtherArchitectures { arches: Vec<String> },
    /// This tree does not define the symbol (another version's).
    Absent,
}

/// The verdict on one recommendation.
#[derive(Debug, Clone)]
pub enum Verdict {
    Holds,
    /// It does not hold now. `fix`: requests that make it hold, checked by
    /// resolving (`None`: a request of the declaration is in the way).
    DoesNotHold {
        reason: String,
        fix: Option<Vec<(String, String)>>,
    },
    /// No request makes it hold on this tree, architecture and toolchain.
    CannotHold {
        problem: Problem,
    },
    DoesNotApply(NotApplicable),
}

impl Verdict {
    /// A short, stable name, for `--json`, tables and `--fail-on`.
    pub fn kind(&self) -> &'static str {
        match self {
            Verdict::Holds => "holds",
            Verdict::DoesNotHold { .. } => "does-not-hold",
            Verdict::CannotHold { .. } => "cannot-hold",
            Verdict::DoesNotApply(_) => "does-not-apply",
        }
    }
}

/// One recommendation of one policy, judged.
#[derive(Debug, Clone)]
pub struct Finding {
    pub policy: String,
    pub recommendation: Recommendation,
    /// The symbol's value (`None`: not a symbol of this tree).
    pub actual: Option<String>,
    pub verdict: Verdict,
    /// The top-level menu the symbol is in (`Security options`).
    pub menu: Option<String>,
}

/// A recommendation naming a symbol the tree lacks, close to one it has:
/// likely a misspelling in the policy.
#[derive(Debug, Clone)]
pub struct Misspelt {
    pub origin: Origin,
    pub symbol: String,
    pub suggestions: Vec<String>,
}

/// The whole audit.
#[derive(Debug, Clone)]
pub struct Audit {
    pub findings: Vec<Finding>,
    pub misspelt: Vec<Misspelt>,
}

impl Audit {
    /// The fixes of every finding that has one, each symbol once (the
    /// first policy's value wins).
    pub fn fixes(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for f in &self.findings {
            if let Verdict::DoesNotHold { fix: Some(fix), .. } = &f.verdict {
                for (s, v) in fix {
                    if !out.iter().any(|(n, _)| n == s) {
                        out.push((s.clone(), v.clone()));
                    }
                }
            }
        }
        out
    }

    /// How many findings have the verdict `kind` ([`Verdict::kind`]).
    pub fn count(&self, kind: &str) -> usize {
        self.findings
            .iter()
            .filter(|f| f.verdict.kind() == kind)
            .count()
    }
}

/// Judge every recommendation of `policies` (see the module's doc). The
/// engine is left in some resolved state, not necessarily the subject's.
pub fn audit(subject: Subject<'_>, policies: &[Policy]) -> Audit {
    let Subject {
        kc,
        input,
        base_config,
        version,
        arch,
    } = subject;
    let srcarch = kc.getenv("SRCARCH").unwrap_or_default();
    let index = kforge_resolve::UnknownIndex::default();
    let mut findings = Vec::new();
    let mut misspelt = Vec::new();
    // Recommendations to request, by finding.
    let mut open: Vec<usize> = Vec::new();
    for p in policies {
        for r in &p.recommendations {
            let mut finding = Finding {
                policy: p.name.clone(),
                recommendation: r.clone(),
                actual: None,
                verdict: Verdict::Holds,
                menu: None,
            };
            let sym = kc
                .find(&r.symbol)
                .filter(|&s| kc.sym(s).ty != SymType::Unknown);
            finding.verdict = if !r.arches.is_empty()
                && !r.arches.iter().any(|a| a == arch || *a == srcarch)
            {
                Verdict::DoesNotApply(NotApplicable::Architecture {
                    arches: r.arches.clone(),
                })
            } else if r.since.is_some_and(|s| version < s) || r.until.is_some_and(|u| version >= u)
            {
                Verdict::DoesNotApply(NotApplicable::Version {
                    since: r.since,
                    until: r.until,
                })
            } else if let Some(s) = sym {
                finding.menu = top_menu(kc, s);
                let now = current(kc, s);
                let holds = r.values.iter().any(|v| same_value(kc.sym(s).ty, &now, v));
                finding.actual = Some(now);
                if holds {
                    Verdict::Holds
                } else if let Some(d) = declared_otherwise(input, r, version) {
                    Verdict::DoesNotHold {
                        reason: format!(
                            "the declaration requests {} = {} at {}",
                            r.symbol, d.value, d.origin
                        ),
                        fix: None,
                    }
                } else {
                    let why = kforge_resolve::explain_symbol(kc, &r.symbol)
                        .map(|e| match e.reason.split_whitespace().next() {
                            Some("selected" | "requested" | "not" | "its") => e.reason,
                            _ => format!("its value comes from {}", e.reason),
                        })
                        .unwrap_or_default();
                    open.push(findings.len());
                    Verdict::DoesNotHold {
                        reason: why,
                        fix: None,
                    }
                }
            } else {
                match kforge_resolve::unknown(kc, &r.symbol, &index) {
                    Problem::OtherArchitectures { arches } => {
                        Verdict::DoesNotApply(NotApplicable::OtherArchitectures { arches })
                    }
                    Problem::UnknownSymbol { suggestions } => {
                        if !suggestions.is_empty() && r.since.is_none() && r.until.is_none() {
                            misspelt.push(Misspelt {
                                origin: r.origin.clone(),
                                symbol: r.symbol.clone(),
                                suggestions,
                            });
                        }
                        Verdict::DoesNotApply(NotApplicable::Absent)
                    }
                    _ => Verdict::DoesNotApply(NotApplicable::Absent),
                }
            };
            findings.push(finding);
        }
    }
    check_fixes(kc, input, base_config, &mut findings, &open);
    Audit { findings, misspelt }
}

/// Steps 3 and 4 of the module's doc, for the findings at `open`. A
/// recommendation that holds now but not once the others' fixes are made
/// (an option the fixes make visible, with another default) joins them.
fn check_fixes(
    kc: &mut Kconfig,
    input: &Input,
    base_config: &str,
    findings: &mut [Finding],
    open: &[usize],
) {
    if open.is_empty() {
        return;
    }
    let mut open = open.to_vec();
    // One request per symbol: the first policy's value.
    let mut requests: BTreeMap<String, Request> = BTreeMap::new();
    let mut together = None;
    for _ in 0..MAX_ROUNDS {
        for &i in &open {
            let r = &findings[i].recommendation;
            requests
                .entry(r.symbol.clone())
                .or_insert_with(|| request_for(r));
        }
        let mut all = input.clone();
        all.requests.extend(requests.values().cloned());
        let res = kforge_resolve::resolve_on_base(kc, &all, base_config, &[]).ok();
        let values = Values::of(kc, res.as_ref().map_or("", |r| r.config.as_str()));
        let broken: Vec<usize> = (0..findings.len())
            .filter(|&i| {
                matches!(findings[i].verdict, Verdict::Holds)
                    && !values.satisfy(kc, &findings[i].recommendation)
            })
            .collect();
        together = res;
        if broken.is_empty() || together.is_none() {
            break;
        }
        for i in broken {
            findings[i].verdict = Verdict::DoesNotHold {
                reason: "it holds now, but not once the other fixes of this audit are made".into(),
                fix: None,
            };
            open.push(i);
        }
    }
    // A fix may change what the audit itself asks for: the recommendations'
    // symbols (with a dependency among them, say).
    let free: Vec<String> = requests.keys().cloned().collect();
    let mut checked: BTreeMap<(String, String), Option<kforge_resolve::Outcome>> = BTreeMap::new();
    let together_values = together.as_ref().map(|res| Values::of(kc, &res.config));
    for &i in &open {
        let r = findings[i].recommendation.clone();
        let req = request_for(&r);
        let held_together = together.as_ref().is_some_and(|res| {
            res.outcomes.iter().any(|o| {
                o.request.symbol == r.symbol && o.condition.is_none() && o.problem.is_none()
            })
        }) && together_values.as_ref().is_some_and(|v| v.satisfy(kc, &r));
        let reason = match &findings[i].verdict {
            Verdict::DoesNotHold { reason, .. } => reason.clone(),
            _ => String::new(),
        };
        let first = (r.symbol.clone(), r.values[0].clone());
        if held_together {
            findings[i].verdict = Verdict::DoesNotHold {
                reason,
                fix: Some(vec![first]),
            };
            continue;
        }
        // Two policies may recommend the same value: one check serves both.
        let key = (r.symbol.clone(), r.values[0].clone());
        let alone = match checked.get(&key) {
            Some(o) => o.clone(),
            None => {
                let o = kforge_resolve::check_request(kc, input, base_config, req, &free)
                    .ok()
                    .flatten();
                checked.insert(key, o.clone());
                o
            }
        };
        findings[i].verdict = match alone {
            Some(o) if o.problem.is_none() => Verdict::DoesNotHold {
                reason: format!("{reason}; it holds when requested alone, not with every other fix of this audit"),
                fix: Some(vec![first]),
            },
            Some(o) => match (o.problem, o.fix) {
                (Some(p), Some(fix)) => Verdict::DoesNotHold {
                    reason: p.to_string(),
                    fix: Some(std::iter::once(first).chain(fix).collect()),
                },
                (Some(p), None) => Verdict::CannotHold { problem: p },
                (None, _) => unreachable!("handled above"),
            },
            None => Verdict::CannotHold {
                problem: Problem::Other {
                    detail: "the request was lost in resolution".into(),
                },
            },
        };
    }
}

/// How many times the fixes may grow with recommendations they break.
const MAX_ROUNDS: usize = 4;

/// A resolved `.config`'s values by symbol, read once (a recommendation
/// is checked against it many times).
struct Values(HashMap<String, String>);

impl Values {
    fn of(kc: &Kconfig, config: &str) -> Values {
        Values(
            kconfig_engine::parse_config(config, &kc.prefix)
                .into_iter()
                .map(|e| (e.name.to_string(), e.value.into_owned()))
                .collect(),
        )
    }

    /// Whether `r` holds here (a symbol not written is `n`).
    fn satisfy(&self, kc: &Kconfig, r: &Recommendation) -> bool {
        let now = self.0.get(&r.symbol).map_or("n", String::as_str);
        let ty = kind_of(kc, &r.symbol);
        r.values.iter().any(|v| same_value(ty, now, v))
    }
}

/// The request a fix makes for `r`: its first value, as the declaration's.
fn request_for(r: &Recommendation) -> Request {
    Request {
        symbol: r.symbol.clone(),
        value: RequestValue::Text(r.values[0].clone()),
        optional: false,
        priority: Priority::Normal,
        since: None,
        until: None,
        layer: Layer::Main,
        origin: r.origin.clone(),
    }
}

/// A request of the declaration for `r`'s symbol with a value `r` does not
/// want (fragments' lines are not the declaration's).
fn declared_otherwise<'i>(
    input: &'i Input,
    r: &Recommendation,
    version: KernelVersion,
) -> Option<&'i Request> {
    input.requests.iter().find(|q| {
        q.symbol == r.symbol
            && !matches!(q.layer, Layer::Fragment(_))
            && q.applies_to(&version)
            && !r.values.iter().any(|v| *v == request_text(&q.value))
    })
}

/// A request's value as `.config` writes it.
fn request_text(v: &RequestValue) -> String {
    match v {
        RequestValue::Text(s) => s.clone(),
        RequestValue::Integer(i) => i.to_string(),
        RequestValue::Boolean(b) => if *b { "y" } else { "n" }.to_string(),
    }
}

/// The symbol's value as `.config` writes it (`n` for an unset bool).
fn current(kc: &mut Kconfig, s: kconfig_engine::SymbolId) -> String {
    match kc.sym(s).ty {
        SymType::Bool | SymType::Tristate => kc.tristate_value(s).as_str().to_string(),
        _ => kc.string_value(s).to_string(),
    }
}

fn kind_of(kc: &Kconfig, name: &str) -> SymType {
    kc.find(name).map_or(SymType::Unknown, |s| kc.sym(s).ty)
}

/// Whether `now` satisfies `want` for a symbol of type `ty`.
fn same_value(ty: SymType, now: &str, want: &str) -> bool {
    match ty {
        SymType::Hex => {
            let strip = |s: &str| {
                s.trim_start_matches("0x")
                    .trim_start_matches("0X")
                    .to_ascii_lowercase()
            };
            strip(now) == strip(want)
        }
        SymType::Bool | SymType::Tristate => {
            let tri = |s: &str| match s {
                "y" => Tri::Yes,
                "m" => Tri::Mod,
                _ => Tri::No,
            };
            tri(now) == tri(want)
        }
        _ => now == want,
    }
}

/// The prompt of the top-level menu holding `s`'s first definition.
fn top_menu(kc: &Kconfig, s: kconfig_engine::SymbolId) -> Option<String> {
    let mut m = *kc.sym(s).menus.first()?;
    loop {
        let parent = kc.menu(m).parent?;
        if kc.menu(parent).parent.is_none() {
            return kc.menu_prompt(m).map(|p| p.to_string());
        }
        m = parent;
    }
}
