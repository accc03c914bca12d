//! depmod.d configuration (`search`, `override`, `external`, `exclude`).

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::generate::{Level, Log};

/// Directories depmod reads configuration from when no `-C` is given.
pub const DEFAULT_CONFIG_DIRS: &[&str] = &[
    "/etc/depmod.d",
    "/run/depmod.d",
    "/usr/local/lib/depmod.d",
    "/lib/depmod.d",
];

/// One `search` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Search {
    /// A subdirectory of the module directory.
    Path(Vec<u8>),
    /// `built-in`: the module directory itself.
    BuiltIn,
    /// `external`: the `external` directories.
    External,
}

/// Parsed configuration. Lists are kept in kmod's order (each new entry
/// goes in front).
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// `search` entries (latest first).
    pub searches: Vec<Search>,
    /// `override` entries: `subdir/modname` (latest first).
    pub overrides: Vec<Vec<u8>>,
    /// `external` directories (latest first).
    pub externals: Vec<Vec<u8>>,
    /// `exclude` directory names.
    pub excludes: Vec<Vec<u8>>,
}

/// A small POSIX-ERE-ish matcher for kernel version patterns: `.`, `*`,
/// `+`, `?`, `^`, `$`, bracket classes and literals; unanchored like
/// `regexec`. `*` alone matches everything (depmod's old style).
pub fn kernel_matches(pattern: &[u8], version: &[u8]) -> bool {
    if pattern == b"*" {
        return true;
    }
    let toks = match tokenize(pattern) {
        Some(t) => t,
        None => return false,
    };
    (0..=version.len()).any(|s| match_here(&toks, 0, version, s))
}

#[derive(Debug)]
enum Atom {
    Any,
    Lit(u8),
    Class(Vec<(u8, u8)>, bool),
    Start,
    End,
}

#[derive(Debug)]
struct Tok {
    atom: Atom,
    min: usize,
    max: usize,
}

fn tokenize(p: &[u8]) -> Option<Vec<Tok>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < p.len() {
        let atom = match p[i] {
            b'.' => Atom::Any,
            b'^' => Atom::Start,
            b'$' => Atom::End,
            b'\\' => {
                i += 1;
                Atom::Lit(*p.get(i)?)
            }
            b'[' => {
                i += 1;
                let neg = p.get(i) == Some(&b'^');
                if neg {
                    i += 1;
                }
                let mut ranges = Vec::new();
                let mut first = true;
                while i < p.len() && (p[i] != b']' || first) {
                    let a = p[i];
                    if p.get(i + 1) == Some(&b'-') && p.get(i + 2).is_some_and(|&c| c != b']') {
                        ranges.push((a, p[i + 2]));
                        i += 3;
                    } else {
                        ranges.push((a, a));
                        i += 1;
                    }
                    first = false;
                }
                if i >= p.len() {
                    return None;
                }
                Atom::Class(ranges, neg)
            }
            b'*' | b'+' | b'?' => return None,
            c => Atom::Lit(c),
        };
        i += 1;
        let (min, max) = match p.get(i) {
            Some(b'*') => (0, usize::MAX),
            Some(b'+') => (1, usize::MAX),
            Some(b'?') => (0, 1),
            _ => (1, 1),
        };
        if (min, max) != (1, 1) {
            i += 1;
        }
        out.push(Tok { atom, min, max });
    }
    Some(out)
}

fn match_here(toks: &[Tok], t: usize, s: &[u8], i: usize) -> bool {
    let Some(tok) = toks.get(t) else { return true };
    match tok.atom {
        Atom::Start => return i == 0 && match_here(toks, t + 1, s, i),
        Atom::End => return i == s.len() && match_here(toks, t + 1, s, i),
        _ => {}
    }
    let one = |c: u8| match &tok.atom {
        Atom::Any => true,
        Atom::Lit(l) => *l == c,
        Atom::Class(r, neg) => r.iter().any(|&(a, b)| a <= c && c <= b) != *neg,
        _ => false,
    };
    let mut n = 0;
    while n < tok.max && i + n < s.len() && one(s[i + n]) {
        n += 1;
    }
    loop {
        if n >= tok.min && match_here(toks, t + 1, s, i + n) {
            return true;
        }
        if n == 0 || n <= tok.min {
            return false;
        }
        n -= 1;
    }
}

