//! An existing `.config` turned into the smallest declaration that
//! reproduces it from a base, checked by resolving it.
//!
//! The configuration is first read as `make olddefconfig` would read it (the
//! target: what the declaration must resolve to, byte for byte). A symbol
//! needs a request when the user can set it in the target and the base
//! would not give it its target value by itself:
//!
//! - when the symbol is visible in the base configuration, the base's value
//!   stays (resolution overlays requests on the base as `merge_config` does),
//!   so it needs a request exactly when the values differ;
//! - when it is not visible in the base, it takes its default in the
//!   resolved configuration, so it needs a request when `savedefconfig` of
//!   the target lists it (its value is not its default there).
//!
//! The declaration is then resolved; symbols that still differ get requests
//! too, until the resolution is the target (a few rounds at most).
//!
//! Two steps, so that a front can report what it learns in between:
//! [`Target::read`] reads the input against the tree, [`Target::import`]
//! finds the requests.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::rc::Rc;

use kforge_declaration::{Base, Origin, Request, RequestValue};

use crate::error::Error;
use crate::resolved::{self, Toolchain, Tree};

/// The base named `name` (`defconfig`, `tinyconfig`, `allnoconfig` or
/// `alldefconfig`), if it is one.
pub fn base(name: &str) -> Option<Base> {
    match name {
        "defconfig" => Some(Base::Defconfig),
        "tinyconfig" => Some(Base::Tinyconfig),
        "allnoconfig" => Some(Base::Allnoconfig),
        "alldefconfig" => Some(Base::Alldefconfig),
        _ => None,
    }
}

/// The name a declaration gives `base` (`base = "..."`); `None` for a file.
pub fn base_name(base: &Base) -> Option<&'static str> {
    match base {
        Base::Defconfig => Some("defconfig"),
        Base::Tinyconfig => Some("tinyconfig"),
        Base::Allnoconfig => Some("allnoconfig"),
        Base::Alldefconfig => Some("alldefconfig"),
        Base::File(_) => None,
    }
}

/// What to import, and against which tree.
#[derive(Debug, Clone)]
pub struct Options {
    /// The configuration to import (`.xz` and `.gz` are read too).
    pub config: PathBuf,
    /// The base the declaration starts from (a `.config` file too: the
    /// requests are then the changes against it).
    pub base: Base,
    /// The kernel source tree.
    pub tree: PathBuf,
    /// make's `ARCH`.
    pub arch: String,
    /// make's `CROSS_COMPILE`.
    pub cross_compile: Option<String>,
}

/// The input read against the tree: what the declaration must resolve to.
pub struct Target {
    opts: Options,
    text: String,
    tree: Tree,
    /// The tree's `KERNELVERSION`.
    pub kernel_version: String,
    /// The version the input's header names, when its major.minor is not
    /// the tree's.
    pub written_for: Option<String>,
}

/// An imported declaration, and how it was found.
#[derive(Debug, Clone)]
pub struct Import {
    /// The `kernel.toml` text.
    pub declaration: String,
    /// The requests it makes.
    pub requests: usize,
    /// The symbols `make savedefconfig` lists for the input.
    pub savedefconfig: usize,
    /// Rounds of resolution it took.
    pub rounds: usize,
    /// The requests themselves, in the input's order.
    pub list: Vec<Request>,
    /// The input as `make olddefconfig` writes it.
    pub target: String,
    /// What the declaration resolves to: [`Import::target`] unless the
    /// import failed.
    pub resolved: String,
}

impl Import {
    /// Whether the declaration resolves to the target byte for byte.
    pub fn exact(&self) -> bool {
        self.resolved == self.target
    }
}

