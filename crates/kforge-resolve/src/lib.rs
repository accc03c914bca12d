//! Resolve a declared kernel against a Kconfig tree.
//!
//! [`resolve`] starts from the declaration's base configuration, applies
//! every request as a user value (as if it had been written into `.config`,
//! after the base's own line for that symbol), evaluates the tree as the
//! kernel's `conf --olddefconfig` does, and repeats while the set of
//! `[when.SYMBOL]` conditions that hold changes. With `auto_modules`, every
//! visible tristate that offers `m` and was not requested becomes `m`
//! (nixpkgs' meaning; with `prefer_builtin` a `y` stays `y`). Then every
//! request is verified: [`Outcome::problem`] says why one did not hold and
//! [`Outcome::fix`] gives further requests that make it hold, checked by
//! resolving again.
//!
//! The crate sits between `spec` (the declaration) and `kconfig` (the
//! engine); it never runs `make`.

mod explain;
mod fix;
pub mod fragment;
pub mod value;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use kconfig_engine::conf::{NewSymbols, Probabilities};
use kconfig_engine::symbol::DefSlot;
use kconfig_engine::{Kconfig, Tri};
use kforge_declaration::{Base, Conditional, Origin, Priority, Request};

pub use explain::{explain_symbol, unknown, Problem, SymbolReport, UnknownIndex};
use value::Typed;

/// Name under which configurations held in memory are read by the engine.
const MEMORY_CONFIG: &str = "<kforge:.config>";

/// What to resolve: the declaration's parts that concern the configuration,
/// already filtered by the source version (see [`Request::applies_to`]).
#[derive(Debug, Clone)]
pub struct Input {
    pub base: Base,
    pub requests: Vec<Request>,
    pub conditionals: Vec<Conditional>,
    pub auto_modules: bool,
    pub prefer_builtin: bool,
    /// The tree's fragments merged over the base (see [`fragment`]); their
    /// lines are in `requests` too, first, as [`Layer::Fragment`].
    ///
    /// [`Layer::Fragment`]: kforge_declaration::Layer::Fragment
    pub fragments: Vec<fragment::LoadedFragment>,
}

impl Input {
    /// `base` alone: no requests, no conditions, no fragments.
    pub fn on(base: Base) -> Input {
        Input {
            base,
            requests: Vec::new(),
            conditionals: Vec::new(),
            auto_modules: false,
            prefer_builtin: false,
            fragments: Vec::new(),
        }
    }

    /// The parts of `spec` that apply to a source of version `version`.
    pub fn from_spec(
        spec: &kforge_declaration::Spec,
        version: &kforge_declaration::KernelVersion,
    ) -> Input {
        let applies = |r: &&Request| r.applies_to(version);
        Input {
            base: spec.build.base.clone(),
            requests: spec.requests.iter().filter(applies).cloned().collect(),
            conditionals: spec
                .conditionals
                .iter()
                .map(|c| Conditional {
                    requests: c.requests.iter().filter(applies).cloned().collect(),
                    ..c.clone()
                })
                .collect(),
            auto_modules: spec.build.auto_modules,
            prefer_builtin: spec.build.prefer_builtin,
            fragments: Vec::new(),
        }
    }

    /// Read the fragments `declared` from `kc`'s tree: merged into the
    /// base, and their lines put first among the requests.
    pub fn add_fragments(
        &mut self,
        kc: &Kconfig,
        declared: &[kforge_declaration::Fragment],
    ) -> Result<(), ResolveError> {
        self.fragments = fragment::load(kc, declared)?;
        let lines = fragment::requests(kc, &self.fragments);
        self.requests.splice(0..0, lines);
        Ok(())
    }
}

/// Why a declaration could not be resolved at all.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("{path}: cannot read the base configuration: {source}")]
    BaseFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the base configuration {} is for {arch} (its header says \"{header}\"), but the declaration builds {srcarch}; give a configuration of {srcarch}", path.display())]
    BaseArch {
        path: PathBuf,
        header: String,
        arch: String,
        srcarch: String,
    },
    #[error("the tree has no default configuration {path} (KBUILD_DEFCONFIG); use `base = {{ file = \"...\" }}` or another base")]
    NoDefconfig { path: PathBuf },
    #[error("{origin}: the tree has no fragment `{name}` (in kernel/configs/ or arch/{srcarch}/configs/)")]
    NoFragment {
        name: String,
        origin: Origin,
        srcarch: String,
        /// The fragments the tree has for this architecture.
        available: Vec<String>,
    },
    #[error("{}: cannot read the fragment: {source}", path.display())]
    FragmentFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the environment does not name the source tree (srctree)")]
    NoSrctree,
    #[error("{}: [when.{}] sets {} = {}, but {}: [when.{}] sets {}; both conditions hold", .0.first, .0.first_cond, .0.symbol, .0.first_value, .0.second, .0.second_cond, .0.second_value)]
    ConditionsDisagree(Box<Disagreement>),
    #[error("the [when] conditions do not settle: {0} switch on and off in turn")]
    ConditionsOscillate(String),
}

