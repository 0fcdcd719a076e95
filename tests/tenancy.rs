//! Tenancy on the real apiserver with the ARM emulator: two tenant namespaces, a platform
//! namespace and a namespace without a policy, one `moat run` watching them all. Every
//! cross-tenant and out-of-scope attempt is refused with a condition naming the field, and the
//! emulator's request log shows no request outside the scopes; the allowed objects converge.
//! Then a narrowed policy holds back a deletion without touching Azure, until it is widened.

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use moat::api::{AzureScopePolicy, ComputeSubnet, PrivateEndpointBinding, SecureWorkspace};
use moat::emulator::EmulatorConfig;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use support::e2e::SUB;
use support::tenancy::{apply_policy, start_moat_all_namespaces};

/// A subscription outside `--allowed-subscriptions`.
const OTHER_SUB: &str = "99999999-8888-4777-8666-555555555555";
const CONVERGE: Duration = Duration::from_secs(180);
const REFUSE: Duration = Duration::from_secs(60);

fn rg(name: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/{name}")
}
fn res(sub: &str, rg: &str, t: &str, name: &str) -> String {
    format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/{t}/{name}")
}

struct Layout {
    nsg_b: String,
    rt_b: String,
    vnet_b: String,
    st_b: String,
    rt_x: String,
    rt_hub: String,
    vnet_hub: String,
    st_hub: String,
}

fn layout() -> Layout {
    Layout {
        nsg_b: res(SUB, "rg-team-b", "Microsoft.Network/networkSecurityGroups", "nsg-b"),
        rt_b: res(SUB, "rg-team-b", "Microsoft.Network/routeTables", "rt-b"),
        vnet_b: res(SUB, "rg-team-b", "Microsoft.Network/virtualNetworks", "vnet-b"),
        st_b: res(SUB, "rg-team-b", "Microsoft.Storage/storageAccounts", "stteamb"),
        rt_x: res(OTHER_SUB, "rg-other", "Microsoft.Network/routeTables", "rt-x"),
        rt_hub: res(SUB, "rg-hub", "Microsoft.Network/routeTables", "rt-hub"),
        vnet_hub: res(SUB, "rg-hub", "Microsoft.Network/virtualNetworks", "vnet-hub"),
        st_hub: res(SUB, "rg-hub", "Microsoft.Storage/storageAccounts", "sthub"),
    }
}

/// What exists in Azure before moat starts: team-b's network and data, the hub, and a route
/// table in a subscription moat may not touch.
fn seed(emu: &moat::emulator::RunningEmulator, l: &Layout) {
    let put = |id: &str, body: Value| emu.admin.put_resource(id, body, Some("Succeeded")).unwrap_or_else(|e| panic!("seed {id}: {e}"));
    let loc = "westeurope";
    put(&l.nsg_b, json!({"location": loc, "properties": {"securityRules": []}}));
    put(&l.rt_b, json!({"location": loc, "properties": {"routes": []}}));
    put(&l.rt_x, json!({"location": loc, "properties": {"routes": []}}));
    put(&l.rt_hub, json!({"location": loc, "properties": {"routes": []}}));
    for (vnet, prefix) in [(&l.vnet_b, "10.2"), (&l.vnet_hub, "10.100")] {
        put(vnet, json!({"location": loc, "properties": {"addressSpace": {"addressPrefixes": [format!("{prefix}.0.0/16")]}}}));
        put(
            &format!("{vnet}/subnets/snet-pe"),
            json!({"properties": {"addressPrefix": format!("{prefix}.0.0/24"), "privateEndpointNetworkPolicies": "Disabled"}}),
        );
    }
    for st in [&l.st_b, &l.st_hub] {
        put(st, json!({"location": loc, "kind": "StorageV2", "sku": {"name": "Standard_LRS"}, "properties": {}}));
    }
}

