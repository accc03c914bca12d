//! depmod: the module index files of a module tree, byte for byte as kmod
//! 30's `depmod` writes them.
//!
//! The steps follow kmod's:
//! 1. find modules under `<basedir>/lib/modules/<version>` (and `external`
//!    directories); of two files with the same module name the one earlier
//!    in `search` order wins, else the first one found;
//! 2. order them as kmod's module-name hash table iterates, then by
//!    `modules.order` (listed modules first, in that order; the rest keep
//!    the hash order);
//! 3. read every module (in parallel here), register exported symbols in
//!    that order (a later module exporting the same symbol wins), derive
//!    each module's dependencies from its undefined symbols;
//! 4. sort topologically (Kahn, roots on a stack); a cycle is an error;
//! 5. write the text files and the binary tries, each to a temporary file
//!    renamed into place.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::config::{Config, Search};
use crate::elf::{Bind, Elf};
use crate::file::errno::{strerror, ENOENT};
use crate::hash::{order_key, FnvHashMap, MODULE_BUCKETS, SYMBOL_BUCKETS};
use crate::index::{BadCharacter, IndexBuilder};
use crate::modinfo::Entry;
use crate::name::{has_module_extension, normalize_alias, path_to_name};

/// Message priority, as syslog's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// FATAL (kmod's CRIT).
    Fatal = 2,
    /// ERROR.
    Error = 3,
    /// WARNING.
    Warning = 4,
    /// NOTICE.
    Notice = 5,
    /// INFO.
    Info = 6,
    /// DEBUG.
    Debug = 7,
}

impl Level {
    /// The word kmod prints for it.
    pub fn name(self) -> &'static str {
        match self {
            Level::Fatal => "FATAL",
            Level::Error => "ERROR",
            Level::Warning => "WARNING",
            Level::Notice => "NOTICE",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
        }
    }
}

/// Where depmod's messages go.
pub trait Log {
    /// A diagnostic (`msg` ends with a newline, as kmod's do).
    fn log(&mut self, level: Level, msg: &str);
    /// `-v` progress output (stdout in kmod).
    fn show(&mut self, msg: &str);
    /// `-n` output (the text files, on stdout).
    fn output(&mut self, bytes: &[u8]);
}

/// Prints like kmod: `depmod: WARNING: ...` on stderr, up to a verbosity.
pub struct StdLog {
    /// Program name in front of each message.
    pub program: String,
    /// Highest level printed (`Warning` by default; `-v` raises it).
    pub max: Level,
    /// Print `-v` output.
    pub verbose: bool,
    /// The first failed write of `-n` output to stdout (a full disk, a
    /// closed pipe): the caller must not report success.
    pub write_error: Option<std::io::Error>,
}

impl StdLog {
    /// A logger with kmod's defaults (`depmod`, warnings and worse).
    pub fn new(verbose: u32) -> Self {
        let max = match verbose {
            0 => Level::Warning,
            1 => Level::Notice,
            2 => Level::Info,
            _ => Level::Debug,
        };
        StdLog {
            program: "depmod".into(),
            max,
            verbose: verbose > 0,
            write_error: None,
        }
    }
}

impl Log for StdLog {
    fn log(&mut self, level: Level, msg: &str) {
        if level <= self.max {
            let _ = write!(
                std::io::stderr().lock(),
                "{}: {}: {}",
                self.program,
                level.name(),
                msg
            );
        }
    }
    fn show(&mut self, msg: &str) {
        if self.verbose {
            let mut o = std::io::stdout().lock();
            let _ = o.write_all(msg.as_bytes());
            let _ = o.flush();
        }
    }
    fn output(&mut self, bytes: &[u8]) {
        if self.write_error.is_none() {
            let mut o = std::io::stdout().lock();
            if let Err(e) = o.write_all(bytes).and_then(|_| o.flush()) {
                self.write_error = Some(e);
            }
        }
    }
}

/// A logger that keeps everything (tests, embedding).
#[derive(Debug, Default)]
pub struct MemLog {
    /// (level, message) pairs.
    pub messages: Vec<(Level, String)>,
    /// `-v` output.
    pub shown: String,
    /// `-n` output.
    pub out: Vec<u8>,
    /// Keep messages up to this level (`Warning` when `None`).
    pub max: Option<Level>,
}

impl MemLog {
    /// Messages formatted as kmod prints them (`depmod: LEVEL: msg`).
    pub fn stderr(&self) -> String {
        self.messages
            .iter()
            .map(|(l, m)| format!("depmod: {}: {}", l.name(), m))
            .collect()
    }
}

impl Log for MemLog {
    fn log(&mut self, level: Level, msg: &str) {
        if level <= self.max.unwrap_or(Level::Warning) {
            self.messages.push((level, msg.to_string()));
        }
    }
    fn show(&mut self, msg: &str) {
        self.shown.push_str(msg);
    }
    fn output(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }
}

/// What to do (depmod's command line).
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `-b`: a root holding `lib/modules/<version>`.
    pub basedir: Option<PathBuf>,
    /// The kernel version (default: the running kernel's).
    pub version: Option<String>,
    /// Module files given on the command line (absolute paths); empty
    /// means all modules (`-a`).
    pub files: Vec<PathBuf>,
    /// `-A`: do nothing if no module is newer than `modules.dep`.
    pub quick: bool,
    /// `-F`: a System.map giving the kernel's own symbols.
    pub system_map: Option<PathBuf>,
    /// `-E`: a Module.symvers giving the kernel's symbols and CRCs.
    pub symvers: Option<PathBuf>,
    /// `-e`: report needed symbols nobody supplies.
    pub errsyms: bool,
    /// `-n`: write the text files to the log's output instead of files.
    pub dry_run: bool,
    /// `-w`: warn about duplicate index values.
    pub warn_dups: bool,
    /// `-v`: show each dependency found.
    pub verbose: u32,
    /// `-P`: a symbol prefix to strip.
    pub symbol_prefix: Option<u8>,
    /// `-C`: configuration files or directories (default: depmod.d dirs).
    pub config: Vec<PathBuf>,
    /// Threads used to read modules (0: all available cores).
    pub jobs: usize,
}

/// depmod failed; the reason has been logged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Failed(pub String);

/// What a successful run did.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Modules indexed.
    pub modules: usize,
    /// Files written (names), in order.
    pub written: Vec<String>,
    /// The module directory.
    pub dirname: PathBuf,
}

/// The index files depmod writes, in kmod's order.
pub const OUTPUT_FILES: &[&str] = &[
    "modules.dep",
    "modules.dep.bin",
    "modules.alias",
    "modules.alias.bin",
    "modules.softdep",
    "modules.symbols",
    "modules.symbols.bin",
    "modules.builtin.bin",
    "modules.builtin.alias.bin",
    "modules.devname",
];

