//! Patches: plain and compressed, in order, with strip levels; failures
//! name the patch, the file and the hunk, and leave the tree unchanged.

use crate::common;

use std::path::{Path, PathBuf};

use common::{bzip2, gzip, snapshot, xz, zstd, MAIN_C};
use kforge_source::{apply_patches, PatchFile, SourceError};

/// A tree like the kernel tarball's, written directly.
fn tree(dir: &Path) -> PathBuf {
    let t = dir.join("linux");
    std::fs::create_dir_all(t.join("init")).unwrap();
    std::fs::write(
        t.join("Makefile"),
        "VERSION = 0\nPATCHLEVEL = 1\nEXTRAVERSION =\n",
    )
    .unwrap();
    std::fs::write(t.join("init/main.c"), MAIN_C).unwrap();
    t
}

/// A hunk of `init/main.c` replacing line `n` (with two lines of context
/// on each side) by `new`; `old` is what the line is expected to be.
fn hunk(n: usize, old: &str, new: &str) -> String {
    let mut s = format!("@@ -{0},5 +{0},5 @@\n", n - 2);
    for i in n - 2..n {
        s += &format!(" line {i}\n");
    }
    s += &format!("-{old}\n+{new}\n");
    for i in n + 1..n + 3 {
        s += &format!(" line {i}\n");
    }
    s
}

fn main_c_diff(old_name: &str, new_name: &str, hunks: &[String]) -> String {
    format!("--- {old_name}\n+++ {new_name}\n{}", hunks.concat())
}

fn write(dir: &Path, name: &str, bytes: Vec<u8>) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn patch(name: &str, path: PathBuf, strip: u32) -> PatchFile {
    PatchFile {
        name: name.into(),
        path,
        strip,
    }
}

#[test]
fn plain_and_compressed_in_order_with_strip_levels() {
    let d = tempfile::tempdir().unwrap();
    let t = tree(d.path());
    let p = d.path();
    let extraversion = "--- a/Makefile\n+++ b/Makefile\n@@ -1,3 +1,3 @@\n VERSION = 0\n PATCHLEVEL = 1\n-EXTRAVERSION =\n+EXTRAVERSION = -one\n";
    // Applies only on top of the first one.
    let again = "--- a/Makefile\n+++ b/Makefile\n@@ -1,3 +1,3 @@\n VERSION = 0\n PATCHLEVEL = 1\n-EXTRAVERSION = -one\n+EXTRAVERSION = -four\n";
    let new_file = "diff --git a/init/new.c b/init/new.c\nnew file mode 100644\n--- /dev/null\n+++ b/init/new.c\n@@ -0,0 +1 @@\n+int new;\n";
    let patches = [
        patch("one", write(p, "one.patch", extraversion.into()), 1),
        patch(
            "two",
            write(
                p,
                "two.patch.gz",
                gzip(
                    main_c_diff("init/main.c", "init/main.c", &[hunk(5, "line 5", "five")])
                        .as_bytes(),
                ),
            ),
            0,
        ),
        patch(
            "three",
            write(
                p,
                "three.patch.xz",
                xz(main_c_diff(
                    "x/a/init/main.c",
                    "x/b/init/main.c",
                    &[hunk(20, "line 20", "twenty")],
                )
                .as_bytes()),
            ),
            2,
        ),
        patch(
            "four",
            write(p, "four.diff.bz2", bzip2(again.as_bytes())),
            1,
        ),
        patch(
            "five",
            write(p, "five.patch.zst", zstd(new_file.as_bytes())),
            1,
        ),
        // Compressed, but named as if it were not.
        patch(
            "six",
            write(
                p,
                "six.patch",
                xz(main_c_diff(
                    "a/init/main.c",
                    "b/init/main.c",
                    &[hunk(28, "line 28", "28")],
                )
                .as_bytes()),
            ),
            1,
        ),
    ];
    apply_patches(&t, &patches).unwrap();
    assert_eq!(
        std::fs::read_to_string(t.join("Makefile")).unwrap(),
        "VERSION = 0\nPATCHLEVEL = 1\nEXTRAVERSION = -four\n"
    );
    let main = std::fs::read_to_string(t.join("init/main.c")).unwrap();
    let want = MAIN_C
        .replace("line 5\n", "five\n")
        .replace("line 20\n", "twenty\n")
        .replace("line 28\n", "28\n");
    assert_eq!(main, want);
    assert_eq!(
        std::fs::read_to_string(t.join("init/new.c")).unwrap(),
        "int new;\n"
    );
    // No backup or reject files.
    let files: Vec<_> = snapshot(&t).into_keys().collect();
    assert_eq!(files.len(), 4, "{files:?}");
}

