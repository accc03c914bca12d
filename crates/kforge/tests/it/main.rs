//! The integration tests of kforge, one binary (one link instead of one per file).

mod audit;
mod build_cmd;
mod cli_extras;
mod common;
mod compile_cache;
mod config_cmd;
mod depmod;
mod diff;
mod fragments;
mod import;
mod kconfig_front;
mod matrix;
mod menuconfig;
mod modules;
mod parse_cache;
mod probe_cache;
mod rules;
mod stdout_errors;
mod store_cmd;
mod test_cmd;
mod update;
mod update_check;