struct Mod {
    path: Vec<u8>,
    /// Offset of the path relative to the module directory, if inside it.
    rel: Option<usize>,
    uncrelpath: Option<Vec<u8>>,
    name: Vec<u8>,
    sort_idx: i64,
    info: Vec<Entry>,
    dep_syms: SymList,
    deps: Vec<usize>,
    users: u32,
    dep_sort_idx: usize,
}

impl Mod {
    fn new(path: Vec<u8>, dirname: &[u8]) -> Option<Mod> {
        let name = path_to_name(&path)?;
        let rel = (path.starts_with(dirname) && path.get(dirname.len()) == Some(&b'/'))
            .then_some(dirname.len() + 1);
        let uncrelpath = rel.map(|r| {
            let relpath = &path[r..];
            let slash = relpath
                .iter()
                .rposition(|&c| c == b'/')
                .map_or(0, |i| i + 1);
            let len = (slash + name.len() + 3).min(relpath.len());
            relpath[..len].to_vec()
        });
        Some(Mod {
            path,
            rel,
            uncrelpath,
            name,
            sort_idx: 1,
            info: Vec::new(),
            dep_syms: SymList::default(),
            deps: Vec::new(),
            users: 0,
            dep_sort_idx: usize::MAX,
        })
    }

    /// The path written to modules.dep.
    fn out_path(&self) -> &[u8] {
        match self.rel {
            Some(r) => &self.path[r..],
            None => &self.path,
        }
    }

    fn path_str(&self) -> String {
        String::from_utf8_lossy(&self.path).into_owned()
    }
}

/// Symbols of one module in one allocation: names back to back.
#[derive(Default)]
struct SymList {
    blob: Vec<u8>,
    items: Vec<(u32, u32, u64, bool)>,
}

impl SymList {
    fn push(&mut self, name: &[u8], crc: u64, bind: Bind) {
        let start = self.blob.len() as u32;
        self.blob.extend_from_slice(name);
        self.items
            .push((start, name.len() as u32, crc, bind == Bind::Weak));
    }

    /// (name, crc, weak)
    fn iter(&self) -> impl Iterator<Item = (&[u8], u64, bool)> + '_ {
        self.items
            .iter()
            .map(|&(s, l, crc, weak)| (&self.blob[s as usize..(s + l) as usize], crc, weak))
    }
}

/// What reading one module gave, with libkmod's messages in call order.
struct Loaded {
    messages: Vec<(Level, String)>,
    exports: SymList,
    /// The `.modinfo` entries depmod uses (`alias`, `softdep`).
    info: Vec<Entry>,
    dep_syms: SymList,
    machine: Option<u16>,
}

/// Read one module as depmod does through libkmod: symbols, then info,
/// then dependency symbols, each call opening the file again if it could
/// not be opened before.
fn load_module(path: &Path, path_text: &str) -> Loaded {
    let mut messages = Vec::new();
    let opened = crate::file::open(path);
    let (elf, open_err) = match opened {
        Ok((image, _)) => (Some(Elf::parse(image)), None),
        Err(e) => (None, Some(e)),
    };
    let mut out = Loaded {
        messages: Vec::new(),
        exports: SymList::default(),
        info: Vec::new(),
        dep_syms: SymList::default(),
        machine: None,
    };
    match (&elf, &open_err) {
        (_, Some(e)) => {
            // libkmod's own decompression messages (e.message) are logged
            // before the file has a context, so depmod never prints them.
            messages.push((
                Level::Error,
                format!(
                    "failed to load symbols from {path_text}: {}\n",
                    strerror(e.errno)
                ),
            ));
        }
        (Some(Err(e)), None) => {
            messages.push((
                Level::Error,
                format!(
                    "failed to load symbols from {path_text}: {}\n",
                    strerror(e.errno)
                ),
            ));
        }
        (Some(Ok(elf)), None) => {
            elf.prefetch(&[".symtab", ".strtab", ".modinfo", "__versions", "__kcrctab*"]);
            out.machine = Some(elf.machine());
            let mut exports = SymList::default();
            match elf.for_each_export(&mut |n, crc, b| exports.push(n, crc, b)) {
                Ok(()) => out.exports = exports,
                Err(ENOENT) => {}
                Err(e) => messages.push((
                    Level::Error,
                    format!("failed to load symbols from {path_text}: {}\n", strerror(e)),
                )),
            }
            if let Ok(data) = elf.section(".modinfo") {
                crate::elf::for_each_string(&data, &mut |s| {
                    if s.starts_with(b"alias") || s.starts_with(b"softdep") {
                        out.info
                            .extend(crate::modinfo::Modinfo::from_strings(&[s]).entries);
                    }
                });
            }
            let mut deps = SymList::default();
            if elf
                .for_each_dependency_symbol(&mut |n, crc, b| deps.push(n, crc, b))
                .is_ok()
            {
                out.dep_syms = deps;
            }
        }
        (None, None) => unreachable!(),
    }
    out.messages = messages;
    out
}

#[derive(Clone, Copy)]
struct SymEntry {
    owner: Option<usize>,
    crc: u64,
}

/// `strtoull(s, &end, radix)` for radix 10 or 16: optional white space and
/// sign, a `0x` before hexadecimal digits, then digits; an overflow gives
/// `u64::MAX`, a minus sign negates modulo 2^64. The value and the index of
/// the end, or `None` when there are no digits.
fn strtoull(s: &[u8], radix: u32) -> Option<(u64, usize)> {
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
        i += 1;
    }
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    if radix == 16
        && s[i..].len() > 2
        && (s[i..].starts_with(b"0x") || s[i..].starts_with(b"0X"))
        && s[i + 2].is_ascii_hexdigit()
    {
        i += 2;
    }
    let start = i;
    let mut v: u64 = 0;
    let mut overflow = false;
    while let Some(d) = s.get(i).and_then(|c| (*c as char).to_digit(radix)) {
        match v
            .checked_mul(u64::from(radix))
            .and_then(|x| x.checked_add(u64::from(d)))
        {
            Some(x) => v = x,
            None => overflow = true,
        }
        i += 1;
    }
    if i == start {
        return None;
    }
    let v = if overflow {
        u64::MAX
    } else if neg {
        v.wrapping_neg()
    } else {
        v
    };
    Some((v, i))
}

/// A `%u` of scanf: optional white space, sign, digits.
fn scan_u(s: &[u8]) -> Option<(u32, &[u8])> {
    let (v, end) = strtoull(s, 10)?;
    Some((v as u32, &s[end..]))
}

/// `sscanf(s, "<prefix>%u<sep>%u")` == 2.
fn scan_pair(s: &[u8], prefix: &[u8], sep: u8) -> Option<(u32, u32)> {
    let rest = s.strip_prefix(prefix)?;
    let (a, rest) = scan_u(rest)?;
    let rest = rest.strip_prefix(&[sep])?;
    let (b, _) = scan_u(rest)?;
    Some((a, b))
}

/// depmod's test of its version argument (`sscanf("%u.%u") == 2`).
pub fn is_version_number(v: &str) -> bool {
    scan_pair(v.as_bytes(), b"", b'.').is_some()
}

