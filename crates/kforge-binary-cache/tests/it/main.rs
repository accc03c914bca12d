//! The integration tests of kforge-binary-cache, one binary.

mod common;
mod file_cache;
mod s3;
