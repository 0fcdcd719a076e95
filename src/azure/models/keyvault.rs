//! Microsoft.KeyVault vaults (2024-11-01). Spec: `keyvault/2024-11-01/keyvault.json`.
//!
//! GET returns [`Vault`]; PUT takes [`VaultCreate`] (`VaultCreateOrUpdateParameters`); PATCH
//! takes [`VaultUpdate`] (`VaultPatchParameters`).

use serde::{Deserialize, Serialize};

use super::common::{ProvisioningState, Tags, Unmodelled, string_enum};
use super::ml::PrivateEndpointConnection;
use super::storage::DefaultAction;
use super::{ArmResource, PatchBody, PutBody};
use crate::azure::id::ResourceId;

string_enum! {
    /// `sku.name`.
    pub enum VaultSkuName {
        Standard => "standard",
        Premium => "premium",
    }
}

string_enum! {
    /// Key Vault `bypass`.
    pub enum VaultBypass {
        AzureServices => "AzureServices",
        None => "None",
    }
}

/// Vault `Sku`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VaultSku {
    /// Always `A`.
    pub family: String,
    /// `standard` | `premium`.
    pub name: VaultSkuName,
}

impl VaultSku {
    /// The standard SKU.
    pub fn standard() -> Self {
        Self {
            family: "A".into(),
            name: VaultSkuName::Standard,
        }
    }
}

/// Key Vault `NetworkRuleSet`. Read-merge-write it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultNetworkRuleSet {
    /// `AzureServices` (required by AML) | `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bypass: Option<VaultBypass>,
    /// Default action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_action: Option<DefaultAction>,
    /// IP rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_rules: Option<Vec<VaultIpRule>>,
    /// Subnet rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_network_rules: Option<Vec<VaultVirtualNetworkRule>>,
    /// Writable members not modelled here.
    #[serde(flatten)]
    pub other: Unmodelled,
}

/// Key Vault `IPRule`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VaultIpRule {
    /// IP or CIDR.
    pub value: String,
}

/// Key Vault `VirtualNetworkRule`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultVirtualNetworkRule {
    /// Subnet id (Key Vault lower-cases it in responses).
    pub id: ResourceId,
    /// Skip the service-endpoint check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_missing_vnet_service_endpoint: Option<bool>,
}

/// `AccessPolicyEntry` (prefer `enableRbacAuthorization: true`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessPolicyEntry {
    /// Tenant.
    pub tenant_id: String,
    /// Object id.
    pub object_id: String,
    /// Application id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_id: Option<String>,
    /// Permissions (`keys`, `secrets`, `certificates`, `storage`), verbatim.
    pub permissions: serde_json::Value,
}

/// `VaultProperties` (GET and PUT).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultProperties {
    /// Entra tenant.
    pub tenant_id: String,
    /// SKU.
    pub sku: VaultSku,
    /// Access policies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_policies: Option<Vec<AccessPolicyEntry>>,
    /// Vault URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault_uri: Option<String>,
    /// For VMs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled_for_deployment: Option<bool>,
    /// For disk encryption.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled_for_disk_encryption: Option<bool>,
    /// For ARM templates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled_for_template_deployment: Option<bool>,
    /// Soft delete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_soft_delete: Option<bool>,
    /// Retention.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soft_delete_retention_in_days: Option<i32>,
    /// RBAC instead of access policies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_rbac_authorization: Option<bool>,
    /// `recover` | `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_mode: Option<String>,
    /// Purge protection (cannot be turned off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_purge_protection: Option<bool>,
    /// Firewall.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_acls: Option<VaultNetworkRuleSet>,
    /// `Enabled` | `Disabled` (a plain string in this spec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_network_access: Option<String>,
    /// Returned by the service; never sent.
    #[serde(default, skip_serializing)]
    pub provisioning_state: Option<ProvisioningState>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub hsm_pool_resource_id: Option<String>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub private_endpoint_connections: Option<Vec<PrivateEndpointConnection>>,
}

impl VaultProperties {
    /// Minimal properties: tenant and SKU.
    pub fn new(tenant_id: impl Into<String>, sku: VaultSku) -> Self {
        Self {
            tenant_id: tenant_id.into(),
            sku,
            access_policies: None,
            vault_uri: None,
            enabled_for_deployment: None,
            enabled_for_disk_encryption: None,
            enabled_for_template_deployment: None,
            enable_soft_delete: None,
            soft_delete_retention_in_days: None,
            enable_rbac_authorization: None,
            create_mode: None,
            enable_purge_protection: None,
            network_acls: None,
            public_network_access: None,
            provisioning_state: None,
            hsm_pool_resource_id: None,
            private_endpoint_connections: None,
        }
    }
}

/// `Microsoft.KeyVault/vaults` as returned by GET.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Vault {
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub id: Option<ResourceId>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub name: Option<String>,
    /// Read-only.
    #[serde(default, rename = "type", skip_serializing)]
    pub resource_type: Option<String>,
    /// Region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
    /// System data.
    #[serde(default, skip_serializing)]
    pub system_data: Option<serde_json::Value>,
    /// Properties.
    pub properties: VaultProperties,
}

impl ArmResource for Vault {
    const RESOURCE_TYPE: &'static str = "Microsoft.KeyVault/vaults";
    fn provisioning_state(&self) -> Option<&ProvisioningState> {
        self.properties.provisioning_state.as_ref()
    }
    fn id(&self) -> Option<&ResourceId> {
        self.id.as_ref()
    }
}

/// `VaultCreateOrUpdateParameters` (PUT).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultCreate {
    /// Region.
    pub location: String,
    /// Tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
    /// Properties.
    pub properties: VaultProperties,
}

impl PutBody for VaultCreate {
    type Resource = Vault;
}

/// `VaultPatchParameters` (PATCH).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultUpdate {
    /// Tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
    /// Properties.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<VaultUpdateProperties>,
}

/// `VaultPatchProperties`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultUpdateProperties {
    /// Tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// SKU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<VaultSku>,
    /// RBAC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_rbac_authorization: Option<bool>,
    /// Soft delete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_soft_delete: Option<bool>,
    /// Purge protection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_purge_protection: Option<bool>,
    /// Firewall.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_acls: Option<VaultNetworkRuleSet>,
    /// `Enabled` | `Disabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_network_access: Option<String>,
}

impl PatchBody for VaultUpdate {
    type Resource = Vault;
}

