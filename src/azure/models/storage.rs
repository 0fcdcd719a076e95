//! Microsoft.Storage storage accounts (2023-05-01). Spec: `storage/2023-05-01/storage.json`.
//!
//! The GET model ([`StorageAccount`]), the create body ([`StorageAccountCreate`], PUT, answered
//! with 202 + `Location`) and the update body ([`StorageAccountUpdate`], PATCH) differ in the
//! spec, so they are three types. Firewall changes go through PATCH with a read-merge-write of
//! [`NetworkRuleSet`] so rules moat does not own survive.

use serde::{Deserialize, Serialize};

use super::common::{ManagedServiceIdentity, ProvisioningState, Tags, Unmodelled, null_default, string_enum};
use super::ml::PrivateEndpointConnection;
use super::{ArmResource, PatchBody, PutBody};
use crate::azure::id::ResourceId;

string_enum! {
    /// `SkuName`.
    pub enum StorageSkuName {
        StandardLrs => "Standard_LRS",
        StandardGrs => "Standard_GRS",
        StandardRagrs => "Standard_RAGRS",
        StandardZrs => "Standard_ZRS",
        PremiumLrs => "Premium_LRS",
        PremiumZrs => "Premium_ZRS",
        StandardGzrs => "Standard_GZRS",
        StandardRagzrs => "Standard_RAGZRS",
    }
}

string_enum! {
    /// Storage `Kind`.
    pub enum StorageKind {
        Storage => "Storage",
        StorageV2 => "StorageV2",
        BlobStorage => "BlobStorage",
        FileStorage => "FileStorage",
        BlockBlobStorage => "BlockBlobStorage",
    }
}

string_enum! {
    /// Storage `publicNetworkAccess`.
    pub enum StoragePublicNetworkAccess {
        Enabled => "Enabled",
        Disabled => "Disabled",
        SecuredByPerimeter => "SecuredByPerimeter",
    }
}

string_enum! {
    /// `minimumTlsVersion`.
    pub enum MinimumTlsVersion {
        Tls1_0 => "TLS1_0",
        Tls1_1 => "TLS1_1",
        Tls1_2 => "TLS1_2",
        Tls1_3 => "TLS1_3",
    }
}

string_enum! {
    /// Firewall default action (Storage and Key Vault).
    pub enum DefaultAction {
        Allow => "Allow",
        Deny => "Deny",
    }
}

string_enum! {
    /// `accessTier`.
    pub enum AccessTier {
        Hot => "Hot",
        Cool => "Cool",
        Premium => "Premium",
        Cold => "Cold",
    }
}

/// Storage `Sku`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StorageSku {
    /// SKU name.
    pub name: StorageSkuName,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub tier: Option<String>,
}

impl From<StorageSkuName> for StorageSku {
    fn from(name: StorageSkuName) -> Self {
        Self { name, tier: None }
    }
}

/// `NetworkRuleSet` (storage firewall). Read-merge-write it: change only the rules moat owns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkRuleSet {
    /// Comma-separated flags: `None`, `Logging`, `Metrics`, `AzureServices`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bypass: Option<String>,
    /// Resource-instance rules (e.g. the AML workspace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_access_rules: Option<Vec<ResourceAccessRule>>,
    /// Subnet rules (the subnet needs the `Microsoft.Storage` service endpoint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_network_rules: Option<Vec<StorageVirtualNetworkRule>>,
    /// IP rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_rules: Option<Vec<StorageIpRule>>,
    /// Default action.
    pub default_action: DefaultAction,
    /// Writable members not modelled here.
    #[serde(flatten)]
    pub other: Unmodelled,
}

impl NetworkRuleSet {
    /// A rule set with only `defaultAction`.
    pub fn new(default_action: DefaultAction) -> Self {
        Self {
            bypass: None,
            resource_access_rules: None,
            virtual_network_rules: None,
            ip_rules: None,
            default_action,
            other: Unmodelled::new(),
        }
    }
}

/// `ResourceAccessRule`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceAccessRule {
    /// Tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Resource (may contain `*` wildcards, so kept as a string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
}

