//! The Kconfig lexer: tokens, quoted strings, help text with its indentation
//! rules, `source` file nesting, and macro expansion at lex time.

use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::diag::Messages;
use crate::preprocess::{Location, Preprocessor};

/// Keywords of the Kconfig language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kw {
    Bool,
    Choice,
    Comment,
    Config,
    DefBool,
    DefTristate,
    Default,
    Depends,
    EndChoice,
    EndIf,
    EndMenu,
    Help,
    Hex,
    If,
    Imply,
    Int,
    MainMenu,
    Menu,
    MenuConfig,
    Modules,
    On,
    Optional,
    Prompt,
    Range,
    Select,
    Source,
    String,
    Transitional,
    Tristate,
    Visible,
}

/// A token as the parser sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    Eol,
    Eof,
    Word(String),
    WordQuote(String),
    HelpText(String),
    AssignVal(String),
    Kw(Kw),
    Or,
    And,
    Equal,
    Unequal,
    Less,
    LessEqual,
    Greater,
    GreaterEqual,
    Not,
    OpenParen,
    CloseParen,
    ColonEqual,
    PlusEqual,
}

fn keyword(w: &str, with_optional: bool, with_transitional: bool) -> Option<Kw> {
    Some(match w {
        "bool" => Kw::Bool,
        "choice" => Kw::Choice,
        "comment" => Kw::Comment,
        "config" => Kw::Config,
        "def_bool" => Kw::DefBool,
        "def_tristate" => Kw::DefTristate,
        "default" => Kw::Default,
        "depends" => Kw::Depends,
        "endchoice" => Kw::EndChoice,
        "endif" => Kw::EndIf,
        "endmenu" => Kw::EndMenu,
        "help" => Kw::Help,
        "hex" => Kw::Hex,
        "if" => Kw::If,
        "imply" => Kw::Imply,
        "int" => Kw::Int,
        "mainmenu" => Kw::MainMenu,
        "menu" => Kw::Menu,
        "menuconfig" => Kw::MenuConfig,
        "modules" => Kw::Modules,
        "on" => Kw::On,
        "optional" if with_optional => Kw::Optional,
        "prompt" => Kw::Prompt,
        "range" => Kw::Range,
        "select" => Kw::Select,
        "source" => Kw::Source,
        "string" => Kw::String,
        "transitional" if with_transitional => Kw::Transitional,
        "tristate" => Kw::Tristate,
        "visible" => Kw::Visible,
        _ => return None,
    })
}

fn is_word_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
}

/// A fatal error while lexing (the kernel exits at once for these).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct LexFatal(pub String);

struct Buffer {
    name: Rc<str>,
    text: String,
    pos: usize,
    line: u32,
    /// The statement line of the `source` that opened this file.
    source_line: u32,
    /// The physical line that `source` ended on (what 6.1 reports).
    source_phys_line: u32,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Initial,
    AssignVal,
    Help,
}

