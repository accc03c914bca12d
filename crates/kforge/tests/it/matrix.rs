//! `kforge matrix`: the jobs of declarations × architectures × toolchains,
//! their store keys (the keys `kforge build` gives), whether each is
//! cached, and the shapes CI engines take, checked against the engines'
//! own schemas (SchemaStore's, as check-jsonschema vendors them).

use std::path::Path;

use crate::build_cmd::{fake_tree, kforge, text};

/// The store key `kforge build --dry-run` prints.
fn dry_run_key(cache: &Path, dir: &Path, spec: &Path, tree: &Path, extra: &[&str]) -> String {
    let o = kforge(cache, dir)
        .arg("build")
        .arg(spec)
        .arg("--tree")
        .arg(tree)
        .arg("--dry-run")
        .args(extra)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    out.lines()
        .find_map(|l| l.strip_prefix("store key: "))
        .unwrap_or_else(|| panic!("{out}"))
        .to_string()
}

/// Two declarations on the fake tree; returns (tree, [specs]).
fn two_declarations(dir: &Path) -> (std::path::PathBuf, [std::path::PathBuf; 2]) {
    let (tree, _state) = fake_tree(dir);
    let a = dir.join("router.toml");
    let b = dir.join("server.toml");
    std::fs::write(
        &a,
        "[source]\nversion = \"6.1\"\n\n[build]\narch = \"x86_64\"\nbase = \"allnoconfig\"\n",
    )
    .unwrap();
    std::fs::write(
        &b,
        "[source]\nversion = \"6.1\"\n\n[build]\narch = \"x86_64\"\nbase = \"allnoconfig\"\n\n\
         [config]\nFOO = \"y\"\n",
    )
    .unwrap();
    (tree, [a, b])
}

fn matrix(cache: &Path, dir: &Path, tree: &Path, args: &[&str]) -> std::process::Output {
    kforge(cache, dir)
        .arg("matrix")
        .args(args)
        .arg("--tree")
        .arg(tree)
        .output()
        .unwrap()
}

