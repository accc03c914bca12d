//! Stage 2 for `[external.NAME]`: sources found, fingerprinted and
//! unpacked, and the ways one is refused before anything is built.

use std::path::Path;

use kforge_declaration::Spec;
use kforge_pipeline::source::prepare_externals;
use kforge_pipeline::Error;

const HEAD: &str = "[source]\nversion = \"6.1\"\n[build]\narch = \"x86_64\"\n";

fn spec(dir: &Path, body: &str) -> Spec {
    let p = dir.join("kernel.toml");
    std::fs::write(&p, format!("{HEAD}{body}")).unwrap();
    Spec::load(&p).unwrap()
}

/// Stage 2 for the externals, with a cache of the test's own.
fn prepare(dir: &Path, s: &Spec) -> Result<Vec<kforge_pipeline::source::ExternalTree>, Error> {
    prepare_externals(&kforge_source::Cache::new(dir.join("cache")), s, false)
}

#[test]
fn a_path_is_fingerprinted_by_content_without_kbuild_outputs() {
    let d = tempfile::tempdir().unwrap();
    let m = d.path().join("hello");
    std::fs::create_dir_all(&m).unwrap();
    std::fs::write(m.join("Kbuild"), "obj-m := hello.o\n").unwrap();
    std::fs::write(m.join("hello.c"), "int x;\n").unwrap();
    let s = spec(d.path(), "[external.hello]\npath = \"hello\"\n");
    let a = prepare(d.path(), &s).unwrap();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].dir, std::fs::canonicalize(&m).unwrap());
    assert!(a[0].digest.starts_with("path:"), "{}", a[0].digest);
    // A hand build in the directory: the same source.
    std::fs::write(m.join("hello.o"), "obj").unwrap();
    std::fs::write(m.join(".hello.o.cmd"), "cmd").unwrap();
    let b = prepare(d.path(), &s).unwrap();
    assert_eq!(a[0].digest, b[0].digest);
    // An edit: another; undone: the first again.
    std::fs::write(m.join("hello.c"), "int y;\n").unwrap();
    let c = prepare(d.path(), &s).unwrap();
    assert_ne!(a[0].digest, c[0].digest);
    std::fs::write(m.join("hello.c"), "int x;\n").unwrap();
    let e = prepare(d.path(), &s).unwrap();
    assert_eq!(a[0].digest, e[0].digest);
}

#[test]
fn a_directory_without_kbuild_or_makefile_is_refused() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("empty")).unwrap();
    let s = spec(d.path(), "[external.empty]\npath = \"empty\"\n");
    let e = prepare(d.path(), &s).unwrap_err();
    assert!(matches!(e, Error::ExternalNotAModule { .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.contains("kernel.toml:5:"), "{text}");
    assert!(
        text.contains("external module `empty`: ") && text.ends_with("has no Kbuild or Makefile"),
        "{text}"
    );
    // A path that does not exist.
    let s = spec(d.path(), "[external.gone]\npath = \"gone\"\n");
    let e = prepare(d.path(), &s).unwrap_err();
    assert!(matches!(e, Error::ExternalSource { .. }), "{e:?}");
    assert!(e.to_string().contains("external module `gone`"), "{e}");
}

#[test]
fn an_archive_is_verified_then_unpacked_with_its_subdir() {
    let d = tempfile::tempdir().unwrap();
    // A tar holding mod-1.0/src/Kbuild, written with the tar crate's
    // format by hand: one directory level and a file.
    let tar_path = d.path().join("mod.tar");
    {
        let f = std::fs::File::create(&tar_path).unwrap();
        let mut b = tar::Builder::new(f);
        let data = b"obj-m := m.o\n";
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "mod-1.0/src/Kbuild", &data[..])
            .unwrap();
        b.finish().unwrap();
    }
    let bytes = std::fs::read(&tar_path).unwrap();
    let sri = kforge_declaration::sri(&sha256(&bytes));
    let s = spec(
        d.path(),
        &format!("[external.m]\ntarball = \"mod.tar\"\nhash = \"{sri}\"\nsubdir = \"src\"\n"),
    );
    let got = prepare(d.path(), &s).unwrap();
    assert!(got[0].dir.join("Kbuild").is_file(), "{:?}", got[0].dir);
    assert!(got[0].dir.ends_with("src"));
    assert!(got[0].digest.starts_with("archive:"));
    // The same archive declared with another hash: refused, nothing new
    // unpacked.
    let wrong = kforge_declaration::sri(&[0u8; 32]);
    let s = spec(
        d.path(),
        &format!("[external.m]\ntarball = \"mod.tar\"\nhash = \"{wrong}\"\n"),
    );
    let e = prepare(d.path(), &s).unwrap_err();
    let text = e.to_string();
    assert!(text.contains("external module `m`"), "{text}");
    assert!(text.contains(&sri), "the actual hash is named: {text}");
}

fn sha256(b: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(b).into()
}
