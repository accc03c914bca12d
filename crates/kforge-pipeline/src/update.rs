//! Follow kernel.org's releases in a lock file, one entry per branch, and
//! check declarations against the new releases before anything is built.
//!
//! 1. The lock is read; a missing one is created.
//! 2. The release list is fetched and compared with the lock
//!    ([`kforge_releases::plan`]): new branches, newer releases, changed
//!    flags. [`Options::branches`] limits the branches tracked.
//! 3. Each new release's tarball is downloaded through kforge-source
//!    (cached, resumable, hashed while it downloads) and its SHA-256
//!    becomes the locked hash. A release already locked whose URL changed
//!    is downloaded again and checked against the locked hash;
//!    [`Options::verify`] does that for every tracked branch. Any failure
//!    stops the update before the lock is touched.
//! 4. End-of-life branches are reported with the declarations still using
//!    them ([`Options::specs`], else the `*.toml` files next to the lock).
//! 5. [`Options::check`]: each declaration's configuration is resolved
//!    against the old and the new source of its branch and the requests
//!    whose outcome or meaning changed are reported ([`CheckReport`]).
//! 6. The lock is written atomically, or with [`Options::commit`] one git
//!    commit per changed branch; [`Options::dry_run`] writes nothing.
//!
//! What happens is told, in order, as [`Event`]s; the front words them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use kforge_declaration::{BranchName, KernelVersion, Lock, LockedRelease, Origin, Spec, SpecError};
use kforge_releases::{Change, ChangeKind, ReleasesError};
use kforge_resolve::Outcome;

use crate::error::Error;
use crate::resolved::{self, Resolved};

/// What `update` does.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The lock file (created when missing).
    pub lock: PathBuf,
    /// kernel.org's release list (a URL, or a local file).
    pub releases_url: String,
    /// Track only these branches; empty: every branch on the list.
    pub branches: Vec<BranchName>,
    /// Write nothing; download only what the checks need.
    pub dry_run: bool,
    /// One git commit of the lock file per changed branch.
    pub commit: bool,
    /// Declarations to resolve against the old and the new source.
    pub check: Vec<PathBuf>,
    /// The old source's unpacked tree, for the checks (else prepared).
    pub old_tree: Option<PathBuf>,
    /// The new source's unpacked tree, for the checks (else prepared).
    pub new_tree: Option<PathBuf>,
    /// The declarations that use the lock (empty: the `*.toml` files next
    /// to it), for end-of-life warnings.
    pub specs: Vec<PathBuf>,
    /// Download every tracked branch's locked tarball again and check it.
    pub verify: bool,
    /// OpenPGP public keys to check new tarballs' signatures with.
    pub keyring: Option<PathBuf>,
    /// Answer `$(shell,...)` probes from the probe cache in the checks.
    pub probe_cache: bool,
    /// Show the downloads' progress.
    pub progress: bool,
}

/// Why the update stopped. The lock file is unchanged (with `commit`, the
/// commits made before a git failure stay).
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// The lock or a checked declaration is wrong.
    #[error(transparent)]
    Declaration(#[from] SpecError),
    /// The list, a signature or the lock could not be read or written.
    #[error(transparent)]
    Releases(#[from] ReleasesError),
    /// A tarball could not be fetched, verified or prepared.
    #[error(transparent)]
    Source(Box<kforge_source::SourceError>),
    /// A checked declaration could not be resolved.
    #[error("{}: {source}", spec.display())]
    Check {
        /// The declaration.
        spec: PathBuf,
        /// Why it could not be resolved.
        source: Box<Error>,
    },
    /// A git commit could not be made.
    #[error(transparent)]
    Git(#[from] GitError),
}

impl From<kforge_source::SourceError> for UpdateError {
    fn from(e: kforge_source::SourceError) -> Self {
        UpdateError::Source(Box::new(e))
    }
}

/// Why a commit of the lock file could not be made.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The lock path names no file.
    #[error("{}: not a file", .0.display())]
    NotAFile(PathBuf),
    /// The lock's directory is not in a git repository.
    #[error("{} is not in a git repository ({source})", dir.display())]
    NotARepository { dir: PathBuf, source: Box<GitError> },
    /// The lock file has changes git does not have (`status`, porcelain).
    #[error("{} has changes git does not have ({status})", lock.display())]
    Uncommitted { lock: PathBuf, status: String },
    /// git could not be run.
    #[error("cannot run git: {0}")]
    Spawn(std::io::Error),
    /// git failed; `stderr` is what it said.
    #[error("`git {}` failed ({status}): {stderr}", args.join(" "))]
    Failed {
        args: Vec<String>,
        status: std::process::ExitStatus,
        stderr: String,
    },
}

/// How a declaration uses a branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Usage {
    /// `version = { branch = ... }`.
    Follows(BranchName),
    /// A fixed version, as written.
    Pins(String),
}

/// A declaration still using an end-of-life branch.
#[derive(Debug, Clone)]
pub struct User {
    /// The declaration.
    pub path: PathBuf,
    /// How it uses the branch.
    pub usage: Usage,
    /// Where the declaration names its version.
    pub at: Origin,
}

