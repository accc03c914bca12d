//! `kforge audit`: a declaration's configuration (or a plain .config)
//! judged against hardening policies.

use std::path::PathBuf;

use kforge_diagnostics::{audit, errors};
use kforge_pipeline::audit::{AuditRun, Audited};
use kforge_pipeline::Error;

/// Check a configuration against hardening policies: what holds, what does
/// not and its checked fix, what cannot hold here and why
#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// The declaration (or give --config, --tree and --arch)
    #[arg(value_name = "KERNEL_TOML", required_unless_present = "config")]
    pub spec: Option<PathBuf>,
    /// A policy: hardening (the tree's hardening.config), kspp,
    /// self-protection, or a policy file; repeatable [default: hardening, kspp]
    #[arg(long, value_name = "NAME|FILE")]
    pub policy: Vec<String>,
    /// A plain .config to audit instead of a declaration
    #[arg(long, value_name = "FILE", conflicts_with = "spec", requires_all = ["tree", "arch"])]
    pub config: Option<PathBuf>,
    /// The kernel tree (with --config; with a declaration, instead of its source)
    #[arg(long, value_name = "DIR")]
    pub tree: Option<PathBuf>,
    /// make's ARCH, with --config
    #[arg(long)]
    pub arch: Option<String>,
    /// Add the checked fixes as requests to the declaration (comments kept)
    #[arg(long, conflicts_with = "config")]
    pub write: bool,
    /// Show every recommendation, also those that hold or do not apply
    #[arg(long)]
    pub all: bool,
    /// Print the report as JSON on stdout
    #[arg(long)]
    pub json: bool,
    /// Exit 1 when: any applicable recommendation does not hold, only a
    /// fixable one does not, or never
    #[arg(long, value_enum, default_value = "any")]
    pub fail_on: FailOn,
}

/// When `kforge audit` exits 1.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum FailOn {
    Any,
    Fixable,
    Never,
}

/// `kforge audit`.
pub fn run(args: AuditArgs) -> i32 {
    match try_run(&args) {
        Ok(run) => {
            if args.json {
                outln!("{}", audit::report_json(&run));
            } else {
                eprint!("{}", audit::report(&run, args.all));
            }
            let (dnh, ch) = (
                run.audit.count("does-not-hold"),
                run.audit.count("cannot-hold"),
            );
            match args.fail_on {
                FailOn::Any if dnh + ch > 0 => 1,
                FailOn::Fixable if dnh > 0 => 1,
                _ => 0,
            }
        }
        Err(e) => {
            eprint!("{}", errors::error(&e));
            2
        }
    }
}

fn try_run(args: &AuditArgs) -> Result<AuditRun, Error> {
    let (Some(spec_path), None) = (&args.spec, &args.config) else {
        let (Some(config), Some(tree), Some(arch)) = (&args.config, &args.tree, &args.arch) else {
            unreachable!("clap requires --tree and --arch with --config");
        };
        let what = Audited::Config { config, tree, arch };
        return kforge_pipeline::audit::audit(what, &args.policy, true);
    };
    let spec = kforge_declaration::Spec::load(spec_path)?;
    let tree = kforge_pipeline::source::tree_only(&spec, args.tree.as_deref(), crate::progress())?;
    let run = kforge_pipeline::audit::audit(
        Audited::Declaration {
            spec: &spec,
            tree: &tree,
        },
        &args.policy,
        true,
    )?;
    if args.write {
        let written = kforge_pipeline::audit::write_fixes(spec_path, &run)?;
        eprintln!(
            "kforge: wrote {} requests into {}",
            written.len(),
            spec_path.display()
        );
    }
    Ok(run)
}
