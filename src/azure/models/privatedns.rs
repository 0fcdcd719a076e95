//! Microsoft.Network private DNS zones and virtual network links (2024-06-01).
//! Spec: `privatedns/2024-06-01/privatedns.json`. Both types honour `If-Match` /
//! `If-None-Match` and accept PATCH of the same model.

use serde::{Deserialize, Serialize};

use super::common::{ProvisioningState, SubResource, Tags, null_default};
use super::{patch_self, put_self};
use crate::azure::id::ResourceId;

/// Private DNS zones and links always live in `global`.
pub const GLOBAL: &str = "global";

/// `Microsoft.Network/privateDnsZones`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrivateZone {
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub id: Option<ResourceId>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub name: Option<String>,
    /// Read-only.
    #[serde(default, rename = "type", skip_serializing)]
    pub resource_type: Option<String>,
    /// The zone's etag; conditional writes send it as `If-Match`, not in the body.
    #[serde(default, skip_serializing)]
    pub etag: Option<String>,
    /// Always `global`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
    /// Properties (all read-only; never sent).
    #[serde(default, deserialize_with = "null_default", skip_serializing)]
    pub properties: PrivateZoneProperties,
}

impl PrivateZone {
    /// A zone body: `{"location": "global"}` plus tags.
    pub fn new(tags: Option<Tags>) -> Self {
        Self {
            location: Some(GLOBAL.into()),
            tags,
            ..Default::default()
        }
    }
}

/// `PrivateZoneProperties` (read-only counters and state).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrivateZoneProperties {
    /// Read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_number_of_record_sets: Option<i64>,
    /// Read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_of_record_sets: Option<i64>,
    /// Read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_number_of_virtual_network_links: Option<i64>,
    /// Read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_of_virtual_network_links: Option<i64>,
    /// Read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_number_of_virtual_network_links_with_registration: Option<i64>,
    /// Read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_of_virtual_network_links_with_registration: Option<i64>,
    /// Read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning_state: Option<ProvisioningState>,
    /// Read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal_id: Option<String>,
}

/// `Microsoft.Network/privateDnsZones/virtualNetworkLinks`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualNetworkLink {
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub id: Option<ResourceId>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub name: Option<String>,
    /// Read-only.
    #[serde(default, rename = "type", skip_serializing)]
    pub resource_type: Option<String>,
    /// Sent as `If-Match`, not in the body.
    #[serde(default, skip_serializing)]
    pub etag: Option<String>,
    /// Always `global`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
    /// Properties.
    #[serde(default, deserialize_with = "null_default")]
    pub properties: VirtualNetworkLinkProperties,
}

/// `VirtualNetworkLinkProperties`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualNetworkLinkProperties {
    /// The linked VNet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_network: Option<SubResource>,
    /// Auto-registration of VM records (AML docs use `false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_enabled: Option<bool>,
    /// Read-only: `InProgress` | `Completed`.
    #[serde(default, skip_serializing)]
    pub virtual_network_link_state: Option<String>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub provisioning_state: Option<ProvisioningState>,
}

impl VirtualNetworkLink {
    /// A link body for `vnet`.
    pub fn new(vnet: ResourceId, registration_enabled: bool, tags: Option<Tags>) -> Self {
        Self {
            location: Some(GLOBAL.into()),
            tags,
            properties: VirtualNetworkLinkProperties {
                virtual_network: Some(SubResource::new(vnet)),
                registration_enabled: Some(registration_enabled),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    /// The link is usable: provisioned and `virtualNetworkLinkState == Completed`.
    pub fn is_completed(&self) -> bool {
        self.properties
            .provisioning_state
            .as_ref()
            .is_some_and(ProvisioningState::is_succeeded)
            && self
                .properties
                .virtual_network_link_state
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case("Completed"))
    }
}

impl super::ArmResource for PrivateZone {
    const RESOURCE_TYPE: &'static str = "Microsoft.Network/privateDnsZones";
    const SUPPORTS_IF_MATCH: bool = true;
    fn provisioning_state(&self) -> Option<&ProvisioningState> {
        self.properties.provisioning_state.as_ref()
    }
    fn etag(&self) -> Option<&str> {
        self.etag.as_deref()
    }
    fn id(&self) -> Option<&ResourceId> {
        self.id.as_ref()
    }
}

impl super::ArmResource for VirtualNetworkLink {
    const RESOURCE_TYPE: &'static str = "Microsoft.Network/privateDnsZones/virtualNetworkLinks";
    const SUPPORTS_IF_MATCH: bool = true;
    fn provisioning_state(&self) -> Option<&ProvisioningState> {
        self.properties.provisioning_state.as_ref()
    }
    fn etag(&self) -> Option<&str> {
        self.etag.as_deref()
    }
    fn id(&self) -> Option<&ResourceId> {
        self.id.as_ref()
    }
}

put_self!(PrivateZone, VirtualNetworkLink);
patch_self!(PrivateZone, VirtualNetworkLink);
