//! An on-disk cache of Kconfig `$(shell,...)` results.
//!
//! Kconfig trees run many small probe commands (`$(CC) --version`, "does the
//! compiler accept this flag", ...) every time they are parsed. [`ProbeCache`]
//! implements [`kconfig_engine::preprocess::ShellRunner`] and remembers each
//! command's output on disk, so later parses of the same tree with the same
//! toolchain need not run them again, in whatever output directory.
//!
//! # What an answer depends on
//!
//! A probe's key holds what its output depends on, and nothing else:
//!
//! * the command text, after Kconfig expanded it;
//! * the environment the shell sees, except the variables in
//!   [`VOLATILE_ENV`] (make's and the shell's bookkeeping) and except the
//!   *directory variables*: `PWD`, and any variable whose value is the
//!   working directory or a path under it. A directory variable counts only
//!   for a probe that depends on the directory (below), or whose command, or
//!   a script it runs, mentions the variable's name;
//! * the identity of the programs it runs: every word of the command that
//!   resolves through `PATH` to an executable regular file, and every word
//!   containing a `/` that names a regular file, contributes its canonical
//!   path, size, modification and change times in nanoseconds, inode,
//!   device and mode; `/bin/sh` always contributes. When such a file is a
//!   script (starts with `#!`, at most [`SCRIPT_LIMIT`] bytes), the files
//!   next to it that its text names (`$(dirname $0)/min-tool-version.sh`)
//!   contribute too, and so on. Installing, upgrading, replacing or editing
//!   a compiler or a script under `scripts/` therefore changes the key. A
//!   program that is rustup (`rustc` and `cargo` link to it in a rustup
//!   install) runs the program of that name of the toolchain it picks, so
//!   its key also holds what the pick depends on: `settings.toml` of
//!   `RUSTUP_HOME`, the `rust-toolchain` files of the directory and its
//!   ancestors, and the identity of that program in every installed
//!   toolchain;
//! * the working directory, in one of two ways (see [`DirUse`]):
//!   - [`DirUse::Path`]: the output may depend on *which* directory. The
//!     command, or a script it runs, uses a word of [`DIR_WORDS`] (`pwd`,
//!     `cd`, `ls`, `find`, `readlink`, ...) or mentions `PWD`; or the
//!     command has a relative word (not starting with `/` or `-`) naming a
//!     file or directory that exists in the working directory, or `.` or
//!     `..`; or a script it runs has a relative path word naming an existing
//!     file. The key holds the directory's path and the directory variables.
//!   - [`DirUse::Writable`]: otherwise. The kernel's probes write at most
//!     scratch files into the directory (6.12's `cc-option` is
//!     `trap "rm -rf .tmp_$$" EXIT; mkdir .tmp_$$; $(CC) ... -o .tmp_$$/tmp.o`),
//!     so the key holds only whether the directory is writable.
//!
//! In the kernel's trees (`scripts/Kconfig.include` and the arch `Kconfig`
//! files of 6.1 and 6.12), every probe is of the second kind when building
//! out of tree: `cc-option` and `rustc-option` write `.tmp_$$` (writability
//! only), and the scripts they run (`$(srctree)/scripts/cc-version.sh`,
//! `cc-can-link.sh`, `tools-support-relr.sh`, the powerpc and s390
//! `arch/*/tools/*.sh`) are named by absolute path and do not look at the
//! directory. They become [`DirUse::Path`] probes when the tree is built in
//! place (`srctree` is `.`, so `./scripts/cc-version.sh` is a relative word
//! naming an existing file) or with `scripts/dummy-tools` as the compiler
//! (its `gcc` runs `readlink`).
//!
//! # Storage
//!
//! Entries are grouped per toolchain environment: a *group* is a hash of
//! the key version, the environment as keyed (without directory variables)
//! and `/bin/sh`'s identity, and each group's entries live in one pack file,
//! `packs/<group>.pack`. A process loads the pack once into memory; a new
//! entry is appended with one write to the file opened in append mode, so
//! processes sharing a pack never interleave records. A record carries a
//! checksum; reading stops at the first record that does not check out,
//! and a pack that is damaged, holds many duplicates or exceeds
//! [`PACK_LIMIT`] is rewritten atomically with the last record of each key,
//! its oldest records dropped while over half the limit. A used pack's
//! modification time is refreshed (at most once a day) so [`gc`] can tell
//! it from a forgotten one. If the directory cannot be created, the cache
//! runs every command directly.
//!
//! The cache's size is bounded by [`gc`] (run by `kforge gc`): it removes
//! packs and histories unused for 30 days, the one-file-per-probe entries
//! of the first layout, then the least recently used packs while the cache
//! exceeds 64 MiB.
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

mod gc;
mod pack;
pub mod tree;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use kconfig_engine::preprocess::{run_shell_command, ShellRunner};
use kconfig_engine::{Kconfig, LoadOptions};
use sha2::{Digest, Sha256};

pub use gc::{gc, GcOptions, GcReport};
pub use pack::PACK_LIMIT;
pub use tree::TreeCache;

use pack::{Key, Pack};

/// Environment variables left out of the key: make's bookkeeping
/// (`MAKEFLAGS`, `MAKELEVEL`, `MFLAGS`, `MAKEOVERRIDES`, `MAKE_TERMOUT`,
/// `MAKE_TERMERR`, `GNUMAKEFLAGS`) and shell bookkeeping (`OLDPWD`, `SHLVL`,
/// `_`), hyperfine's `HYPERFINE_RANDOMIZED_ENVIRONMENT_OFFSET`, and
/// kforge's own `KFORGE_NO_PARSE_CACHE`. They differ between otherwise
/// identical runs (job-server file descriptors, nesting depth, the last
/// command, a random padding, a switch of kforge's) and do not change what
/// a configuration probe prints. They are still passed to the command.
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
    "HYPERFINE_RANDOMIZED_ENVIRONMENT_OFFSET",
    "KFORGE_NO_PARSE_CACHE",
];

/// Commands whose output reveals which directory they run in, or that
/// change directory: a probe using one (as a word, or as the last component
/// of a path word), in its command or a script it runs, is a
/// [`DirUse::Path`] probe. The list errs on the generous side: a word too
/// many only costs sharing between directories, a word too few would serve
/// one directory's answer in another.
pub const DIR_WORDS: &[&str] = &[
    "pwd", "cd", "pushd", "popd", "dirs", "ls", "dir", "vdir", "find", "realpath", "readlink",
    "du", "df", "stat", "git", "hg", "svn", "make", "tar",
];

/// Scripts larger than this are not read for [`DIR_WORDS`] and the files
/// they name; a probe running one is a [`DirUse::Path`] probe.
pub const SCRIPT_LIMIT: u64 = 256 * 1024;

/// How a probe's output may depend on its working directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirUse {
    /// On which directory it is: the key holds the directory's path.
    Path,
    /// Only on whether the directory is writable (the value): the key holds
    /// that bit.
    Writable(bool),
}

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

const HISTORY_MAGIC: &str = "kforge-probe-history v1";
const KEY_VERSION: &[u8] = b"kforge-probe-key v2";
/// Where packs live, under the cache directory.
const PACK_DIR: &str = "packs";
/// Where histories live, under the cache directory.
const HISTORY_DIR: &str = "history";
/// Where parsed trees live, under the cache directory ([`tree`]).
const TREE_DIR: &str = "trees";
/// How deep scripts naming scripts are followed.
const SCRIPT_DEPTH: usize = 8;

