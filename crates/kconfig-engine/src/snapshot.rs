//! Snapshots of a loaded tree, and the inputs a load read, for a cache of
//! parsed trees.
//!
//! Loading a tree (preprocessing, lexing, parsing, finalising the menus,
//! checking dependencies) depends only on the Kconfig files it read, the
//! environment variables it looked up and the output of the `$(shell,...)`
//! commands it ran. [`Kconfig::load_recording`] loads a tree and returns
//! these [`LoadInputs`]; [`Kconfig::snapshot`] turns the loaded tree into
//! bytes and [`Kconfig::from_snapshot`] gives it back, so a second load of
//! an unchanged tree skips all of that work.
//!
//! [`Kconfig::load_cached`] ties them to a store behind [`ParseCache`]: the
//! store keeps a snapshot with its inputs and answers a lookup only when
//! every file still holds what was read (and every path that could not be
//! read still cannot); the engine then asks the environment for every
//! variable and the shell runner for every command again, in the order the
//! parse did, and uses the snapshot only when each answer is the recorded
//! one. Anything else is a full load, whose snapshot replaces the stored one.
//!
//! The format is private to this crate's version: [`SNAPSHOT_FORMAT`] is
//! part of every snapshot, and a store should also key entries by the
//! program that wrote them.

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;

use crate::diag::{Messages, Stream};
use crate::expr::{CmpOp, Expr, ExprId, Exprs, Tri};
use crate::menu::{HelpSpan, Menu, MenuId};
use crate::symbol::{PropId, PropKind, Property, SmallList, SymType, Symbol, SymbolId, Value};
use crate::{Dialect, EnvFn, Kconfig, LoadError, LoadOptions, NameMap, ShellRunner, SymbolState};

/// The version of the snapshot layout; a snapshot of another version is
/// refused.
pub const SNAPSHOT_FORMAT: u32 = 2;

const MAGIC: &[u8; 8] = b"KFKCSNAP";

/// A path the lexer tried to read, as it named it (relative paths are
/// relative to the working directory), with the bytes it got, or `None`
/// when it could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInput {
    /// The path as tried.
    pub path: PathBuf,
    /// The file's bytes, or `None` where the read failed.
    pub content: Option<Vec<u8>>,
}

/// Everything outside the tree's own logic that a load depended on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadInputs {
    /// Every path tried, in order (see [`FileInput`]).
    pub files: Vec<FileInput>,
    /// Every environment variable looked up, with its value or `None`
    /// when unset, in order of first lookup.
    pub env: Vec<(String, Option<String>)>,
    /// Every `$(shell,...)` command run, in order, with its value (the
    /// output as the preprocessor uses it).
    pub shell: Vec<(String, String)>,
}

/// A stored load: the environment and shell answers it was made with, and
/// the snapshot.
#[derive(Debug, Default)]
pub struct CachedLoad {
    /// See [`LoadInputs::env`].
    pub env: Vec<(String, Option<String>)>,
    /// See [`LoadInputs::shell`].
    pub shell: Vec<(String, String)>,
    /// The bytes the store read, holding what [`Kconfig::snapshot`] gave
    /// at [`CachedLoad::snapshot`] (a store need not copy it out).
    pub bytes: Vec<u8>,
    /// Where the snapshot lies in [`CachedLoad::bytes`].
    pub snapshot: std::ops::Range<usize>,
    /// The check that the files still read as recorded, when the store
    /// finishes it while the engine decodes the snapshot.
    pub files_check: FilesCheck,
}

/// A check of a stored load's files still running elsewhere (see
/// [`ParseCache::fetch`]); the default is one already passed.
#[derive(Default)]
pub struct FilesCheck(Option<Box<dyn FnOnce() -> bool + Send>>);

impl FilesCheck {
    /// A check that `finish` completes, saying whether every file holds.
    pub fn pending(finish: impl FnOnce() -> bool + Send + 'static) -> FilesCheck {
        FilesCheck(Some(Box::new(finish)))
    }
    /// Whether every file holds, waiting for the check if it runs.
    pub fn holds(self) -> bool {
        self.0.is_none_or(|finish| finish())
    }
}

