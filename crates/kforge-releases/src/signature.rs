//! kernel.org's signatures: each tarball has a detached OpenPGP signature
//! (`linux-X.Y.Z.tar.sign`, the list's `pgp`) made over the *uncompressed*
//! tar, so that one signature serves every compression. [`Keyring`] checks
//! one against the keys the user trusts.
//!
//! A key vouches for a signature only when it is fit to make it now: bound
//! to its certificate by a valid self-signature of its owner (for a
//! subkey: a valid binding signature, and a valid back-signature when it
//! signs), not expired, not revoked by its owner, and allowed to sign by
//! its key flags. The `pgp` crate checks each self-signature
//! cryptographically; which self-signatures count (for a primary key, the
//! newest valid direct-key signature and the newest valid certification of
//! its primary user ID, the earlier expiry of the two; for a subkey, its
//! newest valid binding) and what their subpackets mean is decided here. Signatures on the
//! certificate by other keys (certifications of other people, a designated
//! revoker's) are not ours to check and are ignored. Any revocation by the
//! owner counts, whatever its reason and date (stricter than RFC 9580's
//! "soft" revocations, which only end the key's validity from their date).

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use pgp::composed::{Deserializable, DetachedSignature, SignedPublicKey, SignedPublicSubKey};
use pgp::packet::{RevocationCode, Signature, SignatureType, SubpacketData};
use pgp::types::{KeyDetails, Tag, VerifyingKey};

use crate::ReleasesError;

/// The most read of a keyring file (a keyring of many developers' keys,
/// with their certifications, is a few MiB).
pub const KEYRING_LIMIT: u64 = 64 << 20;

/// Why a key of the keyring cannot vouch for a signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyProblem {
    /// No valid self-signature of its owner binds it to its certificate.
    Unbound,
    /// The self-signature that counts says it expired then (seconds since
    /// the epoch).
    Expired(u64),
    /// Its owner revoked it; the reason given.
    Revoked(String),
    /// The self-signature that counts does not give it the signing flag.
    CannotSign,
    /// A subkey with the signing flag whose binding has no valid
    /// back-signature (its own signature over the primary key).
    NoBackSignature,
    /// A subkey whose primary key cannot vouch for anything.
    Primary {
        /// The primary key's fingerprint.
        fingerprint: String,
        /// Why.
        problem: Box<KeyProblem>,
    },
}

impl fmt::Display for KeyProblem {
    /// The words after "the key ...": "expired on 2025-01-02 03:04 UTC".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyProblem::Unbound => write!(f, "is not bound by a valid self-signature of its owner"),
            KeyProblem::Expired(at) => write!(f, "expired on {}", utc(*at)),
            KeyProblem::Revoked(reason) => write!(f, "was revoked by its owner ({reason})"),
            KeyProblem::CannotSign => write!(
                f,
                "may not make signatures (its self-signature does not give it the signing flag)"
            ),
            KeyProblem::NoBackSignature => write!(
                f,
                "may not make signatures (it has the signing flag but no valid back-signature \
                 over its primary key)"
            ),
            KeyProblem::Primary {
                fingerprint,
                problem,
            } => write!(f, "is a subkey of {fingerprint}, which {problem}"),
        }
    }
}

impl KeyProblem {
    /// What the user can do about it, for the key `fingerprint`.
    pub fn remedy(&self, fingerprint: &str) -> String {
        match self {
            KeyProblem::Expired(_) => format!(
                "keys are often extended: refresh it (`gpg --refresh-keys {fingerprint}`), \
                 export the keyring again and run again; a key that was not extended cannot \
                 vouch for this release"
            ),
            KeyProblem::Revoked(_) => "do not use this release: the key that signed it was \
                 revoked; export the keyring again with the keys its signers use now and run \
                 again"
                .into(),
            KeyProblem::Primary {
                fingerprint,
                problem,
            } => problem.remedy(fingerprint),
            KeyProblem::Unbound | KeyProblem::CannotSign | KeyProblem::NoBackSignature => {
                format!(
                    "the keyring's copy of the key does not let it sign: export it again from \
                     its owner's published key (`gpg --export --armor {fingerprint}`) and run \
                     again"
                )
            }
        }
    }
}

