//! End to end: the real apiserver, the ARM emulator, and `moat run` as a separate process.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use kube::api::DeleteParams;
use kube::Resource;
use moat::api::{ComputeSubnet, PrivateEndpointBinding, SecureWorkspace};
use moat::emulator::EmulatorConfig;
use serde_json::{Value, json};
use support::e2e::{Harness, RG, SUB, condition_true, sample};

const CONVERGE: Duration = Duration::from_secs(180);

fn ready_sws(o: &SecureWorkspace) -> bool {
    o.status.as_ref().is_some_and(|s| condition_true(&s.conditions, o.meta().generation, "Ready"))
}
fn ready_csn(o: &ComputeSubnet) -> bool {
    o.status.as_ref().is_some_and(|s| condition_true(&s.conditions, o.meta().generation, "Ready"))
}
fn ready_peb(o: &PrivateEndpointBinding) -> bool {
    o.status.as_ref().is_some_and(|s| condition_true(&s.conditions, o.meta().generation, "Ready"))
}

fn id(kind: &str, name: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/{RG}/providers/{kind}/{name}")
}

/// Seeds the data-lake account the standalone PrivateEndpointBinding sample targets.
fn seed_datalake(h: &Harness) {
    let id = format!("/subscriptions/{SUB}/resourceGroups/rg-data/providers/Microsoft.Storage/storageAccounts/stdatalake01");
    h.emu
        .admin
        .put_resource(&id, json!({"location": "westeurope", "kind": "StorageV2", "sku": {"name": "Standard_LRS"}, "properties": {}}), Some("Succeeded"))
        .expect("seed storage");
}

async fn converge_samples(h: &mut Harness) {
    seed_datalake(h);
    h.start_moat();
    for f in ["secureworkspace.yaml", "computesubnet-training.yaml", "computesubnet-inference.yaml", "privateendpointbinding.yaml"] {
        h.apply(&sample(f, &h.ns)).await;
    }
    h.wait_for::<SecureWorkspace>("ml-prod", CONVERGE, "Ready", ready_sws).await;
    for csn in ["training", "inference"] {
        h.wait_for::<ComputeSubnet>(csn, CONVERGE, "Ready", ready_csn).await;
    }
    h.wait_for::<PrivateEndpointBinding>("datalake-dfs", CONVERGE, "Ready", ready_peb).await;
}

