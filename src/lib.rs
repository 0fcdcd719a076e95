//! moat: a Kubernetes operator that converges a network-isolated Azure Machine Learning workspace.
pub mod api;
pub mod cidr;
pub mod cli;
pub mod constraints;
pub mod netrules;
pub mod privatelink;
