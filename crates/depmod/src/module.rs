//! A kernel module read from a file: name, `.modinfo`, symbols.

use std::path::{Path, PathBuf};

use crate::elf::{Class, Elf, ElfError, Symbol};
use crate::file::{errno, Compression, Image};
use crate::modinfo::Modinfo;
use crate::name::normalize_name;

/// Why a module could not be read. Every variant names the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The file could not be opened or decompressed.
    #[error("{path}: {msg}", path = path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// kmod's errno for it.
        errno: i32,
        /// What went wrong.
        msg: String,
    },
    /// Not an ELF file, or a malformed (for example truncated) one.
    #[error("{path}: not a valid kernel module: {reason} ({})", errno::strerror(*errno), path = path.display())]
    Elf {
        /// The file.
        path: PathBuf,
        /// kmod's errno for it (`ENOEXEC` or `EINVAL`).
        errno: i32,
        /// What is wrong.
        reason: String,
    },
    /// A section the module needs is malformed.
    #[error("{path}: bad {what}: {}", errno::strerror(*errno), path = path.display())]
    Section {
        /// The file.
        path: PathBuf,
        /// Which table.
        what: &'static str,
        /// errno.
        errno: i32,
    },
    /// The module is for another architecture.
    #[error("{path}: ELF machine {found} ({}) is not the expected {expected} ({})", machine_name(*found), machine_name(*expected), path = path.display())]
    WrongMachine {
        /// The file.
        path: PathBuf,
        /// Its `e_machine`.
        found: u16,
        /// The one wanted.
        expected: u16,
    },
}

/// A name for an ELF `e_machine` value.
pub fn machine_name(m: u16) -> &'static str {
    use object::elf::*;
    match m {
        EM_386 => "i386",
        EM_X86_64 => "x86_64",
        EM_AARCH64 => "aarch64",
        EM_ARM => "arm",
        EM_PPC => "powerpc",
        EM_PPC64 => "powerpc64",
        EM_S390 => "s390",
        EM_RISCV => "riscv",
        EM_MIPS => "mips",
        EM_SPARC => "sparc",
        EM_SPARCV9 => "sparc64",
        EM_PARISC => "parisc",
        EM_LOONGARCH => "loongarch",
        EM_SH => "sh",
        EM_ALPHA => "alpha",
        EM_68K => "m68k",
        EM_XTENSA => "xtensa",
        EM_ARC_COMPACT | EM_ARC_COMPACT2 => "arc",
        EM_CSKY => "csky",
        EM_MICROBLAZE => "microblaze",
        EM_OPENRISC => "openrisc",
        EM_NONE => "none",
        _ => "unknown",
    }
}

/// A module read from a file (or from bytes).
#[derive(Debug, Clone)]
pub struct Module {
    /// Where it was read from.
    pub path: PathBuf,
    /// Its name: the file name up to the first `.`, `-` turned to `_`.
    pub name: String,
    /// How the file was compressed.
    pub compression: Compression,
    /// ELF class.
    pub class: Class,
    /// `e_machine`.
    pub machine: u16,
    /// `.modinfo`.
    pub modinfo: Modinfo,
    /// Exported symbols (`__crc_*` with MODVERSIONS, else `__ksymtab_strings`).
    pub exports: Vec<Symbol>,
    /// Symbols it needs (undefined ones, then unused `__versions` entries).
    pub undefined: Vec<Symbol>,
    /// `__versions` (empty without MODVERSIONS).
    pub versions: Vec<Symbol>,
}

impl Module {
    /// Read a module file (`.ko`, `.ko.xz`, `.ko.zst`, `.ko.gz`; the
    /// compression is told by content).
    pub fn open(path: impl AsRef<Path>) -> Result<Module, Error> {
        let path = path.as_ref();
        let (image, comp) = crate::file::open(path).map_err(|e| {
            let mut msg = errno::strerror(e.errno);
            for m in &e.messages {
                msg = format!("{m} ({msg})");
            }
            Error::Open {
                path: path.to_path_buf(),
                errno: e.errno,
                msg,
            }
        })?;
        Module::from_image(path, image, comp)
    }

    /// Read a module from bytes (compressed or not); `path` names it.
    pub fn from_bytes(path: impl AsRef<Path>, data: &[u8]) -> Result<Module, Error> {
        let path = path.as_ref();
        if data.len() < 6 {
            return Err(Error::Open {
                path: path.to_path_buf(),
                errno: errno::EINVAL,
                msg: "file too short".into(),
            });
        }
        let comp = crate::file::detect(data);
        let bytes = crate::file::decompress(data, comp).map_err(|e| Error::Open {
            path: path.to_path_buf(),
            errno: e.errno,
            msg: e.messages.join("; "),
        })?;
        Module::from_image(path, Image::Memory(bytes), comp)
    }

    fn from_image(path: &Path, image: Image, compression: Compression) -> Result<Module, Error> {
        let elf = Elf::parse(image).map_err(|ElfError { errno, reason }| Error::Elf {
            path: path.to_path_buf(),
            errno,
            reason,
        })?;
        let section = |what: &'static str| {
            move |errno: i32| Error::Section {
                path: path.to_path_buf(),
                what,
                errno,
            }
        };
        let exports = match elf.exports() {
            Ok(s) => s,
            Err(errno::ENOENT) => Vec::new(),
            Err(e) => return Err(section("exported symbol table")(e)),
        };
        let modinfo = match elf.strings(".modinfo") {
            Ok(s) => Modinfo::from_strings(&s),
            Err(errno::ENOENT) => Modinfo::default(),
            Err(e) => return Err(section(".modinfo")(e)),
        };
        let undefined = elf
            .dependency_symbols()
            .map_err(section("symbol table (.symtab/.strtab)"))?;
        let versions = match elf.modversions() {
            Ok(v) => v,
            Err(errno::ENOENT) => Vec::new(),
            Err(e) => return Err(section("__versions")(e)),
        };
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Module {
            path: path.to_path_buf(),
            name: String::from_utf8_lossy(&normalize_name(file_name.as_bytes())).into_owned(),
            compression,
            class: elf.class(),
            machine: elf.machine(),
            modinfo,
            exports,
            undefined,
            versions,
        })
    }

    /// Fail unless the module is for `expected` (an `object::elf::EM_*`).
    pub fn check_machine(&self, expected: u16) -> Result<(), Error> {
        if self.machine == expected {
            Ok(())
        } else {
            Err(Error::WrongMachine {
                path: self.path.clone(),
                found: self.machine,
                expected,
            })
        }
    }
}
