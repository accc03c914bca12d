//! The integration tests of kforge-tree, one binary (one link instead of one per file).

mod synthetic;
mod trees;
