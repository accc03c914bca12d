//! Snapshots of loaded trees and the cached load: a tree from a snapshot
//! behaves as the tree loaded from its files, the inputs a load read are
//! all recorded, and `load_cached` uses a snapshot only while every
//! environment variable and shell answer is the recorded one.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use kconfig_engine::snapshot::{CachedLoad, LoadInputs, SnapshotError};
use kconfig_engine::{CacheOutcome, Kconfig, LoadOptions, ParseCache, ShellRunner};

/// A tree using most of the language: sourced files, macros reading the environment and the shell, choices, menus, help
/// texts, ranges, selects and implies.
fn write_tree(dir: &Path) {
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(
        dir.join("Kconfig"),
        r#"
mainmenu "Test $(KVER)"
cc-name := $(shell,echo $(CC) | tr a-z A-Z)
config MODULES
	bool "Modules"
	default y
	modules
config CC_NAME
	string
	default "$(cc-name)"
config FROM_ENV
	string
	default "$(TREE_OPT)"
source "sub/Kconfig"
menu "Drivers"
config A
	tristate "A"
	select B if C
	imply D
	help
	  The A driver.
	  Two lines.
config B
	tristate
config C
	bool "C" if !E
config D
	tristate "D"
	depends on A || C
config E
	int "E"
	range 1 10
	default 3
endmenu
choice
	prompt "Pick"
	default P2
config P1
	bool "one"
config P2
	bool "two"
endchoice
comment "A comment"
	depends on C
"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("sub/Kconfig"),
        "config SUB\n\thex \"sub\"\n\tdefault 0x10\nconfig UNDEF_REF\n\tbool\n\tdefault X_UNDEFINED\n",
    )
    .unwrap();
}

/// A fresh directory under the system temporary directory.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("kconfig-snapshot-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Shell answers from a table (unknown commands: run by `sh`), counting runs.
#[derive(Clone, Default)]
struct TableShell {
    answers: Rc<RefCell<HashMap<String, String>>>,
    runs: Rc<RefCell<usize>>,
}

impl ShellRunner for TableShell {
    fn run(&self, command: &str) -> Vec<u8> {
        *self.runs.borrow_mut() += 1;
        match self.answers.borrow().get(command) {
            Some(a) => a.clone().into_bytes(),
            None => kconfig_engine::preprocess::run_shell_command(command, None, None),
        }
    }
}

fn options(
    tree: &Path,
    env: &Rc<RefCell<HashMap<String, String>>>,
    shell: &TableShell,
) -> LoadOptions {
    let env = Rc::clone(env);
    let srctree = tree.to_string_lossy().into_owned();
    LoadOptions {
        kconfig: "Kconfig".into(),
        env: Rc::new(move |k| {
            if k == "srctree" {
                return Some(srctree.clone());
            }
            env.borrow().get(k).cloned()
        }),
        shell: Box::new(shell.clone()),
        dialect: None,
    }
}

fn base_env() -> Rc<RefCell<HashMap<String, String>>> {
    let m: HashMap<String, String> = [("CC", "gcc"), ("KVER", "6.12"), ("TREE_OPT", "x")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Rc::new(RefCell::new(m))
}

/// What conf would write for `config`, and the messages on the way.
fn outputs(kc: &mut Kconfig, config: &str) -> (String, Vec<String>) {
    kc.restart();
    kc.set_config_text(".config", config);
    kc.read(Some(".config"));
    let text = kc.render_config();
    let msgs = kc.messages.take().into_iter().map(|(_, m)| m).collect();
    (text, msgs)
}

#[test]
fn a_snapshot_behaves_as_the_loaded_tree() {
    let tree = scratch("roundtrip");
    write_tree(&tree);
    let env = base_env();
    let shell = TableShell::default();
    let mut loaded = Kconfig::load(options(&tree, &env, &shell)).unwrap();
    let bytes = loaded.snapshot();
    let mut restored = Kconfig::from_snapshot(&bytes, options(&tree, &env, &shell).env).unwrap();
    // The same bytes again: nothing is lost or reordered.
    assert_eq!(restored.snapshot(), bytes);
    assert_eq!(loaded.messages.lines, restored.messages.lines);
    assert_eq!(loaded.files, restored.files);
    assert_eq!(loaded.env_deps, restored.env_deps);
    let names = |kc: &Kconfig| {
        kc.symbol_names()
            .map(|(n, s)| (n.to_string(), s))
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&loaded), names(&restored));
    let helps = |kc: &Kconfig| {
        (0..kc.menus.len() as u32)
            .filter_map(|m| kc.help(kconfig_engine::menu::MenuId(m)).map(str::to_string))
            .collect::<Vec<_>>()
    };
    assert!(!helps(&loaded).is_empty());
    assert_eq!(helps(&loaded), helps(&restored));
    for config in [
        "",
        "CONFIG_A=m\nCONFIG_C=y\n",
        "CONFIG_A=y\nCONFIG_E=12\nCONFIG_P1=y\nCONFIG_NOPE=y\n",
    ] {
        assert_eq!(outputs(&mut loaded, config), outputs(&mut restored, config));
    }
    let out = outputs(&mut restored, "").0;
    assert!(out.contains("CONFIG_CC_NAME=\"GCC\""), "{out}");
    assert!(out.contains("CONFIG_FROM_ENV=\"x\""), "{out}");
    let _ = std::fs::remove_dir_all(&tree);
}

