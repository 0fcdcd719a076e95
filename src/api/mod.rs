//! The moat API: group `moat.dev`, version `v1alpha1`.
//!
//! CRD schemas are generated from these types (`moat crds`), committed under `crds/`, and checked
//! for drift by `tests/crds.rs`.
//!
//! Status fields are always serialized, an empty one as `null` or `[]`: moat writes status with
//! JSON merge patches, in which an omitted key keeps the value the apiserver holds, so a field
//! that empties (a connection state once the endpoint is gone, the namespaces a policy no longer
//! selects) would go on showing its last value.

pub mod azure_scope_policy;
pub mod compute_subnet;
pub mod private_endpoint_binding;
pub mod secure_workspace;
pub mod types;

pub use azure_scope_policy::*;
pub use compute_subnet::*;
pub use private_endpoint_binding::*;
pub use secure_workspace::*;
pub use types::*;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// API group of every moat CRD.
pub const GROUP: &str = "moat.dev";

/// Every CRD moat serves, in a stable order.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![SecureWorkspace::crd(), PrivateEndpointBinding::crd(), ComputeSubnet::crd(), AzureScopePolicy::crd()]
}

/// All CRDs as one multi-document YAML stream, as `moat crds` prints and `crds/` holds.
pub fn crds_yaml() -> Result<String, serde_saphyr::ser::Error> {
    let mut out = String::new();
    for crd in crds() {
        out.push_str("---\n");
        out.push_str(&serde_saphyr::to_string(&crd)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The status properties of a CRD's schema.
    fn status_properties(crd: &CustomResourceDefinition) -> Vec<String> {
        let schema = crd.spec.versions[0].schema.as_ref().and_then(|s| s.open_api_v3_schema.as_ref()).expect("a schema");
        let status = schema.properties.as_ref().and_then(|p| p.get("status")).expect("a status");
        let mut keys: Vec<String> = status.properties.as_ref().expect("status properties").keys().cloned().collect();
        keys.sort();
        keys
    }

    fn keys(status: serde_json::Value) -> Vec<String> {
        let mut keys: Vec<String> = status.as_object().expect("an object").keys().cloned().collect();
        keys.sort();
        keys
    }

    #[test]
    fn an_empty_status_field_is_sent_so_that_a_merge_patch_clears_it() {
        let written = [
            (SecureWorkspace::crd(), serde_json::to_value(SecureWorkspaceStatus::default())),
            (PrivateEndpointBinding::crd(), serde_json::to_value(PrivateEndpointBindingStatus::default())),
            (ComputeSubnet::crd(), serde_json::to_value(ComputeSubnetStatus::default())),
            (AzureScopePolicy::crd(), serde_json::to_value(AzureScopePolicyStatus::default())),
        ];
        for (crd, status) in written {
            let status = status.expect("a status serializes");
            assert_eq!(keys(status), status_properties(&crd), "{}: every status field is written, empty ones too", crd.spec.names.kind);
        }
        // And the apiserver reads them back as empty.
        let back: PrivateEndpointBindingStatus = serde_json::from_value(serde_json::json!({"connectionState": null, "privateEndpointId": null})).expect("nulls read");
        assert_eq!(back, PrivateEndpointBindingStatus::default());
    }
}
