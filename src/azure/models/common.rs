//! Types shared by every resource family.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use crate::azure::id::ResourceId;

/// Resource tags.
pub type Tags = BTreeMap<String, String>;

/// Writable properties this client does not model, kept from a GET so that a read-merge-write
/// sends them back unchanged. Read-only properties are modelled explicitly (and never
/// serialized), so they never land here.
pub type Unmodelled = serde_json::Map<String, serde_json::Value>;

/// Declares a string enum that serializes to the exact spec spelling, parses
/// case-insensitively, and keeps values it does not know in `Other` (ARM adds values over time).
macro_rules! string_enum {
    ($(#[$m:meta])* $vis:vis enum $name:ident { $($(#[$vm:meta])* $var:ident => $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        $vis enum $name {
            $($(#[$vm])* $var,)+
            /// A value this client does not know (sent back verbatim).
            Other(String),
        }
        impl $name {
            /// The wire spelling.
            pub fn as_str(&self) -> &str {
                match self { $(Self::$var => $s,)+ Self::Other(s) => s.as_str() }
            }
            /// The values the spec defines.
            pub const KNOWN: &'static [&'static str] = &[$($s),+];
        }
        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $(if s.eq_ignore_ascii_case($s) { return Self::$var; })+
                Self::Other(s.to_string())
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(self.as_str()) }
        }
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> { s.serialize_str(self.as_str()) }
        }
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
                Ok(Self::from(s.as_ref()))
            }
        }
    };
}
pub(crate) use string_enum;

string_enum! {
    /// `provisioningState` across all families. Terminal values are Succeeded, Failed and Canceled.
    pub enum ProvisioningState {
        Succeeded => "Succeeded",
        Failed => "Failed",
        Canceled => "Canceled",
        Creating => "Creating",
        Updating => "Updating",
        Deleting => "Deleting",
        Accepted => "Accepted",
        Running => "Running",
        Unknown => "Unknown",
        ResolvingDns => "ResolvingDNS",
        RegisteringDns => "RegisteringDns",
    }
}

impl ProvisioningState {
    /// Succeeded, Failed or Canceled.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Canceled)
    }
    /// Succeeded.
    pub fn is_succeeded(&self) -> bool {
        matches!(self, Self::Succeeded)
    }
}

/// A reference to another resource: `{"id": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SubResource {
    /// The referenced resource.
    pub id: ResourceId,
}

impl SubResource {
    /// A reference to `id`.
    pub fn new(id: ResourceId) -> Self {
        Self { id }
    }
}

impl From<ResourceId> for SubResource {
    fn from(id: ResourceId) -> Self {
        Self { id }
    }
}

/// A read-only back-reference returned by the service (`{"id": ...}`: the NICs of a private
/// endpoint, the IP configurations in a subnet). Kept as a string so that an odd id in a
/// back-reference never makes the whole resource undecodable; parse it with
/// [`ResourceRef::resource_id`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ResourceRef {
    /// The referenced resource's id.
    pub id: String,
}

impl ResourceRef {
    /// Parses the id.
    pub fn resource_id(&self) -> Result<ResourceId, crate::azure::id::ResourceIdError> {
        ResourceId::parse(&self.id)
    }
}

string_enum! {
    /// Managed identity type (common-types v3 `ManagedServiceIdentityType`; Storage uses the same spelling).
    pub enum IdentityType {
        None => "None",
        SystemAssigned => "SystemAssigned",
        UserAssigned => "UserAssigned",
        SystemAssignedUserAssigned => "SystemAssigned,UserAssigned",
    }
}

/// A user-assigned identity entry; the request sends `{}` and the response fills the ids.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserAssignedIdentity {
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub principal_id: Option<String>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub client_id: Option<String>,
}

/// Managed service identity (ML, Storage).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedServiceIdentity {
    /// Identity type.
    #[serde(rename = "type")]
    pub identity_type: IdentityType,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub principal_id: Option<String>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub tenant_id: Option<String>,
    /// User-assigned identities keyed by their resource id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_assigned_identities: Option<BTreeMap<String, UserAssignedIdentity>>,
}

impl ManagedServiceIdentity {
    /// A system-assigned identity.
    pub fn system_assigned() -> Self {
        Self {
            identity_type: IdentityType::SystemAssigned,
            principal_id: None,
            tenant_id: None,
            user_assigned_identities: None,
        }
    }
}

/// serde helper: `null` (or absent, with `#[serde(default)]`) becomes `T::default()`.
pub fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// serde helper: an optional resource id where ARM may send `""` for "unset".
pub fn lenient_id<'de, D>(d: D) -> Result<Option<ResourceId>, D::Error>
where
    D: Deserializer<'de>,
{
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(s) if s.trim().is_empty() => Ok(None),
        Some(s) => ResourceId::parse(&s).map(Some).map_err(serde::de::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_enums_are_case_insensitive_and_keep_unknowns() {
        let s: ProvisioningState = serde_json::from_str("\"succeeded\"").unwrap();
        assert_eq!(s, ProvisioningState::Succeeded);
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"Succeeded\"");
        let o: ProvisioningState = serde_json::from_str("\"Migrating\"").unwrap();
        assert_eq!(o, ProvisioningState::Other("Migrating".into()));
        assert!(!o.is_terminal());
        assert_eq!(serde_json::to_string(&o).unwrap(), "\"Migrating\"");
        assert_eq!(IdentityType::from("SystemAssigned,UserAssigned"), IdentityType::SystemAssignedUserAssigned);
    }

    #[test]
    fn identity_round_trip_sends_no_read_only_fields() {
        let v = serde_json::json!({"type": "SystemAssigned", "principalId": "p", "tenantId": "t",
            "userAssignedIdentities": {"/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/u": {"principalId": "p2", "clientId": "c2"}}});
        let id: ManagedServiceIdentity = serde_json::from_value(v).unwrap();
        assert_eq!(id.principal_id.as_deref(), Some("p"));
        let back = serde_json::to_value(&id).unwrap();
        assert_eq!(
            back,
            serde_json::json!({"type": "SystemAssigned", "userAssignedIdentities": {"/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/u": {}}})
        );
    }
}
