//! Why a request did not hold, and what a symbol's value comes from.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::Path;

use kconfig_engine::expr::{Expr, ExprId};
use kconfig_engine::{Kconfig, PropKind, SymType, SymbolId, Tri};
use kforge_declaration::Request;

use crate::value::{self, Typed};
use crate::EffectiveMap;

/// Where a symbol's current value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub symbol: String,
    pub value: String,
    /// "requested at kernel.toml:3:1", "selected by FOO (drivers/Kconfig:12)",
    /// "the base configuration", "its default".
    pub source: String,
}

/// A `select` or `imply` that pushes a symbol's value up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    pub symbol: String,
    pub value: String,
    /// "select" or "imply".
    pub kind: &'static str,
    pub file: String,
    pub line: u32,
    /// Whether it currently acts (the selecting symbol is on and its `if` holds).
    pub active: bool,
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} [={}] ({} at {}:{})",
            self.symbol, self.value, self.kind, self.file, self.line
        )
    }
}

/// Why a request did not end with the requested value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Not defined anywhere in this tree; close names.
    UnknownSymbol { suggestions: Vec<String> },
    /// Defined only in other architectures' Kconfig files.
    OtherArchitectures { arches: Vec<String> },
    /// The value does not fit the symbol's type.
    WrongType { expected: String, found: String },
    /// An int or hex value outside the active `range`.
    OutOfRange { min: String, max: String },
    /// The `depends on` expression (or the prompt's condition) is too low.
    UnmetDependency {
        expression: String,
        terms: Vec<Term>,
    },
    /// A lower bound holds but the requested value is above what is offered
    /// (`y` under a dependency that is `m`).
    NotOffered {
        max: String,
        expression: String,
        terms: Vec<Term>,
    },
    /// The symbol has no prompt: its value comes from defaults and selects.
    NoPrompt { selectors: Vec<Selector> },
    /// `select`ed (or implied) to a higher value than requested.
    Forced {
        selectors: Vec<Selector>,
        /// Whether the symbol has a prompt of its own at all.
        has_prompt: bool,
    },
    /// Another member of the choice is selected.
    Choice { selected: String, source: String },
    /// None of the above explains it (should not happen; reported as is).
    Other { detail: String },
}

impl Problem {
    /// A short, stable name of the kind, for `--json` and tests.
    pub fn kind(&self) -> &'static str {
        match self {
            Problem::UnknownSymbol { .. } => "unknown-symbol",
            Problem::OtherArchitectures { .. } => "other-architecture",
            Problem::WrongType { .. } => "wrong-type",
            Problem::OutOfRange { .. } => "out-of-range",
            Problem::UnmetDependency { .. } => "unmet-dependency",
            Problem::NotOffered { .. } => "value-not-offered",
            Problem::NoPrompt { .. } => "no-prompt",
            Problem::Forced { .. } => "forced-by-select",
            Problem::Choice { .. } => "choice",
            Problem::Other { .. } => "other",
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let terms = |f: &mut fmt::Formatter<'_>, terms: &[Term]| -> fmt::Result {
            for t in terms {
                write!(f, "\n  {} [={}]: {}", t.symbol, t.value, t.source)?;
            }
            Ok(())
        };
        match self {
            Problem::UnknownSymbol { suggestions } if suggestions.is_empty() => {
                write!(f, "unknown symbol: not defined anywhere in this tree")
            }
            Problem::UnknownSymbol { suggestions } => write!(
                f,
                "unknown symbol: not defined in this tree; did you mean {}?",
                suggestions.join(", ")
            ),
            Problem::OtherArchitectures { arches } => write!(
                f,
                "defined only for other architectures: {}",
                arches.join(", ")
            ),
            Problem::WrongType { expected, found } => {
                write!(f, "wrong type: expected {expected}, found {found}")
            }
            Problem::OutOfRange { min, max } => {
                write!(f, "out of range: the value must lie in [{min}, {max}]")
            }
            Problem::UnmetDependency {
                expression,
                terms: t,
            } => {
                write!(f, "unmet dependency: depends on {expression}")?;
                terms(f, t)
            }
            Problem::NotOffered {
                max,
                expression,
                terms: t,
            } => {
                write!(
                    f,
                    "value not offered: at most {max}, because it depends on {expression}"
                )?;
                terms(f, t)
            }
            Problem::NoPrompt { selectors } => {
                write!(
                    f,
                    "no prompt: the value comes from its defaults and from symbols that select it"
                )?;
                for s in selectors {
                    write!(f, "\n  {s}")?;
                }
                Ok(())
            }
            Problem::Forced {
                selectors,
                has_prompt,
            } => {
                write!(f, "forced by a reverse dependency")?;
                if !has_prompt {
                    write!(f, " (it has no prompt of its own)")?;
                }
                write!(f, ":")?;
                for s in selectors.iter().filter(|s| s.active) {
                    write!(f, "\n  {s}")?;
                }
                Ok(())
            }
            Problem::Choice { selected, source } => {
                write!(f, "choice: {selected} is selected instead ({source})")
            }
            Problem::Other { detail } => write!(f, "{detail}"),
        }
    }
}

