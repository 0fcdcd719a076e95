//! `SecureWorkspace`: one network-isolated Azure Machine Learning workspace and its associated
//! resources (VNet, private-endpoint subnet, storage, key vault, container registry,
//! Application Insights, private endpoints and private DNS).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::types::{
    ArmId, Cidr, DeletionPolicy, DnsRecord, FindingStatus, Location, PendingOperation, ResourceStatus, SecretRef,
    SubscriptionId, TenantId,
};

/// Desired state of a network-isolated Azure Machine Learning workspace.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "moat.dev",
    version = "v1alpha1",
    kind = "SecureWorkspace",
    namespaced,
    doc = "A network-isolated Azure Machine Learning workspace: VNet, private endpoints, private DNS and associated resources, converged by moat.",
    status = "SecureWorkspaceStatus",
    derive = "PartialEq",
    shortname = "sws",
    category = "moat",
    printcolumn(name = "Workspace", type_ = "string", json_path = ".spec.workspace.name"),
    printcolumn(name = "Location", type_ = "string", json_path = ".spec.location"),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(name = "Reason", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].reason"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = Rule::new("self.metadata.name.size() <= 63").message("metadata.name must be at most 63 characters: it labels the PrivateEndpointBindings the workspace owns (a label value is at most 63 characters)")
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(
    "!has(self.network.vnet.addressSpace) || self.network.vnet.addressSpace.exists(a, isCIDR(a) && isCIDR(self.network.privateEndpointSubnet.addressPrefix) && cidr(a).containsCIDR(self.network.privateEndpointSubnet.addressPrefix))"
).message("network.privateEndpointSubnet.addressPrefix must lie inside one of network.vnet.addressSpace: choose a prefix inside the VNet's address space, or add a range that contains it").field_path(".network.privateEndpointSubnet.addressPrefix"))]
#[x_kube(validation = Rule::new(
    "self.containerRegistry.sku == 'Premium' || has(self.containerRegistry.id)"
).message("containerRegistry.sku must be Premium: the registry is reached only through a private endpoint, which Azure Container Registry supports on the Premium SKU only; set sku: Premium").field_path(".containerRegistry.sku"))]
pub struct SecureWorkspaceSpec {
    /// Azure subscription that holds the workspace and its resources. Immutable.
    #[x_kube(validation = Rule::new("self == oldSelf").message("subscriptionId is immutable: create a new SecureWorkspace to move to another subscription"))]
    pub subscription_id: SubscriptionId,

    /// Resource group for everything moat creates for this workspace. It must exist. Immutable.
    #[x_kube(validation = Rule::new("self == oldSelf").message("resourceGroup is immutable: create a new SecureWorkspace to use another resource group"))]
    #[x_kube(validation = Rule::new("self.matches('^[-\\\\w._()]{1,90}$') && !self.endsWith('.')").message("resourceGroup must be 1-90 letters, digits, underscores, hyphens, periods or parentheses, not ending in a period"))]
    #[schemars(length(max = 90))]
    pub resource_group: String,

    /// Azure region of the workspace, its VNet and its resources, for example `westeurope`. Immutable.
    #[x_kube(validation = Rule::new("self == oldSelf").message("location is immutable: Azure cannot move these resources between regions"))]
    pub location: Location,

    /// Microsoft Entra tenant of the key vault's access (default: the tenant of the credentials moat uses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<TenantId>,

    /// Secret with the Azure credentials to use (keys `tenantId`, `clientId`, and `clientSecret` or
    /// `federatedTokenFile`). Without it moat uses its own workload or managed identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_ref: Option<SecretRef>,

    /// `Delete` (default) removes what moat created when this object is deleted; `Orphan` leaves Azure as it is.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,

    /// The virtual network and its private-endpoint subnet.
    pub network: NetworkSpec,

    /// The Azure Machine Learning workspace.
    pub workspace: WorkspaceSpec,

    /// The workspace's default storage account.
    pub storage: StorageSpec,

    /// The workspace's key vault.
    pub key_vault: KeyVaultSpec,

    /// The workspace's container registry, always reached through a private endpoint.
    pub container_registry: ContainerRegistrySpec,

    /// The workspace's Application Insights component.
    pub application_insights: ApplicationInsightsSpec,

    /// How the associated resources (storage, key vault) are reached from the VNet.
    #[serde(default)]
    pub connectivity: ConnectivitySpec,

    /// How names of the private endpoints resolve.
    #[serde(default)]
    pub dns: DnsSpec,

