//! The parsed-tree cache: a loaded Kconfig tree kept on disk
//! ([`kconfig_engine::snapshot`]), so a second load of an unchanged tree
//! skips preprocessing, lexing, parsing and finalisation.
//!
//! One entry per tree group (the caller's key: the tree, the architecture,
//! the toolchain's names), `trees/<hash>.tree` under the probe cache's
//! directory; a new load of the same group replaces it. The file name also
//! hashes the identity of the running program (path, size, times, inode),
//! so a rebuilt kforge never reads an older build's snapshots.
//!
//! An entry holds the engine's key, every Kconfig path the load tried with
//! what it found (absent, or the file's size, modification and change times
//! in nanoseconds, inode, device and SHA-256), the environment variables and
//! shell answers the load used, and the snapshot; a CRC-32 covers it all, so
//! a truncated or damaged file is a miss. A lookup trusts a file whose stat
//! data is unchanged, as git's index does, and hashes its content
//! otherwise; a file changed less than [`RACY_WINDOW`] before the entry was
//! written might change again within the same timestamp, so it is hashed on
//! every lookup until an entry is written after that window (a lookup that
//! had to hash rewrites the entry with fresh stat data). The environment and
//! the shell answers are checked by the engine
//! ([`kconfig_engine::Kconfig::load_cached`]), the shell answers through the
//! probe cache, so a changed compiler changes them.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kconfig_engine::snapshot::{CachedLoad, FileInput, FilesCheck, LoadInputs, ParseCache};
use sha2::{Digest, Sha256};

use crate::TREE_DIR;

const MAGIC: &[u8; 16] = b"kforge-tree v1\n\0";

/// A file modified this close to the writing of an entry is hashed on every
/// lookup (its timestamps could hide a second change).
pub const RACY_WINDOW: Duration = Duration::from_secs(2);

/// A file as an entry records it: its stat data and content hash, or
/// absent (it could not be read).
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileRecord {
    path: PathBuf,
    seen: Option<Seen>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    stat: [u64; 7],
    sha: [u8; 32],
    /// Always compare the content.
    racy: bool,
}

/// The parsed-tree store, a [`ParseCache`] for
/// [`kconfig_engine::Kconfig::load_cached`].
#[derive(Debug)]
pub struct TreeCache {
    /// The entry file, `None` without a usable directory (nothing cached).
    path: Option<PathBuf>,
}

/// The environment variables naming a toolchain and a tree: with the top
/// Kconfig file they make [`tree_group`].
pub const GROUP_VARS: &[&str] = &[
    "srctree",
    "ARCH",
    "SRCARCH",
    "CROSS_COMPILE",
    "LLVM",
    "CC",
    "LD",
    "RUSTC",
];

/// The tree group of a load of `kconfig` with the environment `env`: one
/// entry is kept per group (another value of a [`GROUP_VARS`] variable
/// gets its own entry instead of replacing this one).
pub fn tree_group(env: &dyn Fn(&str) -> Option<String>, kconfig: &str) -> String {
    let mut g = kconfig.to_string();
    for v in GROUP_VARS {
        g.push('\0');
        g.push_str(v);
        if let Some(x) = env(v) {
            g.push('=');
            g.push_str(&x);
        }
    }
    g
}

impl TreeCache {
    /// The entry of the tree group `group` in the cache directory `dir`
    /// (the probe cache's, [`crate::ProbeCache::default_dir`]).
    pub fn new(dir: &Path, group: &str) -> TreeCache {
        let mut h = Sha256::new();
        h.update(MAGIC);
        h.update((group.len() as u64).to_le_bytes());
        h.update(group.as_bytes());
        if let Some(id) = std::env::current_exe()
            .ok()
            .and_then(|p| crate::file_identity(&p))
        {
            h.update(&id);
        }
        let name = format!("{}.tree", hex::encode(h.finalize()));
        let tdir = dir.join(TREE_DIR);
        let path = fs::create_dir_all(&tdir).ok().map(|()| tdir.join(name));
        TreeCache { path }
    }

    /// The entry's file, when there is a usable directory.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }
}

