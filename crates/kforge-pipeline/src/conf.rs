//! `kforge conf`: a drop-in for the kernel's `scripts/kconfig/conf`, with the
//! same options, environment variables, messages and exit codes.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::rc::Rc;

use kconfig_engine::conf::{AskMode, Asker, NewSymbols};
use kconfig_engine::rand::GlibcRand;
use kconfig_engine::symbol::DefSlot;
use kconfig_engine::{EnvFn, Kconfig, LoadOptions, Stream, Tri};
use kforge_probe_cache::{cached_shell, ExplicitShell, ProbeCache, TreeCache};

/// The modes of `conf`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    OldAsk,
    Sync,
    Old,
    AllNo,
    AllYes,
    AllMod,
    AllDef,
    Rand,
    Def,
    SaveDef,
    ListNew,
    HelpNew,
    OldDef,
    Yes2Mod,
    Mod2Yes,
    Mod2No,
}

const MODES: &[(&str, Mode, bool)] = &[
    ("oldaskconfig", Mode::OldAsk, false),
    ("oldconfig", Mode::Old, false),
    ("syncconfig", Mode::Sync, false),
    ("defconfig", Mode::Def, true),
    ("savedefconfig", Mode::SaveDef, true),
    ("allnoconfig", Mode::AllNo, false),
    ("allyesconfig", Mode::AllYes, false),
    ("allmodconfig", Mode::AllMod, false),
    ("alldefconfig", Mode::AllDef, false),
    ("randconfig", Mode::Rand, false),
    ("listnewconfig", Mode::ListNew, false),
    ("helpnewconfig", Mode::HelpNew, false),
    ("olddefconfig", Mode::OldDef, false),
    ("yes2modconfig", Mode::Yes2Mod, false),
    ("mod2yesconfig", Mode::Mod2Yes, false),
    ("mod2noconfig", Mode::Mod2No, false),
];

fn usage(progname: &str, dialect: kconfig_engine::Dialect) -> String {
    let (arg, tail) = if dialect >= kconfig_engine::Dialect::V6_18 {
        (
            "kconfig_file",
            "\nArguments:\n  kconfig_file            Top-level Kconfig file.\n",
        )
    } else {
        ("<kconfig-file>", "")
    };
    format!(
        "Usage: {progname} [options] {arg}\n\
\n\
Generic options:\n\
\x20 -h, --help              Print this message and exit.\n\
\x20 -s, --silent            Do not print log.\n\
\n\
Mode options:\n\
\x20 --listnewconfig         List new options\n\
\x20 --helpnewconfig         List new options and help text\n\
\x20 --oldaskconfig          Start a new configuration using a line-oriented program\n\
\x20 --oldconfig             Update a configuration using a provided .config as base\n\
\x20 --syncconfig            Similar to oldconfig but generates configuration in\n\
\x20                         include/{{generated/,config/}}\n\
\x20 --olddefconfig          Same as oldconfig but sets new symbols to their default value\n\
\x20 --defconfig <file>      New config with default defined in <file>\n\
\x20 --savedefconfig <file>  Save the minimal current configuration to <file>\n\
\x20 --allnoconfig           New config where all options are answered with no\n\
\x20 --allyesconfig          New config where all options are answered with yes\n\
\x20 --allmodconfig          New config where all options are answered with mod\n\
\x20 --alldefconfig          New config with all symbols set to default\n\
\x20 --randconfig            New config with random answer to all options\n\
\x20 --yes2modconfig         Change answers from yes to mod if possible\n\
\x20 --mod2yesconfig         Change answers from mod to yes if possible\n\
\x20 --mod2noconfig          Change answers from mod to no if possible\n\
\x20 (If none of the above is given, --oldaskconfig is the default)\n\
{tail}"
    )
}

/// Output collected so stdout and stderr keep the kernel's order.
struct Out {
    stdout: std::io::Stdout,
    stderr: std::io::Stderr,
}

impl Out {
    fn out(&mut self, s: &str) {
        let _ = self.stdout.write_all(s.as_bytes());
        let _ = self.stdout.flush();
    }
    fn err(&mut self, s: &str) {
        let _ = self.stdout.flush();
        let _ = self.stderr.write_all(s.as_bytes());
    }
    fn flush_messages(&mut self, kc: &mut Kconfig) {
        for (st, line) in kc.messages.take() {
            self.emit(st, &line);
        }
    }
    fn emit(&mut self, st: Stream, line: &str) {
        match st {
            Stream::Stdout => self.out(&format!("{line}\n")),
            Stream::Stderr => self.err(&format!("{line}\n")),
        }
    }
}