/// Each job's key is the key `kforge build` of that job gives; a job whose
/// entry is in the store is marked cached, the others are not.
#[test]
fn jobs_carry_the_keys_kforge_build_gives_and_their_cache_state() {
    let d = tempfile::tempdir().unwrap();
    let cache = d.path().join("cache");
    let (tree, [a, b]) = two_declarations(d.path());
    let o = matrix(
        &cache,
        d.path(),
        &tree,
        &[
            a.to_str().unwrap(),
            b.to_str().unwrap(),
            "--arch",
            "x86_64,x86",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let jobs = v["jobs"].as_array().unwrap();
    let names: Vec<&str> = jobs.iter().map(|j| j["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "router x86_64 gcc",
            "router x86 gcc",
            "server x86_64 gcc",
            "server x86 gcc"
        ]
    );
    for j in jobs {
        let spec = Path::new(j["declaration"].as_str().unwrap());
        let arch = j["arch"].as_str().unwrap();
        let key = dry_run_key(
            &cache,
            d.path(),
            spec,
            &tree,
            &["--arch", arch, "--toolchain", "gcc"],
        );
        assert_eq!(j["key"], key.as_str(), "{j}");
        assert!(j["entry"].as_str().unwrap().starts_with(&key), "{j}");
        assert!(j["cached"].is_null(), "{j}");
        assert!(
            j["command"]
                .as_str()
                .unwrap()
                .ends_with(&format!("--arch {arch} --toolchain gcc --push")),
            "{j}"
        );
    }
    // Four different kernels, four keys.
    let keys: std::collections::BTreeSet<&str> =
        jobs.iter().map(|j| j["key"].as_str().unwrap()).collect();
    assert_eq!(keys.len(), 4);
    // The declared arch is the default axis: router alone is one job, and
    // its key is the one of `kforge build` without overrides.
    assert_eq!(
        dry_run_key(&cache, d.path(), &a, &tree, &[]),
        jobs[0]["key"].as_str().unwrap()
    );

    // Build router for x86_64: its job is cached now, the others are not.
    let o = kforge(&cache, d.path())
        .arg("build")
        .arg(&a)
        .arg("--tree")
        .arg(&tree)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let o = matrix(
        &cache,
        d.path(),
        &tree,
        &[
            a.to_str().unwrap(),
            b.to_str().unwrap(),
            "--format",
            "github",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let cached: Vec<bool> = v["include"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["cached"].as_bool().unwrap())
        .collect();
    assert_eq!(cached, [true, false]);
}

/// Bad input: a toolchain or format kforge does not know, a missing
/// declaration, an architecture without a compiler.
#[test]
fn bad_axes_and_declarations_are_refused_with_the_reason() {
    let d = tempfile::tempdir().unwrap();
    let cache = d.path().join("cache");
    let (tree, [a, _]) = two_declarations(d.path());
    let a = a.to_str().unwrap();
    for (args, says) in [
        (vec![a, "--toolchain", "icc"], "give \"gcc\" or \"llvm\""),
        (
            vec![a, "--format", "yaml"],
            "give github, gitlab, buildkite or json",
        ),
        (vec!["missing.toml"], "missing.toml"),
        (vec![a, a], "give each declaration once"),
    ] {
        let o = matrix(&cache, d.path(), &tree, &args);
        assert_eq!(
            o.status.code(),
            Some(if args.len() == 3 { 2 } else { 1 }),
            "{}",
            text(&o)
        );
        assert!(text(&o).contains(says), "{args:?}: {}", text(&o));
    }
}

/// The validator: check-jsonschema from scripts/prepare-tools.
#[cfg(feature = "oracle-tests")]
fn check_jsonschema() -> std::path::PathBuf {
    kforge_testkit::tool("check-jsonschema", "run scripts/prepare-tools")
}

/// Validate `file` against a schema check-jsonschema ships; Err with its
/// report when it does not hold.
#[cfg(feature = "oracle-tests")]
fn validate(schema: &str, file: &Path) -> Result<(), String> {
    let o = std::process::Command::new(check_jsonschema())
        .args(["--builtin-schema", schema])
        .arg(file)
        .output()
        .unwrap();
    if o.status.success() {
        Ok(())
    } else {
        Err(text(&o))
    }
}

/// Each format holds in the schema of its engine (GitHub's workflow with
/// the matrix in its strategy, GitLab's CI file, Buildkite's pipeline),
/// with jobs cached and not; a broken variant of each is refused by the
/// same check, so the check can fail.
#[cfg(feature = "oracle-tests")]
#[test]
fn each_format_holds_in_its_engines_schema() {
    let d = tempfile::tempdir().unwrap();
    let cache = d.path().join("cache");
    let (tree, [a, b]) = two_declarations(d.path());
    // One entry built, so both kinds of job appear.
    let o = kforge(&cache, d.path())
        .arg("build")
        .arg(&a)
        .arg("--tree")
        .arg(&tree)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let out = |format: &str, specs: &[&Path]| {
        let mut args: Vec<&str> = specs.iter().map(|p| p.to_str().unwrap()).collect();
        args.extend(["--format", format]);
        let o = matrix(&cache, d.path(), &tree, &args);
        assert!(o.status.success(), "{}", text(&o));
        String::from_utf8(o.stdout).unwrap()
    };
    let file = |name: &str, body: &str| {
        let p = d.path().join(name);
        std::fs::write(&p, body).unwrap();
        p
    };

    // GitHub: the one-line object, as `fromJSON` would give it, in a
    // workflow's strategy; cached jobs skip their build step.
    let m = out("github", &[&a, &b]);
    let workflow = |matrix: &str| {
        format!(
            "name: kernels\non: push\njobs:\n  build:\n    name: ${{{{ matrix.name }}}}\n    \
             runs-on: ubuntu-latest\n    strategy:\n      fail-fast: false\n      matrix: {matrix}\n    \
             steps:\n      - uses: actions/checkout@v4\n      - if: ${{{{ !matrix.cached }}}}\n        \
             run: ${{{{ matrix.command }}}}\n"
        )
    };
    validate(
        "vendor.github-workflows",
        &file("gh.yml", &workflow(m.trim())),
    )
    .unwrap();
    let broken = m.trim().replacen("{\"include\":[", "{\"include\":[[],", 1);
    validate(
        "vendor.github-workflows",
        &file("gh-bad.yml", &workflow(&broken)),
    )
    .unwrap_err();

    // GitLab: a child pipeline, with one job never run (cached), and one
    // where everything is cached (a job that runs is kept).
    for (name, specs) in [("gl.yml", vec![&*a, &*b]), ("gl-cached.yml", vec![&*a])] {
        let y = out("gitlab", &specs);
        validate("vendor.gitlab-ci", &file(name, &y)).unwrap_or_else(|e| panic!("{y}\n{e}"));
    }
    let y = out("gitlab", &[&a, &b]).replace("when: never", "when: sometimes");
    validate("vendor.gitlab-ci", &file("gl-bad.yml", &y)).unwrap_err();

    // Buildkite: a pipeline to upload, the cached step skipped with its reason.
    let y = out("buildkite", &[&a, &b]);
    assert!(
        y.contains("    skip: \"in the binary cache already\"\n"),
        "{y}"
    );
    validate("vendor.buildkite", &file("bk.yml", &y)).unwrap_or_else(|e| panic!("{y}\n{e}"));
    let y = y.replace("    command: ", "    commandz: ");
    validate("vendor.buildkite", &file("bk-bad.yml", &y)).unwrap_err();
}