impl ParseCache for TreeCache {
    fn fetch(&self, key: &str) -> Option<CachedLoad> {
        let path = self.path.clone()?;
        let bytes = fs::read(&path).ok()?;
        let entry = Entry::decode(bytes)?;
        if entry.key != key {
            return None;
        }
        // The 1,500 stat calls run while the engine decodes the snapshot.
        let mut files = entry.files;
        let now = SystemTime::now();
        let checking = std::thread::Builder::new()
            .name("tree-files".into())
            .spawn(move || {
                let refreshed = check_all(&mut files, now);
                (refreshed, files)
            })
            .ok()?;
        let key = key.to_string();
        let files_check = FilesCheck::pending(move || {
            let Ok((Some(refreshed), files)) = checking.join() else {
                return false;
            };
            if refreshed {
                // Stat data changed, contents did not: record the new
                // stat data so the next load need not read those files.
                // Only into the same entry: another process may have
                // stored one with other contents since.
                let same = |stored: &Entry| {
                    stored.key == key
                        && stored.files.len() == files.len()
                        && stored.files.iter().zip(&files).all(|(a, b)| {
                            a.path == b.path
                                && a.seen.as_ref().map(|s| s.sha) == b.seen.as_ref().map(|s| s.sha)
                        })
                };
                if let Some(mut stored) = fs::read(&path).ok().and_then(Entry::decode).filter(same)
                {
                    stored.files = files;
                    let _ = kforge_fs::write_atomic(&path, stored.encode());
                }
            }
            // Refresh the time gc judges use by, at most once a day.
            touch_daily(&path);
            true
        });
        Some(CachedLoad {
            env: entry.env,
            shell: entry.shell,
            bytes: entry.bytes,
            snapshot: entry.snapshot,
            files_check,
        })
    }

    fn store(&self, key: &str, inputs: &LoadInputs, snapshot: &[u8]) {
        let Some(path) = &self.path else {
            return;
        };
        let now = SystemTime::now();
        let files = inputs.files.iter().map(|f| record(f, now)).collect();
        let entry = Entry {
            key: key.to_string(),
            files,
            env: inputs.env.clone(),
            shell: inputs.shell.clone(),
            bytes: snapshot.to_vec(),
            snapshot: 0..snapshot.len(),
        };
        let _ = kforge_fs::write_atomic(path, entry.encode());
    }
}

/// [`check`] every file, on every core (some 1,500 `stat` calls for a
/// kernel tree): `None` when one changed, else whether one was refreshed.
fn check_all(files: &mut [FileRecord], now: SystemTime) -> Option<bool> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = files.len().div_ceil(threads).max(256);
    let check_chunk = |files: &mut [FileRecord]| -> Option<bool> {
        let mut refreshed = false;
        let mut missing = MissingDirs::default();
        for f in files {
            if f.seen.is_none() && missing.covers(&f.path) {
                continue;
            }
            match check(f, now)? {
                Check::Same => {}
                Check::Refreshed => refreshed = true,
            }
        }
        Some(refreshed)
    };
    if files.len() <= chunk {
        return check_chunk(files);
    }
    std::thread::scope(|scope| {
        let mut chunks = files.chunks_mut(chunk);
        let first = chunks.next().unwrap_or_default();
        let others: Vec<_> = chunks.map(|c| scope.spawn(|| check_chunk(c))).collect();
        let mut refreshed = check_chunk(first);
        for h in others {
            let r = h.join().unwrap_or(None);
            refreshed = match (refreshed, r) {
                (Some(a), Some(b)) => Some(a || b),
                _ => None,
            };
        }
        refreshed
    })
}

enum Check {
    Same,
    Refreshed,
}

/// Directories found missing during one lookup: every path under one is
/// missing too. A `source` is tried in the working directory before
/// `$srctree`, so an out-of-tree build records some 1,500 missing paths
/// under a handful of missing top directories (`arch`, `drivers`, ...).
#[derive(Default)]
struct MissingDirs(std::collections::HashMap<PathBuf, bool>);