/// Options beyond the kernel's: how probes run, whether parsed trees are
/// cached.
pub struct ConfExtras {
    /// Answer `$(shell,...)` probes from the probe cache.
    pub probe_cache: bool,
    /// Load the tree through the parsed-tree cache
    /// ([`kforge_probe_cache::tree`]).
    pub parse_cache: bool,
}

/// Whether the environment variable `name` is set to something other than
/// empty or `0`.
pub(crate) fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0")
}

impl ConfExtras {
    /// The probe cache is on unless `off` (a `--no-probe-cache` flag) or
    /// `KFORGE_NO_PROBE_CACHE` is set to something other than `0`; the
    /// parsed-tree cache unless `KFORGE_NO_PARSE_CACHE` is.
    pub fn new(off: bool) -> ConfExtras {
        ConfExtras {
            probe_cache: !off && !env_flag("KFORGE_NO_PROBE_CACHE"),
            parse_cache: !env_flag("KFORGE_NO_PARSE_CACHE"),
        }
    }
}

/// `conf` run from a command line: the kernel's arguments (without the
/// program name), plus kforge's `--no-probe-cache` and `--no-parse-cache`;
/// returns the exit code.
pub fn run_args(progname: &str, args: &[String]) -> i32 {
    let ours = ["--no-probe-cache", "--no-parse-cache"];
    let has = |flag: &str| args.iter().any(|a| a == flag);
    let mut extras = ConfExtras::new(has(ours[0]));
    extras.parse_cache &= !has(ours[1]);
    let args: Vec<String> = args
        .iter()
        .filter(|a| !ours.contains(&a.as_str()))
        .cloned()
        .collect();
    let mut tree = None;
    let code = run_into(progname, &args, extras, &ConfEnv::Inherit, &mut tree);
    // The process ends here: freeing the tree piece by piece (some 100,000
    // allocations, 4 ms) would only delay the exit.
    std::mem::forget(tree);
    code
}

/// The environment conf runs with: what its Kconfig files read with
/// `$(VAR)`, what conf itself reads (`KCONFIG_CONFIG`, ...) and what the
/// `$(shell,...)` probes see.
pub enum ConfEnv {
    /// The process environment, as the kernel's make sets it up
    /// (`kforge conf`).
    Inherit,
    /// Exactly these variables (`kforge kconfig`); the process environment
    /// is not consulted and probes run with this environment only.
    Explicit(BTreeMap<String, String>),
}

impl ConfEnv {
    /// The lookup function the engine reads variables through.
    fn lookup(&self) -> EnvFn {
        match self {
            ConfEnv::Inherit => Rc::new(|k| std::env::var(k).ok()),
            ConfEnv::Explicit(vars) => {
                let vars = Rc::new(vars.clone());
                Rc::new(move |k| vars.get(k).cloned())
            }
        }
    }

    /// The environment probes run with, as a list.
    fn vars(&self) -> Vec<(String, String)> {
        match self {
            ConfEnv::Inherit => std::env::vars().collect(),
            ConfEnv::Explicit(vars) => vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        }
    }
}

/// Run `conf` with the kernel's arguments (without the program name) in the
/// process environment; returns the exit code.
pub fn run(progname: &str, args: &[String], extras: ConfExtras) -> i32 {
    run_with_env(progname, args, extras, &ConfEnv::Inherit)
}

/// Run `conf` with the kernel's arguments (without the program name) and
/// the environment `cenv`, in the current directory (the object directory);
/// returns the exit code. Both `kforge conf` and `kforge kconfig` end here.
pub fn run_with_env(progname: &str, args: &[String], extras: ConfExtras, cenv: &ConfEnv) -> i32 {
    run_into(progname, args, extras, cenv, &mut None)
}

