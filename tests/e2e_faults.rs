//! Never lose, never lie, never loop: moat under the faults ARM shows in production (spurious
//! 404s, lost responses, failed operations, persistent errors, foreign links) and crashes at the
//! worst moment. Every scenario ends with `assert_scenario_sound` (no intermediate Azure state
//! less safe than both ends of its transition; every body valid against the specs).

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use kube::api::DeleteParams;
use kube::Resource;
use moat::api::{ComputeSubnet, PrivateEndpointBinding, SecureWorkspace};
use moat::emulator::{EmulatorConfig, Fault, FaultRule, LogEntry};
use serde_json::{Value, json};
use support::e2e::{Harness, RG, SUB, condition_true, sample};

const CONVERGE: Duration = Duration::from_secs(180);

fn id(kind: &str, name: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/{RG}/providers/{kind}/{name}")
}

fn sws_ready(o: &SecureWorkspace) -> bool {
    o.status.as_ref().is_some_and(|s| condition_true(&s.conditions, o.meta().generation, "Ready"))
}
fn csn_ready(o: &ComputeSubnet) -> bool {
    o.status.as_ref().is_some_and(|s| condition_true(&s.conditions, o.meta().generation, "Ready"))
}

/// The current Ready condition's (status, reason, message).
fn ready_of(conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition], generation: Option<i64>) -> Option<(String, String, String)> {
    conditions.iter().find(|c| c.type_ == "Ready" && c.observed_generation == generation).map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

fn fault(method: &str, resource_type: &str, path_contains: &str, fault: Fault, times: Option<u32>) -> FaultRule {
    FaultRule::new(Some(method), Some(resource_type), Some(path_contains), fault, times)
}

fn path_of(e: &LogEntry) -> String {
    e.path.split('?').next().unwrap_or_default().to_ascii_lowercase()
}

/// Requests logged after `since` on exactly `resource` (not its children).
fn on(h: &Harness, since: u64, method: &str, resource: &str) -> Vec<LogEntry> {
    let want = resource.to_ascii_lowercase();
    h.emu.admin.requests(Some(since)).entries.into_iter().filter(|e| e.method == method && path_of(e) == want).collect()
}

fn rule_names(nsg: &Value) -> Vec<String> {
    nsg["properties"]["securityRules"].as_array().into_iter().flatten().filter_map(|r| r["name"].as_str().map(str::to_string)).collect()
}

async fn event_reasons(h: &Harness) -> Vec<(String, String)> {
    let out = h.env.kubectl(["get", "events", "-n", &h.ns, "-o", "json"]).await.expect("kubectl");
    let events: Value = serde_json::from_slice(&out.stdout).expect("events json");
    events["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| (e["reason"].as_str().unwrap_or_default().to_string(), e["note"].as_str().or(e["message"].as_str()).unwrap_or_default().to_string()))
        .collect()
}

async fn wait_until(h: &Harness, what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + timeout;
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "not {what} within {timeout:?}\n{}", h.log_tail());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A crash right after the subnet's create was sent keeps the record of what moat created (its
/// NSG, rules, route table and routes go when the ComputeSubnet does), and a spurious 404 for
/// the NSG moat has seen never sends a create over it (its rules, foreign ones included, stay).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_a_write_and_a_spurious_404_lose_nothing() {
    let cfg = EmulatorConfig { polls_to_complete: 4, retry_after_secs: 1, ..EmulatorConfig::for_tests() };
    let mut h = Harness::checked("e2e-lose", cfg).await;
    h.start_moat();
    h.apply(&sample("secureworkspace.yaml", &h.ns)).await;
    h.apply(&sample("computesubnet-training.yaml", &h.ns)).await;
    let vnet = id("Microsoft.Network/virtualNetworks", "vnet-ml-prod");
    let subnet = format!("{vnet}/subnets/snet-training");
    let nsg = id("Microsoft.Network/networkSecurityGroups", "nsg-training");
    let rt = id("Microsoft.Network/routeTables", "rt-training");
    wait_until(&h, "sending the subnet's PUT", CONVERGE, || !on(&h, 0, "PUT", &subnet).is_empty()).await;
    h.kill_moat().await;
    assert_ne!(
        h.emu.admin.resource(&subnet).map(|s| s["properties"]["provisioningState"].clone()),
        Some(json!("Succeeded")),
        "killed while the subnet's operation still ran"
    );
    h.start_moat();
    h.wait_for::<SecureWorkspace>("ml-prod", CONVERGE, "Ready", sws_ready).await;
    h.wait_for::<ComputeSubnet>("training", CONVERGE, "Ready after the restart", csn_ready).await;
    let st = h.api::<ComputeSubnet>().get("training").await.expect("get").status.expect("status");
    for r in [&subnet, &nsg, &rt] {
        let rec = st.resources.iter().find(|x| x.id.eq_ignore_ascii_case(r)).unwrap_or_else(|| panic!("{r} recorded: {:#?}", st.resources));
        assert!(rec.owned, "{r} is recorded as moat's after the crash: {rec:?}");
    }
    assert_eq!(on(&h, 0, "PUT", &subnet).len(), 1, "the subnet was created once across the crash");

    // Someone else's rule joins moat's NSG; then ARM answers 404 for the NSG, twice.
    let foreign = format!("{nsg}/securityRules/corp-allow-bastion");
    h.emu
        .admin
        .put_resource(&foreign, json!({"properties": {"priority": 250, "direction": "Inbound", "access": "Allow", "protocol": "Tcp",
            "sourceAddressPrefix": "10.30.1.0/24", "sourcePortRange": "*", "destinationAddressPrefix": "*", "destinationPortRange": "22"}}), Some("Succeeded"))
        .expect("foreign rule");
    let rules_before = rule_names(&h.emu.admin.resource(&nsg).expect("nsg"));
    h.emu.admin.journal_mark("spurious 404");
    let since = h.last_seq();
    let missing = Fault::Error { status: 404, code: "ResourceNotFound".into(), message: "The Resource 'Microsoft.Network/networkSecurityGroups/nsg-training' under resource group 'rg-ml-prod' was not found.".into() };
    let fid = h.emu.admin.add_fault(fault("GET", "Microsoft.Network/networkSecurityGroups", "/networkSecurityGroups/nsg-training", missing, Some(2)));
    wait_until(&h, "the two 404s answered", CONVERGE, || h.emu.admin.faults().iter().any(|f| f.id == fid && f.fired == 2)).await;
    // Then moat reads it again, as it is, and carries on.
    wait_until(&h, "a clean read of the NSG after the 404s", CONVERGE, || on(&h, since, "GET", &nsg).iter().any(|e| e.status == 200)).await;
    h.wait_for::<ComputeSubnet>("training", CONVERGE, "Ready after the 404s", csn_ready).await;
    let creates = on(&h, since, "PUT", &nsg);
    assert!(creates.is_empty(), "a 404 for an NSG moat has seen must not send a create over it: {creates:#?}");
    let rules_after = rule_names(&h.emu.admin.resource(&nsg).expect("nsg still there"));
    assert_eq!(rules_after, rules_before, "every rule kept, the foreign one included");

    // The ComputeSubnet goes: what moat created goes with it (the crash lost no record), except
    // the NSG that now holds someone else's rule: it stays with that rule only, and an event says so.
    // And ARM answers 404 once for the route table as the deletion starts: moat looks again
    // rather than leave it behind when its finalizer goes.
    h.api::<ComputeSubnet>().delete("training", &DeleteParams::default()).await.expect("delete");
    let rt_missing = Fault::Error { status: 404, code: "ResourceNotFound".into(), message: "The Resource 'Microsoft.Network/routeTables/rt-training' under resource group 'rg-ml-prod' was not found.".into() };
    let rt_fault = h.emu.admin.add_fault(fault("GET", "Microsoft.Network/routeTables", "/routeTables/rt-training", rt_missing, Some(1)));
    h.wait_gone::<ComputeSubnet>("training", CONVERGE).await;
    assert!(h.emu.admin.faults().iter().any(|f| f.id == rt_fault && f.fired == 1), "the 404 was answered");
    for gone in [&subnet, &rt] {
        assert!(h.emu.admin.resource(gone).is_none(), "{gone} deleted with its ComputeSubnet\n{}", h.log_tail());
    }
    let kept = h.emu.admin.resource(&nsg).expect("the NSG with a foreign rule is kept");
    assert_eq!(rule_names(&kept), vec!["corp-allow-bastion".to_string()], "moat's rules removed, the foreign one kept");
    let events = event_reasons(&h).await;
    assert!(events.iter().any(|(r, n)| r == "NsgKept" && n.contains("corp-allow-bastion")), "an NsgKept event names the foreign rule: {events:#?}");
    h.assert_scenario_sound();
}

/// A lost response (ARM applied the write, the answer never came back) is followed by a read
/// and a wait for the operation in flight, not by PUTs that ARM refuses with 409.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_response_waits_for_the_operation_instead_of_writing_again() {
    // Operations finish on their own time (3 s), as on Azure, whether or not anyone polls.
    let cfg = EmulatorConfig { polls_to_complete: 1_000, lro_max_duration: Some(Duration::from_secs(3)), ..EmulatorConfig::for_tests() };
    let mut h = Harness::checked("e2e-lost", cfg).await;
    let subnet = format!("{}/subnets/snet-training", id("Microsoft.Network/virtualNetworks", "vnet-ml-prod"));
    let lost = Fault::ErrorAfter { status: 500, code: "GatewayTimeout".into(), message: "The gateway did not receive a response in time.".into() };
    h.emu.admin.add_fault(fault("PUT", "Microsoft.Network/virtualNetworks/subnets", "/subnets/snet-training", lost, Some(1)));
    h.start_moat();
    h.apply(&sample("secureworkspace.yaml", &h.ns)).await;
    h.apply(&sample("computesubnet-training.yaml", &h.ns)).await;
    h.wait_for::<ComputeSubnet>("training", CONVERGE, "Ready after a lost response", csn_ready).await;
    let puts = on(&h, 0, "PUT", &subnet);
    let refused = puts.iter().filter(|e| e.status == 409).count();
    eprintln!("lost response: {} PUTs of the subnet ({refused} refused with 409)", puts.len());
    assert!(puts.len() <= 2 && refused == 0, "after a lost response moat waits for the operation: {:#?}", puts.iter().map(|e| (e.status, &e.faults)).collect::<Vec<_>>());
    assert_eq!(h.emu.admin.resource(&subnet).expect("subnet")["properties"]["provisioningState"], "Succeeded");
    h.assert_scenario_sound();
}