#[test]
fn a_failing_hunk_names_patch_file_and_hunk_and_changes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let t = tree(d.path());
    let before = snapshot(&t);
    // The first file and the first hunk would apply; hunk #2 does not.
    let text = format!(
        "--- a/Makefile\n+++ b/Makefile\n@@ -1,3 +1,3 @@\n VERSION = 0\n PATCHLEVEL = 1\n-EXTRAVERSION =\n+EXTRAVERSION = -x\n{}",
        main_c_diff(
            "a/init/main.c",
            "b/init/main.c",
            &[hunk(4, "line 4", "four"), hunk(25, "line twenty-five", "25")]
        )
    );
    let path = write(d.path(), "broken.patch.gz", gzip(text.as_bytes()));
    let err = apply_patches(&t, &[patch("fix-the-thing", path.clone(), 1)]).unwrap_err();
    let msg = err.to_string();
    let SourceError::PatchFailed {
        name,
        failures,
        unchanged,
        output,
        ..
    } = &err
    else {
        panic!("{msg}")
    };
    assert_eq!(name, "fix-the-thing");
    assert_eq!(failures.len(), 1, "{msg}");
    assert!(
        failures[0].starts_with("init/main.c: hunk #2 FAILED at 23"),
        "{msg}"
    );
    assert!(*unchanged);
    assert!(output.contains("Hunk #2 FAILED"), "{msg}");
    assert!(
        msg.starts_with(&format!(
            "patch `fix-the-thing` ({}) does not apply",
            path.display()
        )),
        "{msg}"
    );
    assert!(msg.contains("nothing was changed"), "{msg}");
    assert_eq!(snapshot(&t), before);
}

#[test]
fn earlier_patches_stay_and_the_failing_one_is_named() {
    let d = tempfile::tempdir().unwrap();
    let t = tree(d.path());
    let good = write(
        d.path(),
        "good.patch",
        main_c_diff(
            "a/init/main.c",
            "b/init/main.c",
            &[hunk(10, "line 10", "ten")],
        )
        .into(),
    );
    // The same change again: already applied.
    let dup = good.clone();
    let err = apply_patches(&t, &[patch("good", good, 1), patch("dup", dup, 1)]).unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("patch `dup`"), "{msg}");
    assert!(
        msg.contains("init/main.c: already applied (or reversed)"),
        "{msg}"
    );
    assert_eq!(
        std::fs::read_to_string(t.join("init/main.c")).unwrap(),
        MAIN_C.replace("line 10\n", "ten\n")
    );
}

#[test]
fn a_wrong_strip_level_names_the_file() {
    let d = tempfile::tempdir().unwrap();
    let t = tree(d.path());
    let before = snapshot(&t);
    let path = write(
        d.path(),
        "p.patch",
        main_c_diff(
            "a/init/main.c",
            "b/init/main.c",
            &[hunk(10, "line 10", "ten")],
        )
        .into(),
    );
    let err = apply_patches(&t, &[patch("p", path, 0)]).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(
            "b/init/main.c: no such file in the tree with -p0 (check the patch's `strip` level)"
        ),
        "{msg}"
    );
    assert_eq!(snapshot(&t), before);
}

#[test]
fn not_a_patch() {
    let d = tempfile::tempdir().unwrap();
    let t = tree(d.path());
    let path = write(d.path(), "junk.patch", b"hello\n".to_vec());
    let msg = apply_patches(&t, &[patch("junk", path, 1)])
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("Only garbage was found in the patch input"),
        "{msg}"
    );

    let path = write(d.path(), "cut.patch.xz", b"\xfd7zXZ\x00broken".to_vec());
    let err = apply_patches(&t, &[patch("cut", path, 1)]).unwrap_err();
    assert!(matches!(err, SourceError::PatchDecompress { .. }), "{err}");
    assert!(err.to_string().starts_with("patch `cut` ("), "{err}");
}