impl MissingDirs {
    /// Whether `path` is under a directory known missing, or (finding it
    /// out) under a missing first component of a relative path.
    fn covers(&mut self, path: &Path) -> bool {
        if path.is_absolute() {
            return false;
        }
        let mut comps = path.components();
        let Some(first) = comps.next() else {
            return false;
        };
        if comps.next().is_none() {
            return false;
        }
        let first = PathBuf::from(first.as_os_str());
        *self.0.entry(first).or_insert_with_key(|first| {
            matches!(
                fs::symlink_metadata(first),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound
            )
        })
    }
}

/// Whether `f` still reads as recorded (`None`: it does not). A hashed
/// file's record is updated to its current stat data.
fn check(f: &mut FileRecord, now: SystemTime) -> Option<Check> {
    let meta = fs::metadata(&f.path);
    let Some(seen) = &mut f.seen else {
        // Absent: still nothing a read could open (a directory fails too).
        return match meta {
            Err(_) => Some(Check::Same),
            Ok(m) if m.is_dir() => Some(Check::Same),
            Ok(_) => None,
        };
    };
    let meta = meta.ok()?;
    if !meta.is_file() {
        return None;
    }
    if !seen.racy && stat_of(&meta) == seen.stat {
        return Some(Check::Same);
    }
    let (stat, content) = stable_read(&f.path)?;
    if Sha256::digest(&content)[..] != seen.sha[..] {
        return None;
    }
    let racy = is_racy(&stat, now);
    if seen.stat == stat && seen.racy == racy {
        return Some(Check::Same);
    }
    seen.stat = stat;
    seen.racy = racy;
    Some(Check::Refreshed)
}

/// The record of what the load found at a path.
fn record(f: &FileInput, now: SystemTime) -> FileRecord {
    let seen = f.content.as_ref().map(|content| {
        let sha: [u8; 32] = Sha256::digest(content).into();
        // The stat data describes what was parsed only if the file holds
        // the same bytes around a stat that did not move; otherwise the
        // record is racy (always hashed).
        match stable_read(&f.path) {
            Some((stat, now_content)) if &now_content == content => Seen {
                racy: is_racy(&stat, now),
                stat,
                sha,
            },
            _ => Seen {
                stat: [0; 7],
                sha,
                racy: true,
            },
        }
    });
    FileRecord {
        path: f.path.clone(),
        seen,
    }
}

/// The content of `path` with stat data taken before and after the read,
/// when they agree.
fn stable_read(path: &Path) -> Option<([u64; 7], Vec<u8>)> {
    let before = stat_of(&fs::metadata(path).ok()?);
    let content = fs::read(path).ok()?;
    let after = stat_of(&fs::metadata(path).ok()?);
    (before == after).then_some((before, content))
}

/// Size, modification and change times (ns), inode, device.
fn stat_of(m: &fs::Metadata) -> [u64; 7] {
    use std::os::unix::fs::MetadataExt;
    [
        m.len(),
        m.mtime() as u64,
        m.mtime_nsec() as u64,
        m.ctime() as u64,
        m.ctime_nsec() as u64,
        m.ino(),
        m.dev(),
    ]
}

/// Changed within [`RACY_WINDOW`] of `now` (or in its future).
fn is_racy(stat: &[u64; 7], now: SystemTime) -> bool {
    let now = now
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .saturating_sub(RACY_WINDOW);
    let t = |s: u64, ns: u64| Duration::new(s, ns.min(999_999_999) as u32);
    t(stat[1], stat[2]) >= now || t(stat[3], stat[4]) >= now
}

/// Set the entry's modification time to now if it is older than a day.
fn touch_daily(path: &Path) {
    let Ok(meta) = fs::metadata(path) else {
        return;
    };
    let old = meta
        .modified()
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age > Duration::from_secs(86400));
    if old {
        if let Ok(f) = fs::File::options().append(true).open(path) {
            let _ = f.set_modified(SystemTime::now());
        }
    }
}

/// An entry file's content.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    key: String,
    files: Vec<FileRecord>,
    env: Vec<(String, Option<String>)>,
    shell: Vec<(String, String)>,
    /// Bytes holding the snapshot at `snapshot` (the whole file as read,
    /// so a lookup does not copy 6 MB out of it).
    bytes: Vec<u8>,
    snapshot: std::ops::Range<usize>,
}

