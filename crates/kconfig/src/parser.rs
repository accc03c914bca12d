//! The Kconfig grammar: statements, entries and their options, expressions.
//! Builds the menu tree and the symbol table as the kernel's parser does.

use std::rc::Rc;

use crate::expr::{CmpOp, Expr, ExprId};
use crate::lexer::{Kw, LexFatal, Lexer, Tok};
use crate::menu::{Menu, MenuId, ROOT_MENU};
use crate::preprocess::{Flavor, Location, Preprocessor};
use crate::symbol::{flags, PropId, PropKind, Property, SymType, Symbol, SymbolId};
use crate::{Dialect, Kconfig};

/// Where the next entry is attached: as the first child of a menu, or after
/// an entry.
#[derive(Clone, Copy)]
enum Attach {
    List(MenuId),
    Next(MenuId),
}

pub(crate) struct Parser<'a> {
    pub kc: &'a mut Kconfig,
    pub lex: Lexer,
    pub pp: Preprocessor,
    peeked: Option<Tok>,
    current_entry: MenuId,
    current_menu: MenuId,
    attach: Attach,
    current_choice: Option<MenuId>,
    pub errors: u32,
    modules_set: Option<SymbolId>,
}

/// Why a statement failed: a syntax error (recovered at the end of the
/// line) or a fatal error that stops parsing.
enum Fail {
    Syntax,
    Fatal(LexFatal),
}

impl From<LexFatal> for Fail {
    fn from(e: LexFatal) -> Self {
        Fail::Fatal(e)
    }
}

type PResult<T> = Result<T, Fail>;

impl<'a> Parser<'a> {
    pub fn new(kc: &'a mut Kconfig, lex: Lexer, pp: Preprocessor) -> Self {
        Parser {
            kc,
            lex,
            pp,
            peeked: None,
            current_entry: ROOT_MENU,
            current_menu: ROOT_MENU,
            attach: Attach::List(ROOT_MENU),
            current_choice: None,
            errors: 0,
            modules_set: None,
        }
    }

    fn peek(&mut self) -> PResult<&Tok> {
        if self.peeked.is_none() {
            let t = self.lex.next(&mut self.pp)?;
            self.peeked = Some(t);
        }
        Ok(self.peeked.as_ref().unwrap())
    }

    fn next(&mut self) -> PResult<Tok> {
        match self.peeked.take() {
            Some(t) => Ok(t),
            None => Ok(self.lex.next(&mut self.pp)?),
        }
    }

    fn expect_eol(&mut self) -> PResult<()> {
        match self.next()? {
            Tok::Eol => Ok(()),
            t => {
                self.peeked = Some(t);
                Err(Fail::Syntax)
            }
        }
    }

    fn file(&self) -> Rc<str> {
        self.lex.cur_file()
    }

    fn line(&self) -> u32 {
        self.lex.cur_line
    }

    fn err_here(&mut self, msg: &str) {
        let m = format!("{}:{}: {}", self.file(), self.line(), msg);
        self.lex.msgs.err(m);
    }

    fn zconf_error(&mut self, msg: &str) {
        self.errors += 1;
        self.err_here(msg);
    }

    // ----- symbol table -----

    fn lookup(&mut self, name: &str, constant: bool) -> SymbolId {
        match name {
            "y" => return crate::symbol::SYM_YES,
            "m" => return crate::symbol::SYM_MOD,
            "n" => return crate::symbol::SYM_NO,
            _ => {}
        }
        let map = if constant {
            &self.kc.by_const_name
        } else {
            &self.kc.by_name
        };
        if let Some(&s) = map.get(name) {
            return s;
        }
        let id = self
            .kc
            .new_symbol(Some(name.into()), if constant { flags::CONST } else { 0 });
        if constant {
            self.kc.by_const_name.insert(name.into(), id);
        } else {
            self.kc.by_name.insert(name.into(), id);
        }
        id
    }

    // ----- menu building -----

    fn add_entry(&mut self, sym: Option<SymbolId>) {
        let m = MenuId(self.kc.menus.len() as u32);
        self.kc.menus.push(Menu::new(
            sym,
            Some(self.current_menu),
            self.file(),
            self.line(),
        ));
        match self.attach {
            Attach::List(p) => self.kc.menu_mut(p).list = Some(m),
            Attach::Next(p) => self.kc.menu_mut(p).next = Some(m),
        }
        self.attach = Attach::Next(m);
        self.current_entry = m;
        if let Some(s) = sym {
            self.kc.sym_mut(s).menus.push(m);
        }
    }

