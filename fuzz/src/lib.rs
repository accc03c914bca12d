//! Shared pieces of the kconfig fuzz harnesses: feed one input to the
//! Kconfig preprocessor and to the parser/loader, with no shell commands
//! executed and an environment that only knows `srctree`.

pub mod declaration;
pub mod dotconfig;
pub mod kmod_read;

use std::path::Path;
use std::rc::Rc;

use kconfig_engine::preprocess::{Location, Preprocessor};
use kconfig_engine::{Kconfig, LoadOptions, Messages, ShellRunner};

/// A `$(shell,...)` runner that never runs anything.
pub struct NoShell;

impl ShellRunner for NoShell {
    fn run(&self, _command: &str) -> Vec<u8> {
        Vec::new()
    }
}

/// Limit on one expansion result, so `$(a)$(a)...` blow-ups stay cheap.
const EXPANSION_LIMIT: usize = 1 << 20;

/// Run one input through `Preprocessor::expand_string` and
/// `Kconfig::load`. `dir` is a scratch directory (used as srctree); the
/// input is written to `dir/Kconfig`. Errors are fine, panics are bugs.
pub fn run_one(data: &[u8], dir: &Path) {
    let text = String::from_utf8_lossy(data);

    // 1. The macro language on its own.
    let mut pp = Preprocessor::new(Box::new(|_| None), Box::new(NoShell));
    pp.set_expansion_limit(EXPANSION_LIMIT);
    let mut msgs = Messages::default();
    for (i, line) in text.lines().take(256).enumerate() {
        let loc = Location { file: "fuzz", line: i as u32 + 1 };
        let _ = pp.expand_string(line, loc, &mut msgs);
    }
    let loc = Location { file: "fuzz", line: 1 };
    let _ = pp.expand_string(&text, loc, &mut msgs);

    // 2. The whole loader (lexer, preprocessor, parser, menu finalisation).
    let kfile = dir.join("Kconfig");
    if std::fs::write(&kfile, data).is_err() {
        return;
    }
    let srctree = dir.to_string_lossy().into_owned();
    let env: kconfig_engine::EnvFn = Rc::new(move |k| {
        if k == "srctree" {
            Some(srctree.clone())
        } else {
            None
        }
    });
    let opts = LoadOptions {
        kconfig: "Kconfig".to_string(),
        env,
        shell: Box::new(NoShell),
        dialect: None,
    };
    let _ = Kconfig::load(opts);
}