/// A failed operation is not Ready: the condition carries Azure's code and message, status
/// records `Failed`, moat writes again with backoff (not in a loop) and is Ready once Azure
/// succeeds. A persistent error (a resource group that does not exist) costs a few ARM calls a
/// minute and no status churn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_reported_truthfully_and_retried_with_backoff() {
    let mut h = Harness::checked("e2e-fail", EmulatorConfig::for_tests()).await;
    h.resync_seconds = 30;
    let ws = id("Microsoft.MachineLearningServices/workspaces", "mlw-prod");
    let quota = Fault::FailLro { code: "QuotaExceeded".into(), message: "The subscription has reached its quota of workspaces in westeurope.".into(), status: None };
    let fid = h.emu.admin.add_fault(fault("PUT", "Microsoft.MachineLearningServices/workspaces", "/workspaces/mlw-prod", quota, None));
    h.start_moat();
    h.apply(&sample("secureworkspace.yaml", &h.ns)).await;
    // A second workspace whose resource group has a typo.
    let mut typo = sample("secureworkspace.yaml", &h.ns);
    typo["metadata"]["name"] = json!("ml-typo");
    typo["spec"]["resourceGroup"] = json!("rg-ml-prdo");
    h.apply(&typo).await;

    let failed = |reason: &'static str, needle: &'static str| {
        move |o: &SecureWorkspace| {
            o.status.as_ref().and_then(|s| ready_of(&s.conditions, o.meta().generation)).is_some_and(|(st, r, m)| st == "False" && r == reason && m.contains(needle))
        }
    };
    h.wait_for::<SecureWorkspace>("ml-prod", CONVERGE, "AzureError naming QuotaExceeded", failed("AzureError", "QuotaExceeded")).await;
    // Between two attempts, status records what Azure says: Failed.
    h.wait_for::<SecureWorkspace>("ml-prod", CONVERGE, "recording the workspace Failed", |o: &SecureWorkspace| {
        o.status.as_ref().is_some_and(|s| s.resources.iter().any(|r| r.id.eq_ignore_ascii_case(&ws) && r.state == "Failed"))
    })
    .await;
    h.wait_for::<SecureWorkspace>("ml-typo", CONVERGE, "AzureError naming the missing resource group", failed("AzureError", "rg-ml-prdo")).await;
    let message = |o: &SecureWorkspace| o.status.as_ref().and_then(|s| ready_of(&s.conditions, o.meta().generation)).map(|(_, _, m)| m).unwrap_or_default();
    assert!(!message(&h.api::<SecureWorkspace>().get("ml-prod").await.expect("get")).contains("x-ms-request-id"), "request ids go to events, not to status");

    // Quiet while failing: over 30 s, a few attempts each (backoff 1, 2, 4, 8, 16 s), and the
    // status is not rewritten with each.
    let since = h.last_seq();
    let rv = |o: SecureWorkspace| o.metadata.resource_version.unwrap_or_default();
    let (rv_prod, rv_typo) = (rv(h.api().get("ml-prod").await.expect("get")), rv(h.api().get("ml-typo").await.expect("get")));
    let typo_msg = message(&h.api::<SecureWorkspace>().get("ml-typo").await.expect("get"));
    tokio::time::sleep(Duration::from_secs(30)).await;
    let log = h.emu.admin.requests(Some(since));
    let ws_puts = log.entries.iter().filter(|e| e.method == "PUT" && path_of(e) == ws.to_ascii_lowercase()).count();
    let typo_calls = log.entries.iter().filter(|e| path_of(e).contains("/resourcegroups/rg-ml-prdo/")).count();
    let typo_after = h.api::<SecureWorkspace>().get("ml-typo").await.expect("get");
    let prod_after = h.api::<SecureWorkspace>().get("ml-prod").await.expect("get");
    eprintln!(
        "failing for 30 s: {ws_puts} PUTs of the failing workspace; {typo_calls} ARM requests for the resource-group typo; status writes: {} and {}",
        u8::from(rv(prod_after.clone()) != rv_prod),
        u8::from(rv(typo_after.clone()) != rv_typo)
    );
    assert!((1..=6).contains(&ws_puts), "{ws_puts} PUTs in 30 s: retried with backoff, neither never nor in a loop");
    assert!(typo_calls <= 60, "{typo_calls} ARM requests in 30 s for a persistent 404");
    assert_eq!(message(&typo_after), typo_msg, "the same failure keeps the same status text");
    assert_eq!(rv(typo_after), rv_typo, "a persistent failure does not rewrite its status");
    assert!(h.all_resources().iter().all(|r| !r["id"].as_str().unwrap_or_default().to_ascii_lowercase().contains("rg-ml-prdo")), "nothing created for the typo");

    // Azure recovers: moat's next attempt (at most one backoff period later) succeeds.
    assert!(h.emu.admin.remove_fault(fid));
    h.wait_for::<SecureWorkspace>("ml-prod", CONVERGE, "Ready once Azure succeeds", sws_ready).await;
    assert_eq!(h.emu.admin.resource(&ws).expect("workspace")["properties"]["provisioningState"], "Succeeded");
    let events = event_reasons(&h).await;
    assert!(events.iter().any(|(r, n)| r == "OperationFailed" && n.contains("QuotaExceeded")), "the failure is an event: {events:#?}");
    h.assert_scenario_sound();
}

