//! Reading and writing configuration files: `.config` (with the kernel's
//! warnings and exact layout), minimal defconfigs, and syncconfig's
//! `auto.conf`, `autoconf.h`, `rustc_cfg`, `auto.conf.cmd` and
//! `include/config/*` dependency files.

use std::borrow::Cow;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::rc::Rc;

use crate::expr::Tri;
use crate::menu::ROOT_MENU;
use crate::symbol::{flags, DefSlot, SymType, SymbolId};
use crate::{Dialect, Kconfig};

/// A configuration file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("config name is empty")]
    EmptyName,
    #[error("{0}: Is a directory")]
    IsDirectory(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// The bytes of `path` as the C conf reads a file it could `fopen`: what
/// its reads gave before the first one that failed. A directory opens and
/// its first read fails (`EISDIR`), so it reads as an empty file, as
/// `conf --defconfig=arch/powerpc/configs/44x` does. `None` when it cannot
/// be opened at all (missing, no permission).
fn read_opened(path: &Path) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut f = fs::File::open(path).ok()?;
    let mut buf = Vec::new();
    // An error ends the file, keeping what came before it (C's getline loop).
    let _ = f.read_to_end(&mut buf);
    Some(buf)
}

fn io_err(path: &str) -> impl FnOnce(std::io::Error) -> WriteError + '_ {
    move |source| WriteError::Io {
        path: path.to_string(),
        source,
    }
}

/// Escape a string value in double quotes, backslash before `"` and `\`.
pub fn escape_string(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    out.push('"');
    for c in v.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// One setting of a `.config` text, as [`parse_config`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry<'t> {
    /// The symbol's name, without the prefix.
    pub name: &'t str,
    /// The value: `n` for `# CONFIG_X is not set`; a quoted value without
    /// its quotes and with `\` escapes undone; anything else as written.
    pub value: Cow<'t, str>,
    /// What follows `=`, exactly as written (quotes and escapes kept);
    /// `None` for `# CONFIG_X is not set`.
    pub written: Option<&'t str>,
    /// The line number, from 1.
    pub line: u32,
}

impl ConfigEntry<'_> {
    /// Whether the line was `# CONFIG_X is not set`.
    pub fn is_unset(&self) -> bool {
        self.written.is_none()
    }
}

/// The settings of a `.config` text, in file order, read as the kernel's
/// `conf` (6.12 `conf_read_simple`) reads lines, with `prefix` for
/// `CONFIG_` (the value of the `CONFIG_` environment variable, see
/// [`Kconfig::prefix`]):
///
/// - `CONFIG_X=v` sets `X` to `v` (the line's `\n` and a `\r` before it
///   are not part of the value);
/// - `# CONFIG_X is not set`, exactly (one space after `#`, nothing after
///   `set`), sets `X` to `n`;
/// - a value starting with `"` is a string: it ends at the next unescaped
///   `"` (anything after is ignored) and `\c` stands for `c`; a string
///   without its closing quote sets nothing (conf says "invalid string
///   found");
/// - every other line (comments, blank lines, other prefixes, lines
///   without `=`, an empty name) sets nothing.
///
/// Symbol types are not known here, so values are not checked: `conf`
/// would still reject `CONFIG_B=x` for a bool, or an unquoted value for a
/// string. A name that appears twice gives two entries; the last one wins,
/// as in `conf` (which warns "override").
pub fn parse_config<'t>(text: &'t str, prefix: &str) -> Vec<ConfigEntry<'t>> {
    let mut out = Vec::new();
    let mut rest = text;
    let mut line = 0u32;
    while !rest.is_empty() {
        line += 1;
        let raw = match rest.split_once('\n') {
            Some((l, more)) => {
                rest = more;
                l.strip_suffix('\r').unwrap_or(l)
            }
            None => std::mem::take(&mut rest),
        };
        if let Some(mut e) = parse_config_line(raw, prefix) {
            e.line = line;
            out.push(e);
        }
    }
    out
}

/// One line of a `.config` text (without its line end), as [`parse_config`]
/// reads it; `line` is 1 in the result.
pub fn parse_config_line<'t>(line: &'t str, prefix: &str) -> Option<ConfigEntry<'t>> {
    let (name, value, written) = if line.starts_with('#') {
        (unset_symbol(line, prefix, true)?, Cow::Borrowed("n"), None)
    } else {
        let (name, v) = line.strip_prefix(prefix)?.split_once('=')?;
        let value = match v.strip_prefix('"') {
            Some(_) => Cow::Owned(unquote(v)?),
            None => Cow::Borrowed(v),
        };
        (name, value, Some(v))
    };
    (!name.is_empty()).then_some(ConfigEntry {
        name,
        value,
        written,
        line: 1,
    })
}

/// The string a `.config` value in double quotes stands for: up to the
/// first unescaped `"`, with `\c` read as `c`; `None` without quotes or
/// the closing one. The inverse of [`escape_string`].
pub fn unquote(v: &str) -> Option<String> {
    let inner = v.strip_prefix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut it = inner.chars();
    while let Some(c) = it.next() {
        match c {
            '"' => return Some(out),
            '\\' => out.push(it.next()?),
            c => out.push(c),
        }
    }
    None
}

