//! `kforge update` against a fake kernel.org on 127.0.0.1: a release list
//! and tarballs made at test time. Bumps, new branches, end of life,
//! release candidates, --dry-run, --commit, and the faults (each leaving
//! the lock as it was). `--check` between the real 6.1 and 6.12 trees is
//! in `update_check.rs`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::{Digest, Sha256};

// --- the fake kernel.org ---------------------------------------------------

// The server and its replies live in kforge-testkit (shared with the
// source crate's fetch tests).
use kforge_testkit::http::{Reply, Server};

// --- releases and tarballs ---------------------------------------------------

/// A small `linux-<version>.tar`, made with tar(1) from a tree with a
/// Makefile and some filler, so it is a real archive of some size;
/// reproducible (the same bytes for the same version, whenever made).
fn tar(version: &str) -> Vec<u8> {
    let d = tempfile::tempdir().unwrap();
    let top = d.path().join(format!("linux-{version}"));
    std::fs::create_dir_all(top.join("init")).unwrap();
    std::fs::write(
        top.join("Makefile"),
        format!("# linux {version}\nVERSION = 6\n"),
    )
    .unwrap();
    let filler: String = (0..4000)
        .map(|i| format!("line {i} of {version}\n"))
        .collect();
    std::fs::write(top.join("init/main.c"), filler).unwrap();
    let out = Command::new("tar")
        .arg("-C")
        .arg(d.path())
        .args([
            "--sort=name",
            "--mtime=@1700000000",
            "--owner=0",
            "--group=0",
            "--numeric-owner",
            "-cf",
            "-",
            &format!("linux-{version}"),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    out.stdout
}

/// [`tar`] compressed with gzip(1) (`-n`: reproducible).
fn tarball(version: &str) -> Vec<u8> {
    let mut child = Command::new("gzip")
        .args(["-n", "-c"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let data = tar(version);
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&data).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success());
    out.stdout
}

fn sri(data: &[u8]) -> String {
    kforge_declaration::sri(&Sha256::digest(data).into())
}

/// One entry of the list: (moniker, version, iseol).
struct Rel(&'static str, &'static str, bool);

/// A kernel.org-like release list whose tarballs are served by `server`
/// (and registered there).
fn publish(server: &Server, releases: &[Rel]) {
    publish_signed(server, releases, None)
}

/// Makes a `.tar.sign` given the version and the uncompressed tar.
type Signer<'a> = dyn Fn(&str, &[u8]) -> Vec<u8> + 'a;

/// [`publish`], each tarball with a `.tar.sign` made by `sign` (given the
/// version and the uncompressed tar) when there is one.
fn publish_signed(server: &Server, releases: &[Rel], sign: Option<&Signer>) {
    let mut entries = Vec::new();
    for Rel(moniker, version, eol) in releases {
        let path = format!("/pub/linux-{version}.tar.gz");
        server.set(&path, Reply::ok(tarball(version)));
        let pgp = match sign {
            Some(sign) if *moniker != "mainline" => {
                let sig = format!("/pub/linux-{version}.tar.sign");
                server.set(&sig, Reply::ok(sign(version, &tar(version))));
                format!("\"{}\"", server.url(&sig))
            }
            _ => "null".to_string(),
        };
        entries.push(format!(
            r#"    {{ "iseol": {eol}, "version": "{version}", "moniker": "{moniker}",
      "source": "{}", "pgp": {pgp},
      "released": {{ "timestamp": 1765800000, "isodate": "2025-12-15" }},
      "gitweb": "https://git.kernel.org/x", "changelog": null,
      "diffview": "x", "patch": {{ "full": "x", "incremental": null }} }}"#,
            server.url(&path)
        ));
    }
    server.set(
        "/releases.json",
        Reply::ok(format!(
            "{{\n  \"latest_stable\": {{ \"version\": \"6.18.1\" }},\n  \"releases\": [\n{}\n  ]\n}}\n",
            entries.join(",\n")
        )),
    );
}

// --- running kforge ------------------------------------------------------------

struct Env {
    dir: tempfile::TempDir,
    server: Server,
}

