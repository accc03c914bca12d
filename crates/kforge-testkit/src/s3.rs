//! A real S3 server on 127.0.0.1 for the tests of shared caches: `s3s-fs`
//! (the s3s project's S3 server over a directory, `cargo install
//! s3s-fs@0.14.1 --locked --features binary`, which scripts/test runs when
//! it is missing), with a root in a temporary directory and one access key.
//! Stopped and removed when the [`Server`] is dropped.
//!
//! s3s-fs keeps each bucket as a directory of its root and each object as
//! a file under it (`bucket/prefix/name`), its metadata in hidden JSON
//! files beside the buckets, so a test can damage an object in place. It
//! is lenient where S3 is not: a PUT into a bucket that does not exist
//! makes it, a GET from one answers `NoSuchKey`, and there are no
//! per-bucket permissions (one access key, which may do everything).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server.
pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
    root: tempfile::TempDir,
    child: Child,
}

impl Server {
    /// Start the server and wait until it answers.
    pub fn start() -> Server {
        let prog = crate::tool(
            "s3s-fs",
            "scripts/test installs it: cargo install s3s-fs@0.14.1 --locked --features binary",
        );
        let root = tempfile::tempdir().unwrap();
        let port = crate::free_port();
        let (access_key, secret_key) =
            ("kforge-test".to_string(), "kforge-test-secret".to_string());
        let child = Command::new(prog)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", &access_key, "--secret-key", &secret_key])
            .arg(root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let t = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "s3s-fs did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Server {
            endpoint: format!("http://127.0.0.1:{port}"),
            access_key,
            secret_key,
            root,
            child,
        }
    }

    /// Make a bucket (s3s-fs keeps each in a directory of its root).
    pub fn bucket(&self, name: &str) -> PathBuf {
        let d = self.root.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// The directory the server keeps its buckets in.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// Where the objects of `bucket` are: `bucket/prefix/name` under it.
    pub fn bucket_dir(&self, bucket: &str) -> PathBuf {
        self.root.path().join(bucket)
    }

    /// A binary cache URL for `prefix` in `bucket`:
    /// `s3://BUCKET/PREFIX?endpoint=...&region=us-east-1`.
    pub fn url(&self, bucket: &str, prefix: &str) -> String {
        format!(
            "s3://{bucket}/{prefix}?endpoint={}&region=us-east-1",
            self.endpoint
        )
    }

    /// The environment that gives a client this server's credentials.
    pub fn env(&self) -> [(&'static str, String); 2] {
        [
            ("AWS_ACCESS_KEY_ID", self.access_key.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_key.clone()),
        ]
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