/// An end-of-life branch some declarations still use.
#[derive(Debug, Clone)]
pub struct EndOfLife {
    /// The branch.
    pub branch: BranchName,
    /// Its last release.
    pub version: KernelVersion,
    /// The declarations that use it.
    pub users: Vec<User>,
    /// The newest maintained stable branch and longterm branch, as
    /// (branch, longterm), to move to.
    pub suggest: Vec<(BranchName, bool)>,
}

/// How the lock was written, or would be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// Dry run: `changes` branches would change; nothing written.
    DryRun { changes: usize },
    /// No change; the lock has `branches` branches (written when missing).
    UpToDate { branches: usize },
    /// The lock was written with `changed` branches changed.
    Wrote { changed: usize },
}

/// What happens, in order.
#[derive(Debug)]
pub enum Event {
    /// The lock does not exist yet: it is created (or would be).
    LockMissing,
    /// The release list left out an entry it could not read.
    Skipped(String),
    /// A note of the plan.
    PlanNote(String),
    /// A new release's signature is good.
    GoodSignature { what: String, fingerprint: String },
    /// A locked tarball was downloaded again and matched its hash.
    Verified {
        branch: BranchName,
        version: KernelVersion,
    },
    /// A branch's change and its new lock entry (`None`: not downloaded,
    /// dry run).
    Planned {
        change: Box<Change>,
        entry: Option<LockedRelease>,
    },
    /// A declaration named in [`Options::specs`] could not be read.
    SpecNotRead { path: PathBuf, error: SpecError },
    /// An end-of-life branch still in use.
    EndOfLife(EndOfLife),
    /// A checked declaration follows a branch of another lock: not checked.
    OtherLock {
        spec: PathBuf,
        branch: BranchName,
        lock: PathBuf,
    },
    /// A checked declaration's branch does not change: nothing to check.
    Unchanged { spec: PathBuf, branch: BranchName },
    /// A declaration checked against the new release.
    Checked(Box<CheckReport>),
    /// A commit was made; its message's first line.
    Committed(String),
    /// The lock was written (or not).
    Written(Written),
}

/// A declaration and the branch it uses.
struct Declared {
    path: PathBuf,
    spec: Spec,
    branch: BranchName,
    usage: Usage,
}

impl Declared {
    fn of(path: PathBuf, spec: Spec) -> Declared {
        let (branch, usage) = match &spec.source.follows {
            Some(f) => (f.branch, Usage::Follows(f.branch)),
            None => (
                BranchName::of(&spec.source.version),
                Usage::Pins(spec.source.version_text.clone()),
            ),
        };
        Declared {
            path,
            spec,
            branch,
            usage,
        }
    }

    /// The declaration, when it uses a branch of `lock` (following it, or
    /// pinning one of its versions).
    fn of_lock(path: PathBuf, spec: Spec, lock: &Path) -> Option<Declared> {
        match &spec.source.follows {
            // Another lock's branch: not ours to report.
            Some(f) if !same_file(&f.lock, lock) => None,
            _ => Some(Declared::of(path, spec)),
        }
    }
}

/// Whether `a` and `b` name the same file (or would, once created).
pub fn same_file(a: &Path, b: &Path) -> bool {
    let canon = |p: &Path| {
        std::fs::canonicalize(p).unwrap_or_else(|_| {
            let p = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
            match (
                p.parent().and_then(|d| std::fs::canonicalize(d).ok()),
                p.file_name(),
            ) {
                (Some(d), Some(n)) => d.join(n),
                _ => p,
            }
        })
    };
    canon(a) == canon(b)
}

