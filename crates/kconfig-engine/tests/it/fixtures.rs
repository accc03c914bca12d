//! The engine on small Kconfig texts written to a temporary directory: a
//! `.config` read (`# CONFIG_X is not set` lines included) and written back
//! as `conf --olddefconfig` would, for a choice, a `select`, `depends on`,
//! a tristate under `modules`, a string and an int with a range.
//!
//! Hermetic: the expected texts (tests/common/mod.rs) are fixed, and they
//! are not our own output but what the kernel's C conf wrote for the same
//! Kconfig and inputs (how they were made is said there). With the oracle
//! prepared, `fixtures_match_the_c_conf` in `tests/oracle.rs` runs the C
//! conf on them again and checks they are still its output.
//!
//! The cases under `tests/fixtures/` (one directory each: Kconfig files,
//! the `.config` read, a `case` file naming the kernel version and the conf
//! mode, and the expected `.config`, stdout, stderr and exit code) were
//! recorded by `tests/fixtures/record` from the C conf of the release each
//! names: 7.3 for the Kconfig of 6.18 and later, 6.12 for the same inputs
//! under the older rules.

use std::path::Path;
use std::rc::Rc;

use kconfig_engine::{Dialect, Kconfig, LoadOptions};

use crate::common;
use common::{expected, CASES, KCONFIG};

/// Load [`KCONFIG`] from `dir` with `dialect`'s rules.
fn load(dir: &Path, dialect: Dialect) -> Kconfig {
    std::fs::write(dir.join("Kconfig"), KCONFIG).unwrap();
    common::load_tree(dir, dialect)
}

/// Every case, read from a file and written to one, as `conf
/// --olddefconfig` does.
fn check(dialect: Dialect) {
    for (i, (name, input, _)) in CASES.iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let mut kc = load(dir.path(), dialect);
        let config = dir.path().join("in.config");
        std::fs::write(&config, input).unwrap();
        kc.read(Some(config.to_str().unwrap()));
        let out = dir.path().join("out.config");
        kc.write(Some(out.to_str().unwrap())).unwrap();
        let got = std::fs::read_to_string(&out).unwrap();
        assert_eq!(got, expected(i, dialect), "{dialect:?}: {name}");
    }
}

#[test]
fn olddefconfig_like_the_c_conf_6_12() {
    check(Dialect::V6_12);
}

#[test]
fn olddefconfig_like_the_c_conf_6_1() {
    check(Dialect::V6_1);
}

/// The same cases through memory (`set_config_text` and `render_config`),
/// the way kforge's resolution drives the engine.
#[test]
fn in_memory_reads_and_renders_the_same() {
    for dialect in [Dialect::V6_12, Dialect::V6_1] {
        let dir = tempfile::tempdir().unwrap();
        let mut kc = load(dir.path(), dialect);
        for (i, (name, input, _)) in CASES.iter().enumerate() {
            kc.restart();
            kc.set_config_text("mem", input.as_bytes().to_vec());
            kc.read(Some("mem"));
            assert_eq!(
                kc.render_config(),
                expected(i, dialect),
                "{dialect:?}: {name}"
            );
        }
    }
}

/// The two `memo_choice` fixtures (shared dependencies read before and after
/// a choice settles, recorded from the C conf) read one after the other
/// into one tree, in both orders and twice: what evaluation remembers
/// between reads must not leak into the next one.
#[test]
fn remembered_results_do_not_outlive_a_read() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let case = |name: &str| {
        let d = fixtures.join(name);
        let input = std::fs::read(d.join("config")).unwrap();
        let want = std::fs::read_to_string(d.join("expected_config")).unwrap();
        (input, want)
    };
    let (a, b) = (case("memo_choice_612"), case("memo_choice_forced_612"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixtures.join("memo_choice_612/Kconfig"),
        dir.path().join("Kconfig"),
    )
    .unwrap();
    let srctree = dir.path().to_string_lossy().into_owned();
    let mut kc = Kconfig::load(LoadOptions {
        kconfig: "Kconfig".into(),
        env: Rc::new(move |k: &str| (k == "srctree").then(|| srctree.clone())),
        shell: Box::new(kconfig_engine::preprocess::DirectShell),
        dialect: Some(Dialect::V6_12),
    })
    .unwrap_or_else(|e| panic!("{:?}", e.messages));
    kc.silent = true;
    for (i, (input, want)) in [&a, &b, &a, &a, &b, &b].into_iter().enumerate() {
        kc.restart();
        kc.set_config_text("mem", input.clone());
        kc.read(Some("mem"));
        // rendered twice: the second render evaluates everything again
        assert_eq!(kc.render_config(), *want, "read {i}");
        assert_eq!(kc.render_config(), *want, "read {i}, again");
    }
}

