//! Microsoft.Network (2024-05-01): virtual networks and subnets, network security groups and
//! security rules, route tables and routes, private endpoints and private DNS zone groups.
//!
//! Spec: `network/2024-05-01/{virtualNetwork,networkSecurityGroup,routeTable}.json` and
//! `network/2024-07-01/privateEndpoint.json` (the 2024-05-01 copy is not bundled).

use std::marker::PhantomData;

use serde::{Deserialize, Serialize};

use super::common::{ProvisioningState, ResourceRef, SubResource, Tags, Unmodelled, null_default, string_enum};
use super::{PatchBody, PutBody, arm_resource, put_self};
use crate::azure::id::ResourceId;

// ---------------------------------------------------------------------------------------------
// Virtual networks

/// `Microsoft.Network/virtualNetworks`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualNetwork {
    /// Read back only.
    #[serde(default, skip_serializing)]
    pub id: Option<ResourceId>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub name: Option<String>,
    /// Read-only.
    #[serde(default, rename = "type", skip_serializing)]
    pub resource_type: Option<String>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub etag: Option<String>,
    /// Azure region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
    /// Properties.
    #[serde(default, deserialize_with = "null_default")]
    pub properties: VirtualNetworkProperties,
}

/// `VirtualNetworkPropertiesFormat`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualNetworkProperties {
    /// Address space.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_space: Option<AddressSpace>,
    /// DHCP options (custom DNS servers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dhcp_options: Option<DhcpOptions>,
    /// Subnets. A VNet PUT replaces this list; the client keeps existing subnets (see
    /// [`PutBody::keep_children`]). Manage subnets through the subnets API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnets: Option<Vec<Subnet>>,
    /// Peerings, carried over like subnets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_network_peerings: Option<Vec<VirtualNetworkPeering>>,
    /// DDoS protection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_ddos_protection: Option<bool>,
    /// VM protection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_vm_protection: Option<bool>,
    /// DDoS protection plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ddos_protection_plan: Option<SubResource>,
    /// Flow timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_timeout_in_minutes: Option<i32>,
    /// Private endpoint VNet policies (`Disabled` | `Basic`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_endpoint_v_net_policies: Option<String>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub provisioning_state: Option<ProvisioningState>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub resource_guid: Option<String>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub flow_logs: Option<Vec<serde_json::Value>>,
    /// Writable properties not modelled here (bgpCommunities, encryption, ipAllocations, ...).
    #[serde(flatten)]
    pub other: Unmodelled,
}

/// `AddressSpace`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddressSpace {
    /// CIDR prefixes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_prefixes: Option<Vec<String>>,
    /// IPAM pool allocations (kept verbatim).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipam_pool_prefix_allocations: Option<Vec<serde_json::Value>>,
}

/// `DhcpOptions`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DhcpOptions {
    /// DNS server IPs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_servers: Option<Vec<String>>,
}

/// `VirtualNetworkPeering` (carried over on VNet PUT; moat does not manage peerings).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualNetworkPeering {
    /// Resource id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<ResourceId>,
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub etag: Option<String>,
    /// Resource type.
    #[serde(default, rename = "type", skip_serializing)]
    pub resource_type: Option<String>,
    /// Properties.
    #[serde(default, deserialize_with = "null_default")]
    pub properties: VirtualNetworkPeeringProperties,
}

/// `VirtualNetworkPeeringPropertiesFormat`: the read-only members are explicit so they are
/// never sent back; everything writable is carried in `other`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualNetworkPeeringProperties {
    /// Remote VNet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_virtual_network: Option<SubResource>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub provisioning_state: Option<ProvisioningState>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub resource_guid: Option<String>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub remote_virtual_network_encryption: Option<serde_json::Value>,
    /// Writable properties (allowVirtualNetworkAccess, peeringState, ...), verbatim.
    #[serde(flatten)]
    pub other: Unmodelled,
}

arm_resource!(VirtualNetwork, "Microsoft.Network/virtualNetworks", etag, properties.provisioning_state);

