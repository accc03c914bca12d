//! Diagnostics in the style of rustc: a title, the line of the declaration
//! it is about with the key underlined, notes and a help.

use annotate_snippets::{Level as SnippetLevel, Renderer, Snippet};
use kforge_declaration::Origin;

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
    Note,
}

impl Level {
    fn snippet_level(self) -> SnippetLevel {
        match self {
            Level::Error => SnippetLevel::Error,
            Level::Warning => SnippetLevel::Warning,
            Level::Note => SnippetLevel::Note,
        }
    }
}

/// Render one diagnostic. `origin` points at a key of a declaration; the
/// line is read from the file (without it, only the title and notes show).
pub fn render(
    level: Level,
    code: Option<&str>,
    title: &str,
    origin: Option<&Origin>,
    label: &str,
    notes: &[String],
    help: Option<&str>,
) -> String {
    let source = origin.and_then(|o| {
        let text = std::fs::read_to_string(&*o.file).ok()?;
        let line = text
            .lines()
            .nth(o.line.checked_sub(1)? as usize)?
            .to_string();
        Some(line)
    });
    let path = origin.map(|o| o.file.display().to_string());
    let shown = origin
        .zip(source.as_deref())
        .map(|(o, line)| excerpt(line, o.column));
    let lvl = level.snippet_level();
    let mut msg = lvl.title(title);
    if let Some(c) = code {
        msg = msg.id(c);
    }
    if let (Some(o), Some((line, span)), Some(path)) = (origin, &shown, path.as_deref()) {
        let snippet = Snippet::source(line)
            .line_start(o.line as usize)
            .origin(path)
            .annotation(lvl.span(span.clone()).label(label));
        msg = msg.snippet(snippet);
    }

    let mut footers = Vec::new();
    if origin.is_some() && source.is_none() {
        if let Some(o) = origin {
            footers.push(format!("at {o}"));
        }
        // The label belongs under the line; without the line it is a note.
        if !label.is_empty() {
            footers.push(label.to_string());
        }
    }
    let notes: Vec<String> = footers.into_iter().chain(notes.iter().cloned()).collect();
    for n in &notes {
        msg = msg.footer(SnippetLevel::Note.title(n));
    }
    if let Some(h) = help {
        msg = msg.footer(SnippetLevel::Help.title(h));
    }
    let renderer = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        Renderer::styled()
    } else {
        Renderer::plain()
    };
    format!("{}\n\n", renderer.render(msg))
}

/// The most characters of a source line a diagnostic shows: a longer line
/// (a 100,000-deep nested array is one of 200,000) is cut around the
/// column, `...` standing for each side cut.
const MAX_LINE: usize = 120;
/// The characters kept before the column when the start of a line is cut.
const BEFORE: usize = 50;
/// What stands for the part of a line that is cut.
const ELLIPSIS: &str = "...";

