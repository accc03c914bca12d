//! `kernels.lock.toml`: the releases `kforge update` locked, one per
//! branch, and what a declaration that follows a branch reads.
//!
//! The format is described in `docs/lock-file.md`. Reading is as strict as
//! for a declaration (unknown keys, wrong types, bad versions, hashes and
//! URLs are errors with file, line and column); writing ([`Lock::to_toml`])
//! always produces the same text for the same content, branches in version
//! order and keys in a fixed order, so that a change of one branch is a
//! change of a few lines.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::str::FromStr;

use toml::de::{DeTable, DeValue};

use crate::parse::{entries, Cx};
use crate::text::SourceFile;
use crate::{KernelVersion, Origin, SpecError};

/// The `format` this version of kforge reads and writes.
pub const LOCK_FORMAT: i64 = 1;

/// The lock file's name when none is given.
pub const DEFAULT_LOCK_NAME: &str = "kernels.lock.toml";

const TOP_KEYS: &[&str] = &["format", "branches"];
const BRANCH_KEYS: &[&str] = &["version", "url", "hash", "longterm", "eol", "released"];

/// A branch of kernel releases: `6.12` (every `6.12.y`), `mainline`
/// (Linus Torvalds' release candidates), or an alias that moves with
/// kernel.org: `latest` (the newest stable release, whatever its series)
/// and `longterm` (the newest release of the newest longterm series).
/// Branches sort by version, then `mainline`, `latest`, `longterm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BranchName {
    /// `MAJOR.MINOR`.
    Series(u32, u32),
    /// The release candidates of the next version.
    Mainline,
    /// The newest stable release (kernel.org's `latest_stable`).
    Latest,
    /// The newest release of the newest longterm series.
    Longterm,
}

impl BranchName {
    /// The branch a release belongs to: `mainline` for a release
    /// candidate, `MAJOR.MINOR` for anything else.
    pub fn of(version: &KernelVersion) -> BranchName {
        if version.is_rc() {
            BranchName::Mainline
        } else {
            BranchName::Series(version.major, version.minor)
        }
    }

    /// Does `version` belong to this branch? (`mainline` takes any
    /// version: between a release and the next `-rc1`, kernel.org's
    /// mainline is the release itself; an alias takes any release.)
    pub fn contains(&self, version: &KernelVersion) -> bool {
        match self {
            BranchName::Series(major, minor) => {
                !version.is_rc() && version.major == *major && version.minor == *minor
            }
            BranchName::Mainline => true,
            BranchName::Latest | BranchName::Longterm => !version.is_rc(),
        }
    }

    /// `latest` and `longterm`: names whose series changes over time.
    pub fn is_alias(&self) -> bool {
        matches!(self, BranchName::Latest | BranchName::Longterm)
    }
}

impl fmt::Display for BranchName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BranchName::Series(major, minor) => write!(f, "{major}.{minor}"),
            BranchName::Mainline => f.write_str("mainline"),
            BranchName::Latest => f.write_str("latest"),
            BranchName::Longterm => f.write_str("longterm"),
        }
    }
}

/// Why a string is not a branch name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid branch `{0}`: expected MAJOR.MINOR (e.g. 6.12), `mainline`, `latest` or `longterm`"
)]
pub struct ParseBranchError(String);

impl FromStr for BranchName {
    type Err = ParseBranchError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "mainline" => return Ok(BranchName::Mainline),
            "latest" => return Ok(BranchName::Latest),
            "longterm" => return Ok(BranchName::Longterm),
            _ => {}
        }
        match s.parse::<KernelVersion>() {
            Ok(v) if !v.is_rc() && v.to_string() == s && v.patch == 0 => {
                Ok(BranchName::Series(v.major, v.minor))
            }
            _ => Err(ParseBranchError(s.to_owned())),
        }
    }
}

/// One branch's locked release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockedRelease {
    pub version: KernelVersion,
    /// The tarball's URL.
    pub url: String,
    /// The tarball's SHA-256 (`sha256-<base64>` when kforge wrote it; the
    /// Nix spelling is read too).
    pub hash: String,
    /// kernel.org lists the branch as longterm.
    pub longterm: bool,
    /// kernel.org lists the branch as end of life.
    pub eol: bool,
    /// The release date, `YYYY-MM-DD`, when known.
    pub released: Option<String>,
}

/// A lock file: the locked release of every tracked branch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lock {
    pub branches: BTreeMap<BranchName, LockedRelease>,
    /// Where each branch's table starts (for messages); empty for a lock
    /// built in memory.
    pub origins: BTreeMap<BranchName, Origin>,
}