impl PutBody for VirtualNetwork {
    type Resource = VirtualNetwork;
    const REPLACES_CHILDREN: bool = true;
    /// Keeps every existing subnet and peering: existing ones win (change them through the
    /// child APIs); ones only in `self` are added (creation of new subnets inline is allowed).
    fn keep_children(&mut self, current: &VirtualNetwork) {
        self.properties.subnets = merge_by_name(
            current.properties.subnets.as_deref(),
            self.properties.subnets.take(),
            |s| s.name.as_deref(),
        );
        self.properties.virtual_network_peerings = merge_by_name(
            current.properties.virtual_network_peerings.as_deref(),
            self.properties.virtual_network_peerings.take(),
            |p| p.name.as_deref(),
        );
    }
}

/// Current children first (they win), then desired ones whose name is new.
fn merge_by_name<T: Clone>(
    current: Option<&[T]>,
    desired: Option<Vec<T>>,
    name: impl Fn(&T) -> Option<&str>,
) -> Option<Vec<T>> {
    let current = current.unwrap_or_default();
    if current.is_empty() {
        return desired;
    }
    let mut out: Vec<T> = current.to_vec();
    for d in desired.unwrap_or_default() {
        let exists = name(&d).is_some_and(|n| current.iter().any(|c| name(c).is_some_and(|m| m.eq_ignore_ascii_case(n))));
        if !exists {
            out.push(d);
        }
    }
    Some(out)
}

// ---------------------------------------------------------------------------------------------
// Subnets

/// `Microsoft.Network/virtualNetworks/subnets`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subnet {
    /// Read back only.
    #[serde(default, skip_serializing)]
    pub id: Option<ResourceId>,
    /// Name (used when the subnet is inline in a VNet body).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub etag: Option<String>,
    /// Resource type (returned; never sent).
    #[serde(default, rename = "type", skip_serializing)]
    pub resource_type: Option<String>,
    /// Properties.
    #[serde(default, deserialize_with = "null_default")]
    pub properties: SubnetProperties,
}

string_enum! {
    /// `privateEndpointNetworkPolicies`.
    pub enum PrivateEndpointNetworkPolicies {
        Enabled => "Enabled",
        Disabled => "Disabled",
        NetworkSecurityGroupEnabled => "NetworkSecurityGroupEnabled",
        RouteTableEnabled => "RouteTableEnabled",
    }
}

string_enum! {
    /// `privateLinkServiceNetworkPolicies`.
    pub enum PrivateLinkServiceNetworkPolicies {
        Enabled => "Enabled",
        Disabled => "Disabled",
    }
}

/// `SubnetPropertiesFormat`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubnetProperties {
    /// Single prefix (a GET may return this or `addressPrefixes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_prefix: Option<String>,
    /// Several prefixes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_prefixes: Option<Vec<String>>,
    /// Associated NSG.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_security_group: Option<SubResource>,
    /// Associated route table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_table: Option<SubResource>,
    /// NAT gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat_gateway: Option<SubResource>,
    /// Service endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_endpoints: Option<Vec<ServiceEndpoint>>,
    /// Service endpoint policies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_endpoint_policies: Option<Vec<SubResource>>,
    /// Delegations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delegations: Option<Vec<Delegation>>,
    /// PE network policies (default `Disabled` for new subnets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_endpoint_network_policies: Option<PrivateEndpointNetworkPolicies>,
    /// Private link service network policies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_link_service_network_policies: Option<PrivateLinkServiceNetworkPolicies>,
    /// Default outbound access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_outbound_access: Option<bool>,
    /// Read-only: IP configurations using the subnet (`len()` = used addresses).
    #[serde(default, skip_serializing)]
    pub ip_configurations: Option<Vec<ResourceRef>>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub ip_configuration_profiles: Option<Vec<serde_json::Value>>,
    /// Read-only: private endpoints in the subnet.
    #[serde(default, skip_serializing)]
    pub private_endpoints: Option<Vec<ResourceRef>>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub resource_navigation_links: Option<Vec<serde_json::Value>>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub service_association_links: Option<Vec<serde_json::Value>>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub purpose: Option<String>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub provisioning_state: Option<ProvisioningState>,
    /// Writable properties not modelled here (applicationGatewayIPConfigurations, ipAllocations,
    /// sharingScope, ipamPoolPrefixAllocations, ...), kept across read-merge-write.
    #[serde(flatten)]
    pub other: Unmodelled,
}

