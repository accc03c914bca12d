//! A real S3 server on 127.0.0.1 for the tests of shared caches: the s3s
//! project's S3 implementation (`s3s`, request parsing and SigV4
//! authentication) over its file system backend (`s3s-fs`), served over
//! TCP by a thread of the test process, with a root in a temporary
//! directory. Stopped and removed when the [`Server`] is dropped.
//!
//! It checks signatures with its access keys: one that may use every
//! bucket ([`Server::env`]), and any number that may use one bucket only
//! ([`Server::key_for_bucket`]); a request of such a key for another bucket
//! is refused with S3's `AccessDenied`, as a bucket policy would.
//!
//! s3s-fs keeps each bucket as a directory of its root and each object as
//! a file under it (`bucket/prefix/name`), its metadata in hidden JSON
//! files beside the buckets, so a test can damage an object in place. It
//! is lenient where S3 is not: a PUT into a bucket that does not exist
//! makes it, a GET from one answers `NoSuchKey`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{S3Auth, SecretKey};
use s3s::path::S3Path;
use s3s::{s3_error, S3Result};

/// A running server.
pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The access key that may use every bucket.
    pub access_key: String,
    /// Its secret.
    pub secret_key: String,
    keys: Keys,
    root: PathBuf,
    /// The root, when it is the server's own (removed when it stops).
    _own_root: Option<tempfile::TempDir>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// An access key's secret, and the one bucket it may use (`None`: all).
type Grant = (String, Option<String>);

/// The server's access keys, by access key id.
#[derive(Clone, Default)]
struct Keys(Arc<Mutex<HashMap<String, Grant>>>);

impl Keys {
    fn get(&self, access_key: &str) -> Option<Grant> {
        let keys = self.0.lock().unwrap_or_else(|p| p.into_inner());
        keys.get(access_key).cloned()
    }

    fn add(&self, access_key: &str, secret: &str, bucket: Option<&str>) {
        let mut keys = self.0.lock().unwrap_or_else(|p| p.into_inner());
        keys.insert(
            access_key.to_string(),
            (secret.to_string(), bucket.map(str::to_string)),
        );
    }
}

#[async_trait::async_trait]
impl S3Auth for Keys {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        match self.get(access_key) {
            Some((secret, _)) => Ok(SecretKey::from(secret)),
            None => Err(s3_error!(InvalidAccessKeyId)),
        }
    }
}

#[async_trait::async_trait]
impl S3Access for Keys {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let Some(cred) = cx.credentials() else {
            return Err(s3_error!(AccessDenied, "Signature is required"));
        };
        let Some((_, only)) = self.get(&cred.access_key) else {
            return Err(s3_error!(InvalidAccessKeyId));
        };
        let Some(only) = only else {
            return Ok(());
        };
        match cx.s3_path() {
            S3Path::Bucket { bucket } | S3Path::Object { bucket, .. } if **bucket == *only => {
                Ok(())
            }
            _ => Err(s3_error!(
                AccessDenied,
                "this key may use bucket {only} only"
            )),
        }
    }
}

impl Server {
    /// Start the server on a free port with a root of its own (removed
    /// when it stops); it answers as soon as this returns.
    pub fn start() -> Server {
        let root = tempfile::tempdir().unwrap();
        let mut server = Server::serve(
            root.path(),
            ("127.0.0.1", 0),
            ("kforge-test", "kforge-test-secret"),
        )
        .unwrap();
        server._own_root = Some(root);
        server
    }

    /// Serve the buckets under `root` on `addr`, with an access key that may
    /// use every bucket (`key`: access key, secret).
    pub fn serve(root: &Path, addr: (&str, u16), key: (&str, &str)) -> std::io::Result<Server> {
        let keys = Keys::default();
        keys.add(key.0, key.1, None);
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let service = {
            let fs = s3s_fs::FileSystem::new(root)
                .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
            let mut b = s3s::service::S3ServiceBuilder::new(fs);
            b.set_auth(keys.clone());
            b.set_access(keys.clone());
            b.build()
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("s3 server :{port}"))
            .spawn(move || serve(listener, service, stopped))?;
        Ok(Server {
            endpoint: format!("http://{}:{port}", addr.0),
            access_key: key.0.to_string(),
            secret_key: key.1.to_string(),
            keys,
            root: root.to_path_buf(),
            _own_root: None,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Serve until the process is stopped.
    pub fn wait(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Make a bucket (s3s-fs keeps each in a directory of its root).
    pub fn bucket(&self, name: &str) -> PathBuf {
        let d = self.root.as_path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// The directory the server keeps its buckets in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the objects of `bucket` are: `bucket/prefix/name` under it.
    pub fn bucket_dir(&self, bucket: &str) -> PathBuf {
        self.root.as_path().join(bucket)
    }

    /// A binary cache URL for `prefix` in `bucket`:
    /// `s3://BUCKET/PREFIX?endpoint=...&region=us-east-1`.
    pub fn url(&self, bucket: &str, prefix: &str) -> String {
        format!(
            "s3://{bucket}/{prefix}?endpoint={}&region=us-east-1",
            self.endpoint
        )
    }

    /// The environment that gives a client the credentials of the key that
    /// may use every bucket.
    pub fn env(&self) -> [(&'static str, String); 2] {
        [
            ("AWS_ACCESS_KEY_ID", self.access_key.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_key.clone()),
        ]
    }

    /// A new access key that may use `bucket` only, as the environment
    /// giving a client its credentials.
    pub fn key_for_bucket(&self, bucket: &str) -> [(&'static str, String); 2] {
        let access = format!("kforge-test-{bucket}");
        let secret = format!("kforge-test-{bucket}-secret");
        self.keys.add(&access, &secret, Some(bucket));
        [
            ("AWS_ACCESS_KEY_ID", access),
            ("AWS_SECRET_ACCESS_KEY", secret),
        ]
    }
}

/// Serve S3 on `listener` until `stopped` fires (or its sender is gone).
fn serve(
    listener: std::net::TcpListener,
    service: s3s::service::S3Service,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto::Builder;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        let http = Builder::new(TokioExecutor::new());
        loop {
            let socket = tokio::select! {
                conn = listener.accept() => match conn {
                    Ok((socket, _)) => socket,
                    Err(_) => continue,
                },
                _ = &mut stopped => break,
            };
            let conn = http
                .serve_connection(TokioIo::new(socket), service.clone())
                .into_owned();
            tokio::spawn(async move {
                let _ = conn.await;
            });
        }
    });
    // Connections still open end with the runtime.
    rt.shutdown_background();
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
