//! [`fetch`]: a local file holding a declared archive or patch, verified
//! against its hash, downloading it into the cache when it is a URL.

use std::fs::{self, OpenOptions};
use std::io::{self, IsTerminal, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::{Cache, SourceError};

/// Where a declared file is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A local file, used in place.
    Path(PathBuf),
    /// A URL (`http://` or `https://`), downloaded into the cache.
    Url(String),
}

impl std::fmt::Display for Location {
    /// The path or the URL.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Path(p) => write!(f, "{}", p.display()),
            Location::Url(u) => f.write_str(u),
        }
    }
}

/// Something to fetch: where it is, the hash it must have and what it is
/// (for messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetchable {
    /// The file or URL.
    pub location: Location,
    /// The declared SHA-256 (`sha256-<base64>` or `sha256:<nix-base32>`).
    /// Required for a URL; for a path, when absent, the file is only hashed.
    pub hash: Option<String>,
    /// What it is, for messages: "the source tarball", "patch `name`".
    pub what: String,
    /// Where it is declared (`kernel.toml:3:1`), for messages.
    pub origin: Option<String>,
}

/// Where a declared `url` is: a `file://` URL is the local path it names
/// (read in place like `tarball = "..."`), anything else a URL to
/// download.
fn url_location(url: &str) -> Location {
    match url.strip_prefix("file://") {
        Some(path) => Location::Path(PathBuf::from(path)),
        None => Location::Url(url.to_owned()),
    }
}

impl Fetchable {
    /// The tarball or URL of `[source]`; [`SourceError::NoSource`] when it
    /// names neither.
    pub fn from_source(source: &kforge_declaration::Source) -> Result<Fetchable, SourceError> {
        let origin = Some(source.origin.to_string());
        let location = match (&source.tarball, &source.url) {
            (Some(path), _) => Location::Path(path.clone()),
            (None, Some(url)) => url_location(url),
            (None, None) => return Err(SourceError::NoSource { origin }),
        };
        Ok(Fetchable {
            location,
            hash: source.hash.clone(),
            what: "the source tarball".into(),
            origin,
        })
    }

    /// The archive of an `[external.NAME]` declared with `tarball` or
    /// `url`; `None` for a `path`.
    pub fn from_external(external: &kforge_declaration::External) -> Option<Fetchable> {
        use kforge_declaration::ExternalSource;
        let (location, hash) = match &external.source {
            ExternalSource::Path(_) => return None,
            ExternalSource::Tarball { path, hash } => (Location::Path(path.clone()), hash.clone()),
            ExternalSource::Url { url, hash } => (url_location(url), Some(hash.clone())),
        };
        Some(Fetchable {
            location,
            hash,
            what: format!("the archive of external module `{}`", external.name),
            origin: Some(external.origin.to_string()),
        })
    }

    /// The file or URL of a `[[patches]]` entry.
    pub fn from_patch(patch: &kforge_declaration::Patch) -> Fetchable {
        let location = match (&patch.file, &patch.url) {
            (Some(path), _) => Location::Path(path.clone()),
            (None, Some(url)) => url_location(url),
            // The spec refuses a patch with neither; an empty path then
            // fails to open with a message naming the patch.
            (None, None) => Location::Path(PathBuf::new()),
        };
        Fetchable {
            location,
            hash: patch.hash.clone(),
            what: format!("patch `{}`", patch.name),
            origin: Some(patch.origin.to_string()),
        }
    }

    /// The declared digest, if any.
    fn digest(&self) -> Result<Option<[u8; 32]>, SourceError> {
        match &self.hash {
            None => Ok(None),
            Some(h) => kforge_declaration::sha256_digest(h)
                .map(Some)
                .ok_or_else(|| SourceError::InvalidHash {
                    origin: self.origin.clone(),
                    what: self.what.clone(),
                    hash: h.clone(),
                }),
        }
    }

