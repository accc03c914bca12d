//! Pipeline errors in words: the message, and the hint that mends it in
//! the words of the front the user came through (its flags, or the
//! declaration's keys).

use kforge_pipeline::Error;
use kforge_tree::env::Remedy;
use kforge_tree::targets::{Defconfig, TargetError};

use crate::{render, Level};

/// How the user gave the tree and architecture: the words of a hint.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Front {
    /// Flags (`kforge kconfig`, `kforge explain --tree --arch`).
    Flags,
    /// A declaration (`[build] arch`), and `--tree`.
    Declaration,
}

/// The hint that mends an environment error, in `front`'s words.
pub fn env_hint(remedy: &Remedy, front: Front) -> Option<String> {
    Some(match (remedy, front) {
        (Remedy::Tree, _) => "pass --tree DIR, the top directory of a Linux source tree (the one holding Makefile, Kconfig and arch/)".to_string(),
        (Remedy::Arch { available }, Front::Flags) => format!("pass --arch with one of: {available}"),
        (Remedy::Arch { available }, Front::Declaration) => {
            format!("set [build] arch in the declaration to one of: {available}")
        }
        (Remedy::CrossPrefix { srcarch }, Front::Flags) => format!(
            "pass --cross-compile PREFIX (e.g. {srcarch}-linux-gnu-) so clang gets --target from it, or configure with gcc (drop --llvm)"
        ),
        (Remedy::CrossPrefix { srcarch }, Front::Declaration) => format!(
            "set [build] cross_compile = \"{srcarch}-linux-gnu-\" so clang gets --target from it, or drop [build] llvm"
        ),
        (Remedy::CleanTree { tree, arch }, _) => format!(
            "run 'make ARCH={arch} mrproper' in {}, or configure in the tree itself (--objdir {})",
            tree.display(),
            tree.display()
        ),
        (Remedy::None, _) => return None,
    })
}

/// A failure before any request could be reported, as a diagnostic.
pub fn error(e: &Error) -> String {
    error_in(e, Front::Declaration)
}

/// [`error`], with hints in `front`'s words.
pub fn error_in(e: &Error, front: Front) -> String {
    use kforge_declaration::SpecError;
    match e {
        Error::Declaration(SpecError::At {
            origin,
            message,
            help,
        }) => render(
            Level::Error,
            None,
            message,
            Some(origin),
            "",
            &[],
            help.as_deref(),
        ),
        Error::Declaration(SpecError::Conflict {
            symbol,
            first,
            first_value,
            second,
            second_value,
        }) => {
            let mut s = render(
                Level::Error,
                None,
                &format!("conflicting requests for {symbol}"),
                Some(second),
                &format!("{symbol} = {second_value} here"),
                &[],
                Some("give one of them a higher priority, or remove the other with `{ unset = true }`"),
            );
            s.push_str(&render(
                Level::Note,
                None,
                &format!("{symbol} = {first_value} requested here"),
                Some(first),
                "",
                &[],
                None,
            ));
            s
        }
        Error::Resolve(kforge_resolve::ResolveError::NoFragment {
            name,
            origin,
            srcarch,
            available,
        }) => render(
            Level::Error,
            None,
            &format!("the tree has no fragment `{name}`"),
            Some(origin),
            &format!("not in kernel/configs/ nor arch/{srcarch}/configs/"),
            &[],
            Some(&if available.is_empty() {
                "this tree ships no fragments for this architecture".to_string()
            } else {
                format!("the fragments of this tree: {}", available.join(", "))
            }),
        ),
        Error::Env(env) => match env_hint(&env.remedy(), front) {
            Some(h) => format!("error: {env}\n  hint: {h}\n"),
            None => format!("error: {env}\n"),
        },
        Error::PatchesWithTree(origin) => format!(
            "error: {origin}: --tree DIR is built as it is, without the declared [[patches]]; drop --tree to have them applied\n"
        ),
        Error::PostPatchWithTree => "error: --tree DIR is built as it is, but the declaration has a [build] post_patch; drop --tree to have it run\n".to_string(),
        Error::NotAKernelTree(tree) => format!(
            "error: {}: not a kernel tree (it has no Makefile); give --tree the top directory of an unpacked kernel source\n",
            tree.display()
        ),
        Error::ImportArchMismatch {
            config,
            header_arch: h,
            header_version: v,
            arch,
            srcarch,
        } => {
            let fix = match front {
                Front::Flags => "give the matching --arch",
                Front::Declaration => "set the matching [build] arch",
            };
            format!(
                "error: {}: a configuration for {h} (its header says \"Linux/{h} {v}\"), but {} {arch} builds {srcarch}; {fix}\n",
                config.display(),
                if front == Front::Flags { "--arch" } else { "arch" }
            )
        }
        Error::ImportUnknownSymbols {
            config,
            unknown,
            symbols,
            arch,
            kernel_version,
        } => format!(
            "error: {}: {unknown} of its {symbols} symbols are unknown to this tree: a configuration for another architecture or kernel version? (--arch {arch}, tree {kernel_version})\n",
            config.display()
        ),
        Error::Unresolved { .. } => format!("error: {e}\n"),
        Error::NeedsCrossCompiler { prefix, package, .. } => format!(
            "error: {e}\n  help: add `cross_compile = \"{prefix}\"` to [build] (Debian: apt-get install {package}), or `llvm = true`\n"
        ),
        Error::MissingTool { cross_compile, .. } => format!(
            "error: {e}; install it{}\n",
            cross_compile
                .as_ref()
                .map_or(String::new(), |c| format!(" (cross_compile = \"{c}\")"))
        ),
        Error::Make {
            excerpt,
            errors_found,
            log,
            ..
        } => {
            let mut s = format!("error: {e}\n");
            for l in excerpt {
                if *errors_found {
                    s.push_str(&format!("  {l}\n"));
                } else {
                    s.push_str(&format!("  | {l}\n"));
                }
            }
            s.push_str(&format!(
                "  full log: {}\n  no store entry was made\n",
                log.display()
            ));
            s
        }
        Error::NotFixedPoint { changes, config } => {
            let mut s = format!("error: {e}:\n");
            for c in changes.iter().take(20) {
                s.push_str(&format!("  {c}\n"));
            }
            s.push_str(&format!(
                "  this is a bug in kforge's Kconfig engine; the configuration is {}\n",
                config.display()
            ));
            s
        }
        Error::External { name, source } => {
            let inner = error_in(source, front);
            format!(
                "error: external module `{name}`: {}",
                inner.strip_prefix("error: ").unwrap_or(&inner)
            )
        }
        Error::WrongVermagic { expected, .. } => format!(
            "error: {e}\n  the kernel's vermagic: {expected}\n  help: rebuild the module against this kernel (kforge module build DIR --spec KERNEL_TOML)\n"
        ),
        Error::Modules { log, .. } => format!(
            "error: {e}\n  full log: {}\n  no store entry was made\n",
            log.display()
        ),
        Error::NoSubstituters(_) => format!(
            "error: {e}\n  = help: name the cache: --push=DEST (s3://BUCKET/PREFIX?endpoint=... or file:///DIR), or declare [store] substituters = [\"...\"]\n"
        ),
        Error::NoSigningKey => format!(
            "error: {e}\n  = help: pass --key FILE (NAME.secret from `kforge store keygen NAME`), or set KFORGE_SIGNING_KEY to its path\n"
        ),
        other => format!("error: {other}\n"),
    }
}

