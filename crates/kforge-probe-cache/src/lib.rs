//! An on-disk cache of Kconfig `$(shell,...)` results.
//!
//! Kconfig trees run many small probe commands (`$(CC) --version`, "does the
//! compiler accept this flag", ...) every time they are parsed. [`ProbeCache`]
//! implements [`kconfig_engine::preprocess::ShellRunner`] and remembers each
//! command's output on disk, so later parses of the same tree with the same
//! toolchain need not run them again.
//!
//! # What an answer depends on
//!
//! An entry is found under a SHA-256 of everything that could change the
//! output:
//!
//! * the command text;
//! * the working directory the command runs in;
//! * the environment the shell sees, except the variables in
//!   [`VOLATILE_ENV`], which make and shells change from one invocation to the
//!   next without affecting what a probe prints;
//! * the identity of the files the command refers to: every word of the
//!   command that resolves through `PATH` to an executable regular file, and
//!   every word containing a `/` that names a regular file (relative words
//!   are taken from the working directory), contributes its canonical path,
//!   size, modification and change times in nanoseconds, inode, device and
//!   mode. `/bin/sh` itself always contributes. Installing, upgrading,
//!   replacing or editing a tool therefore changes the key, so a changed
//!   toolchain never gets a stale answer.
//!
//! # Storage
//!
//! One file per key in the cache directory, written to a temporary file and
//! renamed into place, so readers never see a partial entry. An entry holds
//! a header, the output and a checksum of the output; anything that does not
//! check out is treated as a miss and rewritten. If the directory cannot be
//! created, the cache runs every command directly.
//!
//! Commands are run like the kernel runs them: `/bin/sh -c`, standard input
//! and error inherited, at most the first 4096 bytes of output read (that is
//! all the kernel looks at).
//!
//! # History
//!
//! Each tree (by default identified by the working directory, or by the key
//! given to [`ProbeCache::with_history_key`]) has a history file listing the
//! commands looked up during the last run. [`ProbeCache::prefetch_history`]
//! runs the ones not cached yet in parallel before parsing starts, and
//! [`ProbeCache::save_history`] records this run's list. Without a history,
//! [`ProbeCache::prefetch_by_speculation`] learns the commands from
//! speculative parses and runs them in parallel.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use kconfig_engine::preprocess::{run_shell_command, ShellRunner};
use kconfig_engine::{EnvFn, Kconfig, LoadOptions};
use sha2::{Digest, Sha256};

/// Environment variables left out of the key: make's bookkeeping
/// (`MAKEFLAGS`, `MAKELEVEL`, `MFLAGS`, `MAKEOVERRIDES`, `MAKE_TERMOUT`,
/// `MAKE_TERMERR`, `GNUMAKEFLAGS`) and shell bookkeeping (`OLDPWD`, `SHLVL`,
/// `_`). They differ between otherwise identical runs (job-server file
/// descriptors, nesting depth, the last command) and do not change what a
/// configuration probe prints. They are still passed to the command.
pub const VOLATILE_ENV: &[&str] = &[
    "MAKEFLAGS",
    "MAKELEVEL",
    "MFLAGS",
    "MAKEOVERRIDES",
    "MAKE_TERMOUT",
    "MAKE_TERMERR",
    "OLDPWD",
    "SHLVL",
    "_",
    "GNUMAKEFLAGS",
];

/// Reserved words and built-in commands of `/bin/sh` (POSIX and dash): the
/// shell never looks them up in `PATH`, and `/bin/sh`'s own identity is part
/// of every key.
const SHELL_BUILTINS: &[&str] = &[
    "!", "{", "}", ":", ".", "[", "alias", "break", "case", "cd", "command", "continue", "do",
    "done", "echo", "elif", "else", "esac", "eval", "exec", "exit", "export", "false", "fi", "for",
    "getopts", "if", "in", "local", "printf", "pwd", "read", "readonly", "return", "set", "shift",
    "test", "then", "trap", "true", "type", "ulimit", "umask", "unset", "until", "wait", "while",
];

/// The search path a POSIX shell uses when `PATH` is unset.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

const ENTRY_MAGIC: &[u8] = b"kforge-probe-entry v1\n";
const HISTORY_MAGIC: &str = "kforge-probe-history v1";
const KEY_VERSION: &[u8] = b"kforge-probe-key v1";
const CHECKSUM_LEN: usize = 32;

