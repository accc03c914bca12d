//! kforge's file helpers: one atomic writer with one durability policy.
//!
//! [`write_atomic`] (and [`AtomicFile`] when the new content must be
//! checked before it replaces the old) writes into a temporary file in the
//! target's directory (tempfile's [`NamedTempFile`]), then renames it over
//! the target ([`NamedTempFile::persist`]). A reader sees the old file or
//! the complete new one, never a part; on any error the target is as it
//! was and the temporary file is removed.
//!
//! The policy, the same for every file kforge writes:
//!
//! - the temporary file is synced (`fsync`) before the rename: without it
//!   a crash soon after can leave the *renamed* file empty or partial
//!   (delayed allocation on ext4, xfs), which is what an atomic write is
//!   meant to rule out;
//! - the directory is synced after the rename, so that the rename itself
//!   survives a crash; this is best effort (some file systems cannot sync
//!   a directory), since the new content is already in place;
//! - a new file gets mode 0666 less the umask (as [`std::fs::write`]); a
//!   replaced file keeps its permissions;
//! - only a regular file or a new path is written: a device, FIFO,
//!   socket or directory at the path is an error naming it (renaming over
//!   `/dev/null` would replace the device), and a symlink is written
//!   through, atomically, to the file it points to (so a symlinked lock or
//!   `.config` stays a link to the updated file).
//!
//! Reading is bounded the same way everywhere: [`read_limited`] reads a
//! file a user named (a declaration, an include, a lock, a release list, a
//! `.config`) only when it is a regular file, without blocking on a FIFO,
//! and never more than a limit that the error names.
//!
//! The internal component of kforge; its API is unstable.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

/// A file could not be written: which, at what step, and why.
#[derive(Debug, thiserror::Error)]
#[error("{}: cannot {action}: {source}", path.display())]
pub struct Error {
    /// The file being written (the target, not the temporary file).
    pub path: PathBuf,
    /// The step that failed: `create` (the temporary file), `write` (its
    /// content, or syncing it) or `replace` (the rename over the target).
    pub action: &'static str,
    /// The system's reason.
    #[source]
    pub source: io::Error,
}

/// Write `bytes` to `path` atomically and durably (see the crate's policy).
pub fn write_atomic(path: impl AsRef<Path>, bytes: impl AsRef<[u8]>) -> Result<(), Error> {
    let mut f = AtomicFile::create(path.as_ref())?;
    f.write_all(bytes.as_ref())?;
    f.commit()
}

/// A new version of a file, written into a temporary file next to it,
/// that replaces the file on [`commit`](AtomicFile::commit). Dropped
/// without a commit, the temporary file is removed and the file is
/// untouched.
#[derive(Debug)]
pub struct AtomicFile {
    /// The path as given (named in errors).
    path: PathBuf,
    /// The file replaced: `path`, or where its symlinks lead.
    target: PathBuf,
    dir: PathBuf,
    tmp: NamedTempFile,
}

impl AtomicFile {
    /// A temporary file in `path`'s directory (`.NAME.XXXXXX.tmp`), with the
    /// permissions `path` will have.
    pub fn create(path: &Path) -> Result<Self, Error> {
        let err = |action| {
            let path = path.to_path_buf();
            move |source| Error {
                path,
                action,
                source,
            }
        };
        let target = write_target(path).map_err(err("create"))?;
        let dir = target
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let name = target.file_name().unwrap_or_default().to_string_lossy();
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            .permissions(new_file_permissions())
            .tempfile_in(&dir)
            .map_err(err("create"))?;
        if let Ok(meta) = fs::metadata(&target) {
            fs::set_permissions(tmp.path(), meta.permissions()).map_err(err("create"))?;
        }
        Ok(AtomicFile {
            path: path.to_path_buf(),
            target,
            dir,
            tmp,
        })
    }

    /// The temporary file, e.g. to check the new content before the commit.
    pub fn temp_path(&self) -> &Path {
        self.tmp.path()
    }

    /// Append `bytes` to the new content.
    pub fn write_all(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.tmp.write_all(bytes).map_err(|source| Error {
            path: self.path.clone(),
            action: "write",
            source,
        })
    }