/// Bring the lock up to date; returns the number of required requests of
/// the checked declarations that newly fail.
pub fn update(opts: &Options, on: &mut dyn FnMut(Event)) -> Result<usize, UpdateError> {
    let lock_path = &opts.lock;
    let old_lock = match Lock::load(lock_path) {
        Ok(lock) => lock,
        Err(SpecError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            on(Event::LockMissing);
            Lock::default()
        }
        Err(e) => return Err(e.into()),
    };
    // The declarations to check, read before anything is fetched: an error
    // in one stops the update early.
    let checked: Vec<Declared> = opts
        .check
        .iter()
        .map(|p| Ok(Declared::of(p.clone(), Spec::load(p)?)))
        .collect::<Result<_, SpecError>>()?;

    let keyring = opts
        .keyring
        .as_deref()
        .map(kforge_releases::Keyring::load)
        .transpose()?;

    let list = kforge_releases::fetch_list(&opts.releases_url)?;
    for s in &list.skipped {
        on(Event::Skipped(s.clone()));
    }
    let plan = kforge_releases::plan(&old_lock, &list, &opts.branches)?;
    for n in &plan.notes {
        on(Event::PlanNote(n.clone()));
    }

    let cache = kforge_source::Cache::default();
    let progress = opts.progress;
    let both_trees = opts.old_tree.is_some() && opts.new_tree.is_some();
    let needed_by_check: BTreeSet<BranchName> = if opts.new_tree.is_some() {
        BTreeSet::new()
    } else {
        checked.iter().map(|u| u.branch).collect()
    };

    // With a keyring, every tarball downloaded as new must be signed:
    // refused before anything is downloaded.
    if keyring.is_some() {
        let unsigned: Vec<&Change> = plan
            .changes
            .iter()
            .filter(|c| is_new_tarball(c) && c.new.latest.pgp.is_none())
            .collect();
        if !unsigned.is_empty() {
            let candidate = |c: &&Change| c.new.latest.version.rc != u32::MAX;
            return Err(ReleasesError::Unsigned {
                releases: unsigned.iter().map(|c| release_name(c)).collect(),
                candidates: unsigned.iter().any(candidate),
                others: !unsigned.iter().all(candidate),
            }
            .into());
        }
    }

    // Every download and check before anything is written.
    let mut entries: Vec<(&Change, Option<LockedRelease>)> = Vec::new();
    for change in &plan.changes {
        let entry = match (&change.kind, &change.old) {
            (ChangeKind::Same, Some(old)) if !change.needs_download() => {
                Some(change.locked(old.hash.clone()))
            }
            _ if opts.dry_run && !needed_by_check.contains(&change.name()) => None,
            (ChangeKind::Same, Some(old)) => {
                // The same release at a new place: it must be the same file.
                let item = fetchable(change.url(), Some(old.hash.clone()), change, &old_lock);
                kforge_source::fetch(&cache, &item, progress)?;
                Some(change.locked(old.hash.clone()))
            }
            _ => {
                let item = fetchable(change.url(), None, change, &old_lock);
                let got = kforge_source::fetch_unverified(&cache, &item, progress)?;
                if let Some(keyring) = &keyring {
                    verify_signature(keyring, change, &item.what, &got.path, on)?;
                }
                Some(change.locked(kforge_declaration::sri(&got.sha256)))
            }
        };
        entries.push((change, entry));
    }
    if opts.verify {
        let changed: BTreeSet<BranchName> = plan.changes.iter().map(Change::name).collect();
        for (name, locked) in &old_lock.branches {
            if changed.contains(name) || !(opts.branches.is_empty() || opts.branches.contains(name))
            {
                continue;
            }
            let item = kforge_source::Fetchable {
                location: kforge_source::Location::Url(locked.url.clone()),
                hash: Some(locked.hash.clone()),
                what: format!("linux {} (branch {name})", locked.version),
                origin: old_lock.origins.get(name).map(ToString::to_string),
            };
            kforge_source::fetch(&cache, &item, progress)?;
            on(Event::Verified {
                branch: *name,
                version: locked.version,
            });
        }
    }

    let mut new_lock = old_lock.clone();
    for (change, entry) in &entries {
        if let Some(e) = entry {
            new_lock.branches.insert(change.name(), e.clone());
        }
        on(Event::Planned {
            change: Box::new((*change).clone()),
            entry: entry.clone(),
        });
    }

    // End of life, and who still uses it.
    let mut users: Vec<Declared> = Vec::new();
    for u in &checked {
        users.extend(Declared::of_lock(u.path.clone(), u.spec.clone(), lock_path));
    }
    for path in spec_paths(opts) {
        if users.iter().any(|u| same_file(&u.path, &path)) {
            continue;
        }
        match Spec::load(&path) {
            Ok(spec) => users.extend(Declared::of_lock(path, spec, lock_path)),
            // A scanned file may be anything (an included profile...);
            // a named one should be a declaration.
            Err(error) if !opts.specs.is_empty() => on(Event::SpecNotRead { path, error }),
            Err(_) => {}
        }
    }
    for eol in end_of_life(&new_lock, &users) {
        on(Event::EndOfLife(eol));
    }

    // The checks.
    let mut newly_failing = 0;
    for u in &checked {
        if let Some(f) = &u.spec.source.follows {
            if !same_file(&f.lock, lock_path) {
                on(Event::OtherLock {
                    spec: u.path.clone(),
                    branch: f.branch,
                    lock: f.lock.clone(),
                });
                continue;
            }
        }
        let changed = entries
            .iter()
            .find(|(c, _)| c.name() == u.branch)
            .and_then(|(_, e)| e.clone());
        if changed.is_none() && !both_trees {
            on(Event::Unchanged {
                spec: u.path.clone(),
                branch: u.branch,
            });
            continue;
        }
        let report = check(opts, u, changed.as_ref(), &cache)?;
        newly_failing += report.errors;
        on(Event::Checked(Box::new(report)));
    }

    // Writing.
    let changes: Vec<(&Change, LockedRelease)> = entries
        .iter()
        .filter_map(|(c, e)| Some((*c, e.clone()?)))
        .collect();
    if opts.dry_run {
        on(Event::Written(Written::DryRun {
            changes: plan.changes.len(),
        }));
    } else if changes.is_empty() {
        on(Event::Written(Written::UpToDate {
            branches: new_lock.branches.len(),
        }));
        if !lock_path.exists() {
            kforge_releases::write_lock(lock_path, &new_lock)?;
        }
    } else if opts.commit {
        commit_each(lock_path, &old_lock, &changes, on)?;
    } else {
        kforge_releases::write_lock(lock_path, &new_lock)?;
        on(Event::Written(Written::Wrote {
            changed: changes.len(),
        }));
    }
    Ok(newly_failing)
}