#[test]
fn damaged_snapshots_are_errors_not_panics() {
    let tree = scratch("damaged");
    write_tree(&tree);
    let env = base_env();
    let shell = TableShell::default();
    let bytes = Kconfig::load(options(&tree, &env, &shell))
        .unwrap()
        .snapshot();
    let env_fn = options(&tree, &env, &shell).env;
    for n in 0..bytes.len() {
        let r = Kconfig::from_snapshot(&bytes[..n], env_fn.clone());
        assert!(
            r.is_err(),
            "a snapshot cut at {n} of {} was read",
            bytes.len()
        );
    }
    assert_eq!(
        Kconfig::from_snapshot(b"KFKCSNAP\x63rest", env_fn.clone()).err(),
        Some(SnapshotError::Format)
    );
    // Flipped bytes: an error or some tree, never a panic.
    let mut state = 0x2545_f491_u32;
    for _ in 0..2000 {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let mut b = bytes.clone();
        let i = state as usize % b.len();
        b[i] ^= (state >> 24) as u8 | 1;
        let _ = Kconfig::from_snapshot(&b, env_fn.clone());
    }
    let _ = std::fs::remove_dir_all(&tree);
}

#[test]
fn a_recorded_load_lists_everything_it_read() {
    let tree = scratch("record");
    write_tree(&tree);
    let env = base_env();
    let shell = TableShell::default();
    let (res, inputs) = Kconfig::load_recording(options(&tree, &env, &shell));
    res.unwrap();
    let paths: Vec<(String, bool)> = inputs
        .files
        .iter()
        .map(|f| (f.path.to_string_lossy().into_owned(), f.content.is_some()))
        .collect();
    let t = tree.to_string_lossy();
    // Each name is tried as given (relative to the working directory), then under srctree.
    assert_eq!(
        paths,
        vec![
            ("Kconfig".to_string(), false),
            (format!("{t}/Kconfig"), true),
            ("sub/Kconfig".to_string(), false),
            (format!("{t}/sub/Kconfig"), true),
        ]
    );
    let env_names: Vec<(&str, bool)> = inputs
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.is_some()))
        .collect();
    for want in [
        ("srctree", true),
        ("KVER", true),
        ("CC", true),
        ("TREE_OPT", true),
    ] {
        assert!(env_names.contains(&want), "{want:?} not in {env_names:?}");
    }
    assert_eq!(
        inputs.shell,
        vec![("echo gcc | tr a-z A-Z".to_string(), "GCC".to_string())]
    );
    let _ = std::fs::remove_dir_all(&tree);
}

/// A store in memory that checks files by content.
#[derive(Default)]
struct MemCache {
    entry: RefCell<Option<(String, LoadInputs, Vec<u8>)>>,
}

impl ParseCache for MemCache {
    fn fetch(&self, key: &str) -> Option<CachedLoad> {
        let e = self.entry.borrow();
        let (k, inputs, snap) = e.as_ref()?;
        let files_hold = inputs
            .files
            .iter()
            .all(|f| std::fs::read(&f.path).ok() == f.content);
        (k == key && files_hold).then(|| CachedLoad {
            env: inputs.env.clone(),
            shell: inputs.shell.clone(),
            bytes: snap.clone(),
            snapshot: 0..snap.len(),
            files_check: Default::default(),
        })
    }
    fn store(&self, key: &str, inputs: &LoadInputs, snapshot: &[u8]) {
        *self.entry.borrow_mut() = Some((key.to_string(), inputs.clone(), snapshot.to_vec()));
    }
}

#[test]
fn a_cached_load_is_used_only_while_its_inputs_hold() {
    let tree = scratch("cached");
    write_tree(&tree);
    let env = base_env();
    let shell = TableShell::default();
    let cache = MemCache::default();
    let load = |want: CacheOutcome| {
        let (kc, outcome) = Kconfig::load_cached(options(&tree, &env, &shell), &cache);
        assert_eq!(outcome, want);
        let mut kc = kc.unwrap();
        let fresh = Kconfig::load(options(&tree, &env, &shell)).unwrap();
        assert_eq!(kc.snapshot(), fresh.snapshot());
        outputs(&mut kc, "CONFIG_A=m\n").0
    };
    load(CacheOutcome::Miss);
    let out = load(CacheOutcome::Hit);
    assert!(out.contains("CONFIG_CC_NAME=\"GCC\""));
    // A variable the tree reads.
    env.borrow_mut().insert("TREE_OPT".into(), "changed".into());
    assert!(load(CacheOutcome::Miss).contains("CONFIG_FROM_ENV=\"changed\""));
    load(CacheOutcome::Hit);
    // A variable it reads becomes unset.
    env.borrow_mut().remove("TREE_OPT");
    assert!(load(CacheOutcome::Miss).contains("CONFIG_FROM_ENV=\"\""));
    // A variable it does not read changes nothing.
    env.borrow_mut().insert("UNRELATED".into(), "1".into());
    load(CacheOutcome::Hit);
    // Another answer from the shell (another compiler behind the same name).
    shell
        .answers
        .borrow_mut()
        .insert("echo gcc | tr a-z A-Z".into(), "CLANG\n".into());
    assert!(load(CacheOutcome::Miss).contains("CONFIG_CC_NAME=\"CLANG\""));
    load(CacheOutcome::Hit);
    // A sourced file changes.
    std::fs::write(
        tree.join("sub/Kconfig"),
        "config NEW\n\tbool \"new\"\n\tdefault y\n",
    )
    .unwrap();
    assert!(load(CacheOutcome::Miss).contains("CONFIG_NEW=y"));
    load(CacheOutcome::Hit);
    let _ = std::fs::remove_dir_all(&tree);
}