impl std::fmt::Debug for FilesCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "pending"
        } else {
            "passed"
        })
    }
}

/// A store of parsed trees for [`Kconfig::load_cached`].
pub trait ParseCache {
    /// The load stored under `key`, when every file of its
    /// [`LoadInputs::files`] still reads as recorded (and every path that
    /// could not be read still cannot): at once, or through
    /// [`CachedLoad::files_check`], which the engine asks before it uses
    /// the load. The environment and shell answers are checked by the
    /// engine.
    fn fetch(&self, key: &str) -> Option<CachedLoad>;
    /// Keep `snapshot` under `key`, valid while `inputs` hold, replacing
    /// what was there. Failures are the store's to ignore.
    fn store(&self, key: &str, inputs: &LoadInputs, snapshot: &[u8]);
}

/// How [`Kconfig::load_cached`] went, for statistics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// The snapshot was used.
    Hit,
    /// Nothing usable was stored: the tree was parsed and stored.
    Miss,
    /// The load failed (nothing stored).
    Failed,
}

/// A snapshot could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// Not a snapshot, or one of another format version.
    #[error("not a Kconfig snapshot of format {SNAPSHOT_FORMAT}")]
    Format,
    /// The bytes end early.
    #[error("the snapshot is truncated")]
    Truncated,
    /// A value is out of range.
    #[error("the snapshot is damaged: {0}")]
    Damaged(&'static str),
}

impl Kconfig {
    /// Load a tree as [`Kconfig::load`] does, and say what it read.
    pub fn load_recording(opts: LoadOptions) -> (Result<Kconfig, LoadError>, LoadInputs) {
        let (res, inputs) = Kconfig::load_inner(opts, true);
        (res, inputs.unwrap_or_default())
    }

    /// The key [`Kconfig::load_cached`] stores a load of `opts` under: the
    /// top file, the dialect and the snapshot format.
    pub fn cache_key(opts: &LoadOptions) -> String {
        let dialect = opts.dialect.unwrap_or_else(|| Dialect::detect(&*opts.env));
        format!("{}\0{dialect:?}\0{SNAPSHOT_FORMAT}", opts.kconfig)
    }

    /// Load a tree through `cache`: the stored snapshot when its inputs
    /// still hold (see the module documentation), else a full load, stored
    /// when it succeeds. The result is the same either way.
    pub fn load_cached(
        opts: LoadOptions,
        cache: &dyn ParseCache,
    ) -> (Result<Kconfig, LoadError>, CacheOutcome) {
        let key = Kconfig::cache_key(&opts);
        if let Some(stored) = cache.fetch(&key) {
            // Decoded before the probes are asked: a shell may still be
            // getting ready (the probe cache computing its keys elsewhere).
            let snapshot = stored
                .bytes
                .get(stored.snapshot.clone())
                .unwrap_or_default();
            if stored.env.iter().all(|(k, v)| (opts.env)(k) == *v) {
                if let Ok(kc) = Kconfig::from_snapshot(snapshot, opts.env.clone()) {
                    drop(stored.bytes);
                    if stored.files_check.holds()
                        && stored.shell.iter().all(|(c, v)| {
                            crate::preprocess::shell_output_value(&opts.shell.run(c)) == *v
                        })
                    {
                        return (Ok(kc), CacheOutcome::Hit);
                    }
                }
            }
        }
        let (res, inputs) = Kconfig::load_recording(opts);
        match res {
            Ok(kc) => {
                cache.store(&key, &inputs, &kc.snapshot());
                (Ok(kc), CacheOutcome::Miss)
            }
            Err(e) => (Err(e), CacheOutcome::Failed),
        }
    }

