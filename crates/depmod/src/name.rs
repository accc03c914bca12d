//! Module names, file extensions and alias normalisation, as kmod does them.
//!
//! Everything works on bytes: file names and `.modinfo` strings need not be
//! UTF-8.

/// kmod's `PATH_MAX`: names and aliases are cut at `PATH_MAX - 1` bytes.
pub const PATH_MAX: usize = 4096;

/// File name endings kmod treats as modules, uncompressed first.
///
/// Debian's kmod 30 is built without zlib and so skips `.ko.gz` files; this
/// crate reads them (as a zlib-enabled kmod does).
pub const MODULE_EXTENSIONS: &[&str] = &[".ko", ".ko.gz", ".ko.xz", ".ko.zst"];

/// Whether `name` (a file name or path) ends in one of
/// [`MODULE_EXTENSIONS`] with at least one byte before it.
pub fn has_module_extension(name: &[u8]) -> bool {
    MODULE_EXTENSIONS
        .iter()
        .any(|e| name.len() > e.len() && name.ends_with(e.as_bytes()))
}

/// A module name from a file name: everything up to the first `.`, with
/// `-` turned into `_` (kmod's `modname_normalize`).
pub fn normalize_name(name: &[u8]) -> Vec<u8> {
    name.iter()
        .take(PATH_MAX - 1)
        .take_while(|&&c| c != b'.' && c != 0)
        .map(|&c| if c == b'-' { b'_' } else { c })
        .collect()
}

/// [`normalize_name`] for `&str`.
pub fn normalize_name_str(name: &str) -> String {
    String::from_utf8_lossy(&normalize_name(name.as_bytes())).into_owned()
}

/// The last component of a path (GNU `basename`: the bytes after the last
/// `/`, possibly empty).
pub fn basename(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&c| c == b'/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

/// The module name of a path (kmod's `path_to_modname`); `None` when the
/// path ends in `/`.
pub fn path_to_name(path: &[u8]) -> Option<Vec<u8>> {
    let base = basename(path);
    if base.is_empty() {
        None
    } else {
        Some(normalize_name(base))
    }
}

/// Why an alias could not be normalised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnmatchedBracket;

/// kmod's `alias_normalize`: `-` becomes `_` except inside `[...]`
/// character classes; a `]` without `[`, or a `[` without `]`, is an error.
pub fn normalize_alias(alias: &[u8]) -> Result<Vec<u8>, UnmatchedBracket> {
    let mut out = Vec::with_capacity(alias.len());
    let mut i = 0;
    while i < PATH_MAX - 1 {
        let c = alias.get(i).copied().unwrap_or(0);
        match c {
            0 => break,
            b'-' => out.push(b'_'),
            b']' => return Err(UnmatchedBracket),
            b'[' => {
                while i < alias.len() && alias[i] != b']' && alias[i] != 0 {
                    out.push(alias[i]);
                    i += 1;
                }
                if alias.get(i) != Some(&b']') {
                    return Err(UnmatchedBracket);
                }
                out.push(b']');
            }
            c => out.push(c),
        }
        i += 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(normalize_name(b"intel-uncore.ko"), b"intel_uncore");
        assert_eq!(normalize_name(b"snd-hda.ko.xz"), b"snd_hda");
        assert_eq!(path_to_name(b"kernel/a/b-c.ko.zst").unwrap(), b"b_c");
        assert_eq!(path_to_name(b"kernel/a/"), None);
        assert!(has_module_extension(b"x.ko"));
        assert!(has_module_extension(b"x.ko.zst"));
        assert!(!has_module_extension(b".ko"));
        assert!(!has_module_extension(b"x.ko.bz2"));
    }

    #[test]
    fn aliases() {
        assert_eq!(normalize_alias(b"pci:v-d[0-9]*").unwrap(), b"pci:v_d[0-9]*");
        assert_eq!(normalize_alias(b"a]"), Err(UnmatchedBracket));
        assert_eq!(normalize_alias(b"a[0-"), Err(UnmatchedBracket));
        assert_eq!(normalize_alias(b"").unwrap(), b"");
    }
}
