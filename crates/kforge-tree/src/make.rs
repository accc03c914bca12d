//! Just enough of GNU make to read kbuild files: logical lines, comments,
//! recipes, `define` blocks, conditionals, `include`, assignments, and the
//! expansion of variable references and common functions.
//!
//! Nothing is evaluated against a configuration. A reference to
//! `$(CONFIG_X)` expands to `m` *guarded* by `X`: every word of an expansion
//! carries the symbols it depends on, so `obj-$(CONFIG_X) += foo.o` is an
//! assignment to `obj-m` guarded by `X`, and `obj-$(subst m,y,$(CONFIG_X))`
//! one to `obj-y` guarded by `X`. Conditional directives are not evaluated
//! either: both branches of every `ifeq`/`ifdef` are read, and every
//! assignment remembers the directives around it. All assignments to a
//! variable are taken together (an `:=` does not discard earlier values), an
//! over-approximation that only matters for unusual Makefiles.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::{Condition, Note};

/// One word of an expansion and what it depends on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Word {
    pub text: String,
    /// Symbols (without `CONFIG_`) whose `$(CONFIG_X)` went into the word:
    /// those of its text first, then those of whatever transformed it (the
    /// `$(CONFIG_L2TP)` of `$(subst y,$(CONFIG_L2TP),$(CONFIG_PPPOL2TP))`).
    pub guards: Vec<String>,
    /// Conditional directives around the assignments the word came from.
    pub conds: Vec<Rc<Condition>>,
    /// The word contains something this reader does not know (a variable
    /// set outside the file, `$(shell ...)`, `$(call ...)`): its text is not
    /// to be trusted.
    pub tainted: bool,
}

impl Word {
    fn plain(text: &str) -> Word {
        Word {
            text: text.to_string(),
            ..Word::default()
        }
    }

    fn tainted() -> Word {
        Word {
            tainted: true,
            ..Word::default()
        }
    }

    /// Adds the dependencies of `other` to this word.
    pub fn absorb(&mut self, other: &Word) {
        add_guards(&mut self.guards, &other.guards);
        add_conds(&mut self.conds, &other.conds);
        self.tainted |= other.tainted;
    }

    fn has_deps(&self) -> bool {
        !self.guards.is_empty() || !self.conds.is_empty() || self.tainted
    }
}

pub(crate) fn add_guards(into: &mut Vec<String>, from: &[String]) {
    for g in from {
        if !into.contains(g) {
            into.push(g.clone());
        }
    }
}

pub(crate) fn add_conds(into: &mut Vec<Rc<Condition>>, from: &[Rc<Condition>]) {
    for c in from {
        if !into.iter().any(|d| Rc::ptr_eq(c, d) || **c == **d) {
            into.push(c.clone());
        }
    }
}

/// Assembles words from pieces of text the way make concatenates text:
/// `a$(X)b` with `X` = `p q` gives the words `ap` and `qb`.
struct Builder {
    out: Vec<Word>,
    /// The word being assembled; several variants of it after a variable
    /// with alternative values (see [`Builder::push_value`]).
    cur: Vec<Word>,
    /// Set after a list value with alternatives until whitespace: where its
    /// words start in `out`.
    alt_open: Option<usize>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            out: Vec::new(),
            cur: vec![Word::default()],
            alt_open: None,
        }
    }
}

impl Builder {
    /// Appends text whose every non-blank character depends on `deps`. Empty
    /// text with dependencies attaches them to the word it touches.
    fn push(&mut self, text: &str, deps: &Word) {
        if text.is_empty() {
            if deps.has_deps() {
                for c in &mut self.cur {
                    c.absorb(deps);
                }
            }
            return;
        }
        let mut absorbed = false;
        for ch in text.chars() {
            if ch.is_whitespace() {
                self.end_word();
                self.alt_open = None;
                absorbed = false;
            } else {
                if let Some(start) = self.alt_open.take() {
                    self.taint_from(start);
                }
                for c in &mut self.cur {
                    c.text.push(ch);
                    if !absorbed {
                        c.absorb(deps);
                    }
                }
                absorbed = true;
            }
        }
    }

    fn push_words(&mut self, words: &[Word]) {
        for (i, w) in words.iter().enumerate() {
            if i > 0 {
                self.end_word();
            }
            self.push(&w.text, w);
        }
    }

    /// Appends a variable's value, given as groups of words: one group per
    /// assignment that sets the variable (not appends to it). Several groups
    /// are alternatives (`HEADER_ARCH := $(SUBARCH)` then `HEADER_ARCH :=
    /// x86` in another branch). Alternatives of at most one word each make
    /// variants of the word being assembled, so `arch/$(X)/` gives
    /// `arch/a/` and `arch/b/`; alternatives that are lists are listed
    /// together, and tainted when glued to other text.
    fn push_value(&mut self, groups: &[Vec<Word>]) {
        let scalar = |g: &Vec<Word>| {
            g.iter().filter(|w| !w.text.is_empty() || w.tainted).count() <= 1
                && g.iter().all(|w| !w.text.contains(char::is_whitespace))
        };
        if groups.len() > 1 && groups.iter().all(scalar) {
            let mut next: Vec<Word> = Vec::new();
            for c in &self.cur {
                for g in groups {
                    let mut v = c.clone();
                    for w in g {
                        v.text.push_str(&w.text);
                        v.absorb(w);
                    }
                    if !next
                        .iter()
                        .any(|n| n.text == v.text && n.tainted == v.tainted)
                    {
                        next.push(v);
                    }
                }
            }
            self.cur = next;
            return;
        }
        let flat: Vec<Word> = groups.concat();
        let glued = self.cur.iter().any(|c| !c.text.is_empty());
        let start = self.out.len();
        self.push_words(&flat);
        if groups.len() > 1 {
            if glued {
                self.taint_from(start);
            } else {
                self.alt_open = Some(start);
            }
        }
    }

