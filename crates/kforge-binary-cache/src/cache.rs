//! A binary cache at one URL, reached through `object_store`, behind a
//! synchronous API (a current-thread tokio runtime of its own).
//!
//! Objects, under the URL's prefix: `NAME.tar.zst` (the archive) and
//! `NAME.manifest` (the signed manifest), NAME being the entry's name.
//! Push writes the archive first and the manifest last, each as one
//! object (a reader sees a manifest only once its archive is whole);
//! pushing an entry whose manifest is already there, signed by the same
//! key, with its archive whole, writes nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use sha2::Digest;

use kforge_store::{KeyLock, Store};

use crate::archive::{self, UnpackError};
use crate::keys::{PublicKey, SecretKey};
use crate::location::Location;
use crate::manifest::{Manifest, Refusal, MAX_MANIFEST_BYTES};
use crate::Error;

/// A binary cache, opened.
pub struct Cache {
    url: String,
    location: Location,
    objects: Arc<dyn ObjectStore>,
    prefix: String,
    rt: tokio::runtime::Runtime,
}

/// What [`Cache::push`] did.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// The entry was there already (valid manifest, whole archive):
    /// nothing was written.
    pub already: bool,
    /// The archive's size in bytes.
    pub archive_size: u64,
    /// The bytes of the entry's files.
    pub unpacked_size: u64,
    /// Seconds packing and uploading took.
    pub seconds: f64,
}

/// What [`Cache::pull`] did.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The entry in the local store.
    pub path: std::path::PathBuf,
    /// It was in the store already: nothing was fetched.
    pub already: bool,
    /// The archive's size in bytes (0 when it was in the store already).
    pub archive_size: u64,
    /// Seconds fetching, verifying and unpacking took.
    pub seconds: f64,
}

/// Why a fetch stopped.
enum Fetch {
    Store(object_store::Error),
    TooLarge,
    Cut(u64),
}

/// The cause at the bottom of an error's chain.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// Whether the error is a connection that could not be made (refused,
/// timed out, no route, no such host).
fn is_unreachable(e: &(dyn std::error::Error + 'static)) -> bool {
    use std::io::ErrorKind::*;
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                ConnectionRefused
                    | ConnectionReset
                    | ConnectionAborted
                    | TimedOut
                    | HostUnreachable
                    | NetworkUnreachable
                    | NotConnected
                    | AddrNotAvailable
            ) {
                return true;
            }
        }
        let text = err.to_string().to_ascii_lowercase();
        if [
            "dns error",
            "error trying to connect",
            "tcp connect",
            "connection refused",
            "timed out",
            "client error (connect)",
        ]
        .iter()
        .any(|w| text.contains(w))
        {
            return true;
        }
        cur = err.source();
    }
    false
}

/// A valid entry name: `<32 hex>-linux-<version>-<arch>`, nothing that
/// could climb out of a prefix.
pub fn check_entry_name(name: &str) -> Result<&str, Error> {
    let bad = || Error::BadEntryName(name.to_string());
    let (hash, rest) = name.split_once('-').ok_or_else(bad)?;
    if hash.len() != 32 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    if !rest.starts_with("linux-")
        || !rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_+".contains(&b))
        || rest.contains("..")
    {
        return Err(bad());
    }
    Ok(hash)
}

/// The credentials of an S3 cache.
#[derive(Clone)]
pub struct Credentials {
    /// `AWS_ACCESS_KEY_ID`.
    pub access_key_id: String,
    /// `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key: String,
    /// `AWS_SESSION_TOKEN`, for temporary credentials.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({})", self.access_key_id)
    }
}

impl Credentials {
    /// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (and
    /// `AWS_SESSION_TOKEN`), when both are set and not empty.
    pub fn from_env() -> Option<Credentials> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Some(Credentials {
            access_key_id: var("AWS_ACCESS_KEY_ID")?,
            secret_access_key: var("AWS_SECRET_ACCESS_KEY")?,
            session_token: var("AWS_SESSION_TOKEN"),
        })
    }
}

