//! kernel.org's signatures: each tarball has a detached OpenPGP signature
//! (`linux-X.Y.Z.tar.sign`, the list's `pgp`) made over the *uncompressed*
//! tar, so that one signature serves every compression. [`Keyring`] checks
//! one against the keys the user trusts.

use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use pgp::composed::{Deserializable, DetachedSignature, SignedPublicKey};
use pgp::types::{KeyDetails, VerifyingKey};

use crate::ReleasesError;

/// The OpenPGP public keys whose signatures are accepted (for kernel.org:
/// the keys of the developers who sign releases, e.g. exported with
/// `gpg --export --armor torvalds@kernel.org gregkh@kernel.org`).
#[derive(Debug)]
pub struct Keyring {
    path: PathBuf,
    keys: Vec<SignedPublicKey>,
}

impl Keyring {
    /// Read a keyring: one or more public keys, ASCII-armored or binary.
    pub fn load(path: &Path) -> Result<Keyring, ReleasesError> {
        let bad = |reason: String| ReleasesError::Keyring {
            path: path.to_path_buf(),
            reason,
        };
        let file = std::fs::File::open(path).map_err(|e| bad(e.to_string()))?;
        let (keys, _) = SignedPublicKey::from_reader_many(BufReader::new(file))
            .map_err(|e| bad(e.to_string()))?;
        let keys: Vec<SignedPublicKey> = keys
            .collect::<Result<_, _>>()
            .map_err(|e| bad(e.to_string()))?;
        if keys.is_empty() {
            return Err(bad("it holds no public key".into()));
        }
        Ok(Keyring {
            path: path.to_path_buf(),
            keys,
        })
    }

    /// The fingerprints of the primary keys, in upper-case hex.
    pub fn fingerprints(&self) -> Vec<String> {
        self.keys
            .iter()
            .map(|k| format!("{:X}", k.primary_key.fingerprint()))
            .collect()
    }

    /// Check the detached signature `signature` (armored or binary) over
    /// `data` (for kernel.org, the uncompressed tar). `what` names the
    /// signed thing in messages. Returns the fingerprint of the key that
    /// made the signature (a primary key or a subkey of the keyring).
    pub fn verify(
        &self,
        signature: &[u8],
        data: impl Read,
        what: &str,
    ) -> Result<String, ReleasesError> {
        let bad = |reason: String| ReleasesError::Signature {
            what: what.to_owned(),
            reason,
        };
        let (sig, _) = DetachedSignature::from_reader_single(signature)
            .map_err(|e| bad(format!("the signature cannot be read: {e}")))?;
        let sig = sig.signature;
        let fingerprints = sig.issuer_fingerprint();
        let key_ids = sig.issuer_key_id();
        let issued = |k: &dyn KeyDetails| {
            fingerprints.iter().any(|f| **f == k.fingerprint())
                || key_ids.iter().any(|i| **i == k.legacy_key_id())
        };
        for key in &self.keys {
            if issued(&key.primary_key) {
                return check(&sig, &key.primary_key, data, &bad);
            }
            for sub in &key.public_subkeys {
                if issued(&sub.key) {
                    return check(&sig, &sub.key, data, &bad);
                }
            }
        }
        let issuer: Vec<String> = fingerprints
            .iter()
            .map(|f| format!("{f:X}"))
            .chain(key_ids.iter().map(hex::encode_upper))
            .collect();
        Err(bad(format!(
            "it was made by key {}, which is not in the keyring {} (it has {})",
            if issuer.is_empty() {
                "(unnamed)".to_string()
            } else {
                issuer.join(" / ")
            },
            self.path.display(),
            self.fingerprints().join(", ")
        )))
    }
}

fn check(
    sig: &pgp::packet::Signature,
    key: &impl VerifyingKey,
    data: impl Read,
    bad: &dyn Fn(String) -> ReleasesError,
) -> Result<String, ReleasesError> {
    let fingerprint = format!("{:X}", key.fingerprint());
    sig.verify(key, data).map_err(|e| {
        bad(format!(
            "the signature by key {fingerprint} does not match: {e}"
        ))
    })?;
    Ok(fingerprint)
}
