//! More than a hundred hostile manifests (tests/support/hostile.rs), each sent the three ways a
//! platform team meets moat: `kubectl apply` on the real apiserver, `moat validate`, and a running
//! moat beside a converged workspace. Each is refused at admission naming the field, or reported
//! in status naming the field; `moat validate` names it too. None is silent, none causes an ARM
//! write, none makes moat loop.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::Resource;
use moat::api::{ComputeSubnet, FindingStatus, PrivateEndpointBinding, SecureWorkspace};
use moat::emulator::EmulatorConfig;
use serde_json::{Value, json};
use support::e2e::{Harness, condition_true, sample};
use support::hostile::{Case, Kind, cases, endpoint_target, manifest};

const CONVERGE: Duration = Duration::from_secs(180);

/// What a user sees of one live object: its Ready condition (status, reason, message) at the
/// current generation, its findings and its resourceVersion.
struct Seen {
    ready: Option<(String, String, String)>,
    findings: Vec<FindingStatus>,
    resource_version: String,
}

fn seen_of(meta: &kube::api::ObjectMeta, conditions: &[Condition], findings: &[FindingStatus]) -> Seen {
    let ready = conditions.iter().find(|c| c.type_ == "Ready" && c.observed_generation == meta.generation).map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()));
    Seen { ready, findings: findings.to_vec(), resource_version: meta.resource_version.clone().unwrap_or_default() }
}

async fn seen(h: &Harness, kind: Kind, name: &str) -> Option<Seen> {
    match kind {
        Kind::Workspace => h.api::<SecureWorkspace>().get_opt(name).await.expect("get").map(|o| {
            let st = o.status.clone().unwrap_or_default();
            seen_of(o.meta(), &st.conditions, &st.findings)
        }),
        Kind::Subnet => h.api::<ComputeSubnet>().get_opt(name).await.expect("get").map(|o| {
            let st = o.status.clone().unwrap_or_default();
            seen_of(o.meta(), &st.conditions, &st.findings)
        }),
        Kind::Endpoint => h.api::<PrivateEndpointBinding>().get_opt(name).await.expect("get").map(|o| {
            let st = o.status.clone().unwrap_or_default();
            seen_of(o.meta(), &st.conditions, &st.findings)
        }),
    }
}

/// The object is reported as not Ready for a reason a user can act on, naming `field`.
fn reported(s: &Seen, field: &str) -> bool {
    let Some((status, reason, message)) = &s.ready else { return false };
    let named = message.contains(field) || s.findings.iter().any(|f| f.severity == moat::api::Severity::Error && (f.field.as_deref().is_some_and(|x| x.starts_with(field)) || f.message.contains(field)));
    status == "False" && !matches!(reason.as_str(), "Converging" | "Converged") && named
}

