//! Build matrices for CI engines: the jobs of declarations × architectures
//! × toolchains, each with its store key and whether a binary cache has its
//! entry already, written in the shape GitHub Actions, GitLab CI or
//! Buildkite take for fanning jobs out (or plain JSON).
//!
//! The engines run the jobs; kforge only plans them. A job's command is the
//! `kforge build` that gives the entry of its key, so the key printed here
//! is the key the job will build.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use kforge_declaration::Spec;
use kforge_store::{sh_quote, Store};
use serde_json::{json, Value};

use crate::build::Quiet;
use crate::plan::BuildOptions;
use crate::run::{self, BuildRequest, Built};
use crate::Error;

/// A compiler family a job builds with: the kernel's gcc default or
/// `LLVM=1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Toolchain {
    /// gcc and binutils (no `LLVM=`).
    Gcc,
    /// clang and the LLVM tools (`LLVM=1`).
    Llvm,
}

impl Toolchain {
    /// Its name on command lines and in job names.
    pub fn name(self) -> &'static str {
        match self {
            Toolchain::Gcc => "gcc",
            Toolchain::Llvm => "llvm",
        }
    }

    /// The toolchain a declaration builds with.
    pub fn of(spec: &Spec) -> Toolchain {
        if spec.build.llvm.is_some() {
            Toolchain::Llvm
        } else {
            Toolchain::Gcc
        }
    }
}

impl std::str::FromStr for Toolchain {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "gcc" => Ok(Toolchain::Gcc),
            "llvm" | "clang" => Ok(Toolchain::Llvm),
            other => Err(format!(
                "`{other}` is not a toolchain kforge knows: give \"gcc\" or \"llvm\""
            )),
        }
    }
}

/// Build a declaration for another architecture or toolchain than it
/// names (`kforge build --arch --toolchain`, and each job of a matrix). A
/// declared `cross_compile` is kept only for the declared architecture;
/// a declared LLVM version or prefix is kept when the toolchain stays LLVM.
pub fn override_target(spec: &mut Spec, arch: Option<&str>, toolchain: Option<Toolchain>) {
    if let Some(arch) = arch {
        if arch != spec.build.arch {
            spec.build.arch = arch.to_string();
            spec.build.cross_compile = None;
        }
    }
    match toolchain {
        Some(Toolchain::Gcc) => spec.build.llvm = None,
        Some(Toolchain::Llvm) if spec.build.llvm.is_none() => {
            spec.build.llvm = Some("1".to_string())
        }
        _ => {}
    }
}

/// The axes of a matrix beyond its declarations; an empty axis means each
/// declaration's own value.
#[derive(Debug, Clone, Default)]
pub struct Axes {
    pub arches: Vec<String>,
    pub toolchains: Vec<Toolchain>,
}

/// One job of a matrix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The declaration, as given on the command line.
    pub declaration: PathBuf,
    /// The unpacked tree the job builds instead of the declared source
    /// (the key depends on it), as given.
    pub tree: Option<PathBuf>,
    pub arch: String,
    pub toolchain: Toolchain,
    /// The store key and the entry's name.
    pub key: String,
    pub entry: String,
    /// Where the entry is already (a substituter's URL), when it is: the
    /// engine may skip the job.
    pub cached: Option<String>,
}

impl Job {
    /// A short name, unique in its matrix: `qemu-x86_64 x86_64 gcc`.
    pub fn name(&self) -> String {
        let stem = self
            .declaration
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        format!("{stem} {} {}", self.arch, self.toolchain.name())
    }

    /// The command that builds the job's entry and pushes it to the cache.
    pub fn command(&self) -> String {
        let decl = self.declaration.to_string_lossy();
        let tree = match &self.tree {
            Some(t) => format!(" --tree {}", sh_quote(&t.to_string_lossy())),
            None => String::new(),
        };
        format!(
            "kforge build {}{tree} --arch {} --toolchain {} --push",
            sh_quote(&decl),
            sh_quote(&self.arch),
            self.toolchain.name()
        )
    }
}

