//! The hermetic tier: a `file://` cache in a temporary directory, no
//! server. A round trip; each refusal with its reason, the store left
//! without the entry or a temporary directory; idempotent and concurrent
//! pushes; keygen.

use std::path::Path;

use kforge_binary_cache::{keygen, Cache, Error, SecretKey};
use kforge_store::Store;

use crate::common::{self, file_url, name, store_contents, store_with_entry, tree};

/// A cache directory with entry `a…` pushed, signed by `key`; the fresh
/// store to pull into.
struct Setup {
    _d: tempfile::TempDir,
    cache_dir: std::path::PathBuf,
    url: String,
    key: SecretKey,
    source: std::path::PathBuf,
    fresh: Store,
}

fn setup() -> Setup {
    let d = tempfile::tempdir().unwrap();
    let (store, source) = store_with_entry(&d.path().join("a"), &name('a'));
    let cache_dir = d.path().join("cache");
    let url = file_url(&cache_dir);
    let key = SecretKey::generate("test-1").unwrap();
    let pushed = kforge_binary_cache::open_for_push(&url)
        .unwrap()
        .push(&store, &name('a'), &key)
        .unwrap();
    assert!(!pushed.already);
    let fresh = Store::new(d.path().join("b"));
    Setup {
        cache_dir,
        url,
        key,
        source,
        fresh,
        _d: d,
    }
}

impl Setup {
    fn pull(&self) -> Result<kforge_binary_cache::Pulled, Error> {
        Cache::open(&self.url)
            .unwrap()
            .pull(&self.fresh, &name('a'), &[self.key.public()])
    }

    fn archive(&self) -> std::path::PathBuf {
        self.cache_dir.join(format!("{}.tar.zst", name('a')))
    }

    fn manifest(&self) -> std::path::PathBuf {
        self.cache_dir.join(format!("{}.manifest", name('a')))
    }

    /// The pull is refused, and the store holds nothing.
    fn refused(&self) -> Error {
        let e = self.pull().unwrap_err();
        assert!(
            store_contents(&self.fresh).is_empty(),
            "{e}: {:?}",
            store_contents(&self.fresh)
        );
        e
    }
}

#[test]
fn push_and_pull_give_the_same_entry() {
    let s = setup();
    let pulled = s.pull().unwrap();
    assert!(!pulled.already);
    assert_eq!(tree(&pulled.path), tree(&s.source));
    assert_eq!(store_contents(&s.fresh), vec![name('a')]);
    // The module tree's link into dev/ came through as a link.
    let link = pulled.path.join("modules/lib/modules/6.1.0/build");
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        Path::new("../../../../dev")
    );
    // A second pull finds it in the store.
    assert!(s.pull().unwrap().already);
    let c = Cache::open(&s.url).unwrap();
    assert!(c.contains(&name('a')).unwrap());
    assert!(!c.contains(&name('b')).unwrap());
    assert!(kforge_binary_cache::contains(&s.url, &name('a')).unwrap());
}

