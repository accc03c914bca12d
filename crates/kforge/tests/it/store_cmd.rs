//! `kforge store` and substitution from binary caches.
//!
//! The hermetic tier works on a small hand-made entry and a `file://`
//! cache: keygen, push and pull, a refusal with its reason, errors in
//! `[store]` with their place. The oracle tier (feature `oracle-tests`)
//! uses a real S3 server (s3s over its file system backend, `kforge_testkit::s3`) and the QEMU
//! example's entry from the shared store (built by whichever real-build
//! test comes first; this one builds nothing more): pushed, then
//! substituted into an empty store by `kforge build`, past an unreachable
//! substituter.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::text;

fn kforge(cache: &Path, cwd: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kforge"));
    c.env("XDG_CACHE_HOME", cache)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .current_dir(cwd);
    c
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A hand-made entry in the store under `cache`.
fn fake_entry(cache: &Path, name: &str) -> PathBuf {
    let e = cache.join("kforge/store").join(name);
    std::fs::create_dir_all(e.join("kernel")).unwrap();
    std::fs::write(e.join("kernel/bzImage"), kforge_testkit::noise(50_000, 3)).unwrap();
    std::fs::write(e.join("manifest.json"), "{}").unwrap();
    e
}

fn name(c: char) -> String {
    format!("{}-linux-6.1.0-x86_64", c.to_string().repeat(32))
}

/// `kforge store keygen NAME` in `dir`: the public key's text.
fn keygen(dir: &Path, key: &str) -> String {
    let o = kforge(dir, dir)
        .args(["store", "keygen", key])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    std::fs::read_to_string(dir.join(format!("{key}.public")))
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn keygen_writes_a_pair_and_never_replaces_it() {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    let public = keygen(d.path(), "ci-1");
    assert!(public.starts_with("ci-1:"), "{public}");
    let secret = d.path().join("ci-1.secret");
    let mode = std::fs::metadata(&secret).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let before = std::fs::read(&secret).unwrap();
    let o = kforge(d.path(), d.path())
        .args(["store", "keygen", "ci-1"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        stderr(&o).contains("ci-1.secret: exists already; a key is never replaced"),
        "{}",
        text(&o)
    );
    assert_eq!(std::fs::read(&secret).unwrap(), before);
}

#[test]
fn push_and_pull_through_a_directory() {
    let d = tempfile::tempdir().unwrap();
    let a = d.path().join("a");
    let entry = fake_entry(&a, &name('a'));
    let public = keygen(d.path(), "ci-1");
    let url = format!("file://{}", d.path().join("cache").display());
    let key = d.path().join("ci-1.secret");
    // Pushed by a path into the entry (as ./result would be).
    let o = push(&mut kforge(&a, d.path()), &entry, &url, &key);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        stderr(&o).contains(&format!("kforge: pushed {} to {url}", name('a'))),
        "{}",
        text(&o)
    );
    // Again, with --all and the key from KFORGE_SIGNING_KEY: nothing
    // uploaded.
    let o = kforge(&a, d.path())
        .args(["store", "push", "--all", &url])
        .env("KFORGE_SIGNING_KEY", &key)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        stderr(&o).contains("in ") && stderr(&o).contains("already"),
        "{}",
        text(&o)
    );
    // Pulled by its store key alone, trusting the key.
    let b = d.path().join("b");
    let o = kforge(&b, d.path())
        .args([
            "store",
            "pull",
            &"a".repeat(32),
            &url,
            "--trusted-key",
            &public,
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let pulled = b.join("kforge/store").join(name('a'));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        pulled.display().to_string()
    );
    assert_eq!(
        std::fs::read(pulled.join("kernel/bzImage")).unwrap(),
        std::fs::read(entry.join("kernel/bzImage")).unwrap()
    );
    // A changed byte in the archive: refused with the reason, exit 1,
    // nothing in the store.
    let archive = d
        .path()
        .join("cache")
        .join(format!("{}.tar.zst", name('a')));
    let mut bytes = std::fs::read(&archive).unwrap();
    bytes[200] ^= 4;
    std::fs::write(&archive, bytes).unwrap();
    let c = d.path().join("c");
    let o = kforge(&c, d.path())
        .args(["store", "pull", &name('a'), &url, "--trusted-key", &public])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        stderr(&o).contains("was changed: its SHA-256 is"),
        "{}",
        text(&o)
    );
    assert!(!c.join("kforge/store").join(name('a')).exists());
    // An untrusted key, from a declaration's [store] trusted_keys.
    let other = keygen(d.path(), "other");
    let spec = d.path().join("kernel.toml");
    std::fs::write(
        &spec,
        format!("[source]\nversion = \"6.1\"\n[build]\narch = \"x86_64\"\n[store]\ntrusted_keys = [\"{other}\"]\n"),
    )
    .unwrap();
    let o = kforge(&c, d.path())
        .args(["store", "pull", &name('a'), &url])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        stderr(&o)
            .contains("is signed by `ci-1`, which is not a trusted key (trusted: other); refused"),
        "{}",
        text(&o)
    );
}

