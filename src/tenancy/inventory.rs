//! Every Azure scope an object's spec names or implies, with the field that names it and what
//! moat does with it. Pure: the reconcilers call [`Subject::inventory`] before any ARM request,
//! and the policy check ([`super::grant`]) and the request guard ([`super::scope`]) are built
//! from its answer.

use crate::api::{
    ComputeSubnetSpec, EndpointDnsMode, PrivateEndpointBindingSpec, SecretRef, SecureWorkspace, SecureWorkspaceSpec,
};
use crate::plan::endpoint::subscription as endpoint_subscription;
use crate::plan::ids::{self, WorkspaceIds};

/// What moat does with a scope an object names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Usage {
    /// moat creates resources in this resource group, writes them and deletes what it created.
    Create,
    /// An existing resource moat writes children into (subnets into a VNet, `moat-*` rules into
    /// an NSG, `moat-*` routes into a route table); the resource itself is never written.
    WriteChildren,
    /// An existing resource moat reads and links its own resources to (a workspace to its
    /// storage, key vault, registry or Application Insights; an endpoint to its subnet).
    Link,
    /// A resource moat only names in its own resources: a private-endpoint target, a VNet a
    /// privatelink zone is linked to.
    Target,
    /// A resource group where moat creates (when missing) and links privatelink DNS zones.
    DnsZones,
}

impl Usage {
    /// What moat does, in words for a condition message.
    pub fn describe(self) -> &'static str {
        match self {
            Usage::Create => "moat creates resources in this resource group",
            Usage::WriteChildren => "moat writes its rules, routes or subnets into this resource",
            Usage::Link => "moat links its resources to this resource",
            Usage::Target => "moat points a private endpoint or a DNS zone link at this resource",
            Usage::DnsZones => "moat creates and links privatelink DNS zones in this resource group",
        }
    }

    /// The `AzureScopePolicy` fields that can grant this usage, most specific first.
    pub fn granted_by(self) -> &'static [&'static str] {
        match self {
            Usage::Create => &["scopes"],
            Usage::WriteChildren | Usage::Link => &["adopt", "scopes"],
            Usage::Target => &["target", "adopt", "scopes"],
            Usage::DnsZones => &["dnsZoneResourceGroups", "scopes"],
        }
    }
}

/// One scope an object names or implies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Named {
    /// The field that names it, as a user reads it: `spec.nsg.id`, `spec.dns.linkVnetIds[1]`,
    /// or `spec.subnetId (the endpoint's resource group)` for an implied one.
    pub field: String,
    /// The ARM id of the resource or resource group.
    pub id: String,
    pub usage: Usage,
}

fn named(field: impl Into<String>, id: impl Into<String>, usage: Usage) -> Named {
    Named { field: field.into(), id: id.into(), usage }
}

/// The object whose scopes are listed.
#[derive(Clone, Copy, Debug)]
pub enum Subject<'a> {
    Workspace(&'a SecureWorkspaceSpec),
    Endpoint(&'a PrivateEndpointBindingSpec),
    /// A ComputeSubnet and the SecureWorkspace its `workspaceRef` names (its VNet, resource
    /// group and credentials are the workspace's).
    Subnet { spec: &'a ComputeSubnetSpec, workspace: &'a SecureWorkspace },
}

impl Subject<'_> {
    /// The Secret the object names for its credentials, in its own namespace.
    pub fn credential_ref(&self) -> Option<&SecretRef> {
        match self {
            Subject::Workspace(s) => s.credential_ref.as_ref(),
            Subject::Endpoint(s) => s.credential_ref.as_ref(),
            Subject::Subnet { workspace, .. } => workspace.spec.credential_ref.as_ref(),
        }
    }

    /// Where `credential_ref` is set, for messages.
    pub fn credential_field(&self) -> String {
        match self {
            Subject::Subnet { workspace, .. } => format!("{} spec.credentialRef", via(workspace)),
            _ => "spec.credentialRef".into(),
        }
    }

    /// Every scope the spec names or implies. Pure.
    pub fn inventory(&self) -> Vec<Named> {
        match self {
            Subject::Workspace(spec) => workspace(spec),
            Subject::Endpoint(spec) => endpoint(spec),
            Subject::Subnet { spec, workspace } => subnet(spec, workspace),
        }
    }
}

