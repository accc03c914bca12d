//! Which tools a build runs: each one by the command make is given, the
//! file that command resolves to in `PATH` (symlinks followed, so
//! `/usr/bin/gcc` is known as `/usr/bin/gcc-12`), and the first line of its
//! `--version`. Two builds whose tools agree on all three are taken to
//! compile the same way.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// One tool of the toolchain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tool {
    /// What it is for: `CC`, `LD`, `HOSTCC`, `MAKE`.
    pub role: String,
    /// The command as make gets it (`gcc`, `aarch64-linux-gnu-ld`, `clang-17`).
    pub command: String,
    /// The file it resolves to; `None` when it is not in `PATH`.
    pub path: Option<PathBuf>,
    /// The first line of `--version` (empty when it cannot be run).
    pub version: String,
}

/// The tools of a build.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Toolchain {
    pub tools: Vec<Tool>,
}

/// `name` looked up in `path_var` as a shell would (a name with a `/` is
/// taken as it is), symlinks resolved.
pub fn which(name: &str, path_var: &str) -> Option<PathBuf> {
    let exe = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    let found = if name.contains('/') {
        Some(PathBuf::from(name)).filter(|p| exe(p))
    } else {
        path_var
            .split(':')
            .map(|d| Path::new(if d.is_empty() { "." } else { d }).join(name))
            .find(|p| exe(p))
    }?;
    Some(std::fs::canonicalize(&found).unwrap_or(found))
}

/// The first line of `path --version`, run with `LC_ALL=C`.
fn version_line(path: &Path, path_var: &str) -> String {
    Command::new(path)
        .arg("--version")
        .env_clear()
        .env("PATH", path_var)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_string()
        })
        .unwrap_or_default()
}

impl Toolchain {
    /// Identify each `(role, command)`; `path_var` is the `PATH` make will
    /// run with.
    pub fn identify(tools: &[(&str, &str)], path_var: &str) -> Toolchain {
        Toolchain {
            tools: tools
                .iter()
                .map(|(role, command)| {
                    // A command with arguments (a launcher, `ccache gcc`) is
                    // identified by the compiler, its last word.
                    let prog = command.split_whitespace().last().unwrap_or_default();
                    let path = which(prog, path_var);
                    let version = path
                        .as_deref()
                        .map(|p| version_line(p, path_var))
                        .unwrap_or_default();
                    Tool {
                        role: role.to_string(),
                        command: command.to_string(),
                        path,
                        version,
                    }
                })
                .collect(),
        }
    }

    pub fn get(&self, role: &str) -> Option<&Tool> {
        self.tools.iter().find(|t| t.role == role)
    }

    /// Tools that are not in `PATH`.
    pub fn missing(&self) -> impl Iterator<Item = &Tool> {
        self.tools.iter().filter(|t| t.path.is_none())
    }

    /// One line per tool: `ROLE=command path version`, the text the keys
    /// are made of.
    pub fn identity(&self) -> String {
        self.tools
            .iter()
            .map(|t| {
                format!(
                    "{}={} {} {}\n",
                    t.role,
                    t.command,
                    t.path
                        .as_deref()
                        .map_or("(missing)".into(), |p| p.display().to_string()),
                    t.version
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifies_sh_and_misses_nonsense() {
        let path = std::env::var("PATH").unwrap_or_default();
        let t = Toolchain::identify(&[("SH", "sh"), ("X", "kforge-no-such-tool")], &path);
        assert!(t.get("SH").unwrap().path.is_some());
        assert_eq!(t.missing().count(), 1);
        assert!(t.identity().contains("X=kforge-no-such-tool (missing)"));
    }
}
