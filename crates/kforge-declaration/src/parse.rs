//! One declaration file, from TOML to settings, strictly.
//!
//! Every key is known or an error, every value has the expected type or an
//! error names the place. Cross-file work (includes, merging) happens in
//! `load` and `merge`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use toml::de::{DeArray, DeString, DeTable, DeValue};
use toml::Spanned;

use crate::lock::{BranchName, Follows, Lock, DEFAULT_LOCK_NAME};
use crate::merge::Setting;
use crate::text::SourceFile;
use crate::{
    hash, suggest, Base, Build, External, ExternalSource, Fragment, KernelVersion, Layer,
    ModuleSet, Origin, Patch, Priority, Request, RequestValue, Source, SpecError, StoreDecl, Test,
    TestScript,
};

type Key<'i> = Spanned<DeString<'i>>;
type Val<'i> = Spanned<DeValue<'i>>;

/// What one file declares, before layers are merged.
#[derive(Default)]
pub(crate) struct FileDecl {
    pub source: Option<Source>,
    pub build: Option<Build>,
    pub includes: Vec<Include>,
    pub config: Vec<Setting>,
    pub whens: Vec<When>,
    pub patches: Vec<(Patch, Vec<Setting>)>,
    pub modules: BTreeMap<String, ModuleSet>,
    pub externals: Vec<(External, Vec<Setting>)>,
    pub test: Option<Test>,
    pub store: StoreDecl,
    /// `[test] loaders` entries with their offsets, checked against
    /// `[modules]` once the whole file is read.
    pub loader_refs: Vec<(String, usize)>,
}

/// One entry of `[build] include`.
pub(crate) struct Include {
    /// Resolved against the including file's directory.
    pub path: PathBuf,
    /// The include string.
    pub origin: Origin,
}

/// One `[when.SYMBOL]` table.
pub(crate) struct When {
    pub symbol: String,
    pub origin: Origin,
    pub settings: Vec<Setting>,
}

/// The top-level tables.
const TABLES: &[&str] = &[
    "source", "build", "config", "when", "patches", "modules", "test", "external", "store",
];
const STORE_KEYS: &[&str] = &["substituters", "trusted_keys"];
const SOURCE_KEYS: &[&str] = &["version", "tarball", "url", "hash"];
const TEST_KEYS: &[&str] = &["script", "memory", "timeout", "append", "files", "loaders"];
const FOLLOW_KEYS: &[&str] = &["branch", "lock"];
const BUILD_KEYS: &[&str] = &[
    "arch",
    "cross_compile",
    "base",
    "targets",
    "auto_modules",
    "prefer_builtin",
    "ignore_config_errors",
    "include",
    "make_flags",
    "jobs",
    "launcher",
    "distribute",
    "llvm",
    "post_patch",
    "fragments",
];
const SETTING_KEYS: &[&str] = &["value", "optional", "since", "until", "priority", "unset"];
const PATCH_KEYS: &[&str] = &["name", "file", "url", "hash", "strip", "config"];
const MODULE_KEYS: &[&str] = &["load"];
const EXTERNAL_KEYS: &[&str] = &[
    "path",
    "tarball",
    "url",
    "hash",
    "subdir",
    "make_flags",
    "uses",
    "config",
];
const BASES: &[&str] = &["defconfig", "tinyconfig", "allnoconfig", "alldefconfig"];
const PRIORITIES: &[&str] = &["default", "normal", "force"];
const INCLUDED_HELP: &str =
    "an included file may only hold `[config]`, `[when.SYMBOL]` and `[build] include`";

/// `dir` joined with `rel`, with `.` dropped and `..` taken back over a
/// preceding normal component, so messages show `profiles/qemu.toml`
/// rather than `examples/../profiles/qemu.toml`. (Lexical only: `..`
/// after a symbolic link means the same here as in the shell's `cd`.)
fn join_lexically(dir: &Path, rel: impl AsRef<Path>) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in dir.join(rel).components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// A file the TOML reader refused, at the place it stopped; with a remedy
/// where the reader's own words give none.
pub(crate) fn invalid_toml(cx: &Cx<'_>, e: &toml::de::Error) -> SpecError {
    let at = e.span().map_or(0, |s| s.start);
    let message = format!("invalid TOML: {}", e.message());
    if e.message().contains("max recursion depth") {
        // The reader stops at 80 levels; no key of a declaration or a lock
        // takes more than a list of tables.
        return cx.at_help(
            at,
            message,
            "no key kforge reads takes values nested more than a few arrays or \
             inline tables deep: remove the extra `[` or `{` from here on",
        );
    }
    cx.at(at, message)
}

