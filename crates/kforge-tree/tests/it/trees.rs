//! `ModuleMap` against the real 6.1 and 6.12 trees that
//! `scripts/prepare-oracle` unpacks (under `$KFORGE_ORACLE` or
//! `<repo>/target/oracle`).
//!
//! Expectations are read from the trees at test time where they can be: the
//! line and symbol of a rule, and the entries of each directory on the way
//! to it, are found with a deliberately naive line matcher written here,
//! independent of the crate's make reader, and compared with the map.
//!
//! A second-tier test file: compiled with the `oracle-tests` feature only
//! (scripts/test); without its prerequisites it fails naming
//! scripts/prepare-oracle.
#![cfg(feature = "oracle-tests")]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use kforge_tree::{ModuleMap, ModuleSource};

const VERSIONS: &[&str] = &["6.1", "6.12"];

/// The kernel tree of `ver` in the prepared oracle (kforge-testkit).
fn tree(ver: &str) -> PathBuf {
    kforge_testkit::oracle_tree(ver)
}

fn map(ver: &str) -> &'static ModuleMap {
    static MAPS: [OnceLock<ModuleMap>; 2] = [OnceLock::new(), OnceLock::new()];
    let i = VERSIONS
        .iter()
        .position(|v| *v == ver)
        .expect("known version");
    MAPS[i].get_or_init(|| {
        let t = tree(ver);
        let start = Instant::now();
        let m = ModuleMap::scan(&t).unwrap_or_else(|e| panic!("scan {ver}: {e}"));
        eprintln!(
            "{ver}: scanned {} directories, {} modules in {:?}",
            m.directories().count(),
            m.modules().count(),
            start.elapsed()
        );
        m
    })
}

/// The kbuild file of a directory (relative, `""` for the top).
fn kbuild_file(tree: &Path, dir: &str) -> PathBuf {
    let d = tree.join(dir);
    if d.join("Kbuild").is_file() {
        Path::new(dir).join("Kbuild")
    } else {
        Path::new(dir).join("Makefile")
    }
}

/// The `obj-<suffix> <op> words` assignments: (first line, suffix, words),
/// with continued lines joined. Lines starting with a tab (recipes) and
/// comments are skipped.
fn simple_obj_lines(text: &str) -> Vec<(u32, String, Vec<String>)> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((i, first)) = lines.next() {
        let mut logical = first.to_string();
        while logical.ends_with('\\') {
            logical.pop();
            match lines.next() {
                Some((_, next)) => {
                    logical.push(' ');
                    logical.push_str(next);
                }
                None => break,
            }
        }
        if first.starts_with('\t') {
            continue;
        }
        let line = logical.split('#').next().unwrap_or("");
        let Some(rest) = line.trim_start().strip_prefix("obj-") else {
            continue;
        };
        let Some(op) = rest.find(['+', ':', '=']) else {
            continue;
        };
        let suffix = rest[..op].trim().to_string();
        let value = rest[op..].trim_start_matches(['+', ':', '=']);
        let words = value.split_whitespace().map(str::to_string).collect();
        out.push((i as u32 + 1, suffix, words));
    }
    out
}

/// `$(CONFIG_X)` → `Some("X")`, `y` / `m` → `None`.
fn suffix_symbol(suffix: &str) -> Option<String> {
    suffix
        .strip_prefix("$(CONFIG_")
        .and_then(|s| s.strip_suffix(')'))
        .map(str::to_string)
}

/// The rule for `object` (e.g. `dummy.o`) in `makefile`: (line, symbol).
fn rule_in(tree: &Path, makefile: &str, object: &str) -> (u32, String) {
    let text = std::fs::read_to_string(tree.join(makefile)).unwrap();
    let hits: Vec<_> = simple_obj_lines(&text)
        .into_iter()
        .filter(|(_, _, words)| words.iter().any(|w| w == object))
        .collect();
    assert_eq!(hits.len(), 1, "{makefile}: rules for {object}: {hits:?}");
    let (line, suffix, _) = &hits[0];
    let sym = suffix_symbol(suffix).unwrap_or_else(|| panic!("{makefile}:{line}: {suffix}"));
    (*line, sym)
}

/// The kbuild file under `subtree` with a one-line rule for `object`.
fn find_rule(tree: &Path, subtree: &str, object: &str) -> (String, u32, String) {
    let mut found = Vec::new();
    let mut stack = vec![tree.join(subtree)];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if matches!(
                p.file_name().and_then(|n| n.to_str()),
                Some("Makefile" | "Kbuild")
            ) {
                let text = std::fs::read_to_string(&p).unwrap();
                for (line, suffix, words) in simple_obj_lines(&text) {
                    if words.iter().any(|w| w == object) {
                        let rel = p.strip_prefix(tree).unwrap().to_string_lossy().into_owned();
                        found.push((rel, line, suffix_symbol(&suffix).unwrap()));
                    }
                }
            }
        }
    }
    assert_eq!(
        found.len(),
        1,
        "rules for {object} under {subtree}: {found:?}"
    );
    found.pop().unwrap()
}

