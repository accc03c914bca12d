//! `[source] version = { branch = ..., lock = ... }`, and the lock file it
//! reads: values taken from the lock, every error with its place.

use crate::common;

use common::{v, Dir};
use kforge_declaration::{BranchName, Lock};

const EMPTY: &str = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";

fn lock_text() -> String {
    format!(
        "format = 1\n\
         \n\
         [branches.\"6.12\"]\n\
         version = \"6.12.9\"\n\
         url = \"https://cdn.kernel.org/pub/linux/kernel/v6.x/linux-6.12.9.tar.xz\"\n\
         hash = \"{EMPTY}\"\n\
         longterm = true\n\
         eol = false\n\
         released = 2025-01-09\n\
         \n\
         [branches.\"6.6\"]\n\
         version = \"6.6.70\"\n\
         url = \"https://cdn.kernel.org/pub/linux/kernel/v6.x/linux-6.6.70.tar.xz\"\n\
         hash = \"{EMPTY}\"\n\
         longterm = true\n\
         eol = false\n"
    )
}

const BUILD: &str = "[build]\narch = \"x86_64\"\n";

#[test]
fn the_lock_gives_version_url_and_hash() {
    let d = Dir::new();
    d.write("locks/kernels.lock.toml", &lock_text());
    let spec = d.spec(&format!(
        "[source]\nversion = {{ branch = \"6.12\", lock = \"locks/kernels.lock.toml\" }}\n{BUILD}"
    ));
    assert_eq!(spec.source.version, v("6.12.9"));
    assert_eq!(spec.source.version_text, "6.12.9");
    assert_eq!(
        spec.source.url.as_deref(),
        Some("https://cdn.kernel.org/pub/linux/kernel/v6.x/linux-6.12.9.tar.xz")
    );
    assert_eq!(spec.source.hash.as_deref(), Some(EMPTY));
    assert_eq!(spec.source.tarball, None);
    let follows = spec.source.follows.unwrap();
    assert_eq!(follows.branch, BranchName::Series(6, 12));
    assert_eq!(follows.lock, d.path().join("locks/kernels.lock.toml"));
    assert_eq!((follows.origin.line, follows.origin.column), (2, 11));

    // Without `lock`: kernels.lock.toml next to the declaration.
    d.write("kernels.lock.toml", &lock_text());
    let spec = d.spec(&format!(
        "[source]\nversion = {{ branch = \"6.6\" }}\n{BUILD}"
    ));
    assert_eq!(spec.source.version, v("6.6.70"));
    assert_eq!(
        spec.source.follows.unwrap().lock,
        d.path().join("kernels.lock.toml")
    );
    // A plain version follows nothing.
    let spec = d.spec(&format!("[source]\nversion = \"6.6\"\n{BUILD}"));
    assert_eq!(spec.source.follows, None);
}