/// Parse one file. `main`: the declaration itself (else an included file).
pub(crate) fn parse(file: &SourceFile, main: bool) -> Result<FileDecl, SpecError> {
    let cx = Cx::new(file, main);
    let root = DeTable::parse(&file.text).map_err(|e| invalid_toml(&cx, &e))?;
    let mut decl = FileDecl::default();
    for (key, value) in entries(root.get_ref()) {
        let name = key.get_ref().as_ref();
        if TABLES.contains(&name) {
            match name {
                "source" | "patches" | "modules" | "test" | "external" | "store" if !main => {
                    return Err(cx.at_help(
                        key.span().start,
                        format!("`[{name}]` is not allowed in an included file"),
                        INCLUDED_HELP,
                    ))
                }
                _ => {}
            }
            match name {
                "source" => decl.source = Some(cx.source(value, cx.table(value)?)?),
                "build" => cx.build(value, cx.table(value)?, &mut decl)?,
                "config" => decl.config = cx.settings(cx.table(value)?, &cx.layer(), "[config]")?,
                "when" => decl.whens = cx.whens(cx.table(value)?)?,
                "patches" => decl.patches = cx.patches(value)?,
                "modules" => decl.modules = cx.modules(cx.table(value)?)?,
                "external" => decl.externals = cx.externals(cx.table(value)?)?,
                "store" => decl.store = cx.store(cx.table(value)?)?,
                "test" => {
                    let (test, refs) = cx.test(value, cx.table(value)?)?;
                    decl.test = Some(test);
                    decl.loader_refs = refs;
                }
                _ => unreachable!("every name of TABLES is handled"),
            }
        } else {
            return Err(cx.unknown_top_level(key, value));
        }
    }
    if main {
        if decl.source.is_none() {
            return Err(cx.at_help(
                0,
                "missing `[source]` table".into(),
                "a declaration starts with [source] and its `version`, e.g. version = \"6.1.192\"",
            ));
        }
        if decl.build.is_none() {
            return Err(cx.at_help(
                0,
                "missing `[build]` table".into(),
                "a declaration needs [build] with at least `arch`, e.g. arch = \"x86_64\"",
            ));
        }
        for (name, offset) in &decl.loader_refs {
            if !decl.modules.contains_key(name) {
                let known: Vec<&str> = decl.modules.keys().map(String::as_str).collect();
                return Err(cx.at_help(
                    *offset,
                    format!(
                        "`[test] loaders` names `{name}`, which no `[modules.{name}]` declares"
                    ),
                    if known.is_empty() {
                        "declare the set, e.g. [modules.net] load = [\"dummy\"]".to_string()
                    } else {
                        format!("the declared sets: {}", known.join(", "))
                    },
                ));
            }
        }
    }
    Ok(decl)
}

/// The entries of a table in the order they were written.
pub(crate) fn entries<'t, 'i>(table: &'t DeTable<'i>) -> Vec<(&'t Key<'i>, &'t Val<'i>)> {
    let mut entries: Vec<_> = table.iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    entries
}