    /// The tree as loading left it, as bytes for [`Kconfig::from_snapshot`].
    /// Meant for a freshly loaded tree: values set since are kept, but the
    /// state [`Kconfig::restart`] returns to is the snapshot's.
    pub fn snapshot(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.out.extend_from_slice(MAGIC);
        w.u32(SNAPSHOT_FORMAT);
        w.u8(self.dialect as u8);
        // strings first, so the reader can resolve them as it goes
        let mut body = Writer::default();
        enc_body(self, &mut body, &mut w.strings);
        w.u32(w.strings.list.len() as u32);
        for s in std::mem::take(&mut w.strings.list) {
            w.bytes(s.as_bytes());
        }
        w.out.extend_from_slice(&body.out);
        w.out
    }

    /// A tree from [`Kconfig::snapshot`]'s bytes, reading the environment
    /// through `env` from now on.
    pub fn from_snapshot(bytes: &[u8], env: EnvFn) -> Result<Kconfig, SnapshotError> {
        let mut r = Reader {
            b: bytes,
            pos: 0,
            strings: Vec::new(),
        };
        if r.take(MAGIC.len())? != MAGIC || r.u32()? != SNAPSHOT_FORMAT {
            return Err(SnapshotError::Format);
        }
        let dialect = match r.u8()? {
            0 => Dialect::V6_1,
            1 => Dialect::V6_12,
            2 => Dialect::V6_18,
            _ => return Err(SnapshotError::Damaged("dialect")),
        };
        let n = r.len()?;
        let mut strings: Vec<Rc<str>> = Vec::with_capacity(n);
        for _ in 0..n {
            let b = r.bytes()?;
            let s = std::str::from_utf8(b).map_err(|_| SnapshotError::Damaged("string"))?;
            strings.push(s.into());
        }
        let mut kc = Kconfig::empty_tree(dialect, env, "");
        r.strings = strings;
        let states = dec_body(&mut kc, &mut r)?;
        if r.pos != bytes.len() {
            return Err(SnapshotError::Damaged("trailing bytes"));
        }
        kc.loaded = Some(Box::new(kc.computed_state_with(states)));
        kc.reuse.restarted = true;
        Ok(kc)
    }
}

/// Notes the environment variables and shell commands a load uses.
#[derive(Default)]
pub(crate) struct Recorder {
    env: RefCell<Vec<(String, Option<String>)>>,
    shell: RefCell<Vec<(String, String)>>,
}

impl Recorder {
    /// `inner`, noting the first lookup of each name.
    pub(crate) fn env(self: &Rc<Self>, inner: EnvFn) -> EnvFn {
        let me = Rc::clone(self);
        Rc::new(move |k| {
            let v = inner(k);
            let mut seen = me.env.borrow_mut();
            if !seen.iter().any(|(n, _)| n == k) {
                seen.push((k.to_string(), v.clone()));
            }
            v
        })
    }

    /// `inner`, noting every command and the value of its output.
    pub(crate) fn shell(self: &Rc<Self>, inner: Box<dyn ShellRunner>) -> Box<dyn ShellRunner> {
        Box::new(RecordingShell {
            inner,
            rec: Rc::clone(self),
        })
    }

    /// What was noted, with the files the lexer read.
    pub(crate) fn finish(&self, files: Vec<FileInput>) -> LoadInputs {
        LoadInputs {
            files,
            env: self.env.take(),
            shell: self.shell.take(),
        }
    }
}

struct RecordingShell {
    inner: Box<dyn ShellRunner>,
    rec: Rc<Recorder>,
}

impl ShellRunner for RecordingShell {
    fn run(&self, command: &str) -> Vec<u8> {
        let out = self.inner.run(command);
        let value = crate::preprocess::shell_output_value(&out);
        self.rec
            .shell
            .borrow_mut()
            .push((command.to_string(), value));
        out
    }
}

/// Strings, each written once.
#[derive(Default)]
struct Strings {
    list: Vec<Rc<str>>,
    index: NameMap<u32>,
}

