//! The declared kernel source, for the commands that need a tree: fetched,
//! verified, unpacked, patched and cached by the `source` crate.

use std::io::IsTerminal;
use std::path::PathBuf;

/// The prepared tree of `spec` (prepared on first use, then reused).
pub fn unpacked_tree(
    spec: &kforge_declaration::Spec,
) -> Result<PathBuf, Box<kforge_source::SourceError>> {
    let progress = std::io::stderr().is_terminal();
    Ok(kforge_source::prepare(&kforge_source::Cache::default(), spec, progress)?.tree)
}

/// [`unpacked_tree`], with what the source crate knows of it (its cache
/// key, which covers the source, the patches and `post_patch`).
pub fn prepared_tree(
    spec: &kforge_declaration::Spec,
) -> Result<kforge_source::Prepared, Box<kforge_source::SourceError>> {
    let progress = std::io::stderr().is_terminal();
    Ok(kforge_source::prepare(
        &kforge_source::Cache::default(),
        spec,
        progress,
    )?)
}
