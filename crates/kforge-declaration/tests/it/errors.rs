//! Every way a declaration can be refused: message, help and place.

use crate::common;

use common::{Dir, HEAD};
use kforge_declaration::{Spec, SpecError};

const INCLUDED_HELP: &str =
    "an included file may only hold `[config]`, `[when.SYMBOL]` and `[build] include`";
const VERSION_FORMS: &str =
    "(expected MAJOR.MINOR, MAJOR.MINOR.PATCH or MAJOR.MINOR-rcN, e.g. 6.1, 6.1.192, 6.13-rc3)";
const SHAPES: &str =
    "expected `sha256-<base64 of 32 bytes>` (SRI) or `sha256:<52 nix-base32 characters>`";

#[test]
fn unreadable_main_file() {
    let d = Dir::new();
    let err = d.load("absent.toml").unwrap_err();
    assert!(matches!(err, SpecError::Io { .. }), "{err:?}");
    assert!(err.origin().is_none());
    assert!(d
        .relative(&err.to_string())
        .starts_with("$DIR/absent.toml: "));
}

#[test]
fn malformed_toml() {
    let d = Dir::new();
    let err = d.error("[source]\nversion = \"6.1\n");
    d.assert_at(
        &err,
        ("kernel.toml", 2, 15),
        "invalid TOML: invalid basic string, expected `\"`",
        None,
    );
    let err = d.error(&format!("{HEAD}[config]\nA = 1\nA = 2\n"));
    d.assert_at(
        &err,
        ("kernel.toml", 7, 1),
        "invalid TOML: duplicate key",
        None,
    );
    // Columns count characters, not bytes.
    let err = d.error(&format!("{HEAD}[config]\nCMDLINE = \"é→\" x\n"));
    d.assert_at(
        &err,
        ("kernel.toml", 6, 16),
        "invalid TOML: unexpected key or value, expected newline, `#`",
        None,
    );
}

/// Issue 17: a value nested 100,000 arrays deep is refused at the level
/// the TOML reader stops (80), with a remedy; the message is one short line
/// (the renderer, kforge-diagnostics, cuts the source line it shows).
#[test]
fn values_nested_too_deeply() {
    let d = Dir::new();
    let n = 100_000;
    for (open, close, column) in [("[", "]", 85), ("{a = ", "}", 405)] {
        let err = d.error(&format!(
            "{HEAD}[config]\nA = {}{}\n",
            open.repeat(n),
            close.repeat(n)
        ));
        d.assert_at(
            &err,
            ("kernel.toml", 6, column),
            "invalid TOML: cannot recurse further; max recursion depth met",
            Some(DEPTH_HELP),
        );
        assert!(err.to_string().len() < 300, "{err}");
    }
}

const DEPTH_HELP: &str = "no key kforge reads takes values nested more than a few arrays or \
     inline tables deep: remove the extra `[` or `{` from here on";

#[test]
fn unknown_keys() {
    let d = Dir::new();
    let err = d.error("[source]\nversion = \"6.1\"\ntarbal = \"x.tar\"\n");
    d.assert_at(
        &err,
        ("kernel.toml", 3, 1),
        "unknown key `tarbal` in [source]",
        Some("did you mean `tarball`?"),
    );
    assert_eq!(err.help(), Some("did you mean `tarball`?"));

    let err = d.error(&format!("{HEAD}Auto_Modules = true\n"));
    d.assert_at(
        &err,
        ("kernel.toml", 5, 1),
        "unknown key `Auto_Modules` in [build]",
        Some("did you mean `auto_modules`?"),
    );

    let err = d.error(&format!("{HEAD}parallelism = 4\n"));
    d.assert_at(
        &err,
        ("kernel.toml", 5, 1),
        "unknown key `parallelism` in [build]",
        Some(
            "expected one of `arch`, `cross_compile`, `base`, `targets`, `auto_modules`, \
             `prefer_builtin`, `ignore_config_errors`, `include`, `make_flags`, `jobs`, `launcher`, `distribute`, `llvm`, `post_patch` or `fragments`",
        ),
    );

    let err = d.error(&format!("{HEAD}jobs = 0\n"));
    d.assert_at(
        &err,
        ("kernel.toml", 5, 8),
        "expected a number of jobs of 1 or more",
        None,
    );

    let err = d.error(&format!("{HEAD}make_flags = [\"W=1\", \"\"]\n"));
    d.assert_at(&err, ("kernel.toml", 5, 22), "the make flag is empty", None);

    let err = d.error(&format!("{HEAD}launcher = \"\"\n"));
    d.assert_at(&err, ("kernel.toml", 5, 12), "`launcher` is empty", None);

    let err = d.error(&format!("{HEAD}distribute = \"bazel\"\n"));
    d.assert_at(
        &err,
        ("kernel.toml", 5, 14),
        "`bazel` is not a build farm kforge can use: give \"icecream\" or \"distcc\"",
        None,
    );

    let err = d.error(&format!("{HEAD}[configs]\nA = 1\n"));
    d.assert_at(
        &err,
        ("kernel.toml", 5, 2),
        "unknown table `[configs]`",
        Some("did you mean `config`?"),
    );

    let err = d.error(&format!("{HEAD}[tests]\n"));
    d.assert_at(
        &err,
        ("kernel.toml", 5, 2),
        "unknown table `[tests]`",
        Some("did you mean `test`?"),
    );

    let err = d.error(&format!("arch = \"x86_64\"\n{HEAD}"));
    d.assert_at(
        &err,
        ("kernel.toml", 1, 1),
        "unknown key `arch` at the top level",
        Some("`arch` belongs in `[build]`"),
    );

    let err = d.error(&format!("PRINTK = \"y\"\n{HEAD}"));
    d.assert_at(
        &err,
        ("kernel.toml", 1, 1),
        "unknown key `PRINTK` at the top level",
        Some("Kconfig settings belong in `[config]`"),
    );

    let err = d.error(&format!(
        "{HEAD}[[patches]]\nname = \"a\"\nfiel = \"a.patch\"\n"
    ));
    d.assert_at(
        &err,
        ("kernel.toml", 7, 1),
        "unknown key `fiel` in [[patches]]",
        Some("did you mean `file`?"),
    );

    let err = d.error(&format!("{HEAD}[modules.net]\nloads = [\"dummy\"]\n"));
    d.assert_at(
        &err,
        ("kernel.toml", 6, 1),
        "unknown key `loads` in [modules.net]",
        Some("did you mean `load`?"),
    );

    let err = d.error(&format!(
        "{HEAD}[config]\nA = {{ value = \"y\", optinal = true }}\n"
    ));
    d.assert_at(
        &err,
        ("kernel.toml", 6, 20),
        "unknown key `optinal` in the setting of A",
        Some("did you mean `optional`?"),
    );
}

