//! The model on a small Kconfig tree and a real declaration file.

use std::rc::Rc;

use super::*;

const KCONFIG: &str = r#"mainmenu "Test kernel"

config MODULES
	bool "Enable modules"
	default y
	modules

menu "Drivers"

config A
	tristate "Driver A"
	help
	  A's help text.

config B
	bool "B needs A"
	depends on A

config C
	tristate "C selects D"
	select D

config D
	tristate "Driver D"

config NUM
	int "A number"
	range 1 10
	default 4

config E
	tristate "E needs B"
	depends on B

endmenu

choice
	prompt "Pick one"
	default P1

config P1
	bool "first"

config P2
	bool "second"

endchoice

config HIDDEN
	bool
	default y
"#;

const DECL: &str = r#"[source]
version = "6.12"

[build]
arch = "x86_64"
base = "alldefconfig"

[config]
# A as a module.
A = "m"
"#;

struct Fixture {
    _dir: tempfile::TempDir,
    spec: PathBuf,
}

fn fixture() -> (Fixture, Model) {
    fixture_with(DECL, &[])
}

/// The model over `KCONFIG` for the declaration `decl`, with `files`
/// (name, text) written next to it.
fn fixture_with(decl: &str, files: &[(&str, &str)]) -> (Fixture, Model) {
    fixture_in(KCONFIG, kconfig_engine::Dialect::V6_12, decl, files)
}

/// The model over the tree `kconfig`, read with `dialect`'s rules.
fn fixture_in(
    kconfig: &str,
    dialect: kconfig_engine::Dialect,
    decl: &str,
    files: &[(&str, &str)],
) -> (Fixture, Model) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Kconfig"), kconfig).unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let spec_path = dir.path().join("kernel.toml");
    std::fs::write(&spec_path, decl).unwrap();
    let srctree = dir.path().to_string_lossy().into_owned();
    let mut kc = Kconfig::load(kconfig_engine::LoadOptions {
        kconfig: "Kconfig".into(),
        env: Rc::new(move |k: &str| (k == "srctree").then(|| srctree.clone())),
        shell: Box::new(kconfig_engine::preprocess::DirectShell),
        dialect: Some(dialect),
    })
    .unwrap_or_else(|e| panic!("{:?}", e.messages));
    let spec = kforge_declaration::Spec::load(&spec_path).unwrap();
    let input = Input::from_spec(&spec, &spec.source.version);
    let res = kforge_resolve::resolve(&mut kc, &input).unwrap();
    let ctx = Context {
        spec_path: spec_path.clone(),
        output: None,
        input: Some(input),
        base_config: res.base_config.clone(),
        outcomes: res.outcomes.clone(),
        active_conditions: res.active_conditions.clone(),
        auto_modules: res.auto_modules.clone(),
    };
    (
        Fixture {
            _dir: dir,
            spec: spec_path,
        },
        Model::new(kc, ctx),
    )
}

fn texts(m: &mut Model) -> Vec<String> {
    (0..m.rows.len())
        .map(|i| {
            let t = m.row_text(i);
            format!("{}{} {}", t.marker, t.value, t.text)
        })
        .collect()
}

fn goto(m: &mut Model, needle: &str) {
    let i = texts(m)
        .iter()
        .position(|t| t.contains(needle))
        .unwrap_or_else(|| panic!("{needle} not in {:?}", texts(m)));
    m.view_mut().cursor = i;
}

fn keys(m: &mut Model, ks: &[Key]) {
    for &k in ks {
        m.handle(k);
    }
}

#[test]
fn root_menu_and_navigation() {
    let (_f, mut m) = fixture();
    assert_eq!(
        texts(&mut m),
        [
            " [*] Enable modules (MODULES)",
            "  Drivers  --->",
            "  Pick one (first)  --->",
        ]
    );
    assert_eq!(m.title(), "Test kernel");
    keys(&mut m, &[Key::Down, Key::Enter]);
    assert_eq!(m.title(), "Test kernel > Drivers");
    assert_eq!(
        texts(&mut m),
        [
            "D<M> Driver A (A)",
            " [ ]   B needs A (B)",
            " < > C selects D (C)",
            " < > Driver D (D)",
            " (4) A number (NUM)",
        ]
    );
    keys(&mut m, &[Key::End]);
    assert_eq!(m.view().cursor, 4);
    keys(&mut m, &[Key::Home, Key::Down, Key::PageDown]);
    assert_eq!(m.view().cursor, 4);
    keys(&mut m, &[Key::Esc]);
    assert_eq!(m.stack.len(), 1);
    assert_eq!(m.view().cursor, 1);
    assert_eq!(m.handle(Key::Char('q')), Action::Quit);
}

