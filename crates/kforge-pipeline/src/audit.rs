//! The policy audit (kforge-policy) as a stage: a declaration resolved as
//! `kforge config` resolves it, or a plain `.config` on a tree, judged
//! against policies; and the fixes written back into the declaration.

use std::path::Path;

use kforge_declaration::{Base, Spec};
use kforge_policy::audit::{Audit, Subject};
use kforge_policy::Policy;

use crate::resolved::{self, load_tree, Toolchain};
use crate::Error;

/// What to audit.
pub enum Audited<'a> {
    /// The configuration a declaration resolves to, on `tree`.
    Declaration { spec: &'a Spec, tree: &'a Path },
    /// A `.config` file, as `conf --olddefconfig` reads it on `tree`.
    Config {
        config: &'a Path,
        tree: &'a Path,
        arch: &'a str,
    },
}

/// An audit and what it was made against.
pub struct AuditRun {
    pub audit: Audit,
    pub policies: Vec<Policy>,
    /// make's ARCH.
    pub arch: String,
    /// The tree's version.
    pub version: kforge_declaration::KernelVersion,
}

/// Resolve `what` and judge it against the policies named (shipped names
/// or files; none: [`kforge_policy::DEFAULT`]).
pub fn audit(what: Audited<'_>, names: &[String], probe_cache: bool) -> Result<AuditRun, Error> {
    let (mut tree, input, res, arch) = match what {
        Audited::Declaration { spec, tree } => {
            let r = resolved::resolve(spec, tree, probe_cache)?;
            (r.tree, r.input, r.res, spec.build.arch.clone())
        }
        Audited::Config { config, tree, arch } => {
            let tc = Toolchain {
                arch,
                cross_compile: None,
                llvm: None,
            };
            let mut t = load_tree(tree, tc, probe_cache)?;
            let input = kforge_resolve::Input::on(Base::File(config.to_path_buf()));
            let res = kforge_resolve::resolve(&mut t.kc, &input)?;
            (t, input, res, arch.to_string())
        }
    };
    let defaults: Vec<String> = kforge_policy::DEFAULT
        .iter()
        .map(|s| s.to_string())
        .collect();
    let names = if names.is_empty() {
        &defaults[..]
    } else {
        names
    };
    let policies = names
        .iter()
        .map(|n| kforge_policy::load(n, &tree.kc))
        .collect::<Result<Vec<_>, _>>()?;
    let audit = kforge_policy::audit::audit(
        Subject {
            kc: &mut tree.kc,
            input: &input,
            base_config: &res.base_config,
            version: tree.version,
            arch: &arch,
        },
        &policies,
    );
    Ok(AuditRun {
        audit,
        policies,
        arch,
        version: tree.version,
    })
}

/// Write the audit's fixes into the declaration's `[config]` (comments
/// and order kept; the result is checked to load before it replaces the
/// file). Returns the requests written.
pub fn write_fixes(spec_path: &Path, run: &AuditRun) -> Result<Vec<(String, String)>, Error> {
    let fixes = run.audit.fixes();
    let edits: Vec<kforge_declaration::edit::Edit> = fixes
        .iter()
        .map(|(s, v)| kforge_declaration::edit::Edit {
            symbol: s.clone(),
            value: kforge_declaration::RequestValue::Text(v.clone()),
            force: false,
        })
        .collect();
    if !edits.is_empty() {
        kforge_declaration::edit::save(spec_path, &edits, true)?;
    }
    Ok(fixes)
}
