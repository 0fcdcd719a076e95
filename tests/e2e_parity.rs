//! Parity: the live controllers report what `moat validate` reports. Every rule of the catalog,
//! through its breaking manifest of `tests/constraints_table.rs` (shared: `support/constraint_cases.rs`):
//!
//! - rules checked on every reconcile: the manifests are applied to the real apiserver, the facts
//!   of the case are seeded into the ARM emulator, `moat run` reconciles, and every object the
//!   offline catalog flags must carry the same rule id in its `status.findings`;
//! - rules the CRD schema enforces: the apiserver refuses the breaking manifest;
//! - rules that cannot be live say why in the catalog (`constraints::liveness`).

mod support;
#[path = "support/constraint_cases.rs"]
mod constraint_cases;

use std::collections::BTreeSet;
use std::time::Duration;

use constraint_cases::*;
use futures::StreamExt;
use kube::Resource;
use moat::api::{ComputeSubnet, PrivateEndpointBinding, SecureWorkspace};
use moat::constraints::{self, Liveness};
use moat::emulator::EmulatorConfig;
use serde_json::{Value, json};
use support::e2e::Harness;

const LIVE_DEADLINE: Duration = Duration::from_secs(90);

/// The fixture's Azure facts (the `--observed` shape) as ARM resources in the emulator.
fn seed(h: &Harness, observed: &Value) {
    let put = |id: &str, body: Value| h.emu.admin.put_resource(id, body, Some("Succeeded")).unwrap_or_else(|e| panic!("seed {id}: {e}"));
    let map = |key: &str| observed.get(key).and_then(Value::as_object).cloned().unwrap_or_default();
    for (id, v) in map("virtualNetworks") {
        let subnets: Vec<Value> = v["subnets"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| {
                let mut p = json!({});
                for (k, arm) in [("addressPrefix", "addressPrefix"), ("privateEndpointNetworkPolicies", "privateEndpointNetworkPolicies")] {
                    if let Some(x) = s.get(k) {
                        p[arm] = x.clone();
                    }
                }
                if let Some(d) = s.get("delegations").and_then(Value::as_array) {
                    p["delegations"] = json!(d.iter().enumerate().map(|(i, svc)| json!({"name": format!("d{i}"), "properties": {"serviceName": svc}})).collect::<Vec<_>>());
                }
                if let Some(e) = s.get("serviceEndpoints").and_then(Value::as_array) {
                    p["serviceEndpoints"] = json!(e.iter().map(|svc| json!({"service": svc})).collect::<Vec<_>>());
                }
                if let Some(n) = s.get("networkSecurityGroupId") {
                    p["networkSecurityGroup"] = json!({"id": n});
                }
                if let Some(r) = s.get("routeTableId") {
                    p["routeTable"] = json!({"id": r});
                }
                json!({"name": s["name"], "properties": p})
            })
            .collect();
        let mut props = json!({"subnets": subnets});
        if let Some(a) = v.get("addressSpace") {
            props["addressSpace"] = json!({"addressPrefixes": a});
        }
        if let Some(d) = v.get("dnsServers") {
            props["dhcpOptions"] = json!({"dnsServers": d});
        }
        put(&id, json!({"location": v.get("location").cloned().unwrap_or(json!("westeurope")), "properties": props}));
    }
    for (id, v) in map("networkSecurityGroups") {
        let rules: Vec<Value> = v["securityRules"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                let mut p = r.clone();
                let name = p.as_object_mut().and_then(|o| o.remove("name")).unwrap_or(json!("rule"));
                p["sourcePortRange"] = json!("*");
                json!({"name": name, "properties": p})
            })
            .collect();
        put(&id, json!({"location": "westeurope", "properties": {"securityRules": rules}}));
    }
    for (id, v) in map("routeTables") {
        let routes: Vec<Value> = v["routes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                let mut p = r.clone();
                let name = p.as_object_mut().and_then(|o| o.remove("name")).unwrap_or(json!("route"));
                json!({"name": name, "properties": p})
            })
            .collect();
        put(&id, json!({"location": "westeurope", "properties": {"routes": routes}}));
    }
    for (id, v) in map("containerRegistries") {
        put(&id, json!({"location": v.get("location").cloned().unwrap_or(json!("westeurope")), "sku": {"name": v.get("sku").cloned().unwrap_or(json!("Premium"))}, "properties": {}}));
    }
    for (id, v) in map("storageAccounts") {
        put(&id, json!({"location": v.get("location").cloned().unwrap_or(json!("westeurope")), "kind": "StorageV2", "sku": {"name": "Standard_LRS"}, "properties": {}}));
    }
    for (id, v) in map("keyVaults") {
        put(&id, json!({"location": v.get("location").cloned().unwrap_or(json!("westeurope")), "properties": {"tenantId": support::e2e::TENANT, "sku": {"family": "A", "name": "standard"}}}));
    }
}

