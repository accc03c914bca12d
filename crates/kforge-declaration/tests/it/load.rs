//! Declarations that load: every field, layers, priorities, unset,
//! optional requests, version ranges, conditionals, the shipped profiles.

use crate::common;

#[cfg(feature = "oracle-tests")]
use std::collections::HashSet;
use std::path::{Path, PathBuf};

use common::{v, Dir, HEAD};
use kforge_declaration::{Base, KernelVersion, Layer, Priority, Request, RequestValue};

/// (symbol, value, since, until, file name, line) of each request: enough to
/// tell which request won and how its range was cut.
fn summary(requests: &[Request]) -> Vec<(String, String, String, String, String, u32)> {
    requests
        .iter()
        .map(|r| {
            (
                r.symbol.clone(),
                r.value.to_string(),
                r.since.map_or("-".into(), |s| s.to_string()),
                r.until.map_or("-".into(), |u| u.to_string()),
                r.origin
                    .file
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
                r.origin.line,
            )
        })
        .collect()
}

fn row(
    symbol: &str,
    value: &str,
    since: &str,
    until: &str,
    file: &str,
    line: u32,
) -> (String, String, String, String, String, u32) {
    (
        symbol.into(),
        value.into(),
        since.into(),
        until.into(),
        file.into(),
        line,
    )
}

