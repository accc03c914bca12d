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
    fingerprint(root, &|_| false, false)
}

/// Is `name` a file or directory kbuild writes when it builds an
/// out-of-tree module in place (objects, `.ko`, `.cmd` files, the symbol
/// lists)? Such files are not the module's source: a hand build in the
/// directory changes neither its fingerprint nor what kforge copies.
pub fn is_kbuild_output(name: &[u8]) -> bool {
    let ends = |s: &[u8]| name.ends_with(s);
    ends(b".o")
        || ends(b".ko")
        || ends(b".mod")
        || ends(b".mod.c")
        || ends(b".cmd")
        || ends(b".symvers")
        || ends(b".order")
        || name == b".tmp_versions"
        || name == b".cache.mk"
}

/// The fingerprint of an out-of-tree module's source: as
/// [`tree_fingerprint`], but of each file's content rather than its size
/// and time (a module is small; an edit undone gives the old fingerprint
/// back), and with kbuild's outputs ([`is_kbuild_output`]) left out.
pub fn module_source_fingerprint(root: &Path) -> io::Result<String> {
    fingerprint(root, &is_kbuild_output, true)
}

/// Copy the files of `src` (not kbuild's outputs, not version control)
/// into `dest`, which kbuild then builds in: a file whose size or
/// modification time differs is copied with its time, so make rebuilds
/// exactly what changed; a file gone from `src` is removed from `dest`,
/// kbuild's own outputs there are kept.
pub fn sync_module_source(src: &Path, dest: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dest).map_err(|e| at(dest, e))?;
    let skip = |n: &std::ffi::OsStr| {
        is_kbuild_output(n.as_bytes()) || SKIPPED.iter().any(|s| n.as_bytes() == s.as_bytes())
    };
    let mut wanted = std::collections::HashSet::new();
    for e in std::fs::read_dir(src).map_err(|e| at(src, e))? {
        let e = e.map_err(|e| at(src, e))?;
        let name = e.file_name();
        if skip(&name) {
            continue;
        }
        wanted.insert(name.clone());
        let (from, to) = (e.path(), dest.join(&name));
        let m = std::fs::metadata(&from).map_err(|e| at(&from, e))?;
        if m.is_dir() {
            sync_module_source(&from, &to)?;
        } else if m.is_file() {
            let same = std::fs::symlink_metadata(&to).is_ok_and(|d| {
                d.is_file()
                    && d.len() == m.len()
                    && d.mtime() == m.mtime()
                    && d.mtime_nsec() == m.mtime_nsec()
            });
            if !same {
                if std::fs::symlink_metadata(&to).is_ok_and(|d| d.is_dir()) {
                    std::fs::remove_dir_all(&to).map_err(|e| at(&to, e))?;
                }
                std::fs::copy(&from, &to).map_err(|e| at(&from, e))?;
                let f = std::fs::File::options()
                    .write(true)
                    .open(&to)
                    .map_err(|e| at(&to, e))?;
                f.set_modified(m.modified().map_err(|e| at(&from, e))?)
                    .map_err(|e| at(&to, e))?;
            }
        }
    }
    for e in std::fs::read_dir(dest).map_err(|e| at(dest, e))? {
        let e = e.map_err(|e| at(dest, e))?;
        let name = e.file_name();
        if !wanted.contains(&name) && !skip(&name) {
            let p = e.path();
            let r = if e.file_type().is_ok_and(|t| t.is_dir()) {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
            r.map_err(|e| at(&p, e))?;
        }
    }
    Ok(())
}