impl Strings {
    fn id(&mut self, s: &Rc<str>) -> u32 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.list.len() as u32;
        self.list.push(s.clone());
        self.index.insert(s.clone(), i);
        i
    }
}

#[derive(Default)]
struct Writer {
    out: Vec<u8>,
    strings: Strings,
}

impl Writer {
    fn u8(&mut self, v: u8) {
        self.out.push(v);
    }
    fn u32(&mut self, mut v: u32) {
        while v >= 0x80 {
            self.out.push(v as u8 | 0x80);
            v >>= 7;
        }
        self.out.push(v as u8);
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u32(b.len() as u32);
        self.out.extend_from_slice(b);
    }
    /// An optional id: 0 for none, id + 1 otherwise.
    fn opt(&mut self, v: Option<u32>) {
        self.u32(v.map_or(0, |v| v + 1));
    }
    fn ids(&mut self, v: impl ExactSizeIterator<Item = u32>) {
        self.u32(v.len() as u32);
        for x in v {
            self.u32(x);
        }
    }
}

fn tri_u8(t: Tri) -> u8 {
    t as u8
}

fn enc_str(w: &mut Writer, st: &mut Strings, s: &Rc<str>) {
    let i = st.id(s);
    w.u32(i);
}

fn enc_opt_str(w: &mut Writer, st: &mut Strings, s: &Option<Rc<str>>) {
    let i = s.as_ref().map(|s| st.id(s));
    w.opt(i);
}

fn enc_value(w: &mut Writer, st: &mut Strings, v: &Value) {
    w.u8(tri_u8(v.tri));
    enc_opt_str(w, st, &v.val);
    w.opt(v.choice.map(|c| c.0));
}

fn enc_map(w: &mut Writer, st: &mut Strings, m: &NameMap<SymbolId>) {
    // Insertion order is id order; rebuilding in it gives the same layout
    // (and the same iteration order) as the map loading built.
    let mut v: Vec<(&Rc<str>, SymbolId)> = m.iter().map(|(k, v)| (k, *v)).collect();
    v.sort_by_key(|e| e.1);
    w.u32(v.len() as u32);
    for (k, id) in v {
        enc_str(w, st, k);
        w.u32(id.0);
    }
}

