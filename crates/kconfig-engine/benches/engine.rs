//! The engine's own steps on Debian's x86_64 6.12 tree (scripts/prepare-oracle):
//! decoding a parsed-tree snapshot, and evaluating a configuration from the
//! loaded state (`restart`, read, render .config) as `conf --olddefconfig`
//! does after loading.
//!
//! cargo bench -p kconfig-engine --bench engine

use std::collections::HashMap;
use std::rc::Rc;

use criterion::{criterion_group, criterion_main, Criterion};
use kconfig_engine::{Kconfig, LoadOptions, ShellRunner};
use kforge_testkit::{captured_env, debian_config};

/// Runs probes with the oracle's environment only.
struct EnvShell(Vec<(String, String)>);

impl ShellRunner for EnvShell {
    fn run(&self, command: &str) -> Vec<u8> {
        kconfig_engine::preprocess::run_shell_command(command, Some(&self.0), None)
    }
}

fn benches(c: &mut Criterion) {
    let vars = captured_env("6.12", "x86_64");
    let env: HashMap<String, String> = vars.iter().cloned().collect();
    let env_fn: kconfig_engine::EnvFn = Rc::new(move |k: &str| env.get(k).cloned());
    let mut kc = Kconfig::load(LoadOptions {
        kconfig: "Kconfig".into(),
        env: env_fn.clone(),
        shell: Box::new(EnvShell(vars)),
        dialect: None,
    })
    .unwrap_or_else(|e| panic!("loading 6.12: {:?}", e.messages));
    let snapshot = kc.snapshot();
    let mut debian = Vec::new();
    let xz = std::fs::File::open(debian_config("6.12", "amd64_none_amd64")).unwrap();
    std::io::Read::read_to_end(&mut xz2::read::XzDecoder::new(xz), &mut debian).unwrap();
    kc.set_config_text("debian.config", debian);
    kc.set_config_text("empty.config", Vec::new());
    eprintln!("snapshot: {} bytes", snapshot.len());

    c.bench_function("decode the snapshot (x86_64 6.12)", |b| {
        b.iter(|| Kconfig::from_snapshot(std::hint::black_box(&snapshot), env_fn.clone()).unwrap())
    });
    for name in ["empty.config", "debian.config"] {
        c.bench_function(
            &format!("olddefconfig of {name}: restart, read, render"),
            |b| {
                b.iter(|| {
                    kc.restart();
                    kc.read(Some(name));
                    kc.render_config()
                })
            },
        );
    }
}

criterion_group!(benches_group, benches);
criterion_main!(benches_group);
