//! The `make` driver: command lines, the environment, output lines.
//!
//! Every build runs
//!
//! ```text
//! make -C <tree> O=<builddir> ARCH=<arch> [CROSS_COMPILE=..] [LLVM=..] [CC="<launcher> <cc>"] -j<N> [-k] <flags> <targets>
//! ```
//!
//! in an environment made from scratch: `PATH`, `HOME` and `TMPDIR` from
//! the caller, `LC_ALL=C` (compiler messages, and so the log and the error
//! lines picked from it, read the same in any locale), and the
//! reproducibility settings of [`reproducible_env`]. Nothing else of the
//! caller's shell (`CFLAGS`, `KBUILD_*`, `ARCH`, ...) reaches make.
//!
//! Standard output and standard error are read together, line by line:
//! every line goes to the log, and to a callback that shows progress from
//! kbuild's short lines (`  CC      kernel/fork.o`, see [`quiet_line`]).

use std::borrow::Cow;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

/// `KBUILD_BUILD_TIMESTAMP` of every build: the Unix epoch, as `date`
/// prints it. A fixed date (rather than, say, the source Makefile's
/// modification time) keeps a build of an unpacked tarball, a git checkout
/// and a copy of either identical.
pub const FIXED_TIMESTAMP: &str = "Thu Jan  1 00:00:00 UTC 1970";

/// The fixed strings kbuild writes into the kernel instead of the date,
/// the user's name, the host name and a build counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReproSettings {
    pub timestamp: String,
    pub user: String,
    pub host: String,
    pub version: String,
}

impl Default for ReproSettings {
    fn default() -> Self {
        ReproSettings {
            timestamp: FIXED_TIMESTAMP.into(),
            user: "kforge".into(),
            host: "kforge".into(),
            version: "1".into(),
        }
    }
}

/// The reproducibility variables for a build of `tree` in `objdir`:
/// `KBUILD_BUILD_TIMESTAMP`, `_USER`, `_HOST`, `_VERSION`, and `KCPPFLAGS`
/// with `-ffile-prefix-map=<tree>/=` (the mapping the kernel already
/// applies to `__FILE__` with `-fmacro-prefix-map`, in 6.1 and 6.12,
/// extended to debug information) and `-ffile-prefix-map=<objdir>=.` (the
/// compilation directory of every object), so the paths of the tree and of
/// the build directory do not end up in the objects. `KCPPFLAGS` reaches
/// every C and assembler compile, the vDSOs too, whose Makefiles rebuild
/// `KBUILD_CFLAGS` from a filtered list (MIPS's drops `KCFLAGS`), and it
/// leaves `KCFLAGS` and `KAFLAGS` to the declaration's `make_flags`.
pub fn reproducible_env(r: &ReproSettings, tree: &Path, objdir: &Path) -> Vec<(String, String)> {
    let maps = format!(
        "-ffile-prefix-map={}/= -ffile-prefix-map={}=.",
        tree.display(),
        objdir.display()
    );
    vec![
        ("KBUILD_BUILD_TIMESTAMP".into(), r.timestamp.clone()),
        ("KBUILD_BUILD_USER".into(), r.user.clone()),
        ("KBUILD_BUILD_HOST".into(), r.host.clone()),
        ("KBUILD_BUILD_VERSION".into(), r.version.clone()),
        ("KCPPFLAGS".into(), maps),
    ]
}

/// A make invocation's settings.
#[derive(Debug, Clone)]
pub struct Make {
    /// `make`, or a path to it.
    pub program: String,
    pub tree: PathBuf,
    pub objdir: PathBuf,
    pub arch: String,
    pub cross_compile: Option<String>,
    /// `LLVM=` (`1`, `-SUFFIX`, `PREFIX/`).
    pub llvm: Option<String>,
    /// `CC=` on the command line, for a compiler launcher (`ccache gcc`).
    pub cc: Option<String>,
    pub jobs: usize,
    /// `-k`.
    pub keep_going: bool,
    /// Further make arguments (`VAR=value` or options), from the declaration.
    pub flags: Vec<String>,
    /// The complete environment.
    pub env: Vec<(String, String)>,
}

/// Why make did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum MakeError {
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("`make {targets}` failed ({status})")]
    Failed { targets: String, status: ExitStatus },
    #[error("writing the build log: {0}")]
    Log(std::io::Error),
}

/// Quote a word for a shell, when it needs it: as shlex quotes it, except
/// that `=`, `%` and `,` stay unquoted (they are not special in an
/// argument, and `O=/obj` reads better than `'O=/obj'`). For display
/// only: a word with a NUL (which no command line can carry) is shown as is.
pub fn sh_quote(s: &str) -> Cow<'_, str> {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=+:,@%".contains(c))
    {
        return Cow::Borrowed(s);
    }
    shlex::try_quote(s).unwrap_or(Cow::Borrowed(s))
}

