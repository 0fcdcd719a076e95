//! ARM economy, counted (not timed): the samples converge, then idle for whole resync periods,
//! and the emulator's log says what each managed resource cost. The benchmark
//! (`cargo bench --bench converge`) prints the same figures for a release build and at scale.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use kube::{Resource, ResourceExt};
use moat::api::{ComputeSubnet, PrivateEndpointBinding, SecureWorkspace};
use moat::emulator::EmulatorConfig;
use support::e2e::{Harness, condition_true, sample};

const CONVERGE: Duration = Duration::from_secs(180);
/// Every fourth resync of a converged object reads everything (`--full-read-every`).
const FULL_EVERY: u64 = 4;

fn ready_sws(o: &SecureWorkspace) -> bool {
    o.status.as_ref().is_some_and(|s| condition_true(&s.conditions, o.meta().generation, "Ready"))
}
fn ready_csn(o: &ComputeSubnet) -> bool {
    o.status.as_ref().is_some_and(|s| condition_true(&s.conditions, o.meta().generation, "Ready"))
}

/// The request's path without the query, provider-relative.
fn short(p: &str) -> String {
    let p = p.split('?').next().unwrap_or(p);
    match p.find("/providers/") {
        Some(i) => p[i + 11..].to_string(),
        None => p.to_string(),
    }
}