/// `spec.workspaceRef → SecureWorkspace <name>`: the prefix of a field a ComputeSubnet takes
/// from its workspace.
fn via(ws: &SecureWorkspace) -> String {
    format!("spec.workspaceRef → SecureWorkspace {}:", ws.metadata.name.as_deref().unwrap_or("?"))
}

fn workspace(spec: &SecureWorkspaceSpec) -> Vec<Named> {
    let sub = spec.subscription_id.as_str();
    let mut out = vec![named("spec.resourceGroup", ids::resource_group(sub, &spec.resource_group), Usage::Create)];
    if let Some(id) = &spec.network.vnet.id {
        out.push(named("spec.network.vnet.id", id.as_str(), Usage::WriteChildren));
    }
    for (field, id) in [
        ("spec.storage.id", &spec.storage.id),
        ("spec.keyVault.id", &spec.key_vault.id),
        ("spec.containerRegistry.id", &spec.container_registry.id),
        ("spec.applicationInsights.id", &spec.application_insights.id),
    ] {
        if let Some(id) = id {
            out.push(named(field, id.as_str(), Usage::Link));
        }
    }
    // The workspace's private endpoints (its own PrivateEndpointBindings) put their zones there,
    // in the subscription of the private-endpoint subnet.
    if spec.dns.mode == crate::api::DnsMode::AzurePrivateDns
        && let Some(rg) = &spec.dns.zone_resource_group
    {
        let pe_subnet = WorkspaceIds::of(spec).pe_subnet;
        let zone_sub = ids::segment(&pe_subnet, "subscriptions").unwrap_or(sub);
        out.push(named("spec.dns.zoneResourceGroup", ids::resource_group(zone_sub, rg), Usage::DnsZones));
    }
    out
}

fn endpoint(spec: &PrivateEndpointBindingSpec) -> Vec<Named> {
    let subnet = spec.subnet_id.as_str();
    let sub = endpoint_subscription(spec);
    let (rg_field, rg) = match &spec.resource_group {
        Some(rg) => ("spec.resourceGroup".to_string(), rg.clone()),
        None => (
            "spec.subnetId (its resource group holds the endpoint)".to_string(),
            ids::segment(subnet, "resourceGroups").unwrap_or_default().to_string(),
        ),
    };
    let mut out = vec![
        named(rg_field, ids::resource_group(&sub, &rg), Usage::Create),
        named("spec.subnetId", subnet, Usage::Link),
        named("spec.target.id", spec.target.id.as_str(), Usage::Target),
    ];
    if spec.dns.mode == EndpointDnsMode::AzurePrivateDns {
        if let Some(zrg) = &spec.dns.zone_resource_group {
            out.push(named("spec.dns.zoneResourceGroup", ids::resource_group(&sub, zrg), Usage::DnsZones));
        }
        if spec.dns.link_vnet_ids.is_empty() {
            out.push(named("spec.subnetId (its VNet is linked to the zones)", ids::parent_of(subnet), Usage::Target));
        }
        for (i, v) in spec.dns.link_vnet_ids.iter().enumerate() {
            out.push(named(format!("spec.dns.linkVnetIds[{i}]"), v.as_str(), Usage::Target));
        }
    }
    out
}