    fn taint_from(&mut self, start: usize) {
        for w in &mut self.out[start..] {
            w.tainted = true;
        }
        for c in &mut self.cur {
            c.tainted = true;
        }
    }

    fn end_word(&mut self) {
        for w in std::mem::replace(&mut self.cur, vec![Word::default()]) {
            if !w.text.is_empty() {
                self.out.push(w);
            }
        }
    }

    fn finish(mut self) -> Vec<Word> {
        // Dependencies with no text to attach to (`$(if $(CONFIG_X),)`) are
        // kept as an empty word so that callers can still see them.
        let empty_so_far = self.out.is_empty();
        for w in std::mem::take(&mut self.cur) {
            if !w.text.is_empty() || (empty_so_far && w.has_deps()) {
                self.out.push(w);
            }
        }
        self.out
    }
}

/// The words of a list, joined with single spaces, and the union of their
/// dependencies.
fn joined(words: &[Word]) -> (String, Word) {
    let mut deps = Word::default();
    let mut text = String::new();
    for w in words {
        if !w.text.is_empty() {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(&w.text);
        }
        deps.absorb(w);
    }
    (text, deps)
}

/// Make's `%` pattern matching: the stem, if `word` matches `pat`.
fn pattern_match<'a>(pat: &str, word: &'a str) -> Option<&'a str> {
    match pat.find('%') {
        None => (pat == word).then_some(""),
        Some(i) => {
            let (pre, post) = (&pat[..i], &pat[i + 1..]);
            (word.len() >= pre.len() + post.len() && word.starts_with(pre) && word.ends_with(post))
                .then(|| &word[pre.len()..word.len() - post.len()])
        }
    }
}

fn pattern_replace(rep: &str, stem: &str) -> String {
    match rep.find('%') {
        None => rep.to_string(),
        Some(i) => format!("{}{}{}", &rep[..i], stem, &rep[i + 1..]),
    }
}

/// How an assignment was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// `:=`, `::=`, `:::=`: the value is expanded where it is written.
    Simple,
    /// `=`, `+=`, `?=`: the value is expanded when it is used.
    Recursive,
    /// `!=`: the output of a shell command.
    Shell,
}

/// One assignment, with its left-hand side already expanded.
#[derive(Debug)]
pub(crate) struct Assign {
    /// The variable name, e.g. `obj-m` for `obj-$(CONFIG_X)`.
    pub name: String,
    /// The symbols the name depends on (`X` for `obj-$(CONFIG_X)`).
    pub guards: Vec<String>,
    pub rhs: String,
    pub flavor: Flavor,
    /// Not an append (`+=`): an `=`, `:=`, `?=` or `!=`.
    pub resets: bool,
    /// Index into [`Unit::files`].
    pub file: usize,
    pub line: u32,
    pub conds: Vec<Rc<Condition>>,
}

/// A kbuild file together with everything it includes, as make would see it
/// when descending into its directory.
pub(crate) struct Unit {
    /// The directory, relative to the tree, `""` for the top.
    pub dir: String,
    /// `$(SRCARCH)`, when known.
    pub arch: Option<String>,
    /// Values of variables set outside the unit (by the top Makefile).
    pub presets: HashMap<String, Vec<Word>>,
    pub assigns: Vec<Assign>,
    by_name: HashMap<String, Vec<usize>>,
    /// Files read, relative to the tree; the first is the kbuild file.
    pub files: Vec<PathBuf>,
    pub notes: Vec<Note>,
}

const MAX_INCLUDE_DEPTH: u32 = 8;
/// The lists scripts/Makefile.build sets with `:=` before it includes a
/// kbuild file.
const PRESET_SIMPLE: &[&str] = &["obj-y", "obj-m", "lib-y", "lib-m", "subdir-y", "subdir-m"];
const MAX_EXPANSION_DEPTH: u32 = 64;

/// Level of an `ifeq ... else ... endif` nest while reading.
struct CondLevel {
    /// The negations of the branches already passed.
    passed: Vec<Rc<Condition>>,
    /// The branch being read, `None` in a plain `else`.
    current: Option<Rc<Condition>>,
}