impl Lock {
    /// Read the lock file at `path`.
    pub fn load(path: &Path) -> Result<Lock, SpecError> {
        let text =
            kforge_fs::read_text_limited(path, crate::load::MAX_DECLARATION_BYTES, "a lock file")
                .map_err(|source| SpecError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        Lock::parse(path, &text)
    }

    /// Read a lock file's text (`path` is for messages).
    pub fn parse(path: &Path, text: &str) -> Result<Lock, SpecError> {
        let file = SourceFile::new(Rc::new(path.to_path_buf()), text.to_owned());
        let cx = Cx::new(&file, false);
        let root = DeTable::parse(&file.text).map_err(|e| crate::parse::invalid_toml(&cx, &e))?;
        let root = root.get_ref();
        cx.known_keys(root, TOP_KEYS, "in the lock file")?;
        let Some(format) = root.get("format") else {
            return Err(cx.at_help(
                0,
                "the lock file has no `format`".into(),
                format!("a lock file written by kforge starts with `format = {LOCK_FORMAT}`"),
            ));
        };
        if cx.integer(format)? != LOCK_FORMAT {
            return Err(cx.at_help(
                format.span().start,
                format!("unknown lock file format {}", cx.integer(format)?),
                format!("this kforge reads format {LOCK_FORMAT}; a newer kforge wrote this file"),
            ));
        }
        let mut lock = Lock::default();
        let Some(branches) = root.get("branches") else {
            return Ok(lock);
        };
        for (key, value) in entries(cx.table(branches)?) {
            let name: BranchName = key
                .get_ref()
                .parse()
                .map_err(|e: ParseBranchError| cx.at(key.span().start, e.to_string()))?;
            let t = cx.table(value)?;
            let place = format!("in [branches.\"{name}\"]");
            cx.known_keys(t, BRANCH_KEYS, &place)?;
            let need = |k: &str| {
                t.get(k).ok_or_else(|| {
                    cx.at_help(
                        value.span().start,
                        format!("[branches.\"{name}\"] has no `{k}`"),
                        format!(
                            "each branch has {}; run `kforge update` to lock it again",
                            BRANCH_KEYS[..5].join(", ")
                        ),
                    )
                })
            };
            let version_value = need("version")?;
            let version = cx.version(version_value)?;
            if !name.contains(&version) {
                return Err(cx.at(
                    version_value.span().start,
                    format!("version {version} does not belong to branch {name}"),
                ));
            }
            let released = match t.get("released") {
                None => None,
                Some(v) => Some(match v.get_ref() {
                    DeValue::Datetime(d) if d.time.is_none() && d.offset.is_none() => {
                        let date = d.date.expect("a datetime has a date or a time");
                        format!("{:04}-{:02}-{:02}", date.year, date.month, date.day)
                    }
                    _ => {
                        return Err(cx.at_help(
                            v.span().start,
                            "expected a date (YYYY-MM-DD, unquoted)".into(),
                            "e.g. released = 2025-01-02",
                        ))
                    }
                }),
            };
            lock.origins.insert(name, cx.origin(value.span().start));
            lock.branches.insert(
                name,
                LockedRelease {
                    version,
                    url: cx.url(need("url")?)?,
                    hash: cx.hash(need("hash")?)?,
                    longterm: cx.boolean(need("longterm")?)?,
                    eol: cx.boolean(need("eol")?)?,
                    released,
                },
            );
        }
        Ok(lock)
    }

    /// The lock file's text: a header comment, `format`, then one table
    /// per branch in version order (`mainline` last), keys in the order
    /// version, url, hash, longterm, eol, released.
    pub fn to_toml(&self) -> String {
        let mut s = String::from(
            "# Kernel releases locked by `kforge update` (see docs/lock-file.md).\n\
             # A declaration follows a branch with\n\
             #   [source]\n\
             #   version = { branch = \"6.12\", lock = \"kernels.lock.toml\" }\n",
        );
        s.push_str(&format!("format = {LOCK_FORMAT}\n"));
        for (name, r) in &self.branches {
            s.push_str(&format!("\n[branches.{}]\n", quote(&name.to_string())));
            s.push_str(&format!("version = {}\n", quote(&r.version.to_string())));
            s.push_str(&format!("url = {}\n", quote(&r.url)));
            s.push_str(&format!("hash = {}\n", quote(&r.hash)));
            s.push_str(&format!("longterm = {}\n", r.longterm));
            s.push_str(&format!("eol = {}\n", r.eol));
            if let Some(date) = &r.released {
                if is_date(date) {
                    s.push_str(&format!("released = {date}\n"));
                }
            }
        }
        s
    }
}

/// `YYYY-MM-DD` with plausible numbers (what TOML accepts as a local date).
pub fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| {
        b[r.clone()]
            .iter()
            .all(u8::is_ascii_digit)
            .then(|| s[r].parse::<u32>().ok())
            .flatten()
    };
    matches!(
        (num(0..4), num(5..7), num(8..10)),
        (Some(_), Some(1..=12), Some(1..=31))
    )
}

