//! moat: a Kubernetes operator that converges a network-isolated Azure Machine Learning workspace.
#![allow(clippy::duplicated_attributes)] // kube-derive printcolumn attributes repeat `type_`
pub mod api;
pub mod azure;
pub mod cidr;
pub mod cli;
pub mod constraints;
pub mod controller;
#[cfg(feature = "emulator")]
pub mod emulator;
pub mod netcheck;
pub mod netrules;
pub mod plan;
pub mod privatelink;
pub mod runtime;
pub mod tenancy;