#[test]
fn full_example() {
    let d = Dir::new();
    d.write(
        "profiles/boot.toml",
        "[config]\nPRINTK = \"y\"\nTTY = { value = \"y\", priority = \"default\" }\n",
    );
    let spec = d.spec(
        r#"# A kernel for the lab.
[source]
version = "6.1.192"
tarball = "src/linux-6.1.192.tar.xz"
hash = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="

[build]
arch = "x86_64"
cross_compile = "x86_64-linux-gnu-"
base = { file = "configs/full.config" }
targets = ["bzImage", "modules"]
auto_modules = true
prefer_builtin = true
ignore_config_errors = true
include = ["profiles/boot.toml"]

[config]
DUMMY = "m"
NR_CPUS = 0x10
CMDLINE = "console=ttyS0"
DEBUG_INFO_BTF = { value = "y", optional = true, since = "5.11" }
RCU_LAZY = { value = false, priority = "force" }
TTY = "n"
lower_case_9 = -3

[when.USB]
USB_XHCI_HCD = "y"

[[patches]]
name = "example"
file = "patches/example.patch.xz"
hash = "sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"
config = { EXAMPLE = "y" }

[[patches]]
name = "remote"
url = "https://example.org/fix.patch"
strip = 0

[modules.netdev]
load = ["dummy", "nf-tables"]

[test]
script = { file = "tests/boot.sh" }
loaders = ["netdev"]
memory = 128
timeout = 30
append = "quiet"
files = { "/etc/motd" = "files/motd" }
"#,
    );
    let dir = d.path();
    let file = dir.join("kernel.toml");
    assert_eq!(spec.path, file);
    assert_eq!(spec.includes, vec![dir.join("profiles/boot.toml")]);

    assert_eq!(spec.source.version, KernelVersion::new(6, 1, 192));
    assert_eq!(spec.source.version_text, "6.1.192");
    assert_eq!(
        spec.source.tarball.as_deref(),
        Some(dir.join("src/linux-6.1.192.tar.xz").as_path())
    );
    assert_eq!(spec.source.url, None);
    assert_eq!(
        spec.source.hash.as_deref(),
        Some("sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")
    );
    assert_eq!((spec.source.origin.line, spec.source.origin.column), (2, 1));

    assert_eq!(spec.build.arch, "x86_64");
    assert_eq!(
        spec.build.cross_compile.as_deref(),
        Some("x86_64-linux-gnu-")
    );
    assert_eq!(spec.build.base, Base::File(dir.join("configs/full.config")));
    assert_eq!(spec.build.targets, ["bzImage", "modules"]);
    assert!(spec.build.auto_modules && spec.build.prefer_builtin);
    assert!(spec.build.ignore_config_errors);

    let boot = dir.join("profiles/boot.toml");
    let expected = [
        // (symbol, value, optional, priority, since, layer, file, line, column)
        (
            "PRINTK",
            RequestValue::Text("y".into()),
            false,
            Priority::Normal,
            None,
            Layer::Include,
            &boot,
            2,
            1,
        ),
        (
            "DUMMY",
            RequestValue::Text("m".into()),
            false,
            Priority::Normal,
            None,
            Layer::Main,
            &file,
            18,
            1,
        ),
        (
            "NR_CPUS",
            RequestValue::Integer(16),
            false,
            Priority::Normal,
            None,
            Layer::Main,
            &file,
            19,
            1,
        ),
        (
            "CMDLINE",
            RequestValue::Text("console=ttyS0".into()),
            false,
            Priority::Normal,
            None,
            Layer::Main,
            &file,
            20,
            1,
        ),
        (
            "DEBUG_INFO_BTF",
            RequestValue::Text("y".into()),
            true,
            Priority::Normal,
            Some(v("5.11")),
            Layer::Main,
            &file,
            21,
            1,
        ),
        (
            "RCU_LAZY",
            RequestValue::Boolean(false),
            false,
            Priority::Force,
            None,
            Layer::Main,
            &file,
            22,
            1,
        ),
        (
            "TTY",
            RequestValue::Text("n".into()),
            false,
            Priority::Normal,
            None,
            Layer::Main,
            &file,
            23,
            1,
        ),
        (
            "lower_case_9",
            RequestValue::Integer(-3),
            false,
            Priority::Normal,
            None,
            Layer::Main,
            &file,
            24,
            1,
        ),
        (
            "EXAMPLE",
            RequestValue::Text("y".into()),
            false,
            Priority::Normal,
            None,
            Layer::Patch("example".into()),
            &file,
            33,
            12,
        ),
    ];
    assert_eq!(spec.requests.len(), expected.len());
    for (r, e) in spec.requests.iter().zip(expected) {
        let got = (
            r.symbol.as_str(),
            r.value.clone(),
            r.optional,
            r.priority,
            r.since,
            r.layer.clone(),
            r.origin.file.as_ref(),
            r.origin.line,
            r.origin.column,
        );
        assert_eq!(got, e);
        assert_eq!(r.until, None);
    }

    assert_eq!(spec.conditionals.len(), 1);
    let usb = &spec.conditionals[0];
    assert_eq!(usb.symbol, "USB");
    assert_eq!((usb.origin.line, usb.origin.column), (26, 1));
    assert_eq!(
        summary(&usb.requests),
        [row("USB_XHCI_HCD", "\"y\"", "-", "-", "kernel.toml", 27)]
    );
    assert_eq!(usb.requests[0].layer, Layer::Main);

    assert_eq!(spec.patches.len(), 2);
    let p = &spec.patches[0];
    assert_eq!(p.name, "example");
    assert_eq!(
        p.file.as_deref(),
        Some(dir.join("patches/example.patch.xz").as_path())
    );
    assert_eq!(p.url, None);
    assert_eq!(
        p.hash.as_deref(),
        Some("sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73")
    );
    assert_eq!(p.strip, 1);
    assert_eq!((p.origin.line, p.origin.column), (29, 1));
    let p = &spec.patches[1];
    assert_eq!(
        (
            p.name.as_str(),
            p.file.as_deref(),
            p.url.as_deref(),
            p.strip
        ),
        ("remote", None, Some("https://example.org/fix.patch"), 0)
    );

    assert_eq!(spec.modules.len(), 1);
    let m = &spec.modules["netdev"];
    assert_eq!(m.name, "netdev");
    assert_eq!(m.load, ["dummy", "nf-tables"]);
    assert_eq!((m.origin.line, m.origin.column), (40, 1));
}