#[test]
fn errors_in_the_declaration() {
    let d = Dir::new();
    d.write("kernels.lock.toml", &lock_text());
    let err = d.error(&format!(
        "[source]\nversion = {{ branch = \"6.1\" }}\n{BUILD}"
    ));
    d.assert_at(
        &err,
        ("kernel.toml", 2, 22),
        "branch 6.1 is not in the lock file $DIR/kernels.lock.toml (it has 6.6, 6.12)",
        Some(&format!(
            "`kforge update --lock {}/kernels.lock.toml --branch 6.1` adds it",
            d.path().display()
        )),
    );

    let err = d.error(&format!(
        "[source]\nversion = {{ branch = \"6.12\", lock = \"absent.toml\" }}\n{BUILD}"
    ));
    let kforge_declaration::SpecError::At { message, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(
        d.relative(message)
            .starts_with("cannot read the lock file $DIR/absent.toml: "),
        "{message}"
    );
    assert_eq!(err.origin().unwrap().column, 37);

    for (text, place, message, help) in [
        (
            "[source]\nversion = { branch = \"6.12\" }\nurl = \"https://x/y\"\n",
            (3, 1),
            "`url` cannot be given when `version` follows a branch",
            Some("the lock file gives the version, url and hash; remove this key, or write a version instead of `{ branch = ... }`"),
        ),
        (
            "[source]\nversion = { branch = \"6.12.1\" }\n",
            (2, 22),
            "invalid branch `6.12.1`: expected MAJOR.MINOR (e.g. 6.12), `mainline`, `latest` or `longterm`",
            None,
        ),
        (
            "[source]\nversion = { lock = \"kernels.lock.toml\" }\n",
            (2, 11),
            "`version = { ... }` has no `branch`",
            Some("e.g. version = { branch = \"6.12\", lock = \"kernels.lock.toml\" }"),
        ),
        (
            "[source]\nversion = { branch = \"6.12\", lokc = \"x\" }\n",
            (2, 30),
            "unknown key `lokc` in `version = { ... }`",
            Some("did you mean `lock`?"),
        ),
    ] {
        let err = d.error(&format!("{text}{BUILD}"));
        d.assert_at(&err, ("kernel.toml", place.0, place.1), message, help);
    }
}

#[test]
fn errors_in_the_lock_file() {
    let d = Dir::new();
    let decl = format!("[source]\nversion = {{ branch = \"6.12\" }}\n{BUILD}");
    let good = lock_text();
    for (lock, place, message) in [
        (
            good.replace("version = \"6.12.9\"", "version = \"6.11.9\""),
            (4, 11),
            "version 6.11.9 does not belong to branch 6.12",
        ),
        (
            good.replace("eol = false\nreleased", "eol = \"no\"\nreleased"),
            (8, 7),
            "expected a boolean, found a string",
        ),
        (
            good.replace(
                "longterm = true\neol = false\nreleased",
                "longterm = true\nreleased",
            ),
            (3, 1),
            "[branches.\"6.12\"] has no `eol`",
        ),
        (
            good.replace("released = 2025-01-09", "released = \"2025-01-09\""),
            (9, 12),
            "expected a date (YYYY-MM-DD, unquoted)",
        ),
        (
            good.replace("released = 2025-01-09", "relased = 2025-01-09"),
            (9, 1),
            "unknown key `relased` in [branches.\"6.12\"]",
        ),
        (
            good.replace("[branches.\"6.6\"]", "[branches.\"6.6.1\"]"),
            (11, 11),
            "invalid branch `6.6.1`: expected MAJOR.MINOR (e.g. 6.12), `mainline`, `latest` or `longterm`",
        ),
        (
            good.replace("format = 1", "format = 2"),
            (1, 10),
            "unknown lock file format 2",
        ),
        (
            good.replace("format = 1", ""),
            (1, 1),
            "the lock file has no `format`",
        ),
        (
            good.replacen(EMPTY, "sha256:abc", 1),
            (6, 8),
            "invalid hash `sha256:abc`: the nix-base32 part must be 52 characters",
        ),
        (
            good.replace(
                "[branches.\"6.6\"]",
                "[branches.\"6.6\"]\n[branches.\"6.6\"]",
            ),
            (12, 11),
            "invalid TOML: duplicate key",
        ),
    ] {
        d.write("kernels.lock.toml", &lock);
        let err = d.error(&decl);
        let kforge_declaration::SpecError::At {
            origin, message: m, ..
        } = &err
        else {
            panic!("{err:?}")
        };
        assert_eq!(
            (
                d.relative(&origin.file.display().to_string()),
                origin.line,
                origin.column
            ),
            ("$DIR/kernels.lock.toml".to_string(), place.0, place.1),
            "{m}"
        );
        assert!(m.starts_with(message), "{m}");
        // The same error when the lock is read on its own.
        let direct = Lock::load(&d.path().join("kernels.lock.toml")).unwrap_err();
        assert_eq!(direct.to_string(), err.to_string());
    }
}
