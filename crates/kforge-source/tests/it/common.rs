//! Test data made at test time: tar archives (malicious ones included),
//! compressed files, hashes, and a small HTTP server on 127.0.0.1.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

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

/// The loopback HTTP server, shared with the other test trees.
#[allow(unused_imports)]
pub use kforge_testkit::http::{Mode, Reply, Server};