/// The symbol named by a `# CONFIG_X is not set` line; `exact` rejects
/// anything after "is not set" (6.12), otherwise only the start is checked (6.1).
fn unset_symbol<'l>(line: &'l str, prefix: &str, exact: bool) -> Option<&'l str> {
    let p = line.strip_prefix("# ")?.strip_prefix(prefix)?;
    let sp = byte_position(p, b' ')?;
    let rest = &p[sp + 1..];
    let ok = if exact {
        rest == "is not set"
    } else {
        rest.starts_with("is not set")
    };
    ok.then(|| &p[..sp])
}

/// Where `byte` (ASCII) first is in `s`: a plain loop, which beats a
/// general search on the short lines of a `.config`.
fn byte_position(s: &str, byte: u8) -> Option<usize> {
    s.as_bytes().iter().position(|&b| b == byte)
}

fn make_parent_dir(path: &str) -> std::io::Result<()> {
    if let Some(parent) = Path::new(path).parent() {
        if !parent.as_os_str().is_empty() {
            fs::create_dir_all(parent)?;
        }
    }
    Ok(())
}

enum Style {
    Pound,
    C,
}

impl Kconfig {
    /// The `.config` path: `KCONFIG_CONFIG` or `.config`.
    pub fn config_name(&self) -> String {
        self.getenv("KCONFIG_CONFIG")
            .unwrap_or_else(|| ".config".to_string())
    }

    fn env_or(&self, k: &str, d: &str) -> String {
        self.getenv(k).unwrap_or_else(|| d.to_string())
    }

    /// An informational message (`#\n# text\n#` on stdout) unless silent.
    pub fn conf_message(&mut self, text: &str) {
        if !self.silent {
            self.messages.out(format!("#\n# {text}\n#"));
        }
    }

    fn conf_warning(&mut self, file: &str, line: u32, text: &str) {
        self.messages.err(format!("{file}:{line}:warning: {text}"));
        self.conf_warnings += 1;
    }

    /// Were there warnings while reading that `KCONFIG_WERROR` turns into errors?
    pub fn conf_errors(&self) -> bool {
        self.conf_warnings > 0 && self.getenv("KCONFIG_WERROR").is_some()
    }

    /// Were there unmet-dependency warnings that `KCONFIG_WERROR` makes fatal?
    pub fn dep_errors(&self) -> bool {
        self.sym_warnings > 0 && self.getenv("KCONFIG_WERROR").is_some()
    }

    /// The bytes of a configuration file, found as the kernel's
    /// `zconf_fopen` finds it (as named, else under `$srctree` when
    /// relative); `None` when it cannot be opened.
    fn open_conf(&self, name: &str) -> Option<Vec<u8>> {
        if let Some(b) = self.config_overlay.get(name) {
            return Some(b.clone());
        }
        if let Some(b) = read_opened(Path::new(name)) {
            return Some(b);
        }
        if !name.starts_with('/') {
            if let Some(st) = &self.srctree {
                return read_opened(&st.join(name));
            }
        }
        None
    }

    /// Read a configuration file into the user (or auto) values; true when
    /// no file could be read (the kernel's `conf_read_simple` returning 1).
    pub fn read_simple(&mut self, name: Option<&str>, slot: DefSlot) -> bool {
        let (name, data) = match name {
            Some(n) => match self.open_conf(n) {
                Some(d) => (n.to_string(), d),
                None => return true,
            },
            None => {
                let n = self.config_name();
                match self.open_conf(&n) {
                    Some(d) => (n, d),
                    None => {
                        self.changed = true;
                        let Some(list) = self.getenv("KCONFIG_DEFCONFIG_LIST") else {
                            return true;
                        };
                        let mut found = None;
                        for cand in list.split_ascii_whitespace() {
                            if let Some(d) = self.open_conf(cand) {
                                found = Some((cand.to_string(), d));
                                break;
                            }
                        }
                        match found {
                            Some((n, d)) => {
                                self.conf_message(&format!("using defaults found in {n}"));
                                (n, d)
                            }
                            None => return true,
                        }
                    }
                }
            }
        };
        self.load_values(&name, &data, slot);
        false
    }

