//! A loaded file and the conversion of byte offsets to line:column.

use std::path::PathBuf;
use std::rc::Rc;

use crate::Origin;

/// The text of one declaration file.
pub(crate) struct SourceFile {
    pub path: Rc<PathBuf>,
    pub text: String,
    /// Byte offset of the start of every line.
    line_starts: Vec<usize>,
}

impl SourceFile {
    pub fn new(path: Rc<PathBuf>, text: String) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        SourceFile {
            path,
            text,
            line_starts,
        }
    }

    /// The place of byte `offset`: 1-based line, and 1-based column
    /// counted in characters.
    pub fn origin(&self, offset: usize) -> Origin {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let start = self.line_starts[line];
        // A span never starts inside a character; be safe anyway.
        let mut end = offset;
        while !self.text.is_char_boundary(end) {
            end -= 1;
        }
        let column = self.text[start..end].chars().count() + 1;
        Origin {
            file: self.path.clone(),
            line: to_u32(line + 1),
            column: to_u32(column),
        }
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_character_columns() {
        let f = SourceFile::new(Rc::new("f".into()), "ab\né = x\n\nz".into());
        let at = |o| {
            let o = f.origin(o);
            (o.line, o.column)
        };
        assert_eq!(at(0), (1, 1));
        assert_eq!(at(2), (1, 3)); // the newline itself
        assert_eq!(at(3), (2, 1));
        assert_eq!(at(5), (2, 2)); // after the two bytes of é
        assert_eq!(at(9), (2, 6));
        assert_eq!(at(10), (3, 1));
        assert_eq!(at(11), (4, 1));
        assert_eq!(at(12), (4, 2)); // end of file
        assert_eq!(at(99), (4, 2));
        assert_eq!(f.origin(5).to_string(), "f:2:2");
        assert_eq!(f.origin(4).to_string(), "f:2:1"); // inside é: its start
    }
}
