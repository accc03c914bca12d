//! `kernel.toml`: the declaration of a kernel.
//!
//! [`Spec::load`] reads a declaration and everything it includes, checks it
//! strictly (unknown keys, wrong types, bad versions, missing or cyclic
//! includes are errors with file, line and column) and merges its layers
//! (included files, then the file itself, then the patches' settings) into
//! one list of [`Request`]s, each remembering where it was written. The
//! crate knows nothing of Kconfig trees or `make`: a request's value is kept
//! as written and read according to the symbol's type by the resolver.
//! The format itself is described in `docs/kernel-toml.md`.
//!
//! # Layers
//!
//! A declaration is read as a stack of layers, later ones on top:
//!
//! 1. the files named in `[build] include`, each one preceded by the files
//!    *it* includes (depth first, in the order the `include` arrays list
//!    them). A file reached a second time by another path is skipped: its
//!    settings sit where it was first included. A file that includes
//!    itself, directly or not, is an error;
//! 2. the declaration's own `[config]`;
//! 3. the `config` table of each `[[patches]]` entry, in patch order.
//!
//! `[when.SYMBOL]` tables follow the same order; all the tables for one
//! condition symbol, from every layer, are merged into one [`Conditional`]
//! (and never with the unconditional settings or with another symbol's).
//!
//! # Merging
//!
//! Settings are taken layer by layer. `SYMBOL = { unset = true }` throws
//! away every request for that symbol made so far (in the same scope: the
//! unconditional settings, or one condition symbol); with nothing to throw
//! away it is an error, which catches misspelt names.
//!
//! The requests left for a symbol are then compared, and only where their
//! version ranges (`since` inclusive, `until` exclusive) overlap. Where
//! several apply, the one with the highest [`Priority`] holds; at equal
//! priority a required request holds over an optional one; requests still
//! level must ask for the same value (compared as written: `"y"` and `true`
//! differ), else loading fails with [`SpecError::Conflict`] naming both
//! places. Among equal requests the later one is kept, so its origin is the
//! one reported. Requests are never thrown away for a version they do not
//! cover: a lower-priority request survives, with its `since`/`until`
//! narrowed (or split in two), for the versions where nothing stronger
//! applies. So in [`Spec::requests`] and [`Conditional::requests`] at most
//! one request per symbol applies to any given version, and
//! [`Request::applies_to`] is all the resolver needs to pick it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::rc::Rc;

pub mod edit;
mod hash;
mod load;
mod lock;
mod merge;
mod parse;
mod suggest;
mod text;
mod version;

pub use hash::{sha256_digest, sri};
pub use load::{MAX_DECLARATION_BYTES, MAX_INCLUDE_DEPTH};
pub use lock::{
    is_date, BranchName, Follows, Lock, LockedRelease, ParseBranchError, DEFAULT_LOCK_NAME,
    LOCK_FORMAT,
};
pub use version::ParseVersionError;

/// A place in a declaration file (1-based line and column). Ordered by
/// file (as paths order), line and column.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    pub file: Rc<PathBuf>,
    pub line: u32,
    pub column: u32,
}

impl Ord for Origin {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // The origins of one file share its path: sorting thousands of
        // requests need not compare it component by component each time.
        let file = if Rc::ptr_eq(&self.file, &other.file)
            || self.file.as_os_str() == other.file.as_os_str()
        {
            std::cmp::Ordering::Equal
        } else {
            self.file.cmp(&other.file)
        };
        file.then(self.line.cmp(&other.line))
            .then(self.column.cmp(&other.column))
    }
}

impl PartialOrd for Origin {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
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

impl fmt::Display for RequestValue {
    /// As TOML would write it: `"y"`, `4`, `true`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestValue::Text(s) => {
                f.write_str("\"")?;
                for c in s.chars() {
                    match c {
                        '"' => f.write_str("\\\"")?,
                        '\\' => f.write_str("\\\\")?,
                        '\n' => f.write_str("\\n")?,
                        '\t' => f.write_str("\\t")?,
                        '\r' => f.write_str("\\r")?,
                        c if c.is_control() => write!(f, "\\u{:04X}", u32::from(c))?,
                        c => write!(f, "{c}")?,
                    }
                }
                f.write_str("\"")
            }
            RequestValue::Integer(i) => write!(f, "{i}"),
            RequestValue::Boolean(b) => write!(f, "{b}"),
        }
    }
}