/// A virtual network link someone else added to a privatelink zone moat created does not wedge
/// deletion: the zone stays with moat's link removed, an event says so, the rest goes, and moat
/// does not hammer ARM with DELETEs that cannot succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_link_keeps_its_zone_and_does_not_wedge_deletion() {
    let mut h = Harness::checked("e2e-link", EmulatorConfig::for_tests()).await;
    h.start_moat();
    h.apply(&sample("secureworkspace.yaml", &h.ns)).await;
    h.wait_for::<SecureWorkspace>("ml-prod", CONVERGE, "Ready", sws_ready).await;
    let hub = id("Microsoft.Network/virtualNetworks", "vnet-hub");
    h.emu
        .admin
        .put_resource(&hub, json!({"location": "westeurope", "properties": {"addressSpace": {"addressPrefixes": ["10.30.0.0/16"]}}}), Some("Succeeded"))
        .expect("hub VNet");
    let zone = id("Microsoft.Network/privateDnsZones", "privatelink.vaultcore.azure.net");
    let foreign = format!("{zone}/virtualNetworkLinks/hub-link");
    h.emu
        .admin
        .put_resource(&foreign, json!({"location": "global", "properties": {"virtualNetwork": {"id": hub}, "registrationEnabled": false}}), Some("Succeeded"))
        .expect("foreign link");
    h.emu.admin.journal_mark("foreign link");
    let since = h.last_seq();
    let started = tokio::time::Instant::now();
    h.api::<SecureWorkspace>().delete("ml-prod", &DeleteParams::default()).await.expect("delete");
    h.wait_gone::<SecureWorkspace>("ml-prod", CONVERGE).await;
    eprintln!("deleted in {:.1} s beside a foreign link", started.elapsed().as_secs_f64());
    assert!(h.emu.admin.resource(&zone).is_some(), "the zone someone else links to stays");
    assert!(h.emu.admin.resource(&foreign).is_some(), "the foreign link stays");
    let links: Vec<String> = h
        .resources("Microsoft.Network/privateDnsZones/virtualNetworkLinks")
        .iter()
        .filter_map(|l| l["id"].as_str().map(str::to_string))
        .filter(|l| l.to_ascii_lowercase().starts_with(&zone.to_ascii_lowercase()))
        .collect();
    assert_eq!(links, vec![foreign.clone()], "moat's own link is removed");
    for gone in [id("Microsoft.KeyVault/vaults", "kv-ml-prod-01"), id("Microsoft.ContainerRegistry/registries", "crmlprod01"), id("Microsoft.MachineLearningServices/workspaces", "mlw-prod")] {
        assert!(h.emu.admin.resource(&gone).is_none(), "{gone} deleted");
    }
    // Every DELETE was sent once, none at the kept zone.
    let mut deletes: BTreeMap<String, usize> = BTreeMap::new();
    for e in h.writes_since(since).iter().filter(|e| e.method == "DELETE") {
        *deletes.entry(path_of(e)).or_default() += 1;
    }
    assert!(!deletes.contains_key(&zone.to_ascii_lowercase()), "no DELETE of a zone others use: {deletes:#?}");
    let again: Vec<_> = deletes.iter().filter(|(_, n)| **n > 1).collect();
    assert!(again.is_empty(), "each resource deleted once: {again:#?}");
    let events = event_reasons(&h).await;
    assert!(events.iter().any(|(r, n)| r == "ZoneKept" && n.contains("privatelink.vaultcore.azure.net") && n.contains("hub-link")), "a ZoneKept event names the zone and the link: {events:#?}");
    h.assert_scenario_sound();
}

