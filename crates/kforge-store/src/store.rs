//! The content-addressed store of built kernels.
//!
//! ```text
//! $XDG_CACHE_HOME/kforge/          (default ~/.cache/kforge)
//!   store/
//!     <hash>-linux-<version>-<arch>/   an entry: kernel/ modules/ dev/ ... manifest.json
//!     .tmp-<hash>-<pid>/               an entry being built (never read as an entry)
//!     .locks/<hash>.lock               one lock per key
//!   gcroots/<id> -> /abs/path/result   registered result links (Nix's gcroots)
//!   build/<key>/                       kbuild O= directories, one per source/arch/toolchain
//! ```
//!
//! `<hash>` is the first 32 hex digits of the SHA-256 of [`KeyInputs`]: a
//! list of `name=value` lines, one per input that affects the output. An
//! entry is built in `store/.tmp-<hash>-<pid>` and renamed into place once
//! complete, so an entry that exists is whole; builds of one key are
//! serialised by an exclusive lock on `store/.locks/<hash>.lock`, and the
//! second one, once it has the lock, finds the entry the first one made.
//! A temporary directory left by a killed build is removed by the next
//! build of its key (which holds the key's lock, so nobody else can be
//! writing it) or by [`Store::gc`].
//!
//! Entries are reached through result links (`./result` by default): each
//! link made by [`Store::add_root`] is registered as a symlink in
//! `gcroots/` pointing at the link, and [`Store::gc`] keeps exactly the
//! entries some registered link still points at. The modification time of
//! an entry's directory records its last use (build or store hit).

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use crate::sha256_hex;

/// The inputs of a build that affect its output, in a fixed order. Their
/// text (`name=value` lines) is hashed into the store key and kept in the
/// entry's manifest.
#[derive(Debug, Clone, Default)]
pub struct KeyInputs {
    items: Vec<(String, String)>,
}

impl KeyInputs {
    pub fn new() -> KeyInputs {
        KeyInputs::default()
    }

    /// Add an input. Values are kept on one line (newlines escaped).
    pub fn add(&mut self, name: &str, value: impl AsRef<str>) {
        self.items.push((
            name.to_string(),
            value.as_ref().replace('\\', "\\\\").replace('\n', "\\n"),
        ));
    }

    pub fn items(&self) -> &[(String, String)] {
        &self.items
    }

    /// The text that is hashed: one `name=value` line per input.
    pub fn text(&self) -> String {
        self.items
            .iter()
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect()
    }

    /// The key: the first 32 hex digits of the SHA-256 of [`KeyInputs::text`].
    pub fn hash(&self) -> String {
        sha256_hex(self.text().as_bytes())[..32].to_string()
    }
}

/// The name of the entry for `hash`: `<hash>-linux-<version>-<arch>` (any
/// character other than letters, digits, `.`, `_`, `+` and `-` in the
/// version or architecture becomes `_`).
pub fn entry_name(hash: &str, version: &str, arch: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-') {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    format!("{hash}-linux-{}-{}", clean(version), clean(arch))
}

/// The store and the build directories next to it.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// An exclusive lock on one store key, held until dropped.
#[derive(Debug)]
pub struct KeyLock {
    _file: File,
    /// The lock was held by another process and this one waited for it.
    pub waited: bool,
}

/// An exclusive lock on a build directory, held until dropped and by every
/// process that inherited it ([`BuildDirLock::inherit`]).
#[derive(Debug)]
pub struct BuildDirLock {
    file: File,
    pub waited: bool,
}

impl BuildDirLock {
    /// The lock file as a child's standard input. `make` and every process
    /// it starts inherit it, so the build directory stays locked until the
    /// last of them is gone, even when kforge itself is killed (their
    /// orphaned jobs may still be writing object files).
    pub fn inherit(&self) -> io::Result<Stdio> {
        Ok(Stdio::from(self.file.try_clone()?))
    }
}

/// An entry being built: `store/.tmp-<hash>-<pid>`, removed when dropped
/// unless committed.
#[derive(Debug)]
pub struct TempEntry {
    path: PathBuf,
    dest: PathBuf,
    committed: bool,
}

impl TempEntry {
    /// The directory to fill.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the entry will be.
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// Rename the finished entry into place.
    pub fn commit(mut self) -> io::Result<PathBuf> {
        fs::rename(&self.path, &self.dest)?;
        self.committed = true;
        Ok(self.dest.clone())
    }
}