/// How strongly a request holds against another request for the same
/// symbol: `default` < normal < `force`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    Default,
    Normal,
    Force,
}

impl fmt::Display for Priority {
    /// The spelling of `priority = "..."`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Priority::Default => "default",
            Priority::Normal => "normal",
            Priority::Force => "force",
        })
    }
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
    /// The `config` table of the named out-of-tree module
    /// (`[external.NAME]`).
    External(String),
    /// A line of the named fragment of the tree (`[build] fragments`):
    /// already in the base, verified like an optional request, and given
    /// up for any request of the declaration for the same symbol.
    Fragment(String),
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
    /// Set when `version = { branch = ..., lock = ... }`: then `version`,
    /// `version_text`, `url` and `hash` are the branch's release in the
    /// lock file.
    pub follows: Option<Follows>,
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
    /// Further arguments for every `make` of a build (`W=1`, `KCFLAGS=...`).
    pub make_flags: Vec<String>,
    /// Parallel jobs (`make -j`); `None`: one per CPU.
    pub jobs: Option<u32>,
    /// A compiler launcher put before the compiler (`ccache`, `sccache`).
    pub launcher: Option<String>,
    /// The build farm compiles go to (`[build] distribute`); not part of
    /// the store key, as the output is the same without it.
    pub distribute: Option<Distribute>,
    /// The kernel's `LLVM=`: `"1"` (`llvm = true`), a version suffix
    /// (`"-17"`) or a directory prefix (`"/opt/llvm/bin/"`); `None`: gcc.
    pub llvm: Option<String>,
    /// A shell snippet run with `/bin/sh -c` in the unpacked, patched
    /// source tree (`[build] post_patch`), as written.
    pub post_patch: Option<String>,
    /// The tree's own configuration fragments applied over the base, in
    /// order, as `make defconfig NAME.config` does (`[build] fragments`).
    pub fragments: Vec<Fragment>,
}

/// A build farm engine a site already runs (`[build] distribute`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Distribute {
    /// icecream: a scheduler and its daemons.
    Icecream,
    /// distcc: the hosts of `DISTCC_HOSTS`.
    Distcc,
}

impl std::str::FromStr for Distribute {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "icecream" => Ok(Distribute::Icecream),
            "distcc" => Ok(Distribute::Distcc),
            other => Err(format!(
                "`{other}` is not a build farm kforge can use: give \"icecream\" or \"distcc\""
            )),
        }
    }
}

/// A configuration fragment the kernel tree ships (`hardening.config`):
/// `kernel/configs/NAME` and `arch/$SRCARCH/configs/NAME`, merged as
/// `make NAME` merges them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    /// The file name, as make's target: `hardening.config`.
    pub name: String,
    /// Where the declaration names it.
    pub origin: Origin,
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

/// Where the source of an out-of-tree module is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExternalSource {
    /// A directory the user edits (`path`, resolved against the declaring
    /// file's directory): fingerprinted like `--tree`, never written to.
    Path(PathBuf),
    /// A local tar archive (`tarball`), with its hash when declared.
    Tarball { path: PathBuf, hash: Option<String> },
    /// An archive to download (`url`), with its required hash.
    Url { url: String, hash: String },
}

/// `[external.NAME]`: an out-of-tree module built with the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct External {
    pub name: String,
    pub source: ExternalSource,
    /// Where its Kbuild or Makefile is, relative to the source's root
    /// (`.` by default; never leaves the source).
    pub subdir: PathBuf,
    /// Further arguments for its `make M=... modules`.
    pub make_flags: Vec<String>,
    /// The other externals whose exported symbols it uses: they are built
    /// first and their `Module.symvers` passed on.
    pub uses: Vec<String>,
    /// Where `[external.NAME]` is.
    pub origin: Origin,
}

