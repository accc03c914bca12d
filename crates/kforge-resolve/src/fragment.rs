//! The tree's own configuration fragments (`[build] fragments`).
//!
//! `make defconfig hardening.config` writes the default configuration,
//! then, for the target `hardening.config`, merges `kernel/configs/` and
//! `arch/$SRCARCH/configs/` files of that name into `.config` (each line
//! replacing the line for its symbol, as `merge_config.sh -m` does) and
//! runs olddefconfig once. [`crate::base_config`] does the same for each
//! fragment in turn, so a declaration's base is what make would write.
//!
//! Each line of a fragment also becomes a request of the layer
//! [`Layer::Fragment`]: it is already in the base, so it is not applied
//! again, but it is verified like an optional request (a line that did
//! not hold is reported with the engine's reason, at
//! `kernel/configs/hardening.config:LINE`), and any request of the
//! declaration for the same symbol takes its place.

use std::path::{Path, PathBuf};
use std::rc::Rc;

use kconfig_engine::Kconfig;
use kforge_declaration::{Fragment, Layer, Origin, Priority, Request, RequestValue};

use crate::ResolveError;

/// The most kforge reads of one fragment file (the kernel's largest are a
/// few KiB).
const MAX_FRAGMENT_BYTES: u64 = 1 << 20;

/// One file of a fragment, as read from the tree.
#[derive(Debug, Clone)]
pub struct FragmentFile {
    /// The path relative to the tree: `kernel/configs/hardening.config`.
    pub path: PathBuf,
    pub text: String,
}

/// A fragment the declaration names, with the files the tree has for it
/// (the generic one first, then the architecture's).
#[derive(Debug, Clone)]
pub struct LoadedFragment {
    pub name: String,
    pub files: Vec<FragmentFile>,
}

/// The directories make looks for a fragment in, relative to the tree.
pub(crate) fn fragment_dirs(srcarch: &str) -> [String; 2] {
    [
        "kernel/configs".to_string(),
        format!("arch/{srcarch}/configs"),
    ]
}

/// Read the files of each fragment in `declared` from `kc`'s tree. A name
/// with no file is [`ResolveError::NoFragment`], listing those there are.
pub fn load(kc: &Kconfig, declared: &[Fragment]) -> Result<Vec<LoadedFragment>, ResolveError> {
    if declared.is_empty() {
        return Ok(Vec::new());
    }
    let srctree = kc.srctree().ok_or(ResolveError::NoSrctree)?.to_path_buf();
    let srcarch = kc.getenv("SRCARCH").unwrap_or_default();
    let mut out = Vec::new();
    for f in declared {
        let mut files = Vec::new();
        for dir in fragment_dirs(&srcarch) {
            let rel = Path::new(&dir).join(&f.name);
            let path = srctree.join(&rel);
            if !path.exists() {
                continue;
            }
            let text = kforge_fs::read_text_limited(&path, MAX_FRAGMENT_BYTES, "a fragment")
                .map_err(|source| ResolveError::FragmentFile {
                    path: path.clone(),
                    source,
                })?;
            files.push(FragmentFile { path: rel, text });
        }
        if files.is_empty() {
            return Err(ResolveError::NoFragment {
                name: f.name.clone(),
                origin: f.origin.clone(),
                available: available(&srctree, &srcarch),
                srcarch,
            });
        }
        out.push(LoadedFragment {
            name: f.name.clone(),
            files,
        });
    }
    Ok(out)
}

/// The fragments the tree has for `srcarch`, sorted, each once.
pub fn available(srctree: &Path, srcarch: &str) -> Vec<String> {
    let mut names: Vec<String> = fragment_dirs(srcarch)
        .iter()
        .filter_map(|d| std::fs::read_dir(srctree.join(d)).ok())
        .flatten()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".config"))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The requests the lines of `fragments` make: one per symbol, the last
/// line for it (as the merge keeps it), in the order they are read.
pub fn requests(kc: &Kconfig, fragments: &[LoadedFragment]) -> Vec<Request> {
    let mut out: Vec<Request> = Vec::new();
    for frag in fragments {
        for file in &frag.files {
            let path = Rc::new(file.path.clone());
            for e in kconfig_engine::parse_config(&file.text, &kc.prefix) {
                out.retain(|r| r.symbol != e.name);
                out.push(Request {
                    symbol: e.name.to_string(),
                    value: RequestValue::Text(e.value.into_owned()),
                    optional: true,
                    priority: Priority::Default,
                    since: None,
                    until: None,
                    layer: Layer::Fragment(frag.name.clone()),
                    origin: Origin {
                        file: path.clone(),
                        line: e.line,
                        column: 1,
                    },
                });
            }
        }
    }
    out
}

/// The `(symbol, line)` pairs of one fragment file, as the merge reads it.
pub(crate) fn lines(kc: &Kconfig, file: &FragmentFile) -> Vec<(String, String)> {
    file.text
        .lines()
        .filter_map(|l| {
            crate::value::line_symbol(&kc.prefix, l).map(|n| (n.to_string(), l.to_string()))
        })
        .collect()
}
