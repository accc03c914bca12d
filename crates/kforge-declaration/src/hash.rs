//! The shape of a `hash`: `sha256-<base64>` (SRI) or `sha256:<nix-base32>`.

use std::sync::LazyLock;

use data_encoding::{BitOrder, Encoding, Specification, BASE64};

const NIX_BASE32: &str = "0123456789abcdfghijklmnpqrsvwxyz";

/// Nix's base32, but for the order of the characters: nix reads the digest
/// as a little-endian number and writes its 5-bit groups from the most
/// significant, which is this encoding (least significant bit first, no
/// padding, canonical trailing bits) written backwards. data-encoding
/// cannot express the reversal, so [`nix_base32_decode`] reverses.
static NIX_BASE32_REVERSED: LazyLock<Encoding> = LazyLock::new(|| {
    let mut spec = Specification::new();
    spec.symbols.push_str(NIX_BASE32);
    spec.bit_order = BitOrder::LeastSignificantFirst;
    spec.encoding().expect("a valid specification")
});

/// The bytes of a nix-base32 text; `None` when it is not one, or when
/// its first character sets bits beyond the last whole byte.
fn nix_base32_decode(text: &str) -> Option<Vec<u8>> {
    let reversed: Vec<u8> = text.bytes().rev().collect();
    NIX_BASE32_REVERSED.decode(&reversed).ok()
}

/// Check that `hash` is a SHA-256 in one of the two accepted spellings.
/// On error: the message and, where one helps, a remedy.
pub(crate) fn check(hash: &str) -> Result<(), (String, Option<String>)> {
    let bad = |why: &str, help: Option<String>| {
        Err((
            format!(
                "invalid hash `{hash}`: {why}; expected `sha256-<base64 of 32 bytes>` (SRI) \
                 or `sha256:<52 nix-base32 characters>`"
            ),
            help,
        ))
    };
    if let Some(b64) = hash.strip_prefix("sha256-") {
        let bytes = b64.as_bytes();
        if bytes.len() != 44 || bytes[43] != b'=' {
            return bad("the base64 part must be 44 characters ending in `=`", None);
        }
        if bytes[42] == b'=' {
            return bad("the base64 part does not encode exactly 32 bytes", None);
        }
        if !bytes[..43]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
        {
            return bad(
                "the base64 part has a character outside A-Z a-z 0-9 + /",
                None,
            );
        }
        // 43 characters carry 258 bits: the last two must be zero, which
        // the (canonical) decoder checks.
        if BASE64.decode(bytes).is_err() {
            return bad("the base64 part does not encode exactly 32 bytes", None);
        }
        Ok(())
    } else if let Some(b32) = hash.strip_prefix("sha256:") {
        let bytes = b32.as_bytes();
        if bytes.len() == 64 && bytes.iter().all(u8::is_ascii_hexdigit) {
            return bad(
                "hexadecimal digests are not accepted",
                Some(format!(
                    "convert it: nix hash convert --hash-algo sha256 --to sri {b32}"
                )),
            );
        }
        if bytes.len() != 52 {
            return bad("the nix-base32 part must be 52 characters", None);
        }
        if !bytes.iter().all(|b| NIX_BASE32.as_bytes().contains(b)) {
            return bad(
                "the nix-base32 part has a character outside 0-9 a-z (less e o u t)",
                None,
            );
        }
        // 52 characters carry 260 bits; the first one holds only the top
        // bit, the others must be zero.
        if nix_base32_decode(b32).is_none() {
            return bad("the nix-base32 part does not encode exactly 32 bytes", None);
        }
        Ok(())
    } else if let Some((algo, _)) = hash.split_once(['-', ':']) {
        bad(&format!("`{algo}` is not supported, only sha256"), None)
    } else {
        bad("no algorithm prefix", None)
    }
}

/// The 32 bytes of a SHA-256 written in either accepted spelling; `None`
/// when `hash` is not one (see `check` for the reason).
pub fn sha256_digest(hash: &str) -> Option<[u8; 32]> {
    check(hash).ok()?;
    let bytes = match hash.strip_prefix("sha256-") {
        Some(b64) => BASE64.decode(b64.as_bytes()).ok()?,
        None => nix_base32_decode(hash.strip_prefix("sha256:")?)?,
    };
    bytes.try_into().ok()
}

/// `digest` in the SRI spelling, `sha256-<base64>`.
pub fn sri(digest: &[u8; 32]) -> String {
    format!("sha256-{}", BASE64.encode(digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_in_both_spellings() {
        // sha256 of the empty string, as `nix hash convert` writes it.
        let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let want: Vec<u8> = (0..32)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        let sri_text = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
        assert_eq!(sha256_digest(sri_text).unwrap().to_vec(), want);
        assert_eq!(sri(&sha256_digest(sri_text).unwrap()), sri_text);
        let nix = "sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73";
        assert_eq!(sha256_digest(nix).unwrap().to_vec(), want);
        assert_eq!(sha256_digest("sha256-x"), None);
    }

    /// Nix's base32 by its definition, bit by bit: the character `n`
    /// places from the right holds bits 5n..5n+5 of the digest read as a
    /// little-endian number (the reference for the specification).
    fn nix_by_definition(digest: &[u8]) -> String {
        let bits = digest.len() * 8;
        let bit = |k: usize| k < bits && digest[k / 8] >> (k % 8) & 1 == 1;
        (0..bits.div_ceil(5))
            .rev()
            .map(|n| {
                let v = (0..5).fold(0, |v, t| v | usize::from(bit(5 * n + t)) << t);
                NIX_BASE32.as_bytes()[v] as char
            })
            .collect()
    }

    #[test]
    fn nix_base32_is_nix_s() {
        let mut digest = [0u8; 32];
        for seed in 0..64u32 {
            for (k, b) in digest.iter_mut().enumerate() {
                *b = (seed.wrapping_mul(2654435761).rotate_left(k as u32) >> 7) as u8 ^ k as u8;
            }
            let text = nix_by_definition(&digest);
            let reversed = NIX_BASE32_REVERSED.encode(&digest);
            assert_eq!(text, reversed.chars().rev().collect::<String>());
            assert_eq!(nix_base32_decode(&text).as_deref(), Some(&digest[..]));
            assert_eq!(sha256_digest(&format!("sha256:{text}")), Some(digest));
            assert_eq!(sha256_digest(&sri(&digest)), Some(digest));
        }
    }

    #[test]
    fn accepts_the_two_shapes() {
        // sha256 of the empty string, in both spellings.
        check("sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=").unwrap();
        check("sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73").unwrap();
        check("sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").unwrap();
        check("sha256:1zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz").unwrap();
    }

    #[test]
    fn rejects_other_shapes() {
        for (hash, why) in [
            ("sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU", "44 characters"),
            ("sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuF==", "exactly 32 bytes"),
            ("sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuF_=", "outside A-Z"),
            ("sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFV=", "exactly 32 bytes"),
            ("sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c7", "52 characters"),
            ("sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9cte", "outside 0-9"),
            ("sha256:2mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73", "exactly 32 bytes"),
            ("sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg==", "`sha512` is not supported"),
            ("md5:abc", "`md5` is not supported"),
            ("47DEQpj8HBSa", "no algorithm prefix"),
        ] {
            let (msg, _) = check(hash).unwrap_err();
            assert!(msg.contains(why), "{hash}: {msg}");
        }
        let (_, help) =
            check("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
                .unwrap_err();
        assert!(help.unwrap().starts_with("convert it: nix hash convert"));
    }
}