/// Where a job's entry may be already: asked with the entry's name, it
/// answers the place that has it.
pub trait Cache {
    /// The place holding `entry`, if any.
    fn lookup(&mut self, spec: &Spec, entry: &str) -> Option<String>;
}

/// The local store as the only cache (a planner that pushes nowhere).
pub struct LocalStore<'a>(pub &'a Store);

impl Cache for LocalStore<'_> {
    fn lookup(&mut self, _spec: &Spec, entry: &str) -> Option<String> {
        self.0
            .existing(entry)
            .map(|p| format!("file://{}", p.display()))
    }
}

/// The jobs of `declarations` × `axes`, in order, each planned as `kforge
/// build --dry-run` plans it (resolution, toolchain, store key; nothing is
/// built). `tree`: an unpacked tree for every declaration instead of
/// their sources.
pub fn jobs(
    store: &Store,
    declarations: &[PathBuf],
    axes: &Axes,
    tree: Option<&Path>,
    cache: &mut dyn Cache,
    progress: bool,
) -> Result<Vec<Job>, Error> {
    let mut out = Vec::new();
    for path in declarations {
        let declared = Spec::load(path)?;
        let arches = if axes.arches.is_empty() {
            vec![declared.build.arch.clone()]
        } else {
            axes.arches.clone()
        };
        let toolchains = if axes.toolchains.is_empty() {
            vec![Toolchain::of(&declared)]
        } else {
            axes.toolchains.clone()
        };
        for arch in &arches {
            for &toolchain in &toolchains {
                let mut spec = declared.clone();
                override_target(&mut spec, Some(arch), Some(toolchain));
                let source = crate::source::prepare(&spec, tree, progress)?;
                let opts = BuildOptions::default();
                let req = BuildRequest {
                    spec: &spec,
                    opts: &opts,
                    out_link: Path::new("result"),
                    dry_run: true,
                    probe_cache: true,
                };
                let Built::DryRun(plan) =
                    run::build_declaration(store, &req, source, None, &mut Quiet)?
                else {
                    unreachable!("a dry run returns its plan")
                };
                let cached = cache.lookup(&spec, &plan.name);
                out.push(Job {
                    declaration: path.clone(),
                    tree: tree.map(Path::to_path_buf),
                    arch: arch.clone(),
                    toolchain,
                    key: plan.hash.clone(),
                    entry: plan.name.clone(),
                    cached,
                });
            }
        }
    }
    Ok(out)
}

/// The shape a matrix is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A `strategy.matrix` object for GitHub Actions: `{"include": [...]}`
    /// on one line, for `$GITHUB_OUTPUT` and `fromJSON`.
    Github,
    /// A child pipeline for GitLab CI (`trigger: include: artifact`): one
    /// job per entry.
    Gitlab,
    /// A pipeline for `buildkite-agent pipeline upload`: one step per job.
    Buildkite,
    /// Every job with every field, for other engines and scripts.
    Json,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "github" => Ok(Format::Github),
            "gitlab" => Ok(Format::Gitlab),
            "buildkite" => Ok(Format::Buildkite),
            "json" => Ok(Format::Json),
            other => Err(format!(
                "`{other}` is not a matrix format: give github, gitlab, buildkite or json"
            )),
        }
    }
}

/// GitHub's limit on the jobs one matrix may generate.
pub const GITHUB_MAX_JOBS: usize = 256;

/// Why a matrix cannot be written in a format.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// More jobs than GitHub runs from one matrix.
    #[error("{jobs} jobs, but a GitHub Actions matrix runs at most {GITHUB_MAX_JOBS}: split the declarations over several `kforge matrix` calls (one per matrix job)")]
    TooManyForGithub { jobs: usize },
    /// Two jobs with the same name (one declaration given twice).
    #[error("two jobs are both named `{name}`: give each declaration once")]
    DuplicateJob { name: String },
}

