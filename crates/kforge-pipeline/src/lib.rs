//! kforge's pipeline, as typed stages a front (the `kforge` binary, a
//! test, another tool) calls in order. Each stage takes the previous
//! one's value and returns its own, or an [`Error`] that says, as data,
//! what is at fault; the words a user reads are the front's.
//!
//! 1. **Declaration loaded**: [`kforge_declaration::Spec::load`] reads a
//!    `kernel.toml`, its includes and lock.
//! 2. **Source prepared**: [`source::prepare`] gives the [`SourceTree`]
//!    (a given tree, or the declared tarball fetched, verified, unpacked
//!    and patched) with the digest the store key needs.
//! 3. **Resolved**: [`resolved::resolve`] loads the tree's Kconfig with
//!    the environment make would give conf and resolves the requests:
//!    a [`Resolved`] holds the `.config`, every request's outcome with its
//!    reason and checked fix, and the tree for explanations.
//! 4. **Plan**: [`plan::plan`] turns a resolution into a [`Plan`]: the
//!    store key and its inputs, the toolchain, the make invocation and
//!    environment. [`plan::memo_hit`] finds an entry without resolving when
//!    nothing changed since an earlier resolution.
//! 5. **Store entry**: [`build::build`] runs make into a content-addressed
//!    store entry described by a typed [`Manifest`].
//! 6. **Boot report**: [`boot::boot`] boots an entry in QEMU with its
//!    loaders and test script, and gives a [`boot::BootReport`].
//!
//! Before building, [`substitute`] asks the declaration's binary caches
//! for the entry.
//!
//! [`audit`] judges a resolution against hardening policies.
//! [`conf`] is the `scripts/kconfig/conf` drop-in, built on the same engine.
//! [`import`] turns a `.config` into a declaration, [`diff`] compares two
//! configurations, and [`update`] follows kernel.org's releases in a lock
//! file and checks declarations against the new ones.

pub mod audit;
pub mod boot;
pub mod build;
pub mod conf;
pub mod diff;
pub mod error;
pub mod external;
pub mod import;
pub mod manifest;
pub mod matrix;
pub mod modules;
pub mod plan;
pub mod resolved;
pub mod run;
pub mod shell;
pub mod source;
pub mod substitute;
pub mod update;

pub use build::StoreEntry;
pub use error::Error;
pub use manifest::Manifest;
pub use plan::Plan;
pub use resolved::Resolved;
pub use source::SourceTree;