/// A configuration file that is a directory reads as an empty file, as the
/// C conf's `fopen` and failing first read make it (issue 17: `conf
/// --defconfig=arch/powerpc/configs/44x`), also when found under
/// `$srctree`; a path that does not exist still reads as nothing.
#[test]
fn a_directory_reads_as_an_empty_file() {
    for dialect in [Dialect::V6_12, Dialect::V6_1] {
        let dir = tempfile::tempdir().unwrap();
        let mut kc = load(dir.path(), dialect);
        std::fs::write(dir.path().join("empty"), "").unwrap();
        kc.read(Some(dir.path().join("empty").to_str().unwrap()));
        let empty = kc.render_config();
        std::fs::create_dir(dir.path().join("configs")).unwrap();
        for name in [
            dir.path().join("configs").to_str().unwrap().to_string(),
            // relative: found under $srctree, as the kernel's zconf_fopen does
            "configs".to_string(),
        ] {
            kc.restart();
            assert!(!kc.read(Some(&name)), "{dialect:?}: {name} was not read");
            assert_eq!(kc.render_config(), empty, "{dialect:?}: {name}");
        }
        kc.restart();
        assert!(
            kc.read(Some("no-such-file")),
            "{dialect:?}: a missing file was read"
        );
    }
}

/// One recorded case of `tests/fixtures/<name>/` (see `tests/fixtures/record`,
/// which made the expected files by running the C conf of the case's
/// release): the Kconfig files, `config` (the `.config` read), and `case`
/// (version, mode, stdin, env).
struct Case {
    version: String,
    mode: String,
    stdin: String,
    env: Vec<(String, String)>,
}

fn read_case(dir: &Path) -> Case {
    let text = std::fs::read_to_string(dir.join("case")).unwrap();
    let mut c = Case {
        version: String::new(),
        mode: String::new(),
        stdin: String::new(),
        env: Vec::new(),
    };
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        match k {
            "version" => c.version = v.to_string(),
            "mode" => c.mode = v.to_string(),
            "stdin" => c.stdin = v.replace("\\n", "\n"),
            "env" => {
                let (a, b) = v.split_once('=').unwrap();
                c.env.push((a.to_string(), b.to_string()));
            }
            _ => panic!("{}: unknown key {k}", dir.display()),
        }
    }
    c
}

/// What `conf -s --<mode> Kconfig` does with the case, driven through the
/// engine as `kforge conf` drives it: (stdout, stderr, exit code, the
/// configuration written).
fn run_case(dir: &Path, c: &Case) -> (String, String, i32, Option<String>) {
    use kconfig_engine::conf::{AskMode, Asker};
    use kconfig_engine::Stream;
    let srctree = dir.to_string_lossy().into_owned();
    let mut vars: Vec<(String, String)> = vec![
        ("srctree".into(), srctree),
        ("KERNELVERSION".into(), c.version.clone()),
    ];
    vars.extend(c.env.iter().cloned());
    let (mut out, mut err) = (String::new(), String::new());
    let emit = |msgs: Vec<(Stream, String)>, out: &mut String, err: &mut String| {
        for (st, m) in msgs {
            let s = if st == Stream::Stdout {
                &mut *out
            } else {
                &mut *err
            };
            s.push_str(&m);
            s.push('\n');
        }
    };
    // the dialect comes from KERNELVERSION, as for kforge conf in a test
    // directory with no Makefile
    let mut kc = match Kconfig::load(LoadOptions {
        kconfig: "Kconfig".into(),
        env: Rc::new(move |k: &str| vars.iter().find(|(a, _)| a == k).map(|(_, b)| b.clone())),
        shell: Box::new(kconfig_engine::preprocess::DirectShell),
        dialect: None,
    }) {
        Ok(kc) => kc,
        Err(e) => {
            emit(e.messages, &mut out, &mut err);
            return (out, err, 1, None);
        }
    };
    kc.silent = true;
    let msgs = kc.messages.take();
    emit(msgs, &mut out, &mut err);
    let config = std::fs::read(dir.join("config")).unwrap();
    kc.set_config_text(".config", config);
    kc.read(Some(".config"));
    let msgs = kc.messages.take();
    emit(msgs, &mut out, &mut err);
    match c.mode.as_str() {
        "olddefconfig" => {}
        "savedefconfig" => {
            let text = kc.render_defconfig();
            let msgs = kc.messages.take();
            emit(msgs, &mut out, &mut err);
            return (out, err, 0, Some(text));
        }
        "oldconfig" | "oldaskconfig" => {
            let input = std::io::Cursor::new(c.stdin.clone().into_bytes());
            let mode = if c.mode == "oldconfig" {
                AskMode::Old
            } else {
                AskMode::OldAsk
            };
            let r = {
                let mut a = Asker::new(&mut kc, mode, Box::new(input), false);
                let r = a.run();
                out.push_str(&a.out);
                err.push_str(&a.err);
                r
            };
            if let Err(e) = r {
                err.push_str(&format!("\nerror: {e}\n"));
                return (out, err, 1, None);
            }
            let msgs = kc.messages.take();
            emit(msgs, &mut out, &mut err);
        }
        m => panic!("{}: mode {m} not supported here", dir.display()),
    }
    let text = kc.render_config();
    let msgs = kc.messages.take();
    emit(msgs, &mut out, &mut err);
    (out, err, 0, Some(text))
}