#[test]
fn wrong_types() {
    let d = Dir::new();
    let err = d.error("[source]\nversion = 6\n");
    d.assert_at(
        &err,
        ("kernel.toml", 2, 11),
        "expected a string, found an integer",
        None,
    );
    let err = d.error("source = \"6.1\"\n");
    d.assert_at(
        &err,
        ("kernel.toml", 1, 10),
        "expected a table, found a string",
        None,
    );
    let err = d.error(&format!("{HEAD}auto_modules = \"yes\"\n"));
    d.assert_at(
        &err,
        ("kernel.toml", 5, 16),
        "expected a boolean, found a string",
        None,
    );
    let err = d.error(&format!("{HEAD}post_patch = [\"make prepare\"]\n"));
    d.assert_at(
        &err,
        ("kernel.toml", 5, 14),
        "expected a string, found an array",
        None,
    );
    let err = d.error(&format!("{HEAD}fragments = \"hardening.config\"\n"));
    d.assert_at(
        &err,
        ("kernel.toml", 5, 13),
        "expected an array, found a string",
        None,
    );
    let err = d.error(&format!("{HEAD}fragments = [\"hardening\"]\n"));
    d.assert_at(
        &err,
        ("kernel.toml", 5, 14),
        "`hardening` is not the name of a fragment",
        Some("fragments are named as make's targets: \"hardening.config\""),
    );
    let err = d.error(&format!(
        "{HEAD}fragments = [\"kernel/configs/hardening.config\"]\n"
    ));
    d.assert_at(
        &err,
        ("kernel.toml", 5, 14),
        "`kernel/configs/hardening.config` is not the name of a fragment",
        Some("give the file name of a fragment the tree ships in kernel/configs/ or arch/ARCH/configs/, e.g. \"hardening.config\""),
    );
    let err = d.error(&format!("{HEAD}fragments = [\"a.config\", \"a.config\"]\n"));
    d.assert_at(
        &err,
        ("kernel.toml", 5, 26),
        "the fragment `a.config` is named twice",
        Some("remove one of them"),
    );
    let err = d.error(&format!("{HEAD}targets = \"bzImage\"\n"));
    d.assert_at(
        &err,
        ("kernel.toml", 5, 11),
        "expected an array, found a string",
        None,
    );
    let err = d.error(&format!("{HEAD}targets = [\"bzImage\", 1]\n"));
    d.assert_at(
        &err,
        ("kernel.toml", 5, 23),
        "expected a string, found an integer",
        None,
    );
    let err = d.error(&format!("{HEAD}base = 3\n"));
    d.assert_at(
        &err,
        ("kernel.toml", 5, 8),
        "expected a string or a table, found an integer",
        None,
    );
    let err = d.error(&format!("{HEAD}[config]\nHZ = 1.5\n"));
    d.assert_at(
        &err,
        ("kernel.toml", 6, 6),
        "expected a string, an integer, a boolean or a table, found a float",
        None,
    );
    let err = d.error(&format!("{HEAD}[config]\nA = [\"y\"]\n"));
    d.assert_at(
        &err,
        ("kernel.toml", 6, 5),
        "expected a string, an integer, a boolean or a table, found an array",
        None,
    );
    let err = d.error(&format!("{HEAD}[config]\nA = {{ value = {{ x = 1 }} }}\n"));
    d.assert_at(
        &err,
        ("kernel.toml", 6, 15),
        "expected a string, an integer or a boolean, found a table",
        None,
    );
    let err = d.error(&format!(
        "{HEAD}[config]\nA = {{ value = 1, optional = 1 }}\n"
    ));
    d.assert_at(
        &err,
        ("kernel.toml", 6, 29),
        "expected a boolean, found an integer",
        None,
    );
    let err = d.error(&format!("{HEAD}[when]\nUSB = \"y\"\n"));
    d.assert_at(
        &err,
        ("kernel.toml", 6, 7),
        "expected a table, found a string",
        None,
    );
    let err = d.error(&format!("{HEAD}[modules.net]\nload = \"dummy\"\n"));
    d.assert_at(
        &err,
        ("kernel.toml", 6, 8),
        "expected an array, found a string",
        None,
    );
}