    /// Sync the new content, rename it over the file and sync the directory.
    pub fn commit(mut self) -> Result<(), Error> {
        let path = self.path;
        let synced = self
            .tmp
            .flush()
            .and_then(|()| self.tmp.as_file().sync_all());
        if let Err(source) = synced {
            return Err(Error {
                path,
                action: "write",
                source,
            });
        }
        if let Err(e) = self.tmp.persist(&self.target) {
            // `e.file` is dropped here, which removes the temporary file.
            return Err(Error {
                path,
                action: "replace",
                source: e.error,
            });
        }
        if let Ok(d) = fs::File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

/// Read the file at `path` (symlinks followed) when it is a regular file
/// of at most `limit` bytes. `what` names the file's role in the errors
/// ("a declaration"). A FIFO, device, socket or directory is refused
/// without blocking (the file is opened non-blocking and checked before
/// any read), and a file that grows past `limit` while it is read too.
pub fn read_limited(path: &Path, limit: u64, what: &str) -> io::Result<Vec<u8>> {
    let (file, meta) = open_regular(path, what)?;
    if meta.len() > limit {
        return Err(too_large(limit, what));
    }
    read_to_limit(file, limit, what)
}

/// Everything `reader` yields, when that is at most `limit` bytes; `what`
/// names it in the error (a decompressed configuration, a response body).
pub fn read_to_limit(reader: impl io::Read, limit: u64, what: &str) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let mut data = Vec::new();
    reader.take(limit + 1).read_to_end(&mut data)?;
    if data.len() as u64 > limit {
        return Err(too_large(limit, what));
    }
    Ok(data)
}

fn too_large(limit: u64, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "it is larger than {}, the most kforge reads as {what}",
            size_text(limit)
        ),
    )
}

/// Open the file at `path` (symlinks followed) for reading when it is a
/// regular file, without blocking on a FIFO; `what` names the file's role
/// in the error. For files read as a stream (a tarball being hashed).
pub fn open_regular(path: &Path, what: &str) -> io::Result<(fs::File, fs::Metadata)> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "it is {}, not a regular file; {what} is read from a regular file",
                kind_of(meta.file_type())
            ),
        ));
    }
    Ok((file, meta))
}

/// [`read_limited`] for a text file: invalid UTF-8 is an error.
pub fn read_text_limited(path: &Path, limit: u64, what: &str) -> io::Result<String> {
    utf8(read_limited(path, limit, what)?)
}

/// `data` as text; invalid UTF-8 is an error naming the offset.
pub fn utf8(data: Vec<u8>) -> io::Result<String> {
    String::from_utf8(data).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "it is not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

/// `16 MiB`, `512 KiB`, `100 bytes`.
fn size_text(n: u64) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else if n >= 1 << 10 && n.is_multiple_of(1 << 10) {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} bytes")
    }
}

/// "a directory", "a FIFO", ... for messages.
fn kind_of(kind: fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_dir() {
        "a directory"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_symlink() {
        "a symbolic link"
    } else {
        "not a file"
    }
}

/// The most symlinks followed from one path, as the kernel's limit.
const MAX_LINKS: usize = 40;

/// The file a write to `path` replaces: `path`, or the end of the chain of
/// symlinks at `path` (which may not exist yet). Refused when something
/// other than a regular file is there.
fn write_target(path: &Path) -> io::Result<PathBuf> {
    let mut p = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        let meta = match fs::symlink_metadata(&p) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(p),
            other => other?,
        };
        let kind = meta.file_type();
        if kind.is_symlink() {
            let link = fs::read_link(&p)?;
            p = match p.parent() {
                Some(dir) if link.is_relative() => dir.join(link),
                _ => link,
            };
            continue;
        }
        if kind.is_file() {
            return Ok(p);
        }
        let what = kind_of(kind);
        let at = if p == path {
            "it is".to_string()
        } else {
            format!("it links to {}, which is", p.display())
        };
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{at} {what}, not a regular file; name a regular file or a new path"),
        ));
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("more than {MAX_LINKS} symbolic links"),
    ))
}

