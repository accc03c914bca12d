//! Stable-Rust mutation fuzzer for the kconfig preprocessor and parser.
//!
//! Usage:
//!   fuzz-stable [--seconds N] [--seed N] [--corpus DIR]... [--artifacts DIR]
//!               [--max-len BYTES] [REPRODUCER...]
//!
//! Seeds are every `Kconfig*` file under the corpus directories (default
//! /work/trees/linux-source-6.12, else $KFORGE_FUZZ_CORPUS). Each iteration
//! picks a seed, applies a few random mutations (bit flips, byte inserts and
//! deletes, Kconfig keyword and macro-syntax insertions, splices with other
//! seeds, line shuffles) and runs it through `kforge_fuzz::run_one`. A panic
//! saves the input as `<artifacts>/crash-<hash>`; an input running longer
//! than 120 s (wall) is saved as `<artifacts>/timeout-<hash>` and the process exits.
//! Given REPRODUCER files, runs just those and reports.
//!
//! Prints `executions: N, crashes: N (unique: N)` at the end.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::panic;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Wall-clock limit for one input. Generous: on a loaded machine a niced
/// fuzzer can be starved for many seconds (a 20 s limit fired falsely here);
/// replay a `timeout-*` artifact to see whether it is really slow.
const TIMEOUT_MS: u64 = 120_000;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const DICT: &[&str] = &[
    "config ", "menuconfig ", "choice\n", "endchoice\n", "menu \"", "endmenu\n", "if ", "endif\n",
    "source \"", "osource \"", "rsource \"", "comment \"", "mainmenu \"", "bool", "tristate",
    "string", "int", "hex", "prompt ", "default ", "def_bool ", "def_tristate ", "depends on ",
    "select ", "imply ", "range ", "help\n", "---help---\n", "visible if ", "option ",
    "modules", "transitional", "optional", "&&", "||", "!", "=", "!=", "<", ">=", "(", ")", "y",
    "m", "n", "\"", "'", "\\", "\t", "\n", "\\\n", "#", "$(", "$(shell,", "$(info,",
    "$(warning-if,", "$(error-if,", "$(filename)", "$(lineno)", "$(1)", "$(2)", "$(if,", ":=",
    "+=", "=", " ", ",", "$$", "$(foo)", "foo := $(foo)", "$(", "0x", "-", "1000000000000000000000",
    "FOO", "MODULES", "-1",
];

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>], data: &mut Vec<u8>, max_len: usize) {
    let n = 1 + rng.below(8);
    for _ in 0..n {
        let len = data.len();
        match rng.below(11) {
            0 if len > 0 => {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                data[i] = rng.next() as u8;
            }
            2 => {
                let i = rng.below(len + 1);
                let b = rng.next() as u8;
                data.insert(i, b);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let k = 1 + rng.below((len - i).min(64));
                data.drain(i..i + k);
            }
            4 | 5 | 6 => {
                let i = rng.below(len + 1);
                let w = DICT[rng.below(DICT.len())].as_bytes();
                data.splice(i..i, w.iter().copied());
            }
            7 if !seeds.is_empty() => {
                // Splice a chunk of another seed.
                let other = &seeds[rng.below(seeds.len())];
                if !other.is_empty() {
                    let a = rng.below(other.len());
                    let b = a + rng.below((other.len() - a).min(2048)) + 1;
                    let i = rng.below(len + 1);
                    data.splice(i..i, other[a..b.min(other.len())].iter().copied());
                }
            }
            8 if len > 1 => {
                // Duplicate a chunk (repetition stresses nesting).
                let a = rng.below(len);
                let b = (a + 1 + rng.below(256)).min(len);
                let chunk = data[a..b].to_vec();
                let i = rng.below(len + 1);
                data.splice(i..i, chunk);
            }
            9 if len > 0 => {
                // Truncate.
                let i = rng.below(len);
                data.truncate(i);
            }
            10 if len > 0 => {
                // Swap two lines.
                let lines: Vec<usize> = std::iter::once(0)
                    .chain(data.iter().enumerate().filter(|(_, &c)| c == b'\n').map(|(i, _)| i + 1))
                    .filter(|&i| i < len)
                    .collect();
                if lines.len() >= 2 {
                    let a = lines[rng.below(lines.len())];
                    let b = lines[rng.below(lines.len())];
                    let end = |s: usize| data[s..].iter().position(|&c| c == b'\n').map_or(len, |p| s + p + 1);
                    let (a, b) = if a < b { (a, b) } else { (b, a) };
                    let (ea, eb) = (end(a), end(b));
                    if a != b && ea <= b {
                        let la = data[a..ea].to_vec();
                        let lb = data[b..eb].to_vec();
                        let mut out = Vec::with_capacity(len);
                        out.extend_from_slice(&data[..a]);
                        out.extend_from_slice(&lb);
                        out.extend_from_slice(&data[ea..b]);
                        out.extend_from_slice(&la);
                        out.extend_from_slice(&data[eb..]);
                        *data = out;
                    }
                }
            }
            _ => {}
        }
    }
    data.truncate(max_len);
}

fn collect_seeds(dir: &Path, out: &mut Vec<Vec<u8>>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            collect_seeds(&p, out);
        } else if ft.is_file()
            && p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("Kconfig"))
        {
            if let Ok(d) = std::fs::read(&p) {
                out.push(d);
            }
        }
    }
}