#[test]
fn bad_versions() {
    let d = Dir::new();
    let err = d.error("[source]\nversion = \"6\"\n");
    d.assert_at(
        &err,
        ("kernel.toml", 2, 11),
        &format!("invalid kernel version `6`: wrong number of parts {VERSION_FORMS}"),
        None,
    );
    let err = d.error(&format!(
        "{HEAD}[config]\nA = {{ value = \"y\", since = \"v6.1\" }}\n"
    ));
    d.assert_at(
        &err,
        ("kernel.toml", 6, 28),
        &format!("invalid kernel version `v6.1`: write it without the leading `v` {VERSION_FORMS}"),
        None,
    );
    let err = d.error(&format!(
        "{HEAD}[config]\nA = {{ value = \"y\", until = \"6.1.3-rc1\" }}\n"
    ));
    d.assert_at(
        &err,
        ("kernel.toml", 6, 28),
        &format!(
            "invalid kernel version `6.1.3-rc1`: a release candidate has no third number \
             {VERSION_FORMS}"
        ),
        None,
    );
    let err = d.error(&format!(
        "{HEAD}[config]\nA = {{ value = \"y\", since = \"6.12\", until = \"6.1\" }}\n"
    ));
    d.assert_at(
        &err,
        ("kernel.toml", 6, 44),
        "empty version range: `until` 6.1 is not after `since` 6.12",
        Some("`since` is inclusive, `until` exclusive"),
    );
    let err = d.error(&format!(
        "{HEAD}[config]\nA = {{ value = \"y\", since = \"6.1\", until = \"6.1.0\" }}\n"
    ));
    d.assert_at(
        &err,
        ("kernel.toml", 6, 43),
        "empty version range: `until` 6.1 is not after `since` 6.1",
        Some("`since` is inclusive, `until` exclusive"),
    );
}

#[test]
fn missing_required_parts() {
    let d = Dir::new();
    let err = d.error("[build]\narch = \"x86_64\"\n");
    d.assert_at(
        &err,
        ("kernel.toml", 1, 1),
        "missing `[source]` table",
        Some("a declaration starts with [source] and its `version`, e.g. version = \"6.1.192\""),
    );
    let err = d.error("[source]\nversion = \"6.1\"\n");
    d.assert_at(
        &err,
        ("kernel.toml", 1, 1),
        "missing `[build]` table",
        Some("a declaration needs [build] with at least `arch`, e.g. arch = \"x86_64\""),
    );
    let err = d.error("[source]\ntarball = \"l.tar\"\n[build]\narch = \"x86_64\"\n");
    d.assert_at(
        &err,
        ("kernel.toml", 1, 1),
        "`[source]` has no `version`",
        Some("e.g. version = \"6.1.192\""),
    );
    let err = d.error("[source]\nversion = \"6.1\"\n[build]\ntargets = []\n");
    d.assert_at(
        &err,
        ("kernel.toml", 3, 1),
        "`[build]` has no `arch`",
        Some("e.g. arch = \"x86_64\" (the kernel's ARCH=)"),
    );
    let err = d.error("[source]\nversion = \"6.1\"\n[build]\narch = \"\"\n");
    d.assert_at(&err, ("kernel.toml", 4, 8), "`arch` is empty", None);
    let err = d.error("[source]\nversion = \"6.1\"\n[build]\narch = \"x86 64\"\n");
    d.assert_at(
        &err,
        ("kernel.toml", 4, 8),
        "invalid architecture `x86 64`: only letters, digits, _ and - are allowed",
        None,
    );
    let err = d.error(&format!("{HEAD}[config]\nA = {{ optional = true }}\n"));
    d.assert_at(
        &err,
        ("kernel.toml", 6, 5),
        "the setting of A in [config] has no `value`",
        Some("write A = { value = \"y\", ... }, or A = { unset = true }"),
    );
    let err = d.error(&format!("{HEAD}base = {{ }}\n"));
    d.assert_at(
        &err,
        ("kernel.toml", 5, 8),
        "`base` has no `file`",
        Some("e.g. base = { file = \"full.config\" }"),
    );
    let err = d.error(&format!("{HEAD}[modules.net]\n"));
    d.assert_at(
        &err,
        ("kernel.toml", 5, 1),
        "`[modules.net]` has no `load`",
        Some("e.g. load = [\"dummy\"]"),
    );
}

