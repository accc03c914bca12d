//! `kforge update`: follow kernel.org's releases in a lock file, one entry
//! per branch, and check declarations against the new releases before
//! anything is built.
//!
//! 1. The lock (`--lock`, default `kernels.lock.toml`) is read; a missing
//!    one is created.
//! 2. The release list (`--releases-url`) is fetched and compared with the
//!    lock ([`kforge_releases::plan`]): new branches, newer releases, changed
//!    flags. `--branch` limits the branches tracked.
//! 3. Each new release's tarball is downloaded through the `source` crate
//!    (cached, resumable, hashed while it downloads) and its SHA-256
//!    becomes the locked hash. A release already locked whose URL changed
//!    is downloaded again and checked against the locked hash; `--verify`
//!    does that for every tracked branch. Any failure stops the update
//!    before the lock is touched.
//! 4. End-of-life branches are reported with the declarations still using
//!    them (`--spec FILE...`, else the `*.toml` files next to the lock).
//! 5. `--check SPEC...` resolves each declaration's configuration against
//!    the old and the new source of its branch (configuration only) and
//!    reports the requests whose outcome or meaning changed.
//! 6. The lock is written atomically, or with `--commit` one git commit
//!    per changed branch; `--dry-run` writes nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::Command;

use kforge_declaration::{BranchName, KernelVersion, Lock, LockedRelease, Spec, SpecError};
use kforge_releases::{Change, ChangeKind};

use crate::diagnostic::{self, Level};
use kforge_pipeline::resolved;
use kforge_pipeline::Error as ConfigError;

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
    /// Track only these branches (`6.12`, `mainline`); without it every
    /// branch on the list is tracked and new ones are added
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
    /// a .tar.sign over the uncompressed tar) with these OpenPGP public keys
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

/// Why the update stopped. The lock file is unchanged (with `--commit`,
/// the commits made before a git failure stay).
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("{}", spec_error(.0))]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Releases(#[from] kforge_releases::ReleasesError),
    #[error(transparent)]
    Source(Box<kforge_source::SourceError>),
    #[error("--check {}: {source}", spec.display())]
    Check {
        spec: PathBuf,
        source: Box<ConfigError>,
    },
    #[error("--commit: {0}")]
    Git(String),
}

impl From<kforge_source::SourceError> for UpdateError {
    fn from(e: kforge_source::SourceError) -> Self {
        UpdateError::Source(Box::new(e))
    }
}

fn spec_error(e: &SpecError) -> String {
    match e.help() {
        Some(h) => format!("{e}\n  help: {h}"),
        None => e.to_string(),
    }
}

/// `kforge update`.
pub fn run(args: UpdateArgs) -> i32 {
    match try_run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!("{}: not changed", args.lock.display());
            1
        }
    }
}

/// A declaration and the branch it uses.
struct User {
    path: PathBuf,
    spec: Spec,
    branch: BranchName,
    /// "follows 6.12" or "pins 6.12.3".
    how: String,
}