/// fgets() with kmod's PATH_MAX buffer: chunks of at most 4095 bytes, each
/// ending at a newline when one comes first.
fn fgets_chunks(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < data.len() {
        let max = (data.len() - i).min(4095);
        let end = data[i..i + max]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(max, |p| p + 1);
        out.push(&data[i..i + end]);
        i += end;
    }
    out
}

fn cstrlen(b: &[u8]) -> usize {
    b.iter().position(|&c| c == 0).unwrap_or(b.len())
}

fn lossy(b: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(b)
}

struct Depmod<'a> {
    opts: &'a Options,
    cfg: Config,
    dirname: Vec<u8>,
    mods: Vec<Mod>,
    symbols: FnvHashMap<Box<[u8]>, SymEntry>,
}

/// Make a path absolute against the current directory without resolving
/// anything (kmod's `path_make_absolute_cwd`).
fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        let mut b = cwd.as_os_str().as_bytes().to_vec();
        b.push(b'/');
        b.extend_from_slice(p.as_os_str().as_bytes());
        PathBuf::from(OsStr::from_bytes(&b))
    }
}

fn osstr(b: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(b))
}

/// Read a file in the module directory; a missing one is kmod's
/// "could not open" warning.
fn read_in_dir(dirname: &[u8], name: &str) -> Result<Vec<u8>, String> {
    let dir = osstr(dirname);
    if let Err(e) = std::fs::metadata(dir) {
        return Err(format!(
            "could not open directory {}: {}\n",
            lossy(dirname),
            strerror(e.raw_os_error().unwrap_or(0))
        ));
    }
    std::fs::read(dir.join(name)).map_err(|e| {
        format!(
            "could not open {name} at {}: {}\n",
            lossy(dirname),
            strerror(e.raw_os_error().unwrap_or(0))
        )
    })
}

/// The running kernel's release (`uname -r`).
pub fn running_release() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .map(|s| s.trim_end().to_string())
}

/// The index files of a run, named, in kmod's order.
pub type Outputs = Vec<(&'static str, Vec<u8>)>;

/// Run depmod. Messages go to `log`; on failure the error has been logged
/// as kmod would and `Failed` carries a summary.
pub fn run(opts: &Options, log: &mut dyn Log) -> Result<Summary, Failed> {
    let (mut summary, outputs) = generate(opts, log)?;
    let Some(outputs) = outputs else {
        return Ok(summary);
    };
    let dirname = summary.dirname.clone();
    if opts.dry_run {
        for (name, bytes) in &outputs {
            if !name.ends_with(".bin") {
                log.output(bytes);
            }
        }
        return Ok(summary);
    }
    for (name, bytes) in &outputs {
        write_atomic(&dirname, name, bytes).map_err(|e| {
            let m = format!("could not write {}/{name}: {e}\n", dirname.display());
            log.log(Level::Fatal, &m);
            Failed(m.trim_end().into())
        })?;
        summary.written.push(name.to_string());
    }
    Ok(summary)
}

/// Everything [`run`] does but writing: the index files' contents (`None`
/// when `-A` found nothing to do).
pub fn generate(opts: &Options, log: &mut dyn Log) -> Result<(Summary, Option<Outputs>), Failed> {
    let version = match &opts.version {
        Some(v) => {
            if !is_version_number(v) {
                let m = format!("Bad version passed {v}\n");
                log.log(Level::Error, &m);
                return Err(Failed(m.trim_end().into()));
            }
            v.clone()
        }
        None => running_release().ok_or_else(|| {
            log.log(Level::Fatal, "uname() failed\n");
            Failed("uname() failed".into())
        })?,
    };
    let mut dirname: Vec<u8> = match &opts.basedir {
        Some(b) => absolute(b).as_os_str().as_bytes().to_vec(),
        None => Vec::new(),
    };
    dirname.extend_from_slice(b"/lib/modules/");
    dirname.extend_from_slice(version.as_bytes());
    let mut summary = Summary {
        dirname: osstr(&dirname).to_path_buf(),
        ..Default::default()
    };

    if opts.quick && (opts.dry_run || up_to_date(&dirname, log)) {
        return Ok((summary, None));
    }

    let mut d = Depmod {
        opts,
        cfg: Config::default(),
        dirname: dirname.clone(),
        mods: Vec::new(),
        symbols: FnvHashMap::default(),
    };
    let mut print_unknown = opts.errsyms;
    if let Some(f) = &opts.symvers {
        d.load_symvers(f, log)?;
    } else if let Some(f) = &opts.system_map {
        d.load_system_map(f, log)?;
    } else if print_unknown {
        log.log(Level::Warning, "-e needs -E or -F\n");
        print_unknown = false;
    }

    if opts.files.is_empty() {
        d.cfg = Config::load(&opts.config, version.as_bytes(), log);
        d.search(log)?;
    } else {
        for f in &opts.files {
            let p = f.as_os_str().as_bytes();
            if p.first() != Some(&b'/') {
                let m = format!("{}: not absolute path.\n", f.display());
                log.log(Level::Fatal, &m);
                return Err(Failed(m.trim_end().into()));
            }
            if let Err(e) = std::fs::metadata(f) {
                let m = format!(
                    "could not create module {}: {}\n",
                    f.display(),
                    strerror(e.raw_os_error().unwrap_or(0))
                );
                log.log(Level::Fatal, &m);
                return Err(Failed(m.trim_end().into()));
            }
            let Some(m) = Mod::new(p.to_vec(), &dirname) else {
                let m = format!(
                    "could not create module {}: {}\n",
                    f.display(),
                    strerror(ENOENT)
                );
                log.log(Level::Fatal, &m);
                return Err(Failed(m.trim_end().into()));
            };
            if d.mods.iter().any(|x| x.name == m.name) {
                let msg = format!("could not add module {}: File exists\n", f.display());
                log.log(Level::Fatal, &msg);
                return Err(Failed(msg.trim_end().into()));
            }
            d.mods.push(m);
        }
    }

    let times = std::env::var_os("KFORGE_DEPMOD_TIMES").is_some();
    let t0 = std::time::Instant::now();
    let lap = |what: &str| {
        if times {
            eprintln!(
                "depmod: time: {what}: {:.1} ms",
                t0.elapsed().as_secs_f64() * 1e3
            );
        }
    };
    lap("search");
    // hash-table order, then modules.order
    d.mods.sort_by(|a, b| {
        order_key(&a.name, MODULE_BUCKETS).cmp(&order_key(&b.name, MODULE_BUCKETS))
    });
    d.sort_by_order(log);
    d.load(print_unknown, log);
    lap("load");
    d.calculate_dependencies(log)?;
    let outputs = d.outputs(log)?;
    lap("outputs");
    summary.modules = d.mods.len();
    Ok((summary, Some(outputs)))
}

/// Write `dir/name` through a temporary file and a rename.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = dir.join(format!(".{name}.{}.kforge-tmp", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(&tmp)?;
    let r = f.write_all(bytes).and_then(|_| f.flush());
    drop(f);
    if let Err(e) = r {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, dir.join(name)).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// `-A`: whether no module under `dirname` is newer than its modules.dep.
fn up_to_date(dirname: &[u8], log: &mut dyn Log) -> bool {
    let dir = osstr(dirname);
    let dep = match std::fs::metadata(dir.join("modules.dep")) {
        Ok(m) => m,
        Err(e) => {
            log.log(
                Level::Error,
                &format!(
                    "could not fstatat({}, modules.dep): {}\n",
                    lossy(dirname),
                    strerror(e.raw_os_error().unwrap_or(0))
                ),
            );
            return false;
        }
    };
    let mtime = |m: &std::fs::Metadata| {
        use std::os::unix::fs::MetadataExt;
        m.mtime()
    };
    let limit = mtime(&dep);
    fn walk(dir: &Path, limit: i64, mtime: &dyn Fn(&std::fs::Metadata) -> i64) -> bool {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return true;
        };
        for e in rd.flatten() {
            let name = e.file_name();
            if name == "build" || name == "source" {
                continue;
            }
            let Ok(md) = std::fs::metadata(e.path()) else {
                continue;
            };
            if md.is_dir() {
                if !walk(&e.path(), limit, mtime) {
                    return false;
                }
            } else if md.is_file() && has_module_extension(name.as_bytes()) && mtime(&md) > limit {
                return false;
            }
        }
        true
    }
    walk(dir, limit, &mtime)
}