#[test]
fn source_fields() {
    let d = Dir::new();
    let err =
        d.error("[source]\nversion = \"6.1\"\nhash = \"sha256:abc\"\n[build]\narch = \"x86_64\"\n");
    d.assert_at(
        &err,
        ("kernel.toml", 3, 8),
        &format!("invalid hash `sha256:abc`: the nix-base32 part must be 52 characters; {SHAPES}"),
        None,
    );
    let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let err = d.error(&format!(
        "[source]\nversion = \"6.1\"\nhash = \"sha256:{hex}\"\n"
    ));
    d.assert_at(
        &err,
        ("kernel.toml", 3, 8),
        &format!("invalid hash `sha256:{hex}`: hexadecimal digests are not accepted; {SHAPES}"),
        Some(&format!(
            "convert it: nix hash convert --hash-algo sha256 --to sri {hex}"
        )),
    );
    let err = d.error(
        "[source]\nversion = \"6.1\"\ntarball = \"a.tar\"\nurl = \"https://example.org/a.tar\"\n",
    );
    d.assert_at(
        &err,
        ("kernel.toml", 4, 1),
        "`tarball` and `url` exclude each other",
        Some("keep one of them"),
    );
    let err = d.error("[source]\nversion = \"6.1\"\nurl = \"kernel.org/a.tar\"\n");
    d.assert_at(
        &err,
        ("kernel.toml", 3, 7),
        "`kernel.org/a.tar` is not a URL",
        Some("write scheme://..., e.g. https://...; a local file is a path in `tarball` or `file`"),
    );
    let err = d.error("[source]\nversion = \"6.1\"\nurl = \"ftp://kernel.org/a.tar\"\n");
    d.assert_at(
        &err,
        ("kernel.toml", 3, 7),
        "kforge cannot fetch `ftp://` URLs",
        Some("write an http://, https:// or file:// URL, or a local path in `tarball` or `file`"),
    );
    let err = d.error("[source]\nversion = \"6.1\"\nurl = \"file://a.tar\"\n");
    d.assert_at(
        &err,
        ("kernel.toml", 3, 7),
        "`file://a.tar` is not an absolute file:// URL",
        Some("write file:///absolute/path, or a path relative to this file in `tarball` or `file`"),
    );
    let err = d.error("[source]\nversion = \"6.1\"\ntarball = \"\"\n");
    d.assert_at(&err, ("kernel.toml", 3, 11), "the path is empty", None);
}

#[test]
fn bad_base() {
    let d = Dir::new();
    let err = d.error(&format!("{HEAD}base = \"tinyconfg\"\n"));
    d.assert_at(
        &err,
        ("kernel.toml", 5, 8),
        "unknown base `tinyconfg`",
        Some("did you mean `tinyconfig`?"),
    );
    let err = d.error(&format!("{HEAD}base = \"config\"\n"));
    d.assert_at(
        &err,
        ("kernel.toml", 5, 8),
        "unknown base `config`",
        Some(
            "expected `defconfig`, `tinyconfig`, `allnoconfig` or `alldefconfig`, \
             or a table { file = \"path/to/.config\" }",
        ),
    );
    let err = d.error(&format!("{HEAD}base = {{ fil = \"x\" }}\n"));
    d.assert_at(
        &err,
        ("kernel.toml", 5, 10),
        "unknown key `fil` in `base`",
        Some("did you mean `file`?"),
    );
}

#[test]
fn bad_symbols() {
    let d = Dir::new();
    let err = d.error(&format!("{HEAD}[config]\nCONFIG_PRINTK = \"y\"\n"));
    d.assert_at(
        &err,
        ("kernel.toml", 6, 1),
        "symbol name `CONFIG_PRINTK` starts with CONFIG_",
        Some("write the name without CONFIG_: `PRINTK`"),
    );
    let err = d.error(&format!("{HEAD}[config]\n\"FOO-BAR\" = \"y\"\n"));
    d.assert_at(
        &err,
        ("kernel.toml", 6, 1),
        "invalid symbol name `FOO-BAR`: only letters, digits and _ are allowed",
        None,
    );
    let err = d.error(&format!("{HEAD}[when.CONFIG_USB]\nA = \"y\"\n"));
    d.assert_at(
        &err,
        ("kernel.toml", 5, 7),
        "symbol name `CONFIG_USB` starts with CONFIG_",
        Some("write the name without CONFIG_: `USB`"),
    );
    let err = d.error(&format!(
        "{HEAD}[[patches]]\nname = \"p\"\nfile = \"p.patch\"\nconfig = {{ CONFIG_A = \"y\" }}\n"
    ));
    d.assert_at(
        &err,
        ("kernel.toml", 8, 12),
        "symbol name `CONFIG_A` starts with CONFIG_",
        Some("write the name without CONFIG_: `A`"),
    );
}