fn subnet(spec: &ComputeSubnetSpec, ws: &SecureWorkspace) -> Vec<Named> {
    let w = &ws.spec;
    let p = via(ws);
    // The NSG and route table moat creates go into the workspace's resource group.
    let mut out = vec![named(format!("{p} spec.resourceGroup"), ids::resource_group(w.subscription_id.as_str(), &w.resource_group), Usage::Create)];
    match (&spec.vnet_id, &w.network.vnet.id) {
        (Some(v), _) => out.push(named("spec.vnetId", v.as_str(), Usage::WriteChildren)),
        (None, Some(v)) => out.push(named(format!("{p} spec.network.vnet.id"), v.as_str(), Usage::WriteChildren)),
        // The workspace's own VNet, in its resource group (covered above).
        (None, None) => {}
    }
    if let Some(id) = &spec.nsg.id {
        out.push(named("spec.nsg.id", id.as_str(), Usage::WriteChildren));
    }
    if let Some(id) = spec.forced_tunneling.as_ref().and_then(|f| f.route_table_id.as_ref()) {
        out.push(named("spec.forcedTunneling.routeTableId", id.as_str(), Usage::WriteChildren));
    }
    out
}

#[cfg(test)]
mod tests {
    //! The inventory cannot forget a field: every spec field whose CRD schema is an ARM id (or a
    //! resource group name) must be listed with its path, on specs that set every such field.

    use std::collections::BTreeSet;

    use kube::CustomResourceExt;
    use serde_json::{Value, json};

    use super::*;
    use crate::api::{ComputeSubnet, PrivateEndpointBinding};

    const S1: &str = "6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b";
    const S2: &str = "11111111-2222-3333-4444-555555555555";

    fn id(sub: &str, rg: &str, t: &str, name: &str) -> String {
        format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/{t}/{name}")
    }

    /// Paths (`spec.a.b`, `spec.list[]`) of every field the CRD schema types as an ARM id, or
    /// that names a resource group.
    fn arm_fields<K: CustomResourceExt>() -> BTreeSet<String> {
        let crd = serde_json::to_value(K::crd()).expect("crd json");
        let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        let mut out = BTreeSet::new();
        walk_schema(spec, "spec", &mut out);
        out
    }

    fn walk_schema(schema: &Value, path: &str, out: &mut BTreeSet<String>) {
        let is_arm_id = schema["x-kubernetes-validations"]
            .as_array()
            .is_some_and(|rules| rules.iter().any(|r| r["message"].as_str().is_some_and(|m| m.starts_with("must be an ARM resource id"))));
        let names_rg = path.rsplit('.').next().is_some_and(|last| last.to_ascii_lowercase().ends_with("resourcegroup"));
        if (is_arm_id || names_rg) && schema["type"] == "string" {
            out.insert(path.to_string());
        }
        if let Some(props) = schema["properties"].as_object() {
            for (k, v) in props {
                walk_schema(v, &format!("{path}.{k}"), out);
            }
        }
        if schema["items"].is_object() {
            walk_schema(&schema["items"], &format!("{path}[]"), out);
        }
    }

    /// Every string leaf of a spec as (path with indices, value).
    fn leaves(v: &Value, path: &str, out: &mut Vec<(String, String)>) {
        match v {
            Value::String(s) => out.push((path.to_string(), s.clone())),
            Value::Object(m) => m.iter().for_each(|(k, x)| leaves(x, &format!("{path}.{k}"), out)),
            Value::Array(a) => a.iter().enumerate().for_each(|(i, x)| leaves(x, &format!("{path}[{i}]"), out)),
            _ => {}
        }
    }

    fn unindexed(p: &str) -> String {
        regex::Regex::new(r"\[\d+\]").expect("regex").replace_all(p, "[]").into_owned()
    }