impl Target {
    /// Read `opts.config` and load the tree for `opts.arch`; refused when the
    /// input's header names another architecture.
    pub fn read(opts: Options) -> Result<Target, Error> {
        let text =
            kforge_resolve::read_config_file(&opts.config).map_err(|source| Error::Read {
                path: opts.config.clone(),
                source,
            })?;
        let tree = load(&opts)?;
        let srcarch = tree.vars.get("SRCARCH").cloned().unwrap_or_default();
        let kernel_version = tree.vars.get("KERNELVERSION").cloned().unwrap_or_default();
        let mut written_for = None;
        if let Some((arch, version)) = kforge_resolve::config_header(&text) {
            // The header names make's ARCH (`x86_64`, `i386`, `x86`,
            // `sparc64`...): compared by the source directory it selects.
            if kforge_tree::env::srcarch_of(&arch) != srcarch {
                return Err(Error::ImportArchMismatch {
                    config: opts.config,
                    header_arch: arch,
                    header_version: version,
                    arch: opts.arch,
                    srcarch,
                });
            }
            let mm = |v: &str| v.split('.').take(2).collect::<Vec<_>>().join(".");
            if mm(&version) != mm(&kernel_version) {
                written_for = Some(version);
            }
        }
        Ok(Target {
            opts,
            text,
            tree,
            kernel_version,
            written_for,
        })
    }

    /// Find the requests that reproduce the target from the base, and
    /// resolve them. Refused when too many of the input's symbols are
    /// unknown to the tree.
    pub fn import(self) -> Result<Import, Error> {
        let Target {
            opts,
            text,
            tree: mut target_tree,
            kernel_version: kversion,
            ..
        } = self;
        let kc = &mut target_tree.kc;
        let named = parse_config(&text);
        let unknown = named
            .iter()
            .filter(|(n, _)| {
                kc.find(n)
                    .is_none_or(|s| kc.sym(s).ty == kconfig_engine::SymType::Unknown)
            })
            .count();
        let lines = named.len().max(1);
        if unknown * 5 > lines {
            return Err(Error::ImportUnknownSymbols {
                config: opts.config,
                unknown,
                symbols: lines,
                arch: opts.arch,
                kernel_version: kversion,
            });
        }
        kc.set_config_text("<import>", text.into_bytes());
        kc.read(Some("<import>"));
        kc.messages.take();
        let target = kc.render_config();
        let target_values = parse_config(&target);
        let savedefconfig: BTreeSet<String> = parse_config(&kc.render_defconfig())
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        let changeable = |kc: &kconfig_engine::Kconfig, name: &str| {
            kc.find(name).is_some_and(|s| kc.is_changeable(s))
        };
        let target_changeable: BTreeSet<String> = target_values
            .iter()
            .filter(|(n, _)| changeable(kc, n))
            .map(|(n, _)| n.clone())
            .collect();

        // Which of the input's symbols are choice members (the tree's
        // shape: the same whatever values it holds).
        let choice_members: BTreeSet<&str> = target_values
            .iter()
            .filter(|(n, _)| kc.find(n).is_some_and(|s| kc.is_choice_value(s)))
            .map(|(n, _)| n.as_str())
            .collect();
        let is_choice_member = |name: &str| choice_members.contains(name);

        // One tree serves the base and every round: resolution restarts it
        // each time, as a new load would be.
        // ---- the base, resolved with no requests
        let empty = kforge_resolve::Input::on(opts.base.clone());
        let base_res = kforge_resolve::resolve(kc, &empty)?;
        let base_values: BTreeMap<String, String> =
            parse_config(&base_res.config).into_iter().collect();
        let visible_in_base = |name: &str| {
            kc.find(name)
                .is_some_and(|s| kc.sym(s).visible != kconfig_engine::Tri::No)
        };

        // ---- the requests, then rounds of resolution until it is the target
        let origin = Origin {
            file: Rc::new(PathBuf::from("<import>")),
            line: 0,
            column: 0,
        };
        let mut wanted: BTreeMap<String, String> = BTreeMap::new();
        for (name, value) in &target_values {
            if !target_changeable.contains(name) || (value == "n" && is_choice_member(name)) {
                continue;
            }
            let need = if visible_in_base(name) {
                base_values.get(name).map_or("n", String::as_str) != value
            } else {
                savedefconfig.contains(name)
            };
            if need {
                wanted.insert(name.clone(), value.clone());
            }
        }
        let order: BTreeMap<&str, usize> = target_values
            .iter()
            .enumerate()
            .map(|(i, (n, _))| (n.as_str(), i))
            .collect();
        let mut rounds = 0;
        let (resolved, requests) = loop {
            rounds += 1;
            let mut names: Vec<&String> = wanted.keys().collect();
            names.sort_by_key(|n| order.get(n.as_str()).copied().unwrap_or(usize::MAX));
            let requests: Vec<Request> = names
                .iter()
                .map(|n| request(n, kc, &wanted[*n], &origin))
                .collect();
            let input = kforge_resolve::Input {
                requests: requests.clone(),
                ..empty.clone()
            };
            let res = kforge_resolve::resolve(kc, &input)?;
            if same_values(&res.config, &target) || rounds == 4 {
                break (res, requests);
            }
            let got: BTreeMap<String, String> = parse_config(&res.config).into_iter().collect();
            let mut added = 0;
            for (name, value) in &target_values {
                if got.get(name).map_or("n", String::as_str) != value
                    && target_changeable.contains(name)
                    && !(value == "n" && is_choice_member(name))
                    && !wanted.contains_key(name)
                {
                    wanted.insert(name.clone(), value.clone());
                    added += 1;
                }
            }
            if added == 0 {
                break (res, requests);
            }
        };
        let declaration = declaration(&opts, &kversion, &requests, savedefconfig.len());
        Ok(Import {
            declaration,
            requests: requests.len(),
            savedefconfig: savedefconfig.len(),
            rounds,
            list: requests,
            target,
            resolved: resolved.config,
        })
    }
}

