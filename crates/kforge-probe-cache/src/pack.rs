//! Pack files: the records of one group (one toolchain environment), in
//! one append-only file.
//!
//! A record is `RECORD_MAGIC`, the 32-byte key, the output's length (u32,
//! little endian), the output, and a SHA-256 of everything before it in the
//! record. Records are appended with one `write` on a file opened with
//! `O_APPEND`, so writers in several processes never interleave. Reading
//! stops at the first record that does not check out (a torn write, a
//! foreign file): everything before it is used, and the pack is rewritten
//! without the damage.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

/// The start of every record.
const RECORD_MAGIC: &[u8; 4] = b"kfp2";
const KEY_LEN: usize = 32;
const SUM_LEN: usize = 32;
/// Magic, key and length.
const HEADER_LEN: usize = RECORD_MAGIC.len() + KEY_LEN + 4;

/// A pack larger than this is compacted when loaded: duplicates dropped,
/// then the oldest records until it is under half of this.
pub const PACK_LIMIT: u64 = 1 << 20;
/// A pack with more duplicate records than this is compacted when loaded.
const MAX_DUPLICATES: usize = 64;
/// A used pack's modification time is refreshed when older than this, so
/// `kforge gc` sees it as in use.
const TOUCH_AFTER: Duration = Duration::from_secs(24 * 3600);

/// A record key.
pub type Key = [u8; KEY_LEN];

/// One pack, loaded.
#[derive(Debug)]
pub struct Pack {
    path: PathBuf,
    map: HashMap<Key, Vec<u8>>,
    /// Open for appending once something was written.
    file: Option<fs::File>,
}

/// What reading a pack's bytes found.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    /// Valid records in file order (later duplicates included).
    pub records: Vec<(Key, Vec<u8>)>,
    /// Bytes after the last valid record.
    pub bad_tail: bool,
}

/// One record's bytes.
pub(crate) fn encode(key: &Key, output: &[u8]) -> Vec<u8> {
    let len = u32::try_from(output.len()).unwrap_or(u32::MAX) as usize;
    let output = &output[..len.min(output.len())];
    let mut rec = Vec::with_capacity(HEADER_LEN + output.len() + SUM_LEN);
    rec.extend_from_slice(RECORD_MAGIC);
    rec.extend_from_slice(key);
    rec.extend_from_slice(&(output.len() as u32).to_le_bytes());
    rec.extend_from_slice(output);
    let sum = Sha256::digest(&rec);
    rec.extend_from_slice(&sum);
    rec
}

/// Read records until the end or the first damaged one.
pub(crate) fn parse(data: &[u8]) -> Parsed {
    let mut out = Parsed::default();
    let mut rest = data;
    while !rest.is_empty() {
        match parse_one(rest) {
            Some((key, output, used)) => {
                out.records.push((key, output.to_vec()));
                rest = &rest[used..];
            }
            None => {
                out.bad_tail = true;
                break;
            }
        }
    }
    out
}

fn parse_one(data: &[u8]) -> Option<(Key, &[u8], usize)> {
    let rest = data.strip_prefix(RECORD_MAGIC)?;
    let (key, rest) = rest.split_first_chunk::<KEY_LEN>()?;
    let (len, rest) = rest.split_first_chunk::<4>()?;
    let len = u32::from_le_bytes(*len) as usize;
    if rest.len() < len.checked_add(SUM_LEN)? {
        return None;
    }
    let (output, rest) = rest.split_at(len);
    let body = HEADER_LEN + len;
    if Sha256::digest(&data[..body]).as_slice() != &rest[..SUM_LEN] {
        return None;
    }
    Some((*key, output, body + SUM_LEN))
}

impl Pack {
    /// Load the pack at `path` (a missing or unreadable file is an empty
    /// pack), compacting it if it is damaged, has many duplicates or is too
    /// large, and refreshing its modification time if it is old.
    pub fn load(path: PathBuf) -> Pack {
        let data = fs::read(&path).unwrap_or_default();
        let parsed = parse(&data);
        let total = parsed.records.len();
        let mut map = HashMap::with_capacity(total);
        for (k, v) in &parsed.records {
            map.insert(*k, v.clone());
        }
        let duplicates = total - map.len();
        let mut pack = Pack {
            path,
            map,
            file: None,
        };
        if parsed.bad_tail || duplicates > MAX_DUPLICATES || data.len() as u64 > PACK_LIMIT {
            pack.compact(parsed.records);
        } else if !data.is_empty() {
            touch_if_old(&pack.path);
        }
        pack
    }

    /// The output stored for `key`.
    pub fn get(&self, key: &Key) -> Option<&[u8]> {
        self.map.get(key).map(Vec::as_slice)
    }