/// `ServiceEndpointPropertiesFormat`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceEndpoint {
    /// e.g. `Microsoft.Storage`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Regions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locations: Option<Vec<String>>,
    /// Network identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_identifier: Option<SubResource>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub provisioning_state: Option<ProvisioningState>,
}

/// `Delegation`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delegation {
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Resource id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<ResourceId>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub etag: Option<String>,
    /// Resource type.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    /// Properties.
    #[serde(default, deserialize_with = "null_default")]
    pub properties: DelegationProperties,
}

/// `ServiceDelegationPropertiesFormat`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DelegationProperties {
    /// e.g. `Microsoft.ContainerInstance/containerGroups`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub actions: Option<Vec<String>>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub provisioning_state: Option<ProvisioningState>,
}

arm_resource!(Subnet, "Microsoft.Network/virtualNetworks/subnets", etag, properties.provisioning_state);
put_self!(Subnet);

impl SubnetProperties {
    /// All prefixes, whichever of `addressPrefix` / `addressPrefixes` the service returned.
    pub fn prefixes(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.address_prefix.iter().map(String::as_str).collect();
        v.extend(self.address_prefixes.iter().flatten().map(String::as_str));
        v
    }
}

// ---------------------------------------------------------------------------------------------
// Network security groups

/// `Microsoft.Network/networkSecurityGroups`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkSecurityGroup {
    /// Read back only.
    #[serde(default, skip_serializing)]
    pub id: Option<ResourceId>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub name: Option<String>,
    /// Read-only.
    #[serde(default, rename = "type", skip_serializing)]
    pub resource_type: Option<String>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub etag: Option<String>,
    /// Region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
    /// Properties.
    #[serde(default, deserialize_with = "null_default")]
    pub properties: NetworkSecurityGroupProperties,
}

/// `NetworkSecurityGroupPropertiesFormat`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkSecurityGroupProperties {
    /// Rules. A NSG PUT replaces this list; the client keeps existing rules. Manage rules as
    /// children (`securityRules/{name}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_rules: Option<Vec<SecurityRule>>,
    /// Flush connections on rule change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flush_connection: Option<bool>,
    /// Read-only: the six platform rules.
    #[serde(default, skip_serializing)]
    pub default_security_rules: Option<Vec<SecurityRule>>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub network_interfaces: Option<Vec<ResourceRef>>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub subnets: Option<Vec<ResourceRef>>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub flow_logs: Option<Vec<serde_json::Value>>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub resource_guid: Option<String>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub provisioning_state: Option<ProvisioningState>,
    /// Writable properties not modelled here.
    #[serde(flatten)]
    pub other: Unmodelled,
}

arm_resource!(NetworkSecurityGroup, "Microsoft.Network/networkSecurityGroups", etag, properties.provisioning_state);

impl PutBody for NetworkSecurityGroup {
    type Resource = NetworkSecurityGroup;
    const REPLACES_CHILDREN: bool = true;
    fn keep_children(&mut self, current: &NetworkSecurityGroup) {
        self.properties.security_rules = merge_by_name(
            current.properties.security_rules.as_deref(),
            self.properties.security_rules.take(),
            |r| r.name.as_deref(),
        );
    }
}

string_enum! {
    /// `SecurityRuleProtocol`.
    pub enum SecurityRuleProtocol {
        Tcp => "Tcp",
        Udp => "Udp",
        Icmp => "Icmp",
        Esp => "Esp",
        Any => "*",
        Ah => "Ah",
    }
}

string_enum! {
    /// `SecurityRuleAccess`.
    pub enum SecurityRuleAccess {
        Allow => "Allow",
        Deny => "Deny",
    }
}

string_enum! {
    /// `SecurityRuleDirection`.
    pub enum SecurityRuleDirection {
        Inbound => "Inbound",
        Outbound => "Outbound",
    }
}

/// `Microsoft.Network/networkSecurityGroups/securityRules`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityRule {
    /// Read back only.
    #[serde(default, skip_serializing)]
    pub id: Option<ResourceId>,
    /// Name (used when inline in an NSG body).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub etag: Option<String>,
    /// Resource type (returned; never sent).
    #[serde(default, rename = "type", skip_serializing)]
    pub resource_type: Option<String>,
    /// Properties.
    pub properties: SecurityRuleProperties,
}