    fn load_values(&mut self, fname: &str, data: &[u8], slot: DefSlot) {
        let d = slot as usize;
        let def_flag = if slot == DefSlot::User {
            flags::DEF_USER
        } else {
            flags::DEF_AUTO
        };
        let warn_unknown = self.getenv("KCONFIG_WARN_UNKNOWN_SYMBOLS").is_some();
        self.conf_warnings = 0;
        let v61 = self.dialect == Dialect::V6_1;
        for s in &mut self.symbols[3..] {
            s.flags &= !def_flag;
            s.def[d] = Default::default();
        }
        self.memo.forget();
        if v61 {
            // 6.1 invalidates every value on any load and counts each choice
            // as set in the slot being loaded (its members then say which).
            for i in 3..self.symbols.len() {
                self.symbols[i].flags &= !flags::VALID;
                if self.is_choice(SymbolId(i as u32)) {
                    self.symbols[i].flags |= def_flag;
                }
            }
        } else if slot == DefSlot::User {
            for s in &mut self.symbols[3..] {
                s.flags &= !flags::VALID;
            }
        }
        let prefix = self.prefix.clone();
        // Validating as UTF-8 first is the fast path (word at a time).
        let text = match std::str::from_utf8(data) {
            Ok(t) => Cow::Borrowed(t),
            Err(_) => String::from_utf8_lossy(data),
        };
        let has_nul = text.contains('\0');
        let mut lineno = 0u32;
        let mut rest: &str = &text;
        while !rest.is_empty() {
            let (raw, more) = match byte_position(rest, b'\n') {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (rest, ""),
            };
            rest = more;
            lineno += 1;
            // The C tool reads a line whole and then handles it as a C
            // string: whatever follows a NUL byte is not there.
            let raw = match has_nul.then(|| raw.find('\0')).flatten() {
                Some(i) => &raw[..i],
                None => raw,
            };
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            let (sym_name, val): (&str, &str);
            if v61 {
                if raw.starts_with('#') {
                    // 6.1 compares only the first 10 bytes of "is not set"
                    let Some(n) = unset_symbol(raw, &prefix, false) else {
                        continue;
                    };
                    sym_name = n;
                    val = "n";
                } else if let Some(p) = raw.strip_prefix(&*prefix) {
                    let Some(eq) = byte_position(p, b'=') else {
                        continue;
                    };
                    sym_name = &p[..eq];
                    val = p[eq + 1..].strip_suffix('\r').unwrap_or(&p[eq + 1..]);
                } else {
                    if !raw.is_empty() && !raw.starts_with('\r') {
                        let shown = raw.split(['\r', '\n']).next().unwrap_or("");
                        self.conf_warning(fname, lineno, &format!("unexpected data: {shown}"));
                    }
                    continue;
                }
            } else {
                if line.is_empty() {
                    continue;
                }
                if line.starts_with('#') {
                    let Some(n) = unset_symbol(line, &prefix, true) else {
                        continue;
                    };
                    sym_name = n;
                    val = "n";
                } else {
                    let Some(p) = line.strip_prefix(&*prefix) else {
                        self.conf_warning(fname, lineno, &format!("unexpected data: {line}"));
                        continue;
                    };
                    let Some(eq) = byte_position(p, b'=') else {
                        self.conf_warning(fname, lineno, &format!("unexpected data: {line}"));
                        continue;
                    };
                    sym_name = &p[..eq];
                    val = &p[eq + 1..];
                }
            }
            let Some(sym) = self.find(sym_name).filter(|s| s.0 >= 3) else {
                if slot == DefSlot::Auto {
                    self.touch_dep(sym_name);
                } else {
                    if warn_unknown {
                        self.conf_warning(fname, lineno, &format!("unknown symbol: {sym_name}"));
                    }
                    self.changed = true;
                }
                continue;
            };
            if self.has_flag(sym, def_flag) {
                let n = self.sym(sym).display_name().to_string();
                self.conf_warning(
                    fname,
                    lineno,
                    &format!("override: reassigning to symbol {n}"),
                );
            }
            if self.set_sym_val(sym, slot, val, fname, lineno) {
                continue;
            }
            if v61 {
                if self.is_choice_value(sym) {
                    let Some(cs) = self.sym(sym).choice_of else {
                        continue;
                    };
                    let t = self.sym(sym).def[d].tri;
                    match t {
                        Tri::No => {}
                        Tri::Mod => {
                            if self.sym(cs).def[d].tri == Tri::Yes {
                                let n = self.sym(sym).display_name().to_string();
                                self.conf_warning(
                                    fname,
                                    lineno,
                                    &format!("{n} creates inconsistent choice state"),
                                );
                                self.clear_flag(cs, def_flag);
                            }
                        }
                        Tri::Yes => {
                            if self.sym(cs).def[d].tri != Tri::No {
                                let n = self.sym(sym).display_name().to_string();
                                self.conf_warning(
                                    fname,
                                    lineno,
                                    &format!("override: {n} changes choice state"),
                                );
                            }
                            self.sym_mut(cs).def[d].choice = Some(sym);
                        }
                    }
                    let ct = self.sym(cs).def[d].tri;
                    self.sym_mut(cs).def[d].tri = ct.or(t);
                }
            } else if slot == DefSlot::User {
                if let Some(cm) = self.sym(sym).choice_menu {
                    let list = &mut self.menu_mut(cm).choice_members;
                    if let Some(pos) = list.iter().position(|&x| x == sym) {
                        list.remove(pos);
                        list.insert(0, sym);
                    }
                }
            }
        }
    }