/// Rule ids a live object reports, by (kind, name).
async fn live_findings(h: &Harness, kind: &str, name: &str) -> Option<(bool, BTreeSet<String>)> {
    fn of<K: Resource>(o: &K, conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition], findings: Vec<String>) -> (bool, BTreeSet<String>) {
        let current = conditions.iter().any(|c| c.type_ == "ConstraintsSatisfied" && c.observed_generation == o.meta().generation);
        (current, findings.into_iter().collect())
    }
    match kind {
        "SecureWorkspace" => h.api::<SecureWorkspace>().get_opt(name).await.ok().flatten().map(|o| {
            let st = o.status.clone().unwrap_or_default();
            of(&o, &st.conditions, st.findings.iter().map(|f| f.id.clone()).collect())
        }),
        "ComputeSubnet" => h.api::<ComputeSubnet>().get_opt(name).await.ok().flatten().map(|o| {
            let st = o.status.clone().unwrap_or_default();
            of(&o, &st.conditions, st.findings.iter().map(|f| f.id.clone()).collect())
        }),
        _ => h.api::<PrivateEndpointBinding>().get_opt(name).await.ok().flatten().map(|o| {
            let st = o.status.clone().unwrap_or_default();
            of(&o, &st.conditions, st.findings.iter().map(|f| f.id.clone()).collect())
        }),
    }
}

fn objects(fx: &Fx, ns: &str) -> Vec<Value> {
    let mut all = vec![fx.ws.clone()];
    all.extend(fx.subnets.iter().cloned());
    all.extend(fx.pebs.iter().cloned());
    for o in &mut all {
        o["metadata"]["namespace"] = json!(ns);
    }
    all
}

/// One case live: `Ok(summary)` or `Err(why parity fails)`.
async fn live_case(case: &Case) -> Result<String, String> {
    let rule = constraints::rule(case.id).ok_or_else(|| format!("{} is not in the catalog", case.id))?;
    let mut fx = base();
    (case.bad)(&mut fx);
    let offline: BTreeSet<(String, String)> = evaluate(&fx).into_iter().filter(|f| f.rule_id == case.id).map(|f| (f.object.kind, f.object.name)).collect();
    if offline.is_empty() {
        return Err(format!("{}: the breaking manifest gives no finding offline", case.id));
    }
    let prefix = format!("parity-{}", case.id.to_ascii_lowercase());
    let mut h = Harness::new(&prefix, EmulatorConfig::for_tests()).await;
    // Cases reach into another subscription (NET-003, WS-003): the namespace may use both, so the
    // catalog, not the tenancy policy, is what refuses them.
    support::tenancy::apply_policy(h.env, &format!("{prefix}-other"), json!({"namespaces": {"names": [h.ns]}, "scopes": [format!("/subscriptions/{OTHER_SUB}")], "identity": {"allowOperatorIdentity": true}})).await;
    match constraints::liveness(rule) {
        Liveness::Offline(why) => return Ok(format!("{}: offline only ({why})", case.id)),
        Liveness::Admission => {
            let mut refused = Vec::new();
            for o in objects(&fx, &h.ns) {
                if let Err(e) = h.try_apply(&o).await {
                    refused.push(e);
                }
            }
            return if refused.is_empty() {
                Err(format!("{}: the apiserver accepted every object of the breaking manifest", case.id))
            } else {
                Ok(format!("{}: refused at admission ({})", case.id, refused.join(" ").lines().next().unwrap_or_default()))
            };
        }
        Liveness::Reconcile => {}
    }
    seed(&h, &fx.observed);
    for o in objects(&fx, &h.ns) {
        h.try_apply(&o).await.map_err(|e| format!("{}: the apiserver refused an object the offline catalog evaluates: {e}", case.id))?;
    }
    h.start_moat();
    let deadline = tokio::time::Instant::now() + LIVE_DEADLINE;
    let mut missing: Vec<String>;
    loop {
        missing = Vec::new();
        for (kind, name) in &offline {
            match live_findings(&h, kind, name).await {
                Some((_, ids)) if ids.contains(case.id) => {}
                Some((current, ids)) => missing.push(format!("{kind} {name} reports {ids:?}{}", if current { "" } else { " (not current yet)" })),
                None => missing.push(format!("{kind} {name} is absent")),
            }
        }
        if missing.is_empty() || tokio::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    if missing.is_empty() {
        Ok(format!("{}: live on {}", case.id, offline.iter().map(|(k, n)| format!("{k} {n}")).collect::<Vec<_>>().join(", ")))
    } else {
        Err(format!("{}: offline on {:?}, live missing: {}\nmoat log:\n{}", case.id, offline, missing.join("; "), h.log_tail()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rule_is_reported_live_as_moat_validate_reports_it() {
    let cases = cases();
    let covered: BTreeSet<&str> = cases.iter().map(|c| c.id).collect();
    // SCHEMA-001 and SCHEMA-002 need raw YAML (a wrong enum, an unknown field): the apiserver's
    // schema refuses those before any object exists, as `api_admission` shows.
    let uncovered: Vec<&str> = constraints::CATALOG.iter().map(|r| r.id).filter(|id| !covered.contains(id) && !["SCHEMA-001", "SCHEMA-002"].contains(id)).collect();
    assert!(uncovered.is_empty(), "rules without a case: {uncovered:?}");
    let started = std::time::Instant::now();
    let results: Vec<Result<String, String>> = futures::stream::iter(cases.iter()).map(live_case).buffer_unordered(6).collect().await;
    let (ok, failed): (Vec<_>, Vec<_>) = results.into_iter().partition(Result::is_ok);
    eprintln!("parity: {} rules in {:.0} s", ok.len() + failed.len(), started.elapsed().as_secs_f64());
    for r in &ok {
        eprintln!("  {}", r.as_ref().map(String::as_str).unwrap_or_default());
    }
    let failed: Vec<String> = failed.into_iter().filter_map(Result::err).collect();
    assert!(failed.is_empty(), "{} rule(s) without parity:\n{}", failed.len(), failed.join("\n\n"));
}
