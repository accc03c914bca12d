//! Resolution scenarios on the real 6.1 and 6.12 x86_64 trees (unpacked and
//! with their environment captured by scripts/prepare-oracle): each asserts
//! the kind of problem reported and what its explanation says.
//!
//! A second-tier test file: compiled with the `oracle-tests` feature only
//! (scripts/test); without its prerequisites it fails naming
//! scripts/prepare-oracle.
#![cfg(feature = "oracle-tests")]

use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::Rc;

use kconfig_engine::{Kconfig, LoadOptions};
use kforge_declaration::{Base, Conditional, Layer, Origin, Priority, Request, RequestValue};
use kforge_resolve::{resolve, Input, Problem, Resolution};

use kforge_testkit::oracle;

fn load(ver: &str, arch: &str) -> Kconfig {
    let o = oracle();
    let text = std::fs::read_to_string(o.join(format!("{ver}/env/{arch}.env"))).unwrap();
    let env: HashMap<String, String> = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let vars: Vec<(String, String)> = env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let cache = kforge_probe_cache::ProbeCache::new(
        o.join("../probe-cache-tests"),
        vars,
        std::env::temp_dir(),
    );
    let env = Rc::new(move |k: &str| env.get(k).cloned());
    Kconfig::load(LoadOptions {
        kconfig: "Kconfig".into(),
        env,
        shell: Box::new(cache),
        dialect: None,
    })
    .unwrap_or_else(|e| panic!("loading {ver}: {:?}", e.messages))
}

fn origin(line: u32) -> Origin {
    Origin {
        file: Rc::new(PathBuf::from("kernel.toml")),
        line,
        column: 1,
    }
}

fn req(line: u32, sym: &str, v: &str) -> Request {
    Request {
        symbol: sym.into(),
        value: RequestValue::Text(v.into()),
        optional: false,
        priority: Priority::Normal,
        since: None,
        until: None,
        layer: Layer::Main,
        origin: origin(line),
    }
}

fn input(base: Base, requests: Vec<Request>) -> Input {
    Input {
        requests,
        ..Input::on(base)
    }
}

fn run(ver: &str, inp: &Input) -> Resolution {
    let mut kc = load(ver, "x86_64");
    resolve(&mut kc, inp).expect("resolves")
}

fn problem<'r>(res: &'r Resolution, sym: &str) -> &'r Problem {
    res.outcomes
        .iter()
        .find(|o| o.request.symbol == sym)
        .and_then(|o| o.problem.as_ref())
        .unwrap_or_else(|| panic!("{sym} should have failed: {:#?}", res.outcomes))
}

fn holds(res: &Resolution, sym: &str) {
    let o = res
        .outcomes
        .iter()
        .find(|o| o.request.symbol == sym)
        .unwrap();
    assert!(o.problem.is_none(), "{sym}: {:?}", o.problem);
}

const VERSIONS: [&str; 2] = ["6.1", "6.12"];

#[test]
fn unknown_misspelt_and_other_arch() {
    for ver in VERSIONS {
        let res = run(
            ver,
            &input(
                Base::Allnoconfig,
                vec![
                    req(1, "KFORGE_NO_SUCH_SYMBOL", "y"),
                    req(2, "PRINTKK", "y"),
                    req(3, "ARM64_VA_BITS_48", "y"),
                ],
            ),
        );
        match problem(&res, "KFORGE_NO_SUCH_SYMBOL") {
            Problem::UnknownSymbol { suggestions } => assert!(suggestions.is_empty()),
            p => panic!("{ver}: {p:?}"),
        }
        match problem(&res, "PRINTKK") {
            Problem::UnknownSymbol { suggestions } => {
                assert_eq!(
                    suggestions.first().map(String::as_str),
                    Some("PRINTK"),
                    "{ver}"
                )
            }
            p => panic!("{ver}: {p:?}"),
        }
        match problem(&res, "ARM64_VA_BITS_48") {
            Problem::OtherArchitectures { arches } => assert_eq!(arches, &["arm64"], "{ver}"),
            p => panic!("{ver}: {p:?}"),
        }
    }
}

