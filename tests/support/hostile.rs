//! A corpus of hostile manifests: each one field (or a few) of a good object made wrong the ways
//! platform teams and attackers do (typos, limits, path tricks, impossible numbers, objects that
//! contradict their siblings). Shared by `tests/hostile_corpus.rs`, which sends every manifest
//! through admission on a real apiserver, `moat validate` and a running moat.
#![allow(dead_code)]

use serde_json::{Value, json};

use super::e2e::{RG, SUB};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Workspace,
    Subnet,
    Endpoint,
}

pub struct Case {
    pub what: &'static str,
    pub kind: Kind,
    /// Dotted paths (numeric segments index arrays) and their new values; `null` removes.
    pub edits: Vec<(&'static str, Value)>,
    /// The field the user must be told about (kubectl's error, `moat validate`, status).
    pub field: &'static str,
}

fn c(what: &'static str, kind: Kind, edits: Vec<(&'static str, Value)>, field: &'static str) -> Case {
    Case { what, kind, edits, field }
}

fn arm(rg: &str, provider: &str, name: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/{rg}/providers/{provider}/{name}")
}

pub fn vnet_id() -> String {
    arm(RG, "Microsoft.Network/virtualNetworks", "vnet-ml-prod")
}

pub fn pe_subnet_id() -> String {
    format!("{}/subnets/snet-private-endpoints", vnet_id())
}

/// Sets `path` in `v` (creating objects on the way); `null` removes the last key.
pub fn set(v: &mut Value, path: &str, new: Value) {
    let parts: Vec<&str> = path.split('.').collect();
    let mut cur = v;
    for p in &parts[..parts.len() - 1] {
        cur = match p.parse::<usize>() {
            Ok(i) => &mut cur[i],
            Err(_) => {
                if cur.get(*p).is_none() {
                    cur[*p] = json!({});
                }
                &mut cur[*p]
            }
        };
    }
    let last = parts[parts.len() - 1];
    match (new, last.parse::<usize>()) {
        (Value::Null, Err(_)) => {
            if let Some(o) = cur.as_object_mut() {
                o.remove(last);
            }
        }
        (other, Ok(i)) => match cur.as_array_mut() {
            Some(a) if i == a.len() => a.push(other),
            _ => cur[i] = other,
        },
        (other, Err(_)) => cur[last] = other,
    }
}

/// A good SecureWorkspace named `name` whose Azure names are its own (so that hostile
/// workspaces never collide with each other or with the namespace's good one).
pub fn workspace(ns: &str, name: &str, n: usize) -> Value {
    json!({
        "apiVersion": "moat.dev/v1alpha1", "kind": "SecureWorkspace",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "subscriptionId": SUB, "resourceGroup": format!("rg-hostile-{n:03}"), "location": "westeurope",
            "network": {
                "vnet": {"name": format!("vnet-h{n:03}"), "addressSpace": [format!("10.{}.0.0/16", 100 + n % 100)]},
                "privateEndpointSubnet": {"name": "snet-pe", "addressPrefix": format!("10.{}.0.0/24", 100 + n % 100)}
            },
            "workspace": {"name": format!("mlw-h{n:03}"), "publicNetworkAccess": "Disabled", "imageBuildCompute": "cpu-cluster"},
            "storage": {"name": format!("sth{n:03}")},
            "keyVault": {"name": format!("kv-h{n:03}")},
            "containerRegistry": {"name": format!("crh{n:03}"), "sku": "Premium"},
            "applicationInsights": {"name": format!("appi-h{n:03}")},
            "connectivity": {"mode": "PrivateEndpoint", "allowTrustedMicrosoftServices": true},
            "dns": {"mode": "AzurePrivateDns"}
        }
    })
}