fn enc_body(kc: &Kconfig, w: &mut Writer, st: &mut Strings) {
    w.u32(kc.symbols.len() as u32);
    for s in &kc.symbols {
        enc_opt_str(w, st, &s.name);
        w.u8(s.ty as u8);
        w.u32(s.flags);
        enc_value(w, st, &s.curr);
        enc_value(w, st, &s.def[0]);
        enc_value(w, st, &s.def[1]);
        w.u8(tri_u8(s.visible));
        w.opt(s.dir_dep.map(|e| e.0));
        w.u8(tri_u8(s.dir_dep_tri));
        w.opt(s.rev_dep.map(|e| e.0));
        w.u8(tri_u8(s.rev_dep_tri));
        w.opt(s.implied.map(|e| e.0));
        w.u8(tri_u8(s.implied_tri));
        w.ids(s.props.iter().map(|p| p.0));
        w.ids(s.menus.iter().map(|m| m.0));
        w.u8(u8::from(s.in_choice_list));
        w.ids(s.choice_members.iter().map(|m| m.0));
        w.opt(s.choice_of.map(|c| c.0));
        w.opt(s.choice_menu.map(|m| m.0));
        w.u32(s.serial);
    }
    w.u32(kc.props.len() as u32);
    for p in &kc.props {
        w.u8(p.kind as u8);
        enc_opt_str(w, st, &p.text);
        w.opt(p.expr.map(|e| e.0));
        w.opt(p.visible.map(|e| e.0));
        w.u8(tri_u8(p.visible_tri));
        w.u32(p.menu.0);
        enc_str(w, st, &p.file);
        w.u32(p.line);
    }
    w.u32(kc.menus.len() as u32);
    for m in &kc.menus {
        w.opt(m.parent.map(|x| x.0));
        w.opt(m.next.map(|x| x.0));
        w.opt(m.list.map(|x| x.0));
        w.opt(m.sym.map(|x| x.0));
        w.opt(m.prompt.map(|x| x.0));
        w.opt(m.visibility.map(|x| x.0));
        w.opt(m.dep.map(|x| x.0));
        w.opt(m.help.map(|h| h.start));
        w.u32(m.help.map_or(0, |h| h.len));
        enc_str(w, st, &m.file);
        w.u32(m.line);
        w.ids(m.choice_members.iter().map(|x| x.0));
    }
    let nodes = kc.exprs.nodes();
    w.u32(nodes.len() as u32);
    for e in nodes {
        match *e {
            Expr::Symbol(s) => {
                w.u8(0);
                w.u32(s.0);
            }
            Expr::Not(a) => {
                w.u8(1);
                w.u32(a.0);
            }
            Expr::And(a, b) => {
                w.u8(2);
                w.u32(a.0);
                w.u32(b.0);
            }
            Expr::Or(a, b) => {
                w.u8(3);
                w.u32(a.0);
                w.u32(b.0);
            }
            Expr::Compare(op, a, b) => {
                w.u8(4 + op as u8);
                w.u32(a.0);
                w.u32(b.0);
            }
            Expr::Range(a, b) => {
                w.u8(10);
                w.u32(a.0);
                w.u32(b.0);
            }
        }
    }
    enc_map(w, st, &kc.by_name);
    enc_map(w, st, &kc.by_const_name);
    enc_map(w, st, &kc.by_choice_name);
    w.ids(kc.hash_order.iter().map(|s| s.0));
    w.u32(kc.modules_sym.0);
    w.u8(tri_u8(kc.modules_val));
    w.u32(kc.messages.lines.len() as u32);
    for (stream, line) in &kc.messages.lines {
        w.u8(u8::from(*stream == Stream::Stderr));
        w.bytes(line.as_bytes());
    }
    w.u32(kc.sym_warnings);
    w.u32(kc.conf_warnings);
    w.u8(u8::from(kc.changed));
    w.u32(kc.files.len() as u32);
    for f in &kc.files {
        enc_str(w, st, f);
    }
    w.u32(kc.env_deps.len() as u32);
    for (k, v) in &kc.env_deps {
        w.bytes(k.as_bytes());
        w.bytes(v.as_bytes());
    }
    w.bytes(kc.prefix.as_bytes());
    w.bytes(kc.help_texts.as_bytes());
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
    strings: Vec<Rc<str>>,
}

