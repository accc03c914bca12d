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
    let args = &line[start..];
    let args = &args[..args.find(')')?];
    let (base, frags) = args.split_once(',').unwrap_or((args, ""));
    Some(GeneratedDefconfig {
        base: base.trim().to_string(),
        fragments: frags
            .split_whitespace()
            .map(|f| format!("{f}.config"))
            .collect(),
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
}
