//! Building a configured kernel: the content-addressed store, the build
//! directories, the `make` driver, and the outputs with their manifest.
//!
//! The crate knows nothing of declarations or Kconfig: it is handed a
//! source tree, a final `.config` and the settings of the build, and turns
//! them into a store entry. `kforge build` (crates/kforge) resolves the
//! declaration first and drives this crate.
//!
//! * [`Store`] (`store`): entries `<hash>-linux-<version>-<arch>` under
//!   `$XDG_CACHE_HOME/kforge/store` (default `~/.cache/kforge/store`),
//!   where `<hash>` is the SHA-256 of every input that affects the output
//!   ([`KeyInputs`]); built in `store/.tmp-<hash>-<pid>` and renamed into
//!   place, one lock per key, result links registered as garbage-collector
//!   roots in `gcroots/`, and [`Store::gc`].
//! * Build directories (`store`'s [`Store::build_dir`]): one kbuild `O=`
//!   directory per (source, architecture, toolchain), under
//!   `$XDG_CACHE_HOME/kforge/build/<key>/`, reused from build to build so
//!   that kbuild rebuilds only what a configuration change touches.
//! * [`Toolchain`] (`toolchain`): which compiler, linker and make a build
//!   uses, by resolved path and `--version` line.
//! * [`Make`] (`driver`): the `make` command lines, the clean and
//!   reproducible environment, progress events from kbuild's short lines,
//!   the log, and the first compiler errors of a failed build.
//! * `outputs`: what goes into an entry (`kernel/`, `modules/`, `dtbs/`,
//!   `dev/`, `build.log`, `manifest.json`).

mod driver;
mod fingerprint;
mod outputs;
mod store;
mod toolchain;

use std::io::Read;
use std::path::Path;

pub use driver::{
    clean_env, first_errors, quiet_line, reproducible_env, sh_quote, Make, MakeError,
    ReproSettings, FIXED_TIMESTAMP,
};
pub use fingerprint::{
    is_kbuild_output, module_source_fingerprint, sync_module_source, tree_fingerprint,
};
pub use outputs::{
    collect_dev, collect_kernel, config_features, hash_tree, parse_config, Features, FileHash,
};
pub use store::{
    entry_name, BuildDirLock, GcOptions, GcReport, KeyInputs, KeyLock, Store, TempEntry,
};
pub use toolchain::{which, Tool, Toolchain};

/// SHA-256 of `data`, in hex.
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// SHA-256 of a file's contents, in hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    use sha2::Digest;
    let mut f = std::fs::File::open(path)?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// The most days `kforge gc --older-than` takes: a hundred years.
pub const MAX_AGE_DAYS: u64 = 36_500;

/// A number of whole days (`--older-than DAYS`), 0 to [`MAX_AGE_DAYS`], as
/// a duration; anything else (a fraction, a sign, NaN, a huge number) is an
/// error saying what is accepted.
pub fn parse_days(text: &str) -> Result<std::time::Duration, String> {
    let t = text.trim();
    match t.parse::<u64>() {
        Ok(d) if t.bytes().all(|b| b.is_ascii_digit()) && d <= MAX_AGE_DAYS => {
            Ok(std::time::Duration::from_secs(d * 86_400))
        }
        _ => Err(format!(
            "`{text}` is not a number of days: give a whole number from 0 to {MAX_AGE_DAYS}"
        )),
    }
}

/// The cache root: `$XDG_CACHE_HOME/kforge` (an absolute `XDG_CACHE_HOME`,
/// as the XDG spec requires), else `~/.cache/kforge`; the same rule as the
/// probe cache, whose directory is `probes/` under it.
pub fn default_cache_root() -> std::path::PathBuf {
    use std::path::PathBuf;
    if let Some(xdg) = std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from) {
        if xdg.is_absolute() {
            return xdg.join("kforge");
        }
    }
    match std::env::var_os("HOME") {
        Some(home) if !home.is_empty() => PathBuf::from(home).join(".cache").join("kforge"),
        _ => std::env::temp_dir().join("kforge"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn days_are_whole_and_bounded() {
        use std::time::Duration;
        assert_eq!(super::parse_days("0"), Ok(Duration::ZERO));
        assert_eq!(super::parse_days("2"), Ok(Duration::from_secs(2 * 86_400)));
        assert!(super::parse_days("36500").is_ok());
        for bad in [
            "36501",
            "99999999999999999999",
            "NaN",
            "inf",
            "-1",
            "+1",
            "1.5",
            "",
        ] {
            let e = super::parse_days(bad).unwrap_err();
            assert!(
                e.contains("give a whole number from 0 to 36500"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn hex_is_lower_case() {
        assert_eq!(hex::encode([0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(
            super::sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
