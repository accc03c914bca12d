//! Reading a request's value according to the symbol's Kconfig type, and
//! writing it as a `.config` line.

use kconfig_engine::confdata::escape_string;
use kconfig_engine::{SymType, Tri};
use kforge_declaration::RequestValue;

/// A request's value read for a symbol of a known type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Typed {
    Tristate(Tri),
    /// The canonical text of an int, hex or string value.
    Text(String),
}

impl Typed {
    /// The value as `.config` and the engine print it (`y`, `0x10`, `abc`).
    pub fn display(&self) -> String {
        match self {
            Typed::Tristate(t) => t.as_str().to_string(),
            Typed::Text(s) => s.clone(),
        }
    }
}

/// Why a value does not fit a symbol's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeMismatch {
    pub expected: &'static str,
    pub found: String,
}

fn describe(v: &RequestValue) -> String {
    match v {
        RequestValue::Text(s) => format!("the string {s:?}"),
        RequestValue::Integer(i) => format!("the integer {i}"),
        RequestValue::Boolean(b) => format!("the boolean {b}"),
    }
}

/// Read `v` as a value of type `ty`. For a `string` symbol `"y"` is the
/// string y; integers are accepted for int and hex symbols, booleans for
/// bool and tristate ones.
pub fn read(ty: SymType, v: &RequestValue) -> Result<Typed, TypeMismatch> {
    let bad = |expected: &'static str| TypeMismatch {
        expected,
        found: describe(v),
    };
    match ty {
        SymType::Bool | SymType::Tristate => {
            let expected = if ty == SymType::Bool {
                "\"y\" or \"n\" (a bool symbol)"
            } else {
                "\"y\", \"m\" or \"n\" (a tristate symbol)"
            };
            match v {
                RequestValue::Boolean(true) => Ok(Typed::Tristate(Tri::Yes)),
                RequestValue::Boolean(false) => Ok(Typed::Tristate(Tri::No)),
                RequestValue::Text(s) => match s.as_str() {
                    "y" => Ok(Typed::Tristate(Tri::Yes)),
                    "n" => Ok(Typed::Tristate(Tri::No)),
                    "m" if ty == SymType::Tristate => Ok(Typed::Tristate(Tri::Mod)),
                    _ => Err(bad(expected)),
                },
                RequestValue::Integer(_) => Err(bad(expected)),
            }
        }
        SymType::Int => match v {
            RequestValue::Integer(i) => Ok(Typed::Text(i.to_string())),
            RequestValue::Text(s) if kconfig_engine::symbol::string_valid_for(ty, s) => {
                Ok(Typed::Text(s.clone()))
            }
            _ => Err(bad("a decimal integer (an int symbol)")),
        },
        SymType::Hex => match v {
            RequestValue::Integer(i) if *i >= 0 => Ok(Typed::Text(format!("0x{i:x}"))),
            RequestValue::Text(s) if kconfig_engine::symbol::string_valid_for(ty, s) => {
                Ok(Typed::Text(s.clone()))
            }
            _ => Err(bad("a hexadecimal value such as \"0x1000\" (a hex symbol)")),
        },
        SymType::String => match v {
            RequestValue::Text(s) => Ok(Typed::Text(s.clone())),
            _ => Err(bad("a string (a string symbol)")),
        },
        SymType::Unknown => Err(bad("a symbol with a type")),
    }
}

/// The `.config` line that asks for `value` (`# CONFIG_X is not set` for n).
pub fn config_line(prefix: &str, name: &str, ty: SymType, value: &Typed) -> String {
    match value {
        Typed::Tristate(Tri::No) => ["# ", prefix, name, " is not set"].concat(),
        Typed::Tristate(t) => [prefix, name, "=", t.as_str()].concat(),
        Typed::Text(s) if ty == SymType::String => [prefix, name, "=", &escape_string(s)].concat(),
        Typed::Text(s) => [prefix, name, "=", s].concat(),
    }
}

/// The symbol a `.config` line sets, if any.
pub fn line_symbol<'l>(prefix: &str, line: &'l str) -> Option<&'l str> {
    kconfig_engine::confdata::parse_config_line(line, prefix).map(|e| e.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_symbols() {
        assert_eq!(line_symbol("CONFIG_", "CONFIG_A=y"), Some("A"));
        assert_eq!(line_symbol("CONFIG_", "# CONFIG_B is not set"), Some("B"));
        assert_eq!(line_symbol("FOO_", "FOO_S=\"x\""), Some("S"));
        assert_eq!(line_symbol("CONFIG_", "# CONFIG_B is not set!"), None);
        assert_eq!(line_symbol("CONFIG_", "# comment"), None);
        assert_eq!(line_symbol("CONFIG_", "CONFIG_A"), None);
    }
}
