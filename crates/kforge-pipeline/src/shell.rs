//! The configuration shell (`kforge shell`): a build directory holding the
//! declaration's resolved `.config`, the environment make needs to use it
//! from the prepared source tree, and, when the shell ends, the change of
//! that `.config` as requests against the declaration.

use std::path::{Path, PathBuf};

use kforge_declaration::edit::Edit;
use kforge_declaration::{Base, Layer, Priority, Spec};
use kforge_store::Store;

use crate::error::{io, Error};
use crate::import::{Options, Target};
use crate::plan::Plan;

/// A shell's directory and environment.
#[derive(Debug, Clone)]
pub struct Shell {
    /// The prepared source tree: the shell's working directory.
    pub tree: PathBuf,
    /// The build directory (`KBUILD_OUTPUT`): the `.config` is there.
    pub dir: PathBuf,
    /// The resolved `.config` the shell starts with (also kept as
    /// `kforge.config` in the directory).
    pub config: String,
    /// The variables to add to the shell's environment: `ARCH`,
    /// `CROSS_COMPILE`, `LLVM`, `KBUILD_OUTPUT` and the reproducibility
    /// variables of a build.
    pub env: Vec<(String, String)>,
}

/// Prepare the shell of a planned build: a build directory of its own
/// under the store's `shell/` (one per declaration file; the store's build
/// directories are never touched) holding the resolved `.config`.
pub fn prepare(store: &Store, spec: &Spec, plan: &Plan) -> Result<Shell, Error> {
    let spec_path = std::fs::canonicalize(&spec.path).unwrap_or_else(|_| spec.path.clone());
    let id = kforge_store::sha256_hex(spec_path.as_os_str().as_encoded_bytes());
    let dir = store.root().join("shell").join(&id[..32]);
    std::fs::create_dir_all(&dir).map_err(io(dir.display().to_string()))?;
    for name in [".config", "kforge.config"] {
        let path = dir.join(name);
        kforge_fs::write_atomic(&path, plan.config.as_bytes()).map_err(|e| Error::Write {
            path,
            source: e.source,
        })?;
    }
    let mut env = vec![("ARCH".to_string(), plan.arch.clone())];
    let m = &plan.make;
    if let Some(c) = m.cross_compile.as_ref().filter(|c| !c.is_empty()) {
        env.push(("CROSS_COMPILE".into(), c.clone()));
    }
    if let Some(l) = m.llvm.as_ref().filter(|l| !l.is_empty()) {
        env.push(("LLVM".into(), l.clone()));
    }
    env.push(("KBUILD_OUTPUT".into(), dir.display().to_string()));
    env.extend(plan.repro.iter().cloned());
    Ok(Shell {
        tree: plan.source.tree.clone(),
        dir,
        config: plan.config.clone(),
        env,
    })
}

/// What the shell changed: `None` when its `.config` is the one it
/// started with; else the requests that make the declaration resolve to
/// it (found as `kforge import` finds them, with the declaration's result
/// as the base), as edits of the declaration (`force` where a request of
/// an included profile, a patch, an external or a `[when]` would win
/// otherwise).
pub fn changes(spec: &Spec, shell: &Shell) -> Result<Option<Vec<Edit>>, Error> {
    let after_path = shell.dir.join(".config");
    let after = std::fs::read_to_string(&after_path).map_err(|source| Error::Read {
        path: after_path.clone(),
        source,
    })?;
    if after == shell.config {
        return Ok(None);
    }
    let cross = shell
        .env
        .iter()
        .find(|(k, _)| k == "CROSS_COMPILE")
        .map(|(_, v)| v.clone());
    let imp = Target::read(Options {
        config: after_path,
        base: Base::File(shell.dir.join("kforge.config")),
        tree: shell.tree.clone(),
        arch: spec.build.arch.clone(),
        cross_compile: cross,
    })?
    .import()?;
    if imp.target == shell.config {
        // Only the file's form changed (an unsorted edit make would undo).
        return Ok(None);
    }
    Ok(Some(
        imp.list
            .into_iter()
            .map(|r| {
                let declared = spec
                    .requests
                    .iter()
                    .filter(|d| d.symbol == r.symbol)
                    .map(|d| (d.priority, d.layer == Layer::Main))
                    .chain(spec.conditionals.iter().flat_map(|c| {
                        c.requests
                            .iter()
                            .filter(|d| d.symbol == r.symbol)
                            .map(|d| (d.priority, false))
                    }));
                let force = declared
                    .into_iter()
                    .any(|(p, in_place)| p >= Priority::Normal && !in_place);
                Edit {
                    symbol: r.symbol,
                    value: r.value,
                    force,
                }
            })
            .collect(),
    ))
}

impl Shell {
    /// Run `command` (empty: the user's `$SHELL`, else `/bin/sh`) in the
    /// source tree with the shell's variables added to the environment;
    /// its exit code (1 when killed by a signal).
    pub fn run(&self, command: &[String]) -> Result<i32, Error> {
        let shell = [std::env::var("SHELL")
            .ok()
            .filter(|s| Path::new(s).is_absolute())
            .unwrap_or_else(|| "/bin/sh".into())];
        let cmd = if command.is_empty() {
            &shell[..]
        } else {
            command
        };
        let status = std::process::Command::new(&cmd[0])
            .args(&cmd[1..])
            .current_dir(&self.tree)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .status()
            .map_err(io(format!("running {}", cmd[0])))?;
        Ok(status.code().unwrap_or(1))
    }
}
