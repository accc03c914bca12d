//! One integration test per Kconfig rule: every case is run, at test time,
//! through the kernel's C `conf` (6.1 and 6.12, built by
//! `scripts/prepare-oracle`) and through `kforge conf`, each in its own copy
//! of a scratch directory with an identical environment, and everything is
//! compared byte for byte: exit code, stdout, stderr and every file the run
//! left behind (.config, .config.old, defconfig, include/...).
//!
//! Nothing here is expected output: the C tool is the only reference.
//!
//! A second-tier test file: compiled with the `oracle-tests` feature only
//! (scripts/test); without its prerequisites it fails naming
//! scripts/prepare-oracle.
#![cfg(feature = "oracle-tests")]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The two kernel versions every case runs under: (oracle dir, KERNELVERSION).
const VERSIONS: &[(&str, &str)] = &[("6.1", "6.1.0"), ("6.12", "6.12.0")];

/// Every mode that works on a small Kconfig without interaction.
const ALL_MODES: &[&str] = &[
    "--olddefconfig",
    "--alldefconfig",
    "--allnoconfig",
    "--allyesconfig",
    "--allmodconfig",
    "--savedefconfig=defconfig",
    "--listnewconfig",
];

/// The C conf of `ver` in the prepared oracle (kforge-testkit).
fn oracle(ver: &str) -> PathBuf {
    kforge_testkit::oracle().join(ver).join("conf")
}

/// One invocation: files to create, conf arguments (the Kconfig file is
/// always `Kconfig` in the scratch dir), extra environment, optional stdin.
#[derive(Clone)]
struct Case {
    label: String,
    files: Vec<(String, Vec<u8>)>,
    dirs: Vec<String>,
    args: Vec<String>,
    env: Vec<(String, String)>,
    stdin: Option<Vec<u8>>,
}

impl Case {
    fn new(label: &str, kconfig: &str) -> Case {
        Case {
            label: label.to_string(),
            files: vec![("Kconfig".to_string(), kconfig.as_bytes().to_vec())],
            dirs: Vec::new(),
            args: Vec::new(),
            env: Vec::new(),
            stdin: None,
        }
    }
    fn file(mut self, name: &str, content: &str) -> Case {
        self.files
            .push((name.to_string(), content.as_bytes().to_vec()));
        self
    }
    /// An empty directory at `name` in the scratch directory.
    fn dir(mut self, name: &str) -> Case {
        self.dirs.push(name.to_string());
        self
    }
    fn config(self, content: &str) -> Case {
        self.file(".config", content)
    }
    fn arg(mut self, a: &str) -> Case {
        self.args.push(a.to_string());
        self
    }
    fn env(mut self, k: &str, v: &str) -> Case {
        self.env.push((k.to_string(), v.to_string()));
        self
    }
    fn stdin(mut self, s: &str) -> Case {
        self.stdin = Some(s.as_bytes().to_vec());
        self
    }
}

/// The same Kconfig (and optional input .config) under each of `modes`.
fn modes(label: &str, kconfig: &str, config: Option<&str>, modes: &[&str]) -> Vec<Case> {
    modes
        .iter()
        .map(|m| {
            let mut c = Case::new(&format!("{label} {m}"), kconfig).arg(m);
            if let Some(cfg) = config {
                c = c.config(cfg);
            }
            c
        })
        .collect()
}

struct Outcome {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    files: BTreeMap<String, Vec<u8>>,
}

fn collect(dir: &Path, rel: &str, out: &mut BTreeMap<String, Vec<u8>>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = format!("{rel}{}", e.file_name().to_string_lossy());
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            out.insert(format!("{name}/"), Vec::new());
            collect(&e.path(), &format!("{name}/"), out);
        } else {
            out.insert(name, std::fs::read(e.path()).unwrap());
        }
    }
}

/// Per-run limit: a run that takes longer is killed (and reported).
const TIMEOUT: Duration = Duration::from_secs(5);
/// Keep at most this much of stdout/stderr.
const OUTPUT_CAP: usize = 1 << 20;

fn capped_reader<R: Read + Send + 'static>(mut r: R) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let room = OUTPUT_CAP.saturating_sub(kept.len());
                    kept.extend_from_slice(&buf[..n.min(room)]);
                }
            }
        }
        kept
    })
}

fn run_one(prog: &Path, pre_args: &[&str], dir: &Path, case: &Case, kver: &str) -> Outcome {
    std::fs::create_dir_all(dir).unwrap();
    for name in &case.dirs {
        std::fs::create_dir_all(dir.join(name)).unwrap();
    }
    for (name, content) in &case.files {
        let p = dir.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(p, content).unwrap();
    }
    let mut cmd = Command::new(prog);
    cmd.args(pre_args)
        .args(&case.args)
        .arg("Kconfig")
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("KERNELVERSION", kver)
        .env("KFORGE_NO_PROBE_CACHE", "1")
        .stdin(if case.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in &case.env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", prog.display()));
    if let Some(input) = case.stdin.clone() {
        let mut si = child.stdin.take().unwrap();
        // conf may exit before reading everything; ignore EPIPE.
        std::thread::spawn(move || {
            let _ = si.write_all(&input);
        });
    }
    let out_reader = capped_reader(child.stdout.take().unwrap());
    let err_reader = capped_reader(child.stderr.take().unwrap());
    let deadline = Instant::now() + TIMEOUT;
    let mut timed_out = false;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            timed_out = true;
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let stdout = out_reader.join().unwrap();
    let mut stderr = err_reader.join().unwrap();
    if timed_out {
        stderr.extend_from_slice(
            format!("<<killed by the test harness after {TIMEOUT:?}>>\n").as_bytes(),
        );
    }
    let mut files = BTreeMap::new();
    collect(dir, "", &mut files);
    Outcome {
        code: status.code(),
        stdout,
        stderr,
        files,
    }
}

/// A short line diff (C conf `-`, kforge `+`), at most `max` lines.
fn diff(a: &[u8], b: &[u8], max: usize) -> String {
    let a = String::from_utf8_lossy(a);
    let b = String::from_utf8_lossy(b);
    let al: Vec<&str> = a.split_inclusive('\n').collect();
    let bl: Vec<&str> = b.split_inclusive('\n').collect();
    let (n, m) = (al.len(), bl.len());
    // LCS table (inputs are small).
    let mut t = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            t[i][j] = if al[i] == bl[j] {
                t[i + 1][j + 1] + 1
            } else {
                t[i + 1][j].max(t[i][j + 1])
            };
        }
    }
    let mut ops: Vec<(char, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && al[i] == bl[j] {
            ops.push((' ', al[i]));
            i += 1;
            j += 1;
        } else if j < m && (i == n || t[i][j + 1] >= t[i + 1][j]) {
            ops.push(('+', bl[j]));
            j += 1;
        } else {
            ops.push(('-', al[i]));
            i += 1;
        }
    }
    let first = ops.iter().position(|(c, _)| *c != ' ').unwrap_or(0);
    let start = first.saturating_sub(2);
    let mut s = String::new();
    for (c, l) in ops.iter().skip(start).take(max) {
        let l = l.strip_suffix('\n').unwrap_or(l);
        s.push_str(&format!("      {c}{l}\n"));
    }
    if ops.len() > start + max {
        s.push_str("      ...\n");
    }
    if a.as_bytes() != b.as_bytes() && ops.iter().all(|(c, _)| *c == ' ') {
        s.push_str("      (differ only in a missing final newline)\n");
    }
    s
}

