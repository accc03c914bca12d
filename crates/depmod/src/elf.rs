//! The ELF side of a kernel module: sections, `.modinfo` strings, exported
//! and undefined symbols, `__versions`.
//!
//! Structures are decoded with the `object` crate's ELF types; what is
//! accepted and how each table is read follows libkmod, so a module kmod
//! can read gives the same answers here and a module it refuses is refused
//! with the same `errno`:
//! - the file must be a 32- or 64-bit, little- or big-endian ELF whose
//!   section header table lies inside the file and whose section-name table
//!   ends with a NUL (otherwise `EINVAL`; no ELF magic is `ENOEXEC`);
//!   `e_machine` is not checked (see [`Elf::machine`]);
//! - a section is found by name, the first one (from index 1) whose data
//!   lies inside the file;
//! - exported symbols are the `__crc_<name>` symbols of `.symtab` (kernels
//!   with `CONFIG_MODVERSIONS`; the CRC is the symbol's value, or, for a
//!   symbol defined in a section, the 32-bit word at that offset of it), and
//!   when there are none the strings of `__ksymtab_strings`;
//! - undefined symbols are the `SHN_UNDEF` entries of `.symtab` with a
//!   name, each with the CRC of its `__versions` entry, followed by the
//!   `__versions` entries no symbol used (`module_layout`).

use std::borrow::Cow;

use object::elf::{
    FileHeader32, FileHeader64, SHN_ABS, SHN_UNDEF, STB_GLOBAL, STB_LOCAL, STB_WEAK,
};
use object::read::elf::{FileHeader, SectionHeader, Sym};
use object::Endianness;

use crate::file::errno::{EINVAL, ENOENT, ENOEXEC};
use crate::file::Image;

/// ELF class of a module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// ELFCLASS32.
    Elf32,
    /// ELFCLASS64.
    Elf64,
}

/// Binding of a symbol, as libkmod reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bind {
    /// An unknown ELF binding.
    None,
    /// STB_LOCAL.
    Local,
    /// STB_GLOBAL.
    Global,
    /// STB_WEAK.
    Weak,
    /// An undefined (needed) symbol.
    Undefined,
}

/// A symbol a module exports or needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symbol {
    /// The name, without the `__crc_` prefix for exports.
    pub name: Box<[u8]>,
    /// The CRC (MODVERSIONS), 0 when there is none.
    pub crc: u64,
    /// Binding.
    pub bind: Bind,
}

impl Symbol {
    /// The name as text (lossy).
    pub fn name_str(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.name)
    }
}

/// Section contents: borrowed from an in-memory image, or read from the
/// file once and shared.
pub enum Data<'a> {
    /// A slice of the decompressed image.
    Borrowed(&'a [u8]),
    /// Read from a plain file: a range of a shared buffer.
    Shared(std::sync::Arc<[u8]>, usize, usize),
}

impl std::ops::Deref for Data<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Data::Borrowed(b) => b,
            Data::Shared(a, start, len) => &a[*start..*start + *len],
        }
    }
}

/// An ELF file kmod would accept, with an `errno` and a reason otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfError {
    /// `ENOEXEC` (not ELF) or `EINVAL` (malformed), as libkmod.
    pub errno: i32,
    /// What is wrong, for people.
    pub reason: String,
}

impl ElfError {
    fn inval(reason: impl Into<String>) -> Self {
        ElfError {
            errno: EINVAL,
            reason: reason.into(),
        }
    }
}

#[derive(Clone, Copy)]
struct SectionInfo {
    offset: u64,
    size: u64,
    name: u32,
    valid: bool,
}

struct RawSym {
    name: u32,
    info: u8,
    shndx: u16,
    value: u64,
}

/// A section read from a file: (section index, buffer, start in buffer).
type Cached = (usize, std::sync::Arc<[u8]>, usize);

