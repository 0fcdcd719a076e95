//! End to end, as a platform team meets moat: objects combined (a binding beside a workspace, an
//! adopted NSG already in use), along the way and not only at the end. Every scenario ends with
//! `assert_scenario_sound`: no intermediate Azure state was less permissive than both ends of its
//! transition (or more permissive than both), and every request body matched the ARM specs.

mod support;

use std::time::Duration;

use kube::api::DeleteParams;
use kube::Resource;
use moat::api::{ComputeSubnet, PrivateEndpointBinding, SecureWorkspace, Severity};
use moat::emulator::EmulatorConfig;
use serde_json::{Value, json};
use support::e2e::{Harness, RG, SUB, condition_true, sample};

const CONVERGE: Duration = Duration::from_secs(180);

fn id(kind: &str, name: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/{RG}/providers/{kind}/{name}")
}

fn vnet() -> String {
    id("Microsoft.Network/virtualNetworks", "vnet-ml-prod")
}

fn ready<K: Resource<DynamicType = ()>>(o: &K, status: Option<&[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition]>) -> bool {
    status.is_some_and(|c| condition_true(c, o.meta().generation, "Ready"))
}
fn sws_ready(o: &SecureWorkspace) -> bool {
    ready(o, o.status.as_ref().map(|s| s.conditions.as_slice()))
}
fn csn_ready(o: &ComputeSubnet) -> bool {
    ready(o, o.status.as_ref().map(|s| s.conditions.as_slice()))
}
fn peb_ready(o: &PrivateEndpointBinding) -> bool {
    ready(o, o.status.as_ref().map(|s| s.conditions.as_slice()))
}

/// The Ready condition's reason and message, when current.
fn ready_reason(conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition], generation: Option<i64>) -> Option<(String, String)> {
    conditions.iter().find(|c| c.type_ == "Ready" && c.observed_generation == generation).map(|c| (c.reason.clone(), c.message.clone()))
}

fn rule_names(nsg: &Value) -> Vec<String> {
    nsg["properties"]["securityRules"].as_array().into_iter().flatten().filter_map(|r| r["name"].as_str().map(str::to_string)).collect()
}

fn route_names(rt: &Value) -> Vec<String> {
    rt["properties"]["routes"].as_array().into_iter().flatten().filter_map(|r| r["name"].as_str().map(str::to_string)).collect()
}

/// A workspace that adopts the seeded VNet instead of creating one.
fn workspace_adopting_vnet(ns: &str) -> Value {
    let mut ws = sample("secureworkspace.yaml", ns);
    ws["spec"]["network"]["vnet"] = json!({"id": vnet()});
    ws
}

