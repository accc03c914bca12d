//! What `kforge update` changes in a lock file, given the release list.

use kforge_declaration::{BranchName, Lock, LockedRelease};

use crate::{Branch, ReleaseList, ReleasesError};

/// How a branch's entry changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeKind {
    /// A branch the lock does not have yet.
    New,
    /// A newer release.
    Bump,
    /// The same release; its flags or its URL changed.
    Same,
}

/// One branch whose entry in the lock changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// New branch, newer release, or the same release.
    pub kind: ChangeKind,
    /// The entry in the lock now (`None` for a new branch).
    pub old: Option<LockedRelease>,
    /// The branch on the release list.
    pub new: Branch,
}

impl Change {
    /// The branch.
    pub fn name(&self) -> BranchName {
        self.new.name
    }

    /// The tarball's URL on the list.
    pub fn url(&self) -> &str {
        self.new.latest.source.as_deref().unwrap_or_default()
    }

    /// Does the tarball have to be fetched? A new release is hashed; the
    /// same release at a new URL is checked against the locked hash.
    pub fn needs_download(&self) -> bool {
        match (&self.kind, &self.old) {
            (ChangeKind::Same, Some(old)) => old.url != self.url(),
            _ => true,
        }
    }

    /// The entry the lock gets, given the tarball's hash (kept from the
    /// old entry for the same release).
    pub fn locked(&self, hash: String) -> LockedRelease {
        LockedRelease {
            version: self.new.latest.version,
            url: self.url().to_owned(),
            hash,
            longterm: self.new.longterm,
            eol: self.new.eol,
            released: self
                .new
                .latest
                .date
                .clone()
                .or_else(|| self.old.as_ref().and_then(|o| o.released.clone())),
        }
    }

    /// One line for the user: `6.6: 6.6.118 -> 6.6.119 (end of life)`.
    pub fn summary(&self) -> String {
        let name = self.name();
        let new = &self.new.latest.version;
        let mut s = match &self.old {
            None => format!("{name}: new branch at {new}"),
            Some(old) if old.version != *new => format!("{name}: {} -> {new}", old.version),
            Some(_) => format!("{name}: {new}"),
        };
        let notes = self.notes();
        if !notes.is_empty() {
            s.push_str(&format!(" ({})", notes.join(", ")));
        }
        s
    }

    /// The flags and moves that change: "end of life", "longterm", ...
    fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if self.name().is_alias() {
            // What matters of an alias is the series it now follows.
            let new = self.new.latest.version;
            let moved = self
                .old
                .as_ref()
                .is_some_and(|o| (o.version.major, o.version.minor) != (new.major, new.minor));
            if moved {
                notes.push(format!(
                    "now {}.{}, {}",
                    new.major,
                    new.minor,
                    if self.name() == BranchName::Longterm {
                        "a new longterm series"
                    } else {
                        "a new major release"
                    }
                ));
            }
            return notes;
        }
        let (old_lt, old_eol) = self
            .old
            .as_ref()
            .map_or((false, false), |o| (o.longterm, o.eol));
        if self.new.longterm && !old_lt {
            notes.push("longterm".to_string());
        }
        if !self.new.longterm && old_lt {
            notes.push("no longer longterm".to_string());
        }
        if self.new.eol && !old_eol {
            notes.push("end of life".to_string());
        }
        if !self.new.eol && old_eol {
            notes.push("no longer end of life".to_string());
        }
        if let Some(old) = &self.old {
            if old.version == self.new.latest.version && old.url != self.url() {
                notes.push(format!("moved to {}", self.url()));
            }
        }
        notes
    }

    /// The commit message: `linux 6.6: 6.6.118 -> 6.6.119`, `linux 6.18:
    /// init at 6.18.1`, or for the same release `linux 6.6: 6.6.119 is
    /// end of life` (`is longterm`, `moved to URL`, ...); then, after a blank line, the flags
    /// that changed, when the subject does not say them.
    pub fn commit_message(&self) -> String {
        let name = self.name();
        let new = &self.new.latest.version;
        let notes = self.notes();
        let subject = match &self.old {
            None => format!("linux {name}: init at {new}"),
            Some(old) if old.version != *new => format!("linux {name}: {} -> {new}", old.version),
            Some(_) => {
                let said: Vec<String> = notes
                    .iter()
                    .map(|n| {
                        if n.starts_with("moved") {
                            n.clone()
                        } else {
                            format!("is {n}")
                        }
                    })
                    .collect();
                format!("linux {name}: {new} {}", said.join(", "))
            }
        };
        let mut body: Vec<String> = Vec::new();
        if self.kind != ChangeKind::Same {
            body.extend(notes.iter().map(|n| format!("{name}: {n}")));
        }
        if self.needs_download() {
            body.push(format!("url: {}", self.url()));
        }
        if body.is_empty() {
            subject
        } else {
            format!("{subject}\n\n{}\n", body.join("\n"))
        }
    }
}

/// The changes that bring `lock` up to date with `list`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// In branch order.
    pub changes: Vec<Change>,
    /// Things the user should know that change nothing: a locked branch
    /// the list no longer has, a release without a tarball, a list older
    /// than the lock.
    pub notes: Vec<String>,
}

/// Compare the lock with the list. With `only` empty, every branch on the
/// list is tracked (new ones are added); otherwise only the branches named
/// there (each must be on the list or in the lock).
pub fn plan(lock: &Lock, list: &ReleaseList, only: &[BranchName]) -> Result<Plan, ReleasesError> {
    let branches = list.branches();
    for name in only {
        if !branches.contains_key(name) && !lock.branches.contains_key(name) {
            return Err(ReleasesError::UnknownBranch {
                name: *name,
                listed: branches.keys().map(ToString::to_string).collect(),
            });
        }
    }
    let mut out = Plan::default();
    let tracked = |name: &BranchName| only.is_empty() || only.contains(name);
    for (name, locked) in &lock.branches {
        if tracked(name) && !branches.contains_key(name) {
            let what = if locked.eol {
                "(it is end of life)"
            } else {
                "(kernel.org drops a branch from the list some time after its end of life)"
            };
            out.notes.push(format!(
                "{name}: not on the release list any more; {} stays locked {what}",
                locked.version
            ));
        }
    }
    for (name, branch) in branches {
        // An alias is tracked when asked for: named, or in the lock.
        let alias_wanted = only.contains(&name) || lock.branches.contains_key(&name);
        if !tracked(&name) || (name.is_alias() && !alias_wanted) {
            continue;
        }
        let version = branch.latest.version;
        if branch.latest.source.is_none() {
            out.notes.push(format!(
                "{name}: {version} has no tarball on the list; left as it is"
            ));
            continue;
        }
        let old = lock.branches.get(&name).cloned();
        let kind = match &old {
            None => ChangeKind::New,
            Some(o) if version > o.version => ChangeKind::Bump,
            Some(o) if version < o.version => {
                out.notes.push(format!(
                    "{name}: the list has {version}, older than the locked {}; left as it is",
                    o.version
                ));
                continue;
            }
            Some(o) => {
                let url = branch.latest.source.as_deref().unwrap_or_default();
                if o.longterm == branch.longterm && o.eol == branch.eol && o.url == url {
                    continue;
                }
                ChangeKind::Same
            }
        };
        out.changes.push(Change {
            kind,
            old,
            new: branch,
        });
    }
    Ok(out)
}