fn hash(data: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    data.hash(&mut h);
    h.finish()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut seconds = 60u64;
    let mut seed = None;
    let mut corpora: Vec<PathBuf> = Vec::new();
    let mut artifacts = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/artifacts"));
    let mut max_len = 64 * 1024;
    let mut repro: Vec<PathBuf> = Vec::new();
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--seconds" => seconds = val().parse().expect("--seconds N"),
            "--seed" => seed = Some(val().parse::<u64>().expect("--seed N")),
            "--corpus" => corpora.push(PathBuf::from(val())),
            "--artifacts" => artifacts = PathBuf::from(val()),
            "--max-len" => max_len = val().parse().expect("--max-len N"),
            "-h" | "--help" => {
                eprintln!("usage: fuzz-stable [--seconds N] [--seed N] [--corpus DIR]... [--artifacts DIR] [--max-len N] [REPRODUCER...]");
                return;
            }
            _ => repro.push(PathBuf::from(a)),
        }
    }

    let scratch = std::env::temp_dir().join(format!("kforge-fuzz-stable-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("scratch dir");

    // Quiet panics, but remember the last message and location.
    let last_panic: Arc<Mutex<String>> = Arc::new(Mutex::new(String::new()));
    {
        let lp = last_panic.clone();
        panic::set_hook(Box::new(move |info| {
            *lp.lock().unwrap() = info.to_string();
        }));
    }

    if !repro.is_empty() {
        let mut failed = 0;
        for p in &repro {
            let data = std::fs::read(p).expect("read reproducer");
            match panic::catch_unwind(|| kforge_fuzz::run_one(&data, &scratch)) {
                Ok(()) => println!("{}: ok", p.display()),
                Err(_) => {
                    failed += 1;
                    println!("{}: PANIC: {}", p.display(), last_panic.lock().unwrap());
                }
            }
        }
        let _ = std::fs::remove_dir_all(&scratch);
        std::process::exit(if failed > 0 { 1 } else { 0 });
    }

    if corpora.is_empty() {
        corpora.push(PathBuf::from(
            std::env::var("KFORGE_FUZZ_CORPUS").unwrap_or_else(|_| "/work/trees/linux-source-6.12".into()),
        ));
    }
    let mut seeds = Vec::new();
    for c in &corpora {
        collect_seeds(c, &mut seeds);
    }
    seeds.retain(|s| s.len() <= max_len);
    assert!(!seeds.is_empty(), "no Kconfig* seed files under {corpora:?}");
    let seed = seed.unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1
    });
    eprintln!("fuzz-stable: {} seeds, rng seed {seed}, {seconds} s, artifacts in {}", seeds.len(), artifacts.display());
    let mut rng = Rng(seed);

    // Watchdog: an input running too long is saved and the process exits.
    let current: Arc<Mutex<Vec<u8>>> = Arc::new(Mutex::new(Vec::new()));
    let started = Arc::new(AtomicU64::new(0)); // ms since t0 when the current input began; 0 = idle
    let execs_shared = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    {
        let current = current.clone();
        let started = started.clone();
        let execs_shared = execs_shared.clone();
        let artifacts = artifacts.clone();
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_millis(500));
            let s = started.load(Ordering::SeqCst);
            if s != 0 && t0.elapsed().as_millis() as u64 > s + TIMEOUT_MS {
                let data = current.lock().unwrap().clone();
                let _ = std::fs::create_dir_all(&artifacts);
                let path = artifacts.join(format!("timeout-{:016x}", hash(&data)));
                let _ = std::fs::write(&path, &data);
                eprintln!("fuzz-stable: TIMEOUT (>{} s wall), input saved to {}", TIMEOUT_MS / 1000, path.display());
                println!("executions: {}, timeout after {:.0} s", execs_shared.load(Ordering::SeqCst), t0.elapsed().as_secs_f64());
                std::process::exit(3);
            }
        });
    }

    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut execs: u64 = 0;
    let mut crashes: u64 = 0;
    let mut unique: HashMap<String, PathBuf> = HashMap::new();
    let mut last_report = Instant::now();
    while Instant::now() < deadline {
        let mut data = seeds[rng.below(seeds.len())].clone();
        mutate(&mut rng, &seeds, &mut data, max_len);
        *current.lock().unwrap() = data.clone();
        started.store(t0.elapsed().as_millis() as u64 + 1, Ordering::SeqCst);
        let res = panic::catch_unwind(|| kforge_fuzz::run_one(&data, &scratch));
        started.store(0, Ordering::SeqCst);
        execs += 1;
        execs_shared.store(execs, Ordering::SeqCst);
        if res.is_err() {
            crashes += 1;
            let msg = last_panic.lock().unwrap().clone();
            // Deduplicate by panic location (the text after "panicked at ").
            let key = msg.lines().next().unwrap_or("").to_string();
            let _ = std::fs::create_dir_all(&artifacts);
            let path = artifacts.join(format!("crash-{:016x}", hash(&data)));
            let _ = std::fs::write(&path, &data);
            if !unique.contains_key(&key) {
                eprintln!("fuzz-stable: CRASH #{crashes}: {msg}\n  input saved to {}", path.display());
                unique.insert(key, path);
            }
        }
        if last_report.elapsed() > Duration::from_secs(60) {
            eprintln!("fuzz-stable: {execs} execs, {crashes} crashes, {:.0} execs/s", execs as f64 / t0.elapsed().as_secs_f64());
            last_report = Instant::now();
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    println!("executions: {execs}, crashes: {crashes} (unique: {})", unique.len());
    for (k, p) in &unique {
        println!("  {} -> {}", p.display(), k);
    }
    std::process::exit(if crashes > 0 { 1 } else { 0 });
}