impl Depmod<'_> {
    fn strip_prefix<'n>(&self, name: &'n [u8]) -> &'n [u8] {
        match (self.opts.symbol_prefix, name.first()) {
            (Some(p), Some(&c)) if c == p => &name[1..],
            _ => name,
        }
    }

    fn add_symbol(&mut self, name: &[u8], prefix_skipped: bool, crc: u64, owner: Option<usize>) {
        let name = if prefix_skipped {
            name
        } else {
            self.strip_prefix(name)
        };
        self.symbols.insert(name.into(), SymEntry { owner, crc });
    }

    fn find_symbol(&self, name: &[u8]) -> Option<SymEntry> {
        let name = name.strip_prefix(b".").unwrap_or(name);
        let name = self.strip_prefix(name);
        self.symbols.get(name).copied()
    }

    fn add_fake_symbols(&mut self) {
        self.add_symbol(b"__this_module", true, 0, None);
        self.add_symbol(b"_GLOBAL_OFFSET_TABLE_", true, 0, None);
        if self.find_symbol(b"TOC.").is_none() {
            self.add_symbol(b"TOC.", true, 0, None);
        }
    }

    fn load_symvers(&mut self, f: &Path, log: &mut dyn Log) -> Result<(), Failed> {
        let data = std::fs::read(f).map_err(|e| {
            let m = format!(
                "could not load {}: {}\n",
                f.display(),
                strerror(e.raw_os_error().unwrap_or(0))
            );
            log.log(Level::Fatal, &m);
            Failed(m.trim_end().into())
        })?;
        for (n, line) in fgets_chunks_n(&data, 10239).into_iter().enumerate() {
            let line = &line[..cstrlen(line)];
            let mut toks = line
                .split(|&c| c == b' ' || c == b'\t')
                .filter(|t| !t.is_empty());
            let (Some(ver), Some(sym), Some(whr)) = (toks.next(), toks.next(), toks.next()) else {
                continue;
            };
            if whr != b"vmlinux" {
                continue;
            }
            let Some(crc) = parse_hex_u64(ver) else {
                log.log(
                    Level::Error,
                    &format!(
                        "{}:{} Invalid symbol version {}: Success\n",
                        f.display(),
                        n + 1,
                        lossy(ver)
                    ),
                );
                continue;
            };
            self.add_symbol(sym, false, crc, None);
        }
        self.add_fake_symbols();
        Ok(())
    }

    fn load_system_map(&mut self, f: &Path, log: &mut dyn Log) -> Result<(), Failed> {
        let data = std::fs::read(f).map_err(|e| {
            let m = format!(
                "could not load {}: {}\n",
                f.display(),
                strerror(e.raw_os_error().unwrap_or(0))
            );
            log.log(Level::Fatal, &m);
            Failed(m.trim_end().into())
        })?;
        for (n, line) in fgets_chunks_n(&data, 10239).into_iter().enumerate() {
            let line = &line[..cstrlen(line)];
            let third = line.iter().position(|&c| c == b' ').and_then(|a| {
                line[a + 1..]
                    .iter()
                    .position(|&c| c == b' ')
                    .map(|b| a + 1 + b + 1)
            });
            let Some(at) = third else {
                log.log(
                    Level::Error,
                    &format!("{}:{}: invalid line: {}\n", f.display(), n + 1, lossy(line)),
                );
                continue;
            };
            let mut p = &line[at..];
            if let (Some(pre), Some(&c)) = (self.opts.symbol_prefix, p.first()) {
                if c == pre {
                    p = &p[1..];
                }
            }
            let Some(sym) = p.strip_prefix(b"__ksymtab_") else {
                continue;
            };
            let sym = match sym.iter().position(|&c| c == b'\n') {
                Some(i) => &sym[..i],
                None => sym,
            };
            self.add_symbol(sym, true, 0, None);
        }
        self.add_fake_symbols();
        Ok(())
    }

    fn exclude(&self, name: &[u8]) -> bool {
        name == b"."
            || name == b".."
            || name == b"build"
            || name == b"source"
            || self.cfg.excludes.iter().any(|e| e == name)
    }

    fn search(&mut self, log: &mut dyn Log) -> Result<(), Failed> {
        let mut by_name: HashMap<Vec<u8>, usize> = HashMap::new();
        let dirname = self.dirname.clone();
        if let Err(e) = std::fs::read_dir(osstr(&dirname)) {
            let s = strerror(e.raw_os_error().unwrap_or(0));
            log.log(
                Level::Error,
                &format!("could not open directory {}: {s}\n", lossy(&dirname)),
            );
            let m = format!("could not search modules: {s}\n");
            log.log(Level::Fatal, &m);
            return Err(Failed(m.trim_end().into()));
        }
        self.search_dir(&dirname, &mut by_name, log);
        for ext in self.cfg.externals.clone() {
            if let Err(e) = std::fs::read_dir(osstr(&ext)) {
                log.log(
                    Level::Error,
                    &format!(
                        "could not open directory {}: {}\n",
                        lossy(&ext),
                        strerror(e.raw_os_error().unwrap_or(0))
                    ),
                );
                continue;
            }
            self.search_dir(&ext, &mut by_name, log);
        }
        // keep the survivors (replaced modules were tombstoned)
        self.mods.retain(|m| !m.path.is_empty());
        Ok(())
    }

    fn search_dir(&mut self, dir: &[u8], by_name: &mut HashMap<Vec<u8>, usize>, log: &mut dyn Log) {
        let Ok(rd) = std::fs::read_dir(osstr(dir)) else {
            log.log(
                Level::Error,
                &format!("could not open directory {}\n", lossy(dir)),
            );
            return;
        };
        for e in rd {
            let Ok(e) = e else { continue };
            let fname = e.file_name();
            let name = fname.as_bytes();
            if self.exclude(name) {
                continue;
            }
            let mut path = dir.to_vec();
            path.push(b'/');
            path.extend_from_slice(name);
            let is_dir = match e.file_type() {
                Ok(t) if t.is_file() => false,
                Ok(t) if t.is_dir() => true,
                _ => match std::fs::metadata(osstr(&path)) {
                    Ok(m) if m.is_file() => false,
                    Ok(m) if m.is_dir() => true,
                    Ok(m) => {
                        use std::os::unix::fs::MetadataExt;
                        log.log(
                            Level::Error,
                            &format!(
                                "unsupported file type {}: {:o}\n",
                                lossy(&path),
                                m.mode() & 0o170000
                            ),
                        );
                        continue;
                    }
                    Err(err) => {
                        log.log(
                            Level::Error,
                            &format!(
                                "fstatat({}): {}\n",
                                lossy(name),
                                strerror(err.raw_os_error().unwrap_or(0))
                            ),
                        );
                        continue;
                    }
                },
            };
            if is_dir {
                self.search_dir(&path, by_name, log);
            } else {
                self.search_file(path, by_name, log);
            }
        }
    }

    fn search_file(
        &mut self,
        path: Vec<u8>,
        by_name: &mut HashMap<Vec<u8>, usize>,
        log: &mut dyn Log,
    ) {
        if !has_module_extension(crate::name::basename(&path)) {
            return;
        }
        let Some(m) = Mod::new(path, &self.dirname) else {
            log.log(Level::Error, "could not get modname from path\n");
            return;
        };
        if let Some(&old) = by_name.get(&m.name) {
            if self.existing_is_higher_priority(&self.mods[old], &m) {
                return;
            }
            self.mods[old].path.clear();
        }
        by_name.insert(m.name.clone(), self.mods.len());
        self.mods.push(m);
    }

    /// kmod's `depmod_module_is_higher_priority`.
    fn existing_is_higher_priority(&self, old: &Mod, new: &Mod) -> bool {
        let base = |m: &Mod| m.path.iter().rposition(|&c| c == b'/').map_or(0, |i| i + 1);
        // path up to and including the module name (no extension)
        let newlen = base(new) + new.name.len();
        let oldlen = base(old) + old.name.len();
        let dl = self.dirname.len();
        let rel = |m: &Mod, len: usize| -> Option<Vec<u8>> {
            (m.path.starts_with(&self.dirname) && len > dl).then(|| m.path[dl + 1..len].to_vec())
        };
        let (relnew, relold) = (rel(new, newlen), rel(old, oldlen));
        for ov in &self.cfg.overrides {
            if relnew.as_deref() == Some(ov.as_slice()) {
                return false;
            }
            if relold.as_deref() == Some(ov.as_slice()) {
                return true;
            }
        }
        let starts = |p: &[u8], len: usize, prefix: &[u8]| {
            len > prefix.len() && p.get(prefix.len()) == Some(&b'/') && p.starts_with(prefix)
        };
        let (mut bprio, mut oldprio, mut newprio) = (-1i64, -1i64, -1i64);
        let mut i = 0i64;
        for s in &self.cfg.searches {
            match s {
                Search::BuiltIn => bprio = i,
                Search::External => {
                    for ext in &self.cfg.externals {
                        if starts(&new.path, newlen, ext) {
                            newprio = i;
                        }
                        if starts(&old.path, oldlen, ext) {
                            oldprio = i;
                        }
                        i += 1;
                    }
                }
                Search::Path(p) => {
                    if relnew.as_ref().is_some_and(|r| {
                        r.len() > p.len() && r[p.len()] == b'/' && r.starts_with(p)
                    }) {
                        newprio = i;
                    } else if relold.as_ref().is_some_and(|r| {
                        r.len() > p.len() && r[p.len()] == b'/' && r.starts_with(p)
                    }) {
                        oldprio = i;
                    }
                }
            }
            i += 1;
        }
        if newprio < 0 {
            newprio = bprio;
        }
        if oldprio < 0 {
            oldprio = bprio;
        }
        newprio <= oldprio
    }

    fn sort_by_order(&mut self, log: &mut dyn Log) {
        let data = match read_in_dir(&self.dirname, "modules.order") {
            Ok(d) => d,
            Err(m) => {
                log.log(Level::Warning, &m);
                return;
            }
        };
        let chunks = fgets_chunks(&data);
        for (i, c) in chunks.iter().enumerate() {
            let len = cstrlen(c);
            if len == 0 {
                continue;
            }
            if c[len - 1] != b'\n' {
                log.log(
                    Level::Error,
                    &format!(
                        "{}/modules.order:{} corrupted line misses '\\n'\n",
                        lossy(&self.dirname),
                        i + 1
                    ),
                );
                return;
            }
        }
        let total = chunks.len() as i64 + 1;
        let by_unc: HashMap<&[u8], usize> = self
            .mods
            .iter()
            .enumerate()
            .filter_map(|(i, m)| m.uncrelpath.as_deref().map(|u| (u, i)))
            .collect();
        let mut sort_idx: Vec<(usize, i64)> = Vec::new();
        for (i, c) in chunks.iter().enumerate() {
            let len = cstrlen(c);
            if len == 0 {
                continue;
            }
            if let Some(&m) = by_unc.get(&c[..len - 1]) {
                sort_idx.push((m, i as i64 + 1 - total));
            }
        }
        for (m, s) in sort_idx {
            self.mods[m].sort_idx = s;
        }
        self.mods.sort_by_key(|m| m.sort_idx);
    }

    fn load(&mut self, print_unknown: bool, log: &mut dyn Log) {
        let n = self.mods.len();
        let jobs = match self.opts.jobs {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            j => j,
        }
        .clamp(1, n.max(1));
        let paths: Vec<(PathBuf, String)> = self
            .mods
            .iter()
            .map(|m| (osstr(&m.path).to_path_buf(), m.path_str()))
            .collect();
        let next = std::sync::atomic::AtomicUsize::new(0);
        let mut results: Vec<Option<Loaded>> = (0..n).map(|_| None).collect();
        std::thread::scope(|s| {
            let workers: Vec<_> = (0..jobs)
                .map(|_| {
                    s.spawn(|| {
                        let mut got = Vec::new();
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            if i >= n {
                                break;
                            }
                            got.push((i, load_module(&paths[i].0, &paths[i].1)));
                        }
                        got
                    })
                })
                .collect();
            for w in workers {
                for (i, l) in w.join().expect("module reader thread") {
                    results[i] = Some(l);
                }
            }
        });
        let mut machines: HashMap<u16, usize> = HashMap::new();
        let mut machine_of = vec![None; n];
        for (i, r) in results.into_iter().enumerate() {
            let l = r.expect("every module read");
            for (lvl, m) in &l.messages {
                log.log(*lvl, m);
            }
            for (name, crc, _) in l.exports.iter() {
                self.add_symbol(name, false, crc, Some(i));
            }
            self.mods[i].info = l.info;
            self.mods[i].dep_syms = l.dep_syms;
            if let Some(m) = l.machine {
                *machines.entry(m).or_default() += 1;
                machine_of[i] = Some(m);
            }
        }
        // kmod reads modules of any e_machine; say when one is not like the rest
        if let Some((&common, _)) = machines
            .iter()
            .max_by_key(|(&m, &c)| (c, std::cmp::Reverse(m)))
        {
            for (i, m) in machine_of.iter().enumerate() {
                if let Some(m) = *m {
                    if m != common {
                        log.log(
                            Level::Warning,
                            &format!(
                                "{}: ELF machine {} ({}) differs from the other modules' {} ({}); indexed all the same, as kmod does\n",
                                self.mods[i].path_str(),
                                m,
                                crate::module::machine_name(m),
                                common,
                                crate::module::machine_name(common)
                            ),
                        );
                    }
                }
            }
        }
        // dependencies
        for i in 0..n {
            let syms = std::mem::take(&mut self.mods[i].dep_syms);
            for (name, crc, weak) in syms.iter() {
                let Some(sym) = self.find_symbol(name) else {
                    if print_unknown && !weak {
                        log.log(
                            Level::Warning,
                            &format!(
                                "{} needs unknown symbol {}\n",
                                self.mods[i].path_str(),
                                lossy(name)
                            ),
                        );
                    }
                    continue;
                };
                if self.opts.symvers.is_some() && sym.crc != crc && !weak && print_unknown {
                    log.log(
                        Level::Warning,
                        &format!(
                            "{} disagrees about version of symbol {}\n",
                            self.mods[i].path_str(),
                            lossy(name)
                        ),
                    );
                }
                let Some(owner) = sym.owner else { continue };
                if self.mods[i].deps.contains(&owner) {
                    continue;
                }
                self.mods[i].deps.push(owner);
                self.mods[owner].users += 1;
                if self.opts.verbose > 0 {
                    log.show(&format!(
                        "{} needs \"{}\": {}\n",
                        self.mods[i].path_str(),
                        lossy(self.strip_prefix(name.strip_prefix(b".").unwrap_or(name))),
                        self.mods[owner].path_str()
                    ));
                }
            }
            self.mods[i].dep_syms = syms;
        }
    }

    fn calculate_dependencies(&mut self, log: &mut dyn Log) -> Result<(), Failed> {
        let n = self.mods.len();
        let mut users: Vec<u32> = self.mods.iter().map(|m| m.users).collect();
        let mut roots: Vec<usize> = (0..n).filter(|&i| users[i] == 0).collect();
        let mut sorted = 0;
        while let Some(src) = roots.pop() {
            self.mods[src].dep_sort_idx = sorted;
            sorted += 1;
            for k in 0..self.mods[src].deps.len() {
                let dst = self.mods[src].deps[k];
                users[dst] -= 1;
                if users[dst] == 0 {
                    roots.push(dst);
                }
            }
        }
        if sorted < n {
            self.report_cycles(&users, log);
            return Err(Failed("dependency cycles".into()));
        }
        let order: Vec<usize> = self.mods.iter().map(|m| m.dep_sort_idx).collect();
        for m in &mut self.mods {
            m.deps.sort_by_key(|&d| order[d]);
        }
        Ok(())
    }

    /// kmod's cycle report: a depth-first walk from each module left over
    /// by the sort, printing each way back to the start.
    fn report_cycles(&self, users: &[u32], log: &mut dyn Log) {
        let n = self.mods.len();
        let mut roots: std::collections::VecDeque<usize> =
            (0..n).filter(|&i| users[i] > 0).collect();
        let n_r = roots.len();
        let mut visited = vec![false; n];
        let mut loop_set: std::collections::HashSet<&[u8]> = std::collections::HashSet::new();
        // vertices: (module, parent vertex)
        while let Some(root) = roots.pop_front() {
            let mut verts: Vec<(usize, Option<usize>)> = vec![(root, None)];
            let mut stack = vec![0usize];
            let mut budget = n_r.saturating_mul(n_r).max(1024) * 4;
            while let Some(v) = stack.pop() {
                budget = budget.saturating_sub(1);
                if budget == 0 {
                    break; // kmod would assert here; give up on this root
                }
                let m = verts[v].0;
                if visited[m] && m == root {
                    let mut chain = Vec::new();
                    let mut p = verts[v].1;
                    while let Some(pv) = p {
                        chain.push(verts[pv].0);
                        loop_set.insert(&self.mods[verts[pv].0].name);
                        p = verts[pv].1;
                    }
                    let mut buf = String::new();
                    for &c in chain.iter().rev() {
                        buf.push_str(&lossy(&self.mods[c].name));
                        buf.push_str(" -> ");
                        if let Some(pos) = roots.iter().position(|&r| r == c) {
                            roots.remove(pos);
                        }
                    }
                    buf.push_str(&lossy(&self.mods[m].name));
                    log.log(Level::Error, &format!("Cycle detected: {buf}\n"));
                    continue;
                }
                visited[m] = true;
                if self.mods[m].deps.is_empty() {
                    if let Some(pos) = roots.iter().position(|&r| r == m) {
                        roots.remove(pos);
                    }
                    continue;
                }
                for &dep in &self.mods[m].deps {
                    verts.push((dep, Some(v)));
                    stack.push(verts.len() - 1);
                }
            }
        }
        log.log(
            Level::Error,
            &format!("Found {} modules in dependency cycles!\n", loop_set.len()),
        );
    }

    fn closure(&self, i: usize, seen: &mut [bool], out: &mut Vec<usize>) {
        out.clear();
        let mut stack: Vec<usize> = self.mods[i].deps.iter().rev().copied().collect();
        while let Some(d) = stack.pop() {
            if seen[d] {
                continue;
            }
            seen[d] = true;
            out.push(d);
            stack.extend(self.mods[d].deps.iter().rev().copied());
        }
        for &d in out.iter() {
            seen[d] = false;
        }
        out.sort_by_key(|&d| self.mods[d].dep_sort_idx);
    }

    fn outputs(&self, log: &mut dyn Log) -> Result<Outputs, Failed> {
        let dry = self.opts.dry_run;
        let warn_dups = self.opts.warn_dups;
        let builtin = if dry {
            None
        } else {
            Some(read_in_dir(&self.dirname, "modules.builtin"))
        };
        let builtin_modinfo = if dry {
            None
        } else {
            Some(read_in_dir(&self.dirname, "modules.builtin.modinfo"))
        };

        type Part = (
            Vec<(&'static str, Vec<u8>)>,
            Vec<(Level, String)>,
            Option<BadCharacter>,
        );
        let dep_part = || -> Part {
            let mut msgs = Vec::new();
            let mut text = Vec::with_capacity(1 << 20);
            let mut idx = IndexBuilder::new();
            let mut seen = vec![false; self.mods.len()];
            let mut deps = Vec::new();
            let mut bad = None;
            for (i, m) in self.mods.iter().enumerate() {
                self.closure(i, &mut seen, &mut deps);
                let start = text.len();
                text.extend_from_slice(m.out_path());
                text.push(b':');
                for &d in &deps {
                    text.push(b' ');
                    text.extend_from_slice(self.mods[d].out_path());
                }
                if !dry {
                    match idx.insert(&m.name, &text[start..], i as u32) {
                        Ok(true) if warn_dups => msgs.push((
                            Level::Warning,
                            format!("duplicate module deps:\n{}\n", lossy(&text[start..])),
                        )),
                        Ok(_) => {}
                        Err(e) => {
                            bad.get_or_insert(e);
                        }
                    }
                }
                text.push(b'\n');
            }
            let mut files = vec![("modules.dep", text)];
            if !dry {
                files.push(("modules.dep.bin", idx.write()));
            }
            (files, msgs, bad)
        };
        let alias_part = || -> Part {
            let mut msgs = Vec::new();
            let mut text = b"# Aliases extracted from modules themselves.\n".to_vec();
            let mut idx = IndexBuilder::new();
            let mut bad = None;
            for (i, m) in self.mods.iter().enumerate() {
                for e in m.info.iter().filter(|e| &*e.key == b"alias") {
                    text.extend_from_slice(b"alias ");
                    text.extend_from_slice(&e.value);
                    text.push(b' ');
                    text.extend_from_slice(&m.name);
                    text.push(b'\n');
                    if dry {
                        continue;
                    }
                    let Ok(alias) = normalize_alias(&e.value) else {
                        msgs.push((
                            Level::Warning,
                            format!("Unmatched bracket in {}\n", lossy(&e.value)),
                        ));
                        continue;
                    };
                    match idx.insert(&alias, &m.name, i as u32) {
                        Ok(true) if warn_dups => msgs.push((
                            Level::Warning,
                            format!(
                                "duplicate module alias:\n{} {}\n",
                                lossy(&alias),
                                lossy(&m.name)
                            ),
                        )),
                        Ok(_) => {}
                        Err(e) => {
                            bad.get_or_insert(BadCharacter {
                                byte: e.byte,
                                string: [m.path.as_slice(), b": ", &e.string].concat(),
                            });
                        }
                    }
                }
            }
            let mut files = vec![("modules.alias", text)];
            if !dry {
                files.push(("modules.alias.bin", idx.write()));
            }
            (files, msgs, bad)
        };
        let symbols_part = || -> Part {
            let mut msgs = Vec::new();
            let mut syms: Vec<(&[u8], usize)> = self
                .symbols
                .iter()
                .filter_map(|(k, v)| v.owner.map(|o| (&**k, o)))
                .collect();
            syms.sort_by(|a, b| {
                order_key(a.0, SYMBOL_BUCKETS).cmp(&order_key(b.0, SYMBOL_BUCKETS))
            });
            let mut text = b"# Aliases for symbols, used by symbol_request().\n".to_vec();
            let mut idx = IndexBuilder::new();
            let mut bad = None;
            let mut key = Vec::new();
            for (name, owner) in syms {
                let m = &self.mods[owner];
                text.extend_from_slice(b"alias symbol:");
                text.extend_from_slice(name);
                text.push(b' ');
                text.extend_from_slice(&m.name);
                text.push(b'\n');
                if dry {
                    continue;
                }
                key.clear();
                key.extend_from_slice(b"symbol:");
                key.extend_from_slice(name);
                match idx.insert(&key, &m.name, owner as u32) {
                    Ok(true) if warn_dups => msgs.push((
                        Level::Warning,
                        format!(
                            "duplicate module syms:\n{} {}\n",
                            lossy(&key),
                            lossy(&m.name)
                        ),
                    )),
                    Ok(_) => {}
                    Err(e) => {
                        bad.get_or_insert(e);
                    }
                }
            }
            let mut files = vec![("modules.symbols", text)];
            if !dry {
                files.push(("modules.symbols.bin", idx.write()));
            }
            (files, msgs, bad)
        };
        let rest_part = || -> Part {
            let mut msgs = Vec::new();
            let mut bad = None;
            let mut files = vec![("modules.softdep", self.softdeps())];
            if let Some(b) = &builtin {
                if let Err(m) = b {
                    msgs.push((Level::Warning, m.clone()));
                }
                let (bytes, m, e) = builtin_bin(b.as_deref().ok());
                msgs.extend(m);
                bad = bad.or(e);
                files.push(("modules.builtin.bin", bytes));
            }
            if let Some(b) = &builtin_modinfo {
                if let Err(m) = b {
                    msgs.push((Level::Warning, m.clone()));
                }
                let (bytes, m, e) = builtin_alias_bin(b.as_deref().ok());
                msgs.extend(m);
                bad = bad.or(e);
                files.push(("modules.builtin.alias.bin", bytes));
            }
            let (devname, m) = self.devname();
            msgs.extend(m);
            files.push(("modules.devname", devname));
            (files, msgs, bad)
        };

        let parts: Vec<Part> = std::thread::scope(|s| {
            let a = s.spawn(alias_part);
            let b = s.spawn(symbols_part);
            let d = dep_part();
            let r = rest_part();
            vec![
                d,
                a.join().expect("alias writer"),
                b.join().expect("symbol writer"),
                r,
            ]
        });
        let mut all: Vec<(&'static str, Vec<u8>)> = Vec::new();
        for (files, msgs, bad) in parts {
            for (l, m) in msgs {
                log.log(l, &m);
            }
            if let Some(e) = bad {
                let m = format!("{e}\n");
                log.log(Level::Fatal, &m);
                return Err(Failed(m.trim_end().into()));
            }
            all.extend(files);
        }
        all.sort_by_key(|(name, _)| OUTPUT_FILES.iter().position(|f| f == name));
        Ok(all)
    }

    fn softdeps(&self) -> Vec<u8> {
        let mut text = b"# Soft dependencies extracted from modules themselves.\n".to_vec();
        for m in &self.mods {
            for e in m.info.iter().filter(|e| &*e.key == b"softdep") {
                text.extend_from_slice(b"softdep ");
                text.extend_from_slice(&m.name);
                text.push(b' ');
                text.extend_from_slice(&e.value);
                text.push(b'\n');
            }
        }
        text
    }

    fn devname(&self) -> (Vec<u8>, Vec<(Level, String)>) {
        let mut text = Vec::new();
        let mut msgs = Vec::new();
        for m in &self.mods {
            let mut devname: Option<&[u8]> = None;
            let mut kind = None;
            for e in m.info.iter().filter(|e| &*e.key == b"alias") {
                let v = &*e.value;
                if let Some(d) = v.strip_prefix(b"devname:") {
                    devname = Some(d);
                } else if let Some(p) = scan_pair(v, b"char-major-", b'-') {
                    kind = Some((b'c', p));
                } else if let Some(p) = scan_pair(v, b"block-major-", b'-') {
                    kind = Some((b'b', p));
                }
                if kind.is_some() && devname.is_some() {
                    break;
                }
            }
            let Some(dn) = devname else { continue };
            match kind {
                Some((t, (maj, min))) => {
                    if text.is_empty() {
                        text.extend_from_slice(b"# Device nodes to trigger on-demand module loading.\n");
                    }
                    text.extend_from_slice(&m.name);
                    text.push(b' ');
                    text.extend_from_slice(dn);
                    text.extend_from_slice(format!(" {}{maj}:{min}\n", t as char).as_bytes());
                }
                None => msgs.push((
                    Level::Error,
                    format!("Module '{}' has devname ({}) but lacks major and minor information. Ignoring.\n", lossy(&m.name), lossy(dn)),
                )),
            }
        }
        (text, msgs)
    }
}

fn fgets_chunks_n(data: &[u8], max: usize) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < data.len() {
        let m = (data.len() - i).min(max);
        let end = data[i..i + m]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(m, |p| p + 1);
        out.push(&data[i..i + end]);
        i += end;
    }
    out
}

