//! Operating moat, end to end (the real apiserver, the ARM emulator, `moat run` as a process),
//! on one converge of the samples:
//!
//! 1. Argo CD's verdict (the shipped Lua health check) on the objects moat produced: Healthy;
//! 2. `/metrics` (over HTTPS, with a bearer token) counts exactly the ARM requests the emulator
//!    logged, by method, resource type and status, and no operation is left in flight;
//! 3. `moat plan --kubeconfig` on the converged samples plans no write (offline, without the
//!    objects' UIDs, it would);
//! 4. a ComputeSubnet with an Error finding: Argo CD shows it Degraded with the reason, and the
//!    findings gauge counts the rule;
//! 5. `moat graph` draws the namespace from the cluster.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use kube::Resource;
use moat::api::{ComputeSubnet, PrivateEndpointBinding, SecureWorkspace, Severity};
use moat::emulator::EmulatorConfig;
use serde_json::{Value, json};
use support::argo::argo_health;
use support::e2e::{Harness, SUB, TENANT, condition_true, sample};

const CONVERGE: Duration = Duration::from_secs(180);
const SAMPLES: [&str; 4] = ["secureworkspace.yaml", "computesubnet-training.yaml", "computesubnet-inference.yaml", "privateendpointbinding.yaml"];

fn ready<K: Resource>(o: &K, conditions: Option<&[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition]>) -> bool {
    conditions.is_some_and(|c| condition_true(c, o.meta().generation, "Ready"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// `moat run` serves /metrics over HTTPS with a bearer token here (the test CA of
/// tests/fixtures/tls); the token file is `token`.
fn tls_flags(token: &std::path::Path) -> Vec<String> {
    let fixture = |f: &str| format!("{}/tests/fixtures/tls/{f}", env!("CARGO_MANIFEST_DIR"));
    ["--metrics-tls-cert", &fixture("server.pem"), "--metrics-tls-key", &fixture("server.key"), "--metrics-token-file", token.to_str().expect("utf-8")]
        .map(String::from)
        .to_vec()
}

async fn scrape(port: u16) -> String {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls/ca.pem")).expect("ca")).expect("CA");
    let client = reqwest::Client::builder().tls_certs_only([ca]).build().expect("client");
    let url = format!("https://localhost:{port}/metrics");
    let refused = client.get(&url).send().await.expect("GET /metrics").status();
    assert_eq!(refused.as_u16(), 401, "/metrics without the token");
    client.get(&url).bearer_auth(TOKEN).send().await.expect("GET /metrics").text().await.expect("metrics body")
}

const TOKEN: &str = "scrape-token";

/// `name{labels} value` lines of one metric, by their label text.
fn series(text: &str, name: &str) -> BTreeMap<String, f64> {
    let re = regex::Regex::new(&format!(r"^{name}\{{([^}}]*)\}} (\S+)$")).expect("regex");
    text.lines().filter_map(|l| re.captures(l)).map(|c| (c[1].to_string(), c[2].parse().unwrap_or(f64::NAN))).collect()
}

/// The ARM requests the emulator logged, keyed as moat labels them.
fn logged_requests(h: &Harness) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for e in h.emu.admin.requests(None).entries {
        let key = format!(r#"method="{}",resource_type="{}",status="{}""#, e.method, moat::runtime::arm_resource_type(&e.path), e.status);
        *out.entry(key).or_default() += 1.0;
    }
    out
}

fn seed_datalake(h: &Harness) {
    let id = format!("/subscriptions/{SUB}/resourceGroups/rg-data/providers/Microsoft.Storage/storageAccounts/stdatalake01");
    h.emu
        .admin
        .put_resource(&id, json!({"location": "westeurope", "kind": "StorageV2", "sku": {"name": "Standard_LRS"}, "properties": {}}), Some("Succeeded"))
        .expect("seed storage");
}

/// `moat plan -o json` of the samples (moved to the test's namespace).
async fn plan(h: &Harness, live: bool) -> Vec<Value> {
    let file = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("ops-plan-{}.yaml", h.ns));
    let docs: Vec<String> = SAMPLES.iter().map(|f| serde_saphyr::to_string(&sample(f, &h.ns)).expect("yaml")).collect();
    std::fs::write(&file, docs.join("---\n")).expect("write the manifests");
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_moat"));
    cmd.args(["plan", "-o", "json", "-f", file.to_str().expect("utf-8"), "--arm-endpoint", &h.emu.base_url, "--arm-token", &h.arm_token, "--tenant-id", TENANT]);
    cmd.arg("--arm-ca-file").arg(&h.ca_file);
    if live {
        cmd.args(["--kubeconfig", h.env.kubeconfig.to_str().expect("utf-8")]);
    }
    let out = cmd.output().await.expect("run moat plan");
    assert!(out.status.success(), "moat plan: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON steps")
}

fn writes(steps: &[Value]) -> Vec<String> {
    steps
        .iter()
        .filter(|s| s["action"].as_str().is_some_and(|a| a.starts_with("CREATE") || a.starts_with("UPDATE") || a.starts_with("DELETE")))
        .map(|s| format!("{} {} {}: {}", s["action"], s["kind"], s["id"], s["reason"]))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_converged_design_is_healthy_counted_and_plans_no_write() {
    let mut h = Harness::new("ops", EmulatorConfig::for_tests()).await;
    let port = free_port();
    h.metrics_addr = format!("127.0.0.1:{port}");
    let token = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("ops-token-{}", std::process::id()));
    std::fs::write(&token, TOKEN).expect("token file");
    h.extra_args = tls_flags(&token);
    // Quiet once converged: no resync during the checks (watch events still reconcile).
    h.resync_seconds = 3600;
    seed_datalake(&h);
    h.start_moat();
    for f in SAMPLES {
        h.apply(&sample(f, &h.ns)).await;
    }
    h.wait_for::<SecureWorkspace>("ml-prod", CONVERGE, "Ready", |o| ready(o, o.status.as_ref().map(|s| s.conditions.as_slice()))).await;
    for csn in ["training", "inference"] {
        h.wait_for::<ComputeSubnet>(csn, CONVERGE, "Ready", |o| ready(o, o.status.as_ref().map(|s| s.conditions.as_slice()))).await;
    }
    h.wait_for::<PrivateEndpointBinding>("datalake-dfs", CONVERGE, "Ready", |o| ready(o, o.status.as_ref().map(|s| s.conditions.as_slice()))).await;

    // 1. Argo CD: every object moat converged is Healthy, the workspace's own bindings too.
    let mut objects: Vec<(String, Value)> = Vec::new();
    objects.push(("sws/ml-prod".into(), serde_json::to_value(h.api::<SecureWorkspace>().get("ml-prod").await.expect("get")).expect("json")));
    for c in ["training", "inference"] {
        objects.push((format!("csn/{c}"), serde_json::to_value(h.api::<ComputeSubnet>().get(c).await.expect("get")).expect("json")));
    }
    let pebs = h.api::<PrivateEndpointBinding>().list(&Default::default()).await.expect("list");
    assert_eq!(pebs.items.len(), 6, "five workspace endpoints and the data lake's");
    for p in pebs.items {
        objects.push((format!("peb/{}", p.metadata.name.clone().unwrap_or_default()), serde_json::to_value(p).expect("json")));
    }
    for (name, obj) in &objects {
        let (status, message) = argo_health(obj);
        assert_eq!(status, "Healthy", "{name}: {message}");
    }

    // 2. /metrics counts what the emulator saw. Both settle once the last reconcile is done.
    let settled = support::eventually(Duration::from_secs(60), || async {
        let text = scrape(port).await;
        let counted = series(&text, "moat_arm_requests_total");
        let logged = logged_requests(&h);
        if counted == logged { Ok(text) } else { Err(format!("moat counted {counted:#?}\nthe emulator logged {logged:#?}")) }
    })
    .await;
    let text = settled.unwrap_or_else(|e| panic!("ARM request counts never matched the emulator's log:\n{e}\nmoat log:\n{}", h.log_tail()));
    let counted = series(&text, "moat_arm_requests_total");
    let total: f64 = counted.values().sum();
    assert_eq!(total as usize, h.emu.admin.requests(None).total, "{counted:#?}");
    assert!(counted.keys().any(|k| k.starts_with(r#"method="PUT""#)) && counted.keys().any(|k| k.contains("Microsoft.Network/locations/operations")), "writes and LRO polls counted: {counted:#?}");
    let durations = series(&text, "moat_arm_request_duration_seconds_count");
    assert_eq!(durations.values().sum::<f64>(), total, "one duration per request");
    // The observe passes' reads, by outcome: each one sent, joined or reused is counted, and
    // the ones sent are requests the emulator logged.
    let observe_reads = series(&text, "moat_arm_observe_reads_total");
    let sent: f64 = observe_reads.iter().filter(|(k, _)| k.contains(r#"outcome="sent""#)).map(|(_, v)| v).sum();
    assert!(sent > 0.0 && sent < total, "observe reads sent: {observe_reads:#?}");
    // Operations ran (the emulator answers writes with 201 + polling) and none is left.
    let operations = series(&text, "moat_arm_operations_in_flight");
    assert!(!operations.is_empty(), "operations were counted");
    assert!(operations.values().all(|v| *v == 0.0), "operations left in flight: {operations:#?}");
    for kind in ["SecureWorkspace", "ComputeSubnet", "PrivateEndpointBinding"] {
        let k = format!(r#"kind="{kind}""#);
        assert_eq!(series(&text, "moat_reconciles_in_flight").get(&k), Some(&0.0), "{kind} at rest");
        assert_eq!(series(&text, "moat_reconcile_queue_depth").get(&k), Some(&0.0), "{kind} at rest");
        assert_eq!(series(&text, "moat_reconcile_longest_running_seconds").get(&k), Some(&0.0), "{kind}: no reconcile left running");
        assert!(series(&text, "moat_reconcile_total").get(&format!(r#"{k},result="success""#)).is_some_and(|v| *v >= 1.0), "{kind} reconciled");
    }

    // 3. Planning the converged samples with the live objects' UIDs writes nothing; from the
    //    files alone the owner-uid tags differ.
    let live = plan(&h, true).await;
    assert!(writes(&live).is_empty(), "a converged design plans writes:\n{}", writes(&live).join("\n"));
    assert!(live.is_empty(), "nothing at all to do: {live:#?}");
    let offline = plan(&h, false).await;
    assert!(writes(&offline).iter().any(|w| w.contains("moat.dev_owner-uid")), "offline, the owner-uid tags show as drift: {offline:#?}");

    // 4. An Error finding: Degraded in Argo CD, counted by rule in the findings gauge.
    //    An inference subnet (one NSG rule, no routes) outside the VNet's 10.20.0.0/16.
    let mut bad = sample("computesubnet-inference.yaml", &h.ns);
    bad["metadata"]["name"] = json!("outside");
    bad["spec"]["name"] = json!("snet-outside");
    bad["spec"]["addressPrefix"] = json!("10.99.8.0/22");
    h.apply(&bad).await;
    h.wait_for::<ComputeSubnet>("outside", CONVERGE, "reporting its Error finding", |c| {
        c.status.as_ref().is_some_and(|s| s.findings.iter().any(|f| f.severity == Severity::Error) && s.conditions.iter().any(|x| x.type_ == "Ready" && x.status == "False"))
    })
    .await;
    let outside = h.api::<ComputeSubnet>().get("outside").await.expect("get");
    let rule = outside.status.as_ref().and_then(|s| s.findings.iter().find(|f| f.severity == Severity::Error)).map(|f| f.id.clone()).expect("rule");
    let (status, message) = argo_health(&serde_json::to_value(&outside).expect("json"));
    assert_eq!(status, "Degraded", "{message}");
    assert!(message.starts_with("ConstraintViolation") && message.contains(&rule), "the reason and the rule: {message}");
    let want = format!(r#"kind="ComputeSubnet",rule="{rule}",severity="Error""#);
    let gauge = support::eventually(Duration::from_secs(30), || async {
        match series(&scrape(port).await, "moat_constraint_findings").get(&want) {
            Some(v) if *v == 1.0 => Ok(()),
            other => Err(format!("{want} = {other:?}")),
        }
    })
    .await;
    gauge.unwrap_or_else(|e| panic!("the findings gauge: {e}\nmoat log:\n{}", h.log_tail()));

    // 5. `moat graph` draws the namespace's objects from the cluster, the new subnet included.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_moat"))
        .args(["graph", "--format", "dot", "-n", &h.ns, "--kubeconfig", h.env.kubeconfig.to_str().expect("utf-8")])
        .output()
        .await
        .expect("run moat graph");
    assert!(out.status.success(), "moat graph: {}", String::from_utf8_lossy(&out.stderr));
    let dot = String::from_utf8_lossy(&out.stdout);
    for label in ["VNet vnet-ml-prod", "Subnet snet-training\\n10.20.4.0/25", "Subnet snet-outside\\n10.99.8.0/22", "Private endpoint datalake-dfs"] {
        assert!(dot.contains(label), "{label} in\n{dot}");
    }
    assert_eq!(dot.matches("label=\"Private endpoint ").count(), 6, "each endpoint drawn once, the workspace's own bindings with it");
}

/// Pause and hand-off: `moat.dev/paused: "true"` stops every Azure call for one object (a spec
/// change, and its deletion, wait), Ready says `Paused`, Argo CD shows it Suspended; removing
/// the annotation resumes where it left off (here: the deletion).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_object_makes_no_azure_call_until_resumed() {
    let mut h = Harness::new("e2e-pause", EmulatorConfig::for_tests()).await;
    h.start_moat();
    h.apply(&sample("secureworkspace.yaml", &h.ns)).await;
    h.apply(&sample("computesubnet-training.yaml", &h.ns)).await;
    h.wait_for::<ComputeSubnet>("training", CONVERGE, "Ready", |o: &ComputeSubnet| ready(o, o.status.as_ref().map(|s| s.conditions.as_slice()))).await;
    h.wait_for::<SecureWorkspace>("ml-prod", CONVERGE, "Ready", |o: &SecureWorkspace| ready(o, o.status.as_ref().map(|s| s.conditions.as_slice()))).await;
    let nsg = format!("/subscriptions/{SUB}/resourceGroups/rg-ml-prod/providers/Microsoft.Network/networkSecurityGroups/nsg-training").to_ascii_lowercase();
    let paused = |o: &ComputeSubnet| {
        o.status.as_ref().is_some_and(|s| s.conditions.iter().any(|c| c.type_ == "Ready" && c.reason == "Paused" && c.status == "False" && c.observed_generation == o.meta().generation))
    };
    h.api::<ComputeSubnet>()
        .patch("training", &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&json!({"metadata": {"annotations": {"moat.dev/paused": "true"}}})))
        .await
        .expect("annotate");
    h.wait_for::<ComputeSubnet>("training", Duration::from_secs(30), "Paused", paused).await;
    let obj = h.api::<ComputeSubnet>().get("training").await.expect("get");
    let (health, message) = argo_health(&serde_json::to_value(&obj).expect("json"));
    assert_eq!(health, "Suspended", "Argo CD shows a paused object as Suspended: {message}");

    // A spec change while paused: Ready says Paused at the new generation, and nothing is sent.
    let since = h.last_seq();
    h.merge_patch::<ComputeSubnet>("training", json!({"spec": {"outbound": {"extraRules": [{"name": "artifacts", "destination": "10.30.0.5", "ports": ["443"]}]}}})).await;
    h.wait_for::<ComputeSubnet>("training", Duration::from_secs(30), "Paused at the new generation", paused).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let touched: Vec<String> = h.emu.admin.requests(Some(since)).entries.iter().filter(|e| e.path.to_ascii_lowercase().contains(&nsg)).map(|e| format!("{} {}", e.method, e.path)).collect();
    assert!(touched.is_empty(), "a paused object makes no Azure call: {touched:#?}");

    // Deletion waits while paused (nothing deleted in Azure), and resumes with the annotation gone.
    h.api::<ComputeSubnet>().delete("training", &kube::api::DeleteParams::default()).await.expect("delete");
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(h.api::<ComputeSubnet>().get_opt("training").await.expect("get").is_some(), "a paused object's deletion waits");
    let written: Vec<String> = h.writes_since(since).iter().map(|w| format!("{} {}", w.method, w.path)).collect();
    assert!(written.is_empty(), "nothing written or deleted in Azure while paused: {written:#?}");
    let msg = h.api::<ComputeSubnet>().get("training").await.expect("get").status.and_then(|s| s.conditions.into_iter().find(|c| c.type_ == "Ready")).map(|c| c.message).unwrap_or_default();
    assert!(msg.contains("deletion waits"), "Ready says the deletion waits: {msg}");
    h.api::<ComputeSubnet>()
        .patch("training", &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&json!({"metadata": {"annotations": {"moat.dev/paused": null}}})))
        .await
        .expect("resume");
    h.wait_gone::<ComputeSubnet>("training", CONVERGE).await;
    assert!(h.emu.admin.resource(&nsg).is_none(), "resumed, the deletion removed the NSG moat created");
}
