//! What converging costs, measured on the real stack: the Go-built kube-apiserver, the ARM
//! emulator (in process) and `moat run` as a separate process, as in the end-to-end tests.
//!
//! `cargo bench --bench converge` prints three tables:
//!
//! 1. **Writes and reads.** The samples (a SecureWorkspace and two ComputeSubnets) converge from
//!    nothing; ARM writes per Azure resource (target 1.0), per type, and GETs during the
//!    converge; then, at steady state, writes and GETs per resync period (Activity Log queries
//!    and resource reads, over `MOAT_BENCH_FULL_EVERY` periods, default 12: one full read).
//! 2. **Converge time ÷ critical path**, with latency injected into every ARM request and
//!    ARM-like operations (`Retry-After`, polls). The critical path is the longest dependency
//!    chain of the workspace's resources (moat's plan, its owned PrivateEndpointBindings and
//!    theirs), each weighed (a) by the time its own ARM calls took in this run, and (b) by the
//!    least the ARM protocol allows (write + polls + final GET, at the injected latency, plus
//!    the `Retry-After` waits). Target: converge time ≤ 1.2 × critical path.
//! 3. **N SecureWorkspaces at once** (default 100): total time, time to each Ready, peak RSS of
//!    moat (VmHWM), ARM calls (emulator log), and the apiserver requests moat made (from the
//!    apiserver's `apiserver_request_total`, moat's API groups, less the benchmark's own).
//! 4. **Under ARM's limits**: N SecureWorkspaces with the emulator *enforcing* ARM's request
//!    limits (per subscription and principal, Microsoft.Network and Private DNS per region; the
//!    public cloud's regional model or the sovereign clouds' hourly one). Time to all Ready
//!    divided by the **floor** those limits impose on this run's own request counts — the largest
//!    of: reads beyond the burst at 25 s⁻¹ (hourly: 12,000 an hour), writes beyond the burst at
//!    10 s⁻¹ (1,200 an hour), deletes likewise, Microsoft.Network's 10,000 GET / 1,000 PUT+DELETE
//!    and Private DNS's 500 GET per 5 minutes, and the longest chain of writes to one private DNS
//!    zone (ARM runs one operation at a time per zone; each lasts at least its polls ×
//!    Retry-After) — the 429s ARM answered, ARM and apiserver requests per workspace, peak RSS.
//!    Runs `MOAT_BENCH_LIMITS` (default `regional:10,regional:100,hourly:100`; add
//!    `regional:500` for the large run, which takes hours), with moat pacing itself
//!    (`MOAT_BENCH_PACING=false` to compare without).
//!
//! Everything talks HTTPS: moat trusts the emulator's CA (`--arm-ca-file`) and gets its token from
//! the emulator's managed-identity endpoint (`--credential managed`).
//!
//! Environment: `MOAT_BENCH_WORKSPACES` (default 100), `MOAT_BENCH_LATENCY_MS` (default 100),
//! `MOAT_BENCH_CONCURRENCY` (unset: moat's default), `MOAT_BENCH_ONLY` (`writes`, `path`,
//! `many` or `limits`), `MOAT_BENCH_LIMITS`, `MOAT_BENCH_PACING`, `MOAT_BENCH_DEADLINE_SECS`
//! (section 4, default 8 hours), `MOAT_BENCH_DUMP` (section 4: a file to write every ARM request
//! to, one line each), `MOAT_TEST_WRAPPER` (a command moat runs under, e.g.
//! `heaptrack -o /tmp/moat`: the RSS figures are then the wrapper's). Needs the control plane
//! built by `scripts/testenv-build.sh` (the test harness builds it when missing).

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use kube::api::{ListParams, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use moat::api::{ComputeSubnet, PrivateEndpointBinding, SecureWorkspace};
use moat::controller::dag::critical_path;
use moat::controller::endpoint::zones_for;
use moat::emulator::{EmulatorConfig, LogEntry, ThrottleModel};
use moat::plan::ownership::Owner;
use moat::plan::workspace::{WorkspaceInputs, desired, endpoints};
use serde_json::{Value, json};
use support::e2e::{Harness, TENANT, condition_true, sample};

const DEADLINE: Duration = Duration::from_secs(900);

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn wanted(section: &str) -> bool {
    std::env::var("MOAT_BENCH_ONLY").map(|v| v == section).unwrap_or(true)
}

fn sws_ready(o: &SecureWorkspace) -> bool {
    o.status.as_ref().is_some_and(|s| condition_true(&s.conditions, o.meta().generation, "Ready"))
}

fn csn_ready(o: &ComputeSubnet) -> bool {
    o.status.as_ref().is_some_and(|s| condition_true(&s.conditions, o.meta().generation, "Ready"))
}

fn main() {
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("converge bench: no tokio runtime: {e}");
            std::process::exit(1);
        }
    };
    rt.block_on(async {
        println!("moat converge benchmark (release build of moat, real kube-apiserver, in-process ARM emulator)\n");
        if wanted("writes") {
            writes_and_reads().await;
        }
        if wanted("path") {
            time_against_critical_path().await;
        }
        if wanted("many") {
            many_at_once().await;
        }
        if wanted("limits") {
            under_limits().await;
        }
    });
}

/// A harness with moat started and answering `/readyz`, so start-up is not measured.
async fn started(prefix: &str, cfg: EmulatorConfig) -> Harness {
    started_with(prefix, cfg, 2, 1).await
}

