//! Policies read strictly, and the audit's verdicts on a small tree of our
//! own (the real trees and Debian's configurations are in kforge's
//! tests/audit.rs).

use std::path::{Path, PathBuf};
use std::rc::Rc;

use kconfig_engine::Kconfig;
use kforge_declaration::{Base, KernelVersion, Layer, Origin, Priority, Request, RequestValue};
use kforge_policy::audit::{audit, NotApplicable, Subject, Verdict};
use kforge_policy::{parse, Policy, PolicyError};
use kforge_resolve::Input;

const KCONFIG: &str = r#"
menu "Security"

config GUARD
	bool "guard"

config STRONG_GUARD
	bool "strong guard"
	depends on GUARD

config NEEDS_CLANG
	bool "needs clang"
	depends on CC_IS_CLANG

config CC_IS_CLANG
	def_bool n

config DANGEROUS
	bool "dangerous"
	default y

config SELECTOR
	bool "selector"
	default y
	select DANGEROUS_TOO

config DANGEROUS_TOO
	bool "dangerous too"

config ALWAYS
	def_bool y
	select LOCKED

config LOCKED
	bool "locked"

config LEVEL
	int "level"
	range 0 3
	default 1

endmenu
"#;

fn load(dir: &Path) -> Kconfig {
    std::fs::write(dir.join("Kconfig"), KCONFIG).unwrap();
    kforge_testkit::synthetic_kconfig(dir, "x86")
}

const POLICY: &str = r#"
[policy]
name = "test"
description = "a policy of the test"

[[recommend]]
symbol = "GUARD"
value = "y"
reason = "guards"

[[recommend]]
symbol = "STRONG_GUARD"
value = "y"
reason = "guards more"

[[recommend]]
symbol = "NEEDS_CLANG"
value = "y"
reason = "needs clang"

[[recommend]]
symbol = "DANGEROUS"
value = false
reason = "dangerous"

[[recommend]]
symbol = "DANGEROUS_TOO"
value = "n"
reason = "selected"

[[recommend]]
symbol = "LOCKED"
value = "n"
reason = "selected by a symbol without a prompt"

[[recommend]]
symbol = "LEVEL"
value = ["2", "3"]
reason = "a higher level"

[[recommend]]
symbol = "GUARD"
value = "y"
arch = ["arm64"]
reason = "another architecture"

[[recommend]]
symbol = "GUARD"
value = "y"
since = "7.0"
reason = "a later version"

[[recommend]]
symbol = "GUARDD"
value = "y"
reason = "misspelt"

[[recommend]]
symbol = "REMOVED_LONG_AGO_THING"
value = "y"
until = "5.0"
reason = "an older version"

[[recommend]]
symbol = "GONE_IN_THIS_VERSION_XYZ"
value = "y"
reason = "absent"
"#;

fn policy() -> Policy {
    parse(POLICY, Path::new("test.toml")).unwrap()
}

fn run(dir: &Path, requests: Vec<Request>) -> kforge_policy::audit::Audit {
    let mut kc = load(dir);
    let input = Input {
        requests,
        ..Input::on(Base::Alldefconfig)
    };
    let res = kforge_resolve::resolve(&mut kc, &input).unwrap();
    audit(
        Subject {
            kc: &mut kc,
            input: &input,
            base_config: &res.base_config,
            version: KernelVersion {
                major: 6,
                minor: 12,
                patch: 0,
                rc: u32::MAX,
            },
            arch: "x86_64",
        },
        &[policy()],
    )
}

fn verdicts(a: &kforge_policy::audit::Audit) -> Vec<(String, &'static str)> {
    a.findings
        .iter()
        .map(|f| (f.recommendation.symbol.clone(), f.verdict.kind()))
        .collect()
}

