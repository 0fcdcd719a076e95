//! `PrivateEndpointBinding`: one private endpoint to any Azure resource, with its DNS.
//! SecureWorkspace creates one per endpoint it needs; platform teams can also use it alone.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::types::{ArmId, DeletionPolicy, DnsRecord, FindingStatus, Location, PendingOperation, ResourceStatus, SecretRef};

/// Desired state of one private endpoint and its DNS.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "moat.dev",
    version = "v1alpha1",
    kind = "PrivateEndpointBinding",
    namespaced,
    doc = "A private endpoint to an Azure resource, with its private DNS zones, VNet links and zone group.",
    status = "PrivateEndpointBindingStatus",
    derive = "PartialEq",
    shortname = "peb",
    category = "moat",
    printcolumn(name = "Group", type_ = "string", json_path = ".spec.target.groupId"),
    printcolumn(name = "Connection", type_ = "string", json_path = ".status.connectionState"),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(name = "Reason", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].reason"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = Rule::new("has(self.spec.privateEndpointName) || self.metadata.name.size() <= 80").message("metadata.name is longer than 80 characters, the longest private endpoint name Azure accepts: set spec.privateEndpointName")
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.dns.mode != 'AzurePrivateDns' || !has(self.dns.zones) || size(self.dns.zones) > 0").message("dns.zones must not be empty in AzurePrivateDns mode: omit it to use the zones for the groupId, or set dns.mode: None").field_path(".dns.zones"))]
pub struct PrivateEndpointBindingSpec {
    /// The resource the endpoint connects to, and which of its sub-resources.
    pub target: PrivateEndpointTarget,
    /// ARM id of the subnet that holds the endpoint's network interface. Immutable.
    #[x_kube(validation = Rule::new("self == oldSelf").message("subnetId is immutable: a private endpoint cannot move to another subnet; create a new binding"))]
    #[x_kube(validation = Rule::new("self.matches('(?i)/providers/Microsoft\\\\.Network/virtualNetworks/[^/]+/subnets/[^/]+$')").message("subnetId must be the id of a subnet: /subscriptions/<uuid>/resourceGroups/<rg>/providers/Microsoft.Network/virtualNetworks/<vnet>/subnets/<subnet>"))]
    pub subnet_id: ArmId,
    /// Region of the endpoint; it must be the VNet's region. Immutable.
    #[x_kube(validation = Rule::new("self == oldSelf").message("location is immutable"))]
    pub location: Location,
    /// Name of the private endpoint in Azure (default: the object's name). Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("privateEndpointName is immutable"))]
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z0-9][-\\\\w.]{0,78}[\\\\w]$')").message("privateEndpointName must be 2-80 letters, digits, underscores, periods or hyphens"))]
    #[schemars(length(max = 80))]
    pub private_endpoint_name: Option<String>,
    /// Resource group of the endpoint (default: the subnet's resource group). Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("resourceGroup is immutable"))]
    #[x_kube(validation = Rule::new("self.matches('^[-\\\\w._()]{1,90}$') && !self.endsWith('.')").message("resourceGroup must be a resource group name: 1-90 letters, digits, underscores, hyphens, periods or parentheses, not ending in a period"))]
    #[schemars(length(max = 90))]
    pub resource_group: Option<String>,
    /// DNS for the endpoint.
    #[serde(default)]
    pub dns: EndpointDnsSpec,
    /// Ask the target's owner to approve the connection instead of connecting automatically.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manual_approval: Option<ManualApproval>,
    /// Secret with the Azure credentials to use; without it moat uses its own identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_ref: Option<SecretRef>,
    /// `Delete` (default) removes the endpoint and what moat created for it; `Orphan` leaves them.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
    /// Extra tags for the Azure resources moat creates (at most 40, names up to 128 characters,
    /// values up to 256).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    #[x_kube(validation = Rule::new("self.all(k, size(k) <= 128 && !k.matches('[<>%&?/\\\\\\\\]'))").message("tags names must be at most 128 characters (Azure's limit on storage accounts) without < > % & ? / or a backslash"))]
    #[x_kube(validation = Rule::new("self.all(k, size(self[k]) <= 256)").message("tags values must be at most 256 characters (Azure's limit)"))]
    #[schemars(extend("maxProperties" = 40))]
    pub tags: std::collections::BTreeMap<String, String>,
}

/// Private-link sub-resource (groupId) of the target.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupId {
    /// Azure Machine Learning workspace.
    Amlworkspace,
    /// Storage blob service.
    Blob,
    /// Storage file service.
    File,
    /// Storage queue service.
    Queue,
    /// Storage table service.
    Table,
    /// Storage Data Lake Gen2.
    Dfs,
    /// Storage static website.
    Web,
    /// Key Vault.
    Vault,
    /// Container registry.
    Registry,
}

impl GroupId {
    pub fn as_str(&self) -> &'static str {
        match self {
            GroupId::Amlworkspace => "amlworkspace",
            GroupId::Blob => "blob",
            GroupId::File => "file",
            GroupId::Queue => "queue",
            GroupId::Table => "table",
            GroupId::Dfs => "dfs",
            GroupId::Web => "web",
            GroupId::Vault => "vault",
            GroupId::Registry => "registry",
        }
    }

    /// The ARM resource type a target of this groupId must have.
    pub fn target_type(&self) -> &'static str {
        match self {
            GroupId::Amlworkspace => "Microsoft.MachineLearningServices/workspaces",
            GroupId::Blob | GroupId::File | GroupId::Queue | GroupId::Table | GroupId::Dfs | GroupId::Web => {
                "Microsoft.Storage/storageAccounts"
            }
            GroupId::Vault => "Microsoft.KeyVault/vaults",
            GroupId::Registry => "Microsoft.ContainerRegistry/registries",
        }
    }
}