#[test]
fn bad_unsets() {
    let d = Dir::new();
    let err = d.error(&format!("{HEAD}[config]\nA = {{ unset = true }}\n"));
    d.assert_at(
        &err,
        ("kernel.toml", 6, 1),
        "nothing to unset: no earlier request for A",
        Some(
            "`unset` removes requests made by an included file, or earlier in the layer \
             order; check the name",
        ),
    );
    // A condition's settings are their own scope.
    let err = d.error(&format!(
        "{HEAD}[config]\nA = \"y\"\n[when.USB]\nA = {{ unset = true }}\n"
    ));
    d.assert_at(
        &err,
        ("kernel.toml", 8, 1),
        "nothing to unset: no earlier request for A in [when.USB]",
        Some(
            "`unset` removes requests made by an included file, or earlier in the layer \
             order; check the name",
        ),
    );
    // Twice: the second has nothing left.
    d.write("a.toml", "[config]\nA = \"y\"\n");
    let err = d.error(&format!(
        "{HEAD}include = [\"a.toml\"]\n[config]\nA = {{ unset = true }}\n\
         [[patches]]\nname = \"p\"\nfile = \"p.patch\"\nconfig = {{ A = {{ unset = true }} }}\n"
    ));
    d.assert_at(
        &err,
        ("kernel.toml", 11, 12),
        "nothing to unset: no earlier request for A",
        Some(
            "`unset` removes requests made by an included file, or earlier in the layer \
             order; check the name",
        ),
    );
    let err = d.error(&format!("{HEAD}[config]\nA = {{ unset = false }}\n"));
    d.assert_at(
        &err,
        ("kernel.toml", 6, 15),
        "`unset = false` means nothing",
        Some("write `unset = true` to drop the earlier requests, or remove the setting"),
    );
    let err = d.error(&format!(
        "{HEAD}[config]\nA = {{ unset = true, value = \"y\" }}\n"
    ));
    d.assert_at(
        &err,
        ("kernel.toml", 6, 21),
        "`unset` cannot be combined with `value`",
        Some("write A = { unset = true } alone"),
    );
}

#[test]
fn bad_priority() {
    let d = Dir::new();
    let err = d.error(&format!(
        "{HEAD}[config]\nA = {{ value = \"y\", priority = \"forced\" }}\n"
    ));
    d.assert_at(
        &err,
        ("kernel.toml", 6, 31),
        "unknown priority `forced`",
        Some("did you mean `force`?"),
    );
    let err = d.error(&format!(
        "{HEAD}[config]\nA = {{ value = \"y\", priority = \"high\" }}\n"
    ));
    d.assert_at(
        &err,
        ("kernel.toml", 6, 31),
        "unknown priority `high`",
        Some("expected one of `default`, `normal` or `force`"),
    );
}

/// A string value with a NUL byte or a line break cannot be written to a
/// .config as the kernel's conf reads it: refused where it is written.
#[test]
fn values_a_config_cannot_hold() {
    let d = Dir::new();
    let help = "a .config has one value per line, read as a C string: the kernel's conf \
                would cut it there and warn \"invalid string found\"";
    let err = d.error(&format!("{HEAD}[config]\nCMDLINE = \"a\\u0000b\"\n"));
    d.assert_at(
        &err,
        ("kernel.toml", 6, 11),
        "a Kconfig value cannot hold a NUL byte",
        Some(help),
    );
    let err = d.error(&format!(
        "{HEAD}[config]\nDEFAULT_HOSTNAME = {{ value = \"x\\ny\", optional = true }}\n"
    ));
    assert!(
        err.to_string()
            .contains("a Kconfig value cannot hold a line break"),
        "{err}"
    );
}

/// Includes that are not regular files, too large, or nested too deep:
/// an error at the include, at once (no read of /dev/zero to the end of
/// memory, no wait on a FIFO, no stack overflow).
#[test]
fn hostile_includes() {
    let d = Dir::new();
    let err = d.error(&format!("{HEAD}include = [\"/dev/zero\"]\n"));
    d.assert_at(
        &err,
        ("kernel.toml", 5, 12),
        "cannot read included file /dev/zero: it is a character device, not a regular file; \
         a declaration is read from a regular file",
        None,
    );
    let fifo = d.path().join("fifo.toml");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let err = d.error(&format!("{HEAD}include = [\"fifo.toml\"]\n"));
    d.assert_at(
        &err,
        ("kernel.toml", 5, 12),
        "cannot read included file $DIR/fifo.toml: it is a FIFO, not a regular file; \
         a declaration is read from a regular file",
        None,
    );
    // 16 MiB and one byte of comment.
    let big = d.path().join("big.toml");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(kforge_declaration::MAX_DECLARATION_BYTES + 1)
        .unwrap();
    let err = d.error(&format!("{HEAD}include = [\"big.toml\"]\n"));
    d.assert_at(
        &err,
        ("kernel.toml", 5, 12),
        "cannot read included file $DIR/big.toml: it is larger than 16 MiB, \
         the most kforge reads as a declaration",
        None,
    );
    // A chain of 40 includes: refused at the 32nd, with its place.
    let depth = kforge_declaration::MAX_INCLUDE_DEPTH;
    for i in 0..40 {
        d.write(
            &format!("chain/{i}.toml"),
            &format!("[build]\ninclude = [\"{}.toml\"]\n", i + 1),
        );
    }
    d.write("chain/40.toml", "");
    let err = d.error(&format!("{HEAD}include = [\"chain/0.toml\"]\n"));
    d.assert_at(
        &err,
        (&format!("chain/{}.toml", depth - 2), 2, 12),
        &format!(
            "cannot include $DIR/chain/{}.toml: includes nest more than {depth} files deep \
             (from $DIR/kernel.toml); flatten the chain",
            depth - 1
        ),
        None,
    );
    // The main declaration itself.
    let err = kforge_declaration::Spec::load(std::path::Path::new("/dev/zero")).unwrap_err();
    assert!(
        err.to_string()
            .contains("it is a character device, not a regular file"),
        "{err}"
    );
}