/// A [`ShellRunner`] that keeps command output on disk. See the crate
/// documentation for what the cache key covers.
pub struct ProbeCache {
    /// `None` when the directory could not be created: run directly.
    dir: Option<PathBuf>,
    env: Vec<(String, String)>,
    cwd: PathBuf,
    history_key: String,
    hits: AtomicU64,
    misses: AtomicU64,
    /// Commands looked up by `run`, first occurrence order.
    seen: Mutex<(Vec<String>, HashSet<String>)>,
    /// Keys [`ProbeCache::prefetch`] just computed, each used once by the
    /// next [`ShellRunner::run`] of the same command (parsing follows
    /// prefetching at once, so the key is not computed twice).
    fresh_keys: Mutex<HashMap<String, String>>,
}

impl std::fmt::Debug for ProbeCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProbeCache")
            .field("dir", &self.dir)
            .field("cwd", &self.cwd)
            .field("history_key", &self.history_key)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl ProbeCache {
    /// A cache stored in `dir` (created if needed) for commands run with
    /// exactly the environment `env` in the directory `cwd`.
    pub fn new(dir: PathBuf, env: Vec<(String, String)>, cwd: PathBuf) -> Self {
        let dir = match fs::create_dir_all(&dir) {
            Ok(()) if dir.is_dir() => Some(dir),
            _ => None,
        };
        let history_key = cwd.to_string_lossy().into_owned();
        ProbeCache {
            dir,
            env,
            cwd,
            history_key,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            seen: Mutex::new((Vec::new(), HashSet::new())),
            fresh_keys: Mutex::new(HashMap::new()),
        }
    }

    /// `$XDG_CACHE_HOME/kforge/probes`, or `~/.cache/kforge/probes`
    /// (`XDG_CACHE_HOME` counts only when set to an absolute path; without
    /// `HOME` either, the system temporary directory is used).
    pub fn default_dir() -> PathBuf {
        if let Some(xdg) = std::env::var_os("XDG_CACHE_HOME") {
            let xdg = PathBuf::from(xdg);
            if xdg.is_absolute() {
                return xdg.join("kforge").join("probes");
            }
        }
        match std::env::var_os("HOME") {
            Some(home) if !home.is_empty() => PathBuf::from(home)
                .join(".cache")
                .join("kforge")
                .join("probes"),
            _ => std::env::temp_dir().join("kforge").join("probes"),
        }
    }

    /// Use `key` instead of the working directory to name this tree's
    /// history file.
    pub fn with_history_key(mut self, key: String) -> Self {
        self.history_key = key;
        self
    }

    /// The directory entries are kept in, or `None` if it was unusable and
    /// commands run uncached.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// (hits, misses) of [`ShellRunner::run`] lookups so far. A run without
    /// a usable directory counts as a miss.
    pub fn stats(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    /// The cache key of `command` as things stand now (hex SHA-256).
    pub fn key_for(&self, command: &str) -> String {
        let mut h = Sha256::new();
        field(&mut h, KEY_VERSION);
        field(&mut h, command.as_bytes());
        field(&mut h, path_bytes(&self.cwd).as_ref());

        // The shell sees the last value given for a name.
        let mut env: BTreeMap<&str, &str> = BTreeMap::new();
        for (k, v) in &self.env {
            env.insert(k, v);
        }
        for (k, v) in &env {
            if VOLATILE_ENV.contains(k) {
                continue;
            }
            field(&mut h, b"env");
            field(&mut h, k.as_bytes());
            field(&mut h, v.as_bytes());
        }

        let mut done = HashSet::new();
        if let Some(id) = file_identity(Path::new("/bin/sh")) {
            field(&mut h, b"shell");
            field(&mut h, &id);
        }
        for word in command_words(command, &env) {
            if !done.insert(word.clone()) {
                continue;
            }
            if let Some(id) = self.resolve_word(&word, &env) {
                field(&mut h, b"tool");
                field(&mut h, word.as_bytes());
                field(&mut h, &id);
            }
        }
        hex::encode(h.finalize())
    }

    /// Run, in parallel (at most one thread per available CPU), every
    /// command of `commands` that is not cached yet, and store the results.
    /// Does nothing when there is no usable cache directory.
    pub fn prefetch(&self, commands: &[String]) {
        let Some(dir) = &self.dir else {
            return;
        };
        let mut unique = HashSet::new();
        let keyed: Vec<(&str, String)> = commands
            .iter()
            .filter(|c| unique.insert(c.as_str()))
            .map(|c| (c.as_str(), self.key_for(c)))
            .collect();
        {
            let mut fresh = lock(&self.fresh_keys);
            for (c, k) in &keyed {
                fresh.insert(c.to_string(), k.clone());
            }
        }
        let todo: Vec<(&str, String)> = keyed
            .into_iter()
            .filter(|(_, key)| read_entry(&dir.join(key)).is_none())
            .collect();
        if todo.is_empty() {
            return;
        }
        let workers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(todo.len());
        let next = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((command, key)) = todo.get(i) else {
                        break;
                    };
                    let out = self.run_uncached(command);
                    self.store(dir, key, &out);
                });
            }
        });
    }

    /// Prefetch the commands this tree looked up last time (see
    /// [`ProbeCache::save_history`]). Returns whether there was a history.
    pub fn prefetch_history(&self) -> bool {
        let Some(path) = self.history_path() else {
            return false;
        };
        match fs::read_to_string(path)
            .ok()
            .and_then(|s| parse_history(&s))
        {
            Some(commands) => {
                self.prefetch(&commands);
                true
            }
            None => false,
        }
    }

    /// Fill a cold cache in parallel by speculation: `parse` is called with
    /// a runner that answers cached commands from the cache, never runs
    /// anything, and answers every other command with a placeholder while
    /// noting it. The noted commands are then run in parallel
    /// ([`ProbeCache::prefetch`]) and `parse` is called again, so probes
    /// built from earlier probes' output are found in the next round. A
    /// command whose text contains the placeholder is never run, so a probe
    /// is only ever run with real inputs. Stops when a round notes only a
    /// few new commands, or after `max_rounds`. Speculative lookups are not part of the
    /// history.
    pub fn prefetch_by_speculation(
        self: &Arc<Self>,
        max_rounds: usize,
        mut parse: impl FnMut(Box<dyn ShellRunner>),
    ) {
        if self.dir.is_none() {
            return;
        }
        for _ in 0..max_rounds {
            let speculator = Arc::new(Speculator {
                cache: Arc::clone(self),
                unknown: Mutex::new(Vec::new()),
            });
            parse(Box::new(Arc::clone(&speculator)));
            let todo = match speculator.unknown.lock() {
                Ok(g) => g.clone(),
                Err(poisoned) => poisoned.into_inner().clone(),
            };
            if todo.is_empty() {
                return;
            }
            self.prefetch(&todo);
            // Another round costs a whole parse; a few leftover probes are
            // cheaper to run one by one in the real parse.
            if todo.len() < FEW_PROBES {
                return;
            }
        }
    }

    /// The cached output of `command`, without running it or noting it.
    fn lookup(&self, command: &str) -> Option<Vec<u8>> {
        let dir = self.dir.as_ref()?;
        read_entry(&dir.join(self.key_for(command)))
    }

    /// Record the commands looked up through [`ShellRunner::run`] during
    /// this process, in order of first use, as this tree's history.
    /// Failures are ignored (the history is only an optimisation).
    pub fn save_history(&self) {
        let Some(path) = self.history_path() else {
            return;
        };
        let commands = match self.seen.lock() {
            Ok(seen) => seen.0.clone(),
            Err(poisoned) => poisoned.into_inner().0.clone(),
        };
        let mut text = String::from(HISTORY_MAGIC);
        text.push('\n');
        for c in &commands {
            text.push_str(&escape_line(c));
            text.push('\n');
        }
        if let Some(parent) = path.parent() {
            if fs::create_dir_all(parent).is_err() {
                return;
            }
        }
        let _ = kforge_fs::write_atomic(&path, text);
    }

    fn history_path(&self) -> Option<PathBuf> {
        let dir = self.dir.as_ref()?;
        let name = hex::encode(Sha256::digest(self.history_key.as_bytes()));
        Some(dir.join("history").join(name))
    }

    fn run_uncached(&self, command: &str) -> Vec<u8> {
        run_shell_command(command, Some(&self.env), Some(&self.cwd))
    }

    fn note(&self, command: &str) {
        let mut seen = match self.seen.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if seen.1.insert(command.to_string()) {
            seen.0.push(command.to_string());
        }
    }

    /// Store an entry; failures leave the cache without it.
    fn store(&self, dir: &Path, key: &str, output: &[u8]) {
        let mut data = Vec::with_capacity(ENTRY_MAGIC.len() + 8 + output.len() + CHECKSUM_LEN);
        data.extend_from_slice(ENTRY_MAGIC);
        data.extend_from_slice(&(output.len() as u64).to_le_bytes());
        data.extend_from_slice(output);
        data.extend_from_slice(&Sha256::digest(output));
        // Atomic (a reader sees the old entry or the new one), and durable.
        let _ = kforge_fs::write_atomic(dir.join(key), &data);
    }

    /// The identity of the file `word` names, if any.
    fn resolve_word(&self, word: &str, env: &BTreeMap<&str, &str>) -> Option<Vec<u8>> {
        if word.is_empty() {
            return None;
        }
        if word.contains('/') {
            let p = Path::new(word);
            let full = if p.is_absolute() {
                p.to_path_buf()
            } else {
                self.cwd.join(p)
            };
            return file_identity(&full);
        }
        if word.starts_with('-') || SHELL_BUILTINS.contains(&word) {
            return None;
        }
        let path_var = env.get("PATH").copied().unwrap_or(DEFAULT_PATH);
        for entry in path_var.split(':') {
            let dir = if entry.is_empty() {
                self.cwd.clone()
            } else if Path::new(entry).is_absolute() {
                PathBuf::from(entry)
            } else {
                self.cwd.join(entry)
            };
            let candidate = dir.join(word);
            if is_executable_file(&candidate) {
                return file_identity(&candidate);
            }
        }
        None
    }
}