    fn mismatch(&self, declared: &str, actual: &[u8; 32]) -> SourceError {
        SourceError::HashMismatch {
            origin: self.origin.clone(),
            what: self.what.clone(),
            location: self.location.to_string(),
            declared: declared.to_owned(),
            actual: kforge_declaration::sri(actual),
        }
    }
}

/// A local file with verified content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The file: the declared path itself, or the download in
    /// `downloads/<sha256-hex>` of the cache.
    pub path: PathBuf,
    /// Its SHA-256.
    pub sha256: [u8; 32],
}

/// The SHA-256 of a file's content.
pub fn sha256_file(path: &Path) -> Result<[u8; 32], SourceError> {
    hash_file(path, "a file to hash").map_err(SourceError::io(path, "read"))
}

fn hash_file(path: &Path, what: &str) -> io::Result<[u8; 32]> {
    let (mut f, _) = kforge_fs::open_regular(path, what)?;
    let mut h = Sha256::new();
    copy_hashing(&mut f, &mut h, &mut io::sink(), |_| {})?;
    Ok(h.finalize().into())
}

/// [`hash_file`], remembered in the cache's `hashes/` under the file's
/// path with what `stat` says of it (size, modification and change times,
/// inode, device): a local tarball of 140 MB is read once, not on every
/// command. Any change to the file changes its change time, which no
/// `touch` can set back, so a stale hash is never used. The memo is best
/// effort: one that cannot be written only costs the next hash.
fn hash_file_memo(cache: &Cache, path: &Path, what: &str) -> io::Result<[u8; 32]> {
    use std::os::unix::fs::MetadataExt;
    let stamp = |m: &fs::Metadata| {
        format!(
            "{} {}.{} {}.{} {} {}",
            m.len(),
            m.mtime(),
            m.mtime_nsec(),
            m.ctime(),
            m.ctime_nsec(),
            m.ino(),
            m.dev()
        )
    };
    let canonical = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let key = hex::encode(Sha256::digest(canonical.as_os_str().as_encoded_bytes()));
    let memo = cache.root().join("hashes").join(&key[..32]);
    let before = fs::metadata(path).map(|m| stamp(&m));
    if let (Ok(stamp), Ok(text)) = (&before, fs::read_to_string(&memo)) {
        if let Some((s, h)) = text.trim_end().rsplit_once(' ') {
            let mut out = [0u8; 32];
            if s == stamp && hex::decode_to_slice(h, &mut out).is_ok() {
                return Ok(out);
            }
        }
    }
    let hash = hash_file(path, what)?;
    // Remembered only when the file did not change while it was read.
    if let (Ok(b), Ok(a)) = (before, fs::metadata(path).map(|m| stamp(&m))) {
        if a == b {
            let _ = fs::create_dir_all(cache.root().join("hashes"));
            let _ =
                kforge_fs::write_atomic(&memo, format!("{a} {}\n", hex::encode(hash)).as_bytes());
        }
    }
    Ok(hash)
}

/// Copy `r` to `w`, feeding every byte to `h` and reporting each chunk's
/// size to `tick`. Returns the number of bytes copied.
fn copy_hashing(
    r: &mut impl Read,
    h: &mut Sha256,
    w: &mut impl Write,
    mut tick: impl FnMut(u64),
) -> io::Result<u64> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h.update(&buf[..n]);
        w.write_all(&buf[..n])?;
        total += n as u64;
        tick(n as u64);
    }
}

