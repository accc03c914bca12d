//! cargo-fuzz target: `cargo +nightly fuzz run dotconfig --features libfuzzer`.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

static DIR: OnceLock<PathBuf> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let dir = DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("kforge-fuzz-dotconfig-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("scratch dir");
        d
    });
    kforge_fuzz::dotconfig::run_one(data, dir);
});