/// `s` as a TOML string, as toml_edit writes a new one: a basic string
/// (`"..."`) unless `s` needs escapes, then the form that needs fewest.
fn quote(s: &str) -> String {
    toml_edit::Value::from(s).to_string()
}

/// `[source] version = { branch = "6.12", lock = "kernels.lock.toml" }`:
/// the declaration takes version, URL and hash from the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Follows {
    pub branch: BranchName,
    /// The lock file (resolved against the declaring file's directory).
    pub lock: PathBuf,
    /// Where `version = { ... }` is written.
    pub origin: Origin,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_names() {
        let v = |s: &str| s.parse::<KernelVersion>().unwrap();
        assert_eq!(BranchName::of(&v("6.12.3")).to_string(), "6.12");
        assert_eq!(BranchName::of(&v("6.12")).to_string(), "6.12");
        assert_eq!(BranchName::of(&v("6.13-rc2")), BranchName::Mainline);
        assert_eq!("6.9".parse(), Ok(BranchName::Series(6, 9)));
        assert_eq!("mainline".parse(), Ok(BranchName::Mainline));
        for bad in ["6.12.1", "6.12-rc1", "6", "v6.1", "6.01", "main", ""] {
            assert!(bad.parse::<BranchName>().is_err(), "{bad}");
        }
        let mut names = [
            BranchName::Mainline,
            BranchName::Series(6, 10),
            BranchName::Series(5, 15),
            BranchName::Series(6, 9),
        ];
        names.sort();
        let shown: Vec<String> = names.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["5.15", "6.9", "6.10", "mainline"]);
        assert!(BranchName::Series(6, 1).contains(&v("6.1.150")));
        assert!(!BranchName::Series(6, 1).contains(&v("6.12.1")));
        assert!(BranchName::Mainline.contains(&v("6.13-rc1")));
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("6.12.3"), "\"6.12.3\"");
        assert_eq!(quote(""), "\"\"");
        for s in [
            "a\"b",
            "back\\slash",
            "it's \"both\"",
            "tab\tnl\ncr\r",
            "\u{1}\u{7f}",
            "ünï",
        ] {
            let doc: toml_edit::DocumentMut = format!("k = {}", quote(s)).parse().unwrap();
            assert_eq!(doc["k"].as_str(), Some(s), "{}", quote(s));
        }
    }

    #[test]
    fn dates() {
        assert!(is_date("2025-01-02"));
        for bad in [
            "2025-1-02",
            "2025-13-01",
            "2025-01-00",
            "20250102",
            "2025-01-0x",
        ] {
            assert!(!is_date(bad), "{bad}");
        }
    }

    #[test]
    fn round_trip() {
        let text = "# a comment\nformat = 1\n\n[branches.\"mainline\"]\nversion = \"6.13-rc3\"\nurl = \"https://git.kernel.org/torvalds/t/linux-6.13-rc3.tar.gz\"\nhash = \"sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\"\nlongterm = false\neol = false\n\n[branches.\"6.1\"]\nversion = \"6.1.150\"\nurl = \"https://cdn.kernel.org/pub/linux/kernel/v6.x/linux-6.1.150.tar.xz\"\nhash = \"sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\"\nlongterm = true\neol = true\nreleased = 2025-09-01\n";
        let lock = Lock::parse(Path::new("k.lock"), text).unwrap();
        assert_eq!(lock.branches.len(), 2);
        let first = lock.branches.keys().next().unwrap();
        assert_eq!(first.to_string(), "6.1");
        assert_eq!(
            lock.branches[&BranchName::Series(6, 1)].released.as_deref(),
            Some("2025-09-01")
        );
        assert_eq!(
            lock.origins[&BranchName::Mainline].to_string(),
            "k.lock:4:1"
        );
        let written = lock.to_toml();
        // Branches in version order, and stable: written again, the same.
        assert!(written.find("\"6.1\"").unwrap() < written.find("\"mainline\"").unwrap());
        let again = Lock::parse(Path::new("k.lock"), &written).unwrap();
        assert_eq!(again.branches, lock.branches);
        assert_eq!(again.to_toml(), written);
    }
}
