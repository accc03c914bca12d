//! Messages the engine produces for the user, kept in order so a front end can
//! print them exactly where the kernel's `conf` would (stdout or stderr).

/// The stream a message belongs on, as the kernel's `conf` would print it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// An ordered list of messages produced while loading or evaluating a tree.
#[derive(Debug, Default, Clone)]
pub struct Messages {
    pub lines: Vec<(Stream, String)>,
}

impl Messages {
    /// Queue `text` (without trailing newline) for stderr.
    pub fn err(&mut self, text: impl Into<String>) {
        self.lines.push((Stream::Stderr, text.into()));
    }
    /// Queue `text` (without trailing newline) for stdout.
    pub fn out(&mut self, text: impl Into<String>) {
        self.lines.push((Stream::Stdout, text.into()));
    }
    /// Take all queued messages, leaving the list empty.
    pub fn take(&mut self) -> Vec<(Stream, String)> {
        std::mem::take(&mut self.lines)
    }
}
