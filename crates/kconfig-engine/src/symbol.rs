//! Symbols, properties and the evaluation of values: visibility, defaults,
//! reverse dependencies, implied values, ranges and choices, following the
//! lazy, cached scheme of the kernel's `symbol.c` so results agree exactly.

use std::rc::Rc;

use crate::expr::{CmpOp, Expr, ExprId, Tri};
use crate::menu::MenuId;
use crate::{Dialect, Kconfig};

/// Index of a symbol in the tree's arena.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SymbolId(pub u32);

/// A short list kept inside its owner: a symbol has a few properties and
/// usually one menu node, and a tree has twenty thousand symbols to load.
pub type SmallList<T> = smallvec::SmallVec<[T; 4]>;

/// Index of a property in the tree's arena.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PropId(pub u32);

/// The constant symbols `y`, `m` and `n` always have these ids.
pub const SYM_YES: SymbolId = SymbolId(0);
pub const SYM_MOD: SymbolId = SymbolId(1);
pub const SYM_NO: SymbolId = SymbolId(2);

/// A symbol's declared type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SymType {
    Unknown,
    Bool,
    Tristate,
    Int,
    Hex,
    String,
}

impl SymType {
    /// The name the kernel uses in messages.
    pub fn name(self) -> &'static str {
        match self {
            SymType::Unknown => "unknown",
            SymType::Bool => "bool",
            SymType::Tristate => "tristate",
            SymType::Int => "integer",
            SymType::Hex => "hex",
            SymType::String => "string",
        }
    }
}

/// Symbol flags, with the meanings of the kernel's `SYMBOL_*` bits.
pub mod flags {
    pub const CONST: u32 = 0x0001;
    pub const CHECK: u32 = 0x0008;
    pub const CHOICE: u32 = 0x0010;
    pub const CHOICEVAL: u32 = 0x0020;
    pub const VALID: u32 = 0x0080;
    pub const OPTIONAL: u32 = 0x0100;
    pub const WRITE: u32 = 0x0200;
    pub const CHANGED: u32 = 0x0400;
    pub const WRITTEN: u32 = 0x0800;
    pub const NO_WRITE: u32 = 0x1000;
    pub const CHECKED: u32 = 0x2000;
    /// A `transitional` symbol (Linux 6.18): never written, always
    /// visible, its value only a default for the symbol replacing it.
    pub const TRANS: u32 = 0x4000;
    pub const WARNED: u32 = 0x8000;
    pub const DEF_USER: u32 = 0x10000;
    pub const DEF_AUTO: u32 = 0x20000;
    pub const NEED_SET_CHOICE_VALUES: u32 = 0x100000;
    /// Ours, not the kernel's: the symbol's value is being computed, so
    /// what it holds now is provisional (see `EvalMemo`).
    pub const IN_CALC: u32 = 0x200000;
}

/// Remembered results of compound expressions, so that a subexpression
/// shared by many symbols (a menu's or an `if` block's dependencies) is
/// evaluated once per state of the values.
///
/// A result is kept only when no symbol it read was still being computed
/// (a dependency loop reads the provisional value, as the kernel does), and
/// every result is forgotten when a computed value may change: when a
/// symbol's value is invalidated, or a choice's members are set again.
#[derive(Clone)]
pub(crate) struct EvalMemo {
    /// Per expression node: `epoch << 2 | tri`, or 0 when never stored.
    cells: Vec<u32>,
    /// Results stored under another epoch are stale.
    epoch: u32,
    /// Reads of a provisional value so far (only its changes matter).
    provisional_reads: u32,
    /// Since [`Kconfig::read`] invalidated every value, each value was
    /// computed from settled values only, with no warning printed and no
    /// input changed: computing them all again, in any order, gives the
    /// same values, flags and messages.
    pub(crate) clean: bool,
    /// What the inputs were when `read` finished with `clean` values
    /// ([`Kconfig::input_digest`]).
    pub(crate) read_digest: Option<u64>,
}

impl Default for EvalMemo {
    fn default() -> Self {
        // epoch 0 is that of the empty cells
        EvalMemo {
            cells: Vec::new(),
            epoch: 1,
            provisional_reads: 0,
            clean: false,
            read_digest: None,
        }
    }
}

impl EvalMemo {
    fn get(&self, e: ExprId) -> Option<Tri> {
        let c = *self.cells.get(e.0 as usize)?;
        (c >> 2 == self.epoch).then(|| Tri::from_bits(c & 3))
    }
    fn put(&mut self, e: ExprId, t: Tri, len: usize) {
        let i = e.0 as usize;
        if i >= self.cells.len() {
            self.cells.resize(len.max(i + 1), 0);
        }
        self.cells[i] = self.epoch << 2 | t as u32;
    }
    /// Forget every stored result.
    pub(crate) fn forget(&mut self) {
        self.epoch += 1;
        if self.epoch >= 1 << 30 {
            self.cells.fill(0);
            self.epoch = 1;
        }
    }
}

/// Which stored value: the user's (`.config`) or the one read back from
/// `auto.conf` for syncconfig's dependency tracking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefSlot {
    User = 0,
    Auto = 1,
}

/// A value: the tristate part, the string part, and for a 6.1 choice the
/// selected member.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Value {
    pub tri: Tri,
    pub val: Option<Rc<str>>,
    pub choice: Option<SymbolId>,
}

