//! Linux kernel modules, read the way kmod reads them, and depmod.
//!
//! - [`Module::open`] reads a `.ko`, `.ko.xz`, `.ko.zst` or `.ko.gz`: its
//!   name, `.modinfo` ([`Modinfo`]: aliases, `depends`, `softdep`,
//!   `firmware`, `vermagic`, ...), exported symbols (`__crc_*` symbols with
//!   MODVERSIONS, `__ksymtab_strings` otherwise, as kmod's depmod does for
//!   every kernel generation), undefined symbols and `__versions`.
//! - [`generate::run`] writes `modules.dep`, `.alias`, `.softdep`, `.symbols`,
//!   `.devname` and the binary tries (`*.bin`) byte-identical to kmod 30's
//!   depmod, in parallel.
//! - [`index`] builds and reads kmod's trie index files.
//! - [`closure::Tree::closure`] computes what a requirement needs: modules
//!   in load order (dependencies, soft dependencies), firmware.
//! - [`loader::write`] writes a directory that loads exactly a closure:
//!   its modules, their indexes and firmware, `load.sh`/`unload.sh`.
//!
//! The behaviour was learnt from kmod's sources; the code is this crate's.

pub mod closure;
pub mod config;
pub mod elf;
pub mod file;
pub mod generate;
pub mod hash;
pub mod index;
pub mod loader;
pub mod modinfo;
pub mod module;
pub mod name;

pub use elf::{Bind, Class, Symbol};
pub use file::Compression;
pub use modinfo::{Modinfo, Softdep};
pub use module::{machine_name, Error, Module};
pub use name::{normalize_alias, normalize_name, normalize_name_str};