#[test]
fn set_values_recomputes_dependents() {
    let (_f, mut m) = fixture();
    keys(&mut m, &[Key::Down, Key::Enter]);
    goto(&mut m, "(C)");
    keys(&mut m, &[Key::Char('y')]);
    let t = texts(&mut m);
    assert!(t.contains(&"*<*> C selects D (C)".to_string()), "{t:?}");
    // D is forced to y by the select: shown -*- with S.
    assert!(t.contains(&"S-*- Driver D (D)".to_string()), "{t:?}");
    assert!(m.dirty());
    goto(&mut m, "(A)");
    keys(&mut m, &[Key::Char(' ')]);
    assert_eq!(m.kc.string_value(m.kc.find("A").unwrap()).as_ref(), "y");
    assert!(m.status.starts_with("A = y"), "{}", m.status);
    // Back to m: A's change is then no change at all.
    keys(&mut m, &[Key::Char('m')]);
    goto(&mut m, "(C)");
    keys(&mut m, &[Key::Char('n')]);
    assert!(!m.dirty());
}

#[test]
fn forced_value_explained_with_fix() {
    let (_f, mut m) = fixture();
    keys(&mut m, &[Key::Down, Key::Enter]);
    goto(&mut m, "(C)");
    keys(&mut m, &[Key::Char('y')]);
    goto(&mut m, "(D)");
    keys(&mut m, &[Key::Char('n')]);
    let Mode::Help(h) = &m.mode else {
        panic!("{:?}", m.mode)
    };
    let text = h.lines.join("\n");
    assert!(text.contains("forced-by-select"), "{text}");
    assert!(text.contains("C [=y] (select at"), "{text}");
    assert_eq!(
        h.fix.as_deref(),
        Some(&[("C".to_string(), "n".to_string()), ("D".into(), "n".into())][..])
    );
    // The engine is back where it was.
    assert_eq!(m.kc.string_value(m.kc.find("C").unwrap()).as_ref(), "y");
    keys(&mut m, &[Key::Enter]);
    assert_eq!(m.mode, Mode::Browse);
    assert_eq!(m.kc.string_value(m.kc.find("C").unwrap()).as_ref(), "n");
    assert_eq!(m.kc.string_value(m.kc.find("D").unwrap()).as_ref(), "n");
    let edits = m.edits();
    assert_eq!(
        edits.iter().map(|e| e.symbol.as_str()).collect::<Vec<_>>(),
        ["C", "D"]
    );
}

#[test]
fn unmet_dependency_explained() {
    let (_f, mut m) = fixture();
    keys(&mut m, &[Key::Down, Key::Enter, Key::Char('n')]);
    // B disappears with A off; z shows it greyed.
    assert!(!texts(&mut m).iter().any(|t| t.contains("(B)")));
    keys(&mut m, &[Key::Char('z')]);
    goto(&mut m, "(B)");
    assert!(!m.current().unwrap().visible);
    keys(&mut m, &[Key::Char('y')]);
    let Mode::Help(h) = &m.mode else {
        panic!("{:?}", m.mode)
    };
    let text = h.lines.join("\n");
    assert!(
        text.contains("unmet dependency: depends on A [=n]"),
        "{text}"
    );
    assert!(m.status.contains("B:"), "{}", m.status);
    keys(&mut m, &[Key::Esc]);
    assert_eq!(m.mode, Mode::Browse);
}

#[test]
fn edit_int_and_range() {
    let (_f, mut m) = fixture();
    keys(&mut m, &[Key::Down, Key::Enter]);
    goto(&mut m, "(NUM)");
    keys(
        &mut m,
        &[Key::Enter, Key::Backspace, Key::Char('7'), Key::Enter],
    );
    assert_eq!(m.kc.string_value(m.kc.find("NUM").unwrap()).as_ref(), "7");
    keys(
        &mut m,
        &[Key::Enter, Key::Backspace, Key::Char('x'), Key::Enter],
    );
    assert!(matches!(m.mode, Mode::Edit { .. }));
    assert!(m.status.contains("not a valid integer"), "{}", m.status);
    keys(&mut m, &[Key::Esc, Key::Enter, Key::Char('9'), Key::Enter]);
    // 79 is out of range.
    let Mode::Help(h) = &m.mode else {
        panic!("{:?}", m.mode)
    };
    assert!(h.lines.join("\n").contains("out of range"), "{:?}", h.lines);
}

