//! `ModuleMap` on small made-up trees, one kbuild rule at a time.

use std::path::Path;

use kforge_tree::{KbuildError, ModuleMap, ModuleSource};

/// A tree with a top Makefile, a top Kbuild listing `init/`, `drivers/`,
/// `arch/$(SRCARCH)/` and the arch lists, two architectures, and `files`.
fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut all: Vec<(&str, &str)> = vec![
        (
            "Makefile",
            "core-y\t\t:=\ndrivers-y\t:=\nlibs-y\t\t:= lib/\n\
             include $(srctree)/arch/$(SRCARCH)/Makefile\n\
             export ARCH_CORE := $(core-y)\n",
        ),
        (
            "Kbuild",
            "obj-y\t\t\t+= init/\n\
             obj-y\t\t\t+= arch/$(SRCARCH)/\n\
             obj-y\t\t\t+= $(ARCH_CORE)\n\
             obj-y\t\t\t+= $(ARCH_LIB)\n\
             obj-y\t\t\t+= drivers/\n\
             obj-$(CONFIG_NET)\t+= net/\n\
             obj-y\t\t\t+= $(ARCH_DRIVERS)\n",
        ),
        ("init/Makefile", "obj-y := main.o\n"),
        ("net/Makefile", "obj-y := socket.o\n"),
        ("lib/Makefile", "obj-$(CONFIG_CRC) += crc.o\n"),
        (
            "arch/x86/Makefile",
            "drivers-$(CONFIG_PCI) += arch/x86/pci/\n",
        ),
        ("arch/x86/Kbuild", "obj-y += crypto/\n"),
        (
            "arch/x86/crypto/Makefile",
            "obj-$(CONFIG_AES_X86) += aes-x86.o\n",
        ),
        ("arch/x86/pci/Makefile", "obj-m += pcimod.o\n"),
        (
            "arch/arm64/Makefile",
            "libs-y := arch/arm64/lib/ $(libs-y)\n",
        ),
        ("arch/arm64/Kbuild", "obj-y += kernel/\n"),
        ("arch/arm64/kernel/Makefile", "obj-$(CONFIG_A64) += a64.o\n"),
        ("arch/arm64/lib/Makefile", "obj-$(CONFIG_L64) += l64.o\n"),
    ];
    all.extend_from_slice(files);
    for (path, text) in all {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

fn scan(files: &[(&str, &str)]) -> ModuleMap {
    let t = tree(files);
    ModuleMap::scan(t.path()).unwrap()
}

fn one(m: &ModuleMap, name: &str) -> ModuleSource {
    let s = m.lookup(name);
    assert_eq!(s.len(), 1, "{name}: {s:#?}");
    s.into_iter().next().unwrap()
}

fn syms(s: &[String]) -> Vec<&str> {
    s.iter().map(String::as_str).collect()
}

#[test]
fn rules_and_directory_chain() {
    let m = scan(&[
        (
            "drivers/Makefile",
            "obj-y += base/\nobj-$(CONFIG_NETDEVICES) += net/\nsubdir-y += hidden/\n",
        ),
        ("drivers/base/Makefile", "obj-y += core.o\n"),
        (
            "drivers/net/Makefile",
            "# obj-m += commented.o\n\
             obj-$(CONFIG_DUMMY) += dummy.o\n\
             obj-${CONFIG_TUN}\t:= tun.o \\\n\
             \tveth.o\n\
             obj-m = always-mod.o\n\
             obj-$(CONFIG_ETH) += ethernet/ sub/nested.o\n",
        ),
        (
            "drivers/net/ethernet/Makefile",
            "obj-$(CONFIG_E1000E) += e1000e.o\n\
             e1000e-objs := netdev.o ich8lan.o\n\
             e1000e-$(CONFIG_PTP) += ptp.o\n",
        ),
        ("drivers/hidden/Makefile", "obj-m += hidden.o\n"),
    ]);
    let s = one(&m, "dummy");
    assert_eq!(s.makefile, Path::new("drivers/net/Makefile"));
    assert_eq!((s.line, syms(&s.symbols)), (2, vec!["DUMMY"]));
    assert_eq!(syms(&s.dir_symbols), ["NETDEVICES"]);
    assert_eq!(s.arch, None);
    let dirs: Vec<_> = s.dirs.iter().map(|d| d.dir.to_str().unwrap()).collect();
    assert_eq!(dirs, ["drivers", "drivers/net"]);
    assert_eq!(s.dirs[1].entries[0].makefile, Path::new("drivers/Makefile"));
    assert_eq!(s.dirs[1].entries[0].line, 2);

    let veth = one(&m, "veth");
    assert_eq!((veth.line, syms(&veth.symbols)), (3, vec!["TUN"]));
    let always = one(&m, "always_mod");
    assert!(always.symbols.is_empty());
    assert_eq!(always.module, "always_mod");
    assert_eq!(one(&m, "always-mod"), always);
    // built in the parent's directory, from a subdirectory's source
    let nested = one(&m, "nested");
    assert_eq!(nested.makefile, Path::new("drivers/net/Makefile"));
    assert_eq!(syms(&nested.dir_symbols), ["NETDEVICES"]);

    let e = one(&m, "e1000e");
    assert_eq!(syms(&e.dir_symbols), ["NETDEVICES", "ETH"]);
    for part in ["netdev", "ich8lan", "ptp", "core", "main", "commented"] {
        assert!(m.lookup(part).is_empty(), "{part}");
    }
    // A symbol's modules: what CONFIG_<symbol>=m builds.
    assert_eq!(m.modules_of("TUN"), ["tun", "veth"]);
    assert_eq!(m.modules_of("DUMMY"), ["dummy"]);
    assert!(m.modules_of("NETDEVICES").is_empty());
    assert!(m.modules_of("PTP").is_empty());
    // subdir-y does not build modules
    assert!(m.lookup("hidden").is_empty());
    assert!(!m.directories().any(|d| d == Path::new("drivers/hidden")));
}

#[test]
fn architectures() {
    let m = scan(&[]);
    let s = one(&m, "aes_x86");
    assert_eq!(s.arch.as_deref(), Some("x86"));
    assert_eq!(syms(&s.symbols), ["AES_X86"]);
    let dirs: Vec<_> = s.dirs.iter().map(|d| d.dir.to_str().unwrap()).collect();
    assert_eq!(dirs, ["arch/x86", "arch/x86/crypto"]);
    // from arch/x86/Makefile's drivers-$(CONFIG_PCI)
    let p = one(&m, "pcimod");
    assert_eq!(p.arch.as_deref(), Some("x86"));
    assert_eq!(syms(&p.dir_symbols), ["PCI"]);
    // arm64: libs-y := arch/arm64/lib/ $(libs-y)
    assert_eq!(one(&m, "l64").arch.as_deref(), Some("arm64"));
    assert_eq!(one(&m, "a64").arch.as_deref(), Some("arm64"));
    // lib/ is in every architecture's libs-y: generic
    let crc = one(&m, "crc");
    assert_eq!(crc.arch, None);
    assert!(crc.dir_symbols.is_empty());
}

#[test]
fn functions_and_variables() {
    let m = scan(&[
        ("drivers/Makefile", "obj-y += x/\n"),
        (
            "drivers/x/Makefile",
            "obj-$(subst m,y,$(CONFIG_A)) += builtin-a.o dir-a/\n\
             obj-$(CONFIG_B:m=y) += builtin-b.o\n\
             obj-$(subst y,$(CONFIG_C),$(CONFIG_D)) += both.o\n\
             mods := m1.o m2.o\n\
             obj-$(CONFIG_E) += $(mods) $(if $(CONFIG_F),iff.o)\n\
             plat-$(CONFIG_P) += plat/\n\
             obj-y += $(plat-y)\n\
             obj-$(CONFIG_G) += head_$(BITS).o $(shell echo x).o ok.o\n\
             obj-m += $(addsuffix .o,pre-$(CONFIG_H))\n",
        ),
        ("drivers/x/dir-a/Makefile", "obj-m += in-a.o\n"),
        ("drivers/x/plat/Makefile", "obj-m += platmod.o\n"),
    ]);
    assert!(m.lookup("builtin_a").is_empty());
    assert!(m.lookup("builtin_b").is_empty());
    assert_eq!(syms(&one(&m, "in_a").dir_symbols), ["A"]);
    assert_eq!(syms(&one(&m, "both").symbols), ["D", "C"]);
    assert_eq!(syms(&one(&m, "m1").symbols), ["E"]);
    assert_eq!(syms(&one(&m, "m2").symbols), ["E"]);
    assert_eq!(syms(&one(&m, "iff").symbols), ["E", "F"]);
    assert_eq!(syms(&one(&m, "platmod").dir_symbols), ["P"]);
    assert_eq!(syms(&one(&m, "ok").symbols), ["G"]);
    assert!(m.lookup("head_").is_empty());
    assert_eq!(syms(&one(&m, "pre_m").symbols), ["H"]);
    let notes: Vec<_> = m
        .notes()
        .iter()
        .map(|n| (n.line, n.message.as_str()))
        .collect();
    assert!(
        notes
            .iter()
            .any(|(l, msg)| *l == 8 && msg.contains("head_.o")),
        "{notes:?}"
    );
}

#[test]
fn conditionals_and_includes() {
    let m = scan(&[
        (
            "drivers/Makefile",
            "ifdef CONFIG_BUS\nobj-y += bus/\nendif\n",
        ),
        (
            "drivers/bus/Makefile",
            "ifeq ($(CONFIG_X),y)\n\
             obj-m += yes.o\n\
             else\n\
             obj-m += no.o\n\
             endif\n\
             include $(src)/extra.mk\n\
             -include $(src)/missing.mk\n",
        ),
        ("drivers/bus/extra.mk", "obj-$(CONFIG_EXTRA) += extra.o\n"),
    ]);
    let yes = one(&m, "yes");
    assert_eq!(yes.conditions.len(), 1);
    assert_eq!(yes.conditions[0].directive, "ifeq ($(CONFIG_X),y)");
    assert!(!yes.conditions[0].negated);
    let no = one(&m, "no");
    assert!(no.conditions[0].negated);
    assert_eq!(no.conditions[0].line, 1);
    let bus = &yes.dirs[1];
    assert_eq!(bus.entries[0].conditions[0].directive, "ifdef CONFIG_BUS");
    let extra = one(&m, "extra");
    assert_eq!(extra.makefile, Path::new("drivers/bus/extra.mk"));
    assert_eq!((extra.line, syms(&extra.symbols)), (1, vec!["EXTRA"]));
    assert!(m.notes().is_empty(), "{:?}", m.notes());
}

#[test]
fn kbuild_file_wins_over_makefile() {
    let m = scan(&[
        ("drivers/Makefile", "obj-y += k/\n"),
        ("drivers/k/Kbuild", "obj-m += fromkbuild.o\n"),
        ("drivers/k/Makefile", "obj-m += frommakefile.o\n"),
    ]);
    assert_eq!(
        one(&m, "fromkbuild").makefile,
        Path::new("drivers/k/Kbuild")
    );
    assert!(m.lookup("frommakefile").is_empty());
}

#[test]
fn several_ways_into_a_directory() {
    let m = scan(&[
        (
            "drivers/Makefile",
            "obj-$(CONFIG_USB) += usb/\nobj-$(CONFIG_USB_PHY) += usb/\n\
             obj-$(CONFIG_A) += shared/\nobj-$(CONFIG_A) += other/\n",
        ),
        ("drivers/usb/Makefile", "obj-m += usbmod.o\n"),
        ("drivers/other/Makefile", "obj-$(CONFIG_B) += ../shared/\n"),
        ("drivers/shared/Makefile", "obj-m += sharedmod.o\n"),
    ]);
    let u = one(&m, "usbmod");
    assert!(u.dir_symbols.is_empty());
    let entries: Vec<_> = u.dirs[1].entries.iter().map(|e| syms(&e.symbols)).collect();
    assert_eq!(entries, [vec!["USB"], vec!["USB_PHY"]]);
    // drivers/shared is entered from drivers/ and from drivers/other/
    let s = m.lookup("sharedmod");
    let ways: Vec<_> = s.iter().map(|s| syms(&s.dir_symbols)).collect();
    assert_eq!(ways, [vec!["A"], vec!["A", "B"]]);
}

#[test]
fn missing_directory_and_bad_tree() {
    let m = scan(&[("drivers/Makefile", "obj-$(CONFIG_GONE) += gone/\n")]);
    let notes: Vec<_> = m.notes().iter().map(|n| n.message.as_str()).collect();
    assert!(
        notes.iter().any(|n| n.contains("drivers/gone/")),
        "{notes:?}"
    );
    assert_eq!(m.notes()[0].makefile, Path::new("drivers/Makefile"));

    let empty = tempfile::tempdir().unwrap();
    match ModuleMap::scan(empty.path()) {
        Err(KbuildError::NotAKernelTree { missing, .. }) => assert_eq!(missing, "Makefile"),
        other => panic!("{other:?}"),
    }
}