fn compare(c: &Outcome, k: &Outcome) -> Vec<String> {
    let mut problems = Vec::new();
    if c.code != k.code {
        problems.push(format!(
            "    exit code: C conf {:?}, kforge {:?}",
            c.code, k.code
        ));
    }
    if c.stdout != k.stdout {
        problems.push(format!(
            "    stdout differs:\n{}",
            diff(&c.stdout, &k.stdout, 16)
        ));
    }
    if c.stderr != k.stderr {
        problems.push(format!(
            "    stderr differs:\n{}",
            diff(&c.stderr, &k.stderr, 16)
        ));
    }
    let names: std::collections::BTreeSet<&String> = c.files.keys().chain(k.files.keys()).collect();
    for name in names {
        match (c.files.get(name), k.files.get(name)) {
            (Some(a), Some(b)) if a == b => {}
            (Some(a), Some(b)) => problems.push(format!("    {name} differs:\n{}", diff(a, b, 16))),
            (Some(_), None) => problems.push(format!("    {name}: written by C conf only")),
            (None, Some(_)) => problems.push(format!("    {name}: written by kforge only")),
            (None, None) => unreachable!(),
        }
    }
    problems
}

/// Run every case under both versions (or only `vers`); panic with a report
/// of every mismatch.
fn check_versions(test: &str, vers: &[&str], cases: Vec<Case>) {
    let kforge = Path::new(env!("CARGO_BIN_EXE_kforge"));
    let tmp = tempfile::Builder::new()
        .prefix(&format!("kforge-rules-{test}-"))
        .tempdir()
        .unwrap();
    let mut report = String::new();
    let mut failed = 0;
    let mut total = 0;
    for &(ver, kver) in VERSIONS.iter().filter(|(v, _)| vers.contains(v)) {
        let conf = oracle(ver);
        for (n, case) in cases.iter().enumerate() {
            total += 1;
            let base = tmp.path().join(format!("{ver}-{n}"));
            let c = run_one(&conf, &[], &base.join("c"), case, kver);
            let k = run_one(kforge, &["conf"], &base.join("k"), case, kver);
            let problems = compare(&c, &k);
            if !problems.is_empty() {
                failed += 1;
                report.push_str(&format!(
                    "[{ver}] {} (args {:?}, env {:?}):\n{}\n",
                    case.label,
                    case.args,
                    case.env,
                    problems.join("\n")
                ));
            }
        }
    }
    if failed > 0 {
        panic!("{test}: {failed} of {total} runs differ from the C conf\n{report}");
    }
}

fn check(test: &str, cases: Vec<Case>) {
    check_versions(test, &["6.1", "6.12"], cases)
}

// ---------------------------------------------------------------------------

const TRISTATE_MODULES: &str = r#"
config MODULES
	bool "Enable loadable module support"
	modules

config A
	tristate "A"

config B
	tristate "B"
	default m

config AND
	tristate "A and B"
	default A && B

config OR
	tristate "A or B"
	default A || B

config NOT_A
	tristate "not A"
	default !A

config DEP_M
	tristate "depends on m"
	depends on m

config DEF_M
	tristate "default m"
	default m

config BOOL_ON_M
	bool "bool depending on a tristate"
	depends on B

config ANDNOT
	def_tristate B && !A

config MIXED
	tristate "mixed"
	default (A || B) && !(A && B)
"#;

const TRISTATE_NO_MODULES: &str = r#"
config A
	tristate "A"
	default m

config B
	tristate "B"
	default y

config AND
	tristate "A and B"
	default A && B

config OR
	def_tristate A || m

config NOT_A
	tristate "not A"
	default !A

config DEP_M
	tristate "depends on m"
	depends on m
"#;

#[test]
fn tristate_arithmetic() {
    let mut cases = modes("modules", TRISTATE_MODULES, None, ALL_MODES);
    cases.extend(modes(
        "modules, .config",
        TRISTATE_MODULES,
        Some("CONFIG_MODULES=y\nCONFIG_A=m\nCONFIG_B=y\nCONFIG_DEP_M=y\n"),
        &[
            "--olddefconfig",
            "--savedefconfig=defconfig",
            "--listnewconfig",
        ],
    ));
    cases.extend(modes(
        "modules off, .config",
        TRISTATE_MODULES,
        Some("# CONFIG_MODULES is not set\nCONFIG_A=m\nCONFIG_B=m\n"),
        &["--olddefconfig", "--savedefconfig=defconfig"],
    ));
    cases.extend(modes(
        "no modules symbol",
        TRISTATE_NO_MODULES,
        None,
        ALL_MODES,
    ));
    cases.extend(modes(
        "no modules symbol, .config",
        TRISTATE_NO_MODULES,
        Some("CONFIG_A=m\nCONFIG_DEP_M=m\n"),
        &["--olddefconfig"],
    ));
    check("tristate_arithmetic", cases);
}

const SELECT: &str = r#"
config MODULES
	bool "modules"
	default y
	modules

config DEP
	bool

config TARGET
	bool "target"
	depends on DEP

config TRI_TARGET
	tristate "tristate target"
	depends on DEP

config SELECTOR
	bool "selector"
	default y
	select TARGET

config TRI_SELECTOR
	tristate "tristate selector"
	default m
	select TRI_TARGET

config HIDDEN
	bool

config SEL_HIDDEN
	bool "select a prompt-less symbol"
	select HIDDEN
"#;

#[test]
fn select_beyond_dependencies() {
    let mut cases = modes("select", SELECT, None, ALL_MODES);
    cases.extend(modes(
        "select, .config",
        SELECT,
        Some("CONFIG_MODULES=y\n# CONFIG_SELECTOR is not set\nCONFIG_TRI_SELECTOR=y\nCONFIG_SEL_HIDDEN=y\n"),
        &["--olddefconfig", "--savedefconfig=defconfig"],
    ));
    check("select_beyond_dependencies", cases);
}

const SELECT_IF: &str = r#"
config MODULES
	bool "modules"
	default y
	modules

config COND
	bool "condition"

config TCOND
	tristate "tristate condition"

config T1
	tristate

config T2
	bool

config S
	tristate "selector"
	default y
	select T1 if COND
	select T2 if TCOND && !COND
	select T1 if TCOND
"#;

#[test]
fn select_with_if() {
    let mut cases = modes("select if", SELECT_IF, None, ALL_MODES);
    for cfg in [
        "CONFIG_COND=y\nCONFIG_S=m\n",
        "CONFIG_TCOND=m\nCONFIG_S=y\n",
        "# CONFIG_COND is not set\nCONFIG_TCOND=y\nCONFIG_S=m\n",
    ] {
        cases.extend(modes(
            &format!("select if, .config {cfg:?}"),
            SELECT_IF,
            Some(cfg),
            &["--olddefconfig", "--savedefconfig=defconfig"],
        ));
    }
    check("select_with_if", cases);
}

