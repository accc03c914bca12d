//! A real S3 server for the binary cache's tests: `s3s-fs` (the s3s
//! project's S3 server over a directory, Apache-2.0), started on a free
//! port of 127.0.0.1 with its data in a temporary directory and an access
//! key of its own, killed when dropped.
//!
//! s3s-fs keeps each bucket as a top-level directory of its root and each
//! object as a file under it (`bucket/prefix/name`), with its metadata in
//! hidden JSON files beside the buckets; a test makes a bucket by making
//! the directory, and can damage an object in place. It is lenient where
//! S3 is not: a PUT into a bucket that does not exist makes it, a GET from
//! one answers `NoSuchKey`, and there are no per-bucket permissions (one
//! access key, which may do everything).
//! Install it with `cargo install s3s-fs@0.14.1 --locked --features binary`
//! (scripts/setup does).

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running s3s-fs.
pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    pub port: u16,
    /// The credentials it accepts.
    pub access_key: String,
    pub secret_key: String,
    root: tempfile::TempDir,
    child: Child,
}

impl Server {
    /// Start s3s-fs with `buckets` made. Panics, naming the remedy, when
    /// s3s-fs is not installed or does not answer within 20 s.
    pub fn start(buckets: &[&str]) -> Server {
        let root = tempfile::tempdir().unwrap();
        for b in buckets {
            std::fs::create_dir_all(root.path().join("data").join(b)).unwrap();
        }
        let log = root.path().join("s3s-fs.log");
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let (access_key, secret_key) =
            ("kforge-test".to_string(), "kforge-test-secret".to_string());
        let child = Command::new("s3s-fs")
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", &access_key, "--secret-key", &secret_key])
            .arg(root.path().join("data"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start s3s-fs ({e}): install it with `cargo install s3s-fs@0.14.1 --locked --features binary` (scripts/setup does)"
                )
            });
        let mut server = Server {
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
            access_key,
            secret_key,
            root,
            child,
        };
        let t0 = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!(
                    "s3s-fs exited ({status}) before answering: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "s3s-fs did not answer on port {port} within 20 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// The cache URL of `prefix` in `bucket`: `s3://BUCKET/PREFIX?endpoint=...`.
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

    /// Make another bucket.
    pub fn create_bucket(&self, name: &str) {
        std::fs::create_dir_all(self.bucket_dir(name)).unwrap();
    }

    /// Where s3s-fs keeps the objects of `bucket`.
    pub fn bucket_dir(&self, bucket: &str) -> PathBuf {
        self.root.path().join("data").join(bucket)
    }

    /// The server's log (its errors name the requests it refused).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.path().join("s3s-fs.log")).unwrap_or_default()
    }

    /// The temporary directory the server's data and log live in.
    pub fn root(&self) -> &Path {
        self.root.path()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
