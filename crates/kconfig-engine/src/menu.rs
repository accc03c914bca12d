//! The menu tree and its finalisation: dependency propagation into every
//! property, reverse dependencies from `select`/`imply`, automatic submenus
//! and the flattening of `if` blocks.

use std::rc::Rc;

use crate::expr::{Expr, ExprId};
use crate::symbol::{flags, PropId, PropKind, SmallList, SymType, SymbolId, SYM_MOD, SYM_NO};
use crate::{Dialect, Kconfig};

/// Index of a menu node in the tree's arena.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MenuId(pub u32);

/// The root menu always has this id.
pub const ROOT_MENU: MenuId = MenuId(0);

/// A node of the menu tree: a symbol's definition, a menu, a comment, an
/// `if` block or a choice.
#[derive(Debug, Clone)]
pub struct Menu {
    pub parent: Option<MenuId>,
    pub next: Option<MenuId>,
    pub list: Option<MenuId>,
    pub sym: Option<SymbolId>,
    pub prompt: Option<PropId>,
    pub visibility: Option<ExprId>,
    pub dep: Option<ExprId>,
    /// Where its help text is in the tree's help texts ([`Kconfig::help`]).
    pub(crate) help: Option<HelpSpan>,
    pub file: Rc<str>,
    pub line: u32,
    /// 6.12 choices: members in priority order (the kernel's choice_members).
    pub choice_members: Vec<SymbolId>,
}

/// A help text's place in [`Kconfig`]'s one string of help texts: most
/// commands never show one, so they are kept apart from the menus and read
/// in one piece from a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HelpSpan {
    pub(crate) start: u32,
    pub(crate) len: u32,
}

impl Menu {
    pub(crate) fn new(
        sym: Option<SymbolId>,
        parent: Option<MenuId>,
        file: Rc<str>,
        line: u32,
    ) -> Self {
        Menu {
            parent,
            next: None,
            list: None,
            sym,
            prompt: None,
            visibility: None,
            dep: None,
            help: None,
            file,
            line,
            choice_members: Vec::new(),
        }
    }
}

impl Kconfig {
    /// The menu node behind `id`.
    pub fn menu(&self, id: MenuId) -> &Menu {
        &self.menus[id.0 as usize]
    }
    /// The help text of a menu node, if it has one.
    pub fn help(&self, id: MenuId) -> Option<&str> {
        let h = self.menu(id).help?;
        let start = h.start as usize;
        self.help_texts.get(start..start + h.len as usize)
    }
    /// Give a menu node its help text (replacing one it had).
    pub(crate) fn set_help(&mut self, id: MenuId, text: &str) {
        let start = self.help_texts.len() as u32;
        self.help_texts.push_str(text);
        self.menu_mut(id).help = Some(HelpSpan {
            start,
            len: text.len() as u32,
        });
    }
    pub(crate) fn menu_mut(&mut self, id: MenuId) -> &mut Menu {
        &mut self.menus[id.0 as usize]
    }

    /// The next node in depth-first order, staying inside `root` if given.
    pub fn menu_next(&self, m: MenuId, root: Option<MenuId>) -> Option<MenuId> {
        if let Some(l) = self.menu(m).list {
            return Some(l);
        }
        let mut m = m;
        while Some(m) != root && self.menu(m).next.is_none() {
            m = self.menu(m).parent?;
        }
        if Some(m) == root {
            return None;
        }
        self.menu(m).next
    }

    /// Every node below `root` (not `root` itself), depth first.
    pub fn menu_subtree(&self, root: MenuId) -> Vec<MenuId> {
        let mut out = Vec::new();
        let mut m = self.menu(root).list;
        while let Some(x) = m {
            out.push(x);
            m = self.menu_next(x, Some(root));
        }
        out
    }

    /// Every node of the tree except the root, depth first.
    pub fn all_menus(&self) -> Vec<MenuId> {
        self.menu_subtree(ROOT_MENU)
    }

