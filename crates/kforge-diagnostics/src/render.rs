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
    let lvl = level.snippet_level();
    let mut msg = lvl.title(title);
    if let Some(c) = code {
        msg = msg.id(c);
    }
    if let (Some(o), Some(line), Some(path)) = (origin, source.as_deref(), path.as_deref()) {
        // Underline the key: from the column to the end of the word.
        let start = line
            .char_indices()
            .nth(o.column.saturating_sub(1) as usize)
            .map_or(0, |(i, _)| i);
        // A key, a quoted word, or a whole table header.
        let in_word =
            |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '"' | '.' | '-' | '[' | ']');
        let end = line[start..]
            .find(|c: char| !in_word(c))
            .map_or(line.len(), |n| start + n)
            .max(start + 1);
        let snippet = Snippet::source(line)
            .line_start(o.line as usize)
            .origin(path)
            .annotation(lvl.span(start..end.min(line.len()).max(start)).label(label));
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