/// A Kconfig symbol (or, without a name, a choice).
#[derive(Debug, Clone)]
pub struct Symbol {
    pub name: Option<Rc<str>>,
    pub ty: SymType,
    pub flags: u32,
    pub curr: Value,
    pub def: [Value; 2],
    pub visible: Tri,
    pub dir_dep: Option<ExprId>,
    pub dir_dep_tri: Tri,
    pub rev_dep: Option<ExprId>,
    pub rev_dep_tri: Tri,
    pub implied: Option<ExprId>,
    pub implied_tri: Tri,
    pub props: SmallList<PropId>,
    pub menus: SmallList<MenuId>,
    /// 6.12: linked into its choice's member list.
    pub in_choice_list: bool,
    /// 6.1: for a choice, its members in order; for a member, its choice.
    pub choice_members: Vec<SymbolId>,
    pub choice_of: Option<SymbolId>,
    /// The choice menu this symbol is a member of (computed after finalising).
    pub choice_menu: Option<MenuId>,
    /// Creation order, for the kernel's hash-table iteration order.
    pub serial: u32,
}

impl Symbol {
    pub(crate) fn new(name: Option<Rc<str>>, flags: u32, serial: u32) -> Self {
        Symbol {
            name,
            ty: SymType::Unknown,
            flags,
            curr: Value::default(),
            def: [Value::default(), Value::default()],
            visible: Tri::No,
            dir_dep: None,
            dir_dep_tri: Tri::No,
            rev_dep: None,
            rev_dep_tri: Tri::No,
            implied: None,
            implied_tri: Tri::No,
            props: SmallList::new(),
            menus: SmallList::new(),
            in_choice_list: false,
            choice_members: Vec::new(),
            choice_of: None,
            choice_menu: None,
            serial,
        }
    }
    /// The symbol's name, or `<choice>` for a choice.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or("<choice>")
    }
}

/// Kinds of property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropKind {
    Prompt,
    Comment,
    Menu,
    Default,
    Select,
    Imply,
    Range,
    /// 6.1: links a choice member to its choice.
    Choice,
}

impl PropKind {
    /// The name used in the kernel's messages.
    pub fn name(self) -> &'static str {
        match self {
            PropKind::Prompt => "prompt",
            PropKind::Comment => "comment",
            PropKind::Menu => "menu",
            PropKind::Default => "default",
            PropKind::Select => "select",
            PropKind::Imply => "imply",
            PropKind::Range => "range",
            PropKind::Choice => "choice",
        }
    }
}

/// A property of a symbol or menu entry: prompt, default, select, etc.
#[derive(Debug, Clone)]
pub struct Property {
    pub kind: PropKind,
    pub text: Option<Rc<str>>,
    pub expr: Option<ExprId>,
    pub visible: Option<ExprId>,
    pub visible_tri: Tri,
    pub menu: MenuId,
    pub file: Rc<str>,
    pub line: u32,
}

impl Kconfig {
    /// The symbol behind `id`.
    pub fn sym(&self, id: SymbolId) -> &Symbol {
        &self.symbols[id.0 as usize]
    }
    pub(crate) fn sym_mut(&mut self, id: SymbolId) -> &mut Symbol {
        &mut self.symbols[id.0 as usize]
    }
    /// The property behind `id`.
    pub fn prop(&self, id: PropId) -> &Property {
        &self.props[id.0 as usize]
    }
    pub(crate) fn has_flag(&self, s: SymbolId, f: u32) -> bool {
        self.symbols[s.0 as usize].flags & f != 0
    }
    pub(crate) fn set_flag(&mut self, s: SymbolId, f: u32) {
        self.symbols[s.0 as usize].flags |= f;
    }
    pub(crate) fn clear_flag(&mut self, s: SymbolId, f: u32) {
        if f & flags::VALID != 0 {
            self.memo.forget();
        }
        self.symbols[s.0 as usize].flags &= !f;
    }

    /// Look a non-constant symbol up by name (without `CONFIG_`).
    pub fn find(&self, name: &str) -> Option<SymbolId> {
        match name {
            "y" => return Some(SYM_YES),
            "m" => return Some(SYM_MOD),
            "n" => return Some(SYM_NO),
            _ => {}
        }
        self.by_name.get(name).copied()
    }

    /// Every symbol in the order the kernel's hash table iterates them.
    pub fn symbols_in_hash_order(&self) -> &[SymbolId] {
        &self.hash_order
    }

    /// Is `s` a choice?
    pub fn is_choice(&self, s: SymbolId) -> bool {
        match self.dialect {
            Dialect::V6_1 => self.has_flag(s, flags::CHOICE),
            Dialect::V6_12 | Dialect::V6_18 => self.sym(s).name.is_none(),
        }
    }
    /// Is `s` a member of a choice?
    pub fn is_choice_value(&self, s: SymbolId) -> bool {
        match self.dialect {
            Dialect::V6_1 => self.has_flag(s, flags::CHOICEVAL),
            Dialect::V6_12 | Dialect::V6_18 => self.sym(s).in_choice_list,
        }
    }
    /// Has `s` a user value (from `.config` or a mode)?
    pub fn has_value(&self, s: SymbolId) -> bool {
        self.has_flag(s, flags::DEF_USER)
    }
    /// The choice that a 6.1 choice member belongs to.
    fn choice_of_value(&self, s: SymbolId) -> SymbolId {
        self.sym(s).choice_of.unwrap_or(SYM_NO)
    }

    /// The type as evaluation sees it: tristate acts as bool without modules.
    pub fn effective_type(&self, s: SymbolId) -> SymType {
        let t = self.sym(s).ty;
        if t == SymType::Tristate && self.modules_val == Tri::No {
            SymType::Bool
        } else {
            t
        }
    }

    /// The current tristate value (after [`Kconfig::calc_value`]).
    pub fn tristate_value(&self, s: SymbolId) -> Tri {
        self.sym(s).curr.tri
    }

    /// The current value as the kernel writes it.
    pub fn string_value(&self, s: SymbolId) -> Rc<str> {
        let sym = self.sym(s);
        match sym.ty {
            SymType::Bool | SymType::Tristate => self.tri_str(sym.curr.tri),
            _ => sym.curr.val.clone().unwrap_or_else(|| self.empty.clone()),
        }
    }

