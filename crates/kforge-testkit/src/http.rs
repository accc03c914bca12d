//! An HTTP/1.1 server on 127.0.0.1 serving fixed replies, one connection
//! at a time (`Connection: close`), until dropped: the fake download site
//! of the fetch tests and the fake kernel.org of the update tests.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// How the server answers ranges.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    /// Whole files, and ranges (`bytes=N-`) when asked.
    Normal,
    /// Ranges are ignored: always the whole file with 200.
    NoRanges,
    /// The first request the server answers announces the whole length but
    /// stops after this many bytes; later ones are normal.
    CutFirstAfter(usize),
}

/// What the server answers for one path.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    /// Announce the whole length but stop after this many bytes (once: the
    /// next request of the path gets everything).
    pub cut: Option<usize>,
}

impl Reply {
    /// 200 with `body`.
    pub fn ok(body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status: 200,
            body: body.into(),
            cut: None,
        }
    }
}

/// One request the server saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    /// The `Range` header's value, as sent.
    pub range: Option<String>,
    /// The `If-Range` header's value, as sent.
    pub if_range: Option<String>,
}

/// The `ETag` the server sends with a body: a hash of its bytes (FNV-1a),
/// so a changed file gets a new tag.
pub fn etag(body: &[u8]) -> String {
    let h = body.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    });
    format!("\"{h:016x}\"")
}

type Routes = Arc<Mutex<HashMap<String, Reply>>>;

pub struct Server {
    pub port: u16,
    routes: Routes,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Serves `files` (path → body, 200) the way `mode` says; unknown paths
    /// get 404.
    pub fn start(files: HashMap<String, Vec<u8>>, mode: Mode) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let routes: Routes = Arc::new(Mutex::new(
            files.into_iter().map(|(p, b)| (p, Reply::ok(b))).collect(),
        ));
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (r, s, st) = (routes.clone(), seen.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut first = true;
            for conn in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let cut = match mode {
                    Mode::CutFirstAfter(n) if first => Some(n),
                    _ => None,
                };
                if serve(conn, &r, mode, cut, &s) {
                    first = false;
                }
            }
        });
        Server {
            port,
            routes,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    /// A server with no files yet (see [`Server::set`]), honouring ranges.
    pub fn empty() -> Server {
        Server::start(HashMap::new(), Mode::Normal)
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Answer `path` with `reply` from now on.
    pub fn set(&self, path: &str, reply: Reply) {
        self.routes.lock().unwrap().insert(path.into(), reply);
    }

    /// What `path` is answered with now.
    pub fn get(&self, path: &str) -> Option<Reply> {
        self.routes.lock().unwrap().get(path).cloned()
    }

    /// The requests seen so far.
    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The paths requested so far.
    pub fn seen(&self) -> Vec<String> {
        self.requests().into_iter().map(|s| s.path).collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Answer one request; true if it was one (not a wake-up connection).
/// `cut` (the server's first answer in [`Mode::CutFirstAfter`]) stops the
/// body after that many bytes, as does a route's own cut.
fn serve(
    conn: TcpStream,
    routes: &Routes,
    mode: Mode,
    cut: Option<usize>,
    seen: &Mutex<Vec<Seen>>,
) -> bool {
    let _ = conn.set_read_timeout(Some(std::time::Duration::from_secs(10)));
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut first = String::new();
    if reader.read_line(&mut first).unwrap_or(0) == 0 {
        return false;
    }
    let path = first.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let mut range = None;
    let mut if_range = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.trim().eq_ignore_ascii_case("range") {
                range = Some(v.trim().to_owned());
            } else if k.trim().eq_ignore_ascii_case("if-range") {
                if_range = Some(v.trim().to_owned());
            }
        }
    }
    seen.lock().unwrap().push(Seen {
        path: path.clone(),
        range: range.clone(),
        if_range: if_range.clone(),
    });
    let reply = {
        let mut routes = routes.lock().unwrap();
        let reply = routes.get(&path).cloned();
        // A route's cut happens once: the next request gets everything.
        if let Some(r) = routes.get_mut(&path) {
            r.cut = None;
        }
        reply
    };
    // An `If-Range` that is not the body's tag asks for the whole file.
    let current = reply.as_ref().map(|r| etag(&r.body));
    let range = range.filter(|_| if_range.is_none() || if_range == current);
    let start = match (&range, mode) {
        (Some(r), Mode::Normal | Mode::CutFirstAfter(_)) => r
            .strip_prefix("bytes=")
            .and_then(|r| r.strip_suffix('-'))
            .and_then(|n| n.parse::<usize>().ok()),
        _ => None,
    };
    let (head, data, cut) = match reply {
        None => (
            "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\n".to_string(),
            b"not found".to_vec(),
            None,
        ),
        Some(r) if r.status != 200 => (
            format!(
                "HTTP/1.1 {} Oops\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                r.status,
                r.body.len()
            ),
            r.body,
            None,
        ),
        Some(r) => match start {
            Some(s) if s >= r.body.len() => (
                format!(
                    "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{}\r\n\
                     Content-Length: 0\r\nConnection: close\r\n\r\n",
                    r.body.len()
                ),
                Vec::new(),
                None,
            ),
            Some(s) => (
                format!(
                    "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {s}-{}/{}\r\n\
                     Content-Length: {}\r\nETag: {}\r\nConnection: close\r\n\r\n",
                    r.body.len() - 1,
                    r.body.len(),
                    r.body.len() - s,
                    etag(&r.body)
                ),
                r.body[s..].to_vec(),
                cut.or(r.cut),
            ),
            None => (
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nAccept-Ranges: bytes\r\n\
                     ETag: {}\r\nConnection: close\r\n\r\n",
                    r.body.len(),
                    etag(&r.body)
                ),
                r.body,
                cut.or(r.cut),
            ),
        },
    };
    let mut conn = conn;
    let _ = conn.write_all(head.as_bytes());
    let data = match cut {
        Some(n) => &data[..n.min(data.len())],
        None => &data[..],
    };
    let _ = conn.write_all(data);
    let _ = conn.flush();
    // Let the client see the end of the stream.
    let _ = conn.shutdown(std::net::Shutdown::Both);
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest);
    true
}