impl Unit {
    /// An empty unit for directory `dir` (relative, `""` for the top).
    pub fn new(dir: &str, arch: Option<String>, presets: HashMap<String, Vec<Word>>) -> Unit {
        Unit {
            dir: dir.to_string(),
            arch,
            presets,
            assigns: Vec::new(),
            by_name: HashMap::new(),
            files: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Reads `rel` (relative to `tree`) into the unit. `follow_includes`
    /// false ignores `include` lines.
    pub fn read(
        &mut self,
        tree: &Path,
        rel: &Path,
        text: &str,
        follow_includes: bool,
    ) -> Result<(), crate::KbuildError> {
        self.read_file(tree, rel, text, &[], follow_includes, 0)
    }

    fn note(&mut self, file: usize, line: u32, message: String) {
        self.notes.push(Note {
            makefile: self.files[file].clone(),
            line,
            message,
        });
    }

    fn read_file(
        &mut self,
        tree: &Path,
        rel: &Path,
        text: &str,
        outer: &[Rc<Condition>],
        follow_includes: bool,
        depth: u32,
    ) -> Result<(), crate::KbuildError> {
        let file = self.files.len();
        self.files.push(rel.to_path_buf());
        let file_path: Rc<PathBuf> = Rc::new(rel.to_path_buf());
        let mut levels: Vec<CondLevel> = Vec::new();
        let active = |levels: &[CondLevel]| -> Vec<Rc<Condition>> {
            let mut v = outer.to_vec();
            for l in levels {
                v.extend(l.passed.iter().cloned());
                v.extend(l.current.iter().cloned());
            }
            v
        };
        let mut in_rule = false;
        let mut define_depth = 0u32;
        for (line, recipe_prefix, raw) in LogicalLines::new(text) {
            if define_depth > 0 {
                let t = raw.trim_start();
                let first = first_word(strip_modifiers(t));
                if first == "define" {
                    define_depth += 1;
                } else if first == "endef" {
                    define_depth -= 1;
                }
                continue;
            }
            if recipe_prefix && in_rule {
                continue;
            }
            let stripped = strip_comment(&raw);
            let t = stripped.trim();
            if t.is_empty() {
                continue;
            }
            in_rule = false;
            let first = first_word(t);
            let cond_kw = ["ifeq", "ifneq", "ifdef", "ifndef"]
                .into_iter()
                .find(|k| first == *k || (t.starts_with(k) && t[k.len()..].starts_with('(')));
            if cond_kw.is_some() {
                levels.push(CondLevel {
                    passed: Vec::new(),
                    current: Some(Rc::new(Condition {
                        makefile: (*file_path).clone(),
                        line,
                        directive: t.to_string(),
                        negated: false,
                    })),
                });
                continue;
            }
            match first {
                "else" => {
                    let rest = t[4..].trim();
                    match levels.last_mut() {
                        Some(level) => {
                            if let Some(c) = level.current.take() {
                                level.passed.push(Rc::new(Condition {
                                    negated: !c.negated,
                                    ..(*c).clone()
                                }));
                            }
                            if !rest.is_empty() {
                                level.current = Some(Rc::new(Condition {
                                    makefile: (*file_path).clone(),
                                    line,
                                    directive: rest.to_string(),
                                    negated: false,
                                }));
                            }
                        }
                        None => self.note(file, line, "`else` without a conditional".into()),
                    }
                    continue;
                }
                "endif" => {
                    if levels.pop().is_none() {
                        self.note(file, line, "`endif` without a conditional".into());
                    }
                    continue;
                }
                "include" | "-include" | "sinclude" => {
                    if follow_includes {
                        let optional = first != "include";
                        let conds = active(&levels);
                        self.include(tree, file, line, &t[first.len()..], optional, &conds, depth)?;
                    }
                    continue;
                }
                "vpath" | "unexport" | "undefine" | "endef" => continue,
                _ => {}
            }
            let body = strip_modifiers(t);
            if first_word(body) == "define" {
                define_depth = 1;
                continue;
            }
            match split_assignment(body) {
                Statement::Assign {
                    lhs,
                    flavor,
                    append,
                    rhs,
                } => {
                    let conds = active(&levels);
                    self.add_assign(file, line, lhs, (flavor, append), rhs, conds);
                }
                Statement::Rule => in_rule = true,
                Statement::Other => {}
            }
        }
        if !levels.is_empty() {
            self.note(file, 0, "conditional not closed by `endif`".into());
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn include(
        &mut self,
        tree: &Path,
        file: usize,
        line: u32,
        args: &str,
        optional: bool,
        conds: &[Rc<Condition>],
        depth: u32,
    ) -> Result<(), crate::KbuildError> {
        let words = Ev::new(self).expand(args, self.assigns.len());
        let mut noted = false;
        for w in words {
            if w.text.is_empty() {
                continue;
            }
            if w.tainted {
                if !optional && !noted {
                    self.note(
                        file,
                        line,
                        format!(
                            "include of `{}` not followed: unknown variables",
                            args.trim()
                        ),
                    );
                    noted = true;
                }
                continue;
            }
            // make runs at the top of the tree, so relative names are
            // relative to it ($(srctree) and $(src) expand accordingly).
            let Some(rel) = normalize("", &w.text) else {
                self.note(
                    file,
                    line,
                    format!("include of `{}` outside the tree", w.text),
                );
                continue;
            };
            if depth >= MAX_INCLUDE_DEPTH {
                self.note(file, line, format!("include of `{rel}` too deeply nested"));
                continue;
            }
            let path = tree.join(&rel);
            match std::fs::read(&path) {
                Ok(bytes) => {
                    let text = String::from_utf8_lossy(&bytes);
                    self.read_file(tree, Path::new(&rel), &text, conds, true, depth + 1)?;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    if !optional {
                        self.note(file, line, format!("included file `{rel}` does not exist"));
                    }
                }
                Err(source) => return Err(crate::KbuildError::Io { path, source }),
            }
        }
        Ok(())
    }

    fn add_assign(
        &mut self,
        file: usize,
        line: u32,
        lhs: &str,
        (flavor, append): (Flavor, bool),
        rhs: &str,
        conds: Vec<Rc<Condition>>,
    ) {
        let name_words = Ev::new(self).expand(lhs, self.assigns.len());
        let mut nonempty = name_words.iter().filter(|w| !w.text.is_empty());
        let (Some(name), None) = (nonempty.next(), nonempty.next()) else {
            return;
        };
        if name.tainted {
            if lhs.trim_start().starts_with("obj-") {
                self.note(
                    file,
                    line,
                    format!("`{}` skipped: unknown variables in its name", lhs.trim()),
                );
            }
            return;
        }
        // `+=` keeps the flavor the variable already has; kbuild's
        // Makefile.build sets its lists with `:=` before reading the file.
        let flavor = if append {
            match self.by_name.get(&name.text).and_then(|v| v.last()) {
                Some(&prev) => self.assigns[prev].flavor,
                None if self.presets.contains_key(&name.text)
                    || PRESET_SIMPLE.contains(&name.text.as_str()) =>
                {
                    Flavor::Simple
                }
                None => flavor,
            }
        } else {
            flavor
        };
        let idx = self.assigns.len();
        self.by_name.entry(name.text.clone()).or_default().push(idx);
        self.assigns.push(Assign {
            name: name.text.clone(),
            guards: name.guards.clone(),
            rhs: rhs.to_string(),
            flavor,
            resets: !append,
            file,
            line,
            conds,
        });
    }

    /// The words assignment `idx` contributes, each carrying the
    /// assignment's guards and conditions.
    pub fn assign_words(&self, idx: usize) -> Vec<Word> {
        let mut ev = Ev::new(self);
        ev.assign_words(idx)
    }

    /// The value of variable `name` at the end of the unit.
    pub fn value(&self, name: &str) -> Vec<Word> {
        Ev::new(self).var(name, self.assigns.len())
    }
}

/// Kbuild's lists (`foo-y`, `foo-m`, `foo-objs`, `foo-`) are set in the
/// file that uses them, if at all: unset, they are empty rather than
/// unknown.
fn is_kbuild_list(name: &str) -> bool {
    ["-y", "-m", "-objs", "-"]
        .iter()
        .any(|s| name.len() > s.len() && name.ends_with(s))
}

/// A directory path relative to the tree from `base` (relative, `""` for
/// the top) and a relative name, with `.` and `..` resolved; `None` if it
/// leaves the tree or is absolute.
pub(crate) fn normalize(base: &str, name: &str) -> Option<String> {
    if name.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
    for p in name.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

/// `export`, `override` and `private` in front of an assignment.
fn strip_modifiers(mut t: &str) -> &str {
    loop {
        let w = first_word(t);
        if matches!(w, "export" | "override" | "private") && t.len() > w.len() {
            t = t[w.len()..].trim_start();
        } else {
            return t;
        }
    }
}

fn first_word(t: &str) -> &str {
    t.split(|c: char| c.is_whitespace()).next().unwrap_or("")
}

/// Removes a `#` comment (not `\#`, which becomes `#`).
fn strip_comment(line: &str) -> std::borrow::Cow<'_, str> {
    if !line.contains('#') {
        return line.into();
    }
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'#') => {
                out.push('#');
                chars.next();
            }
            '#' => break,
            c => out.push(c),
        }
    }
    out.into()
}

enum Statement<'a> {
    Assign {
        lhs: &'a str,
        flavor: Flavor,
        append: bool,
        rhs: &'a str,
    },
    Rule,
    Other,
}