impl Env {
    fn new() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
            server: Server::empty(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn lock(&self) -> PathBuf {
        self.path("repo/kernels.lock.toml")
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    fn read_lock(&self) -> String {
        std::fs::read_to_string(self.lock()).unwrap()
    }

    /// `kforge update --lock <lock> --releases-url <server> ARGS`, with a
    /// cache of its own.
    fn update(&self, extra: &[&str]) -> (Output, String) {
        std::fs::create_dir_all(self.path("repo")).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_kforge"))
            .env("XDG_CACHE_HOME", self.path("cache"))
            .arg("update")
            .arg("--lock")
            .arg(self.lock())
            .arg("--releases-url")
            .arg(self.server.url("/releases.json"))
            .args(extra)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out, text)
    }

    /// Run update and expect success.
    fn ok(&self, extra: &[&str]) -> String {
        let (out, text) = self.update(extra);
        assert!(out.status.success(), "{text}");
        text
    }

    /// The names in the lock's directory.
    fn repo_files(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.path("repo"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

fn lock_of(env: &Env) -> kforge_declaration::Lock {
    kforge_declaration::Lock::load(&env.lock()).unwrap()
}

fn b(s: &str) -> kforge_declaration::BranchName {
    s.parse().unwrap()
}

// --- the tests ---------------------------------------------------------------

#[test]
fn a_stable_bump() {
    let env = Env::new();
    publish(&env.server, &[Rel("longterm", "6.6.118", false)]);
    let text = env.ok(&[]);
    assert!(
        text.contains("6.6: new branch at 6.6.118 (longterm)"),
        "{text}"
    );
    let lock = lock_of(&env);
    let e = &lock.branches[&b("6.6")];
    assert_eq!(e.version.to_string(), "6.6.118");
    assert_eq!(e.hash, sri(&tarball("6.6.118")));
    assert!(e.longterm && !e.eol);
    assert_eq!(e.released.as_deref(), Some("2025-12-15"));

    // A declaration that follows the branch.
    let decl = env.write(
        "repo/kernel.toml",
        "[source]\nversion = { branch = \"6.6\" }\n[build]\narch = \"x86_64\"\n",
    );
    let spec = kforge_declaration::Spec::load(&decl).unwrap();
    assert_eq!(spec.source.version_text, "6.6.118");

    publish(&env.server, &[Rel("longterm", "6.6.119", false)]);
    let before = env.read_lock();
    let text = env.ok(&[]);
    assert!(text.contains("6.6: 6.6.118 -> 6.6.119"), "{text}");
    assert!(text.contains(&sri(&tarball("6.6.119"))), "{text}");
    let after = env.read_lock();
    // A small diff: the version, url, hash lines.
    let changed: Vec<(&str, &str)> = before
        .lines()
        .zip(after.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(changed.len(), 3, "{changed:?}");
    assert_eq!(before.lines().count(), after.lines().count());
    let spec = kforge_declaration::Spec::load(&decl).unwrap();
    assert_eq!(spec.source.version_text, "6.6.119");
    assert_eq!(spec.source.hash.unwrap(), sri(&tarball("6.6.119")));
    assert_eq!(env.repo_files(), ["kernel.toml", "kernels.lock.toml"]);

    // Nothing new: nothing downloaded, nothing written.
    let n = env.server.seen().len();
    let text = env.ok(&[]);
    assert!(text.contains("up to date (1 branches)"), "{text}");
    assert_eq!(env.server.seen().len(), n + 1, "only the list");
    assert_eq!(env.read_lock(), after);
}

#[test]
fn a_new_major_is_discovered() {
    let env = Env::new();
    publish(
        &env.server,
        &[
            Rel("stable", "6.17.5", false),
            Rel("longterm", "6.12.60", false),
        ],
    );
    env.ok(&[]);
    publish(
        &env.server,
        &[
            Rel("stable", "6.18.1", false),
            Rel("stable", "6.17.5", false),
            Rel("longterm", "6.12.60", false),
        ],
    );
    // Limited to 6.12: the new branch is not added.
    let text = env.ok(&["--branch", "6.12"]);
    assert!(text.contains("up to date"), "{text}");
    assert!(!lock_of(&env).branches.contains_key(&b("6.18")));
    // Not limited: it is.
    let text = env.ok(&[]);
    assert!(text.contains("6.18: new branch at 6.18.1"), "{text}");
    let lock = lock_of(&env);
    let names: Vec<String> = lock.branches.keys().map(ToString::to_string).collect();
    assert_eq!(names, ["6.12", "6.17", "6.18"]);
    assert_eq!(lock.branches[&b("6.18")].hash, sri(&tarball("6.18.1")));
    // In the file, in version order.
    let text = env.read_lock();
    let at = |s: &str| text.find(s).unwrap();
    assert!(at("[branches.\"6.12\"]") < at("[branches.\"6.17\"]"));
    assert!(at("[branches.\"6.17\"]") < at("[branches.\"6.18\"]"));
    // Asking for a branch nobody knows.
    let (out, text) = env.update(&["--branch", "5.3"]);
    assert!(!out.status.success());
    assert!(
        text.contains("branch 5.3 is neither on the release list nor in the lock file"),
        "{text}"
    );
}

#[test]
fn a_branch_going_end_of_life_names_its_users() {
    let env = Env::new();
    publish(
        &env.server,
        &[
            Rel("stable", "6.18.1", false),
            Rel("stable", "6.17.12", false),
        ],
    );
    env.ok(&[]);
    env.write(
        "repo/router.toml",
        "[source]\nversion = { branch = \"6.17\", lock = \"kernels.lock.toml\" }\n[build]\narch = \"mips\"\n",
    );
    env.write(
        "repo/pinned.toml",
        "[source]\nversion = \"6.17.3\"\n[build]\narch = \"x86_64\"\n",
    );
    env.write(
        "repo/current.toml",
        "[source]\nversion = { branch = \"6.18\" }\n[build]\narch = \"x86_64\"\n",
    );
    // Not a declaration: skipped.
    env.write("repo/profile.toml", "[config]\nA = \"y\"\n");

    publish(
        &env.server,
        &[
            Rel("stable", "6.18.2", false),
            Rel("stable", "6.17.13", true),
        ],
    );
    let text = env.ok(&[]);
    assert!(
        text.contains("6.17: 6.17.12 -> 6.17.13 (end of life)"),
        "{text}"
    );
    assert!(
        text.contains(
            "warning[end-of-life]: linux 6.17 is end of life: 6.17.13 is its last release"
        ),
        "{text}"
    );
    let router = env.path("repo/router.toml");
    assert!(
        text.contains(&format!(
            "still used by {} (follows 6.17, at {}:2:11)",
            router.display(),
            router.display()
        )),
        "{text}"
    );
    assert!(text.contains("pinned.toml (pins 6.17.3"), "{text}");
    assert!(!text.contains("current.toml"), "{text}");
    assert!(
        text.contains("help: move them to a maintained branch: 6.18 (stable)"),
        "{text}"
    );
    let e = &lock_of(&env).branches[&b("6.17")];
    assert!(e.eol);
    assert_eq!(e.version.to_string(), "6.17.13");

    // --spec names the declarations instead of the scan.
    let text = env.ok(&["--spec", env.path("repo/pinned.toml").to_str().unwrap()]);
    assert!(text.contains("pinned.toml (pins 6.17.3"), "{text}");
    assert!(!text.contains("router.toml"), "{text}");
}

#[test]
fn a_release_candidate_on_mainline() {
    let env = Env::new();
    publish(
        &env.server,
        &[
            Rel("mainline", "6.19-rc3", false),
            Rel("stable", "6.18.2", false),
        ],
    );
    let text = env.ok(&[]);
    assert!(text.contains("mainline: new branch at 6.19-rc3"), "{text}");
    let lock = lock_of(&env);
    assert_eq!(
        lock.branches[&kforge_declaration::BranchName::Mainline].version,
        "6.19-rc3".parse().unwrap()
    );
    assert!(env
        .read_lock()
        .contains("[branches.\"mainline\"]\nversion = \"6.19-rc3\""));

    publish(
        &env.server,
        &[
            Rel("mainline", "6.19-rc4", false),
            Rel("stable", "6.18.2", false),
        ],
    );
    let text = env.ok(&["--branch", "mainline"]);
    assert!(text.contains("mainline: 6.19-rc3 -> 6.19-rc4"), "{text}");
    let decl = env.write(
        "repo/next.toml",
        "[source]\nversion = { branch = \"mainline\" }\n[build]\narch = \"x86_64\"\n",
    );
    let spec = kforge_declaration::Spec::load(&decl).unwrap();
    assert_eq!(spec.source.version, "6.19-rc4".parse().unwrap());
    assert!(spec.source.version < "6.19".parse().unwrap());
}

#[test]
fn dry_run_writes_nothing() {
    let env = Env::new();
    publish(&env.server, &[Rel("longterm", "6.6.118", false)]);
    env.ok(&[]);
    let before = env.read_lock();
    let files = env.repo_files();
    publish(
        &env.server,
        &[
            Rel("longterm", "6.6.119", false),
            Rel("stable", "6.18.1", false),
        ],
    );
    let n = env.server.seen().len();
    let text = env.ok(&["--dry-run"]);
    assert!(text.contains("6.6: 6.6.118 -> 6.6.119"), "{text}");
    assert!(text.contains("6.18: new branch at 6.18.1"), "{text}");
    assert!(
        text.contains("dry run: 2 branch(es) would change"),
        "{text}"
    );
    assert_eq!(env.read_lock(), before);
    assert_eq!(env.repo_files(), files);
    // Only the list was fetched.
    assert_eq!(env.server.seen()[n..], ["/releases.json"]);

    // --dry-run with no lock at all: still nothing written.
    std::fs::remove_file(env.lock()).unwrap();
    env.ok(&["--dry-run"]);
    assert!(!env.lock().exists());
}

/// The lock's directory, made a git repository with a committer.
fn git_repo(env: &Env) -> PathBuf {
    let repo = env.path("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "--quiet"]);
    git(&repo, &["config", "user.name", "Test"]);
    git(&repo, &["config", "user.email", "test@example.org"]);
    git(&repo, &["config", "commit.gpgsign", "false"]);
    repo
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn commit_makes_one_commit_per_branch() {
    let env = Env::new();
    let repo = git_repo(&env);
    env.write("repo/README", "a repository\n");
    git(&repo, &["add", "README"]);
    git(&repo, &["commit", "--quiet", "-m", "start"]);

    // The first run creates the lock: one commit per new branch.
    publish(
        &env.server,
        &[
            Rel("stable", "6.18.1", false),
            Rel("longterm", "6.6.118", false),
        ],
    );
    let text = env.ok(&["--commit"]);
    assert!(
        text.contains("committed: linux 6.6: init at 6.6.118"),
        "{text}"
    );
    let log = git(&repo, &["log", "--format=%s"]);
    assert_eq!(
        log,
        "linux 6.18: init at 6.18.1\nlinux 6.6: init at 6.6.118\nstart\n"
    );

    // Something else staged and something modified: left alone.
    env.write("repo/README", "changed\n");
    env.write("repo/other", "staged\n");
    git(&repo, &["add", "other"]);

    publish(
        &env.server,
        &[
            Rel("mainline", "6.19-rc1", false),
            Rel("stable", "6.18.2", false),
            Rel("longterm", "6.6.119", false),
        ],
    );
    env.ok(&["--commit"]);
    let log = git(&repo, &["log", "--format=%s", "-3"]);
    assert_eq!(
        log,
        "linux mainline: init at 6.19-rc1\nlinux 6.18: 6.18.1 -> 6.18.2\nlinux 6.6: 6.6.118 -> 6.6.119\n"
    );
    // Each commit holds only the lock, and only its branch's lines.
    for rev in ["HEAD", "HEAD~1", "HEAD~2"] {
        let files = git(&repo, &["show", "--name-only", "--format=", rev]);
        assert_eq!(files, "kernels.lock.toml\n", "{rev}");
    }
    let diff = git(&repo, &["show", "--format=", "-U0", "HEAD~2"]);
    assert!(diff.contains("+version = \"6.6.119\""), "{diff}");
    assert!(!diff.contains("6.18"), "{diff}");
    let body = git(&repo, &["log", "--format=%b", "-1", "HEAD~2"]);
    assert!(body.contains("url: http://127.0.0.1:"), "{body}");
    // The working tree's lock is the last commit's; the rest untouched.
    let status = git(&repo, &["status", "--porcelain"]);
    assert_eq!(status, " M README\nA  other\n");

    // A lock with changes of its own is refused before anything is done.
    let lock = env.read_lock();
    env.write("repo/kernels.lock.toml", &format!("{lock}# mine\n"));
    publish(&env.server, &[Rel("stable", "6.18.3", false)]);
    let (out, text) = env.update(&["--commit", "--branch", "6.18"]);
    assert!(!out.status.success());
    assert!(text.contains("has changes git does not have"), "{text}");
    assert_eq!(env.read_lock(), format!("{lock}# mine\n"));
}

/// Run an update that must fail: the message, and the lock (and its
/// directory) exactly as before.
#[track_caller]
fn fails_cleanly(env: &Env, extra: &[&str], wanted: &[&str]) -> String {
    let before = env.read_lock();
    let files = env.repo_files();
    let (out, text) = env.update(extra);
    assert_eq!(out.status.code(), Some(1), "{text}");
    for w in wanted {
        assert!(text.contains(w), "wanted {w:?} in:\n{text}");
    }
    assert!(text.contains("kernels.lock.toml: not changed"), "{text}");
    assert_eq!(env.read_lock(), before);
    assert_eq!(env.repo_files(), files, "nothing left beside the lock");
    text
}

/// The finished files of the download cache (not `.part`).
fn cached(env: &Env) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(env.path("cache/kforge/downloads"))
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                // A partial download and its validator are not finished files.
                .filter(|n| !n.ends_with(".part") && !n.ends_with(".part.validator"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn faults_leave_the_lock_as_it_was() {
    let env = Env::new();
    publish(&env.server, &[Rel("longterm", "6.6.118", false)]);
    env.ok(&[]);
    let good_list = env.server.get("/releases.json").unwrap();

    // Malformed JSON: where, and what.
    env.server.set(
        "/releases.json",
        Reply::ok("{\"releases\": [\n  {\"moniker\": \"stable\",\n   \"version\": 6.6}\n]}"),
    );
    fails_cleanly(
        &env,
        &[],
        &[
            "/releases.json:3:17: the release list is not valid: invalid type: floating point `6.6`, expected a string",
        ],
    );

    // The list answers HTTP 500.
    env.server.set(
        "/releases.json",
        Reply {
            status: 500,
            body: b"oops".to_vec(),
            cut: None,
        },
    );
    fails_cleanly(&env, &[], &["the server answered HTTP 500"]);

    // A tarball answers HTTP 500.
    env.server.set("/releases.json", good_list);
    publish(&env.server, &[Rel("longterm", "6.6.119", false)]);
    env.server.set(
        "/pub/linux-6.6.119.tar.gz",
        Reply {
            status: 500,
            body: Vec::new(),
            cut: None,
        },
    );
    fails_cleanly(
        &env,
        &[],
        &[
            "downloading linux 6.6.119 (branch 6.6) from http://127.0.0.1:",
            "HTTP 500",
        ],
    );

    // A truncated download: nothing finished in the cache, nothing in the
    // lock; the next run resumes it and locks the right hash.
    let data = tarball("6.6.119");
    env.server.set(
        "/pub/linux-6.6.119.tar.gz",
        Reply {
            status: 200,
            body: data.clone(),
            cut: Some(data.len() / 2),
        },
    );
    let finished = cached(&env);
    let text = fails_cleanly(
        &env,
        &[],
        &["downloading linux 6.6.119 (branch 6.6)", "failed"],
    );
    assert!(text.contains("resumes from there next time"), "{text}");
    assert_eq!(cached(&env), finished, "{text}");
    let text = env.ok(&[]);
    assert!(text.contains("6.6: 6.6.118 -> 6.6.119"), "{text}");
    assert_eq!(lock_of(&env).branches[&b("6.6")].hash, sri(&data));
    assert_eq!(
        env.server.seen().last().unwrap(),
        "/pub/linux-6.6.119.tar.gz"
    );
    let leftovers: Vec<_> = std::fs::read_dir(env.path("cache/kforge/downloads"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".part"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_tarball_that_does_not_match_its_locked_hash() {
    let env = Env::new();
    publish(&env.server, &[Rel("longterm", "6.6.118", false)]);
    env.ok(&[]);
    let locked = lock_of(&env).branches[&b("6.6")].hash.clone();

    // The same release, now served with other content: --verify catches it.
    env.server.set(
        "/pub/linux-6.6.118.tar.gz",
        Reply::ok(tarball("6.6.118-evil")),
    );
    // The cache has the good one: take it away so it is downloaded again.
    std::fs::remove_dir_all(env.path("cache")).unwrap();
    let text = fails_cleanly(
        &env,
        &["--verify"],
        &[
            "linux 6.6.118 (branch 6.6)",
            "does not match its declared hash",
            &format!("declared: {locked}"),
            &format!("actual:   {}", sri(&tarball("6.6.118-evil"))),
        ],
    );
    assert!(
        text.contains("kernels.lock.toml:"),
        "names the lock entry: {text}"
    );
    assert!(cached(&env).is_empty());

    // The same release moved to a new URL: checked against the locked hash.
    let moved = env.server.url("/mirror/linux-6.6.118.tar.gz");
    env.server
        .set("/mirror/linux-6.6.118.tar.gz", Reply::ok(tarball("other")));
    env.server.set(
        "/releases.json",
        Reply::ok(format!(
            r#"{{"latest_stable": null, "releases": [{{"moniker": "longterm", "version": "6.6.118", "iseol": false, "source": "{moved}", "pgp": null, "released": null}}]}}"#
        )),
    );
    fails_cleanly(&env, &[], &["does not match its declared hash"]);
    // With the right file there, the move is recorded, the hash kept.
    env.server.set(
        "/mirror/linux-6.6.118.tar.gz",
        Reply::ok(tarball("6.6.118")),
    );
    let text = env.ok(&[]);
    assert!(
        text.contains(&format!("6.6: 6.6.118 (moved to {moved})")),
        "{text}"
    );
    let e = &lock_of(&env).branches[&b("6.6")];
    assert_eq!(
        (e.url.as_str(), e.hash.as_str()),
        (moved.as_str(), locked.as_str())
    );
    // --verify on a cached, matching file: fine, no download.
    let n = env.server.seen().len();
    let text = env.ok(&["--verify"]);
    assert!(text.contains("6.6: 6.6.118 verified"), "{text}");
    assert_eq!(env.server.seen().len(), n + 1);
}

#[test]
fn a_broken_lock_is_reported_where_it_is_broken() {
    let env = Env::new();
    publish(&env.server, &[Rel("longterm", "6.6.118", false)]);
    env.write(
        "repo/kernels.lock.toml",
        "format = 1\n[branches.\"6.6\"]\nversion = 6\n",
    );
    let text = fails_cleanly(&env, &[], &["expected a string, found an integer"]);
    assert!(
        text.contains(&format!("{}:3:11: ", env.lock().display())),
        "{text}"
    );
    assert!(env.server.seen().is_empty(), "stopped before fetching");
}

// --- signatures ----------------------------------------------------------------

mod keys {
    use pgp::composed::{
        ArmorOptions, DetachedSignature, EncryptionCaps, KeyType, SecretKeyParamsBuilder,
        SignedPublicKey, SignedSecretKey, SubkeyParamsBuilder,
    };
    use pgp::crypto::hash::HashAlgorithm;
    use pgp::packet::{
        KeyFlags, RevocationCode, Signature, SignatureConfig, SignatureType, Subpacket,
        SubpacketData,
    };
    use pgp::types::{Duration, KeyDetails, Password, Tag, Timestamp};

    /// A signing key, made now.
    pub fn generate(uid: &str) -> SignedSecretKey {
        made(uid, true, Timestamp::now())
    }

    /// A key made at `at` whose primary may sign when `can_sign`.
    pub fn made(uid: &str, can_sign: bool, at: Timestamp) -> SignedSecretKey {
        let mut p = SecretKeyParamsBuilder::default();
        p.key_type(KeyType::Ed25519Legacy)
            .can_certify(true)
            .can_sign(can_sign)
            .can_encrypt(EncryptionCaps::None)
            .created_at(at)
            .primary_user_id(uid.into());
        p.build().unwrap().generate(rand::thread_rng()).unwrap()
    }

    /// A key whose primary only certifies, with a subkey that signs (as
    /// many developers' keys are).
    pub fn with_signing_subkey(uid: &str) -> SignedSecretKey {
        let mut p = SecretKeyParamsBuilder::default();
        p.key_type(KeyType::Ed25519Legacy)
            .can_certify(true)
            .can_sign(false)
            .can_encrypt(EncryptionCaps::None)
            .primary_user_id(uid.into())
            .subkeys(vec![SubkeyParamsBuilder::default()
                .key_type(KeyType::Ed25519Legacy)
                .can_sign(true)
                .build()
                .unwrap()]);
        p.build().unwrap().generate(rand::thread_rng()).unwrap()
    }

    /// The public key, armored (a keyring of one).
    pub fn public(key: &SignedSecretKey) -> Vec<u8> {
        armored(&key.to_public_key())
    }

    fn armored(key: &SignedPublicKey) -> Vec<u8> {
        key.to_armored_bytes(ArmorOptions::default()).unwrap()
    }

    pub fn fingerprint(key: &SignedSecretKey) -> String {
        format!("{:X}", key.primary_key.fingerprint())
    }

    pub fn subkey_fingerprint(key: &SignedSecretKey) -> String {
        format!("{:X}", key.secret_subkeys[0].key.fingerprint())
    }

    /// A detached, armored signature of `data`, as kernel.org's .tar.sign.
    pub fn sign(key: &SignedSecretKey, data: &[u8]) -> Vec<u8> {
        DetachedSignature::sign_binary_data(
            rand::thread_rng(),
            &key.primary_key,
            &Password::empty(),
            HashAlgorithm::Sha256,
            data,
        )
        .unwrap()
        .to_armored_bytes(ArmorOptions::default())
        .unwrap()
    }

    /// [`sign`] with the key's first subkey.
    pub fn sign_with_subkey(key: &SignedSecretKey, data: &[u8]) -> Vec<u8> {
        DetachedSignature::sign_binary_data(
            rand::thread_rng(),
            &key.secret_subkeys[0].key,
            &Password::empty(),
            HashAlgorithm::Sha256,
            data,
        )
        .unwrap()
        .to_armored_bytes(ArmorOptions::default())
        .unwrap()
    }

    /// A self-signature's config of `typ`, made at `at`, by `key`.
    fn config(key: &SignedSecretKey, typ: SignatureType, at: Timestamp) -> SignatureConfig {
        let pk = key.primary_key.public_key();
        let mut c = SignatureConfig::v4(typ, pk.algorithm(), HashAlgorithm::Sha256);
        c.hashed_subpackets = vec![
            Subpacket::regular(SubpacketData::SignatureCreationTime(at)).unwrap(),
            Subpacket::regular(SubpacketData::IssuerFingerprint(pk.fingerprint())).unwrap(),
        ];
        c.unhashed_subpackets =
            vec![Subpacket::regular(SubpacketData::IssuerKeyId(pk.legacy_key_id())).unwrap()];
        c
    }

    /// The public key of `key` with its user ID bound by one self-signature
    /// made at `at`, saying that the key (which may sign and certify)
    /// expires `after` seconds after its creation.
    pub fn expiring(key: &SignedSecretKey, at: Timestamp, after: u32) -> Vec<u8> {
        let mut public = key.to_public_key();
        let mut c = config(key, SignatureType::CertPositive, at);
        let mut flags = KeyFlags::default();
        flags.set_sign(true);
        flags.set_certify(true);
        c.hashed_subpackets.extend([
            Subpacket::regular(SubpacketData::KeyFlags(flags)).unwrap(),
            Subpacket::regular(SubpacketData::KeyExpirationTime(Duration::from_secs(after)))
                .unwrap(),
        ]);
        let user = &mut public.details.users[0];
        let sig: Signature = c
            .sign_certification(
                &key.primary_key,
                key.primary_key.public_key(),
                &Password::empty(),
                Tag::UserId,
                &user.id,
            )
            .unwrap();
        user.signatures = vec![sig];
        armored(&public)
    }

    /// The public key of `key` with a revocation by its owner.
    pub fn revoked(key: &SignedSecretKey, code: RevocationCode, why: &str) -> Vec<u8> {
        let mut public = key.to_public_key();
        let mut c = config(key, SignatureType::KeyRevocation, Timestamp::now());
        c.hashed_subpackets.push(
            Subpacket::regular(SubpacketData::RevocationReason(
                code,
                why.to_string().into(),
            ))
            .unwrap(),
        );
        let sig = c
            .sign_key(
                &key.primary_key,
                &Password::empty(),
                key.primary_key.public_key(),
            )
            .unwrap();
        public.details.revocation_signatures.push(sig);
        armored(&public)
    }
}

#[test]
fn signatures_are_checked_against_the_keyring() {
    let env = Env::new();
    let release_key = keys::generate("Release Signer <signer@example.org>");
    let other_key = keys::generate("Someone Else <else@example.org>");
    let keyring = env.write("keyring.asc", "");
    std::fs::write(&keyring, keys::public(&release_key)).unwrap();
    let kr = keyring.to_str().unwrap();

    // Signed by the release key, over the uncompressed tar: good.
    let good = |_: &str, tar: &[u8]| keys::sign(&release_key, tar);
    publish_signed(
        &env.server,
        &[
            Rel("longterm", "6.6.118", false),
            Rel("mainline", "6.19-rc1", false),
        ],
        Some(&good),
    );
    // kernel.org does not sign mainline's release candidates: with a
    // keyring, every new tarball must be signed, so this is refused before
    // anything is downloaded, saying how to update mainline.
    let (out, text) = env.update(&["--keyring", kr]);
    assert_eq!(out.status.code(), Some(1), "{text}");
    for w in [
        "error: linux 6.19-rc1 (branch mainline) has no signature on the release list, and --keyring requires one",
        "kernel.org does not sign mainline's release candidates",
        "--branch",
        "without --keyring",
        "kernels.lock.toml: not changed",
    ] {
        assert!(text.contains(w), "wanted {w:?} in:\n{text}");
    }
    assert!(!env.lock().exists(), "{text}");
    assert_eq!(cached(&env), Vec::<String>::new(), "nothing downloaded");
    // The signed branch alone, with the keyring; mainline alone, without.
    let text = env.ok(&["--keyring", kr, "--branch", "6.6"]);
    assert!(
        text.contains(&format!(
            "linux 6.6.118 (branch 6.6): good signature by {}",
            keys::fingerprint(&release_key)
        )),
        "{text}"
    );
    env.ok(&["--branch", "mainline"]);
    let finished = cached(&env);

    // A signature over something else.
    let wrong = |v: &str, _: &[u8]| keys::sign(&release_key, &tar(&format!("{v}-other")));
    publish_signed(
        &env.server,
        &[Rel("longterm", "6.6.119", false)],
        Some(&wrong),
    );
    fails_cleanly(
        &env,
        &["--keyring", kr, "--branch", "6.6"],
        &[
            "the signature of linux 6.6.119 (branch 6.6) is not good: the signature by key",
            "does not match",
        ],
    );
    assert_eq!(cached(&env), finished, "the tarball is not kept");

    // A signature by a key not in the keyring.
    let stranger = |_: &str, tar: &[u8]| keys::sign(&other_key, tar);
    publish_signed(
        &env.server,
        &[Rel("longterm", "6.6.119", false)],
        Some(&stranger),
    );
    fails_cleanly(
        &env,
        &["--keyring", kr, "--branch", "6.6"],
        &[
            &format!("it was made by key {}", keys::fingerprint(&other_key)),
            "which is not in the keyring",
        ],
    );

    // Not a signature at all.
    let junk = |_: &str, _: &[u8]| b"-----BEGIN PGP SIGNATURE-----\n\nnonsense\n".to_vec();
    publish_signed(
        &env.server,
        &[Rel("longterm", "6.6.119", false)],
        Some(&junk),
    );
    fails_cleanly(
        &env,
        &["--keyring", kr, "--branch", "6.6"],
        &["the signature cannot be read"],
    );

    // The signature is missing from the server.
    publish_signed(
        &env.server,
        &[Rel("longterm", "6.6.119", false)],
        Some(&good),
    );
    env.server.set(
        "/pub/linux-6.6.119.tar.sign",
        Reply {
            status: 404,
            body: Vec::new(),
            cut: None,
        },
    );
    fails_cleanly(
        &env,
        &["--keyring", kr, "--branch", "6.6"],
        &["linux-6.6.119.tar.sign: the server answered HTTP 404"],
    );

    // A keyring that is not one.
    let bad = env.write("bad.asc", "not a key\n");
    fails_cleanly(
        &env,
        &["--keyring", bad.to_str().unwrap()],
        &["cannot read the keyring"],
    );

    // Not a regular file: refused before it is read.
    fails_cleanly(
        &env,
        &["--keyring", "/dev/zero"],
        &["/dev/zero: cannot read the keyring: it is a character device, not a regular file"],
    );

    // And good again.
    publish_signed(
        &env.server,
        &[Rel("longterm", "6.6.119", false)],
        Some(&good),
    );
    let text = env.ok(&["--keyring", kr, "--branch", "6.6"]);
    assert!(text.contains("6.6: 6.6.118 -> 6.6.119"), "{text}");
    assert!(text.contains("good signature by"), "{text}");
}

/// A release the list gives no signature for is refused with a keyring,
/// whatever its branch (kernel.org signs every other release: the list is
/// not kernel.org's, or not whole), and the lock is left as it was.
#[test]
fn a_keyring_requires_every_new_release_to_be_signed() {
    let env = Env::new();
    let key = keys::generate("Release Signer <signer@example.org>");
    let keyring = env.write("keyring.asc", "");
    std::fs::write(&keyring, keys::public(&key)).unwrap();
    publish(&env.server, &[Rel("longterm", "6.6.118", false)]);
    env.ok(&[]);
    publish(
        &env.server,
        &[
            Rel("longterm", "6.6.119", false),
            Rel("stable", "6.18.2", false),
        ],
    );
    fails_cleanly(
        &env,
        &["--keyring", keyring.to_str().unwrap()],
        &[
            "linux 6.6.119 (branch 6.6), linux 6.18.2 (branch 6.18) have no signature on the release list, and --keyring requires one",
            "kernel.org signs every release but mainline's release candidates",
            "check --releases-url",
        ],
    );
}

/// The key that made a signature must be fit to make it: not expired, not
/// revoked, allowed to sign, bound by a valid self-signature; a signing
/// subkey is checked through its binding and its back-signature. Each key
/// is generated here; each refusal says why, removes the download and
/// leaves the lock as it was.
#[test]
fn keys_that_cannot_sign_are_refused() {
    use pgp::packet::RevocationCode;
    use pgp::types::Timestamp;

    let env = Env::new();
    let good_key = keys::generate("Good Signer <good@example.org>");
    let day = 86_400;
    let now = Timestamp::now().as_secs();
    // Made ten days ago, valid for five: expired five days ago.
    let old = keys::made(
        "Expired Signer <expired@example.org>",
        true,
        Timestamp::from_secs(now - 10 * day),
    );
    let expired = keys::expiring(&old, Timestamp::from_secs(now - 10 * day), 5 * day);
    let revoked_key = keys::generate("Revoked Signer <revoked@example.org>");
    let revoked = keys::revoked(
        &revoked_key,
        RevocationCode::KeyCompromised,
        "stolen laptop",
    );
    let certify_only = keys::made("Certifier <certify@example.org>", false, Timestamp::now());
    let subkeyed = keys::with_signing_subkey("Subkey Signer <subkey@example.org>");
    // Valid for a year: not expired.
    let lasting = keys::made(
        "Lasting Signer <lasting@example.org>",
        true,
        Timestamp::from_secs(now - day),
    );
    let lasting_pub = keys::expiring(&lasting, Timestamp::from_secs(now - day), 365 * day);

    // One keyring holds them all, with the good key.
    let mut ring = keys::public(&good_key);
    for k in [
        &expired,
        &revoked,
        &keys::public(&certify_only),
        &keys::public(&subkeyed),
        &lasting_pub,
    ] {
        ring.extend_from_slice(k);
    }
    let keyring = env.write("keyring.asc", "");
    std::fs::write(&keyring, &ring).unwrap();
    let kr = keyring.to_str().unwrap();

    let good = |_: &str, tar: &[u8]| keys::sign(&good_key, tar);
    publish_signed(
        &env.server,
        &[Rel("longterm", "6.6.118", false)],
        Some(&good),
    );
    env.ok(&["--keyring", kr]);
    let finished = cached(&env);

    let by_expired = |_: &str, tar: &[u8]| keys::sign(&old, tar);
    let by_revoked = |_: &str, tar: &[u8]| keys::sign(&revoked_key, tar);
    let by_certifier = |_: &str, tar: &[u8]| keys::sign(&certify_only, tar);
    let cases: [(&Signer, Vec<String>); 3] = [
        (
            &by_expired,
            vec![
                format!(
                    "the signature of linux 6.6.119 (branch 6.6) cannot be trusted: it was made by key {} of the keyring {kr}, which expired on ",
                    keys::fingerprint(&old)
                ),
                "gpg --refresh-keys".into(),
            ],
        ),
        (
            &by_revoked,
            vec![
                format!(
                    "it was made by key {} of the keyring {kr}, which was revoked by its owner (key material compromised: stolen laptop)",
                    keys::fingerprint(&revoked_key)
                ),
                "do not use this release".into(),
            ],
        ),
        (
            &by_certifier,
            vec![
                format!(
                    "it was made by key {} of the keyring {kr}, which may not make signatures (its self-signature does not give it the signing flag)",
                    keys::fingerprint(&certify_only)
                ),
                "export it again".into(),
            ],
        ),
    ];
    for (signer, wanted) in cases {
        publish_signed(
            &env.server,
            &[Rel("longterm", "6.6.119", false)],
            Some(signer),
        );
        let wanted: Vec<&str> = wanted.iter().map(String::as_str).collect();
        fails_cleanly(&env, &["--keyring", kr, "--branch", "6.6"], &wanted);
        assert_eq!(cached(&env), finished, "the tarball is not kept");
    }

    // A signing subkey, bound and back-signed: good, by the subkey.
    let by_subkey = |_: &str, tar: &[u8]| keys::sign_with_subkey(&subkeyed, tar);
    publish_signed(
        &env.server,
        &[Rel("longterm", "6.6.119", false)],
        Some(&by_subkey),
    );
    let text = env.ok(&["--keyring", kr, "--branch", "6.6"]);
    assert!(
        text.contains(&format!(
            "good signature by {}",
            keys::subkey_fingerprint(&subkeyed)
        )),
        "{text}"
    );
    // A key with an expiry date still ahead: good.
    let by_lasting = |_: &str, tar: &[u8]| keys::sign(&lasting, tar);
    publish_signed(
        &env.server,
        &[Rel("longterm", "6.6.120", false)],
        Some(&by_lasting),
    );
    let text = env.ok(&["--keyring", kr, "--branch", "6.6"]);
    assert!(
        text.contains(&format!(
            "good signature by {}",
            keys::fingerprint(&lasting)
        )),
        "{text}"
    );

    // A keyring none of whose keys can sign is refused before anything is
    // downloaded, each key with its reason.
    let mut bad_ring = expired.clone();
    bad_ring.extend_from_slice(&revoked);
    bad_ring.extend_from_slice(&keys::public(&certify_only));
    let bad = env.write("bad.asc", "");
    std::fs::write(&bad, &bad_ring).unwrap();
    publish_signed(
        &env.server,
        &[Rel("longterm", "6.6.121", false)],
        Some(&good),
    );
    let before = cached(&env);
    fails_cleanly(
        &env,
        &["--keyring", bad.to_str().unwrap(), "--branch", "6.6"],
        &[
            "cannot read the keyring: none of its keys can check a signature:",
            &format!("{} expired on ", keys::fingerprint(&old)),
            &format!(
                "{} was revoked by its owner",
                keys::fingerprint(&revoked_key)
            ),
            &format!(
                "{} may not make signatures",
                keys::fingerprint(&certify_only)
            ),
        ],
    );
    assert_eq!(cached(&env), before, "nothing downloaded");
}

#[test]
fn aliases_move_with_kernel_org() {
    let env = Env::new();
    let repo = git_repo(&env);
    publish(
        &env.server,
        &[
            Rel("stable", "6.17.5", false),
            Rel("longterm", "6.12.60", false),
            Rel("longterm", "6.6.118", true),
        ],
    );
    // Asked for, the aliases are tracked; the series they stand for are not.
    let text = env.ok(&["--branch", "latest", "longterm", "--commit"]);
    assert!(text.contains("latest: new branch at 6.17.5"), "{text}");
    assert!(text.contains("longterm: new branch at 6.12.60"), "{text}");
    let lock = lock_of(&env);
    let names: Vec<String> = lock.branches.keys().map(ToString::to_string).collect();
    assert_eq!(names, ["latest", "longterm"]);
    assert_eq!(lock.branches[&b("latest")].hash, sri(&tarball("6.17.5")));
    assert!(lock.branches[&b("longterm")].longterm);
    // A declaration follows an alias like a branch.
    let spec = env.write(
        "repo/k.toml",
        "[source]\nversion = { branch = \"latest\" }\n[build]\narch = \"x86_64\"\n",
    );
    let version = |p: &Path| {
        kforge_declaration::Spec::load(p)
            .unwrap()
            .source
            .version_text
    };
    assert_eq!(version(&spec), "6.17.5");

    // A new major: latest moves to it; longterm takes its bump.
    publish(
        &env.server,
        &[
            Rel("stable", "6.18.1", false),
            Rel("stable", "6.17.6", false),
            Rel("longterm", "6.12.61", false),
        ],
    );
    let text = env.ok(&["--branch", "latest", "longterm", "--commit"]);
    assert!(
        text.contains("latest: 6.17.5 -> 6.18.1 (now 6.18, a new major release)"),
        "{text}"
    );
    assert!(text.contains("longterm: 6.12.60 -> 6.12.61"), "{text}");
    assert_eq!(version(&spec), "6.18.1");
    // One reviewable commit per alias, saying where it moved.
    let log = git(&repo, &["log", "--format=%s", "-2"]);
    assert_eq!(
        log,
        "linux longterm: 6.12.60 -> 6.12.61\nlinux latest: 6.17.5 -> 6.18.1\n"
    );
    let body = git(&repo, &["log", "--format=%b", "-1", "HEAD~1"]);
    assert!(
        body.contains("latest: now 6.18, a new major release"),
        "{body}"
    );

    // kernel.org names 6.18 longterm: longterm moves to the new series;
    // a stable bump of 6.18 moves latest.
    publish(
        &env.server,
        &[
            Rel("longterm", "6.18.2", false),
            Rel("longterm", "6.12.61", false),
        ],
    );
    let text = env.ok(&["--commit"]);
    assert!(
        text.contains("longterm: 6.12.61 -> 6.18.2 (now 6.18, a new longterm series)"),
        "{text}"
    );
    assert!(text.contains("latest: 6.18.1 -> 6.18.2"), "{text}");
    // Without --branch, the series are tracked too, and the aliases stay.
    let names: Vec<String> = lock_of(&env)
        .branches
        .keys()
        .map(ToString::to_string)
        .collect();
    assert_eq!(names, ["6.12", "6.18", "latest", "longterm"]);
    // An end-of-life series is never an alias's.
    publish(
        &env.server,
        &[
            Rel("longterm", "6.18.2", true),
            Rel("longterm", "6.12.62", false),
        ],
    );
    let text = env.ok(&["--branch", "longterm"]);
    assert!(
        text.contains("older than the locked") || text.contains("up to date"),
        "{text}"
    );
    assert_eq!(
        lock_of(&env).branches[&b("longterm")].version.to_string(),
        "6.18.2"
    );
}
