//! The pipeline's errors: what went wrong, as data. The words a user reads
//! (and the hints naming a front's own flags) are the front's to choose;
//! `Display` gives a plain sentence naming the file or value at fault.

use std::path::PathBuf;

use kforge_declaration::{Origin, SpecError};

/// A stage failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The declaration (or a file it includes) is wrong.
    #[error(transparent)]
    Declaration(#[from] SpecError),
    /// The environment make would give conf could not be derived.
    #[error(transparent)]
    Env(#[from] kforge_tree::env::KernelEnvError),
    /// The requests could not be resolved at all.
    #[error(transparent)]
    Resolve(#[from] kforge_resolve::ResolveError),
    /// The declared source could not be fetched, verified, unpacked or patched.
    #[error(transparent)]
    Source(Box<kforge_source::SourceError>),
    /// Requests could not be written into a declaration.
    #[error(transparent)]
    Edit(#[from] kforge_declaration::edit::EditError),
    /// A policy could not be had (unknown name, unreadable or wrong file).
    #[error(transparent)]
    Policy(#[from] kforge_policy::PolicyError),
    /// The tree's Kbuild files could not be read.
    #[error(transparent)]
    Kbuild(#[from] kforge_tree::KbuildError),
    /// The tree's Kconfig files do not parse: the engine's messages.
    #[error("the Kconfig tree could not be parsed:\n{0}")]
    Load(String),
    /// A file could not be read.
    #[error("{}: cannot read it: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("{}: cannot write it: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Some other I/O step failed; `what` says which.
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    /// A symbol the tree does not define for this architecture.
    #[error("unknown symbol {0}: not defined in this tree for this architecture")]
    UnknownSymbol(String),
    /// A given tree is used as it is, but the declaration patches its source.
    #[error("{0}: the given tree is built as it is, without the declared [[patches]]")]
    PatchesWithTree(Origin),
    /// A given tree is used as it is, but the declaration has a `post_patch`.
    #[error("the given tree is built as it is, but the declaration has a [build] post_patch")]
    PostPatchWithTree,
    /// The given tree has no top-level Makefile.
    #[error("{}: not a kernel tree (it has no Makefile)", .0.display())]
    NotAKernelTree(PathBuf),
    /// Required requests did not hold: nothing was built. The report has
    /// been made from the [`crate::Resolved`] the caller holds.
    #[error(
        "{requests} requests, {held} held, {errors} errors, {warnings} warnings; nothing built"
    )]
    Unresolved {
        requests: usize,
        held: usize,
        errors: usize,
        warnings: usize,
    },
    /// The host's compiler cannot build a foreign architecture.
    #[error("[build] arch = \"{arch}\" is not this machine's architecture ({host}), and the declaration has no cross compiler: the host's gcc cannot build it")]
    NeedsCrossCompiler {
        arch: String,
        host: String,
        /// The usual cross prefix for the architecture.
        prefix: String,
        /// The Debian package that has it.
        package: String,
    },
    /// A tool of the toolchain is not in `PATH`.
    #[error("{role} `{command}` is not in PATH")]
    MissingTool {
        role: String,
        command: String,
        cross_compile: Option<String>,
    },
    /// The compiler launcher is not in `PATH`.
    #[error("the compiler launcher `{0}` ([build] launcher) is not in PATH")]
    MissingLauncher(String),
    /// make failed; `excerpt` holds the lines that show why.
    #[error("the build failed: {error}")]
    Make {
        error: kforge_store::MakeError,
        /// The first error lines of the log (or its last lines).
        excerpt: Vec<String>,
        /// Whether `excerpt` holds compiler errors (else the log's tail).
        errors_found: bool,
        log: PathBuf,
    },
    /// `make olddefconfig` changed the resolved configuration: a bug in
    /// kforge's engine.
    #[error("the resolved configuration is not a fixed point of the kernel's `make olddefconfig`; it changed {} symbols", changes.len())]
    NotFixedPoint {
        changes: Vec<String>,
        config: PathBuf,
    },
    /// The build made no `include/config/kernel.release`.
    #[error("{}: cannot read the kernel release the build wrote: {source}", path.display())]
    NoRelease {
        path: PathBuf,
        source: std::io::Error,
    },
    /// kforge's depmod or a loader failed on the built modules.
    #[error("{message}")]
    Modules { message: String, log: PathBuf },
    /// A `.config` to import whose header names another architecture
    /// than the one the tree is configured for.
    #[error("{}: a configuration for {header_arch} (its header says \"Linux/{header_arch} {header_version}\"), but ARCH={arch} is {srcarch}", config.display())]
    ImportArchMismatch {
        config: PathBuf,
        /// The architecture and version of its header.
        header_arch: String,
        header_version: String,
        /// The architecture asked for (make's `ARCH`), and its `SRCARCH`.
        arch: String,
        srcarch: String,
    },
    /// A `.config` to import with too many symbols the tree does not know.
    #[error("{}: {unknown} of its {symbols} symbols are unknown to this tree (ARCH={arch}, Linux {kernel_version})", config.display())]
    ImportUnknownSymbols {
        config: PathBuf,
        unknown: usize,
        /// The symbols it names (at least 1).
        symbols: usize,
        arch: String,
        /// The tree's `KERNELVERSION`.
        kernel_version: String,
    },
    /// An external module's `path` cannot be read.
    #[error("{origin}: external module `{name}`: {}: {source}", path.display())]
    ExternalSource {
        name: String,
        origin: Origin,
        path: PathBuf,
        source: std::io::Error,
    },
    /// An external module's directory has no Kbuild or Makefile.
    #[error("{origin}: external module `{name}`: {} has no Kbuild or Makefile", dir.display())]
    ExternalNotAModule {
        name: String,
        origin: Origin,
        dir: PathBuf,
    },
    /// Building an out-of-tree module (`[external.NAME]`) failed.
    #[error("external module `{name}`: {source}")]
    External { name: String, source: Box<Error> },
    /// The kernel of a declaration with out-of-tree modules has no module
    /// support.
    #[error("{origin}: external module `{name}` needs a kernel with modules, but the configuration has CONFIG_MODULES off")]
    ExternalWithoutModules { name: String, origin: Origin },
    /// An installed module was built for another kernel than the entry's.
    #[error("{}: built for {built_for}, but the kernel is {release}", module.display())]
    WrongVermagic {
        /// The module, in the entry.
        module: PathBuf,
        /// Its `vermagic`, and the kernel's.
        built_for: String,
        release: String,
        /// The kernel's whole `vermagic`.
        expected: String,
    },
    /// A binary cache operation failed (push, pull, a key).
    #[error(transparent)]
    BinaryCache(#[from] kforge_binary_cache::Error),
    /// A push to "the first substituter" of a declaration that has none.
    #[error("{}: the declaration has no [store] substituters to push to", .0.display())]
    NoSubstituters(PathBuf),
    /// A push without a key to sign with.
    #[error("a push needs a secret key to sign with")]
    NoSigningKey,
    /// A path that is not an entry of the store.
    #[error("{}: not an entry of the store {}", path.display(), store.display())]
    NotAStoreEntry { path: PathBuf, store: PathBuf },
    /// A boot test cannot be made.
    #[error("{0}")]
    Boot(String),
}

impl From<Box<kforge_source::SourceError>> for Error {
    fn from(e: Box<kforge_source::SourceError>) -> Self {
        Error::Source(e)
    }
}

impl From<kforge_source::SourceError> for Error {
    fn from(e: kforge_source::SourceError) -> Self {
        Error::Source(Box::new(e))
    }
}

/// An I/O error mapper naming what was being done.
pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}
