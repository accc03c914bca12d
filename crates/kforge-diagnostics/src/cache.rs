//! The binary cache in words: substitutions, substituters that did not
//! give an entry, and what `kforge store` did.

use kforge_pipeline::substitute::{Miss, Substituted};
use kforge_pipeline::StoreEntry;

/// MiB, one decimal.
fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// An entry substituted: from where, how much, how long.
pub fn substituted(e: &StoreEntry, s: &Substituted) -> String {
    format!(
        "kforge: substituted {} from {} in {:.2}s ({} archive, signature and SHA-256 verified; {} -> it)",
        e.path.display(),
        s.url,
        s.seconds,
        mib(s.bytes),
        e.link.display()
    )
}

/// A substituter that did not give the entry: a note when it does not
/// have it, a warning with the reason otherwise; the build goes on.
pub fn miss(url: &str, miss: &Miss) -> String {
    match miss {
        Miss::Missing => format!("kforge: note: substituter {url} does not have this entry"),
        Miss::Unavailable(e) => {
            format!("warning: substituter {url} not used: {e}; going on without it")
        }
        Miss::Refused(e) => format!(
            "warning: substituter {url} refused: {e}; building locally unless another substituter has it"
        ),
    }
}

/// `kforge store push`: one entry pushed, or found there already.
pub fn pushed(name: &str, dest: &str, p: &kforge_binary_cache::Pushed) -> String {
    if p.already {
        format!("kforge: {name} is in {dest} already (signed by this key, archive whole): nothing uploaded")
    } else {
        let rate = if p.seconds > 0.0 {
            format!(
                ", {:.1} MiB/s of entry",
                p.unpacked_size as f64 / 1048576.0 / p.seconds
            )
        } else {
            String::new()
        };
        format!(
            "kforge: pushed {name} to {dest}: {} archive of a {} entry in {:.2}s{rate}",
            mib(p.archive_size),
            mib(p.unpacked_size),
            p.seconds
        )
    }
}

/// `kforge store pull`: the entry fetched, or there already.
pub fn pulled(src: &str, p: &kforge_binary_cache::Pulled) -> String {
    if p.already {
        format!("kforge: {} is in the store already", p.path.display())
    } else {
        format!(
            "kforge: pulled {} from {src} in {:.2}s ({} archive, signature and SHA-256 verified)",
            p.path.display(),
            p.seconds,
            mib(p.archive_size)
        )
    }
}

/// `kforge store keygen`: what was written, and what to do with it.
pub fn keygen(k: &kforge_binary_cache::KeyFiles) -> String {
    format!(
        "kforge: wrote {} (secret, mode 0600: sign with it, keep it private) and {}\nkforge: trust it in kernel.toml:\n[store]\ntrusted_keys = [\"{}\"]\n",
        k.secret.display(),
        k.public.display(),
        k.public_key
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misses_name_the_substituter() {
        let m = miss("file:///c", &Miss::Missing);
        assert_eq!(
            m,
            "kforge: note: substituter file:///c does not have this entry"
        );
        let e = kforge_binary_cache::Error::Unreachable {
            url: "s3://b".into(),
            reason: "Connection refused".into(),
        };
        let m = miss("s3://b", &Miss::Unavailable(e));
        assert!(
            m.starts_with(
                "warning: substituter s3://b not used: s3://b: unreachable: Connection refused"
            ),
            "{m}"
        );
    }
}
