//! What moat observed in Azure, as the catalog reads it. Every part is optional: offline
//! (`moat validate` without `--observed`) the catalog checks the specs alone.
//!
//! The controllers fill it from ARM GETs; `moat validate --observed FILE` reads it from YAML or
//! JSON in this shape (maps keyed by ARM id, compared case-insensitively):
//!
//! ```yaml
//! virtualNetworks:
//!   /subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.Network/virtualNetworks/<vnet>:
//!     location: westeurope
//!     addressSpace: [10.0.0.0/16]
//!     dnsServers: []
//!     subnets:
//!       - name: default
//!         addressPrefix: 10.0.0.0/24
//!         delegations: [Microsoft.ContainerInstance/containerGroups]
//!         serviceEndpoints: [Microsoft.Storage]
//!         privateEndpointNetworkPolicies: Disabled
//!         networkSecurityGroupId: /subscriptions/.../networkSecurityGroups/<nsg>
//!         routeTableId: /subscriptions/.../routeTables/<rt>
//! networkSecurityGroups:
//!   /subscriptions/.../networkSecurityGroups/<nsg>:
//!     securityRules: [{name, direction, priority, access, protocol, sourceAddressPrefix, destinationAddressPrefix, destinationPortRange}]
//! routeTables:
//!   /subscriptions/.../routeTables/<rt>:
//!     routes: [{name, addressPrefix, nextHopType, nextHopIpAddress}]
//! containerRegistries: { <id>: {sku: Premium, location: westeurope} }
//! storageAccounts: { <id>: {location: westeurope} }
//! keyVaults: { <id>: {location: westeurope} }
//! aksClusters: { <id>: {location: westeurope, privateCluster: false, subnetId: <subnet id>} }
//! ```

use crate::netrules::{ExistingRoute, ExistingSecurityRule};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Facts about Azure resources, keyed by ARM id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Observed {
    pub virtual_networks: BTreeMap<String, ObservedVnet>,
    pub network_security_groups: BTreeMap<String, ObservedNsg>,
    pub route_tables: BTreeMap<String, ObservedRouteTable>,
    pub container_registries: BTreeMap<String, ObservedRegistry>,
    pub storage_accounts: BTreeMap<String, ObservedResource>,
    pub key_vaults: BTreeMap<String, ObservedResource>,
    pub aks_clusters: BTreeMap<String, ObservedAks>,
}

/// A virtual network.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ObservedVnet {
    pub location: Option<String>,
    /// `properties.addressSpace.addressPrefixes`.
    pub address_space: Vec<String>,
    /// `properties.dhcpOptions.dnsServers`; empty means Azure-provided DNS.
    pub dns_servers: Vec<String>,
    pub subnets: Vec<ObservedSubnet>,
}

/// A subnet of an observed VNet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ObservedSubnet {
    pub name: String,
    pub address_prefix: Option<String>,
    /// ARM returns either `addressPrefix` or `addressPrefixes`.
    pub address_prefixes: Vec<String>,
    /// Service names of the delegations (`Microsoft.ContainerInstance/containerGroups`).
    pub delegations: Vec<String>,
    /// Services with a service endpoint (`Microsoft.Storage`).
    pub service_endpoints: Vec<String>,
    /// `Disabled`, `Enabled`, `NetworkSecurityGroupEnabled` or `RouteTableEnabled`.
    pub private_endpoint_network_policies: Option<String>,
    pub network_security_group_id: Option<String>,
    pub route_table_id: Option<String>,
}

impl ObservedSubnet {
    /// Every prefix of the subnet, as written.
    pub fn prefixes(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.address_prefixes.iter().map(String::as_str).collect();
        if let Some(p) = &self.address_prefix {
            v.push(p);
        }
        v
    }
}

/// A network security group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ObservedNsg {
    pub security_rules: Vec<ExistingSecurityRule>,
}

/// A route table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ObservedRouteTable {
    pub routes: Vec<ExistingRoute>,
}

/// A container registry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ObservedRegistry {
    /// `Basic`, `Standard` or `Premium`.
    pub sku: Option<String>,
    pub location: Option<String>,
}

/// A resource of which only the region matters (storage account, key vault).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ObservedResource {
    pub location: Option<String>,
}

/// An AKS cluster.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ObservedAks {
    pub location: Option<String>,
    /// `apiServerAccessProfile.enablePrivateCluster` (private link).
    pub private_cluster: bool,
    /// The subnet of its node pools.
    pub subnet_id: Option<String>,
}

fn lookup<'a, T>(map: &'a BTreeMap<String, T>, id: &str) -> Option<&'a T> {
    map.get(id).or_else(|| map.iter().find(|(k, _)| super::arm::same(k, id)).map(|(_, v)| v))
}

impl Observed {
    pub fn vnet(&self, id: &str) -> Option<&ObservedVnet> {
        lookup(&self.virtual_networks, id)
    }
    pub fn nsg(&self, id: &str) -> Option<&ObservedNsg> {
        lookup(&self.network_security_groups, id)
    }
    pub fn route_table(&self, id: &str) -> Option<&ObservedRouteTable> {
        lookup(&self.route_tables, id)
    }
    pub fn registry(&self, id: &str) -> Option<&ObservedRegistry> {
        lookup(&self.container_registries, id)
    }
    pub fn storage(&self, id: &str) -> Option<&ObservedResource> {
        lookup(&self.storage_accounts, id)
    }
    pub fn key_vault(&self, id: &str) -> Option<&ObservedResource> {
        lookup(&self.key_vaults, id)
    }
    /// The subnet of an observed VNet, by name (case-insensitive).
    pub fn subnet(&self, vnet_id: &str, name: &str) -> Option<&ObservedSubnet> {
        self.vnet(vnet_id)?.subnets.iter().find(|s| s.name.eq_ignore_ascii_case(name))
    }
    /// The subnet with this subnet id.
    pub fn subnet_by_id(&self, subnet_id: &str) -> Option<&ObservedSubnet> {
        let vnet = super::arm::vnet_of_subnet(subnet_id)?;
        self.subnet(vnet, super::arm::name(subnet_id))
    }
    /// AKS clusters whose nodes are in this subnet.
    pub fn aks_in_subnet<'a>(&'a self, subnet_id: &'a str) -> impl Iterator<Item = (&'a String, &'a ObservedAks)> + 'a {
        self.aks_clusters
            .iter()
            .filter(move |(_, a)| a.subnet_id.as_deref().is_some_and(|s| super::arm::same(s, subnet_id)))
    }
}
