//! Microsoft.MachineLearningServices (2024-10-01): workspaces and computes.
//! Spec: `machinelearningservices/2024-10-01/{workspaceRP,machineLearningServices}.json`.

use serde::{Deserialize, Serialize};

use super::common::{ManagedServiceIdentity, ProvisioningState, Tags, lenient_id, null_default, string_enum};
use super::{ArmResource, PatchBody, PutBody};
use crate::azure::id::ResourceId;

string_enum! {
    /// `publicNetworkAccess` (workspace).
    pub enum PublicNetworkAccess {
        Enabled => "Enabled",
        Disabled => "Disabled",
    }
}

string_enum! {
    /// `managedNetwork.isolationMode`.
    pub enum IsolationMode {
        Disabled => "Disabled",
        AllowInternetOutbound => "AllowInternetOutbound",
        AllowOnlyApprovedOutbound => "AllowOnlyApprovedOutbound",
    }
}

string_enum! {
    /// `Sku.tier` (common-types v3).
    pub enum SkuTier {
        Free => "Free",
        Basic => "Basic",
        Standard => "Standard",
        Premium => "Premium",
    }
}

/// Workspace / compute SKU (common-types v3 `Sku`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sku {
    /// e.g. `Basic`.
    pub name: String,
    /// Tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<SkuTier>,
}

/// A private endpoint connection as the target resource reports it (read-only everywhere
/// moat reads it: workspace, storage, vault, registry).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrivateEndpointConnection {
    /// Id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<ResourceId>,
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Properties.
    #[serde(default, deserialize_with = "null_default")]
    pub properties: PrivateEndpointConnectionProperties,
}

/// `PrivateEndpointConnectionProperties`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrivateEndpointConnectionProperties {
    /// The endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_endpoint: Option<serde_json::Value>,
    /// Approval state: `{status, description, actionsRequired}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_link_service_connection_state: Option<super::network::PrivateLinkServiceConnectionState>,
    /// State.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning_state: Option<ProvisioningState>,
}

// ---------------------------------------------------------------------------------------------
// Workspace

/// `Microsoft.MachineLearningServices/workspaces` (GET/PUT body).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Workspace {
    /// Read-only.
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
    pub system_data: Option<serde_json::Value>,
    /// Region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
    /// Identity (system-assigned is the norm).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<ManagedServiceIdentity>,
    /// SKU (`Basic`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<Sku>,
    /// Kind (`Default`, `Hub`, `Project`, `FeatureStore`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Properties.
    #[serde(default, deserialize_with = "null_default")]
    pub properties: WorkspaceProperties,
}

/// `WorkspaceProperties`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceProperties {
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub friendly_name: Option<String>,
    /// Key Vault id (immutable after creation).
    #[serde(default, deserialize_with = "lenient_id", skip_serializing_if = "Option::is_none")]
    pub key_vault: Option<ResourceId>,
    /// Application Insights id.
    #[serde(default, deserialize_with = "lenient_id", skip_serializing_if = "Option::is_none")]
    pub application_insights: Option<ResourceId>,
    /// Container registry id.
    #[serde(default, deserialize_with = "lenient_id", skip_serializing_if = "Option::is_none")]
    pub container_registry: Option<ResourceId>,
    /// Storage account id (immutable after creation).
    #[serde(default, deserialize_with = "lenient_id", skip_serializing_if = "Option::is_none")]
    pub storage_account: Option<ResourceId>,
    /// Discovery URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery_url: Option<String>,
    /// High business impact workspace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hbi_workspace: Option<bool>,
    /// Name of the CPU cluster used for image builds (required when storage/ACR are private).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_build_compute: Option<String>,
    /// SDK-v1 property; set `publicNetworkAccess` instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_public_access_when_behind_vnet: Option<bool>,
    /// Public network access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_network_access: Option<PublicNetworkAccess>,
    /// Serverless compute placement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serverless_compute_settings: Option<ServerlessComputeSettings>,
    /// Managed network (use `Disabled` with a customer-managed VNet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_network: Option<ManagedNetworkSettings>,
    /// Primary user-assigned identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_user_assigned_identity: Option<String>,
    /// v1 legacy mode.
    #[serde(default, rename = "v1LegacyMode", skip_serializing_if = "Option::is_none")]
    pub v1_legacy_mode: Option<bool>,
    /// Data isolation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_data_isolation: Option<bool>,
    /// Read-only: GUID used in the workspace FQDNs.
    #[serde(default, skip_serializing)]
    pub workspace_id: Option<String>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub provisioning_state: Option<ProvisioningState>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub service_provisioned_resource_group: Option<String>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub private_link_count: Option<i64>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub private_endpoint_connections: Option<Vec<PrivateEndpointConnection>>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub notebook_info: Option<serde_json::Value>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub tenant_id: Option<String>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub storage_hns_enabled: Option<bool>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub ml_flow_tracking_uri: Option<String>,
}

