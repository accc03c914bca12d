//! Unpacking: every compression (by content), the tree's root, modes and
//! links kept, and unsafe entries refused with nothing left behind.

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{bzip2, gzip, kernel_tar, names, snapshot, tar, xz, zstd, E, MAIN_C};
use kforge_source::{unpack, SourceError};

fn check_kernel_tree(root: &Path) {
    assert!(root.ends_with("linux-0.1"), "{}", root.display());
    assert_eq!(
        std::fs::read_to_string(root.join("init/main.c")).unwrap(),
        MAIN_C
    );
    let mode = std::fs::metadata(root.join("scripts/run.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
    let mode = std::fs::metadata(root.join("Makefile"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o644);
    let mtime = std::fs::metadata(root.join("Makefile"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(
        mtime
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
        1_700_000_000
    );
}

#[test]
fn every_format_by_content() {
    let d = tempfile::tempdir().unwrap();
    let plain = kernel_tar();
    for (name, bytes) in [
        ("l.tar", plain.clone()),
        ("l.tar.xz", xz(&plain)),
        ("l.tar.gz", gzip(&plain)),
        ("l.tar.zst", zstd(&plain)),
        ("l.tar.bz2", bzip2(&plain)),
        // The name says gz, the content is xz: the content decides.
        ("misnamed.tar.gz", xz(&plain)),
        // No extension at all (as in downloads/<hex>).
        ("0123abcd", zstd(&plain)),
    ] {
        let archive = d.path().join(name);
        std::fs::write(&archive, bytes).unwrap();
        let dest = d.path().join(format!("out-{name}"));
        let root = unpack(&archive, &dest).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(root, dest.join("linux-0.1"));
        check_kernel_tree(&root);
    }
    // No temporary directories left next to the destinations.
    assert!(names(d.path()).iter().all(|n| !n.starts_with('.')));
}

#[test]
fn root_is_dest_without_a_single_top_directory() {
    let d = tempfile::tempdir().unwrap();
    let archive = d.path().join("a.tar");
    std::fs::write(
        &archive,
        tar(&[
            E::File("Makefile", b"all:\n", 0o644),
            E::Dir("init/"),
            E::File("init/main.c", b"int x;\n", 0o600),
        ]),
    )
    .unwrap();
    let dest = d.path().join("deep/er/out");
    assert_eq!(unpack(&archive, &dest).unwrap(), dest);
    assert_eq!(
        std::fs::read_to_string(dest.join("init/main.c")).unwrap(),
        "int x;\n"
    );
}

#[test]
fn links_inside_the_tree_are_kept() {
    let d = tempfile::tempdir().unwrap();
    let archive = d.path().join("a.tar.xz");
    std::fs::write(
        &archive,
        xz(&tar(&[
            E::Dir("linux/"),
            E::File("linux/arch/arm/boot/dts/a.dts", b"/dts-v1/;\n", 0o644),
            E::Symlink(
                "linux/scripts/dtc/include-prefixes/arm",
                "../../../arch/arm/boot/dts",
            ),
            E::Symlink("linux/same", "./Makefile"),
            E::File("linux/Makefile", b"all:\n", 0o644),
            E::Hardlink("linux/Makefile.copy", "linux/Makefile"),
            E::Symlink("linux/dangling", "nowhere/at/all"),
        ])),
    )
    .unwrap();
    let root = unpack(&archive, &d.path().join("out")).unwrap();
    assert_eq!(
        std::fs::read_to_string(root.join("scripts/dtc/include-prefixes/arm/a.dts")).unwrap(),
        "/dts-v1/;\n"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("same")).unwrap(),
        "all:\n"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("Makefile.copy")).unwrap(),
        "all:\n"
    );
    assert_eq!(
        std::fs::read_link(root.join("dangling")).unwrap(),
        Path::new("nowhere/at/all")
    );
}

/// `entries` refused: the error names the archive, the entry and `why`;
/// the destination does not exist and nothing is left next to it.
#[track_caller]
fn refused(entries: &[E], entry: &str, why: &str) {
    let d = tempfile::tempdir().unwrap();
    let archive = d.path().join("evil.tar.gz");
    std::fs::write(&archive, gzip(&tar(entries))).unwrap();
    let dest = d.path().join("out/tree");
    let err = unpack(&archive, &dest).unwrap_err();
    let msg = err.to_string();
    match &err {
        SourceError::UnsafeEntry { entry: e, .. } => assert_eq!(e, entry, "{msg}"),
        _ => panic!("not UnsafeEntry: {msg}"),
    }
    assert!(
        msg.starts_with(&format!(
            "{}: refusing to unpack entry `{entry}`",
            archive.display()
        )),
        "{msg}"
    );
    assert!(msg.contains(why), "{msg}");
    assert!(!dest.exists());
    assert!(
        names(&d.path().join("out")).is_empty(),
        "{:?}",
        names(&d.path().join("out"))
    );
    assert!(!d.path().join("x").exists() && !d.path().join("etc").exists());
}

#[test]
fn unsafe_entries_are_refused() {
    let ok = E::File("linux/Makefile", b"all:\n", 0o644);
    refused(
        &[E::Dir("linux/"), E::File("linux/../../x", b"boom", 0o644)],
        "linux/../../x",
        "`..`",
    );
    refused(&[E::File("../x", b"boom", 0o644)], "../x", "`..`");
    refused(
        &[E::File("/tmp/kforge-evil-x", b"boom", 0o644)],
        "/tmp/kforge-evil-x",
        "absolute path",
    );
    refused(
        &[E::Dir("linux/"), E::Symlink("linux/etc", "../../etc")],
        "linux/etc",
        "symbolic link to `../../etc`, outside the tree",
    );
    // Inside the archive, but outside `linux/`, which becomes the root.
    refused(
        &[E::Dir("linux/"), E::Symlink("linux/l", "../sibling")],
        "linux/l",
        "symbolic link to `../sibling`, outside the tree (the tree's root is `linux/`)",
    );
    refused(
        &[E::Symlink("passwd", "/etc/passwd")],
        "passwd",
        "absolute path `/etc/passwd`",
    );
    refused(
        &[E::Symlink("linux/a/b", "c/../../../x")],
        "linux/a/b",
        "`..` after a name",
    );
    refused(
        &[ok, E::Hardlink("linux/passwd", "../../etc/passwd")],
        "linux/passwd",
        "hard link to `../../etc/passwd`",
    );
    refused(
        &[E::Hardlink("linux/passwd", "/etc/passwd")],
        "linux/passwd",
        "hard link to `/etc/passwd`",
    );
    refused(
        &[E::Hardlink("linux/x", "linux/not-there")],
        "linux/x",
        "not a regular file unpacked before it",
    );
    refused(
        &[E::CharDevice("linux/null")],
        "linux/null",
        "character device",
    );
    refused(&[E::Fifo("linux/fifo")], "linux/fifo", "FIFO");
    // A link that is harmless itself, then an entry written through it.
    refused(
        &[E::Symlink("linux/d", "."), E::File("linux/d/x", b"", 0o644)],
        "linux/d/x",
        "below `linux/d`, a symbolic link",
    );
    // A hard link to a symbolic link would move the link elsewhere.
    refused(
        &[
            E::Symlink("linux/a/b/l", "../x"),
            E::Hardlink("linux/h", "linux/a/b/l"),
        ],
        "linux/h",
        "not a regular file",
    );
}

#[test]
fn unreadable_archives() {
    let d = tempfile::tempdir().unwrap();
    let archive = d.path().join("junk.tar.xz");
    std::fs::write(&archive, b"\xfd7zXZ\x00 this is not xz at all").unwrap();
    let err = unpack(&archive, &d.path().join("out")).unwrap_err();
    assert!(matches!(err, SourceError::Archive { .. }), "{err}");
    assert!(err.to_string().contains("junk.tar.xz"), "{err}");
    assert!(!d.path().join("out").exists());

    // Truncated in the middle of an entry.
    let full = gzip(&kernel_tar());
    std::fs::write(&archive, &full[..full.len() / 2]).unwrap();
    let err = unpack(&archive, &d.path().join("out")).unwrap_err();
    assert!(matches!(err, SourceError::Archive { .. }), "{err}");
    assert_eq!(names(d.path()), ["junk.tar.xz"]);

    let err = unpack(&d.path().join("absent.tar"), &d.path().join("out")).unwrap_err();
    assert!(err.to_string().contains("absent.tar"), "{err}");

    // Random bytes: the tar reader quotes what it could not read; the
    // message shows it escaped and short, never raw binary.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let noise: Vec<u8> = (0..20_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    let random = d.path().join("random.tar");
    std::fs::write(&random, noise).unwrap();
    let err = unpack(&random, &d.path().join("out"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("random.tar"), "{err}");
    assert!(
        err.chars().all(|c| c == '\n' || !c.is_control()) && !err.contains('\u{fffd}'),
        "{err:?}"
    );
    assert!(err.len() < 600, "{} bytes: {err}", err.len());
}

#[test]
fn the_destination_must_be_new() {
    let d = tempfile::tempdir().unwrap();
    let archive = d.path().join("a.tar");
    std::fs::write(&archive, kernel_tar()).unwrap();
    let dest = d.path().join("out");
    std::fs::create_dir(&dest).unwrap();
    std::fs::write(dest.join("keep"), b"mine").unwrap();
    let err = unpack(&archive, &dest).unwrap_err();
    assert!(
        matches!(err, SourceError::DestinationExists { .. }),
        "{err}"
    );
    assert_eq!(snapshot(&dest).len(), 1);
}