impl std::fmt::Display for GroupId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The resource a private endpoint connects to.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(
    "(self.groupId == 'amlworkspace' && self.id.matches('(?i)/providers/Microsoft\\\\.MachineLearningServices/workspaces/[^/]+$')) || (self.groupId in ['blob', 'file', 'queue', 'table', 'dfs', 'web'] && self.id.matches('(?i)/providers/Microsoft\\\\.Storage/storageAccounts/[^/]+$')) || (self.groupId == 'vault' && self.id.matches('(?i)/providers/Microsoft\\\\.KeyVault/vaults/[^/]+$')) || (self.groupId == 'registry' && self.id.matches('(?i)/providers/Microsoft\\\\.ContainerRegistry/registries/[^/]+$'))"
).message("target.groupId does not fit target.id: amlworkspace needs a Microsoft.MachineLearningServices/workspaces id; blob, file, queue, table, dfs and web a Microsoft.Storage/storageAccounts id; vault a Microsoft.KeyVault/vaults id; registry a Microsoft.ContainerRegistry/registries id").field_path(".groupId"))]
pub struct PrivateEndpointTarget {
    /// ARM id of the target resource. Immutable.
    #[x_kube(validation = Rule::new("self == oldSelf").message("target.id is immutable: create a new binding for another target"))]
    pub id: ArmId,
    /// Sub-resource of the target: amlworkspace, blob, file, queue, table, dfs, web, vault or registry. Immutable.
    #[x_kube(validation = Rule::new("self == oldSelf").message("target.groupId is immutable"))]
    pub group_id: GroupId,
}

/// How the endpoint's names resolve.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, schemars::JsonSchema)]
pub enum EndpointDnsMode {
    /// moat creates the privatelink zones (default: the ones for the groupId), links them to the
    /// endpoint's VNet and attaches a DNS zone group to the endpoint.
    #[default]
    AzurePrivateDns,
    /// No zones; status lists the host records a custom DNS server must serve.
    Custom,
    /// No DNS at all.
    None,
}

/// DNS of a private endpoint.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct EndpointDnsSpec {
    /// `AzurePrivateDns` (default), `Custom` or `None`.
    #[serde(default)]
    pub mode: EndpointDnsMode,
    /// Private DNS zone names (default: the privatelink zones documented for the groupId in the
    /// target's cloud, for example privatelink.blob.core.windows.net for blob).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 8), inner(length(max = 253)))]
    #[x_kube(validation = Rule::new("self.all(z, z.matches('^(?i)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?([.][a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)+$'))").message("dns.zones entries must be DNS zone names such as privatelink.blob.core.windows.net (labels of letters, digits and hyphens, separated by periods)"))]
    pub zones: Option<Vec<String>>,
    /// Resource group of the zones (default: the endpoint's resource group).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^[-\\\\w._()]{1,90}$') && !self.endsWith('.')").message("dns.zoneResourceGroup must be a resource group name: 1-90 letters, digits, underscores, hyphens, periods or parentheses, not ending in a period"))]
    #[schemars(length(max = 90))]
    pub zone_resource_group: Option<String>,
    /// VNets to link the zones to (default: the endpoint's own VNet).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    #[x_kube(validation = Rule::new("self.all(x, x.matches('(?i)/providers/Microsoft\\\\.Network/virtualNetworks/[^/]+$'))").message("dns.linkVnetIds entries must be ids of Microsoft.Network/virtualNetworks resources (a zone links to a VNet, not to a subnet)"))]
    pub link_vnet_ids: Vec<ArmId>,
}

/// Manual approval of the private-link connection.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ManualApproval {
    /// Message shown to the target's owner with the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 140))]
    pub request_message: Option<String>,
}

/// Observed state of a private endpoint.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PrivateEndpointBindingStatus {
    /// The generation this status describes.
    #[serde(default)]
    pub observed_generation: Option<i64>,
    /// `Ready`, `ConstraintsSatisfied`, `EndpointReady`, `DnsReady`.
    #[serde(default)]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// Constraint findings for the current spec, the related objects and the observed Azure state.
    #[serde(default)]
    pub findings: Vec<FindingStatus>,
    /// Private-link connection state: `Approved`, `Pending`, `Rejected` or `Disconnected`.
    #[serde(default)]
    pub connection_state: Option<String>,
    /// ARM id of the private endpoint.
    #[serde(default)]
    pub private_endpoint_id: Option<String>,
    /// Private IP addresses of the endpoint.
    #[serde(default)]
    pub private_ips: Vec<String>,
    /// Names the endpoint serves, with their private IPs (also the records a custom DNS server must serve).
    #[serde(default)]
    pub fqdns: Vec<DnsRecord>,
    /// Azure resources of this endpoint (endpoint, zones, links, zone group).
    #[serde(default)]
    pub resources: Vec<ResourceStatus>,
    /// Long-running operations in flight, resumed after a restart.
    #[serde(default)]
    pub operations: Vec<PendingOperation>,
}