/// The symbols of the one entry per directory from `from` (a directory
/// reached unconditionally, `""` for the top) down to `dir`, read from the
/// parents' kbuild files, each once.
fn dir_chain(tree: &Path, from: &str, dir: &str) -> Vec<String> {
    let mut symbols = Vec::new();
    let mut parent = from.to_string();
    let rest = dir.strip_prefix(from).unwrap().trim_start_matches('/');
    for comp in rest.split('/') {
        let kf = kbuild_file(tree, &parent);
        let text = std::fs::read_to_string(tree.join(&kf)).unwrap();
        let want = format!("{comp}/");
        let hits: Vec<_> = simple_obj_lines(&text)
            .into_iter()
            .filter(|(_, _, words)| words.contains(&want))
            .collect();
        assert_eq!(
            hits.len(),
            1,
            "{}: entries for {want}: {hits:?}",
            kf.display()
        );
        if let Some(sym) = suffix_symbol(&hits[0].1) {
            // each symbol once, where it first guards
            if !symbols.contains(&sym) {
                symbols.push(sym);
            }
        }
        parent = if parent.is_empty() {
            comp.to_string()
        } else {
            format!("{parent}/{comp}")
        };
    }
    symbols
}

/// The source of `module` with the rule at `makefile:line`.
fn source_at(ver: &str, module: &str, makefile: &str, line: u32) -> ModuleSource {
    let sources = map(ver).lookup(module);
    sources
        .iter()
        .find(|s| s.makefile == Path::new(makefile) && s.line == line)
        .unwrap_or_else(|| panic!("{ver}: {module}: no source at {makefile}:{line}: {sources:#?}"))
        .clone()
}

/// Checks a generic module whose directory chain has one entry per level.
fn check_generic(ver: &str, module: &str, object: &str, makefile: &str, symbol: &str) {
    let t = tree(ver);
    let (line, sym) = rule_in(&t, makefile, object);
    assert_eq!(sym, symbol, "{ver}: {makefile}:{line}");
    let dir = Path::new(makefile).parent().unwrap().to_str().unwrap();
    let s = source_at(ver, module, makefile, line);
    assert_eq!(s.symbols, [symbol], "{ver}: {s:#?}");
    assert_eq!(s.dir_symbols, dir_chain(&t, "", dir), "{ver}: {s:#?}");
    assert_eq!(s.arch, None);
    assert_eq!(s.module, module.replace('-', "_"));
    let dirs: Vec<&Path> = s.dirs.iter().map(|d| d.dir.as_path()).collect();
    let mut want = Vec::new();
    let mut acc = PathBuf::new();
    for comp in dir.split('/') {
        acc.push(comp);
        want.push(acc.clone());
    }
    assert_eq!(dirs, want.iter().map(PathBuf::as_path).collect::<Vec<_>>());
}

#[test]
fn dummy() {
    for ver in VERSIONS {
        check_generic(ver, "dummy", "dummy.o", "drivers/net/Makefile", "DUMMY");
        // The Makefiles enter drivers/net/ with `obj-y += net/`:
        // NETDEVICES is a Kconfig dependency, not a directory guard.
        let s = &map(ver).lookup("dummy")[0];
        assert_eq!(s.makefile, Path::new("drivers/net/Makefile"));
        assert!(s.dir_symbols.is_empty(), "{s:#?}");
    }
}

#[test]
fn virtio_net() {
    for ver in VERSIONS {
        check_generic(
            ver,
            "virtio_net",
            "virtio_net.o",
            "drivers/net/Makefile",
            "VIRTIO_NET",
        );
        assert_eq!(map(ver).lookup("virtio-net"), map(ver).lookup("virtio_net"));
    }
}

#[test]
fn e1000e_composite() {
    for ver in VERSIONS {
        let mf = "drivers/net/ethernet/intel/e1000e/Makefile";
        check_generic(ver, "e1000e", "e1000e.o", mf, "E1000E");
        let s = &map(ver).lookup("e1000e")[0];
        assert_eq!(s.dir_symbols, ["ETHERNET", "NET_VENDOR_INTEL", "E1000E"]);
        // its parts are no modules
        let text = std::fs::read_to_string(tree(ver).join(mf)).unwrap();
        assert!(text.contains("e1000e-objs") || text.contains("e1000e-y"));
        for part in ["ich8lan", "netdev", "82571"] {
            assert!(text.contains(&format!("{part}.o")));
            assert!(map(ver).lookup(part).is_empty(), "{ver}: {part}");
        }
    }
}