/// Two holding conditions that set one symbol differently.
#[derive(Debug)]
pub struct Disagreement {
    pub symbol: String,
    pub first: Origin,
    pub first_cond: String,
    pub first_value: String,
    pub second: Origin,
    pub second_cond: String,
    pub second_value: String,
}

/// The verdict on one request.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub request: Request,
    /// The condition symbol, for a request from `[when.SYMBOL]`.
    pub condition: Option<String>,
    /// The symbol's value in the resolved configuration (`None`: unknown).
    pub actual: Option<String>,
    /// `None` when the request holds.
    pub problem: Option<Problem>,
    /// Further requests (symbol, value) that make this one hold, verified.
    pub fix: Option<Vec<(String, String)>>,
}

/// A resolved declaration.
#[derive(Debug, Clone)]
pub struct Resolution {
    /// The `.config`, as the kernel's conf writes it.
    pub config: String,
    /// The base configuration the requests were applied to.
    pub base_config: String,
    /// One entry per applied request, in declaration order.
    pub outcomes: Vec<Outcome>,
    /// The `[when.SYMBOL]` conditions that hold.
    pub active_conditions: Vec<String>,
    /// Symbols `auto_modules` turned into modules.
    pub auto_modules: Vec<String>,
    /// `[when.SYMBOL]` tables whose symbol the tree does not define (so
    /// they never hold), with why: other architectures, or suggestions.
    pub unknown_conditions: Vec<(Origin, String, Problem)>,
}

impl Resolution {
    /// Outcomes whose request did not hold.
    pub fn failures(&self) -> impl Iterator<Item = &Outcome> {
        self.outcomes.iter().filter(|o| o.problem.is_some())
    }
}

/// One effective request: the request and, if conditional, its condition.
#[derive(Debug, Clone)]
struct Effective<'a> {
    request: &'a Request,
    condition: Option<&'a str>,
}

/// The requests in force, by symbol.
type EffectiveMap<'a> = BTreeMap<&'a str, Effective<'a>>;

/// Resolve `input` on `kc`, which must be freshly loaded (the base
/// configuration is computed first, exactly as the conf modes would).
pub fn resolve(kc: &mut Kconfig, input: &Input) -> Result<Resolution, ResolveError> {
    let base_config = base_config(kc, &input.base, &input.fragments)?;
    let mut res = resolve_on_base(kc, input, &base_config, &[])?;
    let mut searched = false;
    for i in 0..res.outcomes.len() {
        if res.outcomes[i].problem.is_some() {
            let fix = fix::find_fix(kc, input, &base_config, &res.outcomes[i], &[]);
            res.outcomes[i].fix = fix;
            searched = true;
        }
    }
    // Leave the engine in the resolved state: resolve_on_base did, but
    // searching for fixes resolved other inputs since.
    if searched {
        apply(kc, &res.config);
    }
    Ok(res)
}

/// Resolve `input` with `request` added (replacing any request for its
/// symbol) over an already computed `base_config`, and verify it: the
/// outcome says why it would not hold and, where one exists, which further
/// requests make it hold (checked by resolving again); the fix may change
/// the requests for the symbols in `free` (say, edits not saved yet), never
/// the others. Leaves the engine in the state of the last resolution;
/// `None` if the request got lost.
pub fn check_request(
    kc: &mut Kconfig,
    input: &Input,
    base_config: &str,
    request: Request,
    free: &[String],
) -> Result<Option<Outcome>, ResolveError> {
    let mut inp = input.clone();
    inp.requests.retain(|r| r.symbol != request.symbol);
    let name = request.symbol.clone();
    inp.requests.push(request);
    let res = resolve_on_base(kc, &inp, base_config, &[])?;
    let Some(mut o) = res
        .outcomes
        .into_iter()
        .find(|o| o.request.symbol == name && o.condition.is_none())
    else {
        return Ok(None);
    };
    if o.problem.is_some() {
        o.fix = fix::find_fix(kc, &inp, base_config, &o, free);
    }
    Ok(Some(o))
}

