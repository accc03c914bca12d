//! Compile caches put before the compiler (`[build] launcher`): what make's
//! environment needs for them, and sccache's hit and miss counts around a
//! build, for the entry's manifest (as tuxmake's metadata records them).
//!
//! A cache is shared between machines through its own backend (sccache's
//! S3 bucket, `SCCACHE_BUCKET` and `SCCACHE_ENDPOINT`, credentials in
//! `AWS_*`): those variables pass from the caller to make, never into the
//! store key (a cached object file is the object file). The reproducible
//! build's prefix maps name the tree and the build directory in every
//! compile command, which sccache hashes: machines of one layout (one
//! `HOME`, the tree at one path) share objects, others do not.

use std::path::{Path, PathBuf};
use std::process::Command;

use kforge_store::which;

/// The compile cache a launcher names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompileCache {
    /// sccache, at this path.
    Sccache(PathBuf),
    /// ccache.
    Ccache,
}

impl CompileCache {
    /// The cache the launcher's first word names (`sccache`,
    /// `/usr/bin/ccache`), looked up in `path_var`.
    pub fn of_launcher(launcher: &str, path_var: &str) -> Option<CompileCache> {
        let prog = launcher.split_whitespace().next()?;
        match Path::new(prog).file_name()?.to_str()? {
            "sccache" => which(prog, path_var).map(CompileCache::Sccache),
            "ccache" => Some(CompileCache::Ccache),
            _ => None,
        }
    }

    /// The variables of `caller` (the caller's environment) the cache reads,
    /// for make's environment: `SCCACHE_*` and `AWS_*` (sccache's S3
    /// credentials), or `CCACHE_*`.
    pub fn make_env(
        &self,
        caller: impl IntoIterator<Item = (String, String)>,
    ) -> Vec<(String, String)> {
        let prefixes: &[&str] = match self {
            CompileCache::Sccache(_) => &["SCCACHE_", "AWS_"],
            CompileCache::Ccache => &["CCACHE_"],
        };
        let mut env: Vec<(String, String)> = caller
            .into_iter()
            .filter(|(k, _)| prefixes.iter().any(|p| k.starts_with(p)))
            .collect();
        env.sort();
        env
    }

    /// sccache's counts now, asked with make's environment `env` (the same
    /// server make's compiles talk to); `None` for other caches.
    pub fn counts(&self, env: &[(String, String)]) -> Option<Result<Counts, String>> {
        let CompileCache::Sccache(prog) = self else {
            return None;
        };
        let out = Command::new(prog)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .args(["--show-stats", "--stats-format", "json"])
            .output();
        Some(match out {
            Err(e) => Err(format!("{}: {e}", prog.display())),
            Ok(o) if !o.status.success() => Err(format!(
                "{} --show-stats: {}",
                prog.display(),
                String::from_utf8_lossy(&o.stderr).trim()
            )),
            Ok(o) => Counts::parse(&String::from_utf8_lossy(&o.stdout)),
        })
    }
}

/// A compile cache's counters (sccache's `--show-stats`), or their change
/// over a build.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Where the cache keeps its objects (`s3, name: bucket, prefix: /`).
    pub location: String,
    /// Compiles asked of the cache.
    pub requests: u64,
    pub hits: u64,
    pub misses: u64,
    /// Objects the cache could not read or write (a backend failing).
    pub errors: u64,
}

impl Counts {
    /// Read `sccache --show-stats --stats-format json`.
    pub fn parse(json: &str) -> Result<Counts, String> {
        let v: serde_json::Value =
            serde_json::from_str(json).map_err(|e| format!("sccache's statistics: {e}"))?;
        let stats = &v["stats"];
        let sum = |field: &str| -> u64 {
            stats[field]["counts"]
                .as_object()
                .map_or(0, |m| m.values().filter_map(|n| n.as_u64()).sum())
        };
        if !stats.is_object() {
            return Err("sccache's statistics have no `stats`".to_string());
        }
        Ok(Counts {
            location: v["cache_location"].as_str().unwrap_or_default().to_string(),
            requests: stats["compile_requests"].as_u64().unwrap_or(0),
            hits: sum("cache_hits"),
            misses: sum("cache_misses"),
            errors: sum("cache_errors")
                + stats["cache_read_errors"].as_u64().unwrap_or(0)
                + stats["cache_write_errors"].as_u64().unwrap_or(0),
        })
    }

    /// What changed since `before` (a server restarted in between counts
    /// from zero: then the counts themselves).
    pub fn since(&self, before: &Counts) -> Counts {
        let restarted = self.requests < before.requests;
        let d = |now: u64, then: u64| {
            if restarted {
                now
            } else {
                now.saturating_sub(then)
            }
        };
        Counts {
            location: self.location.clone(),
            requests: d(self.requests, before.requests),
            hits: d(self.hits, before.hits),
            misses: d(self.misses, before.misses),
            errors: d(self.errors, before.errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_caches_variables_pass() {
        let cache = CompileCache::Sccache(PathBuf::from("/usr/bin/sccache"));
        let caller = [
            ("SCCACHE_BUCKET", "kernels"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
            ("CCACHE_DIR", "/c"),
            ("HOME", "/root"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let env = cache.make_env(caller);
        let names: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["AWS_SECRET_ACCESS_KEY", "SCCACHE_BUCKET"]);
        let env = CompileCache::Ccache.make_env([("CCACHE_DIR".to_string(), "/c".to_string())]);
        assert_eq!(env, [("CCACHE_DIR".to_string(), "/c".to_string())]);
    }

    #[test]
    fn counts_are_read_and_subtracted() {
        let json = r#"{"stats": {"compile_requests": 10, "cache_hits": {"counts": {"C/C++": 6}},
            "cache_misses": {"counts": {"C/C++": 3, "Assembler": 1}}, "cache_errors": {"counts": {}},
            "cache_read_errors": 0, "cache_write_errors": 2}, "cache_location": "s3, name: k, prefix: /"}"#;
        let now = Counts::parse(json).unwrap();
        assert_eq!(
            (now.requests, now.hits, now.misses, now.errors),
            (10, 6, 4, 2)
        );
        assert_eq!(now.location, "s3, name: k, prefix: /");
        let before = Counts {
            requests: 4,
            hits: 1,
            misses: 3,
            ..Counts::default()
        };
        let d = now.since(&before);
        assert_eq!((d.requests, d.hits, d.misses), (6, 5, 1));
        // A restarted server counts from zero.
        let big = Counts {
            requests: 100,
            ..Counts::default()
        };
        assert_eq!(now.since(&big).requests, 10);
        assert!(Counts::parse("{}").is_err());
        assert!(Counts::parse("not json").is_err());
    }

    #[test]
    fn launchers_name_their_cache() {
        assert_eq!(
            CompileCache::of_launcher("ccache", ""),
            Some(CompileCache::Ccache)
        );
        assert_eq!(CompileCache::of_launcher("distcc", ""), None);
        assert_eq!(CompileCache::of_launcher("", ""), None);
    }
}