    /// Checks `inventory` against the fixture `spec` and the schema's ARM fields.
    fn assert_exhaustive(kind: &str, schema_fields: &BTreeSet<String>, spec: &Value, inventory: &[Named]) {
        let mut all = Vec::new();
        leaves(spec, "spec", &mut all);
        // The fixture sets every ARM field of the schema (a new field fails here until it does).
        let set: BTreeSet<String> = all.iter().map(|(p, _)| unindexed(p)).collect();
        let unset: Vec<&String> = schema_fields.iter().filter(|f| !set.contains(*f)).collect();
        assert!(unset.is_empty(), "{kind}: the fixture leaves ARM fields {unset:?} unset: set them so the inventory is checked for them");
        for (path, value) in &all {
            let is_id = value.starts_with("/subscriptions/");
            let in_schema = schema_fields.contains(&unindexed(path));
            assert!(!is_id || in_schema, "{kind}: {path} holds an ARM id but its schema is not ArmId-typed");
            if !in_schema {
                continue;
            }
            let listed = inventory.iter().any(|n| {
                (n.field == *path || n.field.starts_with(&format!("{path} ")))
                    && (n.id.eq_ignore_ascii_case(value) || n.id.to_ascii_lowercase().ends_with(&format!("/resourcegroups/{}", value.to_ascii_lowercase())))
            });
            assert!(listed, "{kind}: {path} = {value} is missing from tenancy::inventory: {inventory:#?}");
        }
    }

    fn workspace_spec() -> Value {
        json!({
            "subscriptionId": S1,
            "resourceGroup": "rg-team-a",
            "location": "westeurope",
            "credentialRef": {"name": "team-a-sp"},
            "network": {
                "vnet": {"id": id(S2, "rg-hub", "Microsoft.Network/virtualNetworks", "vnet-hub")},
                "privateEndpointSubnet": {"name": "snet-pe", "addressPrefix": "10.0.0.0/24"}
            },
            "workspace": {"name": "mlw-a"},
            "storage": {"id": id(S1, "rg-data", "Microsoft.Storage/storageAccounts", "st")},
            "keyVault": {"id": id(S1, "rg-sec", "Microsoft.KeyVault/vaults", "kv")},
            "containerRegistry": {"id": id(S1, "rg-acr", "Microsoft.ContainerRegistry/registries", "cr")},
            "applicationInsights": {"id": id(S1, "rg-mon", "Microsoft.Insights/components", "appi")},
            "dns": {"mode": "AzurePrivateDns", "zoneResourceGroup": "rg-dns"}
        })
    }

    #[test]
    fn workspace_inventory_lists_every_arm_field() {
        let spec = workspace_spec();
        let typed: SecureWorkspaceSpec = serde_json::from_value(spec.clone()).expect("workspace spec");
        let inv = Subject::Workspace(&typed).inventory();
        assert_exhaustive("SecureWorkspace", &arm_fields::<SecureWorkspace>(), &spec, &inv);
        let usage = |f: &str| inv.iter().find(|n| n.field == f).map(|n| n.usage);
        assert_eq!(usage("spec.resourceGroup"), Some(Usage::Create));
        assert_eq!(usage("spec.network.vnet.id"), Some(Usage::WriteChildren));
        assert_eq!(usage("spec.storage.id"), Some(Usage::Link));
        // The zone resource group is in the private-endpoint subnet's subscription (the adopted VNet's).
        let dns = inv.iter().find(|n| n.field == "spec.dns.zoneResourceGroup").expect("zone rg");
        assert_eq!((dns.usage, dns.id.as_str()), (Usage::DnsZones, format!("/subscriptions/{S2}/resourceGroups/rg-dns").as_str()));
    }

