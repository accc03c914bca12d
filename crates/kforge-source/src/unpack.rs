//! [`unpack`]: a tar archive, compressed or not, unpacked safely.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::BufReader;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use tar::EntryType;

use crate::{compress, SourceError, Staging};

/// Unpack `archive` into the new directory `dest` and return the tree's
/// root: `dest`, or its single top-level directory when the archive holds
/// exactly one (as kernel tarballs do, `linux-6.1.192/`).
///
/// The compression is recognised by its magic bytes, not by the name:
/// plain `.tar`, xz, gzip, zstd or bzip2. Regular files, directories,
/// symbolic links and hard links are unpacked, with their permission bits
/// (no set-uid/set-gid/sticky, no owners: directories are always
/// writable by the owner) and the files' modification times; `pax_global_header`
/// entries are skipped. Refused, with an error naming the archive and the
/// entry: an absolute path, a `..` component, an entry below a symbolic link
/// of the archive, a symbolic link that is absolute or whose target leaves
/// the tree (`..` may only lead the target, and no further up than the
/// link's own depth), a hard link to anything but a regular file unpacked
/// before it, device files, FIFOs and any other kind of entry.
///
/// The archive is unpacked into a temporary directory next to `dest` and
/// renamed into place: `dest` is either complete or absent, never half
/// unpacked. `dest` must not exist.
pub fn unpack(archive: &Path, dest: &Path) -> Result<PathBuf, SourceError> {
    if fs::symlink_metadata(dest).is_ok() {
        return Err(SourceError::DestinationExists {
            path: dest.to_path_buf(),
        });
    }
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    fs::create_dir_all(parent).map_err(SourceError::io(parent, "create the directory"))?;
    let name = dest
        .file_name()
        .map_or("unpack".into(), |n| n.to_string_lossy().into_owned());
    let staging = Staging::new(parent, &format!(".{name}.unpack-"))?;
    let links = unpack_into(archive, staging.path())?;
    let top = single_dir(staging.path());
    // The single top directory becomes the tree's root: a link that stays
    // in the archive but leaves that directory (`linux-x/l -> ../other`)
    // leaves the tree.
    if let Some(top) = &top {
        for (rel, target, name) in &links {
            let inside = rel.strip_prefix(top).unwrap_or(rel);
            if let Some(why) = symlink_escapes(inside, target) {
                return Err(SourceError::UnsafeEntry {
                    archive: archive.to_path_buf(),
                    entry: name.clone(),
                    reason: format!("{why} (the tree's root is `{}/`)", top.to_string_lossy()),
                });
            }
        }
    }
    staging.rename_to(dest)?;
    Ok(match top {
        Some(top) => dest.join(top),
        None => dest.to_path_buf(),
    })
}

/// `reason` fit for a terminal: the tar reader quotes the bytes it could
/// not read, which for a file that is not an archive are binary. The text
/// is cut before the first binary character (at the `: ` that introduces
/// the quote), and at 160 characters.
fn printable(reason: &str) -> String {
    const MAX: usize = 160;
    let binary = reason.find(|c: char| c == '\u{fffd}' || (c.is_control() && c != '\t'));
    let mut text = match binary {
        Some(at) => {
            let head = &reason[..at];
            let cut = head.rfind(": ").unwrap_or(head.len());
            format!("{} (binary data)", &head[..cut])
        }
        None => reason.to_string(),
    };
    if let Some((cut, _)) = text.char_indices().nth(MAX) {
        text.truncate(cut);
        text.push_str("...");
    }
    text
}

/// The name of the only entry of `dir`, when it is a directory.
fn single_dir(dir: &Path) -> Option<std::ffi::OsString> {
    let mut entries = fs::read_dir(dir).ok()?;
    let first = entries.next()?.ok()?;
    if entries.next().is_some() || !first.file_type().ok()?.is_dir() {
        return None;
    }
    Some(first.file_name())
}