/// Resolve `input` over an already computed `base_config` (see
/// [`resolve`]), with `extra` requests after the input's (one for a symbol
/// the input requests replaces it: a session's edits, a fix being
/// verified), without looking for fixes. Leaves the engine in the resolved
/// state: the last olddefconfig pass of `settle` read the configuration
/// returned and wrote it unchanged, so no pass of its own is needed.
pub fn resolve_on_base(
    kc: &mut Kconfig,
    input: &Input,
    base_config: &str,
    extra: &[Request],
) -> Result<Resolution, ResolveError> {
    let mut active: BTreeSet<String> = BTreeSet::new();
    let mut seen_states: Vec<BTreeSet<String>> = Vec::new();
    loop {
        let requests = input.requests.iter().chain(extra);
        let effective = effective_requests(requests, &input.conditionals, &active)?;
        let lines = request_lines(kc, &effective);
        let mut settled = settle(kc, base_config, &lines);
        let mut auto = Vec::new();
        if input.auto_modules {
            let requested: BTreeSet<&str> = effective.keys().copied().collect();
            loop {
                let more = auto_module_candidates(kc, &requested, input.prefer_builtin);
                if more.is_empty() {
                    break;
                }
                auto.extend(more);
                let mut all = auto_lines(kc, &auto);
                all.extend(lines.iter().cloned());
                settled = settle(kc, base_config, &all);
            }
        }
        let now: BTreeSet<String> = input
            .conditionals
            .iter()
            .filter(|c| {
                kc.find(&c.symbol)
                    .is_some_and(|s| kc.tristate_value(s) != Tri::No)
            })
            .map(|c| c.symbol.clone())
            .collect();
        if now == active {
            // What the last pass wrote, and would write again.
            let config = settled;
            kc.messages.take();
            let index = explain::UnknownIndex::default();
            let unknown_conditions = input
                .conditionals
                .iter()
                .filter(|c| {
                    kc.find(&c.symbol)
                        .is_none_or(|s| kc.sym(s).ty == kconfig_engine::SymType::Unknown)
                })
                .map(|c| {
                    let why = explain::unknown(kc, &c.symbol, &index);
                    (c.origin.clone(), c.symbol.clone(), why)
                })
                .collect();
            let outcomes = effective
                .values()
                .map(|e| Outcome {
                    problem: explain::verify(kc, e.request, &effective, &index),
                    actual: kc
                        .find(&e.request.symbol)
                        .map(|s| kc.string_value(s).to_string()),
                    request: e.request.clone(),
                    condition: e.condition.map(str::to_string),
                    fix: None,
                })
                .collect::<Vec<_>>();
            let mut outcomes = outcomes;
            outcomes.sort_by(|a, b| a.request.origin.cmp(&b.request.origin));
            return Ok(Resolution {
                config,
                base_config: base_config.to_string(),
                outcomes,
                active_conditions: active.into_iter().collect(),
                auto_modules: auto,
                unknown_conditions,
            });
        }
        if seen_states.contains(&now) {
            let flipping: Vec<String> = now.symmetric_difference(&active).cloned().collect();
            return Err(ResolveError::ConditionsOscillate(flipping.join(", ")));
        }
        seen_states.push(active.clone());
        active = now;
    }
}

/// The requests in force, by symbol: the higher priority wins; at equal
/// priority a conditional request overrides an unconditional one, and two
/// holding conditions that disagree are an error.
fn effective_requests<'a>(
    requests: impl Iterator<Item = &'a Request>,
    conditionals: &'a [Conditional],
    active: &BTreeSet<String>,
) -> Result<EffectiveMap<'a>, ResolveError> {
    let mut map = EffectiveMap::new();
    for r in requests {
        map.insert(
            &r.symbol,
            Effective {
                request: r,
                condition: None,
            },
        );
    }
    for c in conditionals.iter().filter(|c| active.contains(&c.symbol)) {
        for r in &c.requests {
            let new = Effective {
                request: r,
                condition: Some(&c.symbol),
            };
            match map.get(r.symbol.as_str()) {
                None => {}
                Some(old) if old.request.priority > r.priority => continue,
                Some(old)
                    if old.request.priority == r.priority
                        && old.condition.is_some()
                        && old.request.value != r.value =>
                {
                    return Err(ResolveError::ConditionsDisagree(Box::new(Disagreement {
                        symbol: r.symbol.clone(),
                        first: old.request.origin.clone(),
                        first_cond: old.condition.unwrap_or_default().to_string(),
                        first_value: format!("{:?}", old.request.value),
                        second: r.origin.clone(),
                        second_cond: c.symbol.clone(),
                        second_value: format!("{:?}", r.value),
                    })));
                }
                Some(_) => {}
            }
            map.insert(&r.symbol, new);
        }
    }
    Ok(map)
}