#[test]
fn select_forces_and_value_not_offered() {
    for ver in VERSIONS {
        let base = vec![
            req(1, "MODULES", "y"),
            req(2, "PCI", "y"),
            req(3, "NET", "y"),
            req(4, "NETDEVICES", "y"),
            req(5, "VIRTIO_MENU", "y"),
        ];
        // VIRTIO = m while VIRTIO_PCI = y selects it.
        let mut r = base.clone();
        r.push(req(6, "VIRTIO_PCI", "y"));
        r.push(req(7, "VIRTIO", "m"));
        let res = run(ver, &input(Base::Tinyconfig, r));
        holds(&res, "VIRTIO_PCI");
        match problem(&res, "VIRTIO") {
            Problem::Forced {
                selectors,
                has_prompt,
            } => {
                assert!(!has_prompt, "{ver}: VIRTIO has no prompt");
                let s = selectors
                    .iter()
                    .find(|s| s.active && s.symbol == "VIRTIO_PCI")
                    .unwrap_or_else(|| panic!("{ver}: {selectors:?}"));
                assert_eq!(s.kind, "select");
                assert_eq!(s.file, "drivers/virtio/Kconfig");
                assert!(s.line > 0);
            }
            p => panic!("{ver}: {p:?}"),
        }
        // Without a prompt VIRTIO can only be m when a selector is m; with
        // VIRTIO_PCI off it would be n: no fix is offered (each candidate
        // is checked by resolving again).
        let o = res
            .outcomes
            .iter()
            .find(|o| o.request.symbol == "VIRTIO")
            .unwrap();
        assert_eq!(o.fix, None, "{ver}");
        // VIRTIO_NET = y while VIRTIO is only m.
        let mut r = base.clone();
        r.push(req(6, "VIRTIO_PCI", "m"));
        r.push(req(7, "VIRTIO_NET", "y"));
        let res = run(ver, &input(Base::Tinyconfig, r));
        match problem(&res, "VIRTIO_NET") {
            Problem::NotOffered {
                max,
                expression,
                terms,
            } => {
                assert_eq!(max, "m", "{ver}");
                assert!(expression.contains("VIRTIO [=m]"), "{ver}: {expression}");
                let t = terms.iter().find(|t| t.symbol == "VIRTIO").unwrap();
                assert!(t.source.contains("selected by VIRTIO_PCI"), "{ver}: {t:?}");
            }
            p => panic!("{ver}: {p:?}"),
        }
    }
}

#[test]
fn forced_by_select_fix_turns_the_selector_off() {
    for ver in VERSIONS {
        // EXT4_FS selects CRC16 (which has a prompt of its own); EXT4 comes
        // from the base here, so turning it off is a fix.
        let res = run(ver, &input(Base::Defconfig, vec![req(1, "CRC16", "n")]));
        let o = res
            .outcomes
            .iter()
            .find(|o| o.request.symbol == "CRC16")
            .unwrap();
        match o.problem.as_ref().unwrap() {
            Problem::Forced {
                selectors,
                has_prompt,
            } => {
                assert!(*has_prompt);
                assert!(
                    selectors.iter().any(|s| s.active && s.symbol == "EXT4_FS"),
                    "{ver}"
                );
            }
            p => panic!("{ver}: {p:?}"),
        }
        let fix = o.fix.clone().unwrap_or_else(|| panic!("{ver}: no fix"));
        assert!(fix.iter().all(|(_, v)| v == "n"), "{fix:?}");
        assert!(fix.iter().any(|(s, _)| s == "EXT4_FS"), "{fix:?}");

        // When the selector is itself requested, no fix overrides it.
        let res = run(
            ver,
            &input(
                Base::Defconfig,
                vec![req(1, "CRC16", "n"), req(2, "EXT4_FS", "y")],
            ),
        );
        let o = res
            .outcomes
            .iter()
            .find(|o| o.request.symbol == "CRC16")
            .unwrap();
        assert_eq!(
            o.problem.as_ref().map(Problem::kind),
            Some("forced-by-select")
        );
        assert_eq!(o.fix, None, "{ver}");
    }
}

