//! Finding a statically linked busybox for the guest, and installing it in
//! an initramfs.
//!
//! The initramfs has no C library, so busybox must be static: an ELF
//! executable without a `PT_INTERP` program header (Debian's
//! `busybox-static` package provides one at `/bin/busybox`).

use crate::{io_err, Arch, Error, Initramfs};
use std::path::{Path, PathBuf};

/// Where [`find_busybox`] looks, in order.
pub const CANDIDATES: &[&str] = &[
    "/bin/busybox",
    "/usr/bin/busybox",
    "/sbin/busybox",
    "/usr/sbin/busybox",
];

/// The applets linked in `/bin` by [`install`]: those the generated `/init`
/// and kforge's module loaders use, and common test-script tools. `/init`
/// also runs `busybox --install -s` at boot for the rest.
pub const APPLETS: &[&str] = &[
    "sh", "ash", "mount", "umount", "insmod", "rmmod", "lsmod", "modprobe", "modinfo", "depmod",
    "ip", "reboot", "poweroff", "cat", "echo", "printf", "uname", "grep", "sleep", "mkdir", "rm",
    "cp", "mv", "ln", "ls", "dirname", "basename", "pwd", "test", "[", "true", "false", "dmesg",
    "mknod", "head", "tail", "sed", "awk", "cut", "tr", "wc", "sort", "find", "xargs", "env",
    "sync", "stat", "readlink", "chmod", "touch", "ps", "kill", "seq", "tee", "od", "hexdump",
    "dd", "id", "date", "timeout", "cmp", "diff",
];

/// Looks for a static busybox runnable in a guest of architecture `arch`
/// at the [`CANDIDATES`] paths; the first one found must be usable.
pub fn find_busybox(arch: Arch) -> Result<PathBuf, Error> {
    for c in CANDIDATES {
        let p = Path::new(c);
        if p.is_file() {
            check_busybox(p, arch)?;
            return Ok(p.to_path_buf());
        }
    }
    Err(Error::BusyboxMissing {
        looked: CANDIDATES.join(", "),
    })
}

/// Checks that `path` is a statically linked ELF executable for `arch`.
pub fn check_busybox(path: &Path, arch: Arch) -> Result<(), Error> {
    let data = std::fs::read(path).map_err(io_err("reading", path))?;
    let unusable = |reason: String| Error::BusyboxUnusable {
        path: path.to_path_buf(),
        reason,
    };
    let elf = Elf::parse(&data).map_err(|r| unusable(format!("not a valid ELF file: {r}")))?;
    if elf.machine != arch.elf_machine() || elf.big_endian != arch.big_endian() {
        return Err(unusable(format!(
            "an ELF executable for machine {} ({} endian), not for the {} guest; \
             give a static busybox built for {}",
            elf.machine,
            if elf.big_endian { "big" } else { "little" },
            arch.name(),
            arch.name()
        )));
    }
    if elf.kind != ET_EXEC && elf.kind != ET_DYN {
        return Err(unusable(format!(
            "ELF type {} is not an executable",
            elf.kind
        )));
    }
    if let Some(interp) = elf.interp {
        return Err(Error::BusyboxDynamic {
            path: path.to_path_buf(),
            interp,
        });
    }
    Ok(())
}

/// Installs `busybox` at `/bin/busybox` with `/bin/<applet>` symlinks for
/// the [`APPLETS`], plus the directories `busybox --install -s` fills.
pub fn install(img: &mut Initramfs, busybox: &Path) -> Result<(), Error> {
    img.file_from_host("/bin/busybox", busybox)?;
    for d in ["/sbin", "/usr/bin", "/usr/sbin"] {
        img.dir(d, 0o755)?;
    }
    for a in APPLETS {
        img.symlink(&format!("/bin/{a}"), "busybox")?;
    }
    Ok(())
}

const ET_EXEC: u16 = 2;
const ET_DYN: u16 = 3;
const PT_INTERP: u32 = 3;

/// The few ELF facts the check needs.
struct Elf {
    big_endian: bool,
    kind: u16,
    machine: u16,
    interp: Option<String>,
}

impl Elf {
    fn parse(d: &[u8]) -> Result<Elf, String> {
        if d.len() < 52 || &d[..4] != b"\x7fELF" {
            return Err("no ELF magic".into());
        }
        let is64 = match d[4] {
            1 => false,
            2 => true,
            c => return Err(format!("ELF class {c}")),
        };
        let big_endian = match d[5] {
            1 => false,
            2 => true,
            e => return Err(format!("ELF data encoding {e}")),
        };
        let rd = Reader { d, big_endian };
        let kind = rd.u16(16)?;
        let machine = rd.u16(18)?;
        let (phoff, phentsize, phnum) = if is64 {
            (rd.u64(32)?, rd.u16(54)?, rd.u16(56)?)
        } else {
            (u64::from(rd.u32(28)?), rd.u16(42)?, rd.u16(44)?)
        };
        let mut interp = None;
        for i in 0..u64::from(phnum) {
            let ph = usize::try_from(phoff + i * u64::from(phentsize))
                .map_err(|_| "program header offset")?;
            if rd.u32(ph)? != PT_INTERP {
                continue;
            }
            let (off, size) = if is64 {
                (rd.u64(ph + 8)?, rd.u64(ph + 32)?)
            } else {
                (u64::from(rd.u32(ph + 4)?), u64::from(rd.u32(ph + 16)?))
            };
            let s = usize::try_from(off).ok();
            let e = usize::try_from(off.saturating_add(size)).ok();
            let name = match (s, e) {
                (Some(s), Some(e)) if e <= d.len() => {
                    let b = &d[s..e];
                    String::from_utf8_lossy(b.split(|&c| c == 0).next().unwrap_or(b)).into_owned()
                }
                _ => "(out of the file)".to_string(),
            };
            interp = Some(name);
            break;
        }
        Ok(Elf {
            big_endian,
            kind,
            machine,
            interp,
        })
    }
}