    pub(crate) fn tri_str(&self, t: Tri) -> Rc<str> {
        self.tri_strs[t as usize].clone()
    }

    /// Evaluate an expression (a missing one is `y`).
    pub fn eval(&mut self, e: Option<ExprId>) -> Tri {
        let Some(e) = e else { return Tri::Yes };
        let node = self.exprs.get(e);
        if let Expr::Symbol(s) = node {
            return self.read_tri(s);
        }
        if let Some(t) = self.memo.get(e) {
            return t;
        }
        let before = self.memo.provisional_reads;
        let t = match node {
            Expr::Symbol(_) => unreachable!("handled above"),
            Expr::And(a, b) => {
                let x = self.eval(Some(a));
                let y = self.eval(Some(b));
                x.and(y)
            }
            Expr::Or(a, b) => {
                let x = self.eval(Some(a));
                let y = self.eval(Some(b));
                x.or(y)
            }
            Expr::Not(a) => self.eval(Some(a)).not(),
            Expr::Compare(op, l, r) => self.eval_compare(op, l, r),
            Expr::Range(..) => Tri::No,
        };
        if self.memo.provisional_reads == before {
            let len = self.exprs.nodes().len();
            self.memo.put(e, t, len);
        }
        t
    }

    /// A symbol's tristate value for an expression, computing it first.
    fn read_tri(&mut self, s: SymbolId) -> Tri {
        self.calc_value(s);
        self.note_read(s);
        self.sym(s).curr.tri
    }

    /// Count a read of a value still being computed (see [`EvalMemo`]).
    fn note_read(&mut self, s: SymbolId) {
        if self.has_flag(s, flags::IN_CALC) {
            self.memo.provisional_reads = self.memo.provisional_reads.wrapping_add(1);
            self.memo.clean = false;
        }
    }

    fn eval_compare(&mut self, op: CmpOp, l: SymbolId, r: SymbolId) -> Tri {
        self.calc_value(l);
        self.calc_value(r);
        self.note_read(l);
        self.note_read(r);
        let s1 = self.string_value(l);
        let s2 = self.string_value(r);
        let t1 = self.sym(l).ty;
        let t2 = self.sym(r).ty;
        let res: i32 = if t1 != SymType::String || t2 != SymType::String {
            let a = parse_for_compare(&s1, t1);
            let b = parse_for_compare(&s2, t2);
            match (a, b) {
                (Some(a), Some(b)) => match (a, b) {
                    (Num::U(_), _) | (_, Num::U(_)) => cmp(a.as_u(), b.as_u()),
                    (Num::S(x), Num::S(y)) => cmp(x, y),
                },
                _ => strcmp(&s1, &s2),
            }
        } else {
            strcmp(&s1, &s2)
        };
        let yes = match op {
            CmpOp::Equal => res == 0,
            CmpOp::Unequal => res != 0,
            CmpOp::Less => res < 0,
            CmpOp::LessEqual => res <= 0,
            CmpOp::Greater => res > 0,
            CmpOp::GreaterEqual => res >= 0,
        };
        if yes {
            Tri::Yes
        } else {
            Tri::No
        }
    }

    fn first_active_prop(&mut self, s: SymbolId, kind: PropKind) -> Option<PropId> {
        let n = self.sym(s).props.len();
        for i in 0..n {
            let p = self.sym(s).props[i];
            if self.prop(p).kind != kind {
                continue;
            }
            let v = self.prop(p).visible;
            let t = self.eval(v);
            self.props[p.0 as usize].visible_tri = t;
            if t != Tri::No {
                return Some(p);
            }
        }
        None
    }

    /// The symbol a property's expression names, if it is a single symbol.
    pub fn prop_symbol(&self, p: PropId) -> Option<SymbolId> {
        match self.prop(p).expr.map(|e| self.exprs.get(e)) {
            Some(Expr::Symbol(s)) => Some(s),
            _ => None,
        }
    }

    /// The first `range` whose condition holds.
    pub fn active_range(&mut self, s: SymbolId) -> Option<(SymbolId, SymbolId)> {
        let p = self.first_active_prop(s, PropKind::Range)?;
        match self.prop(p).expr.map(|e| self.exprs.get(e)) {
            Some(Expr::Range(a, b)) => Some((a, b)),
            _ => None,
        }
    }

    fn range_val(&mut self, s: SymbolId, base: u32) -> i64 {
        self.calc_value(s);
        self.note_read(s);
        let base = match self.sym(s).ty {
            SymType::Int => 10,
            SymType::Hex => 16,
            _ => base,
        };
        let v = self.string_value(s);
        strtoll(&v, base)
    }

    fn validate_range(&mut self, s: SymbolId) {
        let base = match self.sym(s).ty {
            SymType::Int => 10,
            SymType::Hex => 16,
            _ => return,
        };
        let Some((lo, hi)) = self.active_range(s) else {
            return;
        };
        let cur = self
            .sym(s)
            .curr
            .val
            .clone()
            .unwrap_or_else(|| self.empty.clone());
        let val = strtoll(&cur, base);
        let mut range_sym = lo;
        if val >= self.range_val(lo, base) {
            range_sym = hi;
            if val <= self.range_val(hi, base) {
                return;
            }
        }
        let v = self.sym(range_sym).curr.val.clone();
        self.sym_mut(s).curr.val = v;
    }

