//! `[build] fragments` on a small tree of our own: the merge make does
//! (generic file, then the architecture's, one olddefconfig per
//! fragment), lines verified with their origin, a declaration's request
//! taking a line's place, and a fragment the tree lacks.
//! The real tree against the real `make` is in kforge's tests/fragments.rs.

use std::path::{Path, PathBuf};
use std::rc::Rc;

use kconfig_engine::Kconfig;
use kforge_declaration::{Base, Fragment, Layer, Origin, Priority, Request, RequestValue};
use kforge_resolve::{resolve, Input, ResolveError};

const KCONFIG: &str = r#"
config A
	bool "a"
	default y

config B
	bool "b"
	depends on A

config C
	tristate "c"
	depends on MODULES

config MODULES
	bool "modules"
	modules

config S
	string "s"
	default "x"

config N
	int "n"
	range 1 10
	default 2
"#;

fn tree() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let w = |rel: &str, text: &str| {
        let p = d.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    w("Kconfig", KCONFIG);
    // The generic file, and the architecture's with the last word.
    w(
        "kernel/configs/demo.config",
        "# Help: a demo\nCONFIG_B=y\nCONFIG_S=\"from \\\"generic\\\"\"\nCONFIG_N=3\n",
    );
    w(
        "arch/x86/configs/demo.config",
        "CONFIG_N=4\n# CONFIG_A is not set\n",
    );
    w(
        "kernel/configs/mods.config",
        "CONFIG_MODULES=y\nCONFIG_C=m\n",
    );
    w("arch/arm64/configs/other.config", "CONFIG_B=y\n");
    d
}

fn load(dir: &Path) -> Kconfig {
    kforge_testkit::synthetic_kconfig(dir, "x86")
}

fn origin(line: u32) -> Origin {
    Origin {
        file: Rc::new(PathBuf::from("kernel.toml")),
        line,
        column: 1,
    }
}

fn fragment(name: &str) -> Fragment {
    Fragment {
        name: name.into(),
        origin: origin(7),
    }
}

fn input(kc: &Kconfig, names: &[&str], requests: Vec<Request>) -> Result<Input, ResolveError> {
    let mut i = Input {
        requests,
        ..Input::on(Base::Alldefconfig)
    };
    let declared: Vec<Fragment> = names.iter().map(|n| fragment(n)).collect();
    i.add_fragments(kc, &declared)?;
    Ok(i)
}

fn value<'a>(config: &'a str, line_start: &str) -> Option<&'a str> {
    config.lines().find(|l| l.starts_with(line_start))
}

#[test]
fn the_generic_file_then_the_architectures_then_one_olddefconfig() {
    let d = tree();
    let mut kc = load(d.path());
    let inp = input(&kc, &["demo.config"], Vec::new()).unwrap();
    let res = resolve(&mut kc, &inp).unwrap();
    // The arch file turns A off after the generic one asked for B (which
    // depends on A): B cannot hold, N is the arch file's, S the generic's.
    assert_eq!(
        value(&res.config, "# CONFIG_A "),
        Some("# CONFIG_A is not set")
    );
    assert_eq!(value(&res.config, "CONFIG_N="), Some("CONFIG_N=4"));
    assert_eq!(
        value(&res.config, "CONFIG_S="),
        Some("CONFIG_S=\"from \\\"generic\\\"\"")
    );
    assert!(!res.config.contains("CONFIG_B"), "{}", res.config);
    // The base is what make would write: the requests add nothing.
    assert_eq!(res.base_config, res.config);
    // One outcome per symbol, the last line for it, at its place (in the
    // order of places).
    let places: Vec<(String, String, bool)> = res
        .outcomes
        .iter()
        .map(|o| {
            assert_eq!(o.request.layer, Layer::Fragment("demo.config".into()));
            assert!(o.request.optional);
            (
                o.request.symbol.clone(),
                format!(
                    "{}:{}",
                    o.request.origin.file.display(),
                    o.request.origin.line
                ),
                o.problem.is_none(),
            )
        })
        .collect();
    let want = |s: &str, p: &str, held: bool| (s.to_string(), p.to_string(), held);
    assert_eq!(
        places,
        vec![
            want("N", "arch/x86/configs/demo.config:1", true),
            want("A", "arch/x86/configs/demo.config:2", true),
            want("B", "kernel/configs/demo.config:2", false),
            want("S", "kernel/configs/demo.config:3", true),
        ]
    );
    let b = res
        .outcomes
        .iter()
        .find(|o| o.request.symbol == "B")
        .unwrap();
    let why = b.problem.as_ref().unwrap().to_string();
    assert!(why.contains("A"), "{why}");
}

#[test]
fn a_request_of_the_declaration_takes_a_lines_place() {
    let d = tree();
    let mut kc = load(d.path());
    let a = Request {
        symbol: "A".into(),
        value: RequestValue::Text("y".into()),
        optional: false,
        priority: Priority::Normal,
        since: None,
        until: None,
        layer: Layer::Main,
        origin: origin(9),
    };
    let inp = input(&kc, &["demo.config"], vec![a]).unwrap();
    let res = resolve(&mut kc, &inp).unwrap();
    assert_eq!(value(&res.config, "CONFIG_A="), Some("CONFIG_A=y"));
    let a: Vec<_> = res
        .outcomes
        .iter()
        .filter(|o| o.request.symbol == "A")
        .collect();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].request.layer, Layer::Main);
    // The base still has the fragment's A: the declaration changed it.
    assert!(res.base_config.contains("# CONFIG_A is not set"));
}

#[test]
fn fragments_apply_in_order_each_with_its_olddefconfig() {
    let d = tree();
    let mut kc = load(d.path());
    let inp = input(&kc, &["mods.config", "demo.config"], Vec::new()).unwrap();
    let res = resolve(&mut kc, &inp).unwrap();
    assert_eq!(value(&res.config, "CONFIG_C="), Some("CONFIG_C=m"));
    assert_eq!(
        value(&res.config, "CONFIG_MODULES="),
        Some("CONFIG_MODULES=y")
    );
    assert_eq!(res.failures().count(), 1, "{:#?}", res.outcomes);
}

#[test]
fn a_fragment_the_tree_lacks_lists_those_it_has() {
    let d = tree();
    let kc = load(d.path());
    let e = input(&kc, &["hardening.config"], Vec::new()).unwrap_err();
    match &e {
        ResolveError::NoFragment {
            name,
            srcarch,
            available,
            origin,
        } => {
            assert_eq!(name, "hardening.config");
            assert_eq!(srcarch, "x86");
            // arm64's other.config is not offered for x86.
            assert_eq!(available, &["demo.config", "mods.config"]);
            assert_eq!(origin.line, 7);
        }
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().contains("kernel.toml:7:1"), "{e}");
}

#[test]
fn a_fragment_that_is_not_a_regular_file_is_refused() {
    let d = tree();
    std::fs::create_dir_all(d.path().join("kernel/configs/dir.config")).unwrap();
    let kc = load(d.path());
    let e = input(&kc, &["dir.config"], Vec::new()).unwrap_err();
    assert!(matches!(e, ResolveError::FragmentFile { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("kernel/configs/dir.config: cannot read the fragment")
            && text.contains("not a regular file"),
        "{text}"
    );
}