/// Classifies a line by its first `=` or `:` outside of `$(...)`.
fn split_assignment(t: &str) -> Statement<'_> {
    let b = t.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'$' if i + 1 < b.len() && (b[i + 1] == b'(' || b[i + 1] == b'{') => {
                depth += 1;
                i += 2;
                continue;
            }
            b'(' | b'{' if depth > 0 => depth += 1,
            b')' | b'}' if depth > 0 => depth -= 1,
            b':' if depth == 0 => {
                let rest = &t[i..];
                for (op, len) in [(":::=", 4), ("::=", 3), (":=", 2)] {
                    if rest.starts_with(op) {
                        return Statement::Assign {
                            lhs: t[..i].trim(),
                            flavor: Flavor::Simple,
                            append: false,
                            rhs: t[i + len..].trim(),
                        };
                    }
                }
                return Statement::Rule;
            }
            b'=' if depth == 0 => {
                let (start, flavor) = match i.checked_sub(1).map(|j| b[j]) {
                    Some(b'+') | Some(b'?') => (i - 1, Flavor::Recursive),
                    Some(b'!') => (i - 1, Flavor::Shell),
                    _ => (i, Flavor::Recursive),
                };
                return Statement::Assign {
                    lhs: t[..start].trim(),
                    flavor,
                    append: start < i && b[start] == b'+',
                    rhs: t[i + 1..].trim(),
                };
            }
            _ => {}
        }
        i += 1;
    }
    Statement::Other
}

/// Logical lines: (first line number, begins with a tab, text with
/// backslash-newlines joined).
struct LogicalLines<'a> {
    lines: std::iter::Peekable<std::str::Lines<'a>>,
    next_no: u32,
}

impl<'a> LogicalLines<'a> {
    fn new(text: &'a str) -> Self {
        LogicalLines {
            lines: text.lines().peekable(),
            next_no: 1,
        }
    }
}

fn continues(line: &str) -> bool {
    let trailing = line.len() - line.trim_end_matches('\\').len();
    trailing % 2 == 1
}

impl Iterator for LogicalLines<'_> {
    type Item = (u32, bool, String);

    fn next(&mut self) -> Option<Self::Item> {
        let first = self.lines.next()?;
        let no = self.next_no;
        self.next_no += 1;
        let tab = first.starts_with('\t');
        let mut text = first.to_string();
        while continues(&text) {
            text.pop();
            let Some(next) = self.lines.next() else { break };
            self.next_no += 1;
            // backslash-newline and the whitespace around it become one space
            let kept = text.trim_end().len();
            text.truncate(kept);
            text.push(' ');
            text.push_str(next.trim_start());
        }
        Some((no, tab, text))
    }
}

