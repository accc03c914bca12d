//! `kforge depmod` against kmod's own `/usr/sbin/depmod` (kmod 30, Debian
//! bookworm): the same module trees given to both, every index file
//! compared byte for byte, stdout and stderr compared too.
//!
//! Trees: Debian's linux-image-<ABI>-unsigned (scripts/debian-abi; prepared by
//! scripts/prepare-modules under target/modules-oracle/), the same with
//! every module compressed as .ko.xz and as .ko.zst (compressed here once
//! and cached), and small trees of a few real modules for the options and
//! for broken inputs.
//!
//! A second-tier test file: compiled with the `oracle-tests` feature only
//! (scripts/test); without the prepared tree it fails naming
//! scripts/prepare-modules.
#![cfg(feature = "oracle-tests")]

use crate::common;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// The Debian kernel ABI of the module tree (scripts/debian-abi).
fn kver() -> &'static str {
    kforge_testkit::debian_abi()
}
use kforge_testkit::KMOD_DEPMOD;

/// Modules of the small trees: USB storage, SCSI, ext4, HDA audio (with
/// dependencies several levels deep), plus fuse/loop/tun (devname) and
/// ext4/jbd2 (softdep).
const SMALL: &[&str] = &[
    "kernel/drivers/usb/common/usb-common.ko",
    "kernel/drivers/usb/core/usbcore.ko",
    "kernel/drivers/usb/host/ehci-hcd.ko",
    "kernel/drivers/usb/host/ehci-pci.ko",
    "kernel/drivers/usb/host/xhci-hcd.ko",
    "kernel/drivers/usb/host/xhci-pci.ko",
    "kernel/drivers/usb/storage/usb-storage.ko",
    "kernel/drivers/usb/storage/uas.ko",
    "kernel/drivers/scsi/scsi_mod.ko",
    "kernel/drivers/scsi/sd_mod.ko",
    "kernel/drivers/scsi/scsi_common.ko",
    "kernel/fs/fuse/fuse.ko",
    "kernel/drivers/block/loop.ko",
    "kernel/fs/ext4/ext4.ko",
    "kernel/fs/jbd2/jbd2.ko",
    "kernel/fs/mbcache.ko",
    "kernel/lib/crc16.ko",
    "kernel/crypto/crc32c_generic.ko",
    "kernel/drivers/net/tun.ko",
    "kernel/sound/pci/hda/snd-hda-codec-realtek.ko",
    "kernel/sound/pci/hda/snd-hda-codec-generic.ko",
    "kernel/sound/pci/hda/snd-hda-codec.ko",
    "kernel/sound/hda/snd-hda-core.ko",
    "kernel/sound/core/snd-pcm.ko",
    "kernel/sound/core/snd-timer.ko",
    "kernel/sound/core/snd.ko",
    "kernel/sound/soundcore.ko",
    "kernel/drivers/leds/trigger/ledtrig-audio.ko",
    "kernel/sound/core/snd-hwdep.ko",
];

use common::modules_oracle as oracle_dir;

/// The prepared Debian module tree (`.../lib/modules/<KVER>`); fails,
/// naming scripts/prepare-modules, when it is missing.
fn debian_tree() -> PathBuf {
    static READY: OnceLock<PathBuf> = OnceLock::new();
    READY
        .get_or_init(|| {
            kforge_testkit::kmod_depmod();
            kforge_testkit::modules_tree()
        })
        .clone()
}

/// A scratch directory on the same file system as the prepared trees (so
/// modules can be hard-linked rather than copied).
fn scratch() -> tempfile::TempDir {
    let d = oracle_dir().join("scratch");
    std::fs::create_dir_all(&d).unwrap();
    tempfile::Builder::new().prefix("t").tempdir_in(d).unwrap()
}

fn link_or_copy(src: &Path, dst: &Path) {
    if std::fs::hard_link(src, dst).is_err() {
        std::fs::copy(src, dst).unwrap();
    }
}

/// Replace a file that may be a hard link to a cached tree without
/// touching the cached copy.
fn replace_file(path: &Path, bytes: &[u8]) {
    let _ = std::fs::remove_file(path);
    std::fs::write(path, bytes).unwrap();
}

/// Copy a module tree (`src` is a `lib/modules/<KVER>` directory) into
/// `base/lib/modules/<KVER>`: module files hard-linked, the other files
/// copied, index files left out.
fn clone_tree(src: &Path, base: &Path) -> PathBuf {
    let dst = base.join("lib/modules").join(kver());
    fn walk(s: &Path, d: &Path, top: bool) {
        std::fs::create_dir_all(d).unwrap();
        for e in std::fs::read_dir(s).unwrap() {
            let e = e.unwrap();
            let name = e.file_name();
            let (sp, dp) = (e.path(), d.join(&name));
            if e.file_type().unwrap().is_dir() {
                walk(&sp, &dp, false);
            } else if top {
                let n = name.to_string_lossy();
                if n == "modules.order" || n == "modules.builtin" || n == "modules.builtin.modinfo"
                {
                    std::fs::copy(&sp, &dp).unwrap();
                }
            } else {
                link_or_copy(&sp, &dp);
            }
        }
    }
    walk(src, &dst, true);
    dst
}