/// `SecurityRulePropertiesFormat`. Singular and plural forms are mutually exclusive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityRuleProperties {
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Protocol.
    pub protocol: SecurityRuleProtocol,
    /// Source port or range, or `*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_port_range: Option<String>,
    /// Source ports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_port_ranges: Option<Vec<String>>,
    /// Destination port or range, or `*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_port_range: Option<String>,
    /// Destination ports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_port_ranges: Option<Vec<String>>,
    /// Source CIDR, `*` or service tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_address_prefix: Option<String>,
    /// Source prefixes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_address_prefixes: Option<Vec<String>>,
    /// Source application security groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_application_security_groups: Option<Vec<SubResource>>,
    /// Destination CIDR, `*` or service tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_address_prefix: Option<String>,
    /// Destination prefixes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_address_prefixes: Option<Vec<String>>,
    /// Destination application security groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_application_security_groups: Option<Vec<SubResource>>,
    /// Allow or deny.
    pub access: SecurityRuleAccess,
    /// 100..=4096, unique per direction.
    pub priority: i32,
    /// Inbound or outbound.
    pub direction: SecurityRuleDirection,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub provisioning_state: Option<ProvisioningState>,
}

impl SecurityRuleProperties {
    /// A rule with the required fields and nothing else.
    pub fn new(
        priority: i32,
        direction: SecurityRuleDirection,
        access: SecurityRuleAccess,
        protocol: SecurityRuleProtocol,
    ) -> Self {
        Self {
            description: None,
            protocol,
            source_port_range: None,
            source_port_ranges: None,
            destination_port_range: None,
            destination_port_ranges: None,
            source_address_prefix: None,
            source_address_prefixes: None,
            source_application_security_groups: None,
            destination_address_prefix: None,
            destination_address_prefixes: None,
            destination_application_security_groups: None,
            access,
            priority,
            direction,
            provisioning_state: None,
        }
    }
}

impl SecurityRule {
    /// A child-API rule body (no name: the name is in the URL).
    pub fn new(properties: SecurityRuleProperties) -> Self {
        Self {
            id: None,
            name: None,
            etag: None,
            resource_type: None,
            properties,
        }
    }
}

arm_resource!(SecurityRule, "Microsoft.Network/networkSecurityGroups/securityRules", etag, properties.provisioning_state);
put_self!(SecurityRule);

// ---------------------------------------------------------------------------------------------
// Route tables

/// `Microsoft.Network/routeTables`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteTable {
    /// Read back only.
    #[serde(default, skip_serializing)]
    pub id: Option<ResourceId>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub name: Option<String>,
    /// Read-only.
    #[serde(default, rename = "type", skip_serializing)]
    pub resource_type: Option<String>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub etag: Option<String>,
    /// Region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
    /// Properties.
    #[serde(default, deserialize_with = "null_default")]
    pub properties: RouteTableProperties,
}

/// `RouteTablePropertiesFormat`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteTableProperties {
    /// Routes. A route-table PUT replaces this list; the client keeps existing routes. Manage
    /// routes as children (`routes/{name}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routes: Option<Vec<Route>>,
    /// Disable BGP route propagation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_bgp_route_propagation: Option<bool>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub subnets: Option<Vec<ResourceRef>>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub provisioning_state: Option<ProvisioningState>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub resource_guid: Option<String>,
    /// Writable properties not modelled here.
    #[serde(flatten)]
    pub other: Unmodelled,
}

arm_resource!(RouteTable, "Microsoft.Network/routeTables", etag, properties.provisioning_state);

impl PutBody for RouteTable {
    type Resource = RouteTable;
    const REPLACES_CHILDREN: bool = true;
    fn keep_children(&mut self, current: &RouteTable) {
        self.properties.routes =
            merge_by_name(current.properties.routes.as_deref(), self.properties.routes.take(), |r| r.name.as_deref());
    }
}

string_enum! {
    /// `RouteNextHopType`.
    pub enum RouteNextHopType {
        VirtualNetworkGateway => "VirtualNetworkGateway",
        VnetLocal => "VnetLocal",
        Internet => "Internet",
        VirtualAppliance => "VirtualAppliance",
        None => "None",
    }
}