    /// Parse one value for `sym`; true when rejected (the kernel's
    /// `conf_set_sym_val` returning 1).
    fn set_sym_val(
        &mut self,
        sym: SymbolId,
        slot: DefSlot,
        p: &str,
        fname: &str,
        lineno: u32,
    ) -> bool {
        let d = slot as usize;
        let def_flag = if slot == DefSlot::User {
            flags::DEF_USER
        } else {
            flags::DEF_AUTO
        };
        let ty = self.sym(sym).ty;
        let name = self.sym(sym).display_name().to_string();
        let first = p.as_bytes().first().copied();
        match ty {
            SymType::Tristate | SymType::Bool => {
                let t = match first {
                    Some(b'm') if ty == SymType::Tristate => Some(Tri::Mod),
                    Some(b'y') => Some(Tri::Yes),
                    Some(b'n') => Some(Tri::No),
                    _ => None,
                };
                match t {
                    Some(t) => {
                        self.sym_mut(sym).def[d].tri = t;
                        self.set_flag(sym, def_flag);
                        false
                    }
                    None => {
                        if slot != DefSlot::Auto {
                            self.conf_warning(
                                fname,
                                lineno,
                                &format!("symbol value '{p}' invalid for {name}"),
                            );
                        }
                        true
                    }
                }
            }
            SymType::String | SymType::Int | SymType::Hex => {
                let mut value = p.to_string();
                if ty == SymType::String && slot != DefSlot::Auto {
                    if !p.starts_with('"') {
                        return false;
                    }
                    let Some(out) = unquote(p) else {
                        self.conf_warning(fname, lineno, "invalid string found");
                        return true;
                    };
                    value = out;
                }
                if self.string_valid(sym, &value) {
                    self.sym_mut(sym).def[d].val = Some(value.into());
                    self.set_flag(sym, def_flag);
                    false
                } else {
                    if slot != DefSlot::Auto {
                        self.conf_warning(
                            fname,
                            lineno,
                            &format!("symbol value '{value}' invalid for {name}"),
                        );
                    }
                    true
                }
            }
            SymType::Unknown => false,
        }
    }

    /// Read `.config` (or `name`) as the user configuration and recompute;
    /// true when nothing could be read (the kernel's `conf_read` returning 1).
    /// From the second read on, a configuration close to one read before
    /// recomputes only what the difference reaches, with the same result.
    pub fn read(&mut self, name: Option<&str>) -> bool {
        self.changed = false;
        let fresh = std::mem::take(&mut self.reuse.restarted);
        self.reuse.started_from = None;
        if self.read_simple(name, DefSlot::User) {
            let m = self.modules_sym;
            self.calc_value(m);
            return true;
        }
        let v61 = self.dialect == Dialect::V6_1;
        self.memo.read_digest = None;
        // What was computed for a configuration read before is kept where
        // this one does not change it (see reuse.rs).
        let reused = fresh && !v61 && self.reuse_read_state();
        self.compute_read_values(v61, reused);
        if self.memo.clean {
            self.reuse.reused += u32::from(reused);
            self.memo.read_digest = Some(self.input_digest());
            if fresh {
                self.save_read_state();
            }
        }
        false
    }

    /// The part of [`Kconfig::read`] after loading: compute every value and
    /// whether the configuration differs from what was read.
    fn compute_read_values(&mut self, v61: bool, reused: bool) {
        // Computing from here on starts afresh when the load invalidated
        // every value (6.1's loads do, but 6.1 changes inputs while it
        // computes), or from values that are what it would give.
        self.memo.clean = reused
            || !v61
                && self.symbols[3..]
                    .iter()
                    .all(|s| s.flags & (flags::VALID | flags::CONST) != flags::VALID);
        let m = self.modules_sym;
        self.calc_value(m);
        let mut unsaved = 0u32;
        for i in 0..self.hash_order.len() {
            // Computed already, each value is only compared with what was
            // read: in the order of the symbols in memory, which is faster.
            let s = if reused {
                SymbolId(i as u32 + 3)
            } else {
                self.hash_order[i]
            };
            self.calc_value(s);
            if self.is_choice(s) || (v61 && self.has_flag(s, flags::NO_WRITE)) {
                continue;
            }
            let has = self.has_value(s);
            let write = self.has_flag(s, flags::WRITE);
            if has && write {
                let sym = self.sym(s);
                let same = match sym.ty {
                    SymType::Bool | SymType::Tristate => sym.def[0].tri == sym.curr.tri,
                    _ => {
                        sym.curr.val.as_deref().unwrap_or("")
                            == sym.def[0].val.as_deref().unwrap_or("")
                    }
                };
                if same {
                    continue;
                }
            } else if !has && !write {
                continue;
            }
            unsaved += 1;
            if !v61 {
                self.changed = true;
            }
        }
        if v61 {
            for i in 0..self.hash_order.len() {
                let s = self.hash_order[i];
                if !self.has_value(s) || self.is_choice_value(s) {
                    continue;
                }
                if self.sym(s).visible == Tri::No && unsaved == 0 {
                    self.clear_flag(s, flags::DEF_USER);
                }
                if matches!(
                    self.sym(s).ty,
                    SymType::String | SymType::Int | SymType::Hex
                ) {
                    let v = self.sym(s).def[0].val.clone().unwrap_or_else(|| "".into());
                    if !self.string_within_range(s, &v) {
                        self.clear_flag(s, flags::VALID | flags::DEF_USER);
                        unsaved += 1;
                    }
                }
            }
            if self.conf_warnings > 0 || unsaved > 0 {
                self.changed = true;
            }
        } else if self.conf_warnings > 0 {
            self.changed = true;
        }
    }

