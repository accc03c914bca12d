//! Writing requests back into a declaration's `[config]` table, keeping the
//! file's comments, order and formatting (what `kforge menuconfig` saves).
//!
//! [`apply_edits`] changes the text; [`save`] does it to a file atomically
//! (a temporary file in the same directory, checked with [`crate::Spec::load`]
//! when asked, then renamed over the original), so the file is never left
//! half-written and a result that would not load is never written.

use std::path::{Path, PathBuf};

use toml_edit::{DocumentMut, InlineTable, Item, Table, Value};

use crate::{RequestValue, Spec};

/// One request to write: `SYMBOL = value` in `[config]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    /// Symbol name without `CONFIG_`.
    pub symbol: String,
    pub value: RequestValue,
    /// Write `priority = "force"` too (to override an included profile's,
    /// a patch's or a `[when]` request of normal priority).
    pub force: bool,
}

/// Why a declaration could not be edited; the file is left as it was.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not valid TOML, nothing written: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: `config` is not a table, nothing written")]
    NotATable { path: PathBuf },
    #[error("{path} is read-only, nothing written: make it writable (chmod u+w {path}) or save the changes to a separate file with --output FRAGMENT")]
    ReadOnly { path: PathBuf },
    #[error("{path}: cannot write ({source}), nothing written: check that {dir} is writable, or save the changes to a separate file with --output FRAGMENT")]
    Write {
        path: PathBuf,
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: the edited declaration would not load, nothing written: {error}")]
    Invalid {
        path: PathBuf,
        error: Box<crate::SpecError>,
    },
}

fn toml_value(v: &RequestValue) -> Value {
    match v {
        RequestValue::Text(s) => Value::from(s.as_str()),
        RequestValue::Integer(i) => Value::from(*i),
        RequestValue::Boolean(b) => Value::from(*b),
    }
}

/// Replace `old`'s value with `new`, keeping the comments and spaces around it.
fn replace_keeping_decor(old: &mut Value, mut new: Value) {
    *new.decor_mut() = old.decor().clone();
    *old = new;
}