    fn add_menu(&mut self) -> MenuId {
        self.attach = Attach::List(self.current_entry);
        self.current_menu = self.current_entry;
        self.current_menu
    }

    fn end_menu(&mut self) {
        self.attach = Attach::Next(self.current_menu);
        self.current_menu = self.kc.menu(self.current_menu).parent.unwrap_or(ROOT_MENU);
    }

    fn add_dep(&mut self, dep: Option<ExprId>) {
        let e = self.current_entry;
        let d = self.kc.menu(e).dep;
        self.kc.menu_mut(e).dep = self.kc.exprs.and(d, dep);
    }

    fn add_prop(&mut self, kind: PropKind, expr: Option<ExprId>, dep: Option<ExprId>) -> PropId {
        let id = PropId(self.kc.props.len() as u32);
        self.kc.props.push(Property {
            kind,
            text: None,
            expr,
            visible: dep,
            visible_tri: crate::expr::Tri::No,
            menu: self.current_entry,
            file: self.file(),
            line: self.line(),
        });
        if let Some(s) = self.kc.menu(self.current_entry).sym {
            self.kc.sym_mut(s).props.push(id);
        }
        id
    }

    fn add_prompt(&mut self, kind: PropKind, text: &str, dep: Option<ExprId>) {
        let p = self.add_prop(kind, None, dep);
        let mut text = text;
        if text.starts_with(|c: char| c.is_ascii_whitespace() || c == '\x0b' || c == '\x0c') {
            self.kc.prop_warn(p, "leading whitespace ignored");
            text = text.trim_start_matches(|c: char| {
                c.is_ascii_whitespace() || c == '\x0b' || c == '\x0c'
            });
        }
        if self.kc.menu(self.current_entry).prompt.is_some() {
            self.kc.prop_warn(p, "prompt redefined");
        }
        if kind == PropKind::Prompt {
            let mut m = self.kc.menu(self.current_entry).parent;
            while let Some(x) = m {
                if let Some(v) = self.kc.menu(x).visibility {
                    let pv = self.kc.props[p.0 as usize].visible;
                    self.kc.props[p.0 as usize].visible = self.kc.exprs.and(pv, Some(v));
                }
                m = self.kc.menu(x).parent;
            }
        }
        let e = self.current_entry;
        self.kc.menu_mut(e).prompt = Some(p);
        self.kc.props[p.0 as usize].text = Some(text.into());
    }

    fn set_type(&mut self, ty: SymType) {
        let e = self.current_entry;
        self.kc.set_type(e, ty);
    }

    // ----- grammar -----

    /// Parse the whole input.
    pub fn parse(&mut self) -> Result<(), LexFatal> {
        match self.parse_input() {
            Ok(()) => Ok(()),
            Err(Fail::Fatal(e)) => Err(e),
            Err(Fail::Syntax) => Ok(()),
        }
    }

    fn parse_input(&mut self) -> PResult<()> {
        if *self.peek()? == Tok::Kw(Kw::MainMenu) {
            self.next()?;
            let r: PResult<()> = (|| {
                let Tok::WordQuote(t) = self.next()? else {
                    return Err(Fail::Syntax);
                };
                self.expect_eol()?;
                self.add_prompt(PropKind::Menu, &t, None);
                Ok(())
            })();
            self.recover(r, false)?;
        }
        loop {
            let end = self.stmt_list(false)?;
            match end {
                None => return Ok(()),
                Some(kw) => {
                    // an end keyword with no open block
                    self.next()?;
                    let _ = self.expect_eol();
                    self.errors += 1;
                    let what = end_name(kw);
                    self.err_here(&format!("syntax error, unexpected end{what}"));
                    self.skip_line()?;
                }
            }
        }
    }

    fn skip_line(&mut self) -> PResult<()> {
        loop {
            match self.next()? {
                Tok::Eol | Tok::Eof => return Ok(()),
                _ => {}
            }
        }
    }

