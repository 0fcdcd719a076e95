//! The constraint catalog's cases: one breaking and one satisfying change per rule of a base
//! fixture (the shipped samples), shared by the offline table (`tests/constraints_table.rs`) and
//! the live parity test (`tests/e2e_parity.rs`), so the two judge exactly the same manifests.
#![allow(dead_code)]

use moat::api::{ComputeSubnet, PrivateEndpointBinding, SecureWorkspace};
use moat::constraints::{self, Finding, Inputs, Observed};
use serde_json::{Value, json};

pub const SUB: &str = "6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b";
pub const OTHER_SUB: &str = "11111111-2222-3333-4444-555555555555";
pub const VNET: &str = "/subscriptions/6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b/resourceGroups/rg-ml-prod/providers/Microsoft.Network/virtualNetworks/vnet-ml-prod";
pub const HUB: &str = "/subscriptions/6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b/resourceGroups/rg-hub/providers/Microsoft.Network/virtualNetworks/vnet-hub";
pub const NSG: &str = "/subscriptions/6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b/resourceGroups/rg-ml-prod/providers/Microsoft.Network/networkSecurityGroups/nsg-shared";
pub const RT: &str = "/subscriptions/6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b/resourceGroups/rg-hub/providers/Microsoft.Network/routeTables/rt-hub";

#[derive(Clone)]
pub struct Fx {
    pub ws: Value,
    pub subnets: Vec<Value>,
    pub pebs: Vec<Value>,
    pub observed: Value,
}

pub fn base() -> Fx {
    Fx {
        ws: json!({
            "apiVersion": "moat.dev/v1alpha1", "kind": "SecureWorkspace",
            "metadata": {"name": "ml-prod", "namespace": "ml-platform"},
            "spec": {
                "subscriptionId": SUB, "resourceGroup": "rg-ml-prod", "location": "westeurope",
                "network": {
                    "vnet": {"name": "vnet-ml-prod", "addressSpace": ["10.20.0.0/16"]},
                    "privateEndpointSubnet": {"name": "snet-private-endpoints", "addressPrefix": "10.20.0.0/24"}
                },
                "workspace": {"name": "mlw-prod", "publicNetworkAccess": "Disabled", "imageBuildCompute": "cpu-cluster"},
                "storage": {"name": "stmlprod01"},
                "keyVault": {"name": "kv-ml-prod-01"},
                "containerRegistry": {"name": "crmlprod01", "sku": "Premium"},
                "applicationInsights": {"name": "appi-ml-prod"},
                "connectivity": {"mode": "PrivateEndpoint", "allowTrustedMicrosoftServices": true},
                "dns": {"mode": "AzurePrivateDns"}
            }
        }),
        subnets: vec![
            json!({
                "apiVersion": "moat.dev/v1alpha1", "kind": "ComputeSubnet",
                "metadata": {"name": "training", "namespace": "ml-platform"},
                "spec": {
                    "workspaceRef": {"name": "ml-prod"}, "name": "snet-training", "addressPrefix": "10.20.4.0/25",
                    "purpose": "Training", "expectedNodes": 60, "nsg": {"name": "nsg-training"},
                    "outbound": {"mode": "Restricted", "extraRules": [{"name": "pypi-proxy", "destination": "10.30.0.4", "ports": ["443"]}]},
                    "forcedTunneling": {"routeTableName": "rt-training", "firewallIp": "10.30.0.4"}
                }
            }),
            json!({
                "apiVersion": "moat.dev/v1alpha1", "kind": "ComputeSubnet",
                "metadata": {"name": "inference", "namespace": "ml-platform"},
                "spec": {
                    "workspaceRef": {"name": "ml-prod"}, "name": "snet-inference", "addressPrefix": "10.20.8.0/22",
                    "purpose": "Inference", "expectedNodes": 30,
                    "aks": {"serviceCidr": "10.250.0.0/16", "dnsServiceIP": "10.250.0.10", "dockerBridgeCidr": "172.18.0.0/16"}
                }
            }),
        ],
        pebs: vec![json!({
            "apiVersion": "moat.dev/v1alpha1", "kind": "PrivateEndpointBinding",
            "metadata": {"name": "datalake-dfs", "namespace": "ml-platform"},
            "spec": {
                "target": {"id": format!("/subscriptions/{SUB}/resourceGroups/rg-data/providers/Microsoft.Storage/storageAccounts/stdatalake01"), "groupId": "dfs"},
                "subnetId": format!("{VNET}/subnets/snet-private-endpoints"),
                "location": "westeurope",
                "dns": {"mode": "AzurePrivateDns"}
            }
        })],
        observed: json!({}),
    }
}