/// Every `select`/`imply` that names `s`.
pub(crate) fn selectors(kc: &mut Kconfig, s: SymbolId) -> Vec<Selector> {
    let mut out = Vec::new();
    for i in 0..kc.props.len() {
        let p = kconfig_engine::PropId(i as u32);
        let kind = match kc.prop(p).kind {
            PropKind::Select => "select",
            PropKind::Imply => "imply",
            _ => continue,
        };
        if kc.prop_symbol(p) != Some(s) {
            continue;
        }
        let Some(by) = kc.menu(kc.prop(p).menu).sym else {
            continue;
        };
        let cond = kc.prop(p).visible;
        let active = kc.tristate_value(by) != Tri::No && kc.eval(cond) != Tri::No;
        let pr = kc.prop(p);
        out.push(Selector {
            symbol: kc.sym(by).display_name().to_string(),
            value: kc.string_value(by).to_string(),
            kind,
            file: pr.file.to_string(),
            line: pr.line,
            active,
        });
    }
    out
}

/// Where `t`'s value comes from.
fn source_of(kc: &mut Kconfig, t: SymbolId, effective: &EffectiveMap<'_>) -> String {
    let name = kc.sym(t).display_name().to_string();
    if let Some(e) = effective.get(name.as_str()) {
        return format!("requested at {}", e.request.origin);
    }
    if kc.sym(t).rev_dep_tri != Tri::No {
        let by: Vec<String> = selectors(kc, t)
            .into_iter()
            .filter(|s| s.active && s.kind == "select")
            .map(|s| format!("{} ({}:{})", s.symbol, s.file, s.line))
            .collect();
        if !by.is_empty() {
            return format!("selected by {}", by.join(", "));
        }
    }
    if kc.sym(t).ty == SymType::Unknown {
        return "not defined in this tree".to_string();
    }
    if !has_prompt(kc, t) {
        return "its default (it has no prompt)".to_string();
    }
    if kc.sym(t).visible == Tri::No {
        return "its own dependencies are unmet".to_string();
    }
    if kc.has_value(t) {
        return "the base configuration".to_string();
    }
    "its default".to_string()
}

pub(crate) fn has_prompt(kc: &Kconfig, s: SymbolId) -> bool {
    !prompts(kc, s).is_empty()
}

/// The prompts of `s`, one per definition that has one.
pub(crate) fn prompts(kc: &Kconfig, s: SymbolId) -> Vec<kconfig_engine::PropId> {
    kc.sym(s)
        .menus
        .iter()
        .filter_map(|&m| kc.menu(m).prompt)
        // A `menuconfig` symbol's prompt has the kind of a menu's.
        .filter(|&p| matches!(kc.prop(p).kind, PropKind::Prompt | PropKind::Menu))
        .collect()
}

/// The symbols an expression mentions, in order, without duplicates.
pub(crate) fn expr_symbols(kc: &Kconfig, e: Option<ExprId>, out: &mut Vec<SymbolId>) {
    let Some(e) = e else { return };
    let mut push = |s: SymbolId| {
        if kc.sym(s).flags & kconfig_engine::symbol::flags::CONST == 0 && !out.contains(&s) {
            out.push(s);
        }
    };
    match kc.exprs.get(e) {
        Expr::Symbol(s) => push(s),
        Expr::Compare(_, a, b) | Expr::Range(a, b) => {
            push(a);
            push(b);
        }
        Expr::Not(a) => expr_symbols(kc, Some(a), out),
        Expr::And(a, b) | Expr::Or(a, b) => {
            expr_symbols(kc, Some(a), out);
            expr_symbols(kc, Some(b), out);
        }
    }
}