    #[test]
    fn endpoint_inventory_lists_every_arm_field() {
        let spec = json!({
            "target": {"id": id(S1, "rg-data", "Microsoft.Storage/storageAccounts", "st"), "groupId": "blob"},
            "subnetId": format!("{}/subnets/snet-pe", id(S1, "rg-net", "Microsoft.Network/virtualNetworks", "vnet")),
            "location": "westeurope",
            "resourceGroup": "rg-pe",
            "credentialRef": {"name": "sp"},
            "dns": {
                "mode": "AzurePrivateDns",
                "zoneResourceGroup": "rg-dns",
                "linkVnetIds": [id(S1, "rg-hub", "Microsoft.Network/virtualNetworks", "hub"), id(S2, "rg-spoke", "Microsoft.Network/virtualNetworks", "spoke")]
            }
        });
        let typed: PrivateEndpointBindingSpec = serde_json::from_value(spec.clone()).expect("binding spec");
        let inv = Subject::Endpoint(&typed).inventory();
        assert_exhaustive("PrivateEndpointBinding", &arm_fields::<PrivateEndpointBinding>(), &spec, &inv);
        let usage = |f: &str| inv.iter().find(|n| n.field == f).map(|n| n.usage);
        assert_eq!(usage("spec.target.id"), Some(Usage::Target));
        assert_eq!(usage("spec.dns.linkVnetIds[1]"), Some(Usage::Target));
        assert_eq!(usage("spec.subnetId"), Some(Usage::Link));
        assert_eq!(usage("spec.dns.zoneResourceGroup"), Some(Usage::DnsZones));
        assert_eq!(usage("spec.resourceGroup"), Some(Usage::Create));

        // Defaults are implied and listed too: the subnet's resource group and VNet.
        let mut bare = typed.clone();
        bare.resource_group = None;
        bare.dns.link_vnet_ids.clear();
        bare.dns.zone_resource_group = None;
        let inv = Subject::Endpoint(&bare).inventory();
        let rg = inv.iter().find(|n| n.usage == Usage::Create).expect("endpoint rg");
        assert!(rg.field.starts_with("spec.subnetId") && rg.id.ends_with("/resourceGroups/rg-net"), "{rg:?}");
        assert!(inv.iter().any(|n| n.usage == Usage::Target && n.id.ends_with("virtualNetworks/vnet")), "{inv:?}");
    }

    #[test]
    fn subnet_inventory_lists_every_arm_field_and_the_workspace_scopes() {
        let spec = json!({
            "workspaceRef": {"name": "ws"},
            "vnetId": id(S1, "rg-net", "Microsoft.Network/virtualNetworks", "vnet"),
            "name": "snet-train",
            "addressPrefix": "10.0.4.0/24",
            "purpose": "Training",
            "nsg": {"id": id(S1, "rg-b", "Microsoft.Network/networkSecurityGroups", "nsg-b"), "sshFrom": ["0.0.0.0/0"]},
            "forcedTunneling": {"routeTableId": id(S2, "rg-b", "Microsoft.Network/routeTables", "rt-b")}
        });
        let typed: ComputeSubnetSpec = serde_json::from_value(spec.clone()).expect("subnet spec");
        let mut ws = SecureWorkspace::new("ws", serde_json::from_value(workspace_spec()).expect("workspace spec"));
        ws.metadata.namespace = Some("team-a".into());
        let inv = Subject::Subnet { spec: &typed, workspace: &ws }.inventory();
        assert_exhaustive("ComputeSubnet", &arm_fields::<ComputeSubnet>(), &spec, &inv);
        assert!(inv.iter().any(|n| n.usage == Usage::Create && n.id == format!("/subscriptions/{S1}/resourceGroups/rg-team-a")), "{inv:?}");
        assert_eq!(inv.iter().find(|n| n.field == "spec.nsg.id").map(|n| n.usage), Some(Usage::WriteChildren));
        // Without its own vnetId the subnet goes into the workspace's adopted VNet: listed, via the workspace.
        let mut own = typed.clone();
        own.vnet_id = None;
        let inv = Subject::Subnet { spec: &own, workspace: &ws }.inventory();
        let v = inv.iter().find(|n| n.usage == Usage::WriteChildren && n.id.contains("vnet-hub")).expect("workspace vnet");
        assert!(v.field.contains("SecureWorkspace ws") && v.field.ends_with("spec.network.vnet.id"), "{v:?}");
        assert_eq!(Subject::Subnet { spec: &own, workspace: &ws }.credential_ref().map(|r| r.name.as_str()), Some("team-a-sp"));
    }
}