impl Drop for TempEntry {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// What [`Store::gc`] should remove.
#[derive(Debug, Clone, Default)]
pub struct GcOptions {
    /// Remove only unreachable entries unused for at least this long, and
    /// build directories unused for that long (without it: every
    /// unreachable entry, and no build directory).
    pub older_than: Option<Duration>,
    /// Report what would be removed, remove nothing.
    pub dry_run: bool,
    /// The probe cache to collect too, with its own bounds (see
    /// [`kforge_probe_cache::gc`]).
    pub probe_cache: Option<PathBuf>,
}

/// What [`Store::gc`] did.
#[derive(Debug, Default)]
pub struct GcReport {
    /// Entries, temporary directories and build directories removed.
    pub removed: Vec<PathBuf>,
    /// Entries kept because a result link points at them.
    pub live: Vec<PathBuf>,
    /// Unreachable entries kept because they were used recently.
    pub recent: usize,
    /// Registrations of result links that no longer point into the store.
    pub stale_roots: usize,
    /// Bytes freed (or that would be).
    pub bytes: u64,
    /// What was removed from the probe cache (or would be).
    pub probes: kforge_probe_cache::GcReport,
}

impl GcReport {
    /// The one-line summary `kforge gc` prints.
    pub fn summary(&self, dry_run: bool) -> String {
        let verb = if dry_run { "would remove" } else { "removed" };
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        let p = &self.probes;
        format!(
            "kforge gc: {verb} {} ({:.1} MiB); kept {} reachable entries and {} recent unreachable ones; {} stale result links forgotten; probe cache: {verb} {} files ({:.1} MiB, {} of the old layout), kept {} ({:.1} MiB)",
            self.removed.len(),
            mib(self.bytes),
            self.live.len(),
            self.recent,
            self.stale_roots,
            p.removed_files,
            mib(p.removed_bytes),
            p.legacy_files,
            p.kept_files,
            mib(p.kept_bytes),
        )
    }
}

fn lock_file(path: &Path, on_wait: &mut dyn FnMut()) -> io::Result<(File, bool)> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    match f.try_lock() {
        Ok(()) => Ok((f, false)),
        Err(fs::TryLockError::WouldBlock) => {
            on_wait();
            f.lock()?;
            Ok((f, true))
        }
        Err(fs::TryLockError::Error(e)) => Err(e),
    }
}

/// Is the lock at `path` free right now? (Takes and drops it.)
fn lock_is_free(path: &Path) -> bool {
    match File::open(path) {
        Ok(f) => f.try_lock().is_ok(),
        Err(_) => true,
    }
}

fn touch(path: &Path) {
    if let Ok(f) = File::open(path) {
        let _ = f.set_modified(SystemTime::now());
    }
}

fn age(path: &Path) -> Option<Duration> {
    let m = fs::metadata(path).ok()?.modified().ok()?;
    SystemTime::now().duration_since(m).ok()
}

/// Bytes used by the files under `path` (not following symlinks).
pub(crate) fn disk_usage(path: &Path) -> u64 {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    fs::read_dir(path)
        .map(|rd| rd.flatten().map(|e| disk_usage(&e.path())).sum())
        .unwrap_or(0)
}