/// Sections 1–3 measure what moat asks ARM for, unconstrained: the emulator does not enforce
/// ARM's limits and moat does not pace (a 2 s resync is far above them). Section 4 enforces
/// the limits, and moat paces itself as in production.
async fn started_with(prefix: &str, cfg: EmulatorConfig, resync_seconds: u64, retry_seconds: u64) -> Harness {
    let cfg_enforced = cfg.enforce_rate_limits;
    let mut h = Harness::new(prefix, cfg).await;
    h.resync_seconds = resync_seconds;
    h.retry_seconds = retry_seconds;
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port");
    h.metrics_addr = format!("127.0.0.1:{port}");
    h.log_filter = std::env::var("MOAT_BENCH_LOG").unwrap_or_else(|_| "info".into());
    if let Ok(c) = std::env::var("MOAT_BENCH_CONCURRENCY") {
        h.extra_args = vec!["--concurrency".into(), c];
    }
    h.extra_args.extend(["--full-read-every".to_string(), env_u64("MOAT_BENCH_FULL_EVERY", 12).to_string()]);
    // Under enforced limits moat paces itself, as in production (MOAT_BENCH_PACING=false: not).
    h.pacing = cfg_enforced && !std::env::var("MOAT_BENCH_PACING").is_ok_and(|v| v == "false");
    h.start_moat();
    let url = format!("http://{}/readyz", h.metrics_addr);
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if http.get(&url).send().await.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        assert!(Instant::now() < deadline, "moat not ready within 60 s\n{}", h.log_tail());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    h
}

/// Polls (every `every`) until `pred` holds for the object; returns when it first did.
async fn until<K>(h: &Harness, name: &str, every: Duration, pred: impl Fn(&K) -> bool) -> Instant
where
    K: Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let api = h.api::<K>();
    let deadline = Instant::now() + DEADLINE;
    loop {
        if api.get_opt(name).await.expect("get").as_ref().is_some_and(&pred) {
            return Instant::now();
        }
        assert!(Instant::now() < deadline, "{name} not Ready within {DEADLINE:?}\n{}", h.log_tail());
        tokio::time::sleep(every).await;
    }
}

fn is_write(e: &LogEntry) -> bool {
    e.method != "GET"
}

fn path_of(e: &LogEntry) -> &str {
    e.path.split('?').next().unwrap_or(&e.path)
}

// ---------------------------------------------------------------------------------------------
// 1. Writes and reads

async fn writes_and_reads() {
    // A resync long enough that the objects of the workspace, resyncing together, share one
    // read of what they all look at (reuse lasts half the period).
    let h = started_with("bench-writes", EmulatorConfig::for_tests(), 12, 1).await;
    let s0 = h.last_seq();
    let t0 = Instant::now();
    for f in ["secureworkspace.yaml", "computesubnet-training.yaml", "computesubnet-inference.yaml"] {
        h.apply(&sample(f, &h.ns)).await;
    }
    until::<SecureWorkspace>(&h, "ml-prod", Duration::from_millis(100), sws_ready).await;
    for c in ["training", "inference"] {
        until::<ComputeSubnet>(&h, c, Duration::from_millis(100), csn_ready).await;
    }
    let took = t0.elapsed();
    let log = h.emu.admin.requests(Some(s0)).entries;
    let resources = h.all_resources();

    let mut by_type: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new(); // resources, writes, GETs
    for r in &resources {
        by_type.entry(r["type"].as_str().unwrap_or("?").to_string()).or_default().0 += 1;
    }
    for e in &log {
        let t = e.resource_type.clone().unwrap_or_else(|| "(operation polls)".into());
        let row = by_type.entry(t).or_default();
        if is_write(e) { row.1 += 1 } else { row.2 += 1 }
    }
    let writes = log.iter().filter(|e| is_write(e)).count();
    let gets = log.len() - writes;
    let managed = managed_ids(&h, "ml-prod", &["training", "inference"]).await;
    let n_managed = resources.iter().filter(|r| r["id"].as_str().is_some_and(|i| managed.contains(&i.to_ascii_lowercase()))).count();
    let refused: Vec<&LogEntry> = log.iter().filter(|e| is_write(e) && e.status >= 400).collect();
    println!("1. Writes and reads: samples (1 SecureWorkspace, 2 ComputeSubnets) from nothing to Ready in {:.2} s", took.as_secs_f64());
    println!("   {:<58} {:>9} {:>7} {:>6}", "Azure resource type", "resources", "writes", "GETs");
    for (t, (n, w, g)) in &by_type {
        println!("   {t:<58} {n:>9} {w:>7} {g:>6}");
    }
    let n = resources.len();
    println!("   {:<58} {n:>9} {writes:>7} {gets:>6}", "total");
    println!(
        "   ARM writes per Azure resource moat manages: {writes} / {n_managed} = {:.2} (target 1.0); refused writes (409, retried): {}",
        writes as f64 / n_managed as f64,
        refused.len()
    );
    println!("   ({} more resources are made by Azure itself: network interfaces of the endpoints, SOA and A records)", n - n_managed);
    println!("   GETs during the converge: {gets} ({:.2} per managed resource; observe passes and LRO polls)", gets as f64 / n_managed as f64);
    println!(
        "   ARM requests per managed resource for one converge: {} / {n_managed} = {:.2} (target ≤ 3: write, poll, final read, observe amortised)",
        log.len(),
        log.len() as f64 / n_managed as f64
    );
    if std::env::var_os("MOAT_BENCH_VERBOSE").is_some() {
        println!("   every request of the converge (MOAT_BENCH_VERBOSE):");
        let wall0 = log.first().map(|e| ts(&e.time)).unwrap_or(0.0);
        for e in &log {
            println!("     {:>6.2} {} {} {}", ts(&e.time) - wall0, e.status, e.method, short(path_of(e)));
        }
    }
    // Steady state. A resync of a converged object asks the Activity Log of its resource groups
    // what changed and reads nothing else when nothing it reads did; at least once per
    // `--full-read-every` periods (default 12) it reads everything. The first resync after the
    // converge still reads everything (the converge's own writes are in the log): the window
    // starts once the workspace, converged last, had a quiet one, and spans `full_every`
    // periods, so it holds exactly one full read of each object.
    let full_every = env_u64("MOAT_BENCH_FULL_EVERY", 12);
    let quiet = [("kind", "SecureWorkspace"), ("outcome", "quiet")];
    let deadline = Instant::now() + Duration::from_secs(h.resync_seconds * 6);
    while h.metric("moat_resync_checks_total", &quiet).await < 1.0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let periods = full_every;
    let s1 = h.last_seq();
    tokio::time::sleep(Duration::from_secs(h.resync_seconds * periods)).await;
    let steady = h.emu.admin.requests(Some(s1)).entries;
    let sw = steady.iter().filter(|e| is_write(e)).count();
    let sg = steady.len() - sw;
    let is_log = |e: &LogEntry| e.path.to_ascii_lowercase().contains("/eventtypes/management/values");
    let log_queries = steady.iter().filter(|e| is_log(e)).count();
    let mut by_path: HashMap<&str, usize> = HashMap::new();
    for e in steady.iter().filter(|e| !is_write(e) && !is_log(e)) {
        *by_path.entry(path_of(e)).or_default() += 1;
    }
    let mut checks = String::new();
    for kind in ["SecureWorkspace", "PrivateEndpointBinding", "ComputeSubnet"] {
        let q = h.metric("moat_resync_checks_total", &[("kind", kind), ("outcome", "quiet")]).await;
        let all = h.metric("moat_resync_checks_total", &[("kind", kind)]).await;
        checks.push_str(&format!(" {kind} {q:.0}/{all:.0}"));
    }
    println!(
        "   steady state over {periods} resync periods of {} s (a full read every {full_every}): {sw} ARM writes, {sg} GETs = {log_queries} Activity Log queries + {} resource reads ({} distinct: one full read); {:.2} GETs per managed resource per resync (target ≤ 0.3; was 0.70 reading everything each resync)",
        h.resync_seconds,
        sg - log_queries,
        by_path.len(),
        sg as f64 / n_managed as f64 / periods as f64
    );
    println!("   passes that only asked the Activity Log, of all passes since start, by kind:{checks}\n");
}