/// "a string", "an integer", ...
fn kind(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

fn valid_symbol(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn valid_module(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The file being parsed.
pub(crate) struct Cx<'f> {
    file: &'f SourceFile,
    dir: &'f Path,
    main: bool,
}

impl<'f> Cx<'f> {
    /// Parsing `file`; `main`: the declaration itself (else an included
    /// file, or another kind of file such as a lock file).
    pub(crate) fn new(file: &'f SourceFile, main: bool) -> Self {
        Cx {
            file,
            dir: file.path.parent().unwrap_or(Path::new("")),
            main,
        }
    }

    pub(crate) fn origin(&self, offset: usize) -> Origin {
        self.file.origin(offset)
    }

    pub(crate) fn at(&self, offset: usize, message: String) -> SpecError {
        SpecError::At {
            origin: self.origin(offset),
            message,
            help: None,
        }
    }

    pub(crate) fn at_help(
        &self,
        offset: usize,
        message: String,
        help: impl Into<String>,
    ) -> SpecError {
        SpecError::At {
            origin: self.origin(offset),
            message,
            help: Some(help.into()),
        }
    }

    fn layer(&self) -> Layer {
        if self.main {
            Layer::Main
        } else {
            Layer::Include
        }
    }

    fn expected(&self, value: &Val<'_>, what: &str) -> SpecError {
        self.at(
            value.span().start,
            format!("expected {what}, found {}", kind(value.get_ref())),
        )
    }

    pub(crate) fn table<'a, 'i>(&self, value: &'a Val<'i>) -> Result<&'a DeTable<'i>, SpecError> {
        match value.get_ref() {
            DeValue::Table(t) => Ok(t),
            _ => Err(self.expected(value, "a table")),
        }
    }

    fn array<'a, 'i>(&self, value: &'a Val<'i>) -> Result<&'a DeArray<'i>, SpecError> {
        match value.get_ref() {
            DeValue::Array(a) => Ok(a),
            _ => Err(self.expected(value, "an array")),
        }
    }

    pub(crate) fn string<'a>(&self, value: &'a Val<'_>) -> Result<&'a str, SpecError> {
        match value.get_ref() {
            DeValue::String(s) => Ok(s),
            _ => Err(self.expected(value, "a string")),
        }
    }

    /// A string that must not be empty (`what` names it in the message).
    fn nonempty<'a>(&self, value: &'a Val<'_>, what: &str) -> Result<&'a str, SpecError> {
        let s = self.string(value)?;
        if s.is_empty() {
            return Err(self.at(value.span().start, format!("{what} is empty")));
        }
        Ok(s)
    }

    pub(crate) fn boolean(&self, value: &Val<'_>) -> Result<bool, SpecError> {
        match value.get_ref() {
            DeValue::Boolean(b) => Ok(*b),
            _ => Err(self.expected(value, "a boolean")),
        }
    }

    /// An array of strings, with each string's offset.
    fn strings<'a>(&self, value: &'a Val<'_>) -> Result<Vec<(&'a str, usize)>, SpecError> {
        self.array(value)?
            .iter()
            .map(|item| Ok((self.string(item)?, item.span().start)))
            .collect()
    }

    pub(crate) fn integer(&self, value: &Val<'_>) -> Result<i64, SpecError> {
        match value.get_ref() {
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix()).map_err(|_| {
                self.at(
                    value.span().start,
                    "integer out of range (64-bit signed)".into(),
                )
            }),
            _ => Err(self.expected(value, "an integer")),
        }
    }

    pub(crate) fn version(&self, value: &Val<'_>) -> Result<KernelVersion, SpecError> {
        self.string(value)?
            .parse()
            .map_err(|e: crate::ParseVersionError| self.at(value.span().start, e.to_string()))
    }

    pub(crate) fn hash(&self, value: &Val<'_>) -> Result<String, SpecError> {
        let text = self.string(value)?;
        hash::check(text).map_err(|(message, help)| SpecError::At {
            origin: self.origin(value.span().start),
            message,
            help,
        })?;
        Ok(text.to_owned())
    }

    pub(crate) fn url(&self, value: &Val<'_>) -> Result<String, SpecError> {
        let text = self.string(value)?;
        match text.split_once("://") {
            Some((scheme, rest))
                if scheme.eq_ignore_ascii_case("file") && !rest.starts_with('/') =>
            {
                Err(self.at_help(
                    value.span().start,
                    format!("`{text}` is not an absolute file:// URL"),
                    "write file:///absolute/path, or a path relative to this file in `tarball` or `file`",
                ))
            }
            Some((scheme, rest))
                if ["http", "https", "file"]
                    .iter()
                    .any(|s| s.eq_ignore_ascii_case(scheme))
                    && !rest.is_empty() =>
            {
                Ok(text.to_owned())
            }
            Some((scheme, rest))
                if !scheme.is_empty()
                    && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
                    && !rest.is_empty() =>
            {
                Err(self.at_help(
                    value.span().start,
                    format!("kforge cannot fetch `{scheme}://` URLs"),
                    "write an http://, https:// or file:// URL, or a local path in `tarball` or `file`",
                ))
            }
            _ => Err(self.at_help(
                value.span().start,
                format!("`{text}` is not a URL"),
                "write scheme://..., e.g. https://...; a local file is a path in `tarball` or `file`",
            )),
        }
    }

    /// A path, resolved against this file's directory.
    fn path(&self, value: &Val<'_>, what: &str) -> Result<PathBuf, SpecError> {
        Ok(join_lexically(self.dir, self.nonempty(value, what)?))
    }

    /// Every key of `table` must be one of `known`; `place` says where
    /// in the message ("in [source]").
    pub(crate) fn known_keys(
        &self,
        table: &DeTable<'_>,
        known: &[&str],
        place: &str,
    ) -> Result<(), SpecError> {
        for (key, _) in entries(table) {
            let name = key.get_ref().as_ref();
            if !known.contains(&name) {
                return Err(self.at_help(
                    key.span().start,
                    format!("unknown key `{name}` {place}"),
                    suggest::help(name, known),
                ));
            }
        }
        Ok(())
    }

    /// Two keys of which at most one may be given: the later one is the error.
    fn exclusive(&self, table: &DeTable<'_>, a: &str, b: &str) -> Result<(), SpecError> {
        if let (Some((ka, _)), Some((kb, _))) = (table.get_key_value(a), table.get_key_value(b)) {
            let later = ka.span().start.max(kb.span().start);
            return Err(self.at_help(
                later,
                format!("`{a}` and `{b}` exclude each other"),
                "keep one of them",
            ));
        }
        Ok(())
    }

    fn unknown_top_level(&self, key: &Key<'_>, value: &Val<'_>) -> SpecError {
        let name = key.get_ref().as_ref();
        if matches!(value.get_ref(), DeValue::Table(_)) {
            return self.at_help(
                key.span().start,
                format!("unknown table `[{name}]`"),
                suggest::help(name, TABLES),
            );
        }
        let home = [
            ("[source]", SOURCE_KEYS),
            ("[build]", BUILD_KEYS),
            ("[[patches]]", PATCH_KEYS),
        ]
        .into_iter()
        .find(|(_, keys)| keys.contains(&name));
        let help = match home {
            Some((table, _)) => format!("`{name}` belongs in `{table}`"),
            None if valid_symbol(name) && name.bytes().any(|b| b.is_ascii_uppercase()) => {
                "Kconfig settings belong in `[config]`".into()
            }
            None => suggest::help(name, TABLES),
        };
        self.at_help(
            key.span().start,
            format!("unknown key `{name}` at the top level"),
            help,
        )
    }

    fn source(&self, value: &Val<'_>, t: &DeTable<'_>) -> Result<Source, SpecError> {
        self.known_keys(t, SOURCE_KEYS, "in [source]")?;
        self.exclusive(t, "tarball", "url")?;
        let version_value = t.get("version").ok_or_else(|| {
            self.at_help(
                value.span().start,
                "`[source]` has no `version`".into(),
                "e.g. version = \"6.1.192\"",
            )
        })?;
        if let DeValue::Table(follows) = version_value.get_ref() {
            return self.following(value, t, version_value, follows);
        }
        let version = self.version(version_value)?;
        Ok(Source {
            version,
            version_text: self.string(version_value)?.to_owned(),
            tarball: t
                .get("tarball")
                .map(|v| self.path(v, "the path"))
                .transpose()?,
            url: t.get("url").map(|v| self.url(v)).transpose()?,
            hash: t.get("hash").map(|v| self.hash(v)).transpose()?,
            origin: self.origin(value.span().start),
            follows: None,
        })
    }

    /// `version = { branch = "6.12", lock = "kernels.lock.toml" }`: the
    /// version, URL and hash of the branch's release in the lock file.
    fn following(
        &self,
        value: &Val<'_>,
        t: &DeTable<'_>,
        version_value: &Val<'_>,
        follows: &DeTable<'_>,
    ) -> Result<Source, SpecError> {
        self.known_keys(follows, FOLLOW_KEYS, "in `version = { ... }`")?;
        for key in ["tarball", "url", "hash"] {
            if let Some((k, _)) = t.get_key_value(key) {
                return Err(self.at_help(
                    k.span().start,
                    format!("`{key}` cannot be given when `version` follows a branch"),
                    "the lock file gives the version, url and hash; remove this key, \
                     or write a version instead of `{ branch = ... }`",
                ));
            }
        }
        let branch_value = follows.get("branch").ok_or_else(|| {
            self.at_help(
                version_value.span().start,
                "`version = { ... }` has no `branch`".into(),
                "e.g. version = { branch = \"6.12\", lock = \"kernels.lock.toml\" }",
            )
        })?;
        let branch: BranchName =
            self.string(branch_value)?
                .parse()
                .map_err(|e: crate::lock::ParseBranchError| {
                    self.at(branch_value.span().start, e.to_string())
                })?;
        let (lock_path, lock_at) = match follows.get("lock") {
            Some(v) => (self.path(v, "the lock file's path")?, v.span().start),
            None => (
                join_lexically(self.dir, DEFAULT_LOCK_NAME),
                version_value.span().start,
            ),
        };
        let shown = lock_path.display();
        let lock = Lock::load(&lock_path).map_err(|e| match e {
            SpecError::Io { source, .. } => self.at_help(
                lock_at,
                format!("cannot read the lock file {shown}: {source}"),
                format!("`kforge update --lock {shown} --branch {branch}` writes it"),
            ),
            other => other,
        })?;
        let Some(locked) = lock.branches.get(&branch) else {
            let have: Vec<String> = lock.branches.keys().map(ToString::to_string).collect();
            return Err(self.at_help(
                branch_value.span().start,
                format!(
                    "branch {branch} is not in the lock file {shown} ({})",
                    if have.is_empty() {
                        "it has no branches".to_string()
                    } else {
                        format!("it has {}", have.join(", "))
                    }
                ),
                format!("`kforge update --lock {shown} --branch {branch}` adds it"),
            ));
        };
        Ok(Source {
            version: locked.version,
            version_text: locked.version.to_string(),
            tarball: None,
            url: Some(locked.url.clone()),
            hash: Some(locked.hash.clone()),
            origin: self.origin(value.span().start),
            follows: Some(Follows {
                branch,
                lock: lock_path,
                origin: self.origin(version_value.span().start),
            }),
        })
    }

    fn build(
        &self,
        value: &Val<'_>,
        t: &DeTable<'_>,
        decl: &mut FileDecl,
    ) -> Result<(), SpecError> {
        self.known_keys(t, BUILD_KEYS, "in [build]")?;
        if !self.main {
            if let Some((key, _)) = entries(t)
                .into_iter()
                .find(|(k, _)| k.get_ref() != "include")
            {
                return Err(self.at_help(
                    key.span().start,
                    format!("`{}` is not allowed in an included file", key.get_ref()),
                    INCLUDED_HELP,
                ));
            }
        }
        if let Some(v) = t.get("include") {
            for (path, offset) in self.strings(v)? {
                if path.is_empty() {
                    return Err(self.at(offset, "the path is empty".into()));
                }
                decl.includes.push(Include {
                    path: join_lexically(self.dir, path),
                    origin: self.origin(offset),
                });
            }
        }
        if !self.main {
            return Ok(());
        }
        let arch_value = t.get("arch").ok_or_else(|| {
            self.at_help(
                value.span().start,
                "`[build]` has no `arch`".into(),
                "e.g. arch = \"x86_64\" (the kernel's ARCH=)",
            )
        })?;
        let arch = self.nonempty(arch_value, "`arch`")?;
        if !valid_module(arch) {
            return Err(self.at(
                arch_value.span().start,
                format!("invalid architecture `{arch}`: only letters, digits, _ and - are allowed"),
            ));
        }
        let flag = |key| t.get(key).map_or(Ok(false), |v| self.boolean(v));
        let targets = match t.get("targets") {
            None => Vec::new(),
            Some(v) => self
                .strings(v)?
                .into_iter()
                .map(|(s, offset)| {
                    if s.is_empty() {
                        Err(self.at(offset, "the target is empty".into()))
                    } else {
                        Ok(s.to_owned())
                    }
                })
                .collect::<Result<_, _>>()?,
        };
        let make_flags = match t.get("make_flags") {
            None => Vec::new(),
            Some(v) => self
                .strings(v)?
                .into_iter()
                .map(|(s, offset)| {
                    if s.is_empty() {
                        Err(self.at(offset, "the make flag is empty".into()))
                    } else {
                        Ok(s.to_owned())
                    }
                })
                .collect::<Result<_, _>>()?,
        };
        let jobs = match t.get("jobs") {
            None => None,
            Some(v) => Some(
                u32::try_from(self.integer(v)?)
                    .ok()
                    .filter(|j| *j > 0)
                    .ok_or_else(|| {
                        self.at(
                            v.span().start,
                            "expected a number of jobs of 1 or more".into(),
                        )
                    })?,
            ),
        };
        let llvm = t.get("llvm").map(|v| self.llvm(v)).transpose()?.flatten();
        let launcher = t
            .get("launcher")
            .map(|v| self.nonempty(v, "`launcher`").map(str::to_owned))
            .transpose()?;
        let distribute = t
            .get("distribute")
            .map(|v| {
                let s = self.string(v)?;
                s.parse::<crate::Distribute>()
                    .map_err(|e| self.at(v.span().start, e))
            })
            .transpose()?;
        decl.build = Some(Build {
            arch: arch.to_owned(),
            cross_compile: t
                .get("cross_compile")
                .map(|v| self.string(v).map(str::to_owned))
                .transpose()?,
            base: t
                .get("base")
                .map_or(Ok(Base::Defconfig), |v| self.base(v))?,
            targets,
            auto_modules: flag("auto_modules")?,
            prefer_builtin: flag("prefer_builtin")?,
            ignore_config_errors: flag("ignore_config_errors")?,
            make_flags,
            jobs,
            launcher,
            distribute,
            llvm,
            post_patch: t
                .get("post_patch")
                .map(|v| self.string(v).map(str::to_owned))
                .transpose()?,
            fragments: match t.get("fragments") {
                None => Vec::new(),
                Some(v) => self.fragments(v)?,
            },
        });
        Ok(())
    }

    /// `fragments`: file names of the tree's fragments, as make's targets
    /// (`hardening.config`), each once.
    fn fragments(&self, value: &Val<'_>) -> Result<Vec<Fragment>, SpecError> {
        let mut out: Vec<Fragment> = Vec::new();
        for (name, offset) in self.strings(value)? {
            let bad = |msg: String, help: String| Err(self.at_help(offset, msg, help));
            if name.is_empty() || name.contains('/') || name.starts_with('.') {
                return bad(
                    format!("`{name}` is not the name of a fragment"),
                    "give the file name of a fragment the tree ships in kernel/configs/ or arch/ARCH/configs/, e.g. \"hardening.config\"".into(),
                );
            }
            if !name.ends_with(".config") {
                return bad(
                    format!("`{name}` is not the name of a fragment"),
                    format!("fragments are named as make's targets: \"{name}.config\""),
                );
            }
            if out.iter().any(|f| f.name == name) {
                return bad(
                    format!("the fragment `{name}` is named twice"),
                    "remove one of them".into(),
                );
            }
            out.push(Fragment {
                name: name.to_owned(),
                origin: self.origin(offset),
            });
        }
        Ok(out)
    }

    /// `llvm`: `true` is `LLVM=1`, `false` none; a string is a version
    /// suffix (`"-17"`) or a directory prefix ending in `/`.
    fn llvm(&self, value: &Val<'_>) -> Result<Option<String>, SpecError> {
        if let DeValue::Boolean(b) = value.get_ref() {
            return Ok(b.then(|| "1".to_string()));
        }
        let s = self.string(value).map_err(|_| {
            self.expected(
                value,
                "true, false, a version suffix (\"-17\") or a directory ending in /",
            )
        })?;
        if s == "1" || (s.starts_with('-') && s.len() > 1) || (s.len() > 1 && s.ends_with('/')) {
            Ok(Some(s.to_string()))
        } else {
            Err(self.at(
                value.span().start,
                format!("`llvm = \"{s}\"` is neither a version suffix (\"-17\") nor a directory ending in / (use `llvm = true` for LLVM=1)"),
            ))
        }
    }

    fn base(&self, value: &Val<'_>) -> Result<Base, SpecError> {
        match value.get_ref() {
            DeValue::String(s) => match s.as_ref() {
                "defconfig" => Ok(Base::Defconfig),
                "tinyconfig" => Ok(Base::Tinyconfig),
                "allnoconfig" => Ok(Base::Allnoconfig),
                "alldefconfig" => Ok(Base::Alldefconfig),
                other => Err(self.at_help(
                    value.span().start,
                    format!("unknown base `{other}`"),
                    match suggest::closest(other, BASES) {
                        Some(c) => format!("did you mean `{c}`?"),
                        None => format!(
                            "expected {}, or a table {{ file = \"path/to/.config\" }}",
                            suggest::list(BASES)
                        ),
                    },
                )),
            },
            DeValue::Table(t) => {
                self.known_keys(t, &["file"], "in `base`")?;
                let file = t.get("file").ok_or_else(|| {
                    self.at_help(
                        value.span().start,
                        "`base` has no `file`".into(),
                        "e.g. base = { file = \"full.config\" }",
                    )
                })?;
                Ok(Base::File(self.path(file, "the path")?))
            }
            _ => Err(self.expected(value, "a string or a table")),
        }
    }

    /// A symbol name written as a key.
    fn symbol(&self, key: &Key<'_>) -> Result<String, SpecError> {
        let name = key.get_ref().as_ref();
        if let Some(rest) = name.strip_prefix("CONFIG_") {
            return Err(self.at_help(
                key.span().start,
                format!("symbol name `{name}` starts with CONFIG_"),
                format!("write the name without CONFIG_: `{rest}`"),
            ));
        }
        if !valid_symbol(name) {
            return Err(self.at(
                key.span().start,
                format!("invalid symbol name `{name}`: only letters, digits and _ are allowed"),
            ));
        }
        Ok(name.to_owned())
    }

    /// A table of settings (`[config]`, `[when.X]`, a patch's `config`).
    fn settings(
        &self,
        table: &DeTable<'_>,
        layer: &Layer,
        place: &str,
    ) -> Result<Vec<Setting>, SpecError> {
        let mut settings = Vec::new();
        for (key, value) in entries(table) {
            let symbol = self.symbol(key)?;
            let origin = self.origin(key.span().start);
            let mut request = Request {
                symbol,
                value: RequestValue::Boolean(false),
                optional: false,
                priority: Priority::Normal,
                since: None,
                until: None,
                layer: layer.clone(),
                origin,
            };
            match value.get_ref() {
                DeValue::Table(t) => {
                    if let Some(unset) = self.long_form(value, t, &mut request, place)? {
                        settings.push(unset);
                        continue;
                    }
                }
                _ => request.value = self.request_value(value, true)?,
            }
            settings.push(Setting::Set(request));
        }
        Ok(settings)
    }

    /// A value as written: string, integer or boolean.
    fn request_value(&self, value: &Val<'_>, table_too: bool) -> Result<RequestValue, SpecError> {
        match value.get_ref() {
            // A .config holds one value per line and is read as C strings:
            // the kernel's conf would stop at a NUL or the newline, and
            // warn "invalid string found".
            DeValue::String(s) if s.contains(['\0', '\n', '\r']) => Err(self.at_help(
                value.span().start,
                format!(
                    "a Kconfig value cannot hold {}",
                    if s.contains('\0') {
                        "a NUL byte"
                    } else {
                        "a line break"
                    }
                ),
                "a .config has one value per line, read as a C string: the kernel's conf \
                 would cut it there and warn \"invalid string found\"",
            )),
            DeValue::String(s) => Ok(RequestValue::Text(s.to_string())),
            DeValue::Integer(_) => Ok(RequestValue::Integer(self.integer(value)?)),
            DeValue::Boolean(b) => Ok(RequestValue::Boolean(*b)),
            _ if table_too => {
                Err(self.expected(value, "a string, an integer, a boolean or a table"))
            }
            _ => Err(self.expected(value, "a string, an integer or a boolean")),
        }
    }

    /// `{ value = ..., optional, since, until, priority }` into `request`,
    /// or `{ unset = true }` (returned).
    fn long_form(
        &self,
        value: &Val<'_>,
        t: &DeTable<'_>,
        request: &mut Request,
        place: &str,
    ) -> Result<Option<Setting>, SpecError> {
        let symbol = &request.symbol;
        self.known_keys(t, SETTING_KEYS, &format!("in the setting of {symbol}"))?;
        if let Some(unset) = t.get("unset") {
            if !self.boolean(unset)? {
                return Err(self.at_help(
                    unset.span().start,
                    "`unset = false` means nothing".into(),
                    "write `unset = true` to drop the earlier requests, or remove the setting",
                ));
            }
            if let Some((other, _)) = entries(t).into_iter().find(|(k, _)| k.get_ref() != "unset") {
                return Err(self.at_help(
                    other.span().start,
                    format!("`unset` cannot be combined with `{}`", other.get_ref()),
                    format!("write {symbol} = {{ unset = true }} alone"),
                ));
            }
            return Ok(Some(Setting::Unset {
                symbol: symbol.clone(),
                origin: request.origin.clone(),
            }));
        }
        let v = t.get("value").ok_or_else(|| {
            self.at_help(
                value.span().start,
                format!("the setting of {symbol} in {place} has no `value`"),
                format!(
                    "write {symbol} = {{ value = \"y\", ... }}, or {symbol} = {{ unset = true }}"
                ),
            )
        })?;
        request.value = self.request_value(v, false)?;
        if let Some(v) = t.get("optional") {
            request.optional = self.boolean(v)?;
        }
        if let Some(v) = t.get("priority") {
            let p = self.string(v)?;
            request.priority = match p {
                "default" => Priority::Default,
                "normal" => Priority::Normal,
                "force" => Priority::Force,
                _ => {
                    return Err(self.at_help(
                        v.span().start,
                        format!("unknown priority `{p}`"),
                        suggest::help(p, PRIORITIES),
                    ))
                }
            };
        }
        request.since = t.get("since").map(|v| self.version(v)).transpose()?;
        request.until = t.get("until").map(|v| self.version(v)).transpose()?;
        if let (Some(since), Some(until)) = (request.since, request.until) {
            if since >= until {
                return Err(self.at_help(
                    t["until"].span().start,
                    format!("empty version range: `until` {until} is not after `since` {since}"),
                    "`since` is inclusive, `until` exclusive",
                ));
            }
        }
        Ok(None)
    }

    fn whens(&self, table: &DeTable<'_>) -> Result<Vec<When>, SpecError> {
        let mut whens = Vec::new();
        for (key, value) in entries(table) {
            let symbol = self.symbol(key)?;
            let t = self.table(value)?;
            let place = format!("[when.{symbol}]");
            whens.push(When {
                settings: self.settings(t, &self.layer(), &place)?,
                symbol,
                origin: self.origin(value.span().start),
            });
        }
        Ok(whens)
    }

    fn patches(&self, value: &Val<'_>) -> Result<Vec<(Patch, Vec<Setting>)>, SpecError> {
        let items = match value.get_ref() {
            DeValue::Table(_) => {
                return Err(self.at_help(
                    value.span().start,
                    "expected an array of tables, found a table".into(),
                    "write [[patches]] (two brackets) before each patch",
                ))
            }
            _ => self.array(value)?,
        };
        let mut seen: HashMap<String, Origin> = HashMap::new();
        let mut patches = Vec::new();
        for item in items.iter() {
            let t = self.table(item)?;
            self.known_keys(t, PATCH_KEYS, "in [[patches]]")?;
            self.exclusive(t, "file", "url")?;
            let name_value = t.get("name").ok_or_else(|| {
                self.at_help(
                    item.span().start,
                    "a patch has no `name`".into(),
                    "e.g. name = \"fix-build\"",
                )
            })?;
            let name = self.nonempty(name_value, "the name")?.to_owned();
            let origin = self.origin(item.span().start);
            if let Some(first) = seen.get(&name) {
                return Err(self.at(
                    name_value.span().start,
                    format!("a patch named `{name}` is already declared at {first}"),
                ));
            }
            seen.insert(name.clone(), origin.clone());
            let file = t
                .get("file")
                .map(|v| self.path(v, "the path"))
                .transpose()?;
            let url = t.get("url").map(|v| self.url(v)).transpose()?;
            if file.is_none() && url.is_none() {
                return Err(self.at_help(
                    item.span().start,
                    format!("patch `{name}` has neither `file` nor `url`"),
                    "e.g. file = \"patches/fix.patch\"",
                ));
            }
            let strip = match t.get("strip") {
                None => 1,
                Some(v) => u32::try_from(self.integer(v)?).map_err(|_| {
                    self.at(v.span().start, "expected a strip level of 0 or more".into())
                })?,
            };
            let settings = match t.get("config") {
                None => Vec::new(),
                Some(v) => self.settings(
                    self.table(v)?,
                    &Layer::Patch(name.clone()),
                    &format!("the config of patch `{name}`"),
                )?,
            };
            patches.push((
                Patch {
                    name,
                    file,
                    url,
                    hash: t.get("hash").map(|v| self.hash(v)).transpose()?,
                    strip,
                    origin,
                },
                settings,
            ));
        }
        Ok(patches)
    }

    /// `[test]`: how `kforge test` boots the kernel and what it runs.
    /// Also returns each `loaders` entry with its offset.
    /// `[store]`: cache URLs and trusted keys, each checked by the binary
    /// cache's own parsers (the ones `kforge store` uses).
    fn store(&self, t: &DeTable<'_>) -> Result<StoreDecl, SpecError> {
        self.known_keys(t, STORE_KEYS, "in [store]")?;
        let mut decl = StoreDecl::default();
        if let Some(v) = t.get("substituters") {
            for (url, at) in self.strings(v)? {
                kforge_binary_cache::Location::parse(url).map_err(|why| {
                    self.at_help(
                        at,
                        format!("`{url}` is not a binary cache URL: {why}"),
                        "write s3://BUCKET/PREFIX?endpoint=URL&region=REGION, https://HOST/PATH, http://HOST/PATH or file:///ABSOLUTE/DIR",
                    )
                })?;
                decl.substituters.push((url.to_string(), self.origin(at)));
            }
        }
        if let Some(v) = t.get("trusted_keys") {
            for (key, at) in self.strings(v)? {
                kforge_binary_cache::PublicKey::parse(key).map_err(|why| {
                    self.at_help(
                        at,
                        format!("`{key}` is not a public key: {why}"),
                        "give the text of a NAME.public file that `kforge store keygen NAME` wrote",
                    )
                })?;
                decl.trusted_keys.push((key.to_string(), self.origin(at)));
            }
        }
        Ok(decl)
    }

    fn test(
        &self,
        value: &Val<'_>,
        t: &DeTable<'_>,
    ) -> Result<(Test, Vec<(String, usize)>), SpecError> {
        self.known_keys(t, TEST_KEYS, "in [test]")?;
        let script = match t.get("script") {
            None => None,
            Some(v) => Some(match v.get_ref() {
                DeValue::String(s) => TestScript::Inline(s.to_string()),
                DeValue::Table(st) => {
                    self.known_keys(st, &["file"], "in `script`")?;
                    let file = st.get("file").ok_or_else(|| {
                        self.at_help(
                            v.span().start,
                            "`script` has no `file`".into(),
                            "e.g. script = { file = \"boot-test.sh\" }",
                        )
                    })?;
                    TestScript::File(self.path(file, "the path")?)
                }
                _ => {
                    return Err(
                        self.expected(v, "a string (the script) or a table { file = \"...\" }")
                    )
                }
            }),
        };
        let number =
            |key: &str, default: u32, min: u32, max: u32, unit: &str| -> Result<u32, SpecError> {
                match t.get(key) {
                    None => Ok(default),
                    Some(v) => u32::try_from(self.integer(v)?)
                        .ok()
                        .filter(|n| (min..=max).contains(n))
                        .ok_or_else(|| {
                            self.at(
                                v.span().start,
                                format!("`{key}` must be between {min} and {max} {unit}"),
                            )
                        }),
                }
            };
        let memory_mib = number("memory", 256, 16, 65536, "MiB")?;
        let timeout_s = number("timeout", 120, 1, 86400, "seconds")?;
        let append = t
            .get("append")
            .map(|v| self.string(v).map(str::to_owned))
            .transpose()?
            .unwrap_or_default();
        let mut files = Vec::new();
        if let Some(v) = t.get("files") {
            for (key, host) in entries(self.table(v)?) {
                let guest = key.get_ref().as_ref();
                let ok = guest.starts_with('/')
                    && guest.len() > 1
                    && !guest.split('/').any(|c| c == ".." || c == ".");
                if !ok {
                    return Err(self.at_help(
                        key.span().start,
                        format!("guest path `{guest}` is not a plain absolute path"),
                        "write it as \"/etc/file\" = \"host/file\", without . or .. components",
                    ));
                }
                files.push((guest.to_owned(), self.path(host, "the host path")?));
            }
        }
        let refs: Vec<(String, usize)> = match t.get("loaders") {
            None => Vec::new(),
            Some(v) => self
                .strings(v)?
                .into_iter()
                .map(|(n, offset)| (n.to_owned(), offset))
                .collect(),
        };
        let loaders = t.get("loaders").map(|_| {
            refs.iter()
                .map(|(n, offset)| (n.clone(), self.origin(*offset)))
                .collect()
        });
        let test = Test {
            script,
            memory_mib,
            timeout_s,
            append,
            files,
            loaders,
            origin: self.origin(value.span().start),
        };
        Ok((test, refs))
    }

    fn modules(&self, table: &DeTable<'_>) -> Result<BTreeMap<String, ModuleSet>, SpecError> {
        let mut sets = BTreeMap::new();
        for (key, value) in entries(table) {
            let name = key.get_ref().as_ref();
            if !valid_module(name) {
                return Err(self.at(
                    key.span().start,
                    format!("invalid module set name `{name}`: only letters, digits, _ and - are allowed"),
                ));
            }
            let t = self.table(value)?;
            self.known_keys(t, MODULE_KEYS, &format!("in [modules.{name}]"))?;
            let load_value = t.get("load").ok_or_else(|| {
                self.at_help(
                    value.span().start,
                    format!("`[modules.{name}]` has no `load`"),
                    "e.g. load = [\"dummy\"]",
                )
            })?;
            let load = self
                .strings(load_value)?
                .into_iter()
                .map(|(module, offset)| {
                    if valid_module(module) {
                        Ok(module.to_owned())
                    } else {
                        Err(self.at(
                            offset,
                            format!("invalid module name `{module}`: only letters, digits, _ and - are allowed"),
                        ))
                    }
                })
                .collect::<Result<_, _>>()?;
            sets.insert(
                name.to_owned(),
                ModuleSet {
                    name: name.to_owned(),
                    load,
                    origin: self.origin(value.span().start),
                },
            );
        }
        Ok(sets)
    }

    /// `[external.NAME]`: out-of-tree modules, in an order where each
    /// follows the externals it `uses` (else as written).
    fn externals(&self, table: &DeTable<'_>) -> Result<Vec<(External, Vec<Setting>)>, SpecError> {
        let mut out: Vec<(External, Vec<Setting>)> = Vec::new();
        let mut uses_at: Vec<Vec<usize>> = Vec::new();
        for (key, value) in entries(table) {
            let name = key.get_ref().as_ref();
            if !valid_module(name) {
                return Err(self.at(
                    key.span().start,
                    format!("invalid external module name `{name}`: only letters, digits, _ and - are allowed"),
                ));
            }
            let t = self.table(value)?;
            self.known_keys(t, EXTERNAL_KEYS, &format!("in [external.{name}]"))?;
            for (a, b) in [("path", "tarball"), ("path", "url"), ("tarball", "url")] {
                self.exclusive(t, a, b)?;
            }
            let hash = t.get("hash").map(|v| self.hash(v)).transpose()?;
            let source = if let Some(v) = t.get("path") {
                if let Some((k, _)) = t.get_key_value("hash") {
                    return Err(self.at_help(
                        k.span().start,
                        format!("`hash` with `path` in [external.{name}]"),
                        "a path is fingerprinted as it is; `hash` is for `tarball` or `url`",
                    ));
                }
                ExternalSource::Path(self.path(v, "the path")?)
            } else if let Some(v) = t.get("tarball") {
                ExternalSource::Tarball {
                    path: self.path(v, "the path")?,
                    hash,
                }
            } else if let Some(v) = t.get("url") {
                let url = self.url(v)?;
                let Some(hash) = hash else {
                    return Err(self.at_help(
                        v.span().start,
                        format!("[external.{name}] has a `url` but no `hash`"),
                        "add hash = \"sha256-...\" (kforge prints the right one when it is wrong)",
                    ));
                };
                ExternalSource::Url { url, hash }
            } else {
                return Err(self.at_help(
                    value.span().start,
                    format!("[external.{name}] has no `path`, `tarball` or `url`"),
                    "e.g. path = \"../v4l2loopback\"",
                ));
            };
            let subdir = match t.get("subdir") {
                None => PathBuf::from("."),
                Some(v) => {
                    let s = self.nonempty(v, "the subdirectory")?;
                    let p = Path::new(s);
                    if p.is_absolute()
                        || p.components().any(|c| c == std::path::Component::ParentDir)
                    {
                        return Err(self.at_help(
                            v.span().start,
                            format!("subdir `{s}` leaves the module's source"),
                            "write a relative path inside it, e.g. subdir = \"driver\"",
                        ));
                    }
                    p.to_path_buf()
                }
            };
            let make_flags = match t.get("make_flags") {
                None => Vec::new(),
                Some(v) => self
                    .strings(v)?
                    .into_iter()
                    .map(|(s, _)| s.to_owned())
                    .collect(),
            };
            let uses = match t.get("uses") {
                None => Vec::new(),
                Some(v) => self.strings(v)?,
            };
            let settings = match t.get("config") {
                None => Vec::new(),
                Some(v) => self.settings(
                    self.table(v)?,
                    &Layer::External(name.to_owned()),
                    &format!("the config of [external.{name}]"),
                )?,
            };
            uses_at.push(uses.iter().map(|(_, o)| *o).collect());
            out.push((
                External {
                    name: name.to_owned(),
                    source,
                    subdir,
                    make_flags,
                    uses: uses.iter().map(|(s, _)| (*s).to_owned()).collect(),
                    origin: self.origin(key.span().start),
                },
                settings,
            ));
        }
        // Every `uses` names another declared external.
        let names: Vec<&str> = out.iter().map(|(e, _)| e.name.as_str()).collect();
        for ((e, _), offsets) in out.iter().zip(&uses_at) {
            for (u, offset) in e.uses.iter().zip(offsets) {
                if u == &e.name || !names.contains(&u.as_str()) {
                    return Err(self.at_help(
                        *offset,
                        format!(
                            "[external.{}] uses `{u}`, which is not another declared external",
                            e.name
                        ),
                        suggest::help(u, &names),
                    ));
                }
            }
        }
        // Dependencies first: repeatedly take the first whose uses are done.
        let mut ordered: Vec<(External, Vec<Setting>)> = Vec::new();
        let mut left = out;
        while !left.is_empty() {
            let Some(i) = left.iter().position(|(e, _)| {
                e.uses
                    .iter()
                    .all(|u| ordered.iter().any(|(d, _)| &d.name == u))
            }) else {
                let cycle: Vec<&str> = left.iter().map(|(e, _)| e.name.as_str()).collect();
                return Err(SpecError::At {
                    origin: left[0].0.origin.clone(),
                    message: format!("externals use each other in a cycle: {}", cycle.join(", ")),
                    help: Some(
                        "two modules cannot each need the other's symbols; drop one `uses`".into(),
                    ),
                });
            };
            ordered.push(left.remove(i));
        }
        Ok(ordered)
    }
}
