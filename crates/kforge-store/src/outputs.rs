//! What goes into a store entry, besides what `make modules_install` and
//! `make dtbs_install` write there themselves.
//!
//! * `kernel/`: the boot image (`bzImage`, `Image`, ...), `System.map`,
//!   `config` (the final `.config`), `vmlinux` when asked for, and any other
//!   declared target that is a file of the build directory or of
//!   `arch/$SRCARCH/boot/`.
//! * `dev/`: what out-of-tree modules are built against, as one directory
//!   that looks like a configured, prepared in-tree build, so
//!   `make -C <entry>/dev M=$PWD modules` works (see [`collect_dev`]).
//! * [`hash_tree`]: every file of the entry with its SHA-256, for the
//!   manifest.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::sha256_file;

/// Copy a file (permissions kept) or a symlink (as a symlink), creating the
/// parent directories.
fn copy_entry(src: &Path, dst: &Path) -> io::Result<()> {
    if let Some(p) = dst.parent() {
        fs::create_dir_all(p)?;
    }
    let meta = fs::symlink_metadata(src)?;
    if meta.file_type().is_symlink() {
        let target = fs::read_link(src)?;
        let _ = fs::remove_file(dst);
        std::os::unix::fs::symlink(target, dst)
    } else {
        fs::copy(src, dst).map(|_| ())
    }
}

/// Copy the tree `src` into `dst`, skipping directories for which
/// `skip_dir(relative path, name)` holds and files for which `skip_file`
/// holds.
fn copy_tree(
    src: &Path,
    dst: &Path,
    skip_dir: &dyn Fn(&Path, &str) -> bool,
    skip_file: &dyn Fn(&str) -> bool,
) -> io::Result<()> {
    fn walk(
        root: &Path,
        rel: &Path,
        dst: &Path,
        skip_dir: &dyn Fn(&Path, &str) -> bool,
        skip_file: &dyn Fn(&str) -> bool,
    ) -> io::Result<()> {
        let mut entries: Vec<_> = fs::read_dir(root.join(rel))?.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = e.file_name().to_string_lossy().into_owned();
            let r = rel.join(&name);
            let ft = e.file_type()?;
            if ft.is_dir() {
                if !skip_dir(&r, &name) {
                    walk(root, &r, dst, skip_dir, skip_file)?;
                }
            } else if !skip_file(&name) {
                copy_entry(&root.join(&r), &dst.join(&r))?;
            }
        }
        Ok(())
    }
    if !src.is_dir() {
        return Ok(());
    }
    walk(src, Path::new(""), dst, skip_dir, skip_file)
}

/// The `CONFIG_` settings of a `.config` text: name (without `CONFIG_`) →
/// value as written (`y`, `m`, a number, a string in its quotes); unset
/// symbols are absent. Lines are read by [`kconfig_engine::parse_config`].
pub fn parse_config(text: &str) -> BTreeMap<String, String> {
    kconfig_engine::parse_config(text, "CONFIG_")
        .into_iter()
        .filter_map(|e| Some((e.name.to_string(), e.written?.to_string())))
        .collect()
}

/// Features of a configuration that the users of a kernel ask about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Features {
    pub modules: bool,
    pub efi_stub: bool,
    pub ia32_emulation: bool,
    pub rust: bool,
    pub btf: bool,
    pub btf_modules: bool,
    pub of: bool,
    pub objtool: bool,
    pub gcc_plugins: bool,
}

/// [`Features`] of a `.config` text.
pub fn config_features(config: &str) -> Features {
    let c = parse_config(config);
    let y = |k: &str| c.get(k).is_some_and(|v| v == "y");
    Features {
        modules: y("MODULES"),
        efi_stub: y("EFI_STUB"),
        ia32_emulation: y("IA32_EMULATION"),
        rust: y("RUST"),
        btf: y("DEBUG_INFO_BTF"),
        btf_modules: y("DEBUG_INFO_BTF_MODULES"),
        of: y("OF"),
        objtool: y("OBJTOOL"),
        gcc_plugins: y("GCC_PLUGINS"),
    }
}