fn terms_of(kc: &mut Kconfig, e: Option<ExprId>, effective: &EffectiveMap<'_>) -> Vec<Term> {
    let mut syms = Vec::new();
    expr_symbols(kc, e, &mut syms);
    syms.retain(|&t| kc.sym(t).ty != SymType::Unknown);
    syms.into_iter()
        .map(|t| Term {
            symbol: kc.sym(t).display_name().to_string(),
            value: kc.string_value(t).to_string(),
            source: source_of(kc, t, effective),
        })
        .collect()
}

/// The condition that limits `s`'s prompt: its dependencies, or the
/// prompt's own `if`/`visible if` when the dependencies hold.
fn limiting_condition(kc: &mut Kconfig, s: SymbolId) -> Option<ExprId> {
    if kc.sym(s).dir_dep_tri < kc.sym(s).visible.max(Tri::Mod) || kc.sym(s).visible == Tri::No {
        let dd = kc.sym(s).dir_dep;
        if kc.eval(dd) < Tri::Yes {
            return dd;
        }
    }
    prompts(kc, s)
        .first()
        .and_then(|&p| kc.prop(p).visible)
        .or(kc.sym(s).dir_dep)
}

/// Check one request against the engine's current state.
pub(crate) fn verify(
    kc: &mut Kconfig,
    r: &Request,
    effective: &EffectiveMap<'_>,
    index: &UnknownIndex,
) -> Option<Problem> {
    let Some(s) = kc
        .find(&r.symbol)
        .filter(|&s| kc.sym(s).ty != SymType::Unknown)
    else {
        return Some(unknown(kc, &r.symbol, index));
    };
    let ty = kc.sym(s).ty;
    let want = match value::read(ty, &r.value) {
        Ok(t) => t,
        Err(e) => {
            return Some(Problem::WrongType {
                expected: e.expected.to_string(),
                found: e.found,
            })
        }
    };
    match want {
        Typed::Tristate(w) => {
            let cur = kc.tristate_value(s);
            if cur == w {
                return None;
            }
            if w > cur {
                if kc.is_choice_value(s) && kc.sym(s).visible != Tri::No {
                    if let Some(other) = selected_member(kc, s) {
                        let source = source_of(kc, other, effective);
                        return Some(Problem::Choice {
                            selected: kc.sym(other).display_name().to_string(),
                            source,
                        });
                    }
                }
                if !has_prompt(kc, s) {
                    return Some(Problem::NoPrompt {
                        selectors: selectors(kc, s),
                    });
                }
                let cond = limiting_condition(kc, s);
                let bound = kc.eval(cond);
                let expression = kc.expr_to_string_with_values(cond);
                let terms = terms_of(kc, cond, effective);
                if bound == Tri::No {
                    return Some(Problem::UnmetDependency { expression, terms });
                }
                return Some(Problem::NotOffered {
                    max: bound.as_str().to_string(),
                    expression,
                    terms,
                });
            }
            // Asked for less than it has.
            if kc.sym(s).rev_dep_tri > w || kc.sym(s).implied_tri > w && !has_prompt(kc, s) {
                return Some(Problem::Forced {
                    selectors: selectors(kc, s),
                    has_prompt: has_prompt(kc, s),
                });
            }
            if !has_prompt(kc, s) || !kc.is_changeable(s) {
                return Some(Problem::NoPrompt {
                    selectors: selectors(kc, s),
                });
            }
            if kc.is_choice_value(s) {
                return Some(Problem::Other {
                    detail: "a choice needs one member selected; request another member instead"
                        .to_string(),
                });
            }
            Some(Problem::Other {
                detail: format!("the engine kept {}", cur.as_str()),
            })
        }
        Typed::Text(w) => {
            let cur = kc.string_value(s).to_string();
            if cur == w || (ty == SymType::Hex && cur.eq_ignore_ascii_case(&w)) {
                return None;
            }
            if !has_prompt(kc, s) {
                return Some(Problem::NoPrompt {
                    selectors: Vec::new(),
                });
            }
            if kc.sym(s).visible == Tri::No {
                let cond = limiting_condition(kc, s);
                let expression = kc.expr_to_string_with_values(cond);
                let terms = terms_of(kc, cond, effective);
                return Some(Problem::UnmetDependency { expression, terms });
            }
            if let Some((lo, hi)) = kc.active_range(s) {
                return Some(Problem::OutOfRange {
                    min: kc.string_value(lo).to_string(),
                    max: kc.string_value(hi).to_string(),
                });
            }
            Some(Problem::Other {
                detail: format!("the engine kept {cur:?}"),
            })
        }
    }
}

