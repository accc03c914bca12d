//! `kforge depmod`: kmod's depmod, same options, same files.

use std::path::PathBuf;

use clap::Args;
use depmod::generate::{Options, StdLog};

/// Generate modules.dep and the other module index files, byte-identical to
/// kmod 30's depmod (`kforge depmod -b ROOT VERSION`).
#[derive(Debug, Args)]
#[command(disable_version_flag = true)]
pub struct DepmodArgs {
    /// Probe all modules (the default when no module file is given)
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Only do the work if a module is newer than modules.dep
    #[arg(short = 'A', long = "quick")]
    pub quick: bool,
    /// Use an image of a module tree: BASEDIR/lib/modules/VERSION
    #[arg(short = 'b', long = "basedir", value_name = "BASEDIR")]
    pub basedir: Option<PathBuf>,
    /// Read configuration from PATH (file or directory; repeatable)
    #[arg(short = 'C', long = "config", value_name = "PATH")]
    pub config: Vec<PathBuf>,
    /// Use Module.symvers to check symbol versions
    #[arg(short = 'E', long = "symvers", value_name = "FILE")]
    pub symvers: Option<PathBuf>,
    /// Use System.map for the kernel's own symbols
    #[arg(short = 'F', long = "filesyms", value_name = "FILE")]
    pub filesyms: Option<PathBuf>,
    /// Report symbols no module or the kernel supplies (needs -E or -F)
    #[arg(short = 'e', long = "errsyms")]
    pub errsyms: bool,
    /// Write the text files to stdout only
    #[arg(short = 'n', long = "show", visible_alias = "dry-run")]
    pub show: bool,
    /// Architecture symbol prefix (one character)
    #[arg(short = 'P', long = "symbol-prefix", value_name = "CHAR")]
    pub symbol_prefix: Option<String>,
    /// Verbose: show each dependency found
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Warn on duplicate index entries
    #[arg(short = 'w', long = "warn")]
    pub warn: bool,
    /// Deprecated, ignored (kmod compatibility)
    #[arg(short = 'u', long = "unresolved-error", hide = true)]
    pub unresolved_error: bool,
    /// Deprecated, ignored
    #[arg(short = 'q', long = "quiet", hide = true)]
    pub quiet: bool,
    /// Deprecated, ignored
    #[arg(short = 'r', long = "root", hide = true)]
    pub root: bool,
    /// Deprecated, ignored
    #[arg(short = 'm', long = "map", hide = true)]
    pub map: bool,
    /// Print the kmod version this depmod follows
    #[arg(short = 'V', long = "version")]
    pub version_flag: bool,
    /// Threads reading modules (default: all cores)
    #[arg(short = 'j', long = "jobs", value_name = "N", default_value_t = 0)]
    pub jobs: usize,
    /// Kernel version (default: the running kernel's), then module files
    #[arg(value_name = "VERSION")]
    pub version: Option<String>,
    /// Absolute paths of modules to index instead of the whole tree
    #[arg(value_name = "MODULE")]
    pub files: Vec<PathBuf>,
}

/// Run the command; returns the exit code.
pub fn run(a: DepmodArgs) -> i32 {
    let mut log = StdLog::new(u32::from(a.verbose));
    if a.version_flag {
        outln!("kforge depmod (kmod version 30 compatible)");
        return 0;
    }
    for (set, name) in [
        (a.unresolved_error, 'u'),
        (a.quiet, 'q'),
        (a.root, 'r'),
        (a.map, 'm'),
    ] {
        if set {
            eprintln!("depmod: WARNING: Ignored deprecated option -{name}");
        }
    }
    let symbol_prefix = match a.symbol_prefix.as_deref() {
        None => None,
        Some(p) if p.len() == 1 => p.bytes().next(),
        Some(_) => {
            eprintln!("depmod: FATAL: -P only takes a single char");
            return 1;
        }
    };
    let opts = Options {
        basedir: a.basedir,
        version: a.version,
        files: if a.all { Vec::new() } else { a.files },
        quick: a.quick,
        system_map: a.filesyms,
        symvers: a.symvers,
        errsyms: a.errsyms,
        dry_run: a.show,
        warn_dups: a.warn,
        verbose: u32::from(a.verbose),
        symbol_prefix,
        config: a.config,
        jobs: a.jobs,
    };
    let ok = depmod::generate::run(&opts, &mut log).is_ok();
    if let Some(e) = &log.write_error {
        eprintln!("depmod: FATAL: could not write the -n output to standard output: {e}");
        return 1;
    }
    i32::from(!ok)
}