#[test]
fn defaults() {
    let d = Dir::new();
    let spec = d.spec(HEAD);
    assert_eq!(spec.build.base, Base::Defconfig);
    assert!(spec.build.targets.is_empty());
    assert!(!spec.build.auto_modules && !spec.build.prefer_builtin);
    assert!(!spec.build.ignore_config_errors);
    assert_eq!(spec.build.cross_compile, None);
    assert_eq!(spec.build.post_patch, None);
    assert!(spec.build.fragments.is_empty());
    assert_eq!(spec.source.tarball, None);
    assert_eq!(spec.source.url, None);
    assert_eq!(spec.source.hash, None);
    assert!(spec.requests.is_empty() && spec.conditionals.is_empty());
    assert!(spec.patches.is_empty() && spec.modules.is_empty());
    assert!(spec.includes.is_empty());
    assert!(spec.build.make_flags.is_empty());
    assert_eq!(
        (spec.build.jobs, spec.build.launcher.as_deref()),
        (None, None)
    );

    let spec = d.spec(&format!(
        "{HEAD}make_flags = [\"W=1\", \"LOCALVERSION=-lab\"]\njobs = 4\nlauncher = \"ccache\"\n"
    ));
    assert_eq!(spec.build.make_flags, ["W=1", "LOCALVERSION=-lab"]);
    assert_eq!(spec.build.jobs, Some(4));
    assert_eq!(spec.build.launcher.as_deref(), Some("ccache"));
    assert_eq!(spec.build.distribute, None);
    for (text, farm) in [
        ("icecream", kforge_declaration::Distribute::Icecream),
        ("distcc", kforge_declaration::Distribute::Distcc),
    ] {
        let spec = d.spec(&format!("{HEAD}distribute = \"{text}\"\n"));
        assert_eq!(spec.build.distribute, Some(farm));
    }

    for (text, base) in [
        ("defconfig", Base::Defconfig),
        ("tinyconfig", Base::Tinyconfig),
        ("allnoconfig", Base::Allnoconfig),
        ("alldefconfig", Base::Alldefconfig),
    ] {
        let spec = d.spec(&format!("{HEAD}base = \"{text}\"\n"));
        assert_eq!(spec.build.base, base);
    }
    let spec = d.spec(&format!("{HEAD}base = {{ file = \"/abs/.config\" }}\n"));
    assert_eq!(spec.build.base, Base::File("/abs/.config".into()));

    let spec = d.spec("[source]\nversion = \"6.13-rc3\"\nurl = \"https://example.org/l.tar.gz\"\n[build]\narch = \"arm64\"\n");
    assert_eq!(spec.source.version, KernelVersion::rc(6, 13, 3));
    assert_eq!(
        spec.source.url.as_deref(),
        Some("https://example.org/l.tar.gz")
    );
}

#[test]
fn fragments_in_order_with_their_places() {
    let d = Dir::new();
    let spec = d.spec(&format!(
        "{HEAD}fragments = [\"hardening.config\",\n  \"kvm_guest.config\"]\n"
    ));
    let got: Vec<(&str, u32, u32)> = spec
        .build
        .fragments
        .iter()
        .map(|f| (f.name.as_str(), f.origin.line, f.origin.column))
        .collect();
    assert_eq!(
        got,
        [("hardening.config", 5, 14), ("kvm_guest.config", 6, 3)]
    );
}

#[test]
fn post_patch() {
    let d = Dir::new();
    let spec = d.spec(&format!(
        "{HEAD}post_patch = \"\"\"\nsed -i 's/^EXTRAVERSION =.*/EXTRAVERSION = -lab/' Makefile\ntouch .scmversion\n\"\"\"\n"
    ));
    assert_eq!(
        spec.build.post_patch.as_deref(),
        Some("sed -i 's/^EXTRAVERSION =.*/EXTRAVERSION = -lab/' Makefile\ntouch .scmversion\n")
    );
    let spec = d.spec(&format!("{HEAD}post_patch = 'echo hi'\n"));
    assert_eq!(spec.build.post_patch.as_deref(), Some("echo hi"));
}

