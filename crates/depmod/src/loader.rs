//! Module loaders: a directory that holds only a closure's modules, the
//! depmod files for that subset (so `modprobe` works on the target too),
//! the firmware they ask for, `load.sh` and `unload.sh` (POSIX sh that
//! busybox runs), an s6-rc oneshot and a systemd unit.
//!
//! Layout of a loader directory `OUT`:
//! - `lib/modules/<version>/…`: the modules at their tree paths, the
//!   subset's `modules.order`, the tree's `modules.builtin*`, and depmod's
//!   index files for the subset;
//! - `lib/firmware/…`: firmware files found for the closure;
//! - `load.sh`, `unload.sh`;
//! - `s6-rc/kforge-modules-<name>/{type,up,down}`,
//!   `systemd/kforge-modules-<name>.service`;
//! - `.kforge-loader`: marks the directory as ours, so writing a loader
//!   again replaces it and never replaces anything else.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::closure::{Closure, Tree};

/// Marker file of a loader directory.
pub const MARK: &str = ".kforge-loader";

/// Why a loader could not be written. Each variant names the path.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The loader name cannot name files and services.
    #[error(
        "loader name '{0}' is not usable: use letters, digits, _ - . @ and do not start with '.'"
    )]
    BadName(String),
    /// The output exists, is not empty and is not a loader.
    #[error("{} exists and is not a kforge loader; refusing to replace it", .0.display())]
    NotALoader(PathBuf),
    /// A file operation failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done ("writing", "copying", ...).
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A compressed module could not be decompressed.
    #[error("decompressing {}: {reason}", path.display())]
    Decompress {
        /// The module file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// depmod on the subset failed.
    #[error("depmod on {}: {reason}", dir.display())]
    Depmod {
        /// The loader directory.
        dir: PathBuf,
        /// depmod's message and log.
        reason: String,
    },
}

/// How to write a loader.
#[derive(Debug, Clone)]
pub struct Options {
    /// Loader name: the marker in the run directory and the service names.
    pub name: String,
    /// Kernel version (the directory under `lib/modules`).
    pub version: String,
    /// Write modules decompressed (`.ko`) instead of as built.
    pub decompress: bool,
    /// Where the loader directory will be on the target (used by the
    /// service files); `None`: the output's absolute path.
    pub prefix: Option<PathBuf>,
    /// The firmware directory the closure's firmware was found in.
    pub firmware_dir: Option<PathBuf>,
}

/// What a loader holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Modules in load order.
    pub modules: Vec<String>,
    /// Targets that are built into the kernel.
    pub builtin: Vec<String>,
    /// Firmware files copied.
    pub firmware: usize,
}

fn io<T>(r: std::io::Result<T>, what: &'static str, p: &Path) -> Result<T, Error> {
    r.map_err(|source| Error::Io {
        what,
        path: p.to_path_buf(),
        source,
    })
}

fn strip_compression(rel: &Path) -> PathBuf {
    let s = rel.to_string_lossy();
    for ext in [".xz", ".zst", ".gz"] {
        if let Some(t) = s.strip_suffix(ext) {
            return PathBuf::from(t);
        }
    }
    rel.to_path_buf()
}

/// Whether `n` can name a loader (files, markers and services).
pub fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && !n.starts_with('.')
        && n.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b'@'))
}

fn create_parent(p: &Path) -> Result<(), Error> {
    match p.parent() {
        Some(d) => io(std::fs::create_dir_all(d), "creating", d),
        None => Ok(()),
    }
}

