//! kforge: build Linux kernels from a declaration.

/// `print!` for the command's output: a write that fails (a full disk, a
/// closed pipe) ends the command with exit code 1 and a message, never a
/// panic or a silent success.
macro_rules! out {
    ($($t:tt)*) => { $crate::write_stdout(format!($($t)*).as_bytes()) };
}

/// [`out!`] with a newline.
macro_rules! outln {
    () => { $crate::write_stdout(b"\n") };
    ($($t:tt)*) => { $crate::write_stdout(format!("{}\n", format_args!($($t)*)).as_bytes()) };
}

mod audit_cmd;
mod build_cmd;
mod completions;
mod config_cmd;
mod depmod_cmd;
mod diff_cmd;
mod import_cmd;
mod kconfig_cmd;
mod menuconfig_cmd;
mod modules_cmd;
mod shell_cmd;
mod store_cmd;
mod test_cmd;
mod update_cmd;

use clap::{Parser, Subcommand};

/// Build Linux kernels from a declaration.
#[derive(Debug, Parser)]
#[command(name = "kforge", version)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Resolve a kernel.toml: write the .config, verify and explain every request
    Config(Box<config_cmd::ConfigArgs>),
    /// Explain a symbol: definitions, dependencies, selectors, value and why
    Explain(Box<config_cmd::ExplainArgs>),
    /// Browse and edit what a kernel.toml resolves to in a terminal UI (the
    /// keys of make menuconfig); saving writes the changes back as requests
    Menuconfig(Box<menuconfig_cmd::MenuconfigArgs>),
    /// Build the kernel a kernel.toml declares into the store; link ./result to it
    Build(Box<build_cmd::BuildArgs>),
    /// Print the build jobs of declarations × architectures × toolchains for
    /// GitHub Actions, GitLab CI or Buildkite, with store keys and cache state
    Matrix(Box<build_cmd::MatrixArgs>),
    /// Remove the store entries no result link points at; collect the probe cache
    Gc(Box<build_cmd::GcArgs>),
    /// Signing keys, and store entries pushed to and pulled from binary
    /// caches (S3, HTTP, directories)
    Store(Box<store_cmd::StoreArgs>),
    /// Compare two configurations (.config files or declarations), grouped
    /// by menu, with the reasons of a declaration's values
    Diff(Box<diff_cmd::DiffArgs>),
    /// Turn a .config into the smallest kernel.toml that reproduces it from
    /// a base configuration
    Import(Box<import_cmd::ImportArgs>),
    /// Build (through the store) and boot kernels in QEMU, run their module
    /// loaders and [test] scripts, and report
    Test(Box<test_cmd::TestArgs>),
    /// Configure a kernel tree like `make ARCH=... <target>`, without make
    Kconfig(Box<kconfig_cmd::KconfigArgs>),
    /// Follow kernel.org's releases in a lock file, and check declarations
    /// against the new versions
    Update(Box<update_cmd::UpdateArgs>),
    /// Generate modules.dep and the module index files, byte-identical to kmod's depmod
    #[command(disable_help_flag = false)]
    Depmod(Box<depmod_cmd::DepmodArgs>),
    /// A shell (or a command) in a declaration's source with its resolved
    /// .config; afterwards, what changed in it as requests (--write adds them)
    Shell(Box<shell_cmd::ShellArgs>),
    /// Module closures of a requirement, loaders that ship only them, and
    /// out-of-tree modules built against a declared kernel
    #[command(alias = "module")]
    Modules(Box<modules_cmd::ModulesArgs>),
    /// Check a configuration against hardening policies, with the engine's
    /// reasons and checked fixes
    Audit(Box<audit_cmd::AuditArgs>),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completions(completions::CompletionsArgs),
    /// Print the kforge(1) man page (roff); --dir DIR writes a page per subcommand
    Man(completions::ManArgs),
    /// Drop-in for the kernel's scripts/kconfig/conf: same options, run with
    /// the environment the kernel's Makefile exports (see `kforge conf --help`)
    #[command(disable_help_flag = true)]
    Conf {
        /// conf's own options and the Kconfig file
        #[arg(allow_hyphen_values = true, trailing_var_arg = true, num_args = 0..)]
        args: Vec<String>,
    },
}

/// A loaded tree is tens of thousands of small allocations (names, values,
/// lists); mimalloc makes and frees them faster than glibc's allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The command is done and the process exits next: leave `value` (a loaded
/// tree is some 100,000 allocations, about 4 ms to free one by one) to the
/// exit instead of freeing it.
pub(crate) fn leave_to_exit<T>(value: T) {
    std::mem::forget(value);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let argv0 = args.first().cloned().unwrap_or_else(|| "kforge".into());
    let base = std::path::Path::new(&argv0)
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Installed as scripts/kconfig/conf, behave exactly like it.
    if base == "conf" {
        std::process::exit(kforge_pipeline::conf::run_args(&argv0, &args[1..]));
    }
    // `kforge conf` takes conf's arguments verbatim (getopt, not clap).
    if args.get(1).map(String::as_str) == Some("conf") {
        std::process::exit(kforge_pipeline::conf::run_args(&argv0, &args[2..]));
    }
    let code = match Cli::parse().command {
        Cmd::Kconfig(a) => kconfig_cmd::run(*a),
        Cmd::Config(a) => config_cmd::run(*a),
        Cmd::Explain(a) => config_cmd::run_explain(*a),
        Cmd::Menuconfig(a) => menuconfig_cmd::run(*a),
        Cmd::Build(a) => build_cmd::run(*a),
        Cmd::Gc(a) => build_cmd::run_gc(*a),
        Cmd::Store(a) => store_cmd::run(*a),
        Cmd::Matrix(a) => build_cmd::run_matrix(*a),
        Cmd::Depmod(a) => depmod_cmd::run(*a),
        Cmd::Modules(a) => modules_cmd::run(*a),
        Cmd::Shell(a) => shell_cmd::run(*a),
        Cmd::Test(a) => test_cmd::run(*a),
        Cmd::Import(a) => import_cmd::run(*a),
        Cmd::Diff(a) => diff_cmd::run(*a),
        Cmd::Conf { args } => kforge_pipeline::conf::run_args(&argv0, &args),
        Cmd::Update(a) => update_cmd::run(*a),
        Cmd::Audit(a) => audit_cmd::run(*a),
        Cmd::Completions(a) => completions::run_completions(a),
        Cmd::Man(a) => completions::run_man(a),
    };
    std::process::exit(code);
}

/// Whether to show progress (downloads, unpacking): stderr is a terminal.
fn progress() -> bool {
    std::io::IsTerminal::is_terminal(&std::io::stderr())
}

/// Write the command's output; on failure say so and exit 1.
fn write_stdout(bytes: &[u8]) {
    if !try_write_stdout(bytes) {
        std::process::exit(1);
    }
}

/// Write the command's output; on failure say so and return false.
fn try_write_stdout(bytes: &[u8]) -> bool {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    match o.write_all(bytes).and_then(|()| o.flush()) {
        Ok(()) => true,
        Err(e) => {
            eprintln!("kforge: error: cannot write to standard output: {e}");
            false
        }
    }
}
