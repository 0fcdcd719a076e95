//! `cargo bench --bench validate`: validates 1,000 generated manifests (200 SecureWorkspaces with
//! 4 ComputeSubnets each, varied prefixes, some deliberately undersized or overlapping) and prints
//! the total and per-manifest time, for the whole `moat validate` path (YAML parsing, schema
//! mirror, catalog) and for the catalog alone.

use moat::cli::validate::{Source, validate_sources};
use moat::constraints::{self, Inputs, Observed};
use std::time::{Duration, Instant};

const WORKSPACES: usize = 200;
const SUBNETS_PER_WS: usize = 4;

fn workspace(i: usize) -> String {
    let (a, b) = (10 + i / 250, i % 250);
    format!(
        "apiVersion: moat.dev/v1alpha1
kind: SecureWorkspace
metadata:
  name: ws-{i}
  namespace: team-{ns}
spec:
  subscriptionId: 6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b
  resourceGroup: rg-ml-{i}
  location: westeurope
  network:
    vnet:
      name: vnet-{i}
      addressSpace: [\"{a}.{b}.0.0/16\"]
    privateEndpointSubnet:
      name: snet-pe
      addressPrefix: {a}.{b}.0.0/{pe}
  workspace:
    name: mlw-{i}
    imageBuildCompute: cpu-cluster
  storage:
    name: st{i:06}
  keyVault:
    name: kv-ml-{i}
  containerRegistry:
    name: crml{i:06}
    sku: Premium
  applicationInsights:
    name: appi-{i}
  dns:
    mode: {dns}
",
        ns = i % 10,
        pe = if i.is_multiple_of(13) { 29 } else { 24 },
        dns = if i.is_multiple_of(5) { "Custom" } else { "AzurePrivateDns" },
    )
}

fn subnet(i: usize, j: usize) -> String {
    let (a, b) = (10 + i / 250, i % 250);
    let purposes = ["Training", "ComputeInstance", "Inference", "Training"];
    let len = 22 + (i + j) % 7; // /22 .. /28
    // Subnet j starts at x.y.(4 + 4j).0; every 17th workspace puts subnet 1 on subnet 0's range.
    let third = if i.is_multiple_of(17) && j == 1 { 4 } else { 4 + j * 4 };
    let nodes = [60, 8, 30, 120][j];
    let aks = if purposes[j] == "Inference" {
        "\n  aks:\n    serviceCidr: 10.250.0.0/16\n    dnsServiceIP: 10.250.0.10\n    dockerBridgeCidr: 172.18.0.0/16"
    } else {
        ""
    };
    let outbound = if j == 0 { "\n  outbound:\n    mode: Restricted\n  forcedTunneling:\n    firewallIp: 10.255.0.4" } else { "" };
    format!(
        "apiVersion: moat.dev/v1alpha1
kind: ComputeSubnet
metadata:
  name: cs-{i}-{j}
  namespace: team-{ns}
spec:
  workspaceRef:
    name: ws-{i}
  name: snet-{j}
  addressPrefix: {a}.{b}.{third}.0/{len}
  purpose: {p}
  expectedNodes: {nodes}{aks}{outbound}
",
        ns = i % 10,
        p = purposes[j],
    )
}

fn manifests() -> Vec<Source> {
    let mut out = Vec::new();
    for i in 0..WORKSPACES {
        let mut text = workspace(i);
        for j in 0..SUBNETS_PER_WS {
            text.push_str("---\n");
            text.push_str(&subnet(i, j));
        }
        out.push(Source { name: format!("team/ws-{i}.yaml"), text });
    }
    out
}

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        let r = f();
        best = best.min(t.elapsed());
        last = Some(r);
    }
    (best, last.expect("at least one run"))
}

fn main() {
    let sources = manifests();
    let total = WORKSPACES * (1 + SUBNETS_PER_WS);
    let runs = 5;

    let (d, report) = time(runs, || validate_sources(&sources, None));
    assert_eq!(report.objects, total, "every generated manifest is read");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let per = d.as_secs_f64() * 1e6 / total as f64;
    let mut by_rule: std::collections::BTreeMap<&str, usize> = Default::default();
    for f in &report.findings {
        *by_rule.entry(f.finding.rule_id).or_default() += 1;
    }
    println!(
        "validate: {total} manifests in {:.1} ms ({per:.1} µs/manifest), {} findings, best of {runs} runs",
        d.as_secs_f64() * 1e3,
        report.findings.len()
    );
    println!("  findings by rule: {by_rule:?}");

    // The catalog alone, on typed objects (what a controller pays per reconcile).
    let ws: Vec<moat::api::SecureWorkspace> = (0..WORKSPACES).map(|i| serde_saphyr::from_str(&workspace(i)).expect("workspace")).collect();
    let cs: Vec<moat::api::ComputeSubnet> = (0..WORKSPACES)
        .flat_map(|i| (0..SUBNETS_PER_WS).map(move |j| serde_saphyr::from_str(&subnet(i, j)).expect("subnet")))
        .collect();
    let observed = Observed::default();
    let (d, findings) = time(runs, || constraints::evaluate(&Inputs::new(&ws, &cs, &[], &observed)));
    println!(
        "catalog only: {total} objects in {:.1} ms ({:.1} µs/object), {} findings",
        d.as_secs_f64() * 1e3,
        d.as_secs_f64() * 1e6 / total as f64,
        findings.len()
    );
}