/// Lower-cased ids of every Azure resource the plans of these objects declare: the workspace's,
/// its bindings', and the compute subnets'.
async fn managed_ids(h: &Harness, workspace: &str, subnets: &[&str]) -> HashSet<String> {
    let (graph, ws) = workspace_graph(h, workspace).await;
    let mut ids: HashSet<String> = graph.into_keys().filter(|k| k.starts_with('/')).collect();
    for name in subnets {
        let cs = h.api::<ComputeSubnet>().get(name).await.expect("get compute subnet");
        let owner = Owner::new("ComputeSubnet", &h.ns, name, &cs.uid().unwrap_or_default());
        ids.extend(moat::plan::subnet::desired(&cs.spec, &ws.spec, &owner, &Default::default(), None).into_iter().map(|d| d.id.to_ascii_lowercase()));
    }
    ids
}

/// The dependency graph of a SecureWorkspace as moat plans it: its resources, one node per
/// owned PrivateEndpointBinding (`binding/<name>`, created once its subnet and target exist),
/// and each binding's resources. Keys and dependencies are lower-cased.
async fn workspace_graph(h: &Harness, name: &str) -> (BTreeMap<String, HashSet<String>>, SecureWorkspace) {
    let ws = h.api::<SecureWorkspace>().get(name).await.expect("get workspace");
    let owner = Owner::new("SecureWorkspace", &h.ns, name, &ws.uid().unwrap_or_default());
    let inputs = WorkspaceInputs { spec: &ws.spec, owner: &owner, tenant_id: Some(TENANT), storage_subnet_ids: &[], vault_subnet_ids: &[] };
    let mut graph: BTreeMap<String, HashSet<String>> = BTreeMap::new();
    let mut add = |k: &str, deps: &[String]| {
        graph.entry(k.to_ascii_lowercase()).or_default().extend(deps.iter().map(|d| d.to_ascii_lowercase()));
    };
    for d in desired(&inputs).expect("workspace plan") {
        add(&d.id, &d.deps);
    }
    for ep in endpoints(&ws) {
        let binding = format!("binding/{}", ep.name);
        add(&binding, &ep.deps);
        let peb = PrivateEndpointBinding::new(&ep.name, ep.spec.clone());
        let planned = moat::plan::endpoint::desired(&ep.spec, &ep.name, &owner, &zones_for(&peb));
        let zone_group = planned.iter().find(|d| d.kind == "PrivateDnsZoneGroup").map(|d| d.id.clone());
        for d in &planned {
            let mut deps = d.deps.clone();
            deps.push(binding.clone());
            // Records before links (`controller::endpoint`): a link waits for its endpoint's
            // zone group.
            if d.kind == "VirtualNetworkLink"
                && let Some(g) = &zone_group
            {
                deps.push(g.clone());
            }
            add(&d.id, &deps);
        }
    }
    (graph, ws)
}

// ---------------------------------------------------------------------------------------------
// 2. Converge time against the critical path

fn ts(s: &str) -> f64 {
    s.parse::<jiff::Timestamp>().map(|t| t.as_millisecond() as f64 / 1000.0).expect("emulator log times are RFC 3339")
}

/// Time span of one resource's own ARM calls: its first write, the polls of its operation and
/// the GET the client makes right after the operation ends.
struct Span {
    start: f64,
    end: f64,
    lro: bool,
}

