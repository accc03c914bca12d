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
    /// Error recovery state, as in an LR parser: set to 3 when a syntax
    /// error is recovered from, lowered by one for every token accepted
    /// afterwards. While it is not zero a new syntax error is not reported
    /// (the "invalid statement" style messages still are).
    err_quiet: u8,
}

/// Why parsing stopped short.
///
/// `Syntax`: the token ahead (peeked, not consumed) cannot continue the
/// input; it travels up to the innermost statement list, which reports it
/// and skips to the end of the line.
/// `Abort`: the end of the input was reached while recovering from a
/// syntax error; parsing ends, and every block still open says so on the
/// way out.
/// `Fatal`: the lexer gave up (missing file, macro error, ...).
enum Fail {
    Syntax,
    Abort,
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
            err_quiet: 0,
        }
    }

    /// The token ahead, read on first use.
    fn peek(&mut self) -> PResult<&Tok> {
        if self.peeked.is_none() {
            self.flush_tree_msgs();
            let t = self.lex.next(&mut self.pp)?;
            self.peeked = Some(t);
        }
        Ok(self.peeked.as_ref().unwrap())
    }

    /// Accept the token ahead. Every accepted token counts towards leaving
    /// error recovery; tokens skipped while recovering do not come here.
    fn next(&mut self) -> PResult<Tok> {
        self.peek()?;
        self.err_quiet = self.err_quiet.saturating_sub(1);
        Ok(self.peeked.take().unwrap())
    }

    fn expect_eol(&mut self) -> PResult<()> {
        if *self.peek()? == Tok::Eol {
            self.next()?;
            Ok(())
        } else {
            Err(Fail::Syntax)
        }
    }

    fn expect_word_quote(&mut self) -> PResult<String> {
        if let Tok::WordQuote(_) = self.peek()? {
            let Tok::WordQuote(s) = self.next()? else {
                unreachable!()
            };
            Ok(s)
        } else {
            Err(Fail::Syntax)
        }
    }

    fn file(&self) -> Rc<str> {
        self.lex.cur_file()
    }

    fn line(&self) -> u32 {
        self.lex.cur_line
    }

    fn v61(&self) -> bool {
        self.kc.dialect == Dialect::V6_1
    }

    fn v618(&self) -> bool {
        self.kc.dialect >= Dialect::V6_18
    }

    /// Warnings the tree itself queued (type or prompt redefinitions, ...)
    /// go before whatever the lexer or the parser says next.
    fn flush_tree_msgs(&mut self) {
        let queued = self.kc.messages.take();
        self.lex.msgs.lines.extend(queued);
    }

    /// A message from the parser, in order with everything else.
    fn emit(&mut self, m: String) {
        self.flush_tree_msgs();
        self.lex.msgs.err(m);
    }

    /// A message at the parser's position (`zconfprint`).
    fn err_here(&mut self, msg: &str) {
        let m = format!("{}:{}: {}", self.lex.msg_file(), self.line(), msg);
        self.emit(m);
    }

    /// The parser's own "syntax error" line. 6.1 prints the line after the
    /// one its current statement started on; 6.12 that line itself.
    fn report_syntax_error(&mut self) {
        let line = if self.v61() {
            self.line() + 1
        } else {
            self.line()
        };
        let m = format!("{}:{}: syntax error", self.lex.msg_file(), line);
        self.emit(m);
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
    //
    // Syntax errors are recovered from where the kernel's grammar does: in a
    // statement list (the whole input, or the body of an if/menu/choice
    // block). A statement that meets a token it cannot use is abandoned as
    // a whole (`Fail::Syntax` travels up to the list), the list reports it,
    // skips the rest of the line and names the statement "invalid" (or
    // "unknown" after a leading word). Block headers and option lists have
    // no recovery of their own. Semantic actions run exactly when the
    // kernel's reductions run, so messages come out in the same order.

    /// Parse the whole input.
    pub fn parse(&mut self) -> Result<(), LexFatal> {
        let r = self.parse_input();
        self.flush_tree_msgs();
        match r {
            Ok(()) | Err(Fail::Syntax) | Err(Fail::Abort) => Ok(()),
            Err(Fail::Fatal(e)) => Err(e),
        }
    }

    fn parse_input(&mut self) -> PResult<()> {
        if *self.peek()? == Tok::Kw(Kw::MainMenu) {
            match self.mainmenu_stmt() {
                Ok(()) => {}
                Err(Fail::Syntax) => {
                    // nothing encloses the main menu line: no recovery
                    self.note_syntax_error();
                    return Err(Fail::Abort);
                }
                Err(e) => return Err(e),
            }
        }
        self.stmt_list(false, false)?;
        Ok(())
    }

    fn mainmenu_stmt(&mut self) -> PResult<()> {
        self.next()?;
        let text = self.expect_word_quote()?;
        self.expect_eol()?;
        self.add_prompt(PropKind::Menu, &text, None);
        Ok(())
    }

    /// Count and report a syntax error, unless still recovering from the
    /// previous one.
    fn note_syntax_error(&mut self) {
        if self.err_quiet == 0 {
            self.errors += 1;
            self.report_syntax_error();
        }
    }

    /// Recover from a syntax error in a statement list, the token ahead
    /// being the offending one: report it, skip every token up to the end
    /// of the line (the end of the input instead ends parsing), then name
    /// the statement. `word` is the leading word of an unknown statement.
    fn recover(&mut self, word: Option<&str>) -> PResult<()> {
        self.note_syntax_error();
        self.err_quiet = 3;
        loop {
            match self.peek()? {
                Tok::Eol => break,
                Tok::Eof => return Err(Fail::Abort),
                _ => self.peeked = None,
            }
        }
        self.next()?;
        match word {
            Some(w) => self.zconf_error(&format!("unknown statement \"{w}\"")),
            None => self.zconf_error("invalid statement"),
        }
        Ok(())
    }

    /// A statement list: the whole input (ends at the end of input), or the
    /// body of a block (`in_block`; ends with an end keyword and its end of
    /// line, the keyword is returned). Inside a choice only configs,
    /// comments and ifs are statements.
    fn stmt_list(&mut self, in_choice: bool, in_block: bool) -> PResult<Option<Kw>> {
        loop {
            let t = self.peek()?.clone();
            let r: PResult<()> = match t {
                Tok::Eof if !in_block => return Ok(None),
                Tok::Kw(k @ (Kw::EndMenu | Kw::EndChoice | Kw::EndIf)) if in_block => {
                    self.next()?;
                    match self.expect_eol() {
                        Ok(()) => return Ok(Some(k)),
                        Err(e) => Err(e),
                    }
                }
                Tok::Kw(Kw::Config) => self.config_stmt(),
                Tok::Kw(Kw::MenuConfig) if !in_choice => self.config_stmt(),
                Tok::Kw(Kw::Comment) => self.comment_stmt(),
                Tok::Kw(Kw::If) => self.if_stmt(in_choice),
                Tok::Kw(Kw::Choice) if !in_choice => self.choice_stmt(),
                Tok::Kw(Kw::Menu) if !in_choice => self.menu_stmt(),
                Tok::Kw(Kw::Source) if !in_choice => self.source_stmt(),
                Tok::Word(w) if !in_choice => {
                    // a variable assignment, or an unknown statement
                    self.next()?;
                    let flavor = match self.peek()? {
                        Tok::Equal => Some(Flavor::Recursive),
                        Tok::ColonEqual => Some(Flavor::Simple),
                        Tok::PlusEqual => Some(Flavor::Append),
                        _ => None,
                    };
                    let r = match flavor {
                        Some(f) => self.assignment(&w, f),
                        None => Err(Fail::Syntax),
                    };
                    match r {
                        Err(Fail::Syntax) => self.recover(Some(&w))?,
                        r => r?,
                    }
                    continue;
                }
                // anything else, the end of input inside a block included
                _ => Err(Fail::Syntax),
            };
            match r {
                Ok(()) => {}
                Err(Fail::Syntax) => self.recover(None)?,
                Err(e) => return Err(e),
            }
        }
    }

    fn assignment(&mut self, name: &str, flavor: Flavor) -> PResult<()> {
        self.next()?; // the operator
        let val = if let Tok::AssignVal(_) = self.peek()? {
            let Tok::AssignVal(v) = self.next()? else {
                unreachable!()
            };
            v
        } else {
            String::new()
        };
        self.expect_eol()?;
        let file = self.file();
        let loc = Location {
            file: &file,
            line: self.lex.phys_line(),
        };
        self.pp
            .add_variable_with(name, &val, flavor, loc, &mut self.lex.msgs)
            .map_err(|e| Fail::Fatal(LexFatal(e.0)))?;
        Ok(())
    }

    fn source_stmt(&mut self) -> PResult<()> {
        self.next()?;
        let name = self.expect_word_quote()?;
        self.expect_eol()?;
        self.lex.push_file(&name)?;
        Ok(())
    }

    fn nonconst_symbol(&mut self) -> PResult<SymbolId> {
        if !matches!(self.peek()?, Tok::Word(_)) {
            return Err(Fail::Syntax);
        }
        let Tok::Word(w) = self.next()? else {
            unreachable!()
        };
        Ok(self.lookup(&w, false))
    }

    fn symbol(&mut self) -> PResult<SymbolId> {
        match self.peek()? {
            Tok::Word(_) | Tok::WordQuote(_) => {}
            _ => return Err(Fail::Syntax),
        }
        match self.next()? {
            Tok::Word(w) => Ok(self.lookup(&w, false)),
            Tok::WordQuote(w) => Ok(self.lookup(&w, true)),
            _ => unreachable!(),
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
                if *self.peek()? != Tok::CloseParen {
                    return Err(Fail::Syntax);
                }
                self.next()?;
                Ok(e)
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
                None if self.v618() => self.zconf_error("menuconfig statement without prompt"),
                None => self.err_here("warning: menuconfig statement without prompt"),
            }
        } else if let Some(choice) = self
            .current_choice
            .filter(|_| self.kc.dialect >= Dialect::V6_12)
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
        self.emit(m);
        self.errors += 1;
    }

    fn help(&mut self) -> PResult<()> {
        self.next()?; // help
        self.expect_eol()?;
        self.lex.start_help();
        if !matches!(self.peek()?, Tok::HelpText(_)) {
            return Err(Fail::Syntax);
        }
        let Tok::HelpText(text) = self.next()? else {
            unreachable!()
        };
        let e = self.current_entry;
        let name = self
            .kc
            .menu(e)
            .sym
            .map(|s| self.kc.sym(s).display_name().to_string())
            .unwrap_or_default();
        if self.kc.menu(e).help.is_some() {
            if self.v618() {
                self.zconf_error(&format!("'{name}' defined with more than one help text"));
            } else {
                self.err_here(&format!(
                    "warning: '{name}' defined with more than one help text -- only the last one will be used"
                ));
            }
        }
        if text
            .chars()
            .all(|c| matches!(c, ' ' | '\x0c' | '\n' | '\r' | '\t' | '\x0b'))
        {
            if self.v618() {
                self.zconf_error(&format!("'{name}' defined with blank help text"));
            } else {
                self.err_here(&format!("warning: '{name}' defined with blank help text"));
            }
        }
        self.kc.set_help(e, &text);
        Ok(())
    }

    fn depends(&mut self) -> PResult<()> {
        self.next()?;
        if *self.peek()? != Tok::Kw(Kw::On) {
            return Err(Fail::Syntax);
        }
        self.next()?;
        let mut e = Some(self.expr()?);
        // 6.18 and later: `depends on X if Y` is X || Y=n (the kernel's
        // menu_add_dep with a condition)
        if self.v618() && *self.peek()? == Tok::Kw(Kw::If) {
            self.next()?;
            let c = self.expr()?;
            let cond = self
                .kc
                .exprs
                .trans_compare(Some(c), CmpOp::Equal, crate::symbol::SYM_NO);
            e = self.kc.exprs.or(e, cond);
        }
        self.expect_eol()?;
        self.add_dep(e);
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
                        let text = self.expect_word_quote()?;
                        let dep = self.if_expr()?;
                        self.add_prompt(PropKind::Prompt, &text, dep);
                    }
                    self.expect_eol()?;
                    self.set_type(ty);
                    Ok(())
                }
                Tok::Kw(Kw::Prompt) => {
                    self.next()?;
                    let text = self.expect_word_quote()?;
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
                        self.kc.set_flag(c, flags::TRANS);
                    }
                    Ok(())
                }
                Tok::Kw(Kw::Depends) => self.depends(),
                Tok::Kw(Kw::Help) => self.help(),
                _ => return Ok(()),
            };
            r?;
        }
    }

    fn comment_stmt(&mut self) -> PResult<()> {
        self.next()?;
        let text = self.expect_word_quote()?;
        self.expect_eol()?;
        self.add_entry(None);
        self.add_prompt(PropKind::Comment, &text, None);
        while *self.peek()? == Tok::Kw(Kw::Depends) {
            self.depends()?;
        }
        Ok(())
    }

    /// The body of a block, up to its end keyword (returned). When the
    /// input ends inside it the block is abandoned: it reports the missing
    /// end (innermost block first) and is closed.
    fn block_body(&mut self, block: MenuId, in_choice: bool) -> PResult<Kw> {
        match self.stmt_list(in_choice, true) {
            Ok(Some(k)) => Ok(k),
            Ok(None) => unreachable!("a block body ends with an end keyword"),
            Err(Fail::Abort) => {
                let m = format!(
                    "{}:{}: missing end statement for this entry",
                    self.kc.menu(block).file,
                    self.kc.menu(block).line
                );
                self.emit(m);
                if self.current_menu == block {
                    self.end_menu();
                }
                Err(Fail::Abort)
            }
            Err(e) => Err(e),
        }
    }

    /// Close a block after its end keyword and end of line, checking that
    /// the keyword matches and is in the same file as the block's start.
    fn block_end(&mut self, want: Kw, found: Kw) {
        if found != want {
            let m = format!(
                "unexpected '{}' within {} block",
                end_name(found),
                end_name(want)
            );
            self.zconf_error(&m);
            self.errors += 1;
            return;
        }
        let cur = self.lex.open_file();
        if cur.as_deref() != Some(&*self.kc.menu(self.current_menu).file) {
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
            self.emit(m);
            self.errors += 1;
            return;
        }
        self.end_menu();
    }

    fn if_stmt(&mut self, in_choice: bool) -> PResult<()> {
        self.next()?;
        let e = self.expr()?;
        self.expect_eol()?;
        self.add_entry(None);
        self.add_dep(Some(e));
        let block = self.add_menu();
        let end = self.block_body(block, in_choice)?;
        self.block_end(Kw::EndIf, end);
        Ok(())
    }

    fn menu_stmt(&mut self) -> PResult<()> {
        self.next()?;
        let text = self.expect_word_quote()?;
        self.expect_eol()?;
        self.add_entry(None);
        self.add_prompt(PropKind::Menu, &text, None);
        loop {
            match self.peek()? {
                Tok::Kw(Kw::Depends) => self.depends()?,
                Tok::Kw(Kw::Visible) => {
                    self.next()?;
                    let e = self.if_expr()?;
                    self.expect_eol()?;
                    let c = self.current_entry;
                    let v = self.kc.menu(c).visibility;
                    self.kc.menu_mut(c).visibility = self.kc.exprs.and(v, e);
                }
                _ => break,
            }
        }
        let block = self.add_menu();
        let end = self.block_body(block, false)?;
        self.block_end(Kw::EndMenu, end);
        Ok(())
    }

    fn choice_stmt(&mut self) -> PResult<()> {
        self.next()?;
        let v61 = self.v61();
        let v618 = self.v618();
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
                    let text = self.expect_word_quote()?;
                    let dep = self.if_expr()?;
                    self.expect_eol()?;
                    self.add_prompt(PropKind::Prompt, &text, dep);
                    Ok(())
                }
                Tok::Kw(k @ (Kw::Bool | Kw::Tristate)) if v61 || (k == Kw::Bool && !v618) => {
                    self.next()?;
                    if v61 {
                        if let Tok::WordQuote(_) = self.peek()? {
                            let text = self.expect_word_quote()?;
                            let dep = self.if_expr()?;
                            self.add_prompt(PropKind::Prompt, &text, dep);
                        }
                        self.expect_eol()?;
                        self.set_type(kw_type(k));
                    } else {
                        let text = self.expect_word_quote()?;
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
            r?;
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
        let end = self.block_body(block, true)?;
        self.current_choice = None;
        self.block_end(Kw::EndChoice, end);
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
