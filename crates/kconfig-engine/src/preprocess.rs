//! The Kconfig macro language (Documentation/kbuild/kconfig-macro-language.rst):
//! variables, user functions and the built-ins, expanded at lex time.
//!
//! The rules reproduced here are those of the kernel's `scripts/kconfig`
//! (6.12; 6.1 behaves the same except for the text written by
//! [`Preprocessor::write_env_dep_v61`]):
//!
//! * A reference is always `$(...)`. A `$` that is not followed by `(` stands
//!   for itself. The closing parenthesis is found by counting every `(` and
//!   `)` after the opening one, whether or not it belongs to a reference.
//! * Inside a reference, the text is split on commas that are not inside
//!   parentheses. Nothing is trimmed. The first piece is the name, the rest
//!   are arguments; at most 16 pieces are allowed. The name and every argument
//!   are expanded, in that order, before the call is resolved.
//! * Resolution order: a defined variable (a user function, when arguments
//!   are given; its body sees them as `$(1)`, `$(2)`, ...), then a built-in
//!   function, then (only without arguments) an environment variable, else
//!   the empty string. A variable therefore shadows a built-in of the same
//!   name; the kernel does not forbid such names.
//! * `$(N)` inside a function body, where the raw reference text reads as a C
//!   `strtoul` number (leading blanks and a sign allowed, nothing after the
//!   digits) between 1 and the number of arguments, is replaced by that
//!   argument without going through the steps above.
//! * Environment variables are read once: the first value seen is remembered
//!   and reused, and the list of names read is what `auto.conf.cmd` records.
//!
//! The kernel's strings are C strings: everything after a NUL byte is
//! invisible to it. This module truncates every input at the first NUL to
//! match. Shell output is returned through `String::from_utf8_lossy`, so bytes
//! that are not UTF-8 come back as U+FFFD where the kernel would pass them
//! through unchanged.
//!
//! The expansion is driven by an explicit stack rather than native recursion,
//! so arbitrarily deep nesting in the input cannot overflow the thread stack;
//! the only depth limits are the kernel's own (a variable may be under
//! expansion at most 1001 times at once).

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::rc::Rc;

use crate::diag::Messages;

/// Runs `$(shell,...)` commands. Implementations may cache results
/// (see the `probe-cache` crate); the default runs `/bin/sh -c`.
///
/// Only the first [`SHELL_READ_LIMIT`] bytes of the returned output are ever
/// looked at, so an implementation may stop reading there, as the kernel does
/// (it reads one buffer of that size from `popen` and then closes the pipe).
pub trait ShellRunner {
    /// Run `command` with `/bin/sh -c` and return its raw standard output.
    /// Exit status is ignored, as the kernel does. stderr is inherited.
    fn run(&self, command: &str) -> Vec<u8>;
}

/// Runs every command with `/bin/sh -c`, no caching.
pub struct DirectShell;

impl ShellRunner for DirectShell {
    fn run(&self, command: &str) -> Vec<u8> {
        run_shell_command(command, None, None)
    }
}

impl<T: ShellRunner + ?Sized> ShellRunner for &T {
    fn run(&self, command: &str) -> Vec<u8> {
        (**self).run(command)
    }
}

impl<T: ShellRunner + ?Sized> ShellRunner for Box<T> {
    fn run(&self, command: &str) -> Vec<u8> {
        (**self).run(command)
    }
}

impl<T: ShellRunner + ?Sized> ShellRunner for Rc<T> {
    fn run(&self, command: &str) -> Vec<u8> {
        (**self).run(command)
    }
}

impl<T: ShellRunner + ?Sized> ShellRunner for std::sync::Arc<T> {
    fn run(&self, command: &str) -> Vec<u8> {
        (**self).run(command)
    }
}

/// How many bytes of a command's output the kernel reads (its buffer size).
/// One byte of a full buffer is then dropped to make room for the terminator,
/// so at most `SHELL_READ_LIMIT - 1` bytes survive.
pub const SHELL_READ_LIMIT: usize = 4096;

/// Run `command` as `/bin/sh -c command` the way the kernel's `popen` does:
/// stdin and stderr inherited, stdout captured. Reading stops after
/// [`SHELL_READ_LIMIT`] bytes, after which the pipe is closed (a command that
/// keeps writing then dies of SIGPIPE, as under the kernel) and the child is
/// waited for. `env`, when given, replaces the whole environment; `cwd`, when
/// given, is the working directory. A command that cannot be started yields
/// empty output (the kernel would exit instead).
pub fn run_shell_command(
    command: &str,
    env: Option<&[(String, String)]>,
    cwd: Option<&Path>,
) -> Vec<u8> {
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(command)
        .stdin(Stdio::inherit())
        .stderr(Stdio::inherit())
        .stdout(Stdio::piped());
    if let Some(env) = env {
        cmd.env_clear();
        cmd.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    }
    if let Some(cwd) = cwd {
        cmd.current_dir(cwd);
    }
    let Ok(mut child) = cmd.spawn() else {
        return Vec::new();
    };
    let mut buf = Vec::with_capacity(SHELL_READ_LIMIT);
    if let Some(stdout) = child.stdout.take() {
        let _ = stdout.take(SHELL_READ_LIMIT as u64).read_to_end(&mut buf);
        // Dropping `stdout` here closes our end of the pipe.
    }
    let _ = child.wait();
    buf
}

