//! `kforge import`: an existing `.config` turned into the smallest
//! declaration that reproduces it from a base, checked by resolving it
//! (the logic is [`kforge_pipeline::import`]).

use std::path::PathBuf;
use std::time::Instant;

use kforge_pipeline::import::{self, Options, Target};
use kforge_pipeline::Error;

/// Turn a .config into a kernel.toml with the fewest requests that
/// reproduce it from a base configuration
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The configuration to import (.config; .xz and .gz are read too)
    #[arg(value_name = "CONFIG")]
    pub config: PathBuf,
    /// The base: defconfig, tinyconfig, allnoconfig or alldefconfig
    #[arg(long, default_value = "defconfig")]
    pub base: String,
    /// The kernel source tree
    #[arg(long, value_name = "DIR")]
    pub tree: PathBuf,
    /// The architecture (the kernel's ARCH=)
    #[arg(long)]
    pub arch: String,
    /// The cross-compiler prefix (CROSS_COMPILE=)
    #[arg(long, value_name = "PREFIX")]
    pub cross_compile: Option<String>,
    /// Write the declaration here (default: standard output); an existing
    /// file is replaced only with --force
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Replace an existing output file
    #[arg(long)]
    pub force: bool,
}

/// Run the command; returns the exit code.
pub fn run(args: ImportArgs) -> i32 {
    match try_run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprint!(
                "{}",
                kforge_diagnostics::errors::error_in(&e, kforge_diagnostics::errors::Front::Flags)
            );
            1
        }
    }
}

fn try_run(args: &ImportArgs) -> Result<i32, Error> {
    let t0 = Instant::now();
    let Some(base) = import::base(&args.base) else {
        eprintln!(
            "error: --base {}: expected defconfig, tinyconfig, allnoconfig or alldefconfig",
            args.base
        );
        return Ok(1);
    };
    if let Some(out) = &args.output {
        if out.exists() && !args.force {
            eprintln!(
                "error: {} exists; give --force to replace it, or another -o",
                out.display()
            );
            return Ok(1);
        }
    }
    let target = Target::read(Options {
        config: args.config.clone(),
        base,
        tree: args.tree.clone(),
        arch: args.arch.clone(),
        cross_compile: args.cross_compile.clone(),
    })?;
    if let Some(version) = &target.written_for {
        eprintln!(
            "warning: {}: written for Linux {version}, the tree is {}: symbols that changed between them are read as olddefconfig reads them",
            args.config.display(),
            target.kernel_version
        );
    }
    let imp = target.import()?;
    if !imp.exact() {
        // Byte for byte, as the kernel's olddefconfig writes the input.
        eprint!(
            "{}",
            kforge_diagnostics::import::mismatch(&imp, &args.config.display().to_string())
        );
        return Ok(1);
    }
    match &args.output {
        Some(path) => {
            kforge_fs::write_atomic(path, imp.declaration.as_bytes()).map_err(|e| Error::Write {
                path: path.clone(),
                source: e.source,
            })?
        }
        None => out!("{}", imp.declaration),
    }
    eprintln!(
        "kforge import: {} requests on {} (savedefconfig: {} symbols); resolving them writes, byte for byte, what `make olddefconfig` writes for {} ({} rounds, {:.2}s)",
        imp.requests,
        args.base,
        imp.savedefconfig,
        args.config.display(),
        imp.rounds,
        t0.elapsed().as_secs_f64()
    );
    Ok(0)
}