/// strtoull(s, &end, 16) with `*end == '\0'` required.
fn parse_hex_u64(s: &[u8]) -> Option<u64> {
    match strtoull(s, 16) {
        Some((v, end)) if end == s.len() => Some(v),
        Some(_) => None,
        // no digits: end points at the start of the string
        None => s.is_empty().then_some(0),
    }
}

type BinOut = (Vec<u8>, Vec<(Level, String)>, Option<BadCharacter>);

/// modules.builtin.bin from modules.builtin (empty when there is none).
fn builtin_bin(data: Option<&[u8]>) -> BinOut {
    let Some(data) = data else {
        return (Vec::new(), Vec::new(), None);
    };
    let mut msgs = Vec::new();
    let mut idx = IndexBuilder::new();
    let mut bad = None;
    for line in fgets_chunks(data) {
        let line = &line[..cstrlen(line)];
        if !line.first().is_some_and(|c| c.is_ascii_alphabetic()) {
            msgs.push((
                Level::Error,
                format!("Invalid modules.builtin line: {}\n", lossy(line)),
            ));
            continue;
        }
        let Some(name) = path_to_name(line) else {
            continue;
        };
        if let Err(e) = idx.insert(&name, b"", 0) {
            bad.get_or_insert(e);
        }
    }
    (idx.write(), msgs, bad)
}

