//! The `post_patch` snippet: run in the tree, in a clean environment;
//! failures show the exit code and the whole output.

use kforge_source::{run_post_patch, SourceError};

#[test]
fn runs_in_the_tree_with_a_clean_environment() {
    let d = tempfile::tempdir().unwrap();
    let tree = d.path().join("linux");
    std::fs::create_dir(&tree).unwrap();
    std::fs::write(tree.join("Makefile"), "EXTRAVERSION =\n").unwrap();
    run_post_patch(
        &tree,
        "set -e\nsed -i 's/^EXTRAVERSION =.*/EXTRAVERSION = -lab/' Makefile\npwd > where\nenv | sort > env\nread x || echo empty-stdin > stdin\n",
    )
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(tree.join("Makefile")).unwrap(),
        "EXTRAVERSION = -lab\n"
    );
    let canon = std::fs::canonicalize(&tree).unwrap();
    assert_eq!(
        std::fs::canonicalize(std::fs::read_to_string(tree.join("where")).unwrap().trim()).unwrap(),
        canon
    );
    assert_eq!(
        std::fs::read_to_string(tree.join("stdin")).unwrap(),
        "empty-stdin\n"
    );
    let env = std::fs::read_to_string(tree.join("env")).unwrap();
    let vars: Vec<&str> = env
        .lines()
        .map(|l| l.split('=').next().unwrap())
        // What the shell itself adds.
        .filter(|v| !["PWD", "SHLVL", "_", "OLDPWD"].contains(v))
        .collect();
    assert_eq!(
        vars,
        ["HOME", "KFORGE_SRCTREE", "LC_ALL", "PATH", "TZ"],
        "{env}"
    );
    assert!(env.contains("PATH=/usr/bin:/bin\n"), "{env}");
    assert!(env.contains("HOME=/nonexistent\n"), "{env}");
    assert!(
        env.contains(&format!("KFORGE_SRCTREE={}\n", tree.display())),
        "{env}"
    );
}

#[test]
fn failure_shows_code_and_output() {
    let d = tempfile::tempdir().unwrap();
    let err = run_post_patch(
        d.path(),
        "echo to stdout\necho to stderr >&2\necho again\nexit 3",
    )
    .unwrap_err();
    let msg = err.to_string();
    let SourceError::PostPatch { code, output, .. } = &err else {
        panic!("{msg}")
    };
    assert_eq!(*code, Some(3));
    assert_eq!(output, "to stdout\nto stderr\nagain\n");
    assert!(msg.contains("exit code 3"), "{msg}");
    assert!(
        msg.contains("  | to stdout\n  | to stderr\n  | again"),
        "{msg}"
    );

    let err = run_post_patch(d.path(), "kill -9 $$").unwrap_err();
    assert!(err.to_string().contains("killed by signal 9"), "{err}");

    // A command PATH does not reach.
    let err = run_post_patch(d.path(), "cargo --version").unwrap_err();
    assert!(
        matches!(
            err,
            SourceError::PostPatch {
                code: Some(127),
                ..
            }
        ),
        "{err}"
    );
}
