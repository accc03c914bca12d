//! Substitution: a store entry fetched from a binary cache instead of
//! built. Before building an entry that is not in the store, each of the
//! declaration's `[store] substituters` is asked in order; the first that
//! has it, signed by one of `[store] trusted_keys`, verified and unpacked,
//! gives the entry. A cache that is unreachable, lacks the entry or serves
//! something refused is reported through the [`Observer`] and the next one
//! is tried; when none gives it, the build goes on locally. Pushing an
//! entry (`kforge store push`, `kforge build --push`) is here too.

use std::path::Path;

use kforge_binary_cache::{Cache, PublicKey, SecretKey};
use kforge_declaration::Spec;
use kforge_store::{KeyLock, Store};

use crate::build::Observer;
use crate::Error;

/// The caches a build may be substituted from, and the keys they must be
/// signed with.
#[derive(Debug, Clone, Default)]
pub struct Substituters {
    /// Cache URLs, in the order they are tried.
    pub urls: Vec<String>,
    /// The keys an entry's manifest may be signed with.
    pub trusted: Vec<PublicKey>,
}

impl Substituters {
    /// The declaration's `[store]` (its URLs and keys were checked when
    /// it was loaded).
    pub fn from_spec(spec: &Spec) -> Substituters {
        Substituters {
            urls: spec
                .store
                .substituters
                .iter()
                .map(|(u, _)| u.clone())
                .collect(),
            trusted: spec
                .store
                .trusted_keys
                .iter()
                .filter_map(|(k, _)| PublicKey::parse(k).ok())
                .collect(),
        }
    }
}

/// Where an entry came from, when it was substituted.
#[derive(Debug, Clone)]
pub struct Substituted {
    /// The cache's URL.
    pub url: String,
    /// The archive's size in bytes.
    pub bytes: u64,
    /// Seconds fetching, verifying and unpacking took.
    pub seconds: f64,
}

/// Why a substituter did not give the entry.
#[derive(Debug)]
pub enum Miss {
    /// The cache does not have it (a note).
    Missing,
    /// The cache could not be reached, or refused us (a warning).
    Unavailable(kforge_binary_cache::Error),
    /// The cache served something that was refused: a signature, a changed
    /// or truncated download, an unsafe archive (a warning with the
    /// reason).
    Refused(kforge_binary_cache::Error),
}

/// Try each substituter for entry `name` (key lock held by the caller);
/// `Some` with where it came from once one gave it.
pub fn substitute(
    store: &Store,
    lock: &KeyLock,
    name: &str,
    subs: &Substituters,
    obs: &mut dyn Observer,
) -> Option<Substituted> {
    for url in &subs.urls {
        let got = Cache::open(url).and_then(|c| c.pull_locked(store, lock, name, &subs.trusted));
        match got {
            Ok(p) => {
                return Some(Substituted {
                    url: url.clone(),
                    bytes: p.archive_size,
                    seconds: p.seconds,
                })
            }
            Err(kforge_binary_cache::Error::Missing { .. }) => {
                obs.substitute_miss(url, &Miss::Missing)
            }
            Err(e) if e.is_refusal() => obs.substitute_miss(url, &Miss::Refused(e)),
            Err(e) => obs.substitute_miss(url, &Miss::Unavailable(e)),
        }
    }
    None
}

/// For `kforge matrix`: a job is cached when this store has its entry, or
/// one of its declaration's substituters does (asked with
/// [`kforge_binary_cache::contains`], in order; nothing is fetched).
pub struct MatrixCache<'a> {
    store: &'a Store,
    /// Substituters that could not be asked, with why (each once).
    pub unavailable: Vec<(String, kforge_binary_cache::Error)>,
}

impl<'a> MatrixCache<'a> {
    /// Looking in `store` first.
    pub fn new(store: &'a Store) -> MatrixCache<'a> {
        MatrixCache {
            store,
            unavailable: Vec::new(),
        }
    }
}

impl crate::matrix::Cache for MatrixCache<'_> {
    fn lookup(&mut self, spec: &Spec, entry: &str) -> Option<String> {
        if let Some(at) = crate::matrix::LocalStore(self.store).lookup(spec, entry) {
            return Some(at);
        }
        for (url, _) in &spec.store.substituters {
            if self.unavailable.iter().any(|(u, _)| u == url) {
                continue;
            }
            match kforge_binary_cache::contains(url, entry) {
                Ok(true) => return Some(url.clone()),
                Ok(false) => {}
                Err(e) => self.unavailable.push((url.clone(), e)),
            }
        }
        None
    }
}

/// Push the local entry at `entry` (a path into `store`, or the name of
/// one) to the cache at `dest`, signed with the key in `key_file`.
pub fn push(
    store: &Store,
    entry: &str,
    dest: &str,
    key_file: &Path,
) -> Result<(String, kforge_binary_cache::Pushed), Error> {
    let key = SecretKey::read(key_file)?;
    let name = entry_name(store, entry)?;
    let cache = kforge_binary_cache::open_for_push(dest)?;
    let pushed = cache.push(store, &name, &key)?;
    Ok((name, pushed))
}

