//! An entry as one deterministic tar stream compressed with zstd, and its
//! careful unpacking.
//!
//! Packing walks the entry in byte order of the paths and writes each
//! directory, file and symbolic link with a fixed modification time (0),
//! owner and group 0 without names, and mode 0755 (directories and
//! executable files) or 0644: one entry always packs to the same bytes.
//!
//! Unpacking takes only what an entry can hold: relative paths without
//! `..`, directories, regular files and symbolic links whose target stays
//! inside the entry; nothing is written through a link, and the files may
//! not add up to more than the signed manifest says.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// What packing gave.
pub struct Packed {
    /// The compressed archive.
    pub bytes: Vec<u8>,
    /// The bytes of the regular files.
    pub unpacked_size: u64,
    /// The number of paths.
    pub files: u64,
}

/// The zstd level: the default (fast to compress, about 4 times smaller).
const LEVEL: i32 = 3;

/// Every path under `root`, relative, in byte order, directories before
/// their contents.
fn walk(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    let mut names: Vec<_> = fs::read_dir(root.join(rel))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<_>>()?;
    names.sort_by(|a, b| a.as_encoded_bytes().cmp(b.as_encoded_bytes()));
    for n in names {
        let p = rel.join(n);
        let meta = fs::symlink_metadata(root.join(&p))?;
        out.push(p.clone());
        if meta.is_dir() {
            walk(root, &p, out)?;
        }
    }
    Ok(())
}

/// Pack the entry at `root`.
pub fn pack(root: &Path) -> io::Result<Packed> {
    let mut paths = Vec::new();
    walk(root, Path::new(""), &mut paths)?;
    let enc = zstd::Encoder::new(Vec::new(), LEVEL)?;
    let mut tar = tar::Builder::new(enc);
    tar.follow_symlinks(false);
    let mut unpacked_size = 0;
    for rel in &paths {
        let full = root.join(rel);
        let meta = fs::symlink_metadata(&full)?;
        let mut h = tar::Header::new_gnu();
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_username("")?;
        h.set_groupname("")?;
        let ft = meta.file_type();
        if ft.is_dir() {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
            h.set_size(0);
            tar.append_data(&mut h, rel, io::empty())?;
        } else if ft.is_symlink() {
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_mode(0o777);
            h.set_size(0);
            let target = fs::read_link(&full)?;
            tar.append_link(&mut h, rel, target)?;
        } else if ft.is_file() {
            h.set_entry_type(tar::EntryType::Regular);
            let exec = meta.permissions().mode() & 0o111 != 0;
            h.set_mode(if exec { 0o755 } else { 0o644 });
            h.set_size(meta.len());
            unpacked_size += meta.len();
            tar.append_data(&mut h, rel, fs::File::open(&full)?)?;
        } else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}: neither a file, a directory nor a symbolic link; a store entry holds no others",
                    full.display()
                ),
            ));
        }
    }
    let enc = tar.into_inner()?;
    let bytes = enc.finish()?;
    Ok(Packed {
        bytes,
        unpacked_size,
        files: paths.len() as u64,
    })
}

/// A relative path of plain names (`.` dropped), or why not.
fn safe_relative(p: &Path) -> Result<PathBuf, String> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => return Err(format!("`{}` climbs out with `..`", p.display())),
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!("`{}` is an absolute path", p.display()))
            }
        }
    }
    if out.as_os_str().is_empty() {
        return Err("an entry without a name".into());
    }
    Ok(out)
}

/// Whether a link at `rel` (relative to the entry) pointing at `target`
/// stays inside the entry, read lexically.
fn link_stays_inside(rel: &Path, target: &Path) -> bool {
    if target.is_absolute() {
        return false;
    }
    let mut depth: i64 = rel.components().count() as i64 - 1;
    for c in target.components() {
        match c {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            _ => return false,
        }
        if depth < 0 {
            return false;
        }
    }
    true
}

/// No component of `rel` below `root` but the last is a symbolic link
/// (nothing is written through a link).
fn no_link_on_the_way(root: &Path, rel: &Path) -> Result<(), String> {
    let mut p = root.to_path_buf();
    let n = rel.components().count();
    for c in rel.components().take(n.saturating_sub(1)) {
        p.push(c);
        if let Ok(m) = fs::symlink_metadata(&p) {
            if m.file_type().is_symlink() {
                return Err(format!(
                    "`{}` would be written through the symbolic link `{}`",
                    rel.display(),
                    p.strip_prefix(root).unwrap_or(&p).display()
                ));
            }
        }
    }
    Ok(())
}

/// Why unpacking stopped.
#[derive(Debug)]
pub enum UnpackError {
    /// The archive holds something an entry may not (the reason).
    Unsafe(String),
    /// The archive is not a zstd tar stream, or writing failed.
    Io(io::Error),
}

impl From<io::Error> for UnpackError {
    fn from(e: io::Error) -> Self {
        UnpackError::Io(e)
    }
}

