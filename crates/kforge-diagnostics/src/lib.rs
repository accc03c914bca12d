//! How kforge words what its pipeline reports: one diagnostics system for
//! every command (as ruff has one), so a request that did not hold, a
//! refused input or an update finding reads the same whichever command met
//! it. Diagnostics are rustc style: a title, the declaration's line with
//! the key underlined, notes and a help (annotate-snippets). Errors get the
//! hint that mends them in the words of the front the user came through
//! ([`errors::Front`]): its flags, or the declaration's keys.
//!
//! An internal component of kforge; its API is not stable.

pub mod audit;
pub mod cache;
pub mod errors;
pub mod import;
pub mod progress;
mod render;
pub mod resolution;
pub mod table;
pub mod update;

pub use render::{render, Level};
