//! Soak: SecureWorkspaces, each with a ComputeSubnet, converge and are deleted under the faults
//! ARM shows in production — 10% throttling with Retry-After, 5% 500 before and 5% after the
//! write is applied, random latency, failing operations, spurious 404s — with operations that
//! finish on their own time (as on Azure, polled or not), moat SIGKILLed at random moments, and
//! foreign rules, subnets, links and records seeded throughout. One workspace has a resource
//! group typo and fails for the whole run.
//!
//! At the end: every object Ready (or, for the typo, a truthful condition); the emulator holds
//! exactly the expected resources, none `Failed`; writes within 10% of one per resource plus the
//! requests the faults forced; no foreign item lost; after deletion, nothing of moat's left; the
//! failing object's ARM calls per minute bounded.
//!
//! Size: `MOAT_SOAK_WORKSPACES` (default 3, what CI runs) and `MOAT_SOAK_KILLS` (default 4);
//! `MOAT_SOAK_WORKSPACES=50 MOAT_SOAK_KILLS=20 cargo test --test soak -- --nocapture` is the
//! full-size run.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use kube::api::DeleteParams;
use kube::Resource;
use moat::api::{ComputeSubnet, PrivateEndpointBinding, SecureWorkspace};
use moat::emulator::{EmulatorConfig, Fault, FaultRule};
use serde_json::{Value, json};
use support::e2e::{Harness, RG, SUB, condition_true, sample};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn id(kind: &str, name: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/{RG}/providers/{kind}/{name}")
}

fn workspace(ns: &str, i: usize) -> Value {
    let mut ws = sample("secureworkspace.yaml", ns);
    ws["metadata"]["name"] = json!(format!("ws-{i}"));
    let s = &mut ws["spec"];
    s["network"]["vnet"] = json!({"name": format!("vnet-soak-{i}"), "addressSpace": [format!("10.{}.0.0/16", 40 + i)]});
    s["network"]["privateEndpointSubnet"] = json!({"name": "snet-pe", "addressPrefix": format!("10.{}.0.0/24", 40 + i)});
    s["workspace"] = json!({"name": format!("mlw-soak-{i}"), "publicNetworkAccess": "Disabled", "imageBuildCompute": "cpu-cluster"});
    s["storage"] = json!({"name": format!("stsoak{i:03}")});
    s["keyVault"] = json!({"name": format!("kv-soak-{i:03}")});
    s["containerRegistry"] = json!({"name": format!("crsoak{i:03}"), "sku": "Premium"});
    s["applicationInsights"] = json!({"name": format!("appi-soak-{i}")});
    ws
}

fn subnet(ns: &str, i: usize) -> Value {
    let mut cs = sample("computesubnet-training.yaml", ns);
    cs["metadata"]["name"] = json!(format!("training-{i}"));
    let s = &mut cs["spec"];
    s["workspaceRef"] = json!({"name": format!("ws-{i}")});
    s["name"] = json!("snet-training");
    s["addressPrefix"] = json!(format!("10.{}.4.0/25", 40 + i));
    s["nsg"] = json!({"name": format!("nsg-soak-{i}")});
    s["forcedTunneling"] = json!({"routeTableName": format!("rt-soak-{i}"), "firewallIp": "10.30.0.4"});
    cs
}

fn ready<K: Resource>(o: &K, conditions: Option<&[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition]>) -> bool {
    conditions.is_some_and(|c| condition_true(c, o.meta().generation, "Ready"))
}

/// The faults of the run, deterministic per request sequence (seeded).
fn faults() -> Vec<FaultRule> {
    let mut out = vec![
        FaultRule::new(None, None, None, Fault::Throttle { retry_after_seconds: 1, code: None }, None).with_probability(0.10, 1),
        FaultRule::new(None, None, None, Fault::Error { status: 500, code: "InternalServerError".into(), message: "Encountered internal server error (soak).".into() }, None).with_probability(0.05, 2),
        FaultRule::new(Some("PUT"), None, None, Fault::ErrorAfter { status: 500, code: "InternalServerError".into(), message: "The response was lost (soak).".into() }, None).with_probability(0.05, 3),
        FaultRule::new(None, None, None, Fault::Delay { millis: 150 }, None).with_probability(0.3, 4),
        FaultRule::new(Some("PUT"), None, None, Fault::FailLro { code: "InternalServerError".into(), message: "The operation failed (soak).".into(), status: None }, None).with_probability(0.03, 5),
    ];
    // Spurious 404s on reads of the parents moat has seen (ARM during replication lag).
    for (n, rtype) in ["Microsoft.Network/virtualNetworks", "Microsoft.Network/networkSecurityGroups", "Microsoft.Network/routeTables", "Microsoft.Network/privateDnsZones"].iter().enumerate() {
        let missing = Fault::Error { status: 404, code: "ResourceNotFound".into(), message: "The Resource was not found (soak).".into() };
        out.push(FaultRule::new(Some("GET"), Some(rtype), None, missing, None).with_probability(0.02, 10 + n as u64));
    }
    out
}

