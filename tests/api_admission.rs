//! The CRDs on a real kube-apiserver: they install and become Established, `kubectl explain`
//! documents them, the printer columns show Ready and Reason, the samples apply, bad input is
//! rejected at admission with the field named, and the status subresource behaves.

mod support;

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{CustomResourceExt, Resource};
use moat::api::{ComputeSubnet, PrivateEndpointBinding, SecureWorkspace};
use serde_json::{Value, json};
use tokio::sync::OnceCell;

static CRDS: OnceCell<()> = OnceCell::const_new();

/// Installs the committed CRDs (as a user would, from `crds/`) once per test binary.
async fn env() -> &'static support::testenv::TestEnv {
    let env = support::testenv::shared().await;
    CRDS.get_or_init(|| async {
        let out = env.kubectl(["apply", "--server-side", "-f", concat!(env!("CARGO_MANIFEST_DIR"), "/crds")]).await.expect("kubectl runs");
        assert!(out.status.success(), "kubectl apply crds/: {}", String::from_utf8_lossy(&out.stderr));
        let crds: Api<CustomResourceDefinition> = Api::all(env.client());
        for crd in moat::api::crds() {
            let name = crd.metadata.name.clone().expect("CRD has a name");
            tokio::time::timeout(Duration::from_secs(60), await_condition(crds.clone(), &name, conditions::is_crd_established()))
                .await
                .unwrap_or_else(|_| panic!("{name} not Established within 60 s"))
                .expect("watch the CRD");
        }
    })
    .await;
    env
}

const SUB: &str = "6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b";

fn workspace(name: &str) -> Value {
    json!({
        "apiVersion": "moat.dev/v1alpha1", "kind": "SecureWorkspace", "metadata": {"name": name},
        "spec": {
            "subscriptionId": SUB, "resourceGroup": "rg-ml", "location": "westeurope",
            "network": {"vnet": {"name": "vnet-ml", "addressSpace": ["10.20.0.0/16"]},
                        "privateEndpointSubnet": {"name": "snet-pe", "addressPrefix": "10.20.0.0/24"}},
            "workspace": {"name": "mlw-test"},
            "storage": {"name": "stmltest01"}, "keyVault": {"name": "kv-ml-test-01"},
            "containerRegistry": {"name": "crmltest01"}, "applicationInsights": {"name": "appi-ml-test"}
        }
    })
}

fn compute_subnet(name: &str) -> Value {
    json!({
        "apiVersion": "moat.dev/v1alpha1", "kind": "ComputeSubnet", "metadata": {"name": name},
        "spec": {"workspaceRef": {"name": "ws"}, "name": "snet-aks", "addressPrefix": "10.20.8.0/22",
                 "purpose": "Inference", "expectedNodes": 10,
                 "aks": {"serviceCidr": "10.250.0.0/16", "dnsServiceIP": "10.250.0.10"}}
    })
}