/// Functions whose results this reader cannot know.
const OPAQUE_FUNCTIONS: &[&str] = &[
    "wildcard", "realpath", "abspath", "shell", "call", "eval", "origin", "flavor", "value",
    "file", "let", "intcmp", "guile", "wordlist", "join",
];
/// Functions with no value.
const EMPTY_FUNCTIONS: &[&str] = &["error", "warning", "info"];
const FUNCTIONS: &[&str] = &[
    "subst",
    "patsubst",
    "strip",
    "findstring",
    "filter",
    "filter-out",
    "sort",
    "word",
    "words",
    "firstword",
    "lastword",
    "dir",
    "notdir",
    "suffix",
    "basename",
    "addsuffix",
    "addprefix",
    "foreach",
    "if",
    "or",
    "and",
];

/// An expansion in progress.
struct Ev<'u> {
    unit: &'u Unit,
    /// Assignments being expanded (cycle guard).
    active: Vec<usize>,
    /// `$(foreach v,...)` bindings.
    locals: Vec<(String, Word)>,
    depth: u32,
}

impl<'u> Ev<'u> {
    fn new(unit: &'u Unit) -> Self {
        Ev {
            unit,
            active: Vec::new(),
            locals: Vec::new(),
            depth: 0,
        }
    }

    fn assign_words(&mut self, idx: usize) -> Vec<Word> {
        let a = &self.unit.assigns[idx];
        if self.active.contains(&idx) || self.depth > MAX_EXPANSION_DEPTH {
            return Vec::new();
        }
        let before = match a.flavor {
            Flavor::Simple => idx,
            Flavor::Recursive => self.unit.assigns.len(),
            Flavor::Shell => return vec![Word::tainted()],
        };
        self.active.push(idx);
        self.depth += 1;
        let mut words = self.expand(&a.rhs, before);
        self.depth -= 1;
        self.active.pop();
        let deps = Word {
            text: String::new(),
            guards: a.guards.clone(),
            conds: a.conds.clone(),
            tainted: false,
        };
        for w in &mut words {
            // the assignment's own guards come first
            let mut merged = deps.clone();
            merged.absorb(w);
            w.guards = merged.guards;
            w.conds = merged.conds;
        }
        words
    }

    /// The value of variable `name` as seen by assignment `before`.
    fn var(&mut self, name: &str, before: usize) -> Vec<Word> {
        self.var_groups(name, before).concat()
    }

    /// [`Ev::var`] as alternatives: a new group starts at every assignment
    /// that sets (does not append to) a variable that had a value.
    fn var_groups(&mut self, name: &str, before: usize) -> Vec<Vec<Word>> {
        if let Some(sym) = name.strip_prefix("CONFIG_") {
            let w = Word {
                text: "m".into(),
                guards: vec![sym.to_string()],
                ..Word::default()
            };
            return vec![vec![w]];
        }
        if let Some((_, w)) = self.locals.iter().rev().find(|(n, _)| n == name) {
            return vec![vec![w.clone()]];
        }
        match name {
            "src" | "obj" if self.unit.dir.is_empty() => return vec![vec![Word::plain(".")]],
            "src" | "obj" => return vec![vec![Word::plain(&self.unit.dir)]],
            "srctree" | "objtree" => return vec![vec![Word::plain(".")]],
            "SRCARCH" => {
                let w = match &self.unit.arch {
                    Some(a) => Word::plain(a),
                    None => Word::tainted(),
                };
                return vec![vec![w]];
            }
            "comma" => return vec![vec![Word::plain(",")]],
            "empty" => return vec![Vec::new()],
            "space" => return vec![vec![Word::plain(" ")]],
            _ => {}
        }
        let mut groups: Vec<Vec<Word>> =
            vec![self.unit.presets.get(name).cloned().unwrap_or_default()];
        let mut found = self.unit.presets.contains_key(name);
        // `foo-$(CONFIG_X)` is `foo-y` when X is y: it is part of `$(foo-y)`.
        let alias = name.strip_suffix("-y").map(|base| format!("{base}-m"));
        let mut idxs: Vec<usize> = self
            .unit
            .by_name
            .get(name)
            .into_iter()
            .flatten()
            .copied()
            .collect();
        if let Some(alias) = &alias {
            idxs.extend(
                self.unit
                    .by_name
                    .get(alias)
                    .into_iter()
                    .flatten()
                    .copied()
                    .filter(|&i| !self.unit.assigns[i].guards.is_empty()),
            );
            idxs.sort_unstable();
        }
        for i in idxs {
            if i >= before {
                break;
            }
            if found && self.unit.assigns[i].resets {
                groups.push(Vec::new());
            }
            found = true;
            let words = self.assign_words(i);
            groups.last_mut().expect("one group").extend(words);
        }
        if !found && !is_kbuild_list(name) {
            return vec![vec![Word::tainted()]];
        }
        groups
    }