/// 0666: the umask applies when the file is opened, as for `fs::write`.
fn new_file_permissions() -> fs::Permissions {
    fs::Permissions::from_mode(0o666)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(d: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn writes_and_replaces() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        write_atomic(&p, b"one").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"one");
        write_atomic(&p, "two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(names(d.path()), ["f"], "no temporary file left");
    }

    #[test]
    fn new_files_get_the_umask_and_replaced_files_keep_their_mode() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("new");
        write_atomic(&p, b"x").unwrap();
        let reference = d.path().join("reference");
        fs::write(&reference, b"x").unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&p), mode(&reference));
        fs::set_permissions(&p, fs::Permissions::from_mode(0o751)).unwrap();
        write_atomic(&p, b"y").unwrap();
        assert_eq!(mode(&p), 0o751);
    }

    #[test]
    fn errors_name_the_file_and_leave_nothing() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("absent/f");
        let e = write_atomic(&p, b"x").unwrap_err();
        assert_eq!(e.path, p);
        assert_eq!(e.action, "create");
        assert!(
            e.to_string()
                .starts_with(&format!("{}: cannot create: ", p.display())),
            "{e}"
        );

        // A directory in the way: refused before anything is written.
        let p = d.path().join("dir");
        fs::create_dir(&p).unwrap();
        fs::write(d.path().join("dir/inside"), b"").unwrap();
        let e = write_atomic(&p, b"x").unwrap_err();
        assert_eq!(e.action, "create");
        assert!(
            e.to_string()
                .contains("it is a directory, not a regular file"),
            "{e}"
        );
        assert_eq!(names(d.path()), ["dir"]);
    }

    #[test]
    fn devices_and_fifos_are_refused_and_left_alone() {
        let e = write_atomic("/dev/full", b"x").unwrap_err();
        assert_eq!(e.path, Path::new("/dev/full"));
        assert!(
            e.to_string().starts_with(
                "/dev/full: cannot create: it is a character device, not a regular file"
            ),
            "{e}"
        );
        let meta = fs::symlink_metadata("/dev/full").unwrap();
        use std::os::unix::fs::FileTypeExt;
        assert!(meta.file_type().is_char_device());

        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("fifo");
        let ok = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(ok.success());
        let e = write_atomic(&fifo, b"x").unwrap_err();
        assert!(e.to_string().contains("it is a FIFO"), "{e}");
        // Through a symlink, the message names where it leads.
        let link = d.path().join("link");
        std::os::unix::fs::symlink(&fifo, &link).unwrap();
        let e = write_atomic(&link, b"x").unwrap_err();
        assert!(
            e.to_string()
                .contains(&format!("it links to {}, which is a FIFO", fifo.display())),
            "{e}"
        );
        assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
        assert_eq!(names(d.path()), ["fifo", "link"]);
    }

    #[test]
    fn reads_are_bounded_and_only_of_regular_files() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        fs::write(&p, b"12345").unwrap();
        assert_eq!(read_limited(&p, 5, "a test").unwrap(), b"12345");
        let e = read_limited(&p, 4, "a declaration").unwrap_err();
        assert_eq!(
            e.to_string(),
            "it is larger than 4 bytes, the most kforge reads as a declaration"
        );
        // /dev/zero never ends: refused by type, at once.
        let e = read_limited(Path::new("/dev/zero"), 1 << 20, "an include").unwrap_err();
        assert_eq!(
            e.to_string(),
            "it is a character device, not a regular file; an include is read from a regular file"
        );
        // A FIFO without a writer: refused, not waited on.
        let fifo = d.path().join("fifo");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        let e = read_limited(&fifo, 1 << 20, "a lock").unwrap_err();
        assert!(e.to_string().starts_with("it is a FIFO"), "{e}");
        let e = read_limited(d.path(), 1 << 20, "a lock").unwrap_err();
        assert!(e.to_string().starts_with("it is a directory"), "{e}");
        assert_eq!(size_text(16 << 20), "16 MiB");
        fs::write(&p, b"a\xffb").unwrap();
        let e = read_text_limited(&p, 100, "x").unwrap_err();
        assert!(e.to_string().contains("offset 1"), "{e}");
    }

    #[test]
    fn symlinks_are_written_through() {
        let d = tempfile::tempdir().unwrap();
        let real = d.path().join("sub/kernel.lock");
        fs::create_dir(d.path().join("sub")).unwrap();
        fs::write(&real, b"old").unwrap();
        // A relative chain: link2 -> link1 -> sub/kernel.lock.
        std::os::unix::fs::symlink("sub/kernel.lock", d.path().join("link1")).unwrap();
        std::os::unix::fs::symlink("link1", d.path().join("link2")).unwrap();
        write_atomic(d.path().join("link2"), b"new").unwrap();
        assert_eq!(fs::read(&real).unwrap(), b"new");
        assert!(fs::symlink_metadata(d.path().join("link2"))
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(names(d.path()), ["link1", "link2", "sub"]);
        assert_eq!(names(&d.path().join("sub")), ["kernel.lock"]);
        // A dangling link gets its target created.
        std::os::unix::fs::symlink("sub/new", d.path().join("dangling")).unwrap();
        write_atomic(d.path().join("dangling"), b"x").unwrap();
        assert_eq!(fs::read(d.path().join("sub/new")).unwrap(), b"x");
        // A loop is an error, not a hang.
        std::os::unix::fs::symlink("loop", d.path().join("loop")).unwrap();
        let e = write_atomic(d.path().join("loop"), b"x").unwrap_err();
        assert!(e.to_string().contains("more than 40 symbolic links"), "{e}");
    }

    #[test]
    fn uncommitted_files_leave_the_target_alone() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        fs::write(&p, b"old").unwrap();
        let mut f = AtomicFile::create(&p).unwrap();
        f.write_all(b"new").unwrap();
        let tmp = f.temp_path().to_path_buf();
        assert_eq!(tmp.parent(), Some(d.path()));
        assert_eq!(fs::read(&tmp).unwrap(), b"new");
        drop(f);
        assert!(!tmp.exists());
        assert_eq!(fs::read(&p).unwrap(), b"old");
    }
}