#[test]
fn choice_opens_and_selects() {
    let (_f, mut m) = fixture();
    keys(&mut m, &[Key::End, Key::Enter]);
    assert_eq!(texts(&mut m), [" (X) first (P1)", " ( ) second (P2)"]);
    keys(&mut m, &[Key::Down, Key::Enter]);
    assert_eq!(m.stack.len(), 1);
    assert!(
        texts(&mut m).contains(&"  Pick one (second)  --->".to_string()),
        "{:?} {}",
        texts(&mut m),
        m.status
    );
    assert_eq!(m.edits()[0].symbol, "P2");
}

#[test]
fn search_and_jump() {
    let (_f, mut m) = fixture();
    let hits = m.search("driver");
    let names: Vec<&str> = hits.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["A", "D"]);
    assert_eq!(m.search("num")[0].name, "NUM");
    assert_eq!(m.search("CONFIG_P")[0].name, "P1");
    assert_eq!(m.location(m.kc.find("NUM").unwrap()), "Drivers");
    keys(
        &mut m,
        &[
            Key::Char('/'),
            Key::Char('n'),
            Key::Char('u'),
            Key::Char('m'),
        ],
    );
    let Mode::Search(s) = &m.mode else { panic!() };
    assert_eq!(s.hits[0].name, "NUM");
    keys(&mut m, &[Key::Enter]);
    assert_eq!(m.title(), "Test kernel > Drivers");
    assert_eq!(
        m.current().unwrap().kind,
        RowKind::Symbol {
            sym: m.kc.find("NUM").unwrap(),
            submenu: false
        }
    );
    // A symbol without a prompt gets its explanation.
    m.jump_to(m.kc.find("HIDDEN").unwrap());
    assert!(matches!(m.mode, Mode::Help(_)));
}

#[test]
fn help_shows_text_and_origin() {
    let (f, mut m) = fixture();
    keys(&mut m, &[Key::Down, Key::Enter, Key::Char('?')]);
    let Mode::Help(h) = &m.mode else { panic!() };
    let text = h.lines.join("\n");
    assert!(text.contains("A's help text."), "{text}");
    assert!(
        text.contains(&format!(
            "A = m: requested \"m\" at {}:10:1",
            f.spec.display()
        )),
        "{text}"
    );
    assert!(text.contains("A (tristate) = m"), "{text}");
}

#[test]
fn save_writes_back_and_quit_asks() {
    let (f, mut m) = fixture();
    keys(&mut m, &[Key::Down, Key::Enter, Key::Char('y')]);
    goto(&mut m, "(NUM)");
    keys(
        &mut m,
        &[Key::Enter, Key::Backspace, Key::Char('8'), Key::Enter],
    );
    assert_eq!(m.handle(Key::Char('q')), Action::Continue);
    assert_eq!(m.mode, Mode::ConfirmQuit);
    assert_eq!(m.handle(Key::Esc), Action::Continue);
    keys(&mut m, &[Key::Char('s')]);
    assert!(m.status.starts_with("saved 2 requests"), "{}", m.status);
    assert_eq!(
        std::fs::read_to_string(&f.spec).unwrap(),
        DECL.replace("A = \"m\"", "A = \"y\"") + "NUM = 8\n"
    );
    assert!(!m.dirty());
    assert_eq!(m.handle(Key::Char('q')), Action::Quit);
}

#[test]
fn read_only_declaration_is_not_touched() {
    let (f, mut m) = fixture();
    let mut p = std::fs::metadata(&f.spec).unwrap().permissions();
    p.set_readonly(true);
    std::fs::set_permissions(&f.spec, p).unwrap();
    keys(
        &mut m,
        &[Key::Down, Key::Enter, Key::Char('y'), Key::Char('s')],
    );
    assert!(m.status.contains("read-only"), "{}", m.status);
    assert!(matches!(m.mode, Mode::Help(_)));
    assert_eq!(std::fs::read_to_string(&f.spec).unwrap(), DECL);
    assert!(m.dirty());
}