#[test]
fn bad_includes() {
    let d = Dir::new();
    let err = d.error(&format!("{HEAD}include = [\"profiles/none.toml\"]\n"));
    d.assert_at(
        &err,
        ("kernel.toml", 5, 12),
        "included file $DIR/profiles/none.toml does not exist",
        None,
    );

    // Relative to the including file: profiles/a.toml includes b.toml,
    // which is profiles/b.toml.
    d.write("profiles/a.toml", "[build]\ninclude = [\"b.toml\"]\n");
    d.write("b.toml", "");
    let err = d.error(&format!("{HEAD}include = [\"profiles/a.toml\"]\n"));
    d.assert_at(
        &err,
        ("profiles/a.toml", 2, 12),
        "included file $DIR/profiles/b.toml does not exist",
        None,
    );

    let err = d.error(&format!("{HEAD}include = [\"kernel.toml\"]\n"));
    d.assert_at(
        &err,
        ("kernel.toml", 5, 12),
        "include cycle: $DIR/kernel.toml -> $DIR/kernel.toml",
        None,
    );

    d.write("a.toml", "[build]\ninclude = [\"b.toml\"]\n");
    d.write(
        "b.toml",
        "[config]\nB = 1\n[build]\ninclude = [\"c.toml\", \"a.toml\"]\n",
    );
    d.write("c.toml", "");
    let err = d.error(&format!("{HEAD}include = [\"a.toml\"]\n"));
    d.assert_at(
        &err,
        ("b.toml", 4, 22),
        "include cycle: $DIR/a.toml -> $DIR/b.toml -> $DIR/a.toml",
        None,
    );

    d.write("a.toml", "[config]\nA = \"y\n");
    let err = d.error(&format!("{HEAD}include = [\"a.toml\"]\n"));
    d.assert_at(
        &err,
        ("a.toml", 2, 7),
        "invalid TOML: invalid basic string, expected `\"`",
        None,
    );

    d.write("a.toml", "# a profile\n[source]\nversion = \"6.1\"\n");
    let err = d.error(&format!("{HEAD}include = [\"a.toml\"]\n"));
    d.assert_at(
        &err,
        ("a.toml", 2, 2),
        "`[source]` is not allowed in an included file",
        Some(INCLUDED_HELP),
    );

    d.write("a.toml", "[[patches]]\nname = \"p\"\n");
    let err = d.error(&format!("{HEAD}include = [\"a.toml\"]\n"));
    d.assert_at(
        &err,
        ("a.toml", 1, 3),
        "`[patches]` is not allowed in an included file",
        Some(INCLUDED_HELP),
    );

    d.write("a.toml", "[build]\ninclude = []\narch = \"arm64\"\n");
    let err = d.error(&format!("{HEAD}include = [\"a.toml\"]\n"));
    d.assert_at(
        &err,
        ("a.toml", 3, 1),
        "`arch` is not allowed in an included file",
        Some(INCLUDED_HELP),
    );

    d.write("a.toml", "[build]\npost_patch = \"true\"\n");
    let err = d.error(&format!("{HEAD}include = [\"a.toml\"]\n"));
    d.assert_at(
        &err,
        ("a.toml", 2, 1),
        "`post_patch` is not allowed in an included file",
        Some(INCLUDED_HELP),
    );

    let err = d.error(&format!("{HEAD}include = [\"\"]\n"));
    d.assert_at(&err, ("kernel.toml", 5, 12), "the path is empty", None);
}

#[test]
fn bad_patches() {
    let d = Dir::new();
    let err = d.error(&format!("{HEAD}[patches]\nname = \"x\"\n"));
    d.assert_at(
        &err,
        ("kernel.toml", 5, 1),
        "expected an array of tables, found a table",
        Some("write [[patches]] (two brackets) before each patch"),
    );
    let err = d.error(&format!("{HEAD}[[patches]]\nfile = \"a.patch\"\n"));
    d.assert_at(
        &err,
        ("kernel.toml", 5, 1),
        "a patch has no `name`",
        Some("e.g. name = \"fix-build\""),
    );
    let err = d.error(&format!(
        "{HEAD}[[patches]]\nname = \"a\"\nfile = \"a.patch\"\n\
         [[patches]]\nname = \"a\"\nurl = \"https://example.org/a.patch\"\n"
    ));
    d.assert_at(
        &err,
        ("kernel.toml", 9, 8),
        "a patch named `a` is already declared at $DIR/kernel.toml:5:1",
        None,
    );
    let err = d.error(&format!("{HEAD}[[patches]]\nname = \"a\"\n"));
    d.assert_at(
        &err,
        ("kernel.toml", 5, 1),
        "patch `a` has neither `file` nor `url`",
        Some("e.g. file = \"patches/fix.patch\""),
    );
    let err = d.error(&format!(
        "{HEAD}[[patches]]\nname = \"a\"\nfile = \"a.patch\"\nstrip = -1\n"
    ));
    d.assert_at(
        &err,
        ("kernel.toml", 8, 9),
        "expected a strip level of 0 or more",
        None,
    );
    let err = d.error(&format!(
        "{HEAD}[[patches]]\nname = \"a\"\nfile = \"a.patch\"\nhash = \"sha512-abc\"\n"
    ));
    d.assert_at(
        &err,
        ("kernel.toml", 8, 8),
        &format!("invalid hash `sha512-abc`: `sha512` is not supported, only sha256; {SHAPES}"),
        None,
    );
}

