//! Following kernel.org's releases.
//!
//! [`ReleaseList`] reads kernel.org's `releases.json` (`latest_stable`, and
//! `releases[]` with `moniker`, `version`, `iseol`, `source`, `pgp`,
//! `released`) and groups its releases into branches
//! ([`ReleaseList::branches`]): `MAJOR.MINOR` for releases, `mainline` for
//! release candidates; linux-next is left out. A branch is longterm when
//! the list calls one of its releases `longterm`, end of life when one is
//! `iseol`. Versions compare as [`kforge_declaration::KernelVersion`]s (a release
//! candidate before its release).
//!
//! [`Keyring`] checks kernel.org's detached signatures (`.tar.sign`, over
//! the uncompressed tar) with the `pgp` crate.
//!
//! [`plan`] compares a lock file ([`kforge_declaration::Lock`], format in
//! `docs/lock-file.md`) with the list and says which branches change and
//! how; [`write_lock`] writes a lock atomically. Downloading and hashing the
//! tarballs is the `source` crate's work, and `kforge update` puts the
//! pieces together.

#![warn(missing_docs)]

use std::path::{Path, PathBuf};

mod list;
mod plan;
mod signature;

pub use list::{
    fetch_bytes, fetch_list, fetch_text, Branch, Moniker, Release, ReleaseList,
    DEFAULT_RELEASES_URL,
};
pub use plan::{plan, Change, ChangeKind, Plan};
pub use signature::{KeyProblem, Keyring, KEYRING_LIMIT};

/// Why the release list could not be read or the lock not written.
#[derive(Debug, thiserror::Error)]
pub enum ReleasesError {
    /// The list (or a signature) could not be fetched (connection, TLS, a
    /// file that cannot be read).
    #[error("cannot fetch {url}: {reason}\n  help: check the URL and the network, then run again")]
    Fetch {
        /// The URL or path.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The server answered with an error status.
    #[error("cannot fetch {url}: the server answered HTTP {status}\n  help: try again later, or check the URL")]
    Status {
        /// The URL.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// The list is not the JSON kforge expects.
    #[error("{from}:{line}:{column}: the release list is not valid: {message}\n  help: this is not kernel.org's releases.json; check --releases-url")]
    Json {
        /// The URL or path.
        from: String,
        /// serde_json's reason.
        message: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// `--branch` names a branch that is neither listed nor locked.
    #[error("branch {name} is neither on the release list nor in the lock file\n  help: the list has {}", if listed.is_empty() { "no branches".to_string() } else { listed.join(", ") })]
    UnknownBranch {
        /// The branch asked for.
        name: kforge_declaration::BranchName,
        /// The branches on the list.
        listed: Vec<String>,
    },
    /// The keyring cannot be read.
    #[error("{}: cannot read the keyring: {reason}\n  help: give a file of OpenPGP public keys, e.g. from `gpg --export --armor torvalds@kernel.org gregkh@kernel.org`", path.display())]
    Keyring {
        /// The keyring file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A tarball's signature is missing, unreadable, by an unknown key, or
    /// does not match.
    #[error("the signature of {what} is not good: {reason}\n  help: the tarball is not what its signer released; do not use it (it was not locked)")]
    Signature {
        /// The signed thing ("linux 6.6.119 (branch 6.6)").
        what: String,
        /// Why.
        reason: String,
    },
    /// A tarball's signature was made by a key of the keyring that cannot
    /// vouch for it now: expired, revoked, or not allowed to sign.
    #[error("the signature of {what} cannot be trusted: it was made by key {key} of the keyring {}, which {problem}\n  help: {}", keyring.display(), problem.remedy(key))]
    UntrustedKey {
        /// The signed thing ("linux 6.6.119 (branch 6.6)").
        what: String,
        /// The fingerprint of the key that made the signature.
        key: String,
        /// The keyring file.
        keyring: PathBuf,
        /// Why it cannot vouch for the signature.
        problem: KeyProblem,
    },
    /// New releases the list gives no signature for, while a keyring asks
    /// for every new tarball to be checked.
    #[error("{} {} no signature on the release list, and --keyring requires one\n  help: {}", releases.join(", "), if releases.len() == 1 { "has" } else { "have" }, unsigned_help(*candidates, *others))]
    Unsigned {
        /// The releases ("linux 6.19-rc1 (branch mainline)").
        releases: Vec<String>,
        /// Some are release candidates.
        candidates: bool,
        /// Some are not.
        others: bool,
    },
    /// The lock file could not be written.
    #[error("{}: cannot {action}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The system's reason.
        source: std::io::Error,
    },
}

/// The remedy for [`ReleasesError::Unsigned`].
fn unsigned_help(candidates: bool, others: bool) -> String {
    let mut help = Vec::new();
    if candidates {
        help.push(
            "kernel.org does not sign mainline's release candidates (their tarballs are \
             git.kernel.org snapshots): update the other branches with --keyring and --branch \
             naming them, and mainline in a run without --keyring",
        );
    }
    if others {
        help.push(
            "kernel.org signs every release but mainline's release candidates, each with a \
             `pgp` URL on its list: check --releases-url",
        );
    }
    help.join("; ")
}

/// Write `text` to `path` atomically and durably ([`kforge_fs::write_atomic`]:
/// a temporary file next to it, synced, then renamed over `path`). On
/// failure the temporary file is removed and `path` is as it was.
pub fn write_atomic(path: &Path, text: &str) -> Result<(), ReleasesError> {
    kforge_fs::write_atomic(path, text).map_err(|e| ReleasesError::Write {
        path: e.path,
        action: e.action,
        source: e.source,
    })
}

/// Write `lock` to `path` atomically ([`write_atomic`] of
/// [`kforge_declaration::Lock::to_toml`]).
pub fn write_lock(path: &Path, lock: &kforge_declaration::Lock) -> Result<(), ReleasesError> {
    write_atomic(path, &lock.to_toml())
}