impl Cache {
    /// Open the cache at `url`, S3 credentials from the environment
    /// ([`Credentials::from_env`]). Nothing is fetched yet; a `file://`
    /// directory must exist.
    pub fn open(url: &str) -> Result<Cache, Error> {
        Cache::open_as(url, Credentials::from_env(), false)
    }

    /// Open the cache at `url` with these S3 credentials (none: unsigned
    /// requests, for a public bucket); `create`: make a `file://`
    /// directory that is not there yet (for a push).
    pub fn open_as(
        url: &str,
        credentials: Option<Credentials>,
        create: bool,
    ) -> Result<Cache, Error> {
        let location = Location::parse(url).map_err(|reason| Error::Url {
            url: url.to_string(),
            reason,
        })?;
        // object_store's HTTP client takes rustls' process-wide provider:
        // ring (an error only says one is installed already).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| Error::Io {
                what: "starting the binary cache's I/O runtime".into(),
                source,
            })?;
        let retry = object_store::RetryConfig {
            backoff: object_store::BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(1),
                base: 2.0,
            },
            max_retries: 2,
            retry_timeout: Duration::from_secs(15),
        };
        let client = |allow_http: bool| {
            object_store::ClientOptions::new()
                .with_connect_timeout(Duration::from_secs(5))
                .with_timeout(Duration::from_secs(900))
                .with_allow_http(allow_http)
        };
        let unreachable = |reason: String| Error::Unreachable {
            url: url.to_string(),
            reason,
        };
        let (objects, prefix): (Arc<dyn ObjectStore>, String) = match &location {
            Location::S3 {
                bucket,
                prefix,
                endpoint,
                region,
            } => {
                let mut b = object_store::aws::AmazonS3Builder::new()
                    .with_bucket_name(bucket)
                    .with_region(region)
                    .with_retry(retry)
                    .with_client_options(client(
                        endpoint
                            .as_deref()
                            .is_some_and(|e| e.starts_with("http://")),
                    ));
                if let Some(e) = endpoint {
                    b = b.with_endpoint(e);
                }
                match credentials {
                    Some(c) => {
                        b = b
                            .with_access_key_id(c.access_key_id)
                            .with_secret_access_key(c.secret_access_key);
                        if let Some(t) = c.session_token {
                            b = b.with_token(t);
                        }
                    }
                    None => b = b.with_skip_signature(true),
                }
                let s = b.build().map_err(|e| Error::Url {
                    url: url.to_string(),
                    reason: root_cause(&e),
                })?;
                (Arc::new(s), prefix.clone())
            }
            Location::Http { url: base } => {
                let s = object_store::http::HttpBuilder::new()
                    .with_url(base)
                    .with_retry(retry)
                    .with_client_options(client(base.starts_with("http://")))
                    .build()
                    .map_err(|e| Error::Url {
                        url: url.to_string(),
                        reason: root_cause(&e),
                    })?;
                (Arc::new(s), String::new())
            }
            Location::File { dir } => {
                if create {
                    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                        what: format!("creating {}", dir.display()),
                        source,
                    })?;
                }
                if !dir.is_dir() {
                    return Err(unreachable(format!("{} is not a directory", dir.display())));
                }
                let s = object_store::local::LocalFileSystem::new_with_prefix(dir)
                    .map_err(|e| unreachable(root_cause(&e)))?;
                (Arc::new(s), String::new())
            }
        };
        Ok(Cache {
            url: url.to_string(),
            location,
            objects,
            prefix,
            rt,
        })
    }

    /// The URL it was opened with.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn object(&self, name: &str) -> Path {
        if self.prefix.is_empty() {
            Path::from(name)
        } else {
            Path::from(format!("{}/{name}", self.prefix))
        }
    }

    fn manifest_path(name: &str) -> String {
        format!("{name}.manifest")
    }

    fn archive_name(name: &str) -> String {
        format!("{name}.tar.zst")
    }

    /// An object_store error as this crate's, for entry `name`.
    fn classify(&self, name: &str, e: object_store::Error) -> Error {
        let url = self.url.clone();
        match e {
            object_store::Error::NotFound { .. } => Error::Missing {
                url,
                name: name.to_string(),
            },
            object_store::Error::PermissionDenied { source, .. }
            | object_store::Error::Unauthenticated { source, .. } => Error::AccessDenied {
                url,
                reason: source.to_string(),
            },
            other if is_unreachable(&other) => Error::Unreachable {
                url,
                reason: root_cause(&other),
            },
            other => Error::Transport {
                url,
                reason: other.to_string(),
            },
        }
    }

    /// Fetch an object whole, refusing more than `limit` bytes.
    fn fetch(&self, path: &Path, limit: u64) -> Result<Vec<u8>, Fetch> {
        self.rt.block_on(async {
            let r = self.objects.get(path).await.map_err(Fetch::Store)?;
            if r.meta.size > limit {
                return Err(Fetch::TooLarge);
            }
            let mut buf = Vec::with_capacity(r.meta.size as usize);
            let mut stream = r.into_stream();
            while let Some(chunk) = stream.next().await {
                match chunk {
                    Ok(c) => {
                        if (buf.len() + c.len()) as u64 > limit {
                            return Err(Fetch::TooLarge);
                        }
                        buf.extend_from_slice(&c);
                    }
                    Err(_) => return Err(Fetch::Cut(buf.len() as u64)),
                }
            }
            Ok(buf)
        })
    }

    /// Whether the cache has entry `name` (its manifest is there; nothing
    /// is verified).
    pub fn contains(&self, name: &str) -> Result<bool, Error> {
        check_entry_name(name)?;
        let path = self.object(&Cache::manifest_path(name));
        match self.rt.block_on(self.objects.head(&path)) {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.classify(name, e)),
        }
    }

    /// The entries of the cache whose store key is `hash` (32 hex digits),
    /// from a listing of its objects (an HTTP cache cannot be listed).
    pub fn find(&self, hash: &str) -> Result<Vec<String>, Error> {
        if hash.len() != 32 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::BadEntryName(hash.to_string()));
        }
        if matches!(self.location, Location::Http { .. }) {
            return Err(Error::Transport {
                url: self.url.clone(),
                reason: "an HTTP cache cannot be listed: give the whole entry name (HASH-linux-VERSION-ARCH)".into(),
            });
        }
        let prefix = (!self.prefix.is_empty()).then(|| Path::from(self.prefix.as_str()));
        let listing = self
            .rt
            .block_on(self.objects.list_with_delimiter(prefix.as_ref()))
            .map_err(|e| self.classify(hash, e))?;
        let mut names: Vec<String> = listing
            .objects
            .iter()
            .filter_map(|o| o.location.filename())
            .filter_map(|f| f.strip_suffix(".manifest"))
            .filter(|n| n.starts_with(hash) && check_entry_name(n).is_ok())
            .map(str::to_string)
            .collect();
        names.sort();
        Ok(names)
    }

    /// The manifest of `name` as fetched, verified against `trusted`.
    fn verified_manifest(&self, name: &str, trusted: &[PublicKey]) -> Result<Manifest, Error> {
        let url = self.url.clone();
        let bytes = match self.fetch(
            &self.object(&Cache::manifest_path(name)),
            MAX_MANIFEST_BYTES,
        ) {
            Ok(b) => b,
            Err(Fetch::Store(e)) => return Err(self.classify(name, e)),
            Err(Fetch::TooLarge) => {
                return Err(Error::BadManifest {
                    url,
                    name: name.to_string(),
                    reason: format!("it is larger than {MAX_MANIFEST_BYTES} bytes"),
                })
            }
            Err(Fetch::Cut(got)) => {
                return Err(Error::BadManifest {
                    url,
                    name: name.to_string(),
                    reason: format!("the download stopped after {got} bytes"),
                })
            }
        };
        let m = Manifest::verify(&bytes, trusted).map_err(|r| match r {
            Refusal::Unsigned => Error::Unsigned {
                url: url.clone(),
                name: name.to_string(),
            },
            Refusal::Untrusted { key } => Error::Untrusted {
                url: url.clone(),
                name: name.to_string(),
                key,
                trusted: trusted.iter().map(|k| k.name.clone()).collect(),
            },
            Refusal::BadSignature { key } => Error::BadSignature {
                url: url.clone(),
                name: name.to_string(),
                key,
            },
            Refusal::Malformed(reason) => Error::BadManifest {
                url: url.clone(),
                name: name.to_string(),
                reason,
            },
        })?;
        let hash = check_entry_name(name)?;
        if m.entry != name || m.store_key != hash || m.archive != Cache::archive_name(name) {
            return Err(Error::BadManifest {
                url,
                name: name.to_string(),
                reason: format!(
                    "it is the signed manifest of another entry ({}), stored under this one's name",
                    m.entry
                ),
            });
        }
        Ok(m)
    }

    /// Push the local entry `name` of `store`, signing its manifest with
    /// `key`.
    pub fn push(&self, store: &Store, name: &str, key: &SecretKey) -> Result<Pushed, Error> {
        check_entry_name(name)?;
        if !self.location.writable() {
            return Err(Error::ReadOnly {
                url: self.url.clone(),
            });
        }
        let entry = store
            .existing(name)
            .ok_or_else(|| Error::NoSuchEntry(store.entry_path(name)))?;
        let t0 = Instant::now();
        // Already there, whole, and signed by this key: nothing to do.
        match self.verified_manifest(name, &[key.public()]) {
            Ok(m) => {
                let head = self
                    .rt
                    .block_on(self.objects.head(&self.object(&m.archive)));
                if head.is_ok_and(|h| h.size == m.archive_size) {
                    return Ok(Pushed {
                        already: true,
                        archive_size: m.archive_size,
                        unpacked_size: m.unpacked_size,
                        seconds: t0.elapsed().as_secs_f64(),
                    });
                }
            }
            Err(
                e @ (Error::Unreachable { .. }
                | Error::AccessDenied { .. }
                | Error::Transport { .. }),
            ) => return Err(e),
            Err(_) => {}
        }
        let packed = archive::pack(&entry).map_err(|source| Error::Io {
            what: format!("packing {}", entry.display()),
            source,
        })?;
        let manifest = Manifest {
            entry: name.to_string(),
            store_key: check_entry_name(name)?.to_string(),
            archive: Cache::archive_name(name),
            archive_size: packed.bytes.len() as u64,
            archive_sha256: hex::encode(sha2::Sha256::digest(&packed.bytes)),
            unpacked_size: packed.unpacked_size,
            files: packed.files,
        };
        let archive_size = manifest.archive_size;
        let signed = manifest.signed(key);
        let archive_path = self.object(&manifest.archive);
        let manifest_path = self.object(&Cache::manifest_path(name));
        self.rt
            .block_on(async {
                self.objects
                    .put(&archive_path, bytes::Bytes::from(packed.bytes).into())
                    .await?;
                self.objects
                    .put(
                        &manifest_path,
                        bytes::Bytes::from(signed.into_bytes()).into(),
                    )
                    .await
            })
            .map_err(|e| self.classify(name, e))?;
        Ok(Pushed {
            already: false,
            archive_size,
            unpacked_size: manifest.unpacked_size,
            seconds: t0.elapsed().as_secs_f64(),
        })
    }

    /// Substitute entry `name` into `store` from this cache, its manifest
    /// signed by one of `trusted`: taking the key's lock, then as
    /// [`Cache::pull_locked`].
    pub fn pull(&self, store: &Store, name: &str, trusted: &[PublicKey]) -> Result<Pulled, Error> {
        let hash = check_entry_name(name)?;
        let lock = store
            .lock_key(hash, &mut || {})
            .map_err(|source| Error::Io {
                what: "locking the store key".into(),
                source,
            })?;
        self.pull_locked(store, &lock, name, trusted)
    }

    /// Substitute entry `name` into `store`, whose key lock the caller
    /// holds: the manifest fetched and its signature checked, the archive
    /// fetched (no more bytes than the manifest says) and checked against
    /// its size and SHA-256, unpacked into a temporary entry and renamed
    /// into place. Any failure leaves nothing in the store.
    pub fn pull_locked(
        &self,
        store: &Store,
        lock: &KeyLock,
        name: &str,
        trusted: &[PublicKey],
    ) -> Result<Pulled, Error> {
        let hash = check_entry_name(name)?;
        let t0 = Instant::now();
        if let Some(path) = store.existing(name) {
            return Ok(Pulled {
                path,
                already: true,
                archive_size: 0,
                seconds: 0.0,
            });
        }
        let m = self.verified_manifest(name, trusted)?;
        let url = self.url.clone();
        let bytes = match self.fetch(&self.object(&m.archive), m.archive_size) {
            Ok(b) => b,
            Err(Fetch::Store(object_store::Error::NotFound { .. })) => {
                return Err(Error::BadManifest {
                    url,
                    name: name.to_string(),
                    reason: "its archive is missing".into(),
                })
            }
            Err(Fetch::Store(e)) => return Err(self.classify(name, e)),
            Err(Fetch::TooLarge) => {
                return Err(Error::TooLarge {
                    url,
                    name: name.to_string(),
                    limit: m.archive_size,
                })
            }
            Err(Fetch::Cut(got)) => {
                return Err(Error::Truncated {
                    url,
                    name: name.to_string(),
                    expected: m.archive_size,
                    got,
                })
            }
        };
        if (bytes.len() as u64) < m.archive_size {
            return Err(Error::Truncated {
                url,
                name: name.to_string(),
                expected: m.archive_size,
                got: bytes.len() as u64,
            });
        }
        let got = hex::encode(sha2::Sha256::digest(&bytes));
        if got != m.archive_sha256 {
            return Err(Error::ArchiveChanged {
                url,
                name: name.to_string(),
                expected: m.archive_sha256,
                got,
            });
        }
        let tmp = store.begin(lock, hash, name).map_err(|source| Error::Io {
            what: "creating the store entry".into(),
            source,
        })?;
        archive::unpack(&bytes, tmp.path(), m.unpacked_size).map_err(|e| match e {
            UnpackError::Unsafe(reason) => Error::UnsafeArchive {
                url: url.clone(),
                name: name.to_string(),
                reason,
            },
            UnpackError::Io(source) => Error::Io {
                what: format!("unpacking {name} from {url}"),
                source,
            },
        })?;
        let path = tmp.commit().map_err(|source| Error::Io {
            what: "renaming the entry into place".into(),
            source,
        })?;
        store.touch_entry(&path);
        Ok(Pulled {
            path,
            already: false,
            archive_size: m.archive_size,
            seconds: t0.elapsed().as_secs_f64(),
        })
    }
}

/// Push to `url`, creating a `file://` directory that does not exist yet.
/// S3 credentials from the environment.
pub fn open_for_push(url: &str) -> Result<Cache, Error> {
    Cache::open_as(url, Credentials::from_env(), true)
}

/// Whether the cache at `url` has entry `name` (for `kforge matrix`:
/// which jobs a CI engine may skip). The URL is parsed as everywhere else.
pub fn contains(url: &str, name: &str) -> Result<bool, Error> {
    Cache::open(url)?.contains(name)
}

/// The names of the entries of a local store, sorted.
pub fn local_entries(store: &Store) -> Result<Vec<String>, Error> {
    let dir = store.store_dir();
    let rd = match std::fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(Error::Io {
                what: format!("listing {}", dir.display()),
                source,
            })
        }
    };
    let mut names: Vec<String> = rd
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.') && check_entry_name(n).is_ok())
        .filter(|n| dir.join(n).is_dir())
        .collect();
    names.sort();
    Ok(names)
}
