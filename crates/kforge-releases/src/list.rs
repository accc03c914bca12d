//! kernel.org's `releases.json`: reading it, fetching it, and grouping its
//! releases into branches.

use std::collections::BTreeMap;

use kforge_declaration::{BranchName, KernelVersion};
use serde::Deserialize;

use crate::ReleasesError;

/// What kernel.org calls a release's line of development.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moniker {
    /// Linus Torvalds' tree: release candidates, or the latest release
    /// until the next `-rc1`.
    Mainline,
    /// The current stable branch.
    Stable,
    /// A longterm branch.
    Longterm,
    /// linux-next snapshots (`next-20250102`); never tracked.
    LinuxNext,
}

impl Moniker {
    fn parse(s: &str) -> Option<Moniker> {
        Some(match s {
            "mainline" => Moniker::Mainline,
            "stable" => Moniker::Stable,
            "longterm" => Moniker::Longterm,
            "linux-next" => Moniker::LinuxNext,
            _ => return None,
        })
    }
}

/// One entry of `releases[]`, linux-next left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// `moniker`.
    pub moniker: Moniker,
    /// `version`.
    pub version: KernelVersion,
    /// `iseol`: the branch receives no more releases.
    pub eol: bool,
    /// The tarball's URL (`source`).
    pub source: Option<String>,
    /// The signature's URL (`pgp`): a `.tar.sign`, over the uncompressed tar.
    pub pgp: Option<String>,
    /// `released.timestamp`, seconds since the epoch.
    pub timestamp: Option<i64>,
    /// `released.isodate`, `YYYY-MM-DD`.
    pub date: Option<String>,
}

/// The newest release of a branch, and the branch's flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Branch {
    /// `6.12`, `mainline`, or an alias (`latest`, `longterm`).
    pub name: BranchName,
    /// The branch's newest release on the list.
    pub latest: Release,
    /// Some release of the branch is listed as `longterm`.
    pub longterm: bool,
    /// Some release of the branch is listed as end of life.
    pub eol: bool,
}

/// kernel.org's release list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseList {
    /// `latest_stable.version`.
    pub latest_stable: Option<KernelVersion>,
    /// The releases, linux-next left out, in the list's order.
    pub releases: Vec<Release>,
    /// Entries, or parts of them, that were left out, and why (an unknown
    /// moniker, a version or a date kforge cannot read): one line each,
    /// for the user.
    pub skipped: Vec<String>,
}

#[derive(Deserialize)]
#[serde(expecting = "an object with `releases`")]
struct RawList {
    latest_stable: Option<RawLatest>,
    releases: Vec<RawRelease>,
}

#[derive(Deserialize)]
#[serde(expecting = "an object with `version`")]
struct RawLatest {
    version: String,
}

#[derive(Deserialize)]
#[serde(expecting = "a release object")]
struct RawRelease {
    moniker: String,
    version: String,
    #[serde(default)]
    iseol: bool,
    source: Option<String>,
    pgp: Option<String>,
    released: Option<RawReleased>,
}

#[derive(Deserialize)]
#[serde(expecting = "an object with `timestamp` and `isodate`")]
struct RawReleased {
    timestamp: Option<i64>,
    isodate: Option<String>,
}

impl ReleaseList {
    /// Read `releases.json`. `from` names it in messages (its URL).
    /// Unknown fields are ignored; an entry with an unknown moniker or a
    /// version that is not a kernel version is left out (and noted in
    /// [`ReleaseList::skipped`]); malformed JSON or a missing `releases`,
    /// `moniker` or `version` is an error naming line and column.
    pub fn parse(from: &str, text: &str) -> Result<ReleaseList, ReleasesError> {
        let raw: RawList = serde_json::from_str(text).map_err(|e| ReleasesError::Json {
            from: from.to_owned(),
            message: strip_position(&e.to_string()),
            line: e.line(),
            column: e.column(),
        })?;
        let mut list = ReleaseList {
            latest_stable: raw
                .latest_stable
                .and_then(|l| l.version.parse::<KernelVersion>().ok()),
            releases: Vec::new(),
            skipped: Vec::new(),
        };
        for (i, r) in raw.releases.into_iter().enumerate() {
            let Some(moniker) = Moniker::parse(&r.moniker) else {
                list.skipped.push(format!(
                    "releases[{i}] ({}): unknown moniker `{}`",
                    r.version, r.moniker
                ));
                continue;
            };
            if moniker == Moniker::LinuxNext {
                continue;
            }
            let version = match r.version.parse::<KernelVersion>() {
                Ok(v) => v,
                Err(e) => {
                    list.skipped.push(format!("releases[{i}]: {e}"));
                    continue;
                }
            };
            let (timestamp, date) = match r.released {
                Some(d) => {
                    let date = match d.isodate {
                        Some(date) if !kforge_declaration::is_date(&date) => {
                            list.skipped.push(format!(
                                "releases[{i}] ({version}): its date `{date}` is not YYYY-MM-DD; \
                                 the release is kept without a date"
                            ));
                            None
                        }
                        date => date,
                    };
                    (d.timestamp, date)
                }
                None => (None, None),
            };
            list.releases.push(Release {
                moniker,
                version,
                eol: r.iseol,
                source: r.source.filter(|s| !s.is_empty()),
                pgp: r.pgp.filter(|s| !s.is_empty()),
                timestamp,
                date,
            });
        }
        Ok(list)
    }