fn workspace(ns: &str, name: &str, suffix: &str, adopt: Option<(&str, &str)>) -> Value {
    let (vnet, storage) = match adopt {
        Some((v, s)) => (json!({"id": v}), json!({"id": s})),
        None => (json!({"name": format!("vnet-{suffix}"), "addressSpace": ["10.1.0.0/16"]}), json!({"name": format!("st{suffix}01")})),
    };
    json!({
        "apiVersion": "moat.dev/v1alpha1", "kind": "SecureWorkspace",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "subscriptionId": SUB, "resourceGroup": "rg-team-a", "location": "westeurope",
            "network": {"vnet": vnet, "privateEndpointSubnet": {"name": "snet-pe", "addressPrefix": "10.1.0.0/24"}},
            "workspace": {"name": format!("mlw-{suffix}"), "imageBuildCompute": "cpu-cluster"},
            "storage": storage,
            "keyVault": {"name": format!("kv-{suffix}-01")},
            "containerRegistry": {"name": format!("cr{suffix}01"), "sku": "Premium"},
            "applicationInsights": {"name": format!("appi-{suffix}")},
            "dns": {"mode": "AzurePrivateDns"}
        }
    })
}

fn subnet(ns: &str, name: &str, extra: Value) -> Value {
    let mut spec = json!({"workspaceRef": {"name": "ws-a"}, "name": format!("snet-{name}"), "addressPrefix": "10.1.4.0/24", "purpose": "Training", "expectedNodes": 10});
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        s.extend(e.clone());
    }
    json!({"apiVersion": "moat.dev/v1alpha1", "kind": "ComputeSubnet", "metadata": {"name": name, "namespace": ns}, "spec": spec})
}

fn binding(ns: &str, name: &str, target: &str, subnet_id: &str, dns: Value) -> Value {
    json!({
        "apiVersion": "moat.dev/v1alpha1", "kind": "PrivateEndpointBinding",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"target": {"id": target, "groupId": "blob"}, "subnetId": subnet_id, "location": "westeurope", "dns": dns}
    })
}

async fn apply(env: &support::testenv::TestEnv, obj: &Value) {
    let out = env.kubectl_with_stdin(["apply", "--server-side", "-f", "-"], obj.to_string().as_bytes()).await.expect("kubectl");
    assert!(out.status.success(), "apply: {}", String::from_utf8_lossy(&out.stderr));
}

/// The Ready condition of an object: (status, reason, message), current for its generation.
fn ready<K: Resource + Serialize>(o: &K) -> Option<(String, String, String)> {
    let v = serde_json::to_value(o).ok()?;
    let generation = o.meta().generation;
    v["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == "Ready" && c["observedGeneration"].as_i64() == generation).map(|c| {
        let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
        (s("status"), s("reason"), s("message"))
    })
}

struct Env {
    env: &'static support::testenv::TestEnv,
    log: PathBuf,
}

