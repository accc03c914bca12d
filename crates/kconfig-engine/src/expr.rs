//! Tristate logic and the expression arena.

use crate::symbol::SymbolId;

/// A tristate value: n < m < y.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Tri {
    #[default]
    No = 0,
    Mod = 1,
    Yes = 2,
}

impl Tri {
    /// The value of `t as u8`, as stored (anything above 2 is `y`).
    pub(crate) fn from_bits(b: u32) -> Tri {
        match b {
            0 => Tri::No,
            1 => Tri::Mod,
            _ => Tri::Yes,
        }
    }
    /// AND is the minimum.
    pub fn and(self, o: Tri) -> Tri {
        self.min(o)
    }
    /// OR is the maximum.
    pub fn or(self, o: Tri) -> Tri {
        self.max(o)
    }
    /// NOT is 2 - x.
    #[allow(clippy::should_implement_trait)]
    pub fn not(self) -> Tri {
        match self {
            Tri::No => Tri::Yes,
            Tri::Mod => Tri::Mod,
            Tri::Yes => Tri::No,
        }
    }
    /// The letter the kernel writes for this value.
    pub fn as_str(self) -> &'static str {
        match self {
            Tri::No => "n",
            Tri::Mod => "m",
            Tri::Yes => "y",
        }
    }
}

/// Index of an expression node in [`Exprs`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExprId(pub u32);

/// A comparison operator between two symbols.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Equal,
    Unequal,
    Less,
    LessEqual,
    Greater,
    GreaterEqual,
}

impl CmpOp {
    /// The operator as written in Kconfig.
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Equal => "=",
            CmpOp::Unequal => "!=",
            CmpOp::Less => "<",
            CmpOp::LessEqual => "<=",
            CmpOp::Greater => ">",
            CmpOp::GreaterEqual => ">=",
        }
    }
}

/// One node of a Kconfig expression. A missing expression (`None`) means `y`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Expr {
    Symbol(SymbolId),
    Not(ExprId),
    And(ExprId, ExprId),
    Or(ExprId, ExprId),
    Compare(CmpOp, SymbolId, SymbolId),
    /// `range LO HI`, only as the expression of a range property.
    Range(SymbolId, SymbolId),
}

/// The arena holding every expression node of a tree. Nodes are immutable and
/// may be shared between properties.
#[derive(Debug, Default, Clone)]
pub struct Exprs {
    nodes: Vec<Expr>,
}

impl Exprs {
    /// Add a node and return its id.
    pub fn add(&mut self, e: Expr) -> ExprId {
        self.nodes.push(e);
        ExprId((self.nodes.len() - 1) as u32)
    }
    /// The node behind `id`.
    pub fn get(&self, id: ExprId) -> Expr {
        self.nodes[id.0 as usize]
    }
    /// Every node, in id order.
    pub fn nodes(&self) -> &[Expr] {
        &self.nodes
    }
    /// An arena holding `nodes` (ids are positions).
    pub(crate) fn from_nodes(nodes: Vec<Expr>) -> Exprs {
        Exprs { nodes }
    }
    /// `a && b`, where a missing side means `y`.
    pub fn and(&mut self, a: Option<ExprId>, b: Option<ExprId>) -> Option<ExprId> {
        match (a, b) {
            (None, b) => b,
            (a, None) => a,
            (Some(a), Some(b)) => Some(self.add(Expr::And(a, b))),
        }
    }
    /// `a || b`, where a missing side means nothing to add.
    pub fn or(&mut self, a: Option<ExprId>, b: Option<ExprId>) -> Option<ExprId> {
        match (a, b) {
            (None, b) => b,
            (a, None) => a,
            (Some(a), Some(b)) => Some(self.add(Expr::Or(a, b))),
        }
    }
    /// A node for a single symbol.
    pub fn sym(&mut self, s: SymbolId) -> ExprId {
        self.add(Expr::Symbol(s))
    }
    /// The kernel's `expr_trans_compare`: `e` compared with `sym` (`y`, `m`
    /// or `n`) by `op` (`=` or `!=`), pushed down to the symbols: `A && B`
    /// compared with `n` becomes `A=n || B=n`, a comparison compared again
    /// becomes itself, its negation or a constant.
    /// `None` where the kernel's gives nothing (a range).
    pub fn trans_compare(&mut self, e: Option<ExprId>, op: CmpOp, sym: SymbolId) -> Option<ExprId> {
        use crate::symbol::{SYM_NO, SYM_YES};
        let equal = op == CmpOp::Equal;
        let Some(e) = e else {
            let s = self.sym(sym);
            return Some(if equal { s } else { self.add(Expr::Not(s)) });
        };
        Some(match self.get(e) {
            Expr::And(a, b) | Expr::Or(a, b) => {
                let is_and = matches!(self.get(e), Expr::And(..));
                let (Some(e1), Some(e2)) = (
                    self.trans_compare(Some(a), CmpOp::Equal, sym),
                    self.trans_compare(Some(b), CmpOp::Equal, sym),
                ) else {
                    return None;
                };
                // with y the operator stays, with n it flips (De Morgan)
                let r = if (sym == SYM_YES) == is_and {
                    self.add(Expr::And(e1, e2))
                } else {
                    self.add(Expr::Or(e1, e2))
                };
                if equal {
                    r
                } else {
                    self.add(Expr::Not(r))
                }
            }
            Expr::Not(a) => {
                let flipped = if equal { CmpOp::Unequal } else { CmpOp::Equal };
                return self.trans_compare(Some(a), flipped, sym);
            }
            Expr::Compare(..) => match (equal, sym) {
                (true, SYM_YES) | (false, SYM_NO) => e,
                (true, SYM_NO) | (false, SYM_YES) => self.add(Expr::Not(e)),
                (true, _) => self.sym(SYM_NO),
                (false, _) => self.sym(SYM_YES),
            },
            Expr::Symbol(a) => self.add(Expr::Compare(op, a, sym)),
            // not an expression a condition can hold
            Expr::Range(..) => return None,
        })
    }

    /// Does `e` mention `sym` anywhere?
    pub fn contains_symbol(&self, e: Option<ExprId>, sym: SymbolId) -> bool {
        let Some(e) = e else { return false };
        match self.get(e) {
            Expr::Symbol(s) => s == sym,
            Expr::Not(a) => self.contains_symbol(Some(a), sym),
            Expr::And(a, b) | Expr::Or(a, b) => {
                self.contains_symbol(Some(a), sym) || self.contains_symbol(Some(b), sym)
            }
            Expr::Compare(_, a, b) | Expr::Range(a, b) => a == sym || b == sym,
        }
    }
}
