//! Azure Resource Manager client (issue #4, client half).
//!
//! - [`ResourceId`]: parse / build / compare ARM ids case-insensitively, keeping the casing.
//! - [`ArmClient`]: typed GET / PUT / PATCH / DELETE with long-running operations, retries,
//!   per-subscription concurrency bounds, per-parent write serialisation and read-merge-write.
//! - [`models`]: request and response bodies per resource family; one api-version per type in
//!   [`api_versions`].
//! - [`TokenSource`]: azure_identity credentials for Azure, [`StaticToken`] for the emulator.
//! - [`AzureCloud`]: endpoints per cloud (public, US Government, China, custom).
//! - [`ExtraTrust`]: CA certificates trusted beside the system's (a private cloud, the emulator).
//! - [`pacing`]: the client-side limiter that keeps moat under ARM's request limits.
//! - `spec_check` (feature `emulator`): checks JSON bodies against the bundled OpenAPI specs.

pub mod activity;
pub mod api_versions;
pub mod auth;
pub mod client;
pub mod cloud;
pub mod error;
pub mod id;
pub mod locks;
pub mod lro;
pub mod models;
pub mod observe;
pub mod pacing;
pub mod retry;
#[cfg(feature = "emulator")]
pub mod spec_check;
pub mod time;
pub mod trust;

pub use auth::{AzureIdentityToken, CredentialConfig, Secret, StaticToken, TokenSource};
pub use client::{ArmClient, ArmClientConfig, ClientStats, Conditions, RateLimitSnapshot};
pub use cloud::AzureCloud;
pub use error::{ArmError, ArmErrorBody, Result};
pub use id::{ResourceId, ResourceIdError};
pub use lro::{LroOperation, LroPolicy, LroToken, PollStatus, PollUrlKind, Submitted};
pub use observe::{ArmObserver, ObserverHandle};
pub use models::{ArmResource, PatchBody, ProvisioningState, PutBody};
pub use retry::{RetryAfterBounds, RetryPolicy};
pub use time::{RecordingSleeper, Sleeper, TokioSleeper};
pub use trust::{ExtraTrust, TrustError};