/// Lower-cased ids of every Azure resource the objects' statuses record.
async fn managed(h: &Harness) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    let ws = h.api::<SecureWorkspace>().get("ml-prod").await.expect("get");
    ids.extend(ws.status.iter().flat_map(|s| s.resources.iter().map(|r| r.id.to_ascii_lowercase())));
    for c in ["training", "inference"] {
        let o = h.api::<ComputeSubnet>().get(c).await.expect("get");
        ids.extend(o.status.iter().flat_map(|s| s.resources.iter().map(|r| r.id.to_ascii_lowercase())));
    }
    for b in h.api::<PrivateEndpointBinding>().list(&Default::default()).await.expect("list").items {
        ids.extend(b.status.iter().flat_map(|s| s.resources.iter().map(|r| r.id.to_ascii_lowercase())));
        assert!(b.status.as_ref().is_some_and(|s| s.operations.is_empty()), "{}: no operation left recorded once Ready", b.name_any());
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_converge_costs_few_requests_and_a_resync_asks_the_activity_log_what_changed() {
    let mut h = Harness::new("arm-economy", EmulatorConfig::for_tests()).await;
    // Long enough that the objects of the workspace, resyncing together, fit in one shared read.
    h.resync_seconds = 12;
    h.extra_args = vec!["--full-read-every".into(), FULL_EVERY.to_string()];
    h.serve_metrics();
    h.start_moat();
    let s0 = h.last_seq();
    for f in ["secureworkspace.yaml", "computesubnet-training.yaml", "computesubnet-inference.yaml"] {
        h.apply(&sample(f, &h.ns)).await;
    }
    h.wait_for::<SecureWorkspace>("ml-prod", CONVERGE, "Ready", ready_sws).await;
    for c in ["training", "inference"] {
        h.wait_for::<ComputeSubnet>(c, CONVERGE, "Ready", ready_csn).await;
    }
    let log = h.emu.admin.requests(Some(s0)).entries;
    let ids = managed(&h).await;
    let n = ids.len() as f64;
    let writes = log.iter().filter(|e| e.method != "GET").count();
    let per_resource = log.len() as f64 / n;
    println!("converge: {} ARM requests ({writes} writes) for {} managed resources = {per_resource:.2} per resource", log.len(), ids.len());
    assert!(ids.len() >= 50, "the samples manage about 53 Azure resources: {ids:?}");
    // Was 6.3 (every object read everything on every pass, the VNet twice per compute subnet),
    // then 4.6 (shared reads); about 3.0 since children of absent parents go unread, zones and
    // links are created create-only, bodies nothing reads get no final GET and dependents are
    // not woken for a readiness they already saw. The two polls per operation of this emulator
    // are 61 of the requests. The endpoints' record sets are read one by one since (9 GETs where 6
    // zone lists were: a list grows with every workspace that shares the zone), 3.1–3.2 in this
    // debug build; one more observe pass of the workspace, as timing allows, is 5 more requests.
    assert!(per_resource <= 3.4, "{per_resource:.2} ARM requests per managed resource to converge");

    // Steady state. A resync of a converged object asks the Activity Log of its resource groups
    // what changed and reads nothing else when nothing it reads did; every fourth one (here)
    // reads everything. The resync after the converge still reads everything (the converge's own
    // writes are in the log): wait until the workspace, converged last, had a quiet one.
    let quiet = |kind: &'static str| [("kind", kind), ("outcome", "quiet")];
    let deadline = std::time::Instant::now() + Duration::from_secs(h.resync_seconds * 6);
    while h.metric("moat_resync_checks_total", &quiet("SecureWorkspace")).await < 1.0 {
        assert!(std::time::Instant::now() < deadline, "no quiet resync of the workspace\n{}", h.log_tail());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // A window of FULL_EVERY periods: each object reads everything once in it, and asks the log
    // at the other resyncs.
    let periods = FULL_EVERY;
    let s1 = h.last_seq();
    tokio::time::sleep(Duration::from_secs(h.resync_seconds * periods)).await;
    let steady = h.emu.admin.requests(Some(s1)).entries;
    let writes: Vec<String> = steady.iter().filter(|e| e.method != "GET").map(|e| format!("{} {}", e.method, short(&e.path))).collect();
    assert!(writes.is_empty(), "writes at steady state: {writes:?}");
    let mut by_path: BTreeMap<String, usize> = BTreeMap::new();
    for e in &steady {
        *by_path.entry(short(&e.path)).or_default() += 1;
    }
    let log_queries = steady.iter().filter(|e| e.path.to_ascii_lowercase().contains("/eventtypes/management/values")).count();
    let per_resync = steady.len() as f64 / n / periods as f64;
    println!(
        "steady state over {periods} resync periods: {} GETs ({log_queries} Activity Log queries) = {per_resync:.2} per managed resource per resync",
        steady.len()
    );
    for (p, k) in &by_path {
        println!("  {k:>3} {p}");
    }
    let polls: Vec<&String> = by_path.keys().filter(|p| p.contains("/operations/")).collect();
    assert!(polls.is_empty(), "operations polled at steady state (left recorded): {polls:?}");
    assert!(log_queries > 0, "the resyncs asked the Activity Log: {by_path:?}");
    // Every resource is still read in the window (the backstop), at most twice (a backstop pass
    // of one object and of another that reads it at another resync).
    let vnet = by_path.iter().find(|(p, _)| p.ends_with("virtualNetworks/vnet-ml-prod")).map(|(_, k)| *k).unwrap_or(0);
    assert!((1..=3).contains(&vnet), "the VNet read {vnet} times in {periods} resyncs: {by_path:?}");
    // Was 0.96, then 0.70 (one read per resource per resync).
    assert!(per_resync <= 0.3, "{per_resync:.2} GETs per managed resource per resync");

    // Drift seen through the log: a rule moat owns, deleted in the portal, is back at the next
    // resync, which read everything because the log showed the deletion. The rule goes just after
    // a backstop pass, so that the next resyncs are not backstops (one in FULL_EVERY is).
    let training = h.api::<ComputeSubnet>().get("training").await.expect("get");
    let rule = training.status.iter().flat_map(|s| s.resources.iter()).find(|r| r.kind == "SecurityRule" && r.owned).map(|r| r.id.clone()).expect("an owned rule");
    let backstops = || h.metric("moat_resync_checks_total", &[("kind", "ComputeSubnet"), ("outcome", "backstop")]);
    let seen = backstops().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(h.resync_seconds * (FULL_EVERY + 2));
    while backstops().await <= seen {
        assert!(std::time::Instant::now() < deadline, "no backstop pass of the compute subnets\n{}", h.log_tail());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The backstop is counted when its pass starts: the rule goes once those passes have ended
    // (have read the NSG), not while they may still be reading it.
    let reconciles = || h.metric("moat_reconcile_total", &[("kind", "ComputeSubnet")]);
    let (started, ended_before) = (backstops().await - seen, reconciles().await);
    while reconciles().await < ended_before + started {
        assert!(std::time::Instant::now() < deadline, "the backstop passes did not end\n{}", h.log_tail());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let before = h.metric("moat_resync_checks_total", &[("kind", "ComputeSubnet"), ("outcome", "azure_change")]).await;
    assert!(h.emu.admin.delete_resource(&rule), "{rule} deleted");
    // Back within two resyncs, long before the next backstop (FULL_EVERY resyncs away).
    let deadline = std::time::Instant::now() + Duration::from_secs(h.resync_seconds * 2 + 6);
    while h.emu.admin.resource(&rule).is_none() {
        assert!(std::time::Instant::now() < deadline, "{rule} not restored\n{}", h.log_tail());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let after = h.metric("moat_resync_checks_total", &[("kind", "ComputeSubnet"), ("outcome", "azure_change")]).await;
    assert!(after > before, "the rule came back through a resync the Activity Log triggered ({before} -> {after})");
}

/// How many resyncs of the workspace decided `outcome` (`moat_resync_checks_total`).
async fn ws_checks(h: &Harness, outcome: &str) -> f64 {
    h.metric("moat_resync_checks_total", &[("kind", "SecureWorkspace"), ("outcome", outcome)]).await
}

/// What a SecureWorkspace takes from its bindings' statuses it takes again at every pass, so
/// their status changes wake it without making it read Azure: a workspace waiting for its
/// bindings asks the Activity Log (or, if Azure was seen unchanged within a resync period, nothing)
/// instead of reading its own resources again each time one of them reports progress.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binding_status_change_wakes_its_workspace_without_a_read_of_azure() {
    use kube::api::{Patch, PatchParams};
    use moat::plan::workspace::WORKSPACE_LABEL;

    let mut h = Harness::new("arm-economy-status", EmulatorConfig::for_tests()).await;
    h.resync_seconds = 12;
    // No backstop in this test's time: every full read in it has another cause.
    h.extra_args = vec!["--full-read-every".into(), "1000".into()];
    h.serve_metrics();
    h.start_moat();
    h.apply(&sample("secureworkspace.yaml", &h.ns)).await;
    h.wait_for::<SecureWorkspace>("ml-prod", CONVERGE, "Ready", ready_sws).await;
    // Its last writes are in the log after its baseline: it reads once more, then is quiet.
    let checks = |outcome: &'static str| ws_checks(&h, outcome);
    let deadline = std::time::Instant::now() + Duration::from_secs(h.resync_seconds * 6);
    while checks("quiet").await < 1.0 {
        assert!(std::time::Instant::now() < deadline, "no quiet resync of the workspace\n{}", h.log_tail());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let reads = || async {
        let mut n = 0.0;
        for o in ["unknown", "kubernetes_change", "azure_change", "backstop", "activity_log_error", "log_not_in_scope"] {
            n += checks(o).await;
        }
        n
    };
    let (reads_before, spared_before) = (reads().await, checks("quiet").await + checks("recent").await);
    let s1 = h.last_seq();

    // A binding of the workspace reports its names unresolved (a status change, as moat's
    // bindings make while they converge), then resolved again.
    let bindings = h.api::<PrivateEndpointBinding>();
    let list = bindings.list(&kube::api::ListParams::default().labels(&format!("{WORKSPACE_LABEL}=ml-prod"))).await.expect("list");
    let b = list.items.first().expect("a binding of the workspace").clone();
    let name = b.name_any();
    let original = b.status.as_ref().map(|s| s.conditions.clone()).unwrap_or_default();
    let mut changed = original.clone();
    let dns = changed.iter_mut().find(|c| c.type_ == "DnsReady").expect("DnsReady");
    dns.status = "False".into();
    dns.reason = "InjectedByTest".into();
    dns.message = "injected by the test".into();
    let put = |conditions: Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>| {
        let bindings = bindings.clone();
        let name = name.clone();
        async move {
            let patch = serde_json::json!({"status": {"conditions": conditions}});
            bindings.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch)).await.expect("status patch");
        }
    };
    put(changed).await;
    h.wait_for::<SecureWorkspace>("ml-prod", Duration::from_secs(30), "DnsReady False with the binding's reason", |w| {
        w.status.as_ref().is_some_and(|s| s.conditions.iter().any(|c| c.type_ == "DnsReady" && c.status == "False" && c.message.contains("injected by the test")))
            && !ready_sws(w)
    })
    .await;
    put(original).await;
    h.wait_for::<SecureWorkspace>("ml-prod", Duration::from_secs(30), "Ready again", ready_sws).await;

    // It took both changes without a read of Azure: no verdict that reads, and not one GET of
    // what only the workspace reads (its Application Insights component).
    assert_eq!(reads().await, reads_before, "the workspace read Azure for a binding's status change\n{}", h.log_tail());
    let spared = checks("quiet").await + checks("recent").await;
    assert!(spared >= spared_before + 2.0, "two passes spared their reads ({spared_before} -> {spared})");
    let insights: Vec<String> = h
        .emu
        .admin
        .requests(Some(s1))
        .entries
        .iter()
        .filter(|e| e.method == "GET" && e.path.to_ascii_lowercase().contains("/microsoft.insights/components/"))
        .map(|e| short(&e.path))
        .collect();
    assert!(insights.is_empty(), "the workspace's own resources read again: {insights:?}");
}