/// Unpack `bytes` into the empty directory `dest`; the regular files may
/// add up to `limit` bytes at most.
pub fn unpack(bytes: &[u8], dest: &Path, limit: u64) -> Result<(), UnpackError> {
    let unsafe_ = UnpackError::Unsafe;
    let dec = zstd::Decoder::new(bytes)?;
    let mut tar = tar::Archive::new(dec);
    let mut written: u64 = 0;
    let mut links = Vec::new();
    for e in tar.entries()? {
        let mut e = e?;
        let raw = e.path()?.into_owned();
        let rel = safe_relative(&raw).map_err(unsafe_)?;
        no_link_on_the_way(dest, &rel).map_err(unsafe_)?;
        let out = dest.join(&rel);
        let kind = e.header().entry_type();
        match kind {
            tar::EntryType::Directory => match fs::symlink_metadata(&out) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(unsafe_(format!(
                        "`{}` is both a directory and something else",
                        rel.display()
                    )))
                }
                Err(_) => fs::create_dir_all(&out)?,
            },
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let size = e.header().size()?;
                written = written.saturating_add(size);
                if written > limit {
                    return Err(unsafe_(format!(
                        "its files add up to more than the {limit} bytes its manifest says"
                    )));
                }
                if let Some(parent) = out.parent() {
                    fs::create_dir_all(parent)?;
                }
                let exec = e.header().mode()? & 0o111 != 0;
                let mut f = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(if exec { 0o755 } else { 0o644 })
                    .open(&out)
                    .map_err(|err| match err.kind() {
                        io::ErrorKind::AlreadyExists => UnpackError::Unsafe(format!(
                            "`{}` appears twice in the archive",
                            rel.display()
                        )),
                        _ => UnpackError::Io(err),
                    })?;
                let n = io::copy(&mut (&mut e).take(size), &mut f)?;
                if n != size {
                    return Err(UnpackError::Io(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("`{}` is cut short", rel.display()),
                    )));
                }
                f.flush()?;
            }
            tar::EntryType::Symlink => {
                let target = e
                    .link_name()?
                    .ok_or_else(|| unsafe_(format!("the link `{}` has no target", rel.display())))?
                    .into_owned();
                if !link_stays_inside(&rel, &target) {
                    return Err(unsafe_(format!(
                        "the link `{}` points out of the entry (to `{}`)",
                        rel.display(),
                        target.display()
                    )));
                }
                if let Some(parent) = out.parent() {
                    fs::create_dir_all(parent)?;
                }
                std::os::unix::fs::symlink(&target, &out).map_err(|err| match err.kind() {
                    io::ErrorKind::AlreadyExists => UnpackError::Unsafe(format!(
                        "`{}` appears twice in the archive",
                        rel.display()
                    )),
                    _ => UnpackError::Io(err),
                })?;
                links.push(out);
            }
            tar::EntryType::Link => {
                return Err(unsafe_(format!(
                    "`{}` is a hard link; a store entry holds none",
                    rel.display()
                )))
            }
            other => {
                return Err(unsafe_(format!(
                    "`{}` is a {other:?} entry (a device, a pipe, ...); a store entry holds only files, directories and links",
                    rel.display()
                )))
            }
        }
    }
    // Links read lexically stay inside; followed through other links too.
    let root = fs::canonicalize(dest)?;
    for l in links {
        if let Ok(t) = fs::canonicalize(&l) {
            if !t.starts_with(&root) {
                return Err(unsafe_(format!(
                    "the link `{}` leads out of the entry (through other links)",
                    l.strip_prefix(dest).unwrap_or(&l).display()
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_judged_from_where_they_are() {
        let ok = |rel: &str, t: &str| link_stays_inside(Path::new(rel), Path::new(t));
        assert!(ok("modules/lib/modules/6.1/build", "../../../../dev"));
        assert!(!ok("modules/lib/modules/6.1/build", "../../../../../dev"));
        assert!(!ok("a", "/etc/passwd"));
        assert!(!ok("a", ".."));
        assert!(ok("a/b", "../c"));
    }

    #[test]
    fn the_same_tree_packs_to_the_same_bytes() {
        let d = tempfile::tempdir().unwrap();
        let e = d.path().join("e");
        fs::create_dir_all(e.join("kernel")).unwrap();
        fs::write(e.join("kernel/bzImage"), b"image").unwrap();
        fs::write(e.join("run.sh"), b"#!/bin/sh\n").unwrap();
        fs::set_permissions(e.join("run.sh"), fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::symlink("kernel/bzImage", e.join("img")).unwrap();
        let a = pack(&e).unwrap();
        filetime_touch(&e.join("kernel/bzImage"));
        let b = pack(&e).unwrap();
        assert_eq!(a.bytes, b.bytes);
        assert_eq!((a.unpacked_size, a.files), (15, 4));
        let out = d.path().join("out");
        fs::create_dir(&out).unwrap();
        unpack(&a.bytes, &out, a.unpacked_size).unwrap();
        assert_eq!(fs::read(out.join("kernel/bzImage")).unwrap(), b"image");
        assert_eq!(
            fs::read_link(out.join("img")).unwrap(),
            Path::new("kernel/bzImage")
        );
        let mode = fs::metadata(out.join("run.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        // A limit below the files' size is refused.
        let out2 = d.path().join("out2");
        fs::create_dir(&out2).unwrap();
        assert!(matches!(
            unpack(&a.bytes, &out2, 3),
            Err(UnpackError::Unsafe(m)) if m.contains("more than the 3 bytes")
        ));
    }

    fn filetime_touch(p: &Path) {
        let f = fs::File::options().write(true).open(p).unwrap();
        f.set_modified(std::time::SystemTime::now()).unwrap();
    }
}
