//! `kforge modules closure|loader`: what a requirement needs from a module
//! tree, and a directory that loads exactly that.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use kmod::closure::{Closure, Options, Tree};

/// Module closures and loaders
#[derive(Debug, Args)]
pub struct ModulesArgs {
    #[command(subcommand)]
    pub command: ModulesCmd,
}

#[derive(Debug, Subcommand)]
pub enum ModulesCmd {
    /// Print the modules a requirement needs, in load order, with firmware
    Closure(TreeArgs),
    /// Write a loader: the closure's modules, depmod files, firmware,
    /// load.sh/unload.sh, an s6-rc oneshot and a systemd unit
    Loader(LoaderArgs),
}

/// Where the modules are and what is wanted.
#[derive(Debug, Args)]
pub struct TreeArgs {
    /// A root holding lib/modules/VERSION, or lib/modules, or the
    /// lib/modules/VERSION directory itself (depmod'ed)
    #[arg(long = "modules", value_name = "DIR")]
    pub modules: PathBuf,
    /// Kernel version
    #[arg(long = "version", value_name = "V")]
    pub version: String,
    /// Firmware directory (/lib/firmware layout)
    #[arg(long = "firmware", value_name = "DIR")]
    pub firmware: Option<PathBuf>,
    /// Include weak dependencies (modules.weakdep / weakdep=)
    #[arg(long = "weak")]
    pub weak: bool,
    /// Module names (with - or _), aliases, or symbol:NAME
    #[arg(value_name = "TARGET", required = true)]
    pub targets: Vec<String>,
}

/// `kforge modules loader`.
#[derive(Debug, Args)]
pub struct LoaderArgs {
    #[command(flatten)]
    pub tree: TreeArgs,
    /// Output directory (created; replaced if it holds an earlier loader)
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    pub out: PathBuf,
    /// Write modules decompressed (.ko) instead of as built
    #[arg(long = "decompress")]
    pub decompress: bool,
    /// Loader name (marker file, service names); default: OUT's file name
    #[arg(long = "name")]
    pub name: Option<String>,
    /// Where OUT will be on the target (for the service files); default:
    /// OUT's absolute path
    #[arg(long = "prefix", value_name = "PATH")]
    pub prefix: Option<PathBuf>,
}

/// Run the command; returns the exit code.
pub fn run(a: ModulesArgs) -> i32 {
    let r = match a.command {
        ModulesCmd::Closure(t) => closure(&t).map(|(_, c)| print_closure(&c)),
        ModulesCmd::Loader(l) => loader(&l),
    };
    match r {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("kforge: error: {e}");
            1
        }
    }
}

fn tree_dir(dir: &Path, version: &str) -> Result<PathBuf, String> {
    for c in [
        dir.join("lib/modules").join(version),
        dir.join(version),
        dir.to_path_buf(),
    ] {
        if c.join("modules.dep").is_file() {
            return Ok(c);
        }
    }
    Err(format!(
        "no modules.dep under {} for version {version} (looked in lib/modules/{version}, {version} and the directory itself; run depmod first)",
        dir.display()
    ))
}

fn closure(t: &TreeArgs) -> Result<(Tree, Closure), String> {
    let dir = tree_dir(&t.modules, &t.version)?;
    let tree = Tree::open(&dir).map_err(|e| e.to_string())?;
    let opts = Options {
        weak: t.weak,
        firmware_dir: t.firmware.clone(),
    };
    let c = tree.closure(&t.targets, &opts).map_err(|e| e.to_string())?;
    for w in &c.warnings {
        eprintln!("kforge: warning: {w}");
    }
    Ok((tree, c))
}

fn print_closure(c: &Closure) {
    let mut s = String::new();
    for m in &c.modules {
        let _ = writeln!(s, "module {} {}", m.name, m.path.display());
    }
    for b in &c.builtin {
        let _ = writeln!(s, "builtin {b}");
    }
    for f in &c.firmware {
        let _ = writeln!(
            s,
            "firmware {} {}{}",
            f.module,
            f.file,
            match &f.found {
                Some(p) => format!(" {}", p.display()),
                None => String::new(),
            }
        );
    }
    print!("{s}");
}

const MARK: &str = ".kforge-loader";

fn io<T>(r: std::io::Result<T>, what: &str, p: &Path) -> Result<T, String> {
    r.map_err(|e| format!("{what} {}: {e}", p.display()))
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

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && !n.starts_with('.')
        && n.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b'@'))
}

