//! Hardening policies as data, and the audit of a configuration against
//! them.
//!
//! A [`Policy`] is a list of [`Recommendation`]s: a symbol, the values it
//! should have, where it applies (architectures, kernel versions), why and
//! where the advice comes from. Policies are TOML files (the format is in
//! `docs/audit.md`); kforge ships `kspp` (the Kernel Self Protection
//! Project's recommended settings, in our own words) and its
//! `self-protection` group, and reads `hardening` from the tree being
//! audited (`kernel/configs/hardening.config` and the architecture's).
//! [`audit::audit`] gives each recommendation a verdict with the engine's
//! reason and, where one exists, a checked fix.

use std::fmt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use kforge_declaration::{KernelVersion, Origin};

pub mod audit;
mod file;

pub use file::parse;

/// A named set of recommendations.
#[derive(Debug, Clone)]
pub struct Policy {
    /// `kspp`, `hardening`, or the `name` a policy file gives itself.
    pub name: String,
    pub description: String,
    /// Where the advice comes from, for recommendations without their own.
    pub reference: Option<String>,
    pub recommendations: Vec<Recommendation>,
}

/// One recommended setting.
#[derive(Debug, Clone)]
pub struct Recommendation {
    /// Symbol name without `CONFIG_`.
    pub symbol: String,
    /// The values that satisfy it, as `.config` writes them (`"n"`: not
    /// set); the first is the one a fix requests.
    pub values: Vec<String>,
    /// The architectures it applies to, as make's `ARCH` or the source
    /// architecture (`x86_64`, `x86`, `arm64`); empty: all.
    pub arches: Vec<String>,
    /// Inclusive lower bound on the kernel version.
    pub since: Option<KernelVersion>,
    /// Exclusive upper bound on the kernel version.
    pub until: Option<KernelVersion>,
    /// A group inside the policy (`self-protection`, `attack-surface`).
    pub group: Option<String>,
    /// Why, in a sentence.
    pub reason: String,
    pub reference: Option<String>,
    /// Where it is written (a policy file's line, or a fragment's).
    pub origin: Origin,
}

impl Recommendation {
    /// The wanted values as a reader would say them: `y`, `y or m`,
    /// `not set`.
    pub fn wanted(&self) -> String {
        self.values
            .iter()
            .map(|v| if v == "n" { "not set" } else { v.as_str() })
            .collect::<Vec<_>>()
            .join(" or ")
    }
}

/// Why a policy could not be had.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("unknown policy `{name}`: kforge ships {}{}; a policy file is named by its path (ending in .toml)", known.join(", "), suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default())]
    Unknown {
        name: String,
        known: Vec<String>,
        suggestion: Option<String>,
    },
    #[error("{}: cannot read the policy: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{origin}: {message}")]
    Parse {
        origin: Origin,
        message: String,
        help: Option<String>,
    },
    #[error("the policy `hardening` is the tree's hardening.config, and this tree has none (Linux 6.2 added it)")]
    NoHardeningFragment,
    #[error(transparent)]
    Resolve(#[from] kforge_resolve::ResolveError),
}

/// The policies kforge ships, by name.
pub const SHIPPED: &[&str] = &["hardening", "kspp", "self-protection"];

/// The policies audited when none is named.
pub const DEFAULT: &[&str] = &["hardening", "kspp"];

/// The KSPP recommendations, in our own words.
const KSPP: &str = include_str!("../policies/kspp.toml");

/// A policy named on the command line: a shipped name, or the path of a
/// file (one with a `/` or ending in `.toml`). `kc` is the tree audited,
/// which `hardening` is read from.
pub fn load(name: &str, kc: &kconfig_engine::Kconfig) -> Result<Policy, PolicyError> {
    if name.contains('/') || name.ends_with(".toml") {
        let path = Path::new(name);
        let text = kforge_fs::read_text_limited(path, 4 << 20, "a policy").map_err(|source| {
            PolicyError::Read {
                path: path.to_path_buf(),
                source,
            }
        })?;
        return parse(&text, path);
    }
    match name {
        "kspp" => shipped_kspp(),
        "self-protection" => {
            let mut p = shipped_kspp()?;
            p.name = "self-protection".into();
            p.description =
                "the KSPP recommendations that protect the kernel's own memory and control flow"
                    .into();
            p.recommendations
                .retain(|r| r.group.as_deref() == Some("self-protection"));
            Ok(p)
        }
        "hardening" => hardening_of_tree(kc),
        _ => Err(PolicyError::Unknown {
            name: name.to_string(),
            known: SHIPPED.iter().map(|s| s.to_string()).collect(),
            suggestion: SHIPPED
                .iter()
                .map(|s| (strsim::levenshtein(name, s), *s))
                .filter(|(d, _)| *d <= 3)
                .min()
                .map(|(_, s)| s.to_string()),
        }),
    }
}

fn shipped_kspp() -> Result<Policy, PolicyError> {
    parse(KSPP, Path::new("<kforge>/policies/kspp.toml"))
}

/// The tree's own `hardening.config` (generic and architecture files) as
/// a policy: each line a recommendation, the comment above it its reason.
fn hardening_of_tree(kc: &kconfig_engine::Kconfig) -> Result<Policy, PolicyError> {
    let declared = [kforge_declaration::Fragment {
        name: "hardening.config".into(),
        origin: Origin {
            file: Rc::new(PathBuf::from("--policy hardening")),
            line: 1,
            column: 1,
        },
    }];
    let frags = match kforge_resolve::fragment::load(kc, &declared) {
        Err(kforge_resolve::ResolveError::NoFragment { .. }) => {
            return Err(PolicyError::NoHardeningFragment)
        }
        other => other?,
    };
    let mut recommendations: Vec<Recommendation> = Vec::new();
    for file in frags.iter().flat_map(|f| &f.files) {
        let path = Rc::new(file.path.clone());
        // The comment block above a group of lines is their reason.
        let mut comment: Vec<&str> = Vec::new();
        let mut in_comment = false;
        for (i, line) in file.text.lines().enumerate() {
            let entry = kconfig_engine::confdata::parse_config_line(line, &kc.prefix);
            let Some(e) = entry else {
                let c = line.strip_prefix('#').map(str::trim);
                match c {
                    Some(c) => {
                        if !in_comment {
                            comment.clear();
                        }
                        in_comment = true;
                        if !c.is_empty() && !c.starts_with("Help:") {
                            comment.push(c);
                        }
                    }
                    None => in_comment = false,
                }
                continue;
            };
            in_comment = false;
            let reason = if comment.is_empty() {
                "the kernel's hardening.config sets it".to_string()
            } else {
                comment.join(" ")
            };
            recommendations.retain(|r| r.symbol != e.name);
            recommendations.push(Recommendation {
                symbol: e.name.to_string(),
                values: vec![e.value.into_owned()],
                arches: Vec::new(),
                since: None,
                until: None,
                group: None,
                reason,
                reference: None,
                origin: Origin {
                    file: path.clone(),
                    line: i as u32 + 1,
                    column: 1,
                },
            });
        }
    }
    Ok(Policy {
        name: "hardening".into(),
        description: "the kernel's own hardening.config, read from the tree".into(),
        reference: Some("make hardening.config (kernel/configs/hardening.config)".into()),
        recommendations,
    })
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({} recommendations): {}",
            self.name,
            self.recommendations.len(),
            self.description
        )
    }
}
