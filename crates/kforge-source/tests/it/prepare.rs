//! `prepare`: source, patches and post_patch from a declaration, cached by
//! key, prepared once even when asked for concurrently, and never left half
//! done.

use crate::common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use common::{gzip, kernel_tar, names, sha256, sri, xz, Mode, Server, MAIN_C};
use kforge_source::{prepare, Cache, SourceError};

const ONE: &str = "--- a/Makefile\n+++ b/Makefile\n@@ -1,3 +1,3 @@\n VERSION = 0\n PATCHLEVEL = 1\n-EXTRAVERSION =\n+EXTRAVERSION = -one\n";
const TWO: &str =
    "--- init/main.c\n+++ init/main.c\n@@ -1,3 +1,3 @@\n line 1\n-line 2\n+two\n line 3\n";

/// A declaration directory: the tarball, patch one (local, gzip, no
/// hash), and `kernel.toml` with `extra` appended.
struct Decl {
    dir: tempfile::TempDir,
    tarball: Vec<u8>,
}

impl Decl {
    fn new() -> Decl {
        let dir = tempfile::tempdir().unwrap();
        let tarball = xz(&kernel_tar());
        std::fs::write(dir.path().join("linux-0.1.tar.xz"), &tarball).unwrap();
        std::fs::create_dir(dir.path().join("patches")).unwrap();
        std::fs::write(
            dir.path().join("patches/one.patch.gz"),
            gzip(ONE.as_bytes()),
        )
        .unwrap();
        Decl { dir, tarball }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `kernel.toml` with the local tarball and its hash, `build` lines in
    /// `[build]`, and `rest` after.
    fn write(&self, build: &str, rest: &str) -> PathBuf {
        let text = format!(
            "[source]\nversion = \"0.1\"\ntarball = \"linux-0.1.tar.xz\"\nhash = \"{}\"\n\n[build]\narch = \"x86_64\"\n{build}\n\n{rest}",
            sri(&self.tarball)
        );
        let p = self.path().join("kernel.toml");
        std::fs::write(&p, text).unwrap();
        p
    }

    fn cache(&self) -> Cache {
        Cache::new(self.path().join("cache"))
    }

    fn count(&self) -> usize {
        std::fs::read_to_string(self.path().join("count")).map_or(0, |s| s.lines().count())
    }

    /// A post_patch that counts its runs in `count` and leaves a mark.
    fn counting(&self, extra: &str) -> String {
        format!(
            "post_patch = '''\necho x >> {}\n{extra}\necho prepared > MARK\n'''",
            self.path().join("count").display()
        )
    }
}

fn load(path: &Path) -> kforge_declaration::Spec {
    kforge_declaration::Spec::load(path).unwrap_or_else(|e| panic!("{e}"))
}

const PATCHES: &str = "[[patches]]\nname = \"one\"\nfile = \"patches/one.patch.gz\"\n";

#[test]
fn prepares_once_then_reuses() {
    let d = Decl::new();
    let two = TWO.as_bytes().to_vec();
    let server = Server::start(
        HashMap::from([("/two.patch".into(), two.clone())]),
        Mode::Normal,
    );
    let patches = format!(
        "{PATCHES}\n[[patches]]\nname = \"two\"\nurl = \"{}\"\nhash = \"{}\"\nstrip = 0\n",
        server.url("/two.patch"),
        sri(&two)
    );
    let file = d.write(&d.counting(""), &patches);
    let cache = d.cache();
    let p = prepare(&cache, &load(&file), false).unwrap();
    assert!(!p.reused);
    assert_eq!(p.tree, cache.sources_dir().join(&p.key));
    assert_eq!(p.source_sha256, sha256(&d.tarball));
    assert_eq!(
        p.patch_sha256,
        [sha256(&gzip(ONE.as_bytes())), sha256(&two)]
    );
    let makefile = std::fs::read_to_string(p.tree.join("Makefile")).unwrap();
    assert!(makefile.contains("EXTRAVERSION = -one\n"), "{makefile}");
    assert_eq!(
        std::fs::read_to_string(p.tree.join("init/main.c")).unwrap(),
        MAIN_C.replace("line 2\n", "two\n")
    );
    assert_eq!(
        std::fs::read_to_string(p.tree.join("MARK")).unwrap(),
        "prepared\n"
    );
    assert_eq!(d.count(), 1);
    // Only the finished tree in sources/, only the download in downloads/.
    assert_eq!(names(&cache.sources_dir()), [p.key.as_str()]);
    assert_eq!(names(&cache.downloads_dir()).len(), 1);

    // Again: reused, nothing run or downloaded.
    let again = prepare(&cache, &load(&file), false).unwrap();
    assert!(again.reused);
    assert_eq!((again.key.as_str(), &again.tree), (p.key.as_str(), &p.tree));
    assert_eq!(d.count(), 1);
    assert_eq!(server.requests().len(), 1);

    // A different post_patch is a different tree; the download is reused.
    let file = d.write(&d.counting("touch OTHER"), &patches);
    let other = prepare(&cache, &load(&file), false).unwrap();
    assert!(!other.reused);
    assert_ne!(other.key, p.key);
    assert!(other.tree.join("OTHER").exists() && !p.tree.join("OTHER").exists());
    assert_eq!(d.count(), 2);
    assert_eq!(server.requests().len(), 1);

    // A change that touches no input (a comment) keeps the key.
    let file = d.write(
        &d.counting("touch OTHER"),
        &patches.replace("strip = 0", "strip = 0\n# same"),
    );
    assert_eq!(prepare(&cache, &load(&file), false).unwrap().key, other.key);
}

#[test]
fn a_wrong_hash_leaves_nothing() {
    let d = Decl::new();
    let file = d.write("", PATCHES);
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace(&sri(&d.tarball), &sri(b"something else"));
    std::fs::write(&file, text).unwrap();
    let cache = d.cache();
    let err = prepare(&cache, &load(&file), false).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, SourceError::HashMismatch { .. }), "{msg}");
    assert!(
        msg.starts_with(
            "$DIR/kernel.toml:1:1: the source tarball ("
                .replace("$DIR", &d.path().display().to_string())
                .as_str()
        ),
        "{msg}"
    );
    assert!(names(&cache.downloads_dir()).is_empty());
    assert!(names(&cache.sources_dir()).is_empty());

    // A downloaded source with the wrong hash: the same.
    let server = Server::start(
        HashMap::from([("/l.tar.xz".into(), d.tarball.clone())]),
        Mode::Normal,
    );
    let text = format!(
        "[source]\nversion = \"0.1\"\nurl = \"{}\"\nhash = \"{}\"\n[build]\narch = \"x86_64\"\n",
        server.url("/l.tar.xz"),
        sri(b"something else")
    );
    std::fs::write(&file, text).unwrap();
    let err = prepare(&cache, &load(&file), false).unwrap_err();
    assert!(matches!(err, SourceError::HashMismatch { .. }), "{err}");
    assert!(names(&cache.downloads_dir()).is_empty());
    assert!(names(&cache.sources_dir()).is_empty());
}

