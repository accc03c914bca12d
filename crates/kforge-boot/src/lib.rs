//! Boot a built kernel in QEMU with a small generated initramfs, run a test
//! script inside it and report what happened (the engine of `kforge test`).
//!
//! The pieces, in the order a run uses them:
//!
//! - [`cpio`] writes `newc` cpio archives, the format the kernel unpacks
//!   into its initial root filesystem.
//! - [`initramfs::Initramfs`] collects files, directories, symlinks and
//!   device nodes at guest paths and writes them as an (optionally gzip,
//!   zstd or xz compressed) initramfs; [`busybox::find_busybox`] finds the
//!   statically linked busybox that provides the guest's shell and tools.
//! - [`guest::init_script`] generates `/init`: it mounts the pseudo
//!   filesystems, runs module loaders, the test script and the unloaders,
//!   and prints markers carrying a per-run nonce on the console.
//! - [`qemu::run`] boots the kernel, captures the serial console, enforces
//!   a timeout and turns the markers into an [`qemu::Outcome`].
//! - [`junit`] writes the outcomes as JUnit XML for CI systems.

pub mod busybox;
pub mod cpio;
pub mod guest;
pub mod initramfs;
pub mod junit;
pub mod qemu;

pub use busybox::{check_busybox, find_busybox};
pub use guest::{init_script, new_nonce, GuestPlan, Loader};
pub use initramfs::{Compression, Initramfs};
pub use qemu::{run, Arch, KvmMode, LoaderResult, Outcome, RunOptions, Status};

use std::path::PathBuf;

/// Errors of this crate: I/O on named paths, invalid input, and missing or
/// unusable host tools (with the Debian package that provides them).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O operation on a host path failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("reading", "writing", ...).
        action: &'static str,
        /// The host path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Writing an archive or compressed stream failed.
    #[error("writing the initramfs: {0}")]
    Write(#[source] std::io::Error),
    /// A cpio entry cannot be represented in the `newc` format.
    #[error("cpio entry {name:?}: {reason}")]
    Cpio {
        /// The entry's name in the archive.
        name: String,
        /// Why it cannot be written.
        reason: String,
    },
    /// A guest path is not usable (empty, relative components, NUL, ...).
    #[error("guest path {path:?}: {reason}")]
    GuestPath {
        /// The path as given.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A guest path was added twice with different contents or kinds.
    #[error("guest path {0:?} is already in the initramfs as something else")]
    Conflict(String),
    /// The test plan is invalid (bad loader name, bad nonce, ...).
    #[error("test plan: {0}")]
    Plan(String),
    /// No busybox at the places looked at.
    #[error("no busybox found (looked at {looked}); install Debian's busybox-static package")]
    BusyboxMissing {
        /// The paths looked at, comma separated.
        looked: String,
    },
    /// The busybox found is dynamically linked and cannot run in the
    /// initramfs, which has no C library.
    #[error(
        "{path} is dynamically linked (it asks for the program interpreter {interp}); \
         the initramfs has no C library: install Debian's busybox-static package"
    )]
    BusyboxDynamic {
        /// The busybox binary.
        path: PathBuf,
        /// Its PT_INTERP program interpreter.
        interp: String,
    },
    /// The busybox found is not an ELF executable for the guest's
    /// architecture.
    #[error("{path}: {reason}")]
    BusyboxUnusable {
        /// The busybox binary.
        path: PathBuf,
        /// Why it cannot be used.
        reason: String,
    },
    /// The QEMU system emulator for the guest architecture is not installed.
    #[error("{binary} not found; install Debian's {package} package")]
    QemuMissing {
        /// The binary name or path looked for.
        binary: String,
        /// The Debian package that provides it.
        package: &'static str,
    },
    /// Starting or waiting for QEMU failed.
    #[error("running {binary}: {source}")]
    QemuSpawn {
        /// The QEMU binary.
        binary: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The run options are invalid (kernel image missing, zero memory, ...).
    #[error("run options: {0}")]
    Options(String),
}

pub(crate) fn io_err(
    action: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io {
        action,
        path,
        source,
    }
}