/// `Microsoft.Network/routeTables/routes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Route {
    /// Read back only.
    #[serde(default, skip_serializing)]
    pub id: Option<ResourceId>,
    /// Name (used when inline in a route-table body).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub etag: Option<String>,
    /// Resource type (returned; never sent).
    #[serde(default, rename = "type", skip_serializing)]
    pub resource_type: Option<String>,
    /// Properties.
    pub properties: RouteProperties,
}

/// `RoutePropertiesFormat`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteProperties {
    /// CIDR or service tag (e.g. `AzureMachineLearning`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_prefix: Option<String>,
    /// Next hop type (the only required property).
    pub next_hop_type: RouteNextHopType,
    /// Only with `VirtualAppliance`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_hop_ip_address: Option<String>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub provisioning_state: Option<ProvisioningState>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub has_bgp_override: Option<bool>,
}

impl Route {
    /// A child-API route body.
    pub fn new(address_prefix: impl Into<String>, next_hop_type: RouteNextHopType, next_hop_ip_address: Option<String>) -> Self {
        Self {
            id: None,
            name: None,
            etag: None,
            resource_type: None,
            properties: RouteProperties {
                address_prefix: Some(address_prefix.into()),
                next_hop_type,
                next_hop_ip_address,
                provisioning_state: None,
                has_bgp_override: None,
            },
        }
    }
}

arm_resource!(Route, "Microsoft.Network/routeTables/routes", etag, properties.provisioning_state);
put_self!(Route);

// ---------------------------------------------------------------------------------------------
// Private endpoints

/// `Microsoft.Network/privateEndpoints`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrivateEndpoint {
    /// Read back only.
    #[serde(default, skip_serializing)]
    pub id: Option<ResourceId>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub name: Option<String>,
    /// Read-only.
    #[serde(default, rename = "type", skip_serializing)]
    pub resource_type: Option<String>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub etag: Option<String>,
    /// Region (must match the VNet's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
    /// Properties.
    #[serde(default, deserialize_with = "null_default")]
    pub properties: PrivateEndpointProperties,
}

/// `PrivateEndpointProperties`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrivateEndpointProperties {
    /// The subnet the endpoint's NIC goes into.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet: Option<SubResource>,
    /// Auto-approved connections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_link_service_connections: Option<Vec<PrivateLinkServiceConnection>>,
    /// Connections the target owner must approve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manual_private_link_service_connections: Option<Vec<PrivateLinkServiceConnection>>,
    /// Custom NIC name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_network_interface_name: Option<String>,
    /// Static IP configurations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_configurations: Option<Vec<PrivateEndpointIpConfiguration>>,
    /// Application security groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_security_groups: Option<Vec<SubResource>>,
    /// FQDN → IP pairs (returned by the service; may be set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_dns_configs: Option<Vec<CustomDnsConfig>>,
    /// Read-only: the endpoint's NIC(s).
    #[serde(default, skip_serializing)]
    pub network_interfaces: Option<Vec<ResourceRef>>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub provisioning_state: Option<ProvisioningState>,
}

/// `PrivateLinkServiceConnection`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrivateLinkServiceConnection {
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Read back only.
    #[serde(default, skip_serializing)]
    pub id: Option<ResourceId>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub etag: Option<String>,
    /// Read-only.
    #[serde(default, rename = "type", skip_serializing)]
    pub resource_type: Option<String>,
    /// Properties.
    #[serde(default, deserialize_with = "null_default")]
    pub properties: PrivateLinkServiceConnectionProperties,
}

/// `PrivateLinkServiceConnectionProperties`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrivateLinkServiceConnectionProperties {
    /// The target resource (workspace, storage account, vault, registry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_link_service_id: Option<ResourceId>,
    /// Sub-resources, e.g. `["amlworkspace"]`, `["blob"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_ids: Option<Vec<String>>,
    /// Message for manual approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_message: Option<String>,
    /// Approval state (set by the service).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_link_service_connection_state: Option<PrivateLinkServiceConnectionState>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub provisioning_state: Option<ProvisioningState>,
}

/// `PrivateLinkServiceConnectionState`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrivateLinkServiceConnectionState {
    /// `Approved` | `Pending` | `Rejected` | `Disconnected`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Actions required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions_required: Option<String>,
}