fn load(opts: &Options) -> Result<Tree, Error> {
    resolved::load_tree(
        &opts.tree,
        Toolchain {
            arch: &opts.arch,
            cross_compile: opts.cross_compile.as_deref(),
            llvm: None,
        },
        true,
    )
}

/// The `kernel.toml` text: a comment saying where it comes from, `[source]`,
/// `[build]` and the requests in `[config]`.
fn declaration(
    opts: &Options,
    kversion: &str,
    requests: &[Request],
    savedefconfig: usize,
) -> String {
    let version = kversion.split(['-', '+']).next().unwrap_or(kversion);
    let base = base_name(&opts.base).unwrap_or_default();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Imported by `kforge import` from {}:\n# {} requests on Linux {version}'s {base} for {} (`make savedefconfig` lists {savedefconfig} symbols).",
        opts.config.display(),
        requests.len(),
        opts.arch,
    );
    let _ = writeln!(out, "\n[source]\nversion = \"{version}\"\n");
    let _ = writeln!(out, "[build]\narch = \"{}\"", opts.arch);
    if let Some(c) = &opts.cross_compile {
        let _ = writeln!(out, "cross_compile = {}", RequestValue::Text(c.clone()));
    }
    let _ = writeln!(out, "base = \"{base}\"\n\n[config]");
    for r in requests {
        let _ = writeln!(out, "{} = {}", r.symbol, r.value);
    }
    out
}

/// The lines only `a` has and those only `b` has, in their order: both
/// empty when the texts have the same lines in another order (or agree).
pub fn differing_lines(a: &str, b: &str) -> (Vec<String>, Vec<String>) {
    let only = |a: &str, b: &str| -> Vec<String> {
        let theirs: BTreeSet<&str> = b.lines().collect();
        a.lines()
            .filter(|l| !theirs.contains(l))
            .map(str::to_string)
            .collect()
    };
    (only(a, b), only(b, a))
}

/// Whether two .config texts give every symbol the same value (a symbol
/// one does not list is `n`).
fn same_values(a: &str, b: &str) -> bool {
    let set = |t: &str| -> BTreeMap<String, String> {
        parse_config(t)
            .into_iter()
            .filter(|(_, v)| v != "n")
            .collect()
    };
    set(a) == set(b)
}

/// `CONFIG_X=v` and `# CONFIG_X is not set` lines: (name, value) in order,
/// `n` for "is not set"; values as written (strings quoted).
pub fn parse_config(text: &str) -> Vec<(String, String)> {
    kconfig_engine::parse_config(text, "CONFIG_")
        .into_iter()
        .map(|e| (e.name.to_string(), e.written.unwrap_or("n").to_string()))
        .collect()
}

