//! Signing keys as text, the way Nix writes them: `NAME:BASE64`. A public
//! key is the 32 bytes of an ed25519 verifying key; a secret key is the
//! 32-byte seed followed by the public key (64 bytes).

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};

use crate::Error;

/// A key's name: what a manifest's signature names and `trusted_keys`
/// match. Printable ASCII without spaces or `:`.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the key has no name before `:`".into());
    }
    if let Some(c) = name.chars().find(|c| !c.is_ascii_graphic() || *c == ':') {
        return Err(format!(
            "the key's name `{name}` holds {c:?}: a name is printable ASCII without spaces or `:`"
        ));
    }
    Ok(())
}

/// `NAME:BASE64` split and decoded to `len` bytes.
fn split(text: &str, len: usize, what: &str) -> Result<(String, Vec<u8>), String> {
    let text = text.trim();
    let Some((name, b64)) = text.split_once(':') else {
        return Err(format!(
            "expected {what} as NAME:BASE64, e.g. cache-1:{}",
            "A".repeat(43) + "="
        ));
    };
    check_name(name)?;
    let bytes = STANDARD
        .decode(b64)
        .map_err(|e| format!("the part after `{name}:` is not base64 ({e})"))?;
    if bytes.len() != len {
        return Err(format!(
            "the part after `{name}:` decodes to {} bytes; {what} has {len}",
            bytes.len()
        ));
    }
    Ok((name.to_string(), bytes))
}

/// A public key that manifests may be signed with (`trusted_keys`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// The key's name.
    pub name: String,
    key: VerifyingKey,
}

impl PublicKey {
    /// Parse `NAME:BASE64` (32 bytes); the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<PublicKey, String> {
        let (name, bytes) = split(text, 32, "a public key")?;
        let arr: [u8; 32] = bytes.try_into().map_err(|_| "not 32 bytes".to_string())?;
        let key = VerifyingKey::from_bytes(&arr)
            .map_err(|_| format!("the key `{name}` is not a valid ed25519 public key"))?;
        Ok(PublicKey { name, key })
    }

    /// Whether `signature` (64 bytes) signs `data` with this key.
    pub fn verifies(&self, data: &[u8], signature: &[u8]) -> bool {
        let Ok(sig) = ed25519_dalek::Signature::from_slice(signature) else {
            return false;
        };
        self.key.verify(data, &sig).is_ok()
    }
}

impl std::fmt::Display for PublicKey {
    /// `NAME:BASE64`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.name, STANDARD.encode(self.key.as_bytes()))
    }
}

/// A secret key that signs manifests (`kforge store keygen`).
pub struct SecretKey {
    /// The key's name.
    pub name: String,
    key: SigningKey,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey({})", self.name)
    }
}

impl SecretKey {
    /// A new random key called `name`.
    pub fn generate(name: &str) -> Result<SecretKey, Error> {
        check_name(name).map_err(|reason| Error::Key {
            what: format!("the name `{name}`"),
            reason,
        })?;
        let mut seed = [0u8; 32];
        getrandom::getrandom(&mut seed).map_err(|e| Error::Key {
            what: "a new key".into(),
            reason: format!("the system gave no random bytes: {e}"),
        })?;
        Ok(SecretKey {
            name: name.to_string(),
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// Parse `NAME:BASE64` (64 bytes: seed, then public key).
    pub fn parse(text: &str) -> Result<SecretKey, String> {
        let (name, bytes) = split(text, 64, "a secret key")?;
        let seed: [u8; 32] = bytes[..32].try_into().map_err(|_| "short".to_string())?;
        let key = SigningKey::from_bytes(&seed);
        if key.verifying_key().as_bytes()[..] != bytes[32..] {
            return Err(format!(
                "the secret key `{name}` is damaged: its second half is not the public key of its first"
            ));
        }
        Ok(SecretKey { name, key })
    }

    /// Read a secret key file (`NAME.secret`).
    pub fn read(path: &Path) -> Result<SecretKey, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::KeyFile {
            path: path.to_path_buf(),
            source,
        })?;
        SecretKey::parse(&text).map_err(|reason| Error::Key {
            what: path.display().to_string(),
            reason,
        })
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        PublicKey {
            name: self.name.clone(),
            key: self.key.verifying_key(),
        }
    }

    /// The signature of `data` (64 bytes; ed25519 signatures are
    /// deterministic, so one key signs one text the same way every time).
    pub fn sign(&self, data: &[u8]) -> Vec<u8> {
        self.key.sign(data).to_bytes().to_vec()
    }

    /// `NAME:BASE64` of seed and public key.
    pub fn to_text(&self) -> String {
        let mut bytes = self.key.to_bytes().to_vec();
        bytes.extend_from_slice(self.key.verifying_key().as_bytes());
        format!("{}:{}", self.name, STANDARD.encode(bytes))
    }
}

/// What [`keygen`] wrote.
#[derive(Debug)]
pub struct KeyFiles {
    /// `NAME.secret` (mode 0600) and `NAME.public`.
    pub secret: PathBuf,
    pub public: PathBuf,
    /// The public key's text, for `trusted_keys`.
    pub public_key: String,
}

/// Write a new key pair as `DIR/NAME.secret` (mode 0600) and
/// `DIR/NAME.public`; an existing file of either name is never replaced.
pub fn keygen(dir: &Path, name: &str) -> Result<KeyFiles, Error> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let key = SecretKey::generate(name)?;
    let secret = dir.join(format!("{name}.secret"));
    let public = dir.join(format!("{name}.public"));
    for p in [&secret, &public] {
        if std::fs::symlink_metadata(p).is_ok() {
            return Err(Error::KeyExists(p.clone()));
        }
    }
    let write = |path: &Path, mode: u32, text: &str| -> Result<(), Error> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(path)
            .map_err(|source| match source.kind() {
                std::io::ErrorKind::AlreadyExists => Error::KeyExists(path.to_path_buf()),
                _ => Error::KeyFile {
                    path: path.to_path_buf(),
                    source,
                },
            })?;
        f.write_all(format!("{text}\n").as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(|source| Error::KeyFile {
                path: path.to_path_buf(),
                source,
            })
    };
    write(&secret, 0o600, &key.to_text())?;
    let public_key = key.public().to_string();
    if let Err(e) = write(&public, 0o644, &public_key) {
        let _ = std::fs::remove_file(&secret);
        return Err(e);
    }
    Ok(KeyFiles {
        secret,
        public,
        public_key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_sign() {
        let k = SecretKey::generate("cache-1").unwrap();
        let back = SecretKey::parse(&k.to_text()).unwrap();
        assert_eq!(back.public(), k.public());
        let p = PublicKey::parse(&k.public().to_string()).unwrap();
        let sig = k.sign(b"text");
        assert!(p.verifies(b"text", &sig));
        assert!(!p.verifies(b"texT", &sig));
        assert_eq!(sig, k.sign(b"text"));
    }

    #[test]
    fn bad_keys_say_why() {
        for (text, why) in [
            ("nocolon", "NAME:BASE64"),
            (":AAAA", "no name"),
            ("a b:AAAA", "printable ASCII"),
            ("k:!!!", "not base64"),
            ("k:AAAA", "decodes to 3 bytes"),
        ] {
            let e = PublicKey::parse(text).unwrap_err();
            assert!(e.contains(why), "{text}: {e}");
        }
    }
}
