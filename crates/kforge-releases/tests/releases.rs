//! The release list, its branches, and the plan against a lock file.

use std::path::Path;

use kforge_declaration::{BranchName, KernelVersion, Lock, LockedRelease};
use kforge_releases::{plan, ChangeKind, Moniker, ReleaseList, ReleasesError};

const HASH: &str = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";

/// A list shaped like kernel.org's (its fields, its order, extra fields).
const LIST: &str = r#"{
  "latest_stable": { "version": "6.18.2" },
  "releases": [
    { "iseol": false, "version": "6.19-rc3", "moniker": "mainline",
      "source": "https://git.kernel.org/torvalds/t/linux-6.19-rc3.tar.gz", "pgp": null,
      "released": { "timestamp": 1766958000, "isodate": "2025-12-28" },
      "gitweb": "https://git.kernel.org/torvalds/h/v6.19-rc3", "changelog": null,
      "diffview": "x", "patch": { "full": "x", "incremental": null } },
    { "iseol": false, "version": "6.18.2", "moniker": "stable",
      "source": "https://cdn.kernel.org/pub/linux/kernel/v6.x/linux-6.18.2.tar.xz",
      "pgp": "https://cdn.kernel.org/pub/linux/kernel/v6.x/linux-6.18.2.tar.sign",
      "released": { "timestamp": 1766000000, "isodate": "2025-12-17" } },
    { "iseol": true, "version": "6.17.13", "moniker": "stable",
      "source": "https://cdn.kernel.org/pub/linux/kernel/v6.x/linux-6.17.13.tar.xz",
      "pgp": null, "released": { "timestamp": 1765000000, "isodate": "2025-12-06" } },
    { "iseol": false, "version": "6.12.63", "moniker": "longterm",
      "source": "https://cdn.kernel.org/pub/linux/kernel/v6.x/linux-6.12.63.tar.xz",
      "pgp": null, "released": { "timestamp": 1765900000, "isodate": "2025-12-16" } },
    { "iseol": false, "version": "6.6.119", "moniker": "longterm",
      "source": "https://cdn.kernel.org/pub/linux/kernel/v6.x/linux-6.6.119.tar.xz",
      "pgp": null, "released": { "timestamp": 1765800000, "isodate": "2025-12-15" } },
    { "iseol": false, "version": "next-20251231", "moniker": "linux-next",
      "source": null, "pgp": null,
      "released": { "timestamp": 1767100000, "isodate": "2025-12-31" } },
    { "iseol": false, "version": "9.9.9", "moniker": "experimental",
      "source": null, "pgp": null, "released": null }
  ]
}"#;

fn v(s: &str) -> KernelVersion {
    s.parse().unwrap()
}

fn b(s: &str) -> BranchName {
    s.parse().unwrap()
}

fn list() -> ReleaseList {
    ReleaseList::parse("releases.json", LIST).unwrap()
}

fn locked(version: &str, longterm: bool, eol: bool) -> LockedRelease {
    LockedRelease {
        version: v(version),
        url: format!("https://cdn.kernel.org/pub/linux/kernel/v6.x/linux-{version}.tar.xz"),
        hash: HASH.into(),
        longterm,
        eol,
        released: None,
    }
}

#[test]
fn the_list_and_its_branches() {
    let list = list();
    assert_eq!(list.latest_stable, Some(v("6.18.2")));
    assert_eq!(
        list.releases.len(),
        5,
        "linux-next and the unknown left out"
    );
    assert_eq!(
        list.skipped,
        ["releases[6] (9.9.9): unknown moniker `experimental`"]
    );
    let r = &list.releases[1];
    assert_eq!(r.moniker, Moniker::Stable);
    assert_eq!(r.date.as_deref(), Some("2025-12-17"));
    assert_eq!(r.timestamp, Some(1766000000));
    assert!(r.pgp.as_deref().unwrap().ends_with(".tar.sign"));

    let branches = list.branches();
    let names: Vec<String> = branches.keys().map(ToString::to_string).collect();
    assert_eq!(
        names,
        ["6.6", "6.12", "6.17", "6.18", "mainline", "latest", "longterm"]
    );
    // The aliases: the newest series that is not end of life, and the
    // newest longterm one.
    assert_eq!(
        branches[&BranchName::Latest].latest.version,
        branches[&b("6.18")].latest.version
    );
    assert_eq!(
        branches[&BranchName::Longterm].latest.version,
        branches[&b("6.12")].latest.version
    );
    assert!(branches[&BranchName::Longterm].longterm);
    let main = &branches[&BranchName::Mainline];
    assert_eq!(main.latest.version, v("6.19-rc3"));
    assert!(!main.longterm && !main.eol);
    assert!(branches[&b("6.12")].longterm);
    assert!(!branches[&b("6.18")].longterm);
    assert!(branches[&b("6.17")].eol);
}