    pub(crate) fn calc_visibility(&mut self, s: SymbolId) {
        if self.has_flag(s, flags::TRANS) {
            self.sym_mut(s).visible = Tri::Yes;
            return;
        }
        let choice_sym = if self.dialect == Dialect::V6_1 && self.is_choice_value(s) {
            Some(self.choice_of_value(s))
        } else {
            None
        };
        let mut tri = Tri::No;
        let n = self.sym(s).props.len();
        for i in 0..n {
            let p = self.sym(s).props[i];
            if self.prop(p).text.is_none() {
                continue;
            }
            let v = self.prop(p).visible;
            let mut t = self.eval(v);
            if let Some(cs) = choice_sym {
                if self.sym(s).ty == SymType::Tristate
                    && t == Tri::Mod
                    && self.sym(cs).curr.tri == Tri::Yes
                {
                    t = Tri::No;
                }
            }
            self.props[p.0 as usize].visible_tri = t;
            tri = tri.or(t);
        }
        if tri == Tri::Mod && (self.sym(s).ty != SymType::Tristate || self.modules_val == Tri::No) {
            tri = Tri::Yes;
        }
        self.sym_mut(s).visible = tri;
        if self.is_choice_value(s) {
            return;
        }
        let boolish = self.effective_type(s) == SymType::Bool;
        let dd = self.sym(s).dir_dep;
        let mut t = if dd.is_some() {
            self.eval(dd)
        } else {
            Tri::Yes
        };
        if t == Tri::Mod && boolish {
            t = Tri::Yes;
        }
        self.sym_mut(s).dir_dep_tri = t;
        let rd = self.sym(s).rev_dep;
        let mut t = if rd.is_some() { self.eval(rd) } else { Tri::No };
        if t == Tri::Mod && boolish {
            t = Tri::Yes;
        }
        self.sym_mut(s).rev_dep_tri = t;
        let im = self.sym(s).implied;
        let mut t = if im.is_some() { self.eval(im) } else { Tri::No };
        if t == Tri::Mod && boolish {
            t = Tri::Yes;
        }
        self.sym_mut(s).implied_tri = t;
    }

    /// The default member of a choice: its first active default that is
    /// visible, else its first visible member.
    pub fn choice_default(&mut self, choice: SymbolId) -> Option<SymbolId> {
        let n = self.sym(choice).props.len();
        for i in 0..n {
            let p = self.sym(choice).props[i];
            if self.prop(p).kind != PropKind::Default {
                continue;
            }
            let v = self.prop(p).visible;
            let t = self.eval(v);
            self.props[p.0 as usize].visible_tri = t;
            if t == Tri::No {
                continue;
            }
            if let Some(d) = self.prop_symbol(p) {
                if self.sym(d).visible != Tri::No {
                    return Some(d);
                }
            }
        }
        self.choice_member_order(choice)
            .into_iter()
            .find(|&m| self.sym(m).visible != Tri::No)
    }

    /// A choice's members in menu order (6.12) or list order (6.1).
    pub(crate) fn choice_member_order(&self, choice: SymbolId) -> Vec<SymbolId> {
        match self.dialect {
            Dialect::V6_1 => self.sym(choice).choice_members.clone(),
            Dialect::V6_12 | Dialect::V6_18 => {
                let Some(&menu) = self.sym(choice).menus.first() else {
                    return Vec::new();
                };
                self.menu_subtree(menu)
                    .into_iter()
                    .filter_map(|m| self.menu(m).sym)
                    .collect()
            }
        }
    }

    /// 6.12: compute the values of a choice's members; returns the chosen one.
    pub(crate) fn calc_choice_612(&mut self, choice_menu: MenuId) -> Option<SymbolId> {
        let members = self.menu(choice_menu).choice_members.clone();
        let mut res = None;
        for &m in &members {
            self.calc_visibility(m);
            if self.sym(m).visible == Tri::No {
                continue;
            }
            if self.has_value(m) && self.sym(m).def[0].tri == Tri::Yes {
                res = Some(m);
                break;
            }
        }
        let choice = self.menu(choice_menu).sym.unwrap_or(SYM_NO);
        if res.is_none() {
            res = self.choice_default(choice);
            if let Some(r) = res {
                if self.has_value(r) && self.sym(r).def[0].tri == Tri::No {
                    res = None;
                }
            }
        }
        let subtree: Vec<SymbolId> = self
            .menu_subtree(choice_menu)
            .into_iter()
            .filter_map(|m| self.menu(m).sym)
            .collect();
        // The visibility of a symbol nested in the choice that is not a
        // member is read below as it stands: computed or not yet, which
        // depends on the order of computing.
        if subtree
            .iter()
            .any(|s| !members.contains(s) && self.sym(*s).flags & flags::VALID == 0)
        {
            self.memo.clean = false;
        }
        if res.is_none() {
            res = subtree
                .iter()
                .copied()
                .find(|&s| self.sym(s).visible != Tri::No && !self.has_value(s));
        }
        if res.is_none() {
            res = members
                .iter()
                .rev()
                .copied()
                .find(|&s| self.sym(s).visible != Tri::No);
        }
        for s in subtree {
            if self.sym(s).visible == Tri::No {
                continue;
            }
            let v = if Some(s) == res { Tri::Yes } else { Tri::No };
            if self.sym(s).curr.tri != v {
                self.memo.forget();
                // A final value changes after expressions may have read it
                // (a provisional one's reads are counted where they happen).
                if self.sym(s).flags & (flags::VALID | flags::IN_CALC) == flags::VALID {
                    self.memo.clean = false;
                }
            }
            let sm = self.sym_mut(s);
            sm.curr.tri = v;
            sm.flags |= flags::VALID | flags::WRITE;
        }
        res
    }

    /// 6.1: the member a choice selects (user choice if visible, else default).
    fn calc_choice_61(&mut self, choice: SymbolId) -> Option<SymbolId> {
        let mut fl = self.sym(choice).flags;
        for m in self.sym(choice).choice_members.clone() {
            self.calc_visibility(m);
            if self.sym(m).visible != Tri::No {
                fl &= self.sym(m).flags;
            }
        }
        self.sym_mut(choice).flags &= fl | !flags::DEF_USER;
        if let Some(d) = self.sym(choice).def[0].choice {
            if self.sym(d).visible != Tri::No {
                return Some(d);
            }
        }
        let d = self.choice_default(choice);
        if d.is_none() {
            self.sym_mut(choice).curr.tri = Tri::No;
        }
        d
    }

