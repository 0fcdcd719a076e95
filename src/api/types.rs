//! Value types shared by the CRDs: CIDRs, IP addresses, ARM ids, UUIDs and resource references.
//!
//! Each newtype carries its own OpenAPI schema with a CEL rule, so `kubectl apply` rejects a
//! malformed value with a message naming the field (the apiserver prefixes the field path) and
//! the fix. The Rust side keeps them as strings; parsing into `ipnet` / `ResourceId` happens in
//! the pure layers (constraints, plan), which report the same errors as findings for offline use.

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// Longest ARM id moat accepts (ARM itself caps URLs well above this).
pub const MAX_ARM_ID_LEN: u64 = 1024;

macro_rules! string_newtype {
    ($(#[$meta:meta])* $name:ident, $schema_name:literal, $schema:tt) => {
        $(#[$meta])*
        #[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_string())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                $schema_name.into()
            }
            fn inline_schema() -> bool {
                true
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!($schema)
            }
        }
    };
}

string_newtype!(
    /// An IPv4 CIDR block in canonical form, for example `10.0.0.0/16` (no host bits set).
    Cidr,
    "Cidr",
    {
        "type": "string",
        "maxLength": 18,
        "x-kubernetes-validations": [{
            "rule": "isCIDR(self) && cidr(self).ip().family() == 4 && cidr(self) == cidr(self).masked()",
            "message": "must be an IPv4 CIDR in canonical form such as 10.0.0.0/16 (address, slash, prefix length, no host bits set)"
        }]
    }
);

string_newtype!(
    /// An IPv4 address with its prefix length, for example `172.17.0.1/16`: an interface's
    /// address and its network (host bits allowed, as Docker's bridge setting takes it).
    AddressWithPrefix,
    "AddressWithPrefix",
    {
        "type": "string",
        "maxLength": 18,
        "x-kubernetes-validations": [{
            "rule": "isCIDR(self) && cidr(self).ip().family() == 4",
            "message": "must be an IPv4 address with a prefix length such as 172.17.0.1/16"
        }]
    }
);

string_newtype!(
    /// An IPv4 address, for example `10.0.2.10`.
    Ipv4,
    "Ipv4",
    {
        "type": "string",
        "maxLength": 15,
        "x-kubernetes-validations": [{
            "rule": "isIP(self) && ip(self).family() == 4",
            "message": "must be an IPv4 address such as 10.0.0.10"
        }]
    }
);

string_newtype!(
    /// An Azure subscription id: a UUID such as `00000000-0000-0000-0000-000000000000`.
    SubscriptionId,
    "SubscriptionId",
    {
        "type": "string",
        "maxLength": 36,
        "x-kubernetes-validations": [{
            "rule": "self.matches('^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$')",
            "message": "must be a subscription id in UUID form, 8-4-4-4-12 hexadecimal digits, such as 00000000-0000-0000-0000-000000000000"
        }]
    }
);

string_newtype!(
    /// A destination port: a number such as `443`, a range such as `8000-8100`, or `*` for all.
    PortRange,
    "PortRange",
    {
        "type": "string",
        "maxLength": 11,
        "x-kubernetes-validations": [{
            "rule": "self == '*' || (self.matches('^[0-9]{1,5}(-[0-9]{1,5})?$') && self.split('-').all(p, int(p) >= 1 && int(p) <= 65535) && int(self.split('-')[0]) <= int(self.split('-')[size(self.split('-')) - 1]))",
            "message": "must be a port from 1 to 65535 such as 443, a range low-high with low <= high such as 8000-8100, or *"
        }]
    }
);

string_newtype!(
    /// A Microsoft Entra tenant id: a UUID.
    TenantId,
    "TenantId",
    {
        "type": "string",
        "maxLength": 36,
        "x-kubernetes-validations": [{
            "rule": "self.matches('^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$')",
            "message": "must be a tenant id in UUID form, 8-4-4-4-12 hexadecimal digits"
        }]
    }
);

string_newtype!(
    /// An Azure Resource Manager resource id:
    /// `/subscriptions/{uuid}/resourceGroups/{rg}/providers/{Namespace}/{type}/{name}[/{childType}/{childName}...]`.
    ArmId,
    "ArmId",
    {
        "type": "string",
        "maxLength": 1024,
        "x-kubernetes-validations": [{
            "rule": "self.matches('^/subscriptions/[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}/resourceGroups/[-\\\\w._()]+/providers/[A-Za-z]+\\\\.[A-Za-z.]+/[A-Za-z]+/[^/]+(/[A-Za-z]+/[^/]+)*$')",
            "message": "must be an ARM resource id such as /subscriptions/<uuid>/resourceGroups/<rg>/providers/Microsoft.Network/virtualNetworks/<name>"
        }, {
            "rule": "!self.matches('/[.]{1,2}(/|$)')",
            "message": "must not contain a '.' or '..' segment: write the resource's own id, segment by segment"
        }]
    }
);

