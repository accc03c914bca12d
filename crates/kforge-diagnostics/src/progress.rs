//! The stages of a build or a boot test on stderr ([`Progress`]), and
//! make's progress: a bar (or a spinner when the length is not
//! known) on a terminal, counting kbuild's quiet lines (`  CC  path`), with
//! warnings and other output kept visible above it; make's lines as they
//! come otherwise.

use std::io::IsTerminal;
use std::time::Duration;

use kforge_declaration::Spec;
use kforge_pipeline::boot::BootStart;
use kforge_pipeline::build::{Observer, Wait};
use kforge_pipeline::run::Report;
use kforge_pipeline::substitute::Miss;
use kforge_pipeline::{Plan, Resolved, StoreEntry};

/// The progress of one make step.
#[derive(Default)]
pub struct MakeProgress {
    bar: Option<indicatif::ProgressBar>,
    count: u64,
}

impl MakeProgress {
    /// Begin step `phase`; `expected`: the number of quiet lines the
    /// previous build of the directory printed, if known.
    pub fn start(&mut self, phase: &str, expected: Option<u64>) {
        self.count = 0;
        self.bar = std::io::stderr().is_terminal().then(|| {
            let bar = match expected {
                Some(n) => indicatif::ProgressBar::new(n.max(1)),
                None => indicatif::ProgressBar::new_spinner(),
            };
            let template = if expected.is_some() {
                "{prefix} [{elapsed_precise}] {bar:30} {pos}/{len} {wide_msg}"
            } else {
                "{prefix} [{elapsed_precise}] {spinner} {pos} {wide_msg}"
            };
            if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
                bar.set_style(style);
            }
            bar.set_prefix(phase.to_string());
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
    }

    /// One line make printed.
    pub fn line(&mut self, line: &str) {
        let quiet = kforge_store::quiet_line(line);
        if quiet.is_some() {
            self.count += 1;
        }
        match &self.bar {
            Some(bar) => match quiet {
                Some((tag, what)) => {
                    if bar.length().is_some_and(|l| self.count > l) {
                        bar.set_length(self.count);
                    }
                    bar.set_position(self.count);
                    bar.set_message(format!("{tag} {what}"));
                }
                // Warnings and anything else make says stay visible.
                None if !line.starts_with("make") => bar.println(line),
                None => {}
            },
            None => eprintln!("{line}"),
        }
    }

    /// The step ended: the bar goes.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// Shows the stages on stderr, and make's progress: a bar on a terminal,
/// make's lines otherwise.
#[derive(Default)]
pub struct Progress {
    make: MakeProgress,
    /// The declaration a boot test is about (`kforge test`).
    label: String,
}

impl Progress {
    /// For `kforge test` of the declaration `label`.
    pub fn for_test(label: &str) -> Progress {
        Progress {
            label: label.to_string(),
            ..Progress::default()
        }
    }
}

impl Report for Progress {
    fn resolved(&mut self, spec: &Spec, r: &mut Resolved) {
        eprint!("{}", crate::resolution::version_warning(spec, r));
        eprint!("{}", crate::resolution::report(r, false));
    }

    fn unchanged(&mut self) {
        eprintln!("kforge: the declaration resolves as before (nothing changed since)");
    }

    fn planned(&mut self, r: &Resolved, plan: &Plan, seconds: f64) {
        let (requests, held) = r.held();
        eprintln!(
            "kforge: {requests} requests, {held} held, {} warnings; resolved in {seconds:.2}s",
            r.warning_count()
        );
        for w in &plan.warnings {
            eprintln!("warning: {w}");
        }
        if let Some(f) = &plan.farm {
            let names: Vec<&str> = f.hosts.iter().map(|h| h.name.as_str()).collect();
            eprintln!(
                "kforge: compiling with {} on {} hosts ({}), {} jobs at once",
                f.launcher,
                names.len(),
                names.join(", "),
                plan.make.jobs
            );
        }
    }

    fn readiness(&mut self, warnings: &[String]) {
        for w in warnings {
            eprintln!("warning: {}: {w}", self.label);
        }
    }

    fn booting(&mut self, b: &BootStart<'_>) {
        eprintln!(
            "kforge: booting {} ({}, {} MiB, timeout {}s, initramfs {:?})",
            b.entry.display(),
            b.arch,
            b.memory_mib,
            b.timeout.as_secs(),
            b.compression
        )
    }
}

impl Observer for Progress {
    fn waiting(&mut self, what: &Wait<'_>) {
        match what {
            Wait::Key { entry } => eprintln!("kforge: waiting for another build of {entry}"),
            Wait::BuildDir { dir } => eprintln!(
                "kforge: waiting for the build directory {} (another build, or the jobs of a killed one, still use it)",
                dir.display()
            ),
        }
    }

    fn step(&mut self, name: &str, expected: Option<u64>) {
        self.make.start(name, expected);
    }

    fn line(&mut self, line: &str) {
        self.make.line(line);
    }

    fn step_done(&mut self) {
        self.make.finish();
    }

    fn done(&mut self, e: &StoreEntry) {
        if let Some(s) = &e.substituted {
            eprintln!("{}", crate::cache::substituted(e, s));
        } else if e.hit {
            eprintln!(
                "kforge: up to date: {} (store hit; {} -> it)",
                e.path.display(),
                e.link.display()
            );
        } else {
            eprintln!(
                "kforge: built {} in {:.0}s ({} -> it)",
                e.path.display(),
                e.seconds,
                e.link.display()
            );
            let manifest = kforge_pipeline::Manifest::read(&e.path);
            if let Some(c) = manifest.ok().and_then(|m| m.compile_cache) {
                eprintln!(
                    "kforge: {}: {} of {} compiles from the cache, {} compiled{} ({})",
                    c.launcher,
                    c.hits,
                    c.requests,
                    c.misses,
                    if c.errors > 0 {
                        format!(", {} cache errors", c.errors)
                    } else {
                        String::new()
                    },
                    c.location
                );
            }
        }
    }

    fn substitute_miss(&mut self, url: &str, miss: &Miss) {
        eprintln!("{}", crate::cache::miss(url, miss));
    }

    fn loader(&mut self, set: &str, s: &depmod::loader::Summary) {
        let builtin = if s.builtin.is_empty() {
            String::new()
        } else {
            format!("; built in: {}", s.builtin.join(" "))
        };
        eprintln!(
            "kforge: loader {set}: {} modules ({}){builtin}",
            s.modules.len(),
            s.modules.join(" ")
        );
    }
}