#[test]
fn a_downloaded_source() {
    let d = Decl::new();
    let server = Server::start(
        HashMap::from([("/l.tar.xz".into(), d.tarball.clone())]),
        Mode::Normal,
    );
    let file = d.path().join("kernel.toml");
    std::fs::write(
        &file,
        format!(
            "[source]\nversion = \"0.1\"\nurl = \"{}\"\nhash = \"{}\"\n[build]\narch = \"x86_64\"\n",
            server.url("/l.tar.xz"),
            sri(&d.tarball)
        ),
    )
    .unwrap();
    let cache = d.cache();
    let p = prepare(&cache, &load(&file), false).unwrap();
    assert_eq!(
        std::fs::read_to_string(p.tree.join("init/main.c")).unwrap(),
        MAIN_C
    );
    assert_eq!(p.patch_sha256, Vec::<[u8; 32]>::new());

    // Without a hash: refused at the declaration, nothing requested.
    std::fs::write(
        &file,
        format!(
            "[source]\nversion = \"0.1\"\nurl = \"{}\"\n[build]\narch = \"x86_64\"\n",
            server.url("/l.tar.xz")
        ),
    )
    .unwrap();
    let msg = prepare(&cache, &load(&file), false)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("kernel.toml:1:1: the source tarball (http://")
            && msg.contains("has no `hash`"),
        "{msg}"
    );
    assert_eq!(server.requests().len(), 1);

    // No tarball and no URL.
    std::fs::write(
        &file,
        "[source]\nversion = \"0.1\"\n[build]\narch = \"x86_64\"\n",
    )
    .unwrap();
    let err = prepare(&cache, &load(&file), false).unwrap_err();
    assert!(matches!(err, SourceError::NoSource { .. }), "{err}");
}