/// A small tree of `SMALL` modules (all but `loop` listed in
/// modules.order, to exercise the unlisted-module order).
fn small_tree(base: &Path) -> PathBuf {
    let src = debian_tree();
    let dst = base.join("lib/modules").join(kver());
    for m in SMALL {
        let d = dst.join(m);
        std::fs::create_dir_all(d.parent().unwrap()).unwrap();
        link_or_copy(&src.join(m), &d);
    }
    let order: String = std::fs::read_to_string(src.join("modules.order"))
        .unwrap()
        .lines()
        .filter(|l| SMALL.contains(l) && !l.ends_with("/loop.ko"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(dst.join("modules.order"), order).unwrap();
    for f in ["modules.builtin", "modules.builtin.modinfo"] {
        std::fs::copy(src.join(f), dst.join(f)).unwrap();
    }
    dst
}

/// Compress every `*.ko` under `dir` with `tool` (`xz` or `zstd`), two at
/// a time.
fn compress_tree(dir: &Path, tool: &str) {
    let script = match tool {
        "xz" => "find . -name '*.ko' -print0 | xargs -0 -r -P2 -n32 xz -f -0 -T1 --check=crc32",
        "zstd" => "find . -name '*.ko' -print0 | xargs -0 -r -P2 -n32 zstd -f -q --rm -3",
        "gzip" => "find . -name '*.ko' -print0 | xargs -0 -r -P2 -n32 gzip -f -n -1",
        _ => unreachable!(),
    };
    let st = Command::new("nice")
        .args(["sh", "-c", script])
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(st.success(), "{tool} failed in {}", dir.display());
}

/// The Debian tree with every module compressed by `tool`, built once and
/// cached beside the prepared tree.
fn compressed_debian_tree(tool: &str) -> PathBuf {
    static LOCK: Mutex<()> = Mutex::new(());
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let root = oracle_dir().join(format!("variants/{tool}"));
    let tree = root.join("lib/modules").join(kver());
    if root.join(".stamp").is_file() {
        return tree;
    }
    let src = debian_tree();
    let tmp = oracle_dir().join(format!("variants/{tool}.tmp"));
    let _ = std::fs::remove_dir_all(&tmp);
    let t = std::time::Instant::now();
    let d = clone_tree(&src, &tmp);
    compress_tree(&d, tool);
    let _ = std::fs::remove_dir_all(&root);
    std::fs::rename(&tmp, &root).unwrap();
    std::fs::write(root.join(".stamp"), "").unwrap();
    eprintln!(
        "compressed the Debian tree with {tool} in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    tree
}

#[derive(Debug)]
struct Run {
    status: i32,
    stdout: Vec<u8>,
    stderr: String,
    /// Every file at the top of the module directory but the inputs.
    files: BTreeMap<String, Vec<u8>>,
}

fn run_depmod(kmod: bool, base: &Path, args: &[&str]) -> Run {
    let mut c = if kmod {
        Command::new(KMOD_DEPMOD)
    } else {
        let mut c = Command::new(env!("CARGO_BIN_EXE_kforge"));
        c.arg("depmod");
        c
    };
    c.args(args).arg("-b").arg(base).arg(kver());
    let out = c.output().unwrap();
    let base_s = base.to_str().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).replace(base_s, "<BASE>");
    let stdout = String::from_utf8_lossy(&out.stdout)
        .replace(base_s, "<BASE>")
        .into_bytes();
    let dir = base.join("lib/modules").join(kver());
    let mut files = BTreeMap::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let e = e.unwrap();
        let n = e.file_name().to_string_lossy().into_owned();
        if e.file_type().unwrap().is_file()
            && ![
                "modules.order",
                "modules.builtin",
                "modules.builtin.modinfo",
            ]
            .contains(&n.as_str())
        {
            files.insert(n, std::fs::read(e.path()).unwrap());
        }
    }
    Run {
        status: out.status.code().unwrap_or(-1),
        stdout,
        stderr,
        files,
    }
}

fn hexdump(b: &[u8], at: usize) -> String {
    let start = at.saturating_sub(32) & !15;
    let end = (at + 48).min(b.len());
    let mut s = String::new();
    for (i, chunk) in b[start.min(end)..end].chunks(16).enumerate() {
        let off = start + i * 16;
        let hex: Vec<String> = chunk.iter().map(|c| format!("{c:02x}")).collect();
        let txt: String = chunk
            .iter()
            .map(|&c| {
                if (32..127).contains(&c) {
                    c as char
                } else {
                    '.'
                }
            })
            .collect();
        s.push_str(&format!("  {off:08x}  {:<48} |{txt}|\n", hex.join(" ")));
    }
    s
}

fn same_bytes(what: &str, a: &[u8], b: &[u8]) -> Result<(), String> {
    if a == b {
        return Ok(());
    }
    let at = a
        .iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    Err(format!(
        "{what}: differs at offset {at} (kmod {} bytes, kforge {} bytes)\nkmod:\n{}kforge:\n{}",
        a.len(),
        b.len(),
        hexdump(a, at),
        hexdump(b, at)
    ))
}

/// Assert two runs agree: exit status, stdout, stderr (after `fix`), the
/// set of files and every file's bytes.
fn assert_same(label: &str, k: &Run, f: &Run, fix_stderr: impl Fn(&str) -> String) {
    let mut errs = Vec::new();
    if k.status != f.status {
        errs.push(format!(
            "exit status: kmod {} kforge {}",
            k.status, f.status
        ));
    }
    if let Err(e) = same_bytes("stdout", &k.stdout, &f.stdout) {
        errs.push(e);
    }
    let fs = fix_stderr(&f.stderr);
    if k.stderr != fs {
        errs.push(format!("stderr:\n--- kmod\n{}--- kforge\n{}", k.stderr, fs));
    }
    let kn: Vec<_> = k.files.keys().collect();
    let fnames: Vec<_> = f.files.keys().collect();
    if kn != fnames {
        errs.push(format!("files: kmod {kn:?} kforge {fnames:?}"));
    }
    for (n, kb) in &k.files {
        if let Some(fb) = f.files.get(n) {
            if let Err(e) = same_bytes(n, kb, fb) {
                errs.push(e);
            }
        }
    }
    assert!(
        errs.is_empty(),
        "{label}: kforge depmod differs from kmod's:\n{}",
        errs.join("\n")
    );
}

/// Run both depmods with `args` on two fresh copies made by `make`, and
/// compare.
fn compare(label: &str, make: impl Fn(&Path), args: &[&str]) -> (Run, Run) {
    compare_with(label, make, args, |s| s.to_string())
}

fn compare_with(
    label: &str,
    make: impl Fn(&Path),
    args: &[&str],
    fix: impl Fn(&str) -> String,
) -> (Run, Run) {
    let (a, b) = (scratch(), scratch());
    make(a.path());
    make(b.path());
    let t = std::time::Instant::now();
    let k = run_depmod(true, a.path(), args);
    let tk = t.elapsed();
    let t = std::time::Instant::now();
    let f = run_depmod(false, b.path(), args);
    let tf = t.elapsed();
    eprintln!(
        "{label}: kmod {:.0} ms, kforge {:.0} ms",
        tk.as_secs_f64() * 1e3,
        tf.as_secs_f64() * 1e3
    );
    assert_same(label, &k, &f, fix);
    (k, f)
}

fn index_files_present(r: &Run) {
    for f in depmod::generate::OUTPUT_FILES {
        assert!(r.files.contains_key(*f), "{f} not written");
    }
    assert!(
        !r.files.contains_key("modules.weakdep"),
        "kmod 30 writes no modules.weakdep"
    );
}

// ---------------------------------------------------------------- full trees

#[test]
fn debian_tree_plain() {
    let src = debian_tree();
    let (k, _) = compare("debian .ko", |b| drop(clone_tree(&src, b)), &[]);
    index_files_present(&k);
    assert!(k.files["modules.dep"].len() > 100_000);
}

#[test]
fn debian_tree_xz() {
    let src = compressed_debian_tree("xz");
    let (k, _) = compare("debian .ko.xz", |b| drop(clone_tree(&src, b)), &[]);
    assert!(String::from_utf8_lossy(&k.files["modules.dep"]).contains(".ko.xz:"));
}

#[test]
fn debian_tree_zst() {
    let src = compressed_debian_tree("zstd");
    let (k, _) = compare("debian .ko.zst", |b| drop(clone_tree(&src, b)), &[]);
    assert!(String::from_utf8_lossy(&k.files["modules.dep"]).contains(".ko.zst:"));
}

// ---------------------------------------------------------------- small trees

#[test]
fn small_tree_identical() {
    let (k, _) = compare("small", |b| drop(small_tree(b)), &[]);
    index_files_present(&k);
    let dep = String::from_utf8_lossy(&k.files["modules.dep"]).into_owned();
    assert!(
        dep.contains(
            "kernel/drivers/usb/storage/uas.ko: kernel/drivers/usb/storage/usb-storage.ko"
        ),
        "{dep}"
    );
    assert!(!k.files["modules.devname"].is_empty());
}

#[test]
fn small_tree_options() {
    compare("-n", |b| drop(small_tree(b)), &["-n"]);
    compare("-v", |b| drop(small_tree(b)), &["-v"]);
    compare("-w", |b| drop(small_tree(b)), &["-w"]);
    compare("-a", |b| drop(small_tree(b)), &["-a"]);
    compare("-e alone", |b| drop(small_tree(b)), &["-e"]);
    // no modules.order, no builtin files
    compare(
        "no order",
        |b| {
            let d = small_tree(b);
            for f in [
                "modules.order",
                "modules.builtin",
                "modules.builtin.modinfo",
            ] {
                std::fs::remove_file(d.join(f)).unwrap();
            }
        },
        &[],
    );
    // a modules.order whose last line has no newline: kmod keeps hash order
    compare(
        "corrupt order",
        |b| {
            let d = small_tree(b);
            let mut o = std::fs::read(d.join("modules.order")).unwrap();
            o.pop();
            std::fs::write(d.join("modules.order"), o).unwrap();
        },
        &[],
    );
    // -A: nothing to do on an up-to-date tree, full run on a new one
    let t = scratch();
    small_tree(t.path());
    let first = run_depmod(false, t.path(), &["-A"]);
    assert_eq!(first.status, 0);
    let dep = t
        .path()
        .join("lib/modules")
        .join(kver())
        .join("modules.dep");
    let m1 = std::fs::metadata(&dep).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let second = run_depmod(false, t.path(), &["-A"]);
    assert_eq!(second.status, 0);
    assert_eq!(
        std::fs::metadata(&dep).unwrap().modified().unwrap(),
        m1,
        "-A rewrote an up-to-date tree"
    );
    assert_eq!(first.files, second.files);
}

/// The kernel symbols the small tree needs: every undefined symbol no
/// module of the tree exports, with the CRC the modules were built with.
fn kernel_symbols(tree: &Path) -> BTreeMap<String, u64> {
    let mut exported = std::collections::HashSet::new();
    let mut needed = BTreeMap::new();
    for m in SMALL {
        let module = depmod::Module::open(tree.join(m)).unwrap();
        for s in &module.exports {
            exported.insert(s.name_str().into_owned());
        }
        for s in &module.versions {
            needed.insert(s.name_str().into_owned(), s.crc);
        }
        for s in &module.undefined {
            needed.entry(s.name_str().into_owned()).or_insert(0);
        }
    }
    needed.retain(|k, _| !exported.contains(k));
    needed
}

#[test]
fn small_tree_system_map_and_symvers() {
    let t = scratch();
    let tree = small_tree(t.path());
    let syms = kernel_symbols(&tree);
    assert!(syms.len() > 100);
    // System.map: all but every 17th symbol (those become "unknown"), an
    // invalid line, and non-ksymtab lines.
    let mut map = String::from("ffffffff81000000 T _text\nbogus-line-without-spaces\n");
    let mut symvers = String::new();
    for (i, (s, crc)) in syms.iter().enumerate() {
        if i % 17 != 5 {
            map.push_str(&format!("ffffffff8{i:07x} r __ksymtab_{s}\n"));
        }
        if i % 19 != 3 {
            // every 23rd CRC is wrong: "disagrees about version"
            let c = if i % 23 == 7 { crc ^ 0x5a5a } else { *crc };
            symvers.push_str(&format!("0x{c:08x}\t{s}\tvmlinux\tEXPORT_SYMBOL\t\n"));
        }
    }
    symvers.push_str("0x12345678\tsome_module_sym\tdrivers/foo\tEXPORT_SYMBOL_GPL\t\n");
    let mapf = t.path().join("System.map");
    let symf = t.path().join("Module.symvers");
    std::fs::write(&mapf, map).unwrap();
    std::fs::write(&symf, symvers).unwrap();
    let (m, s) = (mapf.to_str().unwrap(), symf.to_str().unwrap());
    let (k, _) = compare("-F -e", |b| drop(small_tree(b)), &["-F", m, "-e"]);
    assert!(k.stderr.contains("needs unknown symbol"), "{}", k.stderr);
    assert!(k.stderr.contains("invalid line"), "{}", k.stderr);
    compare("-F", |b| drop(small_tree(b)), &["-F", m]);
    let (k, _) = compare("-E -e", |b| drop(small_tree(b)), &["-E", s, "-e"]);
    assert!(
        k.stderr.contains("disagrees about version of symbol"),
        "{}",
        k.stderr
    );
    assert!(k.stderr.contains("needs unknown symbol"), "{}", k.stderr);
    compare(
        "-E -F -e",
        |b| drop(small_tree(b)),
        &["-E", s, "-F", m, "-e"],
    );
    compare(
        "missing -F file",
        |b| drop(small_tree(b)),
        &["-F", "/nonexistent/System.map"],
    );
}

#[test]
fn small_tree_compressed() {
    for tool in ["xz", "zstd"] {
        compare(
            tool,
            |b| {
                let d = small_tree(b);
                compress_tree(&d, tool);
            },
            &[],
        );
    }
    // mixed: half compressed
    compare(
        "mixed",
        |b| {
            let d = small_tree(b);
            for (i, m) in SMALL.iter().enumerate() {
                let p = d.join(m);
                let tool = ["xz", "zstd", "none"][i % 3];
                if tool != "none" {
                    let args: &[&str] = if tool == "xz" {
                        &["-q", "-f"]
                    } else {
                        &["-q", "-f", "--rm"]
                    };
                    assert!(Command::new(tool)
                        .args(args)
                        .arg(&p)
                        .status()
                        .unwrap()
                        .success());
                }
            }
        },
        &[],
    );
}

/// .ko.gz: Debian's kmod is built without zlib and skips such files;
/// kforge reads them (as a zlib-enabled kmod does). Its outputs for a
/// gzip tree are kmod's for the uncompressed tree, with `.ko.gz` paths.
#[test]
fn small_tree_gzip() {
    let (a, b) = (scratch(), scratch());
    small_tree(a.path());
    let d = small_tree(b.path());
    compress_tree(&d, "gzip");
    let k = run_depmod(true, a.path(), &[]);
    let f = run_depmod(false, b.path(), &[]);
    assert_eq!(f.status, 0, "{}", f.stderr);
    for n in [
        "modules.alias",
        "modules.alias.bin",
        "modules.softdep",
        "modules.symbols",
        "modules.symbols.bin",
        "modules.devname",
        "modules.builtin.bin",
        "modules.builtin.alias.bin",
    ] {
        same_bytes(n, &k.files[n], &f.files[n]).unwrap();
    }
    let kdep = String::from_utf8_lossy(&k.files["modules.dep"]).replace(".ko", ".ko.gz");
    assert_eq!(kdep, String::from_utf8_lossy(&f.files["modules.dep"]));
}

// ---------------------------------------------------------------- bad input

fn module_path(base: &Path, m: &str) -> PathBuf {
    base.join("lib/modules").join(kver()).join(m)
}

fn read_orig(m: &str) -> Vec<u8> {
    std::fs::read(debian_tree().join(m)).unwrap()
}

/// Offset and size of a section of a 64-bit little-endian ELF.
fn elf_section(data: &[u8], name: &str) -> (usize, usize) {
    let u16_at = |o: usize| u16::from_le_bytes(data[o..o + 2].try_into().unwrap()) as usize;
    let u32_at = |o: usize| u32::from_le_bytes(data[o..o + 4].try_into().unwrap()) as usize;
    let u64_at = |o: usize| u64::from_le_bytes(data[o..o + 8].try_into().unwrap()) as usize;
    let shoff = u64_at(0x28);
    let shnum = u16_at(0x3c);
    let shstrndx = u16_at(0x3e);
    let sh = |i: usize| shoff + i * 64;
    let names = u64_at(sh(shstrndx) + 0x18);
    for i in 0..shnum {
        let n = names + u32_at(sh(i));
        let end = n + data[n..].iter().position(|&c| c == 0).unwrap();
        if &data[n..end] == name.as_bytes() {
            return (u64_at(sh(i) + 0x18), u64_at(sh(i) + 0x20));
        }
    }
    panic!("no section {name}");
}

const VICTIM: &str = "kernel/drivers/usb/storage/uas.ko";

fn broken(label: &str, bytes: impl Fn() -> Vec<u8>, name: &str) -> (Run, Run) {
    compare(
        label,
        |b| {
            small_tree(b);
            let p = module_path(b, VICTIM);
            let _ = std::fs::remove_file(&p);
            replace_file(&p.with_file_name(name), &bytes());
        },
        &[],
    )
}

#[test]
fn bad_truncated_ko() {
    let (k, f) = broken(
        "truncated .ko",
        || read_orig(VICTIM)[..5000].to_vec(),
        "uas.ko",
    );
    assert!(
        f.stderr.contains(&format!(
            "failed to load symbols from <BASE>/lib/modules/{}/kernel/drivers/usb/storage/uas.ko: Invalid argument",
            kver()
        )),
        "{}",
        k.stderr
    );
    // a file too short to tell its compression, and one cut inside the header
    broken("5-byte .ko", || read_orig(VICTIM)[..5].to_vec(), "uas.ko");
    broken("40-byte .ko", || read_orig(VICTIM)[..40].to_vec(), "uas.ko");
    // only the last byte missing (the section header table is cut)
    broken(
        "last byte cut",
        || {
            let d = read_orig(VICTIM);
            d[..d.len() - 1].to_vec()
        },
        "uas.ko",
    );
    // section headers intact, .symtab pointing past the end: kmod skips it
    broken(
        "symtab out of bounds",
        || {
            let mut d = read_orig(VICTIM);
            let shoff = u64::from_le_bytes(d[0x28..0x30].try_into().unwrap()) as usize;
            let shnum = u16::from_le_bytes(d[0x3c..0x3e].try_into().unwrap()) as usize;
            let (off, _) = elf_section(&d, ".symtab");
            for i in 0..shnum {
                let sh = shoff + i * 64;
                if u64::from_le_bytes(d[sh + 0x18..sh + 0x20].try_into().unwrap()) as usize == off {
                    d[sh + 0x18..sh + 0x20].copy_from_slice(&(1u64 << 40).to_le_bytes());
                }
            }
            d
        },
        "uas.ko",
    );
}

#[test]
fn bad_random_bytes_ko() {
    let (_, f) = broken("random .ko", || kforge_testkit::noise(20_000, 7), "uas.ko");
    assert!(
        f.stderr.contains("uas.ko: Exec format error"),
        "{}",
        f.stderr
    );
    broken(
        "ELF magic then noise",
        || {
            let mut v = b"\x7fELF\x02\x01\x01".to_vec();
            v.extend(kforge_testkit::noise(20_000, 9));
            v
        },
        "uas.ko",
    );
    broken("empty .ko", Vec::new, "uas.ko");
}

#[test]
fn bad_compressed() {
    let pipe = |tool: &str, d: &[u8]| {
        let mut c = Command::new(tool)
            .args(["-c", "-q"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut i = c.stdin.take().unwrap();
        let d = d.to_vec();
        let w = std::thread::spawn(move || i.write_all(&d));
        let out = c.wait_with_output().unwrap().stdout;
        w.join().unwrap().unwrap();
        out
    };
    let xz = |d: &[u8]| pipe("xz", d);
    let (_, f) = broken(
        "truncated .ko.xz",
        || {
            let c = xz(&read_orig(VICTIM));
            c[..c.len() / 2].to_vec()
        },
        "uas.ko.xz",
    );
    assert!(
        f.stderr.contains("uas.ko.xz: Invalid argument"),
        "{}",
        f.stderr
    );
    broken(
        "corrupt .ko.xz",
        || {
            let mut c = xz(&read_orig(VICTIM));
            let n = c.len();
            for b in &mut c[n / 3..n / 3 + 64] {
                *b ^= 0x55;
            }
            c
        },
        "uas.ko.xz",
    );
    let zst = |d: &[u8]| pipe("zstd", d);
    broken(
        "truncated .ko.zst",
        || {
            let c = zst(&read_orig(VICTIM));
            c[..c.len() / 2].to_vec()
        },
        "uas.ko.zst",
    );
    broken(
        "corrupt .ko.zst",
        || {
            let mut c = zst(&read_orig(VICTIM));
            let n = c.len();
            for b in &mut c[n / 3..n / 3 + 64] {
                *b ^= 0x55;
            }
            c
        },
        "uas.ko.zst",
    );
    // an uncompressed module named .ko.xz: kmod goes by content
    broken("plain named .ko.xz", || read_orig(VICTIM), "uas.ko.xz");
}

#[test]
fn bad_wrong_architecture() {
    // e_machine patched to AArch64: kmod indexes it all the same; kforge
    // does too (identical files) and warns, naming the file.
    let fix = |s: &str| {
        s.lines()
            .filter(|l| !l.contains("ELF machine"))
            .map(|l| format!("{l}\n"))
            .collect::<String>()
    };
    let (_, f) = compare_with(
        "aarch64 .ko",
        |b| {
            small_tree(b);
            let mut d = read_orig(VICTIM);
            d[18..20].copy_from_slice(&183u16.to_le_bytes());
            replace_file(&module_path(b, VICTIM), &d);
        },
        &[],
        fix,
    );
    assert!(
        f.stderr.contains(
            "uas.ko: ELF machine 183 (aarch64) differs from the other modules' 62 (x86_64)"
        ),
        "{}",
        f.stderr
    );
    // the library API refuses it when asked for x86_64
    let t = scratch();
    let mut d = read_orig(VICTIM);
    d[18..20].copy_from_slice(&183u16.to_le_bytes());
    let p = t.path().join("uas.ko");
    std::fs::write(&p, d).unwrap();
    let e = depmod::Module::open(&p)
        .unwrap()
        .check_machine(object_em_x86_64())
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("uas.ko: ELF machine 183 (aarch64) is not the expected 62 (x86_64)"),
        "{e}"
    );
}

fn object_em_x86_64() -> u16 {
    62
}

#[test]
fn bad_garbage_modinfo() {
    // random bytes over .modinfo: kmod reads whatever strings are there
    broken(
        "garbage .modinfo",
        || {
            let mut d = read_orig(VICTIM);
            let (off, size) = elf_section(&d, ".modinfo");
            d[off..off + size].copy_from_slice(&kforge_testkit::noise(size, 3));
            d
        },
        "uas.ko",
    );
    // printable garbage, with '=' and NULs, and a bracket-broken alias
    broken(
        "text garbage .modinfo",
        || {
            let mut d = read_orig(VICTIM);
            let (off, size) = elf_section(&d, ".modinfo");
            let mut g: Vec<u8> = kforge_testkit::noise(size, 5)
                .iter()
                .map(|&c| match c % 7 {
                    0 => 0,
                    1 => b'=',
                    _ => b'a' + c % 26,
                })
                .collect();
            let bad = b"alias=usb:v[12-\0alias=x]y\0softdep=pre: a\0alias=devname:foo\0alias=char-major-10-999\0";
            g[..bad.len()].copy_from_slice(bad);
            d[off..off + size].copy_from_slice(&g);
            d
        },
        "uas.ko",
    );
}

#[test]
fn bad_modinfo_high_bytes() {
    // An alias with bytes >= 0x80: the index format is 7-bit; kmod's check
    // misses them (signed char) and indexes out of bounds. kforge refuses
    // with an error naming the module and writes nothing.
    let t = scratch();
    small_tree(t.path());
    let mut d = read_orig(VICTIM);
    let (off, size) = elf_section(&d, ".modinfo");
    let bad = b"alias=usb:\xff\xfe\0";
    let s = &mut d[off..off + size];
    s[..bad.len()].copy_from_slice(bad);
    replace_file(&module_path(t.path(), VICTIM), &d);
    let f = run_depmod(false, t.path(), &[]);
    assert_eq!(f.status, 1, "{}", f.stderr);
    assert!(
        f.stderr
            .contains("depmod: FATAL: Module index: bad character"),
        "{}",
        f.stderr
    );
    assert!(f.stderr.contains("storage/uas.ko: usb:"), "{}", f.stderr);
    assert!(
        !f.files.contains_key("modules.dep"),
        "files written despite the error: {:?}",
        f.files.keys()
    );
    assert!(f.files.is_empty(), "leftovers: {:?}", f.files.keys());
}

/// Rename `old` to `new` (same length or shorter) in a module's string
/// table, where it is a whole NUL-terminated string.
fn rename_symbol(d: &mut [u8], old: &str, new: &str) {
    assert!(new.len() <= old.len());
    let (off, size) = elf_section(d, ".strtab");
    let tab = &mut d[off..off + size];
    let pat = [b"\0", old.as_bytes(), b"\0"].concat();
    let at = tab
        .windows(pat.len())
        .position(|w| w == pat)
        .unwrap_or_else(|| panic!("{old} not in .strtab"))
        + 1;
    tab[at..at + old.len()].fill(0);
    tab[at..at + new.len()].copy_from_slice(new.as_bytes());
}

#[test]
fn dependency_cycle() {
    // usbcore needs usb-common's usb_speed_string; make usb-common need a
    // usbcore export in return (a symbol renamed in its string table).
    let make = |b: &Path| {
        small_tree(b);
        let p = module_path(b, "kernel/drivers/usb/common/usb-common.ko");
        let mut d = read_orig("kernel/drivers/usb/common/usb-common.ko");
        let common = depmod::Module::from_bytes("usb-common.ko", &d).unwrap();
        let core =
            depmod::Module::open(debian_tree().join("kernel/drivers/usb/core/usbcore.ko")).unwrap();
        let needed: Vec<String> = common
            .undefined
            .iter()
            .map(|s| s.name_str().into_owned())
            .collect();
        let exports: Vec<String> = core
            .exports
            .iter()
            .map(|s| s.name_str().into_owned())
            .collect();
        let (old, new) = needed
            .iter()
            .filter(|n| !n.starts_with("__"))
            .find_map(|o| {
                exports
                    .iter()
                    .find(|e| e.len() <= o.len())
                    .map(|e| (o.clone(), e.clone()))
            })
            .expect("a symbol to rename");
        rename_symbol(&mut d, &old, &new);
        replace_file(&p, &d);
    };
    let (k, f) = compare("cycle", make, &[]);
    assert_eq!(k.status, 1);
    assert!(f.stderr.contains("Cycle detected: "), "{}", f.stderr);
    assert!(
        f.stderr.contains("Found 2 modules in dependency cycles!"),
        "{}",
        f.stderr
    );
    assert!(
        f.files.is_empty(),
        "files written despite the cycle: {:?}",
        f.files.keys()
    );
    // a longer cycle: usb-storage -> usbcore -> usb-common -> usb-storage
    let make3 = |b: &Path| {
        small_tree(b);
        let p = module_path(b, "kernel/drivers/usb/common/usb-common.ko");
        let mut d = read_orig("kernel/drivers/usb/common/usb-common.ko");
        let common = depmod::Module::from_bytes("usb-common.ko", &d).unwrap();
        let stor =
            depmod::Module::open(debian_tree().join("kernel/drivers/usb/storage/usb-storage.ko"))
                .unwrap();
        let (old, new) = common
            .undefined
            .iter()
            .map(|s| s.name_str().into_owned())
            .filter(|n| !n.starts_with("__"))
            .find_map(|o| {
                stor.exports
                    .iter()
                    .map(|e| e.name_str().into_owned())
                    .find(|e| e.len() <= o.len())
                    .map(|e| (o, e))
            })
            .expect("a symbol to rename");
        rename_symbol(&mut d, &old, &new);
        replace_file(&p, &d);
    };
    let (k, _) = compare("3-cycle", make3, &[]);
    assert!(k.stderr.contains("Cycle detected"), "{}", k.stderr);
}

// ---------------------------------------------------------------- library

// `Module` on its own (module_api) is tested in crates/depmod/tests/debian.rs.

#[test]
fn small_tree_config_and_files() {
    // duplicates in updates/ and extra/, resolved by search and override
    let t = scratch();
    let conf = t.path().join("depmod.d");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(conf.join("a.conf"), "# test\nsearch updates extra built-in\noverride fuse * extra\nexclude ignored\nbogus line\n").unwrap();
    std::fs::write(
        conf.join("b.conf"),
        "override usbcore 5\\.* updates\ninclude x\n",
    )
    .unwrap();
    std::fs::write(conf.join("notconf"), "search nothing\n").unwrap();
    let c = conf.to_str().unwrap();
    let dup = |b: &Path| {
        let d = small_tree(b);
        for (sub, m) in [
            ("updates", "kernel/drivers/usb/storage/uas.ko"),
            ("extra", "kernel/drivers/usb/storage/uas.ko"),
            ("extra", "kernel/fs/fuse/fuse.ko"),
            ("updates", "kernel/fs/fuse/fuse.ko"),
            ("updates/x", "kernel/drivers/usb/core/usbcore.ko"),
            ("ignored", "kernel/lib/crc16.ko"),
        ] {
            let p = d.join(sub).join(Path::new(m).file_name().unwrap());
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            link_or_copy(&debian_tree().join(m), &p);
        }
    };
    let (k, _) = compare("-C", dup, &["-C", c]);
    let dep = String::from_utf8_lossy(&k.files["modules.dep"]).into_owned();
    assert!(
        dep.contains("extra/fuse.ko:") && dep.contains("updates/uas.ko:"),
        "{dep}"
    );
    compare("default config", dup, &[]);
    // explicit module files instead of the whole tree
    let (a, b) = (scratch(), scratch());
    let (da, db) = (small_tree(a.path()), small_tree(b.path()));
    let files = |d: &Path| -> Vec<String> {
        [
            "kernel/drivers/usb/storage/uas.ko",
            "kernel/drivers/usb/storage/usb-storage.ko",
            "kernel/drivers/usb/core/usbcore.ko",
        ]
        .iter()
        .map(|m| d.join(m).to_str().unwrap().to_string())
        .collect()
    };
    let (fa, fb) = (files(&da), files(&db));
    let mut ka = Command::new(KMOD_DEPMOD);
    ka.arg("-b").arg(a.path()).arg(kver()).args(&fa);
    let mut kb = Command::new(env!("CARGO_BIN_EXE_kforge"));
    kb.arg("depmod")
        .arg("-b")
        .arg(b.path())
        .arg(kver())
        .args(&fb);
    let (oa, ob) = (ka.output().unwrap(), kb.output().unwrap());
    assert_eq!(oa.status.code(), ob.status.code());
    for f in depmod::generate::OUTPUT_FILES {
        same_bytes(
            f,
            &std::fs::read(da.join(f)).unwrap(),
            &std::fs::read(db.join(f)).unwrap(),
        )
        .unwrap();
    }
    // a relative module path is refused, as by kmod
    let st = Command::new(env!("CARGO_BIN_EXE_kforge"))
        .args(["depmod", "-b"])
        .arg(b.path())
        .args([kver(), "uas.ko"])
        .output()
        .unwrap();
    assert_eq!(st.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&st.stderr).contains("depmod: FATAL: uas.ko: not absolute path.")
    );
    // a bad version string
    let k = Command::new(KMOD_DEPMOD)
        .args(["-b", "/nonexistent", "notaversion"])
        .output()
        .unwrap();
    let f = Command::new(env!("CARGO_BIN_EXE_kforge"))
        .args(["depmod", "-b", "/nonexistent", "notaversion"])
        .output()
        .unwrap();
    assert_eq!(k.status.code(), f.status.code());
    assert_eq!(
        String::from_utf8_lossy(&k.stderr),
        String::from_utf8_lossy(&f.stderr)
    );
    // a missing module directory
    let k = Command::new(KMOD_DEPMOD)
        .args(["-b", "/nonexistent", kver()])
        .output()
        .unwrap();
    let f = Command::new(env!("CARGO_BIN_EXE_kforge"))
        .args(["depmod", "-b", "/nonexistent", kver()])
        .output()
        .unwrap();
    assert_eq!(k.status.code(), f.status.code());
    assert_eq!(
        String::from_utf8_lossy(&k.stderr),
        String::from_utf8_lossy(&f.stderr)
    );
}