fn key(id: &str) -> String {
    id.to_ascii_lowercase()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspaces_converge_and_go_under_faults_and_crashes() {
    let n = env_usize("MOAT_SOAK_WORKSPACES", 3);
    let kills = env_usize("MOAT_SOAK_KILLS", 4);
    // Operations finish on their own time (2 s), whether or not moat polls them.
    let cfg = EmulatorConfig { polls_to_complete: 1_000, lro_max_duration: Some(Duration::from_secs(2)), retry_after_secs: 1, ..EmulatorConfig::for_tests() };
    let mut h = Harness::new("soak", cfg).await;
    h.resync_seconds = 20;
    h.retry_seconds = 2;
    h.extra_args = vec!["--concurrency".into(), "8".into()];
    h.log_filter = "info".into();

    // Foreign things moat must keep: a privatelink zone someone else made, with their link and
    // record (moat shares it), and a hub VNet.
    let hub = id("Microsoft.Network/virtualNetworks", "vnet-hub");
    h.emu.admin.put_resource(&hub, json!({"location": "westeurope", "properties": {"addressSpace": {"addressPrefixes": ["10.30.0.0/16"]}}}), Some("Succeeded")).expect("hub");
    let blob_zone = id("Microsoft.Network/privateDnsZones", "privatelink.blob.core.windows.net");
    h.emu.admin.put_resource(&blob_zone, json!({"location": "global", "properties": {}}), Some("Succeeded")).expect("zone");
    let mut foreign: BTreeSet<String> = BTreeSet::new();
    let link = format!("{blob_zone}/virtualNetworkLinks/hub-link");
    h.emu.admin.put_resource(&link, json!({"location": "global", "properties": {"virtualNetwork": {"id": hub}, "registrationEnabled": false}}), Some("Succeeded")).expect("link");
    let record = format!("{blob_zone}/A/stcorp");
    h.emu.admin.put_resource(&record, json!({"properties": {"ttl": 10, "aRecords": [{"ipv4Address": "10.30.0.9"}]}}), Some("Succeeded")).expect("record");
    foreign.extend([hub.clone(), blob_zone.clone(), link, record]);

    for rule in faults() {
        h.emu.admin.add_fault(rule);
    }
    h.start_moat();
    for i in 0..n {
        h.apply(&workspace(&h.ns, i)).await;
        h.apply(&subnet(&h.ns, i)).await;
    }
    // The typo: fails for the whole run.
    let mut typo = workspace(&h.ns, n);
    typo["metadata"]["name"] = json!("ws-typo");
    typo["spec"]["resourceGroup"] = json!("rg-ml-prdo");
    h.apply(&typo).await;
    let started = tokio::time::Instant::now();

    // Chaos while converging: kill moat at pseudo-random moments, seed foreign rules and subnets
    // as soon as their parents exist.
    let mut seed = 0x5eed_u64;
    let mut next_kill = tokio::time::Instant::now() + Duration::from_secs(3);
    let mut killed = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(240 + 20 * n as u64);
    let sws = h.api::<SecureWorkspace>();
    let csn = h.api::<ComputeSubnet>();
    loop {
        for i in 0..n {
            let nsg = id("Microsoft.Network/networkSecurityGroups", &format!("nsg-soak-{i}"));
            let rule = format!("{nsg}/securityRules/corp-allow-bastion");
            if !foreign.contains(&rule) && h.emu.admin.resource(&nsg).is_some() {
                let body = json!({"properties": {"priority": 250, "direction": "Inbound", "access": "Allow", "protocol": "Tcp", "sourceAddressPrefix": "10.30.1.0/24", "sourcePortRange": "*", "destinationAddressPrefix": "*", "destinationPortRange": "22"}});
                if h.emu.admin.put_resource(&rule, body, Some("Succeeded")).is_ok() {
                    foreign.insert(rule);
                }
            }
            let vnet = id("Microsoft.Network/virtualNetworks", &format!("vnet-soak-{i}"));
            let sub = format!("{vnet}/subnets/snet-corp");
            if !foreign.contains(&sub) && h.emu.admin.resource(&vnet).is_some_and(|v| v["properties"]["provisioningState"] == "Succeeded") {
                let body = json!({"properties": {"addressPrefix": format!("10.{}.200.0/24", 40 + i)}});
                if h.emu.admin.put_resource(&sub, body, Some("Succeeded")).is_ok() {
                    foreign.insert(sub);
                }
            }
        }
        if killed < kills && tokio::time::Instant::now() >= next_kill {
            h.kill_moat().await;
            h.start_moat();
            killed += 1;
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            next_kill = tokio::time::Instant::now() + Duration::from_millis(2_000 + (seed >> 33) % 9_000);
        }
        let ws = sws.list(&Default::default()).await.expect("list").items;
        let cs = csn.list(&Default::default()).await.expect("list").items;
        let mut waiting: Vec<String> = Vec::new();
        for w in ws.iter().filter(|w| w.metadata.name.as_deref() != Some("ws-typo")) {
            if !ready(w, w.status.as_ref().map(|s| s.conditions.as_slice())) {
                let c = w.status.as_ref().and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready")).map(|c| format!("{}: {}", c.reason, c.message));
                waiting.push(format!("SecureWorkspace {}: {}", w.metadata.name.as_deref().unwrap_or("?"), c.unwrap_or_default()));
            }
        }
        for c in &cs {
            if !ready(c, c.status.as_ref().map(|s| s.conditions.as_slice())) {
                let r = c.status.as_ref().and_then(|s| s.conditions.iter().find(|x| x.type_ == "Ready")).map(|x| format!("{}: {}", x.reason, x.message));
                waiting.push(format!("ComputeSubnet {}: {}", c.metadata.name.as_deref().unwrap_or("?"), r.unwrap_or_default()));
            }
        }
        if !waiting.is_empty() && tokio::time::Instant::now() + Duration::from_secs(1) >= deadline {
            for b in h.api::<PrivateEndpointBinding>().list(&Default::default()).await.expect("list").items {
                let st = b.status.clone().unwrap_or_default();
                if !ready(&b, Some(st.conditions.as_slice())) {
                    let conds: Vec<String> = st.conditions.iter().filter(|c| c.status != "True").map(|c| format!("{} {}: {}", c.type_, c.reason, c.message)).collect();
                    waiting.push(format!("PrivateEndpointBinding {}: {}; ips {:?}", b.metadata.name.as_deref().unwrap_or("?"), conds.join(" | "), st.private_ips));
                }
            }
        }
        if waiting.is_empty() && ws.len() == n + 1 && cs.len() == n && killed >= kills {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "not all Ready within the deadline under faults ({killed} kills):\n{}\nmoat log: {}", waiting.join("\n"), h.log.display());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let converged_in = started.elapsed();

    // Nothing Failed, nothing twice, nothing missing.
    let resources = h.all_resources();
    let failed: Vec<String> = resources
        .iter()
        .filter(|r| r["resource"]["properties"]["provisioningState"].as_str().is_some_and(|s| s.eq_ignore_ascii_case("Failed")))
        .filter_map(|r| r["id"].as_str().map(str::to_string))
        .collect();
    assert!(failed.is_empty(), "resources left Failed: {failed:#?}");
    let lost: Vec<&String> = foreign.iter().filter(|f| h.emu.admin.resource(f).is_none()).collect();
    assert!(lost.is_empty(), "foreign items lost: {lost:#?}\nmoat log: {}", h.log.display());
    let mut per_type: BTreeMap<String, usize> = BTreeMap::new();
    for r in &resources {
        *per_type.entry(r["resource"]["type"].as_str().unwrap_or("?").to_string()).or_default() += 1;
    }
    let expect = |t: &str, want: usize| {
        let got = per_type.get(t).copied().unwrap_or(0);
        assert_eq!(got, want, "{t}: {per_type:#?}");
    };
    expect("Microsoft.MachineLearningServices/workspaces", n);
    expect("Microsoft.Storage/storageAccounts", n);
    expect("Microsoft.KeyVault/vaults", n);
    expect("Microsoft.ContainerRegistry/registries", n);
    expect("Microsoft.Network/networkSecurityGroups", n);
    expect("Microsoft.Network/routeTables", n);
    expect("Microsoft.Network/virtualNetworks", n + 1);
    expect("Microsoft.Network/virtualNetworks/subnets", 2 * n + foreign.iter().filter(|f| f.contains("/subnets/")).count());
    let endpoints = per_type.get("Microsoft.Network/privateEndpoints").copied().unwrap_or(0);
    assert_eq!(endpoints % n, 0, "the same endpoints for every workspace: {per_type:#?}");
    assert!(
        h.emu.admin.resource(&blob_zone).is_some_and(|z| !z["tags"].as_object().is_some_and(|t| t.keys().any(|k| k.starts_with("moat.dev")))),
        "the foreign zone is shared, never tagged as moat's"
    );

    // Writes: one per resource, plus what the faults and crashes forced.
    let log = h.emu.admin.requests(None);
    let writes: Vec<&moat::emulator::LogEntry> = log.entries.iter().filter(|e| matches!(e.method.as_str(), "PUT" | "PATCH" | "DELETE")).collect();
    let distinct: BTreeSet<String> = writes.iter().filter(|e| e.status < 300).map(|e| key(e.path.split('?').next().unwrap_or_default())).collect();
    let forced = writes.iter().filter(|e| !e.faults.is_empty() && e.faults.iter().any(|f| f != "delay")).count();
    let typo_writes = writes.iter().filter(|e| e.path.to_ascii_lowercase().contains("/resourcegroups/rg-ml-prdo/")).count();
    let others = writes.len() - typo_writes;
    let bound = (distinct.len() as f64 * 1.1).ceil() as usize + forced + 3 * kills;
    let typo_calls = log.entries.iter().filter(|e| e.path.to_ascii_lowercase().contains("/resourcegroups/rg-ml-prdo/")).count();
    let minutes = started.elapsed().as_secs_f64() / 60.0;
    eprintln!(
        "soak: {n} workspaces + subnets Ready in {:.0} s with {killed} kills; {} requests, {} writes ({} distinct resources written, {forced} writes hit by faults, bound {bound}); typo: {typo_calls} ARM calls in {:.1} min ({:.1}/min)",
        converged_in.as_secs_f64(),
        log.total,
        others,
        distinct.len(),
        minutes,
        typo_calls as f64 / minutes
    );
    assert!(others <= bound, "{others} writes for {} resources ({forced} hit by faults, {kills} kills)", distinct.len());
    // Each restart costs every object one pass at once (the backoff lives in the process), and
    // faults add retries; still one call every ~second at most, where the loop this replaced sent
    // about 7,000 a minute (tests/e2e_faults.rs bounds the steady state without crashes).
    assert!(typo_calls as f64 / minutes <= 90.0, "a persistently failing object costs {:.1} ARM calls a minute", typo_calls as f64 / minutes);
    let typo_now = sws.get("ws-typo").await.expect("get");
    let (reason, message) = typo_now.status.as_ref().and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready")).map(|c| (c.reason.clone(), c.message.clone())).unwrap_or_default();
    assert!(reason == "AzureError" && message.contains("rg-ml-prdo"), "the typo says what fails: {reason}: {message}");

    // Deletion under the same faults: everything of moat's goes, nothing foreign.
    let dp = DeleteParams::default();
    for i in 0..n {
        csn.delete(&format!("training-{i}"), &dp).await.expect("delete");
    }
    for i in 0..n {
        sws.delete(&format!("ws-{i}"), &dp).await.expect("delete");
    }
    sws.delete("ws-typo", &dp).await.expect("delete");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(240 + 20 * n as u64);
    loop {
        let left = sws.list(&Default::default()).await.expect("list").items.len() + csn.list(&Default::default()).await.expect("list").items.len();
        if left == 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{left} objects not deleted under faults\n{}", h.log_tail());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    h.emu.admin.clear_faults();
    let left: Vec<String> = h
        .all_resources()
        .iter()
        .filter_map(|r| r["id"].as_str().map(str::to_string))
        .filter(|i| !foreign.iter().any(|f| f.eq_ignore_ascii_case(i)))
        .filter(|i| !foreign.iter().any(|f| i.to_ascii_lowercase().starts_with(&format!("{}/", f.to_ascii_lowercase()))))
        .collect();
    // What stays: the foreign items, and what moat created that now holds someone else's
    // children (a VNet with their subnet, an NSG with their rule): deleting it would delete them.
    let moat_left: Vec<&String> = left
        .iter()
        .filter(|i| {
            let parent = format!("{}/", i.to_ascii_lowercase());
            !foreign.iter().any(|f| f.to_ascii_lowercase().starts_with(&parent))
        })
        .collect();
    assert!(moat_left.is_empty(), "moat left behind after deletion: {moat_left:#?}");
    let lost: Vec<&String> = foreign.iter().filter(|f| h.emu.admin.resource(f).is_none()).collect();
    assert!(lost.is_empty(), "foreign items lost in deletion: {lost:#?}");
}
