//! moat: a Kubernetes operator that converges a network-isolated Azure Machine Learning workspace.
pub mod api;
pub mod azure;
#[cfg(feature = "emulator")]
pub mod emulator;