#[test]
fn layer_order_is_depth_first() {
    let d = Dir::new();
    // main includes a and b; a includes c. c sets LAST, a unsets it (which
    // needs c before a), b sets it again.
    d.write(
        "a.toml",
        "[build]\ninclude = [\"sub/c.toml\"]\n[config]\nA = 1\nLAST = { unset = true }\n",
    );
    d.write("b.toml", "[config]\nB = 1\nLAST = \"b\"\n");
    d.write("sub/c.toml", "[config]\nC = 1\nLAST = \"c\"\n");
    let spec = d.spec(&format!(
        "{HEAD}include = [\"a.toml\", \"b.toml\"]\n[config]\nMAIN = 1\n"
    ));
    let dir = d.path();
    assert_eq!(
        spec.includes,
        vec![
            dir.join("sub/c.toml"),
            dir.join("a.toml"),
            dir.join("b.toml")
        ]
    );
    assert_eq!(
        summary(&spec.requests),
        [
            row("C", "1", "-", "-", "c.toml", 2),
            row("A", "1", "-", "-", "a.toml", 4),
            row("B", "1", "-", "-", "b.toml", 2),
            row("LAST", "\"b\"", "-", "-", "b.toml", 3),
            row("MAIN", "1", "-", "-", "kernel.toml", 7),
        ]
    );
}

#[test]
fn priorities() {
    let d = Dir::new();
    d.write(
        "a.toml",
        "[config]\nSOFT = { value = \"y\", priority = \"default\" }\nHARD = { value = \"y\", priority = \"force\" }\n",
    );
    let spec = d.spec(&format!(
        "{HEAD}include = [\"a.toml\"]\n[config]\nSOFT = \"n\"\nHARD = \"n\"\n"
    ));
    assert_eq!(
        summary(&spec.requests),
        [
            row("HARD", "\"y\"", "-", "-", "a.toml", 3),
            row("SOFT", "\"n\"", "-", "-", "kernel.toml", 7),
        ]
    );
    assert_eq!(spec.requests[0].priority, Priority::Force);
    assert_eq!(spec.requests[0].layer, Layer::Include);

    // A force in a patch wins over two levelled, disagreeing requests:
    // conflicts are judged only among the requests that hold.
    d.write("a.toml", "[config]\nA = \"y\"\n");
    let spec = d.spec(&format!(
        "{HEAD}include = [\"a.toml\"]\n[config]\nA = \"n\"\n\
         [[patches]]\nname = \"p\"\nfile = \"p\"\nconfig = {{ A = {{ value = \"m\", priority = \"force\" }} }}\n"
    ));
    assert_eq!(
        summary(&spec.requests),
        [row("A", "\"m\"", "-", "-", "kernel.toml", 11)]
    );
    assert_eq!(spec.requests[0].layer, Layer::Patch("p".into()));
}

#[test]
fn required_beats_optional() {
    let d = Dir::new();
    d.write(
        "a.toml",
        "[config]\nA = \"y\"\nB = { value = \"y\", optional = true }\n",
    );
    let spec = d.spec(&format!(
        "{HEAD}include = [\"a.toml\"]\n[config]\nA = {{ value = \"n\", optional = true }}\nB = \"m\"\n"
    ));
    assert_eq!(
        summary(&spec.requests),
        [
            row("A", "\"y\"", "-", "-", "a.toml", 2),
            row("B", "\"m\"", "-", "-", "kernel.toml", 8),
        ]
    );
    assert!(spec.requests.iter().all(|r| !r.optional));
    // ... but only at equal priority: an optional force beats a required normal.
    let spec = d.spec(&format!(
        "{HEAD}include = [\"a.toml\"]\n[config]\nA = {{ value = \"n\", optional = true, priority = \"force\" }}\nB = \"y\"\n"
    ));
    assert_eq!(
        summary(&spec.requests),
        [
            row("A", "\"n\"", "-", "-", "kernel.toml", 7),
            row("B", "\"y\"", "-", "-", "kernel.toml", 8),
        ]
    );
}

#[test]
fn identical_values_keep_the_later_origin() {
    let d = Dir::new();
    d.write("a.toml", "[config]\nA = \"y\"\nN = 4\n");
    let spec = d.spec(&format!(
        "{HEAD}include = [\"a.toml\"]\n[config]\nN = 4\nA = \"y\"\n"
    ));
    assert_eq!(
        summary(&spec.requests),
        [
            row("N", "4", "-", "-", "kernel.toml", 7),
            row("A", "\"y\"", "-", "-", "kernel.toml", 8),
        ]
    );
    // A file included twice (not a cycle) is read once.
    d.write("common.toml", "[config]\nC = \"y\"\n");
    d.write("a.toml", "[build]\ninclude = [\"common.toml\"]\n");
    d.write(
        "b.toml",
        "[build]\ninclude = [\"./common.toml\"]\n[config]\nB = 1\n",
    );
    let spec = d.spec(&format!("{HEAD}include = [\"a.toml\", \"b.toml\"]\n"));
    let dir = d.path();
    assert_eq!(
        spec.includes,
        vec![
            dir.join("common.toml"),
            dir.join("a.toml"),
            dir.join("b.toml")
        ]
    );
    assert_eq!(
        summary(&spec.requests),
        [
            row("C", "\"y\"", "-", "-", "common.toml", 2),
            row("B", "1", "-", "-", "b.toml", 4),
        ]
    );
}