/// `.config` lines for the requests whose value fits the symbol's type.
fn request_lines(kc: &Kconfig, effective: &EffectiveMap<'_>) -> Vec<(String, String)> {
    let mut v: Vec<&Effective> = effective.values().collect();
    v.sort_by(|a, b| layer_order(a.request).cmp(&layer_order(b.request)));
    v.into_iter()
        // A fragment's lines are in the base already.
        .filter(|e| !matches!(e.request.layer, kforge_declaration::Layer::Fragment(_)))
        .filter_map(|e| {
            let s = kc.find(&e.request.symbol)?;
            let ty = kc.sym(s).ty;
            let t = value::read(ty, &e.request.value).ok()?;
            Some((
                e.request.symbol.clone(),
                value::config_line(&kc.prefix, &e.request.symbol, ty, &t),
            ))
        })
        .collect()
}

fn layer_order(r: &Request) -> (u8, &Origin) {
    let l = match r.layer {
        kforge_declaration::Layer::Fragment(_) => 0,
        kforge_declaration::Layer::Include => 1,
        kforge_declaration::Layer::Main => 2,
        kforge_declaration::Layer::Patch(_) => 3,
        kforge_declaration::Layer::External(_) => 4,
    };
    (l, &r.origin)
}

fn auto_lines(kc: &Kconfig, auto: &[String]) -> Vec<(String, String)> {
    auto.iter()
        .map(|n| (n.clone(), format!("{}{n}=m", kc.prefix)))
        .collect()
}

/// Visible tristates, not requested, where `m` is offered and not chosen.
fn auto_module_candidates(
    kc: &mut Kconfig,
    requested: &BTreeSet<&str>,
    prefer_builtin: bool,
) -> Vec<String> {
    let mut out = Vec::new();
    for m in kc.all_menus() {
        let Some(s) = kc.menu(m).sym else { continue };
        let Some(name) = kc.sym(s).name.clone() else {
            continue;
        };
        if kc.sym(s).ty != kconfig_engine::SymType::Tristate
            || requested.contains(&*name)
            || kc.is_choice_value(s)
            || !kc.is_changeable(s)
            || !kc.menu_is_visible(m)
        {
            continue;
        }
        let cur = kc.tristate_value(s);
        if cur == Tri::Mod || (prefer_builtin && cur == Tri::Yes) {
            continue;
        }
        if kc.tristate_within_range(s, Tri::Mod) && !out.contains(&name.to_string()) {
            out.push(name.to_string());
        }
    }
    out
}

