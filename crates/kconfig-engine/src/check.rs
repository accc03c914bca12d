//! Recursive dependency detection and choice sanity checks, with the kernel's
//! messages.

use crate::expr::{Expr, ExprId};
use crate::menu::MenuId;
use crate::symbol::{flags, PropId, PropKind, SymbolId};
use crate::{Dialect, Kconfig};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Via {
    None,
    DirDep,
    RevDep,
    Implied,
    PropExpr,
}

#[derive(Clone, Copy)]
struct Frame {
    sym: SymbolId,
    prop: Option<PropId>,
    via: Via,
}

struct Checker {
    stack: Vec<Frame>,
}

impl Kconfig {
    /// Check every symbol for recursive dependencies; returns the error count.
    pub(crate) fn check_all_deps(&mut self) -> u32 {
        let mut ck = Checker { stack: Vec::new() };
        let mut errors = 0;
        let syms: Vec<SymbolId> = match self.dialect {
            Dialect::V6_12 | Dialect::V6_18 => self
                .all_menus()
                .into_iter()
                .filter_map(|m| self.menu(m).sym)
                .collect(),
            Dialect::V6_1 => self.hash_order.clone(),
        };
        for s in syms {
            if self.check_deps(&mut ck, s).is_some() {
                errors += 1;
            }
        }
        errors
    }

    fn choice_of_for_check(&self, s: SymbolId) -> Option<SymbolId> {
        match self.dialect {
            Dialect::V6_12 | Dialect::V6_18 => {
                self.sym(s).choice_menu.and_then(|m| self.menu(m).sym)
            }
            Dialect::V6_1 => {
                if self.is_choice_value(s) {
                    self.sym(s).choice_of
                } else {
                    None
                }
            }
        }
    }

    fn check_deps(&mut self, ck: &mut Checker, s: SymbolId) -> Option<SymbolId> {
        if self.has_flag(s, flags::CHECK) {
            self.print_recursive(ck, s);
            return Some(s);
        }
        if self.has_flag(s, flags::CHECKED) {
            return None;
        }
        if let Some(cs) = self.choice_of_for_check(s) {
            ck.stack.push(Frame {
                sym: s,
                prop: None,
                via: Via::None,
            });
            let r = self.check_deps(ck, cs);
            ck.stack.pop();
            r
        } else if self.is_choice(s) {
            self.check_choice_deps(ck, s)
        } else {
            self.set_flag(s, flags::CHECK | flags::CHECKED);
            let r = self.check_sym_deps(ck, s);
            self.clear_flag(s, flags::CHECK);
            r
        }
    }

    fn check_expr_deps(&mut self, ck: &mut Checker, e: Option<ExprId>) -> Option<SymbolId> {
        let e = e?;
        match self.exprs.get(e) {
            Expr::And(a, b) | Expr::Or(a, b) => self
                .check_expr_deps(ck, Some(a))
                .or_else(|| self.check_expr_deps(ck, Some(b))),
            Expr::Not(a) => self.check_expr_deps(ck, Some(a)),
            Expr::Compare(_, l, r) => self.check_deps(ck, l).or_else(|| self.check_deps(ck, r)),
            Expr::Symbol(s) => self.check_deps(ck, s),
            Expr::Range(..) => None,
        }
    }

    fn check_sym_deps(&mut self, ck: &mut Checker, s: SymbolId) -> Option<SymbolId> {
        ck.stack.push(Frame {
            sym: s,
            prop: None,
            via: Via::DirDep,
        });
        let top = ck.stack.len() - 1;
        let r = (|| {
            let d = self.sym(s).dir_dep;
            if let Some(x) = self.check_expr_deps(ck, d) {
                return Some(x);
            }
            ck.stack[top].via = Via::RevDep;
            let d = self.sym(s).rev_dep;
            if let Some(x) = self.check_expr_deps(ck, d) {
                return Some(x);
            }
            ck.stack[top].via = Via::Implied;
            let d = self.sym(s).implied;
            if let Some(x) = self.check_expr_deps(ck, d) {
                return Some(x);
            }
            ck.stack[top].via = Via::None;
            for p in self.sym(s).props.clone() {
                let kind = self.prop(p).kind;
                if kind == PropKind::Select || kind == PropKind::Imply {
                    continue;
                }
                ck.stack[top].prop = Some(p);
                let v = self.prop(p).visible;
                if let Some(x) = self.check_expr_deps(ck, v) {
                    return Some(x);
                }
                if kind != PropKind::Default || self.is_choice(s) {
                    continue;
                }
                ck.stack[top].via = Via::PropExpr;
                let e = self.prop(p).expr;
                if let Some(x) = self.check_expr_deps(ck, e) {
                    return Some(x);
                }
                ck.stack[top].via = Via::None;
            }
            None
        })();
        ck.stack.pop();
        r
    }