#[test]
fn two_releases_of_a_branch_keep_the_newest() {
    let text = r#"{"latest_stable": null, "releases": [
      {"moniker": "longterm", "version": "6.1.10", "iseol": false, "source": "https://x/a", "pgp": null, "released": null},
      {"moniker": "stable", "version": "6.1.12", "iseol": true, "source": "https://x/b", "pgp": null, "released": null},
      {"moniker": "mainline", "version": "6.2", "iseol": false, "source": "https://x/c", "pgp": null, "released": null}
    ]}"#;
    let branches = ReleaseList::parse("l", text).unwrap().branches();
    let one = &branches[&b("6.1")];
    assert_eq!(one.latest.version, v("6.1.12"));
    assert!(one.longterm && one.eol);
    // A mainline release (not a release candidate) is its own branch.
    assert_eq!(branches[&b("6.2")].latest.moniker, Moniker::Mainline);
    assert!(!branches.contains_key(&BranchName::Mainline));
}

#[test]
fn malformed_lists_say_where() {
    for (text, line, column, message) in [
        (
            "{\"releases\": [\n  {\"moniker\": \"stable\",,}]}",
            2,
            24,
            "key must be a string",
        ),
        (
            "{\"latest_stable\": null}",
            1,
            23,
            "missing field `releases`",
        ),
        (
            "[1, 2]",
            1,
            2,
            "invalid type: integer `1`, expected an object with `version`",
        ),
        ("", 1, 0, "EOF while parsing"),
        (
            "{\"releases\": [{\"moniker\": \"stable\", \"iseol\": false}]}",
            1,
            51,
            "missing field `version`",
        ),
    ] {
        let err = ReleaseList::parse("http://127.0.0.1/releases.json", text).unwrap_err();
        let ReleasesError::Json {
            line: l,
            column: c,
            message: m,
            ..
        } = &err
        else {
            panic!("{err}")
        };
        assert_eq!((*l, *c), (line, column), "{err}");
        assert!(m.starts_with(message), "{err}");
        assert!(
            err.to_string().starts_with(&format!(
                "http://127.0.0.1/releases.json:{line}:{column}: the release list is not valid: "
            )),
            "{err}"
        );
    }
}

