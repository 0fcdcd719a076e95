//! `AzureScopePolicy` (cluster-scoped): which Azure scopes moat may touch for the objects of
//! which namespaces, and with which identity. Written by the platform team; a namespace that no
//! policy selects gets nothing. See `docs/tenancy.md`.

use std::borrow::Cow;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::{CustomResource, KubeSchema};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// An Azure scope: a subscription (`/subscriptions/<uuid>`), a resource group
/// (`/subscriptions/<uuid>/resourceGroups/<rg>`) or a resource
/// (`/subscriptions/<uuid>/resourceGroups/<rg>/providers/<Namespace>/<type>/<name>`). A grant of
/// a scope covers it and everything under it, as an Azure role assignment does.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(transparent)]
pub struct AzureScope(pub String);

impl AzureScope {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for AzureScope {
    fn from(s: &str) -> Self {
        Self(s.to_string())
    }
}

impl std::fmt::Display for AzureScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

const UUID: &str = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}";

impl JsonSchema for AzureScope {
    fn schema_name() -> Cow<'static, str> {
        "AzureScope".into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let rule = format!(
            "self.matches('^/subscriptions/{UUID}(/resourceGroups/[-\\\\w._()]+(/providers/[A-Za-z]+\\\\.[A-Za-z.]+/[A-Za-z]+/[^/]+(/[A-Za-z]+/[^/]+)*)?)?$')"
        );
        json_schema!({
            "type": "string",
            "maxLength": 1024,
            "x-kubernetes-validations": [{
                "rule": rule,
                "message": "must be an Azure scope: /subscriptions/<uuid>, /subscriptions/<uuid>/resourceGroups/<rg>, or a resource id such as /subscriptions/<uuid>/resourceGroups/<rg>/providers/Microsoft.Network/virtualNetworks/<name>"
            }]
        })
    }
}

/// Binds namespaces to the Azure scopes moat may use for their objects.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "moat.dev",
    version = "v1alpha1",
    kind = "AzureScopePolicy",
    doc = "Which Azure scopes moat may touch for the SecureWorkspaces, PrivateEndpointBindings and ComputeSubnets of the namespaces it selects, and with which identity. A namespace that no policy selects gets nothing; several policies selecting one namespace add up.",
    status = "AzureScopePolicyStatus",
    derive = "PartialEq",
    shortname = "asp",
    category = "moat",
    printcolumn(name = "Namespaces", type_ = "string", json_path = ".status.namespaces"),
    printcolumn(name = "Operator-Identity", type_ = "boolean", json_path = ".spec.identity.allowOperatorIdentity"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct AzureScopePolicySpec {
    /// The namespaces this policy applies to: by name, by label, or both (a namespace matches if
    /// either selects it).
    pub namespaces: NamespaceSelection,

    /// Which identity moat uses for objects that set no `spec.credentialRef`. Default: none, so
    /// every object must bring its own `credentialRef`.
    #[serde(default)]
    pub identity: IdentityPolicy,

    /// Subscriptions or resource groups where moat may create resources, write them and delete
    /// what it created: the team's own resource groups (a workspace's `resourceGroup`, a
    /// binding's endpoint resource group, where NSGs and route tables are created).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    #[x_kube(validation = Rule::new("self.all(s, !s.contains('/providers/'))").message("scopes must be subscriptions (/subscriptions/<uuid>) or resource groups (/subscriptions/<uuid>/resourceGroups/<rg>): moat creates resources there; list single resources under adopt or target"))]
    pub scopes: Vec<AzureScope>,

    /// Existing resources outside `scopes` that moat may adopt: write children into (subnets
    /// into a VNet, `moat-*` rules into an NSG, `moat-*` routes into a route table), put a private
    /// endpoint into (a subnet), or link a workspace to (storage, key vault, registry,
    /// Application Insights). moat never creates, changes or deletes the adopted resource
    /// itself. A resource group or subscription here covers every resource in it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub adopt: Vec<AzureScope>,

    /// Resources outside `scopes` that moat may only reference: private-endpoint targets
    /// (`spec.target.id`) and VNet-link targets (`spec.dns.linkVnetIds`). moat reads them and
    /// names them in its own resources; it never writes them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub target: Vec<AzureScope>,

    /// Resource groups outside `scopes` that may hold the privatelink DNS zones
    /// (`spec.dns.zoneResourceGroup`, a hub's shared zones): moat creates the zones there when
    /// they are missing, links them to VNets and registers the endpoints' records, and writes
    /// nothing else there.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    #[x_kube(validation = Rule::new("self.all(s, s.matches('(?i)^/subscriptions/[^/]+/resourceGroups/[^/]+$'))").message("dnsZoneResourceGroups must be resource groups: /subscriptions/<uuid>/resourceGroups/<rg>"))]
    pub dns_zone_resource_groups: Vec<AzureScope>,
}

/// The namespaces a policy selects.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("(has(self.names) && size(self.names) > 0) || has(self.selector)").message("namespaces needs names or a selector: a policy that selects no namespace does nothing"))]
pub struct NamespaceSelection {
    /// Namespaces by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256))]
    pub names: Vec<String>,
    /// Namespaces by label (a standard label selector; matchLabels and matchExpressions are
    /// ANDed). It must not be empty: to select every namespace on purpose, use
    /// `matchExpressions: [{key: kubernetes.io/metadata.name, operator: Exists}]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("(has(self.matchLabels) && size(self.matchLabels) > 0) || (has(self.matchExpressions) && size(self.matchExpressions) > 0)").message("namespaces.selector must not be empty (an empty selector would select every namespace): give matchLabels or matchExpressions; to select every namespace on purpose use matchExpressions [{key: kubernetes.io/metadata.name, operator: Exists}]"))]
    pub selector: Option<LabelSelector>,
}

/// Which identity moat uses for an object that sets no `spec.credentialRef`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!(has(self.allowOperatorIdentity) && self.allowOperatorIdentity && has(self.secretRef))").message("set at most one of identity.allowOperatorIdentity or identity.secretRef"))]
pub struct IdentityPolicy {
    /// moat's own identity (workload or managed identity) may act for these namespaces. Default
    /// false: objects must set `spec.credentialRef` (or the policy names a `secretRef`).
    #[serde(default)]
    pub allow_operator_identity: bool,
    /// A Secret the platform team keeps (in a namespace tenants cannot read, such as moat's
    /// own) with the credentials moat uses for these namespaces when an object sets no
    /// `spec.credentialRef`: keys `tenantId`, `clientId`, and `clientSecret` or
    /// `federatedTokenFile`. moat needs `get` on Secrets in that namespace (the chart's
    /// `tenancy.sharedCredentialsNamespace`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<NamespacedSecretRef>,
}

/// A Secret in a given namespace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct NamespacedSecretRef {
    /// Namespace of the Secret.
    #[schemars(length(max = 63))]
    pub namespace: String,
    /// Name of the Secret.
    #[schemars(length(max = 253))]
    pub name: String,
}

/// What moat observed about a policy.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AzureScopePolicyStatus {
    /// The generation this status describes.
    #[serde(default)]
    pub observed_generation: Option<i64>,
    /// The namespaces that exist and that the policy selects now, sorted.
    #[serde(default)]
    pub namespaces: Vec<String>,
}
