//! Stage 2, the source prepared: the tree a declaration is resolved and
//! built from, and its digest for the store key.

use std::path::{Path, PathBuf};

use kforge_declaration::Spec;

use crate::error::{io, Error};

/// Where the source tree comes from, and what is in it.
#[derive(Debug, Clone)]
pub struct SourceTree {
    /// The tree, ready for make.
    pub tree: PathBuf,
    /// `prepared:<key>` or `tree:<sha256>`: what is in the tree.
    pub digest: String,
    /// Which tree this is, whatever it holds now: the build directory is
    /// kept per place, so an edit in a given tree rebuilds incrementally.
    pub place: String,
    /// SHA-256 of each patch file, in order (none for a given tree).
    pub patches: Vec<String>,
}

/// The source tree of a declaration: `tree` as it is, or the declared
/// source prepared by kforge-source (fetched, verified, unpacked, patched,
/// `post_patch` run, cached). The one place trees come from.
///
/// Digest: for a prepared tree, the source crate's cache key (the
/// tarball's digest, each patch's digest and strip level and the
/// `post_patch` text). For a given tree, the SHA-256 of its canonical path
/// and [`kforge_store::tree_fingerprint`] (every file's path, size and
/// modification time): an edit anywhere in the tree is a new store entry,
/// built incrementally in the same build directory. A given tree is used
/// as it is, so a declaration with `[[patches]]` or `post_patch` is
/// refused with it. `progress`: show the download and unpacking.
pub fn prepare(spec: &Spec, tree: Option<&Path>, progress: bool) -> Result<SourceTree, Error> {
    match tree {
        Some(t) => given_tree(spec, t),
        None => {
            let p = kforge_source::prepare(&kforge_source::Cache::default(), spec, progress)?;
            let digest = format!("prepared:{}", p.key);
            Ok(SourceTree {
                tree: p.tree,
                place: digest.clone(),
                digest,
                patches: p.patch_sha256.iter().map(hex::encode).collect(),
            })
        }
    }
}

/// The tree to resolve against, without the fingerprint a build needs:
/// `tree` as it is, or the declared source prepared.
pub fn tree_only(spec: &Spec, tree: Option<&Path>, progress: bool) -> Result<PathBuf, Error> {
    match tree {
        Some(t) => Ok(t.to_path_buf()),
        None => Ok(kforge_source::prepare(&kforge_source::Cache::default(), spec, progress)?.tree),
    }
}

fn given_tree(spec: &Spec, t: &Path) -> Result<SourceTree, Error> {
    if let Some(p) = spec.patches.first() {
        return Err(Error::PatchesWithTree(p.origin.clone()));
    }
    if spec.build.post_patch.is_some() {
        return Err(Error::PostPatchWithTree);
    }
    let tree = std::fs::canonicalize(t).map_err(io(t.display().to_string()))?;
    if !tree.join("Makefile").is_file() {
        return Err(Error::NotAKernelTree(tree));
    }
    let fingerprint = kforge_store::tree_fingerprint(&tree).map_err(|source| Error::Read {
        path: tree.clone(),
        source,
    })?;
    let place = kforge_store::sha256_hex(tree.as_os_str().as_encoded_bytes());
    Ok(SourceTree {
        digest: format!(
            "tree:{}",
            kforge_store::sha256_hex(format!("{place}\n{fingerprint}").as_bytes())
        ),
        place: format!("tree:{place}"),
        tree,
        patches: Vec::new(),
    })
}
