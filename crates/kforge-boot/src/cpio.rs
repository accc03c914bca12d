//! A writer of `newc` cpio archives (magic `070701`), the format the kernel
//! unpacks as the initramfs.
//!
//! Each entry is a 110-byte ASCII header (the magic and thirteen 8-digit
//! hexadecimal fields), the NUL-terminated name padded to a multiple of
//! four bytes, then the data padded likewise; the archive ends with an
//! entry named `TRAILER!!!`. The output is deterministic: owner and group
//! 0, modification time 0, inode numbers assigned in order from 1.

use crate::Error;
use std::io::Write;

/// File type bits of `st_mode`, as cpio stores them.
const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const S_IFCHR: u32 = 0o020000;

/// The name of the entry that ends an archive.
pub const TRAILER: &str = "TRAILER!!!";

/// Writes a `newc` cpio archive entry by entry to `W`.
///
/// Names are written as given (conventionally relative, `bin/sh`); parents
/// must come before their children for the kernel to unpack them.
pub struct Writer<W: Write> {
    out: W,
    next_ino: u32,
    offset: u64,
}

/// One header's fields, in archive order after the magic.
struct Header {
    ino: u32,
    mode: u32,
    nlink: u32,
    filesize: u32,
    rdevmajor: u32,
    rdevminor: u32,
}

impl<W: Write> Writer<W> {
    /// A writer that appends the archive to `out`.
    pub fn new(out: W) -> Self {
        Writer {
            out,
            next_ino: 1,
            offset: 0,
        }
    }

    /// Adds a directory with permission bits `perm` (e.g. `0o755`).
    pub fn dir(&mut self, name: &str, perm: u32) -> Result<(), Error> {
        self.entry(name, S_IFDIR | check_perm(name, perm)?, 2, (0, 0), b"")
    }

    /// Adds a regular file with permission bits `perm` and contents `data`.
    pub fn file(&mut self, name: &str, perm: u32, data: &[u8]) -> Result<(), Error> {
        self.entry(name, S_IFREG | check_perm(name, perm)?, 1, (0, 0), data)
    }

    /// Adds a symbolic link `name` pointing to `target`.
    pub fn symlink(&mut self, name: &str, target: &str) -> Result<(), Error> {
        if target.is_empty() || target.contains('\0') {
            return Err(cpio_err(name, "symlink target is empty or contains NUL"));
        }
        self.entry(name, S_IFLNK | 0o777, 1, (0, 0), target.as_bytes())
    }

    /// Adds a character device node (`/dev/console` is `c 5 1`).
    pub fn char_dev(&mut self, name: &str, perm: u32, major: u32, minor: u32) -> Result<(), Error> {
        self.entry(
            name,
            S_IFCHR | check_perm(name, perm)?,
            1,
            (major, minor),
            b"",
        )
    }

    /// Writes the trailer entry and returns the underlying writer.
    pub fn finish(mut self) -> Result<W, Error> {
        let h = Header {
            ino: 0,
            mode: 0,
            nlink: 1,
            filesize: 0,
            rdevmajor: 0,
            rdevminor: 0,
        };
        self.raw(TRAILER, &h, b"")?;
        self.out.flush().map_err(Error::Write)?;
        Ok(self.out)
    }

    fn entry(
        &mut self,
        name: &str,
        mode: u32,
        nlink: u32,
        rdev: (u32, u32),
        data: &[u8],
    ) -> Result<(), Error> {
        if name.is_empty() || name.contains('\0') {
            return Err(cpio_err(name, "name is empty or contains NUL"));
        }
        if name == TRAILER {
            return Err(cpio_err(
                name,
                "the name is reserved for the end of the archive",
            ));
        }
        let filesize = u32::try_from(data.len())
            .map_err(|_| cpio_err(name, "larger than 4 GiB, the newc format's limit"))?;
        let h = Header {
            ino: self.next_ino,
            mode,
            nlink,
            filesize,
            rdevmajor: rdev.0,
            rdevminor: rdev.1,
        };
        self.next_ino = self
            .next_ino
            .checked_add(1)
            .ok_or_else(|| cpio_err(name, "too many entries"))?;
        self.raw(name, &h, data)
    }

    fn raw(&mut self, name: &str, h: &Header, data: &[u8]) -> Result<(), Error> {
        let namesize =
            u32::try_from(name.len() + 1).map_err(|_| cpio_err(name, "name too long"))?;
        // magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor,
        // devminor, rdevmajor, rdevminor, namesize, check.
        let header =
            format!(
            "070701{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}",
            h.ino, h.mode, 0, 0, h.nlink, 0, h.filesize, 0, 0, h.rdevmajor, h.rdevminor, namesize, 0
        );
        debug_assert_eq!(header.len(), 110);
        self.put(header.as_bytes())?;
        self.put(name.as_bytes())?;
        self.put(b"\0")?;
        self.pad()?;
        self.put(data)?;
        self.pad()
    }