/// `ServerlessComputeSettings`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerlessComputeSettings {
    /// Subnet for serverless compute.
    #[serde(
        default,
        rename = "serverlessComputeCustomSubnet",
        deserialize_with = "lenient_id",
        skip_serializing_if = "Option::is_none"
    )]
    pub serverless_compute_custom_subnet: Option<ResourceId>,
    /// No public IP for serverless nodes.
    #[serde(default, rename = "serverlessComputeNoPublicIP", skip_serializing_if = "Option::is_none")]
    pub serverless_compute_no_public_ip: Option<bool>,
}

/// `ManagedNetworkSettings`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedNetworkSettings {
    /// Isolation mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation_mode: Option<IsolationMode>,
    /// Outbound rules by name (kept verbatim).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound_rules: Option<serde_json::Map<String, serde_json::Value>>,
    /// Status (kept verbatim).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<serde_json::Value>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub network_id: Option<String>,
}

impl ArmResource for Workspace {
    const RESOURCE_TYPE: &'static str = "Microsoft.MachineLearningServices/workspaces";
    fn provisioning_state(&self) -> Option<&ProvisioningState> {
        self.properties.provisioning_state.as_ref()
    }
    fn id(&self) -> Option<&ResourceId> {
        self.id.as_ref()
    }
}

impl PutBody for Workspace {
    type Resource = Workspace;
}

/// `WorkspaceUpdateParameters` (PATCH).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceUpdate {
    /// Tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
    /// SKU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<Sku>,
    /// Identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<ManagedServiceIdentity>,
    /// Properties.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<WorkspaceUpdateProperties>,
}

/// `WorkspacePropertiesUpdateParameters`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceUpdateProperties {
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub friendly_name: Option<String>,
    /// Image build cluster name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_build_compute: Option<String>,
    /// Primary user-assigned identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_user_assigned_identity: Option<String>,
    /// Serverless compute placement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serverless_compute_settings: Option<ServerlessComputeSettings>,
    /// Public network access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_network_access: Option<PublicNetworkAccess>,
    /// Application Insights id.
    #[serde(default, deserialize_with = "lenient_id", skip_serializing_if = "Option::is_none")]
    pub application_insights: Option<ResourceId>,
    /// Container registry id.
    #[serde(default, deserialize_with = "lenient_id", skip_serializing_if = "Option::is_none")]
    pub container_registry: Option<ResourceId>,
    /// Managed network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_network: Option<ManagedNetworkSettings>,
    /// Data isolation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_data_isolation: Option<bool>,
    /// v1 legacy mode.
    #[serde(default, rename = "v1LegacyMode", skip_serializing_if = "Option::is_none")]
    pub v1_legacy_mode: Option<bool>,
}

impl PatchBody for WorkspaceUpdate {
    type Resource = Workspace;
}

// ---------------------------------------------------------------------------------------------
// Computes

string_enum! {
    /// `ComputeType` (the discriminator of `Compute`).
    pub enum ComputeType {
        Aks => "AKS",
        Kubernetes => "Kubernetes",
        AmlCompute => "AmlCompute",
        ComputeInstance => "ComputeInstance",
        DataFactory => "DataFactory",
        VirtualMachine => "VirtualMachine",
        HdInsight => "HDInsight",
        Databricks => "Databricks",
        DataLakeAnalytics => "DataLakeAnalytics",
        SynapseSpark => "SynapseSpark",
    }
}

/// `Microsoft.MachineLearningServices/workspaces/computes` (`ComputeResource`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComputeResource {
    /// Read-only.
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
    pub system_data: Option<serde_json::Value>,
    /// Region (same as a private-endpoint workspace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
    /// Identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<ManagedServiceIdentity>,
    /// SKU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<Sku>,
    /// The compute (discriminated by `computeType`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<Compute>,
}