const IMPLY: &str = r#"
config MODULES
	bool "modules"
	default y
	modules

config DEP
	bool "dep"
	default y

config IMPLIED
	tristate "implied"
	depends on DEP

config IMPLIED_BOOL
	bool "implied bool"

config NO_PROMPT
	tristate

config IMPLIER
	tristate "implier"
	default m
	imply IMPLIED
	imply IMPLIED_BOOL
	imply NO_PROMPT

config IMPLIER_COND
	bool "conditional implier"
	imply IMPLIED if DEP
"#;

#[test]
fn imply() {
    let mut cases = modes("imply", IMPLY, None, ALL_MODES);
    for cfg in [
        "CONFIG_IMPLIER=y\n# CONFIG_IMPLIED is not set\n",
        "CONFIG_IMPLIER=m\nCONFIG_IMPLIED=y\n",
        "CONFIG_IMPLIER=y\n# CONFIG_DEP is not set\n",
        "CONFIG_IMPLIER_COND=y\n# CONFIG_MODULES is not set\n",
    ] {
        cases.extend(modes(
            &format!("imply, .config {cfg:?}"),
            IMPLY,
            Some(cfg),
            &[
                "--olddefconfig",
                "--savedefconfig=defconfig",
                "--listnewconfig",
            ],
        ));
    }
    check("imply", cases);
}

const CHOICE: &str = r#"
config BEFORE
	bool "before"

choice
	prompt "Pick one"
	default SECOND

config FIRST
	bool "first"

config SECOND
	bool "second"

config THIRD
	bool "third"

endchoice

choice
	prompt "No default"

config NA
	bool "na"

config NB
	bool "nb"

endchoice

config AFTER
	bool "after"
	default y
	depends on THIRD || NB
"#;

#[test]
fn choice_default_and_user_selection() {
    let mut cases = modes("choice", CHOICE, None, ALL_MODES);
    for cfg in [
        "CONFIG_THIRD=y\n",
        "# CONFIG_SECOND is not set\nCONFIG_FIRST=y\nCONFIG_NB=y\n",
        "# CONFIG_FIRST is not set\n# CONFIG_SECOND is not set\n# CONFIG_THIRD is not set\n",
    ] {
        cases.extend(modes(
            &format!("choice, .config {cfg:?}"),
            CHOICE,
            Some(cfg),
            &[
                "--olddefconfig",
                "--savedefconfig=defconfig",
                "--listnewconfig",
            ],
        ));
    }
    cases.push(
        Case::new("choice --defconfig", CHOICE)
            .file("my_defconfig", "CONFIG_FIRST=y\nCONFIG_NB=y\n")
            .arg("--defconfig=my_defconfig"),
    );
    cases.push(
        Case::new("choice --oldconfig answers", CHOICE)
            .config("CONFIG_BEFORE=y\n")
            .arg("--oldconfig")
            .stdin("3\n2\n\n"),
    );
    check("choice_default_and_user_selection", cases);
}

#[test]
fn choice_two_members_set() {
    let mut cases = Vec::new();
    for cfg in [
        "CONFIG_FIRST=y\nCONFIG_THIRD=y\n",
        "CONFIG_THIRD=y\nCONFIG_FIRST=y\n",
        "CONFIG_FIRST=y\nCONFIG_SECOND=y\nCONFIG_THIRD=y\n# CONFIG_THIRD is not set\n",
    ] {
        cases.extend(modes(
            &format!("two set, .config {cfg:?}"),
            CHOICE,
            Some(cfg),
            &[
                "--olddefconfig",
                "--savedefconfig=defconfig",
                "--listnewconfig",
            ],
        ));
    }
    check("choice_two_members_set", cases);
}

const OPTIONAL_CHOICE: &str = r#"
choice
	prompt "Optional"
	optional

config OA
	bool "oa"

config OB
	bool "ob"

endchoice

choice
	prompt "Optional with default"
	optional
	default OD

config OC
	bool "oc"

config OD
	bool "od"

endchoice
"#;

/// `optional` choices only exist up to 6.1 (removed in 6.8).
#[test]
fn choice_optional_6_1() {
    let mut cases = modes("optional", OPTIONAL_CHOICE, None, ALL_MODES);
    for cfg in [
        "CONFIG_OB=y\n",
        "# CONFIG_OA is not set\n# CONFIG_OB is not set\nCONFIG_OC=y\n",
    ] {
        cases.extend(modes(
            &format!("optional, .config {cfg:?}"),
            OPTIONAL_CHOICE,
            Some(cfg),
            &[
                "--olddefconfig",
                "--savedefconfig=defconfig",
                "--listnewconfig",
            ],
        ));
    }
    check_versions("choice_optional_6_1", &["6.1"], cases);
}

const CHOICE_DEPS: &str = r#"
config ARCH_X
	bool "arch x"
	default y

config FEATURE
	bool "feature"

choice
	prompt "Dependent choice"
	depends on ARCH_X
	default C_B if FEATURE
	default C_A

config C_A
	bool "a"

config C_B
	bool "b"
	depends on FEATURE

config C_C
	bool "c"
	depends on !FEATURE

endchoice

if FEATURE
choice
	prompt "Inside if"

config I_A
	bool "ia"

config I_B
	bool "ib"

endchoice
endif

config USES_C
	bool "uses"
	default y
	depends on C_B || C_C
"#;

#[test]
fn choice_with_dependencies() {
    let mut cases = modes("choice deps", CHOICE_DEPS, None, ALL_MODES);
    for cfg in [
        "CONFIG_FEATURE=y\n",
        "CONFIG_FEATURE=y\nCONFIG_C_C=y\n",
        "# CONFIG_ARCH_X is not set\nCONFIG_C_A=y\n",
        "CONFIG_C_B=y\nCONFIG_I_B=y\n",
    ] {
        cases.extend(modes(
            &format!("choice deps, .config {cfg:?}"),
            CHOICE_DEPS,
            Some(cfg),
            &[
                "--olddefconfig",
                "--savedefconfig=defconfig",
                "--listnewconfig",
            ],
        ));
    }
    check("choice_with_dependencies", cases);
}

const RANGES: &str = r#"
config BIG
	bool "big"

config I
	int "int"
	range 20 30 if BIG
	range 1 10
	default 5

config I_DEF_OUT
	int "default out of range"
	range 100 200
	default 7

config I_NODEF
	int "no default"
	range 3 9

config H
	hex "hex"
	range 0x1000 0x2000 if BIG
	range 0x10 0xff
	default 0x20

config H_NODEF
	hex "hex no default"
	range 0x10 0x20

config LOW
	int "low"
	default 4

config HIGH
	int "high"
	default 8

config I_SYMRANGE
	int "range from symbols"
	range LOW HIGH
	default 1

config NEG
	int "negative"
	range -10 -2
	default -5
"#;