impl User {
    fn new(path: PathBuf, spec: Spec, lock: &Path) -> Option<User> {
        let (branch, how) = match &spec.source.follows {
            Some(f) if same_file(&f.lock, lock) => (f.branch, format!("follows {}", f.branch)),
            // Another lock's branch: not ours to report.
            Some(_) => return None,
            None => (
                BranchName::of(&spec.source.version),
                format!("pins {}", spec.source.version_text),
            ),
        };
        Some(User {
            path,
            spec,
            branch,
            how,
        })
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
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

fn try_run(args: &UpdateArgs) -> Result<i32, UpdateError> {
    let lock_path = &args.lock;
    let old_lock = match Lock::load(lock_path) {
        Ok(lock) => lock,
        Err(SpecError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            eprintln!(
                "note: {} does not exist yet: it {} created",
                lock_path.display(),
                if args.dry_run { "would be" } else { "is" }
            );
            Lock::default()
        }
        Err(e) => return Err(e.into()),
    };
    // The declarations to check, read before anything is fetched: an error
    // in one stops the update early.
    let checked: Vec<User> = args
        .check
        .iter()
        .map(|p| {
            let spec = Spec::load(p)?;
            let branch = match &spec.source.follows {
                Some(f) => f.branch,
                None => BranchName::of(&spec.source.version),
            };
            let how = match &spec.source.follows {
                Some(f) => format!("follows {}", f.branch),
                None => format!("pins {}", spec.source.version_text),
            };
            Ok(User {
                path: p.clone(),
                spec,
                branch,
                how,
            })
        })
        .collect::<Result<_, SpecError>>()?;

    let keyring = args
        .keyring
        .as_deref()
        .map(kforge_releases::Keyring::load)
        .transpose()?;

    let list = kforge_releases::fetch_list(&args.releases_url)?;
    for s in &list.skipped {
        eprintln!("note: {}: left out {s}", args.releases_url);
    }
    let plan = kforge_releases::plan(&old_lock, &list, &args.branches)?;
    for n in &plan.notes {
        eprintln!("note: {n}");
    }

    let cache = kforge_source::Cache::default();
    let progress = std::io::stderr().is_terminal();
    let both_trees = args.old_tree.is_some() && args.new_tree.is_some();
    let needed_by_check: BTreeSet<BranchName> = if args.new_tree.is_some() {
        BTreeSet::new()
    } else {
        checked.iter().map(|u| u.branch).collect()
    };

    // Every download and check before anything is written.
    let mut entries: Vec<(&Change, Option<LockedRelease>)> = Vec::new();
    for change in &plan.changes {
        let entry = match (&change.kind, &change.old) {
            (ChangeKind::Same, Some(old)) if !change.needs_download() => {
                Some(change.locked(old.hash.clone()))
            }
            _ if args.dry_run && !needed_by_check.contains(&change.name()) => None,
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
                    verify_signature(keyring, change, &item.what, &got.path)?;
                }
                Some(change.locked(kforge_declaration::sri(&got.sha256)))
            }
        };
        entries.push((change, entry));
    }
    if args.verify {
        let changed: BTreeSet<BranchName> = plan.changes.iter().map(Change::name).collect();
        for (name, locked) in &old_lock.branches {
            if changed.contains(name) || !(args.branches.is_empty() || args.branches.contains(name))
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
            println!("{name}: {} verified", locked.version);
        }
    }

    let mut new_lock = old_lock.clone();
    for (change, entry) in &entries {
        let line = change.summary();
        match entry {
            Some(e) => {
                println!("{line}");
                if change.needs_download() {
                    println!("  {}  {}", e.hash, e.url);
                }
                new_lock.branches.insert(change.name(), e.clone());
            }
            None => println!("{line}  [not downloaded: --dry-run]"),
        }
    }

    // End of life, and who still uses it.
    let mut users: Vec<User> = Vec::new();
    for u in &checked {
        if let Some(u) = User::new(u.path.clone(), u.spec.clone(), lock_path) {
            users.push(u);
        }
    }
    for path in spec_paths(args) {
        if users.iter().any(|u| same_file(&u.path, &path)) {
            continue;
        }
        match Spec::load(&path) {
            Ok(spec) => users.extend(User::new(path, spec, lock_path)),
            // A scanned file may be anything (an included profile...);
            // a named one should be a declaration.
            Err(e) if !args.specs.is_empty() => {
                eprintln!(
                    "warning: --spec {}: not read: {}",
                    path.display(),
                    spec_error(&e)
                )
            }
            Err(_) => {}
        }
    }
    warn_end_of_life(&new_lock, &users);

    // --check.
    let mut newly_failing = 0;
    for u in &checked {
        if let Some(f) = &u.spec.source.follows {
            if !same_file(&f.lock, lock_path) {
                eprintln!(
                    "note: {} follows {} in another lock ({}); not checked",
                    u.path.display(),
                    f.branch,
                    f.lock.display()
                );
                continue;
            }
        }
        let changed = entries
            .iter()
            .find(|(c, _)| c.name() == u.branch)
            .and_then(|(_, e)| e.clone());
        if changed.is_none() && !both_trees {
            eprintln!(
                "{}: branch {} does not change; nothing to check",
                u.path.display(),
                u.branch
            );
            continue;
        }
        newly_failing += check(args, u, changed.as_ref(), &cache, progress)?;
    }