fn prop<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(v, |cur, k| &cur[k])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn samples_converge_to_the_secure_design_then_cost_no_writes() {
    let mut h = Harness::checked("e2e-design", EmulatorConfig::for_tests()).await;
    converge_samples(&mut h).await;

    // Each resource is written once: writes under one VNet, NSG, route table or zone wait their
    // turn instead of being refused with 409 AnotherOperationInProgress and retried.
    let writes = h.writes_since(0);
    let refused: Vec<String> = writes.iter().filter(|e| e.status == 409).map(|e| format!("{} {}", e.method, e.path)).collect();
    assert!(refused.is_empty(), "writes refused while converging: {refused:#?}");
    let mut per_resource: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in &writes {
        per_resource.entry(e.path.split('?').next().unwrap_or_default().to_ascii_lowercase()).or_default().push(format!("{} {}", e.method, e.status));
    }
    let twice: Vec<_> = per_resource.iter().filter(|(_, m)| m.len() > 1).collect();
    assert!(twice.is_empty(), "written more than once: {twice:#?}");
    // An NSG and a route table moat creates get their rules and routes in their own create PUT:
    // one operation each, no write per rule or route.
    for (parent, children) in [(id("Microsoft.Network/networkSecurityGroups", "nsg-training"), "securityrules"), (id("Microsoft.Network/routeTables", "rt-training"), "routes")] {
        let parent = parent.to_ascii_lowercase();
        let own = per_resource.get(&parent).map(Vec::len).unwrap_or(0);
        assert_eq!(own, 1, "{parent}: one create PUT: {per_resource:#?}");
        let under: Vec<&String> = per_resource.keys().filter(|k| k.starts_with(&format!("{parent}/{children}/"))).collect();
        assert!(under.is_empty(), "{parent}: its {children} written one by one instead of in its create: {under:#?}");
    }

    // The workspace: private only, linked to its resources.
    let ws = h.emu.admin.resource(&id("Microsoft.MachineLearningServices/workspaces", "mlw-prod")).expect("workspace exists");
    assert_eq!(prop(&ws, "properties.publicNetworkAccess"), "Disabled");
    assert!(prop(&ws, "properties.containerRegistry").as_str().is_some_and(|s| s.ends_with("crmlprod01")));
    assert_eq!(prop(&ws, "identity.type"), "SystemAssigned");
    // Firewalls deny by default; ACR is Premium.
    let st = h.emu.admin.resource(&id("Microsoft.Storage/storageAccounts", "stmlprod01")).expect("storage");
    assert_eq!(prop(&st, "properties.networkAcls.defaultAction"), "Deny");
    assert_eq!(prop(&st, "properties.publicNetworkAccess"), "Disabled");
    let kv = h.emu.admin.resource(&id("Microsoft.KeyVault/vaults", "kv-ml-prod-01")).expect("vault");
    assert_eq!(prop(&kv, "properties.networkAcls.defaultAction"), "Deny");
    let acr = h.emu.admin.resource(&id("Microsoft.ContainerRegistry/registries", "crmlprod01")).expect("registry");
    assert_eq!(prop(&acr, "sku.name"), "Premium");
    assert_eq!(prop(&acr, "properties.networkRuleSet.defaultAction"), "Deny");
    // Five private endpoints for the workspace (plus the standalone one), each with a zone group
    // whose record sets are filled.
    let pes = h.resources("Microsoft.Network/privateEndpoints");
    let mut groups: Vec<String> = pes
        .iter()
        .flat_map(|p| p["properties"]["privateLinkServiceConnections"].as_array().cloned().unwrap_or_default())
        .flat_map(|c| c["properties"]["groupIds"].as_array().cloned().unwrap_or_default())
        .filter_map(|g| g.as_str().map(str::to_string))
        .collect();
    groups.sort();
    assert_eq!(groups, vec!["amlworkspace", "blob", "dfs", "file", "registry", "vault"]);
    for pe in &pes {
        let zg = h.emu.admin.resource(&format!("{}/privateDnsZoneGroups/default", pe["id"].as_str().unwrap_or_default())).expect("zone group");
        let configs = zg["properties"]["privateDnsZoneConfigs"].as_array().cloned().unwrap_or_default();
        assert!(!configs.is_empty() && configs.iter().all(|c| c["properties"]["recordSets"].as_array().is_some_and(|r| !r.is_empty())), "{zg}");
    }
    // The privatelink zones, each linked to the VNet without auto-registration.
    let zones: Vec<String> = h.resources("Microsoft.Network/privateDnsZones").iter().filter_map(|z| z["name"].as_str().map(str::to_string)).collect();
    for z in ["privatelink.api.azureml.ms", "privatelink.notebooks.azure.net", "privatelink.blob.core.windows.net", "privatelink.file.core.windows.net", "privatelink.vaultcore.azure.net", "privatelink.azurecr.io", "privatelink.dfs.core.windows.net"] {
        assert!(zones.iter().any(|x| x == z), "zone {z} in {zones:?}");
    }
    let links = h.resources("Microsoft.Network/privateDnsZones/virtualNetworkLinks");
    assert!(links.len() >= 7, "{} links", links.len());
    assert!(links.iter().all(|l| l["properties"]["registrationEnabled"] == json!(false) && l["properties"]["virtualNetwork"]["id"].as_str().is_some_and(|v| v.ends_with("vnet-ml-prod"))));
    // The training subnet's NSG carries the documented inbound rules and restricted outbound; its route table the forced-tunneling routes.
    let nsg = h.emu.admin.resource(&id("Microsoft.Network/networkSecurityGroups", "nsg-training")).expect("nsg");
    let rules = nsg["properties"]["securityRules"].as_array().cloned().unwrap_or_default();
    let has = |src: &str, port: &str| {
        rules.iter().any(|r| {
            let p = &r["properties"];
            p["direction"] == "Inbound" && p["access"] == "Allow" && p["sourceAddressPrefix"] == src
                && (p["destinationPortRange"] == port || p["destinationPortRanges"].as_array().is_some_and(|a| a.iter().any(|x| x == port)))
        })
    };
    assert!(has("BatchNodeManagement", "29876-29877"), "{rules:#?}");
    assert!(has("AzureMachineLearning", "44224"), "{rules:#?}");
    assert!(rules.iter().any(|r| r["properties"]["direction"] == "Outbound" && r["properties"]["access"] == "Deny" && r["properties"]["destinationAddressPrefix"] == "Internet"));
    let rt = h.emu.admin.resource(&id("Microsoft.Network/routeTables", "rt-training")).expect("route table");
    let hops: BTreeMap<String, String> = rt["properties"]["routes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| (r["properties"]["addressPrefix"].as_str().unwrap_or_default().to_string(), r["properties"]["nextHopType"].as_str().unwrap_or_default().to_string()))
        .collect();
    assert_eq!(hops.get("AzureMachineLearning").map(String::as_str), Some("Internet"));
    assert_eq!(hops.get("BatchNodeManagement.westeurope").map(String::as_str), Some("Internet"));
    assert_eq!(hops.get("0.0.0.0/0").map(String::as_str), Some("VirtualAppliance"));
    let subnet = h.emu.admin.resource(&format!("{}/subnets/snet-training", id("Microsoft.Network/virtualNetworks", "vnet-ml-prod"))).expect("subnet");
    assert!(subnet["properties"]["networkSecurityGroup"]["id"].as_str().is_some_and(|s| s.ends_with("nsg-training")));
    assert!(subnet["properties"]["routeTable"]["id"].as_str().is_some_and(|s| s.ends_with("rt-training")));

    // Steady state: over two resync periods (each re-reads the workspace), no ARM write.
    let since = h.last_seq();
    let ws_id = id("Microsoft.MachineLearningServices/workspaces", "mlw-prod").to_ascii_lowercase();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let ws_reads = h.emu.admin.requests(Some(since)).entries.iter().filter(|e| e.method == "GET" && e.path.to_ascii_lowercase().split('?').next() == Some(ws_id.as_str())).count();
        if ws_reads >= 2 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "moat did not resync twice within 60 s\n{}", h.log_tail());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let writes = h.writes_since(since);
    assert!(writes.is_empty(), "{} ARM write(s) at steady state: {:#?}", writes.len(), writes.iter().map(|w| format!("{} {}", w.method, w.path)).collect::<Vec<_>>());

    // What Git owns stays Git's: moat never wrote the spec (generation 1) of what the user
    // applied, and everything it wrote (status, its finalizer) is under the field manager `moat`.
    let mut managed: Vec<(String, Option<i64>, Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry>)> = Vec::new();
    let ws = h.api::<SecureWorkspace>().get("ml-prod").await.expect("get");
    managed.push(("SecureWorkspace ml-prod".into(), ws.metadata.generation, ws.metadata.managed_fields.clone().unwrap_or_default()));
    for csn in ["training", "inference"] {
        let o = h.api::<ComputeSubnet>().get(csn).await.expect("get");
        managed.push((format!("ComputeSubnet {csn}"), o.metadata.generation, o.metadata.managed_fields.clone().unwrap_or_default()));
    }
    let peb = h.api::<PrivateEndpointBinding>().get("datalake-dfs").await.expect("get");
    managed.push(("PrivateEndpointBinding datalake-dfs".into(), peb.metadata.generation, peb.metadata.managed_fields.clone().unwrap_or_default()));
    for (what, generation, entries) in &managed {
        assert_eq!(*generation, Some(1), "{what}: moat never changes a spec the user applied");
        let managers: Vec<String> = entries.iter().map(|e| format!("{}/{}", e.manager.as_deref().unwrap_or("?"), e.subresource.as_deref().unwrap_or("-"))).collect();
        assert!(entries.iter().all(|e| e.manager.as_deref() != Some("unknown")), "{what}: a write without a field manager: {managers:?}");
        let mine: Vec<&k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry> = entries.iter().filter(|e| e.manager.as_deref() == Some("moat")).collect();
        assert!(mine.iter().any(|e| e.subresource.as_deref() == Some("status")), "{what}: moat's status is under the manager moat: {managers:?}");
        for e in mine.iter().filter(|e| e.subresource.is_none()) {
            let fields = e.fields_v1.as_ref().map(|f| f.0.clone()).unwrap_or_default();
            let top: Vec<&String> = fields.as_object().map(|o| o.keys().collect()).unwrap_or_default();
            assert!(top.iter().all(|k| *k == "f:metadata"), "{what}: moat wrote only metadata (its finalizer) outside status: {fields}");
            assert!(fields["f:metadata"].as_object().is_some_and(|m| m.keys().all(|k| k == "f:finalizers")), "{what}: only the finalizer: {fields}");
        }
    }
    h.assert_scenario_sound();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_is_put_back_and_foreign_rules_survive() {
    let mut h = Harness::checked("e2e-drift", EmulatorConfig::for_tests()).await;
    converge_samples(&mut h).await;
    let nsg = id("Microsoft.Network/networkSecurityGroups", "nsg-training");
    let storage = id("Microsoft.Storage/storageAccounts", "stmlprod01");
    // Someone adds their own rule to moat's NSG; it must survive everything below.
    let foreign = format!("{nsg}/securityRules/corp-allow-bastion");
    h.emu
        .admin
        .put_resource(&foreign, json!({"properties": {"priority": 250, "direction": "Inbound", "access": "Allow", "protocol": "Tcp",
            "sourceAddressPrefix": "10.30.1.0/24", "sourcePortRange": "*", "destinationAddressPrefix": "*", "destinationPortRange": "22"}}), Some("Succeeded"))
        .expect("foreign rule");
    // Three kinds of drift: a removed rule, a firewall opened, a deleted private endpoint.
    let rule = h
        .emu
        .admin
        .resource(&nsg)
        .and_then(|n| n["properties"]["securityRules"].as_array().cloned())
        .and_then(|rs| rs.into_iter().find(|r| r["properties"]["sourceAddressPrefix"] == "BatchNodeManagement"))
        .and_then(|r| r["id"].as_str().map(str::to_string))
        .expect("the BatchNodeManagement rule");
    assert!(h.emu.admin.delete_resource(&rule));
    h.emu.admin.patch_resource(&storage, json!({"properties": {"networkAcls": {"defaultAction": "Allow"}}}), None).expect("open the firewall");
    let pe = h
        .resources("Microsoft.Network/privateEndpoints")
        .into_iter()
        .find(|p| p["name"].as_str().is_some_and(|n| n.ends_with("-vault")))
        .and_then(|p| p["id"].as_str().map(str::to_string))
        .expect("the key vault endpoint");
    assert!(h.emu.admin.delete_resource(&pe));

    let deadline = tokio::time::Instant::now() + CONVERGE;
    loop {
        let rule_back = h.emu.admin.resource(&rule).is_some();
        let closed = h.emu.admin.resource(&storage).is_some_and(|s| s["properties"]["networkAcls"]["defaultAction"] == "Deny");
        let pe_back = h.emu.admin.resource(&pe).is_some_and(|p| p["properties"]["provisioningState"] == "Succeeded");
        if rule_back && closed && pe_back {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "drift not corrected (rule {rule_back}, firewall {closed}, endpoint {pe_back})\n{}", h.log_tail());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(h.emu.admin.resource(&foreign).is_some(), "the foreign NSG rule survived");
    // The corrections are published as events.
    let out = h.env.kubectl(["get", "events", "-n", &h.ns, "-o", "json"]).await.expect("kubectl");
    let events: Value = serde_json::from_slice(&out.stdout).expect("events json");
    let reasons: Vec<String> = events["items"].as_array().into_iter().flatten().filter_map(|e| e["reason"].as_str().map(str::to_string)).collect();
    assert!(reasons.iter().any(|r| r == "Updated"), "an Updated event for the firewall: {reasons:?}");
    assert!(reasons.iter().filter(|r| *r == "Created").count() >= 2, "Created events for the rule and the endpoint: {reasons:?}");
    h.assert_scenario_sound();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_mid_operation_resumes_without_a_second_create() {
    // Slow operations: each takes 4 polls, one second apart.
    let cfg = EmulatorConfig { polls_to_complete: 4, retry_after_secs: 1, ..EmulatorConfig::for_tests() };
    let mut h = Harness::checked("e2e-restart", cfg).await;
    h.start_moat();
    h.apply(&sample("secureworkspace.yaml", &h.ns)).await;
    // Wait until the workspace itself is being created, then kill moat in the middle of it.
    let ws = id("Microsoft.MachineLearningServices/workspaces", "mlw-prod").to_ascii_lowercase();
    let deadline = tokio::time::Instant::now() + CONVERGE;
    while !h.emu.admin.requests(None).entries.iter().any(|e| e.method == "PUT" && e.path.to_ascii_lowercase().starts_with(&ws)) {
        assert!(tokio::time::Instant::now() < deadline, "workspace PUT never sent\n{}", h.log_tail());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    h.kill_moat().await;
    let state = h.emu.admin.resource(&ws).map(|w| w["properties"]["provisioningState"].clone());
    assert_ne!(state, Some(json!("Succeeded")), "killed while the workspace operation was still running");
    h.start_moat();
    h.wait_for::<SecureWorkspace>("ml-prod", CONVERGE, "Ready", ready_sws).await;
    // Every resource was PUT exactly once across both runs.
    let mut puts: BTreeMap<String, usize> = BTreeMap::new();
    for e in h.emu.admin.requests(None).entries.iter().filter(|e| e.method == "PUT") {
        *puts.entry(e.path.split('?').next().unwrap_or_default().to_ascii_lowercase()).or_default() += 1;
    }
    let twice: Vec<_> = puts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "PUT more than once: {twice:?}");
    assert!(puts.contains_key(&ws));
    h.assert_scenario_sound();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_removes_what_moat_created_and_orphan_leaves_it() {
    let mut h = Harness::checked("e2e-delete", EmulatorConfig::for_tests()).await;
    converge_samples(&mut h).await;
    let seeded = format!("/subscriptions/{SUB}/resourceGroups/rg-data/providers/Microsoft.Storage/storageAccounts/stdatalake01");
    let dp = DeleteParams::default();
    h.api::<PrivateEndpointBinding>().delete("datalake-dfs", &dp).await.expect("delete peb");
    for csn in ["training", "inference"] {
        h.api::<ComputeSubnet>().delete(csn, &dp).await.expect("delete csn");
    }
    h.api::<SecureWorkspace>().delete("ml-prod", &dp).await.expect("delete sws");
    h.wait_gone::<SecureWorkspace>("ml-prod", CONVERGE).await;
    for csn in ["training", "inference"] {
        h.wait_gone::<ComputeSubnet>(csn, CONVERGE).await;
    }
    h.wait_gone::<PrivateEndpointBinding>("datalake-dfs", CONVERGE).await;
    let left: Vec<String> = h.all_resources().iter().filter_map(|r| r["id"].as_str().map(str::to_string)).filter(|i| !i.eq_ignore_ascii_case(&seeded)).collect();
    assert!(left.is_empty(), "moat left behind: {left:#?}\nmoat log: {}", h.log.display());
    assert!(h.emu.admin.resource(&seeded).is_some(), "the adopted target of the endpoint is never deleted");

    // Orphan: everything stays. (The deleted vault's name stays reserved while it is soft-deleted,
    // as in Azure, so the second workspace uses another one.)
    let mut again = sample("secureworkspace.yaml", &h.ns);
    again["spec"]["keyVault"]["name"] = json!("kv-ml-prod-02");
    h.apply(&again).await;
    h.wait_for::<SecureWorkspace>("ml-prod", CONVERGE, "Ready", ready_sws).await;
    h.merge_patch::<SecureWorkspace>("ml-prod", json!({"spec": {"deletionPolicy": "Orphan"}})).await;
    h.wait_for::<SecureWorkspace>("ml-prod", CONVERGE, "Ready at the new generation", ready_sws).await;
    let before = h.all_resources().len();
    h.api::<SecureWorkspace>().delete("ml-prod", &dp).await.expect("delete sws");
    h.wait_gone::<SecureWorkspace>("ml-prod", CONVERGE).await;
    let deadline = tokio::time::Instant::now() + CONVERGE;
    while !h.api::<PrivateEndpointBinding>().list(&Default::default()).await.expect("list").items.is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "bindings not garbage-collected");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(h.all_resources().len(), before, "Orphan leaves every Azure resource");
    h.assert_scenario_sound();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_finding_is_a_condition_and_writes_nothing_it_concerns() {
    let mut h = Harness::checked("e2e-error", EmulatorConfig::for_tests()).await;
    h.start_moat();
    h.apply(&sample("secureworkspace.yaml", &h.ns)).await;
    h.wait_for::<SecureWorkspace>("ml-prod", CONVERGE, "Ready", ready_sws).await;
    // A training subnet outside the VNet's 10.20.0.0/16 (admission cannot see the VNet; the catalog can).
    let mut bad = sample("computesubnet-training.yaml", &h.ns);
    bad["spec"]["addressPrefix"] = json!("10.99.4.0/25");
    let since = h.last_seq();
    h.apply(&bad).await;
    h.wait_for::<ComputeSubnet>("training", CONVERGE, "reporting the constraint", |c: &ComputeSubnet| {
        c.status.as_ref().is_some_and(|s| s.conditions.iter().any(|x| x.type_ == "ConstraintsSatisfied" && x.status == "False"))
    })
    .await;
    let cs = h.api::<ComputeSubnet>().get("training").await.expect("get");
    let st = cs.status.expect("status");
    let f = st.findings.iter().find(|f| f.severity == moat::api::Severity::Error).expect("an Error finding");
    assert!(f.message.contains("10.99.4.0/25") && f.message.contains("10.20.0.0/16"), "the finding names the figures: {f:?}");
    let ready = st.conditions.iter().find(|c| c.type_ == "Ready").expect("Ready");
    assert_eq!(ready.status, "False");
    let subnet = format!("{}/subnets/snet-training", id("Microsoft.Network/virtualNetworks", "vnet-ml-prod")).to_ascii_lowercase();
    // Nothing of the object is built: not the subnet, and not the NSG, rules, route table and
    // routes that exist only for it.
    let touched: Vec<String> = h.writes_since(since).into_iter().map(|w| format!("{} {}", w.method, w.path)).collect();
    assert!(touched.is_empty(), "no write for a blocked object: {touched:?}");
    assert!(h.emu.admin.resource(&subnet).is_none());
    assert!(h.emu.admin.resource(&id("Microsoft.Network/networkSecurityGroups", "nsg-training")).is_none(), "no NSG for a blocked subnet");
    let ready = st.conditions.iter().find(|c| c.type_ == "Ready").expect("Ready");
    assert_eq!(ready.reason, "ConstraintViolation", "the Ready reason says why: {ready:?}");
    assert!(ready.message.contains("NET-004"), "and names the rule: {ready:?}");
    h.assert_scenario_sound();
}