    fn check_choice_deps(&mut self, ck: &mut Checker, choice: SymbolId) -> Option<SymbolId> {
        ck.stack.push(Frame {
            sym: choice,
            prop: None,
            via: Via::None,
        });
        let members = self.choice_member_order(choice);
        for &m in &members {
            self.set_flag(m, flags::CHECK | flags::CHECKED);
        }
        self.set_flag(choice, flags::CHECK | flags::CHECKED);
        let mut r = self.check_sym_deps(ck, choice);
        self.clear_flag(choice, flags::CHECK);
        if r.is_none() {
            for &m in &members {
                r = self.check_sym_deps(ck, m);
                if r.is_some() {
                    break;
                }
            }
        }
        for &m in &members {
            self.clear_flag(m, flags::CHECK);
        }
        if let Some(x) = r {
            if self.choice_of_for_check(x) == Some(choice) {
                r = Some(choice);
            }
        }
        ck.stack.pop();
        r
    }

    fn first_menu(&self, s: SymbolId) -> Option<MenuId> {
        self.sym(s).menus.first().copied()
    }

    fn print_recursive(&mut self, ck: &mut Checker, last: SymbolId) {
        let mut last = last;
        let mut pushed = false;
        if let Some(cs) = self.choice_of_for_check(last) {
            ck.stack.push(Frame {
                sym: last,
                prop: None,
                via: Via::None,
            });
            pushed = true;
            last = cs;
        }
        let Some(start) = ck.stack.iter().rposition(|f| f.sym == last) else {
            self.messages.err("unexpected recursive dependency error");
            if pushed {
                ck.stack.pop();
            }
            return;
        };
        let name = |kc: &Kconfig, s: SymbolId| kc.sym(s).display_name().to_string();
        let mut out = String::new();
        for i in start..ck.stack.len() {
            let f = ck.stack[i];
            let sym = f.sym;
            let next = ck.stack.get(i + 1).map(|f| f.sym).unwrap_or(last);
            let kind = f
                .prop
                .map(|p| self.prop(p).kind.name())
                .unwrap_or("unknown");
            match self.dialect {
                Dialect::V6_12 | Dialect::V6_18 => {
                    if sym == last {
                        out.push_str("error: recursive dependency detected!\n");
                    }
                    let line = if self.is_choice(next) {
                        let m = self.first_menu(next);
                        let (file, ln) = m
                            .map(|m| (self.menu(m).file.to_string(), self.menu(m).line))
                            .unwrap_or_default();
                        format!(
                            "\tsymbol {} is part of choice block at {}:{}\n",
                            name(self, sym),
                            file,
                            ln
                        )
                    } else {
                        self.recursive_line(f, &name(self, sym), &name(self, next), kind)
                    };
                    out.push_str(&line);
                }
                Dialect::V6_1 => {
                    // 6.1 falls back to the symbol's first property, which is
                    // the implicit one its first `config` entry adds: that
                    // entry's file and line.
                    let first_entry = self.sym(sym).menus.first().copied();
                    let at_menu = |m: MenuId| (self.menu(m).file.to_string(), self.menu(m).line);
                    let at_prop = |p: PropId| (self.prop(p).file.to_string(), self.prop(p).line);
                    let fallback = || {
                        first_entry
                            .map(at_menu)
                            .or_else(|| self.sym(sym).props.first().copied().map(at_prop))
                            .unwrap_or_default()
                    };
                    let (pf, pl) = if self.is_choice(sym) || self.is_choice_value(sym) {
                        fallback()
                    } else {
                        f.prop.map(at_prop).unwrap_or_else(fallback)
                    };
                    let (mf, ml) = first_entry.map(at_menu).unwrap_or_default();
                    if sym == last {
                        out.push_str(&format!(
                            "{pf}:{pl}:error: recursive dependency detected!\n"
                        ));
                    }
                    let (a, b) = (name(self, sym), name(self, next));
                    let line = if self.is_choice(sym) {
                        format!("{mf}:{ml}:\tchoice {a} contains symbol {b}\n")
                    } else if self.is_choice_value(sym) {
                        format!("{mf}:{ml}:\tsymbol {a} is part of choice {b}\n")
                    } else {
                        format!("{pf}:{pl}:{}", self.recursive_line(f, &a, &b, kind))
                    };
                    out.push_str(&line);
                }
            }
        }
        out.push_str(
            "For a resolution refer to Documentation/kbuild/kconfig-language.rst\n\
             subsection \"Kconfig recursive dependency limitations\"\n",
        );
        self.messages.err(out);
        if pushed {
            ck.stack.pop();
        }
    }

