//! Runs the constraint catalog for a reconciler and turns findings into status entries.

use std::collections::HashMap;

use serde_json::Value;

use crate::api::{ComputeSubnet, FindingStatus, PrivateEndpointBinding, SecureWorkspace};

/// Findings for a SecureWorkspace given its ComputeSubnets and what Azure returned.
pub fn workspace(_ws: &SecureWorkspace, _subnets: &[ComputeSubnet], _observed: &HashMap<String, Option<Value>>) -> Vec<FindingStatus> {
    Vec::new()
}

/// Findings for a PrivateEndpointBinding given what Azure returned (its target among them).
pub fn endpoint(_peb: &PrivateEndpointBinding, _observed: &HashMap<String, Option<Value>>) -> Vec<FindingStatus> {
    Vec::new()
}

/// Findings for a ComputeSubnet given its workspace, its sibling subnets and what Azure returned.
pub fn compute_subnet(
    _cs: &ComputeSubnet,
    _ws: &SecureWorkspace,
    _siblings: &[ComputeSubnet],
    _observed: &HashMap<String, Option<Value>>,
) -> Vec<FindingStatus> {
    Vec::new()
}
