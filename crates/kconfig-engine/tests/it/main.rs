//! The integration tests of kconfig-engine, one binary (one link instead of one per file).

mod common;
mod fixtures;
mod oracle;
mod reuse;
mod snapshot;