/// Storage `VirtualNetworkRule`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageVirtualNetworkRule {
    /// Subnet id.
    pub id: ResourceId,
    /// `Allow`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// State (returned by the service).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

/// Storage `IPRule`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageIpRule {
    /// IP or CIDR.
    pub value: String,
    /// `Allow`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

/// `Microsoft.Storage/storageAccounts` as returned by GET.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StorageAccount {
    /// Id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<ResourceId>,
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Type.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    /// Region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
    /// SKU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<StorageSku>,
    /// Kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<StorageKind>,
    /// Identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<ManagedServiceIdentity>,
    /// Properties.
    #[serde(default, deserialize_with = "null_default")]
    pub properties: StorageAccountProperties,
}

/// `StorageAccountProperties` (the members moat reads).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StorageAccountProperties {
    /// `Creating` | `ResolvingDNS` | `Succeeded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning_state: Option<ProvisioningState>,
    /// Endpoints (`blob`, `file`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_endpoints: Option<serde_json::Value>,
    /// Public network access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_network_access: Option<StoragePublicNetworkAccess>,
    /// Firewall.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_acls: Option<NetworkRuleSet>,
    /// Anonymous blob access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_blob_public_access: Option<bool>,
    /// Minimum TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_tls_version: Option<MinimumTlsVersion>,
    /// Shared key access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_shared_key_access: Option<bool>,
    /// HTTPS only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_https_traffic_only: Option<bool>,
    /// Hierarchical namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_hns_enabled: Option<bool>,
    /// Access tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_tier: Option<AccessTier>,
    /// Private endpoint connections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_endpoint_connections: Option<Vec<PrivateEndpointConnection>>,
    /// Creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_time: Option<String>,
}

impl ArmResource for StorageAccount {
    const RESOURCE_TYPE: &'static str = "Microsoft.Storage/storageAccounts";
    fn provisioning_state(&self) -> Option<&ProvisioningState> {
        self.properties.provisioning_state.as_ref()
    }
    fn id(&self) -> Option<&ResourceId> {
        self.id.as_ref()
    }
}

/// `StorageAccountCreateParameters` (PUT).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StorageAccountCreate {
    /// SKU.
    pub sku: StorageSku,
    /// Kind (`StorageV2`).
    pub kind: StorageKind,
    /// Region.
    pub location: String,
    /// Tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
    /// Identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<ManagedServiceIdentity>,
    /// Properties.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<StorageAccountWritableProperties>,
}

/// The writable account properties moat sets, shared by create and update.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StorageAccountWritableProperties {
    /// Public network access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_network_access: Option<StoragePublicNetworkAccess>,
    /// Anonymous blob access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_blob_public_access: Option<bool>,
    /// Minimum TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_tls_version: Option<MinimumTlsVersion>,
    /// Firewall.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_acls: Option<NetworkRuleSet>,
    /// Shared key access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_shared_key_access: Option<bool>,
    /// HTTPS only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_https_traffic_only: Option<bool>,
    /// Access tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_tier: Option<AccessTier>,
    /// Cross-tenant replication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_cross_tenant_replication: Option<bool>,
    /// Default to Entra ID auth in the portal.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "defaultToOAuthAuthentication")]
    pub default_to_oauth_authentication: Option<bool>,
}

impl PutBody for StorageAccountCreate {
    type Resource = StorageAccount;
}

/// `StorageAccountUpdateParameters` (PATCH).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StorageAccountUpdate {
    /// SKU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<StorageSku>,
    /// Tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
    /// Identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<ManagedServiceIdentity>,
    /// Properties.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<StorageAccountWritableProperties>,
}

impl PatchBody for StorageAccountUpdate {
    type Resource = StorageAccount;
}

impl StorageAccountUpdate {
    /// A PATCH of the firewall only.
    pub fn network_acls(rules: NetworkRuleSet) -> Self {
        Self {
            properties: Some(StorageAccountWritableProperties {
                network_acls: Some(rules),
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}