/// The jobs written in `format`.
pub fn render(jobs: &[Job], format: Format) -> Result<String, RenderError> {
    let mut names = std::collections::BTreeSet::new();
    for j in jobs {
        if !names.insert(j.name()) {
            return Err(RenderError::DuplicateJob { name: j.name() });
        }
    }
    Ok(match format {
        Format::Github => {
            if jobs.len() > GITHUB_MAX_JOBS {
                return Err(RenderError::TooManyForGithub { jobs: jobs.len() });
            }
            // GitHub's expressions test `matrix.cached` as a boolean.
            let include: Vec<Value> = jobs
                .iter()
                .map(|j| job_json(j, json!(j.cached.is_some())))
                .collect();
            format!("{}\n", json!({ "include": include }))
        }
        Format::Json => {
            let jobs: Vec<Value> = jobs.iter().map(|j| job_json(j, json!(j.cached))).collect();
            let mut s = serde_json::to_string_pretty(&json!({ "jobs": jobs }))
                .expect("a JSON value serialises");
            s.push('\n');
            s
        }
        Format::Gitlab => gitlab(jobs),
        Format::Buildkite => buildkite(jobs),
    })
}

/// A job as a JSON object, `cached` as the format wants it.
fn job_json(j: &Job, cached: Value) -> Value {
    json!({
        "name": j.name(),
        "declaration": j.declaration.to_string_lossy(),
        "arch": j.arch,
        "toolchain": j.toolchain.name(),
        "key": j.key,
        "entry": j.entry,
        "cached": cached,
        "command": j.command(),
    })
}

/// A YAML double-quoted scalar (JSON's string syntax is YAML's).
fn quoted(s: &str) -> String {
    serde_json::to_string(s).expect("a string serialises")
}

/// A GitLab child pipeline: a job per entry still to build; one per entry
/// already cached too, which never runs (`rules: when: never`), so the
/// pipeline says what it skipped; and, when everything is cached, one job
/// that says so (a pipeline needs a job that runs).
fn gitlab(jobs: &[Job]) -> String {
    let mut y = String::from("# Written by `kforge matrix --format gitlab`: a child pipeline.\n");
    y.push_str("stages:\n  - build\n");
    for j in jobs {
        let _ = write!(
            y,
            "\n{}:\n  stage: build\n",
            quoted(&format!("build {}", j.name()))
        );
        y.push_str("  variables:\n");
        for (k, v) in [
            (
                "KFORGE_DECLARATION",
                j.declaration.to_string_lossy().into_owned(),
            ),
            ("KFORGE_ARCH", j.arch.clone()),
            ("KFORGE_TOOLCHAIN", j.toolchain.name().to_string()),
            ("KFORGE_KEY", j.key.clone()),
            ("KFORGE_ENTRY", j.entry.clone()),
        ] {
            let _ = writeln!(y, "    {k}: {}", quoted(&v));
        }
        let _ = writeln!(y, "  script:\n    - {}", quoted(&j.command()));
        if let Some(at) = &j.cached {
            let _ = writeln!(y, "  # already in {at}");
            y.push_str("  rules:\n    - when: never\n");
        }
    }
    if jobs.iter().all(|j| j.cached.is_some()) {
        let _ = write!(
            y,
            "\n\"nothing to build\":\n  stage: build\n  script:\n    - {}\n",
            quoted(&format!(
                "echo {} entries, all in the binary cache already",
                jobs.len()
            ))
        );
    }
    y
}