/// The lexer over a stack of open Kconfig files.
pub struct Lexer {
    bufs: Vec<Buffer>,
    srctree: Option<PathBuf>,
    state: State,
    prev: TokKind,
    prev_prev: TokKind,
    /// The line of the current statement (the kernel's `cur_lineno`, or
    /// 6.1's `current_pos.lineno`).
    pub cur_line: u32,
    /// 6.1's `current_pos.file`: the file the current statement started in
    /// (None once the top file has been closed).
    stmt_file: Option<Rc<str>>,
    /// Linux 6.1 rules: `optional` is a keyword, messages name the file the
    /// statement started in, and the top file's end also yields an end of line.
    v61: bool,
    /// Linux 6.18 rules: `transitional` is a keyword, and a file sourced a
    /// second time is an error.
    pub v618: bool,
    /// Where each file was first sourced from (file, statement line); the
    /// top file has none.
    first_inclusion: Vec<(Rc<str>, u32)>,
    /// 6.1: the top file has ended (its end of line has been returned).
    top_closed: bool,
    pub msgs: Messages,
    /// Every file opened, in order (for auto.conf.cmd).
    pub files: Vec<Rc<str>>,
    /// When recording (for a parsed-tree cache): every path tried, in
    /// order, with the bytes read or `None` where it could not be read.
    pub record: Option<Vec<crate::snapshot::FileInput>>,
    // help text state
    help_first_ts: usize,
    help_last_ts: usize,
    help_text: String,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum TokKind {
    Eol,
    HelpText,
    Word,
    Other,
}

fn kind_of(t: &Tok) -> TokKind {
    match t {
        Tok::Eol => TokKind::Eol,
        Tok::HelpText(_) => TokKind::HelpText,
        Tok::Word(_) => TokKind::Word,
        _ => TokKind::Other,
    }
}

/// Open `name` as the kernel's `zconf_fopen` does: as given, then under srctree.
pub fn open_kconfig(name: &str, srctree: Option<&Path>) -> Option<String> {
    open_recorded(name, srctree, None)
}

/// [`open_kconfig`], noting every path tried (with what it held) in `rec`.
fn open_recorded(
    name: &str,
    srctree: Option<&Path>,
    mut rec: Option<&mut Vec<crate::snapshot::FileInput>>,
) -> Option<String> {
    let mut read = |p: &Path| {
        let bytes = std::fs::read(p).ok();
        if let Some(rec) = rec.as_deref_mut() {
            rec.push(crate::snapshot::FileInput {
                path: p.to_path_buf(),
                content: bytes.clone(),
            });
        }
        bytes.map(|b| match String::from_utf8(b) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    };
    if let Some(t) = read(Path::new(name)) {
        return Some(t);
    }
    if !name.starts_with('/') {
        if let Some(st) = srctree {
            return read(&st.join(name));
        }
    }
    None
}

impl Lexer {
    /// Start lexing the top-level file `name`.
    pub fn new(name: &str, srctree: Option<PathBuf>, v61: bool) -> Result<Self, LexFatal> {
        Self::with_recording(name, srctree, v61, None)
    }

    /// [`Lexer::new`], recording every file read into `record` when given
    /// (see [`Lexer::record`]); the top file is recorded even when missing.
    pub fn with_recording(
        name: &str,
        srctree: Option<PathBuf>,
        v61: bool,
        mut record: Option<Vec<crate::snapshot::FileInput>>,
    ) -> Result<Self, LexFatal> {
        let Some(text) = open_recorded(name, srctree.as_deref(), record.as_mut()) else {
            return Err(LexFatal(format!("can't find file {name}")));
        };
        let name: Rc<str> = name.into();
        Ok(Lexer {
            bufs: vec![Buffer {
                name: name.clone(),
                text,
                pos: 0,
                line: 1,
                source_line: 0,
                source_phys_line: 0,
            }],
            srctree,
            state: State::Initial,
            prev: TokKind::Eol,
            prev_prev: TokKind::Eol,
            cur_line: 1,
            stmt_file: None,
            v61,
            v618: false,
            first_inclusion: vec![("".into(), 0)],
            top_closed: false,
            msgs: Messages::default(),
            files: vec![name],
            record,
            help_first_ts: 0,
            help_last_ts: 0,
            help_text: String::new(),
        })
    }

    /// The file currently being read.
    pub fn cur_file(&self) -> Rc<str> {
        self.bufs
            .last()
            .map(|b| b.name.clone())
            .unwrap_or_else(|| "".into())
    }

    /// The file being read, None once 6.1 has closed the top file (its
    /// `current_file`).
    pub fn open_file(&self) -> Option<Rc<str>> {
        if self.top_closed {
            None
        } else {
            self.bufs.last().map(|b| b.name.clone())
        }
    }

    /// The file the parser's messages name: 6.1's `zconf_curname()` (where
    /// the current statement started, `<none>` after the top file closed),
    /// 6.12's `cur_filename` (the file being read).
    pub fn msg_file(&self) -> Rc<str> {
        if self.v61 {
            self.stmt_file.clone().unwrap_or_else(|| "<none>".into())
        } else {
            self.cur_file()
        }
    }

    /// The physical line being read (the kernel's `yylineno`).
    pub fn phys_line(&self) -> u32 {
        self.bufs.last().map_or(0, |b| b.line)
    }

    /// Open a `source`d file; errors on a missing file or recursive inclusion.
    pub fn push_file(&mut self, name: &str) -> Result<(), LexFatal> {
        let cur = self.msg_file();
        let Some(text) = open_recorded(name, self.srctree.as_deref(), self.record.as_mut()) else {
            return Err(LexFatal(format!(
                "{}:{}: can't open file \"{}\"",
                cur, self.cur_line, name
            )));
        };
        if self.bufs.iter().any(|b| &*b.name == name) {
            let mut m = String::from("Recursive inclusion detected.\nInclusion path:\n");
            m.push_str(&format!("  current file : {name}\n"));
            let mut lines: Vec<String> = Vec::new();
            // innermost first: the file doing the source, at this statement.
            // 6.1 names the line the statement ended on and stops at the
            // file included again; 6.12 goes up to the top file.
            let mut src_line = if self.v61 {
                self.phys_line() - 1
            } else {
                self.cur_line
            };
            for b in self.bufs.iter().rev() {
                lines.push(format!("  included from: {}:{}", b.name, src_line));
                if self.v61 && &*b.name == name {
                    break;
                }
                src_line = if self.v61 {
                    b.source_phys_line
                } else {
                    b.source_line
                };
            }
            m.push_str(&lines.join("\n"));
            return Err(LexFatal(m));
        }
        let name: Rc<str> = match self.files.iter().position(|f| &**f == name) {
            Some(i) if self.v618 => {
                let (first, first_line) = &self.first_inclusion[i];
                return Err(LexFatal(format!(
                    "{}:{}: error: repeated inclusion of {name}\n\
                     {first}:{first_line}: note: location of first inclusion of {name}",
                    self.cur_file(),
                    self.cur_line,
                )));
            }
            Some(i) => self.files[i].clone(),
            None => {
                let f: Rc<str> = name.into();
                self.files.push(f.clone());
                self.first_inclusion.push((self.cur_file(), self.cur_line));
                f
            }
        };
        self.bufs.push(Buffer {
            name,
            text,
            pos: 0,
            line: 1,
            source_line: self.cur_line,
            source_phys_line: self.phys_line() - 1,
        });
        Ok(())
    }

    /// Switch to help-text mode (after `help` and its end of line).
    pub fn start_help(&mut self) {
        self.state = State::Help;
        self.help_first_ts = 0;
        self.help_last_ts = 0;
    }

    /// The next token for the parser.
    pub fn next(&mut self, pp: &mut Preprocessor) -> Result<Tok, LexFatal> {
        loop {
            let tok = self.lex1(pp)?;
            if self.prev == TokKind::Eol || self.prev == TokKind::HelpText {
                if tok == Tok::Eol {
                    continue;
                }
                self.cur_line = self.bufs.last().map(|b| b.line).unwrap_or(self.cur_line);
                self.stmt_file = self.open_file();
            }
            if self.prev_prev == TokKind::Eol
                && self.prev == TokKind::Word
                && matches!(tok, Tok::Equal | Tok::ColonEqual | Tok::PlusEqual)
            {
                self.state = State::AssignVal;
            }
            self.prev_prev = self.prev;
            self.prev = kind_of(&tok);
            return Ok(tok);
        }
    }

    fn warn_char(&mut self, c: char) {
        let b = self.bufs.last().unwrap();
        let m = format!(
            "{}:{}:warning: ignoring unsupported character '{}'",
            b.name, b.line, c
        );
        self.msgs.err(m);
    }

    fn at_eof(&mut self) -> Tok {
        self.state = State::Initial;
        if self.top_closed {
            return Tok::Eof;
        }
        if self.prev != TokKind::Eol && self.prev != TokKind::HelpText {
            let b = self.bufs.last().unwrap();
            let m = format!("{}:{}:warning: no new line at end of file", b.name, b.line);
            self.msgs.err(m);
        }
        if self.bufs.len() > 1 {
            self.bufs.pop();
            Tok::Eol
        } else if self.v61 {
            // 6.1 closes the top file like any other (its line count stays)
            // and returns an end of line; the end of input comes next.
            self.top_closed = true;
            Tok::Eol
        } else {
            // stay at EOF
            Tok::Eof
        }
    }

    fn lex1(&mut self, pp: &mut Preprocessor) -> Result<Tok, LexFatal> {
        loop {
            let state = self.state;
            let b = self.bufs.last_mut().unwrap();
            let bytes = b.text.as_bytes();
            if b.pos >= bytes.len() {
                if state == State::Help {
                    return Ok(self.end_help());
                }
                return Ok(self.at_eof());
            }
            match state {
                State::Initial => {}
                State::AssignVal => {
                    let c = bytes[b.pos];
                    if c == b'\n' {
                        b.pos += 1;
                        b.line += 1;
                        self.state = State::Initial;
                        return Ok(Tok::Eol);
                    }
                    if c == b' ' || c == b'\t' {
                        b.pos += 1;
                        continue;
                    }
                    let end = memchr_nl(bytes, b.pos);
                    let v = b.text[b.pos..end].to_string();
                    b.pos = end;
                    return Ok(Tok::AssignVal(v));
                }
                State::Help => {
                    if let Some(t) = self.lex_help() {
                        return Ok(t);
                    }
                    continue;
                }
            }
            let b = self.bufs.last_mut().unwrap();
            let bytes = b.text.as_bytes();
            let c = bytes[b.pos];
            match c {
                b'#' => {
                    b.pos = memchr_nl(bytes, b.pos);
                }
                b' ' | b'\t' => b.pos += 1,
                b'\\' if bytes.get(b.pos + 1) == Some(&b'\n') => {
                    b.pos += 2;
                    b.line += 1;
                }
                b'\n' => {
                    b.pos += 1;
                    b.line += 1;
                    return Ok(Tok::Eol);
                }
                b'"' | b'\'' => {
                    b.pos += 1;
                    return self.lex_string(c, pp);
                }
                _ if is_word_char(c) || c == b'$' => {
                    let start = b.pos;
                    let mut end = start;
                    let mut dollar = false;
                    while end < bytes.len() && (is_word_char(bytes[end]) || bytes[end] == b'$') {
                        dollar |= bytes[end] == b'$';
                        end += 1;
                    }
                    if !dollar {
                        let w = &b.text[start..end];
                        b.pos = end;
                        if let Some(k) = keyword(w, self.v61, self.v618) {
                            return Ok(Tok::Kw(k));
                        }
                        return Ok(Tok::Word(w.to_string()));
                    }
                    let line_end = memchr_nl(bytes, start);
                    let input = b.text[start..line_end].to_string();
                    let file = self.cur_file();
                    let loc = Location {
                        file: &file,
                        line: self.phys_line(),
                    };
                    let (out, used) = pp
                        .expand_one_token(&input, loc, &mut self.msgs)
                        .map_err(|e| LexFatal(e.0))?;
                    let b = self.bufs.last_mut().unwrap();
                    b.pos = start + used.max(1).min(input.len());
                    if !out.is_empty() {
                        return Ok(Tok::Word(out));
                    }
                }
                _ => {
                    let two = bytes.get(b.pos + 1).copied();
                    let (tok, n) = match (c, two) {
                        (b'|', Some(b'|')) => (Some(Tok::Or), 2),
                        (b'&', Some(b'&')) => (Some(Tok::And), 2),
                        (b'!', Some(b'=')) => (Some(Tok::Unequal), 2),
                        (b'<', Some(b'=')) => (Some(Tok::LessEqual), 2),
                        (b'>', Some(b'=')) => (Some(Tok::GreaterEqual), 2),
                        (b':', Some(b'=')) => (Some(Tok::ColonEqual), 2),
                        (b'+', Some(b'=')) => (Some(Tok::PlusEqual), 2),
                        (b'=', _) => (Some(Tok::Equal), 1),
                        (b'<', _) => (Some(Tok::Less), 1),
                        (b'>', _) => (Some(Tok::Greater), 1),
                        (b'!', _) => (Some(Tok::Not), 1),
                        (b'(', _) => (Some(Tok::OpenParen), 1),
                        (b')', _) => (Some(Tok::CloseParen), 1),
                        _ => (None, 0),
                    };
                    if let Some(t) = tok {
                        b.pos += n;
                        return Ok(t);
                    }
                    // one (possibly multi-byte) character
                    let ch = b.text[b.pos..].chars().next().unwrap_or('?');
                    b.pos += ch.len_utf8();
                    self.warn_char(ch);
                }
            }
        }
    }

    fn lex_string(&mut self, quote: u8, pp: &mut Preprocessor) -> Result<Tok, LexFatal> {
        let mut out = String::new();
        loop {
            let b = self.bufs.last_mut().unwrap();
            let bytes = b.text.as_bytes();
            if b.pos >= bytes.len() {
                return Ok(Tok::WordQuote(out));
            }
            let c = bytes[b.pos];
            match c {
                b'$' => {
                    let line_end = memchr_nl(bytes, b.pos);
                    let input = b.text[b.pos + 1..line_end].to_string();
                    let start = b.pos + 1;
                    let file = self.cur_file();
                    let loc = Location {
                        file: &file,
                        line: self.phys_line(),
                    };
                    let (res, used) = pp
                        .expand_dollar(&input, loc, &mut self.msgs)
                        .map_err(|e| LexFatal(e.0))?;
                    let b = self.bufs.last_mut().unwrap();
                    b.pos = start + used.min(input.len());
                    out.push_str(&res);
                }
                b'\\' => {
                    b.pos += 1;
                    if let Some(&n) = bytes.get(b.pos) {
                        if n != b'\n' {
                            let ch = b.text[b.pos..].chars().next().unwrap_or('\\');
                            out.push(ch);
                            b.pos += ch.len_utf8();
                        }
                    }
                }
                b'\n' => {
                    let m = format!(
                        "{}:{}:warning: multi-line strings not supported",
                        b.name, self.cur_line
                    );
                    self.msgs.err(m);
                    return Ok(Tok::WordQuote(out));
                }
                b'"' | b'\'' => {
                    b.pos += 1;
                    if c == quote {
                        return Ok(Tok::WordQuote(out));
                    }
                    out.push(c as char);
                }
                _ => {
                    let mut end = b.pos;
                    while end < bytes.len()
                        && !matches!(bytes[end], b'$' | b'\'' | b'"' | b'\\' | b'\n')
                    {
                        end += 1;
                    }
                    out.push_str(&b.text[b.pos..end]);
                    b.pos = end;
                }
            }
        }
    }

    fn end_help(&mut self) -> Tok {
        self.state = State::Initial;
        let t = std::mem::take(&mut self.help_text);
        Tok::HelpText(t)
    }

    /// One step of help-text lexing; Some(token) when the help text ends.
    fn lex_help(&mut self) -> Option<Tok> {
        let b = self.bufs.last_mut().unwrap();
        let bytes = b.text.as_bytes();
        let start = b.pos;
        // leading blanks
        let mut i = start;
        while i < bytes.len() && (bytes[i] == b' ' || bytes[i] == b'\t') {
            i += 1;
        }
        if i >= bytes.len() {
            // blanks then EOF: flex matches [ \t]+ first
            if i > start {
                b.pos = i;
                let ts = tab_width(&bytes[start..i]);
                return self.help_indent(ts);
            }
            return Some(self.end_help());
        }
        if bytes[i] == b'\n' {
            // [ \t]*\n, with trailing context deciding whether help ends
            let next = bytes.get(i + 1).copied();
            b.pos = i + 1;
            b.line += 1;
            match next {
                Some(c) if c != b' ' && c != b'\t' && c != b'\n' => return Some(self.end_help()),
                _ => {
                    self.help_text.push('\n');
                    return None;
                }
            }
        }
        if i > start {
            b.pos = i;
            let ts = tab_width(&bytes[start..i]);
            return self.help_indent(ts);
        }
        // text up to end of line, trailing blanks stripped
        let end = memchr_nl(bytes, start);
        let mut e = end;
        while e > start && (bytes[e - 1] == b' ' || bytes[e - 1] == b'\t') {
            e -= 1;
        }
        let s = b.text[start..e].to_string();
        b.pos = end;
        self.help_text.push_str(&s);
        if self.help_first_ts == 0 {
            self.help_first_ts = self.help_last_ts;
        }
        None
    }

    fn help_indent(&mut self, ts: usize) -> Option<Tok> {
        self.help_last_ts = ts;
        if self.help_first_ts != 0 {
            if ts < self.help_first_ts {
                return Some(self.end_help());
            }
            let extra = ts - self.help_first_ts;
            for _ in 0..extra {
                self.help_text.push(' ');
            }
        }
        None
    }
}

fn tab_width(ws: &[u8]) -> usize {
    let mut ts = 0;
    for &c in ws {
        if c == b'\t' {
            ts = (ts & !7) + 8;
        } else {
            ts += 1;
        }
    }
    ts
}

fn memchr_nl(bytes: &[u8], from: usize) -> usize {
    bytes[from..]
        .iter()
        .position(|&c| c == b'\n')
        .map_or(bytes.len(), |p| from + p)
}