    /// Turn a syntax error into the kernel's recovery: report, skip the line.
    fn recover(&mut self, r: PResult<()>, first_was_word: bool) -> PResult<()> {
        match r {
            Ok(()) => Ok(()),
            Err(Fail::Fatal(e)) => Err(Fail::Fatal(e)),
            Err(Fail::Syntax) => {
                self.err_here("syntax error");
                // if the offending token is an end of line, it ends the statement
                if self.peeked == Some(Tok::Eol) {
                    self.peeked = None;
                } else if self.peeked != Some(Tok::Eof) {
                    self.skip_line()?;
                }
                if first_was_word {
                    Ok(())
                } else {
                    self.zconf_error("invalid statement");
                    Ok(())
                }
            }
        }
    }

    /// Parse statements until an end keyword (returned, not consumed) or EOF.
    fn stmt_list(&mut self, in_choice: bool) -> PResult<Option<Kw>> {
        loop {
            let t = self.peek()?.clone();
            let r: PResult<()> = match t {
                Tok::Eof => return Ok(None),
                Tok::Kw(k @ (Kw::EndMenu | Kw::EndChoice | Kw::EndIf)) => return Ok(Some(k)),
                Tok::Kw(Kw::Config) | Tok::Kw(Kw::MenuConfig) => self.config_stmt(),
                Tok::Kw(Kw::Comment) => self.comment_stmt(),
                Tok::Kw(Kw::If) => self.if_stmt(in_choice),
                Tok::Kw(Kw::Choice) if !in_choice => self.choice_stmt(),
                Tok::Kw(Kw::Menu) if !in_choice => self.menu_stmt(),
                Tok::Kw(Kw::Source) if !in_choice => self.source_stmt(),
                Tok::Word(w) if !in_choice => {
                    self.next()?;
                    let op = self.peek()?.clone();
                    let flavor = match op {
                        Tok::Equal => Some(Flavor::Recursive),
                        Tok::ColonEqual => Some(Flavor::Simple),
                        Tok::PlusEqual => Some(Flavor::Append),
                        _ => None,
                    };
                    match flavor {
                        Some(f) => self.assignment(w, f),
                        None => {
                            // the kernel: syntax error, then "unknown statement"
                            self.err_here("syntax error");
                            self.zconf_error(&format!("unknown statement \"{w}\""));
                            self.skip_rest_of_statement()?;
                            Ok(())
                        }
                    }
                }
                Tok::Eol => {
                    self.next()?;
                    Ok(())
                }
                _ => Err(Fail::Syntax),
            };
            self.recover(r, false)?;
        }
    }

    fn skip_rest_of_statement(&mut self) -> PResult<()> {
        if self.peeked == Some(Tok::Eol) {
            self.peeked = None;
            return Ok(());
        }
        if self.peeked == Some(Tok::Eof) {
            return Ok(());
        }
        self.skip_line()
    }

    fn assignment(&mut self, name: String, flavor: Flavor) -> PResult<()> {
        self.next()?; // the operator
        let val = match self.next()? {
            Tok::AssignVal(v) => {
                self.expect_eol()?;
                v
            }
            Tok::Eol | Tok::Eof => String::new(),
            _ => return Err(Fail::Syntax),
        };
        let file = self.file();
        let loc = Location {
            file: &file,
            line: self.lex.phys_line(),
        };
        self.pp
            .add_variable_with(&name, &val, flavor, loc, &mut self.lex.msgs)
            .map_err(|e| Fail::Fatal(LexFatal(e.0)))?;
        Ok(())
    }

    fn source_stmt(&mut self) -> PResult<()> {
        self.next()?;
        let Tok::WordQuote(name) = self.next()? else {
            return Err(Fail::Syntax);
        };
        self.expect_eol()?;
        self.lex.push_file(&name)?;
        Ok(())
    }

    fn nonconst_symbol(&mut self) -> PResult<SymbolId> {
        match self.next()? {
            Tok::Word(w) => Ok(self.lookup(&w, false)),
            t => {
                self.peeked = Some(t);
                Err(Fail::Syntax)
            }
        }
    }

    fn symbol(&mut self) -> PResult<SymbolId> {
        match self.next()? {
            Tok::Word(w) => Ok(self.lookup(&w, false)),
            Tok::WordQuote(w) => Ok(self.lookup(&w, true)),
            t => {
                self.peeked = Some(t);
                Err(Fail::Syntax)
            }
        }
    }

