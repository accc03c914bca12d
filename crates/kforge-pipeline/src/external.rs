//! Out-of-tree modules: the `[external.NAME]` modules built with an
//! entry, and a module directory built against an entry's `dev/`
//! ([`build_module`]). Every module they install must carry the kernel's
//! `vermagic` ([`check_vermagic`]).

use std::path::{Path, PathBuf};

use crate::build::{make_step, Log, Observer};
use crate::error::{io, Error};
use crate::manifest::Manifest;
use crate::plan::Plan;

/// Where an external module is built: a copy of its source in the build
/// directory (kbuild writes its objects next to the sources; the user's
/// directory is never written to).
fn external_build_dir(objdir: &Path, name: &str) -> PathBuf {
    objdir.join(".kforge-external").join(name)
}

/// The subdirectory of `lib/modules/<release>/` an external's modules are
/// installed in.
fn external_install_dir(name: &str) -> String {
    format!("extra/{name}")
}

/// Build and install each out-of-tree module, in order, against the
/// kernel just built (`make M=<copy> modules`, then `modules_install` into
/// `extra/NAME`), each given the `Module.symvers` of the externals it
/// uses. Returns each external with the modules its build listed.
pub(crate) fn build_externals<'p>(
    p: &'p Plan,
    dirlock: &kforge_store::BuildDirLock,
    log: &mut Log,
    obs: &mut dyn Observer,
    out: &Path,
) -> Result<Vec<(&'p crate::source::ExternalTree, Vec<String>)>, Error> {
    let objdir = &p.make.objdir;
    let mut built = Vec::new();
    for e in &p.source.externals {
        let dir = external_build_dir(objdir, &e.name);
        kforge_store::sync_module_source(&e.dir, &dir)
            .map_err(io(format!("copying external module `{}`", e.name)))?;
        let named = |r: Result<u64, Error>| {
            r.map_err(|err| Error::External {
                name: e.name.clone(),
                source: Box::new(err),
            })
        };
        let mut args = vec![format!("M={}", dir.display())];
        let symvers: Vec<String> = e
            .declared
            .uses
            .iter()
            .map(|u| {
                external_build_dir(objdir, u)
                    .join("Module.symvers")
                    .display()
                    .to_string()
            })
            .collect();
        if !symvers.is_empty() {
            args.push(format!("KBUILD_EXTRA_SYMBOLS={}", symvers.join(" ")));
        }
        args.extend(e.declared.make_flags.iter().cloned());
        let mut build = args.clone();
        build.push("modules".into());
        let step = format!("external {}", e.name);
        named(make_step(p, dirlock, log, obs, &step, &build, None))?;
        let mut install = args;
        install.extend([
            "modules_install".to_string(),
            format!("INSTALL_MOD_PATH={}", out.join("modules").display()),
            format!("INSTALL_MOD_DIR={}", external_install_dir(&e.name)),
            "DEPMOD=true".to_string(),
        ]);
        if p.strip_modules {
            install.push("INSTALL_MOD_STRIP=1".into());
        }
        named(make_step(p, dirlock, log, obs, &step, &install, None))?;
        let modules = modules_order(&dir)
            .into_iter()
            .map(|m| m.strip_prefix(&dir).unwrap_or(&m).display().to_string())
            .collect();
        built.push((e, modules));
    }
    Ok(built)
}

/// The modules an external installed, relative to the entry: what its
/// `modules.order` lists, found under `extra/NAME`.
pub(crate) fn installed_modules(
    out: &Path,
    release: &str,
    name: &str,
    order: &[String],
) -> Vec<String> {
    let base = Path::new("modules/lib/modules")
        .join(release)
        .join(external_install_dir(name));
    order
        .iter()
        .map(|m| {
            let ko = Path::new(m).with_extension("ko");
            base.join(ko).display().to_string()
        })
        .filter(|rel| out.join(rel).is_file())
        .collect()
}

/// The modules kbuild built in the module directory `dir`, from its
/// `modules.order` (paths relative to `dir` or absolute, `.o` or `.ko` as
/// the kernel's version writes them), as `.ko` paths.
fn modules_order(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_to_string(dir.join("modules.order"))
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| dir.join(Path::new(l).with_extension("ko")))
        .collect()
}