/// `secs` since the epoch as `YYYY-MM-DD HH:MM UTC` (the proleptic
/// Gregorian calendar, from the day count).
fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let (hour, minute) = ((secs % 86_400) / 3600, (secs % 3600) / 60);
    // Days since 0000-03-01, in 400-year eras of 146,097 days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02} UTC")
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Upper-case hex fingerprint of a key.
fn hex_fingerprint(key: &impl KeyDetails) -> String {
    format!("{:X}", key.fingerprint())
}

/// Does `sig` name `key` as its issuer (or name none)?
fn issued_by(sig: &Signature, key: &impl KeyDetails) -> bool {
    let fingerprints = sig.issuer_fingerprint();
    let ids = sig.issuer_key_id();
    (fingerprints.is_empty() && ids.is_empty())
        || fingerprints.iter().any(|f| **f == key.fingerprint())
        || ids.iter().any(|i| **i == key.legacy_key_id())
}

fn created(sig: &Signature) -> u64 {
    sig.created().map_or(0, |t| u64::from(t.as_secs()))
}

/// Has `sig` itself expired (its own Signature Expiration Time)?
fn sig_expired(sig: &Signature, now: u64) -> bool {
    sig.signature_expiration_time()
        .map(|d| u64::from(d.as_secs()))
        .is_some_and(|d| d > 0 && created(sig) + d <= now)
}

/// Does `sig` carry a key flags subpacket in its hashed area?
fn has_key_flags(sig: &Signature) -> bool {
    sig.config().is_some_and(|c| {
        c.hashed_subpackets()
            .any(|p| matches!(p.data, SubpacketData::KeyFlags(_)))
    })
}

/// The words for a revocation signature's reason.
fn revocation_reason(sig: &Signature) -> String {
    let code = match sig.revocation_reason_code() {
        None | Some(RevocationCode::NoReason) => "no reason given",
        Some(RevocationCode::KeySuperseded) => "key superseded",
        Some(RevocationCode::KeyCompromised) => "key material compromised",
        Some(RevocationCode::KeyRetired) => "key retired",
        Some(_) => "another reason",
    };
    let text = sig
        .revocation_reason_string()
        .map(|b| String::from_utf8_lossy(b).trim().to_string())
        .unwrap_or_default();
    if text.is_empty() {
        code.to_string()
    } else {
        format!("{code}: {text}")
    }
}

/// Of `sigs`, the newest (by creation time) not expired itself.
fn newest<'s>(sigs: impl Iterator<Item = &'s Signature>, now: u64) -> Option<&'s Signature> {
    sigs.filter(|s| !sig_expired(s, now))
        .max_by_key(|s| created(s))
}

/// When the key created at `created_at` expires by `binding`, if ever.
fn expiry(binding: &Signature, created_at: u64) -> Option<u64> {
    binding
        .key_expiration_time()
        .map(|d| u64::from(d.as_secs()))
        .filter(|d| *d > 0)
        .map(|d| created_at + d)
}