    fn warn_unmet_dep(&mut self, s: SymbolId) {
        let name = self.sym(s).display_name().to_string();
        let mut out = format!("\nWARNING: unmet direct dependencies detected for {name}\n");
        let dd_tri = self.sym(s).dir_dep_tri;
        out.push_str(&format!(
            "  Depends on [{}]: ",
            if dd_tri == Tri::Mod { 'm' } else { 'n' }
        ));
        let dd = self.sym(s).dir_dep;
        out.push_str(&self.expr_to_string_with_values(dd));
        out.push('\n');
        let rd = self.sym(s).rev_dep;
        for (t, title) in [
            (Tri::Yes, "  Selected by [y]:\n"),
            (Tri::Mod, "  Selected by [m]:\n"),
        ] {
            let mut title = Some(title);
            let mut terms = Vec::new();
            self.top_level_or_terms(rd, &mut terms);
            for term in terms {
                if self.eval(Some(term)) == t {
                    if let Some(tt) = title.take() {
                        out.push_str(tt);
                    }
                    out.push_str("  - ");
                    out.push_str(&self.expr_to_string_with_values(Some(term)));
                    out.push('\n');
                }
            }
        }
        // The message ends with a newline already; Messages adds one more.
        if out.ends_with('\n') {
            out.pop();
        }
        self.messages.err(out);
        self.sym_warnings += 1;
        self.memo.clean = false;
    }

    fn top_level_or_terms(&self, e: Option<ExprId>, out: &mut Vec<ExprId>) {
        let Some(e) = e else { return };
        match self.exprs.get(e) {
            Expr::Or(a, b) => {
                self.top_level_or_terms(Some(a), out);
                self.top_level_or_terms(Some(b), out);
            }
            _ => out.push(e),
        }
    }

    /// Compute a symbol's value if it is not already valid.
    pub fn calc_value(&mut self, s: SymbolId) {
        if self.has_flag(s, flags::VALID) {
            return;
        }
        self.reuse.restarted = false;
        let v61 = self.dialect == Dialect::V6_1;
        if v61 && self.is_choice_value(s) && self.has_flag(s, flags::NEED_SET_CHOICE_VALUES) {
            self.clear_flag(s, flags::NEED_SET_CHOICE_VALUES);
            let cs = self.choice_of_value(s);
            self.calc_value(cs);
        }
        self.set_flag(s, flags::VALID);
        let ty = self.sym(s).ty;
        let mut newval = Value::default();
        match ty {
            SymType::Int => {
                newval.val = Some(if v61 {
                    self.empty.clone()
                } else {
                    self.zero.clone()
                })
            }
            SymType::Hex => {
                newval.val = Some(if v61 {
                    self.empty.clone()
                } else {
                    self.zero_hex.clone()
                })
            }
            SymType::String => newval.val = Some(self.empty.clone()),
            SymType::Bool | SymType::Tristate => newval.val = Some(self.tri_str(Tri::No)),
            SymType::Unknown => {
                let name = self.sym(s).name.clone();
                let sm = self.sym_mut(s);
                sm.curr.val = name;
                sm.curr.tri = Tri::No;
                return;
            }
        }
        self.set_flag(s, flags::IN_CALC);
        self.clear_flag(s, flags::WRITE);
        self.calc_visibility(s);
        if self.sym(s).visible != Tri::No {
            self.set_flag(s, flags::WRITE);
        }
        // the default if called recursively
        self.sym_mut(s).curr = newval.clone();
        // the default property the value came from, if it did
        let mut default_prop = None;

        match self.effective_type(s) {
            SymType::Bool | SymType::Tristate => {
                let choice_menu = if v61 { None } else { self.sym(s).choice_menu };
                if let Some(cm) = choice_menu {
                    self.calc_choice_612(cm);
                    newval.tri = self.sym(s).curr.tri;
                } else if v61 && self.is_choice_value(s) && self.sym(s).visible == Tri::Yes {
                    let cs = self.choice_of_value(s);
                    newval.tri = if self.sym(cs).curr.choice == Some(s) {
                        Tri::Yes
                    } else {
                        Tri::No
                    };
                } else {
                    let mut from_user = false;
                    if self.sym(s).visible != Tri::No && self.has_value(s) {
                        newval.tri = self.sym(s).def[0].tri.and(self.sym(s).visible);
                        from_user = true;
                    }
                    if !from_user {
                        if self.sym(s).rev_dep_tri != Tri::No {
                            self.set_flag(s, flags::WRITE);
                        }
                        if !self.is_choice(s) {
                            if let Some(p) = self.first_active_prop(s, PropKind::Default) {
                                default_prop = Some(p);
                                let e = self.prop(p).expr;
                                let vt = self.prop(p).visible_tri;
                                newval.tri = self.eval(e).and(vt);
                                if newval.tri != Tri::No {
                                    self.set_flag(s, flags::WRITE);
                                }
                            }
                            if self.sym(s).implied_tri != Tri::No {
                                self.set_flag(s, flags::WRITE);
                                newval.tri = newval.tri.or(self.sym(s).implied_tri);
                                newval.tri = newval.tri.and(self.sym(s).dir_dep_tri);
                            }
                        }
                    }
                    if self.sym(s).dir_dep_tri < self.sym(s).rev_dep_tri {
                        self.warn_unmet_dep(s);
                    }
                    newval.tri = newval.tri.or(self.sym(s).rev_dep_tri);
                }
                if newval.tri == Tri::Mod && self.effective_type(s) == SymType::Bool {
                    newval.tri = Tri::Yes;
                }
            }
            SymType::String | SymType::Hex | SymType::Int => {
                if self.sym(s).visible != Tri::No && self.has_value(s) {
                    newval.val = self.sym(s).def[0].val.clone();
                } else if let Some(p) = self.first_active_prop(s, PropKind::Default) {
                    default_prop = Some(p);
                    if let Some(ds) = self.prop_symbol(p) {
                        self.set_flag(s, flags::WRITE);
                        self.calc_value(ds);
                        self.note_read(ds);
                        newval.val = self.sym(ds).curr.val.clone();
                    }
                }
            }
            SymType::Unknown => {}
        }
        // 6.18: a value taken from a transitional symbol that the
        // configuration set counts as set by the user (no prompt for it).
        if let Some(p) = default_prop.filter(|_| !self.has_value(s)) {
            if let Some(ds) = self.prop_symbol(p) {
                if self.has_flag(ds, flags::TRANS) && self.has_value(ds) {
                    self.sym_mut(s).def[0] = newval.clone();
                    self.set_flag(s, flags::DEF_USER);
                    self.memo.clean = false;
                }
            }
        }
        if v61 && self.is_choice(s) && newval.tri == Tri::Yes {
            self.sym_mut(s).curr = newval;
            let c = self.calc_choice_61(s);
            self.sym_mut(s).curr.choice = c;
        } else {
            self.sym_mut(s).curr = newval;
        }
        self.validate_range(s);

        if s == self.modules_sym {
            self.modules_val = self.sym(s).curr.tri;
        }

        if v61 {
            if self.is_choice(s) {
                let write = self.has_flag(s, flags::WRITE);
                for m in self.sym(s).choice_members.clone() {
                    if write && self.sym(m).visible != Tri::No {
                        self.set_flag(m, flags::WRITE);
                    }
                }
            }
            if self.has_flag(s, flags::NO_WRITE) {
                self.clear_flag(s, flags::WRITE);
            }
            if self.has_flag(s, flags::NEED_SET_CHOICE_VALUES) {
                self.set_all_choice_values(s);
            }
        } else if self.is_choice(s) || self.has_flag(s, flags::TRANS) {
            self.clear_flag(s, flags::WRITE);
        }
        self.clear_flag(s, flags::IN_CALC);
    }