#[test]
fn unset_removes_earlier_requests() {
    let d = Dir::new();
    d.write(
        "a.toml",
        "[config]\nA = { value = \"y\", priority = \"force\" }\nB = \"y\"\nC = { value = \"y\", until = \"6.6\" }\n",
    );
    d.write(
        "b.toml",
        "[config]\nA = { value = \"m\", since = \"6.1\" }\n",
    );
    let spec = d.spec(&format!(
        "{HEAD}include = [\"a.toml\", \"b.toml\"]\n[config]\n\
         A = {{ unset = true }}\nC = {{ unset = true }}\n\
         [[patches]]\nname = \"p\"\nfile = \"p\"\nconfig = {{ A = \"n\", B = {{ unset = true }} }}\n"
    ));
    // Both includes' A (whatever their priority or range) are gone, the
    // patch sets it again; B is unset by the patch; C by the declaration.
    assert_eq!(
        summary(&spec.requests),
        [row("A", "\"n\"", "-", "-", "kernel.toml", 12)]
    );
}

#[test]
fn disjoint_version_ranges_do_not_conflict() {
    let d = Dir::new();
    d.write(
        "a.toml",
        "[config]\nA = { value = \"y\", until = \"6.6\" }\nB = { value = 1, since = \"6.1\", until = \"6.2\" }\n",
    );
    let spec = d.spec(&format!(
        "{HEAD}include = [\"a.toml\"]\n[config]\n\
         A = {{ value = \"n\", since = \"6.6\" }}\nB = {{ value = 2, since = \"6.2\" }}\n"
    ));
    assert_eq!(
        summary(&spec.requests),
        [
            row("A", "\"y\"", "-", "6.6", "a.toml", 2),
            row("B", "1", "6.1", "6.2", "a.toml", 3),
            row("A", "\"n\"", "6.6", "-", "kernel.toml", 7),
            row("B", "2", "6.2", "-", "kernel.toml", 8),
        ]
    );
    let values = |version: &str| -> Vec<String> {
        let version = v(version);
        spec.requests_for(&version)
            .map(|r| format!("{}={}", r.symbol, r.value))
            .collect()
    };
    assert_eq!(values("5.15"), ["A=\"y\""]);
    assert_eq!(values("6.1"), ["A=\"y\"", "B=1"]);
    assert_eq!(values("6.1.192"), ["A=\"y\"", "B=1"]);
    assert_eq!(values("6.2-rc1"), ["A=\"y\"", "B=1"]);
    assert_eq!(values("6.2"), ["A=\"y\"", "B=2"]);
    assert_eq!(values("6.6-rc7"), ["A=\"y\"", "B=2"]);
    assert_eq!(values("6.6"), ["A=\"n\"", "B=2"]);
}

#[test]
fn a_stronger_request_narrows_a_weaker_one() {
    let d = Dir::new();
    let spec = d.spec(&format!(
        "{HEAD}[config]\nA = \"n\"\nB = {{ value = \"m\", since = \"5.10\" }}\n\
         [[patches]]\nname = \"p\"\nfile = \"p\"\n\
         config = {{ A = {{ value = \"y\", priority = \"force\", since = \"6.6\", until = \"6.8\" }}, \
         B = {{ value = \"m\", since = \"6.1\" }} }}\n"
    ));
    // A: the declaration's request is split around the patch's forced range.
    // B: identical values; the later request holds where both apply.
    assert_eq!(
        summary(&spec.requests),
        [
            row("A", "\"n\"", "-", "6.6", "kernel.toml", 6),
            row("A", "\"n\"", "6.8", "-", "kernel.toml", 6),
            row("B", "\"m\"", "5.10", "6.1", "kernel.toml", 7),
            row("A", "\"y\"", "6.6", "6.8", "kernel.toml", 11),
            row("B", "\"m\"", "6.1", "-", "kernel.toml", 11),
        ]
    );
    for (version, a) in [
        ("6.1", "\"n\""),
        ("6.6", "\"y\""),
        ("6.7.9", "\"y\""),
        ("6.8", "\"n\""),
    ] {
        let version = v(version);
        let got: Vec<String> = spec
            .requests_for(&version)
            .filter(|r| r.symbol == "A")
            .map(|r| r.value.to_string())
            .collect();
        assert_eq!(got, [a], "{version}");
    }
}