/// The member of `s`'s choice that is selected, if another one is.
fn selected_member(kc: &mut Kconfig, s: SymbolId) -> Option<SymbolId> {
    let m = kc.sym(s).menus.first().copied()?;
    let parent = kc.menu(m).parent?;
    let mut c = kc.menu(parent).list;
    while let Some(x) = c {
        c = kc.menu(x).next;
        if let Some(o) = kc.menu(x).sym {
            if o != s && kc.is_choice_value(o) && kc.tristate_value(o) == Tri::Yes {
                return Some(o);
            }
        }
    }
    None
}

/// Why `name` is not a symbol of this tree: defined only by other
/// architectures, or not at all (with close names).
pub fn unknown(kc: &Kconfig, name: &str, index: &UnknownIndex) -> Problem {
    let arches = index.arches(kc).get(name).cloned().unwrap_or_default();
    if !arches.is_empty() {
        return Problem::OtherArchitectures { arches };
    }
    let upper = name.to_ascii_uppercase();
    let counts = letter_counts(&upper);
    let limit = (name.len() / 4).clamp(1, 3);
    let mut scored: Vec<(usize, String)> = index
        .names(kc)
        .iter()
        // Cheap bounds first: each edit changes the length by at most one
        // and the letter counts by at most two.
        .filter(|k| k.upper.len().abs_diff(upper.len()) <= limit)
        .filter(|k| {
            let l1: usize = k
                .counts
                .iter()
                .zip(&counts)
                .map(|(a, b)| usize::from(a.abs_diff(*b)))
                .sum();
            l1 <= 2 * limit
        })
        .filter_map(|k| {
            let d = strsim::levenshtein(&k.upper, &upper);
            (d <= limit).then(|| (d, k.name.clone()))
        })
        .collect();
    scored.sort();
    scored.dedup();
    Problem::UnknownSymbol {
        suggestions: scored.into_iter().take(3).map(|(_, n)| n).collect(),
    }
}

/// What explaining unknown symbols needs from the whole tree, built at the
/// first unknown symbol of a resolution and used for the others: which
/// architectures' Kconfig files define each name (one walk of `arch/`),
/// and the known names with their letter counts (a bound on the edit
/// distance that rules most names out without computing it). Without it,
/// each unknown symbol walked the tree and compared every name.
#[derive(Default)]
pub struct UnknownIndex {
    arches: std::cell::OnceCell<HashMap<String, Vec<String>>>,
    names: std::cell::OnceCell<Vec<KnownName>>,
}

/// A symbol the tree defines, for suggestions.
struct KnownName {
    upper: String,
    name: String,
    counts: [u8; LETTER_CLASSES],
}

/// A-Z, 0-9, `_`, anything else.
const LETTER_CLASSES: usize = 38;

fn letter_counts(upper: &str) -> [u8; LETTER_CLASSES] {
    let mut c = [0u8; LETTER_CLASSES];
    for b in upper.bytes() {
        let i = match b {
            b'A'..=b'Z' => usize::from(b - b'A'),
            b'0'..=b'9' => 26 + usize::from(b - b'0'),
            b'_' => 36,
            _ => 37,
        };
        c[i] = c[i].saturating_add(1);
    }
    c
}