#[test]
fn every_verdict_with_its_reason() {
    let d = tempfile::tempdir().unwrap();
    let a = run(d.path(), Vec::new());
    let v = |s: &str, k: &'static str| (s.to_string(), k);
    assert_eq!(
        verdicts(&a),
        vec![
            v("GUARD", "does-not-hold"),
            v("STRONG_GUARD", "does-not-hold"),
            v("NEEDS_CLANG", "cannot-hold"),
            v("DANGEROUS", "does-not-hold"),
            v("DANGEROUS_TOO", "does-not-hold"),
            v("LOCKED", "cannot-hold"),
            v("LEVEL", "does-not-hold"),
            v("GUARD", "does-not-apply"),
            v("GUARD", "does-not-apply"),
            v("GUARDD", "does-not-apply"),
            v("REMOVED_LONG_AGO_THING", "does-not-apply"),
            v("GONE_IN_THIS_VERSION_XYZ", "does-not-apply"),
        ]
    );
    let f = |i: usize| &a.findings[i];
    // Fixes are checked together: STRONG_GUARD holds once GUARD is asked
    // for too; LEVEL asks for the first value given.
    assert!(
        matches!(&f(1).verdict, Verdict::DoesNotHold { fix: Some(fix), .. } if fix == &[("STRONG_GUARD".to_string(), "y".to_string())])
    );
    assert!(
        matches!(&f(6).verdict, Verdict::DoesNotHold { fix: Some(fix), .. } if fix == &[("LEVEL".to_string(), "2".to_string())])
    );
    // A select a request can turn off: the fix turns it off, checked.
    let Verdict::DoesNotHold {
        fix: Some(fix),
        reason,
    } = &f(4).verdict
    else {
        panic!("{:?}", f(4).verdict)
    };
    assert_eq!(
        fix,
        &[
            ("DANGEROUS_TOO".to_string(), "n".to_string()),
            ("SELECTOR".to_string(), "n".to_string())
        ]
    );
    assert!(reason.contains("SELECTOR"), "{reason}");
    // The engine's reasons: an unmet dependency with its terms, a select.
    let Verdict::CannotHold { problem } = &f(2).verdict else {
        panic!()
    };
    assert_eq!(problem.kind(), "unmet-dependency");
    assert!(problem.to_string().contains("CC_IS_CLANG"), "{problem}");
    let Verdict::CannotHold { problem } = &f(5).verdict else {
        panic!()
    };
    assert_eq!(problem.kind(), "forced-by-select", "{problem}");
    assert!(problem.to_string().contains("ALWAYS"), "{problem}");
    // Does not apply, each for its reason.
    assert!(matches!(
        &f(7).verdict,
        Verdict::DoesNotApply(NotApplicable::Architecture { .. })
    ));
    assert!(matches!(
        &f(8).verdict,
        Verdict::DoesNotApply(NotApplicable::Version { .. })
    ));
    assert!(matches!(
        &f(11).verdict,
        Verdict::DoesNotApply(NotApplicable::Absent)
    ));
    // The misspelt symbol is a warning with the close name; the one with
    // a version range is not.
    assert_eq!(a.misspelt.len(), 1, "{:?}", a.misspelt);
    assert_eq!(a.misspelt[0].symbol, "GUARDD");
    assert_eq!(a.misspelt[0].suggestions, ["GUARD"]);
    assert_eq!(a.misspelt[0].origin.line, 54);
    // Every fix, once each.
    let fixes = a.fixes();
    assert_eq!(
        fixes.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>(),
        [
            "GUARD",
            "STRONG_GUARD",
            "DANGEROUS",
            "DANGEROUS_TOO",
            "SELECTOR",
            "LEVEL"
        ]
    );
}

#[test]
fn the_fixes_make_the_recommendations_hold() {
    let d = tempfile::tempdir().unwrap();
    let fixes = run(d.path(), Vec::new()).fixes();
    let origin = Origin {
        file: Rc::new(PathBuf::from("kernel.toml")),
        line: 1,
        column: 1,
    };
    let requests = fixes
        .into_iter()
        .map(|(symbol, v)| Request {
            symbol,
            value: RequestValue::Text(v),
            optional: false,
            priority: Priority::Normal,
            since: None,
            until: None,
            layer: Layer::Main,
            origin: origin.clone(),
        })
        .collect();
    let a = run(d.path(), requests);
    assert_eq!(a.count("does-not-hold"), 0, "{:#?}", a.findings);
    assert_eq!(a.count("holds"), 5);
    assert_eq!(a.count("cannot-hold"), 2);
}