/// A private endpoint whose create ended `Failed` and a zone group whose answer was lost still
/// end with names that resolve: the endpoint is written again, the zone group read back, and
/// DnsReady follows the records the zone serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_resolve_after_a_failed_create_and_a_lost_zone_group_answer() {
    let cfg = EmulatorConfig { polls_to_complete: 1_000, lro_max_duration: Some(Duration::from_secs(2)), retry_after_secs: 1, ..EmulatorConfig::for_tests() };
    let mut h = Harness::checked("e2e-dns", cfg).await;
    let failed = Fault::FailLro { code: "InternalServerError".into(), message: "The operation failed.".into(), status: None };
    h.emu.admin.add_fault(fault("PUT", "Microsoft.Network/privateEndpoints", "-registry", failed, Some(1)));
    let lost = Fault::ErrorAfter { status: 500, code: "InternalServerError".into(), message: "The response was lost.".into() };
    h.emu.admin.add_fault(fault("PUT", "Microsoft.Network/privateEndpoints/privateDnsZoneGroups", "amlworkspace", lost, Some(1)));
    h.start_moat();
    h.apply(&sample("secureworkspace.yaml", &h.ns)).await;
    let peb_ready = |o: &PrivateEndpointBinding| o.status.as_ref().is_some_and(|s| condition_true(&s.conditions, o.meta().generation, "Ready"));
    h.wait_for::<PrivateEndpointBinding>("ml-prod-registry", CONVERGE, "Ready after a failed create", peb_ready).await;
    h.wait_for::<PrivateEndpointBinding>("ml-prod-amlworkspace", CONVERGE, "Ready after a lost zone group answer", peb_ready).await;
    h.wait_for::<SecureWorkspace>("ml-prod", CONVERGE, "Ready", sws_ready).await;
    let fired: Vec<u32> = h.emu.admin.faults().iter().map(|f| f.fired).collect();
    assert_eq!(fired, vec![1, 1], "both faults fired");
    h.assert_scenario_sound();
}

