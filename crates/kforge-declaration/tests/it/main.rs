//! The integration tests of kforge-declaration, one binary (one link instead of one per file).

mod common;
mod errors;
mod externals;
mod follows;
mod load;
mod store;