#[test]
fn release_candidates_in_ranges() {
    let d = Dir::new();
    let spec = d.spec(&format!(
        "{HEAD}[config]\nNEW = {{ value = \"y\", since = \"6.13-rc3\" }}\nOLD = {{ value = \"y\", until = \"6.13\" }}\n"
    ));
    let new = &spec.requests[0];
    let old = &spec.requests[1];
    assert!(!new.applies_to(&v("6.13-rc2")));
    assert!(new.applies_to(&v("6.13-rc3")));
    assert!(new.applies_to(&v("6.13")));
    assert!(new.applies_to(&v("6.13.1")));
    assert!(!new.applies_to(&v("6.12.9")));
    assert!(old.applies_to(&v("6.13-rc7")));
    assert!(!old.applies_to(&v("6.13")));
    assert!(!old.applies_to(&v("6.13.0")));
}

#[test]
fn conditionals_merge_across_layers() {
    let d = Dir::new();
    d.write(
        "a.toml",
        "[when.USB]\nUSB_XHCI_HCD = \"y\"\nUSB_EHCI_HCD = \"y\"\n[when.NET]\nPACKET = \"y\"\n",
    );
    let spec = d.spec(&format!(
        "{HEAD}include = [\"a.toml\"]\n[when.USB]\nUSB_EHCI_HCD = {{ unset = true }}\nUSB_UHCI_HCD = \"m\"\n\
         [when.PCI]\nPCI_MSI = \"y\"\n"
    ));
    let whens: Vec<(&str, String, u32)> = spec
        .conditionals
        .iter()
        .map(|c| {
            (
                c.symbol.as_str(),
                c.origin
                    .file
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
                c.origin.line,
            )
        })
        .collect();
    assert_eq!(
        whens,
        [
            ("USB", "a.toml".to_string(), 1),
            ("NET", "a.toml".to_string(), 4),
            ("PCI", "kernel.toml".to_string(), 9),
        ]
    );
    assert_eq!(
        summary(&spec.conditionals[0].requests),
        [
            row("USB_XHCI_HCD", "\"y\"", "-", "-", "a.toml", 2),
            row("USB_UHCI_HCD", "\"m\"", "-", "-", "kernel.toml", 8),
        ]
    );
    assert_eq!(spec.conditionals[0].requests[0].layer, Layer::Include);
    assert_eq!(spec.conditionals[0].requests[1].layer, Layer::Main);
    assert!(spec.requests.is_empty());
}

/// The repository's `profiles/` directory.
fn profiles() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../profiles")
}

#[test]
fn shipped_profiles_load() {
    let d = Dir::new();
    let qemu = profiles().join("qemu.toml");
    let liminix = profiles().join("liminix-base.toml");
    for (profile, arch, version) in [
        (&qemu, "x86_64", "6.1"),
        (&qemu, "arm64", "6.12"),
        (&liminix, "mips", "6.1"),
    ] {
        let spec = d.spec(&format!(
            "[source]\nversion = \"{version}\"\n[build]\narch = \"{arch}\"\ninclude = [{:?}]\n",
            profile.display().to_string()
        ));
        assert_eq!(spec.includes, vec![profile.canonicalize().unwrap()]);
        assert!(spec.requests.len() >= 10, "{}", profile.display());
        assert!(spec.requests.iter().all(|r| r.layer == Layer::Include));
        let version = v(version);
        assert!(spec.requests_for(&version).any(|r| r.symbol == "PRINTK"));
    }
    // Both together: they may agree, but must not conflict.
    d.spec(&format!(
        "{HEAD}include = [{:?}, {:?}]\n",
        qemu.display().to_string(),
        liminix.display().to_string()
    ));
    // A declaration can override a profile's settings by unsetting them.
    d.spec(&format!(
        "{HEAD}include = [{:?}]\n[config]\nPRINTK = {{ unset = true }}\n",
        qemu.display().to_string()
    ));
}

