//! `ComputeSubnet`: a subnet for Azure Machine Learning compute in a SecureWorkspace's VNet, with
//! the network security group rules and routes its purpose needs.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::types::{AddressWithPrefix, ArmId, Cidr, FindingStatus, Ipv4, LocalObjectRef, PendingOperation, PortRange, ResourceStatus};

/// Desired state of a compute subnet.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "moat.dev",
    version = "v1alpha1",
    kind = "ComputeSubnet",
    namespaced,
    doc = "A subnet for Azure Machine Learning compute, with the NSG rules and routes its purpose needs.",
    status = "ComputeSubnetStatus",
    derive = "PartialEq",
    shortname = "csn",
    category = "moat",
    printcolumn(name = "Purpose", type_ = "string", json_path = ".spec.purpose"),
    printcolumn(name = "Prefix", type_ = "string", json_path = ".spec.addressPrefix"),
    printcolumn(name = "Usable", type_ = "integer", json_path = ".status.usableIps"),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(name = "Reason", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].reason"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("(has(self.nsg) && (has(self.nsg.name) || has(self.nsg.id))) || size(self.name) <= 76").message("name is longer than 76 characters, so the default NSG name <name>-nsg would pass Azure's 80: set nsg.name").field_path(".nsg"))]
#[x_kube(validation = Rule::new("!has(self.forcedTunneling) || has(self.forcedTunneling.routeTableName) || has(self.forcedTunneling.routeTableId) || size(self.name) <= 77").message("name is longer than 77 characters, so the default route table name <name>-rt would pass Azure's 80: set forcedTunneling.routeTableName").field_path(".forcedTunneling"))]
#[x_kube(validation = Rule::new("!has(self.aks) || self.purpose == 'Inference'").message("aks is only for purpose Inference (an AKS cluster): remove aks or set purpose: Inference").field_path(".aks"))]
#[x_kube(validation = Rule::new(
    "!has(self.aks) || !isCIDR(self.aks.serviceCidr) || !isCIDR(self.addressPrefix) || !(cidr(self.aks.serviceCidr).containsCIDR(self.addressPrefix) || cidr(self.addressPrefix).containsCIDR(self.aks.serviceCidr))"
).message("aks.serviceCidr must not overlap addressPrefix: Kubernetes service addresses must not be used by the cluster's subnet; pick a range outside the VNet such as 10.250.0.0/16").field_path(".aks.serviceCidr"))]
#[x_kube(validation = Rule::new(
    "!has(self.aks) || !has(self.aks.dockerBridgeCidr) || !isCIDR(self.aks.dockerBridgeCidr) || !isCIDR(self.addressPrefix) || !(cidr(self.aks.dockerBridgeCidr).masked().containsCIDR(self.addressPrefix) || cidr(self.addressPrefix).containsCIDR(cidr(self.aks.dockerBridgeCidr).masked()))"
).message("aks.dockerBridgeCidr must not overlap addressPrefix: pick a bridge address outside the subnet, such as 172.17.0.1/16").field_path(".aks.dockerBridgeCidr"))]
pub struct ComputeSubnetSpec {
    /// The SecureWorkspace, in the same namespace, whose VNet and workspace this subnet serves. Immutable.
    #[x_kube(validation = Rule::new("self == oldSelf").message("workspaceRef is immutable: create a new ComputeSubnet for another workspace"))]
    pub workspace_ref: LocalObjectRef,
    /// ARM id of the VNet to put the subnet in (default: the workspace's VNet). It must be in the
    /// workspace's region and subscription. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("vnetId is immutable"))]
    #[x_kube(validation = Rule::new("self.matches('(?i)/providers/Microsoft\\\\.Network/virtualNetworks/[^/]+$')").message("vnetId must be the id of a Microsoft.Network/virtualNetworks resource"))]
    pub vnet_id: Option<ArmId>,
    /// Subnet name. Immutable.
    #[x_kube(validation = Rule::new("self == oldSelf").message("name is immutable: create another ComputeSubnet instead"))]
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z0-9][-\\\\w.]{0,78}[\\\\w]$')").message("name must be 2-80 letters, digits, underscores, periods or hyphens, ending with a letter, digit or underscore"))]
    #[schemars(length(max = 80))]
    pub name: String,
    /// Address prefix inside the VNet's address space, sized for `expectedNodes` (Azure keeps 5 addresses of every subnet).
    pub address_prefix: Cidr,
    /// What runs in the subnet; it decides the NSG rules, delegation and checks.
    pub purpose: ComputePurpose,
    /// How many nodes (or instances, or AKS nodes and pods for kubenet-less CNI) the subnet must hold.
    #[serde(default)]
    #[schemars(range(min = 0, max = 100000))]
    pub expected_nodes: i32,
    /// The network security group of the subnet.
    #[serde(default)]
    pub nsg: NsgSpec,
    /// Outbound traffic policy.
    #[serde(default)]
    pub outbound: OutboundSpec,
    /// Route table for forced tunneling: routes for the BatchNodeManagement and AzureMachineLearning
    /// service tags with next hop Internet, so their answers do not go through the firewall.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forced_tunneling: Option<ForcedTunnelingSpec>,
    /// Kubernetes network settings for purpose Inference (AKS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aks: Option<AksNetworkSpec>,
}