impl<'a> Reader<'a> {
    #[inline]
    fn take(&mut self, n: usize) -> Result<&'a [u8], SnapshotError> {
        let end = self.pos.checked_add(n).ok_or(SnapshotError::Truncated)?;
        let s = self.b.get(self.pos..end).ok_or(SnapshotError::Truncated)?;
        self.pos = end;
        Ok(s)
    }
    #[inline]
    fn u8(&mut self) -> Result<u8, SnapshotError> {
        let v = *self.b.get(self.pos).ok_or(SnapshotError::Truncated)?;
        self.pos += 1;
        Ok(v)
    }
    #[inline]
    fn u32(&mut self) -> Result<u32, SnapshotError> {
        let mut v: u32 = 0;
        for shift in (0..35).step_by(7) {
            let b = self.u8()?;
            if shift == 28 && b > 0x0f {
                return Err(SnapshotError::Damaged("number"));
            }
            v |= u32::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(SnapshotError::Damaged("number"))
    }
    /// A count of items each taking at least a byte: at most what is left.
    #[inline]
    fn len(&mut self) -> Result<usize, SnapshotError> {
        let n = self.u32()? as usize;
        if n > self.b.len() - self.pos {
            return Err(SnapshotError::Truncated);
        }
        Ok(n)
    }
    #[inline]
    fn bytes(&mut self) -> Result<&'a [u8], SnapshotError> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    #[inline]
    fn string(&mut self) -> Result<String, SnapshotError> {
        let b = self.bytes()?;
        std::str::from_utf8(b)
            .map(str::to_string)
            .map_err(|_| SnapshotError::Damaged("string"))
    }
    #[inline]
    fn bool(&mut self) -> Result<bool, SnapshotError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(SnapshotError::Damaged("flag")),
        }
    }
    #[inline]
    fn tri(&mut self) -> Result<Tri, SnapshotError> {
        match self.u8()? {
            0 => Ok(Tri::No),
            1 => Ok(Tri::Mod),
            2 => Ok(Tri::Yes),
            _ => Err(SnapshotError::Damaged("tristate")),
        }
    }
    /// An index below `limit`.
    #[inline]
    fn id(&mut self, limit: usize) -> Result<u32, SnapshotError> {
        let v = self.u32()?;
        if v as usize >= limit {
            return Err(SnapshotError::Damaged("index"));
        }
        Ok(v)
    }
    #[inline]
    fn opt(&mut self, limit: usize) -> Result<Option<u32>, SnapshotError> {
        match self.u32()? {
            0 => Ok(None),
            v if (v as usize) <= limit => Ok(Some(v - 1)),
            _ => Err(SnapshotError::Damaged("index")),
        }
    }
    #[inline]
    fn ids(&mut self, limit: usize) -> Result<Vec<u32>, SnapshotError> {
        let n = self.len()?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(self.id(limit)?);
        }
        Ok(v)
    }
    /// As [`Reader::ids`], into a list that holds a few ids inline.
    #[inline]
    fn small_ids<T>(
        &mut self,
        limit: usize,
        id: impl Fn(u32) -> T,
    ) -> Result<SmallList<T>, SnapshotError> {
        let n = self.len()?;
        let mut v = SmallList::with_capacity(n);
        for _ in 0..n {
            v.push(id(self.id(limit)?));
        }
        Ok(v)
    }
    #[inline]
    fn str(&mut self) -> Result<Rc<str>, SnapshotError> {
        let i = self.id(self.strings.len())?;
        Ok(self.strings[i as usize].clone())
    }
    #[inline]
    fn opt_str(&mut self) -> Result<Option<Rc<str>>, SnapshotError> {
        let i = self.opt(self.strings.len())?;
        Ok(i.map(|i| self.strings[i as usize].clone()))
    }
}

/// The sizes ids are checked against while decoding.
struct Limits {
    syms: usize,
    props: usize,
    menus: usize,
    exprs: usize,
}

fn dec_value(r: &mut Reader, l: &Limits) -> Result<Value, SnapshotError> {
    Ok(Value {
        tri: r.tri()?,
        val: r.opt_str()?,
        choice: r.opt(l.syms)?.map(SymbolId),
    })
}

fn dec_map(r: &mut Reader, l: &Limits) -> Result<NameMap<SymbolId>, SnapshotError> {
    let n = r.len()?;
    let mut m = NameMap::with_capacity_and_hasher(n, Default::default());
    for _ in 0..n {
        let k = r.str()?;
        m.insert(k, SymbolId(r.id(l.syms)?));
    }
    Ok(m)
}

fn dec_help(r: &mut Reader) -> Result<Option<HelpSpan>, SnapshotError> {
    let start = r.opt(u32::MAX as usize)?;
    let len = r.u32()?;
    Ok(start.map(|start| HelpSpan { start, len }))
}

fn sym_type(v: u8) -> Result<SymType, SnapshotError> {
    Ok(match v {
        0 => SymType::Unknown,
        1 => SymType::Bool,
        2 => SymType::Tristate,
        3 => SymType::Int,
        4 => SymType::Hex,
        5 => SymType::String,
        _ => return Err(SnapshotError::Damaged("type")),
    })
}

