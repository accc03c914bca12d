//! `cargo run --release -p kforge-tree --example modmap -- <tree> [module...]`:
//! scans a kernel tree, prints the scan time and what it found, and the
//! ways to build each module named.

use std::path::Path;
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(tree) = args.next() else {
        eprintln!("usage: modmap <kernel tree> [module...]");
        std::process::exit(2);
    };
    let start = Instant::now();
    let map = match kforge_tree::ModuleMap::scan(Path::new(&tree)) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let elapsed = start.elapsed();
    println!(
        "scanned {} directories, {} modules, {} notes in {:.1} ms",
        map.directories().count(),
        map.modules().count(),
        map.notes().len(),
        elapsed.as_secs_f64() * 1000.0
    );
    let names: Vec<String> = args.collect();
    if names.iter().any(|n| n == "--notes") {
        for n in map.notes() {
            println!("note: {}:{}: {}", n.makefile.display(), n.line, n.message);
        }
    }
    if names.iter().any(|n| n == "--dirs") {
        for d in map.directories() {
            println!("dir: {}", d.display());
        }
    }
    for name in names.iter().filter(|n| !n.starts_with("--")) {
        let sources = map.lookup(name);
        if sources.is_empty() {
            println!("{name}: no rule builds it");
        }
        for s in sources {
            println!(
                "{}: {}:{} symbols {:?} dirs {:?} arch {:?}",
                s.module,
                s.makefile.display(),
                s.line,
                s.symbols,
                s.dir_symbols,
                s.arch
            );
            for d in &s.dirs {
                let entries: Vec<String> = d
                    .entries
                    .iter()
                    .map(|e| format!("{}:{} {:?}", e.makefile.display(), e.line, e.symbols))
                    .collect();
                println!("    {}/ via {}", d.dir.display(), entries.join(" | "));
            }
            for c in &s.conditions {
                println!(
                    "    {}{} ({}:{})",
                    if c.negated { "not " } else { "" },
                    c.directive,
                    c.makefile.display(),
                    c.line
                );
            }
        }
    }
}