fn endpoint(name: &str) -> Value {
    json!({
        "apiVersion": "moat.dev/v1alpha1", "kind": "PrivateEndpointBinding", "metadata": {"name": name},
        "spec": {
            "target": {"id": format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st1"), "groupId": "blob"},
            "subnetId": format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/pe"),
            "location": "westeurope"
        }
    })
}

fn api_for(env: &support::testenv::TestEnv, ns: &str, kind: &str) -> Api<DynamicObject> {
    let ar: ApiResource = match kind {
        "SecureWorkspace" => SecureWorkspace::api_resource(),
        "ComputeSubnet" => ComputeSubnet::api_resource(),
        _ => PrivateEndpointBinding::api_resource(),
    };
    Api::namespaced_with(env.client(), ns, &ar)
}

fn set(v: &mut Value, path: &str, new: Value) {
    let mut cur = v;
    let parts: Vec<&str> = path.split('.').collect();
    for p in &parts[..parts.len() - 1] {
        cur = cur.get_mut(*p).unwrap_or_else(|| panic!("no {p} in {path}"));
    }
    let last = parts[parts.len() - 1];
    match new {
        Value::Null => {
            cur.as_object_mut().expect("object").remove(last);
        }
        other => cur[last] = other,
    }
}

async fn create(env: &support::testenv::TestEnv, ns: &str, obj: &Value) -> Result<DynamicObject, kube::Error> {
    let kind = obj["kind"].as_str().expect("kind");
    let dynamic: DynamicObject = serde_json::from_value(obj.clone()).expect("a DynamicObject");
    api_for(env, ns, kind).create(&PostParams::default(), &dynamic).await
}

/// (what is wrong, object, mutations, substrings the apiserver's message must contain)
type Case = (&'static str, fn(&str) -> Value, Vec<(&'static str, Value)>, Vec<&'static str>);

fn bad_create_cases() -> Vec<Case> {
    vec![
        ("subscription id not a UUID", workspace, vec![("spec.subscriptionId", json!("not-a-uuid"))], vec!["spec.subscriptionId", "UUID"]),
        ("location with spaces", workspace, vec![("spec.location", json!("West Europe"))], vec!["spec.location", "region name"]),
        ("malformed VNet CIDR", workspace, vec![("spec.network.vnet.addressSpace", json!(["10.20.0.0/33"]))], vec!["spec.network.vnet.addressSpace[0]", "CIDR"]),
        ("CIDR with host bits", workspace, vec![("spec.network.privateEndpointSubnet.addressPrefix", json!("10.20.0.5/24"))], vec!["spec.network.privateEndpointSubnet.addressPrefix", "canonical"]),
        ("PE subnet outside the VNet", workspace, vec![("spec.network.privateEndpointSubnet.addressPrefix", json!("10.99.0.0/24"))], vec!["spec.network.privateEndpointSubnet.addressPrefix", "inside one of network.vnet.addressSpace"]),
        ("overlapping address space", workspace, vec![("spec.network.vnet.addressSpace", json!(["10.20.0.0/16", "10.20.128.0/17"]))], vec!["spec.network.vnet.addressSpace", "must not overlap"]),
        ("VNet both created and adopted", workspace, vec![("spec.network.vnet.id", json!(format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v")))], vec!["spec.network.vnet", "exactly one of vnet.name"]),
        ("adopted VNet id of the wrong type", workspace, vec![("spec.network.vnet.name", Value::Null), ("spec.network.vnet.addressSpace", Value::Null), ("spec.network.vnet.id", json!(format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/x")))], vec!["spec.network.vnet.id", "Microsoft.Network/virtualNetworks"]),
        ("malformed ARM id", workspace, vec![("spec.storage.name", Value::Null), ("spec.storage.id", json!("/subscriptions/nope/storage"))], vec!["spec.storage.id", "ARM resource id"]),
        ("ACR not Premium", workspace, vec![("spec.containerRegistry.sku", json!("Basic"))], vec!["spec.containerRegistry.sku", "Premium"]),
        ("storage name with capitals", workspace, vec![("spec.storage.name", json!("StMlTest"))], vec!["spec.storage.name", "lower-case"]),
        ("DNS service IP outside the service CIDR", compute_subnet, vec![("spec.aks.dnsServiceIP", json!("10.251.0.10"))], vec!["spec.aks.dnsServiceIP", "inside aks.serviceCidr"]),
        ("service CIDR overlapping the subnet", compute_subnet, vec![("spec.aks.serviceCidr", json!("10.20.0.0/16")), ("spec.aks.dnsServiceIP", json!("10.20.0.10"))], vec!["spec.aks.serviceCidr", "must not overlap addressPrefix"]),
        ("Docker bridge overlapping the service CIDR", compute_subnet, vec![("spec.aks.dockerBridgeCidr", json!("10.250.0.0/24"))], vec!["spec.aks.dockerBridgeCidr", "must not overlap aks.serviceCidr"]),
        ("AKS settings on a training subnet", compute_subnet, vec![("spec.purpose", json!("Training"))], vec!["spec.aks", "only for purpose Inference"]),
        ("negative node count", compute_subnet, vec![("spec.expectedNodes", json!(-3))], vec!["spec.expectedNodes"]),
        ("unknown purpose", compute_subnet, vec![("spec.purpose", json!("Gpu"))], vec!["spec.purpose", "Training"]),
        ("malformed SSH source", compute_subnet, vec![("spec.nsg", json!({"sshFrom": ["office"]}))], vec!["spec.nsg.sshFrom[0]", "CIDR"]),
        ("groupId that does not fit the target", endpoint, vec![("spec.target.groupId", json!("vault"))], vec!["spec.target.groupId", "does not fit target.id"]),
        ("subnetId that is a VNet", endpoint, vec![("spec.subnetId", json!(format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v")))], vec!["spec.subnetId", "id of a subnet"]),
        ("unknown groupId", endpoint, vec![("spec.target.groupId", json!("sql"))], vec!["spec.target.groupId", "amlworkspace"]),
        ("port above 65535", compute_subnet, vec![("spec.outbound", json!({"extraRules": [{"name": "x", "destination": "10.30.0.4", "ports": ["99999"]}]}))], vec!["spec.outbound.extraRules[0].ports[0]", "1 to 65535"]),
        ("port range written high-low", compute_subnet, vec![("spec.outbound", json!({"extraRules": [{"name": "x", "destination": "10.30.0.4", "ports": ["443-80"]}]}))], vec!["spec.outbound.extraRules[0].ports[0]", "low <= high"]),
        ("port zero", compute_subnet, vec![("spec.outbound", json!({"extraRules": [{"name": "x", "destination": "10.30.0.4", "ports": ["0"]}]}))], vec!["spec.outbound.extraRules[0].ports[0]", "1 to 65535"]),
        ("ARM id with a '..' segment", workspace, vec![("spec.storage.name", Value::Null), ("spec.storage.id", json!(format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st/../..")))], vec!["spec.storage.id", "'.' or '..' segment"]),
        ("storage endpoints without blob", workspace, vec![("spec.storage.privateEndpoints", json!(["file", "queue"]))], vec!["spec.storage.privateEndpoints", "must include blob and file"]),
        ("a storage endpoint twice", workspace, vec![("spec.storage.privateEndpoints", json!(["blob", "file", "queue", "queue"]))], vec!["spec.storage.privateEndpoints"]),
    ]
}

#[tokio::test]
async fn the_documented_docker_bridge_address_and_good_ports_are_accepted() {
    let env = env().await;
    let ns = env.namespace("accepted").await.expect("namespace");
    // Microsoft's example (network-isolation doc): the bridge's address with its prefix.
    let mut aks = compute_subnet("aks-bridge");
    set(&mut aks, "spec.aks.dockerBridgeCidr", json!("172.17.0.1/16"));
    set(&mut aks, "spec.outbound", json!({"extraRules": [{"name": "range", "destination": "10.30.0.4", "ports": ["1", "8000-8100", "65535", "*"]}]}));
    create(env, &ns, &aks).await.expect("172.17.0.1/16 and ports 1, 8000-8100, 65535 and * are accepted");
    let mut ws = workspace("ws-queue");
    set(&mut ws, "spec.storage.privateEndpoints", json!(["blob", "file", "queue", "table"]));
    create(env, &ns, &ws).await.expect("storage endpoints for queue and table are accepted");
}

#[tokio::test]
async fn bad_manifests_are_rejected_naming_the_field() {
    let env = env().await;
    let ns = env.namespace("admission").await.expect("namespace");
    // The unmutated objects are valid: each case fails for its own reason only.
    for (i, base) in [workspace("base-ws"), compute_subnet("base-csn"), endpoint("base-peb")].iter().enumerate() {
        create(env, &ns, base).await.unwrap_or_else(|e| panic!("valid base object {i} rejected: {e}"));
    }
    let mut failures = Vec::new();
    for (i, (what, base, mutations, expected)) in bad_create_cases().into_iter().enumerate() {
        let mut obj = base(&format!("bad-{i}"));
        for (path, v) in mutations {
            set(&mut obj, path, v);
        }
        match create(env, &ns, &obj).await {
            Ok(_) => failures.push(format!("{what}: accepted")),
            Err(kube::Error::Api(s)) => {
                if s.code != 422 || !expected.iter().all(|e| s.message.contains(e)) {
                    failures.push(format!("{what}: HTTP {} {:?}, want all of {expected:?}", s.code, s.message));
                }
            }
            Err(e) => failures.push(format!("{what}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{} case(s) wrong:\n{}", failures.len(), failures.join("\n"));
}

#[tokio::test]
async fn immutable_fields_cannot_change() {
    let env = env().await;
    let ns = env.namespace("immutable").await.expect("namespace");
    create(env, &ns, &workspace("ws")).await.expect("create");
    create(env, &ns, &compute_subnet("csn")).await.expect("create");
    let cases: Vec<(&str, &str, Value, &str)> = vec![
        ("SecureWorkspace", "ws", json!({"spec": {"location": "northeurope"}}), "location is immutable"),
        ("SecureWorkspace", "ws", json!({"spec": {"subscriptionId": "00000000-0000-0000-0000-000000000000"}}), "subscriptionId is immutable"),
        ("SecureWorkspace", "ws", json!({"spec": {"workspace": {"name": "other"}}}), "workspace.name is immutable"),
        ("SecureWorkspace", "ws", json!({"spec": {"resourceGroup": "rg-other"}}), "resourceGroup is immutable"),
        ("SecureWorkspace", "ws", json!({"spec": {"network": {"vnet": {"name": "vnet-other"}}}}), "vnet.name is immutable"),
        ("ComputeSubnet", "csn", json!({"spec": {"name": "snet-renamed"}}), "name is immutable"),
    ];
    let mut failures = Vec::new();
    for (kind, name, patch, want) in cases {
        match api_for(env, &ns, kind).patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(_) => failures.push(format!("{kind} {patch}: accepted")),
            Err(kube::Error::Api(s)) if s.message.contains(want) => {}
            Err(e) => failures.push(format!("{kind} {patch}: {e}, want {want:?}")),
        }
    }
    // A mutable field still changes.
    api_for(env, &ns, "SecureWorkspace")
        .patch("ws", &PatchParams::default(), &Patch::Merge(&json!({"spec": {"tags": {"team": "ml"}}})))
        .await
        .expect("tags are mutable");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn kubectl_rejection_names_the_field_and_the_fix() {
    let env = env().await;
    let ns = env.namespace("kubectl").await.expect("namespace");
    let mut obj = workspace("ws");
    set(&mut obj, "spec.network.privateEndpointSubnet.addressPrefix", json!("10.99.0.0/24"));
    let out = env.kubectl_with_stdin(["apply", "-n", &ns, "-f", "-"], obj.to_string().as_bytes()).await.expect("kubectl");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("spec.network.privateEndpointSubnet.addressPrefix") && stderr.contains("choose a prefix inside"),
        "kubectl output: {stderr}"
    );
}

#[tokio::test]
async fn samples_apply_cleanly() {
    let env = env().await;
    let out = env.kubectl(["apply", "-f", concat!(env!("CARGO_MANIFEST_DIR"), "/config/samples/namespace.yaml")]).await.expect("kubectl");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = env.kubectl(["apply", "--dry-run=server", "-f", concat!(env!("CARGO_MANIFEST_DIR"), "/config/samples/")]).await.expect("kubectl");
    assert!(out.status.success(), "samples rejected: {}", String::from_utf8_lossy(&out.stderr));
    let applied = String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.contains("moat.dev")).count();
    assert_eq!(applied, 5, "every moat sample applies: {}", String::from_utf8_lossy(&out.stdout));
}

/// AzureScopePolicy admission: a grant that selects every namespace by accident, a resource
/// where a resource group belongs, or a malformed scope is refused, naming the field.
#[tokio::test]
async fn open_or_malformed_tenancy_policies_are_rejected() {
    let env = env().await;
    let rg = format!("/subscriptions/{SUB}/resourceGroups/rg-a");
    let base = json!({"apiVersion": "moat.dev/v1alpha1", "kind": "AzureScopePolicy", "metadata": {"name": "p"},
        "spec": {"namespaces": {"names": ["team-a"]}, "scopes": [rg], "identity": {"allowOperatorIdentity": true}}});
    let dry_run = |obj: Value| async move {
        let out = env.kubectl_with_stdin(["apply", "--dry-run=server", "-f", "-"], obj.to_string().as_bytes()).await.expect("kubectl");
        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (ok, err) = dry_run(base.clone()).await;
    assert!(ok, "a valid policy is admitted: {err}");
    let cases: Vec<(&str, &str, Value, Vec<&str>)> = vec![
        ("empty selector", "spec.namespaces", json!({"selector": {}}), vec!["spec.namespaces.selector", "must not be empty"]),
        ("no namespaces", "spec.namespaces", json!({}), vec!["spec.namespaces", "needs names or a selector"]),
        ("a resource under scopes", "spec.scopes", json!([format!("{rg}/providers/Microsoft.Network/virtualNetworks/v")]), vec!["spec.scopes", "resource groups"]),
        ("a scope that is not an ARM scope", "spec.adopt", json!(["rg-b"]), vec!["spec.adopt[0]", "must be an Azure scope"]),
        ("a subscription as DNS zone group", "spec.dnsZoneResourceGroups", json!([format!("/subscriptions/{SUB}")]), vec!["spec.dnsZoneResourceGroups", "must be resource groups"]),
        ("two identities", "spec.identity", json!({"allowOperatorIdentity": true, "secretRef": {"namespace": "moat-system", "name": "sp"}}), vec!["spec.identity", "at most one"]),
    ];
    for (what, field, value, needles) in cases {
        let mut obj = base.clone();
        set(&mut obj, field, value);
        let (ok, err) = dry_run(obj).await;
        assert!(!ok, "{what}: admitted");
        for n in needles {
            assert!(err.contains(n), "{what}: the rejection does not name {n:?}: {err}");
        }
    }
}

#[tokio::test]
async fn explain_and_printer_columns() {
    let env = env().await;
    // The apiserver publishes a new CRD's OpenAPI a moment after it is Established.
    let out = support::eventually(Duration::from_secs(60), || async {
        let out = env.kubectl(["explain", "secureworkspace.spec.network.privateEndpointSubnet"]).await.expect("kubectl");
        if out.status.success() { Ok(out) } else { Err(String::from_utf8_lossy(&out.stderr).to_string()) }
    })
    .await
    .expect("kubectl explain works within 60 s");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("The subnet that holds the private endpoints"), "{text}");
    assert!(text.contains("addressPrefix") && text.contains("inside the VNet's address space"), "{text}");
    let out = env.kubectl(["explain", "computesubnet.spec.aks.dnsServiceIP"]).await.expect("kubectl");
    assert!(String::from_utf8_lossy(&out.stdout).contains("inside serviceCidr"));

    let ns = env.namespace("columns").await.expect("namespace");
    create(env, &ns, &workspace("ws")).await.expect("create");
    let api: Api<SecureWorkspace> = Api::namespaced(env.client(), &ns);
    let status = json!({"status": {"conditions": [{"type": "Ready", "status": "False", "reason": "Converging",
        "message": "waiting", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}});
    api.patch_status("ws", &PatchParams::default(), &Patch::Merge(&status)).await.expect("status");
    let out = env.kubectl(["get", "sws", "-n", &ns]).await.expect("kubectl");
    let table = String::from_utf8_lossy(&out.stdout);
    let header = table.lines().next().unwrap_or_default();
    for col in ["WORKSPACE", "LOCATION", "READY", "REASON", "AGE"] {
        assert!(header.contains(col), "column {col} in {header}");
    }
    assert!(table.contains("Converging") && table.contains("False"), "{table}");
    // The category lists all three kinds.
    let out = env.kubectl(["get", "moat", "-n", &ns, "-o", "name"]).await.expect("kubectl");
    assert!(String::from_utf8_lossy(&out.stdout).contains("secureworkspace.moat.dev/ws"));
}

#[tokio::test]
async fn status_subresource_and_generation() {
    let env = env().await;
    let ns = env.namespace("status").await.expect("namespace");
    create(env, &ns, &workspace("ws")).await.expect("create");
    let api: Api<SecureWorkspace> = Api::namespaced(env.client(), &ns);
    let g0 = api.get("ws").await.expect("get").meta().generation;

    let status = json!({"status": {"observedGeneration": g0, "findings": [{"id": "X-1", "severity": "Warning", "message": "m"}]}});
    api.patch_status("ws", &PatchParams::default(), &Patch::Merge(&status)).await.expect("status patch");
    let after_status = api.get("ws").await.expect("get");
    assert_eq!(after_status.meta().generation, g0, "a status change does not bump generation");
    let st = after_status.status.expect("status stored");
    assert_eq!(st.findings[0].id, "X-1");

    // Status sent through the main resource is ignored.
    api.patch("ws", &PatchParams::default(), &Patch::Merge(&json!({"status": {"workspaceId": "ignored"}}))).await.expect("patch");
    assert_eq!(api.get("ws").await.expect("get").status.and_then(|s| s.workspace_id), None);

    api.patch("ws", &PatchParams::default(), &Patch::Merge(&json!({"spec": {"tags": {"a": "b"}}}))).await.expect("spec patch");
    let g1 = api.get("ws").await.expect("get").meta().generation;
    assert_eq!(g1, g0.map(|g| g + 1), "a spec change bumps generation");
}
