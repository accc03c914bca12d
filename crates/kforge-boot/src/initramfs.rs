//! A builder of initramfs images: entries at guest paths, written as a
//! `newc` cpio archive, optionally compressed.

use crate::{cpio, io_err, Error};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// The compression of a written initramfs.
///
/// The kernel must have the matching `CONFIG_RD_*` decompressor built in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain cpio archive (always supported).
    None,
    /// gzip (`CONFIG_RD_GZIP`).
    Gzip,
    /// zstd (`CONFIG_RD_ZSTD`).
    Zstd,
    /// xz with a CRC32 integrity check (`CONFIG_RD_XZ`); the kernel's xz
    /// decoder verifies only CRC32 (or no check) and refuses xz's default
    /// CRC64 streams.
    Xz,
}

/// One entry of the image.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    Dir { perm: u32 },
    File { perm: u32, data: Vec<u8> },
    Symlink { target: String },
    CharDev { perm: u32, major: u32, minor: u32 },
}

/// An initramfs under construction: entries keyed by guest path.
///
/// Parents of every path are created as directories (mode 0755) when not
/// added explicitly. Entries are written in path order, which puts each
/// directory before its contents; the output is deterministic.
#[derive(Debug, Clone, Default)]
pub struct Initramfs {
    entries: BTreeMap<String, Entry>,
}

impl Initramfs {
    /// An empty image.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a directory (and its parents) with permission bits `perm`.
    pub fn dir(&mut self, guest: &str, perm: u32) -> Result<&mut Self, Error> {
        let key = normalize(guest)?;
        if key.is_empty() {
            return Ok(self);
        }
        self.parents(&key)?;
        match self.entries.get_mut(&key) {
            Some(Entry::Dir { perm: p }) => *p = perm,
            Some(_) => return Err(Error::Conflict(guest.to_string())),
            None => {
                self.entries.insert(key, Entry::Dir { perm });
            }
        }
        Ok(self)
    }

    /// Adds a regular file with contents `data`, replacing an earlier file
    /// at the same path.
    pub fn file_bytes(
        &mut self,
        guest: &str,
        data: impl Into<Vec<u8>>,
        perm: u32,
    ) -> Result<&mut Self, Error> {
        let data = data.into();
        self.put(guest, Entry::File { perm, data })
    }

    /// Adds a copy of the host file `host` (read now) with its permission
    /// bits; a symlink is followed.
    pub fn file_from_host(&mut self, guest: &str, host: &Path) -> Result<&mut Self, Error> {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(host).map_err(io_err("reading", host))?;
        if !meta.is_file() {
            return Err(Error::Io {
                action: "reading",
                path: host.to_path_buf(),
                source: std::io::Error::other("not a regular file"),
            });
        }
        let data = std::fs::read(host).map_err(io_err("reading", host))?;
        self.file_bytes(guest, data, meta.permissions().mode() & 0o7777)
    }

    /// Adds a symbolic link at `guest` pointing to `target`.
    pub fn symlink(&mut self, guest: &str, target: &str) -> Result<&mut Self, Error> {
        if target.is_empty() || target.contains('\0') {
            return Err(Error::GuestPath {
                path: guest.to_string(),
                reason: format!("bad symlink target {target:?}"),
            });
        }
        self.put(
            guest,
            Entry::Symlink {
                target: target.to_string(),
            },
        )
    }

    /// Adds a character device node (`/dev/console` is 5, 1).
    pub fn char_dev(
        &mut self,
        guest: &str,
        perm: u32,
        major: u32,
        minor: u32,
    ) -> Result<&mut Self, Error> {
        self.put(guest, Entry::CharDev { perm, major, minor })
    }

