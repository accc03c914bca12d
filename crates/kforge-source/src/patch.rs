//! [`apply_patches`]: patches applied in order with GNU `patch`.

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::{compress, SourceError};

/// A patch file to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchFile {
    /// The name from the declaration, for messages.
    pub name: String,
    /// The local file: plain, or compressed with gzip, xz, bzip2 or zstd
    /// (recognised by content).
    pub path: PathBuf,
    /// The `patch -p` level.
    pub strip: u32,
}

/// Apply `patches` to `tree`, in order, with the system's GNU `patch`
/// (`patch -p<strip> --batch --forward -d <tree>`, in the C locale, no
/// backup or reject files), decompressing each first.
///
/// Each patch is tried with `--dry-run` before it is applied, so a patch
/// that does not apply changes nothing: the error
/// ([`SourceError::PatchFailed`]) names the patch, each file and hunk that
/// failed (`drivers/x.c: hunk #2 FAILED at 120`) and shows `patch`'s
/// output. The patches before it in the list stay applied. A patch that
/// was already applied (or is reversed) fails too.
pub fn apply_patches(tree: &Path, patches: &[PatchFile]) -> Result<(), SourceError> {
    for p in patches {
        let text = read_patch(p)?;
        let dry = run_patch(tree, p, &text, true)?;
        if !dry.0 {
            return Err(failed(tree, p, dry.1, true));
        }
        let real = run_patch(tree, p, &text, false)?;
        if !real.0 {
            return Err(failed(tree, p, real.1, false));
        }
    }
    Ok(())
}

/// The patch's text, decompressed.
fn read_patch(p: &PatchFile) -> Result<Vec<u8>, SourceError> {
    let file = File::open(&p.path).map_err(SourceError::io(&p.path, "read the patch"))?;
    let mut out = Vec::new();
    compress::decompressed(BufReader::new(file))
        .and_then(|mut r| r.read_to_end(&mut out))
        .map_err(|e| SourceError::PatchDecompress {
            name: p.name.clone(),
            path: p.path.clone(),
            reason: e.to_string(),
        })?;
    Ok(out)
}

/// Run `patch` on `text`: (success, everything it printed).
fn run_patch(
    tree: &Path,
    p: &PatchFile,
    text: &[u8],
    dry_run: bool,
) -> Result<(bool, String), SourceError> {
    let tool_err = |source| SourceError::PatchTool {
        name: p.name.clone(),
        source,
    };
    let (reader, writer) = std::io::pipe().map_err(tool_err)?;
    let mut cmd = Command::new("patch");
    cmd.env_clear()
        .env("LC_ALL", "C")
        .arg(format!("-p{}", p.strip))
        .args([
            "--batch",
            "--forward",
            "--no-backup-if-mismatch",
            "--reject-file=-",
            "--quoting-style=literal",
        ])
        .arg("-d")
        .arg(tree)
        .stdin(Stdio::piped())
        .stdout(writer.try_clone().map_err(tool_err)?)
        .stderr(writer);
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    if dry_run {
        cmd.arg("--dry-run");
    }
    let mut child = cmd.spawn().map_err(tool_err)?;
    // The command holds the pipe's write ends: without dropping it, reading
    // the output would never end.
    drop(cmd);
    let mut stdin = child.stdin.take();
    let output = std::thread::scope(|s| {
        s.spawn(move || {
            if let Some(stdin) = stdin.as_mut() {
                // A patch that stops reading early is reported by its status.
                let _ = stdin.write_all(text);
            }
            drop(stdin);
        });
        let mut out = Vec::new();
        let mut reader = reader;
        let _ = reader.read_to_end(&mut out);
        out
    });
    let status = child.wait().map_err(tool_err)?;
    Ok((
        status.success(),
        String::from_utf8_lossy(&output).into_owned(),
    ))
}

fn failed(tree: &Path, p: &PatchFile, output: String, unchanged: bool) -> SourceError {
    let mut failures = problems(&output, p.strip);
    if failures.is_empty() {
        failures.push("patch failed (see its output below)".into());
    }
    SourceError::PatchFailed {
        name: p.name.clone(),
        path: p.path.clone(),
        tree: tree.to_path_buf(),
        failures,
        output,
        unchanged,
    }
}

