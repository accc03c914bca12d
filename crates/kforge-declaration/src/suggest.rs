//! "Did you mean ...?" for misspelt keys and values.

/// Levenshtein distance, in characters.
use strsim::levenshtein as distance;

/// The candidate closest to `word`: one equal to it ignoring case, or else
/// one within edit distance 2 (and shorter than the candidate itself, so
/// that short words don't match everything).
pub(crate) fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    if let Some(c) = candidates.iter().find(|c| c.eq_ignore_ascii_case(word)) {
        return Some(c);
    }
    let lower = word.to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| (distance(&lower, &c.to_ascii_lowercase()), *c))
        .filter(|&(d, c)| d <= 2 && d < c.chars().count())
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// A help line for an unknown `word` among `candidates`.
pub(crate) fn help(word: &str, candidates: &[&str]) -> String {
    match closest(word, candidates) {
        Some(c) => format!("did you mean `{c}`?"),
        None => format!("expected one of {}", list(candidates)),
    }
}

/// `a`, `b` or `c`.
pub(crate) fn list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("`{i}`")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(distance("", ""), 0);
        assert_eq!(distance("tarbal", "tarball"), 1);
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("ab", "ba"), 2);
        assert_eq!(distance("é", "e"), 1);
    }

    #[test]
    fn suggestions() {
        let keys = ["version", "tarball", "url", "hash"];
        assert_eq!(closest("tarbal", &keys), Some("tarball"));
        assert_eq!(closest("VERSION", &keys), Some("version"));
        assert_eq!(closest("uri", &keys), Some("url"));
        assert_eq!(closest("x", &keys), None);
        assert_eq!(closest("checksum", &keys), None);
        assert_eq!(help("tarbal", &keys), "did you mean `tarball`?");
        assert_eq!(
            help("sha", &keys),
            "expected one of `version`, `tarball`, `url` or `hash`"
        );
        assert_eq!(list(&["a"]), "`a`");
    }
}