/// Below this many new probes in a round, speculation stops.
const FEW_PROBES: usize = 8;

/// What the speculative runner answers for a command it has not run: a plain
/// word, so Kconfig text built from it still lexes.
const UNKNOWN_OUTPUT: &str = "KFORGE_SPECULATIVE_PROBE_OUTPUT";

/// The runner of one speculative round (see
/// [`ProbeCache::prefetch_by_speculation`]).
struct Speculator {
    cache: Arc<ProbeCache>,
    unknown: Mutex<Vec<String>>,
}

impl ShellRunner for Speculator {
    fn run(&self, command: &str) -> Vec<u8> {
        if command.contains(UNKNOWN_OUTPUT) {
            return UNKNOWN_OUTPUT.into();
        }
        if let Some(out) = self.cache.lookup(command) {
            return out;
        }
        match self.unknown.lock() {
            Ok(mut g) => g.push(command.to_string()),
            Err(poisoned) => poisoned.into_inner().push(command.to_string()),
        }
        UNKNOWN_OUTPUT.into()
    }
}

impl ShellRunner for ProbeCache {
    fn run(&self, command: &str) -> Vec<u8> {
        self.note(command);
        let Some(dir) = &self.dir else {
            self.misses.fetch_add(1, Ordering::Relaxed);
            return self.run_uncached(command);
        };
        let key = lock(&self.fresh_keys)
            .remove(command)
            .unwrap_or_else(|| self.key_for(command));
        let path = dir.join(&key);
        if let Some(out) = read_entry(&path) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return out;
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let out = self.run_uncached(command);
        self.store(dir, &key, &out);
        out
    }
}