fn spans(log: &[LogEntry], operations: &[Value], ids: &[String]) -> HashMap<String, Span> {
    let mut out = HashMap::new();
    for id in ids {
        let Some(first) = log.iter().find(|e| is_write(e) && path_of(e).eq_ignore_ascii_case(id)) else { continue };
        let start = ts(&first.time);
        let mut end = start + first.duration_ms / 1000.0;
        let ops: Vec<&str> = operations
            .iter()
            .filter(|o| o["target"].as_str().is_some_and(|t| t.eq_ignore_ascii_case(id)))
            .filter_map(|o| o["id"].as_str())
            .collect();
        for e in log.iter().filter(|e| ops.iter().any(|op| e.path.contains(op))) {
            end = end.max(ts(&e.time) + e.duration_ms / 1000.0);
        }
        if let Some(g) = log.iter().find(|e| e.method == "GET" && path_of(e).eq_ignore_ascii_case(id) && ts(&e.time) >= end - 0.002 && ts(&e.time) <= end + 0.05) {
            end = ts(&g.time) + g.duration_ms / 1000.0;
        }
        out.insert(id.to_ascii_lowercase(), Span { start, end, lro: !ops.is_empty() });
    }
    out
}

async fn time_against_critical_path() {
    let latency = env_u64("MOAT_BENCH_LATENCY_MS", 100);
    let polls = 1u32;
    let retry_after = 1u64;
    let cfg = EmulatorConfig { latency: Duration::from_millis(latency), polls_to_complete: polls, retry_after_secs: retry_after, ..EmulatorConfig::for_tests() };
    let h = started("bench-path", cfg).await;
    let s0 = h.last_seq();
    let wall0 = jiff::Timestamp::now().as_millisecond() as f64 / 1000.0;
    let t0 = Instant::now();
    h.apply(&sample("secureworkspace.yaml", &h.ns)).await;
    let done = until::<SecureWorkspace>(&h, "ml-prod", Duration::from_millis(20), sws_ready).await;
    let took = (done - t0).as_secs_f64();

    let (graph, _) = workspace_graph(&h, "ml-prod").await;
    let nodes: Vec<(String, Vec<String>)> = graph.iter().map(|(k, d)| (k.clone(), d.iter().cloned().collect())).collect();

    let log = h.emu.admin.requests(Some(s0)).entries;
    let dump = h.emu.admin.state_dump();
    let ops = dump["operations"].as_array().cloned().unwrap_or_default();
    let ids: Vec<String> = graph.keys().filter(|k| k.starts_with('/')).cloned().collect();
    let spans = spans(&log, &ops, &ids);
    let l = latency as f64 / 1000.0;
    // An operation: the write, `polls + 1` status polls each after Retry-After, the final GET.
    let floor_lro = l * (polls as f64 + 3.0) + retry_after as f64 * (polls as f64 + 1.0);
    let measured = critical_path(&nodes, |k| spans.get(k).map(|s| s.end - s.start).unwrap_or(0.0));
    let floor = critical_path(&nodes, |k| match spans.get(k) {
        Some(s) if s.lro => floor_lro,
        Some(_) => l,
        None => 0.0,
    });
    let arm_gets = log.iter().filter(|e| e.method == "GET").count();
    let arm_writes = log.len() - arm_gets;
    let first = log.first().map(|e| ts(&e.time) - wall0).unwrap_or(f64::NAN);
    let last_end = log.iter().map(|e| ts(&e.time) + e.duration_ms / 1000.0).fold(f64::MIN, f64::max) - wall0;

    let n_arm = graph.keys().filter(|k| k.starts_with('/')).count();
    let n_bindings = graph.keys().filter(|k| k.starts_with("binding/")).count();
    println!("2. Converge time against the critical path: one SecureWorkspace ({n_arm} Azure resources in its graph, {n_bindings} private endpoint bindings)");
    println!("   emulator: {latency} ms on every ARM request, operations answer InProgress once, Retry-After {retry_after} s");
    println!("   apply -> Ready: {took:.2} s ({} ARM requests: {arm_writes} writes, {arm_gets} GETs); first ARM request at {first:.2} s, last answered at {last_end:.2} s", log.len());
    println!("   critical path, measured ARM time per resource: {:.2} s; converge ÷ critical path = {:.2} (target ≤ 1.2)", measured.length, took / measured.length);
    println!("   critical path, protocol floor ({:.1} s per operation, {:.1} s per synchronous write): {:.2} s; converge ÷ floor = {:.2}", floor_lro, l, floor.length, took / floor.length);
    println!("   the chain (measured):");
    for k in &measured.chain {
        match spans.get(k) {
            Some(s) => println!("     {:>6.2} .. {:>6.2} s  {}", s.start - wall0, s.end - wall0, short(k)),
            None => println!("                        {}", short(k)),
        }
    }
    if std::env::var_os("MOAT_BENCH_VERBOSE").is_some() {
        println!("   every resource (MOAT_BENCH_VERBOSE):");
        let mut all: Vec<(&String, &Span)> = spans.iter().collect();
        all.sort_by(|a, b| a.1.start.total_cmp(&b.1.start));
        for (k, s) in all {
            println!("     {:>6.2} .. {:>6.2} s  {}", s.start - wall0, s.end - wall0, short(k));
        }
        for e in &log {
            println!("     {:>6.2} +{:>4.0} ms {} {} {}", ts(&e.time) - wall0, e.duration_ms, e.status, e.method, short(path_of(e)));
        }
    }
    println!();
}

/// The last two id segments (`privateEndpoints/pe-x`), or the key itself.
fn short(k: &str) -> String {
    let parts: Vec<&str> = k.split('/').collect();
    if parts.len() >= 2 && k.starts_with('/') { parts[parts.len() - 2..].join("/") } else { k.to_string() }
}