#[test]
fn bad_module_names() {
    let d = Dir::new();
    let err = d.error(&format!("{HEAD}[modules.net]\nload = [\"du mmy\"]\n"));
    d.assert_at(
        &err,
        ("kernel.toml", 6, 9),
        "invalid module name `du mmy`: only letters, digits, _ and - are allowed",
        None,
    );
    let err = d.error(&format!("{HEAD}[modules.\"a b\"]\nload = []\n"));
    d.assert_at(
        &err,
        ("kernel.toml", 5, 10),
        "invalid module set name `a b`: only letters, digits, _ and - are allowed",
        None,
    );
}

/// The conflict's places, relative to the directory.
fn conflict(d: &Dir, err: &SpecError) -> String {
    let SpecError::Conflict { .. } = err else {
        panic!("expected a conflict, got {err:?}");
    };
    d.relative(&err.to_string())
}

#[test]
fn conflicts() {
    let d = Dir::new();
    // In one file: the declaration and a patch's settings.
    let err = d.error(&format!(
        "{HEAD}[config]\nA = \"y\"\n[[patches]]\nname = \"p\"\nfile = \"p.patch\"\n\
         config = {{ A = \"n\" }}\n"
    ));
    assert_eq!(
        conflict(&d, &err),
        "$DIR/kernel.toml:6:1: conflicting requests for A: \"y\" here, \"n\" at $DIR/kernel.toml:10:12"
    );
    let SpecError::Conflict {
        symbol,
        first_value,
        second_value,
        ..
    } = &err
    else {
        unreachable!()
    };
    assert_eq!(
        (symbol.as_str(), first_value.as_str(), second_value.as_str()),
        ("A", "\"y\"", "\"n\"")
    );

    // Across files.
    d.write("a.toml", "[config]\nNR_CPUS = 4\n");
    let err = d.error(&format!(
        "{HEAD}include = [\"a.toml\"]\n[config]\nNR_CPUS = 8\n"
    ));
    assert_eq!(
        conflict(&d, &err),
        "$DIR/a.toml:2:1: conflicting requests for NR_CPUS: 4 here, 8 at $DIR/kernel.toml:7:1"
    );

    // Values are compared as written.
    d.write("a.toml", "[config]\nA = true\n");
    let err = d.error(&format!(
        "{HEAD}include = [\"a.toml\"]\n[config]\nA = \"y\"\n"
    ));
    assert_eq!(
        conflict(&d, &err),
        "$DIR/a.toml:2:1: conflicting requests for A: true here, \"y\" at $DIR/kernel.toml:7:1"
    );

    // Two optional requests at one priority conflict too.
    d.write(
        "a.toml",
        "[config]\nA = { value = \"m\", optional = true }\n",
    );
    let err = d.error(&format!(
        "{HEAD}include = [\"a.toml\"]\n[config]\nA = {{ value = \"y\", optional = true }}\n"
    ));
    assert_eq!(
        conflict(&d, &err),
        "$DIR/a.toml:2:1: conflicting requests for A: \"m\" here, \"y\" at $DIR/kernel.toml:7:1"
    );

    // So do two forces.
    d.write(
        "a.toml",
        "[config]\nA = { value = \"n\", priority = \"force\" }\n",
    );
    let err = d.error(&format!(
        "{HEAD}include = [\"a.toml\"]\n[config]\nA = {{ value = \"y\", priority = \"force\" }}\n"
    ));
    assert_eq!(
        conflict(&d, &err),
        "$DIR/a.toml:2:1: conflicting requests for A: \"n\" here, \"y\" at $DIR/kernel.toml:7:1"
    );

    // Overlapping version ranges: 6.6 <= v < 6.7 has both.
    d.write(
        "a.toml",
        "[config]\nA = { value = \"y\", until = \"6.7\" }\n",
    );
    let err = d.error(&format!(
        "{HEAD}include = [\"a.toml\"]\n[config]\nA = {{ value = \"n\", since = \"6.6\" }}\n"
    ));
    assert_eq!(
        conflict(&d, &err),
        "$DIR/a.toml:2:1: conflicting requests for A: \"y\" here, \"n\" at $DIR/kernel.toml:7:1"
    );

    // Text values are shown as TOML strings.
    let err = d.error(&format!(
        "{HEAD}[config]\nCMDLINE = \"a \\\"b\\\"\"\n[[patches]]\nname = \"p\"\nfile = \"p\"\n\
         config = {{ CMDLINE = \"c\\\\d\" }}\n"
    ));
    assert_eq!(
        conflict(&d, &err),
        "$DIR/kernel.toml:6:1: conflicting requests for CMDLINE: \"a \\\"b\\\"\" here, \
         \"c\\\\d\" at $DIR/kernel.toml:10:12"
    );
}

