//! Reconcilers: one controller per kind, each a staged pipeline
//! (validate -> observe -> plan -> apply -> status).

pub mod activity_feed;
pub mod arm;
pub mod azure_arm;
pub mod conditions;
pub mod context;
pub mod converge;
pub mod dag;
pub mod endpoint;
pub mod error;
pub mod progress;
pub mod resync;
pub mod run;
pub mod shared_reads;
pub mod subnet;
pub mod turns;
pub mod validation;
pub mod watch;
pub mod workers;
pub mod workspace;

pub use context::{ArmProvider, Context, Settings};
pub use error::{Error, Result};
