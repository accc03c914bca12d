//! Stage 5, the store entry: a [`Plan`] built by make into a
//! content-addressed store entry, or found there.
//!
//! Under the key's lock and the build directory's lock: write the
//! `.config` into the build directory, check that `make olddefconfig`
//! leaves it unchanged, build, install modules (and dtbs), run kforge's
//! depmod and write the loaders, collect the outputs, write the
//! [`Manifest`], rename the entry into place, and point the result link at
//! it. Nothing is printed: progress reaches the front through an
//! [`Observer`], failures as [`Error`]s.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use kforge_distribute::compile_cache::Counts;
use kforge_store::Store;

use crate::error::{io, Error};
use crate::manifest::{self, Manifest};
use crate::plan::Plan;
use crate::resolved::config_value;

/// Where the service files of an entry's loaders expect them on the
/// target: `<LOADER_PREFIX>/<NAME>` (the scripts themselves run anywhere).
pub const LOADER_PREFIX: &str = "/lib/kforge/loaders";

/// What a build shows while it runs. Every method has a default that
/// shows nothing.
pub trait Observer {
    /// Waiting for a lock another build holds: `what` names it.
    fn waiting(&mut self, _what: &Wait<'_>) {}
    /// make starts a step (`config`, `build`, `modules_install`,
    /// `dtbs_install`); `expected`: the compile lines of the last build.
    fn step(&mut self, _name: &str, _expected: Option<u64>) {}
    /// A line make printed, in the step begun last.
    fn line(&mut self, _line: &str) {}
    /// The step begun last ended.
    fn step_done(&mut self) {}
    /// A loader was written for `[modules.NAME]`.
    fn loader(&mut self, _set: &str, _summary: &depmod::loader::Summary) {}
    /// The entry is there: built now, found, or substituted.
    fn done(&mut self, _entry: &StoreEntry) {}
    /// A substituter did not give the entry (`url`, and why); the next one
    /// is tried, then the build goes on locally.
    fn substitute_miss(&mut self, _url: &str, _miss: &crate::substitute::Miss) {}
}

/// An [`Observer`] that shows nothing.
pub struct Quiet;

impl Observer for Quiet {}

/// A lock a build waits for.
pub enum Wait<'a> {
    /// Another build of the same store key.
    Key { entry: &'a str },
    /// The build directory, used by another build (or a killed one's jobs).
    BuildDir { dir: &'a Path },
}

/// A store entry, found or built.
#[derive(Debug, Clone)]
pub struct StoreEntry {
    /// The entry's directory.
    pub path: PathBuf,
    /// Whether it existed (a store hit) rather than being built now.
    pub hit: bool,
    /// The result link pointed at it.
    pub link: PathBuf,
    /// Seconds spent building (0 for a hit).
    pub seconds: f64,
    /// Fetched from a binary cache instead of built: from where, how big,
    /// how long it took.
    pub substituted: Option<crate::substitute::Substituted>,
}

/// Point `out_link` at an entry that exists, and record the use.
pub fn store_hit(store: &Store, entry: &Path, out_link: &Path) -> Result<StoreEntry, Error> {
    store.touch_entry(entry);
    let link = store
        .add_root(entry, out_link)
        .map_err(io(format!("linking {}", out_link.display())))?;
    Ok(StoreEntry {
        path: entry.to_path_buf(),
        hit: true,
        link,
        seconds: 0.0,
        substituted: None,
    })
}

/// Point `out_link` at entry `name`, just substituted.
pub(crate) fn substituted(
    store: &Store,
    name: &str,
    s: crate::substitute::Substituted,
    out_link: &Path,
    obs: &mut dyn Observer,
) -> Result<StoreEntry, Error> {
    let path = store.entry_path(name);
    let link = store
        .add_root(&path, out_link)
        .map_err(io(format!("linking {}", out_link.display())))?;
    let entry = StoreEntry {
        path,
        hit: false,
        link,
        seconds: s.seconds,
        substituted: Some(s),
    };
    obs.done(&entry);
    Ok(entry)
}

/// Build `plan` into `store` (or find its entry, built meanwhile by
/// another process), and point `out_link` at it.
pub fn build(
    store: &Store,
    plan: &Plan,
    out_link: &Path,
    obs: &mut dyn Observer,
) -> Result<StoreEntry, Error> {
    let lock = store
        .lock_key(&plan.hash, &mut || {
            obs.waiting(&Wait::Key { entry: &plan.name })
        })
        .map_err(io("locking the store key"))?;
    if let Some(entry) = store.existing(&plan.name) {
        let hit = store_hit(store, &entry, out_link)?;
        obs.done(&hit);
        return Ok(hit);
    }
    if let Some(s) =
        crate::substitute::substitute(store, &lock, &plan.name, &plan.substituters, obs)
    {
        return substituted(store, &plan.name, s, out_link, obs);
    }
    let t0 = Instant::now();
    let entry = build_entry(store, &lock, plan, obs)?;
    let link = store
        .add_root(&entry, out_link)
        .map_err(io(format!("linking {}", out_link.display())))?;
    let built = StoreEntry {
        path: entry,
        hit: false,
        link,
        seconds: t0.elapsed().as_secs_f64(),
        substituted: None,
    };
    obs.done(&built);
    Ok(built)
}

/// The configuration `make olddefconfig` changed: `CONFIG_X (a -> b)`.
fn config_changes(before: &str, after: &str) -> Vec<String> {
    let a = kforge_store::parse_config(before);
    let b = kforge_store::parse_config(after);
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| {
            format!(
                "CONFIG_{k} ({} -> {})",
                a.get(k).map_or("unset", String::as_str),
                b.get(k).map_or("unset", String::as_str)
            )
        })
        .collect()
}

/// The image when `make image_name` cannot tell (kernels before it).
fn default_image(srcarch: &str) -> String {
    let name = match srcarch {
        "x86" => "bzImage",
        "arm64" | "riscv" => "Image",
        "arm" => "zImage",
        _ => return "vmlinux".into(),
    };
    format!("arch/{srcarch}/boot/{name}")
}

/// The entry's kernel image, relative to the build directory: the
/// architecture's image (`make image_name`) when it was built on purpose;
/// else the first declared target that is a file in `arch/$SRCARCH/boot`
/// (arm64's `Image`, where `make image_name` says `Image.gz`, which that
/// target does not build); else the architecture's image if the build
/// directory has one; else none.
fn entry_image(
    image: &str,
    image_required: bool,
    declared: &[String],
    srcarch: &str,
    is_file: impl Fn(&str) -> bool,
) -> Option<String> {
    if image_required {
        return Some(image.to_string());
    }
    declared
        .iter()
        .map(|t| {
            if t.contains('/') {
                t.clone()
            } else {
                format!("arch/{srcarch}/boot/{t}")
            }
        })
        .find(|f| is_file(f))
        .or_else(|| is_file(image).then(|| image.to_string()))
}

/// The build log of a build directory, and make run into it.
pub(crate) struct Log {
    pub(crate) path: PathBuf,
    pub(crate) file: std::io::BufWriter<std::fs::File>,
}

impl Log {
    /// A new log at `path` (replacing an earlier one).
    pub(crate) fn create(path: PathBuf) -> Result<Log, Error> {
        let file = std::fs::File::create(&path).map_err(io(path.display().to_string()))?;
        Ok(Log {
            file: std::io::BufWriter::new(file),
            path,
        })
    }

