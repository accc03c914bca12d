//! The `dotconfig` harness: one input is a `.config`. It is read by the
//! engine into a small tree holding every symbol type (bool, tristate,
//! string, int and hex with ranges, a choice, `modules`, selects), which
//! then writes `.config` and the minimal defconfig back; the line parsers
//! that `kforge import`, `diff` and the header check use read it too.
//! Errors and warnings are fine, panics are bugs.

use std::path::Path;
use std::rc::Rc;

use kconfig_engine::{Kconfig, LoadOptions};

use crate::NoShell;

/// The tree the input is read into.
const KCONFIG: &str = r#"
mainmenu "fuzz"
config MODULES
	bool "modules"
	modules
config A
	bool "a"
	default y
config B
	tristate "b"
	depends on A
	select C
config C
	tristate
config D
	tristate "d"
	imply B
config S
	string "s"
	default "x"
config I
	int "i"
	range -5 100000
	default 3
config H
	hex "h"
	range 0x10 0xffffffffffff
	default 0x20
config W
	int "wide"
choice
	prompt "pick"
	default P1
config P1
	bool "p1"
config P2
	bool "p2"
	depends on !A || B
endchoice
menuconfig M
	bool "menu"
if M
config N
	tristate "n"
	default m if MODULES
endif
"#;

/// Run one input; `dir` is a scratch directory.
pub fn run_one(data: &[u8], dir: &Path) {
    let kfile = dir.join("Kconfig");
    if !kfile.exists() && std::fs::write(&kfile, KCONFIG).is_err() {
        return;
    }
    let config = dir.join(".config");
    if std::fs::write(&config, data).is_err() {
        return;
    }
    let srctree = dir.to_string_lossy().into_owned();
    let env: kconfig_engine::EnvFn = Rc::new(move |k| match k {
        "srctree" => Some(srctree.clone()),
        _ => None,
    });
    let opts = LoadOptions {
        kconfig: kfile.to_string_lossy().into_owned(),
        env,
        shell: Box::new(NoShell),
        dialect: None,
    };
    let mut kc: Kconfig = match Kconfig::load(opts) {
        Ok(kc) => kc,
        Err(e) => panic!("the harness's own Kconfig does not load: {e}"),
    };
    let name = config.to_string_lossy().into_owned();
    kc.read(Some(&name));
    let _ = kc.render_config();
    let _ = kc.render_defconfig();
    let _ = kc.messages.take();

    let text = String::from_utf8_lossy(data);
    let _ = kconfig_engine::parse_config(&text, "CONFIG_");
    let _ = kforge_pipeline::import::parse_config(&text);
    let _ = kforge_resolve::config_header(&text);
}