    /// 6.1: give unset members of a choice the value n and mark the choice set.
    pub(crate) fn set_all_choice_values(&mut self, cs: SymbolId) {
        for m in self.sym(cs).choice_members.clone() {
            if !self.has_value(m) {
                self.sym_mut(m).def[0].tri = Tri::No;
            }
        }
        self.set_flag(cs, flags::DEF_USER);
        self.clear_flag(cs, flags::VALID | flags::NEED_SET_CHOICE_VALUES);
    }

    /// Forget every computed value, as the kernel's `sym_clear_all_valid`.
    pub fn clear_all_valid(&mut self) {
        // y, m and n are not in the kernel's symbol table and stay valid
        self.memo.forget();
        self.memo.clean = false;
        for s in &mut self.symbols[3..] {
            s.flags &= !flags::VALID;
        }
        self.changed = true;
        let m = self.modules_sym;
        self.calc_value(m);
    }

    /// A hash of every symbol's state (flags, user and auto values,
    /// current value) and of the choices' member order: what computing
    /// the values reads, and more.
    pub(crate) fn input_digest(&self) -> u64 {
        // A word at a time (a byte-wise hash of every symbol costs more
        // than the recomputation it saves).
        fn mix(h: u64, word: u64) -> u64 {
            (h.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95)
        }
        fn value(mut h: u64, v: &Value) -> u64 {
            let choice = v.choice.map_or(0, |c| u64::from(c.0) + 1);
            h = mix(h, v.tri as u64 | choice << 8);
            if let Some(text) = v.val.as_deref() {
                h = mix(h, text.len() as u64 | 1 << 63);
                for chunk in text.as_bytes().chunks(8) {
                    let mut word = [0u8; 8];
                    word[..chunk.len()].copy_from_slice(chunk);
                    h = mix(h, u64::from_le_bytes(word));
                }
            }
            h
        }
        let mut h = 0;
        for sym in &self.symbols {
            h = mix(h, u64::from(sym.flags));
            h = value(h, &sym.curr);
            h = value(h, &sym.def[0]);
            h = value(h, &sym.def[1]);
        }
        for m in &self.menus {
            for c in &m.choice_members {
                h = mix(h, u64::from(c.0));
            }
        }
        h
    }

    /// Whether every value is what computing them all again from scratch
    /// (the kernel's `sym_clear_all_valid`) would give, with the same
    /// messages: [`Kconfig::read`] computed them from settled values only
    /// (no dependency loop met, no warning, no input changed) and nothing
    /// changed since.
    pub(crate) fn values_settled(&self) -> bool {
        self.memo.clean
            && self.memo.read_digest == Some(self.input_digest())
            && self.symbols[3..]
                .iter()
                .all(|s| s.flags & flags::VALID != 0)
    }

    /// Compute every symbol's value.
    pub fn calc_all(&mut self) {
        for i in 0..self.hash_order.len() {
            let s = self.hash_order[i];
            self.calc_value(s);
        }
    }

    /// Can the user change `s` (visible above what selects force)?
    pub fn is_changeable(&self, s: SymbolId) -> bool {
        let sym = self.sym(s);
        let ok = sym.visible > sym.rev_dep_tri;
        match self.dialect {
            Dialect::V6_1 => ok,
            Dialect::V6_12 | Dialect::V6_18 => !self.is_choice(s) && ok,
        }
    }

