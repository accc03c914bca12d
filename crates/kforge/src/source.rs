//! The declared kernel source, unpacked once into the user's cache.
//!
//! A local `tarball` is hashed (and checked against the declared `hash`,
//! when there is one) before anything is unpacked; the tree is unpacked by
//! the system `tar` into a temporary directory next to its final place and
//! renamed into place, so a half-unpacked tree is never used. Later runs
//! find it by the tarball's digest.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Why the declared source cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{}: the declaration names no local tarball; pass --tree DIR (downloads come with `kforge build`)", origin)]
    NoTarball { origin: spec::Origin },
    #[error("{}: {path}: {source}", origin)]
    Read {
        origin: spec::Origin,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {path} does not match the declared hash\n  declared: {declared}\n  actual:   {actual}\n  help: if the file is the one you mean, declare its hash; otherwise fetch the right file", origin)]
    HashMismatch {
        origin: spec::Origin,
        path: PathBuf,
        declared: String,
        actual: String,
    },
    #[error("unpacking {path} into {dir} failed: {detail}")]
    Unpack {
        path: PathBuf,
        dir: PathBuf,
        detail: String,
    },
}

/// The unpacked tree of `source`, unpacking it on first use.
pub fn unpacked_tree(source: &spec::Source) -> Result<PathBuf, SourceError> {
    unpacked_tree_with_digest(source).map(|(tree, _)| tree)
}

/// [`unpacked_tree`], and the SHA-256 of the tarball it came from.
pub fn unpacked_tree_with_digest(
    source: &spec::Source,
) -> Result<(PathBuf, [u8; 32]), SourceError> {
    let origin = source.origin.clone();
    let Some(tarball) = &source.tarball else {
        return Err(SourceError::NoTarball { origin });
    };
    let read_err = |e| SourceError::Read {
        origin: origin.clone(),
        path: tarball.clone(),
        source: e,
    };
    let mut f = std::fs::File::open(tarball).map_err(read_err)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(read_err)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    let digest: [u8; 32] = h.finalize().into();
    if let Some(declared) = &source.hash {
        if spec::sha256_digest(declared) != Some(digest) {
            return Err(SourceError::HashMismatch {
                origin,
                path: tarball.clone(),
                declared: declared.clone(),
                actual: spec::sri(&digest),
            });
        }
    }
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let root = probe_cache::ProbeCache::default_dir()
        .parent()
        .map(|p| p.join("sources"))
        .unwrap_or_else(|| std::env::temp_dir().join("kforge-sources"));
    let dir = root.join(&hex);
    if let Some(tree) = single_tree(&dir) {
        return Ok((tree, digest));
    }
    let unpack_err = |detail: String| SourceError::Unpack {
        path: tarball.clone(),
        dir: dir.clone(),
        detail,
    };
    std::fs::create_dir_all(&root).map_err(|e| unpack_err(e.to_string()))?;
    let tmp = root.join(format!(".{hex}.tmp.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| unpack_err(e.to_string()))?;
    let out = std::process::Command::new("tar")
        .arg("-xf")
        .arg(tarball)
        .arg("-C")
        .arg(&tmp)
        .arg("--no-same-owner")
        .output()
        .map_err(|e| unpack_err(format!("cannot run tar: {e}")))?;
    if !out.status.success() {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(unpack_err(
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ));
    }
    if std::fs::rename(&tmp, &dir).is_err() {
        // Another process won the race; use its tree.
        let _ = std::fs::remove_dir_all(&tmp);
    }
    single_tree(&dir)
        .map(|tree| (tree, digest))
        .ok_or_else(|| unpack_err("no kernel tree (Makefile and Kconfig) inside".into()))
}

/// The kernel tree in an unpacked directory: the directory itself, or its
/// only subdirectory (tarballs have one top directory).
fn single_tree(dir: &Path) -> Option<PathBuf> {
    let is_tree = |d: &Path| d.join("Makefile").is_file() && d.join("Kconfig").is_file();
    if is_tree(dir) {
        return Some(dir.to_path_buf());
    }
    let mut subdirs = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter(|e| e.path().is_dir());
    let first = subdirs.next()?.path();
    (subdirs.next().is_none() && is_tree(&first)).then_some(first)
}