    /// The releases grouped into branches ([`BranchName::of`]): each
    /// branch's newest release, longterm when any of its releases is
    /// listed as longterm, end of life when any is listed so.
    pub fn branches(&self) -> BTreeMap<BranchName, Branch> {
        let mut out: BTreeMap<BranchName, Branch> = BTreeMap::new();
        for r in &self.releases {
            let name = BranchName::of(&r.version);
            let longterm = r.moniker == Moniker::Longterm;
            match out.get_mut(&name) {
                Some(b) => {
                    b.longterm |= longterm;
                    b.eol |= r.eol;
                    if r.version > b.latest.version {
                        b.latest = r.clone();
                    }
                }
                None => {
                    out.insert(
                        name,
                        Branch {
                            name,
                            latest: r.clone(),
                            longterm,
                            eol: r.eol,
                        },
                    );
                }
            }
        }
        // The aliases: the newest maintained series, and the newest
        // maintained longterm series.
        let newest = |out: &BTreeMap<BranchName, Branch>, longterm_only: bool| {
            out.values()
                .filter(|b| matches!(b.name, BranchName::Series(..)) && !b.eol)
                .filter(|b| !longterm_only || b.longterm)
                .max_by_key(|b| b.latest.version)
                .cloned()
        };
        for (alias, longterm_only) in [(BranchName::Latest, false), (BranchName::Longterm, true)] {
            if let Some(b) = newest(&out, longterm_only) {
                out.insert(alias, Branch { name: alias, ..b });
            }
        }
        out
    }
}

/// serde_json's message without its trailing " at line L column C" (the
/// position is reported on its own).
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// kernel.org's release list.
pub const DEFAULT_RELEASES_URL: &str = "https://www.kernel.org/releases.json";

/// The most read of a release list or signature, local or downloaded (the
/// HTTP agent's own limit for a body held in memory).
pub const SMALL_FILE_LIMIT: u64 = 10 << 20;

/// The bytes at `url` (`http://`, `https://`), or of a local file
/// (`file://PATH` or a plain path). For small files (the list, a
/// signature): held in memory.
pub fn fetch_bytes(url: &str) -> Result<Vec<u8>, ReleasesError> {
    let fail = |reason: String| ReleasesError::Fetch {
        url: url.to_owned(),
        reason,
    };
    if !url.starts_with("http://") && !url.starts_with("https://") {
        let path = url.strip_prefix("file://").unwrap_or(url);
        return kforge_fs::read_limited(
            std::path::Path::new(path),
            SMALL_FILE_LIMIT,
            "a release list or signature",
        )
        .map_err(|e| fail(e.to_string()));
    }
    let response = kforge_http::agent()
        .get(url)
        .call()
        .map_err(|e| fail(e.to_string()))?;
    let status = response.status().as_u16();
    if status != 200 {
        return Err(ReleasesError::Status {
            url: url.to_owned(),
            status,
        });
    }
    response
        .into_body()
        .read_to_vec()
        .map_err(|e| fail(e.to_string()))
}

/// The text at `url` (see [`fetch_bytes`]).
pub fn fetch_text(url: &str) -> Result<String, ReleasesError> {
    let bytes = fetch_bytes(url)?;
    String::from_utf8(bytes).map_err(|e| ReleasesError::Fetch {
        url: url.to_owned(),
        reason: format!("not UTF-8 text: {e}"),
    })
}

/// Fetch and read the release list at `url` (see [`fetch_text`]).
pub fn fetch_list(url: &str) -> Result<ReleaseList, ReleasesError> {
    ReleaseList::parse(url, &fetch_text(url)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--releases-url /dev/zero` (or `file:///dev/zero`) is refused by
    /// type at once, not read to the end of memory.
    #[test]
    fn a_local_list_must_be_a_regular_file() {
        for url in ["/dev/zero", "file:///dev/zero"] {
            let e = fetch_bytes(url).unwrap_err().to_string();
            assert!(
                e.contains("it is a character device, not a regular file; a release list or signature is read from a regular file"),
                "{e}"
            );
            assert!(e.contains(url), "{e}");
        }
    }

    #[test]
    fn position_is_stripped() {
        assert_eq!(
            strip_position("expected value at line 3 column 7"),
            "expected value"
        );
        assert_eq!(strip_position("EOF"), "EOF");
    }
}