/// Lock a mutex, recovering the data of a poisoned one (the cache is only
/// an optimisation; a panic elsewhere must not make it unusable).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Hash one length-prefixed field, so that field boundaries are unambiguous.
fn field(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_le_bytes());
    h.update(bytes);
}

#[cfg(unix)]
fn path_bytes(p: &Path) -> std::borrow::Cow<'_, [u8]> {
    use std::os::unix::ffi::OsStrExt;
    std::borrow::Cow::Borrowed(p.as_os_str().as_bytes())
}

#[cfg(not(unix))]
fn path_bytes(p: &Path) -> std::borrow::Cow<'_, [u8]> {
    std::borrow::Cow::Owned(p.to_string_lossy().into_owned().into_bytes())
}

/// Read a cache entry; `None` for anything missing, unreadable or corrupt.
fn read_entry(path: &Path) -> Option<Vec<u8>> {
    let data = fs::read(path).ok()?;
    let rest = data.strip_prefix(ENTRY_MAGIC)?;
    let (len, rest) = rest.split_first_chunk::<8>()?;
    let len = usize::try_from(u64::from_le_bytes(*len)).ok()?;
    if rest.len() != len.checked_add(CHECKSUM_LEN)? {
        return None;
    }
    let (output, sum) = rest.split_at(len);
    if Sha256::digest(output).as_slice() != sum {
        return None;
    }
    Some(output.to_vec())
}

