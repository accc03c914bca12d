//! The `declaration` harness: one input is a set of declaration files. The
//! input is split at lines holding only `%%` into `kernel.toml` and up to
//! three files it may include (`a.toml`, `b.toml`, `c.toml`); the loader
//! reads, checks and merges them, and an error is rendered as the CLI
//! renders it (source snippet included). The same bytes are also parsed as
//! a lock file. Errors are fine, panics are bugs.

use std::path::Path;

use kforge_declaration::edit::{apply_edits, Edit};
use kforge_declaration::{Lock, RequestValue, Spec};

/// The names the parts of one input are written to, in order.
const FILES: [&str; 4] = ["kernel.toml", "a.toml", "b.toml", "c.toml"];

/// Run one input; `dir` is a scratch directory.
pub fn run_one(data: &[u8], dir: &Path) {
    let parts = split(data);
    for (i, name) in FILES.iter().enumerate() {
        let path = dir.join(name);
        match parts.get(i) {
            Some(bytes) => {
                if std::fs::write(&path, bytes).is_err() {
                    return;
                }
            }
            None => {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    let main = dir.join(FILES[0]);
    match Spec::load(&main) {
        Ok(spec) => {
            // What `kforge config` does next with a loaded declaration,
            // short of a tree: the requests of some versions.
            for v in ["6.1.0", "6.12.9", "7.0"] {
                if let Ok(v) = v.parse() {
                    let _ = spec.requests_for(&v).count();
                }
            }
            // What `kforge shell` does when it writes a change back.
            let edits = [Edit {
                symbol: "FUZZ_EDIT".to_string(),
                value: RequestValue::Text("y".to_string()),
                force: true,
            }];
            let text = String::from_utf8_lossy(parts[0]);
            let _ = apply_edits(&main, &text, &edits);
        }
        Err(e) => {
            let _ = kforge_diagnostics::errors::error(&kforge_pipeline::Error::Declaration(e));
        }
    }
    let text = String::from_utf8_lossy(parts[0]);
    if let Err(e) = Lock::parse(&main, &text) {
        let _ = kforge_diagnostics::errors::error(&kforge_pipeline::Error::Declaration(e));
    }
}

/// The input cut at `\n%%\n` into at most [`FILES`]`.len()` parts.
fn split(data: &[u8]) -> Vec<&[u8]> {
    let sep = b"\n%%\n";
    let mut parts = Vec::new();
    let mut rest = data;
    while parts.len() + 1 < FILES.len() {
        match rest.windows(sep.len()).position(|w| w == sep) {
            Some(i) => {
                parts.push(&rest[..i + 1]);
                rest = &rest[i + sep.len()..];
            }
            None => break,
        }
    }
    parts.push(rest);
    parts
}
