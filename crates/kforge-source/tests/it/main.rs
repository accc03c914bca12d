//! The integration tests of kforge-source, one binary (one link instead of one per file).

mod common;
mod fetch;
mod patches;
mod post_patch;
mod prepare;
mod unpack;