fn loader(a: &LoaderArgs) -> Result<(), String> {
    let (tree, c) = closure(&a.tree)?;
    let version = &a.tree.version;
    let name = match &a.name {
        Some(n) => n.clone(),
        None => a
            .out
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    if !valid_name(&name) {
        return Err(format!(
            "loader name '{name}' is not usable (letters, digits, _ - . @; give --name)"
        ));
    }
    // Prepare OUT: new, empty, or an earlier loader of ours.
    let out = &a.out;
    if out.exists() {
        let empty = io(std::fs::read_dir(out), "reading", out)?.next().is_none();
        if !empty {
            if !out.join(MARK).is_file() {
                return Err(format!(
                    "{} exists and is not a kforge loader; refusing to replace it",
                    out.display()
                ));
            }
            io(std::fs::remove_dir_all(out), "removing", out)?;
        }
    }
    io(std::fs::create_dir_all(out), "creating", out)?;
    let out = io(out.canonicalize(), "resolving", out)?;
    io(std::fs::write(out.join(MARK), ""), "writing", &out)?;
    let moddir = out.join("lib/modules").join(version);

    // Modules, as built or decompressed.
    let mut rels = Vec::new();
    for m in &c.modules {
        let src = tree.dir().join(&m.path);
        let rel = if a.decompress {
            strip_compression(&m.path)
        } else {
            m.path.clone()
        };
        let dst = moddir.join(&rel);
        io(
            std::fs::create_dir_all(dst.parent().unwrap()),
            "creating",
            &dst,
        )?;
        let data = io(std::fs::read(&src), "reading", &src)?;
        let comp = kmod::file::detect(&data);
        let data = if a.decompress && comp != kmod::Compression::None {
            kmod::file::decompress(&data, comp)
                .map_err(|e| format!("decompressing {}: {e:?}", src.display()))?
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
            let n = kmod::name::path_to_name(l.as_bytes()).unwrap_or_default();
            let n = String::from_utf8_lossy(&n);
            if let Some((_, rel)) = rels.iter().find(|(m, _)| *m == n) {
                let _ = writeln!(order, "{}", strip_compression(rel).display());
            }
        }
    }
    io(
        std::fs::write(moddir.join("modules.order"), order),
        "writing",
        &moddir,
    )?;
    for f in ["modules.builtin", "modules.builtin.modinfo"] {
        let p = tree.dir().join(f);
        if p.is_file() {
            io(std::fs::copy(&p, moddir.join(f)), "copying", &p)?;
        }
    }
    let opts = kmod::depmod::Options {
        basedir: Some(out.clone()),
        version: Some(version.clone()),
        jobs: 1,
        ..Default::default()
    };
    let mut log = kmod::depmod::MemLog::default();
    kmod::depmod::run(&opts, &mut log)
        .map_err(|e| format!("depmod on {}: {e}\n{}", out.display(), log.stderr()))?;

    // Firmware.
    let mut has_firmware = false;
    for f in &c.firmware {
        if let (Some(src), Some(fwdir)) = (&f.found, &a.tree.firmware) {
            let rel = src.strip_prefix(fwdir).unwrap_or(Path::new(&f.file));
            let dst = out.join("lib/firmware").join(rel);
            io(
                std::fs::create_dir_all(dst.parent().unwrap()),
                "creating",
                &dst,
            )?;
            io(std::fs::copy(src, &dst), "copying", src)?;
            has_firmware = true;
        }
    }

    // Scripts and services.
    let s = Scripts {
        name: &name,
        version,
        modules: &rels,
        firmware: has_firmware,
    };
    write_exec(&out.join("load.sh"), &s.load())?;
    write_exec(&out.join("unload.sh"), &s.unload())?;
    let prefix = a.prefix.clone().unwrap_or_else(|| out.clone());
    let svc = format!("kforge-modules-{name}");
    let s6 = out.join("s6-rc").join(&svc);
    io(std::fs::create_dir_all(&s6), "creating", &s6)?;
    let p = prefix.display();
    for (f, body) in [
        ("type", "oneshot\n".to_string()),
        ("up", format!("{p}/load.sh\n")),
        ("down", format!("{p}/unload.sh\n")),
    ] {
        io(std::fs::write(s6.join(f), body), "writing", &s6)?;
    }
    let sd = out.join("systemd");
    io(std::fs::create_dir_all(&sd), "creating", &sd)?;
    let unit = format!(
        "[Unit]\nDescription=kforge module loader {name}\nDefaultDependencies=no\n\
         Before=sysinit.target shutdown.target\nConflicts=shutdown.target\n\n\
         [Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart={p}/load.sh\nExecStop={p}/unload.sh\n\n\
         [Install]\nWantedBy=sysinit.target\n"
    );
    io(
        std::fs::write(sd.join(format!("{svc}.service")), unit),
        "writing",
        &sd,
    )?;
    eprintln!(
        "kforge: loader {name}: {} modules, {} built in, {} firmware files in {}",
        c.modules.len(),
        c.builtin.len(),
        c.firmware.iter().filter(|f| f.found.is_some()).count(),
        out.display()
    );
    Ok(())
}

fn write_exec(p: &Path, body: &str) -> Result<(), String> {
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

    /// `unload.sh`: rmmod in reverse order, keeping modules in use or
    /// needed by another active loader.
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
