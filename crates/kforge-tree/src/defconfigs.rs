//! Default configurations an architecture's Makefile makes rather than
//! ships: `ppc64le_defconfig` is `ppc64_defconfig` with `le.config` merged
//! in (`$(call merge_into_defconfig,ppc64_defconfig,le)` in
//! `arch/powerpc/Makefile`), then olddefconfig. `make ARCH=powerpc
//! defconfig` on another host builds that target, since
//! `KBUILD_DEFCONFIG` names it and no such file exists.

use std::path::Path;

/// How make builds a generated default configuration: the files of
/// `arch/$SRCARCH/configs/` merged in order, the first in full, the others
/// line by line over it, then one olddefconfig.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedDefconfig {
    /// `ppc64_defconfig` (a file of `arch/$SRCARCH/configs/`).
    pub base: String,
    /// `le.config`, `guest.config`, ... in merge order.
    pub fragments: Vec<String>,
    /// Whether make reports a value a fragment redefines
    /// (`merge_into_defconfig`; `merge_into_defconfig_override` passes
    /// `-Q`).
    pub warn_override: bool,
    /// mips' generic targets (`32r2el_defconfig`, its `KBUILD_DEFCONFIG`):
    /// the board fragments (`generic/board-*.config`) merged after an
    /// olddefconfig of the rest, each when the `# require` lines it holds
    /// are met by that configuration ([`board_applies`]), as
    /// `arch/mips/tools/generic-board-config.sh` merges them; then one more
    /// olddefconfig. Empty elsewhere.
    pub boards: Vec<String>,
}

/// Whether a mips board fragment's `# require CONFIG_X=y` (a line
/// `CONFIG_X=y` in `reference`) and `# require CONFIG_X=n` (no such line)
/// all hold; any other requirement skips the board, as the script does.
pub fn board_applies(board: &str, reference: &str) -> bool {
    board
        .lines()
        .filter_map(|l| l.strip_prefix("# require "))
        .all(|req| {
            let req = req.trim_end();
            if req.ends_with("=y") {
                reference.lines().any(|l| l == req)
            } else if let Some(sym) = req.strip_suffix("=n") {
                let y = format!("{sym}=y");
                !reference.lines().any(|l| l == y)
            } else {
                false
            }
        })
}

/// mips' `{32,64}{r1,r2,r6}[el]_defconfig` and `micro32r2[el]_defconfig`:
/// `generic_defconfig` with the ISA's and the byte order's fragments, then
/// every board fragment of `configs/generic/` (`$(BOARDS)` by default).
fn mips_generic(srctree: &Path, makefile: &str, name: &str) -> Option<GeneratedDefconfig> {
    if !makefile.contains("gen_generic_defconfigs") {
        return None;
    }
    let stem = name.strip_suffix("_defconfig")?;
    let (isa, endian) = match stem.strip_suffix("el") {
        Some(isa) => (isa, "el"),
        None => (stem, "eb"),
    };
    let known = ["32r1", "32r2", "32r6", "64r1", "64r2", "64r6", "micro32r2"];
    if !known.contains(&isa) {
        return None;
    }
    let dir = srctree.join("arch/mips/configs/generic");
    let mut boards: Vec<String> = std::fs::read_dir(&dir)
        .ok()?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|f| f.starts_with("board-") && f.ends_with(".config"))
        .map(|f| format!("generic/{f}"))
        .collect();
    boards.sort();
    Some(GeneratedDefconfig {
        base: "generic_defconfig".to_string(),
        fragments: vec![
            format!("generic/{isa}.config"),
            format!("generic/{endian}.config"),
        ],
        warn_override: true,
        boards,
    })
}

/// What `scripts/kconfig/merge_config.sh -m` makes of a
/// [`GeneratedDefconfig`]: the `.config` it writes, before make's
/// olddefconfig, and what it prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    /// The merged `.config` text.
    pub text: String,
    /// Its output lines (`Using ... as base`, `Merging ...`, redefined
    /// values), without the closing note.
    pub log: Vec<String>,
}