/// Every recorded case gives what the C conf of its release gave: the
/// Kconfig language of 6.18 and later (transitional symbols, `depends on
/// X if Y`, errors for a file sourced twice, a second or blank help text,
/// a prompt-less menuconfig, `bool` in a choice, a choice member's prompt
/// in another entry, KCONFIG_WARN_CHANGED_INPUT) next to 6.12's.
#[test]
fn recorded_cases_match_the_c_conf() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut names: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("case").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 20, "cases found: {names:?}");
    let mut failed = Vec::new();
    for name in &names {
        let dir = root.join(name);
        let case = read_case(&dir);
        let (out, err, code, config) = run_case(&dir, &case);
        let want = |f: &str| std::fs::read_to_string(dir.join(f)).ok();
        let want_code: i32 = want("expected_exit").unwrap().trim().parse().unwrap();
        let mut bad = Vec::new();
        if code != want_code {
            bad.push(format!("exit {code}, want {want_code}"));
        }
        if out != want("expected_stdout").unwrap_or_default() {
            bad.push(format!("stdout:\n{out}"));
        }
        if err != want("expected_stderr").unwrap_or_default() {
            bad.push(format!("stderr:\n{err}"));
        }
        if config != want("expected_config") {
            bad.push(format!("config:\n{}", config.unwrap_or_default()));
        }
        if !bad.is_empty() {
            failed.push(format!("{name}: {}", bad.join("\n")));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
}

/// The dialect by version: 6.18 is where `transitional` came, and
/// `KERNELVERSION` (what make exports, and all a test directory of the
/// kernel's own suite has) wins over a Makefile.
#[test]
fn dialect_by_version() {
    assert_eq!(Dialect::for_version(6, 10), Dialect::V6_1);
    assert_eq!(Dialect::for_version(6, 11), Dialect::V6_12);
    assert_eq!(Dialect::for_version(6, 17), Dialect::V6_12);
    assert_eq!(Dialect::for_version(6, 18), Dialect::V6_18);
    assert_eq!(Dialect::for_version(7, 0), Dialect::V6_18);
    assert_eq!(Dialect::for_version(7, 3), Dialect::V6_18);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Makefile"),
        "# SPDX-License-Identifier: GPL-2.0\nVERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 0\n",
    )
    .unwrap();
    let st = dir.path().to_string_lossy().into_owned();
    let st2 = st.clone();
    let from_makefile = move |k: &str| (k == "srctree").then(|| st.clone());
    assert_eq!(Dialect::detect(&from_makefile), Dialect::V6_12);
    let from_env = move |k: &str| match k {
        "srctree" => Some(st2.clone()),
        "KERNELVERSION" => Some("7.3.4".to_string()),
        _ => None,
    };
    assert_eq!(Dialect::detect(&from_env), Dialect::V6_18);
}
