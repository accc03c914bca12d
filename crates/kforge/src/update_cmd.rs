//! `kforge update`: follow kernel.org's releases in a lock file, one entry
//! per branch, and check declarations against the new releases before
//! anything is built. The steps are [`kforge_pipeline::update`]'s; this
//! front words its events, its reports and its errors.

use std::path::PathBuf;

use kforge_declaration::{BranchName, SpecError};
use kforge_pipeline::update::{self, Event, GitError, UpdateError, Written};

/// Follow kernel.org's releases: update the lock file's versions and
/// hashes, and check declarations against the new versions.
#[derive(Debug, clap::Args)]
pub struct UpdateArgs {
    /// The lock file (created when missing)
    #[arg(long, value_name = "FILE", default_value = kforge_declaration::DEFAULT_LOCK_NAME)]
    pub lock: PathBuf,
    /// kernel.org's release list (a URL, or a local file)
    #[arg(long, value_name = "URL", default_value = kforge_releases::DEFAULT_RELEASES_URL)]
    pub releases_url: String,
    /// Track only these branches (`6.12`, `mainline`, the aliases `latest`
    /// and `longterm`); without it every branch on the list is tracked and
    /// new ones are added (aliases only once in the lock)
    #[arg(long = "branch", value_name = "BRANCH", num_args = 1.., value_parser = parse_branch)]
    pub branches: Vec<BranchName>,
    /// Print what would change and write nothing (tarballs are not
    /// downloaded, except those --check needs)
    #[arg(long)]
    pub dry_run: bool,
    /// Make one git commit of the lock file per changed branch
    #[arg(long, conflicts_with = "dry_run")]
    pub commit: bool,
    /// Resolve these declarations against the old and the new source of
    /// their branch and report the requests whose outcome changed
    #[arg(long = "check", value_name = "SPEC", num_args = 1..)]
    pub check: Vec<PathBuf>,
    /// With --check: the old source's unpacked tree, instead of preparing it
    #[arg(long, value_name = "DIR", requires = "check")]
    pub old_tree: Option<PathBuf>,
    /// With --check: the new source's unpacked tree, instead of preparing it
    #[arg(long, value_name = "DIR", requires = "check")]
    pub new_tree: Option<PathBuf>,
    /// The declarations that use the lock, for end-of-life warnings
    /// (default: the *.toml files next to the lock, and the --check ones)
    #[arg(long = "spec", value_name = "SPEC", num_args = 1..)]
    pub specs: Vec<PathBuf>,
    /// Download every tracked branch's locked tarball again (unless
    /// cached) and check it against its locked hash
    #[arg(long)]
    pub verify: bool,
    /// Check each new tarball's kernel.org signature (`pgp` on the list:
    /// a .tar.sign over the uncompressed tar) with these OpenPGP public
    /// keys; every new tarball must then be signed, by a key that is not
    /// expired, not revoked and allowed to sign (mainline's release
    /// candidates, which kernel.org does not sign, are refused)
    #[arg(long, value_name = "FILE")]
    pub keyring: Option<PathBuf>,
    /// With --check: run every $(shell,...) probe instead of using the
    /// probe cache
    #[arg(long)]
    pub no_probe_cache: bool,
}

fn parse_branch(s: &str) -> Result<BranchName, String> {
    s.parse()
        .map_err(|e: kforge_declaration::ParseBranchError| e.to_string())
}

fn spec_error(e: &SpecError) -> String {
    match e.help() {
        Some(h) => format!("{e}\n  help: {h}"),
        None => e.to_string(),
    }
}

fn error_words(e: &UpdateError) -> String {
    fn git(g: &GitError) -> String {
        match g {
            GitError::NotARepository { dir, source } => format!(
                "{} is not in a git repository (--commit: {})",
                dir.display(),
                git(source)
            ),
            GitError::Uncommitted { .. } => format!(
                "{g}; commit or revert them first, so that each commit holds one branch's change"
            ),
            g => g.to_string(),
        }
    }
    match e {
        UpdateError::Declaration(e) => spec_error(e),
        UpdateError::Check { spec, source } => format!("--check {}: {source}", spec.display()),
        UpdateError::Git(g) => format!("--commit: {}", git(g)),
        e => e.to_string(),
    }
}

/// `kforge update`.
pub fn run(args: UpdateArgs) -> i32 {
    let opts = update::Options {
        lock: args.lock.clone(),
        releases_url: args.releases_url.clone(),
        branches: args.branches.clone(),
        dry_run: args.dry_run,
        commit: args.commit,
        check: args.check.clone(),
        old_tree: args.old_tree.clone(),
        new_tree: args.new_tree.clone(),
        specs: args.specs.clone(),
        verify: args.verify,
        keyring: args.keyring.clone(),
        probe_cache: !args.no_probe_cache,
        progress: crate::progress(),
    };
    match update::update(&opts, &mut |e| show(&args, e)) {
        Ok(newly_failing) => i32::from(newly_failing > 0),
        Err(e) => {
            eprintln!("error: {}", error_words(&e));
            eprintln!("{}: not changed", args.lock.display());
            1
        }
    }
}

/// Print one event of the update.
fn show(args: &UpdateArgs, e: Event) {
    let lock = args.lock.display();
    match e {
        Event::LockMissing => eprintln!(
            "note: {lock} does not exist yet: it {} created",
            if args.dry_run { "would be" } else { "is" }
        ),
        Event::Skipped(s) => eprintln!("note: {}: left out {s}", args.releases_url),
        Event::PlanNote(n) => eprintln!("note: {n}"),
        Event::GoodSignature { what, fingerprint } => {
            eprintln!("{what}: good signature by {fingerprint}")
        }
        Event::Verified { branch, version } => outln!("{branch}: {version} verified"),
        Event::Planned { change, entry } => match entry {
            Some(e) => {
                outln!("{}", change.summary());
                if change.needs_download() {
                    outln!("  {}  {}", e.hash, e.url);
                }
            }
            None => outln!("{}  [not downloaded: --dry-run]", change.summary()),
        },
        Event::SpecNotRead { path, error } => eprintln!(
            "warning: --spec {}: not read: {}",
            path.display(),
            spec_error(&error)
        ),
        Event::EndOfLife(eol) => eprint!("{}", kforge_diagnostics::update::end_of_life(&eol)),
        Event::OtherLock { spec, branch, lock } => eprintln!(
            "note: {} follows {branch} in another lock ({}); not checked",
            spec.display(),
            lock.display()
        ),
        Event::Unchanged { spec, branch } => eprintln!(
            "{}: branch {branch} does not change; nothing to check",
            spec.display()
        ),
        Event::Checked(r) => eprint!("{}", kforge_diagnostics::update::check_report(&r)),
        Event::Committed(line) => outln!("committed: {line}"),
        Event::Written(Written::DryRun { changes }) => {
            outln!("dry run: {changes} branch(es) would change; {lock} not written")
        }
        Event::Written(Written::UpToDate { branches }) => {
            outln!("{lock}: up to date ({branches} branches)")
        }
        Event::Written(Written::Wrote { changed }) => {
            outln!("wrote {lock} ({changed} branch(es) changed)")
        }
    }
}
