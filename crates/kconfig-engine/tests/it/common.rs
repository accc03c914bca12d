//! A small Kconfig and `.config` inputs with what the kernel's C conf
//! writes for them (`conf --olddefconfig`), shared by `fixtures.rs`
//! (hermetic: the engine against these texts) and `oracle.rs` (second
//! tier: these texts against the C conf, run again).
//!
//! Where the expected texts come from: the C conf of 6.12 and of 6.1 that
//! `scripts/prepare-oracle` builds from Debian's linux-source packages, run
//! on 2026-12-03 in a directory holding [`KCONFIG`] and the case's input as
//! `.config`:
//!
//! ```text
//! env -i srctree=$DIR KCONFIG_CONFIG=.config target/oracle/<ver>/conf -s --olddefconfig Kconfig
//! ```
//!
//! The two versions agree except on an int out of its range
//! ([`INT_OUT_OF_RANGE_6_1`]).
#![allow(dead_code)]

use std::path::Path;
use std::rc::Rc;

use kconfig_engine::{Dialect, Kconfig, LoadOptions};

/// The tree whose top file is `dir/Kconfig`, loaded with `dialect`'s rules,
/// `srctree` = `dir` and nothing else in the environment.
pub fn load_tree(dir: &Path, dialect: Dialect) -> Kconfig {
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

pub const KCONFIG: &str = r#"mainmenu "Fixture"

config MODULES
	bool "modules"
	modules
	default y

config A
	bool "a"
	default y
	select B

config B
	bool

config C
	tristate "c"
	depends on A
	default m

config D
	bool "d"
	depends on !A

choice
	prompt "pick"
	default P2

config P1
	bool "p1"

config P2
	bool "p2"

endchoice

config E
	tristate "e"
	default y
	depends on MODULES

config S
	string "s"
	default "hello"

config N
	int "n"
	range 1 10
	default 4
"#;

/// (name, input .config, what the C conf of 6.12 writes).
pub const CASES: &[(&str, &str, &str)] = &[
    (
        "defaults from an empty .config",
        "",
        "#
# Automatically generated file; DO NOT EDIT.
# Fixture
#
CONFIG_MODULES=y
CONFIG_A=y
CONFIG_B=y
CONFIG_C=m
# CONFIG_P1 is not set
CONFIG_P2=y
CONFIG_E=y
CONFIG_S=\"hello\"
CONFIG_N=4
",
    ),
    (
        "not set, depends on, the other choice member",
        "# CONFIG_A is not set\nCONFIG_D=y\nCONFIG_P1=y\n",
        "#
# Automatically generated file; DO NOT EDIT.
# Fixture
#
CONFIG_MODULES=y
# CONFIG_A is not set
CONFIG_D=y
CONFIG_P1=y
# CONFIG_P2 is not set
CONFIG_E=y
CONFIG_S=\"hello\"
CONFIG_N=4
",
    ),
    (
        "values set, an int out of its range",
        "CONFIG_E=y\nCONFIG_C=y\nCONFIG_N=20\nCONFIG_S=\"x y\"\n",
        "#
# Automatically generated file; DO NOT EDIT.
# Fixture
#
CONFIG_MODULES=y
CONFIG_A=y
CONFIG_B=y
CONFIG_C=y
# CONFIG_P1 is not set
CONFIG_P2=y
CONFIG_E=y
CONFIG_S=\"x y\"
CONFIG_N=10
",
    ),
    (
        "modules off: m becomes y or goes",
        "# CONFIG_MODULES is not set\nCONFIG_C=m\nCONFIG_E=m\n",
        "#
# Automatically generated file; DO NOT EDIT.
# Fixture
#
# CONFIG_MODULES is not set
CONFIG_A=y
CONFIG_B=y
CONFIG_C=y
# CONFIG_P1 is not set
CONFIG_P2=y
CONFIG_S=\"hello\"
CONFIG_N=4
",
    ),
];

/// Where 6.1's C conf differs from 6.12's on [`CASES`]: the third case's
/// `CONFIG_N=20` (range 1 10) falls back to the default 4 instead of being
/// clamped to 10.
pub const INT_OUT_OF_RANGE_6_1: (&str, &str) = ("CONFIG_N=10\n", "CONFIG_N=4\n");

/// The expected output of case `i` for `dialect`.
pub fn expected(i: usize, dialect: Dialect) -> String {
    let want = CASES[i].2;
    match dialect {
        Dialect::V6_12 | Dialect::V6_18 => want.to_string(),
        Dialect::V6_1 => want.replace(INT_OUT_OF_RANGE_6_1.0, INT_OUT_OF_RANGE_6_1.1),
    }
}
