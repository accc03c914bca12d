//! The Kconfig macro language (Documentation/kbuild/kconfig-macro-language.rst):
//! variables, user functions and the built-ins, expanded at lex time.
//!
//! OWNER: being written by a helper. The interface below is fixed; the lexer
//! calls it.

use crate::diag::Messages;

/// Runs `$(shell,...)` commands. Implementations may cache results
/// (see the `probe-cache` crate); the default runs `/bin/sh -c`.
pub trait ShellRunner {
    /// Run `command` with `/bin/sh -c` and return its raw standard output.
    /// Exit status is ignored, as the kernel does. stderr is inherited.
    fn run(&self, command: &str) -> Vec<u8>;
}

/// Runs every command with `/bin/sh -c`, no caching.
pub struct DirectShell;

/// How a variable was assigned: `:=` simple, `=` recursive, `+=` append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Simple,
    Recursive,
    Append,
}

/// A fatal preprocessor error, already formatted as the kernel prints it
/// (e.g. `Kconfig:3: unterminated reference to 'FOO': missing ')'`).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct PreprocessError(pub String);

/// Where the lexer currently is, for `$(filename)`, `$(lineno)` and messages.
#[derive(Debug, Clone, Copy)]
pub struct Location<'a> {
    pub file: &'a str,
    pub line: u32,
}