impl GeneratedDefconfig {
    /// Merge the files as `merge_config.sh -m` does: the base, then for
    /// each fragment the lines naming a symbol it sets dropped (any line
    /// holding `CONFIG_X=` or `CONFIG_X `) and the fragment appended after
    /// an empty line.
    pub fn merge(&self, srctree: &Path, srcarch: &str) -> std::io::Result<Merged> {
        let dir = srctree.join("arch").join(srcarch).join("configs");
        let read = |f: &str| -> std::io::Result<(String, String)> {
            let p = dir.join(f);
            let text = std::fs::read_to_string(&p)
                .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", p.display())))?;
            Ok((p.display().to_string(), text))
        };
        let (base_path, mut text) = read(&self.base)?;
        let mut log = vec![format!("Using {base_path} as base")];
        for f in &self.fragments {
            let (path, frag) = read(f)?;
            log.push(format!("Merging {path}"));
            for sym in frag.lines().filter_map(set_symbol) {
                if !has_word(&text, sym) {
                    continue;
                }
                let line_of = |t: &str| {
                    t.lines()
                        .filter(|l| has_word(l, sym))
                        .collect::<Vec<_>>()
                        .join(" ")
                };
                let (prev, new) = (line_of(&text), line_of(&frag));
                if self.warn_override && prev != new {
                    log.push(format!("Value of {sym} is redefined by fragment {path}:"));
                    log.push(format!("Previous  value: {prev}"));
                    log.push(format!("New value:       {new}"));
                    log.push(String::new());
                }
                let (eq, sp) = (format!("{sym}="), format!("{sym} "));
                text = text
                    .split_inclusive('\n')
                    .filter(|l| !l.contains(&eq) && !l.contains(&sp))
                    .collect();
            }
            text.push('\n');
            text.push_str(&frag);
        }
        Ok(Merged { text, log })
    }
}

/// The symbol a `.config` line sets: `CONFIG_X=...` or `# CONFIG_X is not
/// set` (merge_config.sh's two sed expressions).
fn set_symbol(line: &str) -> Option<&str> {
    fn name(s: &str) -> Option<&str> {
        let n = s
            .strip_prefix("CONFIG_")?
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(s.len(), |i| i + "CONFIG_".len());
        Some(&s[..n])
    }
    if let Some(rest) = line.strip_prefix("# ") {
        let sym = name(rest)?;
        return (rest[sym.len()..] == *" is not set").then_some(sym);
    }
    let sym = name(line)?;
    line[sym.len()..].starts_with('=').then_some(sym)
}

/// `grep -w`: `word` in `text` with no word character on either side.
fn has_word(text: &str, word: &str) -> bool {
    let is_word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    text.match_indices(word).any(|(i, _)| {
        !is_word(text[..i].chars().next_back()) && !is_word(text[i + word.len()..].chars().next())
    })
}

/// The recipe of `name` in `arch/<srcarch>/Makefile` when it is a
/// `merge_into_defconfig` (or `_override`) call, following a rule that
/// only depends on another such target (`pseries_defconfig:
/// ppc64le_guest_defconfig`). `None` when the Makefile has no such rule.
pub fn generated_defconfig(
    srctree: &Path,
    srcarch: &str,
    name: &str,
) -> Option<GeneratedDefconfig> {
    let text = std::fs::read_to_string(srctree.join(format!("arch/{srcarch}/Makefile"))).ok()?;
    if srcarch == "mips" {
        if let Some(g) = mips_generic(srctree, &text, name) {
            return Some(g);
        }
    }
    // Continuation lines joined, as make reads them.
    let joined = text.replace("\\\n", " ");
    let lines: Vec<&str> = joined.lines().collect();
    let mut target = name.to_string();
    for _ in 0..8 {
        let at = lines.iter().position(|l| {
            l.split_once(':')
                .is_some_and(|(t, rest)| t.trim() == target && !rest.starts_with('='))
        })?;
        let prerequisite = lines[at].split_once(':')?.1.trim();
        let recipe = lines[at + 1..]
            .iter()
            .take_while(|l| l.starts_with('\t'))
            .find_map(|l| merge_call(l));
        match recipe {
            Some(g) => return Some(g),
            None if !prerequisite.is_empty() && !prerequisite.contains(' ') => {
                target = prerequisite.to_string();
            }
            None => return None,
        }
    }
    None
}