impl Make {
    /// make's arguments for `targets`.
    pub fn args(&self, targets: &[String]) -> Vec<String> {
        let mut a = vec![
            "-C".to_string(),
            self.tree.display().to_string(),
            format!("O={}", self.objdir.display()),
            format!("ARCH={}", self.arch),
        ];
        if let Some(c) = self.cross_compile.as_deref().filter(|c| !c.is_empty()) {
            a.push(format!("CROSS_COMPILE={c}"));
        }
        if let Some(l) = self.llvm.as_deref().filter(|l| !l.is_empty()) {
            a.push(format!("LLVM={l}"));
        }
        if let Some(cc) = &self.cc {
            a.push(format!("CC={cc}"));
        }
        a.push(format!("-j{}", self.jobs.max(1)));
        if self.keep_going {
            a.push("-k".into());
        }
        a.extend(self.flags.iter().cloned());
        a.extend(targets.iter().cloned());
        a
    }

    /// The command line as a shell would take it, environment included
    /// (for the log and `--dry-run`).
    pub fn display(&self, targets: &[String]) -> String {
        let mut s = String::from("env -i");
        for (k, v) in &self.env {
            s.push(' ');
            s.push_str(&sh_quote(&format!("{k}={v}")));
        }
        s.push(' ');
        s.push_str(&sh_quote(&self.program));
        for a in self.args(targets) {
            s.push(' ');
            s.push_str(&sh_quote(&a));
        }
        s
    }