/// The part of `line` to show for an error at `column` (1-based, in
/// characters), and the byte range in it to underline: the key, a quoted
/// word or a whole table header from the column on, never more than the
/// part shown.
fn excerpt(line: &str, column: u32) -> (String, std::ops::Range<usize>) {
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let n = chars.len();
    let byte = |c: usize| chars.get(c).map_or(line.len(), |&(b, _)| b);
    let col = column.saturating_sub(1) as usize;
    let start = if col < n { col } else { 0 };
    // A key, a quoted word, or a whole table header.
    let in_word =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '"' | '.' | '-' | '[' | ']');
    let end = chars[start.min(n)..]
        .iter()
        .position(|&(_, c)| !in_word(c))
        .map_or(n, |k| start + k)
        .max(start + 1)
        .min(n);
    if n <= MAX_LINE {
        return (line.to_string(), byte(start)..byte(end).max(byte(start)));
    }
    // Keep the start of the line (its key) when the column is near it.
    let mut from = if start + 2 * ELLIPSIS.len() + 20 <= MAX_LINE {
        0
    } else {
        start - BEFORE
    };
    let to = (from + MAX_LINE).min(n);
    if to == n {
        from = n - MAX_LINE;
    }
    let mut shown = String::with_capacity(MAX_LINE * 4 + 2 * ELLIPSIS.len());
    if from > 0 {
        shown.push_str(ELLIPSIS);
    }
    // A byte offset of `line` as one of `shown`.
    let (cut, kept) = (byte(from), shown.len());
    let moved = |b: usize| b - cut + kept;
    shown.push_str(&line[byte(from)..byte(to)]);
    if to < n {
        shown.push_str(ELLIPSIS);
    }
    let span = moved(byte(start))..moved(byte(end.min(to)).max(byte(start)));
    (shown, span)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    fn origin(file: &std::path::Path, line: u32, column: u32) -> Origin {
        Origin {
            file: Rc::new(file.to_path_buf()),
            line,
            column,
        }
    }

    /// The rendered source line (`N | ...`) and the caret line under it.
    fn source_and_carets(out: &str, line: u32) -> (&str, &str) {
        let prefix = format!("{line} | ");
        let lines: Vec<&str> = out.lines().collect();
        let i = lines
            .iter()
            .position(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no source line {line} in:\n{out}"));
        (&lines[i][prefix.len()..], &lines[i + 1][prefix.len()..])
    }

    /// Issue 17: a 100,000-deep nested array printed its 200,000-character
    /// line twice (the line and its underline). A long line is cut around
    /// the column, with an ellipsis on the side cut, and still underlined
    /// where the error is.
    #[test]
    fn a_long_line_is_cut_around_the_column() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("kernel.toml");
        let n = 100_000;
        let text = format!("[config]\nA = {}{}\n", "[".repeat(n), "]".repeat(n));
        std::fs::write(&f, &text).unwrap();
        let e = kforge_declaration::Spec::load(&f).unwrap_err();
        let out = crate::errors::error(&e.into());
        assert!(out.len() < 1000, "{} bytes:\n{out}", out.len());
        assert!(
            out.lines().all(|l| l.chars().count() <= 160),
            "a line of more than 160 characters:\n{out}"
        );
        assert!(out.contains(":2:85"), "the place is named:\n{out}");
        assert!(
            out.contains("= help: no key kforge reads takes values nested"),
            "the remedy is given:\n{out}"
        );
        let (src, carets) = source_and_carets(&out, 2);
        assert!(src.starts_with("A = [[[") && src.ends_with("..."), "{out}");
        assert_eq!(
            carets.find('^'),
            Some(84),
            "the caret is under column 85:\n{out}"
        );

        // Cut on both sides, the caret under the word the origin names.
        let text = format!(
            "[config]\nA = [{} BAD, {}]\n",
            "1, ".repeat(3000),
            "2, ".repeat(3000)
        );
        std::fs::write(&f, &text).unwrap();
        let column = text.lines().nth(1).unwrap().find("BAD").unwrap() as u32 + 1;
        let out = render(
            Level::Error,
            None,
            "bad value",
            Some(&origin(&f, 2, column)),
            "this one",
            &[],
            None,
        );
        assert!(out.len() < 1000, "{} bytes:\n{out}", out.len());
        let (src, carets) = source_and_carets(&out, 2);
        assert!(src.starts_with("...") && src.ends_with("..."), "{out}");
        let at = src.find("BAD").unwrap();
        assert_eq!(carets.find('^'), Some(at), "{out}");
        assert!(carets[at..].starts_with("^^^ this one"), "{out}");
    }

    /// A line of ordinary length is shown whole, as before; multi-byte
    /// characters do not move the cut or the caret.
    #[test]
    fn short_lines_are_whole_and_cuts_respect_characters() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("kernel.toml");
        std::fs::write(&f, "[config]\nDUMMY = \"m\"      # a dummy interface\n").unwrap();
        let out = render(
            Level::Error,
            None,
            "t",
            Some(&origin(&f, 2, 1)),
            "here",
            &[],
            None,
        );
        let (src, carets) = source_and_carets(&out, 2);
        assert_eq!(src, "DUMMY = \"m\"      # a dummy interface");
        assert!(carets.starts_with("^^^^^ here"), "{out}");

        let line = format!("X = \"{}\" # {}", "é".repeat(400), "ü".repeat(400));
        std::fs::write(&f, format!("{line}\n")).unwrap();
        let column = line.chars().position(|c| c == '#').unwrap() as u32 + 1;
        let out = render(
            Level::Error,
            None,
            "t",
            Some(&origin(&f, 1, column)),
            "",
            &[],
            None,
        );
        let (src, carets) = source_and_carets(&out, 1);
        assert!(src.chars().count() <= 130, "{out}");
        let at = src.chars().position(|c| c == '#').unwrap();
        assert_eq!(carets.chars().position(|c| c == '^'), Some(at), "{out}");
    }
}