/// `Compute`: common members plus type-specific `properties`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ComputeWire", into = "ComputeWire")]
pub struct Compute {
    /// Discriminator.
    pub compute_type: ComputeType,
    /// Location of the underlying compute.
    pub compute_location: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// ARM id of an attached underlying resource.
    pub resource_id: Option<ResourceId>,
    /// Disable local auth (keys).
    pub disable_local_auth: Option<bool>,
    /// Read-only.
    pub provisioning_state: Option<ProvisioningState>,
    /// Read-only.
    pub created_on: Option<String>,
    /// Read-only.
    pub modified_on: Option<String>,
    /// Read-only.
    pub provisioning_errors: Option<Vec<serde_json::Value>>,
    /// Read-only.
    pub is_attached_compute: Option<bool>,
    /// Type-specific properties.
    pub properties: ComputeProperties,
}

/// Type-specific compute properties.
#[derive(Debug, Clone, PartialEq)]
pub enum ComputeProperties {
    /// None sent or returned.
    None,
    /// `AmlComputeProperties`.
    AmlCompute(Box<AmlComputeProperties>),
    /// `ComputeInstanceProperties`.
    ComputeInstance(Box<ComputeInstanceProperties>),
    /// Another compute type, kept verbatim.
    Other(serde_json::Value),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ComputeWire {
    compute_type: ComputeType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    compute_location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(default, deserialize_with = "lenient_id", skip_serializing_if = "Option::is_none")]
    resource_id: Option<ResourceId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    disable_local_auth: Option<bool>,
    #[serde(default, skip_serializing)]
    provisioning_state: Option<ProvisioningState>,
    #[serde(default, skip_serializing)]
    created_on: Option<String>,
    #[serde(default, skip_serializing)]
    modified_on: Option<String>,
    #[serde(default, skip_serializing)]
    provisioning_errors: Option<Vec<serde_json::Value>>,
    #[serde(default, skip_serializing)]
    is_attached_compute: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    properties: Option<serde_json::Value>,
}

impl TryFrom<ComputeWire> for Compute {
    type Error = String;
    fn try_from(w: ComputeWire) -> Result<Self, Self::Error> {
        let properties = match (w.properties, &w.compute_type) {
            (None | Some(serde_json::Value::Null), _) => ComputeProperties::None,
            (Some(v), ComputeType::AmlCompute) => ComputeProperties::AmlCompute(Box::new(
                serde_json::from_value(v).map_err(|e| format!("AmlCompute properties: {e}"))?,
            )),
            (Some(v), ComputeType::ComputeInstance) => ComputeProperties::ComputeInstance(Box::new(
                serde_json::from_value(v).map_err(|e| format!("ComputeInstance properties: {e}"))?,
            )),
            (Some(v), _) => ComputeProperties::Other(v),
        };
        Ok(Compute {
            compute_type: w.compute_type,
            compute_location: w.compute_location,
            description: w.description,
            resource_id: w.resource_id,
            disable_local_auth: w.disable_local_auth,
            provisioning_state: w.provisioning_state,
            created_on: w.created_on,
            modified_on: w.modified_on,
            provisioning_errors: w.provisioning_errors,
            is_attached_compute: w.is_attached_compute,
            properties,
        })
    }
}

impl From<Compute> for ComputeWire {
    fn from(c: Compute) -> Self {
        let properties = match c.properties {
            ComputeProperties::None => None,
            // Serializing these plain data structs cannot fail; fall back to None defensively.
            ComputeProperties::AmlCompute(p) => serde_json::to_value(p).ok(),
            ComputeProperties::ComputeInstance(p) => serde_json::to_value(p).ok(),
            ComputeProperties::Other(v) => Some(v),
        };
        ComputeWire {
            compute_type: c.compute_type,
            compute_location: c.compute_location,
            description: c.description,
            resource_id: c.resource_id,
            disable_local_auth: c.disable_local_auth,
            provisioning_state: c.provisioning_state,
            created_on: c.created_on,
            modified_on: c.modified_on,
            provisioning_errors: c.provisioning_errors,
            is_attached_compute: c.is_attached_compute,
            properties,
        }
    }
}