/// Seeds the customer's network: a VNet with a subnet that runs workloads, attached to a shared
/// NSG and a hub route table that already carry the customer's own rule and route.
fn seed_customer_network(h: &Harness) {
    let nsg = id("Microsoft.Network/networkSecurityGroups", "nsg-shared");
    let rt = id("Microsoft.Network/routeTables", "rt-hub");
    h.emu
        .admin
        .put_resource(&nsg, json!({"location": "westeurope", "properties": {"securityRules": [
            {"name": "corp-allow-bastion", "properties": {"priority": 250, "direction": "Inbound", "access": "Allow", "protocol": "Tcp",
             "sourceAddressPrefix": "10.30.1.0/24", "sourcePortRange": "*", "destinationAddressPrefix": "*", "destinationPortRange": "22"}}]}}), Some("Succeeded"))
        .expect("seed the shared NSG");
    h.emu
        .admin
        .put_resource(&rt, json!({"location": "westeurope", "properties": {"routes": [
            {"name": "corp-onprem", "properties": {"addressPrefix": "10.99.0.0/16", "nextHopType": "VirtualAppliance", "nextHopIpAddress": "10.30.0.4"}}]}}), Some("Succeeded"))
        .expect("seed the hub route table");
    h.emu
        .admin
        .put_resource(&vnet(), json!({"location": "westeurope", "properties": {"addressSpace": {"addressPrefixes": ["10.20.0.0/16"]}, "subnets": [
            {"name": "snet-legacy", "properties": {"addressPrefix": "10.20.100.0/24", "networkSecurityGroup": {"id": nsg}, "routeTable": {"id": rt}}}]}}), Some("Succeeded"))
        .expect("seed the VNet");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adopted_nsg_and_route_table_in_use_never_cut_their_subnet_off() {
    let mut h = Harness::checked("e2e-adopt", EmulatorConfig::for_tests()).await;
    seed_customer_network(&h);
    let nsg = id("Microsoft.Network/networkSecurityGroups", "nsg-shared");
    let rt = id("Microsoft.Network/routeTables", "rt-hub");
    h.start_moat();
    h.apply(&workspace_adopting_vnet(&h.ns)).await;
    let mut cs = sample("computesubnet-training.yaml", &h.ns);
    cs["spec"]["nsg"] = json!({"id": nsg});
    cs["spec"]["forcedTunneling"] = json!({"routeTableId": rt, "firewallIp": "10.30.0.4"});
    h.apply(&cs).await;
    h.wait_for::<SecureWorkspace>("ml-prod", CONVERGE, "Ready", sws_ready).await;
    h.wait_for::<ComputeSubnet>("training", CONVERGE, "Ready", csn_ready).await;
    let rules = rule_names(&h.emu.admin.resource(&nsg).expect("nsg"));
    assert!(rules.iter().any(|r| r == "corp-allow-bastion") && rules.iter().any(|r| r == "moat-out-deny-internet"), "{rules:?}");
    let routes = route_names(&h.emu.admin.resource(&rt).expect("route table"));
    assert!(routes.iter().any(|r| r == "corp-onprem") && routes.iter().any(|r| r == "moat-default-firewall"), "{routes:?}");
    h.assert_safe_transitions();
    h.emu.admin.journal_mark("converged");

    // An update that removes rules: outbound back to Internet, one extra rule added.
    h.merge_patch::<ComputeSubnet>("training", json!({"spec": {"outbound": {"mode": "Internet", "extraRules": [
        {"name": "pypi-proxy", "destination": "10.30.0.4", "ports": ["443"]},
        {"name": "artifacts", "destination": "10.30.0.5", "ports": ["443", "8443"]}]}}}))
    .await;
    h.wait_for::<ComputeSubnet>("training", CONVERGE, "Ready at the new generation", csn_ready).await;
    let rules = rule_names(&h.emu.admin.resource(&nsg).expect("nsg"));
    assert!(!rules.iter().any(|r| r == "moat-out-deny-internet") && rules.iter().any(|r| r == "moat-out-artifacts"), "{rules:?}");
    h.emu.admin.journal_mark("internet");

    // An update that adds rules back and removes the first extra rule: the other keeps its place.
    let before = h.emu.admin.resource(&format!("{nsg}/securityRules/moat-out-artifacts")).expect("artifacts rule");
    h.merge_patch::<ComputeSubnet>("training", json!({"spec": {"outbound": {"mode": "Restricted", "extraRules": [
        {"name": "artifacts", "destination": "10.30.0.5", "ports": ["443", "8443"]}]}}}))
    .await;
    h.wait_for::<ComputeSubnet>("training", CONVERGE, "Ready at the new generation", csn_ready).await;
    let after = h.emu.admin.resource(&format!("{nsg}/securityRules/moat-out-artifacts")).expect("artifacts rule");
    assert_eq!(before["properties"]["priority"], after["properties"]["priority"], "an extra rule keeps its priority when another goes");
    let rules = rule_names(&h.emu.admin.resource(&nsg).expect("nsg"));
    assert!(rules.iter().any(|r| r == "moat-out-deny-internet") && !rules.iter().any(|r| r == "moat-out-pypi-proxy"), "{rules:?}");
    h.emu.admin.journal_mark("restricted");

    // Deletion: moat's rules and routes leave the shared NSG and route table, in the safe order;
    // the customer's stay, and so does the subnet that uses them.
    h.api::<ComputeSubnet>().delete("training", &DeleteParams::default()).await.expect("delete");
    h.wait_gone::<ComputeSubnet>("training", CONVERGE).await;
    let rules = rule_names(&h.emu.admin.resource(&nsg).expect("nsg"));
    assert_eq!(rules, vec!["corp-allow-bastion"], "only the customer's rule is left");
    let routes = route_names(&h.emu.admin.resource(&rt).expect("route table"));
    assert_eq!(routes, vec!["corp-onprem"], "only the customer's route is left");
    assert!(h.emu.admin.resource(&format!("{}/subnets/snet-legacy", vnet())).is_some());
    h.assert_scenario_sound();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_endpoint_mode_allows_a_subnet_on_the_firewalls_once_it_exists() {
    let mut h = Harness::checked("e2e-svcep", EmulatorConfig::for_tests()).await;
    h.start_moat();
    let mut ws = sample("secureworkspace.yaml", &h.ns);
    ws["spec"]["connectivity"]["mode"] = json!("ServiceEndpoint");
    h.apply(&ws).await;
    h.apply(&sample("computesubnet-training.yaml", &h.ns)).await;
    h.wait_for::<SecureWorkspace>("ml-prod", CONVERGE, "Ready", sws_ready).await;
    h.wait_for::<ComputeSubnet>("training", CONVERGE, "Ready", csn_ready).await;
    let subnet = format!("{}/subnets/snet-training", vnet()).to_ascii_lowercase();
    let storage = id("Microsoft.Storage/storageAccounts", "stmlprod01");
    let vault = id("Microsoft.KeyVault/vaults", "kv-ml-prod-01");
    // The workspace wakes when the subnet appears and allows it then; until then it asks for nothing.
    let deadline = tokio::time::Instant::now() + CONVERGE;
    loop {
        let has = |id: &str| {
            h.emu.admin.resource(id).is_some_and(|r| {
                r["properties"]["networkAcls"]["virtualNetworkRules"].as_array().is_some_and(|a| a.iter().any(|x| x["id"].as_str().is_some_and(|i| i.eq_ignore_ascii_case(&subnet))))
            })
        };
        if has(&storage) && has(&vault) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "firewall rules for the subnet not written\n{}", h.log_tail());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let refused: Vec<String> = h.writes_since(0).iter().filter(|e| e.status >= 400).map(|e| format!("{} {} -> {}", e.method, e.path, e.status)).collect();
    assert!(refused.is_empty(), "no write refused (a firewall rule for a subnet that does not exist yet is refused): {refused:#?}");
    let kv = h.emu.admin.resource(&vault).expect("vault");
    for rule in kv["properties"]["networkAcls"]["virtualNetworkRules"].as_array().into_iter().flatten() {
        assert!(rule.get("action").is_none(), "KeyVault's VirtualNetworkRule has no action: {rule}");
    }
    // Converged: two more resyncs write nothing (no field Azure drops is written again and again).
    let since = h.last_seq();
    tokio::time::sleep(Duration::from_secs(2 * h.resync_seconds + 1)).await;
    let writes: Vec<String> = h.writes_since(since).iter().map(|w| format!("{} {}", w.method, w.path)).collect();
    assert!(writes.is_empty(), "writes at steady state: {writes:#?}");
    h.assert_scenario_sound();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_objects_build_nothing_stay_quiet_and_wake_on_a_sibling() {
    let mut h = Harness::checked("e2e-blocked", EmulatorConfig::for_tests()).await;
    // A long resync: a blocked object must wait for it (or for a change), not spin at the retry interval.
    h.resync_seconds = 15;
    h.start_moat();
    h.apply(&sample("secureworkspace.yaml", &h.ns)).await;
    h.wait_for::<SecureWorkspace>("ml-prod", CONVERGE, "Ready", sws_ready).await;
    // Two ComputeSubnets whose prefixes overlap: NET-005 on both.
    let mut a = sample("computesubnet-training.yaml", &h.ns);
    a["spec"]["addressPrefix"] = json!("10.20.4.0/25");
    let mut b = sample("computesubnet-training.yaml", &h.ns);
    b["metadata"]["name"] = json!("training-b");
    b["spec"]["name"] = json!("snet-training-b");
    b["spec"]["nsg"] = json!({"name": "nsg-training-b"});
    b["spec"]["forcedTunneling"]["routeTableName"] = json!("rt-training-b");
    b["spec"]["addressPrefix"] = json!("10.20.4.0/25");
    let since = h.last_seq();
    // Both arrive paused and are resumed once both exist: applied one after the other, the first
    // could be reconciled (and built) before the second exists, a race of the test, not of moat.
    let paused = |o: &Value| {
        let mut o = o.clone();
        o["metadata"]["annotations"] = json!({"moat.dev/paused": "true"});
        o
    };
    h.apply(&paused(&a)).await;
    h.apply(&paused(&b)).await;
    let is_paused = |c: &ComputeSubnet| c.status.as_ref().is_some_and(|s| ready_reason(&s.conditions, c.meta().generation).is_some_and(|(r, _)| r == "Paused"));
    h.wait_for::<ComputeSubnet>("training", CONVERGE, "Paused", is_paused).await;
    h.wait_for::<ComputeSubnet>("training-b", CONVERGE, "Paused", is_paused).await;
    h.apply(&a).await;
    h.apply(&b).await;
    let violation = |c: &ComputeSubnet| {
        c.status.as_ref().is_some_and(|s| ready_reason(&s.conditions, c.meta().generation).is_some_and(|(r, m)| r == "ConstraintViolation" && m.contains("NET-005")))
    };
    h.wait_for::<ComputeSubnet>("training", CONVERGE, "ConstraintViolation naming NET-005", violation).await;
    h.wait_for::<ComputeSubnet>("training-b", CONVERGE, "ConstraintViolation naming NET-005", violation).await;
    // Nothing of a blocked object is built: no NSG, no rule, no route table, no subnet.
    let writes: Vec<String> = h.writes_since(since).iter().map(|w| format!("{} {}", w.method, w.path)).collect();
    assert!(writes.is_empty(), "a blocked object writes nothing: {writes:#?}");
    // Quiet: over 20 s, a blocked object is read at the resync period, not at the retry interval.
    let quiet_from = h.last_seq();
    tokio::time::sleep(Duration::from_secs(20)).await;
    let log = h.emu.admin.requests(Some(quiet_from));
    let nsg_reads = log
        .entries
        .iter()
        .filter(|e| e.method == "GET")
        .filter(|e| {
            let p = e.path.split('?').next().unwrap_or_default().to_ascii_lowercase();
            p.ends_with("/networksecuritygroups/nsg-training") || p.ends_with("/networksecuritygroups/nsg-training-b")
        })
        .count();
    eprintln!("blocked: {} ARM requests in 20 s for two blocked ComputeSubnets ({nsg_reads} reads of their NSGs)", log.total);
    // Each blocked object passes at most twice in 20 s at a 15 s resync (one read of its NSG per
    // pass); spinning at the 1 s retry interval would be about 40.
    assert!(nsg_reads <= 6, "{nsg_reads} reads of the blocked objects' NSGs in 20 s");
    let a_status = h.api::<ComputeSubnet>().get("training").await.expect("get").status.expect("status");
    let f = a_status.findings.iter().find(|f| f.id == "NET-005").expect("NET-005 in status.findings");
    assert_eq!(f.severity, Severity::Error);
    // The sibling moves away: both wake at once (no resync wait) and converge.
    let woke_from = tokio::time::Instant::now();
    h.merge_patch::<ComputeSubnet>("training-b", json!({"spec": {"addressPrefix": "10.20.5.0/25"}})).await;
    h.wait_for::<ComputeSubnet>("training", Duration::from_secs(60), "Ready after its sibling moved", csn_ready).await;
    h.wait_for::<ComputeSubnet>("training-b", Duration::from_secs(60), "Ready after the fix", csn_ready).await;
    eprintln!("blocked: both Ready {:.1} s after the sibling's fix", woke_from.elapsed().as_secs_f64());
    h.assert_scenario_sound();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binding_that_would_take_over_a_workspace_name_is_refused_and_dns_stays_right() {
    let mut h = Harness::checked("e2e-xobj", EmulatorConfig::for_tests()).await;
    h.start_moat();
    h.apply(&sample("secureworkspace.yaml", &h.ns)).await;
    h.wait_for::<SecureWorkspace>("ml-prod", CONVERGE, "Ready", sws_ready).await;
    // A hub VNet elsewhere, with a subnet for endpoints.
    let hub = format!("/subscriptions/{SUB}/resourceGroups/rg-data/providers/Microsoft.Network/virtualNetworks/vnet-hub");
    h.emu
        .admin
        .put_resource(&hub, json!({"location": "westeurope", "properties": {"addressSpace": {"addressPrefixes": ["10.99.0.0/16"]}, "subnets": [
            {"name": "snet-pe", "properties": {"addressPrefix": "10.99.0.0/24", "privateEndpointNetworkPolicies": "Disabled"}}]}}), Some("Succeeded"))
        .expect("seed the hub VNet");
    let zone = id("Microsoft.Network/privateDnsZones", "privatelink.vaultcore.azure.net");
    let record = format!("{zone}/A/kv-ml-prod-01");
    let before = h.emu.admin.resource(&record).expect("the workspace's vault record")["properties"]["aRecords"].clone();
    h.emu.admin.journal_mark("seeded");
    // A binding for the workspace's key vault from the hub, in the workspace's zone; and one for
    // the workspace's storage queue from the hub.
    let binding = |name: &str, target: String, group: &str| {
        json!({"apiVersion": "moat.dev/v1alpha1", "kind": "PrivateEndpointBinding", "metadata": {"name": name, "namespace": h.ns},
               "spec": {"target": {"id": target, "groupId": group}, "subnetId": format!("{hub}/subnets/snet-pe"), "location": "westeurope",
                        "dns": {"mode": "AzurePrivateDns", "zoneResourceGroup": RG}}})
    };
    let since = h.last_seq();
    h.apply(&binding("hub-vault", id("Microsoft.KeyVault/vaults", "kv-ml-prod-01"), "vault")).await;
    h.apply(&binding("hub-queue", id("Microsoft.Storage/storageAccounts", "stmlprod01"), "queue")).await;
    let refused_with = |ids: &'static [&'static str]| {
        move |b: &PrivateEndpointBinding| {
            b.status.as_ref().is_some_and(|s| {
                ready_reason(&s.conditions, b.meta().generation).is_some_and(|(r, _)| r == "ConstraintViolation")
                    && ids.iter().all(|id| s.findings.iter().any(|f| f.id == *id && f.severity == Severity::Error))
            })
        }
    };
    h.wait_for::<PrivateEndpointBinding>("hub-vault", CONVERGE, "refused with PE-001 and DNS-006", refused_with(&["PE-001", "DNS-006"])).await;
    h.wait_for::<PrivateEndpointBinding>("hub-queue", CONVERGE, "refused with STO-001", refused_with(&["STO-001"])).await;
    let st = h.api::<PrivateEndpointBinding>().get("hub-vault").await.expect("get").status.expect("status");
    let dns6 = st.findings.iter().find(|f| f.id == "DNS-006").expect("DNS-006");
    assert!(dns6.message.contains("ml-prod-vault") && dns6.message.contains("vnet-hub") && dns6.message.contains("kv-ml-prod-01.vault.azure.net"), "names both objects and the name: {}", dns6.message);
    // Nothing written for them; the workspace's record untouched; the workspace still Ready and its
    // vault binding still resolving.
    let writes: Vec<String> = h.writes_since(since).iter().map(|w| format!("{} {}", w.method, w.path)).collect();
    assert!(writes.is_empty(), "no write for refused bindings: {writes:#?}");
    assert_eq!(h.emu.admin.resource(&record).expect("record")["properties"]["aRecords"], before);
    h.wait_for::<PrivateEndpointBinding>("ml-prod-vault", CONVERGE, "still Ready", peb_ready).await;
    let vault = h.api::<PrivateEndpointBinding>().get("ml-prod-vault").await.expect("get").status.expect("status");
    assert!(vault.conditions.iter().any(|c| c.type_ == "DnsReady" && c.status == "True" && c.reason == "Resolves"), "{:?}", vault.conditions);
    h.wait_for::<SecureWorkspace>("ml-prod", CONVERGE, "still Ready", sws_ready).await;
    h.assert_scenario_sound();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minimal_workspace_converges_with_advice_and_every_storage_endpoint_asked_for() {
    let mut h = Harness::checked("e2e-minimal", EmulatorConfig::for_tests()).await;
    h.start_moat();
    let mut ws = sample("secureworkspace.yaml", &h.ns);
    ws["spec"]["workspace"].as_object_mut().expect("workspace").remove("imageBuildCompute");
    ws["spec"]["storage"]["privateEndpoints"] = json!(["blob", "file", "queue", "table"]);
    h.apply(&ws).await;
    h.wait_for::<SecureWorkspace>("ml-prod", CONVERGE, "Ready", sws_ready).await;
    let st = h.api::<SecureWorkspace>().get("ml-prod").await.expect("get").status.expect("status");
    let advice = st.findings.iter().find(|f| f.id == "REG-002").expect("REG-002 reported");
    assert_eq!(advice.severity, Severity::Warning, "a missing image-build cluster is advice, not a block");
    let names: Vec<String> = h.api::<PrivateEndpointBinding>().list(&Default::default()).await.expect("list").items.iter().map(|b| b.meta().name.clone().unwrap_or_default()).collect();
    for g in ["queue", "table", "blob", "file"] {
        assert!(names.iter().any(|n| *n == format!("ml-prod-{g}")), "binding for {g} in {names:?}");
    }
    let zones: Vec<String> = h.resources("Microsoft.Network/privateDnsZones").iter().filter_map(|z| z["name"].as_str().map(str::to_string)).collect();
    for z in ["privatelink.queue.core.windows.net", "privatelink.table.core.windows.net"] {
        assert!(zones.iter().any(|x| x == z), "zone {z} in {zones:?}");
    }
    // Restricted outbound with an extra rule to the internet is refused, and nothing is built.
    let since = h.last_seq();
    let mut cs = sample("computesubnet-training.yaml", &h.ns);
    cs["spec"]["outbound"]["extraRules"] = json!([{"name": "anything", "destination": "Internet", "ports": ["22"]}]);
    h.apply(&cs).await;
    h.wait_for::<ComputeSubnet>("training", CONVERGE, "refused with NSG-005", |c: &ComputeSubnet| {
        c.status.as_ref().is_some_and(|s| s.findings.iter().any(|f| f.id == "NSG-005" && f.severity == Severity::Error) && ready_reason(&s.conditions, c.meta().generation).is_some_and(|(r, _)| r == "ConstraintViolation"))
    })
    .await;
    let writes: Vec<String> = h.writes_since(since).iter().map(|w| format!("{} {}", w.method, w.path)).collect();
    assert!(writes.is_empty(), "nothing written for the refused subnet: {writes:#?}");
    h.assert_scenario_sound();
}