    fn rewrite_m(&mut self, e: Option<ExprId>) -> Option<ExprId> {
        let e = e?;
        Some(match self.exprs.get(e) {
            Expr::Not(a) => {
                let a = self.rewrite_m(Some(a)).unwrap_or(a);
                self.exprs.add(Expr::Not(a))
            }
            Expr::And(a, b) => {
                let a = self.rewrite_m(Some(a)).unwrap_or(a);
                let b = self.rewrite_m(Some(b)).unwrap_or(b);
                self.exprs.add(Expr::And(a, b))
            }
            Expr::Or(a, b) => {
                let a = self.rewrite_m(Some(a)).unwrap_or(a);
                let b = self.rewrite_m(Some(b)).unwrap_or(b);
                self.exprs.add(Expr::Or(a, b))
            }
            Expr::Symbol(s) if s == SYM_MOD => {
                let ms = self.exprs.sym(self.modules_sym);
                self.exprs.add(Expr::And(e, ms))
            }
            _ => e,
        })
    }

    /// Can `dep` hold with `sym` off because it names `sym` negated (`!sym`,
    /// `sym=n`, `sym!=y`, `sym!=m`, under any AND or OR)? Linux 7.3's
    /// `expr_contains_symbol_negated`, on the expression as written:
    /// `negate` carries a `!` down to the leaves as the kernel's
    /// `expr_transform` would.
    fn contains_symbol_negated(&self, dep: Option<ExprId>, sym: SymbolId, negate: bool) -> bool {
        use crate::expr::CmpOp;
        let Some(d) = dep else { return false };
        match self.exprs.get(d) {
            Expr::And(a, b) | Expr::Or(a, b) => {
                self.contains_symbol_negated(Some(a), sym, negate)
                    || self.contains_symbol_negated(Some(b), sym, negate)
            }
            Expr::Not(a) => self.contains_symbol_negated(Some(a), sym, !negate),
            Expr::Symbol(s) => negate && s == sym,
            Expr::Compare(op @ (CmpOp::Equal | CmpOp::Unequal), l, r) => {
                // sym=n, or sym!=y / sym!=m, once a `!` above is applied
                let equal = (op == CmpOp::Equal) != negate;
                l == sym
                    && if equal {
                        r == SYM_NO
                    } else {
                        r == crate::symbol::SYM_YES || r == SYM_MOD
                    }
            }
            _ => false,
        }
    }

    /// Does `dep` force `sym` (dep is `sym`, `sym=y`, `sym!=n`, or an AND
    /// containing one of them)? The kernel's `expr_depends_symbol`.
    fn depends_symbol(&self, dep: Option<ExprId>, sym: SymbolId) -> bool {
        let Some(d) = dep else { return false };
        match self.exprs.get(d) {
            Expr::And(a, b) => {
                self.depends_symbol(Some(a), sym) || self.depends_symbol(Some(b), sym)
            }
            Expr::Symbol(s) => s == sym,
            Expr::Compare(crate::expr::CmpOp::Equal, l, r) => {
                l == sym && (r == crate::symbol::SYM_YES || r == SYM_MOD)
            }
            Expr::Compare(crate::expr::CmpOp::Unequal, l, r) => l == sym && r == SYM_NO,
            _ => false,
        }
    }