#[test]
fn unmet_dependency_chain_gets_a_working_fix() {
    for ver in VERSIONS {
        let inp = input(Base::Allnoconfig, vec![req(1, "E1000E", "y")]);
        let res = run(ver, &inp);
        let o = res
            .outcomes
            .iter()
            .find(|o| o.request.symbol == "E1000E")
            .unwrap();
        match o.problem.as_ref().unwrap() {
            Problem::UnmetDependency { expression, terms } => {
                assert!(expression.contains("PCI [=n]"), "{ver}: {expression}");
                assert!(terms.iter().any(|t| t.symbol == "NETDEVICES"));
            }
            p => panic!("{ver}: {p:?}"),
        }
        let fix = o.fix.clone().unwrap_or_else(|| panic!("{ver}: no fix"));
        // Two levels: NETDEVICES itself needs NET.
        assert!(fix.iter().any(|(s, _)| s == "NET"), "{ver}: {fix:?}");
        // The fix works when applied.
        let mut r = vec![req(1, "E1000E", "y")];
        r.extend(
            fix.iter()
                .enumerate()
                .map(|(i, (s, v))| req(10 + i as u32, s, v)),
        );
        let res = run(ver, &input(Base::Allnoconfig, r));
        assert_eq!(res.failures().count(), 0, "{ver}: {:#?}", res.outcomes);
        assert!(res.config.contains("\nCONFIG_E1000E=y\n"));
    }
}

#[test]
fn choice_range_and_type() {
    for ver in VERSIONS {
        let res = run(
            ver,
            &input(
                Base::Defconfig,
                vec![
                    req(1, "HZ_100", "y"),
                    req(2, "HZ_300", "y"),
                    Request {
                        value: RequestValue::Integer(100000),
                        ..req(3, "NR_CPUS", "")
                    },
                    req(4, "PRINTK", "yes"),
                    Request {
                        value: RequestValue::Integer(5),
                        ..req(5, "CMDLINE", "")
                    },
                ],
            ),
        );
        // The later line wins the choice; the other is reported.
        holds(&res, "HZ_300");
        match problem(&res, "HZ_100") {
            Problem::Choice { selected, source } => {
                assert_eq!(selected, "HZ_300");
                assert!(source.contains("kernel.toml:2"), "{source}");
            }
            p => panic!("{ver}: {p:?}"),
        }
        match problem(&res, "NR_CPUS") {
            Problem::OutOfRange { min, max } => {
                assert_eq!(min, "2", "{ver}");
                assert!(max.parse::<u32>().unwrap() >= 64, "{ver}: {max}");
            }
            p => panic!("{ver}: {p:?}"),
        }
        assert_eq!(problem(&res, "PRINTK").kind(), "wrong-type");
        assert_eq!(problem(&res, "CMDLINE").kind(), "wrong-type");
    }
}

#[test]
fn conditions_apply_and_disagreements_are_errors() {
    let cond = |sym: &str, line: u32, r: Vec<Request>| Conditional {
        symbol: sym.into(),
        origin: origin(line),
        requests: r,
    };
    for ver in VERSIONS {
        let mut inp = input(Base::Allnoconfig, vec![req(1, "NET", "y")]);
        inp.conditionals = vec![
            cond("NET", 10, vec![req(11, "INET", "y")]),
            cond("INET", 20, vec![req(21, "IPV6", "y")]),
            cond("USB", 30, vec![req(31, "PRINTK", "y")]),
        ];
        let res = run(ver, &inp);
        assert_eq!(res.active_conditions, vec!["INET", "NET"], "{ver}");
        assert!(res.config.contains("\nCONFIG_IPV6=y\n"), "{ver}");
        assert!(!res.outcomes.iter().any(|o| o.request.symbol == "PRINTK"));

        inp.conditionals = vec![
            cond("NET", 10, vec![req(11, "INET", "y")]),
            cond("NET", 20, vec![]),
            cond("INET", 30, vec![req(31, "INET", "n")]),
        ];
        let mut kc = load(ver, "x86_64");
        let err = resolve(&mut kc, &inp).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("kernel.toml:11:1") && msg.contains("kernel.toml:31:1"),
            "{msg}"
        );
    }
}