/// Apply `edits` to the `[config]` table of the TOML text `text` (`path`
/// names it in errors). An existing request is changed in place, keeping its
/// table form (`{ value = "y", optional = true }` keeps `optional`); a new
/// one is added at the end of `[config]`, which is created when absent.
pub fn apply_edits(path: &Path, text: &str, edits: &[Edit]) -> Result<String, EditError> {
    let mut doc: DocumentMut =
        text.parse()
            .map_err(|e: toml_edit::TomlError| EditError::Parse {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
    if !doc.contains_key("config") {
        doc.insert("config", Item::Table(Table::new()));
    }
    let config = doc
        .get_mut("config")
        .and_then(Item::as_table_like_mut)
        .ok_or_else(|| EditError::NotATable {
            path: path.to_path_buf(),
        })?;
    for e in edits {
        let new = toml_value(&e.value);
        match config.get_mut(&e.symbol) {
            Some(Item::Value(Value::InlineTable(t))) => set_in_table(t, new, e.force),
            Some(Item::Table(t)) => {
                match t.get_mut("value") {
                    Some(Item::Value(v)) => replace_keeping_decor(v, new),
                    _ => {
                        t.insert("value", Item::Value(new));
                    }
                }
                t.remove("unset");
                if e.force {
                    t.insert("priority", Item::Value(Value::from("force")));
                }
            }
            Some(Item::Value(v)) => {
                if e.force {
                    let mut t = InlineTable::new();
                    t.insert("value", new);
                    t.insert("priority", Value::from("force"));
                    replace_keeping_decor(v, Value::InlineTable(t));
                } else {
                    replace_keeping_decor(v, new);
                }
            }
            _ => {
                let v = if e.force {
                    let mut t = InlineTable::new();
                    t.insert("value", new);
                    t.insert("priority", Value::from("force"));
                    Value::InlineTable(t)
                } else {
                    new
                };
                config.insert(&e.symbol, Item::Value(v));
            }
        }
    }
    Ok(doc.to_string())
}

fn set_in_table(t: &mut InlineTable, new: Value, force: bool) {
    // `{ unset = true }` becomes a plain setting.
    t.remove("unset");
    match t.get_mut("value") {
        Some(v) => replace_keeping_decor(v, new),
        None => {
            t.insert("value", new);
        }
    }
    if force {
        match t.get_mut("priority") {
            Some(v) => replace_keeping_decor(v, Value::from("force")),
            None => {
                t.insert("priority", Value::from("force"));
            }
        }
    }
}

/// Write `edits` into the file at `path` (created with a `[config]` table
/// when it does not exist, as a fragment to include). With `check`, the
/// result must load as a declaration ([`Spec::load`]) before it replaces
/// the original. A read-only file or directory is refused; on any error the
/// original is untouched.
pub fn save(path: &Path, edits: &[Edit], check: bool) -> Result<(), EditError> {
    let text = match kforge_fs::read_text_limited(
        path,
        crate::load::MAX_DECLARATION_BYTES,
        "a declaration",
    ) {
        Ok(t) => {
            let meta = std::fs::metadata(path).map_err(|source| EditError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            // Refused even for root, who could write it anyway.
            if meta.permissions().readonly() {
                return Err(EditError::ReadOnly {
                    path: path.to_path_buf(),
                });
            }
            t
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(source) => {
            return Err(EditError::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let new = apply_edits(path, &text, edits)?;
    let write_err = |e: kforge_fs::Error| EditError::Write {
        path: path.to_path_buf(),
        dir: path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf(),
        source: e.source,
    };
    // The temporary file next to `path` keeps its permissions; dropped on
    // an error, it is removed.
    let mut f = kforge_fs::AtomicFile::create(path).map_err(write_err)?;
    f.write_all(new.as_bytes()).map_err(write_err)?;
    if check {
        Spec::load(f.temp_path()).map_err(|error| EditError::Invalid {
            path: path.to_path_buf(),
            error: Box::new(error),
        })?;
    }
    f.commit().map_err(write_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(s: &str, v: &str) -> Edit {
        Edit {
            symbol: s.into(),
            value: RequestValue::Text(v.into()),
            force: false,
        }
    }

    const DECL: &str = r#"# A kernel.
[source]
version = "6.12"  # the branch

[build]
arch = "x86_64"
base = "tinyconfig"

[config]
MODULES = "y"
# Wanted as a module: the loader needs it.
DUMMY = "m"   # trailing comment
PRINTK_TIME = { value = "y", optional = true }
NR_CPUS = 4

[modules.netdev]
load = ["dummy"]
"#;

    #[test]
    fn replaces_in_place_keeping_comments() {
        let out = apply_edits(Path::new("k.toml"), DECL, &[edit("DUMMY", "y")]).unwrap();
        assert_eq!(
            out,
            DECL.replace("DUMMY = \"m\"   # trailing", "DUMMY = \"y\"   # trailing")
        );
    }

    #[test]
    fn keeps_table_form() {
        let out = apply_edits(Path::new("k.toml"), DECL, &[edit("PRINTK_TIME", "n")]).unwrap();
        assert!(out.contains("PRINTK_TIME = { value = \"n\", optional = true }\n"));
        assert_eq!(out.lines().count(), DECL.lines().count());
    }

    #[test]
    fn integers_and_new_entries_at_end_of_config() {
        let edits = [
            Edit {
                symbol: "NR_CPUS".into(),
                value: RequestValue::Integer(64),
                force: false,
            },
            edit("E1000E", "y"),
        ];
        let out = apply_edits(Path::new("k.toml"), DECL, &edits).unwrap();
        assert!(
            out.contains("NR_CPUS = 64\nE1000E = \"y\"\n\n[modules.netdev]"),
            "{out}"
        );
    }

    #[test]
    fn force_turns_plain_into_table() {
        let mut e = edit("MODULES", "n");
        e.force = true;
        let out = apply_edits(Path::new("k.toml"), DECL, &[e.clone()]).unwrap();
        assert!(
            out.contains("MODULES = { value = \"n\", priority = \"force\" }\n"),
            "{out}"
        );
        e.symbol = "NEW".into();
        let out = apply_edits(Path::new("k.toml"), DECL, &[e]).unwrap();
        assert!(
            out.contains("NEW = { value = \"n\", priority = \"force\" }\n"),
            "{out}"
        );
    }

    #[test]
    fn creates_config_table() {
        let text = "[source]\nversion = \"6.12\"\n\n[build]\narch = \"x86_64\"\n";
        let out = apply_edits(Path::new("k.toml"), text, &[edit("DUMMY", "y")]).unwrap();
        assert_eq!(out, format!("{text}\n[config]\nDUMMY = \"y\"\n"));
        let out = apply_edits(Path::new("f.toml"), "", &[edit("DUMMY", "y")]).unwrap();
        assert_eq!(out, "[config]\nDUMMY = \"y\"\n");
    }

    #[test]
    fn save_checks_and_renames() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("kernel.toml");
        std::fs::write(&p, DECL).unwrap();
        save(&p, &[edit("DUMMY", "y")], true).unwrap();
        let got = std::fs::read_to_string(&p).unwrap();
        assert!(got.contains("# Wanted as a module: the loader needs it.\nDUMMY = \"y\""));
        // A result that would not load is refused and the file kept.
        let bad = edit("CONFIG_BAD", "y");
        let err = save(&p, &[bad], true).unwrap_err();
        assert!(matches!(err, EditError::Invalid { .. }), "{err}");
        assert_eq!(std::fs::read_to_string(&p).unwrap(), got);
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn read_only_file_is_refused_and_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("kernel.toml");
        std::fs::write(&p, DECL).unwrap();
        let mut perm = std::fs::metadata(&p).unwrap().permissions();
        perm.set_readonly(true);
        std::fs::set_permissions(&p, perm).unwrap();
        let err = save(&p, &[edit("DUMMY", "y")], true).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, EditError::ReadOnly { .. }));
        assert!(
            msg.contains("kernel.toml is read-only") && msg.contains("--output"),
            "{msg}"
        );
        assert_eq!(std::fs::read_to_string(&p).unwrap(), DECL);
    }

    #[test]
    fn fragment_is_created_and_updated() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("menuconfig.toml");
        save(&p, &[edit("DUMMY", "y")], false).unwrap();
        save(&p, &[edit("DUMMY", "m"), edit("VETH", "m")], false).unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "[config]\nDUMMY = \"m\"\nVETH = \"m\"\n"
        );
    }
}