    fn expr(&mut self) -> PResult<ExprId> {
        let mut a = self.and_expr()?;
        while *self.peek()? == Tok::Or {
            self.next()?;
            let b = self.and_expr()?;
            a = self.kc.exprs.add(Expr::Or(a, b));
        }
        Ok(a)
    }

    fn and_expr(&mut self) -> PResult<ExprId> {
        let mut a = self.unary_expr()?;
        while *self.peek()? == Tok::And {
            self.next()?;
            let b = self.unary_expr()?;
            a = self.kc.exprs.add(Expr::And(a, b));
        }
        Ok(a)
    }

    fn unary_expr(&mut self) -> PResult<ExprId> {
        match self.peek()?.clone() {
            Tok::Not => {
                self.next()?;
                let e = self.unary_expr()?;
                Ok(self.kc.exprs.add(Expr::Not(e)))
            }
            Tok::OpenParen => {
                self.next()?;
                let e = self.expr()?;
                match self.next()? {
                    Tok::CloseParen => Ok(e),
                    t => {
                        self.peeked = Some(t);
                        Err(Fail::Syntax)
                    }
                }
            }
            _ => {
                let l = self.symbol()?;
                let op = match self.peek()? {
                    Tok::Equal => Some(CmpOp::Equal),
                    Tok::Unequal => Some(CmpOp::Unequal),
                    Tok::Less => Some(CmpOp::Less),
                    Tok::LessEqual => Some(CmpOp::LessEqual),
                    Tok::Greater => Some(CmpOp::Greater),
                    Tok::GreaterEqual => Some(CmpOp::GreaterEqual),
                    _ => None,
                };
                match op {
                    Some(op) => {
                        self.next()?;
                        let r = self.symbol()?;
                        Ok(self.kc.exprs.add(Expr::Compare(op, l, r)))
                    }
                    None => Ok(self.kc.exprs.sym(l)),
                }
            }
        }
    }

    fn if_expr(&mut self) -> PResult<Option<ExprId>> {
        if *self.peek()? == Tok::Kw(Kw::If) {
            self.next()?;
            return Ok(Some(self.expr()?));
        }
        Ok(None)
    }

    fn config_stmt(&mut self) -> PResult<()> {
        let is_menuconfig = self.next()? == Tok::Kw(Kw::MenuConfig);
        let sym = self.nonconst_symbol()?;
        self.expect_eol()?;
        self.add_entry(Some(sym));
        if self.kc.dialect == Dialect::V6_1 {
            self.kc.set_flag(sym, flags::OPTIONAL);
        }
        self.config_option_list()?;
        if is_menuconfig {
            let e = self.current_entry;
            match self.kc.menu(e).prompt {
                Some(p) => self.kc.props[p.0 as usize].kind = PropKind::Menu,
                None => self.err_here("warning: menuconfig statement without prompt"),
            }
        } else if let Some(choice) = self
            .current_choice
            .filter(|_| self.kc.dialect == Dialect::V6_12)
        {
            let e = self.current_entry;
            if self.kc.menu(e).prompt.is_none() {
                let m = format!(
                    "{}:{}: error: choice member must have a prompt",
                    self.kc.menu(e).file,
                    self.kc.menu(e).line
                );
                self.kc_err(m);
            }
            if self.kc.sym(sym).ty != SymType::Bool {
                let m = format!(
                    "{}:{}: error: choice member must be bool",
                    self.kc.menu(e).file,
                    self.kc.menu(e).line
                );
                self.kc_err(m);
            }
            if !self.kc.sym(sym).in_choice_list {
                self.kc.sym_mut(sym).in_choice_list = true;
                self.kc.menu_mut(choice).choice_members.push(sym);
            }
        }
        Ok(())
    }

    fn kc_err(&mut self, m: String) {
        self.lex.msgs.err(m);
        self.errors += 1;
    }