/// Add each external's exported symbols to the entry's
/// `dev/Module.symvers`, so a module built against `dev/` can use them;
/// each symbol's module is named as installed (`extra/NAME/module`), not by
/// its place in the build directory.
pub(crate) fn append_symvers(p: &Plan, symvers: &Path) -> Result<(), Error> {
    let mut text = std::fs::read(symvers).unwrap_or_default();
    for e in &p.source.externals {
        let dir = external_build_dir(&p.make.objdir, &e.name);
        let Ok(theirs) = std::fs::read_to_string(dir.join("Module.symvers")) else {
            continue;
        };
        let prefix = format!("{}/", dir.display());
        for line in theirs.lines() {
            let mut fields: Vec<String> = line.split('\t').map(str::to_string).collect();
            if let Some(module) = fields.get_mut(2) {
                let rel = module.strip_prefix(&prefix).unwrap_or(module).to_string();
                *module = format!("{}/{rel}", external_install_dir(&e.name));
            }
            text.extend_from_slice(fields.join("\t").as_bytes());
            text.push(b'\n');
        }
    }
    kforge_fs::write_atomic(symvers, &text).map_err(|e| Error::Write {
        path: symvers.to_path_buf(),
        source: e.source,
    })
}

/// Every module under `moddir/extra` must carry the kernel's `vermagic`
/// (that of its own modules; at least its release as the first word): a
/// module built for another kernel would be refused by it at load time.
pub fn check_vermagic(moddir: &Path, release: &str) -> Result<(), Error> {
    let expected = first_vermagic(&moddir.join("kernel"));
    let mut stack = vec![moddir.join("extra")];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let path = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path);
            } else if path.to_string_lossy().contains(".ko") {
                check_module_vermagic(&path, release, expected.as_deref())?;
            }
        }
    }
    Ok(())
}

/// One module's `vermagic` against the kernel's (`expected`) or, without
/// it, against the release.
pub fn check_module_vermagic(
    module: &Path,
    release: &str,
    expected: Option<&str>,
) -> Result<(), Error> {
    let m = depmod::Module::open(module).map_err(|e| Error::Io {
        what: format!("reading {}", module.display()),
        source: std::io::Error::other(e.to_string()),
    })?;
    let got = m.modinfo.vermagic().unwrap_or_default();
    let got_release = got.split_whitespace().next().unwrap_or("(none)");
    let fine = match expected {
        Some(x) => got.trim() == x.trim(),
        None => got_release == release,
    };
    if fine {
        return Ok(());
    }
    Err(Error::WrongVermagic {
        module: module.to_path_buf(),
        built_for: if got_release == release {
            got.trim().to_string()
        } else {
            got_release.to_string()
        },
        release: release.to_string(),
        expected: expected.unwrap_or(release).trim().to_string(),
    })
}

/// The `vermagic` of the first module found under `dir`.
fn first_vermagic(dir: &Path) -> Option<String> {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).ok()?.flatten() {
            let path = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path);
            } else if path.to_string_lossy().contains(".ko") {
                if let Some(v) = depmod::Module::open(&path)
                    .ok()
                    .and_then(|m| m.modinfo.vermagic())
                {
                    return Some(v);
                }
            }
        }
    }
    None
}

/// What a make run showed, kept to be shown later ([`build_module_against`]).
#[derive(Default)]
struct Recorded(Vec<(u8, String, Option<u64>)>);

impl Observer for Recorded {
    fn step(&mut self, name: &str, expected: Option<u64>) {
        self.0.push((0, name.to_string(), expected));
    }
    fn line(&mut self, line: &str) {
        self.0.push((1, line.to_string(), None));
    }
    fn step_done(&mut self) {
        self.0.push((2, String::new(), None));
    }
}

impl Recorded {
    fn replay(self, obs: &mut dyn Observer) {
        for (kind, text, expected) in self.0 {
            match kind {
                0 => obs.step(&text, expected),
                1 => obs.line(&text),
                _ => obs.step_done(),
            }
        }
    }
}

