//! Finding a statically linked busybox for the guest, and installing it in
//! an initramfs.
//!
//! The initramfs has no C library, so busybox must be static: an ELF
//! executable without a `PT_INTERP` program header (Debian's
//! `busybox-static` package provides one at `/bin/busybox`).

use crate::{io_err, Arch, Error, Initramfs};
use object::elf::{
    FileHeader32, FileHeader64, ELFDATA2LSB, ELFDATA2MSB, ELFMAG, ET_DYN, ET_EXEC, PT_INTERP,
};
use object::read::elf::{FileHeader, ProgramHeader};
use object::{Endian, Endianness, ReadRef};
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

/// The few ELF facts the check needs.
struct Elf {
    big_endian: bool,
    kind: u16,
    machine: u16,
    interp: Option<String>,
}

impl Elf {
    fn parse(d: &[u8]) -> Result<Elf, String> {
        match object::FileKind::parse(d) {
            Ok(object::FileKind::Elf32) => Self::parse_as::<FileHeader32<Endianness>>(d),
            Ok(object::FileKind::Elf64) => Self::parse_as::<FileHeader64<Endianness>>(d),
            // e_ident[EI_CLASS], after the 4 bytes of magic.
            _ if d.len() >= 16 && d.starts_with(&ELFMAG) => Err(format!("ELF class {}", d[4])),
            _ => Err("no ELF magic".into()),
        }
    }

    fn parse_as<H: FileHeader<Endian = Endianness>>(d: &[u8]) -> Result<Elf, String> {
        // Not `H::parse`: it also wants e_ident[EI_VERSION] to be 1, which
        // the kernel's ELF loader does not check.
        let h: &H = d
            .read_at(0)
            .map_err(|()| "truncated ELF header".to_string())?;
        let endian = match h.e_ident().data {
            ELFDATA2LSB => Endianness::Little,
            ELFDATA2MSB => Endianness::Big,
            e => return Err(format!("ELF data encoding {e}")),
        };
        let interp =
            h.program_headers(endian, d)
                .map_err(|e| e.to_string())?
                .iter()
                .find(|ph| ph.p_type(endian) == PT_INTERP)
                .map(|ph| match ph.data(endian, d) {
                    Ok(b) => String::from_utf8_lossy(b.split(|&c| c == 0).next().unwrap_or(b))
                        .into_owned(),
                    Err(()) => "(out of the file)".to_string(),
                });
        Ok(Elf {
            big_endian: endian.is_big_endian(),
            kind: h.e_type(endian),
            machine: h.e_machine(endian),
            interp,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object::elf::{EM_AARCH64, EM_MIPS};

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
    fn parse_reasons() {
        let reason = |d: &[u8]| Elf::parse(d).err().unwrap_or_default();
        assert_eq!(reason(b"#!/bin/sh\n"), "no ELF magic");
        let mut d = elf64(62, 1);
        d[4] = 3;
        assert_eq!(reason(&d), "ELF class 3");
        let mut d = elf64(62, 1);
        d[5] = 3;
        assert_eq!(reason(&d), "ELF data encoding 3");
        // The interpreter's segment beyond the end of the file.
        let mut d = elf64(183, PT_INTERP);
        d[64 + 8..64 + 16].copy_from_slice(&4096u64.to_le_bytes());
        let e = Elf::parse(&d).unwrap();
        assert_eq!((e.machine, e.kind), (EM_AARCH64, ET_EXEC));
        assert_eq!(e.interp.as_deref(), Some("(out of the file)"));
        assert!(!e.big_endian);
        let e = Elf::parse(&elf32_be(8)).unwrap();
        assert_eq!((e.machine, e.big_endian, e.interp), (EM_MIPS, true, None));
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