    fn help(&mut self) -> PResult<()> {
        self.next()?; // help
        self.expect_eol()?;
        self.lex.start_help();
        let Tok::HelpText(text) = self.next()? else {
            return Err(Fail::Syntax);
        };
        let e = self.current_entry;
        let name = self
            .kc
            .menu(e)
            .sym
            .map(|s| self.kc.sym(s).display_name().to_string())
            .unwrap_or_default();
        if self.kc.menu(e).help.is_some() {
            self.err_here(&format!(
                "warning: '{name}' defined with more than one help text -- only the last one will be used"
            ));
        }
        if text
            .chars()
            .all(|c| matches!(c, ' ' | '\x0c' | '\n' | '\r' | '\t' | '\x0b'))
        {
            self.err_here(&format!("warning: '{name}' defined with blank help text"));
        }
        self.kc.menu_mut(e).help = Some(text.into());
        Ok(())
    }

    fn depends(&mut self) -> PResult<()> {
        self.next()?;
        match self.next()? {
            Tok::Kw(Kw::On) => {}
            t => {
                self.peeked = Some(t);
                return Err(Fail::Syntax);
            }
        }
        let mut e = self.expr()?;
        // mainline after 6.12: `depends on X if Y` means X || !Y
        if *self.peek()? == Tok::Kw(Kw::If) {
            self.next()?;
            let c = self.expr()?;
            let nc = self.kc.exprs.add(Expr::Not(c));
            e = self.kc.exprs.add(Expr::Or(e, nc));
        }
        self.expect_eol()?;
        self.add_dep(Some(e));
        Ok(())
    }

    fn config_option_list(&mut self) -> PResult<()> {
        loop {
            let t = self.peek()?.clone();
            let r: PResult<()> = match t {
                Tok::Kw(k @ (Kw::Bool | Kw::Tristate | Kw::Int | Kw::Hex | Kw::String)) => {
                    self.next()?;
                    let ty = kw_type(k);
                    if let Tok::WordQuote(_) = self.peek()? {
                        let Tok::WordQuote(text) = self.next()? else {
                            unreachable!()
                        };
                        let dep = self.if_expr()?;
                        self.add_prompt(PropKind::Prompt, &text, dep);
                    }
                    self.expect_eol()?;
                    self.set_type(ty);
                    Ok(())
                }
                Tok::Kw(Kw::Prompt) => {
                    self.next()?;
                    let Tok::WordQuote(text) = self.next()? else {
                        return Err(Fail::Syntax);
                    };
                    let dep = self.if_expr()?;
                    self.expect_eol()?;
                    self.add_prompt(PropKind::Prompt, &text, dep);
                    Ok(())
                }
                Tok::Kw(k @ (Kw::Default | Kw::DefBool | Kw::DefTristate)) => {
                    self.next()?;
                    let e = self.expr()?;
                    let dep = self.if_expr()?;
                    self.expect_eol()?;
                    self.add_prop(PropKind::Default, Some(e), dep);
                    match k {
                        Kw::DefBool => self.set_type(SymType::Bool),
                        Kw::DefTristate => self.set_type(SymType::Tristate),
                        _ => {}
                    }
                    Ok(())
                }
                Tok::Kw(k @ (Kw::Select | Kw::Imply)) => {
                    self.next()?;
                    let s = self.nonconst_symbol()?;
                    let dep = self.if_expr()?;
                    self.expect_eol()?;
                    let e = self.kc.exprs.sym(s);
                    let kind = if k == Kw::Select {
                        PropKind::Select
                    } else {
                        PropKind::Imply
                    };
                    self.add_prop(kind, Some(e), dep);
                    Ok(())
                }
                Tok::Kw(Kw::Range) => {
                    self.next()?;
                    let a = self.symbol()?;
                    let b = self.symbol()?;
                    let dep = self.if_expr()?;
                    self.expect_eol()?;
                    let e = self.kc.exprs.add(Expr::Range(a, b));
                    self.add_prop(PropKind::Range, Some(e), dep);
                    Ok(())
                }
                Tok::Kw(Kw::Modules) => {
                    self.next()?;
                    self.expect_eol()?;
                    let cur = self.kc.menu(self.current_entry).sym;
                    if let (Some(prev), Some(c)) = (self.modules_set, cur) {
                        let m = format!(
                            "symbol '{}' redefines option 'modules' already defined by symbol '{}'",
                            self.kc.sym(c).display_name(),
                            self.kc.sym(prev).display_name()
                        );
                        self.zconf_error(&m);
                    }
                    if let Some(c) = cur {
                        self.modules_set = Some(c);
                        self.kc.modules_sym = c;
                    }
                    Ok(())
                }
                Tok::Kw(Kw::Transitional) => {
                    self.next()?;
                    self.expect_eol()?;
                    if let Some(c) = self.kc.menu(self.current_entry).sym {
                        self.kc.set_flag(c, flags::NO_WRITE);
                    }
                    Ok(())
                }
                Tok::Kw(Kw::Depends) => self.depends(),
                Tok::Kw(Kw::Help) => self.help(),
                _ => return Ok(()),
            };
            self.recover(r, false)?;
        }
    }