/// Sets the value at a JSON pointer, creating objects on the way.
pub fn set(v: &mut Value, path: &str, val: Value) {
    let mut cur = v;
    let parts: Vec<String> = path.trim_start_matches('/').split('/').map(|p| p.replace("~1", "/").replace("~0", "~")).collect();
    for (i, p) in parts.iter().enumerate() {
        if i == parts.len() - 1 {
            match cur {
                Value::Array(a) => a[p.parse::<usize>().unwrap()] = val,
                _ => {
                    cur.as_object_mut().unwrap().insert(p.clone(), val);
                }
            }
            return;
        }
        cur = match cur {
            Value::Array(a) => &mut a[p.parse::<usize>().unwrap()],
            _ => cur.as_object_mut().unwrap().entry(p.clone()).or_insert_with(|| json!({})),
        };
    }
}

pub fn del(v: &mut Value, path: &str) {
    let (parent, key) = path.rsplit_once('/').unwrap();
    if let Some(o) = v.pointer_mut(parent).and_then(|p| p.as_object_mut()) {
        o.remove(key);
    }
}

pub fn evaluate(fx: &Fx) -> Vec<Finding> {
    let ws: Vec<SecureWorkspace> = vec![serde_json::from_value(fx.ws.clone()).expect("workspace fixture")];
    let subnets: Vec<ComputeSubnet> = fx.subnets.iter().map(|s| serde_json::from_value(s.clone()).expect("subnet fixture")).collect();
    let pebs: Vec<PrivateEndpointBinding> = fx.pebs.iter().map(|s| serde_json::from_value(s.clone()).expect("binding fixture")).collect();
    let observed: Observed = serde_json::from_value(fx.observed.clone()).expect("observed fixture");
    constraints::evaluate(&Inputs::new(&ws, &subnets, &pebs, &observed))
}

pub fn training(fx: &mut Fx) -> &mut Value {
    &mut fx.subnets[0]
}
pub fn inference(fx: &mut Fx) -> &mut Value {
    &mut fx.subnets[1]
}

pub fn observed_vnet(fx: &mut Fx, vnet: Value) {
    set(&mut fx.observed, &format!("/virtualNetworks/{}", VNET.replace('/', "~1")), vnet);
}

pub fn add_subnet(fx: &mut Fx, name: &str, subnet: &str, prefix: &str, purpose: &str) {
    fx.subnets.push(json!({
        "apiVersion": "moat.dev/v1alpha1", "kind": "ComputeSubnet",
        "metadata": {"name": name, "namespace": "ml-platform"},
        "spec": {"workspaceRef": {"name": "ml-prod"}, "name": subnet, "addressPrefix": prefix, "purpose": purpose, "expectedNodes": 4}
    }));
}

pub fn set_peb(fx: &mut Fx, target: String, group: &str, subnet_vnet: &str) {
    set(&mut fx.pebs[0], "/spec/target", json!({"id": target, "groupId": group}));
    set(&mut fx.pebs[0], "/spec/subnetId", json!(format!("{subnet_vnet}/subnets/snet-pe")));
}

pub fn ws_resource(ty: &str, name: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/rg-ml-prod/providers/{ty}/{name}")
}

pub fn deny(direction: &str, priority: i32, dest: &str) -> Value {
    json!({"name": "corp-deny", "direction": direction, "priority": priority, "access": "Deny", "protocol": "*",
           "sourceAddressPrefix": "*", "destinationAddressPrefix": dest, "destinationPortRange": "*"})
}

pub fn adopt_nsg(fx: &mut Fx, rules: Value) {
    set(training(fx), "/spec/nsg", json!({"id": NSG}));
    set(&mut fx.observed, &format!("/networkSecurityGroups/{}", NSG.replace('/', "~1")), json!({"securityRules": rules}));
}

pub fn hub_route_table(fx: &mut Fx, routes: Value) {
    set(&mut fx.observed, &format!("/routeTables/{}", RT.replace('/', "~1")), json!({"routes": routes}));
}

pub fn aks_cluster(fx: &mut Fx, location: &str, private: bool) {
    set(
        &mut fx.observed,
        "/aksClusters/~1subscriptions~1x~1aks-inf",
        json!({"location": location, "privateCluster": private, "subnetId": format!("{VNET}/subnets/snet-inference")}),
    );
}