#[test]
fn ranges() {
    let mut cases = modes("ranges", RANGES, None, ALL_MODES);
    for cfg in [
        "CONFIG_BIG=y\n",
        "CONFIG_I=50\nCONFIG_H=0x5\nCONFIG_I_NODEF=4\nCONFIG_H_NODEF=0x30\n",
        "CONFIG_BIG=y\nCONFIG_I=25\nCONFIG_H=0x1800\nCONFIG_NEG=-1\n",
        "CONFIG_I=0\nCONFIG_I_SYMRANGE=9\nCONFIG_LOW=20\nCONFIG_NEG=-10\nCONFIG_H=20\n",
    ] {
        cases.extend(modes(
            &format!("ranges, .config {cfg:?}"),
            RANGES,
            Some(cfg),
            &[
                "--olddefconfig",
                "--savedefconfig=defconfig",
                "--listnewconfig",
            ],
        ));
    }
    check("ranges", cases);
}

const DEFAULTS: &str = r#"
config BASE_INT
	int "base int"
	default 42

config BASE_HEX
	hex "base hex"
	default 0xbeef

config BASE_STR
	string "base string"
	default "hello"

config INT_FROM_SYM
	int "int from symbol"
	default BASE_INT

config HEX_FROM_SYM
	hex "hex from symbol"
	default BASE_HEX

config STR_FROM_SYM
	string "string from symbol"
	default BASE_STR

config STR_EMPTY
	string "empty string"
	default ""

config STR_NODEF
	string "string without default"

config INT_NODEF
	int "int without default"

config HEX_NODEF
	hex "hex without default"

config HEX_NO_PREFIX
	hex "hex default without 0x"
	default 1f

config INT_COND
	int "conditional default"
	default 7 if BASE_INT = 42
	default 8

config STR_COND
	string "conditional string"
	default "yes" if BASE_STR = "hello"
	default "no"

config HIDDEN_INT
	int
	default 99

config HIDDEN_STR
	string
	default "hidden"

config STR_UNQUOTED_DEF
	string "unquoted default"
	default BASE_INT
"#;

#[test]
fn int_hex_string_defaults() {
    let mut cases = modes("defaults", DEFAULTS, None, ALL_MODES);
    for cfg in [
        "CONFIG_BASE_INT=1\nCONFIG_BASE_STR=\"other\"\nCONFIG_BASE_HEX=0x10\n",
        "CONFIG_STR_EMPTY=\"x\"\nCONFIG_INT_NODEF=3\nCONFIG_HEX_NODEF=0xA\n",
        "CONFIG_STR_NODEF=\"\"\nCONFIG_INT_FROM_SYM=42\nCONFIG_HIDDEN_INT=5\n",
    ] {
        cases.extend(modes(
            &format!("defaults, .config {cfg:?}"),
            DEFAULTS,
            Some(cfg),
            &[
                "--olddefconfig",
                "--savedefconfig=defconfig",
                "--listnewconfig",
            ],
        ));
    }
    check("int_hex_string_defaults", cases);
}

const VISIBLE_IF: &str = r#"
config SHOW
	bool "show the menu"

menu "Conditionally visible"
	visible if SHOW

config IN_MENU
	bool "in menu"
	default y

config IN_MENU_NODEF
	bool "in menu, no default"

config IN_MENU_STR
	string "string in menu"
	default "dflt"

endmenu

menu "Always visible"

config OTHER
	bool "other"

endmenu
"#;

#[test]
fn visible_if_on_menus() {
    let mut cases = modes("visible if", VISIBLE_IF, None, ALL_MODES);
    for cfg in [
        "CONFIG_SHOW=y\nCONFIG_IN_MENU_NODEF=y\n",
        "# CONFIG_SHOW is not set\nCONFIG_IN_MENU_NODEF=y\n# CONFIG_IN_MENU is not set\nCONFIG_IN_MENU_STR=\"u\"\n",
    ] {
        cases.extend(modes(
            &format!("visible if, .config {cfg:?}"),
            VISIBLE_IF,
            Some(cfg),
            &["--olddefconfig", "--savedefconfig=defconfig", "--listnewconfig"],
        ));
    }
    check("visible_if_on_menus", cases);
}

const MENUS: &str = r#"
mainmenu "Rules test configuration"

comment "Top-level comment"

config TOP
	bool "top"
	default y

menu "Outer"

comment "Comment in outer"

config OUTER_SYM
	bool "outer symbol"
	default y

menu "Inner"

config INNER_SYM
	int "inner"
	default 3

endmenu

menu "Empty menu"
endmenu

menu "Menu with only hidden symbols"

config HIDDEN_ONLY
	bool
	default y

endmenu

endmenu

menu "Invisible menu"
	depends on TOP && !TOP

config INVISIBLE_SYM
	bool "invisible"
	default y

comment "Invisible comment"

endmenu

comment "Conditional comment"
	depends on TOP

menu "Last"

config LAST
	string "last"
	default "end"

endmenu
"#;

#[test]
fn menus_and_comments_in_output() {
    let mut cases = modes("menus", MENUS, None, ALL_MODES);
    cases.extend(modes(
        "menus, .config",
        MENUS,
        Some("# CONFIG_TOP is not set\nCONFIG_INVISIBLE_SYM=y\n"),
        &[
            "--olddefconfig",
            "--savedefconfig=defconfig",
            "--listnewconfig",
        ],
    ));
    check("menus_and_comments_in_output", cases);
}

const STRINGS: &str = r#"
config QUOTE
	string "quote"
	default "a \"quoted\" word"

config BACKSLASH
	string "backslash"
	default "back\\slash\\"

config SINGLE
	string 'single quoted "inner"'
	default 'it"s \'single\''

config MIXED
	string "mixed"
	default "tab	and \\\" end"

config FROM_CFG
	string "from .config"
	default "none"

config DOLLAR
	string "dollar"
	default "cost $$5"
"#;

#[test]
fn string_escaping() {
    let mut cases = modes("strings", STRINGS, None, ALL_MODES);
    for cfg in [
        "CONFIG_FROM_CFG=\"say \\\"hi\\\" \\\\ bye\"\n",
        "CONFIG_FROM_CFG=\"trailing backslash \\\\\"\nCONFIG_QUOTE=\"\\\"\"\n",
        "CONFIG_FROM_CFG=\"unknown escape \\q\"\nCONFIG_BACKSLASH=\"\"\n",
    ] {
        cases.extend(modes(
            &format!("strings, .config {cfg:?}"),
            STRINGS,
            Some(cfg),
            &[
                "--olddefconfig",
                "--savedefconfig=defconfig",
                "--syncconfig",
            ],
        ));
    }
    check("string_escaping", cases);
}

const MENUCONFIG: &str = r#"
menuconfig NET
	bool "Networking"
	default y

if NET

config NET_A
	bool "net a"
	default y

config NET_B
	tristate "net b"

menuconfig NET_SUB
	bool "net sub"

config NET_SUB_X
	bool "sub x"
	depends on NET_SUB
	default y

endif

menuconfig DRIVERS
	bool "drivers"

config DRV_A
	bool "driver a"
	depends on DRIVERS
	default y

config NOT_DEP
	bool "not dependent"
	default y
"#;