    /// Copies the host directory tree `host` to the guest directory `guest`:
    /// directories, regular files (with their modes) and symlinks (kept as
    /// symlinks); other file types are refused.
    pub fn tree_from_host(&mut self, guest: &str, host: &Path) -> Result<&mut Self, Error> {
        use std::os::unix::fs::PermissionsExt;
        let base = normalize(guest)?;
        let meta = std::fs::metadata(host).map_err(io_err("reading", host))?;
        if !meta.is_dir() {
            return Err(Error::Io {
                action: "reading",
                path: host.to_path_buf(),
                source: std::io::Error::other("not a directory"),
            });
        }
        self.dir(&base, meta.permissions().mode() & 0o7777)?;
        let mut stack = vec![(base, host.to_path_buf())];
        while let Some((gdir, hdir)) = stack.pop() {
            let rd = std::fs::read_dir(&hdir).map_err(io_err("reading", &hdir))?;
            let mut names = Vec::new();
            for e in rd {
                names.push(e.map_err(io_err("reading", &hdir))?.file_name());
            }
            names.sort();
            for name in names {
                let hp = hdir.join(&name);
                let name = name.to_str().ok_or_else(|| Error::GuestPath {
                    path: hp.display().to_string(),
                    reason: "the name is not UTF-8".into(),
                })?;
                let gp = if gdir.is_empty() {
                    name.to_string()
                } else {
                    format!("{gdir}/{name}")
                };
                let m = std::fs::symlink_metadata(&hp).map_err(io_err("reading", &hp))?;
                let ft = m.file_type();
                if ft.is_symlink() {
                    let t = std::fs::read_link(&hp).map_err(io_err("reading", &hp))?;
                    let t = t.to_str().ok_or_else(|| Error::GuestPath {
                        path: hp.display().to_string(),
                        reason: "the symlink target is not UTF-8".into(),
                    })?;
                    self.symlink(&gp, t)?;
                } else if ft.is_dir() {
                    self.dir(&gp, m.permissions().mode() & 0o7777)?;
                    stack.push((gp, hp));
                } else if ft.is_file() {
                    self.file_from_host(&gp, &hp)?;
                } else {
                    return Err(Error::Io {
                        action: "reading",
                        path: hp,
                        source: std::io::Error::other("neither a file, a directory nor a symlink"),
                    });
                }
            }
        }
        Ok(self)
    }

    /// Whether `guest` has an entry.
    pub fn contains(&self, guest: &str) -> bool {
        normalize(guest).is_ok_and(|k| self.entries.contains_key(&k))
    }

    /// The guest paths of all entries, in archive order (without leading `/`).
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// Writes the image to `out`, compressed with `compression`.
    pub fn write<W: Write>(&self, out: W, compression: Compression) -> Result<W, Error> {
        match compression {
            Compression::None => self.write_cpio(out),
            Compression::Gzip => {
                let enc = flate2::write::GzEncoder::new(out, flate2::Compression::default());
                self.write_cpio(enc)?.finish().map_err(Error::Write)
            }
            Compression::Zstd => {
                let enc = zstd::stream::write::Encoder::new(out, 3).map_err(Error::Write)?;
                self.write_cpio(enc)?.finish().map_err(Error::Write)
            }
            Compression::Xz => {
                let stream = xz2::stream::Stream::new_easy_encoder(6, xz2::stream::Check::Crc32)
                    .map_err(|e| Error::Write(e.into()))?;
                let enc = xz2::write::XzEncoder::new_stream(out, stream);
                self.write_cpio(enc)?.finish().map_err(Error::Write)
            }
        }
    }

    /// Writes the image to the host file `path` (created or truncated).
    pub fn write_file(&self, path: &Path, compression: Compression) -> Result<(), Error> {
        let f = std::fs::File::create(path).map_err(io_err("creating", path))?;
        let mut w = self.write(std::io::BufWriter::new(f), compression)?;
        w.flush().map_err(io_err("writing", path))
    }

    fn write_cpio<W: Write>(&self, out: W) -> Result<W, Error> {
        let mut w = cpio::Writer::new(out);
        for (path, e) in &self.entries {
            match e {
                Entry::Dir { perm } => w.dir(path, *perm)?,
                Entry::File { perm, data } => w.file(path, *perm, data)?,
                Entry::Symlink { target } => w.symlink(path, target)?,
                Entry::CharDev { perm, major, minor } => w.char_dev(path, *perm, *major, *minor)?,
            }
        }
        w.finish()
    }

