//! Module requirements named by Kconfig symbol: `CONFIG_NAME` stands for
//! the modules the symbol builds (from the source tree's Makefiles) that a
//! built module tree has.

use std::path::{Path, PathBuf};

use depmod::closure::Tree;

/// Why a `CONFIG_NAME` target names no module.
#[derive(Debug, thiserror::Error)]
pub enum SymbolTargetError {
    /// A symbol target without the source tree to read Makefiles from.
    #[error("target {target} is a Kconfig symbol: give --tree DIR, the kernel source the modules were built from, whose Makefiles say which modules it builds")]
    NeedSource { target: String },
    /// The tree's Makefiles could not be read.
    #[error(transparent)]
    Scan(#[from] kforge_tree::KbuildError),
    /// No Makefile builds a module from the symbol.
    #[error("target {target}: no Makefile of {} builds a module from CONFIG_{symbol} (obj-$(CONFIG_{symbol}) += name.o)", source_tree.display())]
    NoModule {
        target: String,
        symbol: String,
        source_tree: PathBuf,
    },
    /// The symbol builds modules, none of which the module tree has.
    #[error("target {target}: it builds {}, and the module tree has none of them as a module or built in (was CONFIG_{symbol}=m or y in that build?)", modules.join(", "))]
    NoneBuilt {
        target: String,
        symbol: String,
        modules: Vec<String>,
    },
}

/// `targets` with each `CONFIG_NAME` replaced by the modules the symbol
/// builds (from `source`'s Makefiles) that `tree` has, as modules or built
/// in; other targets as they are.
pub fn expand_symbols(
    targets: &[String],
    source: Option<&Path>,
    tree: &Tree,
) -> Result<Vec<String>, SymbolTargetError> {
    let mut map = None;
    let mut out = Vec::new();
    for target in targets {
        let Some(symbol) = target.strip_prefix("CONFIG_") else {
            out.push(target.clone());
            continue;
        };
        let Some(src) = source else {
            return Err(SymbolTargetError::NeedSource {
                target: target.clone(),
            });
        };
        if map.is_none() {
            map = Some(kforge_tree::ModuleMap::scan(src)?);
        }
        let modules = map
            .as_ref()
            .map(|m| m.modules_of(symbol))
            .unwrap_or_default();
        if modules.is_empty() {
            return Err(SymbolTargetError::NoModule {
                target: target.clone(),
                symbol: symbol.to_string(),
                source_tree: src.to_path_buf(),
            });
        }
        let present: Vec<String> = modules
            .iter()
            .filter(|m| tree.module_path(m).is_some() || tree.is_builtin(m))
            .cloned()
            .collect();
        if present.is_empty() {
            return Err(SymbolTargetError::NoneBuilt {
                target: target.clone(),
                symbol: symbol.to_string(),
                modules,
            });
        }
        out.extend(present);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_symbol_target_without_a_source_tree_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("modules.dep"), "kernel/a.ko:\n").unwrap();
        let tree = Tree::open(dir.path()).unwrap();
        let plain = expand_symbols(&["a".into()], None, &tree).unwrap();
        assert_eq!(plain, ["a"]);
        let e = expand_symbols(&["CONFIG_A".into()], None, &tree).unwrap_err();
        assert!(e.to_string().contains("give --tree DIR"), "{e}");
    }
}