    fn heading(&self, style: Style) -> String {
        let prompt = self.menu_prompt(ROOT_MENU).unwrap_or_else(|| "".into());
        match style {
            Style::Pound => {
                format!("#\n# Automatically generated file; DO NOT EDIT.\n# {prompt}\n#\n")
            }
            Style::C => {
                format!("/*\n * Automatically generated file; DO NOT EDIT.\n * {prompt}\n */\n")
            }
        }
    }

    fn dotconfig_line(&self, s: SymbolId, out: &mut String) {
        let sym = self.sym(s);
        let Some(name) = sym.name.as_deref() else {
            return;
        };
        let val = self.string_value(s);
        match sym.ty {
            SymType::Unknown => {}
            SymType::Bool | SymType::Tristate if &*val == "n" => {
                for part in ["# ", &self.prefix, name, " is not set\n"] {
                    out.push_str(part);
                }
            }
            SymType::String => {
                for part in [&self.prefix, name, "=", &escape_string(&val), "\n"] {
                    out.push_str(part);
                }
            }
            _ => {
                for part in [&self.prefix, name, "=", &val, "\n"] {
                    out.push_str(part);
                }
            }
        }
    }

    /// The text of `.config` for the current values (the kernel's `conf_write`
    /// without the file handling).
    pub fn render_config(&mut self) -> String {
        let mut out = self.heading(Style::Pound);
        if !self.changed {
            // The kernel computes every value again here; when that cannot
            // change a value or print a message, only its mark remains.
            if self.values_settled() {
                self.changed = true;
            } else {
                self.clear_all_valid();
            }
        }
        let v618 = self.dialect >= Dialect::V6_18;
        let mut changed_input = ChangedInput::new(self);
        let mut need_newline = false;
        let mut menu = self.menu(ROOT_MENU).list;
        while let Some(m) = menu {
            let sym = self.menu(m).sym;
            match sym {
                None if self.menu_is_visible(m) => {
                    let p = self.menu_prompt(m).unwrap_or_else(|| "".into());
                    out.push_str(&format!("\n#\n# {p}\n#\n"));
                    need_newline = false;
                }
                Some(s) if !self.is_choice(s) && !self.has_flag(s, flags::WRITTEN) => {
                    self.calc_value(s);
                    if v618 {
                        changed_input.note(self, s);
                        self.set_flag(s, flags::WRITTEN);
                    }
                    if self.has_flag(s, flags::WRITE) {
                        if need_newline {
                            out.push('\n');
                            need_newline = false;
                        }
                        self.set_flag(s, flags::WRITTEN);
                        self.dotconfig_line(s, &mut out);
                    }
                }
                _ => {}
            }
            if let Some(l) = self.menu(m).list {
                menu = Some(l);
                continue;
            }
            let mut cur = m;
            loop {
                let is_menu = self.menu(cur).sym.is_none()
                    && cur != ROOT_MENU
                    && self
                        .menu(cur)
                        .prompt
                        .is_some_and(|p| self.prop(p).kind == crate::PropKind::Menu);
                if is_menu && self.menu_is_visible(cur) {
                    let p = self.menu_prompt(cur).unwrap_or_else(|| "".into());
                    out.push_str(&format!("# end of {p}\n"));
                    need_newline = true;
                }
                if let Some(n) = self.menu(cur).next {
                    menu = Some(n);
                    break;
                }
                match self.menu(cur).parent {
                    Some(p) => cur = p,
                    None => {
                        menu = None;
                        break;
                    }
                }
            }
        }
        for s in &mut self.symbols {
            s.flags &= !flags::WRITTEN;
        }
        changed_input.report(self);
        out
    }

    /// Write `.config` (or `name`) as the kernel does: via a temporary file,
    /// keeping `.old`, and saying "No change" when the content is the same.
    pub fn write(&mut self, name: Option<&str>) -> Result<(), WriteError> {
        let name = name
            .map(str::to_string)
            .unwrap_or_else(|| self.config_name());
        if name.is_empty() {
            return Err(WriteError::EmptyName);
        }
        if Path::new(&name).is_dir() {
            return Err(WriteError::IsDirectory(name));
        }
        make_parent_dir(&name).map_err(io_err(&name))?;
        let text = self.render_config();
        let overwrite = self
            .getenv("KCONFIG_OVERWRITECONFIG")
            .is_some_and(|v| !v.is_empty());
        if overwrite {
            fs::write(&name, text).map_err(io_err(&name))?;
        } else {
            if fs::read(&name).ok().as_deref() == Some(text.as_bytes()) {
                self.conf_message(&format!("No change to {name}"));
                self.changed = false;
                return Ok(());
            }
            let tmp = format!("{}.{}.tmp", name, std::process::id());
            fs::write(&tmp, text).map_err(io_err(&tmp))?;
            let _ = fs::rename(&name, format!("{name}.old"));
            if let Err(e) = fs::rename(&tmp, &name) {
                let _ = fs::remove_file(&tmp);
                return Err(WriteError::Io {
                    path: name,
                    source: e,
                });
            }
        }
        self.conf_message(&format!("configuration written to {name}"));
        self.changed = false;
        Ok(())
    }

