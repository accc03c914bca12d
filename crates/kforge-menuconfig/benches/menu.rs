//! The menuconfig model on the x86_64 6.12 tree (scripts/prepare-oracle):
//! searching every symbol, and setting a value then redrawing a page.
//!
//! cargo bench -p kforge-menuconfig --bench menu

use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::Rc;

use criterion::{criterion_group, criterion_main, Criterion};
use kconfig_engine::{Kconfig, LoadOptions, Tri};
use kforge_menuconfig::{Context, Model};

use kforge_testkit::oracle;

/// The allocator of the kforge binary, which runs menuconfig.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn load() -> Kconfig {
    let o = oracle();
    let text = std::fs::read_to_string(o.join("6.12/env/x86_64.env")).unwrap();
    let env: HashMap<String, String> = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let vars: Vec<(String, String)> = env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let cache = kforge_probe_cache::ProbeCache::new(
        o.join("../probe-cache-tests"),
        vars,
        std::env::temp_dir(),
    );
    Kconfig::load(LoadOptions {
        kconfig: "Kconfig".into(),
        env: Rc::new(move |k: &str| env.get(k).cloned()),
        shell: Box::new(cache),
        dialect: None,
    })
    .unwrap_or_else(|e| panic!("loading 6.12: {:?}", e.messages))
}

/// The model of a declaration: defconfig alone, or (`debian`) what `kforge
/// import` makes of Debian's amd64 configuration (defconfig and some 2,000
/// requests).
fn model(debian: bool) -> Model {
    let mut kc = load();
    let mut input = kforge_resolve::Input::on(kforge_declaration::Base::Defconfig);
    if debian {
        let imp = kforge_pipeline::import::Target::read(kforge_pipeline::import::Options {
            config: kforge_testkit::debian_config("6.12", "amd64_none_amd64"),
            base: kforge_declaration::Base::Defconfig,
            tree: oracle().join("6.12/src"),
            arch: "x86_64".into(),
            cross_compile: None,
        })
        .and_then(|t| t.import())
        .unwrap_or_else(|e| panic!("importing Debian's config: {e}"));
        assert!(
            imp.exact(),
            "the import does not resolve to Debian's config"
        );
        input.requests = imp.list;
    }
    let res = kforge_resolve::resolve(&mut kc, &input).unwrap();
    Model::new(
        kc,
        Context {
            spec_path: PathBuf::from("kernel.toml"),
            output: None,
            input: Some(input),
            base_config: res.base_config,
            outcomes: res.outcomes,
            active_conditions: res.active_conditions,
            auto_modules: res.auto_modules,
        },
    )
}

fn benches(c: &mut Criterion) {
    let m = model(false);
    eprintln!(
        "{} symbols; 'dummy': {} hits, 'net': {} hits",
        m.kc.symbol_names().count(),
        m.search("dummy").len(),
        m.search("net").len()
    );
    c.bench_function("search 'dummy' (x86_64 6.12, every symbol)", |b| {
        b.iter(|| m.search(std::hint::black_box("dummy")))
    });
    c.bench_function("search 'net' (x86_64 6.12, every symbol)", |b| {
        b.iter(|| m.search(std::hint::black_box("net")))
    });
    change(c, m, "defconfig");
    let m = model(true);
    eprintln!(
        "imported Debian declaration: {} requests",
        m.ctx.input.as_ref().map_or(0, |i| i.requests.len())
    );
    change(c, m, "imported Debian declaration");
}

/// DUMMY in Device Drivers > Network device support, then toggle it (which
/// resolves the declaration again, for [when] and auto_modules) and redraw
/// a 40-row page as the terminal layer does.
fn change(c: &mut Criterion, mut m: Model, what: &str) {
    let dummy = m.kc.find("DUMMY").unwrap();
    m.jump_to(dummy);
    m.page = 40;
    let mut on = false;
    c.bench_function(
        &format!("{what}: set DUMMY y/m + resolve again + rebuild + draw 40 rows"),
        |b| {
            b.iter(|| {
                on = !on;
                m.set_sym(dummy, if on { Tri::Yes } else { Tri::Mod });
                m.rebuild();
                let v = *m.view();
                let end = (v.offset + 40).min(m.rows.len());
                let rows: Vec<_> = (v.offset..end).map(|i| m.row_text(i)).collect();
                let o = m.origin_line();
                (rows, o)
            })
        },
    );
}

criterion_group!(benches_group, benches);
criterion_main!(benches_group);