    /// Is `val` a value the user may give `s` now?
    pub fn tristate_within_range(&self, s: SymbolId, val: Tri) -> bool {
        let ty = self.effective_type(s);
        let sym = self.sym(s);
        if sym.visible == Tri::No {
            return false;
        }
        if ty != SymType::Bool && ty != SymType::Tristate {
            return false;
        }
        if ty == SymType::Bool && val == Tri::Mod {
            return false;
        }
        if sym.visible <= sym.rev_dep_tri {
            return false;
        }
        if self.dialect == Dialect::V6_1 && self.is_choice_value(s) && sym.visible == Tri::Yes {
            return val == Tri::Yes;
        }
        val >= sym.rev_dep_tri && val <= sym.visible
    }

    /// Set a user tristate value if allowed; returns whether it was.
    pub fn set_tristate_value(&mut self, s: SymbolId, val: Tri) -> bool {
        let oldval = self.tristate_value(s);
        if self.dialect == Dialect::V6_1 {
            // 6.1 accepts the current value even when it is out of range.
            if oldval != val && !self.tristate_within_range(s, val) {
                return false;
            }
            self.set_flag(s, flags::DEF_USER);
            // Selecting a member marks the choice and its visible members set.
            if self.is_choice_value(s) && val == Tri::Yes {
                let cs = self.choice_of_value(s);
                self.sym_mut(cs).def[0].choice = Some(s);
                self.set_flag(cs, flags::DEF_USER);
                for i in 0..self.sym(cs).choice_members.len() {
                    let member = self.sym(cs).choice_members[i];
                    if self.sym(member).visible != Tri::No {
                        self.set_flag(member, flags::DEF_USER);
                    }
                }
            }
        } else if !self.tristate_within_range(s, val) {
            return false;
        } else if !self.has_value(s) || self.sym(s).def[0].tri != val {
            self.set_flag(s, flags::DEF_USER);
        }
        self.sym_mut(s).def[0].tri = val;
        if oldval != val {
            self.clear_all_valid();
        }
        true
    }

    /// Is `text` a valid value for `s`'s type?
    pub fn string_valid(&self, s: SymbolId, text: &str) -> bool {
        string_valid_for(self.sym(s).ty, text)
    }

    /// Is `text` valid and within the active range of `s`?
    pub fn string_within_range(&mut self, s: SymbolId, text: &str) -> bool {
        match self.sym(s).ty {
            SymType::String => true,
            t @ (SymType::Int | SymType::Hex) => {
                if !string_valid_for(t, text) {
                    return false;
                }
                let base = if t == SymType::Int { 10 } else { 16 };
                let Some((lo, hi)) = self.active_range(s) else {
                    return true;
                };
                let v = strtoll(text, base);
                v >= self.range_val(lo, base) && v <= self.range_val(hi, base)
            }
            SymType::Bool | SymType::Tristate => match text.as_bytes().first() {
                Some(b'y' | b'Y') => self.tristate_within_range(s, Tri::Yes),
                Some(b'm' | b'M') => self.tristate_within_range(s, Tri::Mod),
                Some(b'n' | b'N') => self.tristate_within_range(s, Tri::No),
                _ => false,
            },
            SymType::Unknown => false,
        }
    }

    /// Set a user value from text (any type); returns whether it was accepted.
    pub fn set_string_value(&mut self, s: SymbolId, text: &str) -> bool {
        match self.sym(s).ty {
            SymType::Bool | SymType::Tristate => {
                return match text.as_bytes().first() {
                    Some(b'y' | b'Y') => self.set_tristate_value(s, Tri::Yes),
                    Some(b'm' | b'M') => self.set_tristate_value(s, Tri::Mod),
                    Some(b'n' | b'N') => self.set_tristate_value(s, Tri::No),
                    _ => false,
                }
            }
            _ => {}
        }
        if !self.string_within_range(s, text) {
            return false;
        }
        self.set_flag(s, flags::DEF_USER);
        let mut v = text.to_string();
        if self.sym(s).ty == SymType::Hex && !(text.starts_with("0x") || text.starts_with("0X")) {
            v = format!("0x{text}");
        } else if self.sym(s).def[0].val.as_deref() == Some(text) {
            return true;
        }
        self.sym_mut(s).def[0].val = Some(v.into());
        self.clear_all_valid();
        true
    }

    /// The value `s` would have from its defaults alone (used by savedefconfig).
    pub fn string_default(&mut self, s: SymbolId) -> Rc<str> {
        self.calc_visibility(s);
        let m = self.modules_sym;
        self.calc_value(m);
        let mut val = Tri::No;
        let mut text: Rc<str> = self.empty.clone();
        if let Some(p) = self.first_active_prop(s, PropKind::Default) {
            match self.sym(s).ty {
                SymType::Bool | SymType::Tristate => {
                    let e = self.prop(p).expr;
                    let vt = self.prop(p).visible_tri;
                    val = self.eval(e).and(vt);
                }
                _ => {
                    if let Some(ds) = self.prop_symbol(p) {
                        self.calc_value(ds);
                        text = self
                            .sym(ds)
                            .curr
                            .val
                            .clone()
                            .unwrap_or_else(|| self.empty.clone());
                    }
                }
            }
        }
        val = val.or(self.sym(s).rev_dep_tri);
        if val == Tri::Mod
            && !self.is_choice_value(s)
            && self.sym(self.modules_sym).curr.tri == Tri::No
        {
            val = Tri::Yes;
        }
        if self.sym(s).ty == SymType::Bool && val == Tri::Mod {
            val = Tri::Yes;
        }
        if val < self.sym(s).implied_tri {
            val = self.sym(s).implied_tri;
        }
        match self.sym(s).ty {
            SymType::Bool | SymType::Tristate => self.tri_str(val),
            SymType::Int if self.dialect >= Dialect::V6_12 && text.is_empty() => self.zero.clone(),
            SymType::Hex if self.dialect >= Dialect::V6_12 && text.is_empty() => {
                self.zero_hex.clone()
            }
            SymType::Unknown if self.dialect == Dialect::V6_1 => self.empty.clone(),
            _ => text,
        }
    }
}