    /// The text of a minimal defconfig (the kernel's `conf_write_defconfig`).
    pub fn render_defconfig(&mut self) -> String {
        let mut out = String::new();
        self.clear_all_valid();
        let v618 = self.dialect >= Dialect::V6_18;
        let mut changed_input = ChangedInput::new(self);
        for m in self.all_menus() {
            let Some(s) = self.menu(m).sym else { continue };
            if self.is_choice(s) || self.has_flag(s, flags::WRITTEN) {
                continue;
            }
            self.calc_value(s);
            if v618 {
                changed_input.note(self, s);
                self.set_flag(s, flags::WRITTEN);
            }
            if !self.has_flag(s, flags::WRITE) {
                continue;
            }
            self.clear_flag(s, flags::WRITE);
            if !self.is_changeable(s) {
                continue;
            }
            let v = self.string_value(s);
            let d = self.string_default(s);
            if v == d {
                continue;
            }
            match self.dialect {
                Dialect::V6_12 | Dialect::V6_18 => {
                    if let Some(cm) = self.sym(s).choice_menu {
                        let cs = self.menu(cm).sym.unwrap_or(crate::symbol::SYM_NO);
                        let ds = self.choice_default(cs);
                        if ds == Some(s) && self.tristate_value(s) == Tri::Yes {
                            continue;
                        }
                    }
                }
                Dialect::V6_1 => {
                    if self.is_choice_value(s) {
                        if let Some(cs) = self.sym(s).choice_of {
                            let ds = self.choice_default(cs);
                            if !self.has_flag(cs, flags::OPTIONAL)
                                && ds == Some(s)
                                && self.sym(s).ty == SymType::Bool
                                && self.tristate_value(s) == Tri::Yes
                            {
                                continue;
                            }
                        }
                    }
                }
            }
            self.dotconfig_line(s, &mut out);
        }
        for s in &mut self.symbols {
            s.flags &= !flags::WRITTEN;
        }
        changed_input.report(self);
        out
    }

    /// Write a minimal defconfig to `path`.
    pub fn write_defconfig(&mut self, path: &str) -> Result<(), WriteError> {
        let text = self.render_defconfig();
        fs::write(path, text).map_err(io_err(path))
    }

    fn autoconf_name(&self) -> String {
        self.env_or("KCONFIG_AUTOCONFIG", "include/config/auto.conf")
    }

    fn touch_dep(&mut self, name: &str) {
        let auto = self.autoconf_name();
        let prefix = match auto.rfind('/') {
            Some(i) => &auto[..=i],
            None => "",
        };
        let _ = fs::File::create(format!("{prefix}{name}"));
    }

    /// The text of `auto.conf.cmd`.
    pub fn render_autoconf_cmd(&self, autoconf_name: &str) -> String {
        let mut out = String::new();
        match self.dialect {
            Dialect::V6_12 | Dialect::V6_18 => {
                out.push_str(&format!("autoconfig := {autoconf_name}\n"));
                out.push_str("\ndeps_config := \\\n");
                for f in &self.files {
                    out.push_str(&format!("\t{f} \\\n"));
                }
                out.push_str("\n$(autoconfig): $(deps_config)\n$(deps_config): ;\n");
                for (k, v) in &self.env_deps {
                    out.push_str(&format!(
                        "\nifneq \"$({k})\" \"{v}\"\n$(autoconfig): FORCE\nendif\n"
                    ));
                }
            }
            Dialect::V6_1 => {
                out.push_str("deps_config := \\\n");
                for f in self.files.iter().rev() {
                    out.push_str(&format!("\t{f} \\\n"));
                }
                out.push_str(&format!("\n{autoconf_name}: $(deps_config)\n\n"));
                for (k, v) in &self.env_deps {
                    out.push_str(&format!(
                        "ifneq \"$({k})\" \"{v}\"\n{autoconf_name}: FORCE\nendif\n"
                    ));
                }
                out.push_str("\n$(deps_config): ;\n");
            }
        }
        out
    }

    fn touch_deps(&mut self) {
        let auto = self.autoconf_name();
        let _ = make_parent_dir(&auto);
        self.read_simple(Some(&auto), DefSlot::Auto);
        for i in 0..self.hash_order.len() {
            let s = self.hash_order[i];
            if self.is_choice(s) {
                continue;
            }
            let sym = self.sym(s);
            let write = sym.flags & flags::WRITE != 0;
            let has_auto = sym.flags & flags::DEF_AUTO != 0;
            if write {
                if has_auto {
                    let same = match sym.ty {
                        SymType::Bool | SymType::Tristate => sym.curr.tri == sym.def[1].tri,
                        SymType::String | SymType::Hex | SymType::Int => {
                            *self.string_value(s) == *sym.def[1].val.as_deref().unwrap_or("")
                        }
                        SymType::Unknown => false,
                    };
                    if same {
                        continue;
                    }
                } else if matches!(sym.ty, SymType::Bool | SymType::Tristate)
                    && sym.curr.tri == Tri::No
                {
                    continue;
                }
            } else if !has_auto {
                continue;
            }
            let name = sym.name.clone();
            if let Some(n) = name {
                self.touch_dep(&n);
            }
        }
    }