impl Compute {
    /// An `AmlCompute` cluster body.
    pub fn aml_compute(properties: AmlComputeProperties) -> Self {
        Self::with(ComputeType::AmlCompute, ComputeProperties::AmlCompute(Box::new(properties)))
    }

    /// A `ComputeInstance` body.
    pub fn compute_instance(properties: ComputeInstanceProperties) -> Self {
        Self::with(ComputeType::ComputeInstance, ComputeProperties::ComputeInstance(Box::new(properties)))
    }

    fn with(compute_type: ComputeType, properties: ComputeProperties) -> Self {
        Self {
            compute_type,
            compute_location: None,
            description: None,
            resource_id: None,
            disable_local_auth: None,
            provisioning_state: None,
            created_on: None,
            modified_on: None,
            provisioning_errors: None,
            is_attached_compute: None,
            properties,
        }
    }
}

string_enum! {
    /// `vmPriority`.
    pub enum VmPriority {
        Dedicated => "Dedicated",
        LowPriority => "LowPriority",
    }
}

string_enum! {
    /// `osType`.
    pub enum OsType {
        Linux => "Linux",
        Windows => "Windows",
    }
}

string_enum! {
    /// `remoteLoginPortPublicAccess`.
    pub enum RemoteLoginPortPublicAccess {
        Enabled => "Enabled",
        Disabled => "Disabled",
        NotSpecified => "NotSpecified",
    }
}

/// `AmlComputeProperties` (the inner `properties` of an AmlCompute).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AmlComputeProperties {
    /// OS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_type: Option<OsType>,
    /// VM size, e.g. `STANDARD_DS3_V2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm_size: Option<String>,
    /// Priority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm_priority: Option<VmPriority>,
    /// Custom image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_machine_image: Option<SubResourceId>,
    /// Isolated network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolated_network: Option<bool>,
    /// Scale settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_settings: Option<ScaleSettings>,
    /// Admin credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_account_credentials: Option<UserAccountCredentials>,
    /// The subnet the nodes join (the ML spec types this as a free-form string id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet: Option<SubResourceId>,
    /// SSH port public access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_login_port_public_access: Option<RemoteLoginPortPublicAccess>,
    /// `false` = no public IP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_node_public_ip: Option<bool>,
    /// Property bag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property_bag: Option<serde_json::Value>,
    /// Read-only: `Steady` | `Resizing`.
    #[serde(default, skip_serializing)]
    pub allocation_state: Option<String>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub allocation_state_transition_time: Option<String>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub errors: Option<Vec<serde_json::Value>>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub current_node_count: Option<i64>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub target_node_count: Option<i64>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub node_state_counts: Option<serde_json::Value>,
}

/// `ResourceId` object of the ML spec (`{"id": ...}` where `id` is any string; the service
/// echoes back whatever was sent, so it is not parsed strictly).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubResourceId {
    /// The id.
    pub id: String,
}

impl SubResourceId {
    /// The id as a parsed [`ResourceId`].
    pub fn resource_id(&self) -> Result<ResourceId, crate::azure::id::ResourceIdError> {
        ResourceId::parse(&self.id)
    }
}

impl From<ResourceId> for SubResourceId {
    fn from(id: ResourceId) -> Self {
        Self { id: id.to_string() }
    }
}

/// `ScaleSettings`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaleSettings {
    /// Max nodes.
    pub max_node_count: i32,
    /// Min nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_node_count: Option<i32>,
    /// ISO-8601 duration, e.g. `PT120S`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_idle_time_before_scale_down: Option<String>,
}

/// `UserAccountCredentials`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserAccountCredentials {
    /// Admin user.
    pub admin_user_name: String,
    /// SSH public key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_user_ssh_public_key: Option<String>,
    /// Password (never logged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_user_password: Option<String>,
}

