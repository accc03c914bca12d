//! `kforge import`: an existing `.config` turned into the smallest
//! declaration that reproduces it from a base, checked by resolving it
//! (the logic is [`kforge_pipeline::import`]).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use crate::config_cmd;
use kforge_pipeline::import::{self, Import, Options, Target};
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

/// The error for a declaration that resolves to something else than what
/// `make olddefconfig` on the input `input` writes: the lines only one of
/// them has (at most 20 each), or that the order differs.
fn mismatch_report(imp: &Import, input: &str) -> String {
    let mut out = format!(
        "error: the imported declaration does not resolve to {input} byte for byte (after {} rounds); ",
        imp.rounds
    );
    let (missing, extra) = import::differing_lines(&imp.target, &imp.resolved);
    if missing.is_empty() && extra.is_empty() {
        out.push_str("it has the same lines in another order\n");
        return out;
    }
    out.push_str("these lines differ:\n");
    for l in missing.iter().take(20) {
        let _ = writeln!(out, "  - {l}");
    }
    for l in extra.iter().take(20) {
        let _ = writeln!(out, "  + {l}");
    }
    out.push_str("  (- after `make olddefconfig` on the input, + resolved from the requests)\n");
    out
}

/// Run the command; returns the exit code.
pub fn run(args: ImportArgs) -> i32 {
    match try_run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprint!("{}", render_error(&e, &args.arch));
            1
        }
    }
}

/// The refusals in this command's words (`--arch`), else as every command
/// words them.
fn render_error(e: &Error, arch: &str) -> String {
    match e {
        Error::ImportArchMismatch {
            config,
            header_arch: h,
            header_version: v,
            srcarch,
            ..
        } => format!(
            "error: {}: a configuration for {h} (its header says \"Linux/{h} {v}\"), but --arch {arch} builds {srcarch}; give the matching --arch\n",
            config.display()
        ),
        Error::ImportUnknownSymbols {
            config,
            unknown,
            symbols,
            kernel_version,
            ..
        } => format!(
            "error: {}: {unknown} of its {symbols} symbols are unknown to this tree: a configuration for another architecture or kernel version? (--arch {arch}, tree {kernel_version})\n",
            config.display()
        ),
        e => config_cmd::render_error(e),
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
            mismatch_report(&imp, &args.config.display().to_string())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_declaration_that_does_not_resolve_byte_for_byte_is_reported() {
        let imp = |resolved: &str, rounds| Import {
            declaration: String::new(),
            requests: 0,
            savedefconfig: 0,
            rounds,
            target: "CONFIG_A=y\n# CONFIG_B is not set\n".into(),
            resolved: resolved.into(),
        };
        let extra = imp(
            "CONFIG_A=y\n# CONFIG_B is not set\n# CONFIG_C is not set\n",
            2,
        );
        let r = mismatch_report(&extra, "vendor.config");
        assert!(
            r.starts_with("error: the imported declaration does not resolve to vendor.config byte for byte (after 2 rounds); these lines differ:\n"),
            "{r}"
        );
        assert!(r.contains("\n  + # CONFIG_C is not set\n"), "{r}");
        assert!(!r.contains("  - "), "{r}");
        let r = mismatch_report(&imp("# CONFIG_B is not set\nCONFIG_A=y\n", 1), "v");
        assert!(
            r.ends_with("it has the same lines in another order\n"),
            "{r}"
        );
    }
}