#[test]
fn the_plan_against_a_lock() {
    let mut lock = Lock::default();
    lock.branches
        .insert(b("6.6"), locked("6.6.118", true, false));
    lock.branches
        .insert(b("6.12"), locked("6.12.63", true, false));
    lock.branches
        .insert(b("6.17"), locked("6.17.13", false, false));
    lock.branches
        .insert(b("6.16"), locked("6.16.12", false, true));
    lock.branches
        .insert(b("5.4"), locked("5.4.300", true, false));

    let p = plan(&lock, &list(), &[]).unwrap();
    let summary: Vec<String> = p.changes.iter().map(|c| c.summary()).collect();
    assert_eq!(
        summary,
        [
            "6.6: 6.6.118 -> 6.6.119",
            "6.17: 6.17.13 (end of life)",
            "6.18: new branch at 6.18.2",
            "mainline: new branch at 6.19-rc3",
        ]
    );
    let kinds: Vec<&ChangeKind> = p.changes.iter().map(|c| &c.kind).collect();
    assert_eq!(
        kinds,
        [
            &ChangeKind::Bump,
            &ChangeKind::Same,
            &ChangeKind::New,
            &ChangeKind::New
        ]
    );
    assert!(p.changes[0].needs_download());
    assert!(!p.changes[1].needs_download(), "same release, same URL");
    assert_eq!(
        p.notes,
        [
            "5.4: not on the release list any more; 5.4.300 stays locked (kernel.org drops a branch from the list some time after its end of life)",
            "6.16: not on the release list any more; 6.16.12 stays locked (it is end of life)",
        ]
    );

    // The commit messages.
    assert_eq!(
        p.changes[0].commit_message(),
        "linux 6.6: 6.6.118 -> 6.6.119\n\nurl: https://cdn.kernel.org/pub/linux/kernel/v6.x/linux-6.6.119.tar.xz\n"
    );
    assert_eq!(
        p.changes[1].commit_message(),
        "linux 6.17: 6.17.13 is end of life"
    );
    assert!(p.changes[2]
        .commit_message()
        .starts_with("linux 6.18: init at 6.18.2\n"));
    assert!(p.changes[3]
        .commit_message()
        .starts_with("linux mainline: init at 6.19-rc3\n"));

    // The new entries.
    let e = p.changes[0].locked("sha256-new".into());
    assert_eq!(e.version, v("6.6.119"));
    assert_eq!(e.hash, "sha256-new");
    assert!(e.longterm && !e.eol);
    assert_eq!(e.released.as_deref(), Some("2025-12-15"));

    // --branch limits: only those, and new ones only when named.
    let p = plan(&lock, &list(), &[b("6.12"), b("6.18")]).unwrap();
    let summary: Vec<String> = p.changes.iter().map(|c| c.summary()).collect();
    assert_eq!(summary, ["6.18: new branch at 6.18.2"]);
    assert!(p.notes.is_empty());

    let err = plan(&lock, &list(), &[b("6.3")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "branch 6.3 is neither on the release list nor in the lock file\n  help: the list has 6.6, 6.12, 6.17, 6.18, mainline, latest, longterm"
    );
}

#[test]
fn an_older_list_and_a_moved_tarball() {
    let mut lock = Lock::default();
    lock.branches
        .insert(b("6.6"), locked("6.6.120", true, false));
    let mut moved = locked("6.12.63", true, false);
    moved.url = "https://mirror.example/linux-6.12.63.tar.xz".into();
    lock.branches.insert(b("6.12"), moved);
    let p = plan(&lock, &list(), &[b("6.6"), b("6.12")]).unwrap();
    assert_eq!(
        p.notes,
        ["6.6: the list has 6.6.119, older than the locked 6.6.120; left as it is"]
    );
    assert_eq!(p.changes.len(), 1);
    let c = &p.changes[0];
    assert!(
        c.needs_download(),
        "the same release, checked at its new URL"
    );
    assert_eq!(
        c.commit_message(),
        "linux 6.12: 6.12.63 moved to https://cdn.kernel.org/pub/linux/kernel/v6.x/linux-6.12.63.tar.xz\n\nurl: https://cdn.kernel.org/pub/linux/kernel/v6.x/linux-6.12.63.tar.xz\n"
    );
}

#[test]
fn the_lock_is_written_atomically() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("kernels.lock.toml");
    let mut lock = Lock::default();
    lock.branches
        .insert(b("6.12"), locked("6.12.63", true, false));
    kforge_releases::write_lock(&path, &lock).unwrap();
    let back = Lock::load(&path).unwrap();
    assert_eq!(back.branches, lock.branches);
    let names: Vec<_> = std::fs::read_dir(d.path()).unwrap().flatten().collect();
    assert_eq!(names.len(), 1, "no temporary file left");

    // A directory that does not exist: an error naming the file, nothing
    // written.
    let err = kforge_releases::write_lock(&d.path().join("absent/k.lock.toml"), &lock).unwrap_err();
    assert!(err.to_string().contains("cannot create"), "{err}");
    assert!(!Path::new(&d.path().join("absent")).exists());
}

/// A date that is not YYYY-MM-DD is left out with a note, not silently.
#[test]
fn an_unreadable_date_is_noted() {
    let text = LIST.replace("\"isodate\": \"2025-12-17\"", "\"isodate\": \"17/12/2025\"");
    assert_ne!(text, LIST);
    let list = ReleaseList::parse("releases.json", &text).unwrap();
    let r = list
        .releases
        .iter()
        .find(|r| r.version == v("6.18.2"))
        .unwrap();
    assert_eq!(r.date, None);
    assert!(
        list.skipped.contains(
            &"releases[1] (6.18.2): its date `17/12/2025` is not YYYY-MM-DD; \
              the release is kept without a date"
                .to_string()
        ),
        "{:?}",
        list.skipped
    );
}