#[test]
fn ext4_composite() {
    for ver in VERSIONS {
        check_generic(ver, "ext4", "ext4.o", "fs/ext4/Makefile", "EXT4_FS");
        let text = std::fs::read_to_string(tree(ver).join("fs/ext4/Makefile")).unwrap();
        assert!(text.contains("ext4-y"));
        assert!(map(ver).lookup("ext4_jbd2").is_empty());
        assert_eq!(map(ver).lookup("ext4")[0].dir_symbols, ["EXT4_FS"]);
    }
}

#[test]
fn nf_conntrack() {
    for ver in VERSIONS {
        check_generic(
            ver,
            "nf_conntrack",
            "nf_conntrack.o",
            "net/netfilter/Makefile",
            "NF_CONNTRACK",
        );
        assert_eq!(
            map(ver).lookup("nf_conntrack")[0].dir_symbols,
            ["NET", "NETFILTER"]
        );
    }
}

#[test]
fn snd_hda_intel_with_dashes() {
    for ver in VERSIONS {
        let t = tree(ver);
        let (makefile, line, sym) = find_rule(&t, "sound", "snd-hda-intel.o");
        assert_eq!(sym, "SND_HDA_INTEL");
        check_generic(ver, "snd-hda-intel", "snd-hda-intel.o", &makefile, &sym);
        let s = source_at(ver, "snd-hda-intel", &makefile, line);
        assert_eq!(s.module, "snd_hda_intel");
        assert_eq!(
            map(ver).lookup("snd_hda_intel"),
            map(ver).lookup("snd-hda-intel")
        );
    }
}

#[test]
fn aesni_intel_is_x86() {
    for ver in VERSIONS {
        let t = tree(ver);
        let mf = "arch/x86/crypto/Makefile";
        let (line, sym) = rule_in(&t, mf, "aesni-intel.o");
        assert_eq!(sym, "CRYPTO_AES_NI_INTEL");
        let sources = map(ver).lookup("aesni_intel");
        assert_eq!(sources, map(ver).lookup("aesni-intel"));
        let s = &sources[0];
        assert_eq!(
            (s.makefile.as_path(), s.line, s.arch.as_deref()),
            (Path::new(mf), line, Some("x86"))
        );
        assert_eq!(s.symbols, [sym]);
        // arch/$(SRCARCH)/ from the top-level Kbuild, then crypto/ from
        // arch/x86/Kbuild
        let kbuild = std::fs::read_to_string(t.join("Kbuild")).unwrap();
        let top = &s.dirs[0];
        assert_eq!(top.dir, Path::new("arch/x86"));
        let l = top.entries[0].line as usize;
        assert!(kbuild
            .lines()
            .nth(l - 1)
            .unwrap()
            .contains("arch/$(SRCARCH)/"));
        assert_eq!(s.dir_symbols, dir_chain(&t, "arch/x86", "arch/x86/crypto"));
        // every way is x86's, or um's which builds arch/x86/crypto too
        for s in &sources {
            assert!(matches!(s.arch.as_deref(), Some("x86" | "um")), "{s:#?}");
        }
    }
}

#[test]
fn unknown_and_not_modules() {
    for ver in VERSIONS {
        let m = map(ver);
        assert!(m.lookup("no_such_module_anywhere").is_empty());
        assert!(m.lookup("").is_empty());
        // only in tools/, which kbuild never descends into
        assert!(m.lookup("bpf_testmod").is_empty());
        // obj-$(subst m,y,$(CONFIG_IPV6)) += netlabel_calipso.o: built in
        let text = std::fs::read_to_string(tree(ver).join("net/netlabel/Makefile")).unwrap();
        assert!(text.contains("obj-$(subst m,y,$(CONFIG_IPV6)) += netlabel_calipso.o"));
        assert!(m.lookup("netlabel_calipso").is_empty());
    }
}

#[test]
fn combined_symbols_and_conditions() {
    for ver in VERSIONS {
        // obj-$(subst y,$(CONFIG_L2TP),$(CONFIG_PPPOL2TP)) += l2tp_ppp.o
        let s = &map(ver).lookup("l2tp_ppp")[0];
        let mut syms = s.symbols.clone();
        syms.sort();
        assert_eq!(syms, ["L2TP", "PPPOL2TP"]);
        // inside `ifneq ($(CONFIG_IPV6),)`
        let s = &map(ver).lookup("l2tp_ip6")[0];
        assert_eq!(s.conditions.len(), 1, "{s:#?}");
        assert_eq!(s.conditions[0].directive, "ifneq ($(CONFIG_IPV6),)");
        assert!(!s.conditions[0].negated);
    }
}