fn is_executable_file(p: &Path) -> bool {
    let Ok(meta) = fs::metadata(p) else {
        return false;
    };
    if !meta.is_file() {
        return false;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        true
    }
}

/// Canonical path and metadata of a regular file (symlinks followed).
fn file_identity(p: &Path) -> Option<Vec<u8>> {
    let canonical = fs::canonicalize(p).ok()?;
    let meta = fs::metadata(&canonical).ok()?;
    if !meta.is_file() {
        return None;
    }
    let mut id = path_bytes(&canonical).into_owned();
    id.push(0);
    id.extend_from_slice(&meta.len().to_le_bytes());
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        for n in [
            meta.mtime(),
            meta.mtime_nsec(),
            meta.ctime(),
            meta.ctime_nsec(),
        ] {
            id.extend_from_slice(&n.to_le_bytes());
        }
        for n in [meta.ino(), meta.dev(), u64::from(meta.mode())] {
            id.extend_from_slice(&n.to_le_bytes());
        }
    }
    #[cfg(not(unix))]
    {
        let nanos = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        id.extend_from_slice(&nanos.to_le_bytes());
    }
    Some(id)
}

/// The words of a shell command that might name files: split on blanks and
/// shell operators, quotes removed, `$NAME`/`${NAME}` replaced from `env`.
/// For a word containing `=` (an assignment or `--opt=value`), the part
/// after the first `=` is a candidate too. This is deliberately generous:
/// an extra word can only cause a miss, never a stale hit.
fn command_words(command: &str, env: &BTreeMap<&str, &str>) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut chars = command.chars().peekable();
    let flush = |current: &mut String, words: &mut Vec<String>| {
        if !current.is_empty() {
            if let Some((_, after)) = current.split_once('=') {
                if !after.is_empty() {
                    words.push(after.to_string());
                }
            }
            words.push(std::mem::take(current));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => flush(&mut current, &mut words),
            ';' | '|' | '&' | '(' | ')' | '<' | '>' | '`' => flush(&mut current, &mut words),
            '\'' | '"' | '\\' => {}
            '$' => {
                let braced = chars.peek() == Some(&'{');
                if braced {
                    chars.next();
                }
                let mut name = String::new();
                while let Some(&n) = chars.peek() {
                    if n.is_ascii_alphanumeric() || n == '_' {
                        name.push(n);
                        chars.next();
                    } else {
                        break;
                    }
                }
                if braced && chars.peek() == Some(&'}') {
                    chars.next();
                }
                if name.is_empty() {
                    current.push('$');
                } else if let Some(v) = env.get(name.as_str()) {
                    current.push_str(v);
                }
            }
            c => current.push(c),
        }
    }
    flush(&mut current, &mut words);
    words
}

fn escape_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