    /// [`Error::Make`] for a failed make: the first error lines of the log,
    /// or its last lines.
    fn failed(&mut self, error: kforge_store::MakeError) -> Error {
        if let Err(e) = self.file.flush() {
            return Error::Io {
                what: format!("writing the build log {}", self.path.display()),
                source: e,
            };
        }
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(source) => {
                return Error::Read {
                    path: self.path.clone(),
                    source,
                }
            }
        };
        let (errors, make_lines) = kforge_store::first_errors(&text, 10);
        let errors_found = !errors.is_empty();
        let excerpt = if errors_found {
            errors
                .into_iter()
                .chain(make_lines.into_iter().take(3))
                .collect()
        } else {
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(10)..]
                .iter()
                .map(|l| l.to_string())
                .collect()
        };
        Error::Make {
            error,
            excerpt,
            errors_found,
            log: self.path.clone(),
        }
    }
}

/// Run make for `targets` as step `step`, counting compile lines.
pub(crate) fn make_step(
    plan: &Plan,
    dirlock: &kforge_store::BuildDirLock,
    log: &mut Log,
    obs: &mut dyn Observer,
    step: &str,
    targets: &[String],
    expected: Option<u64>,
) -> Result<u64, Error> {
    let stdin = dirlock
        .inherit()
        .map_err(io("passing the build directory lock to make"))?;
    run_make(&plan.make, stdin, log, obs, step, targets, expected)
}