// ---------------------------------------------------------------------------------------------
// 3. N SecureWorkspaces at once

/// `apiserver_request_total` summed per verb over the API groups moat uses (moat.dev, events).
async fn apiserver_requests(client: &kube::Client) -> BTreeMap<String, f64> {
    let req = http::Request::get("/metrics").body(Vec::new()).expect("request");
    let text = client.request_text(req).await.expect("apiserver /metrics");
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with("apiserver_request_total{")) {
        let Some((labels, value)) = line.rsplit_once(' ') else { continue };
        let label = |name: &str| labels.split(&format!("{name}=\"")).nth(1).and_then(|r| r.split('"').next()).unwrap_or("");
        let group = label("group");
        let ours = group == "moat.dev" || group == "events.k8s.io" || (group.is_empty() && label("resource") == "events");
        if ours {
            *out.entry(label("verb").to_string()).or_default() += value.parse::<f64>().unwrap_or(0.0);
        }
    }
    out
}

fn proc_kib(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines().find(|l| l.starts_with(field))?.split_whitespace().nth(1)?.parse().ok()
}

fn workspace(ns: &str, k: usize, tag: &str) -> Value {
    let mut v = sample("secureworkspace.yaml", ns);
    v["metadata"]["name"] = json!(format!("ws-{k:03}"));
    let s = &mut v["spec"];
    s["network"]["vnet"]["name"] = json!(format!("vnet-{k:03}"));
    s["workspace"]["name"] = json!(format!("mlw-{k:03}"));
    s["storage"]["name"] = json!(format!("st{tag}{k:03}"));
    s["keyVault"]["name"] = json!(format!("kv-{tag}-{k:03}"));
    s["containerRegistry"]["name"] = json!(format!("cr{tag}{k:03}"));
    s["applicationInsights"]["name"] = json!(format!("appi-{k:03}"));
    v
}

async fn many_at_once() {
    let n = env_u64("MOAT_BENCH_WORKSPACES", 100) as usize;
    let latency = 20u64;
    let cfg = EmulatorConfig { latency: Duration::from_millis(latency), polls_to_complete: 1, retry_after_secs: 1, ..EmulatorConfig::for_tests() };
    // Production's resync and retry periods (the end-to-end tests use 2 s and 1 s): with 600
    // objects a 2 s resync alone would ask ARM for ~1,800 GETs a second.
    let h = started_with("bench-many", cfg, 300, 10).await;
    let pid = h.moat_pid().expect("moat runs");
    let client = h.env.client();
    let rss_idle = proc_kib(pid, "VmRSS:").unwrap_or(0);
    let before = apiserver_requests(&client).await;
    let s0 = h.last_seq();
    // Names unique to this run: deleted vault names stay reserved, as in Azure.
    let tag = format!("{:04x}", std::process::id() % 0xffff);
    let api = h.api::<SecureWorkspace>();
    let mut own_requests = 0usize;
    let t0 = Instant::now();
    for k in 0..n {
        let obj = workspace(&h.ns, k, &tag);
        api.patch(&format!("ws-{k:03}"), &PatchParams::apply("moat-bench").force(), &Patch::Apply(&obj)).await.expect("apply workspace");
        own_requests += 1;
    }
    let applied = t0.elapsed().as_secs_f64();
    let mut ready_at: HashMap<String, f64> = HashMap::new();
    let mut rss_peak_seen = 0u64;
    // 900 s, or 6 s per workspace for the large runs (100 took under 300 s).
    let allowed = DEADLINE.max(Duration::from_secs(6 * n as u64));
    let deadline = Instant::now() + allowed;
    while ready_at.len() < n {
        let list = api.list(&ListParams::default()).await.expect("list workspaces");
        own_requests += 1;
        for w in list.items.iter().filter(|w| sws_ready(w)) {
            ready_at.entry(w.name_any()).or_insert_with(|| t0.elapsed().as_secs_f64());
        }
        rss_peak_seen = rss_peak_seen.max(proc_kib(pid, "VmRSS:").unwrap_or(0));
        assert!(Instant::now() < deadline, "{} of {n} Ready after {allowed:?}\n{}", ready_at.len(), h.log_tail());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let total = t0.elapsed().as_secs_f64();
    let hwm = proc_kib(pid, "VmHWM:").unwrap_or(0);
    let after = apiserver_requests(&client).await;
    own_requests += 1; // the first /metrics scrape is not in its own figure
    let log = h.emu.admin.requests(Some(s0));
    let mut times: Vec<f64> = ready_at.values().copied().collect();
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| times[((times.len() as f64 - 1.0) * p).round() as usize];
    let mut verbs: Vec<String> = Vec::new();
    let mut api_total = 0.0;
    for (verb, v) in &after {
        let d = v - before.get(verb).copied().unwrap_or(0.0);
        if d > 0.0 {
            verbs.push(format!("{verb} {d:.0}"));
            api_total += d;
        }
    }
    let moat_api = api_total - own_requests as f64;
    let resources = h.all_resources();
    let mut managed: HashSet<String> = HashSet::new();
    for k in 0..n {
        let (graph, _) = workspace_graph(&h, &format!("ws-{k:03}")).await;
        managed.extend(graph.into_keys().filter(|k| k.starts_with('/')));
    }
    let n_managed = resources.iter().filter(|r| r["id"].as_str().is_some_and(|i| managed.contains(&i.to_ascii_lowercase()))).count();
    let writes: u64 = log.counts.by_method.iter().filter(|(m, _)| *m != "GET").map(|(_, c)| *c).sum();
    let conc = std::env::var("MOAT_BENCH_CONCURRENCY").unwrap_or_else(|_| "default".into());
    println!("3. {n} SecureWorkspaces applied at once (emulator: {latency} ms per request, one InProgress poll, Retry-After 1 s; moat --concurrency {conc}, resync 300 s, retry 10 s)");
    println!("   applied in {applied:.2} s; all Ready after {total:.1} s; time to Ready p50 {:.1} s, p90 {:.1} s, max {:.1} s", pct(0.5), pct(0.9), pct(1.0));
    println!(
        "   Azure resources moat manages: {n_managed} ({:.1} per workspace; the privatelink zones are shared); ARM writes {writes} = {:.2} per managed resource; {} more made by Azure itself",
        n_managed as f64 / n as f64,
        writes as f64 / n_managed as f64,
        resources.len() - n_managed
    );
    println!(
        "   ARM requests: {} ({:.0} per workspace) by method {:?}; by status {:?}",
        log.total,
        log.total as f64 / n as f64,
        log.counts.by_method,
        log.counts.by_status
    );
    println!(
        "   apiserver requests by moat (moat.dev + events; watches counted when they close): {moat_api:.0} ({:.1} per workspace); all in those groups by verb: {}; the benchmark's own: {own_requests}",
        moat_api / n as f64,
        verbs.join(", ")
    );
    println!(
        "   moat memory: peak RSS (VmHWM) {:.1} MiB; RSS idle before {:.1} MiB; highest RSS sampled {:.1} MiB",
        hwm as f64 / 1024.0,
        rss_idle as f64 / 1024.0,
        rss_peak_seen as f64 / 1024.0
    );
}

// ---------------------------------------------------------------------------------------------
// 4. N SecureWorkspaces under ARM's enforced limits

/// What ARM saw, summed as the run goes (the emulator's log is a ring; it is read every few
/// seconds so nothing is lost however long the run).
#[derive(Default)]
struct Tally {
    last_seq: u64,
    total: u64,
    throttled: u64,
    by_status: BTreeMap<u16, u64>,
    /// Admitted requests (not 429) by class and provider family.
    reads: u64,
    writes: u64,
    deletes: u64,
    network_reads: u64,
    network_writes: u64,
    dns_reads: u64,
    /// Accepted writes (2xx) per private DNS zone (lower-cased zone id).
    zone_writes: HashMap<String, u64>,
    /// Refused requests (4xx but 404 and 429: a conflict, a failed precondition, a bad request)
    /// by "method resource type status", to tell where they come from.
    refused: BTreeMap<String, u64>,
    /// Admitted GETs by resource type and status class (`200`, `404`), to tell which reads bind.
    reads_by_type: BTreeMap<String, u64>,
    /// Every request, one line each (`MOAT_BENCH_DUMP`: a file path), to follow one resource.
    dump: Option<std::io::BufWriter<std::fs::File>>,
}

/// `privatedns`, `network` or `other`, as ARM's provider limits (and the emulator) key requests.
fn family(t: Option<&str>) -> &'static str {
    let t = t.unwrap_or("").to_ascii_lowercase();
    if t.starts_with("microsoft.network/privatednszones") {
        "privatedns"
    } else if t.starts_with("microsoft.network/") {
        "network"
    } else {
        "other"
    }
}