/// Is the tarball of `change` downloaded as a new one (hashed and locked,
/// so checked against its signature with a keyring), rather than checked
/// against the hash already locked?
fn is_new_tarball(change: &Change) -> bool {
    !matches!((&change.kind, &change.old), (ChangeKind::Same, Some(_)))
}

/// "linux 6.6.119 (branch 6.6)": the release of `change` in messages.
fn release_name(change: &Change) -> String {
    format!(
        "linux {} (branch {})",
        change.new.latest.version,
        change.name()
    )
}

/// Check the downloaded tarball of `change` against its signature (over
/// the uncompressed tar). A tarball whose signature is not good, or made
/// by a key that cannot vouch for it, is removed from the cache. A release
/// without a signature on the list was refused before the download.
fn verify_signature(
    keyring: &kforge_releases::Keyring,
    change: &Change,
    what: &str,
    tarball: &Path,
    on: &mut dyn FnMut(Event),
) -> Result<(), UpdateError> {
    let Some(url) = change.new.latest.pgp.as_deref() else {
        return Err(ReleasesError::Unsigned {
            releases: vec![what.to_owned()],
            candidates: change.new.latest.version.rc != u32::MAX,
            others: change.new.latest.version.rc == u32::MAX,
        }
        .into());
    };
    let unreadable = |e: std::io::Error| ReleasesError::Signature {
        what: what.to_owned(),
        reason: format!("{}: {e}", tarball.display()),
    };
    let result = kforge_releases::fetch_bytes(url).and_then(|sig| {
        let file = std::fs::File::open(tarball).map_err(unreadable)?;
        let tar = kforge_source::decompressed(std::io::BufReader::with_capacity(256 * 1024, file))
            .map_err(unreadable)?;
        keyring.verify(&sig, tar, what)
    });
    match result {
        Ok(fingerprint) => {
            on(Event::GoodSignature {
                what: what.into(),
                fingerprint,
            });
            Ok(())
        }
        Err(e) => {
            // Not what its signer released, or not vouched for: not kept (a
            // signature that could not be fetched says nothing about the
            // tarball).
            if matches!(
                e,
                ReleasesError::Signature { .. } | ReleasesError::UntrustedKey { .. }
            ) {
                let _ = std::fs::remove_file(tarball);
            }
            Err(e.into())
        }
    }
}

/// The tarball of `change` as the source crate fetches it.
fn fetchable(
    url: &str,
    hash: Option<String>,
    change: &Change,
    lock: &Lock,
) -> kforge_source::Fetchable {
    kforge_source::Fetchable {
        location: kforge_source::Location::Url(url.to_owned()),
        hash,
        what: release_name(change),
        origin: lock.origins.get(&change.name()).map(ToString::to_string),
    }
}

/// [`Options::specs`], or the `*.toml` files next to the lock (not the lock).
fn spec_paths(opts: &Options) -> Vec<PathBuf> {
    if !opts.specs.is_empty() {
        return opts.specs.clone();
    }
    let dir = opts
        .lock
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "toml") && p.is_file())
                .filter(|p| !same_file(p, &opts.lock))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// The end-of-life branches of `lock` some of `users` still use.
fn end_of_life(lock: &Lock, users: &[Declared]) -> Vec<EndOfLife> {
    let maintained: Vec<(BranchName, &LockedRelease)> = lock
        .branches
        .iter()
        .filter(|(n, r)| !r.eol && matches!(n, BranchName::Series(..)))
        .map(|(n, r)| (*n, r))
        .collect();
    let mut suggest = Vec::new();
    if let Some((n, _)) = maintained.iter().rev().find(|(_, r)| !r.longterm) {
        suggest.push((*n, false));
    }
    if let Some((n, _)) = maintained.iter().rev().find(|(_, r)| r.longterm) {
        suggest.push((*n, true));
    }
    let mut out = Vec::new();
    for (name, r) in &lock.branches {
        if !r.eol {
            continue;
        }
        let users: Vec<User> = users
            .iter()
            .filter(|u| u.branch == *name)
            .map(|u| User {
                path: u.path.clone(),
                usage: u.usage.clone(),
                at: u
                    .spec
                    .source
                    .follows
                    .as_ref()
                    .map_or(&u.spec.source.origin, |f| &f.origin)
                    .clone(),
            })
            .collect();
        if users.is_empty() {
            continue;
        }
        out.push(EndOfLife {
            branch: *name,
            version: r.version,
            users,
            suggest: suggest.clone(),
        });
    }
    out
}

/// One git commit per change, in branch order: the lock as it is after
/// that change, only the lock file committed.
fn commit_each(
    lock_path: &Path,
    old: &Lock,
    changes: &[(&Change, LockedRelease)],
    on: &mut dyn FnMut(Event),
) -> Result<(), UpdateError> {
    let dir = lock_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let name = lock_path
        .file_name()
        .ok_or_else(|| GitError::NotAFile(lock_path.to_path_buf()))?
        .to_string_lossy()
        .into_owned();
    git(&dir, &["rev-parse", "--show-toplevel"]).map_err(|e| GitError::NotARepository {
        dir: dir.clone(),
        source: Box::new(e),
    })?;
    let status = git(&dir, &["status", "--porcelain", "--", &name])?;
    if !status.trim().is_empty() {
        return Err(GitError::Uncommitted {
            lock: lock_path.to_path_buf(),
            status: status.trim().to_string(),
        }
        .into());
    }
    let mut lock = old.clone();
    for (change, entry) in changes {
        lock.branches.insert(change.name(), entry.clone());
        kforge_releases::write_lock(lock_path, &lock)?;
        git(&dir, &["add", "--", &name])?;
        let message = change.commit_message();
        git(&dir, &["commit", "--quiet", "-m", &message, "--", &name])?;
        on(Event::Committed(
            message.lines().next().unwrap_or_default().to_string(),
        ));
    }
    Ok(())
}

