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
//!
//! # Example
//!
//! Module names as kmod normalises them, and a `modules.alias.bin`-style
//! trie built in memory and read back as modprobe would look it up:
//!
//! ```
//! use depmod::index::{Index, IndexBuilder};
//! use depmod::{normalize_alias, normalize_name_str};
//!
//! // A file name becomes a module name: `-` to `_`, extensions dropped.
//! assert_eq!(normalize_name_str("snd-hda-intel.ko.xz"), "snd_hda_intel");
//! // In an alias, `-` becomes `_` except inside a `[...]` class.
//! assert_eq!(normalize_alias(b"fs-btrfs").unwrap(), b"fs_btrfs");
//! assert_eq!(normalize_alias(b"pci:v[0-9]*").unwrap(), b"pci:v[0-9]*");
//!
//! // kmod's index format: keys in a trie, each with prioritised values.
//! let mut builder = IndexBuilder::new();
//! builder.insert(b"fs_btrfs", b"btrfs", 0)?;
//! builder.insert(b"net_pf_16_proto_16_family_nl80211", b"cfg80211", 0)?;
//! builder.insert(b"fs_ext4", b"ext4", 0)?;
//! let bytes = builder.write();
//!
//! let index = Index::new(&bytes)?;
//! assert_eq!(index.lookup(b"fs_btrfs")?, vec![(0, b"btrfs".to_vec())]);
//! assert!(index.lookup(b"fs_xfs")?.is_empty());
//! assert_eq!(index.dump()?.len(), 3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

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
