//! Fetching: local paths hashed in place, downloads from a server on
//! 127.0.0.1 verified, cached and resumed.

use crate::common;

use std::collections::HashMap;

use common::{hex, names, sha256, sri, Mode, Server};
use kforge_source::{fetch, Cache, Fetchable, Location, SourceError};

fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

fn url_item(url: String, hash: Option<String>) -> Fetchable {
    Fetchable {
        location: Location::Url(url),
        hash,
        what: "the source tarball".into(),
        origin: Some("kernel.toml:3:1".into()),
    }
}

#[test]
fn local_path_is_hashed_in_place() {
    let d = tempfile::tempdir().unwrap();
    let cache = Cache::new(d.path().join("cache"));
    let file = d.path().join("linux.tar");
    std::fs::write(&file, b"contents").unwrap();
    let item = Fetchable {
        location: Location::Path(file.clone()),
        hash: Some(sri(b"contents")),
        what: "the source tarball".into(),
        origin: None,
    };
    let got = fetch(&cache, &item, false).unwrap();
    assert_eq!(got.path, file);
    assert_eq!(got.sha256, sha256(b"contents"));

    // No hash declared: only hashed.
    let got = fetch(
        &cache,
        &Fetchable {
            hash: None,
            ..item.clone()
        },
        false,
    )
    .unwrap();
    assert_eq!(got.sha256, sha256(b"contents"));

    // The wrong hash: both hashes named, nothing written to the cache.
    let err = fetch(
        &cache,
        &Fetchable {
            hash: Some(sri(b"other")),
            ..item.clone()
        },
        false,
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, SourceError::HashMismatch { .. }), "{msg}");
    assert!(
        msg.contains(&sri(b"other")) && msg.contains(&sri(b"contents")),
        "{msg}"
    );
    assert!(msg.contains(&file.display().to_string()), "{msg}");
    // Nothing but the hash memo in the cache.
    assert!(!cache.downloads_dir().exists() && !cache.sources_dir().exists());

    // The hash is remembered with the file's stat: the same size and
    // modification time but other bytes (its change time moved) is hashed
    // again, and the declared hash then fails.
    let mtime = std::fs::metadata(&file).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&file, b"CONTENTS").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let err = fetch(&cache, &item, false).unwrap_err();
    assert!(matches!(err, SourceError::HashMismatch { .. }), "{err}");
    assert!(err.to_string().contains(&sri(b"CONTENTS")), "{err}");
    std::fs::write(&file, b"contents").unwrap();

    // A Nix-style hash is accepted too.
    let nix = "sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"; // empty file
    let empty = d.path().join("empty");
    std::fs::write(&empty, b"").unwrap();
    let item = Fetchable {
        location: Location::Path(empty),
        hash: Some(nix.into()),
        ..item
    };
    fetch(&cache, &item, false).unwrap();

    // A missing file names the declaration and the path.
    let item = Fetchable {
        location: Location::Path(d.path().join("nope.tar.xz")),
        hash: None,
        origin: Some("kernel.toml:4:1".into()),
        ..item
    };
    let msg = fetch(&cache, &item, false).unwrap_err().to_string();
    assert!(
        msg.starts_with("kernel.toml:4:1: the source tarball (")
            && msg.contains("nope.tar.xz) cannot be read"),
        "{msg}"
    );
}

#[test]
fn download_once_then_cache_hit() {
    let data = payload(300_000);
    let server = Server::start(
        HashMap::from([("/l.tar.xz".into(), data.clone())]),
        Mode::Normal,
    );
    let d = tempfile::tempdir().unwrap();
    let cache = Cache::new(d.path());
    let item = url_item(server.url("/l.tar.xz"), Some(sri(&data)));
    let got = fetch(&cache, &item, true).unwrap();
    assert_eq!(got.path, cache.downloads_dir().join(hex(&sha256(&data))));
    assert_eq!(std::fs::read(&got.path).unwrap(), data);
    assert_eq!(got.sha256, sha256(&data));
    assert_eq!(names(&cache.downloads_dir()), [hex(&sha256(&data))]);
    assert_eq!(server.requests().len(), 1);
    assert_eq!(server.requests()[0].range, None);

    // Again: from the cache, no request.
    let again = fetch(&cache, &item, false).unwrap();
    assert_eq!(again, got);
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn wrong_hash_keeps_nothing() {
    let data = payload(50_000);
    let server = Server::start(
        HashMap::from([("/l.tar".into(), data.clone())]),
        Mode::Normal,
    );
    let d = tempfile::tempdir().unwrap();
    let cache = Cache::new(d.path());
    let err = fetch(
        &cache,
        &url_item(server.url("/l.tar"), Some(sri(b"x"))),
        false,
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, SourceError::HashMismatch { .. }), "{msg}");
    assert!(
        msg.starts_with("kernel.toml:3:1: the source tarball (http://127.0.0.1:"),
        "{msg}"
    );
    assert!(msg.contains(&format!("declared: {}", sri(b"x"))), "{msg}");
    assert!(msg.contains(&format!("actual:   {}", sri(&data))), "{msg}");
    assert!(msg.contains("nothing was kept"), "{msg}");
    assert!(names(&cache.downloads_dir()).is_empty());
}