/// A parsed module ELF image.
pub struct Elf {
    image: Image,
    /// Section data already read from a file image, by section index.
    cache: std::cell::RefCell<Vec<Cached>>,
    /// `.symtab`, decoded once (`None`: missing or malformed).
    syms: std::cell::OnceCell<Option<Vec<RawSym>>>,
    class: Class,
    endian: Endianness,
    machine: u16,
    sections: Vec<SectionInfo>,
    names: Vec<u8>,
}

fn cstr(buf: &[u8], at: usize) -> &[u8] {
    let rest = buf.get(at..).unwrap_or(b"");
    match rest.iter().position(|&c| c == 0) {
        Some(n) => &rest[..n],
        None => rest,
    }
}

fn io_err(e: std::io::Error) -> ElfError {
    ElfError::inval(format!("read error: {e}"))
}

fn decode_header<H: FileHeader<Endian = Endianness>>(
    bytes: &[u8],
    endian: Endianness,
) -> (u64, u16, u16, u16, u16) {
    let (h, _) = object::pod::from_bytes::<H>(bytes).expect("header size checked");
    (
        h.e_shoff(endian).into(),
        h.e_shnum(endian),
        h.e_shentsize(endian),
        h.e_shstrndx(endian),
        h.e_machine(endian),
    )
}

fn decode_sections<H: FileHeader<Endian = Endianness>>(
    bytes: &[u8],
    count: usize,
    endian: Endianness,
    file_len: u64,
) -> Vec<SectionInfo> {
    let (shdrs, _) =
        object::pod::slice_from_bytes::<H::SectionHeader>(bytes, count).expect("size checked");
    shdrs
        .iter()
        .map(|s| {
            let offset: u64 = s.sh_offset(endian).into();
            let size: u64 = s.sh_size(endian).into();
            let valid = offset.checked_add(size).is_some_and(|e| e <= file_len);
            SectionInfo {
                offset,
                size,
                name: s.sh_name(endian),
                valid,
            }
        })
        .collect()
}

fn decode_syms<H: FileHeader<Endian = Endianness>>(
    bytes: &[u8],
    endian: Endianness,
) -> Vec<RawSym> {
    let count = bytes.len() / std::mem::size_of::<H::Sym>();
    let (syms, _) = object::pod::slice_from_bytes::<H::Sym>(bytes, count).expect("size checked");
    syms.iter()
        .map(|s| RawSym {
            name: s.st_name(endian),
            info: s.st_info(),
            shndx: s.st_shndx(endian),
            value: s.st_value(endian).into(),
        })
        .collect()
}