    /// Expands `s` as the value of assignment `before` sees it.
    fn expand(&mut self, s: &str, before: usize) -> Vec<Word> {
        if !s.contains('$') {
            let mut b = Builder::default();
            b.push(s, &Word::default());
            return b.finish();
        }
        let mut b = Builder::default();
        let bytes = s.as_bytes();
        let mut lit_start = 0;
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] != b'$' || i + 1 >= bytes.len() {
                i += 1;
                continue;
            }
            b.push(&s[lit_start..i], &Word::default());
            let c = bytes[i + 1];
            if c == b'$' {
                b.push("$", &Word::default());
                i += 2;
            } else if c == b'(' || c == b'{' {
                let close = if c == b'(' { b')' } else { b'}' };
                let mut depth = 1;
                let mut j = i + 2;
                while j < bytes.len() {
                    if bytes[j] == c {
                        depth += 1;
                    } else if bytes[j] == close {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    j += 1;
                }
                let inner = &s[i + 2..j.min(bytes.len())];
                let groups = self.reference(inner, before);
                b.push_value(&groups);
                i = (j + 1).min(bytes.len());
            } else {
                // $x: a one-character variable ($@, $<, ...)
                let ch_len = s[i + 1..].chars().next().map_or(1, char::len_utf8);
                let groups = self.var_groups(&s[i + 1..i + 1 + ch_len], before);
                b.push_value(&groups);
                i += 1 + ch_len;
            }
            lit_start = i;
        }
        b.push(&s[lit_start.min(s.len())..], &Word::default());
        b.finish()
    }

    fn expand_joined(&mut self, s: &str, before: usize) -> (String, Word) {
        let words = self.expand(s, before);
        joined(&words)
    }

    /// `$(inner)`: a function call or a variable reference, as groups of
    /// alternatives (see [`Ev::var_groups`]).
    fn reference(&mut self, inner: &str, before: usize) -> Vec<Vec<Word>> {
        if self.depth > MAX_EXPANSION_DEPTH {
            return vec![vec![Word::tainted()]];
        }
        let name_end = inner
            .find(|c: char| c.is_whitespace())
            .unwrap_or(inner.len());
        let fname = &inner[..name_end];
        if name_end < inner.len() {
            let args = inner[name_end..].trim_start();
            if FUNCTIONS.contains(&fname) {
                self.depth += 1;
                let r = self.function(fname, args, before);
                self.depth -= 1;
                return vec![r];
            }
            if OPAQUE_FUNCTIONS.contains(&fname) {
                return vec![vec![Word::tainted()]];
            }
            if EMPTY_FUNCTIONS.contains(&fname) {
                return vec![Vec::new()];
            }
        }
        // $(VAR:a=b), a substitution reference
        if let Some(colon) = top_level_find(inner, b':') {
            if let Some(eq) = inner[colon..].find('=') {
                let (name, name_deps) = self.expand_joined(&inner[..colon], before);
                let (from, from_deps) = self.expand_joined(&inner[colon + 1..colon + eq], before);
                let (to, to_deps) = self.expand_joined(&inner[colon + eq + 1..], before);
                let (pat, rep) = if from.contains('%') {
                    (from, to)
                } else {
                    (format!("%{from}"), format!("%{to}"))
                };
                let groups = self.var_groups(&name, before);
                return groups
                    .into_iter()
                    .map(|group| {
                        let mut b = Builder::default();
                        for (k, w) in group.iter().enumerate() {
                            if k > 0 {
                                b.end_word();
                            }
                            let text = match pattern_match(&pat, &w.text) {
                                Some(stem) => pattern_replace(&rep, stem),
                                None => w.text.clone(),
                            };
                            let mut deps = w.clone();
                            deps.absorb(&name_deps);
                            deps.absorb(&from_deps);
                            deps.absorb(&to_deps);
                            b.push(&text, &deps);
                        }
                        b.finish()
                    })
                    .collect();
            }
        }
        let (name, deps) = self.expand_joined(inner, before);
        if deps.tainted {
            return vec![vec![Word::tainted()]];
        }
        let mut groups = self.var_groups(&name, before);
        for w in groups.iter_mut().flatten() {
            w.absorb(&deps);
        }
        groups
    }

    fn function(&mut self, fname: &str, args: &str, before: usize) -> Vec<Word> {
        let max = match fname {
            "subst" | "patsubst" | "foreach" | "if" => 3,
            "findstring" | "filter" | "filter-out" | "word" | "addsuffix" | "addprefix" => 2,
            "or" | "and" => usize::MAX,
            _ => 1,
        };
        let raw = split_args(args, max);
        let arg = |k: usize| raw.get(k).copied().unwrap_or("");
        match fname {
            "foreach" => {
                let (var, var_deps) = self.expand_joined(arg(0), before);
                let list = self.expand(arg(1), before);
                let mut b = Builder::default();
                for (k, item) in list.iter().enumerate() {
                    if item.text.is_empty() {
                        continue;
                    }
                    self.locals.push((var.clone(), item.clone()));
                    let mut words = self.expand(arg(2), before);
                    self.locals.pop();
                    for w in &mut words {
                        w.absorb(&var_deps);
                    }
                    if k > 0 {
                        b.end_word();
                    }
                    b.push_words(&words);
                }
                return b.finish();
            }
            "if" => {
                let (cond, cond_deps) = self.expand_joined(arg(0), before);
                let branch = if cond.is_empty() && !cond_deps.tainted {
                    arg(2)
                } else {
                    arg(1)
                };
                let mut words = self.expand(branch, before);
                for w in &mut words {
                    w.absorb(&cond_deps);
                }
                return words;
            }
            "or" | "and" => {
                let mut deps = Word::default();
                let mut last = Vec::new();
                for a in &raw {
                    let words = self.expand(a, before);
                    let (text, d) = joined(&words);
                    deps.absorb(&d);
                    let empty = text.is_empty() && !d.tainted;
                    if fname == "or" && !empty {
                        last = words;
                        break;
                    }
                    if fname == "and" && empty {
                        return Vec::new();
                    }
                    last = words;
                }
                for w in &mut last {
                    w.absorb(&deps);
                }
                return last;
            }
            _ => {}
        }
        let args: Vec<Vec<Word>> = raw.iter().map(|a| self.expand(a, before)).collect();
        let arg_text = |k: usize| args.get(k).map(|w| joined(w)).unwrap_or_default();
        let list = |k: usize| -> Vec<Word> {
            args.get(k)
                .map(|ws| ws.iter().filter(|w| !w.text.is_empty()).cloned().collect())
                .unwrap_or_default()
        };
        let map_words = |words: Vec<Word>, extra: &Word, f: &dyn Fn(&str) -> String| {
            let mut b = Builder::default();
            for (k, w) in words.iter().enumerate() {
                if k > 0 {
                    b.end_word();
                }
                let mut deps = w.clone();
                deps.absorb(extra);
                b.push(&f(&w.text), &deps);
            }
            b.finish()
        };
        match fname {
            "subst" => {
                let (from, mut extra) = arg_text(0);
                let (to, to_deps) = arg_text(1);
                extra.absorb(&to_deps);
                map_words(list(2), &extra, &|t: &str| {
                    if from.is_empty() {
                        t.to_string()
                    } else {
                        t.replace(&from, &to)
                    }
                })
            }
            "patsubst" => {
                let (pat, mut extra) = arg_text(0);
                let (rep, rep_deps) = arg_text(1);
                extra.absorb(&rep_deps);
                map_words(list(2), &extra, &|t: &str| match pattern_match(&pat, t) {
                    Some(stem) => pattern_replace(&rep, stem),
                    None => t.to_string(),
                })
            }
            "addprefix" => {
                let (p, extra) = arg_text(0);
                map_words(list(1), &extra, &|t: &str| format!("{p}{t}"))
            }
            "addsuffix" => {
                let (s, extra) = arg_text(0);
                map_words(list(1), &extra, &|t: &str| format!("{t}{s}"))
            }
            "filter" | "filter-out" => {
                let pats: Vec<String> = list(0).into_iter().map(|w| w.text).collect();
                let keep = fname == "filter";
                list(1)
                    .into_iter()
                    .filter(|w| pats.iter().any(|p| pattern_match(p, &w.text).is_some()) == keep)
                    .collect()
            }
            "sort" => {
                let mut words = list(0);
                words.sort_by(|a, b| a.text.cmp(&b.text));
                words.dedup_by(|a, b| a.text == b.text);
                words
            }
            "strip" => list(0),
            "findstring" => {
                let (find, mut extra) = arg_text(0);
                let (inside, d) = arg_text(1);
                extra.absorb(&d);
                if inside.contains(&find) && !find.is_empty() {
                    let mut w = Word::plain(&find);
                    w.absorb(&extra);
                    vec![w]
                } else {
                    Vec::new()
                }
            }
            "word" => {
                let (n, _) = arg_text(0);
                match n.parse::<usize>() {
                    Ok(n) if n > 0 => list(1).into_iter().nth(n - 1).into_iter().collect(),
                    _ => vec![Word::tainted()],
                }
            }
            "words" => {
                let n = list(0).len();
                vec![Word::plain(&n.to_string())]
            }
            "firstword" => list(0).into_iter().take(1).collect(),
            "lastword" => list(0).into_iter().last().into_iter().collect(),
            "dir" => map_words(list(0), &Word::default(), &|t: &str| match t.rfind('/') {
                Some(i) => t[..=i].to_string(),
                None => "./".to_string(),
            }),
            "notdir" => map_words(list(0), &Word::default(), &|t: &str| {
                t.rsplit('/').next().unwrap_or("").to_string()
            }),
            "basename" => map_words(list(0), &Word::default(), &|t: &str| {
                let name_start = t.rfind('/').map_or(0, |i| i + 1);
                match t[name_start..].rfind('.') {
                    Some(i) => t[..name_start + i].to_string(),
                    None => t.to_string(),
                }
            }),
            "suffix" => list(0)
                .into_iter()
                .filter_map(|mut w| {
                    let name_start = w.text.rfind('/').map_or(0, |i| i + 1);
                    let dot = w.text[name_start..].rfind('.')?;
                    w.text = w.text[name_start + dot..].to_string();
                    Some(w)
                })
                .collect(),
            _ => vec![Word::tainted()],
        }
    }
}