/// Fill `dest` (the entry's `kernel/`): the image at `image` (relative to
/// `objdir`), `System.map`, `config` (the text given), `vmlinux` when
/// `with_vmlinux`, and every target in `targets` that names a file of
/// `objdir` or of `objdir/arch/<srcarch>/boot`. Returns the files copied,
/// relative to `dest`.
pub fn collect_kernel(
    objdir: &Path,
    srcarch: &str,
    image: Option<&str>,
    targets: &[String],
    config: &str,
    with_vmlinux: bool,
    dest: &Path,
) -> io::Result<Vec<String>> {
    fs::create_dir_all(dest)?;
    let mut copied: Vec<String> = Vec::new();
    let take = |src: PathBuf, copied: &mut Vec<String>| -> io::Result<()> {
        let name = src
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if src.is_file() && !copied.contains(&name) {
            fs::copy(&src, dest.join(&name))?;
            copied.push(name);
        }
        Ok(())
    };
    if let Some(img) = image {
        let p = objdir.join(img);
        if !p.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("the kernel image {} was not built", p.display()),
            ));
        }
        take(p, &mut copied)?;
    }
    for t in targets {
        if t.contains('/') {
            take(objdir.join(t), &mut copied)?;
            continue;
        }
        if t == "vmlinux" || t.ends_with(".map") {
            take(objdir.join(t), &mut copied)?;
        }
        take(
            objdir.join("arch").join(srcarch).join("boot").join(t),
            &mut copied,
        )?;
    }
    take(objdir.join("System.map"), &mut copied)?;
    if with_vmlinux {
        take(objdir.join("vmlinux"), &mut copied)?;
    }
    fs::write(dest.join("config"), config)?;
    copied.push("config".into());
    Ok(copied)
}

/// Fill `dest` (the entry's `dev/`) with what building external modules
/// needs, laid out like an in-tree build (source and objects in one
/// directory, so `srctree` = `objtree` = `dev/`):
///
/// from the source tree: the top `Makefile`, `arch/<srcarch>/Makefile*`,
/// every `include` directory under `arch/<srcarch>` (generated ones aside),
/// the `Kbuild.platforms` and `Platform` files there, `include/` (without
/// `config/` and `generated/`, which come from the build), and `scripts/`;
///
/// from the build directory: `.config`, `Module.symvers`,
/// `include/config/auto.conf`, `include/config/kernel.release`,
/// `include/generated/`, `arch/<srcarch>/include/generated/`, `scripts/`
/// (kbuild's host programs: `fixdep`, `modpost`, `module.lds`, ...), and
/// `tools/objtool/objtool` or `tools/bpf/resolve_btfids/resolve_btfids`
/// when the configuration runs them on modules.
///
/// `scripts/` leaves out what only the kernel's own build uses (`atomic`,
/// `dtc`, `kconfig`, `package`, `unifdef`, `mk_elfconfig`).
pub fn collect_dev(
    tree: &Path,
    objdir: &Path,
    srcarch: &str,
    config: &str,
    dest: &Path,
) -> io::Result<()> {
    let features = config_features(config);
    fs::create_dir_all(dest)?;
    let none_dir = |_: &Path, _: &str| false;
    let none_file = |_: &str| false;
    let scripts_dir = |_: &Path, n: &str| matches!(n, "atomic" | "dtc" | "kconfig" | "package");
    let scripts_file = |n: &str| matches!(n, "unifdef" | "mk_elfconfig");

    // ---- the source tree
    copy_entry(&tree.join("Makefile"), &dest.join("Makefile"))?;
    let arch_rel = Path::new("arch").join(srcarch);
    let arch_src = tree.join(&arch_rel);
    for e in fs::read_dir(&arch_src)?.flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.starts_with("Makefile") && e.file_type()?.is_file() {
            copy_entry(&e.path(), &dest.join(&arch_rel).join(&n))?;
        }
    }
    // Walk arch/<srcarch>: include directories whole, platform files.
    fn arch_walk(root: &Path, rel: &Path, dest: &Path) -> io::Result<()> {
        for e in fs::read_dir(root.join(rel))?.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            let r = rel.join(&n);
            let ft = e.file_type()?;
            if ft.is_dir() {
                if n == "generated" {
                    continue;
                }
                if n == "include" {
                    copy_tree(
                        &root.join(&r),
                        &dest.join(&r),
                        &|_, n| n == "generated",
                        &|_| false,
                    )?;
                } else {
                    arch_walk(root, &r, dest)?;
                }
            } else if n == "Kbuild.platforms" || n == "Platform" {
                copy_entry(&root.join(&r), &dest.join(&r))?;
            }
        }
        Ok(())
    }
    arch_walk(tree, &arch_rel, dest)?;
    copy_tree(
        &tree.join("include"),
        &dest.join("include"),
        &|rel, n| rel.components().count() == 1 && (n == "config" || n == "generated"),
        &none_file,
    )?;
    copy_tree(
        &tree.join("scripts"),
        &dest.join("scripts"),
        &scripts_dir,
        &scripts_file,
    )?;

    // ---- the build directory
    fs::write(dest.join(".config"), config)?;
    for f in [
        "Module.symvers",
        "include/config/auto.conf",
        "include/config/kernel.release",
    ] {
        if objdir.join(f).exists() {
            copy_entry(&objdir.join(f), &dest.join(f))?;
        }
    }
    if features.objtool && objdir.join("tools/objtool/objtool").is_file() {
        copy_entry(
            &objdir.join("tools/objtool/objtool"),
            &dest.join("tools/objtool/objtool"),
        )?;
    }
    if features.btf_modules {
        let f = "tools/bpf/resolve_btfids/resolve_btfids";
        if objdir.join(f).is_file() {
            copy_entry(&objdir.join(f), &dest.join(f))?;
        }
    }
    for d in [
        PathBuf::from("include/generated"),
        arch_rel.join("include/generated"),
    ] {
        copy_tree(&objdir.join(&d), &dest.join(&d), &none_dir, &none_file)?;
    }
    copy_tree(
        &objdir.join("scripts"),
        &dest.join("scripts"),
        &scripts_dir,
        &scripts_file,
    )?;
    Ok(())
}