/// A good ComputeSubnet of the namespace's workspace `ml-prod` (VNet 10.20.0.0/16) with its own
/// names and a /27 of its own.
pub fn subnet(ns: &str, name: &str, n: usize) -> Value {
    json!({
        "apiVersion": "moat.dev/v1alpha1", "kind": "ComputeSubnet",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "workspaceRef": {"name": "ml-prod"}, "name": format!("snet-h{n:03}"),
            "addressPrefix": format!("10.20.{}.{}/27", 16 + n / 8, (n % 8) * 32),
            "purpose": "Training", "expectedNodes": 10, "nsg": {"name": format!("nsg-h{n:03}")},
            "outbound": {"mode": "Restricted", "extraRules": [{"name": "pypi-proxy", "destination": "10.30.0.4", "ports": ["443"]}]},
            "forcedTunneling": {"routeTableName": format!("rt-h{n:03}"), "firewallIp": "10.30.0.4"}
        }
    })
}

/// The data-lake account the endpoint of case `n` targets (one per case, so that hostile
/// bindings never share a DNS name; the test seeds them).
pub fn endpoint_target(n: usize) -> String {
    arm("rg-data", "Microsoft.Storage/storageAccounts", &format!("sth{n:03}lake"))
}

/// A good standalone PrivateEndpointBinding to its own data-lake account.
pub fn endpoint(ns: &str, name: &str, n: usize) -> Value {
    json!({
        "apiVersion": "moat.dev/v1alpha1", "kind": "PrivateEndpointBinding",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "target": {"id": endpoint_target(n), "groupId": "dfs"},
            "subnetId": pe_subnet_id(), "location": "westeurope",
            "privateEndpointName": format!("pe-h{n:03}"),
            "dns": {"mode": "AzurePrivateDns"}
        }
    })
}

/// The manifest of case `n`.
pub fn manifest(case: &Case, ns: &str, n: usize) -> Value {
    let name = format!("h{n:03}");
    let mut v = match case.kind {
        Kind::Workspace => workspace(ns, &name, n),
        Kind::Subnet => subnet(ns, &name, n),
        Kind::Endpoint => endpoint(ns, &name, n),
    };
    for (path, value) in &case.edits {
        set(&mut v, path, value.clone());
    }
    v
}

