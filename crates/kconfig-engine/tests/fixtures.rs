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

use std::path::Path;
use std::rc::Rc;

use kconfig_engine::{Dialect, Kconfig, LoadOptions};

mod common;
use common::{expected, CASES, KCONFIG};

/// Load [`KCONFIG`] from `dir` with `dialect`'s rules.
fn load(dir: &Path, dialect: Dialect) -> Kconfig {
    std::fs::write(dir.join("Kconfig"), KCONFIG).unwrap();
    let srctree = dir.to_string_lossy().into_owned();
    let mut kc = Kconfig::load(LoadOptions {
        kconfig: "Kconfig".into(),
        env: Rc::new(move |k: &str| (k == "srctree").then(|| srctree.clone())),
        shell: Box::new(kconfig_engine::preprocess::DirectShell),
        dialect: Some(dialect),
    })
    .unwrap_or_else(|e| panic!("{:?}", e.messages));
    kc.silent = true;
    kc
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