/// A local file holding `what`, verified against its declared hash.
///
/// A path is hashed in place (and must match the hash when one is
/// declared). A URL must have a hash; it is downloaded once into
/// `downloads/<sha256-hex>` of the cache, hashing while downloading, with a
/// progress bar on standard error when `progress` is set and standard
/// error is a terminal. An interrupted download is kept as
/// `downloads/<hex>.part` and resumed with an HTTP `Range` request next
/// time (from the start when the server does not support ranges). A
/// download whose hash does not match is deleted: nothing is kept. A lock
/// file (`locks/download-<hex>.lock`) lets concurrent processes download once.
/// A file already in `downloads/` is trusted (only verified files are
/// moved there).
pub fn fetch(cache: &Cache, what: &Fetchable, progress: bool) -> Result<Fetched, SourceError> {
    let digest = what.digest()?;
    match &what.location {
        Location::Path(path) => {
            let actual = hash_file_memo(cache, path, &what.what).map_err(|source| {
                SourceError::Unreadable {
                    origin: what.origin.clone(),
                    what: what.what.clone(),
                    path: path.clone(),
                    source,
                }
            })?;
            if let (Some(d), Some(h)) = (digest, &what.hash) {
                if d != actual {
                    return Err(what.mismatch(h, &actual));
                }
            }
            Ok(Fetched {
                path: path.clone(),
                sha256: actual,
            })
        }
        Location::Url(url) => {
            let Some(expected) = digest else {
                return Err(SourceError::MissingHash {
                    origin: what.origin.clone(),
                    what: what.what.clone(),
                    url: url.clone(),
                });
            };
            let path = download(cache, what, url, &expected, progress)?;
            Ok(Fetched {
                path,
                sha256: expected,
            })
        }
    }
}

/// Download `url` into `downloads/<hex of expected>` unless it is there.
fn download(
    cache: &Cache,
    what: &Fetchable,
    url: &str,
    expected: &[u8; 32],
    progress: bool,
) -> Result<PathBuf, SourceError> {
    let dir = cache.downloads_dir();
    let name = hex::encode(expected);
    let done = dir.join(&name);
    if done.is_file() {
        return Ok(done);
    }
    fs::create_dir_all(&dir).map_err(SourceError::io(&dir, "create the directory"))?;
    let lock_path = cache.locks_dir().join(format!("download-{name}.lock"));
    let _lock = crate::lock(&lock_path)?;
    if done.is_file() {
        // Another process finished it while we waited for the lock.
        return Ok(done);
    }
    let part_path = dir.join(format!("{name}.part"));
    download_part(what, url, Some(expected), progress, &part_path)?;
    fs::rename(&part_path, &done)
        .map_err(SourceError::io(&done, "move the download into place"))?;
    Ok(done)
}

/// A download whose hash is not known yet: what is downloaded is what is
/// locked. `what.hash` must be `None` for a URL (with a hash, use [`fetch`]).
///
/// A URL is downloaded into `downloads/url-<sha256 of the URL>.part`
/// (hashing while it downloads, with the same progress bar and the same
/// resuming of an interrupted download as [`fetch`], under the lock
/// `locks/download-url-<hex>.lock`) and then moved to
/// `downloads/<sha256-hex>` like a verified download, so that a later
/// [`fetch`] with the digest now known finds it there. It is always
/// downloaded: nothing in the cache can be trusted for a URL whose content
/// is unknown. A local path is only hashed, as [`fetch`] does without a
/// hash.
pub fn fetch_unverified(
    cache: &Cache,
    what: &Fetchable,
    progress: bool,
) -> Result<Fetched, SourceError> {
    let url = match (&what.location, &what.hash) {
        (Location::Url(url), None) => url,
        _ => return fetch(cache, what, progress),
    };
    let dir = cache.downloads_dir();
    fs::create_dir_all(&dir).map_err(SourceError::io(&dir, "create the directory"))?;
    let key = format!("url-{}", hex::encode(Sha256::digest(url.as_bytes())));
    let _lock = crate::lock(&cache.locks_dir().join(format!("download-{key}.lock")))?;
    let part_path = dir.join(format!("{key}.part"));
    let sha256 = download_part(what, url, None, progress, &part_path)?;
    let done = dir.join(hex::encode(sha256));
    if done.is_file() {
        // The same content, downloaded (and verified) before.
        let _ = fs::remove_file(&part_path);
    } else {
        fs::rename(&part_path, &done)
            .map_err(SourceError::io(&done, "move the download into place"))?;
    }
    Ok(Fetched { path: done, sha256 })
}