impl std::fmt::Debug for UserAccountCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserAccountCredentials")
            .field("admin_user_name", &self.admin_user_name)
            .field("admin_user_ssh_public_key", &self.admin_user_ssh_public_key)
            .field("admin_user_password", &self.admin_user_password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

string_enum! {
    /// `applicationSharingPolicy`.
    pub enum ApplicationSharingPolicy {
        Personal => "Personal",
        Shared => "Shared",
    }
}

/// `ComputeInstanceProperties` (subset moat sets, plus the state it reads).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComputeInstanceProperties {
    /// VM size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm_size: Option<String>,
    /// Subnet (a free-form string id in the ML spec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet: Option<SubResourceId>,
    /// Sharing policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_sharing_policy: Option<ApplicationSharingPolicy>,
    /// SSH settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_settings: Option<ComputeInstanceSshSettings>,
    /// `personal`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compute_instance_authorization_type: Option<String>,
    /// Assigned user (verbatim).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personal_compute_instance_settings: Option<serde_json::Value>,
    /// `false` = no public IP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_node_public_ip: Option<bool>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub state: Option<String>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub errors: Option<Vec<serde_json::Value>>,
}

/// `ComputeInstanceSshSettings`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComputeInstanceSshSettings {
    /// `Enabled` | `Disabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_public_access: Option<String>,
    /// Admin public key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_public_key: Option<String>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub admin_user_name: Option<String>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub ssh_port: Option<i64>,
}

impl ArmResource for ComputeResource {
    const RESOURCE_TYPE: &'static str = "Microsoft.MachineLearningServices/workspaces/computes";
    fn provisioning_state(&self) -> Option<&ProvisioningState> {
        self.properties.as_ref().and_then(|p| p.provisioning_state.as_ref())
    }
    fn id(&self) -> Option<&ResourceId> {
        self.id.as_ref()
    }
}

impl PutBody for ComputeResource {
    type Resource = ComputeResource;
}

impl ComputeResource {
    /// The AmlCompute properties, if this is an AmlCompute.
    pub fn aml_compute(&self) -> Option<&AmlComputeProperties> {
        match self.properties.as_ref().map(|p| &p.properties) {
            Some(ComputeProperties::AmlCompute(p)) => Some(p),
            _ => None,
        }
    }
}

/// `ClusterUpdateParameters` (PATCH; only scale settings can change).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterUpdate {
    /// `{"properties": {"scaleSettings": ...}}`.
    pub properties: ClusterUpdateProperties,
}

/// `ClusterUpdateProperties`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterUpdateProperties {
    /// `ScaleSettingsInformation`.
    pub properties: ScaleSettingsInformation,
}

/// `ScaleSettingsInformation`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaleSettingsInformation {
    /// New scale settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_settings: Option<ScaleSettings>,
}

impl ClusterUpdate {
    /// A PATCH changing the scale settings.
    pub fn scale(settings: ScaleSettings) -> Self {
        Self {
            properties: ClusterUpdateProperties {
                properties: ScaleSettingsInformation {
                    scale_settings: Some(settings),
                },
            },
        }
    }
}

impl PatchBody for ClusterUpdate {
    type Resource = ComputeResource;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compute_discriminator_round_trips() {
        let v = json!({"location": "eastus", "properties": {
            "computeType": "AmlCompute", "disableLocalAuth": true, "provisioningState": "Creating",
            "properties": {"vmSize": "STANDARD_DS3_V2", "scaleSettings": {"minNodeCount": 0, "maxNodeCount": 4},
                "subnet": {"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/c"},
                "enableNodePublicIp": false, "currentNodeCount": 0, "allocationState": "Steady"}}});
        let c: ComputeResource = serde_json::from_value(v).unwrap();
        let aml = c.aml_compute().unwrap();
        assert_eq!(aml.scale_settings.as_ref().unwrap().max_node_count, 4);
        assert_eq!(c.provisioning_state(), Some(&ProvisioningState::Creating));
        let sent = serde_json::to_value(&c).unwrap();
        assert_eq!(
            sent,
            json!({"location": "eastus", "properties": {"computeType": "AmlCompute", "disableLocalAuth": true,
                "properties": {"vmSize": "STANDARD_DS3_V2", "scaleSettings": {"minNodeCount": 0, "maxNodeCount": 4},
                "subnet": {"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/c"},
                "enableNodePublicIp": false}}})
        );
        let aks: ComputeResource =
            serde_json::from_value(json!({"properties": {"computeType": "AKS", "properties": {"agentCount": 3}}})).unwrap();
        assert!(matches!(aks.properties.unwrap().properties, ComputeProperties::Other(_)));
    }

    #[test]
    fn credentials_are_redacted_in_debug() {
        let c = UserAccountCredentials {
            admin_user_name: "azureuser".into(),
            admin_user_ssh_public_key: None,
            admin_user_password: Some("hunter2".into()),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