/// `moat validate` on the manifest (beside the namespace's good workspace, as a repository
/// holds them): an Error naming the field, or an input error naming it.
fn validated(case: &Case, obj: &Value) -> Result<(), String> {
    let ws = sample("secureworkspace.yaml", obj["metadata"]["namespace"].as_str().unwrap_or_default());
    let text = format!("{}\n---\n{}", serde_json::to_string(&ws).unwrap_or_default(), serde_json::to_string(obj).unwrap_or_default());
    let report = moat::cli::validate::validate_str("hostile.yaml", &text);
    let json = report.render_json();
    let parsed: Value = serde_json::from_str(&json).unwrap_or_default();
    let error_names_field = parsed["findings"].as_array().into_iter().flatten().any(|f| {
        f["severity"] == "Error" && (f["field"].as_str().is_some_and(|x| x.starts_with(case.field)) || f["message"].as_str().is_some_and(|m| m.contains(case.field)))
    });
    let input_error_names_field = parsed["errors"].as_array().into_iter().flatten().any(|e| e.to_string().contains(case.field));
    // A reference that only the cluster can resolve (a workspace not among the files) is a note
    // naming the field, as `moat validate` runs on part of a repository.
    let note_names_field = parsed["notes"].as_array().into_iter().flatten().any(|n| n.as_str().is_some_and(|n| n.contains(case.field) && n.contains(obj["metadata"]["name"].as_str().unwrap_or("?"))));
    if (report.exit_code() != 0 && (error_names_field || input_error_names_field)) || note_names_field {
        Ok(())
    } else {
        Err(format!("exit {}: {}", report.exit_code(), report.render_table()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_manifests_are_refused_or_reported_naming_the_field_and_never_written() {
    let corpus = cases();
    assert!(corpus.len() >= 100, "the corpus holds {} manifests", corpus.len());
    let mut h = Harness::new("e2e-hostile", EmulatorConfig::for_tests()).await;
    // A long resync: an object that loops would show up as ARM calls between passes.
    h.resync_seconds = 30;
    for (n, case) in corpus.iter().enumerate().filter(|(_, c)| c.kind == Kind::Endpoint) {
        h.emu
            .admin
            .put_resource(&endpoint_target(n), json!({"location": "westeurope", "kind": "StorageV2", "sku": {"name": "Standard_LRS"}, "properties": {}}), Some("Succeeded"))
            .unwrap_or_else(|e| panic!("seed the target of {}: {e:?}", case.what));
    }
    h.start_moat();
    h.apply(&sample("secureworkspace.yaml", &h.ns)).await;
    h.wait_for::<SecureWorkspace>("ml-prod", CONVERGE, "Ready", |o: &SecureWorkspace| {
        o.status.as_ref().is_some_and(|s| condition_true(&s.conditions, o.meta().generation, "Ready"))
    })
    .await;
    let since = h.last_seq();

    let mut failures: Vec<String> = Vec::new();
    let mut live: Vec<(usize, &Case)> = Vec::new();
    let mut refused = 0;
    for (n, case) in corpus.iter().enumerate() {
        let obj = manifest(case, &h.ns, n);
        if let Err(why) = validated(case, &obj) {
            failures.push(format!("h{n:03} {} ({}): moat validate does not name it: {why}", case.what, case.field));
        }
        match h.try_apply(&obj).await {
            Err(stderr) if stderr.contains(case.field) => refused += 1,
            Err(stderr) => failures.push(format!("h{n:03} {}: refused without naming {}: {stderr}", case.what, case.field)),
            Ok(()) => live.push((n, case)),
        }
    }

    // Every manifest admission let through is reported in status, naming the field.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    let mut pending: Vec<(usize, &Case)> = live.clone();
    while !pending.is_empty() && tokio::time::Instant::now() < deadline {
        let mut still = Vec::new();
        for (n, case) in pending {
            let s = seen(&h, case.kind, &format!("h{n:03}")).await;
            if !s.as_ref().is_some_and(|s| reported(s, case.field)) {
                still.push((n, case));
            }
        }
        pending = still;
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    for (n, case) in &pending {
        let s = seen(&h, case.kind, &format!("h{n:03}")).await;
        let shown = s.map(|s| format!("Ready {:?}; findings {:?}", s.ready, s.findings.iter().map(|f| (&f.id, &f.field, &f.message)).collect::<Vec<_>>()));
        failures.push(format!("h{n:03} {}: admitted, and status does not report {}: {}", case.what, case.field, shown.unwrap_or_else(|| "object absent".into())));
    }

    // Quiet: no ARM write at all, a bounded number of reads, no status rewritten.
    let before: BTreeMap<usize, String> = {
        let mut m = BTreeMap::new();
        for (n, case) in &live {
            if let Some(s) = seen(&h, case.kind, &format!("h{n:03}")).await {
                m.insert(*n, s.resource_version);
            }
        }
        m
    };
    let quiet_from = h.last_seq();
    tokio::time::sleep(Duration::from_secs(20)).await;
    let reads = h.emu.admin.requests(Some(quiet_from)).total;
    let mut rewritten = Vec::new();
    for (n, case) in &live {
        if let Some(s) = seen(&h, case.kind, &format!("h{n:03}")).await
            && before.get(n).is_some_and(|rv| *rv != s.resource_version)
        {
            rewritten.push(format!("h{n:03} {}", case.what));
        }
    }
    let writes: Vec<String> = h.writes_since(since).iter().map(|w| format!("{} {} -> {}", w.method, w.path, w.status)).collect();
    eprintln!(
        "hostile corpus: {} manifests; {refused} refused at admission naming the field; {} admitted and reported in status; {} ARM writes; {reads} ARM requests in 20 s for all of them ({:.2} per object per minute); {} statuses rewritten while quiet",
        corpus.len(),
        live.len(),
        writes.len(),
        reads as f64 * 3.0 / live.len().max(1) as f64,
        rewritten.len()
    );
    if !writes.is_empty() {
        failures.push(format!("ARM writes caused by hostile manifests: {writes:#?}"));
    }
    if !rewritten.is_empty() {
        failures.push(format!("statuses rewritten while nothing changed (a loop): {rewritten:#?}"));
    }
    // One pass each per 30 s resync at most (a few reads per pass), far from a loop.
    let bound = 10 * live.len().max(1);
    if reads > bound {
        failures.push(format!("{reads} ARM requests in 20 s for {} quiet hostile objects (bound {bound})", live.len()));
    }
    assert!(failures.is_empty(), "{} of {} hostile manifests mishandled:\n{}\nmoat log: {}", failures.len(), corpus.len(), failures.join("\n"), h.log.display());
}