/// Download `url` into `part_path` (resuming what is there), the lock
/// held, and return the content's SHA-256. With `expected`, content with
/// another hash is deleted and refused. An empty partial download is
/// removed on failure (no use for resuming).
fn download_part(
    what: &Fetchable,
    url: &str,
    expected: Option<&[u8; 32]>,
    progress: bool,
    part_path: &Path,
) -> Result<[u8; 32], SourceError> {
    download_locked(what, url, expected, progress, part_path).inspect_err(|_| {
        if fs::metadata(part_path).is_ok_and(|m| m.len() == 0) {
            let _ = fs::remove_file(part_path);
        }
    })
}

/// The download itself, the lock held: into `part_path`, checked against
/// `expected` when given; returns the content's SHA-256.
fn download_locked(
    what: &Fetchable,
    url: &str,
    expected: Option<&[u8; 32]>,
    progress: bool,
    part_path: &Path,
) -> Result<[u8; 32], SourceError> {
    let mut part = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(part_path)
        .map_err(SourceError::io(part_path, "open the partial download"))?;
    // What is already there counts towards the hash.
    let mut h = Sha256::new();
    let mut have = copy_hashing(&mut part, &mut h, &mut io::sink(), |_| {})
        .map_err(SourceError::io(part_path, "read the partial download"))?;

    let agent = kforge_http::agent();
    let fail = |reason: String, kept: u64| SourceError::Download {
        origin: what.origin.clone(),
        what: what.what.clone(),
        url: url.to_owned(),
        reason,
        kept,
        part: part_path.to_path_buf(),
    };
    // A partial file is resumed only when the server can say it is still
    // the same file (`If-Range` with the validator of the response it came
    // from): a file that changed meanwhile is sent whole, not spliced. One
    // without a validator is resumed only when the hash is known, which
    // catches a splice (and then the download starts over, see below).
    let validator_path = validator_path(part_path);
    let validator = fs::read_to_string(&validator_path)
        .ok()
        .filter(|v| !v.is_empty() && v.len() < 1024 && !v.contains(['\r', '\n']));
    if have > 0 && validator.is_none() && expected.is_none() {
        part.set_len(0)
            .map_err(SourceError::io(part_path, "truncate the partial download"))?;
        h = Sha256::new();
        have = 0;
    }
    // Set when the body appended to a partial file of this run.
    let mut appended = false;
    let mut restarted = false;
    let response = loop {
        let mut req = agent.get(url);
        if have > 0 {
            req = req.header("Range", format!("bytes={have}-"));
            if let Some(v) = &validator {
                req = req.header("If-Range", v.as_str());
            }
        }
        let response = req.call().map_err(|e| fail(e.to_string(), have))?;
        let status = response.status().as_u16();
        let start_over = match status {
            200 => {
                // The server sends the whole file (no range support).
                have > 0
            }
            206 => {
                let start = response
                    .headers()
                    .get("content-range")
                    .and_then(|v| v.to_str().ok())
                    .and_then(content_range_start);
                if start != Some(have) {
                    // Not the range asked for: ask for the whole file.
                    if restarted {
                        return Err(fail(
                            format!(
                                "the server sent an unexpected range ({start:?}, wanted {have})"
                            ),
                            0,
                        ));
                    }
                    true
                } else {
                    false
                }
            }
            416 if have > 0 => {
                // Nothing left to send: the partial file may be complete
                // (without an expected hash there is no telling: start over).
                if expected.is_some_and(|e| h.clone().finalize().as_slice() == e) {
                    break None;
                }
                true
            }
            _ => {
                return Err(SourceError::HttpStatus {
                    origin: what.origin.clone(),
                    what: what.what.clone(),
                    url: url.to_owned(),
                    status,
                })
            }
        };
        if start_over {
            part.set_len(0)
                .map_err(SourceError::io(part_path, "truncate the partial download"))?;
            h = Sha256::new();
            have = 0;
            if status == 200 {
                break Some(response);
            }
            restarted = true;
            continue;
        }
        appended = have > 0;
        break Some(response);
    };

    if let Some(response) = response {
        // The validator of what is being written, for a resume after an
        // interruption (a strong ETag, else Last-Modified).
        let headers = response.headers();
        let etag = headers
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.starts_with("W/"));
        let modified = headers.get("last-modified").and_then(|v| v.to_str().ok());
        match etag.or(modified) {
            Some(v) => {
                let _ = kforge_fs::write_atomic(&validator_path, v);
            }
            None => {
                let _ = fs::remove_file(&validator_path);
            }
        }
        part.seek(SeekFrom::Start(have))
            .map_err(SourceError::io(part_path, "write the partial download"))?;
        let remaining = response
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let bar = progress_bar(progress, have, remaining.map(|r| r + have), &what.what);
        let mut body = response.into_body().into_reader();
        let mut out = io::BufWriter::with_capacity(256 * 1024, &mut part);
        let mut received = 0u64;
        let copied = copy_hashing(&mut body, &mut h, &mut out, |n| {
            received += n;
            if let Some(b) = &bar {
                b.inc(n);
            }
        });
        if let Some(b) = &bar {
            b.finish_and_clear();
        }
        let flushed = out.flush();
        drop(out);
        if let Err(e) = copied {
            // Whatever reached the file is kept for a resumed download;
            // a write error is about the file, not the network.
            let kept = part.metadata().map_or(0, |m| m.len());
            return Err(fail(e.to_string(), kept));
        }
        flushed.map_err(SourceError::io(part_path, "write the partial download"))?;
        part.sync_all()
            .map_err(SourceError::io(part_path, "write the partial download"))?;
    }
    drop(part);
    let actual: [u8; 32] = h.finalize().into();
    if expected.is_some_and(|e| &actual != e) {
        let _ = fs::remove_file(part_path);
        let _ = fs::remove_file(&validator_path);
        if appended && validator.is_none() {
            // Resumed without a validator and spliced with a changed
            // file, or the file is not what was declared: the whole file
            // once more tells which.
            return download_locked(what, url, expected, progress, part_path);
        }
        return Err(what.mismatch(what.hash.as_deref().unwrap_or_default(), &actual));
    }
    let _ = fs::remove_file(&validator_path);
    Ok(actual)
}