/// What a script's text says, for the keys of probes running it.
#[derive(Debug, Default)]
struct ScriptInfo {
    /// Too large to read, a [`DIR_WORDS`] word, or `PWD`.
    reveals_dir: bool,
    /// Relative words containing a `/` or starting with `.` (besides `.`
    /// and `..` alone): files it may read from the working directory.
    relative_words: Vec<String>,
    /// Identifier-like tokens: the environment variables it may read.
    names: HashSet<String>,
    /// Files next to the script that its text names (canonical paths).
    siblings: Vec<PathBuf>,
}

/// A [`ShellRunner`] that keeps command output on disk. See the crate
/// documentation for what the cache key covers.
pub struct ProbeCache {
    /// `None` when the directory could not be created: run directly.
    dir: Option<PathBuf>,
    env: Vec<(String, String)>,
    /// The environment as the shell sees it (last value of each name),
    /// without [`VOLATILE_ENV`].
    keyed_env: BTreeMap<String, String>,
    /// The directory variables of `keyed_env`.
    dir_vars: Vec<String>,
    cwd: PathBuf,
    history_key: String,
    /// Hash of the key version, the shared environment and `/bin/sh`.
    group: [u8; 32],
    /// Whether `cwd` is writable, found out on first need.
    writable: OnceLock<bool>,
    /// This group's pack, loaded on first need.
    pack: Mutex<Option<Pack>>,
    /// Files read so far, by identity: what the script says, `None` for
    /// a file that is not a script.
    scripts: Mutex<HashMap<Vec<u8>, Option<Arc<ScriptInfo>>>>,
    hits: AtomicU64,
    misses: AtomicU64,
    /// Commands looked up by `run`, first occurrence order.
    seen: Mutex<(Vec<String>, HashSet<String>)>,
    /// Keys [`ProbeCache::prefetch`] just computed, each used once by the
    /// next [`ShellRunner::run`] of the same command (parsing follows
    /// prefetching at once, so the key is not computed twice).
    fresh_keys: Mutex<HashMap<String, Key>>,
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
        // The shell sees the last value given for a name.
        let mut keyed_env = BTreeMap::new();
        for (k, v) in &env {
            if !VOLATILE_ENV.contains(&k.as_str()) {
                keyed_env.insert(k.clone(), v.clone());
            }
        }
        let dir_vars: Vec<String> = keyed_env
            .iter()
            .filter(|(k, v)| k.as_str() == "PWD" || is_under(Path::new(v), &cwd))
            .map(|(k, _)| k.clone())
            .collect();
        let mut h = Sha256::new();
        field(&mut h, KEY_VERSION);
        for (k, v) in &keyed_env {
            if !dir_vars.contains(k) {
                field(&mut h, b"env");
                field(&mut h, k.as_bytes());
                field(&mut h, v.as_bytes());
            }
        }
        if let Some(id) = file_identity(Path::new("/bin/sh")) {
            field(&mut h, b"shell");
            field(&mut h, &id);
        }
        ProbeCache {
            dir,
            env,
            keyed_env,
            dir_vars,
            cwd,
            history_key,
            group: h.finalize().into(),
            writable: OnceLock::new(),
            pack: Mutex::new(None),
            scripts: Mutex::new(HashMap::new()),
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

    /// The pack file this cache's entries go to (see the crate
    /// documentation), or `None` without a usable directory.
    pub fn pack_path(&self) -> Option<PathBuf> {
        let name = format!("{}.pack", hex::encode(self.group));
        Some(self.dir.as_ref()?.join(PACK_DIR).join(name))
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
        hex::encode(self.key(command).0)
    }

    /// How `command`'s output may depend on the working directory (see
    /// the crate documentation).
    pub fn dir_use(&self, command: &str) -> DirUse {
        self.key(command).1
    }

    fn key(&self, command: &str) -> (Key, DirUse) {
        self.key_with(command, &mut LookupMemo::default())
    }

    /// [`ProbeCache::key`], looking files up through `memo`, which a batch
    /// of keys computed at one time shares.
    fn key_with(&self, command: &str, memo: &mut LookupMemo) -> (Key, DirUse) {
        let env = &self.keyed_env;
        let mut h = Sha256::new();
        field(&mut h, &self.group);
        field(&mut h, command.as_bytes());
        let mut path_dep = command.contains("PWD");
        let mut scripts: Vec<Arc<ScriptInfo>> = Vec::new();
        let mut done = HashSet::new();
        for word in command_words(command, env) {
            if !done.insert(word.clone()) {
                continue;
            }
            path_dep |= reveals_dir(&word) || self.names_local_file(&word, true, memo);
            let Some((canonical, id)) = self.resolve_word(&word, env, memo) else {
                continue;
            };
            field(&mut h, b"tool");
            field(&mut h, word.as_bytes());
            field(&mut h, &id);
            if is_rustup_proxy(&canonical, memo) {
                field(&mut h, b"rustup");
                field(&mut h, &self.rustup_selection(&word, memo));
            }
            // Scripts, and the scripts they name, by identity.
            let mut todo = vec![(canonical, id, 0)];
            let mut visited = HashSet::new();
            while let Some((path, id, depth)) = todo.pop() {
                if !visited.insert(path.clone()) {
                    continue;
                }
                let Some(info) = self.script_info(&path, &id, memo) else {
                    continue;
                };
                for sibling in &info.siblings {
                    if let Some((_, sid)) = memo.identity(sibling) {
                        field(&mut h, b"sibling");
                        field(&mut h, &sid);
                        if depth < SCRIPT_DEPTH {
                            todo.push((sibling.clone(), sid, depth + 1));
                        }
                    }
                }
                scripts.push(info);
            }
        }
        for info in &scripts {
            path_dep |= info.reveals_dir
                || info
                    .relative_words
                    .iter()
                    .any(|w| self.names_local_file(w, false, memo));
        }
        for name in &self.dir_vars {
            let mentioned =
                command.contains(name.as_str()) || scripts.iter().any(|s| s.names.contains(name));
            if path_dep || mentioned {
                field(&mut h, b"dirvar");
                field(&mut h, name.as_bytes());
                field(&mut h, env[name].as_bytes());
            }
        }
        let dir_use = if path_dep {
            field(&mut h, b"cwd");
            field(&mut h, path_bytes(&self.cwd).as_ref());
            DirUse::Path
        } else {
            let w = self.writable();
            field(&mut h, b"writable");
            field(&mut h, &[u8::from(w)]);
            DirUse::Writable(w)
        };
        (h.finalize().into(), dir_use)
    }

    /// Whether `word`, relative, names something in the working directory.
    /// `any_word`: any word not starting with `/`, `-` or `$` counts, and
    /// `.` and `..`; otherwise only words with a `/` or a leading `.`.
    fn names_local_file(&self, word: &str, any_word: bool, memo: &mut LookupMemo) -> bool {
        if word.is_empty() || word.starts_with(['/', '-', '$']) {
            return false;
        }
        if word == "." || word == ".." {
            return any_word;
        }
        if !any_word && !word.contains('/') && !word.starts_with('.') {
            return false;
        }
        if let Some(&found) = memo.local.get(word) {
            return found;
        }
        let path = self.cwd.join(word);
        let found = memo.may_exist(&path) && fs::symlink_metadata(&path).is_ok();
        memo.local.insert(word.to_string(), found);
        found
    }

    /// Whether the working directory is writable: a scratch directory can
    /// be made in it, as the kernel's `cc-option` does.
    fn writable(&self) -> bool {
        *self.writable.get_or_init(|| {
            static N: AtomicU64 = AtomicU64::new(0);
            let probe = self.cwd.join(format!(
                ".kforge-probe-w.{}.{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            match fs::create_dir(&probe) {
                Ok(()) => {
                    let _ = fs::remove_dir(&probe);
                    true
                }
                Err(e) => e.kind() == std::io::ErrorKind::AlreadyExists,
            }
        })
    }

    /// What the script at `path` (of identity `id`) says, if it is one.
    fn script_info(
        &self,
        path: &Path,
        id: &[u8],
        memo: &mut LookupMemo,
    ) -> Option<Arc<ScriptInfo>> {
        if let Some(info) = lock(&self.scripts).get(id) {
            return info.clone();
        }
        let info = read_script(path, memo).map(Arc::new);
        lock(&self.scripts).insert(id.to_vec(), info.clone());
        info
    }

    /// Run `f` on this cache's pack, loading it first if needed.
    fn with_pack<R>(&self, f: impl FnOnce(&mut Pack) -> R) -> Option<R> {
        let path = self.pack_path()?;
        let mut guard = lock(&self.pack);
        let pack = guard.get_or_insert_with(|| {
            if let Some(parent) = path.parent() {
                let _ = fs::create_dir_all(parent);
            }
            Pack::load(path)
        });
        Some(f(pack))
    }

    fn get(&self, key: &Key) -> Option<Vec<u8>> {
        self.with_pack(|p| p.get(key).map(<[u8]>::to_vec)).flatten()
    }

    /// Run, in parallel (at most one thread per available CPU), every
    /// command of `commands` that is not cached yet, and store the results.
    /// Does nothing when there is no usable cache directory.
    pub fn prefetch(&self, commands: &[String]) {
        if self.dir.is_none() {
            return;
        }
        let mut unique = HashSet::new();
        let mut memo = LookupMemo::default();
        let keyed: Vec<(&str, Key)> = commands
            .iter()
            .filter(|c| unique.insert(c.as_str()))
            .map(|c| (c.as_str(), self.key_with(c, &mut memo).0))
            .collect();
        {
            let mut fresh = lock(&self.fresh_keys);
            for (c, k) in &keyed {
                fresh.insert(c.to_string(), *k);
            }
        }
        let todo: Vec<(&str, Key)> = keyed
            .into_iter()
            .filter(|(_, key)| self.get(key).is_none())
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
                    self.with_pack(|p| p.insert(*key, out));
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
            let todo = lock(&speculator.unknown).clone();
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
        self.dir.as_ref()?;
        self.get(&self.key(command).0)
    }

    /// Record the commands looked up through [`ShellRunner::run`] during
    /// this process, in order of first use, as this tree's history.
    /// Failures are ignored (the history is only an optimisation).
    pub fn save_history(&self) {
        let Some(path) = self.history_path() else {
            return;
        };
        let commands = lock(&self.seen).0.clone();
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
        if fs::read(&path).is_ok_and(|old| old == text.as_bytes()) {
            // Unchanged: only mark it as used (for `kforge gc`).
            let _ = fs::File::options()
                .append(true)
                .open(&path)
                .and_then(|f| f.set_modified(std::time::SystemTime::now()));
            return;
        }
        let _ = kforge_fs::write_atomic(&path, text);
    }

    fn history_path(&self) -> Option<PathBuf> {
        let dir = self.dir.as_ref()?;
        let name = hex::encode(Sha256::digest(self.history_key.as_bytes()));
        Some(dir.join(HISTORY_DIR).join(name))
    }

    fn run_uncached(&self, command: &str) -> Vec<u8> {
        run_shell_command(command, Some(&self.env), Some(&self.cwd))
    }

    fn note(&self, command: &str) {
        let mut seen = lock(&self.seen);
        if seen.1.insert(command.to_string()) {
            seen.0.push(command.to_string());
        }
    }

    /// What decides which toolchain a rustup proxy named by `word` runs
    /// in this cache's directory: `settings.toml` of `RUSTUP_HOME` (the
    /// default toolchain, directory overrides), the `rust-toolchain` and
    /// `rust-toolchain.toml` files of the directory and its ancestors, and
    /// the identity of the program of that name in every installed
    /// toolchain (`RUSTUP_TOOLCHAIN` is in the environment keyed already).
    /// Whichever toolchain rustup picks, switching to another, or updating
    /// or replacing it, changes these.
    fn rustup_selection(&self, word: &str, memo: &mut LookupMemo) -> Vec<u8> {
        let program = word.rsplit('/').next().unwrap_or(word).to_string();
        if let Some(found) = memo.rustup.get(&program) {
            return found.clone();
        }
        let env = &self.keyed_env;
        let home = match env.get("RUSTUP_HOME").filter(|h| !h.is_empty()) {
            Some(h) => self.cwd.join(h),
            None => Path::new(env.get("HOME").map(String::as_str).unwrap_or("")).join(".rustup"),
        };
        let mut out = Vec::new();
        let mut add = |tag: &str, bytes: &[u8]| {
            out.extend_from_slice(&(tag.len() as u64).to_le_bytes());
            out.extend_from_slice(tag.as_bytes());
            out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
            out.extend_from_slice(bytes);
        };
        add("home", path_bytes(&home).as_ref());
        add("settings", &read_small(&home.join("settings.toml")));
        for dir in self.cwd.ancestors() {
            for name in ["rust-toolchain", "rust-toolchain.toml"] {
                let file = dir.join(name);
                if memo.may_exist(&file) && file.exists() {
                    add("toolchain-file", path_bytes(&file).as_ref());
                    add("contents", &read_small(&file));
                }
            }
        }
        let toolchains = home.join("toolchains");
        let mut names: Vec<_> = fs::read_dir(&toolchains)
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
            .unwrap_or_default();
        names.sort();
        for name in names {
            add("toolchain", name.as_encoded_bytes());
            let bin = toolchains.join(&name).join("bin").join(&program);
            add(
                "program",
                &memo.identity(&bin).map(|(_, id)| id).unwrap_or_default(),
            );
        }
        memo.rustup.insert(program, out.clone());
        out
    }

    /// The identity of the file `word` names, if any, with its canonical
    /// path.
    fn resolve_word(
        &self,
        word: &str,
        env: &BTreeMap<String, String>,
        memo: &mut LookupMemo,
    ) -> Option<(PathBuf, Vec<u8>)> {
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
            return memo.identity(&full);
        }
        if word.starts_with('-') || SHELL_BUILTINS.contains(&word) {
            return None;
        }
        let path_var = env.get("PATH").map(String::as_str).unwrap_or(DEFAULT_PATH);
        for entry in path_var.split(':') {
            let dir = if entry.is_empty() {
                self.cwd.clone()
            } else if Path::new(entry).is_absolute() {
                PathBuf::from(entry)
            } else {
                self.cwd.join(entry)
            };
            let candidate = dir.join(word);
            if memo.is_executable_file(&candidate) {
                return memo.identity(&candidate);
            }
        }
        None
    }
}

/// What one batch of keys, computed at one time, found in the file system:
/// every probe of a kernel tree names the same tools, the same words and
/// the same scripts, which are looked at once per batch instead of once per
/// probe (some 10,000 `stat` calls for a tree, most of them failing along
/// `PATH`). A batch runs no probe between its keys, so what it found holds
/// for all of them; the next batch looks again.
#[derive(Default)]
struct LookupMemo {
    /// [`identity_with_path`] by path.
    identities: HashMap<PathBuf, Option<(PathBuf, Vec<u8>)>>,
    /// [`is_executable_file`] by path.
    executables: HashMap<PathBuf, bool>,
    /// Whether a word names something in the working directory.
    local: HashMap<String, bool>,
    /// The names in a directory, as hashes ([`name_hash`]), read once: a
    /// word is looked up in most directories of `PATH` and beside every
    /// script, and nearly always is not there. `None`: not listable.
    listings: HashMap<PathBuf, Option<HashSet<u64>>>,
    /// [`ProbeCache::rustup_selection`] by program name.
    rustup: HashMap<String, Vec<u8>>,
}

impl LookupMemo {
    fn identity(&mut self, p: &Path) -> Option<(PathBuf, Vec<u8>)> {
        if let Some(found) = self.identities.get(p) {
            return found.clone();
        }
        let found = if self.may_exist(p) {
            identity_with_path(p)
        } else {
            None
        };
        self.identities.insert(p.to_path_buf(), found.clone());
        found
    }