/// [`run_with_env`], leaving the tree it loaded in `tree`.
fn run_into(
    progname: &str,
    args: &[String],
    extras: ConfExtras,
    cenv: &ConfEnv,
    tree: &mut Option<Kconfig>,
) -> i32 {
    let mut o = Out {
        stdout: std::io::stdout(),
        stderr: std::io::stderr(),
    };
    let env: EnvFn = cenv.lookup();
    let mut mode = Mode::OldAsk;
    let mut silent = false;
    let mut sync = false;
    let mut defconfig_file: Option<String> = None;
    let mut positional: Vec<String> = Vec::new();
    let mut rng: Option<GlibcRand> = None;
    let mut i = 0;
    let mut only_positional = false;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if only_positional || !a.starts_with('-') || a == "-" {
            positional.push(a.clone());
            continue;
        }
        if a == "--" {
            only_positional = true;
            continue;
        }
        if let Some(long) = a.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            if name == "help" {
                o.out(&usage(progname, kconfig_engine::Dialect::detect(&*env)));
                return 1;
            }
            if name == "silent" {
                silent = true;
                continue;
            }
            // getopt_long accepts unambiguous prefixes
            let matches: Vec<_> = MODES
                .iter()
                .filter(|(n, _, _)| n.starts_with(name))
                .collect();
            let exact = MODES.iter().find(|(n, _, _)| *n == name);
            let hit = exact.or(if matches.len() == 1 {
                Some(matches[0])
            } else {
                None
            });
            let Some(&(mname, m, needs_arg)) = hit else {
                o.err(&format!("{progname}: unrecognized option '{a}'\n"));
                continue;
            };
            mode = m;
            if needs_arg {
                let v = match inline {
                    Some(v) => v,
                    None if i < args.len() => {
                        i += 1;
                        args[i - 1].clone()
                    }
                    None => {
                        o.err(&format!(
                            "{progname}: option '--{mname}' requires an argument\n"
                        ));
                        continue;
                    }
                };
                defconfig_file = Some(v);
            }
            match m {
                Mode::Sync => {
                    silent = true;
                    sync = true;
                }
                Mode::Rand => {
                    let seed = env("KCONFIG_SEED")
                        .and_then(|s| kconfig_engine::conf::parse_seed(&s))
                        .unwrap_or_else(time_seed);
                    o.out(&format!("KCONFIG_SEED=0x{seed:X}\n"));
                    rng = Some(GlibcRand::new(seed));
                }
                _ => {}
            }
            continue;
        }
        for c in a[1..].chars() {
            match c {
                'h' => {
                    o.out(&usage(progname, kconfig_engine::Dialect::detect(&*env)));
                    return 1;
                }
                's' => silent = true,
                _ => o.err(&format!("{progname}: invalid option -- '{c}'\n")),
            }
        }
    }
    let Some(kconfig_file) = positional.first().cloned() else {
        o.err(&format!("{progname}: Kconfig file missing\n"));
        o.out(&usage(progname, kconfig_engine::Dialect::detect(&*env)));
        return 1;
    };

    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let shell: Box<dyn kconfig_engine::ShellRunner> = if extras.probe_cache {
        cached_shell(
            cenv.vars(),
            cwd.clone(),
            // One probe history per tree and architecture: another
            // architecture's probes would only be run in vain.
            format!(
                "{}|{}|{}",
                env("srctree").unwrap_or_default(),
                env("ARCH").unwrap_or_default(),
                kconfig_file
            ),
            &kconfig_file,
        )
    } else {
        match cenv {
            ConfEnv::Inherit => Box::new(kconfig_engine::preprocess::DirectShell),
            ConfEnv::Explicit(_) => Box::new(ExplicitShell(cenv.vars())),
        }
    };
    let group = kforge_probe_cache::tree::tree_group(&*env, &kconfig_file);
    let opts = LoadOptions {
        kconfig: kconfig_file,
        env: env.clone(),
        shell,
        dialect: None,
    };
    let loaded = if extras.parse_cache {
        let store = TreeCache::new(&ProbeCache::default_dir(), &group);
        Kconfig::load_cached(opts, &store).0
    } else {
        Kconfig::load(opts)
    };
    let kc = match loaded {
        Ok(kc) => tree.insert(kc),
        Err(e) => {
            for (st, line) in &e.messages {
                o.emit(*st, line);
            }
            return 1;
        }
    };
    kc.silent = silent;
    o.flush_messages(kc);

    match mode {
        Mode::Def => {
            let f = defconfig_file.clone().unwrap_or_default();
            if kc.read(Some(&f)) {
                o.flush_messages(kc);
                o.err(&format!(
                    "***\n*** Can't find default configuration \"{f}\"!\n***\n"
                ));
                return 1;
            }
        }
        Mode::SaveDef
        | Mode::Sync
        | Mode::OldAsk
        | Mode::Old
        | Mode::ListNew
        | Mode::HelpNew
        | Mode::OldDef
        | Mode::Yes2Mod
        | Mode::Mod2Yes
        | Mode::Mod2No => {
            kc.read(None);
        }
        Mode::AllNo | Mode::AllYes | Mode::AllMod | Mode::AllDef | Mode::Rand => {
            if let Some(name) = env("KCONFIG_ALLCONFIG") {
                if !name.is_empty() && name != "1" {
                    if kc.read_simple(Some(&name), DefSlot::User) {
                        o.flush_messages(kc);
                        o.err(&format!("*** Can't read seed configuration \"{name}\"!\n"));
                        return 1;
                    }
                } else {
                    let def = match mode {
                        Mode::AllNo => "allno.config",
                        Mode::AllYes => "allyes.config",
                        Mode::AllMod => "allmod.config",
                        Mode::AllDef => "alldef.config",
                        _ => "allrandom.config",
                    };
                    if kc.read_simple(Some(def), DefSlot::User)
                        && kc.read_simple(Some("all.config"), DefSlot::User)
                    {
                        o.flush_messages(kc);
                        o.err(&format!(
                            "*** KCONFIG_ALLCONFIG set, but no \"{def}\" or \"all.config\" file found\n"
                        ));
                        return 1;
                    }
                }
            }
        }
    }
    o.flush_messages(kc);
    if kc.conf_errors() {
        return 1;
    }
    let mut no_conf_write = false;
    if sync && env("KCONFIG_NOSILENTUPDATE").is_some_and(|v| !v.is_empty()) {
        if kc.changed {
            o.err("\n*** The configuration requires explicit update.\n\n");
            return 1;
        }
        no_conf_write = true;
    }

    let prob = if mode == Mode::Rand {
        match kconfig_engine::conf::parse_probability(env("KCONFIG_PROBABILITY").as_deref()) {
            Ok(p) => p,
            Err(e) => {
                o.err(&format!("{e}\n"));
                return 1;
            }
        }
    } else {
        Default::default()
    };
    let ask = |m: AskMode, kc: &mut Kconfig, o: &mut Out| -> Result<(), i32> {
        let tty = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
        let stdin = std::io::stdin();
        let mut a = Asker::new(kc, m, Box::new(stdin.lock()), tty);
        let r = a.run();
        let (out, err) = (std::mem::take(&mut a.out), std::mem::take(&mut a.err));
        o.out(&out);
        o.err(&err);
        match r {
            Ok(()) => Ok(()),
            Err(e) => {
                o.err(&format!("\nerror: {e}\n"));
                Err(1)
            }
        }
    };
    match mode {
        Mode::AllNo => kc.set_all_new_symbols(NewSymbols::No, &mut rng, prob),
        Mode::AllYes => kc.set_all_new_symbols(NewSymbols::Yes, &mut rng, prob),
        Mode::AllMod => kc.set_all_new_symbols(NewSymbols::Mod, &mut rng, prob),
        Mode::AllDef | Mode::Def => kc.set_all_new_symbols(NewSymbols::Default, &mut rng, prob),
        Mode::Rand => kc.set_all_new_symbols(NewSymbols::Random, &mut rng, prob),
        Mode::SaveDef | Mode::OldDef => {}
        Mode::Yes2Mod => kc.rewrite_tristates(Tri::Yes, Tri::Mod),
        Mode::Mod2Yes => kc.rewrite_tristates(Tri::Mod, Tri::Yes),
        Mode::Mod2No => kc.rewrite_tristates(Tri::Mod, Tri::No),
        Mode::OldAsk | Mode::Old | Mode::Sync | Mode::ListNew | Mode::HelpNew => {
            let am = match mode {
                Mode::OldAsk => AskMode::OldAsk,
                Mode::Old => AskMode::Old,
                Mode::Sync => AskMode::Sync,
                Mode::ListNew => AskMode::ListNew,
                _ => AskMode::HelpNew,
            };
            if let Err(c) = ask(am, kc, &mut o) {
                return c;
            }
        }
    }
    o.flush_messages(kc);
    if kc.dep_errors() {
        return 1;
    }
    if mode == Mode::SaveDef {
        let f = defconfig_file.unwrap_or_default();
        let r = kc.write_defconfig(&f);
        o.flush_messages(kc);
        if r.is_err() {
            o.err(&format!("n*** Error while saving defconfig to: {f}\n\n"));
            return 1;
        }
    } else if mode != Mode::ListNew && mode != Mode::HelpNew {
        if !no_conf_write {
            let r = kc.write(None);
            o.flush_messages(kc);
            if let Err(e) = r {
                match e {
                    kconfig_engine::confdata::WriteError::EmptyName
                    | kconfig_engine::confdata::WriteError::IsDirectory(_) => {
                        o.err(&format!("{e}\n"))
                    }
                    _ => {}
                }
                o.err("\n*** Error during writing of the configuration.\n\n");
                return 1;
            }
        }
        let r = kc.write_autoconf(sync);
        o.flush_messages(kc);
        if r.is_err() && sync {
            o.err("\n*** Error during sync of the configuration.\n\n");
            return 1;
        }
    }
    0
}

fn time_seed() -> u32 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    ((now.as_secs() as u32).wrapping_add(1)).wrapping_mul(now.subsec_micros().wrapping_add(1))
}