/// Where the validator (ETag or Last-Modified) of a partial download is
/// kept: next to it.
fn validator_path(part_path: &Path) -> std::path::PathBuf {
    let mut name = part_path.file_name().unwrap_or_default().to_os_string();
    name.push(".validator");
    part_path.with_file_name(name)
}

/// The first byte position of a `Content-Range: bytes START-END/TOTAL`.
fn content_range_start(v: &str) -> Option<u64> {
    let range = v.trim().strip_prefix("bytes")?.trim_start();
    range.split('-').next()?.trim().parse().ok()
}

/// A byte progress bar on standard error, when wanted and on a terminal.
fn progress_bar(
    wanted: bool,
    pos: u64,
    len: Option<u64>,
    what: &str,
) -> Option<indicatif::ProgressBar> {
    if !wanted || !io::stderr().is_terminal() {
        return None;
    }
    let bar = match len {
        Some(len) => indicatif::ProgressBar::new(len).with_style(
            indicatif::ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            )
            .ok()?
            .progress_chars("=> "),
        ),
        None => indicatif::ProgressBar::new_spinner().with_style(
            indicatif::ProgressStyle::with_template("{msg} {spinner} {bytes} {bytes_per_sec}")
                .ok()?,
        ),
    };
    bar.set_position(pos);
    bar.set_message(format!("downloading {what}"));
    Some(bar)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range() {
        assert_eq!(content_range_start("bytes 100-199/200"), Some(100));
        assert_eq!(content_range_start("bytes 0-0/*"), Some(0));
        assert_eq!(content_range_start("bytes */200"), None);
        assert_eq!(content_range_start("items 1-2/3"), None);
    }
}