/// `PrivateEndpointIPConfiguration`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrivateEndpointIpConfiguration {
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub etag: Option<String>,
    /// Read-only.
    #[serde(default, rename = "type", skip_serializing)]
    pub resource_type: Option<String>,
    /// Properties.
    #[serde(default, deserialize_with = "null_default")]
    pub properties: PrivateEndpointIpConfigurationProperties,
}

/// `PrivateEndpointIPConfigurationProperties`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PrivateEndpointIpConfigurationProperties {
    /// Group id.
    #[serde(default, rename = "groupId", skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// Member name.
    #[serde(default, rename = "memberName", skip_serializing_if = "Option::is_none")]
    pub member_name: Option<String>,
    /// Static private IP.
    #[serde(default, rename = "privateIPAddress", skip_serializing_if = "Option::is_none")]
    pub private_ip_address: Option<String>,
}

/// `CustomDnsConfigPropertiesFormat`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomDnsConfig {
    /// FQDN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fqdn: Option<String>,
    /// Private IPs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_addresses: Option<Vec<String>>,
}

arm_resource!(PrivateEndpoint, "Microsoft.Network/privateEndpoints", etag, properties.provisioning_state);
put_self!(PrivateEndpoint);

impl PrivateEndpoint {
    /// Ready = provisioned and every connection approved (azure-arm-facts.md §6).
    pub fn is_ready(&self) -> bool {
        let p = &self.properties;
        let succeeded = p.provisioning_state.as_ref().is_some_and(ProvisioningState::is_succeeded);
        let conns: Vec<&PrivateLinkServiceConnection> = p
            .private_link_service_connections
            .iter()
            .flatten()
            .chain(p.manual_private_link_service_connections.iter().flatten())
            .collect();
        succeeded
            && !conns.is_empty()
            && conns.iter().all(|c| {
                c.properties
                    .private_link_service_connection_state
                    .as_ref()
                    .and_then(|s| s.status.as_deref())
                    .is_some_and(|s| s.eq_ignore_ascii_case("Approved"))
            })
    }
}

/// `Microsoft.Network/privateEndpoints/privateDnsZoneGroups`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrivateDnsZoneGroup {
    /// Read back only.
    #[serde(default, skip_serializing)]
    pub id: Option<ResourceId>,
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub etag: Option<String>,
    /// Properties.
    #[serde(default, deserialize_with = "null_default")]
    pub properties: PrivateDnsZoneGroupProperties,
}

/// `PrivateDnsZoneGroupPropertiesFormat`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrivateDnsZoneGroupProperties {
    /// Zones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_dns_zone_configs: Option<Vec<PrivateDnsZoneConfig>>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub provisioning_state: Option<ProvisioningState>,
}

/// `PrivateDnsZoneConfig`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrivateDnsZoneConfig {
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Properties.
    #[serde(default, deserialize_with = "null_default")]
    pub properties: PrivateDnsZoneConfigProperties,
}

/// `PrivateDnsZonePropertiesFormat`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrivateDnsZoneConfigProperties {
    /// The zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_dns_zone_id: Option<ResourceId>,
    /// Read-only: the A records the platform created.
    #[serde(default, skip_serializing)]
    pub record_sets: Option<Vec<RecordSetInfo>>,
}

/// `RecordSet` (in a zone config; read-only).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordSetInfo {
    /// e.g. `A`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_type: Option<String>,
    /// Relative name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_set_name: Option<String>,
    /// FQDN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fqdn: Option<String>,
    /// State.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning_state: Option<ProvisioningState>,
    /// TTL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i64>,
    /// Addresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_addresses: Option<Vec<String>>,
}

arm_resource!(
    PrivateDnsZoneGroup,
    "Microsoft.Network/privateEndpoints/privateDnsZoneGroups",
    etag,
    properties.provisioning_state
);
put_self!(PrivateDnsZoneGroup);

// ---------------------------------------------------------------------------------------------
// Tags-only PATCH (TagsObject) for VNets, NSGs and route tables.

/// Marker for Network types whose PATCH takes only `{"tags": {...}}`.
pub trait TagsPatchable: super::ArmResource {}
impl TagsPatchable for VirtualNetwork {}
impl TagsPatchable for NetworkSecurityGroup {}
impl TagsPatchable for RouteTable {}

/// A `TagsObject` PATCH of `R`.
#[derive(Debug, Clone, Serialize)]
pub struct TagsPatch<R> {
    /// The full new tag set.
    pub tags: Tags,
    #[serde(skip)]
    _r: PhantomData<fn() -> R>,
}