    fn finalize_node(&mut self, parent: MenuId, inside_choice: bool) {
        let sym = self.menu(parent).sym;
        let v61 = self.dialect == Dialect::V6_1;
        if self.menu(parent).list.is_some() {
            let is_choice = sym.is_some_and(|s| self.is_choice(s));
            let parentdep = if v61 && is_choice {
                let s = sym.unwrap();
                // 6.1: a choice without a type takes its first typed member's
                if self.sym(s).ty == SymType::Unknown {
                    let mut m = self.menu(parent).list;
                    while let Some(x) = m {
                        if let Some(ms) = self.menu(x).sym {
                            let t = self.sym(ms).ty;
                            if t != SymType::Unknown {
                                self.set_type(parent, t);
                                break;
                            }
                        }
                        m = self.menu(x).next;
                    }
                }
                let ct = self.sym(s).ty;
                let mut m = self.menu(parent).list;
                while let Some(x) = m {
                    if let Some(ms) = self.menu(x).sym {
                        if self.sym(ms).ty == SymType::Unknown {
                            self.set_type(x, ct);
                        }
                    }
                    m = self.menu(x).next;
                }
                Some(self.exprs.sym(s))
            } else {
                self.menu(parent).dep
            };
            let mut m = self.menu(parent).list;
            while let Some(x) = m {
                let own = self.menu(x).dep;
                let own = self.rewrite_m(own);
                let basedep = self.exprs.and(parentdep, own);
                self.menu_mut(x).dep = basedep;
                let props: SmallList<PropId> = match self.menu(x).sym {
                    Some(s) => self.sym(s).props.clone(),
                    None => self.menu(x).prompt.into_iter().collect(),
                };
                for p in props {
                    if self.prop(p).menu != x {
                        continue;
                    }
                    let v = self.prop(p).visible;
                    let v = self.rewrite_m(v);
                    let dep = self.exprs.and(basedep, v);
                    self.props[p.0 as usize].visible = dep;
                    let kind = self.prop(p).kind;
                    if kind == PropKind::Select || kind == PropKind::Imply {
                        if let (Some(es), Some(ms)) = (self.prop_symbol(p), self.menu(x).sym) {
                            let me = self.exprs.sym(ms);
                            let term = self.exprs.and(Some(me), dep);
                            if kind == PropKind::Select {
                                let r = self.sym(es).rev_dep;
                                self.sym_mut(es).rev_dep = self.exprs.or(r, term);
                            } else {
                                let r = self.sym(es).implied;
                                self.sym_mut(es).implied = self.exprs.or(r, term);
                            }
                        }
                    }
                }
                m = self.menu(x).next;
            }
            let mut m = self.menu(parent).list;
            while let Some(x) = m {
                let child_inside = if v61 { false } else { is_choice };
                self.finalize_node(x, child_inside);
                m = self.menu(x).next;
            }
        } else if let (false, Some(s)) = (inside_choice, sym) {
            // automatic submenus: following entries that depend on this symbol
            // (7.3: but not those that can hold with it off, like `!sym`)
            let v73_negated = self.dialect >= Dialect::V6_18;
            let mut last: Option<MenuId> = None;
            let mut m = self.menu(parent).next;
            while let Some(x) = m {
                let dep = match self.menu(x).prompt {
                    Some(p) => self.prop(p).visible,
                    None => self.menu(x).dep,
                };
                if !self.exprs.contains_symbol(dep, s) {
                    break;
                }
                if !self.depends_symbol(dep, s)
                    && (v73_negated && self.contains_symbol_negated(dep, s, false)
                        || !self.superset_dep(parent, dep, s))
                {
                    break;
                }
                self.finalize_node(x, false);
                self.menu_mut(x).parent = Some(parent);
                last = Some(x);
                m = self.menu(x).next;
            }
            if let Some(l) = last {
                let first = self.menu(parent).next;
                let after = self.menu(l).next;
                self.menu_mut(parent).list = first;
                self.menu_mut(parent).next = after;
                self.menu_mut(l).next = None;
            }
            let pd = self.menu(parent).dep;
            let dd = self.sym(s).dir_dep;
            self.sym_mut(s).dir_dep = self.exprs.or(dd, pd);
        }

        let mut m = self.menu(parent).list;
        while let Some(x) = m {
            if v61 {
                if let Some(cs) = sym.filter(|&s| self.is_choice(s)) {
                    if let Some(ms) = self.menu(x).sym.filter(|&ms| !self.is_choice_value(ms)) {
                        self.mark_choice_value_61(cs, x, ms);
                    }
                }
            }
            let has_text = self
                .menu(x)
                .prompt
                .is_some_and(|p| self.prop(p).text.is_some());
            if self.menu(x).list.is_some() && !has_text {
                let mut l = self.menu(x).list.unwrap();
                loop {
                    self.menu_mut(l).parent = Some(parent);
                    match self.menu(l).next {
                        Some(n) => l = n,
                        None => break,
                    }
                }
                let xn = self.menu(x).next;
                self.menu_mut(l).next = xn;
                let xl = self.menu(x).list;
                self.menu_mut(x).next = xl;
                self.menu_mut(x).list = None;
            }
            m = self.menu(x).next;
        }

        if let Some(s) = sym {
            if !self.has_flag(s, flags::WARNED) {
                if self.sym(s).ty == SymType::Unknown {
                    self.menu_warn(parent, "config symbol defined without type");
                }
                if v61 && self.is_choice(s) && self.menu(parent).prompt.is_none() {
                    self.menu_warn(parent, "choice must have a prompt");
                }
                self.check_props(s);
                self.set_flag(s, flags::WARNED);
            }
            if v61 && !self.has_flag(s, flags::OPTIONAL) {
                if let Some(p) = self.menu(parent).prompt {
                    let v = self.prop(p).visible;
                    let me = self.exprs.sym(SYM_MOD);
                    let term = self.exprs.and(v, Some(me));
                    let r = self.sym(s).rev_dep;
                    self.sym_mut(s).rev_dep = self.exprs.or(r, term);
                }
            }
        }
    }

