//! `kforge import`: an existing `.config` turned into the smallest
//! declaration that reproduces it from a base, checked by resolving it.
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

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Instant;

use crate::config_cmd;
use kforge_pipeline::resolved;
use kforge_pipeline::Error as ConfigError;

/// Turn a .config into a kernel.toml with the fewest requests that
/// reproduce it from a base configuration
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The configuration to import (.config; .xz and .gz are read too)
    #[arg(value_name = "CONFIG")]
    pub config: PathBuf,
    /// The base: defconfig, tinyconfig, allnoconfig or alldefconfig
    #[arg(long, default_value = "defconfig")]
    pub base: String,
    /// The kernel source tree
    #[arg(long, value_name = "DIR")]
    pub tree: PathBuf,
    /// The architecture (the kernel's ARCH=)
    #[arg(long)]
    pub arch: String,
    /// The cross-compiler prefix (CROSS_COMPILE=)
    #[arg(long, value_name = "PREFIX")]
    pub cross_compile: Option<String>,
    /// Write the declaration here (default: standard output); an existing
    /// file is replaced only with --force
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Replace an existing output file
    #[arg(long)]
    pub force: bool,
}

/// The error for a declaration that resolves to `resolved` where `make
/// olddefconfig` on the input `input` writes `target`: the lines only one
/// of them has (at most 20 each), or that the order differs.
fn mismatch_report(target: &str, resolved: &str, input: &str, rounds: usize) -> String {
    let mut out = format!(
        "error: the imported declaration does not resolve to {input} byte for byte (after {rounds} rounds); "
    );
    let only = |a: &str, b: &str| -> Vec<String> {
        let theirs: BTreeSet<&str> = b.lines().collect();
        a.lines()
            .filter(|l| !theirs.contains(l))
            .map(str::to_string)
            .collect()
    };
    let (missing, extra) = (only(target, resolved), only(resolved, target));
    if missing.is_empty() && extra.is_empty() {
        out.push_str("it has the same lines in another order\n");
        return out;
    }
    out.push_str("these lines differ:\n");
    for l in missing.iter().take(20) {
        let _ = writeln!(out, "  - {l}");
    }
    for l in extra.iter().take(20) {
        let _ = writeln!(out, "  + {l}");
    }
    out.push_str("  (- after `make olddefconfig` on the input, + resolved from the requests)\n");
    out
}

/// Whether two .config texts give every symbol the same value (a symbol
/// one does not list is `n`).
fn same_values(a: &str, b: &str) -> bool {
    let (a, b): (BTreeMap<_, _>, BTreeMap<_, _>) = (
        parse_config(a)
            .into_iter()
            .filter(|(_, v)| v != "n")
            .collect(),
        parse_config(b)
            .into_iter()
            .filter(|(_, v)| v != "n")
            .collect(),
    );
    a == b
}

/// `CONFIG_X=v` and `# CONFIG_X is not set` lines: (name, value) in order,
/// `n` for "is not set".
pub(crate) fn parse_config(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            if let Some(rest) = l.strip_prefix("# CONFIG_") {
                let name = rest.strip_suffix(" is not set")?;
                Some((name.to_string(), "n".to_string()))
            } else {
                let (k, v) = l.strip_prefix("CONFIG_")?.split_once('=')?;
                Some((k.to_string(), v.to_string()))
            }
        })
        .collect()
}

/// The `# Linux/<arch> <version> Kernel Configuration` header line.
fn header(text: &str) -> Option<(String, String)> {
    text.lines().take(5).find_map(|l| {
        let rest = l.strip_prefix("# Linux/")?;
        let (arch, rest) = rest.split_once(' ')?;
        let version = rest.strip_suffix(" Kernel Configuration")?;
        Some((arch.to_string(), version.to_string()))
    })
}