/// `base` with the lines for `lines`' symbols removed and `lines` appended,
/// as the kernel's merge_config.sh merges a fragment.
fn overlay(kc: &Kconfig, base: &str, lines: &[(String, String)]) -> String {
    let names: HashMap<&str, ()> = lines.iter().map(|(n, _)| (n.as_str(), ())).collect();
    let mut out = String::with_capacity(base.len() + lines.len() * 32);
    for l in base.lines() {
        if value::line_symbol(&kc.prefix, l).is_some_and(|n| names.contains_key(n)) {
            continue;
        }
        out.push_str(l);
        out.push('\n');
    }
    for (_, l) in lines {
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// Most passes it takes `settle` to reach a fixed point (two suffice in
/// every tree we know; the rest guards against oscillation).
const MAX_PASSES: usize = 6;

/// Apply `lines` over `base` as `conf --olddefconfig` would, then again
/// over the result, until the written configuration no longer changes: one
/// olddefconfig pass is not always a fixed point (a symbol can lose its
/// prompt once the values it depends on are settled), and the kernel's conf
/// must find nothing to change in what we write. Leaves the engine in the
/// state of the returned configuration.
fn settle(kc: &mut Kconfig, base: &str, lines: &[(String, String)]) -> String {
    // The requests are read last, after the base; then the result is read
    // back as it is written, as the kernel's conf will read it.
    apply(kc, &overlay(kc, base, lines));
    let mut out = kc.render_config();
    for _ in 0..MAX_PASSES {
        apply(kc, &out);
        let next = kc.render_config();
        if next == out {
            break;
        }
        out = next;
    }
    kc.messages.take();
    out
}

/// Evaluate `text` as `.config`, as `conf --olddefconfig` reads it.
fn apply(kc: &mut Kconfig, text: &str) {
    // Each pass is a new conf process in the kernel's flow.
    kc.restart();
    kc.set_config_text(MEMORY_CONFIG, text.as_bytes().to_vec());
    kc.read(Some(MEMORY_CONFIG));
    kc.messages.take();
}

/// The `# Linux/<ARCH> <version> Kernel Configuration` line a `.config`
/// starts with, as (ARCH, version).
pub fn config_header(text: &str) -> Option<(String, String)> {
    text.lines().take(5).find_map(|l| {
        let rest = l.strip_prefix("# Linux/")?;
        let (arch, rest) = rest.split_once(' ')?;
        let version = rest.strip_suffix(" Kernel Configuration")?;
        Some((arch.to_string(), version.to_string()))
    })
}

/// The base configuration as `.config` text, with `fragments` merged in,
/// one olddefconfig for each (`make defconfig a.config b.config`).
pub fn base_config(
    kc: &mut Kconfig,
    base: &Base,
    fragments: &[fragment::LoadedFragment],
) -> Result<String, ResolveError> {
    let mut text = plain_base_config(kc, base)?;
    for frag in fragments {
        for file in &frag.files {
            text = overlay(kc, &text, &fragment::lines(kc, file));
        }
        apply(kc, &text);
        text = kc.render_config();
        kc.messages.take();
    }
    Ok(text)
}

/// The base configuration alone.
fn plain_base_config(kc: &mut Kconfig, base: &Base) -> Result<String, ResolveError> {
    kc.restart();
    let srctree = kc.srctree().map(Path::to_path_buf);
    let srcarch = kc.getenv("SRCARCH").unwrap_or_default();
    let mut rng = None;
    let prob = Probabilities::default();
    let text = match base {
        Base::File(path) => {
            let text = read_config_file(path).map_err(|source| ResolveError::BaseFile {
                path: path.clone(),
                source,
            })?;
            // The header names make's ARCH: a configuration of another
            // architecture would lose most of its symbols silently.
            if let Some((arch, version)) = config_header(&text) {
                if !srcarch.is_empty() && kforge_tree::env::srcarch_of(&arch) != srcarch {
                    return Err(ResolveError::BaseArch {
                        path: path.clone(),
                        header: format!("Linux/{arch} {version}"),
                        arch,
                        srcarch,
                    });
                }
            }
            text
        }
        Base::Allnoconfig | Base::Alldefconfig => {
            let mode = if *base == Base::Allnoconfig {
                NewSymbols::No
            } else {
                NewSymbols::Default
            };
            kc.set_all_new_symbols(mode, &mut rng, prob);
            kc.render_config()
        }
        Base::Defconfig => {
            let st = srctree.ok_or(ResolveError::NoSrctree)?;
            let name = kc.getenv("KBUILD_DEFCONFIG").unwrap_or_default();
            let rel = format!("arch/{srcarch}/configs/{name}");
            let path = st.join(&rel);
            if !name.is_empty() && !path.is_file() {
                // A target the arch Makefile makes by merging files.
                if let Some(text) = generated_defconfig(kc, &st, &srcarch, &name) {
                    kc.messages.take();
                    return Ok(text);
                }
            }
            if name.is_empty() || !path.is_file() {
                return Err(ResolveError::NoDefconfig { path });
            }
            let path_s = path.to_string_lossy().into_owned();
            kc.read(Some(&path_s));
            kc.set_all_new_symbols(NewSymbols::Default, &mut rng, prob);
            kc.render_config()
        }
        Base::Tinyconfig => {
            // allnoconfig seeded with tiny-base.config, then the tiny.config
            // fragments merged in and olddefconfig, as `make tinyconfig`.
            let st = srctree.ok_or(ResolveError::NoSrctree)?;
            let seed = st.join("kernel/configs/tiny-base.config");
            if seed.is_file() {
                kc.read_simple(Some(&seed.to_string_lossy()), DefSlot::User);
            }
            kc.set_all_new_symbols(NewSymbols::No, &mut rng, prob);
            let mut text = kc.render_config();
            for dir in fragment::fragment_dirs(&srcarch) {
                let path = std::path::Path::new(&dir).join("tiny.config");
                let Ok(text_of) = std::fs::read_to_string(st.join(&path)) else {
                    continue;
                };
                let file = fragment::FragmentFile {
                    path,
                    text: text_of,
                };
                text = overlay(kc, &text, &fragment::lines(kc, &file));
            }
            apply(kc, &text);
            kc.render_config()
        }
    };
    kc.messages.take();
    Ok(text)
}

/// `make NAME` for a default configuration the arch Makefile generates
/// (`ppc64le_defconfig`): its base file with the fragments merged in, then
/// one olddefconfig (mips' generic ones: with the board fragments merged
/// in between, see [`kforge_tree::defconfigs::GeneratedDefconfig::boards`]). `None` when `NAME` is no such target or a file of it
/// is missing.
fn generated_defconfig(kc: &mut Kconfig, st: &Path, srcarch: &str, name: &str) -> Option<String> {
    let g = kforge_tree::defconfigs::generated_defconfig(st, srcarch, name)?;
    let dir = Path::new("arch").join(srcarch).join("configs");
    let read = |f: &str| std::fs::read_to_string(st.join(&dir).join(f)).ok();
    let mut text = read(&g.base)?;
    for f in &g.fragments {
        let file = fragment::FragmentFile {
            path: dir.join(f),
            text: read(f)?,
        };
        text = overlay(kc, &text, &fragment::lines(kc, &file));
    }
    if !g.boards.is_empty() {
        // mips: each board whose requirements the configuration so far meets.
        apply(kc, &text);
        let reference = kc.render_config();
        for b in &g.boards {
            let file = fragment::FragmentFile {
                path: dir.join(b),
                text: read(b)?,
            };
            if kforge_tree::defconfigs::board_applies(&file.text, &reference) {
                text = overlay(kc, &text, &fragment::lines(kc, &file));
            }
        }
    }
    apply(kc, &text);
    Some(kc.render_config())
}

/// The most kforge reads as a configuration, after decompression (Debian's
/// amd64 `.config` is 280 KiB, an allmodconfig under 400 KiB).
pub const MAX_CONFIG_BYTES: u64 = 16 << 20;

/// A configuration file, decompressed when its name ends in `.xz` or `.gz`
/// (distributions ship their configs compressed). Only a regular file is
/// read, and at most [`MAX_CONFIG_BYTES`] of it once decompressed.
pub fn read_config_file(path: &Path) -> std::io::Result<String> {
    const WHAT: &str = "a configuration";
    let (file, _) = kforge_fs::open_regular(path, WHAT)?;
    let data = match path.extension().and_then(|e| e.to_str()) {
        Some("xz") => {
            kforge_fs::read_to_limit(xz2::read::XzDecoder::new(file), MAX_CONFIG_BYTES, WHAT)?
        }
        Some("gz") => {
            kforge_fs::read_to_limit(flate2::read::GzDecoder::new(file), MAX_CONFIG_BYTES, WHAT)?
        }
        _ => kforge_fs::read_to_limit(file, MAX_CONFIG_BYTES, WHAT)?,
    };
    kforge_fs::utf8(data)
}

/// Requests that make a fix, as `(symbol, value)` pairs, turned into
/// requests at `origin` (used when verifying fixes).
pub(crate) fn fix_requests(fix: &[(String, String)], origin: &Origin) -> Vec<Request> {
    fix.iter()
        .map(|(s, v)| Request {
            symbol: s.clone(),
            value: kforge_declaration::RequestValue::Text(v.clone()),
            optional: false,
            priority: Priority::Normal,
            since: None,
            until: None,
            layer: kforge_declaration::Layer::Main,
            origin: origin.clone(),
        })
        .collect()
}

/// Tristate helper for explanations.
pub(crate) fn typed_of(kc: &Kconfig, r: &Request) -> Option<Typed> {
    let s = kc.find(&r.symbol)?;
    value::read(kc.sym(s).ty, &r.value).ok()
}