/// `[test]`: how `kforge test` boots the built kernel in QEMU and what it
/// runs there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Test {
    /// The script run as root in the guest after the loaders; `None`: none
    /// (the boot and the loaders are the test).
    pub script: Option<TestScript>,
    /// Guest memory (`memory`, MiB; default 256).
    pub memory_mib: u32,
    /// Seconds from QEMU's start to the end of the test (`timeout`;
    /// default 120).
    pub timeout_s: u32,
    /// Extra kernel command line (`append`).
    pub append: String,
    /// Extra files: (absolute guest path, host path resolved against the
    /// declaring file's directory), in file order.
    pub files: Vec<(String, PathBuf)>,
    /// The `[modules.NAME]` loaders to run, in order, each with where it was
    /// named; `None`: every set, in name order.
    pub loaders: Option<Vec<(String, Origin)>>,
    /// Where `[test]` is.
    pub origin: Origin,
}

/// `[test] script`: inline text, or a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestScript {
    /// The script itself.
    Inline(String),
    /// A file holding it (resolved against the declaring file's directory).
    File(PathBuf),
}

/// `[store]`: the binary caches a build may be substituted from, and the
/// keys their entries must be signed with. Not part of the store key: an
/// entry is the same whichever cache it came from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoreDecl {
    /// Cache URLs, in the order they are tried (`s3://`, `https://`,
    /// `http://`, `file://`), each checked by the binary cache's parser.
    pub substituters: Vec<(String, Origin)>,
    /// Public keys as `NAME:BASE64`, each checked.
    pub trusted_keys: Vec<(String, Origin)>,
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
    /// `[external.NAME]` tables, in an order where each comes after the
    /// externals it `uses`.
    pub externals: Vec<External>,
    /// `[test]`, when declared.
    pub test: Option<Test>,
    /// `[store]` (empty when not declared).
    pub store: StoreDecl,
    /// Every included file that was read (paths resolved against the
    /// including file's directory), in layer order; the declaration itself
    /// is [`Spec::path`]. Together they are every file the result depends on.
    pub includes: Vec<PathBuf>,
}

impl Spec {
    /// The unconditional requests that apply to a source of version `v`:
    /// at most one per symbol.
    pub fn requests_for<'a>(&'a self, v: &'a KernelVersion) -> impl Iterator<Item = &'a Request> {
        self.requests.iter().filter(move |r| r.applies_to(v))
    }
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

impl SpecError {
    /// The place the error is about (the first of two for a conflict);
    /// `None` for a file that could not be read at all.
    pub fn origin(&self) -> Option<&Origin> {
        match self {
            SpecError::Io { .. } => None,
            SpecError::At { origin, .. } => Some(origin),
            SpecError::Conflict { first, .. } => Some(first),
        }
    }

    /// A remedy to print under the message, if there is one.
    pub fn help(&self) -> Option<&str> {
        match self {
            SpecError::At { help, .. } => help.as_deref(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod origin_tests {
    use super::*;

    fn at(file: &Rc<PathBuf>, line: u32, column: u32) -> Origin {
        Origin {
            file: file.clone(),
            line,
            column,
        }
    }

    #[test]
    fn origins_order_by_path_then_line_then_column() {
        let a = Rc::new(PathBuf::from("d/a.toml"));
        let a_again = Rc::new(PathBuf::from("d/a.toml"));
        // Paths order by component: `d/x` before `d-x`, unlike their bytes.
        let nested = Rc::new(PathBuf::from("d/x.toml"));
        let dashed = Rc::new(PathBuf::from("d-x.toml"));
        assert_eq!(
            at(&a, 3, 1).cmp(&at(&a_again, 3, 1)),
            std::cmp::Ordering::Equal
        );
        assert!(at(&a, 2, 9) < at(&a_again, 3, 1));
        assert!(at(&a, 3, 1) < at(&a, 3, 2));
        assert!(at(&nested, 1, 1) < at(&dashed, 1, 1));
        assert!(nested.as_os_str() > dashed.as_os_str());
        let mut v = [
            at(&dashed, 1, 1),
            at(&a, 5, 1),
            at(&nested, 1, 1),
            at(&a_again, 2, 1),
        ];
        v.sort();
        let want = [
            ("d/a.toml", 2),
            ("d/a.toml", 5),
            ("d/x.toml", 1),
            ("d-x.toml", 1),
        ];
        let got: Vec<(&str, u32)> = v
            .iter()
            .map(|o| (o.file.to_str().unwrap(), o.line))
            .collect();
        assert_eq!(got, want);
    }
}