pub struct Case {
    pub id: &'static str,
    pub bad: fn(&mut Fx),
    pub ok: fn(&mut Fx),
    pub figures: &'static [&'static str],
}

pub fn noop(_: &mut Fx) {}

pub fn cases() -> Vec<Case> {
    vec![
        // Schema mirror (SCHEMA-001 and SCHEMA-002 need YAML text; see the tests below).
        Case { id: "SCHEMA-003", bad: |f| set(training(f), "/spec/addressPrefix", json!("10.20.4.1/25")), ok: noop, figures: &["10.20.4.1/25 has host bits set"] },
        Case { id: "SCHEMA-004", bad: |f| set(training(f), "/spec/forcedTunneling/firewallIp", json!("10.30.0.256")), ok: noop, figures: &["\"10.30.0.256\" is not an IPv4 address"] },
        Case { id: "SCHEMA-005", bad: |f| set(&mut f.ws, "/spec/subscriptionId", json!("not-a-uuid")), ok: noop, figures: &["\"not-a-uuid\" is not a UUID"] },
        Case { id: "SCHEMA-006", bad: |f| set(&mut f.ws, "/spec/storage", json!({"id": "/subscriptions/abc/storage"})), ok: |f| set(&mut f.ws, "/spec/storage", json!({"id": ws_resource("Microsoft.Storage/storageAccounts", "st1")})), figures: &["\"/subscriptions/abc/storage\" is not an ARM resource id"] },
        Case { id: "SCHEMA-007", bad: |f| set(&mut f.ws, "/spec/storage", json!({"id": ws_resource("Microsoft.KeyVault/vaults", "kv1")})), ok: |f| set(&mut f.ws, "/spec/storage", json!({"id": ws_resource("Microsoft.Storage/storageAccounts", "st1")})), figures: &["must be the id of a Microsoft.Storage/storageAccounts resource"] },
        Case { id: "SCHEMA-008", bad: |f| set(&mut f.ws, "/spec/location", json!("West Europe")), ok: noop, figures: &["\"West Europe\" is not an Azure region name"] },
        Case { id: "SCHEMA-009", bad: |f| set(&mut f.ws, "/spec/storage/id", json!(ws_resource("Microsoft.Storage/storageAccounts", "st1"))), ok: noop, figures: &["spec.storage sets both name and id"] },
        Case { id: "SCHEMA-010", bad: |f| del(&mut f.ws, "/spec/network/vnet/addressSpace"), ok: noop, figures: &["addressSpace is missing"] },
        Case { id: "SCHEMA-011", bad: |f| set(&mut f.ws, "/spec/workspace/name", json!("a")), ok: noop, figures: &["spec.workspace.name \"a\""] },
        Case { id: "SCHEMA-012", bad: |f| set(&mut f.ws, "/spec/network/privateEndpointSubnet/addressPrefix", json!("10.30.0.0/24")), ok: noop, figures: &["10.30.0.0/24 is outside the VNet's address space 10.20.0.0/16"] },
        Case { id: "SCHEMA-013", bad: |f| set(&mut f.ws, "/spec/network/vnet/addressSpace", json!(["10.20.0.0/16", "10.20.128.0/17"])), ok: |f| set(&mut f.ws, "/spec/network/vnet/addressSpace", json!(["10.20.0.0/16", "10.21.0.0/16"])), figures: &["10.20.0.0/16 (index 0) and 10.20.128.0/17 (index 1) overlap"] },
        Case { id: "SCHEMA-014", bad: |f| set(&mut f.ws, "/spec/containerRegistry/sku", json!("Basic")), ok: noop, figures: &["sku is Basic"] },
        Case { id: "SCHEMA-015", bad: |f| set(training(f), "/spec/aks", json!({"serviceCidr": "10.250.0.0/16", "dnsServiceIP": "10.250.0.10"})), ok: noop, figures: &["purpose Training"] },
        Case { id: "SCHEMA-016", bad: |f| { set(inference(f), "/spec/aks/serviceCidr", json!("10.20.8.0/24")); set(inference(f), "/spec/aks/dnsServiceIP", json!("10.20.8.10")); }, ok: noop, figures: &["10.20.8.0/24 overlaps the subnet's addressPrefix 10.20.8.0/22"] },
        Case { id: "SCHEMA-017", bad: |f| set(inference(f), "/spec/aks/dockerBridgeCidr", json!("10.20.9.0/24")), ok: noop, figures: &["10.20.9.0/24 overlaps the subnet's addressPrefix 10.20.8.0/22"] },
        Case { id: "SCHEMA-018", bad: |f| set(inference(f), "/spec/aks/dnsServiceIP", json!("10.251.0.10")), ok: noop, figures: &["10.251.0.10 is outside aks.serviceCidr 10.250.0.0/16 (10.250.0.0 - 10.250.255.255)"] },
        Case { id: "SCHEMA-019", bad: |f| set(inference(f), "/spec/aks/dockerBridgeCidr", json!("10.250.0.0/16")), ok: noop, figures: &["10.250.0.0/16 overlaps aks.serviceCidr 10.250.0.0/16"] },
        Case { id: "SCHEMA-020", bad: |f| set(&mut f.pebs[0], "/spec/target/groupId", json!("vault")), ok: noop, figures: &["groupId vault needs a Microsoft.KeyVault/vaults target"] },
        Case { id: "SCHEMA-021", bad: |f| set(training(f), "/spec/outbound/extraRules", json!([{"name": "a", "destination": "10.0.0.1", "ports": ["443"]}, {"name": "a", "destination": "Bad Tag", "ports": ["x"]}])), ok: noop, figures: &["\"a\" is used more than once"] },
        Case { id: "SCHEMA-022", bad: |f| set(&mut f.pebs[0], "/spec/dns/zones", json!([])), ok: noop, figures: &["empty list in AzurePrivateDns mode"] },
        Case { id: "SCHEMA-024", bad: |f| set(&mut f.ws, "/spec/storage/privateEndpoints", json!(["blob", "queue"])), ok: noop, figures: &["must include blob and file"] },
        Case { id: "SCHEMA-023", bad: |f| set(training(f), "/spec/expectedNodes", json!(100001)), ok: noop, figures: &["expectedNodes is 100001"] },
        // Network.
        Case { id: "NET-001", bad: |f| set(training(f), "/spec/vnetId", json!(HUB)), ok: |f| set(training(f), "/spec/vnetId", json!(VNET)), figures: &["is in VNet vnet-hub", "behind VNet vnet-ml-prod"] },
        Case { id: "NET-002", bad: |f| observed_vnet(f, json!({"location": "eastus", "addressSpace": ["10.20.0.0/16"]})), ok: |f| observed_vnet(f, json!({"location": "westeurope", "addressSpace": ["10.20.0.0/16"]})), figures: &["is in eastus", "in westeurope"] },
        Case { id: "NET-003", bad: |f| set(training(f), "/spec/vnetId", json!(HUB.replace(SUB, OTHER_SUB))), ok: |f| set(training(f), "/spec/vnetId", json!(HUB)), figures: &["subscription 11111111-2222-3333-4444-555555555555", "workspace in subscription 6f1c2a7e"] },
        Case { id: "NET-004", bad: |f| set(training(f), "/spec/addressPrefix", json!("10.30.4.0/25")), ok: noop, figures: &["subnet 10.30.4.0/25 is outside VNet vnet-ml-prod's address space 10.20.0.0/16"] },
        Case { id: "NET-005", bad: |f| set(training(f), "/spec/addressPrefix", json!("10.20.8.0/25")), ok: noop, figures: &["10.20.8.0/25 overlaps ComputeSubnet inference (subnet snet-inference, 10.20.8.0/22)"] },
        Case { id: "NET-006", bad: |f| set(&mut f.ws, "/spec/network/vnet/addressSpace", json!(["10.20.0.0/16", "172.17.0.0/16"])), ok: |f| set(&mut f.ws, "/spec/network/vnet/addressSpace", json!(["10.20.0.0/16", "172.19.0.0/16"])), figures: &["172.17.0.0/16 overlaps 172.17.0.0/16"] },
        Case { id: "NET-007", bad: |f| { set(training(f), "/spec/addressPrefix", json!("10.20.4.0/30")); set(training(f), "/spec/expectedNodes", json!(0)); }, ok: |f| { set(training(f), "/spec/addressPrefix", json!("10.20.4.0/29")); set(training(f), "/spec/expectedNodes", json!(0)); }, figures: &["10.20.4.0/30 has 4 addresses", "smallest subnet is /29"] },
        Case { id: "NET-008", bad: |f| { set(training(f), "/spec/addressPrefix", json!("10.20.4.0/28")); set(training(f), "/spec/expectedNodes", json!(20)); }, ok: |f| { set(training(f), "/spec/addressPrefix", json!("10.20.4.0/27")); set(training(f), "/spec/expectedNodes", json!(20)); }, figures: &["subnet /28 has 11 usable addresses, 20 nodes expected", "use a /27 or larger (27 usable addresses)"] },
        Case { id: "NET-009", bad: |f| set(&mut f.ws, "/spec/network/privateEndpointSubnet/addressPrefix", json!("10.20.0.0/29")), ok: |f| set(&mut f.ws, "/spec/network/privateEndpointSubnet/addressPrefix", json!("10.20.0.0/28")), figures: &["/29 has 3 usable addresses, 9 needed by 6 private endpoints", "amlworkspace 3", "registry 2", "dfs 1"] },
        Case { id: "NET-010", bad: |f| observed_vnet(f, json!({"subnets": [{"name": "snet-training", "addressPrefix": "10.20.4.0/25", "delegations": ["Microsoft.Web/serverFarms"]}]})), ok: |f| observed_vnet(f, json!({"subnets": [{"name": "snet-training", "addressPrefix": "10.20.4.0/25"}]})), figures: &["delegated to Microsoft.Web/serverFarms"] },
        // NSG.
        Case { id: "NSG-001", bad: |f| adopt_nsg(f, json!([deny("Inbound", 200, "*")])), ok: |f| adopt_nsg(f, json!([deny("Inbound", 4000, "*")])), figures: &["corp-deny (Deny, priority 200) is evaluated before 2 required Inbound rules: moat-in-batchnodemanagement (Allow BatchNodeManagement → port 29876-29877, priority 300)", "AzureMachineLearning → port 44224"] },
        Case { id: "NSG-002", bad: |f| adopt_nsg(f, json!([deny("Outbound", 250, "Internet")])), ok: |f| adopt_nsg(f, json!([deny("Outbound", 4010, "Internet")])), figures: &["corp-deny (Deny, priority 250) is evaluated before 11 required Outbound rules", "Allow → Storage.westeurope port 443", "give corp-deny a priority above 300"] },
        Case { id: "NSG-003", bad: |f| adopt_nsg(f, json!([{"name": "corp-allow", "direction": "Inbound", "priority": 300, "access": "Allow", "protocol": "Tcp", "sourceAddressPrefix": "10.0.0.0/8", "destinationAddressPrefix": "*", "destinationPortRange": "443"}])), ok: |f| adopt_nsg(f, json!([{"name": "corp-allow", "direction": "Inbound", "priority": 200, "access": "Allow", "protocol": "Tcp", "sourceAddressPrefix": "10.0.0.0/8", "destinationAddressPrefix": "*", "destinationPortRange": "443"}])), figures: &["rule corp-allow already holds Inbound priority 300", "moat-in-batchnodemanagement"] },
        Case { id: "NSG-004", bad: |f| set(training(f), "/spec/nsg/sshFrom", json!(["10.0.0.0/8"])), ok: |f| set(training(f), "/spec/nsg/sshFrom", json!(["10.30.0.0/24"])), figures: &["10.0.0.0/8 opens SSH (port 22) to 16777216 addresses"] },
        Case { id: "NSG-006", bad: |f| set(training(f), "/spec/nsg/sshFrom", json!(["0.0.0.0/0"])), ok: |f| set(training(f), "/spec/nsg/sshFrom", json!(["20.50.0.0/24"])), figures: &["0.0.0.0/0 opens SSH (port 22) to", "public addresses"] },
        Case { id: "NSG-005", bad: |f| set(training(f), "/spec/outbound/extraRules/0/destination", json!("Internet")), ok: noop, figures: &["(pypi-proxy) allows Internet on ports 443"] },
        // Routes.
        Case {
            id: "UDR-001",
            bad: |f| { del(training(f), "/spec/forcedTunneling"); observed_vnet(f, json!({"subnets": [{"name": "snet-training", "addressPrefix": "10.20.4.0/25", "routeTableId": RT}]})); hub_route_table(f, json!([{"name": "default", "addressPrefix": "0.0.0.0/0", "nextHopType": "VirtualAppliance", "nextHopIpAddress": "10.30.0.4"}])); },
            ok: |f| { del(training(f), "/spec/forcedTunneling"); observed_vnet(f, json!({"subnets": [{"name": "snet-training", "addressPrefix": "10.20.4.0/25", "routeTableId": RT}]})); hub_route_table(f, json!([{"name": "default", "addressPrefix": "0.0.0.0/0", "nextHopType": "VirtualAppliance", "nextHopIpAddress": "10.30.0.4"}, {"name": "batch", "addressPrefix": "BatchNodeManagement.westeurope", "nextHopType": "Internet"}, {"name": "aml", "addressPrefix": "AzureMachineLearning", "nextHopType": "Internet"}])); },
            figures: &["sends 0.0.0.0/0 to VirtualAppliance 10.30.0.4", "no Internet route for BatchNodeManagement and AzureMachineLearning"],
        },
        Case {
            id: "UDR-002",
            bad: |f| { set(training(f), "/spec/forcedTunneling", json!({"routeTableId": RT})); hub_route_table(f, json!([{"name": "aml-via-fw", "addressPrefix": "AzureMachineLearning", "nextHopType": "VirtualAppliance", "nextHopIpAddress": "10.30.0.4"}])); },
            ok: |f| { set(training(f), "/spec/forcedTunneling", json!({"routeTableId": RT})); hub_route_table(f, json!([{"name": "aml", "addressPrefix": "AzureMachineLearning", "nextHopType": "Internet"}])); },
            figures: &["route aml-via-fw sends AzureMachineLearning to VirtualAppliance 10.30.0.4", "needs next hop Internet"],
        },
        // AKS.
        Case { id: "AKS-001", bad: |f| { set(inference(f), "/spec/aks/serviceCidr", json!("10.20.4.0/24")); set(inference(f), "/spec/aks/dnsServiceIP", json!("10.20.4.10")); }, ok: noop, figures: &["service CIDR 10.20.4.0/24 overlaps ComputeSubnet training (subnet snet-training, 10.20.4.0/25)"] },
        Case { id: "AKS-002", bad: |f| { set(inference(f), "/spec/aks/serviceCidr", json!("10.20.200.0/24")); set(inference(f), "/spec/aks/dnsServiceIP", json!("10.20.200.10")); }, ok: noop, figures: &["10.20.200.0/24 lies in VNet vnet-ml-prod's address space 10.20.0.0/16"] },
        Case { id: "AKS-003", bad: |f| set(inference(f), "/spec/aks/dockerBridgeCidr", json!("10.20.4.0/24")), ok: noop, figures: &["Docker bridge CIDR 10.20.4.0/24 overlaps ComputeSubnet training"] },
        Case { id: "AKS-004", bad: |f| aks_cluster(f, "westeurope", true), ok: |f| aks_cluster(f, "westeurope", false), figures: &["AKS cluster aks-inf in subnet snet-inference has private link enabled"] },
        Case { id: "AKS-005", bad: |f| aks_cluster(f, "northeurope", false), ok: |f| aks_cluster(f, "westeurope", false), figures: &["aks-inf is in northeurope, VNet vnet-ml-prod in westeurope"] },
        Case { id: "AKS-006", bad: |f| set(inference(f), "/spec/outbound", json!({"mode": "Restricted"})), ok: noop, figures: &["Restricted on an inference (AKS) subnet"] },
        // ACI and Databricks.
        Case {
            id: "ACI-001",
            bad: |f| { add_subnet(f, "aci", "snet-aci", "10.20.12.0/24", "ContainerInstances"); observed_vnet(f, json!({"subnets": [{"name": "snet-aci", "addressPrefix": "10.20.12.0/24", "delegations": ["Microsoft.Web/serverFarms"]}]})); },
            ok: |f| { add_subnet(f, "aci", "snet-aci", "10.20.12.0/24", "ContainerInstances"); observed_vnet(f, json!({"subnets": [{"name": "snet-aci", "addressPrefix": "10.20.12.0/24", "delegations": ["Microsoft.ContainerInstance/containerGroups"]}]})); },
            figures: &["snet-aci is delegated to Microsoft.Web/serverFarms, not to Microsoft.ContainerInstance/containerGroups"],
        },
        Case { id: "ACI-002", bad: |f| add_subnet(f, "aci", "snet-aci", "10.20.12.0/24", "ContainerInstances"), ok: |f| add_subnet(f, "aci", "snet-aci", "10.20.12.0/24", "Training"), figures: &["do not support ACI deployments in a VNet when the workspace has a private endpoint"] },
        Case {
            id: "DBX-001",
            bad: |f| add_subnet(f, "dbx-public", "databricks-public", "10.20.16.0/24", "Databricks"),
            ok: |f| { add_subnet(f, "dbx-public", "databricks-public", "10.20.16.0/24", "Databricks"); add_subnet(f, "dbx-private", "databricks-private", "10.20.17.0/24", "Databricks"); },
            figures: &["has 1 subnet for Azure Databricks"],
        },
        Case {
            id: "DBX-002",
            bad: |f| { add_subnet(f, "dbx-public", "databricks-public", "10.20.16.0/24", "Databricks"); add_subnet(f, "dbx-private", "databricks-private", "10.20.17.0/24", "Databricks"); },
            ok: |f| { add_subnet(f, "dbx-public", "databricks-public", "10.20.16.0/24", "Databricks"); add_subnet(f, "dbx-private", "databricks-private", "10.20.17.0/24", "Databricks"); observed_vnet(f, json!({"subnets": [{"name": "default", "addressPrefix": "10.20.1.0/24"}]})); },
            figures: &["has no subnet named default"],
        },
        // Workspace and associated resources.
        Case { id: "WS-001", bad: |f| set(&mut f.ws, "/spec/workspace/publicNetworkAccess", json!("Enabled")), ok: noop, figures: &["publicNetworkAccess is Enabled"] },
        Case { id: "WS-002", bad: |f| set(&mut f.ws, "/spec/connectivity/allowTrustedMicrosoftServices", json!(false)), ok: noop, figures: &["allowTrustedMicrosoftServices is false"] },
        Case { id: "WS-003", bad: |f| set(&mut f.ws, "/spec/storage", json!({"id": format!("/subscriptions/{OTHER_SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/stother")})), ok: |f| set(&mut f.ws, "/spec/storage", json!({"id": ws_resource("Microsoft.Storage/storageAccounts", "stother")})), figures: &["stother is in subscription 11111111-2222-3333-4444-555555555555"] },
        Case {
            id: "WS-004",
            bad: |f| { set(&mut f.ws, "/spec/storage", json!({"id": ws_resource("Microsoft.Storage/storageAccounts", "stother")})); set(&mut f.observed, &format!("/storageAccounts/{}", ws_resource("Microsoft.Storage/storageAccounts", "stother").replace('/', "~1")), json!({"location": "eastus"})); },
            ok: |f| { set(&mut f.ws, "/spec/storage", json!({"id": ws_resource("Microsoft.Storage/storageAccounts", "stother")})); set(&mut f.observed, &format!("/storageAccounts/{}", ws_resource("Microsoft.Storage/storageAccounts", "stother").replace('/', "~1")), json!({"location": "westeurope"})); },
            figures: &["stother is in eastus, the workspace in westeurope"],
        },
        Case {
            id: "REG-001",
            bad: |f| { set(&mut f.ws, "/spec/containerRegistry", json!({"id": ws_resource("Microsoft.ContainerRegistry/registries", "crold")})); set(&mut f.observed, &format!("/containerRegistries/{}", ws_resource("Microsoft.ContainerRegistry/registries", "crold").replace('/', "~1")), json!({"sku": "Standard"})); },
            ok: |f| { set(&mut f.ws, "/spec/containerRegistry", json!({"id": ws_resource("Microsoft.ContainerRegistry/registries", "crold")})); set(&mut f.observed, &format!("/containerRegistries/{}", ws_resource("Microsoft.ContainerRegistry/registries", "crold").replace('/', "~1")), json!({"sku": "Premium"})); },
            figures: &["crold is Standard"],
        },
        Case { id: "REG-002", bad: |f| del(&mut f.ws, "/spec/workspace/imageBuildCompute"), ok: noop, figures: &["imageBuildCompute is not set"] },
        Case { id: "REG-003", bad: |f| { f.subnets.remove(0); }, ok: noop, figures: &["imageBuildCompute is cpu-cluster, but no ComputeSubnet of purpose Training"] },
        Case { id: "STO-001", bad: |f| set_peb(f, ws_resource("Microsoft.Storage/storageAccounts", "stmlprod01"), "blob", HUB), ok: |f| set_peb(f, ws_resource("Microsoft.Storage/storageAccounts", "stmlprod01"), "blob", VNET), figures: &["storage account stmlprod01 (blob) is in VNet vnet-hub", "compute is in VNet vnet-ml-prod"] },
        Case {
            id: "STO-002",
            bad: |f| { set(&mut f.ws, "/spec/connectivity/mode", json!("ServiceEndpoint")); observed_vnet(f, json!({"subnets": [{"name": "snet-private-endpoints", "addressPrefix": "10.20.0.0/24", "serviceEndpoints": ["Microsoft.KeyVault"]}]})); },
            ok: |f| { set(&mut f.ws, "/spec/connectivity/mode", json!("ServiceEndpoint")); observed_vnet(f, json!({"subnets": [{"name": "snet-private-endpoints", "addressPrefix": "10.20.0.0/24", "serviceEndpoints": ["Microsoft.Storage"]}]})); },
            figures: &["subnet snet-private-endpoints (the workspace's private endpoint) has no Microsoft.Storage service endpoint (Microsoft.KeyVault)"],
        },
        // Private endpoints.
        Case { id: "PE-001", bad: |f| set_peb(f, ws_resource("Microsoft.KeyVault/vaults", "kv-ml-prod-01"), "vault", HUB), ok: |f| set_peb(f, ws_resource("Microsoft.KeyVault/vaults", "kv-ml-prod-01"), "vault", VNET), figures: &["kv-ml-prod-01 (vault) of workspace ml-prod is in VNet vnet-hub"] },
        Case { id: "PE-002", bad: |f| observed_vnet(f, json!({"location": "northeurope"})), ok: |f| observed_vnet(f, json!({"location": "westeurope"})), figures: &["endpoint location is westeurope, VNet vnet-ml-prod is in northeurope"] },
        Case { id: "PE-003", bad: |f| observed_vnet(f, json!({"subnets": [{"name": "snet-private-endpoints", "addressPrefix": "10.20.0.0/24", "privateEndpointNetworkPolicies": "Enabled"}]})), ok: |f| observed_vnet(f, json!({"subnets": [{"name": "snet-private-endpoints", "addressPrefix": "10.20.0.0/24", "privateEndpointNetworkPolicies": "Disabled"}]})), figures: &["snet-private-endpoints has privateEndpointNetworkPolicies Enabled"] },
        // DNS.
        Case { id: "DNS-001", bad: |f| set(&mut f.ws, "/spec/dns/mode", json!("Custom")), ok: noop, figures: &["must serve 9 host records in 6 zones", "privatelink.api.azureml.ms"] },
        Case { id: "DNS-002", bad: |f| { set(&mut f.ws, "/spec/dns/mode", json!("Custom")); observed_vnet(f, json!({"dnsServers": []})); }, ok: |f| { set(&mut f.ws, "/spec/dns/mode", json!("Custom")); observed_vnet(f, json!({"dnsServers": ["10.30.0.53"]})); }, figures: &["VNet vnet-ml-prod uses Azure-provided DNS"] },
        Case { id: "DNS-003", bad: |f| observed_vnet(f, json!({"dnsServers": ["10.30.0.53"]})), ok: |f| observed_vnet(f, json!({"dnsServers": []})), figures: &["uses DNS servers 10.30.0.53", "privatelink.blob.core.windows.net"] },
        Case { id: "DNS-004", bad: |f| set(&mut f.pebs[0], "/spec/dns/mode", json!("None")), ok: noop, figures: &["stdatalake01.dfs.core.windows.net still resolve(s) to the public address"] },
        Case {
            id: "DNS-006",
            bad: |f| { set_peb(f, ws_resource("Microsoft.KeyVault/vaults", "kv-ml-prod-01"), "vault", HUB); set(&mut f.pebs[0], "/spec/dns/zoneResourceGroup", json!("rg-ml-prod")); },
            ok: |f| { set_peb(f, ws_resource("Microsoft.KeyVault/vaults", "kv-ml-prod-01"), "vault", HUB); set(&mut f.pebs[0], "/spec/dns/zoneResourceGroup", json!("rg-hub-dns")); },
            figures: &["PrivateEndpointBinding ml-platform/ml-prod-vault (SecureWorkspace ml-prod's) already registers kv-ml-prod-01.vault.azure.net in zone privatelink.vaultcore.azure.net (resource group rg-ml-prod)", "VNet vnet-hub"],
        },
        Case { id: "DNS-005", bad: |f| set(&mut f.pebs[0], "/spec/dns/zones", json!(["privatelink.blob.core.windows.net"])), ok: |f| set(&mut f.pebs[0], "/spec/dns/zones", json!(["privatelink.dfs.core.windows.net"])), figures: &["privatelink.blob.core.windows.net is not a documented privatelink zone for groupId dfs (expected privatelink.dfs.core.windows.net)"] },
    ]
}

