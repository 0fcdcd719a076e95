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

/// Parents whose writes ARM runs one at a time, with their children's: a write while another
/// runs is refused with 409 `AnotherOperationInProgress` (azure-arm-facts.md §2.2, §4.4).
const SERIALISED_PARENTS: [&str; 5] = [VNET, NSG, ROUTE_TABLE, PRIVATE_ENDPOINT, PRIVATE_DNS_ZONE];

/// The top-level resource a write to `id` must wait its turn on (the id itself for a parent,
/// the parent for a child: a subnet's VNet, a rule's NSG, a VNet link's zone), if its type is
/// one ARM serialises.
pub fn serialised_parent(id: &str) -> Option<String> {
    let segs: Vec<&str> = id.trim_matches('/').split('/').collect();
    // subscriptions/{s}/resourceGroups/{rg}/providers/{ns}/{type}/{name}
    if segs.len() < 8 || !segs[0].eq_ignore_ascii_case("subscriptions") || !segs[4].eq_ignore_ascii_case("providers") {
        return None;
    }
    let ty = format!("{}/{}", segs[5], segs[6]);
    SERIALISED_PARENTS.iter().any(|t| t.eq_ignore_ascii_case(&ty)).then(|| format!("/{}", segs[..8].join("/")))
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

    #[test]
    fn writes_wait_on_their_top_level_network_parent() {
        let rg = "/subscriptions/s/resourceGroups/rg/providers";
        let vnet = format!("{rg}/Microsoft.Network/virtualNetworks/v");
        assert_eq!(serialised_parent(&vnet).as_deref(), Some(vnet.as_str()));
        assert_eq!(serialised_parent(&format!("{vnet}/subnets/a")).as_deref(), Some(vnet.as_str()));
        let zone = format!("{rg}/Microsoft.Network/privateDnsZones/privatelink.blob.core.windows.net");
        assert_eq!(serialised_parent(&format!("{zone}/virtualNetworkLinks/moat-v")).as_deref(), Some(zone.as_str()));
        let pe = format!("{rg}/microsoft.network/privateEndpoints/pe");
        assert_eq!(serialised_parent(&format!("{pe}/privateDnsZoneGroups/default")).as_deref(), Some(pe.as_str()));
        assert_eq!(serialised_parent(&format!("{rg}/Microsoft.Storage/storageAccounts/st")), None);
        assert_eq!(serialised_parent("/subscriptions/s/resourceGroups/rg"), None);
        assert_eq!(serialised_parent("not an id"), None);
    }
}
