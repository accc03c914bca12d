//! Output that cannot be written is an error, never a success: a full disk
//! (`/dev/full`) on standard output makes the command fail with a message
//! naming standard output. Hermetic: no oracle needed.

use std::process::{Command, Stdio};

fn kforge() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kforge"))
}

fn dev_full() -> Stdio {
    Stdio::from(
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full"),
    )
}

#[test]
fn depmod_n_on_a_full_disk_fails() {
    let dir = tempfile::tempdir().unwrap();
    let moddir = dir.path().join("lib/modules/1.0");
    std::fs::create_dir_all(&moddir).unwrap();
    std::fs::write(moddir.join("modules.order"), "").unwrap();
    // The same run into a pipe succeeds and prints the index files.
    let ok = kforge()
        .args(["depmod", "-b"])
        .arg(dir.path())
        .args(["-n", "1.0"])
        .output()
        .unwrap();
    assert_eq!(ok.status.code(), Some(0), "{ok:?}");
    assert!(!ok.stdout.is_empty());
    let full = kforge()
        .args(["depmod", "-b"])
        .arg(dir.path())
        .args(["-n", "1.0"])
        .stdout(dev_full())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&full.stderr);
    assert_eq!(full.status.code(), Some(1), "{err}");
    assert!(err.contains("standard output"), "{err}");
}

#[test]
fn printed_output_on_a_full_disk_fails_without_a_panic() {
    for args in [&["completions", "bash"][..], &["man"], &["depmod", "-V"]] {
        let o = kforge().args(args).stdout(dev_full()).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("cannot write to standard output"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn diff_on_a_full_disk_is_an_error_not_a_difference() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.config"), dir.path().join("b.config"));
    std::fs::write(&a, "CONFIG_A=y\n").unwrap();
    std::fs::write(&b, "CONFIG_A=m\n").unwrap();
    let ok = kforge().arg("diff").args([&a, &b]).output().unwrap();
    assert_eq!(ok.status.code(), Some(1), "{ok:?}");
    assert!(String::from_utf8_lossy(&ok.stdout).contains("A: y -> m"));
    let full = kforge()
        .arg("diff")
        .args([&a, &b])
        .stdout(dev_full())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&full.stderr);
    assert_eq!(full.status.code(), Some(2), "{err}");
    assert!(err.contains("cannot write to standard output"), "{err}");
}