pub fn cases() -> Vec<Case> {
    use Kind::{Endpoint as P, Subnet as S, Workspace as W};
    let long = |n: usize| "a".repeat(n);
    let vnet = vnet_id();
    let st = arm("rg-data", "Microsoft.Storage/storageAccounts", "stdatalake01");
    vec![
        // SecureWorkspace: identity of the object and where it lives.
        c("name longer than a label value", W, vec![("metadata.name", json!(long(64)))], "metadata.name"),
        c("subscription id not a UUID", W, vec![("spec.subscriptionId", json!("prod-subscription"))], "spec.subscriptionId"),
        c("subscription id empty", W, vec![("spec.subscriptionId", json!(""))], "spec.subscriptionId"),
        c("resource group with a path", W, vec![("spec.resourceGroup", json!("../../x"))], "spec.resourceGroup"),
        c("resource group with a slash", W, vec![("spec.resourceGroup", json!("rg/ml"))], "spec.resourceGroup"),
        c("resource group ending in a period", W, vec![("spec.resourceGroup", json!("rg-ml."))], "spec.resourceGroup"),
        c("resource group of 91 characters", W, vec![("spec.resourceGroup", json!(long(91)))], "spec.resourceGroup"),
        c("resource group empty", W, vec![("spec.resourceGroup", json!(""))], "spec.resourceGroup"),
        c("location with a space", W, vec![("spec.location", json!("west europe"))], "spec.location"),
        c("location missing", W, vec![("spec.location", Value::Null)], "spec.location"),
        c("deletion policy unknown", W, vec![("spec.deletionPolicy", json!("Maybe"))], "spec.deletionPolicy"),
        // The network.
        c("VNet CIDR prefix 33", W, vec![("spec.network.vnet.addressSpace", json!(["10.20.0.0/33"]))], "spec.network.vnet.addressSpace"),
        c("VNet CIDR with an octet of 300", W, vec![("spec.network.vnet.addressSpace", json!(["10.300.0.0/16"]))], "spec.network.vnet.addressSpace"),
        c("VNet CIDR that is a word", W, vec![("spec.network.vnet.addressSpace", json!(["corp"]))], "spec.network.vnet.addressSpace"),
        c("VNet address space empty", W, vec![("spec.network.vnet.addressSpace", json!([]))], "spec.network.vnet.addressSpace"),
        c("VNet CIDR with host bits", W, vec![("spec.network.vnet.addressSpace", json!(["10.20.0.1/16"]))], "spec.network.vnet.addressSpace"),
        c("VNet ranges overlapping", W, vec![("spec.network.vnet.addressSpace", json!(["10.120.0.0/16", "10.120.4.0/24"]))], "spec.network.vnet.addressSpace"),
        c("VNet name of 65 characters", W, vec![("spec.network.vnet.name", json!(long(65)))], "spec.network.vnet.name"),
        c("VNet name ending with a hyphen", W, vec![("spec.network.vnet.name", json!("vnet-"))], "spec.network.vnet.name"),
        c("VNet both named and adopted", W, vec![("spec.network.vnet.id", json!(vnet))], "spec.network.vnet"),
        c("VNet id ending in ..", W, vec![("spec.network.vnet", json!({"id": format!("{vnet}/..")}))], "spec.network.vnet.id"),
        c("VNet id of a route table", W, vec![("spec.network.vnet", json!({"id": arm(RG, "Microsoft.Network/routeTables", "rt")}))], "spec.network.vnet.id"),
        c("VNet id with an empty segment", W, vec![("spec.network.vnet", json!({"id": format!("/subscriptions/{SUB}/resourceGroups//providers/Microsoft.Network/virtualNetworks/v")}))], "spec.network.vnet.id"),
        c("VNet id that is a name", W, vec![("spec.network.vnet", json!({"id": "vnet-ml-prod"}))], "spec.network.vnet.id"),
        c("PE subnet outside the VNet", W, vec![("spec.network.privateEndpointSubnet.addressPrefix", json!("10.99.0.0/24"))], "spec.network.privateEndpointSubnet.addressPrefix"),
        c("PE subnet with host bits", W, vec![("spec.network.privateEndpointSubnet.addressPrefix", json!("10.105.0.7/24"))], "spec.network.privateEndpointSubnet.addressPrefix"),
        c("PE subnet of a /30", W, vec![("spec.network.privateEndpointSubnet.addressPrefix", json!("10.106.0.0/30"))], "spec.network.privateEndpointSubnet.addressPrefix"),
        c("PE subnet name with a space", W, vec![("spec.network.privateEndpointSubnet.name", json!("snet pe"))], "spec.network.privateEndpointSubnet.name"),
        c("PE subnet missing", W, vec![("spec.network.privateEndpointSubnet", Value::Null)], "spec.network.privateEndpointSubnet"),
        // The workspace and its dependencies.
        c("workspace name of 34 characters", W, vec![("spec.workspace.name", json!(long(34)))], "spec.workspace.name"),
        c("workspace name with a period", W, vec![("spec.workspace.name", json!("mlw.prod"))], "spec.workspace.name"),
        c("public network access unknown", W, vec![("spec.workspace.publicNetworkAccess", json!("Sometimes"))], "spec.workspace.publicNetworkAccess"),
        c("storage name with capitals", W, vec![("spec.storage.name", json!("StMlHostile"))], "spec.storage.name"),
        c("storage name of 25 characters", W, vec![("spec.storage.name", json!(long(25)))], "spec.storage.name"),
        c("storage name with a hyphen", W, vec![("spec.storage.name", json!("st-ml-h"))], "spec.storage.name"),
        c("storage both named and adopted", W, vec![("spec.storage.id", json!(st))], "spec.storage"),
        c("storage id of a vault", W, vec![("spec.storage", json!({"id": arm(RG, "Microsoft.KeyVault/vaults", "kv")}))], "spec.storage.id"),
        c("storage id with ..", W, vec![("spec.storage", json!({"id": format!("{st}/../../x")}))], "spec.storage.id"),
        c("storage endpoints without file", W, vec![("spec.storage.privateEndpoints", json!(["blob", "queue"]))], "spec.storage.privateEndpoints"),
        c("storage endpoint unknown", W, vec![("spec.storage.privateEndpoints", json!(["blob", "file", "sql"]))], "spec.storage.privateEndpoints"),
        c("key vault name of 2 characters", W, vec![("spec.keyVault.name", json!("kv"))], "spec.keyVault.name"),
        c("key vault name starting with a digit", W, vec![("spec.keyVault.name", json!("1kv-ml"))], "spec.keyVault.name"),
        c("key vault name with a double hyphen", W, vec![("spec.keyVault.name", json!("kv--ml"))], "spec.keyVault.name"),
        c("key vault id of a registry", W, vec![("spec.keyVault", json!({"id": arm(RG, "Microsoft.ContainerRegistry/registries", "cr")}))], "spec.keyVault.id"),
        c("registry name with a hyphen", W, vec![("spec.containerRegistry.name", json!("cr-ml-prod"))], "spec.containerRegistry.name"),
        c("registry name of 4 characters", W, vec![("spec.containerRegistry.name", json!("crml"))], "spec.containerRegistry.name"),
        c("registry Basic", W, vec![("spec.containerRegistry.sku", json!("Basic"))], "spec.containerRegistry.sku"),
        c("registry Standard", W, vec![("spec.containerRegistry.sku", json!("Standard"))], "spec.containerRegistry.sku"),
        c("registry sku unknown", W, vec![("spec.containerRegistry.sku", json!("Platinum"))], "spec.containerRegistry.sku"),
        c("Application Insights name with a slash", W, vec![("spec.applicationInsights.name", json!("appi/ml"))], "spec.applicationInsights.name"),
        c("Application Insights id of a workspace", W, vec![("spec.applicationInsights", json!({"id": arm(RG, "Microsoft.MachineLearningServices/workspaces", "w")}))], "spec.applicationInsights.id"),
        c("connectivity mode unknown", W, vec![("spec.connectivity.mode", json!("Tunnel"))], "spec.connectivity.mode"),
        c("DNS mode unknown", W, vec![("spec.dns.mode", json!("Bind"))], "spec.dns.mode"),
        c("DNS zone resource group with a path", W, vec![("spec.dns.zoneResourceGroup", json!("../../x"))], "spec.dns.zoneResourceGroup"),
        c("DNS zone with a slash", W, vec![("spec.dns.zones", json!(["privatelink.blob.core.windows.net/x"]))], "spec.dns.zones"),
        c("tag name with <", W, vec![("spec.tags", json!({"<owner>": "ml"}))], "spec.tags"),
        c("tag name with a slash", W, vec![("spec.tags", json!({"team/ml": "x"}))], "spec.tags"),
        c("tag value of 257 characters", W, vec![("spec.tags", json!({"owner": long(257)}))], "spec.tags"),
        c("tag name of 129 characters", W, vec![("spec.tags", json!({long(129): "x"}))], "spec.tags"),
        c("credential ref without a name", W, vec![("spec.credentialRef", json!({}))], "spec.credentialRef"),
        // ComputeSubnet.
        c("subnet object name too long", S, vec![("metadata.name", json!(long(254)))], "metadata.name"),
        c("no workspace named", S, vec![("spec.workspaceRef", json!({}))], "spec.workspaceRef"),
        c("subnet name of 81 characters", S, vec![("spec.name", json!(long(81)))], "spec.name"),
        c("subnet name with a slash", S, vec![("spec.name", json!("snet/x"))], "spec.name"),
        c("subnet prefix 33", S, vec![("spec.addressPrefix", json!("10.20.4.0/33"))], "spec.addressPrefix"),
        c("subnet prefix with host bits", S, vec![("spec.addressPrefix", json!("10.20.4.1/25"))], "spec.addressPrefix"),
        c("subnet prefix that is a word", S, vec![("spec.addressPrefix", json!("training"))], "spec.addressPrefix"),
        c("subnet outside the workspace VNet", S, vec![("spec.addressPrefix", json!("10.99.4.0/27"))], "spec.addressPrefix"),
        c("subnet overlapping the PE subnet", S, vec![("spec.addressPrefix", json!("10.20.0.0/27"))], "spec.addressPrefix"),
        c("subnet too small for its nodes", S, vec![("spec.expectedNodes", json!(200))], "spec.addressPrefix"),
        c("negative node count", S, vec![("spec.expectedNodes", json!(-1))], "spec.expectedNodes"),
        c("node count as text", S, vec![("spec.expectedNodes", json!("ten"))], "spec.expectedNodes"),
        c("purpose unknown", S, vec![("spec.purpose", json!("Gpu"))], "spec.purpose"),
        c("NSG both named and adopted", S, vec![("spec.nsg.id", json!(arm(RG, "Microsoft.Network/networkSecurityGroups", "nsg")))], "spec.nsg"),
        c("NSG id of a route table", S, vec![("spec.nsg", json!({"id": arm(RG, "Microsoft.Network/routeTables", "rt")}))], "spec.nsg.id"),
        c("NSG id with ..", S, vec![("spec.nsg", json!({"id": format!("{}/..", arm(RG, "Microsoft.Network/networkSecurityGroups", "nsg"))}))], "spec.nsg.id"),
        c("NSG name of 81 characters", S, vec![("spec.nsg", json!({"name": long(81)}))], "spec.nsg.name"),
        c("SSH from a word", S, vec![("spec.nsg.sshFrom", json!(["office"]))], "spec.nsg.sshFrom"),
        c("SSH from the internet", S, vec![("spec.nsg.sshFrom", json!(["0.0.0.0/0"]))], "spec.nsg.sshFrom"),
        c("outbound mode unknown", S, vec![("spec.outbound.mode", json!("Open"))], "spec.outbound.mode"),
        c("port above 65535", S, vec![("spec.outbound.extraRules.0.ports", json!(["99999"]))], "spec.outbound.extraRules"),
        c("port range high-low", S, vec![("spec.outbound.extraRules.0.ports", json!(["443-80"]))], "spec.outbound.extraRules"),
        c("port zero", S, vec![("spec.outbound.extraRules.0.ports", json!(["0"]))], "spec.outbound.extraRules"),
        c("port that is a word", S, vec![("spec.outbound.extraRules.0.ports", json!(["https"]))], "spec.outbound.extraRules"),
        c("no ports", S, vec![("spec.outbound.extraRules.0.ports", json!([]))], "spec.outbound.extraRules"),
        c("rule destination a word", S, vec![("spec.outbound.extraRules.0.destination", json!("the proxy"))], "spec.outbound.extraRules"),
        c("rule name with a space", S, vec![("spec.outbound.extraRules.0.name", json!("pypi proxy"))], "spec.outbound.extraRules"),
        c("rule names twice", S, vec![("spec.outbound.extraRules.1", json!({"name": "pypi-proxy", "destination": "10.30.0.5", "ports": ["443"]}))], "spec.outbound.extraRules"),
        c("restricted rule to the internet", S, vec![("spec.outbound.extraRules.0.destination", json!("0.0.0.0/0"))], "spec.outbound.extraRules"),
        c("restricted rule to Internet", S, vec![("spec.outbound.extraRules.0.destination", json!("Internet"))], "spec.outbound.extraRules"),
        c("firewall IP with an octet of 300", S, vec![("spec.forcedTunneling.firewallIp", json!("10.30.0.300"))], "spec.forcedTunneling.firewallIp"),
        c("firewall IP a CIDR", S, vec![("spec.forcedTunneling.firewallIp", json!("10.30.0.0/24"))], "spec.forcedTunneling.firewallIp"),
        c("route table id of an NSG", S, vec![("spec.forcedTunneling", json!({"routeTableId": arm(RG, "Microsoft.Network/networkSecurityGroups", "nsg"), "firewallIp": "10.30.0.4"}))], "spec.forcedTunneling.routeTableId"),
        c("route table both named and adopted", S, vec![("spec.forcedTunneling.routeTableId", json!(arm(RG, "Microsoft.Network/routeTables", "rt")))], "spec.forcedTunneling"),
        c("AKS settings on a training subnet", S, vec![("spec.aks", json!({"serviceCidr": "10.250.0.0/16", "dnsServiceIP": "10.250.0.10"}))], "spec.aks"),
        c("AKS DNS IP outside the service CIDR", S, vec![("spec.purpose", json!("Inference")), ("spec.aks", json!({"serviceCidr": "10.250.0.0/16", "dnsServiceIP": "10.251.0.10"}))], "spec.aks.dnsServiceIP"),
        c("AKS service CIDR overlapping the subnet", S, vec![("spec.purpose", json!("Inference")), ("spec.aks", json!({"serviceCidr": "10.20.0.0/16", "dnsServiceIP": "10.20.0.10"}))], "spec.aks.serviceCidr"),
        c("Docker bridge a word", S, vec![("spec.purpose", json!("Inference")), ("spec.aks", json!({"serviceCidr": "10.250.0.0/16", "dnsServiceIP": "10.250.0.10", "dockerBridgeCidr": "bridge"}))], "spec.aks.dockerBridgeCidr"),
        c("Docker bridge inside the service CIDR", S, vec![("spec.purpose", json!("Inference")), ("spec.aks", json!({"serviceCidr": "10.250.0.0/16", "dnsServiceIP": "10.250.0.10", "dockerBridgeCidr": "10.250.1.1/24"}))], "spec.aks.dockerBridgeCidr"),
        c("a workspace that does not exist", S, vec![("spec.workspaceRef", json!({"name": "ml-prdo"}))], "spec.workspaceRef"),
        // PrivateEndpointBinding.
        c("target id with ..", P, vec![("spec.target.id", json!(format!("{st}/..")))], "spec.target.id"),
        c("target id that is a name", P, vec![("spec.target.id", json!("stdatalake01"))], "spec.target.id"),
        c("groupId unknown", P, vec![("spec.target.groupId", json!("sql"))], "spec.target.groupId"),
        c("groupId of another type", P, vec![("spec.target.groupId", json!("vault"))], "spec.target.groupId"),
        c("subnet id of a VNet", P, vec![("spec.subnetId", json!(vnet))], "spec.subnetId"),
        c("subnet id with ..", P, vec![("spec.subnetId", json!(format!("{}/../x", pe_subnet_id())))], "spec.subnetId"),
        c("location empty", P, vec![("spec.location", json!(""))], "spec.location"),
        c("location in another region", P, vec![("spec.location", json!("eastus"))], "spec.location"),
        c("endpoint name of 81 characters", P, vec![("spec.privateEndpointName", json!(long(81)))], "spec.privateEndpointName"),
        c("endpoint name with a slash", P, vec![("spec.privateEndpointName", json!("pe/x"))], "spec.privateEndpointName"),
        c("object name too long for a derived endpoint name", P, vec![("metadata.name", json!(long(81))), ("spec.privateEndpointName", Value::Null)], "metadata.name"),
        c("DNS mode unknown", P, vec![("spec.dns.mode", json!("Bind"))], "spec.dns.mode"),
        c("DNS zone resource group with a path", P, vec![("spec.dns.zoneResourceGroup", json!("../x"))], "spec.dns.zoneResourceGroup"),
        c("DNS zone with a slash", P, vec![("spec.dns.zones", json!(["privatelink.dfs.core.windows.net/.."]))], "spec.dns.zones"),
        c("DNS link to a subnet", P, vec![("spec.dns.linkVnetIds", json!([pe_subnet_id()]))], "spec.dns.linkVnetIds"),
        c("DNS link id with ..", P, vec![("spec.dns.linkVnetIds", json!([format!("{vnet}/..")]))], "spec.dns.linkVnetIds"),
        c("tag value of 257 characters", P, vec![("spec.tags", json!({"owner": long(257)}))], "spec.tags"),
        c("tag name with %", P, vec![("spec.tags", json!({"100%": "x"}))], "spec.tags"),
        c("deletion policy unknown", P, vec![("spec.deletionPolicy", json!("Later"))], "spec.deletionPolicy"),
        c("request message of 141 characters", P, vec![("spec.manualApproval", json!({"requestMessage": long(141)}))], "spec.manualApproval.requestMessage"),
    ]
}