#[test]
fn menuconfig() {
    let mut cases = modes("menuconfig", MENUCONFIG, None, ALL_MODES);
    cases.extend(modes(
        "menuconfig, .config",
        MENUCONFIG,
        Some("# CONFIG_NET is not set\nCONFIG_NET_A=y\nCONFIG_DRIVERS=y\nCONFIG_NET_SUB=y\n"),
        &[
            "--olddefconfig",
            "--savedefconfig=defconfig",
            "--listnewconfig",
        ],
    ));
    check("menuconfig", cases);
}

const IF_BLOCKS: &str = r#"
config OUTER
	bool "outer"
	default y

config INNER
	bool "inner"

if OUTER

config IN_OUTER
	bool "in outer"
	default y

if INNER

config IN_BOTH
	tristate "in both"
	default y
	depends on OUTER

endif

config AFTER_INNER
	int "after inner"
	default 4

endif

if !OUTER
config IN_NOT_OUTER
	bool "in not outer"
	default y
endif

if OUTER && INNER
menu "Menu in if"
config IN_IF_MENU
	bool "in if menu"
endmenu
endif
"#;

#[test]
fn if_blocks() {
    let mut cases = modes("if", IF_BLOCKS, None, ALL_MODES);
    for cfg in [
        "CONFIG_INNER=y\n",
        "# CONFIG_OUTER is not set\nCONFIG_IN_BOTH=y\n",
    ] {
        cases.extend(modes(
            &format!("if, .config {cfg:?}"),
            IF_BLOCKS,
            Some(cfg),
            &[
                "--olddefconfig",
                "--savedefconfig=defconfig",
                "--listnewconfig",
            ],
        ));
    }
    check("if_blocks", cases);
}

const DEF_BOOL: &str = r#"
config MODULES
	def_bool y
	modules

config USER
	tristate "user"
	default m

config DB_Y
	def_bool y

config DB_EXPR
	def_bool USER

config DB_PROMPT
	def_bool n
	prompt "def_bool with prompt"

config DT_M
	def_tristate m

config DT_EXPR
	def_tristate USER || DB_PROMPT
	depends on DB_Y

config DT_COND
	def_tristate y if USER = m
	def_tristate n
"#;

#[test]
fn def_bool_and_def_tristate() {
    let mut cases = modes("def_bool", DEF_BOOL, None, ALL_MODES);
    for cfg in [
        "CONFIG_USER=y\nCONFIG_DB_PROMPT=y\n",
        "# CONFIG_USER is not set\nCONFIG_DT_M=y\n",
    ] {
        cases.extend(modes(
            &format!("def_bool, .config {cfg:?}"),
            DEF_BOOL,
            Some(cfg),
            &[
                "--olddefconfig",
                "--savedefconfig=defconfig",
                "--listnewconfig",
            ],
        ));
    }
    check("def_bool_and_def_tristate", cases);
}

const COMPARISONS: &str = r#"
config N
	int "n"
	default 10

config H
	hex "h"
	default 0x1f

config S
	string "s"
	default "abc"

config N_EQ
	def_bool N = 10
config N_NE
	def_bool N != 10
config N_LT
	def_bool N < 11
config N_GE
	def_bool N >= 10
config N_GT_NEG
	def_bool N > -3
config N_LE_SYM
	def_bool N <= H
config H_EQ
	def_bool H = 0x1f
config H_EQ_DEC
	def_bool H = 31
config H_LT
	def_bool H < 0x20
config H_GE
	def_bool H >= 0x100
config S_EQ
	def_bool S = "abc"
config S_NE
	def_bool S != "abd"
config S_LT
	def_bool S < "abd"
config S_GE
	def_bool S >= "b"
config S_EMPTY
	def_bool S = ""
config MIX
	def_bool N = "10" && !(S = N)
config TRI_CMP
	def_bool N_EQ = y && N_NE != y
"#;

#[test]
fn comparisons() {
    let mut cases = modes("comparisons", COMPARISONS, None, ALL_MODES);
    for cfg in [
        "CONFIG_N=11\nCONFIG_H=0x20\nCONFIG_S=\"b\"\n",
        "CONFIG_N=-5\nCONFIG_H=0x100\nCONFIG_S=\"\"\n",
        "CONFIG_N=010\nCONFIG_S=\"10\"\n",
    ] {
        cases.extend(modes(
            &format!("comparisons, .config {cfg:?}"),
            COMPARISONS,
            Some(cfg),
            &["--olddefconfig", "--savedefconfig=defconfig"],
        ));
    }
    check("comparisons", cases);
}

const PREPROCESSOR: &str = r#"
RECURSIVE = $(SIMPLE)-rec
SIMPLE := simple
SIMPLE += more
APPEND = first
APPEND += second
greet = hello $(1) and $(2)
run-ok = $(shell,if $(1) >/dev/null 2>&1; then echo $(2); else echo $(3); fi)
ok = $(run-ok,$(1),y,n)
not-ok = $(run-ok,$(1),n,y)
opt-ok = $(ok,true $(1))
$(info,info line from $(filename):$(lineno))
$(info,greeting: $(greet,world,moon))
$(warning-if,y,a warning at line $(lineno))
$(warning-if,n,never printed)
$(info,env is $(RULES_ENV_VAR))

config RECURSIVE_VAL
	string "recursive"
	default "$(RECURSIVE)"

config APPEND_VAL
	string "append"
	default "$(APPEND)"

config SHELL_VAL
	string "shell"
	default "$(shell,echo from-shell; echo second-line)"

config SHELL_EMPTY
	string "shell empty"
	default "$(shell,true)"

config SUCCESS
	def_bool $(ok,true)

config FAILURE
	def_bool $(not-ok,true)

config OPT_OK
	def_bool $(opt-ok,-x)

config RUN_OK
	string "run-ok"
	default "$(run-ok,false,yes,no)"

config ENV_VAL
	string "env"
	default "$(RULES_ENV_VAR)"

config UNSET_ENV
	string "unset env"
	default "[$(RULES_UNSET_VAR)]"

config WHERE
	string "where"
	default "$(filename):$(lineno)"

config SYM_$(SIMPLE_NAME)
	bool "symbol name from a variable"
	default y
"#;

#[test]
fn preprocessor() {
    let mut cases = Vec::new();
    for m in [
        "--olddefconfig",
        "--alldefconfig",
        "--savedefconfig=defconfig",
        "--syncconfig",
    ] {
        let mut c = Case::new(&format!("preprocessor {m}"), PREPROCESSOR)
            .arg(m)
            .env("RULES_ENV_VAR", "env-value")
            .env("SIMPLE_NAME", "ABC");
        if m == "--syncconfig" {
            c = c.config("CONFIG_SHELL_VAL=\"old\"\n");
        }
        cases.push(c);
    }
    cases.push(
        Case::new("preprocessor, silent", PREPROCESSOR)
            .arg("-s")
            .arg("--olddefconfig")
            .env("RULES_ENV_VAR", "other")
            .env("SIMPLE_NAME", "XYZ"),
    );
    cases.push(
        Case::new(
            "preprocessor error-if",
            "X := 1\n$(error-if,$(X),stop here)\nconfig A\n\tbool \"a\"\n",
        )
        .arg("--olddefconfig"),
    );
    cases.push(
        Case::new(
            "preprocessor undefined function",
            "$(info,$(no-such-function,a,b))\nconfig A\n\tbool \"a\"\n",
        )
        .arg("--olddefconfig"),
    );
    check("preprocessor", cases);
}

