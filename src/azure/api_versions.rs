//! The one place where api-versions are chosen (azure-arm-facts.md §1).
//!
//! Every typed model gets its api-version from [`lookup`] at compile time through
//! [`crate::azure::ArmResource::API_VERSION`]; a model whose type is missing here fails to
//! compile. [`for_type`] serves the same table at run time (e.g. to resume a saved operation).

/// (resource type, api-version). Types are compared ASCII-case-insensitively.
pub const TABLE: &[(&str, &str)] = &[
    // One version for every Microsoft.Network type keeps network.json's shared definitions consistent.
    ("Microsoft.Network/virtualNetworks", NETWORK),
    ("Microsoft.Network/virtualNetworks/subnets", NETWORK),
    ("Microsoft.Network/networkSecurityGroups", NETWORK),
    ("Microsoft.Network/networkSecurityGroups/securityRules", NETWORK),
    ("Microsoft.Network/routeTables", NETWORK),
    ("Microsoft.Network/routeTables/routes", NETWORK),
    ("Microsoft.Network/privateEndpoints", NETWORK),
    ("Microsoft.Network/privateEndpoints/privateDnsZoneGroups", NETWORK),
    ("Microsoft.Network/privateDnsZones", PRIVATE_DNS),
    ("Microsoft.Network/privateDnsZones/virtualNetworkLinks", PRIVATE_DNS),
    ("Microsoft.Network/privateDnsZones/A", PRIVATE_DNS),
    ("Microsoft.MachineLearningServices/workspaces", MACHINE_LEARNING),
    ("Microsoft.MachineLearningServices/workspaces/computes", MACHINE_LEARNING),
    ("Microsoft.Storage/storageAccounts", STORAGE),
    ("Microsoft.KeyVault/vaults", KEY_VAULT),
    ("Microsoft.ContainerRegistry/registries", CONTAINER_REGISTRY),
    ("Microsoft.Insights/components", APPLICATION_INSIGHTS),
    ("Microsoft.Resources/resourceGroups", RESOURCES),
];

/// Microsoft.Network (VNets, subnets, NSGs, route tables, private endpoints).
pub const NETWORK: &str = "2024-05-01";
/// Microsoft.Network private DNS zones (separate spec folder `privatedns`).
pub const PRIVATE_DNS: &str = "2024-06-01";
/// Microsoft.MachineLearningServices.
pub const MACHINE_LEARNING: &str = "2024-10-01";
/// Microsoft.Storage.
pub const STORAGE: &str = "2023-05-01";
/// Microsoft.KeyVault.
pub const KEY_VAULT: &str = "2024-11-01";
/// Microsoft.ContainerRegistry.
pub const CONTAINER_REGISTRY: &str = "2023-07-01";
/// Microsoft.Insights components. Not in azure-arm-facts.md §1 and no spec is bundled under
/// shared/azure-specs; 2020-02-02 is the long-standing GA version of `components_API.json`.
pub const APPLICATION_INSIGHTS: &str = "2020-02-02";
/// Microsoft.Resources (resource groups).
pub const RESOURCES: &str = "2021-04-01";

const fn eq_ignore_ascii_case(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if !a[i].eq_ignore_ascii_case(&b[i]) {
            return false;
        }
        i += 1;
    }
    true
}

/// The api-version for `resource_type`, or `None` if moat does not manage that type.
pub const fn for_type(resource_type: &str) -> Option<&'static str> {
    let mut i = 0;
    while i < TABLE.len() {
        if eq_ignore_ascii_case(TABLE[i].0, resource_type) {
            return Some(TABLE[i].1);
        }
        i += 1;
    }
    None
}

/// Compile-time lookup; a type that is not in [`TABLE`] is a build error where it is used.
pub const fn lookup(resource_type: &str) -> &'static str {
    match for_type(resource_type) {
        Some(v) => v,
        None => panic!("resource type missing from azure::api_versions::TABLE"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_lookup() {
        assert_eq!(for_type("microsoft.network/VIRTUALNETWORKS/subnets"), Some("2024-05-01"));
        assert_eq!(for_type("Microsoft.Web/sites"), None);
        const V: &str = lookup("Microsoft.Storage/storageAccounts");
        assert_eq!(V, "2023-05-01");
        let mut seen = std::collections::HashSet::new();
        for (t, v) in TABLE {
            assert!(seen.insert(t.to_ascii_lowercase()), "duplicate {t}");
            assert_eq!(v.len(), 10, "{t} -> {v}");
        }
    }
}
