//! `kforge update`: follow kernel.org's releases in a lock file, one entry
//! per branch, and check declarations against the new releases before
//! anything is built. The steps are [`kforge_pipeline::update`]'s; this
//! front words its events, its reports and its errors.

use std::path::PathBuf;

use kforge_declaration::{BranchName, KernelVersion, SpecError};
use kforge_pipeline::update::{
    self, CheckReport, EndOfLife, Event, Finding, FindingKind, GitError, MeaningChange,
    UpdateError, Usage, Written,
};
use kforge_resolve::Outcome;

use crate::diagnostic::{self, Level};

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

fn how(u: &Usage) -> String {
    match u {
        Usage::Follows(b) => format!("follows {b}"),
        Usage::Pins(v) => format!("pins {v}"),
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
        Event::Unsigned { what } => {
            eprintln!("warning: {what} has no signature on the release list: not verified")
        }
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
        Event::EndOfLife(eol) => eprint!("{}", end_of_life(&eol)),
        Event::OtherLock { spec, branch, lock } => eprintln!(
            "note: {} follows {branch} in another lock ({}); not checked",
            spec.display(),
            lock.display()
        ),
        Event::Unchanged { spec, branch } => eprintln!(
            "{}: branch {branch} does not change; nothing to check",
            spec.display()
        ),
        Event::Checked(r) => eprint!("{}", check_report(&r)),
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

/// A warning for an end-of-life branch some declarations still use.
fn end_of_life(eol: &EndOfLife) -> String {
    let notes: Vec<String> = eol
        .users
        .iter()
        .map(|u| {
            let (path, at) = (u.path.display(), &u.at);
            format!("still used by {path} ({}, at {at})", how(&u.usage))
        })
        .collect();
    let suggest: Vec<String> = eol
        .suggest
        .iter()
        .map(|(b, lts)| format!("{b} ({})", if *lts { "longterm" } else { "stable" }))
        .collect();
    let help = (!suggest.is_empty())
        .then(|| format!("move them to a maintained branch: {}", suggest.join(", ")));
    let title = format!(
        "linux {} is end of life: {} is its last release",
        eol.branch, eol.version
    );
    let code = Some("end-of-life");
    diagnostic::render(
        Level::Warning,
        code,
        &title,
        None,
        "",
        &notes,
        help.as_deref(),
    )
}

fn requested(o: &Outcome) -> String {
    format!("{} = {}", o.request.symbol, o.request.value)
}

fn shown(v: Option<&String>) -> String {
    match v.map(String::as_str) {
        None => "(absent)".into(),
        Some("") => "\"\"".into(),
        Some(v) => v.into(),
    }
}

fn one_line(text: &str) -> String {
    text.lines().map(str::trim).collect::<Vec<_>>().join("; ")
}

/// The differences a check found, and its summary line.
fn check_report(r: &CheckReport) -> String {
    let (ov, nv) = (r.old, r.new);
    let mut out: String = r.findings.iter().map(|f| finding(f, ov, nv)).collect();
    for m in &r.modules_gone {
        let title = format!("{} in {nv} (it did in {ov})", m.message);
        let level = if m.required {
            Level::Error
        } else {
            Level::Warning
        };
        let code = Some("unknown-module");
        out.push_str(&diagnostic::render(
            level,
            code,
            &title,
            Some(&m.origin),
            "",
            &[],
            None,
        ));
    }
    out.push_str(&format!(
        "{} ({}): {ov} -> {nv}: {} requests, {} newly failing, {} warnings, {} notes\n",
        r.spec.display(),
        how(&r.usage),
        r.requests,
        r.errors,
        r.warnings,
        r.notes
    ));
    out
}

/// One finding of a check, as a diagnostic.
fn finding(f: &Finding, ov: KernelVersion, nv: KernelVersion) -> String {
    let o = &f.outcome;
    let mut lines: Vec<String> = Vec::new();
    if let Some(c) = &o.condition {
        lines.push(format!("requested while [when.{c}] holds"));
    }
    let problem = |o: &Outcome| {
        one_line(
            &o.problem
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
        )
    };
    let code = o.problem.as_ref().map(|p| p.kind());
    let (sym, req) = (&o.request.symbol, requested(o));
    let mut label = String::new();
    let (level, code, title, help) = match &f.kind {
        FindingKind::NewlyFailing { before, required } => {
            let text = o
                .problem
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default();
            let mut text_lines = text.lines();
            label = text_lines.next().unwrap_or_default().to_string();
            lines.extend(text_lines.map(|l| l.trim_start().to_string()));
            lines.push(match before {
                Some(b) => format!("with {ov} it held ({sym} = {})", shown(b.actual.as_ref())),
                None => format!("it does not apply to {ov} (since/until)"),
            });
            let help = o.fix.as_ref().map(|fix| {
                let mut h = format!("with {nv}, these requests make it hold (checked):\n[config]");
                for (s, v) in fix {
                    h.push_str(&format!("\n{s} = {v:?}"));
                }
                h
            });
            let is = (o.actual.as_ref())
                .map_or(String::new(), |a| format!(": it is {}", shown(Some(a))));
            let title = format!("{req} held with {ov} but not with {nv}{is}");
            let level = if *required {
                Level::Error
            } else {
                Level::Warning
            };
            (level, code, title, help)
        }
        FindingKind::NowHolds { before } => {
            lines.push(format!("with {ov}: {}", problem(before)));
            let title = format!("{req} did not hold with {ov}; it holds with {nv}");
            let help = "a workaround for the old version may no longer be needed";
            (
                Level::Note,
                Some("now-holds"),
                title,
                Some(help.to_string()),
            )
        }
        FindingKind::FailsOtherwise { before } => {
            lines.push(format!("with {ov}: {}", problem(before)));
            lines.push(format!("with {nv}: {}", problem(o)));
            let title = format!("{req} fails with {ov} and {nv}, for another reason");
            (Level::Warning, code, title, None)
        }
        FindingKind::MeaningChanged(changes) => {
            lines.extend(changes.iter().map(|c| match c {
                MeaningChange::NotApplied => format!("it does not apply to {ov} (since/until)"),
                MeaningChange::TypeChanged { old, new } => {
                    format!("its type changed: {old} with {ov}, {new} with {nv}")
                }
                MeaningChange::DependencyAppeared(c) => format!("a dependency appeared in {nv}: {c}"),
                MeaningChange::DependencyWentAway(c) => format!("a dependency went away in {nv}: {c}"),
                MeaningChange::New => format!("{sym} is new in {nv}"),
                MeaningChange::Undefined => format!("{sym} is not defined in {nv}"),
                MeaningChange::BaseValue { old, new } => format!(
                    "without this request, the base configuration gives {} with {nv} ({} with {ov})",
                    shown(new.as_ref()),
                    shown(old.as_ref())
                ),
            }));
            let title = format!("{req} holds with {ov} and {nv}, but its symbol changed");
            (Level::Note, Some("meaning-changed"), title, None)
        }
    };
    let at = Some(&o.request.origin);
    diagnostic::render(level, code, &title, at, &label, &lines, help.as_deref())
}