impl Entry {
    /// MAGIC, CRC-32 of the rest, the rest's length, the header, the
    /// snapshot last.
    fn encode(&self) -> Vec<u8> {
        let snapshot = &self.bytes[self.snapshot.clone()];
        let mut b = Vec::with_capacity(snapshot.len() + 256 * 1024);
        put(&mut b, self.key.as_bytes());
        put_u32(&mut b, self.files.len());
        for f in &self.files {
            put(&mut b, f.path.as_os_str().as_encoded_bytes());
            match &f.seen {
                None => b.push(0),
                Some(s) => {
                    b.push(if s.racy { 2 } else { 1 });
                    for n in s.stat {
                        b.extend_from_slice(&n.to_le_bytes());
                    }
                    b.extend_from_slice(&s.sha);
                }
            }
        }
        put_u32(&mut b, self.env.len());
        for (k, v) in &self.env {
            put(&mut b, k.as_bytes());
            match v {
                None => b.push(0),
                Some(v) => {
                    b.push(1);
                    put(&mut b, v.as_bytes());
                }
            }
        }
        put_u32(&mut b, self.shell.len());
        for (c, v) in &self.shell {
            put(&mut b, c.as_bytes());
            put(&mut b, v.as_bytes());
        }
        b.extend_from_slice(snapshot);
        let mut out = Vec::with_capacity(b.len() + 32);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&crc32fast::hash(&b).to_le_bytes());
        out.extend_from_slice(&(b.len() as u64).to_le_bytes());
        out.extend_from_slice(&b);
        out
    }

    /// The entry in `bytes`, or `None` when they are not a whole, intact one.
    fn decode(bytes: Vec<u8>) -> Option<Entry> {
        let head = MAGIC.len() + 12;
        if bytes.len() < head || &bytes[..MAGIC.len()] != MAGIC {
            return None;
        }
        let crc = u32::from_le_bytes(bytes[16..20].try_into().ok()?);
        let len = u64::from_le_bytes(bytes[20..28].try_into().ok()?);
        let body = &bytes[head..];
        if body.len() as u64 != len || crc32fast::hash(body) != crc {
            return None;
        }
        let mut r = Cursor { b: body, pos: 0 };
        let key = r.string()?;
        let n = r.count()?;
        let mut files = Vec::with_capacity(n);
        for _ in 0..n {
            let path = PathBuf::from(r.os_string()?);
            let seen = match r.u8()? {
                0 => None,
                tag @ (1 | 2) => {
                    let mut stat = [0u64; 7];
                    for s in &mut stat {
                        *s = u64::from_le_bytes(r.take(8)?.try_into().ok()?);
                    }
                    let sha = r.take(32)?.try_into().ok()?;
                    Some(Seen {
                        stat,
                        sha,
                        racy: tag == 2,
                    })
                }
                _ => return None,
            };
            files.push(FileRecord { path, seen });
        }
        let n = r.count()?;
        let mut env = Vec::with_capacity(n);
        for _ in 0..n {
            let k = r.string()?;
            let v = match r.u8()? {
                0 => None,
                1 => Some(r.string()?),
                _ => return None,
            };
            env.push((k, v));
        }
        let n = r.count()?;
        let mut shell = Vec::with_capacity(n);
        for _ in 0..n {
            shell.push((r.string()?, r.string()?));
        }
        let at = head + r.pos;
        Some(Entry {
            key,
            files,
            env,
            shell,
            snapshot: at..bytes.len(),
            bytes,
        })
    }
}

fn put_u32(b: &mut Vec<u8>, n: usize) {
    b.extend_from_slice(&(n as u32).to_le_bytes());
}