const SOURCE_MAIN: &str = r#"
config MAIN
	bool "main"
	default y

source "sub/Kconfig.sub"

menu "Sourced inside a menu"
source "sub/Kconfig.menu"
endmenu
"#;

/// `osource` is a kconfiglib extension, not mainline Kconfig: both C
/// versions reject it as an unknown statement (error recovery is compared).
const OSOURCE: &str = r#"
config MAIN
	bool "main"
	default y

osource "sub/does-not-exist"
osource "sub/Kconfig.opt*"
"#;

const SOURCE_SUB: &str = r#"
config SUB
	bool "sub"
	default MAIN

source "sub/Kconfig.deeper"
"#;

const SOURCE_DEEPER: &str = r#"
config DEEPER
	int "deeper"
	default 12
"#;

const SOURCE_MENU: &str = r#"
config IN_MENU
	tristate "in menu"
"#;

const SOURCE_OPT: &str = r#"
config OPTIONAL_FILE
	bool "from the optional glob"
	default y
"#;

#[test]
fn source_other_files() {
    let mut cases = Vec::new();
    for m in ALL_MODES.iter().copied().chain(["--syncconfig"]) {
        let mut c = Case::new(&format!("source {m}"), SOURCE_MAIN)
            .file("sub/Kconfig.sub", SOURCE_SUB)
            .file("sub/Kconfig.deeper", SOURCE_DEEPER)
            .file("sub/Kconfig.menu", SOURCE_MENU)
            .arg(m);
        if m == "--syncconfig" {
            c = c.config("CONFIG_MAIN=y\nCONFIG_SUB=y\nCONFIG_DEEPER=1\nCONFIG_IN_MENU=y\n");
        }
        cases.push(c);
    }
    for m in ["--olddefconfig", "--allnoconfig"] {
        cases.push(
            Case::new(&format!("osource (unknown statement) {m}"), OSOURCE)
                .file("sub/Kconfig.optA", SOURCE_OPT)
                .arg(m),
        );
    }
    check("source_other_files", cases);
}

const SMALL: &str = r#"
config A
	bool "a"
	default y

config B
	tristate "b"

config I
	int "i"
	default 1

config H
	hex "h"
	default 0x1

config S
	string "s"
	default "s"
"#;

#[test]
fn unknown_symbols_in_config() {
    let cfg =
        "CONFIG_A=y\nCONFIG_NOPE=y\n# CONFIG_GONE is not set\nCONFIG_OLD_STR=\"x\"\nCONFIG_I=2\n";
    let mut cases = Vec::new();
    for envs in [
        vec![],
        vec![("KCONFIG_WARN_UNKNOWN_SYMBOLS", "1")],
        vec![
            ("KCONFIG_WARN_UNKNOWN_SYMBOLS", "1"),
            ("KCONFIG_WERROR", "1"),
        ],
        vec![("KCONFIG_WERROR", "1")],
    ] {
        for m in [
            "--olddefconfig",
            "--savedefconfig=defconfig",
            "--listnewconfig",
        ] {
            let mut c = Case::new(&format!("unknown {m} {envs:?}"), SMALL)
                .config(cfg)
                .arg(m);
            for (k, v) in &envs {
                c = c.env(k, v);
            }
            cases.push(c);
        }
    }
    cases.push(
        Case::new("unknown via --defconfig", SMALL)
            .file("defc", "CONFIG_UNKNOWN_DEF=y\nCONFIG_B=y\n")
            .arg("--defconfig=defc")
            .env("KCONFIG_WARN_UNKNOWN_SYMBOLS", "1"),
    );
    check("unknown_symbols_in_config", cases);
}

#[test]
fn malformed_config_lines() {
    let cfg = concat!(
        "CONFIG_A=maybe\n",
        "CONFIG_B=mm\n",
        "CONFIG_I=abc\n",
        "CONFIG_H=0xZZ\n",
        "CONFIG_S=unquoted\n",
        "garbage line\n",
        "CONFIG_\n",
        "CONFIG_A\n",
        "# CONFIG_I is not set\n",
        "# CONFIG_B is not set but junk\n",
        "#CONFIG_A is not set\n",
        "CONFIG_S=\"unterminated\n",
        "   CONFIG_B=y\n",
        "CONFIG_B=y # trailing comment\n",
        "CONFIG_I=3 \n",
        "CONFIG_H=1f\n",
    );
    let mut cases = Vec::new();
    for m in ["--olddefconfig", "--savedefconfig=defconfig"] {
        cases.push(
            Case::new(&format!("malformed {m}"), SMALL)
                .config(cfg)
                .arg(m),
        );
        cases.push(
            Case::new(&format!("malformed {m} WERROR"), SMALL)
                .config(cfg)
                .arg(m)
                .env("KCONFIG_WERROR", "1"),
        );
    }
    cases.push(
        Case::new("malformed, other KCONFIG_CONFIG", SMALL)
            .file("my.cfg", "CONFIG_A=bogus\nCONFIG_I=\n")
            .arg("--olddefconfig")
            .env("KCONFIG_CONFIG", "my.cfg"),
    );
    cases.push(
        Case::new("no trailing newline", SMALL)
            .config("CONFIG_S=\"x\"\nCONFIG_I=7")
            .arg("--olddefconfig"),
    );
    check("malformed_config_lines", cases);
}

/// A configuration file that is a directory: the C conf's `fopen` opens it
/// and its first read fails, so it reads as an empty file (issue 17), as
/// `--defconfig=arch/powerpc/configs/44x` does on a real tree. The same for
/// every file conf reads: `--defconfig`, `KCONFIG_ALLCONFIG` (named, and the
/// `allno.config` of `KCONFIG_ALLCONFIG=1`), `KCONFIG_CONFIG` (read, then
/// not written: "Is a directory") and an entry of `KCONFIG_DEFCONFIG_LIST`.
#[test]
fn directories_read_as_empty_files() {
    let cases = vec![
        Case::new("--defconfig=DIR", SMALL)
            .dir("cfgdir")
            .arg("--defconfig=cfgdir"),
        Case::new("--defconfig=DIR/ with a file in it", SMALL)
            .file("cfgdir/x_defconfig", "CONFIG_B=y\n")
            .arg("--defconfig=cfgdir/"),
        Case::new("--defconfig=. over an existing .config", SMALL)
            .config("# CONFIG_A is not set\nCONFIG_I=5\n")
            .arg("--defconfig=."),
        Case::new("KCONFIG_ALLCONFIG=DIR", SMALL)
            .dir("cfgdir")
            .arg("--allnoconfig")
            .env("KCONFIG_ALLCONFIG", "cfgdir"),
        Case::new("KCONFIG_ALLCONFIG=1, allno.config a directory", SMALL)
            .dir("allno.config")
            .file("all.config", "CONFIG_I=9\n")
            .arg("--allnoconfig")
            .env("KCONFIG_ALLCONFIG", "1"),
        Case::new("KCONFIG_CONFIG=DIR", SMALL)
            .dir("cfgdir")
            .arg("--olddefconfig")
            .env("KCONFIG_CONFIG", "cfgdir"),
        Case::new("KCONFIG_CONFIG=DIR, savedefconfig", SMALL)
            .dir("cfgdir")
            .arg("--savedefconfig=defconfig")
            .env("KCONFIG_CONFIG", "cfgdir"),
        Case::new("KCONFIG_DEFCONFIG_LIST names a directory first", SMALL)
            .dir("cfgdir")
            .file("later", "CONFIG_I=3\n")
            .arg("--olddefconfig")
            .env("KCONFIG_DEFCONFIG_LIST", "missing cfgdir later"),
    ];
    check("directories_read_as_empty_files", cases);
}

