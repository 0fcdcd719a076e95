//! Typed request and response bodies, one file per resource family.
//!
//! Conventions (checked by `tests/azure_conformance.rs` against the OpenAPI specs):
//! - field names are the spec's property names (serde camelCase, explicit renames elsewhere);
//! - everything optional is `Option` + `skip_serializing_if`, so a body carries only what the
//!   caller set;
//! - read-only properties are deserialized but `skip_serializing`, so a GET result can be
//!   modified and PUT back without sending read-only junk;
//! - an `other` map (flattened) exists only on objects moat read-merge-writes without owning all
//!   of them (subnet, VNet, NSG and route-table properties, firewall rule sets); it holds
//!   writable properties moat does not model, so a write never drops them.

pub mod common;
pub mod containerregistry;
pub mod insights;
pub mod keyvault;
pub mod ml;
pub mod network;
pub mod privatedns;
pub mod storage;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use common::*;

use crate::azure::api_versions;
use crate::azure::id::ResourceId;

/// A resource type moat reads from ARM (the GET / PUT response body).
pub trait ArmResource: DeserializeOwned + Send + Sync + 'static {
    /// Full resource type, e.g. `Microsoft.Network/virtualNetworks/subnets`.
    const RESOURCE_TYPE: &'static str;
    /// The api-version, from the single table in [`api_versions`].
    const API_VERSION: &'static str = api_versions::lookup(Self::RESOURCE_TYPE);
    /// Whether the resource provider honours `If-Match` / `If-None-Match` (Private DNS does;
    /// Network ignores them, azure-arm-facts.md §4.4).
    const SUPPORTS_IF_MATCH: bool = false;

    /// `properties.provisioningState`, if the type has one and the body carried it.
    fn provisioning_state(&self) -> Option<&ProvisioningState>;
    /// The resource's `etag`, if any.
    fn etag(&self) -> Option<&str> {
        None
    }
    /// The resource's `id`, if the body carried it.
    fn id(&self) -> Option<&ResourceId>;
}

/// A PUT (create-or-replace) request body.
pub trait PutBody: Serialize + Clone + Send + Sync {
    /// What the PUT returns.
    type Resource: ArmResource;
    /// True when a PUT of this type replaces a child collection that moat manages through the
    /// child API (VNet subnets, NSG rules, routes). The client then reads the current resource
    /// first, under the parent lock, and calls [`PutBody::keep_children`].
    const REPLACES_CHILDREN: bool = false;
    /// Copies the current child collections into this body so the PUT drops none of them.
    fn keep_children(&mut self, _current: &Self::Resource) {}
}

/// A PATCH (partial update) request body.
pub trait PatchBody: Serialize + Send + Sync {
    /// What the PATCH returns.
    type Resource: ArmResource;
}

/// Implements [`ArmResource`] for a model with `id`, `etag` and `properties.provisioning_state`.
macro_rules! arm_resource {
    ($ty:ty, $rtype:literal, etag, $($ps:ident).+) => {
        impl $crate::azure::models::ArmResource for $ty {
            const RESOURCE_TYPE: &'static str = $rtype;
            fn provisioning_state(&self) -> Option<&$crate::azure::models::ProvisioningState> {
                self.$($ps).+.as_ref()
            }
            fn etag(&self) -> Option<&str> {
                self.etag.as_deref()
            }
            fn id(&self) -> Option<&$crate::azure::id::ResourceId> {
                self.id.as_ref()
            }
        }
    };
    ($ty:ty, $rtype:literal, $($ps:ident).+) => {
        impl $crate::azure::models::ArmResource for $ty {
            const RESOURCE_TYPE: &'static str = $rtype;
            fn provisioning_state(&self) -> Option<&$crate::azure::models::ProvisioningState> {
                self.$($ps).+.as_ref()
            }
            fn id(&self) -> Option<&$crate::azure::id::ResourceId> {
                self.id.as_ref()
            }
        }
    };
}
pub(crate) use arm_resource;

/// `PutBody` where the request and response types are the same model.
macro_rules! put_self {
    ($($ty:ty),+) => {$(
        impl $crate::azure::models::PutBody for $ty {
            type Resource = $ty;
        }
    )+};
}
pub(crate) use put_self;

/// Private DNS and a few others accept a PATCH of the same model.
macro_rules! patch_self {
    ($($ty:ty),+) => {$(
        impl $crate::azure::models::PatchBody for $ty {
            type Resource = $ty;
        }
    )+};
}
pub(crate) use patch_self;

/// A list page: `{"value": [...], "nextLink": "..."}`.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase", bound(deserialize = "T: serde::Deserialize<'de>"))]
pub struct Page<T> {
    /// Items on this page.
    #[serde(default = "Vec::new", deserialize_with = "common::null_default")]
    pub value: Vec<T>,
    /// URL of the next page, absent or null on the last one.
    #[serde(default)]
    pub next_link: Option<String>,
}

/// Network-style tags-only PATCH body (`TagsObject`): VNets, NSGs, route tables, App Insights.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct TagsObject {
    /// The complete new tag set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
}
