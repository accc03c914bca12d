//! Test data made at test time: tar archives (malicious ones included),
//! compressed files, hashes, and a small HTTP server on 127.0.0.1.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use sha2::{Digest, Sha256};

/// One entry of a test archive.
pub enum E<'a> {
    /// A regular file with its mode.
    File(&'a str, &'a [u8], u32),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
    CharDevice(&'a str),
    Fifo(&'a str),
}

/// A tar archive of `entries`, names written raw (so `..` and absolute
/// names can be made).
pub fn tar(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(1_700_000_000);
        let (name, link, data, ty, mode): (&str, &str, &[u8], tar::EntryType, u32) = match *e {
            E::File(n, d, m) => (n, "", d, tar::EntryType::Regular, m),
            E::Dir(n) => (n, "", b"", tar::EntryType::Directory, 0o755),
            E::Symlink(n, t) => (n, t, b"", tar::EntryType::Symlink, 0o777),
            E::Hardlink(n, t) => (n, t, b"", tar::EntryType::Link, 0o644),
            E::CharDevice(n) => (n, "", b"", tar::EntryType::Char, 0o644),
            E::Fifo(n) => (n, "", b"", tar::EntryType::Fifo, 0o644),
        };
        assert!(name.len() < 100 && link.len() < 100);
        let bytes = h.as_mut_bytes();
        bytes[..100].fill(0);
        bytes[..name.len()].copy_from_slice(name.as_bytes());
        bytes[157..257].fill(0);
        bytes[157..157 + link.len()].copy_from_slice(link.as_bytes());
        h.set_entry_type(ty);
        h.set_mode(mode);
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

/// A small kernel-like tree under `linux-0.1/`.
pub fn kernel_tar() -> Vec<u8> {
    tar(&[
        E::Dir("linux-0.1/"),
        E::File(
            "linux-0.1/Makefile",
            b"VERSION = 0\nPATCHLEVEL = 1\nEXTRAVERSION =\n",
            0o644,
        ),
        E::File("linux-0.1/Kconfig", b"config A\n\tbool \"a\"\n", 0o644),
        E::Dir("linux-0.1/init/"),
        E::File("linux-0.1/init/main.c", MAIN_C.as_bytes(), 0o644),
        E::File("linux-0.1/scripts/run.sh", b"#!/bin/sh\necho run\n", 0o755),
    ])
}

/// `init/main.c` of [`kernel_tar`]: 30 numbered lines.
pub const MAIN_C: &str = "line 1\nline 2\nline 3\nline 4\nline 5\nline 6\nline 7\nline 8\nline 9\nline 10\nline 11\nline 12\nline 13\nline 14\nline 15\nline 16\nline 17\nline 18\nline 19\nline 20\nline 21\nline 22\nline 23\nline 24\nline 25\nline 26\nline 27\nline 28\nline 29\nline 30\n";

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub fn xz(data: &[u8]) -> Vec<u8> {
    let mut e = xz2::write::XzEncoder::new(Vec::new(), 1);
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(data, 1).unwrap()
}

pub fn bzip2(data: &[u8]) -> Vec<u8> {
    let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

pub fn hex(d: &[u8; 32]) -> String {
    hex::encode(d)
}

/// The SRI hash of `data`.
pub fn sri(data: &[u8]) -> String {
    kforge_declaration::sri(&sha256(data))
}

/// Every file, directory and link under `dir`, with contents (files) or
/// targets (links): to compare a tree before and after.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, String>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            let t = e.file_type().unwrap();
            if t.is_symlink() {
                out.insert(
                    rel,
                    format!("-> {}", std::fs::read_link(&p).unwrap().display()),
                );
            } else if t.is_dir() {
                out.insert(rel, "dir".into());
                walk(root, &p, out);
            } else {
                out.insert(
                    rel,
                    String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into(),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// The names in `dir` (empty when it does not exist).
pub fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// How the test server answers.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Whole files, and ranges when asked.
    Normal,
    /// Ranges are ignored: always the whole file with 200.
    NoRanges,
    /// The first response announces the whole length but stops after this
    /// many bytes; later ones are normal.
    CutFirstAfter(usize),
}

/// One request the server saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub range: Option<String>,
}

/// An HTTP/1.1 server on 127.0.0.1 serving fixed files, one connection at
/// a time (`Connection: close`), until dropped.
pub struct Server {
    pub port: u16,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    pub fn start(files: HashMap<String, Vec<u8>>, mode: Mode) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen2, stop2) = (seen.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut first = true;
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let _ = conn.set_read_timeout(Some(std::time::Duration::from_secs(10)));
                let cut = match mode {
                    Mode::CutFirstAfter(n) if first => Some(n),
                    _ => None,
                };
                if serve(conn, &files, mode, cut, &seen2) {
                    first = false;
                }
            }
        });
        Server {
            port,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
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
fn serve(
    conn: TcpStream,
    files: &HashMap<String, Vec<u8>>,
    mode: Mode,
    cut: Option<usize>,
    seen: &Mutex<Vec<Seen>>,
) -> bool {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut first = String::new();
    if reader.read_line(&mut first).unwrap_or(0) == 0 {
        return false;
    }
    let path = first.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let mut range = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.trim().eq_ignore_ascii_case("range") {
                range = Some(v.trim().to_owned());
            }
        }
    }
    seen.lock().unwrap().push(Seen {
        path: path.clone(),
        range: range.clone(),
    });
    let mut conn = conn;
    let Some(body) = files.get(&path) else {
        let _ = conn.write_all(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found",
        );
        return true;
    };
    let start = match (&range, mode) {
        (Some(r), Mode::Normal | Mode::CutFirstAfter(_)) => r
            .strip_prefix("bytes=")
            .and_then(|r| r.strip_suffix('-'))
            .and_then(|n| n.parse::<usize>().ok()),
        _ => None,
    };
    let (head, data) = match start {
        Some(s) if s >= body.len() => (
            format!(
                "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                body.len()
            ),
            &[][..],
        ),
        Some(s) => (
            format!(
                "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {s}-{}/{}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len() - 1,
                body.len(),
                body.len() - s
            ),
            &body[s..],
        ),
        None => (
            format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nAccept-Ranges: bytes\r\nConnection: close\r\n\r\n",
                body.len()
            ),
            &body[..],
        ),
    };
    let _ = conn.write_all(head.as_bytes());
    let data = match cut {
        Some(n) => &data[..n.min(data.len())],
        None => data,
    };
    let _ = conn.write_all(data);
    let _ = conn.flush();
    // Let the client see the end of the stream.
    let _ = conn.shutdown(std::net::Shutdown::Both);
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest);
    true
}