    fn is_executable_file(&mut self, p: &Path) -> bool {
        if let Some(&found) = self.executables.get(p) {
            return found;
        }
        let found = self.may_exist(p) && is_executable_file(p);
        self.executables.insert(p.to_path_buf(), found);
        found
    }

    /// False when `p`'s directory was listed and has no entry of its
    /// name, so that `p` does not exist; true when it may (it is then
    /// looked at, so a hash shared by two names costs a `stat`, never a
    /// wrong answer).
    fn may_exist(&mut self, p: &Path) -> bool {
        let (Some(dir), Some(name)) = (p.parent(), p.file_name()) else {
            return true;
        };
        if dir.as_os_str().is_empty() {
            return true;
        }
        let listing = self
            .listings
            .entry(dir.to_path_buf())
            .or_insert_with(|| list_names(dir));
        listing
            .as_ref()
            .is_none_or(|names| names.contains(&name_hash(name)))
    }
}

/// The hashes of the names in `dir`, or `None` when it cannot be listed
/// (then nothing is concluded from it).
fn list_names(dir: &Path) -> Option<HashSet<u64>> {
    let mut names = HashSet::new();
    for entry in fs::read_dir(dir).ok()? {
        names.insert(name_hash(&entry.ok()?.file_name()));
    }
    Some(names)
}

/// FNV-1a of a file name's bytes.
fn name_hash(name: &std::ffi::OsStr) -> u64 {
    name.as_encoded_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
}

/// Whether the program at the canonical path `p` is rustup, which runs
/// as a proxy (`rustc`, `cargo`, `rustfmt`, ... linked to it) the program
/// of that name in the toolchain it picks: named `rustup` or
/// `rustup-init`, or a hard link of the `rustup` beside it.
fn is_rustup_proxy(p: &Path, memo: &mut LookupMemo) -> bool {
    let named = |n: &str| p.file_name().is_some_and(|f| f == n);
    if named("rustup") || named("rustup-init") {
        return true;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let Some(rustup) = p.parent().map(|d| d.join("rustup")) else {
            return false;
        };
        if !memo.may_exist(&rustup) {
            return false;
        }
        match (fs::metadata(p), fs::metadata(rustup)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    false
}

/// A small file's contents (at most [`SCRIPT_LIMIT`] bytes; empty when it
/// cannot be read).
fn read_small(path: &Path) -> Vec<u8> {
    use std::io::Read;
    let mut data = Vec::new();
    if let Ok(f) = fs::File::open(path) {
        let _ = f.take(SCRIPT_LIMIT).read_to_end(&mut data);
    }
    data
}

/// Whether `p` is `dir` or a path under it (`dir` being `/` counts only
/// for `/` itself).
fn is_under(p: &Path, dir: &Path) -> bool {
    if !p.is_absolute() {
        return false;
    }
    if p == dir {
        return true;
    }
    dir.parent().is_some() && p.starts_with(dir)
}

/// Whether a command word is (or, as a path, ends in) a [`DIR_WORDS`] word.
fn reveals_dir(word: &str) -> bool {
    let last = word.rsplit('/').next().unwrap_or(word);
    DIR_WORDS.contains(&last)
}

/// Read a script for [`ScriptInfo`]; `None` if `path` is not a script
/// (no `#!`), or cannot be read.
fn read_script(path: &Path, memo: &mut LookupMemo) -> Option<ScriptInfo> {
    use std::io::Read;
    let mut f = fs::File::open(path).ok()?;
    // Two bytes say whether it is a script: a compiler is not read further.
    let mut data = vec![0u8; 2];
    f.read_exact(&mut data).ok()?;
    if data != b"#!" {
        return None;
    }
    f.take(SCRIPT_LIMIT - 1).read_to_end(&mut data).ok()?;
    if data.len() as u64 > SCRIPT_LIMIT {
        return Some(ScriptInfo {
            reveals_dir: true,
            ..ScriptInfo::default()
        });
    }
    let text = String::from_utf8_lossy(&data);
    let mut info = ScriptInfo {
        reveals_dir: text.contains("PWD"),
        ..ScriptInfo::default()
    };
    for token in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        if !token.is_empty() && !token.as_bytes()[0].is_ascii_digit() {
            info.names.insert(token.to_string());
        }
    }
    let here = path.parent();
    let empty = BTreeMap::new();
    let mut seen = HashSet::new();
    for line in text.lines() {
        if line.trim_start().starts_with('#') {
            continue;
        }
        for word in command_words(line, &empty) {
            if !seen.insert(word.clone()) {
                continue;
            }
            info.reveals_dir |= reveals_dir(&word);
            if !word.starts_with(['/', '-', '$']) && word != "." && word != ".." {
                info.relative_words.push(word.clone());
            }
            // A file next to the script named by the word's last component.
            let last = word.rsplit('/').next().unwrap_or(&word);
            if last.is_empty() || last == "." || last == ".." {
                continue;
            }
            if let Some(sibling) = here.map(|d| d.join(last)) {
                if sibling.as_path() != path && memo.may_exist(&sibling) && sibling.is_file() {
                    if let Ok(c) = fs::canonicalize(&sibling) {
                        info.siblings.push(c);
                    }
                }
            }
        }
    }
    info.siblings.sort();
    info.siblings.dedup();
    Some(info)
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
        lock(&self.unknown).push(command.to_string());
        UNKNOWN_OUTPUT.into()
    }
}

impl ShellRunner for ProbeCache {
    fn run(&self, command: &str) -> Vec<u8> {
        self.note(command);
        if self.dir.is_none() {
            self.misses.fetch_add(1, Ordering::Relaxed);
            return self.run_uncached(command);
        }
        let fresh = lock(&self.fresh_keys).remove(command);
        let key = fresh.unwrap_or_else(|| self.key(command).0);
        if let Some(out) = self.get(&key) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return out;
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let out = self.run_uncached(command);
        self.with_pack(|p| p.insert(key, out.clone()));
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
    identity_with_path(p).map(|(_, id)| id)
}

/// [`file_identity`], and the canonical path.
fn identity_with_path(p: &Path) -> Option<(PathBuf, Vec<u8>)> {
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
    Some((canonical, id))
}

/// The words of a shell command that might name files: split on blanks and
/// shell operators, quotes removed, `$NAME`/`${NAME}` replaced from `env`.
/// For a word containing `=` (an assignment or `--opt=value`), the part
/// after the first `=` is a candidate too. This is deliberately generous:
/// an extra word can only cause a miss, never a stale hit.
fn command_words(command: &str, env: &BTreeMap<String, String>) -> Vec<String> {
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
                } else if let Some(v) = env.get(&name) {
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

/// The Makefiles' tool queries (`$(CC) --version`, `$(RUSTC) --version`:
/// commands whose output depends only on the programs they name and their
/// environment) answered from the probe cache in `dir`, keyed as probes are.
/// Outputs are kept to their first 4096 bytes, as a probe's; a version line
/// is far shorter.
pub struct ToolQueries {
    dir: PathBuf,
    /// The cache of the last environment and directory asked for.
    cache: Option<ProbeCache>,
}

impl ToolQueries {
    /// Queries answered from the probe cache in `dir`.
    pub fn new(dir: PathBuf) -> Self {
        ToolQueries { dir, cache: None }
    }

    /// The standard output of `/bin/sh -c command` with exactly `env`, in
    /// `cwd`: from the cache, or run and remembered.
    pub fn run(&mut self, command: &str, env: &BTreeMap<String, String>, cwd: &Path) -> Vec<u8> {
        let same = self.cache.as_ref().is_some_and(|c| {
            c.cwd == cwd
                && c.env.len() == env.len()
                && c.env
                    .iter()
                    .zip(env)
                    .all(|((a, b), (c, d))| a == c && b == d)
        });
        if !same {
            let vars = env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            self.cache = Some(ProbeCache::new(self.dir.clone(), vars, cwd.to_path_buf()));
        }
        self.cache
            .as_ref()
            .map(|c| c.run(command))
            .unwrap_or_default()
    }
}

/// A probe cache for a tree as the engine's shell runner: commands run with
/// `vars` in `cwd`; `history_key` names the tree for the history of probes.
/// On a first run (no history) the probes are learnt by speculative parses
/// of `kconfig` (reading the variables `vars`) and run in parallel before
/// the real parse.
///
/// The keys of the probes the tree ran last time are computed on another
/// thread (a few milliseconds of `stat` and hashing), so that the caller
/// can read the parsed-tree cache meanwhile; the first probe waits for them.
pub fn cached_shell(
    vars: Vec<(String, String)>,
    cwd: PathBuf,
    history_key: String,
    kconfig: &str,
) -> Box<dyn kconfig_engine::ShellRunner> {
    let kconfig = kconfig.to_string();
    let make = move || {
        let env: Arc<HashMap<String, String>> = Arc::new(vars.iter().cloned().collect());
        let pc = Arc::new(
            ProbeCache::new(ProbeCache::default_dir(), vars, cwd).with_history_key(history_key),
        );
        if !pc.prefetch_history() {
            pc.prefetch_by_speculation(SPECULATIVE_ROUNDS, |shell| {
                let env = env.clone();
                let _ = Kconfig::load(LoadOptions {
                    kconfig: kconfig.clone(),
                    env: std::rc::Rc::new(move |k: &str| env.get(k).cloned()),
                    shell,
                    dialect: None,
                });
            });
        }
        SavingCache(pc)
    };
    match std::thread::Builder::new()
        .name("probe-keys".into())
        .spawn(make)
    {
        Ok(handle) => Box::new(PendingShell {
            pending: std::cell::RefCell::new(Some(handle)),
            ready: std::cell::OnceCell::new(),
        }),
        Err(e) => panic!("cannot start a thread for the probe cache: {e}"),
    }
}

/// A [`SavingCache`] being made on another thread; the first probe waits
/// for it (and a panic there is raised here).
struct PendingShell {
    pending: std::cell::RefCell<Option<std::thread::JoinHandle<SavingCache>>>,
    ready: std::cell::OnceCell<SavingCache>,
}

impl PendingShell {
    fn shell(&self) -> &SavingCache {
        self.ready.get_or_init(|| {
            let handle = self.pending.borrow_mut().take();
            match handle.expect("made once").join() {
                Ok(shell) => shell,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }
}

impl kconfig_engine::ShellRunner for PendingShell {
    fn run(&self, command: &str) -> Vec<u8> {
        self.shell().run(command)
    }
}

impl Drop for PendingShell {
    fn drop(&mut self) {
        // Never used (a parsed tree without probes): wait for the keys all
        // the same, so the history is saved as before.
        if self.ready.get().is_none() && self.pending.borrow().is_some() {
            self.shell();
        }
    }
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

    fn with(env: &[(String, String)], extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut env = env.to_vec();
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        env
    }

    /// A command leaving a mark (a new file) named `tag` in `marks`. Probes
    /// count their runs this way: a file named in a command is part of the
    /// key, so appending to one would change the key.
    fn mark(marks: &Path, tag: &str) -> String {
        fs::create_dir_all(marks).unwrap();
        format!("mktemp {}/{tag}.XXXXXX >/dev/null", marks.display())
    }

    /// The tags of the marks in `marks`, sorted.
    fn marks(marks: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(marks)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .map(|n| n.rsplit_once('.').map_or(n.clone(), |(t, _)| t.to_string()))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    fn write_script(path: &Path, body: &str) {
        use std::os::unix::fs::PermissionsExt;
        fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// Rewrite a script, and move its modification time on.
    fn edit_script(path: &Path, body: &str) {
        let old = fs::metadata(path).unwrap().modified().unwrap();
        write_script(path, body);
        fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(old + Duration::from_secs(5))
            .unwrap();
    }

    fn dirs(root: &Path, names: &[&str]) -> Vec<PathBuf> {
        names
            .iter()
            .map(|n| {
                let d = root.join(n);
                fs::create_dir_all(&d).unwrap();
                d
            })
            .collect()
    }

    #[test]
    fn hit_after_miss_without_rerunning() {
        let root = scratch("hit");
        let cache_dir = root.join("cache");
        let work = root.join("work");
        fs::create_dir_all(&work).unwrap();
        let count = root.join("count");
        let cmd = format!("{}; echo hello; echo world", mark(&count, "run"));

        let c = ProbeCache::new(cache_dir.clone(), base_env("/usr/bin:/bin"), work.clone());
        assert_eq!(c.run(&cmd), b"hello\nworld\n");
        assert_eq!(c.stats(), (0, 1));
        assert_eq!(c.run(&cmd), b"hello\nworld\n");
        assert_eq!(c.stats(), (1, 1));

        // A new process (a new cache object) still hits.
        let c2 = ProbeCache::new(cache_dir, base_env("/usr/bin:/bin"), work.clone());
        assert_eq!(c2.run(&cmd), b"hello\nworld\n");
        assert_eq!(c2.stats(), (1, 0));
        assert_eq!(marks(&count), ["run"]);
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn key_ignores_volatile_env_only() {
        let root = scratch("env");
        let mk = |extra: &[(&str, &str)]| {
            ProbeCache::new(
                root.join("c"),
                with(&base_env("/usr/bin:/bin"), extra),
                root.clone(),
            )
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
        let _ = fs::remove_dir_all(&root);
    }

    /// The kernel's `cc-option` form of 6.12, with a fake compiler.
    fn cc_option(flag: &str) -> String {
        format!(
            "{{ trap \"rm -rf .tmp_$$\" EXIT; mkdir .tmp_$$; kf-cc -Werror {flag} -c -x c /dev/null -o .tmp_$$/tmp.o; }} >/dev/null 2>&1 && echo \"y\" || echo \"n\""
        )
    }

    /// A fake compiler that accepts `-ok` and writes its output file.
    fn fake_cc(bin: &Path) {
        write_script(
            &bin.join("kf-cc"),
            "for a; do case $a in -bad) exit 1;; esac; done\nwhile [ $# -gt 1 ]; do shift; done\n: > \"$1\"",
        );
    }

    #[test]
    fn same_probe_in_a_new_directory_is_a_hit() {
        let root = scratch("newdir");
        let bin = dirs(&root, &["bin"]).remove(0);
        fake_cc(&bin);
        let env = base_env(&format!("{}:/usr/bin:/bin", bin.display()));
        let [a, b] = <[PathBuf; 2]>::try_from(dirs(&root, &["obj-a", "obj-b"])).unwrap();
        let cmd = cc_option("-ok");
        // PWD is a directory variable: it differs and does not count.
        let ca = ProbeCache::new(
            root.join("cache"),
            with(&env, &[("PWD", a.to_str().unwrap())]),
            a.clone(),
        );
        assert_eq!(ca.dir_use(&cmd), DirUse::Writable(true));
        assert_eq!(ca.run(&cmd), b"y\n");
        assert_eq!(ca.run(&cc_option("-bad")), b"n\n");
        assert_eq!(ca.stats(), (0, 2));
        let cb = ProbeCache::new(
            root.join("cache"),
            with(&env, &[("PWD", b.to_str().unwrap())]),
            b.clone(),
        );
        assert_eq!(cb.pack_path(), ca.pack_path());
        assert_eq!(cb.run(&cmd), b"y\n");
        assert_eq!(cb.run(&cc_option("-bad")), b"n\n");
        assert_eq!(cb.stats(), (2, 0));
        // One pack file, not one file per probe and directory.
        assert_eq!(
            fs::read_dir(root.join("cache").join(PACK_DIR))
                .unwrap()
                .count(),
            1
        );
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn directory_dependent_probes_are_keyed_by_directory() {
        let root = scratch("pathdep");
        let [a, b] = <[PathBuf; 2]>::try_from(dirs(&root, &["a", "b"])).unwrap();
        fs::write(a.join("data"), "from a\n").unwrap();
        fs::write(b.join("data"), "from b\n").unwrap();
        fs::write(a.join("only-a"), "").unwrap();
        let env = base_env("/usr/bin:/bin");
        let ca = ProbeCache::new(root.join("cache"), env.clone(), a.clone());
        let cb = ProbeCache::new(root.join("cache"), env.clone(), b.clone());
        for cmd in ["pwd", "echo $PWD", "cat data", "cat ./data", "ls ."] {
            assert_eq!(ca.dir_use(cmd), DirUse::Path, "{cmd}");
            let (ra, rb) = (ca.run(cmd), cb.run(cmd));
            assert_ne!(ra, rb, "{cmd}");
            assert_eq!(ca.run(cmd), ra);
        }
        // A script run by absolute path that looks at the directory.
        let s = root.join("where.sh");
        write_script(&s, "basename \"$(pwd)\"");
        let cmd = s.display().to_string();
        assert_eq!(ca.dir_use(&cmd), DirUse::Path);
        assert_eq!(
            (ca.run(&cmd), cb.run(&cmd)),
            (b"a\n".to_vec(), b"b\n".to_vec())
        );
        // A script reading a relative file.
        let s2 = root.join("read.sh");
        write_script(&s2, "cat ./data");
        assert_eq!(ca.dir_use(&s2.display().to_string()), DirUse::Path);
        // A directory variable counts for a command naming it.
        let with_obj = |d: &Path| {
            ProbeCache::new(
                root.join("cache"),
                with(&env, &[("OBJ", d.to_str().unwrap())]),
                d.to_path_buf(),
            )
        };
        let (oa, ob) = (with_obj(&a), with_obj(&b));
        assert_eq!(oa.pack_path(), ob.pack_path());
        assert_eq!(oa.dir_use("echo $OBJ"), DirUse::Writable(true));
        assert_eq!(
            oa.run("echo $OBJ"),
            format!("{}\n", a.display()).into_bytes()
        );
        assert_eq!(
            ob.run("echo $OBJ"),
            format!("{}\n", b.display()).into_bytes()
        );
        assert_eq!(oa.key_for("true"), ob.key_for("true"));
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn read_only_directory_has_its_own_entries() {
        use std::os::unix::fs::PermissionsExt;
        let root = scratch("ro");
        let bin = dirs(&root, &["bin"]).remove(0);
        fake_cc(&bin);
        let env = base_env(&format!("{}:/usr/bin:/bin", bin.display()));
        let rw = dirs(&root, &["rw"]).remove(0);
        let ro = dirs(&root, &["ro"]).remove(0);
        fs::set_permissions(&ro, fs::Permissions::from_mode(0o555)).unwrap();
        let mut ro_cache = ProbeCache::new(root.join("cache"), env.clone(), ro.clone());
        if ro_cache.writable() {
            // Root writes anywhere: use a directory nobody can write to.
            ro_cache = ProbeCache::new(root.join("cache"), env.clone(), PathBuf::from("/proc/sys"));
        }
        let rw_cache = ProbeCache::new(root.join("cache"), env, rw);
        let cmd = cc_option("-ok");
        assert_eq!(rw_cache.dir_use(&cmd), DirUse::Writable(true));
        assert_eq!(ro_cache.dir_use(&cmd), DirUse::Writable(false));
        assert_ne!(rw_cache.key_for(&cmd), ro_cache.key_for(&cmd));
        assert_eq!(rw_cache.run(&cmd), b"y\n");
        assert_eq!(ro_cache.run(&cmd), b"n\n");
        assert_eq!(ro_cache.stats(), (0, 1));
        fs::set_permissions(&ro, fs::Permissions::from_mode(0o755)).unwrap();
        let _ = fs::remove_dir_all(&root);
    }

    /// A rustup stand-in: runs the program of its own name from the
    /// toolchain `RUSTUP_TOOLCHAIN`, a `rust-toolchain` file of the
    /// directory, or the default of `settings.toml` names.
    fn fake_rustup(bin: &Path, home: &Path, toolchains: &[&str]) {
        fs::create_dir_all(bin).unwrap();
        write_script(
            &bin.join("rustup"),
            r#"prog=$(basename "$0")
tc=$RUSTUP_TOOLCHAIN
[ -z "$tc" ] && [ -f rust-toolchain ] && tc=$(cat rust-toolchain)
[ -z "$tc" ] && tc=$(sed -n 's/^default_toolchain = "\(.*\)"/\1/p' "$RUSTUP_HOME/settings.toml")
exec "$RUSTUP_HOME/toolchains/$tc/bin/$prog" "$@""#,
        );
        std::os::unix::fs::symlink("rustup", bin.join("rustc")).unwrap();
        fs::hard_link(bin.join("rustup"), bin.join("cargo")).unwrap();
        for tc in toolchains {
            let tbin = home.join("toolchains").join(tc).join("bin");
            fs::create_dir_all(&tbin).unwrap();
            write_script(&tbin.join("rustc"), &format!("echo rustc {tc} 1"));
            write_script(&tbin.join("cargo"), &format!("echo cargo {tc} 1"));
        }
        fs::write(home.join("settings.toml"), "default_toolchain = \"a\"\n").unwrap();
    }

    #[test]
    fn rustup_proxy_answers_follow_the_toolchain_it_picks() {
        let root = scratch("rustup");
        let (bin, home, work) = (root.join("bin"), root.join("rustup"), root.join("work"));
        fs::create_dir_all(&work).unwrap();
        fake_rustup(&bin, &home, &["a", "b"]);
        let env = with(
            &base_env(&format!("{}:/usr/bin:/bin", bin.display())),
            &[("RUSTUP_HOME", home.to_str().unwrap())],
        );
        let c = ProbeCache::new(root.join("cache"), env, work.clone());
        let run = |cmd: &str| String::from_utf8(c.run(cmd)).unwrap();

        assert_eq!(run("rustc --version"), "rustc a 1\n");
        assert_eq!(run("cargo --version"), "cargo a 1\n");
        assert_eq!(run("rustc --version"), "rustc a 1\n");
        assert_eq!(c.stats(), (1, 2));

        // `rustup default b`: the proxy itself is unchanged.
        fs::write(home.join("settings.toml"), "default_toolchain = \"b\"\n").unwrap();
        assert_eq!(run("rustc --version"), "rustc b 1\n");
        // The hard-linked proxy too.
        assert_eq!(run("cargo --version"), "cargo b 1\n");

        // `rustup update b`.
        edit_script(&home.join("toolchains/b/bin/rustc"), "echo rustc b 2");
        assert_eq!(run("rustc --version"), "rustc b 2\n");

        // A toolchain file in the directory the probe runs in.
        fs::write(work.join("rust-toolchain"), "a").unwrap();
        assert_eq!(run("rustc --version"), "rustc a 1\n");
        fs::remove_file(work.join("rust-toolchain")).unwrap();
        assert_eq!(run("rustc --version"), "rustc b 2\n");

        // Nothing changed since: answered from the cache.
        let before = c.stats();
        assert_eq!(run("rustc --version"), "rustc b 2\n");
        assert_eq!(c.stats(), (before.0 + 1, before.1));
        fs::write(home.join("settings.toml"), "default_toolchain = \"a\"\n").unwrap();
        assert_eq!(run("rustc --version"), "rustc a 1\n");

        // A program that is not rustup does not look at rustup's files.
        let tool = bin.join("kf-probe-tool");
        write_script(&tool, "echo v1");
        let key = c.key_for("kf-probe-tool --version");
        fs::write(home.join("settings.toml"), "default_toolchain = \"b\"\n").unwrap();
        assert_eq!(c.key_for("kf-probe-tool --version"), key);
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
        edit_script(&tool, "echo v2");
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
    fn changed_compiler_is_a_miss_in_every_directory() {
        let root = scratch("cc");
        let bin = dirs(&root, &["bin"]).remove(0);
        let cc = bin.join("kf-cc");
        write_script(&cc, "echo 'kf-cc 1.0'");
        let env = base_env(&format!("{}:/usr/bin:/bin", bin.display()));
        let [a, b] = <[PathBuf; 2]>::try_from(dirs(&root, &["a", "b"])).unwrap();
        let cmd = "kf-cc --version | head -n1";
        let ca = ProbeCache::new(root.join("cache"), env.clone(), a);
        assert_eq!(ca.run(cmd), b"kf-cc 1.0\n");
        edit_script(&cc, "echo 'kf-cc 2.0'");
        // Another directory, another process: still not the stale answer.
        let cb = ProbeCache::new(root.join("cache"), env, b);
        assert_eq!(cb.run(cmd), b"kf-cc 2.0\n");
        assert_eq!(cb.stats(), (0, 1));
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn changed_cc_cross_compile_or_llvm_is_a_miss() {
        let root = scratch("envtc");
        let work = dirs(&root, &["obj"]).remove(0);
        let env = base_env("/usr/bin:/bin");
        let cmd = "echo \"${CROSS_COMPILE}${CC} llvm=$LLVM\"";
        let mut answers = HashSet::new();
        for extra in [
            vec![("CC", "gcc")],
            vec![("CC", "clang")],
            vec![("CC", "gcc"), ("CROSS_COMPILE", "aarch64-linux-gnu-")],
            vec![("CC", "clang"), ("LLVM", "1")],
        ] {
            let c = ProbeCache::new(root.join("cache"), with(&env, &extra), work.clone());
            assert!(answers.insert(c.run(cmd)), "stale answer for {extra:?}");
            assert_eq!(c.stats(), (0, 1));
        }
        // A variable the command does not name still separates the groups
        // (a script may read it).
        let c1 = ProbeCache::new(
            root.join("cache"),
            with(&env, &[("LLVM", "1")]),
            work.clone(),
        );
        let c2 = ProbeCache::new(root.join("cache"), with(&env, &[("LLVM", "-15")]), work);
        assert_ne!(c1.pack_path(), c2.pack_path());
        assert_ne!(c1.key_for("true"), c2.key_for("true"));
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn edited_script_under_scripts_is_a_miss() {
        let root = scratch("script");
        let scripts = dirs(&root, &["src/scripts"]).remove(0);
        let main = scripts.join("cc-version.sh");
        let helper = scripts.join("min-tool-version.sh");
        write_script(&helper, "echo 5.1");
        write_script(
            &main,
            "echo \"GCC $($(dirname $0)/min-tool-version.sh gcc)\"",
        );
        let env = base_env("/usr/bin:/bin");
        let work = dirs(&root, &["obj"]).remove(0);
        let cmd = format!("{} gcc", main.display());
        let mk = || ProbeCache::new(root.join("cache"), env.clone(), work.clone());
        assert_eq!(mk().run(&cmd), b"GCC 5.1\n");
        assert_eq!(mk().dir_use(&cmd), DirUse::Writable(true));
        // The script itself.
        edit_script(
            &main,
            "echo \"CC $($(dirname $0)/min-tool-version.sh gcc)\"",
        );
        assert_eq!(mk().run(&cmd), b"CC 5.1\n");
        // A script it runs.
        edit_script(&helper, "echo 8.1");
        let c = mk();
        assert_eq!(c.run(&cmd), b"CC 8.1\n");
        assert_eq!(c.stats(), (0, 1));
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn damaged_pack_is_a_miss_and_recovers() {
        let root = scratch("damage");
        let cache_dir = root.join("cache");
        let env = base_env("/usr/bin:/bin");
        let mk = || ProbeCache::new(cache_dir.clone(), env.clone(), root.clone());
        let c = mk();
        assert_eq!(c.run("printf 'abc'"), b"abc");
        assert_eq!(c.run("printf 'def'"), b"def");
        let path = c.pack_path().unwrap();
        let good = fs::read(&path).unwrap();
        let first = pack::encode(&c.key("printf 'abc'").0, b"abc").len();
        for (bad, stats) in [
            (good[..good.len() - 1].to_vec(), (1, 1)),
            ([&good[..], b"garbage"].concat(), (2, 0)),
            (
                {
                    let mut f = good.clone();
                    f[first + 40] ^= 1;
                    f
                },
                (1, 1),
            ),
        ] {
            fs::write(&path, &bad).unwrap();
            let c = mk();
            assert_eq!(c.run("printf 'abc'"), b"abc");
            assert_eq!(c.run("printf 'def'"), b"def");
            assert_eq!(c.stats(), stats);
            // Rewritten without the damage, then the new record appended.
            let p = pack::parse(&fs::read(&path).unwrap());
            assert!(!p.bad_tail);
            assert_eq!(p.records.len(), 2);
        }
        // Garbage from the start, and a pack that is a directory: misses,
        // no panic.
        fs::write(&path, b"garbage").unwrap();
        assert_eq!(mk().run("printf 'abc'"), b"abc");
        fs::remove_file(&path).unwrap();
        fs::create_dir(&path).unwrap();
        let c = mk();
        assert_eq!(c.run("printf 'abc'"), b"abc");
        assert_eq!(c.run("printf 'abc'"), b"abc");
        assert_eq!(c.stats(), (1, 1));
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn concurrent_writers_leave_a_valid_pack() {
        let root = scratch("parallel");
        let env = base_env("/usr/bin:/bin");
        let caches: Vec<ProbeCache> = (0..4)
            .map(|_| ProbeCache::new(root.join("cache"), env.clone(), root.clone()))
            .collect();
        std::thread::scope(|s| {
            for c in &caches {
                s.spawn(move || {
                    for i in 0..20 {
                        assert_eq!(c.run(&format!("echo {i}")), format!("{i}\n").into_bytes());
                    }
                });
            }
        });
        let p = pack::parse(&fs::read(caches[0].pack_path().unwrap()).unwrap());
        assert!(!p.bad_tail);
        assert!(p.records.len() >= 20);
        let c = ProbeCache::new(root.join("cache"), env, root.clone());
        for i in 0..20 {
            c.run(&format!("echo {i}"));
        }
        assert_eq!(c.stats(), (20, 0));
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
        assert!(c.pack_path().is_none());
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
        let ran = root.join("ran");
        let cmds: Vec<String> = (0..12)
            .map(|i| format!("echo {i}; {}", mark(&ran, "line")))
            .collect();
        let c = ProbeCache::new(cache_dir.clone(), env.clone(), root.clone());
        c.prefetch(&cmds);
        c.prefetch(&cmds); // all cached now: nothing runs again
        assert_eq!(marks(&ran).len(), 12);
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
        // Saved again unchanged: the file is only marked as used.
        let old = SystemTime::now() - Duration::from_secs(7 * 86400);
        fs::File::options()
            .append(true)
            .open(&path)
            .unwrap()
            .set_modified(old)
            .unwrap();
        c.save_history();
        assert!(fs::metadata(&path).unwrap().modified().unwrap() > old);

        // A cold cache for the same tree is filled from the history.
        let cold_dir = root.join("cold");
        let cold = ProbeCache::new(cold_dir.clone(), env.clone(), root.clone())
            .with_history_key("tree-a".to_string());
        fs::create_dir_all(cold_dir.join(HISTORY_DIR)).unwrap();
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
        let ran = root.join("ran");
        // A "parse": ten independent probes, then a chain where each probe's
        // text is built from the previous output. Every command that runs
        // leaves a line in `ran`.
        let parse = |shell: &dyn ShellRunner| -> Vec<Vec<u8>> {
            let mut outs: Vec<Vec<u8>> = (0..10)
                .map(|i| shell.run(&format!("echo p{i}; {}", mark(&ran, &format!("p{i}")))))
                .collect();
            let mut prev = String::from("c");
            for _ in 0..3 {
                let out = shell.run(&format!("echo {prev}x; {}", mark(&ran, &prev)));
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
        let ran = marks(&ran);
        assert!(
            !ran.iter().any(|m| m.contains(UNKNOWN_OUTPUT)),
            "ran a placeholder: {ran:?}"
        );
        assert_eq!(ran.len(), 12);
        // The real parse: all but the last link come from the cache.
        let outs = parse(&*c);
        assert_eq!(outs[12], b"cxxx\n");
        assert_eq!(c.stats(), (12, 1));
        let _ = fs::remove_dir_all(&root);
    }

    /// A directory is listed once per batch; a name not in it is absent,
    /// anything else is looked at (an unlistable directory, a relative
    /// path of one component, `..`).
    #[test]
    fn listed_directories_answer_for_missing_names() {
        let root = scratch("listing");
        fs::write(root.join("tool"), "").unwrap();
        let mut memo = LookupMemo::default();
        assert!(memo.may_exist(&root.join("tool")));
        assert!(!memo.may_exist(&root.join("other")));
        // the listing is the batch's: a file made after it is not seen ...
        fs::write(root.join("other"), "").unwrap();
        assert!(!memo.may_exist(&root.join("other")));
        // ... by this batch; the next one lists again
        assert!(LookupMemo::default().may_exist(&root.join("other")));
        assert!(memo.may_exist(&root.join("missing-dir/x")));
        assert!(memo.may_exist(Path::new("word")));
        assert!(memo.may_exist(&root.join("..")));
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn words_scripts_and_history_format() {
        let env: BTreeMap<String, String> = [("CC", "gcc"), ("D", "/opt")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(
            command_words("$CC -Werror=x ${D}/bin/ld|'sh' \"-c\";a&&b", &env),
            vec!["gcc", "x", "-Werror=x", "/opt/bin/ld", "sh", "-c", "a", "b"]
        );
        assert!(reveals_dir("/usr/bin/readlink") && reveals_dir("pwd") && !reveals_dir("-pwd"));
        assert!(is_under(Path::new("/a/b/c"), Path::new("/a/b")));
        assert!(!is_under(Path::new("/a/bc"), Path::new("/a/b")));
        assert!(!is_under(Path::new("/usr/bin"), Path::new("/")));
        assert!(!is_under(Path::new("rel"), Path::new("/a")));
        // Not a script, a large script, an unreadable path.
        let root = scratch("scripts");
        fs::write(root.join("plain"), "echo hi").unwrap();
        assert!(read_script(&root.join("plain"), &mut LookupMemo::default()).is_none());
        assert!(read_script(&root.join("missing"), &mut LookupMemo::default()).is_none());
        let big = format!("#!/bin/sh\n{}", "#\n".repeat(SCRIPT_LIMIT as usize));
        fs::write(root.join("big"), big).unwrap();
        assert!(
            read_script(&root.join("big"), &mut LookupMemo::default())
                .unwrap()
                .reveals_dir
        );
        let _ = fs::remove_dir_all(&root);
        assert_eq!(
            unescape_line(&escape_line("a\\b\nc\r")).unwrap(),
            "a\\b\nc\r"
        );
        assert!(unescape_line("bad\\q").is_none());
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