fn unescape_line(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next()? {
                '\\' => out.push('\\'),
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                _ => return None,
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

fn parse_history(text: &str) -> Option<Vec<String>> {
    let mut lines = text.split('\n');
    if lines.next()? != HISTORY_MAGIC {
        return None;
    }
    let mut out = Vec::new();
    for line in lines {
        if line.is_empty() {
            continue;
        }
        out.push(unescape_line(line)?);
    }
    Some(out)
}

/// Runs `$(shell,...)` directly (no cache) with an explicit environment.
pub struct ExplicitShell(pub Vec<(String, String)>);

impl kconfig_engine::ShellRunner for ExplicitShell {
    fn run(&self, command: &str) -> Vec<u8> {
        kconfig_engine::preprocess::run_shell_command(command, Some(&self.0), None)
    }
}

/// Speculative parses before the real one on a cold probe cache: enough for
/// the chains of probes in the kernel's trees (compiler, then its version,
/// then version tests).
const SPECULATIVE_ROUNDS: usize = 4;

/// A probe cache for a tree as the engine's shell runner: commands run with
/// `vars` in `cwd`; `history_key` names the tree for the history of probes.
/// On a first run (no history) the probes are learnt by speculative parses
/// of `kconfig` and run in parallel before the real parse.
pub fn cached_shell(
    vars: Vec<(String, String)>,
    cwd: PathBuf,
    history_key: String,
    kconfig: &str,
    env: &EnvFn,
) -> Box<dyn kconfig_engine::ShellRunner> {
    let pc = Arc::new(
        ProbeCache::new(ProbeCache::default_dir(), vars, cwd).with_history_key(history_key),
    );
    if !pc.prefetch_history() {
        pc.prefetch_by_speculation(SPECULATIVE_ROUNDS, |shell| {
            let _ = Kconfig::load(LoadOptions {
                kconfig: kconfig.to_string(),
                env: env.clone(),
                shell,
                dialect: None,
            });
        });
    }
    Box::new(SavingCache(pc))
}

/// Wraps the probe cache so the command history is saved when parsing ends.
struct SavingCache(Arc<ProbeCache>);

impl kconfig_engine::ShellRunner for SavingCache {
    fn run(&self, command: &str) -> Vec<u8> {
        self.0.run(command)
    }
}

impl Drop for SavingCache {
    fn drop(&mut self) {
        self.0.save_history();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    /// A fresh directory under the system temporary directory.
    fn scratch(name: &str) -> PathBuf {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "probe-cache-test-{}-{}-{}",
            std::process::id(),
            name,
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn base_env(path: &str) -> Vec<(String, String)> {
        vec![
            ("PATH".to_string(), path.to_string()),
            ("LC_ALL".to_string(), "C".to_string()),
        ]
    }

    fn write_script(path: &Path, body: &str) {
        use std::os::unix::fs::PermissionsExt;
        fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn hit_after_miss_without_rerunning() {
        let root = scratch("hit");
        let cache_dir = root.join("cache");
        let work = root.join("work");
        fs::create_dir_all(&work).unwrap();
        let cmd = "echo run >> count; echo hello; echo world".to_string();

        let c = ProbeCache::new(cache_dir.clone(), base_env("/usr/bin:/bin"), work.clone());
        assert_eq!(c.run(&cmd), b"hello\nworld\n");
        assert_eq!(c.stats(), (0, 1));
        assert_eq!(c.run(&cmd), b"hello\nworld\n");
        assert_eq!(c.stats(), (1, 1));

        // A new process (a new cache object) still hits.
        let c2 = ProbeCache::new(cache_dir, base_env("/usr/bin:/bin"), work.clone());
        assert_eq!(c2.run(&cmd), b"hello\nworld\n");
        assert_eq!(c2.stats(), (1, 0));
        assert_eq!(fs::read_to_string(work.join("count")).unwrap(), "run\n");
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn key_ignores_volatile_env_only() {
        let root = scratch("env");
        let mk = |extra: &[(&str, &str)]| {
            let mut env = base_env("/usr/bin:/bin");
            env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            ProbeCache::new(root.join("c"), env, root.clone())
        };
        let k0 = mk(&[]).key_for("true");
        assert_eq!(
            mk(&[
                ("MAKEFLAGS", "-j8 --jobserver-auth=3,4"),
                ("SHLVL", "3"),
                ("_", "/x")
            ])
            .key_for("true"),
            k0
        );
        assert_ne!(mk(&[("CC", "clang")]).key_for("true"), k0);
        assert_ne!(mk(&[]).key_for("true "), k0);
        let other_cwd = ProbeCache::new(root.join("c"), base_env("/usr/bin:/bin"), root.join("c"));
        assert_ne!(other_cwd.key_for("true"), k0);
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn changed_tool_is_a_miss() {
        let root = scratch("tool");
        let bin = root.join("bin");
        fs::create_dir_all(&bin).unwrap();
        let tool = bin.join("kf-probe-tool");
        write_script(&tool, "echo v1");
        let env = base_env(&format!("{}:/usr/bin:/bin", bin.display()));
        let c = ProbeCache::new(root.join("cache"), env.clone(), root.clone());

        assert_eq!(c.run("kf-probe-tool --version"), b"v1\n");
        assert_eq!(c.run("kf-probe-tool --version"), b"v1\n");
        assert_eq!(c.stats(), (1, 1));

        // New content, new mtime.
        let old_mtime = fs::metadata(&tool).unwrap().modified().unwrap();
        write_script(&tool, "echo v2");
        let f = fs::File::options().write(true).open(&tool).unwrap();
        f.set_modified(old_mtime + Duration::from_secs(5)).unwrap();
        drop(f);
        assert_eq!(c.run("kf-probe-tool --version"), b"v2\n");
        assert_eq!(c.stats(), (1, 2));

        // Same size, mtime put back: the change time still gives it away.
        // (Wait out the file system's timestamp granularity first.)
        std::thread::sleep(Duration::from_millis(50));
        write_script(&tool, "echo v3");
        let f = fs::File::options().write(true).open(&tool).unwrap();
        f.set_modified(old_mtime).unwrap();
        drop(f);
        assert_eq!(c.run("kf-probe-tool --version"), b"v3\n");
        assert_eq!(c.stats(), (1, 3));

        // A tool named by path, relative to the working directory.
        let script = root.join("check.sh");
        write_script(&script, "echo s1");
        assert_eq!(c.run("./check.sh"), b"s1\n");
        assert_eq!(c.run("./check.sh"), b"s1\n");
        let f = fs::File::options().write(true).open(&script).unwrap();
        f.set_modified(SystemTime::now() + Duration::from_secs(60))
            .unwrap();
        drop(f);
        let before = c.stats();
        assert_eq!(c.run("./check.sh"), b"s1\n");
        assert_eq!(c.stats(), (before.0, before.1 + 1));

        // A tool shadowed by a new one earlier in PATH.
        let bin2 = root.join("bin2");
        fs::create_dir_all(&bin2).unwrap();
        let env2 = base_env(&format!(
            "{}:{}:/usr/bin:/bin",
            bin2.display(),
            bin.display()
        ));
        let c2 = ProbeCache::new(root.join("cache"), env2, root.clone());
        let k_before = c2.key_for("kf-probe-tool");
        write_script(&bin2.join("kf-probe-tool"), "echo shadow");
        assert_ne!(c2.key_for("kf-probe-tool"), k_before);
        assert_eq!(c2.run("kf-probe-tool"), b"shadow\n");
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn writes_are_atomic_and_corruption_is_a_miss() {
        let root = scratch("atomic");
        let cache_dir = root.join("cache");
        let c = ProbeCache::new(cache_dir.clone(), base_env("/usr/bin:/bin"), root.clone());
        let cmd = "printf 'abc'";
        assert_eq!(c.run(cmd), b"abc");
        let key = c.key_for(cmd);
        // Only the finished entry is left: no temporary files.
        assert_eq!(entries(&cache_dir), vec![key.clone()]);
        assert_eq!(read_entry(&cache_dir.join(&key)).unwrap(), b"abc");

        // Corrupt entries of various kinds are misses and get rewritten.
        let path = cache_dir.join(&key);
        let good = fs::read(&path).unwrap();
        let mut flipped = good.clone();
        let last = flipped.len() - 40;
        flipped[last] ^= 1;
        for bad in [
            Vec::new(),
            good[..good.len() - 1].to_vec(),
            flipped,
            b"garbage".to_vec(),
        ] {
            fs::write(&path, &bad).unwrap();
            let (h, m) = c.stats();
            assert_eq!(c.run(cmd), b"abc");
            assert_eq!(c.stats(), (h, m + 1));
            assert_eq!(fs::read(&path).unwrap(), good);
        }

        // An entry that is a directory is unreadable: a miss, no panic.
        fs::remove_file(&path).unwrap();
        fs::create_dir(&path).unwrap();
        assert_eq!(c.run(cmd), b"abc");

        // Many writers of the same entry at once leave a valid entry.
        let cmd2 = "printf 'parallel'";
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| assert_eq!(c.run(cmd2), b"parallel"));
            }
        });
        assert_eq!(
            read_entry(&cache_dir.join(c.key_for(cmd2))).unwrap(),
            b"parallel"
        );
        assert!(entries(&cache_dir).iter().all(|n| !n.starts_with(".tmp")));
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn unusable_dir_degrades_to_direct_runs() {
        let root = scratch("degrade");
        let blocker = root.join("file");
        fs::write(&blocker, "not a directory").unwrap();
        let c = ProbeCache::new(
            blocker.join("cache"),
            base_env("/usr/bin:/bin"),
            root.clone(),
        );
        assert!(c.dir().is_none());
        assert_eq!(c.run("echo ok"), b"ok\n");
        assert_eq!(c.run("echo ok"), b"ok\n");
        assert_eq!(c.stats(), (0, 2));
        c.prefetch(&["echo ok".to_string()]);
        c.save_history();
        c.prefetch_history();
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn prefetch_and_history() {
        let root = scratch("prefetch");
        let cache_dir = root.join("cache");
        let env = base_env("/usr/bin:/bin");
        let cmds: Vec<String> = (0..12)
            .map(|i| format!("echo {i}; echo line >> ran"))
            .collect();
        let c = ProbeCache::new(cache_dir.clone(), env.clone(), root.clone());
        c.prefetch(&cmds);
        c.prefetch(&cmds); // all cached now: nothing runs again
        assert_eq!(
            fs::read_to_string(root.join("ran"))
                .unwrap()
                .lines()
                .count(),
            12
        );
        for (i, cmd) in cmds.iter().enumerate() {
            assert_eq!(c.run(cmd), format!("{i}\n").into_bytes());
        }
        assert_eq!(c.stats(), (12, 0));

        // History: a run looks some commands up and saves the list.
        let odd = "echo 'multi\nline' \\\\ x";
        let c = ProbeCache::new(cache_dir.clone(), env.clone(), root.clone())
            .with_history_key("tree-a".to_string());
        c.run("echo a");
        c.run(odd);
        c.run("echo a");
        c.save_history();
        let path = c.history_path().unwrap();
        assert_eq!(
            parse_history(&fs::read_to_string(&path).unwrap()).unwrap(),
            vec!["echo a".to_string(), odd.to_string()]
        );

        // A cold cache for the same tree is filled from the history.
        let cold_dir = root.join("cold");
        let cold = ProbeCache::new(cold_dir.clone(), env.clone(), root.clone())
            .with_history_key("tree-a".to_string());
        fs::create_dir_all(cold_dir.join("history")).unwrap();
        fs::copy(&path, cold.history_path().unwrap()).unwrap();
        cold.prefetch_history();
        assert_eq!(cold.run("echo a"), b"a\n");
        assert_eq!(cold.run(odd), b"multi\nline \\ x\n");
        assert_eq!(cold.stats(), (2, 0));

        // Another tree key has its own (empty) history.
        let other =
            ProbeCache::new(cache_dir, env, root.clone()).with_history_key("tree-b".to_string());
        assert_ne!(other.history_path(), c.history_path());
        other.prefetch_history();
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn speculation_fills_chains_and_never_runs_placeholders() {
        let root = scratch("speculate");
        let env = base_env("/usr/bin:/bin");
        let c = Arc::new(ProbeCache::new(root.join("cache"), env, root.clone()));
        // A "parse": ten independent probes, then a chain where each probe's
        // text is built from the previous output. Every command that runs
        // leaves a line in `ran`.
        let parse = |shell: &dyn ShellRunner| -> Vec<Vec<u8>> {
            let mut outs: Vec<Vec<u8>> = (0..10)
                .map(|i| shell.run(&format!("echo p{i}; echo p{i} >> ran")))
                .collect();
            let mut prev = String::from("c");
            for _ in 0..3 {
                let out = shell.run(&format!("echo {prev}x; echo {prev} >> ran"));
                prev = String::from_utf8_lossy(&out).trim().to_string();
                outs.push(out);
            }
            outs
        };
        let mut rounds = 0;
        c.prefetch_by_speculation(10, |shell| {
            rounds += 1;
            parse(&*shell);
        });
        // Round 1 learns 11 commands, round 2 one, then it stops (few left).
        assert_eq!(rounds, 2);
        let ran = fs::read_to_string(root.join("ran")).unwrap();
        assert!(!ran.contains(UNKNOWN_OUTPUT), "ran a placeholder: {ran}");
        assert_eq!(ran.lines().count(), 12);
        // The real parse: all but the last link come from the cache.
        let outs = parse(&*c);
        assert_eq!(outs[12], b"cxxx\n");
        assert_eq!(c.stats(), (12, 1));
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn words_and_history_format() {
        let env: BTreeMap<&str, &str> = [("CC", "gcc"), ("D", "/opt")].into_iter().collect();
        assert_eq!(
            command_words("$CC -Werror=x ${D}/bin/ld|'sh' \"-c\";a&&b", &env),
            vec!["gcc", "x", "-Werror=x", "/opt/bin/ld", "sh", "-c", "a", "b"]
        );
        assert_eq!(
            unescape_line(&escape_line("a\\b\nc\r")).unwrap(),
            "a\\b\nc\r"
        );
        assert!(parse_history("wrong header\nx").is_none());
        assert_eq!(
            parse_history(&format!("{HISTORY_MAGIC}\n")).unwrap(),
            Vec::<String>::new()
        );
    }

    #[test]
    fn default_dir_shape() {
        assert!(ProbeCache::default_dir().ends_with("kforge/probes"));
    }
}