/// A request for `name = value` (`value` as the .config writes it), typed
/// by the symbol: strings unquoted, ints as integers.
fn request(name: &str, kc: &kconfig_engine::Kconfig, value: &str, origin: &Origin) -> Request {
    let ty = kc.find(name).map(|s| kc.sym(s).ty);
    let value = match ty {
        Some(kconfig_engine::SymType::String) => {
            let raw = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            let mut s = String::new();
            let mut chars = raw.chars();
            while let Some(c) = chars.next() {
                s.push(if c == '\\' {
                    chars.next().unwrap_or(c)
                } else {
                    c
                });
            }
            RequestValue::Text(s)
        }
        Some(kconfig_engine::SymType::Int) => match value.parse::<i64>() {
            Ok(i) => RequestValue::Integer(i),
            Err(_) => RequestValue::Text(value.to_string()),
        },
        _ => RequestValue::Text(value.to_string()),
    };
    Request {
        symbol: name.to_string(),
        value,
        optional: false,
        priority: kforge_declaration::Priority::Normal,
        since: None,
        until: None,
        layer: kforge_declaration::Layer::Main,
        origin: origin.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_only_one_side_has() {
        let target = "CONFIG_A=y\n# CONFIG_B is not set\n";
        let (missing, extra) = differing_lines(
            target,
            "CONFIG_A=y\n# CONFIG_B is not set\n# CONFIG_C is not set\n",
        );
        assert!(missing.is_empty());
        assert_eq!(extra, ["# CONFIG_C is not set"]);
        let (missing, extra) = differing_lines(target, "# CONFIG_B is not set\nCONFIG_A=y\n");
        assert!(missing.is_empty() && extra.is_empty());
    }

    #[test]
    fn config_lines_and_header() {
        let text = "#\n# Automatically generated file; DO NOT EDIT.\n# Linux/x86 6.1.192 Kernel Configuration\n#\nCONFIG_A=y\n# CONFIG_B is not set\nCONFIG_S=\"a b\"\n# comment\n";
        assert_eq!(
            parse_config(text),
            [
                ("A".to_string(), "y".to_string()),
                ("B".to_string(), "n".to_string()),
                ("S".to_string(), "\"a b\"".to_string())
            ]
        );
        assert_eq!(
            kforge_resolve::config_header(text),
            Some(("x86".into(), "6.1.192".into()))
        );
        assert_eq!(kforge_resolve::config_header("CONFIG_A=y\n"), None);
    }

    #[test]
    fn values_compare_with_unset_as_n() {
        assert!(same_values(
            "CONFIG_A=y\n# CONFIG_B is not set\n",
            "CONFIG_A=y\n"
        ));
        assert!(!same_values("CONFIG_A=y\n", "CONFIG_A=m\n"));
    }

    #[test]
    fn bases_by_name() {
        for n in ["defconfig", "tinyconfig", "allnoconfig", "alldefconfig"] {
            assert_eq!(base_name(&base(n).unwrap()), Some(n));
        }
        assert_eq!(base("tinyconfg"), None);
    }

    #[test]
    fn the_declaration_text() {
        let opts = Options {
            config: PathBuf::from("vendor.config"),
            base: Base::Tinyconfig,
            tree: PathBuf::from("linux"),
            arch: "arm64".into(),
            cross_compile: Some("aarch64-linux-gnu-".into()),
        };
        let origin = Origin {
            file: Rc::new(PathBuf::from("<import>")),
            line: 0,
            column: 0,
        };
        let r = Request {
            symbol: "A".into(),
            value: RequestValue::Text("y".into()),
            optional: false,
            priority: kforge_declaration::Priority::Normal,
            since: None,
            until: None,
            layer: kforge_declaration::Layer::Main,
            origin,
        };
        let d = declaration(&opts, "6.12.5-rc1", &[r], 7);
        assert!(d.starts_with("# Imported by `kforge import` from vendor.config:\n# 1 requests on Linux 6.12.5's tinyconfig for arm64 (`make savedefconfig` lists 7 symbols).\n\n[source]\nversion = \"6.12.5\"\n"), "{d}");
        assert!(d.contains("arch = \"arm64\"\ncross_compile = \"aarch64-linux-gnu-\"\nbase = \"tinyconfig\"\n\n[config]\nA = "), "{d}");
    }
}
