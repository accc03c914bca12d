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
    /// The declared out-of-tree modules' sources, in build order.
    pub externals: Vec<ExternalTree>,
}

/// The source of one `[external.NAME]`, ready to build.
#[derive(Debug, Clone)]
pub struct ExternalTree {
    pub name: String,
    /// Its declaration (flags, uses).
    pub declared: kforge_declaration::External,
    /// The directory holding its Kbuild or Makefile (its `subdir`).
    pub dir: PathBuf,
    /// `archive:<sha256>` or `path:<sha256>` (of the directory's place and
    /// fingerprint, kbuild's outputs left out): what is in it.
    pub digest: String,
}

/// The declared externals' sources: archives fetched, verified and
/// unpacked into the cache; `path` directories taken as they are (never
/// written to) and fingerprinted. Each must hold a Kbuild or Makefile.
pub fn prepare_externals(
    cache: &kforge_source::Cache,
    spec: &Spec,
    progress: bool,
) -> Result<Vec<ExternalTree>, Error> {
    let mut out = Vec::new();
    for e in &spec.externals {
        let (root, digest) = match kforge_source::Fetchable::from_external(e) {
            Some(what) => {
                let (root, sha) = kforge_source::prepare_archive(cache, &what, progress)?;
                (root, format!("archive:{}", hex::encode(sha)))
            }
            None => {
                let kforge_declaration::ExternalSource::Path(p) = &e.source else {
                    unreachable!("from_external is None only for a path")
                };
                let root = std::fs::canonicalize(p).map_err(|source| Error::ExternalSource {
                    name: e.name.clone(),
                    origin: e.origin.clone(),
                    path: p.clone(),
                    source,
                })?;
                let fp = kforge_store::module_source_fingerprint(&root).map_err(|source| {
                    Error::ExternalSource {
                        name: e.name.clone(),
                        origin: e.origin.clone(),
                        path: root.clone(),
                        source,
                    }
                })?;
                let place = root.as_os_str().as_encoded_bytes();
                let digest =
                    kforge_store::sha256_hex([place, b"\n", fp.as_bytes()].concat().as_slice());
                (root, format!("path:{digest}"))
            }
        };
        let dir = root.join(&e.subdir);
        if !dir.join("Kbuild").is_file() && !dir.join("Makefile").is_file() {
            return Err(Error::ExternalNotAModule {
                name: e.name.clone(),
                origin: e.origin.clone(),
                dir,
            });
        }
        out.push(ExternalTree {
            name: e.name.clone(),
            declared: e.clone(),
            dir,
            digest,
        });
    }
    Ok(out)
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
                externals: prepare_externals(&kforge_source::Cache::default(), spec, progress)?,
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
        externals: prepare_externals(&kforge_source::Cache::default(), spec, false)?,
    })
}
