//! Where a binary cache is: the URLs of `[store] substituters` and of
//! `kforge store push/pull`.
//!
//! * `s3://BUCKET/PREFIX?endpoint=http://127.0.0.1:3900&region=garage`:
//!   an S3 bucket (any S3-compatible server), credentials from
//!   `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (and
//!   `AWS_SESSION_TOKEN`); without them, requests go unsigned (a public
//!   bucket). `endpoint` may be plain http; `region` defaults to
//!   `us-east-1`.
//! * `https://HOST/PATH`, `http://HOST/PATH`: a cache served over HTTP,
//!   read only.
//! * `file:///ABS/DIR`: a directory.

use std::path::PathBuf;

/// A parsed cache URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// An S3 bucket, objects under `prefix` (no leading or trailing `/`),
    /// at `endpoint` (AWS's without it), in `region`.
    S3 {
        bucket: String,
        prefix: String,
        endpoint: Option<String>,
        region: String,
    },
    /// A base URL served over HTTP (read only).
    Http { url: String },
    /// A local directory.
    File { dir: PathBuf },
}

/// The query keys an `s3://` URL takes.
const S3_KEYS: &[&str] = &["endpoint", "region"];

impl Location {
    /// Parse a cache URL; the error says what is wrong and what is
    /// accepted.
    pub fn parse(text: &str) -> Result<Location, String> {
        let u = url::Url::parse(text).map_err(|e| {
            format!("not a URL ({e}); write s3://BUCKET/PREFIX?endpoint=..., https://HOST/PATH or file:///ABSOLUTE/DIR")
        })?;
        match u.scheme() {
            "s3" => {
                let bucket = u.host_str().unwrap_or_default().to_string();
                if bucket.is_empty() {
                    return Err("an s3:// URL names its bucket: s3://BUCKET/PREFIX".into());
                }
                if u.username() != "" || u.password().is_some() || u.port().is_some() {
                    return Err(
                        "an s3:// URL holds no credentials or port: the endpoint goes in ?endpoint=, the credentials in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
                            .into(),
                    );
                }
                let prefix = u.path().trim_matches('/').to_string();
                let mut endpoint = None;
                let mut region = "us-east-1".to_string();
                for (k, v) in u.query_pairs() {
                    match k.as_ref() {
                        "endpoint" => {
                            let e = url::Url::parse(&v)
                                .map_err(|e| format!("endpoint `{v}` is not a URL ({e})"))?;
                            if !matches!(e.scheme(), "http" | "https") || e.host_str().is_none() {
                                return Err(format!(
                                    "endpoint `{v}` is not an http:// or https:// URL of a host"
                                ));
                            }
                            endpoint = Some(v.trim_end_matches('/').to_string());
                        }
                        "region" if !v.is_empty() => region = v.into_owned(),
                        "region" => return Err("region is empty".into()),
                        other => {
                            return Err(format!(
                                "unknown query key `{other}` in an s3:// URL (it takes {})",
                                S3_KEYS.join(", ")
                            ))
                        }
                    }
                }
                Ok(Location::S3 {
                    bucket,
                    prefix,
                    endpoint,
                    region,
                })
            }
            "http" | "https" => {
                if u.host_str().is_none_or(str::is_empty) {
                    return Err(format!("`{text}` names no host"));
                }
                Ok(Location::Http {
                    url: text.trim_end_matches('/').to_string(),
                })
            }
            "file" => {
                if u.host_str().is_some_and(|h| !h.is_empty()) {
                    return Err(format!(
                        "`{text}` names a host; a directory is file:///ABSOLUTE/DIR (three slashes)"
                    ));
                }
                let dir = u
                    .to_file_path()
                    .map_err(|()| format!("`{text}` is not a file:///ABSOLUTE/DIR URL"))?;
                Ok(Location::File { dir })
            }
            other => Err(format!(
                "kforge has no binary cache over `{other}://`: write s3://, https://, http:// or file://"
            )),
        }
    }

    /// Whether entries can be pushed here (not over plain HTTP).
    pub fn writable(&self) -> bool {
        !matches!(self, Location::Http { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_kinds() {
        assert_eq!(
            Location::parse("s3://b/kernels/x86?endpoint=http://127.0.0.1:3900&region=garage"),
            Ok(Location::S3 {
                bucket: "b".into(),
                prefix: "kernels/x86".into(),
                endpoint: Some("http://127.0.0.1:3900".into()),
                region: "garage".into()
            })
        );
        assert_eq!(
            Location::parse("s3://b"),
            Ok(Location::S3 {
                bucket: "b".into(),
                prefix: "".into(),
                endpoint: None,
                region: "us-east-1".into()
            })
        );
        assert_eq!(
            Location::parse("https://cache.example.org/k/"),
            Ok(Location::Http {
                url: "https://cache.example.org/k".into()
            })
        );
        assert_eq!(
            Location::parse("file:///srv/cache"),
            Ok(Location::File {
                dir: "/srv/cache".into()
            })
        );
    }

    #[test]
    fn malformed_urls_say_why() {
        for (u, why) in [
            ("cache", "not a URL"),
            ("s3:///prefix", "names its bucket"),
            ("s3://b?endpoint=ftp://x", "not an http:// or https://"),
            ("s3://b?bucket=x", "unknown query key `bucket`"),
            ("s3://key:secret@b", "no credentials"),
            ("file://host/dir", "names a host"),
            ("gs://b", "no binary cache over `gs://`"),
        ] {
            let e = Location::parse(u).unwrap_err();
            assert!(e.contains(why), "{u}: {e}");
        }
    }
}
