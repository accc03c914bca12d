//! Printing expressions as the kernel does, optionally with current values
//! (`PCI [=n] && HAS_IOMEM [=y]`).

use crate::expr::{Expr, ExprId};
use crate::symbol::SymType;
use crate::Kconfig;

impl Kconfig {
    /// `e` printed as the kernel's `expr_fprint` does.
    pub fn expr_to_string(&self, e: Option<ExprId>) -> String {
        let mut s = String::new();
        self.print_expr(e, 0, false, &mut s);
        s
    }

    /// `e` printed with each symbol's current value, as in the kernel's
    /// dependency messages.
    pub fn expr_to_string_with_values(&self, e: Option<ExprId>) -> String {
        let mut s = String::new();
        self.print_expr(e, 0, true, &mut s);
        s
    }

    fn print_sym(&self, s: crate::symbol::SymbolId, values: bool, out: &mut String) {
        let sym = self.sym(s);
        out.push_str(sym.name.as_deref().unwrap_or("<choice>"));
        if values && sym.ty != SymType::Unknown && sym.name.is_some() {
            out.push_str(" [=");
            out.push_str(&self.string_value(s));
            out.push(']');
        }
    }

    fn print_expr(&self, e: Option<ExprId>, prev: u8, values: bool, out: &mut String) {
        let Some(e) = e else {
            out.push('y');
            return;
        };
        let node = self.exprs.get(e);
        let paren = needs_paren(prev, &node);
        if paren {
            out.push('(');
        }
        match node {
            Expr::Symbol(s) => self.print_sym(s, values, out),
            Expr::Not(a) => {
                out.push('!');
                self.print_expr(Some(a), 3, values, out);
            }
            Expr::Compare(op, l, r) => {
                self.print_sym(l, values, out);
                out.push_str(op.as_str());
                self.print_sym(r, values, out);
            }
            Expr::Or(a, b) => {
                self.print_expr(Some(a), 1, values, out);
                out.push_str(" || ");
                self.print_expr(Some(b), 1, values, out);
            }
            Expr::And(a, b) => {
                self.print_expr(Some(a), 2, values, out);
                out.push_str(" && ");
                self.print_expr(Some(b), 2, values, out);
            }
            Expr::Range(a, b) => {
                out.push('[');
                self.print_sym(a, values, out);
                out.push(' ');
                self.print_sym(b, values, out);
                out.push(']');
            }
        }
        if paren {
            out.push(')');
        }
    }
}

/// The kernel's `expr_compare_type(prev, inner) > 0`: parenthesise an inner
/// node of a lower-binding kind than its context.
fn needs_paren(prev: u8, node: &Expr) -> bool {
    // prev: 0 none, 1 OR, 2 AND, 3 NOT
    match prev {
        3 => matches!(node, Expr::And(..) | Expr::Or(..)),
        2 => matches!(node, Expr::Or(..)),
        _ => false,
    }
}
