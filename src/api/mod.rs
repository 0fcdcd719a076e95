//! The moat API: group `moat.dev`, version `v1alpha1`.
//!
//! CRD schemas are generated from these types (`moat crds`), committed under `crds/`, and checked
//! for drift by `tests/crds.rs`.

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