    fn comment_stmt(&mut self) -> PResult<()> {
        self.next()?;
        let Tok::WordQuote(text) = self.next()? else {
            return Err(Fail::Syntax);
        };
        self.expect_eol()?;
        self.add_entry(None);
        self.add_prompt(PropKind::Comment, &text, None);
        loop {
            if *self.peek()? == Tok::Kw(Kw::Depends) {
                let r = self.depends();
                self.recover(r, false)?;
            } else {
                return Ok(());
            }
        }
    }

    /// Close a block, checking that the end keyword matches and is in the
    /// same file. Returns false at EOF (missing end).
    fn block_end(&mut self, block: MenuId, want: Kw, found: Option<Kw>) -> PResult<bool> {
        let Some(found) = found else {
            let m = format!(
                "{}:{}: missing end statement for this entry",
                self.kc.menu(block).file,
                self.kc.menu(block).line
            );
            self.lex.msgs.err(m);
            self.errors += 1;
            if self.current_menu == block {
                self.end_menu();
            }
            return Ok(false);
        };
        self.next()?;
        self.expect_eol().or_else(|_| {
            self.skip_rest_of_statement()?;
            Ok::<(), Fail>(())
        })?;
        if found != want {
            let m = format!(
                "unexpected '{}' within {} block",
                end_name(found),
                end_name(want)
            );
            self.zconf_error(&m);
            self.errors += 1;
            return Ok(true);
        }
        let cur = self.file();
        if *self.kc.menu(self.current_menu).file != *cur {
            let m = format!(
                "'{}' in different file than '{}'",
                end_name(found),
                end_name(want)
            );
            self.zconf_error(&m);
            let m = format!(
                "{}:{}: location of the '{}'",
                self.kc.menu(self.current_menu).file,
                self.kc.menu(self.current_menu).line,
                end_name(want)
            );
            self.lex.msgs.err(m);
            self.errors += 1;
            return Ok(true);
        }
        self.end_menu();
        Ok(true)
    }

    fn if_stmt(&mut self, in_choice: bool) -> PResult<()> {
        self.next()?;
        let e = self.expr()?;
        self.expect_eol()?;
        self.add_entry(None);
        self.add_dep(Some(e));
        let block = self.add_menu();
        let end = self.stmt_list(in_choice)?;
        self.block_end(block, Kw::EndIf, end)?;
        Ok(())
    }

    fn menu_stmt(&mut self) -> PResult<()> {
        self.next()?;
        let Tok::WordQuote(text) = self.next()? else {
            return Err(Fail::Syntax);
        };
        self.expect_eol()?;
        self.add_entry(None);
        self.add_prompt(PropKind::Menu, &text, None);
        loop {
            match self.peek()? {
                Tok::Kw(Kw::Depends) => {
                    let r = self.depends();
                    self.recover(r, false)?;
                }
                Tok::Kw(Kw::Visible) => {
                    let r: PResult<()> = (|| {
                        self.next()?;
                        let e = self.if_expr()?;
                        self.expect_eol()?;
                        let c = self.current_entry;
                        let v = self.kc.menu(c).visibility;
                        self.kc.menu_mut(c).visibility = self.kc.exprs.and(v, e);
                        Ok(())
                    })();
                    self.recover(r, false)?;
                }
                _ => break,
            }
        }
        let block = self.add_menu();
        let end = self.stmt_list(false)?;
        self.block_end(block, Kw::EndMenu, end)?;
        Ok(())
    }