/// One file of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileHash {
    /// Relative to the entry, `/`-separated.
    pub path: String,
    pub size: u64,
    /// SHA-256 in hex; for a symlink, of its target's text.
    pub sha256: String,
    /// The target of a symlink.
    pub link: Option<String>,
}

/// Every file and symlink under `root`, sorted by path, except the
/// relative paths in `exclude`.
pub fn hash_tree(root: &Path, exclude: &[&str]) -> io::Result<Vec<FileHash>> {
    fn walk(root: &Path, rel: &str, exclude: &[&str], out: &mut Vec<FileHash>) -> io::Result<()> {
        let dir = if rel.is_empty() {
            root.to_path_buf()
        } else {
            root.join(rel)
        };
        for e in fs::read_dir(&dir)?.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let r = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            if exclude.contains(&r.as_str()) {
                continue;
            }
            let ft = e.file_type()?;
            if ft.is_symlink() {
                let t = fs::read_link(e.path())?.to_string_lossy().into_owned();
                out.push(FileHash {
                    path: r,
                    size: t.len() as u64,
                    sha256: crate::sha256_hex(t.as_bytes()),
                    link: Some(t),
                });
            } else if ft.is_dir() {
                walk(root, &r, exclude, out)?;
            } else {
                out.push(FileHash {
                    size: e.metadata()?.len(),
                    sha256: sha256_file(&e.path())?,
                    path: r,
                    link: None,
                });
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(root, "", exclude, &mut out)?;
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_config_keeps_values_as_written() {
        let c =
            parse_config("# x\nCONFIG_A=y\n# CONFIG_B is not set\nCONFIG_S=\"a b\"\nCONFIG_A=m\n");
        let got: Vec<(&str, &str)> = c.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(got, [("A", "m"), ("S", "\"a b\"")]);
    }

    #[test]
    fn features_and_hashes() {
        let f = config_features("CONFIG_MODULES=y\n# CONFIG_RUST is not set\nCONFIG_EFI_STUB=y\n");
        assert!(f.modules && f.efi_stub && !f.rust && !f.btf);
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("a/b")).unwrap();
        fs::write(d.path().join("a/b/f"), "x").unwrap();
        fs::write(d.path().join("m.json"), "{}").unwrap();
        std::os::unix::fs::symlink("b/f", d.path().join("a/l")).unwrap();
        let h = hash_tree(d.path(), &["m.json"]).unwrap();
        let paths: Vec<&str> = h.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["a/b/f", "a/l"]);
        assert_eq!(h[0].sha256, crate::sha256_hex(b"x"));
        assert_eq!(h[1].link.as_deref(), Some("b/f"));
    }
}
