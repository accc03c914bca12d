//! Collecting the probe cache: what `kforge gc` removes from it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::{HISTORY_DIR, PACK_DIR, TREE_DIR};

/// What [`gc`] removes.
#[derive(Debug, Clone)]
pub struct GcOptions {
    /// Packs and histories not used for this long go.
    pub max_age: Duration,
    /// Then the least recently used packs, histories and trees go while the
    /// cache holds more than this many bytes.
    pub max_bytes: u64,
    /// Count what would go, remove nothing.
    pub dry_run: bool,
}

impl Default for GcOptions {
    /// 30 days, 64 MiB, for real.
    fn default() -> Self {
        GcOptions {
            max_age: Duration::from_secs(30 * 24 * 3600),
            max_bytes: 64 << 20,
            dry_run: false,
        }
    }
}

/// What [`gc`] removed (or would have).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GcReport {
    /// Files removed.
    pub removed_files: u64,
    /// Their size in bytes.
    pub removed_bytes: u64,
    /// Of them, entries of the old one-file-per-probe layout.
    pub legacy_files: u64,
    /// Files left.
    pub kept_files: u64,
    /// Their size in bytes.
    pub kept_bytes: u64,
}

/// A file of the cache, candidate for removal.
struct Item {
    path: PathBuf,
    bytes: u64,
    mtime: SystemTime,
}

/// Collect the probe cache in `dir` (see [`GcOptions`]): every entry of
/// the old one-file-per-probe layout and every leftover temporary file
/// older than an hour, the packs, histories and parsed trees unused for
/// [`GcOptions::max_age`], then the least recently used ones while the
/// rest exceeds [`GcOptions::max_bytes`]. A missing `dir` is an empty
/// cache. Errors: `dir` (or its `packs`/`history`) exists but cannot be
/// listed, or a file cannot be removed.
pub fn gc(dir: &Path, opts: &GcOptions) -> io::Result<GcReport> {
    let mut report = GcReport::default();
    let now = SystemTime::now();
    let age = |t: SystemTime| now.duration_since(t).unwrap_or_default();
    let remove = |item: &Item, report: &mut GcReport| -> io::Result<()> {
        if !opts.dry_run {
            match fs::remove_file(&item.path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        report.removed_files += 1;
        report.removed_bytes += item.bytes;
        Ok(())
    };

    // The top level: the old layout's entries and temporary files.
    for item in list(dir)? {
        let name = item.path.file_name().unwrap_or_default().to_string_lossy();
        let legacy = name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit());
        let stale_tmp = name.starts_with('.') && age(item.mtime) > Duration::from_secs(3600);
        if legacy || stale_tmp {
            remove(&item, &mut report)?;
            report.legacy_files += u64::from(legacy);
        }
    }

    let mut live = Vec::new();
    for sub in [PACK_DIR, HISTORY_DIR, TREE_DIR] {
        for item in list(&dir.join(sub))? {
            let name = item.path.file_name().unwrap_or_default().to_string_lossy();
            if name.starts_with('.') {
                // a temporary file of an atomic write, left by a crash
                if age(item.mtime) > Duration::from_secs(3600) {
                    remove(&item, &mut report)?;
                }
                continue;
            }
            if age(item.mtime) > opts.max_age {
                remove(&item, &mut report)?;
            } else {
                live.push(item);
            }
        }
    }
    // Least recently used first.
    live.sort_by_key(|i| i.mtime);
    let mut total: u64 = live.iter().map(|i| i.bytes).sum();
    let mut kept = live.len() as u64;
    for item in &live {
        if total <= opts.max_bytes {
            break;
        }
        remove(item, &mut report)?;
        total -= item.bytes;
        kept -= 1;
    }
    report.kept_files = kept;
    report.kept_bytes = total;
    Ok(report)
}

/// The regular files directly in `dir` (none if it does not exist).
fn list(dir: &Path) -> io::Result<Vec<Item>> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry?;
        let Ok(meta) = entry.metadata() else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        out.push(Item {
            path: entry.path(),
            bytes: meta.len(),
            mtime: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("probe-gc-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn file(path: &Path, len: usize, age_days: u64) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, vec![0u8; len]).unwrap();
        let t = SystemTime::now() - Duration::from_secs(age_days * 86400 + 60);
        fs::File::options()
            .append(true)
            .open(path)
            .unwrap()
            .set_modified(t)
            .unwrap();
    }

    #[test]
    fn dry_run_counts_and_real_run_removes() {
        let d = scratch("run");
        let legacy = d.join("ab".repeat(32));
        file(&legacy, 100, 0);
        file(&d.join(".x.tmp"), 7, 1);
        file(&d.join(".fresh.tmp"), 7, 0);
        file(&d.join(PACK_DIR).join("old.pack"), 1000, 40);
        file(&d.join(PACK_DIR).join("new.pack"), 2000, 1);
        file(&d.join(HISTORY_DIR).join("h-old"), 10, 31);
        file(&d.join(HISTORY_DIR).join("h-new"), 20, 0);
        file(&d.join(TREE_DIR).join("old.tree"), 3000, 31);
        file(&d.join(TREE_DIR).join("new.tree"), 4000, 0);
        file(&d.join(TREE_DIR).join(".new.tree.x.tmp"), 5, 1);
        let opts = GcOptions {
            dry_run: true,
            ..GcOptions::default()
        };
        let expect = GcReport {
            removed_files: 6,
            removed_bytes: 100 + 7 + 1000 + 10 + 3000 + 5,
            legacy_files: 1,
            kept_files: 3,
            kept_bytes: 6020,
        };
        assert_eq!(gc(&d, &opts).unwrap(), expect);
        assert!(legacy.exists() && d.join(PACK_DIR).join("old.pack").exists());
        assert_eq!(gc(&d, &GcOptions::default()).unwrap(), expect);
        assert!(!legacy.exists() && !d.join(PACK_DIR).join("old.pack").exists());
        assert!(d.join(".fresh.tmp").exists() && d.join(PACK_DIR).join("new.pack").exists());
        assert!(!d.join(TREE_DIR).join("old.tree").exists());
        assert!(d.join(TREE_DIR).join("new.tree").exists());
        // Nothing left to do.
        let again = gc(&d, &GcOptions::default()).unwrap();
        assert_eq!(again.removed_files, 0);
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn size_bound_removes_least_recently_used() {
        let d = scratch("size");
        for (i, age) in [5u64, 3, 1, 0].iter().enumerate() {
            file(&d.join(PACK_DIR).join(format!("{i}.pack")), 1000, *age);
        }
        let opts = GcOptions {
            max_bytes: 2500,
            ..GcOptions::default()
        };
        let r = gc(&d, &opts).unwrap();
        assert_eq!((r.removed_files, r.kept_files, r.kept_bytes), (2, 2, 2000));
        assert!(!d.join(PACK_DIR).join("0.pack").exists());
        assert!(!d.join(PACK_DIR).join("1.pack").exists());
        assert!(d.join(PACK_DIR).join("3.pack").exists());
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn missing_dir_is_empty_and_unlistable_dir_is_an_error() {
        let d = scratch("err");
        assert_eq!(
            gc(&d.join("nothing"), &GcOptions::default()).unwrap(),
            GcReport::default()
        );
        // `packs` is a file: it cannot be listed.
        fs::write(d.join(PACK_DIR), "x").unwrap();
        assert!(gc(&d, &GcOptions::default()).is_err());
        let _ = fs::remove_dir_all(&d);
    }
}