/// A request for `name = value` (`value` as the .config writes it), typed
/// by the symbol: strings unquoted, ints as integers.
fn request(
    name: &str,
    kc: &kconfig_engine::Kconfig,
    value: &str,
    origin: &kforge_declaration::Origin,
) -> kforge_declaration::Request {
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
            kforge_declaration::RequestValue::Text(s)
        }
        Some(kconfig_engine::SymType::Int) => match value.parse::<i64>() {
            Ok(i) => kforge_declaration::RequestValue::Integer(i),
            Err(_) => kforge_declaration::RequestValue::Text(value.to_string()),
        },
        _ => kforge_declaration::RequestValue::Text(value.to_string()),
    };
    kforge_declaration::Request {
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

/// Run the command; returns the exit code.
pub fn run(args: ImportArgs) -> i32 {
    match try_run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprint!("{}", config_cmd::render_error(&e));
            1
        }
    }
}

fn other(msg: String) -> ConfigError {
    ConfigError::Refused(msg)
}

fn try_run(args: &ImportArgs) -> Result<i32, ConfigError> {
    let t0 = Instant::now();
    let base = match args.base.as_str() {
        "defconfig" => kforge_declaration::Base::Defconfig,
        "tinyconfig" => kforge_declaration::Base::Tinyconfig,
        "allnoconfig" => kforge_declaration::Base::Allnoconfig,
        "alldefconfig" => kforge_declaration::Base::Alldefconfig,
        b => {
            return Err(other(format!(
                "--base {b}: expected defconfig, tinyconfig, allnoconfig or alldefconfig"
            )))
        }
    };
    if let Some(out) = &args.output {
        if out.exists() && !args.force {
            return Err(other(format!(
                "{} exists; give --force to replace it, or another -o",
                out.display()
            )));
        }
    }
    let text =
        kforge_resolve::read_config_file(&args.config).map_err(|source| ConfigError::Read {
            path: args.config.clone(),
            source,
        })?;
    let load = || {
        resolved::load_tree(
            &args.tree,
            resolved::Toolchain {
                arch: &args.arch,
                cross_compile: args.cross_compile.as_deref(),
                llvm: None,
            },
            true,
        )
    };

    // ---- the target: the configuration as olddefconfig reads it
    let mut target_tree = load()?;
    let srcarch = target_tree.vars.get("SRCARCH").cloned().unwrap_or_default();
    let kversion = target_tree
        .vars
        .get("KERNELVERSION")
        .cloned()
        .unwrap_or_default();
    if let Some((arch, version)) = header(&text) {
        if arch != srcarch {
            return Err(other(format!(
                "{}: a configuration for {arch} (its header says \"Linux/{arch} {version}\"), but --arch {} builds {srcarch}; give the matching --arch",
                args.config.display(),
                args.arch
            )));
        }
        let mm = |v: &str| v.split('.').take(2).collect::<Vec<_>>().join(".");
        if mm(&version) != mm(&kversion) {
            eprintln!(
                "warning: {}: written for Linux {version}, the tree is {kversion}: symbols that changed between them are read as olddefconfig reads them",
                args.config.display()
            );
        }
    }
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
        return Err(other(format!(
            "{}: {unknown} of its {lines} symbols are unknown to this tree: a configuration for another architecture or kernel version? (--arch {}, tree {kversion})",
            args.config.display(),
            args.arch
        )));
    }
    kc.set_config_text("<import>", text.clone().into_bytes());
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

    // ---- the base, resolved with no requests
    let mut base_tree = load()?;
    let empty = kforge_resolve::Input {
        base: base.clone(),
        requests: Vec::new(),
        conditionals: Vec::new(),
        auto_modules: false,
        prefer_builtin: false,
    };
    let base_res = kforge_resolve::resolve(&mut base_tree.kc, &empty)?;
    let base_values: BTreeMap<String, String> =
        parse_config(&base_res.config).into_iter().collect();
    let bkc = &base_tree.kc;
    let visible_in_base = |name: &str| {
        bkc.find(name)
            .is_some_and(|s| bkc.sym(s).visible != kconfig_engine::Tri::No)
    };

    // ---- the requests, then rounds of resolution until it is the target
    let origin = kforge_declaration::Origin {
        file: Rc::new(PathBuf::from("<import>")),
        line: 0,
        column: 0,
    };
    let kc = &target_tree.kc;
    let is_choice_member = |name: &str| kc.find(name).is_some_and(|s| kc.is_choice_value(s));
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
    // One tree serves every round: resolution restarts it each time.
    let mut t = load()?;
    let (resolved, requests) = loop {
        rounds += 1;
        let mut names: Vec<&String> = wanted.keys().collect();
        names.sort_by_key(|n| order.get(n.as_str()).copied().unwrap_or(usize::MAX));
        let requests: Vec<kforge_declaration::Request> = names
            .iter()
            .map(|n| request(n, kc, &wanted[*n], &origin))
            .collect();
        let input = kforge_resolve::Input {
            requests: requests.clone(),
            ..empty.clone()
        };
        let res = kforge_resolve::resolve(&mut t.kc, &input)?;
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

    // ---- the declaration
    let version = kversion
        .split(['-', '+'])
        .next()
        .unwrap_or(&kversion)
        .to_string();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Imported by `kforge import` from {}:\n# {} requests on Linux {version}'s {} for {} (`make savedefconfig` lists {} symbols).",
        args.config.display(),
        requests.len(),
        args.base,
        args.arch,
        savedefconfig.len()
    );
    let _ = writeln!(out, "\n[source]\nversion = \"{version}\"\n");
    let _ = writeln!(out, "[build]\narch = \"{}\"", args.arch);
    if let Some(c) = &args.cross_compile {
        let _ = writeln!(
            out,
            "cross_compile = {}",
            kforge_declaration::RequestValue::Text(c.clone())
        );
    }
    let _ = writeln!(out, "base = \"{}\"\n\n[config]", args.base);
    for r in &requests {
        let _ = writeln!(out, "{} = {}", r.symbol, r.value);
    }

    if resolved.config != target {
        // Byte for byte, as the kernel's olddefconfig writes the input.
        eprint!(
            "{}",
            mismatch_report(
                &target,
                &resolved.config,
                &args.config.display().to_string(),
                rounds
            )
        );
        return Ok(1);
    }
    match &args.output {
        Some(path) => kforge_pipeline::write_atomic(path, out.as_bytes()).map_err(|source| {
            ConfigError::Write {
                path: path.clone(),
                source,
            }
        })?,
        None => print!("{out}"),
    }
    eprintln!(
        "kforge import: {} requests on {} (savedefconfig: {} symbols); resolving them writes, byte for byte, what `make olddefconfig` writes for {} ({rounds} rounds, {:.2}s)",
        requests.len(),
        args.base,
        savedefconfig.len(),
        args.config.display(),
        t0.elapsed().as_secs_f64()
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_declaration_that_does_not_resolve_byte_for_byte_is_reported() {
        let target = "CONFIG_A=y\n# CONFIG_B is not set\n";
        let r = mismatch_report(
            target,
            "CONFIG_A=y\n# CONFIG_B is not set\n# CONFIG_C is not set\n",
            "vendor.config",
            2,
        );
        assert!(
            r.starts_with("error: the imported declaration does not resolve to vendor.config byte for byte (after 2 rounds); these lines differ:\n"),
            "{r}"
        );
        assert!(r.contains("\n  + # CONFIG_C is not set\n"), "{r}");
        assert!(!r.contains("  - "), "{r}");
        let r = mismatch_report(target, "# CONFIG_B is not set\nCONFIG_A=y\n", "v", 1);
        assert!(
            r.ends_with("it has the same lines in another order\n"),
            "{r}"
        );
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
        assert_eq!(header(text), Some(("x86".into(), "6.1.192".into())));
        assert_eq!(header("CONFIG_A=y\n"), None);
    }
}