#[test]
fn auto_modules_and_prefer_builtin() {
    for ver in VERSIONS {
        let reqs = vec![
            req(1, "MODULES", "y"),
            req(2, "NET", "y"),
            req(3, "NETDEVICES", "y"),
            req(4, "NET_CORE", "y"),
            req(5, "TUN", "y"),
            req(6, "INET", "y"),
        ];
        let mut inp = input(Base::Tinyconfig, reqs);
        inp.auto_modules = true;
        let res = run(ver, &inp);
        assert_eq!(res.failures().count(), 0, "{ver}: {:#?}", res.outcomes);
        // Offered m and not requested: a module now.
        assert!(res.config.contains("\nCONFIG_DUMMY=m\n"), "{ver}");
        assert!(res.auto_modules.iter().any(|s| s == "DUMMY"));
        // Requested y stays y.
        assert!(res.config.contains("\nCONFIG_TUN=y\n"), "{ver}");
        // Every visible tristate that offers m is m unless requested.
        let mut kc = load(ver, "x86_64");
        let text = res.config.clone();
        kc.set_config_text("x", text.into_bytes());
        kc.read(Some("x"));
        for m in kc.all_menus() {
            let Some(s) = kc.menu(m).sym else { continue };
            let Some(name) = kc.sym(s).name.clone() else {
                continue;
            };
            if kc.sym(s).ty != kconfig_engine::SymType::Tristate
                || kc.is_choice_value(s)
                || !kc.is_changeable(s)
                || !kc.menu_is_visible(m)
                || ["TUN", "NET_CORE", "INET"].contains(&&*name)
            {
                continue;
            }
            if kc.tristate_within_range(s, kconfig_engine::Tri::Mod) {
                assert_eq!(
                    kc.tristate_value(s),
                    kconfig_engine::Tri::Mod,
                    "{ver}: {name}"
                );
            }
        }

        // prefer_builtin: what the base has at y stays y wherever y is
        // still possible (a dependency that became m, such as
        // `depends on A || !A` with A now m, caps it at m).
        let mut inp = input(Base::Defconfig, vec![]);
        inp.auto_modules = true;
        inp.prefer_builtin = true;
        let res = run(ver, &inp);
        assert!(!res.auto_modules.is_empty(), "{ver}");
        let mut kc = load(ver, "x86_64");
        kc.set_config_text("x", res.config.clone().into_bytes());
        kc.read(Some("x"));
        let mut lowered = 0;
        for l in res.base_config.lines().filter(|l| l.ends_with("=y")) {
            if res.config.lines().any(|x| x == l) {
                continue;
            }
            let name = &l["CONFIG_".len()..l.len() - 2];
            let s = kc.find(name).unwrap();
            assert!(
                kc.sym(s).ty == kconfig_engine::SymType::Tristate
                    && !kc.tristate_within_range(s, kconfig_engine::Tri::Yes)
                    && kc
                        .sym(s)
                        .dir_dep_tri
                        .min(kc.sym(s).visible.max(kc.sym(s).rev_dep_tri))
                        != kconfig_engine::Tri::Yes
                    || !kc.is_changeable(s),
                "{ver}: {name} lost y although y is still possible"
            );
            lowered += 1;
        }
        assert!(lowered < 20, "{ver}: {lowered} symbols lost y");
    }
}

/// What the kernel's own conf writes for `config` with `--olddefconfig`
/// (x86_64; kforge-testkit).
fn c_olddefconfig(ver: &str, config: &str) -> String {
    kforge_testkit::c_olddefconfig(ver, "x86_64", config)
}

/// A tree that has evaluated one configuration keeps traces of it (the
/// kernel's evaluation reads a symbol's last value when it meets it again
/// while computing it): on 6.12, Debian's amd64 config read after a config
/// with TICK_CPU_ACCOUNTING=y lists that invisible choice member as not
/// set. `restart` gives what a new conf process writes.
#[test]
fn restart_reads_as_a_new_conf_process() {
    let path = kforge_testkit::debian_config("6.12", "amd64_none_amd64");
    let debian = kforge_resolve::read_config_file(&path).unwrap();
    let want = c_olddefconfig("6.12", &debian);
    let mut kc = load("6.12", "x86_64");
    let read = |kc: &mut Kconfig, text: &str| {
        kc.set_config_text("mem", text.as_bytes().to_vec());
        kc.read(Some("mem"));
        kc.messages.take();
        kc.render_config()
    };
    read(&mut kc, "CONFIG_TICK_CPU_ACCOUNTING=y\n");
    let carried = read(&mut kc, &debian);
    assert_ne!(
        carried, want,
        "the history no longer shows: test it another way"
    );
    assert!(carried.contains("# CONFIG_TICK_CPU_ACCOUNTING is not set"));
    read(&mut kc, "CONFIG_TICK_CPU_ACCOUNTING=y\n");
    kc.restart();
    assert!(read(&mut kc, &debian) == want, "differs from the C conf");
}