#[test]
fn conditional_conflicts() {
    let d = Dir::new();
    d.write("a.toml", "[when.USB]\nUSB_XHCI_HCD = \"y\"\n");
    let err = d.error(&format!(
        "{HEAD}include = [\"a.toml\"]\n[when.USB]\nUSB_XHCI_HCD = \"m\"\n"
    ));
    assert_eq!(
        conflict(&d, &err),
        "$DIR/a.toml:2:1: conflicting requests for USB_XHCI_HCD: \"y\" here, \"m\" at $DIR/kernel.toml:7:1"
    );
    // Different conditions never conflict here (the resolver decides).
    d.spec(&format!(
        "{HEAD}include = [\"a.toml\"]\n[when.PCI]\nUSB_XHCI_HCD = \"m\"\n"
    ));
}

#[test]
fn display_and_help() {
    let d = Dir::new();
    let path = d.write("kernel.toml", &format!("{HEAD}[config]\nCONFIG_A = 1\n"));
    let err = Spec::load(&path).unwrap_err();
    assert_eq!(
        d.relative(&err.to_string()),
        "$DIR/kernel.toml:6:1: symbol name `CONFIG_A` starts with CONFIG_"
    );
    assert_eq!(err.help(), Some("write the name without CONFIG_: `A`"));
    let origin = err.origin().unwrap();
    assert_eq!((origin.line, origin.column), (6, 1));
}

#[test]
fn bad_test_table() {
    let d = Dir::new();
    let err = d.error(&format!("{HEAD}[test]\nscrpt = \"true\"\n"));
    d.assert_at(
        &err,
        ("kernel.toml", 6, 1),
        "unknown key `scrpt` in [test]",
        Some("did you mean `script`?"),
    );
    let err = d.error(&format!("{HEAD}[test]\nscript = 1\n"));
    d.assert_at(
        &err,
        ("kernel.toml", 6, 10),
        "expected a string (the script) or a table { file = \"...\" }, found an integer",
        None,
    );
    let err = d.error(&format!("{HEAD}[test]\ntimeout = 0\n"));
    d.assert_at(
        &err,
        ("kernel.toml", 6, 11),
        "`timeout` must be between 1 and 86400 seconds",
        None,
    );
    let err = d.error(&format!("{HEAD}[test]\nmemory = 8\n"));
    d.assert_at(
        &err,
        ("kernel.toml", 6, 10),
        "`memory` must be between 16 and 65536 MiB",
        None,
    );
    let err = d.error(&format!("{HEAD}[test]\nfiles = {{ \"etc/x\" = \"x\" }}\n"));
    d.assert_at(
        &err,
        ("kernel.toml", 6, 11),
        "guest path `etc/x` is not a plain absolute path",
        Some("write it as \"/etc/file\" = \"host/file\", without . or .. components"),
    );
    let err = d.error(&format!(
        "{HEAD}[modules.net]\nload = [\"dummy\"]\n[test]\nloaders = [\"net\", \"nett\"]\n"
    ));
    d.assert_at(
        &err,
        ("kernel.toml", 8, 19),
        "`[test] loaders` names `nett`, which no `[modules.nett]` declares",
        Some("the declared sets: net"),
    );
    // Only in the declaration.
    d.write("profile.toml", "[test]\nscript = \"true\"\n");
    let err = d.error(&format!("{HEAD}include = [\"profile.toml\"]\n"));
    d.assert_at(
        &err,
        ("profile.toml", 1, 2),
        "`[test]` is not allowed in an included file",
        Some(INCLUDED_HELP),
    );
}

#[test]
fn bad_llvm() {
    let d = Dir::new();
    let err = d.error(&format!("{HEAD}llvm = \"17\"\n"));
    d.assert_at(
        &err,
        ("kernel.toml", 5, 8),
        "`llvm = \"17\"` is neither a version suffix (\"-17\") nor a directory ending in / (use `llvm = true` for LLVM=1)",
        None,
    );
    let err = d.error(&format!("{HEAD}llvm = 1\n"));
    d.assert_at(
        &err,
        ("kernel.toml", 5, 8),
        "expected true, false, a version suffix (\"-17\") or a directory ending in /, found an integer",
        None,
    );
    for (text, want) in [
        ("true", Some("1")),
        ("false", None),
        ("\"-17\"", Some("-17")),
        ("\"/opt/llvm/bin/\"", Some("/opt/llvm/bin/")),
    ] {
        let s = d.spec(&format!("{HEAD}llvm = {text}\n"));
        assert_eq!(s.build.llvm.as_deref(), want, "{text}");
    }
}
