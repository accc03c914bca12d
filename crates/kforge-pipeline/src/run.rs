//! The stages wired in order, for the fronts that go from a declaration to
//! a store entry ([`build_declaration`]) or to a boot report
//! ([`test_declaration`]). What happens on the way reaches the front
//! through a [`Report`], which renders it.

use std::path::{Path, PathBuf};
use std::time::Instant;

use kforge_boot::{Arch, KvmMode};
use kforge_declaration::Spec;
use kforge_store::Store;

use crate::boot::{self, BootReport, BootRequest, BootStart};
use crate::build::{self, Observer, StoreEntry, Wait};
use crate::plan::{self, BuildOptions, Plan};
use crate::resolved::{self, Resolved};
use crate::source::SourceTree;
use crate::substitute::{self, Substituters};
use crate::Error;

/// What a front shows of the stages as they run. Every method has a
/// default that shows nothing.
pub trait Report: Observer {
    /// The declaration was resolved: its report is due.
    fn resolved(&mut self, _spec: &Spec, _r: &mut Resolved) {}
    /// The entry was found without resolving: nothing changed since an
    /// earlier resolution.
    fn unchanged(&mut self) {}
    /// The build is planned; `seconds` since resolution began.
    fn planned(&mut self, _r: &Resolved, _plan: &Plan, _seconds: f64) {}
    /// Boot-test readiness: what the configuration lacks for a boot test.
    fn readiness(&mut self, _warnings: &[String]) {}
    /// A boot is about to start.
    fn booting(&mut self, _start: &BootStart<'_>) {}
}

impl Report for crate::build::Quiet {}

/// What the front asks of a build.
pub struct BuildRequest<'a> {
    pub spec: &'a Spec,
    pub opts: &'a BuildOptions,
    /// The result link to point at the entry.
    pub out_link: &'a Path,
    /// Plan only.
    pub dry_run: bool,
    /// Answer `$(shell,...)` probes from the probe cache.
    pub probe_cache: bool,
}

/// What [`build_declaration`] gave.
pub enum Built {
    /// The store entry, built or found.
    Entry(StoreEntry),
    /// A dry run: the plan, nothing built.
    DryRun(Box<Plan>),
}

/// From a prepared source to a store entry: the memo (an unchanged
/// declaration's entry found without resolving), the resolution (unless
/// the caller resolved already: one resolution per command), the plan,
/// the build.
pub fn build_declaration(
    store: &Store,
    req: &BuildRequest<'_>,
    source: SourceTree,
    resolved: Option<Resolved>,
    report: &mut dyn Report,
) -> Result<Built, Error> {
    let spec = req.spec;
    // An entry a substituter was asked for already (and did not give).
    let mut asked = None;
    if !req.dry_run {
        if let Some(entry) = plan::memo_hit(spec, &source, store, req.opts)? {
            report.unchanged();
            let hit = build::store_hit(store, &entry, req.out_link)?;
            report.done(&hit);
            return Ok(Built::Entry(hit));
        }
        // Nothing changed since an earlier resolution whose entry is not
        // here: a binary cache may have it, and then nothing is resolved.
        let subs = Substituters::from_spec(spec);
        if !subs.urls.is_empty() {
            if let Some((hash, name)) = plan::memo_entry(spec, &source, store, req.opts) {
                let lock = store
                    .lock_key(&hash, &mut || report.waiting(&Wait::Key { entry: &name }))
                    .map_err(|source| Error::Io {
                        what: "locking the store key".into(),
                        source,
                    })?;
                if let Some(entry) = store.existing(&name) {
                    drop(lock);
                    let hit = build::store_hit(store, &entry, req.out_link)?;
                    report.done(&hit);
                    return Ok(Built::Entry(hit));
                }
                if let Some(s) = substitute::substitute(store, &lock, &name, &subs, report) {
                    drop(lock);
                    report.unchanged();
                    let e = build::substituted(store, &name, s, req.out_link, report)?;
                    return Ok(Built::Entry(e));
                }
                asked = Some(name);
            }
        }
    }
    let t0 = Instant::now();
    let r = match resolved {
        Some(r) => r,
        None => {
            let mut r = resolved::resolve(spec, &source.tree, req.probe_cache)?;
            report.resolved(spec, &mut r);
            r
        }
    };
    let mut plan = plan::plan(spec, source, &r, store, req.opts)?;
    if asked.as_deref() == Some(plan.name.as_str()) {
        plan.substituters = Substituters::default();
    }
    report.planned(&r, &plan, t0.elapsed().as_secs_f64());
    if req.dry_run {
        return Ok(Built::DryRun(Box::new(plan)));
    }
    build::build(store, &plan, req.out_link, report).map(Built::Entry)
}