/// Can the certificate's primary key vouch for a signature `now`?
fn primary_problem(cert: &SignedPublicKey, now: u64) -> Option<KeyProblem> {
    let pk = &cert.primary_key;
    if let Some(sig) = cert
        .details
        .revocation_signatures
        .iter()
        .find(|s| issued_by(s, pk) && s.verify_key(pk).is_ok())
    {
        return Some(KeyProblem::Revoked(revocation_reason(sig)));
    }
    // The self-signatures that say what the primary key may do: its
    // newest direct-key signature, and the newest certification of its
    // primary user ID (of every user ID when none is marked primary).
    let direct = newest(
        cert.details
            .direct_signatures
            .iter()
            .filter(|s| issued_by(s, pk) && s.verify_key(pk).is_ok()),
        now,
    );
    let marked = cert.details.users.iter().any(|u| u.is_primary());
    let certification = newest(
        cert.details
            .users
            .iter()
            .filter(|u| !marked || u.is_primary())
            .flat_map(|u| {
                u.signatures.iter().filter(move |s| {
                    s.typ() != Some(SignatureType::CertRevocation)
                        && issued_by(s, pk)
                        && s.verify_certification(pk, Tag::UserId, &u.id).is_ok()
                })
            }),
        now,
    );
    let bindings: Vec<&Signature> = direct.into_iter().chain(certification).collect();
    if bindings.is_empty() {
        return Some(KeyProblem::Unbound);
    }
    // The earlier expiry of the two, when both give one (a direct-key
    // signature often only names a revoker, and says nothing of expiry).
    let created_at = u64::from(pk.created_at().as_secs());
    if let Some(end) = bindings.iter().filter_map(|b| expiry(b, created_at)).min() {
        if end <= now {
            return Some(KeyProblem::Expired(end));
        }
    }
    // The key flags of the newer that has them; without any (older keys),
    // a primary key that could make the signature is taken to be allowed to.
    let flagged = bindings
        .iter()
        .filter(|b| has_key_flags(b))
        .max_by_key(|b| created(b));
    if flagged.is_some_and(|b| !b.key_flags().sign()) {
        return Some(KeyProblem::CannotSign);
    }
    None
}

/// Can the subkey `sub` of `cert` vouch for a signature `now`?
fn subkey_problem(
    cert: &SignedPublicKey,
    sub: &SignedPublicSubKey,
    now: u64,
) -> Option<KeyProblem> {
    let pk = &cert.primary_key;
    match primary_problem(cert, now) {
        None | Some(KeyProblem::CannotSign) => {}
        Some(problem) => {
            return Some(KeyProblem::Primary {
                fingerprint: hex_fingerprint(pk),
                problem: Box::new(problem),
            })
        }
    }
    let by_owner =
        |s: &&Signature| issued_by(s, pk) && s.verify_subkey_binding(pk, &sub.key).is_ok();
    if let Some(sig) = sub
        .signatures
        .iter()
        .filter(|s| s.typ() == Some(SignatureType::SubkeyRevocation))
        .find(by_owner)
    {
        return Some(KeyProblem::Revoked(revocation_reason(sig)));
    }
    let bindings = sub
        .signatures
        .iter()
        .filter(|s| s.typ() == Some(SignatureType::SubkeyBinding))
        .filter(by_owner);
    let Some(binding) = newest(bindings, now) else {
        return Some(KeyProblem::Unbound);
    };
    if let Some(end) = expiry(binding, u64::from(sub.key.created_at().as_secs())) {
        if end <= now {
            return Some(KeyProblem::Expired(end));
        }
    }
    if !binding.key_flags().sign() {
        return Some(KeyProblem::CannotSign);
    }
    let backed = binding
        .embedded_signature()
        .is_some_and(|b| b.verify_primary_key_binding(&sub.key, pk).is_ok());
    if !backed {
        return Some(KeyProblem::NoBackSignature);
    }
    None
}

/// Why no key of `cert` can vouch for a signature `now`, if none can: the
/// primary key's problem, or, when it only lacks the signing flag, that of
/// its subkey with the signing flag.
fn certificate_problem(cert: &SignedPublicKey, now: u64) -> Option<(String, KeyProblem)> {
    let problem = primary_problem(cert, now)?;
    if problem != KeyProblem::CannotSign {
        return Some((hex_fingerprint(&cert.primary_key), problem));
    }
    let mut first = None;
    for sub in &cert.public_subkeys {
        match subkey_problem(cert, sub, now) {
            None => return None,
            Some(KeyProblem::CannotSign) => {}
            Some(p) => {
                first.get_or_insert((hex_fingerprint(&sub.key), p));
            }
        }
    }
    Some(first.unwrap_or_else(|| (hex_fingerprint(&cert.primary_key), problem)))
}

/// The OpenPGP public keys whose signatures are accepted (for kernel.org:
/// the keys of the developers who sign releases, e.g. exported with
/// `gpg --export --armor torvalds@kernel.org gregkh@kernel.org`).
#[derive(Debug)]
pub struct Keyring {
    path: PathBuf,
    keys: Vec<SignedPublicKey>,
}