fn put(b: &mut Vec<u8>, s: &[u8]) {
    put_u32(b, s.len());
    b.extend_from_slice(s);
}

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn count(&mut self) -> Option<usize> {
        let n = u32::from_le_bytes(self.take(4)?.try_into().ok()?) as usize;
        (n <= self.b.len() - self.pos).then_some(n)
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.count()?;
        self.take(n)
    }
    fn string(&mut self) -> Option<String> {
        String::from_utf8(self.bytes()?.to_vec()).ok()
    }
    fn os_string(&mut self) -> Option<std::ffi::OsString> {
        let b = self.bytes()?;
        use std::os::unix::ffi::OsStrExt;
        Some(std::ffi::OsStr::from_bytes(b).to_os_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `key` is found and its files hold.
    fn hit(c: &TreeCache, key: &str) -> bool {
        c.fetch(key).is_some_and(|l| l.files_check.holds())
    }

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("tree-cache-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn inputs(files: &[(&Path, Option<&[u8]>)]) -> LoadInputs {
        LoadInputs {
            files: files
                .iter()
                .map(|(p, c)| FileInput {
                    path: p.to_path_buf(),
                    content: c.map(<[u8]>::to_vec),
                })
                .collect(),
            env: vec![("CC".into(), Some("gcc".into())), ("LLVM".into(), None)],
            shell: vec![("gcc --version".into(), "gcc 12".into())],
        }
    }

    /// Make `path`'s times old enough not to be racy.
    fn age(path: &Path) {
        let t = SystemTime::now() - Duration::from_secs(60);
        fs::File::options()
            .append(true)
            .open(path)
            .unwrap()
            .set_modified(t)
            .unwrap();
    }

    #[test]
    fn entries_round_trip_and_damage_is_a_miss() {
        let d = scratch("roundtrip");
        let f = d.join("Kconfig");
        fs::write(&f, "config A\n").unwrap();
        let c = TreeCache::new(&d.join("cache"), "group");
        c.store(
            "key",
            &inputs(&[(&f, Some(b"config A\n")), (&d.join("no"), None)]),
            b"SNAP",
        );
        let got = c.fetch("key").unwrap();
        assert_eq!(&got.bytes[got.snapshot], b"SNAP");
        assert_eq!(got.env, inputs(&[]).env);
        assert_eq!(got.shell, inputs(&[]).shell);
        assert!(!hit(&c, "other key"));
        // Every truncation, and a flipped byte anywhere, is a miss.
        let whole = fs::read(c.path().unwrap()).unwrap();
        for n in 0..whole.len() {
            fs::write(c.path().unwrap(), &whole[..n]).unwrap();
            assert!(!hit(&c, "key"), "cut at {n}");
        }
        for i in 0..whole.len() {
            let mut b = whole.clone();
            b[i] ^= 0x20;
            fs::write(c.path().unwrap(), &b).unwrap();
            assert!(!hit(&c, "key"), "byte {i} flipped");
        }
        fs::write(c.path().unwrap(), &whole).unwrap();
        assert!(hit(&c, "key"));
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn a_changed_or_appearing_file_is_a_miss() {
        let d = scratch("files");
        let f = d.join("Kconfig");
        let absent = d.join("absent");
        fs::write(&f, "config A\n").unwrap();
        age(&f);
        let c = TreeCache::new(&d.join("cache"), "group");
        c.store(
            "k",
            &inputs(&[(&f, Some(b"config A\n")), (&absent, None)]),
            b"S",
        );
        assert!(hit(&c, "k"));
        // Same size, same modification time, other content.
        let mtime = fs::metadata(&f).unwrap().modified().unwrap();
        fs::write(&f, "config B\n").unwrap();
        fs::File::options()
            .append(true)
            .open(&f)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        assert!(!hit(&c, "k"));
        // Back to the content parsed: a hit again, whatever the times say,
        // and the entry now holds the file's new stat data.
        fs::write(&f, "config A\n").unwrap();
        age(&f);
        assert!(hit(&c, "k"));
        let stored = Entry::decode(fs::read(c.path().unwrap()).unwrap()).unwrap();
        let seen = stored.files[0].seen.as_ref().unwrap();
        assert_eq!(seen.stat, stat_of(&fs::metadata(&f).unwrap()));
        // A check finishing after another entry was stored leaves that one.
        fs::write(&f, "config Z\n").unwrap();
        age(&f);
        let pending = c.fetch("k").unwrap();
        c.store("k", &inputs(&[(&f, Some(b"config Z\n"))]), b"T");
        let theirs = fs::read(c.path().unwrap()).unwrap();
        assert!(!pending.files_check.holds(), "Z is not what was parsed");
        assert_eq!(fs::read(c.path().unwrap()).unwrap(), theirs);
        fs::write(&f, "config A\n").unwrap();
        age(&f);
        c.store(
            "k",
            &inputs(&[(&f, Some(b"config A\n")), (&absent, None)]),
            b"S",
        );
        let pending = c.fetch("k").unwrap();
        fs::File::options()
            .append(true)
            .open(&f)
            .unwrap()
            .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(7200))
            .unwrap();
        c.store("k", &inputs(&[(&f, Some(b"config Y\n"))]), b"U");
        let theirs = fs::read(c.path().unwrap()).unwrap();
        assert!(pending.files_check.holds(), "only the times changed");
        assert_eq!(
            fs::read(c.path().unwrap()).unwrap(),
            theirs,
            "a refresh went into another entry"
        );
        assert!(!hit(&c, "k"), "Y was recorded, A is on disk");
        c.store(
            "k",
            &inputs(&[(&f, Some(b"config A\n")), (&absent, None)]),
            b"S",
        );
        assert!(hit(&c, "k"));
        // An absent path that appears.
        fs::write(&absent, "config C\n").unwrap();
        assert!(!hit(&c, "k"));
        fs::remove_file(&absent).unwrap();
        fs::create_dir(&absent).unwrap();
        assert!(hit(&c, "k"), "a directory cannot be read either");
        // A file that is gone.
        fs::remove_file(&f).unwrap();
        assert!(!hit(&c, "k"));
        let _ = fs::remove_dir_all(&d);
    }

    /// A tree of more files than one thread checks: a change in any part,
    /// the first file's or the last's, is a miss.
    #[test]
    fn a_change_anywhere_in_a_large_tree_is_a_miss() {
        let d = scratch("large");
        let files: Vec<(PathBuf, Vec<u8>)> = (0..1200)
            .map(|i| {
                let p = d.join(format!("Kconfig.{i}"));
                let text = format!("config S{i}\n").into_bytes();
                fs::write(&p, &text).unwrap();
                age(&p);
                (p, text)
            })
            .collect();
        let recorded: Vec<(&Path, Option<&[u8]>)> = files
            .iter()
            .map(|(p, t)| (p.as_path(), Some(t.as_slice())))
            .collect();
        let c = TreeCache::new(&d.join("cache"), "group");
        c.store("k", &inputs(&recorded), b"S");
        assert!(hit(&c, "k"));
        for i in [0, 599, 600, 1199] {
            let (p, text) = &files[i];
            fs::write(p, format!("config T{i}\n")).unwrap();
            assert!(!hit(&c, "k"), "file {i} changed");
            fs::write(p, text).unwrap();
            assert!(hit(&c, "k"), "file {i} back");
        }
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn a_file_read_while_changing_is_hashed() {
        let d = scratch("racy");
        let f = d.join("Kconfig");
        fs::write(&f, "config A\n").unwrap();
        let c = TreeCache::new(&d.join("cache"), "group");
        // Freshly written: racy. The parse saw other bytes than the file
        // holds now: racy with the parsed bytes' hash, so a miss.
        c.store("k", &inputs(&[(&f, Some(b"config Z\n"))]), b"S");
        assert!(!hit(&c, "k"));
        c.store("k", &inputs(&[(&f, Some(b"config A\n"))]), b"S");
        let e = Entry::decode(fs::read(c.path().unwrap()).unwrap()).unwrap();
        assert!(e.files[0].seen.as_ref().unwrap().racy);
        // A change within the same timestamp is still seen.
        let times = fs::metadata(&f).unwrap().modified().unwrap();
        fs::write(&f, "config Q\n").unwrap();
        fs::File::options()
            .append(true)
            .open(&f)
            .unwrap()
            .set_modified(times)
            .unwrap();
        assert!(!hit(&c, "k"));
        // Once old, a hashed lookup refreshes the record.
        fs::write(&f, "config A\n").unwrap();
        age(&f);
        std::thread::sleep(Duration::from_millis(10));
        // ctime is still new: stays racy until the window has passed.
        assert!(hit(&c, "k"));
        let _ = fs::remove_dir_all(&d);
    }
}