/// Write the loader for closure `c` of `tree` into `out` (created; an
/// earlier loader there is replaced).
pub fn write(tree: &Tree, c: &Closure, out: &Path, opts: &Options) -> Result<Summary, Error> {
    let name = &opts.name;
    if !valid_name(name) {
        return Err(Error::BadName(name.clone()));
    }
    let version = &opts.version;
    if out.exists() {
        let empty = io(std::fs::read_dir(out), "reading", out)?.next().is_none();
        if !empty {
            if !out.join(MARK).is_file() {
                return Err(Error::NotALoader(out.to_path_buf()));
            }
            io(std::fs::remove_dir_all(out), "removing", out)?;
        }
    }
    io(std::fs::create_dir_all(out), "creating", out)?;
    let out = io(out.canonicalize(), "resolving", out)?;
    io(
        std::fs::write(out.join(MARK), ""),
        "writing",
        &out.join(MARK),
    )?;
    let moddir = out.join("lib/modules").join(version);
    io(std::fs::create_dir_all(&moddir), "creating", &moddir)?;

    // Modules, as built or decompressed.
    let mut rels = Vec::new();
    for m in &c.modules {
        let src = tree.dir().join(&m.path);
        let rel = if opts.decompress {
            strip_compression(&m.path)
        } else {
            m.path.clone()
        };
        let dst = moddir.join(&rel);
        create_parent(&dst)?;
        let data = io(std::fs::read(&src), "reading", &src)?;
        let comp = crate::file::detect(&data);
        let data = if opts.decompress && comp != crate::Compression::None {
            crate::file::decompress(&data, comp).map_err(|e| Error::Decompress {
                path: src.clone(),
                reason: format!("{e:?}"),
            })?
        } else {
            data
        };
        io(std::fs::write(&dst, data), "writing", &dst)?;
        rels.push((m.name.clone(), rel));
    }
    // modules.order (the subset, in the tree's order) and the builtin
    // lists, then depmod for the subset.
    let order_src = tree.dir().join("modules.order");
    let mut order = String::new();
    if let Ok(text) = std::fs::read_to_string(&order_src) {
        for l in text.lines() {
            let n = crate::name::path_to_name(l.as_bytes()).unwrap_or_default();
            let n = String::from_utf8_lossy(&n);
            if let Some((_, rel)) = rels.iter().find(|(m, _)| *m == n) {
                let _ = writeln!(order, "{}", strip_compression(rel).display());
            }
        }
    }
    let order_dst = moddir.join("modules.order");
    io(std::fs::write(&order_dst, order), "writing", &order_dst)?;
    for f in ["modules.builtin", "modules.builtin.modinfo"] {
        let p = tree.dir().join(f);
        if p.is_file() {
            io(std::fs::copy(&p, moddir.join(f)), "copying", &p)?;
        }
    }
    // No depmod.d of the host: the subset's indexes depend on the tree alone.
    let depmod_opts = crate::generate::Options {
        basedir: Some(out.clone()),
        version: Some(version.clone()),
        config: vec![PathBuf::from("/dev/null")],
        jobs: 1,
        ..Default::default()
    };
    let mut log = crate::generate::MemLog::default();
    crate::generate::run(&depmod_opts, &mut log).map_err(|e| Error::Depmod {
        dir: out.clone(),
        reason: format!("{e}\n{}", log.stderr()),
    })?;

    // Firmware.
    let mut firmware = 0;
    for f in &c.firmware {
        if let (Some(src), Some(fwdir)) = (&f.found, &opts.firmware_dir) {
            let rel = src.strip_prefix(fwdir).unwrap_or(Path::new(&f.file));
            let dst = out.join("lib/firmware").join(rel);
            create_parent(&dst)?;
            io(std::fs::copy(src, &dst), "copying", src)?;
            firmware += 1;
        }
    }

    // Scripts and services.
    let s = Scripts {
        name,
        version,
        modules: &rels,
        firmware: firmware > 0,
    };
    write_exec(&out.join("load.sh"), &s.load())?;
    write_exec(&out.join("unload.sh"), &s.unload())?;
    let prefix = opts.prefix.clone().unwrap_or_else(|| out.clone());
    let svc = format!("kforge-modules-{name}");
    let s6 = out.join("s6-rc").join(&svc);
    io(std::fs::create_dir_all(&s6), "creating", &s6)?;
    let p = prefix.display();
    for (f, body) in [
        ("type", "oneshot\n".to_string()),
        ("up", format!("{p}/load.sh\n")),
        ("down", format!("{p}/unload.sh\n")),
    ] {
        io(std::fs::write(s6.join(f), body), "writing", &s6.join(f))?;
    }
    let sd = out.join("systemd");
    io(std::fs::create_dir_all(&sd), "creating", &sd)?;
    let unit = format!(
        "[Unit]\nDescription=kforge module loader {name}\nDefaultDependencies=no\n\
         Before=sysinit.target shutdown.target\nConflicts=shutdown.target\n\n\
         [Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart={p}/load.sh\nExecStop={p}/unload.sh\n\n\
         [Install]\nWantedBy=sysinit.target\n"
    );
    let unit_path = sd.join(format!("{svc}.service"));
    io(std::fs::write(&unit_path, unit), "writing", &unit_path)?;
    Ok(Summary {
        modules: rels.into_iter().map(|(m, _)| m).collect(),
        builtin: c.builtin.clone(),
        firmware,
    })
}

fn write_exec(p: &Path, body: &str) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt as _;
    io(std::fs::write(p, body), "writing", p)?;
    io(
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)),
        "chmod",
        p,
    )
}

/// The loader scripts (POSIX sh; dash and busybox ash run them).
pub struct Scripts<'a> {
    /// Loader name.
    pub name: &'a str,
    /// Kernel version (directory under lib/modules).
    pub version: &'a str,
    /// (module name, path relative to lib/modules/VERSION), load order.
    pub modules: &'a [(String, PathBuf)],
    /// Whether lib/firmware holds files.
    pub firmware: bool,
}