    /// The second test of automatic submenus: `dep` (with `!= n` added)
    /// contains everything `parent`'s prompt depends on. We approximate the
    /// kernel's expression algebra by comparing the sets of AND-ed terms.
    fn superset_dep(&self, parent: MenuId, dep: Option<ExprId>, sym: SymbolId) -> bool {
        let base = self.menu(parent).prompt.and_then(|p| self.prop(p).visible);
        let mut want = Vec::new();
        self.and_terms(base, &mut want);
        let mut have = Vec::new();
        self.and_terms(dep, &mut have);
        let _ = sym;
        want.iter()
            .all(|w| have.iter().any(|h| self.expr_eq(*h, *w)))
    }

    fn and_terms(&self, e: Option<ExprId>, out: &mut Vec<ExprId>) {
        let Some(e) = e else { return };
        match self.exprs.get(e) {
            Expr::And(a, b) => {
                self.and_terms(Some(a), out);
                self.and_terms(Some(b), out);
            }
            _ => out.push(e),
        }
    }

    fn expr_eq(&self, a: ExprId, b: ExprId) -> bool {
        if a == b {
            return true;
        }
        match (self.exprs.get(a), self.exprs.get(b)) {
            (Expr::Symbol(x), Expr::Symbol(y)) => x == y,
            (Expr::Not(x), Expr::Not(y)) => self.expr_eq(x, y),
            (Expr::And(a1, a2), Expr::And(b1, b2)) | (Expr::Or(a1, a2), Expr::Or(b1, b2)) => {
                (self.expr_eq(a1, b1) && self.expr_eq(a2, b2))
                    || (self.expr_eq(a1, b2) && self.expr_eq(a2, b1))
            }
            (Expr::Compare(o1, l1, r1), Expr::Compare(o2, l2, r2)) => {
                o1 == o2 && l1 == l2 && r1 == r2
            }
            _ => false,
        }
    }