/// Run git in `dir`; its standard output, or what it said.
fn git(dir: &Path, args: &[&str]) -> Result<String, GitError> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(GitError::Spawn)?;
    if !out.status.success() {
        return Err(GitError::Failed {
            args: args.iter().map(|a| a.to_string()).collect(),
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

// --- the checks ------------------------------------------------------------

/// A declaration resolved against the old and the new source of its
/// branch: the requests whose outcome or meaning changed.
#[derive(Debug, Clone)]
pub struct CheckReport {
    /// The declaration.
    pub spec: PathBuf,
    /// How it uses its branch.
    pub usage: Usage,
    /// The old tree's version.
    pub old: KernelVersion,
    /// The new tree's version.
    pub new: KernelVersion,
    /// The requests resolved on the new tree.
    pub requests: usize,
    /// The requests whose outcome or meaning changed, in the
    /// declaration's order.
    pub findings: Vec<Finding>,
    /// The `[modules]` entries no Makefile of the new version builds any
    /// more.
    pub modules_gone: Vec<ModuleGone>,
    /// The required requests (and modules) that newly fail.
    pub errors: usize,
    /// The findings that are warnings.
    pub warnings: usize,
    /// The findings that are notes.
    pub notes: usize,
}

/// A request whose outcome or meaning changed between the old and the new
/// resolution.
#[derive(Debug, Clone)]
pub struct Finding {
    /// Its outcome with the new version.
    pub outcome: Outcome,
    /// What changed.
    pub kind: FindingKind,
}

/// What changed about a request.
#[derive(Debug, Clone)]
pub enum FindingKind {
    /// It fails with the new version. `before`: its outcome with the old
    /// one (`None`: it did not apply). `required`: an error, else a warning.
    NewlyFailing {
        before: Option<Outcome>,
        required: bool,
    },
    /// It failed with the old version (`before`) and holds with the new one.
    NowHolds { before: Outcome },
    /// It fails with both, for another reason (`before`: the old outcome).
    FailsOtherwise { before: Outcome },
    /// It holds with both, but what it means changed.
    MeaningChanged(Vec<MeaningChange>),
}

/// A `[modules]` entry no Makefile of the new version builds.
#[derive(Debug, Clone)]
pub struct ModuleGone {
    /// Where the module set is declared.
    pub origin: Origin,
    /// Which module, and which architecture's Makefiles.
    pub message: String,
    /// An error, else a warning (`ignore_config_errors`).
    pub required: bool,
}

/// How a request that holds in both versions changed meaning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MeaningChange {
    /// It does not apply to the old version (since/until).
    NotApplied,
    /// The symbol's type changed.
    TypeChanged { old: String, new: String },
    /// A dependency term appeared in the new version.
    DependencyAppeared(String),
    /// A dependency term went away in the new version.
    DependencyWentAway(String),
    /// The symbol is new.
    New,
    /// The symbol is not defined in the new version.
    Undefined,
    /// The base configuration gives the symbol another value (`None`: it
    /// does not mention it).
    BaseValue {
        old: Option<String>,
        new: Option<String>,
    },
}

/// What the check compares about a requested symbol besides the outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Facts {
    ty: String,
    /// The `depends on` and prompt conditions, split at top-level `&&`.
    conditions: BTreeSet<String>,
}

/// A declaration resolved on one tree, with what the check compares.
struct Side {
    r: Resolved,
    /// Value of each symbol in the base configuration (`n` when "is not
    /// set"; absent when the base does not mention it), unquoted.
    base: BTreeMap<String, String>,
    /// Facts of each requested symbol (absent: not defined in the tree).
    facts: BTreeMap<String, Facts>,
}

impl Side {
    fn version(&self) -> KernelVersion {
        self.r.tree.version
    }
}

fn side(spec: &Spec, tree: &Path, probe_cache: bool) -> Result<Side, Error> {
    let r = resolved::resolve(spec, tree, probe_cache)?;
    let kc = &r.tree.kc;
    let mut facts = BTreeMap::new();
    for o in &r.res.outcomes {
        let name = &o.request.symbol;
        if facts.contains_key(name) {
            continue;
        }
        let Some(s) = kc
            .find(name)
            .filter(|&s| kc.sym(s).ty != kconfig_engine::SymType::Unknown)
        else {
            continue;
        };
        let mut conditions = conditions_of(kc, s);
        // A choice member inherits its choice's conditions, linked in
        // differently by 6.1 and 6.12: only its own count.
        let mut inherited = BTreeSet::new();
        if let Some(c) = kc.sym(s).choice_of {
            inherited.extend(conditions_of(kc, c));
        }
        if let Some(m) = kc.sym(s).choice_menu {
            let menu = kc.menu(m);
            split_and(&kc.expr_to_string(menu.dep), &mut inherited);
            if let Some(p) = menu.prompt {
                split_and(&kc.expr_to_string(kc.prop(p).visible), &mut inherited);
            }
            if let Some(c) = menu.sym.filter(|&c| c != s) {
                inherited.extend(conditions_of(kc, c));
            }
        }
        conditions.retain(|t| !inherited.contains(t));
        facts.insert(
            name.clone(),
            Facts {
                ty: kc.sym(s).ty.name().to_string(),
                conditions,
            },
        );
    }
    let base = base_values(&r.res.base_config);
    Ok(Side { r, base, facts })
}

/// The values of a configuration's symbols, strings without their quotes.
fn base_values(text: &str) -> BTreeMap<String, String> {
    kconfig_engine::parse_config(text, "CONFIG_")
        .into_iter()
        .map(|e| (e.name.to_string(), e.value.into_owned()))
        .collect()
}

/// The `depends on` and prompt conditions of `s`, split into terms.
fn conditions_of(kc: &kconfig_engine::Kconfig, s: kconfig_engine::SymbolId) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    split_and(&kc.expr_to_string(kc.sym(s).dir_dep), &mut out);
    for &m in &kc.sym(s).menus {
        if let Some(p) = kc.menu(m).prompt {
            split_and(&kc.expr_to_string(kc.prop(p).visible), &mut out);
        }
    }
    out
}

