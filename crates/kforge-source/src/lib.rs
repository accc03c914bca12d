//! The kernel source and its patches: fetched, verified, unpacked safely,
//! patched and cached.
//!
//! [`prepare`] does everything a declaration's `[source]`, `[[patches]]`
//! and `[build] post_patch` ask for, once per distinct input:
//!
//! 1. [`fetch`] the source tarball and each patch: a local file is hashed
//!    in place, a URL is downloaded into the cache's `downloads/` (resumably,
//!    hashing while it downloads); each is checked against its declared
//!    hash before it is used. A download needs a hash, except through
//!    [`fetch_unverified`], for the one case where the hash is what is
//!    wanted (`kforge update` locking a new release).
//! 2. [`unpack`] the tarball, refusing entries that would write outside the
//!    tree and anything but files, directories and links.
//! 3. [`apply_patches`] with GNU `patch`, each one dry-run first.
//! 4. [`run_post_patch`]: the declaration's shell snippet, in a clean
//!    environment.
//!
//! The result lives in `sources/<key>/` of the [`Cache`], where the key is
//! the SHA-256 of the source's digest, each patch's digest and strip level
//! and the `post_patch` text ([`cache_key`]). It is prepared in a temporary
//! directory and renamed into place, so a cache entry is complete or
//! absent; a lock file makes concurrent processes prepare it once.
//!
//! ```text
//! <cache>/downloads/<sha256-hex>        verified downloads
//! <cache>/downloads/<sha256-hex>.part   an interrupted download, resumed next time
//! <cache>/sources/<key>/                a prepared tree (its top directory)
//! <cache>/locks/download-<hex>.lock     held while <hex> is downloaded
//! <cache>/locks/source-<key>.lock       held while <key> is prepared
//! ```

// `SourceError` is large (its variants carry every name a message needs);
// it is returned at most once per operation, far from any hot loop.
#![allow(clippy::result_large_err)]
#![warn(missing_docs)]

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

mod compress;
mod error;
mod fetch;
mod patch;
mod post_patch;
mod unpack;

pub use compress::decompressed;
pub use error::SourceError;
pub use fetch::{fetch, fetch_unverified, sha256_file, Fetchable, Fetched, Location};
pub use patch::{apply_patches, PatchFile};
pub use post_patch::{run_post_patch, POST_PATCH_PATH};
pub use unpack::unpack;

/// kforge's cache directory: downloads and prepared source trees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cache {
    root: PathBuf,
}

impl Cache {
    /// A cache rooted at `root` (created on first use).
    pub fn new(root: impl Into<PathBuf>) -> Cache {
        Cache { root: root.into() }
    }

    /// `$XDG_CACHE_HOME/kforge` when `XDG_CACHE_HOME` is an absolute path,
    /// else `$HOME/.cache/kforge`, else `kforge` in the temporary directory.
    pub fn default_root() -> PathBuf {
        if let Some(xdg) = std::env::var_os("XDG_CACHE_HOME") {
            let xdg = PathBuf::from(xdg);
            if xdg.is_absolute() {
                return xdg.join("kforge");
            }
        }
        match std::env::var_os("HOME") {
            Some(home) if !home.is_empty() => PathBuf::from(home).join(".cache").join("kforge"),
            _ => std::env::temp_dir().join("kforge"),
        }
    }

    /// The cache's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where verified downloads are kept, named by their SHA-256 in hex.
    pub fn downloads_dir(&self) -> PathBuf {
        self.root.join("downloads")
    }

    /// Where prepared trees are kept, named by their [`cache_key`].
    pub fn sources_dir(&self) -> PathBuf {
        self.root.join("sources")
    }

    /// Where the lock files are (`download-<hex>.lock`, `source-<key>.lock`):
    /// kept apart so `downloads/` and `sources/` hold only finished work.
    pub fn locks_dir(&self) -> PathBuf {
        self.root.join("locks")
    }
}

impl Default for Cache {
    /// The cache at [`Cache::default_root`].
    fn default() -> Cache {
        Cache::new(Cache::default_root())
    }
}