/// Read a file line by line as kmod's `freadline_wrapped`: a backslash
/// before a newline joins lines; returns (line, line number of its end).
fn wrapped_lines(data: &[u8]) -> Vec<(Vec<u8>, u32)> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    let mut n = 0u32;
    let mut i = 0;
    while i < data.len() {
        let c = data[i];
        i += 1;
        match c {
            b'\n' => {
                n += 1;
                out.push((std::mem::take(&mut cur), n));
            }
            b'\\' if data.get(i) == Some(&b'\n') => {
                n += 1;
                i += 1;
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        n += 1;
        out.push((cur, n));
    }
    out
}

impl Config {
    fn parse_file(&mut self, path: &Path, kversion: &[u8], log: &mut dyn Log) {
        let data = match std::fs::read(path) {
            Ok(d) => d,
            Err(e) => {
                log.log(
                    Level::Error,
                    &format!(
                        "file parse {}: {}\n",
                        path.display(),
                        crate::file::errno::strerror(e.raw_os_error().unwrap_or(0))
                    ),
                );
                return;
            }
        };
        let fname = path.display().to_string();
        for (line, num) in wrapped_lines(&data) {
            if line.is_empty() || line[0] == b'#' {
                continue;
            }
            let mut toks = line
                .split(|&c| c == b' ' || c == b'\t')
                .filter(|t| !t.is_empty());
            let Some(cmd) = toks.next() else { continue };
            let bad = |log: &mut dyn Log| {
                log.log(
                    Level::Error,
                    &format!(
                        "{fname}:{num}: ignoring bad line starting with '{}'\n",
                        String::from_utf8_lossy(cmd)
                    ),
                );
            };
            match cmd {
                b"search" => {
                    for t in toks {
                        let s = match t {
                            b"built-in" => Search::BuiltIn,
                            b"external" => Search::External,
                            p => Search::Path(p.to_vec()),
                        };
                        self.searches.insert(0, s);
                    }
                }
                b"override" => {
                    let (Some(m), Some(v), Some(d)) = (toks.next(), toks.next(), toks.next())
                    else {
                        bad(log);
                        continue;
                    };
                    if !kernel_matches(v, kversion) {
                        log.log(
                            Level::Info,
                            &format!(
                                "{fname}:{num}: override kernel did not match {}\n",
                                String::from_utf8_lossy(v)
                            ),
                        );
                        continue;
                    }
                    let mut p = d.to_vec();
                    p.push(b'/');
                    p.extend_from_slice(m);
                    self.overrides.insert(0, p);
                }
                b"external" => {
                    let (Some(v), Some(d)) = (toks.next(), toks.next()) else {
                        bad(log);
                        continue;
                    };
                    if !kernel_matches(v, kversion) {
                        log.log(
                            Level::Info,
                            &format!(
                                "{fname}:{num}: external directory did not match {}\n",
                                String::from_utf8_lossy(v)
                            ),
                        );
                        continue;
                    }
                    self.externals.insert(0, d.to_vec());
                }
                b"exclude" => {
                    for t in toks {
                        self.excludes.insert(0, t.to_vec());
                    }
                }
                b"include" | b"make_map_files" => {
                    log.log(
                        Level::Info,
                        &format!(
                            "{fname}:{num}: command {} not implemented yet\n",
                            String::from_utf8_lossy(cmd)
                        ),
                    );
                }
                _ => bad(log),
            }
        }
    }

    /// Load configuration as depmod does: every `*.conf` of the given
    /// directories (or files), sorted by file name, a name seen in an
    /// earlier directory shadowing later ones; then `search updates` if
    /// there was no `search`.
    pub fn load(paths: &[PathBuf], kversion: &[u8], log: &mut dyn Log) -> Config {
        let mut files: Vec<(Vec<u8>, PathBuf)> = Vec::new();
        let defaults: Vec<PathBuf>;
        let paths = if paths.is_empty() {
            defaults = DEFAULT_CONFIG_DIRS.iter().map(PathBuf::from).collect();
            &defaults[..]
        } else {
            paths
        };
        let mut add = |name: Vec<u8>, path: PathBuf| match files
            .binary_search_by(|(n, _)| n.as_slice().cmp(&name))
        {
            Ok(_) => {}
            Err(i) => files.insert(i, (name, path)),
        };
        for p in paths {
            let Ok(md) = std::fs::metadata(p) else {
                continue;
            };
            if !md.is_dir() {
                let name = p
                    .file_name()
                    .map(|n| n.as_bytes().to_vec())
                    .unwrap_or_default();
                add(name, p.clone());
                continue;
            }
            let Ok(rd) = std::fs::read_dir(p) else {
                log.log(
                    Level::Error,
                    &format!("files list {}: cannot open\n", p.display()),
                );
                continue;
            };
            for e in rd.flatten() {
                let name = e.file_name().as_bytes().to_vec();
                if name.first() == Some(&b'.') {
                    continue;
                }
                if name.len() < 6 || !name.ends_with(b".conf") {
                    log.log(
                        Level::Info,
                        &format!(
                            "All cfg files need .conf: {}/{}\n",
                            p.display(),
                            String::from_utf8_lossy(&name)
                        ),
                    );
                    continue;
                }
                if e.path().is_dir() {
                    log.log(
                        Level::Error,
                        &format!(
                            "Directories inside directories are not supported: {}/{}\n",
                            p.display(),
                            String::from_utf8_lossy(&name)
                        ),
                    );
                    continue;
                }
                add(name, e.path());
            }
        }
        let mut cfg = Config::default();
        for (_, f) in &files {
            cfg.parse_file(f, kversion, log);
        }
        if cfg.searches.is_empty() {
            cfg.searches.push(Search::Path(b"updates".to_vec()));
        }
        cfg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_patterns() {
        assert!(kernel_matches(b"*", b"6.1.0"));
        assert!(kernel_matches(b"6\\.1", b"6.1.0-47-amd64"));
        assert!(kernel_matches(b"^6\\.1\\..*-amd64$", b"6.1.0-47-amd64"));
        assert!(!kernel_matches(b"^5", b"6.1.0"));
        assert!(kernel_matches(b"[0-9]+\\.[0-9]+", b"6.12"));
        assert!(!kernel_matches(b"[", b"6"));
    }

    #[test]
    fn lines() {
        let l = wrapped_lines(b"a b\\\nc\n#x\nlast");
        assert_eq!(l[0], (b"a bc".to_vec(), 2));
        assert_eq!(l[2], (b"last".to_vec(), 4));
    }
}