/// The case of issue 17 on the prepared 6.12 tree: `--defconfig=` a
/// directory of `arch/powerpc/configs` (found through `$srctree`), with the
/// captured x86_64 environment, gives the C conf's output and files.
#[test]
fn a_directory_as_defconfig_on_the_6_12_tree() {
    let env = kforge_testkit::captured_env("6.12", "x86_64");
    let tmp = tempfile::tempdir().unwrap();
    let mut outcomes = Vec::new();
    for (side, prog, pre) in [
        ("c", kforge_testkit::oracle().join("6.12/conf"), &[][..]),
        (
            "k",
            PathBuf::from(env!("CARGO_BIN_EXE_kforge")),
            &["conf"][..],
        ),
    ] {
        let dir = tmp.path().join(side);
        std::fs::create_dir_all(&dir).unwrap();
        let out = Command::new(&prog)
            .args(pre)
            .args(["--defconfig=arch/powerpc/configs/44x", "Kconfig"])
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("KCONFIG_CONFIG", ".config")
            .env("KFORGE_NO_PROBE_CACHE", "1")
            .current_dir(&dir)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let mut files = BTreeMap::new();
        collect(&dir, "", &mut files);
        outcomes.push(Outcome {
            code: out.status.code(),
            stdout: out.stdout,
            stderr: out.stderr,
            files,
        });
    }
    assert_eq!(outcomes[0].code, Some(0), "the C conf failed");
    assert!(outcomes[0].files.contains_key(".config"));
    let problems = compare(&outcomes[0], &outcomes[1]);
    assert!(
        problems.is_empty(),
        "differs from the C conf:\n{}",
        problems.join("\n")
    );
}

#[test]
fn duplicate_assignments() {
    let cfg = concat!(
        "CONFIG_A=y\n",
        "# CONFIG_A is not set\n",
        "CONFIG_I=2\n",
        "CONFIG_I=3\n",
        "CONFIG_S=\"one\"\n",
        "CONFIG_S=\"one\"\n",
        "CONFIG_B=m\n",
        "CONFIG_B=y\n",
    );
    let mut cases = Vec::new();
    for m in [
        "--olddefconfig",
        "--savedefconfig=defconfig",
        "--listnewconfig",
    ] {
        cases.push(Case::new(&format!("dup {m}"), SMALL).config(cfg).arg(m));
    }
    cases.push(
        Case::new("dup WERROR", SMALL)
            .config(cfg)
            .arg("--olddefconfig")
            .env("KCONFIG_WERROR", "1"),
    );
    cases.push(
        Case::new("KCONFIG_ALLCONFIG allnoconfig", SMALL)
            .file("allno.config", "CONFIG_A=y\nCONFIG_A=y\nCONFIG_I=9\n")
            .arg("--allnoconfig")
            .env("KCONFIG_ALLCONFIG", "allno.config"),
    );
    cases.push(
        Case::new("KCONFIG_ALLCONFIG=1 allyesconfig", SMALL)
            .file("allyes.config", "# CONFIG_A is not set\nCONFIG_S=\"all\"\n")
            .arg("--allyesconfig")
            .env("KCONFIG_ALLCONFIG", "1"),
    );
    cases.push(
        Case::new("--defconfig duplicates", SMALL)
            .file(
                "defc",
                "CONFIG_I=4\nCONFIG_I=5\n# CONFIG_A is not set\nCONFIG_A=y\n",
            )
            .arg("--defconfig=defc"),
    );
    check("duplicate_assignments", cases);
}

const RAND: &str = r#"
config MODULES
	bool "modules"
	modules

config B1
	bool "b1"
config B2
	bool "b2"
	default y
config B3
	bool "b3"
	depends on B1
config B4
	bool "b4"
	select B5
config B5
	bool "b5"
config B6
	bool "b6"
	depends on !B2
config T1
	tristate "t1"
config T2
	tristate "t2"
	depends on T1
config T3
	tristate "t3"
	default m
config T4
	tristate "t4"
	imply T1
config T5
	tristate "t5"
	depends on B1 || T3
config T6
	tristate "t6"

choice
	prompt "rand choice"
	default C2
config C1
	bool "c1"
config C2
	bool "c2"
config C3
	bool "c3"
	depends on B2
endchoice

config RI
	int "rand int"
	range 1 5
	default 3

config RS
	string "rand string"
	default "r"
"#;

#[test]
fn randconfig() {
    let mut cases = Vec::new();
    for seed in ["1", "2", "3"] {
        cases.push(
            Case::new(&format!("rand seed {seed}"), RAND)
                .arg("--randconfig")
                .env("KCONFIG_SEED", seed),
        );
    }
    cases.push(
        Case::new("rand seed 0x2a probability 80", RAND)
            .arg("--randconfig")
            .env("KCONFIG_SEED", "0x2a")
            .env("KCONFIG_PROBABILITY", "80"),
    );
    cases.push(
        Case::new("rand seed 3 probability 10:50:40", RAND)
            .arg("--randconfig")
            .env("KCONFIG_SEED", "3")
            .env("KCONFIG_PROBABILITY", "10:50:40"),
    );
    cases.push(
        Case::new("rand seed 1 KCONFIG_ALLCONFIG", RAND)
            .file("rand.config", "CONFIG_B1=y\nCONFIG_C3=y\n")
            .arg("--randconfig")
            .env("KCONFIG_SEED", "1")
            .env("KCONFIG_ALLCONFIG", "rand.config"),
    );
    for bad in ["101", "50:60", "x", "-1", "30:30:50"] {
        cases.push(
            Case::new(&format!("rand probability {bad:?}"), RAND)
                .arg("--randconfig")
                .env("KCONFIG_SEED", "1")
                .env("KCONFIG_PROBABILITY", bad),
        );
    }
    check("randconfig", cases);
}