    fn command(&self, targets: &[String]) -> Command {
        let mut c = Command::new(&self.program);
        c.args(self.args(targets))
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.objdir);
        c
    }

    /// Run make silently (`-s`) and return its standard output (for
    /// `image_name`, `kernelrelease`).
    pub fn capture(&self, targets: &[String], stdin: Stdio) -> Result<String, MakeError> {
        let mut t = vec!["-s".to_string()];
        t.extend(targets.iter().cloned());
        let out = self
            .command(&t)
            .stdin(stdin)
            .stderr(Stdio::piped())
            .output()
            .map_err(|source| MakeError::Spawn {
                program: self.program.clone(),
                source,
            })?;
        if !out.status.success() {
            return Err(MakeError::Failed {
                targets: format!(
                    "{} ({})",
                    targets.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
                status: out.status,
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Run make for `targets`: its command line and every line it prints go
    /// to `log`, and each line to `on_line` as it comes. `stdin`: what make
    /// and its jobs inherit as standard input (the build directory's lock).
    pub fn run(
        &self,
        targets: &[String],
        stdin: Stdio,
        log: &mut dyn Write,
        on_line: &mut dyn FnMut(&str),
    ) -> Result<(), MakeError> {
        writeln!(log, "$ {}", self.display(targets)).map_err(MakeError::Log)?;
        let (reader, writer) = std::io::pipe().map_err(|source| MakeError::Spawn {
            program: self.program.clone(),
            source,
        })?;
        let spawn_err = |source| MakeError::Spawn {
            program: self.program.clone(),
            source,
        };
        let mut cmd = self.command(targets);
        cmd.stdin(stdin)
            .stdout(writer.try_clone().map_err(spawn_err)?)
            .stderr(writer);
        let mut child = cmd.spawn().map_err(spawn_err)?;
        // The command holds the pipe's write ends: drop them so the reader
        // sees the end when make and its jobs are done.
        drop(cmd);
        let mut r = BufReader::new(reader);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match r.read_until(b'\n', &mut buf) {
                Ok(0) => break,
                Ok(_) => {
                    log.write_all(&buf).map_err(MakeError::Log)?;
                    let line = String::from_utf8_lossy(&buf);
                    on_line(line.trim_end_matches(['\n', '\r']));
                }
                Err(e) => return Err(MakeError::Log(e)),
            }
        }
        let status = child.wait().map_err(spawn_err)?;
        log.flush().map_err(MakeError::Log)?;
        if status.success() {
            Ok(())
        } else {
            writeln!(log, "kforge: make exited with {status}").map_err(MakeError::Log)?;
            Err(MakeError::Failed {
                targets: targets.join(" "),
                status,
            })
        }
    }
}

/// A kbuild short line (`  CC      kernel/fork.o`, `  CC [M]  drivers/net/dummy.o`,
/// `  LD      vmlinux`): the command tag and what it makes.
pub fn quiet_line(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix("  ")?;
    let tag_end = rest.find(' ')?;
    let tag = &rest[..tag_end];
    if tag.is_empty()
        || !tag
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' || c == '-')
        || !tag.chars().next().is_some_and(|c| c.is_ascii_uppercase())
    {
        return None;
    }
    let mut what = rest[tag_end..].trim_start();
    if let Some(w) = what.strip_prefix("[M]") {
        what = w.trim_start();
    }
    (!what.is_empty()).then_some((tag, what))
}

fn is_error_line(line: &str) -> bool {
    // file:line:col: error: ...   file:line: error: ...   ...: fatal error: ...
    for pat in [": error: ", ": fatal error: "] {
        if let Some(i) = line.find(pat) {
            let mut parts = line[..i].rsplitn(3, ':');
            let last = parts.next().unwrap_or_default();
            if !last.is_empty() && last.chars().all(|c| c.is_ascii_digit()) {
                return true;
            }
        }
    }
    line.contains("undefined reference to ")
        || (line.contains("ld: ") && line.contains("error"))
        || line.starts_with("ERROR: modpost: ")
}

/// The first compiler and linker error lines of a log (at most `max`), and
/// make's own `***` lines.
pub fn first_errors(log: &str, max: usize) -> (Vec<String>, Vec<String>) {
    let mut errors: Vec<String> = Vec::new();
    let mut make_lines: Vec<String> = Vec::new();
    for l in log.lines() {
        if is_error_line(l) {
            if errors.len() < max && !errors.iter().any(|e| e == l) {
                errors.push(l.to_string());
            }
        } else if l.contains("*** ") && make_lines.len() < max {
            make_lines.push(l.to_string());
        }
    }
    (errors, make_lines)
}

/// The base of a make environment: `PATH`, `HOME` and `TMPDIR` from `from`
/// (the caller's), and `LC_ALL=C`.
pub fn clean_env(from: impl IntoIterator<Item = (OsString, OsString)>) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = from
        .into_iter()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, _)| matches!(k.as_str(), "PATH" | "HOME" | "TMPDIR"))
        .collect();
    env.sort();
    env.push(("LC_ALL".into(), "C".into()));
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_lines() {
        assert_eq!(
            quiet_line("  CC      kernel/fork.o"),
            Some(("CC", "kernel/fork.o"))
        );
        assert_eq!(
            quiet_line("  CC [M]  drivers/net/dummy.o"),
            Some(("CC", "drivers/net/dummy.o"))
        );
        assert_eq!(
            quiet_line("  HOSTCC  scripts/basic/fixdep"),
            Some(("HOSTCC", "scripts/basic/fixdep"))
        );
        assert_eq!(
            quiet_line("Kernel: arch/x86/boot/bzImage is ready  (#1)"),
            None
        );
        assert_eq!(quiet_line("  | ^~~~"), None);
        assert_eq!(quiet_line("make[1]: Entering directory '/x'"), None);
    }

    #[test]
    fn error_lines() {
        let log = "  CC      foo.o\nfoo.c:3:5: error: boom\nfoo.c: In function 'f':\nbar.h:10: error: old style\n\
                   make[2]: *** [scripts/Makefile.build:250: foo.o] Error 1\nfoo.c:3:5: error: boom\n\
                   x.c:1:2: warning: meh\nld: vmlinux.o: in function `f': undefined reference to `g'\n";
        let (e, m) = first_errors(log, 10);
        assert_eq!(
            e,
            vec![
                "foo.c:3:5: error: boom",
                "bar.h:10: error: old style",
                "ld: vmlinux.o: in function `f': undefined reference to `g'"
            ]
        );
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn command_line() {
        let m = Make {
            program: "make".into(),
            tree: "/src".into(),
            objdir: "/obj".into(),
            arch: "arm64".into(),
            cross_compile: Some("aarch64-linux-gnu-".into()),
            llvm: None,
            cc: Some("ccache aarch64-linux-gnu-gcc".into()),
            jobs: 4,
            keep_going: true,
            flags: vec!["W=1".into()],
            env: vec![("PATH".into(), "/bin".into())],
        };
        assert_eq!(
            m.display(&["Image".into()]),
            "env -i PATH=/bin make -C /src O=/obj ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- \
             'CC=ccache aarch64-linux-gnu-gcc' -j4 -k W=1 Image"
        );
    }

    #[test]
    fn quoting() {
        assert_eq!(sh_quote("O=/obj"), "O=/obj");
        assert_eq!(sh_quote(""), "''");
        assert_eq!(sh_quote("a b"), "'a b'");
        assert_eq!(sh_quote("$HOME"), "'$HOME'");
        // Whatever the form, a shell reads back the word.
        for w in ["it's", "a\\b", "x\"y", "*", "#c", "~"] {
            assert_eq!(shlex::split(&sh_quote(w)), Some(vec![w.to_string()]), "{w}");
        }
    }
}