/// The innermost reason of an error (the tar crate wraps the system's
/// reason in a description naming temporary paths).
fn cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut inner = e;
    while let Some(next) = inner.source() {
        inner = next;
    }
    inner.to_string()
}

/// `path` made relative and free of `.`, or why it is refused.
fn clean(path: &Path) -> Result<PathBuf, &'static str> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Prefix(_) | Component::RootDir => return Err("it is an absolute path"),
            Component::ParentDir => return Err("it has a `..` component"),
            Component::CurDir => {}
            Component::Normal(n) => out.push(n),
        }
    }
    Ok(out)
}

/// Why a symbolic link at `link` (relative to the root) pointing at
/// `target` leaves the tree, if it does.
fn symlink_escapes(link: &Path, target: &Path) -> Option<String> {
    if target.as_os_str().is_empty() {
        return Some("its target is empty".into());
    }
    if target.has_root() {
        return Some(format!(
            "it is a symbolic link to the absolute path `{}`",
            target.display()
        ));
    }
    // Directories above the link, inside the tree.
    let mut depth = link.components().count().saturating_sub(1);
    let mut named = false;
    for c in target.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if named => {
                return Some(format!(
                    "it is a symbolic link to `{}`, with `..` after a name (only leading `..` are accepted)",
                    target.display()
                ))
            }
            Component::ParentDir => {
                if depth == 0 {
                    return Some(format!(
                        "it is a symbolic link to `{}`, outside the tree",
                        target.display()
                    ));
                }
                depth -= 1;
            }
            Component::Normal(_) => named = true,
            Component::Prefix(_) | Component::RootDir => {
                return Some(format!(
                    "it is a symbolic link to the absolute path `{}`",
                    target.display()
                ))
            }
        }
    }
    None
}

/// The first ancestor of `path` (or `path` itself, with `inclusive`) that
/// is one of the archive's symbolic links.
fn through_symlink<'a>(
    path: &'a Path,
    symlinks: &HashSet<PathBuf>,
    inclusive: bool,
) -> Option<&'a Path> {
    let mut ancestors = path.ancestors();
    if !inclusive {
        ancestors.next();
    }
    ancestors
        .filter(|a| !a.as_os_str().is_empty())
        .find(|a| symlinks.contains(*a))
}

/// Remove a file or link at `path` (not a directory), if there is one.
fn clear(path: &Path) -> std::io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if !m.is_dir() => fs::remove_file(path),
        _ => Ok(()),
    }
}

/// A symbolic link unpacked: its path in the archive, its target, and the
/// entry's name as written (for messages).
type Link = (PathBuf, PathBuf, String);

