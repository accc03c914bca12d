//! [`run_post_patch`]: the declaration's `[build] post_patch` snippet.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::SourceError;

/// The `PATH` a `post_patch` snippet sees.
pub const POST_PATCH_PATH: &str = "/usr/bin:/bin";

/// Run `script` with `/bin/sh -c` in `tree`.
///
/// The environment is clean, so the result depends on the text and the
/// tree, not on who runs it: only `PATH=/usr/bin:/bin`,
/// `HOME=/nonexistent`, `LC_ALL=C`, `TZ=UTC` and `KFORGE_SRCTREE` (the
/// tree's absolute path) are set, and standard input is empty. A non-zero
/// exit (or a signal) is [`SourceError::PostPatch`], with the exit code and
/// everything the snippet printed on standard output and error,
/// interleaved as it was printed.
pub fn run_post_patch(tree: &Path, script: &str) -> Result<(), SourceError> {
    let tree_abs = std::path::absolute(tree).unwrap_or_else(|_| tree.to_path_buf());
    let spawn_err = |source| SourceError::PostPatchSpawn {
        tree: tree.to_path_buf(),
        source,
    };
    let (mut reader, writer) = std::io::pipe().map_err(spawn_err)?;
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(script)
        .current_dir(&tree_abs)
        .env_clear()
        .env("PATH", POST_PATCH_PATH)
        .env("HOME", "/nonexistent")
        .env("LC_ALL", "C")
        .env("TZ", "UTC")
        .env("KFORGE_SRCTREE", &tree_abs)
        .stdin(Stdio::null())
        .stdout(writer.try_clone().map_err(spawn_err)?)
        .stderr(writer);
    let mut child = cmd.spawn().map_err(spawn_err)?;
    // Close our copies of the pipe's write end so the read below ends when
    // the snippet (and whatever it left running) is done.
    drop(cmd);
    let mut out = Vec::new();
    let _ = reader.read_to_end(&mut out);
    let status = child.wait().map_err(spawn_err)?;
    if status.success() {
        return Ok(());
    }
    let described = match status.code() {
        Some(c) => format!("exit code {c}"),
        None => {
            use std::os::unix::process::ExitStatusExt;
            match status.signal() {
                Some(s) => format!("killed by signal {s}"),
                None => status.to_string(),
            }
        }
    };
    Err(SourceError::PostPatch {
        tree: tree.to_path_buf(),
        status: described,
        code: status.code(),
        output: String::from_utf8_lossy(&out).into_owned(),
    })
}