/// The private DNS zone a request path is under, lower-cased.
fn zone_of(path: &str) -> Option<String> {
    let p = path.split('?').next().unwrap_or(path).to_ascii_lowercase();
    let i = p.find("/providers/microsoft.network/privatednszones/")?;
    let rest = &p[i + "/providers/microsoft.network/privatednszones/".len()..];
    let zone = rest.split('/').next()?;
    Some(format!("{}{zone}", &p[..i + "/providers/microsoft.network/privatednszones/".len()]))
}

impl Tally {
    fn absorb(&mut self, h: &Harness) {
        let log = h.emu.admin.requests(Some(self.last_seq));
        self.last_seq = log.last_seq;
        if let Some(dump) = &mut self.dump {
            use std::io::Write as _;
            for e in &log.entries {
                let _ = writeln!(dump, "{} {} {} {}", e.time, e.status, e.method, path_of(e));
            }
        }
        for e in &log.entries {
            self.total += 1;
            *self.by_status.entry(e.status).or_default() += 1;
            if e.status == 429 {
                self.throttled += 1;
                continue;
            }
            if (400..500).contains(&e.status) && e.status != 404 {
                *self.refused.entry(format!("{} {} {}", e.method, e.resource_type.as_deref().unwrap_or("?"), e.status)).or_default() += 1;
            }
            let fam = family(e.resource_type.as_deref());
            match e.method.as_str() {
                "GET" | "HEAD" => {
                    self.reads += 1;
                    let class = if e.status == 404 { "404" } else { "200" };
                    *self.reads_by_type.entry(format!("{} {class}", e.resource_type.as_deref().unwrap_or("?"))).or_default() += 1;
                    match fam {
                        "privatedns" => self.dns_reads += 1,
                        "network" => self.network_reads += 1,
                        _ => {}
                    }
                }
                m => {
                    if m == "DELETE" {
                        self.deletes += 1;
                    } else {
                        self.writes += 1;
                    }
                    if fam == "network" {
                        self.network_writes += 1;
                    }
                    if (200..300).contains(&e.status)
                        && let Some(z) = zone_of(&e.path)
                    {
                        *self.zone_writes.entry(z).or_default() += 1;
                    }
                }
            }
        }
    }
}

/// Least time to let `n` requests through a token bucket of `burst` refilled at `rate` a second.
fn bucket_floor(n: u64, burst: u64, rate: f64) -> f64 {
    n.saturating_sub(burst) as f64 / rate
}