struct Reader<'a> {
    d: &'a [u8],
    big_endian: bool,
}

impl Reader<'_> {
    fn bytes<const N: usize>(&self, at: usize) -> Result<[u8; N], String> {
        at.checked_add(N)
            .and_then(|e| self.d.get(at..e))
            .map(|b| b.try_into().expect("length checked"))
            .ok_or_else(|| format!("truncated at offset {at}"))
    }
    fn u16(&self, at: usize) -> Result<u16, String> {
        let b = self.bytes(at)?;
        Ok(if self.big_endian {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    }
    fn u32(&self, at: usize) -> Result<u32, String> {
        let b = self.bytes(at)?;
        Ok(if self.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    }
    fn u64(&self, at: usize) -> Result<u64, String> {
        let b = self.bytes(at)?;
        Ok(if self.big_endian {
            u64::from_be_bytes(b)
        } else {
            u64::from_le_bytes(b)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF64 little-endian header with one program header.
    fn elf64(machine: u16, ph_type: u32) -> Vec<u8> {
        let mut d = vec![0u8; 64 + 56 + 16];
        d[..4].copy_from_slice(b"\x7fELF");
        d[4] = 2;
        d[5] = 1;
        d[16..18].copy_from_slice(&ET_EXEC.to_le_bytes());
        d[18..20].copy_from_slice(&machine.to_le_bytes());
        d[32..40].copy_from_slice(&64u64.to_le_bytes());
        d[54..56].copy_from_slice(&56u16.to_le_bytes());
        d[56..58].copy_from_slice(&1u16.to_le_bytes());
        let ph = 64;
        d[ph..ph + 4].copy_from_slice(&ph_type.to_le_bytes());
        d[ph + 8..ph + 16].copy_from_slice(&120u64.to_le_bytes());
        d[ph + 32..ph + 40].copy_from_slice(&16u64.to_le_bytes());
        d[120..120 + 15].copy_from_slice(b"/lib/ld-x.so.2\0");
        d
    }

    /// A minimal ELF32 big-endian header (MIPS) without program headers.
    fn elf32_be(machine: u16) -> Vec<u8> {
        let mut d = vec![0u8; 52];
        d[..4].copy_from_slice(b"\x7fELF");
        d[4] = 1;
        d[5] = 2;
        d[16..18].copy_from_slice(&ET_EXEC.to_be_bytes());
        d[18..20].copy_from_slice(&machine.to_be_bytes());
        d
    }

    fn check(d: &[u8], arch: Arch) -> Result<(), Error> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("busybox");
        std::fs::write(&p, d).unwrap();
        check_busybox(&p, arch)
    }

    #[test]
    fn static_and_dynamic_synthetic() {
        assert!(check(&elf64(62, 1), Arch::X86_64).is_ok());
        match check(&elf64(62, PT_INTERP), Arch::X86_64) {
            Err(e @ Error::BusyboxDynamic { .. }) => {
                let msg = e.to_string();
                assert!(
                    msg.contains("/lib/ld-x.so.2") && msg.contains("busybox-static"),
                    "{msg}"
                );
            }
            r => panic!("{r:?}"),
        }
        assert!(matches!(
            check(&elf64(62, 1), Arch::Arm64),
            Err(Error::BusyboxUnusable { .. })
        ));
        assert!(check(&elf64(183, 1), Arch::Arm64).is_ok());
        assert!(check(&elf32_be(8), Arch::Mips).is_ok());
        assert!(check(&elf32_be(8), Arch::Mipsel).is_err());
        assert!(matches!(
            check(b"#!/bin/sh\n", Arch::X86_64),
            Err(Error::BusyboxUnusable { .. })
        ));
        assert!(matches!(
            check(&elf64(62, 1)[..40], Arch::X86_64),
            Err(Error::BusyboxUnusable { .. })
        ));
    }

    #[test]
    fn host_binaries() {
        if Arch::host() != Some(Arch::X86_64) {
            return;
        }
        // A dynamically linked host program stands in for Debian's
        // dynamically linked busybox.
        match check_busybox(Path::new("/bin/ls"), Arch::X86_64) {
            Err(Error::BusyboxDynamic { interp, .. }) => {
                assert!(interp.contains("ld-linux"), "{interp}")
            }
            r => panic!("{r:?}"),
        }
    }

    /// Debian's static busybox is found and accepted: a second-tier test
    /// (`oracle-tests`; it needs the busybox-static package).
    #[cfg(feature = "oracle-tests")]
    #[test]
    fn debian_static_busybox() {
        let p = find_busybox(Arch::X86_64).unwrap_or_else(|e| panic!("{e}"));
        check_busybox(&p, Arch::X86_64).unwrap();
    }
}