    fn choice_stmt(&mut self) -> PResult<()> {
        self.next()?;
        let v61 = self.kc.dialect == Dialect::V6_1;
        let sym = if v61 {
            let name = match self.peek()? {
                Tok::Word(_) => match self.next()? {
                    Tok::Word(w) => Some(w),
                    _ => None,
                },
                _ => None,
            };
            self.expect_eol()?;
            let s = match name {
                Some(n) => match self.kc.by_choice_name.get(n.as_str()) {
                    Some(&s) => s,
                    None => {
                        let s = self.kc.new_symbol(Some(n.as_str().into()), flags::CHOICE);
                        self.kc.by_choice_name.insert(n.as_str().into(), s);
                        s
                    }
                },
                None => self.kc.new_symbol(None, flags::CHOICE),
            };
            self.kc.set_flag(s, flags::NO_WRITE);
            s
        } else {
            self.expect_eol()?;
            self.kc.new_symbol(None, 0)
        };
        self.add_entry(Some(sym));
        if !v61 {
            self.set_type(SymType::Bool);
        }
        // choice options
        loop {
            let t = self.peek()?.clone();
            let r: PResult<()> = match t {
                Tok::Kw(Kw::Prompt) => {
                    self.next()?;
                    let Tok::WordQuote(text) = self.next()? else {
                        return Err(Fail::Syntax);
                    };
                    let dep = self.if_expr()?;
                    self.expect_eol()?;
                    self.add_prompt(PropKind::Prompt, &text, dep);
                    Ok(())
                }
                Tok::Kw(k @ (Kw::Bool | Kw::Tristate)) if v61 || k == Kw::Bool => {
                    self.next()?;
                    if v61 {
                        if let Tok::WordQuote(_) = self.peek()? {
                            let Tok::WordQuote(text) = self.next()? else {
                                unreachable!()
                            };
                            let dep = self.if_expr()?;
                            self.add_prompt(PropKind::Prompt, &text, dep);
                        }
                        self.expect_eol()?;
                        self.set_type(kw_type(k));
                    } else {
                        let Tok::WordQuote(text) = self.next()? else {
                            return Err(Fail::Syntax);
                        };
                        let dep = self.if_expr()?;
                        self.expect_eol()?;
                        self.add_prompt(PropKind::Prompt, &text, dep);
                    }
                    Ok(())
                }
                Tok::Kw(Kw::Optional) if v61 => {
                    self.next()?;
                    self.expect_eol()?;
                    self.kc.set_flag(sym, flags::OPTIONAL);
                    Ok(())
                }
                Tok::Kw(Kw::Default) => {
                    self.next()?;
                    let s = self.nonconst_symbol()?;
                    let dep = self.if_expr()?;
                    self.expect_eol()?;
                    let e = self.kc.exprs.sym(s);
                    self.add_prop(PropKind::Default, Some(e), dep);
                    Ok(())
                }
                Tok::Kw(Kw::Depends) => self.depends(),
                Tok::Kw(Kw::Help) => self.help(),
                _ => break,
            };
            self.recover(r, false)?;
        }
        let e = self.current_entry;
        if !v61 && self.kc.menu(e).prompt.is_none() {
            let m = format!(
                "{}:{}: error: choice must have a prompt",
                self.kc.menu(e).file,
                self.kc.menu(e).line
            );
            self.kc_err(m);
        }
        let block = self.add_menu();
        self.current_choice = Some(block);
        let end = self.stmt_list(true)?;
        self.current_choice = None;
        self.block_end(block, Kw::EndChoice, end)?;
        Ok(())
    }
}

fn kw_type(k: Kw) -> SymType {
    match k {
        Kw::Bool => SymType::Bool,
        Kw::Tristate => SymType::Tristate,
        Kw::Int => SymType::Int,
        Kw::Hex => SymType::Hex,
        _ => SymType::String,
    }
}

fn end_name(k: Kw) -> &'static str {
    match k {
        Kw::EndMenu => "menu",
        Kw::EndChoice => "choice",
        Kw::EndIf => "if",
        _ => "?",
    }
}

impl Kconfig {
    pub(crate) fn new_symbol(&mut self, name: Option<Rc<str>>, fl: u32) -> SymbolId {
        let id = SymbolId(self.symbols.len() as u32);
        let serial = id.0;
        self.symbols.push(Symbol::new(name, fl, serial));
        id
    }
}