/// Every `config NAME` / `menuconfig NAME` in the Kconfig files under `dir`
/// (the kernel's own Kconfig test cases under scripts/ left out).
#[cfg(feature = "oracle-tests")]
fn kconfig_symbols(dir: &Path, out: &mut HashSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type().unwrap().is_dir() {
            if name != "scripts" && name != ".git" {
                kconfig_symbols(&path, out);
            }
        } else if name.starts_with("Kconfig") {
            let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
            for line in text.lines() {
                let line = line.trim_start();
                if let Some(rest) = line
                    .strip_prefix("config ")
                    .or_else(|| line.strip_prefix("menuconfig "))
                {
                    out.insert(rest.trim().to_string());
                }
            }
        }
    }
}

/// The profiles name only symbols that exist in Linux 6.1 and 6.12. Needs
/// the kernel trees of `scripts/prepare-oracle` (kforge-testkit): a
/// second-tier test (the `oracle-tests` feature), failing without them.
#[cfg(feature = "oracle-tests")]
#[test]
fn profile_symbols_exist_in_kernel_trees() {
    let d = Dir::new();
    let spec = d.spec(&format!(
        "{HEAD}include = [{:?}, {:?}]\n",
        profiles().join("qemu.toml").display().to_string(),
        profiles().join("liminix-base.toml").display().to_string()
    ));
    let mut wanted: Vec<&str> = spec.requests.iter().map(|r| r.symbol.as_str()).collect();
    for c in &spec.conditionals {
        wanted.push(&c.symbol);
        wanted.extend(c.requests.iter().map(|r| r.symbol.as_str()));
    }
    assert!(wanted.len() > 40);
    for ver in ["6.1", "6.12"] {
        let src = kforge_testkit::oracle_tree(ver);
        let mut known = HashSet::new();
        kconfig_symbols(&src, &mut known);
        let missing: Vec<&&str> = wanted.iter().filter(|s| !known.contains(**s)).collect();
        assert!(missing.is_empty(), "not in {ver}: {missing:?}");
    }
}

#[test]
fn test_table() {
    let d = Dir::new();
    let spec = d.spec(&format!(
        "{HEAD}[modules.b]\nload = [\"dummy\"]\n[modules.a]\nload = [\"veth\"]\n\
         [test]\nscript = \"\"\"\nip link add d0 type dummy\n\"\"\"\nloaders = [\"b\", \"a\"]\n\
         timeout = 30\nfiles = {{ \"/etc/x\" = \"x\", \"/a/b\" = \"../y\" }}\n"
    ));
    let t = spec.test.expect("[test]");
    assert_eq!(
        t.script,
        Some(kforge_declaration::TestScript::Inline(
            "ip link add d0 type dummy\n".into()
        ))
    );
    let loaders: Vec<&str> = t
        .loaders
        .as_ref()
        .unwrap()
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(loaders, ["b", "a"]);
    assert_eq!(t.loaders.as_ref().unwrap()[0].1.line, 13);
    assert_eq!(
        (t.memory_mib, t.timeout_s, t.append.as_str()),
        (256, 30, "")
    );
    assert_eq!(
        t.files,
        vec![
            ("/etc/x".to_string(), d.path().join("x")),
            ("/a/b".to_string(), d.path().parent().unwrap().join("y")),
        ]
    );
    assert_eq!(t.origin.line, 9);
    // No [test]: none.
    assert!(d.spec(HEAD).test.is_none());
    // Defaults: every loader, no script.
    let t = d.spec(&format!("{HEAD}[test]\n")).test.unwrap();
    assert_eq!(
        (t.script, t.loaders, t.memory_mib, t.timeout_s),
        (None, None, 256, 120)
    );
}
