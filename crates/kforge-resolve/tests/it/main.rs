//! The integration tests of kforge-resolve, one binary (one link instead of one per file).

mod config_file;
mod fragments;
mod scenarios;