/// The first `byte` of `s` outside nested `$(...)`/`(...)`.
fn top_level_find(s: &str, byte: u8) -> Option<usize> {
    let mut depth = 0usize;
    for (i, &c) in s.as_bytes().iter().enumerate() {
        match c {
            b'(' | b'{' => depth += 1,
            b')' | b'}' => depth = depth.saturating_sub(1),
            c if c == byte && depth == 0 => return Some(i),
            _ => {}
        }
    }
    None
}

/// Function arguments: split at top-level commas, at most `max` pieces.
fn split_args(args: &str, max: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in args.bytes().enumerate() {
        match c {
            b'(' | b'{' => depth += 1,
            b')' | b'}' => depth = depth.saturating_sub(1),
            b',' if depth == 0 && out.len() + 1 < max => {
                out.push(&args[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&args[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(text: &str) -> Unit {
        let mut u = Unit::new("drivers/net", None, HashMap::new());
        u.read(
            Path::new("/nonexistent"),
            Path::new("drivers/net/Makefile"),
            text,
            false,
        )
        .unwrap();
        u
    }

    fn show(words: &[Word]) -> Vec<String> {
        words
            .iter()
            .map(|w| {
                let mut s = w.text.clone();
                if !w.guards.is_empty() {
                    s += &format!("[{}]", w.guards.join(","));
                }
                if w.tainted {
                    s += "!";
                }
                s
            })
            .collect()
    }

    fn names(u: &Unit) -> Vec<(String, Vec<String>, u32)> {
        u.assigns
            .iter()
            .map(|a| (a.name.clone(), a.guards.clone(), a.line))
            .collect()
    }

    #[test]
    fn assignment_names_are_expanded_with_guards() {
        let u = unit(
            "obj-$(CONFIG_A) += a.o\n\
             obj-${CONFIG_B}:=b.o\n\
             obj-$(subst m,y,$(CONFIG_C)) = c.o\n\
             obj-$(CONFIG_D:m=y)\t+= d.o\n\
             obj-$(subst y,$(CONFIG_E),$(CONFIG_F)) += f.o\n\
             obj-y += g/\n",
        );
        assert_eq!(
            names(&u),
            vec![
                ("obj-m".into(), vec!["A".into()], 1),
                ("obj-m".into(), vec!["B".into()], 2),
                ("obj-y".into(), vec!["C".into()], 3),
                ("obj-y".into(), vec!["D".into()], 4),
                // the text's symbol first, then the substitution's
                ("obj-m".into(), vec!["F".into(), "E".into()], 5),
                ("obj-y".into(), vec![], 6),
            ]
        );
    }

    #[test]
    fn continuations_comments_recipes_defines() {
        let u = unit(
            "# obj-y += no.o\n\
             obj-m += a.o \\\n\
             \tb.o # c.o\n\
             foo.o: bar.c\n\
             \tobj-m += recipe.o\n\
             \n\
             define x\n\
             obj-m += defined.o\n\
             endef\n\
             x-objs := \\# not-a-comment\n\
             obj-m += last.o\n",
        );
        assert_eq!(
            names(&u),
            vec![
                ("obj-m".into(), vec![], 2),
                ("x-objs".into(), vec![], 10),
                ("obj-m".into(), vec![], 11)
            ]
        );
        assert_eq!(show(&u.assign_words(0)), ["a.o", "b.o"]);
        assert_eq!(show(&u.assign_words(1)), ["#", "not-a-comment"]);
    }

    #[test]
    fn conditionals_are_recorded_on_both_branches() {
        let u = unit(
            "ifdef CONFIG_A\n\
             obj-m += a.o\n\
             else ifeq ($(CONFIG_B),y)\n\
             obj-m += b.o\n\
             else\n\
             obj-m += c.o\n\
             endif\n\
             obj-m += d.o\n",
        );
        let conds: Vec<Vec<(String, bool)>> = u
            .assigns
            .iter()
            .map(|a| {
                a.conds
                    .iter()
                    .map(|c| (c.directive.clone(), c.negated))
                    .collect()
            })
            .collect();
        assert_eq!(
            conds,
            vec![
                vec![("ifdef CONFIG_A".into(), false)],
                vec![
                    ("ifdef CONFIG_A".into(), true),
                    ("ifeq ($(CONFIG_B),y)".into(), false)
                ],
                vec![
                    ("ifdef CONFIG_A".into(), true),
                    ("ifeq ($(CONFIG_B),y)".into(), true)
                ],
                vec![],
            ]
        );
    }

    #[test]
    fn variables_and_functions() {
        let u = unit(
            "plat-$(CONFIG_P) += p/\n\
             plat-y += q/\n\
             obj-y := $(plat-y)\n\
             machine-$(CONFIG_M) += foo\n\
             dirs := $(patsubst %,mach-%/,$(machine-y))\n\
             obj-y += $(dirs) $(addprefix sub/,x.o y.o) $(addsuffix /,z)\n\
             obj-$(CONFIG_K) += $(if $(CONFIG_L),k.o) $(BITS)_x.o head$(BITS).o\n\
             later = $(late)\n\
             late := l.o\n\
             obj-m += $(later) $(sort b.o a.o b.o) $(filter %.o,a.o b/) $(foreach d,a b,$(d)/)\n\
             obj-m += $(obj)/x.o $(notdir a/b.o) $(basename a/b.c)\n",
        );
        assert_eq!(show(&u.assign_words(2)), ["p/[P]", "q/"]);
        assert_eq!(
            show(&u.assign_words(5)),
            ["mach-foo/[M]", "sub/x.o", "sub/y.o", "z/"]
        );
        assert_eq!(
            show(&u.assign_words(6)),
            ["k.o[K,L]", "_x.o[K]!", "head.o[K]!"]
        );
        assert_eq!(
            show(&u.assign_words(9)),
            ["l.o", "a.o", "b.o", "a.o", "a/", "b/"]
        );
        assert_eq!(show(&u.assign_words(10)), ["drivers/net/x.o", "b.o", "a/b"]);
    }

    #[test]
    fn self_reference_sees_earlier_values() {
        let u = unit("libs-y := lib/\nlibs-y := arch/x/lib/ $(libs-y)\n");
        assert_eq!(show(&u.value("libs-y")), ["lib/", "arch/x/lib/", "lib/"]);
    }

    #[test]
    fn normalize_paths() {
        assert_eq!(normalize("a/b", "../c/").as_deref(), Some("a/c"));
        assert_eq!(
            normalize("", "./arch/x86/Makefile").as_deref(),
            Some("arch/x86/Makefile")
        );
        assert_eq!(normalize("a", "../../x"), None);
        assert_eq!(normalize("a", "/x"), None);
    }
}