/// moat killed right after sending a VNet's create (no record of it in status yet), someone adds
/// a subnet, and ARM then answers 404 for the VNet: the restarted moat looks again before
/// creating anything, so the VNet is never created over itself and the subnet stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_a_vnet_create_and_a_404_keep_the_subnets_others_added() {
    let cfg = EmulatorConfig { polls_to_complete: 1_000, lro_max_duration: Some(Duration::from_secs(2)), retry_after_secs: 1, ..EmulatorConfig::for_tests() };
    let mut h = Harness::checked("e2e-vnet", cfg).await;
    h.start_moat();
    h.apply(&sample("secureworkspace.yaml", &h.ns)).await;
    let vnet = id("Microsoft.Network/virtualNetworks", "vnet-ml-prod");
    wait_until(&h, "sending the VNet's PUT", CONVERGE, || !on(&h, 0, "PUT", &vnet).is_empty()).await;
    h.kill_moat().await;
    // The kill landed before moat recorded the operation: its status knows nothing of the VNet.
    let out = h
        .env
        .kubectl(["patch", "secureworkspace", "ml-prod", "-n", &h.ns, "--subresource=status", "--type=merge", "-p", r#"{"status":{"operations":null,"resources":null}}"#])
        .await
        .expect("kubectl");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The operation ends while moat is down (nobody polls it).
    h.emu.admin.settle();
    assert_eq!(h.emu.admin.resource(&vnet).expect("the VNet was created")["properties"]["provisioningState"], "Succeeded");
    let corp = format!("{vnet}/subnets/snet-corp");
    h.emu.admin.put_resource(&corp, json!({"properties": {"addressPrefix": "10.20.200.0/24"}}), Some("Succeeded")).expect("foreign subnet");
    let missing = Fault::Error { status: 404, code: "ResourceNotFound".into(), message: "The Resource 'Microsoft.Network/virtualNetworks/vnet-ml-prod' under resource group 'rg-ml-prod' was not found.".into() };
    h.emu.admin.add_fault(fault("GET", "Microsoft.Network/virtualNetworks", "/virtualNetworks/vnet-ml-prod", missing, Some(3)));
    h.start_moat();
    h.wait_for::<SecureWorkspace>("ml-prod", CONVERGE, "Ready after the restart", sws_ready).await;
    assert!(h.emu.admin.faults().iter().all(|f| f.fired == 3), "the 404s were answered");
    assert_eq!(on(&h, 0, "PUT", &vnet).len(), 1, "the VNet was created once, never over itself");
    assert!(h.emu.admin.resource(&corp).is_some(), "the subnet someone else added is kept");
    h.assert_scenario_sound();
}