    fn c_line(&self, s: SymbolId, out: &mut String) {
        let sym = self.sym(s);
        let Some(name) = sym.name.as_deref() else {
            return;
        };
        let val = self.string_value(s);
        let p = &self.prefix;
        match sym.ty {
            SymType::Unknown => {}
            SymType::Bool | SymType::Tristate => match &*val {
                "n" => {}
                "m" => out.push_str(&format!("#define {p}{name}_MODULE 1\n")),
                _ => out.push_str(&format!("#define {p}{name} 1\n")),
            },
            SymType::Hex => {
                let pre = if val.starts_with("0x") || val.starts_with("0X") {
                    ""
                } else {
                    "0x"
                };
                out.push_str(&format!("#define {p}{name} {pre}{val}\n"));
            }
            SymType::String => {
                out.push_str(&format!("#define {p}{name} {}\n", escape_string(&val)))
            }
            SymType::Int => out.push_str(&format!("#define {p}{name} {val}\n")),
        }
    }

    fn rustc_line(&self, s: SymbolId, out: &mut String) {
        let sym = self.sym(s);
        let Some(name) = sym.name.as_deref() else {
            return;
        };
        let val = self.string_value(s);
        let p = &self.prefix;
        let mut v: Rc<str> = val.clone();
        match sym.ty {
            SymType::Unknown => return,
            SymType::Bool | SymType::Tristate => {
                if &*val == "n" {
                    return;
                }
                out.push_str(&format!("--cfg={p}{name}\n"));
            }
            SymType::Hex if !(val.starts_with("0x") || val.starts_with("0X")) => {
                v = format!("0x{val}").into();
            }
            _ => {}
        }
        out.push_str(&format!("--cfg={p}{name}={}\n", escape_string(&v)));
    }

    fn autoconf_line(&self, s: SymbolId, out: &mut String) {
        let sym = self.sym(s);
        let Some(name) = sym.name.as_deref() else {
            return;
        };
        let val = self.string_value(s);
        match sym.ty {
            SymType::Unknown => {}
            SymType::Bool | SymType::Tristate if &*val == "n" => {}
            _ => out.push_str(&format!("{}{}={}\n", self.prefix, name, val)),
        }
    }

    fn write_atomic(path: &str, text: &str) -> Result<(), WriteError> {
        make_parent_dir(path).map_err(io_err(path))?;
        let tmp = format!("{path}.tmp");
        let mut f = fs::File::create(&tmp).map_err(io_err(&tmp))?;
        f.write_all(text.as_bytes()).map_err(io_err(&tmp))?;
        drop(f);
        fs::rename(&tmp, path).map_err(io_err(path))
    }

    /// syncconfig's outputs: auto.conf.cmd, include/config/* stamps,
    /// autoconf.h, rustc_cfg and auto.conf (last, as kbuild depends on it).
    /// Without `overwrite`, nothing happens when auto.conf exists.
    pub fn write_autoconf(&mut self, overwrite: bool) -> Result<(), WriteError> {
        let auto = self.autoconf_name();
        if !overwrite && Path::new(&auto).exists() {
            return Ok(());
        }
        let cmd = self.render_autoconf_cmd(&auto);
        Self::write_atomic(&format!("{auto}.cmd"), &cmd)?;
        if self.dialect == Dialect::V6_1 {
            self.touch_deps();
            self.calc_all();
        } else {
            self.calc_all();
            self.touch_deps();
        }
        let written: Vec<SymbolId> = self
            .hash_order
            .iter()
            .copied()
            .filter(|&s| self.has_flag(s, flags::WRITE) && self.sym(s).name.is_some())
            .collect();
        let mut h = self.heading(Style::C);
        let mut r = String::new();
        let mut a = self.heading(Style::Pound);
        for &s in &written {
            self.c_line(s, &mut h);
            self.rustc_line(s, &mut r);
            self.autoconf_line(s, &mut a);
        }
        Self::write_atomic(
            &self.env_or("KCONFIG_AUTOHEADER", "include/generated/autoconf.h"),
            &h,
        )?;
        Self::write_atomic(
            &self.env_or("KCONFIG_RUSTCCFG", "include/generated/rustc_cfg"),
            &r,
        )?;
        Self::write_atomic(&auto, &a)?;
        Ok(())
    }
}

/// Linux 6.18 and later with `KCONFIG_WARN_CHANGED_INPUT` set: the values
/// read from a configuration that the tree changed, reported on stderr
/// once the configuration has been written.
struct ChangedInput {
    enabled: bool,
    text: String,
}

impl ChangedInput {
    fn new(kc: &Kconfig) -> ChangedInput {
        ChangedInput {
            enabled: kc.dialect >= Dialect::V6_18
                && kc
                    .getenv("KCONFIG_WARN_CHANGED_INPUT")
                    .is_some_and(|v| !v.is_empty()),
            text: String::new(),
        }
    }

