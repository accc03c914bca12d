//! The shape of a `hash`: `sha256-<base64>` (SRI) or `sha256:<nix-base32>`.

const BASE64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const NIX_BASE32: &[u8] = b"0123456789abcdfghijklmnpqrsvwxyz";

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
        let Some(last) = bytes[..43]
            .iter()
            .map(|b| BASE64.iter().position(|c| c == b))
            .collect::<Option<Vec<_>>>()
            .and_then(|v| v.last().copied())
        else {
            return bad(
                "the base64 part has a character outside A-Z a-z 0-9 + /",
                None,
            );
        };
        // 43 characters carry 258 bits: the last two must be zero.
        if last % 4 != 0 {
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
        if !bytes.iter().all(|b| NIX_BASE32.contains(b)) {
            return bad(
                "the nix-base32 part has a character outside 0-9 a-z (less e o u t)",
                None,
            );
        }
        // 52 characters carry 260 bits; the first one holds only the top bit.
        if bytes[0] > b'1' {
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
    let mut out = [0u8; 32];
    if let Some(b64) = hash.strip_prefix("sha256-") {
        // 43 significant characters of 6 bits each, most significant first.
        let mut acc: u32 = 0;
        let mut bits = 0;
        let mut n = 0;
        for &c in &b64.as_bytes()[..43] {
            let v = BASE64.iter().position(|&x| x == c)? as u32;
            acc = (acc << 6) | v;
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                if n < 32 {
                    out[n] = (acc >> bits) as u8;
                    n += 1;
                }
            }
        }
    } else {
        // Nix writes the last 5-bit group first; group k holds bits
        // 5k..5k+5 of the digest read as a little-endian number.
        let chars = hash.strip_prefix("sha256:")?.as_bytes();
        let len = chars.len();
        for (pos, &c) in chars.iter().enumerate() {
            let digit = NIX_BASE32.iter().position(|&x| x == c)? as u16;
            let b = (len - 1 - pos) * 5;
            let (i, j) = (b / 8, b % 8);
            let v = digit << j;
            out[i] |= v as u8;
            if i + 1 < 32 {
                out[i + 1] |= (v >> 8) as u8;
            }
        }
    }
    Some(out)
}

/// `digest` in the SRI spelling, `sha256-<base64>`.
pub fn sri(digest: &[u8; 32]) -> String {
    let mut s = String::from("sha256-");
    for chunk in digest.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                s.push(BASE64[((n >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
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