const COMMON: &str = r#"set -u
proc=${KFORGE_PROC_MODULES:-/proc/modules}
run=${KFORGE_RUN_DIR:-/run/kforge}/loaders
say() { echo "kforge loader $name: $*" >&2; }

# refcount MODULE: print the module's use count from $proc; fails when
# the module is not loaded.
refcount() {
	while read -r m _ r _; do
		if [ "$m" = "$1" ]; then
			echo "$r"
			return 0
		fi
	done <"$proc"
	return 1
}
"#;

impl Scripts<'_> {
    fn header(&self, what: &str) -> String {
        format!(
            "#!/bin/sh\n# kforge module loader '{n}' (generated by kforge): {what}\n\
             # Environment: KFORGE_PROC_MODULES (default /proc/modules),\n\
             # KFORGE_RUN_DIR (default /run/kforge; markers in loaders/NAME),\n\
             # KFORGE_INSMOD, KFORGE_RMMOD (default insmod, rmmod).\n\
             name='{n}'\n{COMMON}",
            n = self.name,
        )
    }

    /// `load.sh`: insmod in order, skip loaded modules, stop on failure.
    pub fn load(&self) -> String {
        let mut s = self.header(
            "load the modules in dependency order,\n# skipping those already loaded; stops at the first failure.",
        );
        s.push_str(
            r#"dir=$(cd "$(dirname "$0")" && pwd) || exit 1
moddir=$dir/lib/modules/"#,
        );
        s.push_str(self.version);
        s.push_str(
            r#"
KFORGE_SYS_DIR=${KFORGE_SYS_DIR:-/sys}

load() {
	if refcount "$1" >/dev/null; then
		return 0
	fi
	if ! ${KFORGE_INSMOD:-insmod} "$moddir/$2"; then
		say "insmod $moddir/$2 failed (module $1); stopping, the modules after it are not loaded"
		exit 1
	fi
}

mkdir -p "$run" || {
	say "cannot create $run"
	exit 1
}
# The marker lists what this loader needs, so that other loaders'
# unload.sh leave these modules alone while this one is active.
cat >"$run/$name" <<'EOF'
"#,
        );
        for (m, _) in self.modules {
            let _ = writeln!(s, "{m}");
        }
        s.push_str("EOF\n");
        if self.firmware {
            s.push_str(
                r#"# Let the kernel find this loader's firmware when no path is set.
fwpath=$KFORGE_SYS_DIR/module/firmware_class/parameters/path
if [ -w "$fwpath" ] && [ -z "$(cat "$fwpath")" ]; then
	printf '%s' "$dir/lib/firmware" >"$fwpath" || say "cannot set $fwpath"
fi
"#,
            );
        }
        s.push('\n');
        for (m, rel) in self.modules {
            let _ = writeln!(s, "load {m} '{}'", rel.display());
        }
        s.push_str("exit 0\n");
        s
    }

    /// `unload.sh`: rmmod in reverse order, keeping modules in use, needed
    /// by another active loader, or permanent (no exit function).
    pub fn unload(&self) -> String {
        let mut s = self.header(
            "remove the modules in reverse order,\n# keeping those still used (refcount in /proc/modules) or needed by another\n# active loader (its marker in $KFORGE_RUN_DIR/loaders).",
        );
        s.push_str(
            r#"status=0
rm -f "$run/$name"

# needed_by MODULE: print the first other active loader listing it.
needed_by() {
	for f in "$run"/*; do
		[ -f "$f" ] || continue
		if grep -qxF "$1" "$f"; then
			echo "${f##*/}"
			return 0
		fi
	done
	return 1
}

# permanent MODULE: whether the kernel lists it as [permanent] among its
# users (an init function without an exit function).
permanent() {
	while read -r m _ _ u _; do
		if [ "$m" = "$1" ]; then
			case $u in *"[permanent]"*) return 0 ;; esac
			return 1
		fi
	done <"$proc"
	return 1
}

unload() {
	r=$(refcount "$1") || return 0
	if other=$(needed_by "$1"); then
		say "keeping $1: loader $other needs it"
		return 0
	fi
	if [ "$r" != 0 ]; then
		say "keeping $1: in use (use count $r)"
		return 0
	fi
	if permanent "$1"; then
		say "keeping $1: permanent (it has no exit function, so the kernel cannot unload it)"
		return 0
	fi
	if ! ${KFORGE_RMMOD:-rmmod} "$1"; then
		say "rmmod $1 failed"
		status=1
	fi
}

"#,
        );
        for (m, _) in self.modules.iter().rev() {
            let _ = writeln!(s, "unload {m}");
        }
        s.push_str("exit $status\n");
        s
    }
}