/// Is `text` a valid value for a symbol of type `ty` (the kernel's `sym_string_valid`)?
pub fn string_valid_for(ty: SymType, text: &str) -> bool {
    let b = text.as_bytes();
    match ty {
        SymType::String => true,
        SymType::Int => {
            let mut i = 0;
            if b.first() == Some(&b'-') {
                i = 1;
            }
            let Some(&c) = b.get(i) else { return false };
            if !c.is_ascii_digit() {
                return false;
            }
            if c == b'0' && b.len() > i + 1 {
                return false;
            }
            b[i + 1..].iter().all(|c| c.is_ascii_digit())
        }
        SymType::Hex => {
            let mut r = b;
            if r.len() >= 2 && r[0] == b'0' && (r[1] == b'x' || r[1] == b'X') {
                r = &r[2..];
            }
            // the kernel checks the first character even when empty (NUL fails)
            !r.is_empty() && r.iter().all(|c| c.is_ascii_hexdigit())
        }
        SymType::Bool | SymType::Tristate => {
            matches!(b.first(), Some(b'y' | b'Y' | b'm' | b'M' | b'n' | b'N'))
        }
        SymType::Unknown => false,
    }
}

fn strcmp(a: &str, b: &str) -> i32 {
    match a.as_bytes().cmp(b.as_bytes()) {
        std::cmp::Ordering::Less => -1,
        std::cmp::Ordering::Equal => 0,
        std::cmp::Ordering::Greater => 1,
    }
}

fn cmp<T: Ord>(a: T, b: T) -> i32 {
    match a.cmp(&b) {
        std::cmp::Ordering::Less => -1,
        std::cmp::Ordering::Equal => 0,
        std::cmp::Ordering::Greater => 1,
    }
}

#[derive(Clone, Copy)]
enum Num {
    S(i64),
    U(u64),
}

impl Num {
    fn as_u(self) -> u64 {
        match self {
            Num::S(x) => x as u64,
            Num::U(x) => x,
        }
    }
}

/// Parse a value the way the kernel's `expr_parse_string` does; None means
/// "compare as strings".
fn parse_for_compare(s: &str, ty: SymType) -> Option<Num> {
    match ty {
        SymType::Bool | SymType::Tristate => Some(Num::S(match s {
            "n" => 0,
            "m" => 1,
            "y" => 2,
            _ => -1,
        })),
        SymType::Int => {
            let (v, used, err) = c_strtoll(s, 10);
            ok_tail(s, used, err).then_some(Num::S(v))
        }
        SymType::Hex => {
            let (v, used, err) = c_strtoull(s, 16);
            ok_tail(s, used, err).then_some(Num::U(v))
        }
        _ => {
            let (v, used, err) = c_strtoll(s, 0);
            ok_tail(s, used, err).then_some(Num::S(v))
        }
    }
}

fn ok_tail(s: &str, used: usize, err: bool) -> bool {
    !err && used == s.len() && used > 0 && s.as_bytes()[used - 1].is_ascii_hexdigit()
}

/// C's `strtoll(s, NULL, base)` (base 0, 10 or 16), saturating on overflow.
pub fn strtoll(s: &str, base: u32) -> i64 {
    c_strtoll(s, base).0
}

fn c_strtoll(s: &str, base: u32) -> (i64, usize, bool) {
    let (neg, mag, used, overflow) = c_strto_parts(s, base);
    if used == 0 {
        return (0, 0, false);
    }
    if neg {
        if overflow || mag > (i64::MAX as u64) + 1 {
            (i64::MIN, used, true)
        } else {
            ((mag as i64).wrapping_neg(), used, false)
        }
    } else if overflow || mag > i64::MAX as u64 {
        (i64::MAX, used, true)
    } else {
        (mag as i64, used, false)
    }
}

fn c_strtoull(s: &str, base: u32) -> (u64, usize, bool) {
    let (neg, mag, used, overflow) = c_strto_parts(s, base);
    if used == 0 {
        return (0, 0, false);
    }
    if overflow {
        return (u64::MAX, used, true);
    }
    (if neg { mag.wrapping_neg() } else { mag }, used, false)
}

/// Shared digit scanner: (negative, magnitude, bytes consumed, overflowed).
fn c_strto_parts(s: &str, base: u32) -> (bool, u64, usize, bool) {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
        i += 1;
    }
    let mut neg = false;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        neg = b[i] == b'-';
        i += 1;
    }
    let mut base = base;
    let has_0x = i + 1 < b.len() && b[i] == b'0' && (b[i + 1] | 0x20) == b'x';
    if (base == 0 || base == 16) && has_0x && i + 2 < b.len() && b[i + 2].is_ascii_hexdigit() {
        i += 2;
        base = 16;
    } else if base == 0 {
        base = if i < b.len() && b[i] == b'0' { 8 } else { 10 };
    }
    let start = i;
    let mut mag: u64 = 0;
    let mut overflow = false;
    while i < b.len() {
        let d = match (b[i] as char).to_digit(base) {
            Some(d) => d as u64,
            None => break,
        };
        match mag.checked_mul(base as u64).and_then(|m| m.checked_add(d)) {
            Some(m) => mag = m,
            None => overflow = true,
        }
        i += 1;
    }
    if i == start {
        // "0x" with no hex digits parses as "0"
        if has_0x && (base == 16) {
            return (neg, 0, start - 1, false);
        }
        return (false, 0, 0, false);
    }
    (neg, mag, i, overflow)
}