/// The terms of `expr` joined by a top-level `&&`, without `y` and the
/// `<choice>` term (an artefact of how the engine links choice members).
fn split_and(expr: &str, out: &mut BTreeSet<String>) {
    let mut depth = 0i32;
    let mut start = 0;
    let bytes = expr.as_bytes();
    let mut push = |t: &str| {
        let t = unwrap_parens(t.trim());
        if !t.is_empty() && t != "y" && t != "<choice>" {
            out.insert(t.to_string());
        }
    };
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'(' => depth += 1,
            b')' => depth -= 1,
            b'&' if depth == 0 && bytes.get(i + 1) == Some(&b'&') => {
                push(&expr[start..i]);
                start = i + 2;
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    push(&expr[start..]);
}

/// `t` without parentheses around all of it: `(A || B)` is `A || B`.
fn unwrap_parens(mut t: &str) -> &str {
    loop {
        let Some(inner) = t.strip_prefix('(').and_then(|r| r.strip_suffix(')')) else {
            return t;
        };
        // `(A) || (B)` starts and ends with parentheses that do not pair.
        let mut depth = 0i32;
        for c in inner.bytes() {
            match c {
                b'(' => depth += 1,
                b')' => depth -= 1,
                _ => {}
            }
            if depth < 0 {
                return t;
            }
        }
        t = inner.trim();
    }
}

/// Resolve `u` against its old and new source and compare.
fn check(
    opts: &Options,
    u: &Declared,
    new_entry: Option<&LockedRelease>,
    cache: &kforge_source::Cache,
) -> Result<CheckReport, UpdateError> {
    let fail = |e: Error| UpdateError::Check {
        spec: u.path.clone(),
        source: Box::new(e),
    };
    let mut new_spec = u.spec.clone();
    if let Some(e) = new_entry {
        new_spec.source.version = e.version;
        new_spec.source.version_text = e.version.to_string();
        new_spec.source.tarball = None;
        new_spec.source.url = Some(e.url.clone());
        new_spec.source.hash = Some(e.hash.clone());
    }
    let old_tree = match &opts.old_tree {
        Some(t) => t.clone(),
        None => kforge_source::prepare(cache, &u.spec, opts.progress)?.tree,
    };
    let new_tree = match &opts.new_tree {
        Some(t) => t.clone(),
        None => kforge_source::prepare(cache, &new_spec, opts.progress)?.tree,
    };
    let old = side(&u.spec, &old_tree, opts.probe_cache).map_err(fail)?;
    let new = side(&new_spec, &new_tree, opts.probe_cache).map_err(fail)?;
    Ok(compare(u, &old, &new))
}

type Key = (String, Option<String>, Origin);

fn key(o: &Outcome) -> Key {
    (
        o.request.symbol.clone(),
        o.condition.clone(),
        o.request.origin.clone(),
    )
}

/// The differences between the two resolutions.
fn compare(u: &Declared, old: &Side, new: &Side) -> CheckReport {
    let ignore = u.spec.build.ignore_config_errors;
    let old_by_key: BTreeMap<Key, &Outcome> =
        old.r.res.outcomes.iter().map(|o| (key(o), o)).collect();
    let mut findings = Vec::new();
    let (mut errors, mut warnings, mut notes) = (0, 0, 0);
    for o in &new.r.res.outcomes {
        let before = old_by_key.get(&key(o)).copied();
        let kind = match (before.filter(|b| b.problem.is_some()), &o.problem) {
            (None, Some(_)) => {
                let required = !o.request.optional && !ignore;
                if required {
                    errors += 1;
                } else {
                    warnings += 1;
                }
                let before = before.cloned();
                FindingKind::NewlyFailing { before, required }
            }
            (Some(b), None) => {
                notes += 1;
                FindingKind::NowHolds { before: b.clone() }
            }
            (Some(b), Some(p))
                if b.problem.as_ref().map(ToString::to_string) != Some(p.to_string()) =>
            {
                warnings += 1;
                FindingKind::FailsOtherwise { before: b.clone() }
            }
            (Some(_), Some(_)) => continue,
            (None, None) => {
                let changes = meaning_changes(o, before.is_some(), old, new);
                if changes.is_empty() {
                    continue;
                }
                notes += 1;
                FindingKind::MeaningChanged(changes)
            }
        };
        findings.push(Finding {
            outcome: o.clone(),
            kind,
        });
    }
    // Module sets: a module no Makefile builds any more (renamed, removed).
    let old_missing: BTreeSet<&String> = old.r.module_errors.iter().map(|(_, m)| m).collect();
    let mut modules_gone = Vec::new();
    for (origin, message) in &new.r.module_errors {
        if old_missing.contains(message) {
            continue;
        }
        if ignore {
            warnings += 1;
        } else {
            errors += 1;
        }
        modules_gone.push(ModuleGone {
            origin: origin.clone(),
            message: message.clone(),
            required: !ignore,
        });
    }
    CheckReport {
        spec: u.path.clone(),
        usage: u.usage.clone(),
        old: old.version(),
        new: new.version(),
        requests: new.r.res.outcomes.len(),
        findings,
        modules_gone,
        errors,
        warnings,
        notes,
    }
}

/// How a request that holds in both versions changed meaning: its
/// dependencies, its type, what the base configuration gives without it.
fn meaning_changes(
    o: &Outcome,
    applied_before: bool,
    old: &Side,
    new: &Side,
) -> Vec<MeaningChange> {
    let sym = &o.request.symbol;
    if !applied_before {
        return vec![MeaningChange::NotApplied];
    }
    let mut out = Vec::new();
    match (old.facts.get(sym), new.facts.get(sym)) {
        (Some(a), Some(b)) => {
            if a.ty != b.ty {
                out.push(MeaningChange::TypeChanged {
                    old: a.ty.clone(),
                    new: b.ty.clone(),
                });
            }
            for c in b.conditions.difference(&a.conditions) {
                out.push(MeaningChange::DependencyAppeared(c.clone()));
            }
            for c in a.conditions.difference(&b.conditions) {
                out.push(MeaningChange::DependencyWentAway(c.clone()));
            }
        }
        (None, Some(_)) => out.push(MeaningChange::New),
        (Some(_), None) => out.push(MeaningChange::Undefined),
        (None, None) => {}
    }
    let (a, b) = (old.base.get(sym), new.base.get(sym));
    if a != b {
        out.push(MeaningChange::BaseValue {
            old: a.cloned(),
            new: b.cloned(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_level_terms() {
        let mut s = BTreeSet::new();
        split_and(
            "<choice> && A && (B || C && D) && !E && PAHOLE_VERSION>=116",
            &mut s,
        );
        let v: Vec<&str> = s.iter().map(String::as_str).collect();
        assert_eq!(v, ["!E", "A", "B || C && D", "PAHOLE_VERSION>=116"]);
        assert_eq!(unwrap_parens("((A || B))"), "A || B");
        assert_eq!(unwrap_parens("(A) || (B)"), "(A) || (B)");
        let mut s = BTreeSet::new();
        split_and("y", &mut s);
        assert!(s.is_empty());
    }

    #[test]
    fn values_of_a_config() {
        let m = base_values("CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_S=\"x y\"\n# c\n");
        assert_eq!(m["A"], "y");
        assert_eq!(m["B"], "n");
        assert_eq!(m["S"], "x y");
        assert_eq!(m.len(), 3);
    }

    #[test]
    fn a_file_not_yet_created_is_itself() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("kernels.lock.toml");
        assert!(same_file(
            &a,
            &dir.path().join(".").join("kernels.lock.toml")
        ));
        assert!(!same_file(&a, &dir.path().join("other.toml")));
    }

    #[test]
    fn the_declarations_next_to_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join("kernels.lock.toml");
        for f in ["kernels.lock.toml", "b.toml", "a.toml", "notes.txt"] {
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        let opts = Options {
            lock: lock.clone(),
            ..Options::default()
        };
        let names: Vec<String> = spec_paths(&opts)
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.toml", "b.toml"]);
        let opts = Options {
            lock,
            specs: vec![PathBuf::from("x.toml")],
            ..Options::default()
        };
        assert_eq!(spec_paths(&opts), [PathBuf::from("x.toml")]);
    }

    /// A lock with 6.6 (end of life at 6.6.9), 6.12 (longterm) and 6.13,
    /// a list that moves 6.12 on, and declarations next to the lock.
    fn setup(dir: &Path) -> Options {
        let rel = |moniker: &str, v: &str, eol: bool| {
            format!(
                r#"{{"moniker": "{moniker}", "version": "{v}", "iseol": {eol}, "source": "http://127.0.0.1:9/linux-{v}.tar.xz", "pgp": null, "released": {{"timestamp": 1765800000, "isodate": "2025-12-15"}}}}"#
            )
        };
        let list = dir.join("releases.json");
        std::fs::write(
            &list,
            format!(
                r#"{{"latest_stable": {{"version": "6.13.2"}}, "releases": [{}, {}, {}]}}"#,
                rel("longterm", "6.12.3", false),
                rel("stable", "6.13.2", false),
                rel("stable", "6.6.9", true)
            ),
        )
        .unwrap();
        let locked = |b: &str, v: &str, lts: bool, eol: bool| {
            format!("[branches.\"{b}\"]\nversion = \"{v}\"\nurl = \"http://127.0.0.1:9/linux-{v}.tar.xz\"\nhash = \"sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\"\nlongterm = {lts}\neol = {eol}\n\n")
        };
        let lock = dir.join("kernels.lock.toml");
        std::fs::write(
            &lock,
            format!(
                "format = 1\n\n{}{}{}",
                locked("6.6", "6.6.9", false, true),
                locked("6.12", "6.12.2", true, false),
                locked("6.13", "6.13.2", false, false)
            ),
        )
        .unwrap();
        let decl = |name: &str, version: &str| {
            let text = format!("[source]\nversion = {version}\n[build]\narch = \"x86_64\"\n");
            std::fs::write(dir.join(name), text).unwrap();
        };
        decl("pinned.toml", "\"6.6.3\"");
        decl("follows.toml", "{ branch = \"6.6\" }");
        decl("current.toml", "{ branch = \"6.12\" }");
        std::fs::write(dir.join("profile.toml"), "[config]\nA = \"y\"\n").unwrap();
        Options {
            lock,
            releases_url: list.display().to_string(),
            dry_run: true,
            ..Options::default()
        }
    }

    #[test]
    fn a_dry_run_plans_warns_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let opts = setup(dir.path());
        let before = std::fs::read_to_string(&opts.lock).unwrap();
        let mut events = Vec::new();
        let failing = update(&opts, &mut |e| events.push(e)).unwrap();
        assert_eq!(failing, 0);
        assert_eq!(std::fs::read_to_string(&opts.lock).unwrap(), before);
        let planned: Vec<String> = events
            .iter()
            .filter_map(|e| match e {
                Event::Planned { change, entry } => {
                    assert!(entry.is_none(), "a dry run downloads nothing");
                    Some(change.summary())
                }
                _ => None,
            })
            .collect();
        assert_eq!(planned, ["6.12: 6.12.2 -> 6.12.3"]);
        let eol: Vec<&EndOfLife> = events
            .iter()
            .filter_map(|e| match e {
                Event::EndOfLife(x) => Some(x),
                _ => None,
            })
            .collect();
        assert_eq!(eol.len(), 1);
        assert_eq!(eol[0].branch.to_string(), "6.6");
        assert_eq!(eol[0].version.to_string(), "6.6.9");
        let users: Vec<(String, Usage)> = eol[0]
            .users
            .iter()
            .map(|u| {
                let name = u.path.file_name().unwrap().to_string_lossy().into_owned();
                (name, u.usage.clone())
            })
            .collect();
        let b66: BranchName = "6.6".parse().unwrap();
        assert_eq!(
            users,
            [
                ("follows.toml".to_string(), Usage::Follows(b66)),
                ("pinned.toml".to_string(), Usage::Pins("6.6.3".into()))
            ]
        );
        let suggest: Vec<(String, bool)> = (eol[0].suggest.iter())
            .map(|(b, lts)| (b.to_string(), *lts))
            .collect();
        assert_eq!(
            suggest,
            [("6.13".to_string(), false), ("6.12".to_string(), true)]
        );
        assert!(matches!(
            events.last(),
            Some(Event::Written(Written::DryRun { changes: 1 }))
        ));
    }

    #[test]
    fn a_named_declaration_that_does_not_load_is_told() {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = setup(dir.path());
        opts.specs = vec![dir.path().join("profile.toml")];
        let mut events = Vec::new();
        update(&opts, &mut |e| events.push(e)).unwrap();
        assert!(events.iter().any(
            |e| matches!(e, Event::SpecNotRead { path, .. } if path.ends_with("profile.toml"))
        ));
        assert!(!events.iter().any(|e| matches!(e, Event::EndOfLife(_))));
    }

    #[test]
    fn a_checked_declaration_that_does_not_load_stops_the_update() {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = setup(dir.path());
        opts.check = vec![dir.path().join("absent.toml")];
        let mut events = Vec::new();
        let e = update(&opts, &mut |e| events.push(e)).unwrap_err();
        assert!(matches!(e, UpdateError::Declaration(_)), "{e}");
        assert!(events.is_empty(), "nothing fetched before: {events:?}");
    }

    #[test]
    fn git_outside_a_repository_fails_with_its_words() {
        let dir = tempfile::tempdir().unwrap();
        match git(dir.path(), &["rev-parse", "--show-toplevel"]) {
            Err(GitError::Failed { args, .. }) => {
                assert_eq!(args, ["rev-parse", "--show-toplevel"])
            }
            // No git on this machine, or a repository around the temporary
            // directory: nothing to learn.
            Err(GitError::Spawn(_)) | Ok(_) => {}
            Err(e) => panic!("{e}"),
        }
    }
}