impl Store {
    /// A store under `root` (the cache root, see [`crate::default_cache_root`]).
    pub fn new(root: impl Into<PathBuf>) -> Store {
        Store { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/store`.
    pub fn store_dir(&self) -> PathBuf {
        self.root.join("store")
    }

    /// `<root>/gcroots`.
    pub fn gcroots_dir(&self) -> PathBuf {
        self.root.join("gcroots")
    }

    /// The path of the entry called `name`.
    pub fn entry_path(&self, name: &str) -> PathBuf {
        self.store_dir().join(name)
    }

    /// The entry called `name`, if it exists.
    pub fn existing(&self, name: &str) -> Option<PathBuf> {
        let p = self.entry_path(name);
        p.is_dir().then_some(p)
    }

    fn key_lock_path(&self, hash: &str) -> PathBuf {
        self.store_dir().join(".locks").join(format!("{hash}.lock"))
    }

    /// Take the lock of key `hash`, waiting for it if another process holds
    /// it (`on_wait` is called before waiting).
    pub fn lock_key(&self, hash: &str, on_wait: &mut dyn FnMut()) -> io::Result<KeyLock> {
        let (f, waited) = lock_file(&self.key_lock_path(hash), on_wait)?;
        Ok(KeyLock { _file: f, waited })
    }

    /// Start building entry `name` (key `hash`, whose lock the caller
    /// holds): remove what killed builds of this key left, and create an
    /// empty `store/.tmp-<hash>-<pid>`.
    pub fn begin(&self, _lock: &KeyLock, hash: &str, name: &str) -> io::Result<TempEntry> {
        let dir = self.store_dir();
        fs::create_dir_all(&dir)?;
        let prefix = format!(".tmp-{hash}-");
        for e in fs::read_dir(&dir)?.flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                fs::remove_dir_all(e.path())?;
            }
        }
        let path = dir.join(format!("{prefix}{}", std::process::id()));
        fs::create_dir(&path)?;
        Ok(TempEntry {
            path,
            dest: dir.join(name),
            committed: false,
        })
    }

    /// Record a use of an entry (its directory's modification time).
    pub fn touch_entry(&self, entry: &Path) {
        touch(entry);
    }

    /// Where `kforge test` keeps the boot test of entry `name` (initramfs,
    /// console log, result): `<root>/tests/<name>`; `gc` removes it with the
    /// entry.
    pub fn test_dir(&self, name: &str) -> PathBuf {
        self.root.join("tests").join(name)
    }

    /// The build directory for `key`: `<root>/build/<key>`.
    pub fn build_dir(&self, key: &str) -> PathBuf {
        self.root.join("build").join(key)
    }

    /// Lock a build directory (creating it), waiting for it if needed. Its
    /// lock file's modification time records the last use.
    pub fn lock_build_dir(
        &self,
        dir: &Path,
        on_wait: &mut dyn FnMut(),
    ) -> io::Result<BuildDirLock> {
        fs::create_dir_all(dir)?;
        let path = dir.join(".kforge.lock");
        let (file, waited) = lock_file(&path, on_wait)?;
        let _ = file.set_modified(SystemTime::now());
        Ok(BuildDirLock { file, waited })
    }

    /// Point the symlink `link` at `entry` (replacing a symlink already
    /// there, never anything else) and register it as a root.
    pub fn add_root(&self, entry: &Path, link: &Path) -> io::Result<PathBuf> {
        let link = absolute(link)?;
        if let Ok(m) = fs::symlink_metadata(&link) {
            if !m.file_type().is_symlink() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!(
                        "{} exists and is not a symlink; not replacing it (pass --out-link PATH)",
                        link.display()
                    ),
                ));
            }
        }
        let name = link.file_name().unwrap_or_default().to_string_lossy();
        let tmp = link.with_file_name(format!(".{name}.kforge-tmp.{}", std::process::id()));
        let _ = fs::remove_file(&tmp);
        std::os::unix::fs::symlink(entry, &tmp)?;
        if let Err(e) = fs::rename(&tmp, &link) {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        let roots = self.gcroots_dir();
        fs::create_dir_all(&roots)?;
        let id = sha256_hex(link.as_os_str().as_encoded_bytes())[..32].to_string();
        let root = roots.join(&id);
        let rtmp = roots.join(format!(".{id}.tmp.{}", std::process::id()));
        let _ = fs::remove_file(&rtmp);
        std::os::unix::fs::symlink(&link, &rtmp)?;
        fs::rename(&rtmp, &root)?;
        Ok(link)
    }

    /// The entries the registered result links point at; registrations
    /// whose link is gone or points elsewhere are removed (unless `dry_run`).
    fn live_entries(&self, dry_run: bool, report: &mut GcReport) -> Vec<PathBuf> {
        let store = fs::canonicalize(self.store_dir()).unwrap_or_else(|_| self.store_dir());
        let mut live = Vec::new();
        let Ok(rd) = fs::read_dir(self.gcroots_dir()) else {
            return live;
        };
        for e in rd.flatten() {
            let root = e.path();
            let target = fs::read_link(&root).ok().and_then(|link| {
                let t = fs::read_link(&link).ok()?;
                let t = if t.is_relative() {
                    link.parent()?.join(t)
                } else {
                    t
                };
                // A link into an entry (`result -> <entry>/kernel`) keeps
                // the whole entry.
                let t = fs::canonicalize(t).ok()?;
                let name = t.strip_prefix(&store).ok()?.components().next()?;
                Some(store.join(name))
            });
            match target {
                Some(t) => live.push(t),
                None => {
                    report.stale_roots += 1;
                    if !dry_run {
                        let _ = fs::remove_file(&root);
                    }
                }
            }
        }
        live
    }

    /// Remove what nothing needs: entries no registered result link points
    /// at (with `older_than`, only those unused for that long), temporary
    /// directories of builds that are not running, and (with `older_than`)
    /// build directories unused for that long. An entry or build directory
    /// whose lock is held is never removed. With
    /// [`GcOptions::probe_cache`], the probe cache is collected too.
    pub fn gc(&self, opts: &GcOptions) -> io::Result<GcReport> {
        let mut report = GcReport::default();
        let live = self.live_entries(opts.dry_run, &mut report);
        let store = self.store_dir();
        let old_enough = |p: &Path| match opts.older_than {
            None => true,
            Some(d) => age(p).is_some_and(|a| a >= d),
        };
        let remove = |p: PathBuf, report: &mut GcReport| -> io::Result<()> {
            report.bytes += disk_usage(&p);
            if !opts.dry_run {
                // Out of the entries' name space first, so a half-removed
                // entry is never seen.
                let name = p.file_name().unwrap_or_default().to_string_lossy();
                let gone = p.with_file_name(format!(".gc-{name}-{}", std::process::id()));
                fs::rename(&p, &gone)?;
                fs::remove_dir_all(&gone)?;
            }
            report.removed.push(p);
            Ok(())
        };
        if let Ok(rd) = fs::read_dir(&store) {
            let mut entries: Vec<_> = rd.flatten().map(|e| e.path()).collect();
            entries.sort();
            for p in entries {
                let name = p
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                if !p.is_dir() || name == ".locks" {
                    continue;
                }
                if let Some(rest) = name.strip_prefix(".tmp-") {
                    // .tmp-<hash>-<pid>: a build in progress holds the key.
                    let hash = rest.split('-').next().unwrap_or_default();
                    if lock_is_free(&self.key_lock_path(hash)) {
                        remove(p, &mut report)?;
                    }
                    continue;
                }
                if name.starts_with(".gc-") {
                    if !opts.dry_run {
                        fs::remove_dir_all(&p)?;
                    }
                    continue;
                }
                if name.starts_with('.') {
                    continue;
                }
                let canon = fs::canonicalize(&p).unwrap_or_else(|_| p.clone());
                if live.contains(&canon) {
                    report.live.push(p);
                    continue;
                }
                if !old_enough(&p) {
                    report.recent += 1;
                    continue;
                }
                let hash = name.split('-').next().unwrap_or_default();
                if lock_is_free(&self.key_lock_path(hash)) {
                    remove(p, &mut report)?;
                    if !opts.dry_run {
                        // The entry's boot test logs go with it.
                        let _ = fs::remove_dir_all(self.test_dir(&name));
                    }
                }
            }
        }
        if opts.older_than.is_some() {
            if let Ok(rd) = fs::read_dir(self.root.join("build")) {
                for e in rd.flatten() {
                    let p = e.path();
                    let lock = p.join(".kforge.lock");
                    if p.is_dir() && old_enough(&lock) && lock_is_free(&lock) {
                        remove(p, &mut report)?;
                    }
                }
            }
        }
        if let Some(dir) = &opts.probe_cache {
            let probe_opts = kforge_probe_cache::GcOptions {
                dry_run: opts.dry_run,
                ..Default::default()
            };
            report.probes = kforge_probe_cache::gc(dir, &probe_opts)?;
        }
        Ok(report)
    }
}

/// `path` made absolute against the current directory, its parent
/// canonicalised (the link itself may not exist yet).
fn absolute(path: &Path) -> io::Result<PathBuf> {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()?.join(path)
    };
    let (Some(parent), Some(name)) = (abs.parent(), abs.file_name()) else {
        return Ok(abs);
    };
    Ok(fs::canonicalize(parent)?.join(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_text_and_hash() {
        let mut k = KeyInputs::new();
        k.add("a", "1\n2");
        k.add("b", "x");
        assert_eq!(k.text(), "a=1\\n2\nb=x\n");
        assert_eq!(k.hash().len(), 32);
        let mut k2 = KeyInputs::new();
        k2.add("a", "1\n2");
        k2.add("b", "y");
        assert_ne!(k.hash(), k2.hash());
        assert_eq!(entry_name("ab", "6.1.0", "x86/64"), "ab-linux-6.1.0-x86_64");
    }

    #[test]
    fn temp_entries_commit_or_vanish() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::new(d.path());
        let lock = s.lock_key("k1", &mut || {}).unwrap();
        // A killed build's leftovers are removed by the next build of the key.
        fs::create_dir_all(s.store_dir().join(".tmp-k1-1")).unwrap();
        let t = s.begin(&lock, "k1", "k1-linux-6.1-x86_64").unwrap();
        assert!(!s.store_dir().join(".tmp-k1-1").exists());
        fs::write(t.path().join("f"), "x").unwrap();
        let tmp = t.path().to_path_buf();
        drop(t);
        assert!(!tmp.exists());
        assert!(s.existing("k1-linux-6.1-x86_64").is_none());
        let t = s.begin(&lock, "k1", "k1-linux-6.1-x86_64").unwrap();
        let e = t.commit().unwrap();
        assert_eq!(s.existing("k1-linux-6.1-x86_64"), Some(e));
    }

    #[test]
    fn gc_keeps_what_links_reach() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::new(d.path().join("cache"));
        let mk = |h: &str| {
            let lock = s.lock_key(h, &mut || {}).unwrap();
            s.begin(&lock, h, &format!("{h}-linux-6.1-x86_64"))
                .unwrap()
                .commit()
                .unwrap()
        };
        let a = mk("aaaa");
        let b = mk("bbbb");
        let c = mk("cccc");
        let la = d.path().join("result-a");
        s.add_root(&a, &la).unwrap();
        let lb = d.path().join("result-b");
        s.add_root(&b, &lb).unwrap();
        // Repointing a link frees what it pointed at before.
        s.add_root(&c, &lb).unwrap();
        // A deleted link frees its entry.
        let lc = d.path().join("result-c");
        s.add_root(&c, &lc).unwrap();
        fs::remove_file(&lc).unwrap();
        // A temporary directory of a killed build.
        fs::create_dir_all(s.store_dir().join(".tmp-dddd-42")).unwrap();
        let r = s
            .gc(&GcOptions {
                older_than: Some(Duration::from_secs(3600)),
                ..GcOptions::default()
            })
            .unwrap();
        // Nothing unreachable is old enough; the temporary directory goes.
        assert_eq!(r.recent, 1);
        assert_eq!(r.stale_roots, 1);
        assert!(b.exists());
        assert!(!s.store_dir().join(".tmp-dddd-42").exists());
        let r = s.gc(&GcOptions::default()).unwrap();
        assert_eq!(r.removed, vec![b.clone()]);
        assert!(a.exists() && !b.exists() && c.exists());
        assert_eq!(r.live.len(), 2);
        // A held lock protects an entry.
        fs::remove_file(&la).unwrap();
        let _held = s.lock_key("aaaa", &mut || {}).unwrap();
        let r = s.gc(&GcOptions::default()).unwrap();
        assert!(r.removed.is_empty() && a.exists());
    }

    /// A result link repointed by the user into the entry (`result ->
    /// <entry>/kernel`) still keeps the whole entry.
    #[test]
    fn a_link_into_an_entry_keeps_the_entry() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::new(d.path().join("cache"));
        let lock = s.lock_key("eeee", &mut || {}).unwrap();
        let t = s.begin(&lock, "eeee", "eeee-linux-6.1-x86_64").unwrap();
        fs::create_dir(t.path().join("kernel")).unwrap();
        let e = t.commit().unwrap();
        drop(lock);
        let link = d.path().join("result");
        s.add_root(&e, &link).unwrap();
        fs::remove_file(&link).unwrap();
        std::os::unix::fs::symlink(e.join("kernel"), &link).unwrap();
        let r = s.gc(&GcOptions::default()).unwrap();
        assert!(r.removed.is_empty(), "{:?}", r.removed);
        assert_eq!(r.stale_roots, 0);
        assert!(e.join("kernel").is_dir());
    }

    #[test]
    fn gc_collects_the_probe_cache_too() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::new(d.path().join("cache"));
        let probes = d.path().join("probes");
        fs::create_dir_all(&probes).unwrap();
        // An entry of the old one-file-per-probe layout.
        let legacy = probes.join("0".repeat(64));
        fs::write(&legacy, vec![1u8; 1000]).unwrap();
        let opts = GcOptions {
            dry_run: true,
            probe_cache: Some(probes.clone()),
            ..GcOptions::default()
        };
        let r = s.gc(&opts).unwrap();
        assert_eq!((r.probes.removed_files, r.probes.removed_bytes), (1, 1000));
        assert!(legacy.exists());
        assert!(r
            .summary(true)
            .contains("probe cache: would remove 1 files"));
        let r = s
            .gc(&GcOptions {
                dry_run: false,
                ..opts.clone()
            })
            .unwrap();
        assert_eq!(r.probes.legacy_files, 1);
        assert!(!legacy.exists());
        assert!(r.summary(false).contains("probe cache: removed 1 files"));
        // A probe cache that cannot be listed is an error.
        let bad = d.path().join("not-a-dir");
        fs::write(&bad, "x").unwrap();
        let err = s.gc(&GcOptions {
            probe_cache: Some(bad),
            ..GcOptions::default()
        });
        assert!(err.is_err());
    }

    #[test]
    fn a_real_file_is_not_replaced_by_a_link() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::new(d.path().join("cache"));
        let f = d.path().join("result");
        fs::write(&f, "mine").unwrap();
        assert!(s.add_root(d.path(), &f).is_err());
        assert_eq!(fs::read_to_string(&f).unwrap(), "mine");
    }
}