    /// Extra tags for every Azure resource moat creates (at most 40, names up to 128 characters,
    /// values up to 256). moat's own ownership tags (`moat.dev_*`) win.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    #[x_kube(validation = Rule::new("self.all(k, size(k) <= 128 && !k.matches('[<>%&?/\\\\\\\\]'))").message("tags names must be at most 128 characters (Azure's limit on storage accounts) without < > % & ? / or a backslash"))]
    #[x_kube(validation = Rule::new("self.all(k, size(self[k]) <= 256)").message("tags values must be at most 256 characters (Azure's limit)"))]
    #[schemars(extend("maxProperties" = 40))]
    pub tags: std::collections::BTreeMap<String, String>,
}

/// The virtual network: created by moat (name and addressSpace) or adopted (id).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NetworkSpec {
    /// The VNet that holds the private endpoints and the compute subnets.
    pub vnet: VnetSpec,
    /// The subnet that holds the private endpoints of the workspace and its resources.
    pub private_endpoint_subnet: SubnetSpec,
}

/// A VNet to create (`name` and `addressSpace`) or to adopt (`id`).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.id) != has(self.name)").message("set exactly one of vnet.name (moat creates the VNet) or vnet.id (moat adopts an existing VNet)"))]
#[x_kube(validation = Rule::new("!has(self.name) || has(self.addressSpace)").message("vnet.addressSpace is required when moat creates the VNet (vnet.name is set): give one or more IPv4 CIDR ranges such as 10.0.0.0/16"))]
#[x_kube(validation = Rule::new(
    "!has(self.addressSpace) || self.addressSpace.all(a, self.addressSpace.all(b, a == b || !isCIDR(a) || !isCIDR(b) || !(cidr(a).containsCIDR(b) || cidr(b).containsCIDR(a))))"
).message("vnet.addressSpace ranges must not overlap: remove or shrink the overlapping range").field_path(".addressSpace"))]
pub struct VnetSpec {
    /// Name of the VNet moat creates, in the workspace's resource group. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("vnet.name is immutable"))]
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z0-9][-\\\\w.]{0,62}[\\\\w]$')").message("vnet.name must be 2-64 letters, digits, underscores, periods or hyphens, starting with a letter or digit and ending with a letter, digit or underscore"))]
    #[schemars(length(max = 64))]
    pub name: Option<String>,
    /// ARM id of an existing VNet to adopt. moat never deletes an adopted VNet. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("vnet.id is immutable"))]
    #[x_kube(validation = Rule::new("self.matches('(?i)/providers/Microsoft\\\\.Network/virtualNetworks/[^/]+$')").message("vnet.id must be the id of a Microsoft.Network/virtualNetworks resource"))]
    pub id: Option<ArmId>,
    /// Address ranges of the VNet (required when moat creates it; for an adopted VNet, optional and
    /// used only for offline validation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 16))]
    pub address_space: Option<Vec<Cidr>>,
}

/// A subnet by name and address prefix.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SubnetSpec {
    /// Subnet name. Immutable.
    #[x_kube(validation = Rule::new("self == oldSelf").message("subnet name is immutable: create another subnet instead"))]
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z0-9][-\\\\w.]{0,78}[\\\\w]$')").message("subnet name must be 2-80 letters, digits, underscores, periods or hyphens, ending with a letter, digit or underscore"))]
    #[schemars(length(max = 80))]
    pub name: String,
    /// Address prefix, inside the VNet's address space, for example `10.0.1.0/24`.
    pub address_prefix: Cidr,
}

/// Whether the workspace answers on its public endpoint.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, schemars::JsonSchema)]
pub enum PublicNetworkAccess {
    /// Reachable only through its private endpoint (recommended).
    #[default]
    Disabled,
    /// Also reachable from the internet.
    Enabled,
}

/// The Azure Machine Learning workspace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceSpec {
    /// Workspace name. Immutable.
    #[x_kube(validation = Rule::new("self == oldSelf").message("workspace.name is immutable: create a new SecureWorkspace instead"))]
    #[x_kube(validation = Rule::new("self.matches('^[a-zA-Z0-9][a-zA-Z0-9_-]{2,32}$')").message("workspace.name must be 3-33 letters, digits, underscores or hyphens, starting with a letter or digit"))]
    #[schemars(length(max = 33))]
    pub name: String,
    /// Display name shown in the studio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub friendly_name: Option<String>,
    /// `Disabled` (default): the workspace is reached only through its private endpoint.
    #[serde(default)]
    pub public_network_access: PublicNetworkAccess,
    /// Name of the compute cluster that builds Docker images. Needed for image builds when the
    /// container registry is behind the VNet, because Azure ML cannot then build images on its
    /// own; the cluster can only be created once the workspace exists, so moat converges without
    /// it and reports a Warning (REG-002) until it is named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_build_compute: Option<String>,
}

