//! The integration tests of kforge-binary-cache, one binary.

mod common;
mod file_cache;
#[cfg(feature = "oracle-tests")]
mod s3;