impl Env {
    fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Waits until the object's Ready condition satisfies `pred`; fails with its status.
    async fn wait<K>(&self, ns: &str, name: &str, timeout: Duration, what: &str, pred: impl Fn(&str, &str, &str) -> bool) -> (String, String, String)
    where
        K: Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()> + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
    {
        let api: Api<K> = Api::namespaced(self.env.client(), ns);
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let obj = api.get_opt(name).await.expect("get");
            if let Some(r) = obj.as_ref().and_then(ready)
                && pred(&r.0, &r.1, &r.2)
            {
                return r;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{ns}/{name}: not {what} within {timeout:?}; Ready is {:?}\nmoat log:\n{}",
                obj.as_ref().and_then(ready),
                self.tail()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    async fn converged<K>(&self, ns: &str, name: &str)
    where
        K: Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()> + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
    {
        self.wait::<K>(ns, name, CONVERGE, "Ready", |s, _, _| s == "True").await;
    }

    /// Waits for `Ready=False, OutOfScope` and checks the message names every `needle`.
    async fn refused<K>(&self, ns: &str, name: &str, needles: &[&str])
    where
        K: Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()> + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
    {
        let (_, _, message) = self.wait::<K>(ns, name, REFUSE, "refused as OutOfScope", |s, r, _| s == "False" && r == "OutOfScope").await;
        for n in needles {
            assert!(message.contains(n), "{ns}/{name}: the OutOfScope message does not name {n:?}:\n{message}");
        }
    }
}

/// ARM requests (method and path) the emulator logged after `since` whose path contains one of
/// `needles` (case-insensitive).
fn requests_touching(emu: &moat::emulator::RunningEmulator, since: Option<u64>, needles: &[&str]) -> Vec<String> {
    emu.admin
        .requests(since)
        .entries
        .into_iter()
        .filter(|e| {
            let p = e.path.to_ascii_lowercase();
            needles.iter().any(|n| p.contains(&n.to_ascii_lowercase()))
        })
        .map(|e| format!("{} {}", e.method, e.path))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_namespace_can_make_moat_touch_what_it_should_not() {
    let started = Instant::now();
    let env = support::e2e::env().await;
    let team_a = env.namespace("team-a").await.expect("namespace");
    let team_b = env.namespace("team-b").await.expect("namespace");
    let platform = env.namespace("platform").await.expect("namespace");
    let team_c = env.namespace("team-c").await.expect("namespace");
    // The platform namespace is selected by label, the tenants by name.
    let nss: Api<Namespace> = Api::all(env.client());
    nss.patch(&platform, &PatchParams::default(), &Patch::Merge(json!({"metadata": {"labels": {"moat.dev/platform": "true"}}})))
        .await
        .expect("label platform namespace");

    let l = layout();
    let cfg = EmulatorConfig::for_tests()
        .with_resource_group(SUB, "rg-team-a")
        .with_resource_group(SUB, "rg-team-b")
        .with_resource_group(SUB, "rg-hub")
        .with_resource_group(OTHER_SUB, "rg-other");
    let emu = moat::emulator::start(cfg).await.expect("emulator");
    seed(&emu, &l);
    let seeded_seq = emu.admin.requests(None).last_seq;

    apply_policy(
        env,
        &format!("{team_a}-policy"),
        json!({
            "namespaces": {"names": [team_a]},
            "scopes": [rg("rg-team-a")],
            "adopt": [l.rt_hub],
            "identity": {"allowOperatorIdentity": true}
        }),
    )
    .await;
    // team-b must bring its own credentials.
    apply_policy(env, &format!("{team_b}-policy"), json!({"namespaces": {"names": [team_b]}, "scopes": [rg("rg-team-b")]})).await;
    apply_policy(
        env,
        &format!("{platform}-policy"),
        json!({
            "namespaces": {"selector": {"matchLabels": {"moat.dev/platform": "true"}}},
            "scopes": [rg("rg-hub")],
            "identity": {"allowOperatorIdentity": true}
        }),
    )
    .await;

    let log = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("moat-tenancy-{}.log", std::process::id()));
    // A long resync: re-evaluation after a policy change must come from the policy watch.
    let _moat = start_moat_all_namespaces(env, &emu, &log, &["--allowed-subscriptions", SUB], 300);
    let t = Env { env, log };

    // Allowed: team-a's workspace in its own resource group, and a subnet adopting the hub's
    // route table (granted under adopt); the platform's endpoint in the hub.
    apply(env, &workspace(&team_a, "ws-a", "tena", None)).await;
    apply(env, &subnet(&team_a, "train", json!({"forcedTunneling": {"routeTableId": l.rt_hub}}))).await;
    let hub_subnet = format!("{}/subnets/snet-pe", l.vnet_hub);
    apply(env, &binding(&platform, "hub-blob", &l.st_hub, &hub_subnet, json!({"mode": "AzurePrivateDns"}))).await;

    // Refused: every cross-tenant and out-of-scope attempt.
    let pe_subnet_a = format!("{}/subnets/snet-pe", res(SUB, "rg-team-a", "Microsoft.Network/virtualNetworks", "vnet-tena"));
    let st_a = res(SUB, "rg-team-a", "Microsoft.Storage/storageAccounts", "sttena01");
    apply(env, &subnet(&team_a, "steal-nsg", json!({"addressPrefix": "10.1.5.0/24", "nsg": {"id": l.nsg_b, "sshFrom": ["0.0.0.0/0"]}}))).await;
    apply(env, &subnet(&team_a, "steal-rt", json!({"addressPrefix": "10.1.6.0/24", "forcedTunneling": {"routeTableId": l.rt_b}}))).await;
    apply(env, &subnet(&team_a, "foreign-rt", json!({"addressPrefix": "10.1.7.0/24", "forcedTunneling": {"routeTableId": l.rt_x}}))).await;
    apply(env, &binding(&team_a, "steal-target", &l.st_b, &pe_subnet_a, json!({"mode": "AzurePrivateDns"}))).await;
    apply(env, &binding(&team_a, "foreign-link", &st_a, &pe_subnet_a, json!({"mode": "AzurePrivateDns", "linkVnetIds": [l.vnet_hub, l.vnet_b]}))).await;
    apply(env, &binding(&team_a, "foreign-zones", &st_a, &pe_subnet_a, json!({"mode": "AzurePrivateDns", "zoneResourceGroup": "rg-team-b"}))).await;
    apply(env, &workspace(&team_a, "adopt-b", "adoptb", Some((&l.vnet_b, &l.st_b)))).await;
    let subnet_b = format!("{}/subnets/snet-pe", l.vnet_b);
    apply(env, &binding(&team_b, "no-cred", &l.st_b, &subnet_b, json!({"mode": "None"}))).await;
    apply(env, &binding(&team_c, "no-policy", &st_a, &pe_subnet_a, json!({"mode": "None"}))).await;

    t.refused::<ComputeSubnet>(&team_a, "steal-nsg", &["spec.nsg.id", &l.nsg_b, "adopt"]).await;
    t.refused::<ComputeSubnet>(&team_a, "steal-rt", &["spec.forcedTunneling.routeTableId", &l.rt_b]).await;
    t.refused::<ComputeSubnet>(&team_a, "foreign-rt", &["spec.forcedTunneling.routeTableId", &l.rt_x, "--allowed-subscriptions"]).await;
    t.refused::<PrivateEndpointBinding>(&team_a, "steal-target", &["spec.target.id", &l.st_b]).await;
    let (_, _, m) = t.wait::<PrivateEndpointBinding>(&team_a, "foreign-link", REFUSE, "refused", |s, r, _| s == "False" && r == "OutOfScope").await;
    assert!(m.contains(&format!("spec.dns.linkVnetIds[1]: {}", l.vnet_b)) && m.contains(&format!("spec.dns.linkVnetIds[0]: {}", l.vnet_hub)), "{m}");
    t.refused::<PrivateEndpointBinding>(&team_a, "foreign-zones", &["spec.dns.zoneResourceGroup", &rg("rg-team-b"), "dnsZoneResourceGroups"]).await;
    t.refused::<SecureWorkspace>(&team_a, "adopt-b", &["spec.network.vnet.id", &l.vnet_b, "spec.storage.id", &l.st_b]).await;
    t.refused::<PrivateEndpointBinding>(&team_b, "no-cred", &["spec.credentialRef: not set", "allowOperatorIdentity"]).await;
    t.refused::<PrivateEndpointBinding>(&team_c, "no-policy", &[&format!("no AzureScopePolicy selects namespace {team_c}"), "platform team"]).await;

    // The allowed objects converge.
    t.converged::<SecureWorkspace>(&team_a, "ws-a").await;
    t.converged::<ComputeSubnet>(&team_a, "train").await;
    t.converged::<PrivateEndpointBinding>(&platform, "hub-blob").await;
    let converged_after = started.elapsed();

    // Not one request reached team-b's resource group or the disallowed subscription, none
    // was made for a refused object, and team-b's NSG has no rule of moat's.
    let all = emu.admin.requests(Some(seeded_seq));
    let outside = requests_touching(&emu, Some(seeded_seq), &["/resourceGroups/rg-team-b", OTHER_SUB]);
    assert!(outside.is_empty(), "ARM requests outside the tenants' scopes: {outside:#?}");
    let refused_names = ["snet-steal-nsg", "snet-steal-rt", "snet-foreign-rt", "privateEndpoints/steal-target", "privateEndpoints/foreign-link", "privateEndpoints/foreign-zones", "stadoptb01", "mlw-adoptb", "no-cred", "no-policy"];
    let for_refused = requests_touching(&emu, Some(seeded_seq), &refused_names);
    assert!(for_refused.is_empty(), "ARM requests for refused objects: {for_refused:#?}");
    let nsg_b = emu.admin.resource(&l.nsg_b).expect("team-b nsg");
    assert_eq!(nsg_b["properties"]["securityRules"].as_array().map(Vec::len), Some(0), "{nsg_b}");
    // The adopted hub route table got moat's routes (children), and nothing else of the hub was written by team-a.
    let hub_writes: Vec<String> = requests_touching(&emu, Some(seeded_seq), &["/resourceGroups/rg-hub"])
        .into_iter()
        .filter(|r| !r.starts_with("GET"))
        .filter(|r| !r.to_ascii_lowercase().contains("/routetables/rt-hub/routes/moat-"))
        .filter(|r| !r.contains("Microsoft.Network/privateEndpoints/hub-blob") && !r.contains("Microsoft.Network/privateDnsZones"))
        .collect();
    assert!(hub_writes.is_empty(), "writes into the hub beyond the adopted route table's routes and the platform's endpoint: {hub_writes:#?}");
    eprintln!(
        "tenancy: {} ARM requests after seeding, 0 outside the scopes, 0 for the 9 refused objects; converged in {converged_after:?}",
        all.entries.len()
    );

    // Narrow team-a's policy: the hub route table is no longer granted. The watch re-evaluates
    // the subnet at once (resync is 300 s), and no request touches the route table again.
    apply_policy(env, &format!("{team_a}-policy"), json!({"namespaces": {"names": [team_a]}, "scopes": [rg("rg-team-a")], "identity": {"allowOperatorIdentity": true}})).await;
    let narrowed = Instant::now();
    t.refused::<ComputeSubnet>(&team_a, "train", &["spec.forcedTunneling.routeTableId", &l.rt_hub]).await;
    let reevaluated = narrowed.elapsed();
    assert!(reevaluated < Duration::from_secs(30), "re-evaluated after {reevaluated:?}: too slow for a watch");
    let seq = emu.admin.requests(None).last_seq;

    // Deleting it now is held back: moat never touches what is out of scope, so its routes stay.
    let csns: Api<ComputeSubnet> = Api::namespaced(env.client(), &team_a);
    csns.delete("train", &DeleteParams::default()).await.expect("delete subnet");
    let (_, _, m) = t.wait::<ComputeSubnet>(&team_a, "train", REFUSE, "held back", |s, _, m| s == "False" && m.starts_with("deletion held back")).await;
    assert!(m.contains("moat.dev/cleanup") && m.contains(&l.rt_hub), "{m}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(csns.get_opt("train").await.expect("get").is_some(), "the finalizer keeps the object while deletion is held back");
    let touched = requests_touching(&emu, Some(seq), &["rt-hub", "snet-train"]);
    assert!(touched.is_empty(), "requests for an out-of-scope deletion: {touched:#?}");
    let routes = emu.admin.resource(&l.rt_hub).expect("hub route table")["properties"]["routes"].as_array().cloned().unwrap_or_default();
    assert!(routes.iter().any(|r| r["name"].as_str().is_some_and(|n| n.starts_with("moat-"))), "moat's routes are still there");

    // Widen it again: the deletion goes through and removes moat's routes from the hub table.
    apply_policy(env, &format!("{team_a}-policy"), json!({"namespaces": {"names": [team_a]}, "scopes": [rg("rg-team-a")], "adopt": [l.rt_hub], "identity": {"allowOperatorIdentity": true}})).await;
    let deadline = tokio::time::Instant::now() + CONVERGE;
    while csns.get_opt("train").await.expect("get").is_some() {
        assert!(tokio::time::Instant::now() < deadline, "subnet not deleted after the policy was widened\n{}", t.tail());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let routes = emu.admin.resource(&l.rt_hub).expect("hub route table")["properties"]["routes"].as_array().cloned().unwrap_or_default();
    assert!(routes.iter().all(|r| !r["name"].as_str().is_some_and(|n| n.starts_with("moat-"))), "moat's routes removed: {routes:?}");

    // Each policy's status lists the namespaces it selects.
    let policies: Api<AzureScopePolicy> = Api::all(env.client());
    let deadline = tokio::time::Instant::now() + REFUSE;
    loop {
        let p = policies.get(&format!("{platform}-policy")).await.expect("policy");
        if p.status.as_ref().is_some_and(|s| s.namespaces == vec![platform.clone()]) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "status of {}: {:?}", p.name_any(), p.status);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // A namespace that stops matching leaves that list, also when it was the last one: the
    // status does not go on naming it.
    nss.patch(&platform, &PatchParams::default(), &Patch::Merge(json!({"metadata": {"labels": {"moat.dev/platform": null}}})))
        .await
        .expect("unlabel platform namespace");
    let deadline = tokio::time::Instant::now() + REFUSE;
    loop {
        let p = policies.get(&format!("{platform}-policy")).await.expect("policy");
        if p.status.as_ref().is_some_and(|s| s.namespaces.is_empty()) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "status of {} once no namespace matches: {:?}", p.name_any(), p.status);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    eprintln!("tenancy: policy change re-evaluated the subnet in {reevaluated:?}; whole test {:?}", started.elapsed());
}
