//! `[store]`: substituters and trusted keys, checked where they are written.

use crate::common::{Dir, HEAD};

const KEY: &str = "cache-1:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";

#[test]
fn substituters_and_keys_are_read_in_order() {
    let d = Dir::new();
    let spec = d.spec(&format!(
        "{HEAD}[store]\nsubstituters = [\"s3://kernels/ci?endpoint=http://127.0.0.1:3900&region=garage\", \"https://cache.example.org/k\", \"file:///srv/kforge-cache\"]\ntrusted_keys = [\"{KEY}\"]\n"
    ));
    let urls: Vec<&str> = spec
        .store
        .substituters
        .iter()
        .map(|(u, _)| u.as_str())
        .collect();
    assert_eq!(
        urls,
        [
            "s3://kernels/ci?endpoint=http://127.0.0.1:3900&region=garage",
            "https://cache.example.org/k",
            "file:///srv/kforge-cache"
        ]
    );
    assert_eq!(spec.store.trusted_keys[0].0, KEY);
    assert_eq!(spec.store.trusted_keys[0].1.line, 7);
    // Without [store]: nothing.
    assert!(d.spec(HEAD).store.substituters.is_empty());
}

#[test]
fn a_malformed_url_is_an_error_at_its_place() {
    let d = Dir::new();
    let e = d.error(&format!(
        "{HEAD}[store]\nsubstituters = [\"file:///ok\", \"s3:///kernels\"]\n"
    ));
    d.assert_at(
        &e,
        ("kernel.toml", 6, 31),
        "`s3:///kernels` is not a binary cache URL: an s3:// URL names its bucket: s3://BUCKET/PREFIX",
        Some("write s3://BUCKET/PREFIX?endpoint=URL&region=REGION, https://HOST/PATH, http://HOST/PATH or file:///ABSOLUTE/DIR"),
    );
    let e = d.error(&format!(
        "{HEAD}[store]\nsubstituters = [\"ftp://host/cache\"]\n"
    ));
    assert!(e.to_string().contains("kernel.toml:6:17: `ftp://host/cache` is not a binary cache URL: kforge has no binary cache over `ftp://`"), "{e}");
    let e = d.error(&format!("{HEAD}[store]\nsubstituters = \"file:///one\"\n"));
    assert!(
        e.to_string()
            .contains("kernel.toml:6:16: expected an array, found a string"),
        "{e}"
    );
}

#[test]
fn a_malformed_key_is_an_error_at_its_place() {
    let d = Dir::new();
    let e = d.error(&format!(
        "{HEAD}[store]\ntrusted_keys = [\n  \"{KEY}\",\n  \"cache-2:AAAA\",\n]\n"
    ));
    d.assert_at(
        &e,
        ("kernel.toml", 8, 3),
        "`cache-2:AAAA` is not a public key: the part after `cache-2:` decodes to 3 bytes; a public key has 32",
        Some("give the text of a NAME.public file that `kforge store keygen NAME` wrote"),
    );
    let e = d.error(&format!("{HEAD}[store]\ntrusted_keys = [\"no-colon\"]\n"));
    assert!(e.to_string().contains("kernel.toml:6:17: `no-colon` is not a public key: expected a public key as NAME:BASE64"), "{e}");
    // An unknown key of [store], with a suggestion.
    let e = d.error(&format!("{HEAD}[store]\nsubstituter = []\n"));
    assert!(
        e.to_string()
            .contains("unknown key `substituter` in [store]"),
        "{e}"
    );
    assert_eq!(e.help(), Some("did you mean `substituters`?"));
}

#[test]
fn store_is_not_allowed_in_an_included_file() {
    let d = Dir::new();
    d.write("site.toml", "[store]\nsubstituters = [\"file:///srv/c\"]\n");
    let e = d.error(&format!("{HEAD}include = [\"site.toml\"]\n"));
    assert!(
        e.to_string()
            .contains("site.toml:1:2: `[store]` is not allowed in an included file"),
        "{e}"
    );
}