/// A byte reader with stdio's `fgetc`/`feof` behaviour.
struct Stream<'a> {
    data: &'a [u8],
    pos: usize,
    eof: bool,
}

impl Stream<'_> {
    fn getc(&mut self) -> Option<u8> {
        match self.data.get(self.pos) {
            Some(&c) => {
                self.pos += 1;
                Some(c)
            }
            None => {
                self.eof = true;
                None
            }
        }
    }

    /// kmod's `flush_stream_to`: read up to `end`, NUL or EOF.
    fn flush_to(&mut self, end: u8, dst: &mut Vec<u8>, msgs: &mut Vec<(Level, String)>) -> usize {
        const MAX: usize = 4096;
        dst.clear();
        let mut c = self.getc();
        while let Some(ch) = c {
            if ch == end || ch == 0 || dst.len() >= MAX {
                break;
            }
            dst.push(ch);
            c = self.getc();
        }
        let mut len = dst.len();
        if len == MAX {
            msgs.push((
                Level::Warning,
                format!(
                    "Could not flush stream: 28. Partial content: {}\n",
                    lossy(dst)
                ),
            ));
            len -= 1;
            dst.truncate(len);
        }
        if c == Some(end) {
            len
        } else {
            0
        }
    }

    fn flush(&mut self, end: u8) {
        while let Some(c) = self.getc() {
            if c == end || c == 0 {
                break;
            }
        }
    }
}