#[test]
fn fragment_output() {
    let (f, mut m) = fixture();
    let frag = f.spec.with_file_name("menuconfig.toml");
    m.ctx.output = Some(frag.clone());
    keys(
        &mut m,
        &[Key::Down, Key::Enter, Key::Char('y'), Key::Char('s')],
    );
    // A is declared at normal priority in the declaration: the fragment,
    // included below it, needs force.
    assert_eq!(
        std::fs::read_to_string(&frag).unwrap(),
        "[config]\nA = { value = \"y\", priority = \"force\" }\n"
    );
    assert_eq!(std::fs::read_to_string(&f.spec).unwrap(), DECL);
}

#[test]
fn when_conditions_follow_a_change() {
    let decl = format!("{DECL}\n[when.B]\nD = \"m\"\n");
    let (_f, mut m) = fixture_with(&decl, &[]);
    keys(&mut m, &[Key::Down, Key::Enter]);
    assert!(texts(&mut m).contains(&" < > Driver D (D)".to_string()));
    goto(&mut m, "(B)");
    keys(&mut m, &[Key::Char('y')]);
    assert!(m.status.contains("[when.B] now holds"), "{}", m.status);
    assert!(
        texts(&mut m).contains(&" <M> Driver D (D)".to_string()),
        "{:?}",
        texts(&mut m)
    );
    goto(&mut m, "(B)");
    keys(&mut m, &[Key::Char('n')]);
    assert!(
        m.status.contains("[when.B] no longer holds"),
        "{}",
        m.status
    );
    assert!(texts(&mut m).contains(&" < > Driver D (D)".to_string()));
    // Only B was changed, and it is back: nothing to save.
    assert!(!m.dirty());
}

#[test]
fn auto_modules_follow_a_change() {
    let decl = DECL.replace(
        "base = \"alldefconfig\"",
        "base = \"alldefconfig\"\nauto_modules = true",
    );
    let (_f, mut m) = fixture_with(&decl, &[]);
    keys(&mut m, &[Key::Down, Key::Enter]);
    goto(&mut m, "(B)");
    keys(&mut m, &[Key::Char('y')]);
    assert!(
        m.status.contains("auto_modules: 1 more module(s)"),
        "{}",
        m.status
    );
    assert!(
        texts(&mut m).contains(&" <M> E needs B (E)".to_string()),
        "{:?}",
        texts(&mut m)
    );
    // What is saved is B alone: E follows from auto_modules.
    let edits = m.edits();
    assert_eq!(edits.len(), 1, "{edits:?}");
    assert_eq!(edits[0].symbol, "B");
}

#[test]
fn a_profiles_forced_value_is_not_overridden() {
    let decl = DECL.replace(
        "base = \"alldefconfig\"",
        "base = \"alldefconfig\"\ninclude = [\"profile.toml\"]",
    );
    let profile = "[config]\n# Always built in.\nD = { value = \"y\", priority = \"force\" }\n";
    let (f, mut m) = fixture_with(&decl, &[("profile.toml", profile)]);
    keys(&mut m, &[Key::Down, Key::Enter]);
    goto(&mut m, "(D)");
    keys(&mut m, &[Key::Char('n')]);
    let Mode::Help(h) = &m.mode else {
        panic!("{:?} {}", m.mode, m.status)
    };
    let text = h.lines.join("\n");
    assert!(
        text.contains("priority \"force\" by the included profile"),
        "{text}"
    );
    assert!(text.contains("profile.toml:3"), "{text}");
    assert!(text.contains("D = { unset = true }"), "{text}");
    assert_eq!(m.kc.string_value(m.kc.find("D").unwrap()).as_ref(), "y");
    assert!(!m.dirty());
    // Saving has nothing to write; the declaration is untouched.
    let before = std::fs::read_to_string(&f.spec).unwrap();
    keys(&mut m, &[Key::Esc]);
    assert!(m.save());
    assert_eq!(std::fs::read_to_string(&f.spec).unwrap(), before);
}

#[test]
fn without_the_declarations_input_a_change_is_set_only() {
    let (_f, mut m) = fixture();
    m.ctx.input = None;
    keys(&mut m, &[Key::Down, Key::Enter]);
    goto(&mut m, "(C)");
    keys(&mut m, &[Key::Char('y')]);
    assert_eq!(m.status, "C = y");
    assert!(texts(&mut m).contains(&"S-*- Driver D (D)".to_string()));
}

