//! `kernel.toml`: the declaration of a kernel.
//!
//! [`Spec::load`] reads a declaration and everything it includes, checks it
//! strictly (unknown keys, wrong types, bad versions, missing or cyclic
//! includes are errors with file, line and column) and merges its layers
//! (included files, then the file itself, then the patches' settings) into
//! one list of [`Request`]s, each remembering where it was written. The
//! crate knows nothing of Kconfig trees or `make`: a request's value is kept
//! as written and read according to the symbol's type by the resolver.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::rc::Rc;

/// A place in a declaration file (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Origin {
    pub file: Rc<PathBuf>,
    pub line: u32,
    pub column: u32,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// A kernel version as found in `[source] version`, `since` and `until`:
/// `6.1`, `6.1.192`, `6.13-rc3`. Release candidates sort before their
/// release (`6.13-rc3` < `6.13` = `6.13.0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KernelVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
    /// `u32::MAX` for a release, the number for a release candidate.
    pub rc: u32,
}

/// A requested value, as written: the resolver reads it according to the
/// symbol's Kconfig type (for a `string` symbol, `"y"` is the string y).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestValue {
    /// A TOML string: `"y"`, `"m"`, `"n"`, `"0x1000"`, `"console=ttyS0"`.
    Text(String),
    /// A TOML integer: `NR_CPUS = 4`.
    Integer(i64),
    /// A TOML boolean (`true` = y, `false` = n for bool/tristate symbols).
    Boolean(bool),
}

/// How strongly a request holds against another request for the same
/// symbol: `default` < normal < `force`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    Default,
    Normal,
    Force,
}

/// Which layer a request comes from, in the order layers apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layer {
    /// An included file (`[build] include`), in include order.
    Include,
    /// The declaration itself.
    Main,
    /// The `config` table of the named patch.
    Patch(String),
}

/// One Kconfig setting the declaration asks for, after merging layers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Symbol name without the `CONFIG_` prefix.
    pub symbol: String,
    pub value: RequestValue,
    /// An optional request that fails is a warning, not an error.
    pub optional: bool,
    pub priority: Priority,
    /// Inclusive lower bound on the source version.
    pub since: Option<KernelVersion>,
    /// Exclusive upper bound on the source version.
    pub until: Option<KernelVersion>,
    pub layer: Layer,
    /// Where the value was written (the key of the setting).
    pub origin: Origin,
}

impl Request {
    /// Does this request apply to a source of version `v`?
    pub fn applies_to(&self, v: &KernelVersion) -> bool {
        self.since.is_none_or(|s| *v >= s) && self.until.is_none_or(|u| *v < u)
    }
}

/// Settings applied while `symbol` resolves to y or m (`[when.SYMBOL]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conditional {
    pub symbol: String,
    /// Where the `[when.SYMBOL]` table starts.
    pub origin: Origin,
    pub requests: Vec<Request>,
}

/// The configuration a declaration starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    /// The architecture's default configuration (`make defconfig`).
    Defconfig,
    /// `make tinyconfig`: allnoconfig plus `kernel/configs/tiny.config`.
    Tinyconfig,
    Allnoconfig,
    Alldefconfig,
    /// A complete `.config`, as `linuxManualConfig` takes (path resolved
    /// against the declaring file's directory).
    File(PathBuf),
}

/// `[source]`: which kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub version: KernelVersion,
    /// The version exactly as written, for messages and file names.
    pub version_text: String,
    /// A local tarball (resolved against the declaring file's directory).
    pub tarball: Option<PathBuf>,
    pub url: Option<String>,
    /// `sha256-<base64>` (SRI) or `sha256:<nix-base32>`, as written.
    pub hash: Option<String>,
    pub origin: Origin,
}

/// `[build]`: architecture, base and global switches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Build {
    /// `x86_64`, `arm64`, `mips`, ... (the kernel's `ARCH=`).
    pub arch: String,
    pub cross_compile: Option<String>,
    pub base: Base,
    pub targets: Vec<String>,
    /// nixpkgs' autoModules: every visible tristate offering `m` becomes `m`
    /// unless requested otherwise.
    pub auto_modules: bool,
    /// With `auto_modules`, keep `y` where the default is `y`.
    pub prefer_builtin: bool,
    /// Failed required requests are warnings instead of errors.
    pub ignore_config_errors: bool,
}

/// `[[patches]]`: a patch to apply, and the settings it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patch {
    pub name: String,
    /// Local file (resolved against the declaring file's directory).
    pub file: Option<PathBuf>,
    pub url: Option<String>,
    pub hash: Option<String>,
    /// `patch -p` strip level (default 1).
    pub strip: u32,
    pub origin: Origin,
}

/// `[modules.NAME]`: a requirement set of kernel modules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleSet {
    pub name: String,
    /// Module names (as `modprobe` takes them) to load.
    pub load: Vec<String>,
    pub origin: Origin,
}

/// A whole declaration, its includes and patches merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// The file that was loaded.
    pub path: PathBuf,
    pub source: Source,
    pub build: Build,
    /// Unconditional requests of every layer, in layer order, conflicts
    /// resolved (see [`Spec::load`]), `unset` applied.
    pub requests: Vec<Request>,
    pub conditionals: Vec<Conditional>,
    pub patches: Vec<Patch>,
    pub modules: BTreeMap<String, ModuleSet>,
}

/// Why a declaration could not be loaded. Every variant names the place.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Anything wrong at one place of a file.
    #[error("{origin}: {message}")]
    At {
        origin: Origin,
        message: String,
        /// A remedy, e.g. "did you mean `tarball`?".
        help: Option<String>,
    },
    /// Two requests for one symbol that cannot both hold.
    #[error("{first}: conflicting requests for {symbol}: {first_value} here, {second_value} at {second}")]
    Conflict {
        symbol: String,
        first: Origin,
        first_value: String,
        second: Origin,
        second_value: String,
    },
}