#[test]
fn an_unsigned_entry_is_refused() {
    let s = setup();
    let text = std::fs::read_to_string(s.manifest()).unwrap();
    let body: String = text
        .lines()
        .filter(|l| !l.starts_with("Sig:"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(s.manifest(), body).unwrap();
    let e = s.refused();
    assert!(matches!(e, Error::Unsigned { .. }), "{e:?}");
    assert!(e.to_string().contains("is unsigned; refused"), "{e}");
    assert!(e.is_refusal());
}

#[test]
fn an_entry_signed_by_an_untrusted_key_is_refused() {
    let s = setup();
    let other = SecretKey::generate("someone-else").unwrap();
    let e = Cache::open(&s.url)
        .unwrap()
        .pull(&s.fresh, &name('a'), &[other.public()])
        .unwrap_err();
    assert!(store_contents(&s.fresh).is_empty());
    assert!(
        matches!(&e, Error::Untrusted { key, .. } if key == "test-1"),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .contains("is signed by `test-1`, which is not a trusted key (trusted: someone-else)"),
        "{e}"
    );
    // A key of the same name but other bytes: the signature does not match.
    let impostor = SecretKey::generate("test-1").unwrap();
    let e = Cache::open(&s.url)
        .unwrap()
        .pull(&s.fresh, &name('a'), &[impostor.public()])
        .unwrap_err();
    assert!(matches!(e, Error::BadSignature { .. }), "{e:?}");
    assert!(store_contents(&s.fresh).is_empty());
}

#[test]
fn a_changed_byte_in_the_archive_is_refused() {
    let s = setup();
    let mut bytes = std::fs::read(s.archive()).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(s.archive(), &bytes).unwrap();
    let e = s.refused();
    assert!(matches!(e, Error::ArchiveChanged { .. }), "{e:?}");
    assert!(e.to_string().contains("was changed: its SHA-256 is"), "{e}");
}

#[test]
fn a_changed_byte_in_the_manifest_is_refused() {
    let s = setup();
    let text = std::fs::read_to_string(s.manifest()).unwrap();
    // One digit of the archive's size.
    let changed = text.replacen("ArchiveSize: ", "ArchiveSize: 1", 1);
    std::fs::write(s.manifest(), changed).unwrap();
    let e = s.refused();
    assert!(matches!(e, Error::BadSignature { .. }), "{e:?}");
    assert!(
        e.to_string()
            .contains("does not match its signature by `test-1`: it was changed after signing"),
        "{e}"
    );
    // One byte of the signature itself.
    let mut bytes = text.into_bytes();
    let n = bytes.len();
    bytes[n - 5] = if bytes[n - 5] == b'A' { b'B' } else { b'A' };
    std::fs::write(s.manifest(), bytes).unwrap();
    assert!(matches!(s.refused(), Error::BadSignature { .. }));
}

#[test]
fn a_truncated_archive_is_refused() {
    let s = setup();
    let bytes = std::fs::read(s.archive()).unwrap();
    std::fs::write(s.archive(), &bytes[..bytes.len() - 1000]).unwrap();
    let e = s.refused();
    assert!(
        matches!(e, Error::Truncated { expected, got, .. } if got + 1000 == expected),
        "{e:?}"
    );
    assert!(e.to_string().contains("is truncated"), "{e}");
    // And one with bytes added is refused before they are read.
    let mut longer = bytes.clone();
    longer.extend_from_slice(b"more");
    std::fs::write(s.archive(), &longer).unwrap();
    assert!(matches!(s.refused(), Error::TooLarge { .. }));
}

#[test]
fn a_missing_entry_or_directory_says_so() {
    let s = setup();
    let e = Cache::open(&s.url)
        .unwrap()
        .pull(&s.fresh, &name('b'), &[s.key.public()])
        .unwrap_err();
    assert!(matches!(e, Error::Missing { .. }), "{e:?}");
    assert!(
        e.to_string().ends_with(&format!("has no {}", name('b'))),
        "{e}"
    );
    // The manifest without its archive.
    std::fs::remove_file(s.archive()).unwrap();
    let e = s.refused();
    assert!(e.to_string().contains("its archive is missing"), "{e}");
    // A directory that is not there: unreachable.
    let e = Cache::open(&file_url(&s.cache_dir.join("nope")))
        .err()
        .unwrap();
    assert!(matches!(e, Error::Unreachable { .. }), "{e:?}");
}

#[test]
fn a_closed_port_is_unreachable() {
    // A port that was free a moment ago, with nothing listening.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for url in [
        format!("http://127.0.0.1:{port}/cache"),
        format!("s3://bucket/p?endpoint=http://127.0.0.1:{port}"),
    ] {
        let t = std::time::Instant::now();
        let e = kforge_binary_cache::contains(&url, &name('a')).unwrap_err();
        assert!(matches!(e, Error::Unreachable { .. }), "{url}: {e:?}");
        assert!(e.to_string().contains("unreachable"), "{e}");
        assert!(t.elapsed().as_secs() < 20, "{:?}", t.elapsed());
    }
}

#[test]
fn malformed_urls_are_refused_with_the_reason() {
    for (url, why) in [
        ("s3:///nobucket", "names its bucket"),
        ("ftp://host/x", "no binary cache over `ftp://`"),
        ("file://relative/dir", "names a host"),
        (
            "s3://b?endpoint=localhost:9000",
            "not an http:// or https:// URL",
        ),
        ("just-a-word", "not a URL"),
    ] {
        let e = Cache::open(url).err().unwrap();
        assert!(matches!(e, Error::Url { .. }), "{url}: {e:?}");
        assert!(e.to_string().contains(why), "{url}: {e}");
    }
    // An HTTP cache is not pushed to.
    let d = tempfile::tempdir().unwrap();
    let (store, _) = store_with_entry(d.path(), &name('a'));
    let key = SecretKey::generate("k").unwrap();
    let e = Cache::open("https://cache.example.org/kernels")
        .unwrap()
        .push(&store, &name('a'), &key)
        .unwrap_err();
    assert!(matches!(e, Error::ReadOnly { .. }), "{e:?}");
}

#[test]
fn push_is_idempotent() {
    let s = setup();
    let before = (
        std::fs::read(s.archive()).unwrap(),
        std::fs::metadata(s.archive()).unwrap().modified().unwrap(),
        std::fs::metadata(s.manifest()).unwrap().modified().unwrap(),
    );
    let store = Store::new(s.source.parent().unwrap().parent().unwrap());
    let again = kforge_binary_cache::open_for_push(&s.url)
        .unwrap()
        .push(&store, &name('a'), &s.key)
        .unwrap();
    assert!(again.already);
    assert_eq!(
        std::fs::metadata(s.archive()).unwrap().modified().unwrap(),
        before.1
    );
    assert_eq!(
        std::fs::metadata(s.manifest()).unwrap().modified().unwrap(),
        before.2
    );
    // Pushed afresh elsewhere, the same bytes (a deterministic archive, a
    // deterministic signature).
    let other = s.cache_dir.with_file_name("cache2");
    kforge_binary_cache::open_for_push(&file_url(&other))
        .unwrap()
        .push(&store, &name('a'), &s.key)
        .unwrap();
    assert_eq!(
        std::fs::read(other.join(format!("{}.tar.zst", name('a')))).unwrap(),
        before.0
    );
    assert_eq!(
        std::fs::read(other.join(format!("{}.manifest", name('a')))).unwrap(),
        std::fs::read(s.manifest()).unwrap()
    );
    // A damaged archive is pushed again.
    std::fs::write(s.archive(), b"x").unwrap();
    let again = kforge_binary_cache::open_for_push(&s.url)
        .unwrap()
        .push(&store, &name('a'), &s.key)
        .unwrap();
    assert!(!again.already);
    assert_eq!(std::fs::read(s.archive()).unwrap(), before.0);
}

#[test]
fn concurrent_pushes_of_one_entry_leave_it_whole() {
    let d = tempfile::tempdir().unwrap();
    let (store, source) = store_with_entry(&d.path().join("a"), &name('a'));
    let url = file_url(&d.path().join("cache"));
    let key = SecretKey::generate("test-1").unwrap();
    std::thread::scope(|sc| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                sc.spawn(|| {
                    kforge_binary_cache::open_for_push(&url)
                        .unwrap()
                        .push(&store, &name('a'), &key)
                        .unwrap()
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    });
    let fresh = Store::new(d.path().join("b"));
    let pulled = Cache::open(&url)
        .unwrap()
        .pull(&fresh, &name('a'), &[key.public()])
        .unwrap();
    assert_eq!(tree(&pulled.path), tree(&source));
    // Only the two objects (no temporary file left behind).
    let mut objects: Vec<String> = std::fs::read_dir(d.path().join("cache"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    objects.sort();
    assert_eq!(
        objects,
        vec![
            format!("{}.manifest", name('a')),
            format!("{}.tar.zst", name('a'))
        ]
    );
}

/// Adds one hostile member to a tar stream.
type AddMember = Box<dyn Fn(&mut tar::Builder<Vec<u8>>)>;

/// A signed manifest whose archive climbs out of the entry: refused,
/// nothing written outside or inside the store.
#[test]
fn an_archive_with_unsafe_paths_is_refused() {
    use sha2::Digest;
    let cases: Vec<(&str, AddMember)> = vec![
        (
            "climbs out with `..`",
            Box::new(|t| {
                let mut h = tar::Header::new_gnu();
                h.set_size(1);
                h.set_mode(0o644);
                h.set_entry_type(tar::EntryType::Regular);
                // set_path refuses `..`; write the name bytes directly.
                let name = b"../escaped";
                h.as_old_mut().name[..name.len()].copy_from_slice(name);
                h.set_cksum();
                t.append(&h, &b"x"[..]).unwrap();
            }),
        ),
        (
            "points out of the entry",
            Box::new(|t| {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                t.append_link(&mut h, "etc", "/etc").unwrap();
            }),
        ),
        (
            "a device",
            Box::new(|t| {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Char);
                h.set_size(0);
                h.set_path("null").unwrap();
                h.set_cksum();
                t.append(&h, std::io::empty()).unwrap();
            }),
        ),
        (
            "a hard link",
            Box::new(|t| {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Link);
                h.set_size(0);
                t.append_link(&mut h, "passwd", "/etc/passwd").unwrap();
            }),
        ),
    ];
    for (why, add) in cases {
        let d = tempfile::tempdir().unwrap();
        let cache = d.path().join("cache");
        std::fs::create_dir_all(&cache).unwrap();
        let mut t = tar::Builder::new(Vec::new());
        add(&mut t);
        let tar_bytes = t.into_inner().unwrap();
        let archive = zstd::encode_all(&tar_bytes[..], 3).unwrap();
        let key = SecretKey::generate("test-1").unwrap();
        let m = kforge_binary_cache::manifest::Manifest {
            entry: name('a'),
            store_key: "a".repeat(32),
            archive: format!("{}.tar.zst", name('a')),
            archive_size: archive.len() as u64,
            archive_sha256: hex::encode(sha2::Sha256::digest(&archive)),
            unpacked_size: 10,
            files: 1,
        };
        std::fs::write(cache.join(&m.archive), &archive).unwrap();
        std::fs::write(
            cache.join(format!("{}.manifest", name('a'))),
            m.signed(&key),
        )
        .unwrap();
        let store = Store::new(d.path().join("store"));
        let e = Cache::open(&file_url(&cache))
            .unwrap()
            .pull(&store, &name('a'), &[key.public()])
            .unwrap_err();
        assert!(matches!(e, Error::UnsafeArchive { .. }), "{why}: {e:?}");
        assert!(e.to_string().contains(why), "{why}: {e}");
        assert!(store_contents(&store).is_empty(), "{why}");
        assert!(!d.path().join("store/escaped").exists());
    }
}

#[test]
fn keygen_writes_a_pair_and_never_replaces_one() {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    let files = keygen(d.path(), "cache.example.org-1").unwrap();
    let mode = std::fs::metadata(&files.secret)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let secret = SecretKey::read(&files.secret).unwrap();
    let public = std::fs::read_to_string(&files.public).unwrap();
    assert_eq!(public.trim(), secret.public().to_string());
    assert_eq!(files.public_key, public.trim());
    let before = std::fs::read(&files.secret).unwrap();
    let e = keygen(d.path(), "cache.example.org-1").unwrap_err();
    assert!(
        matches!(&e, Error::KeyExists(p) if *p == files.secret),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .contains("exists already; a key is never replaced"),
        "{e}"
    );
    assert_eq!(std::fs::read(&files.secret).unwrap(), before);
    // Only the public file there: still refused, and no secret written.
    std::fs::write(d.path().join("other.public"), "x").unwrap();
    assert!(matches!(
        keygen(d.path(), "other"),
        Err(Error::KeyExists(_))
    ));
    assert!(!d.path().join("other.secret").exists());
    // A bad name.
    assert!(matches!(keygen(d.path(), "a:b"), Err(Error::Key { .. })));
    // A damaged secret key file says so.
    std::fs::write(d.path().join("bad.secret"), "k:AAAA\n").unwrap();
    let e = SecretKey::read(&d.path().join("bad.secret")).unwrap_err();
    assert!(
        e.to_string()
            .contains("bad.secret: the part after `k:` decodes to 3 bytes"),
        "{e}"
    );
}

#[test]
fn local_entries_lists_the_store() {
    let d = tempfile::tempdir().unwrap();
    let (store, _) = store_with_entry(d.path(), &name('c'));
    let _ = common::store_with_entry(d.path(), &name('b'));
    std::fs::create_dir_all(store.store_dir().join(".tmp-x-1")).unwrap();
    assert_eq!(
        kforge_binary_cache::local_entries(&store).unwrap(),
        vec![name('b'), name('c')]
    );
}

/// A cache served over HTTP (the loopback server of kforge-testkit): read
/// only, pulled like any other; a missing entry is a 404.
#[test]
fn a_cache_served_over_http_is_pulled_from() {
    let s = setup();
    let mut files = std::collections::HashMap::new();
    for f in [s.archive(), s.manifest()] {
        let path = format!("/kernels/{}", f.file_name().unwrap().to_string_lossy());
        files.insert(path, std::fs::read(&f).unwrap());
    }
    let server = kforge_testkit::http::Server::start(files, kforge_testkit::http::Mode::Normal);
    let url = server.url("/kernels");
    let cache = Cache::open(&url).unwrap();
    assert!(cache.contains(&name('a')).unwrap());
    let pulled = cache.pull(&s.fresh, &name('a'), &[s.key.public()]).unwrap();
    assert_eq!(tree(&pulled.path), tree(&s.source));
    let other = Store::new(s.cache_dir.with_file_name("c"));
    let e = cache
        .pull(&other, &name('b'), &[s.key.public()])
        .unwrap_err();
    assert!(matches!(e, Error::Missing { .. }), "{e:?}");
    assert!(store_contents(&other).is_empty());
}