/// What runs in a compute subnet.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, schemars::JsonSchema)]
pub enum ComputePurpose {
    /// Azure ML compute clusters.
    Training,
    /// Azure ML compute instances.
    ComputeInstance,
    /// Azure Kubernetes Service for inference.
    Inference,
    /// Azure Container Instances (the subnet is delegated to Microsoft.ContainerInstance/containerGroups).
    ContainerInstances,
    /// Azure Databricks (the subnet is delegated to Microsoft.Databricks/workspaces).
    Databricks,
}

impl ComputePurpose {
    pub fn as_str(&self) -> &'static str {
        match self {
            ComputePurpose::Training => "Training",
            ComputePurpose::ComputeInstance => "ComputeInstance",
            ComputePurpose::Inference => "Inference",
            ComputePurpose::ContainerInstances => "ContainerInstances",
            ComputePurpose::Databricks => "Databricks",
        }
    }
}

/// The subnet's network security group: created by moat (`name`, default `<subnet>-nsg`) or adopted (`id`).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!(has(self.id) && has(self.name))").message("set at most one of nsg.name (moat creates the NSG) or nsg.id (moat adopts it and adds only its own rules)"))]
pub struct NsgSpec {
    /// Name of the NSG moat creates (default `<subnet name>-nsg`). Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("nsg.name is immutable"))]
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z0-9][-\\\\w.]{0,78}[\\\\w]$')").message("nsg.name must be 2-80 letters, digits, underscores, periods or hyphens"))]
    #[schemars(length(max = 80))]
    pub name: Option<String>,
    /// ARM id of an existing NSG to adopt. moat adds its rules (named `moat-*`) and keeps everyone else's. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("nsg.id is immutable"))]
    #[x_kube(validation = Rule::new("self.matches('(?i)/providers/Microsoft\\\\.Network/networkSecurityGroups/[^/]+$')").message("nsg.id must be the id of a Microsoft.Network/networkSecurityGroups resource"))]
    pub id: Option<ArmId>,
    /// Sources allowed to reach port 22 (SSH) on the nodes: IPv4 CIDRs or addresses. Empty: no SSH rule.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub ssh_from: Vec<Cidr>,
}

/// Outbound policy.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, schemars::JsonSchema)]
pub enum OutboundMode {
    /// Azure's default outbound rules stay (internet allowed).
    #[default]
    Internet,
    /// Outbound only to the service tags Azure ML needs; everything else to the internet is denied.
    Restricted,
}

/// Outbound traffic of the subnet.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct OutboundSpec {
    /// `Internet` (default) or `Restricted`.
    #[serde(default)]
    pub mode: OutboundMode,
    /// Extra outbound allow rules, added after the required ones.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    #[x_kube(validation = Rule::new("self.all(r, self.exists_one(o, o.name == r.name))").message("outbound.extraRules names must be unique"))]
    pub extra_rules: Vec<OutboundRule>,
}

/// Transport protocol of a rule.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, schemars::JsonSchema)]
pub enum RuleProtocol {
    #[default]
    Tcp,
    Udp,
    /// Any protocol.
    Any,
}

/// One extra outbound allow rule.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OutboundRule {
    /// Rule name suffix; the NSG rule is named `moat-out-<name>`.
    #[x_kube(validation = Rule::new("self.matches('^[a-zA-Z0-9][a-zA-Z0-9-]{0,40}$')").message("extraRules[].name must be 1-41 letters, digits or hyphens"))]
    #[schemars(length(max = 41))]
    pub name: String,
    /// Destination: a service tag such as `AzureMonitor` or `Storage.westeurope`, or an IPv4 CIDR.
    #[x_kube(validation = Rule::new("isCIDR(self) || isIP(self) || self.matches('^[A-Za-z][A-Za-z0-9]*(\\\\.[A-Za-z0-9]+)?$')").message("extraRules[].destination must be a service tag (such as AzureMonitor or Storage.westeurope), an IPv4 address or a CIDR"))]
    #[schemars(length(max = 64))]
    pub destination: String,
    /// Destination ports: numbers or ranges such as `443` or `8000-8100`; `*` for all.
    #[schemars(length(min = 1, max = 16))]
    pub ports: Vec<PortRange>,
    /// `Tcp` (default), `Udp` or `Any`.
    #[serde(default)]
    pub protocol: RuleProtocol,
}