impl UnknownIndex {
    fn names(&self, kc: &Kconfig) -> &[KnownName] {
        self.names.get_or_init(|| {
            kc.symbol_names()
                .filter(|(_, s)| kc.sym(*s).ty != SymType::Unknown)
                .map(|(n, _)| {
                    let upper = n.to_ascii_uppercase();
                    KnownName {
                        counts: letter_counts(&upper),
                        upper,
                        name: n.to_string(),
                    }
                })
                .collect()
        })
    }

    /// Symbol name → the architectures (directories of `arch/`, sorted)
    /// whose Kconfig files define it.
    fn arches(&self, kc: &Kconfig) -> &HashMap<String, Vec<String>> {
        self.arches.get_or_init(|| {
            let mut map: HashMap<String, Vec<String>> = HashMap::new();
            let Some(st) = kc.srctree() else {
                return map;
            };
            let Ok(rd) = std::fs::read_dir(st.join("arch")) else {
                return map;
            };
            let mut dirs: Vec<_> = rd.flatten().map(|e| e.path()).collect();
            dirs.sort();
            for d in dirs.iter().filter(|d| d.is_dir()) {
                let arch = d
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                let mut names = HashSet::new();
                definitions(d, &mut names);
                for n in names {
                    map.entry(n).or_default().push(arch.clone());
                }
            }
            map
        })
    }
}

/// The names every Kconfig file under `dir` defines (`config` and
/// `menuconfig` lines).
fn definitions(dir: &Path, out: &mut HashSet<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let Ok(kind) = e.file_type() else { continue };
        if kind.is_dir() {
            definitions(&p, out);
            continue;
        }
        let is_kconfig = p
            .file_name()
            .is_some_and(|f| f.to_string_lossy().starts_with("Kconfig"));
        if !is_kconfig || !kind.is_file() {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&p) else {
            continue;
        };
        for l in text.lines() {
            let mut w = l.split_whitespace();
            if matches!(w.next(), Some("config" | "menuconfig")) {
                if let Some(n) = w.next() {
                    out.insert(n.to_string());
                }
            }
        }
    }
}

/// Everything `kforge explain` says about a symbol.
#[derive(Debug, Clone)]
pub struct SymbolReport {
    pub name: String,
    pub ty: String,
    pub value: String,
    pub prompts: Vec<String>,
    /// `file:line` of each definition.
    pub definitions: Vec<String>,
    pub depends: String,
    pub selectors: Vec<Selector>,
    pub reason: String,
}

impl fmt::Display for SymbolReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} ({}) = {}", self.name, self.ty, self.value)?;
        writeln!(f, "  because: {}", self.reason)?;
        for p in &self.prompts {
            writeln!(f, "  prompt: {p}")?;
        }
        for d in &self.definitions {
            writeln!(f, "  defined at {d}")?;
        }
        writeln!(f, "  depends on: {}", self.depends)?;
        for s in &self.selectors {
            writeln!(
                f,
                "  {} by {}{}",
                if s.kind == "select" {
                    "selected"
                } else {
                    "implied"
                },
                s,
                if s.active { "" } else { ", inactive" }
            )?;
        }
        Ok(())
    }
}

/// Explain `name` in the engine's current state; `None` when unknown.
pub fn explain_symbol(kc: &mut Kconfig, name: &str) -> Option<SymbolReport> {
    let s = kc
        .find(name)
        .filter(|&s| kc.sym(s).ty != SymType::Unknown)?;
    let prompts = prompts(kc, s)
        .into_iter()
        .map(|p| {
            let pr = kc.prop(p);
            format!(
                "\"{}\" ({}:{})",
                pr.text.as_deref().unwrap_or(""),
                pr.file,
                pr.line
            )
        })
        .collect();
    let definitions = kc
        .sym(s)
        .menus
        .iter()
        .map(|&m| format!("{}:{}", kc.menu(m).file, kc.menu(m).line))
        .collect();
    let dd = kc.sym(s).dir_dep;
    let depends = kc.expr_to_string_with_values(dd);
    let selectors = selectors(kc, s);
    let reason = source_of(kc, s, &BTreeMap::new());
    Some(SymbolReport {
        name: name.to_string(),
        ty: kc.sym(s).ty.name().to_string(),
        value: kc.string_value(s).to_string(),
        prompts,
        definitions,
        depends,
        selectors,
        reason,
    })
}