    /// Remember `output` under `key`, and append it to the file (failures
    /// leave the file without it).
    pub fn insert(&mut self, key: Key, output: Vec<u8>) {
        let rec = encode(&key, &output);
        self.map.insert(key, output);
        if self.file.is_none() {
            self.file = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .ok();
        }
        if let Some(f) = &mut self.file {
            // One write: appends of several processes never interleave.
            if f.write_all(&rec).is_err() {
                self.file = None;
            }
        }
    }

    /// Rewrite the file with the last record of each key, dropping the
    /// oldest ones while over half of [`PACK_LIMIT`].
    fn compact(&mut self, records: Vec<(Key, Vec<u8>)>) {
        // Keep the last occurrence of each key, in order of last write.
        let mut last: HashMap<Key, usize> = HashMap::new();
        for (i, (k, _)) in records.iter().enumerate() {
            last.insert(*k, i);
        }
        let mut kept: Vec<Vec<u8>> = records
            .iter()
            .enumerate()
            .filter(|(i, (k, _))| last.get(k) == Some(i))
            .map(|(_, (k, v))| encode(k, v))
            .collect();
        let mut size: u64 = kept.iter().map(|r| r.len() as u64).sum();
        let mut drop = 0;
        while size > PACK_LIMIT / 2 && drop < kept.len() {
            size -= kept[drop].len() as u64;
            drop += 1;
        }
        for rec in kept.drain(..drop) {
            if let Some((k, _, _)) = parse_one(&rec) {
                self.map.remove(&k);
            }
        }
        self.file = None;
        let _ = kforge_fs::write_atomic(&self.path, kept.concat());
    }
}

/// Set a file's modification time to now if it is older than a day.
fn touch_if_old(path: &Path) {
    let old = fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_some_and(|age| age > TOUCH_AFTER);
    if old {
        let _ = set_mtime_now(path);
    }
}

fn set_mtime_now(path: &Path) -> io::Result<()> {
    fs::OpenOptions::new()
        .append(true)
        .open(path)?
        .set_modified(SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> Key {
        [n; KEY_LEN]
    }

    #[test]
    fn records_round_trip_and_damage_stops_reading() {
        let mut data = encode(&key(1), b"one");
        data.extend(encode(&key(2), b""));
        let p = parse(&data);
        assert!(!p.bad_tail);
        assert_eq!(
            p.records,
            vec![(key(1), b"one".to_vec()), (key(2), Vec::new())]
        );
        // Every truncation keeps the records before the cut.
        for cut in 0..data.len() {
            let p = parse(&data[..cut]);
            assert_eq!(p.bad_tail, cut != 0 && cut != encode(&key(1), b"one").len());
            assert!(p.records.len() <= 1);
        }
        // A flipped byte anywhere in a record drops it and what follows.
        for i in 0..data.len() {
            let mut bad = data.clone();
            bad[i] ^= 0x40;
            let p = parse(&bad);
            assert!(p.bad_tail);
            assert!(p.records.len() < 2);
        }
        // A length pointing past the end is no panic.
        let mut huge = encode(&key(3), b"x");
        huge[RECORD_MAGIC.len() + KEY_LEN..HEADER_LEN].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(parse(&huge).bad_tail);
    }

    #[test]
    fn compaction_of_duplicates_and_size() {
        let dir = std::env::temp_dir().join(format!("probe-pack-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("p.pack");
        let mut data = Vec::new();
        for _ in 0..(MAX_DUPLICATES + 2) {
            data.extend(encode(&key(7), b"same"));
        }
        fs::write(&path, &data).unwrap();
        let pack = Pack::load(path.clone());
        assert_eq!(pack.get(&key(7)), Some(&b"same"[..]));
        assert_eq!(fs::read(&path).unwrap(), encode(&key(7), b"same"));

        // Over the size limit: the oldest records go, the newest stay.
        let big = vec![b'x'; 4000];
        let mut data = Vec::new();
        let n = (PACK_LIMIT / 4000 + 10) as u32;
        let k = |i: u32| {
            let mut k = [0u8; KEY_LEN];
            k[..4].copy_from_slice(&i.to_le_bytes());
            k
        };
        for i in 0..n {
            data.extend(encode(&k(i), &big));
        }
        fs::write(&path, &data).unwrap();
        let pack = Pack::load(path.clone());
        let size = fs::metadata(&path).unwrap().len();
        assert!(size <= PACK_LIMIT / 2, "{size}");
        assert!(pack.get(&k(0)).is_none());
        assert!(pack.get(&k(n - 1)).is_some());
        assert_eq!(
            parse(&fs::read(&path).unwrap()).records.len(),
            pack.map.len()
        );
        let _ = fs::remove_dir_all(&dir);
    }
}
