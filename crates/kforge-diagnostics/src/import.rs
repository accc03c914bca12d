//! The words of `kforge import`.

use std::fmt::Write as _;

use kforge_pipeline::import::{self, Import};

/// The error for a declaration that resolves to something else than what
/// `make olddefconfig` on the input `input` writes: the lines only one of
/// them has (at most 20 each), or that the order differs.
pub fn mismatch(imp: &Import, input: &str) -> String {
    let mut out = format!(
        "error: the imported declaration does not resolve to {input} byte for byte (after {} rounds); ",
        imp.rounds
    );
    let (missing, extra) = import::differing_lines(&imp.target, &imp.resolved);
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

#[cfg(test)]
mod tests {
    use super::*;
    use kforge_pipeline::import::Import;

    #[test]
    fn a_declaration_that_does_not_resolve_byte_for_byte_is_reported() {
        let imp = |resolved: &str, rounds| Import {
            declaration: String::new(),
            requests: 0,
            savedefconfig: 0,
            rounds,
            list: Vec::new(),
            target: "CONFIG_A=y\n# CONFIG_B is not set\n".into(),
            resolved: resolved.into(),
        };
        let extra = imp(
            "CONFIG_A=y\n# CONFIG_B is not set\n# CONFIG_C is not set\n",
            2,
        );
        let r = mismatch(&extra, "vendor.config");
        assert!(
            r.starts_with("error: the imported declaration does not resolve to vendor.config byte for byte (after 2 rounds); these lines differ:\n"),
            "{r}"
        );
        assert!(r.contains("\n  + # CONFIG_C is not set\n"), "{r}");
        assert!(!r.contains("  - "), "{r}");
        let r = mismatch(&imp("# CONFIG_B is not set\nCONFIG_A=y\n", 1), "v");
        assert!(
            r.ends_with("it has the same lines in another order\n"),
            "{r}"
        );
    }
}
