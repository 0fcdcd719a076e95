//! Subcommands of the `moat` binary; `main.rs` only parses and dispatches.
pub mod crds;
pub mod graph;
pub mod output;
pub mod plan;
pub mod run;
pub mod validate;
