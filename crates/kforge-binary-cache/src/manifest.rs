//! The manifest that travels with an entry's archive: a few `Field: value`
//! lines, then one `Sig: NAME:BASE64` line signing every byte before it.
//!
//! ```text
//! KforgeCache: 1
//! Entry: 0123...cdef-linux-6.1.0-x86_64
//! StoreKey: 0123...cdef
//! Archive: 0123...cdef-linux-6.1.0-x86_64.tar.zst
//! Compression: zstd
//! ArchiveSize: 20480123
//! ArchiveSha256: 9f86d0...
//! UnpackedSize: 61234567
//! Files: 812
//! Sig: cache-1:BASE64
//! ```
//!
//! The signature is checked on the bytes as fetched, before any field is
//! read: a changed byte anywhere above the `Sig:` line is a bad signature.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::keys::{PublicKey, SecretKey};

/// The format written, and the only one read.
pub const FORMAT: u32 = 1;

/// The most bytes a manifest may have (a real one has about 400).
pub const MAX_MANIFEST_BYTES: u64 = 64 * 1024;

/// What a manifest says about an entry's archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The entry's name in the store (`<hash>-linux-<version>-<arch>`).
    pub entry: String,
    /// The store key (the entry name's hash).
    pub store_key: String,
    /// The archive's object name, beside the manifest.
    pub archive: String,
    /// The archive's size in bytes.
    pub archive_size: u64,
    /// The archive's SHA-256 (hex).
    pub archive_sha256: String,
    /// The bytes of the files it unpacks to (a bound when unpacking).
    pub unpacked_size: u64,
    /// How many paths it holds.
    pub files: u64,
}

/// Why a fetched manifest is refused, before its fields are trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No `Sig:` line.
    Unsigned,
    /// Signed by a key the caller does not trust.
    Untrusted { key: String },
    /// Signed by a trusted key, but the signature does not match the text:
    /// the manifest changed after it was signed.
    BadSignature { key: String },
    /// Signed and verified, but not a manifest kforge reads.
    Malformed(String),
}

impl Manifest {
    /// The text that is signed: every line but the signature.
    pub fn body(&self) -> String {
        format!(
            "KforgeCache: {FORMAT}\nEntry: {}\nStoreKey: {}\nArchive: {}\nCompression: zstd\nArchiveSize: {}\nArchiveSha256: {}\nUnpackedSize: {}\nFiles: {}\n",
            self.entry,
            self.store_key,
            self.archive,
            self.archive_size,
            self.archive_sha256,
            self.unpacked_size,
            self.files
        )
    }

    /// The manifest signed with `key`: the body and a `Sig:` line.
    pub fn signed(&self, key: &SecretKey) -> String {
        let body = self.body();
        let sig = key.sign(body.as_bytes());
        format!("{body}Sig: {}:{}\n", key.name, STANDARD.encode(sig))
    }

    /// Check the signature of a fetched manifest against `trusted`, then
    /// read it.
    pub fn verify(bytes: &[u8], trusted: &[PublicKey]) -> Result<Manifest, Refusal> {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| Refusal::Malformed("the manifest is not UTF-8 text".into()))?;
        let Some(at) = text
            .find("\nSig: ")
            .map(|i| i + 1)
            .or_else(|| text.starts_with("Sig: ").then_some(0))
        else {
            return Err(Refusal::Unsigned);
        };
        let (body, sig_line) = text.split_at(at);
        let sig = sig_line
            .strip_prefix("Sig: ")
            .unwrap_or_default()
            .trim_end_matches('\n');
        let (name, b64) = sig.split_once(':').unwrap_or((sig, ""));
        let candidates: Vec<&PublicKey> = trusted.iter().filter(|k| k.name == name).collect();
        if candidates.is_empty() {
            return Err(Refusal::Untrusted {
                key: name.to_string(),
            });
        }
        let sig = STANDARD.decode(b64).unwrap_or_default();
        if !candidates.iter().any(|k| k.verifies(body.as_bytes(), &sig)) {
            return Err(Refusal::BadSignature {
                key: name.to_string(),
            });
        }
        Manifest::parse_body(body).map_err(Refusal::Malformed)
    }

    fn parse_body(body: &str) -> Result<Manifest, String> {
        let mut fields = std::collections::BTreeMap::new();
        for line in body.lines() {
            let (k, v) = line
                .split_once(": ")
                .ok_or_else(|| format!("the line `{line}` is not `Field: value`"))?;
            fields.insert(k, v);
        }
        let get = |k: &str| {
            fields
                .get(k)
                .copied()
                .ok_or_else(|| format!("the manifest has no `{k}:` line"))
        };
        let num = |k: &str| -> Result<u64, String> {
            get(k)?
                .parse()
                .map_err(|_| format!("`{k}:` is not a number"))
        };
        let format = get("KforgeCache")?;
        if format != FORMAT.to_string() {
            return Err(format!(
                "manifest format {format}; this kforge reads format {FORMAT} (a newer kforge wrote it?)"
            ));
        }
        if get("Compression")? != "zstd" {
            return Err(format!("unknown compression `{}`", get("Compression")?));
        }
        Ok(Manifest {
            entry: get("Entry")?.to_string(),
            store_key: get("StoreKey")?.to_string(),
            archive: get("Archive")?.to_string(),
            archive_size: num("ArchiveSize")?,
            archive_sha256: get("ArchiveSha256")?.to_string(),
            unpacked_size: num("UnpackedSize")?,
            files: num("Files")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        Manifest {
            entry: format!("{}-linux-6.1.0-x86_64", "a".repeat(32)),
            store_key: "a".repeat(32),
            archive: "x.tar.zst".into(),
            archive_size: 10,
            archive_sha256: "b".repeat(64),
            unpacked_size: 20,
            files: 3,
        }
    }

    #[test]
    fn signed_manifests_verify_and_refusals_say_why() {
        let k = SecretKey::generate("c1").unwrap();
        let other = SecretKey::generate("c2").unwrap();
        let m = sample();
        let text = m.signed(&k);
        assert_eq!(
            Manifest::verify(text.as_bytes(), &[k.public()]),
            Ok(m.clone())
        );
        assert_eq!(
            Manifest::verify(m.body().as_bytes(), &[k.public()]),
            Err(Refusal::Unsigned)
        );
        assert_eq!(
            Manifest::verify(text.as_bytes(), &[other.public()]),
            Err(Refusal::Untrusted { key: "c1".into() })
        );
        let changed = text.replacen("Files: 3", "Files: 4", 1);
        assert_eq!(
            Manifest::verify(changed.as_bytes(), &[k.public()]),
            Err(Refusal::BadSignature { key: "c1".into() })
        );
        // The same text signed twice is the same bytes.
        assert_eq!(text, m.signed(&k));
    }
}