/// Turn raw command output into the value of `$(shell,...)`: keep what fits
/// in the kernel's buffer (a full buffer loses its last byte), drop trailing
/// newlines, turn the remaining newlines into spaces, and stop at a NUL byte.
pub fn shell_output_value(raw: &[u8]) -> String {
    let mut n = raw.len().min(SHELL_READ_LIMIT);
    if n == SHELL_READ_LIMIT {
        n -= 1;
    }
    while n > 0 && raw[n - 1] == b'\n' {
        n -= 1;
    }
    let mut bytes: Vec<u8> = raw[..n]
        .iter()
        .map(|&b| if b == b'\n' { b' ' } else { b })
        .collect();
    if let Some(nul) = bytes.iter().position(|&b| b == 0) {
        bytes.truncate(nul);
    }
    match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

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

/// Most pieces (name plus arguments) one reference may have.
const FUNCTION_MAX_ARGS: usize = 16;
/// A variable already under expansion this many times may not be expanded
/// again (the kernel's check is "more than 1000").
const MAX_EXPANSION_COUNT: u32 = 1000;
/// Guard against exponential blow-up: no single expansion result may grow
/// beyond this many bytes. The kernel has no such limit (it would simply run
/// out of memory), so this only changes what happens for absurd inputs.
pub const MAX_EXPANSION_LEN: usize = 1 << 28;

/// Built-in functions: name, fewest and most arguments.
const BUILTINS: &[(&str, usize, usize)] = &[
    ("error-if", 2, 2),
    ("filename", 0, 0),
    ("info", 1, 1),
    ("lineno", 0, 0),
    ("shell", 1, 1),
    ("warning-if", 2, 2),
];

struct Variable {
    value: Rc<str>,
    /// Only `Simple` or `Recursive`; appends keep the original flavor.
    flavor: Flavor,
    /// How many expansions of this variable are in progress.
    active: u32,
}

/// Where a scan of a string stops (besides the end of the string).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// Only at the end of the text.
    End,
    /// At the first byte outside `[A-Za-z0-9_-]` that is not part of a
    /// `$(...)` reference.
    Token,
}

/// One pending piece of work on the expansion stack.
enum Frame {
    /// Copy `text[pos..limit]` to `out`, expanding references.
    Scan {
        text: Rc<str>,
        pos: usize,
        limit: usize,
        out: String,
        args: Rc<[String]>,
        stop: Stop,
    },
    /// A reference whose pieces are being expanded one after another.
    Call {
        text: Rc<str>,
        pieces: Vec<(usize, usize)>,
        done: Vec<String>,
        args: Rc<[String]>,
    },
    /// The body of this variable is being expanded (the frame above).
    Body { name: String },
}

/// How a reference starts out.
enum Begin {
    /// Already resolved (a `$(N)` argument reference).
    Value(String),
    /// Push these frames (a `Call` and the scan of its first piece).
    Push(Frame, Frame),
}

/// The result of resolving a call once its pieces are expanded.
enum Resolved {
    Value(String),
    /// Expand this recursive variable's body with these arguments.
    Body(String, Rc<str>, Rc<[String]>),
}

/// How the preprocessor reads an environment variable (`None`: unset).
pub type EnvReader = Box<dyn Fn(&str) -> Option<String>>;

/// The macro-language state of one Kconfig parse: variables and the
/// environment variables referenced so far.
pub struct Preprocessor {
    env: EnvReader,
    shell: Box<dyn ShellRunner>,
    vars: HashMap<String, Variable>,
    env_seen: Vec<(String, String)>,
    pending: Messages,
    max_len: usize,
}

impl std::fmt::Debug for Preprocessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Preprocessor")
            .field("variables", &self.vars.len())
            .field("env_seen", &self.env_seen)
            .finish_non_exhaustive()
    }
}