impl Elf {
    /// Parse the headers of `image` (kmod's `kmod_elf_new`).
    pub fn parse(image: Image) -> Result<Elf, ElfError> {
        let len = image.len();
        let ident = image.read(0, len.min(64)).map_err(io_err)?.into_owned();
        if len <= 16 || !ident.starts_with(b"\x7fELF") {
            return Err(ElfError {
                errno: ENOEXEC,
                reason: "not an ELF file".into(),
            });
        }
        let class = match ident[4] {
            1 if len > 52 => Class::Elf32,
            2 if len > 64 => Class::Elf64,
            1 | 2 => return Err(ElfError::inval("truncated ELF header")),
            c => return Err(ElfError::inval(format!("unknown ELF class {c}"))),
        };
        let endian = match ident[5] {
            1 => Endianness::Little,
            2 => Endianness::Big,
            d => return Err(ElfError::inval(format!("unknown ELF data encoding {d}"))),
        };
        let (shoff, shnum, shentsize, shstrndx, machine) = match class {
            Class::Elf32 => decode_header::<FileHeader32<Endianness>>(&ident, endian),
            Class::Elf64 => decode_header::<FileHeader64<Endianness>>(&ident, endian),
        };
        let shdr_size: u16 = match class {
            Class::Elf32 => 40,
            Class::Elf64 => 64,
        };
        if shentsize != shdr_size {
            return Err(ElfError::inval(format!(
                "unexpected section header size {shentsize}"
            )));
        }
        let table = u64::from(shdr_size) * u64::from(shnum);
        if shoff.checked_add(table).is_none_or(|e| e > len) {
            return Err(ElfError::inval(
                "file too short to hold its section headers (truncated?)",
            ));
        }
        // From a file, read a little before the table too: the section
        // name table usually sits right there.
        let pre = match image {
            Image::File { .. } => shoff.min(4096),
            Image::Memory(_) => 0,
        };
        let bytes = image.read(shoff - pre, table + pre).map_err(io_err)?;
        let shdrs = &bytes[pre as usize..];
        let sections = match class {
            Class::Elf32 => {
                decode_sections::<FileHeader32<Endianness>>(shdrs, shnum.into(), endian, len)
            }
            Class::Elf64 => {
                decode_sections::<FileHeader64<Endianness>>(shdrs, shnum.into(), endian, len)
            }
        };
        let strs = match sections.get(usize::from(shstrndx)) {
            Some(s) if shstrndx != 0 && s.valid => *s,
            _ => return Err(ElfError::inval("bad section name table")),
        };
        let names = if strs.offset >= shoff - pre && strs.offset + strs.size <= shoff + table {
            let a = (strs.offset - (shoff - pre)) as usize;
            bytes[a..a + strs.size as usize].to_vec()
        } else {
            image
                .read(strs.offset, strs.size)
                .map_err(io_err)?
                .into_owned()
        };
        drop(bytes);
        if names.last() != Some(&0) {
            return Err(ElfError::inval("section name table does not end with NUL"));
        }
        Ok(Elf {
            image,
            cache: Default::default(),
            syms: Default::default(),
            class,
            endian,
            machine,
            sections,
            names,
        })
    }

    /// ELF class.
    pub fn class(&self) -> Class {
        self.class
    }

    /// Byte order.
    pub fn endian(&self) -> Endianness {
        self.endian
    }

    /// `e_machine` (`object::elf::EM_*`). kmod never looks at it.
    pub fn machine(&self) -> u16 {
        self.machine
    }

    /// Size of the (decompressed) image.
    pub fn size(&self) -> u64 {
        self.image.len()
    }

    fn find(&self, name: &[u8]) -> Option<usize> {
        self.sections.iter().enumerate().skip(1).find_map(|(i, s)| {
            (s.valid
                && (s.name as usize) < self.names.len()
                && cstr(&self.names, s.name as usize) == name)
                .then_some(i)
        })
    }

