//! Searching symbols by name and prompt.

use kconfig_engine::{Kconfig, SymType, SymbolId};

/// A search result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub sym: SymbolId,
    pub name: String,
    /// The first prompt, or empty.
    pub prompt: String,
}

struct Entry {
    sym: SymbolId,
    name: String,
    name_lower: String,
    prompt: String,
    prompt_lower: String,
}

/// Every named symbol with its prompt, lower-cased once for searching.
pub struct SearchIndex {
    entries: Vec<Entry>,
}

impl SearchIndex {
    /// Index the symbols of `kc`.
    pub fn new(kc: &Kconfig) -> SearchIndex {
        let mut entries: Vec<Entry> = kc
            .symbol_names()
            .filter(|(_, s)| kc.sym(*s).ty != SymType::Unknown)
            .map(|(n, s)| {
                let prompt = kc
                    .sym(s)
                    .menus
                    .iter()
                    .find_map(|&m| {
                        kc.menu(m)
                            .prompt
                            .and_then(|p| kc.prop(p).text.as_deref().map(str::to_string))
                    })
                    .unwrap_or_default();
                Entry {
                    sym: s,
                    name: n.to_string(),
                    name_lower: n.to_ascii_lowercase(),
                    prompt_lower: prompt.to_lowercase(),
                    prompt,
                }
            })
            .collect();
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        SearchIndex { entries }
    }

    /// How many symbols are indexed.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no symbol is indexed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Symbols whose name or prompt contains `query`, case-insensitively
    /// (a leading `CONFIG_` is ignored): the exact name first, then names
    /// starting with it, other names, then prompts; by name within each.
    pub fn search(&self, query: &str) -> Vec<Hit> {
        let q = query.trim();
        let q = q
            .strip_prefix("CONFIG_")
            .or_else(|| q.strip_prefix("config_"))
            .unwrap_or(q)
            .to_lowercase();
        if q.is_empty() {
            return Vec::new();
        }
        let mut ranked: Vec<(u8, usize)> = Vec::new();
        for (i, e) in self.entries.iter().enumerate() {
            let rank = if e.name_lower == q {
                0
            } else if e.name_lower.starts_with(&q) {
                1
            } else if e.name_lower.contains(&q) {
                2
            } else if e.prompt_lower.contains(&q) {
                3
            } else {
                continue;
            };
            ranked.push((rank, i));
        }
        ranked.sort_unstable();
        ranked
            .into_iter()
            .map(|(_, i)| {
                let e = &self.entries[i];
                Hit {
                    sym: e.sym,
                    name: e.name.clone(),
                    prompt: e.prompt.clone(),
                }
            })
            .collect()
    }
}
