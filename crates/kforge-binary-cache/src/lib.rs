//! kforge's binary cache: store entries pushed to, and substituted from,
//! caches other machines share (an S3 bucket, an HTTP server, a
//! directory), signed with ed25519 so that a machine takes only what a key
//! it trusts signed.
//!
//! An entry travels as two objects beside each other: `NAME.tar.zst`, a
//! deterministic tar of the entry compressed with zstd ([`archive`]), and
//! `NAME.manifest`, a few lines naming the entry, its store key and the
//! archive's size and SHA-256, signed ([`manifest`]). Keys are
//! `NAME:BASE64` text as Nix writes them ([`keys`]); cache URLs are
//! `s3://`, `http(s)://` or `file://` ([`location`]). [`Cache`] pushes and
//! pulls; a pull refuses, each with its own [`Error`], an unsigned entry,
//! one signed by an untrusted key, a manifest or archive changed after
//! signing, a truncated download, and an archive holding what an entry may
//! not, and leaves nothing in the store when it refuses.
//!
//! Without the `transport` feature (on by default) the crate is only the
//! parsers of cache URLs and keys, for the declaration to check
//! `[store] substituters` and `trusted_keys` with.
//!
//! An internal component of kforge; its API is not stable.

#[cfg(feature = "transport")]
pub mod archive;
#[cfg(feature = "transport")]
mod cache;
pub mod keys;
pub mod location;
pub mod manifest;

use std::path::PathBuf;

#[cfg(feature = "transport")]
pub use cache::{
    check_entry_name, contains, local_entries, open_for_push, Cache, Credentials, Pulled, Pushed,
};
pub use keys::{keygen, KeyFiles, PublicKey, SecretKey};
pub use location::Location;

/// Why a binary cache operation failed; each refusal has its own variant.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A cache URL that does not parse.
    #[error("`{url}` is not a binary cache URL: {reason}")]
    Url { url: String, reason: String },
    /// A key (text or file) that does not parse.
    #[error("{what}: {reason}")]
    Key { what: String, reason: String },
    /// A key file could not be read or written.
    #[error("{}: {source}", path.display())]
    KeyFile {
        path: PathBuf,
        source: std::io::Error,
    },
    /// `keygen` would replace a file.
    #[error("{}: exists already; a key is never replaced (choose another name, or move the old one away)", .0.display())]
    KeyExists(PathBuf),
    /// Not the name of a store entry.
    #[error("`{0}` is not the name of a store entry (32 hex digits, then -linux-VERSION-ARCH)")]
    BadEntryName(String),
    /// The local store has no such entry to push.
    #[error("{}: no such store entry", .0.display())]
    NoSuchEntry(PathBuf),
    /// Push to a read-only cache (HTTP).
    #[error("{url}: an HTTP cache is read only; push to its s3:// or file:// side")]
    ReadOnly { url: String },
    /// The cache has no such entry.
    #[error("{url}: has no {name}")]
    Missing { url: String, name: String },
    /// The manifest carries no signature.
    #[error("{url}: {name} is unsigned; refused")]
    Unsigned { url: String, name: String },
    /// Signed by a key not among the trusted ones.
    #[error("{url}: {name} is signed by `{key}`, which is not a trusted key (trusted: {}); refused", if trusted.is_empty() { "none".to_string() } else { trusted.join(", ") })]
    Untrusted {
        url: String,
        name: String,
        key: String,
        trusted: Vec<String>,
    },
    /// The manifest's signature does not match its text.
    #[error("{url}: the manifest of {name} does not match its signature by `{key}`: it was changed after signing; refused")]
    BadSignature {
        url: String,
        name: String,
        key: String,
    },
    /// The manifest is signed but cannot be used.
    #[error("{url}: the manifest of {name} is unusable: {reason}")]
    BadManifest {
        url: String,
        name: String,
        reason: String,
    },
    /// The archive's SHA-256 is not the signed one.
    #[error("{url}: the archive of {name} was changed: its SHA-256 is {got}, the signed manifest says {expected}; refused")]
    ArchiveChanged {
        url: String,
        name: String,
        expected: String,
        got: String,
    },
    /// Fewer bytes came than the signed manifest says.
    #[error("{url}: the archive of {name} is truncated: {got} of {expected} bytes; refused")]
    Truncated {
        url: String,
        name: String,
        expected: u64,
        got: u64,
    },
    /// More bytes than the signed manifest says.
    #[error("{url}: the archive of {name} is larger than the {limit} bytes its signed manifest says; refused")]
    TooLarge {
        url: String,
        name: String,
        limit: u64,
    },
    /// The archive holds what a store entry may not.
    #[error("{url}: the archive of {name} is unsafe: {reason}; refused")]
    UnsafeArchive {
        url: String,
        name: String,
        reason: String,
    },
    /// No connection could be made.
    #[error("{url}: unreachable: {reason}")]
    Unreachable { url: String, reason: String },
    /// The server refused the credentials or the operation.
    #[error("{url}: access denied (check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and the bucket's permissions): {reason}")]
    AccessDenied { url: String, reason: String },
    /// Another failure of the transport.
    #[error("{url}: {reason}")]
    Transport { url: String, reason: String },
    /// A local I/O step failed; `what` says which.
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

impl Error {
    /// Whether this is a refusal of what the cache served (a signature,
    /// a changed or truncated download, an unsafe archive), as opposed to
    /// a cache that is missing the entry or cannot be reached.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            Error::Unsigned { .. }
                | Error::Untrusted { .. }
                | Error::BadSignature { .. }
                | Error::BadManifest { .. }
                | Error::ArchiveChanged { .. }
                | Error::Truncated { .. }
                | Error::TooLarge { .. }
                | Error::UnsafeArchive { .. }
        )
    }
}