    /// 6.1: turn a choice's direct child into a choice value.
    fn mark_choice_value_61(&mut self, cs: SymbolId, x: MenuId, ms: SymbolId) {
        self.set_flag(ms, flags::CHOICEVAL);
        if self.menu(x).prompt.is_none() {
            self.menu_warn(x, "choice value must have a prompt");
        }
        for p in self.sym(ms).props.clone() {
            if self.prop(p).kind == PropKind::Default {
                self.prop_warn(p, "defaults for choice values not supported");
            }
            let pm = self.prop(p).menu;
            if pm == x {
                continue;
            }
            if self.prop(p).kind == PropKind::Prompt {
                let pp = self.menu(pm).parent.and_then(|pp| self.menu(pp).sym);
                if pp != Some(cs) {
                    self.prop_warn(p, "choice value used outside its choice group");
                }
            }
        }
        if self.sym(cs).ty == SymType::Tristate && self.sym(ms).ty != SymType::Tristate {
            let basedep = self.exprs.add(Expr::Compare(
                crate::expr::CmpOp::Equal,
                cs,
                crate::symbol::SYM_YES,
            ));
            let d = self.menu(x).dep;
            self.menu_mut(x).dep = self.exprs.and(Some(basedep), d);
            for p in self.sym(ms).props.clone() {
                if self.prop(p).menu != x {
                    continue;
                }
                let v = self.prop(p).visible;
                self.props[p.0 as usize].visible = self.exprs.and(Some(basedep), v);
            }
        }
        // the P_CHOICE property linking member to choice
        let file = self.menu(x).file.clone();
        let line = self.menu(x).line;
        let ce = self.exprs.sym(cs);
        let pid = PropId(self.props.len() as u32);
        self.props.push(crate::symbol::Property {
            kind: PropKind::Choice,
            text: None,
            expr: Some(ce),
            visible: None,
            visible_tri: crate::expr::Tri::No,
            menu: x,
            file,
            line,
        });
        self.sym_mut(ms).props.push(pid);
        self.sym_mut(ms).choice_of = Some(cs);
        self.sym_mut(cs).choice_members.push(ms);
    }

    pub(crate) fn set_type(&mut self, m: MenuId, ty: SymType) {
        let Some(s) = self.menu(m).sym else { return };
        let cur = self.sym(s).ty;
        if cur == ty {
            return;
        }
        if cur == SymType::Unknown {
            self.sym_mut(s).ty = ty;
            return;
        }
        let name = self.sym(s).display_name().to_string();
        self.menu_warn(
            m,
            &format!(
                "ignoring type redefinition of '{}' from '{}' to '{}'",
                name,
                cur.name(),
                ty.name()
            ),
        );
    }

    pub(crate) fn menu_warn(&mut self, m: MenuId, msg: &str) {
        let t = format!(
            "{}:{}:warning: {}",
            self.menu(m).file,
            self.menu(m).line,
            msg
        );
        self.messages.err(t);
    }

    pub(crate) fn prop_warn(&mut self, p: PropId, msg: &str) {
        let t = format!(
            "{}:{}:warning: {}",
            self.prop(p).file,
            self.prop(p).line,
            msg
        );
        self.messages.err(t);
    }

    fn validate_number(&self, s: SymbolId, s2: SymbolId) -> bool {
        let t2 = self.sym(s2).ty;
        t2 == SymType::Int
            || t2 == SymType::Hex
            || (t2 == SymType::Unknown
                && self
                    .sym(s2)
                    .name
                    .as_deref()
                    .is_some_and(|n| self.string_valid(s, n)))
    }