/// Output files that cannot be written: the message and exit code of the C
/// conf, and nothing half-written.
#[test]
fn error_output_not_writable() {
    let kconfig = "config A\n\tbool \"a\"\n\tdefault y\n";
    let mut cases = Vec::new();
    for mode in ["--olddefconfig", "--alldefconfig", "--syncconfig"] {
        cases.push(
            Case::new(
                &format!("{mode}, KCONFIG_CONFIG in a missing directory"),
                kconfig,
            )
            .arg(mode)
            .env("KCONFIG_CONFIG", "missing/.config"),
        );
    }
    for mode in ["--olddefconfig", "--allnoconfig"] {
        cases.push(
            Case::new(
                &format!("{mode}, KCONFIG_CONFIG under a regular file"),
                kconfig,
            )
            .file("plain", "x\n")
            .arg(mode)
            .env("KCONFIG_CONFIG", "plain/.config"),
        );
    }
    cases.push(
        Case::new("--savedefconfig under a regular file", kconfig)
            .config("CONFIG_A=y\n")
            .file("plain", "x\n")
            .arg("--savedefconfig=plain/defconfig"),
    );
    cases.push(
        Case::new("--savedefconfig into a missing directory", kconfig)
            .config("CONFIG_A=y\n")
            .arg("--savedefconfig=missing/defconfig"),
    );
    cases.push(
        Case::new("--syncconfig, include/config is a file", kconfig)
            .config("CONFIG_A=y\n")
            .file("include/config", "not a directory\n")
            .arg("--syncconfig"),
    );
    check("error_output_not_writable", cases);
}

const SYNC: &str = r#"
mainmenu "Sync test $(RULES_SYNC_ENV)"

config MODULES
	bool "modules"
	default y
	modules

config RUST
	bool "rust"
	default y

config BOOL_Y
	bool "bool y"
	default y

config BOOL_N
	bool "bool n"

config TRI_M
	tristate "tri m"
	default m

config TRI_Y
	tristate "tri y"
	default y

config INT
	int "int"
	default -12

config HEX
	hex "hex"
	default 0xabc

config HEX_NO_PREFIX
	hex "hex without prefix"
	default 1f

config STR
	string "string"
	default "q\"uote and back\\slash"

config EMPTY_STR
	string "empty"

config FROM_ENV
	string "from env"
	default "$(RULES_SYNC_ENV)"

source "Kconfig.more"
"#;

const SYNC_MORE: &str = r#"
menu "More"
config MORE_CHOICE_DEP
	bool "more"
	default y
endmenu
"#;

const SYNC_FULL: &str = r#"CONFIG_MODULES=y
CONFIG_RUST=y
# CONFIG_BOOL_Y is not set
CONFIG_BOOL_N=y
CONFIG_TRI_M=y
CONFIG_TRI_Y=m
CONFIG_INT=77
CONFIG_HEX=0x10
CONFIG_HEX_NO_PREFIX=0x1f
CONFIG_STR="a \"b\" \\c"
CONFIG_EMPTY_STR=""
CONFIG_FROM_ENV="val"
CONFIG_MORE_CHOICE_DEP=y
"#;

#[test]
fn syncconfig() {
    let mut cases = Vec::new();
    for (label, cfg) in [
        ("syncconfig", Some("CONFIG_BOOL_N=y\nCONFIG_TRI_Y=m\n")),
        ("syncconfig, minimal .config", Some("")),
        ("syncconfig, no .config", None),
    ] {
        let mut c = Case::new(label, SYNC)
            .file("Kconfig.more", SYNC_MORE)
            .arg("--syncconfig")
            .env("RULES_SYNC_ENV", "val");
        if let Some(cfg) = cfg {
            c = c.config(cfg);
        }
        cases.push(c);
    }
    // Every symbol already in .config: nothing to ask.
    cases.push(
        Case::new("syncconfig, complete .config", SYNC)
            .file("Kconfig.more", SYNC_MORE)
            .config(SYNC_FULL)
            .arg("--syncconfig")
            .env("RULES_SYNC_ENV", "val"),
    );
    // A second run over an existing include/ tree (changed symbols).
    cases.push(
        Case::new("syncconfig over existing auto.conf", SYNC)
            .file("Kconfig.more", SYNC_MORE)
            .config("CONFIG_BOOL_N=y\n# CONFIG_BOOL_Y is not set\n")
            .file(
                "include/config/auto.conf",
                "CONFIG_BOOL_Y=y\nCONFIG_TRI_M=m\n",
            )
            .arg("--syncconfig")
            .env("RULES_SYNC_ENV", "val"),
    );
    cases.push(
        Case::new("syncconfig, custom output paths", SYNC)
            .file("Kconfig.more", SYNC_MORE)
            .config("CONFIG_INT=5\n")
            .arg("--syncconfig")
            .env("RULES_SYNC_ENV", "other")
            .env("KCONFIG_AUTOCONFIG", "out/auto.conf")
            .env("KCONFIG_AUTOHEADER", "out/autoconf.h")
            .env("KCONFIG_RUSTCCFG", "out/rustc_cfg"),
    );
    check("syncconfig", cases);
}

// --- error cases -----------------------------------------------------------

fn error_cases(name: &str, kconfig: &str, extra: &[(&str, &str)]) {
    let mut cases = Vec::new();
    for m in ["--olddefconfig", "--allnoconfig"] {
        let mut c = Case::new(&format!("{name} {m}"), kconfig).arg(m);
        for (f, content) in extra {
            c = c.file(f, content);
        }
        cases.push(c);
    }
    check(name, cases);
}

#[test]
fn error_unterminated_string() {
    error_cases(
        "error_unterminated_string",
        "config A\n\tbool \"unterminated\n\tdefault y\n\nconfig B\n\tstring \"b\"\n\tdefault \"x\n",
        &[],
    );
}

#[test]
fn error_unknown_keyword() {
    error_cases(
        "error_unknown_keyword",
        "config A\n\tbool \"a\"\n\tfrobnicate y\n\nwibble\n\nconfig B\n\tbool \"b\"\n",
        &[],
    );
}

#[test]
fn error_missing_endmenu() {
    error_cases(
        "error_missing_endmenu",
        "menu \"Open\"\n\nconfig A\n\tbool \"a\"\n",
        &[],
    );
}

#[test]
fn error_endif_without_if() {
    error_cases(
        "error_endif_without_if",
        "config A\n\tbool \"a\"\nendif\n\nconfig B\n\tbool \"b\"\n",
        &[],
    );
}

#[test]
fn error_missing_source_file() {
    error_cases(
        "error_missing_source_file",
        "config A\n\tbool \"a\"\n\nsource \"no/such/Kconfig\"\n",
        &[],
    );
}

#[test]
fn error_recursive_source() {
    error_cases(
        "error_recursive_source",
        "config A\n\tbool \"a\"\nsource \"Kconfig.loop\"\n",
        &[(
            "Kconfig.loop",
            "config B\n\tbool \"b\"\nsource \"Kconfig\"\n",
        )],
    );
}

#[test]
fn error_recursive_dependency() {
    error_cases(
        "error_recursive_dependency",
        concat!(
            "config A\n\tbool \"a\"\n\tdepends on B\n\n",
            "config B\n\tbool \"b\"\n\tselect A\n\n",
            "config C\n\tbool \"c\"\n\tdepends on D\n\n",
            "config D\n\tbool \"d\"\n\tdefault C\n",
        ),
        &[],
    );
}