/// Unpack `archive` into `root`; returns the symbolic links it holds.
fn unpack_into(archive: &Path, root: &Path) -> Result<Vec<Link>, SourceError> {
    let file = File::open(archive).map_err(SourceError::io(archive, "open"))?;
    let bad = |entry: Option<&str>, reason: String| SourceError::Archive {
        archive: archive.to_path_buf(),
        entry: entry.map(str::to_owned),
        reason: printable(&reason),
    };
    let reader = compress::decompressed(BufReader::with_capacity(256 * 1024, file))
        .map_err(|e| bad(None, e.to_string()))?;
    let mut ar = tar::Archive::new(reader);
    ar.set_preserve_permissions(false);
    ar.set_preserve_ownerships(false);
    ar.set_preserve_mtime(true);
    ar.set_unpack_xattrs(false);
    ar.set_overwrite(true);

    let mut symlinks: HashSet<PathBuf> = HashSet::new();
    let mut links: Vec<Link> = Vec::new();
    let mut dirs: Vec<(PathBuf, u32)> = Vec::new();
    let mut last: Option<String> = None;
    let entries = ar.entries().map_err(|e| bad(None, e.to_string()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| {
            bad(
                None,
                match &last {
                    Some(l) => format!("{e} (after entry `{l}`)"),
                    None => e.to_string(),
                },
            )
        })?;
        let kind = entry.header().entry_type();
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        last = Some(name.clone());
        let refuse = |reason: String| SourceError::UnsafeEntry {
            archive: archive.to_path_buf(),
            entry: name.clone(),
            reason,
        };
        let at = |e: std::io::Error| bad(Some(&name), cause(&e));
        match kind {
            EntryType::XGlobalHeader
            | EntryType::XHeader
            | EntryType::GNULongName
            | EntryType::GNULongLink => continue,
            _ => {}
        }
        let path = entry.path().map_err(at)?;
        let rel = clean(&path).map_err(|why| refuse(why.into()))?;
        if rel.as_os_str().is_empty() {
            if kind == EntryType::Directory {
                continue;
            }
            return Err(refuse("its path is empty".into()));
        }
        if let Some(link) = through_symlink(&rel, &symlinks, false) {
            return Err(refuse(format!(
                "it lies below `{}`, a symbolic link of the archive",
                link.display()
            )));
        }
        let full = root.join(&rel);
        let make_parent = |full: &Path| match full.parent() {
            Some(p) => fs::create_dir_all(p),
            None => Ok(()),
        };
        match kind {
            EntryType::Directory => {
                if fs::symlink_metadata(&full).is_ok_and(|m| !m.is_dir()) {
                    return Err(refuse("a file of the same name was unpacked before".into()));
                }
                fs::create_dir_all(&full).map_err(at)?;
                let mode = entry.header().mode().unwrap_or(0o755);
                dirs.push((full, mode));
            }
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                make_parent(&full).map_err(at)?;
                entry.unpack(&full).map_err(at)?;
                symlinks.remove(&rel);
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(at)?
                    .ok_or_else(|| refuse("a symbolic link without a target".into()))?
                    .into_owned();
                if let Some(why) = symlink_escapes(&rel, &target) {
                    return Err(refuse(why));
                }
                make_parent(&full).map_err(at)?;
                clear(&full).map_err(at)?;
                std::os::unix::fs::symlink(&target, &full).map_err(at)?;
                links.push((rel.clone(), target, name.clone()));
                symlinks.insert(rel);
            }
            EntryType::Link => {
                let target = entry
                    .link_name()
                    .map_err(at)?
                    .ok_or_else(|| refuse("a hard link without a target".into()))?
                    .into_owned();
                let target_rel = clean(&target).map_err(|why| {
                    refuse(format!(
                        "it is a hard link to `{}`, and {}",
                        target.display(),
                        why.trim_start_matches("it ")
                    ))
                })?;
                let target_full = root.join(&target_rel);
                let is_file = through_symlink(&target_rel, &symlinks, true).is_none()
                    && fs::symlink_metadata(&target_full).is_ok_and(|m| m.is_file());
                if !is_file {
                    return Err(refuse(format!(
                        "it is a hard link to `{}`, which is not a regular file unpacked before it",
                        target.display()
                    )));
                }
                make_parent(&full).map_err(at)?;
                clear(&full).map_err(at)?;
                fs::hard_link(&target_full, &full).map_err(at)?;
                symlinks.remove(&rel);
            }
            EntryType::Char => return Err(refuse("it is a character device".into())),
            EntryType::Block => return Err(refuse("it is a block device".into())),
            EntryType::Fifo => return Err(refuse("it is a FIFO".into())),
            other => {
                return Err(refuse(format!(
                    "its kind (tar type flag `{}`) is not a file, directory or link",
                    other.as_byte().escape_ascii()
                )))
            }
        }
    }
    // Directory modes last, so a read-only directory does not stop what is
    // unpacked into it; the owner keeps write access so the tree can be
    // patched and removed.
    for (dir, mode) in dirs.iter().rev() {
        fs::set_permissions(dir, fs::Permissions::from_mode((mode & 0o777) | 0o700))
            .map_err(SourceError::io(dir, "set the permissions of"))?;
    }
    // Links replaced by a later entry are gone.
    links.retain(|(rel, _, _)| symlinks.contains(rel));
    Ok(links)
}
