//! moat: a Kubernetes operator that converges a network-isolated Azure Machine Learning workspace.
#![allow(clippy::duplicated_attributes)] // kube-derive printcolumn attributes repeat `type_`
pub mod api;
pub mod cli;
pub mod controller;
pub mod plan;
