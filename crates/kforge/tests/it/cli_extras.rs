//! `kforge completions SHELL` and `kforge man`: hermetic (no kernel tree, no
//! network), they only run the binary and read what it prints or writes.

use std::process::{Command, Output};

fn kforge(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kforge"))
        .args(args)
        .output()
        .expect("run kforge")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("UTF-8 on stdout")
}

#[test]
fn bash_completions_name_the_subcommands() {
    let o = kforge(&["completions", "bash"]);
    assert!(o.status.success(), "{o:?}");
    let s = stdout(&o);
    assert!(s.contains("_kforge()"), "not a bash function:\n{s}");
    assert!(s.contains("complete "), "no complete line:\n{s}");
    for sub in [
        "config",
        "build",
        "menuconfig",
        "test",
        "completions",
        "man",
    ] {
        assert!(s.contains(sub), "bash completions miss {sub}");
    }
    // Options of a subcommand are completed too.
    assert!(s.contains("--dry-run"), "no --dry-run of kforge build");
}

#[test]
fn every_shell_gets_a_script() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let o = kforge(&["completions", shell]);
        assert!(o.status.success(), "{shell}: {o:?}");
        let s = stdout(&o);
        assert!(s.contains("kforge"), "{shell}: no kforge in the script");
        assert!(s.contains("config"), "{shell}: no config subcommand");
    }
}

#[test]
fn unknown_shell_is_an_error() {
    let o = kforge(&["completions", "tcsh"]);
    assert!(!o.status.success());
    assert_ne!(o.status.code(), Some(0));
    assert!(o.stdout.is_empty(), "something printed on stdout");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("tcsh"),
        "the error does not name the value: {err}"
    );
    assert!(
        err.contains("bash"),
        "the error does not list the shells: {err}"
    );
}

#[test]
fn missing_shell_is_an_error() {
    let o = kforge(&["completions"]);
    assert_ne!(o.status.code(), Some(0));
}

#[test]
fn man_page_on_stdout() {
    let o = kforge(&["man"]);
    assert!(o.status.success(), "{o:?}");
    let s = stdout(&o);
    assert!(s.starts_with(".TH"), "not a roff page:\n{s}");
    let th = s.lines().next().unwrap();
    assert!(
        th.contains("kforge") && th.contains(" 1 "),
        "title line: {th}"
    );
    assert!(s.contains("kforge"));
    assert!(s.contains(".SH NAME"), "no NAME section");
    assert!(s.contains("SUBCOMMANDS"), "no SUBCOMMANDS section");
    for sub in ["config", "build", "test", "menuconfig", "depmod"] {
        assert!(s.contains(&format!("kforge\\-{sub}")), "no kforge-{sub}");
    }
    assert!(s.contains(".SH \"SEE ALSO\""), "no SEE ALSO section");
}

#[test]
fn man_pages_into_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("man1");
    let o = kforge(&["man", "--dir", out.to_str().unwrap()]);
    assert!(o.status.success(), "{o:?}");
    assert!(o.stdout.is_empty(), "pages went to stdout");
    for page in [
        "kforge.1",
        "kforge-config.1",
        "kforge-build.1",
        "kforge-test.1",
        "kforge-completions.1",
        "kforge-modules.1",
        "kforge-modules-closure.1",
    ] {
        let p = out.join(page);
        let s = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(s.starts_with(".TH"), "{page} is not a roff page");
    }
    let build = std::fs::read_to_string(out.join("kforge-build.1")).unwrap();
    assert!(
        build.contains("dry\\-run"),
        "kforge-build.1 lacks its options"
    );
    // The page on stdout and kforge.1 are the same page.
    let main = std::fs::read(out.join("kforge.1")).unwrap();
    assert_eq!(main, kforge(&["man"]).stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("man pages"), "no summary on stderr: {err}");
}

#[test]
fn man_into_a_file_path_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f");
    std::fs::write(&file, "x").unwrap();
    let o = kforge(&["man", "--dir", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("error:"));
}
