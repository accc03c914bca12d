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
//!   replaced file keeps its permissions.
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
    path: PathBuf,
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
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            .permissions(new_file_permissions())
            .tempfile_in(&dir)
            .map_err(err("create"))?;
        if let Ok(meta) = fs::metadata(path) {
            fs::set_permissions(tmp.path(), meta.permissions()).map_err(err("create"))?;
        }
        Ok(AtomicFile {
            path: path.to_path_buf(),
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
        if let Err(e) = self.tmp.persist(&path) {
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

        // A directory in the way: the rename fails, the temporary file goes.
        let p = d.path().join("dir");
        fs::create_dir(&p).unwrap();
        fs::write(d.path().join("dir/inside"), b"").unwrap();
        let e = write_atomic(&p, b"x").unwrap_err();
        assert_eq!(e.action, "replace");
        assert_eq!(names(d.path()), ["dir"]);
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