fn prop_kind(v: u8) -> Result<PropKind, SnapshotError> {
    Ok(match v {
        0 => PropKind::Prompt,
        1 => PropKind::Comment,
        2 => PropKind::Menu,
        3 => PropKind::Default,
        4 => PropKind::Select,
        5 => PropKind::Imply,
        6 => PropKind::Range,
        7 => PropKind::Choice,
        _ => return Err(SnapshotError::Damaged("property kind")),
    })
}

const CMP_OPS: [CmpOp; 6] = [
    CmpOp::Equal,
    CmpOp::Unequal,
    CmpOp::Less,
    CmpOp::LessEqual,
    CmpOp::Greater,
    CmpOp::GreaterEqual,
];

/// Decode the tree into `kc`; returns the symbols' state as decoded (for
/// [`Kconfig::restart`]), taken while each symbol is at hand.
fn dec_body(kc: &mut Kconfig, r: &mut Reader) -> Result<Vec<SymbolState>, SnapshotError> {
    // Counts come first so every id can be checked as it is read; the
    // counts of props, menus and exprs are only known later, so those ids
    // are checked once everything is read.
    let nsyms = r.len()?;
    let loose = Limits {
        syms: nsyms,
        props: usize::MAX,
        menus: usize::MAX,
        exprs: usize::MAX,
    };
    let mut symbols = Vec::with_capacity(nsyms);
    let mut states = Vec::with_capacity(nsyms);
    for _ in 0..nsyms {
        let name = r.opt_str()?;
        let ty = sym_type(r.u8()?)?;
        let flags = r.u32()?;
        let curr = dec_value(r, &loose)?;
        let def = [dec_value(r, &loose)?, dec_value(r, &loose)?];
        symbols.push(Symbol {
            name,
            ty,
            flags,
            curr,
            def,
            visible: r.tri()?,
            dir_dep: r.opt(loose.exprs)?.map(ExprId),
            dir_dep_tri: r.tri()?,
            rev_dep: r.opt(loose.exprs)?.map(ExprId),
            rev_dep_tri: r.tri()?,
            implied: r.opt(loose.exprs)?.map(ExprId),
            implied_tri: r.tri()?,
            props: r.small_ids(loose.props, PropId)?,
            menus: r.small_ids(loose.menus, MenuId)?,
            in_choice_list: r.bool()?,
            choice_members: r.ids(nsyms)?.into_iter().map(SymbolId).collect(),
            choice_of: r.opt(nsyms)?.map(SymbolId),
            choice_menu: r.opt(loose.menus)?.map(MenuId),
            serial: r.u32()?,
        });
        states.push(SymbolState::of(symbols.last().expect("just pushed")));
    }
    let nprops = r.len()?;
    let mut props = Vec::with_capacity(nprops);
    for _ in 0..nprops {
        props.push(Property {
            kind: prop_kind(r.u8()?)?,
            text: r.opt_str()?,
            expr: r.opt(loose.exprs)?.map(ExprId),
            visible: r.opt(loose.exprs)?.map(ExprId),
            visible_tri: r.tri()?,
            menu: MenuId(r.u32()?),
            file: r.str()?,
            line: r.u32()?,
        });
    }
    let nmenus = r.len()?;
    let mut menus = Vec::with_capacity(nmenus);
    for _ in 0..nmenus {
        menus.push(Menu {
            parent: r.opt(nmenus)?.map(MenuId),
            next: r.opt(nmenus)?.map(MenuId),
            list: r.opt(nmenus)?.map(MenuId),
            sym: r.opt(nsyms)?.map(SymbolId),
            prompt: r.opt(nprops)?.map(PropId),
            visibility: r.opt(loose.exprs)?.map(ExprId),
            dep: r.opt(loose.exprs)?.map(ExprId),
            help: dec_help(r)?,
            file: r.str()?,
            line: r.u32()?,
            choice_members: r.ids(nsyms)?.into_iter().map(SymbolId).collect(),
        });
    }
    let nexprs = r.len()?;
    let mut nodes = Vec::with_capacity(nexprs);
    for _ in 0..nexprs {
        let tag = r.u8()?;
        let e = match tag {
            0 => Expr::Symbol(SymbolId(r.id(nsyms)?)),
            1 => Expr::Not(ExprId(r.id(nexprs)?)),
            2 => Expr::And(ExprId(r.id(nexprs)?), ExprId(r.id(nexprs)?)),
            3 => Expr::Or(ExprId(r.id(nexprs)?), ExprId(r.id(nexprs)?)),
            4..=9 => Expr::Compare(
                CMP_OPS[usize::from(tag - 4)],
                SymbolId(r.id(nsyms)?),
                SymbolId(r.id(nsyms)?),
            ),
            10 => Expr::Range(SymbolId(r.id(nsyms)?), SymbolId(r.id(nsyms)?)),
            _ => return Err(SnapshotError::Damaged("expression")),
        };
        nodes.push(e);
    }
    let l = Limits {
        syms: nsyms,
        props: nprops,
        menus: nmenus,
        exprs: nexprs,
    };
    // The ids whose arenas were not known yet when they were read.
    let ok_e = |e: Option<ExprId>| e.is_none_or(|e| (e.0 as usize) < l.exprs);
    let ok_m = |m: MenuId| (m.0 as usize) < l.menus;
    for s in &symbols {
        if !(ok_e(s.dir_dep)
            && ok_e(s.rev_dep)
            && ok_e(s.implied)
            && s.props.iter().all(|p| (p.0 as usize) < l.props)
            && s.menus.iter().all(|m| ok_m(*m))
            && s.choice_menu.is_none_or(ok_m))
        {
            return Err(SnapshotError::Damaged("symbol"));
        }
    }
    for p in &props {
        if !(ok_e(p.expr) && ok_e(p.visible) && ok_m(p.menu)) {
            return Err(SnapshotError::Damaged("property"));
        }
    }
    for m in &menus {
        if !(ok_e(m.visibility) && ok_e(m.dep)) {
            return Err(SnapshotError::Damaged("menu"));
        }
    }
    // The fixed ids: y, m, n and the root menu.
    if nsyms < 3 || nmenus < 1 {
        return Err(SnapshotError::Damaged("tree"));
    }
    kc.symbols = symbols;
    kc.props = props;
    kc.menus = menus;
    kc.exprs = Exprs::from_nodes(nodes);
    kc.by_name = dec_map(r, &l)?;
    kc.by_const_name = dec_map(r, &l)?;
    kc.by_choice_name = dec_map(r, &l)?;
    kc.hash_order = r.ids(nsyms)?.into_iter().map(SymbolId).collect();
    kc.modules_sym = SymbolId(r.id(nsyms)?);
    kc.modules_val = r.tri()?;
    let n = r.len()?;
    let mut lines = Vec::with_capacity(n);
    for _ in 0..n {
        let stream = if r.bool()? {
            Stream::Stderr
        } else {
            Stream::Stdout
        };
        lines.push((stream, r.string()?));
    }
    kc.messages = Messages { lines };
    kc.sym_warnings = r.u32()?;
    kc.conf_warnings = r.u32()?;
    kc.changed = r.bool()?;
    let n = r.len()?;
    kc.files = (0..n).map(|_| r.str()).collect::<Result<_, _>>()?;
    let n = r.len()?;
    kc.env_deps = (0..n)
        .map(|_| Ok((r.string()?, r.string()?)))
        .collect::<Result<_, SnapshotError>>()?;
    kc.prefix = r.string()?;
    kc.help_texts = r.string()?;
    let n = kc.help_texts.len();
    if kc.menus.iter().filter_map(|m| m.help).any(|h| {
        let (start, end) = (h.start as usize, h.start as usize + h.len as usize);
        end > n || !kc.help_texts.is_char_boundary(start) || !kc.help_texts.is_char_boundary(end)
    }) {
        return Err(SnapshotError::Damaged("help text"));
    }
    Ok(states)
}
