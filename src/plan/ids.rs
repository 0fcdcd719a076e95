//! ARM ids of what a SecureWorkspace and its children need, built from the spec.

use crate::api::SecureWorkspaceSpec;

pub const VNET: &str = "Microsoft.Network/virtualNetworks";
pub const NSG: &str = "Microsoft.Network/networkSecurityGroups";
pub const ROUTE_TABLE: &str = "Microsoft.Network/routeTables";
pub const PRIVATE_ENDPOINT: &str = "Microsoft.Network/privateEndpoints";
pub const PRIVATE_DNS_ZONE: &str = "Microsoft.Network/privateDnsZones";
pub const STORAGE: &str = "Microsoft.Storage/storageAccounts";
pub const KEY_VAULT: &str = "Microsoft.KeyVault/vaults";
pub const REGISTRY: &str = "Microsoft.ContainerRegistry/registries";
pub const INSIGHTS: &str = "Microsoft.Insights/components";
pub const WORKSPACE: &str = "Microsoft.MachineLearningServices/workspaces";

pub fn resource_group(subscription: &str, rg: &str) -> String {
    format!("/subscriptions/{subscription}/resourceGroups/{rg}")
}

pub fn resource(subscription: &str, rg: &str, provider_type: &str, name: &str) -> String {
    format!("{}/providers/{provider_type}/{name}", resource_group(subscription, rg))
}

/// The last segment of an ARM id (the resource's name).
pub fn name_of(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or(id)
}

/// Segment after `key` (case-insensitive) in an ARM id, e.g. `subscriptions` or `resourceGroups`.
pub fn segment<'a>(id: &'a str, key: &str) -> Option<&'a str> {
    let mut it = id.split('/');
    while let Some(s) = it.next() {
        if s.eq_ignore_ascii_case(key) {
            return it.next();
        }
    }
    None
}

/// The VNet id of a subnet id.
pub fn parent_of(id: &str) -> &str {
    let trimmed = id.trim_end_matches('/');
    match trimmed.rfind('/').and_then(|i| trimmed[..i].rfind('/')) {
        Some(i) => &trimmed[..i],
        None => trimmed,
    }
}

/// Every id a SecureWorkspace's spec names or implies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkspaceIds {
    pub resource_group: String,
    pub vnet: String,
    pub pe_subnet: String,
    pub storage: String,
    pub key_vault: String,
    pub registry: String,
    pub insights: String,
    pub workspace: String,
}

impl WorkspaceIds {
    pub fn of(spec: &SecureWorkspaceSpec) -> Self {
        let sub = spec.subscription_id.as_str();
        let rg = spec.resource_group.as_str();
        let own = |t: &str, name: &Option<String>, adopted: &Option<crate::api::ArmId>| match (adopted, name) {
            (Some(id), _) => id.0.clone(),
            (None, Some(n)) => resource(sub, rg, t, n),
            (None, None) => String::new(),
        };
        let vnet = own(VNET, &spec.network.vnet.name, &spec.network.vnet.id);
        Self {
            resource_group: resource_group(sub, rg),
            pe_subnet: format!("{vnet}/subnets/{}", spec.network.private_endpoint_subnet.name),
            vnet,
            storage: own(STORAGE, &spec.storage.name, &spec.storage.id),
            key_vault: own(KEY_VAULT, &spec.key_vault.name, &spec.key_vault.id),
            registry: own(REGISTRY, &spec.container_registry.name, &spec.container_registry.id),
            insights: own(INSIGHTS, &spec.application_insights.name, &spec.application_insights.id),
            workspace: resource(sub, rg, WORKSPACE, &spec.workspace.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_and_parents() {
        let id = "/subscriptions/S/resourceGroups/RG/providers/Microsoft.Network/virtualNetworks/v/subnets/s";
        assert_eq!(segment(id, "subscriptions"), Some("S"));
        assert_eq!(segment(id, "resourcegroups"), Some("RG"));
        assert_eq!(parent_of(id), "/subscriptions/S/resourceGroups/RG/providers/Microsoft.Network/virtualNetworks/v");
        assert_eq!(name_of(id), "s");
    }
}
