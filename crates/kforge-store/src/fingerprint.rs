//! A cheap fingerprint of a source tree the user edits (`--tree DIR`):
//! every file's path, size and modification time, as `make` sees the tree.
//! Reading every byte of a kernel tree (1.5 GB) would cost seconds; a walk
//! that only stats its ~87,000 files costs a fraction of one, and an edit
//! anywhere (which changes a modification time) changes the fingerprint.

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Directories a walk skips: version control holds no build input.
const SKIPPED: &[&str] = &[".git", ".hg", ".svn"];

/// The SHA-256 (hex) of every file, symbolic link and directory under
/// `root`: relative path, kind, size, modification time in nanoseconds, a
/// link's target. Top-level directories are walked on parallel threads; the
/// result does not depend on their number or on directory order.
pub fn tree_fingerprint(root: &Path) -> io::Result<String> {
    let mut top: Vec<PathBuf> = std::fs::read_dir(root)
        .map_err(|e| at(root, e))?
        .map(|e| e.map(|e| e.path()))
        .collect::<io::Result<_>>()
        .map_err(|e| at(root, e))?;
    top.sort();
    top.retain(|p| {
        !p.file_name()
            .is_some_and(|n| SKIPPED.iter().any(|s| n.as_bytes() == s.as_bytes()))
    });
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(8));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut digests: Vec<Option<io::Result<Vec<u8>>>> = (0..top.len()).map(|_| None).collect();
    let results = std::sync::Mutex::new(&mut digests);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(p) = top.get(i) else { break };
                let mut h = Sha256::new();
                let r = walk(root, p, &mut h).map(|()| h.finalize().to_vec());
                results.lock().expect("no panics while holding it")[i] = Some(r);
            });
        }
    });
    let mut h = Sha256::new();
    for d in digests {
        h.update(d.expect("every entry walked")?);
    }
    Ok(hex::encode(h.finalize()))
}

/// Hash `path` (and what is under it) into `h`.
fn walk(root: &Path, path: &Path, h: &mut Sha256) -> io::Result<()> {
    let m = std::fs::symlink_metadata(path).map_err(|e| at(path, e))?;
    let rel = path.strip_prefix(root).unwrap_or(path);
    h.update(rel.as_os_str().as_bytes());
    h.update([0]);
    let ft = m.file_type();
    if ft.is_symlink() {
        let target = std::fs::read_link(path).map_err(|e| at(path, e))?;
        h.update(b"l");
        h.update(target.as_os_str().as_bytes());
        h.update([0]);
    } else if ft.is_dir() {
        h.update(b"d");
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| at(path, e))?
            .map(|e| e.map(|e| e.path()))
            .collect::<io::Result<_>>()
            .map_err(|e| at(path, e))?;
        entries.sort();
        for e in entries {
            walk(root, &e, h)?;
        }
    } else {
        h.update(b"f");
        h.update(m.len().to_le_bytes());
        h.update(m.mtime().to_le_bytes());
        h.update(m.mtime_nsec().to_le_bytes());
    }
    Ok(())
}

fn at(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edit_anywhere_changes_it_and_nothing_else_does() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        std::fs::create_dir_all(r.join("drivers/net")).unwrap();
        std::fs::create_dir_all(r.join(".git")).unwrap();
        std::fs::write(r.join("Makefile"), "all:\n").unwrap();
        std::fs::write(r.join("drivers/net/dummy.c"), "int x;\n").unwrap();
        std::os::unix::fs::symlink("dummy.c", r.join("drivers/net/link.c")).unwrap();
        let a = tree_fingerprint(r).unwrap();
        assert_eq!(a, tree_fingerprint(r).unwrap());
        // Version control is not an input.
        std::fs::write(r.join(".git/index"), "x").unwrap();
        assert_eq!(a, tree_fingerprint(r).unwrap());
        // An edit deep in the tree (same size, later time).
        let f = r.join("drivers/net/dummy.c");
        let t = std::fs::metadata(&f).unwrap().modified().unwrap();
        std::fs::write(&f, "int y;\n").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&f)
            .unwrap()
            .set_modified(t + std::time::Duration::from_secs(1))
            .unwrap();
        let b = tree_fingerprint(r).unwrap();
        assert_ne!(a, b);
        // A new file, a link pointing elsewhere.
        std::fs::write(r.join("drivers/new.c"), "").unwrap();
        let c = tree_fingerprint(r).unwrap();
        assert_ne!(b, c);
        std::fs::remove_file(r.join("drivers/net/link.c")).unwrap();
        std::os::unix::fs::symlink("new.c", r.join("drivers/net/link.c")).unwrap();
        assert_ne!(c, tree_fingerprint(r).unwrap());
    }

    #[test]
    fn a_missing_tree_is_an_error_naming_it() {
        let e = tree_fingerprint(Path::new("/nonexistent/kforge-tree")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(e.to_string().contains("/nonexistent/kforge-tree"), "{e}");
    }
}