/// 6.1's tristate choices: `m` on the choice makes each member a module
/// of its own; saved and resolved again, the declaration gives what the
/// screen showed.
#[test]
fn a_61_tristate_choice_in_module_mode() {
    let kconfig =
        "mainmenu \"Old kernel\"\n\nconfig MODULES\n\tbool \"modules\"\n\tdefault y\n\tmodules\n\n\
choice\n\ttristate \"Codec\"\n\tdefault T1\n\nconfig T1\n\ttristate \"first codec\"\n\n\
config T2\n\ttristate \"second codec\"\n\nendchoice\n";
    let decl = DECL
        .replace("version = \"6.12\"", "version = \"6.1\"")
        .replace("A = \"m\"\n", "");
    let resolved = |f: &Fixture, m: &mut Model| {
        let spec = kforge_declaration::Spec::load(&f.spec).unwrap();
        let input = Input::from_spec(&spec, &spec.source.version);
        kforge_resolve::resolve(&mut m.kc, &input).unwrap().config
    };
    // Module mode (the default here): each member a module or not.
    let (f, mut m) = fixture_in(kconfig, kconfig_engine::Dialect::V6_1, &decl, &[]);
    assert_eq!(
        texts(&mut m),
        [" [*] modules (MODULES)", " <M> Codec  --->"]
    );
    goto(&mut m, "Codec");
    keys(&mut m, &[Key::Enter]);
    assert_eq!(
        texts(&mut m),
        [" < > first codec (T1)", " < > second codec (T2)"]
    );
    keys(&mut m, &[Key::Down, Key::Char('m')]);
    assert_eq!(
        texts(&mut m),
        [" < > first codec (T1)", "*<M> second codec (T2)"]
    );
    assert!(m.save(), "{}", m.status);
    let saved = std::fs::read_to_string(&f.spec).unwrap();
    assert!(saved.contains("T2 = \"m\""), "{saved}");
    let config = resolved(&f, &mut m);
    assert!(
        config.contains("# CONFIG_T1 is not set\nCONFIG_T2=m\n"),
        "{config}"
    );

    // y on the choice: one member, picked in the choice it opens.
    let (f, mut m) = fixture_in(kconfig, kconfig_engine::Dialect::V6_1, &decl, &[]);
    goto(&mut m, "Codec");
    keys(&mut m, &[Key::Char('y')]);
    assert!(
        m.status.contains("the choice \"Codec\" is y"),
        "{}",
        m.status
    );
    assert_eq!(m.stack.len(), 2, "y opens the choice");
    assert_eq!(
        texts(&mut m),
        ["*(X) first codec (T1)", " ( ) second codec (T2)"]
    );
    keys(&mut m, &[Key::Down, Key::Char('y')]);
    assert_eq!(m.stack.len(), 1);
    assert_eq!(texts(&mut m)[1], " <*> Codec (second codec)  --->");
    assert!(m.save(), "{}", m.status);
    let config = resolved(&f, &mut m);
    assert!(
        config.contains("# CONFIG_T1 is not set\nCONFIG_T2=y\n"),
        "{config}"
    );
    // The choice is not optional: n is refused and nothing changes.
    goto(&mut m, "Codec");
    keys(&mut m, &[Key::Char('n')]);
    assert_eq!(m.status, "the choice \"Codec\" cannot be n here");
    assert!(!m.dirty());
}

/// Two `[when]` tables that disagree once both hold: resolving again
/// fails, and the status line says why.
#[test]
fn a_change_that_makes_the_declaration_fail_says_so() {
    let decl = format!("{DECL}\n[when.B]\nD = \"m\"\n\n[when.C]\nD = \"y\"\n");
    let (_f, mut m) = fixture_with(&decl, &[]);
    keys(&mut m, &[Key::Down, Key::Enter]);
    goto(&mut m, "(C)");
    keys(&mut m, &[Key::Char('y')]);
    assert!(m.status.contains("[when.C] now holds"), "{}", m.status);
    goto(&mut m, "(B)");
    keys(&mut m, &[Key::Char('y')]);
    assert!(
        m.status.starts_with("B = y; resolving again failed: "),
        "{}",
        m.status
    );
}