#[test]
fn a_download_needs_a_hash() {
    let server = Server::start(HashMap::new(), Mode::Normal);
    let d = tempfile::tempdir().unwrap();
    let cache = Cache::new(d.path());
    let err = fetch(&cache, &url_item(server.url("/l.tar"), None), false).unwrap_err();
    assert!(matches!(err, SourceError::MissingHash { .. }));
    assert!(err.to_string().contains("has no `hash`"), "{err}");
    assert!(server.requests().is_empty());
    assert!(!cache.root().join("downloads").exists());
}

#[test]
fn http_errors_name_the_url_and_status() {
    let server = Server::start(HashMap::new(), Mode::Normal);
    let d = tempfile::tempdir().unwrap();
    let cache = Cache::new(d.path());
    let url = server.url("/missing.tar.xz");
    let err = fetch(&cache, &url_item(url.clone(), Some(sri(b"x"))), false).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, SourceError::HttpStatus { status: 404, .. }),
        "{msg}"
    );
    assert!(msg.contains(&url) && msg.contains("HTTP 404"), "{msg}");
    assert!(names(&cache.downloads_dir()).is_empty());

    // Nobody listening.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/l.tar");
    let err = fetch(&cache, &url_item(url.clone(), Some(sri(b"y"))), false).unwrap_err();
    assert!(matches!(err, SourceError::Download { .. }), "{err}");
    assert!(err.to_string().contains(&url), "{err}");
}

#[test]
fn resume_from_a_truncated_partial_file() {
    let data = payload(200_000);
    let server = Server::start(
        HashMap::from([("/l.tar.gz".into(), data.clone())]),
        Mode::Normal,
    );
    let d = tempfile::tempdir().unwrap();
    let cache = Cache::new(d.path());
    let name = hex(&sha256(&data));
    std::fs::create_dir_all(cache.downloads_dir()).unwrap();
    std::fs::write(
        cache.downloads_dir().join(format!("{name}.part")),
        &data[..70_000],
    )
    .unwrap();

    let got = fetch(
        &cache,
        &url_item(server.url("/l.tar.gz"), Some(sri(&data))),
        false,
    )
    .unwrap();
    assert_eq!(std::fs::read(&got.path).unwrap(), data);
    let seen = server.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].range.as_deref(), Some("bytes=70000-"));
    assert_eq!(names(&cache.downloads_dir()), [name]);
}

#[test]
fn an_interrupted_download_resumes() {
    let data = payload(200_000);
    let server = Server::start(
        HashMap::from([("/l.tar".into(), data.clone())]),
        Mode::CutFirstAfter(80_000),
    );
    let d = tempfile::tempdir().unwrap();
    let cache = Cache::new(d.path());
    let item = url_item(server.url("/l.tar"), Some(sri(&data)));
    let err = fetch(&cache, &item, false).unwrap_err();
    let msg = err.to_string();
    let SourceError::Download { kept, .. } = err else {
        panic!("{msg}")
    };
    assert_eq!(kept, 80_000, "{msg}");
    assert!(msg.contains("resumes from there next time"), "{msg}");

    let got = fetch(&cache, &item, false).unwrap();
    assert_eq!(std::fs::read(&got.path).unwrap(), data);
    let seen = server.requests();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].range.as_deref(), Some("bytes=80000-"));
}

