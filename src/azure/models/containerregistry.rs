//! Microsoft.ContainerRegistry registries (2023-07-01).
//! Spec: `containerregistry/2023-07-01/containerregistry.json`. Premium is required for private
//! link; `networkRuleSet` has only `defaultAction` and `ipRules` in this version.

use serde::{Deserialize, Serialize};

use super::common::{ProvisioningState, Tags, Unmodelled, string_enum};
use super::ml::PrivateEndpointConnection;
use super::storage::DefaultAction;
use super::{ArmResource, PatchBody, PutBody};
use crate::azure::id::ResourceId;

string_enum! {
    /// Registry `SkuName`.
    pub enum RegistrySkuName {
        Classic => "Classic",
        Basic => "Basic",
        Standard => "Standard",
        Premium => "Premium",
    }
}

string_enum! {
    /// Registry `publicNetworkAccess` / `zoneRedundancy` values.
    pub enum EnabledDisabled {
        Enabled => "Enabled",
        Disabled => "Disabled",
    }
}

string_enum! {
    /// `networkRuleBypassOptions`.
    pub enum NetworkRuleBypassOptions {
        AzureServices => "AzureServices",
        None => "None",
    }
}

string_enum! {
    /// Registry identity type (note the space in the combined value, unlike common-types).
    pub enum RegistryIdentityType {
        SystemAssigned => "SystemAssigned",
        UserAssigned => "UserAssigned",
        SystemAssignedUserAssigned => "SystemAssigned, UserAssigned",
        None => "None",
    }
}

/// Registry `Sku`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrySku {
    /// SKU name.
    pub name: RegistrySkuName,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub tier: Option<String>,
}

impl From<RegistrySkuName> for RegistrySku {
    fn from(name: RegistrySkuName) -> Self {
        Self { name, tier: None }
    }
}

/// Registry `IdentityProperties`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryIdentity {
    /// Type.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub identity_type: Option<RegistryIdentityType>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub principal_id: Option<String>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub tenant_id: Option<String>,
    /// User-assigned identities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_assigned_identities: Option<std::collections::BTreeMap<String, super::common::UserAssignedIdentity>>,
}

/// Registry `NetworkRuleSet`. Read-merge-write it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryNetworkRuleSet {
    /// Default action.
    pub default_action: DefaultAction,
    /// IP rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_rules: Option<Vec<RegistryIpRule>>,
    /// Writable members not modelled here.
    #[serde(flatten)]
    pub other: Unmodelled,
}

/// Registry `IPRule`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryIpRule {
    /// `Allow`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// IP or CIDR.
    pub value: String,
}

/// `Microsoft.ContainerRegistry/registries` (GET and PUT body).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Registry {
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
    pub location: String,
    /// Tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
    /// SKU (Premium for private link).
    pub sku: RegistrySku,
    /// Identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<RegistryIdentity>,
    /// Properties.
    #[serde(default)]
    pub properties: RegistryProperties,
}

/// `RegistryProperties`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryProperties {
    /// Admin user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_user_enabled: Option<bool>,
    /// Firewall.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_rule_set: Option<RegistryNetworkRuleSet>,
    /// Policies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policies: Option<RegistryPolicies>,
    /// Encryption.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<RegistryEncryption>,
    /// Dedicated data endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_endpoint_enabled: Option<bool>,
    /// Public network access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_network_access: Option<EnabledDisabled>,
    /// Trusted-services bypass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_rule_bypass_options: Option<NetworkRuleBypassOptions>,
    /// Zone redundancy (create only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone_redundancy: Option<EnabledDisabled>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub login_server: Option<String>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub creation_date: Option<String>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub provisioning_state: Option<ProvisioningState>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub status: Option<serde_json::Value>,
    /// Read-only: `<acr>.<region>.data.azurecr.io`.
    #[serde(default, skip_serializing)]
    pub data_endpoint_host_names: Option<Vec<String>>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub private_endpoint_connections: Option<Vec<PrivateEndpointConnection>>,
}

/// A `{"status": "enabled" | "disabled"}` policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusPolicy {
    /// `enabled` | `disabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// `TrustPolicy`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustPolicy {
    /// `Notary`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub policy_type: Option<String>,
    /// `enabled` | `disabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// `RetentionPolicy`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetentionPolicy {
    /// Days to keep untagged manifests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<i32>,
    /// `enabled` | `disabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub last_updated_time: Option<String>,
}

/// Registry `Policies`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryPolicies {
    /// Quarantine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantine_policy: Option<StatusPolicy>,
    /// Content trust.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_policy: Option<TrustPolicy>,
    /// Retention.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_policy: Option<RetentionPolicy>,
    /// Export (disable to stop data exfiltration through import/export).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export_policy: Option<StatusPolicy>,
}

/// Registry `EncryptionProperty`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryEncryption {
    /// `enabled` | `disabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Customer-managed key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_vault_properties: Option<RegistryKeyVaultProperties>,
}

/// Registry `KeyVaultProperties`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryKeyVaultProperties {
    /// Key URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_identifier: Option<String>,
    /// Identity client id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub versioned_key_identifier: Option<String>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub key_rotation_enabled: Option<bool>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub last_key_rotation_timestamp: Option<String>,
}

impl Registry {
    /// A registry body.
    pub fn new(location: impl Into<String>, sku: RegistrySkuName, properties: RegistryProperties) -> Self {
        Self {
            id: None,
            name: None,
            resource_type: None,
            system_data: None,
            location: location.into(),
            tags: None,
            sku: sku.into(),
            identity: None,
            properties,
        }
    }
}

impl ArmResource for Registry {
    const RESOURCE_TYPE: &'static str = "Microsoft.ContainerRegistry/registries";
    fn provisioning_state(&self) -> Option<&ProvisioningState> {
        self.properties.provisioning_state.as_ref()
    }
    fn id(&self) -> Option<&ResourceId> {
        self.id.as_ref()
    }
}

impl PutBody for Registry {
    type Resource = Registry;
}

/// `RegistryUpdateParameters` (PATCH).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryUpdate {
    /// Identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<RegistryIdentity>,
    /// Tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
    /// SKU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<RegistrySku>,
    /// Properties.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<RegistryUpdateProperties>,
}

/// `RegistryPropertiesUpdateParameters`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryUpdateProperties {
    /// Admin user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_user_enabled: Option<bool>,
    /// Firewall.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_rule_set: Option<RegistryNetworkRuleSet>,
    /// Policies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policies: Option<RegistryPolicies>,
    /// Data endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_endpoint_enabled: Option<bool>,
    /// Public network access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_network_access: Option<EnabledDisabled>,
    /// Trusted-services bypass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_rule_bypass_options: Option<NetworkRuleBypassOptions>,
}

impl PatchBody for RegistryUpdate {
    type Resource = Registry;
}