/// `$(call merge_into_defconfig,BASE,F1 F2)` in a recipe line.
fn merge_call(line: &str) -> Option<GeneratedDefconfig> {
    let start = line
        .find("$(call merge_into_defconfig_override,")
        .map(|i| i + "$(call merge_into_defconfig_override,".len())
        .or_else(|| {
            line.find("$(call merge_into_defconfig,")
                .map(|i| i + "$(call merge_into_defconfig,".len())
        })?;
    let warn_override = !line.contains("$(call merge_into_defconfig_override,");
    let args = &line[start..];
    let args = &args[..args.find(')')?];
    let (base, frags) = args.split_once(',').unwrap_or((args, ""));
    Some(GeneratedDefconfig {
        base: base.trim().to_string(),
        fragments: frags
            .split_whitespace()
            .map(|f| format!("{f}.config"))
            .collect(),
        warn_override,
        boards: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_rules_and_rules_that_name_another() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("arch/powerpc")).unwrap();
        std::fs::write(
            d.path().join("arch/powerpc/Makefile"),
            "KBUILD_DEFCONFIG := ppc64le_defconfig\n\
             generated_configs += ppc64le_defconfig\n\
             ppc64le_defconfig:\n\
             \t$(call merge_into_defconfig,ppc64_defconfig,le)\n\
             \n\
             guest_defconfig:\n\
             \t$(call merge_into_defconfig,ppc64_defconfig,\\\n\
             \t\tle guest kvm_guest)\n\
             pseries_defconfig: guest_defconfig\n\
             virt_defconfig:\n\
             \t$(call merge_into_defconfig_override,defconfig,virt)\n\
             other_defconfig:\n\
             \t$(Q)$(MAKE) allmodconfig\n",
        )
        .unwrap();
        let g = |n: &str| generated_defconfig(d.path(), "powerpc", n);
        let want = |b: &str, f: &[&str]| {
            Some(GeneratedDefconfig {
                base: b.into(),
                fragments: f.iter().map(|s| s.to_string()).collect(),
                warn_override: b != "defconfig",
                boards: Vec::new(),
            })
        };
        assert_eq!(
            g("ppc64le_defconfig"),
            want("ppc64_defconfig", &["le.config"])
        );
        let guest = want(
            "ppc64_defconfig",
            &["le.config", "guest.config", "kvm_guest.config"],
        );
        assert_eq!(g("guest_defconfig"), guest);
        assert_eq!(g("pseries_defconfig"), guest);
        assert_eq!(g("virt_defconfig"), want("defconfig", &["virt.config"]));
        assert_eq!(g("other_defconfig"), None);
        assert_eq!(g("absent_defconfig"), None);
        assert_eq!(
            generated_defconfig(d.path(), "x86", "ppc64le_defconfig"),
            None
        );
    }

    #[test]
    fn merging_drops_the_lines_a_fragment_sets_and_appends_it() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("arch/powerpc/configs");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("base_defconfig"),
            "CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_AB=m\nCONFIG_C=\"x\"\n",
        )
        .unwrap();
        std::fs::write(dir.join("f.config"), "CONFIG_B=y\nCONFIG_A=y\nCONFIG_D=1\n").unwrap();
        let g = GeneratedDefconfig {
            base: "base_defconfig".into(),
            fragments: vec!["f.config".into()],
            warn_override: true,
            boards: Vec::new(),
        };
        let m = g.merge(d.path(), "powerpc").unwrap();
        assert_eq!(
            m.text,
            "CONFIG_AB=m\nCONFIG_C=\"x\"\n\nCONFIG_B=y\nCONFIG_A=y\nCONFIG_D=1\n"
        );
        let base = dir.join("base_defconfig").display().to_string();
        let frag = dir.join("f.config").display().to_string();
        assert_eq!(
            m.log,
            [
                format!("Using {base} as base"),
                format!("Merging {frag}"),
                format!("Value of CONFIG_B is redefined by fragment {frag}:"),
                "Previous  value: # CONFIG_B is not set".to_string(),
                "New value:       CONFIG_B=y".to_string(),
                String::new(),
            ]
        );
        assert_eq!(set_symbol("# CONFIG_X is not set"), Some("CONFIG_X"));
        assert_eq!(set_symbol("# CONFIG_X is unset"), None);
        assert_eq!(set_symbol("CONFIG_X"), None);
        assert!(g.merge(d.path(), "arm").is_err());
    }

    #[test]
    fn mips_generic_targets_and_their_boards() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("arch/mips/configs/generic");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            d.path().join("arch/mips/Makefile"),
            "KBUILD_DEFCONFIG := 32r2el_defconfig\n$(eval $(call gen_generic_defconfigs,32 64,r1 r2 r6,eb el))\n",
        )
        .unwrap();
        for f in [
            "board-b.config",
            "board-a.config",
            "32r2.config",
            "el.config",
        ] {
            std::fs::write(dir.join(f), "").unwrap();
        }
        let g = generated_defconfig(d.path(), "mips", "32r2el_defconfig").unwrap();
        assert_eq!(g.base, "generic_defconfig");
        assert_eq!(g.fragments, ["generic/32r2.config", "generic/el.config"]);
        assert_eq!(
            g.boards,
            ["generic/board-a.config", "generic/board-b.config"]
        );
        let g = generated_defconfig(d.path(), "mips", "64r6_defconfig").unwrap();
        assert_eq!(g.fragments, ["generic/64r6.config", "generic/eb.config"]);
        assert_eq!(
            generated_defconfig(d.path(), "mips", "99r2el_defconfig"),
            None
        );
        assert_eq!(
            generated_defconfig(d.path(), "mips", "malta_defconfig"),
            None
        );

        let reference = "CONFIG_CPU_MIPS32_R2=y\n# CONFIG_X is not set\n";
        let board = |reqs: &str| format!("{reqs}\nCONFIG_BOARD=y\n");
        assert!(board_applies(
            &board("# require CONFIG_CPU_MIPS32_R2=y"),
            reference
        ));
        assert!(board_applies(&board("# require CONFIG_X=n"), reference));
        assert!(!board_applies(&board("# require CONFIG_X=y"), reference));
        assert!(!board_applies(
            &board("# require CONFIG_CPU_MIPS32_R2=n"),
            reference
        ));
        assert!(!board_applies(&board("# require CONFIG_X=m"), reference));
        assert!(board_applies("CONFIG_BOARD=y\n", reference));
    }
}