fn fingerprint(
    root: &Path,
    skip: &(dyn Fn(&[u8]) -> bool + Sync),
    content: bool,
) -> io::Result<String> {
    let mut top: Vec<PathBuf> = std::fs::read_dir(root)
        .map_err(|e| at(root, e))?
        .map(|e| e.map(|e| e.path()))
        .collect::<io::Result<_>>()
        .map_err(|e| at(root, e))?;
    top.sort();
    top.retain(|p| {
        !p.file_name().is_some_and(|n| {
            SKIPPED.iter().any(|s| n.as_bytes() == s.as_bytes()) || skip(n.as_bytes())
        })
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
                let r = walk(root, p, &mut h, skip, content).map(|()| h.finalize().to_vec());
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
fn walk(
    root: &Path,
    path: &Path,
    h: &mut Sha256,
    skip: &(dyn Fn(&[u8]) -> bool + Sync),
    content: bool,
) -> io::Result<()> {
    let m = std::fs::symlink_metadata(path).map_err(|e| at(path, e))?;
    entry(root, path, &m, h, skip, content)
}

/// Hash one entry whose metadata (not followed) is `m`. A directory's
/// entries are listed once and their metadata taken through the open
/// directory (no path lookup per file: most of a kernel tree's cost).
fn entry(
    root: &Path,
    path: &Path,
    m: &std::fs::Metadata,
    h: &mut Sha256,
    skip: &(dyn Fn(&[u8]) -> bool + Sync),
    content: bool,
) -> io::Result<()> {
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
        let mut entries: Vec<(std::ffi::OsString, std::fs::Metadata)> = Vec::new();
        for e in std::fs::read_dir(path).map_err(|e| at(path, e))? {
            let e = e.map_err(|e| at(path, e))?;
            let name = e.file_name();
            if skip(name.as_bytes()) {
                continue;
            }
            let m = e.metadata().map_err(|err| at(&e.path(), err))?;
            entries.push((name, m));
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, m) in entries {
            entry(root, &path.join(name), &m, h, skip, content)?;
        }
    } else if content {
        h.update(b"c");
        let mut f = std::fs::File::open(path).map_err(|e| at(path, e))?;
        h.update(m.len().to_le_bytes());
        io::copy(&mut f, h).map_err(|e| at(path, e))?;
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
    fn a_module_source_without_its_build_outputs() {
        let d = tempfile::tempdir().unwrap();
        let (src, dest) = (d.path().join("src"), d.path().join("dest"));
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::write(src.join("Kbuild"), "obj-m := a.o\n").unwrap();
        std::fs::write(src.join("a.c"), "int a;\n").unwrap();
        std::fs::write(src.join("sub/b.h"), "\n").unwrap();
        let a = module_source_fingerprint(&src).unwrap();
        // A hand build in the source changes nothing.
        for f in [
            "a.o",
            "a.ko",
            ".a.o.cmd",
            "Module.symvers",
            "modules.order",
            "a.mod.c",
        ] {
            std::fs::write(src.join(f), "x").unwrap();
        }
        assert_eq!(a, module_source_fingerprint(&src).unwrap());
        sync_module_source(&src, &dest).unwrap();
        let mut got: Vec<String> = std::fs::read_dir(&dest)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        got.sort();
        assert_eq!(got, ["Kbuild", "a.c", "sub"]);
        let t = |p: &Path| std::fs::metadata(p).unwrap().modified().unwrap();
        assert_eq!(t(&src.join("a.c")), t(&dest.join("a.c")));
        // kbuild's outputs in the copy stay; a removed source file goes.
        std::fs::write(dest.join("a.o"), "obj").unwrap();
        std::fs::remove_file(src.join("sub/b.h")).unwrap();
        std::fs::write(src.join("a.c"), "int b;\n").unwrap();
        sync_module_source(&src, &dest).unwrap();
        assert!(dest.join("a.o").is_file());
        assert!(!dest.join("sub/b.h").exists());
        assert_eq!(
            std::fs::read_to_string(dest.join("a.c")).unwrap(),
            "int b;\n"
        );
        let b = module_source_fingerprint(&src).unwrap();
        assert_ne!(a, b);
        // An edit undone: the content, not the time, counts.
        std::fs::write(src.join("sub/b.h"), "\n").unwrap();
        std::fs::write(src.join("a.c"), "int a;\n").unwrap();
        assert_eq!(a, module_source_fingerprint(&src).unwrap());
    }

    #[test]
    fn a_missing_tree_is_an_error_naming_it() {
        let e = tree_fingerprint(Path::new("/nonexistent/kforge-tree")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(e.to_string().contains("/nonexistent/kforge-tree"), "{e}");
    }
}