/// The secret key a push signs with: `key` (`--key`), else the file
/// `KFORGE_SIGNING_KEY` names (a CI secret, for the jobs `kforge matrix`
/// prints).
pub fn signing_key(key: Option<std::path::PathBuf>) -> Result<std::path::PathBuf, Error> {
    key.or_else(|| {
        std::env::var_os("KFORGE_SIGNING_KEY")
            .filter(|v| !v.is_empty())
            .map(std::path::PathBuf::from)
    })
    .ok_or(Error::NoSigningKey)
}

/// The entry name an argument means: a name, or a path to an entry of the
/// store (a result link).
pub fn entry_name(store: &Store, arg: &str) -> Result<String, Error> {
    let p = Path::new(arg);
    let name = if arg.contains('/') || p.is_symlink() {
        let real = std::fs::canonicalize(p).map_err(|source| Error::Read {
            path: p.to_path_buf(),
            source,
        })?;
        let dir = std::fs::canonicalize(store.store_dir()).unwrap_or_else(|_| store.store_dir());
        match real
            .strip_prefix(&dir)
            .ok()
            .and_then(|r| r.components().next())
        {
            Some(c) => c.as_os_str().to_string_lossy().into_owned(),
            None => {
                return Err(Error::NotAStoreEntry {
                    path: p.to_path_buf(),
                    store: dir,
                })
            }
        }
    } else {
        arg.to_string()
    };
    kforge_binary_cache::check_entry_name(&name)?;
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records what the substitution reported.
    #[derive(Default)]
    struct Seen(Vec<String>);

    impl Observer for Seen {
        fn substitute_miss(&mut self, url: &str, miss: &Miss) {
            self.0.push(match miss {
                Miss::Missing => format!("missing {url}"),
                Miss::Unavailable(e) => format!("unavailable {url}: {e}"),
                Miss::Refused(e) => format!("refused {url}: {e}"),
            });
        }
    }

    fn entry(store: &Store, name: &str) {
        let lock = store.lock_key(&name[..32], &mut || {}).unwrap();
        let t = store.begin(&lock, &name[..32], name).unwrap();
        std::fs::create_dir_all(t.path().join("kernel")).unwrap();
        std::fs::write(t.path().join("kernel/bzImage"), vec![7u8; 10_000]).unwrap();
        t.commit().unwrap();
    }

    /// Unreachable, missing and tampered caches are passed over, each
    /// reported with its reason; the first good one gives the entry; with
    /// none, nothing enters the store (the build goes on locally).
    #[test]
    fn each_substituter_is_tried_in_order() {
        let d = tempfile::tempdir().unwrap();
        let name = format!("{}-linux-6.1.0-x86_64", "e".repeat(32));
        let built = Store::new(d.path().join("built"));
        entry(&built, &name);
        let key = SecretKey::generate("k1").unwrap();
        let key_file = d.path().join("k1.secret");
        std::fs::write(&key_file, key.to_text()).unwrap();
        let good = format!("file://{}", d.path().join("good").display());
        let bad = format!("file://{}", d.path().join("bad").display());
        let empty = format!("file://{}", d.path().join("empty").display());
        std::fs::create_dir_all(d.path().join("empty")).unwrap();
        push(&built, &name, &good, &key_file).unwrap();
        push(&built, &name, &bad, &key_file).unwrap();
        let archive = d.path().join("bad").join(format!("{name}.tar.zst"));
        let mut bytes = std::fs::read(&archive).unwrap();
        bytes[40] ^= 1;
        std::fs::write(&archive, bytes).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let closed = format!("http://127.0.0.1:{port}/cache");
        let mut subs = Substituters {
            urls: vec![closed.clone(), empty.clone(), bad.clone()],
            trusted: vec![key.public()],
        };
        let fresh = Store::new(d.path().join("fresh"));
        let lock = fresh.lock_key(&name[..32], &mut || {}).unwrap();
        let mut seen = Seen::default();
        assert!(substitute(&fresh, &lock, &name, &subs, &mut seen).is_none());
        assert_eq!(seen.0.len(), 3, "{:?}", seen.0);
        assert!(
            seen.0[0].starts_with(&format!("unavailable {closed}: {closed}: unreachable")),
            "{:?}",
            seen.0
        );
        assert_eq!(seen.0[1], format!("missing {empty}"));
        assert!(
            seen.0[2].contains("was changed: its SHA-256 is"),
            "{:?}",
            seen.0
        );
        assert!(fresh.existing(&name).is_none());
        subs.urls.push(good.clone());
        let mut seen = Seen::default();
        let s = substitute(&fresh, &lock, &name, &subs, &mut seen).unwrap();
        assert_eq!(s.url, good);
        assert_eq!(seen.0.len(), 3);
        assert!(fresh.existing(&name).is_some());
        // A path into the store names its entry.
        let link = d.path().join("result");
        std::os::unix::fs::symlink(built.entry_path(&name), &link).unwrap();
        assert_eq!(entry_name(&built, link.to_str().unwrap()).unwrap(), name);
        assert!(matches!(
            entry_name(&built, d.path().to_str().unwrap()),
            Err(Error::NotAStoreEntry { .. })
        ));
    }
}