    /// Note `s` (just computed) if its value is not the one read.
    fn note(&mut self, kc: &Kconfig, s: SymbolId) {
        if !self.enabled || !kc.has_value(s) {
            return;
        }
        let sym = kc.sym(s);
        let (user, changed): (Rc<str>, bool) = match sym.ty {
            SymType::Unknown => return,
            SymType::Bool | SymType::Tristate => {
                let t = sym.def[0].tri;
                (t.as_str().into(), t != sym.curr.tri)
            }
            _ => {
                let u = sym.def[0].val.clone().unwrap_or_else(|| "".into());
                let changed = u != kc.string_value(s);
                (u, changed)
            }
        };
        if !changed {
            return;
        }
        if self.text.is_empty() {
            self.text
                .push_str("warning: user-provided values changed by Kconfig:\n");
        }
        self.text.push_str(&format!(
            "  {}{}: {} -> {}\n",
            kc.prefix,
            sym.name.as_deref().unwrap_or(""),
            user,
            kc.string_value(s)
        ));
    }

    fn report(self, kc: &mut Kconfig) {
        if let Some(t) = self.text.strip_suffix('\n') {
            kc.messages.err(t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str, prefix: &str) -> Vec<(String, String)> {
        parse_config(text, prefix)
            .into_iter()
            .map(|e| (e.name.to_string(), e.value.into_owned()))
            .collect()
    }

    /// The expectations were checked against the kernel's C `conf` (6.12):
    /// this text as `KCONFIG_CONFIG` for a Kconfig with bools A B J K,
    /// tristate C, strings S T U, int I and hex H, then `conf
    /// --olddefconfig` wrote A=y, B not set, C=m, S="a \"q\" \\ b", T and U
    /// their defaults (T's string is unclosed: "invalid string found"; U's
    /// is not quoted), I=7 ("override: reassigning"), H=0x10, and J and K
    /// their default y (neither comment line unsets them).
    #[test]
    fn reads_as_conf_does() {
        let text = "#\n# Linux/x86 6.12.0 Kernel Configuration\n#\n\
                    CONFIG_A=y\r\n# CONFIG_B is not set\nCONFIG_C=m\n\
                    CONFIG_S=\"a \\\"q\\\" \\\\ b\" trailing\nCONFIG_T=\"unclosed\n\
                    CONFIG_U=bare\nCONFIG_I=5\nCONFIG_I=7\nCONFIG_H=0x10\n\
                    # CONFIG_J is not set but junk\n#CONFIG_K is not set\n\
                    \n# comment\nOTHER_X=y\nCONFIG_NOEQ\nCONFIG_=y\n";
        assert_eq!(
            pairs(text, "CONFIG_"),
            [
                ("A", "y"),
                ("B", "n"),
                ("C", "m"),
                ("S", "a \"q\" \\ b"),
                ("U", "bare"),
                ("I", "5"),
                ("I", "7"),
                ("H", "0x10"),
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        let e = parse_config(text, "CONFIG_");
        assert_eq!(e[0].line, 4);
        assert_eq!(e[1].written, None);
        assert!(e[1].is_unset());
        assert_eq!(e[3].written, Some("\"a \\\"q\\\" \\\\ b\" trailing"));
        assert_eq!(e[3].line, 7);
    }

    /// `CONFIG_=FOO_ conf --olddefconfig` kept FOO_A=y and FOO_B unset and
    /// said "unexpected data: CONFIG_C=m".
    #[test]
    fn prefix_is_a_parameter() {
        let text = "FOO_A=y\nCONFIG_C=m\n# FOO_B is not set\nFOO_S=\"x\"\n";
        assert_eq!(
            pairs(text, "FOO_"),
            [("A", "y"), ("B", "n"), ("S", "x")].map(|(a, b)| (a.to_string(), b.to_string()))
        );
        assert_eq!(pairs(text, "CONFIG_"), [("C".to_string(), "m".to_string())]);
    }

    /// Only a `\r` before `\n` is a line end (conf's getline_stripped): a
    /// last line without `\n` keeps it (conf reads `y\r` as y for a bool).
    #[test]
    fn line_ends() {
        assert_eq!(
            pairs("CONFIG_A=y\r", "CONFIG_"),
            [("A".into(), "y\r".into())]
        );
        assert_eq!(pairs("CONFIG_A=y", "CONFIG_"), [("A".into(), "y".into())]);
        assert_eq!(
            pairs("CONFIG_A=y\r\r\n", "CONFIG_"),
            [("A".into(), "y\r".into())]
        );
        assert!(parse_config("", "CONFIG_").is_empty());
    }

    #[test]
    fn unquote_inverts_escape_string() {
        for s in ["", "plain", "a \"q\"", "back\\slash\\", "ünï"] {
            assert_eq!(unquote(&escape_string(s)).as_deref(), Some(s));
        }
        assert_eq!(unquote("\"abc\"def").as_deref(), Some("abc"));
        assert_eq!(unquote("abc"), None);
        assert_eq!(unquote("\"abc"), None);
        assert_eq!(unquote("\"abc\\"), None);
        let e = parse_config_line("CONFIG_S=\"x\"", "CONFIG_").unwrap();
        assert!(matches!(e.value, Cow::Owned(_)));
        let e = parse_config_line("CONFIG_N=12", "CONFIG_").unwrap();
        assert!(matches!(e.value, Cow::Borrowed("12")));
    }
}