impl<R> TagsPatch<R> {
    /// A PATCH replacing the tags with `tags`.
    pub fn new(tags: Tags) -> Self {
        Self { tags, _r: PhantomData }
    }
}

impl<R: TagsPatchable> PatchBody for TagsPatch<R> {
    type Resource = R;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azure::models::ArmResource;
    use serde_json::json;

    #[test]
    fn subnet_round_trip_keeps_unmodelled_and_drops_read_only() {
        let got = json!({
            "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/a",
            "name": "a", "etag": "W/\"1\"", "type": "Microsoft.Network/virtualNetworks/subnets",
            "properties": {
                "addressPrefix": "10.0.1.0/24",
                "provisioningState": "Succeeded",
                "ipConfigurations": [{"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/n/ipConfigurations/c"}],
                "purpose": "PrivateEndpoints",
                "sharingScope": "Tenant",
                "delegations": [{"name": "d", "properties": {"serviceName": "Microsoft.Web/serverFarms", "actions": ["x"], "provisioningState": "Succeeded"}}]
            }
        });
        let s: Subnet = serde_json::from_value(got).unwrap();
        assert_eq!(s.properties.ip_configurations.as_ref().map(Vec::len), Some(1));
        assert_eq!(s.provisioning_state(), Some(&ProvisioningState::Succeeded));
        assert_eq!(s.etag(), Some("W/\"1\""));
        let sent = serde_json::to_value(&s).unwrap();
        assert_eq!(
            sent,
            json!({"name": "a", "properties": {
                "addressPrefix": "10.0.1.0/24",
                "sharingScope": "Tenant",
                "delegations": [{"name": "d", "properties": {"serviceName": "Microsoft.Web/serverFarms"}}]
            }})
        );
    }

    #[test]
    fn vnet_put_keeps_existing_subnets() {
        let sub = |n: &str, p: &str| Subnet {
            name: Some(n.into()),
            properties: SubnetProperties {
                address_prefix: Some(p.into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let current = VirtualNetwork {
            properties: VirtualNetworkProperties {
                subnets: Some(vec![sub("a", "10.0.1.0/24"), sub("Foreign", "10.0.9.0/24")]),
                ..Default::default()
            },
            ..Default::default()
        };
        let mut desired = VirtualNetwork {
            properties: VirtualNetworkProperties {
                subnets: Some(vec![sub("A", "10.0.7.0/24"), sub("new", "10.0.2.0/24")]),
                ..Default::default()
            },
            ..Default::default()
        };
        desired.keep_children(&current);
        let names: Vec<_> = desired
            .properties
            .subnets
            .iter()
            .flatten()
            .map(|s| (s.name.clone().unwrap(), s.properties.address_prefix.clone().unwrap()))
            .collect();
        assert_eq!(
            names,
            vec![
                ("a".to_string(), "10.0.1.0/24".to_string()),
                ("Foreign".to_string(), "10.0.9.0/24".to_string()),
                ("new".to_string(), "10.0.2.0/24".to_string())
            ]
        );
        // Nothing desired and nothing current: the field stays absent.
        let mut empty = VirtualNetwork::default();
        empty.keep_children(&VirtualNetwork::default());
        assert!(empty.properties.subnets.is_none());
        let mut none_desired = VirtualNetwork::default();
        none_desired.keep_children(&current);
        assert_eq!(none_desired.properties.subnets.as_ref().map(Vec::len), Some(2));
    }

    #[test]
    fn private_endpoint_readiness() {
        let mut pe: PrivateEndpoint = serde_json::from_value(json!({"properties": {
            "provisioningState": "Succeeded",
            "privateLinkServiceConnections": [{"name": "c", "properties": {
                "privateLinkServiceId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/sa",
                "groupIds": ["blob"],
                "privateLinkServiceConnectionState": {"status": "Pending"}}}]}}))
        .unwrap();
        assert!(!pe.is_ready());
        pe.properties.private_link_service_connections.as_mut().unwrap()[0]
            .properties
            .private_link_service_connection_state = Some(PrivateLinkServiceConnectionState {
            status: Some("Approved".into()),
            ..Default::default()
        });
        assert!(pe.is_ready());
    }
}