    fn check_props(&mut self, s: SymbolId) {
        let name = self.sym(s).display_name().to_string();
        let ty = self.sym(s).ty;
        for p in self.sym(s).props.clone() {
            let kind = self.prop(p).kind;
            match kind {
                PropKind::Default => {
                    let is_single = self.prop_symbol(p).is_some();
                    if matches!(ty, SymType::String | SymType::Int | SymType::Hex) && !is_single {
                        self.prop_warn(
                            p,
                            &format!("default for config symbol '{name}' must be a single symbol"),
                        );
                    }
                    let Some(s2) = self.prop_symbol(p) else {
                        continue;
                    };
                    if (ty == SymType::Hex || ty == SymType::Int) && !self.validate_number(s, s2) {
                        self.prop_warn(p, &format!("'{name}': number is invalid"));
                    }
                    if self.is_choice(s) {
                        let ok = match self.dialect {
                            Dialect::V6_12 | Dialect::V6_18 => {
                                self.sym(s2).choice_menu.and_then(|cm| self.menu(cm).sym) == Some(s)
                                    || self.choice_menu_of(s2).and_then(|cm| self.menu(cm).sym)
                                        == Some(s)
                            }
                            Dialect::V6_1 => {
                                self.sym(s2).choice_of == Some(s) || !self.is_choice_value(s2)
                            }
                        };
                        if !ok && self.dialect >= Dialect::V6_12 {
                            let n2 = self.sym(s2).display_name().to_string();
                            self.prop_warn(
                                p,
                                &format!(
                                    "choice default symbol '{n2}' is not contained in the choice"
                                ),
                            );
                        }
                    }
                }
                PropKind::Select | PropKind::Imply => {
                    let use_ = if kind == PropKind::Select {
                        "select"
                    } else {
                        "imply"
                    };
                    let Some(s2) = self.prop_symbol(p) else {
                        continue;
                    };
                    let t2 = self.sym(s2).ty;
                    if ty != SymType::Bool && ty != SymType::Tristate {
                        self.prop_warn(
                            p,
                            &format!(
                                "config symbol '{name}' uses {use_}, but is not bool or tristate"
                            ),
                        );
                    } else if t2 != SymType::Unknown
                        && t2 != SymType::Bool
                        && t2 != SymType::Tristate
                    {
                        let n2 = self.sym(s2).display_name().to_string();
                        self.prop_warn(
                            p,
                            &format!("'{n2}' has wrong type. '{use_}' only accept arguments of bool and tristate type"),
                        );
                    }
                }
                PropKind::Range => {
                    if ty != SymType::Int && ty != SymType::Hex {
                        self.prop_warn(p, "range is only allowed for int or hex symbols");
                    }
                    if let Some(Expr::Range(a, b)) = self.prop(p).expr.map(|e| self.exprs.get(e)) {
                        if !self.validate_number(s, a) || !self.validate_number(s, b) {
                            self.prop_warn(p, "range is invalid");
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// 6.12: the choice menu containing a member, found through the parents
    /// of its first prompted definition (the kernel's `sym_get_choice_menu`).
    pub(crate) fn choice_menu_of(&self, s: SymbolId) -> Option<MenuId> {
        let first = self
            .sym(s)
            .menus
            .iter()
            .copied()
            .find(|&m| self.menu(m).prompt.is_some())?;
        let mut m = self.menu(first).parent;
        while let Some(x) = m {
            if self.menu(x).sym.is_some() {
                break;
            }
            m = self.menu(x).parent;
        }
        let x = m?;
        let ps = self.menu(x).sym?;
        if self.is_choice(ps) {
            Some(x)
        } else {
            None
        }
    }

    /// Finalise the parsed tree (the kernel's `menu_finalize`).
    pub(crate) fn finalize(&mut self) {
        self.finalize_node(super::menu::ROOT_MENU, false);
        if self.dialect >= Dialect::V6_12 {
            for i in 0..self.symbols.len() {
                let s = SymbolId(i as u32);
                let cm = self.choice_menu_of(s);
                self.symbols[i].choice_menu = cm;
            }
        }
    }

    /// Is this menu node shown (the kernel's `menu_is_visible`)?
    pub fn menu_is_visible(&mut self, m: MenuId) -> bool {
        let Some(p) = self.menu(m).prompt else {
            return false;
        };
        if let Some(v) = self.menu(m).visibility {
            if self.eval(Some(v)) == crate::expr::Tri::No {
                return false;
            }
        }
        let sym = self.menu(m).sym;
        let visible = if let Some(s) = sym {
            self.calc_value(s);
            self.prop(p).visible_tri
        } else {
            let v = self.prop(p).visible;
            let t = self.eval(v);
            self.props[p.0 as usize].visible_tri = t;
            t
        };
        if visible != crate::expr::Tri::No {
            return true;
        }
        let Some(s) = sym else { return false };
        if self.tristate_value(s) == crate::expr::Tri::No {
            return false;
        }
        let mut c = self.menu(m).list;
        while let Some(x) = c {
            if self.menu_is_visible(x) {
                return true;
            }
            c = self.menu(x).next;
        }
        false
    }

    /// The prompt text of a node, or its symbol's name.
    pub fn menu_prompt(&self, m: MenuId) -> Option<Rc<str>> {
        if let Some(p) = self.menu(m).prompt {
            return self.prop(p).text.clone();
        }
        self.menu(m).sym.and_then(|s| self.sym(s).name.clone())
    }
}