/// The problems GNU patch reports in `output`, one line each, with the file
/// they are about: `drivers/x.c: hunk #2 FAILED at 120`.
pub(crate) fn problems(output: &str, strip: u32) -> Vec<String> {
    let mut out = Vec::new();
    let mut file: Option<String> = None;
    // Inside a "can't find file to patch" report: the file its quoted diff
    // headers name, once seen.
    let mut missing: Option<Option<String>> = None;
    for line in output.lines() {
        if let Some(report) = missing.as_mut() {
            if let Some(quoted) = line.strip_prefix('|') {
                let header = quoted
                    .strip_prefix("+++ ")
                    .or_else(|| quoted.strip_prefix("--- "));
                if let Some(f) = header {
                    let f = f.split('\t').next().unwrap_or(f).trim();
                    if f != "/dev/null" && (quoted.starts_with("+++") || report.is_none()) {
                        *report = Some(f.to_owned());
                    }
                }
            } else if line.starts_with("No file to patch.") {
                let f = missing.take().flatten();
                out.push(format!(
                    "{}: no such file in the tree with -p{strip} (check the patch's `strip` level)",
                    f.as_deref().map_or("?".into(), |f| strip_path(f, strip))
                ));
            }
            continue;
        }
        let current = || file.clone().unwrap_or_else(|| "?".into());
        if let Some(f) = line
            .strip_prefix("patching file ")
            .or_else(|| line.strip_prefix("checking file "))
        {
            file = Some(unquote(f));
        } else if let Some(rest) = line.strip_prefix("Hunk #") {
            if let Some((n, after)) = rest.split_once(' ') {
                if let Some(at) = after.strip_prefix("FAILED") {
                    let at = at.trim().trim_end_matches('.');
                    let sep = if at.is_empty() { "" } else { " " };
                    out.push(format!("{}: hunk #{n} FAILED{sep}{at}", current()));
                }
            }
        } else if line.starts_with("Reversed (or previously applied) patch detected!") {
            out.push(format!("{}: already applied (or reversed)", current()));
        } else if line.starts_with("can't find file to patch") {
            missing = Some(None);
        } else if let Some(msg) = line.strip_prefix("patch: **** ") {
            out.push(msg.to_owned());
        } else if let Some(msg) = line.strip_prefix("The next patch would ") {
            let msg = msg.split("  Skipping patch.").next().unwrap_or(msg);
            out.push(format!("the patch would {msg}"));
        } else if line.contains("-- refusing to patch") {
            out.push(line.to_owned());
        }
    }
    out
}

/// `f` without its first `strip` components, as `patch -p` reads it.
fn strip_path(f: &str, strip: u32) -> String {
    let mut rest = f;
    for _ in 0..strip {
        match rest.split_once('/') {
            Some((_, r)) => rest = r.trim_start_matches('/'),
            None => return f.to_owned(),
        }
    }
    rest.to_owned()
}

/// A file name as `patch` prints it, without quotes.
fn unquote(f: &str) -> String {
    let f = f.trim();
    f.strip_prefix('\'')
        .and_then(|f| f.strip_suffix('\''))
        .unwrap_or(f)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hunk_failures() {
        let out = "checking file Makefile\nchecking file init/main.c\nHunk #2 FAILED at 120.\nHunk #3 FAILED at 130 (different line endings).\n1 out of 3 hunks FAILED\n";
        assert_eq!(
            problems(out, 1),
            [
                "init/main.c: hunk #2 FAILED at 120",
                "init/main.c: hunk #3 FAILED at 130 (different line endings)"
            ]
        );
    }

    #[test]
    fn missing_file() {
        let out = "can't find file to patch at input line 3\nPerhaps you used the wrong -p or --strip option?\nThe text leading up to this was:\n--------------------------\n|--- a/a/x.c\t2024-01-01\n|+++ b/a/x.c\t2024-01-01\n--------------------------\nNo file to patch.  Skipping patch.\n1 out of 1 hunk ignored\n";
        assert_eq!(
            problems(out, 1),
            ["a/x.c: no such file in the tree with -p1 (check the patch's `strip` level)"]
        );
    }

    #[test]
    fn reversed_and_garbage() {
        let out = "checking file x\nReversed (or previously applied) patch detected!  Skipping patch.\n1 out of 1 hunk ignored\n";
        assert_eq!(problems(out, 1), ["x: already applied (or reversed)"]);
        let out = "patch: **** Only garbage was found in the patch input.\n";
        assert_eq!(
            problems(out, 1),
            ["Only garbage was found in the patch input."]
        );
    }
}