    fn recursive_line(&self, f: Frame, a: &str, b: &str, kind: &str) -> String {
        match f.via {
            Via::DirDep => format!("\tsymbol {a} depends on {b}\n"),
            Via::RevDep => format!("\tsymbol {a} is selected by {b}\n"),
            Via::Implied => format!("\tsymbol {a} is implied by {b}\n"),
            Via::PropExpr => format!("\tsymbol {a} {kind} value contains {b}\n"),
            Via::None => format!("\tsymbol {a} {kind} is visible depending on {b}\n"),
        }
    }

    /// 6.12: members of a choice may not have defaults or prompts elsewhere.
    /// The checks after the tree is finalised (the kernel's loop over every
    /// menu node in `conf_parse`): recursive dependencies, then (6.18) a
    /// transitional symbol with more than help, then (6.11) the members of
    /// a choice. Returns the number of errors.
    pub(crate) fn check_all(&mut self) -> u32 {
        if self.dialect == Dialect::V6_1 {
            return self.check_all_deps();
        }
        let mut ck = Checker { stack: Vec::new() };
        let mut errors = 0;
        for m in self.all_menus() {
            let sym = self.menu(m).sym;
            if let Some(s) = sym {
                if self.check_deps(&mut ck, s).is_some() {
                    errors += 1;
                }
            }
            if self.dialect >= Dialect::V6_18 && !self.transitional_sane(m) {
                errors += 1;
            }
            let Some(cs) = sym else { continue };
            if !self.is_choice(cs) {
                continue;
            }
            for child in self.menu_subtree(m) {
                if self.menu(child).sym.is_some() && !self.choice_member_sane(child) {
                    errors += 1;
                }
            }
        }
        errors
    }

    /// A transitional symbol may only have help: no dependency, visibility
    /// or property. Reports the first offence.
    fn transitional_sane(&mut self, m: MenuId) -> bool {
        let Some(s) = self.menu(m).sym else {
            return true;
        };
        if !self.has_flag(s, flags::TRANS) {
            return true;
        }
        const MSG: &str = "error: transitional symbols can only have help sections";
        let not_y = |kc: &Kconfig, e: Option<ExprId>| {
            e.is_some_and(|e| kc.exprs.get(e) != Expr::Symbol(crate::symbol::SYM_YES))
        };
        if not_y(self, self.menu(m).dep) || not_y(self, self.menu(m).visibility) {
            let (f, l) = (self.menu(m).file.clone(), self.menu(m).line);
            self.messages.err(format!("{f}:{l}: {MSG}"));
            return false;
        }
        if let Some(&p) = self
            .sym(s)
            .props
            .iter()
            .find(|&&p| self.prop(p).kind != PropKind::Comment)
        {
            let (f, l) = (self.prop(p).file.clone(), self.prop(p).line);
            self.messages.err(format!("{f}:{l}: {MSG}"));
            return false;
        }
        true
    }

    /// A member of a choice has no default, and no prompt elsewhere (6.18:
    /// in any other entry; before: outside its choice group).
    fn choice_member_sane(&mut self, child: MenuId) -> bool {
        let Some(s) = self.menu(child).sym else {
            return true;
        };
        let mut ok = true;
        for p in self.sym(s).props.clone() {
            let pr = self.prop(p).clone();
            if pr.kind == PropKind::Default {
                self.messages.err(format!(
                    "{}:{}: error: defaults for choice values not supported",
                    pr.file, pr.line
                ));
                ok = false;
            }
            if pr.menu != child && pr.kind == PropKind::Prompt {
                if self.dialect >= Dialect::V6_18 {
                    self.messages.err(format!(
                        "{}:{}: error: choice value must not have a prompt in another entry",
                        pr.file, pr.line
                    ));
                    ok = false;
                } else if self.menu(pr.menu).parent != self.menu(child).parent {
                    self.messages.err(format!(
                        "{}:{}: error: choice value has a prompt outside its choice group",
                        pr.file, pr.line
                    ));
                    ok = false;
                }
            }
        }
        ok
    }
}