/// A storage account to create (`name`) or adopt (`id`).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.id) != has(self.name)").message("set exactly one of storage.name (moat creates the account) or storage.id (moat adopts it)"))]
pub struct StorageSpec {
    /// Name of the storage account moat creates: 3-24 lower-case letters and digits, globally unique. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("storage.name is immutable"))]
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]{3,24}$')").message("storage.name must be 3-24 lower-case letters and digits"))]
    #[schemars(length(max = 24))]
    pub name: Option<String>,
    /// ARM id of an existing storage account to adopt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('(?i)/providers/Microsoft\\\\.Storage/storageAccounts/[^/]+$')").message("storage.id must be the id of a Microsoft.Storage/storageAccounts resource"))]
    pub id: Option<ArmId>,
    /// The storage services that get a private endpoint (in PrivateEndpoint connectivity):
    /// `blob` and `file` always (the workspace's default datastores); add `queue` and `table` for
    /// batch endpoints and ParallelRunStep, `dfs` for Data Lake Storage Gen2 datastores, `web` for
    /// a static website. Default `[blob, file]`.
    #[serde(default = "default_storage_endpoints")]
    #[x_kube(validation = Rule::new("'blob' in self && 'file' in self").message("storage.privateEndpoints must include blob and file: the workspace's default datastores use both"))]
    #[x_kube(validation = Rule::new("self.all(x, self.exists_one(y, y == x))").message("storage.privateEndpoints must not list a service twice"))]
    #[schemars(length(max = 6))]
    pub private_endpoints: Vec<StorageService>,
}

fn default_storage_endpoints() -> Vec<StorageService> {
    vec![StorageService::Blob, StorageService::File]
}

/// A storage service reachable through its own private endpoint (the endpoint's groupId).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StorageService {
    /// Blob storage (datastores, artifacts): always.
    Blob,
    /// Azure Files (notebooks, code snapshots): always.
    File,
    /// Queue storage: batch endpoints and ParallelRunStep.
    Queue,
    /// Table storage: batch endpoints and ParallelRunStep.
    Table,
    /// Data Lake Storage Gen2 (hierarchical namespace datastores).
    Dfs,
    /// Static website.
    Web,
}

impl StorageService {
    /// The private-endpoint groupId of the service.
    pub fn group_id(self) -> super::GroupId {
        match self {
            StorageService::Blob => super::GroupId::Blob,
            StorageService::File => super::GroupId::File,
            StorageService::Queue => super::GroupId::Queue,
            StorageService::Table => super::GroupId::Table,
            StorageService::Dfs => super::GroupId::Dfs,
            StorageService::Web => super::GroupId::Web,
        }
    }
}

/// A key vault to create (`name`) or adopt (`id`).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.id) != has(self.name)").message("set exactly one of keyVault.name (moat creates the vault) or keyVault.id (moat adopts it)"))]
pub struct KeyVaultSpec {
    /// Name of the key vault moat creates: 3-24 letters, digits and hyphens, starting with a letter, globally unique. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("keyVault.name is immutable"))]
    #[x_kube(validation = Rule::new("self.matches('^[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$') && !self.contains('--')").message("keyVault.name must be 3-24 letters, digits and single hyphens, starting with a letter and ending with a letter or digit"))]
    #[schemars(length(max = 24))]
    pub name: Option<String>,
    /// ARM id of an existing key vault to adopt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('(?i)/providers/Microsoft\\\\.KeyVault/vaults/[^/]+$')").message("keyVault.id must be the id of a Microsoft.KeyVault/vaults resource"))]
    pub id: Option<ArmId>,
}

/// Container registry SKU.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, schemars::JsonSchema)]
pub enum RegistrySku {
    Basic,
    Standard,
    /// Required for private endpoints.
    #[default]
    Premium,
}