/// modules.builtin.alias.bin from modules.builtin.modinfo.
fn builtin_alias_bin(data: Option<&[u8]>) -> BinOut {
    let Some(data) = data else {
        return (Vec::new(), Vec::new(), None);
    };
    let mut msgs = Vec::new();
    let mut idx = IndexBuilder::new();
    let mut bad = None;
    let mut s = Stream {
        data,
        pos: 0,
        eof: false,
    };
    let (mut modname, mut value) = (Vec::new(), Vec::new());
    while !s.eof {
        let len = s.flush_to(b'.', &mut modname, &mut msgs);
        modname.truncate(len);
        if len == 0 {
            continue;
        }
        let len = s.flush_to(b'=', &mut value, &mut msgs);
        value.truncate(len);
        if value != b"alias" {
            s.flush(0);
            continue;
        }
        let len = s.flush_to(0, &mut value, &mut msgs);
        value.truncate(len);
        if len == 0 {
            continue;
        }
        let Ok(alias) = normalize_alias(&value) else {
            msgs.push((
                Level::Warning,
                format!("Unmatched bracket in {}\n", lossy(&value)),
            ));
            continue;
        };
        if let Err(e) = idx.insert(&alias, &modname, 0) {
            bad.get_or_insert(e);
        }
    }
    (idx.write(), msgs, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scanf() {
        assert_eq!(
            scan_pair(b"char-major-10-229", b"char-major-", b'-'),
            Some((10, 229))
        );
        assert_eq!(scan_pair(b"char-major-10-*", b"char-major-", b'-'), None);
        assert_eq!(
            scan_pair(b"char-major- 4-+5", b"char-major-", b'-'),
            Some((4, 5))
        );
        assert!(is_version_number("6.1.0-47-amd64"));
        assert!(!is_version_number("x6.1"));
        assert!(!is_version_number("6"));
    }

    #[test]
    fn hex() {
        assert_eq!(parse_hex_u64(b"0xb352177e"), Some(0xb352177e));
        assert_eq!(parse_hex_u64(b"zz"), None);
        assert_eq!(parse_hex_u64(b"12g"), None);
    }

    #[test]
    fn builtin_modinfo_stream() {
        let (bytes, msgs, bad) = builtin_alias_bin(Some(
            b"ext4.alias=fs-ext4\0ext4.license=GPL\0crc32c.alias=crypto-crc32c\0",
        ));
        assert!(msgs.is_empty() && bad.is_none());
        let idx = crate::index::Index::new(&bytes).unwrap();
        assert_eq!(idx.lookup(b"fs_ext4").unwrap()[0].1, b"ext4");
    }
}