    /// The data of section `i` (which must be valid), read once.
    fn section_data(&self, i: usize) -> Result<Data<'_>, i32> {
        let s = self.sections[i];
        if let Image::Memory(v) = &self.image {
            return Ok(Data::Borrowed(
                &v[s.offset as usize..(s.offset + s.size) as usize],
            ));
        }
        if let Some((_, d, start)) = self.cache.borrow().iter().find(|(j, _, _)| *j == i) {
            return Ok(Data::Shared(d.clone(), *start, s.size as usize));
        }
        let d: std::sync::Arc<[u8]> = self
            .image
            .read(s.offset, s.size)
            .map_err(|_| EINVAL)?
            .into_owned()
            .into();
        self.cache.borrow_mut().push((i, d.clone(), 0));
        Ok(Data::Shared(d, 0, s.size as usize))
    }

    /// Read the named sections (and those whose names start with a name
    /// ending in `*`) of a file image in as few reads as possible: ranges
    /// closer than 16 KiB are read together.
    pub fn prefetch(&self, names: &[&str]) {
        if matches!(self.image, Image::Memory(_)) {
            return;
        }
        let mut want: Vec<usize> = Vec::new();
        for n in names {
            if let Some(p) = n.strip_suffix('*') {
                for (i, s) in self.sections.iter().enumerate().skip(1) {
                    if s.valid
                        && s.size > 0
                        && cstr(&self.names, s.name as usize).starts_with(p.as_bytes())
                    {
                        want.push(i);
                    }
                }
            } else if let Some(i) = self.find(n.as_bytes()) {
                if self.sections[i].size > 0 {
                    want.push(i);
                }
            }
        }
        want.sort_by_key(|&i| self.sections[i].offset);
        want.dedup();
        let mut k = 0;
        while k < want.len() {
            let start = self.sections[want[k]].offset;
            let mut end = start + self.sections[want[k]].size;
            let mut j = k + 1;
            while j < want.len() {
                let s = self.sections[want[j]];
                if s.offset > end.saturating_add(16 << 10) {
                    break;
                }
                end = end.max(s.offset + s.size);
                j += 1;
            }
            if let Ok(buf) = self.image.read(start, end - start) {
                let buf: std::sync::Arc<[u8]> = buf.into_owned().into();
                let mut cache = self.cache.borrow_mut();
                for &i in &want[k..j] {
                    cache.push((i, buf.clone(), (self.sections[i].offset - start) as usize));
                }
            }
            k = j;
        }
    }

    /// The data of the first section named `name` (kmod's lookup rule).
    pub fn section(&self, name: &str) -> Result<Data<'_>, i32> {
        match self.find(name.as_bytes()) {
            Some(i) => self.section_data(i),
            None => Err(ENOENT),
        }
    }

    /// Names of all sections, in order (index 0 included).
    pub fn section_names(&self) -> Vec<Vec<u8>> {
        self.sections
            .iter()
            .map(|s| cstr(&self.names, s.name as usize).to_vec())
            .collect()
    }

    /// The NUL-separated strings of a section, empty ones skipped (kmod's
    /// `kmod_elf_get_strings`; used for `.modinfo`).
    pub fn strings(&self, name: &str) -> Result<Vec<Box<[u8]>>, i32> {
        let data = self.section(name)?;
        Ok(split_strings(&data))
    }

    fn symtab(&self) -> Option<(&[RawSym], Data<'_>)> {
        let strtab = self.section(".strtab").ok()?;
        let syms = self
            .syms
            .get_or_init(|| {
                let symtab = self.section(".symtab").ok()?;
                let symlen = match self.class {
                    Class::Elf32 => 16,
                    Class::Elf64 => 24,
                };
                if symtab.len() % symlen != 0 {
                    return None;
                }
                Some(match self.class {
                    Class::Elf32 => decode_syms::<FileHeader32<Endianness>>(&symtab, self.endian),
                    Class::Elf64 => decode_syms::<FileHeader64<Endianness>>(&symtab, self.endian),
                })
            })
            .as_deref()?;
        Some((syms, strtab))
    }

    /// Exported symbols (kmod's `kmod_elf_get_symbols`); `ENOENT` when the
    /// module has neither `__crc_` symbols nor `__ksymtab_strings`.
    pub fn exports(&self) -> Result<Vec<Symbol>, i32> {
        let mut out = Vec::new();
        self.for_each_export(&mut |name, crc, bind| {
            out.push(Symbol {
                name: name.into(),
                crc,
                bind,
            })
        })?;
        Ok(out)
    }

    /// [`Elf::exports`] without building the list: `f(name, crc, bind)`
    /// for each, in order.
    pub fn for_each_export(&self, f: &mut dyn FnMut(&[u8], u64, Bind)) -> Result<(), i32> {
        if let Some((syms, strtab)) = self.symtab() {
            let mut ok = true;
            let mut any = false;
            for s in syms.iter().skip(1) {
                if s.name as usize >= strtab.len() {
                    ok = false;
                    break;
                }
                // (a name is NUL-terminated, so a prefix test needs no strlen)
                if strtab[s.name as usize..].starts_with(b"__crc_") {
                    any = true;
                }
            }
            if ok && any {
                for s in syms.iter().skip(1) {
                    if !strtab[s.name as usize..].starts_with(b"__crc_") {
                        continue;
                    }
                    let name = &cstr(&strtab, s.name as usize)[6..];
                    let bind = match s.info >> 4 {
                        STB_LOCAL => Bind::Local,
                        STB_GLOBAL => Bind::Global,
                        STB_WEAK => Bind::Weak,
                        _ => Bind::None,
                    };
                    f(name, self.resolve_crc(s.value, s.shndx), bind);
                }
                return Ok(());
            }
        }
        let data = self.section("__ksymtab_strings")?;
        for_each_string(&data, &mut |name| f(name, 0, Bind::Global));
        Ok(())
    }

    fn resolve_crc(&self, value: u64, shndx: u16) -> u64 {
        if shndx == SHN_ABS || shndx == SHN_UNDEF {
            return value;
        }
        let Some(s) = self.sections.get(usize::from(shndx)).filter(|s| s.valid) else {
            return u64::MAX;
        };
        if value > s.size.wrapping_sub(4) {
            return u64::MAX;
        }
        let Ok(data) = self.section_data(usize::from(shndx)) else {
            return u64::MAX;
        };
        match data.get(value as usize..).filter(|b| b.len() >= 4) {
            Some(b) => u64::from(self.u32(b)),
            None => u64::MAX,
        }
    }

    fn u32(&self, b: &[u8]) -> u32 {
        let a: [u8; 4] = b[..4].try_into().unwrap();
        match self.endian {
            Endianness::Little => u32::from_le_bytes(a),
            Endianness::Big => u32::from_be_bytes(a),
        }
    }

    fn crc_word(&self, b: &[u8]) -> u64 {
        match self.class {
            Class::Elf32 => u64::from(self.u32(b)),
            Class::Elf64 => {
                let a: [u8; 8] = b[..8].try_into().unwrap();
                match self.endian {
                    Endianness::Little => u64::from_le_bytes(a),
                    Endianness::Big => u64::from_be_bytes(a),
                }
            }
        }
    }

    fn versions_raw(&self) -> Option<(Data<'_>, usize)> {
        let data = self.section("__versions").ok()?;
        let crclen = match self.class {
            Class::Elf32 => 4,
            Class::Elf64 => 8,
        };
        if data.len() % 64 != 0 {
            return None;
        }
        Some((data, crclen))
    }

    /// The `__versions` table: (CRC, symbol) pairs a module was built
    /// against (kmod's `kmod_elf_get_modversions`).
    pub fn modversions(&self) -> Result<Vec<Symbol>, i32> {
        let data = self.section("__versions")?;
        if data.len() % 64 != 0 {
            return Err(EINVAL);
        }
        let crclen = if self.class == Class::Elf32 { 4 } else { 8 };
        Ok(data
            .chunks_exact(64)
            .enumerate()
            .map(|(i, e)| {
                let mut name = cstr(&data, i * 64 + crclen);
                if name.first() == Some(&b'.') {
                    name = &name[1..];
                }
                Symbol {
                    name: name.into(),
                    crc: self.crc_word(e),
                    bind: Bind::Undefined,
                }
            })
            .collect())
    }

    /// Symbols the module needs (kmod's `kmod_elf_get_dependency_symbols`):
    /// undefined `.symtab` entries, then unused `__versions` entries.
    pub fn dependency_symbols(&self) -> Result<Vec<Symbol>, i32> {
        let mut out = Vec::new();
        self.for_each_dependency_symbol(&mut |name, crc, bind| {
            out.push(Symbol {
                name: name.into(),
                crc,
                bind,
            })
        })?;
        Ok(out)
    }

    /// [`Elf::dependency_symbols`] without building the list; `f` is not
    /// called at all when the table is bad.
    pub fn for_each_dependency_symbol(
        &self,
        f: &mut dyn FnMut(&[u8], u64, Bind),
    ) -> Result<(), i32> {
        let versions = self.versions_raw();
        let (syms, strtab) = self.symtab().ok_or(EINVAL)?;
        let sparc = matches!(
            self.machine,
            object::elf::EM_SPARC | object::elf::EM_SPARCV9
        );
        let wanted = |s: &RawSym| s.shndx == SHN_UNDEF && !(sparc && (s.info & 0xf) == 13);
        if syms
            .iter()
            .skip(1)
            .any(|s| wanted(s) && s.name as usize >= strtab.len())
        {
            return Err(EINVAL);
        }
        // first entry of each name in __versions
        let mut first: crate::hash::FnvHashMap<&[u8], usize> = Default::default();
        if let Some((v, crclen)) = &versions {
            first.reserve(v.len() / 64);
            for i in 0..v.len() / 64 {
                first.entry(cstr(v, i * 64 + crclen)).or_insert(i);
            }
        }
        let mut visited = vec![false; versions.as_ref().map_or(0, |(v, _)| v.len() / 64)];
        for s in syms.iter().skip(1) {
            if !wanted(s) {
                continue;
            }
            let name = cstr(&strtab, s.name as usize);
            if name.is_empty() {
                continue;
            }
            let crc = match (&versions, first.get(name)) {
                (Some((v, _)), Some(&i)) => {
                    visited[i] = true;
                    self.crc_word(&v[i * 64..])
                }
                _ => 0,
            };
            let bind = if s.info >> 4 == STB_WEAK {
                Bind::Weak
            } else {
                Bind::Undefined
            };
            f(name, crc, bind);
        }
        if let Some((v, crclen)) = &versions {
            for (i, seen) in visited.iter().enumerate() {
                if !seen {
                    f(
                        cstr(v, i * 64 + crclen),
                        self.crc_word(&v[i * 64..]),
                        Bind::Undefined,
                    );
                }
            }
        }
        Ok(())
    }
}