#[test]
fn failures_leave_no_cache_entry() {
    let d = Decl::new();
    let cache = d.cache();
    // A patch that does not apply (the same patch twice).
    let twice =
        format!("{PATCHES}\n[[patches]]\nname = \"again\"\nfile = \"patches/one.patch.gz\"\n");
    let file = d.write(&d.counting(""), &twice);
    let msg = prepare(&cache, &load(&file), false)
        .unwrap_err()
        .to_string();
    assert!(msg.starts_with("patch `again`"), "{msg}");
    assert!(names(&cache.sources_dir()).is_empty());
    assert_eq!(d.count(), 0);

    // A failing post_patch.
    let file = d.write(&d.counting("echo broken >&2; exit 4"), PATCHES);
    let msg = prepare(&cache, &load(&file), false)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("exit code 4") && msg.contains("| broken"),
        "{msg}"
    );
    assert!(names(&cache.sources_dir()).is_empty());

    // A post_patch that makes its directories read-only is cleaned up too.
    let file = d.write(&d.counting("chmod -R a-w . ; exit 1"), PATCHES);
    prepare(&cache, &load(&file), false).unwrap_err();
    assert!(names(&cache.sources_dir()).is_empty());
}

#[test]
fn concurrent_threads_prepare_once() {
    let d = Decl::new();
    let file = d.write(&d.counting("sleep 0.3"), PATCHES);
    let cache = d.cache();
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3)
            .map(|_| s.spawn(|| prepare(&cache, &load(&file), false).unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(d.count(), 1);
    assert_eq!(results.iter().filter(|p| !p.reused).count(), 1);
    assert!(results.iter().all(|p| p.tree == results[0].tree));
    assert_eq!(names(&cache.sources_dir()), [results[0].key.as_str()]);
}

/// The child side of [`concurrent_processes_prepare_once`]: does nothing
/// unless started by it.
#[test]
fn child_prepare() {
    let (Some(spec), Some(cache)) = (
        std::env::var_os("KFORGE_TEST_SPEC"),
        std::env::var_os("KFORGE_TEST_CACHE"),
    ) else {
        return;
    };
    prepare(&Cache::new(cache), &load(Path::new(&spec)), false).unwrap();
}

#[test]
fn concurrent_processes_prepare_once() {
    let d = Decl::new();
    let file = d.write(&d.counting("sleep 0.3"), PATCHES);
    let cache = d.cache();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..2)
        .map(|_| {
            std::process::Command::new(&exe)
                .args(["--exact", "prepare::child_prepare", "--test-threads=1"])
                .env("KFORGE_TEST_SPEC", &file)
                .env("KFORGE_TEST_CACHE", cache.root())
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    assert_eq!(d.count(), 1);
    assert_eq!(names(&cache.sources_dir()).len(), 1);
}