/// Least time to let `n` requests through "at most `max` in any `window` seconds".
fn window_floor(n: u64, max: u64, window: f64) -> f64 {
    if n == 0 { 0.0 } else { ((n - 1) / max) as f64 * window }
}

/// The least time before the first VNet link of `zone` can be written, then its other writes
/// one after the other: one workspace's dependency chain to its link in that zone, each step
/// taking what the emulator's protocol needs (`op_secs` for an operation, `latency` for a
/// synchronous write), with no limit at all; then the zone's other writes but its create and that
/// first link (ARM runs one operation at a time per zone). `zone`: the lower-cased zone id.
fn zone_chain_floor(graph: &BTreeMap<String, HashSet<String>>, lro: &HashSet<String>, zone: &str, writes: u64, op_secs: f64, latency: f64) -> Option<(String, f64)> {
    let prefix = format!("{zone}/virtualnetworklinks/");
    let link = graph.keys().find(|k| k.starts_with(&prefix))?.clone();
    // The link and what it waits for, directly or not.
    let mut keep: HashSet<String> = HashSet::new();
    let mut todo = vec![link.clone()];
    while let Some(k) = todo.pop() {
        if keep.insert(k.clone()) {
            todo.extend(graph.get(&k).into_iter().flatten().cloned());
        }
    }
    let nodes: Vec<(String, Vec<String>)> = graph.iter().filter(|(k, _)| keep.contains(*k)).map(|(k, d)| (k.clone(), d.iter().filter(|x| keep.contains(*x)).cloned().collect())).collect();
    let cost = |k: &str| if lro.contains(k) { op_secs } else if k.starts_with('/') { latency } else { 0.0 };
    let chain = critical_path(&nodes, cost);
    let after = writes.saturating_sub(2);
    let name = zone.rsplit('/').next().unwrap_or(zone);
    let what = format!("{:.1} s of dependencies to the first link of zone {name} ({} steps), then its {after} other writes, ≥ {op_secs:.2} s each", chain.length, chain.chain.iter().filter(|k| k.starts_with('/')).count());
    Some((what, chain.length + after as f64 * op_secs))
}

/// The floor's parts, largest first. `chain`: [`zone_chain_floor`] of the busiest zone.
fn floor_parts(t: &Tally, model: ThrottleModel, op_secs: f64, chain: Option<(String, f64)>) -> Vec<(String, f64)> {
    let mut v: Vec<(String, f64)> = match model {
        ThrottleModel::Regional => vec![
            (format!("{} reads, 250 + 25/s", t.reads), bucket_floor(t.reads, 250, 25.0)),
            (format!("{} writes, 200 + 10/s", t.writes), bucket_floor(t.writes, 200, 10.0)),
            (format!("{} deletes, 200 + 10/s", t.deletes), bucket_floor(t.deletes, 200, 10.0)),
        ],
        ThrottleModel::Hourly => vec![
            (format!("{} reads, 12,000/h", t.reads), window_floor(t.reads, 12_000, 3600.0)),
            (format!("{} writes, 1,200/h", t.writes), window_floor(t.writes, 1_200, 3600.0)),
            (format!("{} deletes, 15,000/h", t.deletes), window_floor(t.deletes, 15_000, 3600.0)),
        ],
    };
    v.push((format!("{} Microsoft.Network GETs, 10,000/5 min", t.network_reads), window_floor(t.network_reads, 10_000, 300.0)));
    v.push((format!("{} Microsoft.Network writes, 1,000/5 min", t.network_writes), window_floor(t.network_writes, 1_000, 300.0)));
    v.push((format!("{} Private DNS GETs, 500/5 min", t.dns_reads), window_floor(t.dns_reads, 500, 300.0)));
    let (zone, most) = t.zone_writes.iter().max_by_key(|(_, n)| **n).map(|(z, n)| (z.rsplit('/').next().unwrap_or(z).to_string(), *n)).unwrap_or_default();
    v.push((format!("{most} serial writes to zone {zone}, ≥ {op_secs:.2} s each"), most as f64 * op_secs));
    v.extend(chain);
    v.sort_by(|a, b| b.1.total_cmp(&a.1));
    v
}

async fn under_limits() {
    let runs = std::env::var("MOAT_BENCH_LIMITS").unwrap_or_else(|_| "regional:10,regional:100,hourly:100".into());
    println!("4. SecureWorkspaces under ARM's limits, enforced by the emulator (429 + Retry-After)");
    for run in runs.split(',').map(str::trim).filter(|r| !r.is_empty()) {
        let (model, n) = match run.split_once(':') {
            Some(("regional", n)) => (ThrottleModel::Regional, n),
            Some(("hourly", n)) => (ThrottleModel::Hourly, n),
            _ => panic!("MOAT_BENCH_LIMITS entry {run:?}: expected regional:N or hourly:N"),
        };
        let n: usize = n.parse().unwrap_or_else(|_| panic!("MOAT_BENCH_LIMITS entry {run:?}: N is not a number"));
        limits_run(model, n).await;
    }
}