/// kmod's splitting of a string section: skip leading NULs (keeping at
/// least one byte; one byte left means no strings), then NUL-separated
/// strings with empty ones skipped; an unterminated last string counts.
pub fn split_strings(data: &[u8]) -> Vec<Box<[u8]>> {
    let start = data
        .iter()
        .position(|&c| c != 0)
        .unwrap_or(data.len())
        .min(data.len().saturating_sub(1));
    let s = &data[start..];
    if s.len() <= 1 {
        return Vec::new();
    }
    s.split(|&c| c == 0)
        .filter(|p| !p.is_empty())
        .map(Into::into)
        .collect()
}

/// [`split_strings`] without building the list.
pub fn for_each_string(data: &[u8], f: &mut dyn FnMut(&[u8])) {
    let start = data
        .iter()
        .position(|&c| c != 0)
        .unwrap_or(data.len())
        .min(data.len().saturating_sub(1));
    let s = &data[start..];
    if s.len() <= 1 {
        return;
    }
    for p in s.split(|&c| c == 0).filter(|p| !p.is_empty()) {
        f(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings() {
        assert_eq!(split_strings(b""), Vec::<Box<[u8]>>::new());
        assert_eq!(split_strings(b"\0\0a"), Vec::<Box<[u8]>>::new());
        assert_eq!(split_strings(b"a"), Vec::<Box<[u8]>>::new());
        assert_eq!(split_strings(b"ab").len(), 1);
        assert_eq!(split_strings(b"\0a=1\0\0b=2\0").len(), 2);
        assert_eq!(split_strings(b"a=1\0b").len(), 2);
    }

    #[test]
    fn not_elf() {
        let e = Elf::parse(Image::Memory(vec![0; 100])).err().unwrap();
        assert_eq!(e.errno, ENOEXEC);
        let mut h = b"\x7fELF\x02\x01\x01".to_vec();
        h.resize(65, 0);
        let e = Elf::parse(Image::Memory(h)).err().unwrap();
        assert_eq!(e.errno, EINVAL);
    }
}