    fn put(&mut self, b: &[u8]) -> Result<(), Error> {
        self.out.write_all(b).map_err(Error::Write)?;
        self.offset += b.len() as u64;
        Ok(())
    }

    fn pad(&mut self) -> Result<(), Error> {
        let n = (4 - (self.offset % 4) as usize) % 4;
        self.put(&[0u8; 3][..n])
    }
}

fn check_perm(name: &str, perm: u32) -> Result<u32, Error> {
    if perm & !0o7777 != 0 {
        return Err(cpio_err(
            name,
            &format!("permission bits {perm:o} exceed 07777"),
        ));
    }
    Ok(perm)
}

fn cpio_err(name: &str, reason: &str) -> Error {
    Error::Cpio {
        name: name.to_string(),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    // GNU cpio (Debian's cpio package) is the oracle of the tests that run
    // it: the second tier (the `oracle-tests` feature, scripts/test).
    #[cfg(feature = "oracle-tests")]
    use std::path::Path;
    #[cfg(feature = "oracle-tests")]
    use std::process::{Command, Stdio};

    fn sample() -> Vec<u8> {
        let mut w = Writer::new(Vec::new());
        w.dir("bin", 0o755).unwrap();
        w.dir("dev", 0o755).unwrap();
        w.char_dev("dev/console", 0o600, 5, 1).unwrap();
        w.file("bin/tool", 0o755, b"#!/bin/sh\necho hi\n").unwrap();
        w.symlink("bin/sh", "tool").unwrap();
        w.dir("etc", 0o700).unwrap();
        // Sizes 0..=4 exercise every padding length.
        for n in 0..5 {
            w.file(&format!("etc/f{n}"), 0o640, &b"abcd"[..n]).unwrap();
        }
        w.file("etc/a-name-of-odd-length.txt", 0o644, b"x").unwrap();
        w.finish().unwrap()
    }

    #[cfg(feature = "oracle-tests")]
    fn gnu_cpio() -> &'static str {
        let p = "/usr/bin/cpio";
        assert!(
            Path::new(p).exists(),
            "GNU cpio (the test oracle) is missing: install Debian's cpio package"
        );
        p
    }

    #[cfg(feature = "oracle-tests")]
    fn run_cpio(args: &[&str], dir: &Path, input: &[u8]) -> (String, String) {
        let mut c = Command::new(gnu_cpio())
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(input).unwrap();
        let o = c.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(o.status.success(), "cpio {args:?}: {stderr}");
        (String::from_utf8_lossy(&o.stdout).into_owned(), stderr)
    }

    #[test]
    fn layout_is_aligned_and_ends_with_trailer() {
        let a = sample();
        assert_eq!(a.len() % 4, 0);
        assert!(a.starts_with(b"070701"));
        // The trailer header starts at a multiple of four and names TRAILER!!!.
        let t = a
            .windows(TRAILER.len())
            .rposition(|w| w == TRAILER.as_bytes())
            .unwrap();
        assert_eq!((t - 110) % 4, 0);
        assert_eq!(&a[t - 110..t - 104], b"070701");
    }

    #[test]
    fn deterministic() {
        assert_eq!(sample(), sample());
    }

    #[cfg(feature = "oracle-tests")]
    #[test]
    fn gnu_cpio_lists_every_entry() {
        let tmp = tempfile::tempdir().unwrap();
        let (out, _) = run_cpio(&["-t", "--quiet"], tmp.path(), &sample());
        let names: Vec<&str> = out.lines().collect();
        assert_eq!(
            names,
            [
                "bin",
                "dev",
                "dev/console",
                "bin/tool",
                "bin/sh",
                "etc",
                "etc/f0",
                "etc/f1",
                "etc/f2",
                "etc/f3",
                "etc/f4",
                "etc/a-name-of-odd-length.txt"
            ]
        );
        // The long listing shows types, modes, owners and the device numbers.
        let (long, _) = run_cpio(
            &["-tv", "--quiet", "--numeric-uid-gid"],
            tmp.path(),
            &sample(),
        );
        let line = |name: &str| {
            long.lines()
                .find(|l| l.ends_with(name) || l.contains(&format!("{name} -> ")))
                .unwrap_or_else(|| panic!("{name} not in\n{long}"))
                .to_string()
        };
        assert!(line("dev/console").starts_with("crw-------"), "{long}");
        assert!(
            line("dev/console").contains("5,   1") || line("dev/console").contains("5, 1"),
            "{long}"
        );
        assert!(line("bin/tool").starts_with("-rwxr-xr-x"), "{long}");
        assert!(line("bin/sh").starts_with("lrwxrwxrwx"), "{long}");
        assert!(line("bin/sh").ends_with("bin/sh -> tool"), "{long}");
        assert!(
            line("etc/f0").starts_with("-rw-r-----   1 0        0"),
            "{long}"
        );
        assert!(
            line("etc").starts_with("drwx------   2 0        0"),
            "{long}"
        );
    }

    #[cfg(feature = "oracle-tests")]
    #[test]
    fn gnu_cpio_extracts_contents_and_modes() {
        use std::os::unix::fs::{FileTypeExt, PermissionsExt};
        let tmp = tempfile::tempdir().unwrap();
        let (_, stderr) = run_cpio(&["-idv", "--no-absolute-filenames"], tmp.path(), &sample());
        assert!(stderr.contains("bin/tool"), "{stderr}");
        let d = tmp.path();
        assert_eq!(
            std::fs::read(d.join("bin/tool")).unwrap(),
            b"#!/bin/sh\necho hi\n"
        );
        assert_eq!(
            std::fs::read_link(d.join("bin/sh")).unwrap(),
            Path::new("tool")
        );
        for n in 0..5 {
            assert_eq!(
                std::fs::read(d.join(format!("etc/f{n}"))).unwrap(),
                &b"abcd"[..n]
            );
        }
        assert_eq!(
            std::fs::read(d.join("etc/a-name-of-odd-length.txt")).unwrap(),
            b"x"
        );
        let mode = |p: &str| {
            std::fs::symlink_metadata(d.join(p))
                .unwrap()
                .permissions()
                .mode()
                & 0o7777
        };
        assert_eq!(mode("bin/tool"), 0o755);
        assert_eq!(mode("etc/f1"), 0o640);
        // The directory's own mode is applied after its contents are written.
        assert_eq!(mode("etc"), 0o700);
        // Device nodes need CAP_MKNOD; check them when cpio could make them.
        if let Ok(m) = std::fs::symlink_metadata(d.join("dev/console")) {
            assert!(m.file_type().is_char_device());
            use std::os::unix::fs::MetadataExt;
            assert_eq!(m.rdev(), libc_makedev(5, 1));
        }
    }

    /// Linux's encoding of a device number (glibc's gnu_dev_makedev).
    #[cfg(feature = "oracle-tests")]
    fn libc_makedev(major: u64, minor: u64) -> u64 {
        ((major & 0xfffff000) << 32)
            | ((major & 0xfff) << 8)
            | ((minor & 0xffffff00) << 12)
            | (minor & 0xff)
    }

    #[test]
    fn rejects_bad_entries() {
        let mut w = Writer::new(Vec::new());
        assert!(matches!(w.file("", 0o644, b""), Err(Error::Cpio { .. })));
        assert!(matches!(
            w.file("a\0b", 0o644, b""),
            Err(Error::Cpio { .. })
        ));
        assert!(matches!(
            w.file(TRAILER, 0o644, b""),
            Err(Error::Cpio { .. })
        ));
        assert!(matches!(w.dir("d", 0o100755), Err(Error::Cpio { .. })));
        assert!(matches!(w.symlink("l", ""), Err(Error::Cpio { .. })));
    }

    #[test]
    fn header_fields() {
        let mut w = Writer::new(Vec::new());
        w.file("a", 0o644, b"xyz").unwrap();
        let a = w.finish().unwrap();
        let h = std::str::from_utf8(&a[..110]).unwrap();
        let field = |i: usize| u32::from_str_radix(&h[6 + 8 * i..14 + 8 * i], 16).unwrap();
        assert_eq!(field(0), 1, "ino");
        assert_eq!(field(1), 0o100644, "mode");
        assert_eq!(field(4), 1, "nlink");
        assert_eq!(field(5), 0, "mtime");
        assert_eq!(field(6), 3, "filesize");
        assert_eq!(field(11), 2, "namesize");
        // 110 + "a\0" = 112, already aligned; then "xyz" + 1 byte of padding.
        assert_eq!(&a[110..112], b"a\0");
        assert_eq!(&a[112..116], b"xyz\0");
        assert_eq!(&a[116..122], b"070701");
    }
}