    // Writing.
    let changes: Vec<(&Change, LockedRelease)> = entries
        .iter()
        .filter_map(|(c, e)| Some((*c, e.clone()?)))
        .collect();
    if args.dry_run {
        println!(
            "dry run: {} branch(es) would change; {} not written",
            plan.changes.len(),
            lock_path.display()
        );
    } else if changes.is_empty() {
        println!(
            "{}: up to date ({} branches)",
            lock_path.display(),
            new_lock.branches.len()
        );
        if !lock_path.exists() {
            kforge_releases::write_lock(lock_path, &new_lock)?;
        }
    } else if args.commit {
        commit_each(lock_path, &old_lock, &changes)?;
    } else {
        kforge_releases::write_lock(lock_path, &new_lock)?;
        println!(
            "wrote {} ({} branch(es) changed)",
            lock_path.display(),
            changes.len()
        );
    }
    Ok(if newly_failing > 0 { 1 } else { 0 })
}

/// Check the downloaded tarball of `change` against its signature (over
/// the uncompressed tar). A tarball whose signature is not good is removed
/// from the cache. A release without a signature on the list is let
/// through with a warning (kernel.org does not sign mainline's release
/// candidates).
fn verify_signature(
    keyring: &kforge_releases::Keyring,
    change: &Change,
    what: &str,
    tarball: &Path,
) -> Result<(), UpdateError> {
    let Some(url) = change.new.latest.pgp.as_deref() else {
        eprintln!("warning: {what} has no signature on the release list: not verified");
        return Ok(());
    };
    let result = kforge_releases::fetch_bytes(url).and_then(|sig| {
        let file = std::fs::File::open(tarball).map_err(|e| {
            kforge_releases::ReleasesError::Signature {
                what: what.to_owned(),
                reason: format!("{}: {e}", tarball.display()),
            }
        })?;
        let tar = kforge_source::decompressed(std::io::BufReader::with_capacity(256 * 1024, file))
            .map_err(|e| kforge_releases::ReleasesError::Signature {
                what: what.to_owned(),
                reason: format!("{}: {e}", tarball.display()),
            })?;
        keyring.verify(&sig, tar, what)
    });
    match result {
        Ok(fingerprint) => {
            eprintln!("{what}: good signature by {fingerprint}");
            Ok(())
        }
        Err(e) => {
            // Not what its signer released: not kept (a signature that could
            // not be fetched says nothing about the tarball).
            if matches!(e, kforge_releases::ReleasesError::Signature { .. }) {
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
        what: format!(
            "linux {} (branch {})",
            change.new.latest.version,
            change.name()
        ),
        origin: lock.origins.get(&change.name()).map(ToString::to_string),
    }
}

/// `--spec`, or the `*.toml` files next to the lock (not the lock).
fn spec_paths(args: &UpdateArgs) -> Vec<PathBuf> {
    if !args.specs.is_empty() {
        return args.specs.clone();
    }
    let dir = args
        .lock
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "toml") && p.is_file())
                .filter(|p| !same_file(p, &args.lock))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// A warning per end-of-life branch some declaration still uses.
fn warn_end_of_life(lock: &Lock, users: &[User]) {
    let maintained: Vec<(BranchName, &LockedRelease)> = lock
        .branches
        .iter()
        .filter(|(n, r)| !r.eol && matches!(n, BranchName::Series(..)))
        .map(|(n, r)| (*n, r))
        .collect();
    let mut suggest: Vec<String> = Vec::new();
    if let Some((n, _)) = maintained.iter().rev().find(|(_, r)| !r.longterm) {
        suggest.push(format!("{n} (stable)"));
    }
    if let Some((n, _)) = maintained.iter().rev().find(|(_, r)| r.longterm) {
        suggest.push(format!("{n} (longterm)"));
    }
    for (name, r) in &lock.branches {
        if !r.eol {
            continue;
        }
        let using: Vec<&User> = users.iter().filter(|u| u.branch == *name).collect();
        if using.is_empty() {
            continue;
        }
        let notes: Vec<String> = using
            .iter()
            .map(|u| {
                let at = u
                    .spec
                    .source
                    .follows
                    .as_ref()
                    .map_or(&u.spec.source.origin, |f| &f.origin);
                format!("still used by {} ({}, at {at})", u.path.display(), u.how)
            })
            .collect();
        let help = (!suggest.is_empty())
            .then(|| format!("move them to a maintained branch: {}", suggest.join(", ")));
        eprint!(
            "{}",
            diagnostic::render(
                Level::Warning,
                Some("end-of-life"),
                &format!(
                    "linux {name} is end of life: {} is its last release",
                    r.version
                ),
                None,
                "",
                &notes,
                help.as_deref(),
            )
        );
    }
}

/// One git commit per change, in branch order: the lock as it is after
/// that change, only the lock file committed.
fn commit_each(
    lock_path: &Path,
    old: &Lock,
    changes: &[(&Change, LockedRelease)],
) -> Result<(), UpdateError> {
    let dir = lock_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let name = lock_path
        .file_name()
        .ok_or_else(|| UpdateError::Git(format!("{}: not a file", lock_path.display())))?
        .to_string_lossy()
        .into_owned();
    git(&dir, &["rev-parse", "--show-toplevel"]).map_err(|e| {
        UpdateError::Git(format!(
            "{} is not in a git repository ({e})",
            dir.display()
        ))
    })?;
    let status = git(&dir, &["status", "--porcelain", "--", &name])?;
    if !status.trim().is_empty() {
        return Err(UpdateError::Git(format!(
            "{} has changes git does not have ({}); commit or revert them first, so that each commit holds one branch's change",
            lock_path.display(),
            status.trim()
        )));
    }
    let mut lock = old.clone();
    for (change, entry) in changes {
        lock.branches.insert(change.name(), entry.clone());
        kforge_releases::write_lock(lock_path, &lock)?;
        git(&dir, &["add", "--", &name])?;
        let message = change.commit_message();
        git(&dir, &["commit", "--quiet", "-m", &message, "--", &name])?;
        println!("committed: {}", message.lines().next().unwrap_or_default());
    }
    Ok(())
}

/// Run git in `dir`; its standard output, or an error with what it said.
fn git(dir: &Path, args: &[&str]) -> Result<String, UpdateError> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|e| UpdateError::Git(format!("cannot run git: {e}")))?;
    if !out.status.success() {
        return Err(UpdateError::Git(format!(
            "`git {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

// --- --check -------------------------------------------------------------

/// What the check compares about a requested symbol besides the outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Facts {
    ty: String,
    /// The `depends on` and prompt conditions, split at top-level `&&`.
    conditions: BTreeSet<String>,
}

/// A declaration resolved on one tree.
struct Resolved {
    version: KernelVersion,
    res: kforge_resolve::Resolution,
    /// Value of each symbol in the base configuration (`n` when "is not
    /// set"; absent when the base does not mention it).
    base: BTreeMap<String, String>,
    /// Facts of each requested symbol (absent: not defined in the tree).
    facts: BTreeMap<String, Facts>,
    /// `[modules.X]` entries no Makefile builds.
    missing_modules: Vec<(kforge_declaration::Origin, String)>,
}

fn resolve_on(spec: &Spec, tree: &Path, probe_cache: bool) -> Result<Resolved, ConfigError> {
    let mut t = resolved::load_tree(tree, resolved::Toolchain::of(spec), probe_cache)?;
    let mut input = kforge_resolve::Input::from_spec(spec, &t.version);
    let missing_modules = resolved::module_requests(spec, tree, &t.kc, &mut input)?;
    let res = kforge_resolve::resolve(&mut t.kc, &input)?;
    let mut facts = BTreeMap::new();
    for o in &res.outcomes {
        let name = &o.request.symbol;
        if facts.contains_key(name) {
            continue;
        }
        let Some(s) =
            t.kc.find(name)
                .filter(|&s| t.kc.sym(s).ty != kconfig_engine::SymType::Unknown)
        else {
            continue;
        };
        let kc = &t.kc;
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
    let base = config_values(&res.base_config);
    Ok(Resolved {
        version: t.version,
        res,
        base,
        facts,
        missing_modules,
    })
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

/// `CONFIG_X=v` and `# CONFIG_X is not set` (as `n`) of a configuration.
fn config_values(text: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for l in text.lines() {
        if let Some((k, v)) = l.strip_prefix("CONFIG_").and_then(|r| r.split_once('=')) {
            m.insert(k.to_string(), v.trim_matches('"').to_string());
        } else if let Some(k) = l
            .strip_prefix("# CONFIG_")
            .and_then(|r| r.strip_suffix(" is not set"))
        {
            m.insert(k.to_string(), "n".to_string());
        }
    }
    m
}

/// Resolve `u` against its old and new source and report the differences.
/// Returns the number of required requests that newly fail.
fn check(
    args: &UpdateArgs,
    u: &User,
    new_entry: Option<&LockedRelease>,
    cache: &kforge_source::Cache,
    progress: bool,
) -> Result<usize, UpdateError> {
    let fail = |e: ConfigError| UpdateError::Check {
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
    let old_tree = match &args.old_tree {
        Some(t) => t.clone(),
        None => kforge_source::prepare(cache, &u.spec, progress)?.tree,
    };
    let new_tree = match &args.new_tree {
        Some(t) => t.clone(),
        None => kforge_source::prepare(cache, &new_spec, progress)?.tree,
    };
    let probe_cache = !args.no_probe_cache;
    let old = resolve_on(&u.spec, &old_tree, probe_cache).map_err(fail)?;
    let new = resolve_on(&new_spec, &new_tree, probe_cache).map_err(fail)?;
    Ok(report(u, &old, &new))
}

type Key = (String, Option<String>, kforge_declaration::Origin);

fn key(o: &kforge_resolve::Outcome) -> Key {
    (
        o.request.symbol.clone(),
        o.condition.clone(),
        o.request.origin.clone(),
    )
}

fn requested(o: &kforge_resolve::Outcome) -> String {
    format!("{} = {}", o.request.symbol, o.request.value)
}

fn shown(v: Option<&String>) -> String {
    match v.map(String::as_str) {
        None => "(absent)".into(),
        Some("") => "\"\"".into(),
        Some(v) => v.into(),
    }
}

/// Print the differences between the two resolutions; return the number
/// of required requests that newly fail.
fn report(u: &User, old: &Resolved, new: &Resolved) -> usize {
    let (ov, nv) = (old.version, new.version);
    let ignore = u.spec.build.ignore_config_errors;
    let old_by_key: BTreeMap<Key, &kforge_resolve::Outcome> =
        old.res.outcomes.iter().map(|o| (key(o), o)).collect();
    let mut out = String::new();
    let (mut errors, mut warnings, mut notes) = (0, 0, 0);
    for o in &new.res.outcomes {
        let before = old_by_key.get(&key(o)).copied();
        let mut lines: Vec<String> = Vec::new();
        if let Some(c) = &o.condition {
            lines.push(format!("requested while [when.{c}] holds"));
        }
        match (before.and_then(|b| b.problem.as_ref()), &o.problem) {
            (None, Some(p)) => {
                let required = !o.request.optional && !ignore;
                let level = if required {
                    errors += 1;
                    Level::Error
                } else {
                    warnings += 1;
                    Level::Warning
                };
                let text = p.to_string();
                let mut text_lines = text.lines();
                let label = text_lines.next().unwrap_or_default().to_string();
                lines.extend(text_lines.map(|l| l.trim_start().to_string()));
                match before {
                    Some(b) => lines.push(format!(
                        "with {ov} it held ({} = {})",
                        o.request.symbol,
                        shown(b.actual.as_ref())
                    )),
                    None => lines.push(format!("it does not apply to {ov} (since/until)")),
                }
                let help = o.fix.as_ref().map(|fix| {
                    let mut h =
                        format!("with {nv}, these requests make it hold (checked):\n[config]");
                    for (s, v) in fix {
                        h.push_str(&format!("\n{s} = {v:?}"));
                    }
                    h
                });
                out.push_str(&diagnostic::render(
                    level,
                    Some(p.kind()),
                    &format!(
                        "{} held with {ov} but not with {nv}{}",
                        requested(o),
                        o.actual
                            .as_ref()
                            .map_or(String::new(), |a| format!(": it is {}", shown(Some(a))))
                    ),
                    Some(&o.request.origin),
                    &label,
                    &lines,
                    help.as_deref(),
                ));
            }
            (Some(p), None) => {
                notes += 1;
                lines.push(format!("with {ov}: {}", one_line(&p.to_string())));
                out.push_str(&diagnostic::render(
                    Level::Note,
                    Some("now-holds"),
                    &format!(
                        "{} did not hold with {ov}; it holds with {nv}",
                        requested(o)
                    ),
                    Some(&o.request.origin),
                    "",
                    &lines,
                    Some("a workaround for the old version may no longer be needed"),
                ));
            }
            (Some(a), Some(b)) if a.to_string() != b.to_string() => {
                warnings += 1;
                lines.push(format!("with {ov}: {}", one_line(&a.to_string())));
                lines.push(format!("with {nv}: {}", one_line(&b.to_string())));
                out.push_str(&diagnostic::render(
                    Level::Warning,
                    Some(b.kind()),
                    &format!(
                        "{} fails with {ov} and {nv}, for another reason",
                        requested(o)
                    ),
                    Some(&o.request.origin),
                    "",
                    &lines,
                    None,
                ));
            }
            (Some(_), Some(_)) => {}
            (None, None) => {
                let changes = meaning_changes(o, before.is_some(), old, new);
                if changes.is_empty() {
                    continue;
                }
                notes += 1;
                lines.extend(changes);
                out.push_str(&diagnostic::render(
                    Level::Note,
                    Some("meaning-changed"),
                    &format!(
                        "{} holds with {ov} and {nv}, but its symbol changed",
                        requested(o)
                    ),
                    Some(&o.request.origin),
                    "",
                    &lines,
                    None,
                ));
            }
        }
    }
    // Module sets: a module no Makefile builds any more (renamed, removed).
    let old_missing: BTreeSet<&String> = old.missing_modules.iter().map(|(_, m)| m).collect();
    for (origin, msg) in &new.missing_modules {
        if old_missing.contains(msg) {
            continue;
        }
        let level = if ignore {
            warnings += 1;
            Level::Warning
        } else {
            errors += 1;
            Level::Error
        };
        out.push_str(&diagnostic::render(
            level,
            Some("unknown-module"),
            &format!("{msg} in {nv} (it did in {ov})"),
            Some(origin),
            "",
            &[],
            None,
        ));
    }
    out.push_str(&format!(
        "{} ({}): {ov} -> {nv}: {} requests, {errors} newly failing, {warnings} warnings, {notes} notes\n",
        u.path.display(),
        u.how,
        new.res.outcomes.len()
    ));
    eprint!("{out}");
    errors
}

fn one_line(text: &str) -> String {
    text.lines().map(str::trim).collect::<Vec<_>>().join("; ")
}

/// How a request that holds in both versions changed meaning: its
/// dependencies, its type, what the base configuration gives without it.
fn meaning_changes(
    o: &kforge_resolve::Outcome,
    applied_before: bool,
    old: &Resolved,
    new: &Resolved,
) -> Vec<String> {
    let (ov, nv) = (old.version, new.version);
    let sym = &o.request.symbol;
    let mut out = Vec::new();
    if !applied_before {
        out.push(format!("it does not apply to {ov} (since/until)"));
        return out;
    }
    match (old.facts.get(sym), new.facts.get(sym)) {
        (Some(a), Some(b)) => {
            if a.ty != b.ty {
                out.push(format!(
                    "its type changed: {} with {ov}, {} with {nv}",
                    a.ty, b.ty
                ));
            }
            for c in b.conditions.difference(&a.conditions) {
                out.push(format!("a dependency appeared in {nv}: {c}"));
            }
            for c in a.conditions.difference(&b.conditions) {
                out.push(format!("a dependency went away in {nv}: {c}"));
            }
        }
        (None, Some(_)) => out.push(format!("{sym} is new in {nv}")),
        (Some(_), None) => out.push(format!("{sym} is not defined in {nv}")),
        (None, None) => {}
    }
    let (a, b) = (old.base.get(sym), new.base.get(sym));
    if a != b {
        out.push(format!(
            "without this request, the base configuration gives {} with {nv} ({} with {ov})",
            shown(b),
            shown(a)
        ));
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
        let m = config_values("CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_S=\"x y\"\n# c\n");
        assert_eq!(m["A"], "y");
        assert_eq!(m["B"], "n");
        assert_eq!(m["S"], "x y");
        assert_eq!(m.len(), 3);
    }
}
