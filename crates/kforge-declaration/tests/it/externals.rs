//! `[external.NAME]`: out-of-tree modules, their sources, order and
//! requests, and every way one is refused.

use crate::common;

use std::path::PathBuf;

use common::{Dir, HEAD};
use kforge_declaration::{ExternalSource, Layer};

#[test]
fn externals_load_in_dependency_order_with_their_requests() {
    let d = Dir::new();
    let spec = d.spec(&format!(
        "{HEAD}[external.user]\npath = \"mods/user\"\nuses = [\"core\"]\nmake_flags = [\"KCPPFLAGS=-DFOO\"]\n\
         config = {{ VIDEO_DEV = \"m\" }}\n\
         [external.core]\ntarball = \"core.tar.gz\"\nsubdir = \"src/driver\"\n\
         [external.net]\nurl = \"https://example.org/net.tar.xz\"\nhash = \"sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\"\n"
    ));
    let names: Vec<&str> = spec.externals.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["core", "user", "net"]);
    let core = &spec.externals[0];
    assert_eq!(
        core.source,
        ExternalSource::Tarball {
            path: d.path().join("core.tar.gz"),
            hash: None
        }
    );
    assert_eq!(core.subdir, PathBuf::from("src/driver"));
    let user = &spec.externals[1];
    assert_eq!(
        user.source,
        ExternalSource::Path(d.path().join("mods/user"))
    );
    assert_eq!(user.subdir, PathBuf::from("."));
    assert_eq!(user.make_flags, ["KCPPFLAGS=-DFOO"]);
    assert_eq!(user.uses, ["core"]);
    assert_eq!(user.origin.line, 5);
    assert!(
        matches!(&spec.externals[2].source, ExternalSource::Url { url, .. } if url.ends_with("net.tar.xz"))
    );
    // The module's requests join the others, from their own layer.
    let r = spec
        .requests
        .iter()
        .find(|r| r.symbol == "VIDEO_DEV")
        .unwrap();
    assert_eq!(r.layer, Layer::External("user".into()));
    assert_eq!(r.origin.line, 9);
}

#[test]
fn bad_externals_are_refused_where_they_are_written() {
    let d = Dir::new();
    let cases: &[(&str, u32, &str, Option<&str>)] = &[
        (
            "[external.a]\nsubdir = \"x\"\n",
            5,
            "[external.a] has no `path`, `tarball` or `url`",
            Some("e.g. path = \"../v4l2loopback\""),
        ),
        (
            "[external.a]\npath = \"a\"\ntarball = \"a.tar\"\n",
            7,
            "`path` and `tarball` exclude each other",
            Some("keep one of them"),
        ),
        (
            "[external.a]\nurl = \"https://example.org/a.tar\"\n",
            6,
            "[external.a] has a `url` but no `hash`",
            Some("add hash = \"sha256-...\" (kforge prints the right one when it is wrong)"),
        ),
        (
            "[external.a]\npath = \"a\"\nhash = \"sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\"\n",
            7,
            "`hash` with `path` in [external.a]",
            Some("a path is fingerprinted as it is; `hash` is for `tarball` or `url`"),
        ),
        (
            "[external.a]\npath = \"a\"\nsubdir = \"../b\"\n",
            7,
            "subdir `../b` leaves the module's source",
            Some("write a relative path inside it, e.g. subdir = \"driver\""),
        ),
        (
            "[external.a]\npath = \"a\"\nuses = [\"b\"]\n[external.c]\npath = \"c\"\n",
            7,
            "[external.a] uses `b`, which is not another declared external",
            Some("expected one of `a` or `c`"),
        ),
        (
            "[external.a]\npath = \"a\"\nuses = [\"b\"]\n[external.b]\npath = \"b\"\nuses = [\"a\"]\n",
            5,
            "externals use each other in a cycle: a, b",
            Some("two modules cannot each need the other's symbols; drop one `uses`"),
        ),
        (
            "[external.a]\npath = \"a\"\nmakeflags = []\n",
            7,
            "unknown key `makeflags` in [external.a]",
            Some("did you mean `make_flags`?"),
        ),
        (
            "[external.\"a b\"]\npath = \"a\"\n",
            5,
            "invalid external module name `a b`: only letters, digits, _ and - are allowed",
            None,
        ),
    ];
    for (body, line, message, help) in cases {
        let err = d.error(&format!("{HEAD}{body}"));
        let origin = err.origin().expect("a place");
        assert_eq!(
            (origin.line, err.to_string().split_once(": ").map(|x| x.1)),
            (*line, Some(*message)),
            "{body}"
        );
        assert_eq!(err.help(), *help, "{body}");
    }
    // Only the declaration itself may declare them.
    d.write("inc.toml", "[external.a]\npath = \"a\"\n");
    let err = d.error(&format!("{HEAD}include = [\"inc.toml\"]\n"));
    assert!(
        err.to_string()
            .contains("`[external]` is not allowed in an included file"),
        "{err}"
    );
}
