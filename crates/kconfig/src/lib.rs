//! A Kconfig engine: reads a Linux kernel's Kconfig tree and computes the same
//! configuration files as the kernel's own `scripts/kconfig/conf`.

pub mod diag;
pub mod preprocess;
