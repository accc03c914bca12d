//! A real S3 server (s3s over its file system backend, served by the test
//! itself on 127.0.0.1: hermetic, nothing to install). Push and pull through S3, idempotent;
//! wrong credentials, and a key without permission on the bucket, are
//! access denied with the server's reason; a damaged object is refused.

use kforge_binary_cache::{Cache, Credentials, Error, SecretKey};
use kforge_store::Store;
use kforge_testkit::s3::Server;

use crate::common::{name, store_contents, store_with_entry, tree};

fn creds(s: &Server) -> Option<Credentials> {
    Some(Credentials {
        access_key_id: s.access_key.clone(),
        secret_access_key: s.secret_key.clone(),
        session_token: None,
    })
}

#[test]
fn push_and_pull_through_s3() {
    let server = Server::start();
    server.bucket("kernels");
    let d = tempfile::tempdir().unwrap();
    let (store, source) = store_with_entry(&d.path().join("a"), &name('a'));
    let url = server.url("kernels", "ci/x86");
    let key = SecretKey::generate("ci-1").unwrap();
    let cache = Cache::open_as(&url, creds(&server), false).unwrap();
    assert!(!cache.contains(&name('a')).unwrap());
    let p = cache.push(&store, &name('a'), &key).unwrap();
    assert!(!p.already, "{p:?}");
    // The objects, where the server's file system backend keeps them.
    let dir = server.bucket_dir("kernels").join("ci/x86");
    assert!(dir.join(format!("{}.manifest", name('a'))).is_file());
    assert!(dir.join(format!("{}.tar.zst", name('a'))).is_file());
    assert!(cache.contains(&name('a')).unwrap());
    // Again: nothing uploaded.
    assert!(cache.push(&store, &name('a'), &key).unwrap().already);
    let fresh = Store::new(d.path().join("b"));
    let pulled = cache.pull(&fresh, &name('a'), &[key.public()]).unwrap();
    assert_eq!(tree(&pulled.path), tree(&source));
    // A changed byte in the archive, on the server: refused.
    let archive = dir.join(format!("{}.tar.zst", name('a')));
    let mut bytes = std::fs::read(&archive).unwrap();
    bytes[100] ^= 0x10;
    std::fs::write(&archive, &bytes).unwrap();
    let other = Store::new(d.path().join("c"));
    let e = cache.pull(&other, &name('a'), &[key.public()]).unwrap_err();
    assert!(matches!(e, Error::ArchiveChanged { .. }), "{e:?}");
    assert!(store_contents(&other).is_empty());
    // A missing entry.
    let e = cache.pull(&other, &name('b'), &[key.public()]).unwrap_err();
    assert!(matches!(e, Error::Missing { .. }), "{e:?}");
}

#[test]
fn wrong_credentials_are_access_denied_with_the_reason() {
    let server = Server::start();
    server.bucket("kernels");
    let d = tempfile::tempdir().unwrap();
    let (store, _) = store_with_entry(d.path(), &name('a'));
    let key = SecretKey::generate("ci-1").unwrap();
    let url = server.url("kernels", "p");
    let wrong = Some(Credentials {
        access_key_id: server.access_key.clone(),
        secret_access_key: "not-the-secret".into(),
        session_token: None,
    });
    let cache = Cache::open_as(&url, wrong, false).unwrap();
    let e = cache.push(&store, &name('a'), &key).unwrap_err();
    assert!(matches!(e, Error::AccessDenied { .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.contains("access denied"), "{text}");
    assert!(text.contains("SignatureDoesNotMatch"), "{text}");
    // An unknown access key, and no credentials at all.
    let unknown = Some(Credentials {
        access_key_id: "nobody".into(),
        secret_access_key: "x".into(),
        session_token: None,
    });
    for c in [unknown, None] {
        let e = Cache::open_as(&url, c.clone(), false)
            .unwrap()
            .contains(&name('a'))
            .unwrap_err();
        assert!(matches!(e, Error::AccessDenied { .. }), "{c:?}: {e:?}");
    }
    // Nothing was written.
    assert_eq!(
        std::fs::read_dir(server.bucket_dir("kernels"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn a_bucket_without_permission_is_access_denied_with_the_reason() {
    let server = Server::start();
    server.bucket("kernels");
    server.bucket("other");
    let d = tempfile::tempdir().unwrap();
    let (store, _) = store_with_entry(d.path(), &name('a'));
    let key = SecretKey::generate("ci-1").unwrap();
    // A key the server lets use the bucket `other` only.
    let [(_, access), (_, secret)] = server.key_for_bucket("other");
    let limited = Some(Credentials {
        access_key_id: access,
        secret_access_key: secret,
        session_token: None,
    });
    let denied = Cache::open_as(&server.url("kernels", "p"), limited.clone(), false).unwrap();
    let e = denied.push(&store, &name('a'), &key).unwrap_err();
    assert!(matches!(e, Error::AccessDenied { .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.contains("access denied"), "{text}");
    assert!(text.contains("AccessDenied"), "{text}");
    let e = denied.contains(&name('a')).unwrap_err();
    assert!(matches!(e, Error::AccessDenied { .. }), "{e:?}");
    let fresh = Store::new(d.path().join("b"));
    let e = denied
        .pull(&fresh, &name('a'), &[key.public()])
        .unwrap_err();
    assert!(matches!(e, Error::AccessDenied { .. }), "{e:?}");
    assert!(store_contents(&fresh).is_empty());
    assert_eq!(
        std::fs::read_dir(server.bucket_dir("kernels"))
            .unwrap()
            .count(),
        0
    );
    // The same key in its own bucket: the push goes through.
    let allowed = Cache::open_as(&server.url("other", "p"), limited, false).unwrap();
    assert!(!allowed.push(&store, &name('a'), &key).unwrap().already);
    assert!(allowed.contains(&name('a')).unwrap());
}

#[test]
fn concurrent_pushes_through_s3_leave_one_whole_entry() {
    let server = Server::start();
    server.bucket("kernels");
    let d = tempfile::tempdir().unwrap();
    let (store, source) = store_with_entry(&d.path().join("a"), &name('a'));
    let url = server.url("kernels", "");
    let key = SecretKey::generate("ci-1").unwrap();
    std::thread::scope(|sc| {
        let hs: Vec<_> = (0..3)
            .map(|_| {
                sc.spawn(|| {
                    Cache::open_as(&url, creds(&server), false)
                        .unwrap()
                        .push(&store, &name('a'), &key)
                        .unwrap()
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    });
    let fresh = Store::new(d.path().join("b"));
    let pulled = Cache::open_as(&url, creds(&server), false)
        .unwrap()
        .pull(&fresh, &name('a'), &[key.public()])
        .unwrap();
    assert_eq!(tree(&pulled.path), tree(&source));
}