/// A container registry to create (`name`, `sku`) or adopt (`id`).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.id) != has(self.name)").message("set exactly one of containerRegistry.name (moat creates the registry) or containerRegistry.id (moat adopts it)"))]
pub struct ContainerRegistrySpec {
    /// Name of the registry moat creates: 5-50 letters and digits, globally unique. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("containerRegistry.name is immutable"))]
    #[x_kube(validation = Rule::new("self.matches('^[a-zA-Z0-9]{5,50}$')").message("containerRegistry.name must be 5-50 letters and digits"))]
    #[schemars(length(max = 50))]
    pub name: Option<String>,
    /// ARM id of an existing registry to adopt (its SKU is checked against Azure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('(?i)/providers/Microsoft\\\\.ContainerRegistry/registries/[^/]+$')").message("containerRegistry.id must be the id of a Microsoft.ContainerRegistry/registries resource"))]
    pub id: Option<ArmId>,
    /// SKU of a registry moat creates. Must be `Premium` (the default): private endpoints need it.
    #[serde(default)]
    pub sku: RegistrySku,
}

/// An Application Insights component to create (`name`) or adopt (`id`).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.id) != has(self.name)").message("set exactly one of applicationInsights.name (moat creates it) or applicationInsights.id (moat adopts it)"))]
pub struct ApplicationInsightsSpec {
    /// Name of the component moat creates. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("applicationInsights.name is immutable"))]
    #[x_kube(validation = Rule::new("self.matches('^[^%&\\\\\\\\?/]{1,255}$')").message("applicationInsights.name must be 1-255 characters without %, &, backslash, ? or /"))]
    #[schemars(length(max = 255))]
    pub name: Option<String>,
    /// ARM id of an existing component to adopt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('(?i)/providers/Microsoft\\\\.Insights/components/[^/]+$')").message("applicationInsights.id must be the id of a Microsoft.Insights/components resource"))]
    pub id: Option<ArmId>,
}

/// How storage and key vault are reached from the VNet.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, schemars::JsonSchema)]
pub enum ConnectivityMode {
    /// Private endpoints for storage (blob, file) and key vault (recommended).
    #[default]
    PrivateEndpoint,
    /// Service endpoints on the subnets plus virtual-network rules on the resource firewalls.
    /// The container registry keeps its private endpoint.
    ServiceEndpoint,
}

/// Connectivity of the associated resources.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ConnectivitySpec {
    /// `PrivateEndpoint` (default) or `ServiceEndpoint`.
    #[serde(default)]
    pub mode: ConnectivityMode,
    /// Let trusted Microsoft services through the storage, key vault and registry firewalls (default true).
    #[serde(default = "default_true")]
    pub allow_trusted_microsoft_services: bool,
}

impl Default for ConnectivitySpec {
    fn default() -> Self {
        Self { mode: ConnectivityMode::default(), allow_trusted_microsoft_services: true }
    }
}

fn default_true() -> bool {
    true
}

/// Who serves the private endpoints' names.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, schemars::JsonSchema)]
pub enum DnsMode {
    /// moat creates the privatelink private DNS zones, links them to the VNet and registers the records.
    #[default]
    AzurePrivateDns,
    /// moat creates no zones; status lists the host records the user's DNS server must serve.
    Custom,
}

/// DNS for the private endpoints.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct DnsSpec {
    /// `AzurePrivateDns` (default) or `Custom`.
    #[serde(default)]
    pub mode: DnsMode,
    /// Resource group for the private DNS zones (default: the workspace's resource group).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^[-\\\\w._()]{1,90}$') && !self.endsWith('.')").message("dns.zoneResourceGroup must be a resource group name: 1-90 letters, digits, underscores, hyphens, periods or parentheses, not ending in a period"))]
    #[schemars(length(max = 90))]
    pub zone_resource_group: Option<String>,
}

/// Observed state of a SecureWorkspace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SecureWorkspaceStatus {
    /// The generation this status describes.
    #[serde(default)]
    pub observed_generation: Option<i64>,
    /// `Ready`, `ConstraintsSatisfied`, `NetworkReady`, `DnsReady`, `ResourcesReady`, `PrivateEndpointsReady`.
    #[serde(default)]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// Constraint findings for the current spec and the observed Azure state.
    #[serde(default)]
    pub findings: Vec<FindingStatus>,
    /// Every Azure resource of this workspace.
    #[serde(default)]
    pub resources: Vec<ResourceStatus>,
    /// In Custom DNS mode, the host records the user's DNS server must serve.
    #[serde(default)]
    pub dns_records: Vec<DnsRecord>,
    /// Long-running operations in flight, resumed after a restart.
    #[serde(default)]
    pub operations: Vec<PendingOperation>,
    /// ARM id of the workspace once it exists.
    #[serde(default)]
    pub workspace_id: Option<String>,
}
