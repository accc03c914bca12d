//! Policy files: TOML read strictly (unknown keys and wrong types are
//! errors at their line and column).

use std::path::Path;
use std::rc::Rc;

use kforge_declaration::{KernelVersion, Origin};
use serde::Deserialize;
use toml::Spanned;

use crate::{Policy, PolicyError, Recommendation};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDe {
    policy: PolicyDe,
    #[serde(default)]
    recommend: Vec<Spanned<RecommendDe>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyDe {
    name: String,
    description: String,
    reference: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecommendDe {
    symbol: Spanned<String>,
    value: Spanned<toml::Value>,
    #[serde(default)]
    arch: Vec<String>,
    since: Option<Spanned<String>>,
    until: Option<Spanned<String>>,
    group: Option<String>,
    reason: String,
    reference: Option<String>,
}

/// Read a policy from `text`, the contents of `path` (named in errors and
/// in each recommendation's origin).
pub fn parse(text: &str, path: &Path) -> Result<Policy, PolicyError> {
    let file = Rc::new(path.to_path_buf());
    let at = |offset: usize| origin(text, &file, offset);
    let bad = |offset: usize, message: String, help: Option<String>| PolicyError::Parse {
        origin: at(offset),
        message,
        help,
    };
    let de: FileDe = toml::from_str(text).map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        bad(offset, e.message().trim_end().to_string(), None)
    })?;
    let mut recommendations = Vec::new();
    for r in de.recommend {
        let r = r.into_inner();
        let sym_at = r.symbol.span().start;
        let symbol = r.symbol.into_inner();
        if let Some(rest) = symbol.strip_prefix("CONFIG_") {
            return Err(bad(
                sym_at,
                format!("symbol name `{symbol}` starts with CONFIG_"),
                Some(format!("write the name without CONFIG_: `{rest}`")),
            ));
        }
        if symbol.is_empty()
            || !symbol
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(bad(
                sym_at,
                format!("invalid symbol name `{symbol}`: only letters, digits and _ are allowed"),
                None,
            ));
        }
        let value_at = r.value.span().start;
        let values = values(r.value.into_inner()).ok_or_else(|| {
            bad(
                value_at,
                "expected a value as .config writes it: \"y\", \"m\", \"n\" (not set), a number, a string, or an array of them (any of which holds)".into(),
                None,
            )
        })?;
        let version = |v: Option<Spanned<String>>| -> Result<Option<KernelVersion>, PolicyError> {
            v.map(|v| {
                let offset = v.span().start;
                v.into_inner()
                    .parse::<KernelVersion>()
                    .map_err(|e| bad(offset, e.to_string(), None))
            })
            .transpose()
        };
        recommendations.push(Recommendation {
            symbol,
            values,
            arches: r.arch,
            since: version(r.since)?,
            until: version(r.until)?,
            group: r.group,
            reason: r.reason,
            reference: r.reference,
            // The `symbol` key's line: what a reader looks for.
            origin: at(sym_at),
        });
    }
    Ok(Policy {
        name: de.policy.name,
        description: de.policy.description,
        reference: de.policy.reference,
        recommendations,
    })
}

/// A recommendation's `value`: one, or an array of alternatives.
fn values(v: toml::Value) -> Option<Vec<String>> {
    let one = |v: toml::Value| -> Option<String> {
        match v {
            toml::Value::String(s) => Some(s),
            toml::Value::Integer(i) => Some(i.to_string()),
            toml::Value::Boolean(b) => Some(if b { "y" } else { "n" }.to_string()),
            _ => None,
        }
    };
    match v {
        toml::Value::Array(items) if !items.is_empty() => items.into_iter().map(one).collect(),
        toml::Value::Array(_) => None,
        other => one(other).map(|s| vec![s]),
    }
}

/// The line and column of byte `offset` in `text` (1-based, columns in
/// characters).
fn origin(text: &str, file: &Rc<std::path::PathBuf>, offset: usize) -> Origin {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() as u32 + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    Origin {
        file: file.clone(),
        line,
        column: text[start..offset].chars().count() as u32 + 1,
    }
}