#[test]
fn a_server_without_ranges_starts_over() {
    let data = payload(100_000);
    let server = Server::start(
        HashMap::from([("/l.tar".into(), data.clone())]),
        Mode::NoRanges,
    );
    let d = tempfile::tempdir().unwrap();
    let cache = Cache::new(d.path());
    let name = hex(&sha256(&data));
    std::fs::create_dir_all(cache.downloads_dir()).unwrap();
    std::fs::write(
        cache.downloads_dir().join(format!("{name}.part")),
        &data[..30_000],
    )
    .unwrap();
    let got = fetch(
        &cache,
        &url_item(server.url("/l.tar"), Some(sri(&data))),
        false,
    )
    .unwrap();
    assert_eq!(std::fs::read(&got.path).unwrap(), data);
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn a_corrupt_partial_file_is_dropped() {
    let data = payload(100_000);
    let server = Server::start(
        HashMap::from([("/l.tar".into(), data.clone())]),
        Mode::Normal,
    );
    let d = tempfile::tempdir().unwrap();
    let cache = Cache::new(d.path());
    let name = hex(&sha256(&data));
    std::fs::create_dir_all(cache.downloads_dir()).unwrap();
    std::fs::write(
        cache.downloads_dir().join(format!("{name}.part")),
        vec![0u8; 30_000],
    )
    .unwrap();
    // Resumed (the hash will tell) and found wrong: started over at once,
    // from scratch, and verified.
    let item = url_item(server.url("/l.tar"), Some(sri(&data)));
    let got = fetch(&cache, &item, false).unwrap();
    assert_eq!(std::fs::read(&got.path).unwrap(), data);
    let seen = server.requests();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].range.as_deref(), Some("bytes=30000-"));
    assert_eq!(seen[1].range, None);
    assert_eq!(names(&cache.downloads_dir()), [name]);
}

/// A download cut off, and the file changed on the server before the
/// rerun: the rerun's `If-Range` carries the old file's tag, the server
/// sends the new file whole, and the digest is the new file's, never a
/// splice of both (for an unverified download there is no hash to catch
/// it).
#[test]
fn a_file_changed_between_tries_is_fetched_whole() {
    let old = payload(150_000);
    let new: Vec<u8> = old.iter().map(|b| b.wrapping_add(1)).collect();
    let server = Server::start(
        HashMap::from([("/l.tar".into(), old.clone())]),
        Mode::CutFirstAfter(60_000),
    );
    let d = tempfile::tempdir().unwrap();
    let cache = Cache::new(d.path());
    let item = url_item(server.url("/l.tar"), None);
    kforge_source::fetch_unverified(&cache, &item, false).unwrap_err();
    server.set("/l.tar", common::Reply::ok(new.clone()));
    let got = kforge_source::fetch_unverified(&cache, &item, false).unwrap();
    assert_eq!(got.sha256, sha256(&new));
    assert_eq!(std::fs::read(&got.path).unwrap(), new);
    let seen = server.requests();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].range.as_deref(), Some("bytes=60000-"));
    assert_eq!(seen[1].if_range, Some(kforge_testkit::http::etag(&old)));
    assert_eq!(names(&cache.downloads_dir()), [hex(&sha256(&new))]);

    // A partial file without a validator (left by an older kforge) is not
    // resumed when no hash can check it: downloaded whole.
    let url = server.url("/l.tar");
    let part = cache
        .downloads_dir()
        .join(format!("url-{}.part", hex(&sha256(url.as_bytes()))));
    std::fs::write(&part, &old[..1000]).unwrap();
    let n = server.requests().len();
    let again = kforge_source::fetch_unverified(&cache, &item, false).unwrap();
    assert_eq!(again.sha256, sha256(&new));
    assert!(!part.exists());
    let seen = server.requests();
    assert_eq!(seen.len(), n + 1);
    assert_eq!(seen[n].range, None);
}