#[test]
fn samples_are_guarded_by_samples() {
    for ver in VERSIONS {
        let t = tree(ver);
        let (line, sym) = rule_in(&t, "samples/kobject/Makefile", "kobject-example.o");
        let s = source_at(ver, "kobject-example", "samples/kobject/Makefile", line);
        assert_eq!(s.symbols, [sym]);
        assert_eq!(s.dir_symbols, dir_chain(&t, "", "samples/kobject"));
        assert_eq!(s.dir_symbols[0], "SAMPLES");
    }
}

#[test]
fn alternative_directory_entries() {
    for ver in VERSIONS {
        // drivers/Makefile enters usb/ through several symbols
        let s = &map(ver).lookup("xhci-pci")[0];
        let usb = s
            .dirs
            .iter()
            .find(|d| d.dir == Path::new("drivers/usb"))
            .unwrap();
        assert!(usb.entries.len() > 1, "{s:#?}");
        assert!(usb.entries.iter().any(|e| e.symbols == ["USB"]));
        // no symbol is needed on every way
        assert!(s.dir_symbols.is_empty(), "{s:#?}");
        assert_eq!(map(ver).lookup("xhci_pci").len(), 1);
    }
}

/// Every one-line `obj-$(CONFIG_X) += a.o b.o` rule without variables in
/// the kbuild files of drivers/, fs/, net/, sound/ and crypto/ that the
/// scan reached is in the map with its symbol and line.
#[test]
fn every_simple_rule_is_mapped() {
    for ver in VERSIONS {
        let t = tree(ver);
        let m = map(ver);
        let mut checked = 0;
        for dir in m.directories() {
            let d = dir.to_str().unwrap();
            if !["drivers/", "fs/", "net/", "sound/", "crypto/"]
                .iter()
                .any(|p| d.starts_with(p) || format!("{d}/") == *p)
            {
                continue;
            }
            let kf = kbuild_file(&t, d);
            let text = std::fs::read_to_string(t.join(&kf)).unwrap();
            for (line, suffix, words) in simple_obj_lines(&text) {
                let Some(sym) = suffix_symbol(&suffix) else {
                    continue;
                };
                if sym.contains('$') || words.iter().any(|w| w.contains('$')) {
                    continue;
                }
                for w in words.iter().filter(|w| w.ends_with(".o")) {
                    let name = w.trim_end_matches(".o").rsplit('/').next().unwrap();
                    if name.contains('.') {
                        continue;
                    }
                    let found = m
                        .lookup(name)
                        .iter()
                        .any(|s| s.makefile == kf && s.line == line && s.symbols == [sym.clone()]);
                    assert!(found, "{ver}: {}:{line}: {w} not mapped", kf.display());
                    checked += 1;
                }
            }
        }
        assert!(checked > 5000, "{ver}: only {checked} rules checked");
        eprintln!("{ver}: {checked} simple rules checked");
    }
}

/// Every kbuild file with rules under the generic top-level directories is
/// reached.
#[test]
fn generic_directories_are_reached() {
    for ver in VERSIONS {
        let t = tree(ver);
        let m = map(ver);
        let reached: std::collections::HashSet<&Path> = m.directories().collect();
        assert!(reached.len() > 2000, "{ver}: {}", reached.len());
        assert!(m.modules().count() > 10000);
        let mut missing = Vec::new();
        for top in [
            "drivers", "fs", "net", "sound", "crypto", "block", "mm", "kernel", "virt",
        ] {
            let mut stack = vec![PathBuf::from(top)];
            while let Some(d) = stack.pop() {
                let kf = kbuild_file(&t, d.to_str().unwrap());
                if let Ok(text) = std::fs::read_to_string(t.join(&kf)) {
                    let has_rules = simple_obj_lines(&text)
                        .iter()
                        .any(|(_, s, _)| s.starts_with("$(CONFIG_") || s == "m");
                    if has_rules && !reached.contains(d.as_path()) {
                        missing.push(d.clone());
                    }
                }
                for e in std::fs::read_dir(t.join(&d)).unwrap() {
                    let e = e.unwrap();
                    if e.file_type().unwrap().is_dir() {
                        stack.push(d.join(e.file_name()));
                    }
                }
            }
        }
        assert!(missing.is_empty(), "{ver}: not reached: {missing:?}");
    }
}