/// A Buildkite pipeline: a command step per job, keyed by its store key;
/// a cached job's step is skipped with the reason.
fn buildkite(jobs: &[Job]) -> String {
    let mut y = String::from(
        "# Written by `kforge matrix --format buildkite`: for `buildkite-agent pipeline upload`.\n",
    );
    y.push_str("steps:\n");
    for j in jobs {
        let _ = writeln!(y, "  - label: {}", quoted(&format!("build {}", j.name())));
        let _ = writeln!(y, "    key: {}", quoted(&format!("kforge-{}", j.key)));
        let _ = writeln!(y, "    command: {}", quoted(&j.command()));
        y.push_str("    env:\n");
        let _ = writeln!(y, "      KFORGE_KEY: {}", quoted(&j.key));
        let _ = writeln!(y, "      KFORGE_ENTRY: {}", quoted(&j.entry));
        if let Some(at) = &j.cached {
            // Buildkite takes a reason of at most 70 characters.
            let _ = writeln!(y, "    # already in {at}");
            y.push_str("    skip: \"in the binary cache already\"\n");
        }
    }
    if jobs.is_empty() {
        y.push_str("  - label: \"nothing to build\"\n    command: \"true\"\n");
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(decl: &str, arch: &str, cached: bool) -> Job {
        Job {
            declaration: PathBuf::from(decl),
            tree: None,
            arch: arch.to_string(),
            toolchain: Toolchain::Gcc,
            key: "0123456789abcdef0123456789abcdef".to_string(),
            entry: format!("0123456789abcdef0123456789abcdef-linux-6.12-{arch}"),
            cached: cached.then(|| "s3://bucket/kernels".to_string()),
        }
    }

    #[test]
    fn github_matrix_is_one_line_of_include() {
        let s = render(
            &[
                job("a/router.toml", "arm64", false),
                job("b.toml", "x86_64", true),
            ],
            Format::Github,
        )
        .unwrap();
        assert_eq!(s.lines().count(), 1);
        let v: Value = serde_json::from_str(&s).unwrap();
        let inc = v["include"].as_array().unwrap();
        assert_eq!(inc.len(), 2);
        assert_eq!(inc[0]["name"], "router arm64 gcc");
        assert_eq!(inc[0]["cached"], false);
        assert_eq!(inc[1]["cached"], true);
        assert_eq!(
            inc[0]["command"],
            "kforge build a/router.toml --arch arm64 --toolchain gcc --push"
        );
    }

    #[test]
    fn github_refuses_more_jobs_than_it_runs() {
        let jobs: Vec<Job> = (0..257)
            .map(|i| job(&format!("d{i}.toml"), "x86_64", false))
            .collect();
        let e = render(&jobs, Format::Github).unwrap_err();
        assert!(e.to_string().contains("at most 256"), "{e}");
    }

    #[test]
    fn a_declaration_given_twice_is_refused() {
        let e = render(
            &[
                job("a.toml", "x86_64", false),
                job("a.toml", "x86_64", false),
            ],
            Format::Json,
        )
        .unwrap_err();
        assert!(e.to_string().contains("`a x86_64 gcc`"), "{e}");
    }

    #[test]
    fn gitlab_keeps_a_job_that_runs_when_everything_is_cached() {
        let y = render(&[job("a.toml", "x86_64", true)], Format::Gitlab).unwrap();
        assert!(
            y.contains("\"build a x86_64 gcc\":\n  stage: build\n"),
            "{y}"
        );
        assert!(y.contains("  rules:\n    - when: never\n"), "{y}");
        assert!(y.contains("\"nothing to build\":"), "{y}");
        let y = render(&[job("a.toml", "x86_64", false)], Format::Gitlab).unwrap();
        assert!(!y.contains("nothing to build"), "{y}");
        assert!(!y.contains("when: never"), "{y}");
    }

    #[test]
    fn commands_quote_what_the_shell_would_split() {
        let j = job("my kernels/it's.toml", "x86_64", false);
        assert_eq!(
            j.command(),
            "kforge build \"my kernels/it's.toml\" --arch x86_64 --toolchain gcc --push"
        );
    }

    #[test]
    fn toolchains_parse_and_refuse() {
        assert_eq!("llvm".parse::<Toolchain>(), Ok(Toolchain::Llvm));
        assert_eq!("clang".parse::<Toolchain>(), Ok(Toolchain::Llvm));
        assert!("icc"
            .parse::<Toolchain>()
            .unwrap_err()
            .contains("\"gcc\" or \"llvm\""));
        assert!("yaml"
            .parse::<Format>()
            .unwrap_err()
            .contains("github, gitlab"));
    }
}
