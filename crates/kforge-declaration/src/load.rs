//! Loading a declaration: includes, layers, merging.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::merge::{merge, Setting};
use crate::parse::{parse, FileDecl, When};
use crate::text::SourceFile;
use crate::{Conditional, Origin, Spec, SpecError};

/// The largest declaration or included file read: far above any real one
/// (the kernel's whole x86 Kconfig text is 6.4 MB), and a bound on memory.
pub const MAX_DECLARATION_BYTES: u64 = 16 << 20;

/// The deepest chain of includes: far above any real layering, and below
/// what the loader's recursion can take.
pub const MAX_INCLUDE_DEPTH: usize = 32;

/// The settings one file contributes to the layers.
struct FileLayer {
    config: Vec<Setting>,
    whens: Vec<When>,
}

#[derive(Default)]
struct Loader {
    /// The files being loaded, outermost first: canonical path (to find
    /// cycles) and the path as written (for messages).
    stack: Vec<(PathBuf, Rc<PathBuf>)>,
    /// Canonical paths of every file read so far.
    seen: HashSet<PathBuf>,
    /// Included files' layers, in layer order.
    layers: Vec<FileLayer>,
    /// Included files, in layer order.
    includes: Vec<PathBuf>,
}

impl Loader {
    /// Parse `file`, then load its includes (depth-first) into `layers`.
    fn file(
        &mut self,
        file: &SourceFile,
        canonical: PathBuf,
        main: bool,
    ) -> Result<FileDecl, SpecError> {
        let mut decl = parse(file, main)?;
        self.stack.push((canonical, file.path.clone()));
        for include in std::mem::take(&mut decl.includes) {
            let fail = |message: String| SpecError::At {
                origin: include.origin.clone(),
                message,
                help: None,
            };
            let shown = include.path.display();
            let canonical = fs::canonicalize(&include.path).map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => fail(format!("included file {shown} does not exist")),
                _ => fail(format!("cannot read included file {shown}: {e}")),
            })?;
            if let Some(at) = self.stack.iter().position(|(c, _)| *c == canonical) {
                let chain: Vec<String> = self.stack[at..]
                    .iter()
                    .map(|(_, p)| p.display().to_string())
                    .chain([shown.to_string()])
                    .collect();
                return Err(fail(format!("include cycle: {}", chain.join(" -> "))));
            }
            if !self.seen.insert(canonical.clone()) {
                // Already included elsewhere (not a cycle): its settings
                // are in the layers once, where it was first included.
                continue;
            }
            if self.stack.len() >= MAX_INCLUDE_DEPTH {
                return Err(fail(format!(
                    "cannot include {shown}: includes nest more than {MAX_INCLUDE_DEPTH} files deep \
                     (from {}); flatten the chain",
                    self.stack[0].1.display()
                )));
            }
            let text =
                kforge_fs::read_text_limited(&include.path, MAX_DECLARATION_BYTES, "a declaration")
                    .map_err(|e| fail(format!("cannot read included file {shown}: {e}")))?;
            let sub = SourceFile::new(Rc::new(include.path.clone()), text);
            let decl = self.file(&sub, canonical, false)?;
            self.layers.push(FileLayer {
                config: decl.config,
                whens: decl.whens,
            });
            self.includes.push(include.path);
        }
        self.stack.pop();
        Ok(decl)
    }
}

impl Spec {
    /// Read the declaration at `path` and every file it includes, check
    /// them, and merge their layers (see the [crate] documentation).
    pub fn load(path: &Path) -> Result<Spec, SpecError> {
        let io_error = |source| SpecError::Io {
            path: path.to_path_buf(),
            source,
        };
        let text = kforge_fs::read_text_limited(path, MAX_DECLARATION_BYTES, "a declaration")
            .map_err(io_error)?;
        let canonical = fs::canonicalize(path).map_err(io_error)?;
        let file = SourceFile::new(Rc::new(path.to_path_buf()), text);
        let mut loader = Loader::default();
        loader.seen.insert(canonical.clone());
        let main = loader.file(&file, canonical, true)?;

        let mut unconditional = Vec::new();
        let mut whens: Vec<(String, Origin, Vec<Setting>)> = Vec::new();
        let main_layer = FileLayer {
            config: main.config,
            whens: main.whens,
        };
        for layer in loader.layers.into_iter().chain([main_layer]) {
            unconditional.extend(layer.config);
            for when in layer.whens {
                match whens.iter_mut().find(|(s, _, _)| *s == when.symbol) {
                    Some((_, _, settings)) => settings.extend(when.settings),
                    None => whens.push((when.symbol, when.origin, when.settings)),
                }
            }
        }
        let mut patches = Vec::new();
        for (patch, settings) in main.patches {
            unconditional.extend(settings);
            patches.push(patch);
        }
        let mut externals = Vec::new();
        for (external, settings) in main.externals {
            unconditional.extend(settings);
            externals.push(external);
        }

        let requests = merge(unconditional, "")?;
        let conditionals = whens
            .into_iter()
            .map(|(symbol, origin, settings)| {
                let requests = merge(settings, &format!(" in [when.{symbol}]"))?;
                Ok(Conditional {
                    symbol,
                    origin,
                    requests,
                })
            })
            .collect::<Result<_, SpecError>>()?;
        Ok(Spec {
            path: path.to_path_buf(),
            source: main.source.expect("checked by parse"),
            build: main.build.expect("checked by parse"),
            requests,
            conditionals,
            patches,
            modules: main.modules,
            externals,
            test: main.test,
            store: main.store,
            includes: loader.includes,
        })
    }
}