/// A prepared source tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// The tree's top directory (`<cache>/sources/<key>`): unpacked,
    /// patched, `post_patch` run. Treat it as read-only: it is shared by
    /// every declaration with the same inputs.
    pub tree: PathBuf,
    /// The cache key ([`cache_key`]), 64 hex digits.
    pub key: String,
    /// The SHA-256 of the source tarball.
    pub source_sha256: [u8; 32],
    /// The SHA-256 of each patch file (as fetched, before decompression),
    /// in the declaration's order.
    pub patch_sha256: Vec<[u8; 32]>,
    /// True when the tree was already in the cache (prepared earlier or by
    /// a concurrent process).
    pub reused: bool,
}

/// The name of the prepared tree for these inputs: the SHA-256, in hex, of
/// the source's digest, each patch's digest and strip level in order, and
/// the `post_patch` text. Patch names do not count (renaming a patch does
/// not change the tree).
pub fn cache_key(
    source: &[u8; 32],
    patches: &[([u8; 32], u32)],
    post_patch: Option<&str>,
) -> String {
    let mut h = Sha256::new();
    h.update(b"kforge prepared source v1\n");
    h.update(format!("source {}\n", hex::encode(source)));
    for (digest, strip) in patches {
        h.update(format!("patch {} -p{strip}\n", hex::encode(digest)));
    }
    match post_patch {
        Some(text) => {
            h.update(format!("post_patch {}\n", text.len()));
            h.update(text.as_bytes());
        }
        None => h.update(b"no post_patch\n"),
    }
    hex::encode(h.finalize())
}

/// The declared source, patched and `post_patch` run, from the cache or
/// prepared into it.
///
/// Fetches and verifies the source and every patch first (see [`fetch`];
/// a wrong hash fails before anything is unpacked and leaves nothing in
/// the cache), then looks for `sources/<key>`. When it is missing, it takes
/// the lock `locks/source-<key>.lock` (waiting for a concurrent process that
/// holds it, then using its result), unpacks the source into a temporary
/// directory in `sources/`, applies the patches, runs `post_patch` (its
/// `KFORGE_SRCTREE` is that temporary place: the snippet must not record
/// the absolute path) and renames the tree into place. Any failure removes
/// the temporary directory: a cache entry is never half prepared.
pub fn prepare(
    cache: &Cache,
    spec: &kforge_declaration::Spec,
    progress: bool,
) -> Result<Prepared, SourceError> {
    let source = fetch(cache, &Fetchable::from_source(&spec.source)?, progress)?;
    let mut patch_files = Vec::new();
    let mut patch_sha256 = Vec::new();
    for p in &spec.patches {
        let got = fetch(cache, &Fetchable::from_patch(p), progress)?;
        patch_sha256.push(got.sha256);
        patch_files.push(PatchFile {
            name: p.name.clone(),
            path: got.path,
            strip: p.strip,
        });
    }
    let digests: Vec<([u8; 32], u32)> = patch_sha256
        .iter()
        .zip(&spec.patches)
        .map(|(d, p)| (*d, p.strip))
        .collect();
    let post_patch = spec.build.post_patch.as_deref();
    let key = cache_key(&source.sha256, &digests, post_patch);
    let (tree, reused) = cached_tree(
        cache,
        &key,
        |root| {
            apply_patches(root, &patch_files)?;
            if let Some(script) = post_patch {
                run_post_patch(root, script)?;
            }
            Ok(())
        },
        &source.path,
    )?;
    Ok(Prepared {
        tree,
        key,
        source_sha256: source.sha256,
        patch_sha256,
        reused,
    })
}

/// A declared archive (an out-of-tree module's `tarball` or `url`),
/// fetched, verified and unpacked into the cache as [`prepare`] does for a
/// kernel source without patches: its root directory and the archive's
/// SHA-256.
pub fn prepare_archive(
    cache: &Cache,
    what: &Fetchable,
    progress: bool,
) -> Result<(PathBuf, [u8; 32]), SourceError> {
    let archive = fetch(cache, what, progress)?;
    let key = cache_key(&archive.sha256, &[], None);
    let (tree, _) = cached_tree(cache, &key, |_| Ok(()), &archive.path)?;
    Ok((tree, archive.sha256))
}