async fn limits_run(model: ThrottleModel, n: usize) {
    let latency = 20u64;
    let (polls, retry_after) = (1u32, 1u64);
    let cfg = EmulatorConfig { latency: Duration::from_millis(latency), polls_to_complete: polls, retry_after_secs: retry_after, ..EmulatorConfig::for_tests() }.enforcing(model);
    let h = started_with(&format!("bench-limits-{n}"), cfg, 300, 10).await;
    let pacing = h.pacing;
    let pid = h.moat_pid().expect("moat runs");
    let client = h.env.client();
    let before = apiserver_requests(&client).await;
    let dump = std::env::var_os("MOAT_BENCH_DUMP").map(|p| std::io::BufWriter::new(std::fs::File::create(p).expect("MOAT_BENCH_DUMP: a file moat's bench can create")));
    let mut tally = Tally { last_seq: h.last_seq(), dump, ..Default::default() };
    let tag = format!("{:04x}", (std::process::id() as usize + n) % 0xffff);
    let api = h.api::<SecureWorkspace>();
    let mut own_requests = 0usize;
    let t0 = Instant::now();
    for k in 0..n {
        let obj = workspace(&h.ns, k, &tag);
        api.patch(&format!("ws-{k:03}"), &PatchParams::apply("moat-bench").force(), &Patch::Apply(&obj)).await.expect("apply workspace");
        own_requests += 1;
    }
    let deadline_secs = env_u64("MOAT_BENCH_DEADLINE_SECS", 8 * 3600);
    let deadline = Instant::now() + Duration::from_secs(deadline_secs);
    let every = if n >= 100 { Duration::from_secs(5) } else { Duration::from_secs(1) };
    let mut ready = 0usize;
    let mut ready_at: HashMap<String, f64> = HashMap::new();
    let mut last_report = Instant::now();
    let mut finished = true;
    while ready < n {
        tokio::time::sleep(every).await;
        let list = api.list(&ListParams::default()).await.expect("list workspaces");
        own_requests += 1;
        for w in list.items.iter().filter(|w| sws_ready(w)) {
            ready_at.entry(w.name_any()).or_insert_with(|| t0.elapsed().as_secs_f64());
        }
        ready = ready_at.len();
        tally.absorb(&h);
        if last_report.elapsed() >= Duration::from_secs(300) {
            last_report = Instant::now();
            println!(
                "   [{:>6.0} s] {ready}/{n} Ready; ARM requests {} (429: {}); moat RSS {:.0} MiB",
                t0.elapsed().as_secs_f64(),
                tally.total,
                tally.throttled,
                proc_kib(pid, "VmRSS:").unwrap_or(0) as f64 / 1024.0
            );
        }
        if Instant::now() > deadline {
            finished = false;
            break;
        }
    }
    let total = t0.elapsed().as_secs_f64();
    tally.absorb(&h);
    let hwm = proc_kib(pid, "VmHWM:").unwrap_or(0);
    let after = apiserver_requests(&client).await;
    own_requests += 1;
    let api_total: f64 = after.iter().map(|(verb, v)| v - before.get(verb).copied().unwrap_or(0.0)).filter(|d| *d > 0.0).sum();
    let moat_api = api_total - own_requests as f64;
    let op_secs = retry_after as f64 * (polls as f64 + 1.0) + latency as f64 / 1000.0 * (polls as f64 + 2.0);
    // Each zone's chain, from the first workspace's plan (an operation is what the emulator ran
    // one for); the longest counts.
    let (graph, _) = workspace_graph(&h, "ws-000").await;
    let ops = h.emu.admin.state_dump()["operations"].as_array().cloned().unwrap_or_default();
    let lro: HashSet<String> = ops.iter().filter_map(|o| o["target"].as_str()).map(str::to_ascii_lowercase).filter(|t| graph.contains_key(t)).collect();
    let chain = tally
        .zone_writes
        .iter()
        .filter_map(|(zone, writes)| zone_chain_floor(&graph, &lro, zone, *writes, op_secs, latency as f64 / 1000.0))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    let parts = floor_parts(&tally, model, op_secs, chain);
    let floor = parts.first().map(|p| p.1).unwrap_or(0.0);
    let stats = h.emu.admin.rate_stats();
    let model_name = match model {
        ThrottleModel::Regional => "public cloud (regional token buckets)",
        ThrottleModel::Hourly => "sovereign cloud (hourly)",
    };
    println!(
        "   {n} SecureWorkspaces, {model_name}; moat {} pacing; emulator {latency} ms per request, one InProgress poll, Retry-After {retry_after} s",
        if pacing { "with" } else { "WITHOUT" }
    );
    let mut times: Vec<f64> = ready_at.values().copied().collect();
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| times.get(((times.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(f64::NAN);
    if finished {
        println!("   all Ready after {total:.0} s; floor {floor:.0} s; time ÷ floor = {:.2} (target ≤ 1.2)", total / floor.max(1.0));
        println!("   time to Ready per workspace: p50 {:.0} s, p90 {:.0} s, max {:.0} s", pct(0.5), pct(0.9), pct(1.0));
    } else {
        println!("   NOT FINISHED: {ready}/{n} Ready when the deadline ({deadline_secs} s) passed; the figures below are for the {total:.0} s it ran");
    }
    println!("   floor parts (the largest binds):");
    for (what, secs) in &parts {
        println!("     {secs:>8.0} s  {what}");
    }
    println!(
        "   429s ARM answered: {} ({:?}); ARM requests {} = {:.0} per workspace, by status {:?}",
        tally.throttled, stats.throttled, tally.total, tally.total as f64 / n as f64, tally.by_status
    );
    if !tally.refused.is_empty() {
        println!("   refused requests (4xx but 404 and 429), by method, resource type and status:");
        for (what, count) in &tally.refused {
            println!("     {count:>6}  {what}");
        }
    }
    println!("   GETs by resource type and answer, per workspace (the most first):");
    let mut by_type: Vec<(&String, &u64)> = tally.reads_by_type.iter().collect();
    by_type.sort_by(|a, b| b.1.cmp(a.1));
    for (what, count) in by_type.iter().take(16) {
        println!("     {:>8.2}  {what} ({family})", **count as f64 / n as f64, family = family(what.split(' ').next()));
    }
    println!(
        "   apiserver requests by moat: {moat_api:.0} = {:.1} per workspace; moat peak RSS (VmHWM) {:.1} MiB\n",
        moat_api / n as f64,
        hwm as f64 / 1024.0
    );
}