#[test]
fn store_errors_in_kernel_toml_show_their_place() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("kernel.toml"),
        "[source]\nversion = \"6.1\"\n[build]\narch = \"x86_64\"\n[store]\nsubstituters = [\"s3:///no-bucket\"]\n",
    )
    .unwrap();
    let o = kforge(d.path(), d.path())
        .args(["build", "kernel.toml", "--dry-run"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let e = stderr(&o);
    assert!(
        e.contains("`s3:///no-bucket` is not a binary cache URL: an s3:// URL names its bucket"),
        "{e}"
    );
    assert!(e.contains("kernel.toml:6:17"), "{e}");
    // --push with nowhere to push.
    std::fs::write(
        d.path().join("kernel.toml"),
        "[source]\nversion = \"6.1\"\n[build]\narch = \"x86_64\"\n",
    )
    .unwrap();
    let o = kforge(d.path(), d.path())
        .args(["build", "kernel.toml", "--push", "--key", "k.secret"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        stderr(&o).contains("the declaration has no [store] substituters to push to"),
        "{}",
        text(&o)
    );
    // --push with a destination but no key, and none in KFORGE_SIGNING_KEY.
    let o = kforge(d.path(), d.path())
        .env_remove("KFORGE_SIGNING_KEY")
        .args(["build", "kernel.toml", "--push=file:///tmp/nowhere"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        stderr(&o).contains("a push needs a secret key to sign with")
            && stderr(&o).contains("set KFORGE_SIGNING_KEY"),
        "{}",
        text(&o)
    );
    // A malformed URL on the command line.
    let o = kforge(d.path(), d.path())
        .args([
            "store",
            "pull",
            &name('a'),
            "gs://bucket",
            "--trusted-key",
            "k:AAAA",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        stderr(&o).contains("--trusted-key `k:AAAA` is not a public key"),
        "{}",
        text(&o)
    );
}

#[cfg(feature = "oracle-tests")]
mod oracle {
    use super::*;
    use crate::common::repo_root;
    use kforge_testkit::s3::Server;
    use std::time::Instant;

    /// The QEMU example's entry in the shared store, built (or found) as
    /// the other real-build tests do: the key's lock makes one build, the
    /// others find it.
    fn example_entry(dir: &Path) -> (PathBuf, PathBuf) {
        let shared = kforge_testkit::shared_store();
        let spec = variant(dir, "example", "");
        let o = Command::new(env!("CARGO_BIN_EXE_kforge"))
            .env("XDG_CACHE_HOME", &shared.cache)
            .env("PATH", &shared.path)
            .current_dir(dir)
            .arg("build")
            .arg(&spec)
            .arg("--tree")
            .arg(kforge_testkit::oracle_tree("6.1"))
            .args(["--out-link", "shared-result"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        (std::fs::read_link(dir.join("shared-result")).unwrap(), spec)
    }

    /// The example with the profile's path made absolute and `store`
    /// appended.
    fn variant(dir: &Path, name: &str, store: &str) -> PathBuf {
        let example =
            std::fs::read_to_string(repo_root().join("examples/qemu-x86_64.toml")).unwrap();
        let s = example.replace(
            "include = [\"../profiles/qemu.toml\"]",
            &format!(
                "include = [\"{}\"]",
                repo_root().join("profiles/qemu.toml").display()
            ),
        );
        let p = dir.join(format!("{name}.toml"));
        std::fs::write(&p, format!("{s}\n{store}")).unwrap();
        p
    }

    /// Every file of an entry with its bytes (links as their target).
    fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                let m = std::fs::symlink_metadata(&p).unwrap();
                let rel = p.strip_prefix(dir).unwrap().to_path_buf();
                if m.file_type().is_symlink() {
                    out.push((
                        rel,
                        std::fs::read_link(&p)
                            .unwrap()
                            .into_os_string()
                            .into_encoded_bytes(),
                    ));
                } else if m.is_dir() {
                    stack.push(p);
                } else {
                    out.push((rel, std::fs::read(&p).unwrap()));
                }
            }
        }
        out.sort();
        out
    }

    /// Acceptance: the QEMU example pushed to S3, then `kforge build` in an
    /// empty store: the unreachable substituter is warned about, the entry
    /// substituted and verified (the same bytes), make never runs; again
    /// without the entry: substituted without resolving, timed.
    #[test]
    fn the_qemu_example_is_substituted_from_s3() {
        let d = tempfile::tempdir().unwrap();
        let (entry, _) = example_entry(d.path());
        let shared = kforge_testkit::shared_store();
        let server = Server::start();
        server.bucket("kernels");
        let url = server.url("kernels", "ci");
        let public = keygen(d.path(), "ci-1");
        let key = d.path().join("ci-1.secret");

        // ---- refused, with the server's reason: a wrong secret, and a key
        // the server lets use another bucket only
        let wrong = [
            ("AWS_ACCESS_KEY_ID", server.access_key.clone()),
            ("AWS_SECRET_ACCESS_KEY", "wrong".to_string()),
        ];
        for (creds, reason) in [
            (wrong, "SignatureDoesNotMatch"),
            (server.key_for_bucket("elsewhere"), "AccessDenied"),
        ] {
            let o = push(
                kforge(&shared.cache, d.path()).envs(creds),
                &entry,
                &url,
                &key,
            );
            assert_eq!(o.status.code(), Some(1), "{}", text(&o));
            assert!(stderr(&o).contains("access denied"), "{}", text(&o));
            assert!(stderr(&o).contains(reason), "{}", text(&o));
        }

        // ---- the push
        let t = Instant::now();
        let o = push(
            kforge(&shared.cache, d.path()).envs(server.env()),
            &entry,
            &url,
            &key,
        );
        assert!(o.status.success(), "{}", text(&o));
        eprintln!(
            "push: {:.2}s: {}",
            t.elapsed().as_secs_f64(),
            stderr(&o).trim()
        );

        // ---- kforge build in an empty store, past a closed port
        let port = kforge_testkit::free_port();
        let closed = format!("s3://kernels/ci?endpoint=http://127.0.0.1:{port}");
        let spec = variant(
            d.path(),
            "substituted",
            &format!("[store]\nsubstituters = [\"{closed}\", \"{url}\"]\ntrusted_keys = [\"{public}\"]\n"),
        );
        let private = d.path().join("private");
        let build = |label: &str, extra: &[String]| {
            let t = Instant::now();
            let child = kforge(&private, d.path())
                .envs(server.env())
                .env("PATH", &shared.path)
                .arg("build")
                .arg(&spec)
                .arg("--tree")
                .arg(kforge_testkit::oracle_tree("6.1"))
                .args(extra)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let pid = child.id();
            let o = child.wait_with_output().unwrap();
            let secs = t.elapsed().as_secs_f64();
            eprintln!("kforge build ({label}): {secs:.2}s");
            assert!(o.status.success(), "{}", text(&o));
            assert_eq!(shared.make_runs_by(pid), 0, "make ran: {}", text(&o));
            (o, secs)
        };
        // Substituted, then pushed on to a mirror directory (--push=DEST).
        let mirror = d.path().join("mirror");
        let push = [
            format!("--push=file://{}", mirror.display()),
            format!("--key={}", key.display()),
        ];
        let (o, _) = build("resolved, substituted, pushed", &push);
        let e = stderr(&o);
        assert!(e.contains("kforge: pushed"), "{e}");
        let name_s = entry.file_name().unwrap().to_string_lossy().into_owned();
        assert!(mirror.join(format!("{name_s}.manifest")).is_file());
        assert!(
            e.contains(&format!(
                "warning: substituter {closed} not used: {closed}: unreachable"
            )),
            "{e}"
        );
        assert!(e.contains(&format!("from {url} in ")), "{e}");
        let name = entry.file_name().unwrap();
        let got = private.join("kforge/store").join(name);
        assert_eq!(
            String::from_utf8_lossy(&o.stdout).trim(),
            got.display().to_string()
        );
        assert!(
            files(&got) == files(&entry),
            "the substituted entry differs"
        );

        // ---- the local entry removed: substituted without resolving
        std::fs::remove_dir_all(&got).unwrap();
        let (o, secs) = build("memo, substituted", &[]);
        let e = stderr(&o);
        assert!(e.contains("resolves as before"), "{e}");
        assert!(e.contains("kforge: substituted"), "{e}");
        assert!(got.join("kernel/bzImage").is_file());
        // The figure is bench/substitute's; here only a bound a loaded CI
        // machine keeps.
        assert!(secs < 60.0, "{secs}");
    }
}

/// `kforge matrix` marks a job cached when a `[store] substituter` has its
/// entry, and warns once about one it cannot reach.
#[test]
fn matrix_asks_the_substituters() {
    let d = tempfile::tempdir().unwrap();
    let (tree, _state) = crate::build_cmd::fake_tree(d.path());
    let cache_dir = d.path().join("bincache");
    std::fs::create_dir_all(&cache_dir).unwrap();
    let url = format!("file://{}", cache_dir.display());
    let port = kforge_testkit::free_port();
    let closed = format!("http://127.0.0.1:{port}/cache");
    let spec = d.path().join("router.toml");
    std::fs::write(
        &spec,
        format!(
            "[source]\nversion = \"6.1\"\n\n[build]\narch = \"x86_64\"\nbase = \"allnoconfig\"\n\n[store]\nsubstituters = [\"{closed}\", \"{url}\"]\n"
        ),
    )
    .unwrap();
    let planner = d.path().join("planner");
    let matrix = || {
        let o = crate::build_cmd::kforge(&planner, d.path())
            .arg("matrix")
            .arg(&spec)
            .arg("--tree")
            .arg(&tree)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        (v["jobs"][0].clone(), stderr(&o))
    };
    let (job, err) = matrix();
    assert!(job["cached"].is_null(), "{job}");
    assert_eq!(
        err.matches(&format!("warning: substituter {closed} not used"))
            .count(),
        1,
        "{err}"
    );
    // The entry pushed by a builder: the job is cached, at that URL.
    let entry = job["entry"].as_str().unwrap().to_string();
    let builder = d.path().join("builder");
    fake_entry(&builder, &entry);
    keygen(d.path(), "ci-1");
    let o = kforge(&builder, d.path())
        .args(["store", "push", &entry, &url, "--key"])
        .arg(d.path().join("ci-1.secret"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let (job, _) = matrix();
    assert_eq!(job["cached"], url.as_str(), "{job}");
}

/// `kforge store push ENTRY URL --key KEY` run by `c`.
fn push(c: &mut Command, entry: &Path, url: &str, key: &Path) -> Output {
    c.args(["store", "push"])
        .arg(entry)
        .arg(url)
        .arg("--key")
        .arg(key)
        .output()
        .unwrap()
}