#[test]
fn a_complete_partial_file_is_finished() {
    // The whole file is already in the partial download: the server
    // answers 416 to the range, and the file is verified and kept.
    let data = payload(10_000);
    let server = Server::start(
        HashMap::from([("/l.tar".into(), data.clone())]),
        Mode::Normal,
    );
    let d = tempfile::tempdir().unwrap();
    let cache = Cache::new(d.path());
    let name = hex(&sha256(&data));
    std::fs::create_dir_all(cache.downloads_dir()).unwrap();
    std::fs::write(cache.downloads_dir().join(format!("{name}.part")), &data).unwrap();
    let got = fetch(
        &cache,
        &url_item(server.url("/l.tar"), Some(sri(&data))),
        false,
    )
    .unwrap();
    assert_eq!(std::fs::read(&got.path).unwrap(), data);
    assert_eq!(server.requests()[0].range.as_deref(), Some("bytes=10000-"));
}

#[test]
fn an_unverified_download_returns_its_digest() {
    let data = payload(150_000);
    let server = Server::start(
        HashMap::from([("/l.tar".into(), data.clone())]),
        Mode::CutFirstAfter(60_000),
    );
    let d = tempfile::tempdir().unwrap();
    let cache = Cache::new(d.path());
    let item = url_item(server.url("/l.tar"), None);
    // Truncated: an error, nothing complete in downloads/, the part kept.
    let err = kforge_source::fetch_unverified(&cache, &item, false).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, SourceError::Download { kept: 60_000, .. }),
        "{msg}"
    );
    // The part, and the validator (ETag) of the response it came from.
    let left = names(&cache.downloads_dir());
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left[0].starts_with("url-") && left[0].ends_with(".part"));
    assert_eq!(left[1], format!("{}.validator", left[0]));

    // Resumed, hashed, and filed under its digest like a verified download.
    let got = kforge_source::fetch_unverified(&cache, &item, false).unwrap();
    assert_eq!(got.sha256, sha256(&data));
    assert_eq!(got.path, cache.downloads_dir().join(hex(&sha256(&data))));
    assert_eq!(std::fs::read(&got.path).unwrap(), data);
    assert_eq!(names(&cache.downloads_dir()), [hex(&sha256(&data))]);
    assert_eq!(server.requests()[1].range.as_deref(), Some("bytes=60000-"));
    assert_eq!(
        server.requests()[1].if_range,
        Some(kforge_testkit::http::etag(&data))
    );

    // Now that the digest is known, fetch finds it without a request.
    let n = server.requests().len();
    let again = fetch(
        &cache,
        &url_item(server.url("/l.tar"), Some(sri(&data))),
        false,
    )
    .unwrap();
    assert_eq!(again.path, got.path);
    assert_eq!(server.requests().len(), n);

    // Unverified means downloaded again, each time.
    let third = kforge_source::fetch_unverified(&cache, &item, false).unwrap();
    assert_eq!(third.sha256, sha256(&data));
    assert_eq!(server.requests().len(), n + 1);
    assert_eq!(names(&cache.downloads_dir()), [hex(&sha256(&data))]);
}

/// `url = "file:///..."` is read in place like a `tarball` path (it failed
/// with "http: invalid format"); a local path that is not a regular file
/// is refused at once, not read forever (`/dev/zero`) or waited on.
#[test]
fn file_urls_and_local_paths_that_are_not_files() {
    let d = tempfile::tempdir().unwrap();
    let cache = Cache::new(d.path().join("cache"));
    let data = payload(5_000);
    let tarball = d.path().join("l.tar");
    std::fs::write(&tarball, &data).unwrap();
    let decl = d.path().join("kernel.toml");
    std::fs::write(
        &decl,
        format!(
            "[source]\nversion = \"6.1\"\nurl = \"file://{}\"\nhash = \"{}\"\n\n\
             [build]\narch = \"x86_64\"\nbase = \"tinyconfig\"\n",
            tarball.display(),
            sri(&data)
        ),
    )
    .unwrap();
    let spec = kforge_declaration::Spec::load(&decl).unwrap();
    let item = Fetchable::from_source(&spec.source).unwrap();
    let got = fetch(&cache, &item, false).unwrap();
    assert_eq!(got.path, tarball);
    assert_eq!(got.sha256, sha256(&data));

    let item = Fetchable {
        location: Location::Path("/dev/zero".into()),
        hash: None,
        what: "the source tarball".into(),
        origin: Some("kernel.toml:3:1".into()),
    };
    let err = fetch(&cache, &item, false).unwrap_err().to_string();
    assert!(
        err.contains("it is a character device, not a regular file; the source tarball is read from a regular file"),
        "{err}"
    );
}