string_newtype!(
    /// An Azure region name as ARM spells it, lower case without spaces, for example `westeurope`.
    Location,
    "Location",
    {
        "type": "string",
        "maxLength": 40,
        "x-kubernetes-validations": [{
            "rule": "self.matches('^[a-z][a-z0-9]*$')",
            "message": "must be an Azure region name in lower case without spaces, such as westeurope or eastus2"
        }]
    }
);

impl Cidr {
    /// Parses into an `ipnet::Ipv4Net`; the CRD schema guarantees this succeeds for admitted objects,
    /// but offline validation (`moat validate`) reaches here with raw input too.
    pub fn parse(&self) -> Result<ipnet::Ipv4Net, ipnet::AddrParseError> {
        self.0.parse()
    }
}

impl AddressWithPrefix {
    /// The network the address belongs to (`172.17.0.1/16` -> `172.17.0.0/16`).
    pub fn network(&self) -> Result<ipnet::Ipv4Net, ipnet::AddrParseError> {
        self.0.parse::<ipnet::Ipv4Net>().map(|n| n.trunc())
    }
}

impl Ipv4 {
    pub fn parse(&self) -> Result<std::net::Ipv4Addr, std::net::AddrParseError> {
        self.0.parse()
    }
}

/// A reference to a Secret in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretRef {
    /// Name of the Secret, in the namespace of the object that refers to it. It holds
    /// `tenantId`, `clientId`, and either `clientSecret` or `federatedTokenFile`.
    pub name: String,
}

/// A reference to another moat object in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalObjectRef {
    /// Name of the object, in the same namespace.
    pub name: String,
}

/// What happens in Azure when the Kubernetes object is deleted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum DeletionPolicy {
    /// Delete, in reverse dependency order, every Azure resource moat created for this object, and
    /// remove the rules and routes moat added to adopted resources. Adopted resources stay.
    #[default]
    Delete,
    /// Leave every Azure resource as it is.
    Orphan,
}

/// Severity of a constraint finding.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema)]
pub enum Severity {
    /// Informational; nothing is blocked.
    Info,
    /// Azure accepts the design but something will not work as expected; writes go ahead.
    Warning,
    /// Blocks the Azure writes it concerns until fixed.
    Error,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Severity::Info => "Info",
            Severity::Warning => "Warning",
            Severity::Error => "Error",
        })
    }
}

/// One constraint violation, as reported in status.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FindingStatus {
    /// Stable id of the rule in moat's constraint catalog, for example `NET-008`.
    pub id: String,
    /// Error blocks the Azure writes it concerns; Warning does not.
    pub severity: Severity,
    /// What is wrong, with the figures.
    pub message: String,
    /// How to fix it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// The spec field the finding is about, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The document the rule comes from, to read it in context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<FindingSource>,
}

/// Where a constraint rule comes from.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FindingSource {
    /// The document's title.
    pub title: String,
    /// Its public page (learn.microsoft.com), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// One Azure resource that an object manages or depends on.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceStatus {
    /// Short kind, for example `VirtualNetwork`, `Subnet`, `PrivateEndpoint`.
    pub kind: String,
    /// ARM id.
    pub id: String,
    /// `Succeeded`, `Creating`, `Updating`, `Deleting`, `Failed`, `Missing`, or `Blocked`.
    pub state: String,
    /// True when moat created the resource (it carries moat's owner tags); false when adopted.
    pub owned: bool,
}

/// A long-running ARM operation moat started and has not seen finish. Recorded so that a restart
/// resumes polling instead of starting the operation again.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PendingOperation {
    /// The resource the operation acts on.
    pub resource_id: String,
    /// `PUT`, `PATCH` or `DELETE`.
    pub method: String,
    /// The URL to poll (from Azure-AsyncOperation or Location).
    pub poll_url: String,
    /// `AzureAsyncOperation` or `Location`: how to read the poll URL's answer.
    pub poll_kind: String,
    /// When moat started the operation (RFC 3339).
    pub started_at: String,
}

/// A DNS host record a custom DNS server must serve (Custom DNS mode).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DnsRecord {
    /// Fully qualified host name, for example `<workspace-id>.workspace.westeurope.api.azureml.ms`.
    pub fqdn: String,
    /// Private IP addresses the name resolves to.
    pub ip_addresses: Vec<String>,
    /// The privatelink zone this record belongs to, for conditional forwarding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
}