/// The boot test's own inputs.
pub struct TestRequest<'a> {
    /// The name of the test in reports (the declaration's path).
    pub label: &'a str,
    /// A given tree instead of the declared source.
    pub tree: Option<&'a Path>,
    /// The QEMU binary and the guest's busybox, when given.
    pub qemu: Option<&'a Path>,
    pub busybox: Option<&'a Path>,
    pub verbose: bool,
    pub kvm: KvmMode,
    /// Show download progress.
    pub progress: bool,
    /// Module directories under development, built against the entry and
    /// inserted after the loaders (`kforge test --module DIR`).
    pub modules: &'a [PathBuf],
    /// Arguments for those modules: `(module name, arguments)`; a name of
    /// `*` gives them to every module.
    pub module_args: &'a [(String, String)],
}

/// What [`test_declaration`] gave.
pub enum Tested {
    /// Booted (passed or not).
    Booted(Box<BootReport>),
    /// A dry run: the tools are there, the plan made; nothing built or
    /// booted.
    DryRun {
        loaders: Vec<String>,
        plan: Box<Plan>,
    },
}

/// From a declaration to a boot report, cheapest checks first so that a
/// missing tool costs no build: the QEMU binary and the guest's busybox,
/// readiness (the one resolution, handed to the build), the build through
/// the store, the boot.
pub fn test_declaration(
    store: &Store,
    build: &BuildRequest<'_>,
    test: &TestRequest<'_>,
    report: &mut dyn Report,
) -> Result<Tested, Error> {
    let spec = build.spec;
    let mut arch = boot::boot_arch(spec, None).ok_or_else(|| {
        Error::Boot(format!(
            "{}: kforge test boots x86_64, arm64 and mips kernels, not {}",
            test.label, spec.build.arch
        ))
    })?;
    // MIPS: the byte order, hence the QEMU binary and the busybox, is
    // known once the configuration is.
    let mut qemu = boot::find_qemu(test.qemu, arch)?;
    let mut busybox = match arch {
        Arch::Mips | Arch::Mipsel => None,
        _ => Some(boot::guest_busybox(test.busybox, arch)?),
    };
    let loaders = boot::loader_names(spec);
    let source = crate::source::prepare(spec, test.tree, test.progress)?;
    let mut r = resolved::resolve(spec, &source.tree, build.probe_cache)?;
    report.resolved(spec, &mut r);
    let booted = boot::boot_arch(spec, Some(&r.res.config)).unwrap_or(arch);
    if booted != arch {
        arch = booted;
        qemu = boot::find_qemu(test.qemu, arch)?;
    }
    report.readiness(&boot::readiness(&mut r, arch, !loaders.is_empty()));
    let busybox: PathBuf = match busybox.take() {
        Some(b) => b,
        None => boot::guest_busybox(test.busybox, arch)?,
    };
    let entry = match build_declaration(store, build, source, Some(r), report)? {
        Built::Entry(e) => e.path,
        Built::DryRun(plan) => return Ok(Tested::DryRun { loaders, plan }),
    };
    let mut modules = Vec::new();
    for dir in test.modules {
        for ko in crate::external::build_module(store, &entry, dir, &[], report)? {
            let name = depmod::normalize_name_str(
                ko.file_stem().and_then(|s| s.to_str()).unwrap_or_default(),
            );
            let args: Vec<&str> = test
                .module_args
                .iter()
                .filter(|(m, _)| m == "*" || depmod::normalize_name_str(m) == name)
                .map(|(_, a)| a.as_str())
                .collect();
            modules.push((ko, args.join(" ")));
        }
    }
    let req = BootRequest {
        label: test.label,
        test: spec.test.as_ref(),
        arch,
        qemu,
        busybox: &busybox,
        entry: &entry,
        loaders: &loaders,
        modules: &modules,
        verbose: test.verbose,
        kvm: test.kvm,
    };
    let r = boot::boot(store, &req, &mut |b| report.booting(b))?;
    Ok(Tested::Booted(Box::new(r)))
}