/// `sources/<key>`: found, or unpacked from `archive` and finished by
/// `finish` under the key's lock, then renamed into place (never half
/// prepared). Also says whether it was found.
fn cached_tree(
    cache: &Cache,
    key: &str,
    finish: impl FnOnce(&Path) -> Result<(), SourceError>,
    archive: &Path,
) -> Result<(PathBuf, bool), SourceError> {
    let sources = cache.sources_dir();
    let tree = sources.join(key);
    if tree.is_dir() {
        return Ok((tree, true));
    }
    fs::create_dir_all(&sources).map_err(SourceError::io(&sources, "create the directory"))?;
    let _lock = lock(&cache.locks_dir().join(format!("source-{key}.lock")))?;
    if tree.is_dir() {
        return Ok((tree, true));
    }
    // Leftovers of a process that died while preparing this key (we hold
    // its lock, so nobody else is working on them).
    let prefix = format!(".{key}.prepare-");
    if let Ok(entries) = fs::read_dir(&sources) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                remove_tree(&e.path());
            }
        }
    }
    let staging = Staging::new(&sources, &prefix)?;
    let root = unpack(archive, &staging.path().join("unpacked"))?;
    finish(&root)?;
    fs::rename(&root, &tree).map_err(SourceError::io(&tree, "move the prepared tree into"))?;
    drop(staging);
    Ok((tree, false))
}

/// An exclusive lock on `path` (created if needed, with its directory),
/// held until the file is dropped; waits while another process (or thread)
/// holds it. Lock files are never removed: removing one while another
/// process waits on it would let a third take a second lock.
pub(crate) fn lock(path: &Path) -> Result<File, SourceError> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(SourceError::io(dir, "create the directory"))?;
    }
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(SourceError::io(path, "create the lock file"))?;
    file.lock().map_err(SourceError::io(path, "lock"))?;
    Ok(file)
}

/// Remove a directory tree, making its directories writable first if that
/// is what stops it. Best effort.
pub(crate) fn remove_tree(path: &Path) {
    if fs::remove_dir_all(path).is_ok() || fs::symlink_metadata(path).is_err() {
        return;
    }
    fn writable(dir: &Path) {
        let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
        if let Ok(entries) = fs::read_dir(dir) {
            for e in entries.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    writable(&e.path());
                }
            }
        }
    }
    writable(path);
    let _ = fs::remove_dir_all(path);
}

/// A new temporary directory, removed when dropped unless renamed away.
pub(crate) struct Staging {
    path: PathBuf,
    armed: bool,
}

impl Staging {
    /// A new directory in `parent` named `prefix` + process id + counter.
    pub(crate) fn new(parent: &Path, prefix: &str) -> Result<Staging, SourceError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = parent.join(format!("{prefix}{}-{n}", std::process::id()));
            match fs::create_dir(&path) {
                Ok(()) => return Ok(Staging { path, armed: true }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(SourceError::io(path, "create the directory")(e)),
            }
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Move the directory to `dest` (which must not exist).
    pub(crate) fn rename_to(mut self, dest: &Path) -> Result<(), SourceError> {
        if fs::symlink_metadata(dest).is_ok() {
            return Err(SourceError::DestinationExists {
                path: dest.to_path_buf(),
            });
        }
        fs::rename(&self.path, dest)
            .map_err(SourceError::io(dest, "move the unpacked tree into"))?;
        self.armed = false;
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if self.armed {
            remove_tree(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_depends_on_every_input() {
        let a = [1u8; 32];
        let b = [2u8; 32];
        let base = cache_key(&a, &[(b, 1)], None);
        assert_eq!(base.len(), 64);
        assert_eq!(base, cache_key(&a, &[(b, 1)], None));
        for other in [
            cache_key(&b, &[(b, 1)], None),
            cache_key(&a, &[(b, 0)], None),
            cache_key(&a, &[(a, 1)], None),
            cache_key(&a, &[], None),
            cache_key(&a, &[(b, 1), (b, 1)], None),
            cache_key(&a, &[(b, 1)], Some("")),
            cache_key(&a, &[(b, 1)], Some("true")),
        ] {
            assert_ne!(base, other);
        }
    }

    #[test]
    fn default_root_shape() {
        assert!(Cache::default_root().ends_with("kforge"));
    }
}