/// The hint that mends a [`TargetError`], in the words of `kforge kconfig`
/// (the only front with configuration targets).
pub fn target_hint(e: &TargetError) -> String {
    match e {
        TargetError::DefconfigMissing { which, .. } => match which {
            Defconfig::Given => "check the path given to --defconfig-file".to_string(),
            Defconfig::ArchDefault { name, arch, srcarch } => format!(
                "'{name}' is neither a file nor a target arch/{srcarch}/Makefile makes by \
                 merging files for ARCH={arch}; pass --defconfig-file FILE or a \
                 NAME_defconfig target that exists in arch/{srcarch}/configs/"
            ),
            Defconfig::Named { srcarch } => format!(
                "see the files in arch/{srcarch}/configs/ of the tree for the available NAME_defconfig targets"
            ),
        },
        TargetError::GeneratedRead { srcarch, .. } => {
            format!("the files it merges belong in arch/{srcarch}/configs/ of the tree")
        }
        TargetError::WriteConfig { .. } => {
            "check that the object directory (--objdir) is writable".to_string()
        }
        TargetError::CompilerNotFound { program, arch, llvm, cross_compile, .. } => {
            if *llvm {
                "install clang and the LLVM tools, or point --llvm at them (--llvm=-VERSION or --llvm=/path/to/llvm/bin/)".to_string()
            } else if !cross_compile.is_empty() {
                format!(
                    "install the {arch} cross toolchain providing {program}, or fix --cross-compile (now '{cross_compile}'; it is prepended to gcc, ld, ...)"
                )
            } else {
                "install gcc, pass --cross-compile PREFIX for a cross toolchain, or --llvm to use clang".to_string()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hint_names_the_input_of_the_front_the_user_came_through() {
        let arch = Remedy::Arch {
            available: "x86 arm64".into(),
        };
        let flags = env_hint(&arch, Front::Flags).unwrap();
        assert!(
            flags.contains("--arch") && flags.contains("x86 arm64"),
            "{flags}"
        );
        let decl = env_hint(&arch, Front::Declaration).unwrap();
        assert!(decl.contains("[build] arch"), "{decl}");
        assert!(
            !decl.contains("--arch"),
            "a declaration has no --arch: {decl}"
        );
        let cross = Remedy::CrossPrefix {
            srcarch: "arm64".into(),
        };
        assert!(env_hint(&cross, Front::Declaration)
            .unwrap()
            .contains("[build] cross_compile"));
        assert!(env_hint(&cross, Front::Flags)
            .unwrap()
            .contains("--cross-compile"));
        assert_eq!(env_hint(&Remedy::None, Front::Flags), None);
    }

    #[test]
    fn an_unknown_architecture_in_a_declaration_is_worded_for_the_declaration() {
        let e = Error::Env(kforge_tree::env::KernelEnvError::UnknownArch {
            arch: "x86_46".into(),
            srcarch: "x86_46".into(),
            dir: "/t/arch/x86_46".into(),
            available: "x86 arm64".into(),
        });
        let text = error(&e);
        assert!(
            text.starts_with("error: unknown architecture 'x86_46'"),
            "{text}"
        );
        assert!(
            text.contains("hint: set [build] arch in the declaration to one of: x86 arm64"),
            "{text}"
        );
        assert!(error_in(&e, Front::Flags).contains("hint: pass --arch with one of: x86 arm64"));
    }
}