/// [`build_module`] against the entry `entry` finds (or builds), with the
/// module built against `guess` (the entry it was built against last, as
/// the result link says) at the same time: when `entry` gives that entry,
/// the module is ready as soon as it is found; when not, the module is
/// built again against the right one (kbuild sees the other headers and
/// compiles again). The module loop's edit → `.ko` costs the module's own
/// make, not that plus finding the entry.
pub fn build_module_against(
    store: &kforge_store::Store,
    guess: Option<&Path>,
    entry: impl FnOnce() -> Result<PathBuf, Error>,
    dir: &Path,
    make_flags: &[String],
    obs: &mut dyn Observer,
) -> Result<Vec<PathBuf>, Error> {
    std::thread::scope(|s| {
        // The early build's errors are not kept (they are not Send): a
        // failed early build is run again below, where they are reported.
        let early = guess.map(|g| {
            s.spawn(move || {
                let mut shown = Recorded::default();
                let built = build_module(store, g, dir, make_flags, &mut shown).ok();
                (built, shown)
            })
        });
        let entry = entry()?;
        if let Some((Some(built), shown)) = early.and_then(|h| h.join().ok()) {
            if guess == Some(entry.as_path()) {
                shown.replay(obs);
                return Ok(built);
            }
        }
        build_module(store, &entry, dir, make_flags, obs)
    })
}

/// Build the module directory `dir` against the entry's `dev/` (`make -C
/// <entry>/dev M=<dir> modules` with the entry's architecture, cross
/// prefix, LLVM and reproducibility environment), in place and
/// incrementally as kbuild does, and check each module's `vermagic`.
/// Returns the modules built. The log is kept in the store's
/// `module-logs/`.
pub fn build_module(
    store: &kforge_store::Store,
    entry: &Path,
    dir: &Path,
    make_flags: &[String],
    obs: &mut dyn Observer,
) -> Result<Vec<PathBuf>, Error> {
    let manifest = Manifest::read(entry).map_err(|e| Error::Io {
        what: "reading the entry's manifest".into(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let dev = entry.join("dev");
    if !manifest.features.modules || !dev.is_dir() {
        return Err(Error::Io {
            what: format!("{}: building a module against it", entry.display()),
            source: std::io::Error::other(
                "the kernel was built without modules (CONFIG_MODULES off)",
            ),
        });
    }
    let dir = std::fs::canonicalize(dir).map_err(|source| Error::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    if !dir.join("Kbuild").is_file() && !dir.join("Makefile").is_file() {
        return Err(Error::Io {
            what: format!("{}: building a module", dir.display()),
            source: std::io::Error::other("the directory has no Kbuild or Makefile"),
        });
    }
    let arg = |prefix: &str| {
        manifest
            .make
            .iter()
            .find_map(|a| a.strip_prefix(prefix))
            .map(str::to_string)
    };
    let mut env = kforge_store::clean_env(std::env::vars_os());
    env.extend(
        manifest
            .environment
            .iter()
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    let make = kforge_store::Make {
        program: "make".into(),
        tree: dev.clone(),
        objdir: dev,
        arch: manifest.arch.clone(),
        cross_compile: arg("CROSS_COMPILE="),
        llvm: arg("LLVM="),
        cc: arg("CC="),
        jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
        keep_going: false,
        flags: make_flags.to_vec(),
        env,
    };
    let logs = store.root().join("module-logs");
    std::fs::create_dir_all(&logs).map_err(io(logs.display().to_string()))?;
    let name = kforge_store::sha256_hex(dir.as_os_str().as_encoded_bytes());
    let mut log = Log::create(logs.join(format!("{}.log", &name[..32])))?;
    let target = [format!("M={}", dir.display()), "modules".to_string()];
    crate::build::run_make(
        &make,
        std::process::Stdio::null(),
        &mut log,
        obs,
        "module",
        &target,
        None,
    )?;
    use std::io::Write as _;
    log.file
        .flush()
        .map_err(io(format!("writing the build log {}", log.path.display())))?;
    let expected = first_vermagic(
        &entry
            .join("modules/lib/modules")
            .join(&manifest.kernel_release)
            .join("kernel"),
    );
    let mut built = Vec::new();
    for ko in modules_order(&dir) {
        check_module_vermagic(&ko, &manifest.kernel_release, expected.as_deref())?;
        built.push(ko);
    }
    Ok(built)
}