#[test]
fn a_request_of_the_declaration_in_the_way_is_named() {
    let d = tempfile::tempdir().unwrap();
    let guard_off = Request {
        symbol: "GUARD".into(),
        value: RequestValue::Text("n".into()),
        optional: false,
        priority: Priority::Normal,
        since: None,
        until: None,
        layer: Layer::Main,
        origin: Origin {
            file: Rc::new(PathBuf::from("kernel.toml")),
            line: 9,
            column: 1,
        },
    };
    let a = run(d.path(), vec![guard_off]);
    match &a.findings[0].verdict {
        Verdict::DoesNotHold { reason, fix: None } => {
            assert!(
                reason.contains("GUARD = \"n\" at kernel.toml:9:1"),
                "{reason}"
            )
        }
        other => panic!("{other:?}"),
    }
}

fn parse_error(text: &str) -> (u32, u32, String) {
    match parse(text, Path::new("p.toml")).unwrap_err() {
        PolicyError::Parse {
            origin, message, ..
        } => {
            assert_eq!(origin.file.as_path(), Path::new("p.toml"));
            (origin.line, origin.column, message)
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn policy_files_are_read_strictly() {
    let head = "[policy]\nname = \"p\"\ndescription = \"d\"\n";
    let (line, _, msg) = parse_error(&format!(
        "{head}[[recommend]]\nsymbol = \"A\"\nvalue = \"y\"\nreason = \"r\"\nwhy = \"x\"\n"
    ));
    assert_eq!(line, 8);
    assert!(msg.contains("unknown field `why`"), "{msg}");
    let (line, col, msg) = parse_error(&format!(
        "{head}[[recommend]]\nsymbol = 3\nvalue = \"y\"\nreason = \"r\"\n"
    ));
    assert_eq!((line, col), (5, 10));
    assert!(msg.contains("invalid type: integer"), "{msg}");
    let (line, col, msg) = parse_error(&format!(
        "{head}[[recommend]]\nsymbol = \"A\"\nvalue = {{ x = 1 }}\nreason = \"r\"\n"
    ));
    assert_eq!((line, col), (6, 9));
    assert!(
        msg.starts_with("expected a value as .config writes it"),
        "{msg}"
    );
    let (line, col, msg) = parse_error(&format!(
        "{head}[[recommend]]\nsymbol = \"CONFIG_A\"\nvalue = \"y\"\nreason = \"r\"\n"
    ));
    assert_eq!((line, col), (5, 10));
    assert_eq!(msg, "symbol name `CONFIG_A` starts with CONFIG_");
    let (line, _, msg) = parse_error(&format!(
        "{head}[[recommend]]\nsymbol = \"A\"\nvalue = \"y\"\nsince = \"six\"\nreason = \"r\"\n"
    ));
    assert_eq!(line, 7);
    assert!(msg.contains("six"), "{msg}");
    let (line, _, msg) = parse_error("[policy]\nname = \"p\"\n");
    assert_eq!(line, 1);
    assert!(msg.contains("missing field `description`"), "{msg}");
}

#[test]
fn unknown_policy_names_list_the_shipped_ones() {
    let d = tempfile::tempdir().unwrap();
    let kc = load(d.path());
    let e = kforge_policy::load("kpsp", &kc).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("unknown policy `kpsp`")
            && text.contains("hardening, kspp, self-protection")
            && text.contains("did you mean `kspp`?"),
        "{text}"
    );
    // The tree has no hardening.config.
    let e = kforge_policy::load("hardening", &kc).unwrap_err();
    assert!(matches!(e, PolicyError::NoHardeningFragment), "{e:?}");
    // A file that is not there.
    let e = kforge_policy::load("./absent.toml", &kc).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("./absent.toml: cannot read the policy"),
        "{e}"
    );
}

#[test]
fn the_shipped_policies_parse_and_self_protection_is_a_subset() {
    let d = tempfile::tempdir().unwrap();
    let kc = load(d.path());
    let kspp = kforge_policy::load("kspp", &kc).unwrap();
    let sp = kforge_policy::load("self-protection", &kc).unwrap();
    assert!(kspp.recommendations.len() > 60);
    assert!(
        !sp.recommendations.is_empty() && sp.recommendations.len() < kspp.recommendations.len()
    );
    assert!(sp
        .recommendations
        .iter()
        .all(|r| r.group.as_deref() == Some("self-protection")));
    // Each recommendation says why, and names a symbol once per version
    // range and architecture.
    for r in &kspp.recommendations {
        assert!(!r.reason.is_empty(), "{}", r.symbol);
    }
}

/// profiles/hardened.toml is the kspp policy as requests: each
/// recommendation, but those it leaves out on purpose (and says why),
/// optional, at default priority, for the same architectures and versions.
#[test]
fn the_hardened_profile_follows_the_kspp_policy() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let profile = root.join("profiles/hardened.toml");
    let d = tempfile::tempdir().unwrap();
    let main = d.path().join("kernel.toml");
    std::fs::write(
        &main,
        format!(
            "[source]\nversion = \"6.12\"\n[build]\narch = \"x86_64\"\ninclude = [{:?}]\n",
            profile.display()
        ),
    )
    .unwrap();
    let spec = kforge_declaration::Spec::load(&main).unwrap();
    let text = std::fs::read_to_string(&profile).unwrap();
    let kc = load(d.path());
    let kspp = kforge_policy::load("kspp", &kc).unwrap();
    let left_out = [
        "MODULE_SIG",
        "MODULE_SIG_FORCE",
        "MODULE_SIG_ALL",
        "MODULE_SIG_SHA512",
        "LOCK_DOWN_KERNEL_FORCE_CONFIDENTIALITY",
        "SECURITY_LOCKDOWN_LSM",
        "SECURITY_LOCKDOWN_LSM_EARLY",
    ];
    for r in &kspp.recommendations {
        if left_out.contains(&r.symbol.as_str()) {
            assert!(
                text.contains(&format!("{}:", r.symbol))
                    || text.contains(&format!("{},", r.symbol)),
                "{} is left out without a word",
                r.symbol
            );
            let requested = spec
                .requests
                .iter()
                .chain(spec.conditionals.iter().flat_map(|c| &c.requests))
                .any(|q| q.symbol == r.symbol);
            assert!(!requested, "{} is left out, but requested", r.symbol);
            continue;
        }
        let conditions: Vec<&str> = if r.arches.is_empty() {
            vec![""]
        } else {
            r.arches
                .iter()
                .map(|a| match a.as_str() {
                    "x86_64" => "X86_64",
                    "x86" => "X86",
                    "arm64" => "ARM64",
                    other => panic!("no condition for {other}"),
                })
                .collect()
        };
        for cond in conditions {
            let requests = if cond.is_empty() {
                &spec.requests
            } else {
                &spec
                    .conditionals
                    .iter()
                    .find(|c| c.symbol == cond)
                    .unwrap_or_else(|| panic!("no [when.{cond}]"))
                    .requests
            };
            let q = requests
                .iter()
                .find(|q| q.symbol == r.symbol)
                .unwrap_or_else(|| panic!("{} is not in the profile ({cond})", r.symbol));
            assert_eq!(
                q.value,
                RequestValue::Text(r.values[0].clone()),
                "{}",
                r.symbol
            );
            assert!(
                q.optional && q.priority == Priority::Default,
                "{}",
                r.symbol
            );
            assert_eq!((q.since, q.until), (r.since, r.until), "{}", r.symbol);
        }
    }
}