/// The part of `s` a C function would see: everything before the first NUL.
fn c_str(s: &str) -> &str {
    match s.find('\0') {
        Some(i) => &s[..i],
        None => s,
    }
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// Index of the `)` closing a reference whose `(` is just before `from`.
fn find_close(bytes: &[u8], from: usize, limit: usize) -> Option<usize> {
    let mut depth: usize = 0;
    let mut i = from;
    while i < limit {
        match bytes[i] {
            b'(' => depth += 1,
            b')' => {
                if depth == 0 {
                    return Some(i);
                }
                depth -= 1;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Read `s` the way C's `strtoul(s, &end, 10)` followed by a check that
/// `*end == '\0'` does. Returns `None` if something follows the number.
fn c_strtoul_whole(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        i += 1;
    }
    let mut negative = false;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        negative = b[i] == b'-';
        i += 1;
    }
    let digits_start = i;
    let mut value: u64 = 0;
    let mut overflow = false;
    while i < b.len() && b[i].is_ascii_digit() {
        match value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(b[i] - b'0')))
        {
            Some(v) => value = v,
            None => overflow = true,
        }
        i += 1;
    }
    if i == digits_start {
        // No conversion: the end pointer is the start of the string.
        return if s.is_empty() { Some(0) } else { None };
    }
    if i != b.len() {
        return None;
    }
    Some(if overflow {
        u64::MAX
    } else if negative {
        value.wrapping_neg()
    } else {
        value
    })
}

impl Preprocessor {
    /// A preprocessor reading environment variables through `env` and running
    /// `$(shell,...)` commands through `shell`.
    pub fn new(env: EnvReader, shell: Box<dyn ShellRunner>) -> Self {
        Preprocessor {
            env,
            shell,
            vars: HashMap::new(),
            env_seen: Vec::new(),
            pending: Messages::default(),
            max_len: MAX_EXPANSION_LEN,
        }
    }

    /// Change the size limit on one expansion result (default
    /// [`MAX_EXPANSION_LEN`]).
    pub fn set_expansion_limit(&mut self, bytes: usize) {
        self.max_len = bytes;
    }

    /// Define or extend a variable (an assignment statement), sending any
    /// messages the expansion produces to an internal queue; take them with
    /// [`Preprocessor::take_pending_messages`], or use
    /// [`Preprocessor::add_variable_with`] to keep them in order with others.
    pub fn add_variable(
        &mut self,
        name: &str,
        value: &str,
        flavor: Flavor,
        loc: Location,
    ) -> Result<(), PreprocessError> {
        let mut msgs = std::mem::take(&mut self.pending);
        let res = self.add_variable_with(name, value, flavor, loc, &mut msgs);
        self.pending = msgs;
        res
    }

    /// Messages produced by [`Preprocessor::add_variable`] so far.
    pub fn take_pending_messages(&mut self) -> Messages {
        std::mem::take(&mut self.pending)
    }

    /// Define or extend a variable, as the kernel's `variable_add`:
    ///
    /// * `:=` expands `value` now and stores the result; `=` stores `value`.
    /// * `+=` on a defined variable keeps its flavor and appends a space and
    ///   the new text, expanded now if the variable is simple. `+=` on an
    ///   undefined variable defines a recursive one.
    /// * While a `:=` (re)definition is being expanded, the variable already
    ///   exists as a simple variable with an empty value, so `X := $(X) y`
    ///   yields `" y"`. (The C code reads released or uninitialised memory
    ///   here; with glibc the observed result of redefinition is the empty
    ///   string, and a first definition crashes.)
    ///
    /// `loc` is what `$(filename)`/`$(lineno)` report; the kernel expands
    /// assignments after reading the newline that ends them, so its line is
    /// one past the assignment's last line.
    pub fn add_variable_with(
        &mut self,
        name: &str,
        value: &str,
        flavor: Flavor,
        loc: Location,
        msgs: &mut Messages,
    ) -> Result<(), PreprocessError> {
        let name = c_str(name);
        let value = c_str(value);

        if flavor == Flavor::Append {
            if let Some(existing) = self.vars.get(name) {
                let kept = existing.flavor;
                let addition = if kept == Flavor::Simple {
                    self.expand_string(value, loc, msgs)?
                } else {
                    value.to_string()
                };
                if let Some(var) = self.vars.get_mut(name) {
                    let mut joined = String::with_capacity(var.value.len() + 1 + addition.len());
                    joined.push_str(&var.value);
                    joined.push(' ');
                    joined.push_str(&addition);
                    var.value = Rc::from(joined);
                }
                return Ok(());
            }
        }

        if flavor == Flavor::Simple {
            let previous = self.vars.insert(
                name.to_string(),
                Variable {
                    value: Rc::from(""),
                    flavor: Flavor::Simple,
                    active: 0,
                },
            );
            match self.expand_string(value, loc, msgs) {
                Ok(expanded) => {
                    if let Some(var) = self.vars.get_mut(name) {
                        var.value = Rc::from(expanded);
                    }
                    Ok(())
                }
                Err(e) => {
                    match previous {
                        Some(prev) => {
                            self.vars.insert(name.to_string(), prev);
                        }
                        None => {
                            self.vars.remove(name);
                        }
                    }
                    Err(e)
                }
            }
        } else {
            self.vars.insert(
                name.to_string(),
                Variable {
                    value: Rc::from(value),
                    flavor: Flavor::Recursive,
                    active: 0,
                },
            );
            Ok(())
        }
    }

    /// Forget every variable (the kernel does this once parsing is done).
    /// The record of environment variables is kept.
    pub fn clear_variables(&mut self) {
        self.vars.clear();
    }

    /// Expand the reference that follows a `$`. `input` starts right after
    /// the `$` (the lexer passes the rest of the line, without its newline).
    /// Returns the expansion and how many bytes of `input` it used: if
    /// `input` does not start with `(`, that is `("$", 0)`.
    pub fn expand_dollar(
        &mut self,
        input: &str,
        loc: Location,
        msgs: &mut Messages,
    ) -> Result<(String, usize), PreprocessError> {
        let input = c_str(input);
        let bytes = input.as_bytes();
        if bytes.first() != Some(&b'(') {
            return Ok(("$".to_string(), 0));
        }
        let Some(close) = find_close(bytes, 1, bytes.len()) else {
            return Err(unterminated(loc, &input[1..]));
        };
        let text: Rc<str> = Rc::from(input);
        let no_args: Rc<[String]> = Rc::from(Vec::new());
        let stack = match self.begin_call(&text, 1, close, &no_args, loc)? {
            Begin::Value(v) => return Ok((v, close + 1)),
            Begin::Push(call, scan) => vec![call, scan],
        };
        let (value, _) = self.run(stack, loc, msgs)?;
        Ok((value, close + 1))
    }

    /// Expand one unquoted word: from the start of `input` up to the first
    /// byte outside `[A-Za-z0-9_-]` that is not inside a `$(...)` reference
    /// (a reference is always taken whole, spaces included). Returns the
    /// expansion and how many bytes of `input` were used.
    pub fn expand_one_token(
        &mut self,
        input: &str,
        loc: Location,
        msgs: &mut Messages,
    ) -> Result<(String, usize), PreprocessError> {
        let input = c_str(input);
        let stack = vec![Frame::Scan {
            text: Rc::from(input),
            pos: 0,
            limit: input.len(),
            out: String::new(),
            args: Rc::from(Vec::new()),
            stop: Stop::Token,
        }];
        self.run(stack, loc, msgs)
    }

    /// Expand every reference in `input`.
    pub fn expand_string(
        &mut self,
        input: &str,
        loc: Location,
        msgs: &mut Messages,
    ) -> Result<String, PreprocessError> {
        let input = c_str(input);
        if !input.contains('$') {
            return Ok(input.to_string());
        }
        let stack = vec![Frame::Scan {
            text: Rc::from(input),
            pos: 0,
            limit: input.len(),
            out: String::new(),
            args: Rc::from(Vec::new()),
            stop: Stop::End,
        }];
        self.run(stack, loc, msgs).map(|(s, _)| s)
    }

    /// Environment variables referenced so far, with the value seen, in the
    /// order they were first referenced (the order of `auto.conf.cmd`).
    pub fn env_used(&self) -> Vec<(String, String)> {
        self.env_seen.clone()
    }

    /// Append what the kernel (6.12) writes for the referenced environment
    /// variables to `auto.conf.cmd`: for each one, a blank line and an
    /// `ifneq` block forcing `$(autoconfig)` to be rebuilt when it changes.
    /// (The kernel empties its list while writing; this does not.)
    pub fn write_env_dep(&self, out: &mut String) {
        for (name, value) in &self.env_seen {
            out.push_str("\nifneq \"$(");
            out.push_str(name);
            out.push_str(")\" \"");
            out.push_str(value);
            out.push_str("\"\n$(autoconfig): FORCE\nendif\n");
        }
    }

    /// The 6.1 form of [`Preprocessor::write_env_dep`]: no blank line before
    /// each block, and the target is the auto.conf path itself.
    pub fn write_env_dep_v61(&self, out: &mut String, autoconf_name: &str) {
        for (name, value) in &self.env_seen {
            out.push_str("ifneq \"$(");
            out.push_str(name);
            out.push_str(")\" \"");
            out.push_str(value);
            out.push_str("\"\n");
            out.push_str(autoconf_name);
            out.push_str(": FORCE\nendif\n");
        }
    }

    /// Run the expansion stack to completion. On error every variable is
    /// marked as no longer being expanded (callers only enter at the top).
    fn run(
        &mut self,
        mut stack: Vec<Frame>,
        loc: Location,
        msgs: &mut Messages,
    ) -> Result<(String, usize), PreprocessError> {
        let res = self.drive(&mut stack, loc, msgs);
        if res.is_err() {
            for var in self.vars.values_mut() {
                var.active = 0;
            }
        }
        res
    }

    fn drive(
        &mut self,
        stack: &mut Vec<Frame>,
        loc: Location,
        msgs: &mut Messages,
    ) -> Result<(String, usize), PreprocessError> {
        loop {
            // Work on the scan at the top of the stack.
            let reference = {
                let Some(Frame::Scan {
                    text,
                    pos,
                    limit,
                    out,
                    args,
                    stop,
                }) = stack.last_mut()
                else {
                    return Err(PreprocessError(
                        "internal error: preprocessor stack out of order".into(),
                    ));
                };
                let bytes = text.as_bytes();
                let start = *pos;
                let mut i = start;
                while i < *limit {
                    let b = bytes[i];
                    if b == b'$' || (*stop == Stop::Token && !is_token_byte(b)) {
                        break;
                    }
                    i += 1;
                }
                // `i` stops at an ASCII byte or at `limit`, both boundaries.
                out.push_str(text.get(start..i).unwrap_or(""));
                *pos = i;
                check_len(out, self.max_len, loc)?;
                if i < *limit && bytes[i] == b'$' {
                    let open = i + 1;
                    if open >= *limit || bytes[open] != b'(' {
                        out.push('$');
                        *pos = open;
                        continue;
                    }
                    let Some(close) = find_close(bytes, open + 1, *limit) else {
                        return Err(unterminated(loc, text.get(open + 1..*limit).unwrap_or("")));
                    };
                    *pos = close + 1;
                    Some((text.clone(), open + 1, close, args.clone()))
                } else {
                    None
                }
            };

            if let Some((text, from, to, args)) = reference {
                match self.begin_call(&text, from, to, &args, loc)? {
                    Begin::Value(v) => {
                        if let Some(Frame::Scan { out, .. }) = stack.last_mut() {
                            out.push_str(&v);
                            check_len(out, self.max_len, loc)?;
                        }
                    }
                    Begin::Push(call, scan) => {
                        stack.push(call);
                        stack.push(scan);
                    }
                }
                continue;
            }

            // The scan at the top is complete: hand its result downwards.
            let Some(Frame::Scan { out, pos, .. }) = stack.pop() else {
                return Err(PreprocessError(
                    "internal error: preprocessor stack out of order".into(),
                ));
            };
            if stack.is_empty() {
                return Ok((out, pos));
            }
            let mut value = out;
            loop {
                match stack.last_mut() {
                    None => return Ok((value, 0)),
                    Some(Frame::Scan { out, .. }) => {
                        out.push_str(&value);
                        check_len(out, self.max_len, loc)?;
                        break;
                    }
                    Some(Frame::Body { name }) => {
                        if let Some(var) = self.vars.get_mut(name.as_str()) {
                            var.active = var.active.saturating_sub(1);
                        }
                        stack.pop();
                    }
                    Some(Frame::Call {
                        text,
                        pieces,
                        done,
                        args,
                    }) => {
                        done.push(value);
                        if let Some(&(from, to)) = pieces.get(done.len()) {
                            let scan = Frame::Scan {
                                text: text.clone(),
                                pos: from,
                                limit: to,
                                out: String::new(),
                                args: args.clone(),
                                stop: Stop::End,
                            };
                            stack.push(scan);
                            break;
                        }
                        let Some(Frame::Call { done, .. }) = stack.pop() else {
                            return Err(PreprocessError(
                                "internal error: preprocessor stack out of order".into(),
                            ));
                        };
                        let mut pieces = done.into_iter();
                        let name = pieces.next().unwrap_or_default();
                        let call_args: Vec<String> = pieces.collect();
                        match self.resolve(name, call_args, loc, msgs)? {
                            Resolved::Value(v) => value = v,
                            Resolved::Body(name, body, args) => {
                                let limit = body.len();
                                stack.push(Frame::Body { name });
                                stack.push(Frame::Scan {
                                    text: body,
                                    pos: 0,
                                    limit,
                                    out: String::new(),
                                    args,
                                    stop: Stop::End,
                                });
                                break;
                            }
                        }
                    }
                }
            }
        }
    }

    /// Start evaluating the reference `text[from..to]` (between the
    /// parentheses), inside a body called with `args`.
    fn begin_call(
        &mut self,
        text: &Rc<str>,
        from: usize,
        to: usize,
        args: &Rc<[String]>,
        loc: Location,
    ) -> Result<Begin, PreprocessError> {
        let inner = text.get(from..to).unwrap_or("");
        if let Some(n) = c_strtoul_whole(inner) {
            if n > 0 && n <= args.len() as u64 {
                let idx = (n - 1) as usize;
                return Ok(Begin::Value(args.get(idx).cloned().unwrap_or_default()));
            }
        }

        let bytes = text.as_bytes();
        let mut pieces = Vec::new();
        let mut depth: i64 = 0;
        let mut piece_start = from;
        for (i, &b) in bytes.iter().enumerate().take(to).skip(from) {
            match b {
                b',' if depth == 0 => {
                    if pieces.len() >= FUNCTION_MAX_ARGS {
                        return Err(located(loc, "too many function arguments"));
                    }
                    pieces.push((piece_start, i));
                    piece_start = i + 1;
                }
                b'(' => depth += 1,
                b')' => depth -= 1,
                _ => {}
            }
        }
        if pieces.len() >= FUNCTION_MAX_ARGS {
            return Err(located(loc, "too many function arguments"));
        }
        pieces.push((piece_start, to));

        let (first_from, first_to) = pieces[0];
        let scan = Frame::Scan {
            text: text.clone(),
            pos: first_from,
            limit: first_to,
            out: String::new(),
            args: args.clone(),
            stop: Stop::End,
        };
        let call = Frame::Call {
            text: text.clone(),
            pieces,
            done: Vec::new(),
            args: args.clone(),
        };
        Ok(Begin::Push(call, scan))
    }

    /// Resolve a call whose name and arguments are expanded.
    fn resolve(
        &mut self,
        name: String,
        args: Vec<String>,
        loc: Location,
        msgs: &mut Messages,
    ) -> Result<Resolved, PreprocessError> {
        if let Some(var) = self.vars.get_mut(name.as_str()) {
            if args.is_empty() && var.active > 0 {
                return Err(located(
                    loc,
                    &format!("Recursive variable '{name}' references itself (eventually)"),
                ));
            }
            if var.active > MAX_EXPANSION_COUNT {
                return Err(located(loc, "Too deep recursive expansion"));
            }
            return Ok(match var.flavor {
                Flavor::Recursive => {
                    var.active += 1;
                    let body = var.value.clone();
                    Resolved::Body(name, body, Rc::from(args))
                }
                _ => Resolved::Value(var.value.to_string()),
            });
        }

        if let Some(&(fname, min, max)) = BUILTINS.iter().find(|(n, _, _)| *n == name) {
            if args.len() < min {
                return Err(located(
                    loc,
                    &format!("too few function arguments passed to '{fname}'"),
                ));
            }
            if args.len() > max {
                return Err(located(
                    loc,
                    &format!("too many function arguments passed to '{fname}'"),
                ));
            }
            return self.builtin(fname, &args, loc, msgs).map(Resolved::Value);
        }

        if args.is_empty() {
            if let Some(v) = self.env_lookup(&name) {
                return Ok(Resolved::Value(v));
            }
        }
        Ok(Resolved::Value(String::new()))
    }

    fn builtin(
        &mut self,
        name: &str,
        args: &[String],
        loc: Location,
        msgs: &mut Messages,
    ) -> Result<String, PreprocessError> {
        let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or("");
        match name {
            "error-if" if arg(0) == "y" => return Err(located(loc, arg(1))),
            "filename" => return Ok(c_str(loc.file).to_string()),
            "info" => msgs.out(arg(0)),
            // The kernel formats the line with "%d".
            "lineno" => return Ok((loc.line as i32).to_string()),
            "shell" => return Ok(shell_output_value(&self.shell.run(arg(0)))),
            "warning-if" if arg(0) == "y" => msgs.err(format!(
                "{}:{}: {}",
                c_str(loc.file),
                loc.line as i32,
                arg(1)
            )),
            _ => {}
        }
        Ok(String::new())
    }

    /// An environment variable's value, remembered on first use.
    fn env_lookup(&mut self, name: &str) -> Option<String> {
        if name.is_empty() {
            return None;
        }
        if let Some((_, v)) = self.env_seen.iter().find(|(n, _)| n == name) {
            return Some(v.clone());
        }
        let value = c_str(&(self.env)(name)?).to_string();
        self.env_seen.push((name.to_string(), value.clone()));
        Some(value)
    }
}

/// An error message prefixed with the location, as the kernel's `pperror`.
fn located(loc: Location, msg: &str) -> PreprocessError {
    PreprocessError(format!("{}:{}: {}", c_str(loc.file), loc.line as i32, msg))
}

fn unterminated(loc: Location, rest: &str) -> PreprocessError {
    located(
        loc,
        &format!("unterminated reference to '{rest}': missing ')'"),
    )
}

fn check_len(out: &str, max: usize, loc: Location) -> Result<(), PreprocessError> {
    if out.len() > max {
        return Err(located(loc, "macro expansion is too long"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    struct FakeShell {
        outputs: HashMap<String, Vec<u8>>,
        calls: Rc<RefCell<Vec<String>>>,
    }

    impl ShellRunner for FakeShell {
        fn run(&self, command: &str) -> Vec<u8> {
            self.calls.borrow_mut().push(command.to_string());
            self.outputs.get(command).cloned().unwrap_or_default()
        }
    }

    const LOC: Location<'static> = Location {
        file: "Kconfig",
        line: 7,
    };

    fn pp_with(
        env: &[(&str, &str)],
        shell: &[(&str, &[u8])],
    ) -> (Preprocessor, Rc<RefCell<Vec<String>>>) {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let calls = Rc::new(RefCell::new(Vec::new()));
        let shell = FakeShell {
            outputs: shell
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_vec()))
                .collect(),
            calls: calls.clone(),
        };
        (
            Preprocessor::new(Box::new(move |n| env.get(n).cloned()), Box::new(shell)),
            calls,
        )
    }

    fn pp() -> Preprocessor {
        pp_with(&[], &[]).0
    }

    fn exp(p: &mut Preprocessor, s: &str) -> String {
        let mut m = Messages::default();
        p.expand_string(s, LOC, &mut m).unwrap()
    }

    fn exp_err(p: &mut Preprocessor, s: &str) -> String {
        let mut m = Messages::default();
        p.expand_string(s, LOC, &mut m).unwrap_err().0
    }

    fn set(p: &mut Preprocessor, name: &str, value: &str, flavor: Flavor) {
        p.add_variable(name, value, flavor, LOC).unwrap();
    }

    #[test]
    fn plain_text_and_lone_dollars() {
        let mut p = pp();
        assert_eq!(exp(&mut p, "hello world"), "hello world");
        assert_eq!(exp(&mut p, "$"), "$");
        assert_eq!(exp(&mut p, "$$"), "$$");
        assert_eq!(exp(&mut p, "a$b${c}"), "a$b${c}");
        assert_eq!(exp(&mut p, "$()"), "");
        assert_eq!(exp(&mut p, "x$(UNDEFINED)y"), "xy");
    }

    #[test]
    fn simple_recursive_and_append() {
        let mut p = pp();
        set(&mut p, "X", "1", Flavor::Simple);
        set(&mut p, "SIMPLE", "$(X)", Flavor::Simple);
        set(&mut p, "RECURSIVE", "$(X)", Flavor::Recursive);
        set(&mut p, "X", "2", Flavor::Simple);
        assert_eq!(exp(&mut p, "$(SIMPLE)"), "1");
        assert_eq!(exp(&mut p, "$(RECURSIVE)"), "2");

        set(&mut p, "Y", "3", Flavor::Simple);
        set(&mut p, "SIMPLE", "$(Y)", Flavor::Append);
        set(&mut p, "RECURSIVE", "$(Y)", Flavor::Append);
        set(&mut p, "NEW", "$(Y)", Flavor::Append);
        set(&mut p, "Y", "4", Flavor::Simple);
        assert_eq!(exp(&mut p, "$(SIMPLE)"), "1 3");
        assert_eq!(exp(&mut p, "$(RECURSIVE)"), "2 4");
        // += on an undefined variable makes a recursive one.
        assert_eq!(exp(&mut p, "$(NEW)"), "4");

        // An empty append still adds the separating space.
        set(&mut p, "E", "", Flavor::Simple);
        set(&mut p, "E", "", Flavor::Append);
        assert_eq!(exp(&mut p, "[$(E)]"), "[ ]");

        // Names may be computed.
        set(&mut p, "A", "a", Flavor::Simple);
        let mut m = Messages::default();
        let name = p.expand_string("$(A)B", LOC, &mut m).unwrap();
        set(&mut p, &name, "5", Flavor::Simple);
        assert_eq!(exp(&mut p, "$(aB)"), "5");
    }

    #[test]
    fn simple_redefinition_sees_itself_empty() {
        let mut p = pp();
        set(&mut p, "W", "a", Flavor::Simple);
        set(&mut p, "W", "$(W)b", Flavor::Simple);
        assert_eq!(exp(&mut p, "$(W)"), "b");
        set(&mut p, "W", "$(W)c", Flavor::Append);
        assert_eq!(exp(&mut p, "$(W)"), "b bc");
        set(&mut p, "R", "a", Flavor::Recursive);
        set(&mut p, "R", "$(R)x", Flavor::Simple);
        assert_eq!(exp(&mut p, "$(R)"), "x");
    }

    #[test]
    fn user_functions_and_arguments() {
        let mut p = pp();
        set(
            &mut p,
            "greeting",
            "$(1), my name is $(2).",
            Flavor::Recursive,
        );
        assert_eq!(
            exp(&mut p, "$(greeting,Hello,John)"),
            "Hello, my name is John."
        );
        assert_eq!(exp(&mut p, "$(greeting,Hello)"), "Hello, my name is .");
        assert_eq!(
            exp(&mut p, "$(greeting,Hello,John,x,y)"),
            "Hello, my name is John."
        );
        // Whitespace is kept in arguments.
        assert_eq!(exp(&mut p, "$(greeting, a , b )"), " a , my name is  b .");
        // Parentheses protect commas.
        assert_eq!(exp(&mut p, "$(greeting,(a,b),c)"), "(a,b), my name is c.");
        // Argument references are read like strtoul.
        set(
            &mut p,
            "f",
            "[$( 1)][$(+1)][$(01)][$(1 )][$(1)][$(-1)][$(2)]",
            Flavor::Recursive,
        );
        assert_eq!(exp(&mut p, "$(f,a)"), "[a][a][a][][a][][]");
        // Outside a function, $(1) is an ordinary name.
        assert_eq!(exp(&mut p, "$(1)"), "");
        set(&mut p, "1", "one", Flavor::Simple);
        assert_eq!(exp(&mut p, "$(1)"), "one");
        // A simple variable ignores arguments.
        set(&mut p, "s", "$(1)", Flavor::Simple);
        assert_eq!(exp(&mut p, "$(s,x)"), "one");
        // Arguments are expanded in the caller's scope.
        set(&mut p, "outer", "$(inner,<$(1)>)", Flavor::Recursive);
        set(&mut p, "inner", "{$(1)}", Flavor::Recursive);
        assert_eq!(exp(&mut p, "$(outer,z)"), "{<z>}");
        // The name itself may be computed.
        set(&mut p, "which", "inner", Flavor::Simple);
        assert_eq!(exp(&mut p, "$($(which),q)"), "{q}");
    }

    #[test]
    fn escapes_from_kernel_docs() {
        let mut p = pp();
        set(&mut p, "comma", ",", Flavor::Simple);
        set(&mut p, "dollar", "$", Flavor::Simple);
        set(&mut p, "left_paren", "(", Flavor::Simple);
        set(&mut p, "$", "1", Flavor::Simple);
        assert_eq!(exp(&mut p, "hello$(comma) world"), "hello, world");
        assert_eq!(exp(&mut p, "$($)"), "1");
        assert_eq!(exp(&mut p, "$(dollar)(X)"), "$(X)");
        assert_eq!(exp(&mut p, "$(left_paren)"), "(");
        set(&mut p, "Y", "$(dollar)(X)", Flavor::Simple);
        assert_eq!(exp(&mut p, "$(Y)"), "$(X)");
        set(&mut p, "Y", "$(dollar)(X)", Flavor::Recursive);
        assert_eq!(exp(&mut p, "$(Y)"), "$(X)");
        set(&mut p, "unterminated", "$(dollar)(", Flavor::Simple);
        assert_eq!(exp(&mut p, "$(unterminated)"), "$(");
    }

    #[test]
    fn errors() {
        let mut p = pp();
        assert_eq!(
            exp_err(&mut p, "a $(foo,$(bar) b"),
            "Kconfig:7: unterminated reference to 'foo,$(bar) b': missing ')'"
        );
        set(&mut p, "X", "$(Y)", Flavor::Recursive);
        set(&mut p, "Y", "$(X)", Flavor::Recursive);
        assert_eq!(
            exp_err(&mut p, "$(info,$(X))"),
            "Kconfig:7: Recursive variable 'X' references itself (eventually)"
        );
        // After an error the variables are usable again.
        set(&mut p, "Y", "y", Flavor::Recursive);
        assert_eq!(exp(&mut p, "$(X)"), "y");

        set(&mut p, "f", "$(f,x)", Flavor::Recursive);
        assert_eq!(
            exp_err(&mut p, "$(f,a)"),
            "Kconfig:7: Too deep recursive expansion"
        );
        set(&mut p, "g", "$(g)", Flavor::Recursive);
        assert_eq!(
            exp_err(&mut p, "$(g,a)"),
            "Kconfig:7: Recursive variable 'g' references itself (eventually)"
        );

        let sixteen = format!("$(f{})", ",a".repeat(15));
        let seventeen = format!("$(f{})", ",a".repeat(16));
        set(&mut p, "f", "ok", Flavor::Recursive);
        assert_eq!(exp(&mut p, &sixteen), "ok");
        assert_eq!(
            exp_err(&mut p, &seventeen),
            "Kconfig:7: too many function arguments"
        );

        assert_eq!(
            exp_err(&mut p, "$(info)"),
            "Kconfig:7: too few function arguments passed to 'info'"
        );
        assert_eq!(
            exp_err(&mut p, "$(info,a,b)"),
            "Kconfig:7: too many function arguments passed to 'info'"
        );
        assert_eq!(
            exp_err(&mut p, "$(lineno,)"),
            "Kconfig:7: too many function arguments passed to 'lineno'"
        );
        assert_eq!(
            exp_err(&mut p, "$(warning-if,y)"),
            "Kconfig:7: too few function arguments passed to 'warning-if'"
        );
        assert_eq!(exp_err(&mut p, "$(error-if,y,boom)"), "Kconfig:7: boom");
        assert_eq!(exp(&mut p, "$(error-if,n,boom)$(error-if, y,boom)"), "");
    }

    #[test]
    fn argument_expansion_happens_before_arity_check() {
        let (mut p, calls) = pp_with(&[], &[("true", b"")]);
        assert!(exp_err(&mut p, "$(info,$(shell,true),x)").contains("too many"));
        assert_eq!(calls.borrow().as_slice(), ["true"]);
    }

    #[test]
    fn builtins_output() {
        let (mut p, calls) = pp_with(
            &[],
            &[
                ("echo hello world 3", b"hello world 3\n"),
                ("multi", b"hello\nworld\n\n4\n\n\n"),
                ("nul", b"a\0b\n"),
                ("nul-late", b"a\nb\n\n\0"),
            ],
        );
        let mut m = Messages::default();
        let out = p
            .expand_string(
                "$(info,hello world 0)$(warning-if,y,hello world 1)$(warning-if,n,no)",
                LOC,
                &mut m,
            )
            .unwrap();
        assert_eq!(out, "");
        assert_eq!(
            m.take(),
            vec![
                (crate::diag::Stream::Stdout, "hello world 0".to_string()),
                (
                    crate::diag::Stream::Stderr,
                    "Kconfig:7: hello world 1".to_string()
                ),
            ]
        );
        assert_eq!(exp(&mut p, "$(shell,echo hello world 3)"), "hello world 3");
        assert_eq!(exp(&mut p, "$(shell,multi)"), "hello world  4");
        assert_eq!(exp(&mut p, "$(shell,nul)"), "a");
        assert_eq!(exp(&mut p, "$(shell,nul-late)"), "a b  ");
        assert_eq!(exp(&mut p, "$(shell, multi)"), "");
        assert_eq!(calls.borrow().last().map(String::as_str), Some(" multi"));
        assert_eq!(exp(&mut p, "$(filename):$(lineno)"), "Kconfig:7");
        // A variable shadows a built-in of the same name.
        set(&mut p, "info", "shadow", Flavor::Recursive);
        assert_eq!(exp(&mut p, "$(info,hi)"), "shadow");
    }

    #[test]
    fn shell_output_limits() {
        assert_eq!(shell_output_value(&[b'y'; 5000]).len(), 4095);
        assert_eq!(shell_output_value(&[b'y'; 4096]).len(), 4095);
        assert_eq!(shell_output_value(&[b'y'; 4095]).len(), 4095);
        let mut raw = vec![b'y'; 4095];
        raw.push(b'\n');
        assert_eq!(shell_output_value(&raw).len(), 4095);
        let mut raw = vec![b'y'; 4094];
        raw.push(b'\n');
        raw.push(b'\n');
        assert_eq!(shell_output_value(&raw).len(), 4094);
        assert_eq!(shell_output_value(b"\n\n"), "");
        assert_eq!(shell_output_value(b"a\r\nb\n"), "a\r b");
    }

    #[test]
    fn environment() {
        let (mut p, _) = pp_with(&[("HOME", "/h"), ("CC", "gcc"), ("EMPTY", "")], &[]);
        assert_eq!(
            exp(&mut p, "$(CC) $(HOME) $(CC) [$(EMPTY)] $(NOPE)"),
            "gcc /h gcc [] "
        );
        // With arguments the environment is not consulted.
        assert_eq!(exp(&mut p, "$(CC,x)"), "");
        // A variable takes precedence and is not recorded.
        set(&mut p, "ARCH", "x86", Flavor::Simple);
        assert_eq!(exp(&mut p, "$(ARCH)"), "x86");
        assert_eq!(
            p.env_used(),
            vec![
                ("CC".to_string(), "gcc".to_string()),
                ("HOME".to_string(), "/h".to_string()),
                ("EMPTY".to_string(), String::new()),
            ]
        );
        let mut s = String::new();
        p.write_env_dep(&mut s);
        assert_eq!(
            s,
            "\nifneq \"$(CC)\" \"gcc\"\n$(autoconfig): FORCE\nendif\n\
             \nifneq \"$(HOME)\" \"/h\"\n$(autoconfig): FORCE\nendif\n\
             \nifneq \"$(EMPTY)\" \"\"\n$(autoconfig): FORCE\nendif\n"
        );
        let mut s = String::new();
        p.write_env_dep_v61(&mut s, "include/config/auto.conf");
        assert!(
            s.starts_with("ifneq \"$(CC)\" \"gcc\"\ninclude/config/auto.conf: FORCE\nendif\nifneq")
        );
    }

    #[test]
    fn environment_value_is_remembered() {
        let counter = Rc::new(RefCell::new(0));
        let c = counter.clone();
        let mut p = Preprocessor::new(
            Box::new(move |_| {
                *c.borrow_mut() += 1;
                Some(format!("v{}", c.borrow()))
            }),
            Box::new(DirectShell),
        );
        assert_eq!(exp(&mut p, "$(A)$(A)$(B)"), "v1v1v2");
        assert_eq!(*counter.borrow(), 2);
    }

    #[test]
    fn one_token() {
        let mut p = pp();
        set(&mut p, "X", "a b", Flavor::Simple);
        let mut m = Messages::default();
        assert_eq!(
            p.expand_one_token("foo$(X)-bar baz", LOC, &mut m).unwrap(),
            ("fooa b-bar".to_string(), 11)
        );
        assert_eq!(
            p.expand_one_token("$(info, x y)rest\"q", LOC, &mut m)
                .unwrap(),
            ("rest".to_string(), 16)
        );
        assert_eq!(
            p.expand_one_token("$X=y", LOC, &mut m).unwrap(),
            ("$X".to_string(), 2)
        );
        assert_eq!(
            p.expand_one_token("ab$", LOC, &mut m).unwrap(),
            ("ab$".to_string(), 3)
        );
        assert_eq!(
            p.expand_one_token("a$(X)é", LOC, &mut m).unwrap(),
            ("aa b".to_string(), 5)
        );
        assert_eq!(
            p.expand_one_token("a\0b", LOC, &mut m).unwrap(),
            ("a".to_string(), 1)
        );
        assert_eq!(
            p.expand_one_token("$(X", LOC, &mut m).unwrap_err().0,
            "Kconfig:7: unterminated reference to 'X': missing ')'"
        );
    }

    #[test]
    fn dollar_in_strings() {
        let mut p = pp();
        set(&mut p, "X", "val", Flavor::Simple);
        let mut m = Messages::default();
        assert_eq!(
            p.expand_dollar("(X)\" rest", LOC, &mut m).unwrap(),
            ("val".to_string(), 3)
        );
        assert_eq!(
            p.expand_dollar("X)\"", LOC, &mut m).unwrap(),
            ("$".to_string(), 0)
        );
        assert_eq!(
            p.expand_dollar("", LOC, &mut m).unwrap(),
            ("$".to_string(), 0)
        );
        assert_eq!(
            p.expand_dollar("(foo\"", LOC, &mut m).unwrap_err().0,
            "Kconfig:7: unterminated reference to 'foo\"': missing ')'"
        );
    }

    #[test]
    fn assignment_messages_and_errors() {
        let mut p = pp();
        p.add_variable("V", "$(info,hi)$(warning-if,y,w)x", Flavor::Simple, LOC)
            .unwrap();
        assert_eq!(exp(&mut p, "$(V)"), "x");
        assert_eq!(p.take_pending_messages().lines.len(), 2);
        let mut m = Messages::default();
        let e = p
            .add_variable_with("V", "$(error-if,y,bad)", Flavor::Simple, LOC, &mut m)
            .unwrap_err();
        assert_eq!(e.0, "Kconfig:7: bad");
        assert_eq!(exp(&mut p, "$(V)"), "x");
    }

    #[test]
    fn nul_truncates() {
        let mut p = pp();
        set(&mut p, "N\0ignored", "v\0w", Flavor::Simple);
        assert_eq!(exp(&mut p, "$(N)\0$(N)"), "v");
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let mut p = pp();
        let depth = 4000;
        let s = format!("{}{}", "$(".repeat(depth), ")".repeat(depth));
        assert_eq!(exp(&mut p, &s), "");
        // Long mutual recursion through arguments hits the kernel's limit.
        set(&mut p, "a", "$(b,$(1))", Flavor::Recursive);
        set(&mut p, "b", "$(a,$(1))", Flavor::Recursive);
        assert_eq!(
            exp_err(&mut p, "$(a,x)"),
            "Kconfig:7: Too deep recursive expansion"
        );
    }

    #[test]
    fn exponential_growth_is_capped() {
        let mut p = pp();
        p.set_expansion_limit(1 << 20);
        set(&mut p, "v0", &"x".repeat(1024), Flavor::Simple);
        let mut failed = false;
        for i in 1..40 {
            let mut m = Messages::default();
            let value = format!("$(v{})$(v{})", i - 1, i - 1);
            if p.add_variable_with(&format!("v{i}"), &value, Flavor::Recursive, LOC, &mut m)
                .is_err()
            {
                failed = true;
                break;
            }
        }
        assert!(!failed);
        assert!(exp_err(&mut p, "$(v30)").contains("too long"));
    }

    #[test]
    fn arbitrary_input_never_panics() {
        // A small deterministic generator over an alphabet rich in syntax.
        let alphabet: Vec<char> = "$(),1 2ab-_\"'\n\0é\\".chars().collect();
        let mut seed: u64 = 0x1234_5678_9abc_def0;
        let mut p = pp();
        set(&mut p, "a", "$(1)$(b,$(2))", Flavor::Recursive);
        set(&mut p, "b", "($(1))", Flavor::Recursive);
        for _ in 0..3000 {
            let mut s = String::new();
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 40) as usize;
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                s.push(alphabet[(seed % alphabet.len() as u64) as usize]);
            }
            let mut m = Messages::default();
            if let Ok((_, n)) = p.expand_one_token(&s, LOC, &mut m) {
                assert!(s.is_char_boundary(n));
            }
            if let Ok((_, n)) = p.expand_dollar(&s, LOC, &mut m) {
                assert!(s.is_char_boundary(n));
            }
            let _ = p.expand_string(&s, LOC, &mut m);
            let _ = p.add_variable_with(&s, &s, Flavor::Simple, LOC, &mut m);
            let _ = p.add_variable_with("a", &s, Flavor::Append, LOC, &mut m);
        }
    }

    #[test]
    fn direct_shell_runs_sh() {
        assert_eq!(DirectShell.run("printf 'x\\ny\\n'"), b"x\ny\n");
        // Output beyond the kernel's buffer is not read; the writer stops.
        let out = DirectShell.run("yes");
        assert_eq!(out.len(), SHELL_READ_LIMIT);
        let env = vec![("KF_T".to_string(), "v".to_string())];
        assert_eq!(
            run_shell_command("printf %s \"$KF_T\"; pwd", Some(&env), Some(Path::new("/"))),
            b"v/\n"
        );
    }
}