/// Every certificate of `data`: binary packets, or one or more armored
/// blocks (`cat a.asc b.asc` as well as one export of several keys).
fn parse_keys(data: &[u8]) -> Result<Vec<SignedPublicKey>, String> {
    const BEGIN: &[u8] = b"-----BEGIN PGP PUBLIC KEY BLOCK-----";
    let starts: Vec<usize> = (0..data.len().saturating_sub(BEGIN.len() - 1))
        .filter(|&i| data[i..].starts_with(BEGIN))
        .collect();
    let mut keys = Vec::new();
    if starts.is_empty() {
        let many = SignedPublicKey::from_bytes_many(data).map_err(|e| e.to_string())?;
        for k in many {
            keys.push(k.map_err(|e| e.to_string())?);
        }
        return Ok(keys);
    }
    for (n, &start) in starts.iter().enumerate() {
        let end = starts.get(n + 1).copied().unwrap_or(data.len());
        let block = &data[start..end];
        let (many, _) = SignedPublicKey::from_armor_many_buf(block)
            .map_err(|e| format!("armored block {}: {e}", n + 1))?;
        for k in many {
            keys.push(k.map_err(|e| format!("armored block {}: {e}", n + 1))?);
        }
    }
    Ok(keys)
}

impl Keyring {
    /// Read a keyring: one or more public keys, ASCII-armored (one or more
    /// blocks) or binary, from a regular file of at most
    /// [`KEYRING_LIMIT`] bytes. A keyring none of whose keys can vouch for
    /// a signature now (each expired, revoked or without the signing flag)
    /// is refused, each key with its reason.
    pub fn load(path: &Path) -> Result<Keyring, ReleasesError> {
        let bad = |reason: String| ReleasesError::Keyring {
            path: path.to_path_buf(),
            reason,
        };
        let data = kforge_fs::read_limited(path, KEYRING_LIMIT, "a keyring")
            .map_err(|e| bad(e.to_string()))?;
        let keys = parse_keys(&data).map_err(bad)?;
        if keys.is_empty() {
            return Err(bad("it holds no public key".into()));
        }
        let now = now();
        let problems: Vec<String> = keys
            .iter()
            .map(|k| certificate_problem(k, now))
            .collect::<Option<Vec<_>>>()
            .unwrap_or_default()
            .into_iter()
            .map(|(fingerprint, problem)| format!("{fingerprint} {problem}"))
            .collect();
        if !problems.is_empty() {
            return Err(bad(format!(
                "none of its keys can check a signature: {}",
                problems.join("; ")
            )));
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
            .map(|k| hex_fingerprint(&k.primary_key))
            .collect()
    }

    /// Check the detached signature `signature` (armored or binary) over
    /// `data` (for kernel.org, the uncompressed tar). `what` names the
    /// signed thing in messages. Returns the fingerprint of the key that
    /// made the signature (a primary key or a subkey of the keyring), which
    /// must be fit to make it now (see the module's documentation).
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
        let now = now();
        let untrusted = |key: String, problem: KeyProblem| ReleasesError::UntrustedKey {
            what: what.to_owned(),
            key,
            keyring: self.path.clone(),
            problem,
        };
        for cert in &self.keys {
            if issued(&cert.primary_key) {
                let fingerprint = hex_fingerprint(&cert.primary_key);
                if let Some(p) = primary_problem(cert, now) {
                    return Err(untrusted(fingerprint, p));
                }
                return check(&sig, &cert.primary_key, data, &bad);
            }
            for sub in &cert.public_subkeys {
                if issued(&sub.key) {
                    if let Some(p) = subkey_problem(cert, sub, now) {
                        return Err(untrusted(hex_fingerprint(&sub.key), p));
                    }
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
    sig: &Signature,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_calendar_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(utc(1_765_800_000), "2025-12-15 12:00 UTC");
        assert_eq!(utc(4_107_542_399), "2100-02-28 23:59 UTC");
    }

    #[test]
    fn a_keyring_that_is_no_keyring_says_so() {
        let e = parse_keys(b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnonsense\n").unwrap_err();
        assert!(e.starts_with("armored block 1: "), "{e}");
    }
}
