//! kforge: build Linux kernels from a declaration.

mod conf_cmd;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let argv0 = args.first().cloned().unwrap_or_else(|| "kforge".into());
    let base = std::path::Path::new(&argv0)
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Installed as scripts/kconfig/conf, behave exactly like it.
    if base == "conf" {
        std::process::exit(run_conf(&argv0, &args[1..]));
    }
    if args.get(1).map(String::as_str) == Some("conf") {
        std::process::exit(run_conf(&argv0, &args[2..]));
    }
    eprintln!("usage: kforge conf [--no-probe-cache] <conf options> Kconfig");
    std::process::exit(2);
}

fn run_conf(progname: &str, args: &[String]) -> i32 {
    let mut probe_cache =
        std::env::var("KFORGE_NO_PROBE_CACHE").map_or(true, |v| v.is_empty() || v == "0");
    let args: Vec<String> = args
        .iter()
        .filter(|a| {
            if *a == "--no-probe-cache" {
                probe_cache = false;
                false
            } else {
                true
            }
        })
        .cloned()
        .collect();
    conf_cmd::run(progname, &args, conf_cmd::ConfExtras { probe_cache })
}