/// Run `make` for `targets` as step `step` with `stdin`, counting compile
/// lines.
pub(crate) fn run_make(
    make: &kforge_store::Make,
    stdin: std::process::Stdio,
    log: &mut Log,
    obs: &mut dyn Observer,
    step: &str,
    targets: &[String],
    expected: Option<u64>,
) -> Result<u64, Error> {
    obs.step(step, expected);
    let mut count = 0;
    let r = make.run(targets, stdin, &mut log.file, &mut |l| {
        if kforge_store::quiet_line(l).is_some() {
            count += 1;
        }
        obs.line(l)
    });
    obs.step_done();
    match r {
        Ok(()) => Ok(count),
        Err(e) => Err(log.failed(e)),
    }
}

/// What the compile cache did during the build: its counters now less
/// `before`. A cache that does not answer is noted in the build log, and
/// the manifest goes without counts.
fn compile_cache_counts(
    p: &Plan,
    before: Option<Result<Counts, String>>,
    log: &mut Log,
) -> Option<manifest::CompileCache> {
    let cache = p.compile_cache.as_ref()?;
    let counted = match (before?, cache.counts(&p.make.env)?) {
        (Ok(before), Ok(after)) => Ok(after.since(&before)),
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    match counted {
        Ok(c) => Some(manifest::CompileCache {
            launcher: "sccache".to_string(),
            location: c.location,
            requests: c.requests,
            hits: c.hits,
            misses: c.misses,
            errors: c.errors,
        }),
        Err(e) => {
            let _ = writeln!(log.file, "kforge: no compile cache counts: {e}");
            None
        }
    }
}

/// Build the entry.
fn build_entry(
    store: &Store,
    lock: &kforge_store::KeyLock,
    p: &Plan,
    obs: &mut dyn Observer,
) -> Result<PathBuf, Error> {
    let objdir = &p.make.objdir;
    let dirlock = store
        .lock_build_dir(objdir, &mut || obs.waiting(&Wait::BuildDir { dir: objdir }))
        .map_err(io(format!("locking {}", objdir.display())))?;
    let tmp = store
        .begin(lock, &p.hash, &p.name)
        .map_err(io("creating the store entry"))?;
    let mut log = Log::create(objdir.join("kforge-build.log"))?;
    let mut durations: BTreeMap<String, f64> = BTreeMap::new();
    let mut took = |name: &str, t: Instant| {
        durations.insert(
            name.to_string(),
            (t.elapsed().as_secs_f64() * 100.0).round() / 100.0,
        );
    };

    // The compile cache's counters before make runs (sccache).
    let cache_before = p.compile_cache.as_ref().and_then(|c| c.counts(&p.make.env));

    // ---- the configuration, and the check that it is make's fixed point
    let t = Instant::now();
    let config_path = objdir.join(".config");
    if std::fs::read_to_string(&config_path).ok().as_deref() != Some(p.config.as_str()) {
        kforge_fs::write_atomic(&config_path, p.config.as_bytes()).map_err(|e| Error::Write {
            path: config_path.clone(),
            source: e.source,
        })?;
    }
    make_step(
        p,
        &dirlock,
        &mut log,
        obs,
        "config",
        &["olddefconfig".to_string()],
        None,
    )?;
    let after = std::fs::read_to_string(&config_path).map_err(|source| Error::Read {
        path: config_path.clone(),
        source,
    })?;
    let changes = config_changes(&p.config, &after);
    if !changes.is_empty() {
        return Err(Error::NotFixedPoint {
            changes,
            config: config_path,
        });
    }
    took("olddefconfig", t);

    // ---- what to build
    let features = kforge_store::config_features(&p.config);
    let stdin = dirlock
        .inherit()
        .map_err(io("passing the build directory lock to make"))?;
    let image = p
        .make
        .capture(&["image_name".to_string()], stdin)
        .ok()
        .and_then(|s| {
            s.lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(|l| l.trim().to_string())
        })
        .unwrap_or_else(|| default_image(&p.srcarch));
    let image_name = image.rsplit('/').next().unwrap_or(&image).to_string();
    // The image is required when it is built on purpose: by default, or
    // when declared; declared targets without it (`vmlinux` alone) are
    // collected as they are.
    let image_required = p.declared_targets.is_empty() || p.declared_targets.contains(&image_name);
    let mut targets = if p.declared_targets.is_empty() {
        vec![image_name.clone()]
    } else {
        p.declared_targets.clone()
    };
    if features.modules && !targets.iter().any(|t| t == "modules") {
        targets.push("modules".into());
    }
    let dtbs = features.of
        && p.source
            .tree
            .join("arch")
            .join(&p.srcarch)
            .join("boot/dts")
            .is_dir();
    if dtbs && !targets.iter().any(|t| t == "dtbs") {
        targets.push("dtbs".into());
    }

    // ---- the build
    let t = Instant::now();
    let count_path = objdir.join(".kforge-progress");
    let expected: Option<u64> = std::fs::read_to_string(&count_path)
        .ok()
        .and_then(|s| s.trim().parse().ok());
    let count = make_step(p, &dirlock, &mut log, obs, "build", &targets, expected)?;
    if expected.is_none() || count > expected.unwrap_or(0) {
        // Only the progress bar's length: a failure costs a spinner.
        let _ = std::fs::write(&count_path, count.to_string());
    }
    took("build", t);

    // ---- installs into the entry
    let t = Instant::now();
    let out = tmp.path().to_path_buf();
    if features.modules {
        // kforge's own depmod runs below, so the entry's indexes do not
        // depend on the host's kmod (or its depmod.d).
        let mut install = vec![
            "modules_install".to_string(),
            format!("INSTALL_MOD_PATH={}", out.join("modules").display()),
            "DEPMOD=true".to_string(),
        ];
        if p.strip_modules {
            install.push("INSTALL_MOD_STRIP=1".into());
        }
        make_step(
            p,
            &dirlock,
            &mut log,
            obs,
            "modules_install",
            &install,
            None,
        )?;
    }
    let externals = if p.source.externals.is_empty() {
        Vec::new()
    } else {
        crate::external::build_externals(p, &dirlock, &mut log, obs, &out)?
    };
    if dtbs {
        let install = vec![
            "dtbs_install".to_string(),
            format!("INSTALL_DTBS_PATH={}", out.join("dtbs").display()),
        ];
        make_step(p, &dirlock, &mut log, obs, "dtbs_install", &install, None)?;
    }
    let release_path = objdir.join("include/config/kernel.release");
    let release = std::fs::read_to_string(&release_path)
        .map(|s| s.trim().to_string())
        .map_err(|source| Error::NoRelease {
            path: release_path.clone(),
            source,
        })?;
    let image = entry_image(
        &image,
        image_required,
        &p.declared_targets,
        &p.srcarch,
        |f| objdir.join(f).is_file(),
    );
    let kernel_files = kforge_store::collect_kernel(
        objdir,
        &p.srcarch,
        image.as_deref(),
        &targets,
        &p.config,
        p.vmlinux,
        &out.join("kernel"),
    )
    .map_err(io("collecting kernel/"))?;
    if features.modules {
        kforge_store::collect_dev(
            &p.source.tree,
            objdir,
            &p.srcarch,
            &p.config,
            &out.join("dev"),
        )
        .map_err(io("collecting dev/"))?;
        // modules_install links build (and source) to the build directory;
        // point them at the entry's own dev/.
        let moddir = out.join("modules/lib/modules").join(&release);
        for l in ["build", "source"] {
            let link = moddir.join(l);
            if std::fs::symlink_metadata(&link).is_ok() {
                let _ = std::fs::remove_file(&link);
                std::os::unix::fs::symlink("../../../../dev", &link)
                    .map_err(io(link.display().to_string()))?;
            }
        }
        if !externals.is_empty() {
            crate::external::append_symvers(p, &out.join("dev/Module.symvers"))?;
            crate::external::check_vermagic(
                &out.join("modules/lib/modules").join(&release),
                &release,
            )?;
        }
        modules_indexes_and_loaders(p, objdir, &out, &release, &mut log, obs)?;
    }
    took("install", t);
    log.file
        .flush()
        .map_err(io(format!("writing the build log {}", log.path.display())))?;
    std::fs::copy(&log.path, out.join("build.log")).map_err(io("copying the log"))?;

    // ---- the manifest
    let compile_cache = compile_cache_counts(p, cache_before, &mut log);
    let files =
        kforge_store::hash_tree(&out, &[Manifest::FILE]).map_err(io("hashing the entry"))?;
    let spec_sha256 = kforge_store::sha256_file(&p.spec_path).map_err(|source| Error::Read {
        path: p.spec_path.clone(),
        source,
    })?;
    let manifest = Manifest {
        kforge_version: env!("CARGO_PKG_VERSION").to_string(),
        entry: p.name.clone(),
        key: p.hash.clone(),
        key_inputs: p.key.items().to_vec(),
        spec: manifest::SpecFile {
            path: p.spec_path.display().to_string(),
            sha256: spec_sha256,
        },
        source: manifest::Source {
            tree: p.source.tree.display().to_string(),
            digest: p.source.digest.clone(),
            patches_sha256: p.source.patches.clone(),
            kernel_version: p.kernelversion.clone(),
        },
        config_sha256: kforge_store::sha256_hex(p.config.as_bytes()),
        kernel_release: release.clone(),
        arch: p.arch.clone(),
        srcarch: p.srcarch.clone(),
        image: image
            .as_deref()
            .map(|i| format!("kernel/{}", i.rsplit('/').next().unwrap_or(i))),
        image_path: image,
        kernel_files,
        make: p.make.args(&targets),
        targets,
        build_directory: p.make.objdir.display().to_string(),
        build_directory_key: p.build_key.clone(),
        environment: p.repro.iter().cloned().collect(),
        toolchain: p
            .toolchain
            .tools
            .iter()
            .map(|t| manifest::Tool {
                role: t.role.clone(),
                command: t.command.clone(),
                path: t.path.as_deref().map(|p| p.display().to_string()),
                version: t.version.clone(),
            })
            .collect(),
        features: (&features).into(),
        durations_s: durations,
        compile_cache,
        externals: externals
            .into_iter()
            .map(|(e, modules)| manifest::External {
                name: e.name.clone(),
                source: e.digest.clone(),
                modules: crate::external::installed_modules(&out, &release, &e.name, &modules),
            })
            .collect(),
        files: files.iter().map(Into::into).collect(),
    };
    std::fs::write(out.join(Manifest::FILE), manifest.to_json())
        .map_err(io("writing manifest.json"))?;
    let entry = tmp.commit().map_err(io("renaming the entry into place"))?;
    store.touch_entry(&entry);
    drop(dirlock);
    Ok(entry)
}

/// depmod the entry's modules as the kernel's `modules_install` would
/// (`depmod -ae -F System.map`, no depmod.d), then write the loader of
/// each `[modules.NAME]` set into `loaders/NAME`. A listed module that is
/// neither built as a module nor built in is an error naming its set.
fn modules_indexes_and_loaders(
    p: &Plan,
    objdir: &Path,
    out: &Path,
    release: &str,
    log: &mut Log,
    obs: &mut dyn Observer,
) -> Result<(), Error> {
    let failed = |message: String| Error::Modules {
        message,
        log: log.path.clone(),
    };
    let opts = depmod::generate::Options {
        basedir: Some(out.join("modules")),
        version: Some(release.to_string()),
        system_map: Some(objdir.join("System.map")),
        errsyms: true,
        config: vec![PathBuf::from("/dev/null")],
        ..Default::default()
    };
    let mut dlog = depmod::generate::MemLog::default();
    let r = depmod::generate::run(&opts, &mut dlog);
    writeln!(log.file, "kforge: depmod -ae -F System.map {release}")
        .and_then(|_| log.file.write_all(dlog.stderr().as_bytes()))
        .map_err(io(format!("writing the build log {}", log.path.display())))?;
    r.map_err(|e| {
        failed(format!(
            "depmod of the built modules failed: {e}\n{}",
            dlog.stderr()
        ))
    })?;
    if p.module_sets.is_empty() {
        return Ok(());
    }
    let moddir = out.join("modules/lib/modules").join(release);
    let tree = depmod::closure::Tree::open(&moddir).map_err(|e| failed(e.to_string()))?;
    for set in &p.module_sets {
        let c = tree
            .closure(&set.load, &depmod::closure::Options::default())
            .map_err(|e| {
                let why = match &e {
                    depmod::closure::Error::Unknown(m) => {
                        not_produced(&p.source.tree, m, &p.config)
                    }
                    _ => String::new(),
                };
                failed(format!("[modules.{}] ({}): {e}{why}", set.name, set.origin))
            })?;
        let dir = out.join("loaders").join(&set.name);
        let lopts = depmod::loader::Options {
            name: set.name.clone(),
            version: release.to_string(),
            decompress: false,
            prefix: Some(PathBuf::from(LOADER_PREFIX).join(&set.name)),
            firmware_dir: None,
        };
        let s =
            depmod::loader::write(&tree, &c, &dir, &lopts).map_err(|e| failed(e.to_string()))?;
        obs.loader(&set.name, &s);
    }
    Ok(())
}

/// Why module `m` is not in the built tree: the Kconfig symbols behind it
/// and their values in the resolved configuration.
fn not_produced(tree: &Path, m: &str, config: &str) -> String {
    let Ok(map) = kforge_tree::ModuleMap::scan(tree) else {
        return String::new();
    };
    let symbols: Vec<String> = map
        .lookup(m)
        .into_iter()
        .flat_map(|s| s.symbols)
        .map(|sym| format!("CONFIG_{sym}={}", config_value(config, &sym)))
        .collect();
    if symbols.is_empty() {
        "; no Makefile of the tree builds a module of that name".to_string()
    } else {
        format!(
            "; the build produced no such module although the resolved configuration has {}",
            symbols.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::entry_image;

    fn targets(t: &[&str]) -> Vec<String> {
        t.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn entry_image_is_the_declared_image_target() {
        let built = |files: &'static [&'static str]| move |f: &str| files.contains(&f);
        // arm64: `make image_name` says Image.gz; `targets = ["Image"]` builds
        // Image only, and that is the image (a stale Image.gz is not taken).
        let files = &["arch/arm64/boot/Image", "arch/arm64/boot/Image.gz"];
        assert_eq!(
            entry_image(
                "arch/arm64/boot/Image.gz",
                false,
                &targets(&["Image", "modules"]),
                "arm64",
                built(files)
            )
            .as_deref(),
            Some("arch/arm64/boot/Image")
        );
        // The architecture's image, when it is built on purpose.
        assert_eq!(
            entry_image("arch/arm64/boot/Image.gz", true, &[], "arm64", built(&[])).as_deref(),
            Some("arch/arm64/boot/Image.gz")
        );
        // mips: `make image_name` says vmlinux, declared with the modules.
        assert_eq!(
            entry_image(
                "vmlinux",
                true,
                &targets(&["vmlinux", "modules"]),
                "mips",
                built(&["vmlinux"])
            )
            .as_deref(),
            Some("vmlinux")
        );
        // A path target under the build directory.
        assert_eq!(
            entry_image(
                "arch/x86/boot/bzImage",
                false,
                &targets(&["arch/x86/boot/compressed/vmlinux.bin"]),
                "x86",
                built(&["arch/x86/boot/compressed/vmlinux.bin"])
            )
            .as_deref(),
            Some("arch/x86/boot/compressed/vmlinux.bin")
        );
        // No image target declared: the architecture's image if it is there.
        assert_eq!(
            entry_image(
                "arch/x86/boot/bzImage",
                false,
                &targets(&["modules"]),
                "x86",
                built(&["arch/x86/boot/bzImage"])
            )
            .as_deref(),
            Some("arch/x86/boot/bzImage")
        );
        assert_eq!(
            entry_image(
                "arch/x86/boot/bzImage",
                false,
                &targets(&["modules"]),
                "x86",
                built(&[])
            ),
            None
        );
    }
}