    fn put(&mut self, guest: &str, e: Entry) -> Result<&mut Self, Error> {
        let key = normalize(guest)?;
        if key.is_empty() {
            return Err(Error::GuestPath {
                path: guest.to_string(),
                reason: "the root can only be a directory".into(),
            });
        }
        self.parents(&key)?;
        match self.entries.get(&key) {
            Some(Entry::Dir { .. }) => return Err(Error::Conflict(guest.to_string())),
            Some(old) if std::mem::discriminant(old) != std::mem::discriminant(&e) => {
                return Err(Error::Conflict(guest.to_string()))
            }
            _ => {}
        }
        self.entries.insert(key, e);
        Ok(self)
    }

    /// Creates the missing parent directories of `key`.
    fn parents(&mut self, key: &str) -> Result<(), Error> {
        let mut end = 0;
        while let Some(i) = key[end..].find('/') {
            let p = &key[..end + i];
            match self.entries.get(p) {
                Some(Entry::Dir { .. }) => {}
                Some(_) => return Err(Error::Conflict(format!("/{p}"))),
                None => {
                    self.entries
                        .insert(p.to_string(), Entry::Dir { perm: 0o755 });
                }
            }
            end += i + 1;
        }
        Ok(())
    }
}

/// Turns a guest path (`/bin/sh`, `bin/sh`, `/lib//x/`) into the archive
/// name form (`bin/sh`); refuses `.`/`..` components and NUL.
fn normalize(guest: &str) -> Result<String, Error> {
    let bad = |reason: &str| Error::GuestPath {
        path: guest.to_string(),
        reason: reason.to_string(),
    };
    if guest.contains('\0') {
        return Err(bad("contains NUL"));
    }
    let mut parts = Vec::new();
    for c in guest.split('/') {
        match c {
            "" => {}
            "." | ".." => return Err(bad("has a . or .. component")),
            c => parts.push(c),
        }
    }
    if parts.is_empty() && !guest.starts_with('/') && guest != "." {
        return Err(bad("is empty"));
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    // GNU cpio and xz (Debian's cpio and xz-utils) are the oracles of the
    // tests that run them: the second tier (the `oracle-tests` feature).
    #[cfg(feature = "oracle-tests")]
    use std::process::{Command, Stdio};

    fn sample() -> Initramfs {
        let mut i = Initramfs::new();
        i.file_bytes("/usr/share/x/hello.txt", "hello\n", 0o644)
            .unwrap();
        i.symlink("/bin/sh", "busybox").unwrap();
        i.char_dev("/dev/console", 0o600, 5, 1).unwrap();
        i.dir("/proc", 0o555).unwrap();
        i
    }

    /// GNU cpio's listing of an uncompressed archive.
    #[cfg(feature = "oracle-tests")]
    fn list(archive: &[u8]) -> Vec<String> {
        let mut c = Command::new("/usr/bin/cpio")
            .args(["-t", "--quiet"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("GNU cpio (the test oracle): install Debian's cpio package");
        c.stdin.take().unwrap().write_all(archive).unwrap();
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success());
        String::from_utf8(o.stdout)
            .unwrap()
            .lines()
            .map(String::from)
            .collect()
    }

    #[cfg(feature = "oracle-tests")]
    #[test]
    fn parents_are_created_and_ordered_first() {
        let a = sample().write(Vec::new(), Compression::None).unwrap();
        assert_eq!(
            list(&a),
            [
                "bin",
                "bin/sh",
                "dev",
                "dev/console",
                "proc",
                "usr",
                "usr/share",
                "usr/share/x",
                "usr/share/x/hello.txt"
            ]
        );
    }

    #[test]
    fn path_checks_and_conflicts() {
        let mut i = sample();
        assert!(matches!(
            i.file_bytes("/a/../b", "", 0o644),
            Err(Error::GuestPath { .. })
        ));
        assert!(matches!(
            i.file_bytes("", "", 0o644),
            Err(Error::GuestPath { .. })
        ));
        assert!(matches!(
            i.file_bytes("/", "", 0o644),
            Err(Error::GuestPath { .. })
        ));
        assert!(matches!(
            i.file_bytes("/proc", "", 0o644),
            Err(Error::Conflict(_))
        ));
        assert!(matches!(i.dir("/bin/sh", 0o755), Err(Error::Conflict(_))));
        assert!(matches!(
            i.file_bytes("/bin/sh/x", "", 0o644),
            Err(Error::Conflict(_))
        ));
        assert!(matches!(
            i.file_bytes("/bin/sh", "", 0o644),
            Err(Error::Conflict(_))
        ));
        // Same kind: replaced; "//" and a trailing "/" are tolerated.
        i.file_bytes("usr//share/x/hello.txt", "bye\n", 0o600)
            .unwrap();
        i.dir("/usr/share/", 0o700).unwrap();
        assert!(i.contains("/usr/share/x/hello.txt"));
        assert!(!i.contains("/usr/share/y"));
    }

    #[cfg(feature = "oracle-tests")]
    #[test]
    fn host_tree_is_copied() {
        use std::os::unix::fs::PermissionsExt;
        let host = tempfile::tempdir().unwrap();
        let h = host.path();
        std::fs::create_dir_all(h.join("lib/modules/6.1.0/kernel")).unwrap();
        std::fs::write(h.join("load.sh"), "echo load\n").unwrap();
        std::fs::set_permissions(h.join("load.sh"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        std::fs::write(h.join("lib/modules/6.1.0/kernel/a.ko"), [0u8, 1, 2]).unwrap();
        std::os::unix::fs::symlink("kernel/a.ko", h.join("lib/modules/6.1.0/a.ko")).unwrap();

        let mut i = Initramfs::new();
        i.tree_from_host("/opt/loader", h).unwrap();
        let a = i.write(Vec::new(), Compression::None).unwrap();
        let out = tempfile::tempdir().unwrap();
        let mut c = Command::new("/usr/bin/cpio")
            .args(["-id", "--quiet"])
            .current_dir(out.path())
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(&a).unwrap();
        assert!(c.wait().unwrap().success());
        let o = out.path().join("opt/loader");
        assert_eq!(
            std::fs::read_to_string(o.join("load.sh")).unwrap(),
            "echo load\n"
        );
        let mode = std::fs::metadata(o.join("load.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        assert_eq!(
            std::fs::read(o.join("lib/modules/6.1.0/kernel/a.ko")).unwrap(),
            [0, 1, 2]
        );
        assert_eq!(
            std::fs::read_link(o.join("lib/modules/6.1.0/a.ko")).unwrap(),
            Path::new("kernel/a.ko")
        );
    }

    #[test]
    fn compressed_images_decode_to_the_same_archive() {
        let i = sample();
        let plain = i.write(Vec::new(), Compression::None).unwrap();
        let gz = i.write(Vec::new(), Compression::Gzip).unwrap();
        assert_eq!(&gz[..2], [0x1f, 0x8b]);
        let mut d = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut d)
            .unwrap();
        assert_eq!(d, plain);

        let zs = i.write(Vec::new(), Compression::Zstd).unwrap();
        assert_eq!(&zs[..4], [0x28, 0xb5, 0x2f, 0xfd]);
        assert_eq!(zstd::stream::decode_all(&zs[..]).unwrap(), plain);

        let xz = i.write(Vec::new(), Compression::Xz).unwrap();
        assert_eq!(&xz[..6], b"\xfd7zXZ\0");
        // Stream flags: the second byte is the check type, 0x01 = CRC32.
        assert_eq!(&xz[6..8], [0x00, 0x01]);
        let mut d = Vec::new();
        xz2::read::XzDecoder::new(&xz[..])
            .read_to_end(&mut d)
            .unwrap();
        assert_eq!(d, plain);
    }

    #[cfg(feature = "oracle-tests")]
    #[test]
    fn xz_tool_reports_crc32() {
        // The real xz (Debian's xz-utils) as the oracle for the check type.
        assert!(
            Command::new("xz").arg("--version").output().is_ok(),
            "xz not found: apt-get install xz-utils"
        );
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("i.xz");
        sample().write_file(&p, Compression::Xz).unwrap();
        let o = Command::new("xz")
            .args(["--robot", "--list"])
            .arg(&p)
            .output()
            .unwrap();
        assert!(o.status.success());
        let s = String::from_utf8_lossy(&o.stdout);
        assert!(
            s.lines()
                .any(|l| l.starts_with("file\t") && l.contains("CRC32")),
            "{s}"
        );
    }
}