/// Forced tunneling: the route table of the subnet.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!(has(self.routeTableId) && has(self.routeTableName))").message("set at most one of forcedTunneling.routeTableName (moat creates it) or forcedTunneling.routeTableId (moat adopts it)"))]
pub struct ForcedTunnelingSpec {
    /// Name of the route table moat creates (default `<subnet name>-rt`). Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("forcedTunneling.routeTableName is immutable"))]
    #[schemars(length(max = 80))]
    pub route_table_name: Option<String>,
    /// ARM id of an existing route table to adopt; moat adds its routes (named `moat-*`) and keeps the rest. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("forcedTunneling.routeTableId is immutable"))]
    #[x_kube(validation = Rule::new("self.matches('(?i)/providers/Microsoft\\\\.Network/routeTables/[^/]+$')").message("forcedTunneling.routeTableId must be the id of a Microsoft.Network/routeTables resource"))]
    pub route_table_id: Option<ArmId>,
    /// Private IP of the firewall or appliance that receives all other traffic (a 0.0.0.0/0 route
    /// with next hop VirtualAppliance). Omit when the default route is managed elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firewall_ip: Option<Ipv4>,
}

/// Kubernetes networking of an AKS inference cluster.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!isCIDR(self.serviceCidr) || !isIP(self.dnsServiceIP) || cidr(self.serviceCidr).containsIP(self.dnsServiceIP)").message("aks.dnsServiceIP must lie inside aks.serviceCidr: pick an address in the service range, such as its .10 address").field_path(".dnsServiceIP"))]
#[x_kube(validation = Rule::new(
    "!has(self.dockerBridgeCidr) || !isCIDR(self.serviceCidr) || !isCIDR(self.dockerBridgeCidr) || !(cidr(self.serviceCidr).containsCIDR(cidr(self.dockerBridgeCidr).masked()) || cidr(self.dockerBridgeCidr).masked().containsCIDR(self.serviceCidr))"
).message("aks.dockerBridgeCidr must not overlap aks.serviceCidr: pick a bridge range outside the service range").field_path(".dockerBridgeCidr"))]
pub struct AksNetworkSpec {
    /// Kubernetes service address range; must not overlap any subnet of the VNet.
    pub service_cidr: Cidr,
    /// The cluster DNS service address, inside serviceCidr.
    #[serde(rename = "dnsServiceIP")]
    pub dns_service_ip: Ipv4,
    /// The Docker bridge's address with its prefix length, as AKS takes it (for example
    /// `172.17.0.1/16`, Microsoft's own example); its network must not overlap the subnet, the
    /// VNet's other subnets or serviceCidr (default bridge: 172.17.0.1/16).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_bridge_cidr: Option<AddressWithPrefix>,
}

/// One NSG rule as moat renders it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RenderedRule {
    pub name: String,
    /// `Inbound` or `Outbound`.
    pub direction: String,
    pub priority: i32,
    /// `Allow` or `Deny`.
    pub access: String,
    pub protocol: String,
    pub source: String,
    pub destination: String,
    pub destination_ports: Vec<String>,
}

/// One route as moat renders it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RenderedRoute {
    pub name: String,
    /// CIDR or service tag.
    pub address_prefix: String,
    /// `Internet`, `VirtualAppliance`, ...
    pub next_hop_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_hop_ip_address: Option<String>,
}

/// Observed state of a compute subnet.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ComputeSubnetStatus {
    /// The generation this status describes.
    #[serde(default)]
    pub observed_generation: Option<i64>,
    /// `Ready`, `ConstraintsSatisfied`, `SubnetReady`, `NsgReady`, `RoutesReady`.
    #[serde(default)]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// Constraint findings.
    #[serde(default)]
    pub findings: Vec<FindingStatus>,
    /// Addresses usable for nodes: the prefix size minus the 5 Azure reserves.
    #[serde(default)]
    pub usable_ips: Option<i64>,
    /// ARM id of the subnet.
    #[serde(default)]
    pub subnet_id: Option<String>,
    /// The NSG rules moat manages on the subnet's NSG.
    #[serde(default)]
    pub nsg_rules: Vec<RenderedRule>,
    /// The routes moat manages on the subnet's route table.
    #[serde(default)]
    pub routes: Vec<RenderedRoute>,
    /// Azure resources of this subnet (subnet, NSG, route table).
    #[serde(default)]
    pub resources: Vec<ResourceStatus>,
    /// Long-running operations in flight, resumed after a restart.
    #[serde(default)]
    pub operations: Vec<PendingOperation>,
}
